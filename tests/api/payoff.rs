//! Paying one purchase off early, with exact amounts: the quote (unpaid principal, billed
//! fees; unbilled fees are not charged), the payment of exactly the quote in one entry, the
//! other purchases untouched, the pledge shrinking, a stale quote answered with the new one,
//! refusals, and two payoffs racing.

use futures_util::future::join_all;
use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::credit::{bill_as_of, buy, days, first_due};
use crate::credit_life::{Setup, bought, credit, setup};
use crate::helpers::{Backend, assert_problem};
use crate::on_both_backends;

on_both_backends!(
    paying_off_one_purchase_of_three_leaves_the_other_two_untouched,
    payoff_refusals_change_nothing,
    two_payoffs_racing_pay_once
);

fn path(id: &str) -> String {
    format!("/v1/credit/purchases/{id}/payoff")
}

async fn quote(s: &Setup, token: &str, id: &str) -> Value {
    let res = s.app.get_as(&path(id), token).await;
    assert_eq!(res.status(), StatusCode::OK);
    res.json().await.unwrap()
}

async fn pay_off(s: &Setup, token: &str, id: &str, key: &str, amount: &str) -> reqwest::Response {
    s.app.post_keyed(&path(id), token, key, &json!({"amount": amount})).await
}

fn column(purchase: &Value, field: &str) -> Vec<String> {
    purchase["schedule"].as_array().unwrap().iter().map(|p| p[field].as_str().unwrap().to_owned()).collect()
}

async fn purchase(s: &Setup, id: &str) -> Value {
    s.app.get_as(&format!("/v1/credit/purchases/{id}"), &s.ann).await.json().await.unwrap()
}

async fn paying_off_one_purchase_of_three_leaves_the_other_two_untouched(backend: Backend) {
    let s = setup(backend, "3000.00", "1500.00").await;
    let first = bought(&s, "300.00", 3).await;
    let second = bought(&s, "600.00", 3).await;
    let third = bought(&s, "120.00", 1).await;
    // The first parts' fees are billed: 0.50 on the first purchase, 1.00 on the second.
    bill_as_of(&s.app, &s.admin, first_due() - days(10)).await;
    let (first_before, third_before) = (purchase(&s, &first).await, purchase(&s, &third).await);
    assert_eq!(credit(&s).await, ("1500.00".into(), "1020.00".into(), "1.50".into(), "1500.00".into()));

    // 600.00 of principal and the billed 1.00; the two fees not billed yet are not charged.
    let q = quote(&s, &s.ann, &second).await;
    assert_eq!(q["amount"], "601.00");
    assert!(q["as_of"].as_str().unwrap().ends_with('Z'), "{q}");
    assert_eq!(quote(&s, &s.ann, &first).await["amount"], "300.50");
    assert_eq!(quote(&s, &s.ann, &third).await["amount"], "120.00");

    // Not the quote: 409 naming the quote, nothing paid.
    let stale = assert_problem(pay_off(&s, &s.ann, &second, "stale", "600.00").await, 409, "invalid_state").await;
    assert!(stale["detail"].as_str().unwrap().contains("601.00"), "{stale}");
    assert_eq!(credit(&s).await.0, "1500.00");

    let res = pay_off(&s, &s.ann, &second, "payoff-1", "601.00").await;
    assert_eq!(res.status(), StatusCode::CREATED);
    let movement: Value = res.json().await.unwrap();
    assert_eq!((movement["kind"].as_str(), movement["amount"].as_str()), (Some("repayment"), Some("601.00")));
    let p = purchase(&s, &second).await;
    assert_eq!(column(&p, "state"), ["paid", "paid", "paid"]);
    assert_eq!(column(&p, "fee"), ["1.00", "0.00", "0.00"]);
    assert_eq!(column(&p, "paid"), ["201.00", "200.00", "200.00"]);
    // The other two are as they were; what is owed is theirs alone.
    assert_eq!(purchase(&s, &first).await, first_before);
    assert_eq!(purchase(&s, &third).await, third_before);
    assert_eq!(credit(&s).await, ("899.00".into(), "420.00".into(), "0.50".into(), "1500.00".into()));
    // The vault pledges that much less: 1500.00 - 420.50.
    let account = s.app.account(&s.ann).await;
    assert_eq!(
        (account["vault"]["pledged"].as_str(), account["vault"]["unlockable"].as_str()),
        (Some("420.50"), Some("1079.50"))
    );
    assert_eq!(quote(&s, &s.ann, &second).await["amount"], "0.00");

    // A retried click pays once; a new key finds nothing to pay.
    let again = pay_off(&s, &s.ann, &second, "payoff-1", "601.00").await;
    assert_eq!(again.status(), StatusCode::CREATED);
    assert_eq!(again.headers()["idempotent-replayed"], "true");
    assert_problem(pay_off(&s, &s.ann, &second, "payoff-2", "601.00").await, 422, "nothing_to_repay").await;
    assert_eq!(credit(&s).await.0, "899.00");
    let repayments = s.app.all_movements(&s.ann, 50).await.iter().filter(|m| m["kind"] == "repayment").count();
    assert_eq!(repayments, 1);
    s.app.assert_ledger_clean(&s.admin).await;
}

