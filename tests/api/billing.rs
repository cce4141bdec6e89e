//! Billing that one admin request cannot turn into a seizure: no date later than today
//! (unless the service runs with `credit.allow_future_billing`, as tests do), a dry run
//! that writes nothing, and late fees capped per installment.

use chrono::{Datelike, Months, NaiveDate, TimeDelta, Utc};
use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::helpers::{Backend, TestApp, assert_problem, minor};
use crate::on_both_backends;

on_both_backends!(a_future_date_is_refused_and_changes_nothing, a_dry_run_writes_nothing, late_fees_stop_at_the_cap);

fn today() -> NaiveDate {
    Utc::now().date_naive()
}

/// The first due date for a purchase captured today: the 10th of next month.
fn first_due() -> NaiveDate {
    today().with_day(1).unwrap().checked_add_months(Months::new(1)).unwrap().with_day(10).unwrap()
}

async fn run(app: &TestApp, admin: &str, body: Value) -> reqwest::Response {
    app.post_as_admin("/v1/admin/billing/run", admin, &body).await
}

/// An admin, a merchant and ann with 1,200.00 locked who bought 1,200.00 in 3 parts, captured.
async fn bought(app: &TestApp) -> (String, String, String) {
    let admin = app.admin_token("root_admin").await;
    let res = app.post_as_admin("/v1/admin/merchants", &admin, &json!({"name": "Shop"})).await;
    let shop = res.json::<Value>().await.unwrap()["id"].as_str().unwrap().to_owned();
    let ann = app.user_token("ann_lee").await;
    app.deposit(&ann, "1200.00").await;
    app.post_money("/v1/vault/lock", &ann, &json!({"amount": "1200.00"})).await.error_for_status().unwrap();
    let body = json!({"merchant_id": shop, "amount": "1200.00", "installments": 3});
    let res = app.post_money("/v1/credit/purchases", &ann, &body).await;
    let id = res.json::<Value>().await.unwrap()["id"].as_str().unwrap().to_owned();
    let path = format!("/v1/credit/purchases/{id}/confirm-receipt");
    app.post_money(&path, &ann, &json!(null)).await.error_for_status().unwrap();
    (admin, ann, id)
}

async fn a_future_date_is_refused_and_changes_nothing(backend: Backend) {
    let app = TestApp::spawn_with(backend, &[("credit.allow_future_billing", "false")]).await;
    let (admin, ann, _) = bought(&app).await;
    let entries = app.assert_ledger_clean(&admin).await["entries"].clone();
    let before = app.account(&ann).await;
    let tomorrow = (today() + TimeDelta::days(1)).to_string();
    for as_of in [tomorrow.as_str(), "2099-01-01", "9999-12-31"] {
        for dry_run in [false, true] {
            let res = run(&app, &admin, json!({"as_of": as_of, "dry_run": dry_run})).await;
            let problem = assert_problem(res, 422, "validation_error").await;
            assert!(problem["detail"].as_str().unwrap().contains("later than today"), "{problem}");
        }
    }
    assert_problem(run(&app, &admin, json!({"as_of": "+10000-01-01"})).await, 422, "validation_error").await;
    assert_eq!(app.account(&ann).await, before);
    assert_eq!(app.assert_ledger_clean(&admin).await["entries"], entries);
    // Today is allowed (and has nothing to do yet).
    let res = run(&app, &admin, json!({"as_of": today().to_string()})).await;
    assert_eq!(res.status(), StatusCode::OK);
    assert_eq!(res.json::<Value>().await.unwrap()["dry_run"], false);
}

async fn a_dry_run_writes_nothing(backend: Backend) {
    let app = TestApp::spawn_with(backend, &[("credit.billing_job_enabled", "false")]).await;
    let (admin, ann, id) = bought(&app).await;
    let as_of = json!((first_due() + TimeDelta::days(40)).to_string());
    let entries = app.assert_ledger_clean(&admin).await["entries"].clone();
    let account = app.account(&ann).await;
    let purchase = app.get_as(&format!("/v1/credit/purchases/{id}"), &ann).await.json::<Value>().await.unwrap();

    let res = run(&app, &admin, json!({"as_of": as_of, "dry_run": true})).await;
    assert_eq!(res.status(), StatusCode::OK);
    let dry: Value = res.json().await.unwrap();
    assert_eq!(dry["dry_run"], true);
    assert!(dry["installments_due"].as_u64().unwrap() >= 2, "{dry}");
    assert!(dry["installments_overdue"].as_u64().unwrap() >= 1, "{dry}");
    assert_eq!(dry["collateral_settlements"], 1, "{dry}");
    assert_eq!(dry["users"].as_array().unwrap().len(), 1, "{dry}");
    assert_eq!(dry["users_not_listed"], 0);

    // Nothing was written: the journal, the account, the schedule are as before.
    assert_eq!(app.assert_ledger_clean(&admin).await["entries"], entries);
    assert_eq!(app.account(&ann).await, account);
    let after = app.get_as(&format!("/v1/credit/purchases/{id}"), &ann).await.json::<Value>().await.unwrap();
    assert_eq!(after, purchase);

    // The real run does exactly what the dry run said.
    let real: Value = run(&app, &admin, json!({"as_of": as_of})).await.json().await.unwrap();
    for key in ["installments_due", "installments_overdue", "late_fees_charged", "collateral_settlements"] {
        assert_eq!(real[key], dry[key], "{key}: {real} vs {dry}");
    }
    assert_eq!(real["dry_run"], false);
    assert!(real.get("users").is_none());
    assert_ne!(app.account(&ann).await, account);
    app.assert_ledger_clean(&admin).await;
}

async fn late_fees_stop_at_the_cap(backend: Backend) {
    let app = TestApp::spawn_with(backend, &[("credit.billing_job_enabled", "false")]).await;
    let (admin, ann, id) = bought(&app).await;
    let bill: Value = app.get_as("/v1/credit/bill", &ann).await.json().await.unwrap();
    assert_eq!(bill["late_fee_cap"], "0.5");

    // Ten years late: 0.05% a day of 402.00 for ~3,650 days would be ~182%; each part stops
    // at 50% of its 400.00 principal.
    let years_late = first_due().checked_add_months(Months::new(120)).unwrap();
    let res = run(&app, &admin, json!({"as_of": years_late.to_string()})).await;
    assert_eq!(res.status(), StatusCode::OK);
    let purchase = app.get_as(&format!("/v1/credit/purchases/{id}"), &ann).await.json::<Value>().await.unwrap();
    for part in purchase["schedule"].as_array().unwrap() {
        assert_eq!(part["late_fee"], "200.00", "{part}");
    }
    let late: i64 =
        app.all_movements(&ann, 50).await.iter().filter(|m| m["kind"] == "late_fee").map(|m| minor(&m["amount"])).sum();
    assert_eq!(late, 60_000, "three parts, each capped at 200.00");

    // Later still: nothing more accrues.
    let later = years_late.checked_add_months(Months::new(240)).unwrap();
    let counts: Value = run(&app, &admin, json!({"as_of": later.to_string()})).await.json().await.unwrap();
    assert_eq!(counts["late_fees_charged"], 0, "{counts}");
    let again = app.get_as(&format!("/v1/credit/purchases/{id}"), &ann).await.json::<Value>().await.unwrap();
    assert_eq!(again["schedule"], purchase["schedule"]);
    app.assert_ledger_clean(&admin).await;
}
