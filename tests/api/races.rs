//! Real concurrent HTTP requests against one user: the rules hold, nothing is lost,
//! nothing deadlocks, and the ledger stays clean.

use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::helpers::{Backend, TestApp, minor};
use crate::on_both_backends;

on_both_backends!(
    parallel_withdrawals_never_overdraw,
    parallel_lock_unlock_withdraw_keep_the_pledge,
    opposite_transfers_never_deadlock_or_lose_money
);

const RACE_SETTINGS: &[(&str, &str)] = &[("server.workers", "4"), ("database.pool_size", "12")];

async fn race(app: &TestApp, requests: Vec<(&'static str, String, Value)>) -> Vec<(StatusCode, Value)> {
    let sends = requests.iter().map(|(path, token, body)| app.post_money(path, token, body));
    let responses = futures_util::future::join_all(sends).await;
    let mut out = Vec::new();
    for res in responses {
        let status = res.status();
        out.push((status, res.json::<Value>().await.unwrap_or(Value::Null)));
    }
    out
}

fn account_ok(account: &Value) {
    let wallet = minor(&account["wallet"]["balance"]);
    let vault = minor(&account["vault"]["balance"]);
    assert!(wallet >= 0 && vault >= 0, "{account}");
    if account["credit"]["line"] == "secured" {
        let exposure = minor(&account["credit"]["exposure"]);
        assert!(exposure <= minor(&account["credit"]["limit"]), "exposure past the limit: {account}");
    }
}

async fn parallel_withdrawals_never_overdraw(backend: Backend) {
    let app = TestApp::spawn_with(backend, RACE_SETTINGS).await;
    let admin = app.admin_token("root_admin").await;
    let ann = app.user_token("ann_lee").await;
    app.deposit(&ann, "100.00").await;

    let requests = (0..20).map(|_| ("/v1/wallet/withdrawals", ann.clone(), json!({"amount": "10.00"}))).collect();
    let results = race(&app, requests).await;
    let ok = results.iter().filter(|(s, _)| *s == StatusCode::CREATED).count();
    let refused = results.iter().filter(|(s, b)| *s == 422 && b["code"] == "insufficient_funds").count();
    let statuses: Vec<u16> = results.iter().map(|(s, _)| s.as_u16()).collect();
    assert_eq!((ok, refused), (10, 10), "{statuses:?}");
    for (_, body) in results.iter().filter(|(s, _)| *s == StatusCode::CREATED) {
        account_ok(&body["account"]);
    }
    assert_eq!(app.account(&ann).await["wallet"]["balance"], "0.00");
    app.assert_ledger_clean(&admin).await;
}

async fn parallel_lock_unlock_withdraw_keep_the_pledge(backend: Backend) {
    let app = TestApp::spawn_with(backend, RACE_SETTINGS).await;
    let admin = app.admin_token("root_admin").await;
    let ann = app.user_token("ann_lee").await;
    app.deposit(&ann, "1000.00").await;
    let locked: Value =
        app.post_money("/v1/vault/lock", &ann, &json!({"amount": "500.00"})).await.json().await.unwrap();
    // A purchase of 300.00 held against the vault.
    assert_eq!(locked["account"]["vault"]["balance"], "500.00");
    let shop: Value =
        app.post_as_admin("/v1/admin/merchants", &admin, &json!({"name": "Shop"})).await.json().await.unwrap();
    let purchase = json!({"merchant_id": shop["id"], "amount": "300.00", "installments": 3});
    let held: Value = app.post_money("/v1/credit/purchases", &ann, &purchase).await.json().await.unwrap();

    let mut requests = Vec::new();
    for _ in 0..15 {
        requests.push(("/v1/vault/unlock", ann.clone(), json!({"amount": "20.00"})));
        requests.push(("/v1/vault/lock", ann.clone(), json!({"amount": "10.00"})));
        requests.push(("/v1/wallet/withdrawals", ann.clone(), json!({"amount": "30.00"})));
    }
    let results = race(&app, requests.clone()).await;
    let (mut wallet, mut vault) = (50_000_i64, 50_000_i64);
    for ((path, _, _), (status, body)) in requests.iter().zip(&results) {
        match *status {
            StatusCode::CREATED => {
                account_ok(&body["account"]);
                match *path {
                    "/v1/vault/unlock" => (vault, wallet) = (vault - 2_000, wallet + 2_000),
                    "/v1/vault/lock" => (vault, wallet) = (vault + 1_000, wallet - 1_000),
                    _ => wallet -= 3_000,
                }
            }
            s => {
                assert_eq!(s.as_u16(), 422, "{body}");
                assert!(["vault_pledged", "insufficient_funds"].contains(&body["code"].as_str().unwrap()), "{body}");
            }
        }
    }
    let account = app.account(&ann).await;
    account_ok(&account);
    assert_eq!(minor(&account["wallet"]["balance"]), wallet, "every acknowledged effect, and only those");
    assert_eq!(minor(&account["vault"]["balance"]), vault);
    assert!(vault >= 30_000, "the vault never drops below what it pledges");
    assert_eq!(held["state"], "authorized");
    app.assert_ledger_clean(&admin).await;
}

async fn opposite_transfers_never_deadlock_or_lose_money(backend: Backend) {
    let app = TestApp::spawn_with(backend, RACE_SETTINGS).await;
    let admin = app.admin_token("root_admin").await;
    let ann = app.user_token("ann_lee").await;
    let bob = app.user_token("bob_99").await;
    app.deposit(&ann, "1000.00").await;
    app.deposit(&bob, "1000.00").await;

    let mut requests = Vec::new();
    for _ in 0..25 {
        requests.push(("/v1/transfers", ann.clone(), json!({"to_username": "bob_99", "amount": "7.00"})));
        requests.push(("/v1/transfers", bob.clone(), json!({"to_username": "ann_lee", "amount": "11.00"})));
    }
    let results = race(&app, requests).await;
    assert!(results.iter().all(|(s, _)| *s == StatusCode::CREATED), "no deadlock, no failure: {results:?}");
    let a = app.account(&ann).await;
    let b = app.account(&bob).await;
    assert_eq!(minor(&a["wallet"]["balance"]), 100_000 - 25 * 700 + 25 * 1_100);
    assert_eq!(minor(&b["wallet"]["balance"]), 100_000 + 25 * 700 - 25 * 1_100);
    // Deposits minus withdrawals equals what everyone holds.
    let total = minor(&a["wallet"]["balance"]) + minor(&b["wallet"]["balance"]);
    assert_eq!(total, 200_000);
    let report = app.assert_ledger_clean(&admin).await;
    assert_eq!(report["entries"], 52);
}
