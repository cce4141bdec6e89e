-- The wallet and vault operations of a user's request path, and the request gate (session and
-- budget) each call runs first.
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

-- The operations, unchanged but for the fresh answer (the one recorded), the unlock cap
-- (above), and fewer nested calls: each level is an executor of its own (the key claim calls
-- vl_claim directly, a transfer reads the sender's name with its status, once).
CREATE OR REPLACE FUNCTION vl_move(p_op text, p_user text, p_key text, p_hash text, p_entry text, p_limit_id text,
                        p_amount bigint, p_now timestamp, p_outflow_cap bigint, p_unlocks_per_day int)
RETURNS SETOF vl_answer LANGUAGE plpgsql AS $$
DECLARE
    v_replay text := (vl_claim(p_user, p_key, p_hash, 201, 'movement', p_entry, NULL, p_now)).entry_id;
    v_wallet text := p_user || ':wallet';
    v_vault text := p_user || ':vault';
    v_from text;
    v_to text;
    v_status text;
    a money_accounts;
    r vl_answer;
BEGIN
    IF v_replay IS NOT NULL THEN
        RETURN QUERY SELECT * FROM vl_answer('replay', p_user, v_replay);
        RETURN;
    END IF;
    IF p_amount <= 0 THEN
        PERFORM vl_refuse('corrupt', 'amount must be positive');
    END IF;
    CASE p_op
    WHEN 'deposit' THEN
        UPDATE money_accounts SET wallet_minor = wallet_minor + p_amount
         WHERE user_id = p_user RETURNING * INTO a;
        v_from := 'sys:external_funding'; v_to := v_wallet;
    WHEN 'withdrawal' THEN
        UPDATE money_accounts SET wallet_minor = wallet_minor - p_amount
         WHERE user_id = p_user AND wallet_minor >= p_amount RETURNING * INTO a;
        v_from := v_wallet; v_to := 'sys:external_funding';
    WHEN 'vault_lock' THEN
        UPDATE money_accounts SET wallet_minor = wallet_minor - p_amount, vault_minor = vault_minor + p_amount
         WHERE user_id = p_user AND wallet_minor >= p_amount RETURNING * INTO a;
        v_from := v_wallet; v_to := v_vault;
    WHEN 'vault_unlock' THEN
        -- On a secured line the vault may not drop below the exposure it pledges.
        UPDATE money_accounts SET vault_minor = vault_minor - p_amount, wallet_minor = wallet_minor + p_amount,
               vault_floor_minor = LEAST(vault_floor_minor, vault_minor - p_amount),
               unlocks_that_day = CASE WHEN unlock_day IS NULL OR p_now::date > unlock_day THEN 1
                                       ELSE unlocks_that_day + 1 END,
               unlock_day = GREATEST(unlock_day, p_now::date)
         WHERE user_id = p_user AND vault_minor >= p_amount
           AND (line = 'general' OR vault_minor - p_amount >= held_minor + principal_minor + fees_minor + late_fees_minor)
        RETURNING * INTO a;
        v_from := v_vault; v_to := v_wallet;
    ELSE
        PERFORM vl_refuse('corrupt', 'unknown operation ' || p_op);
    END CASE;
    -- Frozen: no money leaves on the user's own initiative (deposits and locks stay allowed).
    -- Read after the UPDATE took the account row's lock: a freeze locks that row before it
    -- commits, so an operation queued behind a freeze sees it.
    v_status := (SELECT status FROM users WHERE id = p_user);
    IF v_status IS DISTINCT FROM 'active' AND p_op IN ('withdrawal', 'vault_unlock') THEN
        PERFORM vl_refuse('account_frozen');
    END IF;
    IF a.user_id IS NULL THEN
        PERFORM vl_refuse_rule(p_user);
    END IF;
    -- Velocity, under the row lock the UPDATE took, so concurrent requests count each other.
    IF p_op = 'withdrawal' THEN
        PERFORM vl_check_outflow(p_user, p_amount, p_now, p_outflow_cap);
    ELSIF p_op = 'vault_unlock' AND a.unlocks_that_day > p_unlocks_per_day THEN
        -- The day's count, this unlock included, is on the row the UPDATE returned.
        PERFORM vl_refuse('velocity_limit_exceeded',
                          format('unlocks,%s,%s', LEAST(a.unlocks_that_day - 1, p_unlocks_per_day), p_unlocks_per_day));
    END IF;
    PERFORM vl_post(p_entry, p_op, p_user, p_now, ARRAY[v_from, v_to], ARRAY[-p_amount, p_amount]);
    -- On a secured line the limit is the vault: a vault change is a limit change.
    IF a.line = 'secured' AND p_op IN ('vault_lock', 'vault_unlock') THEN
        INSERT INTO limit_history (id, user_id, line, limit_before, limit_after, reason, created_at)
        VALUES (p_limit_id, p_user, a.line,
                a.vault_minor + CASE p_op WHEN 'vault_lock' THEN -p_amount ELSE p_amount END,
                a.vault_minor, p_op, p_now);
    END IF;
    r := vl_record_answer(p_entry, p_op, p_amount, NULL, NULL, p_now, v_status, a);
    RETURN NEXT r;
END $$;

CREATE OR REPLACE FUNCTION vl_transfer(p_user text, p_key text, p_hash text, p_entry text, p_to text, p_amount bigint,
                            p_note text, p_now timestamp, p_outflow_cap bigint)
RETURNS SETOF vl_answer LANGUAGE plpgsql AS $$
DECLARE
    v_replay text := (vl_claim(p_user, p_key, p_hash, 201, 'movement', p_entry, NULL, p_now)).entry_id;
    v_from_name text; v_from_status text; v_to_id text; v_to_status text;
    a money_accounts; b money_accounts;
    r vl_answer;
BEGIN
    IF v_replay IS NOT NULL THEN
        RETURN QUERY SELECT * FROM vl_answer('replay', p_user, v_replay);
        RETURN;
    END IF;
    IF p_amount <= 0 THEN
        PERFORM vl_refuse('corrupt', 'amount must be positive');
    END IF;
    SELECT id, status INTO v_to_id, v_to_status FROM users WHERE username = p_to;
    IF v_to_id IS NULL THEN
        PERFORM vl_refuse('recipient_not_found');
    END IF;
    IF v_to_id = p_user THEN
        PERFORM vl_refuse('self_transfer');
    END IF;
    IF v_to_id COLLATE "C" < p_user COLLATE "C" THEN
        UPDATE money_accounts SET wallet_minor = wallet_minor + p_amount WHERE user_id = v_to_id RETURNING * INTO b;
    END IF;
    UPDATE money_accounts SET wallet_minor = wallet_minor - p_amount
     WHERE user_id = p_user AND wallet_minor >= p_amount RETURNING * INTO a;
    -- After the sender's row lock (see vl_move): a freeze committed before is seen.
    SELECT username, status INTO v_from_name, v_from_status FROM users WHERE id = p_user;
    IF v_from_status IS DISTINCT FROM 'active' THEN
        PERFORM vl_refuse('account_frozen');
    END IF;
    IF a.user_id IS NULL THEN
        PERFORM vl_refuse_rule(p_user);
    END IF;
    PERFORM vl_check_outflow(p_user, p_amount, p_now, p_outflow_cap);
    IF b.user_id IS NULL THEN
        UPDATE money_accounts SET wallet_minor = wallet_minor + p_amount WHERE user_id = v_to_id RETURNING * INTO b;
    END IF;
    PERFORM vl_post(p_entry, 'transfer', p_user, p_now, ARRAY[p_user || ':wallet', v_to_id || ':wallet'],
                    ARRAY[-p_amount, p_amount]);
    r := vl_record_answer(p_entry, 'transfer_out', p_amount, p_to, p_note, p_now, v_from_status, a);
    PERFORM vl_record_answer(p_entry, 'transfer_in', p_amount, v_from_name, p_note, p_now, v_to_status, b);
    RETURN NEXT r;
END $$;
