"""App rows (read through the row cache)."""

from __future__ import annotations

import functools

from pyehsm.store.cache import APP_CHANGED
from pyehsm.store.postgres.batched import BatchedLookup
from pyehsm.store.postgres.connection import INVALIDATION_CHANNEL, PostgresBase
from pyehsm.store.records import AppRecord


class AppRows(PostgresBase):
    """The Store's app methods."""

    async def insert_app(self, app: AppRecord) -> None:
        await self.query_one(
            "INSERT INTO apps (appid, wrapped_apikey, created_ms) VALUES (%s, %s, %s) RETURNING 1",
            (app.appid, app.wrapped_apikey, app.created_ms),
        )

    async def get_app(self, appid: str) -> AppRecord | None:
        cached = self.cache.app(appid) if self.cache is not None else None
        if cached is not None:
            return cached
        return await self._app_reads.get(appid)  # grouped with concurrent misses, kept by the batch

    @functools.cached_property
    def _app_reads(self) -> BatchedLookup[str, AppRecord]:
        return BatchedLookup(self._read_apps)

    async def _read_apps(self, appids: list[str]) -> dict[str, AppRecord]:
        cache = self.cache
        epoch = cache.epoch if cache is not None else 0  # a row read across an invalidation is not kept
        rows = await self.query_grouped(
            "SELECT appid, wrapped_apikey, created_ms, require_signed_action FROM apps WHERE appid = ANY(%s::text[])",
            (appids,),
        )
        found = {}
        for row in rows:
            record = AppRecord(row[0], bytes(row[1]), int(row[2]), bool(row[3]))
            if cache is not None:
                cache.keep_app(record, epoch)
            found[record.appid] = record
        return found

    async def set_app_require_signed_action(self, appid: str, required: bool) -> bool:
        # Other nodes' caches drop the app row when this commits (NOTIFY in the same transaction).
        try:
            rows = await self.query_all(
                "WITH u AS (UPDATE apps SET require_signed_action = %s WHERE appid = %s RETURNING appid) "
                "SELECT appid, pg_notify(%s, 'a:' || appid) FROM u",
                (int(required), appid, INVALIDATION_CHANNEL),
            )
        finally:
            if self.cache is not None:  # the NOTIFY evicts it too; this node need not wait for it
                self.cache.changed(APP_CHANGED, appid)
        return len(rows) == 1
