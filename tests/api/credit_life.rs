//! The rest of the credit life, with exact amounts: merchant refunds (partial, full within
//! the free-return window, past what is owed, of a hold), autopay from the wallet then the
//! vault on the due date, and refunds racing repayments and billing.

use futures_util::future::join_all;
use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::credit::{bill_as_of, buy, confirm, days, first_due, merchant};
use crate::helpers::{Backend, TestApp, assert_problem};
use crate::on_both_backends;

on_both_backends!(
    a_partial_refund_shrinks_the_last_parts_and_rebates_their_fees,
    a_full_free_return_returns_every_fee_and_leaves_nothing_owed,
    after_the_free_return_window_billed_fees_stay,
    a_refund_past_what_is_owed_comes_back_to_the_wallet,
    refunds_of_holds_voided_and_unknown_purchases,
    autopay_pays_the_due_bill_from_wallet_then_vault,
    autopay_pays_what_it_can_and_the_rest_turns_overdue,
    autopay_settings_are_validated,
    refunds_race_repayments_and_billing,
    a_due_bill_converts_into_installments_once,
    a_bill_past_its_due_date_is_not_converted,
    a_free_return_after_a_conversion_returns_the_converted_principal,
    an_admin_cannot_refund_their_own_purchase,
    conversions_race_repayments_and_billing
);

pub(crate) struct Setup {
    pub(crate) app: TestApp,
    pub(crate) admin: String,
    pub(crate) ann: String,
    pub(crate) shop: String,
}

/// Ann with `deposit` in her wallet, `vault` of it locked (her secured limit).
pub(crate) async fn setup(backend: Backend, deposit: &str, vault: &str) -> Setup {
    let app = TestApp::spawn_with(backend, &[("credit.billing_job_enabled", "false")]).await;
    let admin = app.admin_token("life_admin").await;
    let shop = merchant(&app, &admin, "Life Shop").await;
    let ann = app.user_token("ann_life").await;
    app.deposit(&ann, deposit).await;
    if vault != "0.00" {
        let res = app.post_money("/v1/vault/lock", &ann, &json!({"amount": vault})).await;
        assert_eq!(res.status(), StatusCode::CREATED);
    }
    Setup { app, admin, ann, shop }
}

/// Buys and confirms receipt; answers the purchase id.
pub(crate) async fn bought(s: &Setup, amount: &str, parts: u32) -> String {
    let res = buy(&s.app, &s.ann, &s.shop, amount, parts).await;
    assert_eq!(res.status(), StatusCode::CREATED);
    let id = res.json::<Value>().await.unwrap()["id"].as_str().unwrap().to_owned();
    assert_eq!(confirm(&s.app, &s.ann, &id).await.status(), StatusCode::OK);
    id
}

pub(crate) async fn refund(s: &Setup, id: &str, key: &str, amount: &str) -> reqwest::Response {
    s.app
        .client
        .post(s.app.url(&format!("/v1/admin/purchases/{id}/refunds")))
        .bearer_auth(&s.admin)
        .header("idempotency-key", key)
        .json(&json!({"amount": amount, "reason": "The merchant's refund notice"}))
        .send()
        .await
        .unwrap()
}

fn column<'a>(purchase: &'a Value, field: &str) -> Vec<&'a str> {
    purchase["schedule"].as_array().unwrap().iter().map(|p| p[field].as_str().unwrap()).collect()
}

/// (wallet, principal owed, fees owed, vault)
pub(crate) async fn credit(s: &Setup) -> (String, String, String, String) {
    let account = s.app.account(&s.ann).await;
    let text = |v: &Value| v.as_str().unwrap().to_owned();
    (
        text(&account["wallet"]["balance"]),
        text(&account["credit"]["principal"]),
        text(&account["credit"]["fees"]),
        text(&account["vault"]["balance"]),
    )
}

