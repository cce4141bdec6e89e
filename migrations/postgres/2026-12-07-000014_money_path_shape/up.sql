-- The money path's SQL shape, measured (issue 10, docs/PERFORMANCE.md):
--  * A fresh answer is built from the rows the call has in hand: the movement as its INSERT
--    returns it and the account row as its UPDATE returned it. It used to be read back
--    (vl_answer), joining the account row again: on a hot account, whose row has a long
--    chain of versions within the page, that read walked the chain (0.62 ms a call under
--    the `hot` load with group commit, track_functions).
--  * The gate admits a number of requests at once, so a group-commit batch counts each
--    user's requests with one write of their budget row instead of one per request (1.26 ms
--    a request under the same load: each write in the batch's transaction lengthened the
--    chain the next one walked). vl_batch runs every request's gate itself: group commit is
--    one round trip per batch again.

-- The daily unlock cap counts on the account row, in the unlock's own UPDATE: O(1) under
-- the row lock the unlock holds anyway. Only a later day starts the count again: an unlock
-- stamped earlier than the row's day (instances whose clocks differ around midnight) counts
-- in the later day, never resets it. It counted the day's unlock movements (0.6 ms a
-- call for a user with a few thousand unlocks that day, `hot` load, inside the row lock;
-- +40% `hot` without it). The count starts from today's unlocks so far.
ALTER TABLE money_accounts ADD COLUMN unlock_day DATE,
                           ADD COLUMN unlocks_that_day INTEGER NOT NULL DEFAULT 0 CHECK (unlocks_that_day >= 0);
UPDATE money_accounts m SET unlock_day = (now() AT TIME ZONE 'utc')::date, unlocks_that_day = t.n
  FROM (SELECT user_id, count(*) AS n FROM movements
         WHERE kind = 'vault_unlock' AND created_at >= date_trunc('day', now() AT TIME ZONE 'utc')
         GROUP BY user_id) t
 WHERE m.user_id = t.user_id;
DROP FUNCTION vl_check_unlocks(text, timestamp, int);

