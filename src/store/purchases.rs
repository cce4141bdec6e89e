//! Reading purchases and their installments (with their refunds) as the API shows them,
//! and the rows both backends' statements return.

use chrono::{NaiveDate, NaiveDateTime};
use diesel::prelude::*;
use uuid::Uuid;

use super::credit::parse_uuid;
use super::schema::{installments as ins, purchases as pu, refunds as rf};
use super::{DbConn, StoreError};
use crate::domain::credit::{Installment, InstallmentState, Purchase, PurchaseState, Refund};

fn corrupt(what: impl std::fmt::Display) -> StoreError {
    StoreError::Corrupt(what.to_string())
}

pub(crate) type InstallmentRow = (String, i32, i32, NaiveDate, i64, i64, bool, i64, i64, i64, i64, String, bool, i32);

pub(crate) fn installment_from_row(row: InstallmentRow) -> Result<Installment, StoreError> {
    let (
        purchase_id,
        seq,
        count,
        due_date,
        principal,
        fee,
        fee_billed,
        late_fee,
        p_paid,
        f_paid,
        l_paid,
        state,
        was,
        days,
    ) = row;
    Ok(Installment {
        purchase_id: parse_uuid(&purchase_id, "installments.purchase_id")?,
        seq: u32::try_from(seq).map_err(|_| corrupt("installments.seq"))?,
        count: u32::try_from(count).map_err(|_| corrupt("purchases.installments"))?,
        due_date,
        principal_minor: principal,
        fee_minor: fee,
        fee_billed,
        late_fee_minor: late_fee,
        principal_paid_minor: p_paid,
        fee_paid_minor: f_paid,
        late_fee_paid_minor: l_paid,
        state: InstallmentState::from_db(&state).ok_or_else(|| corrupt(format!("installment state `{state}`")))?,
        was_overdue: was,
        days_overdue: i64::from(days),
    })
}

macro_rules! installment_columns {
    () => {
        (
            ins::purchase_id,
            ins::seq,
            pu::installments,
            ins::due_date,
            ins::principal_minor,
            ins::fee_minor,
            ins::fee_billed,
            ins::late_fee_minor,
            ins::principal_paid_minor,
            ins::fee_paid_minor,
            ins::late_fee_paid_minor,
            ins::state,
            ins::was_overdue,
            ins::days_overdue,
        )
    };
}

/// The user's installments not yet paid, oldest due first.
pub(crate) fn unpaid_installments(conn: &mut DbConn, user_id: Uuid) -> Result<Vec<Installment>, StoreError> {
    let rows: Vec<InstallmentRow> = ins::table
        .inner_join(pu::table)
        .filter(ins::user_id.eq(user_id.to_string()))
        // Converted parts too: a fee billed before the conversion is still owed on them
        // (`vl_repay` reads the same set).
        .filter(ins::state.ne(InstallmentState::Paid.as_str()))
        .order((ins::due_date.asc(), ins::purchase_id.asc(), ins::seq.asc()))
        .select(installment_columns!())
        .load(conn)?;
    rows.into_iter().map(installment_from_row).collect()
}

/// One of the buyer's purchases' unpaid parts, oldest due first; `None` when the purchase is
/// not theirs (or there is none). What a payoff quotes and pays.
pub fn purchase_debt(
    conn: &mut DbConn,
    user_id: Uuid,
    purchase_id: Uuid,
) -> Result<Option<Vec<Installment>>, StoreError> {
    let (uid, pid) = (user_id.to_string(), purchase_id.to_string());
    let theirs: i64 = pu::table.filter(pu::id.eq(&pid)).filter(pu::user_id.eq(&uid)).count().get_result(conn)?;
    if theirs == 0 {
        return Ok(None);
    }
    let rows: Vec<InstallmentRow> = ins::table
        .inner_join(pu::table)
        .filter(ins::user_id.eq(&uid))
        .filter(ins::purchase_id.eq(&pid))
        .filter(ins::state.ne(InstallmentState::Paid.as_str()))
        .order((ins::due_date.asc(), ins::seq.asc()))
        .select(installment_columns!())
        .load(conn)?;
    rows.into_iter().map(installment_from_row).collect::<Result<_, _>>().map(Some)
}

pub(crate) fn schedule_of(conn: &mut DbConn, purchase_ids: &[String]) -> Result<Vec<Installment>, StoreError> {
    let rows: Vec<InstallmentRow> = ins::table
        .inner_join(pu::table)
        .filter(ins::purchase_id.eq_any(purchase_ids))
        .order((ins::purchase_id.asc(), ins::seq.asc()))
        .select(installment_columns!())
        .load(conn)?;
    rows.into_iter().map(installment_from_row).collect()
}

