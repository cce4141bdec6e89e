//! Layered configuration. Every key is documented in `config/default.toml`, which is
//! compiled in as the base layer so the binary runs from any directory.

use std::path::{Path, PathBuf};

use serde::Deserialize;

use crate::domain::limits::{RequestBudget, VelocityLimits};
use crate::domain::money::{Currency, MoneyPolicy};

mod database_url;
mod production;
mod throttle_rules;

pub use database_url::DatabaseUrl;

const DEFAULTS: &str = include_str!("../config/default.toml");
const ENV_PREFIX: &str = "VAULTLINE";
/// Selects `config/<profile>.toml`.
pub const PROFILE_ENV: &str = "VAULTLINE_PROFILE";

/// Settings that are lists: in the environment and in overrides, comma-separated.
const LIST_KEYS: [&str; 1] = ["server.trusted_proxies"];

#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Settings {
    pub server: ServerSettings,
    pub database: DatabaseSettings,
    pub money: MoneySettings,
    pub credit: CreditSettings,
    pub auth: AuthSettings,
    pub log: LogSettings,
    pub jobs: JobSettings,
    pub webhooks: WebhookSettings,
    pub limits: LimitSettings,
    pub score: crate::domain::score::ScoreModel,
    pub console: ConsoleSettings,
}

/// The operations console at `/console` (see `config/default.toml`).
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ConsoleSettings {
    pub enabled: bool,
    /// The service is reached over TLS: session cookies are `Secure` and `__Host-` named.
    pub secure_cookies: bool,
    pub idle_timeout_secs: i64,
    pub absolute_timeout_secs: i64,
    /// Every staff member must enrol TOTP before using the console.
    pub require_totp: bool,
    /// How long a fresh TOTP code covers refunds and approvals.
    pub step_up_secs: i64,
}

/// Velocity limits (issue 13): each 0 means "no limit".
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LimitSettings {
    pub money_requests_per_window: i64,
    pub money_requests_window_secs: i64,
    /// Major units as text; "0" for no cap.
    pub outflow_24h_max: String,
    pub vault_unlocks_per_day: i64,
}

#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct JobSettings {
    pub cleanup_interval_secs: u64,
    pub idempotency_retention_hours: u64,
}

/// The webhook delivery worker (see `config/default.toml`).
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WebhookSettings {
    pub enabled: bool,
    pub poll_ms: u64,
    pub batch: u32,
    pub lease_secs: u64,
    pub timeout_ms: u64,
    pub retry_base_ms: u64,
    pub retry_max_ms: u64,
    pub max_age_secs: u64,
    pub failing_after: i32,
    pub max_endpoints: i64,
    pub allow_private_targets: bool,
    pub retention_days: u32,
}

#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ServerSettings {
    pub bind: String,
    pub workers: usize,
    pub shutdown_timeout_secs: u64,
    pub data_dir: PathBuf,
    pub max_body_bytes: usize,
    /// Proxies (CIDRs or addresses) whose `X-Forwarded-For` names the client.
    pub trusted_proxies: Vec<String>,
    /// Milliseconds a client has to send a request's head, and its body.
    pub client_request_timeout_ms: u64,
    pub body_read_timeout_ms: u64,
    /// Seconds an idle keep-alive connection stays open.
    pub keep_alive_secs: u64,
    /// Milliseconds a closing connection gets to finish.
    pub client_disconnect_timeout_ms: u64,
    /// Open connections per worker; more wait in the listen backlog.
    pub max_connections_per_worker: usize,
    /// Serve `/metrics` on this separate (internal) address instead of the public one; empty:
    /// on the public one.
    pub metrics_bind: String,
    /// Serve the interactive docs at `/docs` (`/openapi.json` is always served).
    pub docs_enabled: bool,
}

#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DatabaseSettings {
    pub url: String,
    pub pool_size: u32,
    pub connection_timeout_ms: u64,
    pub statement_timeout_ms: u64,
    pub sqlite_busy_timeout_ms: u64,
    pub tx_max_retries: u32,
    pub group_commit: GroupCommitMode,
    pub group_commit_lanes: u32,
    pub group_commit_max_batch: usize,
    pub group_commit_max_queue: usize,
    pub group_commit_window_us: u64,
}

