"""ML-KEM-768/1024 keys end to end over HTTP: CreateKey (usage EH_KEYUSAGE_KEY_AGREEMENT), GetPublicKey (SPKI with
the FIPS 203 OIDs), Encapsulate and Decapsulate, BYOK of Wycheproof seeds, an ML-KEM key as the BYOK wrapping
key, and the refusals.

Independent oracle: `kyber-py` (a pure-Python FIPS 203 implementation) encapsulates to the encapsulation key
GetPublicKey returns, and Decapsulate must recover its shared secret.
"""

from __future__ import annotations

import base64
import json
import os
from collections.abc import Iterator
from typing import Any

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import mlkem
from kyber_py.ml_kem import ML_KEM_768, ML_KEM_1024

from pyehsm.cli.byok import wrap_for_import
from pyehsm.client import Client
from pyehsm.clock import SystemClock
from tests.e2e.test_cli import cli_env, run
from tests.support.server import ServerProcess
from tests.vectors import wycheproof_cases

SPECS = ("EH_ML_KEM_768", "EH_ML_KEM_1024")
ORACLES: dict[str, Any] = {"EH_ML_KEM_768": ML_KEM_768, "EH_ML_KEM_1024": ML_KEM_1024}
CIPHERTEXT_BYTES = {"EH_ML_KEM_768": 1088, "EH_ML_KEM_1024": 1568}
OIDS = {  # DER of id-alg-ml-kem-768 / -1024 (2.16.840.1.101.3.4.4.2 / .3)
    "EH_ML_KEM_768": bytes.fromhex("0609608648016503040402"),
    "EH_ML_KEM_1024": bytes.fromhex("0609608648016503040403"),
}
AGREE = "EH_KEYUSAGE_KEY_AGREEMENT"
EXTERNAL = "EH_EXTERNAL_KEY"


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
    return {spec: app.create_key(spec) for spec in SPECS}


def raw_public(app: Client, keyid: str) -> bytes:
    public: Any = serialization.load_pem_public_key(app.get_public_key(keyid).encode())
    raw: bytes = public.public_bytes_raw()
    return raw


def error(app: Client, action: str, body: dict[str, Any]) -> str:
    response = app.request(action, body)
    assert (response.code, response.result) == (400, {}), response
    return response.message


@pytest.mark.parametrize("spec", SPECS)
def test_created_with_key_agreement_usage_and_spki(app: Client, keys: dict[str, str], spec: str) -> None:
    info = next(k for k in app.list_key() if k.keyid == keys[spec])
    assert info.keyusage == AGREE
    pem = app.get_public_key(keys[spec])
    public = serialization.load_pem_public_key(pem.encode())
    assert isinstance(public, (mlkem.MLKEM768PublicKey, mlkem.MLKEM1024PublicKey))
    der = public.public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    assert OIDS[spec] in der[:24]


@pytest.mark.parametrize("spec", SPECS)
def test_kyber_py_encapsulates_and_decapsulate_recovers(app: Client, keys: dict[str, str], spec: str) -> None:
    ek = raw_public(app, keys[spec])
    for _ in range(3):
        secret, ciphertext = ORACLES[spec].encaps(ek)
        assert app.decapsulate(keys[spec], ciphertext) == secret


@pytest.mark.parametrize("spec", SPECS)
def test_encapsulate_then_decapsulate(app: Client, keys: dict[str, str], spec: str) -> None:
    secret, ciphertext = app.encapsulate(keys[spec])
    assert len(secret) == 32 and len(ciphertext) == CIPHERTEXT_BYTES[spec]
    assert app.decapsulate(keys[spec], ciphertext) == secret
    assert app.encapsulate(keys[spec]).shared_secret != secret  # fresh each time
    # implicit rejection: a modified ciphertext gives another secret, never an error
    flipped = bytes([ciphertext[0] ^ 1]) + ciphertext[1:]
    other = app.decapsulate(keys[spec], flipped)
    assert len(other) == 32 and other != secret
    assert app.decapsulate(keys[spec], flipped) == other  # deterministic rejection value


@pytest.mark.parametrize("spec", SPECS)
def test_decapsulate_refuses_a_wrong_length(app: Client, keys: dict[str, str], spec: str) -> None:
    size = CIPHERTEXT_BYTES[spec]
    parameter_set = spec.removeprefix("EH_").replace("_", "-").replace("ML-KEM-", "ML-KEM-")
    for wrong in (1, size - 1, size + 1):
        assert error(app, "Decapsulate", {"keyid": keys[spec], "ciphertext": b64(os.urandom(wrong))}) == (
            f"Parameter invalid, The ciphertext format wrong: an {parameter_set} ciphertext is {size} bytes."
        )
    assert error(app, "Decapsulate", {"keyid": keys[spec]}) == (
        "Missing required parameters, The ciphertext cannot be empty."
    )


