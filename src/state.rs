//! What the running service holds, built once at start-up (`startup::build_state`): the
//! `AppState` every handler, extractor and background job reaches, and the login queue of
//! this instance that it carries.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use tokio::sync::{OwnedSemaphorePermit, Semaphore};

use crate::client;
use crate::config::Settings;
use crate::credentials::password::PasswordService;
use crate::credentials::tokens::TokenService;
use crate::domain::limits::{RequestBudget, VelocityLimits};
use crate::domain::money::MoneyPolicy;
use crate::store::Db;

/// What every handler may reach, built once at start-up.
pub struct AppState {
    pub db: Db,
    /// The money operations: the one place that picks the backend and group commit.
    pub ledger: crate::ledger::Ledger,
    pub money: MoneyPolicy,
    /// How a general line's limit parses (capped by `credit.general_limit_max`).
    pub limits: MoneyPolicy,
    /// General limits above this (minor units) need a second admin (`credit.four_eyes_limit`).
    pub four_eyes_limit_minor: i64,
    pub refund_four_eyes_limit_minor: i64,
    pub passwords: PasswordService,
    pub tokens: TokenService,
    pub settings: Arc<Settings>,
    /// Velocity caps checked with each movement, and the money request budget.
    pub velocity: VelocityLimits,
    pub requests: Option<RequestBudget>,
    /// `server.trusted_proxies`, parsed.
    pub proxies: Vec<ipnet::IpNet>,
    /// Logins being checked per (username, address) pair on this instance.
    pub login_queue: Arc<PairQueue>,
}

impl AppState {
    /// The key the request's client address is throttled and logged by.
    pub fn client_address(&self, req: &actix_web::HttpRequest) -> String {
        client::throttle_key(client::client_ip(req, &self.proxies))
    }
}

/// Login checks per (username, address) pair on this instance: one at a time, at most
/// `members` waiting or checked; beyond, 429 at once. Keyed by the pair, so no other
/// username's attempts (a stranger's flood behind the same NAT address) take a place in it.
/// The login throttle (`auth::throttle`) enters it.
#[derive(Default)]
pub struct PairQueue {
    entries: Mutex<HashMap<String, QueueEntry>>,
}

struct QueueEntry {
    permits: Arc<Semaphore>,
    members: usize,
}

/// One place in a pair's queue, given back when dropped.
pub struct QueueSlot {
    queue: Arc<PairQueue>,
    key: String,
    _permit: Option<OwnedSemaphorePermit>,
}

impl PairQueue {
    pub async fn enter(self: &Arc<Self>, key: &str, members: usize) -> Option<QueueSlot> {
        let permits = {
            let mut map = self.entries.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
            let entry = map
                .entry(key.to_owned())
                .or_insert_with(|| QueueEntry { permits: Arc::new(Semaphore::new(1)), members: 0 });
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
