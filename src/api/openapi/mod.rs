//! The served OpenAPI 3.1 document: generated from the handlers' own annotations, then
//! completed once with what every operation shares (`http`) and with the exact input
//! rules of this configuration (`constraints`), so it tells the whole truth.

mod amount_pattern;
mod constraints;
mod http;
mod links;

use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::{Modify, OpenApi};

use super::{admin, auth, autopay, bill_plans, credit, me, me_credit, money, ops, payoff, sessions};
use crate::domain::money::MoneyPolicy;
use crate::error::{ErrorCode, Problem};

pub use amount_pattern::amount_pattern;

#[derive(OpenApi)]
#[openapi(
    info(title = "Vaultline", description = "Deposit-secured credit wallet: wallet, vault-backed credit line, installments."),
    paths(auth::register, auth::login, auth::refresh, auth::logout, sessions::logout_all, sessions::change_password, me::me, me_credit::my_score, me_credit::limit_history, me_credit::limits, autopay::get_autopay, autopay::set_autopay, money::account, money::deposit, money::withdraw, money::transfer, money::lock, money::unlock, money::transactions, credit::merchants, credit::create_purchase, credit::purchases, credit::purchase_by_id, credit::confirm_receipt, credit::cancel, credit::bill, credit::repay, payoff::payoff_quote, payoff::pay_off, bill_plans::convert_bill, admin::users::list, admin::users::detail, admin::users::credit_line, admin::users::freeze, admin::users::unfreeze, admin::credit_requests::list, admin::credit_requests::approve, admin::credit_requests::reject, admin::audit::list, admin::ledger::check, admin::credit::create_merchant, admin::credit::run_billing, admin::refunds::refund, crate::api::events::my_events, crate::api::events::all_events, admin::webhooks::create, admin::webhooks::list, admin::webhooks::remove, admin::webhooks::attempts, admin::webhooks::redeliver, ops::healthz, ops::readyz, ops::metrics, admin::staff::list, admin::staff::create, admin::staff::change_role, admin::staff::deactivate, admin::staff::reset_totp, crate::api::statements::list, crate::api::statements::get, crate::api::statements::pdf, crate::api::statements::admin_list, crate::api::statements::admin_get),
    components(schemas(Problem, ErrorCode)),
    modifiers(&BearerAuth),
    tags(
        (name = "auth", description = "Registration, login, token refresh"),
        (name = "me", description = "The caller's own records"),
        (name = "money", description = "Wallet, vault, transfers and history"),
        (name = "credit", description = "Purchases on credit, installments, bills and repayments"),
        (name = "admin", description = "Staff operations; each route names the staff roles it needs (support, operations, credit, admin)"),
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

/// The document as served: the annotations, completed for this configuration's money rules.
pub fn document(money: &MoneyPolicy, limits: &MoneyPolicy) -> serde_json::Value {
    let mut doc = serde_json::to_value(ApiDoc::openapi()).expect("the OpenAPI document serializes");
    http::complete(&mut doc);
    constraints::apply(&mut doc, money, limits);
    links::apply(&mut doc);
    doc
}

#[cfg(test)]
mod tests {
    use serde_json::Value;

    use super::*;
    use crate::domain::money::Currency;
    use crate::domain::movement::MovementKind;

    fn served() -> Value {
        let policy = MoneyPolicy::from_config(Currency::new("CNY", 2).unwrap(), "1000000.00").unwrap();
        let limits = MoneyPolicy::from_config(Currency::new("CNY", 2).unwrap(), "50000.00").unwrap();
        document(&policy, &limits)
    }

    fn operations(doc: &Value) -> Vec<(String, &Value)> {
        let mut all = Vec::new();
        for (path, item) in doc["paths"].as_object().unwrap() {
            for (method, op) in item.as_object().unwrap() {
                all.push((format!("{} {path}", method.to_uppercase()), op));
            }
        }
        all
    }

    #[test]
    fn every_operation_declares_what_the_framework_can_answer() {
        let doc = served();
        assert_eq!(doc["servers"][0]["url"], "/");
        for (label, op) in operations(&doc) {
            let responses = op["responses"].as_object().unwrap();
            let secured = !op["security"].as_array().unwrap().is_empty();
            if secured {
                assert!(responses["401"]["description"].as_str().unwrap().contains("`unauthorized`"), "{label}");
            }
            for status in ["500", "503", "default"] {
                assert!(responses.contains_key(status), "{label} lacks {status}");
            }
            if op.get("requestBody").is_some() {
                for status in ["400", "413", "415", "422"] {
                    assert!(responses.contains_key(status), "{label} lacks {status}");
                }
            }
            if label.contains("/v1/admin/") {
                assert!(responses["403"]["description"].as_str().unwrap().contains("`forbidden`"), "{label}");
            }
            for (status, response) in responses {
                assert_eq!(response["headers"]["x-request-id"]["required"], true, "{label} {status}");
            }
        }
    }

    #[test]
    fn enums_and_patterns_come_from_the_code() {
        let doc = served();
        let schemas = &doc["components"]["schemas"];
        let kinds: Vec<&str> = MovementKind::ALL.iter().map(|k| k.as_str()).collect();
        assert_eq!(schemas["MovementKind"]["enum"], serde_json::json!(kinds));
        assert_eq!(schemas["Movement"]["properties"]["kind"]["$ref"], "#/components/schemas/MovementKind");
        assert_eq!(
            schemas["PurchaseRequest"]["properties"]["installments"]["enum"],
            serde_json::json!([1, 3, 6, 12, 24])
        );
        assert_eq!(schemas["MovementPage"]["properties"]["next_cursor"]["pattern"], crate::api::page::CURSOR_PATTERN);
        assert_eq!(schemas["MovementPage"]["properties"]["items"]["items"]["$ref"], "#/components/schemas/Movement");
        let amount = schemas["AmountRequest"]["properties"]["amount"]["pattern"].as_str().unwrap();
        let amount = regex::Regex::new(amount).unwrap();
        assert!(amount.is_match("1000000.00") && !amount.is_match("1000000.01") && !amount.is_match("0"));
        let purchases = &doc["paths"]["/v1/credit/purchases"]["get"]["parameters"];
        let cursor = purchases.as_array().unwrap().iter().find(|p| p["name"] == "cursor").unwrap();
        assert_eq!(cursor["schema"]["pattern"], crate::api::page::CURSOR_PATTERN);
        let links = &doc["paths"]["/v1/credit/purchases"]["post"]["responses"]["201"]["links"];
        assert_eq!(links["ConfirmReceipt"]["parameters"]["id"], "$response.body#/id");
    }

    #[test]
    fn public_operations_say_so() {
        let doc = served();
        for path in ["/v1/auth/login", "/v1/auth/register", "/healthz", "/readyz", "/metrics"] {
            let item = doc["paths"][path].as_object().unwrap();
            for op in item.values() {
                assert_eq!(op["security"], serde_json::json!([]), "{path}");
            }
        }
    }
}
