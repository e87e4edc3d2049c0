"""Key material hygiene: a full session leaves no key material or apikey in logs, audit, responses, files or reprs.

The server runs in this process (real HTTP) so the test can read every key's plaintext material through
the store and the root key afterwards, then search everything the session produced for it.
"""

from __future__ import annotations

import asyncio
import base64
import io
import logging
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives.asymmetric import ec, rsa, x25519
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat, load_der_private_key

from pyehsm.app import Runtime
from pyehsm.client import Client
from pyehsm.config import Settings
from pyehsm.crypto.keyspecs import KEYSPECS
from pyehsm.keyring.domain import dk_aad, dk_meta_name, open_keyring
from pyehsm.keyring.keyring import MaterialRef, secrets_key_aad
from pyehsm.keyring.root import FileRootKey
from pyehsm.store.sqlite import SqliteStore
from tests.support.server import InProcessServer

ASYMMETRIC = ("EH_EC_P256", "EH_SM2", "EH_RSA_2048")
LOGGERS = ("pyehsm", "uvicorn", "uvicorn.error", "uvicorn.access", "starlette", "asyncio")


def forms(secret: bytes) -> set[bytes]:
    """Ways a secret could be written: raw, hex, base64 variants, and a base64 run from its middle."""
    found = {secret, secret.hex().encode(), secret.hex().upper().encode()}
    for piece in (secret, secret[3 : 3 + 3 * ((len(secret) - 6) // 3)] if len(secret) >= 12 else secret):
        found |= {base64.b64encode(piece), base64.urlsafe_b64encode(piece).rstrip(b"=")}
    return found


def private_numbers(der: bytes) -> list[bytes]:
    """The secret integers inside a PKCS#8 key (an EC scalar, RSA d/p/q), as big-endian bytes."""
    try:
        key = load_der_private_key(der, None)
    except (ValueError, TypeError, UnsupportedAlgorithm):  # SM2 PKCS#8: the DER itself is searched
        return []
    if isinstance(key, ec.EllipticCurvePrivateKey):
        scalar = key.private_numbers().private_value
        return [scalar.to_bytes((scalar.bit_length() + 7) // 8, "big")]
    if isinstance(key, rsa.RSAPrivateKey):
        numbers = key.private_numbers()
        return [n.to_bytes((n.bit_length() + 7) // 8, "big") for n in (numbers.d, numbers.p, numbers.q)]
    raw = getattr(key, "private_bytes_raw", None)  # ML-DSA / ML-KEM seeds, Ed25519 / X25519 private keys
    return [raw()] if raw is not None else []


def normalised(blob: bytes) -> list[bytes]:
    """The blob, and the blob without line breaks (PEM, JSON-escaped newlines)."""
    return [blob, blob.replace(b"\\n", b"").replace(b"\n", b"").replace(b"\r", b"")]


class Recorder:
    """Every HTTP response body the client saw, by action."""

    def __init__(self) -> None:
        self.bodies: list[tuple[str, bytes]] = []

    def hook(self, response: httpx.Response) -> None:
        response.read()
        self.bodies.append((response.request.url.params.get("Action", ""), response.content))


@pytest.fixture
def log_capture() -> Iterator[io.StringIO]:
    """Everything the server side logs at any level while the test runs (the server log; its errors also
    reach the root logger, captured here too at WARNING and above)."""
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(logging.Formatter("%(levelname)s %(name)s %(message)s"))
    saved = [(logging.getLogger(n), logging.getLogger(n).level) for n in LOGGERS]
    for logger, _ in saved:
        logger.setLevel(logging.DEBUG)
    root = logging.getLogger()
    handler.setLevel(logging.DEBUG)
    root.addHandler(handler)
    unpropagated = [logging.getLogger(n) for n in LOGGERS if not logging.getLogger(n).propagate]
    for logger in unpropagated:
        logger.addHandler(handler)
    try:
        yield stream
    finally:
        root.removeHandler(handler)
        for logger in unpropagated:
            logger.removeHandler(handler)
        for logger, level in saved:
            logger.setLevel(level)


def session(base: str, recorder: Recorder) -> tuple[str, str]:
    """Every kind of key, the operations each supports, and a spread of errors. Returns (appid, apikey)."""
    http = httpx.Client(timeout=60, event_hooks={"response": [recorder.hook]})
    with Client.enroll(base, http=http) as c:
        symmetric = [name for name, spec in KEYSPECS.items() if spec.symmetric]
        rsa_enc = c.create_key("EH_RSA_2048", keyusage="EH_KEYUSAGE_ENCRYPT_DECRYPT")
        keys = {name: c.create_key(name) for name in symmetric}
        keys |= {name: c.create_key(name, keyusage="EH_KEYUSAGE_SIGN_VERIFY") for name in ASYMMETRIC}
        for name in symmetric:
            if name == "EH_HMAC":
                c.request("Sign", {"keyid": keys[name], "message": base64.b64encode(b"mac me").decode()})
                continue
            ct = c.encrypt(keys[name], b"plaintext", aad=b"ctx")
            assert c.decrypt(keys[name], ct, aad=b"ctx") == b"plaintext"
            data_key = c.generate_data_key(keys[name], 32, aad=b"dk")
            assert c.decrypt(keys[name], data_key.ciphertext, aad=b"dk") == data_key.plaintext
            wrapped = c.generate_data_key_without_plaintext(keys[name], 16)
            c.export_data_key(keys[name], rsa_enc, wrapped, padding_mode="EH_RSA_PKCS1_OAEP")
            # errors: wrong aad, tampered ciphertext, too much data
            assert c.request("Decrypt", {"keyid": keys[name], "ciphertext": base64.b64encode(ct).decode()}).code != 200
            tampered = ct[:-1] + bytes([ct[-1] ^ 1])
            payload = {"keyid": keys[name], "ciphertext": base64.b64encode(tampered).decode(), "aad": "Y3R4"}
            assert c.request("Decrypt", payload).code != 200
            big = base64.b64encode(b"x" * 7000).decode()
            assert c.request("Encrypt", {"keyid": keys[name], "plaintext": big}).code != 200
        for name in ASYMMETRIC:
            digest = "EH_SM3" if name == "EH_SM2" else "EH_SHA_256"
            signature = c.sign(keys[name], b"message", digest)
            assert c.verify(keys[name], b"message", signature, digest) is True
            assert c.verify(keys[name], b"other", signature, digest) is False
            c.get_public_key(keys[name])
        # post-quantum and modern keys: ML-DSA, Ed25519, ML-KEM, X25519
        modern = {name: c.create_key(name) for name in ("EH_ML_DSA_65", "EH_ED25519", "EH_ML_KEM_768", "EH_X25519")}
        for name in ("EH_ML_DSA_65", "EH_ED25519"):
            signature = c.sign(modern[name], b"message", None)
            assert c.verify(modern[name], b"message", signature, None) is True
            c.get_public_key(modern[name])
        shared, kem_ciphertext = c.encapsulate(modern["EH_ML_KEM_768"])
        assert c.decapsulate(modern["EH_ML_KEM_768"], kem_ciphertext) == shared
        assert c.request("Decapsulate", {"keyid": modern["EH_ML_KEM_768"], "ciphertext": "AAAA"}).code != 200
        peer = x25519.X25519PrivateKey.generate().public_key()
        c.derive_shared_secret(modern["EH_X25519"], peer.public_bytes(Encoding.DER, PublicFormat.SubjectPublicKeyInfo))
        enc = c.create_key("EH_SM2", keyusage="EH_KEYUSAGE_ENCRYPT_DECRYPT")
        assert c.asymmetric_decrypt(enc, c.asymmetric_encrypt(enc, b"to sm2")) == b"to sm2"
        ct = c.asymmetric_encrypt(rsa_enc, b"to rsa", "EH_RSA_PKCS1_OAEP")
        assert c.asymmetric_decrypt(rsa_enc, ct, "EH_RSA_PKCS1_OAEP") == b"to rsa"
        garbage = base64.b64encode(b"\x00" * 256).decode()
        assert c.request("AsymmetricDecrypt", {"keyid": rsa_enc, "ciphertext": garbage}).code != 200
        c.create_secret("hygiene-secret", "a secret value")
        assert c.get_secret_value("hygiene-secret").secret_data == "a secret value"

        # more errors: unknown key, wrong key kind, disabled and deleted keys, bad signature, bad JSON
        plain = base64.b64encode(b"p").decode()
        assert c.request("Encrypt", {"keyid": "no-such-key", "plaintext": plain}).code != 200
        assert c.request("Encrypt", {"keyid": keys["EH_EC_P256"], "plaintext": plain}).code != 200
        c.disable_key(keys["EH_AES_GCM_128"])
        assert c.request("Encrypt", {"keyid": keys["EH_AES_GCM_128"], "plaintext": plain}).code != 200
        c.delete_key(keys["EH_SM4_CTR"])
        assert c.request("Encrypt", {"keyid": keys["EH_SM4_CTR"], "plaintext": plain}).code != 200
        body = c.envelope({"keyid": keys["EH_AES_GCM_256"], "plaintext": plain})
        body["sign"] = base64.b64encode(b"\x00" * 32).decode()
        assert c.post_raw("Encrypt", body).code != 200
        assert c.post_raw("Encrypt", b"{not json").code != 200
        assert c.post_raw("Encrypt", b'{"appid": "' + c.appid.encode() + b'", "payload": 5}').code != 200
        return c.appid, c.apikey


async def secrets_of(data: Path) -> list[bytes]:
    """Every plaintext secret of the store: CMK materials, secrets keys, domain keys, the root key."""
    store = SqliteStore(data / "pyehsm.db")
    await store.open()
    root = FileRootKey(data / "root.key")
    try:
        keyring = await open_keyring(store, root)
        found = [(data / "root.key").read_bytes()]
        for dk_id in keyring.domain_key_ids():
            wrapped = await store.get_meta(dk_meta_name(dk_id))
            assert wrapped is not None
            found.append(root.unwrap(wrapped, dk_aad(dk_id)))
        rows = store.conn.execute(
            "SELECT k.appid, k.keyid, v.version, k.keyspec, v.wrapped_material FROM key_versions v "
            "JOIN keys k ON k.keyid = v.keyid WHERE v.wrapped_material IS NOT NULL"
        ).fetchall()
        for appid, keyid, version, keyspec, wrapped in rows:
            material = keyring.unwrap_material(MaterialRef(appid, keyid, version, keyspec), bytes(wrapped))
            found += [material, *private_numbers(material)]
        for appid, keyid, wrapped in store.conn.execute("SELECT appid, keyid, wrapped_material FROM secret_keys"):
            found.append(keyring.unwrap(bytes(wrapped), secrets_key_aad(appid, keyid)))
        return found
    finally:
        await store.close()


def test_a_full_session_leaks_no_key_material_or_apikey(
    tmp_path: Path, log_capture: io.StringIO, capfd: pytest.CaptureFixture[str]
) -> None:
    data = tmp_path / "data"
    audit = tmp_path / "audit.log"
    settings = Settings(
        data_dir=data,
        audit_log=str(audit),
        key_cache_entries=4,
        pool_depth={"EH_EC_P256": 1, "EH_SM2": 1, "EH_RSA_2048": 1},
    )
    recorder = Recorder()
    server = InProcessServer(settings).start()
    try:
        appid, apikey = session(server.base, recorder)
        runtime: Runtime = server.runtime
        cached = list(runtime.keyring.cache._items.values())
        objects = (runtime, runtime.keyring, runtime.keyring.cache, runtime.root, runtime.store, runtime.services)
        reprs = [repr(x) for x in (*objects, runtime.pool, runtime.rotation, *runtime.doors.values(), *cached)]
    finally:
        server.stop()
    assert cached, "the session left primitives in the cache"

    secrets = asyncio.run(secrets_of(data))
    assert len(secrets) > len(KEYSPECS)  # root key, DK, every key's material and private numbers, secrets key
    outputs = capfd.readouterr()
    errors = [body for action, body in recorder.bodies if b'"code":200' not in body.replace(b" ", b"")]
    assert len(errors) >= 20
    others = [body for action, body in recorder.bodies if action != "Enroll"]
    targets: dict[str, bytes] = {
        "server log": log_capture.getvalue().encode(),
        "stdout/stderr": (outputs.out + outputs.err).encode(),
        "audit log": audit.read_bytes(),
        "reprs": "\n".join(reprs).encode(),
        **{f"response {i}": body for i, body in enumerate(others)},
        **{f"file {p.name}": p.read_bytes() for p in data.iterdir() if p.is_file() and p.name != "root.key"},
    }
    assert targets["audit log"].count(b"\n") >= 50 and appid.encode() in targets["audit log"]
    assert b"internal error" not in targets["server log"].lower()

    needles = {form for secret in secrets for form in forms(secret)} | forms(apikey.encode())
    for name, blob in targets.items():
        for variant in normalised(blob):
            leaked = sum(needle in variant for needle in needles)  # a count only: never print a secret
            assert leaked == 0, f"{name} contains key material or the apikey ({leaked} forms)"
