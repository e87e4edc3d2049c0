"""Interop with the `openssl` CLI (and `gmalg` for SM2), both directions.

pyehsm -> openssl: signatures made over HTTP verify in `openssl` with the PEM from GetPublicKey; ciphertexts
made by pyehsm's encryption primitive (the one AsymmetricEncrypt and ExportDataKey use) decrypt with
`openssl pkeyutl -decrypt` given the private key (an openssl-generated pair: pyehsm never exports keys).
openssl -> pyehsm: ciphertexts made by `openssl pkeyutl -encrypt` with GetPublicKey's PEM decrypt over HTTP;
signatures made by `openssl` verify through pyehsm's verification primitive.
OpenSSL 3.0's default SM2 distinguishing id is EMPTY, so every SM2 command passes distid explicitly.
"""

from __future__ import annotations

import base64
import shutil
import subprocess
from collections.abc import Callable, Iterator
from pathlib import Path

import gmalg
import pytest
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature

from pyehsm.client import Client
from pyehsm.clock import SystemClock
from pyehsm.crypto.asymmetric import PublicKeyPrimitive, load_public_key
from pyehsm.crypto.keyspecs import keyspec
from pyehsm.crypto.sm2 import DEFAULT_USER_ID, SM2PublicKey
from tests.support.server import ServerProcess

OPENSSL = shutil.which("openssl") or "/usr/bin/openssl"
DISTID = f"distid:{DEFAULT_USER_ID.decode()}"
OAEP_SHA256 = ("-pkeyopt", "rsa_padding_mode:oaep", "-pkeyopt", "rsa_oaep_md:sha256", "-pkeyopt", "rsa_mgf1_md:sha256")
PKCS1 = ("-pkeyopt", "rsa_padding_mode:pkcs1")
EC_CURVES = {
    "EH_EC_P224": ("secp224r1", "EH_SHA_224"),
    "EH_EC_P256": ("prime256v1", "EH_SHA_256"),
    "EH_EC_P256K": ("secp256k1", "EH_SHA_256"),
    "EH_EC_P384": ("secp384r1", "EH_SHA_384"),
    "EH_EC_P521": ("secp521r1", "EH_SHA_512"),
}
OPENSSL_MD = {"EH_SHA_224": "sha224", "EH_SHA_256": "sha256", "EH_SHA_384": "sha384", "EH_SHA_512": "sha512"}
HASHES: dict[str, Callable[[], hashes.HashAlgorithm]] = {
    "EH_SHA_224": hashes.SHA224,
    "EH_SHA_256": hashes.SHA256,
    "EH_SHA_384": hashes.SHA384,
    "EH_SHA_512": hashes.SHA512,
    "EH_SM3": hashes.SM3,
}
MSG = b"interop message signed or encrypted across implementations"


def openssl(*args: str | Path, check: bool = True) -> subprocess.CompletedProcess[bytes]:
    proc = subprocess.run([OPENSSL, *map(str, args)], check=False, capture_output=True, timeout=60)
    if check and proc.returncode != 0:
        raise AssertionError(f"openssl {args[0]} failed: {proc.stderr.decode(errors='replace')}")
    return proc


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def digest(name: str, data: bytes) -> bytes:
    h = hashes.Hash(HASHES[name]())
    h.update(data)
    return h.finalize()


def sign(app: Client, keyid: str, message: bytes, message_type: str, digest_mode: str, pad: str | None) -> bytes:
    body = {"keyid": keyid, "message": b64(message), "message_type": message_type, "digest_mode": digest_mode}
    if pad:
        body["padding_mode"] = pad
    return base64.b64decode(app.call("Sign", body)["signature"])


def spki_der(pem: Path | str) -> bytes:
    text = pem.read_text() if isinstance(pem, Path) else pem
    return base64.b64decode("".join(text.strip().splitlines()[1:-1]))


class DistinctMsClock(SystemClock):
    """System time, but never the same millisecond twice: the official signature does not cover the
    Action, so two requests with equal payloads in one millisecond would be (rightly) refused as replays."""

    def __init__(self) -> None:
        self._last = 0

    def now_ms(self) -> int:
        self._last = max(super().now_ms(), self._last + 1)
        return self._last


