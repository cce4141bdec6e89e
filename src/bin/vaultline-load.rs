//! Load generator: prepares users through the public API, then runs one scenario with C
//! concurrent clients for T seconds and prints throughput, latency and status counts.
//! A benchmark, not a test: it measures and prints, it never asserts timings.
//! `vaultline-load seed --customers N --seed S --database-url URL` instead fills an empty
//! database with N customers and their history (`vaultline::seed`), printing a rate line.
//! The read scenarios (`account`, `history`, `history-deep`, `events`, `admin-search`,
//! `customer-view`) repeat one page for the prepared users (`reads`).

#[path = "vaultline-load/reads.rs"]
mod reads;
#[path = "vaultline-load/seed.rs"]
mod seed;
#[path = "vaultline-load/stats.rs"]
mod stats;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicI64, Ordering};
use std::time::{Duration, Instant};

use clap::{Parser, ValueEnum};
use serde_json::{Value, json};
use tokio::sync::Mutex;

use stats::Stats;

const PASSWORD: &str = "load test password";

#[derive(Clone, Copy, Debug, ValueEnum, PartialEq, Eq)]
enum Scenario {
    /// Random pairs among N users, each request with its own idempotency key.
    Transfers,
    /// Every client on ONE user: deposits, withdrawals, locks and unlocks; balances are
    /// checked against the acknowledged responses at the end.
    Hot,
    /// What the app does: 60% account reads, 20% transfers, 10% lock/unlock, 10% purchase + confirm.
    Mixed,
    /// Logins at full speed alongside transfers; reports the transfers' latency.
    LoginFlood,
    /// Gives each prepared user `--depth` more movements (deposits), then stops.
    Deepen,
    /// `GET /v1/me/account`, the reference read.
    Account,
    /// `GET /v1/transactions?limit=20`, the first page.
    History,
    /// The history page starting `--depth` movements down (run `deepen` first).
    HistoryDeep,
    /// `GET /v1/events?limit=20`, the event feed's first page.
    Events,
    /// `GET /v1/admin/users?q=<--query>&limit=20`, the console's search, as the admin.
    AdminSearch,
    /// `GET /v1/admin/users/{id}` of each prepared user, as the admin.
    CustomerView,
}

impl Scenario {
    fn is_read(self) -> bool {
        matches!(
            self,
            Scenario::Account
                | Scenario::History
                | Scenario::HistoryDeep
                | Scenario::Events
                | Scenario::AdminSearch
                | Scenario::CustomerView
        )
    }
}

#[derive(Debug, Parser)]
#[command(name = "vaultline-load", about = "Load generator for a running Vaultline service")]
struct Args {
    #[arg(long, default_value = "http://127.0.0.1:8080")]
    base_url: String,
    #[arg(long, value_enum, default_value = "transfers")]
    scenario: Scenario,
    /// Users to prepare.
    #[arg(long, default_value_t = 50)]
    users: usize,
    /// Concurrent clients.
    #[arg(long, short = 'c', default_value_t = 16)]
    concurrency: usize,
    /// Seconds to run.
    #[arg(long, short = 't', default_value_t = 30)]
    duration: u64,
    /// An admin (for the merchant the mixed scenario buys from).
    #[arg(long, default_value = "bench_admin")]
    admin_user: String,
    #[arg(long, env = "VAULTLINE_ADMIN_PASSWORD", default_value = "bench admin password")]
    admin_password: String,
    /// Target requests per second across all clients (0: as fast as they go). Each client
    /// paces its own starts; a late request starts the next at once (closed loop), so
    /// latencies under overload are understated, not hidden.
    #[arg(long, default_value_t = 0.0)]
    rate: f64,
    /// Label printed in the RESULT line (defaults to the scenario).
    #[arg(long)]
    label: Option<String>,
    /// Prefix for prepared usernames (so runs against one database do not collide).
    #[arg(long, default_value = "load")]
    prefix: String,
    /// `deepen`: movements to add per user; `history-deep`: how deep the page starts.
    #[arg(long, default_value_t = 1000)]
    depth: usize,
    /// `admin-search`: the text searched for (defaults to `--prefix`).
    #[arg(long)]
    query: Option<String>,
}

