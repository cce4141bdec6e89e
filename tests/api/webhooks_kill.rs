//! The service process is killed with SIGKILL twice while money moves and webhooks are in
//! flight. Afterwards the outbox agrees with the journal (the ledger check's
//! `events_complete`), and the receiver has every event at least once: a copy sent again
//! carries the same id and the same body, and each user's events first arrived in order.

use std::collections::{HashMap, HashSet};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::helpers::{Backend, PASSWORD, TEST_JWT_SECRET, TestDb};
use crate::on_both_backends;
use crate::receiver::Receiver;

on_both_backends!(sigkill_during_delivery_loses_no_event);

struct Service {
    url: String,
    db_url: String,
    port: u16,
    data_dir: String,
}

impl Service {
    fn start(&self) -> Child {
        let env = [
            ("VAULTLINE__AUTH__JWT_SECRET", TEST_JWT_SECRET),
            ("VAULTLINE__SERVER__DATA_DIR", self.data_dir.as_str()),
            ("VAULTLINE__SERVER__WORKERS", "2"),
            ("VAULTLINE__LIMITS__MONEY_REQUESTS_PER_WINDOW", "0"),
            ("VAULTLINE__LIMITS__OUTFLOW_24H_MAX", "0"),
            ("VAULTLINE__WEBHOOKS__ALLOW_PRIVATE_TARGETS", "true"),
            ("VAULTLINE__WEBHOOKS__POLL_MS", "20"),
            ("VAULTLINE__WEBHOOKS__TIMEOUT_MS", "1000"),
            ("VAULTLINE__WEBHOOKS__LEASE_SECS", "2"),
            ("VAULTLINE__WEBHOOKS__RETRY_BASE_MS", "50"),
            ("VAULTLINE__WEBHOOKS__RETRY_MAX_MS", "200"),
            ("VAULTLINE__DATABASE__CONNECTION_TIMEOUT_MS", "5000"),
            ("RUST_LOG", "off"),
        ];
        let bind = format!("127.0.0.1:{}", self.port);
        Command::new(env!("CARGO_BIN_EXE_vaultline"))
            .args(["--database-url", &self.db_url, "serve", "--bind", &bind])
            .envs(env)
            .env_remove("VAULTLINE_PROFILE")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("vaultline starts")
    }

