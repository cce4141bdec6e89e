//! Group commit on PostgreSQL admits a batch's requests through their users' gates (session
//! and request budget) in one statement (`vl_batch_gates`). On 3,000 seeded random batches
//! (1-10 requests of 4 users, token versions current, stale or absent, budgets set or not, two
//! windows, windows already part used) it must refuse the same requests and leave the same
//! counts as one call of `vl_gate_admit` per group, in user order, as before. PostgreSQL only.

use diesel::connection::SimpleConnection;
use diesel::{Connection, PgConnection};

use crate::helpers::{Backend, TestApp};

/// The loop `vl_batch` ran before (migration 000016), as a temporary function, and the
/// comparison: each side runs in a subtransaction that is then undone, on the same rows.
const COMPARE: &str = r#"
CREATE FUNCTION pg_temp.gates_one_by_one(p_users text[], p_token_versions bigint[], p_windows timestamp[],
                                         p_budgets bigint[]) RETURNS text[] LANGUAGE plpgsql AS $$
DECLARE v_gates text[] := array_fill(NULL::text, ARRAY[cardinality(p_users)]); g record; v_admitted int;
BEGIN
    FOR g IN SELECT s.u, s.v, s.w, s.b, array_agg(s.i ORDER BY s.i) AS idxs
               FROM (SELECT p_users[k] AS u, p_token_versions[k] AS v, p_windows[k] AS w, p_budgets[k] AS b, k AS i
                       FROM generate_subscripts(p_users, 1) AS k) s
              GROUP BY s.u, s.v, s.w, s.b ORDER BY s.u COLLATE "C", s.w
    LOOP
        v_admitted := vl_gate_admit(g.u, g.v, g.w, g.b, cardinality(g.idxs));
        FOR i IN 1 .. cardinality(g.idxs) LOOP
            v_gates[g.idxs[i]] := CASE WHEN v_admitted < 0 THEN 'session_ended' WHEN i > v_admitted THEN 'rate_limited' END;
        END LOOP;
    END LOOP;
    RETURN v_gates;
END $$;
DO $$
DECLARE
    us text[] := ARRAY(SELECT id FROM users WHERE username LIKE 'gate\_%' ORDER BY username);
    t0 timestamp := '2030-01-01';
    n int; u text[]; v bigint[]; w timestamp[]; b bigint[];
    one_by_one text[]; at_once text[]; rows_one_by_one text; rows_at_once text;
    refused int := 0; diffs int := 0;
BEGIN
    IF cardinality(us) <> 4 THEN RAISE EXCEPTION 'expected 4 users, found %', cardinality(us); END IF;
    PERFORM setseed(0.42);
    UPDATE users SET token_version = 1 WHERE id = ANY (us);
    FOR trial IN 1 .. 3000 LOOP
        n := 1 + floor(random() * 10)::int;
        u := ARRAY(SELECT us[1 + floor(random() * 4)::int] FROM generate_series(1, n));
        v := ARRAY(SELECT CASE floor(random() * 6)::int WHEN 0 THEN NULL WHEN 1 THEN 0 ELSE 1 END FROM generate_series(1, n));
        w := ARRAY(SELECT t0 + floor(random() * 2)::int * interval '1 minute' FROM generate_series(1, n));
        b := ARRAY(SELECT CASE floor(random() * 5)::int WHEN 0 THEN NULL ELSE 3 END FROM generate_series(1, n));
        DELETE FROM request_windows WHERE window_start >= t0;
        IF random() < 0.5 THEN
            INSERT INTO request_windows VALUES (us[1], t0, 1 + floor(random() * 4)::int), (us[2], t0, 2);
        END IF;
        BEGIN
            one_by_one := pg_temp.gates_one_by_one(u, v, w, b);
            SELECT string_agg(user_id || ' ' || window_start || ' ' || requests, ', ' ORDER BY user_id, window_start)
              INTO rows_one_by_one FROM request_windows WHERE window_start >= t0;
            RAISE EXCEPTION 'undone';
        EXCEPTION WHEN raise_exception THEN NULL;
        END;
        BEGIN
            at_once := vl_batch_gates(u, v, w, b);
            SELECT string_agg(user_id || ' ' || window_start || ' ' || requests, ', ' ORDER BY user_id, window_start)
              INTO rows_at_once FROM request_windows WHERE window_start >= t0;
            RAISE EXCEPTION 'undone';
        EXCEPTION WHEN raise_exception THEN NULL;
        END;
        refused := refused + (SELECT count(*) FROM unnest(one_by_one) g WHERE g IS NOT NULL);
        IF one_by_one IS DISTINCT FROM at_once OR rows_one_by_one IS DISTINCT FROM rows_at_once THEN
            diffs := diffs + 1;
            RAISE WARNING 'users % versions % windows % budgets %: one by one % (%), at once % (%)',
                u, v, w, b, one_by_one, rows_one_by_one, at_once, rows_at_once;
        END IF;
    END LOOP;
    -- Both refusals must have been exercised, or the comparison shows nothing.
    IF refused < 1000 THEN RAISE EXCEPTION 'only % requests refused: the batches test too little', refused; END IF;
    IF diffs > 0 THEN RAISE EXCEPTION '% of 3000 batches gated differently at once than one by one', diffs; END IF;
END $$;
"#;

#[actix_web::test]
#[cfg_attr(not(postgres_tests), ignore = "VAULTLINE_TEST_POSTGRES_URL was not set at build time")]
async fn a_batchs_gates_admitted_at_once_match_the_loop_one_by_one() {
    let app = TestApp::spawn(Backend::postgres()).await;
    for name in ["gate_a", "gate_b", "gate_c", "gate_d"] {
        app.register(name).await;
    }
    let mut conn = PgConnection::establish(&app.settings.database.url).unwrap();
    conn.batch_execute(COMPARE).expect("the batches gated at once as one by one");
}
