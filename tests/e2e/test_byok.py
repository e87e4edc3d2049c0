"""Bring your own key end to end over HTTP, done the way a client does it: GetParametersForImport, wrap
random material under the returned public key with `cryptography` (RSA) or the `openssl` CLI (SM2),
ImportKeyMaterial, then use the key and check every answer against a local computation with the same
material (HMAC tags, signatures verified with the public key derived locally from the imported private
key, local ciphertexts the server decrypts and server ciphertexts decrypted locally).

Every importable keyspec x wrapping keyspec x padding whose wrapping can carry the material; RSA-4096
wrapping keys only in a few combinations (keygen is slow). Token expiry and the sweep use the
in-process server with a ManualClock: nothing sleeps.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import functools
import os
import re
import sqlite3
import subprocess
import tempfile
import threading
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives import hashes, hmac, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, mldsa, mlkem, padding, rsa, x25519
from cryptography.hazmat.primitives.keywrap import aes_key_wrap_with_padding

from pyehsm.client import Client
from pyehsm.client.errors import EhsmApiError
from pyehsm.clock import ManualClock, SystemClock
from pyehsm.crypto import blob, symmetric
from pyehsm.crypto.keyspecs import KEYSPEC_NAMES, keyspec
from pyehsm.crypto.sm2 import DEFAULT_USER_ID
from tests.support.server import InProcessServer, ServerProcess

POOL_DEPTH = "EH_RSA_2048=8,EH_RSA_3072=8,EH_RSA_4096=2,EH_SM2=8"
OAEP = padding.OAEP(mgf=padding.MGF1(hashes.SHA256()), algorithm=hashes.SHA256(), label=None)
PKCS8 = (serialization.Encoding.DER, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
SPKI_PEM = (serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
PKCS1_PEM = (serialization.Encoding.PEM, serialization.PublicFormat.PKCS1)  # GetPublicKey of RSA keys
EXTERNAL = "EH_EXTERNAL_KEY"
SIGN = "EH_KEYUSAGE_SIGN_VERIFY"
MSG = b"bring your own key \x00\xff"
AAD = b"byok-aad"
DAY_MS = 86_400_000
SM2 = "SM2"  # the padding column of SM2-wrapped combinations (padding_mode is ignored)
# What a client may send as padding_mode with an SM2 wrapping key (None: the field is left out).
SM2_PADDINGS = (None, "EH_PAD_NONE", "EH_RSA_PKCS1", "EH_RSA_PKCS1_OAEP")
RSA_PADDINGS = ("EH_RSA_PKCS1", "EH_RSA_PKCS1_OAEP", "EH_RSA_AES_KEY_WRAP")

TOKEN_EXPIRED = 'Token validity time is 24 hours. Try to send "GetParametersForImport" request again.'
TOKEN_INVALID = "Parameter invalid, The importToken is not valid for this key."
TOKEN_REPLACED = (
    "Parameter invalid, The importToken was replaced by a newer GetParametersForImport request: use the newest one."
)
TOKEN_GONE = (
    "Parameter invalid, The importToken can no longer be used (its import parameters were deleted after too many "
    'failed imports): send "GetParametersForImport" request again.'
)
NOT_EXTERNAL = "The key was not created with origin EH_EXTERNAL_KEY: key material can not be imported into it."
ALREADY_IMPORTED = "The key material of this key has already been imported and can not be replaced."
UNWRAP_FAILED = (
    "Decrypt failed: the key_material was not encrypted under this importToken's public key with this "
    "padding_mode, or it was modified."
)

EC_CURVES: dict[str, ec.EllipticCurve] = {
    "EH_EC_P224": ec.SECP224R1(),
    "EH_EC_P256": ec.SECP256R1(),
    "EH_EC_P256K": ec.SECP256K1(),
    "EH_EC_P384": ec.SECP384R1(),
    "EH_EC_P521": ec.SECP521R1(),
}
# Largest material (bytes) per target keyspec: decides which direct RSA wrappings can carry it.
MATERIAL_MAX = {
    "EH_AES_GCM_128": 16,
    "EH_AES_GCM_192": 24,
    "EH_AES_GCM_256": 32,
    "EH_SM4_CTR": 16,
    "EH_SM4_CBC": 16,
    "EH_HMAC": 48,
    "EH_EC_P224": 122,
    "EH_EC_P256": 138,
    "EH_EC_P256K": 135,
    "EH_EC_P384": 185,
    "EH_EC_P521": 241,
    "EH_SM2": 138,
    "EH_RSA_2048": 1220,
    "EH_RSA_3072": 1800,
    "EH_RSA_4096": 2400,
    "EH_ML_DSA_44": 32,  # the FIPS 204 seed, raw
    "EH_ML_DSA_65": 32,
    "EH_ML_DSA_87": 32,
    "EH_ED25519": 48,  # PKCS#8 (RFC 8410)
    "EH_ML_KEM_768": 64,  # the FIPS 203 seed d || z, raw
    "EH_ML_KEM_1024": 64,
    "EH_X25519": 48,  # PKCS#8 (RFC 8410)
}
ML_KEM = {"EH_ML_KEM_768": mlkem.MLKEM768PrivateKey, "EH_ML_KEM_1024": mlkem.MLKEM1024PrivateKey}
ML_DSA = {
    "EH_ML_DSA_44": mldsa.MLDSA44PrivateKey,
    "EH_ML_DSA_65": mldsa.MLDSA65PrivateKey,
    "EH_ML_DSA_87": mldsa.MLDSA87PrivateKey,
}
assert set(MATERIAL_MAX) == set(KEYSPEC_NAMES)


def direct_limit(wrapping: str, pad: str) -> int:
    k = keyspec(wrapping).rsa_bits // 8
    return {"EH_RSA_PKCS1": k - 11, "EH_RSA_PKCS1_OAEP": k - 66}.get(pad, 1 << 20)


def combos() -> list[tuple[str, str, str]]:
    out = []
    for target in KEYSPEC_NAMES:
        for wrapping in ("EH_RSA_2048", "EH_RSA_3072"):
            out += [(target, wrapping, p) for p in RSA_PADDINGS if MATERIAL_MAX[target] <= direct_limit(wrapping, p)]
        out.append((target, "EH_SM2", SM2))
    out += [  # RSA-4096 wrapping keys: one combination per scheme
        ("EH_AES_GCM_256", "EH_RSA_4096", "EH_RSA_PKCS1_OAEP"),
        ("EH_HMAC", "EH_RSA_4096", "EH_RSA_PKCS1"),
        ("EH_RSA_2048", "EH_RSA_4096", "EH_RSA_AES_KEY_WRAP"),
    ]
    return out


COMBOS = combos()


# -- helpers ----------------------------------------------------------------------------------------
class DistinctMsClock(SystemClock):
    """System time that never repeats a millisecond (equal payloads of two actions in one millisecond
    would otherwise be refused as replays: the signature does not cover the Action)."""

    def __init__(self) -> None:
        self._last = 0
        self._lock = threading.Lock()

    def now_ms(self) -> int:
        with self._lock:
            self._last = max(super().now_ms(), self._last + 1)
            return self._last


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def openssl(*args: str | Path, data: bytes | None = None) -> bytes:
    return subprocess.run(["openssl", *map(str, args)], input=data, capture_output=True, check=True).stdout


@contextlib.contextmanager
def temp_files(*contents: bytes | str) -> Iterator[list[Path]]:
    """Files holding ``contents`` for the openssl CLI, removed afterwards."""
    with tempfile.TemporaryDirectory(prefix="pyehsm-byok-") as folder:
        paths = []
        for i, data in enumerate(contents):
            path = Path(folder) / f"f{i}"
            path.write_bytes(data.encode() if isinstance(data, str) else data)
            paths.append(path)
        yield paths


@functools.cache
def material(spec: str) -> bytes:
    """Fresh random material per keyspec, made on the client (cached: RSA keygen is slow)."""
    ks = keyspec(spec)
    if ks.symmetric:
        return os.urandom(MATERIAL_MAX[spec] if spec == "EH_HMAC" else ks.key_bytes)
    if spec in EC_CURVES:
        return ec.generate_private_key(EC_CURVES[spec]).private_bytes(*PKCS8)
    if spec in ML_DSA:
        return os.urandom(32)
    if spec in ML_KEM:
        return os.urandom(64)
    if spec == "EH_X25519":
        return x25519.X25519PrivateKey.generate().private_bytes(*PKCS8)
    if spec == "EH_ED25519":
        return ed25519.Ed25519PrivateKey.generate().private_bytes(*PKCS8)
    if spec == "EH_SM2":  # the openssl CLI's own SM2 key, as PKCS#8
        pem = openssl("genpkey", "-algorithm", "SM2")
        return openssl("pkcs8", "-topk8", "-nocrypt", "-outform", "DER", data=pem)
    return rsa.generate_private_key(public_exponent=65537, key_size=ks.rsa_bits).private_bytes(*PKCS8)


@functools.cache
def private_key(spec: str) -> Any:
    """The local copy of ``material(spec)`` as a cryptography key (loaded once: RSA validation is slow)."""
    return serialization.load_der_private_key(material(spec), None)


def wrap(pubkey_pem: str, data: bytes, pad: str) -> bytes:
    """What a client does with GetParametersForImport's public key."""
    if pad == SM2:
        with temp_files(pubkey_pem) as (pem,):
            return openssl("pkeyutl", "-encrypt", "-pubin", "-inkey", pem, data=data)
    public = serialization.load_pem_public_key(pubkey_pem.encode())
    assert isinstance(public, rsa.RSAPublicKey)
    if pad == "EH_RSA_PKCS1_OAEP":
        return public.encrypt(data, OAEP)
    if pad == "EH_RSA_PKCS1":
        return public.encrypt(data, padding.PKCS1v15())
    kek = os.urandom(32)  # EH_RSA_AES_KEY_WRAP = CKM_RSA_AES_KEY_WRAP: OAEP(kek) || AES-KWP(kek, material)
    return public.encrypt(kek, OAEP) + aes_key_wrap_with_padding(kek, data)


