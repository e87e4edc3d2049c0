"""Online domain-key rotation: under load with zero errors, resumable after a stop, safe with several nodes."""

from __future__ import annotations

import asyncio
import sqlite3
import threading
import time
from collections.abc import Coroutine, Iterator
from pathlib import Path
from typing import Any, TypeVar

import pytest
from click.testing import CliRunner, Result

from pyehsm.app import Runtime
from pyehsm.cli import main
from pyehsm.cli.byok import wrap_for_import
from pyehsm.client import Client
from pyehsm.clock import ManualClock, SystemClock
from pyehsm.config import Settings
from pyehsm.keyring.domain import open_keyring
from pyehsm.keyring.domain_key_rotation import (
    AAD_BUILDERS,
    META_WRAPPED,
    MIN_PROPAGATION_MS,
    REFRESH_SECONDS,
    DomainKeyRotation,
    RotationError,
    RotationState,
    read_state,
    wrapped_counts,
)
from pyehsm.keyring.keyring import AUDIT_HMAC_KEY_AAD, AUDIT_HMAC_KEY_META, Keyring, MaterialRef
from pyehsm.keyring.root import FileRootKey
from pyehsm.store.base import WRAPPED_KINDS, Store
from pyehsm.store.postgres import PostgresStore
from pyehsm.store.records import AppRecord, KeyRecord, KeyState, KeyVersionRecord
from pyehsm.store.sqlite import SqliteStore
from tests.support.postgres import fresh_database
from tests.support.server import InProcessServer

T = TypeVar("T")


def cli(*args: str) -> Result:
    return CliRunner().invoke(main, list(args))


def on_server_loop(server: InProcessServer, coro: Coroutine[Any, Any, T]) -> T:
    """Run a coroutine on the server's own event loop (what its periodic maintenance task does)."""
    runtime: Runtime = server.runtime
    loop = runtime.tasks[0].get_loop()
    return asyncio.run_coroutine_threadsafe(coro, loop).result(timeout=60)


def dk_spread(db: Path) -> dict[str, dict[int, int]]:
    """For each wrapped column: domain key id -> number of values (read straight from the file)."""
    queries = {
        "cmk": "SELECT wrapped_material FROM key_versions WHERE wrapped_material IS NOT NULL",
        "apikey": "SELECT wrapped_apikey FROM apps",
        "secrets_key": "SELECT wrapped_material FROM secret_keys",
        "import_key": "SELECT wrapped_private_key FROM import_tokens",
        "meta": "SELECT value FROM meta WHERE name = 'byok.token-key'",
    }
    spread: dict[str, dict[int, int]] = {}
    with sqlite3.connect(db) as conn:
        for kind, query in queries.items():
            per_dk: dict[int, int] = {}
            for (blob,) in conn.execute(query):
                dk = Keyring.wrapped_dk_id(bytes(blob))
                per_dk[dk] = per_dk.get(dk, 0) + 1
            spread[kind] = per_dk
    return spread


