//! Spawns the real application on a random port against a fresh database: a temporary
//! SQLite file, or a new PostgreSQL database created through `VAULTLINE_TEST_POSTGRES_URL`
//! and dropped afterwards.

use std::time::Duration;

use actix_web::dev::ServerHandle;
use diesel::{Connection, PgConnection, RunQueryDsl};
use reqwest::{Response, StatusCode};
use serde_json::Value;
use tempfile::TempDir;
use vaultline::config::{Settings, Sources};
use vaultline::startup::Application;

pub const POSTGRES_ENV: &str = "VAULTLINE_TEST_POSTGRES_URL";
pub const PASSWORD: &str = "correct horse battery";

/// Which database a test runs against.
#[derive(Clone, Debug)]
pub enum Backend {
    Sqlite,
    /// The admin URL new databases are created through.
    Postgres(String),
}

impl Backend {
    /// The PostgreSQL server the variable names. The PostgreSQL variants are built as
    /// ignored when it was not set at build time (see build.rs); run anyway, they fail here.
    pub fn postgres() -> Backend {
        match std::env::var(POSTGRES_ENV) {
            Ok(url) if !url.is_empty() => Backend::Postgres(url),
            _ => panic!("{POSTGRES_ENV} is not set: the PostgreSQL variants need a server (see README)"),
        }
    }
}

/// Generates `<name>::sqlite` and `<name>::postgres` tests for `async fn <name>(Backend)`.
#[macro_export]
macro_rules! on_both_backends {
    ($($name:ident),+ $(,)?) => {$(
        mod $name {
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn sqlite() {
                super::$name($crate::helpers::Backend::Sqlite).await;
            }
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            #[cfg_attr(not(postgres_tests), ignore = "VAULTLINE_TEST_POSTGRES_URL was not set at build time")]
            async fn postgres() {
                super::$name($crate::helpers::Backend::postgres()).await;
            }
        }
    )+};
}

/// A database that lives as long as the test.
pub enum TestDb {
    Sqlite,
    Postgres { admin_url: String, name: String },
}

impl TestDb {
    /// Creates a fresh database; returns it and the URL the app should use.
    pub fn create(backend: &Backend, dir: &TempDir) -> (TestDb, String) {
        match backend {
            Backend::Sqlite => (TestDb::Sqlite, format!("sqlite://{}", dir.path().join("vaultline.db").display())),
            Backend::Postgres(admin_url) => {
                let name = format!("vaultline_test_{}", uuid::Uuid::new_v4().simple());
                let mut conn = PgConnection::establish(admin_url)
                    .unwrap_or_else(|e| panic!("{POSTGRES_ENV} is set but PostgreSQL is not reachable: {e}"));
                diesel::sql_query(format!("CREATE DATABASE {name}")).execute(&mut conn).expect("create test database");
                let url = with_database(admin_url, &name);
                (TestDb::Postgres { admin_url: admin_url.clone(), name }, url)
            }
        }
    }
}

impl Drop for TestDb {
    fn drop(&mut self) {
        if let TestDb::Postgres { admin_url, name } = self
            && let Ok(mut conn) = PgConnection::establish(admin_url)
        {
            let _ = diesel::sql_query(format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)")).execute(&mut conn);
        }
    }
}

/// Replaces the database name in a PostgreSQL URL.
pub fn with_database(url: &str, name: &str) -> String {
    let (base, query) = match url.split_once('?') {
        Some((b, q)) => (b, Some(q)),
        None => (url, None),
    };
    let authority_end = base.find("://").map_or(0, |i| i + 3);
    let prefix = match base[authority_end..].find('/') {
        Some(slash) => &base[..authority_end + slash],
        None => base,
    };
    match query {
        Some(q) => format!("{prefix}/{name}?{q}"),
        None => format!("{prefix}/{name}"),
    }
}

pub struct TestApp {
    pub address: String,
    /// The internal metrics address, when `server.metrics_bind` is set.
    pub metrics_address: Option<String>,
    pub client: reqwest::Client,
    pub settings: Settings,
    handle: ServerHandle,
    /// The statements (on PostgreSQL, round trips) the service has sent to its database.
    pub db_statements: std::sync::Arc<std::sync::atomic::AtomicU64>,
    // Dropped after the server is told to stop (fields drop in order).
    _db: TestDb,
    _dir: TempDir,
}

