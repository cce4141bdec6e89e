//! Admin console API. The whole `/v1/admin` scope requires an admin confirmed by the
//! database, whatever the route or method, before any handler runs.

pub(super) mod audit;
pub(super) mod credit;
pub(super) mod credit_requests;
pub(super) mod ledger;
pub(super) mod users;

use actix_web::ResponseError;
use actix_web::body::{EitherBody, MessageBody};
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::middleware::{Next, from_fn};
use actix_web::web;

use crate::auth::extract::authenticate_admin;

async fn require_admin(
    req: ServiceRequest,
    next: Next<impl MessageBody>,
) -> Result<ServiceResponse<EitherBody<impl MessageBody>>, actix_web::Error> {
    match authenticate_admin(req.request()).await {
        Ok(_) => next.call(req).await.map(ServiceResponse::map_into_left_body),
        Err(refusal) => Ok(req.into_response(refusal.error_response()).map_into_right_body()),
    }
}

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.service(
        web::scope("/v1/admin")
            .wrap(from_fn(require_admin))
            .service(users::list)
            .service(users::detail)
            .service(users::credit_line)
            .service(users::freeze)
            .service(users::unfreeze)
            .service(credit_requests::list)
            .service(credit_requests::approve)
            .service(credit_requests::reject)
            .service(audit::list)
            .service(ledger::check)
            .service(credit::create_merchant)
            .service(credit::run_billing)
            .default_service(web::to(super::routing::no_route)),
    );
}