/// Whether money requests share transactions (see `database.group_commit` in default.toml).
#[derive(Clone, Copy, Debug, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum GroupCommitMode {
    /// What was measured to win on each backend: on for both since 2026-12-07 (PostgreSQL
    /// `hot` +25-45%, `transfers` even or better; docs/PERFORMANCE.md). A value of its own so
    /// that a deployment follows the measured default as it changes.
    Auto,
    On,
    Off,
}

impl GroupCommitMode {
    pub fn enabled(self) -> bool {
        match self {
            GroupCommitMode::Auto | GroupCommitMode::On => true,
            GroupCommitMode::Off => false,
        }
    }
}

#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MoneySettings {
    pub currency: String,
    pub decimal_places: u32,
    pub max_amount: String,
}

#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CreditSettings {
    /// Days a hold waits for the buyer before billing confirms it.
    pub auto_confirm_days: u32,
    /// Deprecated and ignored: billing no longer voids holds (it confirms them after
    /// `auto_confirm_days`). Still accepted so an older configuration file keeps starting.
    #[serde(default)]
    pub hold_days: Option<u32>,
    /// Days after capture in which a full refund returns every fee too.
    pub free_return_days: u32,
    pub fee_rate_per_period: rust_decimal::Decimal,
    pub repayment_day: u32,
    pub statement_lead_days: u32,
    /// Days before its due date an unpaid installment's reminder event is sent.
    pub reminder_days: u32,
    pub late_fee_rate_per_day: rust_decimal::Decimal,
    pub grace_days: u32,
    /// Most late fees an installment can carry, as a fraction of its principal.
    pub late_fee_cap: rust_decimal::Decimal,
    /// Tests only: lets billing run as of a future date.
    pub allow_future_billing: bool,
    pub general_limit_max: String,
    /// General limits above this (major units) wait for a second admin's approval.
    pub four_eyes_limit: String,
    /// Refunds above this (major units) wait for a second admin's approval.
    pub refund_four_eyes_limit: String,
    pub billing_job_enabled: bool,
    pub billing_job_interval_secs: u64,
}

impl CreditSettings {
    pub fn billing_rules(&self) -> crate::domain::credit::BillingRules {
        crate::domain::credit::BillingRules {
            statement_lead_days: self.statement_lead_days,
            fee_rate_per_period: self.fee_rate_per_period,
            late_fee_rate_per_day: self.late_fee_rate_per_day,
            grace_days: self.grace_days,
            auto_confirm_days: self.auto_confirm_days,
            repayment_day: self.repayment_day,
            late_fee_cap: self.late_fee_cap,
            reminder_days: self.reminder_days,
        }
    }
}

