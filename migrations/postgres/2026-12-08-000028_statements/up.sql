-- Monthly statements (issue 30): issued by the billing run on the statement day, immutable.
-- `body` is the statement as issued (minor units, JSON) and `content_hash` its SHA-256; the
-- amount columns repeat the body's totals so the ledger check can reconcile them in SQL.
CREATE TABLE statements (
    id               TEXT PRIMARY KEY,
    user_id          TEXT NOT NULL REFERENCES users (id),
    period_start     DATE NOT NULL,
    period_end       DATE NOT NULL,
    due_date         DATE NOT NULL,
    opening_minor    BIGINT NOT NULL,
    charges_minor    BIGINT NOT NULL,
    credits_minor    BIGINT NOT NULL,
    closing_minor    BIGINT NOT NULL,
    amount_due_minor BIGINT NOT NULL,
    body             TEXT NOT NULL,
    content_hash     TEXT NOT NULL,
    issued_at        TIMESTAMP NOT NULL,
    UNIQUE (user_id, period_end)
);
CREATE INDEX statements_by_user ON statements (user_id, id);

-- Each journal entry that moved a user's credit account belongs to exactly one statement:
-- the next statement takes every entry not yet on one, so none is shown twice or lost.
CREATE TABLE statement_entries (
    user_id      TEXT NOT NULL,
    entry_id     TEXT NOT NULL,
    statement_id TEXT NOT NULL REFERENCES statements (id),
    PRIMARY KEY (user_id, entry_id)
);
CREATE INDEX statement_entries_by_statement ON statement_entries (statement_id);

-- Due-date reminders: one row per installment reminded, so each is reminded once.
CREATE TABLE installment_reminders (
    purchase_id      TEXT NOT NULL,
    seq              INTEGER NOT NULL,
    user_id          TEXT NOT NULL,
    due_date         DATE NOT NULL,
    amount_due_minor BIGINT NOT NULL,
    sent_at          TIMESTAMP NOT NULL,
    PRIMARY KEY (purchase_id, seq)
);
