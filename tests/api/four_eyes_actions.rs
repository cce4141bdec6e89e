//! Four eyes beyond credit lines (issue 27, finding 8): refunds past
//! `credit.refund_four_eyes_limit` (a purchase's total, or one admin's day with one buyer) or
//! of a staff member's purchase, and freezing or unfreezing a staff member, wait for a second
//! admin in the credit-request queue.

use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::four_eyes::{audit, decide, list, user_id};
use crate::helpers::{Backend, TestApp, assert_problem};
use crate::on_both_backends;

on_both_backends!(
    large_refunds_wait_for_a_second_admin,
    refunds_sliced_over_purchases_wait_for_a_second_admin,
    refunds_of_a_staff_members_purchase_wait_for_a_second_admin,
    freezing_or_unfreezing_an_admin_waits_for_a_second_admin,
    stale_or_empty_status_requests_change_nothing,
    racing_approvals_of_a_refund_refund_once,
);

async fn refund(app: &TestApp, admin: &str, purchase: &str, key: &str, amount: &str) -> reqwest::Response {
    let path = format!("/v1/admin/purchases/{purchase}/refunds");
    let body = json!({"amount": amount, "reason": "merchant notice"});
    app.client.post(app.url(&path)).bearer_auth(admin).header("idempotency-key", key).json(&body).send().await.unwrap()
}

/// `token` locks `amount` and buys it on the secured line; answers the purchase id.
async fn bought(app: &TestApp, admin: &str, token: &str, amount: &str) -> String {
    app.deposit(token, amount).await;
    assert_eq!(app.post_money("/v1/vault/lock", token, &json!({"amount": amount})).await.status(), 201);
    let shop = crate::credit::merchant(app, admin, &format!("Shop {}", uuid::Uuid::new_v4().simple())).await;
    let res = crate::credit::buy(app, token, &shop, amount, 3).await;
    assert_eq!(res.status(), StatusCode::CREATED);
    let id = res.json::<Value>().await.unwrap()["id"].as_str().unwrap().to_owned();
    assert_eq!(crate::credit::confirm(app, token, &id).await.status(), StatusCode::OK);
    id
}

async fn refunded(app: &TestApp, token: &str, purchase: &str) -> String {
    let p: Value = app.get_as(&format!("/v1/credit/purchases/{purchase}"), token).await.json().await.unwrap();
    p["refunded"].as_str().unwrap().to_owned()
}

/// Issue 27, finding 8: one admin refunded any amount alone. Above
/// `credit.refund_four_eyes_limit` (10000.00 by default) a refund is a request that another
/// admin approves; at or below it, one admin's refund applies at once.
async fn large_refunds_wait_for_a_second_admin(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let (alice, bob) = (app.admin_token("alice_admin").await, app.admin_token("bob_admin").await);
    let ann = app.user_token("ann_lee").await;
    let purchase = bought(&app, &alice, &ann, "12000.00").await;

    let res = refund(&app, &alice, &purchase, "big", "10500.00").await;
    assert_eq!(res.status(), StatusCode::ACCEPTED);
    let pending: Value = res.json().await.unwrap();
    let id = pending["request_id"].as_str().unwrap().to_owned();
    assert_eq!(refunded(&app, &ann, &purchase).await, "0.00", "nothing moved yet");
    let replay = refund(&app, &alice, &purchase, "big", "10500.00").await;
    assert_eq!(replay.status(), StatusCode::ACCEPTED, "a retry answers the same request");
    assert_eq!(replay.json::<Value>().await.unwrap()["request_id"], id.as_str());
    let listed = list(&app, &bob, "?state=pending").await;
    assert_eq!(listed["items"][0]["kind"], "refund");
    assert_eq!(listed["items"][0]["amount"], "10500.00");
    assert_eq!(listed["items"][0]["purchase_id"], purchase.as_str());
    assert_eq!(listed["items"][0]["line"], Value::Null);
    assert_problem(decide(&app, &alice, &id, "approve", "mine").await, 403, "forbidden").await;
    assert_eq!(decide(&app, &bob, &id, "approve", "notice checked").await.status(), StatusCode::OK);
    assert_eq!(refunded(&app, &ann, &purchase).await, "10500.00");
    assert_problem(decide(&app, &bob, &id, "approve", "again").await, 409, "invalid_state").await;

    // Past the limit in total, every further slice waits too; an amount past what is left is
    // refused as it would be directly, and no request is written.
    assert_eq!(refund(&app, &alice, &purchase, "slice", "1.00").await.status(), StatusCode::ACCEPTED);
    assert_problem(refund(&app, &alice, &purchase, "too-much", "1500.01").await, 422, "invalid_amount").await;
    assert_eq!(list(&app, &bob, "?state=pending").await["items"].as_array().unwrap().len(), 1);

    // Up to the limit in total, one admin's refunds apply at once.
    let small = bought(&app, &alice, &ann, "10000.00").await;
    assert_eq!(refund(&app, &alice, &small, "half", "5000.00").await.status(), StatusCode::CREATED);
    assert_eq!(refund(&app, &alice, &small, "rest", "5000.00").await.status(), StatusCode::CREATED);
    assert_eq!(refunded(&app, &ann, &small).await, "10000.00");
    let entries = audit(&app, &bob, &purchase).await;
    let refunds: Vec<&Value> = entries.iter().filter(|e| e["action"] == "purchase.refund").collect();
    assert_eq!(refunds.len(), 1, "{entries:?}");
    assert_eq!(refunds[0]["details"]["request_id"], id.as_str(), "the approved refund names its request");
    assert_eq!(refunds[0]["actor_id"], user_id(&app, &bob).await, "applied by the approver");
    app.assert_ledger_clean(&alice).await;
}

