//! Command line: global options first, then a subcommand (`serve` when none is given).

use std::io::{BufRead, IsTerminal};
use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};

use crate::config::{Settings, Sources};
use crate::domain::user::{Password, Role, Username};
use crate::startup::{Application, StartupError};
use crate::store::{self, Db, StoreError};

/// Env variable `admin create` reads the password from; never taken from argv.
pub const ADMIN_PASSWORD_ENV: &str = "VAULTLINE_ADMIN_PASSWORD";

#[derive(Debug, Parser)]
#[command(name = "vaultline", version, about = "Deposit-secured credit wallet service")]
pub struct Cli {
    /// Extra configuration file layered over the defaults and profile.
    #[arg(long, value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// Database URL (sqlite://path or postgres://...), overriding configuration.
    #[arg(long, value_name = "URL")]
    pub database_url: Option<String>,
    #[command(subcommand)]
    pub command: Option<Command>,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the HTTP service (the default). Applies pending migrations first.
    Serve {
        /// Address and port to listen on, e.g. 127.0.0.1:9000.
        #[arg(long, value_name = "ADDR")]
        bind: Option<String>,
        /// Do not apply pending migrations at start.
        #[arg(long)]
        no_migrate: bool,
    },
    /// Apply pending database migrations and exit.
    Migrate,
    /// Administrator accounts.
    Admin {
        #[command(subcommand)]
        command: AdminCommand,
    },
    /// Credit billing.
    Billing {
        #[command(subcommand)]
        command: BillingCommand,
    },
    /// The double-entry ledger.
    Ledger {
        #[command(subcommand)]
        command: LedgerCommand,
    },
}

#[derive(Debug, Subcommand)]
pub enum BillingCommand {
    /// Bill as of a date (default today, UTC; never later unless credit.allow_future_billing);
    /// idempotent, prints the counts as JSON.
    Run {
        #[arg(long, value_name = "YYYY-MM-DD")]
        as_of: Option<chrono::NaiveDate>,
        /// Print what the run would do, per user, and write nothing.
        #[arg(long)]
        dry_run: bool,
    },
}

#[derive(Debug, Subcommand)]
pub enum LedgerCommand {
    /// Recompute every invariant from the journal; print the report as JSON, exit 1 on any violation.
    Check,
}

#[derive(Debug, Subcommand)]
pub enum AdminCommand {
    /// Create a staff member (the first one, usually). The password comes from
    /// VAULTLINE_ADMIN_PASSWORD or one line of stdin.
    Create {
        #[arg(long)]
        username: String,
        /// support, operations, credit or admin.
        #[arg(long, default_value = "admin", value_parser = ["support", "operations", "credit", "admin"])]
        role: String,
    },
}

/// A failed command: exit code 2 for configuration or usage, 1 for anything else.
struct Failure {
    code: u8,
    message: String,
}

impl Failure {
    fn config(message: impl ToString) -> Self {
        Self { code: 2, message: message.to_string() }
    }
    fn runtime(message: impl ToString) -> Self {
        Self { code: 1, message: message.to_string() }
    }
}

impl From<StartupError> for Failure {
    fn from(e: StartupError) -> Self {
        match e {
            StartupError::Config(_) => Failure::config(e),
            other => Failure::runtime(other),
        }
    }
}

pub fn run() -> ExitCode {
    // Before any thread: arenas a thread has made stay made.
    crate::memory::bound_malloc_arenas();
    let cli = Cli::parse();
    match execute(cli) {
        Ok(()) => ExitCode::SUCCESS,
        Err(failure) => {
            eprintln!("vaultline: {}", failure.message);
            ExitCode::from(failure.code)
        }
    }
}

fn execute(cli: Cli) -> Result<(), Failure> {
    let mut overrides = Vec::new();
    if let Some(url) = &cli.database_url {
        overrides.push(("database.url".to_owned(), url.clone()));
    }
    if let Some(Command::Serve { bind: Some(bind), .. }) = &cli.command {
        overrides.push(("server.bind".to_owned(), bind.clone()));
    }
    let settings =
        Settings::load(&Sources::from_environment(cli.config.clone(), overrides)).map_err(Failure::config)?;
    crate::telemetry::init(&settings.log);

    match cli.command.unwrap_or(Command::Serve { bind: None, no_migrate: false }) {
        Command::Serve { no_migrate, .. } => serve(settings, !no_migrate),
        Command::Migrate => migrate(&settings),
        Command::Admin { command: AdminCommand::Create { username, role } } => {
            create_admin(&settings, &username, &role)
        }
        Command::Ledger { command: LedgerCommand::Check } => ledger_check(&settings),
        Command::Billing { command: BillingCommand::Run { as_of, dry_run } } => billing_run(&settings, as_of, dry_run),
    }
}

