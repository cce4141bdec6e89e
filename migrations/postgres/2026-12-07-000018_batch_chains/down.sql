-- vl_batch with the plans PostgreSQL chooses, and vl_batch_transfers as it was
-- (000016_batch_transfers_at_once): independent transfers only.
ALTER FUNCTION vl_batch(text[], text[], text[], text[], text[], text[], bigint[], text[], text[], timestamp[], bigint, int, bigint[], timestamp[], bigint[]) RESET plan_cache_mode;

CREATE OR REPLACE FUNCTION vl_batch_transfers(p_ops text[], p_users text[], p_keys text[], p_hashes text[], p_entries text[],
                                   p_amounts bigint[], p_tos text[], p_notes text[], p_nows timestamp[],
                                   p_outflow_cap bigint, p_skip boolean[],
                                   OUT answers text[], OUT recipients text[])
LANGUAGE plpgsql AS $$
DECLARE
    n int := coalesce(cardinality(p_ops), 0);
    v_answers text[] := array_fill(NULL::text, ARRAY[n]);
    v_ready boolean[]; v_to_ids text[]; v_to_status text[]; v_from_names text[];
    v_touched text[] := '{}';
    v_mine text[];
    v_fast int[] := '{}';
    v_senders text[]; v_recipients text[];
    v_done int[]; v_texts text[]; v_rows bigint;
