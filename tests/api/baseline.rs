//! The PostgreSQL baseline (issue 28): migrations 000001..000022 squashed into
//! `migrations/postgres/2026-12-07-000022_baseline`. A database upgraded from the schema
//! they left (`tests/fixtures/postgres_history_000023.sql`) and a fresh one built from the
//! baseline must be the same database: functions, triggers, tables, columns, indexes,
//! constraints, the type, and the seeded rows. A database part way through the squashed
//! migrations is refused. PostgreSQL only.

use diesel::connection::SimpleConnection;
use diesel::prelude::*;
use diesel::sql_types::Text;
use reqwest::StatusCode;
use vaultline::startup::Application;
use vaultline::store::migrate::{BASELINE, SQUASHED};
use vaultline::store::replaceable;

use crate::helpers::{Backend, TestApp, TestDb, test_settings};

/// The database the migrations before the baseline left, from `pg_dump`.
const HISTORY: &str = include_str!("../fixtures/postgres_history_000023.sql");

#[derive(QueryableByName)]
struct Object {
    #[diesel(sql_type = Text)]
    kind: String,
    #[diesel(sql_type = Text)]
    name: String,
    #[diesel(sql_type = Text)]
    definition: String,
}

/// Everything in schema `public` that a migration or the live SQL makes, by kind and name,
/// each with its definition as PostgreSQL prints it. Columns are listed per relation in
/// their order, not by number: an upgraded database keeps the numbers of dropped columns.
const CATALOG: &str = "
WITH ns AS (SELECT oid FROM pg_namespace WHERE nspname = 'public')
SELECT 'function' AS kind, p.oid::regprocedure::text AS name,
       pg_get_functiondef(p.oid) || coalesce(p.proconfig::text, '') AS definition
  FROM pg_proc p WHERE p.pronamespace IN (SELECT oid FROM ns)
UNION ALL
SELECT 'trigger', t.tgrelid::regclass::text || '.' || t.tgname, pg_get_triggerdef(t.oid)
  FROM pg_trigger t JOIN pg_class c ON c.oid = t.tgrelid
 WHERE NOT t.tgisinternal AND c.relnamespace IN (SELECT oid FROM ns)
UNION ALL
SELECT 'relation', c.relname,
       c.relkind::text || ' ' || c.relpersistence::text || coalesce(' (' || (
           SELECT string_agg(a.attname || ' ' || format_type(a.atttypid, a.atttypmod)
                             || coalesce(' COLLATE ' || nullif(a.attcollation, 0)::regcollation::text, '')
                             || CASE WHEN a.attnotnull THEN ' NOT NULL' ELSE '' END
                             || coalesce(' DEFAULT ' || pg_get_expr(d.adbin, d.adrelid), ''),
                             ', ' ORDER BY a.attnum)
             FROM pg_attribute a LEFT JOIN pg_attrdef d ON d.adrelid = a.attrelid AND d.adnum = a.attnum
            WHERE a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped) || ')', '')
  FROM pg_class c WHERE c.relnamespace IN (SELECT oid FROM ns)
UNION ALL
SELECT 'index', indexname, indexdef FROM pg_indexes WHERE schemaname = 'public'
UNION ALL
SELECT 'constraint', conrelid::regclass::text || '.' || conname,
       contype::text || ' ' || pg_get_constraintdef(oid) || CASE WHEN condeferrable THEN ' deferrable' ELSE '' END
  FROM pg_constraint WHERE connamespace IN (SELECT oid FROM ns)
UNION ALL
SELECT 'sequence', sequencename,
       concat_ws(' ', data_type, start_value, min_value, max_value, increment_by, cycle, cache_size)
  FROM pg_sequences WHERE schemaname = 'public'
UNION ALL
SELECT 'type', t.typname, t.typtype::text || ' ' || t.typrelid::regclass::text
  FROM pg_type t WHERE t.typnamespace IN (SELECT oid FROM ns) AND t.typtype NOT IN ('b', 'p')
   AND NOT EXISTS (SELECT 1 FROM pg_class c WHERE c.oid = t.typrelid AND c.relkind <> 'c')
UNION ALL
SELECT 'seeded row', 'ledger_accounts ' || id, kind FROM ledger_accounts WHERE user_id IS NULL
UNION ALL
SELECT 'seeded row', 'merchants ' || id, name || ' system=' || system FROM merchants WHERE system
ORDER BY 1, 2";

fn catalog(url: &str) -> Vec<Object> {
    let mut conn = PgConnection::establish(url).expect("connect");
    diesel::sql_query(CATALOG).load(&mut conn).expect("catalog")
}

/// Every object one side has and the other lacks or defines otherwise, one line each.
fn differences(upgraded: &[Object], fresh: &[Object]) -> Vec<String> {
    use std::collections::BTreeMap;
    let by_name = |objects: &[Object]| -> BTreeMap<(String, String), String> {
        objects.iter().map(|o| ((o.kind.clone(), o.name.clone()), o.definition.clone())).collect()
    };
    let (upgraded, fresh) = (by_name(upgraded), by_name(fresh));
    let mut out = Vec::new();
    for ((kind, name), definition) in &upgraded {
        match fresh.get(&(kind.clone(), name.clone())) {
            None => out.push(format!("only upgraded: {kind} {name}: {definition}")),
            Some(other) if other != definition => {
                out.push(format!("{kind} {name}:\n  upgraded: {definition}\n  fresh:    {other}"))
            }
            Some(_) => {}
        }
    }
    for ((kind, name), definition) in &fresh {
        if !upgraded.contains_key(&(kind.clone(), name.clone())) {
            out.push(format!("only fresh: {kind} {name}: {definition}"));
        }
    }
    out
}

