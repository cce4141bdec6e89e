//! The journal: balanced entries of postings, the ledger accounts they post to, and the
//! per-user movement rows that show an entry to each user it touches.

use chrono::{DateTime, NaiveDateTime, Utc};
use diesel::prelude::*;
use uuid::Uuid;

use super::account_row::{self, FullRow, StateRow};
use super::prepared::prepared_for;
use super::schema::{ledger_accounts as la, money_accounts as ma, movements as mv};
use super::score;
use super::{DbConn, StoreError};
use crate::domain::movement::{Movement, MovementKind};
use crate::domain::score::ScoreInputs;
use crate::domain::user::UserStatus;

/// The system's own accounts (balances derived from postings, never stored: a stored
/// balance there would be one hot row every deposit in the system waits on).
/// `LENDER_CAPITAL` carries the capital committed to open holds (minus their sum).
pub const EXTERNAL_FUNDING: &str = "sys:external_funding";
pub const LENDER_CAPITAL: &str = "sys:lender_capital";
pub const MERCHANT_PAYABLES: &str = "sys:merchant_payables";
pub const FEE_INCOME: &str = "sys:fee_income";
pub const LATE_FEE_INCOME: &str = "sys:late_fee_income";

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum UserAccount {
    Wallet,
    Vault,
    /// The user's debt (principal, billed fees, late fees) as a negative balance.
    Credit,
    /// Authorised purchase holds, positive; memo against `sys:lender_capital`.
    Hold,
}

impl UserAccount {
    pub fn as_str(self) -> &'static str {
        match self {
            UserAccount::Wallet => "wallet",
            UserAccount::Vault => "vault",
            UserAccount::Credit => "credit",
            UserAccount::Hold => "hold",
        }
    }
}

/// `<user id>:wallet` and so on.
pub fn account_id(user_id: Uuid, account: UserAccount) -> String {
    format!("{user_id}:{}", account.as_str())
}

/// Opens a new user's accounts (in the registration transaction).
pub fn open_accounts(conn: &mut DbConn, user_id: Uuid, now: DateTime<Utc>) -> Result<(), StoreError> {
    diesel::insert_into(ma::table)
        .values((ma::user_id.eq(user_id.to_string()), ma::opened_at.eq(now.naive_utc())))
        .execute(conn)?;
    let rows: Vec<_> = [UserAccount::Wallet, UserAccount::Vault, UserAccount::Credit, UserAccount::Hold]
        .into_iter()
        .map(|a| {
            (la::id.eq(account_id(user_id, a)), la::user_id.eq(Some(user_id.to_string())), la::kind.eq(a.as_str()))
        })
        .collect();
    super::on_backend!(conn, |c| diesel::insert_into(la::table).values(&rows).execute(c))?;
    Ok(())
}

/// Writes one journal entry; its postings must be non-zero and sum to zero.
pub fn post_entry(
    conn: &mut DbConn,
    kind: &str,
    user_id: Option<Uuid>,
    now: DateTime<Utc>,
    legs: &[(String, i64)],
) -> Result<Uuid, StoreError> {
    let sum = legs.iter().try_fold(0_i64, |acc, (_, amount)| acc.checked_add(*amount));
    if legs.len() < 2 || sum != Some(0) || legs.iter().any(|(_, amount)| *amount == 0) {
        return Err(StoreError::Corrupt(format!("refusing an unbalanced {kind} entry: {legs:?}")));
    }
    let entry_id = Uuid::now_v7();
    // Fixed texts, kept prepared on SQLite (see `insert_movement`); one statement per leg,
    // where a multi-row insert of varying length would be parsed anew every time.
    let (id, user) = (entry_id.to_string(), user_id.map(|u| u.to_string()));
    prepared_for::<()>(conn, "INSERT INTO journal_entries (id, kind, user_id, created_at) VALUES (?, ?, ?, ?)")
        .text(&id)
        .text(kind)
        .nullable_text(user.as_deref())
        .timestamp(now.naive_utc())
        .execute(conn)?;
    for (account, amount) in legs {
        prepared_for::<()>(conn, "INSERT INTO postings (entry_id, account_id, amount_minor) VALUES (?, ?, ?)")
            .text(&id)
            .text(account)
            .bigint(*amount)
            .execute(conn)?;
    }
    Ok(entry_id)
}

