//! Login throttling for a mobile backend (README, "Identity and the edge"). Many users share
//! one address (carrier-grade NAT, a TLS proxy), so nothing an attacker does from an address,
//! short of the account's own password, refuses a correct password of another account there:
//!
//! - **Per (username, address) pair, exponential backoff.** After `login_free_failures`
//!   failures in the window the pair waits base * 2^(n - free) seconds between attempts. The
//!   attempt is reserved (recorded) before the password is hashed, so a concurrent burst
//!   sees itself and is refused, not evaluated. Only that pair is refused.
//! - **Per account, pacing** (`super::pace`): a bound on evaluations of one account's
//!   passwords per unit of time, from all addresses together, with a lane of its own for
//!   networks that never failed the account (the owner's).
//! - **Per address, spraying friction**: many usernames failed from one address make its
//!   attempts wait before hashing; the wait holds nothing anyone else needs.
//! - **A per-pair queue** on each instance (`state::PairQueue`): one check at a time per
//!   (username, address), a few waiting; only that pair can fill it.
//!
//! Counters live in the database (`login_failures`, `login_pace`), so they hold across
//! instances.

use std::sync::Arc;

use chrono::{DateTime, TimeDelta, Utc};
use uuid::Uuid;

use super::error::AuthError;
use super::pace::{self, PaceRules};
use crate::config::AuthSettings;
use crate::state::{AppState, QueueSlot};
use crate::store::pace::Slot;
use crate::store::throttle;

fn pair_key(username: &str, address: &str) -> String {
    format!("pair:{address}|{username}")
}
fn spray_prefix(address: &str) -> String {
    format!("spray:{address}|")
}

/// The backoff a pair with `failures` earlier failures must keep after its newest one.
pub fn backoff(auth: &AuthSettings, failures: i64) -> TimeDelta {
    let beyond = failures - i64::from(auth.login_free_failures);
    if beyond < 0 {
        return TimeDelta::zero();
    }
    let factor = 1_u64.checked_shl(u32::try_from(beyond).unwrap_or(63).min(63)).unwrap_or(u64::MAX);
    let secs = auth.login_backoff_base_secs.saturating_mul(factor).min(auth.login_backoff_max_secs);
    TimeDelta::seconds(i64::try_from(secs).unwrap_or(i64::MAX))
}

/// An admitted login attempt: its reservations (the pair's and the account's, kept as
/// failures if the password is wrong), and its place in the pair's queue.
pub struct Admitted {
    reservations: Vec<Uuid>,
    pair: Option<String>,
    _slot: QueueSlot,
}

fn window(auth: &AuthSettings) -> TimeDelta {
    TimeDelta::seconds(i64::try_from(auth.login_window_secs).unwrap_or(900))
}

/// What the database said about an attempt, before any password is hashed.
enum Verdict {
    /// The pair must wait this long.
    PairBackoff(TimeDelta),
    /// The account's lane is booked until then.
    AccountBusy(DateTime<Utc>),
    /// Evaluate at `slot`; `sprayed` usernames failed from the address in the window.
    Admit { reservations: Vec<Uuid>, slot: DateTime<Utc>, sprayed: i64 },
}

fn retry_after(wait: TimeDelta) -> u64 {
    u64::try_from((wait.num_milliseconds() + 999) / 1000).unwrap_or(1).max(1)
}

/// What an attempt is counted under.
struct AttemptKeys {
    /// The (username, address) pair; None for a name that cannot exist.
    pair: Option<String>,
    username: Option<String>,
    network: String,
    spray: String,
}

/// Records the attempt and decides on it, in one transaction, before any password is hashed.
fn judge(
    conn: &mut crate::store::DbConn,
    keys: &AttemptKeys,
    settings: &crate::config::Settings,
    now: DateTime<Utc>,
) -> Result<Verdict, crate::store::StoreError> {
    let since = now - window(&settings.auth);
    let mut reservations = Vec::new();
    if let Some(k) = &keys.pair {
        let id = throttle::record(conn, k, now)?;
        let (failures, newest) = throttle::others_since(conn, k, since, id)?;
        let wait = newest.map_or(TimeDelta::zero(), |at| backoff(&settings.auth, failures) - (now - at));
        if wait > TimeDelta::zero() {
            throttle::remove(conn, &[id])?;
            return Ok(Verdict::PairBackoff(wait));
        }
        reservations.push(id);
    }
    let mut slot = now;
    if let Some(u) = &keys.username {
        let turn = pace::reserve(conn, u, &keys.network, now, since, PaceRules::new(&settings.auth))?;
        reservations.extend(turn.records);
        match turn.slot {
            Slot::At(at) => slot = at,
            Slot::Full(until) => {
                throttle::remove(conn, &reservations)?;
                return Ok(Verdict::AccountBusy(until));
            }
        }
    }
    let sprayed = throttle::distinct_keys_since(conn, &keys.spray, since)?;
    Ok(Verdict::Admit { reservations, slot, sprayed })
}

