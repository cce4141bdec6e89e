//! Group commit, switched on explicitly on both backends (as it is by default, but the whole
//! suite may run with it off: `VAULTLINE_TEST_GROUP_COMMIT`): concurrent money requests of every kind, refusals and replays among them, share
//! batches; each gets its own answer, a refusal never fails the others, and the totals and
//! the ledger come out exactly as if they had run one by one.

use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::helpers::{Backend, TestApp, assert_problem, minor};
use crate::on_both_backends;

on_both_backends!(
    mixed_concurrent_requests_are_answered_one_by_one,
    one_key_in_one_batch_has_one_effect,
    each_request_passes_its_own_gate_inside_a_batch
);

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

/// Each request's gate (its session and its budget) runs inside the batch, per request: in
/// shared batches a user past their budget gets 429 for exactly the requests past it, an
/// ended session gets 401, and neither fails anyone else's request. A request refused by
/// its gate is not counted; one refused by a money rule is.
async fn each_request_passes_its_own_gate_inside_a_batch(backend: Backend) {
    let mut settings = GROUPED.to_vec();
    settings.extend([("limits.money_requests_per_window", "5"), ("limits.money_requests_window_secs", "86400")]);
    let app = TestApp::spawn_with(backend, &settings).await;
    let admin = app.admin_token("root_admin").await;
    let ann = app.user_token("ann_gated").await;
    let bob = app.user_token("bob_gated").await;
    let cat = app.user_token("cat_gated").await;
    let res = app.client.post(app.url("/v1/auth/logout-all")).bearer_auth(&bob).send().await.unwrap();
    assert_eq!(res.status(), StatusCode::NO_CONTENT);

    let one = json!({"amount": "1.00"});
    let mut sends = Vec::new();
    for n in 0..12 {
        sends.push(app.post_money("/v1/wallet/deposits", &ann, &one));
        if n % 3 == 0 {
            sends.push(app.post_money("/v1/wallet/deposits", &bob, &one));
            // cat has nothing to withdraw: refused by the rule, after the gate passed.
            sends.push(app.post_money("/v1/wallet/withdrawals", &cat, &one));
        }
    }
    let mut answers: Vec<(u16, String)> = Vec::new();
    for res in futures_util::future::join_all(sends).await {
        let status = res.status().as_u16();
        let body: Value = res.json().await.unwrap();
        answers.push((status, body["code"].as_str().unwrap_or("created").to_owned()));
    }
    let count = |status: u16, code: &str| answers.iter().filter(|(s, c)| *s == status && c == code).count();
    assert_eq!(count(201, "created"), 5, "{answers:?}");
    assert_eq!(count(429, "rate_limited"), 7, "{answers:?}");
    assert_eq!(count(401, "unauthorized"), 4, "{answers:?}");
    assert_eq!(count(422, "insufficient_funds"), 4, "{answers:?}");
    assert_eq!(answers.len(), 20);

    assert_eq!(app.account(&ann).await["wallet"]["balance"], "5.00");
    assert_eq!(used(&app, &ann).await, 5, "requests past the budget are not counted");
    assert_eq!(used(&app, &cat).await, 4, "requests refused by a money rule are");
    let bob = app.login("bob_gated").await["access_token"].as_str().unwrap().to_owned();
    assert_eq!(used(&app, &bob).await, 0, "requests of an ended session are not");
    assert_eq!(app.account(&bob).await["wallet"]["balance"], "0.00");
    let res = app.post_money("/v1/wallet/deposits", &ann, &one).await;
    assert_problem(res, 429, "rate_limited").await;
    app.assert_ledger_clean(&admin).await;
}

async fn used(app: &TestApp, token: &str) -> Value {
    let res = app.get_as("/v1/me/limits", token).await;
    res.json::<Value>().await.unwrap()["money_requests"]["used"].clone()
}
