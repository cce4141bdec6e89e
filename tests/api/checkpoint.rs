//! SQLite: the service checkpoints its WAL on a thread of its own (the pool's connections
//! have SQLite's automatic checkpoint off, so the money writer never does it). What the API
//! writes reaches the database file itself while the service runs.

use std::time::{Duration, Instant};

use diesel::prelude::*;
use diesel::sql_types::BigInt;

use crate::helpers::{Backend, TestApp};

#[tokio::test]
async fn the_wal_reaches_the_database_file_while_the_service_runs() {
    let app = TestApp::spawn(Backend::Sqlite).await;
    let ann = app.user_token("ann_checkpoint").await;
    for _ in 0..5 {
        app.deposit(&ann, "1.00").await;
    }
    let path = app.settings.database.url.strip_prefix("sqlite://").unwrap().to_owned();
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let in_file = deposits_in_file(&path);
        if in_file == 5 {
            break;
        }
        assert!(Instant::now() < deadline, "{in_file} of 5 deposits in the database file after 10 s");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Deposits in the database file alone: `immutable=1` never reads the WAL.
fn deposits_in_file(path: &str) -> i64 {
    #[derive(QueryableByName)]
    struct Count {
        #[diesel(sql_type = BigInt)]
        n: i64,
    }
    let mut conn = SqliteConnection::establish(&format!("file:{path}?immutable=1")).unwrap();
    // Before the first checkpoint the file may not hold the table yet.
    diesel::sql_query("SELECT count(*) AS n FROM movements WHERE kind = 'deposit'")
        .get_result::<Count>(&mut conn)
        .map_or(0, |c| c.n)
}
