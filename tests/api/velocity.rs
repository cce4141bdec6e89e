//! Velocity limits: the money request budget (429 `rate_limited`), the rolling 24-hour
//! outflow cap and the daily unlock cap (422 `velocity_limit_exceeded`), each at its edge,
//! under concurrent requests, and after it resets; and `GET /v1/me/limits`.

use futures_util::future::join_all;
use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::helpers::{Backend, TestApp, assert_problem};
use crate::on_both_backends;

on_both_backends!(
    outflow_cap_holds_at_its_edge_and_rolls_off,
    concurrent_withdrawals_never_pass_the_outflow_cap,
    unlocks_per_day_are_capped_and_reset_the_next_day,
    the_request_budget_answers_429_and_resets,
    refused_requests_count_against_the_budget,
    an_ended_session_moves_no_money_on_any_route,
    limits_start_empty_and_say_none_when_off
);

/// Moves every movement to a day long past, as if the clock had moved on.
fn age_all_movements(app: &TestApp) {
    app.execute_sql("UPDATE movements SET created_at = '2000-01-01 00:00:00'");
    app.execute_sql("DELETE FROM outflow_hours");
    // PostgreSQL keeps the day's unlock count on the account row (SQLite counts movements).
    if app.settings.database.url.starts_with("postgres") {
        app.execute_sql("UPDATE money_accounts SET unlock_day = '2000-01-01'");
    }
}

async fn limits(app: &TestApp, token: &str) -> Value {
    let res = app.get_as("/v1/me/limits", token).await;
    assert_eq!(res.status(), StatusCode::OK);
    res.json().await.unwrap()
}

async fn outflow_cap_holds_at_its_edge_and_rolls_off(backend: Backend) {
    let app = TestApp::spawn_with(backend, &[("limits.outflow_24h_max", "100.00")]).await;
    let admin = app.admin_token("root_admin").await;
    let ann = app.user_token("ann_lee").await;
    app.user_token("bob_99").await;
    app.deposit(&ann, "500.00").await;
    let res = app.post_money("/v1/wallet/withdrawals", &ann, &json!({"amount": "60.00"})).await;
    assert_eq!(res.status(), StatusCode::CREATED);
    let res = app.post_money("/v1/transfers", &ann, &json!({"to_username": "bob_99", "amount": "40.00"})).await;
    assert_eq!(res.status(), StatusCode::CREATED, "exactly the cap is allowed");
    let l = limits(&app, &ann).await;
    assert_eq!(l["outflow_24h"], json!({"limit": "100.00", "used": "100.00", "available": "0.00"}));

    for (path, body) in [
        ("/v1/wallet/withdrawals", json!({"amount": "0.01"})),
        ("/v1/transfers", json!({"to_username": "bob_99", "amount": "0.01"})),
    ] {
        let problem = assert_problem(app.post_money(path, &ann, &body).await, 422, "velocity_limit_exceeded").await;
        assert!(problem["detail"].as_str().unwrap().contains("100.00 in any 24 hours"), "{problem}");
    }
    // Deposits and locks are not outflow.
    app.deposit(&ann, "1.00").await;
    assert_eq!(app.account(&ann).await["wallet"]["balance"], "401.00", "the refusals moved nothing");

    // 24 hours later the outflow has rolled off.
    age_all_movements(&app);
    assert_eq!(limits(&app, &ann).await["outflow_24h"]["available"], "100.00");
    let res = app.post_money("/v1/wallet/withdrawals", &ann, &json!({"amount": "100.00"})).await;
    assert_eq!(res.status(), StatusCode::CREATED);
    app.assert_ledger_clean(&admin).await;
}

async fn concurrent_withdrawals_never_pass_the_outflow_cap(backend: Backend) {
    let app = TestApp::spawn_with(backend, &[("limits.outflow_24h_max", "100.00")]).await;
    let admin = app.admin_token("root_admin").await;
    let ann = app.user_token("ann_lee").await;
    app.deposit(&ann, "1000.00").await;
    let body = json!({"amount": "20.00"});
    let sends = (0..10).map(|_| app.post_money("/v1/wallet/withdrawals", &ann, &body));
    let statuses: Vec<u16> = join_all(sends).await.iter().map(|r| r.status().as_u16()).collect();
    assert_eq!(statuses.iter().filter(|s| **s == 201).count(), 5, "{statuses:?}");
    assert_eq!(statuses.iter().filter(|s| **s == 422).count(), 5, "{statuses:?}");
    assert_eq!(app.account(&ann).await["wallet"]["balance"], "900.00");
    app.assert_ledger_clean(&admin).await;
}

