//! The shape of the money path on PostgreSQL: each operation is one round trip on
//! success, counted by the connection's own instrumentation (every query it sends, and
//! every statement it prepares, is one exchange with the server), on the same store
//! function the HTTP handlers call. Each call is a prepared statement, prepared once per
//! connection (its first call is two exchanges). PostgreSQL only: SQLite runs in process.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use diesel::Connection;
use diesel::connection::InstrumentationEvent;
use vaultline::domain::credit::{Purchase, PurchaseState};
use vaultline::domain::money::{Currency, MoneyPolicy};
use vaultline::domain::user::Username;
use vaultline::ledger::credit_pg;
use vaultline::ledger::{self as money, Answer, Answered, Call, MoneyOp};
use vaultline::store::gate::{Budget, Gate};
use vaultline::store::{DbTarget, StoreError};

use crate::helpers::{Backend, TestApp, minor};

const CAPS: vaultline::domain::limits::VelocityLimits =
    vaultline::domain::limits::VelocityLimits { outflow_24h_minor: Some(5_000_000), unlocks_per_day: Some(10) };

/// The session check (a new user's tokens carry version 0) and a budget that never refuses.
fn gate() -> Gate {
    let window_start = chrono::Utc::now().date_naive().and_hms_opt(0, 0, 0).unwrap();
    Gate { token_version: Some(0), budget: Some(Budget { window_start, requests_max: 1_000, retry_after_secs: 60 }) }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[cfg_attr(not(postgres_tests), ignore = "VAULTLINE_TEST_POSTGRES_URL was not set at build time")]
async fn money_operations_are_one_round_trip_on_postgres() {
    let app = TestApp::spawn(Backend::postgres()).await;
    let ann = app.user_token("ann_trips").await;
    let bob = app.user_token("bob_trips").await;
    app.deposit(&ann, "100.00").await;
    let me = app.get_as("/v1/me", &ann).await.json::<serde_json::Value>().await.unwrap();
    let user_id = uuid::Uuid::parse_str(me["id"].as_str().unwrap()).unwrap();

    let admin = app.admin_token("trips_admin").await;
    let res = app.post_as_admin("/v1/admin/merchants", &admin, &serde_json::json!({"name": "Trips Shop"})).await;
    let merchant_id = res.json::<serde_json::Value>().await.unwrap()["id"].as_str().unwrap().to_owned();
    let merchant_id = uuid::Uuid::parse_str(&merchant_id).unwrap();

    let settings = app.settings.database.clone();
    let counts = tokio::task::spawn_blocking(move || {
        let mut conn = DbTarget::parse(&settings.url, &settings).unwrap().connect().unwrap();
        let trips = Arc::new(AtomicUsize::new(0));
        let counter = trips.clone();
        conn.set_instrumentation(move |event: InstrumentationEvent<'_>| {
            if matches!(event, InstrumentationEvent::StartQuery { .. } | InstrumentationEvent::CacheQuery { .. }) {
                counter.fetch_add(1, Ordering::SeqCst);
            }
        });
        let policy = MoneyPolicy::from_config(Currency::new("CNY", 2).unwrap(), "1000000.00").unwrap();
        let amount = |text: &str| policy.parse(text).unwrap();
        let bob = Username::parse("bob_trips").unwrap();
        let ops = [
            ("deposit", MoneyOp::Deposit(amount("5.00"))),
            ("transfer", MoneyOp::Transfer { to: bob, amount: amount("10.00"), note: None }),
            ("vault_lock", MoneyOp::VaultLock(amount("30.00"))),
            ("vault_unlock", MoneyOp::VaultUnlock(amount("5.00"))),
            ("withdrawal", MoneyOp::Withdrawal(amount("1.00"))),
        ];
        // Each call is a prepared statement: its first call on a connection prepares it, one
        // more exchange for the connection's life. Prepare them all first, by calls whose
        // session check refuses them (a stale token version), which change nothing.
        let stale = |key: &str| Call {
            user_id,
            key: key.into(),
            request_hash: "stale".into(),
            now: vaultline::domain::time::now(),
            limits: CAPS,
            gate: Gate { token_version: Some(-1), budget: None },
        };
        let refused = |result: Result<_, StoreError>| assert!(matches!(result, Err(StoreError::SessionEnded)));
        for (_, op) in &ops {
            refused(money::apply_on(&mut conn, 0, &stale("warm"), op).map(drop));
        }
        refused(money::apply_on(&mut conn, 0, &stale("warm"), &MoneyOp::Repayment(amount("1.00"))).map(drop));
        let unknown = purchase(user_id, merchant_id, 1_00);
        refused(credit_pg::authorize(&mut conn, &stale("warm"), &unknown, "{}").map(drop));
        let rate = rust_decimal::Decimal::new(5, 3);
        refused(credit_pg::capture(&mut conn, &stale("warm"), unknown.id, 10, rate).map(drop));
        let now = vaultline::domain::time::now();
        refused(credit_pg::void(&mut conn, user_id, unknown.id, now, &stale("warm").gate).map(drop));

        let mut counts = Vec::new();
        for (i, (name, op)) in ops.into_iter().enumerate() {
            let call = Call {
                user_id,
                key: format!("trip-{i}"),
                request_hash: format!("hash-{i}"),
                now: vaultline::domain::time::now(),
                // The caps, the session and the budget are checked inside the same call:
                // still one round trip.
                limits: CAPS,
                gate: gate(),
            };
            let before = trips.load(Ordering::SeqCst);
            let answer = money::apply_on(&mut conn, 0, &call, &op).expect(name);
            assert!(matches!(answer, Answer::Fresh(_)), "{name} was applied");
            counts.push((name, trips.load(Ordering::SeqCst) - before));
            // A replay is one round trip too.
            let before = trips.load(Ordering::SeqCst);
            assert!(matches!(money::apply_on(&mut conn, 0, &call, &op).unwrap(), Answer::Replay(_)));
            counts.push(("replay", trips.load(Ordering::SeqCst) - before));
        }
        // A purchase hold (its answer is rendered before the call and saved by it), its
        // capture, a repayment, and a second hold cancelled.
        let count = |name: &'static str, counts: &mut Vec<(&'static str, usize)>, run: &mut dyn FnMut() -> bool| {
            let before = trips.load(Ordering::SeqCst);
            assert!(run(), "{name} answered as expected");
            counts.push((name, trips.load(Ordering::SeqCst) - before));
        };
        let hold = |amount_minor| purchase(user_id, merchant_id, amount_minor);
        let call = |key: &str| Call {
            user_id,
            key: key.into(),
            request_hash: format!("hash-{key}"),
            now: vaultline::domain::time::now(),
            limits: CAPS,
            gate: gate(),
        };
        let bought = hold(12_00);
        let (buy, capture, repay) = (call("hold"), call("capture"), call("repay"));
        for replay in [false, true] {
            count("purchase hold", &mut counts, &mut || {
                matches!(
                    (replay, credit_pg::authorize(&mut conn, &buy, &bought, "{}").unwrap()),
                    (false, Answered::Fresh(_)) | (true, Answered::Replay(_))
                )
            });
            count("capture", &mut counts, &mut || {
                matches!((replay, credit_pg::capture(&mut conn, &capture, bought.id, 10, rate).unwrap()),
                    (false, Answered::Fresh(p)) | (true, Answered::Replay(p)) if p.schedule.len() == 3)
            });
            count("repayment", &mut counts, &mut || {
                matches!(
                    (replay, money::apply_on(&mut conn, 0, &repay, &MoneyOp::Repayment(amount("2.00"))).unwrap()),
                    (false, Answered::Fresh(_)) | (true, Answered::Replay(_))
                )
            });
        }
        let cancelled = hold(1_00);
        let buy = call("hold-2");
        credit_pg::authorize(&mut conn, &buy, &cancelled, "{}").unwrap();
        count("cancel", &mut counts, &mut || {
            credit_pg::void(&mut conn, user_id, cancelled.id, vaultline::domain::time::now(), &gate()).is_ok()
        });
        counts
    })
    .await
    .unwrap();
    for (name, trips) in &counts {
        assert_eq!(*trips, 1, "{name} took {trips} round trips: {counts:?}");
    }

    // The operations took effect, as the API shows them: 100 + 5 - 10 - 30 + 5 - 1 - 2;
    // 12.00 bought and captured, 2.00 of it repaid, the second hold released.
    let account = app.account(&ann).await;
    assert_eq!(minor(&account["credit"]["held"]), 0);
    assert_eq!(minor(&account["credit"]["principal"]), 10_00);
    assert_eq!(minor(&account["wallet"]["balance"]), 67_00);
    assert_eq!(minor(&account["vault"]["balance"]), 25_00);
    assert_eq!(minor(&app.account(&bob).await["wallet"]["balance"]), 10_00);
    app.assert_ledger_clean(&admin).await;
}

