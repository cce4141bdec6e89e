//! Score, credit-line changes, freezing, the audit log and the limit history.

use chrono::{NaiveDate, TimeDelta};
use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::helpers::{Backend, TestApp, assert_problem, minor};
use crate::on_both_backends;

on_both_backends!(
    score_of_a_new_user,
    savings_kept_locked_for_90_days_count,
    the_score_cannot_be_farmed,
    on_time_history_raises_the_score,
    an_overdue_installment_lowers_it_and_blocks_the_upgrade,
    upgrade_refused_then_overridden_then_downgraded,
    credit_line_input_is_checked,
    freezing_blocks_every_movement_until_unfrozen,
    admins_cannot_act_on_themselves,
    every_admin_route_needs_an_admin,
    eligible_filter_and_audit_log_paging,
    unlocks_racing_a_downgrade_leave_nothing_spendable_past_the_limit
);

async fn user_id(app: &TestApp, token: &str) -> String {
    app.get_as("/v1/me", token).await.json::<Value>().await.unwrap()["id"].as_str().unwrap().to_owned()
}

async fn score(app: &TestApp, token: &str) -> Value {
    let res = app.get_as("/v1/me/score", token).await;
    assert_eq!(res.status(), StatusCode::OK);
    res.json().await.unwrap()
}

async fn credit_line(app: &TestApp, admin: &str, target: &str, body: Value) -> reqwest::Response {
    app.post_money(&format!("/v1/admin/users/{target}/credit-line"), admin, &body).await
}

async fn shop(app: &TestApp, admin: &str) -> String {
    let res = app.post_as_admin("/v1/admin/merchants", admin, &json!({"name": "Shop"})).await;
    res.json::<Value>().await.unwrap()["id"].as_str().unwrap().to_owned()
}

async fn buy_and_confirm(app: &TestApp, token: &str, merchant: &str, amount: &str, n: u32) -> Value {
    let res = app
        .post_money(
            "/v1/credit/purchases",
            token,
            &json!({"merchant_id": merchant, "amount": amount, "installments": n}),
        )
        .await;
    assert_eq!(res.status(), StatusCode::CREATED);
    let id = res.json::<Value>().await.unwrap()["id"].as_str().unwrap().to_owned();
    let res = app.post_money(&format!("/v1/credit/purchases/{id}/confirm-receipt"), token, &json!(null)).await;
    assert_eq!(res.status(), StatusCode::OK);
    res.json().await.unwrap()
}

async fn score_of_a_new_user(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let ann = app.user_token("ann_lee").await;
    let s = score(&app, &ann).await;
    assert_eq!(s["value"], 500);
    assert_eq!(s["threshold"], 650);
    assert_eq!(s["eligible_for_upgrade"], false);
    let names: Vec<&str> = s["factors"].as_array().unwrap().iter().map(|f| f["name"].as_str().unwrap()).collect();
    assert_eq!(
        names,
        ["account_age", "on_time_repayments", "overdue", "collateral_settlements", "vault_locked", "utilisation"]
    );
    for f in s["factors"].as_array().unwrap() {
        assert_eq!(f["impact"], 0, "{f}");
        assert!(f["detail"].as_str().unwrap().ends_with(": 0"), "{f}");
    }
    let account = app.account(&ann).await;
    assert_eq!(account["score"], json!({"value": 500, "eligible_for_upgrade": false}));
}

