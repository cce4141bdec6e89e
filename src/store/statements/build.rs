//! Building and storing one statement, under the account's lock, from the journal.

use chrono::{Datelike, Months, NaiveDate, NaiveDateTime, TimeDelta};
use diesel::prelude::*;
use diesel::sql_types::{BigInt, Date, Integer, Nullable, Text, Timestamp};
use uuid::Uuid;

use super::schema::{statement_entries as se, statements as st};
use super::{DueInstallment, Line, Owed, Statement};
use crate::domain::credit::BillingRules;
use crate::domain::score::ScoreModel;
use crate::store::score::Ctx;
use crate::store::{DbConn, StoreError};

/// One cycle: the statement closes on `statement_day`; what it bills is due on `due_date`.
pub struct Cycle {
    pub statement_day: NaiveDate,
    pub due_date: NaiveDate,
}

/// The latest cycle whose statement day is `as_of` or before it.
pub fn cycle_on(as_of: NaiveDate, rules: &BillingRules) -> Option<Cycle> {
    let month = as_of.with_day(1)?;
    [month.checked_add_months(Months::new(1)), Some(month), month.checked_sub_months(Months::new(1))]
        .into_iter()
        .flatten()
        .filter_map(|first| first.with_day(rules.repayment_day))
        .map(|due_date| Cycle { statement_day: due_date - TimeDelta::days(rules.statement_lead_days.into()), due_date })
        .find(|cycle| cycle.statement_day <= as_of)
}

#[derive(QueryableByName)]
struct UserId {
    #[diesel(sql_type = Text)]
    user_id: String,
}

/// Users without a statement for this cycle yet who owe anything or whose credit account
/// moved since their last statement.
pub fn users_to_state(conn: &mut DbConn, statement_day: NaiveDate) -> Result<Vec<Uuid>, StoreError> {
    let rows: Vec<UserId> = diesel::sql_query(
        "SELECT m.user_id FROM money_accounts m \
         WHERE NOT EXISTS (SELECT 1 FROM statements s WHERE s.user_id = m.user_id AND s.period_end >= $1) \
           AND (m.principal_minor + m.fees_minor + m.late_fees_minor <> 0 \
                OR EXISTS (SELECT 1 FROM postings p WHERE p.account_id = m.user_id || ':credit' \
                           AND NOT EXISTS (SELECT 1 FROM statement_entries e \
                                           WHERE e.user_id = m.user_id AND e.entry_id = p.entry_id))) \
         ORDER BY m.user_id",
    )
    .bind::<Date, _>(statement_day)
    .load(conn)?;
    rows.iter().map(|r| crate::store::credit::parse_uuid(&r.user_id, "money_accounts.user_id")).collect()
}

#[derive(QueryableByName)]
struct EntryRow {
    #[diesel(sql_type = Text)]
    entry_id: String,
    #[diesel(sql_type = Text)]
    kind: String,
    #[diesel(sql_type = Timestamp)]
    created_at: NaiveDateTime,
    #[diesel(sql_type = BigInt)]
    amount_minor: i64,
    #[diesel(sql_type = Nullable<Text>)]
    counterparty: Option<String>,
    #[diesel(sql_type = Nullable<Text>)]
    note: Option<String>,
}

/// Every entry that moved the user's credit account before `cut` and is on no statement yet,
/// oldest first.
fn new_lines(conn: &mut DbConn, user_id: &str, cut: NaiveDateTime) -> Result<Vec<Line>, StoreError> {
    let rows: Vec<EntryRow> = diesel::sql_query(
        "SELECT e.id AS entry_id, COALESCE(m.kind, e.kind) AS kind, e.created_at, p.amount_minor, \
                m.counterparty, m.note \
         FROM postings p JOIN journal_entries e ON e.id = p.entry_id \
         LEFT JOIN movements m ON m.entry_id = e.id AND m.user_id = $1 \
         WHERE p.account_id = $1 || ':credit' \
           AND e.created_at < $2 \
           AND NOT EXISTS (SELECT 1 FROM statement_entries s WHERE s.user_id = $1 AND s.entry_id = e.id) \
         ORDER BY e.created_at, e.id",
    )
    .bind::<Text, _>(user_id)
    .bind::<Timestamp, _>(cut)
    .load(conn)?;
    let mut lines: Vec<Line> = rows
        .into_iter()
        .map(|r| Line {
            group: group_of(&r.kind).to_owned(),
            description: r.note.or(r.counterparty),
            kind: r.kind,
            entry_id: r.entry_id,
            date: r.created_at.date(),
            // The credit account carries debt as a negative balance: a posting below zero
            // is a charge.
            amount: -r.amount_minor,
        })
        .collect();
    // Grouped in the statement's order; within a group, by time (a stable sort keeps it).
    lines.sort_by_key(|line| GROUPS.iter().position(|g| *g == line.group));
    Ok(lines)
}

