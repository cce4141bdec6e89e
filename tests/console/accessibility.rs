//! Every console page through axe-core (from npm, injected by WebDriver): no serious or
//! critical accessibility violation.

use serde_json::{Value, json};

use crate::browser::Browser;
use crate::helpers::{Backend, PASSWORD, TestApp};

const AXE: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/console/node_modules/axe-core/axe.min.js");

/// The serious and critical violations on the page shown now, one line each.
async fn violations(browser: &Browser) -> Vec<String> {
    let source = std::fs::read_to_string(AXE).expect("axe-core is installed: npm ci --prefix tests/console");
    browser.run(&format!("{source}\nreturn true;"), vec![]).await;
    let script = "return axe.run(document, {resultTypes: ['violations']}).then(r => r.violations\
        .filter(v => v.impact === 'serious' || v.impact === 'critical')\
        .map(v => v.id + ' (' + v.impact + '): ' + v.nodes.map(n => n.target.join(' ')).join(', ')))";
    let found: Value = browser.run(script, vec![]).await;
    found.as_array().unwrap().iter().map(|v| v.as_str().unwrap().to_owned()).collect()
}

async fn no_serious_violation_on_any_page(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let admin = app.admin_token("chief").await;
    let body = json!({"username": "eve_ng", "password": PASSWORD, "display_name": "Eve Ng"});
    let id = app.post_json("/v1/auth/register", &body).await.json::<Value>().await.unwrap()["user"]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let token = app.login("eve_ng").await["access_token"].as_str().unwrap().to_owned();
    app.deposit(&token, "300.00").await;
    let browser = Browser::start(&app.address).await;
    let mut found = Vec::new();
    browser.go("/console/login").await;
    found.extend(violations(&browser).await.into_iter().map(|v| format!("/console/login: {v}")));
    browser.sign_in("chief").await;
    browser.expect_path("/console", "signed in").await;
    let pages = [
        "/console".to_owned(),
        "/console?q=eve".to_owned(),
        format!("/console/customers/{id}"),
        "/console/approvals".to_owned(),
        "/console/risk".to_owned(),
        "/console/billing".to_owned(),
        "/console/ledger".to_owned(),
        "/console/audit".to_owned(),
        "/console/staff".to_owned(),
        "/console/webhooks".to_owned(),
        "/console/account".to_owned(),
    ];
    for path in &pages {
        browser.go(path).await;
        found.extend(violations(&browser).await.into_iter().map(|v| format!("{path}: {v}")));
    }
    browser.finish().await;
    assert!(found.is_empty(), "serious or critical accessibility violations:\n{}", found.join("\n"));
    app.assert_ledger_clean(&admin).await;
}

mod no_serious_violation_on_any_page {
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    #[cfg_attr(not(axe_tests), ignore = "axe-core is not installed: npm ci --prefix tests/console")]
    async fn sqlite() {
        super::no_serious_violation_on_any_page(crate::helpers::Backend::Sqlite).await;
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    #[cfg_attr(any(not(axe_tests), not(postgres_tests)), ignore = "needs axe-core and VAULTLINE_TEST_POSTGRES_URL")]
    async fn postgres() {
        super::no_serious_violation_on_any_page(crate::helpers::Backend::postgres()).await;
    }
}
