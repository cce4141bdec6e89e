//! Issue 27, findings 6 and 7: the score cannot be farmed in one cycle for free, and credit
//! cannot be turned into withdrawable cash through a bill plan and a refund.

use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::credit::{bill_as_of, days, first_due};
use crate::credit_life::{Setup, bought, convert, credit, refund as refund_keyed, setup};
use crate::helpers::Backend;
use crate::on_both_backends;

on_both_backends!(
    farming_in_one_cycle_gains_no_on_time_points,
    a_refund_takes_back_the_on_time_credit_it_earned,
    a_refund_after_a_bill_plan_pays_no_cash_on_a_secured_line,
    a_refund_after_a_bill_plan_pays_no_cash_on_a_general_line,
    a_refund_after_a_bill_plan_returns_only_what_was_repaid,
    a_refund_after_a_plan_made_before_plans_named_their_sources_pays_no_cash
);

async fn repay(s: &Setup, amount: &str) {
    let res = s.app.post_money("/v1/credit/repayments", &s.ann, &json!({"amount": amount})).await;
    let status = res.status();
    assert_eq!(status, StatusCode::CREATED, "repay {amount}: {}", res.text().await.unwrap());
}

async fn refund(s: &Setup, id: &str, amount: &str) {
    let key = uuid::Uuid::new_v4().to_string();
    assert_eq!(refund_keyed(s, id, &key, amount).await.status(), StatusCode::CREATED, "refund {amount} of {id}");
}

async fn on_time_points(s: &Setup) -> i64 {
    let score: Value = s.app.get_as("/v1/me/score", &s.ann).await.json().await.unwrap();
    assert_eq!(score["factors"][1]["name"], "on_time_repayments");
    score["factors"][1]["impact"].as_i64().unwrap()
}

/// The reported recipe: ten 300.00 single-part purchases each repaid at once, cycling one
/// 300.00 vault, maxed the on-time factor (+120) at the first due date; refunding all ten
/// then returned the cash and kept the score. Principal repaid before its statement never
/// stayed owed, so it earns nothing, and refunds keep nothing either.
async fn farming_in_one_cycle_gains_no_on_time_points(backend: Backend) {
    let s = setup(backend, "3300.00", "300.00").await;
    let mut ids = Vec::new();
    for _ in 0..10 {
        ids.push(bought(&s, "300.00", 1).await);
        repay(&s, "300.00").await;
    }
    bill_as_of(&s.app, &s.admin, first_due() - days(10)).await;
    let run = bill_as_of(&s.app, &s.admin, first_due()).await;
    assert_eq!(run["on_time_credited"], 10, "each part is looked at once");
    assert_eq!(on_time_points(&s).await, 0, "no on-time points from principal repaid before its statement");
    for id in &ids {
        refund(&s, id, "300.00").await;
    }
    assert_eq!(on_time_points(&s).await, 0);
    assert_eq!(credit(&s).await, ("3000.00".into(), "0.00".into(), "0.00".into(), "300.00".into()));
    s.app.assert_ledger_clean(&s.admin).await;
}

/// Debt carried through its statement and repaid on time earns its units; a refund of that
/// purchase takes them back, in proportion to the principal it refunds.
async fn a_refund_takes_back_the_on_time_credit_it_earned(backend: Backend) {
    let s = setup(backend, "1200.00", "600.00").await;
    let id = bought(&s, "600.00", 1).await;
    bill_as_of(&s.app, &s.admin, first_due() - days(10)).await;
    repay(&s, "600.00").await;
    bill_as_of(&s.app, &s.admin, first_due()).await;
    assert_eq!(on_time_points(&s).await, 12, "600.00 carried through its statement: 3 units (the cap) of 4");
    refund(&s, &id, "400.00").await;
    assert_eq!(on_time_points(&s).await, 8, "200.00 left of what was carried: 2 units");
    refund(&s, &id, "200.00").await;
    assert_eq!(on_time_points(&s).await, 0);
    assert_eq!(credit(&s).await.0, "600.00", "what was repaid came back");
    s.app.assert_ledger_clean(&s.admin).await;
}

