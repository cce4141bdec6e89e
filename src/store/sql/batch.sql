-- Group commit: a batch of money requests in one call, each in its own subtransaction, and the
-- set-wise writer of transfers that go through together.
--
-- Live source: applied after the versioned migrations as CREATE OR REPLACE, in one
-- transaction, whenever these files change (src/store/replaceable.rs). Edit here, never in
-- a migration; a changed signature needs a new name (a migration drops the old one).

CREATE OR REPLACE FUNCTION vl_batch(p_ops text[], p_users text[], p_keys text[], p_hashes text[], p_entries text[],
                         p_limit_ids text[], p_amounts bigint[], p_tos text[], p_notes text[], p_nows timestamp[],
                         p_outflow_cap bigint, p_unlocks_per_day int,
                         p_token_versions bigint[], p_windows timestamp[], p_budgets bigint[])
RETURNS TABLE (idx int, error text, detail text, answer text, together boolean, recipient text)
LANGUAGE plpgsql AS $$
DECLARE
    i int;
    g record;
    v_admitted int;
    r vl_answer;
    v_error text;
    v_detail text;
    v_gates text[] := array_fill(NULL::text, ARRAY[coalesce(cardinality(p_users), 0)]);
    v_locked text[];
    v_some_held boolean := false;
    v_fast text[];
    v_recipients text[];
    -- Every account row the batch may write: its users' and its recipients'.
    v_ids text[] := ARRAY(SELECT unnest(p_users) UNION SELECT id FROM users WHERE username = ANY (p_tos));
BEGIN
    PERFORM set_config('lock_timeout', vl_batch_lock_timeout(), true);
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
    BEGIN
        PERFORM 1 FROM money_accounts
         WHERE user_id = ANY (v_ids)
         ORDER BY user_id COLLATE "C" FOR UPDATE;
    EXCEPTION WHEN lock_not_available THEN
        -- Held past the wait: this batch takes the rows that are free, and leaves the rest.
        v_some_held := true;
        SELECT coalesce(array_agg(l.user_id), '{}') INTO v_locked FROM (
            SELECT user_id FROM money_accounts
             WHERE user_id = ANY (v_ids)
             ORDER BY user_id COLLATE "C" FOR UPDATE SKIP LOCKED) l;
    END;
    -- The independent transfers first, in one statement (vl_batch_transfers); not while a row
    -- is held, where which operations may run is decided one by one below.
    SELECT * INTO v_fast, v_recipients
      FROM vl_batch_transfers(p_ops, p_users, p_keys, p_hashes, p_entries, p_amounts, p_tos, p_notes, p_nows,
                              p_outflow_cap, ARRAY(SELECT v_some_held OR gate IS NOT NULL FROM unnest(v_gates) AS gate));
    FOR i IN 1 .. coalesce(cardinality(p_ops), 0) LOOP
        IF v_gates[i] IS NOT NULL THEN
            idx := i; error := 'vaultline:' || v_gates[i]; detail := NULL; answer := NULL; together := false;
            recipient := v_recipients[i];
            RETURN NEXT;
            CONTINUE;
        END IF;
        IF v_fast[i] IS NOT NULL THEN
            idx := i; error := NULL; detail := NULL; answer := v_fast[i]; together := true;
            recipient := v_recipients[i];
            RETURN NEXT;
            CONTINUE;
        END IF;
        -- A recipient with no account row (no such user) is the operation's own refusal.
        IF v_some_held AND (NOT p_users[i] = ANY (v_locked)
           OR (p_ops[i] = 'transfer' AND EXISTS (SELECT 1 FROM users u JOIN money_accounts m ON m.user_id = u.id
                                                  WHERE u.username = p_tos[i] AND NOT u.id = ANY (v_locked)))) THEN
            idx := i; error := 'vaultline:row_held'; detail := NULL; answer := NULL; together := false;
            recipient := v_recipients[i];
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
            idx := i; error := NULL; detail := NULL; answer := row_to_json(r)::text; together := false;
            recipient := v_recipients[i];
            RETURN NEXT;
        EXCEPTION WHEN OTHERS THEN
            GET STACKED DIAGNOSTICS v_error = MESSAGE_TEXT, v_detail = PG_EXCEPTION_DETAIL;
            idx := i; error := v_error; detail := v_detail; answer := NULL; together := false;
            recipient := v_recipients[i];
            RETURN NEXT;
        END;
    END LOOP;
END $$;
ALTER FUNCTION vl_batch(text[], text[], text[], text[], text[], text[], bigint[], text[], text[], timestamp[], bigint, int, bigint[], timestamp[], bigint[]) SET plan_cache_mode = force_generic_plan;

