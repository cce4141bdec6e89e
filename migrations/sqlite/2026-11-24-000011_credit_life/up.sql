-- The rest of the credit life (issue 14): refunds, bill installments, autopay.
-- SQLite cannot alter a CHECK, so installments is rebuilt (no table references it) with a
-- principal that may reach zero (a refund) and the state `converted` (bill installments).
CREATE TABLE installments_new (
    purchase_id          TEXT NOT NULL REFERENCES purchases (id),
    seq                  INTEGER NOT NULL,
    user_id              TEXT NOT NULL REFERENCES users (id),
    due_date             DATE NOT NULL,
    principal_minor      BIGINT NOT NULL,
    fee_minor            BIGINT NOT NULL,
    fee_billed           BOOLEAN NOT NULL DEFAULT FALSE,
    late_fee_minor       BIGINT NOT NULL DEFAULT 0,
    principal_paid_minor BIGINT NOT NULL DEFAULT 0,
    fee_paid_minor       BIGINT NOT NULL DEFAULT 0,
    late_fee_paid_minor  BIGINT NOT NULL DEFAULT 0,
    state                TEXT NOT NULL DEFAULT 'pending',
    was_overdue          BOOLEAN NOT NULL DEFAULT FALSE,
    days_overdue         INTEGER NOT NULL DEFAULT 0,
    on_time_credited     BOOLEAN NOT NULL DEFAULT FALSE,
    PRIMARY KEY (purchase_id, seq),
    CONSTRAINT installment_state CHECK (state IN ('pending', 'due', 'overdue', 'paid', 'converted')),
    CONSTRAINT installment_principal CHECK (principal_minor >= 0 AND principal_paid_minor BETWEEN 0 AND principal_minor),
    CONSTRAINT installment_fee CHECK (fee_minor >= 0 AND fee_paid_minor BETWEEN 0 AND fee_minor),
    CONSTRAINT installment_late_fee CHECK (late_fee_minor >= 0 AND late_fee_paid_minor BETWEEN 0 AND late_fee_minor)
);
INSERT INTO installments_new (purchase_id, seq, user_id, due_date, principal_minor, fee_minor, fee_billed,
    late_fee_minor, principal_paid_minor, fee_paid_minor, late_fee_paid_minor, state, was_overdue, days_overdue,
    on_time_credited)
SELECT purchase_id, seq, user_id, due_date, principal_minor, fee_minor, fee_billed, late_fee_minor,
    principal_paid_minor, fee_paid_minor, late_fee_paid_minor, state, was_overdue, days_overdue, on_time_credited
FROM installments;
DROP TABLE installments;
ALTER TABLE installments_new RENAME TO installments;
CREATE INDEX installments_user_state ON installments (user_id, state, due_date);
CREATE INDEX installments_state_due ON installments (state, due_date);
CREATE INDEX installments_uncredited ON installments (user_id, due_date)
    WHERE state = 'paid' AND NOT was_overdue AND NOT on_time_credited;

-- (No CHECK here, so the column can be dropped again: the refund's conditional UPDATE keeps
-- it between 0 and the amount, and the ledger check verifies it.)
ALTER TABLE purchases ADD COLUMN refunded_minor BIGINT NOT NULL DEFAULT 0;
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

CREATE TABLE autopay (
    user_id    TEXT PRIMARY KEY REFERENCES users (id),
    enabled    BOOLEAN NOT NULL,
    sources    TEXT NOT NULL CHECK (sources IN ('wallet', 'wallet,vault')),
    updated_at TIMESTAMP NOT NULL
);

-- Autopay from the vault lowers a secured limit: limit history gains the reason `autopay`
-- (rebuilt: SQLite cannot alter a CHECK; no table references it).
CREATE TABLE limit_history_new (
    id           TEXT PRIMARY KEY,
    user_id      TEXT NOT NULL REFERENCES users (id),
    line         TEXT NOT NULL,
    limit_before BIGINT NOT NULL,
    limit_after  BIGINT NOT NULL,
    reason       TEXT NOT NULL,
    created_at   TIMESTAMP NOT NULL,
    CONSTRAINT limit_history_reason CHECK (reason IN ('vault_lock', 'vault_unlock', 'upgrade', 'downgrade',
        'collateral_settlement', 'admin_adjustment', 'autopay'))
);
INSERT INTO limit_history_new SELECT id, user_id, line, limit_before, limit_after, reason, created_at FROM limit_history;
DROP TABLE limit_history;
ALTER TABLE limit_history_new RENAME TO limit_history;
CREATE INDEX limit_history_user ON limit_history (user_id, id);

-- Bill installments become a plan: a captured purchase from this system merchant, which
-- is never listed and cannot be bought from.
ALTER TABLE merchants ADD COLUMN system BOOLEAN NOT NULL DEFAULT FALSE;
INSERT INTO merchants (id, name, created_at, system)
VALUES ('00000000-0000-0000-0000-00000000b177', 'Vaultline bill installments', CURRENT_TIMESTAMP, TRUE);
