//! Purchases on credit, installments, repayments and billing. Every operation that reads
//! installments first locks the user's account row, so purchases, repayments and billing
//! runs for one user take turns; each money step is one balanced journal entry.

use chrono::{DateTime, NaiveDate, Utc};
use diesel::prelude::*;
use uuid::Uuid;

use super::account_row::{self, FullRow, full_columns, state_from_row};
use super::ledger::{self, LENDER_CAPITAL, MERCHANT_PAYABLES, UserAccount, account_id};
use super::limits::{self, LimitReason};
use super::schema::{installments as ins, merchants, money_accounts as ma, purchases as pu};
use super::score::Ctx;
use super::{DbConn, StoreError};
use crate::domain::account::{AccountState, CreditLine, Refusal, Source};
use crate::domain::credit::{self, Installment, InstallmentState, Purchase, PurchaseState};
use crate::domain::movement::{Movement, MovementKind};
use crate::domain::schedule;
use crate::domain::user::UserStatus;

fn corrupt(what: impl std::fmt::Display) -> StoreError {
    StoreError::Corrupt(what.to_string())
}

pub(super) fn parse_uuid(text: &str, what: &str) -> Result<Uuid, StoreError> {
    Uuid::parse_str(text).map_err(|_| corrupt(format!("{what} `{text}`")))
}

// ---------------------------------------------------------------- merchants

#[derive(Clone, Debug)]
pub struct Merchant {
    pub id: Uuid,
    pub name: String,
}

pub fn create_merchant(conn: &mut DbConn, name: &str, now: DateTime<Utc>) -> Result<Merchant, StoreError> {
    let id = Uuid::now_v7();
    diesel::insert_into(merchants::table)
        .values((merchants::id.eq(id.to_string()), merchants::name.eq(name), merchants::created_at.eq(now.naive_utc())))
        .execute(conn)?;
    Ok(Merchant { id, name: name.to_owned() })
}

/// Newest first, strictly older than the `before` id.
pub fn merchants(conn: &mut DbConn, before: Option<&str>, limit: u32) -> Result<Vec<Merchant>, StoreError> {
    let mut query = merchants::table
        .filter(merchants::system.eq(false))
        .order(merchants::id.desc())
        .limit(i64::from(limit))
        .select((merchants::id, merchants::name))
        .into_boxed();
    if let Some(before) = before {
        query = query.filter(merchants::id.lt(before.to_owned()));
    }
    let rows: Vec<(String, String)> = query.load(conn)?;
    rows.into_iter().map(|(id, name)| Ok(Merchant { id: parse_uuid(&id, "merchants.id")?, name })).collect()
}

// ---------------------------------------------------------------- reading purchases (purchases.rs)

pub use super::purchases::{bill, purchase, purchases};
pub(crate) use super::purchases::{schedule_of, unpaid_installments};

// ---------------------------------------------------------------- the purchase lifecycle

/// Takes the user's account row lock (and reads it): later statements in the transaction
/// see every change committed before, and nothing else for this user runs until commit.
pub(super) fn lock_account(conn: &mut DbConn, user_id: Uuid) -> Result<(AccountState, DateTime<Utc>), StoreError> {
    let row: FullRow = diesel::update(ma::table.filter(ma::user_id.eq(user_id.to_string())))
        .set(ma::wallet_minor.eq(ma::wallet_minor))
        .returning(full_columns!())
        .get_result(conn)?;
    Ok((state_from_row(row.0)?, row.1.and_utc()))
}

/// Moves an authorised purchase to `to`; `None` if it is not the caller's, and
/// `InvalidState` if it is no longer authorised.
fn leave_authorized(
    conn: &mut DbConn,
    user_id: Uuid,
    id: Uuid,
    to: PurchaseState,
    now: DateTime<Utc>,
) -> Result<(i64, u32), StoreError> {
    let at = Some(now.naive_utc());
    let (captured_at, voided_at) = if to == PurchaseState::Captured { (at, None) } else { (None, at) };
    let moved: Option<(i64, i32)> = diesel::update(
        pu::table
            .filter(pu::id.eq(id.to_string()))
            .filter(pu::user_id.eq(user_id.to_string()))
            .filter(pu::state.eq(PurchaseState::Authorized.as_str())),
    )
    .set((pu::state.eq(to.as_str()), pu::captured_at.eq(captured_at), pu::voided_at.eq(voided_at)))
    .returning((pu::amount_minor, pu::installments))
    .get_result(conn)
    .optional()?;
    match moved {
        Some((amount, count)) => Ok((amount, u32::try_from(count).map_err(|_| corrupt("purchases.installments"))?)),
        None => match purchase(conn, user_id, id)? {
            Some(p) => Err(StoreError::Refused(Refusal::InvalidState(p.state.as_str()))),
            None => Err(StoreError::Refused(Refusal::NotFound("purchase"))),
        },
    }
}

