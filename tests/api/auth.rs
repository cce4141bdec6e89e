//! Identity: registration, login, tokens, refresh rotation, throttling, roles.

use std::time::Duration;

use jsonwebtoken::{Algorithm, EncodingKey, Header};
use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::helpers::{Backend, PASSWORD, TEST_JWT_SECRET, TestApp, assert_problem};
use crate::on_both_backends;

on_both_backends!(
    register_creates_a_user_without_secrets,
    register_refuses_duplicates_even_when_racing,
    register_refuses_each_invalid_field,
    login_answers_unknown_user_and_wrong_password_identically,
    forged_and_expired_tokens_are_401,
    refresh_rotates_and_reuse_revokes_the_family,
    logout_revokes_the_family,
    throttling_answers_429_then_recovers,
    throttling_counts_per_address_and_success_resets_the_username,
    admin_routes_need_an_admin_confirmed_by_the_database,
    admin_user_search_pages_through_everyone
);

async fn register_creates_a_user_without_secrets(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let res = app
        .post_json(
            "/v1/auth/register",
            &json!({"username": "ann_lee", "password": PASSWORD, "display_name": "Ann Lee"}),
        )
        .await;
    assert_eq!(res.status(), StatusCode::CREATED);
    let text = res.text().await.unwrap();
    assert!(!text.contains("argon2") && !text.contains("password"), "{text}");
    let user = &serde_json::from_str::<Value>(&text).unwrap()["user"];
    assert_eq!(user["username"], "ann_lee");
    assert_eq!(user["display_name"], "Ann Lee");
    assert_eq!(user["role"], "user");
    assert_eq!(user["status"], "active");
    assert!(uuid::Uuid::parse_str(user["id"].as_str().unwrap()).is_ok());
    let created = user["created_at"].as_str().unwrap();
    assert!(chrono::DateTime::parse_from_rfc3339(created).is_ok() && created.ends_with('Z'), "{created}");

    let plain = app.register("bob_99").await;
    assert_eq!(plain["display_name"], "bob_99", "display name defaults to the username");

    let token = app.login("ann_lee").await["access_token"].as_str().unwrap().to_owned();
    let me: Value = app.get_as("/v1/me", &token).await.json().await.unwrap();
    assert_eq!(&me, user, "GET /v1/me returns the same User");
}

async fn register_refuses_duplicates_even_when_racing(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    app.register("taken").await;
    assert_problem(
        app.post_json("/v1/auth/register", &json!({"username": "taken", "password": PASSWORD})).await,
        409,
        "username_taken",
    )
    .await;

    let body = json!({"username": "contested", "password": PASSWORD});
    let attempts = (0..10).map(|_| app.post_json("/v1/auth/register", &body));
    let statuses: Vec<u16> =
        futures_util::future::join_all(attempts).await.iter().map(|r| r.status().as_u16()).collect();
    assert_eq!(statuses.iter().filter(|s| **s == 201).count(), 1, "{statuses:?}");
    assert_eq!(statuses.iter().filter(|s| **s == 409).count(), 9, "{statuses:?}");
}

async fn register_refuses_each_invalid_field(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let cases = [
        json!({"username": "ab", "password": PASSWORD}),
        json!({"username": "a".repeat(33), "password": PASSWORD}),
        json!({"username": "Ann", "password": PASSWORD}),
        json!({"username": "ann lee", "password": PASSWORD}),
        json!({"username": "ann-lee", "password": PASSWORD}),
        json!({"username": "", "password": PASSWORD}),
        json!({"username": "ann_lee", "password": "short"}),
        json!({"username": "ann_lee", "password": "x".repeat(129)}),
        json!({"username": "ann_lee", "password": PASSWORD, "display_name": "   "}),
        json!({"username": "ann_lee", "password": PASSWORD, "display_name": "x".repeat(65)}),
        json!({"username": "ann_lee", "password": PASSWORD, "status": "active"}),
    ];
    for body in &cases {
        assert_problem(app.post_json("/v1/auth/register", body).await, 422, "validation_error").await;
    }
    // None of them stored anything.
    app.register("ann_lee").await;
    // Boundaries are accepted.
    app.post_json(
        "/v1/auth/register",
        &json!({"username": "abc", "password": "x".repeat(10), "display_name": "y".repeat(64)}),
    )
    .await
    .error_for_status()
    .unwrap();
    app.post_json("/v1/auth/register", &json!({"username": "z".repeat(32), "password": "x".repeat(128)}))
        .await
        .error_for_status()
        .unwrap();
}

