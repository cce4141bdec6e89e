//! Group commit on PostgreSQL writes a batch's transfers together, in one statement
//! (`vl_batch_transfers`), where no operation left to run one by one comes between, and runs
//! the rest one by one. The same batch sent to one
//! database and the same operations applied one by one, in the batch's order, to another must
//! give the same answers, balances, histories and events, with a clean ledger on both: the
//! shortcut is never a second rule. PostgreSQL only (SQLite runs each operation's own
//! statements in a batch).

use serde_json::Value;
use uuid::Uuid;
use vaultline::domain::money::{Currency, MoneyPolicy};
use vaultline::domain::user::Username;
use vaultline::ledger::{self as money, Answer, Answered, Call, MoneyOp};
use vaultline::store::gate::{Budget, Gate};
use vaultline::store::{DbTarget, StoreError};

use crate::helpers::{Backend, TestApp};

const CAPS: vaultline::domain::limits::VelocityLimits =
    vaultline::domain::limits::VelocityLimits { outflow_24h_minor: Some(5_000_000), unlocks_per_day: Some(10) };

const USERS: [&str; 13] = [
    "ann_tg", "bob_tg", "cat_tg", "dan_tg", "eve_tg", "fay_tg", "gus_tg", "hal_tg", "ivy_tg", "kim_tg", "lee_tg",
    "mia_tg", "ned_tg",
];

/// The batch, in order: (sender, operation, key), with what each is there to show.
fn batch_ops() -> Vec<(&'static str, MoneyOp, &'static str)> {
    let policy = MoneyPolicy::from_config(Currency::new("CNY", 2).unwrap(), "1000000.00").unwrap();
    let amount = |text: &str| policy.parse(text).unwrap();
    let to = |name: &str| Username::parse(name).unwrap();
    let transfer = |name: &str, text: &str| MoneyOp::Transfer { to: to(name), amount: amount(text), note: None };
    vec![
        // Independent: together.
        ("ann_tg", transfer("bob_tg", "10.00"), "k0"),
        ("cat_tg", transfer("dan_tg", "20.00"), "k1"),
        // Sends on what cat just sent dan (dan has 120.00), to ann, who sent before: together,
        // on the balances the two before leave.
        ("dan_tg", transfer("ann_tg", "115.00"), "k2"),
        // Not enough money: refused, one by one.
        ("eve_tg", transfer("fay_tg", "50.00"), "k3"),
        // Touches fay, whom the refused transfer named: one by one.
        ("fay_tg", MoneyOp::Deposit(amount("7.00")), "k4"),
        // A key gus used before for this very transfer: a replay, one by one.
        ("gus_tg", transfer("hal_tg", "3.00"), "used"),
        // Nobody by that name: refused.
        ("ivy_tg", transfer("nobody_tg", "1.00"), "k6"),
        // Independent again: together.
        ("kim_tg", transfer("lee_tg", "1.00"), "k7"),
        // Sends on what it was sent just now (lee has 2.00): together, after it.
        ("lee_tg", transfer("ned_tg", "1.50"), "k8"),
        // A note, to ned again: together.
        (
            "mia_tg",
            MoneyOp::Transfer {
                to: to("ned_tg"),
                amount: amount("0.50"),
                note: vaultline::domain::movement::Note::parse("lunch").unwrap(),
            },
            "k9",
        ),
    ]
}

fn gate() -> Gate {
    let window_start = chrono::Utc::now().date_naive().and_hms_opt(0, 0, 0).unwrap();
    Gate { token_version: Some(0), budget: Some(Budget { window_start, requests_max: 1_000, retry_after_secs: 60 }) }
}

/// An answer without what differs between two databases (ids and times).
fn shape(answer: &Result<Answer, StoreError>) -> String {
    let movement = |m: &vaultline::domain::movement::Movement| {
        format!("{:?} {} {:?} {:?} {:?} {:?}", m.kind, m.amount_minor, m.counterparty, m.note, m.status, m.after)
    };
    match answer {
        Ok(Answered::Fresh(m)) => format!("fresh {}", movement(m)),
        Ok(Answered::Replay(m)) => format!("replay {}", movement(m)),
        Ok(Answered::Mismatch) => "mismatch".into(),
        Ok(Answered::Stored(_)) => "stored".into(),
        Err(e) => format!("error {e:?}"),
    }
}

/// `value` without the user ids it shows (each database has its own).
fn without_ids(mut value: Value) -> Value {
    match &mut value {
        Value::Object(map) => {
            map.remove("user_id");
            for v in map.values_mut() {
                *v = without_ids(v.take());
            }
        }
        Value::Array(items) => items.iter_mut().for_each(|v| *v = without_ids(v.take())),
        _ => {}
    }
    value
}