/// The statement's groups, in the order it shows them.
pub const GROUPS: [&str; 7] =
    ["captures", "fees", "late_fees", "repayments", "refunds", "collateral_settlements", "other"];

fn group_of(kind: &str) -> &'static str {
    match kind {
        "purchase_capture" => "captures",
        "fee" => "fees",
        "late_fee" => "late_fees",
        "repayment" | "vault_repayment" => "repayments",
        "refund" => "refunds",
        "collateral_settlement" => "collateral_settlements",
        _ => "other",
    }
}

#[derive(QueryableByName)]
struct DueRow {
    #[diesel(sql_type = Text)]
    purchase_id: String,
    #[diesel(sql_type = Integer)]
    seq: i32,
    #[diesel(sql_type = Date)]
    due_date: NaiveDate,
    #[diesel(sql_type = BigInt)]
    owed: i64,
}

/// Every unpaid installment due by `due_date` (overdue ones included), with what it owes:
/// its principal, its billed fee and its late fees, less what was paid of them.
pub(super) fn installments_due(
    conn: &mut DbConn,
    user_id: &str,
    due_date: NaiveDate,
) -> Result<Vec<DueInstallment>, StoreError> {
    let rows: Vec<DueRow> = diesel::sql_query(
        "SELECT purchase_id, seq, due_date, CAST(principal_minor - principal_paid_minor \
                + CASE WHEN fee_billed THEN fee_minor - fee_paid_minor ELSE 0 END \
                + late_fee_minor - late_fee_paid_minor AS BIGINT) AS owed \
         FROM installments WHERE user_id = $1 AND state NOT IN ('paid', 'converted') AND due_date <= $2 \
         ORDER BY due_date, purchase_id, seq",
    )
    .bind::<Text, _>(user_id)
    .bind::<Date, _>(due_date)
    .load(conn)?;
    Ok(rows
        .into_iter()
        .map(|r| DueInstallment { purchase_id: r.purchase_id, seq: r.seq, due_date: r.due_date, owed: r.owed })
        .collect())
}

#[derive(QueryableByName)]
struct OwedRow {
    #[diesel(sql_type = BigInt)]
    principal_minor: i64,
    #[diesel(sql_type = BigInt)]
    fees_minor: i64,
    #[diesel(sql_type = BigInt)]
    late_fees_minor: i64,
}

/// What the user owed just before `cut`: the account as their last movement before it left
/// it (each movement keeps that snapshot), or `otherwise` if there was none.
fn owed_before(conn: &mut DbConn, user_id: &str, cut: NaiveDateTime, otherwise: Owed) -> Result<Owed, StoreError> {
    let row: Option<OwedRow> = diesel::sql_query(
        "SELECT principal_minor, fees_minor, late_fees_minor FROM movements \
         WHERE user_id = $1 AND created_at < $2 ORDER BY created_at DESC, entry_id DESC LIMIT 1",
    )
    .bind::<Text, _>(user_id)
    .bind::<Timestamp, _>(cut)
    .get_result(conn)
    .optional()?;
    Ok(row.map_or(otherwise, |r| Owed {
        principal: r.principal_minor,
        fees: r.fees_minor,
        late_fees: r.late_fees_minor,
    }))
}

/// Whether the user's credit account moved at or after `cut` (a later cycle's entries).
fn moved_since(conn: &mut DbConn, user_id: &str, cut: NaiveDateTime) -> Result<bool, StoreError> {
    let later: Option<UserId> = diesel::sql_query(
        "SELECT e.user_id FROM postings p JOIN journal_entries e ON e.id = p.entry_id \
         WHERE p.account_id = $1 || ':credit' AND e.created_at >= $2 LIMIT 1",
    )
    .bind::<Text, _>(user_id)
    .bind::<Timestamp, _>(cut)
    .get_result(conn)
    .optional()?;
    Ok(later.is_some())
}

/// The user's last statement: its period's end and what was owed at its close.
fn previous(conn: &mut DbConn, user_id: &str) -> Result<Option<(NaiveDate, Owed)>, StoreError> {
    let body: Option<String> = st::table
        .filter(st::user_id.eq(user_id))
        .order(st::period_end.desc())
        .select(st::body)
        .first(conn)
        .optional()?;
    let Some(body) = body else { return Ok(None) };
    let last = super::parse((body, String::new(), NaiveDateTime::default()))?.statement;
    Ok(Some((last.period_end, last.closing)))
}

