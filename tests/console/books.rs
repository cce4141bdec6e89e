//! Billing, ledger, audit log (with its CSV export) and staff pages in the browser.

use serde_json::{Value, json};

use crate::browser::Browser;
use crate::helpers::{Backend, PASSWORD, TestApp};
use crate::on_both_backends;

on_both_backends!(billing_ledger_audit_export_and_staff_pages);

/// RFC 4180 records (quoted fields, doubled quotes, CRLF).
fn parse_csv(text: &str) -> Vec<Vec<String>> {
    let (mut records, mut record, mut field) = (Vec::new(), Vec::new(), String::new());
    let (mut quoted, mut chars) = (false, text.chars().peekable());
    while let Some(c) = chars.next() {
        match (quoted, c) {
            (true, '"') if chars.peek() == Some(&'"') => {
                field.push('"');
                chars.next();
            }
            (true, '"') => quoted = false,
            (true, c) => field.push(c),
            (false, '"') => quoted = true,
            (false, ',') => record.push(std::mem::take(&mut field)),
            (false, '\r') => {}
            (false, '\n') => {
                record.push(std::mem::take(&mut field));
                records.push(std::mem::take(&mut record));
            }
            (false, c) => field.push(c),
        }
    }
    records
}

async fn billing_ledger_audit_export_and_staff_pages(backend: Backend) {
    let app = TestApp::spawn(backend.clone()).await;
    let admin = app.admin_token("chief").await;
    let user = app.register("dee_ko").await;
    let id = user["id"].as_str().unwrap().to_owned();
    let token = app.login("dee_ko").await["access_token"].as_str().unwrap().to_owned();
    app.deposit(&token, "2400.00").await;
    app.post_money("/v1/vault/lock", &token, &json!({"amount": "900.00"})).await;
    let reason = "Chargeback, \"urgent\" =SUM(A1)";
    let res = app.post_as_admin(&format!("/v1/admin/users/{id}/freeze"), &admin, &json!({"reason": reason})).await;
    assert_eq!(res.status(), 200);
    let browser = Browser::start(&app.address).await;
    browser.sign_in("chief").await;
    browser.expect_path("/console", "signed in").await;

    // Billing: a dry run shows its counts and writes only its audit line.
    browser.go("/console/billing").await;
    assert!(browser.text("main").await.contains("No billing run yet"), "the empty state");
    browser.click("button[value=dry_run]").await;
    assert!(browser.text(".notice.warn").await.contains("Dry run"));
    assert!(browser.text("#billing-result").await.contains("Late fees charged"));
    assert!(browser.text("table.data").await.contains("dry run"), "listed among past runs");
    browser.shot(&backend, "billing").await;

    // Ledger: the check holds and the trial balance sums to zero.
    browser.go("/console/ledger").await;
    assert!(browser.text(".notice.ok").await.contains("Every invariant holds"));
    assert!(browser.text("#trial-balance tfoot").await.contains("CNY 0.00"));
    browser.shot(&backend, "ledger").await;

    // Risk: the book by line kind and charts drawn on the server.
    browser.go("/console/risk").await;
    let book = browser.text("#book").await;
    assert!(book.contains("secured") && book.contains("CNY 900.00"), "{book}");
    assert_eq!(browser.count("svg.chart").await, 4);
    let volume =
        browser.run("return document.querySelectorAll('svg.chart')[3].getAttribute('aria-label')", vec![]).await;
    assert!(volume.as_str().unwrap().contains("CNY 2,400.00"), "the deposit in today's volume: {volume}");
    assert!(browser.text("#aging").await.contains("90+"));
    browser.shot(&backend, "risk").await;

    // Audit log: filtered, then exported as CSV, parsed and checked.
    browser.go("/console/audit").await;
    browser.fill("#action", "user.freeze").await;
    browser.click("form.filters button").await;
    browser.expect_path("/console/audit?actor=&action=user.freeze&target=&from=&to=", "a GET with the filter").await;
    assert_eq!(browser.count("#audit-entries tbody tr").await, 1);
    browser.shot(&backend, "audit").await;
    // The console's CSP allows no fetch from its pages, so the file is fetched as the link
    // would, with the browser's session cookie.
    let cookie = browser.client.get_named_cookie("vaultline_console").await.expect("the session cookie");
    let res = app
        .client
        .get(app.url("/console/audit.csv?action=user.freeze"))
        .header("cookie", format!("vaultline_console={}", cookie.value()))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    assert_eq!(res.headers()["content-type"], "text/csv; charset=utf-8");
    assert!(res.headers()["content-disposition"].to_str().unwrap().starts_with("attachment"));
    let records = parse_csv(&res.text().await.unwrap());
    assert_eq!(records[0], ["id", "created_at", "actor_id", "action", "target_id", "reason", "details"]);
    assert_eq!(records.len(), 2, "{records:?}");
    assert_eq!(records[1][3], "user.freeze");
    assert_eq!(records[1][4], id);
    assert_eq!(records[1][5], reason, "commas and quotes survive; the cell does not start with =");
    let details: Value = serde_json::from_str(&records[1][6]).unwrap();
    assert_eq!(details["after"]["status"], "frozen");

    webhooks_page(&browser, &backend).await;
    staff_page(&browser, &backend).await;
    browser.finish().await;
    let listed: Value = app.get_as("/v1/admin/staff", &admin).await.json().await.unwrap();
    assert_eq!(listed["items"][0]["username"], "new_agent");
    assert_eq!(listed["items"][0]["role"], "support");
    app.assert_ledger_clean(&admin).await;
}

/// Webhooks: register (the secret is shown once), see it listed, delete it.
async fn webhooks_page(browser: &Browser, backend: &Backend) {
    browser.go("/console/webhooks").await;
    assert!(browser.text("main").await.contains("No endpoint is registered"));
    browser.fill("#url", "https://93.184.216.34/hooks/vaultline").await;
    browser.click("input[value='user.frozen']").await;
    browser.click("form.card button.primary").await;
    let secret = browser.text("#webhook-secret").await;
    assert!(secret.starts_with("whsec_") && secret.len() > 40, "{secret}");
    assert!(browser.text("#webhooks").await.contains("user.frozen"));
    browser.shot(backend, "webhooks").await;
    browser.go("/console/webhooks").await;
    assert!(!browser.text("main").await.contains(&secret), "the secret is never shown again");
    browser.click("#webhooks button.danger").await;
    browser.expect_path("/console/webhooks", "deleted").await;
    assert!(browser.text("main").await.contains("No endpoint is registered"));
}

/// Staff: an admin adds a staff member with a role.
async fn staff_page(browser: &Browser, backend: &Backend) {
    browser.go("/console/staff").await;
    browser.fill("#new-username", "new_agent").await;
    browser.fill("#new-password", PASSWORD).await;
    browser.fill("#new-reason", "joins support").await;
    browser.click("form.grid button.primary").await;
    browser.expect_path("/console/staff?done=created", "created").await;
    assert!(browser.text("table.data").await.contains("new_agent"));
    browser.shot(backend, "staff").await;
}