-- A batch's transfers written in one statement, a transfer whose sender or recipient an
-- earlier transfer of the same statement moved money for (a chain, or one user in several)
-- included: about a fifth of the lanes' transfers had run one by one for that alone.
--
-- Which transfers: in the batch's order, a transfer that no earlier operation left to run one
-- by one shares an account with, and which vl_transfer would run through to the end on the
-- balances the statement's earlier transfers leave (a positive amount, a recipient who is
-- another user with an account, an active sender with the money, the recipient's wallet
-- under its bound, under the outflow cap with the statement's earlier transfers counted, a
-- key never used, nor by an earlier transfer of the statement). Every operation left to run
-- one by one that shares an account with one of them comes later in the batch, so running
-- them first, together and in order, then the rest one by one in order, gives each operation
-- the answer it would get with the whole batch run one by one.
--
-- Each account row is written once, to the balance its last transfer leaves, and each
-- movement records the balance as that transfer left it: what vl_transfer's UPDATE returns
-- one transfer at a time, worked out here in the batch's order. The rows are locked before
-- (vl_batch) and read here; the UPDATE writes a row only if its balance is still the one read.
CREATE OR REPLACE FUNCTION vl_batch_transfers(p_ops text[], p_users text[], p_keys text[], p_hashes text[],
                                              p_entries text[], p_amounts bigint[], p_tos text[], p_notes text[],
                                              p_nows timestamp[], p_outflow_cap bigint, p_skip boolean[],
                                              OUT answers text[], OUT recipients text[])
LANGUAGE plpgsql AS $$
DECLARE
    n int := coalesce(cardinality(p_ops), 0);
    v_answers text[] := array_fill(NULL::text, ARRAY[n]);
    v_ready boolean[]; v_to_ids text[]; v_to_status text[]; v_from_names text[];
    -- The outflow in numeric, as vl_check_outflow sums it: no sum overflows here and fails
    -- the whole batch where one by one only its own transfer would fail.
    v_from_wallets bigint[]; v_to_wallets bigint[]; v_used numeric[];
    -- Accounts an operation left to run one by one touches.
    v_left text[] := '{}';
    v_mine text[];
    v_fast int[] := '{}';
    -- The statement's accounts: each one's balance as read, then as its transfers leave it.
    v_accounts text[] := '{}'; v_read bigint[] := '{}'; v_balances bigint[] := '{}';
    v_from_after bigint[] := array_fill(NULL::bigint, ARRAY[n]);
    v_to_after bigint[] := array_fill(NULL::bigint, ARRAY[n]);
    -- Each account's money sent by the statement's transfers, and the hour of the first.
    v_sent numeric[] := '{}'; v_first_hours timestamp[] := '{}';
    -- The keys the statement's transfers claim.
    v_claimed text[] := '{}';
    f int; t int; v_from bigint; v_to bigint; v_window timestamp;
    v_done int[]; v_texts text[]; v_rows bigint; v_written int;
