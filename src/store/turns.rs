//! A user's money calls from this instance take turns before they reach PostgreSQL.
//!
//! Every money call of a user locks that user's account row until it commits, so a user's
//! calls run one after another in the database whatever the service does. Sent all at once,
//! they would each hold a pooled connection and a backend while queued on that row lock:
//! one user hammering their account could tie up the whole pool, and PostgreSQL's wake-ups
//! of a long lock queue cost CPU on every commit. Queued here instead, a user holds at most
//! one connection at a time and the waiters cost nothing but a task. Correctness never
//! rests on this (other instances, billing and admin calls still meet the row lock): it
//! only moves the queue to where it is cheap.
//!
//! Users map onto a fixed set of FIFO locks, so memory is bounded whatever the number of
//! users; two users sharing a lock only take turns with each other.

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use uuid::Uuid;

/// How many locks users are spread over.
const STRIPES: usize = 1024;
/// Calls of one user in flight at once: one in the database, one queued on its row lock
/// ready to go the moment the first commits (one alone would add a round trip to each turn).
const IN_FLIGHT: usize = 2;

pub struct UserTurns {
    stripes: Box<[Arc<Semaphore>]>,
}

impl Default for UserTurns {
    fn default() -> Self {
        Self { stripes: (0..STRIPES).map(|_| Arc::new(Semaphore::new(IN_FLIGHT))).collect() }
    }
}

impl UserTurns {
    /// Waits for the user's turn, at most `patience` (`None`: it did not come; the caller
    /// answers 503, as when the pool has no connection in time). The turn ends when the
    /// permit is dropped: hold it in the blocking call itself, so that it lasts as long as
    /// the database work even if the request's future is dropped first.
    pub async fn take(&self, user_id: Uuid, patience: Duration) -> Option<OwnedSemaphorePermit> {
        let stripe = self.stripes[stripe(user_id)].clone();
        // The semaphores are never closed, so acquiring only ever waits.
        tokio::time::timeout(patience, stripe.acquire_owned()).await.ok().map(|p| p.expect("never closed"))
    }
}

/// A v7 id's random bits are its low ones; both halves are folded in anyway.
fn stripe(user_id: Uuid) -> usize {
    let bits = user_id.as_u128();
    let folded = (bits as u64) ^ ((bits >> 64) as u64);
    // The remainder is below STRIPES, so it fits a usize.
    (folded % STRIPES as u64) as usize
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_user_always_maps_to_the_same_lock_and_users_spread() {
        let users: Vec<Uuid> = (0..4096).map(|_| Uuid::now_v7()).collect();
        for user in &users {
            assert_eq!(stripe(*user), stripe(*user));
            assert!(stripe(*user) < STRIPES);
        }
        let used: std::collections::HashSet<usize> = users.iter().map(|u| stripe(*u)).collect();
        // 4,096 random ids over 1,024 locks leave almost none unused (expected ~19 empty).
        assert!(used.len() > 950, "only {} of {STRIPES} locks used", used.len());
    }

    #[tokio::test]
    async fn a_user_has_at_most_two_calls_in_flight() {
        let turns = UserTurns::default();
        let user = Uuid::now_v7();
        let (short, long) = (Duration::from_millis(50), Duration::from_secs(5));
        let first = turns.take(user, long).await;
        let second = turns.take(user, long).await;
        assert!(first.is_some() && second.is_some());
        assert!(turns.take(user, short).await.is_none(), "a third call waits, then gives up");
        drop(first);
        assert!(turns.take(user, long).await.is_some(), "the turn passes on once a call ends");
    }
}
