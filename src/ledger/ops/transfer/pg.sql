-- A transfer between two customers' wallets: `vl_transfer`.
--
-- Live source: applied after the versioned migrations as CREATE OR REPLACE, in one
-- transaction, whenever these files change (src/store/replaceable.rs). Edit here, never in
-- a migration; a changed signature needs a new name (a migration drops the old one).
-- The rule this repeats, for one round trip, is `rule.rs` beside this file; the model test
-- (tests/api/model_based) holds the two together.

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
