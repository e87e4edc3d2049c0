"""The Python SDK (Client and AsyncClient) against a real `pyehsm serve`: typed results, one exception class
per error class, retries only where re-sending is safe (real TCP peers that drop or stall), timeouts."""

from __future__ import annotations

import asyncio
import base64
import socket
import threading
from collections.abc import Iterator
from pathlib import Path

import httpx
import msgspec
import pytest
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec

from pyehsm.client import (
    ApiNotFoundError,
    AsyncClient,
    AuthError,
    Client,
    CryptoError,
    DataKey,
    EhsmApiError,
    EhsmConnectionError,
    KeyInfo,
    NotFoundError,
    ParamError,
    ResponseSignatureError,
    RetryPolicy,
    StateError,
)
from pyehsm.client import operations as ops
from pyehsm.client.errors import error_for
from pyehsm.clock import ManualClock
from pyehsm.config import Settings
from pyehsm.protocols.ehsm.signing import canonical_string, sign_string, signature_matches
from tests.support.server import ServerProcess, in_process_server

NO_WAIT = RetryPolicy(retries=2, backoff=0.0)


# -- typed results ------------------------------------------------------------------------------------
def test_keys_typed_and_dict_compatible(client: Client) -> None:
    keyid = client.create_key("EH_AES_GCM_256")
    (info,) = client.list_key()
    assert isinstance(info, KeyInfo)
    assert (info.keyid, info.keyspec, info.enabled, info.keyusage) == (
        keyid,
        "EH_AES_GCM_256",
        True,
        "EH_KEYUSAGE_ENCRYPT_DECRYPT",
    )
    assert info["keyid"] == keyid and info.creation_date > 0  # also a read-only mapping of the wire result
    assert client.list_keys() == [dict(info.raw)]
    client.disable_key(keyid)
    client.disable_key(keyid)  # idempotent
    assert client.list_key()[0].enabled is False
    client.enable_key(keyid)
    assert client.list_key()[0].key_state == 1
    version = client.get_version()
    assert version.version and version["git_sha"] == version.git_sha


def test_symmetric_and_data_keys(client: Client) -> None:
    keyid = client.create_key("EH_SM4_CBC")
    blob = bytes(range(256)) * 3
    assert client.decrypt(keyid, client.encrypt(keyid, blob, aad=b"ctx"), aad=b"ctx") == blob
    data_key = client.generate_data_key(keyid, 48, aad=b"dk")
    assert isinstance(data_key, DataKey) and len(data_key.plaintext) == 48
    plaintext, wrapped = data_key  # still a (plaintext, ciphertext) tuple
    assert client.decrypt(keyid, wrapped, aad=b"dk") == plaintext
    assert base64.b64encode(plaintext).decode() not in repr(data_key) and "48 bytes" in repr(data_key)
    only_wrapped = client.generate_data_key_without_plaintext(keyid, 16)
    assert len(client.decrypt(keyid, only_wrapped)) == 16


def test_asymmetric_typed_methods(client: Client) -> None:
    ec_key = client.create_key("EH_EC_P256")
    signature = client.sign(ec_key, b"message", "EH_SHA_256")
    assert client.verify(ec_key, b"message", signature, "EH_SHA_256") is True
    assert client.verify(ec_key, b"other message", signature, "EH_SHA_256") is False
    public = serialization.load_pem_public_key(client.get_public_key(ec_key).encode())
    assert isinstance(public, ec.EllipticCurvePublicKey)
    public.verify(signature, b"message", ec.ECDSA(hashes.SHA256()))  # raises if the server's signature is bad

    rsa_key = client.create_key("EH_RSA_2048")
    ct = client.asymmetric_encrypt(rsa_key, b"for rsa", "EH_RSA_PKCS1_OAEP")
    assert client.asymmetric_decrypt(rsa_key, ct, "EH_RSA_PKCS1_OAEP") == b"for rsa"
    aes_key = client.create_key("EH_AES_GCM_128")
    _, wrapped = client.generate_data_key(aes_key, 32)
    exported = client.export_data_key(aes_key, rsa_key, wrapped, padding_mode="EH_RSA_PKCS1_OAEP")
    assert len(exported) == 256  # RSA-2048 ciphertext of the data key