/// A hold of `amount_minor` in three parts, as the caller describes it before it is written.
fn purchase(user_id: uuid::Uuid, merchant_id: uuid::Uuid, amount_minor: i64) -> Purchase {
    Purchase {
        id: uuid::Uuid::now_v7(),
        user_id,
        merchant_id,
        amount_minor,
        installments: 3,
        description: None,
        state: PurchaseState::Authorized,
        created_at: vaultline::domain::time::now(),
        schedule: Vec::new(),
        refunded_minor: 0,
        refunds: Vec::new(),
    }
}

/// The whole HTTP request, as the service runs it: a transfer, a vault lock, a purchase, its
/// capture and a repayment each send one statement to PostgreSQL on success (the session
/// check, the request budget and the velocity caps included), counted by the service's own
/// connection instrumentation. Each route runs once first, so its statement is prepared.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[cfg_attr(not(postgres_tests), ignore = "VAULTLINE_TEST_POSTGRES_URL was not set at build time")]
async fn money_requests_are_one_round_trip_over_http_on_postgres() {
    let limits = [
        ("limits.money_requests_per_window", "1000"),
        ("limits.outflow_24h_max", "100000.00"),
        ("limits.vault_unlocks_per_day", "10"),
        // The pool's counter counts every statement: no webhook worker polling beside.
        ("webhooks.enabled", "false"),
    ];
    let app = TestApp::spawn_with(Backend::postgres(), &limits).await;
    let ann = app.user_token("ann_http_trips").await;
    app.user_token("bob_http_trips").await;
    let admin = app.admin_token("http_trips_admin").await;
    let res = app.post_as_admin("/v1/admin/merchants", &admin, &serde_json::json!({"name": "Trip Shop"})).await;
    let merchant = res.json::<serde_json::Value>().await.unwrap()["id"].as_str().unwrap().to_owned();
    app.deposit(&ann, "500.00").await;
    app.post_money("/v1/vault/lock", &ann, &serde_json::json!({"amount": "100.00"})).await;

    let mut counts = Vec::new();
    for round in 0..2 {
        let mut trips = |name: &'static str, before: u64| {
            counts.push((round, name, app.db_statements.load(Ordering::SeqCst) - before));
        };
        let now = || app.db_statements.load(Ordering::SeqCst);
        let before = now();
        let res = app
            .post_money("/v1/transfers", &ann, &serde_json::json!({"to_username": "bob_http_trips", "amount": "1.00"}))
            .await;
        assert_eq!(res.status(), 201);
        trips("transfer", before);
        let before = now();
        assert_eq!(app.post_money("/v1/vault/lock", &ann, &serde_json::json!({"amount": "1.00"})).await.status(), 201);
        trips("vault lock", before);
        let before = now();
        let body = serde_json::json!({"merchant_id": merchant, "amount": "12.00", "installments": 3});
        let res = app.post_money("/v1/credit/purchases", &ann, &body).await;
        assert_eq!(res.status(), 201);
        trips("purchase", before);
        let id = res.json::<serde_json::Value>().await.unwrap()["id"].as_str().unwrap().to_owned();
        let before = now();
        let path = format!("/v1/credit/purchases/{id}/confirm-receipt");
        let res = app.post_keyed(&path, &ann, &format!("confirm-{round}"), &serde_json::json!(null)).await;
        assert_eq!(res.status(), 200);
        trips("capture", before);
        let before = now();
        assert_eq!(
            app.post_money("/v1/credit/repayments", &ann, &serde_json::json!({"amount": "1.00"})).await.status(),
            201
        );
        trips("repayment", before);
    }
    // Round 0 prepares each statement (a second exchange); from then on, one.
    for (round, name, trips) in &counts {
        if *round == 1 {
            assert_eq!(*trips, 1, "{name} took {trips} round trips: {counts:?}");
        }
    }
    app.assert_ledger_clean(&admin).await;
}
