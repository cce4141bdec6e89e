//! A merchant's refund of a purchase, entered by operations: one balanced entry in one
//! transaction, under the buyer's account lock (so it serialises with repayments, billing
//! and autopay), guarded by a conditional update of what was refunded so far.
//!
//! The same diesel statements on both backends: this is an operator's path, not a user's
//! request path, so it needs no single-call PostgreSQL twin.

use chrono::{DateTime, NaiveDateTime, Utc};
use diesel::prelude::*;
use rust_decimal::Decimal;
use uuid::Uuid;

use super::credit::{lock_account, parse_uuid, purchase, save_installment, schedule_of, void};
use super::ledger::{self, FEE_INCOME, LATE_FEE_INCOME, MERCHANT_PAYABLES, UserAccount, account_id};
use super::schema::{money_accounts as ma, purchases as pu, refunds as rf};
use super::{DbConn, StoreError};
use crate::domain::account::Refusal;
use crate::domain::credit::{BILL_PLAN_MERCHANT, Purchase, PurchaseState};
use crate::domain::movement::MovementKind;
use crate::domain::refund;

/// One refund as operations enter it.
pub struct RefundOrder<'a> {
    pub purchase_id: Uuid,
    pub amount_minor: i64,
    pub reason: &'a str,
    pub actor_id: Uuid,
    /// A full refund within this many days of capture returns every fee too.
    pub free_return_days: u32,
    pub fee_rate: Decimal,
    pub now: DateTime<Utc>,
}

/// Refunds `order.amount_minor` of the purchase: a hold is voided (only whole); a captured
/// purchase's schedule shrinks (see `domain::refund`). Answers the purchase as it is after.
pub fn refund(conn: &mut DbConn, order: &RefundOrder<'_>) -> Result<Purchase, StoreError> {
    let found: Option<(String, String)> = pu::table
        .filter(pu::id.eq(order.purchase_id.to_string()))
        .select((pu::user_id, pu::merchant_id))
        .first(conn)
        .optional()?;
    let Some((user, merchant)) = found else { return Err(StoreError::Refused(Refusal::NotFound("purchase"))) };
    if merchant == BILL_PLAN_MERCHANT {
        return Err(StoreError::Refused(Refusal::NotRefundable));
    }
    let user_id = parse_uuid(&user, "purchases.user_id")?;
    // An admin who is also a buyer could otherwise wipe their own debt (four eyes, as for
    // credit lines).
    if user_id == order.actor_id {
        return Err(StoreError::Refused(Refusal::Forbidden("admins cannot refund their own purchases")));
    }
    // The account lock first: the purchase and its schedule are read as the last writer
    // left them, and nothing else of this user's credit changes until commit.
    lock_account(conn, user_id)?;
    let before = purchase(conn, user_id, order.purchase_id)?
        .ok_or_else(|| StoreError::Corrupt(format!("purchase {} vanished", order.purchase_id)))?;
    match before.state {
        PurchaseState::Voided => Err(StoreError::Refused(Refusal::InvalidState("voided"))),
        PurchaseState::Authorized if order.amount_minor != before.amount_minor => {
            Err(StoreError::Refused(Refusal::RefundTooLarge { refundable_minor: before.amount_minor, hold: true }))
        }
        PurchaseState::Authorized => void(conn, user_id, order.purchase_id, order.now),
        PurchaseState::Captured | PurchaseState::Refunded => refund_captured(conn, user_id, &before, order),
    }
}

fn refund_captured(
    conn: &mut DbConn,
    user_id: Uuid,
    before: &Purchase,
    order: &RefundOrder<'_>,
) -> Result<Purchase, StoreError> {
    let x = order.amount_minor;
    let refundable_minor = before.amount_minor - before.refunded_minor;
    if x > refundable_minor {
        return Err(StoreError::Refused(Refusal::RefundTooLarge { refundable_minor, hold: false }));
    }
    let captured_at: Option<NaiveDateTime> =
        pu::table.filter(pu::id.eq(before.id.to_string())).select(pu::captured_at).first(conn)?;
    let captured_at =
        captured_at.ok_or_else(|| StoreError::Corrupt(format!("purchase {} has no capture", before.id)))?;
    let window = chrono::TimeDelta::days(i64::from(order.free_return_days));
    let all_fees = x == refundable_minor && order.now.naive_utc() - captured_at <= window;

    let id = before.id.to_string();
    let mut schedule = schedule_of(conn, std::slice::from_ref(&id))?;
    let effect = refund::apply(&mut schedule, x, all_fees, order.fee_rate);
    for part in &schedule {
        save_installment(conn, part)?;
    }
    let moved = diesel::update(pu::table.filter(pu::id.eq(&id)).filter(pu::refunded_minor.le(before.amount_minor - x)))
        .set(pu::refunded_minor.eq(pu::refunded_minor + x))
        .execute(conn)?;
    if moved != 1 {
        return Err(StoreError::Contended("the purchase was refunded meanwhile"));
    }
    let to_wallet = effect.to_wallet_minor();
    diesel::update(ma::table.filter(ma::user_id.eq(user_id.to_string())))
        .set((
            ma::wallet_minor.eq(ma::wallet_minor + to_wallet),
            ma::principal_minor.eq(ma::principal_minor - effect.principal_cut_minor),
            ma::fees_minor.eq(ma::fees_minor - effect.fees_waived_minor),
            ma::late_fees_minor.eq(ma::late_fees_minor - effect.late_fees_waived_minor),
            ma::overdue_count.eq(ma::overdue_count - effect.overdue_cleared),
        ))
        .execute(conn)?;

    let entry =
        ledger::post_entry(conn, MovementKind::Refund.as_str(), Some(user_id), order.now, &legs(user_id, x, &effect))?;
    ledger::record(conn, user_id, entry, MovementKind::Refund, x, None, None, order.now)?;
    diesel::insert_into(rf::table)
        .values((
            rf::id.eq(Uuid::now_v7().to_string()),
            rf::purchase_id.eq(&id),
            rf::user_id.eq(user_id.to_string()),
            rf::amount_minor.eq(x),
            rf::reason.eq(order.reason),
            rf::actor_id.eq(order.actor_id.to_string()),
            rf::entry_id.eq(entry.to_string()),
            rf::created_at.eq(order.now.naive_utc()),
        ))
        .execute(conn)?;
    purchase(conn, user_id, before.id)?.ok_or_else(|| StoreError::Corrupt(format!("purchase {id} vanished")))
}

/// The merchant gives back `x`: the buyer owes less, gets back what was repaid beyond the
/// new total, and on a free return every fee charged is reversed out of income.
fn legs(user_id: Uuid, x: i64, effect: &refund::RefundEffect) -> Vec<(String, i64)> {
    let fees = effect.fees_waived_minor + effect.fees_returned_minor;
    let late_fees = effect.late_fees_waived_minor + effect.late_fees_returned_minor;
    let legs = [
        (MERCHANT_PAYABLES.to_owned(), -x),
        (account_id(user_id, UserAccount::Credit), effect.debt_cut_minor()),
        (account_id(user_id, UserAccount::Wallet), effect.to_wallet_minor()),
        (FEE_INCOME.to_owned(), -fees),
        (LATE_FEE_INCOME.to_owned(), -late_fees),
    ];
    legs.into_iter().filter(|(_, amount)| *amount != 0).collect()
}
