//! What every operation shares, declared once: the statuses the framework around a handler
//! can answer (401 without a token, 403 for non-admins, 400/413/415/422 for bodies and
//! queries, 404 for ids, 500/503, and `default`), the response headers, `security: []` on
//! public operations, and `servers`.

use serde_json::{Map, Value, json};

use crate::domain::staff::{self, Action};
use crate::domain::user::Role;

const PROBLEM: &str = "application/problem+json";

/// The operations that count against the money request budget (`MoneyCaller`'s gate).
const MONEY_REQUESTS: [&str; 10] = [
    "deposit",
    "withdraw",
    "transfer",
    "lock",
    "unlock",
    "repay",
    "createPurchase",
    "confirmReceipt",
    "cancelPurchase",
    "convertBill",
];

/// Adds the shared statuses and headers to every operation of `doc`.
pub fn complete(doc: &mut Value) {
    doc["servers"] = json!([{"url": "/", "description": "This service"}]);
    let Some(paths) = doc.get_mut("paths").and_then(Value::as_object_mut) else { return };
    for (path, item) in paths.iter_mut() {
        let Some(operations) = item.as_object_mut() else { continue };
        for (method, operation) in operations.iter_mut() {
            complete_operation(operation);
            if path.starts_with("/v1/admin/") {
                state_staff_roles(operation, method, path);
            }
        }
    }
}

/// Writes which staff roles an admin operation needs (`x-staff-roles`, and in its 403), from
/// the route table and the role table the guard itself asks.
fn state_staff_roles(op: &mut Value, method: &str, path: &str) {
    let method = method.to_ascii_uppercase();
    let action = crate::api::admin::ROUTE_ACTIONS
        .iter()
        .find(|(m, p, _)| *m == method && *p == path)
        .map_or(Action::ManageStaff, |(_, _, action)| *action);
    let roles: Vec<&str> = Role::STAFF.into_iter().filter(|r| staff::allows(*r, action)).map(Role::as_str).collect();
    op["x-staff-roles"] = json!(roles);
    if let Some(forbidden) = op["responses"]["403"]["description"].as_str() {
        let text = format!("{forbidden}; this operation needs the role {}", roles.join(", "));
        op["responses"]["403"]["description"] = json!(text);
    }
}

fn complete_operation(op: &mut Value) {
    let secured = op.get("security").and_then(Value::as_array).is_some_and(|s| !s.is_empty());
    if !secured {
        op["security"] = json!([]);
    }
    let admin = has_tag(op, "admin");
    let has_body = op.get("requestBody").is_some();
    let has = |place: &str| parameters(op).any(|p| p["in"] == place);
    let (query, path) = (has("query"), has("path"));
    let idempotent = parameters(op).any(|p| p["name"] == "Idempotency-Key");
    let money_request = MONEY_REQUESTS.contains(&op["operationId"].as_str().unwrap_or_default());
    let responses = op["responses"].as_object_mut().expect("every operation has responses");

    if secured {
        add(responses, "401", &["unauthorized"], "no valid access token");
    }
    if admin {
        add(responses, "403", &["forbidden"], "the caller is not a staff member whose role allows it");
    }
    if has_body {
        add(responses, "400", &["validation_error"], "the body is not JSON");
        add(responses, "408", &["validation_error"], "the body did not arrive in time; the connection closes");
        add(responses, "413", &["payload_too_large"], "the body is larger than the server accepts");
        add(responses, "415", &["unsupported_media_type"], "the body is not sent as application/json");
        add(responses, "422", &["validation_error"], "the JSON breaks the request's rules");
    }
    if query {
        add(responses, "400", &["validation_error"], "a query parameter does not parse");
    }
    if idempotent {
        add(responses, "400", &["idempotency_key_required", "validation_error"], "the Idempotency-Key header");
        add(responses, "422", &["idempotency_key_reused"], "the key was used for a different request");
    }
    if path {
        add(responses, "404", &["not_found"], "no such resource (or not the caller's)");
    }
    if money_request {
        add(
            responses,
            "429",
            &["rate_limited"],
            "too many money requests in this window (`limits.money_requests_per_window`)",
        );
    }
    add(responses, "500", &["internal"], "an internal error; quote `x-request-id` when reporting it");
    add(responses, "503", &["service_unavailable"], "the database cannot be reached or the service is shedding load");
    responses.entry("default").or_insert_with(|| problem_response("Any other problem, by its HTTP status".into()));
    for (status, response) in responses.iter_mut() {
        add_headers(status, response, idempotent);
    }
}

fn has_tag(op: &Value, tag: &str) -> bool {
    op.get("tags").and_then(Value::as_array).is_some_and(|tags| tags.iter().any(|t| t == tag))
}

fn parameters(op: &Value) -> impl Iterator<Item = &Value> {
    op.get("parameters").and_then(Value::as_array).into_iter().flatten()
}

fn problem_response(description: String) -> Value {
    json!({"description": description, "content": {PROBLEM: {"schema": {"$ref": "#/components/schemas/Problem"}}}})
}

/// Declares `status` with these codes, or adds the codes a declared one does not name yet.
fn add(responses: &mut Map<String, Value>, status: &str, codes: &[&str], why: &str) {
    let quoted: Vec<String> = codes.iter().map(|c| format!("`{c}`")).collect();
    match responses.get_mut(status) {
        None => {
            responses.insert(status.to_owned(), problem_response(format!("{}: {why}", quoted.join(", "))));
        }
        Some(existing) => {
            let description = existing["description"].as_str().unwrap_or_default().to_owned();
            let missing: Vec<&String> = quoted.iter().filter(|q| !description.contains(q.as_str())).collect();
            if !missing.is_empty() {
                let list: Vec<&str> = missing.iter().map(|q| q.as_str()).collect();
                existing["description"] = Value::String(format!("{description}; {}: {why}", list.join(", ")));
            }
        }
    }
}

fn header(description: &str, required: bool) -> Value {
    json!({"description": description, "required": required, "schema": {"type": "string"}})
}

fn add_headers(status: &str, response: &mut Value, idempotent: bool) {
    let Some(response) = response.as_object_mut() else { return };
    let headers = response.entry("headers").or_insert_with(|| json!({}));
    headers["x-request-id"] = header("The request's id (the client's own if it sent a valid one)", true);
    match status {
        "429" => headers["Retry-After"] = header("Seconds to wait before trying again", true),
        "503" => headers["Retry-After"] = header("Seconds to wait before trying again", true),
        "401" => headers["WWW-Authenticate"] = header("`Bearer`", true),
        _ => {}
    }
    if idempotent && status.starts_with('2') {
        headers["Idempotent-Replayed"] = json!({
            "description": "`true` when this is the saved answer of an earlier request with the same key",
            "required": false,
            "schema": {"type": "string", "enum": ["true"]}
        });
    }
}
