-- pyehsm schema 1: apps, keys, key versions, meta (PostgreSQL mirror of sqlite/0001_init.sql),
-- plus the replay table shared by every node (UNLOGGED: a replay cache need not survive a server crash).
CREATE TABLE meta (
    name  TEXT PRIMARY KEY,
    value BYTEA NOT NULL
);

CREATE TABLE apps (
    appid          TEXT PRIMARY KEY,
    wrapped_apikey BYTEA NOT NULL,
    created_ms     BIGINT NOT NULL
);

CREATE TABLE keys (
    keyid           TEXT PRIMARY KEY,
    appid           TEXT NOT NULL REFERENCES apps (appid),
    keyspec         TEXT NOT NULL,
    origin          TEXT NOT NULL,
    keyusage        TEXT NOT NULL,
    state           TEXT NOT NULL,
    alias           TEXT NOT NULL DEFAULT '',
    created_ms      BIGINT NOT NULL,
    expire_ms       BIGINT NOT NULL,
    primary_version INTEGER NOT NULL DEFAULT 1
);
CREATE INDEX keys_by_app ON keys (appid, created_ms);

CREATE TABLE key_versions (
    keyid            TEXT NOT NULL REFERENCES keys (keyid) ON DELETE CASCADE,
    version          INTEGER NOT NULL,
    wrapped_material BYTEA,
    created_ms       BIGINT NOT NULL,
    PRIMARY KEY (keyid, version)
);

CREATE UNLOGGED TABLE replay (
    appid      TEXT NOT NULL,
    sign       TEXT NOT NULL,
    expires_ms BIGINT NOT NULL,
    PRIMARY KEY (appid, sign)
);
CREATE INDEX replay_by_expiry ON replay (expires_ms);
