//! Group commit on PostgreSQL writes a batch's transfers together in one statement
//! (`vl_batch_transfers`) where it can prove they would run through one by one, chains and
//! several transfers of one user included, and runs the rest one by one after them. On 600
//! seeded random batches of 1-12 operations among 5 users (transfers, deposits, withdrawals;
//! balances short of the amounts and wallets at their bound, frozen senders, unknown and self
//! recipients, zero amounts, keys reused within the batch and from before with the same or
//! another request, an outflow cap already part used with hours at the window's edge, vaults
//! and holds the movements record) each batch must answer every operation as the same
//! operations run one by one in order (`vl_transfer`, `vl_move`) do, and leave the same
//! balances, outflow hours, keys, movements, postings and event streams; and at least 400
//! transfers must have been written together. PostgreSQL only.

use diesel::connection::SimpleConnection;
use diesel::{Connection, PgConnection};

use crate::helpers::{Backend, TestApp};

/// Each trial runs the batch, then the same operations one by one, each from the same
/// starting rows (the same seed) in a subtransaction that is then undone.
const COMPARE: &str = r#"
DO $$
DECLARE
    names text[] := ARRAY(SELECT username FROM users WHERE username LIKE 'chain\_%' ORDER BY username);
    ids text[] := ARRAY(SELECT id FROM users WHERE username LIKE 'chain\_%' ORDER BY username);
    nu int; n int; cap bigint; t0 timestamp := '2031-01-01 10:59:59';
    ops text[]; us text[]; keys text[]; hashes text[]; entries text[]; amounts bigint[]; tos text[]; notes text[]; nows timestamp[];
    b_answers text; o_answers text; b_state text; o_state text; together int; total_together int := 0;
    r record; v_err text; v_det text; ans text; diffs int := 0;
