//! The input rules the server enforces, written into the document from the same constants
//! and patterns the parsers use: amounts (from this configuration's currency and maxima),
//! visible text, usernames, passwords, installment counts, dates and header formats.

use serde_json::{Value, json};

use super::amount_pattern;
use crate::api::admin::credit::MERCHANT_NAME_MAX_CHARS;
use crate::api::admin::reason::REASON_MAX_CHARS;
use crate::api::credit::DESCRIPTION_MAX_CHARS;
use crate::api::idempotency;
use crate::api::page::CURSOR_PATTERN;
use crate::domain::money::MoneyPolicy;
use crate::domain::movement::Note;
use crate::domain::schedule::ALLOWED_COUNTS;
use crate::domain::text;
use crate::domain::user::{DisplayName, Password, Role, Username};

/// Characters a password may not contain: control characters (`char::is_control`).
const NO_CONTROL: &str = r"^[^\u0000-\u001F\u007F-\u009F]*$";
pub const DATE_PATTERN: &str = r"^[0-9]{4}-[0-9]{2}-[0-9]{2}$";

pub fn apply(doc: &mut Value, money: &MoneyPolicy, limits: &MoneyPolicy) {
    let amount = amount_schema(money);
    let visible = |max: usize| json!({"type": "string", "minLength": 1, "maxLength": max, "pattern": text::pattern()});
    let optional_visible = |max: usize| {
        json!({"type": ["string", "null"], "maxLength": max, "pattern": text::optional_pattern(),
               "description": "Visible text; empty or null means none"})
    };
    let schemas = &mut doc["components"]["schemas"];
    for name in ["AmountRequest", "TransferRequest", "PurchaseRequest", "RefundRequest"] {
        set(schemas, name, "amount", amount.clone());
    }
    let (general, secured) = credit_line_requests(amount_schema(limits), visible(REASON_MAX_CHARS));
    schemas["GeneralLineRequest"] = general;
    schemas["SecuredLineRequest"] = secured;
    schemas["CreditLineRequest"] = json!({"oneOf": [
        {"$ref": "#/components/schemas/GeneralLineRequest"},
        {"$ref": "#/components/schemas/SecuredLineRequest"},
    ]});
    for name in ["ReasonRequest", "NewStaffRequest", "RoleRequest"] {
        set(schemas, name, "reason", visible(REASON_MAX_CHARS));
    }
    let staff_roles: Vec<&str> = Role::STAFF.iter().map(|r| r.as_str()).collect();
    for name in ["NewStaffRequest", "RoleRequest"] {
        set(schemas, name, "role", json!({"type": "string", "enum": staff_roles}));
    }
    set(schemas, "RefundRequest", "reason", visible(REASON_MAX_CHARS));
    set(
        schemas,
        "AutopayRequest",
        "sources",
        json!({"type": ["array", "null"], "minItems": 1, "maxItems": 2, "uniqueItems": true,
               "prefixItems": [{"const": "wallet"}], "items": {"$ref": "#/components/schemas/AutopaySource"},
               "description": "[\"wallet\"] or [\"wallet\", \"vault\"]: the wallet first, then, if the user opts in, \
                               the vault that backs the line; [\"wallet\"] when left out"}),
    );
    set(schemas, "CreditRequestPending", "state", json!({"type": "string", "enum": ["pending"]}));
    set(schemas, "MerchantRequest", "name", visible(MERCHANT_NAME_MAX_CHARS));
    set(schemas, "TransferRequest", "note", optional_visible(Note::MAX_CHARS));
    set(schemas, "PurchaseRequest", "description", optional_visible(DESCRIPTION_MAX_CHARS));
    set(schemas, "PurchaseRequest", "merchant_id", json!({"type": "string", "format": "uuid"}));
    set(schemas, "PurchaseRequest", "installments", json!({"type": "integer", "enum": ALLOWED_COUNTS}));
    let plan_counts: Vec<u32> = ALLOWED_COUNTS.iter().copied().filter(|n| *n >= 3).collect();
    set(schemas, "BillPlanRequest", "installments", json!({"type": "integer", "enum": plan_counts}));
    let username = json!({"type": "string", "minLength": Username::MIN_LEN, "maxLength": Username::MAX_LEN,
        "pattern": format!("^[a-z0-9_]{{{},{}}}$", Username::MIN_LEN, Username::MAX_LEN), "example": "ann_lee"});
    // A staff member is created with the same rules as a customer's registration.
    for name in ["RegisterRequest", "NewStaffRequest"] {
        set(schemas, name, "username", username.clone());
    }
    let new_password = json!({"type": "string", "minLength": Password::MIN_CHARS, "maxLength": Password::MAX_CHARS,
        "pattern": NO_CONTROL, "format": "password",
        "description": "Also refused (422 validation_error), as no schema can say: containing the username, \
                        and the commonly breached passwords bundled with the service (any case)"});
    set(schemas, "RegisterRequest", "password", new_password.clone());
    set(schemas, "NewStaffRequest", "password", new_password.clone());
    set(schemas, "PasswordChange", "new_password", new_password);
    let mut display_name = visible(DisplayName::MAX_CHARS);
    display_name["type"] = json!(["string", "null"]);
    set(schemas, "RegisterRequest", "display_name", display_name.clone());
    set(schemas, "NewStaffRequest", "display_name", display_name);
    set(
        schemas,
        "BillingRequest",
        "as_of",
        json!({"type": "string", "format": "date", "pattern": DATE_PATTERN, "example": "2026-12-10"}),
    );
    for (name, schema) in schemas.as_object_mut().expect("schemas").iter_mut() {
        if name.ends_with("Page") {
            schema["properties"]["next_cursor"]["pattern"] = json!(CURSOR_PATTERN);
        }
    }
    set(
        schemas,
        "WebhookRequest",
        "url",
        json!({"type": "string", "minLength": 8, "maxLength": crate::domain::webhook::URL_MAX_CHARS,
               "pattern": "^https?://", "example": "https://hooks.example.com/vaultline",
               "description": "An absolute http(s) URL with a host, no credentials and no fragment, at most 2048 \
                               characters once encoded. Its host must resolve, and only to public addresses \
                               (not loopback, private, link-local or reserved) unless the service allows \
                               private targets; refused otherwise with 422 `validation_error`."}),
    );
    set(
        schemas,
        "WebhookRequest",
        "events",
        json!({"type": "array", "minItems": 1, "maxItems": crate::domain::webhook::EVENT_TYPES.len(),
               "uniqueItems": true, "items": {"$ref": "#/components/schemas/EventType"}}),
    );
    header_and_query_rules(doc);
    feed_cursors(doc);
}

