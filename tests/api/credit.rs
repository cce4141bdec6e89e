//! Buying on credit: the whole flow with exact amounts, every refusal, billing idempotency,
//! hold expiry, privacy of purchases, and races.

use chrono::{Datelike, Months, NaiveDate, TimeDelta};
use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::helpers::{Backend, TestApp, assert_problem, minor};
use crate::on_both_backends;

on_both_backends!(
    the_whole_flow_with_exact_amounts,
    purchase_refusals,
    cancel_auto_confirm_and_states,
    purchases_are_private_and_listed,
    merchants_and_billing_are_admin_routes,
    parallel_purchases_and_unlocks_never_exceed_the_vault,
    parallel_repayments_never_overpay,
    concurrent_billing_runs_charge_once
);

/// The first due date for a purchase captured today: the 10th of next month.
pub(crate) fn first_due() -> NaiveDate {
    let today = chrono::Utc::now().date_naive();
    today.with_day(1).unwrap().checked_add_months(Months::new(1)).unwrap().with_day(10).unwrap()
}

pub(crate) fn days(n: i64) -> TimeDelta {
    TimeDelta::days(n)
}

pub(crate) async fn merchant(app: &TestApp, admin: &str, name: &str) -> String {
    let res = app.post_as_admin("/v1/admin/merchants", admin, &json!({"name": name})).await;
    assert_eq!(res.status(), StatusCode::CREATED);
    let body: Value = res.json().await.unwrap();
    assert_eq!(body["name"], name);
    body["id"].as_str().unwrap().to_owned()
}

pub(crate) async fn bill_as_of(app: &TestApp, admin: &str, date: NaiveDate) -> Value {
    let res = app.post_as_admin("/v1/admin/billing/run", admin, &json!({"as_of": date.to_string()})).await;
    assert_eq!(res.status(), StatusCode::OK);
    res.json().await.unwrap()
}

fn counts(due: u64, overdue: u64, late: u64, settled: u64) -> Value {
    json!({"installments_due": due, "installments_overdue": overdue, "late_fees_charged": late,
           "collateral_settlements": settled, "holds_expired": 0, "on_time_credited": 0, "dry_run": false,
           "purchases_auto_confirmed": 0, "autopay_payments": 0,
           "statements_issued": 0, "reminders_sent": 0})
}

pub(crate) async fn buy(app: &TestApp, token: &str, merchant_id: &str, amount: &str, n: u32) -> reqwest::Response {
    app.post_money(
        "/v1/credit/purchases",
        token,
        &json!({"merchant_id": merchant_id, "amount": amount, "installments": n}),
    )
    .await
}

pub(crate) async fn confirm(app: &TestApp, token: &str, id: &str) -> reqwest::Response {
    app.post_money(&format!("/v1/credit/purchases/{id}/confirm-receipt"), token, &json!(null)).await
}

