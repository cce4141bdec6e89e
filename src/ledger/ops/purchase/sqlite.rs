//! A purchase's hold, capture and cancel on SQLite: the model decides (`rule.rs`), then
//! the statements write. Their PostgreSQL twins are one function call each (`pg.rs`,
//! `pg.sql`).

use chrono::{DateTime, Utc};
use diesel::prelude::*;
use uuid::Uuid;

use crate::domain::account::Refusal;
use crate::domain::credit::{Purchase, PurchaseState};
use crate::domain::limits::VelocityLimits;
use crate::domain::movement::Movement;
use crate::domain::schedule;
use crate::ledger::{account, model};
use crate::store::credit::{CaptureTerms, capture_on, purchase};
use crate::store::ledger::{self, LENDER_CAPITAL, UserAccount, account_id};
use crate::store::schema::{merchants, purchases as pu};
use crate::store::score::Ctx;
use crate::store::{DbConn, StoreError};

fn corrupt(what: impl std::fmt::Display) -> StoreError {
    StoreError::Corrupt(what.to_string())
}

/// The caller's purchase as the model needs it; `None` if it is not theirs.
fn purchase_found(conn: &mut DbConn, user_id: Uuid, id: Uuid) -> Result<Option<model::PurchaseFound>, StoreError> {
    let row: Option<(String, i64)> = pu::table
        .filter(pu::id.eq(id.to_string()))
        .filter(pu::user_id.eq(user_id.to_string()))
        .select((pu::state, pu::amount_minor))
        .first(conn)
        .optional()?;
    row.map(|(state, amount_minor)| {
        let state = PurchaseState::from_db(&state).ok_or_else(|| corrupt(format!("purchases.state `{state}`")))?;
        Ok(model::PurchaseFound { state, amount_minor })
    })
    .transpose()
}

/// Authorises the hold `hold` describes (SQLite's path): the model accepts it only if
/// afterwards `exposure <= limit`, the user is active and nothing is overdue.
pub fn authorize(conn: &mut DbConn, hold: &Purchase, now: DateTime<Utc>) -> Result<Purchase, StoreError> {
    assert!(schedule::is_allowed_count(hold.installments), "validated at the edge");
    let merchant: Option<String> = merchants::table
        .filter(merchants::id.eq(hold.merchant_id.to_string()))
        .select(merchants::id)
        .first(conn)
        .optional()?;
    if merchant.is_none() {
        return Err(StoreError::Refused(Refusal::NotFound("merchant")));
    }
    let (user_id, id, x) = (hold.user_id, hold.id, hold.amount_minor);
    let uid = user_id.to_string();
    let standing = account::standing_row(conn, user_id)?;
    let effects =
        model::step(&standing, model::Op::Hold(x), &VelocityLimits::default()).map_err(StoreError::Refused)?;
    account::write_effects(conn, &uid, &effects)?;
    diesel::insert_into(pu::table)
        .values((
            pu::id.eq(id.to_string()),
            pu::user_id.eq(&uid),
            pu::merchant_id.eq(hold.merchant_id.to_string()),
            pu::amount_minor.eq(x),
            pu::installments.eq(i32::try_from(hold.installments).expect("at most 24")),
            pu::description.eq(hold.description.as_deref()),
            pu::state.eq(PurchaseState::Authorized.as_str()),
            pu::created_at.eq(now.naive_utc()),
        ))
        .execute(conn)?;
    let legs = [(LENDER_CAPITAL.to_owned(), -x), (account_id(user_id, UserAccount::Hold), x)];
    ledger::post_entry(conn, "purchase_hold", Some(user_id), now, &legs)?;
    purchase(conn, user_id, id)?.ok_or_else(|| corrupt(format!("purchase {id} vanished")))
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
    let standing = account::standing_row(conn, user_id)?;
    let found = purchase_found(conn, user_id, id)?;
    model::step(&standing, model::Op::Capture(found), &VelocityLimits::default()).map_err(StoreError::Refused)?;
    let terms = CaptureTerms { repayment_day, fee_rate, on: ctx.now.date_naive(), by_billing: false };
    capture_on(conn, user_id, id, &terms, ctx)
}

/// The buyer cancels an authorised hold: the model decides, `store::credit::void` writes.
pub fn void(conn: &mut DbConn, user_id: Uuid, id: Uuid, now: DateTime<Utc>) -> Result<Purchase, StoreError> {
    let standing = account::standing_row(conn, user_id)?;
    let found = purchase_found(conn, user_id, id)?;
    model::step(&standing, model::Op::Void(found), &VelocityLimits::default()).map_err(StoreError::Refused)?;
    crate::store::credit::void(conn, user_id, id, now)
}
