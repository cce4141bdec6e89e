-- Events: every change a user would hear about writes its event (and its webhook deliveries) in
-- the same transaction, from these triggers.
--
-- Live source: applied after the versioned migrations as CREATE OR REPLACE, in one
-- transaction, whenever these files change (src/store/replaceable.rs). Edit here, never in
-- a migration; a changed signature needs a new name (a migration drops the old one).

-- Appends one event to the user's stream and queues it for every endpoint that wants it.
CREATE OR REPLACE FUNCTION vl_emit(p_user text, p_type text, p_object text, p_snapshot text) RETURNS void
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

CREATE OR REPLACE FUNCTION vl_event_purchase(p_purchase text) RETURNS text LANGUAGE plpgsql AS $$
BEGIN
    RETURN json_build_object(
        'purchase', (SELECT row_to_json(p) FROM purchases p WHERE p.id = p_purchase),
        'schedule', coalesce((SELECT json_agg(i ORDER BY i.seq) FROM installments i WHERE i.purchase_id = p_purchase),
                             '[]'::json),
        'refunds', coalesce((SELECT json_agg(r ORDER BY r.created_at, r.id) FROM refunds r
                              WHERE r.purchase_id = p_purchase), '[]'::json))::text;
END $$;

CREATE OR REPLACE FUNCTION vl_events_movement() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM vl_emit(NEW.user_id, 'movement.created', NEW.entry_id, NULL);
    RETURN NULL;
END $$;

