-- A credit-line change waiting for a second admin (four eyes). Nothing on the account
-- changes when it is written; an approval applies it once, in the approval's transaction.
CREATE TABLE credit_requests (
    id                   TEXT PRIMARY KEY,
    user_id              TEXT NOT NULL REFERENCES users (id),
    requested_by         TEXT NOT NULL REFERENCES users (id),
    line                 TEXT NOT NULL,
    limit_minor          BIGINT,
    override_eligibility BOOLEAN NOT NULL DEFAULT FALSE,
    reason               TEXT NOT NULL,
    state                TEXT NOT NULL DEFAULT 'pending',
    decided_by           TEXT REFERENCES users (id),
    decided_at           TIMESTAMP,
    decision_reason      TEXT,
    created_at           TIMESTAMP NOT NULL,
    CONSTRAINT credit_request_line CHECK ((line = 'general' AND limit_minor > 0)
        OR (line = 'secured' AND limit_minor IS NULL)),
    CONSTRAINT credit_request_state CHECK (state IN ('pending', 'approved', 'rejected')),
    -- Decided exactly when no longer pending, and never by the admin who asked.
    CONSTRAINT credit_request_decision CHECK ((state = 'pending')
        = (decided_by IS NULL AND decided_at IS NULL AND decision_reason IS NULL)),
    CONSTRAINT credit_request_four_eyes CHECK (decided_by IS NULL OR decided_by <> requested_by)
);
CREATE INDEX credit_requests_state ON credit_requests (state, id);
