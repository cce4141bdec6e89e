//! The model test's world: the running service, the customers as the model sees them, and
//! how one reads the service's side of a customer to compare.

use chrono::Utc;
use serde_json::{Value, json};
use uuid::Uuid;
use vaultline::domain::account::{AccountState, CreditLine};
use vaultline::domain::credit::PurchaseState;
use vaultline::domain::limits::VelocityLimits;
use vaultline::domain::money::MoneyPolicy;
use vaultline::domain::user::UserStatus;
use vaultline::ledger::model::{Op, PayoffFound, PurchaseFound, Standing};
use vaultline::store::DbTarget;
use vaultline::store::purchases::purchase_debt;

use crate::helpers::{Backend, TestApp, minor};

/// The caps the script runs under (the service's configuration says the same).
pub const OUTFLOW_CAP: &str = "5000.00";
pub const UNLOCKS_PER_DAY: i64 = 12;

/// xorshift64*: small and deterministic.
pub struct Rng(pub u64);

impl Rng {
    pub fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
    pub fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
    /// 1 ..= max_minor.
    pub fn minor(&mut self, max_minor: i64) -> i64 {
        1 + self.below(max_minor as u64) as i64
    }
    pub fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[self.below(items.len() as u64) as usize]
    }
}

pub fn money(minor: i64) -> String {
    format!("{}.{:02}", minor / 100, minor % 100)
}

pub struct Customer {
    pub name: String,
    pub id: String,
    pub token: String,
    /// What the model says the customer's account is.
    pub standing: Standing,
    /// The customer's purchases (bill plans included), as the model knows them.
    pub purchases: Vec<(String, PurchaseFound)>,
    /// The last request that moved money, to replay under its key.
    pub last_keyed: Option<(String, Value, String, u16)>,
}

pub struct World {
    pub app: TestApp,
    pub admin: String,
    pub merchant: String,
    pub customers: Vec<Customer>,
    pub limits: VelocityLimits,
    pub money: MoneyPolicy,
    /// Months billing has been run ahead (a run never goes back).
    pub billed_months: u32,
    /// The UTC day the unlock counts are for.
    pub day: chrono::NaiveDate,
    pub keys: u64,
}

impl World {
    pub async fn new(backend: Backend) -> World {
        let app = TestApp::spawn_with(
            backend,
            &[
                ("credit.billing_job_enabled", "false"),
                ("limits.outflow_24h_max", OUTFLOW_CAP),
                ("limits.vault_unlocks_per_day", "12"),
                ("credit.refund_four_eyes_limit", "100000000.00"),
            ],
        )
        .await;
        let admin = app.admin_token("model_admin").await;
        let approver = app.admin_token("model_approver").await;
        let res = app.post_as_admin("/v1/admin/merchants", &admin, &json!({"name": "Model Shop"})).await;
        let merchant = res.json::<Value>().await.unwrap()["id"].as_str().unwrap().to_owned();
        let money = app.settings.money_policy().expect("money policy");
        let limits = VelocityLimits {
            outflow_24h_minor: Some(minor(&json!(OUTFLOW_CAP))),
            unlocks_per_day: Some(UNLOCKS_PER_DAY),
        };
        let mut world = World {
            app,
            admin,
            merchant,
            customers: Vec::new(),
            limits,
            money,
            billed_months: 0,
            day: Utc::now().date_naive(),
            keys: 0,
        };
        for name in ["mb_ann", "mb_bob", "mb_cat", "mb_dan"] {
            let token = world.app.user_token(name).await;
            let seen = world.app.account(&token).await;
            let id = seen["user_id"].as_str().unwrap().to_owned();
            let standing = Standing {
                account: account_of(&seen),
                status: UserStatus::Active,
                overdue_count: 0,
                outflow_used_minor: 0,
                unlocks_today: 0,
            };
            world.customers.push(Customer {
                name: name.into(),
                id,
                token,
                standing,
                purchases: Vec::new(),
                last_keyed: None,
            });
        }
        // Both line kinds: the last customer has a general line of 3,000.00.
        let general = json!({"line": "general", "limit": "3000.00", "reason": "model test", "override": true});
        let dan = world.customers[3].id.clone();
        world.app.change_line_with_approval(&world.admin, &approver, &dan, &general).await;
        world.customers[3].standing.account.line = CreditLine::General;
        world.customers[3].standing.account.general_limit_minor = 300_000;
        world
    }