-- A movement's event is written per statement, not per row: one statement appends the
-- events of every movement an INSERT wrote, for every user among them, and queues them for
-- the endpoints. The same events as the row trigger (vl_events_movement) wrote, in the same
-- order: each user's seq rises by one per movement, in the order the rows were written. A
-- group-commit batch writes its transfers' 16 movements in one INSERT (vl_batch_transfers),
-- whose 16 trigger calls, three statements each, were a third of the batch's time.
CREATE OR REPLACE FUNCTION vl_events_movements() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    v_rows bigint; v_user text; v_entry text;
BEGIN
    -- One row (every movement but a batch's transfers written together): the row's own
    -- three statements, a quarter of the set-wise statement's cost for one row.
    SELECT count(*), min(user_id), min(entry_id) INTO v_rows, v_user, v_entry FROM new_movements;
    IF v_rows <= 1 THEN
        IF v_rows = 1 THEN
            PERFORM vl_emit(v_user, 'movement.created', v_entry, NULL);
        END IF;
        RETURN NULL;
    END IF;
    WITH written AS MATERIALIZED (
        SELECT n.user_id, n.entry_id, row_number() OVER () AS ord FROM new_movements n),
    per_user AS (
        SELECT user_id, count(*) AS n FROM written GROUP BY user_id),
    -- Each user's stream row, locked in user order (as money rows are).
    streams AS (
        INSERT INTO event_streams AS s (user_id, last_seq)
        SELECT user_id, n FROM per_user ORDER BY user_id COLLATE "C"
        ON CONFLICT (user_id) DO UPDATE SET last_seq = s.last_seq + EXCLUDED.last_seq
        RETURNING s.user_id, s.last_seq),
    appended AS (
        INSERT INTO events (user_id, seq, type, object_id, snapshot)
        SELECT w.user_id, st.last_seq - p.n + row_number() OVER (PARTITION BY w.user_id ORDER BY w.ord),
               'movement.created', w.entry_id, NULL
          FROM written w JOIN streams st USING (user_id) JOIN per_user p USING (user_id)
         ORDER BY w.ord
        RETURNING position, user_id, seq, type)
    INSERT INTO webhook_deliveries (webhook_id, event_position, user_id, seq, next_attempt_at)
    SELECT wh.id, a.position, a.user_id, a.seq, now() AT TIME ZONE 'utc'
      FROM appended a JOIN webhooks wh ON (',' || wh.event_types || ',') LIKE ('%,' || a.type || ',%');
    RETURN NULL;
END $$;

-- A hold is an event when written; a capture when its whole schedule is (below), so the
-- event shows the schedule; a void when the state changes.
CREATE OR REPLACE FUNCTION vl_events_purchase() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM vl_emit(NEW.user_id, 'purchase.' || NEW.state, NEW.id, vl_event_purchase(NEW.id));
    RETURN NULL;
END $$;

-- The last part of a schedule written (one INSERT statement: after-row triggers run when
-- every row is in) makes the purchase's `captured` event, for a capture and for a bill plan.
CREATE OR REPLACE FUNCTION vl_events_schedule() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF NEW.seq = (SELECT installments FROM purchases WHERE id = NEW.purchase_id) THEN
        PERFORM vl_emit(NEW.user_id, 'purchase.captured', NEW.purchase_id, vl_event_purchase(NEW.purchase_id));
    END IF;
    RETURN NULL;
END $$;

-- A refund is written last in its transaction: the event shows the schedule after it.
CREATE OR REPLACE FUNCTION vl_events_refund() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM vl_emit(NEW.user_id, 'purchase.refunded', NEW.purchase_id, vl_event_purchase(NEW.purchase_id));
    RETURN NULL;
END $$;

CREATE OR REPLACE FUNCTION vl_events_installment() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM vl_emit(NEW.user_id, 'installment.' || NEW.state, NEW.purchase_id || ':' || NEW.seq, row_to_json(NEW)::text);
    RETURN NULL;
END $$;

-- A line change (upgrade, downgrade) is its own type; every other row is a limit change.
CREATE OR REPLACE FUNCTION vl_events_limit() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM vl_emit(NEW.user_id,
                    CASE WHEN NEW.reason IN ('upgrade', 'downgrade') THEN 'credit.line_changed'
                         ELSE 'credit.limit_changed' END,
                    NEW.id, NULL);
    RETURN NULL;
END $$;

CREATE OR REPLACE FUNCTION vl_events_user() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM vl_emit(NEW.id, CASE NEW.status WHEN 'frozen' THEN 'user.frozen' ELSE 'user.unfrozen' END, NEW.id,
                    json_build_object('id', NEW.id, 'username', NEW.username, 'display_name', NEW.display_name,
                                      'role', NEW.role, 'status', NEW.status, 'created_at', NEW.created_at)::text);
    RETURN NULL;
END $$;

-- The triggers that call them.
CREATE OR REPLACE TRIGGER events_limit AFTER INSERT ON limit_history FOR EACH ROW EXECUTE FUNCTION vl_events_limit();
CREATE OR REPLACE TRIGGER events_purchase_hold AFTER INSERT ON purchases FOR EACH ROW
    WHEN (NEW.state = 'authorized') EXECUTE FUNCTION vl_events_purchase();
CREATE OR REPLACE TRIGGER events_purchase_void AFTER UPDATE OF state ON purchases FOR EACH ROW
    WHEN (NEW.state = 'voided' AND OLD.state IS DISTINCT FROM 'voided') EXECUTE FUNCTION vl_events_purchase();
CREATE OR REPLACE TRIGGER events_schedule AFTER INSERT ON installments FOR EACH ROW EXECUTE FUNCTION vl_events_schedule();
CREATE OR REPLACE TRIGGER events_refund AFTER INSERT ON refunds FOR EACH ROW EXECUTE FUNCTION vl_events_refund();
CREATE OR REPLACE TRIGGER events_installment AFTER UPDATE OF state ON installments FOR EACH ROW
    WHEN (OLD.state IS DISTINCT FROM NEW.state) EXECUTE FUNCTION vl_events_installment();
CREATE OR REPLACE TRIGGER events_user AFTER UPDATE OF status ON users FOR EACH ROW
    WHEN (OLD.status IS DISTINCT FROM NEW.status) EXECUTE FUNCTION vl_events_user();
CREATE OR REPLACE TRIGGER events_movements AFTER INSERT ON movements REFERENCING NEW TABLE AS new_movements
    FOR EACH STATEMENT EXECUTE FUNCTION vl_events_movements();
