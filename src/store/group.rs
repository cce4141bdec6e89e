//! Group commit: concurrent money requests of this instance share one transaction and one
//! commit. Requests queue here; each lane (a thread with a pooled connection) takes what
//! has queued, up to `max_batch`, runs it as one batch, and answers every request only
//! after the batch has committed. Nothing waits for a batch to fill: a lane takes what is
//! there, so a lone request goes at once and batches grow with the load.

use std::collections::VecDeque;
use std::sync::{Arc, Condvar, Mutex, PoisonError};
use std::time::Duration;

use tokio::sync::oneshot;

use super::money::{Answer, Call, MoneyOp};
use super::{Backend, Pool, StoreError};

struct Pending {
    call: Call,
    op: MoneyOp,
    reply: oneshot::Sender<Result<Answer, StoreError>>,
}

struct Shared {
    queue: Mutex<Queue>,
    ready: Condvar,
}

#[derive(Default)]
struct Queue {
    pending: VecDeque<Pending>,
    closed: bool,
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
        let shared = Arc::new(Shared { queue: Mutex::new(Queue::default()), ready: Condvar::new() });
        // SQLite has one writer: more lanes would only queue on its lock.
        let lanes = if backend == Backend::Sqlite { 1 } else { settings.lanes };
        for lane in 0..lanes {
            let (shared, pool, writer) = (shared.clone(), pool.clone(), writer.clone());
            std::thread::Builder::new()
                .name(format!("group-commit-{lane}"))
                .spawn(move || run_lane(&shared, &pool, backend, &writer, settings))
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

/// Takes what has queued (after `window`, if set), up to `max_batch`; `None` once closed.
fn next_batch(shared: &Shared, settings: &GroupSettings) -> Option<Vec<Pending>> {
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
    let take = queue.pending.len().min(settings.max_batch);
    Some(queue.pending.drain(..take).collect())
}

fn run_lane(shared: &Shared, pool: &Pool, backend: Backend, writer: &Mutex<()>, settings: GroupSettings) {
    while let Some(batch) = next_batch(shared, &settings) {
        let (ops, replies): (Vec<(Call, MoneyOp)>, Vec<_>) =
            batch.into_iter().map(|p| ((p.call, p.op), p.reply)).unzip();
        metrics::histogram!("money_group_commit_batch_size", "backend" => backend.as_str()).record(ops.len() as f64);
        // A panic must not take the lane (and every later money request) with it: the batch
        // is answered with an error (its transaction was rolled back, the connection dropped as
        // broken), and the lane goes on.
        let run = std::panic::AssertUnwindSafe(|| run_batch(pool, backend, writer, &ops, settings.max_retries));
        let answers = std::panic::catch_unwind(run).unwrap_or_else(|_| {
            tracing::error!(size = ops.len(), "a group-commit batch panicked; its requests fail");
            ops.iter().map(|_| Err(StoreError::Unavailable("the batch failed".into()))).collect()
        });
        debug_assert_eq!(answers.len(), replies.len(), "one answer per request");
        for (reply, answer) in replies.into_iter().zip(answers) {
            // The caller may have gone (client disconnected); the effect stands either way.
            let _ = reply.send(answer);
        }
    }
}

fn run_batch(
    pool: &Pool,
    backend: Backend,
    writer: &Mutex<()>,
    ops: &[(Call, MoneyOp)],
    max_retries: u32,
) -> Vec<Result<Answer, StoreError>> {
    let mut conn = match pool.get() {
        Ok(conn) => conn,
        Err(e) => return ops.iter().map(|_| Err(StoreError::Unavailable(e.to_string()))).collect(),
    };
    match backend {
        Backend::Postgres => super::money::pg_batch(&mut conn, ops),
        Backend::Sqlite => {
            let _turn = writer.lock().unwrap_or_else(PoisonError::into_inner);
            super::money::sqlite_batch(&mut conn, ops, max_retries)
        }
    }
}
