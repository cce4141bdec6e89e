-- The rest of the credit life (issue 14): refunds, bill installments, autopay.
-- A refund can cut a part's principal to zero, and a bill conversion moves a due part's
-- unpaid principal into a new plan (the part turns `converted`).
ALTER TABLE installments DROP CONSTRAINT installment_state;
ALTER TABLE installments ADD CONSTRAINT installment_state
    CHECK (state IN ('pending', 'due', 'overdue', 'paid', 'converted'));
ALTER TABLE installments DROP CONSTRAINT installment_principal;
ALTER TABLE installments ADD CONSTRAINT installment_principal
    CHECK (principal_minor >= 0 AND principal_paid_minor BETWEEN 0 AND principal_minor);

-- What the merchant has refunded of a captured purchase; a purchase refunded in full shows
-- as `refunded`.
ALTER TABLE purchases ADD COLUMN refunded_minor BIGINT NOT NULL DEFAULT 0;
ALTER TABLE purchases ADD CONSTRAINT purchase_refunded CHECK (refunded_minor BETWEEN 0 AND amount_minor);
-- When a hold left `authorized` by auto-confirmation rather than the buyer.
ALTER TABLE purchases ADD COLUMN auto_confirmed BOOLEAN NOT NULL DEFAULT FALSE;

CREATE TABLE refunds (
    id           TEXT PRIMARY KEY,
    purchase_id  TEXT NOT NULL REFERENCES purchases (id),
    user_id      TEXT NOT NULL REFERENCES users (id),
    amount_minor BIGINT NOT NULL CHECK (amount_minor > 0),
    reason       TEXT NOT NULL,
    actor_id     TEXT NOT NULL REFERENCES users (id),
    entry_id     TEXT NOT NULL REFERENCES journal_entries (id),
    created_at   TIMESTAMP NOT NULL
);
CREATE INDEX refunds_purchase ON refunds (purchase_id, created_at);

-- Autopay: the user's sources in order (`wallet` or `wallet,vault`); no row: off.
CREATE TABLE autopay (
    user_id    TEXT PRIMARY KEY REFERENCES users (id),
    enabled    BOOLEAN NOT NULL,
    sources    TEXT NOT NULL CHECK (sources IN ('wallet', 'wallet,vault')),
    updated_at TIMESTAMP NOT NULL
);

-- Autopay from the vault lowers a secured limit: limit history gains the reason `autopay`.
ALTER TABLE limit_history DROP CONSTRAINT limit_history_reason;
ALTER TABLE limit_history ADD CONSTRAINT limit_history_reason CHECK (reason IN ('vault_lock', 'vault_unlock',
    'upgrade', 'downgrade', 'collateral_settlement', 'admin_adjustment', 'autopay'));

-- Bill installments become a plan: a captured purchase from this system merchant, which
-- is never listed and cannot be bought from.
ALTER TABLE merchants ADD COLUMN system BOOLEAN NOT NULL DEFAULT FALSE;
INSERT INTO merchants (id, name, created_at, system)
VALUES ('00000000-0000-0000-0000-00000000b177', 'Vaultline bill installments', now() AT TIME ZONE 'UTC', TRUE);
