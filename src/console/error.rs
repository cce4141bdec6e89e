//! What a console request can end in besides its page: a redirect (to sign in, mostly) or a
//! refusal rendered as a small HTML page (never JSON, never a stack trace).

use actix_web::http::{StatusCode, header};
use actix_web::{HttpResponse, ResponseError};
use maud::html;

use crate::error::ApiError;
use crate::store::StoreError;

#[derive(Debug, thiserror::Error)]
pub enum ConsoleError {
    /// 303 to this console path.
    #[error("see {0}")]
    Redirect(String),
    #[error("{0}")]
    BadRequest(String),
    #[error("{0}")]
    Forbidden(String),
    #[error("{0}")]
    NotFound(String),
    #[error("{0}")]
    TooManyAttempts(String),
    #[error("{0}")]
    Internal(String),
}

impl ConsoleError {
    /// To the sign-in page, saying why.
    pub fn sign_in(why: &str) -> Self {
        ConsoleError::Redirect(format!("/console/login?why={why}"))
    }
}

impl From<StoreError> for ConsoleError {
    fn from(e: StoreError) -> Self {
        ConsoleError::from(ApiError::from(e))
    }
}

impl From<ApiError> for ConsoleError {
    fn from(e: ApiError) -> Self {
        match e.status_code().as_u16() {
            403 => ConsoleError::Forbidden(e.to_string()),
            404 => ConsoleError::NotFound(e.to_string()),
            429 => ConsoleError::TooManyAttempts(e.to_string()),
            400..=499 => ConsoleError::BadRequest(e.to_string()),
            _ => {
                tracing::error!(error = %e, "console request failed");
                ConsoleError::Internal("something went wrong; the request id is in the response headers".into())
            }
        }
    }
}

impl ResponseError for ConsoleError {
    fn status_code(&self) -> StatusCode {
        match self {
            ConsoleError::Redirect(_) => StatusCode::SEE_OTHER,
            ConsoleError::BadRequest(_) => StatusCode::UNPROCESSABLE_ENTITY,
            ConsoleError::Forbidden(_) => StatusCode::FORBIDDEN,
            ConsoleError::NotFound(_) => StatusCode::NOT_FOUND,
            ConsoleError::TooManyAttempts(_) => StatusCode::TOO_MANY_REQUESTS,
            ConsoleError::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    fn error_response(&self) -> HttpResponse {
        if let ConsoleError::Redirect(to) = self {
            return HttpResponse::SeeOther().insert_header((header::LOCATION, to.as_str())).finish();
        }
        let status = self.status_code();
        let title = status.canonical_reason().unwrap_or("Error");
        let page = html! {
            (maud::DOCTYPE)
            html lang="en" {
                (super::layout::head(title))
                body {
                    main class="narrow" {
                        h1 { (status.as_u16()) " " (title) }
                        p class="notice error" role="alert" { (self.to_string()) }
                        p { a href="/console" { "Back to the console" } }
                    }
                }
            }
        };
        HttpResponse::build(status).content_type("text/html; charset=utf-8").body(page.into_string())
    }
}