@pytest.fixture(scope="module")
def app(server: ServerProcess) -> Iterator[Client]:
    with server.client(clock=DistinctMsClock()) as c:
        yield c


@pytest.fixture(scope="module")
def work(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("interop")
    (path / "msg").write_bytes(MSG)
    return path


@pytest.fixture(scope="module")
def keys(app: Client) -> dict[str, str]:
    out = {"sign:EH_RSA_2048": app.create_key("EH_RSA_2048", keyusage="EH_KEYUSAGE_SIGN_VERIFY")}
    out["enc:EH_RSA_2048"] = app.create_key("EH_RSA_2048")
    out["enc:EH_RSA_3072"] = app.create_key("EH_RSA_3072")
    out.update({f"sign:{spec}": app.create_key(spec) for spec in EC_CURVES})
    out["sign:EH_SM2"] = app.create_key("EH_SM2", keyusage="EH_KEYUSAGE_SIGN_VERIFY")
    out["enc:EH_SM2"] = app.create_key("EH_SM2")
    return out


@pytest.fixture(scope="module")
def pem_files(app: Client, keys: dict[str, str], work: Path) -> dict[str, Path]:
    """GetPublicKey's PEM of every key, written where `openssl` can read it."""
    out = {}
    for name, keyid in keys.items():
        path = work / (name.replace(":", "_") + ".pem")
        path.write_text(app.get_public_key(keyid))
        out[name] = path
    return out


# -------------------------------------------------------------------------------------------------
# pyehsm signs, openssl (and gmalg) verify
# -------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("pad", "digest_mode", "message_type"),
    [
        ("EH_RSA_PKCS1", "EH_SHA_256", "EH_RAW"),
        ("EH_RSA_PKCS1", "EH_SHA_512", "EH_DIGEST"),
        ("EH_RSA_PKCS1_PSS", "EH_SHA_256", "EH_RAW"),
        ("EH_RSA_PKCS1_PSS", "EH_SHA_384", "EH_DIGEST"),
        ("EH_RSA_PKCS1_PSS", "EH_SHA_224", "EH_RAW"),
    ],
)
def test_rsa_signature_verifies_in_openssl(
    app: Client,
    keys: dict[str, str],
    pem_files: dict[str, Path],
    work: Path,
    pad: str,
    digest_mode: str,
    message_type: str,
) -> None:
    message = digest(digest_mode, MSG) if message_type == "EH_DIGEST" else MSG
    sig = work / f"rsa-{pad}-{digest_mode}.sig"
    sig.write_bytes(sign(app, keys["sign:EH_RSA_2048"], message, message_type, digest_mode, pad))
    # PSS: pyehsm's salt length is the digest length; ask openssl to insist on exactly that.
    pss = ("-sigopt", "rsa_padding_mode:pss", "-sigopt", "rsa_pss_saltlen:digest") if pad.endswith("PSS") else ()
    md = f"-{OPENSSL_MD[digest_mode]}"
    out = openssl("dgst", md, *pss, "-verify", pem_files["sign:EH_RSA_2048"], "-signature", sig, work / "msg")
    assert b"Verified OK" in out.stdout
    (work / "other").write_bytes(MSG + b"!")
    bad = openssl(
        "dgst", md, *pss, "-verify", pem_files["sign:EH_RSA_2048"], "-signature", sig, work / "other", check=False
    )
    assert bad.returncode != 0 and b"Verification failure" in bad.stdout + bad.stderr


@pytest.mark.parametrize("spec", list(EC_CURVES))
def test_ecdsa_signature_verifies_in_openssl(
    app: Client, keys: dict[str, str], pem_files: dict[str, Path], work: Path, spec: str
) -> None:
    _, curve_digest = EC_CURVES[spec]
    for digest_mode in sorted({curve_digest, "EH_SHA_256"}):
        for message_type in ("EH_RAW", "EH_DIGEST"):
            message = digest(digest_mode, MSG) if message_type == "EH_DIGEST" else MSG
            sig = work / f"{spec}.sig"
            sig.write_bytes(sign(app, keys[f"sign:{spec}"], message, message_type, digest_mode, "EH_RSA_PKCS1"))
            md = f"-{OPENSSL_MD[digest_mode]}"
            out = openssl("dgst", md, "-verify", pem_files[f"sign:{spec}"], "-signature", sig, work / "msg")
            assert b"Verified OK" in out.stdout, (spec, digest_mode, message_type)


