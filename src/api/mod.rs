//! HTTP: handlers stay thin; they parse, call the store, and shape the answer.

pub(crate) mod admin;
mod auth;
mod autopay;
mod bill_plans;
pub(crate) mod credit;
pub(crate) mod dto;
pub mod events;
pub mod headers;
pub(crate) mod idempotency;
pub mod json;
mod me;
pub(crate) mod me_credit;
pub mod metrics;
pub(crate) mod money;
pub(crate) mod money_input;
pub mod observe;
pub mod openapi;
mod ops;
pub(crate) mod page;
mod payoff;
pub(crate) mod refusal;
pub mod routing;
mod sessions;
pub mod statements;

/// How a refusal is worded for the caller (the model test holds answers against it).
pub use refusal::store_error;

use actix_web::{HttpResponse, web};
use utoipa_swagger_ui::{Config, SwaggerUi};

/// Handlers name it as `super::AppState` or `crate::api::AppState`.
pub use crate::state::AppState;

/// The internal metrics address serves `/metrics` and nothing else.
pub fn metrics_only(cfg: &mut web::ServiceConfig) {
    cfg.service(ops::metrics);
}

/// What the public address serves beyond the API.
#[derive(Clone, Copy, Debug)]
pub struct Surface {
    /// `/metrics` here (false: on the internal `server.metrics_bind` only).
    pub metrics: bool,
    /// The interactive docs at `/docs`.
    pub docs: bool,
}

/// Registers every route; `openapi_json` is the OpenAPI document served at `/openapi.json`,
/// serialized once: every worker's app shares the bytes (a `serde_json::Value` of it is
/// 2.7 MiB, and each worker kept its own copies of it).
pub fn routes(cfg: &mut web::ServiceConfig, openapi_json: &web::Bytes, surface: Surface) {
    cfg.service(auth::register)
        .service(auth::login)
        .service(auth::refresh)
        .service(auth::logout)
        .service(sessions::logout_all)
        .service(sessions::change_password)
        .service(me::me)
        .service(me_credit::my_score)
        .service(me_credit::limit_history)
        .service(me_credit::limits)
        .service(autopay::get_autopay)
        .service(autopay::set_autopay)
        .service(bill_plans::convert_bill)
        .service(money::account)
        .service(money::deposit)
        .service(money::withdraw)
        .service(money::transfer)
        .service(money::lock)
        .service(money::unlock)
        .service(money::transactions)
        .service(credit::merchants)
        .service(credit::create_purchase)
        .service(credit::purchases)
        .service(credit::purchase_by_id)
        .service(credit::confirm_receipt)
        .service(credit::cancel)
        .service(credit::bill)
        .service(credit::repay)
        .service(payoff::payoff_quote)
        .service(payoff::pay_off)
        .service(statements::list)
        .service(statements::pdf)
        .service(statements::get)
        .service(events::my_events)
        .configure(admin::routes)
        .service(ops::healthz)
        .service(ops::readyz);
    if surface.metrics {
        cfg.service(ops::metrics);
    }
    let openapi_json = openapi_json.clone();
    cfg.service(web::resource("/openapi.json").get(move || {
        let body = openapi_json.clone();
        async move { HttpResponse::Ok().content_type("application/json").body(body) }
    }));
    if surface.docs {
        cfg.service(
            web::resource("/docs")
                .get(|| async { HttpResponse::PermanentRedirect().insert_header(("location", "/docs/")).finish() }),
        )
        .service(
            // The page loads /openapi.json above (the config names it): no copy of the document here.
            SwaggerUi::new("/docs/{_:.*}")
                // No validator badge: it would send the document to a third party and show a
                // broken image offline.
                .config(Config::new(["/openapi.json"]).validator_url("none")),
        );
    }
}
