-- Session control (issue 12): every access token carries the user's token version; raising
-- it (log out everywhere, a password change, a detected refresh-token reuse, freezing an
-- admin) ends every access token at once. A refresh family keeps when it started, for its
-- absolute lifetime.
ALTER TABLE users ADD COLUMN token_version BIGINT NOT NULL DEFAULT 0;
ALTER TABLE refresh_tokens ADD COLUMN family_started_at TIMESTAMP;
UPDATE refresh_tokens t SET family_started_at =
    (SELECT min(f.created_at) FROM refresh_tokens f WHERE f.family_id = t.family_id);
ALTER TABLE refresh_tokens ALTER COLUMN family_started_at SET NOT NULL;
CREATE INDEX refresh_tokens_user ON refresh_tokens (user_id) WHERE revoked_at IS NULL;
-- Merchant names are unique (case-insensitively), so a buyer cannot be shown two "Acme".
-- Existing twins keep the oldest name; later ones get their id appended.
UPDATE merchants m SET name = m.name || ' (' || m.id || ')'
 WHERE EXISTS (SELECT 1 FROM merchants o WHERE lower(o.name) = lower(m.name) AND o.id < m.id);
CREATE UNIQUE INDEX merchants_name_unique ON merchants (lower(name));