async fn a_partial_refund_shrinks_the_last_parts_and_rebates_their_fees(backend: Backend) {
    let s = setup(backend, "2000.00", "1500.00").await;
    let id = bought(&s, "1200.00", 12).await;
    let res = refund(&s, &id, "refund-1", "250.50").await;
    assert_eq!(res.status(), StatusCode::CREATED);
    let p: Value = res.json().await.unwrap();
    assert_eq!((p["state"].as_str(), p["refunded"].as_str()), (Some("captured"), Some("250.50")));
    assert_eq!(p["refunds"][0]["amount"], "250.50");
    assert_eq!(p["refunds"][0]["reason"], "The merchant's refund notice");
    // The last two parts are gone, the tenth shrinks; unbilled fees follow (0.5% of 49.50
    // is 0.2475, half-even 0.25).
    let mut principal = vec!["100.00"; 9];
    principal.extend(["49.50", "0.00", "0.00"]);
    assert_eq!(column(&p, "principal"), principal);
    let mut fees = vec!["0.50"; 9];
    fees.extend(["0.25", "0.00", "0.00"]);
    assert_eq!(column(&p, "fee"), fees);
    assert_eq!(&column(&p, "state")[9..], ["pending", "paid", "paid"]);
    assert_eq!(credit(&s).await, ("500.00".into(), "949.50".into(), "0.00".into(), "1500.00".into()));
    let latest = &s.app.all_movements(&s.ann, 10).await[0];
    assert_eq!((latest["kind"].as_str(), latest["amount"].as_str()), (Some("refund"), Some("250.50")));

    // A retried click refunds once.
    let again = refund(&s, &id, "refund-1", "250.50").await;
    assert_eq!(again.status(), StatusCode::CREATED);
    assert_eq!(again.headers()["idempotent-replayed"], "true");
    assert_eq!(again.json::<Value>().await.unwrap(), p);
    assert_eq!(credit(&s).await.1, "949.50");
    // Never past what is left (949.50), and only by an admin, with a key.
    assert_problem(refund(&s, &id, "refund-2", "949.51").await, 422, "invalid_amount").await;
    let path = format!("/v1/admin/purchases/{id}/refunds");
    let body = json!({"amount": "1.00", "reason": "x"});
    let res = s.app.client.post(s.app.url(&path)).bearer_auth(&s.ann).header("idempotency-key", "k").json(&body);
    assert_problem(res.send().await.unwrap(), 403, "forbidden").await;
    let res = s.app.post_as_admin(&path, &s.admin, &body).await;
    assert_problem(res, 400, "idempotency_key_required").await;
    assert_eq!(credit(&s).await.1, "949.50");
    s.app.assert_ledger_clean(&s.admin).await;
}

async fn a_full_free_return_returns_every_fee_and_leaves_nothing_owed(backend: Backend) {
    let s = setup(backend, "1000.00", "600.00").await;
    let id = bought(&s, "300.00", 3).await;
    bill_as_of(&s.app, &s.admin, first_due() - days(10)).await;
    // The first part's fee (0.50) is billed; 50.00 pays it and 49.50 of principal.
    let res = s.app.post_money("/v1/credit/repayments", &s.ann, &json!({"amount": "50.00"})).await;
    assert_eq!(res.status(), StatusCode::CREATED);
    assert_eq!(credit(&s).await, ("350.00".into(), "250.50".into(), "0.00".into(), "600.00".into()));

    let res = refund(&s, &id, "full", "300.00").await;
    assert_eq!(res.status(), StatusCode::CREATED);
    let p: Value = res.json().await.unwrap();
    assert_eq!((p["state"].as_str(), p["refunded"].as_str()), (Some("refunded"), Some("300.00")));
    assert_eq!(column(&p, "state"), ["paid", "paid", "paid"]);
    assert_eq!(column(&p, "fee"), ["0.00", "0.00", "0.00"]);
    // Everything repaid comes back: 49.50 of principal and the 0.50 fee.
    assert_eq!(credit(&s).await, ("400.00".into(), "0.00".into(), "0.00".into(), "600.00".into()));
    let bill: Value = s.app.get_as("/v1/credit/bill", &s.ann).await.json().await.unwrap();
    assert_eq!((bill["due"].as_array().unwrap().len(), bill["overdue"].as_array().unwrap().len()), (0, 0));
    assert_problem(refund(&s, &id, "more", "0.01").await, 422, "invalid_amount").await;
    s.app.assert_ledger_clean(&s.admin).await;
}

