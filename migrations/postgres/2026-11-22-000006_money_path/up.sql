-- The money path as one round trip: every score input lives on the account row, a movement
-- keeps those inputs (the score is rated from them when shown), and an idempotency key can
-- point at the movement it answered instead of holding a copy of the response.

-- Installments overdue right now: kept with every state change, so no rule or snapshot
-- has to read installments.
ALTER TABLE money_accounts ADD COLUMN overdue_count BIGINT NOT NULL DEFAULT 0;
UPDATE money_accounts m SET overdue_count =
    (SELECT count(*) FROM installments i WHERE i.user_id = m.user_id AND i.state = 'overdue');
ALTER TABLE money_accounts ADD CONSTRAINT money_overdue_count_range CHECK (overdue_count >= 0);

-- Existing movements take the user's current history: the best that is known of it.
ALTER TABLE movements
    ADD COLUMN on_time_installments   BIGINT NOT NULL DEFAULT 0,
    ADD COLUMN overdue_installments   BIGINT NOT NULL DEFAULT 0,
    ADD COLUMN overdue_days           BIGINT NOT NULL DEFAULT 0,
    ADD COLUMN collateral_settlements BIGINT NOT NULL DEFAULT 0,
    ADD COLUMN vault_floor_minor      BIGINT NOT NULL DEFAULT 0,
    ADD COLUMN overdue_now            BOOLEAN NOT NULL DEFAULT FALSE;
UPDATE movements mv SET
    on_time_installments = m.on_time_installments, overdue_installments = m.overdue_installments,
    overdue_days = m.overdue_days, collateral_settlements = m.collateral_settlements,
    vault_floor_minor = LEAST(m.vault_floor_minor, mv.vault_minor), overdue_now = m.overdue_count > 0
FROM money_accounts m WHERE m.user_id = mv.user_id;
ALTER TABLE movements DROP COLUMN score_value, DROP COLUMN score_eligible;

-- How a key answers: `movement` (the movement it made, rebuilt from its row, which never
-- changes), `body` (a whole response body), or `purchase` (the purchase and its schedule
-- as written, as JSON rows, rendered by the service).
ALTER TABLE idempotency_keys ALTER COLUMN response_body DROP NOT NULL, ADD COLUMN entry_id TEXT,
    ADD COLUMN answer TEXT NOT NULL DEFAULT 'body',
    ADD CONSTRAINT idempotency_answer CHECK (answer IN ('body', 'movement', 'purchase')
        AND (answer = 'movement') = (entry_id IS NOT NULL)
        AND (answer = 'movement' OR response_body IS NOT NULL));

-- ---------------------------------------------------------------- building blocks
-- Refusals leave through an exception, so the whole statement (the key claim included)
-- rolls back and a refused request writes nothing. The service reads `vaultline:<code>`
-- and the DETAIL; `rule` carries the account row so the service words the refusal with
-- the same rule text it uses on SQLite.
CREATE FUNCTION vl_refuse(p_code text, p_detail text DEFAULT '') RETURNS void LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION USING MESSAGE = 'vaultline:' || p_code, DETAIL = coalesce(p_detail, '');
END $$;

CREATE FUNCTION vl_refuse_rule(p_user text) RETURNS void LANGUAGE plpgsql AS $$
DECLARE a money_accounts;
BEGIN
    SELECT * INTO a FROM money_accounts WHERE user_id = p_user;
    PERFORM vl_refuse('rule', concat_ws(',', a.wallet_minor, a.vault_minor, a.line, a.general_limit_minor,
        a.held_minor, a.principal_minor, a.fees_minor, a.late_fees_minor));
END $$;

-- Claims (user, key) for this request, saved with how it will answer. Answers NULL when
-- claimed now, else the key as saved before. A concurrent claim of the same key waits on
-- the unique index until the first commits (then it replays) or rolls back (then it claims).
CREATE FUNCTION vl_claim(p_user text, p_key text, p_hash text, p_status int, p_answer text, p_entry text,
                         p_body text, p_now timestamp)