/// How a hold is captured: the schedule's terms, the day it starts from, and by whom.
pub(crate) struct CaptureTerms {
    pub repayment_day: u32,
    pub fee_rate: rust_decimal::Decimal,
    pub on: NaiveDate,
    /// Billing's auto-confirmation (the merchant shipped; the buyer's status does not stop it).
    pub by_billing: bool,
}

pub(crate) fn capture_on(
    conn: &mut DbConn,
    user_id: Uuid,
    id: Uuid,
    terms: &CaptureTerms,
    ctx: &Ctx<'_>,
) -> Result<(Purchase, Movement), StoreError> {
    let (now, repayment_day, fee_rate) = (ctx.now, terms.repayment_day, terms.fee_rate);
    let (x, count) = leave_authorized(conn, user_id, id, PurchaseState::Captured, now)?;
    if terms.by_billing {
        diesel::update(pu::table.filter(pu::id.eq(id.to_string()))).set(pu::auto_confirmed.eq(true)).execute(conn)?;
    }
    let row: Option<FullRow> =
        diesel::update(ma::table.filter(ma::user_id.eq(user_id.to_string())).filter(ma::held_minor.ge(x)))
            .set((ma::held_minor.eq(ma::held_minor - x), ma::principal_minor.eq(ma::principal_minor + x)))
            .returning(full_columns!())
            .get_result(conn)
            .optional()?;
    let Some(row) = row else {
        return Err(corrupt(format!("user {user_id} holds less than purchase {id}")));
    };
    let parts = schedule::plan(x, count, terms.on, repayment_day, fee_rate);
    insert_schedule(conn, id, user_id, &parts)?;
    let legs = [
        (account_id(user_id, UserAccount::Hold), -x),
        (LENDER_CAPITAL.to_owned(), x),
        (MERCHANT_PAYABLES.to_owned(), x),
        (account_id(user_id, UserAccount::Credit), -x),
    ];
    let entry = ledger::post_entry(conn, MovementKind::PurchaseCapture.as_str(), Some(user_id), now, &legs)?;
    let view =
        ledger::View { kind: MovementKind::PurchaseCapture, amount_minor: x, counterparty: None, note: None, now };
    // A frozen buyer was refused before; billing's confirmation reads the status.
    let status = if terms.by_billing { super::users::status(conn, user_id)? } else { UserStatus::Active };
    let movement = ledger::record_after(conn, user_id, entry, view, status, &row)?;
    let purchase = purchase(conn, user_id, id)?.ok_or_else(|| corrupt(format!("purchase {id} vanished")))?;
    Ok((purchase, movement))
}

/// Writes a purchase's installments as planned.
pub(super) fn insert_schedule(
    conn: &mut DbConn,
    purchase_id: Uuid,
    user_id: Uuid,
    parts: &[schedule::PlannedPart],
) -> Result<(), StoreError> {
    for part in parts {
        diesel::insert_into(ins::table)
            .values((
                ins::purchase_id.eq(purchase_id.to_string()),
                ins::seq.eq(i32::try_from(part.seq).expect("at most 24")),
                ins::user_id.eq(user_id.to_string()),
                ins::due_date.eq(part.due_date),
                ins::principal_minor.eq(part.principal_minor),
                ins::fee_minor.eq(part.fee_minor),
            ))
            .execute(conn)?;
    }
    Ok(())
}

/// Voids an authorised hold (the buyer cancelled, a refund, or it expired): the writes, on
/// both backends' diesel; `ledger` decides a buyer's cancel first.
pub fn void(conn: &mut DbConn, user_id: Uuid, id: Uuid, now: DateTime<Utc>) -> Result<Purchase, StoreError> {
    let (x, _) = leave_authorized(conn, user_id, id, PurchaseState::Voided, now)?;
    let released = diesel::update(ma::table.filter(ma::user_id.eq(user_id.to_string())).filter(ma::held_minor.ge(x)))
        .set(ma::held_minor.eq(ma::held_minor - x))
        .execute(conn)?;
    if released != 1 {
        return Err(corrupt(format!("user {user_id} holds less than purchase {id}")));
    }
    let legs = [(account_id(user_id, UserAccount::Hold), -x), (LENDER_CAPITAL.to_owned(), x)];
    ledger::post_entry(conn, "purchase_void", Some(user_id), now, &legs)?;
    purchase(conn, user_id, id)?.ok_or_else(|| corrupt(format!("purchase {id} vanished")))
}

// ---------------------------------------------------------------- paying back