BEGIN
    SELECT array_agg(c.ready ORDER BY c.k), array_agg(c.to_id ORDER BY c.k), array_agg(c.to_status ORDER BY c.k),
           array_agg(c.from_name ORDER BY c.k)
      INTO v_ready, v_to_ids, v_to_status, v_from_names
      FROM (SELECT k, t.id AS to_id, t.status AS to_status, s.username AS from_name,
                   coalesce(p_ops[k] = 'transfer' AND NOT p_skip[k] AND p_amounts[k] > 0 AND t.id <> p_users[k]
                            AND s.status = 'active' AND ms.wallet_minor >= p_amounts[k]
                            AND mt.wallet_minor <= 100000000000000000 - p_amounts[k]
                            AND NOT EXISTS (SELECT 1 FROM idempotency_keys ik
                                             WHERE ik.user_id = p_users[k] AND ik.idem_key = p_keys[k])
                            AND (p_outflow_cap IS NULL OR p_amounts[k] + (
                                 SELECT coalesce(sum(h.amount_minor), 0) FROM outflow_hours h
                                  WHERE h.user_id = p_users[k]
                                    AND h.hour >= date_trunc('hour', p_nows[k]) - interval '24 hours') <= p_outflow_cap),
                            false) AS ready
              -- Each a lookup by key (OFFSET 0 keeps it one): a handful of rows, never a scan.
              FROM generate_subscripts(p_ops, 1) AS k
              LEFT JOIN LATERAL (SELECT u.username, u.status FROM users u WHERE u.id = p_users[k] OFFSET 0) s ON true
              LEFT JOIN LATERAL (SELECT m.wallet_minor FROM money_accounts m WHERE m.user_id = p_users[k] OFFSET 0) ms
                ON true
              LEFT JOIN LATERAL (SELECT u.id, u.status FROM users u WHERE p_ops[k] = 'transfer' AND u.username = p_tos[k]
                                 OFFSET 0) t ON true
              LEFT JOIN LATERAL (SELECT m.wallet_minor FROM money_accounts m WHERE m.user_id = t.id OFFSET 0) mt ON true) c;
    FOR i IN 1 .. n LOOP
        CONTINUE WHEN p_skip[i];
        v_mine := CASE WHEN v_to_ids[i] IS NULL THEN ARRAY[p_users[i]] ELSE ARRAY[p_users[i], v_to_ids[i]] END;
        IF v_ready[i] AND NOT v_mine && v_touched THEN
            v_fast := v_fast || i;
        END IF;
        v_touched := v_touched || v_mine;
    END LOOP;
    -- Each transfer's recipient (the service's lanes keep them, to tell which requests can
    -- run beside a batch without waiting for its rows).
    recipients := v_to_ids;
    answers := v_answers;
    IF cardinality(v_fast) = 0 THEN
        RETURN;
    END IF;
    -- The account rows by their key (= ANY): the planner would hash a small table whole.
    v_senders := ARRAY(SELECT p_users[k] FROM unnest(v_fast) AS k);
    v_recipients := ARRAY(SELECT v_to_ids[k] FROM unnest(v_fast) AS k);
    BEGIN
        -- The account rows are the batch's already; any other row held elsewhere (a key another
        -- request is claiming) is waited for 10 ms, not the batch's 100: past that, all run one
        -- by one, and only the operation needing it waits again. Back to 100 ms on success (an
        -- error takes the setting back with the subtransaction).
        PERFORM set_config('lock_timeout', '10ms', true);
        WITH ops AS MATERIALIZED (
            SELECT f.k, p_users[f.k] AS uid, p_keys[f.k] AS ikey, p_hashes[f.k] AS hash, p_entries[f.k] AS entry,
                   p_amounts[f.k] AS amt, p_tos[f.k] AS to_name, v_to_ids[f.k] AS to_id,
                   v_to_status[f.k] AS to_status, v_from_names[f.k] AS from_name, p_notes[f.k] AS note,
                   p_nows[f.k] AS ts
              FROM unnest(v_fast) AS f(k)),
        claim AS (
            INSERT INTO idempotency_keys (user_id, idem_key, request_hash, response_status, response_body, entry_id,
                                          answer, created_at)
            SELECT uid, ikey, hash, 201, NULL, entry, 'movement', ts FROM ops),
        src AS (
            UPDATE money_accounts m SET wallet_minor = m.wallet_minor - o.amt FROM ops o
             WHERE m.user_id = ANY (v_senders) AND m.user_id = o.uid AND m.wallet_minor >= o.amt
            RETURNING o.k, m.*),
        dst AS (
            UPDATE money_accounts m SET wallet_minor = m.wallet_minor + o.amt FROM ops o
             WHERE m.user_id = ANY (v_recipients) AND m.user_id = o.to_id RETURNING o.k, m.*),
        outflow AS (
            INSERT INTO outflow_hours AS h (user_id, hour, amount_minor)
            SELECT uid, date_trunc('hour', ts), amt FROM ops
            ON CONFLICT (user_id, hour) DO UPDATE SET amount_minor = h.amount_minor + EXCLUDED.amount_minor),
        entry AS (
            INSERT INTO journal_entries (id, kind, user_id, created_at) SELECT entry, 'transfer', uid, ts FROM ops),
        legs AS (
            INSERT INTO postings (entry_id, account_id, amount_minor)
            SELECT entry, uid || ':wallet', -amt FROM ops
            UNION ALL SELECT entry, to_id || ':wallet', amt FROM ops),
        moved AS (
            INSERT INTO movements AS mv (entry_id, user_id, kind, amount_minor, counterparty, note, created_at, status,
                wallet_minor, vault_minor, line, general_limit_minor, held_minor, principal_minor, fees_minor,
                late_fees_minor, on_time_installments, overdue_installments, overdue_days, collateral_settlements,
                vault_floor_minor, overdue_now)
            SELECT o.entry, a.user_id, side.kind, o.amt, side.counterparty, o.note, o.ts, side.status,
                a.wallet_minor, a.vault_minor, a.line, a.general_limit_minor, a.held_minor, a.principal_minor,
                a.fees_minor, a.late_fees_minor, a.on_time_installments, a.overdue_installments, a.overdue_days,
                a.collateral_settlements, LEAST(a.vault_floor_minor, a.vault_minor), a.overdue_count > 0
              FROM ops o
              CROSS JOIN LATERAL (VALUES (1, 'transfer_out', o.to_name, 'active'),
                                         (2, 'transfer_in', o.from_name, o.to_status)) AS side(n, kind, counterparty, status)
              JOIN (SELECT 'transfer_out' AS kind, * FROM src UNION ALL SELECT 'transfer_in', * FROM dst) a
                ON a.k = o.k AND a.kind = side.kind
             -- In the batch's order, each sender before its recipient, as one by one: the events
             -- (appended in the order written) follow it.
             ORDER BY o.k, side.n
            RETURNING mv.*)
        SELECT array_agg(o.k ORDER BY o.k),
               array_agg(row_to_json(ROW('fresh', mv.entry_id, mv.kind, mv.amount_minor, mv.counterparty, mv.note,
                   mv.created_at, mv.status, mv.wallet_minor, mv.vault_minor, mv.line, mv.general_limit_minor,
                   mv.held_minor, mv.principal_minor, mv.fees_minor, mv.late_fees_minor, mv.on_time_installments,
                   mv.overdue_installments, mv.overdue_days, mv.collateral_settlements, mv.vault_floor_minor,
                   mv.overdue_now, s.opened_at)::vl_answer)::text ORDER BY o.k),
               (SELECT count(*) FROM moved)
          INTO v_done, v_texts, v_rows
          FROM moved mv JOIN ops o ON o.entry = mv.entry_id JOIN src s ON s.k = o.k
         WHERE mv.kind = 'transfer_out';
        IF v_done IS DISTINCT FROM v_fast OR v_rows <> 2 * cardinality(v_fast) THEN
            RAISE EXCEPTION 'vl_batch_transfers wrote % movements for % transfers', v_rows, cardinality(v_fast);
        END IF;
        PERFORM set_config('lock_timeout', '100ms', true);
    EXCEPTION WHEN OTHERS THEN
        -- Nothing of it is kept: each runs one by one, where its own error is answered.
        RETURN;
    END;
    FOR i IN 1 .. cardinality(v_done) LOOP
        answers[v_done[i]] := v_texts[i];
    END LOOP;
END $$;
