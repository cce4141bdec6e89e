//! Response shapes shared by several handlers.

use chrono::{DateTime, SecondsFormat, Utc};
use serde::Serialize;
use utoipa::ToSchema;

use crate::domain::user::User;

/// RFC 3339 in UTC with microseconds, e.g. `2026-11-21T10:03:24.123456Z`.
pub fn timestamp(at: DateTime<Utc>) -> String {
    at.to_rfc3339_opts(SecondsFormat::Micros, true)
}

#[derive(Serialize, ToSchema)]
#[schema(as = User)]
pub struct UserView {
    #[schema(format = Uuid)]
    pub id: String,
    pub username: String,
    pub display_name: String,
    /// `user` or `admin`.
    #[schema(example = "user")]
    pub role: &'static str,
    /// `active` or `frozen`.
    #[schema(example = "active")]
    pub status: &'static str,
    #[schema(format = DateTime)]
    pub created_at: String,
}

impl From<&User> for UserView {
    fn from(user: &User) -> Self {
        Self {
            id: user.id.to_string(),
            username: user.username.to_string(),
            display_name: user.display_name.clone(),
            role: user.role.as_str(),
            status: user.status.as_str(),
            created_at: timestamp(user.created_at),
        }
    }
}
