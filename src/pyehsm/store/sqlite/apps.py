"""App rows."""

from __future__ import annotations

from pyehsm.store.records import AppRecord
from pyehsm.store.sqlite.connection import SqliteBase, transaction


class AppRows(SqliteBase):
    """The Store's app methods."""

    async def insert_app(self, app: AppRecord) -> None:
        self.conn.execute(
            "INSERT INTO apps (appid, wrapped_apikey, created_ms) VALUES (?, ?, ?)",
            (app.appid, app.wrapped_apikey, app.created_ms),
        )

    async def get_app(self, appid: str) -> AppRecord | None:
        cached = self._apps.get(self.commit_stamp(), appid)  # valid while no connection has committed since
        if cached is not None:
            return cached
        row = self.conn.execute(
            "SELECT appid, wrapped_apikey, created_ms, require_signed_action FROM apps WHERE appid = ?", (appid,)
        ).fetchone()
        if not row:
            return None
        record = AppRecord(row[0], bytes(row[1]), row[2], bool(row[3]))
        self._apps.put(appid, record)
        return record

    async def set_app_require_signed_action(self, appid: str, required: bool) -> bool:
        with transaction(self.conn):
            cur = self.conn.execute("UPDATE apps SET require_signed_action = ? WHERE appid = ?", (int(required), appid))
        return cur.rowcount == 1
