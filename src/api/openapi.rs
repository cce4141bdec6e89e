//! The served OpenAPI 3.1 document, generated from the handlers' own annotations.

use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::{Modify, OpenApi};

use super::{admin, auth, credit, me, me_credit, money, ops};
use crate::error::{ErrorCode, Problem};

#[derive(OpenApi)]
#[openapi(
    info(title = "Vaultline", description = "Deposit-secured credit wallet: wallet, vault-backed credit line, installments."),
    paths(auth::register, auth::login, auth::refresh, auth::logout, me::me, me_credit::my_score, me_credit::limit_history, money::account, money::deposit, money::withdraw, money::transfer, money::lock, money::unlock, money::transactions, credit::merchants, credit::create_purchase, credit::purchases, credit::purchase_by_id, credit::confirm_receipt, credit::cancel, credit::bill, credit::repay, admin::users::list, admin::users::detail, admin::users::credit_line, admin::users::freeze, admin::users::unfreeze, admin::audit::list, admin::ledger::check, admin::credit::create_merchant, admin::credit::run_billing, ops::healthz, ops::readyz, ops::metrics),
    components(schemas(Problem, ErrorCode)),
    modifiers(&BearerAuth),
    tags(
        (name = "auth", description = "Registration, login, token refresh"),
        (name = "me", description = "The caller's own records"),
        (name = "money", description = "Wallet, vault, transfers and history"),
        (name = "credit", description = "Purchases on credit, installments, bills and repayments"),
        (name = "admin", description = "Admin console (role admin)"),
        (name = "operations", description = "Liveness, readiness, metrics"),
    )
)]
pub struct ApiDoc;

struct BearerAuth;

impl Modify for BearerAuth {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(HttpBuilder::new().scheme(HttpAuthScheme::Bearer).bearer_format("JWT").build()),
        );
    }
}