async fn savings_kept_locked_for_90_days_count(backend: Backend) {
    let app = TestApp::spawn_with(backend, &[("credit.billing_job_enabled", "false")]).await;
    let admin = app.admin_token("root_admin").await;
    let ann = app.user_token("ann_lee").await;
    app.deposit(&ann, "5000.00").await;
    app.post_money("/v1/vault/lock", &ann, &json!({"amount": "3000.00"})).await.error_for_status().unwrap();
    let s = score(&app, &ann).await;
    assert_eq!(s["factors"][4]["impact"], 0, "a young account has no 90-day floor yet");

    // Move this account's whole history 100 days back; the refresh (part of billing) sees
    // 3000.00 held through the window.
    let back = if app.settings.database.url.starts_with("sqlite") {
        "datetime({col}, '-100 days')"
    } else {
        "{col} - interval '100 days'"
    };
    app.execute_sql(&format!("UPDATE movements SET created_at = {}", back.replace("{col}", "created_at")));
    app.execute_sql(&format!("UPDATE money_accounts SET opened_at = {}", back.replace("{col}", "opened_at")));
    app.post_as_admin("/v1/admin/billing/run", &admin, &json!({"as_of": "2026-01-01"}))
        .await
        .error_for_status()
        .unwrap();
    let s = score(&app, &ann).await;
    assert_eq!(s["factors"][4]["impact"], 30, "3000.00 kept locked: 3 steps of 1000.00");
    assert_eq!(s["factors"][0]["detail"], "account open 100 days: +15");

    // Unlocking lowers the floor at once.
    app.post_money("/v1/vault/unlock", &ann, &json!({"amount": "1500.00"})).await.error_for_status().unwrap();
    assert_eq!(score(&app, &ann).await["factors"][4]["impact"], 10);
}

/// The farming recipe of issue 13: tiny parts repaid at once used to max the on-time factor
/// for free. Now nothing counts before a part's due date, and parts below one step (100.00)
/// earn nothing even then.
async fn the_score_cannot_be_farmed(backend: Backend) {
    let app = TestApp::spawn_with(backend, &[("credit.billing_job_enabled", "false")]).await;
    let admin = app.admin_token("root_admin").await;
    let merchant = shop(&app, &admin).await;
    let ann = app.user_token("ann_lee").await;
    app.deposit(&ann, "1.00").await;
    app.post_money("/v1/vault/lock", &ann, &json!({"amount": "0.50"})).await.error_for_status().unwrap();
    let before = score(&app, &ann).await;
    let purchase = buy_and_confirm(&app, &ann, &merchant, "0.24", 24).await;
    app.post_money("/v1/credit/repayments", &ann, &json!({"amount": "0.24"})).await.error_for_status().unwrap();
    let after = score(&app, &ann).await;
    assert_eq!(after["value"], before["value"], "{after}");
    assert_eq!(after["factors"][1]["impact"], 0);
    // Every part has fallen due and was paid on time, but a part of 0.01 earns nothing.
    let last_due = purchase["schedule"][23]["due_date"].as_str().unwrap();
    let run = app.post_as_admin("/v1/admin/billing/run", &admin, &json!({"as_of": last_due})).await;
    assert_eq!(run.json::<Value>().await.unwrap()["on_time_credited"], 24);
    let later = score(&app, &ann).await;
    assert_eq!(later["value"], before["value"], "{later}");
    assert_eq!(later["factors"][1]["detail"], "0 on-time units for installments paid by their due date: 0");
}

/// Parts paid by their due date count once that date has come, weighted by the principal
/// still owed when the part was billed: a 300.00 part repaid between its statement and its
/// due date earns three units of 4 points; a part repaid before its statement earns none.
async fn on_time_history_raises_the_score(backend: Backend) {
    let app = TestApp::spawn_with(backend, &[("credit.billing_job_enabled", "false")]).await;
    let admin = app.admin_token("root_admin").await;
    let merchant = shop(&app, &admin).await;
    let ann = app.user_token("ann_lee").await;
    app.deposit(&ann, "2000.00").await;
    app.post_money("/v1/vault/lock", &ann, &json!({"amount": "1000.00"})).await.error_for_status().unwrap();
    let purchase = buy_and_confirm(&app, &ann, &merchant, "900.00", 3).await;

    let due =
        |i: usize| NaiveDate::parse_from_str(purchase["schedule"][i]["due_date"].as_str().unwrap(), "%F").unwrap();
    let bill = |date: NaiveDate| {
        let (app, admin) = (&app, &admin);
        async move {
            let res = app.post_as_admin("/v1/admin/billing/run", admin, &json!({"as_of": date.to_string()})).await;
            res.json::<Value>().await.unwrap()["on_time_credited"].as_u64().unwrap()
        }
    };
    let repay = |amount: &'static str| {
        let (app, ann) = (&app, &ann);
        async move {
            app.post_money("/v1/credit/repayments", ann, &json!({"amount": amount})).await.error_for_status().unwrap();
        }
    };
    bill(due(0) - TimeDelta::days(10)).await;
    repay("301.50").await; // the first part and its billed fee
    assert_eq!(score(&app, &ann).await["factors"][1]["impact"], 0, "a part counts once its due date has come");
    assert_eq!(bill(due(0)).await, 1);
    let s = score(&app, &ann).await;
    assert_eq!(s["factors"][1]["detail"], "3 on-time units for installments paid by their due date: +12");
    assert_eq!(bill(due(0)).await, 0, "each part is credited once");
    bill(due(1) - TimeDelta::days(10)).await;
    repay("301.50").await;
    // The third part is prepaid before its statement: it never stayed owed, so it earns nothing.
    repay("300.00").await;
    assert_eq!(bill(due(2)).await, 2);
    let s = score(&app, &ann).await;
    assert_eq!(s["factors"][1]["detail"], "6 on-time units for installments paid by their due date: +24");
    // The movement history keeps the score as it was then; the account shows it now.
    assert_eq!(app.account(&ann).await["score"]["value"], s["value"]);
}

