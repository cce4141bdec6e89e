//! What staff do in the console, end to end in the browser, and what the API sees after.

use reqwest::StatusCode;
use serde_json::{Value, json};
use vaultline::credentials::totp;

use crate::browser::Browser;
use crate::helpers::{Backend, PASSWORD, TestApp, assert_problem};
use crate::on_both_backends;

on_both_backends!(
    staff_enrol_totp_find_a_customer_and_freeze_them,
    forged_posts_and_roles_without_the_action_are_refused,
    an_idle_session_is_sent_to_sign_in,
    sign_out_everywhere_and_the_absolute_limit_end_sessions,
    the_maker_cannot_approve_and_a_second_admin_does_from_the_inbox,
);

const XSS_NAME: &str = "<img src=x onerror=alert(1)><script>alert(2)</script>Ann";
const XSS_TEXT: &str = "<script>alert(3)</script><img src=y onerror=alert(4)> headphones";

/// A captured purchase from a merchant whose name and description carry markup.
async fn buy(app: &TestApp, admin: &str, token: &str) {
    app.post_money("/v1/vault/lock", token, &json!({"amount": "500.00"})).await;
    let res =
        app.post_as_admin("/v1/admin/merchants", admin, &json!({"name": "<b onmouseover=alert(5)>Shop</b>"})).await;
    let merchant = res.json::<Value>().await.unwrap()["id"].as_str().unwrap().to_owned();
    let body = json!({"merchant_id": merchant, "amount": "120.00", "installments": 3, "description": XSS_TEXT});
    let res = app.post_money("/v1/credit/purchases", token, &body).await;
    assert_eq!(res.status(), StatusCode::CREATED);
    let id = res.json::<Value>().await.unwrap()["id"].as_str().unwrap().to_owned();
    let res = app.post_money(&format!("/v1/credit/purchases/{id}/confirm-receipt"), token, &json!({})).await;
    assert_eq!(res.status(), StatusCode::OK);
}

/// A customer with this display name and some money; returns (id, access token).
async fn customer(app: &TestApp, username: &str, display_name: &str) -> (String, String) {
    let body = json!({"username": username, "password": PASSWORD, "display_name": display_name});
    let res = app.post_json("/v1/auth/register", &body).await;
    assert_eq!(res.status(), StatusCode::CREATED);
    let id = res.json::<Value>().await.unwrap()["user"]["id"].as_str().unwrap().to_owned();
    let token = app.login(username).await["access_token"].as_str().unwrap().to_owned();
    app.deposit(&token, "1250.00").await;
    (id, token)
}

async fn staff(app: &TestApp, admin: &str, username: &str, role: &str) -> String {
    let body = json!({"username": username, "password": PASSWORD, "role": role, "reason": "joins"});
    let res = app.post_as_admin("/v1/admin/staff", admin, &body).await;
    assert_eq!(res.status(), StatusCode::CREATED);
    app.login(username).await["access_token"].as_str().unwrap().to_owned()
}

/// On the enrolment page: reads the key as a person would, types the app's code.
async fn enrol(browser: &Browser) -> Vec<String> {
    browser.expect_path("/console/2fa/enrol", "staff without TOTP enrol first").await;
    let key = browser.text("#totp-secret").await;
    let secret = totp::from_base32(&key).expect("the page shows a Base32 key");
    let code = totp::code_at_step(&secret, totp::step_of(chrono::Utc::now().timestamp()), 6);
    browser.fill("#code", &code).await;
    browser.click("button[type=submit].primary").await;
    let codes = browser.client.find_all(fantoccini::Locator::Css("#recovery-codes li")).await.unwrap();
    let mut texts = Vec::new();
    for code in codes {
        texts.push(code.text().await.unwrap());
    }
    texts
}

