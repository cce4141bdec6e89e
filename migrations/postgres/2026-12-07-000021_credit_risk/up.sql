-- Credit risk rules of hardening II (issue 27).
-- On-time credit counts only principal that was still owed when its part was billed (the
-- statement closed on it), and a refund takes back what the refunded principal had earned:
-- each part keeps the principal owed at billing and the on-time units it was credited.
ALTER TABLE installments ADD COLUMN billed_principal_minor BIGINT NOT NULL DEFAULT 0;
ALTER TABLE installments ADD COLUMN on_time_units BIGINT NOT NULL DEFAULT 0;
-- A part converted into a bill plan names the plan and how much of its principal the plan
-- carries, so a refund of the purchase cancels that debt in the plan before returning cash.
ALTER TABLE installments ADD COLUMN converted_into TEXT NULL;
ALTER TABLE installments ADD COLUMN converted_minor BIGINT NOT NULL DEFAULT 0;
CREATE INDEX installments_converted_into ON installments (converted_into) WHERE converted_into IS NOT NULL;
-- Parts billed before this migration: their principal then is not known; what they still
-- carry is the best reading (a prepaid part carries its principal as paid, so it counts).
UPDATE installments SET billed_principal_minor = principal_minor WHERE fee_billed;
-- Parts credited before this migration: the units the rule then gave them with the default
-- model (one per 100.00 of principal, at most 3), so a refund can take them back too.
UPDATE installments SET on_time_units = LEAST(principal_minor / 10000, 3) WHERE on_time_credited;