/// Issues the user's statement for `cycle` in the caller's transaction, under the account's
/// lock; answers whether it did (not when one exists already, or there is nothing to state).
pub fn issue(conn: &mut DbConn, user_id: Uuid, cycle: &Cycle, model: &ScoreModel) -> Result<bool, StoreError> {
    let now = crate::domain::time::now();
    crate::store::credit::lock_account(conn, user_id)?;
    let uid = user_id.to_string();
    let prior = previous(conn, &uid)?;
    if prior.is_some_and(|(end, _)| end >= cycle.statement_day) {
        return Ok(false);
    }
    let opening = prior.map(|(_, owed)| owed).unwrap_or_default();
    // The period ends with its statement day: what happened after it is the next one's.
    let cut = (cycle.statement_day + TimeDelta::days(1)).and_hms_opt(0, 0, 0).expect("midnight exists");
    let lines = new_lines(conn, &uid, cut)?;
    let (summary, _) = crate::store::score::summary(conn, user_id, &Ctx { now, score: model })?;
    let account = crate::store::score::standing(conn, user_id, now)?.state;
    // Nothing after the cut yet (the run of the statement day itself): the account row, read
    // under its lock, is the closing. A run dated after its statement day goes by the last
    // movement's snapshot before the cut.
    let closing = if moved_since(conn, &uid, cut)? {
        owed_before(conn, &uid, cut, opening)?
    } else {
        Owed { principal: account.principal_minor, fees: account.fees_minor, late_fees: account.late_fees_minor }
    };
    if lines.is_empty() && opening.total() == 0 && closing.total() == 0 {
        return Ok(false);
    }
    let first_line = lines.iter().map(|l| l.date).min().unwrap_or(cycle.statement_day);
    let period_start = match prior {
        Some((end, _)) => end + TimeDelta::days(1),
        None => first_line.min(cycle.statement_day),
    };
    let installments_due = installments_due(conn, &uid, cycle.due_date)?;
    let statement = Statement {
        id: Uuid::now_v7().to_string(),
        user_id: uid,
        period_start,
        period_end: cycle.statement_day,
        opening,
        charges: lines.iter().map(|l| l.amount.max(0)).sum(),
        credits: lines.iter().map(|l| (-l.amount).max(0)).sum(),
        lines,
        closing,
        amount_due: installments_due.iter().map(|i| i.owed).sum(),
        due_date: cycle.due_date,
        installments_due,
        limit: account.limit_minor(),
        available: account.available_minor().max(0),
        score: summary.value,
    };
    if statement.opening.total() + statement.charges - statement.credits != statement.closing.total() {
        // Never put in writing what does not add up; a later run tries again, and billing
        // itself goes on for everyone.
        tracing::warn!(%user_id, statement_day = %cycle.statement_day, "statement not issued: it does not reconcile");
        return Ok(false);
    }
    store(conn, &statement, now.naive_utc())?;
    Ok(true)
}

fn store(conn: &mut DbConn, s: &Statement, issued_at: NaiveDateTime) -> Result<(), StoreError> {
    let body = serde_json::to_string(s).map_err(|e| StoreError::Corrupt(format!("statement body: {e}")))?;
    diesel::insert_into(st::table)
        .values((
            st::id.eq(&s.id),
            st::user_id.eq(&s.user_id),
            st::period_start.eq(s.period_start),
            st::period_end.eq(s.period_end),
            st::due_date.eq(s.due_date),
            st::opening_minor.eq(s.opening.total()),
            st::charges_minor.eq(s.charges),
            st::credits_minor.eq(s.credits),
            st::closing_minor.eq(s.closing.total()),
            st::amount_due_minor.eq(s.amount_due),
            st::content_hash.eq(super::content_hash(&body)),
            st::body.eq(&body),
            st::issued_at.eq(issued_at),
        ))
        .execute(conn)?;
    for line in &s.lines {
        diesel::insert_into(se::table)
            .values((se::user_id.eq(&s.user_id), se::entry_id.eq(&line.entry_id), se::statement_id.eq(&s.id)))
            .execute(conn)?;
    }
    let notice = super::IssuedNotice {
        id: s.id.clone(),
        period_start: s.period_start,
        period_end: s.period_end,
        closing: s.closing.total(),
        amount_due: s.amount_due,
        due_date: s.due_date,
    };
    let summary = serde_json::to_string(&notice).map_err(|e| StoreError::Corrupt(format!("statement event: {e}")))?;
    super::emit::emit(conn, &s.user_id, "statement.issued", &s.id, &summary)
}
