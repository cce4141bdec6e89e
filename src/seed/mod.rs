//! The data generator (issue 31): fills an empty database with N customers and a
//! ledger-consistent history, quickly.
//!
//! Two steps. (1) Template customers, one per kind of life (`lives`), are driven through the
//! service's own API, in process, with billing run month by month up to 14 months ahead
//! (`credit.allow_future_billing`): every balance, movement, installment, event and audit row
//! is what the service wrote. (2) The templates are cloned until there are N customers: each
//! template row that belongs to a customer is written again with every customer-owned UUID in
//! it (ids, `<user>:wallet` accounts, `<purchase>:<seq>` objects, ids inside JSON snapshots
//! and stored responses) replaced by a clone's own, and usernames suffixed with the clone
//! number. Postings balance per entry, so every clone balances by itself and the system
//! accounts (which keep no stored balance) need nothing. Rows are written with COPY on
//! PostgreSQL and multi-row INSERTs in large transactions on SQLite, with the event triggers
//! off (events are cloned, not written again).

mod lives;
mod rows;
mod write;

use rows::*;
use write::*;

use std::collections::{BTreeSet, HashMap};
use std::fmt::Write as _;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use diesel::connection::SimpleConnection;
use diesel::prelude::*;
use diesel::sql_types::{BigInt, Text};

use crate::config::{Settings, Sources};
use crate::domain::user::{Password, Role, Username};
use crate::startup::Application;
use crate::store::{self, DbConn, DbTarget};

pub use lives::{ADMIN, PASSWORD, SECOND_ADMIN};

#[derive(Clone, Debug)]
pub struct Options {
    /// `sqlite://path` or `postgres://...`; an empty (or not yet created) database.
    pub database_url: String,
    /// Customers wanted: at least this many are made (whole clones of the templates).
    pub customers: u64,
    pub seed: u64,
    /// Print a rate line to stderr as clones are written.
    pub progress: bool,
}

#[derive(Debug)]
pub struct Summary {
    pub templates: u64,
    pub customers: u64,
    /// Rows per table after seeding.
    pub rows: Vec<(String, i64)>,
    pub rows_written: u64,
    pub templates_took: Duration,
    pub elapsed: Duration,
}

macro_rules! column_name {
    ($sql:literal ; $col:ident) => {
        $sql
    };
    (; $col:ident) => {
        stringify!($col)
    };
}