BEGIN
    SELECT array_agg(c.ready ORDER BY c.k), array_agg(c.to_id ORDER BY c.k), array_agg(c.to_status ORDER BY c.k),
           array_agg(c.from_name ORDER BY c.k), array_agg(c.from_wallet ORDER BY c.k),
           array_agg(c.to_wallet ORDER BY c.k), array_agg(c.used ORDER BY c.k)
      INTO v_ready, v_to_ids, v_to_status, v_from_names, v_from_wallets, v_to_wallets, v_used
      FROM (SELECT k, t.id AS to_id, t.status AS to_status, s.username AS from_name,
                   ms.wallet_minor AS from_wallet, mt.wallet_minor AS to_wallet,
                   CASE WHEN p_outflow_cap IS NOT NULL AND p_ops[k] = 'transfer' THEN
                       (SELECT coalesce(sum(h.amount_minor), 0) FROM outflow_hours h
                         WHERE h.user_id = p_users[k]
                           AND h.hour >= date_trunc('hour', p_nows[k]) - interval '24 hours') END AS used,
                   coalesce(p_ops[k] = 'transfer' AND NOT p_skip[k] AND p_amounts[k] > 0 AND t.id <> p_users[k]
                            AND s.status = 'active' AND mt.wallet_minor IS NOT NULL
                            AND NOT EXISTS (SELECT 1 FROM idempotency_keys ik
                                             WHERE ik.user_id = p_users[k] AND ik.idem_key = p_keys[k]),
                            false) AS ready
              -- Each a lookup by key (OFFSET 0 keeps it one): a handful of rows, never a scan.
              FROM generate_subscripts(p_ops, 1) AS k
              LEFT JOIN LATERAL (SELECT u.username, u.status FROM users u WHERE u.id = p_users[k] OFFSET 0) s ON true
              LEFT JOIN LATERAL (SELECT m.wallet_minor FROM money_accounts m WHERE m.user_id = p_users[k] OFFSET 0) ms
                ON true
              LEFT JOIN LATERAL (SELECT u.id, u.status FROM users u WHERE p_ops[k] = 'transfer' AND u.username = p_tos[k]
                                 OFFSET 0) t ON true
              LEFT JOIN LATERAL (SELECT m.wallet_minor FROM money_accounts m WHERE m.user_id = t.id OFFSET 0) mt ON true) c;
    FOR i IN 1 .. n LOOP
        CONTINUE WHEN p_skip[i];
        v_mine := CASE WHEN v_to_ids[i] IS NULL THEN ARRAY[p_users[i]] ELSE ARRAY[p_users[i], v_to_ids[i]] END;
        IF v_ready[i] AND NOT v_mine && v_left AND NOT (p_users[i] || ' ' || p_keys[i]) = ANY (v_claimed) THEN
            f := array_position(v_accounts, p_users[i]);
            t := array_position(v_accounts, v_to_ids[i]);
            v_from := CASE WHEN f IS NULL THEN v_from_wallets[i] ELSE v_balances[f] END;
            v_to := CASE WHEN t IS NULL THEN v_to_wallets[i] ELSE v_balances[t] END;
            v_window := date_trunc('hour', p_nows[i]) - interval '24 hours';
            -- The sender's earlier transfers in this statement count against the cap, all of
            -- them in its window (a batch spanning a day would run one by one instead).
            IF v_from >= p_amounts[i] AND v_to <= vl_balance_ceiling() - p_amounts[i]
               AND (p_outflow_cap IS NULL
                    OR (f IS NULL AND p_amounts[i] + v_used[i] <= p_outflow_cap)
                    OR (f IS NOT NULL AND coalesce(v_window <= v_first_hours[f], true)
                        AND p_amounts[i] + v_used[i] + v_sent[f] <= p_outflow_cap)) THEN
                IF f IS NULL THEN
                    v_accounts := v_accounts || p_users[i]; v_read := v_read || v_from; v_balances := v_balances || v_from;
                    v_sent := v_sent || 0::numeric; v_first_hours := v_first_hours || NULL::timestamp;
                    f := cardinality(v_accounts);
                END IF;
                IF t IS NULL THEN
                    v_accounts := v_accounts || v_to_ids[i]; v_read := v_read || v_to; v_balances := v_balances || v_to;
                    v_sent := v_sent || 0::numeric; v_first_hours := v_first_hours || NULL::timestamp;
                    t := cardinality(v_accounts);
                END IF;
                v_balances[f] := v_from - p_amounts[i];
                v_balances[t] := v_to + p_amounts[i];
                v_from_after[i] := v_balances[f];
                v_to_after[i] := v_balances[t];
                v_sent[f] := v_sent[f] + p_amounts[i];
                v_first_hours[f] := LEAST(v_first_hours[f], date_trunc('hour', p_nows[i]));
                v_claimed := v_claimed || (p_users[i] || ' ' || p_keys[i]);
                v_fast := v_fast || i;
                CONTINUE;
            END IF;
        END IF;
        v_left := v_left || v_mine;
    END LOOP;
    -- Each transfer's recipient (the service's lanes keep them, to tell which requests can
    -- run beside a batch without waiting for its rows).
    recipients := v_to_ids;
    answers := v_answers;
    IF cardinality(v_fast) = 0 THEN
        RETURN;
    END IF;
    BEGIN
        -- The account rows are the batch's already; any other row held elsewhere (a key another
        -- request is claiming) is waited for 10 ms, not the batch's 100: past that, all run one
        -- by one, and only the operation needing it waits again. Back to 100 ms on success (an
        -- error takes the setting back with the subtransaction).
        PERFORM set_config('lock_timeout', vl_claimed_lock_timeout(), true);
        WITH ops AS MATERIALIZED (
            SELECT f.k, p_users[f.k] AS uid, p_keys[f.k] AS ikey, p_hashes[f.k] AS hash, p_entries[f.k] AS entry,
                   p_amounts[f.k] AS amt, p_tos[f.k] AS to_name, v_to_ids[f.k] AS to_id,
                   v_to_status[f.k] AS to_status, v_from_names[f.k] AS from_name, p_notes[f.k] AS note,
                   p_nows[f.k] AS ts, v_from_after[f.k] AS from_after, v_to_after[f.k] AS to_after
              FROM unnest(v_fast) AS f(k)),
        claim AS (
            INSERT INTO idempotency_keys (user_id, idem_key, request_hash, response_status, response_body, entry_id,
                                          answer, created_at)
            SELECT uid, ikey, hash, 201, NULL, entry, 'movement', ts FROM ops),
        -- The account rows by their key (= ANY): the planner would hash a small table whole.
        accounts AS (
            UPDATE money_accounts m SET wallet_minor = x.balance
              FROM unnest(v_accounts, v_read, v_balances) AS x(uid, read, balance)
             WHERE m.user_id = ANY (v_accounts) AND m.user_id = x.uid AND m.wallet_minor = x.read
            RETURNING m.*),
        outflow AS (
            INSERT INTO outflow_hours AS h (user_id, hour, amount_minor)
            SELECT uid, date_trunc('hour', ts), sum(amt) FROM ops GROUP BY 1, 2
            ON CONFLICT (user_id, hour) DO UPDATE SET amount_minor = h.amount_minor + EXCLUDED.amount_minor),
        entry AS (
            INSERT INTO journal_entries (id, kind, user_id, created_at) SELECT entry, 'transfer', uid, ts FROM ops),
        legs AS (
            INSERT INTO postings (entry_id, account_id, amount_minor)
            SELECT entry, uid || ':wallet', -amt FROM ops
            UNION ALL SELECT entry, to_id || ':wallet', amt FROM ops),
        moved AS (
            INSERT INTO movements AS mv (entry_id, user_id, kind, amount_minor, counterparty, note, created_at, status,
                wallet_minor, vault_minor, line, general_limit_minor, held_minor, principal_minor, fees_minor,
                late_fees_minor, on_time_installments, overdue_installments, overdue_days, collateral_settlements,
                vault_floor_minor, overdue_now)
            SELECT o.entry, a.user_id, side.kind, o.amt, side.counterparty, o.note, o.ts, side.status,
                side.wallet, a.vault_minor, a.line, a.general_limit_minor, a.held_minor, a.principal_minor,
                a.fees_minor, a.late_fees_minor, a.on_time_installments, a.overdue_installments, a.overdue_days,
                a.collateral_settlements, LEAST(a.vault_floor_minor, a.vault_minor), a.overdue_count > 0
              FROM ops o
              CROSS JOIN LATERAL (VALUES (1, 'transfer_out', o.uid, o.to_name, 'active', o.from_after),
                                         (2, 'transfer_in', o.to_id, o.from_name, o.to_status, o.to_after))
                         AS side(n, kind, uid, counterparty, status, wallet)
              JOIN accounts a ON a.user_id = side.uid
             -- In the batch's order, each sender before its recipient, as one by one: the events
             -- (appended in the order written) follow it.
             ORDER BY o.k, side.n
            RETURNING mv.*)
        SELECT array_agg(o.k ORDER BY o.k),
               array_agg(row_to_json(ROW('fresh', mv.entry_id, mv.kind, mv.amount_minor, mv.counterparty, mv.note,
                   mv.created_at, mv.status, mv.wallet_minor, mv.vault_minor, mv.line, mv.general_limit_minor,
                   mv.held_minor, mv.principal_minor, mv.fees_minor, mv.late_fees_minor, mv.on_time_installments,
                   mv.overdue_installments, mv.overdue_days, mv.collateral_settlements, mv.vault_floor_minor,
                   mv.overdue_now, s.opened_at)::vl_answer)::text ORDER BY o.k),
               (SELECT count(*) FROM moved), (SELECT count(*) FROM accounts)
          INTO v_done, v_texts, v_rows, v_written
          FROM moved mv JOIN ops o ON o.entry = mv.entry_id JOIN accounts s ON s.user_id = o.uid
         WHERE mv.kind = 'transfer_out';
        IF v_done IS DISTINCT FROM v_fast OR v_rows <> 2 * cardinality(v_fast) OR v_written <> cardinality(v_accounts) THEN
            RAISE EXCEPTION 'vl_batch_transfers wrote % movements and % accounts for % transfers',
                v_rows, v_written, cardinality(v_fast);
        END IF;
        PERFORM set_config('lock_timeout', vl_batch_lock_timeout(), true);
    EXCEPTION WHEN OTHERS THEN
        -- Nothing of it is kept: each runs one by one, where its own error is answered.
        RETURN;
    END;
    FOR i IN 1 .. cardinality(v_done) LOOP
        answers[v_done[i]] := v_texts[i];
    END LOOP;
END $$;
