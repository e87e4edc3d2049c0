"""The SQLite store's row helpers: the shared column lists and decoders (store/rows.py) and the SQL
that uses this driver's placeholder style."""

from pyehsm.store.rows import (
    CANCELLED_STATE,
    DAY_MS,
    IMPORT_COLUMNS,
    KEY_COLUMNS,
    QUOTE_POLICY_COLUMNS,
    SECRET_COLUMNS,
    VERSION_COLUMNS,
    key_from_row,
    secret_from_row,
    version_from_row,
    version_params,
)

SECRET_LIVE = "(planned_delete_ms IS NULL OR planned_delete_ms > ?)"

__all__ = [
    "CANCELLED_STATE",
    "DAY_MS",
    "IMPORT_COLUMNS",
    "KEY_COLUMNS",
    "QUOTE_POLICY_COLUMNS",
    "SECRET_COLUMNS",
    "SECRET_LIVE",
    "VERSION_COLUMNS",
    "key_from_row",
    "secret_from_row",
    "version_from_row",
    "version_params",
]
