//! Group commit: concurrent money requests of this instance share one transaction and one
//! commit. Requests queue here; each lane (a thread with a pooled connection) takes what
//! has queued, up to `max_batch`, runs it as one batch, and answers every request only
//! after the batch has committed. Nothing waits for a batch to fill: a lane takes what is
//! there, so a lone request goes at once and batches grow with the load.
//!
//! A lane takes no request for a user another lane's batch is running for (as sender or
//! recipient): that request would only wait in the database for the other batch's row locks,
//! holding this batch's locks meanwhile, so the two lanes would take turns instead of running
//! side by side. It stays queued, in order: a later request sharing a user with it is not
//! taken before it either. Recipients are known by name; their ids are learnt from the
//! batches' answers (`recipient_ids`). Only the order of work depends on this, never an
//! outcome (requests in flight together have no order to keep): a request whose recipient
//! is not known yet is taken, and at worst waits for rows; and a request a batch hands back
//! to run alone (`StoreError::RunAlone`) leaves the lanes' bookkeeping with its batch.

use std::collections::{HashMap, HashSet, VecDeque};
use std::sync::{Arc, Condvar, Mutex, PoisonError};
use std::time::Duration;

use tokio::sync::oneshot;
use uuid::Uuid;

use super::request::{Answer, Call, MoneyOp};
use crate::store::{Backend, Pool, StoreError};

struct Pending {
    call: Call,
    op: MoneyOp,
    reply: oneshot::Sender<Result<Answer, StoreError>>,
}

struct Shared {
    queue: Mutex<Queue>,
    ready: Condvar,
}

impl Pending {
    /// The users whose rows the operation writes, as far as is known here.
    fn users(&self, recipient_ids: &HashMap<String, Uuid>) -> impl Iterator<Item = Uuid> {
        let recipient = match &self.op {
            MoneyOp::Transfer { to, .. } => recipient_ids.get(to.as_str()).copied(),
            _ => None,
        };
        std::iter::once(self.call.user_id).chain(recipient)
    }
}

/// Recipients' ids learnt, at most this many (then forgotten all at once and learnt again).
const MAX_RECIPIENT_IDS: usize = 100_000;

#[derive(Default)]
struct Queue {
    pending: VecDeque<Pending>,
    closed: bool,
    /// Per lane: the users its running batch writes for.
    running_for: Vec<HashSet<Uuid>>,
    /// Recipients' ids by name, from the batches' answers.
    recipient_ids: HashMap<String, Uuid>,
}

/// The queue and its lanes; dropping the last handle stops the lanes.
pub struct GroupCommit {
    shared: Arc<Shared>,
    max_queue: usize,
}

#[derive(Clone, Copy, Debug)]
pub struct GroupSettings {
    pub lanes: u32,
    pub max_batch: usize,
    /// Requests queued beyond this are refused at once (503) rather than left waiting.
    pub max_queue: usize,
    pub window: Duration,
    pub max_retries: u32,
}

impl GroupCommit {
    pub fn start(pool: Pool, backend: Backend, writer: Arc<Mutex<()>>, settings: GroupSettings) -> Self {
        assert!(settings.max_batch >= 1 && settings.lanes >= 1, "validated with the configuration");
        // SQLite has one writer: more lanes would only queue on its lock.
        let lanes = if backend == Backend::Sqlite { 1 } else { settings.lanes };
        let queue = Queue { running_for: vec![HashSet::new(); lanes as usize], ..Queue::default() };
        let shared = Arc::new(Shared { queue: Mutex::new(queue), ready: Condvar::new() });
        for lane in 0..lanes as usize {
            let (shared, pool, writer) = (shared.clone(), pool.clone(), writer.clone());
            std::thread::Builder::new()
                .name(format!("group-commit-{lane}"))
                .spawn(move || run_lane(&shared, lane, &pool, backend, &writer, settings))
                .expect("a thread can be started");
        }
        Self { shared, max_queue: settings.max_queue }
    }

