//! Differential test: one seeded random script of money and credit operations (refusals,
//! replays and key misuse included) runs on SQLite and on PostgreSQL, step by step, and
//! every answer must be the same apart from ids and times. Each rule is written once per
//! backend (`ledger/pg.rs` + its SQL functions, `ledger/sqlite.rs` deciding with the model); this is
//! what keeps the two honest. `DIFF_SEED` / `DIFF_STEPS` replay or lengthen a run.

use std::collections::HashMap;

use chrono::{Months, Utc};
use serde_json::{Value, json};

use crate::helpers::{Backend, TestApp};

const USERS: [&str; 3] = ["ann_diff", "bob_diff", "cat_diff"];

/// xorshift64*: small, deterministic, good enough to pick operations.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
    /// An amount in minor units up to `max_minor`, printed as money.
    fn amount(&mut self, max_minor: u64) -> String {
        let minor = 1 + self.below(max_minor);
        format!("{}.{:02}", minor / 100, minor % 100)
    }
}

/// One step of the script, the same for both backends.
#[derive(Clone, Debug)]
enum Step {
    Post {
        user: usize,
        path: &'static str,
        body: Value,
        key: String,
    },
    /// Buyer's action on their `nth` newest purchase: confirm or cancel.
    OnPurchase {
        user: usize,
        nth: u64,
        action: &'static str,
        key: String,
    },
    Bill {
        months_ahead: u32,
    },
    Read {
        user: usize,
        path: &'static str,
    },
}