async fn the_whole_flow_with_exact_amounts(backend: Backend) {
    let app =
        TestApp::spawn_with(backend, &[("credit.grace_days", "5"), ("credit.billing_job_enabled", "false")]).await;
    let admin = app.admin_token("root_admin").await;
    let shop = merchant(&app, &admin, "Tmall Store").await;
    let ann = app.user_token("ann_lee").await;
    app.deposit(&ann, "2000.00").await;
    app.post_money("/v1/vault/lock", &ann, &json!({"amount": "1500.00"})).await.error_for_status().unwrap();

    // A hold: exposure rises now.
    let res = buy(&app, &ann, &shop, "1200.00", 3).await;
    assert_eq!(res.status(), StatusCode::CREATED);
    let purchase: Value = res.json().await.unwrap();
    assert_eq!(purchase["state"], "authorized");
    assert_eq!(purchase["amount"], "1200.00");
    assert_eq!(purchase["installments"], 3);
    assert_eq!(purchase["merchant_id"], shop);
    assert_eq!(purchase["schedule"], json!([]));
    let id = purchase["id"].as_str().unwrap().to_owned();
    let account = app.account(&ann).await;
    assert_eq!(account["credit"]["held"], "1200.00");
    assert_eq!(account["credit"]["available"], "300.00");
    assert_eq!(account["vault"]["unlockable"], "300.00");

    // The vault pledges the hold.
    assert_problem(app.post_money("/v1/vault/unlock", &ann, &json!({"amount": "300.01"})).await, 422, "vault_pledged")
        .await;
    assert_problem(buy(&app, &ann, &shop, "300.01", 1).await, 422, "credit_limit_exceeded").await;

    // Receipt confirmed: captured, the merchant paid, the schedule starts.
    let res = confirm(&app, &ann, &id).await;
    assert_eq!(res.status(), StatusCode::OK);
    let captured: Value = res.json().await.unwrap();
    assert_eq!(captured["state"], "captured");
    let d1 = first_due();
    let due_dates =
        [d1, d1.checked_add_months(Months::new(1)).unwrap(), d1.checked_add_months(Months::new(2)).unwrap()];
    let schedule = captured["schedule"].as_array().unwrap();
    assert_eq!(schedule.len(), 3);
    for (k, part) in schedule.iter().enumerate() {
        assert_eq!(part["seq"], k as u64 + 1);
        assert_eq!(part["due_date"], due_dates[k].to_string());
        assert_eq!(part["principal"], "400.00");
        assert_eq!(part["fee"], "2.00", "0.5% of 400.00");
        assert_eq!(part["late_fee"], "0.00");
        assert_eq!(part["paid"], "0.00");
        assert_eq!(part["state"], "pending");
    }
    let account = app.account(&ann).await;
    assert_eq!(
        (account["credit"]["held"].as_str(), account["credit"]["principal"].as_str()),
        (Some("0.00"), Some("1200.00"))
    );
    assert_eq!(app.all_movements(&ann, 10).await[0]["kind"], "purchase_capture");
    assert_problem(confirm(&app, &ann, &id).await, 409, "invalid_state").await;
    app.assert_ledger_clean(&admin).await;

    // Billing: not yet, then the first part is billed ten days ahead.
    assert_eq!(bill_as_of(&app, &admin, d1 - days(11)).await, counts(0, 0, 0, 0));
    // The statement day: the first part is billed and the first statement issued.
    let mut billed = counts(1, 0, 0, 0);
    billed["statements_issued"] = json!(1);
    assert_eq!(bill_as_of(&app, &admin, d1 - days(10)).await, billed);
    let bill: Value = app.get_as("/v1/credit/bill", &ann).await.json().await.unwrap();
    assert_eq!(bill["due"].as_array().unwrap().len(), 1);
    assert_eq!(bill["due"][0]["fee"], "2.00");
    assert_eq!(bill["overdue"], json!([]));
    assert_eq!(bill["total_due"], "402.00");
    assert_eq!(app.account(&ann).await["credit"]["fees"], "2.00");

    // A partial repayment: the fee first, then principal.
    let res = app.post_money("/v1/credit/repayments", &ann, &json!({"amount": "150.00"})).await;
    assert_eq!(res.status(), StatusCode::CREATED);
    let repayment: Value = res.json().await.unwrap();
    assert_eq!(repayment["kind"], "repayment");
    assert_eq!(repayment["account"]["credit"]["fees"], "0.00");
    assert_eq!(repayment["account"]["credit"]["principal"], "1052.00");
    assert_eq!(repayment["account"]["wallet"]["balance"], "350.00");
    assert_problem(
        app.post_money("/v1/credit/repayments", &ann, &json!({"amount": "1052.01"})).await,
        422,
        "overpayment",
    )
    .await;

    // Overdue the day after the due date; a late fee on the 252.00 still unpaid.
    assert_eq!(bill_as_of(&app, &admin, d1).await, counts(0, 0, 0, 0));
    assert_eq!(bill_as_of(&app, &admin, d1 + days(1)).await, counts(0, 1, 1, 0));
    assert_eq!(app.account(&ann).await["credit"]["late_fees"], "0.13", "252.00 x 0.05% = 0.126");
    assert_eq!(bill_as_of(&app, &admin, d1 + days(1)).await, counts(0, 0, 0, 0), "the same date twice");
    assert_eq!(bill_as_of(&app, &admin, d1).await, counts(0, 0, 0, 0), "an earlier date after a later one");
    assert_eq!(app.account(&ann).await["credit"]["late_fees"], "0.13");
    assert_problem(buy(&app, &ann, &shop, "10.00", 1).await, 422, "account_delinquent").await;
    let bill: Value = app.get_as("/v1/credit/bill", &ann).await.json().await.unwrap();
    assert_eq!(bill["overdue"][0]["late_fee"], "0.13");
    assert_eq!(bill["total_due"], "252.13");

    // Past the grace period the secured debt is settled from the vault.
    assert_eq!(bill_as_of(&app, &admin, d1 + days(6)).await, counts(0, 0, 1, 1));
    let account = app.account(&ann).await;
    assert_eq!(account["vault"]["balance"], "1247.24", "1500.00 - (252.00 + 0.76 late fees)");
    assert_eq!(account["credit"]["limit"], "1247.24", "the limit shrinks with the vault");
    assert_eq!(account["credit"]["principal"], "800.00");
    assert_eq!(account["credit"]["late_fees"], "0.00");
    assert_eq!(account["credit"]["available"], "447.24");
    let latest = &app.all_movements(&ann, 10).await[0];
    assert_eq!((latest["kind"].as_str(), latest["amount"].as_str()), (Some("collateral_settlement"), Some("252.76")));
    let history: Value = app.get_as("/v1/credit/limit-history?limit=1", &ann).await.json().await.unwrap();
    let last = &history["items"][0];
    assert_eq!(
        (last["reason"].as_str(), last["limit_before"].as_str(), last["limit_after"].as_str()),
        (Some("collateral_settlement"), Some("1500.00"), Some("1247.24"))
    );
    let purchase: Value = app.get_as(&format!("/v1/credit/purchases/{id}"), &ann).await.json().await.unwrap();
    assert_eq!(purchase["schedule"][0]["state"], "paid");
    assert_eq!(purchase["schedule"][0]["paid"], "402.76");
    assert_eq!(purchase["schedule"][0]["late_fee"], "0.76");
    app.assert_ledger_clean(&admin).await;

    // Nothing overdue any more: buying works again; unlocking stops at what is pledged.
    let hold = buy(&app, &ann, &shop, "10.00", 1).await;
    assert_eq!(hold.status(), StatusCode::CREATED);
    let hold_id = hold.json::<Value>().await.unwrap()["id"].as_str().unwrap().to_owned();
    let res = app.post_money("/v1/vault/unlock", &ann, &json!({"amount": "437.24"})).await;
    assert_eq!(res.status(), StatusCode::CREATED);
    assert_problem(app.post_money("/v1/vault/unlock", &ann, &json!({"amount": "0.01"})).await, 422, "vault_pledged")
        .await;

    // Early repayment of the unbilled parts: their fees are never charged.
    app.deposit(&ann, "100.00").await;
    let res = app.post_money("/v1/credit/repayments", &ann, &json!({"amount": "800.00"})).await;
    assert_eq!(res.status(), StatusCode::CREATED);
    let purchase: Value = app.get_as(&format!("/v1/credit/purchases/{id}"), &ann).await.json().await.unwrap();
    for part in &purchase["schedule"].as_array().unwrap()[1..] {
        assert_eq!(
            (part["state"].as_str(), part["fee"].as_str(), part["paid"].as_str()),
            (Some("paid"), Some("0.00"), Some("400.00"))
        );
    }
    assert_problem(
        app.post_money("/v1/credit/repayments", &ann, &json!({"amount": "1.00"})).await,
        422,
        "nothing_to_repay",
    )
    .await;
    assert_eq!(app.account(&ann).await["credit"]["exposure"], "10.00", "only the new hold");
    // (Left alone, billing would confirm it; cancelled, nothing is left to bill.)
    assert_eq!(app.post_as(&format!("/v1/credit/purchases/{hold_id}/cancel"), &ann).await.status(), StatusCode::OK);
    assert_eq!(bill_as_of(&app, &admin, d1 + days(120)).await["collateral_settlements"], 0);
    app.assert_ledger_clean(&admin).await;
}