    /// Queues one operation; answers once its batch has committed.
    pub async fn submit(&self, call: Call, op: MoneyOp) -> Result<Answer, StoreError> {
        let (reply, answer) = oneshot::channel();
        {
            let mut queue = self.shared.queue.lock().unwrap_or_else(PoisonError::into_inner);
            if queue.pending.len() >= self.max_queue {
                return Err(StoreError::Unavailable("too many money requests are waiting".into()));
            }
            queue.pending.push_back(Pending { call, op, reply });
        }
        self.shared.ready.notify_one();
        answer.await.map_err(|_| StoreError::Cancelled)?
    }
}

impl Drop for GroupCommit {
    fn drop(&mut self) {
        self.shared.queue.lock().unwrap_or_else(PoisonError::into_inner).closed = true;
        self.shared.ready.notify_all();
    }
}

/// Takes what has queued (after `window`, if set), up to `max_batch`, but what another lane's
/// batch is running for; `None` once closed and drained.
fn next_batch(shared: &Shared, lane: usize, settings: &GroupSettings) -> Option<Vec<Pending>> {
    let mut queue = shared.queue.lock().unwrap_or_else(PoisonError::into_inner);
    while queue.pending.is_empty() {
        if queue.closed {
            return None;
        }
        queue = shared.ready.wait(queue).unwrap_or_else(PoisonError::into_inner);
    }
    if !settings.window.is_zero() && queue.pending.len() < settings.max_batch {
        queue = shared.ready.wait_timeout(queue, settings.window).unwrap_or_else(PoisonError::into_inner).0;
    }
    loop {
        let batch = take_free(&mut queue, lane, settings.max_batch);
        if !batch.is_empty() {
            return Some(batch);
        }
        if queue.closed && queue.pending.is_empty() {
            return None;
        }
        // Everything queued waits for another lane's batch: this lane waits for it too.
        queue = shared.ready.wait(queue).unwrap_or_else(PoisonError::into_inner);
    }
}

/// How many queued requests a lane looks at for a batch: a lane that finds them all waiting
/// for another lane looks again at every new request, so the look is bounded, not the queue.
const SCAN_MAX: usize = 256;

/// Takes from `queue`, in order, up to `max_batch` of the first `SCAN_MAX` requests, those
/// sharing no user with another lane's running batch nor with an earlier request left queued;
/// records whom `lane` runs for.
fn take_free(queue: &mut Queue, lane: usize, max_batch: usize) -> Vec<Pending> {
    let mut busy: HashSet<Uuid> = queue
        .running_for
        .iter()
        .enumerate()
        .filter(|(other, _)| *other != lane)
        .flat_map(|(_, u)| u.iter().copied())
        .collect();
    let mut picked: Vec<usize> = Vec::new();
    for (n, pending) in queue.pending.iter().take(SCAN_MAX).enumerate() {
        if picked.len() == max_batch {
            break;
        }
        let users: Vec<Uuid> = pending.users(&queue.recipient_ids).collect();
        if users.iter().any(|user| busy.contains(user)) {
            busy.extend(users);
        } else {
            picked.push(n);
        }
    }
    // Removed from the back, so the indices before stay valid.
    let mut batch: Vec<Pending> = picked.iter().rev().filter_map(|&n| queue.pending.remove(n)).collect();
    batch.reverse();
    debug_assert_eq!(batch.len(), picked.len(), "every picked index was in the queue");
    let running = &mut queue.running_for[lane];
    running.clear();
    for pending in &batch {
        running.extend(pending.users(&queue.recipient_ids));
    }
    batch
}

/// The lane's batch is over: other lanes may take its users' requests; its recipients are learnt.
fn finish_batch(shared: &Shared, lane: usize, ops: &[(Call, MoneyOp)], recipients: &[Option<Uuid>]) {
    let mut queue = shared.queue.lock().unwrap_or_else(PoisonError::into_inner);
    queue.running_for[lane].clear();
    if queue.recipient_ids.len() >= MAX_RECIPIENT_IDS {
        queue.recipient_ids.clear();
    }
    for ((_, op), id) in ops.iter().zip(recipients) {
        if let (MoneyOp::Transfer { to, .. }, Some(id)) = (op, id) {
            queue.recipient_ids.insert(to.as_str().to_owned(), *id);
        }
    }
    drop(queue);
    shared.ready.notify_all();
}

