//! Load generator: prepares users through the public API, then runs one scenario with C
//! concurrent clients for T seconds and prints throughput, latency and status counts.
//! A benchmark, not a test: it measures and prints, it never asserts timings.
//! `vaultline-load seed --customers N --seed S --database-url URL` instead fills an empty
//! database with N customers and their history (`vaultline::seed`), printing a rate line.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicI64, Ordering};
use std::time::{Duration, Instant};

use clap::{Parser, ValueEnum};
use serde_json::{Value, json};
use tokio::sync::Mutex;

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
}

#[derive(Default)]
struct Stats {
    latencies_us: Vec<u64>,
    statuses: BTreeMap<u16, u64>,
    errors: u64,
}

impl Stats {
    fn record(&mut self, started: Instant, status: Option<u16>) {
        self.latencies_us.push(u64::try_from(started.elapsed().as_micros()).unwrap_or(u64::MAX));
        match status {
            Some(s) => *self.statuses.entry(s).or_default() += 1,
            None => self.errors += 1,
        }
    }

    fn merge(&mut self, other: Stats) {
        self.latencies_us.extend(other.latencies_us);
        for (k, v) in other.statuses {
            *self.statuses.entry(k).or_default() += v;
        }
        self.errors += other.errors;
    }

    fn percentile_ms(sorted: &[u64], p: f64) -> f64 {
        if sorted.is_empty() {
            return 0.0;
        }
        let rank = ((p / 100.0) * (sorted.len() as f64)).ceil() as usize;
        sorted[rank.clamp(1, sorted.len()) - 1] as f64 / 1000.0
    }

    fn report(&mut self, label: &str, elapsed: Duration) {
        self.latencies_us.sort_unstable();
        let n = self.latencies_us.len();
        let rps = n as f64 / elapsed.as_secs_f64();
        let (p50, p90, p99) = (
            Self::percentile_ms(&self.latencies_us, 50.0),
            Self::percentile_ms(&self.latencies_us, 90.0),
            Self::percentile_ms(&self.latencies_us, 99.0),
        );
        let max = self.latencies_us.last().copied().unwrap_or(0) as f64 / 1000.0;
        let statuses: Vec<String> = self.statuses.iter().map(|(k, v)| format!("{k}:{v}")).collect();
        println!("{label}: {n} requests in {:.1}s", elapsed.as_secs_f64());
        println!("  requests/s {rps:.0}   p50 {p50:.2} ms   p90 {p90:.2} ms   p99 {p99:.2} ms   max {max:.2} ms");
        println!("  statuses {}   transport errors {}", statuses.join(" "), self.errors);
        println!(
            "RESULT label={label} requests={n} rps={rps:.1} p50_ms={p50:.3} p90_ms={p90:.3} p99_ms={p99:.3} max_ms={max:.3} errors={} non2xx={}",
            self.errors,
            self.statuses.iter().filter(|(k, _)| !(200..300).contains(*k)).map(|(_, v)| v).sum::<u64>()
        );
    }
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

/// `vaultline-load seed`: fills an empty database (see `vaultline::seed`).
#[derive(Debug, Parser)]
#[command(name = "vaultline-load seed", about = "Fill an empty database with N customers and their history")]
struct SeedArgs {
    /// Customers to make (at least; whole copies of the template customers).
    #[arg(long, default_value_t = 10_000)]
    customers: u64,
    /// Seed of the generated ids, keys and amounts.
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// `sqlite://path` or `postgres://user@host:port/db` (created and migrated if empty).
    #[arg(long, env = "VAULTLINE__DATABASE__URL")]
    database_url: String,
}

async fn seed(args: SeedArgs) -> Result<(), String> {
    let opts = vaultline::seed::Options {
        database_url: args.database_url,
        customers: args.customers,
        seed: args.seed,
        progress: true,
    };
    let summary = vaultline::seed::run(opts).await?;
    let rows: i64 = summary.rows.iter().map(|(_, n)| n).sum();
    for (table, n) in &summary.rows {
        eprintln!("  {table:<18} {n:>12}");
    }
    let secs = summary.elapsed.as_secs_f64();
    let cloning = (summary.elapsed - summary.templates_took).as_secs_f64().max(1e-9);
    println!(
        "SEED customers={} templates={} rows={rows} written={} elapsed={secs:.1}s templates={:.1}s \
         customers_per_s={:.0} rows_per_s={:.0} password={:?}",
        summary.customers,
        summary.templates,
        summary.rows_written,
        summary.templates_took.as_secs_f64(),
        summary.customers as f64 / secs,
        summary.rows_written as f64 / cloning,
        vaultline::seed::PASSWORD,
    );
    Ok(())
}

// One thread: the generator shares two cores with the service and the database.
#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), String> {
    if std::env::args().nth(1).as_deref() == Some("seed") {
        return seed(SeedArgs::parse_from(std::env::args().skip(1))).await;
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
    let users = Arc::new(users);
    let merchant = if args.scenario == Scenario::Mixed {
        let admin = api.login(&args.admin_user, &args.admin_password).await?;
        let (_, body) = api.post("/v1/admin/merchants", Some(&admin), &json!({"name": "Bench Store"}), false).await?;
        body["id"].as_str().map(str::to_owned)
    } else {
        None
    };

    let deadline = Instant::now() + Duration::from_secs(args.duration);
    let wallet_delta = Arc::new(AtomicI64::new(0));
    let vault_delta = Arc::new(AtomicI64::new(0));
    let stop = Arc::new(AtomicBool::new(false));
    let flood = Arc::new(Mutex::new(Stats::default()));
    let started = Instant::now();
    let mut clients = Vec::new();
    for client_no in 0..args.concurrency {
        let (api, users, merchant) = (api.clone(), users.clone(), merchant.clone());
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
                    Scenario::Transfers | Scenario::LoginFlood => {
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
