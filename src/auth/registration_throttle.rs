//! Registration throttling, scoped so that no set of addresses can close sign-ups for the
//! rest (issue 27, finding 3): refusals are per address key and per network (IPv4 /24, IPv6
//! /48), each counted before any password is hashed; the count from everywhere only slows
//! registrations down, it never refuses one.

use chrono::{DateTime, TimeDelta, Utc};
use uuid::Uuid;

use super::error::AuthError;
use crate::state::AppState;
use crate::store::throttle;

const GLOBAL_KEY: &str = "register:*";

/// Counts one registration from `address`; refuses past the address's or its network's
/// hourly limit, and waits `registrations_global_delay_ms` past the global per-minute count.
pub async fn admit_registration(state: &AppState, address: &str) -> Result<(), AuthError> {
    let auth = &state.settings.auth;
    let now = crate::domain::time::now();
    let network = crate::client::network_key(address);
    let scoped = [
        (format!("register:{address}"), i64::from(auth.registrations_per_address_per_hour)),
        (format!("register-net:{network}"), i64::from(auth.registrations_per_network_per_hour)),
    ];
    let recorded = scoped.clone();
    let (ids, counts, global) = state
        .db
        .write(move |conn| {
            let mut ids: Vec<Uuid> =
                recorded.iter().map(|(k, _)| throttle::record(conn, k, now)).collect::<Result<_, _>>()?;
            let counts: Vec<(i64, Option<DateTime<Utc>>)> = recorded
                .iter()
                .map(|(k, _)| throttle::count_since(conn, k, now - TimeDelta::hours(1)))
                .collect::<Result<_, _>>()?;
            ids.push(throttle::record(conn, GLOBAL_KEY, now)?);
            let (global, _) = throttle::count_since(conn, GLOBAL_KEY, now - TimeDelta::minutes(1))?;
            Ok((ids, counts, global))
        })
        .await?;
    let over = scoped.iter().zip(&counts).filter(|((_, limit), (n, _))| n > limit);
    let wait = over.map(|(_, (_, oldest))| (oldest.unwrap_or(now) + TimeDelta::hours(1) - now).num_seconds() + 1).max();
    if let Some(wait) = wait {
        state.db.write(move |conn| throttle::remove(conn, &ids)).await?;
        crate::security::event("registration_throttled", None, address, "too many registrations from this network");
        return Err(AuthError::TooManyRegistrations { retry_after_secs: u64::try_from(wait.max(1)).unwrap_or(1) });
    }
    if global > i64::from(auth.registrations_per_minute) {
        crate::security::event("registration_slowed", None, address, "many registrations from everywhere");
        tokio::time::sleep(std::time::Duration::from_millis(auth.registrations_global_delay_ms)).await;
    }
    Ok(())
}
