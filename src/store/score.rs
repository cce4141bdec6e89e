//! What the score reads, gathered in one round trip.

use chrono::{DateTime, TimeDelta, Utc};
use diesel::prelude::*;
use diesel::sql_types::Timestamp;
use uuid::Uuid;

use super::account_row::{FullRow, full_columns, state_from_row};
use super::schema::{money_accounts as ma, users};
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

/// Everything about a user the account view and the score need, as of `now`.
pub struct Standing {
    pub state: AccountState,
    pub status: UserStatus,
    pub inputs: ScoreInputs,
}

const WINDOW_DAYS: i64 = 90;

/// Keeps the stored 90-day vault floor at or below the vault after the vault went down
/// (in the transaction that lowered it).
pub fn lower_vault_floor(conn: &mut DbConn, user_id: Uuid) -> Result<(), StoreError> {
    diesel::update(
        ma::table.filter(ma::user_id.eq(user_id.to_string())).filter(ma::vault_floor_minor.gt(ma::vault_minor)),
    )
    .set(ma::vault_floor_minor.eq(ma::vault_minor))
    .execute(conn)?;
    Ok(())
}

pub fn standing(conn: &mut DbConn, user_id: Uuid, now: DateTime<Utc>) -> Result<Standing, StoreError> {
    let (row, status): (FullRow, String) = ma::table
        .inner_join(users::table)
        .filter(ma::user_id.eq(user_id.to_string()))
        .select((full_columns!(), users::status))
        .first(conn)?;
    let status =
        UserStatus::from_db(&status).ok_or_else(|| StoreError::Corrupt(format!("users.status of {user_id}")))?;
    let inputs = inputs(&row, status, now)?;
    Ok(Standing { state: inputs.account, status, inputs })
}

/// What the score rates, from the account row as `full_columns!` selects it, as of `now`.
pub fn inputs(row: &FullRow, status: UserStatus, now: DateTime<Utc>) -> Result<ScoreInputs, StoreError> {
    let (state_row, opened_at, history) = row;
    let (on_time, overdue, overdue_days, settlements, vault_floor, overdue_count) = *history;
    let state = state_from_row(state_row.clone())?;
    Ok(ScoreInputs {
        account: state,
        account_age_days: (now.naive_utc() - *opened_at).num_days(),
        on_time_installments: on_time,
        overdue_installments: overdue,
        overdue_days,
        collateral_settlements: settlements,
        vault_floor_90d_minor: vault_floor.min(state.vault_minor),
        overdue_now: overdue_count > 0,
        frozen: status == UserStatus::Frozen,
    })
}

/// Recomputes every user's 90-day vault floor from the movement snapshots, so lows that
/// have left the window stop counting. Between refreshes the floor only goes down (with
/// each vault decrease), so it is never higher than the true 90-day low.
pub fn refresh_vault_floors(conn: &mut DbConn, now: DateTime<Utc>) -> Result<usize, StoreError> {
    let window_start = (now - TimeDelta::days(WINDOW_DAYS)).naive_utc();
    // Before any movement a vault holds nothing, so a young account's floor is 0.
    let least = match conn {
        DbConn::Pg(_) => "LEAST",
        DbConn::Sqlite(_) => "MIN",
    };
    let sql = format!(
        "UPDATE money_accounts SET vault_floor_minor = {least}(money_accounts.vault_minor, \
            COALESCE((SELECT MIN(v.vault_minor) FROM movements v \
                      WHERE v.user_id = money_accounts.user_id AND v.created_at >= $1), money_accounts.vault_minor), \
            COALESCE((SELECT b.vault_minor FROM movements b \
                      WHERE b.user_id = money_accounts.user_id AND b.created_at < $1 \
                      ORDER BY b.created_at DESC, b.entry_id DESC LIMIT 1), 0))"
    );
    Ok(diesel::sql_query(sql).bind::<Timestamp, _>(window_start).execute(conn)?)
}

/// The user's score as of `ctx.now`, from the state this transaction sees.
pub fn summary(conn: &mut DbConn, user_id: Uuid, ctx: &Ctx<'_>) -> Result<(Summary, UserStatus), StoreError> {
    let standing = standing(conn, user_id, ctx.now)?;
    let score = score::evaluate(&standing.inputs, ctx.score);
    Ok((Summary { value: score.value, eligible_for_upgrade: score.eligible_for_upgrade }, standing.status))
}
