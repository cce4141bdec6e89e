use chrono::{DateTime, NaiveDateTime, Utc};
use diesel::prelude::*;
use uuid::Uuid;

use super::schema::users;
use super::{DbConn, StoreError};
use crate::domain::user::{DisplayName, Role, User, UserStatus, Username};

#[derive(Queryable, Selectable, serde::Deserialize)]
#[diesel(table_name = users)]
pub(super) struct UserRow {
    id: String,
    username: String,
    display_name: String,
    role: String,
    status: String,
    created_at: NaiveDateTime,
}

impl UserRow {
    pub(super) fn into_domain(self) -> Result<User, StoreError> {
        let corrupt = |what: &str| StoreError::Corrupt(format!("users.{what} of {}", self.id));
        Ok(User {
            id: Uuid::parse_str(&self.id).map_err(|_| corrupt("id"))?,
            username: Username::parse(&self.username).map_err(|_| corrupt("username"))?,
            display_name: self.display_name.clone(),
            role: Role::from_db(&self.role).ok_or_else(|| corrupt("role"))?,
            status: UserStatus::from_db(&self.status).ok_or_else(|| corrupt("status"))?,
            created_at: DateTime::from_naive_utc_and_offset(self.created_at, Utc),
        })
    }
}

pub struct NewUser<'a> {
    pub username: &'a Username,
    pub display_name: Option<&'a DisplayName>,
    pub password_hash: &'a str,
    pub role: Role,
}

/// Inserts a user and opens their accounts; a taken username answers `UniqueViolation`.
pub fn insert(conn: &mut DbConn, new: &NewUser<'_>, now: DateTime<Utc>) -> Result<User, StoreError> {
    let id = Uuid::now_v7();
    let display_name = new.display_name.map_or(new.username.as_str(), DisplayName::as_str);
    diesel::insert_into(users::table)
        .values((
            users::id.eq(id.to_string()),
            users::username.eq(new.username.as_str()),
            users::display_name.eq(display_name),
            users::password_hash.eq(new.password_hash),
            users::role.eq(new.role.as_str()),
            users::status.eq(UserStatus::Active.as_str()),
            users::created_at.eq(now.naive_utc()),
        ))
        .execute(conn)?;
    super::ledger::open_accounts(conn, id, now)?;
    by_id(conn, id)?.ok_or_else(|| StoreError::Corrupt(format!("user {id} vanished after insert")))
}

/// The user's status as this transaction sees it.
pub fn status(conn: &mut DbConn, id: Uuid) -> Result<UserStatus, StoreError> {
    let status: String = users::table.filter(users::id.eq(id.to_string())).select(users::status).first(conn)?;
    UserStatus::from_db(&status).ok_or_else(|| StoreError::Corrupt(format!("users.status of {id}")))
}

pub fn by_id(conn: &mut DbConn, id: Uuid) -> Result<Option<User>, StoreError> {
    users::table
        .filter(users::id.eq(id.to_string()))
        .select(UserRow::as_select())
        .first(conn)
        .optional()?
        .map(UserRow::into_domain)
        .transpose()
}

/// The user and their password hash, for logging in.
pub fn credentials(conn: &mut DbConn, username: &str) -> Result<Option<(User, String)>, StoreError> {
    let row: Option<(UserRow, String)> = users::table
        .filter(users::username.eq(username))
        .select((UserRow::as_select(), users::password_hash))
        .first(conn)
        .optional()?;
    row.map(|(user, hash)| Ok((user.into_domain()?, hash))).transpose()
}

/// Users whose name contains `needle`, newest first (ids are time-ordered UUIDv7),
/// strictly after the `after_id` cursor.
pub fn search(conn: &mut DbConn, needle: &str, after_id: Option<&str>, limit: u32) -> Result<Vec<User>, StoreError> {
    let escaped: String =
        needle.chars().flat_map(|c| if matches!(c, '%' | '_' | '\\') { vec!['\\', c] } else { vec![c] }).collect();
    let mut query = users::table
        .filter(users::username.like(format!("%{escaped}%")).escape('\\'))
        .order(users::id.desc())
        .limit(i64::from(limit))
        .select(UserRow::as_select())
        .into_boxed();
    if let Some(after) = after_id {
        query = query.filter(users::id.lt(after.to_owned()));
    }
    query.load(conn)?.into_iter().map(UserRow::into_domain).collect()
}

/// The user and their current token version (what an access token must carry).
pub fn with_token_version(conn: &mut DbConn, id: Uuid) -> Result<Option<(User, i64)>, StoreError> {
    let row: Option<(UserRow, i64)> = users::table
        .filter(users::id.eq(id.to_string()))
        .select((UserRow::as_select(), users::token_version))
        .first(conn)
        .optional()?;
    row.map(|(user, version)| Ok((user.into_domain()?, version))).transpose()
}

/// The password hash of the user (for a password change).
pub fn password_hash(conn: &mut DbConn, id: Uuid) -> Result<Option<(User, String)>, StoreError> {
    let row: Option<(UserRow, String)> = users::table
        .filter(users::id.eq(id.to_string()))
        .select((UserRow::as_select(), users::password_hash))
        .first(conn)
        .optional()?;
    row.map(|(user, hash)| Ok((user.into_domain()?, hash))).transpose()
}

pub fn set_password_hash(conn: &mut DbConn, id: Uuid, hash: &str) -> Result<(), StoreError> {
    diesel::update(users::table.filter(users::id.eq(id.to_string())))
        .set(users::password_hash.eq(hash))
        .execute(conn)?;
    Ok(())
}

diesel::define_sql_function!(fn lower(x: diesel::sql_types::Text) -> diesel::sql_types::Text);

/// Customers (role `user`) for the console's search: by id when `needle` is one, else by
/// username prefix or display name (case-insensitive), newest first, after the cursor.
pub fn find_customers(
    conn: &mut DbConn,
    needle: &str,
    after_id: Option<&str>,
    limit: u32,
) -> Result<Vec<User>, StoreError> {
    let escaped: String =
        needle.chars().flat_map(|c| if matches!(c, '%' | '_' | '\\') { vec!['\\', c] } else { vec![c] }).collect();
    let mut query = users::table
        .filter(users::role.eq(Role::User.as_str()))
        .order(users::id.desc())
        .limit(i64::from(limit))
        .select(UserRow::as_select())
        .into_boxed();
    if let Ok(id) = Uuid::parse_str(needle.trim()) {
        query = query.filter(users::id.eq(id.to_string()));
    } else if !needle.is_empty() {
        let lowered = escaped.to_lowercase();
        query = query.filter(
            users::username
                .like(format!("{lowered}%"))
                .escape('\\')
                .or(lower(users::display_name).like(format!("%{lowered}%")).escape('\\')),
        );
    }
    if let Some(after) = after_id {
        query = query.filter(users::id.lt(after.to_owned()));
    }
    query.load(conn)?.into_iter().map(UserRow::into_domain).collect()
}
