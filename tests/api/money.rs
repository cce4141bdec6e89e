//! The caller's own money: each endpoint, each error, bad amounts, idempotency, history.

use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::helpers::{Backend, TestApp, assert_problem, minor};
use crate::on_both_backends;

on_both_backends!(
    deposit_withdraw_and_account,
    every_bad_amount_is_refused_and_changes_nothing,
    transfers_move_money_between_users,
    vault_lock_and_unlock_follow_the_secured_line,
    frozen_users_read_but_cannot_move_money,
    idempotency_replays_refuses_mismatch_and_is_per_user,
    idempotency_key_must_be_present_and_printable,
    history_pages_cover_every_movement_once,
    money_routes_need_a_token
);

async fn deposit_withdraw_and_account(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let admin = app.admin_token("root_admin").await;
    let token = app.user_token("ann_lee").await;

    let fresh = app.account(&token).await;
    assert_eq!(fresh["currency"], "CNY");
    assert_eq!(fresh["status"], "active");
    assert_eq!(fresh["wallet"]["balance"], "0.00");
    assert_eq!(fresh["vault"], json!({"balance": "0.00", "pledged": "0.00", "unlockable": "0.00"}));
    assert_eq!(fresh["credit"]["line"], "secured");
    assert_eq!(fresh["credit"]["limit"], "0.00");
    assert!(fresh["score"]["value"].is_i64());
    assert_eq!(fresh["score"]["eligible_for_upgrade"], false);

    let movement = app.deposit(&token, "100.5").await;
    assert_eq!(movement["kind"], "deposit");
    assert_eq!(movement["amount"], "100.50");
    assert!(movement.get("counterparty").is_none() && movement.get("note").is_none());
    assert_eq!(movement["account"]["wallet"]["balance"], "100.50");
    assert_eq!(movement["account"]["user_id"], fresh["user_id"]);

    let res = app.post_money("/v1/wallet/withdrawals", &token, &json!({"amount": "40.25"})).await;
    assert_eq!(res.status(), StatusCode::CREATED);
    let movement: Value = res.json().await.unwrap();
    assert_eq!(movement["kind"], "withdrawal");
    assert_eq!(movement["account"]["wallet"]["balance"], "60.25");

    let body = assert_problem(
        app.post_money("/v1/wallet/withdrawals", &token, &json!({"amount": "60.26"})).await,
        422,
        "insufficient_funds",
    )
    .await;
    assert!(body["detail"].as_str().unwrap().contains("60.25"), "{body}");
    assert_eq!(body["title"], "Insufficient funds");
    app.post_money("/v1/wallet/withdrawals", &token, &json!({"amount": "60.25"})).await.error_for_status().unwrap();
    assert_eq!(app.account(&token).await["wallet"]["balance"], "0.00");
    app.assert_ledger_clean(&admin).await;
}

async fn every_bad_amount_is_refused_and_changes_nothing(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let admin = app.admin_token("root_admin").await;
    let token = app.user_token("ann_lee").await;
    app.deposit(&token, "50.00").await;
    app.user_token("bob_99").await;
    let before = app.account(&token).await;

    let bad: Vec<Value> = vec![
        json!(10),
        json!(10.5),
        json!(null),
        json!(true),
        json!({"value": "1.00"}),
        json!(["1.00"]),
        json!(""),
        json!("-1.00"),
        json!("+1.00"),
        json!("0"),
        json!("0.00"),
        json!("1.001"),
        json!("1e3"),
        json!(" 1.00"),
        json!("1.00 "),
        json!("1,000.00"),
        json!("1_000"),
        json!("NaN"),
        json!("Infinity"),
        json!(".50"),
        json!("5."),
        json!("1000000.01"),
        json!("99999999999999999999999"),
        json!("١٢"),
    ];
    let paths = ["/v1/wallet/deposits", "/v1/wallet/withdrawals", "/v1/vault/lock", "/v1/vault/unlock"];
    for amount in &bad {
        for path in paths {
            let res = app.post_money(path, &token, &json!({"amount": amount})).await;
            assert_problem(res, 422, "invalid_amount").await;
        }
        let res = app.post_money("/v1/transfers", &token, &json!({"to_username": "bob_99", "amount": amount})).await;
        assert_problem(res, 422, "invalid_amount").await;
    }
    // The maximum itself is fine.
    app.deposit(&token, "1000000.00").await;
    app.post_money("/v1/wallet/withdrawals", &token, &json!({"amount": "1000000"})).await.error_for_status().unwrap();

    // Shape errors: missing or unknown fields.
    for body in [json!({}), json!({"amount": "1.00", "currency": "CNY"}), json!({"amount": "1.00", "user_id": "x"})] {
        assert_problem(app.post_money("/v1/wallet/deposits", &token, &body).await, 422, "validation_error").await;
    }
    assert_eq!(app.account(&token).await, before, "nothing changed");
    assert_eq!(app.all_movements(&token, 100).await.len(), 3);
    app.assert_ledger_clean(&admin).await;
}