async fn an_overdue_installment_lowers_it_and_blocks_the_upgrade(backend: Backend) {
    // With the threshold at 300 only the overdue installment stands in the way.
    let app =
        TestApp::spawn_with(backend, &[("credit.billing_job_enabled", "false"), ("score.threshold", "300")]).await;
    let admin = app.admin_token("root_admin").await;
    let merchant = shop(&app, &admin).await;
    let ann = app.user_token("ann_lee").await;
    app.deposit(&ann, "500.00").await;
    app.post_money("/v1/vault/lock", &ann, &json!({"amount": "500.00"})).await.error_for_status().unwrap();
    assert_eq!(score(&app, &ann).await["eligible_for_upgrade"], true);
    let captured = buy_and_confirm(&app, &ann, &merchant, "30.00", 3).await;
    let due: chrono::NaiveDate = captured["schedule"][0]["due_date"].as_str().unwrap().parse().unwrap();
    let res = app
        .post_as_admin(
            "/v1/admin/billing/run",
            &admin,
            &json!({"as_of": (due + chrono::TimeDelta::days(4)).to_string()}),
        )
        .await;
    assert_eq!(res.status(), StatusCode::OK);
    let s = score(&app, &ann).await;
    assert_eq!(s["factors"][2]["detail"], "1 installment overdue, 4 days in all: -33");
    assert_eq!(s["value"], 500 - 33);
    assert_eq!(s["eligible_for_upgrade"], false, "an overdue installment blocks the upgrade");
    let target = user_id(&app, &ann).await;
    let res =
        credit_line(&app, &admin, &target, json!({"line": "general", "limit": "1000.00", "reason": "test"})).await;
    let problem = assert_problem(res, 422, "not_eligible").await;
    assert!(problem["detail"].as_str().unwrap().contains("overdue"), "{problem}");
}

