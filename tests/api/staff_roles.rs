//! Staff roles on `/v1/admin/*`: every admin route against every role (support, operations,
//! credit, admin, and a customer), refused with 403 `forbidden` exactly where the contract's
//! role list says; deciding a request needs the power of its kind; staff management.

use std::collections::BTreeSet;

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::helpers::{Backend, PASSWORD, TestApp, assert_problem};
use crate::on_both_backends;

on_both_backends!(
    every_admin_route_refuses_exactly_the_roles_without_its_action,
    a_request_is_decided_only_by_a_role_that_may_do_it,
    admins_manage_staff_and_changes_end_sessions,
);

const STAFF: [&str; 4] = ["support", "operations", "credit", "admin"];

/// Creates a staff member through the API as `admin`; returns (id, access token).
async fn staff(app: &TestApp, admin: &str, username: &str, role: &str) -> (String, String) {
    let body = json!({"username": username, "password": PASSWORD, "role": role, "reason": "joins the team"});
    let res = app.post_as_admin("/v1/admin/staff", admin, &body).await;
    assert_eq!(res.status(), StatusCode::CREATED, "create {role}");
    let user: Value = res.json().await.unwrap();
    assert_eq!(user["role"], role);
    (user["id"].as_str().unwrap().to_owned(), app.login(username).await["access_token"].as_str().unwrap().to_owned())
}

async fn id_of(app: &TestApp, token: &str) -> String {
    app.get_as("/v1/me", token).await.json::<Value>().await.unwrap()["id"].as_str().unwrap().to_owned()
}

/// One admin route: method, path, body, and the staff roles the contract gives it.
struct Route {
    method: Method,
    path: String,
    body: Option<Value>,
    roles: &'static [&'static str],
}

fn route(method: Method, path: String, body: Option<Value>, roles: &'static [&'static str]) -> Route {
    Route { method, path, body, roles }
}

const ALL: &[&str] = &["support", "operations", "credit", "admin"];
const OPS: &[&str] = &["operations", "admin"];
const CREDIT: &[&str] = &["credit", "admin"];
const DECIDERS: &[&str] = &["operations", "credit", "admin"];
const ADMIN: &[&str] = &["admin"];

fn routes(customer: &str, colleague: &str) -> Vec<Route> {
    use Method as M;
    let (none, today) = (uuid::Uuid::new_v4(), chrono::Utc::now().date_naive().to_string());
    let reason = json!({"reason": "role table check"});
    vec![
        route(M::GET, "/v1/admin/users".into(), None, ALL),
        route(M::GET, format!("/v1/admin/users/{customer}"), None, ALL),
        route(
            M::POST,
            format!("/v1/admin/users/{customer}/credit-line"),
            Some(json!({"line": "secured", "reason": "check"})),
            CREDIT,
        ),
        route(M::POST, format!("/v1/admin/users/{customer}/freeze"), Some(reason.clone()), OPS),
        route(M::POST, format!("/v1/admin/users/{customer}/unfreeze"), Some(reason.clone()), OPS),
        route(M::GET, format!("/v1/admin/users/{customer}/statements"), None, ALL),
        route(M::GET, format!("/v1/admin/users/{customer}/statements/{none}"), None, ALL),
        route(M::GET, "/v1/admin/credit-requests".into(), None, ALL),
        route(M::POST, format!("/v1/admin/credit-requests/{none}/approve"), Some(reason.clone()), DECIDERS),
        route(M::POST, format!("/v1/admin/credit-requests/{none}/reject"), Some(reason.clone()), DECIDERS),
        route(M::GET, "/v1/admin/audit-log".into(), None, ALL),
        route(M::GET, "/v1/admin/ledger/check".into(), None, ALL),
        route(M::GET, "/v1/admin/events".into(), None, ALL),
        route(M::POST, "/v1/admin/merchants".into(), Some(json!({"name": format!("Shop {none}")})), ADMIN),
        route(M::POST, "/v1/admin/billing/run".into(), Some(json!({"as_of": today, "dry_run": true})), OPS),
        route(M::POST, "/v1/admin/billing/run".into(), Some(json!({"as_of": today})), ADMIN),
        route(
            M::POST,
            format!("/v1/admin/purchases/{none}/refunds"),
            Some(json!({"amount": "1.00", "reason": "check"})),
            OPS,
        ),
        route(
            M::POST,
            "/v1/admin/webhooks".into(),
            Some(json!({"url": "https://93.184.216.34/hook", "events": ["movement.created"]})),
            OPS,
        ),
        route(M::GET, "/v1/admin/webhooks".into(), None, ALL),
        route(M::DELETE, format!("/v1/admin/webhooks/{none}"), None, OPS),
        route(M::GET, format!("/v1/admin/webhooks/{none}/attempts"), None, ALL),
        route(M::POST, format!("/v1/admin/webhooks/{none}/events/{none}/redeliver"), None, OPS),
        route(M::GET, "/v1/admin/staff".into(), None, ALL),
        route(
            M::POST,
            "/v1/admin/staff".into(),
            Some(json!({"username": format!("s{}", &none.simple().to_string()[..12]), "password": PASSWORD,
                "role": "support", "reason": "hire"})),
            ADMIN,
        ),
        route(
            M::POST,
            format!("/v1/admin/staff/{colleague}/role"),
            Some(json!({"role": "support", "reason": "same"})),
            ADMIN,
        ),
        route(M::POST, format!("/v1/admin/staff/{colleague}/totp/reset"), Some(reason.clone()), ADMIN),
        route(M::POST, format!("/v1/admin/staff/{colleague}/deactivate"), Some(reason), ADMIN),
    ]
}

