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

#[derive(QueryableByName)]
struct JsonRow {
    #[diesel(sql_type = Text)]
    row: String,
}

#[derive(QueryableByName)]
struct Count {
    #[diesel(sql_type = BigInt)]
    n: i64,
}

/// One piece of a cloned row: fixed text, a customer-owned id, or a customer's username.
enum Seg {
    Lit(String),
    /// The id's first 15 characters (time and version) and its number among all owned ids.
    Id(String, u32),
    Name(usize),
}

struct Compiled {
    table: &'static str,
    rows: Vec<Vec<Seg>>,
}

fn is_uuid_at(b: &[u8], i: usize) -> bool {
    if b.len() < i + 36 {
        return false;
    }
    (0..36).all(|k| match k {
        8 | 13 | 18 | 23 => b[i + k] == b'-',
        _ => b[i + k].is_ascii_hexdigit() && !b[i + k].is_ascii_uppercase(),
    })
}

fn uuids(s: &str) -> Vec<&str> {
    let b = s.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i + 36 <= b.len() {
        if is_uuid_at(b, i) {
            out.push(&s[i..i + 36]);
            i += 36;
        } else {
            i += 1;
        }
    }
    out
}

fn values(v: &serde_json::Value) -> Vec<String> {
    v.as_array().into_iter().flatten().filter_map(|x| x.as_str().map(str::to_owned)).collect()
}

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

/// Reads every row of the cloned tables as JSON arrays, in a stable order.
fn read_rows(conn: &mut DbConn, table: &str, columns: &[&str]) -> Result<Vec<Vec<serde_json::Value>>, String> {
    let quoted: Vec<String> = columns.iter().map(|c| format!("\"{c}\"")).collect();
    let order = if table == "events" { "position" } else { "1" };
    let sql = match conn {
        DbConn::Pg(_) => {
            format!("SELECT json_build_array({})::text AS row FROM {table} ORDER BY {order}", quoted.join(", "))
        }
        DbConn::Sqlite(_) => format!("SELECT json_array({}) AS row FROM {table} ORDER BY {order}", quoted.join(", ")),
    };
    let rows: Vec<JsonRow> = diesel::sql_query(&sql).load(conn).map_err(|e| e.to_string())?;
    rows.into_iter()
        .map(|r| match serde_json::from_str::<serde_json::Value>(&r.row) {
            Ok(serde_json::Value::Array(v)) => Ok(v),
            other => Err(format!("{table}: unreadable row {other:?}")),
        })
        .collect()
}

