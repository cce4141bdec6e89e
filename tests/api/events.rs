//! Events: each change of the money and credit flows writes exactly its events, in order,
//! with the object as the API shows it; the feeds page and resume (webhook management:
//! webhooks_admin.rs).

use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::credit::{bill_as_of, buy, confirm, days, first_due, merchant};
use crate::helpers::{Backend, TestApp, assert_problem};
use crate::on_both_backends;
use crate::receiver::Receiver;
use crate::webhooks::{FAST_DELIVERY, register};

on_both_backends!(
    every_operation_writes_exactly_its_events_in_order,
    the_rest_of_the_credit_life_writes_its_events,
    the_feeds_page_resume_and_refuse_bad_cursors
);

/// Every event of the user, walking the feed to the end.
pub(crate) async fn all_events(app: &TestApp, token: &str) -> Vec<Value> {
    let mut items = Vec::new();
    let mut after = "0".to_owned();
    loop {
        let res = app.get_as(&format!("/v1/events?after={after}&limit=7"), token).await;
        assert_eq!(res.status(), StatusCode::OK);
        let page: Value = res.json().await.unwrap();
        let got = page["items"].as_array().unwrap().clone();
        let next = page["next_cursor"].as_str().unwrap().to_owned();
        if got.is_empty() {
            assert_eq!(next, after, "an empty page resumes where it was");
            return items;
        }
        items.extend(got);
        after = next;
    }
}

