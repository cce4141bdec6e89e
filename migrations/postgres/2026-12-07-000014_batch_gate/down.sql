-- Back to gates sent before the batch, one statement per request.
DROP FUNCTION vl_batch(text[], text[], text[], text[], text[], text[], bigint[], text[], text[], timestamp[], bigint, int,
                       bigint[], timestamp[], bigint[]);
-- as in 2026-11-24-000010_request_gate
CREATE OR REPLACE FUNCTION vl_gate(p_user text, p_token_version bigint, p_window timestamp, p_budget bigint)
RETURNS text LANGUAGE plpgsql AS $$
DECLARE v_requests bigint;
BEGIN
    IF p_token_version IS NOT NULL THEN
        PERFORM 1 FROM users WHERE id = p_user AND token_version = p_token_version;
        IF NOT FOUND THEN
            PERFORM vl_refuse('session_ended');
        END IF;
    END IF;
    IF p_budget IS NOT NULL THEN
        INSERT INTO request_windows (user_id, window_start, requests) VALUES (p_user, p_window, 1)
        ON CONFLICT (user_id, window_start) DO UPDATE SET requests = request_windows.requests + 1
        RETURNING requests INTO v_requests;
        IF v_requests > p_budget THEN
            PERFORM vl_refuse('rate_limited', v_requests::text);
        END IF;
    END IF;
    RETURN p_user;
END $$;
DROP FUNCTION vl_gate_code(text, bigint, timestamp, bigint);
-- as in 2026-11-23-000007_credit_safety
CREATE FUNCTION vl_batch(p_ops text[], p_users text[], p_keys text[], p_hashes text[], p_entries text[],
                         p_limit_ids text[], p_amounts bigint[], p_tos text[], p_notes text[], p_nows timestamp[],
                         p_outflow_cap bigint, p_unlocks_per_day int)
RETURNS TABLE (idx int, error text, detail text, answer text) LANGUAGE plpgsql AS $$
DECLARE
    i int;
    r vl_answer;
    v_error text;
    v_detail text;
BEGIN
    PERFORM 1 FROM money_accounts
     WHERE user_id IN (SELECT unnest(p_users) UNION SELECT id FROM users WHERE username = ANY (p_tos))
     ORDER BY user_id COLLATE "C" FOR UPDATE;
    FOR i IN 1 .. coalesce(cardinality(p_ops), 0) LOOP
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
