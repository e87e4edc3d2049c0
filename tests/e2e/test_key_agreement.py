"""DeriveSharedSecret end to end over HTTP: ECDH with EC keys created with EH_KEYUSAGE_KEY_AGREEMENT on every
supported curve, and X25519 keys; each shared secret checked against the `openssl` CLI (`openssl pkeyutl
-derive` with GetPublicKey's PEM and an openssl-generated peer), the peer key sent as PEM and as base64 DER;
invalid peer keys (a point off the curve, another curve, another key type, a small-order X25519 point,
not base64) refused; the usage rules."""

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
from cryptography.hazmat.primitives.asymmetric import ec, x25519

from pyehsm.client import Client
from pyehsm.clock import SystemClock
from tests.support.server import ServerProcess

OPENSSL = shutil.which("openssl") or "/usr/bin/openssl"
AGREE = "EH_KEYUSAGE_KEY_AGREEMENT"
CURVES = {  # keyspec -> openssl curve name
    "EH_EC_P224": "secp224r1",
    "EH_EC_P256": "prime256v1",
    "EH_EC_P256K": "secp256k1",
    "EH_EC_P384": "secp384r1",
    "EH_EC_P521": "secp521r1",
}
SPKI_DER = (serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)


class DistinctMsClock(SystemClock):
    def __init__(self) -> None:
        self._last = 0

    def now_ms(self) -> int:
        self._last = max(super().now_ms(), self._last + 1)
        return self._last


@pytest.fixture(scope="module")
def app(server: ServerProcess) -> Iterator[Client]:
    with server.client(clock=DistinctMsClock()) as c:
        yield c


def openssl(*args: str | Path) -> bytes:
    done = subprocess.run([OPENSSL, *map(str, args)], capture_output=True, check=True)
    return done.stdout


def error(app: Client, body: dict[str, Any]) -> str:
    response = app.request("DeriveSharedSecret", body)
    assert (response.code, response.result) == (400, {}), response
    return response.message


@pytest.mark.parametrize("spec", [*CURVES, "EH_X25519"])
def test_shared_secret_matches_openssl(app: Client, spec: str) -> None:
    keyid = app.create_key(spec, keyusage=AGREE)
    with tempfile.TemporaryDirectory() as tmp:
        d = Path(tmp)
        (d / "ours.pem").write_text(app.get_public_key(keyid))
        if spec == "EH_X25519":
            openssl("genpkey", "-algorithm", "X25519", "-out", d / "peer.pem")
        else:
            openssl(
                "genpkey", "-algorithm", "EC", "-pkeyopt", f"ec_paramgen_curve:{CURVES[spec]}", "-out", d / "peer.pem"
            )
        peer_pem = openssl("pkey", "-in", d / "peer.pem", "-pubout").decode()
        peer_der = openssl("pkey", "-in", d / "peer.pem", "-pubout", "-outform", "DER")
        expected = openssl("pkeyutl", "-derive", "-inkey", d / "peer.pem", "-peerkey", d / "ours.pem")
    assert app.derive_shared_secret(keyid, peer_pem) == expected
    assert app.derive_shared_secret(keyid, peer_der) == expected
    assert app.call("DeriveSharedSecret", {"keyid": keyid, "publicKey": base64.b64encode(peer_der).decode()}) == {
        "sharedSecret": base64.b64encode(expected).decode()
    }


@pytest.mark.parametrize("spec", ["EH_EC_P256", "EH_EC_P256K", "EH_EC_P384", "EH_EC_P521"])
def test_invalid_ec_peer_keys_are_refused(app: Client, spec: str) -> None:
    keyid = app.create_key(spec, keyusage=AGREE)
    curve = {
        "EH_EC_P256": "secp256r1",
        "EH_EC_P256K": "secp256k1",
        "EH_EC_P384": "secp384r1",
        "EH_EC_P521": "secp521r1",
    }[spec]
    message = f"Parameter invalid, The publicKey format wrong: not a valid public key on {curve}."
    good = ec.generate_private_key(getattr(ec, curve.upper())()).public_key().public_bytes(*SPKI_DER)
    off_curve = good[:-1] + bytes([good[-1] ^ 1])  # y changed: the point is no longer on the curve
    other_curve = ec.generate_private_key(ec.SECP224R1()).public_key().public_bytes(*SPKI_DER)
    other_type = x25519.X25519PrivateKey.generate().public_key().public_bytes(*SPKI_DER)
    for bad in (off_curve, other_curve, other_type, b"\x30\x03\x02\x01\x00"):
        assert error(app, {"keyid": keyid, "publicKey": base64.b64encode(bad).decode()}) == message
    assert error(app, {"keyid": keyid, "publicKey": "not base64!"}) == (
        "Parameter invalid, The publicKey must be a base64 DER SubjectPublicKeyInfo or a PEM public key."
    )
    assert error(app, {"keyid": keyid}) == "Missing required parameters, The publicKey cannot be empty."