fn run_lane(shared: &Shared, lane: usize, pool: &Pool, backend: Backend, writer: &Mutex<()>, settings: GroupSettings) {
    while let Some(batch) = next_batch(shared, lane, &settings) {
        let (ops, replies): (Vec<(Call, MoneyOp)>, Vec<_>) =
            batch.into_iter().map(|p| ((p.call, p.op), p.reply)).unzip();
        metrics::histogram!("money_group_commit_batch_size", "backend" => backend.as_str()).record(ops.len() as f64);
        // A panic must not take the lane (and every later money request) with it: the batch
        // is answered with an error (its transaction was rolled back, the connection dropped as
        // broken), and the lane goes on.
        let run = std::panic::AssertUnwindSafe(|| run_batch(pool, backend, writer, &ops, settings.max_retries));
        let (answers, recipients) = std::panic::catch_unwind(run).unwrap_or_else(|_| {
            tracing::error!(size = ops.len(), "a group-commit batch panicked; its requests fail");
            (ops.iter().map(|_| Err(StoreError::Unavailable("the batch failed".into()))).collect(), Vec::new())
        });
        finish_batch(shared, lane, &ops, &recipients);
        debug_assert_eq!(answers.len(), replies.len(), "one answer per request");
        for (reply, answer) in replies.into_iter().zip(answers) {
            // The caller may have gone (client disconnected); the effect stands either way.
            let _ = reply.send(answer);
        }
    }
}

/// Each request's answer, and each transfer's recipient id where the batch learnt it.
type BatchAnswers = (Vec<Result<Answer, StoreError>>, Vec<Option<Uuid>>);