/// The event feeds' `after`: a user's feed counts `seq`, the all-users feed `txid.position`.
fn feed_cursors(doc: &mut Value) {
    use crate::api::events::{ALL_CURSOR_PATTERN, USER_CURSOR_PATTERN};
    for (path, pattern) in [("/v1/events", USER_CURSOR_PATTERN), ("/v1/admin/events", ALL_CURSOR_PATTERN)] {
        let Some(parameters) = doc["paths"][path]["get"]["parameters"].as_array_mut() else { continue };
        for parameter in parameters.iter_mut().filter(|p| p["name"] == "after") {
            parameter["schema"]["pattern"] = json!(pattern);
        }
    }
}

/// Two shapes: a general line names its limit; a secured line's limit is the vault, so it has none.
fn credit_line_requests(limit: Value, reason: Value) -> (Value, Value) {
    let shape = |line: &str, limit: Value, required: Value, description: &str| {
        json!({
            "type": "object",
            "description": description,
            "required": required,
            "additionalProperties": false,
            "properties": {
                "line": {"type": "string", "enum": [line]},
                "limit": limit,
                "reason": reason,
                "override": {"type": ["boolean", "null"], "description":
                    "Upgrade even below the score threshold (never for a frozen or overdue account); the change then waits for a second admin (202)"}
            }
        })
    };
    (
        shape(
            "general",
            limit,
            json!(["line", "limit", "reason"]),
            "Upgrade to, or change the limit of, a general line",
        ),
        shape("secured", json!({"type": "null"}), json!(["line", "reason"]), "Downgrade to a secured line"),
    )
}

fn amount_schema(policy: &MoneyPolicy) -> Value {
    let places = policy.currency().places();
    json!({
        "type": "string",
        "pattern": amount_pattern(policy.max_amount_minor(), places),
        "description": format!(
            "Major units as text, at most {places} decimal places, above zero and at most {}",
            policy.format(policy.max_amount_minor())
        ),
        "example": "100.00"
    })
}

/// Replaces one property's schema; a missing schema or property is a bug in this table.
fn set(schemas: &mut Value, schema: &str, property: &str, value: Value) {
    let slot = &mut schemas[schema]["properties"][property];
    assert!(!slot.is_null(), "the document has no property {schema}.{property}");
    let description = slot.get("description").cloned();
    *slot = value;
    if let (Some(description), None) = (description, slot.get("description")) {
        slot["description"] = description;
    }
}

fn header_and_query_rules(doc: &mut Value) {
    let Some(paths) = doc["paths"].as_object_mut() else { return };
    for operation in paths.values_mut().filter_map(Value::as_object_mut).flat_map(|ops| ops.values_mut()) {
        let Some(parameters) = operation.get_mut("parameters").and_then(Value::as_array_mut) else { continue };
        for parameter in parameters.iter_mut().filter(|p| p["name"] == "id" && p["in"] == "path") {
            parameter["schema"] = json!({"type": "string", "format": "uuid"});
        }
        for parameter in parameters.iter_mut().filter(|p| p["name"] == "cursor" && p["in"] == "query") {
            parameter["schema"]["pattern"] = json!(CURSOR_PATTERN);
        }
        for parameter in parameters.iter_mut().filter(|p| p["name"] == "Idempotency-Key") {
            parameter["schema"] = json!({"type": "string", "minLength": 1, "maxLength": idempotency::MAX_LEN,
                                         "pattern": idempotency::KEY_PATTERN});
            parameter["description"] = json!(
                "Makes the request safe to retry: the same key and body answer the first result again (header `Idempotent-Replayed: true`). 1 to 255 printable ASCII characters, no space at either end; a UUID is a good key."
            );
        }
    }
}