def sent_padding(pad: str, i: int = 0) -> str | None:
    return SM2_PADDINGS[i % len(SM2_PADDINGS)] if pad == SM2 else pad


def import_payload(keyid: str, wrapped: bytes, token: str, pad: str | None) -> dict[str, Any]:
    body: dict[str, Any] = {"keyid": keyid, "key_material": b64(wrapped), "importToken": token}
    if pad is not None:
        body["padding_mode"] = pad
    return body


def without(body: dict[str, Any], field: str) -> dict[str, Any]:
    return {k: v for k, v in body.items() if k != field}


def state(app: Client, keyid: str) -> tuple[str | None, int]:
    info = next(k for k in app.list_key() if k.keyid == keyid)
    return info.state, info.key_state


def do_import(app: Client, keyid: str, wrapping: str, data: bytes, pad: str, i: int = 0) -> None:
    params = app.get_parameters_for_import(keyid, wrapping)
    result = app.call(
        "ImportKeyMaterial",
        import_payload(keyid, wrap(params.pubkey, data, pad), params.import_token, sent_padding(pad, i)),
    )
    assert result == {"result": True}


def expect_error(app: Client, action: str, body: dict[str, Any], message: str) -> None:
    resp = app.request(action, body)
    assert (resp.code, resp.message, resp.result) == (400, message, {})


# -- what "behaves like a key of its keyspec" means, checked locally ------------------------------------
def check_symmetric(app: Client, keyid: str, spec: str, key: bytes) -> None:
    cipher = symmetric.symmetric_cipher(keyspec(spec).family, key)
    bind = uuid.UUID(keyid).bytes
    ours = symmetric.encrypt(cipher, 1, MSG, bind, AAD)  # a ciphertext made locally with the same material
    assert app.decrypt(keyid, ours, AAD) == MSG
    theirs = app.encrypt(keyid, MSG, AAD)
    assert symmetric.decrypt(cipher, blob.unpack(theirs), bind, AAD) == MSG
    data_key = app.generate_data_key(keyid, 48, AAD)
    assert symmetric.decrypt(cipher, blob.unpack(data_key.ciphertext), bind, AAD) == data_key.plaintext


