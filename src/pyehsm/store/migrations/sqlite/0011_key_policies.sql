-- pyehsm schema 11: key policies (the AWS door's PutKeyPolicy / GetKeyPolicy; docs/aws-kms.md)
-- A key's policy documents by name (AWS has one, "default"): stored and returned, never evaluated. A key
-- without a row has the default document, made by the door. The rows go with the key.
CREATE TABLE key_policies (
    keyid       TEXT NOT NULL REFERENCES keys (keyid) ON DELETE CASCADE,
    policy_name TEXT NOT NULL,
    policy      TEXT NOT NULL,
    updated_ms  INTEGER NOT NULL,
    PRIMARY KEY (keyid, policy_name)
);