async fn send(app: &TestApp, route: &Route, token: &str) -> reqwest::Response {
    let mut req = app.client.request(route.method.clone(), app.url(&route.path)).bearer_auth(token);
    req = req.header("idempotency-key", uuid::Uuid::new_v4().to_string());
    if let Some(body) = &route.body {
        req = req.json(body);
    }
    req.send().await.expect("request sent")
}

/// The served document's admin operations, as "METHOD /path/{param}" with any param name.
async fn documented_admin_operations(app: &TestApp) -> BTreeSet<String> {
    let doc: Value = app.get("/openapi.json").await.json().await.unwrap();
    let mut found = BTreeSet::new();
    for (path, item) in doc["paths"].as_object().unwrap() {
        if !path.starts_with("/v1/admin/") {
            continue;
        }
        for (method, op) in item.as_object().unwrap() {
            found.insert(format!("{} {}", method.to_uppercase(), shape(path)));
            let roles: Vec<&str> =
                op["x-staff-roles"].as_array().unwrap().iter().map(|r| r.as_str().unwrap()).collect();
            assert!(!roles.is_empty() && roles.contains(&"admin"), "{path}: {roles:?}");
        }
    }
    found
}

/// A path with every id (and `{param}`) as `{}`.
fn shape(path: &str) -> String {
    let parts: Vec<&str> = path
        .split('/')
        .map(|p| if p.starts_with('{') || uuid::Uuid::parse_str(p).is_ok() { "{}" } else { p })
        .collect();
    parts.join("/")
}

