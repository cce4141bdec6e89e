-- Events (issue 15): a transactional outbox. Triggers write each event in the statement that
-- makes the change, so no change commits without its event and no event without its change.
-- Twin: migrations/postgres/2026-11-25-000012_events (see there for the columns). SQLite has
-- one writer at a time, so a user's next seq is simply the highest plus one.

CREATE TABLE events (
    position   INTEGER PRIMARY KEY AUTOINCREMENT,
    id         TEXT NOT NULL UNIQUE,
    user_id    TEXT NOT NULL,
    seq        BIGINT NOT NULL,
    type       TEXT NOT NULL,
    object_id  TEXT NOT NULL,
    snapshot   TEXT,
    created_at TIMESTAMP NOT NULL,
    -- Commit order is position order here (one writer); kept for the twin's feed query.
    txid       BIGINT NOT NULL DEFAULT 0,
    UNIQUE (user_id, seq)
);
CREATE INDEX events_txid ON events (txid, position);

CREATE TABLE webhooks (
    id                   TEXT PRIMARY KEY,
    url                  TEXT NOT NULL CHECK (length(url) BETWEEN 8 AND 2048),
    event_types          TEXT NOT NULL,
    secret               TEXT NOT NULL,
    created_by           TEXT NOT NULL REFERENCES users (id),
    created_at           TIMESTAMP NOT NULL,
    consecutive_failures INTEGER NOT NULL DEFAULT 0,
    failing_since        TIMESTAMP
);