async fn login_answers_unknown_user_and_wrong_password_identically(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    app.register("ann_lee").await;
    let tokens = app.login("ann_lee").await;
    assert_eq!(tokens["token_type"], "Bearer");
    assert_eq!(tokens["expires_in"], 900);
    assert_eq!(tokens["access_token"].as_str().unwrap().split('.').count(), 3);
    assert_eq!(tokens["refresh_token"].as_str().unwrap().len(), 43);

    let wrong = app.post_json("/v1/auth/login", &json!({"username": "ann_lee", "password": "not the password"})).await;
    let unknown = app.post_json("/v1/auth/login", &json!({"username": "nobody_here", "password": PASSWORD})).await;
    let invalid_name = app.post_json("/v1/auth/login", &json!({"username": "NOT VALID", "password": PASSWORD})).await;
    let a = assert_problem(wrong, 401, "invalid_credentials").await;
    let b = assert_problem(unknown, 401, "invalid_credentials").await;
    let c = assert_problem(invalid_name, 401, "invalid_credentials").await;
    assert_eq!(a, b);
    assert_eq!(a, c);
    assert_problem(app.post_json("/v1/auth/login", &json!({"username": "ann_lee"})).await, 422, "validation_error")
        .await;
}

fn sign(claims: &Value, algorithm: Algorithm, secret: &str) -> String {
    jsonwebtoken::encode(&Header::new(algorithm), claims, &EncodingKey::from_secret(secret.as_bytes())).unwrap()
}

async fn forged_and_expired_tokens_are_401(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let user = app.register("ann_lee").await;
    let good = app.login("ann_lee").await["access_token"].as_str().unwrap().to_owned();
    assert_eq!(app.get_as("/v1/me", &good).await.status(), StatusCode::OK);

    let now = chrono::Utc::now().timestamp();
    let claims = |over: Value| {
        let mut c = json!({"sub": user["id"], "role": "user", "iat": now, "exp": now + 600, "jti": "j1",
            "iss": "vaultline", "aud": "vaultline-app"});
        for (k, v) in over.as_object().unwrap() {
            if v.is_null() {
                c.as_object_mut().unwrap().remove(k);
            } else {
                c[k] = v.clone();
            }
        }
        c
    };
    // The baseline forged with the right secret is accepted, so each case below fails for its own reason.
    assert_eq!(app.get_as("/v1/me", &sign(&claims(json!({})), Algorithm::HS256, TEST_JWT_SECRET)).await.status(), 200);

    let b64 = |v: &Value| {
        use base64::Engine;
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(v.to_string())
    };
    let alg_none = format!("{}.{}.", b64(&json!({"alg": "none", "typ": "JWT"})), b64(&claims(json!({}))));
    let mut parts: Vec<String> = good.split('.').map(str::to_owned).collect();
    parts[1] = b64(&claims(json!({"role": "admin"})));
    let tampered = parts.join(".");

    let forged = [
        ("alg none", alg_none),
        ("another algorithm", sign(&claims(json!({})), Algorithm::HS512, TEST_JWT_SECRET)),
        ("bad signature", sign(&claims(json!({})), Algorithm::HS256, "another-secret-another-secret-0000")),
        ("tampered claims", tampered),
        ("expired", sign(&claims(json!({"iat": now - 1000, "exp": now - 30})), Algorithm::HS256, TEST_JWT_SECRET)),
        ("other audience", sign(&claims(json!({"aud": "someone-else"})), Algorithm::HS256, TEST_JWT_SECRET)),
        ("other issuer", sign(&claims(json!({"iss": "evil"})), Algorithm::HS256, TEST_JWT_SECRET)),
        ("no exp", sign(&claims(json!({"exp": null})), Algorithm::HS256, TEST_JWT_SECRET)),
        ("no iat", sign(&claims(json!({"iat": null})), Algorithm::HS256, TEST_JWT_SECRET)),
        ("no jti", sign(&claims(json!({"jti": null})), Algorithm::HS256, TEST_JWT_SECRET)),
        ("garbage", "abc.def.ghi".to_owned()),
    ];
    for (case, token) in forged {
        let res = app.get_as("/v1/me", &token).await;
        assert_eq!(res.headers().get("www-authenticate").map(|v| v.to_str().unwrap()), Some("Bearer"), "{case}");
        assert_problem(res, 401, "unauthorized").await;
    }
    for header in [None, Some("Bearer "), Some("Basic YWxhZGRpbjpvcGVuc2VzYW1l"), Some(good.as_str())] {
        let mut req = app.client.get(app.url("/v1/me"));
        if let Some(h) = header {
            req = req.header("authorization", h);
        }
        assert_problem(req.send().await.unwrap(), 401, "unauthorized").await;
    }
}

