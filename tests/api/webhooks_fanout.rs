//! Fan-out (issue 27, finding 1): every endpoint subscribed to a type receives every event of
//! that type, and each (endpoint, event) delivery is retried on its own. The worker used to hand
//! an event claimed by several endpoints in one batch to the first of them only, and gave the
//! others' copies up as "the event is gone": two endpoints, five deposits, 3 + 2 delivered.

use std::collections::HashSet;
use std::time::Duration;

use serde_json::{Value, json};

use crate::events::all_events;
use crate::helpers::{Backend, TestApp};
use crate::on_both_backends;
use crate::receiver::Receiver;
use crate::webhooks::{FAST_DELIVERY, delivered_by_user, listed, register};

on_both_backends!(two_endpoints_each_get_all_five_deposits, three_endpoints_on_two_instances_each_get_every_event);

fn ids(feed: &[Value]) -> HashSet<String> {
    feed.iter().map(|e| e["id"].as_str().unwrap().to_owned()).collect()
}

/// Registers `receiver` for `events` and hands it the secret; answers the endpoint's id.
async fn register_receiver(app: &TestApp, admin: &str, receiver: &Receiver, events: &[&str]) -> String {
    let hook = register(app, admin, &receiver.url, events).await;
    receiver.set_secret(hook["secret"].as_str().unwrap());
    hook["id"].as_str().unwrap().to_owned()
}

/// The receiver got each feed event once, signed, with the feed's id and body, and each
/// user's in `seq` order.
fn assert_received_as_the_feed(receiver: &Receiver, feed: &[Value], name: &str) {
    let received = receiver.received();
    assert!(receiver.concurrent_duplicates().is_empty(), "{name}: no event sent twice at once");
    assert!(received.iter().all(|r| r.signature_ok), "{name}: every delivery signed with its own secret");
    let delivered: Vec<&Value> = received.iter().filter(|r| r.status == 200).map(|r| &r.event).collect();
    assert_eq!(delivered.len(), feed.len(), "{name}: each event once");
    for event in delivered {
        let shown = feed.iter().find(|e| e["id"] == event["id"]).unwrap_or_else(|| panic!("{name}: {event}"));
        assert_eq!(event, shown, "{name}: the event as the feed shows it");
    }
    for (user, seqs) in delivered_by_user(&received) {
        let mut sorted = seqs.clone();
        sorted.sort_unstable();
        assert_eq!(seqs, sorted, "{name}: user {user}'s events in seq order");
    }
}

