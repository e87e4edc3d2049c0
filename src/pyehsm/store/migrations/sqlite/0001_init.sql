-- pyehsm schema 1: apps, keys, key versions, meta
CREATE TABLE meta (
    name  TEXT PRIMARY KEY,
    value BLOB NOT NULL
);

CREATE TABLE apps (
    appid          TEXT PRIMARY KEY,
    wrapped_apikey BLOB NOT NULL,
    created_ms     INTEGER NOT NULL
);

CREATE TABLE keys (
    keyid           TEXT PRIMARY KEY,
    appid           TEXT NOT NULL REFERENCES apps (appid),
    keyspec         TEXT NOT NULL,
    origin          TEXT NOT NULL,
    keyusage        TEXT NOT NULL,
    state           TEXT NOT NULL,
    alias           TEXT NOT NULL DEFAULT '',
    created_ms      INTEGER NOT NULL,
    expire_ms       INTEGER NOT NULL,
    primary_version INTEGER NOT NULL DEFAULT 1
);
CREATE INDEX keys_by_app ON keys (appid, created_ms);

CREATE TABLE key_versions (
    keyid            TEXT NOT NULL REFERENCES keys (keyid) ON DELETE CASCADE,
    version          INTEGER NOT NULL,
    wrapped_material BLOB,
    created_ms       INTEGER NOT NULL,
    PRIMARY KEY (keyid, version)
);