def test_sm2_signature_verifies_in_openssl_and_gmalg(
    app: Client, keys: dict[str, str], pem_files: dict[str, Path], work: Path
) -> None:
    """EH_RAW and EH_DIGEST both sign SM3(Z_A || the bytes sent), as Intel's server does: what `openssl dgst
    -sm3 -sigopt distid:1234567812345678` checks over those bytes (for EH_DIGEST: the digest the client sent)."""
    pem = pem_files["sign:EH_SM2"]
    point = spki_der(pem)[-64:]  # uncompressed point 04 || x || y at the end of the SPKI
    (work / "sm3-digest").write_bytes(digest("EH_SM3", MSG))  # what Intel's SDKs send as an EH_DIGEST message
    for data, message_type in ((work / "msg", "EH_RAW"), (work / "sm3-digest", "EH_DIGEST")):
        message = data.read_bytes()
        raw = sign(app, keys["sign:EH_SM2"], message, message_type, "EH_SM3", None)
        sig = work / "sm2.sig"
        sig.write_bytes(raw)
        out = openssl(
            "pkeyutl", "-verify", "-rawin", "-digest", "sm3", "-pubin", "-inkey", pem,
            "-in", data, "-sigfile", sig, "-pkeyopt", DISTID,
        )  # fmt: skip
        assert b"Signature Verified Successfully" in out.stdout, message_type
        out = openssl("dgst", "-sm3", "-verify", pem, "-sigopt", DISTID, "-signature", sig, data)
        assert b"Verified OK" in out.stdout, message_type
        r, s = decode_dss_signature(raw)
        assert gmalg.SM2(pk=b"\x04" + point, uid=DEFAULT_USER_ID).verify(
            message, r.to_bytes(32, "big"), s.to_bytes(32, "big")
        )
        assert not gmalg.SM2(pk=b"\x04" + point, uid=b"another id").verify(
            message, r.to_bytes(32, "big"), s.to_bytes(32, "big")
        )


def test_openssl_sm2_signature_of_a_digest_verifies_as_eh_digest_in_pyehsm(
    app: Client, keys: dict[str, str], pem_files: dict[str, Path], work: Path
) -> None:
    """An SM2 key imported from openssl (BYOK): `openssl dgst -sm3 -sigopt distid:...` over a 32-byte digest
    verifies over HTTP as an EH_DIGEST Verify of that digest, and a pyehsm EH_DIGEST signature made with the
    same key verifies in openssl: the same value Intel's server signs and verifies."""
    priv = work / "byok-sm2.key"
    openssl("genpkey", "-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:SM2", "-out", priv)
    der = openssl("pkcs8", "-topk8", "-nocrypt", "-outform", "DER", "-in", priv).stdout
    keyid = app.create_key("EH_SM2", "EH_EXTERNAL_KEY", "EH_KEYUSAGE_SIGN_VERIFY")
    params = app.get_parameters_for_import(keyid, "EH_SM2")
    app.import_key_material(keyid, SM2PublicKey.from_pem(params.pubkey).encrypt(der), params.import_token)
    pem = work / "byok-sm2.pem"
    pem.write_text(app.get_public_key(keyid))
    d = work / "byok-digest"
    d.write_bytes(digest("EH_SM3", MSG))
    theirs = openssl("dgst", "-sm3", "-sign", priv, "-sigopt", DISTID, d).stdout
    body = {"keyid": keyid, "message": b64(d.read_bytes()), "message_type": "EH_DIGEST", "digest_mode": "EH_SM3"}
    assert app.call("Verify", {**body, "signature": b64(theirs)})["result"] is True
    assert app.call("Verify", {**body, "message_type": "EH_RAW", "signature": b64(theirs)})["result"] is True
    msg_sig = openssl("dgst", "-sm3", "-sign", priv, "-sigopt", DISTID, work / "msg").stdout
    assert app.call("Verify", {**body, "signature": b64(msg_sig)})["result"] is False
    ours = work / "byok-ours.sig"
    ours.write_bytes(base64.b64decode(app.call("Sign", body)["signature"]))
    out = openssl("dgst", "-sm3", "-verify", pem, "-sigopt", DISTID, "-signature", ours, d)
    assert b"Verified OK" in out.stdout


