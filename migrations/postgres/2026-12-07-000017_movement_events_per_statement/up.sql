-- A movement's event is written per statement, not per row: one statement appends the
-- events of every movement an INSERT wrote, for every user among them, and queues them for
-- the endpoints. The same events as before (000012_events), in the same order: each user's
-- seq rises by one per movement, in the order the rows were written. A group-commit batch
-- writes its independent transfers' 16 movements in one INSERT (000016), whose 16 trigger
-- calls, three statements each, were a third of the batch's time.
CREATE FUNCTION vl_events_movements() RETURNS trigger LANGUAGE plpgsql AS $$
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
DROP TRIGGER events_movement ON movements;
CREATE TRIGGER events_movements AFTER INSERT ON movements REFERENCING NEW TABLE AS new_movements
    FOR EACH STATEMENT EXECUTE FUNCTION vl_events_movements();
