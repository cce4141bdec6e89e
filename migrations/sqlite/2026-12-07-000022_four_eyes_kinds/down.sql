CREATE TABLE credit_requests_old (
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
    CONSTRAINT credit_request_decision CHECK ((state = 'pending')
        = (decided_by IS NULL AND decided_at IS NULL AND decision_reason IS NULL)),
    CONSTRAINT credit_request_four_eyes CHECK (decided_by IS NULL OR decided_by <> requested_by)
);
INSERT INTO credit_requests_old (id, user_id, requested_by, line, limit_minor, override_eligibility, reason,
    state, decided_by, decided_at, decision_reason, created_at)
SELECT id, user_id, requested_by, line, limit_minor, override_eligibility, reason, state, decided_by,
    decided_at, decision_reason, created_at
FROM credit_requests WHERE kind = 'credit_line';
DROP TABLE credit_requests;
ALTER TABLE credit_requests_old RENAME TO credit_requests;
CREATE INDEX credit_requests_state ON credit_requests (state, id);
