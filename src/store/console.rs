//! The operations console's server-side state: sessions (only a hash of the cookie's token
//! is stored), staff TOTP secrets and recovery codes. Every check that could race (a code
//! spent twice, a recovery code used twice) is one conditional UPDATE.

use chrono::{DateTime, NaiveDateTime, Utc};
use diesel::prelude::*;
use uuid::Uuid;

use super::schema::{console_sessions as cs, staff_recovery_codes as rc, staff_totp as st};
use super::{DbConn, StoreError};
use crate::domain::user::User;

/// A console session as stored.
#[derive(Clone, Debug)]
pub struct ConsoleSession {
    pub token_hash: String,
    pub csrf_token: String,
    pub second_factor: bool,
    pub stepped_up_at: Option<DateTime<Utc>>,
    pub created_at: DateTime<Utc>,
    pub last_seen_at: DateTime<Utc>,
}

type SessionRow = (String, String, String, bool, Option<NaiveDateTime>, NaiveDateTime, NaiveDateTime);

pub struct NewSession<'a> {
    pub token_hash: &'a str,
    pub user_id: Uuid,
    pub csrf_token: &'a str,
    pub second_factor: bool,
}

pub fn create_session(conn: &mut DbConn, new: &NewSession<'_>, now: DateTime<Utc>) -> Result<(), StoreError> {
    diesel::insert_into(cs::table)
        .values((
            cs::token_hash.eq(new.token_hash),
            cs::user_id.eq(new.user_id.to_string()),
            cs::csrf_token.eq(new.csrf_token),
            cs::second_factor.eq(new.second_factor),
            cs::created_at.eq(now.naive_utc()),
            cs::last_seen_at.eq(now.naive_utc()),
        ))
        .execute(conn)?;
    Ok(())
}

/// The session and its staff member as stored now.
pub fn session(conn: &mut DbConn, token_hash: &str) -> Result<Option<(ConsoleSession, User)>, StoreError> {
    let row: Option<SessionRow> = cs::table
        .filter(cs::token_hash.eq(token_hash))
        .select((
            cs::token_hash,
            cs::user_id,
            cs::csrf_token,
            cs::second_factor,
            cs::stepped_up_at,
            cs::created_at,
            cs::last_seen_at,
        ))
        .first(conn)
        .optional()?;
    let Some((token_hash, user_id, csrf_token, second_factor, stepped_up_at, created_at, last_seen_at)) = row else {
        return Ok(None);
    };
    let user_id = Uuid::parse_str(&user_id).map_err(|_| StoreError::Corrupt("console_sessions.user_id".into()))?;
    let Some(user) = super::users::by_id(conn, user_id)? else { return Ok(None) };
    let session = ConsoleSession {
        token_hash,
        csrf_token,
        second_factor,
        stepped_up_at: stepped_up_at.map(|t| t.and_utc()),
        created_at: created_at.and_utc(),
        last_seen_at: last_seen_at.and_utc(),
    };
    Ok(Some((session, user)))
}

/// Marks the session used now (the idle timeout counts from here).
pub fn touch(conn: &mut DbConn, token_hash: &str, now: DateTime<Utc>) -> Result<(), StoreError> {
    diesel::update(cs::table.filter(cs::token_hash.eq(token_hash)))
        .set(cs::last_seen_at.eq(now.naive_utc()))
        .execute(conn)?;
    Ok(())
}

/// The session passed the second factor; `stepped_up` also records a fresh code for a
/// sensitive action.
pub fn second_factor_passed(conn: &mut DbConn, token_hash: &str, now: DateTime<Utc>) -> Result<(), StoreError> {
    diesel::update(cs::table.filter(cs::token_hash.eq(token_hash)))
        .set((cs::second_factor.eq(true), cs::stepped_up_at.eq(Some(now.naive_utc()))))
        .execute(conn)?;
    Ok(())
}

pub fn end_session(conn: &mut DbConn, token_hash: &str) -> Result<(), StoreError> {
    diesel::delete(cs::table.filter(cs::token_hash.eq(token_hash))).execute(conn)?;
    Ok(())
}

