-- Paying one purchase off from the wallet: `vl_payoff`.
--
-- Live source: applied after the versioned migrations as CREATE OR REPLACE, in one
-- transaction, whenever these files change (src/store/replaceable.rs). Edit here, never in
-- a migration; a changed signature needs a new name (a migration drops the old one).
-- The rule this repeats, for one round trip, is `rule.rs` beside this file; the model test
-- (tests/api/model_based) holds the two together. The paying is the repayment's
-- (`vl_owed`, `vl_pay_parts` in ../repayment/pg.sql), limited to the purchase.

CREATE OR REPLACE FUNCTION vl_payoff(p_user text, p_key text, p_hash text, p_entry text, p_purchase text,
                                     p_amount bigint, p_now timestamp)
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
    -- The account's lock first, as every operation on its debt: two payoffs take turns.
    SELECT * INTO a FROM money_accounts WHERE user_id = p_user FOR UPDATE;
    -- A frozen user may pay off: debt is debt.
    v_status := (SELECT status FROM users WHERE id = p_user);
    IF NOT EXISTS (SELECT 1 FROM purchases WHERE id = p_purchase AND user_id = p_user) THEN
        PERFORM vl_refuse('not_found');
    END IF;
    v_owed := vl_owed(p_user, p_purchase);
    IF v_owed = 0 THEN
        PERFORM vl_refuse('nothing_to_repay');
    END IF;
    IF p_amount <> v_owed THEN
        PERFORM vl_refuse('payoff_quote', v_owed::text);
    END IF;
    IF a.wallet_minor < p_amount THEN
        PERFORM vl_refuse_rule(p_user);
    END IF;
    RETURN NEXT vl_pay_parts(p_user, p_purchase, p_entry, p_amount, p_now, v_status);
END $$;