#[derive(Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AuthSettings {
    pub jwt_secret: String,
    pub allow_generated_secret: bool,
    pub jwt_algorithm: String,
    pub jwt_leeway_secs: u64,
    pub issuer: String,
    pub audience: String,
    pub access_token_ttl_secs: u64,
    pub refresh_token_ttl_secs: u64,
    /// A refresh family ends this long after its login, however often it is rotated.
    pub refresh_family_lifetime_secs: u64,
    /// A refresh token presented again this soon after its rotation (a retry) answers the
    /// same successor instead of revoking the family.
    pub refresh_retry_grace_secs: u64,
    /// Failures a (username, address) pair may have in the window before it backs off.
    pub login_free_failures: u32,
    pub login_backoff_base_secs: u64,
    pub login_backoff_max_secs: u64,
    pub login_window_secs: u64,
    /// Attempts at one username (from anywhere, in the window) evaluated without pacing;
    /// beyond, its attempts are spaced `login_account_pace_base_ms` * 2^(attempts beyond)
    /// apart, at most `login_account_pace_max_ms`, per lane (see `auth::pace`).
    pub login_account_free_attempts: u32,
    pub login_account_pace_base_ms: u64,
    pub login_account_pace_max_ms: u64,
    /// Longest an attempt waits for its account's slot; a later slot answers 429.
    pub login_account_max_wait_ms: u64,
    /// Distinct usernames failed from one address in the window past which attempts from
    /// it wait `login_friction_ms` first (password spraying); the wait holds no slot.
    pub login_spray_friction_after: u32,
    pub login_friction_ms: u64,
    /// Attempts of one (username, address) pair checked one at a time on an instance, this
    /// many at most waiting or checked; beyond, 429 (only that pair can fill it).
    pub login_queue_per_pair: usize,
    /// Deprecated and ignored (issue 27): replaced by per-account pacing, and by the
    /// per-pair queue. Still accepted so an older configuration file keeps starting.
    #[serde(default)]
    pub login_user_friction_after: Option<u32>,
    #[serde(default)]
    pub login_concurrent_per_address: Option<usize>,
    #[serde(default)]
    pub login_queue_per_address: Option<usize>,
    /// Registrations per address key and per network (IPv4 /24, IPv6 /48) per hour: 429.
    pub registrations_per_address_per_hour: u32,
    pub registrations_per_network_per_hour: u32,
    /// Past this many registrations from everywhere in a minute, each waits
    /// `registrations_global_delay_ms` first: a delay, never a refusal.
    pub registrations_per_minute: u32,
    pub registrations_global_delay_ms: u64,
    pub password_hash_concurrency: usize,
}

impl std::fmt::Debug for AuthSettings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AuthSettings")
            .field("jwt_secret", &if self.jwt_secret.is_empty() { "<empty>" } else { "<set>" })
            .field("issuer", &self.issuer)
            .field("audience", &self.audience)
            .finish_non_exhaustive()
    }
}

#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LogSettings {
    pub level: String,
    pub format: LogFormat,
}

#[derive(Clone, Copy, Debug, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    Auto,
    Json,
    Pretty,
}

/// A configuration problem, reported as one line that names the key or file.
#[derive(Debug, thiserror::Error)]
#[error("configuration error: {0}")]
pub struct ConfigError(pub String);

/// Where settings come from besides the compiled-in defaults.
#[derive(Clone, Debug, Default)]
pub struct Sources {
    /// Folder holding `<profile>.toml` files.
    pub config_dir: Option<PathBuf>,
    pub profile: Option<String>,
    /// `--config FILE`: must exist.
    pub file: Option<PathBuf>,
    /// Read `VAULTLINE__SECTION__KEY` variables.
    pub use_env: bool,
    /// Highest layer: `("database.url", value)` pairs from CLI flags (or tests).
    pub overrides: Vec<(String, String)>,
}

impl Sources {
    /// What the binary uses: profile from the environment, env vars on.
    pub fn from_environment(file: Option<PathBuf>, overrides: Vec<(String, String)>) -> Self {
        Self {
            config_dir: Some(PathBuf::from("config")),
            profile: std::env::var(PROFILE_ENV).ok().filter(|p| !p.is_empty()),
            file,
            use_env: true,
            overrides,
        }
    }
}

