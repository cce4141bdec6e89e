//! Staff management: who holds which staff role. Each change is one transaction with its
//! audit entry (before and after), and ends the member's sessions so no token or console
//! session outlives the powers it was issued under.

use chrono::{DateTime, Utc};
use diesel::prelude::*;
use serde_json::json;
use uuid::Uuid;

use super::schema::users;
use super::users::{NewUser, UserRow};
use super::{DbConn, StoreError};
use crate::domain::user::{Role, User};

/// Staff members (every role but `user`), newest first.
pub fn list(conn: &mut DbConn, after_id: Option<&str>, limit: u32) -> Result<Vec<User>, StoreError> {
    let mut query = users::table
        .filter(users::role.ne(Role::User.as_str()))
        .order(users::id.desc())
        .limit(i64::from(limit))
        .select(UserRow::as_select())
        .into_boxed();
    if let Some(after) = after_id {
        query = query.filter(users::id.lt(after.to_owned()));
    }
    query.load(conn)?.into_iter().map(UserRow::into_domain).collect()
}

/// Creates a staff member; a taken username answers `UniqueViolation`.
pub fn create(
    conn: &mut DbConn,
    actor: Uuid,
    new: &NewUser<'_>,
    reason: &str,
    now: DateTime<Utc>,
) -> Result<User, StoreError> {
    let user = super::users::insert(conn, new, now)?;
    let details = json!({"before": null, "after": {"role": user.role.as_str(), "username": user.username.as_str()}});
    super::admin::audit(conn, actor, "staff.create", Some(&user.id.to_string()), Some(reason), &details, now)?;
    Ok(user)
}

/// Gives a staff member another role (`Role::User` takes every staff power away: the
/// person keeps only their own customer account). `None`: no such staff member. The role
/// a member already has changes nothing and writes nothing.
pub fn set_role(
    conn: &mut DbConn,
    actor: Uuid,
    target: Uuid,
    role: Role,
    reason: &str,
    now: DateTime<Utc>,
) -> Result<Option<User>, StoreError> {
    let before: Option<String> =
        users::table.filter(users::id.eq(target.to_string())).select(users::role).first(conn).optional()?;
    let Some(before) = before.and_then(|r| Role::from_db(&r)).filter(|r| r.is_staff()) else {
        return Ok(None);
    };
    if before == role {
        // Nothing changes, so nothing is written (a retried request lands here).
        return super::users::by_id(conn, target);
    }
    diesel::update(users::table.filter(users::id.eq(target.to_string())))
        .set(users::role.eq(role.as_str()))
        .execute(conn)?;
    super::sessions::end_sessions(conn, target, now)?;
    let action = if role == Role::User { "staff.deactivate" } else { "staff.role" };
    let details =
        json!({"before": {"role": before.as_str()}, "after": {"role": role.as_str()}, "sessions_ended": true});
    super::admin::audit(conn, actor, action, Some(&target.to_string()), Some(reason), &details, now)?;
    super::users::by_id(conn, target)
}

/// Removes a staff member's TOTP and recovery codes (they enrol again at their next
/// sign-in) and ends their console sessions, with its audit entry. `None`: no such staff
/// member.
pub fn reset_totp(
    conn: &mut DbConn,
    actor: Uuid,
    target: Uuid,
    reason: &str,
    now: DateTime<Utc>,
) -> Result<Option<User>, StoreError> {
    let Some(user) = super::users::by_id(conn, target)?.filter(|u| u.role.is_staff()) else { return Ok(None) };
    let had = super::console::totp(conn, target)?.is_some_and(|t| t.confirmed);
    super::console::reset_totp(conn, target)?;
    let details = json!({"before": {"totp": if had { "enrolled" } else { "none" }}, "after": {"totp": "none"}});
    super::admin::audit(conn, actor, "staff.totp_reset", Some(&target.to_string()), Some(reason), &details, now)?;
    Ok(Some(user))
}
