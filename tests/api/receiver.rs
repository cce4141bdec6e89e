//! A real webhook receiver on 127.0.0.1 for the delivery tests: it answers 500 to the first
//! `fail_first` requests, may take `delay` per request, verifies each signature, and notes
//! any event that arrives while an earlier copy of it is still being handled.

use std::collections::HashSet;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use actix_web::{App, HttpRequest, HttpResponse, HttpServer, web};
use serde_json::Value;

#[derive(Clone, Debug)]
pub struct Received {
    pub event: Value,
    /// The body as sent, byte for byte.
    pub body: Vec<u8>,
    pub signature_ok: bool,
    /// What the receiver answered.
    pub status: u16,
    /// The request's place in the order the receiver answered (1, 2, ...).
    pub nth: u32,
}

#[derive(Default)]
pub struct Log {
    pub received: Vec<Received>,
    in_flight: HashSet<String>,
    /// Event ids that arrived while another copy was in flight (must stay empty).
    pub concurrent_duplicates: Vec<String>,
    answered: u32,
}

pub struct Receiver {
    pub url: String,
    pub log: Arc<Mutex<Log>>,
    secret: Arc<Mutex<String>>,
    handle: actix_web::dev::ServerHandle,
}

struct Shared {
    log: Arc<Mutex<Log>>,
    secret: Arc<Mutex<String>>,
    fail_first: u32,
    delay: Duration,
}

async fn hook(req: HttpRequest, body: web::Bytes, shared: web::Data<Shared>) -> HttpResponse {
    let event: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
    let id = event["id"].as_str().unwrap_or_default().to_owned();
    let header = req.headers().get("vaultline-signature").and_then(|v| v.to_str().ok()).unwrap_or_default().to_owned();
    let secret = shared.secret.lock().unwrap().clone();
    let now = chrono::Utc::now().timestamp();
    let signature_ok = vaultline::domain::webhook::verify(&secret, &header, &body, now, 300);
    let (status, nth) = {
        let mut log = shared.log.lock().unwrap();
        if !log.in_flight.insert(id.clone()) {
            log.concurrent_duplicates.push(id.clone());
        }
        log.answered += 1;
        (if log.answered <= shared.fail_first { 500 } else { 200 }, log.answered)
    };
    tokio::time::sleep(shared.delay).await;
    let mut log = shared.log.lock().unwrap();
    log.in_flight.remove(&id);
    log.received.push(Received { event, body: body.to_vec(), signature_ok, status, nth });
    HttpResponse::build(actix_web::http::StatusCode::from_u16(status).unwrap()).finish()
}

impl Receiver {
    pub fn start(fail_first: u32, delay: Duration) -> Receiver {
        let log = Arc::new(Mutex::new(Log::default()));
        let secret = Arc::new(Mutex::new(String::new()));
        let shared = web::Data::new(Shared { log: log.clone(), secret: secret.clone(), fail_first, delay });
        let server = HttpServer::new(move || App::new().app_data(shared.clone()).route("/hook", web::post().to(hook)))
            .workers(2)
            .bind(("127.0.0.1", 0))
            .expect("receiver binds");
        let port = server.addrs()[0].port();
        let server = server.run();
        let handle = server.handle();
        tokio::spawn(server);
        Receiver { url: format!("http://127.0.0.1:{port}/hook"), log, secret, handle }
    }

    /// The endpoint's secret, once the service has shown it.
    pub fn set_secret(&self, secret: &str) {
        *self.secret.lock().unwrap() = secret.to_owned();
    }

    /// Every request, in the order the receiver answered them. Concurrent requests finish
    /// (and are noted) in any order: a CI run once saw the third 500 noted after the first 200.
    pub fn received(&self) -> Vec<Received> {
        let mut received = self.log.lock().unwrap().received.clone();
        received.sort_by_key(|r| r.nth);
        received
    }

    pub fn concurrent_duplicates(&self) -> Vec<String> {
        self.log.lock().unwrap().concurrent_duplicates.clone()
    }

    /// Waits until every id in `ids` was answered 200, or panics after `limit`.
    pub async fn wait_for(&self, ids: &HashSet<String>, limit: Duration) {
        let deadline = tokio::time::Instant::now() + limit;
        loop {
            let delivered: HashSet<String> = self
                .received()
                .iter()
                .filter(|r| r.status == 200)
                .map(|r| r.event["id"].as_str().unwrap().to_owned())
                .collect();
            if ids.is_subset(&delivered) {
                return;
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "{} of {} events delivered in {limit:?}",
                ids.intersection(&delivered).count(),
                ids.len()
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}

impl Drop for Receiver {
    fn drop(&mut self) {
        drop(self.handle.stop(false));
    }
}