def values_under(db: Path, dk_id: int) -> list[str]:
    """Every blob anywhere in the database (but the root-wrapped domain keys) that starts with the header
    of a value wrapped under ``dk_id``: catches a DK-wrapped column the rotation does not know about."""
    found: list[str] = []
    with sqlite3.connect(db) as conn:
        tables = [r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")]
        for table in tables:
            for column in [r[1] for r in conn.execute(f'PRAGMA table_info("{table}")')]:
                query = (
                    f'SELECT COUNT(*) FROM "{table}" '
                    f'WHERE typeof("{column}") = \'blob\' AND substr("{column}", 1, 5) = ?'
                )
                if table == "meta":
                    query += " AND name NOT LIKE 'dk.%'"
                if conn.execute(query, (Keyring.dk_id_prefix(dk_id),)).fetchone()[0]:
                    found.append(f"{table}.{column}")
    return found


def only_under(spread: dict[str, dict[int, int]], dk_id: int) -> bool:
    return all(set(per_dk) <= {dk_id} for per_dk in spread.values()) and bool(spread["cmk"])


class Load(threading.Thread):
    """A client that keeps encrypting, decrypting, signing, creating keys and enrolling; counts every failure."""

    def __init__(self, base: str, keys: list[str], ec_key: str, client: Client) -> None:
        super().__init__(daemon=True)
        self.base, self.keys, self.ec_key, self.client = base, keys, ec_key, client
        self.ops = 0
        self.errors: list[str] = []
        self.stop = threading.Event()

    def run(self) -> None:
        with Client(self.base, self.client.appid, self.client.apikey) as c:
            i = 0
            while not self.stop.is_set():
                try:
                    keyid = self.keys[i % len(self.keys)]
                    data = f"message {i}".encode()
                    assert c.decrypt(keyid, c.encrypt(keyid, data)) == data
                    signature = c.sign(self.ec_key, data, "EH_SHA_256")
                    assert c.verify(self.ec_key, data, signature, "EH_SHA_256")
                    if i % 7 == 0:
                        fresh = c.create_key("EH_AES_GCM_128")
                        assert c.decrypt(fresh, c.encrypt(fresh, b"x")) == b"x"
                        self.keys.append(fresh)
                    if i % 11 == 0:
                        with Client.enroll(self.base) as other:
                            other.create_key("EH_SM4_CTR")
                    self.ops += 1
                except Exception as exc:
                    self.errors.append(f"{type(exc).__name__}: {exc}")
                i += 1

    def wait_for_ops(self, count: int) -> None:
        """Block until the load has completed ``count`` more operations (it must keep making progress)."""
        target = self.ops + count
        deadline = time.monotonic() + 60
        while self.ops < target:
            assert self.is_alive() and time.monotonic() < deadline, self.errors[:3]
            time.sleep(0.001)


@pytest.fixture
def loaded_server(tmp_path: Path) -> Iterator[tuple[InProcessServer, Client, list[str], str, dict[str, bytes]]]:
    """A server whose tiny key cache makes nearly every request unwrap its key from the store."""
    settings = Settings(data_dir=tmp_path / "data", key_cache_entries=2, pool_depth={"EH_EC_P256": 2})
    server = InProcessServer(settings).start()
    try:
        client = Client.enroll(server.base)
        keys = [client.create_key(spec) for spec in ("EH_AES_GCM_256", "EH_SM4_CBC", "EH_SM4_CTR") * 8]
        ec_key = client.create_key("EH_EC_P256")
        client.create_secret("db-password", "hunter2 but longer")
        before = {k: client.encrypt(k, b"before rotation") for k in keys}
        for _ in range(4):
            with Client.enroll(server.base) as other:
                other.create_key("EH_AES_GCM_128")
        yield server, client, keys, ec_key, before
        client.close()
    finally:
        server.stop()


def test_domain_key_rotation_under_load_serves_every_request(
    loaded_server: tuple[InProcessServer, Client, list[str], str, dict[str, bytes]],
) -> None:
    server, client, keys, ec_key, before = loaded_server
    data = server.settings.data_dir
    db = data / "pyehsm.db"
    runtime: Runtime = server.runtime
    assert runtime.rotation is not None

    # 1. The operator creates DK 2; the nodes do the rest (their periodic task, run here step by step).
    load = Load(server.base, list(keys), ec_key, client)
    load.start()
    created = cli("domain-key", "rotate", "--background", "--propagation-seconds", "0", "--data-dir", str(data))
    assert created.exit_code == 0, created.output
    assert "created domain key 2" in created.output
    rotation = DomainKeyRotation(runtime.store, runtime.root, runtime.keyring, SystemClock(), batch_size=2)
    ops_at_start = load.ops
    steps = 0
    while True:
        state = on_server_loop(server, rotation.step(max_batches=1))
        steps += 1
        assert state is not None
        if state.phase == "done":
            break
        load.wait_for_ops(1)  # requests are served between the batches
    assert steps > 10
    assert runtime.keyring.active_dk_id == 2
    during = load.ops - ops_at_start
    spread = dk_spread(db)
    assert only_under(spread, 2), spread

    # 2. The operator runs the whole rotation from the CLI (another process's view of the store) while
    #    the node has not heard of DK 3: it must load DK 3 on demand when a re-wrapped row names it.
    rotated = cli("domain-key", "rotate", "--propagation-seconds", "0", "--batch-size", "3", "--data-dir", str(data))
    assert rotated.exit_code == 0, rotated.output
    assert "domain key 3 is active" in rotated.output
    load.wait_for_ops(20)  # more requests against rows now under DK 3
    assert 3 in runtime.keyring.domain_key_ids()  # loaded by the node to serve them
    load.stop.set()
    load.join(timeout=60)
    assert load.errors == []
    assert during > 0 and load.ops > during

    # The node catches up (its periodic refresh); a straggler pass re-wraps what it wrapped under DK 2.
    on_server_loop(server, runtime.rotation.refresh())
    assert runtime.keyring.active_dk_id == 3
    resumed = cli("domain-key", "rotate", "--resume", "--data-dir", str(data))
    assert resumed.exit_code == 0, resumed.output
    assert only_under(dk_spread(db), 3)
    status = cli("domain-key", "status", "--data-dir", str(data))
    assert "active domain key: 3" in status.output and "rotation to domain key 3: done" in status.output

    with Client(server.base, client.appid, client.apikey) as c:
        for keyid, ciphertext in before.items():
            assert c.decrypt(keyid, ciphertext) == b"before rotation"
        assert c.get_secret_value("db-password").secret_data == "hunter2 but longer"


def test_a_stopped_rotation_resumes_on_the_next_node_start(tmp_path: Path) -> None:
    data = tmp_path / "data"
    settings = Settings(data_dir=data, pool_depth={})
    server = InProcessServer(settings).start()
    try:
        with Client.enroll(server.base) as client:
            # alternate keyspecs: two identical requests in one millisecond would be refused as a replay
            keys = [client.create_key(spec) for spec in ("EH_AES_GCM_256", "EH_AES_GCM_128", "EH_SM4_CBC") * 4]
            ciphertexts = {k: client.encrypt(k, b"survives") for k in keys}
            client.create_secret("s", "value value")
            external = client.create_key("EH_AES_GCM_256", origin="EH_EXTERNAL_KEY")
            params = client.get_parameters_for_import(external, "EH_RSA_2048")  # DK-wrapped private key + token key
            appid, apikey = client.appid, client.apikey
    finally:
        server.stop()

    assert cli("domain-key", "rotate", "--resume", "--data-dir", str(data)).exit_code == 1  # nothing to resume
    partial = cli(
        "domain-key", "rotate", "--propagation-seconds", "0", "--batch-size", "2", "--max-batches", "2",
        "--data-dir", str(data),
    )  # fmt: skip
    assert partial.exit_code == 0, partial.output
    assert "stopped after 2 batch(es), 4 value(s) re-wrapped" in partial.output
    spread = dk_spread(data / "pyehsm.db")
    assert spread["cmk"] == {1: 8, 2: 4} and spread["apikey"] == {1: 1} and spread["secrets_key"] == {1: 1}
    assert spread["import_key"] == {1: 1} and spread["meta"] == {1: 1}
    assert set(values_under(data / "pyehsm.db", 1)) >= {"apps.wrapped_apikey", "secret_keys.wrapped_material"}
    refused = cli("domain-key", "rotate", "--data-dir", str(data))
    assert refused.exit_code == 1 and "still rewrapping" in refused.output

    # The restarted node's background task picks the rotation up at start and finishes it.
    server = InProcessServer(settings).start()
    try:
        deadline = time.monotonic() + 60
        while (state := asyncio.run(_state(data))) is None or state.phase != "done":
            assert time.monotonic() < deadline, dk_spread(data / "pyehsm.db")
            time.sleep(0.02)
        assert only_under(dk_spread(data / "pyehsm.db"), 2)
        assert values_under(data / "pyehsm.db", 1) == []
        with Client(server.base, appid, apikey) as c:  # the re-wrapped apikey still authenticates
            for keyid, ciphertext in ciphertexts.items():
                assert c.decrypt(keyid, ciphertext) == b"survives"
            assert c.get_secret_value("s").secret_data == "value value"
            # The import parameters issued before the rotation still work after it.
            wrapped, padding = wrap_for_import(params.pubkey, bytes(range(32)))
            assert c.import_key_material(external, wrapped, params.import_token, padding) is True
            assert c.decrypt(external, c.encrypt(external, b"imported")) == b"imported"
    finally:
        server.stop()


async def _state(data: Path) -> RotationState | None:
    store = SqliteStore(data / "pyehsm.db")
    await store.open()
    try:
        return await read_state(store)
    finally:
        await store.close()


# -- several nodes on one store (two connections, two keyrings), driven deterministically --------------
async def _seed(store: Store, keyring: Keyring, count: int) -> dict[MaterialRef, bytes]:
    await store.insert_app(AppRecord("app-1", keyring.wrap_apikey("app-1", "k" * 32), 1))
    materials: dict[MaterialRef, bytes] = {}
    for i in range(count):
        record = KeyRecord("app-1", f"key-{i:03d}", "EH_AES_GCM_256", "EH_INTERNAL_KEY",
                           "EH_KEYUSAGE_ENCRYPT_DECRYPT", KeyState.ENABLED, "", 1, 2, 1)  # fmt: skip
        ref = MaterialRef("app-1", record.keyid, 1, record.keyspec)
        materials[ref] = bytes([i]) * 32
        await store.insert_key(record, KeyVersionRecord(record.keyid, 1, keyring.wrap_material(ref, materials[ref]), 1))
    return materials


@pytest.fixture(params=["sqlite", "postgres"])
def two_nodes(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[tuple[Store, Store]]:
    """Two store connections on one database: two nodes' view of the same data."""
    if request.param == "sqlite":
        yield SqliteStore(tmp_path / "pyehsm.db"), SqliteStore(tmp_path / "pyehsm.db")
        return
    with fresh_database() as url:
        yield PostgresStore(url), PostgresStore(url)


async def test_two_nodes_rewrapping_at_once_never_lose_a_value(tmp_path: Path, two_nodes: tuple[Store, Store]) -> None:
    root_a, root_b = FileRootKey(tmp_path / "root.key"), FileRootKey(tmp_path / "root.key")
    node_a, node_b = two_nodes
    await node_a.open()
    await node_b.open()
    try:
        ring_a = await open_keyring(node_a, root_a)
        ring_b = await open_keyring(node_b, root_b)  # opened before DK 2 exists
        materials = await _seed(node_a, ring_a, 25)
        clock = ManualClock()
        rot_a = DomainKeyRotation(node_a, root_a, ring_a, clock, batch_size=3)
        rot_b = DomainKeyRotation(node_b, root_b, ring_b, clock, batch_size=3)

        state = await rot_a.begin(propagation_ms=15_000)
        with pytest.raises(RotationError, match="still prepared"):
            await rot_b.begin()
        assert (await rot_a.step()) == state  # nodes get 15 s to load DK 2 before anything uses it
        assert ring_a.active_dk_id == 1
        await rot_b.refresh()
        assert ring_b.domain_key_ids() == [1, 2] and ring_b.active_dk_id == 1

        clock.advance(seconds=15)
        state = await rot_a.step(max_batches=0)  # activates DK 2 on node A, no re-wrapping yet
        assert state is not None and state.phase == "rewrapping" and ring_a.active_dk_id == 2

        # Node B has not refreshed, yet unwraps a value node A wrapped under DK 2 (loaded on demand).
        fresh_ref = MaterialRef("app-1", "key-000", 9, "EH_AES_GCM_256")
        assert ring_b.unwrap_material(fresh_ref, ring_a.wrap_material(fresh_ref, b"m" * 32)) == b"m" * 32
        await rot_b.refresh()
        assert ring_b.active_dk_id == 2

        # A row node B read is changed by node A first: B's compare-and-swap skips it.
        stale = await node_b.list_wrapped("cmk", Keyring.dk_id_prefix(2), None, 3)
        b_changes = [(row, ring_b.rewrap(row.wrapped, AAD_BUILDERS["cmk"](row.owner))) for row in stale]
        first = await rot_a.rewrap_pass(2, max_batches=1)
        assert first.rewrapped == 3
        assert await node_b.replace_wrapped(b_changes) == 0

        # Both nodes walk the rest at once, interleaving batch by batch.
        report_a, report_b = await asyncio.gather(rot_a.rewrap_pass(2), rot_b.rewrap_pass(2))
        assert report_a.failed == report_b.failed == 0
        assert report_a.complete and report_b.complete
        # every value re-wrapped exactly once: 25 keys and 1 apikey
        assert first.rewrapped + report_a.rewrapped + report_b.rewrapped == 25 + 1
        counts = await wrapped_counts(node_a)
        assert counts["cmk"] == {2: 25} and counts["apikey"] == {2: 1}

        ring_c = await open_keyring(node_a, FileRootKey(tmp_path / "root.key"))
        for ref, material in materials.items():
            version = await node_a.get_key_version(ref.appid, ref.keyid, 1)
            assert version is not None and version.wrapped_material is not None
            assert ring_c.unwrap_material(ref, version.wrapped_material) == material
        app = await node_a.get_app("app-1")
        assert app is not None and ring_c.unwrap_apikey("app-1", app.wrapped_apikey) == "k" * 32

        # Not done until a full pass starts once every node wraps under DK 2 (activation + 15 s).
        state = await rot_b.step()
        assert state is not None and state.phase == "rewrapping"
        clock.advance(seconds=15)
        state = await rot_b.step()
        assert state is not None and state.phase == "done"
        assert (await read_state(node_a)) == state
    finally:
        await node_a.close()
        await node_b.close()


def test_the_rotation_knows_every_dk_wrapped_value_format() -> None:
    """The AADs the rotation rebuilds are the ones the services wrap with."""
    from pyehsm.services import byok, secrets

    assert set(AAD_BUILDERS) == set(WRAPPED_KINDS)
    assert secrets.secrets_key_aad("app", "key") == AAD_BUILDERS["secrets_key"](("app", "key"))
    owner = ("app", "key", "token", "EH_RSA_2048")
    assert byok.wrapping_key_aad(*owner) == AAD_BUILDERS["import_key"](owner)
    assert META_WRAPPED == {byok.TOKEN_KEY_META: byok.TOKEN_KEY_AAD, AUDIT_HMAC_KEY_META: AUDIT_HMAC_KEY_AAD}


# -- the propagation delay: long enough for every node's refresh ------------------------------------------
def test_a_propagation_shorter_than_the_node_refresh_is_refused(tmp_path: Path) -> None:
    data = tmp_path / "data"
    InProcessServer(Settings(data_dir=data, pool_depth={})).start().stop()
    for seconds in ("1", "9.9"):
        refused = cli("domain-key", "rotate", "--propagation-seconds", seconds, "--data-dir", str(data))
        assert refused.exit_code == 1, refused.output
        assert f"a propagation delay of {seconds} s is too short" in refused.output
        assert f"every {REFRESH_SECONDS:g} s" in refused.output
        assert f"at least {MIN_PROPAGATION_MS // 1000} s" in refused.output
    assert asyncio.run(_state(data)) is None  # nothing was created
    status = cli("domain-key", "status", "--data-dir", str(data))
    assert "active domain key: 1" in status.output and "no rotation yet" in status.output
    assert f"at least {MIN_PROPAGATION_MS // 1000} s" in cli("domain-key", "rotate", "--help").output


async def test_a_node_refreshing_every_interval_leaves_nothing_under_the_old_key(
    tmp_path: Path, two_nodes: tuple[Store, Store]
) -> None:
    """Node A rotates with the shortest propagation allowed; node B, which refreshed just before the rotation
    began, looks again only every REFRESH_SECONDS and creates a key every second meanwhile. When A's rotation
    is done, every key (B's included) is under the new domain key."""
    node_a, node_b = two_nodes
    await node_a.open()
    await node_b.open()
    try:
        ring_a = await open_keyring(node_a, FileRootKey(tmp_path / "root.key"))
        ring_b = await open_keyring(node_b, FileRootKey(tmp_path / "root.key"))
        await _seed(node_a, ring_a, 5)
        clock = ManualClock()
        rot_a = DomainKeyRotation(node_a, FileRootKey(tmp_path / "root.key"), ring_a, clock, batch_size=2)
        rot_b = DomainKeyRotation(node_b, FileRootKey(tmp_path / "root.key"), ring_b, clock)
        with pytest.raises(RotationError, match=f"at least {MIN_PROPAGATION_MS // 1000} s"):
            await rot_a.begin(propagation_ms=1000)
        await rot_a.begin(propagation_ms=MIN_PROPAGATION_MS)
        refresh_every = int(REFRESH_SECONDS)
        written_under_old_after_activation = 0
        state: RotationState | None = None
        for second in range(1, 60):
            clock.advance(seconds=1)
            if second % refresh_every == 0:
                await rot_b.refresh()
            record = KeyRecord("app-1", f"b-{second:03d}", "EH_AES_GCM_256", "EH_INTERNAL_KEY",
                               "EH_KEYUSAGE_ENCRYPT_DECRYPT", KeyState.ENABLED, "", 1, 2, 1)  # fmt: skip
            ref = MaterialRef("app-1", record.keyid, 1, record.keyspec)
            await node_b.insert_key(record, KeyVersionRecord(record.keyid, 1, ring_b.wrap_material(ref, b"b" * 32), 1))
            if ring_a.active_dk_id == 2 and ring_b.active_dk_id == 1:
                written_under_old_after_activation += 1
            state = await rot_a.step()
            if state is not None and state.phase == "done":
                break
        assert state is not None and state.phase == "done"
        assert written_under_old_after_activation > 0  # the lag the propagation delay is there for
        counts = await wrapped_counts(node_a)
        assert counts["cmk"] == {2: 5 + second} and counts["apikey"] == {2: 1}
    finally:
        await node_a.close()
        await node_b.close()
