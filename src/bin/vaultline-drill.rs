//! Failover drill client (scripts/ha/drill.sh runs it): a bank-style load through one
//! address while faults are injected, then files for the database-side verification.
//!
//! Every money request carries its own Idempotency-Key, and a client repeats it with the
//! SAME key after any transport error, timeout, 5xx, 429 or 409 `idempotency_key_in_flight`
//! until it gets a final answer: 2xx (acknowledged; a replay of a stored answer counts as
//! the same operation) or another 4xx (refused: no effect). So every operation ends with a
//! known outcome, and the expected balances follow from the acknowledged ones alone.
//!
//! Writes to --out: `acked.csv` (username, key, kind, amount in minor units) and
//! `expected.csv` (username, wallet, vault, held, principal in minor units).

use std::fmt::Write as _;
use std::sync::Arc;
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use clap::Parser;
use serde_json::{Value, json};
use tokio::sync::Mutex;

const PASSWORD: &str = "drill test password";
/// Bucket width of the throughput timeline.
const TICK: Duration = Duration::from_millis(100);
/// An operation whose outcome is still unknown after this long is reported as a violation.
const GIVE_UP: Duration = Duration::from_secs(120);

#[derive(Debug, Parser)]
#[command(name = "vaultline-drill", about = "Bank-style load with fault injection and exact bookkeeping")]
struct Args {
    #[arg(long, default_value = "http://127.0.0.1:38080")]
    base_url: String,
    #[arg(long, default_value_t = 100)]
    users: usize,
    #[arg(long, short = 'c', default_value_t = 32)]
    concurrency: usize,
    /// Seconds of load.
    #[arg(long, short = 't', default_value_t = 90)]
    duration: u64,
    /// `SECONDS=COMMAND`: run `sh -c COMMAND` that many seconds into the load (repeatable).
    /// Recovery is measured from the last one.
    #[arg(long = "fault")]
    faults: Vec<String>,
    #[arg(long, default_value = "drill_admin")]
    admin_user: String,
    #[arg(long, env = "VAULTLINE_ADMIN_PASSWORD", default_value = "drill admin password")]
    admin_password: String,
    #[arg(long, default_value = "drill")]
    prefix: String,
    /// Folder for acked.csv and expected.csv.
    #[arg(long, default_value = ".")]
    out: String,
}

/// How one operation ended.
enum Outcome {
    Acked(Value),
    Refused(u16, String),
    Unknown,
}

/// Per-user expected balances in minor units, changed only by acknowledged operations.
#[derive(Default)]
struct Expected {
    wallet: AtomicI64,
    vault: AtomicI64,
    held: AtomicI64,
    principal: AtomicI64,
}

struct Shared {
    client: reqwest::Client,
    base: String,
    names: Vec<String>,
    tokens: Vec<String>,
    expected: Vec<Expected>,
    acked: Mutex<String>,
    started: Instant,
    /// Acknowledgements and failed attempts per TICK since `started`.
    acks: Vec<AtomicU64>,
    errors: Vec<AtomicU64>,
    refused: AtomicU64,
    unknown: AtomicU64,
    retries: AtomicU64,
    /// Failed attempts by kind: transport error or timeout, 502/504 (from HAProxy), 503
    /// (from the service), 409 key in flight, anything else retried.
    failures: [AtomicU64; 5],
}

const FAILURE_KINDS: [&str; 5] = ["transport/timeout", "502/504", "503", "409 in flight", "other"];

impl Shared {
    fn tick(&self) -> usize {
        ((self.started.elapsed().as_millis() / TICK.as_millis()) as usize).min(self.acks.len() - 1)
    }