fn script(seed: u64, steps: usize) -> Vec<Step> {
    let mut rng = Rng(seed | 1);
    let mut keys: Vec<(usize, &'static str, Value, String)> = Vec::new();
    let mut out = Vec::with_capacity(steps);
    for n in 0..steps {
        let user = rng.below(USERS.len() as u64) as usize;
        let key = format!("k{n}");
        let step = match rng.below(24) {
            0..=2 => Step::Post { user, path: "/v1/wallet/deposits", body: json!({"amount": rng.amount(50_000)}), key },
            3 => Step::Post { user, path: "/v1/wallet/withdrawals", body: json!({"amount": rng.amount(30_000)}), key },
            4..=5 => {
                let to = USERS[rng.below(USERS.len() as u64) as usize];
                let body = json!({"to_username": to, "amount": rng.amount(20_000), "note": format!("n{n}")});
                Step::Post { user, path: "/v1/transfers", body, key }
            }
            6..=7 => Step::Post { user, path: "/v1/vault/lock", body: json!({"amount": rng.amount(30_000)}), key },
            8 => Step::Post { user, path: "/v1/vault/unlock", body: json!({"amount": rng.amount(20_000)}), key },
            9..=10 => {
                let installments = [1, 3, 6, 12, 24, 5][rng.below(6) as usize];
                let body =
                    json!({"merchant_id": "MERCHANT", "amount": rng.amount(15_000), "installments": installments});
                Step::Post { user, path: "/v1/credit/purchases", body, key }
            }
            11..=13 => Step::OnPurchase { user, nth: rng.below(3), action: "confirm-receipt", key },
            14 => Step::OnPurchase { user, nth: rng.below(3), action: "cancel", key },
            15..=17 => {
                Step::Post { user, path: "/v1/credit/repayments", body: json!({"amount": rng.amount(6_000)}), key }
            }
            // Billing months ahead expires open holds: now and then.
            18 if rng.below(3) == 0 => Step::Bill { months_ahead: 1 + rng.below(3) as u32 },
            18..=19 => {
                Step::Read { user, path: ["/v1/me/account", "/v1/credit/bill", "/v1/me/score"][rng.below(3) as usize] }
            }
            // The same key again: with the same body (a replay) or another (refused).
            _ if !keys.is_empty() => {
                let (user, path, body, key) = keys[rng.below(keys.len() as u64) as usize].clone();
                let body = if rng.below(3) == 0 { json!({"amount": "0.01"}) } else { body };
                Step::Post { user, path, body, key }
            }
            _ => Step::Read { user, path: "/v1/transactions" },
        };
        if let Step::Post { user, path, body, key } = &step {
            keys.push((*user, *path, body.clone(), key.clone()));
        }
        out.push(step);
    }
    out
}

/// One backend's running app and what the script needs of it.
struct Side {
    app: TestApp,
    admin: String,
    tokens: Vec<String>,
    merchant: String,
    purchases: Vec<Vec<String>>,
    /// Purchases still authorised, as the answers said.
    open: Vec<String>,
    /// Ids and times in order of first appearance, so answers compare without them but
    /// references between them still must agree.
    ids: HashMap<String, String>,
}

impl Side {
    async fn new(backend: Backend) -> Side {
        let app = TestApp::spawn_with(backend, &[("credit.billing_job_enabled", "false")]).await;
        let admin = app.admin_token("diff_admin").await;
        let mut tokens = Vec::new();
        for name in USERS {
            tokens.push(app.user_token(name).await);
        }
        let res = app.post_as_admin("/v1/admin/merchants", &admin, &json!({"name": "Diff Shop"})).await;
        let merchant = res.json::<Value>().await.unwrap()["id"].as_str().unwrap().to_owned();
        Side {
            app,
            admin,
            tokens,
            merchant,
            purchases: vec![Vec::new(); USERS.len()],
            open: Vec::new(),
            ids: HashMap::new(),
        }
    }

    async fn run(&mut self, step: &Step) -> (u16, Value) {
        let res = match step {
            Step::Post { user, path, body, key } => {
                let body = serde_json::from_str(&body.to_string().replace("MERCHANT", &self.merchant)).unwrap();
                self.app.post_keyed(path, &self.tokens[*user], key, &body).await
            }
            Step::OnPurchase { user, nth, action, key } => {
                let mine = &self.purchases[*user];
                if mine.is_empty() {
                    return (0, json!("no purchase yet"));
                }
                // Mostly the newest hold still open; sometimes an older one (refusals).
                let open = mine.iter().rev().find(|id| self.open.contains(*id));
                let id = match (nth, open) {
                    (0 | 1, Some(id)) => id.clone(),
                    _ => mine[mine.len() - 1 - (*nth as usize) % mine.len()].clone(),
                };
                let path = format!("/v1/credit/purchases/{id}/{action}");
                self.app.post_keyed(&path, &self.tokens[*user], key, &json!(null)).await
            }
            Step::Bill { months_ahead } => {
                let as_of = Utc::now().date_naive().checked_add_months(Months::new(*months_ahead)).unwrap();
                self.app.post_as_admin("/v1/admin/billing/run", &self.admin, &json!({"as_of": as_of.to_string()})).await
            }
            Step::Read { user, path } => self.app.get_as(path, &self.tokens[*user]).await,
        };
        let status = res.status().as_u16();
        let replayed = res.headers().get("idempotent-replayed").is_some();
        let body: Value = res.json().await.unwrap_or(Value::Null);
        if let (Step::Post { user, path: "/v1/credit/purchases", .. }, 201, false) = (step, status, replayed) {
            self.purchases[*user].push(body["id"].as_str().unwrap().to_owned());
            self.open.push(body["id"].as_str().unwrap().to_owned());
        }
        if let Step::Bill { .. } = step {
            // Billing months ahead expires every hold.
            self.open.clear();
        }
        if let (Step::OnPurchase { .. }, 200) = (step, status) {
            self.open.retain(|id| body["id"].as_str() != Some(id));
        }
        (status, json!({"replayed": replayed, "body": self.normalize(body)}))
    }

    /// Replaces ids and timestamps by their order of first appearance.
    fn normalize(&mut self, value: Value) -> Value {
        match value {
            Value::String(s) if is_id(&s) => {
                let next = self.ids.len();
                Value::String(self.ids.entry(s).or_insert_with(|| format!("<{next}>")).clone())
            }
            Value::Array(items) => Value::Array(items.into_iter().map(|v| self.normalize(v)).collect()),
            Value::Object(map) => Value::Object(
                map.into_iter()
                    .map(|(k, v)| {
                        // Times differ between runs; the order of events does not.
                        let v = if k == "created_at" { Value::String("<time>".into()) } else { self.normalize(v) };
                        (k, v)
                    })
                    .collect(),
            ),
            other => other,
        }
    }
}

fn is_id(s: &str) -> bool {
    uuid::Uuid::parse_str(s).is_ok()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[cfg_attr(not(postgres_tests), ignore = "VAULTLINE_TEST_POSTGRES_URL was not set at build time")]
async fn sqlite_and_postgres_answer_the_same_script_alike() {
    let postgres = Backend::postgres();
    let seed = std::env::var("DIFF_SEED").ok().and_then(|s| s.parse().ok()).unwrap_or(0x5eed_2026_u64);
    let steps = std::env::var("DIFF_STEPS").ok().and_then(|s| s.parse().ok()).unwrap_or(400);
    let script = script(seed, steps);
    let mut sqlite = Side::new(Backend::Sqlite).await;
    let mut pg = Side::new(postgres).await;
    // (successes, refusals) per route: the script must exercise both to mean anything.
    let mut tally: std::collections::BTreeMap<String, (u32, u32)> = Default::default();
    for (n, step) in script.iter().enumerate() {
        let a = sqlite.run(step).await;
        let b = pg.run(step).await;
        assert_eq!(a, b, "step {n} of seed {seed:#x} answers differently: {step:?}");
        let route = match step {
            Step::Post { path, .. } | Step::Read { path, .. } => path.to_string(),
            Step::OnPurchase { action, .. } => action.to_string(),
            Step::Bill { .. } => "billing".into(),
        };
        let entry = tally.entry(route).or_default();
        if (200..300).contains(&a.0) { entry.0 += 1 } else { entry.1 += 1 }
    }
    eprintln!("seed {seed:#x}: (answered, refused) per route: {tally:?}");
    for route in [
        "/v1/wallet/withdrawals",
        "/v1/transfers",
        "/v1/vault/unlock",
        "/v1/credit/purchases",
        "/v1/credit/repayments",
        "confirm-receipt",
        "cancel",
    ] {
        let (ok, refused) = tally.get(route).copied().unwrap_or_default();
        assert!(ok > 0 && refused > 0, "{route}: {ok} answered, {refused} refused");
    }
    sqlite.app.assert_ledger_clean(&sqlite.admin).await;
    pg.app.assert_ledger_clean(&pg.admin).await;
}