/// Ends every console session of the staff member; answers how many there were.
pub fn end_all_sessions(conn: &mut DbConn, user_id: Uuid) -> Result<usize, StoreError> {
    Ok(diesel::delete(cs::table.filter(cs::user_id.eq(user_id.to_string()))).execute(conn)?)
}

/// A staff member's TOTP: the Base32 secret, whether enrolment is confirmed, the last step.
#[derive(Clone, Debug)]
pub struct Totp {
    pub secret: String,
    pub confirmed: bool,
    pub last_step: i64,
}

pub fn totp(conn: &mut DbConn, user_id: Uuid) -> Result<Option<Totp>, StoreError> {
    let row: Option<(String, Option<NaiveDateTime>, i64)> = st::table
        .filter(st::user_id.eq(user_id.to_string()))
        .select((st::secret, st::confirmed_at, st::last_step))
        .first(conn)
        .optional()?;
    Ok(row.map(|(secret, confirmed_at, last_step)| Totp { secret, confirmed: confirmed_at.is_some(), last_step }))
}

/// Starts (or restarts) an enrolment with a new secret; a confirmed TOTP is never replaced
/// here (an admin resets it: `reset_totp`). Answers the secret being enrolled.
pub fn begin_enrolment(conn: &mut DbConn, user_id: Uuid, new_secret: &str) -> Result<String, StoreError> {
    if let Some(existing) = totp(conn, user_id)? {
        if existing.confirmed {
            return Err(StoreError::Refused(crate::domain::account::Refusal::Forbidden(
                "two-factor is already set up",
            )));
        }
        return Ok(existing.secret);
    }
    diesel::insert_into(st::table)
        .values((st::user_id.eq(user_id.to_string()), st::secret.eq(new_secret), st::last_step.eq(0i64)))
        .execute(conn)?;
    Ok(new_secret.to_owned())
}

/// Spends a time step: true only for the first use of a step later than any before (one
/// conditional UPDATE, so two requests with one code cannot both pass). `confirm` also
/// completes an enrolment.
pub fn spend_step(
    conn: &mut DbConn,
    user_id: Uuid,
    step: i64,
    confirm: bool,
    now: DateTime<Utc>,
) -> Result<bool, StoreError> {
    let target = st::table.filter(st::user_id.eq(user_id.to_string())).filter(st::last_step.lt(step));
    let changed = if confirm {
        diesel::update(target.filter(st::confirmed_at.is_null()))
            .set((st::last_step.eq(step), st::confirmed_at.eq(Some(now.naive_utc()))))
            .execute(conn)?
    } else {
        diesel::update(target.filter(st::confirmed_at.is_not_null())).set(st::last_step.eq(step)).execute(conn)?
    };
    Ok(changed == 1)
}

/// Replaces the staff member's recovery codes with these (hashes).
pub fn set_recovery_codes(conn: &mut DbConn, user_id: Uuid, hashes: &[String]) -> Result<(), StoreError> {
    diesel::delete(rc::table.filter(rc::user_id.eq(user_id.to_string()))).execute(conn)?;
    for hash in hashes {
        diesel::insert_into(rc::table)
            .values((rc::user_id.eq(user_id.to_string()), rc::code_hash.eq(hash)))
            .execute(conn)?;
    }
    Ok(())
}

/// Uses a recovery code once: true if it existed and was unused.
pub fn use_recovery_code(conn: &mut DbConn, user_id: Uuid, hash: &str, now: DateTime<Utc>) -> Result<bool, StoreError> {
    let changed = diesel::update(
        rc::table
            .filter(rc::user_id.eq(user_id.to_string()))
            .filter(rc::code_hash.eq(hash))
            .filter(rc::used_at.is_null()),
    )
    .set(rc::used_at.eq(Some(now.naive_utc())))
    .execute(conn)?;
    Ok(changed == 1)
}

/// Removes a staff member's TOTP and recovery codes (they enrol again at the next sign-in)
/// and ends their console sessions.
pub fn reset_totp(conn: &mut DbConn, user_id: Uuid) -> Result<(), StoreError> {
    diesel::delete(rc::table.filter(rc::user_id.eq(user_id.to_string()))).execute(conn)?;
    diesel::delete(st::table.filter(st::user_id.eq(user_id.to_string()))).execute(conn)?;
    end_all_sessions(conn, user_id)?;
    Ok(())
}
