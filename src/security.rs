//! Security events: one structured log line each (target `security`, with the event, the
//! user if known, the client address and the reason) and a counter in `/metrics`
//! (`security_events_total{event=...}`), so an operator can alert on them.

/// Records one security event.
pub fn event(name: &'static str, user: Option<&str>, address: &str, reason: &str) {
    tracing::warn!(target: "security", event = name, user = user.unwrap_or("-"), address, reason, "security event");
    metrics::counter!("security_events_total", "event" => name).increment(1);
}