async fn purchase_refusals(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let admin = app.admin_token("root_admin").await;
    let shop = merchant(&app, &admin, "Shop").await;
    let ann = app.user_token("ann_lee").await;
    app.deposit(&ann, "100.00").await;
    app.post_money("/v1/vault/lock", &ann, &json!({"amount": "100.00"})).await.error_for_status().unwrap();

    for n in [0, 2, 5, 48, -3] {
        let res = app
            .post_money(
                "/v1/credit/purchases",
                &ann,
                &json!({"merchant_id": shop, "amount": "10.00", "installments": n}),
            )
            .await;
        assert_problem(res, 422, "invalid_installments").await;
    }
    assert_problem(buy(&app, &ann, &shop, "0.05", 6).await, 422, "invalid_installments").await;
    for bad in [json!("3"), json!(3.5), json!(null)] {
        let res = app
            .post_money(
                "/v1/credit/purchases",
                &ann,
                &json!({"merchant_id": shop, "amount": "10.00", "installments": bad}),
            )
            .await;
        assert_problem(res, 422, "validation_error").await;
    }
    for amount in ["0", "-5.00", "1.234", "abc"] {
        assert_problem(buy(&app, &ann, &shop, amount, 3).await, 422, "invalid_amount").await;
    }
    assert_problem(buy(&app, &ann, &uuid::Uuid::new_v4().to_string(), "10.00", 3).await, 404, "not_found").await;
    assert_problem(buy(&app, &ann, "not-a-uuid", "10.00", 3).await, 404, "not_found").await;
    assert_problem(buy(&app, &ann, &shop, "100.01", 3).await, 422, "credit_limit_exceeded").await;
    let res = app
        .client
        .post(app.url("/v1/credit/purchases"))
        .bearer_auth(&ann)
        .json(&json!({"merchant_id": shop, "amount": "10.00", "installments": 3}))
        .send()
        .await
        .unwrap();
    assert_problem(res, 400, "idempotency_key_required").await;
    let long = json!({"merchant_id": shop, "amount": "10.00", "installments": 3, "description": "d".repeat(201)});
    assert_problem(app.post_money("/v1/credit/purchases", &ann, &long).await, 422, "validation_error").await;

    let ann_id = app.account(&ann).await["user_id"].as_str().unwrap().to_owned();
    let reason = json!({"reason": "test"});
    app.post_as_admin(&format!("/v1/admin/users/{ann_id}/freeze"), &admin, &reason).await.error_for_status().unwrap();
    assert_problem(buy(&app, &ann, &shop, "10.00", 3).await, 403, "account_frozen").await;
    // A frozen user may repay (here there is nothing to repay yet).
    assert_problem(
        app.post_money("/v1/credit/repayments", &ann, &json!({"amount": "1.00"})).await,
        422,
        "nothing_to_repay",
    )
    .await;
    app.post_as_admin(&format!("/v1/admin/users/{ann_id}/unfreeze"), &admin, &reason).await.error_for_status().unwrap();

    // A description is kept as sent, so one with spaces at either end is refused.
    let spaced = json!({"merchant_id": shop, "amount": "100.00", "installments": 24, "description": " a bike "});
    assert_problem(app.post_money("/v1/credit/purchases", &ann, &spaced).await, 422, "validation_error").await;
    // The whole limit can be used, and nothing more.
    let res = app
        .post_money(
            "/v1/credit/purchases",
            &ann,
            &json!({"merchant_id": shop, "amount": "100.00", "installments": 24, "description": "a bike"}),
        )
        .await;
    assert_eq!(res.status(), StatusCode::CREATED);
    let purchase: Value = res.json().await.unwrap();
    assert_eq!(purchase["description"], "a bike");
    assert_problem(buy(&app, &ann, &shop, "0.01", 1).await, 422, "credit_limit_exceeded").await;
    assert_problem(
        app.post_money("/v1/credit/repayments", &ann, &json!({"amount": "1.00"})).await,
        422,
        "nothing_to_repay",
    )
    .await;
    let id = purchase["id"].as_str().unwrap();
    let captured: Value = confirm(&app, &ann, id).await.json().await.unwrap();
    let parts: Vec<i64> = captured["schedule"].as_array().unwrap().iter().map(|p| minor(&p["principal"])).collect();
    assert_eq!(parts.iter().sum::<i64>(), 10_000);
    // 100.00 / 24 = 4.16 rest 0.16: one extra minor unit on each of the first 16 parts,
    // so no two parts differ by more than one.
    assert!(parts[..16].iter().all(|p| *p == 417) && parts[16..].iter().all(|p| *p == 416), "{parts:?}");
    assert_problem(
        app.post_money("/v1/credit/repayments", &ann, &json!({"amount": "0.01"})).await,
        422,
        "insufficient_funds",
    )
    .await;
    app.assert_ledger_clean(&admin).await;
}

