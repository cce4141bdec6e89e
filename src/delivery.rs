//! The webhook delivery worker: claims due deliveries (a lease, so instances never send one
//! at the same time), posts each signed event outside any transaction, then settles them.
//! At least once: a worker that dies mid-send leaves its lease to expire, and the event goes
//! again with the same id.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use actix_web::web;
use chrono::TimeDelta;

use crate::api::events::EventView;
use crate::config::WebhookSettings;
use crate::domain::{time, webhook};
use crate::state::AppState;
use crate::store::webhooks::{Claimed, Next, Outcome};
use crate::store::{StoreError, events};

/// Resolves names like the system does, then drops every address a webhook may not reach:
/// checked at connect time, so a name that changes what it points at is still refused.
struct GuardedResolver {
    allow_private: bool,
}

impl reqwest::dns::Resolve for GuardedResolver {
    fn resolve(&self, name: reqwest::dns::Name) -> reqwest::dns::Resolving {
        let (host, allow_private) = (name.as_str().to_owned(), self.allow_private);
        Box::pin(async move {
            let found: Vec<SocketAddr> = tokio::net::lookup_host((host.as_str(), 0)).await?.collect();
            let allowed: Vec<SocketAddr> =
                found.into_iter().filter(|a| allow_private || webhook::is_public(a.ip())).collect();
            if allowed.is_empty() {
                return Err(format!("{host} resolves to no public address").into());
            }
            Ok(Box::new(allowed.into_iter()) as reqwest::dns::Addrs)
        })
    }
}

/// The outbound client: no redirects, no proxy from the environment, bounded time.
pub fn client(settings: &WebhookSettings) -> reqwest::Client {
    let timeout = Duration::from_millis(settings.timeout_ms);
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .no_proxy()
        .connect_timeout(timeout.min(Duration::from_secs(5)))
        .timeout(timeout)
        .user_agent(concat!("vaultline-webhooks/", env!("CARGO_PKG_VERSION")))
        .dns_resolver(Arc::new(GuardedResolver { allow_private: settings.allow_private_targets }))
        .build()
        .expect("the webhook client builds")
}

/// Runs the worker for as long as the runtime lives, when `webhooks.enabled`.
pub fn spawn(state: web::Data<AppState>) {
    if !state.settings.webhooks.enabled {
        return;
    }
    // Built on the first delivery: an instance no endpoint wants events from never loads
    // TLS and the system's roots (about 4 MiB of memory).
    let client = std::sync::OnceLock::new();
    tokio::spawn(async move {
        let idle = Duration::from_millis(state.settings.webhooks.poll_ms);
        loop {
            match deliver_once(&state, &client).await {
                Ok(0) => tokio::time::sleep(idle).await,
                Ok(_) => {}
                Err(error) => {
                    tracing::warn!(%error, "webhook delivery pass failed; will retry");
                    tokio::time::sleep(idle).await;
                }
            }
        }
    });
}

/// One pass: claim, send, settle. Answers how many deliveries it attempted.
pub async fn deliver_once(
    state: &web::Data<AppState>,
    client: &std::sync::OnceLock<reqwest::Client>,
) -> Result<usize, StoreError> {
    let settings = state.settings.webhooks.clone();
    let now = time::now();
    let lease_until = now + TimeDelta::seconds(i64::try_from(settings.lease_secs).unwrap_or(30));
    let batch = settings.batch;
    if !state.db.read(move |conn| crate::store::webhooks::any_due(conn, now.naive_utc())).await? {
        return Ok(0);
    }
    let claimed = state
        .db
        .write(move |conn| crate::store::webhooks::claim(conn, now.naive_utc(), lease_until.naive_utc(), batch))
        .await?;
    if claimed.is_empty() {
        return Ok(0);
    }
    let client = client.get_or_init(|| self::client(&settings));
    match send_and_settle(state, client, &claimed, &settings).await {
        Ok(count) => Ok(count),
        Err(error) => {
            // Hand the claims back at once rather than after their lease (best effort: if the
            // database is what failed, the lease expiring is the way back).
            let tokens: Vec<String> = claimed.iter().map(|c| c.lease_token.clone()).collect();
            let _ = state.db.write(move |conn| crate::store::webhooks::release(conn, &tokens)).await;
            Err(error)
        }
    }
}

/// One claimed event as every endpoint receives it: its time and the bytes sent, or why it
/// cannot be shown.
type Body = Result<(chrono::DateTime<chrono::Utc>, Vec<u8>), String>;

/// Each event of the batch loaded and serialized once, keyed by position. Several endpoints
/// may have claimed the same event in one batch: each looks its body up here, so none of them
/// takes it from another (taking it once made every later endpoint's copy "gone", and those
/// deliveries were given up unsent).
async fn bodies(state: &web::Data<AppState>, claimed: &[Claimed]) -> Result<HashMap<i64, Body>, StoreError> {
    let mut positions: Vec<i64> = claimed.iter().map(|c| c.event_position).collect();
    positions.sort_unstable();
    positions.dedup();
    let found = state.db.read(move |conn| events::at_positions(conn, &positions)).await?;
    Ok(found
        .into_iter()
        .map(|(position, loaded)| {
            let body = loaded.map_err(|e| e.to_string()).map(|event| {
                let at = event.created_at;
                (at, serde_json::to_vec(&EventView::new(event, state)).expect("an event serializes"))
            });
            (position, body)
        })
        .collect())
}