async fn every_admin_route_refuses_exactly_the_roles_without_its_action(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let admin = app.admin_token("root_admin").await;
    let mut tokens = vec![("admin", admin.clone())];
    for role in ["support", "operations", "credit"] {
        tokens.push((role, staff(&app, &admin, &format!("{role}_1"), role).await.1));
    }
    let customer_token = app.user_token("cust_1").await;
    tokens.push(("user", customer_token.clone()));
    let customer = id_of(&app, &customer_token).await;
    let (colleague, _) = staff(&app, &admin, "colleague", "support").await;

    let table = routes(&customer, &colleague);
    let tested: BTreeSet<String> = table.iter().map(|r| format!("{} {}", r.method, shape(&r.path))).collect();
    assert_eq!(documented_admin_operations(&app).await, tested, "every documented admin route is in this test");
    for route in &table {
        for (role, token) in &tokens {
            let res = send(&app, route, token).await;
            let (status, label) = (res.status(), format!("{role}: {} {}", route.method, route.path));
            if route.roles.contains(role) {
                assert_ne!(status, StatusCode::FORBIDDEN, "{label}: {}", res.text().await.unwrap());
                assert!(status.as_u16() < 500, "{label}: {status}");
            } else {
                let body = assert_problem(res, 403, "forbidden").await;
                assert!(STAFF.contains(role) || body["detail"] == "this route is for staff", "{label}: {body}");
            }
        }
    }
    // Each refusal of a staff member's role is in the audit log with the path it asked for
    // (the last route's three refusals are the newest entries).
    let audit: Value = app.get_as("/v1/admin/audit-log?limit=10", &admin).await.json().await.unwrap();
    let deactivate = format!("/v1/admin/staff/{colleague}/deactivate");
    let refused = audit["items"].as_array().unwrap().iter().filter(|e| {
        e["action"] == "admin.refused"
            && e["details"]["path"] == deactivate.as_str()
            && e["details"]["code"] == "forbidden"
    });
    assert_eq!(refused.count(), 3, "support, operations and credit: {audit}");
    app.assert_ledger_clean(&admin).await;
}

async fn a_request_is_decided_only_by_a_role_that_may_do_it(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let admin = app.admin_token("root_admin").await;
    let (_, ops) = staff(&app, &admin, "ops_1", "operations").await;
    let (_, credit) = staff(&app, &admin, "credit_1", "credit").await;
    let (_, support) = staff(&app, &admin, "support_1", "support").await;
    let customer = id_of(&app, &app.user_token("cust_1").await).await;
    // The credit officer proposes an override: it waits for a second pair of eyes.
    let body = json!({"line": "general", "limit": "500.00", "reason": "trusted", "override": true});
    let res = app.post_money(&format!("/v1/admin/users/{customer}/credit-line"), &credit, &body).await;
    assert_eq!(res.status(), StatusCode::ACCEPTED);
    let id = res.json::<Value>().await.unwrap()["request_id"].as_str().unwrap().to_owned();
    let approve = format!("/v1/admin/credit-requests/{id}/approve");
    let reason = json!({"reason": "looks right"});
    // Operations may decide refunds, not credit lines; support decides nothing; the maker never.
    for token in [&ops, &support, &credit] {
        assert_problem(app.post_as_admin(&approve, token, &reason).await, 403, "forbidden").await;
    }
    let pending: Value = app.get_as("/v1/admin/credit-requests?state=pending", &admin).await.json().await.unwrap();
    assert_eq!(pending["items"].as_array().unwrap().len(), 1, "still pending after every refusal");
    let res = app.post_as_admin(&approve, &admin, &reason).await;
    assert_eq!(res.status(), StatusCode::OK);
    let detail: Value = app.get_as(&format!("/v1/admin/users/{customer}"), &support).await.json().await.unwrap();
    assert_eq!(detail["account"]["credit"]["line"], "general", "support reads what was decided");
    // The refused attempts are in the audit log under the request.
    let audit: Value = app.get_as("/v1/admin/audit-log?limit=100", &admin).await.json().await.unwrap();
    let refused = audit["items"].as_array().unwrap().iter().filter(|e| {
        e["action"] == "credit_request.approve"
            && e["details"]["outcome"] == "refused"
            && e["target_id"] == customer.as_str()
    });
    assert_eq!(refused.count(), 2, "operations by the request's kind, and the maker (support: by the route)");
    app.assert_ledger_clean(&admin).await;
}