    async fn wait_ready(&self, client: &reqwest::Client) {
        for _ in 0..200 {
            if client.get(format!("{}/readyz", self.url)).send().await.is_ok_and(|r| r.status() == StatusCode::OK) {
                return;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        panic!("the service did not come up");
    }
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

async fn token(client: &reqwest::Client, base: &str, username: &str) -> String {
    let body = json!({"username": username, "password": PASSWORD});
    let res = client.post(format!("{base}/v1/auth/login")).json(&body).send().await.unwrap();
    assert_eq!(res.status(), StatusCode::OK, "login {username}");
    res.json::<Value>().await.unwrap()["access_token"].as_str().unwrap().to_owned()
}

/// Deposits and transfers between the users until told to stop; errors (the service is
/// down) are expected and ignored.
async fn load(client: reqwest::Client, base: String, tokens: Vec<String>, stop: Arc<AtomicBool>) {
    let mut n = 0usize;
    while !stop.load(Ordering::Relaxed) {
        let token = &tokens[n % tokens.len()];
        let (path, body) = if n % 3 == 2 {
            ("/v1/transfers", json!({"to_username": format!("kill_user_{}", (n + 1) % tokens.len()), "amount": "0.01"}))
        } else {
            ("/v1/wallet/deposits", json!({"amount": "1.00"}))
        };
        let _ = client
            .post(format!("{base}{path}"))
            .bearer_auth(token)
            .header("idempotency-key", uuid::Uuid::new_v4().to_string())
            .json(&body)
            .timeout(Duration::from_secs(2))
            .send()
            .await;
        n += 1;
    }
}

async fn sigkill_during_delivery_loses_no_event(backend: Backend) {
    let dir = tempfile::tempdir().unwrap();
    let (_db, db_url) = TestDb::create(&backend, &dir);
    let port = free_port();
    let service = Service {
        url: format!("http://127.0.0.1:{port}"),
        db_url: db_url.clone(),
        port,
        data_dir: dir.path().join("data").display().to_string(),
    };
    let out = Command::new(env!("CARGO_BIN_EXE_vaultline"))
        .args(["--database-url", &db_url, "admin", "create", "--username", "kill_admin"])
        .env("VAULTLINE_ADMIN_PASSWORD", PASSWORD)
        .env("RUST_LOG", "off")
        .env_remove("VAULTLINE_PROFILE")
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let client = reqwest::Client::new();
    let mut child = service.start();
    service.wait_ready(&client).await;
    let base = service.url.clone();
    let admin = token(&client, &base, "kill_admin").await;
    // Slow answers: deliveries are in flight when the process dies.
    let receiver = Receiver::start(0, Duration::from_millis(30));
    let body = json!({"url": receiver.url, "events": vaultline::domain::webhook::EVENT_TYPES});
    let res = client.post(format!("{base}/v1/admin/webhooks")).bearer_auth(&admin).json(&body).send().await.unwrap();
    assert_eq!(res.status(), StatusCode::CREATED);
    receiver.set_secret(res.json::<Value>().await.unwrap()["secret"].as_str().unwrap());
    let mut tokens = Vec::new();
    for n in 0..3 {
        let name = format!("kill_user_{n}");
        let res = client
            .post(format!("{base}/v1/auth/register"))
            .json(&json!({"username": name, "password": PASSWORD}))
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), StatusCode::CREATED);
        tokens.push(token(&client, &base, &name).await);
    }

    let stop = Arc::new(AtomicBool::new(false));
    let loader = tokio::spawn(load(client.clone(), base.clone(), tokens.clone(), stop.clone()));
    for _ in 0..2 {
        // Kill once deliveries are under way.
        let seen = receiver.received().len();
        for _ in 0..200 {
            if receiver.received().len() > seen + 3 {
                break;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        child.kill().expect("SIGKILL");
        child.wait().unwrap();
        tokio::time::sleep(Duration::from_millis(200)).await;
        child = service.start();
        service.wait_ready(&client).await;
    }
    tokio::time::sleep(Duration::from_millis(500)).await;
    stop.store(true, Ordering::Relaxed);
    loader.await.unwrap();

    // Every event the outbox holds reaches the receiver (leases of the dead process expire).
    // The users' own feeds are complete at once (everyone's waits for older transactions).
    let mut feed = Vec::new();
    for token in &tokens {
        let mut after = "0".to_owned();
        loop {
            let page: Value = client
                .get(format!("{base}/v1/events?limit=100&after={after}"))
                .bearer_auth(token)
                .send()
                .await
                .unwrap()
                .json()
                .await
                .unwrap();
            let items = page["items"].as_array().unwrap().clone();
            if items.is_empty() {
                break;
            }
            feed.extend(items);
            after = page["next_cursor"].as_str().unwrap().to_owned();
        }
    }
    assert!(feed.len() > 20, "the load made events: {}", feed.len());
    let ids: HashSet<String> = feed.iter().map(|e| e["id"].as_str().unwrap().to_owned()).collect();
    receiver.wait_for(&ids, Duration::from_secs(60)).await;

    let received = receiver.received();
    assert!(received.iter().all(|r| r.signature_ok));
    let mut first_body: HashMap<String, Vec<u8>> = HashMap::new();
    let mut first_seen: HashMap<String, Vec<i64>> = HashMap::new();
    for r in received.iter().filter(|r| r.status == 200) {
        let id = r.event["id"].as_str().unwrap().to_owned();
        match first_body.get(&id) {
            Some(body) => assert_eq!(body, &r.body, "a copy sent again is the same event"),
            None => {
                first_body.insert(id, r.body.clone());
                let user = r.event["user_id"].as_str().unwrap().to_owned();
                first_seen.entry(user).or_default().push(r.event["seq"].as_i64().unwrap());
            }
        }
    }
    let copies = received.iter().filter(|r| r.status == 200).count() - first_body.len();
    eprintln!("{} events, {} delivered, {copies} sent again after a kill", feed.len(), first_body.len());
    for (user, seqs) in first_seen {
        let expected: Vec<i64> = (1..=i64::try_from(seqs.len()).unwrap()).collect();
        assert_eq!(seqs, expected, "user {user}'s events first arrived in order");
    }
    // No change without its event and no event without its change.
    let report: Value = client
        .get(format!("{base}/v1/admin/ledger/check"))
        .bearer_auth(&admin)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(report["ok"], true, "{report}");
    child.kill().unwrap();
    child.wait().unwrap();
}