def test_small_order_x25519_points_are_refused(app: Client) -> None:
    keyid = app.create_key("EH_X25519")
    prefix = bytes.fromhex("302a300506032b656e032100")
    for point in (bytes(32), (1).to_bytes(32, "little")):
        assert error(app, {"keyid": keyid, "publicKey": base64.b64encode(prefix + point).decode()}) == (
            "Parameter invalid, The publicKey format wrong: not a valid X25519 public key."
        )


def test_usage_rules(app: Client) -> None:
    peer = ec.generate_private_key(ec.SECP256R1()).public_key().public_bytes(*SPKI_DER)
    signing = app.create_key("EH_EC_P256")  # default usage: SIGN_VERIFY
    assert error(app, {"keyid": signing, "publicKey": base64.b64encode(peer).decode()}) == (
        "The keyusage EH_KEYUSAGE_SIGN_VERIFY of this key does not allow DeriveSharedSecret."
    )
    agreeing = app.create_key("EH_EC_P256", keyusage=AGREE)
    body = {"keyid": agreeing, "message": base64.b64encode(b"m").decode(), "message_type": "EH_RAW"}
    response = app.request("Sign", body)
    assert response.message == "The keyusage EH_KEYUSAGE_KEY_AGREEMENT of this key does not allow Sign."
    rsa_key = app.create_key("EH_AES_GCM_256")
    assert error(app, {"keyid": rsa_key, "publicKey": base64.b64encode(peer).decode()}) == (
        "The keyspec EH_AES_GCM_256 does not support DeriveSharedSecret."
    )
    x = app.create_key("EH_X25519")
    body["keyid"] = x
    assert app.request("Sign", body).message == "The keyspec EH_X25519 does not support Sign."


def test_cli_derive_shared_secret(client: Client, tmp_path: Path) -> None:
    from click.testing import CliRunner

    from pyehsm.cli import main

    env = {
        "PYEHSM_URL": client.base_url,
        "PYEHSM_APPID": client.appid,
        "PYEHSM_APIKEY": client.apikey,
        "PYEHSM_CREDENTIALS_FILE": "/nonexistent/pyehsm-credentials",
        "PYEHSM_PROFILE": "",
    }
    created = CliRunner().invoke(main, ["key", "create", "EH_EC_P256", "--usage", "agree", "-o", "json"], env=env)
    assert created.exit_code == 0, created.output
    assert next(k for k in client.list_key() if k.keyid in created.stdout).keyusage == AGREE
    keyid = client.create_key("EH_X25519")
    peer = x25519.X25519PrivateKey.generate()
    pem = peer.public_key().public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    (tmp_path / "peer.pem").write_bytes(pem)
    ours = serialization.load_pem_public_key(client.get_public_key(keyid).encode())
    assert isinstance(ours, x25519.X25519PublicKey)
    expected = base64.b64encode(peer.exchange(ours)).decode()
    out = CliRunner().invoke(main, ["derive-shared-secret", "-k", keyid, f"@{tmp_path / 'peer.pem'}"], env=env)
    assert out.exit_code == 0, out.output
    assert out.stdout.strip() == expected
    der = base64.b64encode(peer.public_key().public_bytes(*SPKI_DER)).decode()
    out = CliRunner().invoke(main, ["derive-shared-secret", "-k", keyid, der], env=env)
    assert out.stdout.strip() == expected