/// Loads, signs and sends the claimed deliveries, then settles them; answers how many.
async fn send_and_settle(
    state: &web::Data<AppState>,
    client: &reqwest::Client,
    claimed: &[Claimed],
    settings: &WebhookSettings,
) -> Result<usize, StoreError> {
    let bodies = bodies(state, claimed).await?;
    let mut sends = Vec::with_capacity(claimed.len());
    let mut outcomes = Vec::new();
    for c in claimed {
        match bodies.get(&c.event_position) {
            Some(Ok((at, body))) => sends.push((c, *at, body)),
            // Cannot be shown (a corrupt row): given up with the reason, never retried blindly.
            Some(Err(error)) => {
                outcomes.push(outcome(c, None, Some(format!("the event cannot be shown: {error}")), 0, Next::GiveUp))
            }
            None => outcomes.push(outcome(c, None, Some("the event is gone".into()), 0, Next::GiveUp)),
        }
    }
    if outcomes.iter().any(|o| matches!(o.next, Next::GiveUp)) {
        tracing::error!(count = outcomes.len(), "webhook deliveries given up: their events cannot be shown");
    }
    outcomes.extend(
        futures_util::future::join_all(sends.iter().map(|(c, at, body)| send(client, c, body, *at, settings))).await,
    );
    let count = outcomes.len();
    let failing_after = settings.failing_after;
    let max_age = TimeDelta::seconds(i64::try_from(settings.max_age_secs).unwrap_or(i64::MAX));
    state
        .db
        .write(move |conn| {
            let now = time::now();
            crate::store::webhooks::settle(conn, &outcomes, now.naive_utc(), failing_after, (now - max_age).naive_utc())
        })
        .await?;
    Ok(count)
}

async fn send(
    client: &reqwest::Client,
    claimed: &Claimed,
    body: &[u8],
    event_at: chrono::DateTime<chrono::Utc>,
    settings: &WebhookSettings,
) -> Outcome {
    let started = Instant::now();
    let result = post(client, claimed, body, settings.allow_private_targets).await;
    let duration_ms = i64::try_from(started.elapsed().as_millis()).unwrap_or(i64::MAX);
    let now = time::now();
    let (status_code, error) = match result {
        Ok(status) if (200..300).contains(&status) => {
            let latency = (now - event_at).num_milliseconds() as f64 / 1000.0;
            metrics::histogram!("webhook_delivery_latency_seconds").record(latency.max(0.0));
            metrics::counter!("webhook_attempts_total", "result" => "delivered").increment(1);
            return outcome(claimed, Some(status), None, duration_ms, Next::Delivered);
        }
        Ok(status) => (Some(status), Some(format!("the receiver answered {status}"))),
        Err(error) => (None, Some(error)),
    };
    let age = now - event_at;
    let next = if age >= TimeDelta::seconds(i64::try_from(settings.max_age_secs).unwrap_or(i64::MAX)) {
        metrics::counter!("webhook_attempts_total", "result" => "gave_up").increment(1);
        Next::GiveUp
    } else {
        metrics::counter!("webhook_attempts_total", "result" => "failed").increment(1);
        let attempt = u32::try_from(claimed.attempt).unwrap_or(1);
        let wait = webhook::backoff(
            attempt,
            Duration::from_millis(settings.retry_base_ms),
            Duration::from_millis(settings.retry_max_ms),
            jitter(),
        );
        Next::RetryAt((now + TimeDelta::from_std(wait).unwrap_or(TimeDelta::hours(1))).naive_utc())
    };
    outcome(claimed, status_code, error, duration_ms, next)
}

fn outcome(
    claimed: &Claimed,
    status_code: Option<i32>,
    error: Option<String>,
    duration_ms: i64,
    next: Next,
) -> Outcome {
    Outcome {
        webhook_id: claimed.webhook_id.clone(),
        event_position: claimed.event_position,
        user_id: claimed.user_id.clone(),
        lease_token: claimed.lease_token.clone(),
        status_code,
        error,
        duration_ms,
        next,
    }
}

/// Posts one signed event; answers the receiver's status, or why none came.
async fn post(client: &reqwest::Client, claimed: &Claimed, body: &[u8], allow_private: bool) -> Result<i32, String> {
    // An address literal never reaches the resolver: checked here.
    webhook::parse_target(&claimed.url, allow_private)?;
    let signature = webhook::signature(&claimed.secret, time::now().timestamp(), body);
    let answer = client
        .post(&claimed.url)
        .header("content-type", "application/json")
        .header("vaultline-signature", signature)
        .body(body.to_vec())
        .send()
        .await
        .map_err(|e| {
            // Without the URL: it may carry a token, and attempts are listed to admins.
            let mut text = e.without_url().to_string();
            text.truncate(300);
            text
        })?;
    Ok(i32::from(answer.status().as_u16()))
}

/// A factor in [0.5, 1.0] from the OS random source.
fn jitter() -> f64 {
    let mut bytes = [0u8; 4];
    getrandom::fill(&mut bytes).expect("the OS random source is available");
    0.5 + f64::from(u32::from_le_bytes(bytes)) / f64::from(u32::MAX) / 2.0
}