async fn staff_enrol_totp_find_a_customer_and_freeze_them(backend: Backend) {
    let app = TestApp::spawn_with(backend.clone(), &[("console.require_totp", "true")]).await;
    let admin = app.admin_token("chief").await;
    let (id, token) = customer(&app, "ann_lee", XSS_NAME).await;
    buy(&app, &admin, &token).await;
    let browser = Browser::start(&app.address).await;

    browser.go("/console").await;
    browser.expect_path("/console/login?why=signed_out", "no session: the sign-in page").await;
    browser.shot(&backend, "login").await;
    browser.sign_in("chief").await;
    browser.shot(&backend, "totp-enrolment").await;
    let codes = enrol(&browser).await;
    assert_eq!(codes.len(), 10, "ten recovery codes, shown once");
    browser.shot(&backend, "recovery-codes").await;
    browser.click("a.button.primary").await;
    browser.expect_path("/console", "on to the console").await;

    browser.fill("#q", "ann").await;
    browser.click("form.search button").await;
    browser.expect_path("/console?q=ann", "the search is a GET").await;
    let link = format!("a[href='/console/customers/{id}']");
    assert_eq!(browser.text(&link).await, XSS_NAME, "the name is shown as text");
    browser.assert_no_dialog().await;
    let injected = browser.run("return document.querySelectorAll('main img, main script').length", vec![]).await;
    assert_eq!(injected, json!(0), "no element came from the display name");
    assert!(browser.text("table.data tbody").await.contains("CNY 500.00"), "money with its currency");
    browser.shot(&backend, "search").await;

    browser.click(&link).await;
    browser.expect_path(&format!("/console/customers/{id}"), "the customer 360").await;
    assert!(browser.text("dl.money").await.contains("CNY 750.00"), "the wallet after the vault lock");
    assert!(browser.text("#purchases").await.contains(XSS_TEXT), "the description, as text");
    assert!(browser.text("#purchases").await.contains("CNY 120.00"));
    assert!(browser.text("#movements").await.contains("CNY 1,250.00"), "the deposit, with thousands separators");
    assert!(browser.text("#limit-history").await.contains("vault lock"));
    browser.assert_no_dialog().await;
    let injected =
        browser.run("return document.querySelectorAll('main img, main script, main b').length", vec![]).await;
    assert_eq!(injected, json!(0), "no element came from user text");
    browser.shot(&backend, "customer").await;
    browser.fill("#reason", "Card reported stolen <b>today</b>").await;
    browser.click("input[name=confirm]").await;
    browser.click("form button.danger").await;
    browser.expect_path(&format!("/console/customers/{id}?done=frozen"), "frozen at once").await;
    assert!(browser.text(".notice.ok").await.contains("frozen"));
    assert!(browser.text("#audit").await.contains("Card reported stolen <b>today</b>"), "the reason, as text");
    browser.shot(&backend, "customer-frozen").await;
    browser.finish().await;

    // The API refuses the customer's money out, and the audit entry is the API's own.
    let res = app.post_money("/v1/wallet/withdrawals", &token, &json!({"amount": "10.00"})).await;
    assert_problem(res, 403, "account_frozen").await;
    let audit: Value = app.get_as(&format!("/v1/admin/audit-log?target_id={id}"), &admin).await.json().await.unwrap();
    assert_eq!(audit["items"][0]["action"], "user.freeze");
    assert_eq!(audit["items"][0]["reason"], "Card reported stolen <b>today</b>");
    app.assert_ledger_clean(&admin).await;
}

/// Submits a form the page never offered (what a forger would send), with the session's
/// CSRF token taken from the sign-out form, or none.
async fn forge(browser: &Browser, action: &str, fields: Value, with_csrf: bool) {
    let script = "const [action, fields, withCsrf] = arguments; const f = document.createElement('form');\
        f.method = 'post'; f.action = action;\
        const all = Object.assign({}, fields);\
        if (withCsrf) { all.csrf = document.querySelector('input[name=csrf]').value; }\
        for (const [k, v] of Object.entries(all)) { const i = document.createElement('input'); i.name = k; i.value = v; f.appendChild(i); }\
        document.body.appendChild(f); f.submit();";
    browser.run(script, vec![json!(action), fields, json!(with_csrf)]).await;
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
}