    pub fn key(&mut self) -> String {
        self.keys += 1;
        format!("mb-{}", self.keys)
    }

    /// The service's account of customer `c`, and its status.
    pub async fn seen(&self, c: usize) -> (AccountState, UserStatus) {
        let seen = self.app.account(&self.customers[c].token).await;
        let status = UserStatus::from_db(seen["status"].as_str().unwrap()).unwrap();
        (account_of(&seen), status)
    }

    /// A payoff of purchase `id` by customer `c`: what it owes, read from the store (the parts
    /// by kind of debt, which the account-level model does not carry), and the amount to send
    /// (`pick`: mostly the quote, sometimes one minor unit more or less).
    pub async fn payoff(&self, c: usize, id: &str, pick: u64) -> (Op, i64) {
        let settings = self.app.settings.database.clone();
        let (user, purchase) = (Uuid::parse_str(&self.customers[c].id).unwrap(), Uuid::parse_str(id).unwrap());
        let parts = tokio::task::spawn_blocking(move || {
            let mut conn = DbTarget::parse(&settings.url, &settings).unwrap().connect().unwrap();
            purchase_debt(&mut conn, user, purchase).unwrap()
        })
        .await
        .unwrap();
        let found = parts.as_deref().map(PayoffFound::of);
        let quote = found.map_or(100, |f| f.owed_minor());
        let amount = match pick {
            0..=3 => quote.max(1),
            4 => quote + 1,
            _ => (quote - 1).max(1),
        };
        (Op::Payoff { found, amount }, amount)
    }

    /// Takes what the model cannot say by itself (after billing, refunds, bill plans) from
    /// the service: the account, the overdue count and the purchases.
    pub async fn resync(&mut self, c: usize) {
        let (account, status) = self.seen(c).await;
        let token = self.customers[c].token.clone();
        let bill: Value = self.app.get_as("/v1/credit/bill", &token).await.json().await.unwrap();
        let mut purchases = Vec::new();
        let mut after: Option<String> = None;
        loop {
            let path = match &after {
                Some(cursor) => format!("/v1/credit/purchases?limit=100&after={cursor}"),
                None => "/v1/credit/purchases?limit=100".to_owned(),
            };
            let page: Value = self.app.get_as(&path, &token).await.json().await.unwrap();
            for p in page["items"].as_array().unwrap() {
                let state = stored_state(&p["state"]);
                let found = PurchaseFound { state, amount_minor: minor(&p["amount"]) };
                purchases.push((p["id"].as_str().unwrap().to_owned(), found));
            }
            match page["next_cursor"].as_str() {
                Some(cursor) => after = Some(cursor.to_owned()),
                None => break,
            }
        }
        purchases.reverse();
        let customer = &mut self.customers[c];
        customer.standing.account = account;
        customer.standing.status = status;
        customer.standing.overdue_count = bill["overdue"].as_array().unwrap().len() as i64;
        customer.purchases = purchases;
    }
}

/// The stored state of a purchase from the state the API shows (a captured purchase
/// refunded in full shows `refunded`; refusals name the stored state).
pub fn stored_state(shown: &Value) -> PurchaseState {
    match shown.as_str().expect("a purchase state") {
        "refunded" => PurchaseState::Captured,
        other => PurchaseState::from_db(other).unwrap_or_else(|| panic!("purchase state {other}")),
    }
}

pub fn account_of(seen: &Value) -> AccountState {
    let credit = &seen["credit"];
    let line = CreditLine::from_db(credit["line"].as_str().unwrap()).unwrap();
    AccountState {
        wallet_minor: minor(&seen["wallet"]["balance"]),
        vault_minor: minor(&seen["vault"]["balance"]),
        line,
        general_limit_minor: if line == CreditLine::General { minor(&credit["limit"]) } else { 0 },
        held_minor: minor(&credit["held"]),
        principal_minor: minor(&credit["principal"]),
        fees_minor: minor(&credit["fees"]),
        late_fees_minor: minor(&credit["late_fees"]),
    }
}