impl Settings {
    pub fn load(sources: &Sources) -> Result<Self, ConfigError> {
        let mut builder =
            config::Config::builder().add_source(config::File::from_str(DEFAULTS, config::FileFormat::Toml));
        if let Some(profile) = &sources.profile {
            if profile.is_empty() || !profile.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_') {
                return Err(ConfigError(format!("{PROFILE_ENV}: `{profile}` is not a valid profile name")));
            }
            let dir = sources.config_dir.clone().unwrap_or_else(|| PathBuf::from("config"));
            let path = dir.join(format!("{profile}.toml"));
            if !path.is_file() {
                return Err(ConfigError(format!("{PROFILE_ENV}={profile}: profile file {} not found", path.display())));
            }
            builder = builder.add_source(file_source(&path));
        }
        if let Some(path) = &sources.file {
            if !path.is_file() {
                return Err(ConfigError(format!("--config: file {} not found", path.display())));
            }
            builder = builder.add_source(file_source(path));
        }
        if sources.use_env {
            builder = builder.add_source(
                config::Environment::with_prefix(ENV_PREFIX)
                    .prefix_separator("__")
                    .separator("__")
                    .try_parsing(true)
                    .list_separator(",")
                    .with_list_parse_key(LIST_KEYS[0]),
            );
        }
        for (key, value) in &sources.overrides {
            builder = if LIST_KEYS.contains(&key.as_str()) {
                let items: Vec<String> =
                    value.split(',').map(str::trim).filter(|v| !v.is_empty()).map(str::to_owned).collect();
                builder.set_override(key.as_str(), items)
            } else {
                builder.set_override(key.as_str(), value.as_str())
            }
            .map_err(|e| ConfigError(format!("{key}: {e}")))?;
        }
        let settings: Settings =
            builder.build().and_then(|c| c.try_deserialize()).map_err(|e| ConfigError(one_line(&e.to_string())))?;
        settings.validate()?;
        if sources.profile.as_deref() == Some("production") {
            production::check(&settings)?;
        }
        Ok(settings)
    }

    fn webhook_limits(&self) -> Result<(), ConfigError> {
        let w = &self.webhooks;
        let bad = |key: &str, why: &str| Err(ConfigError(format!("webhooks.{key}: {why}")));
        if !(10..=60_000).contains(&w.poll_ms) {
            return bad("poll_ms", "must be 10..=60000");
        }
        if !(1..=256).contains(&w.batch) {
            return bad("batch", "must be 1..=256");
        }
        if !(100..=120_000).contains(&w.timeout_ms) {
            return bad("timeout_ms", "must be 100..=120000");
        }
        if w.lease_secs * 1000 <= w.timeout_ms || w.lease_secs > 3600 {
            return bad("lease_secs", "must be longer than timeout_ms and at most 3600");
        }
        if w.retry_base_ms < 10 || w.retry_max_ms < w.retry_base_ms || w.retry_max_ms > 86_400_000 {
            return bad("retry_base_ms", "must be at least 10, and retry_max_ms between it and 86400000");
        }
        if !(1..=30 * 86_400).contains(&w.max_age_secs) {
            return bad("max_age_secs", "must be 1..=2592000");
        }
        if !(1..=1000).contains(&w.failing_after) {
            return bad("failing_after", "must be 1..=1000");
        }
        if !(1..=100).contains(&w.max_endpoints) {
            return bad("max_endpoints", "must be 1..=100 (each adds a row to every event it wants)");
        }
        if !(1..=3650).contains(&w.retention_days) {
            return bad("retention_days", "must be 1..=3650");
        }
        Ok(())
    }

    /// Checks every value a type cannot, naming the key at fault.
    fn validate(&self) -> Result<(), ConfigError> {
        let bad = |key: &str, why: &str| Err(ConfigError(format!("{key}: {why}")));
        if !(0..=1_000_000).contains(&self.limits.money_requests_per_window) {
            return bad("limits.money_requests_per_window", "must be 0..=1000000 (0: no limit)");
        }
        if !(1..=86_400).contains(&self.limits.money_requests_window_secs) {
            return bad("limits.money_requests_window_secs", "must be 1..=86400");
        }
        if !(0..=10_000).contains(&self.limits.vault_unlocks_per_day) {
            return bad("limits.vault_unlocks_per_day", "must be 0..=10000 (0: no limit)");
        }
        self.velocity_limits()?;
        self.webhook_limits()?;
        let console = &self.console;
        for (key, secs) in [
            ("console.idle_timeout_secs", console.idle_timeout_secs),
            ("console.absolute_timeout_secs", console.absolute_timeout_secs),
            ("console.step_up_secs", console.step_up_secs),
        ] {
            if !(1..=7 * 86_400).contains(&secs) {
                return bad(key, "must be 1..=604800 seconds");
            }
        }
        if self.server.bind.parse::<std::net::SocketAddr>().is_err() {
            return bad("server.bind", "must be an address and port such as 127.0.0.1:8080");
        }
        if self.server.workers > 256 {
            return bad("server.workers", "must be 0..=256");
        }
        if !(1024..=16 * 1024 * 1024).contains(&self.server.max_body_bytes) {
            return bad("server.max_body_bytes", "must be 1024..=16777216");
        }
        if DatabaseUrl::parse(&self.database.url).is_err() {
            return bad("database.url", "must start with sqlite:// or postgres:// (postgresql://)");
        }
        if !(1..=256).contains(&self.database.pool_size) {
            return bad("database.pool_size", "must be 1..=256");
        }
        if !(100..=600_000).contains(&self.database.connection_timeout_ms) {
            return bad("database.connection_timeout_ms", "must be 100..=600000");
        }
        if self.database.tx_max_retries > 100 {
            return bad("database.tx_max_retries", "must be 0..=100");
        }
        // A lane holds a pooled connection while its batch runs; leave some for the rest.
        let lanes = self.database.group_commit_lanes;
        if !(1..=16).contains(&lanes)
            || (self.database.group_commit != GroupCommitMode::Off && lanes >= self.database.pool_size)
        {
            return bad("database.group_commit_lanes", "must be 1..=16 and below database.pool_size");
        }
        // PostgreSQL keeps 64 subtransaction ids per transaction in memory; a batch runs each
        // operation in one and its bounded wait for held rows in one more, and more would
        // slow every snapshot of the server.
        if !(1..=63).contains(&self.database.group_commit_max_batch) {
            return bad("database.group_commit_max_batch", "must be 1..=63");
        }
        if !(1..=1_000_000).contains(&self.database.group_commit_max_queue) {
            return bad("database.group_commit_max_queue", "must be 1..=1000000");
        }
        if self.database.group_commit_window_us > 100_000 {
            return bad("database.group_commit_window_us", "must be 0..=100000");
        }
        self.money_policy().map_err(|e| ConfigError(format!("money: {}", e.0)))?;
        self.limit_policy()?;
        self.four_eyes_limit_minor()?;
        self.refund_four_eyes_limit_minor()?;
        if !self.auth.jwt_secret.is_empty() && self.auth.jwt_secret.len() < 32 {
            return bad("auth.jwt_secret", "must be at least 32 bytes");
        }
        if !(10..=86_400).contains(&self.auth.access_token_ttl_secs) {
            return bad("auth.access_token_ttl_secs", "must be 10..=86400");
        }
        if !(60..=31_536_000).contains(&self.auth.refresh_token_ttl_secs) {
            return bad("auth.refresh_token_ttl_secs", "must be 60..=31536000");
        }
        if !(self.auth.refresh_token_ttl_secs..=31_536_000).contains(&self.auth.refresh_family_lifetime_secs) {
            return bad("auth.refresh_family_lifetime_secs", "refresh_token_ttl_secs..=31536000");
        }
        if self.auth.refresh_retry_grace_secs > 60 {
            return bad("auth.refresh_retry_grace_secs", "must be 0..=60");
        }
        if !["HS256", "HS384", "HS512"].contains(&self.auth.jwt_algorithm.as_str()) {
            return bad("auth.jwt_algorithm", "must be HS256, HS384 or HS512");
        }
        if self.auth.jwt_leeway_secs > 5 {
            return bad("auth.jwt_leeway_secs", "must be 0..=5");
        }
        throttle_rules::check(&self.auth)?;
        let srv = &self.server;
        if !(100..=600_000).contains(&srv.client_request_timeout_ms)
            || !(100..=600_000).contains(&srv.body_read_timeout_ms)
        {
            return bad("server.client_request_timeout_ms", "request and body timeouts must be 100..=600000 ms");
        }
        if srv.keep_alive_secs > 3600 || srv.client_disconnect_timeout_ms > 60_000 {
            return bad("server.keep_alive_secs", "at most 3600 s; client_disconnect_timeout_ms at most 60000");
        }
        if !(1..=1_000_000).contains(&srv.max_connections_per_worker) {
            return bad("server.max_connections_per_worker", "must be 1..=1000000");
        }
        if !srv.metrics_bind.is_empty() && srv.metrics_bind.parse::<std::net::SocketAddr>().is_err() {
            return bad("server.metrics_bind", "must be empty or an address and port such as 127.0.0.1:9464");
        }
        if let Err(e) = crate::client::parse_proxies(&self.server.trusted_proxies) {
            return Err(ConfigError(e));
        }
        if self.auth.issuer.is_empty() || self.auth.audience.is_empty() {
            return bad("auth.issuer", "and auth.audience must not be empty");
        }
        let c = &self.credit;
        let fraction = |d: rust_decimal::Decimal| d >= rust_decimal::Decimal::ZERO && d < rust_decimal::Decimal::ONE;
        if !(1..=90).contains(&c.auto_confirm_days) {
            return bad("credit.auto_confirm_days", "must be 1..=90");
        }
        if c.free_return_days > 90 {
            return bad("credit.free_return_days", "must be 0..=90");
        }
        if !fraction(c.fee_rate_per_period) {
            return bad("credit.fee_rate_per_period", "must be a fraction in 0..1, e.g. \"0.005\"");
        }
        if !(1..=crate::domain::schedule::MAX_REPAYMENT_DAY).contains(&c.repayment_day) {
            return bad("credit.repayment_day", "must be 1..=28");
        }
        if c.statement_lead_days > 27 {
            return bad("credit.statement_lead_days", "must be 0..=27");
        }
        if c.reminder_days > 27 {
            return bad("credit.reminder_days", "must be 0..=27");
        }
        if !(c.late_fee_cap >= rust_decimal::Decimal::ZERO && c.late_fee_cap <= rust_decimal::Decimal::ONE) {
            return bad("credit.late_fee_cap", "must be a fraction in 0..=1, e.g. \"0.5\"");
        }
        if !fraction(c.late_fee_rate_per_day) {
            return bad("credit.late_fee_rate_per_day", "must be a fraction in 0..1, e.g. \"0.0005\"");
        }
        if !(1..=365).contains(&c.grace_days) {
            return bad("credit.grace_days", "must be 1..=365");
        }
        if c.billing_job_enabled && !(60..=86_400).contains(&c.billing_job_interval_secs) {
            return bad("credit.billing_job_interval_secs", "must be 60..=86400");
        }
        self.score.validate().map_err(|e| ConfigError(format!("score: {e}")))?;
        if !(24..=24 * 90).contains(&self.jobs.idempotency_retention_hours) {
            return bad(
                "jobs.idempotency_retention_hours",
                "must be 24..=2160 (the contract keeps keys at least 24 hours)",
            );
        }
        if self.jobs.cleanup_interval_secs > 86_400 {
            return bad("jobs.cleanup_interval_secs", "must be 0..=86400");
        }
        Ok(())
    }

    /// Parsing rules for a general line's limit: the currency's, capped by `credit.general_limit_max`.
    pub fn limit_policy(&self) -> Result<MoneyPolicy, ConfigError> {
        let currency = Currency::new(&self.money.currency, self.money.decimal_places)
            .map_err(|e| ConfigError(format!("currency/decimal_places: {e}")))?;
        MoneyPolicy::from_config(currency, &self.credit.general_limit_max)
            .map_err(|e| ConfigError(format!("credit.general_limit_max: {e}")))
    }

    /// The caps the money path checks with each movement.
    pub fn velocity_limits(&self) -> Result<VelocityLimits, ConfigError> {
        let places = self.money.decimal_places;
        let outflow = crate::domain::money::parse_minor_text(&self.limits.outflow_24h_max, places)
            .map_err(|e| ConfigError(format!("limits.outflow_24h_max: {e}")))?;
        let unlocks = self.limits.vault_unlocks_per_day;
        Ok(VelocityLimits {
            outflow_24h_minor: (outflow > 0).then_some(outflow),
            unlocks_per_day: (unlocks > 0).then_some(unlocks),
        })
    }

    /// Money requests per user per window, or `None` for no limit.
    pub fn request_budget(&self) -> Option<RequestBudget> {
        let l = &self.limits;
        (l.money_requests_per_window > 0).then_some(RequestBudget {
            requests: l.money_requests_per_window,
            window_secs: l.money_requests_window_secs,
        })
    }

    /// `credit.four_eyes_limit` in minor units: above zero, exact to the currency's places.
    /// It may exceed `general_limit_max`; then only `override` needs a second admin.
    pub fn four_eyes_limit_minor(&self) -> Result<i64, ConfigError> {
        self.credit_amount_minor("credit.four_eyes_limit", &self.credit.four_eyes_limit)
    }

    /// `credit.refund_four_eyes_limit` in minor units: above zero, exact to the currency's places.
    pub fn refund_four_eyes_limit_minor(&self) -> Result<i64, ConfigError> {
        self.credit_amount_minor("credit.refund_four_eyes_limit", &self.credit.refund_four_eyes_limit)
    }

    fn credit_amount_minor(&self, key: &str, text: &str) -> Result<i64, ConfigError> {
        let bad = |e: String| ConfigError(format!("{key}: {e}"));
        let currency = Currency::new(&self.money.currency, self.money.decimal_places).map_err(bad)?;
        let policy = MoneyPolicy::new(currency, crate::domain::money::ABSOLUTE_MAX_MINOR).map_err(bad)?;
        policy.parse(text).map(|a| a.minor()).map_err(|e| bad(e.to_string()))
    }

    pub fn money_policy(&self) -> Result<MoneyPolicy, ConfigError> {
        let currency = Currency::new(&self.money.currency, self.money.decimal_places)
            .map_err(|e| ConfigError(format!("currency/decimal_places: {e}")))?;
        MoneyPolicy::from_config(currency, &self.money.max_amount).map_err(|e| ConfigError(format!("max_amount: {e}")))
    }
}

