//! Identity: registration, login, tokens, refresh rotation, roles (throttling: `throttle`).

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
    a_retried_refresh_keeps_the_user_logged_in,
    refresh_families_have_an_absolute_lifetime,
    logout_all_and_password_change_end_every_session,
    a_frozen_admin_gets_403,
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
    sign_typed(claims, algorithm, secret, Some("at+jwt"))
}

fn sign_typed(claims: &Value, algorithm: Algorithm, secret: &str, typ: Option<&str>) -> String {
    let mut header = Header::new(algorithm);
    header.typ = typ.map(str::to_owned);
    jsonwebtoken::encode(&header, claims, &EncodingKey::from_secret(secret.as_bytes())).unwrap()
}

async fn forged_and_expired_tokens_are_401(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let user = app.register("ann_lee").await;
    let good = app.login("ann_lee").await["access_token"].as_str().unwrap().to_owned();
    assert_eq!(app.get_as("/v1/me", &good).await.status(), StatusCode::OK);

    let now = chrono::Utc::now().timestamp();
    let claims = |over: Value| {
        let mut c = json!({"sub": user["id"], "role": "user", "iat": now, "exp": now + 600, "jti": "j1",
            "iss": "vaultline", "aud": "vaultline-app", "tv": 0});
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
    let started = sign(&claims(json!({"nbf": now - 5})), Algorithm::HS256, TEST_JWT_SECRET);
    assert_eq!(app.get_as("/v1/me", &started).await.status(), 200, "an nbf that has passed is fine");

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
        (
            "not valid before a minute from now",
            sign(&claims(json!({"nbf": now + 60})), Algorithm::HS256, TEST_JWT_SECRET),
        ),
        ("issued a minute from now", sign(&claims(json!({"iat": now + 60})), Algorithm::HS256, TEST_JWT_SECRET)),
        ("garbage", "abc.def.ghi".to_owned()),
        ("typ JWT, not at+jwt", sign_typed(&claims(json!({})), Algorithm::HS256, TEST_JWT_SECRET, Some("JWT"))),
        ("no typ", sign_typed(&claims(json!({})), Algorithm::HS256, TEST_JWT_SECRET, None)),
        ("longer-lived than issued", sign(&claims(json!({"exp": now + 86_400})), Algorithm::HS256, TEST_JWT_SECRET)),
        ("an older token version", sign(&claims(json!({"tv": -1})), Algorithm::HS256, TEST_JWT_SECRET)),
        ("no token version", sign(&claims(json!({"tv": null})), Algorithm::HS256, TEST_JWT_SECRET)),
        (
            "a subject that does not exist",
            sign(&claims(json!({"sub": uuid::Uuid::now_v7().to_string()})), Algorithm::HS256, TEST_JWT_SECRET),
        ),
        ("crit", {
            let mut header = Header::new(Algorithm::HS256);
            header.typ = Some("at+jwt".into());
            let mut value = serde_json::to_value(&header).unwrap();
            value["crit"] = json!(["exp"]);
            let b64 = |v: &Value| {
                use base64::Engine;
                base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(v.to_string())
            };
            let input = format!("{}.{}", b64(&value), b64(&claims(json!({}))));
            let key = EncodingKey::from_secret(TEST_JWT_SECRET.as_bytes());
            let signature = jsonwebtoken::crypto::sign(input.as_bytes(), &key, Algorithm::HS256).unwrap();
            format!("{input}.{signature}")
        }),
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

pub async fn refresh(app: &TestApp, token: &Value) -> reqwest::Response {
    app.post_json("/v1/auth/refresh", &json!({"refresh_token": token})).await
}

async fn refresh_rotates_and_reuse_revokes_the_family(backend: Backend) {
    // No retry grace here: a spent token presented again is a reuse at once.
    let app = TestApp::spawn_with(backend, &[("auth.refresh_retry_grace_secs", "0")]).await;
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

    // A reuse also ends the user's access tokens at once.
    let sixth = app.login("ann_lee").await;
    let access = sixth["access_token"].as_str().unwrap().to_owned();
    let rotated: Value = refresh(&app, &sixth["refresh_token"]).await.json().await.unwrap();
    assert_eq!(app.get_as("/v1/me", &access).await.status(), 200);
    assert_problem(refresh(&app, &sixth["refresh_token"]).await, 401, "unauthorized").await;
    assert_problem(app.get_as("/v1/me", &access).await, 401, "unauthorized").await;
    assert_problem(app.get_as("/v1/me", rotated["access_token"].as_str().unwrap()).await, 401, "unauthorized").await;
}

/// Two threads of one app refresh the same token at once, or a client retries a refresh whose
/// answer it lost: within the grace window both get the same new refresh token, and the user
/// stays logged in.
async fn a_retried_refresh_keeps_the_user_logged_in(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    app.register("ann_lee").await;
    let tokens = app.login("ann_lee").await;
    let (a, b) = tokio::join!(refresh(&app, &tokens["refresh_token"]), refresh(&app, &tokens["refresh_token"]));
    assert_eq!((a.status(), b.status()), (StatusCode::OK, StatusCode::OK));
    let (a, b): (Value, Value) = (a.json().await.unwrap(), b.json().await.unwrap());
    assert_eq!(a["refresh_token"], b["refresh_token"], "the same successor");
    let again: Value = refresh(&app, &tokens["refresh_token"]).await.json().await.unwrap();
    assert_eq!(again["refresh_token"], a["refresh_token"], "a retry moments later too");
    for t in [&a, &b, &again] {
        assert_eq!(app.get_as("/v1/me", t["access_token"].as_str().unwrap()).await.status(), 200);
    }
    // The successor rotates on as usual.
    assert_eq!(refresh(&app, &a["refresh_token"]).await.status(), StatusCode::OK);
    // Past the grace window, the spent token is a reuse again.
    app.execute_sql("UPDATE refresh_tokens SET spent_at = '2000-01-01 00:00:00' WHERE spent_at IS NOT NULL");
    assert_problem(refresh(&app, &tokens["refresh_token"]).await, 401, "unauthorized").await;
}

/// A family ends at its absolute lifetime however often it is rotated.
async fn refresh_families_have_an_absolute_lifetime(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    app.register("ann_lee").await;
    let tokens = app.login("ann_lee").await;
    let rotated: Value = refresh(&app, &tokens["refresh_token"]).await.json().await.unwrap();
    app.execute_sql("UPDATE refresh_tokens SET family_started_at = '2000-01-01 00:00:00'");
    assert_problem(refresh(&app, &rotated["refresh_token"]).await, 401, "unauthorized").await;
}

/// Log out everywhere and a password change end every session at once, access tokens included.
async fn logout_all_and_password_change_end_every_session(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    app.register("ann_lee").await;
    let phone = app.login("ann_lee").await;
    let laptop = app.login("ann_lee").await;
    let bearer = |t: &Value| t["access_token"].as_str().unwrap().to_owned();
    let res = app.client.post(app.url("/v1/auth/logout-all")).bearer_auth(bearer(&phone)).send().await.unwrap();
    assert_eq!(res.status(), StatusCode::NO_CONTENT);
    for t in [&phone, &laptop] {
        assert_problem(app.get_as("/v1/me", &bearer(t)).await, 401, "unauthorized").await;
        assert_problem(refresh(&app, &t["refresh_token"]).await, 401, "unauthorized").await;
    }

    let phone = app.login("ann_lee").await;
    let laptop = app.login("ann_lee").await;
    let change = |token: String, current: &str, new: &str| {
        let body = json!({"current_password": current, "new_password": new});
        let req = app.client.post(app.url("/v1/me/password")).bearer_auth(token).json(&body);
        async move { req.send().await.unwrap() }
    };
    assert_problem(
        change(bearer(&phone), "not my password", "a brand new passphrase").await,
        401,
        "invalid_credentials",
    )
    .await;
    for weak in ["short", "ann_lee is my name", "Password123", "qwertyuiop"] {
        assert_problem(change(bearer(&phone), PASSWORD, weak).await, 422, "validation_error").await;
    }
    assert_eq!(app.get_as("/v1/me", &bearer(&laptop)).await.status(), 200, "refusals end nothing");
    let res = change(bearer(&phone), PASSWORD, "a brand new passphrase").await;
    assert_eq!(res.status(), StatusCode::NO_CONTENT);
    for t in [&phone, &laptop] {
        assert_problem(app.get_as("/v1/me", &bearer(t)).await, 401, "unauthorized").await;
        assert_problem(refresh(&app, &t["refresh_token"]).await, 401, "unauthorized").await;
    }
    let old = app.post_json("/v1/auth/login", &json!({"username": "ann_lee", "password": PASSWORD})).await;
    assert_problem(old, 401, "invalid_credentials").await;
    let new =
        app.post_json("/v1/auth/login", &json!({"username": "ann_lee", "password": "a brand new passphrase"})).await;
    assert_eq!(new.status(), StatusCode::OK);
}

/// A frozen admin has no admin powers, and its sessions end at once.
async fn a_frozen_admin_gets_403(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let root = app.admin_token("root_admin").await;
    let other = app.admin_token("other_admin").await;
    let other_id = app.get_as("/v1/me", &other).await.json::<Value>().await.unwrap()["id"].as_str().unwrap().to_owned();
    let other_login = app.login("other_admin").await;
    let freeze = format!("/v1/admin/users/{other_id}/freeze");
    let res = app.post_as_admin(&freeze, &root, &json!({"reason": "compromised"})).await;
    assert_eq!(res.status(), StatusCode::ACCEPTED, "freezing an admin waits for a second admin");
    let id = res.json::<Value>().await.unwrap()["request_id"].as_str().unwrap().to_owned();
    let third = app.admin_token("third_admin").await;
    let approve = format!("/v1/admin/credit-requests/{id}/approve");
    assert_eq!(app.post_as_admin(&approve, &third, &json!({"reason": "confirmed"})).await.status(), StatusCode::OK);
    // Its sessions ended: the old access token is refused, and so is its refresh token.
    assert_problem(app.get_as("/v1/admin/users", &other).await, 401, "unauthorized").await;
    assert_problem(refresh(&app, &other_login["refresh_token"]).await, 401, "unauthorized").await;
    // Logging in again gives no admin powers while frozen.
    let fresh = app.login("other_admin").await["access_token"].as_str().unwrap().to_owned();
    let body = assert_problem(app.get_as("/v1/admin/users", &fresh).await, 403, "forbidden").await;
    assert_eq!(body["detail"], "a frozen admin has no admin powers");
    let res = app.post_as_admin("/v1/admin/merchants", &fresh, &json!({"name": "Mine"})).await;
    assert_problem(res, 403, "forbidden").await;
    // The refused attempts are in the audit log, with the frozen admin as the actor.
    let log: Value = app.get_as("/v1/admin/audit-log?limit=10", &root).await.json().await.unwrap();
    let refused: Vec<&Value> =
        log["items"].as_array().unwrap().iter().filter(|e| e["action"] == "admin.refused").collect();
    assert_eq!(refused.len(), 2, "{log}");
    assert_eq!(refused[0]["actor_id"], other_id.as_str());
    assert_eq!(refused[0]["details"]["path"], "/v1/admin/merchants");
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