/// Buy 5,000 on a line, bill, convert the bill into 24 installments, merchant refund of
/// 5,000: the wallet used to get 5,000 while 5,000 was still owed on the plan. Now the
/// refund cancels the plan's debt and the wallet is unchanged.
async fn cash_out_through_a_bill_plan(s: &Setup) {
    let wallet_before = credit(s).await.0;
    let id = bought(s, "5000.00", 1).await;
    bill_as_of(&s.app, &s.admin, first_due() - days(10)).await;
    assert_eq!(convert(s, 24).await.status(), StatusCode::CREATED);
    assert_eq!(credit(s).await.1, "5000.00");
    refund(s, &id, "5000.00").await;
    let (wallet, principal, fees, _) = credit(s).await;
    assert_eq!((wallet, principal, fees), (wallet_before, "0.00".into(), "0.00".into()), "no cash, no debt");
    let bill: Value = s.app.get_as("/v1/credit/bill", &s.ann).await.json().await.unwrap();
    assert_eq!(bill["total_due"], "0.00", "{bill}");
    s.app.assert_ledger_clean(&s.admin).await;
}

async fn a_refund_after_a_bill_plan_pays_no_cash_on_a_secured_line(backend: Backend) {
    let s = setup(backend, "5000.00", "5000.00").await;
    cash_out_through_a_bill_plan(&s).await;
    // Nothing is owed, so the vault pledges nothing: all of it unlocks.
    let res = s.app.post_money("/v1/vault/unlock", &s.ann, &json!({"amount": "5000.00"})).await;
    assert_eq!(res.status(), StatusCode::CREATED);
}

async fn a_refund_after_a_bill_plan_pays_no_cash_on_a_general_line(backend: Backend) {
    let s = setup(backend, "10.00", "0.00").await;
    let approver = s.app.admin_token("abuse_approver").await;
    let me: Value = s.app.get_as("/v1/me", &s.ann).await.json().await.unwrap();
    let line = json!({"line": "general", "limit": "5000.00", "reason": "trusted", "override": true});
    s.app.change_line_with_approval(&s.admin, &approver, me["id"].as_str().unwrap(), &line).await;
    cash_out_through_a_bill_plan(&s).await;
}

/// Of the converted debt the buyer repaid 100.00 on the plan: a full refund cancels the
/// rest of the plan and returns exactly those 100.00; a partial refund first only cuts debt.
async fn a_refund_after_a_bill_plan_returns_only_what_was_repaid(backend: Backend) {
    let s = setup(backend, "5100.00", "5000.00").await;
    let id = bought(&s, "5000.00", 1).await;
    bill_as_of(&s.app, &s.admin, first_due() - days(10)).await;
    assert_eq!(convert(&s, 24).await.status(), StatusCode::CREATED);
    repay(&s, "100.00").await;
    assert_eq!(credit(&s).await, ("0.00".into(), "4900.00".into(), "0.00".into(), "5000.00".into()));
    refund(&s, &id, "1000.00").await;
    assert_eq!(credit(&s).await.0, "0.00", "debt first: a partial refund pays no cash while debt is left");
    assert_eq!(credit(&s).await.1, "3900.00");
    refund(&s, &id, "4000.00").await;
    assert_eq!(credit(&s).await, ("100.00".into(), "0.00".into(), "0.00".into(), "5000.00".into()));
    s.app.assert_ledger_clean(&s.admin).await;
}

/// A bill converted before parts named their plan (a database upgraded from before
/// `installments.converted_into` keeps such parts with no plan): the refund still cancels the buyer's unnamed plans' debt before paying anything.
async fn a_refund_after_a_plan_made_before_plans_named_their_sources_pays_no_cash(backend: Backend) {
    let s = setup(backend, "5000.00", "5000.00").await;
    let id = bought(&s, "5000.00", 1).await;
    bill_as_of(&s.app, &s.admin, first_due() - days(10)).await;
    assert_eq!(convert(&s, 24).await.status(), StatusCode::CREATED);
    s.app.execute_sql("UPDATE installments SET converted_into = NULL, converted_minor = 0 WHERE state = 'converted'");
    refund(&s, &id, "5000.00").await;
    assert_eq!(credit(&s).await, ("0.00".into(), "0.00".into(), "0.00".into(), "5000.00".into()));
    s.app.assert_ledger_clean(&s.admin).await;
}