async fn after_the_free_return_window_billed_fees_stay(backend: Backend) {
    let s = setup(backend, "1000.00", "600.00").await;
    let id = bought(&s, "300.00", 3).await;
    bill_as_of(&s.app, &s.admin, first_due() - days(10)).await;
    s.app.execute_sql(&format!("UPDATE purchases SET captured_at = '2000-01-01 00:00:00' WHERE id = '{id}'"));
    let res = refund(&s, &id, "late", "300.00").await;
    assert_eq!(res.status(), StatusCode::CREATED);
    assert_eq!(res.json::<Value>().await.unwrap()["state"], "refunded");
    // The principal is gone; the fee billed before the refund is still owed.
    assert_eq!(credit(&s).await, ("400.00".into(), "0.00".into(), "0.50".into(), "600.00".into()));
    let res = s.app.post_money("/v1/credit/repayments", &s.ann, &json!({"amount": "0.50"})).await;
    assert_eq!(res.status(), StatusCode::CREATED);
    assert_eq!(credit(&s).await.2, "0.00");
    s.app.assert_ledger_clean(&s.admin).await;
}

async fn a_refund_past_what_is_owed_comes_back_to_the_wallet(backend: Backend) {
    let s = setup(backend, "1000.00", "600.00").await;
    let id = bought(&s, "300.00", 3).await;
    // Nothing billed yet: 150.00 repays the first part and half the second.
    let res = s.app.post_money("/v1/credit/repayments", &s.ann, &json!({"amount": "150.00"})).await;
    assert_eq!(res.status(), StatusCode::CREATED);
    let res = refund(&s, &id, "r1", "200.00").await;
    assert_eq!(res.status(), StatusCode::CREATED);
    let p: Value = res.json().await.unwrap();
    // 150.00 owed is cut; the other 50.00 was repaid, so it comes back.
    assert_eq!(credit(&s).await, ("300.00".into(), "0.00".into(), "0.00".into(), "600.00".into()));
    assert_eq!(column(&p, "principal"), ["100.00", "0.00", "0.00"]);
    assert_eq!(column(&p, "paid"), ["100.00", "0.00", "0.00"]);
    assert_eq!(column(&p, "state"), ["paid", "paid", "paid"]);
    // The rest (100.00) was repaid in full: it all comes back, and the purchase is refunded.
    let res = refund(&s, &id, "r2", "100.00").await;
    assert_eq!(res.json::<Value>().await.unwrap()["state"], "refunded");
    assert_eq!(credit(&s).await.0, "400.00");
    let kinds: Vec<Value> = s.app.all_movements(&s.ann, 10).await.iter().take(2).map(|m| m["amount"].clone()).collect();
    assert_eq!(kinds, [json!("100.00"), json!("200.00")]);
    s.app.assert_ledger_clean(&s.admin).await;
}

