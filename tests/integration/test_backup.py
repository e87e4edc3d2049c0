"""`pyehsm backup` / `pyehsm restore`: an online, consistent SQLite snapshot holding only wrapped values."""

from __future__ import annotations

import asyncio
import base64
import os
import secrets
import shutil
import sqlite3
import threading
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from pyehsm.app import prepare
from pyehsm.cli import main
from pyehsm.client import Client, EhsmApiError
from pyehsm.clock import ManualClock
from pyehsm.config import Settings
from pyehsm.errors import StartupError
from pyehsm.keyring.domain import open_keyring
from pyehsm.keyring.keyring import MaterialRef
from pyehsm.keyring.root import FileRootKey
from pyehsm.protocols.ehsm.envelope import TIMESTAMP_WINDOW_MS
from pyehsm.store.sqlite import SqliteStore
from tests.support.server import InProcessServer


def cli(*args: str) -> Result:
    return CliRunner().invoke(main, list(args))


def forms(secret: bytes) -> list[bytes]:
    """Ways a secret could appear in a file: raw, hex, base64 (and a base64 run from its middle)."""
    middle = secret[3 : 3 + 3 * ((len(secret) - 6) // 3)] if len(secret) >= 12 else secret
    return [
        secret,
        secret.hex().encode(),
        secret.hex().upper().encode(),
        base64.b64encode(secret),
        base64.urlsafe_b64encode(secret),
        base64.b64encode(middle),
    ]


async def unwrapped_secrets(data: Path) -> tuple[list[bytes], list[str]]:
    """Every key version's material and every apikey of a store, unwrapped in this (test) process."""
    store = SqliteStore(data / "pyehsm.db")
    await store.open()
    try:
        keyring = await open_keyring(store, FileRootKey(data / "root.key"))
        rows = store.conn.execute(
            "SELECT k.appid, k.keyid, v.version, k.keyspec, v.wrapped_material FROM key_versions v "
            "JOIN keys k ON k.keyid = v.keyid WHERE v.wrapped_material IS NOT NULL"
        ).fetchall()
        materials = [keyring.unwrap_material(MaterialRef(a, k, v, s), bytes(w)) for a, k, v, s, w in rows]
        apps = store.conn.execute("SELECT appid, wrapped_apikey FROM apps").fetchall()
        apikeys = [keyring.unwrap_apikey(appid, bytes(w)) for appid, w in apps]
        return materials, apikeys
    finally:
        await store.close()


def refusal(data_dir: Path) -> str:
    with pytest.raises(StartupError) as caught:
        asyncio.run(prepare(Settings(data_dir=data_dir)))
    return str(caught.value)


def test_online_backup_restores_and_is_useless_without_the_root_key(tmp_path: Path) -> None:
    data = tmp_path / "data"
    snapshot = tmp_path / "backup" / "pyehsm.snapshot"
    snapshot.parent.mkdir()
    server = InProcessServer(Settings(data_dir=data, pool_depth={"EH_EC_P256": 1, "EH_SM2": 1})).start()
    try:
        client = Client.enroll(server.base)
        keys = [client.create_key(s) for s in ("EH_AES_GCM_128", "EH_AES_GCM_256", "EH_SM4_CTR", "EH_SM4_CBC")]
        ciphertexts = {k: client.encrypt(k, b"kept in the backup") for k in keys}
        ec = client.create_key("EH_EC_P256")
        signature = client.sign(ec, b"signed", "EH_SHA_256")
        client.create_secret("api-token", "the secret value")

        # A writer keeps creating keys while the snapshot is taken (online backup).
        stop = threading.Event()
        written: list[str] = []

        def writer() -> None:
            with Client(server.base, client.appid, client.apikey) as c:
                while not stop.is_set():  # a fresh nonce each time: identical requests would be replays
                    payload = {"keyspec": "EH_AES_GCM_256", "origin": "EH_INTERNAL_KEY"}
                    envelope = c.envelope(payload, nonce=secrets.token_hex(8))
                    written.append(str(c.post_raw("CreateKey", envelope).raise_for_code()["keyid"]))

        thread = threading.Thread(target=writer, daemon=True)
        thread.start()
        while len(written) < 3:
            assert thread.is_alive()
            thread.join(0.01)
        result = cli("backup", str(snapshot), "--data-dir", str(data))
        stop.set()
        thread.join(timeout=30)
        assert result.exit_code == 0, result.output
        assert "useless without the file root key" in result.output
    finally:
        server.stop()

    assert snapshot.stat().st_mode & 0o777 == 0o600
    with sqlite3.connect(snapshot) as conn:
        assert conn.execute("PRAGMA integrity_check").fetchone() == ("ok",)
        in_snapshot = {row[0] for row in conn.execute("SELECT keyid FROM keys")}
    assert set(keys) | {ec} <= in_snapshot

    # Only wrapped values: no key material, apikey or root key byte in any form.
    materials, apikeys = asyncio.run(unwrapped_secrets(data))
    assert len(materials) >= len(keys) + 1 and client.apikey in apikeys
    content = snapshot.read_bytes()
    for secret in [*materials, *(a.encode() for a in apikeys), (data / "root.key").read_bytes()]:
        for form in forms(secret):
            assert form not in content
    assert b"the secret value" not in content

    # Restored into a new data dir, the snapshot is useless without the root key ...
    restored = tmp_path / "restored"
    done = cli("restore", str(snapshot), "--data-dir", str(restored))
    assert done.exit_code == 0, done.output
    assert "start pyehsm with the file root key" in done.output
    assert "root key file" in refusal(restored) and "does not exist" in refusal(restored)
    assert not (restored / "root.key").exists()
    stranger = restored / "root.key"
    stranger.write_bytes(os.urandom(32))
    stranger.chmod(0o600)
    assert "does not unwrap this store's domain key" in refusal(restored)
    again = cli("restore", str(snapshot), "--data-dir", str(restored))
    assert again.exit_code == 1 and "already exists" in again.output

    # ... and whole again with it.
    shutil.copy2(data / "root.key", stranger)
    clock = ManualClock()
    back = InProcessServer(Settings(data_dir=restored, pool_depth={}), clock).start()
    try:
        # a restored node cannot know which recent requests the old one accepted: it refuses every
        # request timestamped before its start + the 10-minute window (docs/operations.md)
        with (
            Client(back.base, client.appid, client.apikey, clock=clock) as c,
            pytest.raises(EhsmApiError, match="repeated"),
        ):
            c.list_keys()
        clock.advance(ms=TIMESTAMP_WINDOW_MS)
        with Client(back.base, client.appid, client.apikey, clock=clock) as c:
            for keyid, ciphertext in ciphertexts.items():
                assert c.decrypt(keyid, ciphertext) == b"kept in the backup"
            assert c.verify(ec, b"signed", signature, "EH_SHA_256") is True
            assert c.get_secret_value("api-token").secret_data == "the secret value"
    finally:
        back.stop()
        client.close()


def test_backup_and_restore_refuse_what_they_cannot_do_safely(tmp_path: Path) -> None:
    data = tmp_path / "data"
    asyncio.run(prepare(Settings(data_dir=data)))
    taken = tmp_path / "snap"
    assert cli("backup", str(taken), "--data-dir", str(data)).exit_code == 0
    exists = cli("backup", str(taken), "--data-dir", str(data))
    assert exists.exit_code == 1 and "already exists" in exists.output
    missing = cli("backup", str(tmp_path / "x"), "--data-dir", str(tmp_path / "nothing-here"))
    assert missing.exit_code == 1 and "no pyehsm store" in missing.output
    postgres = cli("backup", str(tmp_path / "y"), "--store", "postgresql://db.example/pyehsm")
    assert postgres.exit_code == 1 and "pg_dump" in postgres.output

    junk = tmp_path / "junk"
    junk.write_bytes(b"not a database at all" * 100)
    bad = cli("restore", str(junk), "--data-dir", str(tmp_path / "r1"))
    assert bad.exit_code == 1 and "junk" in bad.output
    foreign = tmp_path / "foreign.db"
    with sqlite3.connect(foreign) as conn:
        conn.execute("CREATE TABLE t (x)")
    other = cli("restore", str(foreign), "--data-dir", str(tmp_path / "r2"))
    assert other.exit_code == 1 and "not a pyehsm snapshot" in other.output
    over = cli("restore", str(taken), "--data-dir", str(data))
    assert over.exit_code == 1 and "already exists" in over.output
    assert not (tmp_path / "r1" / "pyehsm.db").exists() and not (tmp_path / "r2" / "pyehsm.db").exists()
