//! The edge: slow and idle clients are cut off, security headers, the internal metrics
//! address, docs that can be switched off.

use std::time::{Duration, Instant};

use reqwest::StatusCode;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::helpers::{Backend, TestApp, assert_problem};
use crate::on_both_backends;

on_both_backends!(
    a_slow_body_is_cut_off_with_408,
    an_idle_connection_is_closed,
    security_headers_on_data_and_docs,
    metrics_on_an_internal_address_and_docs_switched_off,
    deceptive_input_is_refused
);

async fn connect(app: &TestApp) -> TcpStream {
    TcpStream::connect(app.address.trim_start_matches("http://")).await.unwrap()
}

/// Reads until the server closes the connection (or 5 s pass); answers what arrived.
async fn read_to_close(stream: &mut TcpStream) -> String {
    let mut out = Vec::new();
    let _ = tokio::time::timeout(Duration::from_secs(5), stream.read_to_end(&mut out)).await;
    String::from_utf8_lossy(&out).into_owned()
}

async fn a_slow_body_is_cut_off_with_408(backend: Backend) {
    let app = TestApp::spawn_with(backend, &[("server.body_read_timeout_ms", "400")]).await;
    let mut stream = connect(&app).await;
    let head =
        "POST /v1/auth/register HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n";
    stream.write_all(head.as_bytes()).await.unwrap();
    stream.write_all(b"{\"user").await.unwrap();
    let started = Instant::now();
    let answer = read_to_close(&mut stream).await;
    assert!(answer.starts_with("HTTP/1.1 408"), "{answer}");
    assert!(started.elapsed() < Duration::from_secs(3), "closed after {:?}", started.elapsed());
}

async fn an_idle_connection_is_closed(backend: Backend) {
    let app = TestApp::spawn_with(backend, &[("server.client_request_timeout_ms", "300")]).await;
    let mut stream = connect(&app).await;
    let started = Instant::now();
    let _ = read_to_close(&mut stream).await;
    assert!(started.elapsed() < Duration::from_secs(3), "an idle connection stayed open {:?}", started.elapsed());
}

async fn security_headers_on_data_and_docs(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let token = app.user_token("ann_lee").await;
    let res = app.get_as("/v1/me/account", &token).await;
    assert_eq!(res.headers()["cache-control"], "no-store", "account data is never cached");
    assert_eq!(res.headers()["x-content-type-options"], "nosniff");
    let problem = app.get("/v1/me").await;
    assert_eq!(problem.headers()["cache-control"], "no-store");
    assert_eq!(problem.headers()["x-content-type-options"], "nosniff");
    let docs = app.get("/docs/").await;
    let policy = docs.headers()["content-security-policy"].to_str().unwrap().to_owned();
    assert!(policy.contains("frame-ancestors 'none'"), "{policy}");
    assert_eq!(docs.headers()["x-frame-options"], "DENY");
    assert_eq!(app.get("/healthz").await.headers()["x-content-type-options"], "nosniff");
}

async fn metrics_on_an_internal_address_and_docs_switched_off(backend: Backend) {
    let settings = [("server.metrics_bind", "127.0.0.1:0"), ("server.docs_enabled", "false")];
    let app = TestApp::spawn_with(backend, &settings).await;
    assert_problem(app.get("/metrics").await, 404, "not_found").await;
    assert_problem(app.get("/docs/").await, 404, "not_found").await;
    assert_eq!(app.get("/openapi.json").await.status(), StatusCode::OK, "the document is still served");
    let doc: serde_json::Value = app.get("/openapi.json").await.json().await.unwrap();
    assert!(doc["paths"]["/metrics"].is_null(), "the public document does not list /metrics");
    let internal = app.metrics_address.clone().expect("a metrics address");
    let res = app.client.get(format!("{internal}/metrics")).send().await.unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    assert!(res.text().await.unwrap().contains("http_requests_total"));
    let res = app.client.get(format!("{internal}/v1/me")).send().await.unwrap();
    assert_eq!(res.status(), StatusCode::NOT_FOUND, "the internal address serves metrics only");
}

/// Input that reads one way and is another: invisible and bidi characters, twin merchants,
/// passwords built on the username or on breach lists. And every refusal is counted.
async fn deceptive_input_is_refused(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let admin = app.admin_token("root_admin").await;
    for name in ["\u{202E}nimda", "\u{200B}", "\u{200B}\u{200B}", " Ann", "Ann\u{2066}"] {
        let body = serde_json::json!({"username": "eve_1", "password": crate::helpers::PASSWORD, "display_name": name});
        assert_problem(app.post_json("/v1/auth/register", &body).await, 422, "validation_error").await;
    }
    for password in ["eve_1 secret pass", "password123", "QWERTYUIOP"] {
        let body = serde_json::json!({"username": "eve_1", "password": password});
        assert_problem(app.post_json("/v1/auth/register", &body).await, 422, "validation_error").await;
    }
    let shop = serde_json::json!({"name": "Acme"});
    assert_eq!(app.post_as_admin("/v1/admin/merchants", &admin, &shop).await.status(), StatusCode::CREATED);
    let twin = app.post_as_admin("/v1/admin/merchants", &admin, &serde_json::json!({"name": "ACME"})).await;
    assert_problem(twin, 409, "name_taken").await;

    let wrong = serde_json::json!({"username": "nobody_1", "password": "wrong password!"});
    app.post_json("/v1/auth/login", &wrong).await;
    let metrics = app.get("/metrics").await.text().await.unwrap();
    assert!(metrics.contains("security_events_total{event=\"login_failed\"}"), "{metrics}");
    assert!(metrics.contains("security_events_total{event=\"admin_action\"}"), "{metrics}");
}
