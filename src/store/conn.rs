//! One connection type for both backends, and an r2d2 manager that picks the backend
//! from the URL scheme and passes the real connection error through (the derived
//! `establish` tries each backend in turn and throws the errors away).

use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use diesel::connection::{InstrumentationEvent, SimpleConnection};
use diesel::prelude::*;
use diesel::r2d2::R2D2Connection;

use crate::config::{DatabaseSettings, DatabaseUrl};

#[derive(diesel::MultiConnection)]
pub enum DbConn {
    Pg(PgConnection),
    Sqlite(SqliteConnection),
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Backend {
    Postgres,
    Sqlite,
}

impl Backend {
    pub fn as_str(self) -> &'static str {
        match self {
            Backend::Postgres => "postgres",
            Backend::Sqlite => "sqlite",
        }
    }
}

impl DbConn {
    pub fn backend(&self) -> Backend {
        match self {
            DbConn::Pg(_) => Backend::Postgres,
            DbConn::Sqlite(_) => Backend::Sqlite,
        }
    }
}

/// A parsed `database.url`.
#[derive(Clone)]
pub enum DbTarget {
    Postgres { url: String, statement_timeout_ms: u64 },
    Sqlite { path: PathBuf, busy_timeout_ms: u64 },
}

impl std::fmt::Debug for DbTarget {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // The URL may carry a password: show only what identifies the target.
        match self {
            DbTarget::Postgres { url, .. } => write!(f, "postgres://…@{}", url.rsplit('@').next().unwrap_or("")),
            DbTarget::Sqlite { path, .. } => write!(f, "sqlite://{}", path.display()),
        }
    }
}

impl DbTarget {
    pub fn parse(url: &str, settings: &DatabaseSettings) -> Result<Self, String> {
        Ok(match DatabaseUrl::parse(url)? {
            DatabaseUrl::Postgres(url) => {
                DbTarget::Postgres { url: url.to_owned(), statement_timeout_ms: settings.statement_timeout_ms }
            }
            DatabaseUrl::Sqlite(path) => {
                DbTarget::Sqlite { path: PathBuf::from(path), busy_timeout_ms: settings.sqlite_busy_timeout_ms }
            }
        })
    }

    pub fn backend(&self) -> Backend {
        match self {
            DbTarget::Postgres { .. } => Backend::Postgres,
            DbTarget::Sqlite { .. } => Backend::Sqlite,
        }
    }

