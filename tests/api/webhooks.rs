//! Webhook delivery to a real receiver on 127.0.0.1: retried until it recovers, signed, in
//! per-user order, redelivered on request; an endpoint that keeps failing is marked so; two
//! instances on one PostgreSQL never send one event at the same time.

use std::collections::{HashMap, HashSet};
use std::time::Duration;

use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::events::all_events;
use crate::helpers::{Backend, TestApp};
use crate::on_both_backends;
use crate::receiver::{Received, Receiver};

on_both_backends!(a_failing_receiver_gets_every_event_signed_and_in_order_once_it_recovers);

/// Fast retries, and 127.0.0.1 allowed (the default refuses it).
pub(crate) const FAST_DELIVERY: [(&str, &str); 7] = [
    ("webhooks.allow_private_targets", "true"),
    // A pass that fails after claiming (a loaded machine's pool timeout) holds its claims at
    // most this long.
    ("webhooks.lease_secs", "10"),
    ("webhooks.timeout_ms", "5000"),
    ("webhooks.poll_ms", "20"),
    ("webhooks.retry_base_ms", "50"),
    ("webhooks.retry_max_ms", "200"),
    ("webhooks.failing_after", "3"),
];

pub(crate) async fn register(app: &TestApp, admin: &str, url: &str, events: &[&str]) -> Value {
    let res = app.post_as_admin("/v1/admin/webhooks", admin, &json!({"url": url, "events": events})).await;
    assert_eq!(res.status(), StatusCode::CREATED);
    res.json().await.unwrap()
}

/// The endpoint as `GET /v1/admin/webhooks` lists it (the test registers at most 100).
pub(crate) async fn listed(app: &TestApp, admin: &str, id: &str) -> Value {
    let page: Value = app.get_as("/v1/admin/webhooks?limit=100", admin).await.json().await.unwrap();
    page["items"].as_array().unwrap().iter().find(|h| h["id"] == id).cloned().expect("the endpoint is listed")
}

const ALL_TYPES: [&str; vaultline::domain::webhook::EVENT_TYPES.len()] = vaultline::domain::webhook::EVENT_TYPES;

/// The delivered (200) events of each user, in the order they arrived.
pub(crate) fn delivered_by_user(received: &[Received]) -> HashMap<String, Vec<i64>> {
    let mut by_user: HashMap<String, Vec<i64>> = HashMap::new();
    for r in received.iter().filter(|r| r.status == 200) {
        by_user
            .entry(r.event["user_id"].as_str().unwrap().to_owned())
            .or_default()
            .push(r.event["seq"].as_i64().unwrap());
    }
    by_user
}

