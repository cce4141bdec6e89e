//! The live PostgreSQL functions and triggers are source (`src/store/sql/*.sql`), each
//! defined once, and a start puts them back whenever the database runs other text.
//! PostgreSQL only: SQLite has no stored functions.

use std::collections::BTreeSet;

use diesel::prelude::*;
use diesel::sql_types::Text;
use vaultline::store::replaceable::FILES;

use crate::helpers::{Backend, TestApp};

#[derive(QueryableByName)]
struct Named {
    #[diesel(sql_type = Text)]
    name: String,
    #[diesel(sql_type = Text)]
    definition: String,
}

/// Every function and trigger of the database, by name, with its definition.
fn live(url: &str) -> Vec<Named> {
    let mut conn = PgConnection::establish(url).expect("connect");
    diesel::sql_query(
        "SELECT p.proname::text AS name, pg_get_functiondef(p.oid) || coalesce(p.proconfig::text, '') AS definition \
         FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace WHERE n.nspname = 'public' \
         UNION ALL SELECT tgname::text, pg_get_triggerdef(oid) FROM pg_trigger WHERE NOT tgisinternal ORDER BY 1",
    )
    .load(&mut conn)
    .expect("catalog")
}

/// The names the source defines, each as often as it is defined.
fn defined() -> Vec<String> {
    let create = regex::Regex::new(r"(?m)^CREATE OR REPLACE (?:FUNCTION|TRIGGER) (\w+)").unwrap();
    FILES.iter().flat_map(|(_, text)| create.captures_iter(text).map(|c| c[1].to_owned())).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[cfg_attr(not(postgres_tests), ignore = "VAULTLINE_TEST_POSTGRES_URL was not set at build time")]
async fn every_live_function_and_trigger_is_defined_once_in_the_source() {
    let app = TestApp::spawn(Backend::postgres()).await;
    let names = defined();
    let once: BTreeSet<String> = names.iter().cloned().collect();
    assert_eq!(once.len(), names.len(), "a name defined twice in src/store/sql: {names:?}");
    let in_database: BTreeSet<String> = live(&app.settings.database.url).into_iter().map(|f| f.name).collect();
    assert_eq!(in_database, once, "the database runs exactly what the source defines");
    assert!(once.len() >= 40, "{} functions and triggers", once.len());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[cfg_attr(not(postgres_tests), ignore = "VAULTLINE_TEST_POSTGRES_URL was not set at build time")]
async fn a_start_puts_back_any_other_text() {
    let drifted = TestApp::spawn(Backend::postgres()).await;
    let url = drifted.settings.database.url.clone();
    // Someone changed a function by hand (or an older release ran other text).
    drifted.execute_sql(
        "CREATE OR REPLACE FUNCTION vl_refuse(p_code text, p_detail text DEFAULT '') RETURNS void \
         LANGUAGE plpgsql AS $$ BEGIN NULL; END $$",
    );
    drifted.execute_sql("UPDATE replaceable_schema SET sha256 = 'older'");
    let migrate = || {
        let out = std::process::Command::new(env!("CARGO_BIN_EXE_vaultline"))
            .args(["--database-url", &url, "migrate"])
            .env("RUST_LOG", "off")
            .env_remove("VAULTLINE_PROFILE")
            .output()
            .expect("vaultline runs");
        assert!(out.status.success(), "migrate: {}", String::from_utf8_lossy(&out.stderr));
    };
    migrate();
    let fresh = TestApp::spawn(Backend::postgres()).await;
    let (restored, wanted) = (live(&url), live(&fresh.settings.database.url));
    assert_eq!(restored.len(), wanted.len());
    for (r, w) in restored.iter().zip(&wanted) {
        assert_eq!((&r.name, &r.definition), (&w.name, &w.definition), "the same text as a fresh database");
    }
    // Unchanged text is not applied again.
    drifted.execute_sql("CREATE OR REPLACE FUNCTION vl_refuse(p_code text, p_detail text DEFAULT '') RETURNS void LANGUAGE plpgsql AS $$ BEGIN NULL; END $$");
    migrate();
    let kept = live(&url).into_iter().find(|f| f.name == "vl_refuse").unwrap();
    assert!(kept.definition.contains("BEGIN NULL; END"), "the recorded hash matched, so nothing was reapplied");
}

/// Versioned migrations hold tables, indexes and data only: none defines or calls a function
/// (the baseline, which replaced the ones that did, included). As `grep -l 'CREATE.*FUNCTION'
/// migrations/postgres/*/up.sql` would, line by line, and beyond it: triggers, procedures,
/// calls of `vl_*`, in any case and across lines.
#[test]
fn no_migration_defines_or_calls_a_function() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("migrations/postgres");
    let code = regex::Regex::new(r"(?i)CREATE\s+(OR\s+REPLACE\s+)?(FUNCTION|TRIGGER|PROCEDURE)|\bvl_\w+\s*\(").unwrap();
    let grep = regex::Regex::new(r"(?m)CREATE.*FUNCTION").unwrap();
    let mut checked = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        let name = path.file_name().unwrap().to_string_lossy().into_owned();
        let up = std::fs::read_to_string(path.join("up.sql")).unwrap();
        assert!(!grep.is_match(&up), "{name}/up.sql: grep 'CREATE.*FUNCTION' finds it");
        assert!(!code.is_match(&up), "{name}/up.sql defines or calls a function: it belongs in src/store/sql");
        checked.push(name);
    }
    checked.sort();
    assert_eq!(checked[0], "2026-12-07-000022_baseline", "the baseline comes first: {checked:?}");
    assert!(checked.len() >= 2, "the baseline and its successors: {checked:?}");
}