/// Any refund of a staff member's purchase waits for a second admin, and the staff member
/// can never decide it.
async fn refunds_of_a_staff_members_purchase_wait_for_a_second_admin(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let (alice, bob) = (app.admin_token("alice_admin").await, app.admin_token("bob_admin").await);
    let purchase = bought(&app, &alice, &bob, "30.00").await;
    let res = refund(&app, &alice, &purchase, "staff", "10.00").await;
    assert_eq!(res.status(), StatusCode::ACCEPTED);
    let id = res.json::<Value>().await.unwrap()["request_id"].as_str().unwrap().to_owned();
    assert_problem(decide(&app, &bob, &id, "approve", "my own").await, 403, "forbidden").await;
    assert_eq!(refunded(&app, &bob, &purchase).await, "0.00");
    let carol = app.admin_token("carol_admin").await;
    assert_eq!(decide(&app, &carol, &id, "approve", "checked").await.status(), StatusCode::OK);
    assert_eq!(refunded(&app, &bob, &purchase).await, "10.00");
    app.assert_ledger_clean(&alice).await;
}

/// Issue 27, finding 8: one admin froze another alone. Now freezing or unfreezing a staff
/// member waits for a second admin (who is not the one frozen); a customer is frozen at once.
async fn freezing_or_unfreezing_an_admin_waits_for_a_second_admin(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let (alice, bob) = (app.admin_token("alice_admin").await, app.admin_token("bob_admin").await);
    let bob_id = user_id(&app, &bob).await;
    let set = |to: &'static str, by: String| {
        let (app, path) = (&app, format!("/v1/admin/users/{bob_id}/{to}"));
        async move { app.post_as_admin(&path, &by, &json!({"reason": "check"})).await }
    };
    let res = set("freeze", alice.clone()).await;
    assert_eq!(res.status(), StatusCode::ACCEPTED);
    let id = res.json::<Value>().await.unwrap()["request_id"].as_str().unwrap().to_owned();
    assert_eq!(app.get_as("/v1/admin/users", &bob).await.status(), StatusCode::OK, "still an admin");
    assert_eq!(list(&app, &alice, "?state=pending").await["items"][0]["kind"], "freeze");
    assert_problem(decide(&app, &bob, &id, "approve", "fine").await, 403, "forbidden").await;
    let carol = app.admin_token("carol_admin").await;
    assert_eq!(decide(&app, &carol, &id, "approve", "compromised").await.status(), StatusCode::OK);
    assert_problem(app.get_as("/v1/admin/users", &bob).await, 401, "unauthorized").await;

    let res = set("unfreeze", alice.clone()).await;
    assert_eq!(res.status(), StatusCode::ACCEPTED, "giving powers back waits too");
    let id = res.json::<Value>().await.unwrap()["request_id"].as_str().unwrap().to_owned();
    assert_eq!(decide(&app, &carol, &id, "approve", "cleared").await.status(), StatusCode::OK);
    let fresh = app.login("bob_admin").await["access_token"].as_str().unwrap().to_owned();
    assert_eq!(app.get_as("/v1/admin/users", &fresh).await.status(), StatusCode::OK);
    app.assert_ledger_clean(&alice).await;

    let ann = app.user_token("ann_lee").await;
    let ann_id = user_id(&app, &ann).await;
    let res = app.post_as_admin(&format!("/v1/admin/users/{ann_id}/freeze"), &alice, &json!({"reason": "fraud"})).await;
    assert_eq!(res.status(), StatusCode::OK, "a customer is frozen at once");
}

