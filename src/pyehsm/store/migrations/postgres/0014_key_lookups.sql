-- pyehsm schema 14: the index ListKey's pages walk (mirror of sqlite/0014_key_lookups.sql; list_keys in
-- store/postgres/keys.py: WHERE appid = %s AND (created_ms, keyid) > (%s, %s) ORDER BY created_ms, keyid).
CREATE INDEX keys_listing ON keys (appid, created_ms, keyid);
DROP INDEX keys_by_app;
