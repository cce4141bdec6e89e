//! Group commit, switched on explicitly on both backends (by default it is on for SQLite
//! only): concurrent money requests of every kind, refusals and replays among them, share
//! batches; each gets its own answer, a refusal never fails the others, and the totals and
//! the ledger come out exactly as if they had run one by one.

use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::helpers::{Backend, TestApp, minor};
use crate::on_both_backends;

on_both_backends!(mixed_concurrent_requests_are_answered_one_by_one, one_key_in_one_batch_has_one_effect);

const GROUPED: &[(&str, &str)] =
    &[("database.group_commit", "on"), ("server.workers", "4"), ("database.pool_size", "12")];

async fn mixed_concurrent_requests_are_answered_one_by_one(backend: Backend) {
    let app = TestApp::spawn_with(backend, GROUPED).await;
    let admin = app.admin_token("root_admin").await;
    let ann = app.user_token("ann_lee").await;
    let bob = app.user_token("bob_99").await;
    app.deposit(&ann, "100.00").await;

    // 10 withdrawals of 10.00 and 10 transfers of 10.00 race for ann's 100.00, beside 10
    // deposits to bob and 10 vault locks of 1.00 by bob (who starts with nothing).
    let (ten, one) = (json!({"amount": "10.00"}), json!({"amount": "1.00"}));
    let to_bob = json!({"to_username": "bob_99", "amount": "10.00"});
    let mut sends = Vec::new();
    for _ in 0..10 {
        sends.push(app.post_money("/v1/wallet/withdrawals", &ann, &ten));
        sends.push(app.post_money("/v1/transfers", &ann, &to_bob));
        sends.push(app.post_money("/v1/wallet/deposits", &bob, &one));
        sends.push(app.post_money("/v1/vault/lock", &bob, &one));
    }
    let responses = futures_util::future::join_all(sends).await;
    let mut by_route: [(u32, u32); 4] = Default::default();
    for (n, res) in responses.into_iter().enumerate() {
        let status = res.status();
        let body: Value = res.json().await.unwrap();
        match status {
            StatusCode::CREATED => by_route[n % 4].0 += 1,
            StatusCode::UNPROCESSABLE_ENTITY => {
                assert_eq!(body["code"], "insufficient_funds", "{body}");
                by_route[n % 4].1 += 1;
            }
            other => panic!("unexpected {other}: {body}"),
        }
    }
    // ann's 100.00 went out exactly ten times, whatever the mix; bob's deposits all landed.
    assert_eq!(by_route[0].0 + by_route[1].0, 10, "{by_route:?}");
    assert_eq!(by_route[2], (10, 0), "{by_route:?}");
    let ann_account = app.account(&ann).await;
    assert_eq!(minor(&ann_account["wallet"]["balance"]), 0);
    let bob_account = app.account(&bob).await;
    let received = i64::from(by_route[1].0) * 10_00;
    let locked = i64::from(by_route[3].0) * 1_00;
    assert_eq!(minor(&bob_account["wallet"]["balance"]) + minor(&bob_account["vault"]["balance"]), received + 10_00);
    assert_eq!(minor(&bob_account["vault"]["balance"]), locked);
    assert_eq!(app.all_movements(&ann, 100).await.len(), 1 + 10);
    app.assert_ledger_clean(&admin).await;
}

async fn one_key_in_one_batch_has_one_effect(backend: Backend) {
    let app = TestApp::spawn_with(backend, GROUPED).await;
    let admin = app.admin_token("root_admin").await;
    let ann = app.user_token("ann_lee").await;
    let body = json!({"amount": "5.00"});
    let sends = (0..12).map(|_| app.post_keyed("/v1/wallet/deposits", &ann, "one-key", &body));
    let responses = futures_util::future::join_all(sends).await;
    let mut ids = Vec::new();
    let mut replays = 0;
    for res in responses {
        assert_eq!(res.status(), StatusCode::CREATED);
        replays += usize::from(res.headers().contains_key("idempotent-replayed"));
        ids.push(res.json::<Value>().await.unwrap()["id"].as_str().unwrap().to_owned());
    }
    ids.dedup();
    assert_eq!(ids.len(), 1, "every answer is the one movement");
    assert_eq!(replays, 11);
    assert_eq!(app.account(&ann).await["wallet"]["balance"], "5.00");
    app.assert_ledger_clean(&admin).await;
}