def check_hmac(app: Client, keyid: str, key: bytes) -> None:
    for digest, alg in (("EH_SHA_256", hashes.SHA256()), ("EH_SHA_512", hashes.SHA512()), ("EH_SM3", hashes.SM3())):
        mac = hmac.HMAC(key, alg)
        mac.update(MSG)
        local = mac.finalize()
        assert app.sign(keyid, MSG, digest) == local
        assert app.verify(keyid, MSG, local, digest) is True


def check_ec(app: Client, keyid: str, spec: str) -> None:
    private = private_key(spec)
    assert isinstance(private, ec.EllipticCurvePrivateKey)
    public = private.public_key()
    assert app.get_public_key(keyid) == public.public_bytes(*SPKI_PEM).decode()
    for digest, alg in (("EH_SHA_256", hashes.SHA256()), ("EH_SHA_384", hashes.SHA384())):
        public.verify(app.sign(keyid, MSG, digest), MSG, ec.ECDSA(alg))
    assert app.verify(keyid, MSG, private.sign(MSG, ec.ECDSA(hashes.SHA256())), "EH_SHA_256") is True


def check_pure_signer(app: Client, keyid: str, spec: str, data: bytes) -> None:
    """ML-DSA (imported as a seed) and Ed25519: the public key derived locally, signatures both ways."""
    private: Any = (
        ML_DSA[spec].from_seed_bytes(data) if spec in ML_DSA else serialization.load_der_private_key(data, None)
    )
    public = private.public_key()
    assert app.get_public_key(keyid) == public.public_bytes(*SPKI_PEM).decode()
    digest = "EH_SHA_512" if spec == "EH_ED25519" else None
    public.verify(app.sign(keyid, MSG, digest), MSG)
    assert app.verify(keyid, MSG, private.sign(MSG), digest) is True


def check_rsa(app: Client, keyid: str, spec: str, usage: str | None = None) -> None:
    private = private_key(spec)
    assert isinstance(private, rsa.RSAPrivateKey)
    public = private.public_key()
    assert app.get_public_key(keyid) == public.public_bytes(*PKCS1_PEM).decode()
    if usage == SIGN:
        pss = padding.PSS(mgf=padding.MGF1(hashes.SHA256()), salt_length=padding.PSS.DIGEST_LENGTH)
        public.verify(app.sign(keyid, MSG, "EH_SHA_256", "EH_RSA_PKCS1_PSS"), MSG, pss, hashes.SHA256())
        public.verify(app.sign(keyid, MSG, "EH_SHA_256", "EH_RSA_PKCS1"), MSG, padding.PKCS1v15(), hashes.SHA256())
        return
    assert app.asymmetric_decrypt(keyid, public.encrypt(MSG, OAEP), "EH_RSA_PKCS1_OAEP") == MSG
    assert app.asymmetric_decrypt(keyid, public.encrypt(MSG, padding.PKCS1v15()), "EH_RSA_PKCS1") == MSG
    assert private.decrypt(app.asymmetric_encrypt(keyid, MSG, "EH_RSA_PKCS1_OAEP"), OAEP) == MSG


def check_sm2(app: Client, keyid: str, der: bytes, usage: str | None = None) -> None:
    with temp_files(der) as (key_file,):
        pub_pem = openssl("pkey", "-inform", "DER", "-in", key_file, "-pubout").decode()
        assert app.get_public_key(keyid) == pub_pem
        if usage == SIGN:
            with temp_files(pub_pem, app.sign(keyid, MSG, "EH_SM3")) as (pub_file, sig):
                distid = f"distid:{DEFAULT_USER_ID.decode()}"
                out = openssl("pkeyutl", "-verify", "-pubin", "-inkey", pub_file, "-rawin", "-digest", "sm3",
                              "-sigfile", sig, "-pkeyopt", distid, data=MSG)  # fmt: skip
            assert b"Signature Verified Successfully" in out
            return
        with temp_files(pub_pem) as (pub_file,):
            ours = openssl("pkeyutl", "-encrypt", "-pubin", "-inkey", pub_file, data=MSG)
        assert app.asymmetric_decrypt(keyid, ours, "EH_PAD_NONE") == MSG
        theirs = app.asymmetric_encrypt(keyid, MSG, "EH_PAD_NONE")
        assert openssl("pkeyutl", "-decrypt", "-keyform", "DER", "-inkey", key_file, data=theirs) == MSG


def check_behaves_like(app: Client, keyid: str, spec: str, data: bytes, usage: str | None = None) -> None:
    family = keyspec(spec).family.value
    if spec == "EH_HMAC":
        check_hmac(app, keyid, data)
    elif keyspec(spec).symmetric:
        check_symmetric(app, keyid, spec, data)
    elif family == "EC":
        assert data == material(spec)
        check_ec(app, keyid, spec)
    elif family == "RSA":
        assert data == material(spec)
        check_rsa(app, keyid, spec, usage)
    elif family in ("ML-DSA", "Ed25519"):
        check_pure_signer(app, keyid, spec, data)
    elif family == "X25519":
        private = serialization.load_der_private_key(data, None)
        assert isinstance(private, x25519.X25519PrivateKey)
        assert app.get_public_key(keyid) == private.public_key().public_bytes(*SPKI_PEM).decode()
        peer = x25519.X25519PrivateKey.generate()
        peer_der = peer.public_key().public_bytes(
            serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
        )
        assert app.derive_shared_secret(keyid, peer_der) == peer.exchange(private.public_key())
    elif family == "ML-KEM":  # the seed determines the key pair: encapsulate locally, Decapsulate remotely
        public = ML_KEM[spec].from_seed_bytes(data).public_key()
        assert app.get_public_key(keyid) == public.public_bytes(*SPKI_PEM).decode()
        secret, ciphertext = public.encapsulate()
        assert app.decapsulate(keyid, ciphertext) == secret
    else:
        check_sm2(app, keyid, data, usage)


# -- fixtures ---------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def byok_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    """A server with deeper wrapping-key pools (every GetParametersForImport takes a fresh key pair)."""
    proc = ServerProcess(tmp_path_factory.mktemp("byok") / "data", "--pool-depth", POOL_DEPTH).start()
    try:
        yield proc
    finally:
        proc.stop()