async fn refresh(app: &TestApp, token: &Value) -> reqwest::Response {
    app.post_json("/v1/auth/refresh", &json!({"refresh_token": token})).await
}

async fn refresh_rotates_and_reuse_revokes_the_family(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    app.register("ann_lee").await;
    let first = app.login("ann_lee").await;
    let other_device = app.login("ann_lee").await;

    let res = refresh(&app, &first["refresh_token"]).await;
    assert_eq!(res.status(), StatusCode::OK);
    assert_eq!(res.headers()["cache-control"], "no-store");
    let second: Value = res.json().await.unwrap();
    assert_ne!(second["refresh_token"], first["refresh_token"]);
    assert_eq!(app.get_as("/v1/me", second["access_token"].as_str().unwrap()).await.status(), 200);
    let third: Value = refresh(&app, &second["refresh_token"]).await.json().await.unwrap();

    // The first token is spent: presenting it again is theft, the whole family goes.
    assert_problem(refresh(&app, &first["refresh_token"]).await, 401, "unauthorized").await;
    assert_problem(refresh(&app, &third["refresh_token"]).await, 401, "unauthorized").await;
    // Another login is another family and survives.
    assert_eq!(refresh(&app, &other_device["refresh_token"]).await.status(), StatusCode::OK);

    assert_problem(refresh(&app, &json!("not-a-token")).await, 401, "unauthorized").await;
    assert_problem(app.post_json("/v1/auth/refresh", &json!({})).await, 422, "validation_error").await;

    // Expired refresh tokens are refused.
    let fourth = app.login("ann_lee").await;
    app.execute_sql("UPDATE refresh_tokens SET expires_at = created_at WHERE spent_at IS NULL AND revoked_at IS NULL");
    assert_problem(refresh(&app, &fourth["refresh_token"]).await, 401, "unauthorized").await;

    // Two concurrent rotations of one token: at most one wins, and the family is then revoked.
    let fifth = app.login("ann_lee").await;
    let (a, b) = tokio::join!(refresh(&app, &fifth["refresh_token"]), refresh(&app, &fifth["refresh_token"]));
    let statuses = [a.status().as_u16(), b.status().as_u16()];
    assert!(statuses.contains(&401) && statuses.iter().all(|s| *s == 200 || *s == 401), "{statuses:?}");
}

