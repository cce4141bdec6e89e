//! SQLite: the WAL is checkpointed by a thread of its own, not by whichever write commits
//! past SQLite's 1,000 pages. Under load that write is the group-commit writer's, the one
//! thread every money request waits for, and checkpointing (copying pages into the
//! database file, then its fsync) took 18% of that thread's time (`perf`, `transfers`).
//! The pool's connections raise SQLite's automatic checkpoint to 256 MiB, a backstop
//! (`conn.rs`); this thread runs a PASSIVE checkpoint, which neither waits for nor blocks
//! readers and the writer, every `INTERVAL`. It stops when its `Checkpointer` is dropped.
//!
//! A checkpoint beside a busy writer never catches up with it, and the WAL starts over only
//! once every frame is in the database file (2.3 GB of WAL in a 12 s benchmark without the
//! second step). So once the WAL is past `RESTART_FRAMES`, the thread also takes the writer's
//! turn (the in-process lock every SQLite write holds) for a second PASSIVE checkpoint: with
//! no write in progress it copies the few frames left, and the next write starts the WAL from
//! its beginning (unless a reader still reads it; then on a later round). The bulk of the
//! copying still happens beside the writer. The WAL file is cut back to 64 MiB when it starts
//! over (`journal_size_limit`, `conn.rs`). Measured side by side (docs/PERFORMANCE.md):
//! SQLite transfers +30% against checkpoints by the writer.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use diesel::prelude::*;
use diesel::sql_types::BigInt;

use super::{DbConn, DbTarget};

/// How often the WAL is copied into the database file while it is short.
const INTERVAL: Duration = Duration::from_millis(100);

/// WAL frames (pages) past which the WAL is brought back to its start: 32 MiB of 4 KiB
/// pages. A transfer writes about 20 pages a commit: at 3,000/s, a fifth of a second.
const RESTART_FRAMES: i64 = 8192;

pub struct Checkpointer {
    stop: Arc<AtomicBool>,
}

impl Checkpointer {
    /// Starts the thread; `None` for PostgreSQL, which checkpoints itself. `writer` is the
    /// lock every SQLite write of this process holds (`Db::write`, group commit).
    pub fn start(target: &DbTarget, writer: Arc<Mutex<()>>) -> Option<Self> {
        let DbTarget::Sqlite { .. } = target else { return None };
        let (stop, target) = (Arc::new(AtomicBool::new(false)), target.clone());
        let flag = stop.clone();
        std::thread::Builder::new()
            .name("sqlite-checkpoint".into())
            .spawn(move || run(&target, &writer, &flag))
            .expect("a thread can be started");
        Some(Self { stop })
    }
}

impl Drop for Checkpointer {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
    }
}

fn run(target: &DbTarget, writer: &Mutex<()>, stop: &AtomicBool) {
    let mut conn: Option<DbConn> = None;
    while !stop.load(Ordering::Relaxed) {
        std::thread::sleep(INTERVAL);
        if conn.is_none() {
            // The database may be unreachable for a while (its folder being made, a full
            // disk): try again next time.
            conn = target.connect().map_err(|e| tracing::warn!(error = %e, "checkpointer cannot connect")).ok();
        }
        let Some(c) = conn.as_mut() else { continue };
        let checkpointed = checkpoint(c).and_then(|frames| {
            if frames < RESTART_FRAMES {
                return Ok(frames);
            }
            let _turn = writer.lock().unwrap_or_else(PoisonError::into_inner);
            checkpoint(c)
        });
        if let Err(e) = checkpointed {
            tracing::warn!(error = %e, "WAL checkpoint failed");
            conn = None;
        }
    }
}

/// A PASSIVE checkpoint; answers how many frames the WAL holds.
fn checkpoint(conn: &mut DbConn) -> QueryResult<i64> {
    #[derive(QueryableByName)]
    struct Checkpointed {
        #[diesel(sql_type = BigInt)]
        log: i64,
    }
    let done: Checkpointed = diesel::sql_query("PRAGMA wal_checkpoint(PASSIVE)").get_result(conn)?;
    Ok(done.log)
}
