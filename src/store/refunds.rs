//! A merchant's refund of a purchase, entered by operations: one balanced entry in one
//! transaction, under the buyer's account lock (so it serialises with repayments, billing
//! and autopay), guarded by a conditional update of what was refunded so far.
//!
//! The same diesel statements on both backends: this is an operator's path, not a user's
//! request path, so it needs no single-call PostgreSQL twin.

use chrono::{DateTime, NaiveDateTime, Utc};
use diesel::prelude::*;
use rust_decimal::Decimal;
use serde_json::json;
use uuid::Uuid;

use super::credit::{lock_account, parse_uuid, purchase, save_installment, schedule_of, void};
use super::ledger::{self, FEE_INCOME, LATE_FEE_INCOME, MERCHANT_PAYABLES, UserAccount, account_id};
use super::schema::{installments as ins, money_accounts as ma, purchases as pu, refunds as rf};
use super::{DbConn, StoreError, admin};
use crate::config::CreditSettings;
use crate::domain::account::Refusal;
use crate::domain::credit::{BILL_PLAN_MERCHANT, Installment, Purchase, PurchaseState};
use crate::domain::movement::MovementKind;
use crate::domain::refund::{self, PlanShare};
use crate::domain::score::{self, ScoreModel};

/// The settings a refund follows.
#[derive(Clone, Copy, Debug)]
pub struct RefundTerms {
    /// A full refund within this many days of capture returns every fee too.
    pub free_return_days: u32,
    pub fee_rate: Decimal,
}

impl RefundTerms {
    /// The terms `credit.free_return_days` and `credit.fee_rate_per_period` set.
    pub fn of(credit: &CreditSettings) -> Self {
        RefundTerms { free_return_days: credit.free_return_days, fee_rate: credit.fee_rate_per_period }
    }
}

/// One refund as operations enter it.
pub struct RefundOrder<'a> {
    pub purchase_id: Uuid,
    pub amount_minor: i64,
    pub reason: &'a str,
    /// The admin who applies it (the approver, for a four-eyes request).
    pub actor_id: Uuid,
    pub terms: RefundTerms,
    /// To take back the on-time credit the refunded principal earned.
    pub score: &'a ScoreModel,
    /// The four-eyes request it applies, if any (named in the audit entry).
    pub request_id: Option<Uuid>,
    pub now: DateTime<Utc>,
}

/// Refuses a refund the rules forbid now; answers the buyer and what was refunded of the
/// purchase so far.
pub fn check(conn: &mut DbConn, purchase_id: Uuid, amount_minor: i64, actor: Uuid) -> Result<(Uuid, i64), StoreError> {
    checked(conn, purchase_id, amount_minor, actor).map(|(buyer, purchase)| (buyer, purchase.refunded_minor))
}

/// The buyer and the purchase as they stand, under the buyer's account lock, if a refund
/// of `amount_minor` by `actor` may go ahead.
fn checked(
    conn: &mut DbConn,
    purchase_id: Uuid,
    amount_minor: i64,
    actor: Uuid,
) -> Result<(Uuid, Purchase), StoreError> {
    let found: Option<(String, String)> = pu::table
        .filter(pu::id.eq(purchase_id.to_string()))
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
    if user_id == actor {
        return Err(StoreError::Refused(Refusal::Forbidden("admins cannot refund their own purchases")));
    }
    // The account lock first: the purchase and its schedule are read as the last writer
    // left them, and nothing else of this user's credit changes until commit.
    lock_account(conn, user_id)?;
    let before = purchase(conn, user_id, purchase_id)?
        .ok_or_else(|| StoreError::Corrupt(format!("purchase {purchase_id} vanished")))?;
    let refundable_minor = before.amount_minor - before.refunded_minor;
    match before.state {
        PurchaseState::Voided => Err(StoreError::Refused(Refusal::InvalidState("voided"))),
        PurchaseState::Authorized if amount_minor != before.amount_minor => {
            Err(StoreError::Refused(Refusal::RefundTooLarge { refundable_minor: before.amount_minor, hold: true }))
        }
        PurchaseState::Captured | PurchaseState::Refunded if amount_minor > refundable_minor => {
            Err(StoreError::Refused(Refusal::RefundTooLarge { refundable_minor, hold: false }))
        }
        _ => Ok((user_id, before)),
    }
}

