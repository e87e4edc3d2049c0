-- pyehsm schema 10: a key's minimum decryption version (UpdateKeyVersionPolicy; docs/key-rotation.md)
-- Ciphertexts naming a version below it are refused by Decrypt and ReEncrypt; the versions' material is kept,
-- so lowering it restores them. On the key row so the request path (row cache) sees it with no extra read.
ALTER TABLE keys ADD COLUMN min_decryption_version INTEGER NOT NULL DEFAULT 1 CHECK (min_decryption_version >= 1);
