//! Builds the application in one place: state, middleware, extractor limits, routes.

use std::net::TcpListener;
use std::sync::Arc;
use std::time::Duration;

use actix_web::dev::{Server, ServerHandle};
use actix_web::middleware::from_fn;
use actix_web::{App, HttpServer, web};

use crate::api;
use crate::config::Settings;
use crate::credentials::password::PasswordService;
use crate::credentials::tokens::TokenService;
use crate::state::AppState;
use crate::store::Db;

#[derive(Debug, thiserror::Error)]
pub enum StartupError {
    /// Configuration that cannot work (exit code 2).
    #[error("{0}")]
    Config(String),
    #[error("database: {0}")]
    Database(String),
    #[error("cannot listen on {addr}: {source}")]
    Bind { addr: String, source: std::io::Error },
}

pub struct Application {
    port: u16,
    metrics_port: Option<u16>,
    metrics: Option<Server>,
    server: Server,
    db_statements: std::sync::Arc<std::sync::atomic::AtomicU64>,
}

impl Application {
    /// Opens the database (migrating unless told not to), binds and builds the server.
    pub fn build(settings: Settings, migrate: bool) -> Result<Self, StartupError> {
        let state = web::Data::new(build_state(settings, migrate)?);
        // Installed before the first request so /metrics counts every one.
        api::metrics::handle();
        crate::jobs::spawn_cleanup(state.clone());
        crate::jobs::spawn_billing(state.clone());
        crate::delivery::spawn(state.clone());
        let settings = state.settings.clone();
        let addr = settings.server.bind.clone();
        let listener = TcpListener::bind(&addr).map_err(|source| StartupError::Bind { addr: addr.clone(), source })?;
        let port = listener.local_addr().map_err(|source| StartupError::Bind { addr, source })?.port();

        let srv = &settings.server;
        let body = api::json::BodyLimit {
            bytes: srv.max_body_bytes,
            deadline: Duration::from_millis(srv.body_read_timeout_ms),
        };
        let surface = api::Surface { metrics: srv.metrics_bind.is_empty(), docs: srv.docs_enabled };
        let mut document = api::openapi::document(&state.money, &state.limits);
        if !surface.metrics {
            document["paths"].as_object_mut().map(|paths| paths.remove("/metrics"));
        }
        let route_table = web::Data::new(api::routing::RouteTable::from_document(&document, surface.docs));
        let openapi_json = web::Bytes::from(document.to_string());
        drop(document);
        let (metrics_port, metrics) = Self::start_metrics(&settings, state.clone())?.unzip();
        let app_state = state.clone();
        let console_enabled = settings.console.enabled;
        let mut server = HttpServer::new(move || {
            App::new()
                .app_data(app_state.clone())
                .app_data(body)
                .app_data(web::PayloadConfig::new(body.bytes))
                .app_data(api::json::query_config())
                .app_data(api::json::path_config())
                .app_data(route_table.clone())
                .wrap(from_fn(api::routing::head_as_get))
                .wrap(from_fn(api::headers::security_headers))
                .wrap(from_fn(api::observe::observe))
                .configure(|cfg| api::routes(cfg, &openapi_json, surface))
                .configure(|cfg| {
                    if console_enabled {
                        crate::console::routes(cfg);
                    }
                })
                .default_service(web::to(api::routing::no_route))
        })
        .shutdown_timeout(srv.shutdown_timeout_secs)
        // Slow clients cannot hold connections: the head must arrive in time (else 408),
        // idle keep-alive ends, and each worker caps its open connections.
        .client_request_timeout(Duration::from_millis(srv.client_request_timeout_ms))
        .client_disconnect_timeout(Duration::from_millis(srv.client_disconnect_timeout_ms))
        .keep_alive(Duration::from_secs(srv.keep_alive_secs))
        .max_connections(srv.max_connections_per_worker)
        // Database calls run on each worker's blocking threads and each needs one of the
        // pool's connections, so threads past the pool size would only wait for one. Every
        // thread that ever allocated keeps a malloc arena of a few MiB: unbounded (512 per
        // worker by default) the mixed load on SQLite peaked at 80 MiB, bounded at 75 MiB.
        // Two more for the admin's webhook target check, whose system DNS lookup may outlast
        // its own timeout on a blocking thread.
        .worker_max_blocking_threads(settings.database.pool_size as usize + 2);
        if srv.workers > 0 {
            server = server.workers(srv.workers);
        }
        let server =
            server.listen(listener).map_err(|source| StartupError::Bind { addr: srv.bind.clone(), source })?.run();
        tracing::info!(port, ?metrics_port, backend = state_backend(&settings), "listening");
        let db_statements = state.db.statements();
        Ok(Self { port, metrics_port, metrics, server, db_statements })
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    /// The database statements (on PostgreSQL, round trips) the service has sent so far.
    pub fn db_statements(&self) -> std::sync::Arc<std::sync::atomic::AtomicU64> {
        self.db_statements.clone()
    }

    /// The port of the internal metrics address, when `server.metrics_bind` is set.
    pub fn metrics_port(&self) -> Option<u16> {
        self.metrics_port
    }

    /// `/metrics` alone on `server.metrics_bind` (an internal address); it runs and stops
    /// with the main server.
    fn start_metrics(settings: &Settings, state: web::Data<AppState>) -> Result<Option<(u16, Server)>, StartupError> {
        let addr = settings.server.metrics_bind.clone();
        if addr.is_empty() {
            return Ok(None);
        }
        let bind_error = |source| StartupError::Bind { addr: addr.clone(), source };
        let listener = TcpListener::bind(&addr).map_err(bind_error)?;
        let port = listener.local_addr().map_err(bind_error)?.port();
        let server = HttpServer::new(move || {
            App::new().app_data(state.clone()).wrap(from_fn(api::observe::observe)).configure(api::metrics_only)
        })
        .workers(1)
        .listen(listener)
        .map_err(bind_error)?
        .run();
        Ok(Some((port, server)))
    }

    pub fn handle(&self) -> ServerHandle {
        self.server.handle()
    }

    pub async fn run_until_stopped(self) -> std::io::Result<()> {
        let Some(metrics) = self.metrics else { return self.server.await };
        let handle = metrics.handle();
        tokio::spawn(metrics);
        let result = self.server.await;
        handle.stop(true).await;
        result
    }
}

fn state_backend(settings: &Settings) -> &'static str {
    crate::store::DbTarget::parse(&settings.database.url, &settings.database)
        .map_or("unknown", |t| t.backend().as_str())
}