fn run_batch(
    pool: &Pool,
    backend: Backend,
    writer: &Mutex<()>,
    ops: &[(Call, MoneyOp)],
    max_retries: u32,
) -> BatchAnswers {
    let mut conn = match pool.get() {
        Ok(conn) => conn,
        Err(e) => return (ops.iter().map(|_| Err(StoreError::Unavailable(e.to_string()))).collect(), Vec::new()),
    };
    match backend {
        Backend::Postgres => super::pg_batch(&mut conn, ops),
        Backend::Sqlite => {
            let _turn = writer.lock().unwrap_or_else(PoisonError::into_inner);
            (super::sqlite_batch(&mut conn, ops, max_retries), Vec::new())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::limits::VelocityLimits;
    use crate::domain::money::{Currency, MoneyPolicy};
    use crate::domain::user::Username;
    use crate::store::gate::Gate;

    fn op(from: Uuid, to: Option<&str>) -> Pending {
        let policy = MoneyPolicy::from_config(Currency::new("CNY", 2).unwrap(), "100.00").unwrap();
        let amount = policy.parse("1.00").unwrap();
        let op = match to {
            Some(name) => MoneyOp::Transfer { to: Username::parse(name).unwrap(), amount, note: None },
            None => MoneyOp::Deposit(amount),
        };
        let call = Call {
            user_id: from,
            key: "k".into(),
            request_hash: "h".into(),
            now: chrono::Utc::now(),
            limits: VelocityLimits::default(),
            gate: Gate { token_version: None, budget: None },
        };
        Pending { call, op, reply: oneshot::channel().0 }
    }

    fn queue(lanes: usize, pending: Vec<Pending>) -> Queue {
        Queue { pending: pending.into(), running_for: vec![HashSet::new(); lanes], ..Queue::default() }
    }

    fn senders(batch: &[Pending]) -> Vec<Uuid> {
        batch.iter().map(|p| p.call.user_id).collect()
    }

    #[test]
    fn a_lane_leaves_what_another_lane_runs_for_queued_in_order() {
        let [ann, bob, cat, dan] = [(); 4].map(|()| Uuid::now_v7());
        let mut q = queue(2, vec![op(ann, Some("bob_x")), op(cat, None), op(dan, Some("bob_x")), op(bob, None)]);
        q.recipient_ids.insert("bob_x".into(), bob);
        // Lane 1 runs for bob: everything naming bob stays, the rest goes to lane 0.
        q.running_for[1].insert(bob);
        let batch = take_free(&mut q, 0, 10);
        assert_eq!(senders(&batch), vec![cat]);
        assert_eq!(q.pending.iter().map(|p| p.call.user_id).collect::<Vec<_>>(), vec![ann, dan, bob]);
        assert_eq!(q.running_for[0], HashSet::from([cat]));
    }

    #[test]
    fn a_request_never_overtakes_an_earlier_one_sharing_a_user() {
        let [ann, bob, cat] = [(); 3].map(|()| Uuid::now_v7());
        // ann's first transfer waits for lane 1 (running for bob); her deposit after it, which
        // names only ann, waits behind it; cat's goes.
        let mut q = queue(2, vec![op(ann, Some("bob_x")), op(ann, None), op(cat, None)]);
        q.recipient_ids.insert("bob_x".into(), bob);
        q.running_for[1].insert(bob);
        assert_eq!(senders(&take_free(&mut q, 0, 10)), vec![cat]);
        assert_eq!(q.pending.len(), 2);
        // Once lane 1's batch is over, both go, in order, in one batch.
        q.running_for[1].clear();
        assert_eq!(senders(&take_free(&mut q, 0, 10)), vec![ann, ann]);
    }

    #[test]
    fn a_lanes_own_users_share_its_batch_up_to_the_maximum() {
        let ann = Uuid::now_v7();
        let mut q = queue(2, (0..5).map(|_| op(ann, None)).collect());
        assert_eq!(take_free(&mut q, 0, 3).len(), 3, "one user's requests share a batch, up to max_batch");
        // The other lane takes none of ann's while lane 0 runs for her.
        assert!(take_free(&mut q, 1, 3).is_empty());
        assert_eq!(q.pending.len(), 2);
    }

    #[test]
    fn a_lane_looks_at_the_first_requests_only() {
        let [ann, bob] = [(); 2].map(|()| Uuid::now_v7());
        let mut pending: Vec<Pending> = (0..SCAN_MAX).map(|_| op(ann, None)).collect();
        pending.push(op(bob, None));
        let mut q = queue(2, pending);
        q.running_for[1].insert(ann);
        assert!(take_free(&mut q, 0, 10).is_empty(), "bob's request is past the look");
        assert_eq!(q.pending.len(), SCAN_MAX + 1, "nothing is lost or reordered");
        assert_eq!(q.pending.back().unwrap().call.user_id, bob);
    }

    #[test]
    fn recipients_are_learnt_from_answers_and_forgotten_past_the_bound() {
        let shared = Shared { queue: Mutex::new(queue(2, Vec::new())), ready: Condvar::new() };
        let (ann, bob) = (Uuid::now_v7(), Uuid::now_v7());
        let ops = [op(ann, Some("bob_x")), op(ann, None)].map(|p| (p.call, p.op));
        shared.queue.lock().unwrap().running_for[0].insert(ann);
        finish_batch(&shared, 0, &ops, &[Some(bob), None]);
        let mut q = shared.queue.lock().unwrap();
        assert!(q.running_for[0].is_empty(), "the lane runs for no one once its batch is over");
        assert_eq!(q.recipient_ids.get("bob_x"), Some(&bob));
        q.recipient_ids.extend((0..MAX_RECIPIENT_IDS).map(|n| (format!("user_{n}"), Uuid::now_v7())));
        drop(q);
        finish_batch(&shared, 0, &ops, &[Some(bob), None]);
        assert_eq!(shared.queue.lock().unwrap().recipient_ids.len(), 1, "forgotten all at once, then learnt again");
    }
}
