//! Purchases on credit, installments, repayments and billing. Every operation that reads
//! installments first locks the user's account row, so purchases, repayments and billing
//! runs for one user take turns; each money step is one balanced journal entry.

use chrono::{DateTime, NaiveDate, NaiveDateTime, TimeDelta, Utc};
use diesel::dsl::exists;
use diesel::prelude::*;
use uuid::Uuid;

use super::ledger::{self, LATE_FEE_INCOME, LENDER_CAPITAL, MERCHANT_PAYABLES, UserAccount, account_id};
use super::limits::{self, LimitReason};
use super::money::{FullRow, StateRow, full_columns, state_columns, state_from_row};
use super::schema::{installments as ins, merchants, money_accounts as ma, purchases as pu, users};
use super::score::Ctx;
use super::{DbConn, StoreError};
use crate::domain::account::{AccountState, CreditLine, Refusal, Source};
use crate::domain::credit::{self, BillingRules, Installment, InstallmentState, Purchase, PurchaseState, RepayRefusal};
use crate::domain::money::Amount;
use crate::domain::movement::{Movement, MovementKind};
use crate::domain::schedule;
use crate::domain::score::ScoreModel;
use crate::domain::user::UserStatus;

fn corrupt(what: impl std::fmt::Display) -> StoreError {
    StoreError::Corrupt(what.to_string())
}

fn parse_uuid(text: &str, what: &str) -> Result<Uuid, StoreError> {
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

// ---------------------------------------------------------------- reading purchases

pub(super) type InstallmentRow = (String, i32, i32, NaiveDate, i64, i64, bool, i64, i64, i64, i64, String, bool, i32);

pub(super) fn installment_from_row(row: InstallmentRow) -> Result<Installment, StoreError> {
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
fn unpaid_installments(conn: &mut DbConn, user_id: Uuid) -> Result<Vec<Installment>, StoreError> {
    let rows: Vec<InstallmentRow> = ins::table
        .inner_join(pu::table)
        .filter(ins::user_id.eq(user_id.to_string()))
        .filter(ins::state.ne(InstallmentState::Paid.as_str()))
        .order((ins::due_date.asc(), ins::purchase_id.asc(), ins::seq.asc()))
        .select(installment_columns!())
        .load(conn)?;
    rows.into_iter().map(installment_from_row).collect()
}

fn schedule_of(conn: &mut DbConn, purchase_ids: &[String]) -> Result<Vec<Installment>, StoreError> {
    let rows: Vec<InstallmentRow> = ins::table
        .inner_join(pu::table)
        .filter(ins::purchase_id.eq_any(purchase_ids))
        .order((ins::purchase_id.asc(), ins::seq.asc()))
        .select(installment_columns!())
        .load(conn)?;
    rows.into_iter().map(installment_from_row).collect()
}

pub(super) type PurchaseRow = (String, String, String, i64, i32, Option<String>, String, NaiveDateTime);

pub(super) fn purchase_from_row(row: PurchaseRow, all: &[Installment]) -> Result<Purchase, StoreError> {
    let (id, user_id, merchant_id, amount, count, description, state, created_at) = row;
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
    })
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
    rows.into_iter().map(|r| purchase_from_row(r, &schedule)).collect()
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
    purchase_from_row(row, &schedule).map(Some)
}

/// Due and overdue installments, oldest first.
pub fn bill(conn: &mut DbConn, user_id: Uuid) -> Result<Vec<Installment>, StoreError> {
    Ok(unpaid_installments(conn, user_id)?
        .into_iter()
        .filter(|i| matches!(i.state, InstallmentState::Due | InstallmentState::Overdue))
        .collect())
}

// ---------------------------------------------------------------- the purchase lifecycle

fn frozen(conn: &mut DbConn, user_id: Uuid) -> Result<bool, StoreError> {
    let status: String = users::table.filter(users::id.eq(user_id.to_string())).select(users::status).first(conn)?;
    Ok(status == UserStatus::Frozen.as_str())
}

/// Takes the user's account row lock (and reads it): later statements in the transaction
/// see every change committed before, and nothing else for this user runs until commit.
fn lock_account(conn: &mut DbConn, user_id: Uuid) -> Result<(AccountState, DateTime<Utc>), StoreError> {
    let row: FullRow = diesel::update(ma::table.filter(ma::user_id.eq(user_id.to_string())))
        .set(ma::wallet_minor.eq(ma::wallet_minor))
        .returning(full_columns!())
        .get_result(conn)?;
    Ok((state_from_row(row.0)?, row.1.and_utc()))
}

