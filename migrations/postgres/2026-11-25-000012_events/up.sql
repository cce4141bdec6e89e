-- Events (issue 15): a transactional outbox. Triggers write each event in the statement that
-- makes the change, so no change commits without its event and no event without its change,
-- whichever path (a PL/pgSQL money function, a diesel statement, billing) made it.
-- Twin: migrations/sqlite/2026-11-25-000012_events.

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

-- Appends one event to the user's stream and queues it for every endpoint that wants it.
CREATE FUNCTION vl_emit(p_user text, p_type text, p_object text, p_snapshot text) RETURNS void
LANGUAGE plpgsql AS $$
DECLARE v_seq bigint; v_position bigint;
BEGIN
    INSERT INTO event_streams AS s (user_id, last_seq) VALUES (p_user, 1)
    ON CONFLICT (user_id) DO UPDATE SET last_seq = s.last_seq + 1
    RETURNING s.last_seq INTO v_seq;
    INSERT INTO events (user_id, seq, type, object_id, snapshot)
    VALUES (p_user, v_seq, p_type, p_object, p_snapshot)
    RETURNING position INTO v_position;
    INSERT INTO webhook_deliveries (webhook_id, event_position, user_id, seq, next_attempt_at)
    SELECT w.id, v_position, p_user, v_seq, now() AT TIME ZONE 'utc' FROM webhooks w
     WHERE (',' || w.event_types || ',') LIKE ('%,' || p_type || ',%');
END $$;

-- A purchase with its schedule and refunds, as stored.
CREATE FUNCTION vl_event_purchase(p_purchase text) RETURNS text LANGUAGE sql AS $$
    SELECT json_build_object(
        'purchase', (SELECT row_to_json(p) FROM purchases p WHERE p.id = p_purchase),
        'schedule', coalesce((SELECT json_agg(i ORDER BY i.seq) FROM installments i WHERE i.purchase_id = p_purchase),
                             '[]'::json),
        'refunds', coalesce((SELECT json_agg(r ORDER BY r.created_at, r.id) FROM refunds r
                              WHERE r.purchase_id = p_purchase), '[]'::json))::text
$$;

CREATE FUNCTION vl_events_movement() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM vl_emit(NEW.user_id, 'movement.created', NEW.entry_id, NULL);
    RETURN NULL;
END $$;
CREATE TRIGGER events_movement AFTER INSERT ON movements FOR EACH ROW EXECUTE FUNCTION vl_events_movement();

-- A line change (upgrade, downgrade) is its own type; every other row is a limit change.
CREATE FUNCTION vl_events_limit() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM vl_emit(NEW.user_id,
                    CASE WHEN NEW.reason IN ('upgrade', 'downgrade') THEN 'credit.line_changed'
                         ELSE 'credit.limit_changed' END,
                    NEW.id, NULL);
    RETURN NULL;
END $$;
CREATE TRIGGER events_limit AFTER INSERT ON limit_history FOR EACH ROW EXECUTE FUNCTION vl_events_limit();

-- A hold is an event when written; a capture when its whole schedule is (below), so the
-- event shows the schedule; a void when the state changes.
CREATE FUNCTION vl_events_purchase() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM vl_emit(NEW.user_id, 'purchase.' || NEW.state, NEW.id, vl_event_purchase(NEW.id));
    RETURN NULL;
END $$;
CREATE TRIGGER events_purchase_hold AFTER INSERT ON purchases FOR EACH ROW
    WHEN (NEW.state = 'authorized') EXECUTE FUNCTION vl_events_purchase();
CREATE TRIGGER events_purchase_void AFTER UPDATE OF state ON purchases FOR EACH ROW
    WHEN (NEW.state = 'voided' AND OLD.state IS DISTINCT FROM 'voided') EXECUTE FUNCTION vl_events_purchase();

-- The last part of a schedule written (one INSERT statement: after-row triggers run when
-- every row is in) makes the purchase's `captured` event, for a capture and for a bill plan.
CREATE FUNCTION vl_events_schedule() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF NEW.seq = (SELECT installments FROM purchases WHERE id = NEW.purchase_id) THEN
        PERFORM vl_emit(NEW.user_id, 'purchase.captured', NEW.purchase_id, vl_event_purchase(NEW.purchase_id));
    END IF;
    RETURN NULL;
END $$;
CREATE TRIGGER events_schedule AFTER INSERT ON installments FOR EACH ROW EXECUTE FUNCTION vl_events_schedule();

-- A refund is written last in its transaction: the event shows the schedule after it.
CREATE FUNCTION vl_events_refund() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM vl_emit(NEW.user_id, 'purchase.refunded', NEW.purchase_id, vl_event_purchase(NEW.purchase_id));
    RETURN NULL;
END $$;
CREATE TRIGGER events_refund AFTER INSERT ON refunds FOR EACH ROW EXECUTE FUNCTION vl_events_refund();

CREATE FUNCTION vl_events_installment() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM vl_emit(NEW.user_id, 'installment.' || NEW.state, NEW.purchase_id || ':' || NEW.seq, row_to_json(NEW)::text);
    RETURN NULL;
END $$;
CREATE TRIGGER events_installment AFTER UPDATE OF state ON installments FOR EACH ROW
    WHEN (OLD.state IS DISTINCT FROM NEW.state) EXECUTE FUNCTION vl_events_installment();

CREATE FUNCTION vl_events_user() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM vl_emit(NEW.id, CASE NEW.status WHEN 'frozen' THEN 'user.frozen' ELSE 'user.unfrozen' END, NEW.id,
                    json_build_object('id', NEW.id, 'username', NEW.username, 'display_name', NEW.display_name,
                                      'role', NEW.role, 'status', NEW.status, 'created_at', NEW.created_at)::text);
    RETURN NULL;
END $$;
CREATE TRIGGER events_user AFTER UPDATE OF status ON users FOR EACH ROW
    WHEN (OLD.status IS DISTINCT FROM NEW.status) EXECUTE FUNCTION vl_events_user();
