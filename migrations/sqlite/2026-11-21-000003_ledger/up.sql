-- Every number one money rule compares lives in this one row per user, so each rule is a
-- single conditional UPDATE. Limits keep every sum far from 64-bit overflow.
CREATE TABLE money_accounts (
    user_id             TEXT PRIMARY KEY REFERENCES users (id),
    wallet_minor        BIGINT NOT NULL DEFAULT 0,
    vault_minor         BIGINT NOT NULL DEFAULT 0,
    line                TEXT NOT NULL DEFAULT 'secured',
    general_limit_minor BIGINT NOT NULL DEFAULT 0,
    held_minor          BIGINT NOT NULL DEFAULT 0,
    principal_minor     BIGINT NOT NULL DEFAULT 0,
    fees_minor          BIGINT NOT NULL DEFAULT 0,
    late_fees_minor     BIGINT NOT NULL DEFAULT 0,
    opened_at           TIMESTAMP NOT NULL,
    -- The user's own credit history, for the score, kept with the events that change it.
    on_time_installments   BIGINT NOT NULL DEFAULT 0,
    overdue_installments   BIGINT NOT NULL DEFAULT 0,
    overdue_days           BIGINT NOT NULL DEFAULT 0,
    collateral_settlements BIGINT NOT NULL DEFAULT 0,
    -- Lowest vault balance since the start of the 90-day window as of the last refresh:
    -- lowered with every vault decrease, raised by the hourly refresh.
    vault_floor_minor      BIGINT NOT NULL DEFAULT 0,
    CONSTRAINT money_line CHECK (line IN ('secured', 'general')),
    CONSTRAINT money_wallet_range CHECK (wallet_minor BETWEEN 0 AND 100000000000000000),
    CONSTRAINT money_vault_range CHECK (vault_minor BETWEEN 0 AND 100000000000000000),
    CONSTRAINT money_limit_range CHECK (general_limit_minor BETWEEN 0 AND 100000000000000000),
    CONSTRAINT money_held_range CHECK (held_minor BETWEEN 0 AND 100000000000000000),
    CONSTRAINT money_principal_range CHECK (principal_minor BETWEEN 0 AND 100000000000000000),
    CONSTRAINT money_fees_range CHECK (fees_minor BETWEEN 0 AND 100000000000000000),
    CONSTRAINT money_late_fees_range CHECK (late_fees_minor BETWEEN 0 AND 100000000000000000)
);

-- Ledger accounts. Ids are deterministic: `<user id>:wallet|vault|credit|hold` and `sys:<kind>`.
CREATE TABLE ledger_accounts (
    id      TEXT PRIMARY KEY,
    user_id TEXT REFERENCES users (id),
    kind    TEXT NOT NULL,
    CONSTRAINT ledger_account_kind CHECK (kind IN ('wallet', 'vault', 'credit', 'hold', 'external_funding',
        'lender_capital', 'merchant_payables', 'fee_income', 'late_fee_income'))
);
INSERT INTO ledger_accounts (id, user_id, kind) VALUES
    ('sys:external_funding', NULL, 'external_funding'),
    ('sys:lender_capital', NULL, 'lender_capital'),
    ('sys:merchant_payables', NULL, 'merchant_payables'),
    ('sys:fee_income', NULL, 'fee_income'),
    ('sys:late_fee_income', NULL, 'late_fee_income');

CREATE TABLE journal_entries (
    id         TEXT PRIMARY KEY,
    kind       TEXT NOT NULL,
    user_id    TEXT REFERENCES users (id),
    created_at TIMESTAMP NOT NULL
);
CREATE INDEX journal_entries_user ON journal_entries (user_id);

CREATE TABLE postings (
    entry_id     TEXT NOT NULL REFERENCES journal_entries (id),
    account_id   TEXT NOT NULL REFERENCES ledger_accounts (id),
    amount_minor BIGINT NOT NULL,
    PRIMARY KEY (entry_id, account_id),
    CONSTRAINT posting_non_zero CHECK (amount_minor <> 0),
    CONSTRAINT posting_range CHECK (amount_minor BETWEEN -100000000000000000 AND 100000000000000000)
);
CREATE INDEX postings_account ON postings (account_id);

-- What each user sees of an entry: kind from their side, and their account right after.
CREATE TABLE movements (
    entry_id            TEXT NOT NULL REFERENCES journal_entries (id),
    user_id             TEXT NOT NULL REFERENCES users (id),
    kind                TEXT NOT NULL,
    amount_minor        BIGINT NOT NULL,
    counterparty        TEXT,
    note                TEXT,
    created_at          TIMESTAMP NOT NULL,
    status              TEXT NOT NULL,
    wallet_minor        BIGINT NOT NULL,
    vault_minor         BIGINT NOT NULL,
    line                TEXT NOT NULL,
    general_limit_minor BIGINT NOT NULL,
    held_minor          BIGINT NOT NULL,
    principal_minor     BIGINT NOT NULL,
    fees_minor          BIGINT NOT NULL,
    late_fees_minor     BIGINT NOT NULL,
    score_value         INTEGER NOT NULL,
    score_eligible      BOOLEAN NOT NULL,
    PRIMARY KEY (user_id, entry_id),
    CONSTRAINT movement_amount_positive CHECK (amount_minor > 0)
);
CREATE INDEX movements_user_time ON movements (user_id, created_at);

-- Idempotency keys, saved in the same transaction as the effect they guard.
CREATE TABLE idempotency_keys (
    user_id         TEXT NOT NULL REFERENCES users (id),
    idem_key        TEXT NOT NULL,
    request_hash    TEXT NOT NULL,
    response_status INTEGER NOT NULL,
    response_body   TEXT NOT NULL,
    created_at      TIMESTAMP NOT NULL,
    PRIMARY KEY (user_id, idem_key)
);
CREATE INDEX idempotency_keys_created ON idempotency_keys (created_at);

-- Users registered before this migration get their accounts too.
INSERT INTO money_accounts (user_id, opened_at) SELECT id, created_at FROM users;
INSERT INTO ledger_accounts (id, user_id, kind) SELECT id || ':wallet', id, 'wallet' FROM users;
INSERT INTO ledger_accounts (id, user_id, kind) SELECT id || ':vault', id, 'vault' FROM users;
INSERT INTO ledger_accounts (id, user_id, kind) SELECT id || ':credit', id, 'credit' FROM users;
INSERT INTO ledger_accounts (id, user_id, kind) SELECT id || ':hold', id, 'hold' FROM users;