def test_usage_and_keyspec_refusals(app: Client, keys: dict[str, str]) -> None:
    enc_only = app.create_key("EH_ML_KEM_768", keyusage="EH_KEYUSAGE_ENCRYPT_DECRYPT")
    assert app.get_public_key(enc_only).startswith("-----BEGIN PUBLIC KEY-----")  # GetPublicKey wants no usage
    assert error(app, "Encapsulate", {"keyid": enc_only}) == (
        "The keyusage EH_KEYUSAGE_ENCRYPT_DECRYPT of this key does not allow Encapsulate."
    )
    ec_key = app.create_key("EH_EC_P256")
    assert error(app, "Encapsulate", {"keyid": ec_key}) == "The keyspec EH_EC_P256 does not support Encapsulate."
    assert error(app, "Decapsulate", {"keyid": ec_key, "ciphertext": b64(bytes(1088))}) == (
        "The keyspec EH_EC_P256 does not support Encapsulate."
    )
    body = {"keyid": keys["EH_ML_KEM_768"], "message": b64(b"m"), "message_type": "EH_RAW"}
    assert error(app, "Sign", body) == "The keyspec EH_ML_KEM_768 does not support Sign."
    assert error(app, "Encapsulate", {"keyid": "no-such-key"}) == "keyid error"
    assert error(app, "CreateKey", {"keyspec": "EH_AES_GCM_256", "origin": "EH_INTERNAL_KEY", "keyusage": AGREE}) == (
        "Parameter invalid, The keyusage EH_KEYUSAGE_KEY_AGREEMENT is not supported for keyspec EH_AES_GCM_256 "
        "(use EH_KEYUSAGE_ENCRYPT_DECRYPT)."
    )


@pytest.mark.parametrize("spec", SPECS)
def test_seed_import_decapsulates_wycheproof_ciphertexts(app: Client, spec: str) -> None:
    """BYOK of vectors' 64-byte seeds (d || z): the encapsulation key is the vector's and Decapsulate answers K,
    for a valid, a random and a bit-flipped ciphertext (the implicit-rejection value)."""
    size = spec.removeprefix("EH_ML_KEM_")
    cases = [t for _, t in wycheproof_cases(f"mlkem_{size}_test") if t["result"] == "valid"]
    picked = [cases[1]] + [next(t for t in cases if t.get("comment", "").startswith(c)) for c in ("Random", "Bit")]
    for test in picked:
        keyid = app.create_key(spec, EXTERNAL, AGREE)
        params = app.get_parameters_for_import(keyid, "EH_RSA_2048")
        wrapped, padding = wrap_for_import(params.pubkey, bytes.fromhex(test["seed"]), "EH_RSA_2048")
        assert app.import_key_material(keyid, wrapped, params.import_token, padding)
        assert raw_public(app, keyid) == bytes.fromhex(test["ek"])
        assert app.decapsulate(keyid, bytes.fromhex(test["c"])) == bytes.fromhex(test["K"])


@pytest.mark.parametrize("wrapping", SPECS)
def test_an_ml_kem_key_wraps_byok_material(app: Client, wrapping: str) -> None:
    """GetParametersForImport with an ML-KEM wrapping keyspec: the CLI's wrap helper encapsulates, derives the KEK
    with HKDF-SHA256 and AES-KWP-wraps; the imported key then works."""
    keyid = app.create_key("EH_AES_GCM_256", EXTERNAL)
    params = app.get_parameters_for_import(keyid, wrapping)
    assert isinstance(
        serialization.load_pem_public_key(params.pubkey.encode()), (mlkem.MLKEM768PublicKey, mlkem.MLKEM1024PublicKey)
    )
    material = os.urandom(32)
    wrapped, padding = wrap_for_import(params.pubkey, material, wrapping)
    assert padding == "EH_ML_KEM_AES_KEY_WRAP"
    assert len(wrapped) == CIPHERTEXT_BYTES[wrapping] + 40
    assert app.import_key_material(keyid, wrapped, params.import_token, padding)
    assert app.decrypt(keyid, app.encrypt(keyid, b"byok")) == b"byok"
    # a damaged wrap is refused like any other
    other = app.create_key("EH_AES_GCM_256", EXTERNAL)
    params = app.get_parameters_for_import(other, wrapping)
    wrapped, padding = wrap_for_import(params.pubkey, material, wrapping)
    damaged = wrapped[:-1] + bytes([wrapped[-1] ^ 1])
    body = {"keyid": other, "key_material": b64(damaged), "importToken": params.import_token, "padding_mode": padding}
    assert error(app, "ImportKeyMaterial", body).startswith("Decrypt failed: the key_material was not encrypted")