async fn cancel_auto_confirm_and_states(backend: Backend) {
    let app = TestApp::spawn_with(backend, &[("credit.billing_job_enabled", "false")]).await;
    let admin = app.admin_token("root_admin").await;
    let shop = merchant(&app, &admin, "Shop").await;
    let ann = app.user_token("ann_lee").await;
    app.deposit(&ann, "100.00").await;
    app.post_money("/v1/vault/lock", &ann, &json!({"amount": "100.00"})).await.error_for_status().unwrap();

    let a: Value = buy(&app, &ann, &shop, "30.00", 3).await.json().await.unwrap();
    let res = app.post_as(&format!("/v1/credit/purchases/{}/cancel", a["id"].as_str().unwrap()), &ann).await;
    assert_eq!(res.status(), StatusCode::OK);
    assert_eq!(res.json::<Value>().await.unwrap()["state"], "voided");
    assert_eq!(app.account(&ann).await["credit"]["held"], "0.00");
    let a_id = a["id"].as_str().unwrap();
    assert_problem(app.post_as(&format!("/v1/credit/purchases/{a_id}/cancel"), &ann).await, 409, "invalid_state").await;
    assert_problem(confirm(&app, &ann, a_id).await, 409, "invalid_state").await;

    let b: Value = buy(&app, &ann, &shop, "40.00", 1).await.json().await.unwrap();
    let b_id = b["id"].as_str().unwrap();
    confirm(&app, &ann, b_id).await.error_for_status().unwrap();
    assert_problem(app.post_as(&format!("/v1/credit/purchases/{b_id}/cancel"), &ann).await, 409, "invalid_state").await;

    // A hold the buyer neither confirms nor cancels is confirmed by billing on day
    // auto_confirm_days (10), once, even when two runs race: the merchant is paid once.
    let c: Value = buy(&app, &ann, &shop, "20.00", 3).await.json().await.unwrap();
    let today = chrono::Utc::now().date_naive();
    let res = bill_as_of(&app, &admin, today + days(9)).await;
    assert_eq!((res["purchases_auto_confirmed"].as_u64(), res["holds_expired"].as_u64()), (Some(0), Some(0)));
    let day = today + days(10);
    let (one, two) = tokio::join!(bill_as_of(&app, &admin, day), bill_as_of(&app, &admin, day));
    let confirmed =
        one["purchases_auto_confirmed"].as_u64().unwrap() + two["purchases_auto_confirmed"].as_u64().unwrap();
    assert_eq!(confirmed, 1, "{one} {two}");
    let c_now: Value =
        app.get_as(&format!("/v1/credit/purchases/{}", c["id"].as_str().unwrap()), &ann).await.json().await.unwrap();
    assert_eq!(c_now["state"], "captured");
    // The schedule starts as a confirmation now would start it (a run dated in the past
    // must not backdate it; this one is dated ahead, which only tests may do).
    assert_eq!(c_now["schedule"][0]["due_date"], first_due().to_string());
    let parts: Vec<&str> =
        c_now["schedule"].as_array().unwrap().iter().map(|p| p["principal"].as_str().unwrap()).collect();
    assert_eq!(parts, ["6.67", "6.67", "6.66"]);
    assert_eq!(app.account(&ann).await["credit"]["held"], "0.00");
    assert_eq!(app.account(&ann).await["credit"]["principal"], "60.00");
    let captures = app.all_movements(&ann, 50).await.into_iter().filter(|m| m["kind"] == "purchase_capture").count();
    assert_eq!(captures, 2, "b confirmed by the buyer, c by billing, each once");
    assert_eq!(bill_as_of(&app, &admin, day + days(1)).await["purchases_auto_confirmed"], 0);
    // A single installment carries no fee.
    let b_now: Value = app.get_as(&format!("/v1/credit/purchases/{b_id}"), &ann).await.json().await.unwrap();
    assert_eq!(b_now["schedule"][0]["fee"], "0.00");
    app.assert_ledger_clean(&admin).await;
}