def test_rsa_public_keys_are_pkcs1_and_convert_with_the_documented_openssl_commands(
    pem_files: dict[str, Path], work: Path
) -> None:
    """docs/keys.md: `openssl rsa -RSAPublicKey_in` for RSA (PKCS#1), `openssl pkey -pubin` for EC and SM2."""
    for name, pem in pem_files.items():
        text = pem.read_text()
        out = work / (pem.stem + "-spki.pem")
        if "RSA" in name:
            assert text.startswith("-----BEGIN RSA PUBLIC KEY-----\n")
            openssl("rsa", "-RSAPublicKey_in", "-in", pem, "-pubout", "-out", out)
            assert out.read_text().startswith("-----BEGIN PUBLIC KEY-----\n")
        else:
            assert text.startswith("-----BEGIN PUBLIC KEY-----\n")
            openssl("pkey", "-pubin", "-in", pem, "-out", out)
            assert out.read_text() == text


# -------------------------------------------------------------------------------------------------
# openssl (and gmalg) encrypt to GetPublicKey's PEM, pyehsm decrypts over HTTP
# -------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("spec", ["EH_RSA_2048", "EH_RSA_3072"])
def test_openssl_rsa_ciphertexts_decrypt_in_pyehsm(
    app: Client, keys: dict[str, str], pem_files: dict[str, Path], work: Path, spec: str
) -> None:
    keyid, pem = keys[f"enc:{spec}"], pem_files[f"enc:{spec}"]
    for opts, pad in ((OAEP_SHA256, "EH_RSA_PKCS1_OAEP"), (PKCS1, "EH_RSA_PKCS1")):
        ct = openssl("pkeyutl", "-encrypt", "-pubin", "-inkey", pem, "-in", work / "msg", *opts).stdout
        assert app.asymmetric_decrypt(keyid, ct, pad) == MSG
    # OAEP with openssl's default SHA-1 is not pyehsm's OAEP: it must not decrypt.
    sha1 = openssl(
        "pkeyutl", "-encrypt", "-pubin", "-inkey", pem, "-in", work / "msg", "-pkeyopt", "rsa_padding_mode:oaep"
    )
    response = app.request(
        "AsymmetricDecrypt", {"keyid": keyid, "ciphertext": b64(sha1.stdout), "padding_mode": "EH_RSA_PKCS1_OAEP"}
    )
    assert response.code == 400 and response.message.startswith("Decrypt failed")


def test_openssl_and_gmalg_sm2_ciphertexts_decrypt_in_pyehsm(
    app: Client, keys: dict[str, str], pem_files: dict[str, Path], work: Path
) -> None:
    keyid, pem = keys["enc:EH_SM2"], pem_files["enc:EH_SM2"]
    ct = openssl("pkeyutl", "-encrypt", "-pubin", "-inkey", pem, "-in", work / "msg").stdout
    for pad in ("EH_PAD_NONE", "EH_RSA_PKCS1_OAEP"):
        assert app.asymmetric_decrypt(keyid, ct, pad) == MSG
    raw = gmalg.SM2(pk=b"\x04" + spki_der(pem)[-64:]).encrypt(MSG)  # 04||x||y || C3 || C2
    assert app.asymmetric_decrypt(keyid, c1c3c2_to_der(raw), "EH_PAD_NONE") == MSG