/// One admin's refunds to one buyer count together over a day: 6,000 on each of two
/// purchases passes the 10,000 limit, so the second waits.
async fn refunds_sliced_over_purchases_wait_for_a_second_admin(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let (alice, bob) = (app.admin_token("alice_admin").await, app.admin_token("bob_admin").await);
    let ann = app.user_token("ann_lee").await;
    let first = bought(&app, &alice, &ann, "6000.00").await;
    let second = bought(&app, &alice, &ann, "6000.00").await;
    assert_eq!(refund(&app, &alice, &first, "one", "6000.00").await.status(), StatusCode::CREATED);
    assert_eq!(refund(&app, &alice, &second, "two", "6000.00").await.status(), StatusCode::ACCEPTED);
    assert_eq!(refunded(&app, &ann, &second).await, "0.00");
    // Another admin's own day with the buyer starts afresh.
    assert_eq!(refund(&app, &bob, &second, "bob", "4000.00").await.status(), StatusCode::CREATED);
    app.assert_ledger_clean(&alice).await;
}

/// A request that would change nothing is refused at once; one made stale by a decision
/// since (a second freeze click) is refused at approval, so it never reverses anything.
async fn stale_or_empty_status_requests_change_nothing(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let (alice, carol) = (app.admin_token("alice_admin").await, app.admin_token("carol_admin").await);
    let bob = app.admin_token("bob_admin").await;
    let bob_id = user_id(&app, &bob).await;
    let ask = |to: &'static str| {
        let (app, alice, path) = (&app, &alice, format!("/v1/admin/users/{bob_id}/{to}"));
        async move { app.post_as_admin(&path, alice, &json!({"reason": "check"})).await }
    };
    assert_problem(ask("unfreeze").await, 409, "invalid_state").await;
    let first = ask("freeze").await.json::<Value>().await.unwrap()["request_id"].as_str().unwrap().to_owned();
    let again = ask("freeze").await.json::<Value>().await.unwrap()["request_id"].as_str().unwrap().to_owned();
    assert_eq!(decide(&app, &carol, &first, "approve", "compromised").await.status(), StatusCode::OK);
    assert_problem(decide(&app, &carol, &again, "approve", "again").await, 409, "invalid_state").await;
    assert_eq!(list(&app, &carol, "?state=pending").await["items"][0]["id"], again.as_str(), "still pending");
    assert_problem(ask("freeze").await, 409, "invalid_state").await;
    let frozen = app.get_as(&format!("/v1/admin/users/{bob_id}"), &carol).await.json::<Value>().await.unwrap();
    assert_eq!(frozen["user"]["status"], "frozen");
    app.assert_ledger_clean(&alice).await;
}

/// Two admins approve one refund request at the same moment, while the buyer repays: the
/// refund is applied exactly once, in one entry, and the ledger stays clean. Three rounds.
async fn racing_approvals_of_a_refund_refund_once(backend: Backend) {
    let app = TestApp::spawn_with(backend, &[("server.workers", "4"), ("database.pool_size", "12")]).await;
    let alice = app.admin_token("alice_admin").await;
    let (bob, carol) = (app.admin_token("bob_admin").await, app.admin_token("carol_admin").await);
    let ann = app.user_token("ann_lee").await;
    app.deposit(&ann, "100.00").await;
    for round in 0..3 {
        let purchase = bought(&app, &alice, &ann, "12000.00").await;
        let res = refund(&app, &alice, &purchase, &format!("race-{round}"), "10001.00").await;
        assert_eq!(res.status(), StatusCode::ACCEPTED, "round {round}");
        let id = res.json::<Value>().await.unwrap()["request_id"].as_str().unwrap().to_owned();
        let one = json!({"amount": "1.00"});
        let repay = app.post_money("/v1/credit/repayments", &ann, &one);
        let (a, b, paid) =
            tokio::join!(decide(&app, &bob, &id, "approve", "a"), decide(&app, &carol, &id, "approve", "b"), repay);
        assert_eq!(paid.status(), StatusCode::CREATED, "round {round}: the buyer's repayment goes through");
        let mut statuses = [a.status().as_u16(), b.status().as_u16()];
        statuses.sort_unstable();
        assert_eq!(statuses, [200, 409], "round {round}");
        assert_eq!(refunded(&app, &ann, &purchase).await, "10001.00", "round {round}: applied once");
        let entries = audit(&app, &alice, &purchase).await;
        assert_eq!(entries.iter().filter(|e| e["action"] == "purchase.refund").count(), 1, "round {round}");
    }
    app.assert_ledger_clean(&alice).await;
}
