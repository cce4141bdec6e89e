//! Every malformed request gets problem+json with the contract's code, and changes nothing.

use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::helpers::{Backend, PASSWORD, TestApp, assert_problem};
use crate::on_both_backends;

on_both_backends!(
    unknown_route_is_404,
    http_method_semantics,
    malformed_json_is_400,
    wrong_content_type_is_415,
    huge_body_is_413,
    unknown_field_and_wrong_types_are_422,
    internal_errors_are_opaque_500,
    every_list_refuses_bad_paging
);

async fn unknown_route_is_404(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let body = assert_problem(app.get("/v1/nowhere").await, 404, "not_found").await;
    assert_eq!(body["detail"], "no route for GET /v1/nowhere");
}

/// A known path with a method it does not serve: 405 with `Allow`; OPTIONS lists the methods;
/// HEAD is served wherever GET is, with GET's headers and no body.
async fn http_method_semantics(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let res = app.get("/v1/auth/register").await;
    assert_eq!(res.headers()["allow"], "POST, OPTIONS");
    assert_problem(res, 405, "method_not_allowed").await;
    let res = app.client.delete(app.url("/healthz")).send().await.unwrap();
    assert_eq!(res.headers()["allow"], "GET, HEAD, OPTIONS");
    let body = assert_problem(res, 405, "method_not_allowed").await;
    assert_eq!(body["detail"], "DELETE is not allowed here; allowed: GET, HEAD, OPTIONS");
    // Path parameters match any id; the admin scope checks the caller first.
    let res = app.client.put(app.url("/v1/credit/purchases/some-id")).send().await.unwrap();
    assert_eq!(res.headers()["allow"], "GET, HEAD, OPTIONS");
    assert_problem(res, 405, "method_not_allowed").await;
    assert_problem(app.client.delete(app.url("/v1/admin/users")).send().await.unwrap(), 401, "unauthorized").await;
    let admin = app.admin_token("root_admin").await;
    let res = app.client.delete(app.url("/v1/admin/users")).bearer_auth(&admin).send().await.unwrap();
    assert_eq!(res.headers()["allow"], "GET, HEAD, OPTIONS");
    assert_problem(res, 405, "method_not_allowed").await;

    let res = app.client.request(reqwest::Method::OPTIONS, app.url("/v1/credit/purchases")).send().await.unwrap();
    assert_eq!(res.status(), StatusCode::NO_CONTENT);
    assert_eq!(res.headers()["allow"], "GET, HEAD, POST, OPTIONS");
    let res = app.client.request(reqwest::Method::OPTIONS, app.url("/v1/nowhere")).send().await.unwrap();
    assert_problem(res, 404, "not_found").await;

    let get = app.get("/healthz").await;
    let head = app.client.head(app.url("/healthz")).send().await.unwrap();
    assert_eq!(head.status(), StatusCode::OK);
    assert_eq!(head.headers()["content-type"], get.headers()["content-type"]);
    assert!(head.headers().contains_key("x-request-id"));
    assert_eq!(head.bytes().await.unwrap().len(), 0, "HEAD answers carry no body");
    let res = app.client.head(app.url("/v1/auth/register")).send().await.unwrap();
    assert_eq!(res.status(), StatusCode::METHOD_NOT_ALLOWED);
    assert_eq!(res.headers()["allow"], "POST, OPTIONS");
    let res = app.client.head(app.url("/v1/me")).send().await.unwrap();
    assert_eq!(res.status(), StatusCode::UNAUTHORIZED, "HEAD is checked like GET");
}

async fn malformed_json_is_400(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    for raw in ["{", "{\"username\": }", "not json", "", "[1,2", "{\"username\":\"ann_lee\",}"] {
        let res = app
            .client
            .post(app.url("/v1/auth/register"))
            .header("content-type", "application/json")
            .body(raw)
            .send()
            .await
            .unwrap();
        assert_problem(res, 400, "validation_error").await;
    }
}

async fn wrong_content_type_is_415(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let body = json!({"username": "ann_lee", "password": PASSWORD}).to_string();
    for content_type in [Some("text/plain"), Some("application/x-www-form-urlencoded"), None] {
        let mut req = app.client.post(app.url("/v1/auth/register")).body(body.clone());
        if let Some(ct) = content_type {
            req = req.header("content-type", ct);
        }
        assert_problem(req.send().await.unwrap(), 415, "unsupported_media_type").await;
    }
    // Nothing was created: the name is still free.
    app.register("ann_lee").await;
}