@pytest.fixture(scope="module")
def app(byok_server: ServerProcess) -> Iterator[Client]:
    with byok_server.client(clock=DistinctMsClock()) as c:
        yield c


@pytest.fixture
def other_app(byok_server: ServerProcess) -> Iterator[Client]:
    with byok_server.client(clock=DistinctMsClock()) as c:
        yield c


def import_rows(server: ServerProcess, keyid: str) -> int:
    """Rows of import parameters (wrapping key pairs) the server holds for ``keyid``, read from its database."""
    db = sqlite3.connect(f"file:{server.data_dir / 'pyehsm.db'}?mode=ro", uri=True)
    try:
        return int(db.execute("SELECT COUNT(*) FROM import_tokens WHERE keyid = ?", (keyid,)).fetchone()[0])
    finally:
        db.close()


# -- the matrix -------------------------------------------------------------------------------------
@pytest.mark.parametrize(("target", "wrapping", "pad"), COMBOS, ids=["-".join(c) for c in COMBOS])
def test_import_then_use(app: Client, byok_server: ServerProcess, target: str, wrapping: str, pad: str) -> None:
    keyid = app.create_key(target, EXTERNAL)
    assert state(app, keyid) == ("PendingImport", 0)
    params = app.get_parameters_for_import(keyid, wrapping)
    kind = "RSA PUBLIC KEY" if wrapping.startswith("EH_RSA") else "PUBLIC KEY"  # PKCS#1 for RSA, as Intel's server
    assert params.pubkey.startswith(f"-----BEGIN {kind}-----\n")
    assert set(params.raw) == {"pubkey", "importToken"}
    assert import_rows(byok_server, keyid) == 1
    data = material(target)
    assert len(data) <= MATERIAL_MAX[target]
    wrapped = wrap(params.pubkey, data, pad)
    body = import_payload(keyid, wrapped, params.import_token, sent_padding(pad, COMBOS.index((target, wrapping, pad))))
    assert app.call("ImportKeyMaterial", body) == {"result": True}
    assert state(app, keyid) == ("Enabled", 1)
    assert import_rows(byok_server, keyid) == 0  # the wrapping key pair and token are gone
    check_behaves_like(app, keyid, target, data)
    expect_error(app, "ImportKeyMaterial", body, ALREADY_IMPORTED)  # the same request again changes nothing
    check_behaves_like(app, keyid, target, data)


def test_the_matrix_covers_every_keyspec_wrapping_and_padding() -> None:
    assert {c[0] for c in COMBOS} == set(KEYSPEC_NAMES)
    assert {(c[1], c[2]) for c in COMBOS} >= {(w, p) for w in ("EH_RSA_2048", "EH_RSA_3072") for p in RSA_PADDINGS}
    assert {c[1] for c in COMBOS} == {"EH_RSA_2048", "EH_RSA_3072", "EH_RSA_4096", "EH_SM2"}
    assert sum(c[1] == "EH_RSA_4096" for c in COMBOS) == 3
    # Asymmetric material that is too long for RSA goes through EH_RSA_AES_KEY_WRAP (or SM2).
    assert {c[2] for c in COMBOS if c[0].startswith("EH_RSA") and c[1] != "EH_SM2"} == {"EH_RSA_AES_KEY_WRAP"}


@pytest.mark.parametrize("target", ["EH_RSA_2048", "EH_SM2"])
def test_imported_key_pairs_sign_with_sign_verify_usage(app: Client, target: str) -> None:
    keyid = app.create_key(target, EXTERNAL, SIGN)
    do_import(app, keyid, "EH_SM2", material(target), SM2)
    check_behaves_like(app, keyid, target, material(target), SIGN)
    with pytest.raises(EhsmApiError, match="does not allow"):  # its usage still rules
        app.asymmetric_encrypt(keyid, MSG, "EH_RSA_PKCS1_OAEP")


def test_imported_keys_work_in_every_action_like_generated_ones(app: Client) -> None:
    aes = app.create_key("EH_AES_GCM_256", EXTERNAL)
    rsa_key = app.create_key("EH_RSA_3072", EXTERNAL)
    do_import(app, aes, "EH_RSA_2048", material("EH_AES_GCM_256"), "EH_RSA_PKCS1_OAEP")
    do_import(app, rsa_key, "EH_RSA_2048", material("EH_RSA_3072"), "EH_RSA_AES_KEY_WRAP")
    ciphertext = app.generate_data_key_without_plaintext(aes, 32, AAD)
    cipher = symmetric.symmetric_cipher(keyspec("EH_AES_GCM_256").family, material("EH_AES_GCM_256"))
    data_key = symmetric.decrypt(cipher, blob.unpack(ciphertext), uuid.UUID(aes).bytes, AAD)
    exported = app.export_data_key(aes, rsa_key, ciphertext, AAD, "EH_RSA_PKCS1_OAEP")
    assert private_key("EH_RSA_3072").decrypt(exported, OAEP) == data_key
    # Disable / enable / delete behave as for any key.
    app.disable_key(aes)
    assert state(app, aes) == ("Disabled", 0)
    with pytest.raises(EhsmApiError, match="keyid is disabled"):
        app.encrypt(aes, MSG)
    app.enable_key(aes)
    assert app.decrypt(aes, app.encrypt(aes, MSG)) == MSG
    app.delete_key(aes)
    assert aes not in {k.keyid for k in app.list_key()}


