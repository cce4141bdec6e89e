//! Issue 27, finding 8: a refresh token chained through grace windows, and a malformed
//! forwarded hop from a trusted proxy.

use reqwest::StatusCode;
use serde_json::Value;

use crate::auth::refresh;
use crate::helpers::{Backend, TestApp, assert_problem};
use crate::on_both_backends;
use crate::throttle::wrong_login_from;

on_both_backends!(a_spent_token_whose_successor_was_spent_is_reuse, a_malformed_forwarded_hop_is_skipped);

/// rt0 -> rt1 -> rt2, then rt0 again within the grace window: its successor rt1 is spent,
/// so this is no retry but a reuse: 401, and the whole family (rt2) and its access tokens end.
async fn a_spent_token_whose_successor_was_spent_is_reuse(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    assert_eq!(app.settings.auth.refresh_retry_grace_secs, 10, "well within the grace window throughout");
    app.register("ann_lee").await;
    let rt0 = app.login("ann_lee").await;
    let rt1: Value = refresh(&app, &rt0["refresh_token"]).await.json().await.unwrap();
    let rt2: Value = refresh(&app, &rt1["refresh_token"]).await.json().await.unwrap();
    let access = rt2["access_token"].as_str().unwrap().to_owned();
    assert_eq!(app.get_as("/v1/me", &access).await.status(), StatusCode::OK);

    assert_problem(refresh(&app, &rt0["refresh_token"]).await, 401, "unauthorized").await;
    assert_problem(refresh(&app, &rt2["refresh_token"]).await, 401, "unauthorized").await;
    assert_problem(app.get_as("/v1/me", &access).await, 401, "unauthorized").await;

    // While the successor is unspent, a retry still answers it (the grace window's purpose).
    let fresh = app.login("ann_lee").await;
    let first: Value = refresh(&app, &fresh["refresh_token"]).await.json().await.unwrap();
    let retried: Value = refresh(&app, &fresh["refresh_token"]).await.json().await.unwrap();
    assert_eq!(first["refresh_token"], retried["refresh_token"]);
    app.assert_ledger_clean_as_auditor().await;
}

/// Behind a trusted proxy, a hop that is not an address is skipped: the client is the
/// right-most valid untrusted hop, not the proxy. Failures with a junk hop in front count
/// against the real client's pair (it backs off), and nobody else's.
async fn a_malformed_forwarded_hop_is_skipped(backend: Backend) {
    let settings = [("server.trusted_proxies", "127.0.0.1"), ("auth.login_free_failures", "3")];
    let app = TestApp::spawn_with(backend, &settings).await;
    app.register("ann_lee").await;
    for junk in ["not-an-address, 203.0.113.9", "203.0.113.9, ???", "[bad, 203.0.113.9"] {
        assert_problem(wrong_login_from(&app, junk, "ann_lee").await, 401, "invalid_credentials").await;
    }
    let res = wrong_login_from(&app, "203.0.113.9", "ann_lee").await;
    assert_problem(res, 429, "too_many_attempts").await;
    // The proxy's own key was not used: another client behind it is not backing off.
    let res = wrong_login_from(&app, "203.0.113.10", "ann_lee").await;
    assert_problem(res, 401, "invalid_credentials").await;
    app.assert_ledger_clean_as_auditor().await;
}
