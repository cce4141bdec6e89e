DELETE FROM merchants WHERE system;
ALTER TABLE merchants DROP COLUMN system;
ALTER TABLE limit_history DROP CONSTRAINT limit_history_reason;
ALTER TABLE limit_history ADD CONSTRAINT limit_history_reason CHECK (reason IN ('vault_lock', 'vault_unlock',
    'upgrade', 'downgrade', 'collateral_settlement', 'admin_adjustment'));
DROP TABLE autopay;
DROP TABLE refunds;
ALTER TABLE purchases DROP COLUMN auto_confirmed;
ALTER TABLE purchases DROP CONSTRAINT purchase_refunded;
ALTER TABLE purchases DROP COLUMN refunded_minor;
ALTER TABLE installments DROP CONSTRAINT installment_principal;
ALTER TABLE installments ADD CONSTRAINT installment_principal
    CHECK (principal_minor > 0 AND principal_paid_minor BETWEEN 0 AND principal_minor);
ALTER TABLE installments DROP CONSTRAINT installment_state;
ALTER TABLE installments ADD CONSTRAINT installment_state CHECK (state IN ('pending', 'due', 'overdue', 'paid'));
