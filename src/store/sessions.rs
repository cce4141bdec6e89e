//! Refresh-token families: issue, rotate (spent once), detect reuse, revoke; and ending every
//! session of a user at once (log out everywhere, a password change, a frozen admin).

use chrono::{DateTime, NaiveDateTime, TimeDelta, Utc};
use diesel::prelude::*;
use uuid::Uuid;

use super::schema::refresh_tokens as rt;
use super::{DbConn, StoreError, users};
use crate::domain::user::User;

pub struct NewRefreshToken<'a> {
    pub user_id: Uuid,
    pub family_id: Uuid,
    pub token_hash: &'a str,
    pub expires_at: DateTime<Utc>,
    /// When the family's first token was issued (its absolute lifetime counts from here).
    pub family_started_at: DateTime<Utc>,
}

pub fn insert(conn: &mut DbConn, new: &NewRefreshToken<'_>, now: DateTime<Utc>) -> Result<(), StoreError> {
    diesel::insert_into(rt::table)
        .values((
            rt::id.eq(Uuid::now_v7().to_string()),
            rt::family_id.eq(new.family_id.to_string()),
            rt::user_id.eq(new.user_id.to_string()),
            rt::token_hash.eq(new.token_hash),
            rt::created_at.eq(now.naive_utc()),
            rt::expires_at.eq(new.expires_at.naive_utc()),
            rt::family_started_at.eq(new.family_started_at.naive_utc()),
        ))
        .execute(conn)?;
    Ok(())
}

pub enum Rotation {
    /// The old token is spent and the new one stored in the same family; `retry` when the
    /// old one had been spent moments ago by this same request sent twice (the new one
    /// already exists, and is answered again).
    Rotated { user: User, retry: bool },
    /// The token had been spent already: the whole family is now revoked, and the user's
    /// access tokens end (the token version rose).
    Reused { user_id: Uuid },
    /// Unknown, expired, revoked, or its family past its absolute lifetime.
    Invalid,
}

/// How long refresh families live and how a retried refresh is recognised.
#[derive(Clone, Copy, Debug)]
pub struct RefreshRules {
    pub token_ttl: TimeDelta,
    pub family_lifetime: TimeDelta,
    pub retry_grace: TimeDelta,
}

/// Spends `old_hash` and stores `new_hash` in its family, in the caller's transaction.
/// `new_hash` is derived from the old token, so a retry of the same refresh names the same
/// successor: presented again within the grace window, the old token answers that successor
/// instead of counting as a reuse.
pub fn rotate(
    conn: &mut DbConn,
    old_hash: &str,
    new_hash: &str,
    now: DateTime<Utc>,
    rules: RefreshRules,
) -> Result<Rotation, StoreError> {
    type Row = (String, String, String, NaiveDateTime, Option<NaiveDateTime>, Option<NaiveDateTime>, NaiveDateTime);
    let row: Option<Row> = rt::table
        .filter(rt::token_hash.eq(old_hash))
        .select((
            rt::id,
            rt::family_id,
            rt::user_id,
            rt::expires_at,
            rt::spent_at,
            rt::revoked_at,
            rt::family_started_at,
        ))
        .first(conn)
        .optional()?;
    let Some((id, family_id, user_id, expires, spent_at, revoked_at, started)) = row else {
        return Ok(Rotation::Invalid);
    };
    let corrupt = |what: &str| StoreError::Corrupt(format!("refresh_tokens.{what} of {id}"));
    let user_id = Uuid::parse_str(&user_id).map_err(|_| corrupt("user_id"))?;
    let family_end = started.and_utc() + rules.family_lifetime;
    if revoked_at.is_some() || family_end <= now {
        return Ok(Rotation::Invalid);
    }
    let spent_now = spent_at.is_none() && expires > now.naive_utc() && {
        // Conditional: of two concurrent rotations of one token, exactly one spends it.
        diesel::update(rt::table.filter(rt::id.eq(&id)).filter(rt::spent_at.is_null()).filter(rt::revoked_at.is_null()))
            .set(rt::spent_at.eq(now.naive_utc()))
            .execute(conn)?
            == 1
    };
    if !spent_now {
        if spent_at.is_none() && expires <= now.naive_utc() {
            return Ok(Rotation::Invalid);
        }
        return retry_or_reuse(conn, &id, &family_id, user_id, new_hash, now, rules);
    }
    let family = Uuid::parse_str(&family_id).map_err(|_| corrupt("family_id"))?;
    let expires_at = (now + rules.token_ttl).min(family_end);
    let new = NewRefreshToken {
        user_id,
        family_id: family,
        token_hash: new_hash,
        expires_at,
        family_started_at: started.and_utc(),
    };
    insert(conn, &new, now)?;
    let user = users::by_id(conn, user_id)?.ok_or_else(|| corrupt("user (missing)"))?;
    Ok(Rotation::Rotated { user, retry: false })
}

