-- pyehsm schema 9: key metadata (PostgreSQL mirror of sqlite/0009_key_metadata.sql): description, scheduled deletion, aliases, tags
-- keys.description: UpdateKeyDescription; keys.deletion_ms: set while the key is pending deletion (state
-- 'pending_deletion'), the deletion job deletes it once deletion_ms has passed (keys_deletion_due).
-- key_aliases: an app's names for its keys (unique per app); key_tags: a key's tags. Both go with the key.
ALTER TABLE keys ADD COLUMN description TEXT NOT NULL DEFAULT '';
ALTER TABLE keys ADD COLUMN deletion_ms BIGINT;
CREATE INDEX keys_deletion_due ON keys (deletion_ms) WHERE deletion_ms IS NOT NULL;

CREATE TABLE key_aliases (
    appid      TEXT NOT NULL,
    alias      TEXT NOT NULL,
    keyid      TEXT NOT NULL REFERENCES keys (keyid) ON DELETE CASCADE,
    created_ms BIGINT NOT NULL,
    PRIMARY KEY (appid, alias)
);
CREATE INDEX key_aliases_by_key ON key_aliases (keyid);

CREATE TABLE key_tags (
    keyid     TEXT NOT NULL REFERENCES keys (keyid) ON DELETE CASCADE,
    tag_key   TEXT NOT NULL,
    tag_value TEXT NOT NULL,
    PRIMARY KEY (keyid, tag_key)
);
