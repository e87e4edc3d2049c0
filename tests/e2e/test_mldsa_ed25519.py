"""ML-DSA-44/65/87 and Ed25519 keys end to end over HTTP: CreateKey, GetPublicKey (SubjectPublicKeyInfo with the
FIPS 204 / RFC 8410 OIDs), Sign/Verify in every mode, BYOK import of Wycheproof seeds, and the refusals.

Independent oracles: `dilithium-py` (a pure-Python FIPS 204 implementation) verifies pyehsm's ML-DSA
signatures (pure, with context strings, and over an external mu) and signs what pyehsm must verify; the
`openssl` CLI verifies pyehsm's Ed25519 signatures and signs what pyehsm must verify.
"""

from __future__ import annotations

import base64
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ed25519, mldsa
from dilithium_py.ml_dsa import ML_DSA_44, ML_DSA_65, ML_DSA_87

from pyehsm.client import Client
from pyehsm.clock import SystemClock
from tests.support.server import ServerProcess
from tests.vectors import load_wycheproof

OPENSSL = shutil.which("openssl") or "/usr/bin/openssl"
SIGN = "EH_KEYUSAGE_SIGN_VERIFY"
EXTERNAL = "EH_EXTERNAL_KEY"
MSG = b"post-quantum message \x00\xff"
ORACLES: dict[str, Any] = {"EH_ML_DSA_44": ML_DSA_44, "EH_ML_DSA_65": ML_DSA_65, "EH_ML_DSA_87": ML_DSA_87}
OIDS = {  # DER of the AlgorithmIdentifier OIDs (FIPS 204: id-ml-dsa-44/65/87 = 2.16.840.1.101.3.4.3.17/18/19)
    "EH_ML_DSA_44": bytes.fromhex("0609608648016503040311"),
    "EH_ML_DSA_65": bytes.fromhex("0609608648016503040312"),
    "EH_ML_DSA_87": bytes.fromhex("0609608648016503040313"),
    "EH_ED25519": bytes.fromhex("06032b6570"),  # RFC 8410 id-Ed25519 = 1.3.101.112
}
PUBLIC_CLASSES: dict[str, Any] = {
    "EH_ML_DSA_44": mldsa.MLDSA44PublicKey,
    "EH_ML_DSA_65": mldsa.MLDSA65PublicKey,
    "EH_ML_DSA_87": mldsa.MLDSA87PublicKey,
}
MLDSA = tuple(ORACLES)


class DistinctMsClock(SystemClock):
    def __init__(self) -> None:
        self._last = 0

    def now_ms(self) -> int:
        self._last = max(super().now_ms(), self._last + 1)
        return self._last


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


@pytest.fixture(scope="module")
def app(server: ServerProcess) -> Iterator[Client]:
    with server.client(clock=DistinctMsClock()) as c:
        yield c


@pytest.fixture(scope="module")
def keys(app: Client) -> dict[str, str]:
    out = {spec: app.create_key(spec) for spec in (*MLDSA, "EH_ED25519")}
    out["EH_EC_P256"] = app.create_key("EH_EC_P256")
    return out


def spki(pem: str) -> bytes:
    return serialization.load_pem_public_key(pem.encode()).public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )


def raw_public(app: Client, keyid: str) -> bytes:
    public: Any = serialization.load_pem_public_key(app.get_public_key(keyid).encode())
    raw: bytes = public.public_bytes_raw()
    return raw


def sign_body(keyid: str, message: bytes, message_type: str = "EH_RAW", **extra: Any) -> dict[str, Any]:
    return {"keyid": keyid, "message": b64(message), "message_type": message_type, **extra}


def error(app: Client, action: str, body: dict[str, Any]) -> str:
    response = app.request(action, body)
    assert (response.code, response.result) == (400, {}), response
    return response.message


