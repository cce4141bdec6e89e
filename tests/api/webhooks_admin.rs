//! Webhook endpoints managed by admins: validated, private and special-purpose targets
//! refused, listed as a page like every other list, removed, audited.

use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::helpers::{Backend, TestApp, assert_problem};
use crate::on_both_backends;

on_both_backends!(
    webhooks_are_validated_and_private_targets_refused,
    discard_only_and_6to4_relay_targets_are_refused,
    the_webhook_list_is_a_page_without_secrets
);

async fn webhooks_are_validated_and_private_targets_refused(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let admin = app.admin_token("hook_admin").await;
    let ann = app.user_token("ann_hooks").await;
    let create = |body: Value| {
        let (app, admin) = (&app, &admin);
        async move { app.post_as_admin("/v1/admin/webhooks", admin, &body).await }
    };
    // The default refuses every private, loopback, link-local or reserved target.
    for url in [
        "http://127.0.0.1:9/hook",
        "http://localhost/hook",
        "http://10.0.0.8/",
        "http://192.168.0.1/",
        "http://169.254.169.254/latest/meta-data/",
        "http://[::1]/",
        "http://[::ffff:10.0.0.1]/",
        "http://0177.0.0.1/",
    ] {
        let body =
            assert_problem(create(json!({"url": url, "events": ["movement.created"]})).await, 422, "validation_error")
                .await;
        assert!(body["detail"].as_str().unwrap().contains("private"), "{url}: {body}");
    }
    for (body, why) in [
        (json!({"url": "ftp://example.com/", "events": ["movement.created"]}), "scheme"),
        (json!({"url": "http://u:p@203.0.113.9/", "events": ["movement.created"]}), "credentials"),
        (json!({"url": "https://hooks.example.invalid/", "events": ["movement.created"]}), "no such name"),
        (json!({"url": "http://8.8.8.8/", "events": []}), "no events"),
        (json!({"url": "http://8.8.8.8/", "events": ["money.moved"]}), "unknown type"),
        (json!({"url": "http://8.8.8.8/", "events": ["user.frozen", "user.frozen"]}), "repeated"),
        (json!({"url": "http://8.8.8.8/", "events": ["user.frozen"], "secret": "mine"}), "unknown field"),
        (json!({"url": 5, "events": ["user.frozen"]}), "not a string"),
    ] {
        let res = create(body).await;
        assert_eq!(res.status(), StatusCode::UNPROCESSABLE_ENTITY, "{why}");
    }
    // A public address is accepted (nothing is sent until an event it wants happens).
    let res = create(json!({"url": "http://8.8.8.8/vaultline", "events": ["user.frozen"]})).await;
    assert_eq!(res.status(), StatusCode::CREATED);
    let hook: Value = res.json().await.unwrap();
    assert!(hook["secret"].as_str().unwrap().starts_with("whsec_") && hook["secret"].as_str().unwrap().len() == 70);
    assert_eq!((hook["state"].as_str(), hook["events"].clone()), (Some("active"), json!(["user.frozen"])));
    let listed: Value = app.get_as("/v1/admin/webhooks", &admin).await.json().await.unwrap();
    assert_eq!(listed["items"].as_array().unwrap().len(), 1);
    assert!(listed["items"][0].get("secret").is_none(), "the secret is shown once");
    assert_problem(app.get_as("/v1/admin/webhooks", &ann).await, 403, "forbidden").await;
    let id = hook["id"].as_str().unwrap();
    let res = app.client.delete(app.url(&format!("/v1/admin/webhooks/{id}"))).bearer_auth(&admin).send().await.unwrap();
    assert_eq!(res.status(), StatusCode::NO_CONTENT);
    let res = app.client.delete(app.url(&format!("/v1/admin/webhooks/{id}"))).bearer_auth(&admin).send().await.unwrap();
    assert_problem(res, 404, "not_found").await;
    let audit: Value = app.get_as("/v1/admin/audit-log", &admin).await.json().await.unwrap();
    let actions: Vec<&str> = audit["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["action"].as_str().unwrap())
        .filter(|a| a.starts_with("webhook."))
        .collect();
    assert_eq!(actions, ["webhook.delete", "webhook.create"]);
}

/// Issue 27, finding 8: both were accepted. A literal and its IPv4-mapped or NAT64 form are
/// each refused with the block's name, as 422 problems.
async fn discard_only_and_6to4_relay_targets_are_refused(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let admin = app.admin_token("range_admin").await;
    for (url, block) in [
        ("http://[100::1]/hook", "discard-only"),
        ("https://[100::ffff:ffff:ffff:ffff]:8443/", "discard-only"),
        ("http://192.88.99.1/hook", "6to4 relay"),
        ("http://192.88.99.254/", "6to4 relay"),
        ("http://[::ffff:192.88.99.1]/", "6to4 relay"),
        ("http://[64:ff9b::c058:6301]/", "6to4 relay"),
    ] {
        let res =
            app.post_as_admin("/v1/admin/webhooks", &admin, &json!({"url": url, "events": ["user.frozen"]})).await;
        let body = assert_problem(res, 422, "validation_error").await;
        let detail = body["detail"].as_str().unwrap();
        assert!(detail.contains("private") && detail.contains(block), "{url}: {body}");
    }
    // Nothing was registered.
    let listed: Value = app.get_as("/v1/admin/webhooks", &admin).await.json().await.unwrap();
    assert_eq!(listed, json!({"items": [], "next_cursor": null}));
    app.assert_ledger_clean(&admin).await;
}

/// `{"items", "next_cursor"}`, newest first, paged by the cursor to the end; no secret.
async fn the_webhook_list_is_a_page_without_secrets(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let admin = app.admin_token("list_admin").await;
    let mut created = Vec::new();
    for n in 0..5 {
        let body = json!({"url": format!("http://8.8.8.{n}/hook"), "events": ["user.frozen"]});
        let res = app.post_as_admin("/v1/admin/webhooks", &admin, &body).await;
        assert_eq!(res.status(), StatusCode::CREATED);
        created.push(res.json::<Value>().await.unwrap()["id"].as_str().unwrap().to_owned());
    }
    let mut seen = Vec::new();
    let mut path = "/v1/admin/webhooks?limit=2".to_owned();
    let mut pages = 0;
    loop {
        let res = app.get_as(&path, &admin).await;
        assert_eq!(res.status(), StatusCode::OK);
        let page: Value = res.json().await.unwrap();
        let items = page["items"].as_array().unwrap();
        assert!(items.len() <= 2, "{page}");
        for hook in items {
            assert!(hook.get("secret").is_none(), "{hook}");
            assert_eq!((hook["state"].as_str(), hook["events"].clone()), (Some("active"), json!(["user.frozen"])));
            seen.push(hook["id"].as_str().unwrap().to_owned());
        }
        pages += 1;
        match page["next_cursor"].as_str() {
            Some(cursor) => path = format!("/v1/admin/webhooks?limit=2&cursor={cursor}"),
            None => break,
        }
    }
    created.reverse();
    assert_eq!((seen, pages), (created, 3), "newest first, every endpoint once");
    for bad in ["?limit=0", "?limit=101", "?cursor=nope", "?cursor=v1.00"] {
        assert_problem(app.get_as(&format!("/v1/admin/webhooks{bad}"), &admin).await, 400, "validation_error").await;
    }
    app.assert_ledger_clean(&admin).await;
}