/// The endpoint's attempts, once at least `count` are recorded (each is recorded just after
/// its receiver answered).
async fn attempts(app: &TestApp, admin: &str, id: &str, count: usize) -> Vec<Value> {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    loop {
        let page: Value =
            app.get_as(&format!("/v1/admin/webhooks/{id}/attempts?limit=100"), admin).await.json().await.unwrap();
        let items = page["items"].as_array().unwrap().clone();
        if items.len() >= count {
            return items;
        }
        assert!(tokio::time::Instant::now() < deadline, "{} of {count} attempts recorded", items.len());
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// The reported scenario: two endpoints on `movement.created`, five deposits.
async fn two_endpoints_each_get_all_five_deposits(backend: Backend) {
    let app = TestApp::spawn_with(backend, &FAST_DELIVERY).await;
    let admin = app.admin_token("fanout_admin").await;
    let receivers = [Receiver::start(0, Duration::ZERO), Receiver::start(0, Duration::ZERO)];
    let mut hooks = Vec::new();
    for receiver in &receivers {
        hooks.push(register_receiver(&app, &admin, receiver, &["movement.created"]).await);
    }
    let ann = app.user_token("ann_fanout").await;
    for n in 1..=5 {
        app.deposit(&ann, &format!("{n}.00")).await;
    }
    let feed = all_events(&app, &ann).await;
    assert_eq!(feed.len(), 5);

    for (n, receiver) in receivers.iter().enumerate() {
        receiver.wait_for(&ids(&feed), Duration::from_secs(60)).await;
        assert_received_as_the_feed(receiver, &feed, &format!("endpoint {n}"));
    }
    for id in &hooks {
        let codes: Vec<Value> = attempts(&app, &admin, id, 5).await.iter().map(|a| a["status_code"].clone()).collect();
        assert_eq!(codes, vec![json!(200); 5], "one successful attempt per event, none given up");
        let hook = listed(&app, &admin, id).await;
        assert_eq!((hook["state"].as_str(), hook["consecutive_failures"].as_i64()), (Some("active"), Some(0)));
    }
    assert_eq!(app.metric("webhook_deliveries_failed").await, 0.0);
    app.assert_ledger_clean(&admin).await;
}

/// One endpoint always answers 500, one is slow, one is normal; two instances share the
/// database and both deliver. The healthy two get every event exactly as the feed has it; the
/// failing one keeps retrying each user's first event (the rest wait behind it, in order),
/// nothing is given up, and it is shown `failing`.
async fn three_endpoints_on_two_instances_each_get_every_event(backend: Backend) {
    const TYPES: [&str; vaultline::domain::webhook::EVENT_TYPES.len()] = vaultline::domain::webhook::EVENT_TYPES;
    let first = TestApp::spawn_with(backend, &FAST_DELIVERY).await;
    let second = first.another_instance();
    let admin = first.admin_token("fan3_admin").await;
    let failing = Receiver::start(u32::MAX, Duration::ZERO);
    let slow = Receiver::start(0, Duration::from_millis(150));
    let normal = Receiver::start(0, Duration::ZERO);
    let failing_id = register_receiver(&first, &admin, &failing, &TYPES).await;
    register_receiver(&first, &admin, &slow, &TYPES).await;
    register_receiver(&second, &admin, &normal, &TYPES).await;

    let names = ["fan3_ann", "fan3_bob", "fan3_cy"];
    let mut tokens = Vec::new();
    for name in names {
        tokens.push(first.user_token(name).await);
    }
    // Money moves through both instances at once.
    let mut requests = Vec::new();
    for (n, token) in tokens.iter().enumerate() {
        let app = if n % 2 == 0 { &first } else { &second };
        requests.extend((1..=6).map(|k| app.deposit(token, if k % 2 == 0 { "2.00" } else { "3.50" })));
    }
    futures_util::future::join_all(requests).await;
    for (n, token) in tokens.iter().enumerate() {
        let app = if n % 2 == 0 { &second } else { &first };
        let to = names[(n + 1) % names.len()];
        let res = app.post_money("/v1/transfers", token, &json!({"to_username": to, "amount": "1.25"})).await;
        assert_eq!(res.status(), reqwest::StatusCode::CREATED);
    }

    let mut feed = Vec::new();
    for token in &tokens {
        feed.extend(all_events(&first, token).await);
    }
    assert!(feed.len() >= 24, "six deposits and two sides of a transfer each: {}", feed.len());
    for receiver in [&slow, &normal] {
        receiver.wait_for(&ids(&feed), Duration::from_secs(90)).await;
    }
    // Let any stray second copy arrive before counting.
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_received_as_the_feed(&slow, &feed, "the slow endpoint");
    assert_received_as_the_feed(&normal, &feed, "the normal endpoint");

    // The failing endpoint's deliveries all wait, none given up: once the healthy ones are
    // settled, its own are exactly what is pending.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    while first.metric("events_pending").await != feed.len() as f64 {
        assert!(tokio::time::Instant::now() < deadline, "pending never came down to the failing endpoint's");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(first.metric("webhook_deliveries_failed").await, 0.0);
    // Each user's first event is retried on its own; nothing behind it was sent.
    let users: HashSet<&str> = feed.iter().map(|e| e["user_id"].as_str().unwrap()).collect();
    assert_eq!(users.len(), names.len());
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    loop {
        let tried = failing.received();
        assert!(tried.iter().all(|r| r.status == 500 && r.event["seq"] == 1), "only first events, never past them");
        let per_user: Vec<usize> =
            users.iter().map(|u| tried.iter().filter(|r| r.event["user_id"] == *u).count()).collect();
        if per_user.iter().all(|count| *count >= 2) {
            break;
        }
        assert!(tokio::time::Instant::now() < deadline, "attempts per user: {per_user:?}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let hook = listed(&second, &admin, &failing_id).await;
    assert_eq!(hook["state"], "failing", "{hook}");
    let tried = attempts(&first, &admin, &failing_id, 6).await;
    assert!(tried.iter().all(|a| a["status_code"] == 500), "every attempt reached the receiver: {tried:?}");
    first.assert_ledger_clean(&admin).await;
}