BEGIN
    nu := cardinality(ids);
    IF nu < 5 THEN RAISE EXCEPTION 'expected 5 users, found %', nu; END IF;
    PERFORM setseed(0.17);
    -- A key each user used before (a deposit): some requests replay it, or reuse it for another.
    PERFORM vl_move('deposit', id, 'k7', 'h0', md5(id), NULL, 1, t0 - interval '1 day', NULL, NULL)
       FROM unnest(ids) id WHERE NOT EXISTS (SELECT 1 FROM idempotency_keys k WHERE k.user_id = id AND k.idem_key = 'k7');
    FOR trial IN 1 .. 600 LOOP
        n := 1 + floor(random() * 12)::int;
        cap := CASE WHEN random() < 0.5 THEN NULL ELSE 300 + floor(random() * 400)::bigint END;
        ops := ARRAY(SELECT CASE WHEN random() < 0.85 THEN 'transfer' WHEN random() < 0.5 THEN 'deposit' ELSE 'withdrawal' END
                       FROM generate_series(1, n));
        us := ARRAY(SELECT ids[1 + floor(random() * nu)::int] FROM generate_series(1, n));
        keys := ARRAY(SELECT 'k' || floor(random() * 8)::int FROM generate_series(1, n));
        hashes := ARRAY(SELECT 'h' || floor(random() * 2)::int FROM generate_series(1, n));
        entries := ARRAY(SELECT md5(trial || ' ' || g) FROM generate_series(1, n) g);
        amounts := ARRAY(SELECT CASE WHEN random() < 0.05 THEN 0 ELSE 1 + floor(random() * 250)::bigint END
                           FROM generate_series(1, n));
        tos := ARRAY(SELECT CASE WHEN random() < 0.05 THEN 'nobody_here' ELSE names[1 + floor(random() * nu)::int] END
                       FROM generate_series(1, n));
        notes := ARRAY(SELECT CASE WHEN random() < 0.3 THEN 'note ' || g END FROM generate_series(1, n) g);
        nows := ARRAY(SELECT t0 + CASE WHEN random() < 0.1 THEN interval '2 seconds' ELSE interval '0' END
                        FROM generate_series(1, n));
        -- The same starting rows for both runs (the same seed), undone with them.
        FOR side IN 1 .. 2 LOOP
            BEGIN
                PERFORM setseed(((trial * 7919) % 10000) / 10000.0);
                -- Besides the wallet, columns a transfer leaves alone but its movements record;
                -- now and then a wallet at its bound.
                UPDATE money_accounts SET wallet_minor = CASE WHEN random() < 0.05 THEN 100000000000000000 - floor(random() * 300)::bigint
                                                              ELSE floor(random() * 1000)::bigint END,
                                          vault_minor = floor(random() * 500)::bigint, held_minor = floor(random() * 50)::bigint
                 WHERE user_id = ANY (ids);
                UPDATE users SET status = CASE WHEN random() < 0.1 THEN 'frozen' ELSE 'active' END WHERE id = ANY (ids);
                DELETE FROM outflow_hours WHERE user_id = ANY (ids);
                -- This hour's outflow, and the hours at the window's edge: 24 hours before this
                -- one counts, 25 does not.
                INSERT INTO outflow_hours SELECT id, h, floor(random() * 200)::bigint + 1
                  FROM unnest(ids) id, unnest(ARRAY['2031-01-01 10:00', '2030-12-31 10:00', '2030-12-31 09:00']::timestamp[]) h
                 WHERE random() < 0.6;
                IF side = 1 THEN
                    SELECT string_agg(coalesce(x.error, '') || '|' || coalesce(x.detail, '') || '|' || coalesce(x.answer, ''), E'\n' ORDER BY x.idx),
                           count(*) FILTER (WHERE x.together)
                      INTO b_answers, together
                      FROM vl_batch(ops, us, keys, hashes, entries, array_fill(NULL::text, ARRAY[n]), amounts, tos, notes, nows,
                                    cap, NULL::int, array_fill(NULL::bigint, ARRAY[n]), array_fill(t0, ARRAY[n]),
                                    array_fill(NULL::bigint, ARRAY[n])) x;
                ELSE
                    o_answers := NULL;
                    FOR i IN 1 .. n LOOP
                        BEGIN
                            IF ops[i] = 'transfer' THEN
                                SELECT row_to_json(t)::text INTO ans FROM vl_transfer(us[i], keys[i], hashes[i], entries[i], tos[i], amounts[i], notes[i], nows[i], cap) t;
                            ELSE
                                SELECT row_to_json(t)::text INTO ans FROM vl_move(ops[i], us[i], keys[i], hashes[i], entries[i], NULL, amounts[i], nows[i], cap, NULL) t;
                            END IF;
                            v_err := NULL; v_det := NULL;
                        EXCEPTION WHEN OTHERS THEN
                            GET STACKED DIAGNOSTICS v_err = MESSAGE_TEXT, v_det = PG_EXCEPTION_DETAIL;
                            ans := NULL;
                        END;
                        o_answers := concat_ws(E'\n', o_answers, coalesce(v_err, '') || '|' || coalesce(v_det, '') || '|' || coalesce(ans, ''));
                    END LOOP;
                END IF;
                SELECT concat_ws(E'\n',
                    (SELECT string_agg(user_id || ' ' || wallet_minor, ',' ORDER BY user_id) FROM money_accounts WHERE user_id = ANY (ids)),
                    (SELECT string_agg(user_id || ' ' || hour || ' ' || amount_minor, ',' ORDER BY user_id, hour) FROM outflow_hours WHERE user_id = ANY (ids)),
                    (SELECT string_agg(user_id || ' ' || idem_key || ' ' || request_hash || ' ' || coalesce(entry_id, '-'), ',' ORDER BY user_id, idem_key) FROM idempotency_keys WHERE user_id = ANY (ids)),
                    (SELECT string_agg(concat_ws(' ', entry_id, user_id, kind, amount_minor, counterparty, note, created_at, status, wallet_minor, vault_minor), ',' ORDER BY entry_id, user_id, kind) FROM movements WHERE user_id = ANY (ids) AND created_at >= t0),
                    (SELECT string_agg(concat_ws(' ', e.entry_id, e.account_id, e.amount_minor), ',' ORDER BY e.entry_id, e.account_id) FROM postings e JOIN journal_entries j ON j.id = e.entry_id WHERE j.user_id = ANY (ids) AND j.created_at >= t0),
                    (SELECT string_agg(concat_ws(' ', user_id, seq, type, object_id), ',' ORDER BY user_id, seq) FROM events WHERE user_id = ANY (ids) AND type = 'movement.created' AND object_id = ANY (entries)))
                  INTO b_state;
                IF side = 1 THEN o_state := b_state; ELSE
                    IF b_answers IS DISTINCT FROM o_answers OR o_state IS DISTINCT FROM b_state THEN
                        diffs := diffs + 1;
                        IF diffs <= 2 THEN
                            RAISE WARNING E'trial %: ops % users % amounts % tos % keys % cap %\nbatch:\n%\none by one:\n%\nstate batch:\n%\nstate one by one:\n%',
                                trial, ops, us, amounts, tos, keys, cap, b_answers, o_answers, o_state, b_state;
                        END IF;
                    END IF;
                END IF;
                RAISE EXCEPTION 'undone';
            EXCEPTION WHEN raise_exception THEN NULL;
            END;
        END LOOP;
        total_together := total_together + together;
    END LOOP;
    IF diffs > 0 THEN RAISE EXCEPTION '% of % batches differ from the same operations one by one', diffs, 600; END IF;
    -- The shortcut must have been taken, or the comparison shows nothing (this seed: 581).
    IF total_together < 400 THEN
        RAISE EXCEPTION 'only % transfers written together: the batches test too little', total_together;
    END IF;
END $$;
"#;

#[actix_web::test]
#[cfg_attr(not(postgres_tests), ignore = "VAULTLINE_TEST_POSTGRES_URL was not set at build time")]
async fn random_batches_of_transfers_answer_as_one_by_one() {
    let app = TestApp::spawn(Backend::postgres()).await;
    for name in ["chain_a", "chain_b", "chain_c", "chain_d", "chain_e"] {
        app.register(name).await;
    }
    let mut conn = PgConnection::establish(&app.settings.database.url).unwrap();
    conn.batch_execute(COMPARE).expect("every batch answered as one by one");
}