/// The first page of everyone's events once it holds `count`. On PostgreSQL the feed shows a
/// transaction only once every older one in the cluster has ended, and other tests' databases
/// share this cluster: the feed is complete eventually, not at once.
async fn admin_feed_when(app: &TestApp, admin: &str, count: usize) -> Vec<Value> {
    let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(30);
    loop {
        let page: Value = app.get_as("/v1/admin/events?limit=100", admin).await.json().await.unwrap();
        let items = page["items"].as_array().unwrap().clone();
        if items.len() >= count || tokio::time::Instant::now() > deadline {
            assert_eq!(items.len(), count, "everyone's events");
            return items;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
}

/// Each event's type, with the movement's kind or the object's state where it has one.
fn kinds(events: &[Value]) -> Vec<String> {
    events
        .iter()
        .map(|e| {
            let data = &e["data"];
            let detail = ["kind", "state", "reason", "status"].iter().find_map(|f| data[*f].as_str());
            format!("{} {}", e["type"].as_str().unwrap(), detail.unwrap_or("-"))
        })
        .collect()
}

async fn every_operation_writes_exactly_its_events_in_order(backend: Backend) {
    let mut settings = vec![("credit.billing_job_enabled", "false")];
    settings.extend(FAST_DELIVERY);
    let app = TestApp::spawn_with(backend, &settings).await;
    let admin = app.admin_token("events_admin").await;
    // A real receiver gets them too, exactly as the feed shows them.
    let receiver = Receiver::start(0, std::time::Duration::ZERO);
    let hook = register(&app, &admin, &receiver.url, &vaultline::domain::webhook::EVENT_TYPES).await;
    receiver.set_secret(hook["secret"].as_str().unwrap());
    let shop = merchant(&app, &admin, "Event Shop").await;
    let ann = app.user_token("ann_events").await;
    let bob = app.user_token("bob_events").await;
    let ann_id = app.get_as("/v1/me", &ann).await.json::<Value>().await.unwrap()["id"].as_str().unwrap().to_owned();

    app.deposit(&ann, "130.00").await;
    assert_eq!(app.post_money("/v1/vault/lock", &ann, &json!({"amount": "90.00"})).await.status(), StatusCode::CREATED);
    let res = app.post_money("/v1/transfers", &ann, &json!({"to_username": "bob_events", "amount": "5.00"})).await;
    assert_eq!(res.status(), StatusCode::CREATED);
    let res = buy(&app, &ann, &shop, "60.00", 3).await;
    let held: Value = res.json().await.unwrap();
    let id = held["id"].as_str().unwrap().to_owned();
    assert_eq!(confirm(&app, &ann, &id).await.status(), StatusCode::OK);
    let res = buy(&app, &ann, &shop, "10.00", 1).await;
    let cancelled = res.json::<Value>().await.unwrap()["id"].as_str().unwrap().to_owned();
    let res = app.post_money(&format!("/v1/credit/purchases/{cancelled}/cancel"), &ann, &json!(null)).await;
    assert_eq!(res.status(), StatusCode::OK);
    bill_as_of(&app, &admin, first_due()).await;
    let res = app.post_money("/v1/credit/repayments", &ann, &json!({"amount": "20.10"})).await;
    assert_eq!(res.status(), StatusCode::CREATED, "{:?}", res.text().await);
    let path = format!("/v1/admin/purchases/{id}/refunds");
    let res = app
        .client
        .post(app.url(&path))
        .bearer_auth(&admin)
        .header("idempotency-key", "refund-1")
        .json(&json!({"amount": "20.00", "reason": "one item returned"}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::CREATED);
    for action in ["freeze", "unfreeze"] {
        let res = app
            .post_as_admin(&format!("/v1/admin/users/{ann_id}/{action}"), &admin, &json!({"reason": "events test"}))
            .await;
        assert_eq!(res.status(), StatusCode::OK);
    }

    let events = all_events(&app, &ann).await;
    // In each operation's order: a lock records the limit before its movement; billing
    // charges the billed fee as a `fee` movement; a repayment or refund settles the parts
    // before its movement; a refund shows the purchase last.
    assert_eq!(
        kinds(&events),
        [
            "movement.created deposit",
            "credit.limit_changed vault_lock",
            "movement.created vault_lock",
            "movement.created transfer_out",
            "purchase.authorized authorized",
            "purchase.captured captured",
            "movement.created purchase_capture",
            "purchase.authorized authorized",
            "purchase.voided voided",
            "installment.due due",
            "movement.created fee",
            // The run of the due date closes the cycle whose statement day it passed.
            "statement.issued -",
            "installment.paid paid",
            "movement.created repayment",
            "installment.paid paid",
            "movement.created refund",
            "purchase.refunded captured",
            "user.frozen frozen",
            "user.unfrozen active",
        ]
    );
    let seqs: Vec<i64> = events.iter().map(|e| e["seq"].as_i64().unwrap()).collect();
    assert_eq!(seqs, (1..=19).collect::<Vec<_>>(), "seq rises by one per user");
    assert!(events.iter().all(|e| e["user_id"] == ann_id.as_str()));

    // Each shows its object as the API does.
    let movements = app.all_movements(&ann, 100).await;
    let mut movement_events: Vec<&Value> = events.iter().filter(|e| e["type"] == "movement.created").collect();
    movement_events.reverse();
    let shown: Vec<&Value> = movement_events.iter().map(|e| &e["data"]).collect();
    assert_eq!(shown, movements.iter().collect::<Vec<_>>(), "movements as /v1/transactions shows them");
    let kinds_of_movements: Vec<&str> = movements.iter().rev().map(|m| m["kind"].as_str().unwrap()).collect();
    assert_eq!(
        kinds_of_movements,
        ["deposit", "vault_lock", "transfer_out", "purchase_capture", "fee", "repayment", "refund"]
    );
    assert_eq!(
        (events[1]["data"]["limit_before"].as_str(), events[1]["data"]["limit_after"].as_str()),
        (Some("0.00"), Some("90.00"))
    );
    assert_eq!(events[4]["data"], held, "the hold as its answer showed it");
    let captured = &events[5]["data"];
    assert_eq!(captured["state"], "captured");
    let parts: Vec<&str> =
        captured["schedule"].as_array().unwrap().iter().map(|p| p["principal"].as_str().unwrap()).collect();
    assert_eq!(parts, ["20.00", "20.00", "20.00"]);
    assert_eq!(events[8]["data"]["state"], "voided");
    assert_eq!((events[9]["data"]["seq"].as_u64(), events[9]["data"]["fee"].as_str()), (Some(1), Some("0.10")));
    assert_eq!(events[11]["data"]["amount_due"], "20.10", "the statement asks for the first part and its fee");
    assert_eq!((events[12]["data"]["paid"].as_str(), events[12]["data"]["seq"].as_u64()), (Some("20.10"), Some(1)));
    // The refund of 20.00 paid off the last part; then the purchase shows the refund.
    assert_eq!((events[14]["data"]["seq"].as_u64(), events[14]["data"]["principal"].as_str()), (Some(3), Some("0.00")));
    let refunded = &events[16]["data"];
    assert_eq!(
        (refunded["refunded"].as_str(), refunded["refunds"][0]["amount"].as_str()),
        (Some("20.00"), Some("20.00"))
    );
    assert_eq!(refunded["schedule"][2]["state"], "paid");

    // Bob sees his own event only; the admin feed has everyone's, each user's in seq order.
    let bob_events = all_events(&app, &bob).await;
    assert_eq!(kinds(&bob_events), ["movement.created transfer_in"]);
    assert_eq!((bob_events[0]["data"]["kind"].as_str(), bob_events[0]["seq"].as_i64()), (Some("transfer_in"), Some(1)));
    let all = admin_feed_when(&app, &admin, 20).await;
    let ann_order: Vec<&Value> = all.iter().filter(|e| e["user_id"] == ann_id.as_str()).map(|e| &e["id"]).collect();
    assert_eq!(ann_order, events.iter().map(|e| &e["id"]).collect::<Vec<_>>());
    assert_problem(app.get_as("/v1/admin/events", &ann).await, 403, "forbidden").await;

    let ids: std::collections::HashSet<String> = all.iter().map(|e| e["id"].as_str().unwrap().to_owned()).collect();
    receiver.wait_for(&ids, std::time::Duration::from_secs(60)).await;
    let delivered: Vec<Value> =
        receiver.received().into_iter().filter(|r| r.status == 200 && r.signature_ok).map(|r| r.event).collect();
    let ann_delivered: Vec<&Value> = delivered.iter().filter(|e| e["user_id"] == ann_id.as_str()).collect();
    assert_eq!(ann_delivered, events.iter().collect::<Vec<_>>(), "delivered once each, in order, as the feed shows");
    app.assert_ledger_clean(&admin).await;
}

async fn the_feeds_page_resume_and_refuse_bad_cursors(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let admin = app.admin_token("feed_admin").await;
    let ann = app.user_token("ann_feed").await;
    let empty: Value = app.get_as("/v1/events", &ann).await.json().await.unwrap();
    assert_eq!(empty, json!({"items": [], "next_cursor": "0"}));
    for n in 1..=5 {
        app.deposit(&ann, &format!("{n}.00")).await;
    }
    let page: Value = app.get_as("/v1/events?limit=2", &ann).await.json().await.unwrap();
    assert_eq!(page["items"].as_array().unwrap().len(), 2);
    assert_eq!(page["next_cursor"], "2");
    let rest: Value = app.get_as("/v1/events?after=2&limit=100", &ann).await.json().await.unwrap();
    let amounts: Vec<&str> =
        rest["items"].as_array().unwrap().iter().map(|e| e["data"]["amount"].as_str().unwrap()).collect();
    assert_eq!(amounts, ["3.00", "4.00", "5.00"]);
    assert_eq!(rest["next_cursor"], "5");
    // The admin feed resumes from its own cursor.
    admin_feed_when(&app, &admin, 5).await;
    let first: Value = app.get_as("/v1/admin/events?limit=3", &admin).await.json().await.unwrap();
    let cursor = first["next_cursor"].as_str().unwrap().to_owned();
    let next: Value = app.get_as(&format!("/v1/admin/events?after={cursor}"), &admin).await.json().await.unwrap();
    assert_eq!(next["items"].as_array().unwrap().len(), 2);
    assert_eq!(next["items"][1]["data"]["amount"], "5.00");
    for bad in ["-1", "x", "1.2", "9999999999999999999", ""] {
        assert_problem(app.get_as(&format!("/v1/events?after={bad}"), &ann).await, 400, "validation_error").await;
    }
    for bad in ["1", "a.b", "1.", ".1"] {
        assert_problem(app.get_as(&format!("/v1/admin/events?after={bad}"), &admin).await, 400, "validation_error")
            .await;
    }
    for bad in ["0", "101", "x"] {
        assert_problem(app.get_as(&format!("/v1/events?limit={bad}"), &ann).await, 400, "validation_error").await;
    }
    assert_problem(app.get("/v1/events").await, 401, "unauthorized").await;
}

/// Withdrawal, unlock, auto-confirmation, bill installments, autopay from the vault, overdue
/// with late fees and a collateral settlement, and a line upgrade and downgrade.
async fn the_rest_of_the_credit_life_writes_its_events(backend: Backend) {
    let app =
        TestApp::spawn_with(backend, &[("credit.billing_job_enabled", "false"), ("credit.grace_days", "5")]).await;
    let admin = app.admin_token("life_events_admin").await;
    let approver = app.admin_token("life_events_approver").await;
    let shop = merchant(&app, &admin, "Life Event Shop").await;
    let ann = app.user_token("ann_life_events").await;
    let ann_id = app.get_as("/v1/me", &ann).await.json::<Value>().await.unwrap()["id"].as_str().unwrap().to_owned();
    app.deposit(&ann, "200.00").await;
    assert_eq!(
        app.post_money("/v1/vault/lock", &ann, &json!({"amount": "100.00"})).await.status(),
        StatusCode::CREATED
    );
    assert_eq!(
        app.post_money("/v1/wallet/withdrawals", &ann, &json!({"amount": "85.00"})).await.status(),
        StatusCode::CREATED
    );
    assert_eq!(
        app.post_money("/v1/vault/unlock", &ann, &json!({"amount": "10.00"})).await.status(),
        StatusCode::CREATED
    );
    // Never confirmed: billing confirms it after auto_confirm_days.
    assert_eq!(buy(&app, &ann, &shop, "30.00", 3).await.status(), StatusCode::CREATED);
    let today = chrono::Utc::now().date_naive();
    bill_as_of(&app, &admin, today + days(10)).await;
    // The first bill turns into a plan of 3.
    bill_as_of(&app, &admin, first_due()).await;
    let res = app
        .client
        .post(app.url("/v1/credit/bill/installments"))
        .bearer_auth(&ann)
        .json(&json!({"installments": 3}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::CREATED, "{:?}", res.text().await);
    // Autopay from the vault pays the next bill on its due date.
    let body = json!({"enabled": true, "sources": ["vault"]});
    let res = app.client.put(app.url("/v1/me/autopay")).bearer_auth(&ann).json(&body).send().await.unwrap();
    assert_eq!(res.status(), StatusCode::UNPROCESSABLE_ENTITY, "the vault alone is not a source");
    let body = json!({"enabled": true, "sources": ["wallet", "vault"]});
    let res = app.client.put(app.url("/v1/me/autopay")).bearer_auth(&ann).json(&body).send().await.unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    bill_as_of(&app, &admin, first_due() + days(31)).await;
    // Past the grace period with autopay off: overdue, late fees, then the vault settles.
    let res = app
        .client
        .put(app.url("/v1/me/autopay"))
        .bearer_auth(&ann)
        .json(&json!({"enabled": false, "sources": ["wallet"]}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    bill_as_of(&app, &admin, first_due() + days(62 + 7)).await;
    app.change_line_with_approval(
        &admin,
        &approver,
        &ann_id,
        &json!({"line": "general", "limit": "500.00", "reason": "trusted", "override": true}),
    )
    .await;
    let res = app
        .post_money(
            &format!("/v1/admin/users/{ann_id}/credit-line"),
            &admin,
            &json!({"line": "secured", "reason": "back to secured"}),
        )
        .await;
    assert_eq!(res.status(), StatusCode::OK);
    let events = all_events(&app, &ann).await;
    assert_eq!(
        kinds(&events),
        [
            "movement.created deposit",
            "credit.limit_changed vault_lock",
            "movement.created vault_lock",
            "movement.created withdrawal",
            "credit.limit_changed vault_unlock",
            "movement.created vault_unlock",
            "purchase.authorized authorized",
            // Auto-confirmed by billing, with its schedule.
            "purchase.captured captured",
            "movement.created purchase_capture",
            "installment.due due",
            "movement.created fee",
            "statement.issued -",
            // The bill becomes a plan: the part turns converted, the plan is a captured purchase.
            "installment.converted converted",
            "purchase.captured captured",
            "installment.due due",
            "installment.due due",
            "installment.due due",
            "movement.created fee",
            // Autopay pays the due parts (and the converted part's billed fee).
            "installment.paid paid",
            "installment.paid paid",
            "installment.paid paid",
            "installment.paid paid",
            "movement.created repayment",
            "statement.issued -",
            "installment.due due",
            "installment.due due",
            "movement.created fee",
            "installment.overdue overdue",
            "installment.overdue overdue",
            "movement.created late_fee",
            // Past the grace period the vault settles the overdue parts.
            "installment.paid paid",
            "installment.paid paid",
            "credit.limit_changed collateral_settlement",
            "movement.created collateral_settlement",
            "statement.issued -",
            "credit.line_changed upgrade",
            "credit.line_changed downgrade",
        ]
    );
    assert_eq!(events[7]["data"]["schedule"].as_array().unwrap().len(), 3);
    assert_eq!(events[13]["data"]["merchant_id"], "00000000-0000-0000-0000-00000000b177", "the plan");
    let upgrade = &events[35]["data"];
    assert_eq!((upgrade["line"].as_str(), upgrade["limit_after"].as_str()), (Some("general"), Some("500.00")));
    assert_eq!(events.last().unwrap()["data"]["line"], "secured");
    app.assert_ledger_clean(&admin).await;
}
