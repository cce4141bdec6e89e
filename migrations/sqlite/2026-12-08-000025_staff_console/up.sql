-- Staff roles (API.md round 3): support, operations, credit, admin; existing admins stay
-- admin. SQLite cannot alter a CHECK and users is referenced by most tables, so the
-- documented way to relax a CHECK in place is used: edit the stored CREATE TABLE text
-- (no row changes its format), then reload the schema.
PRAGMA writable_schema = ON;
UPDATE sqlite_master
SET sql = replace(sql, 'CHECK (role IN (''user'', ''admin''))',
                  'CHECK (role IN (''user'', ''support'', ''operations'', ''credit'', ''admin''))')
WHERE type = 'table' AND name = 'users';
PRAGMA writable_schema = RESET;

-- The operations console (issue 29): server-side sessions (the cookie carries a random token,
-- only its SHA-256 is stored), TOTP enrolment and recovery codes of staff members.
CREATE TABLE console_sessions (
    token_hash     TEXT PRIMARY KEY,
    user_id        TEXT NOT NULL REFERENCES users (id),
    csrf_token     TEXT NOT NULL,
    -- Whether this session passed the second factor (or none was required when it began).
    second_factor  BOOLEAN NOT NULL DEFAULT FALSE,
    -- When a fresh TOTP code last confirmed a sensitive action (refunds, approvals).
    stepped_up_at  TIMESTAMP,
    created_at     TIMESTAMP NOT NULL,
    last_seen_at   TIMESTAMP NOT NULL
);
CREATE INDEX console_sessions_user ON console_sessions (user_id);

CREATE TABLE staff_totp (
    user_id       TEXT PRIMARY KEY REFERENCES users (id),
    -- Base32, as the authenticator app is given it.
    secret        TEXT NOT NULL,
    -- NULL while enrolling: the first correct code confirms it.
    confirmed_at  TIMESTAMP,
    -- The last time step a code was accepted for: a code works once.
    last_step     BIGINT NOT NULL DEFAULT 0
);

CREATE TABLE staff_recovery_codes (
    user_id    TEXT NOT NULL REFERENCES users (id),
    code_hash  TEXT NOT NULL,
    used_at    TIMESTAMP,
    PRIMARY KEY (user_id, code_hash)
);