async fn a_failing_receiver_gets_every_event_signed_and_in_order_once_it_recovers(backend: Backend) {
    let app = TestApp::spawn_with(backend, &FAST_DELIVERY).await;
    let admin = app.admin_token("hooks_admin").await;
    let receiver = Receiver::start(3, Duration::ZERO);
    let hook = register(&app, &admin, &receiver.url, &ALL_TYPES).await;
    receiver.set_secret(hook["secret"].as_str().unwrap());
    // An endpoint that never answers: it turns `failing` after 3 attempts.
    let dead = register(&app, &admin, "http://127.0.0.1:1/hook", &["movement.created"]).await;

    let ann = app.user_token("ann_hooks").await;
    let bob = app.user_token("bob_hooks").await;
    app.deposit(&ann, "50.00").await;
    let res = app.post_money("/v1/transfers", &ann, &json!({"to_username": "bob_hooks", "amount": "10.00"})).await;
    assert_eq!(res.status(), StatusCode::CREATED);
    app.deposit(&bob, "5.00").await;
    assert_eq!(app.post_money("/v1/vault/lock", &ann, &json!({"amount": "20.00"})).await.status(), StatusCode::CREATED);
    app.deposit(&ann, "1.00").await;

    let mut feed = all_events(&app, &ann).await;
    feed.extend(all_events(&app, &bob).await);
    assert_eq!(feed.len(), 7);
    let ids: HashSet<String> = feed.iter().map(|e| e["id"].as_str().unwrap().to_owned()).collect();
    receiver.wait_for(&ids, Duration::from_secs(60)).await;

    let received = receiver.received();
    let statuses: Vec<u16> = received.iter().map(|r| r.status).collect();
    assert_eq!(statuses[..3], [500, 500, 500], "the first three attempts failed");
    assert!(received.iter().all(|r| r.signature_ok), "every delivery carries a valid signature");
    // Every event once (no lease expired), exactly as the feed shows it, in seq order per user.
    let delivered: Vec<&Received> = received.iter().filter(|r| r.status == 200).collect();
    assert_eq!(delivered.len(), feed.len());
    for r in &delivered {
        let shown = feed.iter().find(|e| e["id"] == r.event["id"]).expect("a feed event");
        assert_eq!(&r.event, shown);
    }
    for (user, seqs) in delivered_by_user(&received) {
        let expected: Vec<i64> = (1..=i64::try_from(seqs.len()).unwrap()).collect();
        assert_eq!(seqs, expected, "user {user}'s events in order");
    }

    // The attempts are listed: three failures, then one success per event (each recorded just
    // after its receiver answered).
    let id = hook["id"].as_str().unwrap();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    let codes = loop {
        let page: Value =
            app.get_as(&format!("/v1/admin/webhooks/{id}/attempts?limit=100"), &admin).await.json().await.unwrap();
        let codes: Vec<i64> =
            page["items"].as_array().unwrap().iter().map(|a| a["status_code"].as_i64().unwrap()).collect();
        if codes.len() >= 10 || tokio::time::Instant::now() > deadline {
            break codes;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    assert_eq!(codes.iter().filter(|c| **c == 500).count(), 3);
    assert_eq!(codes.iter().filter(|c| **c == 200).count(), 7);
    let ours = listed(&app, &admin, id).await;
    assert_eq!((ours["state"].as_str(), ours["consecutive_failures"].as_i64()), (Some("active"), Some(0)));

    // The dead endpoint is marked failing; its attempts say why.
    let dead_id = dead["id"].as_str().unwrap();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    loop {
        if listed(&app, &admin, dead_id).await["state"] == "failing" {
            break;
        }
        assert!(tokio::time::Instant::now() < deadline, "the dead endpoint was never marked failing");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let page: Value = app.get_as(&format!("/v1/admin/webhooks/{dead_id}/attempts"), &admin).await.json().await.unwrap();
    let first = &page["items"][0];
    assert!(first["status_code"].is_null() && first["error"].as_str().is_some_and(|e| !e.is_empty()), "{first}");

    // A redelivery sends the same event (same id, same body) again.
    let first_event = &feed[0];
    let event_id = first_event["id"].as_str().unwrap();
    let res =
        app.post_as_admin(&format!("/v1/admin/webhooks/{id}/events/{event_id}/redeliver"), &admin, &json!(null)).await;
    assert_eq!(res.status(), StatusCode::ACCEPTED);
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    let copies = loop {
        let copies: Vec<Received> =
            receiver.received().into_iter().filter(|r| r.status == 200 && r.event["id"] == event_id).collect();
        if copies.len() == 2 {
            break copies;
        }
        assert!(tokio::time::Instant::now() < deadline, "no redelivery");
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    assert_eq!(copies[0].body, copies[1].body);
    let unknown = uuid::Uuid::new_v4();
    let res =
        app.post_as_admin(&format!("/v1/admin/webhooks/{id}/events/{unknown}/redeliver"), &admin, &json!(null)).await;
    assert_eq!(res.status(), StatusCode::NOT_FOUND);
    assert!(receiver.concurrent_duplicates().is_empty());
    // The dead endpoint's deliveries are still pending; /metrics shows them and the attempts.
    assert!(app.metric("events_pending").await >= 1.0);
    let metrics = app.get("/metrics").await.text().await.unwrap();
    for name in ["webhook_attempts_total{result=\"delivered\"}", "webhook_attempts_total{result=\"failed\"}"] {
        assert!(metrics.contains(name), "{name} in /metrics");
    }
    assert!(metrics.contains("webhook_delivery_latency_seconds_bucket"));
    app.assert_ledger_clean(&admin).await;
}

/// Two instances on one PostgreSQL, each with its worker, deliver every event of a burst
/// exactly once, never one event twice at the same time, each user's in order.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
#[cfg_attr(not(postgres_tests), ignore = "VAULTLINE_TEST_POSTGRES_URL was not set at build time")]
async fn two_instances_deliver_each_event_once() {
    let first = TestApp::spawn_with(Backend::postgres(), &FAST_DELIVERY).await;
    let second = first.another_instance();
    let admin = first.admin_token("twin_admin").await;
    // Slow answers keep deliveries in flight, so both workers contend for them.
    let receiver = Receiver::start(0, Duration::from_millis(20));
    let hook = register(&first, &admin, &receiver.url, &ALL_TYPES).await;
    receiver.set_secret(hook["secret"].as_str().unwrap());

    let mut tokens = Vec::new();
    for n in 0..4 {
        tokens.push(first.user_token(&format!("twin_user_{n}")).await);
    }
    let amounts: Vec<String> = (1..=10).map(|k| format!("{k}.00")).collect();
    let mut deposits = Vec::new();
    for (n, token) in tokens.iter().enumerate() {
        let app = if n % 2 == 0 { &first } else { &second };
        deposits.extend(amounts.iter().map(|amount| app.deposit(token, amount)));
    }
    futures_util::future::join_all(deposits).await;

    let mut feed = Vec::new();
    for token in &tokens {
        feed.extend(all_events(&first, token).await);
    }
    assert_eq!(feed.len(), 40);
    let ids: HashSet<String> = feed.iter().map(|e| e["id"].as_str().unwrap().to_owned()).collect();
    receiver.wait_for(&ids, Duration::from_secs(60)).await;
    // Let any stray second copy arrive before counting.
    tokio::time::sleep(Duration::from_millis(500)).await;
    let received = receiver.received();
    assert_eq!(receiver.concurrent_duplicates(), Vec::<String>::new(), "no event sent twice at once");
    assert_eq!(received.len(), 40, "each event delivered once");
    assert!(received.iter().all(|r| r.signature_ok && r.status == 200));
    for (user, seqs) in delivered_by_user(&received) {
        assert_eq!(seqs, (1..=10).collect::<Vec<i64>>(), "user {user}'s events in order");
    }
    first.assert_ledger_clean(&admin).await;
}

/// The README's receiver (`scripts/webhook_receiver.py`) accepts real deliveries, printing
/// each event once, and refuses a forged signature and a stale timestamp.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_readme_receiver_verifies_deliveries() {
    let app = TestApp::spawn_with(Backend::Sqlite, &FAST_DELIVERY).await;
    let admin = app.admin_token("readme_admin").await;
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let url = format!("http://127.0.0.1:{port}/");
    let hook = register(&app, &admin, &url, &["movement.created"]).await;
    let secret = hook["secret"].as_str().unwrap();
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/scripts/webhook_receiver.py");
    let mut child = tokio::process::Command::new("python3")
        .args([script, "--port", &port.to_string()])
        .env("VAULTLINE_WEBHOOK_SECRET", secret)
        .stdout(std::process::Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .expect("python3 runs the receiver");
    let ann = app.user_token("ann_readme").await;
    let movement = app.deposit(&ann, "12.34").await;

    use tokio::io::AsyncBufReadExt;
    let mut lines = tokio::io::BufReader::new(child.stdout.take().unwrap()).lines();
    let line = tokio::time::timeout(Duration::from_secs(30), lines.next_line()).await.expect("a delivery").unwrap();
    let event: Value = serde_json::from_str(&line.unwrap()).unwrap();
    assert_eq!((event["type"].as_str(), &event["data"]), (Some("movement.created"), &movement));

    let client = reqwest::Client::new();
    let body = serde_json::to_vec(&event).unwrap();
    let now = chrono::Utc::now().timestamp();
    let post = |signature: String| client.post(&url).header("vaultline-signature", signature).body(body.clone()).send();
    let sign = vaultline::domain::webhook::signature;
    assert_eq!(
        post(sign(secret, now, &body)).await.unwrap().status(),
        StatusCode::NO_CONTENT,
        "a repeat is acknowledged"
    );
    assert_eq!(post(sign("whsec_forged", now, &body)).await.unwrap().status(), StatusCode::BAD_REQUEST);
    assert_eq!(post(sign(secret, now - 301, &body)).await.unwrap().status(), StatusCode::BAD_REQUEST, "a replay");
    assert_eq!(post(format!("t={now}")).await.unwrap().status(), StatusCode::BAD_REQUEST);
}
