-- A repayment from the wallet: `vl_repay`.
--
-- Live source: applied after the versioned migrations as CREATE OR REPLACE, in one
-- transaction, whenever these files change (src/store/replaceable.rs). Edit here, never in
-- a migration; a changed signature needs a new name (a migration drops the old one).
-- The rule this repeats, for one round trip, is `rule.rs` beside this file; the model test
-- (tests/api/model_based) holds the two together.

CREATE OR REPLACE FUNCTION vl_repay(p_user text, p_key text, p_hash text, p_entry text, p_amount bigint, p_now timestamp)
RETURNS SETOF vl_answer LANGUAGE plpgsql AS $$
DECLARE
    v_replay text := (vl_claim(p_user, p_key, p_hash, 201, 'movement', p_entry, NULL, p_now)).entry_id;
    a money_accounts;
    v_owed bigint;
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
    v_owed := vl_owed(p_user, NULL);
    IF v_owed = 0 THEN
        PERFORM vl_refuse('nothing_to_repay');
    END IF;
    IF p_amount > v_owed THEN
        PERFORM vl_refuse('overpayment', v_owed::text);
    END IF;
    IF a.wallet_minor < p_amount THEN
        PERFORM vl_refuse_rule(p_user);
    END IF;
    RETURN NEXT vl_pay_parts(p_user, NULL, p_entry, p_amount, p_now, v_status);
END $$;

-- What the user's unpaid parts owe (of one purchase, or all with NULL): late fees, billed
-- fees and principal; a fee not billed yet is not owed.
CREATE OR REPLACE FUNCTION vl_owed(p_user text, p_purchase text)
RETURNS bigint LANGUAGE sql STABLE AS $$
    SELECT coalesce(sum(late_fee_minor - late_fee_paid_minor
                        + CASE WHEN fee_billed THEN fee_minor - fee_paid_minor ELSE 0 END
                        + principal_minor - principal_paid_minor), 0)::bigint
      FROM installments
     WHERE user_id = p_user AND state <> 'paid' AND (p_purchase IS NULL OR purchase_id = p_purchase)
$$;

-- Pays `p_amount` (checked by the caller: owed, and in the wallet) over the user's unpaid
-- parts (of one purchase, or all with NULL): late fees, then billed fees, then principal,
-- oldest due first; one entry from the wallet. Shared by `vl_repay` and `vl_payoff`.
CREATE OR REPLACE FUNCTION vl_pay_parts(p_user text, p_purchase text, p_entry text, p_amount bigint,
                                        p_now timestamp, p_status text)
RETURNS vl_answer LANGUAGE plpgsql AS $$
DECLARE
    a money_accounts;
    v_late bigint; v_fees bigint; v_principal bigint; v_overdue_paid bigint;
BEGIN
    WITH items AS (
        SELECT purchase_id, seq, state, was_overdue,
               late_fee_minor - late_fee_paid_minor AS l,
               CASE WHEN fee_billed THEN fee_minor - fee_paid_minor ELSE 0 END AS f,
               principal_minor - principal_paid_minor AS p,
               row_number() OVER (ORDER BY due_date, purchase_id COLLATE "C", seq) AS rn
        FROM installments
        WHERE user_id = p_user AND state <> 'paid' AND (p_purchase IS NULL OR purchase_id = p_purchase)),
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
    RETURN vl_record_answer(p_entry, 'repayment', p_amount, NULL, NULL, p_now, p_status, a);
END $$;
