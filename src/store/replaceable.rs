//! The live PostgreSQL functions and triggers, kept as source (`src/store/sql/*.sql` for
//! the shared ones, `src/ledger/ops/<operation>/pg.sql` beside each money operation)
//! (Lemmy's replaceable schema, Flyway's repeatable migrations): each is defined once there,
//! as `CREATE OR REPLACE`, and applied after the versioned migrations, under the same
//! advisory lock, in one transaction, whenever the files' text changed. Nothing is dropped,
//! so an older instance's prepared statements keep working through a rolling deploy; a
//! changed signature takes a new name, and a later versioned migration drops the old one.
//! Versioned migrations keep tables, indexes and data.

use diesel::connection::SimpleConnection;
use diesel::pg::PgConnection;
use diesel::prelude::*;
use sha2::{Digest, Sha256};

/// The files, in the order they are applied (helpers before their callers; function bodies
/// are not checked at creation, so the order only matters for readers).
pub const FILES: [(&str, &str); 9] = [
    ("store/sql/ledger.sql", include_str!("sql/ledger.sql")),
    ("store/sql/gate.sql", include_str!("sql/gate.sql")),
    ("ledger/ops/wallet/pg.sql", include_str!("../ledger/ops/wallet/pg.sql")),
    ("ledger/ops/transfer/pg.sql", include_str!("../ledger/ops/transfer/pg.sql")),
    ("ledger/ops/repayment/pg.sql", include_str!("../ledger/ops/repayment/pg.sql")),
    ("ledger/ops/payoff/pg.sql", include_str!("../ledger/ops/payoff/pg.sql")),
    ("ledger/ops/purchase/pg.sql", include_str!("../ledger/ops/purchase/pg.sql")),
    ("store/sql/batch.sql", include_str!("sql/batch.sql")),
    ("store/sql/events.sql", include_str!("sql/events.sql")),
];

/// The row of `replaceable_schema` that names the live text.
const ROW: &str = "postgres";

/// The hash of every file's name and text, in order.
pub fn fingerprint() -> String {
    let mut hash = Sha256::new();
    for (name, text) in FILES {
        hash.update(name.as_bytes());
        hash.update([0]);
        hash.update(text.as_bytes());
        hash.update([0]);
    }
    hash.finalize().iter().map(|b| format!("{b:02x}")).collect()
}

#[derive(QueryableByName)]
struct Applied {
    #[diesel(sql_type = diesel::sql_types::Text)]
    sha256: String,
}

/// Applies the files if the database runs other text; answers whether it did. The caller
/// holds the migration lock, so two instances starting at once apply them one after the other.
pub fn apply(conn: &mut PgConnection) -> Result<bool, String> {
    let wanted = fingerprint();
    conn.transaction::<bool, diesel::result::Error, _>(|c| {
        let live: Vec<Applied> = diesel::sql_query("SELECT sha256 FROM replaceable_schema WHERE name = $1")
            .bind::<diesel::sql_types::Text, _>(ROW)
            .load(c)?;
        if live.first().is_some_and(|row| row.sha256 == wanted) {
            return Ok(false);
        }
        // Bodies refer to one another; they are checked when first called, not here.
        c.batch_execute("SET LOCAL check_function_bodies = off")?;
        for (_, text) in FILES {
            c.batch_execute(text)?;
        }
        diesel::sql_query(
            "INSERT INTO replaceable_schema (name, sha256, applied_at) VALUES ($1, $2, now() AT TIME ZONE 'utc') \
             ON CONFLICT (name) DO UPDATE SET sha256 = EXCLUDED.sha256, applied_at = EXCLUDED.applied_at",
        )
        .bind::<diesel::sql_types::Text, _>(ROW)
        .bind::<diesel::sql_types::Text, _>(&wanted)
        .execute(c)?;
        Ok(true)
    })
    .map_err(|e| format!("applying the live SQL (src/store/sql): {e}"))
}
