//! Refresh-token families: issue, rotate (spent once), detect reuse, revoke.

use chrono::{DateTime, NaiveDateTime, Utc};
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
        ))
        .execute(conn)?;
    Ok(())
}

pub enum Rotation {
    /// The old token is spent and the new one stored in the same family.
    Rotated { user: User },
    /// The token had been spent already: the whole family is now revoked.
    Reused,
    /// Unknown, expired or revoked.
    Invalid,
}

/// Spends `old_hash` and stores `new_hash` in its family, in the caller's transaction.
pub fn rotate(
    conn: &mut DbConn,
    old_hash: &str,
    new_hash: &str,
    now: DateTime<Utc>,
    expires_at: DateTime<Utc>,
) -> Result<Rotation, StoreError> {
    type Row = (String, String, String, NaiveDateTime, Option<NaiveDateTime>, Option<NaiveDateTime>);
    let row: Option<Row> = rt::table
        .filter(rt::token_hash.eq(old_hash))
        .select((rt::id, rt::family_id, rt::user_id, rt::expires_at, rt::spent_at, rt::revoked_at))
        .first(conn)
        .optional()?;
    let Some((id, family_id, user_id, expires, spent_at, revoked_at)) = row else { return Ok(Rotation::Invalid) };
    if revoked_at.is_some() {
        return Ok(Rotation::Invalid);
    }
    if spent_at.is_some() {
        revoke_family(conn, &family_id, now)?;
        return Ok(Rotation::Reused);
    }
    if expires <= now.naive_utc() {
        return Ok(Rotation::Invalid);
    }
    // Conditional: of two concurrent rotations of one token, exactly one spends it;
    // the other is a reuse.
    let spent = diesel::update(
        rt::table.filter(rt::id.eq(&id)).filter(rt::spent_at.is_null()).filter(rt::revoked_at.is_null()),
    )
    .set(rt::spent_at.eq(now.naive_utc()))
    .execute(conn)?;
    if spent != 1 {
        revoke_family(conn, &family_id, now)?;
        return Ok(Rotation::Reused);
    }
    let user_id =
        Uuid::parse_str(&user_id).map_err(|_| StoreError::Corrupt(format!("refresh_tokens.user_id of {id}")))?;
    let family_id =
        Uuid::parse_str(&family_id).map_err(|_| StoreError::Corrupt(format!("refresh_tokens.family_id of {id}")))?;
    insert(conn, &NewRefreshToken { user_id, family_id, token_hash: new_hash, expires_at }, now)?;
    let user =
        users::by_id(conn, user_id)?.ok_or_else(|| StoreError::Corrupt(format!("token {id} of a missing user")))?;
    Ok(Rotation::Rotated { user })
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