/// The token was spent already. Within the grace window, while its successor is unspent (a
/// retry, or two threads of one app), the successor is answered again; anything else means
/// someone replayed a spent token: the family is revoked and the user's access tokens end.
fn retry_or_reuse(
    conn: &mut DbConn,
    id: &str,
    family_id: &str,
    user_id: Uuid,
    new_hash: &str,
    now: DateTime<Utc>,
    rules: RefreshRules,
) -> Result<Rotation, StoreError> {
    let spent_at: Option<NaiveDateTime> = rt::table.filter(rt::id.eq(id)).select(rt::spent_at).first(conn)?;
    let recent = spent_at.is_some_and(|at| now - at.and_utc() <= rules.retry_grace);
    // Only while the successor is unspent: once it was rotated on, the old token is no
    // retry of that rotation any more, and answering it would hand a thief a live token
    // chained through one grace window after another.
    let successor_unspent = rt::table
        .filter(rt::token_hash.eq(new_hash))
        .filter(rt::family_id.eq(family_id))
        .filter(rt::revoked_at.is_null())
        .filter(rt::spent_at.is_null())
        .select(rt::id)
        .first::<String>(conn)
        .optional()?
        .is_some();
    if recent && successor_unspent {
        let user = users::by_id(conn, user_id)?
            .ok_or_else(|| StoreError::Corrupt(format!("refresh token {id} of a missing user")))?;
        return Ok(Rotation::Rotated { user, retry: true });
    }
    revoke_family(conn, family_id, now)?;
    diesel::update(super::schema::users::table.filter(super::schema::users::id.eq(user_id.to_string())))
        .set(super::schema::users::token_version.eq(super::schema::users::token_version + 1))
        .execute(conn)?;
    Ok(Rotation::Reused { user_id })
}

fn revoke_family(conn: &mut DbConn, family_id: &str, now: DateTime<Utc>) -> Result<usize, StoreError> {
    Ok(diesel::update(rt::table.filter(rt::family_id.eq(family_id)).filter(rt::revoked_at.is_null()))
        .set(rt::revoked_at.eq(now.naive_utc()))
        .execute(conn)?)
}

/// Revokes the family of the token with this hash; false when no such token exists.
pub fn revoke_family_of(conn: &mut DbConn, token_hash: &str, now: DateTime<Utc>) -> Result<bool, StoreError> {
    let family: Option<String> =
        rt::table.filter(rt::token_hash.eq(token_hash)).select(rt::family_id).first(conn).optional()?;
    match family {
        Some(family_id) => revoke_family(conn, &family_id, now).map(|_| true),
        None => Ok(false),
    }
}

/// Deletes tokens that expired before `cutoff`; they can no longer be presented.
pub fn purge_expired(conn: &mut DbConn, cutoff: DateTime<Utc>) -> Result<usize, StoreError> {
    Ok(diesel::delete(rt::table.filter(rt::expires_at.lt(cutoff.naive_utc()))).execute(conn)?)
}

/// Revokes every refresh family of the user (log out everywhere).
pub fn revoke_all(conn: &mut DbConn, user_id: Uuid, now: DateTime<Utc>) -> Result<usize, StoreError> {
    Ok(diesel::update(rt::table.filter(rt::user_id.eq(user_id.to_string())).filter(rt::revoked_at.is_null()))
        .set(rt::revoked_at.eq(now.naive_utc()))
        .execute(conn)?)
}

/// Ends every session of the user at once: raises the token version (every access token
/// issued before is refused from now on) and revokes every refresh family. Answers the new
/// version.
pub fn end_sessions(conn: &mut DbConn, id: Uuid, now: DateTime<Utc>) -> Result<i64, StoreError> {
    use super::schema::users as u;
    let version: i64 = diesel::update(u::table.filter(u::id.eq(id.to_string())))
        .set(u::token_version.eq(u::token_version + 1))
        .returning(u::token_version)
        .get_result(conn)?;
    revoke_all(conn, id, now)?;
    Ok(version)
}
