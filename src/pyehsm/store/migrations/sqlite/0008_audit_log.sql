-- pyehsm schema 8: the audit trail's table, a mirror of postgres/0008_audit_log.sql so both stores keep
-- one schema (`pyehsm export`/`import` move it either way). Only the PostgreSQL sink writes it
-- (docs/audit.md); an embedded node's trail is its files.
CREATE TABLE IF NOT EXISTS audit_log (
    node TEXT NOT NULL,
    seq INTEGER NOT NULL CHECK (seq >= 0),
    line TEXT NOT NULL,
    PRIMARY KEY (node, seq)
);