async fn refunds_of_holds_voided_and_unknown_purchases(backend: Backend) {
    let s = setup(backend, "100.00", "100.00").await;
    let res = buy(&s.app, &s.ann, &s.shop, "40.00", 3).await;
    let id = res.json::<Value>().await.unwrap()["id"].as_str().unwrap().to_owned();
    // A hold is refunded whole, which voids it.
    assert_problem(refund(&s, &id, "part", "10.00").await, 422, "invalid_amount").await;
    let res = refund(&s, &id, "whole", "40.00").await;
    assert_eq!(res.status(), StatusCode::CREATED);
    assert_eq!(res.json::<Value>().await.unwrap()["state"], "voided");
    assert_eq!(s.app.account(&s.ann).await["credit"]["held"], "0.00");
    assert_problem(refund(&s, &id, "again", "40.00").await, 409, "invalid_state").await;
    let unknown = uuid::Uuid::now_v7();
    assert_problem(refund(&s, &unknown.to_string(), "nope", "1.00").await, 404, "not_found").await;
    assert_problem(refund(&s, &id, "bad", "-1.00").await, 422, "invalid_amount").await;
    // Every other wrong body is refused whole, and nothing is written.
    let captured = bought(&s, "20.00", 1).await;
    let path = format!("/v1/admin/purchases/{captured}/refunds");
    for (i, (body, code)) in [
        (json!({"amount": "1.00", "reason": ""}), "validation_error"),
        (json!({"amount": "1.00", "reason": " padded "}), "validation_error"),
        (json!({"amount": "1.00"}), "validation_error"),
        (json!({"amount": 1, "reason": "r"}), "invalid_amount"),
        (json!({"amount": "1.001", "reason": "r"}), "invalid_amount"),
        (json!({"amount": "1.00", "reason": "r", "extra": true}), "validation_error"),
    ]
    .into_iter()
    .enumerate()
    {
        let req = s.app.client.post(s.app.url(&path)).bearer_auth(&s.admin).header("idempotency-key", format!("w{i}"));
        assert_problem(req.json(&body).send().await.unwrap(), 422, code).await;
    }
    let p: Value = s.app.get_as(&format!("/v1/credit/purchases/{captured}"), &s.ann).await.json().await.unwrap();
    assert_eq!((p["refunded"].as_str(), p["refunds"].as_array().unwrap().len()), (Some("0.00"), 0));
    s.app.assert_ledger_clean(&s.admin).await;
}

async fn set_autopay(s: &Setup, body: &Value) -> reqwest::Response {
    s.app.client.put(s.app.url("/v1/me/autopay")).bearer_auth(&s.ann).json(body).send().await.unwrap()
}

async fn autopay_pays_the_due_bill_from_wallet_then_vault(backend: Backend) {
    let s = setup(backend, "100.00", "90.00").await;
    bought(&s, "90.00", 3).await;
    let body = json!({"enabled": true, "sources": ["wallet", "vault"]});
    let res = set_autopay(&s, &body).await;
    assert_eq!(res.status(), StatusCode::OK);
    assert_eq!(res.json::<Value>().await.unwrap(), body);
    assert_eq!(s.app.get_as("/v1/me/autopay", &s.ann).await.json::<Value>().await.unwrap(), body);

    // On the due date: 30.00 and its 0.15 fee, 10.00 from the wallet, 20.15 from the vault.
    let run = bill_as_of(&s.app, &s.admin, first_due()).await;
    assert_eq!((run["autopay_payments"].as_u64(), run["installments_overdue"].as_u64()), (Some(2), Some(0)));
    assert_eq!(credit(&s).await, ("0.00".into(), "60.00".into(), "0.00".into(), "69.85".into()));
    let latest: Vec<(Value, Value)> = s
        .app
        .all_movements(&s.ann, 10)
        .await
        .iter()
        .take(2)
        .map(|m| (m["kind"].clone(), m["amount"].clone()))
        .collect();
    assert_eq!(latest, [(json!("vault_repayment"), json!("20.15")), (json!("repayment"), json!("10.00"))]);
    let history: Value = s.app.get_as("/v1/credit/limit-history?limit=1", &s.ann).await.json().await.unwrap();
    let change = &history["items"][0];
    assert_eq!(
        (change["reason"].as_str(), change["limit_before"].as_str(), change["limit_after"].as_str()),
        (Some("autopay"), Some("90.00"), Some("69.85"))
    );
    // Nothing turns overdue the day after.
    let run = bill_as_of(&s.app, &s.admin, first_due() + days(1)).await;
    assert_eq!(run["installments_overdue"], 0);
    let bill: Value = s.app.get_as("/v1/credit/bill", &s.ann).await.json().await.unwrap();
    assert_eq!((bill["due"].as_array().unwrap().len(), bill["overdue"].as_array().unwrap().len()), (0, 0));
    s.app.assert_ledger_clean(&s.admin).await;
}

