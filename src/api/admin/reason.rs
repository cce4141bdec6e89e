//! What every admin action carries: a reason, which the audit log keeps, and never the
//! admin's own account as its target.

use serde::Deserialize;
use utoipa::ToSchema;
use uuid::Uuid;

use crate::auth::extract::AdminUser;
use crate::domain::text;
use crate::error::ApiError;

pub use crate::domain::staff::REASON_MAX_CHARS;

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ReasonRequest {
    pub(super) reason: String,
}

pub(super) fn reason_of(text: &str) -> Result<String, ApiError> {
    text::visible("reason", text, REASON_MAX_CHARS).map_err(ApiError::Validation)
}

pub(super) fn not_self(admin: &AdminUser, target: Uuid, what: &str) -> Result<(), ApiError> {
    if admin.0.id == target {
        return Err(ApiError::Forbidden(format!("admins cannot {what} themselves")));
    }
    Ok(())
}