    /// POSTs with one key until the answer is final (see the module comment).
    async fn until_final(&self, user: usize, path: &str, body: &Value, key: &str) -> Outcome {
        let first = Instant::now();
        let mut pause = Duration::from_millis(50);
        loop {
            let sent = self
                .client
                .post(format!("{}{path}", self.base))
                .bearer_auth(&self.tokens[user])
                .header("idempotency-key", key)
                .json(body)
                .send()
                .await;
            let answer = match sent {
                Ok(res) => {
                    let status = res.status().as_u16();
                    Some((status, res.json::<Value>().await.unwrap_or(Value::Null)))
                }
                Err(_) => None,
            };
            match answer {
                Some((status, body)) if (200..300).contains(&status) => {
                    self.acks[self.tick()].fetch_add(1, Ordering::Relaxed);
                    return Outcome::Acked(body);
                }
                Some((status, body))
                    if !(status >= 500
                        || status == 408
                        || status == 429
                        || (status == 409 && body["code"] == "idempotency_key_in_flight")) =>
                {
                    self.refused.fetch_add(1, Ordering::Relaxed);
                    return Outcome::Refused(status, body["code"].as_str().unwrap_or("").to_owned());
                }
                failed => {
                    let kind = match failed {
                        None => 0,
                        Some((502 | 504, _)) => 1,
                        Some((503, _)) => 2,
                        Some((409, _)) => 3,
                        Some(_) => 4,
                    };
                    self.failures[kind].fetch_add(1, Ordering::Relaxed);
                    self.errors[self.tick()].fetch_add(1, Ordering::Relaxed);
                    if first.elapsed() > GIVE_UP {
                        self.unknown.fetch_add(1, Ordering::Relaxed);
                        return Outcome::Unknown;
                    }
                    self.retries.fetch_add(1, Ordering::Relaxed);
                    tokio::time::sleep(pause).await;
                    pause = (pause * 2).min(Duration::from_millis(500));
                }
            }
        }
    }

    /// One keyed operation: on acknowledgement records it and applies `effect`.
    async fn op(&self, user: usize, kind: &str, path: &str, body: Value, key: &str, amount: i64) -> Option<Value> {
        match self.until_final(user, path, &body, key).await {
            Outcome::Acked(answer) => {
                let mut acked = self.acked.lock().await;
                let _ = writeln!(acked, "{},{key},{kind},{amount}", self.names[user]);
                Some(answer)
            }
            Outcome::Refused(status, code) => {
                eprintln!("refused: {kind} for {} ({status} {code})", self.names[user]);
                None
            }
            Outcome::Unknown => {
                eprintln!("UNKNOWN OUTCOME: {kind} for {} key {key}", self.names[user]);
                None
            }
        }
    }
}

fn minor(cents: u64) -> String {
    format!("{}.{:02}", cents / 100, cents % 100)
}

fn pick(state: &mut u64, n: u64) -> u64 {
    *state ^= *state << 13;
    *state ^= *state >> 7;
    *state ^= *state << 17;
    *state % n
}

async fn post_plain(
    client: &reqwest::Client,
    url: String,
    token: Option<&str>,
    body: &Value,
) -> Result<(u16, Value), String> {
    let mut req = client.post(url).json(body);
    if let Some(t) = token {
        req = req.bearer_auth(t);
    }
    let res = req.send().await.map_err(|e| e.to_string())?;
    let status = res.status().as_u16();
    Ok((status, res.json().await.unwrap_or(Value::Null)))
}

async fn login(client: &reqwest::Client, base: &str, user: &str, password: &str) -> Result<String, String> {
    let (status, body) =
        post_plain(client, format!("{base}/v1/auth/login"), None, &json!({"username": user, "password": password}))
            .await?;
    body["access_token"].as_str().map(str::to_owned).ok_or_else(|| format!("login {user}: {status} {body}"))
}

