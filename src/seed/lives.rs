//! The template customers: a few kinds of life, each driven through the service's own API
//! (the same handlers, rules and triggers a client reaches) with billing run month by month
//! into the future, so every derived column, movement, event and installment is what the
//! service itself wrote.

use chrono::{Datelike, Months, NaiveDate, TimeDelta};
use reqwest::Method;
use serde_json::{Value, json};

/// What every seeded customer's password is (and the admins').
pub const PASSWORD: &str = "seeded customer password";
/// The admin who runs billing, refunds and line changes; `SECOND_ADMIN` approves.
pub const ADMIN: &str = "seed_admin";
pub const SECOND_ADMIN: &str = "seed_approver";
/// Billing months the templates live through.
pub const MONTHS: u32 = 14;

/// The kinds of life: one template per kind and variant.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    Saver,
    Spender,
    Repayer,
    Defaulter,
    LatePayer,
    Refunded,
    Canceller,
    Autopay,
    BillPlan,
    General,
    Holder,
    Slipping,
    Frozen,
    Idle,
}

pub const KINDS: [(Kind, &str); 14] = [
    (Kind::Saver, "saver"),
    (Kind::Spender, "spender"),
    (Kind::Repayer, "repayer"),
    (Kind::Defaulter, "defaulter"),
    (Kind::LatePayer, "late_payer"),
    (Kind::Refunded, "refunded"),
    (Kind::Canceller, "canceller"),
    (Kind::Autopay, "autopay"),
    (Kind::BillPlan, "bill_plan"),
    (Kind::General, "general"),
    (Kind::Holder, "holder"),
    (Kind::Slipping, "slipping"),
    (Kind::Frozen, "frozen"),
    (Kind::Idle, "idle"),
];
pub const VARIANTS: u32 = 2;

/// A small deterministic generator (splitmix64).
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Self {
        Rng(seed ^ 0x5eed_5eed_5eed_5eed)
    }
    pub fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }
    /// A key for an idempotent request, a UUID (version 4 layout) from the generator.
    pub fn key(&mut self) -> String {
        let bytes = (u128::from(self.next()) << 64) | u128::from(self.next());
        uuid::Builder::from_random_bytes(bytes.to_be_bytes()).into_uuid().to_string()
    }
}

pub struct Customer {
    pub kind: Kind,
    pub variant: u32,
    pub username: String,
    pub id: String,
    token: String,
    /// Extra cents so no two templates hold quite the same amounts.
    jitter: i64,
}

pub struct Api {
    client: reqwest::Client,
    base: String,
    pub rng: Rng,
    admin: String,
    approver: String,
    merchants: Vec<String>,
}

/// "12.34" from 1234.
pub fn money(minor: i64) -> String {
    format!("{}.{:02}", minor / 100, minor % 100)
}

impl Api {
    async fn send(
        &mut self,
        method: Method,
        path: &str,
        token: Option<&str>,
        keyed: bool,
        body: Option<Value>,
    ) -> Result<Value, String> {
        let mut req = self.client.request(method.clone(), format!("{}{path}", self.base));
        if let Some(token) = token {
            req = req.bearer_auth(token);
        }
        if keyed {
            req = req.header("idempotency-key", self.rng.key());
        }
        if let Some(body) = body {
            req = req.json(&body);
        }
        let res = req.send().await.map_err(|e| format!("{method} {path}: {e}"))?;
        let status = res.status();
        let text = res.text().await.map_err(|e| format!("{method} {path}: {e}"))?;
        if !status.is_success() {
            return Err(format!("{method} {path}: {status}: {text}"));
        }
        Ok(if text.is_empty() { Value::Null } else { serde_json::from_str(&text).map_err(|e| e.to_string())? })
    }

    async fn login(&mut self, username: &str) -> Result<String, String> {
        let body = json!({"username": username, "password": PASSWORD});
        let tokens = self.send(Method::POST, "/v1/auth/login", None, false, Some(body)).await?;
        tokens["access_token"].as_str().map(str::to_owned).ok_or_else(|| format!("login {username}: {tokens}"))
    }

    async fn admin_post(&mut self, path: &str, keyed: bool, body: Value) -> Result<Value, String> {
        let admin = self.admin.clone();
        self.send(Method::POST, path, Some(&admin), keyed, Some(body)).await
    }