async fn transfers_move_money_between_users(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let admin = app.admin_token("root_admin").await;
    let ann = app.user_token("ann_lee").await;
    let bob = app.user_token("bob_99").await;
    app.deposit(&ann, "100.00").await;

    let res = app
        .post_money("/v1/transfers", &ann, &json!({"to_username": "bob_99", "amount": "30.00", "note": "lunch"}))
        .await;
    assert_eq!(res.status(), StatusCode::CREATED);
    let out: Value = res.json().await.unwrap();
    assert_eq!(out["kind"], "transfer_out");
    assert_eq!(out["counterparty"], "bob_99");
    assert_eq!(out["note"], "lunch");
    assert_eq!(out["account"]["wallet"]["balance"], "70.00");

    let bob_history = app.all_movements(&bob, 10).await;
    assert_eq!(bob_history.len(), 1);
    let incoming = &bob_history[0];
    assert_eq!(incoming["kind"], "transfer_in");
    assert_eq!(incoming["id"], out["id"], "both sides share the entry");
    assert_eq!(incoming["counterparty"], "ann_lee");
    assert_eq!(incoming["note"], "lunch");
    assert_eq!(incoming["account"]["wallet"]["balance"], "30.00");
    assert_eq!(incoming["account"]["user_id"], app.account(&bob).await["user_id"], "bob's own account, not ann's");

    let transfer = |to: &str, amount: &str| json!({"to_username": to, "amount": amount});
    assert_problem(
        app.post_money("/v1/transfers", &ann, &transfer("nobody_here", "1.00")).await,
        404,
        "recipient_not_found",
    )
    .await;
    assert_problem(
        app.post_money("/v1/transfers", &ann, &transfer("NOT VALID!", "1.00")).await,
        404,
        "recipient_not_found",
    )
    .await;
    assert_problem(app.post_money("/v1/transfers", &ann, &transfer("ann_lee", "1.00")).await, 422, "self_transfer")
        .await;
    assert_problem(
        app.post_money("/v1/transfers", &ann, &transfer("bob_99", "70.01")).await,
        422,
        "insufficient_funds",
    )
    .await;
    let long_note = json!({"to_username": "bob_99", "amount": "1.00", "note": "n".repeat(141)});
    assert_problem(app.post_money("/v1/transfers", &ann, &long_note).await, 422, "validation_error").await;
    let missing = json!({"amount": "1.00"});
    assert_problem(app.post_money("/v1/transfers", &ann, &missing).await, 422, "validation_error").await;
    // Exactly 140 characters is a fine note.
    let ok_note = json!({"to_username": "bob_99", "amount": "1.00", "note": "n".repeat(140)});
    app.post_money("/v1/transfers", &ann, &ok_note).await.error_for_status().unwrap();

    assert_eq!(app.account(&ann).await["wallet"]["balance"], "69.00");
    assert_eq!(app.account(&bob).await["wallet"]["balance"], "31.00");
    app.assert_ledger_clean(&admin).await;
}