async fn purchases_are_private_and_listed(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let admin = app.admin_token("root_admin").await;
    let shop = merchant(&app, &admin, "Shop").await;
    let ann = app.user_token("ann_lee").await;
    let bob = app.user_token("bob_99").await;
    app.deposit(&ann, "100.00").await;
    app.post_money("/v1/vault/lock", &ann, &json!({"amount": "100.00"})).await.error_for_status().unwrap();
    let mut ids = Vec::new();
    for amount in ["1.00", "2.00", "3.00", "4.00", "5.00"] {
        let p: Value = buy(&app, &ann, &shop, amount, 1).await.json().await.unwrap();
        ids.push(p["id"].as_str().unwrap().to_owned());
    }
    let id = &ids[0];
    for (method, path) in
        [("GET", format!("/v1/credit/purchases/{id}")), ("POST", format!("/v1/credit/purchases/{id}/cancel"))]
    {
        let req = app.client.request(method.parse().unwrap(), app.url(&path)).bearer_auth(&bob);
        assert_problem(req.send().await.unwrap(), 404, "not_found").await;
    }
    assert_problem(confirm(&app, &bob, id).await, 404, "not_found").await;
    assert_problem(app.get_as("/v1/credit/purchases/not-a-uuid", &ann).await, 404, "not_found").await;
    let bobs: Value = app.get_as("/v1/credit/purchases", &bob).await.json().await.unwrap();
    assert_eq!(bobs["items"], json!([]));

    let mut seen = Vec::new();
    let mut path = "/v1/credit/purchases?limit=2".to_owned();
    loop {
        let page: Value = app.get_as(&path, &ann).await.json().await.unwrap();
        seen.extend(page["items"].as_array().unwrap().iter().map(|p| p["id"].as_str().unwrap().to_owned()));
        match page["next_cursor"].as_str() {
            Some(c) => path = format!("/v1/credit/purchases?limit=2&cursor={c}"),
            None => break,
        }
    }
    ids.reverse();
    assert_eq!(seen, ids, "newest first, each once");
    app.assert_ledger_clean(&admin).await;
}

