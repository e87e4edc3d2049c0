-- pyehsm schema 13: attestation-gated key release (PostgreSQL mirror of sqlite/0013_key_release.sql)
-- keys.release_policy / secrets.release_policy: the canonical JSON of the release policy (NULL: none). On the
-- key row so the request path (row cache) sees it with no extra read.
-- attestation_nonces: GetAttestationChallenge's single-use nonces (hex), per app, until expires_ms; a gated
-- request deletes its nonce (accepted once). Expired rows are removed when new challenges are issued.
ALTER TABLE keys ADD COLUMN release_policy TEXT;
ALTER TABLE secrets ADD COLUMN release_policy TEXT;

CREATE TABLE attestation_nonces (
    nonce      TEXT PRIMARY KEY,
    appid      TEXT NOT NULL,
    expires_ms BIGINT NOT NULL
);
CREATE INDEX attestation_nonces_expiry ON attestation_nonces (expires_ms);
CREATE INDEX attestation_nonces_by_app ON attestation_nonces (appid, expires_ms);
