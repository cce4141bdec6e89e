//! The API's one error type and its one mapping to HTTP: RFC 9457 problem details
//! carrying the contract's stable `code`.

use actix_web::http::StatusCode;
use actix_web::http::header::{self, HeaderValue};
use actix_web::{HttpResponse, ResponseError};
use serde::Serialize;

use crate::domain::account::Refusal;
use crate::domain::money::AmountError;
use crate::store::StoreError;

/// The contract's error codes, in its order.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum ErrorCode {
    ValidationError,
    InvalidAmount,
    IdempotencyKeyRequired,
    IdempotencyKeyReused,
    IdempotencyKeyInFlight,
    Unauthorized,
    InvalidCredentials,
    TooManyAttempts,
    Forbidden,
    AccountFrozen,
    NotFound,
    RecipientNotFound,
    UsernameTaken,
    InsufficientFunds,
    SelfTransfer,
    VaultPledged,
    CreditLimitExceeded,
    InvalidInstallments,
    InvalidState,
    AccountDelinquent,
    NothingToRepay,
    Overpayment,
    NotEligible,
    RateLimited,
    ServiceUnavailable,
    Internal,
    MethodNotAllowed,
    PayloadTooLarge,
    UnsupportedMediaType,
    VelocityLimitExceeded,
    /// Not in the contract yet (argued in the session notes): a merchant name is taken.
    NameTaken,
}