/// Refunds `order.amount_minor` of the purchase: a hold is voided (only whole); a captured
/// purchase's schedule shrinks (see `domain::refund`). Audited as `purchase.refund`.
/// Answers the purchase as it is after.
pub fn refund(conn: &mut DbConn, order: &RefundOrder<'_>) -> Result<Purchase, StoreError> {
    let (user_id, before) = checked(conn, order.purchase_id, order.amount_minor, order.actor_id)?;
    let after = match before.state {
        PurchaseState::Authorized => void(conn, user_id, order.purchase_id, order.now)?,
        _ => refund_captured(conn, user_id, &before, order)?,
    };
    let mut details = json!({"amount_minor": order.amount_minor, "state": after.shown_state().as_str(),
        "refunded_minor": after.refunded_minor});
    if let Some(id) = order.request_id {
        details["request_id"] = json!(id.to_string());
    }
    let target = order.purchase_id.to_string();
    admin::audit(conn, order.actor_id, "purchase.refund", Some(&target), Some(order.reason), &details, order.now)?;
    Ok(after)
}

fn refund_captured(
    conn: &mut DbConn,
    user_id: Uuid,
    before: &Purchase,
    order: &RefundOrder<'_>,
) -> Result<Purchase, StoreError> {
    let x = order.amount_minor;
    let refundable_minor = before.amount_minor - before.refunded_minor;
    let captured_at: Option<NaiveDateTime> =
        pu::table.filter(pu::id.eq(before.id.to_string())).select(pu::captured_at).first(conn)?;
    let captured_at =
        captured_at.ok_or_else(|| StoreError::Corrupt(format!("purchase {} has no capture", before.id)))?;
    let window = chrono::TimeDelta::days(i64::from(order.terms.free_return_days));
    let all_fees = x == refundable_minor && order.now.naive_utc() - captured_at <= window;

    let id = before.id.to_string();
    let mut schedule = schedule_of(conn, std::slice::from_ref(&id))?;
    let (plan_ids, mut plans) = plan_shares(conn, user_id, &id)?;
    let moved_before: Vec<i64> = plans.iter().map(|p| p.moved_minor).collect();
    let effect = refund::apply(&mut schedule, &mut plans, x, all_fees, order.terms.fee_rate);
    if effect.unplaced_minor > 0 {
        return Err(StoreError::Corrupt(format!(
            "{} of purchase {id}'s principal is found neither owed nor repaid",
            effect.unplaced_minor
        )));
    }
    for part in schedule.iter().chain(plans.iter().flat_map(|p| &p.parts)) {
        save_installment(conn, part)?;
    }
    for ((plan_id, share), before) in plan_ids.iter().zip(&plans).zip(moved_before) {
        // A plan no part names (see `plan_shares`) has no part to tell.
        if let Some(plan_id) = plan_id {
            take_from_converted_parts(conn, &id, plan_id, before - share.moved_minor)?;
        }
    }
    let touched: Vec<&Installment> = schedule.iter().chain(plans.iter().flat_map(|p| &p.parts)).collect();
    let units_taken_back = take_back_on_time_credit(conn, &touched, order.score)?;
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
            ma::on_time_installments.eq(ma::on_time_installments - units_taken_back),
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

/// The bill plans that carry this purchase's converted parts, in the order of those parts,
/// with what each carries of it. A part converted before parts named their plan (a database
/// upgraded from before `installments.converted_into`) cannot say where its debt went: then the buyer's plans that name no source come
/// first, each as carrying all it holds, so the refund still cancels debt before it pays
/// anything back (the buyer owes less, never gains cash). Answers each plan's id where its
/// sources name it, with the shares.
fn plan_shares(
    conn: &mut DbConn,
    user_id: Uuid,
    purchase_id: &str,
) -> Result<(Vec<Option<String>>, Vec<PlanShare>), StoreError> {
    let sources: Vec<(Option<String>, i64)> = ins::table
        .filter(ins::purchase_id.eq(purchase_id))
        .filter(ins::converted_minor.gt(0).or(ins::state.eq("converted").and(ins::converted_into.is_null())))
        .order(ins::seq.asc())
        .select((ins::converted_into, ins::converted_minor))
        .load(conn)?;
    // (plan, named by a part of this purchase, what it carries of it)
    let mut plans: Vec<(String, bool, i64)> = Vec::new();
    if sources.iter().any(|(plan, _)| plan.is_none()) {
        plans.extend(unnamed_plans(conn, user_id)?.into_iter().map(|(plan, carried)| (plan, false, carried)));
    }
    for (plan, minor) in sources {
        let Some(plan) = plan else { continue };
        match plans.iter_mut().find(|(p, _, _)| *p == plan) {
            Some((_, _, moved)) => *moved += minor,
            None => plans.push((plan, true, minor)),
        }
    }
    let ids: Vec<String> = plans.iter().map(|(plan, _, _)| plan.clone()).collect();
    let all = schedule_of(conn, &ids)?;
    let shares = plans
        .iter()
        .map(|(plan, _, moved_minor)| PlanShare {
            moved_minor: *moved_minor,
            parts: all.iter().filter(|p| p.purchase_id.to_string() == *plan).cloned().collect(),
        })
        .collect();
    Ok((plans.into_iter().map(|(plan, named, _)| named.then_some(plan)).collect(), shares))
}

/// The buyer's bill plans that no converted part names (made before parts named their
/// plan), oldest first, each with all the principal it holds.
fn unnamed_plans(conn: &mut DbConn, user_id: Uuid) -> Result<Vec<(String, i64)>, StoreError> {
    let named = ins::table.filter(ins::converted_into.is_not_null()).select(ins::converted_into.assume_not_null());
    let plans: Vec<String> = pu::table
        .filter(pu::user_id.eq(user_id.to_string()))
        .filter(pu::merchant_id.eq(BILL_PLAN_MERCHANT))
        .filter(pu::id.ne_all(named))
        .order(pu::id.asc())
        .select(pu::id)
        .load(conn)?;
    let all = schedule_of(conn, &plans)?;
    Ok(plans
        .into_iter()
        .map(|plan| {
            let carried_minor =
                all.iter().filter(|p| p.purchase_id.to_string() == plan).map(|p| p.principal_minor).sum();
            (plan, carried_minor)
        })
        .collect())
}

/// Lowers what the purchase's parts converted into `plan_id` say the plan carries of them
/// by `taken_minor`, last part first, so a later refund finds only what is left there.
fn take_from_converted_parts(
    conn: &mut DbConn,
    purchase_id: &str,
    plan_id: &str,
    taken_minor: i64,
) -> Result<(), StoreError> {
    let sources: Vec<(i32, i64)> = ins::table
        .filter(ins::purchase_id.eq(purchase_id))
        .filter(ins::converted_into.eq(plan_id))
        .order(ins::seq.desc())
        .select((ins::seq, ins::converted_minor))
        .load(conn)?;
    let mut left = taken_minor;
    for (seq, converted_minor) in sources {
        let take = left.min(converted_minor);
        if take > 0 {
            diesel::update(ins::table.find((purchase_id, seq)))
                .set(ins::converted_minor.eq(converted_minor - take))
                .execute(conn)?;
            left -= take;
        }
    }
    if left != 0 {
        return Err(StoreError::Corrupt(format!("plan {plan_id} gave back more than {purchase_id} moved into it")));
    }
    Ok(())
}

/// Refunded principal was never a debt the buyer carried: each touched part keeps only the
/// principal left of what it owed when billed, and the on-time units that still earns.
/// Answers the units taken back from the account's count.
fn take_back_on_time_credit(conn: &mut DbConn, parts: &[&Installment], model: &ScoreModel) -> Result<i64, StoreError> {
    // One read for every part touched (the purchase's and its plans'), then a write per
    // part whose credit changes.
    let mut ids: Vec<String> = parts.iter().map(|p| p.purchase_id.to_string()).collect();
    ids.dedup();
    let credit: Vec<(String, i32, i64, i64)> = ins::table
        .filter(ins::purchase_id.eq_any(&ids))
        .select((ins::purchase_id, ins::seq, ins::billed_principal_minor, ins::on_time_units))
        .load(conn)?;
    let mut taken_back = 0;
    for part in parts {
        let key = (part.purchase_id.to_string(), i32::try_from(part.seq).expect("at most 24"));
        let (billed, units) = credit
            .iter()
            .find(|(id, seq, _, _)| (id, *seq) == (&key.0, key.1))
            .map(|(_, _, billed, units)| (*billed, *units))
            .ok_or_else(|| StoreError::Corrupt(format!("installment {}:{} vanished", key.0, key.1)))?;
        let billed_left = billed.min(part.principal_minor);
        let kept = score::on_time_units_kept(units, billed, part.principal_minor, model);
        if (billed_left, kept) != (billed, units) {
            diesel::update(ins::table.find(key))
                .set((ins::billed_principal_minor.eq(billed_left), ins::on_time_units.eq(kept)))
                .execute(conn)?;
            taken_back += units - kept;
        }
    }
    Ok(taken_back)
}
