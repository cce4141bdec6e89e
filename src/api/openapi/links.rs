//! OpenAPI links: which answer feeds which next request (a created purchase's id names the
//! purchase to confirm), so generated clients document the flow and stateful testers follow it.

use serde_json::{Value, json};

/// (operation, status, link name, target operation, parameter `id` taken from this JSON pointer)
const LINKS: [(&str, &str, &str, &str, &str); 12] = [
    ("createPurchase", "201", "GetPurchase", "getPurchase", "/id"),
    ("createPurchase", "201", "ConfirmReceipt", "confirmReceipt", "/id"),
    ("createPurchase", "201", "CancelPurchase", "cancelPurchase", "/id"),
    ("confirmReceipt", "200", "GetPurchase", "getPurchase", "/id"),
    ("cancelPurchase", "200", "GetPurchase", "getPurchase", "/id"),
    ("register", "201", "GetUser", "getUser", "/user/id"),
    ("register", "201", "FreezeUser", "freezeUser", "/user/id"),
    ("register", "201", "UnfreezeUser", "unfreezeUser", "/user/id"),
    ("register", "201", "ChangeCreditLine", "changeCreditLine", "/user/id"),
    ("freezeUser", "200", "UnfreezeUser", "unfreezeUser", "/id"),
    ("changeCreditLine", "202", "ApproveCreditRequest", "approveCreditRequest", "/request_id"),
    ("changeCreditLine", "202", "RejectCreditRequest", "rejectCreditRequest", "/request_id"),
];

pub fn apply(doc: &mut Value) {
    let Some(paths) = doc["paths"].as_object_mut() else { return };
    for operation in paths.values_mut().filter_map(Value::as_object_mut).flat_map(|ops| ops.values_mut()) {
        let id = operation["operationId"].as_str().unwrap_or_default().to_owned();
        for (from, status, name, target, pointer) in LINKS.iter().filter(|l| l.0 == id) {
            let response = &mut operation["responses"][*status];
            assert!(response.is_object(), "{from} declares no {status} to link from");
            response["links"][*name] =
                json!({"operationId": target, "parameters": {"id": format!("$response.body#{pointer}")}});
        }
    }
}