/// What a movement says besides the account: its kind, amount, other party, note, time.
pub struct View {
    pub kind: MovementKind,
    pub amount_minor: i64,
    pub counterparty: Option<String>,
    pub note: Option<String>,
    pub now: DateTime<Utc>,
}

/// Records how an entry looks to one user, with their account, status and credit history
/// as this transaction sees them right after the entry (read here).
#[allow(clippy::too_many_arguments)]
pub fn record(
    conn: &mut DbConn,
    user_id: Uuid,
    entry_id: Uuid,
    kind: MovementKind,
    amount_minor: i64,
    counterparty: Option<String>,
    note: Option<String>,
    now: DateTime<Utc>,
) -> Result<Movement, StoreError> {
    let standing = score::standing(conn, user_id, now)?;
    let view = View { kind, amount_minor, counterparty, note, now };
    save(conn, user_id, entry_id, view, standing.status, standing.inputs)
}

/// The same, from the account row the operation's UPDATE returned (nothing read again).
pub fn record_after(
    conn: &mut DbConn,
    user_id: Uuid,
    entry_id: Uuid,
    view: View,
    status: UserStatus,
    row: &FullRow,
) -> Result<Movement, StoreError> {
    let inputs = score::inputs(row, status, view.now)?;
    save(conn, user_id, entry_id, view, status, inputs)
}

fn save(
    conn: &mut DbConn,
    user_id: Uuid,
    entry_id: Uuid,
    view: View,
    status: UserStatus,
    after: ScoreInputs,
) -> Result<Movement, StoreError> {
    let movement = Movement {
        id: entry_id,
        kind: view.kind,
        amount_minor: view.amount_minor,
        created_at: view.now,
        counterparty: view.counterparty,
        note: view.note,
        status,
        after,
    };
    insert_movement(conn, user_id, &movement)?;
    Ok(movement)
}

fn insert_movement(conn: &mut DbConn, user_id: Uuid, movement: &Movement) -> Result<(), StoreError> {
    // Fixed text, kept prepared on SQLite: diesel's own INSERT of 22 columns was built anew
    // (walking its whole expression) on every call, 9% of SQLite's writer thread under
    // `transfers` (docs/PERFORMANCE.md). PostgreSQL gets it as text (`prepared_for`): its money
    // paths write movements inside their functions, and this one round trip stays one.
    const SQL: &str = "INSERT INTO movements (entry_id, user_id, kind, amount_minor, counterparty, note, created_at, \
        status, wallet_minor, vault_minor, line, general_limit_minor, held_minor, principal_minor, fees_minor, \
        late_fees_minor, on_time_installments, overdue_installments, overdue_days, collateral_settlements, \
        vault_floor_minor, overdue_now) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)";
    let (s, h) = (movement.account(), &movement.after);
    let (entry_id, user_id) = (movement.id.to_string(), user_id.to_string());
    prepared_for::<()>(conn, SQL)
        .text(&entry_id)
        .text(&user_id)
        .text(movement.kind.as_str())
        .bigint(movement.amount_minor)
        .nullable_text(movement.counterparty.as_deref())
        .nullable_text(movement.note.as_deref())
        .timestamp(movement.created_at.naive_utc())
        .text(movement.status.as_str())
        .bigint(s.wallet_minor)
        .bigint(s.vault_minor)
        .text(s.line.as_str())
        .bigint(s.general_limit_minor)
        .bigint(s.held_minor)
        .bigint(s.principal_minor)
        .bigint(s.fees_minor)
        .bigint(s.late_fees_minor)
        .bigint(h.on_time_installments)
        .bigint(h.overdue_installments)
        .bigint(h.overdue_days)
        .bigint(h.collateral_settlements)
        .bigint(h.vault_floor_90d_minor)
        .bool(h.overdue_now)
        .execute(conn)?;
    Ok(())
}

/// The credit history a movement keeps: on-time parts, overdue parts, overdue days,
/// collateral settlements, the 90-day vault floor, and whether anything is overdue now.
pub type HistoryRow = (i64, i64, i64, i64, i64, bool);

