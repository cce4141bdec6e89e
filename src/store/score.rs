//! What the score reads, gathered in one round trip.

use chrono::{DateTime, NaiveDateTime, TimeDelta, Utc};
use diesel::prelude::*;
use diesel::sql_types::{BigInt, Bool, Nullable, Text, Timestamp};
use uuid::Uuid;

use super::money::state_from_row;
use super::{DbConn, StoreError};
use crate::domain::account::AccountState;
use crate::domain::score::{self, ScoreInputs, ScoreModel};
use crate::domain::user::UserStatus;

/// Clock and score model for operations that record movements.
#[derive(Clone, Copy)]
pub struct Ctx<'a> {
    pub now: DateTime<Utc>,
    pub score: &'a ScoreModel,
}

/// The score as shown with an account.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Summary {
    pub value: i64,
    pub eligible_for_upgrade: bool,
}

#[derive(QueryableByName)]
struct Row {
    #[diesel(sql_type = BigInt)]
    wallet_minor: i64,
    #[diesel(sql_type = BigInt)]
    vault_minor: i64,
    #[diesel(sql_type = Text)]
    line: String,
    #[diesel(sql_type = BigInt)]
    general_limit_minor: i64,
    #[diesel(sql_type = BigInt)]
    held_minor: i64,
    #[diesel(sql_type = BigInt)]
    principal_minor: i64,
    #[diesel(sql_type = BigInt)]
    fees_minor: i64,
    #[diesel(sql_type = BigInt)]
    late_fees_minor: i64,
    #[diesel(sql_type = Timestamp)]
    opened_at: NaiveDateTime,
    #[diesel(sql_type = BigInt)]
    on_time_installments: i64,
    #[diesel(sql_type = BigInt)]
    overdue_installments: i64,
    #[diesel(sql_type = BigInt)]
    overdue_days: i64,
    #[diesel(sql_type = BigInt)]
    collateral_settlements: i64,
    #[diesel(sql_type = Text)]
    status: String,
    #[diesel(sql_type = Bool)]
    overdue_now: bool,
    #[diesel(sql_type = Nullable<BigInt>)]
    vault_min_window: Option<i64>,
    #[diesel(sql_type = Nullable<BigInt>)]
    vault_before_window: Option<i64>,
}

/// Everything about a user the account view and the score need, as of `now`.
pub struct Standing {
    pub state: AccountState,
    pub status: UserStatus,
    pub inputs: ScoreInputs,
}

const WINDOW_DAYS: i64 = 90;

pub fn standing(conn: &mut DbConn, user_id: Uuid, now: DateTime<Utc>) -> Result<Standing, StoreError> {
    let window_start = (now - TimeDelta::days(WINDOW_DAYS)).naive_utc();
    let row: Row = diesel::sql_query(
        "SELECT m.wallet_minor, m.vault_minor, m.line, m.general_limit_minor, m.held_minor, m.principal_minor, \
                m.fees_minor, m.late_fees_minor, m.opened_at, m.on_time_installments, m.overdue_installments, \
                m.overdue_days, m.collateral_settlements, u.status, \
                EXISTS (SELECT 1 FROM installments i WHERE i.user_id = m.user_id AND i.state = 'overdue') \
                    AS overdue_now, \
                (SELECT MIN(v.vault_minor) FROM movements v WHERE v.user_id = m.user_id AND v.created_at >= $1) \
                    AS vault_min_window, \
                (SELECT b.vault_minor FROM movements b WHERE b.user_id = m.user_id AND b.created_at < $1 \
                    ORDER BY b.created_at DESC, b.entry_id DESC LIMIT 1) AS vault_before_window \
         FROM money_accounts m JOIN users u ON u.id = m.user_id WHERE m.user_id = $2",
    )
    // SQLite numbers `$N` by first appearance: keep `$1` first in the text.
    .bind::<Timestamp, _>(window_start)
    .bind::<Text, _>(user_id.to_string())
    .get_result(conn)?;
    let state = state_from_row((
        row.wallet_minor,
        row.vault_minor,
        row.line,
        row.general_limit_minor,
        row.held_minor,
        row.principal_minor,
        row.fees_minor,
        row.late_fees_minor,
    ))?;
    let status =
        UserStatus::from_db(&row.status).ok_or_else(|| StoreError::Corrupt(format!("users.status of {user_id}")))?;
    // Before any movement a vault holds nothing, so a young account has no 90-day floor.
    let floor = row
        .vault_before_window
        .unwrap_or(0)
        .min(row.vault_min_window.unwrap_or(state.vault_minor))
        .min(state.vault_minor);
    let inputs = ScoreInputs {
        account: state,
        account_age_days: (now.naive_utc() - row.opened_at).num_days(),
        on_time_installments: row.on_time_installments,
        overdue_installments: row.overdue_installments,
        overdue_days: row.overdue_days,
        collateral_settlements: row.collateral_settlements,
        vault_floor_90d_minor: floor,
        overdue_now: row.overdue_now,
        frozen: status == UserStatus::Frozen,
    };
    Ok(Standing { state, status, inputs })
}

/// The user's score as of `ctx.now`, from the state this transaction sees.
pub fn summary(conn: &mut DbConn, user_id: Uuid, ctx: &Ctx<'_>) -> Result<(Summary, UserStatus), StoreError> {
    let standing = standing(conn, user_id, ctx.now)?;
    let score = score::evaluate(&standing.inputs, ctx.score);
    Ok((Summary { value: score.value, eligible_for_upgrade: score.eligible_for_upgrade }, standing.status))
}
