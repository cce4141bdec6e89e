-- Four eyes beyond credit lines (issue 27): a large refund or a refund of a staff member's
-- purchase, and freezing or unfreezing a staff member, wait for a second admin as credit-
-- line changes do, in the same table and the same decide-once flow.
ALTER TABLE credit_requests ADD COLUMN kind TEXT NOT NULL DEFAULT 'credit_line';
ALTER TABLE credit_requests ADD COLUMN purchase_id TEXT NULL REFERENCES purchases (id);
ALTER TABLE credit_requests ADD COLUMN amount_minor BIGINT NULL;
ALTER TABLE credit_requests ALTER COLUMN line DROP NOT NULL;
ALTER TABLE credit_requests DROP CONSTRAINT credit_request_line;
ALTER TABLE credit_requests ADD CONSTRAINT credit_request_kind CHECK (
    (kind = 'credit_line' AND purchase_id IS NULL AND amount_minor IS NULL
        AND ((line = 'general' AND limit_minor > 0) OR (line = 'secured' AND limit_minor IS NULL)))
    OR (kind = 'refund' AND purchase_id IS NOT NULL AND amount_minor > 0
        AND line IS NULL AND limit_minor IS NULL AND NOT override_eligibility)
    OR (kind IN ('freeze', 'unfreeze') AND purchase_id IS NULL AND amount_minor IS NULL
        AND line IS NULL AND limit_minor IS NULL AND NOT override_eligibility));