async fn merchants_and_billing_are_admin_routes(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let admin = app.admin_token("root_admin").await;
    let ann = app.user_token("ann_lee").await;
    assert_problem(app.post_as_admin("/v1/admin/merchants", &ann, &json!({"name": "x"})).await, 403, "forbidden").await;
    assert_problem(
        app.post_as_admin("/v1/admin/billing/run", &ann, &json!({"as_of": "2026-01-01"})).await,
        403,
        "forbidden",
    )
    .await;
    for name in [json!(""), json!("   "), json!("n".repeat(101)), json!(5)] {
        assert_problem(
            app.post_as_admin("/v1/admin/merchants", &admin, &json!({"name": name})).await,
            422,
            "validation_error",
        )
        .await;
    }
    for as_of in ["2026-13-01", "tomorrow", ""] {
        assert_problem(
            app.post_as_admin("/v1/admin/billing/run", &admin, &json!({"as_of": as_of})).await,
            422,
            "validation_error",
        )
        .await;
    }
    merchant(&app, &admin, "First").await;
    merchant(&app, &admin, "Second").await;
    let list: Value = app.get_as("/v1/merchants", &ann).await.json().await.unwrap();
    let names: Vec<&str> = list["items"].as_array().unwrap().iter().map(|m| m["name"].as_str().unwrap()).collect();
    assert_eq!(names, ["Second", "First"]);
    assert_problem(app.get("/v1/merchants").await, 401, "unauthorized").await;

    // The CLI runs billing too, and prints the counts; never for a date later than today.
    let cli = |as_of: &str| {
        std::process::Command::new(env!("CARGO_BIN_EXE_vaultline"))
            .args(["--database-url", &app.settings.database.url, "billing", "run", "--as-of", as_of])
            .env("RUST_LOG", "off")
            .env("VAULTLINE__DATABASE__CONNECTION_TIMEOUT_MS", "5000")
            .env_remove("VAULTLINE_PROFILE")
            .env_remove("VAULTLINE__CREDIT__ALLOW_FUTURE_BILLING")
            .output()
            .unwrap()
    };
    let out = cli("2026-01-10");
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let printed: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(printed["installments_due"], 0);
    let out = cli("2099-01-01");
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("later than today"));

    // Both admin actions are in the audit log.
    app.post_as_admin("/v1/admin/billing/run", &admin, &json!({"as_of": "2026-12-10"}))
        .await
        .error_for_status()
        .unwrap();
    let audit: Value = app.get_as("/v1/admin/audit-log", &admin).await.json().await.unwrap();
    let actions: Vec<&str> = audit["items"].as_array().unwrap().iter().map(|e| e["action"].as_str().unwrap()).collect();
    assert_eq!(actions[..3], ["billing.run", "merchant.create", "merchant.create"]);
    // The refused attempts above (bad names, bad dates) are in it too, with their codes.
    let refused = &audit["items"][3];
    assert_eq!(
        (refused["action"].as_str(), refused["details"]["outcome"].as_str()),
        (Some("admin.refused"), Some("refused"))
    );
    assert!(actions[3..].iter().all(|a| *a == "admin.refused"), "{actions:?}");
    assert_eq!(audit["items"][0]["details"]["as_of"], "2026-12-10");
    assert_eq!(audit["items"][1]["details"]["after"]["name"], "Second");
    app.assert_ledger_clean(&admin).await;
}

