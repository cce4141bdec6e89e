//! Prometheus metrics: one process-wide recorder, rendered by `GET /metrics`.

use std::sync::OnceLock;
use std::time::Duration;

use metrics_exporter_prometheus::{PrometheusBuilder, PrometheusHandle};

/// Latency buckets in seconds: fine below 50 ms where a money call should land.
const LATENCY_BUCKETS: &[f64] = &[0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0];

/// From an event's commit to its receiver's 2xx, in seconds: retries stretch it to days.
const DELIVERY_BUCKETS: &[f64] = &[0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 300.0, 3600.0, 86_400.0];

/// Installs the recorder on first use; every app in the process shares it.
pub fn handle() -> &'static PrometheusHandle {
    static HANDLE: OnceLock<PrometheusHandle> = OnceLock::new();
    HANDLE.get_or_init(|| {
        let recorder = PrometheusBuilder::new()
            .set_buckets_for_metric(
                metrics_exporter_prometheus::Matcher::Full("http_request_duration_seconds".into()),
                LATENCY_BUCKETS,
            )
            .expect("the bucket list is not empty")
            .set_buckets_for_metric(
                metrics_exporter_prometheus::Matcher::Full("webhook_delivery_latency_seconds".into()),
                DELIVERY_BUCKETS,
            )
            .expect("the bucket list is not empty")
            .build_recorder();
        let handle = recorder.handle();
        // Fails only if another recorder is installed already; then ours stays unused.
        let _ = metrics::set_global_recorder(recorder);
        describe();
        spawn_upkeep(handle.clone());
        handle
    })
}

/// How often histogram samples are folded into their buckets.
const UPKEEP_EVERY: Duration = Duration::from_secs(5);

/// The recorder keeps every histogram sample it is given until something folds them into
/// the buckets: a scrape does, and so does this. Without it a service nobody scrapes holds
/// every request's latency in memory (about 8 bytes a sample per histogram: 20 MiB after
/// a day at 30 requests a second) and the first scrape after a quiet spell pays for all.
fn spawn_upkeep(handle: PrometheusHandle) {
    std::thread::Builder::new()
        .name("metrics-upkeep".into())
        .spawn(move || {
            loop {
                std::thread::sleep(UPKEEP_EVERY);
                handle.run_upkeep();
            }
        })
        .expect("a thread can be started");
}

/// HELP text for every metric the service records (Prometheus and promtool expect one).
fn describe() {
    metrics::describe_counter!("http_requests_total", "HTTP requests answered, by route pattern, method and status");
    metrics::describe_counter!(
        "security_events_total",
        "Security events (failed logins, throttles engaged, refresh-token reuse, freezes, admin actions), by event"
    );
    metrics::describe_histogram!(
        "http_request_duration_seconds",
        metrics::Unit::Seconds,
        "Time to answer an HTTP request, by route pattern and method"
    );
    metrics::describe_gauge!("db_pool_connections_in_use", "Database connections checked out of the pool");
    metrics::describe_gauge!("db_pool_connections_idle", "Database connections open and idle in the pool");
    metrics::describe_counter!(
        "db_statements_total",
        "Statements sent or prepared by the pool's connections (on PostgreSQL, round trips)"
    );
    metrics::describe_counter!(
        "db_transaction_retries_total",
        "Transactions retried after a serialization failure, deadlock or busy database, by backend"
    );
    metrics::describe_gauge!("events_pending", "Webhook deliveries waiting to be sent or retried");
    metrics::describe_gauge!("webhook_deliveries_failed", "Webhook deliveries given up after webhooks.max_age_secs");
    metrics::describe_counter!(
        "webhook_attempts_total",
        "Webhook delivery attempts, by result (delivered, failed: will retry, gave_up)"
    );
    metrics::describe_histogram!(
        "webhook_delivery_latency_seconds",
        metrics::Unit::Seconds,
        "From an event's commit to its delivery's 2xx answer"
    );
    metrics::describe_histogram!(
        "money_group_commit_batch_size",
        "Money requests committed together in one group-commit batch, by backend"
    );
    metrics::describe_counter!(
        "money_group_commit_together_total",
        "Transfers of group-commit batches written set-wise, in one statement with the batch's other \
         independent transfers (PostgreSQL)"
    );
}
