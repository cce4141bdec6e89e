//! The data generator (issue 31): what `vaultline-load seed` makes passes the ledger check,
//! holds every state the service has, and is a database the service runs on: a seeded
//! customer logs in, reads their pages and deposits.

use diesel::prelude::*;
use diesel::sql_types::{BigInt, Text};
use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::helpers::{Backend, TestApp, TestDb, test_settings};
use crate::on_both_backends;

on_both_backends!(a_seeded_database_is_consistent_complete_and_usable);

#[derive(QueryableByName)]
struct Found {
    #[diesel(sql_type = Text)]
    what: String,
    #[diesel(sql_type = BigInt)]
    n: i64,
}

/// `(what, how many)` for one query answering both columns.
fn found(url: &str, sql: &str) -> Vec<(String, i64)> {
    let settings = vaultline::config::Settings::load(&vaultline::config::Sources::default()).unwrap();
    let target = vaultline::store::DbTarget::parse(url, &settings.database).unwrap();
    let mut conn = target.connect().unwrap();
    let rows: Vec<Found> = diesel::sql_query(sql).load(&mut conn).unwrap();
    rows.into_iter().map(|r| (r.what, r.n)).collect()
}

fn has(found: &[(String, i64)], what: &str) -> bool {
    found.iter().any(|(w, n)| w == what && *n > 0)
}

async fn login(app: &TestApp, username: &str) -> String {
    let body = json!({"username": username, "password": vaultline::seed::PASSWORD});
    let res = app.post_json("/v1/auth/login", &body).await;
    assert_eq!(res.status(), StatusCode::OK, "login {username}");
    res.json::<Value>().await.unwrap()["access_token"].as_str().unwrap().to_owned()
}

async fn a_seeded_database_is_consistent_complete_and_usable(backend: Backend) {
    let dir = tempfile::tempdir().unwrap();
    let (db, url) = TestDb::create(&backend, &dir);
    let opts = vaultline::seed::Options { database_url: url.clone(), customers: 300, seed: 7, progress: false };
    let summary = vaultline::seed::run(opts).await.expect("seeding");
    assert!(summary.customers >= 300, "{summary:?}");
    let rows = |table: &str| summary.rows.iter().find(|(t, _)| t == table).map_or(0, |(_, n)| *n);
    // Two admins besides the customers; everyone has an account.
    assert_eq!(rows("users"), summary.customers as i64 + 2, "{summary:?}");
    assert_eq!(rows("money_accounts"), rows("users"), "{summary:?}");
    for table in ["journal_entries", "postings", "movements", "idempotency_keys", "purchases", "installments"] {
        assert!(rows(table) > summary.customers as i64, "{table}: {summary:?}");
    }
    for table in ["refunds", "limit_history", "audit_log", "credit_requests", "autopay", "events", "outflow_hours"] {
        assert!(rows(table) > 0, "{table}: {summary:?}");
    }

    // Every state, and each in every copy of the templates.
    let copies = (summary.customers / summary.templates) as i64;
    let purchases = found(&url, "SELECT state AS what, COUNT(*) AS n FROM purchases GROUP BY state");
    let installments = found(&url, "SELECT state AS what, COUNT(*) AS n FROM installments GROUP BY state");
    for state in ["authorized", "captured", "voided"] {
        assert!(has(&purchases, state), "purchases {state}: {purchases:?}");
    }
    for state in ["pending", "due", "overdue", "paid", "converted"] {
        assert!(has(&installments, state), "installments {state}: {installments:?}");
    }
    let others = found(
        &url,
        "SELECT 'refunded' AS what, COUNT(*) AS n FROM purchases WHERE refunded_minor = amount_minor \
         UNION ALL SELECT 'late_fees', COUNT(*) FROM installments WHERE late_fee_minor > 0 \
         UNION ALL SELECT 'settled', COUNT(*) FROM money_accounts WHERE collateral_settlements > 0 \
         UNION ALL SELECT 'general', COUNT(*) FROM money_accounts WHERE line = 'general' \
         UNION ALL SELECT 'frozen', COUNT(*) FROM users WHERE status = 'frozen' \
         UNION ALL SELECT 'plans', COUNT(*) FROM purchases \
           WHERE merchant_id = '00000000-0000-0000-0000-00000000b177'",
    );
    for (what, n) in &others {
        assert!(*n >= copies, "{what}: {n} for {copies} copies");
    }

    // The service runs on it: the ledger check is clean, a seeded customer reads and deposits.
    let settings = test_settings(&url, &dir, &[]);
    let app = TestApp::start(settings, db, dir, true);
    let admin = login(&app, vaultline::seed::ADMIN).await;
    let report = app.assert_ledger_clean(&admin).await;
    assert_eq!(report["entries"].as_i64(), Some(rows("journal_entries")), "{report}");

    let ann = login(&app, "repayer_1_3").await;
    let account = app.account(&ann).await;
    let template = app.account(&login(&app, "repayer_1").await).await;
    assert_ne!(account["user_id"], template["user_id"], "a copy has its own id");
    assert_eq!(account["wallet"], template["wallet"], "and the template's balances");
    assert_eq!(account["credit"], template["credit"]);
    let history: Value = app.get_as("/v1/transactions?limit=20", &ann).await.json().await.unwrap();
    assert_eq!(history["items"].as_array().unwrap().len(), 20, "{history}");
    assert!(history["items"].as_array().unwrap().iter().all(|m| m["id"].as_str() != Some("")), "{history}");
    let events: Value = app.get_as("/v1/events?limit=20", &ann).await.json().await.unwrap();
    assert_eq!(events["items"].as_array().unwrap().len(), 20, "{events}");
    let purchases: Value = app.get_as("/v1/credit/purchases", &ann).await.json().await.unwrap();
    let first = purchases["items"][0]["id"].as_str().expect("purchases").to_owned();
    let res = app.get_as(&format!("/v1/credit/purchases/{first}"), &ann).await;
    assert_eq!(res.status(), StatusCode::OK);
    // A transfer between copies stays within the copy.
    let saver = login(&app, "saver_2_4").await;
    let moves = app.all_movements(&saver, 100).await;
    let counterparties: Vec<&str> = moves.iter().filter_map(|m| m["counterparty"].as_str()).collect();
    assert!(counterparties.contains(&"spender_2_4"), "{counterparties:?}");

    let before = account["wallet"]["balance"].as_str().unwrap().to_owned();
    let deposit = app.deposit(&ann, "10.00").await;
    assert_ne!(deposit["account"]["wallet"]["balance"].as_str(), Some(before.as_str()), "{deposit}");
    app.assert_ledger_clean(&admin).await;
}