const RACE_SETTINGS: &[(&str, &str)] =
    &[("server.workers", "4"), ("database.pool_size", "12"), ("credit.billing_job_enabled", "false")];

async fn parallel_purchases_and_unlocks_never_exceed_the_vault(backend: Backend) {
    let app = TestApp::spawn_with(backend, RACE_SETTINGS).await;
    let admin = app.admin_token("root_admin").await;
    let shop = merchant(&app, &admin, "Shop").await;
    let ann = app.user_token("ann_lee").await;
    app.deposit(&ann, "1000.00").await;
    app.post_money("/v1/vault/lock", &ann, &json!({"amount": "1000.00"})).await.error_for_status().unwrap();

    let buy_body = json!({"merchant_id": shop, "amount": "150.00", "installments": 3});
    let unlock_body = json!({"amount": "100.00"});
    let mut sends = Vec::new();
    for _ in 0..10 {
        sends.push(app.post_money("/v1/credit/purchases", &ann, &buy_body));
        sends.push(app.post_money("/v1/vault/unlock", &ann, &unlock_body));
    }
    let results = futures_util::future::join_all(sends).await;
    let (mut bought, mut unlocked) = (0, 0);
    for (k, res) in results.into_iter().enumerate() {
        let status = res.status();
        let body: Value = res.json().await.unwrap();
        match (k % 2, status.as_u16()) {
            (0, 201) => bought += 1,
            (1, 201) => unlocked += 1,
            (0, 422) => assert_eq!(body["code"], "credit_limit_exceeded"),
            (1, 422) => assert_eq!(body["code"], "vault_pledged"),
            other => panic!("unexpected {other:?}: {body}"),
        }
    }
    let account = app.account(&ann).await;
    let (vault, held) = (minor(&account["vault"]["balance"]), minor(&account["credit"]["held"]));
    assert_eq!(held, bought * 15_000);
    assert_eq!(vault, 100_000 - unlocked * 10_000);
    assert!(held <= vault, "exposure {held} past the vault {vault}");
    assert!(bought + unlocked > 0);
    app.assert_ledger_clean(&admin).await;
}

