-- Credit safety (see the PostgreSQL twin): on-time credit given by billing at the due date,
-- and money requests per user per window. The velocity caps are checked in
-- src/store/money/sqlite.rs inside the write transaction.
ALTER TABLE installments ADD COLUMN on_time_credited BOOLEAN NOT NULL DEFAULT FALSE;
UPDATE installments SET on_time_credited = TRUE WHERE state = 'paid' AND NOT was_overdue;
CREATE INDEX installments_uncredited ON installments (user_id, due_date)
    WHERE state = 'paid' AND NOT on_time_credited AND NOT was_overdue;

CREATE TABLE request_windows (
    user_id      TEXT NOT NULL REFERENCES users (id),
    window_start TIMESTAMP NOT NULL,
    requests     BIGINT NOT NULL CHECK (requests > 0),
    PRIMARY KEY (user_id, window_start)
);
CREATE INDEX request_windows_start ON request_windows (window_start);

-- Outflow by clock hour, for the outflow cap (see the PostgreSQL twin).
CREATE TABLE outflow_hours (
    user_id      TEXT NOT NULL REFERENCES users (id),
    hour         TIMESTAMP NOT NULL,
    amount_minor BIGINT NOT NULL CHECK (amount_minor > 0),
    PRIMARY KEY (user_id, hour)
);
INSERT INTO outflow_hours (user_id, hour, amount_minor)
    SELECT user_id, strftime('%Y-%m-%d %H:00:00', created_at), sum(amount_minor) FROM movements
     WHERE kind IN ('withdrawal', 'transfer_out') AND created_at >= datetime('now', '-25 hours')
     GROUP BY user_id, strftime('%Y-%m-%d %H:00:00', created_at);
