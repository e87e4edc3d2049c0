-- pyehsm schema 14: the key lookups of a million keys (bench/keycount.py, bench/README.md).
-- keys_listing: the index ListKey's pages walk (store/sqlite/keys.py list_keys: WHERE appid = ? AND
-- (created_ms, keyid) > (?, ?) ORDER BY created_ms, keyid LIMIT ?). keys_by_app (appid, created_ms) lacked
-- keyid, so a page sorted every key of the app created in the same millisecond (a bulk load: all of them)
-- before it could skip to the cursor; with keyid in the index a page is a range scan of LIMIT rows.
CREATE INDEX keys_listing ON keys (appid, created_ms, keyid);
DROP INDEX keys_by_app;
-- key_versions becomes a WITHOUT ROWID table: its rows live in the B-tree of their primary key (keyid,
-- version), so the request path's cache miss (get_key_and_primary: the key row joined with its primary
-- version) walks one B-tree for the version instead of the key's autoindex and then the table (~10 us less
-- per miss at 10^5 keys). Same columns, constraints and rows; nothing refers to key_versions.
CREATE TABLE key_versions_new (
    keyid            TEXT NOT NULL REFERENCES keys (keyid) ON DELETE CASCADE,
    version          INTEGER NOT NULL,
    wrapped_material BLOB,
    created_ms       INTEGER NOT NULL,
    state            TEXT NOT NULL DEFAULT 'enabled' CHECK (state IN ('enabled', 'disabled')),
    source           TEXT NOT NULL DEFAULT 'created'
                     CHECK (source IN ('created', 'on_demand', 'automatic', 'imported')),
    material_id      TEXT,
    PRIMARY KEY (keyid, version)
) WITHOUT ROWID;
INSERT INTO key_versions_new (keyid, version, wrapped_material, created_ms, state, source, material_id)
    SELECT keyid, version, wrapped_material, created_ms, state, source, material_id FROM key_versions;
DROP TABLE key_versions;
ALTER TABLE key_versions_new RENAME TO key_versions;