async fn vault_lock_and_unlock_follow_the_secured_line(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let admin = app.admin_token("root_admin").await;
    let ann = app.user_token("ann_lee").await;
    app.deposit(&ann, "100.00").await;

    let res = app.post_money("/v1/vault/lock", &ann, &json!({"amount": "80.00"})).await;
    assert_eq!(res.status(), StatusCode::CREATED);
    let locked: Value = res.json().await.unwrap();
    assert_eq!(locked["kind"], "vault_lock");
    let account = &locked["account"];
    assert_eq!(account["wallet"]["balance"], "20.00");
    assert_eq!(account["vault"]["balance"], "80.00");
    assert_eq!(account["credit"]["limit"], "80.00", "a secured limit equals the vault");
    assert_eq!(account["credit"]["available"], "80.00");
    assert_eq!(account["vault"]["unlockable"], "80.00");
    assert_problem(
        app.post_money("/v1/vault/lock", &ann, &json!({"amount": "20.01"})).await,
        422,
        "insufficient_funds",
    )
    .await;

    let res = app.post_money("/v1/vault/unlock", &ann, &json!({"amount": "30.00"})).await;
    assert_eq!(res.status(), StatusCode::CREATED);
    let unlocked: Value = res.json().await.unwrap();
    assert_eq!(unlocked["kind"], "vault_unlock");
    assert_eq!(unlocked["account"]["credit"]["limit"], "50.00", "unlocking lowers the limit");
    assert_eq!(unlocked["account"]["wallet"]["balance"], "50.00");
    assert_problem(
        app.post_money("/v1/vault/unlock", &ann, &json!({"amount": "50.01"})).await,
        422,
        "insufficient_funds",
    )
    .await;

    // With a purchase of 35.00 held against the vault, only 15.00 is free.
    let user_id = unlocked["account"]["user_id"].as_str().unwrap().to_owned();
    let shop: Value =
        app.post_as_admin("/v1/admin/merchants", &admin, &json!({"name": "Shop"})).await.json().await.unwrap();
    let purchase = json!({"merchant_id": shop["id"], "amount": "35.00", "installments": 1});
    let held: Value = app.post_money("/v1/credit/purchases", &ann, &purchase).await.json().await.unwrap();
    let account = app.account(&ann).await;
    assert_eq!(account["vault"]["pledged"], "35.00");
    assert_eq!(account["vault"]["unlockable"], "15.00");
    assert_eq!(account["credit"]["exposure"], "35.00");
    assert_eq!(account["credit"]["available"], "15.00");
    let body = assert_problem(
        app.post_money("/v1/vault/unlock", &ann, &json!({"amount": "15.01"})).await,
        422,
        "vault_pledged",
    )
    .await;
    assert!(body["detail"].as_str().unwrap().contains("15.00"), "{body}");
    let res = app.post_money("/v1/vault/unlock", &ann, &json!({"amount": "15.00"})).await;
    assert_eq!(res.status(), StatusCode::CREATED);
    let account = app.account(&ann).await;
    assert_eq!(account["vault"]["balance"], "35.00");
    assert_eq!(account["credit"]["available"], "0.00");

    // On a general line the vault backs nothing: unlocking keeps the limit.
    let upgrade = json!({"line": "general", "limit": "500.00", "reason": "test", "override": true});
    let approver = app.admin_token("other_admin").await;
    app.change_line_with_approval(&admin, &approver, &user_id, &upgrade).await;
    let res = app.post_money("/v1/vault/unlock", &ann, &json!({"amount": "35.00"})).await;
    assert_eq!(res.status(), StatusCode::CREATED);
    let account: Value = res.json().await.unwrap();
    assert_eq!(account["account"]["credit"]["limit"], "500.00");
    assert_eq!(account["account"]["vault"]["balance"], "0.00");
    let cancel = format!("/v1/credit/purchases/{}/cancel", held["id"].as_str().unwrap());
    app.post_as(&cancel, &ann).await.error_for_status().unwrap();
    assert_eq!(app.account(&ann).await["credit"]["held"], "0.00");
    app.assert_ledger_clean(&admin).await;
}

async fn frozen_users_read_but_cannot_move_money(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let admin = app.admin_token("root_admin").await;
    let ann = app.user_token("ann_lee").await;
    let bob = app.user_token("bob_99").await;
    app.deposit(&ann, "100.00").await;
    app.post_money("/v1/vault/lock", &ann, &json!({"amount": "10.00"})).await.error_for_status().unwrap();
    let ann_id = app.account(&ann).await["user_id"].as_str().unwrap().to_owned();
    let freeze = json!({"reason": "test"});
    app.post_as_admin(&format!("/v1/admin/users/{ann_id}/freeze"), &admin, &freeze).await.error_for_status().unwrap();

    // Frozen: no money leaves on the user's own initiative.
    for (path, body) in [
        ("/v1/wallet/withdrawals", json!({"amount": "1.00"})),
        ("/v1/vault/unlock", json!({"amount": "1.00"})),
        ("/v1/transfers", json!({"to_username": "bob_99", "amount": "1.00"})),
    ] {
        assert_problem(app.post_money(path, &ann, &body).await, 403, "account_frozen").await;
    }
    // Money in, and savings locked away, stay allowed; the movement shows the frozen status.
    for (path, body) in
        [("/v1/wallet/deposits", json!({"amount": "1.00"})), ("/v1/vault/lock", json!({"amount": "1.00"}))]
    {
        let res = app.post_money(path, &ann, &body).await;
        assert_eq!(res.status(), StatusCode::CREATED, "{path}");
        assert_eq!(res.json::<Value>().await.unwrap()["account"]["status"], "frozen");
    }
    let account = app.account(&ann).await;
    assert_eq!(account["status"], "frozen");
    assert_eq!(account["wallet"]["balance"], "90.00");
    assert_eq!(account["vault"]["balance"], "11.00");
    assert_eq!(app.get_as("/v1/transactions", &ann).await.status(), StatusCode::OK);
    assert_eq!(app.get_as("/v1/me", &ann).await.status(), StatusCode::OK);
    // Logging in still works for a frozen user.
    assert!(app.login("ann_lee").await["access_token"].is_string());
    // A frozen account can still be paid.
    app.deposit(&bob, "5.00").await;
    let res = app.post_money("/v1/transfers", &bob, &json!({"to_username": "ann_lee", "amount": "5.00"})).await;
    assert_eq!(res.status(), StatusCode::CREATED);
    let ann_history = app.all_movements(&ann, 10).await;
    assert_eq!(ann_history[0]["kind"], "transfer_in");
    assert_eq!(ann_history[0]["account"]["status"], "frozen");

    app.post_as_admin(&format!("/v1/admin/users/{ann_id}/unfreeze"), &admin, &freeze).await.error_for_status().unwrap();
    app.post_money("/v1/wallet/withdrawals", &ann, &json!({"amount": "95.00"})).await.error_for_status().unwrap();
    app.assert_ledger_clean(&admin).await;
}

