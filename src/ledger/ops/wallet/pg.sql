-- Deposits, withdrawals, vault locks and unlocks: one function, `vl_move`.
--
-- Live source: applied after the versioned migrations as CREATE OR REPLACE, in one
-- transaction, whenever these files change (src/store/replaceable.rs). Edit here, never in
-- a migration; a changed signature needs a new name (a migration drops the old one).
-- The rule this repeats, for one round trip, is `rule.rs` beside this file; the model test
-- (tests/api/model_based) holds the two together.

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