impl Drop for TestApp {
    fn drop(&mut self) {
        // Sends the stop command at once; the future only waits for completion.
        drop(self.handle.stop(false));
    }
}

/// Settings for a test app: random port, the given database, quiet logs.
pub fn test_settings(database_url: &str, dir: &TempDir, extra: &[(&str, &str)]) -> Settings {
    let mut overrides: Vec<(String, String)> = vec![
        ("server.bind".into(), "127.0.0.1:0".into()),
        ("server.workers".into(), "2".into()),
        ("server.shutdown_timeout_secs".into(), "1".into()),
        ("server.data_dir".into(), dir.path().join("data").display().to_string()),
        ("database.url".into(), database_url.into()),
        ("database.pool_size".into(), "8".into()),
        // Generous: on a loaded two-core machine a new connection can take over a second.
        ("database.connection_timeout_ms".into(), "5000".into()),
        ("auth.jwt_secret".into(), "test-secret-test-secret-test-secret-0123".into()),
        // Tests bill months and years ahead; tests/api/billing.rs checks the refusal without it.
        ("credit.allow_future_billing".into(), "true".into()),
        // Races and long scripts send many money requests from one user; tests/api/velocity.rs
        // switches the limits on at chosen edges.
        ("limits.money_requests_per_window".into(), "0".into()),
        ("limits.outflow_24h_max".into(), "0".into()),
        ("limits.vault_unlocks_per_day".into(), "0".into()),
        ("log.level".into(), std::env::var("TEST_LOG").unwrap_or_else(|_| "off".into())),
    ];
    // `VAULTLINE_TEST_GROUP_COMMIT=on|off|auto` runs every test with group commit so.
    if let Ok(on) = std::env::var("VAULTLINE_TEST_GROUP_COMMIT") {
        overrides.push(("database.group_commit".into(), on));
    }
    overrides.extend(extra.iter().map(|(k, v)| (k.to_string(), v.to_string())));
    Settings::load(&Sources { overrides, ..Sources::default() }).expect("test settings load")
}

impl TestApp {
    pub async fn spawn(backend: Backend) -> TestApp {
        Self::spawn_with(backend, &[]).await
    }

    pub async fn spawn_with(backend: Backend, extra: &[(&str, &str)]) -> TestApp {
        let dir = tempfile::tempdir().expect("temp dir");
        let (db, url) = TestDb::create(&backend, &dir);
        let settings = test_settings(&url, &dir, extra);
        Self::start(settings, db, dir, true)
    }

    /// Starts on a prepared database and settings.
    pub fn start(settings: Settings, db: TestDb, dir: TempDir, migrate: bool) -> TestApp {
        if std::env::var("TEST_LOG").is_ok() {
            vaultline::telemetry::init(&settings.log);
        }
        let app = Application::build(settings.clone(), migrate).expect("application starts");
        let address = format!("http://127.0.0.1:{}", app.port());
        let metrics_address = app.metrics_port().map(|p| format!("http://127.0.0.1:{p}"));
        let handle = app.handle();
        let app_statements = app.db_statements();
        tokio::spawn(app.run_until_stopped());
        let client = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .timeout(Duration::from_secs(30))
            .build()
            .expect("client");
        let db_statements = app_statements;
        TestApp { address, metrics_address, client, settings, handle, db_statements, _db: db, _dir: dir }
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{}", self.address, path)
    }

    pub async fn get(&self, path: &str) -> Response {
        self.client.get(self.url(path)).send().await.expect("request sent")
    }

    pub async fn post_json(&self, path: &str, body: &Value) -> Response {
        self.client.post(self.url(path)).json(body).send().await.expect("request sent")
    }

    /// A POST as if from `forwarded`: the app must list 127.0.0.1 in `server.trusted_proxies`
    /// for the header to name the client.
    pub async fn post_from(&self, path: &str, forwarded: &str, body: &Value) -> Response {
        let req = self.client.post(self.url(path)).header("x-forwarded-for", forwarded).json(body);
        req.send().await.expect("request sent")
    }

    pub async fn register(&self, username: &str) -> Value {
        let res =
            self.post_json("/v1/auth/register", &serde_json::json!({"username": username, "password": PASSWORD})).await;
        assert_eq!(res.status(), StatusCode::CREATED, "register {username}");
        res.json::<Value>().await.expect("json")["user"].clone()
    }
}

