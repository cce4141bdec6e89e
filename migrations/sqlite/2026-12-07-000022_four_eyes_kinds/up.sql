-- Four eyes beyond credit lines (issue 27): a large refund or a refund of a staff member's
-- purchase, and freezing or unfreezing a staff member, wait for a second admin as credit-
-- line changes do, in the same table and the same decide-once flow. SQLite cannot alter a
-- CHECK, so the table is rebuilt (no table references it).
CREATE TABLE credit_requests_new (
    id                   TEXT PRIMARY KEY,
    user_id              TEXT NOT NULL REFERENCES users (id),
    requested_by         TEXT NOT NULL REFERENCES users (id),
    kind                 TEXT NOT NULL DEFAULT 'credit_line',
    line                 TEXT,
    limit_minor          BIGINT,
    override_eligibility BOOLEAN NOT NULL DEFAULT FALSE,
    purchase_id          TEXT REFERENCES purchases (id),
    amount_minor         BIGINT,
    reason               TEXT NOT NULL,
    state                TEXT NOT NULL DEFAULT 'pending',
    decided_by           TEXT REFERENCES users (id),
    decided_at           TIMESTAMP,
    decision_reason      TEXT,
    created_at           TIMESTAMP NOT NULL,
    CONSTRAINT credit_request_kind CHECK (
        (kind = 'credit_line' AND purchase_id IS NULL AND amount_minor IS NULL
            AND ((line = 'general' AND limit_minor > 0) OR (line = 'secured' AND limit_minor IS NULL)))
        OR (kind = 'refund' AND purchase_id IS NOT NULL AND amount_minor > 0
            AND line IS NULL AND limit_minor IS NULL AND NOT override_eligibility)
        OR (kind IN ('freeze', 'unfreeze') AND purchase_id IS NULL AND amount_minor IS NULL
            AND line IS NULL AND limit_minor IS NULL AND NOT override_eligibility)),
    CONSTRAINT credit_request_state CHECK (state IN ('pending', 'approved', 'rejected')),
    -- Decided exactly when no longer pending, and never by the admin who asked.
    CONSTRAINT credit_request_decision CHECK ((state = 'pending')
        = (decided_by IS NULL AND decided_at IS NULL AND decision_reason IS NULL)),
    CONSTRAINT credit_request_four_eyes CHECK (decided_by IS NULL OR decided_by <> requested_by)
);
INSERT INTO credit_requests_new (id, user_id, requested_by, line, limit_minor, override_eligibility, reason,
    state, decided_by, decided_at, decision_reason, created_at)
SELECT id, user_id, requested_by, line, limit_minor, override_eligibility, reason, state, decided_by,
    decided_at, decision_reason, created_at
FROM credit_requests;
DROP TABLE credit_requests;
ALTER TABLE credit_requests_new RENAME TO credit_requests;
CREATE INDEX credit_requests_state ON credit_requests (state, id);