async fn upgrade_refused_then_overridden_then_downgraded(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let admin = app.admin_token("root_admin").await;
    let ann = app.user_token("ann_lee").await;
    let target = user_id(&app, &ann).await;
    app.deposit(&ann, "1000.00").await;
    app.post_money("/v1/vault/lock", &ann, &json!({"amount": "800.00"})).await.error_for_status().unwrap();

    let upgrade = json!({"line": "general", "limit": "5000.00", "reason": "good customer"});
    assert_problem(credit_line(&app, &admin, &target, upgrade.clone()).await, 422, "not_eligible").await;
    // An override needs a second admin: the change applies on their approval.
    let approver = app.admin_token("other_admin").await;
    let overridden = json!({"line": "general", "limit": "5000.00", "reason": "good customer", "override": true});
    app.change_line_with_approval(&admin, &approver, &target, &overridden).await;
    let account = app.account(&ann).await;
    assert_eq!(account["user_id"], target);
    assert_eq!(account["credit"]["line"], "general");
    assert_eq!(account["credit"]["limit"], "5000.00");
    assert_eq!(account["vault"]["unlockable"], "800.00");

    // The vault backs nothing now: unlocking all of it keeps the limit.
    let res = app.post_money("/v1/vault/unlock", &ann, &json!({"amount": "800.00"})).await;
    assert_eq!(res.status(), StatusCode::CREATED);
    let unlocked: Value = res.json().await.unwrap();
    assert_eq!(unlocked["account"]["credit"]["limit"], "5000.00");

    // The score still does not qualify: one admin cannot raise the line (issue 27), only
    // lower it. Then the downgrade: the limit is the vault again.
    let raise = json!({"line": "general", "limit": "6000.00", "reason": "raise"});
    assert_problem(credit_line(&app, &admin, &target, raise).await, 422, "not_eligible").await;
    let res =
        credit_line(&app, &admin, &target, json!({"line": "general", "limit": "4000.00", "reason": "lower"})).await;
    assert_eq!(res.json::<Value>().await.unwrap()["credit"]["limit"], "4000.00");
    app.post_money("/v1/vault/lock", &ann, &json!({"amount": "300.00"})).await.error_for_status().unwrap();
    let res = credit_line(&app, &admin, &target, json!({"line": "secured", "reason": "missed payments"})).await;
    assert_eq!(res.status(), StatusCode::OK);
    let account: Value = res.json().await.unwrap();
    assert_eq!(account["credit"]["line"], "secured");
    assert_eq!(account["credit"]["limit"], "300.00");

    let history: Value = app.get_as("/v1/credit/limit-history", &ann).await.json().await.unwrap();
    let rows: Vec<(String, String, String)> = history["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| {
            (
                r["reason"].as_str().unwrap().to_owned(),
                r["limit_before"].as_str().unwrap().to_owned(),
                r["limit_after"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    let expect = |r: &str, b: &str, a: &str| (r.to_owned(), b.to_owned(), a.to_owned());
    assert_eq!(
        rows,
        [
            expect("downgrade", "4000.00", "300.00"),
            expect("admin_adjustment", "5000.00", "4000.00"),
            expect("upgrade", "800.00", "5000.00"),
            expect("vault_lock", "0.00", "800.00"),
        ],
        "newest first; locks on a general line change no limit"
    );
    assert_eq!(history["items"][0]["line"], "secured");

    let audit: Value =
        app.get_as(&format!("/v1/admin/audit-log?target_id={target}"), &admin).await.json().await.unwrap();
    let actions: Vec<&str> = audit["items"].as_array().unwrap().iter().map(|e| e["action"].as_str().unwrap()).collect();
    assert_eq!(
        actions,
        [
            "credit_line.downgrade",
            "credit_line.adjust",
            "credit_request.approve",
            "credit_line.upgrade",
            "credit_request.create"
        ]
    );
    let upgrade_entry = &audit["items"][3];
    assert_eq!(upgrade_entry["reason"], "good customer");
    assert_eq!(upgrade_entry["actor_id"], user_id(&app, &approver).await, "the approver applied it");
    assert_eq!(audit["items"][4]["actor_id"], user_id(&app, &admin).await, "the first admin asked");
    assert_eq!(upgrade_entry["details"]["override"], true);
    assert_eq!(upgrade_entry["details"]["before"], json!({"line": "secured", "limit_minor": 80000}));
    assert_eq!(upgrade_entry["details"]["after"], json!({"line": "general", "limit_minor": 500000}));
    app.assert_ledger_clean(&admin).await;
}

async fn credit_line_input_is_checked(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let admin = app.admin_token("root_admin").await;
    let ann = app.user_token("ann_lee").await;
    let target = user_id(&app, &ann).await;
    for body in [
        json!({"line": "general", "limit": "100.00"}),
        json!({"line": "general", "limit": "100.00", "reason": "   "}),
        json!({"line": "general", "reason": "x"}),
        json!({"line": "secured", "limit": "100.00", "reason": "x"}),
        json!({"line": "gold", "reason": "x"}),
        json!({"line": "general", "limit": "100.00", "reason": "x", "extra": 1}),
    ] {
        assert_problem(credit_line(&app, &admin, &target, body).await, 422, "validation_error").await;
    }
    for limit in [json!("50000.01"), json!("0"), json!(100), json!("-5")] {
        let body = json!({"line": "general", "limit": limit, "reason": "x", "override": true});
        assert_problem(credit_line(&app, &admin, &target, body).await, 422, "invalid_amount").await;
    }
    let ok = json!({"line": "general", "limit": "50000.00", "reason": "max", "override": true});
    assert_problem(credit_line(&app, &admin, &uuid::Uuid::new_v4().to_string(), ok.clone()).await, 404, "not_found")
        .await;
    assert_problem(credit_line(&app, &admin, "not-a-uuid", ok.clone()).await, 404, "not_found").await;
    let res = app.post_as_admin(&format!("/v1/admin/users/{target}/credit-line"), &admin, &ok).await;
    assert_problem(res, 400, "idempotency_key_required").await;
    let approver = app.admin_token("other_admin").await;
    app.change_line_with_approval(&admin, &approver, &target, &ok).await;
    assert_eq!(app.account(&ann).await["credit"]["limit"], "50000.00");
}

async fn freezing_blocks_every_movement_until_unfrozen(backend: Backend) {
    let app = TestApp::spawn_with(backend, &[("credit.billing_job_enabled", "false")]).await;
    let admin = app.admin_token("root_admin").await;
    let merchant = shop(&app, &admin).await;
    let ann = app.user_token("ann_lee").await;
    app.user_token("bob_99").await;
    let target = user_id(&app, &ann).await;
    app.deposit(&ann, "100.00").await;
    app.post_money("/v1/vault/lock", &ann, &json!({"amount": "50.00"})).await.error_for_status().unwrap();
    buy_and_confirm(&app, &ann, &merchant, "10.00", 1).await;
    let held = app
        .post_money(
            "/v1/credit/purchases",
            &ann,
            &json!({"merchant_id": merchant, "amount": "5.00", "installments": 1}),
        )
        .await
        .json::<Value>()
        .await
        .unwrap();

    assert_problem(
        app.post_as_admin(&format!("/v1/admin/users/{target}/freeze"), &admin, &json!({})).await,
        422,
        "validation_error",
    )
    .await;
    let res = app
        .post_as_admin(&format!("/v1/admin/users/{target}/freeze"), &admin, &json!({"reason": "suspicious activity"}))
        .await;
    assert_eq!(res.status(), StatusCode::OK);
    assert_eq!(res.json::<Value>().await.unwrap()["status"], "frozen");

    // Frozen means no money leaves on the user's own initiative: these are refused ...
    let attempts = [
        ("/v1/wallet/withdrawals".to_owned(), json!({"amount": "1.00"})),
        ("/v1/transfers".to_owned(), json!({"to_username": "bob_99", "amount": "1.00"})),
        ("/v1/vault/unlock".to_owned(), json!({"amount": "1.00"})),
        ("/v1/credit/purchases".to_owned(), json!({"merchant_id": merchant, "amount": "1.00", "installments": 1})),
        (format!("/v1/credit/purchases/{}/confirm-receipt", held["id"].as_str().unwrap()), json!(null)),
    ];
    for (path, body) in &attempts {
        assert_problem(app.post_money(path, &ann, body).await, 403, "account_frozen").await;
    }
    // ... and money in, locking savings and repaying are not.
    for (path, body) in [
        ("/v1/wallet/deposits", json!({"amount": "1.00"})),
        ("/v1/vault/lock", json!({"amount": "1.00"})),
        ("/v1/credit/repayments", json!({"amount": "1.00"})),
    ] {
        let res = app.post_money(path, &ann, &body).await;
        assert_eq!(res.status(), StatusCode::CREATED, "{path}");
        assert_eq!(res.json::<Value>().await.unwrap()["account"]["status"], "frozen", "{path}");
    }
    // What being frozen allows is answered on its own merits, the same on both backends.
    let res = app.post_money("/v1/vault/lock", &ann, &json!({"amount": "900000.00"})).await;
    assert_problem(res, 422, "insufficient_funds").await;
    assert_eq!(app.account(&ann).await["status"], "frozen");
    assert_eq!(score(&app, &ann).await["eligible_for_upgrade"], false);

    let res =
        app.post_as_admin(&format!("/v1/admin/users/{target}/unfreeze"), &admin, &json!({"reason": "cleared"})).await;
    assert_eq!(res.json::<Value>().await.unwrap()["status"], "active");
    for (path, body) in &attempts {
        let res = app.post_money(path, &ann, body).await;
        assert!(res.status().is_success(), "{path}: {}", res.text().await.unwrap());
    }
    let audit: Value =
        app.get_as(&format!("/v1/admin/audit-log?target_id={target}"), &admin).await.json().await.unwrap();
    let entries = audit["items"].as_array().unwrap();
    assert_eq!(
        (entries[0]["action"].as_str(), entries[0]["reason"].as_str()),
        (Some("user.unfreeze"), Some("cleared"))
    );
    assert_eq!(
        (entries[1]["action"].as_str(), entries[1]["reason"].as_str()),
        (Some("user.freeze"), Some("suspicious activity"))
    );
    assert_eq!(
        entries[1]["details"],
        json!({"before": {"status": "active"}, "after": {"status": "frozen"}, "sessions_ended": false}),
        "a frozen user keeps their sessions: they may still read and repay"
    );
    app.assert_ledger_clean(&admin).await;
}

async fn admins_cannot_act_on_themselves(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let admin = app.admin_token("root_admin").await;
    let me = user_id(&app, &admin).await;
    let body = json!({"line": "general", "limit": "100.00", "reason": "self", "override": true});
    assert_problem(credit_line(&app, &admin, &me, body).await, 403, "forbidden").await;
    assert_problem(
        app.post_as_admin(&format!("/v1/admin/users/{me}/freeze"), &admin, &json!({"reason": "x"})).await,
        403,
        "forbidden",
    )
    .await;
    let detail: Value = app.get_as(&format!("/v1/admin/users/{me}"), &admin).await.json().await.unwrap();
    assert_eq!(detail["user"]["status"], "active");
    assert_eq!(detail["account"]["credit"]["line"], "secured");
    assert_eq!(detail["score"]["value"], 500);
    assert_problem(app.get_as(&format!("/v1/admin/users/{}", uuid::Uuid::new_v4()), &admin).await, 404, "not_found")
        .await;
}

async fn every_admin_route_needs_an_admin(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let ann = app.user_token("ann_lee").await;
    let id = user_id(&app, &ann).await;
    let routes = [
        ("GET", "/v1/admin/users".to_owned()),
        ("GET", "/v1/admin/users?eligible=true".to_owned()),
        ("GET", format!("/v1/admin/users/{id}")),
        ("POST", format!("/v1/admin/users/{id}/credit-line")),
        ("POST", format!("/v1/admin/users/{id}/freeze")),
        ("POST", format!("/v1/admin/users/{id}/unfreeze")),
        ("GET", "/v1/admin/credit-requests".to_owned()),
        ("POST", format!("/v1/admin/credit-requests/{id}/approve")),
        ("POST", format!("/v1/admin/credit-requests/{id}/reject")),
        ("POST", "/v1/admin/merchants".to_owned()),
        ("POST", "/v1/admin/billing/run".to_owned()),
        ("GET", "/v1/admin/audit-log".to_owned()),
        ("GET", "/v1/admin/ledger/check".to_owned()),
    ];
    for (method, path) in &routes {
        let req = |token: Option<&str>| {
            let mut r = app.client.request(method.parse().unwrap(), app.url(path)).json(&json!({"reason": "x"}));
            if let Some(t) = token {
                r = r.bearer_auth(t).header("idempotency-key", "k1");
            }
            r.send()
        };
        assert_problem(req(None).await.unwrap(), 401, "unauthorized").await;
        assert_problem(req(Some(&ann)).await.unwrap(), 403, "forbidden").await;
    }
    assert_eq!(app.account(&ann).await["status"], "active", "nothing happened");
}

async fn eligible_filter_and_audit_log_paging(backend: Backend) {
    let app = TestApp::spawn_with(backend, &[("score.threshold", "500")]).await;
    let admin = app.admin_token("root_admin").await;
    let mut ids = Vec::new();
    for name in ["ann_lee", "bob_99", "cat_01", "dan_02"] {
        let token = app.user_token(name).await;
        ids.push(user_id(&app, &token).await);
    }
    for id in &ids[..2] {
        app.post_as_admin(&format!("/v1/admin/users/{id}/freeze"), &admin, &json!({"reason": "check"}))
            .await
            .error_for_status()
            .unwrap();
    }
    let names = |page: &Value| -> Vec<String> {
        page["items"].as_array().unwrap().iter().map(|u| u["username"].as_str().unwrap().to_owned()).collect()
    };
    let eligible: Value = app.get_as("/v1/admin/users?eligible=true", &admin).await.json().await.unwrap();
    assert_eq!(names(&eligible), ["dan_02", "cat_01", "root_admin"]);
    let not: Value = app.get_as("/v1/admin/users?eligible=false", &admin).await.json().await.unwrap();
    assert_eq!(names(&not), ["bob_99", "ann_lee"]);
    let page: Value = app.get_as("/v1/admin/users?eligible=true&limit=1&q=_0", &admin).await.json().await.unwrap();
    assert_eq!(names(&page), ["dan_02"]);
    let cursor = page["next_cursor"].as_str().unwrap();
    let page: Value = app
        .get_as(&format!("/v1/admin/users?eligible=true&limit=1&q=_0&cursor={cursor}"), &admin)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(names(&page), ["cat_01"]);

    let mut seen = 0;
    let mut path = "/v1/admin/audit-log?limit=1".to_owned();
    loop {
        let page: Value = app.get_as(&path, &admin).await.json().await.unwrap();
        seen += page["items"].as_array().unwrap().len();
        match page["next_cursor"].as_str() {
            Some(c) => path = format!("/v1/admin/audit-log?limit=1&cursor={c}"),
            None => break,
        }
    }
    assert_eq!(seen, 2);
}

async fn unlocks_racing_a_downgrade_leave_nothing_spendable_past_the_limit(backend: Backend) {
    let app = TestApp::spawn_with(backend, &[("server.workers", "4"), ("database.pool_size", "12")]).await;
    let admin = app.admin_token("root_admin").await;
    let merchant = shop(&app, &admin).await;
    let ann = app.user_token("ann_lee").await;
    let target = user_id(&app, &ann).await;
    app.deposit(&ann, "1000.00").await;
    app.post_money("/v1/vault/lock", &ann, &json!({"amount": "1000.00"})).await.error_for_status().unwrap();
    let approver = app.admin_token("other_admin").await;
    let upgrade = json!({"line": "general", "limit": "5000.00", "reason": "x", "override": true});
    app.change_line_with_approval(&admin, &approver, &target, &upgrade).await;
    buy_and_confirm(&app, &ann, &merchant, "600.00", 3).await;

    let unlock = json!({"amount": "100.00"});
    let downgrade = json!({"line": "secured", "reason": "risk"});
    let downgrade_path = format!("/v1/admin/users/{target}/credit-line");
    let mut sends: Vec<_> = (0..10).map(|_| app.post_money("/v1/vault/unlock", &ann, &unlock)).collect();
    sends.insert(5, app.post_money(&downgrade_path, &admin, &downgrade));
    for res in futures_util::future::join_all(sends).await {
        assert!(res.status() == 200 || res.status() == 201 || res.status() == 422, "{}", res.status());
    }
    let account = app.account(&ann).await;
    assert_eq!(account["credit"]["line"], "secured");
    let (limit, exposure) = (minor(&account["credit"]["limit"]), minor(&account["credit"]["exposure"]));
    if exposure > limit {
        // Unlocks that ran on the general line took the vault below the debt: nothing can be spent now.
        assert!(minor(&account["credit"]["available"]) < 0);
        let res = app
            .post_money(
                "/v1/credit/purchases",
                &ann,
                &json!({"merchant_id": merchant, "amount": "0.01", "installments": 1}),
            )
            .await;
        assert_problem(res, 422, "credit_limit_exceeded").await;
        let res = app.post_money("/v1/vault/unlock", &ann, &json!({"amount": "0.01"})).await;
        assert_eq!(res.status(), StatusCode::UNPROCESSABLE_ENTITY);
        let code = res.json::<Value>().await.unwrap()["code"].as_str().unwrap().to_owned();
        assert!(code == "vault_pledged" || code == "insufficient_funds", "{code}");
    }
    app.assert_ledger_clean(&admin).await;
}