async fn logout_revokes_the_family(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    app.register("ann_lee").await;
    let tokens = app.login("ann_lee").await;
    let rotated: Value = refresh(&app, &tokens["refresh_token"]).await.json().await.unwrap();
    let res = app.post_json("/v1/auth/logout", &json!({"refresh_token": rotated["refresh_token"]})).await;
    assert_eq!(res.status(), StatusCode::NO_CONTENT);
    assert_problem(refresh(&app, &rotated["refresh_token"]).await, 401, "unauthorized").await;
    // Logging out again, or with a token never issued, is harmless.
    let res = app.post_json("/v1/auth/logout", &json!({"refresh_token": rotated["refresh_token"]})).await;
    assert_eq!(res.status(), StatusCode::NO_CONTENT);
    let res = app.post_json("/v1/auth/logout", &json!({"refresh_token": "never-issued"})).await;
    assert_eq!(res.status(), StatusCode::NO_CONTENT);
}

async fn wrong_login(app: &TestApp, username: &str) -> reqwest::Response {
    app.post_json("/v1/auth/login", &json!({"username": username, "password": "wrong password!"})).await
}

async fn throttling_answers_429_then_recovers(backend: Backend) {
    let app = TestApp::spawn_with(backend, &[("auth.login_window_secs", "2")]).await;
    app.register("ann_lee").await;
    for _ in 0..5 {
        assert_problem(wrong_login(&app, "ann_lee").await, 401, "invalid_credentials").await;
    }
    // Even the right password is refused now.
    let res = app.post_json("/v1/auth/login", &json!({"username": "ann_lee", "password": PASSWORD})).await;
    let retry_after: u64 = res.headers()["retry-after"].to_str().unwrap().parse().unwrap();
    assert!((1..=3).contains(&retry_after), "{retry_after}");
    assert_problem(res, 429, "too_many_attempts").await;

    tokio::time::sleep(Duration::from_secs(retry_after)).await;
    let deadline = std::time::Instant::now() + Duration::from_secs(5);
    loop {
        let res = app.post_json("/v1/auth/login", &json!({"username": "ann_lee", "password": PASSWORD})).await;
        if res.status() == StatusCode::OK {
            break;
        }
        assert!(std::time::Instant::now() < deadline, "still throttled after the window");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

async fn throttling_counts_per_address_and_success_resets_the_username(backend: Backend) {
    // Per address: failures against different usernames add up.
    let app = TestApp::spawn(backend.clone()).await;
    for i in 0..5 {
        assert_problem(wrong_login(&app, &format!("nobody_{i}")).await, 401, "invalid_credentials").await;
    }
    assert_problem(wrong_login(&app, "nobody_9").await, 429, "too_many_attempts").await;

    // Per username, with a generous address limit: a success clears the username's count.
    let app = TestApp::spawn_with(backend.clone(), &[("auth.login_max_failures_per_address", "100")]).await;
    app.register("ann_lee").await;
    for _ in 0..4 {
        assert_problem(wrong_login(&app, "ann_lee").await, 401, "invalid_credentials").await;
    }
    app.login("ann_lee").await;
    for _ in 0..5 {
        assert_problem(wrong_login(&app, "ann_lee").await, 401, "invalid_credentials").await;
    }
    assert_problem(wrong_login(&app, "ann_lee").await, 429, "too_many_attempts").await;
    // A parallel burst cannot slip more guesses past the limit than it allows.
    let app = TestApp::spawn(backend.clone()).await;
    app.register("bea_kim").await;
    let burst = (0..12).map(|_| wrong_login(&app, "bea_kim"));
    let statuses: Vec<u16> = futures_util::future::join_all(burst).await.iter().map(|r| r.status().as_u16()).collect();
    assert!(statuses.iter().filter(|s| **s == 401).count() <= 5, "{statuses:?}");
    assert!(statuses.iter().all(|s| *s == 401 || *s == 429), "{statuses:?}");

    // Many people behind one address (carrier NAT) logging in at once are not throttled
    // (a fresh app: the burst above used up this address's failures).
    let app = TestApp::spawn(backend).await;
    for i in 0..8 {
        app.register(&format!("nat_user_{i}")).await;
    }
    let logins: Vec<Value> =
        (0..8).map(|i| json!({"username": format!("nat_user_{i}"), "password": crate::helpers::PASSWORD})).collect();
    let results = futures_util::future::join_all(logins.iter().map(|b| app.post_json("/v1/auth/login", b))).await;
    assert!(
        results.iter().all(|r| r.status() == StatusCode::OK),
        "{:?}",
        results.iter().map(|r| r.status()).collect::<Vec<_>>()
    );
}

async fn admin_routes_need_an_admin_confirmed_by_the_database(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let user = app.user_token("ann_lee").await;
    let admin = app.admin_token("root_admin").await;

    for (method, path) in [
        ("GET", "/v1/admin/users"),
        ("POST", "/v1/admin/users"),
        ("GET", "/v1/admin/no-such-route"),
        ("DELETE", "/v1/admin/users"),
    ] {
        let req = |token: Option<&str>| {
            let mut r = app.client.request(method.parse().unwrap(), app.url(path));
            if let Some(t) = token {
                r = r.bearer_auth(t);
            }
            r.send()
        };
        assert_problem(req(None).await.unwrap(), 401, "unauthorized").await;
        assert_problem(req(Some(&user)).await.unwrap(), 403, "forbidden").await;
    }
    let res = app.get_as("/v1/admin/users", &admin).await;
    assert_eq!(res.status(), StatusCode::OK);
    let page: Value = res.json().await.unwrap();
    let names: Vec<&str> = page["items"].as_array().unwrap().iter().map(|u| u["username"].as_str().unwrap()).collect();
    assert_eq!(names, ["root_admin", "ann_lee"], "newest first");
    assert_problem(app.get_as("/v1/admin/no-such-route", &admin).await, 404, "not_found").await;

    // A token saying "admin" is not enough once the database says otherwise.
    app.execute_sql("UPDATE users SET role = 'user' WHERE username = 'root_admin'");
    assert_problem(app.get_as("/v1/admin/users", &admin).await, 403, "forbidden").await;
}

async fn admin_user_search_pages_through_everyone(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let admin = app.admin_token("root_admin").await;
    for name in ["ann_lee", "ann_kim", "bob_lee", "carl", "annie", "a_n_n"] {
        app.register(name).await;
    }
    let names = |page: &Value| -> Vec<String> {
        page["items"].as_array().unwrap().iter().map(|u| u["username"].as_str().unwrap().to_owned()).collect()
    };
    let page: Value = app.get_as("/v1/admin/users?q=ANN", &admin).await.json().await.unwrap();
    assert_eq!(names(&page), ["annie", "ann_kim", "ann_lee"]);
    // `_` is a literal, not a wildcard.
    let page: Value = app.get_as("/v1/admin/users?q=n_n", &admin).await.json().await.unwrap();
    assert_eq!(names(&page), ["a_n_n"]);

    let mut seen = Vec::new();
    let mut path = "/v1/admin/users?limit=2".to_owned();
    loop {
        let page: Value = app.get_as(&path, &admin).await.json().await.unwrap();
        assert!(page["items"].as_array().unwrap().len() <= 2);
        seen.extend(names(&page));
        match page["next_cursor"].as_str() {
            Some(c) => path = format!("/v1/admin/users?limit=2&cursor={c}"),
            None => break,
        }
    }
    assert_eq!(seen, ["a_n_n", "annie", "carl", "bob_lee", "ann_kim", "ann_lee", "root_admin"]);
    for bad in [
        "/v1/admin/users?limit=0",
        "/v1/admin/users?limit=101",
        "/v1/admin/users?limit=x",
        "/v1/admin/users?cursor=%21%21",
    ] {
        assert_problem(app.get_as(bad, &admin).await, 400, "validation_error").await;
    }
}
