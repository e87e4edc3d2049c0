-- pyehsm schema 12: imported key material that expires, is deleted, or is imported into a new version
-- (docs/byok.md). keys.material_expires_ms: when the key's imported material expires (ImportKeyMaterial with
-- KEY_MATERIAL_EXPIRES and ValidTo; NULL: never); then the key goes back to pending_import and the material of
-- its primary version is deleted (the byok sweep, and at use time). key_versions.material_id: the keyed
-- fingerprint of a version's imported material (NULL for material made by pyehsm), kept when the material is
-- deleted so that only the same material can be imported again, and shown as AWS's KeyMaterialId.
ALTER TABLE keys ADD COLUMN material_expires_ms INTEGER;
CREATE INDEX keys_material_expiry ON keys (material_expires_ms) WHERE material_expires_ms IS NOT NULL;
ALTER TABLE key_versions ADD COLUMN material_id TEXT;
