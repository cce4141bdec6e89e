-- A purchase on credit: its hold (`vl_authorize`), capture (`vl_capture`) and cancel
-- (`vl_void`), with the snapshot they answer and the state change they share.
--
-- Live source: applied after the versioned migrations as CREATE OR REPLACE, in one
-- transaction, whenever these files change (src/store/replaceable.rs). Edit here, never in
-- a migration; a changed signature needs a new name (a migration drops the old one).
-- The rule this repeats, for one round trip, is `rule.rs` beside this file; the model test
-- (tests/api/model_based) holds the two together.

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
