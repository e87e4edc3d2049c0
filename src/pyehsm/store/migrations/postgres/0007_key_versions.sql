-- pyehsm schema 7: key versions first-class (PostgreSQL mirror of sqlite/0007_key_versions.sql)
-- keys.rotation_period_days / next_rotation_ms: automatic rotation (NULL: off); the rotation job finds due
-- keys through keys_rotation_due. key_versions.state: a disabled version keeps its material but is refused
-- for decryption (minimum decryption version); source: how the version was made (store/records.py).
ALTER TABLE keys ADD COLUMN rotation_period_days INTEGER CHECK (rotation_period_days > 0);
ALTER TABLE keys ADD COLUMN next_rotation_ms BIGINT;
CREATE INDEX keys_rotation_due ON keys (next_rotation_ms) WHERE next_rotation_ms IS NOT NULL;
ALTER TABLE key_versions ADD COLUMN state TEXT NOT NULL DEFAULT 'enabled'
    CHECK (state IN ('enabled', 'disabled'));
ALTER TABLE key_versions ADD COLUMN source TEXT NOT NULL DEFAULT 'created'
    CHECK (source IN ('created', 'on_demand', 'automatic', 'imported'));