async fn unlocks_per_day_are_capped_and_reset_the_next_day(backend: Backend) {
    let app = TestApp::spawn_with(backend, &[("limits.vault_unlocks_per_day", "3")]).await;
    let admin = app.admin_token("root_admin").await;
    let ann = app.user_token("ann_lee").await;
    app.deposit(&ann, "100.00").await;
    app.post_money("/v1/vault/lock", &ann, &json!({"amount": "50.00"})).await.error_for_status().unwrap();
    let one = json!({"amount": "1.00"});
    let unlock = || app.post_money("/v1/vault/unlock", &ann, &one);
    let statuses: Vec<u16> = join_all((0..8).map(|_| unlock())).await.iter().map(|r| r.status().as_u16()).collect();
    assert_eq!(statuses.iter().filter(|s| **s == 201).count(), 3, "{statuses:?}");
    assert_eq!(limits(&app, &ann).await["unlocks_today"], json!({"limit": 3, "used": 3}));
    let problem = assert_problem(unlock().await, 422, "velocity_limit_exceeded").await;
    assert!(problem["detail"].as_str().unwrap().contains("at most 3 times a day"), "{problem}");
    assert_eq!(app.account(&ann).await["vault"]["balance"], "47.00");

    age_all_movements(&app);
    assert_eq!(unlock().await.status(), StatusCode::CREATED, "a new day, a new allowance");
    app.assert_ledger_clean(&admin).await;
}

async fn the_request_budget_answers_429_and_resets(backend: Backend) {
    let settings = [("limits.money_requests_per_window", "5"), ("limits.money_requests_window_secs", "2")];
    let app = TestApp::spawn_with(backend, &settings).await;
    let ann = app.user_token("ann_lee").await;
    // Start at the beginning of a window so all twelve land in the same one.
    let now = chrono::Utc::now();
    let into_window = now.timestamp_subsec_millis() as u64 + 1000 * (now.timestamp() as u64 % 2);
    tokio::time::sleep(std::time::Duration::from_millis(2000 - into_window + 50)).await;
    let one = json!({"amount": "1.00"});
    let sends = (0..12).map(|_| app.post_money("/v1/wallet/deposits", &ann, &one));
    let responses = join_all(sends).await;
    let statuses: Vec<u16> = responses.iter().map(|r| r.status().as_u16()).collect();
    assert_eq!(statuses.iter().filter(|s| **s == 201).count(), 5, "{statuses:?}");
    let limited = responses.into_iter().find(|r| r.status() == StatusCode::TOO_MANY_REQUESTS).unwrap();
    let retry: u64 = limited.headers()["retry-after"].to_str().unwrap().parse().unwrap();
    assert!((1..=2).contains(&retry), "{retry}");
    assert_problem(limited, 429, "rate_limited").await;
    assert_eq!(app.account(&ann).await["wallet"]["balance"], "5.00", "refused requests did nothing");
    // Reading is not limited; the next window takes requests again.
    assert_eq!(limits(&app, &ann).await["money_requests"]["limit"], 5);
    tokio::time::sleep(std::time::Duration::from_secs(retry)).await;
    app.deposit(&ann, "1.00").await;
    // The budget check is also the session check (one statement on PostgreSQL).
    let res = app.client.post(app.url("/v1/auth/logout-all")).bearer_auth(&ann).send().await.unwrap();
    assert_eq!(res.status(), StatusCode::NO_CONTENT);
    let res = app.post_money("/v1/wallet/deposits", &ann, &one).await;
    assert_problem(res, 401, "unauthorized").await;
}

/// The budget counts every money request that reaches the database, refused ones included
/// (on PostgreSQL the refusal rolls the call back, so the count is written again).
async fn refused_requests_count_against_the_budget(backend: Backend) {
    let settings = [("limits.money_requests_per_window", "4"), ("limits.money_requests_window_secs", "86400")];
    let app = TestApp::spawn_with(backend, &settings).await;
    let ann = app.user_token("ann_counted").await;
    let res = app.post_money("/v1/wallet/withdrawals", &ann, &json!({"amount": "5.00"})).await;
    assert_problem(res, 422, "insufficient_funds").await;
    let res = app.post_money("/v1/transfers", &ann, &json!({"to_username": "nobody_here", "amount": "1.00"})).await;
    assert_problem(res, 404, "recipient_not_found").await;
    assert_eq!(limits(&app, &ann).await["money_requests"]["used"], 2);
    app.deposit(&ann, "1.00").await;
    // A replay is a request too.
    let res = app.post_keyed("/v1/wallet/deposits", &ann, "same-key", &json!({"amount": "1.00"})).await;
    assert_eq!(res.status(), StatusCode::CREATED);
    let res = app.post_keyed("/v1/wallet/deposits", &ann, "same-key", &json!({"amount": "1.00"})).await;
    assert_problem(res, 429, "rate_limited").await;
    assert_eq!(limits(&app, &ann).await["money_requests"]["used"], 4);
    assert_eq!(app.account(&ann).await["wallet"]["balance"], "2.00");
}