/// One client: owns the users `me, me + C, ...` (their locks, unlocks, purchases and
/// repayments, so it knows what each owes); transfers go to anyone.
async fn run_client(s: Arc<Shared>, me: usize, concurrency: usize, merchant: String, deadline: Instant) {
    let own: Vec<usize> = (me..s.names.len()).step_by(concurrency).collect();
    let mut seed = 0x9E37_79B9_7F4A_7C15_u64 ^ (me as u64 + 1).wrapping_mul(0x2545_F491_4F6C_DD1D);
    let mut owed = vec![0i64; s.names.len()];
    let mut seq = 0u64;
    while Instant::now() < deadline {
        let u = own[pick(&mut seed, own.len() as u64) as usize];
        seq += 1;
        let key = format!("drill-{me}-{seq}");
        let e = &s.expected[u];
        match pick(&mut seed, 20) {
            0..=7 => {
                let to = (u + 1 + pick(&mut seed, s.names.len() as u64 - 1) as usize) % s.names.len();
                let amount = 1 + pick(&mut seed, 100);
                let body = json!({"to_username": s.names[to], "amount": minor(amount)});
                if s.op(u, "transfer", "/v1/transfers", body, &key, amount as i64).await.is_some() {
                    e.wallet.fetch_sub(amount as i64, Ordering::Relaxed);
                    s.expected[to].wallet.fetch_add(amount as i64, Ordering::Relaxed);
                }
            }
            draw @ 8..=13 => {
                // A vault lock of 1.00 moves wallet to vault; an unlock moves it back.
                let (kind, way) = if draw <= 10 { ("lock", 1) } else { ("unlock", -1) };
                let path = format!("/v1/vault/{kind}");
                let acked = s.op(u, kind, &path, json!({"amount": "1.00"}), &key, 100).await.is_some();
                if acked {
                    e.wallet.fetch_sub(100 * way, Ordering::Relaxed);
                    e.vault.fetch_add(100 * way, Ordering::Relaxed);
                }
            }
            14..=16 => {
                // A purchase (a hold), then the buyer confirms receipt (the debt starts).
                let amount = 100 + pick(&mut seed, 400) as i64;
                let body = json!({"merchant_id": merchant, "amount": minor(amount as u64), "installments": 1});
                let Some(p) = s.op(u, "purchase", "/v1/credit/purchases", body, &key, amount).await else { continue };
                e.held.fetch_add(amount, Ordering::Relaxed);
                let path = format!("/v1/credit/purchases/{}/confirm-receipt", p["id"].as_str().unwrap_or(""));
                if s.op(u, "confirm", &path, Value::Null, &format!("{key}-c"), amount).await.is_some() {
                    e.held.fetch_sub(amount, Ordering::Relaxed);
                    e.principal.fetch_add(amount, Ordering::Relaxed);
                    owed[u] += amount;
                }
            }
            _ if owed[u] > 0 => {
                let amount = owed[u].min(50 + pick(&mut seed, 300) as i64);
                let body = json!({"amount": minor(amount as u64)});
                if s.op(u, "repayment", "/v1/credit/repayments", body, &key, amount).await.is_some() {
                    e.wallet.fetch_sub(amount, Ordering::Relaxed);
                    e.principal.fetch_sub(amount, Ordering::Relaxed);
                    owed[u] -= amount;
                }
            }
            _ => {}
        }
    }
}

