//! Persistence: diesel schema, row types, queries and the transaction helper.
//! Everything here is blocking; `Db` moves it onto the blocking thread pool.

pub mod account_row;
pub mod admin;
pub mod audit;
pub mod autopay;
pub mod bill_plans;
pub mod billing;
mod checkpoint;
mod conn;
pub mod console;
pub mod credit;
pub mod credit_requests;
pub(crate) mod error;
pub mod events;
pub mod gate;
pub mod idempotency;
pub mod ledger;
pub mod ledger_check;
pub mod limits;
pub mod migrate;
pub mod pace;
pub(crate) mod prepared;
pub mod purchases;
pub(crate) mod raised;
pub mod rate;
pub mod refunds;
pub mod replaceable;
pub mod risk;
pub mod schema;
pub mod score;
pub mod sessions;
pub mod snapshot;
pub mod staff;
pub mod statements;
pub mod throttle;
mod turns;
mod tx;
pub mod users;
pub mod webhooks;

use actix_web::web;

/// Runs one diesel expression on the concrete connection inside `DbConn`, for the few
/// statements the multi-backend enum cannot express (multi-row inserts).
macro_rules! on_backend {
    ($conn:expr, |$c:ident| $body:expr) => {
        match $conn {
            $crate::store::DbConn::Pg($c) => $body,
            $crate::store::DbConn::Sqlite($c) => $body,
        }
    };
}
pub(crate) use on_backend;

pub use conn::{Backend, ConnectError, DbConn, DbTarget, Pool};

/// Creates `dir` (and its parents) if missing, the last one private to the service's user
/// (0700): it holds the database and the token-signing secret.
pub fn private_dir(dir: &std::path::Path) -> std::io::Result<()> {
    if dir.is_dir() {
        return Ok(());
    }
    let mut builder = std::fs::DirBuilder::new();
    builder.recursive(true);
    #[cfg(unix)]
    std::os::unix::fs::DirBuilderExt::mode(&mut builder, 0o700);
    builder.create(dir)
}
pub use error::StoreError;
pub use tx::{retrying, transaction};

use crate::config::DatabaseSettings;

/// The application's handle on its database.
#[derive(Clone)]
pub struct Db {
    pool: Pool,
    backend: Backend,
    max_retries: u32,
    /// SQLite has one writer at a time. Writers of this process queue here, in order,
    /// instead of polling the file lock through SQLite's sleeping busy handler, which
    /// wrecks tail latency under load. Other processes still meet `busy_timeout`.
    sqlite_writer: std::sync::Arc<std::sync::Mutex<()>>,
    statements: std::sync::Arc<std::sync::atomic::AtomicU64>,
    /// PostgreSQL: a user's money calls from this instance take turns (see `turns`).
    turns: std::sync::Arc<turns::UserTurns>,
    /// How long a money call waits for its user's turn: as long as for a pooled connection.
    turn_patience: std::time::Duration,
    /// SQLite: checkpoints the WAL off the writer's thread while any clone of this handle lives.
    _checkpointer: Option<std::sync::Arc<checkpoint::Checkpointer>>,
}

impl Db {
    pub fn new(settings: &DatabaseSettings) -> Result<Self, String> {
        let target = DbTarget::parse(&settings.url, settings)?;
        if let Err(e) = target.prepare() {
            // Not fatal: the pool keeps trying, requests answer 503 until the path works.
            tracing::warn!(error = %e, "cannot create the database folder");
        }
        let backend = target.backend();
        let statements = std::sync::Arc::new(std::sync::atomic::AtomicU64::new(0));
        let sqlite_writer = std::sync::Arc::new(std::sync::Mutex::new(()));
        let checkpointer = checkpoint::Checkpointer::start(&target, sqlite_writer.clone()).map(std::sync::Arc::new);
        let pool = conn::build_pool(target, settings, statements.clone());
        let turns = std::sync::Arc::new(turns::UserTurns::default());
        let turn_patience = std::time::Duration::from_millis(settings.connection_timeout_ms);
        Ok(Self {
            backend,
            pool,
            max_retries: settings.tx_max_retries,
            sqlite_writer,
            statements,
            turns,
            turn_patience,
            _checkpointer: checkpointer,
        })
    }

