//! Per-account pacing: a bound on how many passwords of one account are evaluated per unit
//! of time, however many addresses the guesses come from (issue 27, finding 4).
//!
//! Every attempt at a username is recorded before its password is hashed (`acct:<name>`, so
//! a concurrent burst sees itself); a correct password takes its record back. Past
//! `login_account_free_attempts` in the window, the username's attempts are evaluated one
//! slot at a time, the slots `base * 2^(attempts beyond - 1)` apart, at most `pace_max`: the
//! more the account was guessed at, the slower. An attempt whose slot is more than
//! `max_wait` away answers 429 at once (it is not evaluated, and costs the account nothing).
//!
//! Two lanes per account, so that the owner does not queue behind a guesser's repeated
//! tries: attempts from a network (IPv4 /24, IPv6 /48) that has tried this username in the
//! window without getting in take the `seen` lane; attempts from any other network the
//! `fresh` lane. A guesser spread over many addresses reaches the fresh lane once per network,
//! and both lanes together evaluate at most two passwords per `pace_max` once the account is
//! under attack. The owner logging in from a network that never tried in vain waits at most
//! `max_wait` for the fresh lane once guesses from new networks stop.

use chrono::{DateTime, TimeDelta, Utc};
use uuid::Uuid;

use crate::config::AuthSettings;
use crate::store::pace::{self, Slot};
use crate::store::{DbConn, StoreError, throttle};

/// The account pacing settings, in the units a reservation uses.
#[derive(Clone, Copy, Debug)]
pub struct PaceRules {
    free_attempts: i64,
    base: TimeDelta,
    max: TimeDelta,
    max_wait: TimeDelta,
}

impl PaceRules {
    pub fn new(auth: &AuthSettings) -> Self {
        let ms = |v: u64| TimeDelta::milliseconds(i64::try_from(v).unwrap_or(i64::MAX));
        Self {
            free_attempts: i64::from(auth.login_account_free_attempts),
            base: ms(auth.login_account_pace_base_ms),
            max: ms(auth.login_account_pace_max_ms),
            max_wait: ms(auth.login_account_max_wait_ms),
        }
    }

    /// The spacing after an evaluation that was the account's `attempts`-th in the window.
    pub fn gap(&self, attempts: i64) -> TimeDelta {
        let beyond = attempts - self.free_attempts;
        if beyond <= 0 {
            return TimeDelta::zero();
        }
        let doublings = u32::try_from(beyond - 1).unwrap_or(u32::MAX).min(30);
        self.base.checked_mul(1 << doublings).map_or(self.max, |gap| gap.min(self.max))
    }
}

fn attempts_key(username: &str) -> String {
    format!("acct:{username}")
}

fn tried_network_key(username: &str, network: &str) -> String {
    format!("acctnet:{username}|{network}")
}

fn lane(username: &str, fresh: bool) -> String {
    format!("{}:{username}", if fresh { "acct-fresh" } else { "acct-seen" })
}

/// One attempt's place in its account's pacing: its records (under the account, and under
/// the account and network; kept as failures if the password is wrong, taken back if it is
/// right or the attempt is refused), and the slot it is evaluated in.
#[derive(Clone, Copy, Debug)]
pub struct AccountTurn {
    pub records: [Uuid; 2],
    pub slot: Slot,
}

/// Records an attempt at `username` from `network` and reserves its slot, in the caller's
/// transaction. `Slot::Full`: the caller refuses the attempt and removes its records.
///
/// The network's record is written before the attempt is evaluated, so a burst from one
/// new network takes the `fresh` lane once, and its other attempts queue in the `seen` lane.
pub fn reserve(
    conn: &mut DbConn,
    username: &str,
    network: &str,
    now: DateTime<Utc>,
    since: DateTime<Utc>,
    rules: PaceRules,
) -> Result<AccountTurn, StoreError> {
    let (key, network_key) = (attempts_key(username), tried_network_key(username, network));
    let fresh = throttle::count_since(conn, &network_key, since)?.0 == 0;
    let records = [throttle::record(conn, &key, now)?, throttle::record(conn, &network_key, now)?];
    let (attempts, _) = throttle::count_since(conn, &key, since)?;
    if attempts <= rules.free_attempts {
        return Ok(AccountTurn { records, slot: Slot::At(now) });
    }
    let slot = pace::reserve(conn, &lane(username, fresh), now, rules.gap(attempts), rules.max_wait)?;
    Ok(AccountTurn { records, slot })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_gap_doubles_past_the_free_attempts_and_stops_at_the_cap() {
        let mut auth = crate::config::Settings::load(&crate::config::Sources::default()).unwrap().auth;
        auth.login_account_free_attempts = 20;
        auth.login_account_pace_base_ms = 250;
        auth.login_account_pace_max_ms = 4000;
        let rules = PaceRules::new(&auth);
        let ms = |n| rules.gap(n).num_milliseconds();
        assert_eq!((ms(0), ms(20)), (0, 0));
        assert_eq!((ms(21), ms(22), ms(23), ms(24), ms(25)), (250, 500, 1000, 2000, 4000));
        assert_eq!((ms(26), ms(10_000), ms(i64::MAX)), (4000, 4000, 4000));
    }
}
