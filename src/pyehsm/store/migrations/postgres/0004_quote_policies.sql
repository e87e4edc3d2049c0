-- pyehsm schema 4: quote policies (PostgreSQL mirror of sqlite/0004_quote_policies.sql)
-- UploadQuotePolicy / GetQuotePolicy, docs/protocol.md section 6.
-- A policy belongs to one app and is only ever read with its appid. Measurements are lower-case hex.
-- An SGX policy holds mr_enclave and mr_signer (64 hex digits each) and no TDX values. A TDX policy
-- (pyehsm extension) holds mr_td and any of rtmr0..rtmr3 (96 hex digits each) and no SGX values.
CREATE TABLE quote_policies (
    policy_id  TEXT PRIMARY KEY,
    appid      TEXT NOT NULL REFERENCES apps (appid),
    mr_enclave TEXT,
    mr_signer  TEXT,
    mr_td      TEXT,
    rtmr0      TEXT,
    rtmr1      TEXT,
    rtmr2      TEXT,
    rtmr3      TEXT,
    created_ms BIGINT NOT NULL,
    CHECK (
        (mr_enclave IS NOT NULL AND mr_signer IS NOT NULL AND mr_td IS NULL
         AND rtmr0 IS NULL AND rtmr1 IS NULL AND rtmr2 IS NULL AND rtmr3 IS NULL)
        OR (mr_td IS NOT NULL AND mr_enclave IS NULL AND mr_signer IS NULL)
    )
);
CREATE INDEX quote_policies_by_app ON quote_policies (appid, created_ms);
