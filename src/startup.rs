//! Builds the application in one place: state, middleware, extractor limits, routes.

use std::net::TcpListener;
use std::sync::Arc;

use actix_web::dev::{Server, ServerHandle};
use actix_web::middleware::from_fn;
use actix_web::{App, HttpServer, web};

use crate::api::{self, AppState};
use crate::auth::password::PasswordService;
use crate::auth::tokens::TokenService;
use crate::config::Settings;
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
    server: Server,
}

impl Application {
    /// Opens the database (migrating unless told not to), binds and builds the server.
    pub fn build(settings: Settings, migrate: bool) -> Result<Self, StartupError> {
        let state = web::Data::new(build_state(settings, migrate)?);
        // Installed before the first request so /metrics counts every one.
        api::metrics::handle();
        crate::jobs::spawn_cleanup(state.clone());
        crate::jobs::spawn_billing(state.clone());
        let settings = state.settings.clone();
        let addr = settings.server.bind.clone();
        let listener = TcpListener::bind(&addr).map_err(|source| StartupError::Bind { addr: addr.clone(), source })?;
        let port = listener.local_addr().map_err(|source| StartupError::Bind { addr, source })?.port();

        let body_limit = settings.server.max_body_bytes;
        let document = api::openapi::document(&state.money, &state.limits);
        let route_table = web::Data::new(api::routing::RouteTable::from_document(&document));
        let mut server = HttpServer::new(move || {
            App::new()
                .app_data(state.clone())
                .app_data(api::json::BodyLimit(body_limit))
                .app_data(web::PayloadConfig::new(body_limit))
                .app_data(api::json::query_config())
                .app_data(api::json::path_config())
                .app_data(route_table.clone())
                .wrap(from_fn(api::routing::head_as_get))
                .wrap(from_fn(api::observe::observe))
                .configure(|cfg| api::routes(cfg, &document))
                .default_service(web::to(api::routing::no_route))
        })
        .shutdown_timeout(settings.server.shutdown_timeout_secs);
        if settings.server.workers > 0 {
            server = server.workers(settings.server.workers);
        }
        let server = server
            .listen(listener)
            .map_err(|source| StartupError::Bind { addr: settings.server.bind.clone(), source })?
            .run();
        tracing::info!(port, backend = state_backend(&settings), "listening");
        Ok(Self { port, server })
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    pub fn handle(&self) -> ServerHandle {
        self.server.handle()
    }

    pub async fn run_until_stopped(self) -> std::io::Result<()> {
        self.server.await
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
        crate::auth::secret::resolve(&settings.auth, &settings.server.data_dir).map_err(StartupError::Config)?;
    let db = Db::new(&settings.database).map_err(StartupError::Config)?;
    if migrate {
        let applied = db.migrate().map_err(StartupError::Database)?;
        if !applied.is_empty() {
            tracing::info!(?applied, "applied migrations");
        }
    }
    let passwords = PasswordService::new(settings.auth.password_hash_concurrency);
    passwords.warm_up();
    let tokens = TokenService::new(&settings.auth, &jwt_secret).map_err(StartupError::Config)?;
    let limits = settings.limit_policy().map_err(|e| StartupError::Config(e.to_string()))?;
    let four_eyes_limit_minor = settings.four_eyes_limit_minor().map_err(|e| StartupError::Config(e.to_string()))?;
    let velocity = settings.velocity_limits().map_err(|e| StartupError::Config(e.to_string()))?;
    let requests = settings.request_budget();
    let proxies = api::client::parse_proxies(&settings.server.trusted_proxies).map_err(StartupError::Config)?;
    let login_queue = Arc::default();
    Ok(AppState {
        db,
        money,
        limits,
        four_eyes_limit_minor,
        passwords,
        tokens,
        velocity,
        requests,
        proxies,
        login_queue,
        settings: Arc::new(settings),
    })
}