/// After log-out-everywhere, the old access token moves nothing on any money route: the
/// session check runs inside each money call.
async fn an_ended_session_moves_no_money_on_any_route(backend: Backend) {
    // A day's window: the count asserted at the end must not roll over mid-test (60 s
    // windows are aligned to the clock, and a slow machine crossed one in CI).
    let settings = [("limits.money_requests_per_window", "100"), ("limits.money_requests_window_secs", "86400")];
    let app = TestApp::spawn_with(backend, &settings).await;
    let ann = app.user_token("ann_ended").await;
    app.user_token("bob_ended").await;
    let admin = app.admin_token("ended_admin").await;
    let res = app.post_as_admin("/v1/admin/merchants", &admin, &json!({"name": "Ended Shop"})).await;
    let merchant = res.json::<Value>().await.unwrap()["id"].as_str().unwrap().to_owned();
    app.deposit(&ann, "100.00").await;
    assert_eq!(app.post_money("/v1/vault/lock", &ann, &json!({"amount": "50.00"})).await.status(), 201);
    let buy = json!({"merchant_id": merchant, "amount": "10.00", "installments": 1});
    let mut ids = Vec::new();
    for _ in 0..3 {
        let res = app.post_money("/v1/credit/purchases", &ann, &buy).await;
        assert_eq!(res.status(), StatusCode::CREATED);
        ids.push(res.json::<Value>().await.unwrap()["id"].as_str().unwrap().to_owned());
    }
    let res = app.post_money(&format!("/v1/credit/purchases/{}/confirm-receipt", ids[0]), &ann, &json!(null)).await;
    assert_eq!(res.status(), StatusCode::OK);
    let before = app.account(&ann).await;
    let res = app.client.post(app.url("/v1/auth/logout-all")).bearer_auth(&ann).send().await.unwrap();
    assert_eq!(res.status(), StatusCode::NO_CONTENT);
    let one = json!({"amount": "1.00"});
    let routes = [
        ("/v1/wallet/deposits".to_owned(), one.clone()),
        ("/v1/wallet/withdrawals".to_owned(), one.clone()),
        ("/v1/vault/lock".to_owned(), one.clone()),
        ("/v1/vault/unlock".to_owned(), one.clone()),
        ("/v1/transfers".to_owned(), json!({"to_username": "bob_ended", "amount": "1.00"})),
        ("/v1/credit/repayments".to_owned(), one.clone()),
        ("/v1/credit/purchases".to_owned(), buy.clone()),
        (format!("/v1/credit/purchases/{}/confirm-receipt", ids[1]), json!(null)),
        (format!("/v1/credit/purchases/{}/cancel", ids[2]), json!(null)),
    ];
    for (path, body) in &routes {
        let res = app.post_money(path, &ann, body).await;
        assert_problem(res, 401, "unauthorized").await;
    }
    let ann = app.login("ann_ended").await["access_token"].as_str().unwrap().to_owned();
    assert_eq!(app.account(&ann).await, before, "nothing moved");
    let states: Vec<String> = app.get_as("/v1/credit/purchases", &ann).await.json::<Value>().await.unwrap()["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["state"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(states, ["authorized", "authorized", "captured"]);
    assert_eq!(limits(&app, &ann).await["money_requests"]["used"], 6, "refused sessions are not counted");
}

async fn limits_start_empty_and_say_none_when_off(backend: Backend) {
    let on = TestApp::spawn_with(
        backend.clone(),
        &[
            ("limits.outflow_24h_max", "50000.00"),
            ("limits.vault_unlocks_per_day", "10"),
            ("limits.money_requests_per_window", "60"),
        ],
    )
    .await;
    let ann = on.user_token("ann_lee").await;
    assert_eq!(
        limits(&on, &ann).await,
        json!({"outflow_24h": {"limit": "50000.00", "used": "0.00", "available": "50000.00"},
               "unlocks_today": {"limit": 10, "used": 0},
               "money_requests": {"limit": 60, "window_secs": 60, "used": 0}})
    );
    let off = TestApp::spawn(backend).await;
    let bob = off.user_token("bob_99").await;
    let l = limits(&off, &bob).await;
    assert_eq!(l["outflow_24h"], json!({"limit": null, "used": "0.00", "available": null}));
    assert_eq!(l["unlocks_today"]["limit"], Value::Null);
}