RETURNS idempotency_keys LANGUAGE plpgsql AS $$
DECLARE k idempotency_keys;
BEGIN
    INSERT INTO idempotency_keys (user_id, idem_key, request_hash, response_status, response_body, entry_id, answer,
                                  created_at)
    VALUES (p_user, p_key, p_hash, p_status, p_body, p_entry, p_answer, p_now) ON CONFLICT DO NOTHING;
    IF FOUND THEN
        RETURN NULL;
    END IF;
    SELECT * INTO k FROM idempotency_keys WHERE user_id = p_user AND idem_key = p_key;
    IF k.request_hash IS DISTINCT FROM p_hash THEN
        PERFORM vl_refuse('key_reused');
    END IF;
    IF k.answer <> p_answer THEN
        -- Saved whole by an older version of this route: the service reads it.
        PERFORM vl_refuse('stored_answer');
    END IF;
    RETURN k;
END $$;

-- Claims the key for an operation answered by its movement; NULL, or the entry to replay.
CREATE FUNCTION vl_claim_movement(p_user text, p_key text, p_hash text, p_entry text, p_now timestamp)
RETURNS text LANGUAGE sql AS $$
    SELECT (vl_claim(p_user, p_key, p_hash, 201, 'movement', p_entry, NULL, p_now)).entry_id
$$;

-- One balanced journal entry. Asserts what the service asserts: at least two legs, none
-- zero, summing to zero.
CREATE FUNCTION vl_post(p_entry text, p_kind text, p_user text, p_now timestamp, p_accounts text[], p_amounts bigint[])
RETURNS void LANGUAGE plpgsql AS $$
BEGIN
    IF cardinality(p_accounts) < 2 OR cardinality(p_accounts) <> cardinality(p_amounts)
       OR 0 = ANY (p_amounts) OR (SELECT sum(x) FROM unnest(p_amounts) x) <> 0 THEN
        PERFORM vl_refuse('corrupt', format('refusing an unbalanced %s entry: %s %s', p_kind, p_accounts, p_amounts));
    END IF;
    INSERT INTO journal_entries (id, kind, user_id, created_at) VALUES (p_entry, p_kind, p_user, p_now);
    INSERT INTO postings (entry_id, account_id, amount_minor)
        SELECT p_entry, t.account, t.amount FROM unnest(p_accounts, p_amounts) AS t(account, amount);
END $$;

-- How the entry looks to one user: their account row right after it, score inputs included.
CREATE FUNCTION vl_record(p_entry text, p_kind text, p_amount bigint, p_counterparty text, p_note text,
                          p_now timestamp, p_status text, a money_accounts)
RETURNS void LANGUAGE sql AS $$
    INSERT INTO movements (entry_id, user_id, kind, amount_minor, counterparty, note, created_at, status,
        wallet_minor, vault_minor, line, general_limit_minor, held_minor, principal_minor, fees_minor,
        late_fees_minor, on_time_installments, overdue_installments, overdue_days, collateral_settlements,
        vault_floor_minor, overdue_now)
    VALUES (p_entry, a.user_id, p_kind, p_amount, p_counterparty, p_note, p_now, p_status,
        a.wallet_minor, a.vault_minor, a.line, a.general_limit_minor, a.held_minor, a.principal_minor, a.fees_minor,
        a.late_fees_minor, a.on_time_installments, a.overdue_installments, a.overdue_days, a.collateral_settlements,
        LEAST(a.vault_floor_minor, a.vault_minor), a.overdue_count > 0)
$$;

-- What every money function answers: the caller's movement, fresh or replayed.
CREATE TYPE vl_answer AS (
    outcome text, entry_id text, kind text, amount_minor bigint, counterparty text, note text,
    created_at timestamp, status text, wallet_minor bigint, vault_minor bigint, line text,
    general_limit_minor bigint, held_minor bigint, principal_minor bigint, fees_minor bigint,
    late_fees_minor bigint, on_time_installments bigint, overdue_installments bigint, overdue_days bigint,
    collateral_settlements bigint, vault_floor_minor bigint, overdue_now boolean, opened_at timestamp);

CREATE FUNCTION vl_answer(p_outcome text, p_user text, p_entry text) RETURNS SETOF vl_answer LANGUAGE sql AS $$
    SELECT p_outcome, mv.entry_id, mv.kind, mv.amount_minor, mv.counterparty, mv.note, mv.created_at, mv.status,
        mv.wallet_minor, mv.vault_minor, mv.line, mv.general_limit_minor, mv.held_minor, mv.principal_minor,
        mv.fees_minor, mv.late_fees_minor, mv.on_time_installments, mv.overdue_installments, mv.overdue_days,
        mv.collateral_settlements, mv.vault_floor_minor, mv.overdue_now, m.opened_at
    FROM movements mv JOIN money_accounts m ON m.user_id = mv.user_id
    WHERE mv.user_id = p_user AND mv.entry_id = p_entry