async fn idempotency_replays_refuses_mismatch_and_is_per_user(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let admin = app.admin_token("root_admin").await;
    let ann = app.user_token("ann_lee").await;
    let bob = app.user_token("bob_99").await;

    let first = app.post_keyed("/v1/wallet/deposits", &ann, "key-1", &json!({"amount": "10.00"})).await;
    assert_eq!(first.status(), StatusCode::CREATED);
    assert!(first.headers().get("idempotent-replayed").is_none());
    let first_body = first.text().await.unwrap();

    // The same request again, even formatted differently, replays the stored answer.
    let again = app
        .client
        .post(app.url("/v1/wallet/deposits"))
        .bearer_auth(&ann)
        .header("idempotency-key", "key-1")
        .header("content-type", "application/json")
        .body("{ \"amount\" :  \"10.00\" }")
        .send()
        .await
        .unwrap();
    assert_eq!(again.status(), StatusCode::CREATED);
    assert_eq!(again.headers()["idempotent-replayed"], "true");
    assert_eq!(again.text().await.unwrap(), first_body);
    assert_eq!(app.account(&ann).await["wallet"]["balance"], "10.00", "one effect");

    // Same key, different body or different route: refused.
    assert_problem(
        app.post_keyed("/v1/wallet/deposits", &ann, "key-1", &json!({"amount": "11.00"})).await,
        422,
        "idempotency_key_reused",
    )
    .await;
    assert_problem(
        app.post_keyed("/v1/wallet/withdrawals", &ann, "key-1", &json!({"amount": "10.00"})).await,
        422,
        "idempotency_key_reused",
    )
    .await;

    // Keys belong to one user: bob's key-1 is his own.
    let bobs = app.post_keyed("/v1/wallet/deposits", &bob, "key-1", &json!({"amount": "10.00"})).await;
    assert_eq!(bobs.status(), StatusCode::CREATED);
    assert!(bobs.headers().get("idempotent-replayed").is_none());
    assert_eq!(app.account(&bob).await["wallet"]["balance"], "10.00");

    // A refusal stores nothing: once there is money, the same key goes through.
    let key = "retry-after-refusal";
    assert_problem(
        app.post_keyed("/v1/wallet/withdrawals", &bob, key, &json!({"amount": "15.00"})).await,
        422,
        "insufficient_funds",
    )
    .await;
    app.deposit(&bob, "5.00").await;
    let res = app.post_keyed("/v1/wallet/withdrawals", &bob, key, &json!({"amount": "15.00"})).await;
    assert_eq!(res.status(), StatusCode::CREATED);

    // Eight concurrent requests with one key: one effect, every answer the same movement.
    let one = json!({"amount": "1.00"});
    let requests = (0..8).map(|_| app.post_keyed("/v1/wallet/deposits", &ann, "burst", &one));
    let responses = futures_util::future::join_all(requests).await;
    let mut ids = Vec::new();
    for res in responses {
        assert_eq!(res.status(), StatusCode::CREATED);
        let body: Value = res.json().await.unwrap();
        ids.push(body["id"].as_str().unwrap().to_owned());
    }
    ids.dedup();
    assert_eq!(ids.len(), 1, "all eight answers describe one movement");
    assert_eq!(app.account(&ann).await["wallet"]["balance"], "11.00");
    assert_eq!(app.all_movements(&ann, 100).await.len(), 2);

    // Keys expire after the retention: the cleanup removes them.
    app.execute_sql("UPDATE idempotency_keys SET created_at = '2000-01-01 00:00:00'");
    let state = vaultline::startup::build_state(app.settings.clone(), false).unwrap();
    let cleaned = vaultline::jobs::cleanup_once(&state).await.unwrap();
    assert_eq!(cleaned.idempotency_keys, 5);
    app.assert_ledger_clean(&admin).await;
}

