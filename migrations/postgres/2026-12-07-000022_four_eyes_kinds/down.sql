DELETE FROM credit_requests WHERE kind <> 'credit_line';
ALTER TABLE credit_requests DROP CONSTRAINT credit_request_kind;
ALTER TABLE credit_requests ADD CONSTRAINT credit_request_line CHECK ((line = 'general' AND limit_minor > 0)
    OR (line = 'secured' AND limit_minor IS NULL));
ALTER TABLE credit_requests ALTER COLUMN line SET NOT NULL;
ALTER TABLE credit_requests DROP COLUMN amount_minor;
ALTER TABLE credit_requests DROP COLUMN purchase_id;
ALTER TABLE credit_requests DROP COLUMN kind;