async fn payoff_refusals_change_nothing(backend: Backend) {
    let s = setup(backend, "200.00", "100.00").await;
    let id = bought(&s, "90.00", 1).await;
    let bob = s.app.user_token("bob_payoff").await;
    // Another customer's purchase, or none at all, is not found, quoted or paid.
    assert_problem(s.app.get_as(&path(&id), &bob).await, 404, "not_found").await;
    assert_problem(pay_off(&s, &bob, &id, "k-bob", "90.00").await, 404, "not_found").await;
    let unknown = uuid::Uuid::now_v7().to_string();
    assert_problem(pay_off(&s, &s.ann, &unknown, "k-none", "90.00").await, 404, "not_found").await;
    // Bad amounts and a missing key.
    for bad in [json!({"amount": "0.00"}), json!({"amount": "-90.00"}), json!({"amount": "1.001"})] {
        assert_problem(s.app.post_keyed(&path(&id), &s.ann, "k-bad", &bad).await, 422, "invalid_amount").await;
    }
    let res = s.app.client.post(s.app.url(&path(&id))).bearer_auth(&s.ann).json(&json!({"amount": "90.00"}));
    assert_problem(res.send().await.unwrap(), 400, "idempotency_key_required").await;
    // A hold is not owed yet: nothing to pay off.
    let res = buy(&s.app, &s.ann, &s.shop, "5.00", 1).await;
    let hold = res.json::<Value>().await.unwrap()["id"].as_str().unwrap().to_owned();
    assert_eq!(quote(&s, &s.ann, &hold).await["amount"], "0.00");
    assert_problem(pay_off(&s, &s.ann, &hold, "k-hold", "5.00").await, 422, "nothing_to_repay").await;
    // Short of money: 10.00 in the wallet for 90.00.
    s.app.post_money("/v1/wallet/withdrawals", &s.ann, &json!({"amount": "90.00"})).await.error_for_status().unwrap();
    let short = assert_problem(pay_off(&s, &s.ann, &id, "k-short", "90.00").await, 422, "insufficient_funds").await;
    assert!(short["detail"].as_str().unwrap().contains("10.00"), "{short}");
    assert_eq!(credit(&s).await, ("10.00".into(), "90.00".into(), "0.00".into(), "100.00".into()));

    // A frozen customer may still pay off what they owe.
    let me: Value = s.app.get_as("/v1/me", &s.ann).await.json().await.unwrap();
    let target = me["id"].as_str().unwrap();
    let freeze = format!("/v1/admin/users/{target}/freeze");
    let frozen = s.app.post_as_admin(&freeze, &s.admin, &json!({"reason": "review"})).await;
    assert_eq!(frozen.status(), StatusCode::OK);
    s.app.deposit(&s.ann, "80.00").await;
    assert_eq!(pay_off(&s, &s.ann, &id, "k-frozen", "90.00").await.status(), StatusCode::CREATED);
    assert_eq!(credit(&s).await, ("0.00".into(), "0.00".into(), "0.00".into(), "100.00".into()));
    s.app.assert_ledger_clean(&s.admin).await;
}

async fn two_payoffs_racing_pay_once(backend: Backend) {
    let s = setup(backend, "1000.00", "500.00").await;
    let id = bought(&s, "300.00", 3).await;
    let racing = (0..2).map(|i| pay_off(&s, &s.ann, &id, if i == 0 { "race-a" } else { "race-b" }, "300.00"));
    let mut statuses: Vec<u16> = join_all(racing).await.iter().map(|r| r.status().as_u16()).collect();
    statuses.sort_unstable();
    assert_eq!(statuses, [201, 422]);
    assert_eq!(credit(&s).await, ("200.00".into(), "0.00".into(), "0.00".into(), "500.00".into()));
    s.app.assert_ledger_clean(&s.admin).await;
}
