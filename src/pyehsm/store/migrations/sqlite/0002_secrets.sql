-- pyehsm schema 2: the secrets manager (docs/protocol.md section 5)
-- Values are envelope-encrypted: each version holds a fresh data key wrapped by a CMK (or the app's
-- default secrets key) and the value sealed under that data key. Nothing here is plaintext.

-- The per-app default secrets key (used when CreateSecret names no encryptionKeyId). It lives outside
-- the keys table, so no key action (ListKey, DeleteKey, DeleteAllKey, Encrypt ...) can see it.
-- Its material is wrapped by the domain key with AAD "pyehsm:secrets-key:v1|appid|keyid".
CREATE TABLE secret_keys (
    appid            TEXT PRIMARY KEY REFERENCES apps (appid),
    keyid            TEXT NOT NULL UNIQUE,
    wrapped_material BLOB NOT NULL,
    created_ms       INTEGER NOT NULL
);

CREATE TABLE secrets (
    secret_id         TEXT PRIMARY KEY,
    appid             TEXT NOT NULL REFERENCES apps (appid),
    name              TEXT NOT NULL,
    description       TEXT NOT NULL DEFAULT '',
    encryption_keyid  TEXT,
    rotation_interval TEXT NOT NULL,
    created_ms        INTEGER NOT NULL,
    updated_ms        INTEGER NOT NULL,
    last_rotation_ms  INTEGER NOT NULL DEFAULT 0,
    latest_version    INTEGER NOT NULL,
    planned_delete_ms INTEGER,
    UNIQUE (appid, name)
);
CREATE INDEX secrets_by_app ON secrets (appid, created_ms);
CREATE INDEX secrets_pending_delete ON secrets (planned_delete_ms) WHERE planned_delete_ms IS NOT NULL;

CREATE TABLE secret_versions (
    secret_id        TEXT NOT NULL REFERENCES secrets (secret_id) ON DELETE CASCADE,
    version          INTEGER NOT NULL,
    wrapped_data_key BLOB NOT NULL,
    sealed_value     BLOB NOT NULL,
    created_ms       INTEGER NOT NULL,
    PRIMARY KEY (secret_id, version)
);
