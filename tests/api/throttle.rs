//! Login and registration throttling: the (username, address) pair's backoff, what a
//! trusted proxy's header counts for, bursts, spraying, the per-address registration limit.
//! (The attacks of issue 27 against these are in `throttle_abuse`.)

use std::time::Duration;

use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::helpers::{Backend, PASSWORD, TestApp, assert_problem};
use crate::on_both_backends;

on_both_backends!(
    a_failing_pair_backs_off_then_recovers,
    thirty_wrong_guesses_lock_out_no_one_else,
    a_spoofed_forwarded_for_is_ignored,
    a_burst_of_200_guesses_is_throttled,
    spraying_adds_friction_not_refusal,
    registrations_are_throttled_per_address,
);

async fn wrong_login(app: &TestApp, username: &str) -> reqwest::Response {
    app.post_json("/v1/auth/login", &json!({"username": username, "password": "wrong password!"})).await
}

pub async fn wrong_login_from(app: &TestApp, forwarded: &str, username: &str) -> reqwest::Response {
    login_from(app, forwarded, username, "wrong password!").await
}

pub async fn login_from(app: &TestApp, forwarded: &str, username: &str, password: &str) -> reqwest::Response {
    app.post_from("/v1/auth/login", forwarded, &json!({"username": username, "password": password})).await
}

/// A (username, address) pair backs off after its free failures, and recovers after the wait.
async fn a_failing_pair_backs_off_then_recovers(backend: Backend) {
    let settings = [("auth.login_free_failures", "3"), ("auth.login_backoff_base_secs", "1")];
    let app = TestApp::spawn_with(backend, &settings).await;
    app.register("ann_lee").await;
    for _ in 0..3 {
        assert_problem(wrong_login(&app, "ann_lee").await, 401, "invalid_credentials").await;
    }
    let res = wrong_login(&app, "ann_lee").await;
    let retry_after: u64 = res.headers()["retry-after"].to_str().unwrap().parse().unwrap();
    assert_eq!(retry_after, 1);
    assert_problem(res, 429, "too_many_attempts").await;
    tokio::time::sleep(Duration::from_millis(1100)).await;
    // The next failure doubles the wait.
    assert_problem(wrong_login(&app, "ann_lee").await, 401, "invalid_credentials").await;
    let res = wrong_login(&app, "ann_lee").await;
    assert_eq!(res.headers()["retry-after"], "2");
    tokio::time::sleep(Duration::from_millis(2100)).await;
    app.login("ann_lee").await;
    // A success starts the pair afresh.
    for _ in 0..3 {
        assert_problem(wrong_login(&app, "ann_lee").await, 401, "invalid_credentials").await;
    }
}

/// 30 wrong guesses at one account from one address: another user behind that address logs
/// in at once, and so does the account's owner from elsewhere. Behind a trusted proxy the
/// client address is the forwarded one.
async fn thirty_wrong_guesses_lock_out_no_one_else(backend: Backend) {
    let app = TestApp::spawn_with(backend, &[("server.trusted_proxies", "127.0.0.1")]).await;
    app.register("ann_lee").await;
    app.register("bob_99").await;
    let attacker = "203.0.113.66";
    let mut refused = 0;
    for _ in 0..30 {
        let res = wrong_login_from(&app, attacker, "ann_lee").await;
        assert!(matches!(res.status().as_u16(), 401 | 429), "{}", res.status());
        refused += usize::from(res.status() == StatusCode::TOO_MANY_REQUESTS);
    }
    assert!(refused >= 25, "the attacker's pair backs off: {refused} of 30 refused");
    let res = login_from(&app, attacker, "bob_99", PASSWORD).await;
    assert_eq!(res.status(), StatusCode::OK, "another user behind the same address");
    let res = login_from(&app, "198.51.100.7", "ann_lee", PASSWORD).await;
    assert_eq!(res.status(), StatusCode::OK, "the owner, from another address");
}

/// Without a trusted proxy the header is the client's to make up, so it is ignored: failures
/// with a different X-Forwarded-For each time still count against the one real address.
async fn a_spoofed_forwarded_for_is_ignored(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    app.register("ann_lee").await;
    let mut statuses = Vec::new();
    for i in 0..6 {
        statuses.push(wrong_login_from(&app, &format!("203.0.113.{i}"), "ann_lee").await.status().as_u16());
    }
    assert_eq!(statuses, [401, 401, 401, 429, 429, 429], "one pair, whatever the header says");
}

/// A burst of 200 concurrent guesses from one address is throttled, not evaluated.
async fn a_burst_of_200_guesses_is_throttled(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    app.register("bea_kim").await;
    let burst = (0..200).map(|_| wrong_login(&app, "bea_kim"));
    let statuses: Vec<u16> = futures_util::future::join_all(burst).await.iter().map(|r| r.status().as_u16()).collect();
    let evaluated = statuses.iter().filter(|s| **s == 401).count();
    assert!(evaluated <= 10, "{evaluated} of 200 guesses were checked: {statuses:?}");
    assert!(statuses.iter().all(|s| *s == 401 || *s == 429), "{statuses:?}");
    // Many people behind that address (carrier NAT) still log in, all at once.
    for i in 0..8 {
        app.register(&format!("nat_user_{i}")).await;
    }
    let logins: Vec<Value> =
        (0..8).map(|i| json!({"username": format!("nat_user_{i}"), "password": crate::helpers::PASSWORD})).collect();
    let results = futures_util::future::join_all(logins.iter().map(|b| app.post_json("/v1/auth/login", b))).await;
    let statuses: Vec<u16> = results.iter().map(|r| r.status().as_u16()).collect();
    assert!(statuses.iter().all(|s| *s == 200), "{statuses:?}");
}

/// Spraying many usernames from one address slows it down but never refuses a correct password.
async fn spraying_adds_friction_not_refusal(backend: Backend) {
    let settings = [("auth.login_spray_friction_after", "3"), ("auth.login_friction_ms", "400")];
    let app = TestApp::spawn_with(backend, &settings).await;
    app.register("ann_lee").await;
    for i in 0..4 {
        assert_problem(wrong_login(&app, &format!("nobody_{i}")).await, 401, "invalid_credentials").await;
    }
    let started = std::time::Instant::now();
    app.login("ann_lee").await;
    assert!(started.elapsed() >= Duration::from_millis(400), "friction applied: {:?}", started.elapsed());
}

/// Registrations are throttled per address, before any password is hashed.
async fn registrations_are_throttled_per_address(backend: Backend) {
    let app = TestApp::spawn_with(backend, &[("auth.registrations_per_address_per_hour", "3")]).await;
    for i in 0..3 {
        app.register(&format!("new_user_{i}")).await;
    }
    let res = app.post_json("/v1/auth/register", &json!({"username": "new_user_9", "password": PASSWORD})).await;
    assert!(res.headers().contains_key("retry-after"));
    assert_problem(res, 429, "too_many_attempts").await;
}
