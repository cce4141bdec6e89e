use diesel::connection::SimpleConnection;
use diesel_migrations::{EmbeddedMigrations, MigrationHarness, embed_migrations};

use super::DbConn;

const POSTGRES: EmbeddedMigrations = embed_migrations!("migrations/postgres");
const SQLITE: EmbeddedMigrations = embed_migrations!("migrations/sqlite");

/// An arbitrary constant naming the advisory lock that serialises migrations when
/// several instances start against one PostgreSQL database at once.
const PG_MIGRATION_LOCK: i64 = 0x7661_756c_746c_696e;

/// Applies the pending migrations of the connection's backend, then on PostgreSQL the live
/// functions and triggers (`replaceable`); returns the migrations' versions.
pub fn run_pending(conn: &mut DbConn) -> Result<Vec<String>, String> {
    let applied = match conn {
        DbConn::Pg(c) => {
            c.batch_execute(&format!("SELECT pg_advisory_lock({PG_MIGRATION_LOCK})")).map_err(|e| e.to_string())?;
            let result = c
                .run_pending_migrations(POSTGRES)
                .map(|v| v.iter().map(ToString::to_string).collect::<Vec<String>>())
                .map_err(|e| e.to_string())
                .and_then(|applied| super::replaceable::apply(c).map(|_| applied));
            let unlock = c.batch_execute(&format!("SELECT pg_advisory_unlock({PG_MIGRATION_LOCK})"));
            let applied = result?;
            unlock.map_err(|e| e.to_string())?;
            applied
        }
        DbConn::Sqlite(c) => c
            .run_pending_migrations(SQLITE)
            .map(|v| v.iter().map(ToString::to_string).collect())
            .map_err(|e| e.to_string())?,
    };
    Ok(applied)
}
