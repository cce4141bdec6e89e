-- Shared pieces of every money function: refusals, rounding, the journal entry with its postings,
-- the movement rows and the stored answer with its idempotency key.
--
-- Live source: applied after the versioned migrations as CREATE OR REPLACE, in one
-- transaction, whenever these files change (src/store/replaceable.rs). Edit here, never in
-- a migration; a changed signature needs a new name (a migration drops the old one).

-- ---------------------------------------------------------------- building blocks
-- Refusals leave through an exception, so the whole statement (the key claim included)
-- rolls back and a refused request writes nothing. The service reads `vaultline:<code>`
-- and the DETAIL; `rule` carries the account row so the service words the refusal with
-- the same rule text it uses on SQLite.
CREATE OR REPLACE FUNCTION vl_refuse(p_code text, p_detail text DEFAULT '') RETURNS void LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION USING MESSAGE = 'vaultline:' || p_code, DETAIL = coalesce(p_detail, '');
END $$;

CREATE OR REPLACE FUNCTION vl_refuse_rule(p_user text) RETURNS void LANGUAGE plpgsql AS $$
DECLARE a money_accounts;
BEGIN
    SELECT * INTO a FROM money_accounts WHERE user_id = p_user;
    PERFORM vl_refuse('rule', concat_ws(',', a.wallet_minor, a.vault_minor, a.line, a.general_limit_minor,
        a.held_minor, a.principal_minor, a.fees_minor, a.late_fees_minor));
END $$;

-- ---------------------------------------------------------------- constants, named once
-- The most any balance or posting may hold (domain::account::BALANCE_CEILING_MINOR; the
-- money_accounts and postings CHECKs of the migrations carry the same number, and
-- tests/api/live_sql.rs holds all of them to the Rust constant). Inlined by the planner.
CREATE OR REPLACE FUNCTION vl_balance_ceiling() RETURNS bigint LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    SELECT 100000000000000000::bigint
$$;

-- How long a group-commit batch waits for an account row held elsewhere before it hands
-- its requests back to run one by one.
CREATE OR REPLACE FUNCTION vl_batch_lock_timeout() RETURNS text LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    SELECT '100ms'::text
$$;

-- How long the batch's fast path waits for a row another request is claiming (shorter: it
-- falls back to the one-by-one path, where only the operation needing the row waits again).
CREATE OR REPLACE FUNCTION vl_claimed_lock_timeout() RETURNS text LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    SELECT '10ms'::text
$$;

-- `minor × rate` rounded half-even to the minor unit (as rust_decimal's MidpointNearestEven).
CREATE OR REPLACE FUNCTION vl_round_half_even(p_value numeric) RETURNS bigint LANGUAGE sql IMMUTABLE AS $$
    SELECT CASE
        WHEN p_value - floor(p_value) > 0.5 THEN floor(p_value) + 1
        WHEN p_value - floor(p_value) < 0.5 THEN floor(p_value)
        WHEN mod(floor(p_value), 2) = 0 THEN floor(p_value)
        ELSE floor(p_value) + 1
    END::bigint
$$;

-- One balanced journal entry. Asserts what the service asserts: at least two legs, none
-- zero, summing to zero.
CREATE OR REPLACE FUNCTION vl_post(p_entry text, p_kind text, p_user text, p_now timestamp, p_accounts text[], p_amounts bigint[])
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

-- One movement record, one text: vl_record (the counterparty's side, billing, credit) is it
-- without the answer.
CREATE OR REPLACE FUNCTION vl_record(p_entry text, p_kind text, p_amount bigint, p_counterparty text, p_note text,
                                     p_now timestamp, p_status text, a money_accounts)
RETURNS void LANGUAGE plpgsql AS $$
BEGIN
    PERFORM vl_record_answer(p_entry, p_kind, p_amount, p_counterparty, p_note, p_now, p_status, a);
END $$;

-- Records the movement (the account row right after the entry, score inputs included) and
-- answers it as the caller sees it, from the row written: nothing is read back.
CREATE OR REPLACE FUNCTION vl_record_answer(p_entry text, p_kind text, p_amount bigint, p_counterparty text, p_note text,
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

-- Claims (user, key) for this request, saved with how it will answer. Answers NULL when
-- claimed now, else the key as saved before. A concurrent claim of the same key waits on
-- the unique index until the first commits (then it replays) or rolls back (then it claims).
CREATE OR REPLACE FUNCTION vl_claim(p_user text, p_key text, p_hash text, p_status int, p_answer text, p_entry text,
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

CREATE OR REPLACE FUNCTION vl_claim_movement(p_user text, p_key text, p_hash text, p_entry text, p_now timestamp)
RETURNS text LANGUAGE plpgsql AS $$
BEGIN
    RETURN (vl_claim(p_user, p_key, p_hash, 201, 'movement', p_entry, NULL, p_now)).entry_id;
END $$;

CREATE OR REPLACE FUNCTION vl_answer(p_outcome text, p_user text, p_entry text) RETURNS SETOF vl_answer
LANGUAGE plpgsql AS $$
BEGIN
    RETURN QUERY
    SELECT p_outcome, mv.entry_id, mv.kind, mv.amount_minor, mv.counterparty, mv.note, mv.created_at, mv.status,
        mv.wallet_minor, mv.vault_minor, mv.line, mv.general_limit_minor, mv.held_minor, mv.principal_minor,
        mv.fees_minor, mv.late_fees_minor, mv.on_time_installments, mv.overdue_installments, mv.overdue_days,
        mv.collateral_settlements, mv.vault_floor_minor, mv.overdue_now, m.opened_at
    FROM movements mv JOIN money_accounts m ON m.user_id = mv.user_id
    WHERE mv.user_id = p_user AND mv.entry_id = p_entry;
END $$;
