//! Monthly statements: each customer with credit activity gets one per cycle, issued by the
//! billing run on the statement day (`credit.statement_lead_days` before the repayment day)
//! and never changed afterwards. A statement takes every journal entry that moved the
//! customer's credit account since the previous one (`statement_entries` gives each entry to
//! exactly one statement), so opening + charges - credits = closing holds by construction and
//! the ledger check (`check`) proves it against the journal for every statement.
//! Also here: the due-date reminders the same run sends (`reminders`).

mod build;
mod check;
mod emit;
pub mod reminders;
mod schema;

use chrono::{NaiveDate, NaiveDateTime};
use diesel::prelude::*;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

pub use check::check;

use super::billing::BillingCounts;
use super::{DbConn, StoreError};
use crate::domain::credit::BillingRules;
use crate::domain::score::ScoreModel;
use schema::statements as st;

/// What a customer owes, by part, in minor units.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Owed {
    pub principal: i64,
    pub fees: i64,
    pub late_fees: i64,
}

impl Owed {
    pub fn total(&self) -> i64 {
        self.principal + self.fees + self.late_fees
    }
}

/// One movement of the period: `amount` raises what is owed when positive (a charge) and
/// lowers it when negative (a credit).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Line {
    /// `captures`, `fees`, `late_fees`, `repayments`, `refunds`, `collateral_settlements`, `other`.
    pub group: String,
    /// The movement's kind (`repayment`, `vault_repayment` for autopay from the vault, ...).
    pub kind: String,
    pub entry_id: String,
    pub date: NaiveDate,
    pub description: Option<String>,
    pub amount: i64,
}

/// An installment the statement asks to be paid by its due date.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct DueInstallment {
    pub purchase_id: String,
    pub seq: i32,
    pub due_date: NaiveDate,
    pub owed: i64,
}

/// A statement as issued: stored as this JSON, hashed, never changed.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Statement {
    pub id: String,
    pub user_id: String,
    pub period_start: NaiveDate,
    pub period_end: NaiveDate,
    pub opening: Owed,
    pub lines: Vec<Line>,
    pub charges: i64,
    pub credits: i64,
    pub closing: Owed,
    pub amount_due: i64,
    pub due_date: NaiveDate,
    pub installments_due: Vec<DueInstallment>,
    pub limit: i64,
    pub available: i64,
    pub score: i64,
}

/// What event `statement.issued` shows.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct IssuedNotice {
    pub id: String,
    pub period_start: NaiveDate,
    pub period_end: NaiveDate,
    pub closing: i64,
    pub amount_due: i64,
    pub due_date: NaiveDate,
}

/// What event `installment.reminder` shows.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Reminder {
    pub purchase_id: String,
    pub seq: i32,
    pub due_date: NaiveDate,
    pub amount_due: i64,
}

/// A stored statement: what was issued, its hash, and when.
#[derive(Clone, Debug)]
pub struct Issued {
    pub statement: Statement,
    pub content_hash: String,
    pub issued_at: NaiveDateTime,
}

/// The billing run's closing step, one call: issues the statements of the cycle whose
/// statement day `as_of` has reached, then sends the due-date reminders. Each user's
/// statement is its own transaction; a dry run rolls everything back.
pub fn close_cycle(
    conn: &mut DbConn,
    as_of: NaiveDate,
    rules: &BillingRules,
    score: &ScoreModel,
    max_retries: u32,
    dry_run: bool,
) -> Result<BillingCounts, StoreError> {
    let mut counts = BillingCounts::default();
    let run = |c: &mut DbConn, f: &mut dyn FnMut(&mut DbConn) -> Result<u64, StoreError>| {
        if dry_run {
            super::tx::retrying(c, max_retries, |c| super::tx::rolled_back(c, &mut *f))
        } else {
            super::transaction(c, max_retries, &mut *f)
        }
    };
    if let Some(cycle) = build::cycle_on(as_of, rules) {
        for user_id in build::users_to_state(conn, cycle.statement_day)? {
            let mut issue = |c: &mut DbConn| build::issue(c, user_id, &cycle, score).map(u64::from);
            counts.statements_issued += run(conn, &mut issue)?;
        }
    }
    let mut remind = |c: &mut DbConn| reminders::send_due(c, as_of, rules.reminder_days);
    counts.reminders_sent += run(conn, &mut remind)?;
    Ok(counts)
}

/// The user's statements, newest first, after the statement `after` (a cursor).
pub fn list(conn: &mut DbConn, user_id: Uuid, after: Option<&str>, limit: u32) -> Result<Vec<Issued>, StoreError> {
    let mut query = st::table
        .filter(st::user_id.eq(user_id.to_string()))
        .order(st::id.desc())
        .limit(i64::from(limit))
        .select((st::body, st::content_hash, st::issued_at))
        .into_boxed();
    if let Some(after) = after {
        query = query.filter(st::id.lt(after.to_owned()));
    }
    query.load::<(String, String, NaiveDateTime)>(conn)?.into_iter().map(parse).collect()
}

/// One of the user's statements; `None` if there is none with that id for this user.
pub fn get(conn: &mut DbConn, user_id: Uuid, id: Uuid) -> Result<Option<Issued>, StoreError> {
    let row: Option<(String, String, NaiveDateTime)> = st::table
        .filter(st::id.eq(id.to_string()))
        .filter(st::user_id.eq(user_id.to_string()))
        .select((st::body, st::content_hash, st::issued_at))
        .first(conn)
        .optional()?;
    row.map(parse).transpose()
}

fn parse((body, content_hash, issued_at): (String, String, NaiveDateTime)) -> Result<Issued, StoreError> {
    let statement = serde_json::from_str(&body).map_err(|e| StoreError::Corrupt(format!("statement body: {e}")))?;
    Ok(Issued { statement, content_hash, issued_at })
}

/// The SHA-256 of a statement's stored text, as hex.
pub fn content_hash(body: &str) -> String {
    use sha2::{Digest, Sha256};
    Sha256::digest(body.as_bytes()).iter().map(|b| format!("{b:02x}")).collect()
}
