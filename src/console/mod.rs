//! The operations console at `/console`: server-rendered pages (maud) for staff, served by
//! this binary with its stylesheet and script compiled in. Every action calls the same
//! store functions as `/v1/admin/*`, under the same role table (`domain::staff`), and
//! writes the same audit entries.

mod approvals;
mod audit;
mod books;
mod credit_line;
mod customers;
mod error;
mod history;
mod layout;
mod login;
mod raw_form;
mod risk;
mod session;
mod staff;
mod two_factor;
mod webhooks;

use actix_web::body::MessageBody;
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::Method;
use actix_web::http::header::{self, HeaderName, HeaderValue};
use actix_web::middleware::{Next, from_fn};
use actix_web::{HttpMessage, HttpResponse, ResponseError, web};

pub use error::ConsoleError;
use layout::Nonce;

const CSS: &str = include_str!("console.css");
const JS: &str = include_str!("console.js");

/// Registers `/console` and everything under it.
pub fn routes(cfg: &mut web::ServiceConfig) {
    let form_errors = web::FormConfig::default()
        .limit(16 * 1024)
        .error_handler(|e, _| ConsoleError::BadRequest(format!("the form could not be read: {e}")).into());
    cfg.service(
        web::scope("/console")
            .app_data(form_errors)
            .wrap(from_fn(console_headers))
            .route("/assets/console.css", web::get().to(|| asset(CSS, "text/css; charset=utf-8")))
            .route("/assets/console.js", web::get().to(|| asset(JS, "text/javascript; charset=utf-8")))
            .configure(login::routes)
            .configure(two_factor::routes)
            .configure(customers::routes)
            .configure(credit_line::routes)
            .configure(approvals::routes)
            .configure(staff::routes)
            .configure(audit::routes)
            .configure(books::routes)
            .configure(risk::routes)
            .configure(webhooks::routes)
            .default_service(web::to(|| async {
                ConsoleError::NotFound("no such console page".into()).error_response()
            })),
    );
}

async fn asset(body: &'static str, content_type: &'static str) -> HttpResponse {
    HttpResponse::Ok().content_type(content_type).body(body)
}

/// Every console answer: a strict CSP whose script nonce is fresh per response, no framing,
/// no caching, no referrer outside the console. A POST whose `Origin` is another site is refused before any
/// handler runs (with SameSite=Strict cookies, a second wall against cross-site forms).
async fn console_headers(
    req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<impl MessageBody>, actix_web::Error> {
    if req.method() == Method::POST && !same_origin(&req) {
        let refusal = ConsoleError::Forbidden("this form was sent from another site".into());
        return Ok(req.into_response(refusal.error_response()).map_into_boxed_body());
    }
    let nonce = session::random_token();
    req.extensions_mut().insert(Nonce(nonce.clone()));
    let mut res = next.call(req).await?.map_into_boxed_body();
    let policy = format!(
        "default-src 'none'; script-src 'nonce-{nonce}'; style-src 'self'; img-src 'self' data:; \
         form-action 'self'; frame-ancestors 'none'; base-uri 'none'"
    );
    let headers = res.headers_mut();
    if let Ok(value) = HeaderValue::from_str(&policy) {
        headers.insert(header::CONTENT_SECURITY_POLICY, value);
    }
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    headers.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    // `same-origin`, not `no-referrer`: under the latter browsers send `Origin: null` with
    // every form, and the origin check above could not tell the console's own forms apart.
    headers.insert(HeaderName::from_static("referrer-policy"), HeaderValue::from_static("same-origin"));
    Ok(res)
}

/// No `Origin` (an old browser, a test client) passes; one that names another host does not.
fn same_origin(req: &ServiceRequest) -> bool {
    let Some(origin) = req.headers().get(header::ORIGIN).and_then(|v| v.to_str().ok()) else { return true };
    let host = req.connection_info().host().to_owned();
    origin.split_once("://").is_some_and(|(_, rest)| rest == host)
}
