-- The PostgreSQL schema as migrations 2026-11-21-000001_users .. 2026-12-07-000022_four_eyes_kinds
-- left it (issue 28), as one migration: tables, sequences, indexes, constraints, one composite
-- type, and the rows those migrations seeded. Taken from `pg_dump --schema-only` of a database
-- migrated by them, so every column stands where an upgraded database has it, and written back
-- as readable SQL with what the old migrations said of each table.
--
-- It carries the version of the last migration it replaces (2026-12-07-000022), so a database
-- that ran all of them skips it, and a fresh database runs it, then 2026-12-07-000023 on. A
-- database that ran only some of them is refused at start (src/store/migrate.rs): upgrade it
-- with a release that still ships them first. tests/api/baseline.rs holds this file to that
-- history (tests/fixtures/postgres_before_baseline.sql, a database migrated by it).
--
-- No function and no trigger: they are source in src/store/sql/*.sql, applied after the
-- versioned migrations (src/store/replaceable.rs). Only the type `vl_answer` stays here: a
-- type cannot be replaced in place, and the functions that return it need it first.

-- ------------------------------------------------------------------------------------ users

CREATE TABLE users (
    id            TEXT PRIMARY KEY,
    username      TEXT NOT NULL,
    display_name  TEXT NOT NULL,
    password_hash TEXT NOT NULL,
    role          TEXT NOT NULL CHECK (role IN ('user', 'admin')),
    status        TEXT NOT NULL DEFAULT 'active' CHECK (status IN ('active', 'frozen')),
    created_at    TIMESTAMP NOT NULL,
    -- Every access token carries the user's token version; raising it (log out everywhere, a
    -- password change, a detected refresh-token reuse, freezing an admin) ends them all at once.
    token_version BIGINT NOT NULL DEFAULT 0,
    CONSTRAINT users_username_key UNIQUE (username),
    CONSTRAINT users_username_shape CHECK (length(username) BETWEEN 3 AND 32)
);

-- Refresh tokens are stored only as SHA-256 hashes. Tokens issued by rotation share a
-- family; presenting a spent token revokes the whole family, which keeps when it started
-- for its absolute lifetime.
CREATE TABLE refresh_tokens (
    id                TEXT PRIMARY KEY,
    family_id         TEXT NOT NULL,
    user_id           TEXT NOT NULL REFERENCES users (id),
    token_hash        TEXT NOT NULL,
    created_at        TIMESTAMP NOT NULL,
    expires_at        TIMESTAMP NOT NULL,
    spent_at          TIMESTAMP,
    revoked_at        TIMESTAMP,
    family_started_at TIMESTAMP NOT NULL,
    CONSTRAINT refresh_tokens_hash_key UNIQUE (token_hash)
);
CREATE INDEX refresh_tokens_family ON refresh_tokens (family_id);
CREATE INDEX refresh_tokens_expiry ON refresh_tokens (expires_at);
CREATE INDEX refresh_tokens_user ON refresh_tokens (user_id) WHERE revoked_at IS NULL;

-- One row per counted login attempt, per key (`user:<name>` or `addr:<ip>`), so the
-- throttle holds across several service instances sharing the database.
CREATE TABLE login_failures (
    id           TEXT PRIMARY KEY,
    throttle_key TEXT NOT NULL,
    attempted_at TIMESTAMP NOT NULL
);
CREATE INDEX login_failures_key_time ON login_failures (throttle_key, attempted_at);

-- Per-account login pacing and other paced lanes: one row per lane, holding the earliest
-- time (Unix milliseconds) its next attempt may be evaluated. Reserving a slot is one
-- upsert, so the spacing holds across instances.
CREATE TABLE login_pace (
    pace_key   TEXT PRIMARY KEY NOT NULL,
    next_at_ms BIGINT NOT NULL
);

-- ------------------------------------------------------------------------------------ money

-- Every number one money rule compares lives in this one row per user, so each rule is a
-- single conditional UPDATE. Limits keep every sum far from 64-bit overflow.
CREATE TABLE money_accounts (
    user_id                TEXT PRIMARY KEY REFERENCES users (id),
    wallet_minor           BIGINT NOT NULL DEFAULT 0,
    vault_minor            BIGINT NOT NULL DEFAULT 0,
    line                   TEXT NOT NULL DEFAULT 'secured',
    general_limit_minor    BIGINT NOT NULL DEFAULT 0,
    held_minor             BIGINT NOT NULL DEFAULT 0,
    principal_minor        BIGINT NOT NULL DEFAULT 0,
    fees_minor             BIGINT NOT NULL DEFAULT 0,
    late_fees_minor        BIGINT NOT NULL DEFAULT 0,
    opened_at              TIMESTAMP NOT NULL,
    -- The user's own credit history, for the score, kept with the events that change it.
    on_time_installments   BIGINT NOT NULL DEFAULT 0,
    overdue_installments   BIGINT NOT NULL DEFAULT 0,
    overdue_days           BIGINT NOT NULL DEFAULT 0,
    collateral_settlements BIGINT NOT NULL DEFAULT 0,
    -- Lowest vault balance since the start of the 90-day window as of the last refresh:
    -- lowered with every vault decrease, raised by the hourly refresh.
    vault_floor_minor      BIGINT NOT NULL DEFAULT 0,
    -- Installments overdue right now: kept with every state change, so no rule or snapshot
    -- has to read installments.
    overdue_count          BIGINT NOT NULL DEFAULT 0,
    -- The daily vault-unlock cap, counted in the unlock's own UPDATE: only a later day
    -- starts the count again.
    unlock_day             DATE,
    unlocks_that_day       INTEGER NOT NULL DEFAULT 0 CHECK (unlocks_that_day >= 0),
    CONSTRAINT money_line CHECK (line IN ('secured', 'general')),
    CONSTRAINT money_wallet_range CHECK (wallet_minor BETWEEN 0 AND 100000000000000000),
    CONSTRAINT money_vault_range CHECK (vault_minor BETWEEN 0 AND 100000000000000000),
    CONSTRAINT money_limit_range CHECK (general_limit_minor BETWEEN 0 AND 100000000000000000),
    CONSTRAINT money_held_range CHECK (held_minor BETWEEN 0 AND 100000000000000000),
    CONSTRAINT money_principal_range CHECK (principal_minor BETWEEN 0 AND 100000000000000000),
    CONSTRAINT money_fees_range CHECK (fees_minor BETWEEN 0 AND 100000000000000000),
    CONSTRAINT money_late_fees_range CHECK (late_fees_minor BETWEEN 0 AND 100000000000000000),
    CONSTRAINT money_overdue_count_range CHECK (overdue_count >= 0)
);

-- Ledger accounts. Ids are deterministic: `<user id>:wallet|vault|credit|hold` and `sys:<kind>`.
CREATE TABLE ledger_accounts (
    id      TEXT PRIMARY KEY,
    user_id TEXT REFERENCES users (id),
    kind    TEXT NOT NULL,
    CONSTRAINT ledger_account_kind CHECK (kind IN ('wallet', 'vault', 'credit', 'hold', 'external_funding',
        'lender_capital', 'merchant_payables', 'fee_income', 'late_fee_income'))
);
-- The system's own accounts, the other side of every user's entry.
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

-- What each user sees of an entry: kind from their side, and their account right after,
-- score inputs included (the score is rated from them when shown).
CREATE TABLE movements (
    entry_id               TEXT NOT NULL REFERENCES journal_entries (id),
    user_id                TEXT NOT NULL REFERENCES users (id),
    kind                   TEXT NOT NULL,
    amount_minor           BIGINT NOT NULL,
    counterparty           TEXT,
    note                   TEXT,
    created_at             TIMESTAMP NOT NULL,
    status                 TEXT NOT NULL,
    wallet_minor           BIGINT NOT NULL,
    vault_minor            BIGINT NOT NULL,
    line                   TEXT NOT NULL,
    general_limit_minor    BIGINT NOT NULL,
    held_minor             BIGINT NOT NULL,
    principal_minor        BIGINT NOT NULL,
    fees_minor             BIGINT NOT NULL,
    late_fees_minor        BIGINT NOT NULL,
    on_time_installments   BIGINT NOT NULL DEFAULT 0,
    overdue_installments   BIGINT NOT NULL DEFAULT 0,
    overdue_days           BIGINT NOT NULL DEFAULT 0,
    collateral_settlements BIGINT NOT NULL DEFAULT 0,
    vault_floor_minor      BIGINT NOT NULL DEFAULT 0,
    overdue_now            BOOLEAN NOT NULL DEFAULT FALSE,
    PRIMARY KEY (user_id, entry_id),
    CONSTRAINT movement_amount_positive CHECK (amount_minor > 0)
);
CREATE INDEX movements_user_time ON movements (user_id, created_at);
CREATE INDEX movements_unlocks ON movements (user_id, created_at) WHERE kind = 'vault_unlock';

-- Idempotency keys, saved in the same transaction as the effect they guard. How a key
-- answers: `movement` (the movement it made, rebuilt from its row, which never changes),
-- `body` (a whole response body), or `purchase` (the purchase and its schedule as written,
-- as JSON rows, rendered by the service).
CREATE TABLE idempotency_keys (
    user_id         TEXT NOT NULL REFERENCES users (id),
    idem_key        TEXT NOT NULL,
    request_hash    TEXT NOT NULL,
    response_status INTEGER NOT NULL,
    response_body   TEXT,
    created_at      TIMESTAMP NOT NULL,
    entry_id        TEXT,
    answer          TEXT NOT NULL DEFAULT 'body',
    PRIMARY KEY (user_id, idem_key),
    CONSTRAINT idempotency_answer CHECK (answer IN ('body', 'movement', 'purchase')
        AND (answer = 'movement') = (entry_id IS NOT NULL)
        AND (answer = 'movement' OR response_body IS NOT NULL))
);
CREATE INDEX idempotency_keys_created ON idempotency_keys (created_at);

-- What every money function answers: the caller's movement, fresh or replayed
-- (src/store/sql/ledger.sql).
CREATE TYPE vl_answer AS (
    outcome text, entry_id text, kind text, amount_minor bigint, counterparty text, note text,
    created_at timestamp, status text, wallet_minor bigint, vault_minor bigint, line text,
    general_limit_minor bigint, held_minor bigint, principal_minor bigint, fees_minor bigint,
    late_fees_minor bigint, on_time_installments bigint, overdue_installments bigint, overdue_days bigint,
    collateral_settlements bigint, vault_floor_minor bigint, overdue_now boolean, opened_at timestamp);

-- Money requests per user per fixed window, counted across instances. Unlogged: a counter
-- lost in a crash only forgives a minute of requests, and a commit that writes nothing but
-- unlogged rows needs no WAL flush, so counting costs a money request little.
CREATE UNLOGGED TABLE request_windows (
    user_id      TEXT NOT NULL REFERENCES users (id),
    window_start TIMESTAMP NOT NULL,
    requests     BIGINT NOT NULL CHECK (requests > 0),
    PRIMARY KEY (user_id, window_start)
);
CREATE INDEX request_windows_start ON request_windows (window_start);

-- What left each wallet on its owner's initiative, by clock hour: the outflow cap sums at most
-- 25 rows instead of every movement of the last day.
CREATE TABLE outflow_hours (
    user_id      TEXT NOT NULL REFERENCES users (id),
    hour         TIMESTAMP NOT NULL,
    amount_minor BIGINT NOT NULL CHECK (amount_minor > 0),
    PRIMARY KEY (user_id, hour)
);

-- ----------------------------------------------------------------------------------- credit

-- Merchant names are unique (case-insensitively), so a buyer cannot be shown two "Acme".
-- A system merchant is never listed and cannot be bought from.
CREATE TABLE merchants (
    id         TEXT PRIMARY KEY,
    name       TEXT NOT NULL,
    created_at TIMESTAMP NOT NULL,
    system     BOOLEAN NOT NULL DEFAULT FALSE
);
CREATE UNIQUE INDEX merchants_name_unique ON merchants (lower(name));
-- Bill installments are a plan: a captured purchase from this system merchant
-- (domain::credit::BILL_PLAN_MERCHANT).
INSERT INTO merchants (id, name, created_at, system)
VALUES ('00000000-0000-0000-0000-00000000b177', 'Vaultline bill installments', now() AT TIME ZONE 'UTC', TRUE);

-- authorized (a hold) -> captured (the merchant is paid, the schedule starts) | voided. What
-- the merchant has refunded of a captured purchase: refunded in full, it shows as `refunded`.
CREATE TABLE purchases (
    id             TEXT PRIMARY KEY,
    user_id        TEXT NOT NULL REFERENCES users (id),
    merchant_id    TEXT NOT NULL REFERENCES merchants (id),
    amount_minor   BIGINT NOT NULL,
    installments   INTEGER NOT NULL,
    description    TEXT,
    state          TEXT NOT NULL,
    created_at     TIMESTAMP NOT NULL,
    captured_at    TIMESTAMP,
    voided_at      TIMESTAMP,
    refunded_minor BIGINT NOT NULL DEFAULT 0,
    -- When a hold left `authorized` by auto-confirmation rather than the buyer.
    auto_confirmed BOOLEAN NOT NULL DEFAULT FALSE,
    CONSTRAINT purchase_state CHECK (state IN ('authorized', 'captured', 'voided')),
    CONSTRAINT purchase_amount CHECK (amount_minor > 0),
    CONSTRAINT purchase_installments CHECK (installments IN (1, 3, 6, 12, 24)),
    CONSTRAINT purchase_refunded CHECK (refunded_minor BETWEEN 0 AND amount_minor)
);
CREATE INDEX purchases_user ON purchases (user_id, id);
CREATE INDEX purchases_state ON purchases (state, created_at);

-- One row per part of a captured purchase. `fee_minor` is the scheduled fee until the part
-- is billed (`fee_billed`), then the fee actually billed. A refund can cut a part's
-- principal to zero; a bill conversion moves a due part's unpaid principal into a new plan
-- (the part turns `converted`).
CREATE TABLE installments (
    purchase_id            TEXT NOT NULL REFERENCES purchases (id),
    seq                    INTEGER NOT NULL,
    user_id                TEXT NOT NULL REFERENCES users (id),
    due_date               DATE NOT NULL,
    principal_minor        BIGINT NOT NULL,
    fee_minor              BIGINT NOT NULL,
    fee_billed             BOOLEAN NOT NULL DEFAULT FALSE,
    late_fee_minor         BIGINT NOT NULL DEFAULT 0,
    principal_paid_minor   BIGINT NOT NULL DEFAULT 0,
    fee_paid_minor         BIGINT NOT NULL DEFAULT 0,
    late_fee_paid_minor    BIGINT NOT NULL DEFAULT 0,
    state                  TEXT NOT NULL DEFAULT 'pending',
    was_overdue            BOOLEAN NOT NULL DEFAULT FALSE,
    days_overdue           INTEGER NOT NULL DEFAULT 0,
    -- On-time credit is given by billing once the due date has come, if the part was paid by
    -- then and never overdue (docs/SCORING.md).
    on_time_credited       BOOLEAN NOT NULL DEFAULT FALSE,
    -- The principal still owed when the part was billed, and the on-time units it was
    -- credited, so a refund takes back what the refunded principal had earned.
    billed_principal_minor BIGINT NOT NULL DEFAULT 0,
    on_time_units          BIGINT NOT NULL DEFAULT 0,
    -- A converted part names the bill plan and how much of its principal the plan carries.
    converted_into         TEXT NULL,
    converted_minor        BIGINT NOT NULL DEFAULT 0,
    PRIMARY KEY (purchase_id, seq),
    CONSTRAINT installment_state CHECK (state IN ('pending', 'due', 'overdue', 'paid', 'converted')),
    CONSTRAINT installment_principal
        CHECK (principal_minor >= 0 AND principal_paid_minor BETWEEN 0 AND principal_minor),
    CONSTRAINT installment_fee CHECK (fee_minor >= 0 AND fee_paid_minor BETWEEN 0 AND fee_minor),
    CONSTRAINT installment_late_fee CHECK (late_fee_minor >= 0 AND late_fee_paid_minor BETWEEN 0 AND late_fee_minor)
);
CREATE INDEX installments_user_state ON installments (user_id, state, due_date);
CREATE INDEX installments_state_due ON installments (state, due_date);
CREATE INDEX installments_uncredited ON installments (user_id, due_date)
    WHERE state = 'paid' AND NOT on_time_credited AND NOT was_overdue;
CREATE INDEX installments_converted_into ON installments (converted_into) WHERE converted_into IS NOT NULL;

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

-- One row per change of a user's credit limit, written with the change.
CREATE TABLE limit_history (
    id           TEXT PRIMARY KEY,
    user_id      TEXT NOT NULL REFERENCES users (id),
    line         TEXT NOT NULL,
    limit_before BIGINT NOT NULL,
    limit_after  BIGINT NOT NULL,
    reason       TEXT NOT NULL,
    created_at   TIMESTAMP NOT NULL,
    CONSTRAINT limit_history_reason CHECK (reason IN ('vault_lock', 'vault_unlock',
        'upgrade', 'downgrade', 'collateral_settlement', 'admin_adjustment', 'autopay'))
);
CREATE INDEX limit_history_user ON limit_history (user_id, id);

-- ------------------------------------------------------------------------------------ admin

-- Every admin action, written in the transaction of the action itself.
CREATE TABLE audit_log (
    id         TEXT PRIMARY KEY,
    actor_id   TEXT NOT NULL REFERENCES users (id),
    action     TEXT NOT NULL,
    target_id  TEXT,
    reason     TEXT,
    details    TEXT NOT NULL,
    created_at TIMESTAMP NOT NULL
);
CREATE INDEX audit_log_target ON audit_log (target_id, id);

-- A change waiting for a second admin (four eyes): a credit-line change, a large refund or a
-- refund of a staff member's purchase, freezing or unfreezing a staff member. Nothing changes
-- when it is written; an approval applies it once, in the approval's transaction.
CREATE TABLE credit_requests (
    id                   TEXT PRIMARY KEY,
    user_id              TEXT NOT NULL REFERENCES users (id),
    requested_by         TEXT NOT NULL REFERENCES users (id),
    line                 TEXT,
    limit_minor          BIGINT,
    override_eligibility BOOLEAN NOT NULL DEFAULT FALSE,
    reason               TEXT NOT NULL,
    state                TEXT NOT NULL DEFAULT 'pending',
    decided_by           TEXT REFERENCES users (id),
    decided_at           TIMESTAMP,
    decision_reason      TEXT,
    created_at           TIMESTAMP NOT NULL,
    kind                 TEXT NOT NULL DEFAULT 'credit_line',
    purchase_id          TEXT NULL REFERENCES purchases (id),
    amount_minor         BIGINT NULL,
    CONSTRAINT credit_request_state CHECK (state IN ('pending', 'approved', 'rejected')),
    -- Decided exactly when no longer pending, and never by the admin who asked.
    CONSTRAINT credit_request_decision CHECK ((state = 'pending')
        = (decided_by IS NULL AND decided_at IS NULL AND decision_reason IS NULL)),
    CONSTRAINT credit_request_four_eyes CHECK (decided_by IS NULL OR decided_by <> requested_by),
    CONSTRAINT credit_request_kind CHECK (
        (kind = 'credit_line' AND purchase_id IS NULL AND amount_minor IS NULL
            AND ((line = 'general' AND limit_minor > 0) OR (line = 'secured' AND limit_minor IS NULL)))
        OR (kind = 'refund' AND purchase_id IS NOT NULL AND amount_minor > 0
            AND line IS NULL AND limit_minor IS NULL AND NOT override_eligibility)
        OR (kind IN ('freeze', 'unfreeze') AND purchase_id IS NULL AND amount_minor IS NULL
            AND line IS NULL AND limit_minor IS NULL AND NOT override_eligibility))
);
CREATE INDEX credit_requests_state ON credit_requests (state, id);

-- ----------------------------------------------------------------------------------- events

-- A transactional outbox: triggers (src/store/sql/events.sql) write each event in the
-- statement that makes the change. Twin: migrations/sqlite/2026-11-25-000012_events.
-- One counter row per user: `seq` rises by one per user, and the row lock serialises a
-- user's events in commit order (a later seq never commits before an earlier one).
CREATE TABLE event_streams (
    user_id  TEXT PRIMARY KEY,
    last_seq BIGINT NOT NULL
);

CREATE TABLE events (
    position   BIGSERIAL PRIMARY KEY,
    id         TEXT NOT NULL UNIQUE DEFAULT gen_random_uuid()::text,
    user_id    TEXT NOT NULL,
    seq        BIGINT NOT NULL,
    type       TEXT NOT NULL,
    -- The changed object's id: a movement's entry, a purchase, an installment
    -- (`<purchase>:<seq>`), a limit change, a user.
    object_id  TEXT NOT NULL,
    -- The object as it was, for objects that change later (purchases, installments, users);
    -- NULL for rows never updated (movements, limit changes), read from their table.
    snapshot   TEXT,
    created_at TIMESTAMP NOT NULL DEFAULT (now() AT TIME ZONE 'utc'),
    -- The writing transaction: the all-users feed only shows transactions older than every
    -- one still running, so a cursor never skips an event that commits late.
    txid       BIGINT NOT NULL DEFAULT (pg_current_xact_id()::text::bigint),
    UNIQUE (user_id, seq)
);
CREATE INDEX events_txid ON events (txid, position);

CREATE TABLE webhooks (
    id                   TEXT PRIMARY KEY,
    url                  TEXT NOT NULL CHECK (length(url) BETWEEN 8 AND 2048),
    -- Comma-separated event types, each matched whole.
    event_types          TEXT NOT NULL,
    secret               TEXT NOT NULL,
    created_by           TEXT NOT NULL REFERENCES users (id),
    created_at           TIMESTAMP NOT NULL,
    consecutive_failures INTEGER NOT NULL DEFAULT 0,
    failing_since        TIMESTAMP
);

-- One row per event and endpoint, written with the event (endpoints registered later get
-- later events only).
CREATE TABLE webhook_deliveries (
    webhook_id      TEXT NOT NULL REFERENCES webhooks (id) ON DELETE CASCADE,
    event_position  BIGINT NOT NULL REFERENCES events (position),
    user_id         TEXT NOT NULL,
    seq             BIGINT NOT NULL,
    state           TEXT NOT NULL DEFAULT 'pending' CHECK (state IN ('pending', 'delivered', 'failed')),
    attempts        INTEGER NOT NULL DEFAULT 0,
    next_attempt_at TIMESTAMP NOT NULL,
    -- A worker's claim while it sends; another instance may take the row only after it.
    -- The token is the claim's own: a worker settles only a row it still holds.
    leased_until    TIMESTAMP,
    lease_token     TEXT,
    delivered_at    TIMESTAMP,
    PRIMARY KEY (webhook_id, event_position)
);
CREATE INDEX webhook_deliveries_due ON webhook_deliveries (next_attempt_at) WHERE state = 'pending';
CREATE INDEX webhook_deliveries_order ON webhook_deliveries (webhook_id, user_id, seq) WHERE state = 'pending';
CREATE INDEX webhook_deliveries_failed ON webhook_deliveries (webhook_id) WHERE state = 'failed';
CREATE INDEX webhook_deliveries_done ON webhook_deliveries (delivered_at) WHERE state = 'delivered';

CREATE TABLE webhook_attempts (
    id             TEXT PRIMARY KEY,
    webhook_id     TEXT NOT NULL REFERENCES webhooks (id) ON DELETE CASCADE,
    event_position BIGINT NOT NULL,
    attempted_at   TIMESTAMP NOT NULL,
    status_code    INTEGER,
    error          TEXT,
    duration_ms    BIGINT NOT NULL
);
CREATE INDEX webhook_attempts_by_hook ON webhook_attempts (webhook_id, attempted_at);
