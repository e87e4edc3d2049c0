-- pyehsm schema 5: per-app settings
-- require_signed_action (0/1): the app's requests must carry the signed "action" field (pyehsm's
-- signed-action form, docs/operations.md); default off, so Intel's SDKs keep working unchanged.
-- An integer on both stores (not BOOLEAN) so `pyehsm export`/`import` move it either way.
ALTER TABLE apps ADD COLUMN require_signed_action INTEGER NOT NULL DEFAULT 0
    CHECK (require_signed_action IN (0, 1));