async fn status_of(app: &TestApp, token: &str) -> String {
    app.get_as("/v1/me", token).await.json::<Value>().await.unwrap()["status"].as_str().unwrap().to_owned()
}

async fn forged_posts_and_roles_without_the_action_are_refused(backend: Backend) {
    let app = TestApp::spawn(backend.clone()).await;
    let admin = app.admin_token("chief").await;
    staff(&app, &admin, "helper", "support").await;
    let (id, token) = customer(&app, "ben_wu", "Ben Wu").await;
    let browser = Browser::start(&app.address).await;
    let freeze = format!("/console/customers/{id}/freeze");
    let fields = json!({"reason": "forged", "confirm": "yes"});

    // An admin's session, but a form without its CSRF token.
    browser.sign_in("chief").await;
    browser.expect_path("/console", "two-factor is not required in this profile").await;
    browser.go(&format!("/console/customers/{id}")).await;
    forge(&browser, &freeze, fields.clone(), false).await;
    assert_eq!(browser.text("h1").await, "403 Forbidden");
    assert_eq!(status_of(&app, &token).await, "active");
    // Wrong input is refused with a clear page and changes nothing.
    browser.go(&format!("/console/customers/{id}")).await;
    let line = format!("/console/customers/{id}/credit-line");
    let bad =
        json!({"key": "console-bad-limit", "line": "general", "limit": "12.345", "reason": "r", "confirm": "yes"});
    forge(&browser, &line, bad, true).await;
    assert_eq!(browser.text("h1").await, "422 Unprocessable Entity");
    assert!(browser.text(".notice.error").await.contains("limit"));
    let unconfirmed = json!({"key": "console-unconfirmed", "line": "secured", "reason": "r"});
    browser.go(&format!("/console/customers/{id}")).await;
    forge(&browser, &line, unconfirmed, true).await;
    assert!(browser.text(".notice.error").await.contains("confirmation"));
    let account: Value = app.get_as("/v1/me/account", &token).await.json().await.unwrap();
    assert_eq!(account["credit"]["line"], "secured");
    browser.click("a[href='/console']").await;
    browser.click("form.inline button").await;
    browser.expect_path("/console/login?why=bye", "signed out").await;

    // Support reads the customer, is offered no freeze, and a forged one is refused.
    browser.sign_in("helper").await;
    browser.go(&format!("/console/customers/{id}")).await;
    assert_eq!(browser.count("form[action$='/freeze']").await, 0);
    assert!(browser.text("main").await.contains("cannot freeze"));
    browser.shot(&backend, "customer-support-role").await;
    forge(&browser, &freeze, fields, true).await;
    assert_eq!(browser.text("h1").await, "403 Forbidden");
    assert!(browser.text(".notice.error").await.contains("support role cannot freeze"));
    browser.shot(&backend, "forbidden").await;
    assert_eq!(status_of(&app, &token).await, "active", "nothing changed");
    browser.finish().await;
    app.assert_ledger_clean(&admin).await;
}

async fn an_idle_session_is_sent_to_sign_in(backend: Backend) {
    let app = TestApp::spawn_with(backend, &[("console.idle_timeout_secs", "2")]).await;
    app.admin_token("chief").await;
    let browser = Browser::start(&app.address).await;
    browser.sign_in("chief").await;
    browser.expect_path("/console", "signed in").await;
    tokio::time::sleep(std::time::Duration::from_millis(3_000)).await;
    browser.go("/console/approvals").await;
    browser.expect_path("/console/login?why=idle", "idle past the timeout").await;
    assert!(browser.text(".notice").await.contains("without activity"));
    browser.go("/console").await;
    browser.expect_path("/console/login?why=signed_out", "the idle session is gone for good").await;
    browser.finish().await;
}

