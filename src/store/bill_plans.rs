//! Bill installments: what is due now (not yet overdue) becomes a new plan of 3 to 24 parts
//! at the per-period fee. The plan is a captured purchase from the system merchant
//! (`BILL_PLAN_MERCHANT`), so billing, repayment, refunds' reconciliation and the score
//! treat its parts like any other; the old parts turn `converted` and owe nothing.
//!
//! No money moves: the principal only changes parts inside the buyer's credit account. A fee
//! already billed on a converted part stays on it, owed and repayable as before (the plan
//! converts principal, as the contract says, and charges no fee on a fee); a free-return
//! refund of the original purchase still finds and returns it. One transaction under the
//! account lock, so it serialises with repayments, refunds, billing and autopay.

use chrono::{DateTime, Utc};
use diesel::prelude::*;
use rust_decimal::Decimal;
use uuid::Uuid;

use super::credit::{insert_schedule, lock_account, purchase, save_installment, unpaid_installments};
use super::schema::{installments as ins, purchases as pu};
use super::{DbConn, StoreError};
use crate::domain::account::Refusal;
use crate::domain::credit::{BILL_PLAN_MERCHANT, Installment, InstallmentState, Purchase, PurchaseState};
use crate::domain::schedule;

pub struct PlanTerms {
    pub installments: u32,
    pub repayment_day: u32,
    pub fee_rate: Decimal,
    pub now: DateTime<Utc>,
}

/// Converts the user's due parts into a plan; answers the plan.
pub fn convert(conn: &mut DbConn, user_id: Uuid, terms: &PlanTerms) -> Result<Purchase, StoreError> {
    assert!(schedule::is_allowed_count(terms.installments) && terms.installments >= 3, "validated at the edge");
    lock_account(conn, user_id)?;
    let items = unpaid_installments(conn, user_id)?;
    // Past its due date a part is overdue whether or not billing has run since.
    let today = terms.now.date_naive();
    let late = |i: &Installment| {
        i.state == InstallmentState::Overdue || (i.state == InstallmentState::Due && i.due_date < today && i.owed() > 0)
    };
    if items.iter().any(late) {
        return Err(StoreError::Refused(Refusal::AccountDelinquent));
    }
    let plans: Vec<String> = pu::table
        .filter(pu::user_id.eq(user_id.to_string()))
        .filter(pu::merchant_id.eq(BILL_PLAN_MERCHANT))
        .select(pu::id)
        .load(conn)?;
    let due: Vec<&Installment> =
        items.iter().filter(|i| i.state == InstallmentState::Due && i.principal_owed() > 0).collect();
    if due.is_empty() {
        return Err(StoreError::Refused(if converted_bill_pending(conn, user_id, terms)? {
            Refusal::AlreadyConverted
        } else {
            Refusal::NothingToRepay
        }));
    }
    // A plan's own bill is not converted again: no rolling debt over forever.
    let convertible: Vec<Installment> =
        due.into_iter().filter(|i| !plans.contains(&i.purchase_id.to_string())).cloned().collect();
    if convertible.is_empty() {
        return Err(StoreError::Refused(Refusal::AlreadyConverted));
    }
    let amount: i64 = convertible.iter().map(Installment::principal_owed).sum();
    if amount < i64::from(terms.installments) {
        return Err(StoreError::Refused(Refusal::TooSmallToSplit));
    }
    let plan_id = Uuid::now_v7();
    for part in &convertible {
        let mut moved = part.clone();
        moved.principal_minor = moved.principal_paid_minor;
        moved.state = InstallmentState::Converted;
        save_installment(conn, &moved)?;
    }
    diesel::insert_into(pu::table)
        .values((
            pu::id.eq(plan_id.to_string()),
            pu::user_id.eq(user_id.to_string()),
            pu::merchant_id.eq(BILL_PLAN_MERCHANT),
            pu::amount_minor.eq(amount),
            pu::installments.eq(i32::try_from(terms.installments).expect("at most 24")),
            pu::description.eq(Some("Bill installments")),
            pu::state.eq(PurchaseState::Captured.as_str()),
            pu::created_at.eq(terms.now.naive_utc()),
            pu::captured_at.eq(Some(terms.now.naive_utc())),
        ))
        .execute(conn)?;
    let parts = schedule::plan(amount, terms.installments, today, terms.repayment_day, terms.fee_rate);
    insert_schedule(conn, plan_id, user_id, &parts)?;
    // Each converted part names the plan and what it moved there, so a refund of its
    // purchase can cancel that debt where it went.
    for part in &convertible {
        diesel::update(ins::table.find((part.purchase_id.to_string(), i32::try_from(part.seq).expect("at most 24"))))
            .set((ins::converted_into.eq(plan_id.to_string()), ins::converted_minor.eq(part.principal_owed())))
            .execute(conn)?;
    }
    purchase(conn, user_id, plan_id)?.ok_or_else(|| StoreError::Corrupt(format!("plan {plan_id} vanished")))
}

/// Whether this bill was converted already: a converted part not yet past its due date.
fn converted_bill_pending(conn: &mut DbConn, user_id: Uuid, terms: &PlanTerms) -> Result<bool, StoreError> {
    let found: Option<String> = ins::table
        .filter(ins::user_id.eq(user_id.to_string()))
        .filter(ins::state.eq(InstallmentState::Converted.as_str()))
        .filter(ins::due_date.ge(terms.now.date_naive()))
        .select(ins::purchase_id)
        .first(conn)
        .optional()?;
    Ok(found.is_some())
}