CREATE TABLE webhook_deliveries (
    webhook_id      TEXT NOT NULL REFERENCES webhooks (id) ON DELETE CASCADE,
    event_position  BIGINT NOT NULL REFERENCES events (position),
    user_id         TEXT NOT NULL,
    seq             BIGINT NOT NULL,
    state           TEXT NOT NULL DEFAULT 'pending' CHECK (state IN ('pending', 'delivered', 'failed')),
    attempts        INTEGER NOT NULL DEFAULT 0,
    next_attempt_at TIMESTAMP NOT NULL,
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

-- Inserting here appends one event to the user's stream and queues it for every endpoint
-- that wants it (PostgreSQL's vl_emit).
CREATE VIEW event_queue AS SELECT user_id, type, object_id, snapshot FROM events WHERE 0;
CREATE TRIGGER event_queue_emit INSTEAD OF INSERT ON event_queue BEGIN
    INSERT INTO events (id, user_id, seq, type, object_id, snapshot, created_at)
    VALUES (lower(hex(randomblob(4))) || '-' || lower(hex(randomblob(2))) || '-4'
                || substr(lower(hex(randomblob(2))), 2) || '-' || substr('89ab', 1 + (abs(random()) % 4), 1)
                || substr(lower(hex(randomblob(2))), 2) || '-' || lower(hex(randomblob(6))),
            NEW.user_id,
            coalesce((SELECT max(seq) FROM events WHERE user_id = NEW.user_id), 0) + 1,
            NEW.type, NEW.object_id, NEW.snapshot, strftime('%Y-%m-%d %H:%M:%f', 'now'));
    INSERT INTO webhook_deliveries (webhook_id, event_position, user_id, seq, next_attempt_at)
    SELECT w.id, e.position, e.user_id, e.seq, strftime('%Y-%m-%d %H:%M:%f', 'now')
      FROM webhooks w, events e
     WHERE e.position = last_insert_rowid()
       AND (',' || w.event_types || ',') LIKE ('%,' || NEW.type || ',%');
END;

-- Rows as PostgreSQL's row_to_json shows them (ISO times, JSON booleans), so one reader
-- parses both.
CREATE VIEW installment_json AS
SELECT purchase_id, seq, json_object(
    'purchase_id', purchase_id, 'seq', seq, 'user_id', user_id, 'due_date', due_date,
    'principal_minor', principal_minor, 'fee_minor', fee_minor,
    'fee_billed', json(CASE WHEN fee_billed THEN 'true' ELSE 'false' END),
    'late_fee_minor', late_fee_minor, 'principal_paid_minor', principal_paid_minor,
    'fee_paid_minor', fee_paid_minor, 'late_fee_paid_minor', late_fee_paid_minor, 'state', state,
    'was_overdue', json(CASE WHEN was_overdue THEN 'true' ELSE 'false' END), 'days_overdue', days_overdue) AS body
FROM installments;

CREATE VIEW purchase_json AS
SELECT p.id, json_object(
    'purchase', json_object('id', p.id, 'user_id', p.user_id, 'merchant_id', p.merchant_id,
        'amount_minor', p.amount_minor, 'installments', p.installments, 'description', p.description,
        'state', p.state, 'created_at', replace(p.created_at, ' ', 'T'), 'refunded_minor', p.refunded_minor),
    'schedule', json((SELECT json_group_array(json(i.body)) FROM
        (SELECT body FROM installment_json WHERE purchase_id = p.id ORDER BY seq) i)),
    'refunds', json((SELECT json_group_array(json_object('id', r.id, 'amount_minor', r.amount_minor,
        'reason', r.reason, 'created_at', replace(r.created_at, ' ', 'T'))) FROM
        (SELECT * FROM refunds WHERE purchase_id = p.id ORDER BY created_at, id) r))) AS body
FROM purchases p;

CREATE TRIGGER events_movement AFTER INSERT ON movements BEGIN
    INSERT INTO event_queue VALUES (NEW.user_id, 'movement.created', NEW.entry_id, NULL);
END;

CREATE TRIGGER events_limit AFTER INSERT ON limit_history BEGIN
    INSERT INTO event_queue VALUES (NEW.user_id,
        CASE WHEN NEW.reason IN ('upgrade', 'downgrade') THEN 'credit.line_changed' ELSE 'credit.limit_changed' END,
        NEW.id, NULL);
END;

CREATE TRIGGER events_purchase_hold AFTER INSERT ON purchases WHEN NEW.state = 'authorized' BEGIN
    INSERT INTO event_queue
    SELECT NEW.user_id, 'purchase.authorized', NEW.id, body FROM purchase_json WHERE id = NEW.id;
END;

CREATE TRIGGER events_purchase_void AFTER UPDATE OF state ON purchases
WHEN NEW.state = 'voided' AND OLD.state IS NOT 'voided' BEGIN
    INSERT INTO event_queue
    SELECT NEW.user_id, 'purchase.voided', NEW.id, body FROM purchase_json WHERE id = NEW.id;
END;

-- Parts are written one by one in seq order: the last one makes the `captured` event.
CREATE TRIGGER events_schedule AFTER INSERT ON installments
WHEN NEW.seq = (SELECT installments FROM purchases WHERE id = NEW.purchase_id) BEGIN
    INSERT INTO event_queue
    SELECT NEW.user_id, 'purchase.captured', NEW.purchase_id, body FROM purchase_json WHERE id = NEW.purchase_id;
END;

CREATE TRIGGER events_refund AFTER INSERT ON refunds BEGIN
    INSERT INTO event_queue
    SELECT NEW.user_id, 'purchase.refunded', NEW.purchase_id, body FROM purchase_json WHERE id = NEW.purchase_id;
END;

CREATE TRIGGER events_installment AFTER UPDATE OF state ON installments WHEN OLD.state IS NOT NEW.state BEGIN
    INSERT INTO event_queue
    SELECT NEW.user_id, 'installment.' || NEW.state, NEW.purchase_id || ':' || NEW.seq, body
      FROM installment_json WHERE purchase_id = NEW.purchase_id AND seq = NEW.seq;
END;

CREATE TRIGGER events_user AFTER UPDATE OF status ON users WHEN OLD.status IS NOT NEW.status BEGIN
    INSERT INTO event_queue VALUES (NEW.id, CASE NEW.status WHEN 'frozen' THEN 'user.frozen' ELSE 'user.unfrozen' END,
        NEW.id, json_object('id', NEW.id, 'username', NEW.username, 'display_name', NEW.display_name,
            'role', NEW.role, 'status', NEW.status, 'created_at', replace(NEW.created_at, ' ', 'T')));
END;
