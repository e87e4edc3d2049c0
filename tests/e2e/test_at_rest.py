"""Data at rest: the SQLite files hold no key material and no apikey in the clear, and each wrapped value
is bound to its row (swapping two keys' blobs makes both unusable while the server keeps running).

The test process reads the server's root key file (same user) to unwrap rows itself, proves that what it
unwrapped really is the key the server uses, then searches every byte of the data files for it."""

from __future__ import annotations

import base64
import sqlite3
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from pyehsm.client import Client
from pyehsm.crypto import sm4
from pyehsm.keyring.domain import dk_aad
from pyehsm.keyring.keyring import Keyring, MaterialRef
from pyehsm.keyring.root import FileRootKey
from pyehsm.protocols.ehsm.errors import INTERNAL_ERROR_MESSAGE
from tests.support.server import ServerProcess


@contextmanager
def database(server: ServerProcess) -> Iterator[sqlite3.Connection]:
    conn = sqlite3.connect(server.data_dir / "pyehsm.db", timeout=30, isolation_level=None)
    try:
        yield conn
    finally:
        conn.close()


def server_keyring(server: ServerProcess) -> tuple[Keyring, list[bytes]]:
    """The server's keyring, rebuilt from its root key file and its meta rows (and the raw DKs)."""
    root = FileRootKey(server.data_dir / "root.key")
    with database(server) as db:
        params = db.execute("SELECT value FROM meta WHERE name = 'root.params'").fetchone()
        root.configure(bytes(params[0]) if params else b"")
        rows = db.execute("SELECT name, value FROM meta WHERE name GLOB 'dk.[0-9]*'").fetchall()
    dks = {int(name[3:]): root.unwrap(bytes(value), dk_aad(int(name[3:]))) for name, value in rows}
    return Keyring(dks, max(dks)), list(dks.values())


def wrapped_row(server: ServerProcess, keyid: str) -> tuple[str, str, bytes]:
    with database(server) as db:
        appid, keyspec, wrapped = db.execute(
            "SELECT k.appid, k.keyspec, v.wrapped_material FROM keys k JOIN key_versions v ON v.keyid = k.keyid "
            "WHERE k.keyid = ? AND v.version = 1",
            (keyid,),
        ).fetchone()
    return appid, keyspec, bytes(wrapped)


def data_files(server: ServerProcess) -> dict[str, bytes]:
    files = {p.name: p.read_bytes() for p in Path(server.data_dir).iterdir() if p.is_file() and p.name != "root.key"}
    assert "pyehsm.db" in files
    files["server log"] = server.log().encode()
    return files


def forms(secret: bytes) -> list[bytes]:
    return [secret, secret.hex().encode(), secret.hex().upper().encode(), base64.b64encode(secret)]


def test_no_key_material_or_apikey_in_the_clear(server: ServerProcess, client: Client) -> None:
    aes = client.create_key("EH_AES_GCM_256")
    sm4_key = client.create_key("EH_SM4_CBC")
    hmac_key = client.create_key("EH_HMAC")
    ec_key = client.create_key("EH_EC_P256")
    aes_ct = client.encrypt(aes, b"at rest", b"aad")
    sm4_ct = client.encrypt(sm4_key, b"at rest", b"aad")
    keyring, domain_keys = server_keyring(server)

    def material(keyid: str) -> bytes:
        appid, keyspec, wrapped = wrapped_row(server, keyid)
        assert appid == client.appid
        return keyring.unwrap_material(MaterialRef(appid, keyid, 1, keyspec), wrapped)

    # what we unwrapped is the key the server encrypts with: open its ciphertexts independently
    aes_material, sm4_material = material(aes), material(sm4_key)
    bind = uuid.UUID(aes).bytes
    assert AESGCM(aes_material).decrypt(aes_ct[6:18], aes_ct[18:], aes_ct[:6] + bind + b"aad") == b"at rest"
    bind = uuid.UUID(sm4_key).bytes
    assert sm4.open_sealed(sm4_material, sm4_ct[6:], sm4_ct[:6] + bind, b"aad", cbc=True) == b"at rest"
    hmac_material = material(hmac_key)
    assert len(hmac_material) == 32
    ec_private = serialization.load_der_private_key(material(ec_key), None)
    assert isinstance(ec_private, ec.EllipticCurvePrivateKey)
    pem = client.call("GetPublicKey", {"keyid": ec_key})["pubkey"]
    assert serialization.load_pem_public_key(pem.encode()).public_numbers() == ec_private.public_key().public_numbers()
    ec_scalar = ec_private.private_numbers().private_value.to_bytes(32, "big")

    secrets = [aes_material, sm4_material, hmac_material, material(ec_key), ec_scalar, *domain_keys]
    files = data_files(server)
    for name, content in files.items():
        for secret in secrets:
            for form in forms(secret):
                assert form not in content, name
        assert client.apikey.encode() not in content, name
        assert base64.b64encode(client.apikey.encode()) not in content, name
    assert "pyehsm.db-wal" in files  # WAL mode: recent pages (these keys' rows) live in the -wal file