def test_exported_data_key_matches_an_openssl_encryption_of_it(
    app: Client, keys: dict[str, str], pem_files: dict[str, Path], work: Path
) -> None:
    """ExportDataKey's output and an offline `openssl pkeyutl -encrypt` of the same data key with the PEM
    from GetPublicKey are both ordinary ciphertexts for the private key: both decrypt to the data key."""
    aes = app.create_key("EH_AES_GCM_128")
    data_key, wrapped = app.generate_data_key(aes, 64, aad=b"interop")
    (work / "datakey").write_bytes(data_key)
    for target, pad, opts in (
        ("enc:EH_RSA_2048", "EH_RSA_PKCS1_OAEP", OAEP_SHA256),
        ("enc:EH_RSA_3072", "EH_RSA_PKCS1", PKCS1),
        ("enc:EH_SM2", "EH_PAD_NONE", ()),
    ):
        exported = app.export_data_key(aes, keys[target], wrapped, aad=b"interop", padding_mode=pad)
        offline = openssl("pkeyutl", "-encrypt", "-pubin", "-inkey", pem_files[target], "-in", work / "datakey", *opts)
        assert app.asymmetric_decrypt(keys[target], exported, pad) == data_key
        assert app.asymmetric_decrypt(keys[target], offline.stdout, pad) == data_key


# -------------------------------------------------------------------------------------------------
# with openssl-generated key pairs: pyehsm's primitives <-> openssl
# -------------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def openssl_keys(work: Path) -> dict[str, tuple[Path, Path]]:
    """keyspec -> (private key PEM, public key PEM) generated by the openssl CLI."""
    out = {}
    gen = {
        "EH_RSA_2048": ("-algorithm", "RSA", "-pkeyopt", "rsa_keygen_bits:2048"),
        "EH_SM2": ("-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:SM2"),
        **{
            spec: ("-algorithm", "EC", "-pkeyopt", f"ec_paramgen_curve:{curve}")
            for spec, (curve, _) in EC_CURVES.items()
        },
    }
    for spec, args in gen.items():
        priv, pub = work / f"ossl-{spec}.key", work / f"ossl-{spec}.pub"
        openssl("genpkey", *args, "-out", priv)
        openssl("pkey", "-in", priv, "-pubout", "-out", pub)
        out[spec] = (priv, pub)
    return out


def primitive(openssl_keys: dict[str, tuple[Path, Path]], spec: str) -> PublicKeyPrimitive:
    return load_public_key(keyspec(spec), spki_der(openssl_keys[spec][1]))


