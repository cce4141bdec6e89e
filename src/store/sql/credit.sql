-- Purchases on credit on the request path: hold, capture, cancel (void) and repayment.
--
-- Live source: applied after the versioned migrations as CREATE OR REPLACE, in one
-- transaction, whenever these files change (src/store/replaceable.rs). Edit here, never in
-- a migration; a changed signature needs a new name (a migration drops the old one).

CREATE OR REPLACE FUNCTION vl_purchase_snapshot(p_purchase text) RETURNS text LANGUAGE plpgsql AS $$
BEGIN
    RETURN json_build_object(
        'purchase', (SELECT row_to_json(p) FROM purchases p WHERE p.id = p_purchase),
        'schedule', coalesce((SELECT json_agg(i ORDER BY i.seq) FROM installments i WHERE i.purchase_id = p_purchase),
                             '[]'::json))::text;
END $$;

-- Moves the caller's authorised purchase to `p_to` (captured or voided); refuses with
-- not_found (not the caller's) or invalid_state. Answers the purchase row.
CREATE OR REPLACE FUNCTION vl_leave_authorized(p_user text, p_purchase text, p_to text, p_now timestamp)
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

-- A purchase hold: accepted only if afterwards exposure <= limit, the user is active and
-- nothing is overdue, decided by one conditional UPDATE. The service renders the answer
-- before the call (it chose every field of a new hold); it is saved with the key.
CREATE OR REPLACE FUNCTION vl_authorize(p_user text, p_key text, p_hash text, p_body text, p_purchase text, p_entry text,
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

-- The buyer confirms receipt: the hold becomes principal owed, the lender pays the
-- merchant in full, and the schedule starts (parts differ by at most one minor unit, the
-- remainder on the first parts; fees half-even; due on the repayment day of each month
-- after capture). Answers the purchase snapshot, also saved with the key.
CREATE OR REPLACE FUNCTION vl_capture(p_user text, p_key text, p_hash text, p_purchase text, p_entry text,
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
CREATE OR REPLACE FUNCTION vl_void(p_user text, p_purchase text, p_entry text, p_now timestamp)
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
