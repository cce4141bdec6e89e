-- Group commit on PostgreSQL in one round trip per batch (issue 10). Each request of a batch
-- used to pass its gate (token version, request budget) in a statement of its own before it
-- was queued: one more round trip and one more transaction per request, and on a hot user
-- one more row lock taken and released per request. vl_batch now runs the gates itself.

-- The gate as a code rather than an exception: NULL when the request passes, else the
-- refusal (`session_ended`, `rate_limited`). No exception, so no subtransaction per gate.
-- As with vl_gate, a request refused by the gate is not counted (the budget's row is not
-- raised past the budget), and a request that passes stays counted whatever its operation
-- answers: outside the operation's subtransaction, so a refusal does not roll it back.
CREATE FUNCTION vl_gate_code(p_user text, p_token_version bigint, p_window timestamp, p_budget bigint)
RETURNS text LANGUAGE plpgsql AS $$
DECLARE v_requests bigint;
BEGIN
    IF p_token_version IS NOT NULL THEN
        PERFORM 1 FROM users WHERE id = p_user AND token_version = p_token_version;
        IF NOT FOUND THEN
            RETURN 'session_ended';
        END IF;
    END IF;
    IF p_budget IS NOT NULL THEN
        INSERT INTO request_windows (user_id, window_start, requests) VALUES (p_user, p_window, 1)
        ON CONFLICT (user_id, window_start) DO UPDATE SET requests = request_windows.requests + 1
         WHERE request_windows.requests < p_budget
        RETURNING requests INTO v_requests;
        IF v_requests IS NULL OR v_requests > p_budget THEN
            RETURN 'rate_limited';
        END IF;
    END IF;
    RETURN NULL;
END $$;

-- The single-request gate says the same, as the exception that rolls its call back: one
-- rule, written once.
CREATE OR REPLACE FUNCTION vl_gate(p_user text, p_token_version bigint, p_window timestamp, p_budget bigint)
RETURNS text LANGUAGE plpgsql AS $$
DECLARE v_refusal text := vl_gate_code(p_user, p_token_version, p_window, p_budget);
BEGIN
    IF v_refusal IS NOT NULL THEN
        PERFORM vl_refuse(v_refusal);
    END IF;
    RETURN p_user;
END $$;

DROP FUNCTION vl_batch(text[], text[], text[], text[], text[], text[], bigint[], text[], text[], timestamp[], bigint, int);

-- Lock order, the same as every other money call's: a user's budget row before any account
-- row (vl_gate runs as the argument of the single-request functions), the budget rows in
-- user order, then the accounts in user order. Two batches, or a batch and a single call,
-- never wait on each other in a cycle.
CREATE FUNCTION vl_batch(p_ops text[], p_users text[], p_keys text[], p_hashes text[], p_entries text[],
                         p_limit_ids text[], p_amounts bigint[], p_tos text[], p_notes text[], p_nows timestamp[],
                         p_outflow_cap bigint, p_unlocks_per_day int,
                         p_token_versions bigint[], p_windows timestamp[], p_budgets bigint[])
RETURNS TABLE (idx int, error text, detail text, answer text) LANGUAGE plpgsql AS $$
DECLARE
    i int;
    r vl_answer;
    v_error text;
    v_detail text;
    v_gates text[] := array_fill(NULL::text, ARRAY[coalesce(cardinality(p_users), 0)]);
BEGIN
    FOR i IN SELECT g.i FROM generate_subscripts(p_users, 1) AS g(i) ORDER BY p_users[g.i] COLLATE "C", g.i LOOP
        v_gates[i] := vl_gate_code(p_users[i], p_token_versions[i], p_windows[i], p_budgets[i]);
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