$$;

-- ---------------------------------------------------------------- the operations
-- Each is one call, so one round trip and (in autocommit) one transaction: claim the key,
-- apply the rule as one conditional UPDATE, write the entry, its postings, the movements
-- and the limit history, and answer the movement. Twins: src/store/money/sqlite.rs.

-- deposit | withdrawal | vault_lock | vault_unlock, on the caller's own account.
CREATE FUNCTION vl_move(p_op text, p_user text, p_key text, p_hash text, p_entry text, p_limit_id text,
                        p_amount bigint, p_now timestamp)
RETURNS SETOF vl_answer LANGUAGE plpgsql AS $$
DECLARE
    v_replay text := vl_claim_movement(p_user, p_key, p_hash, p_entry, p_now);
    v_wallet text := p_user || ':wallet';
    v_vault text := p_user || ':vault';
    v_from text;
    v_to text;
    v_status text;
    a money_accounts;
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
               vault_floor_minor = LEAST(vault_floor_minor, vault_minor - p_amount)
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
    PERFORM vl_post(p_entry, p_op, p_user, p_now, ARRAY[v_from, v_to], ARRAY[-p_amount, p_amount]);
    -- On a secured line the limit is the vault: a vault change is a limit change.
    IF a.line = 'secured' AND p_op IN ('vault_lock', 'vault_unlock') THEN
        INSERT INTO limit_history (id, user_id, line, limit_before, limit_after, reason, created_at)
        VALUES (p_limit_id, p_user, a.line,
                a.vault_minor + CASE p_op WHEN 'vault_lock' THEN -p_amount ELSE p_amount END,
                a.vault_minor, p_op, p_now);
    END IF;
    PERFORM vl_record(p_entry, p_op, p_amount, NULL, NULL, p_now, v_status, a);
    RETURN QUERY SELECT * FROM vl_answer('fresh', p_user, p_entry);
END $$;

-- Wallet to wallet. The two rows are locked in user-id order (C collation, the order the
-- service uses on SQLite too), so opposite transfers never deadlock.
CREATE FUNCTION vl_transfer(p_user text, p_key text, p_hash text, p_entry text, p_to text, p_amount bigint,
                            p_note text, p_now timestamp)
RETURNS SETOF vl_answer LANGUAGE plpgsql AS $$
DECLARE
    v_replay text := vl_claim_movement(p_user, p_key, p_hash, p_entry, p_now);
    v_from_name text; v_from_status text; v_to_id text; v_to_status text;
    a money_accounts; b money_accounts;
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
    SELECT username INTO v_from_name FROM users WHERE id = p_user;
    IF v_to_id COLLATE "C" < p_user COLLATE "C" THEN
        UPDATE money_accounts SET wallet_minor = wallet_minor + p_amount WHERE user_id = v_to_id RETURNING * INTO b;
    END IF;
    UPDATE money_accounts SET wallet_minor = wallet_minor - p_amount
     WHERE user_id = p_user AND wallet_minor >= p_amount RETURNING * INTO a;
    -- After the sender's row lock (see vl_move): a freeze committed before is seen.
    v_from_status := (SELECT status FROM users WHERE id = p_user);
    IF v_from_status IS DISTINCT FROM 'active' THEN
        PERFORM vl_refuse('account_frozen');
    END IF;
    IF a.user_id IS NULL THEN
        PERFORM vl_refuse_rule(p_user);
    END IF;
    IF b.user_id IS NULL THEN
        UPDATE money_accounts SET wallet_minor = wallet_minor + p_amount WHERE user_id = v_to_id RETURNING * INTO b;
    END IF;
    PERFORM vl_post(p_entry, 'transfer', p_user, p_now, ARRAY[p_user || ':wallet', v_to_id || ':wallet'],
                    ARRAY[-p_amount, p_amount]);
    PERFORM vl_record(p_entry, 'transfer_out', p_amount, p_to, p_note, p_now, v_from_status, a);
    PERFORM vl_record(p_entry, 'transfer_in', p_amount, v_from_name, p_note, p_now, v_to_status, b);
    RETURN QUERY SELECT * FROM vl_answer('fresh', p_user, p_entry);
