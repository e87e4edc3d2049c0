"""Key tags (TagKey, UntagKey, ListKeyTags); a key's tags go with the key."""

from __future__ import annotations

from pyehsm.store.sqlite.connection import SqliteBase, transaction


class _TooManyTags(Exception):
    def __init__(self, count: int) -> None:
        super().__init__(count)
        self.count = count


class TagRows(SqliteBase):
    """The Store's tag methods (each reaches the tags through the app's own key row)."""

    async def tag_key(self, appid: str, keyid: str, tags: dict[str, str], max_tags: int) -> int | None:
        try:
            with transaction(self.conn):
                if (
                    self.conn.execute("SELECT 1 FROM keys WHERE keyid = ? AND appid = ?", (keyid, appid)).fetchone()
                    is None
                ):
                    return None
                self.conn.executemany(
                    "INSERT INTO key_tags (keyid, tag_key, tag_value) VALUES (?, ?, ?) "
                    "ON CONFLICT (keyid, tag_key) DO UPDATE SET tag_value = excluded.tag_value",
                    [(keyid, k, v) for k, v in tags.items()],
                )
                count = int(self.conn.execute("SELECT COUNT(*) FROM key_tags WHERE keyid = ?", (keyid,)).fetchone()[0])
                if count > max_tags:
                    raise _TooManyTags(count)  # rolls the whole change back
                return count
        except _TooManyTags as exc:
            return exc.count

    async def untag_key(self, appid: str, keyid: str, tag_keys: list[str]) -> bool:
        with transaction(self.conn):
            if self.conn.execute("SELECT 1 FROM keys WHERE keyid = ? AND appid = ?", (keyid, appid)).fetchone() is None:
                return False
            self.conn.executemany(
                "DELETE FROM key_tags WHERE keyid = ? AND tag_key = ?", [(keyid, k) for k in tag_keys]
            )
        return True

    async def list_key_tags(self, appid: str, keyid: str) -> dict[str, str]:
        rows = self.conn.execute(
            "SELECT t.tag_key, t.tag_value FROM key_tags t JOIN keys k ON k.keyid = t.keyid "
            "WHERE t.keyid = ? AND k.appid = ? ORDER BY t.tag_key",
            (keyid, appid),
        ).fetchall()
        return {str(r[0]): str(r[1]) for r in rows}
