"""SQL of the SQLite store that depends on its driver's placeholder style; the column lists and row
decoders both stores share are in store/rows.py."""

SECRET_LIVE = "(planned_delete_ms IS NULL OR planned_delete_ms > ?)"