    /// Creates the folder a SQLite file lives in; nothing to do for PostgreSQL.
    pub fn prepare(&self) -> std::io::Result<()> {
        if let DbTarget::Sqlite { path, .. } = self {
            if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
                crate::store::private_dir(parent)?;
            }
            // Created here, readable by the service's user only; SQLite gives its -wal and
            // -shm files the database file's permissions.
            let mut options = std::fs::OpenOptions::new();
            options.create(true).append(true);
            #[cfg(unix)]
            std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
            options.open(path)?;
        }
        Ok(())
    }

    pub fn connect(&self) -> Result<DbConn, ConnectError> {
        match self {
            DbTarget::Postgres { url, statement_timeout_ms } => {
                let mut conn = PgConnection::establish(url).map_err(ConnectError::Connect)?;
                conn.batch_execute(&format!(
                    "SET statement_timeout = {statement_timeout_ms}; SET TIME ZONE 'UTC'; \
                     SET application_name = 'vaultline'"
                ))
                .map_err(ConnectError::Setup)?;
                Ok(DbConn::Pg(conn))
            }
            DbTarget::Sqlite { path, busy_timeout_ms } => {
                let path = path.to_str().ok_or_else(|| ConnectError::Path(path.display().to_string()))?;
                let mut conn = SqliteConnection::establish(path).map_err(ConnectError::Connect)?;
                // busy_timeout first: switching to WAL itself may have to wait for a lock.
                // temp_store in memory: savepoints (group commit) keep their sub-journal there
                // instead of writing it to a temporary file. A page cache of 1 MiB per
                // connection, not SQLite's 2 MiB: the pool's connections would otherwise hold
                // up to 18 MiB of copies of pages the kernel caches anyway (peak RSS, issue 10).
                // And a bound on all of SQLite's memory in the process (the limit is global):
                // past it a cache recycles its oldest page instead of growing.
                conn.batch_execute(&format!(
                    "PRAGMA busy_timeout = {busy_timeout_ms}; PRAGMA journal_mode = WAL; \
                     PRAGMA synchronous = NORMAL; PRAGMA foreign_keys = ON; PRAGMA temp_store = MEMORY; \
                     PRAGMA cache_size = -{SQLITE_CACHE_KIB}; PRAGMA soft_heap_limit = {SQLITE_SOFT_HEAP_LIMIT_BYTES};"
                ))
                .map_err(ConnectError::Setup)?;
                Ok(DbConn::Sqlite(conn))
            }
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ConnectError {
    #[error("{}", .0.to_string().trim_end())]
    Connect(diesel::ConnectionError),
    #[error("setting up the connection failed: {0}")]
    Setup(diesel::result::Error),
    #[error("database path is not valid UTF-8: {0}")]
    Path(String),
    #[error("connection check failed: {0}")]
    Check(diesel::result::Error),
}

/// Each SQLite connection's page cache, in KiB.
const SQLITE_CACHE_KIB: u32 = 1024;

/// All of SQLite's memory in this process (caches, schemas, statements), soft: SQLite never
/// fails an allocation over it. Under the mixed load it cut peak RSS by 4-5 MiB, with no
/// loss on transfers in alternating runs (`docs/PERFORMANCE.md`, 2026-12-07 later).
const SQLITE_SOFT_HEAP_LIMIT_BYTES: u64 = 4 * 1024 * 1024;

pub struct Manager {
    target: DbTarget,
    /// Every statement the pool's connections send or prepare: each is one exchange with
    /// a PostgreSQL server, so this counts round trips (`db_statements_total`; the
    /// round-trip test reads it around one HTTP request).
    statements: Arc<AtomicU64>,
}

impl Manager {
    pub fn new(target: DbTarget, statements: Arc<AtomicU64>) -> Self {
        Self { target, statements }
    }
}

impl r2d2::ManageConnection for Manager {
    type Connection = DbConn;
    type Error = ConnectError;

    fn connect(&self) -> Result<DbConn, ConnectError> {
        let mut conn = self.target.connect()?;
        if conn.backend() == Backend::Sqlite {
            // The pool's writes leave checkpoints to `checkpoint.rs`, off the writer's thread,
            // unless the WAL passes 256 MiB: a backstop for writers that do not take the
            // process's writer turn (another process, a migration), beside which the
            // checkpointer's PASSIVE checkpoints never let the WAL start over. A WAL that grew
            // past 64 MiB between two restarts is cut back to that at the next.
            conn.batch_execute("PRAGMA wal_autocheckpoint = 65536; PRAGMA journal_size_limit = 67108864")
                .map_err(ConnectError::Setup)?;
        }
        let statements = self.statements.clone();
        conn.set_instrumentation(move |event: InstrumentationEvent<'_>| {
            if matches!(event, InstrumentationEvent::StartQuery { .. } | InstrumentationEvent::CacheQuery { .. }) {
                statements.fetch_add(1, Ordering::Relaxed);
            }
        });
        Ok(conn)
    }

    fn is_valid(&self, conn: &mut DbConn) -> Result<(), ConnectError> {
        conn.batch_execute("SELECT 1").map_err(ConnectError::Check)
    }

    fn has_broken(&self, conn: &mut DbConn) -> bool {
        std::thread::panicking() || conn.is_broken()
    }
}

pub type Pool = r2d2::Pool<Manager>;
pub type PooledConn = r2d2::PooledConnection<Manager>;

pub fn build_pool(target: DbTarget, settings: &DatabaseSettings, statements: Arc<AtomicU64>) -> Pool {
    // Built unchecked so the service starts (and answers 503) while the database is down,
    // then recovers by itself once it is back.
    r2d2::Pool::builder()
        .max_size(settings.pool_size)
        .min_idle(Some(0))
        .connection_timeout(Duration::from_millis(settings.connection_timeout_ms))
        .idle_timeout(Some(Duration::from_secs(300)))
        // No ping per checkout (a round trip per request): after any failed query diesel
        // reads libpq's transaction status, which is Unknown on a dead connection, and
        // reports it broken, so the pool drops it (the outage test covers this).
        .test_on_check_out(false)
        .error_handler(Box::new(LogErrors))
        .build_unchecked(Manager::new(target, statements))
}

#[derive(Debug)]
struct LogErrors;

impl r2d2::HandleError<ConnectError> for LogErrors {
    fn handle_error(&self, error: ConnectError) {
        tracing::warn!(error = %error, "database connection failed");
    }
}

#[cfg(all(test, unix))]
mod private_files {
    use std::os::unix::fs::PermissionsExt;

    use super::*;

    #[test]
    fn the_data_folder_and_database_file_are_private() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("fresh").join("vaultline.db");
        let settings = crate::config::Settings::load(&crate::config::Sources::default()).unwrap();
        let target = DbTarget::parse(&format!("sqlite://{}", path.display()), &settings.database).unwrap();
        target.prepare().unwrap();
        let mode = |p: &std::path::Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode(&dir.path().join("fresh")), 0o700);
        assert_eq!(mode(&path), 0o600);
        let mut conn = target.connect().unwrap();
        conn.batch_execute("CREATE TABLE t (x INTEGER); INSERT INTO t VALUES (1);").unwrap();
        let wal = dir.path().join("fresh").join("vaultline.db-wal");
        if wal.exists() {
            assert_eq!(mode(&wal), 0o600, "SQLite gives the WAL the database file's mode");
        }
    }
}
