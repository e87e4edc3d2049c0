-- pyehsm schema 8: the audit trail's PostgreSQL sink (docs/audit.md, "PostgreSQL sink").
-- One chain per node: (node, seq) is unique; `line` is the record's canonical bytes as text, hashed by
-- the verifier exactly as stored. Append-only: a statement trigger refuses UPDATE, DELETE and TRUNCATE
-- for every role (a superuser can drop the trigger; the signed checkpoints make that evident).
CREATE TABLE IF NOT EXISTS audit_log (
    node TEXT NOT NULL,
    seq BIGINT NOT NULL CHECK (seq >= 0),
    line TEXT NOT NULL,
    PRIMARY KEY (node, seq)
);
CREATE OR REPLACE FUNCTION audit_log_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'audit_log is append-only';
END
$$;
DROP TRIGGER IF EXISTS audit_log_append_only ON audit_log;
CREATE TRIGGER audit_log_append_only BEFORE UPDATE OR DELETE OR TRUNCATE ON audit_log
    FOR EACH STATEMENT EXECUTE FUNCTION audit_log_append_only();