-- How many of `p_requests` requests the gate admits: -1 when the session has ended (the
-- token's version is no longer the user's), else up to the budget left in the window. The
-- admitted ones are counted; refused ones are not (as when vl_gate's refusal rolled its
-- count back). The upsert locks the budget row first, so concurrent gates count exactly.
CREATE FUNCTION vl_gate_admit(p_user text, p_token_version bigint, p_window timestamp, p_budget bigint,
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

-- Records the movement (the account row right after the entry, score inputs included) and
-- answers it as the caller sees it, from the row written: nothing is read back.
CREATE FUNCTION vl_record_answer(p_entry text, p_kind text, p_amount bigint, p_counterparty text, p_note text,
                                 p_now timestamp, p_status text, a money_accounts)
RETURNS vl_answer LANGUAGE plpgsql AS $$
DECLARE r vl_answer;
BEGIN
    INSERT INTO movements AS mv (entry_id, user_id, kind, amount_minor, counterparty, note, created_at, status,
        wallet_minor, vault_minor, line, general_limit_minor, held_minor, principal_minor, fees_minor,
        late_fees_minor, on_time_installments, overdue_installments, overdue_days, collateral_settlements,
        vault_floor_minor, overdue_now)
    VALUES (p_entry, a.user_id, p_kind, p_amount, p_counterparty, p_note, p_now, p_status,
        a.wallet_minor, a.vault_minor, a.line, a.general_limit_minor, a.held_minor, a.principal_minor, a.fees_minor,
        a.late_fees_minor, a.on_time_installments, a.overdue_installments, a.overdue_days, a.collateral_settlements,
        LEAST(a.vault_floor_minor, a.vault_minor), a.overdue_count > 0)
    RETURNING 'fresh', mv.entry_id, mv.kind, mv.amount_minor, mv.counterparty, mv.note, mv.created_at, mv.status,
        mv.wallet_minor, mv.vault_minor, mv.line, mv.general_limit_minor, mv.held_minor, mv.principal_minor,
        mv.fees_minor, mv.late_fees_minor, mv.on_time_installments, mv.overdue_installments, mv.overdue_days,
        mv.collateral_settlements, mv.vault_floor_minor, mv.overdue_now, a.opened_at
    INTO r;
    RETURN r;
END $$;

-- One movement record, one text: vl_record (the counterparty's side, billing, credit) is it
-- without the answer.
CREATE OR REPLACE FUNCTION vl_record(p_entry text, p_kind text, p_amount bigint, p_counterparty text, p_note text,
                                     p_now timestamp, p_status text, a money_accounts)
RETURNS void LANGUAGE plpgsql AS $$
BEGIN
    PERFORM vl_record_answer(p_entry, p_kind, p_amount, p_counterparty, p_note, p_now, p_status, a);
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

CREATE OR REPLACE FUNCTION vl_repay(p_user text, p_key text, p_hash text, p_entry text, p_amount bigint, p_now timestamp)
RETURNS SETOF vl_answer LANGUAGE plpgsql AS $$
DECLARE
    v_replay text := (vl_claim(p_user, p_key, p_hash, 201, 'movement', p_entry, NULL, p_now)).entry_id;
    a money_accounts;
    v_owed bigint;
    v_late bigint; v_fees bigint; v_principal bigint; v_overdue_paid bigint;
    v_status text;
    r vl_answer;
BEGIN
    IF v_replay IS NOT NULL THEN
        RETURN QUERY SELECT * FROM vl_answer('replay', p_user, v_replay);
        RETURN;
    END IF;
    IF p_amount <= 0 THEN
        PERFORM vl_refuse('corrupt', 'amount must be positive');
    END IF;
    SELECT * INTO a FROM money_accounts WHERE user_id = p_user FOR UPDATE;
    -- A frozen user may repay: debt is debt, and paying it moves no money out of reach.
    v_status := (SELECT status FROM users WHERE id = p_user);
    SELECT coalesce(sum(late_fee_minor - late_fee_paid_minor
                        + CASE WHEN fee_billed THEN fee_minor - fee_paid_minor ELSE 0 END
                        + principal_minor - principal_paid_minor), 0)
      INTO v_owed FROM installments WHERE user_id = p_user AND state <> 'paid';
    IF v_owed = 0 THEN
        PERFORM vl_refuse('nothing_to_repay');
    END IF;
    IF p_amount > v_owed THEN
        PERFORM vl_refuse('overpayment', v_owed::text);
    END IF;
    IF a.wallet_minor < p_amount THEN
        PERFORM vl_refuse_rule(p_user);
    END IF;
    WITH items AS (
        SELECT purchase_id, seq, state, was_overdue,
               late_fee_minor - late_fee_paid_minor AS l,
               CASE WHEN fee_billed THEN fee_minor - fee_paid_minor ELSE 0 END AS f,
               principal_minor - principal_paid_minor AS p,
               row_number() OVER (ORDER BY due_date, purchase_id COLLATE "C", seq) AS rn
        FROM installments WHERE user_id = p_user AND state <> 'paid'),
    running AS (
        SELECT *, sum(l) OVER w - l AS l_before, sum(f) OVER w - f AS f_before, sum(p) OVER w - p AS p_before,
               sum(l) OVER () AS l_total, sum(f) OVER () AS f_total
        FROM items WINDOW w AS (ORDER BY rn)),
    take AS (
        SELECT purchase_id, seq, state AS old_state, was_overdue,
               LEAST(l, GREATEST(0, p_amount - l_before)) AS tl,
               LEAST(f, GREATEST(0, p_amount - l_total - f_before)) AS tf,
               LEAST(p, GREATEST(0, p_amount - l_total - f_total - p_before)) AS tp
        FROM running),
    paid AS (
        UPDATE installments i SET
            late_fee_paid_minor = i.late_fee_paid_minor + t.tl,
            fee_paid_minor = i.fee_paid_minor + t.tf,
            principal_paid_minor = i.principal_paid_minor + t.tp,
            fee_minor = CASE WHEN i.principal_minor = i.principal_paid_minor + t.tp AND NOT i.fee_billed
                             THEN 0 ELSE i.fee_minor END,
            state = CASE WHEN i.principal_minor = i.principal_paid_minor + t.tp
                              AND i.late_fee_minor = i.late_fee_paid_minor + t.tl
                              AND (NOT i.fee_billed OR i.fee_minor = i.fee_paid_minor + t.tf)
                         THEN 'paid' ELSE i.state END
        FROM take t
        WHERE i.purchase_id = t.purchase_id AND i.seq = t.seq AND t.tl + t.tf + t.tp > 0
        RETURNING i.state AS new_state, t.old_state, t.was_overdue, t.tl, t.tf, t.tp)
    SELECT coalesce(sum(tl), 0), coalesce(sum(tf), 0), coalesce(sum(tp), 0),
           count(*) FILTER (WHERE new_state = 'paid' AND old_state = 'overdue')
      INTO v_late, v_fees, v_principal, v_overdue_paid FROM paid;
    IF v_late + v_fees + v_principal <> p_amount THEN
        PERFORM vl_refuse('corrupt', format('repayment of %s allocated %s', p_amount, v_late + v_fees + v_principal));
    END IF;
    UPDATE money_accounts SET wallet_minor = wallet_minor - p_amount,
           late_fees_minor = late_fees_minor - v_late, fees_minor = fees_minor - v_fees,
           principal_minor = principal_minor - v_principal,
           overdue_count = overdue_count - v_overdue_paid
     WHERE user_id = p_user RETURNING * INTO a;
    PERFORM vl_post(p_entry, 'repayment', p_user, p_now, ARRAY[p_user || ':wallet', p_user || ':credit'],
                    ARRAY[-p_amount, p_amount]);
    r := vl_record_answer(p_entry, 'repayment', p_amount, NULL, NULL, p_now, v_status, a);
    RETURN NEXT r;
END $$;

DROP FUNCTION vl_batch(text[], text[], text[], text[], text[], text[], bigint[], text[], text[], timestamp[], bigint, int);

-- Group commit: every request of the batch with its own gate, in one call. Lock order, the
-- same as every other money call's: budget rows before account rows (vl_gate runs as the
-- argument of the single-request functions), each kind in user order. So two batches, or a
-- batch and a single call, never wait on each other in a cycle. A user's requests with one
-- session and window are admitted together, the earliest queued first.
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