/// Admits one login attempt for `username` (None: a name that cannot exist) from `address`,
/// or refuses it with 429; waits out its account slot and any friction (holding nothing)
/// before answering.
pub async fn admit_login(
    state: &AppState,
    username: Option<&str>,
    address: &str,
    now: DateTime<Utc>,
) -> Result<Admitted, AuthError> {
    let keys = Arc::new(AttemptKeys {
        pair: username.map(|u| pair_key(u, address)),
        username: username.map(str::to_owned),
        network: crate::client::network_key(address),
        spray: spray_prefix(address),
    });
    let (judged, settings) = (keys.clone(), state.settings.clone());
    let verdict = state.db.write(move |conn| judge(conn, &judged, &settings, now)).await?;
    let (reservations, slot, sprayed) = match verdict {
        Verdict::PairBackoff(wait) => {
            crate::security::event("login_backoff", username, address, "the pair must wait before trying again");
            return Err(AuthError::TooManyAttempts { retry_after_secs: retry_after(wait) });
        }
        Verdict::AccountBusy(until) => {
            crate::security::event("login_account_paced", username, address, "the account's next slot is too far");
            return Err(AuthError::TooManyAttempts { retry_after_secs: retry_after(until - now) });
        }
        Verdict::Admit { reservations, slot, sprayed } => (reservations, slot, sprayed),
    };
    let auth = &state.settings.auth;
    let mut wait = (slot - now).to_std().unwrap_or_default();
    if sprayed >= i64::from(auth.login_spray_friction_after) {
        crate::security::event("login_friction", username, address, "many usernames failed from this address");
        wait += std::time::Duration::from_millis(auth.login_friction_ms);
    }
    // Nothing is held while waiting: no queue place, no connection.
    tokio::time::sleep(wait).await;
    let queue_key = keys.pair.clone().unwrap_or_else(|| pair_key("?", address));
    let Some(slot) = state.login_queue.enter(&queue_key, auth.login_queue_per_pair).await else {
        state.db.write(move |conn| throttle::remove(conn, &reservations)).await?;
        crate::security::event("login_queue_full", username, address, "this pair is already being checked");
        return Err(AuthError::TooManyAttempts { retry_after_secs: 1 });
    };
    Ok(Admitted { reservations, pair: keys.pair.clone(), _slot: slot })
}

/// A wrong password (or unknown user): the reservations stay as the pair's, the account's and
/// the account's network's failures, and the address's sprayed usernames grow.
pub async fn failed(state: &AppState, admitted: Admitted, username: &str, address: &str) -> Result<(), AuthError> {
    let now = crate::domain::time::now();
    let spray = format!("{}{username}", spray_prefix(address));
    state.db.write(move |conn| throttle::record(conn, &spray, now).map(|_| ())).await?;
    drop(admitted);
    Ok(())
}

/// A correct password: the pair starts afresh, and the attempt does not count against the
/// account (the account's count of others' guesses stays).
pub async fn succeeded(state: &AppState, admitted: Admitted) -> Result<(), AuthError> {
    let (reservations, pair) = (admitted.reservations.clone(), admitted.pair.clone());
    state
        .db
        .write(move |conn| {
            throttle::remove(conn, &reservations)?;
            if let Some(k) = &pair {
                throttle::clear(conn, k)?;
            }
            Ok(())
        })
        .await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_after_the_free_failures_and_stops_at_the_cap() {
        let mut auth = crate::config::Settings::load(&crate::config::Sources::default()).unwrap().auth;
        auth.login_free_failures = 3;
        auth.login_backoff_base_secs = 1;
        auth.login_backoff_max_secs = 900;
        let secs = |n| backoff(&auth, n).num_seconds();
        assert_eq!((secs(0), secs(2)), (0, 0));
        assert_eq!((secs(3), secs(4), secs(5), secs(12)), (1, 2, 4, 512));
        assert_eq!((secs(13), secs(100)), (900, 900));
    }
}