def swap(server: ServerProcess, sql: str, first: str, second: str) -> None:
    """Swap a blob column between two rows, as an attacker with write access to the file would."""
    table, column, key = sql.split()
    with database(server) as db:
        db.execute("BEGIN IMMEDIATE")
        a = db.execute(f"SELECT {column} FROM {table} WHERE {key} = ?", (first,)).fetchone()[0]
        b = db.execute(f"SELECT {column} FROM {table} WHERE {key} = ?", (second,)).fetchone()[0]
        db.execute(f"UPDATE {table} SET {column} = ? WHERE {key} = ?", (b, first))
        db.execute(f"UPDATE {table} SET {column} = ? WHERE {key} = ?", (a, second))
        db.execute("COMMIT")


def test_swapped_key_blobs_make_both_keys_unusable(server: ServerProcess, client: Client) -> None:
    first, second, bystander = (client.create_key("EH_AES_GCM_256") for _ in range(3))
    swap(server, "key_versions wrapped_material keyid", first, second)
    for keyid in (first, second):
        resp = client.request("Encrypt", {"keyid": keyid, "plaintext": "eA=="})
        assert (resp.code, resp.message, resp.result) == (500, INTERNAL_ERROR_MESSAGE, {})
        resp = client.request("GenerateDataKey", {"keyid": keyid, "keylen": 16})
        assert (resp.code, resp.message) == (500, INTERNAL_ERROR_MESSAGE)
    # the server keeps running and says which key's row failed (never its material)
    assert client.get_version()
    assert client.decrypt(bystander, client.encrypt(bystander, b"fine")) == b"fine"
    assert {k["keyid"] for k in client.list_keys()} == {first, second, bystander}
    log = server.log()
    assert f"stored key material of keyid {first} version 1 failed authentication" in log
    assert f"stored key material of keyid {second} version 1 failed authentication" in log
    # swapping back restores both: the blobs were intact, only their binding to the rows failed
    swap(server, "key_versions wrapped_material keyid", first, second)
    for keyid in (first, second):
        assert client.decrypt(keyid, client.encrypt(keyid, b"back")) == b"back"


def test_swapped_apikeys_make_both_apps_unusable(server: ServerProcess) -> None:
    with server.client() as one, server.client() as two:  # enrolled, never used: nothing cached yet
        swap(server, "apps wrapped_apikey appid", one.appid, two.appid)
        for c in (one, two):
            resp = c.request("ListKey")
            assert (resp.code, resp.message) == (500, INTERNAL_ERROR_MESSAGE)
        assert f"stored apikey of app {one.appid} failed authentication" in server.log()
        swap(server, "apps wrapped_apikey appid", one.appid, two.appid)
        assert one.list_keys() == [] and two.list_keys() == []
