//! The ranges of the login and registration throttle settings (`[auth]`).

use super::{AuthSettings, ConfigError};

pub(super) fn check(a: &AuthSettings) -> Result<(), ConfigError> {
    let bad = |key: &str, why: &str| Err(ConfigError(format!("auth.{key}: {why}")));
    if !(1..=100).contains(&a.login_free_failures) {
        return bad("login_free_failures", "must be 1..=100");
    }
    if a.login_backoff_base_secs == 0 || a.login_backoff_base_secs > a.login_backoff_max_secs {
        return bad("login_backoff_base_secs", "must be 1..=login_backoff_max_secs");
    }
    if a.login_backoff_max_secs > 86_400 || a.login_friction_ms > 10_000 {
        return bad("login_backoff_max_secs", "at most a day; login_friction_ms at most 10000");
    }
    if !(1..=86_400).contains(&a.login_window_secs) {
        return bad("login_window_secs", "must be 1..=86400");
    }
    if !(1..=10_000).contains(&a.login_account_free_attempts) {
        return bad("login_account_free_attempts", "must be 1..=10000");
    }
    if a.login_account_pace_base_ms == 0 || a.login_account_pace_base_ms > a.login_account_pace_max_ms {
        return bad("login_account_pace_base_ms", "must be 1..=login_account_pace_max_ms");
    }
    // The owner's promise: a login from an address that never failed waits at most this.
    if a.login_account_pace_max_ms > 60_000 || !(1..=60_000).contains(&a.login_account_max_wait_ms) {
        return bad("login_account_max_wait_ms", "1..=60000; login_account_pace_max_ms at most 60000");
    }
    if !(1..=1000).contains(&a.login_queue_per_pair) {
        return bad("login_queue_per_pair", "must be 1..=1000");
    }
    // A network limit below the address limit is allowed: then the network's is the one met.
    if a.registrations_per_address_per_hour == 0 || a.registrations_per_network_per_hour == 0 {
        return bad("registrations_per_address_per_hour", "and registrations_per_network_per_hour must be above zero");
    }
    if a.registrations_per_minute == 0 || a.registrations_global_delay_ms > 10_000 {
        return bad("registrations_per_minute", "must be above zero; registrations_global_delay_ms at most 10000");
    }
    Ok(())
}