async fn autopay_pays_what_it_can_and_the_rest_turns_overdue(backend: Backend) {
    let s = setup(backend, "100.00", "90.00").await;
    bought(&s, "90.00", 3).await;
    let res = set_autopay(&s, &json!({"enabled": true, "sources": ["wallet"]})).await;
    assert_eq!(res.status(), StatusCode::OK);
    let run = bill_as_of(&s.app, &s.admin, first_due()).await;
    assert_eq!(run["autopay_payments"], 1);
    // 10.00 pays the 0.15 fee first, then 9.85 of principal.
    assert_eq!(credit(&s).await, ("0.00".into(), "80.15".into(), "0.00".into(), "90.00".into()));
    let run = bill_as_of(&s.app, &s.admin, first_due() + days(1)).await;
    assert_eq!(run["installments_overdue"], 1);
    // Turned off, it pays nothing.
    let res = set_autopay(&s, &json!({"enabled": false})).await;
    assert_eq!(res.json::<Value>().await.unwrap(), json!({"enabled": false, "sources": ["wallet"]}));
    s.app.deposit(&s.ann, "50.00").await;
    let next = first_due().checked_add_months(chrono::Months::new(1)).unwrap();
    assert_eq!(bill_as_of(&s.app, &s.admin, next).await["autopay_payments"], 0);
    s.app.assert_ledger_clean(&s.admin).await;
}

