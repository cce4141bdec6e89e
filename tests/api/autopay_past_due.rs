//! Autopay on a due date pays what is past due too, in the repayment order: late fees, then
//! billed fees, then principal, oldest due first; exact amounts on both backends.

use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::credit::{bill_as_of, days, first_due};
use crate::credit_life::{bought, credit, setup};
use crate::helpers::Backend;
use crate::on_both_backends;

on_both_backends!(autopay_on_the_next_due_date_pays_the_past_due_part_first);

async fn autopay_on_the_next_due_date_pays_the_past_due_part_first(backend: Backend) {
    let s = setup(backend, "100.00", "90.00").await;
    bought(&s, "90.00", 3).await;
    let res = s.app.client.put(s.app.url("/v1/me/autopay")).bearer_auth(&s.ann);
    let res = res.json(&json!({"enabled": true, "sources": ["wallet"]})).send().await.unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    // The first due date: 10.00 pays the 0.15 fee and 9.85 of principal; the rest turns overdue.
    assert_eq!(bill_as_of(&s.app, &s.admin, first_due()).await["autopay_payments"], 1);
    let run = bill_as_of(&s.app, &s.admin, first_due() + days(1)).await;
    assert_eq!(run["installments_overdue"], 1);
    // 80.15 of principal and a 0.01 late fee are owed, nothing in the wallet.
    let (wallet, principal, fees, _) = credit(&s).await;
    assert_eq!((wallet.as_str(), principal.as_str(), fees.as_str()), ("0.00", "80.15", "0.00"));
    assert_eq!(s.app.account(&s.ann).await["credit"]["late_fees"], "0.01");
    s.app.deposit(&s.ann, "100.00").await;

    // The next due date: the overdue part's late fee (0.01), the second part's fee (0.15),
    // then principal oldest first: the first part's 20.15, the second's 30.00. One payment.
    let second_due = first_due().checked_add_months(chrono::Months::new(1)).unwrap();
    let run = bill_as_of(&s.app, &s.admin, second_due).await;
    assert_eq!((run["autopay_payments"].as_u64(), run["installments_overdue"].as_u64()), (Some(1), Some(0)));
    let latest = &s.app.all_movements(&s.ann, 10).await[0];
    assert_eq!((latest["kind"].as_str(), latest["amount"].as_str()), (Some("repayment"), Some("50.31")));
    assert_eq!(credit(&s).await, ("49.69".into(), "30.00".into(), "0.00".into(), "90.00".into()));
    assert_eq!(s.app.account(&s.ann).await["credit"]["late_fees"], "0.00");
    // Nothing is past due any more: the day after, nothing turns overdue.
    let run = bill_as_of(&s.app, &s.admin, second_due + days(1)).await;
    assert_eq!(run["installments_overdue"], 0);
    let bill: Value = s.app.get_as("/v1/credit/bill", &s.ann).await.json().await.unwrap();
    assert_eq!(bill["overdue"], json!([]));
    s.app.assert_ledger_clean(&s.admin).await;
}