async fn parallel_repayments_never_overpay(backend: Backend) {
    let app = TestApp::spawn_with(backend, RACE_SETTINGS).await;
    let admin = app.admin_token("root_admin").await;
    let shop = merchant(&app, &admin, "Shop").await;
    let ann = app.user_token("ann_lee").await;
    app.deposit(&ann, "500.00").await;
    app.post_money("/v1/vault/lock", &ann, &json!({"amount": "200.00"})).await.error_for_status().unwrap();
    let p: Value = buy(&app, &ann, &shop, "100.00", 3).await.json().await.unwrap();
    confirm(&app, &ann, p["id"].as_str().unwrap()).await.error_for_status().unwrap();

    let body = json!({"amount": "30.00"});
    let sends = (0..10).map(|_| app.post_money("/v1/credit/repayments", &ann, &body));
    let results = futures_util::future::join_all(sends).await;
    let mut ok = 0;
    for res in results {
        match res.status().as_u16() {
            201 => ok += 1,
            422 => assert_eq!(res.json::<Value>().await.unwrap()["code"], "overpayment"),
            other => panic!("unexpected {other}"),
        }
    }
    assert_eq!(ok, 3, "three payments of 30.00 fit in 100.00 owed");
    let account = app.account(&ann).await;
    assert_eq!(account["credit"]["principal"], "10.00");
    assert_eq!(account["wallet"]["balance"], "210.00");
    app.assert_ledger_clean(&admin).await;
}

async fn concurrent_billing_runs_charge_once(backend: Backend) {
    let app = TestApp::spawn_with(backend, RACE_SETTINGS).await;
    let admin = app.admin_token("root_admin").await;
    let shop = merchant(&app, &admin, "Shop").await;
    let mut users = Vec::new();
    for name in ["ann_lee", "bob_99", "cat_01"] {
        let token = app.user_token(name).await;
        app.deposit(&token, "1000.00").await;
        app.post_money("/v1/vault/lock", &token, &json!({"amount": "1000.00"})).await.error_for_status().unwrap();
        let p: Value = buy(&app, &token, &shop, "600.00", 6).await.json().await.unwrap();
        confirm(&app, &token, p["id"].as_str().unwrap()).await.error_for_status().unwrap();
        users.push(token);
    }
    let d1 = first_due();
    let as_of = json!({"as_of": (d1 + days(3)).to_string()});
    let runs = (0..4).map(|_| app.post_as_admin("/v1/admin/billing/run", &admin, &as_of));
    let results = futures_util::future::join_all(runs).await;
    let mut total = json!({"installments_due": 0, "installments_overdue": 0, "late_fees_charged": 0});
    for res in results {
        assert_eq!(res.status(), StatusCode::OK);
        let c: Value = res.json().await.unwrap();
        for k in ["installments_due", "installments_overdue", "late_fees_charged"] {
            total[k] = json!(total[k].as_u64().unwrap() + c[k].as_u64().unwrap());
        }
    }
    assert_eq!(total, json!({"installments_due": 3, "installments_overdue": 3, "late_fees_charged": 3}));
    for token in &users {
        let account = app.account(token).await;
        assert_eq!(account["credit"]["fees"], "0.50", "0.5% of 100.00, billed once");
        assert_eq!(account["credit"]["late_fees"], "0.15", "100.50 x 0.05% x 3 days = 0.15075");
    }
    app.assert_ledger_clean(&admin).await;
}