    async fn money_post(&mut self, c: &Customer, path: &str, body: Value) -> Result<Value, String> {
        self.send(Method::POST, path, Some(&c.token), true, Some(body)).await
    }

    async fn deposit(&mut self, c: &Customer, minor: i64) -> Result<(), String> {
        self.money_post(c, "/v1/wallet/deposits", json!({"amount": money(minor + c.jitter)})).await.map(drop)
    }

    async fn lock(&mut self, c: &Customer, minor: i64) -> Result<(), String> {
        self.money_post(c, "/v1/vault/lock", json!({"amount": money(minor)})).await.map(drop)
    }

    async fn transfer(&mut self, c: &Customer, to: &str, minor: i64, note: &str) -> Result<(), String> {
        let body = json!({"to_username": to, "amount": money(minor), "note": note});
        self.money_post(c, "/v1/transfers", body).await.map(drop)
    }

    /// Buys (a hold); answers the purchase id.
    async fn buy(&mut self, c: &Customer, minor: i64, parts: u32) -> Result<String, String> {
        let merchant = self.merchants[(self.rng.next() % self.merchants.len() as u64) as usize].clone();
        let body = json!({"merchant_id": merchant, "amount": money(minor), "installments": parts,
                          "description": "seeded order"});
        let p = self.money_post(c, "/v1/credit/purchases", body).await?;
        p["id"].as_str().map(str::to_owned).ok_or_else(|| format!("purchase: {p}"))
    }

    async fn bought(&mut self, c: &Customer, minor: i64, parts: u32) -> Result<String, String> {
        let id = self.buy(c, minor, parts).await?;
        self.money_post(c, &format!("/v1/credit/purchases/{id}/confirm-receipt"), Value::Null).await?;
        Ok(id)
    }

    async fn refund(&mut self, purchase: &str, minor: i64) -> Result<(), String> {
        let body = json!({"amount": money(minor), "reason": "merchant refund notice"});
        self.admin_post(&format!("/v1/admin/purchases/{purchase}/refunds"), true, body).await.map(drop)
    }

    /// Pays what the bill says is due now (nothing when nothing is).
    async fn pay_bill(&mut self, c: &Customer) -> Result<(), String> {
        let bill = self.send(Method::GET, "/v1/credit/bill", Some(&c.token), false, None).await?;
        let due = bill["total_due"].as_str().unwrap_or("0.00").to_owned();
        if due != "0.00" {
            self.money_post(c, "/v1/credit/repayments", json!({"amount": due})).await?;
        }
        Ok(())
    }

    async fn bill_as_of(&mut self, date: NaiveDate) -> Result<Value, String> {
        self.admin_post("/v1/admin/billing/run", false, json!({"as_of": date.to_string()})).await
    }

    /// A general line with an override: asked by one admin, approved by the other.
    async fn general_line(&mut self, c: &Customer, limit: i64) -> Result<(), String> {
        let body =
            json!({"line": "general", "limit": money(limit), "reason": "seeded good customer", "override": true});
        let pending = self.admin_post(&format!("/v1/admin/users/{}/credit-line", c.id), true, body).await?;
        let request = pending["request_id"].as_str().ok_or_else(|| format!("credit line: {pending}"))?.to_owned();
        let approver = self.approver.clone();
        let path = format!("/v1/admin/credit-requests/{request}/approve");
        self.send(Method::POST, &path, Some(&approver), false, Some(json!({"reason": "second pair of eyes"}))).await?;
        Ok(())
    }
}

fn scaled(c: &Customer, major: i64) -> i64 {
    major * 100 * i64::from(c.variant)
}