fn file_source(path: &Path) -> config::File<config::FileSourceFile, config::FileFormat> {
    config::File::from(path.to_path_buf()).format(config::FileFormat::Toml).required(true)
}

fn one_line(text: &str) -> String {
    text.split_whitespace().collect::<Vec<_>>().join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn with(overrides: &[(&str, &str)]) -> Result<Settings, ConfigError> {
        Settings::load(&Sources {
            overrides: overrides.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect(),
            ..Sources::default()
        })
    }

    #[test]
    fn defaults_load_and_match_the_contract() {
        let s = with(&[]).unwrap();
        assert_eq!(s.server.bind, "127.0.0.1:8080");
        assert_eq!(s.database.url, "sqlite://data/vaultline.db");
        let p = s.money_policy().unwrap();
        assert_eq!(p.currency().code(), "CNY");
        assert_eq!(p.max_amount_minor(), 100_000_000);
    }

    #[test]
    fn bad_values_name_their_key() {
        let cases = [
            ("server.bind", "nowhere", "server.bind"),
            ("server.workers", "lots", "workers"),
            ("database.url", "mysql://x", "database.url"),
            ("database.pool_size", "0", "database.pool_size"),
            ("money.max_amount", "-5", "max_amount"),
            ("money.currency", "yuan", "currency"),
            ("auth.jwt_secret", "short", "auth.jwt_secret"),
            ("credit.four_eyes_limit", "0", "credit.four_eyes_limit"),
            ("credit.four_eyes_limit", "10.001", "credit.four_eyes_limit"),
            ("credit.refund_four_eyes_limit", "0", "credit.refund_four_eyes_limit"),
            ("credit.refund_four_eyes_limit", "-5.00", "credit.refund_four_eyes_limit"),
        ];
        for (key, value, named) in cases {
            let err = with(&[(key, value)]).unwrap_err().to_string();
            assert!(err.contains(named), "{key}={value}: {err}");
            assert!(!err.contains('\n'), "{err}");
        }
    }

    #[test]
    fn unknown_keys_and_missing_files_are_refused() {
        let err = with(&[("server.colour", "blue")]).unwrap_err().to_string();
        assert!(err.contains("colour"), "{err}");
        let err = Settings::load(&Sources { file: Some("/nonexistent/vaultline.toml".into()), ..Sources::default() })
            .unwrap_err()
            .to_string();
        assert!(err.contains("--config"), "{err}");
        let err =
            Settings::load(&Sources { profile: Some("nope".into()), ..Sources::default() }).unwrap_err().to_string();
        assert!(err.contains("nope"), "{err}");
    }
}