/// A fresh database with the users and their money; their ids and tokens.
async fn set_up(app: &TestApp) -> std::collections::HashMap<&'static str, (Uuid, String)> {
    let mut users = std::collections::HashMap::new();
    for name in USERS {
        let token = app.user_token(name).await;
        let me = app.get_as("/v1/me", &token).await.json::<Value>().await.unwrap();
        users.insert(name, (Uuid::parse_str(me["id"].as_str().unwrap()).unwrap(), token));
    }
    for (name, amount) in
        [("ann_tg", "100.00"), ("cat_tg", "100.00"), ("dan_tg", "100.00"), ("eve_tg", "5.00")].into_iter().chain([
            ("gus_tg", "100.00"),
            ("ivy_tg", "100.00"),
            ("kim_tg", "100.00"),
            ("lee_tg", "1.00"),
            ("mia_tg", "1.00"),
        ])
    {
        app.deposit(&users[name].1, amount).await;
    }
    users
}

/// Runs the batch on `app`'s database, together (one batch) or one by one; the answers in
/// order and how many were written together.
async fn run(app: &TestApp, ids: Vec<Uuid>, together: bool) -> (Vec<String>, usize) {
    let settings = app.settings.database.clone();
    tokio::task::spawn_blocking(move || {
        let mut conn = DbTarget::parse(&settings.url, &settings).unwrap().connect().unwrap();
        let batch: Vec<(Call, MoneyOp)> = batch_ops()
            .into_iter()
            .zip(ids)
            .map(|((_, op, key), user_id)| {
                let request_hash = format!("{op:?}");
                let call = Call {
                    user_id,
                    key: key.into(),
                    request_hash,
                    now: vaultline::domain::time::now(),
                    limits: CAPS,
                    gate: gate(),
                };
                (call, op)
            })
            .collect();
        // gus used his key for this very transfer before the batch.
        let (call, op) = &batch[5];
        assert!(matches!(money::apply_on(&mut conn, 0, call, op), Ok(Answered::Fresh(_))));
        if together {
            let (answers, written_together) = money::pg_batch_on(&mut conn, &batch);
            (answers.iter().map(shape).collect(), written_together)
        } else {
            (batch.iter().map(|(call, op)| shape(&money::apply_on(&mut conn, 0, call, op))).collect(), 0)
        }
    })
    .await
    .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[cfg_attr(not(postgres_tests), ignore = "VAULTLINE_TEST_POSTGRES_URL was not set at build time")]
async fn a_batchs_transfers_are_written_together_as_if_one_by_one() {
    let (batched, alone) = (TestApp::spawn(Backend::postgres()).await, TestApp::spawn(Backend::postgres()).await);
    let mut results = Vec::new();
    for (app, together) in [(&batched, true), (&alone, false)] {
        let users = set_up(app).await;
        let ids = batch_ops().iter().map(|(name, _, _)| users[name].0).collect();
        let (answers, written_together) = run(app, ids, together).await;
        let mut accounts = Vec::new();
        for name in USERS {
            let token = &users[name].1;
            let history: Vec<Value> = app
                .all_movements(token, 50)
                .await
                .into_iter()
                .map(|m| {
                    without_ids(serde_json::json!([m["kind"], m["amount"], m["counterparty"], m["note"], m["account"]]))
                })
                .collect();
            let events = app.get_as("/v1/events?limit=100", token).await.json::<Value>().await.unwrap();
            let events: Vec<Value> = events["items"].as_array().unwrap().iter().map(|e| e["type"].clone()).collect();
            accounts.push((name, without_ids(app.account(token).await), history, events));
        }
        let admin = app.admin_token("tg_admin").await;
        app.assert_ledger_clean(&admin).await;
        results.push((answers, written_together, accounts));
    }
    let (one_by_one, _, alone_accounts) = results.pop().unwrap();
    let (answers, written_together, batched_accounts) = results.pop().unwrap();
    // ann->bob, cat->dan, dan->ann, kim->lee, lee->ned, mia->ned: together; the rest, one by one.
    assert_eq!(written_together, 6, "{answers:#?}");
    for (n, (got, want)) in answers.iter().zip(&one_by_one).enumerate() {
        assert_eq!(got, want, "operation {n} answered differently in the batch");
    }
    for n in [0, 1, 2, 7, 8, 9] {
        assert!(answers[n].starts_with("fresh"), "{n}: {}", answers[n]);
    }
    assert!(answers[5].starts_with("replay"), "{}", answers[5]);
    assert!(answers[6].contains("RecipientNotFound") || answers[6].contains("recipient"), "{}", answers[6]);
    assert!(answers[3].contains("InsufficientFunds") || answers[3].contains("insufficient"), "{}", answers[3]);
    for (got, want) in batched_accounts.iter().zip(&alone_accounts) {
        assert_eq!(got, want, "{} ends differently", got.0);
    }
}