def test_openssl_signatures_verify_in_pyehsm(openssl_keys: dict[str, tuple[Path, Path]], work: Path) -> None:
    msg = work / "msg"
    rsa_key = primitive(openssl_keys, "EH_RSA_2048")
    priv = openssl_keys["EH_RSA_2048"][0]
    for digest_mode in ("EH_SHA_256", "EH_SHA_512"):
        md = f"-{OPENSSL_MD[digest_mode]}"
        v15 = openssl("dgst", md, "-sign", priv, msg).stdout
        assert rsa_key.verify(v15, MSG, digest=digest_mode, prehashed=False, padding="EH_RSA_PKCS1")
        assert rsa_key.verify(v15, digest(digest_mode, MSG), digest=digest_mode, prehashed=True, padding="EH_RSA_PKCS1")
        assert not rsa_key.verify(v15, MSG, digest=digest_mode, prehashed=False, padding="EH_RSA_PKCS1_PSS")
        for saltlen in ("digest", "max", "20"):  # pyehsm verifies PSS with any salt length
            pss = openssl(
                "dgst",
                md,
                "-sigopt",
                "rsa_padding_mode:pss",
                "-sigopt",
                f"rsa_pss_saltlen:{saltlen}",
                "-sign",
                priv,
                msg,
            )
            assert rsa_key.verify(pss.stdout, MSG, digest=digest_mode, prehashed=False, padding="EH_RSA_PKCS1_PSS")
            assert not rsa_key.verify(
                pss.stdout, MSG + b"!", digest=digest_mode, prehashed=False, padding="EH_RSA_PKCS1_PSS"
            )
    for spec, (_, digest_mode) in EC_CURVES.items():
        sig = openssl("dgst", f"-{OPENSSL_MD[digest_mode]}", "-sign", openssl_keys[spec][0], msg).stdout
        key = primitive(openssl_keys, spec)
        assert key.verify(sig, MSG, digest=digest_mode, prehashed=False, padding=None), spec
        assert key.verify(sig, digest(digest_mode, MSG), digest=digest_mode, prehashed=True, padding=None), spec
        assert not key.verify(sig, MSG[1:], digest=digest_mode, prehashed=False, padding=None), spec
    sm2_priv = openssl_keys["EH_SM2"][0]
    sig = openssl(
        "pkeyutl", "-sign", "-rawin", "-digest", "sm3", "-inkey", sm2_priv, "-in", msg, "-pkeyopt", DISTID
    ).stdout
    sm2_key = primitive(openssl_keys, "EH_SM2")
    assert sm2_key.verify(sig, MSG, digest="EH_SM3", prehashed=False, padding=None)
    # EH_DIGEST of d: SM3(Z_A || d), what `openssl dgst -sm3 -sigopt distid:...` signs over the file d.
    (work / "sm3-of-msg").write_bytes(digest("EH_SM3", MSG))
    sig_d = openssl("dgst", "-sm3", "-sign", sm2_priv, "-sigopt", DISTID, work / "sm3-of-msg").stdout
    assert sm2_key.verify(sig_d, digest("EH_SM3", MSG), digest="EH_SM3", prehashed=True, padding=None)
    e = SM2PublicKey.from_spki_der(spki_der(openssl_keys["EH_SM2"][1])).z_digest(MSG)
    assert not sm2_key.verify(sig, e, digest="EH_SM3", prehashed=True, padding=None)  # not the final e
    # OpenSSL 3.0 without distid uses an EMPTY id: not pyehsm's default, so it must not verify.
    nodist = openssl("pkeyutl", "-sign", "-rawin", "-digest", "sm3", "-inkey", sm2_priv, "-in", msg).stdout
    assert not sm2_key.verify(nodist, MSG, digest="EH_SM3", prehashed=False, padding=None)


def test_pyehsm_ciphertexts_decrypt_in_openssl(openssl_keys: dict[str, tuple[Path, Path]], work: Path) -> None:
    """The encryption primitive behind AsymmetricEncrypt and ExportDataKey, checked by `openssl pkeyutl -decrypt`."""
    data_key = bytes(range(32))
    cases = (
        ("EH_RSA_2048", "EH_RSA_PKCS1_OAEP", OAEP_SHA256),
        ("EH_RSA_2048", "EH_RSA_PKCS1", PKCS1),
        ("EH_SM2", "EH_PAD_NONE", ()),
    )
    for spec, pad, opts in cases:
        ct = work / "ct"
        ct.write_bytes(primitive(openssl_keys, spec).encrypt(data_key, pad))
        out = openssl("pkeyutl", "-decrypt", "-inkey", openssl_keys[spec][0], "-in", ct, *opts)
        assert out.stdout == data_key, (spec, pad)


# -------------------------------------------------------------------------------------------------
# helpers
# -------------------------------------------------------------------------------------------------


def _tlv(tag: int, body: bytes) -> bytes:
    n = len(body)
    if n < 0x80:
        return bytes([tag, n]) + body
    size = n.to_bytes((n.bit_length() + 7) // 8, "big")
    return bytes([tag, 0x80 | len(size)]) + size + body


def _der_int(value: int) -> bytes:
    return _tlv(0x02, value.to_bytes(value.bit_length() // 8 + 1, "big"))


def c1c3c2_to_der(raw: bytes) -> bytes:
    """gmalg's raw 04||x||y || C3(32) || C2 -> GM/T 0009 DER SEQUENCE {x, y, C3, C2}."""
    assert raw[0] == 0x04
    x, y, c3, c2 = raw[1:33], raw[33:65], raw[65:97], raw[97:]
    body = _der_int(int.from_bytes(x, "big")) + _der_int(int.from_bytes(y, "big")) + _tlv(0x04, c3) + _tlv(0x04, c2)
    return _tlv(0x30, body)
