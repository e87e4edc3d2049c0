"""SQLite's per-worker row caches (store/cache.py StampedRows): key and app rows are answered from memory
while no connection has committed, and a commit by another worker is seen by the very next read."""

from __future__ import annotations

from pathlib import Path

from pyehsm.store.records import AppRecord
from pyehsm.store.sqlite import SqliteStore
from tests.integration.stores import T0, new_id


async def test_app_rows_are_cached_until_another_worker_commits(tmp_path: Path) -> None:
    worker, other = SqliteStore(tmp_path / "s.db"), SqliteStore(tmp_path / "s.db")
    await worker.open()
    await other.open()
    try:
        appid = new_id()
        await other.insert_app(AppRecord(appid, b"wrapped", T0))
        first = await worker.get_app(appid)
        assert first is not None and first.require_signed_action is False
        # nothing committed since: the same row object, no query
        assert await worker.get_app(appid) is first
        assert await other.set_app_require_signed_action(appid, True) is True  # another worker's commit
        changed = await worker.get_app(appid)
        assert changed is not None and changed.require_signed_action is True
        assert await worker.set_app_require_signed_action(appid, False) is True  # this worker's own commit
        mine = await worker.get_app(appid)
        assert mine is not None and mine.require_signed_action is False
        assert await worker.get_app(new_id()) is None  # unknown apps are not cached
    finally:
        await worker.close()
        await other.close()