    /// Statements sent (or prepared) by this handle's connections since it opened: on
    /// PostgreSQL, database round trips.
    pub fn statements(&self) -> std::sync::Arc<std::sync::atomic::AtomicU64> {
        self.statements.clone()
    }

    /// The pool and SQLite's writer turn, for group commit's lanes (`ledger`), which take
    /// connections of their own.
    pub fn lanes_handles(&self) -> (Pool, std::sync::Arc<std::sync::Mutex<()>>) {
        (self.pool.clone(), self.sqlite_writer.clone())
    }

    pub fn backend(&self) -> Backend {
        self.backend
    }

    pub fn max_retries(&self) -> u32 {
        self.max_retries
    }

    /// Connections open / idle right now.
    pub fn pool_state(&self) -> (u32, u32) {
        let state = self.pool.state();
        (state.connections, state.idle_connections)
    }

    /// Blocking access from synchronous code (CLI commands, migrations).
    pub fn conn(&self) -> Result<conn::PooledConn, StoreError> {
        Ok(self.pool.get()?)
    }

    /// Runs work that manages its own transactions (or only reads) on a pooled
    /// connection, off the async workers.
    pub async fn read<T, F>(&self, f: F) -> Result<T, StoreError>
    where
        F: FnOnce(&mut DbConn) -> Result<T, StoreError> + Send + 'static,
        T: Send + 'static,
    {
        let pool = self.pool.clone();
        web::block(move || f(&mut *pool.get()?)).await.map_err(|_| StoreError::Cancelled)?
    }

    /// Runs `f` as one write transaction (retried whole on contention), off the async workers.
    pub async fn write<T, F>(&self, f: F) -> Result<T, StoreError>
    where
        F: FnMut(&mut DbConn) -> Result<T, StoreError> + Send + 'static,
        T: Send + 'static,
    {
        let pool = self.pool.clone();
        let retries = self.max_retries;
        let writer = (self.backend == Backend::Sqlite).then(|| self.sqlite_writer.clone());
        web::block(move || {
            // A poisoned lock only means another writer panicked; the database rolled it back.
            let _turn = writer.as_ref().map(|w| w.lock().unwrap_or_else(std::sync::PoisonError::into_inner));
            transaction(&mut *pool.get()?, retries, f)
        })
        .await
        .map_err(|_| StoreError::Cancelled)?
    }

    /// Runs `f`, one statement that is a transaction by itself (PostgreSQL autocommit),
    /// off the async workers, retried whole on contention. No BEGIN, no COMMIT: one round
    /// trip when `f` sends one statement.
    pub async fn statement<T, F>(&self, f: F) -> Result<T, StoreError>
    where
        F: FnMut(&mut DbConn) -> Result<T, StoreError> + Send + 'static,
        T: Send + 'static,
    {
        let pool = self.pool.clone();
        let retries = self.max_retries;
        web::block(move || tx::retrying(&mut *pool.get()?, retries, f)).await.map_err(|_| StoreError::Cancelled)?
    }

    /// A money call of `user_id` as one statement (see `statement`), after the user's
    /// earlier money calls from this instance have finished (see `turns`).
    pub async fn user_statement<T, F>(&self, user_id: uuid::Uuid, f: F) -> Result<T, StoreError>
    where
        F: FnMut(&mut DbConn) -> Result<T, StoreError> + Send + 'static,
        T: Send + 'static,
    {
        let Some(turn) = self.turns.take(user_id, self.turn_patience).await else {
            return Err(StoreError::Unavailable("too many money requests of this user are waiting".into()));
        };
        let mut f = f;
        self.statement(move |conn| {
            let _turn = &turn;
            f(conn)
        })
        .await
    }

    /// Applies pending migrations.
    pub fn migrate(&self) -> Result<Vec<String>, String> {
        let mut conn = self.pool.get().map_err(|e| e.to_string())?;
        migrate::run_pending(&mut conn)
    }

    /// Cheapest round trip that proves the database answers.
    pub async fn ping(&self) -> Result<(), StoreError> {
        use diesel::connection::SimpleConnection;
        self.read(|conn| Ok(conn.batch_execute("SELECT 1")?)).await
    }
}