/// Asserts an RFC 9457 problem with the given status and code; returns the body.
pub async fn assert_problem(res: Response, status: u16, code: &str) -> Value {
    assert_eq!(res.status().as_u16(), status, "status");
    let content_type = res.headers().get("content-type").map(|v| v.to_str().unwrap().to_owned());
    assert_eq!(content_type.as_deref(), Some("application/problem+json"));
    assert!(res.headers().contains_key("x-request-id"), "every response carries x-request-id");
    let body: Value = res.json().await.expect("problem body is JSON");
    assert_eq!(body["code"], code, "{body}");
    assert_eq!(body["status"], status, "{body}");
    assert!(body["type"].as_str().is_some_and(|t| t.ends_with(code)), "{body}");
    assert!(body["title"].is_string() && body["detail"].is_string(), "{body}");
    body
}

/// The secret test apps sign with, so tests can forge tokens deliberately.
pub const TEST_JWT_SECRET: &str = "test-secret-test-secret-test-secret-0123";

impl TestApp {
    /// Logs in with the shared test password; returns the `Tokens` body.
    pub async fn login(&self, username: &str) -> Value {
        let res =
            self.post_json("/v1/auth/login", &serde_json::json!({"username": username, "password": PASSWORD})).await;
        assert_eq!(res.status(), StatusCode::OK, "login {username}");
        res.json().await.expect("json")
    }

    /// Registers and logs in; returns the access token.
    pub async fn user_token(&self, username: &str) -> String {
        self.register(username).await;
        self.login(username).await["access_token"].as_str().unwrap().to_owned()
    }

    /// Creates an admin through the CLI against this app's database; returns an access token.
    pub async fn admin_token(&self, username: &str) -> String {
        let out = std::process::Command::new(env!("CARGO_BIN_EXE_vaultline"))
            .args(["--database-url", &self.settings.database.url, "admin", "create", "--username", username])
            .env("VAULTLINE_ADMIN_PASSWORD", PASSWORD)
            .env("RUST_LOG", "off")
            // As generous as the app's own pool (test_settings): a loaded machine is slow to connect.
            .env("VAULTLINE__DATABASE__CONNECTION_TIMEOUT_MS", "5000")
            .env_remove("VAULTLINE_PROFILE")
            .output()
            .expect("vaultline runs");
        assert!(out.status.success(), "admin create: {}", String::from_utf8_lossy(&out.stderr));
        self.login(username).await["access_token"].as_str().unwrap().to_owned()
    }

    pub async fn get_as(&self, path: &str, token: &str) -> Response {
        self.client.get(self.url(path)).bearer_auth(token).send().await.expect("request sent")
    }

    /// Runs SQL straight against the app's database (to arrange what the API cannot).
    pub fn execute_sql(&self, sql: &str) {
        use diesel::SqliteConnection;
        let url = &self.settings.database.url;
        if let Some(path) = url.strip_prefix("sqlite://") {
            let mut conn = SqliteConnection::establish(path).unwrap();
            // The app's own jobs may hold the write lock for a moment.
            diesel::sql_query("PRAGMA busy_timeout = 5000").execute(&mut conn).unwrap();
            diesel::sql_query(sql).execute(&mut conn).unwrap();
        } else {
            let mut conn = PgConnection::establish(url).unwrap();
            diesel::sql_query(sql).execute(&mut conn).unwrap();
        }
    }
}

impl TestApp {
    /// A money POST with an explicit idempotency key.
    pub async fn post_keyed(&self, path: &str, token: &str, key: &str, body: &Value) -> Response {
        self.client
            .post(self.url(path))
            .bearer_auth(token)
            .header("idempotency-key", key)
            .json(body)
            .send()
            .await
            .expect("request sent")
    }

    /// A money POST with a fresh idempotency key.
    pub async fn post_money(&self, path: &str, token: &str, body: &Value) -> Response {
        self.post_keyed(path, token, &uuid::Uuid::new_v4().to_string(), body).await
    }

    /// Deposits and asserts success; returns the Movement.
    pub async fn deposit(&self, token: &str, amount: &str) -> Value {
        let res = self.post_money("/v1/wallet/deposits", token, &serde_json::json!({"amount": amount})).await;
        assert_eq!(res.status(), StatusCode::CREATED, "deposit {amount}");
        res.json().await.expect("json")
    }

    pub async fn account(&self, token: &str) -> Value {
        let res = self.get_as("/v1/me/account", token).await;
        assert_eq!(res.status(), StatusCode::OK);
        res.json().await.expect("json")
    }