pub(super) fn save_installment(conn: &mut DbConn, item: &Installment) -> Result<(), StoreError> {
    diesel::update(ins::table.find((item.purchase_id.to_string(), i32::try_from(item.seq).expect("at most 24"))))
        .set((
            ins::principal_minor.eq(item.principal_minor),
            ins::fee_minor.eq(item.fee_minor),
            ins::fee_billed.eq(item.fee_billed),
            ins::late_fee_minor.eq(item.late_fee_minor),
            ins::principal_paid_minor.eq(item.principal_paid_minor),
            ins::fee_paid_minor.eq(item.fee_paid_minor),
            ins::late_fee_paid_minor.eq(item.late_fee_paid_minor),
            ins::state.eq(item.state.as_str()),
            ins::was_overdue.eq(item.was_overdue),
            ins::days_overdue.eq(i32::try_from(item.days_overdue).unwrap_or(i32::MAX)),
        ))
        .execute(conn)?;
    Ok(())
}

/// Applies a payment of `amount` out of `source` to what the user owes; one entry, one movement.
pub(crate) fn pay_debt(
    conn: &mut DbConn,
    user_id: Uuid,
    items: &mut [Installment],
    allocation: &credit::Allocation,
    source: Source,
    kind: MovementKind,
    now: DateTime<Utc>,
) -> Result<Movement, StoreError> {
    let y = allocation.late_fees_minor + allocation.fees_minor + allocation.principal_minor;
    let uid = user_id.to_string();
    // Applied first (in memory) to learn how many overdue parts this pays off; if the
    // update below refuses, the transaction is rolled back and nothing was saved.
    let overdue_before: Vec<usize> =
        allocation.parts.iter().map(|p| p.0).filter(|i| items[*i].state == InstallmentState::Overdue).collect();
    credit::apply(items, allocation);
    let overdue_paid = overdue_before.iter().filter(|i| items[**i].state == InstallmentState::Paid).count();
    let overdue_paid = i64::try_from(overdue_paid).expect("at most the user's installments");
    let settlements = i64::from(kind == MovementKind::CollateralSettlement);
    let debt = (
        ma::late_fees_minor.eq(ma::late_fees_minor - allocation.late_fees_minor),
        ma::fees_minor.eq(ma::fees_minor - allocation.fees_minor),
        ma::principal_minor.eq(ma::principal_minor - allocation.principal_minor),
        ma::collateral_settlements.eq(ma::collateral_settlements + settlements),
        ma::overdue_count.eq(ma::overdue_count - overdue_paid),
    );
    let row: Option<FullRow> = match source {
        Source::Wallet => diesel::update(ma::table.filter(ma::user_id.eq(&uid)).filter(ma::wallet_minor.ge(y)))
            .set((ma::wallet_minor.eq(ma::wallet_minor - y), debt))
            .returning(full_columns!())
            .get_result(conn)
            .optional()?,
        Source::Vault => diesel::update(ma::table.filter(ma::user_id.eq(&uid)).filter(ma::vault_minor.ge(y)))
            .set((ma::vault_minor.eq(ma::vault_minor - y), debt))
            .returning(full_columns!())
            .get_result(conn)
            .optional()?,
    };
    let Some(row) = row else {
        let state = account_row::account(conn, user_id)?;
        let balance_minor = if source == Source::Wallet { state.wallet_minor } else { state.vault_minor };
        return Err(StoreError::Refused(Refusal::InsufficientFunds { from: source, balance_minor }));
    };
    for (i, ..) in &allocation.parts {
        save_installment(conn, &items[*i])?;
    }
    let after = state_from_row(row.0.clone())?;
    if source == Source::Vault {
        super::score::lower_vault_floor(conn, user_id)?;
    }
    if source == Source::Vault && after.line == CreditLine::Secured {
        let before = after.vault_minor + y;
        let reason =
            if kind == MovementKind::VaultRepayment { LimitReason::Autopay } else { LimitReason::CollateralSettlement };
        limits::record(conn, user_id, after.line, before, after.vault_minor, reason, now)?;
    }
    let from = if source == Source::Wallet { UserAccount::Wallet } else { UserAccount::Vault };
    let legs = [(account_id(user_id, from), -y), (account_id(user_id, UserAccount::Credit), y)];
    let entry = ledger::post_entry(conn, kind.as_str(), Some(user_id), now, &legs)?;
    if source == Source::Vault {
        // Settled by billing, whatever the user's status: read it with the rest.
        return ledger::record(conn, user_id, entry, kind, y, None, None, now);
    }
    // Repaid by the user, who may be frozen.
    let view = ledger::View { kind, amount_minor: y, counterparty: None, note: None, now };
    let status = super::users::status(conn, user_id)?;
    ledger::record_after(conn, user_id, entry, view, status, &row)
}

// ---------------------------------------------------------------- billing