END $$;

-- ---------------------------------------------------------------- credit on the request path
-- Twins: src/store/credit.rs (SQLite). Each locks the user's account row first, as billing
-- does, so a user's credit operations and billing take turns in one order.

-- A purchase and its schedule as stored, as JSON rows (the service renders them).
CREATE FUNCTION vl_purchase_snapshot(p_purchase text) RETURNS text LANGUAGE sql AS $$
    SELECT json_build_object(
        'purchase', (SELECT row_to_json(p) FROM purchases p WHERE p.id = p_purchase),
        'schedule', coalesce((SELECT json_agg(i ORDER BY i.seq) FROM installments i WHERE i.purchase_id = p_purchase),
                             '[]'::json))::text
$$;

-- `minor × rate` rounded half-even to the minor unit (as rust_decimal's MidpointNearestEven).
CREATE FUNCTION vl_round_half_even(p_value numeric) RETURNS bigint LANGUAGE sql IMMUTABLE AS $$
    SELECT CASE
        WHEN p_value - floor(p_value) > 0.5 THEN floor(p_value) + 1
        WHEN p_value - floor(p_value) < 0.5 THEN floor(p_value)
        WHEN mod(floor(p_value), 2) = 0 THEN floor(p_value)
        ELSE floor(p_value) + 1
    END::bigint
$$;

-- A purchase hold: accepted only if afterwards exposure <= limit, the user is active and
-- nothing is overdue, decided by one conditional UPDATE. The service renders the answer
-- before the call (it chose every field of a new hold); it is saved with the key.
CREATE FUNCTION vl_authorize(p_user text, p_key text, p_hash text, p_body text, p_purchase text, p_entry text,
                             p_merchant text, p_amount bigint, p_installments int, p_description text,
                             p_now timestamp)
RETURNS TABLE (outcome text, body text) LANGUAGE plpgsql AS $$
DECLARE
    k idempotency_keys := vl_claim(p_user, p_key, p_hash, 201, 'body', NULL, p_body, p_now);
    a money_accounts;
BEGIN
    IF k.user_id IS NOT NULL THEN
        RETURN QUERY SELECT 'replay'::text, k.response_body;
        RETURN;
    END IF;
    IF p_amount <= 0 OR p_installments NOT IN (1, 3, 6, 12, 24) THEN
        PERFORM vl_refuse('corrupt', 'amount or installments out of range');
    END IF;
    IF NOT EXISTS (SELECT 1 FROM merchants WHERE id = p_merchant) THEN
        PERFORM vl_refuse('not_found', 'merchant');
    END IF;
    UPDATE money_accounts SET held_minor = held_minor + p_amount
     WHERE user_id = p_user AND overdue_count = 0
       AND CASE line WHEN 'secured' THEN vault_minor ELSE general_limit_minor END
           - (held_minor + principal_minor + fees_minor + late_fees_minor) >= p_amount
    RETURNING * INTO a;
    -- After the account row lock (see vl_move): a freeze committed before is seen.
    IF (SELECT status FROM users WHERE id = p_user) IS DISTINCT FROM 'active' THEN
        PERFORM vl_refuse('account_frozen');
    END IF;
    IF a.user_id IS NULL THEN
        IF (SELECT overdue_count FROM money_accounts WHERE user_id = p_user) > 0 THEN
            PERFORM vl_refuse('account_delinquent');
        END IF;
        PERFORM vl_refuse_rule(p_user);
    END IF;
    INSERT INTO purchases (id, user_id, merchant_id, amount_minor, installments, description, state, created_at)
    VALUES (p_purchase, p_user, p_merchant, p_amount, p_installments, p_description, 'authorized', p_now);
    PERFORM vl_post(p_entry, 'purchase_hold', p_user, p_now, ARRAY['sys:lender_capital', p_user || ':hold'],
                    ARRAY[-p_amount, p_amount]);
    RETURN QUERY SELECT 'fresh'::text, p_body;
END $$;

-- Moves the caller's authorised purchase to `p_to` (captured or voided); refuses with
-- not_found (not the caller's) or invalid_state. Answers the purchase row.
CREATE FUNCTION vl_leave_authorized(p_user text, p_purchase text, p_to text, p_now timestamp)
RETURNS purchases LANGUAGE plpgsql AS $$
DECLARE pr purchases; v_state text;
BEGIN
    UPDATE purchases SET state = p_to,
           captured_at = CASE WHEN p_to = 'captured' THEN p_now END,
           voided_at = CASE WHEN p_to = 'voided' THEN p_now END
     WHERE id = p_purchase AND user_id = p_user AND state = 'authorized'
    RETURNING * INTO pr;
    IF pr.id IS NULL THEN
        SELECT state INTO v_state FROM purchases WHERE id = p_purchase AND user_id = p_user;
        IF v_state IS NULL THEN
            PERFORM vl_refuse('not_found', 'purchase');
        END IF;
        PERFORM vl_refuse('invalid_state', v_state);
    END IF;
    RETURN pr;
END $$;

-- The buyer confirms receipt: the hold becomes principal owed, the lender pays the
-- merchant in full, and the schedule starts (parts differ by at most one minor unit, the
-- remainder on the first parts; fees half-even; due on the repayment day of each month
-- after capture). Answers the purchase snapshot, also saved with the key.
CREATE FUNCTION vl_capture(p_user text, p_key text, p_hash text, p_purchase text, p_entry text,
                           p_repayment_day int, p_fee_rate numeric, p_now timestamp)
RETURNS TABLE (outcome text, body text) LANGUAGE plpgsql AS $$
DECLARE
    k idempotency_keys := vl_claim(p_user, p_key, p_hash, 200, 'purchase', NULL, '', p_now);
    v_status text;
    pr purchases;
    a money_accounts;
    v_snapshot text;
BEGIN
    IF k.user_id IS NOT NULL THEN
        RETURN QUERY SELECT 'replay'::text, k.response_body;
        RETURN;
    END IF;
    IF p_repayment_day NOT BETWEEN 1 AND 28 THEN
        PERFORM vl_refuse('corrupt', 'repayment day out of range');
    END IF;
    PERFORM 1 FROM money_accounts WHERE user_id = p_user FOR UPDATE;
    SELECT status INTO v_status FROM users WHERE id = p_user;
    IF v_status IS DISTINCT FROM 'active'
       AND EXISTS (SELECT 1 FROM purchases WHERE id = p_purchase AND user_id = p_user) THEN
        PERFORM vl_refuse('account_frozen');
    END IF;
    pr := vl_leave_authorized(p_user, p_purchase, 'captured', p_now);
    UPDATE money_accounts SET held_minor = held_minor - pr.amount_minor, principal_minor = principal_minor + pr.amount_minor
     WHERE user_id = p_user AND held_minor >= pr.amount_minor RETURNING * INTO a;
    IF a.user_id IS NULL THEN
        PERFORM vl_refuse('corrupt', format('user %s holds less than purchase %s', p_user, p_purchase));
    END IF;
    INSERT INTO installments (purchase_id, seq, user_id, due_date, principal_minor, fee_minor)
    SELECT p_purchase, part.seq, p_user,
           (date_trunc('month', p_now) + make_interval(months => part.seq, days => p_repayment_day - 1))::date,
           part.principal,
           CASE WHEN pr.installments = 1 THEN 0 ELSE vl_round_half_even(part.principal * p_fee_rate) END
    FROM (SELECT g AS seq, pr.amount_minor / pr.installments + CASE WHEN g <= pr.amount_minor % pr.installments
                 THEN 1 ELSE 0 END AS principal
          FROM generate_series(1, pr.installments) g) part;
    PERFORM vl_post(p_entry, 'purchase_capture', p_user, p_now,
        ARRAY[p_user || ':hold', 'sys:lender_capital', 'sys:merchant_payables', p_user || ':credit'],
        ARRAY[-pr.amount_minor, pr.amount_minor, pr.amount_minor, -pr.amount_minor]);
    PERFORM vl_record(p_entry, 'purchase_capture', pr.amount_minor, NULL, NULL, p_now, v_status, a);
    v_snapshot := vl_purchase_snapshot(p_purchase);
    UPDATE idempotency_keys SET response_body = v_snapshot WHERE user_id = p_user AND idem_key = p_key;
    RETURN QUERY SELECT 'fresh'::text, v_snapshot;
END $$;

-- The buyer cancels an authorised hold (not keyed: cancelling twice is invalid_state).
CREATE FUNCTION vl_void(p_user text, p_purchase text, p_entry text, p_now timestamp)
RETURNS text LANGUAGE plpgsql AS $$
DECLARE pr purchases; v_released int;
BEGIN
    PERFORM 1 FROM money_accounts WHERE user_id = p_user FOR UPDATE;
    pr := vl_leave_authorized(p_user, p_purchase, 'voided', p_now);
    UPDATE money_accounts SET held_minor = held_minor - pr.amount_minor
     WHERE user_id = p_user AND held_minor >= pr.amount_minor;
    GET DIAGNOSTICS v_released = ROW_COUNT;
    IF v_released <> 1 THEN
        PERFORM vl_refuse('corrupt', format('user %s holds less than purchase %s', p_user, p_purchase));
    END IF;
    PERFORM vl_post(p_entry, 'purchase_void', p_user, p_now, ARRAY[p_user || ':hold', 'sys:lender_capital'],
                    ARRAY[-pr.amount_minor, pr.amount_minor]);
    RETURN vl_purchase_snapshot(p_purchase);
END $$;

-- Pays from the wallet: every late fee, then every billed fee, then principal, each pass
-- oldest due first (by due date, purchase, part), as store::credit::allocate does. A part
-- whose principal is repaid before it was billed drops its fee; a part owing nothing is
-- paid, and counts as on time unless it was ever overdue.
CREATE FUNCTION vl_repay(p_user text, p_key text, p_hash text, p_entry text, p_amount bigint, p_now timestamp)
RETURNS SETOF vl_answer LANGUAGE plpgsql AS $$
DECLARE
    v_replay text := vl_claim_movement(p_user, p_key, p_hash, p_entry, p_now);
    a money_accounts;
    v_owed bigint;
    v_late bigint; v_fees bigint; v_principal bigint; v_on_time bigint; v_overdue_paid bigint;
    v_status text;
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
           count(*) FILTER (WHERE new_state = 'paid' AND NOT was_overdue),
           count(*) FILTER (WHERE new_state = 'paid' AND old_state = 'overdue')
      INTO v_late, v_fees, v_principal, v_on_time, v_overdue_paid FROM paid;
    IF v_late + v_fees + v_principal <> p_amount THEN
        PERFORM vl_refuse('corrupt', format('repayment of %s allocated %s', p_amount, v_late + v_fees + v_principal));
    END IF;
    UPDATE money_accounts SET wallet_minor = wallet_minor - p_amount,
           late_fees_minor = late_fees_minor - v_late, fees_minor = fees_minor - v_fees,
           principal_minor = principal_minor - v_principal,
           on_time_installments = on_time_installments + v_on_time,
           overdue_count = overdue_count - v_overdue_paid
     WHERE user_id = p_user RETURNING * INTO a;
    PERFORM vl_post(p_entry, 'repayment', p_user, p_now, ARRAY[p_user || ':wallet', p_user || ':credit'],
                    ARRAY[-p_amount, p_amount]);
    PERFORM vl_record(p_entry, 'repayment', p_amount, NULL, NULL, p_now, v_status, a);
    RETURN QUERY SELECT * FROM vl_answer('fresh', p_user, p_entry);
END $$;

-- ---------------------------------------------------------------- group commit
-- Several callers' money operations in one statement, so one transaction and one commit
-- (TigerBeetle-style batching). Each runs in its own subtransaction (the EXCEPTION block):
-- a refusal or error undoes that operation only and is answered to its caller alone.
-- Every account the batch may touch is locked first, in user-id order, so batches (of
-- this or another instance) never deadlock with each other or with single operations.
CREATE FUNCTION vl_batch(p_ops text[], p_users text[], p_keys text[], p_hashes text[], p_entries text[],
                         p_limit_ids text[], p_amounts bigint[], p_tos text[], p_notes text[], p_nows timestamp[])
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
                                                        p_amounts[i], p_notes[i], p_nows[i]);
            WHEN 'repayment' THEN
                SELECT * INTO STRICT r FROM vl_repay(p_users[i], p_keys[i], p_hashes[i], p_entries[i], p_amounts[i],
                                                     p_nows[i]);
            ELSE
                SELECT * INTO STRICT r FROM vl_move(p_ops[i], p_users[i], p_keys[i], p_hashes[i], p_entries[i],
                                                    p_limit_ids[i], p_amounts[i], p_nows[i]);
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
