//! A user's money requests take turns in the service (at most two in the database at once),
//! so one user hammering their account cannot tie up the connection pool.

use diesel::connection::SimpleConnection;
use diesel::{Connection, PgConnection};
use reqwest::StatusCode;
use serde_json::json;

use crate::helpers::{Backend, TestApp, minor};

/// With a user's account row held by another session, a purchase of theirs waits for it
/// (holding their request budget's row) and twelve of their deposits queue, yet another
/// user's deposit is answered on a pool of four connections (without the turns, the twelve
/// would hold all four and it would wait out the pool's timeout: 503). Once the row is free
/// the purchase and every queued deposit land exactly once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[cfg_attr(not(postgres_tests), ignore = "VAULTLINE_TEST_POSTGRES_URL was not set at build time")]
async fn one_users_queued_requests_leave_the_pool_to_others() {
    queued_requests_leave_the_pool_to_others("off").await;
}

/// The same through group commit: a batch skips the held row (its lanes would otherwise
/// wait on it, and every user behind them) and the held user's deposits run alone.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[cfg_attr(not(postgres_tests), ignore = "VAULTLINE_TEST_POSTGRES_URL was not set at build time")]
async fn a_held_row_stalls_no_group_commit_lane() {
    queued_requests_leave_the_pool_to_others("on").await;
}

async fn queued_requests_leave_the_pool_to_others(group_commit: &str) {
    let settings = [
        ("database.pool_size", "4"),
        ("database.connection_timeout_ms", "2000"),
        ("database.group_commit", group_commit),
        // A budget, so each request's gate writes its user's budget row (the purchase holds it).
        ("limits.money_requests_per_window", "1000"),
    ];
    let app = std::sync::Arc::new(TestApp::spawn_with(Backend::postgres(), &settings).await);
    let admin = app.admin_token("turns_admin").await;
    let hog = app.user_token("hog_user").await;
    let other = app.user_token("other_user").await;
    app.deposit(&hog, "100.00").await;
    let res = app.post_money("/v1/vault/lock", &hog, &json!({"amount": "50.00"})).await;
    assert_eq!(res.status(), StatusCode::CREATED);
    let shop = crate::credit::merchant(&app, &admin, "Turns Shop").await;

    let mut blocker = PgConnection::establish(&app.settings.database.url).unwrap();
    blocker
        .batch_execute(
            "BEGIN; SELECT 1 FROM money_accounts \
             WHERE user_id = (SELECT id FROM users WHERE username = 'hog_user') FOR UPDATE",
        )
        .unwrap();
    let purchase = {
        let (app, hog) = (app.clone(), hog.clone());
        let body = json!({"merchant_id": shop, "amount": "10.00", "installments": 1});
        tokio::spawn(async move { app.post_money("/v1/credit/purchases", &hog, &body).await.status() })
    };
    tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    let queued: Vec<_> = (0..12)
        .map(|_| {
            let (app, hog) = (app.clone(), hog.clone());
            tokio::spawn(async move {
                app.post_money("/v1/wallet/deposits", &hog, &json!({"amount": "1.00"})).await.status()
            })
        })
        .collect();
    // Let the twelve reach the service and queue.
    tokio::time::sleep(std::time::Duration::from_millis(500)).await;

    let res = app.post_money("/v1/wallet/deposits", &other, &json!({"amount": "5.00"})).await;
    assert_eq!(res.status(), StatusCode::CREATED, "another user is served while one user's requests queue");
    assert!(queued.iter().all(|q| !q.is_finished()), "the held row keeps the first user's deposits waiting");

    blocker.batch_execute("COMMIT").unwrap();
    assert_eq!(purchase.await.unwrap(), StatusCode::CREATED);
    for status in futures_util::future::join_all(queued).await {
        assert_eq!(status.unwrap(), StatusCode::CREATED);
    }
    let account = app.account(&hog).await;
    assert_eq!(minor(&account["wallet"]["balance"]), 6_200, "100.00, 50.00 locked, twelve deposits of 1.00");
    assert_eq!(minor(&app.account(&other).await["wallet"]["balance"]), 500);
    app.assert_ledger_clean(&admin).await;
}
