-- pyehsm schema 3: BYOK import parameters (PostgreSQL mirror of sqlite/0003_import_tokens.sql)
-- One row per external key awaiting material: the one-time wrapping key pair (its private half wrapped
-- by the domain key with AAD "pyehsm:import-key:v1|appid|keyid|token_id|wrapping_keyspec") and the id
-- the import token names. A newer GetParametersForImport replaces the row; a successful import deletes
-- it in the same transaction that installs the material; expired rows are swept (expires_ms).
CREATE TABLE import_tokens (
    keyid               TEXT PRIMARY KEY REFERENCES keys (keyid) ON DELETE CASCADE,
    appid               TEXT NOT NULL,
    token_id            TEXT NOT NULL,
    wrapping_keyspec    TEXT NOT NULL,
    public_key          BYTEA NOT NULL,
    wrapped_private_key BYTEA NOT NULL,
    created_ms          BIGINT NOT NULL,
    expires_ms          BIGINT NOT NULL,
    failures            INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX import_tokens_by_expiry ON import_tokens (expires_ms);
