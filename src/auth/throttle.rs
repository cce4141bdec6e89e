//! Login and registration throttling for a mobile backend (README, "Throttling").
//!
//! - **Per (username, address) pair, exponential backoff.** After `login_free_failures`
//!   failures in the window the pair waits base * 2^(n - free) seconds between attempts. The
//!   attempt is reserved (recorded) before the password is hashed, so a concurrent burst
//!   sees itself and is refused, not evaluated. Only that pair is refused: other users
//!   behind the same address (carrier NAT, a proxy) and the account's owner elsewhere log in
//!   at once, so a stranger cannot lock anyone out.
//! - **Per username and per address, friction.** Many failures of one username from
//!   anywhere, or many usernames failed from one address (spraying), make every attempt
//!   wait before hashing and log a security event, but never refuse a correct password.
//! - **A bounded hashing queue per address**: a few logins from one address are checked at
//!   once; more answer 429 at once.
//! - **Registrations**, per address per hour and from everywhere per minute.
//!
//! Counters live in the database (`login_failures`), so they hold across instances.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use tokio::sync::{OwnedSemaphorePermit, Semaphore};

use chrono::{DateTime, TimeDelta, Utc};
use uuid::Uuid;

use super::session::AuthError;
use crate::api::AppState;
use crate::config::AuthSettings;
use crate::store::throttle;

/// Logins from one address, per address key: at most `concurrent` are checked at once and
/// at most `members` wait or are checked; beyond, 429 at once. This instance only: it bounds
/// the work one address can queue on this instance's password hashers, while many honest
/// users behind one address (carrier NAT) still get through, in turn.
#[derive(Default)]
pub struct AddressQueue {
    entries: Mutex<HashMap<String, QueueEntry>>,
}

struct QueueEntry {
    permits: Arc<Semaphore>,
    members: usize,
}

/// One place in an address's queue, given back when dropped.
pub struct QueueSlot {
    queue: Arc<AddressQueue>,
    key: String,
    _permit: Option<OwnedSemaphorePermit>,
}

impl AddressQueue {
    pub async fn enter(self: &Arc<Self>, key: &str, concurrent: usize, members: usize) -> Option<QueueSlot> {
        let permits = {
            let mut map = self.entries.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
            let entry = map
                .entry(key.to_owned())
                .or_insert_with(|| QueueEntry { permits: Arc::new(Semaphore::new(concurrent)), members: 0 });
            if entry.members >= members {
                return None;
            }
            entry.members += 1;
            entry.permits.clone()
        };
        // The slot exists before the wait, so a cancelled wait still leaves the queue.
        let mut slot = QueueSlot { queue: self.clone(), key: key.to_owned(), _permit: None };
        slot._permit = Some(permits.acquire_owned().await.expect("the semaphore is never closed"));
        Some(slot)
    }
}

impl Drop for QueueSlot {
    fn drop(&mut self) {
        let mut map = self.queue.entries.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        if let Some(entry) = map.get_mut(&self.key) {
            entry.members -= 1;
            if entry.members == 0 {
                map.remove(&self.key);
            }
        }
    }
}

