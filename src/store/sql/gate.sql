-- The request gate (session and budget) each money call runs first, and the outflow cap's
-- count, shared by every operation that moves money out.
--
-- Live source: applied after the versioned migrations as CREATE OR REPLACE, in one
-- transaction, whenever these files change (src/store/replaceable.rs). Edit here, never in
-- a migration; a changed signature needs a new name (a migration drops the old one).

-- The single request's gate: the same rule, refusing by exception (which rolls the call back).
CREATE OR REPLACE FUNCTION vl_gate(p_user text, p_token_version bigint, p_window timestamp, p_budget bigint)
RETURNS text LANGUAGE plpgsql AS $$
DECLARE v_admitted int := vl_gate_admit(p_user, p_token_version, p_window, p_budget, 1);
BEGIN
    IF v_admitted < 0 THEN
        PERFORM vl_refuse('session_ended');
    ELSIF v_admitted = 0 THEN
        PERFORM vl_refuse('rate_limited');
    END IF;
    RETURN p_user;
END $$;

-- How many of `p_requests` requests the gate admits: -1 when the session has ended (the
-- token's version is no longer the user's), else up to the budget left in the window. The
-- admitted ones are counted; refused ones are not (as when vl_gate's refusal rolled its
-- count back). The upsert locks the budget row first, so concurrent gates count exactly.
CREATE OR REPLACE FUNCTION vl_gate_admit(p_user text, p_token_version bigint, p_window timestamp, p_budget bigint,
                              p_requests int)
RETURNS int LANGUAGE plpgsql AS $$
DECLARE
    v_after bigint;
    v_admitted int := p_requests;
BEGIN
    IF p_token_version IS NOT NULL THEN
        PERFORM 1 FROM users WHERE id = p_user AND token_version = p_token_version;
        IF NOT FOUND THEN
            RETURN -1;
        END IF;
    END IF;
    IF p_budget IS NOT NULL THEN
        INSERT INTO request_windows AS w (user_id, window_start, requests) VALUES (p_user, p_window, p_requests)
        ON CONFLICT (user_id, window_start) DO UPDATE SET requests = w.requests + EXCLUDED.requests
        RETURNING requests INTO v_after;
        v_admitted := LEAST(p_requests, GREATEST(p_budget - (v_after - p_requests), 0));
        IF v_admitted < p_requests THEN
            -- Past the budget: the refused ones are taken back (the row is ours until commit).
            UPDATE request_windows SET requests = requests - (p_requests - v_admitted)
             WHERE user_id = p_user AND window_start = p_window;
        END IF;
    END IF;
    RETURN v_admitted;
END $$;

-- Counts this outflow in its clock hour and refuses it when the hours from 24 hours before
-- the start of this one hold more than the cap (NULL: no cap, only counted). Counting by the
-- hour makes an outflow count for 24 to 25 hours: never more than the cap in any rolling 24
-- hours. Runs under the account row's lock.
CREATE OR REPLACE FUNCTION vl_check_outflow(p_user text, p_amount bigint, p_now timestamp, p_cap bigint)
RETURNS void LANGUAGE plpgsql AS $$
DECLARE
    v_used bigint;
BEGIN
    IF p_cap IS NOT NULL THEN
        SELECT coalesce(sum(amount_minor), 0) INTO v_used FROM outflow_hours
         WHERE user_id = p_user AND hour >= date_trunc('hour', p_now) - interval '24 hours';
        IF v_used + p_amount > p_cap THEN
            PERFORM vl_refuse('velocity_limit_exceeded', format('outflow,%s,%s', v_used, p_cap));
        END IF;
    END IF;
    INSERT INTO outflow_hours (user_id, hour, amount_minor) VALUES (p_user, date_trunc('hour', p_now), p_amount)
    ON CONFLICT (user_id, hour) DO UPDATE SET amount_minor = outflow_hours.amount_minor + p_amount;
END $$;