/// Recovery after the fault at `fault` ticks: the first moment from which a one-second
/// window holds at least 80% of the acknowledgements of a second before the fault.
fn recovery(acks: &[u64], errors: &[u64], fault: usize, end: usize) -> (f64, Option<f64>, f64, u64) {
    let per_sec = (1000 / TICK.as_millis()) as usize;
    let before = fault.saturating_sub(10 * per_sec)..fault;
    let baseline = acks[before.clone()].iter().sum::<u64>() as f64 / (before.len() / per_sec).max(1) as f64;
    let first_ack = (fault + 1..end).find(|&t| acks[t] > 0).map(|t| (t - fault) as f64 / per_sec as f64);
    let recovered = (fault..end.saturating_sub(per_sec))
        .find(|&t| acks[t..t + per_sec].iter().sum::<u64>() as f64 >= 0.8 * baseline)
        .unwrap_or(end);
    let errs = errors[fault..recovered].iter().sum();
    (baseline, first_ack, (recovered - fault) as f64 / per_sec as f64, errs)
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), String> {
    let args = Args::parse();
    let client = reqwest::Client::builder()
        .pool_max_idle_per_host(args.concurrency * 2)
        .timeout(Duration::from_secs(5))
        .build()
        .map_err(|e| e.to_string())?;
    let base = args.base_url.trim_end_matches('/').to_owned();

    // Users: register (409 on a repeated run is fine), log in. Money comes afterwards with
    // keyed, recorded operations like any other.
    let prep = Instant::now();
    let names: Vec<String> = (0..args.users).map(|i| format!("{}_{i}", args.prefix)).collect();
    let mut tokens = Vec::new();
    for chunk in names.chunks(8) {
        let batch = chunk.iter().map(|n| {
            let (client, base) = (&client, &base);
            async move {
                let body = json!({"username": n, "password": PASSWORD});
                let (status, answer) = post_plain(client, format!("{base}/v1/auth/register"), None, &body).await?;
                if status != 201 && status != 409 {
                    return Err(format!("register {n}: {status} {answer}"));
                }
                login(client, base, n, PASSWORD).await
            }
        });
        for token in futures_util::future::join_all(batch).await {
            tokens.push(token?);
        }
    }
    let admin = login(&client, &base, &args.admin_user, &args.admin_password).await?;
    let (status, m) =
        post_plain(&client, format!("{base}/v1/admin/merchants"), Some(&admin), &json!({"name": "Drill Store"}))
            .await?;
    let merchant = m["id"].as_str().ok_or(format!("merchant: {status} {m}"))?.to_owned();

    let ticks = (args.duration as usize + GIVE_UP.as_secs() as usize + 60) * 10;
    let s = Arc::new(Shared {
        client,
        base,
        expected: names.iter().map(|_| Expected::default()).collect(),
        names,
        tokens,
        acked: Mutex::new(String::new()),
        started: Instant::now(),
        acks: (0..ticks).map(|_| AtomicU64::new(0)).collect(),
        errors: (0..ticks).map(|_| AtomicU64::new(0)).collect(),
        refused: AtomicU64::new(0),
        unknown: AtomicU64::new(0),
        retries: AtomicU64::new(0),
        failures: Default::default(),
    });
    for (u, e) in s.expected.iter().enumerate() {
        let deposit =
            s.op(u, "deposit", "/v1/wallet/deposits", json!({"amount": "100000.00"}), "drill-setup-d", 10_000_000);
        if deposit.await.is_some() {
            e.wallet.fetch_add(10_000_000, Ordering::Relaxed);
        }
        if s.op(u, "lock", "/v1/vault/lock", json!({"amount": "50000.00"}), "drill-setup-l", 5_000_000).await.is_some()
        {
            e.wallet.fetch_sub(5_000_000, Ordering::Relaxed);
            e.vault.fetch_add(5_000_000, Ordering::Relaxed);
        }
    }
    eprintln!("prepared {} users in {:.1}s", s.names.len(), prep.elapsed().as_secs_f64());

    // The load, and the faults on their own threads at their times.
    let start = Instant::now();
    let start_tick = s.tick();
    // The setup's acknowledgements may share the first tick with the load's.
    let setup_acks: u64 = s.acks.iter().map(|a| a.load(Ordering::Relaxed)).sum();
    let fault_ticks: Arc<Vec<AtomicU64>> = Arc::new(args.faults.iter().map(|_| AtomicU64::new(0)).collect());
    for (i, fault) in args.faults.iter().enumerate() {
        let (secs, command) = fault.split_once('=').ok_or(format!("--fault {fault}: want SECONDS=COMMAND"))?;
        let secs: f64 = secs.parse().map_err(|_| format!("--fault {fault}: bad seconds"))?;
        let (command, at, s) = (command.to_owned(), fault_ticks.clone(), s.clone());
        std::thread::spawn(move || {
            std::thread::sleep((start + Duration::from_secs_f64(secs)).saturating_duration_since(Instant::now()));
            let status = std::process::Command::new("sh").arg("-c").arg(&command).status();
            // Recovery counts from when the command returned: the kill is its last step.
            at[i].store(s.tick() as u64, Ordering::Relaxed);
            eprintln!("[{:5.1}s] fault: {command} -> {status:?}", start.elapsed().as_secs_f64());
        });
    }
    let deadline = start + Duration::from_secs(args.duration);
    let clients: Vec<_> = (0..args.concurrency)
        .map(|me| tokio::spawn(run_client(s.clone(), me, args.concurrency, merchant.clone(), deadline)))
        .collect();
    for c in clients {
        c.await.map_err(|e| e.to_string())?;
    }
    let end_tick = s.tick();
    let fault_ticks: Vec<usize> =
        fault_ticks.iter().map(|t| t.load(Ordering::Relaxed) as usize).filter(|&t| t > 0).collect();

    let acks: Vec<u64> = s.acks.iter().map(|a| a.load(Ordering::Relaxed)).collect();
    let errors: Vec<u64> = s.errors.iter().map(|a| a.load(Ordering::Relaxed)).collect();
    let total_acks: u64 = acks.iter().sum::<u64>() - setup_acks;
    let total_errors: u64 = errors[start_tick..].iter().sum();
    let mut timeline = String::new();
    for (sec, chunk) in acks[start_tick..end_tick].chunks(10).enumerate() {
        let errs: u64 = errors[start_tick + sec * 10..(start_tick + sec * 10 + 10).min(end_tick)].iter().sum();
        let _ = write!(
            timeline,
            "{sec}:{}{} ",
            chunk.iter().sum::<u64>(),
            if errs > 0 { format!("/e{errs}") } else { String::new() }
        );
    }
    println!("acks per second (/e = failed attempts): {timeline}");
    let elapsed = (end_tick - start_tick) as f64 / 10.0;
    println!(
        "load: {total_acks} operations acknowledged in {elapsed:.1}s ({:.0}/s), {} failed attempts retried with the same key, {} refused, {} unknown",
        total_acks as f64 / elapsed,
        total_errors,
        s.refused.load(Ordering::Relaxed),
        s.unknown.load(Ordering::Relaxed)
    );
    for (i, &fault) in fault_ticks.iter().enumerate() {
        let end = fault_ticks.get(i + 1).copied().unwrap_or(end_tick);
        let (baseline, first_ack, recovered, errs) = recovery(&acks, &errors, fault, end);
        println!(
            "fault at {:.1}s: baseline {baseline:.0} acks/s; first ack after {}; full rate (>= 80% of baseline) after {recovered:.1}s; {errs} failed attempts until then",
            (fault - start_tick) as f64 / 10.0,
            first_ack.map_or("never".into(), |t| format!("{t:.1}s")),
        );
        println!(
            "RESULT fault={i} at_s={:.1} baseline_rps={baseline:.0} first_ack_s={:.1} recovery_s={recovered:.1} errors={errs}",
            (fault - start_tick) as f64 / 10.0,
            first_ack.unwrap_or(-1.0)
        );
    }
    let failures: Vec<String> =
        FAILURE_KINDS.iter().zip(&s.failures).map(|(k, n)| format!("{k} {}", n.load(Ordering::Relaxed))).collect();
    println!("failed attempts by kind: {}", failures.join(", "));
    println!(
        "RESULT acked={total_acks} errors={total_errors} refused={} unknown={}",
        s.refused.load(Ordering::Relaxed),
        s.unknown.load(Ordering::Relaxed)
    );

    let out = std::path::Path::new(&args.out);
    std::fs::write(out.join("acked.csv"), s.acked.lock().await.as_bytes()).map_err(|e| e.to_string())?;
    let mut expected = String::new();
    for (name, e) in s.names.iter().zip(&s.expected) {
        let v = |a: &AtomicI64| a.load(Ordering::Relaxed);
        let _ = writeln!(expected, "{name},{},{},{},{}", v(&e.wallet), v(&e.vault), v(&e.held), v(&e.principal));
    }
    std::fs::write(out.join("expected.csv"), expected).map_err(|e| e.to_string())?;
    if s.unknown.load(Ordering::Relaxed) > 0 || s.refused.load(Ordering::Relaxed) > 0 {
        return Err("some operations were refused or never answered".into());
    }
    Ok(())
}