fn serve(settings: Settings, migrate: bool) -> Result<(), Failure> {
    actix_web::rt::System::new().block_on(async move {
        let app = Application::build(settings, migrate)?;
        app.run_until_stopped().await.map_err(Failure::runtime)
    })
}

/// Connects directly (no pool) so the real error, e.g. a failed password, is what is printed.
fn open_db(settings: &Settings) -> Result<Db, Failure> {
    let target = store::DbTarget::parse(&settings.database.url, &settings.database).map_err(Failure::config)?;
    target.prepare().map_err(|e| Failure::runtime(format!("cannot create the database folder: {e}")))?;
    target.connect().map_err(|e| Failure::runtime(format!("cannot connect to the database: {e}")))?;
    Db::new(&settings.database).map_err(Failure::config)
}

fn migrate(settings: &Settings) -> Result<(), Failure> {
    let db = open_db(settings)?;
    let applied = db.migrate().map_err(|e| Failure::runtime(format!("migration failed: {e}")))?;
    if applied.is_empty() {
        println!("database is up to date");
    } else {
        println!("applied {} migration(s): {}", applied.len(), applied.join(", "));
    }
    Ok(())
}

fn read_admin_password() -> Result<String, Failure> {
    if let Ok(password) = std::env::var(ADMIN_PASSWORD_ENV) {
        return Ok(password);
    }
    if std::io::stdin().is_terminal() {
        eprint!("password for the new admin (input is shown; prefer {ADMIN_PASSWORD_ENV} or a pipe): ");
    }
    let mut line = String::new();
    std::io::stdin().lock().read_line(&mut line).map_err(|e| Failure::runtime(format!("reading stdin: {e}")))?;
    Ok(line.trim_end_matches(['\r', '\n']).to_owned())
}

fn create_admin(settings: &Settings, username: &str, role: &str) -> Result<(), Failure> {
    let username = Username::parse(username).map_err(Failure::config)?;
    let role = Role::staff(role).ok_or_else(|| Failure::config("role must be support, operations, credit or admin"))?;
    let password = Password::parse(&read_admin_password()?).map_err(Failure::config)?;
    let db = open_db(settings)?;
    db.migrate().map_err(|e| Failure::runtime(format!("migration failed: {e}")))?;
    let hash = crate::credentials::password::hash_blocking(&password).map_err(Failure::runtime)?;
    let mut conn = db.conn().map_err(Failure::runtime)?;
    let new = store::users::NewUser { username: &username, display_name: None, password_hash: &hash, role };
    let created = store::transaction(&mut conn, settings.database.tx_max_retries, |c| {
        store::users::insert(c, &new, chrono::Utc::now())
    });
    match created {
        Ok(user) => {
            println!("created {} {} ({})", user.role.as_str(), user.username, user.id);
            Ok(())
        }
        Err(StoreError::UniqueViolation(_)) => Err(Failure::runtime(format!("username {username} is already taken"))),
        Err(e) => Err(Failure::runtime(e)),
    }
}

fn ledger_check(settings: &Settings) -> Result<(), Failure> {
    let db = open_db(settings)?;
    let mut conn = db.conn().map_err(Failure::runtime)?;
    let report = store::ledger_check::check(&mut conn).map_err(Failure::runtime)?;
    println!("{}", serde_json::to_string_pretty(&report).map_err(Failure::runtime)?);
    if report.ok { Ok(()) } else { Err(Failure::runtime(format!("{} violation(s)", report.violations.len()))) }
}

fn billing_run(settings: &Settings, as_of: Option<chrono::NaiveDate>, dry_run: bool) -> Result<(), Failure> {
    let today = crate::domain::time::now().date_naive();
    let as_of = as_of.unwrap_or(today);
    crate::domain::credit::check_billing_date(as_of, today, settings.credit.allow_future_billing)
        .map_err(Failure::config)?;
    let db = open_db(settings)?;
    db.migrate().map_err(|e| Failure::runtime(format!("migration failed: {e}")))?;
    let mut conn = db.conn().map_err(Failure::runtime)?;
    let rules = settings.credit.billing_rules();
    let counts = store::billing::run_billing(
        &mut conn,
        as_of,
        &rules,
        &settings.score,
        settings.database.tx_max_retries,
        dry_run,
    )
    .map_err(Failure::runtime)?;
    println!("{}", serde_json::to_string_pretty(&counts).map_err(Failure::runtime)?);
    Ok(())
}