    /// Asserts the ledger check is clean as an auditor admin made for it (for tests that
    /// have no admin of their own).
    pub async fn assert_ledger_clean_as_auditor(&self) -> Value {
        let auditor = self.admin_token("ledger_auditor").await;
        self.assert_ledger_clean(&auditor).await
    }

    /// Asserts the ledger check is clean; returns the report.
    pub async fn assert_ledger_clean(&self, admin_token: &str) -> Value {
        let res = self.get_as("/v1/admin/ledger/check", admin_token).await;
        assert_eq!(res.status(), StatusCode::OK);
        let report: Value = res.json().await.expect("json");
        assert_eq!(report["ok"], true, "ledger check: {report}");
        assert_eq!(report["violations"], serde_json::json!([]), "{report}");
        report
    }

    /// Every movement of the user, walking the cursor to the end.
    pub async fn all_movements(&self, token: &str, page_size: u32) -> Vec<Value> {
        let mut items = Vec::new();
        let mut path = format!("/v1/transactions?limit={page_size}");
        loop {
            let res = self.get_as(&path, token).await;
            assert_eq!(res.status(), StatusCode::OK);
            let page: Value = res.json().await.expect("json");
            items.extend(page["items"].as_array().unwrap().iter().cloned());
            match page["next_cursor"].as_str() {
                Some(cursor) => path = format!("/v1/transactions?limit={page_size}&cursor={cursor}"),
                None => return items,
            }
        }
    }
}

/// Minor units of a money string with two places ("12.34" -> 1234).
pub fn minor(text: &Value) -> i64 {
    let s = text.as_str().unwrap_or_else(|| panic!("money is a string: {text}"));
    let (whole, frac) = s.split_once('.').expect("two places");
    assert_eq!(frac.len(), 2, "{s}");
    let sign = if whole.starts_with('-') { -1 } else { 1 };
    let whole: i64 = whole.trim_start_matches('-').parse().unwrap();
    sign * (whole * 100 + frac.parse::<i64>().unwrap())
}

impl TestApp {
    /// An admin POST (no idempotency key: admin routes that need none).
    pub async fn post_as_admin(&self, path: &str, token: &str, body: &Value) -> Response {
        self.client.post(self.url(path)).bearer_auth(token).json(body).send().await.expect("request sent")
    }

    /// A POST without a body.
    pub async fn post_as(&self, path: &str, token: &str) -> Response {
        self.client.post(self.url(path)).bearer_auth(token).send().await.expect("request sent")
    }
}

impl TestApp {
    /// Asks for a credit-line change that needs a second admin (asserts 202 `pending`), then
    /// has `approver`, another admin, approve it; returns the approved request.
    pub async fn change_line_with_approval(&self, admin: &str, approver: &str, target: &str, body: &Value) -> Value {
        let res = self.post_money(&format!("/v1/admin/users/{target}/credit-line"), admin, body).await;
        assert_eq!(res.status(), StatusCode::ACCEPTED, "credit-line change {body} waits for a second admin");
        let pending: Value = res.json().await.expect("json");
        assert_eq!(pending["state"], "pending", "{pending}");
        let id = pending["request_id"].as_str().expect("request_id");
        let reason = serde_json::json!({"reason": "second pair of eyes"});
        let res = self.post_as_admin(&format!("/v1/admin/credit-requests/{id}/approve"), approver, &reason).await;
        assert_eq!(res.status(), StatusCode::OK, "approve {id}");
        let approved: Value = res.json().await.expect("json");
        assert_eq!(approved["state"], "approved", "{approved}");
        approved
    }
}

impl TestApp {
    /// Another instance of the service on this app's database, as a second process would run
    /// it (same settings, so the same JWT secret). It owns no database: `self` keeps it.
    pub fn another_instance(&self) -> TestApp {
        TestApp::start(self.settings.clone(), TestDb::Sqlite, tempfile::tempdir().expect("temp dir"), false)
    }

    /// The value of an unlabelled gauge or counter on `/metrics`.
    pub async fn metric(&self, name: &str) -> f64 {
        let text = self.get("/metrics").await.text().await.expect("metrics text");
        let value =
            text.lines().find_map(|l| l.strip_prefix(name)?.strip_prefix(' ')).unwrap_or_else(|| panic!("{name}"));
        value.parse().unwrap_or_else(|_| panic!("{name} {value}"))
    }
}
