DROP INDEX merchants_name_unique;
DROP INDEX refresh_tokens_user;
ALTER TABLE refresh_tokens DROP COLUMN family_started_at;
ALTER TABLE users DROP COLUMN token_version;
