-- The money path's shape (see the PostgreSQL twin): every score input on the account row,
-- a movement keeps those inputs, and an idempotency key can point at its movement.
ALTER TABLE money_accounts ADD COLUMN overdue_count BIGINT NOT NULL DEFAULT 0 CHECK (overdue_count >= 0);
UPDATE money_accounts SET overdue_count =
    (SELECT count(*) FROM installments i WHERE i.user_id = money_accounts.user_id AND i.state = 'overdue');

ALTER TABLE movements ADD COLUMN on_time_installments BIGINT NOT NULL DEFAULT 0;
ALTER TABLE movements ADD COLUMN overdue_installments BIGINT NOT NULL DEFAULT 0;
ALTER TABLE movements ADD COLUMN overdue_days BIGINT NOT NULL DEFAULT 0;
ALTER TABLE movements ADD COLUMN collateral_settlements BIGINT NOT NULL DEFAULT 0;
ALTER TABLE movements ADD COLUMN vault_floor_minor BIGINT NOT NULL DEFAULT 0;
ALTER TABLE movements ADD COLUMN overdue_now BOOLEAN NOT NULL DEFAULT FALSE;
UPDATE movements SET
    on_time_installments = (SELECT m.on_time_installments FROM money_accounts m WHERE m.user_id = movements.user_id),
    overdue_installments = (SELECT m.overdue_installments FROM money_accounts m WHERE m.user_id = movements.user_id),
    overdue_days = (SELECT m.overdue_days FROM money_accounts m WHERE m.user_id = movements.user_id),
    collateral_settlements = (SELECT m.collateral_settlements FROM money_accounts m WHERE m.user_id = movements.user_id),
    vault_floor_minor = (SELECT MIN(m.vault_floor_minor, movements.vault_minor) FROM money_accounts m
                         WHERE m.user_id = movements.user_id),
    overdue_now = (SELECT m.overdue_count > 0 FROM money_accounts m WHERE m.user_id = movements.user_id);
ALTER TABLE movements DROP COLUMN score_value;
ALTER TABLE movements DROP COLUMN score_eligible;

-- SQLite cannot relax NOT NULL in place: the table is rebuilt.
CREATE TABLE idempotency_keys_new (
    user_id         TEXT NOT NULL REFERENCES users (id),
    idem_key        TEXT NOT NULL,
    request_hash    TEXT NOT NULL,
    response_status INTEGER NOT NULL,
    response_body   TEXT,
    entry_id        TEXT,
    -- How the key answers: see the PostgreSQL twin (SQLite saves `body` and `movement`).
    answer          TEXT NOT NULL DEFAULT 'body',
    created_at      TIMESTAMP NOT NULL,
    PRIMARY KEY (user_id, idem_key),
    CONSTRAINT idempotency_answer CHECK (answer IN ('body', 'movement', 'purchase')
        AND (answer = 'movement') = (entry_id IS NOT NULL)
        AND (answer = 'movement' OR response_body IS NOT NULL))
);
INSERT INTO idempotency_keys_new (user_id, idem_key, request_hash, response_status, response_body, created_at)
    SELECT user_id, idem_key, request_hash, response_status, response_body, created_at FROM idempotency_keys;
DROP TABLE idempotency_keys;
ALTER TABLE idempotency_keys_new RENAME TO idempotency_keys;
CREATE INDEX idempotency_keys_created ON idempotency_keys (created_at);
