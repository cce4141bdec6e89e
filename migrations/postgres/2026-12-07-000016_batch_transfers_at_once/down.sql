-- vl_batch as it was (000015_batch_skips_held_rows), every operation one by one.
DROP FUNCTION vl_batch(text[], text[], text[], text[], text[], text[], bigint[], text[], text[], timestamp[], bigint, int, bigint[], timestamp[], bigint[]);
CREATE FUNCTION vl_batch(p_ops text[], p_users text[], p_keys text[], p_hashes text[], p_entries text[],
                         p_limit_ids text[], p_amounts bigint[], p_tos text[], p_notes text[], p_nows timestamp[],
                         p_outflow_cap bigint, p_unlocks_per_day int,
                         p_token_versions bigint[], p_windows timestamp[], p_budgets bigint[])
RETURNS TABLE (idx int, error text, detail text, answer text) LANGUAGE plpgsql AS $$
DECLARE
    i int;
    g record;
    v_admitted int;
    r vl_answer;
    v_error text;
    v_detail text;
    v_gates text[] := array_fill(NULL::text, ARRAY[coalesce(cardinality(p_users), 0)]);
    v_locked text[];
    v_some_held boolean := false;
BEGIN
    PERFORM set_config('lock_timeout', '100ms', true);
    FOR g IN
        SELECT s.u, s.v, s.w, s.b, array_agg(s.i ORDER BY s.i) AS idxs
          FROM (SELECT p_users[k] AS u, p_token_versions[k] AS v, p_windows[k] AS w, p_budgets[k] AS b, k AS i
                  FROM generate_subscripts(p_users, 1) AS k) s
         GROUP BY s.u, s.v, s.w, s.b
         ORDER BY s.u COLLATE "C", s.w
    LOOP
        v_admitted := vl_gate_admit(g.u, g.v, g.w, g.b, cardinality(g.idxs));
        FOR i IN 1 .. cardinality(g.idxs) LOOP
            v_gates[g.idxs[i]] := CASE WHEN v_admitted < 0 THEN 'session_ended'
                                       WHEN i > v_admitted THEN 'rate_limited' END;
        END LOOP;
    END LOOP;
    BEGIN
        PERFORM 1 FROM money_accounts
         WHERE user_id IN (SELECT unnest(p_users) UNION SELECT id FROM users WHERE username = ANY (p_tos))
         ORDER BY user_id COLLATE "C" FOR UPDATE;
    EXCEPTION WHEN lock_not_available THEN
        -- Held past the wait: this batch takes the rows that are free, and leaves the rest.
        v_some_held := true;
        SELECT coalesce(array_agg(l.user_id), '{}') INTO v_locked FROM (
            SELECT user_id FROM money_accounts
             WHERE user_id IN (SELECT unnest(p_users) UNION SELECT id FROM users WHERE username = ANY (p_tos))
             ORDER BY user_id COLLATE "C" FOR UPDATE SKIP LOCKED) l;
    END;
    FOR i IN 1 .. coalesce(cardinality(p_ops), 0) LOOP
        IF v_gates[i] IS NOT NULL THEN
            idx := i; error := 'vaultline:' || v_gates[i]; detail := NULL; answer := NULL;
            RETURN NEXT;
            CONTINUE;
        END IF;
        -- A recipient with no account row (no such user) is the operation's own refusal.
        IF v_some_held AND (NOT p_users[i] = ANY (v_locked)
           OR (p_ops[i] = 'transfer' AND EXISTS (SELECT 1 FROM users u JOIN money_accounts m ON m.user_id = u.id
                                                  WHERE u.username = p_tos[i] AND NOT u.id = ANY (v_locked)))) THEN
            idx := i; error := 'vaultline:row_held'; detail := NULL; answer := NULL;
            RETURN NEXT;
            CONTINUE;
        END IF;
        BEGIN
            CASE p_ops[i]
            WHEN 'transfer' THEN
                SELECT * INTO STRICT r FROM vl_transfer(p_users[i], p_keys[i], p_hashes[i], p_entries[i], p_tos[i],
                                                        p_amounts[i], p_notes[i], p_nows[i], p_outflow_cap);
            WHEN 'repayment' THEN
                SELECT * INTO STRICT r FROM vl_repay(p_users[i], p_keys[i], p_hashes[i], p_entries[i], p_amounts[i],
                                                     p_nows[i]);
            ELSE
                SELECT * INTO STRICT r FROM vl_move(p_ops[i], p_users[i], p_keys[i], p_hashes[i], p_entries[i],
                                                    p_limit_ids[i], p_amounts[i], p_nows[i], p_outflow_cap,
                                                    p_unlocks_per_day);
            END CASE;
            idx := i; error := NULL; detail := NULL; answer := row_to_json(r)::text;
            RETURN NEXT;
        EXCEPTION WHEN OTHERS THEN
            GET STACKED DIAGNOSTICS v_error = MESSAGE_TEXT, v_detail = PG_EXCEPTION_DETAIL;
            idx := i; error := v_error; detail := v_detail; answer := NULL;
            RETURN NEXT;
        END;
    END LOOP;
END $$;

DROP FUNCTION vl_batch_transfers(text[], text[], text[], text[], text[], bigint[], text[], text[], timestamp[], bigint, boolean[]);