/// One text column of a query's rows.
#[derive(QueryableByName)]
struct Value {
    #[diesel(sql_type = Text)]
    value: String,
}

fn recorded(url: &str) -> Vec<String> {
    let mut conn = PgConnection::establish(url).expect("connect");
    let rows: Vec<Value> =
        diesel::sql_query("SELECT version::text AS value FROM __diesel_schema_migrations ORDER BY version")
            .load(&mut conn)
            .expect("versions");
    rows.into_iter().map(|r| r.value).collect()
}

/// A new empty database, its URL, and the folder a test app runs in.
fn empty_database() -> (TestDb, String, tempfile::TempDir) {
    let dir = tempfile::tempdir().expect("temp dir");
    let (db, url) = TestDb::create(&Backend::postgres(), &dir);
    (db, url, dir)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[cfg_attr(not(postgres_tests), ignore = "VAULTLINE_TEST_POSTGRES_URL was not set at build time")]
async fn a_database_upgraded_from_history_equals_one_built_from_the_baseline() {
    // Today's database, as the migrations before the baseline left it, started by this release.
    let (db, url, dir) = empty_database();
    PgConnection::establish(&url).expect("connect").batch_execute(HISTORY).expect("the fixture restores");
    let upgraded = TestApp::start(test_settings(&url, &dir, &[]), db, dir, true);
    let fresh = TestApp::spawn(Backend::postgres()).await;
    let fresh_url = fresh.settings.database.url.clone();

    // The upgraded database skipped the baseline (it ran what it replaced); the fresh one ran it.
    let history = recorded(&url);
    assert!(SQUASHED.iter().all(|v| history.iter().any(|h| h == v)), "{history:?}");
    let built = recorded(&fresh_url);
    assert!(built.iter().any(|v| v == BASELINE), "{built:?}");
    assert!(!built.iter().any(|v| v.as_str() < BASELINE), "nothing older than the baseline ran: {built:?}");
    assert_eq!(history.last(), built.last(), "both at the newest migration");

    let (upgraded_objects, fresh_objects) = (catalog(&url), catalog(&fresh_url));
    for kind in ["function", "trigger", "relation", "index", "constraint", "sequence", "type", "seeded row"] {
        assert!(fresh_objects.iter().any(|o| o.kind == kind), "the fresh database has no {kind}: the query is wrong");
    }
    let differences = differences(&upgraded_objects, &fresh_objects);
    assert!(differences.is_empty(), "the upgraded database and the fresh one differ:\n{}", differences.join("\n"));
    // The fixture ran the live SQL as of the squash, and recorded its hash: a later change to
    // src/store/sql is applied over it at start, as over any database.
    let live = |url: &str| -> String {
        let mut conn = PgConnection::establish(url).expect("connect");
        let row: Value =
            diesel::sql_query("SELECT sha256 AS value FROM replaceable_schema").get_result(&mut conn).unwrap();
        row.value
    };
    assert_eq!(live(&url), replaceable::fingerprint());
    assert_eq!(live(&fresh_url), replaceable::fingerprint());

    // The upgraded database serves.
    let token = upgraded.user_token("after_upgrade").await;
    upgraded.deposit(&token, "12.50").await;
    let res = upgraded.get_as("/v1/me/account", &token).await;
    assert_eq!(res.status(), StatusCode::OK);
    upgraded.assert_ledger_clean_as_auditor().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[cfg_attr(not(postgres_tests), ignore = "VAULTLINE_TEST_POSTGRES_URL was not set at build time")]
async fn a_database_part_way_through_the_squashed_migrations_is_refused() {
    // A database an older release left after migration 000013: its tables are not the
    // baseline's, and this release has no migration to finish them with.
    let (db, url, dir) = empty_database();
    let mut conn = PgConnection::establish(&url).expect("connect");
    conn.batch_execute(
        "CREATE TABLE __diesel_schema_migrations (version VARCHAR(50) PRIMARY KEY NOT NULL, \
         run_on TIMESTAMP NOT NULL DEFAULT CURRENT_TIMESTAMP)",
    )
    .unwrap();
    for version in &SQUASHED[..13] {
        conn.batch_execute(&format!("INSERT INTO __diesel_schema_migrations (version) VALUES ('{version}')")).unwrap();
    }

    let out = std::process::Command::new(env!("CARGO_BIN_EXE_vaultline"))
        .args(["--database-url", &url, "migrate"])
        .env("RUST_LOG", "off")
        .env("VAULTLINE__DATABASE__CONNECTION_TIMEOUT_MS", "5000")
        .env_remove("VAULTLINE_PROFILE")
        .output()
        .expect("vaultline runs");
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(err.contains("ran 13 of the 21 migrations that the baseline 20261207000022 replaced"), "{err}");
    assert!(err.contains("missing: 20261207000014,"), "{err}");
    assert!(err.contains("Upgrade it with the previous release first"), "{err}");

    // Starting the service is refused the same way, before anything is written.
    let started = Application::build(test_settings(&url, &dir, &[]), true);
    let err = started.err().expect("refused").to_string();
    assert!(err.contains("previous release"), "{err}");
    #[derive(QueryableByName)]
    struct Count {
        #[diesel(sql_type = diesel::sql_types::BigInt)]
        n: i64,
    }
    let tables: Count = diesel::sql_query(
        "SELECT count(*) AS n FROM pg_tables WHERE schemaname = 'public' AND tablename <> '__diesel_schema_migrations'",
    )
    .get_result(&mut conn)
    .unwrap();
    assert_eq!(tables.n, 0, "nothing migrated");
    assert_eq!(recorded(&url).len(), 13);
    drop(conn);
    drop(db);
}