async fn huge_body_is_413(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let padding = "x".repeat(70 * 1024);
    let res = app
        .post_json("/v1/auth/register", &json!({"username": "big_body", "password": PASSWORD, "display_name": padding}))
        .await;
    assert_problem(res, 413, "payload_too_large").await;
    // Without a length up front (chunked) the limit holds as well.
    let chunks: Vec<Result<String, std::io::Error>> =
        vec![Ok("{\"username\":\"big_body\",\"display_name\":\"".into()), Ok("y".repeat(80 * 1024)), Ok("\"}".into())];
    let res = app
        .client
        .post(app.url("/v1/auth/register"))
        .header("content-type", "application/json")
        .body(reqwest::Body::wrap_stream(futures_stream(chunks)))
        .send()
        .await
        .unwrap();
    assert_problem(res, 413, "payload_too_large").await;
    app.register("big_body").await;
}

fn futures_stream(
    items: Vec<Result<String, std::io::Error>>,
) -> impl futures_util::Stream<Item = Result<String, std::io::Error>> {
    futures_util::stream::iter(items)
}

async fn unknown_field_and_wrong_types_are_422(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let cases = [
        json!({"username": "ann_lee", "password": PASSWORD, "role": "admin"}),
        json!({"username": "ann_lee", "password": PASSWORD, "id": "00000000-0000-0000-0000-000000000000"}),
        json!({"username": 12345, "password": PASSWORD}),
        json!({"username": "ann_lee"}),
        json!({"username": "ann_lee", "password": PASSWORD, "display_name": 7}),
        json!(["ann_lee", PASSWORD]),
    ];
    for body in cases {
        let problem = assert_problem(app.post_json("/v1/auth/register", &body).await, 422, "validation_error").await;
        assert!(!problem["detail"].as_str().unwrap().is_empty());
    }
    let problem = assert_problem(
        app.post_json("/v1/auth/register", &json!({"username": "ann_lee", "password": PASSWORD, "role": "admin"}))
            .await,
        422,
        "validation_error",
    )
    .await;
    assert!(problem["detail"].as_str().unwrap().contains("role"), "{problem}");
    let user = app.register("ann_lee").await;
    assert_eq!(user["role"], "user", "the refused role field changed nothing");
}

async fn internal_errors_are_opaque_500(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    // Break the database under the running app.
    app.execute_sql("ALTER TABLE users RENAME TO users_gone");
    let res = app.post_json("/v1/auth/register", &json!({"username": "ann_lee", "password": PASSWORD})).await;
    let request_id = res.headers()["x-request-id"].to_str().unwrap().to_owned();
    let body: Value = assert_problem(res, 500, "internal").await;
    let detail = body["detail"].as_str().unwrap();
    assert!(detail.contains("x-request-id"), "{detail}");
    for leak in ["users", "relation", "table", "SQL", "diesel"] {
        assert!(!detail.contains(leak), "{detail} leaks {leak}");
    }
    assert!(!request_id.is_empty());
    assert_eq!(app.get("/healthz").await.status(), StatusCode::OK);
}

async fn every_list_refuses_bad_paging(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let admin = app.admin_token("root_admin").await;
    let lists = [
        "/v1/transactions",
        "/v1/merchants",
        "/v1/credit/purchases",
        "/v1/credit/limit-history",
        "/v1/admin/users",
        "/v1/admin/audit-log",
    ];
    for list in lists {
        let res = app.get_as(list, &admin).await;
        assert_eq!(res.status(), StatusCode::OK, "{list}");
        let page: Value = res.json().await.unwrap();
        assert!(page["items"].is_array() && page.get("next_cursor").is_some(), "{list}: {page}");
        for bad in ["limit=0", "limit=101", "limit=-1", "limit=ten", "cursor=nope", "cursor=%25%25"] {
            let sep = if list.contains('?') { '&' } else { '?' };
            let res = app.get_as(&format!("{list}{sep}{bad}"), &admin).await;
            assert_problem(res, 400, "validation_error").await;
        }
    }
}