impl ErrorCode {
    /// A short human title for business-rule refusals.
    pub fn title(self) -> &'static str {
        match self {
            ErrorCode::AccountFrozen => "Account frozen",
            ErrorCode::NotFound => "Not found",
            ErrorCode::RecipientNotFound => "Recipient not found",
            ErrorCode::InsufficientFunds => "Insufficient funds",
            ErrorCode::SelfTransfer => "Transfer to yourself",
            ErrorCode::VaultPledged => "Vault pledged",
            ErrorCode::CreditLimitExceeded => "Credit limit exceeded",
            ErrorCode::InvalidInstallments => "Invalid installments",
            ErrorCode::InvalidState => "Invalid state",
            ErrorCode::AccountDelinquent => "Account delinquent",
            ErrorCode::NothingToRepay => "Nothing to repay",
            ErrorCode::Overpayment => "Overpayment",
            ErrorCode::NotEligible => "Not eligible",
            ErrorCode::VelocityLimitExceeded => "Velocity limit exceeded",
            ErrorCode::NameTaken => "Name taken",
            _ => "Refused",
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            ErrorCode::ValidationError => "validation_error",
            ErrorCode::InvalidAmount => "invalid_amount",
            ErrorCode::IdempotencyKeyRequired => "idempotency_key_required",
            ErrorCode::IdempotencyKeyReused => "idempotency_key_reused",
            ErrorCode::IdempotencyKeyInFlight => "idempotency_key_in_flight",
            ErrorCode::Unauthorized => "unauthorized",
            ErrorCode::InvalidCredentials => "invalid_credentials",
            ErrorCode::TooManyAttempts => "too_many_attempts",
            ErrorCode::Forbidden => "forbidden",
            ErrorCode::AccountFrozen => "account_frozen",
            ErrorCode::NotFound => "not_found",
            ErrorCode::RecipientNotFound => "recipient_not_found",
            ErrorCode::UsernameTaken => "username_taken",
            ErrorCode::InsufficientFunds => "insufficient_funds",
            ErrorCode::SelfTransfer => "self_transfer",
            ErrorCode::VaultPledged => "vault_pledged",
            ErrorCode::CreditLimitExceeded => "credit_limit_exceeded",
            ErrorCode::InvalidInstallments => "invalid_installments",
            ErrorCode::InvalidState => "invalid_state",
            ErrorCode::AccountDelinquent => "account_delinquent",
            ErrorCode::NothingToRepay => "nothing_to_repay",
            ErrorCode::Overpayment => "overpayment",
            ErrorCode::NotEligible => "not_eligible",
            ErrorCode::RateLimited => "rate_limited",
            ErrorCode::ServiceUnavailable => "service_unavailable",
            ErrorCode::Internal => "internal",
            ErrorCode::MethodNotAllowed => "method_not_allowed",
            ErrorCode::PayloadTooLarge => "payload_too_large",
            ErrorCode::UnsupportedMediaType => "unsupported_media_type",
            ErrorCode::VelocityLimitExceeded => "velocity_limit_exceeded",
            ErrorCode::NameTaken => "name_taken",
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    /// The body is not JSON at all, or a query/path/header value does not parse (400).
    #[error("{0}")]
    BadRequest(String),
    /// Well-formed JSON that breaks the request's rules (422).
    #[error("{0}")]
    Validation(String),
    #[error("{0}")]
    InvalidAmount(#[from] AmountError),
    #[error("request body exceeds {limit} bytes")]
    PayloadTooLarge { limit: usize },
    #[error("{0}")]
    UnsupportedMediaType(String),
    /// The body did not arrive within `server.body_read_timeout_ms` (408; the connection closes).
    #[error("the request body did not arrive in time")]
    RequestTimeout,
    /// The path exists, the method does not; `allow` lists the methods that do (405).
    #[error("{method} is not allowed here; allowed: {allow}")]
    MethodNotAllowed { method: String, allow: String },
    #[error("{0}")]
    NotFound(String),
    #[error("{0}")]
    Unauthorized(String),
    #[error("{0}")]
    Forbidden(String),
    #[error("that username is taken")]
    UsernameTaken,
    #[error("invalid username or password")]
    InvalidCredentials,
    #[error("too many failed logins; try again in {retry_after_secs} seconds")]
    TooManyAttempts { retry_after_secs: u64 },
    #[error("too many registrations from this address or its network; try again in {retry_after_secs} seconds")]
    TooManyRegistrations { retry_after_secs: u64 },
    #[error("too many money requests; try again in {retry_after_secs} seconds")]
    RateLimited { retry_after_secs: u64 },
    #[error("this request needs an Idempotency-Key header (1 to 255 printable ASCII characters)")]
    IdempotencyKeyRequired,
    #[error("this Idempotency-Key was already used for a different request")]
    IdempotencyKeyReused,
    /// A business rule said no; `detail` is already worded for the caller.
    #[error("{detail}")]
    Refused { code: ErrorCode, detail: String },
    /// The database cannot be reached, or the service is shedding load; the cause is logged.
    #[error("service unavailable: {0}")]
    ServiceUnavailable(String),
    /// Any failure the caller cannot act on; the cause is logged, never sent.
    #[error("internal error: {0}")]
    Internal(String),
}

impl ApiError {
    pub fn code(&self) -> ErrorCode {
        match self {
            ApiError::BadRequest(_) | ApiError::Validation(_) | ApiError::RequestTimeout => ErrorCode::ValidationError,
            ApiError::PayloadTooLarge { .. } => ErrorCode::PayloadTooLarge,
            ApiError::UnsupportedMediaType(_) => ErrorCode::UnsupportedMediaType,
            ApiError::MethodNotAllowed { .. } => ErrorCode::MethodNotAllowed,
            ApiError::InvalidAmount(_) => ErrorCode::InvalidAmount,
            ApiError::NotFound(_) => ErrorCode::NotFound,
            ApiError::Unauthorized(_) => ErrorCode::Unauthorized,
            ApiError::Forbidden(_) => ErrorCode::Forbidden,
            ApiError::UsernameTaken => ErrorCode::UsernameTaken,
            ApiError::InvalidCredentials => ErrorCode::InvalidCredentials,
            ApiError::TooManyAttempts { .. } | ApiError::TooManyRegistrations { .. } => ErrorCode::TooManyAttempts,
            ApiError::RateLimited { .. } => ErrorCode::RateLimited,
            ApiError::IdempotencyKeyRequired => ErrorCode::IdempotencyKeyRequired,
            ApiError::IdempotencyKeyReused => ErrorCode::IdempotencyKeyReused,
            ApiError::Refused { code, .. } => *code,
            ApiError::ServiceUnavailable(_) => ErrorCode::ServiceUnavailable,
            ApiError::Internal(_) => ErrorCode::Internal,
        }
    }

    fn title(&self) -> &'static str {
        match self {
            ApiError::BadRequest(_) => "Bad request",
            ApiError::Validation(_) => "Invalid request",
            ApiError::InvalidAmount(_) => "Invalid amount",
            ApiError::PayloadTooLarge { .. } => "Request body too large",
            ApiError::UnsupportedMediaType(_) => "Unsupported media type",
            ApiError::MethodNotAllowed { .. } => "Method not allowed",
            ApiError::RequestTimeout => "Request timeout",
            ApiError::NotFound(_) => "Not found",
            ApiError::Unauthorized(_) => "Unauthorized",
            ApiError::Forbidden(_) => "Forbidden",
            ApiError::UsernameTaken => "Username taken",
            ApiError::InvalidCredentials => "Invalid credentials",
            ApiError::TooManyAttempts { .. } | ApiError::TooManyRegistrations { .. } => "Too many attempts",
            ApiError::RateLimited { .. } => "Rate limited",
            ApiError::IdempotencyKeyRequired => "Idempotency key required",
            ApiError::IdempotencyKeyReused => "Idempotency key reused",
            ApiError::Refused { code, .. } => code.title(),
            ApiError::ServiceUnavailable(_) => "Service unavailable",
            ApiError::Internal(_) => "Internal error",
        }
    }

    /// What the client is told: never SQL, internals or another user's data.
    fn public_detail(&self) -> String {
        match self {
            ApiError::Internal(_) => {
                "an internal error occurred; quote the x-request-id header when reporting it".into()
            }
            ApiError::ServiceUnavailable(_) => "the service cannot handle this right now; try again shortly".into(),
            other => other.to_string(),
        }
    }

    pub fn not_found() -> Self {
        ApiError::NotFound("no such resource".into())
    }
}

/// The stable code of each refusal, written once. `api::refusal::store_error` words the
/// detail with amounts in the currency's format; a refusal that reaches `?` without it still
/// answers its own code and status (with the refusal's plain wording), never a 500.
pub fn refusal_code(refusal: &Refusal) -> ErrorCode {
    match refusal {
        Refusal::AccountFrozen => ErrorCode::AccountFrozen,
        Refusal::InsufficientFunds { .. } => ErrorCode::InsufficientFunds,
        Refusal::VaultPledged { .. } => ErrorCode::VaultPledged,
        Refusal::RecipientNotFound => ErrorCode::RecipientNotFound,
        Refusal::SelfTransfer => ErrorCode::SelfTransfer,
        Refusal::CreditLimitExceeded { .. } => ErrorCode::CreditLimitExceeded,
        Refusal::AccountDelinquent => ErrorCode::AccountDelinquent,
        Refusal::NotFound(_) => ErrorCode::NotFound,
        Refusal::NothingToRepay => ErrorCode::NothingToRepay,
        Refusal::Overpayment { .. } => ErrorCode::Overpayment,
        Refusal::NotEligible { .. } => ErrorCode::NotEligible,
        Refusal::VelocityLimitExceeded { .. } => ErrorCode::VelocityLimitExceeded,
        Refusal::Forbidden(_) => ErrorCode::Forbidden,
        Refusal::RefundTooLarge { .. } => ErrorCode::InvalidAmount,
        Refusal::TooSmallToSplit => ErrorCode::InvalidInstallments,
        Refusal::InvalidState(_)
        | Refusal::AlreadyDecided(_)
        | Refusal::StatusUnchanged(_)
        | Refusal::NotRefundable
        | Refusal::PayoffQuoteChanged { .. }
        | Refusal::AlreadyConverted => ErrorCode::InvalidState,
    }
}

impl From<StoreError> for ApiError {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::Refused(refusal) => {
                ApiError::Refused { code: refusal_code(&refusal), detail: refusal.to_string() }
            }
            StoreError::Unavailable(why) => ApiError::ServiceUnavailable(why),
            StoreError::SessionEnded => ApiError::Unauthorized("this session has ended; log in again".into()),
            StoreError::OverBudget { retry_after_secs } => ApiError::RateLimited { retry_after_secs },
            other => ApiError::Internal(other.to_string()),
        }
    }
}