# -- ML-DSA ------------------------------------------------------------------------------------------
@pytest.mark.parametrize("spec", [*MLDSA, "EH_ED25519"])
def test_get_public_key_is_spki_with_the_standard_oid(app: Client, keys: dict[str, str], spec: str) -> None:
    pem = app.get_public_key(keys[spec])
    assert pem.startswith("-----BEGIN PUBLIC KEY-----\n")
    der = spki(pem)
    algorithm = der[der.index(b"\x30", 2) :]  # SEQUENCE { SEQUENCE { OID }, BIT STRING }: the AlgorithmIdentifier
    assert algorithm[2 : 2 + len(OIDS[spec])] == OIDS[spec]
    if spec in PUBLIC_CLASSES:
        assert isinstance(serialization.load_pem_public_key(pem.encode()), PUBLIC_CLASSES[spec])


@pytest.mark.parametrize("spec", MLDSA)
def test_mldsa_pure_signatures_verify_in_dilithium_py_and_back(app: Client, keys: dict[str, str], spec: str) -> None:
    keyid, oracle = keys[spec], ORACLES[spec]
    pk = raw_public(app, keyid)
    for context in (None, b"", b"app context", bytes(range(255))):
        signature = app.sign(keyid, MSG, None, context=context)
        assert oracle.verify(pk, MSG, signature, context or b"")
        assert not oracle.verify(pk, MSG, signature, b"other context")
        assert app.verify(keyid, MSG, signature, None, context=context) is True
        assert app.verify(keyid, MSG + b"x", signature, None, context=context) is False
    # dilithium-py cannot sign with pyehsm's key; it verifies, and pyehsm verifies its own wrong-context cases
    assert app.verify(keyid, MSG, app.sign(keyid, MSG, None, context=b"a"), None, context=b"b") is False


@pytest.mark.parametrize("spec", MLDSA)
def test_mldsa_signatures_are_hedged(app: Client, keys: dict[str, str], spec: str) -> None:
    assert app.sign(keys[spec], MSG, None) != app.sign(keys[spec], MSG, None)


@pytest.mark.parametrize("spec", MLDSA)
def test_mldsa_external_mu(app: Client, keys: dict[str, str], spec: str) -> None:
    """EH_EXTERNAL_MU signs the caller's 64-byte mu: the signature is a pure signature of the message."""
    keyid, oracle = keys[spec], ORACLES[spec]
    pk = raw_public(app, keyid)
    context = b"ctx"
    mu = oracle.prehash_external_mu(pk, MSG, context)
    assert len(mu) == 64
    signature = app.sign(keyid, mu, None, message_type="EH_EXTERNAL_MU")
    assert oracle.verify(pk, MSG, signature, context)
    assert app.verify(keyid, MSG, signature, None, context=context) is True
    assert app.verify(keyid, mu, app.sign(keyid, MSG, None, context=context), None, message_type="EH_EXTERNAL_MU")
    assert app.verify(keyid, bytes(64), signature, None, message_type="EH_EXTERNAL_MU") is False


@pytest.mark.parametrize("spec", MLDSA)
def test_mldsa_refusals(app: Client, keys: dict[str, str], spec: str) -> None:
    keyid = keys[spec]
    assert error(app, "Sign", sign_body(keyid, bytes(32), "EH_DIGEST")) == (
        "Parameter invalid, The message_type EH_DIGEST cannot be used with ML-DSA keys (send EH_RAW)."
    )
    for size in (32, 63, 65):
        assert error(app, "Sign", sign_body(keyid, bytes(size), "EH_EXTERNAL_MU")) == (
            "Parameter invalid, The message length error: an EH_EXTERNAL_MU message must be 64 bytes."
        )
    body = sign_body(keyid, bytes(64), "EH_EXTERNAL_MU", signature=b64(bytes(100)))
    assert error(app, "Verify", {**body, "message": b64(bytes(10))}).startswith("Parameter invalid, The message length")
    assert error(app, "Sign", sign_body(keyid, MSG, context=b64(bytes(256)))) == (
        "Parameter invalid, The context length error."
    )
    assert error(app, "Sign", sign_body(keyid, MSG, context="not base64!")) == (
        "Parameter invalid, The context not a valid base64 string."
    )