def test_secrets_typed_methods(client: Client) -> None:
    client.create_secret("db password", "p@ss=w&rd +%", description="prod db", rotation_interval="30d")
    value = client.get_secret_value("db password")
    assert (value.secret_name, value.secret_data, value.version_id) == ("db password", "p@ss=w&rd +%", 1)
    assert "p@ss" not in repr(value)
    client.put_secret_value("db password", "second")
    versions = client.list_secret_version_ids("db password")
    assert sorted(v.version_id for v in versions.versions) == [1, 2] and versions.total_count == 2
    assert client.get_secret_value("db password", version_id=1).secret_data == "p@ss=w&rd +%"
    client.update_secret_desc("db password", "rotated")
    described = client.describe_secret("db password")
    assert (described.description, described.rotation_interval) == ("rotated", "30d")
    assert described.next_rotation_date and described.planned_delete_time is None
    listing = client.list_secrets()
    assert [s.secret_name for s in listing.secrets] == ["db password"] and listing.total_count == 1
    client.delete_secret("db password", recovery_period=7)
    assert client.list_secrets().secrets[0].planned_delete_time
    with pytest.raises(StateError):
        client.get_secret_value("db password")
    client.restore_secret("db password")
    assert client.get_secret_value("db password").secret_data == "second"
    client.delete_secret("db password", force_delete=True)
    with pytest.raises(NotFoundError):
        client.describe_secret("db password")


def test_quote_policies(client: Client) -> None:
    policy_id = client.upload_quote_policy("ab" * 32, "cd" * 32)
    policy = client.get_quote_policy(policy_id)
    assert (policy.policy_id, policy.mr_enclave, policy.mr_signer) == (policy_id, "ab" * 32, "cd" * 32)
    with pytest.raises(EhsmApiError):
        client.verify_quote(b"not a quote at all", b"nonce")


def test_byok_import(client: Client) -> None:
    from pyehsm.cli.byok import wrap_for_import

    keyid = client.create_key("EH_AES_GCM_256", origin="EH_EXTERNAL_KEY")
    params = client.get_parameters_for_import(keyid, "EH_RSA_2048")
    assert "PUBLIC KEY" in params.pubkey and params.import_token not in repr(params)
    material = bytes(range(32))
    wrapped, padding = wrap_for_import(params.pubkey, material)
    assert client.import_key_material(keyid, wrapped, params.import_token, padding) is True
    assert client.decrypt(keyid, client.encrypt(keyid, b"imported")) == b"imported"


# -- errors ---------------------------------------------------------------------------------------------
def test_one_exception_class_per_error_class(client: Client, server: ServerProcess) -> None:
    keyid = client.create_key("EH_AES_GCM_256")
    ct = client.encrypt(keyid, b"x")
    with pytest.raises(NotFoundError, match="keyid error"):
        client.encrypt("00000000-0000-4000-8000-000000000000", b"x")
    with pytest.raises(CryptoError):
        client.decrypt(keyid, ct[:-1] + bytes([ct[-1] ^ 1]))
    with pytest.raises(ParamError, match="keyspec"):
        client.call("CreateKey", {"keyspec": "EH_NOPE", "origin": "EH_INTERNAL_KEY"})
    client.disable_key(keyid)
    with pytest.raises(StateError, match="disabled"):
        client.encrypt(keyid, b"x")
    with pytest.raises(ApiNotFoundError):
        client.call("NoSuchAction", {})
    forged = Client(server.base, client.appid, "wrong-apikey-wrong-apikey-wrong!")
    with forged, pytest.raises(AuthError, match="sign error"):
        forged.list_key()
    body = client.envelope(None)
    assert client.post_raw("ListKey", body).code == 200
    with pytest.raises(AuthError, match="repeated"):
        client.post_raw("ListKey", body).raise_for_code()
    # every class is an EhsmApiError carrying code and message
    for code, message, cls in [
        (400, "Timestamp error", AuthError),
        (400, "Missing required parameters, The keyid cannot be empty.", ParamError),
        (400, "Invalid policyId.", NotFoundError),
        (400, "Too many requests, rate limit exceeded.", EhsmApiError),
        (404, "API Not Found", ApiNotFoundError),
    ]:
        err = error_for(code, message)
        assert isinstance(err, cls) and isinstance(err, EhsmApiError) and err.message == message


