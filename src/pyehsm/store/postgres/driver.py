"""psycopg, the "postgresql" extra: every module of this package imports it from here, so a node without the
extra gets one clear MissingExtraError (the embedded default never imports this package)."""

from __future__ import annotations

from pyehsm.extras import POSTGRESQL, MissingExtraError

try:
    import psycopg
    from psycopg import sql
    from psycopg.conninfo import conninfo_to_dict
    from psycopg_pool import AsyncConnectionPool, PoolTimeout
except ImportError as exc:
    raise MissingExtraError(*POSTGRESQL) from exc

__all__ = ["AsyncConnectionPool", "PoolTimeout", "conninfo_to_dict", "psycopg", "sql"]
