"""Meta rows (wrapped domain keys, settings) and the DK-wrapped values the domain-key rotation re-wraps."""

from __future__ import annotations

from dataclasses import dataclass

from pyehsm.store.base import WRAPPED_ROWS, WrappedValue
from pyehsm.store.sqlite.connection import SqliteBase, transaction


@dataclass(frozen=True, slots=True)
class _WrappedSql:
    """SQL for one DK-wrapped column (base.WRAPPED_KINDS): page, compare-and-swap, count per header."""

    select: str  # params: below, *cursor, limit -> rows (*key, *owner-only fields, wrapped)
    update: str  # params: new, *key, old
    count: str
    first: tuple[str | int, ...]  # a cursor below every real key


_WRAPPED_SQL = {
    "cmk": _WrappedSql(
        select="SELECT v.keyid, v.version, k.appid, k.keyspec, v.wrapped_material FROM key_versions v "
        "JOIN keys k ON k.keyid = v.keyid WHERE v.wrapped_material IS NOT NULL "
        "AND substr(v.wrapped_material, 1, 5) < ? AND (v.keyid, v.version) > (?, ?) "
        "ORDER BY v.keyid, v.version LIMIT ?",
        update="UPDATE key_versions SET wrapped_material = ? WHERE keyid = ? AND version = ? AND wrapped_material = ?",
        count="SELECT substr(wrapped_material, 1, 5), COUNT(*) FROM key_versions "
        "WHERE wrapped_material IS NOT NULL GROUP BY 1",
        first=("", -1),
    ),
    "apikey": _WrappedSql(
        select="SELECT appid, wrapped_apikey FROM apps WHERE substr(wrapped_apikey, 1, 5) < ? AND appid > ? "
        "ORDER BY appid LIMIT ?",
        update="UPDATE apps SET wrapped_apikey = ? WHERE appid = ? AND wrapped_apikey = ?",
        count="SELECT substr(wrapped_apikey, 1, 5), COUNT(*) FROM apps GROUP BY 1",
        first=("",),
    ),
    "secrets_key": _WrappedSql(
        select="SELECT appid, keyid, wrapped_material FROM secret_keys WHERE substr(wrapped_material, 1, 5) < ? "
        "AND appid > ? ORDER BY appid LIMIT ?",
        update="UPDATE secret_keys SET wrapped_material = ? WHERE appid = ? AND wrapped_material = ?",
        count="SELECT substr(wrapped_material, 1, 5), COUNT(*) FROM secret_keys GROUP BY 1",
        first=("",),
    ),
    "import_key": _WrappedSql(
        select="SELECT keyid, appid, token_id, wrapping_keyspec, wrapped_private_key FROM import_tokens "
        "WHERE substr(wrapped_private_key, 1, 5) < ? AND keyid > ? ORDER BY keyid LIMIT ?",
        update="UPDATE import_tokens SET wrapped_private_key = ? WHERE keyid = ? AND wrapped_private_key = ?",
        count="SELECT substr(wrapped_private_key, 1, 5), COUNT(*) FROM import_tokens GROUP BY 1",
        first=("",),
    ),
}


class MetaRows(SqliteBase):
    """The Store's meta and DK-wrapped-value methods."""

    async def get_meta(self, name: str) -> bytes | None:
        row = self.conn.execute("SELECT value FROM meta WHERE name = ?", (name,)).fetchone()
        return bytes(row[0]) if row else None

    async def put_meta(self, name: str, value: bytes) -> None:
        self.conn.execute(
            "INSERT INTO meta (name, value) VALUES (?, ?) ON CONFLICT (name) DO UPDATE SET value = excluded.value",
            (name, value),
        )

    async def insert_meta_if_absent(self, name: str, value: bytes) -> bytes:
        with transaction(self.conn):
            self.conn.execute("INSERT OR IGNORE INTO meta (name, value) VALUES (?, ?)", (name, value))
            row = self.conn.execute("SELECT value FROM meta WHERE name = ?", (name,)).fetchone()
        return bytes(row[0])

    async def replace_meta(
        self, expected: dict[str, bytes | None], values: dict[str, bytes], delete: tuple[str, ...] = ()
    ) -> bool:
        with transaction(self.conn):
            for name, want in expected.items():
                row = self.conn.execute("SELECT value FROM meta WHERE name = ?", (name,)).fetchone()
                if (bytes(row[0]) if row else None) != want:
                    return False
            for name, value in values.items():
                self.conn.execute(
                    "INSERT INTO meta (name, value) VALUES (?, ?) "
                    "ON CONFLICT (name) DO UPDATE SET value = excluded.value",
                    (name, value),
                )
            for name in delete:
                self.conn.execute("DELETE FROM meta WHERE name = ?", (name,))
        return True

    def read_meta_blocking(self, name: str) -> bytes | None:
        row = self.conn.execute("SELECT value FROM meta WHERE name = ?", (name,)).fetchone()
        return bytes(row[0]) if row else None

    # -- domain-key rotation (base.WRAPPED_KINDS) ----------------------------------------------------
    async def list_wrapped(
        self, kind: str, below: bytes, after: tuple[str | int, ...] | None, limit: int
    ) -> list[WrappedValue]:
        sql = _WRAPPED_SQL[kind]
        cursor = after if after is not None else sql.first
        rows = self.conn.execute(sql.select, (below, *cursor, limit)).fetchall()
        return [WRAPPED_ROWS[kind](kind, row) for row in rows]

    async def replace_wrapped(self, changes: list[tuple[WrappedValue, bytes]]) -> int:
        changed = 0
        with transaction(self.conn):
            for value, new in changes:
                cur = self.conn.execute(_WRAPPED_SQL[value.kind].update, (new, *value.key, value.wrapped))
                changed += cur.rowcount
        return changed

    async def count_wrapped(self, kind: str) -> dict[bytes, int]:
        rows = self.conn.execute(_WRAPPED_SQL[kind].count).fetchall()
        return {bytes(prefix): int(n) for prefix, n in rows}