def test_context_and_external_mu_are_refused_for_other_families(app: Client, keys: dict[str, str]) -> None:
    for spec, family in (("EH_EC_P256", "EC"), ("EH_ED25519", "Ed25519")):
        assert error(app, "Sign", sign_body(keys[spec], MSG, context=b64(b"c"))) == (
            f"Parameter invalid, The context cannot be used with {family} keys (only ML-DSA keys take a context)."
        )
        assert error(app, "Sign", sign_body(keys[spec], bytes(64), "EH_EXTERNAL_MU")) == (
            f"Parameter invalid, The message_type EH_EXTERNAL_MU cannot be used with {family} keys (send EH_RAW)."
        )


@pytest.mark.parametrize("size", ["44", "65", "87"])
def test_mldsa_seed_import_from_wycheproof(app: Client, size: str) -> None:
    """BYOK of a vector's 32-byte seed: the public key is the vector's, the vector's signatures verify, and
    pyehsm's (hedged) signatures verify under the vector's public key."""
    from pyehsm.cli.byok import wrap_for_import

    spec = f"EH_ML_DSA_{size}"
    data = load_wycheproof(f"mldsa_{size}_sign_seed_test")
    group = data["testGroups"][0]
    keyid = app.create_key(spec, EXTERNAL, SIGN)
    params = app.get_parameters_for_import(keyid, "EH_RSA_2048")
    wrapped, padding = wrap_for_import(params.pubkey, bytes.fromhex(group["privateSeed"]), "EH_RSA_2048")
    assert app.import_key_material(keyid, wrapped, params.import_token, padding)
    public = bytes.fromhex(group["publicKey"])
    assert raw_public(app, keyid) == public
    for test in group["tests"]:
        if test["result"] != "valid" or "msg" not in test:
            continue
        message, context = bytes.fromhex(test["msg"]), bytes.fromhex(test.get("ctx", ""))
        if len(message) > 6144:
            continue
        assert app.verify(keyid, message, bytes.fromhex(test["sig"]), None, context=context) is True
        assert ORACLES[spec].verify(public, message, app.sign(keyid, message, None, context=context), context)
        if "mu" in test:
            signature = app.sign(keyid, bytes.fromhex(test["mu"]), None, message_type="EH_EXTERNAL_MU")
            assert ORACLES[spec].verify(public, message, signature, context)


def test_mldsa_import_refuses_a_wrong_seed_length(app: Client) -> None:
    from pyehsm.cli.byok import wrap_for_import

    keyid = app.create_key("EH_ML_DSA_65", EXTERNAL, SIGN)
    params = app.get_parameters_for_import(keyid, "EH_RSA_2048")
    wrapped, padding = wrap_for_import(params.pubkey, bytes(31), "EH_RSA_2048")
    body = {"keyid": keyid, "key_material": b64(wrapped), "importToken": params.import_token, "padding_mode": padding}
    assert error(app, "ImportKeyMaterial", body) == (
        "Parameter invalid, The key_material format wrong: EH_ML_DSA_65 key material must be a 32-byte ML-DSA-65 "
        "seed, raw or as unencrypted PKCS#8 DER."
    )


# -- Ed25519 -----------------------------------------------------------------------------------------
def openssl(*args: str | Path, data: bytes | None = None) -> subprocess.CompletedProcess[bytes]:
    return subprocess.run([OPENSSL, *map(str, args)], input=data, capture_output=True, check=False)


