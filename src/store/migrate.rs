use diesel::connection::SimpleConnection;
use diesel_migrations::{EmbeddedMigrations, MigrationHarness, embed_migrations};

use super::DbConn;

const POSTGRES: EmbeddedMigrations = embed_migrations!("migrations/postgres");
const SQLITE: EmbeddedMigrations = embed_migrations!("migrations/sqlite");

/// An arbitrary constant naming the advisory lock that serialises migrations when
/// several instances start against one PostgreSQL database at once.
const PG_MIGRATION_LOCK: i64 = 0x7661_756c_746c_696e;

/// The PostgreSQL migrations that `migrations/postgres/2026-12-07-000022_baseline` replaced
/// (issue 28), in order: 2026-11-21-000001_users .. 2026-12-07-000022_four_eyes_kinds (there
/// was no 000020). A database that ran all of them skips the baseline, which carries the last
/// one's version; a fresh one runs the baseline and records only that version.
pub const SQUASHED: [&str; 21] = [
    "20261121000001",
    "20261121000002",
    "20261121000003",
    "20261121000004",
    "20261121000005",
    "20261122000006",
    "20261123000007",
    "20261123000008",
    "20261123000009",
    "20261124000010",
    "20261124000011",
    "20261125000012",
    "20261126000013",
    "20261207000014",
    "20261207000015",
    "20261207000016",
    "20261207000017",
    "20261207000018",
    "20261207000019",
    "20261207000021",
    "20261207000022",
];

/// The baseline's own version: the last squashed migration's.
pub const BASELINE: &str = SQUASHED[SQUASHED.len() - 1];

/// Refuses a database that ran some, but not all, of the squashed migrations (given the
/// versions it recorded): the baseline would run over the tables it already has, or be
/// skipped with the rest never applied. Only the release before the baseline can finish them.
pub fn check_squashed(applied: &[String]) -> Result<(), String> {
    let ran: Vec<&str> = SQUASHED.iter().copied().filter(|v| applied.iter().any(|a| a == v)).collect();
    if ran.is_empty() || ran == [BASELINE] || ran.len() == SQUASHED.len() {
        return Ok(());
    }
    let missing: Vec<&str> = SQUASHED.iter().copied().filter(|v| !ran.contains(v)).collect();
    Err(format!(
        "this database ran {} of the {} migrations that the baseline {BASELINE} replaced (missing: {}); \
         this release no longer has them. Upgrade it with the previous release first (its `vaultline migrate`, \
         from a build before the PostgreSQL migrations were squashed into the baseline), then start this one",
        ran.len(),
        SQUASHED.len(),
        missing.join(", ")
    ))
}

/// Applies the pending migrations of the connection's backend, then on PostgreSQL the live
/// functions and triggers (`replaceable`); returns the migrations' versions. On PostgreSQL a
/// database partly through the squashed migrations is refused first (`check_squashed`).
pub fn run_pending(conn: &mut DbConn) -> Result<Vec<String>, String> {
    let applied = match conn {
        DbConn::Pg(c) => {
            c.batch_execute(&format!("SELECT pg_advisory_lock({PG_MIGRATION_LOCK})")).map_err(|e| e.to_string())?;
            let result = c
                .applied_migrations()
                .map_err(|e| e.to_string())
                .and_then(|ran| check_squashed(&ran.iter().map(ToString::to_string).collect::<Vec<_>>()))
                .and_then(|()| {
                    c.run_pending_migrations(POSTGRES)
                        .map(|v| v.iter().map(ToString::to_string).collect::<Vec<String>>())
                        .map_err(|e| e.to_string())
                })
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

#[cfg(test)]
mod tests {
    use diesel::migration::MigrationSource;
    use diesel::pg::Pg;

    use super::*;

    fn versions(list: &[&str]) -> Vec<String> {
        list.iter().map(|v| (*v).to_owned()).collect()
    }

    #[test]
    fn a_fresh_an_upgraded_and_a_baseline_database_pass() {
        assert_eq!(check_squashed(&[]), Ok(()));
        assert_eq!(check_squashed(&versions(&[BASELINE, "20261207000023"])), Ok(()));
        let mut upgraded = versions(&SQUASHED);
        upgraded.push("20261207000023".into());
        assert_eq!(check_squashed(&upgraded), Ok(()));
    }

    #[test]
    fn a_database_part_way_through_the_squashed_migrations_is_refused() {
        let err = check_squashed(&versions(&SQUASHED[..12])).unwrap_err();
        assert!(err.contains("ran 12 of the 21"), "{err}");
        assert!(err.contains("missing: 20261126000013, 20261207000014"), "{err}");
        assert!(err.contains("previous release"), "{err}");
        // Every one but the baseline's version: the baseline would be run over the tables.
        assert!(check_squashed(&versions(&SQUASHED[..20])).is_err());
        // The baseline's version with one older one missing: the rest would never be applied.
        let mut gap = versions(&SQUASHED);
        gap.remove(5);
        assert!(check_squashed(&gap).unwrap_err().contains("missing: 20261122000006)"));
    }

    #[test]
    fn the_baseline_is_the_only_squashed_version_shipped() {
        let shipped: Vec<String> = MigrationSource::<Pg>::migrations(&POSTGRES)
            .unwrap()
            .iter()
            .map(|m| m.name().version().to_string())
            .collect();
        let squashed: Vec<&String> = shipped.iter().filter(|v| SQUASHED.contains(&v.as_str())).collect();
        assert_eq!(squashed, [BASELINE], "{shipped:?}");
        assert!(SQUASHED.windows(2).all(|w| w[0] < w[1]), "in order");
        assert!(shipped.iter().all(|v| v.as_str() >= BASELINE), "nothing older than the baseline: {shipped:?}");
    }
}
