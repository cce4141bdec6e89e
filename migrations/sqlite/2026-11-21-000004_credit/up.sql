CREATE TABLE merchants (
    id         TEXT PRIMARY KEY,
    name       TEXT NOT NULL,
    created_at TIMESTAMP NOT NULL
);

-- authorized (a hold) -> captured (the merchant is paid, the schedule starts) | voided.
CREATE TABLE purchases (
    id           TEXT PRIMARY KEY,
    user_id      TEXT NOT NULL REFERENCES users (id),
    merchant_id  TEXT NOT NULL REFERENCES merchants (id),
    amount_minor BIGINT NOT NULL,
    installments INTEGER NOT NULL,
    description  TEXT,
    state        TEXT NOT NULL,
    created_at   TIMESTAMP NOT NULL,
    captured_at  TIMESTAMP,
    voided_at    TIMESTAMP,
    CONSTRAINT purchase_state CHECK (state IN ('authorized', 'captured', 'voided')),
    CONSTRAINT purchase_amount CHECK (amount_minor > 0),
    CONSTRAINT purchase_installments CHECK (installments IN (1, 3, 6, 12, 24))
);
CREATE INDEX purchases_user ON purchases (user_id, id);
CREATE INDEX purchases_state ON purchases (state, created_at);

-- One row per part of a captured purchase. `fee_minor` is the scheduled fee until the part
-- is billed (`fee_billed` = 1), then the fee actually billed.
CREATE TABLE installments (
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
    PRIMARY KEY (purchase_id, seq),
    CONSTRAINT installment_state CHECK (state IN ('pending', 'due', 'overdue', 'paid')),
    CONSTRAINT installment_principal CHECK (principal_minor > 0 AND principal_paid_minor BETWEEN 0 AND principal_minor),
    CONSTRAINT installment_fee CHECK (fee_minor >= 0 AND fee_paid_minor BETWEEN 0 AND fee_minor),
    CONSTRAINT installment_late_fee CHECK (late_fee_minor >= 0 AND late_fee_paid_minor BETWEEN 0 AND late_fee_minor)
);
CREATE INDEX installments_user_state ON installments (user_id, state, due_date);
CREATE INDEX installments_state_due ON installments (state, due_date);
