-- One row per change of a user's credit limit, written with the change.
CREATE TABLE limit_history (
    id           TEXT PRIMARY KEY,
    user_id      TEXT NOT NULL REFERENCES users (id),
    line         TEXT NOT NULL,
    limit_before BIGINT NOT NULL,
    limit_after  BIGINT NOT NULL,
    reason       TEXT NOT NULL,
    created_at   TIMESTAMP NOT NULL,
    CONSTRAINT limit_history_reason CHECK (reason IN ('vault_lock', 'vault_unlock', 'upgrade', 'downgrade',
        'collateral_settlement', 'admin_adjustment'))
);
CREATE INDEX limit_history_user ON limit_history (user_id, id);

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