pub struct NewPurchase<'a> {
    pub merchant_id: Uuid,
    pub amount: Amount,
    pub installments: u32,
    pub description: Option<&'a str>,
}

/// Authorises a hold: accepted only if afterwards `exposure <= limit`, the user is active
/// and nothing is overdue, all decided by one conditional UPDATE.
pub fn authorize(
    conn: &mut DbConn,
    user_id: Uuid,
    new: &NewPurchase<'_>,
    now: DateTime<Utc>,
) -> Result<Purchase, StoreError> {
    assert!(schedule::is_allowed_count(new.installments), "validated at the edge");
    let merchant: Option<String> = merchants::table
        .filter(merchants::id.eq(new.merchant_id.to_string()))
        .select(merchants::id)
        .first(conn)
        .optional()?;
    if merchant.is_none() {
        return Err(StoreError::Refused(Refusal::NotFound("merchant")));
    }
    let (uid, x) = (user_id.to_string(), new.amount.minor());
    let exposure = ma::held_minor + ma::principal_minor + ma::fees_minor + ma::late_fees_minor;
    let active =
        exists(users::table.filter(users::id.eq(uid.clone())).filter(users::status.eq(UserStatus::Active.as_str())));
    let held: Option<StateRow> = diesel::update(
        ma::table.filter(ma::user_id.eq(&uid)).filter(active).filter(ma::overdue_count.eq(0)).filter(
            (ma::line.eq(CreditLine::Secured.as_str()).and((ma::vault_minor - exposure).ge(x)))
                .or(ma::line.eq(CreditLine::General.as_str()).and((ma::general_limit_minor - exposure).ge(x))),
        ),
    )
    .set(ma::held_minor.eq(ma::held_minor + x))
    .returning(state_columns!())
    .get_result(conn)
    .optional()?;
    if held.is_none() {
        if frozen(conn, user_id)? {
            return Err(StoreError::Refused(Refusal::AccountFrozen));
        }
        let (state, overdue_count) = super::money::account_and_overdue(conn, user_id)?;
        if overdue_count > 0 {
            return Err(StoreError::Refused(Refusal::AccountDelinquent));
        }
        return Err(StoreError::Refused(Refusal::CreditLimitExceeded { available_minor: state.available_minor() }));
    }
    let id = Uuid::now_v7();
    diesel::insert_into(pu::table)
        .values((
            pu::id.eq(id.to_string()),
            pu::user_id.eq(&uid),
            pu::merchant_id.eq(new.merchant_id.to_string()),
            pu::amount_minor.eq(x),
            pu::installments.eq(i32::try_from(new.installments).expect("at most 24")),
            pu::description.eq(new.description),
            pu::state.eq(PurchaseState::Authorized.as_str()),
            pu::created_at.eq(now.naive_utc()),
        ))
        .execute(conn)?;
    let legs = [(LENDER_CAPITAL.to_owned(), -x), (account_id(user_id, UserAccount::Hold), x)];
    ledger::post_entry(conn, "purchase_hold", Some(user_id), now, &legs)?;
    purchase(conn, user_id, id)?.ok_or_else(|| corrupt(format!("purchase {id} vanished")))
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

/// The buyer confirms receipt: the hold becomes principal owed, the lender pays the
/// merchant in full, and the schedule starts.
pub fn capture(
    conn: &mut DbConn,
    user_id: Uuid,
    id: Uuid,
    repayment_day: u32,
    fee_rate: rust_decimal::Decimal,
    ctx: &Ctx<'_>,
) -> Result<(Purchase, Movement), StoreError> {
    let now = ctx.now;
    if purchase(conn, user_id, id)?.is_some() && frozen(conn, user_id)? {
        return Err(StoreError::Refused(Refusal::AccountFrozen));
    }
    let (x, count) = leave_authorized(conn, user_id, id, PurchaseState::Captured, now)?;
    let row: Option<FullRow> =
        diesel::update(ma::table.filter(ma::user_id.eq(user_id.to_string())).filter(ma::held_minor.ge(x)))
            .set((ma::held_minor.eq(ma::held_minor - x), ma::principal_minor.eq(ma::principal_minor + x)))
            .returning(full_columns!())
            .get_result(conn)
            .optional()?;
    let Some(row) = row else {
        return Err(corrupt(format!("user {user_id} holds less than purchase {id}")));
    };
    let parts = schedule::plan(x, count, now.date_naive(), repayment_day, fee_rate);
    for part in &parts {
        diesel::insert_into(ins::table)
            .values((
                ins::purchase_id.eq(id.to_string()),
                ins::seq.eq(i32::try_from(part.seq).expect("at most 24")),
                ins::user_id.eq(user_id.to_string()),
                ins::due_date.eq(part.due_date),
                ins::principal_minor.eq(part.principal_minor),
                ins::fee_minor.eq(part.fee_minor),
            ))
            .execute(conn)?;
    }
    let legs = [
        (account_id(user_id, UserAccount::Hold), -x),
        (LENDER_CAPITAL.to_owned(), x),
        (MERCHANT_PAYABLES.to_owned(), x),
        (account_id(user_id, UserAccount::Credit), -x),
    ];
    let entry = ledger::post_entry(conn, MovementKind::PurchaseCapture.as_str(), Some(user_id), now, &legs)?;
    let view =
        ledger::View { kind: MovementKind::PurchaseCapture, amount_minor: x, counterparty: None, note: None, now };
    // A frozen buyer was refused above.
    let movement = ledger::record_after(conn, user_id, entry, view, UserStatus::Active, &row)?;
    let purchase = purchase(conn, user_id, id)?.ok_or_else(|| corrupt(format!("purchase {id} vanished")))?;
    Ok((purchase, movement))
}

/// Voids an authorised hold (the buyer cancels, or it expired).
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

fn save_installment(conn: &mut DbConn, item: &Installment) -> Result<(), StoreError> {
    diesel::update(ins::table.find((item.purchase_id.to_string(), i32::try_from(item.seq).expect("at most 24"))))
        .set((
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
fn pay_debt(
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
        let state = super::money::account(conn, user_id)?;
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
        limits::record(conn, user_id, after.line, before, after.vault_minor, LimitReason::CollateralSettlement, now)?;
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

/// Pays from the wallet: late fees, then billed fees, then principal, oldest due first.
/// A frozen user may repay: debt is debt, and paying it moves no money out of reach.
pub fn repay(conn: &mut DbConn, user_id: Uuid, amount: Amount, now: DateTime<Utc>) -> Result<Movement, StoreError> {
    lock_account(conn, user_id)?;
    let mut items = unpaid_installments(conn, user_id)?;
    let allocation = credit::allocate(&items, amount.minor()).map_err(|r| {
        StoreError::Refused(match r {
            RepayRefusal::NothingToRepay => Refusal::NothingToRepay,
            RepayRefusal::Overpayment { owed_minor } => Refusal::Overpayment { owed_minor },
        })
    })?;
    pay_debt(conn, user_id, &mut items, &allocation, Source::Wallet, MovementKind::Repayment, now)
}

// ---------------------------------------------------------------- billing

/// What one billing run did.
#[derive(Clone, Debug, Default, PartialEq, Eq, serde::Serialize, utoipa::ToSchema)]
pub struct BillingCounts {
    pub installments_due: u64,
    pub installments_overdue: u64,
    pub late_fees_charged: u64,
    pub collateral_settlements: u64,
    /// Holds voided because the buyer never confirmed receipt in time.
    pub holds_expired: u64,
    /// Parts paid by their due date that earned their on-time credit in this run.
    pub on_time_credited: u64,
}

impl std::ops::AddAssign for BillingCounts {
    fn add_assign(&mut self, other: Self) {
        self.installments_due += other.installments_due;
        self.installments_overdue += other.installments_overdue;
        self.late_fees_charged += other.late_fees_charged;
        self.collateral_settlements += other.collateral_settlements;
        self.holds_expired += other.holds_expired;
        self.on_time_credited += other.on_time_credited;
    }
}

/// Users billing has anything to do for as of `as_of`.
pub fn billing_candidates(conn: &mut DbConn, as_of: NaiveDate, hold_days: u32) -> Result<Vec<Uuid>, StoreError> {
    let mut ids: Vec<String> =
        ins::table.filter(ins::state.ne(InstallmentState::Paid.as_str())).select(ins::user_id).distinct().load(conn)?;
    let expiry = hold_expiry_cutoff(as_of, hold_days);
    let holders: Vec<String> = pu::table
        .filter(pu::state.eq(PurchaseState::Authorized.as_str()))
        .filter(pu::created_at.lt(expiry))
        .select(pu::user_id)
        .distinct()
        .load(conn)?;
    ids.extend(holders);
    let to_credit: Vec<String> = ins::table
        .filter(ins::state.eq(InstallmentState::Paid.as_str()))
        .filter(ins::was_overdue.eq(false))
        .filter(ins::on_time_credited.eq(false))
        .filter(ins::due_date.le(as_of))
        .select(ins::user_id)
        .distinct()
        .load(conn)?;
    ids.extend(to_credit);
    ids.sort();
    ids.dedup();
    ids.iter().map(|id| parse_uuid(id, "user id")).collect()
}

/// Holds created before the start of this day are expired as of `as_of`.
fn hold_expiry_cutoff(as_of: NaiveDate, hold_days: u32) -> NaiveDateTime {
    (as_of - TimeDelta::days(i64::from(hold_days))).and_hms_opt(0, 0, 0).expect("midnight exists")
}

fn debt_movement(
    conn: &mut DbConn,
    user_id: Uuid,
    kind: MovementKind,
    income: &str,
    amount_minor: i64,
    ctx: &Ctx<'_>,
) -> Result<(), StoreError> {
    let fees = if kind == MovementKind::Fee { amount_minor } else { 0 };
    let late = if kind == MovementKind::LateFee { amount_minor } else { 0 };
    diesel::update(ma::table.filter(ma::user_id.eq(user_id.to_string())))
        .set((ma::fees_minor.eq(ma::fees_minor + fees), ma::late_fees_minor.eq(ma::late_fees_minor + late)))
        .execute(conn)?;
    let legs = [(account_id(user_id, UserAccount::Credit), -amount_minor), (income.to_owned(), amount_minor)];
    let entry = ledger::post_entry(conn, kind.as_str(), Some(user_id), ctx.now, &legs)?;
    ledger::record(conn, user_id, entry, kind, amount_minor, None, None, ctx.now).map(|_| ())
}

/// Bills one user as of `as_of`, in the caller's transaction, under the user's row lock:
/// expires stale holds, bills due installments, marks overdue ones, charges late fees, and
/// on a secured line settles debt past the grace period from the vault.
pub fn bill_user(
    conn: &mut DbConn,
    user_id: Uuid,
    as_of: NaiveDate,
    rules: &BillingRules,
    ctx: &Ctx<'_>,
) -> Result<BillingCounts, StoreError> {
    let now = ctx.now;
    let mut counts = BillingCounts::default();
    lock_account(conn, user_id)?;

    let stale: Vec<String> = pu::table
        .filter(pu::user_id.eq(user_id.to_string()))
        .filter(pu::state.eq(PurchaseState::Authorized.as_str()))
        .filter(pu::created_at.lt(hold_expiry_cutoff(as_of, rules.hold_days)))
        .select(pu::id)
        .load(conn)?;
    for id in stale {
        void(conn, user_id, parse_uuid(&id, "purchases.id")?, now)?;
        counts.holds_expired += 1;
    }

    let mut items = unpaid_installments(conn, user_id)?;
    let (mut fees, mut late_fees, mut overdue_days) = (0_i64, 0_i64, 0_i64);
    for item in items.iter_mut() {
        let step = credit::bill(item, as_of, rules);
        if step == credit::BillingStep::default() {
            continue;
        }
        counts.installments_due += u64::from(step.became_due);
        counts.installments_overdue += u64::from(step.became_overdue);
        counts.late_fees_charged += u64::from(step.late_fee_charged_minor > 0);
        fees += step.fee_billed_minor;
        late_fees += step.late_fee_charged_minor;
        overdue_days += step.overdue_days_added;
        save_installment(conn, item)?;
    }
    if counts.installments_overdue > 0 || overdue_days > 0 {
        let newly = i64::try_from(counts.installments_overdue).unwrap_or(i64::MAX);
        diesel::update(ma::table.filter(ma::user_id.eq(user_id.to_string())))
            .set((
                ma::overdue_installments.eq(ma::overdue_installments + newly),
                ma::overdue_count.eq(ma::overdue_count + newly),
                ma::overdue_days.eq(ma::overdue_days + overdue_days),
            ))
            .execute(conn)?;
    }
    if fees > 0 {
        debt_movement(conn, user_id, MovementKind::Fee, ledger::FEE_INCOME, fees, ctx)?;
    }
    if late_fees > 0 {
        debt_movement(conn, user_id, MovementKind::LateFee, LATE_FEE_INCOME, late_fees, ctx)?;
    }

    counts.on_time_credited += credit_on_time(conn, user_id, as_of, ctx.score)?;

    let account = super::money::account(conn, user_id)?;
    if account.line == CreditLine::Secured && account.vault_minor > 0 {
        let mut overdue: Vec<Installment> =
            items.iter().filter(|i| credit::past_grace(i, as_of, rules)).cloned().collect();
        let allocation = credit::allocate_up_to(&overdue, account.vault_minor);
        if !allocation.parts.is_empty() {
            let settlement = MovementKind::CollateralSettlement;
            pay_debt(conn, user_id, &mut overdue, &allocation, Source::Vault, settlement, ctx.now)?;
            counts.collateral_settlements += 1;
        }
    }
    Ok(counts)
}

/// Gives on-time credit for the parts of `user_id` paid by a due date that has now come
/// (`as_of`) and never overdue: each part once, so prepaying a whole schedule earns its
/// credit month by month as the parts fall due (one part per purchase per month), and
/// weighted by the part's size (`score::on_time_units`: a part below one step earns
/// nothing). Answers how many parts were credited.
fn credit_on_time(conn: &mut DbConn, user_id: Uuid, as_of: NaiveDate, model: &ScoreModel) -> Result<u64, StoreError> {
    let uid = user_id.to_string();
    let parts: Vec<(String, i32, i64)> = ins::table
        .filter(ins::user_id.eq(&uid))
        .filter(ins::state.eq(InstallmentState::Paid.as_str()))
        .filter(ins::was_overdue.eq(false))
        .filter(ins::on_time_credited.eq(false))
        .filter(ins::due_date.le(as_of))
        .select((ins::purchase_id, ins::seq, ins::principal_minor))
        .load(conn)?;
    if parts.is_empty() {
        return Ok(0);
    }
    let mut units = 0;
    for (purchase_id, seq, principal_minor) in &parts {
        diesel::update(ins::table.filter(ins::purchase_id.eq(purchase_id)).filter(ins::seq.eq(seq)))
            .set(ins::on_time_credited.eq(true))
            .execute(conn)?;
        units += crate::domain::score::on_time_units(*principal_minor, model);
    }
    if units > 0 {
        diesel::update(ma::table.filter(ma::user_id.eq(&uid)))
            .set(ma::on_time_installments.eq(ma::on_time_installments + units))
            .execute(conn)?;
    }
    Ok(u64::try_from(parts.len()).expect("a count"))
}

/// One user's share of a billing run (listed by dry runs).
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, utoipa::ToSchema)]
pub struct UserCounts {
    #[schema(format = Uuid)]
    pub user_id: String,
    #[serde(flatten)]
    pub counts: BillingCounts,
}

/// What a billing run did, or with `dry_run` would do.
#[derive(Clone, Debug, Default, PartialEq, Eq, serde::Serialize, utoipa::ToSchema)]
pub struct BillingReport {
    #[serde(flatten)]
    pub counts: BillingCounts,
    pub dry_run: bool,
    /// Dry runs: each user the run would change, at most `DRY_RUN_LIST_LIMIT`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub users: Option<Vec<UserCounts>>,
    /// Dry runs: users the run would change beyond the list.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub users_not_listed: Option<u64>,
}

pub const DRY_RUN_LIST_LIMIT: usize = 500;

/// Bills every user with something to bill, each in their own transaction (retried on
/// contention). Safe to run twice, or from two instances at once. A dry run does the same
/// work in transactions that are rolled back, so it writes nothing.
pub fn run_billing(
    conn: &mut DbConn,
    as_of: NaiveDate,
    rules: &BillingRules,
    score: &crate::domain::score::ScoreModel,
    max_retries: u32,
    dry_run: bool,
) -> Result<BillingReport, StoreError> {
    let mut report = BillingReport { dry_run, ..BillingReport::default() };
    if !dry_run {
        super::transaction(conn, max_retries, |c| super::score::refresh_vault_floors(c, crate::domain::time::now()))?;
    }
    let mut listed = Vec::new();
    let mut not_listed = 0_u64;
    for user_id in billing_candidates(conn, as_of, rules.hold_days)? {
        let bill =
            |c: &mut DbConn| bill_user(c, user_id, as_of, rules, &Ctx { now: crate::domain::time::now(), score });
        let counts = if dry_run {
            super::tx::retrying(conn, max_retries, |c| super::tx::rolled_back(c, bill))?
        } else {
            super::transaction(conn, max_retries, bill)?
        };
        if dry_run && counts != BillingCounts::default() {
            if listed.len() < DRY_RUN_LIST_LIMIT {
                listed.push(UserCounts { user_id: user_id.to_string(), counts: counts.clone() });
            } else {
                not_listed += 1;
            }
        }
        report.counts += counts;
    }
    if dry_run {
        report.users = Some(listed);
        report.users_not_listed = Some(not_listed);
    }
    Ok(report)
}