/// Every 16-digit-or-longer number in `text` (the balance bounds; nothing else is that long).
fn balance_bounds(text: &str) -> Vec<i64> {
    let long = regex::Regex::new(r"-?\b\d{16,}\b").unwrap();
    long.find_iter(text).map(|m| m.as_str().trim_start_matches('-').parse().unwrap()).collect()
}

/// The balance ceiling is one number: the Rust constant. The migrations' CHECKs (which may
/// call no function) and the live SQL's `vl_balance_ceiling()` carry it; nothing else in
/// the live SQL spells it out.
#[test]
fn the_balance_ceiling_is_one_number() {
    use vaultline::domain::account::BALANCE_CEILING_MINOR;
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("migrations");
    let mut seen = 0;
    for backend in ["sqlite", "postgres"] {
        for entry in std::fs::read_dir(root.join(backend)).unwrap() {
            let up = std::fs::read_to_string(entry.unwrap().path().join("up.sql")).unwrap();
            for bound in balance_bounds(&up) {
                assert_eq!(bound, BALANCE_CEILING_MINOR, "a {backend} migration bounds a balance otherwise");
                seen += 1;
            }
        }
    }
    assert!(seen >= 16, "the money_accounts and postings bounds of both backends: {seen}");
    let spelled: Vec<&str> =
        FILES.iter().filter(|(_, text)| !balance_bounds(text).is_empty()).map(|(n, _)| *n).collect();
    assert_eq!(spelled, ["store/sql/ledger.sql"], "only vl_balance_ceiling() spells the ceiling out");
    assert_eq!(balance_bounds(FILES[0].1), [BALANCE_CEILING_MINOR]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[cfg_attr(not(postgres_tests), ignore = "VAULTLINE_TEST_POSTGRES_URL was not set at build time")]
async fn the_live_database_bounds_balances_with_the_one_number() {
    #[derive(QueryableByName)]
    struct Bound {
        #[diesel(sql_type = diesel::sql_types::BigInt)]
        ceiling: i64,
        #[diesel(sql_type = Text)]
        checks: String,
    }
    let app = TestApp::spawn(Backend::postgres()).await;
    let mut conn = PgConnection::establish(&app.settings.database.url).expect("connect");
    let found: Bound = diesel::sql_query(
        "SELECT vl_balance_ceiling() AS ceiling, string_agg(pg_get_constraintdef(oid), ' ') AS checks \
         FROM pg_constraint WHERE contype = 'c'",
    )
    .get_result(&mut conn)
    .expect("catalog");
    let ceiling = vaultline::domain::account::BALANCE_CEILING_MINOR;
    assert_eq!(found.ceiling, ceiling);
    let bounds = balance_bounds(&found.checks);
    assert!(bounds.len() >= 9, "{}", found.checks);
    assert!(bounds.iter().all(|b| *b == ceiling), "{}", found.checks);
}
