-- Keys answered by movements cannot be kept by the older schema, and dropping them would let
-- a client's retry apply its money operation a second time: this fails (CHECK) while any
-- remain; revert once they have expired (jobs.idempotency_retention_hours).
CREATE TEMP TABLE revert_guard (movement_keys INTEGER CHECK (movement_keys = 0));
INSERT INTO revert_guard SELECT count(*) FROM idempotency_keys WHERE answer <> 'body';
DROP TABLE revert_guard;
CREATE TABLE idempotency_keys_old (
    user_id         TEXT NOT NULL REFERENCES users (id),
    idem_key        TEXT NOT NULL,
    request_hash    TEXT NOT NULL,
    response_status INTEGER NOT NULL,
    response_body   TEXT NOT NULL,
    created_at      TIMESTAMP NOT NULL,
    PRIMARY KEY (user_id, idem_key)
);
INSERT INTO idempotency_keys_old SELECT user_id, idem_key, request_hash, response_status, response_body, created_at
    FROM idempotency_keys;
DROP TABLE idempotency_keys;
ALTER TABLE idempotency_keys_old RENAME TO idempotency_keys;
CREATE INDEX idempotency_keys_created ON idempotency_keys (created_at);
ALTER TABLE movements ADD COLUMN score_value INTEGER NOT NULL DEFAULT 0;
ALTER TABLE movements ADD COLUMN score_eligible BOOLEAN NOT NULL DEFAULT FALSE;
ALTER TABLE movements DROP COLUMN on_time_installments;
ALTER TABLE movements DROP COLUMN overdue_installments;
ALTER TABLE movements DROP COLUMN overdue_days;
ALTER TABLE movements DROP COLUMN collateral_settlements;
ALTER TABLE movements DROP COLUMN vault_floor_minor;
ALTER TABLE movements DROP COLUMN overdue_now;
ALTER TABLE money_accounts DROP COLUMN overdue_count;