async fn the_maker_cannot_approve_and_a_second_admin_does_from_the_inbox(backend: Backend) {
    let app = TestApp::spawn_with(backend.clone(), &[("console.require_totp", "true")]).await;
    let admin = app.admin_token("chief").await;
    staff(&app, &admin, "officer", "credit").await;
    let (id, token) = customer(&app, "cho_li", "Cho Li").await;
    let browser = Browser::start(&app.address).await;

    // The credit officer proposes an upgrade with a score override from the customer 360.
    browser.sign_in("officer").await;
    enrol(&browser).await;
    browser.go(&format!("/console/customers/{id}")).await;
    browser.fill("#limit", "8000.00").await;
    browser.click("#credit-line input[name=override]").await;
    browser.fill("#line-reason", "long-standing saver").await;
    browser.click("#credit-line input[name=confirm]").await;
    browser.click("#credit-line button.primary").await;
    browser.expect_path(&format!("/console/customers/{id}?done=pending"), "four eyes").await;
    assert!(browser.text(".notice.warn").await.contains("Pending second approval"));
    assert!(browser.text("main").await.contains("Pending credit line request"), "the banner on the record");
    let pending: Value = app.get_as("/v1/admin/credit-requests?state=pending", &admin).await.json().await.unwrap();
    let request = pending["items"][0]["id"].as_str().unwrap().to_owned();
    assert_eq!(pending["items"][0]["limit"], "8000.00");

    // The maker sees the request marked as theirs, no box to tick, and a forged approval fails.
    browser.go("/console/approvals").await;
    assert_eq!(browser.count("input.pick").await, 0);
    assert!(browser.text("tbody").await.contains("yours"));
    let fields = json!({"id": request, "decision": "approve", "reason": "I approve myself"});
    forge(&browser, "/console/approvals/decide", fields, true).await;
    assert_eq!(browser.text("h1").await, "403 Forbidden");
    browser.go("/console/account").await;
    browser.click("form.inline button").await;

    // Another admin approves it from the inbox.
    browser.sign_in("chief").await;
    enrol(&browser).await;
    browser.go("/console/approvals").await;
    assert!(browser.text("tbody").await.contains("CNY 8,000.00"));
    browser.shot(&backend, "approvals").await;
    browser.click(&format!("#req-{request}")).await;
    browser.fill("#reason", "score factors checked").await;
    browser.click("button[value=approve]").await;
    assert!(browser.text(".notice.ok").await.contains("1 request(s) approved"));
    assert!(browser.text("main").await.contains("Nothing waits"), "the empty state");
    browser.shot(&backend, "approvals-empty").await;
    browser.finish().await;

    let account: Value = app.get_as("/v1/me/account", &token).await.json().await.unwrap();
    assert_eq!(account["credit"]["line"], "general");
    assert_eq!(account["credit"]["limit"], "8000.00");
    app.assert_ledger_clean(&admin).await;
}

async fn sign_out_everywhere_and_the_absolute_limit_end_sessions(backend: Backend) {
    let app = TestApp::spawn_with(backend, &[("console.absolute_timeout_secs", "4")]).await;
    let token = app.admin_token("chief").await;
    let browser = Browser::start(&app.address).await;

    // Sign out everywhere: the console session and the API tokens issued before it end.
    browser.sign_in("chief").await;
    browser.expect_path("/console", "signed in").await;
    browser.go("/console/account").await;
    browser.click("form[action='/console/logout-all'] button").await;
    browser.expect_path("/console/login?why=everywhere", "signed out everywhere").await;
    assert_problem(app.get_as("/v1/admin/users", &token).await, 401, "unauthorized").await;
    browser.go("/console").await;
    browser.expect_path("/console/login?why=signed_out", "no session left").await;

    // However busy, a session ends at its absolute limit.
    browser.sign_in("chief").await;
    browser.expect_path("/console", "signed in again").await;
    for _ in 0..8 {
        tokio::time::sleep(std::time::Duration::from_millis(1_000)).await;
        browser.go("/console/approvals").await;
        if browser.path().await != "/console/approvals" {
            break;
        }
    }
    browser.expect_path("/console/login?why=expired", "past the absolute limit").await;
    assert!(browser.text(".notice").await.contains("time limit"));
    browser.finish().await;
}