/// A stored movement as read back, on either backend.
pub struct MovementRow {
    pub entry_id: String,
    pub kind: String,
    pub amount_minor: i64,
    pub counterparty: Option<String>,
    pub note: Option<String>,
    pub created_at: NaiveDateTime,
    pub status: String,
    pub state: StateRow,
    pub history: HistoryRow,
}

impl MovementRow {
    /// The movement, with its score inputs completed from when the account was opened.
    pub fn into_movement(self, opened_at: NaiveDateTime) -> Result<Movement, StoreError> {
        let id = self.entry_id;
        let corrupt = |what: &str| StoreError::Corrupt(format!("movements.{what} of entry {id}"));
        let status = UserStatus::from_db(&self.status).ok_or_else(|| corrupt("status"))?;
        let (on_time, overdue, overdue_days, settlements, vault_floor, overdue_now) = self.history;
        let account = account_row::state_from_row(self.state)?;
        Ok(Movement {
            id: Uuid::parse_str(&id).map_err(|_| corrupt("entry_id"))?,
            kind: MovementKind::from_db(&self.kind).ok_or_else(|| corrupt("kind"))?,
            amount_minor: self.amount_minor,
            created_at: self.created_at.and_utc(),
            counterparty: self.counterparty,
            note: self.note,
            status,
            after: ScoreInputs {
                account,
                account_age_days: (self.created_at - opened_at).num_days(),
                on_time_installments: on_time,
                overdue_installments: overdue,
                overdue_days,
                collateral_settlements: settlements,
                vault_floor_90d_minor: vault_floor.min(account.vault_minor),
                overdue_now,
                frozen: status == UserStatus::Frozen,
            },
        })
    }
}

type SelectedRow = (String, String, i64, Option<String>, Option<String>, NaiveDateTime, String, StateRow, HistoryRow);

macro_rules! movement_columns {
    () => {
        (
            mv::entry_id,
            mv::kind,
            mv::amount_minor,
            mv::counterparty,
            mv::note,
            mv::created_at,
            mv::status,
            (
                mv::wallet_minor,
                mv::vault_minor,
                mv::line,
                mv::general_limit_minor,
                mv::held_minor,
                mv::principal_minor,
                mv::fees_minor,
                mv::late_fees_minor,
            ),
            (
                mv::on_time_installments,
                mv::overdue_installments,
                mv::overdue_days,
                mv::collateral_settlements,
                mv::vault_floor_minor,
                mv::overdue_now,
            ),
        )
    };
}

fn from_selected(row: SelectedRow) -> MovementRow {
    let (entry_id, kind, amount_minor, counterparty, note, created_at, status, state, history) = row;
    MovementRow { entry_id, kind, amount_minor, counterparty, note, created_at, status, state, history }
}

fn opened_at(conn: &mut DbConn, user_id: Uuid) -> Result<NaiveDateTime, StoreError> {
    Ok(ma::table.filter(ma::user_id.eq(user_id.to_string())).select(ma::opened_at).first(conn)?)
}

/// The user's movements, newest first, strictly older than the `before` entry id.
pub fn movements(
    conn: &mut DbConn,
    user_id: Uuid,
    before: Option<&str>,
    limit: u32,
) -> Result<Vec<Movement>, StoreError> {
    let mut query = mv::table
        .filter(mv::user_id.eq(user_id.to_string()))
        .order(mv::entry_id.desc())
        .limit(i64::from(limit))
        .select(movement_columns!())
        .into_boxed();
    if let Some(before) = before {
        query = query.filter(mv::entry_id.lt(before.to_owned()));
    }
    let rows: Vec<SelectedRow> = query.load(conn)?;
    let opened_at = opened_at(conn, user_id)?;
    rows.into_iter().map(|row| from_selected(row).into_movement(opened_at)).collect()
}

/// One of the user's movements (an idempotent replay rebuilds its answer from it).
pub fn movement(conn: &mut DbConn, user_id: Uuid, entry_id: &str) -> Result<Movement, StoreError> {
    let row: SelectedRow = mv::table
        .filter(mv::user_id.eq(user_id.to_string()))
        .filter(mv::entry_id.eq(entry_id))
        .select(movement_columns!())
        .first(conn)?;
    from_selected(row).into_movement(opened_at(conn, user_id)?)
}
