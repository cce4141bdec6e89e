//! Writing the clones quickly: COPY on PostgreSQL (triggers off, plain indexes rebuilt at the
//! end), multi-row INSERTs in large transactions on SQLite (triggers dropped and recreated).

#[allow(clippy::wildcard_imports)]
use super::*;

/// Switches the event triggers off for this connection's writes: on PostgreSQL for the
/// session (`session_replication_role`, which needs a superuser or the table owner's
/// `ALTER TABLE`), on SQLite by dropping them (answered, to be created again).
pub(super) fn prepare_writes(conn: &mut DbConn) -> Result<Vec<String>, String> {
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
pub(super) fn drop_plain_indexes(conn: &mut DbConn, tables: &[(&str, &[&str])]) -> Result<Vec<String>, String> {
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

pub(super) fn rebuild_indexes(conn: &mut DbConn, defs: &[String], progress: bool) -> Result<(), String> {
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

pub(super) fn finish_writes(conn: &mut DbConn, triggers: Vec<String>) -> Result<(), String> {
    match conn {
        DbConn::Pg(c) => c.batch_execute("SET session_replication_role = DEFAULT; ANALYZE").map_err(|e| e.to_string()),
        DbConn::Sqlite(c) => {
            let creates: String = triggers.iter().map(|t| format!("{t};")).collect();
            c.batch_execute(&format!("BEGIN IMMEDIATE; {creates} COMMIT; PRAGMA foreign_keys = ON; ANALYZE;"))
                .map_err(|e| e.to_string())
        }
    }
}

pub(super) fn write_batch(
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