#[derive(Clone)]
struct Api {
    client: reqwest::Client,
    base: String,
}

impl Api {
    async fn post(&self, path: &str, token: Option<&str>, body: &Value, keyed: bool) -> Result<(u16, Value), String> {
        let mut req = self.client.post(format!("{}{path}", self.base)).json(body);
        if let Some(t) = token {
            req = req.bearer_auth(t);
        }
        if keyed {
            req = req.header("idempotency-key", uuid::Uuid::new_v4().to_string());
        }
        let res = req.send().await.map_err(|e| e.to_string())?;
        let status = res.status().as_u16();
        let body = res.json::<Value>().await.unwrap_or(Value::Null);
        Ok((status, body))
    }

    async fn get(&self, path: &str, token: &str) -> Result<(u16, Value), String> {
        let res = self
            .client
            .get(format!("{}{path}", self.base))
            .bearer_auth(token)
            .send()
            .await
            .map_err(|e| e.to_string())?;
        let status = res.status().as_u16();
        Ok((status, res.json::<Value>().await.unwrap_or(Value::Null)))
    }

    async fn login(&self, username: &str, password: &str) -> Result<String, String> {
        let (status, body) =
            self.post("/v1/auth/login", None, &json!({"username": username, "password": password}), false).await?;
        match (status, body["access_token"].as_str()) {
            (200, Some(token)) => Ok(token.to_owned()),
            _ => Err(format!("login {username}: {status} {body}")),
        }
    }

    /// Registers (if needed) and logs in; deposits `deposit` and locks `lock`.
    async fn prepare(&self, username: &str, deposit: &str, lock: Option<&str>) -> Result<String, String> {
        let (status, body) =
            self.post("/v1/auth/register", None, &json!({"username": username, "password": PASSWORD}), false).await?;
        if status != 201 && status != 409 {
            return Err(format!("register {username}: {status} {body}"));
        }
        let token = self.login(username, PASSWORD).await?;
        let (status, body) = self.post("/v1/wallet/deposits", Some(&token), &json!({"amount": deposit}), true).await?;
        if status != 201 {
            return Err(format!("deposit for {username}: {status} {body}"));
        }
        if let Some(lock) = lock {
            self.post("/v1/vault/lock", Some(&token), &json!({"amount": lock}), true).await?;
        }
        Ok(token)
    }
}

fn pick(state: &mut u64, n: usize) -> usize {
    // xorshift: cheap, deterministic per client, good enough to spread load.
    *state ^= *state << 13;
    *state ^= *state >> 7;
    *state ^= *state << 17;
    (*state % n as u64) as usize
}

struct Users {
    names: Vec<String>,
    tokens: Vec<String>,
}

async fn prepare_users(api: &Api, args: &Args, count: usize, lock: Option<&str>) -> Result<Users, String> {
    let started = Instant::now();
    let names: Vec<String> = (0..count).map(|i| format!("{}_{i}", args.prefix)).collect();
    let mut tokens = Vec::with_capacity(count);
    // A few at a time: registration hashes a password, which is deliberately slow.
    for chunk in names.chunks(8) {
        let batch = chunk.iter().map(|n| api.prepare(n, "100000.00", lock));
        for token in futures_util::future::join_all(batch).await {
            tokens.push(token?);
        }
    }
    eprintln!("prepared {count} users in {:.1}s", started.elapsed().as_secs_f64());
    Ok(Users { names, tokens })
}