/// Drives every template's life against the service at `base`; answers the customers.
pub async fn live(base: &str, rng: Rng) -> Result<Vec<Customer>, String> {
    let client = reqwest::Client::builder().build().map_err(|e| e.to_string())?;
    let mut api = Api {
        client,
        base: base.to_owned(),
        rng,
        admin: String::new(),
        approver: String::new(),
        merchants: Vec::new(),
    };
    api.admin = api.login(ADMIN).await?;
    api.approver = api.login(SECOND_ADMIN).await?;
    for name in ["Tmall Store", "Corner Books", "Metro Electronics", "Daily Grocer"] {
        let m = api.admin_post("/v1/admin/merchants", false, json!({"name": name})).await?;
        api.merchants.push(m["id"].as_str().unwrap_or_default().to_owned());
    }

    let mut customers = Vec::new();
    for variant in 1..=VARIANTS {
        for (kind, name) in KINDS {
            let username = format!("{name}_{variant}");
            let body = json!({"username": username, "password": PASSWORD});
            let user = api.send(Method::POST, "/v1/auth/register", None, false, Some(body)).await?;
            let id = user["user"]["id"].as_str().ok_or_else(|| format!("register: {user}"))?.to_owned();
            let token = api.login(&username).await?;
            let jitter = (api.rng.next() % 100) as i64;
            customers.push(Customer { kind, variant, username, id, token, jitter });
        }
    }
    let partner = |c: &Customer, kind: Kind| format!("{}_{}", KINDS.iter().find(|k| k.0 == kind).unwrap().1, c.variant);

    // Opening: money in, vaults locked, lines set.
    for c in &customers {
        let (deposit, vault) = match c.kind {
            Kind::Saver => (3000, 1000),
            Kind::Spender => (1500, 0),
            Kind::Repayer => (4000, 2500),
            Kind::Defaulter => (1500, 1000),
            Kind::LatePayer => (3000, 2000),
            Kind::Refunded => (3000, 2000),
            Kind::Canceller => (1000, 800),
            Kind::Autopay => (5000, 2000),
            Kind::BillPlan => (3000, 2000),
            Kind::General => (500, 0),
            Kind::Holder => (1000, 800),
            Kind::Slipping => (3000, 2000),
            Kind::Frozen => (800, 0),
            Kind::Idle => (50, 0),
        };
        api.deposit(c, scaled(c, deposit)).await?;
        if vault > 0 {
            api.lock(c, scaled(c, vault)).await?;
        }
        match c.kind {
            Kind::Autopay => {
                let sources = if c.variant == 1 { json!(["wallet", "vault"]) } else { json!(["wallet"]) };
                let body = json!({"enabled": true, "sources": sources});
                let path = format!("{}/v1/me/autopay", api.base);
                let res =
                    api.client.put(path).bearer_auth(&c.token).json(&body).send().await.map_err(|e| e.to_string())?;
                if !res.status().is_success() {
                    return Err(format!("autopay: {}", res.text().await.unwrap_or_default()));
                }
            }
            Kind::General => api.general_line(c, scaled(c, 3000)).await?,
            _ => {}
        }
    }

    let today = chrono::Utc::now().date_naive();
    let first_due = today.with_day(1).and_then(|d| d.checked_add_months(Months::new(1))).and_then(|d| d.with_day(10));
    let first_due = first_due.ok_or("no first due date")?;
    for month in 0..MONTHS {
        let due = first_due.checked_add_months(Months::new(month)).ok_or("date out of range")?;
        // Before the statement: buying, moving money.
        for c in &customers {
            match (c.kind, month) {
                (Kind::Saver, m) => {
                    api.deposit(c, scaled(c, 200)).await?;
                    api.lock(c, scaled(c, 100)).await?;
                    if m % 3 == 0 {
                        api.transfer(c, &partner(c, Kind::Spender), 2000, "rent share").await?;
                    }
                    if m == 5 {
                        api.money_post(c, "/v1/vault/unlock", json!({"amount": money(scaled(c, 150))})).await?;
                    }
                }
                (Kind::Spender, _) => {
                    api.deposit(c, scaled(c, 400)).await?;
                    api.transfer(c, &partner(c, Kind::Saver), 5000, "dinner").await?;
                    api.transfer(c, &partner(c, Kind::Frozen), 1500, "").await?;
                    api.money_post(c, "/v1/wallet/withdrawals", json!({"amount": money(scaled(c, 100))})).await?;
                }
                (Kind::Repayer, 0) => drop(api.bought(c, scaled(c, 1200), 12).await?),
                (Kind::Repayer, 4) => drop(api.bought(c, scaled(c, 300), 3).await?),
                (Kind::Repayer, 8) => drop(api.bought(c, scaled(c, 99), 1).await?),
                (Kind::Defaulter, 0) => drop(api.bought(c, scaled(c, 600), 6).await?),
                (Kind::LatePayer, 0) => drop(api.bought(c, scaled(c, 900), 6).await?),
                (Kind::Refunded, 0) => {
                    let partial = api.bought(c, scaled(c, 500), 3).await?;
                    api.refund(&partial, scaled(c, 120)).await?;
                    let returned = api.bought(c, scaled(c, 200), 3).await?;
                    api.refund(&returned, scaled(c, 200)).await?;
                    let hold = api.buy(c, scaled(c, 80), 1).await?;
                    api.refund(&hold, scaled(c, 80)).await?;
                }
                (Kind::Refunded, 6) => drop(api.bought(c, scaled(c, 240), 24).await?),
                (Kind::Canceller, 0) => {
                    let hold = api.buy(c, scaled(c, 100), 3).await?;
                    api.send(Method::POST, &format!("/v1/credit/purchases/{hold}/cancel"), Some(&c.token), false, None)
                        .await?;
                }
                (Kind::Canceller, 2) => drop(api.bought(c, scaled(c, 150), 3).await?),
                (Kind::Autopay, 0) => drop(api.bought(c, scaled(c, 1200), 12).await?),
                (Kind::Autopay, _) => api.deposit(c, scaled(c, 60)).await?,
                (Kind::BillPlan, 0) => {
                    api.bought(c, scaled(c, 600), 3).await?;
                    api.bought(c, scaled(c, 480), 24).await?;
                }
                (Kind::Slipping, 0) => drop(api.bought(c, scaled(c, 1200), 24).await?),
                (Kind::General, 0) => drop(api.bought(c, scaled(c, 1500), 6).await?),
                (Kind::General, 1) => api.deposit(c, scaled(c, 1600)).await?,
                (Kind::Frozen, 1) => api.transfer(c, &partner(c, Kind::Saver), 1000, "thanks").await?,
                _ => {}
            }
        }
        api.bill_as_of(due - TimeDelta::days(10)).await?;
        // Between the statement and the due date: paying, converting.
        for c in &customers {
            match (c.kind, month) {
                (Kind::BillPlan, 0) => {
                    let path = "/v1/credit/bill/installments";
                    api.send(Method::POST, path, Some(&c.token.clone()), false, Some(json!({"installments": 6})))
                        .await?;
                }
                (Kind::LatePayer, 1 | 2) | (Kind::Defaulter, _) | (Kind::Autopay, _) => {}
                (Kind::Slipping, m) if m + 1 == MONTHS => {}
                (Kind::Repayer | Kind::LatePayer | Kind::Refunded | Kind::Canceller | Kind::BillPlan, _)
                | (Kind::Slipping, _) => {
                    api.pay_bill(c).await?;
                }
                (Kind::General, m) if m >= 1 => api.pay_bill(c).await?,
                _ => {}
            }
        }
        api.bill_as_of(due + TimeDelta::days(5)).await?;
    }

    // Closing: one more statement (parts due now), a due bill converted into a plan, holds
    // still open, a line lowered, an account frozen.
    let last = first_due.checked_add_months(Months::new(MONTHS)).ok_or("date out of range")?;
    api.bill_as_of(last - TimeDelta::days(10)).await?;
    for c in &customers {
        match c.kind {
            Kind::BillPlan => {
                let path = "/v1/credit/bill/installments";
                api.send(Method::POST, path, Some(&c.token.clone()), false, Some(json!({"installments": 3}))).await?;
            }
            Kind::Holder => {
                api.buy(c, scaled(c, 200), 3).await?;
                api.buy(c, scaled(c, 45), 1).await?;
            }
            Kind::General => {
                let body = json!({"line": "general", "limit": money(scaled(c, 2500)), "reason": "seeded review"});
                api.admin_post(&format!("/v1/admin/users/{}/credit-line", c.id), true, body).await?;
            }
            Kind::Frozen => {
                let body = json!({"reason": "seeded: suspicious activity"});
                api.admin_post(&format!("/v1/admin/users/{}/freeze", c.id), false, body).await?;
            }
            _ => {}
        }
    }
    Ok(customers)
}