async fn idempotency_key_must_be_present_and_printable(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let ann = app.user_token("ann_lee").await;
    let res = app.client.post(app.url("/v1/wallet/deposits")).bearer_auth(&ann).json(&json!({"amount": "1.00"})).send();
    assert_problem(res.await.unwrap(), 400, "idempotency_key_required").await;
    for key in ["", "\t", "tab\there", &"k".repeat(256)] {
        let res = app.post_keyed("/v1/wallet/deposits", &ann, key, &json!({"amount": "1.00"})).await;
        assert_problem(res, 400, "validation_error").await;
    }
    let res = app.post_keyed("/v1/wallet/deposits", &ann, &"k".repeat(255), &json!({"amount": "1.00"})).await;
    assert_eq!(res.status(), StatusCode::CREATED, "255 printable characters are fine");
    let res = app.post_keyed("/v1/wallet/deposits", &ann, "a key with spaces ~!", &json!({"amount": "1.00"})).await;
    assert_eq!(res.status(), StatusCode::CREATED);
    assert_eq!(app.account(&ann).await["wallet"]["balance"], "2.00");
}

async fn history_pages_cover_every_movement_once(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let ann = app.user_token("ann_lee").await;
    let bob = app.user_token("bob_99").await;
    app.deposit(&bob, "100.00").await;
    for i in 1..=7 {
        app.deposit(&ann, &format!("{i}.00")).await;
    }
    app.post_money("/v1/vault/lock", &ann, &json!({"amount": "5.00"})).await.error_for_status().unwrap();
    app.post_money("/v1/transfers", &bob, &json!({"to_username": "ann_lee", "amount": "9.99"}))
        .await
        .error_for_status()
        .unwrap();

    let all = app.all_movements(&ann, 100).await;
    assert_eq!(all.len(), 9);
    assert_eq!(all[0]["kind"], "transfer_in", "newest first");
    assert_eq!(all[8]["amount"], "1.00", "oldest last");
    for size in [1, 2, 4, 9, 10] {
        let paged = app.all_movements(&ann, size).await;
        assert_eq!(paged, all, "page size {size}");
    }
    // While pages are read, new movements do not shift or repeat what is being read.
    let first: Value = app.get_as("/v1/transactions?limit=3", &ann).await.json().await.unwrap();
    app.deposit(&ann, "0.01").await;
    let cursor = first["next_cursor"].as_str().unwrap();
    let second: Value =
        app.get_as(&format!("/v1/transactions?limit=3&cursor={cursor}"), &ann).await.json().await.unwrap();
    assert_eq!(second["items"].as_array().unwrap().as_slice(), &all[3..6]);

    // Balances in history tell the story in order.
    let wallets: Vec<i64> = all.iter().rev().map(|m| minor(&m["account"]["wallet"]["balance"])).collect();
    assert_eq!(wallets, [100, 300, 600, 1000, 1500, 2100, 2800, 2300, 3299]);

    for bad in ["cursor=nope", "cursor=%%%", "limit=0", "limit=101", "limit=ten"] {
        assert_problem(app.get_as(&format!("/v1/transactions?{bad}"), &ann).await, 400, "validation_error").await;
    }
    assert!(app.all_movements(&bob, 5).await.iter().all(|m| m["kind"] != "deposit" || m["amount"] == "100.00"));
}

async fn money_routes_need_a_token(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    for path in ["/v1/wallet/deposits", "/v1/wallet/withdrawals", "/v1/vault/lock", "/v1/vault/unlock", "/v1/transfers"]
    {
        let res = app.client.post(app.url(path)).header("idempotency-key", "k").json(&json!({"amount": "1.00"})).send();
        assert_problem(res.await.unwrap(), 401, "unauthorized").await;
    }
    for path in ["/v1/me/account", "/v1/transactions"] {
        assert_problem(app.get(path).await, 401, "unauthorized").await;
    }
}
