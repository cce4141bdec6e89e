-- vl_batch as it was: a batch waits for every account row it locks.
-- Group commit: every request of the batch with its own gate, in one call. Lock order, the
-- same as every other money call's: budget rows before account rows (vl_gate runs as the
-- argument of the single-request functions), each kind in user order. So two batches, or a
-- batch and a single call, never wait on each other in a cycle. A user's requests with one
-- session and window are admitted together, the earliest queued first.
CREATE OR REPLACE FUNCTION vl_batch(p_ops text[], p_users text[], p_keys text[], p_hashes text[], p_entries text[],
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
BEGIN
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
    PERFORM 1 FROM money_accounts
     WHERE user_id IN (SELECT unnest(p_users) UNION SELECT id FROM users WHERE username = ANY (p_tos))
     ORDER BY user_id COLLATE "C" FOR UPDATE;
    FOR i IN 1 .. coalesce(cardinality(p_ops), 0) LOOP
        IF v_gates[i] IS NOT NULL THEN
            idx := i; error := 'vaultline:' || v_gates[i]; detail := NULL; answer := NULL;
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