// One thread: the generator shares two cores with the service and the database.
#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), String> {
    if std::env::args().nth(1).as_deref() == Some("seed") {
        return seed::seed(seed::SeedArgs::parse_from(std::env::args().skip(1))).await;
    }
    let args = Args::parse();
    let client = reqwest::Client::builder()
        .pool_max_idle_per_host(args.concurrency * 2)
        .timeout(Duration::from_secs(30))
        .build()
        .map_err(|e| e.to_string())?;
    let api = Api { client, base: args.base_url.trim_end_matches('/').to_owned() };
    let users = match args.scenario {
        Scenario::Hot => prepare_users(&api, &args, 1, Some("50000.00")).await?,
        Scenario::Mixed => prepare_users(&api, &args, args.users, Some("50000.00")).await?,
        _ => prepare_users(&api, &args, args.users.max(2), None).await?,
    };
    if args.scenario == Scenario::Deepen {
        return reads::deepen(&api, &users, args.depth).await;
    }
    let needs_admin = matches!(args.scenario, Scenario::Mixed | Scenario::AdminSearch | Scenario::CustomerView);
    let admin = if needs_admin { Some(api.login(&args.admin_user, &args.admin_password).await?) } else { None };
    let merchant = if args.scenario == Scenario::Mixed {
        let (_, body) =
            api.post("/v1/admin/merchants", admin.as_deref(), &json!({"name": "Bench Store"}), false).await?;
        body["id"].as_str().map(str::to_owned)
    } else {
        None
    };
    let read_targets = if args.scenario.is_read() {
        let query = args.query.as_deref().unwrap_or(&args.prefix);
        reads::targets(&api, &users, args.scenario, admin.as_deref(), args.depth, query).await?
    } else {
        Vec::new()
    };
    let (users, read_targets) = (Arc::new(users), Arc::new(read_targets));

    let deadline = Instant::now() + Duration::from_secs(args.duration);
    let wallet_delta = Arc::new(AtomicI64::new(0));
    let vault_delta = Arc::new(AtomicI64::new(0));
    let stop = Arc::new(AtomicBool::new(false));
    let flood = Arc::new(Mutex::new(Stats::default()));
    let started = Instant::now();
    let mut clients = Vec::new();
    for client_no in 0..args.concurrency {
        let (api, users, merchant, read_targets) = (api.clone(), users.clone(), merchant.clone(), read_targets.clone());
        let (wallet_delta, vault_delta, stop, flood) =
            (wallet_delta.clone(), vault_delta.clone(), stop.clone(), flood.clone());
        let scenario = args.scenario;
        let is_flooder = scenario == Scenario::LoginFlood && client_no % 2 == 1;
        let pace = (args.rate > 0.0).then(|| Duration::from_secs_f64(args.concurrency as f64 / args.rate));
        // Clients start evenly spread over one pace, so a paced load arrives as a steady
        // stream (one request every pace / C), not as bursts of C requests at once.
        let offset = pace.map_or(Duration::ZERO, |p| p.mul_f64(client_no as f64 / args.concurrency as f64));
        clients.push(tokio::spawn(async move {
            let mut stats = Stats::default();
            let mut next_start = Instant::now() + offset;
            let mut seed = 0x9E37_79B9_7F4A_7C15_u64 ^ (client_no as u64 + 1).wrapping_mul(0x2545_F491_4F6C_DD1D);
            while Instant::now() < deadline && !stop.load(Ordering::Relaxed) {
                if let Some(pace) = pace {
                    tokio::time::sleep_until(next_start.into()).await;
                    next_start += pace;
                }
                let t0 = Instant::now();
                if is_flooder {
                    let name = &users.names[pick(&mut seed, users.names.len())];
                    let r =
                        api.post("/v1/auth/login", None, &json!({"username": name, "password": PASSWORD}), false).await;
                    flood.lock().await.record(t0, r.ok().map(|(s, _)| s));
                    continue;
                }
                let status = match scenario {
                    Scenario::Account
                    | Scenario::History
                    | Scenario::HistoryDeep
                    | Scenario::Events
                    | Scenario::AdminSearch
                    | Scenario::CustomerView => {
                        let read = &read_targets[pick(&mut seed, read_targets.len())];
                        api.get(&read.path, &read.token).await.map(|(s, _)| s)
                    }
                    Scenario::Transfers | Scenario::LoginFlood | Scenario::Deepen => {
                        let n = users.tokens.len();
                        let from = pick(&mut seed, n);
                        let to = (from + 1 + pick(&mut seed, n - 1)) % n;
                        let body = json!({"to_username": users.names[to], "amount": "0.01"});
                        api.post("/v1/transfers", Some(&users.tokens[from]), &body, true).await.map(|(s, _)| s)
                    }
                    Scenario::Hot => {
                        let token = &users.tokens[0];
                        let (path, w, v) = match pick(&mut seed, 4) {
                            0 => ("/v1/wallet/deposits", 100, 0),
                            1 => ("/v1/wallet/withdrawals", -100, 0),
                            2 => ("/v1/vault/lock", -100, 100),
                            _ => ("/v1/vault/unlock", 100, -100),
                        };
                        let r = api.post(path, Some(token), &json!({"amount": "1.00"}), true).await;
                        if let Ok((201, _)) = r {
                            wallet_delta.fetch_add(w, Ordering::Relaxed);
                            vault_delta.fetch_add(v, Ordering::Relaxed);
                        }
                        r.map(|(s, _)| s)
                    }
                    Scenario::Mixed => {
                        let n = users.tokens.len();
                        let me = pick(&mut seed, n);
                        let token = &users.tokens[me];
                        match pick(&mut seed, 10) {
                            0..=5 => api.get("/v1/me/account", token).await.map(|(s, _)| s),
                            6 | 7 => {
                                let to = (me + 1 + pick(&mut seed, n - 1)) % n;
                                let body = json!({"to_username": users.names[to], "amount": "0.01"});
                                api.post("/v1/transfers", Some(token), &body, true).await.map(|(s, _)| s)
                            }
                            8 => {
                                let path = if pick(&mut seed, 2) == 0 { "/v1/vault/lock" } else { "/v1/vault/unlock" };
                                api.post(path, Some(token), &json!({"amount": "1.00"}), true).await.map(|(s, _)| s)
                            }
                            _ => {
                                let body = json!({"merchant_id": merchant, "amount": "10.00", "installments": 3});
                                match api.post("/v1/credit/purchases", Some(token), &body, true).await {
                                    Ok((201, p)) => {
                                        let path = format!(
                                            "/v1/credit/purchases/{}/confirm-receipt",
                                            p["id"].as_str().unwrap_or("")
                                        );
                                        api.post(&path, Some(token), &Value::Null, true).await.map(|(s, _)| s)
                                    }
                                    other => other.map(|(s, _)| s),
                                }
                            }
                        }
                    }
                };
                stats.record(t0, status.ok());
            }
            stats
        }));
    }
    let mut total = Stats::default();
    for client in clients {
        total.merge(client.await.map_err(|e| e.to_string())?);
    }
    let elapsed = started.elapsed();
    let label = args.label.clone().unwrap_or_else(|| format!("{:?}", args.scenario).to_lowercase());
    total.report(&label, elapsed);
    if args.scenario == Scenario::LoginFlood {
        flood.lock().await.report("login-flood-logins", elapsed);
    }
    if args.scenario == Scenario::Hot {
        let (_, account) = api.get("/v1/me/account", &users.tokens[0]).await?;
        let minor = |v: &Value| -> i64 {
            let s = v.as_str().unwrap_or("0");
            let (w, f) = s.split_once('.').unwrap_or((s, "0"));
            w.parse::<i64>().unwrap_or(0) * 100 + f.parse::<i64>().unwrap_or(0)
        };
        let wallet_expected = 100_000 * 100 - 50_000 * 100 + wallet_delta.load(Ordering::Relaxed);
        let vault_expected = 50_000 * 100 + vault_delta.load(Ordering::Relaxed);
        let (wallet, vault) = (minor(&account["wallet"]["balance"]), minor(&account["vault"]["balance"]));
        let ok = wallet == wallet_expected && vault == vault_expected;
        println!(
            "  hot balances: wallet {wallet} (expected {wallet_expected}), vault {vault} (expected {vault_expected}): {}",
            if ok { "match, zero lost updates" } else { "MISMATCH" }
        );
        println!("RESULT label=hot-check balances_match={ok}");
    }
    Ok(())
}