async fn admins_manage_staff_and_changes_end_sessions(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let admin = app.admin_token("root_admin").await;
    let admin_id = id_of(&app, &admin).await;
    let (ops_id, ops) = staff(&app, &admin, "ops_1", "operations").await;
    // Wrong input changes nothing.
    let bad = [
        json!({"username": "x1", "password": PASSWORD, "role": "support", "reason": "r"}),
        json!({"username": "new_one", "password": PASSWORD, "role": "user", "reason": "r"}),
        json!({"username": "new_one", "password": PASSWORD, "role": "root", "reason": "r"}),
        json!({"username": "new_one", "password": "short", "role": "support", "reason": "r"}),
        json!({"username": "new_one", "password": PASSWORD, "role": "support", "reason": ""}),
        json!({"username": "new_one", "password": PASSWORD, "role": "support", "reason": "r", "extra": 1}),
    ];
    for body in bad {
        assert_problem(app.post_as_admin("/v1/admin/staff", &admin, &body).await, 422, "validation_error").await;
    }
    let taken = json!({"username": "ops_1", "password": PASSWORD, "role": "support", "reason": "again"});
    assert_problem(app.post_as_admin("/v1/admin/staff", &admin, &taken).await, 409, "username_taken").await;
    let listed: Value = app.get_as("/v1/admin/staff", &ops).await.json().await.unwrap();
    let names: Vec<&str> =
        listed["items"].as_array().unwrap().iter().map(|u| u["username"].as_str().unwrap()).collect();
    assert_eq!(names, ["ops_1", "root_admin"], "staff only, newest first");

    // Nobody changes their own role; a customer is no staff member; a staff role is required.
    let to_support = json!({"role": "support", "reason": "moves team"});
    let own = app.post_as_admin(&format!("/v1/admin/staff/{admin_id}/role"), &admin, &to_support).await;
    assert_problem(own, 403, "forbidden").await;
    let customer = id_of(&app, &app.user_token("cust_1").await).await;
    let res = app.post_as_admin(&format!("/v1/admin/staff/{customer}/role"), &admin, &to_support).await;
    assert_problem(res, 404, "not_found").await;
    let res = app
        .post_as_admin(&format!("/v1/admin/staff/{ops_id}/role"), &admin, &json!({"role": "user", "reason": "r"}))
        .await;
    assert_problem(res, 422, "validation_error").await;

    // A role change takes effect at once and ends the member's sessions.
    let res = app.post_as_admin(&format!("/v1/admin/staff/{ops_id}/role"), &admin, &to_support).await;
    assert_eq!(res.status(), StatusCode::OK);
    assert_eq!(res.json::<Value>().await.unwrap()["role"], "support");
    assert_problem(app.get_as("/v1/admin/users", &ops).await, 401, "unauthorized").await;
    let ops = app.login("ops_1").await["access_token"].as_str().unwrap().to_owned();
    let freeze = app.post_as_admin(&format!("/v1/admin/users/{customer}/freeze"), &ops, &json!({"reason": "r"})).await;
    assert_problem(freeze, 403, "forbidden").await;

    // Deactivated: a customer again, with no staff powers, and the audit log says who and why.
    let res =
        app.post_as_admin(&format!("/v1/admin/staff/{ops_id}/deactivate"), &admin, &json!({"reason": "left"})).await;
    assert_eq!(res.json::<Value>().await.unwrap()["role"], "user");
    let again = app.login("ops_1").await["access_token"].as_str().unwrap().to_owned();
    let res = app.get_as("/v1/admin/users", &again).await;
    assert_eq!(assert_problem(res, 403, "forbidden").await["detail"], "this route is for staff");
    let audit: Value =
        app.get_as(&format!("/v1/admin/audit-log?target_id={ops_id}"), &admin).await.json().await.unwrap();
    let actions: Vec<&str> = audit["items"].as_array().unwrap().iter().map(|e| e["action"].as_str().unwrap()).collect();
    assert_eq!(actions, ["staff.deactivate", "staff.role", "staff.create"]);
    assert_eq!(audit["items"][1]["details"]["before"]["role"], "operations");
    assert_eq!(audit["items"][1]["reason"], "moves team");
    app.assert_ledger_clean(&admin).await;
}
