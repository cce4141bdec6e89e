//! The ledger check finds each kind of violation, through the API and the CLI.

use std::process::Command;

use serde_json::Value;

use crate::helpers::{Backend, TestApp, assert_problem};
use crate::on_both_backends;

on_both_backends!(ledger_check_finds_each_violation, ledger_check_is_admin_only);

fn invariants(report: &Value) -> Vec<String> {
    let mut names: Vec<String> =
        report["violations"].as_array().unwrap().iter().map(|v| v["invariant"].as_str().unwrap().to_owned()).collect();
    names.sort();
    names.dedup();
    names
}

fn cli_check(app: &TestApp) -> (Option<i32>, Value) {
    let out = Command::new(env!("CARGO_BIN_EXE_vaultline"))
        .args(["--database-url", &app.settings.database.url, "ledger", "check"])
        .env("RUST_LOG", "off")
        .env("VAULTLINE__DATABASE__CONNECTION_TIMEOUT_MS", "5000")
        .env_remove("VAULTLINE_PROFILE")
        .output()
        .unwrap();
    (out.status.code(), serde_json::from_slice(&out.stdout).expect("the CLI prints the report as JSON"))
}

async fn ledger_check_finds_each_violation(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let admin = app.admin_token("root_admin").await;
    let ann = app.user_token("ann_lee").await;
    let deposit = app.deposit(&ann, "50.00").await;
    let report = app.assert_ledger_clean(&admin).await;
    assert_eq!(report["entries"], 1);
    let (code, cli) = cli_check(&app);
    assert_eq!(code, Some(0));
    assert_eq!(cli["ok"], true);

    // A stored balance that no posting explains.
    let user_id = deposit["account"]["user_id"].as_str().unwrap().to_owned();
    app.execute_sql(&format!("UPDATE money_accounts SET wallet_minor = wallet_minor + 1 WHERE user_id = '{user_id}'"));
    let report: Value = app.get_as("/v1/admin/ledger/check", &admin).await.json().await.unwrap();
    assert_eq!(report["ok"], false);
    assert_eq!(invariants(&report), ["money_conserved", "stored_balance"]);
    let detail = report["violations"][0]["detail"].as_str().unwrap().to_owned();
    assert!(detail.contains(&user_id), "{detail}");
    app.execute_sql(&format!("UPDATE money_accounts SET wallet_minor = wallet_minor - 1 WHERE user_id = '{user_id}'"));

    // A posting that unbalances its entry (and the ledger).
    let entry = deposit["id"].as_str().unwrap();
    app.execute_sql(&format!(
        "INSERT INTO postings (entry_id, account_id, amount_minor) VALUES ('{entry}', 'sys:fee_income', 7)"
    ));
    let report: Value = app.get_as("/v1/admin/ledger/check", &admin).await.json().await.unwrap();
    assert_eq!(invariants(&report), ["entry_balanced", "ledger_total_zero", "money_conserved"]);
    let (code, cli) = cli_check(&app);
    assert_eq!(code, Some(1), "the CLI exits 1 on any violation");
    assert_eq!(cli["ok"], false);
    app.execute_sql(&format!("DELETE FROM postings WHERE entry_id = '{entry}' AND account_id = 'sys:fee_income'"));

    // An entry with a single leg.
    app.execute_sql(&format!(
        "INSERT INTO journal_entries (id, kind, user_id, created_at) VALUES ('e-1', 'deposit', '{user_id}', '2026-01-01 00:00:00')"
    ));
    let report: Value = app.get_as("/v1/admin/ledger/check", &admin).await.json().await.unwrap();
    assert_eq!(invariants(&report), ["entry_balanced"]);
    app.execute_sql("DELETE FROM journal_entries WHERE id = 'e-1'");
    app.assert_ledger_clean(&admin).await;

    // An event pointing at the wrong movement, then at the wrong limit change.
    let res = app.post_money("/v1/vault/lock", &ann, &serde_json::json!({"amount": "10.00"})).await;
    assert_eq!(res.status(), reqwest::StatusCode::CREATED);
    app.assert_ledger_clean(&admin).await;
    for (kind, expected) in [
        ("movement.created", vec!["1 movements without their event", "1 movement events without their movement"]),
        ("credit.limit_changed", vec!["1 limit changes without exactly one event"]),
    ] {
        app.execute_sql(&format!(
            "UPDATE events SET object_id = 'elsewhere' WHERE position = (SELECT MIN(position) FROM events WHERE type = '{kind}')"
        ));
        let report: Value = app.get_as("/v1/admin/ledger/check", &admin).await.json().await.unwrap();
        assert_eq!(invariants(&report), ["events_complete"], "{report}");
        let details: Vec<&str> =
            report["violations"].as_array().unwrap().iter().map(|v| v["detail"].as_str().unwrap()).collect();
        assert_eq!(details, expected);
        app.execute_sql(&format!(
            "UPDATE events SET object_id = (SELECT {} FROM {} ORDER BY created_at LIMIT 1) WHERE object_id = 'elsewhere'",
            if kind == "credit.limit_changed" { "id" } else { "entry_id" },
            if kind == "credit.limit_changed" { "limit_history" } else { "movements" },
        ));
        app.assert_ledger_clean(&admin).await;
    }
}

async fn ledger_check_is_admin_only(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let ann = app.user_token("ann_lee").await;
    assert_problem(app.get_as("/v1/admin/ledger/check", &ann).await, 403, "forbidden").await;
    assert_problem(app.get("/v1/admin/ledger/check").await, 401, "unauthorized").await;
}