def test_ml_kem_wrap_construction_is_as_documented(app: Client) -> None:
    """The client side done by hand from docs/byok.md: c || AES-KWP(HKDF-SHA256(ss, salt="", info), material)."""
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.kdf.hkdf import HKDF
    from cryptography.hazmat.primitives.keywrap import aes_key_wrap_with_padding

    keyid = app.create_key("EH_HMAC", EXTERNAL)
    params = app.get_parameters_for_import(keyid, "EH_ML_KEM_768")
    public: Any = serialization.load_pem_public_key(params.pubkey.encode())
    secret, ciphertext = ML_KEM_768.encaps(public.public_bytes_raw())  # kyber-py as the client's KEM
    kek = HKDF(hashes.SHA256(), 32, salt=b"", info=b"pyehsm BYOK ML-KEM AES-256-KWP v1").derive(secret)
    material = os.urandom(32)
    wrapped = ciphertext + aes_key_wrap_with_padding(kek, material)
    assert app.import_key_material(keyid, wrapped, params.import_token, "EH_ML_KEM_AES_KEY_WRAP")
    import hmac as std_hmac

    assert app.sign(keyid, b"m", "EH_SHA_256") == std_hmac.new(material, b"m", "sha256").digest()


def test_cli_encapsulate_and_decapsulate(client: Client) -> None:
    import json

    from click.testing import CliRunner

    from pyehsm.cli import main

    env = {
        "PYEHSM_URL": client.base_url,
        "PYEHSM_APPID": client.appid,
        "PYEHSM_APIKEY": client.apikey,
        "PYEHSM_CREDENTIALS_FILE": "/nonexistent/pyehsm-credentials",
        "PYEHSM_PROFILE": "",
    }
    keyid = client.create_key("EH_ML_KEM_768")
    runner = CliRunner()
    out = runner.invoke(main, ["encapsulate", "-k", keyid, "-o", "json"], env=env, catch_exceptions=False)
    assert out.exit_code == 0, out.output
    answer = json.loads(out.stdout)
    back = runner.invoke(main, ["decapsulate", "-k", keyid, answer["ciphertext"]], env=env, catch_exceptions=False)
    assert back.exit_code == 0, back.output
    assert back.stdout.strip() == answer["sharedSecret"]


def test_batch_decapsulate_answers_each_item_as_decapsulate(
    app: Client, keys: dict[str, str], other_client: Client
) -> None:
    """BatchDecapsulate: each item's shared secret (as kyber-py computed it) or the error Decapsulate would give,
    in order; one bad item (wrong length, a foreign or unknown key, an AES key) never fails the others."""
    k768, k1024 = keys["EH_ML_KEM_768"], keys["EH_ML_KEM_1024"]
    encapsulated = [ORACLES[spec].encaps(raw_public(app, keys[spec])) for spec in ("EH_ML_KEM_768", "EH_ML_KEM_1024")]
    (s768, c768), (s1024, c1024) = encapsulated
    foreign = other_client.create_key("EH_ML_KEM_768")
    aes = app.create_key("EH_AES_GCM_256")
    answers = app.batch_decapsulate(
        [(k768, c768), (k1024, c1024), (k768, c768[:-1]), (foreign, c768), (aes, c768), (k768, c768)]
    )
    assert [a.ok for a in answers] == [True, True, False, False, False, True]
    assert (answers[0].value, answers[1].value, answers[5].value) == (s768, s1024, s768)
    singles = [
        app.request("Decapsulate", {"keyid": k, "ciphertext": b64(c)}) for k, c in ((k768, c768[:-1]), (aes, c768))
    ]
    assert [answers[2].message, answers[4].message] == [r.message for r in singles]
    assert answers[3].message == "keyid error"  # another app's key is a missing key
    too_many = app.request("BatchDecapsulate", {"items": [{"keyid": k768, "ciphertext": b64(c768)}] * 101})
    assert too_many.code == 400 and too_many.result == {}


def test_cli_batch_decapsulate(client: Client) -> None:
    keyid = client.create_key("EH_ML_KEM_768")
    secret, ciphertext = client.encapsulate(keyid)
    items = json.dumps([{"keyid": keyid, "ciphertext": b64(ciphertext)}])
    out = run(["batch", "decapsulate", "-"], cli_env(client), input=items.encode())
    assert out.exit_code == 0, out.output
    assert json.loads(out.stdout)[0]["result"]["sharedSecret"] == b64(secret)
