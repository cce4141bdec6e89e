-- Staff roles (API.md round 3): support, operations, credit, admin; existing admins stay admin.
ALTER TABLE users DROP CONSTRAINT users_role_check;
ALTER TABLE users ADD CONSTRAINT users_role_check
    CHECK (role IN ('user', 'support', 'operations', 'credit', 'admin'));

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