fn pair_key(username: &str, address: &str) -> String {
    format!("pair:{address}|{username}")
}
fn user_key(username: &str) -> String {
    format!("user:{username}")
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

/// An admitted login attempt: its reservation, and its place in the address's queue.
pub struct Admitted {
    reservation: Option<Uuid>,
    pair: Option<String>,
    _slot: QueueSlot,
}

fn window(auth: &AuthSettings) -> TimeDelta {
    TimeDelta::seconds(i64::try_from(auth.login_window_secs).unwrap_or(900))
}

/// Admits one login attempt for `username` (None: a name that cannot exist) from `address`,
/// or refuses it with 429; waits out any friction before answering.
pub async fn admit_login(
    state: &AppState,
    username: Option<&str>,
    address: &str,
    now: DateTime<Utc>,
) -> Result<Admitted, AuthError> {
    let auth = &state.settings.auth;
    let queue = state.login_queue.enter(address, auth.login_concurrent_per_address, auth.login_queue_per_address);
    let slot = queue.await.ok_or_else(|| {
        crate::security::event("login_queue_full", None, address, "too many logins from one address at once");
        AuthError::TooManyAttempts { retry_after_secs: 1 }
    })?;
    let since = now - window(auth);
    let (pair, user, spray) = (username.map(|u| pair_key(u, address)), username.map(user_key), spray_prefix(address));
    let reserved_pair = pair.clone();
    let (reservation, pair_state, user_failures, sprayed) = state
        .db
        .write(move |conn| {
            let reservation = reserved_pair.as_deref().map(|k| throttle::record(conn, k, now)).transpose()?;
            let pair_state = match (&reserved_pair, reservation) {
                (Some(k), Some(id)) => Some(throttle::others_since(conn, k, since, id)?),
                _ => None,
            };
            let user_failures = user.as_deref().map(|k| throttle::count_since(conn, k, since)).transpose()?;
            let sprayed = throttle::distinct_keys_since(conn, &spray, since)?;
            Ok((reservation, pair_state, user_failures.map(|c| c.0), sprayed))
        })
        .await?;
    if let Some((failures, Some(newest))) = pair_state {
        let wait = backoff(auth, failures) - (now - newest);
        if wait > TimeDelta::zero() {
            if let Some(id) = reservation {
                state.db.write(move |conn| throttle::remove(conn, &[id])).await?;
            }
            crate::security::event("login_backoff", username, address, "the pair must wait before trying again");
            let secs = u64::try_from((wait.num_milliseconds() + 999) / 1000).unwrap_or(1).max(1);
            return Err(AuthError::TooManyAttempts { retry_after_secs: secs });
        }
    }
    let busy_user = user_failures.is_some_and(|n| n >= i64::from(auth.login_user_friction_after));
    let spraying = sprayed >= i64::from(auth.login_spray_friction_after);
    if busy_user || spraying {
        let why = if spraying { "many usernames failed from this address" } else { "many failures for this username" };
        crate::security::event("login_friction", username, address, why);
        tokio::time::sleep(std::time::Duration::from_millis(auth.login_friction_ms)).await;
    }
    Ok(Admitted { reservation, pair, _slot: slot })
}

/// A wrong password (or unknown user): the reservation stays as the pair's failure, and the
/// username's and the address's counts grow.
pub async fn failed(state: &AppState, admitted: Admitted, username: &str, address: &str) -> Result<(), AuthError> {
    let now = crate::domain::time::now();
    let (user, spray) = (user_key(username), format!("{}{username}", spray_prefix(address)));
    state
        .db
        .write(move |conn| {
            throttle::record(conn, &user, now)?;
            throttle::record(conn, &spray, now)?;
            Ok(())
        })
        .await?;
    drop(admitted);
    Ok(())
}

/// A correct password: the pair starts afresh.
pub async fn succeeded(state: &AppState, admitted: Admitted) -> Result<(), AuthError> {
    let (reservation, pair) = (admitted.reservation, admitted.pair.clone());
    state
        .db
        .write(move |conn| {
            if let Some(id) = reservation {
                throttle::remove(conn, &[id])?;
            }
            if let Some(k) = &pair {
                throttle::clear(conn, k)?;
            }
            Ok(())
        })
        .await?;
    Ok(())
}

/// Counts one registration from `address`; refuses past the per-address or global limit.
pub async fn admit_registration(state: &AppState, address: &str) -> Result<(), AuthError> {
    let auth = &state.settings.auth;
    let now = crate::domain::time::now();
    let (per_address, global) = (format!("register:{address}"), "register:*".to_owned());
    let checks = [
        (per_address, i64::from(auth.registrations_per_address_per_hour), TimeDelta::hours(1)),
        (global, i64::from(auth.registrations_per_minute), TimeDelta::minutes(1)),
    ];
    let recorded = checks.clone();
    let (ids, counts) = state
        .db
        .write(move |conn| {
            let ids: Vec<Uuid> =
                recorded.iter().map(|(k, _, _)| throttle::record(conn, k, now)).collect::<Result<_, _>>()?;
            let counts: Vec<(i64, Option<DateTime<Utc>>)> =
                recorded.iter().map(|(k, _, w)| throttle::count_since(conn, k, now - *w)).collect::<Result<_, _>>()?;
            Ok((ids, counts))
        })
        .await?;
    let over = checks.iter().zip(&counts).filter(|((_, limit, _), (n, _))| n > limit);
    let wait = over.map(|((_, _, w), (_, oldest))| (oldest.unwrap_or(now) + *w - now).num_seconds() + 1).max();
    if let Some(wait) = wait {
        state.db.write(move |conn| throttle::remove(conn, &ids)).await?;
        crate::security::event("registration_throttled", None, address, "too many registrations");
        return Err(AuthError::TooManyAttempts { retry_after_secs: u64::try_from(wait.max(1)).unwrap_or(1) });
    }
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