def test_verify_quote_answer_must_be_signed_by_our_apikey() -> None:
    call = ops.verify_quote(b"quote", b"n0nce", "the-apikey")
    fields = {"result": True, "nonce": base64.b64encode(b"n0nce").decode(), "mr_enclave": "aa", "mr_signer": "bb"}
    good = {**fields, "sign": sign_string("the-apikey", canonical_string(fields))}
    assert call.parse(good).valid is True
    with pytest.raises(ResponseSignatureError):
        call.parse({**good, "mr_enclave": "cc"})  # field changed after signing
    with pytest.raises(ResponseSignatureError):
        call.parse({**fields, "sign": sign_string("another-apikey", canonical_string(fields))})
    echoed_other = {**fields, "nonce": "b3RoZXI="}
    with pytest.raises(ResponseSignatureError, match="nonce"):
        call.parse({**echoed_other, "sign": sign_string("the-apikey", canonical_string(echoed_other))})


# -- binary values are bytes, errors follow the documented taxonomy ------------------------------------------
def test_quote_challenge_and_nonce_are_bytes(tmp_path: Path, clock: ManualClock) -> None:
    settings = Settings(data_dir=tmp_path / "data", pool_depth={}, quote_provider="simulated")
    challenge, nonce = bytes(range(200)), b"\x00\xffnonce"
    with in_process_server(settings, clock) as srv, Client.enroll(srv.base, clock=clock) as c:
        quote = c.generate_quote(challenge)
        assert quote.challenge == challenge and quote["challenge"] == base64.b64encode(challenge).decode()
        verification = c.verify_quote(quote.quote, nonce)
        assert verification.nonce == nonce and verification["nonce"] == base64.b64encode(nonce).decode()
        assert verification.valid is False  # the simulation root is not trusted by this server


async def test_async_quote_challenge_is_bytes(tmp_path: Path, clock: ManualClock) -> None:
    settings = Settings(data_dir=tmp_path / "data", pool_depth={}, quote_provider="simulated")
    with in_process_server(settings, clock) as srv:
        async with await AsyncClient.enroll(srv.base, clock=clock) as c:
            quote = await c.generate_quote(b"challenge")
            assert quote.challenge == b"challenge"
            assert (await c.verify_quote(quote.quote, b"n")).nonce == b"n"


def test_malformed_ciphertext_is_a_param_error(client: Client) -> None:
    keyid = client.create_key("EH_AES_GCM_256")
    with pytest.raises(ParamError, match="not a pyehsm ciphertext"):
        client.decrypt(keyid, b"\x00" * 48)  # not a pyehsm ciphertext at all: malformed input
    ct = client.encrypt(keyid, b"x")
    with pytest.raises(CryptoError, match="Decrypt failed"):
        client.decrypt(keyid, ct[:-1] + bytes([ct[-1] ^ 1]))  # well formed but modified: a crypto failure
    err = error_for(400, "Parameter invalid, The ciphertext is not a pyehsm ciphertext.")
    assert type(err) is ParamError


# -- retries and timeouts against real TCP peers ----------------------------------------------------------
class DroppingPeer:
    """A TCP server that reads each request, records it, then closes the connection without answering
    (``stall``: keeps the connection open and never answers)."""

    def __init__(self, stall: bool = False) -> None:
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(16)
        self.stall = stall
        self.requests: list[bytes] = []
        self._open: list[socket.socket] = []
        self._thread = threading.Thread(target=self._serve, daemon=True)
        self._thread.start()

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.sock.getsockname()[1]}/ehsm"

    def _serve(self) -> None:
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            data = b""
            while b"\r\n\r\n" not in data:
                chunk = conn.recv(65536)
                if not chunk:
                    break
                data += chunk
            head, _, body = data.partition(b"\r\n\r\n")
            length = next(
                (
                    int(line.split(b":")[1])
                    for line in head.split(b"\r\n")
                    if line.lower().startswith(b"content-length")
                ),
                0,
            )
            while len(body) < length:
                body += conn.recv(65536)
            self.requests.append(body)
            if self.stall:
                self._open.append(conn)
            else:
                conn.close()

    def close(self) -> None:
        self.sock.close()
        for conn in self._open:
            conn.close()


@pytest.fixture
def dropping_peer() -> Iterator[DroppingPeer]:
    peer = DroppingPeer()
    yield peer
    peer.close()


def test_non_idempotent_call_is_never_resent_once_sent(dropping_peer: DroppingPeer) -> None:
    with Client(dropping_peer.base, "app", "key", retry=NO_WAIT) as c:
        with pytest.raises(EhsmConnectionError) as caught:
            c.create_key("EH_AES_GCM_256")
        assert isinstance(caught.value.__cause__, httpx.RemoteProtocolError)
        assert len(dropping_peer.requests) == 1
        with pytest.raises(EhsmConnectionError):
            c.delete_key("00000000-0000-4000-8000-000000000000")
        assert len(dropping_peer.requests) == 2


