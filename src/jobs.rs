//! Work the service does on its own, off the request path.

use std::time::Duration;

use actix_web::web;
use chrono::TimeDelta;

use crate::domain::time;
use crate::state::AppState;
use crate::store::{StoreError, idempotency, sessions, throttle};

/// What one clean-up pass removed.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Cleaned {
    pub idempotency_keys: usize,
    pub login_failures: usize,
    pub request_windows: usize,
    pub refresh_tokens: usize,
    pub webhook_records: usize,
}

/// Deletes idempotency keys past their retention, login failures past the throttle
/// window, and refresh tokens past their expiry. Safe to run from several instances.
pub async fn cleanup_once(state: &AppState) -> Result<Cleaned, StoreError> {
    let now = time::now();
    let keys_before =
        now - TimeDelta::hours(i64::try_from(state.settings.jobs.idempotency_retention_hours).unwrap_or(24));
    // Login failures count for the login window; registrations for an hour.
    let kept = i64::try_from(state.settings.auth.login_window_secs).unwrap_or(900).max(3600);
    let failures_before = now - TimeDelta::seconds(kept);
    let webhooks_before = (now - TimeDelta::days(i64::from(state.settings.webhooks.retention_days))).naive_utc();
    state
        .db
        .write(move |conn| {
            Ok(Cleaned {
                idempotency_keys: idempotency::purge_before(conn, keys_before)?,
                // Paced lanes idle for the window would answer "now" anyway.
                login_failures: throttle::purge_before(conn, failures_before)?
                    + crate::store::pace::purge_before(conn, failures_before)?,
                refresh_tokens: sessions::purge_expired(conn, now)?,
                webhook_records: crate::store::webhooks::purge_before(conn, webhooks_before)?,
                // The longest window is a day; anything older counts for nothing.
                request_windows: crate::store::rate::purge_before(conn, (now - TimeDelta::days(1)).naive_utc())?
                    + crate::store::rate::purge_outflow_before(conn, (now - TimeDelta::days(2)).naive_utc())?,
            })
        })
        .await
}

/// Runs `cleanup_once` every `jobs.cleanup_interval_secs` for as long as the runtime lives.
pub fn spawn_cleanup(state: web::Data<AppState>) {
    let every = state.settings.jobs.cleanup_interval_secs;
    if every == 0 {
        return;
    }
    tokio::spawn(async move {
        let mut ticker = tokio::time::interval(Duration::from_secs(every));
        ticker.tick().await;
        loop {
            ticker.tick().await;
            match cleanup_once(&state).await {
                Ok(cleaned) if cleaned != Cleaned::default() => tracing::info!(?cleaned, "cleanup"),
                Ok(_) => {}
                Err(error) => tracing::warn!(%error, "cleanup failed; will retry"),
            }
        }
    });
}

/// Runs billing as of `as_of` for everyone it concerns.
pub async fn billing_once(
    state: &AppState,
    as_of: chrono::NaiveDate,
    dry_run: bool,
) -> Result<crate::store::billing::BillingReport, StoreError> {
    let rules = state.settings.credit.billing_rules();
    let model = state.settings.score.clone();
    let retries = state.db.max_retries();
    state.db.read(move |conn| crate::store::billing::run_billing(conn, as_of, &rules, &model, retries, dry_run)).await
}

/// Bills for today's date every `credit.billing_job_interval_secs`: each run is
/// idempotent, so running hourly means a restart never skips a day.
pub fn spawn_billing(state: web::Data<AppState>) {
    if !state.settings.credit.billing_job_enabled {
        return;
    }
    let every = state.settings.credit.billing_job_interval_secs;
    tokio::spawn(async move {
        let mut ticker = tokio::time::interval(Duration::from_secs(every));
        loop {
            ticker.tick().await;
            let today = time::now().date_naive();
            match billing_once(&state, today, false).await {
                Ok(report) => tracing::info!(counts = ?report.counts, %today, "billing run"),
                Err(error) => tracing::warn!(%error, "billing run failed; will retry"),
            }
        }
    });
}
