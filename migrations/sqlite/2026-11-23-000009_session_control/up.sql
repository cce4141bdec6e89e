-- Session control (see the PostgreSQL twin).
ALTER TABLE users ADD COLUMN token_version BIGINT NOT NULL DEFAULT 0;
ALTER TABLE refresh_tokens ADD COLUMN family_started_at TIMESTAMP NOT NULL DEFAULT '1970-01-01 00:00:00';
UPDATE refresh_tokens SET family_started_at =
    (SELECT min(f.created_at) FROM refresh_tokens f WHERE f.family_id = refresh_tokens.family_id);
CREATE INDEX refresh_tokens_user ON refresh_tokens (user_id) WHERE revoked_at IS NULL;
UPDATE merchants SET name = name || ' (' || id || ')'
 WHERE EXISTS (SELECT 1 FROM merchants o WHERE lower(o.name) = lower(merchants.name) AND o.id < merchants.id);
CREATE UNIQUE INDEX merchants_name_unique ON merchants (lower(name));