/// The tables a customer's rows live in, parents first, with the columns cloned (every
/// column both backends have; `events.position` is left to the database).
macro_rules! cloned_tables {
    ($($table:ident ($($pk:ident),+) { $($(#[sql_name = $sql:literal])? $col:ident),+ $(,)? })+) => {
        #[allow(non_camel_case_types, clippy::all)]
        mod copy_tables {
            $(diesel::table! {
                $table ($($pk),+) { $($(#[sql_name = $sql])? $col -> diesel::sql_types::Text,)+ }
            })+
        }

        const TABLES: &[(&str, &[&str])] = &[$((stringify!($table), &[$(column_name!($($sql)? ; $col)),+]),)+];

        /// COPY ... FROM STDIN of rows already in COPY's text format.
        fn copy_in(conn: &mut PgConnection, table: &str, data: &[u8]) -> QueryResult<usize> {
            use diesel::ExecuteCopyFromDsl as _;
            match table {
                $(stringify!($table) => diesel::copy_from(copy_tables::$table::table)
                    .from_raw_data(copy_tables::$table::table, |w| {
                        w.write_all(data).map_err(|e| diesel::result::Error::SerializationError(Box::new(e)))
                    })
                    .execute(conn),)+
                other => Err(diesel::result::Error::QueryBuilderError(format!("no table {other}").into())),
            }
        }
    };
}

cloned_tables! {
    users (id) { id, username, display_name, password_hash, role, status, created_at, token_version }
    money_accounts (user_id) {
        user_id, wallet_minor, vault_minor, line, general_limit_minor, held_minor, principal_minor, fees_minor,
        late_fees_minor, opened_at, on_time_installments, overdue_installments, overdue_days,
        collateral_settlements, vault_floor_minor, overdue_count
    }
    ledger_accounts (id) { id, user_id, kind }
    journal_entries (id) { id, kind, user_id, created_at }
    postings (entry_id, account_id) { entry_id, account_id, amount_minor }
    movements (user_id, entry_id) {
        entry_id, user_id, kind, amount_minor, counterparty, note, created_at, status, wallet_minor, vault_minor,
        line, general_limit_minor, held_minor, principal_minor, fees_minor, late_fees_minor, on_time_installments,
        overdue_installments, overdue_days, collateral_settlements, vault_floor_minor, overdue_now
    }
    idempotency_keys (user_id, idem_key) {
        user_id, idem_key, request_hash, response_status, response_body, entry_id, answer, created_at
    }
    outflow_hours (user_id, hour) { user_id, hour, amount_minor }
    purchases (id) {
        id, user_id, merchant_id, amount_minor, installments, description, state, created_at, captured_at,
        voided_at, refunded_minor, auto_confirmed
    }
    installments (purchase_id, seq) {
        purchase_id, seq, user_id, due_date, principal_minor, fee_minor, fee_billed, late_fee_minor,
        principal_paid_minor, fee_paid_minor, late_fee_paid_minor, state, was_overdue, days_overdue,
        on_time_credited, billed_principal_minor, on_time_units, converted_into, converted_minor
    }
    refunds (id) { id, purchase_id, user_id, amount_minor, reason, actor_id, entry_id, created_at }
    autopay (user_id) { user_id, enabled, sources, updated_at }
    limit_history (id) { id, user_id, line, limit_before, limit_after, reason, created_at }
    audit_log (id) { id, actor_id, action, target_id, reason, details, created_at }
    credit_requests (id) {
        id, user_id, requested_by, kind, line, limit_minor, override_eligibility, purchase_id, amount_minor,
        reason, state, decided_by, decided_at, decision_reason, created_at
    }
    event_streams (user_id) { user_id, last_seq }
    events (id) { id, user_id, seq, #[sql_name = "type"] kind, object_id, snapshot, created_at, txid }
}

/// Tables only PostgreSQL has.
const PG_ONLY: &[&str] = &["event_streams"];

/// Starts the service in process on the database, drives the template lives, stops it.
async fn make_templates(opts: &Options, dir: &std::path::Path) -> Result<Vec<lives::Customer>, String> {
    let overrides: Vec<(String, String)> = [
        ("server.bind", "127.0.0.1:0".to_owned()),
        ("server.workers", "2".to_owned()),
        ("server.shutdown_timeout_secs", "1".to_owned()),
        ("server.data_dir", dir.join("data").display().to_string()),
        ("database.url", opts.database_url.clone()),
        ("auth.jwt_secret", format!("seed-{:016x}-{:016x}", opts.seed, opts.seed.rotate_left(17))),
        ("credit.allow_future_billing", "true".to_owned()),
        ("credit.billing_job_enabled", "false".to_owned()),
        ("limits.money_requests_per_window", "0".to_owned()),
        ("limits.outflow_24h_max", "0".to_owned()),
        ("limits.vault_unlocks_per_day", "0".to_owned()),
        ("log.level", "off".to_owned()),
        // Every template registers from this one address.
        ("auth.registrations_per_address_per_hour", "100000".to_owned()),
        ("auth.registrations_per_network_per_hour", "100000".to_owned()),
        ("auth.registrations_per_minute", "100000".to_owned()),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v))
    .collect();
    let settings = Settings::load(&Sources { overrides, ..Sources::default() }).map_err(|e| e.to_string())?;

    let db = store::Db::new(&settings.database)?;
    db.migrate()?;
    let mut conn = db.conn().map_err(|e| e.to_string())?;
    let existing = diesel::sql_query("SELECT COUNT(*) AS n FROM users").get_result::<Count>(&mut *conn);
    if existing.map_err(|e| e.to_string())?.n > 0 {
        return Err("the database already has users: seed an empty one".into());
    }
    let password = Password::parse(PASSWORD)?;
    let hash = crate::credentials::password::hash_blocking(&password).map_err(|e| e.to_string())?;
    for name in [ADMIN, SECOND_ADMIN] {
        let username = Username::parse(name)?;
        let new =
            store::users::NewUser { username: &username, display_name: None, password_hash: &hash, role: Role::Admin };
        store::transaction(&mut conn, 3, |c| store::users::insert(c, &new, chrono::Utc::now()))
            .map_err(|e| e.to_string())?;
    }
    drop(conn);
    drop(db);

    let app = Application::build(settings, false).map_err(|e| e.to_string())?;
    let base = format!("http://127.0.0.1:{}", app.port());
    let handle = app.handle();
    let server = tokio::spawn(app.run_until_stopped());
    let lived = lives::live(&base, lives::Rng::new(opts.seed)).await;
    handle.stop(true).await;
    let _ = server.await;
    lived
}

/// Seeds the database; see the module's documentation.
pub async fn run(opts: Options) -> Result<Summary, String> {
    let started = Instant::now();
    let dir = std::env::temp_dir().join(format!("vaultline-seed-{}-{}", std::process::id(), opts.seed));
    std::fs::create_dir_all(&dir).map_err(|e| e.to_string())?;
    let lived = make_templates(&opts, &dir).await;
    let _ = std::fs::remove_dir_all(&dir);
    let customers = lived?;
    let templates_took = started.elapsed();
    if opts.progress {
        eprintln!(
            "seed: {} template customers lived {} months in {:.1?}",
            customers.len(),
            lives::MONTHS,
            templates_took
        );
    }
    let names: Vec<String> = customers.iter().map(|c| c.username.clone()).collect();
    let ids: Vec<String> = customers.iter().map(|c| c.id.clone()).collect();
    tokio::task::spawn_blocking(move || clone_all(&opts, &names, &ids, started, templates_took))
        .await
        .map_err(|e| e.to_string())?
}

fn clone_all(
    opts: &Options,
    names: &[String],
    customer_ids: &[String],
    started: Instant,
    templates_took: Duration,
) -> Result<Summary, String> {
    let settings = Settings::load(&Sources {
        overrides: vec![("database.url".into(), opts.database_url.clone())],
        ..Sources::default()
    })
    .map_err(|e| e.to_string())?;
    let target = DbTarget::parse(&opts.database_url, &settings.database)?;
    let mut conn = target.connect().map_err(|e| e.to_string())?;
    let pg = matches!(conn, DbConn::Pg(_));
    let tables: Vec<(&'static str, &'static [&'static str])> =
        TABLES.iter().copied().filter(|(t, _)| pg || !PG_ONLY.contains(t)).collect();

    // Fixed ids (admins, merchants) stay; every other id in a customer's rows is theirs.
    let mut fixed: BTreeSet<String> = BTreeSet::new();
    for sql in
        ["SELECT json_array(id) AS row FROM users WHERE role = 'admin'", "SELECT json_array(id) AS row FROM merchants"]
    {
        let sql = if pg {
            sql.replace("json_array", "json_build_array").replace(") AS row", ")::text AS row")
        } else {
            sql.to_owned()
        };
        let rows: Vec<JsonRow> = diesel::sql_query(&sql).load(&mut conn).map_err(|e| e.to_string())?;
        for r in rows {
            fixed.extend(values(&serde_json::from_str(&r.row).map_err(|e| e.to_string())?));
        }
    }
    let mut data = Vec::new();
    for (table, columns) in &tables {
        data.push((*table, read_rows(&mut conn, table, columns)?));
    }
    let mut owned: BTreeSet<String> = customer_ids.iter().cloned().collect();
    loop {
        let before = owned.len();
        for (_, rows) in &data {
            for row in rows {
                let strings: Vec<&str> = row.iter().filter_map(|v| v.as_str()).collect();
                let found: Vec<&str> = strings.iter().flat_map(|s| uuids(s)).collect();
                if found.iter().any(|u| owned.contains(*u)) {
                    owned.extend(found.into_iter().filter(|u| !fixed.contains(*u)).map(str::to_owned));
                }
            }
        }
        if owned.len() == before {
            break;
        }
    }
    let index: HashMap<String, u32> = owned.iter().enumerate().map(|(n, id)| (id.clone(), n as u32)).collect();
    let compiled = compile(pg, &data, &index, names);
    drop(data);
    let per_clone: u64 = compiled.iter().map(|t| t.rows.len() as u64).sum();

    let templates = names.len() as u64;
    let clones = opts.customers.div_ceil(templates).saturating_sub(1);
    let seed3 = format!("{:03x}", opts.seed & 0xfff);
    // About 200,000 rows per batch (one transaction on SQLite, one COPY per table on PostgreSQL).
    let batch = (200_000 / per_clone.max(1)).max(1);

    let triggers = prepare_writes(&mut conn)?;
    // PostgreSQL: the indexes no constraint needs are built once at the end, and two
    // connections write (the server, not this process, is the bottleneck: one backend, one core).
    let indexes = if pg { drop_plain_indexes(&mut conn, &tables)? } else { Vec::new() };
    let workers: u64 = if pg { 2 } else { 1 };
    let written = AtomicU64::new(0);
    let done_clones = AtomicU64::new(0);
    let cloning = Instant::now();
    let report = |last: &Mutex<(Instant, u64)>, force: bool| {
        let mut last = last.lock().unwrap_or_else(|e| e.into_inner());
        let (rows, copies) = (written.load(Ordering::Relaxed), done_clones.load(Ordering::Relaxed));
        if opts.progress && copies != last.1 && (force || last.0.elapsed() >= Duration::from_secs(2)) {
            *last = (Instant::now(), copies);
            let secs = cloning.elapsed().as_secs_f64().max(1e-9);
            eprintln!(
                "seed: {}/{} customers, {rows} rows, {:.0} customers/s, {:.0} rows/s",
                (copies + 1) * templates,
                (clones + 1) * templates,
                (copies * templates) as f64 / secs,
                rows as f64 / secs
            );
        }
    };
    let last_report = Mutex::new((Instant::now(), 0));
    let batches: Vec<(u64, u64)> =
        (0..clones.div_ceil(batch)).map(|b| (1 + b * batch, ((b + 1) * batch).min(clones))).collect();
    let work = |w: u64, conn: &mut DbConn| -> Result<(), String> {
        for &(first, last) in batches.iter().skip(w as usize).step_by(workers as usize) {
            write_batch(conn, &compiled, first..=last, &seed3, names)?;
            written.fetch_add(per_clone * (last - first + 1), Ordering::Relaxed);
            done_clones.fetch_add(last - first + 1, Ordering::Relaxed);
            report(&last_report, false);
        }
        Ok(())
    };
    let result = std::thread::scope(|scope| {
        let others: Vec<_> = (1..workers)
            .map(|w| {
                let target = &target;
                let work = &work;
                scope.spawn(move || {
                    let mut conn = target.connect().map_err(|e| e.to_string())?;
                    prepare_writes(&mut conn)?;
                    work(w, &mut conn)
                })
            })
            .collect();
        let mine = work(0, &mut conn);
        others.into_iter().map(|h| h.join().unwrap_or_else(|_| Err("a writer panicked".into()))).fold(mine, Result::and)
    });
    report(&last_report, true);
    let written = written.into_inner();
    let rebuilt = rebuild_indexes(&mut conn, &indexes, opts.progress);
    let restored = finish_writes(&mut conn, triggers);
    result?;
    rebuilt?;
    restored?;

    let mut all: Vec<&str> = tables.iter().map(|(t, _)| *t).collect();
    all.push("merchants");
    let rows = count_rows(&mut conn, &all)?;
    Ok(Summary {
        templates,
        customers: (clones + 1) * templates,
        rows,
        rows_written: written,
        templates_took,
        elapsed: started.elapsed(),
    })
}