async fn autopay_settings_are_validated(backend: Backend) {
    let s = setup(backend, "10.00", "1.00").await;
    for body in [
        json!({"enabled": true, "sources": ["wallet", "wallet"]}),
        json!({"enabled": true, "sources": []}),
        json!({"enabled": true, "sources": ["bank"]}),
        json!({"enabled": "yes"}),
        json!({"sources": ["wallet"]}),
        json!({"enabled": true, "sources": ["wallet"], "extra": 1}),
    ] {
        let res = set_autopay(&s, &body).await;
        assert_eq!(res.status(), StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    }
    let unchanged: Value = s.app.get_as("/v1/me/autopay", &s.ann).await.json().await.unwrap();
    assert_eq!(unchanged, json!({"enabled": false, "sources": ["wallet"]}));
    for order in [json!(["vault"]), json!(["vault", "wallet"])] {
        let res = set_autopay(&s, &json!({"enabled": true, "sources": order})).await;
        assert_problem(res, 422, "validation_error").await;
    }
    let res = set_autopay(&s, &json!({"enabled": true, "sources": ["wallet", "vault"]})).await;
    assert_eq!(res.json::<Value>().await.unwrap()["sources"], json!(["wallet", "vault"]));
    let res = s.app.client.put(s.app.url("/v1/me/autopay")).json(&json!({"enabled": true})).send().await.unwrap();
    assert_problem(res, 401, "unauthorized").await;
}

/// Refunds, repayments and billing on one buyer at once, three rounds: every answer is a
/// success or a clean refusal, never more is refunded than captured, and the ledger and the
/// credit reconciliation stay clean.
async fn refunds_race_repayments_and_billing(backend: Backend) {
    let s = setup(backend, "3000.00", "1500.00").await;
    let id = bought(&s, "1200.00", 12).await;
    for round in 0..3 {
        let keys = [format!("a-{round}"), format!("b-{round}")];
        let refunds = [("400.00", &keys[0]), ("500.00", &keys[1])].map(|(amount, key)| refund(&s, &id, key, amount));
        let hundred = json!({"amount": "100.00"});
        let repay = s.app.post_money("/v1/credit/repayments", &s.ann, &hundred);
        let bill = bill_as_of(&s.app, &s.admin, first_due() - days(10));
        let (refunded, repaid, _) = tokio::join!(join_all(refunds), repay, bill);
        for res in refunded {
            let status = res.status();
            assert!(status == StatusCode::CREATED || status == StatusCode::UNPROCESSABLE_ENTITY, "{status}");
        }
        let status = repaid.status();
        assert!(status == StatusCode::CREATED || status == StatusCode::UNPROCESSABLE_ENTITY, "{status}");
        s.app.assert_ledger_clean(&s.admin).await;
    }
    let p: Value = s.app.get_as(&format!("/v1/credit/purchases/{id}"), &s.ann).await.json().await.unwrap();
    let refunded: Vec<&str> = p["refunds"].as_array().unwrap().iter().map(|r| r["amount"].as_str().unwrap()).collect();
    let total: f64 = refunded.iter().map(|a| a.parse::<f64>().unwrap()).sum();
    assert_eq!(format!("{total:.2}"), p["refunded"].as_str().unwrap());
    // 400.00 and 500.00 fit in the first round; after it only 300.00 is left, so every later
    // refund is refused, whichever order they ran in.
    assert_eq!(p["refunded"], "900.00", "{refunded:?}");
}

pub(crate) async fn convert(s: &Setup, parts: i64) -> reqwest::Response {
    let body = json!({"installments": parts});
    s.app.client.post(s.app.url("/v1/credit/bill/installments")).bearer_auth(&s.ann).json(&body).send().await.unwrap()
}

async fn a_due_bill_converts_into_installments_once(backend: Backend) {
    let s = setup(backend, "1000.00", "600.00").await;
    assert_problem(convert(&s, 6).await, 422, "nothing_to_repay").await;
    let id = bought(&s, "300.00", 3).await;
    bill_as_of(&s.app, &s.admin, first_due() - days(10)).await;
    for wrong in [1, 5, 0, -3, 48] {
        assert_problem(convert(&s, wrong).await, 422, "invalid_installments").await;
    }
    // The due part's principal (100.00) becomes 6 parts, 16.67 four times and 16.66 twice,
    // each with a fee of 0.08 (0.5% of 16.67 is 0.08335). Its billed 0.50 fee stays on it.
    let res = convert(&s, 6).await;
    assert_eq!(res.status(), StatusCode::CREATED);
    let plan: Value = res.json().await.unwrap();
    assert_eq!((plan["amount"].as_str(), plan["installments"].as_u64()), (Some("100.00"), Some(6)));
    assert_eq!(plan["state"], "captured");
    assert_eq!(column(&plan, "principal"), ["16.67", "16.67", "16.67", "16.67", "16.66", "16.66"]);
    assert_eq!(column(&plan, "fee"), ["0.08"; 6]);
    let first = first_due();
    let dues: Vec<String> =
        (0..6).map(|m| (first.checked_add_months(chrono::Months::new(m)).unwrap()).to_string()).collect();
    assert_eq!(column(&plan, "due_date"), dues);
    let old: Value = s.app.get_as(&format!("/v1/credit/purchases/{id}"), &s.ann).await.json().await.unwrap();
    assert_eq!(column(&old, "state"), ["converted", "pending", "pending"]);
    // Nothing owed was lost or added: 200.00 + the plan's 100.00, and the billed fee, which
    // the bill still shows on the converted part.
    assert_eq!(credit(&s).await, ("400.00".into(), "300.00".into(), "0.50".into(), "600.00".into()));
    let bill: Value = s.app.get_as("/v1/credit/bill", &s.ann).await.json().await.unwrap();
    assert_eq!((bill["due"][0]["state"].as_str(), bill["total_due"].as_str()), (Some("converted"), Some("0.50")));
    assert_problem(convert(&s, 3).await, 409, "invalid_state").await;
    // The fee is repaid like any other.
    let res = s.app.post_money("/v1/credit/repayments", &s.ann, &json!({"amount": "0.50"})).await;
    assert_eq!(res.status(), StatusCode::CREATED);
    assert_eq!(credit(&s).await.2, "0.00");
    // The plan's own first part, once billed, is not converted again.
    bill_as_of(&s.app, &s.admin, first - days(10)).await;
    assert_problem(convert(&s, 3).await, 409, "invalid_state").await;
    // Overdue: refused.
    bill_as_of(&s.app, &s.admin, first + days(1)).await;
    assert_problem(convert(&s, 3).await, 422, "account_delinquent").await;
    s.app.assert_ledger_clean(&s.admin).await;
}

/// A conversion, a repayment and billing on one buyer at once, three buyers: each ends with
/// a clean ledger and credit reconciliation, and at most one plan.
async fn conversions_race_repayments_and_billing(backend: Backend) {
    let s = setup(backend, "3000.00", "1500.00").await;
    bought(&s, "1200.00", 12).await;
    bill_as_of(&s.app, &s.admin, first_due() - days(10)).await;
    let hundred = json!({"amount": "100.00"});
    let (converted, again, repaid, _) = tokio::join!(
        convert(&s, 12),
        convert(&s, 3),
        s.app.post_money("/v1/credit/repayments", &s.ann, &hundred),
        bill_as_of(&s.app, &s.admin, first_due() - days(10)),
    );
    let created = [converted.status(), again.status()].iter().filter(|s| **s == StatusCode::CREATED).count();
    assert!(created <= 1, "a bill converts once");
    assert_eq!(repaid.status(), StatusCode::CREATED);
    s.app.assert_ledger_clean(&s.admin).await;
}

/// Past its due date a part is overdue, whether or not billing has marked it yet.
async fn a_bill_past_its_due_date_is_not_converted(backend: Backend) {
    let s = setup(backend, "1000.00", "600.00").await;
    let id = bought(&s, "300.00", 3).await;
    bill_as_of(&s.app, &s.admin, first_due() - days(10)).await;
    s.app.execute_sql(&format!(
        "UPDATE installments SET due_date = '2000-01-10' WHERE purchase_id = '{id}' AND seq = 1"
    ));
    assert_problem(convert(&s, 3).await, 422, "account_delinquent").await;
}

/// A full refund within the free-return window after the bill was converted: the buyer gets
/// the converted principal back in cash (the plan's debt stays, to be repaid with it), and
/// the fee billed before the conversion is waived with every other fee.
async fn a_free_return_after_a_conversion_returns_the_converted_principal(backend: Backend) {
    let s = setup(backend, "2000.00", "1500.00").await;
    let id = bought(&s, "1200.00", 12).await;
    bill_as_of(&s.app, &s.admin, first_due() - days(10)).await;
    assert_eq!(convert(&s, 3).await.status(), StatusCode::CREATED);
    let res = refund(&s, &id, "full", "1200.00").await;
    assert_eq!(res.status(), StatusCode::CREATED);
    assert_eq!(res.json::<Value>().await.unwrap()["state"], "refunded");
    // The plan's debt is cancelled too, and nothing was repaid: no cash (issue 27).
    assert_eq!(credit(&s).await, ("500.00".into(), "0.00".into(), "0.00".into(), "1500.00".into()));
    s.app.assert_ledger_clean(&s.admin).await;
}

async fn an_admin_cannot_refund_their_own_purchase(backend: Backend) {
    let mut s = setup(backend, "10.00", "10.00").await;
    s.ann = s.admin.clone();
    s.app.deposit(&s.ann, "100.00").await;
    assert_eq!(s.app.post_money("/v1/vault/lock", &s.ann, &json!({"amount": "100.00"})).await.status(), 201);
    let id = bought(&s, "50.00", 3).await;
    assert_problem(refund(&s, &id, "mine", "50.00").await, 403, "forbidden").await;
    assert_eq!(credit(&s).await.1, "50.00");
}