def test_idempotent_call_is_retried_and_re_signed(dropping_peer: DroppingPeer) -> None:
    with Client(dropping_peer.base, "app", "the-apikey", retry=NO_WAIT) as c, pytest.raises(EhsmConnectionError):
        c.encrypt("00000000-0000-4000-8000-000000000000", b"x")
    assert len(dropping_peer.requests) == 3  # first try + 2 retries
    bodies = [msgspec.json.decode(b) for b in dropping_peer.requests]
    assert len({b["sign"] for b in bodies}) == 3 and len({b["nonce"] for b in bodies}) == 3
    for body in bodies:
        params = {k: v for k, v in body.items() if k != "sign"}
        assert signature_matches("the-apikey", params, body["sign"])


def test_connection_refused_is_retried_for_every_action() -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]  # bound but not listening: connections are refused
        attempts: list[str] = []
        http = httpx.Client(event_hooks={"request": [lambda request: attempts.append(request.url.params["Action"])]})
        c = Client(f"http://127.0.0.1:{port}/ehsm", "a", "k", http=http, retry=NO_WAIT)
        with c, pytest.raises(EhsmConnectionError, match="cannot reach"):
            c.create_key("EH_AES_GCM_256")
    assert attempts == ["CreateKey"] * 3


def test_read_timeout_is_not_retried() -> None:
    peer = DroppingPeer(stall=True)
    try:
        c = Client(peer.base, "a", "k", timeout=0.3, retry=NO_WAIT)
        with c, pytest.raises(EhsmConnectionError) as caught:
            c.encrypt("00000000-0000-4000-8000-000000000000", b"x")
        assert isinstance(caught.value.__cause__, httpx.ReadTimeout)
        assert len(peer.requests) == 1
    finally:
        peer.close()


def test_cli_sign_action_flag_signs_the_action(dropping_peer: DroppingPeer) -> None:
    from click.testing import CliRunner

    from pyehsm.cli import main

    env = {"PYEHSM_URL": dropping_peer.base, "PYEHSM_APPID": "app", "PYEHSM_APIKEY": "the-apikey"}
    assert CliRunner().invoke(main, ["key", "list"], env=env).exit_code == 1  # the peer never answers
    assert CliRunner().invoke(main, ["key", "list", "--sign-action"], env=env).exit_code == 1
    plain, with_action = (msgspec.json.decode(dropping_peer.requests[i]) for i in (0, -1))
    assert "action" not in plain and with_action["action"] == "ListKey"
    params = {k: v for k, v in with_action.items() if k != "sign"}
    assert canonical_string(params).startswith("action=ListKey&appid=app&")
    assert signature_matches("the-apikey", params, with_action["sign"])


# -- async ----------------------------------------------------------------------------------------------
async def test_async_client_mirrors_the_sync_client(server: ServerProcess) -> None:
    async with await AsyncClient.enroll(server.base) as c:
        assert (await c.get_version()).version
        keyid = await c.create_key("EH_AES_GCM_256")
        messages = [f"message {i}".encode() for i in range(8)]
        cts = await asyncio.gather(*(c.encrypt(keyid, m, aad=b"a") for m in messages))
        assert await asyncio.gather(*(c.decrypt(keyid, ct, aad=b"a") for ct in cts)) == messages
        assert [k.keyid for k in await c.list_key()] == [keyid]
        plaintext, wrapped = await c.generate_data_key(keyid, 32)
        assert await c.decrypt(keyid, wrapped) == plaintext
        await c.create_secret("s", "v1")
        await c.put_secret_value("s", "v2")
        assert (await c.get_secret_value("s")).secret_data == "v2"
        assert (await c.list_secret_version_ids("s")).total_count == 2
        await c.disable_key(keyid)
        with pytest.raises(StateError):
            await c.encrypt(keyid, b"x")
        with pytest.raises(NotFoundError):
            await c.delete_key("00000000-0000-4000-8000-000000000000")
        await c.delete_all_key()
        assert await c.list_key() == []


async def test_async_retries_follow_the_same_rules(dropping_peer: DroppingPeer) -> None:
    async with AsyncClient(dropping_peer.base, "app", "key", retry=NO_WAIT) as c:
        with pytest.raises(EhsmConnectionError):
            await c.create_secret("name", "value")
        assert len(dropping_peer.requests) == 1
        with pytest.raises(EhsmConnectionError):
            await c.list_secrets()
        assert len(dropping_peer.requests) == 4
