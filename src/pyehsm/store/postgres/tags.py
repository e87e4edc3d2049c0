"""Key tags (TagKey, UntagKey, ListKeyTags); a key's tags go with the key."""

from __future__ import annotations

from pyehsm.store.postgres.connection import PostgresBase


class _TooManyTags(Exception):
    def __init__(self, count: int) -> None:
        super().__init__(count)
        self.count = count


class TagRows(PostgresBase):
    """The Store's tag methods (each reaches the tags through the app's own key row)."""

    async def tag_key(self, appid: str, keyid: str, tags: dict[str, str], max_tags: int) -> int | None:
        try:
            async with self.pool.connection() as conn, conn.transaction():
                # The key's row lock queues concurrent taggers of one key, so the count below is exact.
                cur = await conn.execute(
                    "SELECT 1 FROM keys WHERE keyid = %s AND appid = %s FOR UPDATE", (keyid, appid)
                )
                if await cur.fetchone() is None:
                    return None
                async with conn.cursor() as many:
                    await many.executemany(
                        "INSERT INTO key_tags (keyid, tag_key, tag_value) VALUES (%s, %s, %s) "
                        "ON CONFLICT (keyid, tag_key) DO UPDATE SET tag_value = excluded.tag_value",
                        [(keyid, k, v) for k, v in tags.items()],
                    )
                cur = await conn.execute("SELECT COUNT(*) FROM key_tags WHERE keyid = %s", (keyid,))
                row = await cur.fetchone()
                count = int(row[0]) if row else 0
                if count > max_tags:
                    raise _TooManyTags(count)  # rolls the whole change back
                return count
        except _TooManyTags as exc:
            return exc.count

    async def untag_key(self, appid: str, keyid: str, tag_keys: list[str]) -> bool:
        rows = await self.query_all(
            "WITH k AS (SELECT keyid FROM keys WHERE keyid = %s AND appid = %s), "
            "d AS (DELETE FROM key_tags WHERE keyid IN (SELECT keyid FROM k) AND tag_key = ANY(%s)) "
            "SELECT 1 FROM k",
            (keyid, appid, tag_keys),
        )
        return len(rows) == 1

    async def list_key_tags(self, appid: str, keyid: str) -> dict[str, str]:
        rows = await self.query_all(
            "SELECT t.tag_key, t.tag_value FROM key_tags t JOIN keys k ON k.keyid = t.keyid "
            'WHERE t.keyid = %s AND k.appid = %s ORDER BY t.tag_key COLLATE "C"',
            (keyid, appid),
        )
        return {str(r[0]): str(r[1]) for r in rows}