def test_ed25519_signatures_verify_in_openssl_and_back(app: Client, keys: dict[str, str]) -> None:
    keyid = keys["EH_ED25519"]
    signature = app.sign(keyid, MSG, "EH_SHA_512")
    assert signature == app.sign(keyid, MSG, None)  # deterministic (RFC 8032); SHA-512 is the default
    with tempfile.TemporaryDirectory() as tmp:
        d = Path(tmp)
        (d / "pub.pem").write_text(app.get_public_key(keyid))
        (d / "msg").write_bytes(MSG)
        (d / "sig").write_bytes(signature)
        verified = openssl(
            "pkeyutl", "-verify", "-pubin", "-inkey", d / "pub.pem", "-rawin", "-in", d / "msg", "-sigfile", d / "sig"
        )
        assert verified.returncode == 0, verified.stderr
        (d / "sig").write_bytes(app.sign(keyid, MSG + b"x", None))
        assert (
            openssl(
                "pkeyutl",
                "-verify",
                "-pubin",
                "-inkey",
                d / "pub.pem",
                "-rawin",
                "-in",
                d / "msg",
                "-sigfile",
                d / "sig",
            ).returncode
            != 0
        )
        # openssl signs with its own key, imported into pyehsm; pyehsm verifies
        assert openssl("genpkey", "-algorithm", "ed25519", "-out", d / "key.pem").returncode == 0
        der = openssl("pkcs8", "-topk8", "-nocrypt", "-outform", "DER", "-in", d / "key.pem").stdout
        their_sig = openssl("pkeyutl", "-sign", "-inkey", d / "key.pem", "-rawin", "-in", d / "msg").stdout
    from pyehsm.cli.byok import wrap_for_import

    imported = app.create_key("EH_ED25519", EXTERNAL, SIGN)
    params = app.get_parameters_for_import(imported, "EH_RSA_2048")
    wrapped, padding = wrap_for_import(params.pubkey, der, "EH_RSA_2048")
    assert app.import_key_material(imported, wrapped, params.import_token, padding)
    assert app.verify(imported, MSG, their_sig, None) is True
    assert app.sign(imported, MSG, None) == their_sig  # Ed25519 is deterministic: same key, same signature
    private = serialization.load_der_private_key(der, None)
    assert isinstance(private, ed25519.Ed25519PrivateKey)


def test_ed25519_refuses_digest_messages_and_other_digests(app: Client, keys: dict[str, str]) -> None:
    keyid = keys["EH_ED25519"]
    assert error(app, "Sign", sign_body(keyid, bytes(64), "EH_DIGEST", digest_mode="EH_SHA_512")) == (
        "Parameter invalid, The message_type EH_DIGEST cannot be used with Ed25519 keys (send EH_RAW)."
    )
    assert error(app, "Sign", sign_body(keyid, MSG, digest_mode="EH_SHA_256")) == (
        "Parameter invalid, The digest_mode EH_SHA_256 cannot be used with Ed25519 keys (use EH_SHA_512)."
    )
    assert error(app, "Verify", sign_body(keyid, bytes(64), "EH_DIGEST", signature=b64(bytes(64)))).startswith(
        "Parameter invalid, The message_type EH_DIGEST cannot be used with Ed25519 keys"
    )


# -- CLI ---------------------------------------------------------------------------------------------
def test_cli_signs_with_a_context_and_refuses_file_digests(client: Client, tmp_path: Path) -> None:
    from click.testing import CliRunner

    from pyehsm.cli import main

    env = {
        "PYEHSM_URL": client.base_url,
        "PYEHSM_APPID": client.appid,
        "PYEHSM_APIKEY": client.apikey,
        "PYEHSM_CREDENTIALS_FILE": "/nonexistent/pyehsm-credentials",
        "PYEHSM_PROFILE": "",
    }

    def run(*args: str) -> Any:
        return CliRunner().invoke(main, list(args), env=env, catch_exceptions=False)

    keyid = client.create_key("EH_ML_DSA_65")
    signed = run("sign", "-k", keyid, "hello", "--context", "my-app", "--out", str(tmp_path / "sig"))
    assert signed.exit_code == 0, signed.output
    signature = (tmp_path / "sig").read_bytes()
    pk = raw_public(client, keyid)
    assert ML_DSA_65.verify(pk, b"hello", signature, b"my-app")
    ok = run("verify", "-k", keyid, "-s", f"@{tmp_path / 'sig'}", "hello", "--context", "my-app")
    assert ok.exit_code == 0 and ok.stdout.strip() == "valid", ok.output
    assert run("verify", "-k", keyid, "-s", f"@{tmp_path / 'sig'}", "hello", "--context", "other").exit_code == 1
    (tmp_path / "big").write_bytes(b"x" * 10_000)
    refused = run("sign", "-k", keyid, "--file", str(tmp_path / "big"))
    assert refused.exit_code == 2
    assert "EH_ML_DSA_65 keys sign the message itself (EH_RAW)" in refused.output