fn escape_copy(s: &str, out: &mut String) {
    for ch in s.chars() {
        match ch {
            '\\' => out.push_str("\\\\"),
            '\t' => out.push_str("\\t"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            c => out.push(c),
        }
    }
}

fn escape_sql(s: &str, out: &mut String) {
    for ch in s.chars() {
        if ch == '\'' {
            out.push('\'');
        }
        out.push(ch);
    }
}

/// Turns the template rows into segments: what to write per clone, ready for the backend.
fn compile(
    pg: bool,
    tables: &[(&'static str, Vec<Vec<serde_json::Value>>)],
    owned: &HashMap<String, u32>,
    names: &[String],
) -> Vec<Compiled> {
    let quoted_names: Vec<String> = names.iter().map(|n| format!("\"{n}\"")).collect();
    let mut out = Vec::new();
    for (table, rows) in tables {
        let mut compiled = Vec::new();
        for row in rows {
            let strings: Vec<&str> = row.iter().filter_map(|v| v.as_str()).collect();
            if !strings.iter().any(|s| uuids(s).iter().any(|u| owned.contains_key(*u))) {
                continue;
            }
            let mut segs: Vec<Seg> = Vec::new();
            let mut lit = String::new();
            let flush = |lit: &mut String, segs: &mut Vec<Seg>| {
                if !lit.is_empty() {
                    segs.push(Seg::Lit(std::mem::take(lit)));
                }
            };
            if !pg {
                lit.push('(');
            }
            for (k, v) in row.iter().enumerate() {
                if k > 0 {
                    lit.push(if pg { '\t' } else { ',' });
                }
                match v {
                    serde_json::Value::Null => lit.push_str(if pg { "\\N" } else { "NULL" }),
                    serde_json::Value::Bool(b) => lit.push_str(match (pg, b) {
                        (true, true) => "t",
                        (true, false) => "f",
                        (false, true) => "1",
                        (false, false) => "0",
                    }),
                    serde_json::Value::Number(n) => lit.push_str(&n.to_string()),
                    serde_json::Value::String(s) => {
                        if !pg {
                            lit.push('\'');
                        }
                        let name = names.iter().position(|n| n == s);
                        let json = s.starts_with('{') || s.starts_with('[');
                        if let Some(i) = name {
                            flush(&mut lit, &mut segs);
                            segs.push(Seg::Name(i));
                        } else {
                            let b = s.as_bytes();
                            let (mut i, mut from) = (0, 0);
                            let mut text = String::new();
                            let push_text = |t: &str, lit: &mut String, segs: &mut Vec<Seg>| {
                                // Usernames inside JSON (a user's snapshot, an audit detail).
                                let mut rest = t;
                                while !rest.is_empty() {
                                    let hit = quoted_names
                                        .iter()
                                        .enumerate()
                                        .filter_map(|(n, q)| rest.find(q.as_str()).map(|at| (at, n, q.len())))
                                        .min();
                                    match hit {
                                        Some((at, n, len)) if json => {
                                            let before = format!("{}\"", &rest[..at]);
                                            if pg {
                                                escape_copy(&before, lit)
                                            } else {
                                                escape_sql(&before, lit)
                                            }
                                            flush(lit, segs);
                                            segs.push(Seg::Name(n));
                                            lit.push('"');
                                            rest = &rest[at + len..];
                                        }
                                        _ => {
                                            if pg {
                                                escape_copy(rest, lit)
                                            } else {
                                                escape_sql(rest, lit)
                                            }
                                            rest = "";
                                        }
                                    }
                                }
                            };
                            while i + 36 <= b.len() {
                                if is_uuid_at(b, i) {
                                    if let Some(&n) = owned.get(&s[i..i + 36]) {
                                        text.push_str(&s[from..i]);
                                        push_text(&std::mem::take(&mut text), &mut lit, &mut segs);
                                        flush(&mut lit, &mut segs);
                                        segs.push(Seg::Id(s[i..i + 15].to_owned(), n));
                                        from = i + 36;
                                    }
                                    i += 36;
                                } else {
                                    i += 1;
                                }
                            }
                            text.push_str(&s[from..]);
                            push_text(&text, &mut lit, &mut segs);
                        }
                        if !pg {
                            lit.push('\'');
                        }
                    }
                    other => lit.push_str(&other.to_string()),
                }
            }
            lit.push_str(if pg { "\n" } else { ")" });
            flush(&mut lit, &mut segs);
            compiled.push(segs);
        }
        out.push(Compiled { table, rows: compiled });
    }
    out
}

/// Writes one clone's version of a compiled row.
fn render(segs: &[Seg], clone: u64, seed3: &str, names: &[String], out: &mut String) {
    let c = format!("{clone:07x}");
    for seg in segs {
        match seg {
            Seg::Lit(s) => out.push_str(s),
            Seg::Id(prefix, n) => {
                let _ = write!(out, "{prefix}{seed3}-8{}-{}{n:08x}", &c[..3], &c[3..]);
            }
            Seg::Name(i) => {
                let _ = write!(out, "{}_{clone}", names[*i]);
            }
        }
    }
}

fn count_rows(conn: &mut DbConn, tables: &[&str]) -> Result<Vec<(String, i64)>, String> {
    tables
        .iter()
        .map(|t| {
            let sql = format!("SELECT COUNT(*) AS n FROM {t}");
            diesel::sql_query(&sql).get_result::<Count>(conn).map(|r| ((*t).to_owned(), r.n)).map_err(|e| e.to_string())
        })
        .collect()
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

/// Switches the event triggers off for this connection's writes: on PostgreSQL for the
/// session (`session_replication_role`, which needs a superuser or the table owner's
/// `ALTER TABLE`), on SQLite by dropping them (answered, to be created again).
fn prepare_writes(conn: &mut DbConn) -> Result<Vec<String>, String> {
    match conn {
        DbConn::Pg(c) => {
            c.batch_execute("SET statement_timeout = 0; SET synchronous_commit = off").map_err(|e| e.to_string())?;
            c.batch_execute("SET session_replication_role = replica")
                .map_err(|e| format!("switching triggers off needs a superuser (SET session_replication_role): {e}"))?;
            Ok(Vec::new())
        }
        DbConn::Sqlite(c) => {
            #[derive(QueryableByName)]
            struct Trigger {
                #[diesel(sql_type = Text)]
                name: String,
                #[diesel(sql_type = Text)]
                sql: String,
            }
            let found: Vec<Trigger> = diesel::sql_query("SELECT name, sql FROM sqlite_master WHERE type = 'trigger'")
                .load(c)
                .map_err(|e| e.to_string())?;
            c.batch_execute("PRAGMA synchronous = OFF; PRAGMA foreign_keys = OFF").map_err(|e| e.to_string())?;
            let drops: String = found.iter().map(|t| format!("DROP TRIGGER \"{}\";", t.name)).collect();
            c.batch_execute(&format!("BEGIN IMMEDIATE; {drops} COMMIT;")).map_err(|e| e.to_string())?;
            Ok(found.into_iter().map(|t| t.sql).collect())
        }
    }
}

/// Drops the indexes of the cloned tables that back no constraint; answers their definitions.
fn drop_plain_indexes(conn: &mut DbConn, tables: &[(&str, &[&str])]) -> Result<Vec<String>, String> {
    #[derive(QueryableByName)]
    struct Index {
        #[diesel(sql_type = Text)]
        name: String,
        #[diesel(sql_type = Text)]
        def: String,
    }
    let names: Vec<String> = tables.iter().map(|(t, _)| format!("'{t}'")).collect();
    let found: Vec<Index> = diesel::sql_query(format!(
        "SELECT indexname AS name, indexdef AS def FROM pg_indexes i \
         WHERE schemaname = current_schema() AND tablename IN ({}) \
         AND NOT EXISTS (SELECT 1 FROM pg_constraint c WHERE c.conname = i.indexname)",
        names.join(", ")
    ))
    .load(conn)
    .map_err(|e| e.to_string())?;
    for index in &found {
        diesel::sql_query(format!("DROP INDEX \"{}\"", index.name)).execute(conn).map_err(|e| e.to_string())?;
    }
    Ok(found.into_iter().map(|i| i.def).collect())
}

fn rebuild_indexes(conn: &mut DbConn, defs: &[String], progress: bool) -> Result<(), String> {
    let started = Instant::now();
    if !defs.is_empty() {
        diesel::sql_query("SET maintenance_work_mem = '256MB'").execute(conn).map_err(|e| e.to_string())?;
    }
    for def in defs {
        diesel::sql_query(def).execute(conn).map_err(|e| format!("{def}: {e}"))?;
    }
    if progress && !defs.is_empty() {
        eprintln!("seed: {} indexes built again in {:.1?}", defs.len(), started.elapsed());
    }
    Ok(())
}

fn finish_writes(conn: &mut DbConn, triggers: Vec<String>) -> Result<(), String> {
    match conn {
        DbConn::Pg(c) => c.batch_execute("SET session_replication_role = DEFAULT; ANALYZE").map_err(|e| e.to_string()),
        DbConn::Sqlite(c) => {
            let creates: String = triggers.iter().map(|t| format!("{t};")).collect();
            c.batch_execute(&format!("BEGIN IMMEDIATE; {creates} COMMIT; PRAGMA foreign_keys = ON; ANALYZE;"))
                .map_err(|e| e.to_string())
        }
    }
}

fn write_batch(
    conn: &mut DbConn,
    compiled: &[Compiled],
    clones: std::ops::RangeInclusive<u64>,
    seed3: &str,
    names: &[String],
) -> Result<(), String> {
    match conn {
        DbConn::Pg(c) => {
            for t in compiled {
                let mut out = String::new();
                for clone in clones.clone() {
                    for row in &t.rows {
                        render(row, clone, seed3, names, &mut out);
                    }
                }
                if !out.is_empty() {
                    copy_in(c, t.table, out.as_bytes()).map_err(|e| format!("COPY {}: {e}", t.table))?;
                }
            }
            Ok(())
        }
        DbConn::Sqlite(c) => {
            c.batch_execute("BEGIN IMMEDIATE").map_err(|e| e.to_string())?;
            let written = (|| {
                for t in compiled {
                    let Some(&(_, columns)) = TABLES.iter().find(|(n, _)| *n == t.table) else { continue };
                    let head = format!(
                        "INSERT INTO {} ({}) VALUES ",
                        t.table,
                        columns.iter().map(|c| format!("\"{c}\"")).collect::<Vec<_>>().join(", ")
                    );
                    let mut out = String::new();
                    let mut in_statement = 0;
                    for clone in clones.clone() {
                        for row in &t.rows {
                            if in_statement == 0 {
                                out.push_str(&head);
                            } else {
                                out.push(',');
                            }
                            render(row, clone, seed3, names, &mut out);
                            in_statement += 1;
                            if in_statement == 500 {
                                out.push(';');
                                in_statement = 0;
                            }
                        }
                    }
                    if !out.is_empty() {
                        c.batch_execute(&out).map_err(|e| format!("INSERT INTO {}: {e}", t.table))?;
                    }
                }
                Ok::<(), String>(())
            })();
            match written {
                Ok(()) => c.batch_execute("COMMIT").map_err(|e| e.to_string()),
                Err(e) => {
                    let _ = c.batch_execute("ROLLBACK");
                    Err(e)
                }
            }
        }
    }
}