def test_intel_sdk_hex_string_material_is_taken_as_raw_bytes(app: Client) -> None:
    """Intel's SDK tests import ASCII hex strings whose length equals the key size."""
    for spec, size in (("EH_AES_GCM_128", 16), ("EH_AES_GCM_256", 32), ("EH_SM4_CBC", 16), ("EH_SM4_CTR", 16)):
        hex_material = os.urandom(size // 2).hex().encode()
        assert len(hex_material) == size
        keyid = app.create_key(spec, EXTERNAL)
        do_import(app, keyid, "EH_RSA_2048", hex_material, "EH_RSA_PKCS1_OAEP")
        check_symmetric(app, keyid, spec, hex_material)


# -- refusals: clear errors, nothing changed --------------------------------------------------------
def sec1(spec: str) -> bytes:
    if spec == "EH_SM2":
        return openssl("genpkey", "-algorithm", "SM2", "-outform", "DER")  # OpenSSL 3.0 writes SEC 1 here
    return ec.generate_private_key(EC_CURVES[spec]).private_bytes(
        serialization.Encoding.DER, serialization.PrivateFormat.TraditionalOpenSSL, serialization.NoEncryption()
    )


def length_error(spec: str, rule: str) -> str:
    return f"Parameter invalid, The key_material length error: {spec} key material must be {rule}."


def form_error(spec: str, rule: str) -> str:
    return f"Parameter invalid, The key_material format wrong: {spec} key material must be {rule}."


P256_RULE = "an unencrypted PKCS#8 DER EC private key on curve secp256r1"
BAD_MATERIAL = [
    ("EH_AES_GCM_256", lambda: os.urandom(31), length_error("EH_AES_GCM_256", "32 bytes")),
    ("EH_AES_GCM_256", lambda: os.urandom(16), length_error("EH_AES_GCM_256", "32 bytes")),
    ("EH_AES_GCM_128", lambda: os.urandom(32), length_error("EH_AES_GCM_128", "16 bytes")),
    ("EH_AES_GCM_192", lambda: os.urandom(25), length_error("EH_AES_GCM_192", "24 bytes")),
    ("EH_SM4_CBC", lambda: os.urandom(15), length_error("EH_SM4_CBC", "16 bytes")),
    ("EH_SM4_CTR", lambda: os.urandom(17), length_error("EH_SM4_CTR", "16 bytes")),
    ("EH_HMAC", lambda: os.urandom(13), length_error("EH_HMAC", "14 to 128 bytes")),
    ("EH_HMAC", lambda: os.urandom(129), length_error("EH_HMAC", "14 to 128 bytes")),
    ("EH_EC_P256", lambda: sec1("EH_EC_P256"), form_error("EH_EC_P256", P256_RULE)),
    ("EH_EC_P256", lambda: material("EH_EC_P384"), form_error("EH_EC_P256", P256_RULE)),
    ("EH_EC_P256", lambda: material("EH_EC_P256") + b"\x00", form_error("EH_EC_P256", P256_RULE)),
    ("EH_EC_P256", lambda: material("EH_SM2"), form_error("EH_EC_P256", P256_RULE)),
    ("EH_EC_P256", lambda: os.urandom(138), form_error("EH_EC_P256", P256_RULE)),
    ("EH_SM2", lambda: material("EH_EC_P256"), form_error("EH_SM2", "an unencrypted PKCS#8 DER SM2 private key")),
    ("EH_SM2", lambda: sec1("EH_SM2"), form_error("EH_SM2", "an unencrypted PKCS#8 DER SM2 private key")),
    (
        "EH_RSA_2048",
        lambda: material("EH_RSA_3072"),
        form_error("EH_RSA_2048", "an unencrypted PKCS#8 DER RSA-2048 private key"),
    ),
    (
        "EH_RSA_3072",
        lambda: material("EH_EC_P256"),
        form_error("EH_RSA_3072", "an unencrypted PKCS#8 DER RSA-3072 private key"),
    ),
]


@pytest.mark.parametrize(
    ("target", "make", "message"), BAD_MATERIAL, ids=[f"{b[0]}-{i}" for i, b in enumerate(BAD_MATERIAL)]
)
def test_material_of_the_wrong_length_or_form_is_refused(app: Client, target: str, make: Any, message: str) -> None:
    keyid = app.create_key(target, EXTERNAL)
    params = app.get_parameters_for_import(keyid, "EH_SM2")
    bad = import_payload(keyid, wrap(params.pubkey, make(), SM2), params.import_token, None)
    expect_error(app, "ImportKeyMaterial", bad, message)
    assert state(app, keyid) == ("PendingImport", 0)
    with pytest.raises(EhsmApiError, match="not been imported"):
        app.sign(keyid, MSG, keyspec(target).default_digest)
    # The same parameters still take the right material.
    good = import_payload(keyid, wrap(params.pubkey, material(target), SM2), params.import_token, None)
    assert app.call("ImportKeyMaterial", good) == {"result": True}
    check_behaves_like(app, keyid, target, material(target))


def test_material_that_does_not_decrypt_is_refused(app: Client) -> None:
    keyid = app.create_key("EH_AES_GCM_128", EXTERNAL)
    params = app.get_parameters_for_import(keyid, "EH_RSA_2048")
    oaep = wrap(params.pubkey, material("EH_AES_GCM_128"), "EH_RSA_PKCS1_OAEP")
    kw = wrap(params.pubkey, material("EH_AES_GCM_128"), "EH_RSA_AES_KEY_WRAP")
    stranger = rsa.generate_private_key(public_exponent=65537, key_size=2048).public_key()
    for wrapped, pad in (
        (oaep[:-1] + bytes([oaep[-1] ^ 1]), "EH_RSA_PKCS1_OAEP"),  # modified in transit
        (stranger.encrypt(material("EH_AES_GCM_128"), OAEP), "EH_RSA_PKCS1_OAEP"),  # another public key
        (kw[:-1] + bytes([kw[-1] ^ 1]), "EH_RSA_AES_KEY_WRAP"),  # the AES-KWP part modified
        (oaep, "EH_RSA_AES_KEY_WRAP"),  # the wrong scheme for this ciphertext
    ):
        expect_error(app, "ImportKeyMaterial", import_payload(keyid, wrapped, params.import_token, pad), UNWRAP_FAILED)
    assert state(app, keyid) == ("PendingImport", 0)
    assert app.call("ImportKeyMaterial", import_payload(keyid, oaep, params.import_token, "EH_RSA_PKCS1_OAEP"))
    check_symmetric(app, keyid, "EH_AES_GCM_128", material("EH_AES_GCM_128"))


def test_pkcs1_material_for_another_key_is_refused_by_the_form_check(app: Client) -> None:
    """PKCS#1 v1.5 decryption uses implicit rejection: a ciphertext for another key 'decrypts' to random
    bytes instead of failing. For key pairs the strict PKCS#8 check refuses them (docs/byok.md: use OAEP)."""
    keyid = app.create_key("EH_EC_P256", EXTERNAL)
    params = app.get_parameters_for_import(keyid, "EH_RSA_2048")
    stranger = rsa.generate_private_key(public_exponent=65537, key_size=2048).public_key()
    ours = serialization.load_pem_public_key(params.pubkey.encode())
    assert isinstance(ours, rsa.RSAPublicKey)
    wrapped = stranger.encrypt(material("EH_EC_P256"), padding.PKCS1v15())
    while int.from_bytes(wrapped, "big") >= ours.public_numbers().n:  # (out of range: a plain decrypt error)
        wrapped = stranger.encrypt(material("EH_EC_P256"), padding.PKCS1v15())
    expect_error(
        app,
        "ImportKeyMaterial",
        import_payload(keyid, wrapped, params.import_token, "EH_RSA_PKCS1"),
        form_error("EH_EC_P256", P256_RULE),
    )
    assert state(app, keyid) == ("PendingImport", 0)


def test_failed_imports_are_limited_per_token(app: Client, byok_server: ServerProcess) -> None:
    """Five failed unwraps or checks delete the parameters: the wrapping key is no decryption oracle."""
    keyid = app.create_key("EH_HMAC", EXTERNAL)
    params = app.get_parameters_for_import(keyid, "EH_RSA_2048")
    bad = import_payload(
        keyid, wrap(params.pubkey, os.urandom(8), "EH_RSA_PKCS1_OAEP"), params.import_token, "EH_RSA_PKCS1_OAEP"
    )
    garbled = import_payload(keyid, os.urandom(256), params.import_token, "EH_RSA_PKCS1_OAEP")
    for body, message in [(bad, length_error("EH_HMAC", "14 to 128 bytes")), (garbled, UNWRAP_FAILED)] * 2 + [
        (bad, length_error("EH_HMAC", "14 to 128 bytes"))
    ]:
        assert import_rows(byok_server, keyid) == 1
        expect_error(app, "ImportKeyMaterial", {**body}, message)
    assert import_rows(byok_server, keyid) == 0
    good = import_payload(
        keyid, wrap(params.pubkey, material("EH_HMAC"), "EH_RSA_PKCS1_OAEP"), params.import_token, "EH_RSA_PKCS1_OAEP"
    )
    expect_error(app, "ImportKeyMaterial", good, TOKEN_GONE)
    assert state(app, keyid) == ("PendingImport", 0)
    do_import(app, keyid, "EH_RSA_2048", material("EH_HMAC"), "EH_RSA_PKCS1_OAEP")  # new parameters work
    check_hmac(app, keyid, material("EH_HMAC"))


# -- the token ----------------------------------------------------------------------------------------
def test_tampering_with_any_part_of_the_token_is_refused(app: Client, byok_server: ServerProcess) -> None:
    keyid = app.create_key("EH_AES_GCM_192", EXTERNAL)
    params = app.get_parameters_for_import(keyid, "EH_RSA_2048")
    wrapped = wrap(params.pubkey, material("EH_AES_GCM_192"), "EH_RSA_PKCS1_OAEP")
    token = params.import_token
    alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"
    for i, ch in enumerate(token[:-1]):  # every character, so every byte region (id, expiry, key hash, tag)
        other = alphabet[(alphabet.index(ch) + 1 + i % 63) % 64]
        forged = token[:i] + other + token[i + 1 :]
        expect_error(
            app, "ImportKeyMaterial", import_payload(keyid, wrapped, forged, "EH_RSA_PKCS1_OAEP"), TOKEN_INVALID
        )
    for forged in (token[:-2] + "=", token + "A", token.upper(), base64.b64encode(b"{}").decode(), "x"):
        expect_error(
            app, "ImportKeyMaterial", import_payload(keyid, wrapped, forged, "EH_RSA_PKCS1_OAEP"), TOKEN_INVALID
        )
    expect_error(
        app, "ImportKeyMaterial", import_payload(keyid, wrapped, "A" * 513, "EH_RSA_PKCS1_OAEP"),
        "Parameter invalid, The importToken length error.",
    )  # fmt: skip
    # Token failures are not import failures: none of this used up the parameters.
    assert import_rows(byok_server, keyid) == 1
    assert state(app, keyid) == ("PendingImport", 0)
    assert app.call("ImportKeyMaterial", import_payload(keyid, wrapped, token, "EH_RSA_PKCS1_OAEP")) == {"result": True}


def test_the_token_is_standard_base64_and_the_earlier_url_safe_form_is_accepted(app: Client) -> None:
    """Intel's Rust SDK checks that the importToken is standard base64 (padding included) before sending it
    back; tokens issued in the earlier URL-safe unpadded form still import."""
    for target in ("EH_AES_GCM_256", "EH_SM4_CBC"):
        keyid = app.create_key(target, EXTERNAL)
        params = app.get_parameters_for_import(keyid, "EH_RSA_3072")
        token = params.import_token
        assert len(token) % 4 == 0 and re.fullmatch(r"[A-Za-z0-9+/]+={0,2}", token), token
        assert base64.b64encode(base64.b64decode(token, validate=True)).decode() == token
        if target == "EH_SM4_CBC":  # the earlier form of the same token
            token = base64.urlsafe_b64encode(base64.b64decode(token)).rstrip(b"=").decode()
        wrapped = wrap(params.pubkey, material(target), "EH_RSA_PKCS1_OAEP")
        assert app.call("ImportKeyMaterial", import_payload(keyid, wrapped, token, "EH_RSA_PKCS1_OAEP")) == {
            "result": True
        }


def test_a_token_is_bound_to_its_key_and_app(app: Client, other_app: Client) -> None:
    mine, second = app.create_key("EH_AES_GCM_256", EXTERNAL), app.create_key("EH_AES_GCM_256", EXTERNAL)
    params = app.get_parameters_for_import(mine, "EH_RSA_2048")
    wrapped = wrap(params.pubkey, material("EH_AES_GCM_256"), "EH_RSA_PKCS1_OAEP")
    app.get_parameters_for_import(second, "EH_RSA_2048")
    # Another key of the same app, with this key's token (and a ciphertext for this key's public key).
    expect_error(
        app,
        "ImportKeyMaterial",
        import_payload(second, wrapped, params.import_token, "EH_RSA_PKCS1_OAEP"),
        TOKEN_INVALID,
    )
    # Another app: the key is unknown to it, whatever it sends.
    theirs = other_app.create_key("EH_AES_GCM_256", EXTERNAL)
    other_app.get_parameters_for_import(theirs, "EH_RSA_2048")
    expect_error(
        other_app,
        "ImportKeyMaterial",
        import_payload(mine, wrapped, params.import_token, "EH_RSA_PKCS1_OAEP"),
        "keyid error",
    )
    expect_error(other_app, "GetParametersForImport", {"keyid": mine, "keyspec": "EH_RSA_2048"}, "keyid error")
    expect_error(
        other_app,
        "ImportKeyMaterial",
        import_payload(theirs, wrapped, params.import_token, "EH_RSA_PKCS1_OAEP"),
        TOKEN_INVALID,
    )
    assert state(app, mine) == state(app, second) == state(other_app, theirs) == ("PendingImport", 0)
    assert app.call("ImportKeyMaterial", import_payload(mine, wrapped, params.import_token, "EH_RSA_PKCS1_OAEP"))


def test_new_parameters_replace_the_old_ones(app: Client, byok_server: ServerProcess) -> None:
    keyid = app.create_key("EH_SM4_CTR", EXTERNAL)
    old = app.get_parameters_for_import(keyid, "EH_RSA_2048")
    new = app.get_parameters_for_import(keyid, "EH_SM2")
    assert old.pubkey != new.pubkey and old.import_token != new.import_token
    assert import_rows(byok_server, keyid) == 1
    data = material("EH_SM4_CTR")
    old_wrapped = wrap(old.pubkey, data, "EH_RSA_PKCS1_OAEP")
    expect_error(
        app,
        "ImportKeyMaterial",
        import_payload(keyid, old_wrapped, old.import_token, "EH_RSA_PKCS1_OAEP"),
        TOKEN_REPLACED,
    )
    # The material wrapped for the old public key does not open under the new parameters either.
    expect_error(app, "ImportKeyMaterial", import_payload(keyid, old_wrapped, new.import_token, None), UNWRAP_FAILED)
    assert app.call("ImportKeyMaterial", import_payload(keyid, wrap(new.pubkey, data, SM2), new.import_token, None))
    check_symmetric(app, keyid, "EH_SM4_CTR", data)


def test_the_reference_spelling_importtoken_is_accepted(app: Client) -> None:
    keyid = app.create_key("EH_AES_GCM_128", EXTERNAL)
    params = app.get_parameters_for_import(keyid, "EH_RSA_2048")
    body = import_payload(
        keyid,
        wrap(params.pubkey, material("EH_AES_GCM_128"), "EH_RSA_PKCS1_OAEP"),
        params.import_token,
        "EH_RSA_PKCS1_OAEP",
    )
    body["ImportToken"] = body.pop("importToken")
    assert app.call("ImportKeyMaterial", body) == {"result": True}


# -- request errors ---------------------------------------------------------------------------------
def test_keys_that_take_no_import(app: Client) -> None:
    internal = app.create_key("EH_AES_GCM_256")
    expect_error(app, "GetParametersForImport", {"keyid": internal, "keyspec": "EH_RSA_2048"}, NOT_EXTERNAL)
    pending = app.create_key("EH_AES_GCM_256", EXTERNAL)
    params = app.get_parameters_for_import(pending, "EH_RSA_2048")
    wrapped = wrap(params.pubkey, material("EH_AES_GCM_256"), "EH_RSA_PKCS1_OAEP")
    expect_error(
        app,
        "ImportKeyMaterial",
        import_payload(internal, wrapped, params.import_token, "EH_RSA_PKCS1_OAEP"),
        NOT_EXTERNAL,
    )
    assert app.call("ImportKeyMaterial", import_payload(pending, wrapped, params.import_token, "EH_RSA_PKCS1_OAEP"))
    expect_error(app, "GetParametersForImport", {"keyid": pending, "keyspec": "EH_RSA_2048"}, ALREADY_IMPORTED)
    app.disable_key(pending)
    expect_error(app, "GetParametersForImport", {"keyid": pending, "keyspec": "EH_SM2"}, ALREADY_IMPORTED)
    unknown = str(uuid.uuid4())
    expect_error(app, "GetParametersForImport", {"keyid": unknown, "keyspec": "EH_RSA_2048"}, "keyid error")
    expect_error(
        app,
        "ImportKeyMaterial",
        import_payload(unknown, wrapped, params.import_token, "EH_RSA_PKCS1_OAEP"),
        "keyid error",
    )
    # A deleted key takes its import parameters with it.
    gone = app.create_key("EH_AES_GCM_256", EXTERNAL)
    gone_params = app.get_parameters_for_import(gone, "EH_SM2")
    app.delete_key(gone)
    expect_error(app, "ImportKeyMaterial", import_payload(gone, wrapped, gone_params.import_token, None), "keyid error")


def test_payload_validation(app: Client) -> None:
    keyid = app.create_key("EH_AES_GCM_256", EXTERNAL)
    params = app.get_parameters_for_import(keyid, "EH_RSA_2048")
    wrapped = wrap(params.pubkey, material("EH_AES_GCM_256"), "EH_RSA_PKCS1_OAEP")
    good = import_payload(keyid, wrapped, params.import_token, "EH_RSA_PKCS1_OAEP")
    missing, invalid = "Missing required parameters, The", "Parameter invalid, The"
    get = "GetParametersForImport"
    imp = "ImportKeyMaterial"
    cases: list[tuple[str, dict[str, Any], str]] = [
        (get, {"keyid": keyid}, f"{missing} keyspec cannot be empty."),
        (get, {"keyid": keyid, "keyspec": "EH_EC_P256"}, f"{invalid} keyspec type is incorrect."),
        (get, {"keyid": keyid, "keyspec": "EH_AES_GCM_256"}, f"{invalid} keyspec type is incorrect."),
        (get, {"keyspec": "EH_RSA_2048"}, f"{missing} keyid cannot be empty."),
        (imp, without(good, "padding_mode"), f"{missing} padding_mode cannot be empty."),
        (
            imp,
            {**good, "padding_mode": "EH_RSA_PKCS1_PSS"},
            f"{invalid} padding_mode EH_RSA_PKCS1_PSS cannot be used to import key material under an RSA wrapping "
            "key (use EH_RSA_PKCS1, EH_RSA_PKCS1_OAEP, EH_RSA_AES_KEY_WRAP, EH_RSA_PKCS1_OAEP_SHA1, "
            "EH_RSA_AES_KEY_WRAP_SHA1).",
        ),
        (imp, {**good, "padding_mode": "EH_RSA_OAEP"}, f"{invalid} padding_mode type is incorrect."),
        (imp, without(good, "importToken"), f"{missing} importToken cannot be empty."),
        (
            imp,
            {**good, "ImportToken": params.import_token[::-1]},
            f"{invalid} importToken was given twice with different values (send one of importToken, ImportToken).",
        ),
        (imp, {**good, "importToken": ""}, f"{missing} importToken cannot be empty."),
        (imp, {**good, "key_material": "not base64!"}, f"{invalid} key_material not a valid base64 string."),
        (imp, without(good, "key_material"), f"{missing} key_material cannot be empty."),
        (imp, {**good, "key_material": b64(os.urandom(8193))}, f"{invalid} key_material length error."),
    ]
    for action, body, message in cases:
        expect_error(app, action, body, message)
    assert state(app, keyid) == ("PendingImport", 0)
    assert app.call("ImportKeyMaterial", {**good, "ImportToken": params.import_token}) == {"result": True}


def test_two_imports_at_once_one_wins(byok_server: ServerProcess, app: Client) -> None:
    keyid = app.create_key("EH_AES_GCM_256", EXTERNAL)
    params = app.get_parameters_for_import(keyid, "EH_RSA_2048")
    candidates = [os.urandom(32) for _ in range(4)]
    bodies = [
        import_payload(keyid, wrap(params.pubkey, m, "EH_RSA_PKCS1_OAEP"), params.import_token, "EH_RSA_PKCS1_OAEP")
        for m in candidates
    ]
    answers: list[tuple[int, str]] = [(0, "")] * len(bodies)
    barrier = threading.Barrier(len(bodies))

    def send(i: int) -> None:
        with Client(byok_server.base, app.appid, app.apikey, clock=DistinctMsClock()) as c:
            barrier.wait()
            resp = c.request("ImportKeyMaterial", bodies[i])
            answers[i] = (resp.code, resp.message)

    threads = [threading.Thread(target=send, args=(i,)) for i in range(len(bodies))]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    winners = [i for i, (code, _) in enumerate(answers) if code == 200]
    assert len(winners) == 1
    assert all(answers[i] == (400, ALREADY_IMPORTED) for i in range(len(bodies)) if i not in winners)
    check_symmetric(app, keyid, "EH_AES_GCM_256", candidates[winners[0]])


# -- expiry and the sweep (ManualClock; nothing sleeps) -------------------------------------------------
def sweep_now(srv: InProcessServer) -> int:
    """One sweep pass on the server's own event loop (the background task does the same periodically)."""
    runtime = srv.runtime
    task = next(t for t in runtime.tasks if t.get_name() == "pyehsm-import-sweep")
    assert not task.done()  # the periodic sweep runs on this node
    return int(asyncio.run_coroutine_threadsafe(runtime.services.byok.purge_once(), task.get_loop()).result(30))


def manual_rows(srv: InProcessServer, keyid: str) -> int:
    db = sqlite3.connect(f"file:{srv.settings.sqlite_path}?mode=ro", uri=True)
    try:
        return int(db.execute("SELECT COUNT(*) FROM import_tokens WHERE keyid = ?", (keyid,)).fetchone()[0])
    finally:
        db.close()


def test_tokens_expire_after_24_hours_and_are_swept(
    manual_server: InProcessServer, manual_client: Client, clock: ManualClock
) -> None:
    app = manual_client
    early, late = app.create_key("EH_AES_GCM_128", EXTERNAL), app.create_key("EH_HMAC", EXTERNAL)
    early_params = app.get_parameters_for_import(early, "EH_SM2")
    late_params = app.get_parameters_for_import(late, "EH_RSA_2048")
    assert sweep_now(manual_server) == 0

    clock.advance(ms=DAY_MS - 1)  # the last millisecond of validity
    assert sweep_now(manual_server) == 0
    do_body = import_payload(
        early, wrap(early_params.pubkey, material("EH_AES_GCM_128"), SM2), early_params.import_token, None
    )
    assert app.call("ImportKeyMaterial", do_body) == {"result": True}
    assert manual_rows(manual_server, early) == 0

    clock.advance(ms=1)  # 24 hours
    late_body = import_payload(
        late,
        wrap(late_params.pubkey, material("EH_HMAC"), "EH_RSA_PKCS1_OAEP"),
        late_params.import_token,
        "EH_RSA_PKCS1_OAEP",
    )
    expect_error(app, "ImportKeyMaterial", late_body, TOKEN_EXPIRED)
    assert state(app, late) == ("PendingImport", 0)
    assert manual_rows(manual_server, late) == 1
    assert sweep_now(manual_server) == 1  # the wrapping key pair of the expired token is deleted
    assert manual_rows(manual_server, late) == 0
    assert sweep_now(manual_server) == 0
    clock.advance(ms=1)  # (a request identical to one already sent in the same millisecond would be a replay)
    expect_error(app, "ImportKeyMaterial", late_body, TOKEN_EXPIRED)  # still recognised as expired, not as forged

    fresh = app.get_parameters_for_import(late, "EH_RSA_2048")
    clock.advance(ms=DAY_MS - 2)
    body = import_payload(
        late, wrap(fresh.pubkey, material("EH_HMAC"), "EH_RSA_PKCS1_OAEP"), fresh.import_token, "EH_RSA_PKCS1_OAEP"
    )
    assert app.call("ImportKeyMaterial", body) == {"result": True}
    assert state(app, late) == ("Enabled", 1)
    check_hmac(app, late, material("EH_HMAC"))
    check_symmetric(app, early, "EH_AES_GCM_128", material("EH_AES_GCM_128"))