pub(crate) type PurchaseRow = (String, String, String, i64, i32, Option<String>, String, NaiveDateTime, i64);

pub(crate) fn purchase_from_row(row: PurchaseRow, all: &[Installment]) -> Result<Purchase, StoreError> {
    let (id, user_id, merchant_id, amount, count, description, state, created_at, refunded_minor) = row;
    let id = parse_uuid(&id, "purchases.id")?;
    Ok(Purchase {
        id,
        user_id: parse_uuid(&user_id, "purchases.user_id")?,
        merchant_id: parse_uuid(&merchant_id, "purchases.merchant_id")?,
        amount_minor: amount,
        installments: u32::try_from(count).map_err(|_| corrupt("purchases.installments"))?,
        description,
        state: PurchaseState::from_db(&state).ok_or_else(|| corrupt(format!("purchase state `{state}`")))?,
        created_at: created_at.and_utc(),
        schedule: all.iter().filter(|i| i.purchase_id == id).cloned().collect(),
        refunded_minor,
        refunds: Vec::new(),
    })
}

/// Fills in each purchase's refunds (none for most: one indexed query for the page).
fn with_refunds(conn: &mut DbConn, mut purchases: Vec<Purchase>) -> Result<Vec<Purchase>, StoreError> {
    let ids: Vec<String> = purchases.iter().filter(|p| p.refunded_minor > 0).map(|p| p.id.to_string()).collect();
    if ids.is_empty() {
        return Ok(purchases);
    }
    let rows: Vec<(String, String, i64, String, NaiveDateTime)> = rf::table
        .filter(rf::purchase_id.eq_any(&ids))
        .order((rf::created_at.asc(), rf::id.asc()))
        .select((rf::id, rf::purchase_id, rf::amount_minor, rf::reason, rf::created_at))
        .load(conn)?;
    for (id, purchase_id, amount_minor, reason, created_at) in rows {
        let refund =
            Refund { id: parse_uuid(&id, "refunds.id")?, amount_minor, reason, created_at: created_at.and_utc() };
        if let Some(p) = purchases.iter_mut().find(|p| p.id.to_string() == purchase_id) {
            p.refunds.push(refund);
        }
    }
    Ok(purchases)
}

macro_rules! purchase_columns {
    () => {
        (
            pu::id,
            pu::user_id,
            pu::merchant_id,
            pu::amount_minor,
            pu::installments,
            pu::description,
            pu::state,
            pu::created_at,
            pu::refunded_minor,
        )
    };
}

/// The caller's purchases, newest first; another user's never.
pub fn purchases(
    conn: &mut DbConn,
    user_id: Uuid,
    before: Option<&str>,
    limit: u32,
) -> Result<Vec<Purchase>, StoreError> {
    let mut query = pu::table
        .filter(pu::user_id.eq(user_id.to_string()))
        .order(pu::id.desc())
        .limit(i64::from(limit))
        .select(purchase_columns!())
        .into_boxed();
    if let Some(before) = before {
        query = query.filter(pu::id.lt(before.to_owned()));
    }
    let rows: Vec<PurchaseRow> = query.load(conn)?;
    let ids: Vec<String> = rows.iter().map(|r| r.0.clone()).collect();
    let schedule = schedule_of(conn, &ids)?;
    let purchases = rows.into_iter().map(|r| purchase_from_row(r, &schedule)).collect::<Result<_, _>>()?;
    with_refunds(conn, purchases)
}

pub fn purchase(conn: &mut DbConn, user_id: Uuid, id: Uuid) -> Result<Option<Purchase>, StoreError> {
    let row: Option<PurchaseRow> = pu::table
        .filter(pu::id.eq(id.to_string()))
        .filter(pu::user_id.eq(user_id.to_string()))
        .select(purchase_columns!())
        .first(conn)
        .optional()?;
    let Some(row) = row else { return Ok(None) };
    let schedule = schedule_of(conn, std::slice::from_ref(&row.0))?;
    Ok(with_refunds(conn, vec![purchase_from_row(row, &schedule)?])?.pop())
}

/// Due and overdue installments, oldest first, and converted ones still owing the fee
/// billed before their conversion.
pub fn bill(conn: &mut DbConn, user_id: Uuid) -> Result<Vec<Installment>, StoreError> {
    Ok(unpaid_installments(conn, user_id)?
        .into_iter()
        .filter(|i| match i.state {
            InstallmentState::Due | InstallmentState::Overdue => true,
            InstallmentState::Converted => i.owed() > 0,
            _ => false,
        })
        .collect())
}
