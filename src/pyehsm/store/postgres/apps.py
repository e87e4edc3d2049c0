"""App rows (read through the row cache)."""

from __future__ import annotations

from pyehsm.store.cache import APP_CHANGED
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
        cache = self.cache
        if cache is None:
            return await self._read_app(appid)
        cached = cache.app(appid)
        if cached is not None:
            return cached
        epoch = cache.epoch
        record = await self._read_app(appid)
        if record is not None:
            cache.keep_app(record, epoch)
        return record

    async def _read_app(self, appid: str) -> AppRecord | None:
        row = await self.query_one(
            "SELECT appid, wrapped_apikey, created_ms, require_signed_action FROM apps WHERE appid = %s", (appid,)
        )
        return AppRecord(row[0], bytes(row[1]), int(row[2]), bool(row[3])) if row else None

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