/// Everything handlers share. Fails on configuration that cannot work.
pub fn build_state(settings: Settings, migrate: bool) -> Result<AppState, StartupError> {
    let money = settings.money_policy().map_err(|e| StartupError::Config(e.to_string()))?;
    let jwt_secret =
        crate::credentials::secret::resolve(&settings.auth, &settings.server.data_dir).map_err(StartupError::Config)?;
    let db = Db::new(&settings.database).map_err(StartupError::Config)?;
    if migrate {
        let applied = db.migrate().map_err(StartupError::Database)?;
        if !applied.is_empty() {
            tracing::info!(?applied, "applied migrations");
        }
    }
    let ledger = crate::ledger::Ledger::start(&db, &settings.database);
    let passwords = PasswordService::new(settings.auth.password_hash_concurrency);
    passwords.warm_up();
    let tokens = TokenService::new(&settings.auth, &jwt_secret).map_err(StartupError::Config)?;
    let limits = settings.limit_policy().map_err(|e| StartupError::Config(e.to_string()))?;
    let four_eyes_limit_minor = settings.four_eyes_limit_minor().map_err(|e| StartupError::Config(e.to_string()))?;
    let refund_four_eyes_limit_minor =
        settings.refund_four_eyes_limit_minor().map_err(|e| StartupError::Config(e.to_string()))?;
    let velocity = settings.velocity_limits().map_err(|e| StartupError::Config(e.to_string()))?;
    let requests = settings.request_budget();
    let proxies = crate::client::parse_proxies(&settings.server.trusted_proxies).map_err(StartupError::Config)?;
    let login_queue = Arc::default();
    Ok(AppState {
        db,
        ledger,
        money,
        limits,
        four_eyes_limit_minor,
        refund_four_eyes_limit_minor,
        passwords,
        tokens,
        velocity,
        requests,
        proxies,
        login_queue,
        settings: Arc::new(settings),
    })
}