/// The RFC 9457 body.
#[derive(Serialize, utoipa::ToSchema)]
pub struct Problem {
    /// URI naming the problem type: `urn:vaultline:problem:<code>`.
    #[serde(rename = "type")]
    pub kind: String,
    pub title: &'static str,
    pub status: u16,
    pub detail: String,
    /// Stable and machine-readable: one of `ErrorCode`, or a code a later version adds
    /// (treat an unknown code by the HTTP status), hence also any string.
    #[schema(schema_with = code_schema)]
    pub code: ErrorCode,
}

fn code_schema() -> utoipa::openapi::schema::Schema {
    use utoipa::openapi::schema::{AnyOfBuilder, ObjectBuilder, Schema, Type};
    use utoipa::openapi::{Ref, RefOr};
    Schema::AnyOf(
        AnyOfBuilder::new()
            .item(RefOr::Ref(Ref::from_schema_name("ErrorCode")))
            .item(ObjectBuilder::new().schema_type(Type::String))
            .build(),
    )
}

pub const PROBLEM_CONTENT_TYPE: &str = "application/problem+json";

impl ResponseError for ApiError {
    fn status_code(&self) -> StatusCode {
        match self {
            ApiError::BadRequest(_) => StatusCode::BAD_REQUEST,
            ApiError::Validation(_) | ApiError::InvalidAmount(_) => StatusCode::UNPROCESSABLE_ENTITY,
            ApiError::PayloadTooLarge { .. } => StatusCode::PAYLOAD_TOO_LARGE,
            ApiError::UnsupportedMediaType(_) => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            ApiError::MethodNotAllowed { .. } => StatusCode::METHOD_NOT_ALLOWED,
            ApiError::RequestTimeout => StatusCode::REQUEST_TIMEOUT,
            ApiError::NotFound(_) => StatusCode::NOT_FOUND,
            ApiError::Unauthorized(_) => StatusCode::UNAUTHORIZED,
            ApiError::Forbidden(_) => StatusCode::FORBIDDEN,
            ApiError::UsernameTaken => StatusCode::CONFLICT,
            ApiError::InvalidCredentials => StatusCode::UNAUTHORIZED,
            ApiError::TooManyAttempts { .. } | ApiError::TooManyRegistrations { .. } | ApiError::RateLimited { .. } => {
                StatusCode::TOO_MANY_REQUESTS
            }
            ApiError::IdempotencyKeyRequired => StatusCode::BAD_REQUEST,
            ApiError::IdempotencyKeyReused => StatusCode::UNPROCESSABLE_ENTITY,
            ApiError::Refused { code, .. } => match code {
                ErrorCode::AccountFrozen | ErrorCode::Forbidden => StatusCode::FORBIDDEN,
                ErrorCode::NotFound | ErrorCode::RecipientNotFound => StatusCode::NOT_FOUND,
                ErrorCode::InvalidState | ErrorCode::IdempotencyKeyInFlight | ErrorCode::NameTaken => {
                    StatusCode::CONFLICT
                }
                _ => StatusCode::UNPROCESSABLE_ENTITY,
            },
            ApiError::ServiceUnavailable(_) => StatusCode::SERVICE_UNAVAILABLE,
            ApiError::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    fn error_response(&self) -> HttpResponse {
        let status = self.status_code();
        let code = self.code();
        let body = Problem {
            kind: format!("urn:vaultline:problem:{}", code.as_str()),
            title: self.title(),
            status: status.as_u16(),
            detail: self.public_detail(),
            code,
        };
        let mut response = HttpResponse::build(status);
        response.insert_header((header::CONTENT_TYPE, HeaderValue::from_static(PROBLEM_CONTENT_TYPE)));
        match self {
            ApiError::TooManyAttempts { retry_after_secs }
            | ApiError::TooManyRegistrations { retry_after_secs }
            | ApiError::RateLimited { retry_after_secs } => {
                response.insert_header((header::RETRY_AFTER, retry_after_secs.to_string()));
            }
            ApiError::Unauthorized(_) | ApiError::InvalidCredentials => {
                response.insert_header((header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer")));
            }
            ApiError::ServiceUnavailable(_) => {
                response.insert_header((header::RETRY_AFTER, HeaderValue::from_static("1")));
            }
            ApiError::RequestTimeout => {
                response.insert_header((header::CONNECTION, HeaderValue::from_static("close")));
            }
            ApiError::MethodNotAllowed { allow, .. } => {
                if let Ok(value) = HeaderValue::from_str(allow) {
                    response.insert_header((header::ALLOW, value));
                }
            }
            _ => {}
        }
        response.body(serde_json::to_string(&body).unwrap_or_default())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_serialize_as_their_contract_names() {
        for code in [ErrorCode::ValidationError, ErrorCode::IdempotencyKeyInFlight, ErrorCode::Internal] {
            assert_eq!(serde_json::to_value(code).unwrap(), code.as_str());
        }
    }

    #[test]
    fn internal_errors_do_not_leak() {
        let e = ApiError::Internal("relation \"users\" does not exist".into());
        assert!(!e.public_detail().contains("users"));
    }

    #[test]
    fn a_refusal_that_reaches_question_mark_answers_its_code_never_a_500() {
        use crate::domain::account::Source;
        use crate::domain::limits::Velocity;
        let refusals = [
            Refusal::AccountFrozen,
            Refusal::InsufficientFunds { from: Source::Wallet, balance_minor: 5 },
            Refusal::VaultPledged { unlockable_minor: 5 },
            Refusal::RecipientNotFound,
            Refusal::SelfTransfer,
            Refusal::CreditLimitExceeded { available_minor: 5 },
            Refusal::AccountDelinquent,
            Refusal::NotFound("purchase"),
            Refusal::InvalidState("voided"),
            Refusal::NothingToRepay,
            Refusal::Overpayment { owed_minor: 5 },
            Refusal::NotEligible { score: 1, threshold: 2, overdue: false, frozen: false },
            Refusal::VelocityLimitExceeded { velocity: Velocity::Outflow24h, used: 1, limit: 2 },
            Refusal::Forbidden("not yours"),
            Refusal::AlreadyDecided("approved"),
            Refusal::StatusUnchanged("frozen"),
            Refusal::RefundTooLarge { refundable_minor: 5, hold: false },
            Refusal::NotRefundable,
            Refusal::TooSmallToSplit,
            Refusal::AlreadyConverted,
            Refusal::PayoffQuoteChanged { payoff_minor: 5 },
        ];
        for refusal in refusals {
            let answered: ApiError = StoreError::Refused(refusal.clone()).into();
            let status = answered.status_code();
            assert!(status.is_client_error(), "{refusal:?} answers {status}");
            assert_eq!(answered.code(), refusal_code(&refusal), "{refusal:?}");
        }
    }
}
