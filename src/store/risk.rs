//! The risk dashboard's figures, each one aggregate query: the book by line kind, the
//! delinquency aging buckets, and money per day by movement kind.

use chrono::{DateTime, NaiveDate, Utc};
use diesel::prelude::*;
use diesel::sql_types::{BigInt, Date, Text, Timestamp};

use super::{DbConn, StoreError};

/// The customers' book of one line kind (staff accounts left out).
#[derive(Clone, Debug, QueryableByName)]
pub struct LineBook {
    #[diesel(sql_type = Text)]
    pub line: String,
    #[diesel(sql_type = BigInt)]
    pub customers: i64,
    #[diesel(sql_type = BigInt)]
    pub vault_minor: i64,
    #[diesel(sql_type = BigInt)]
    pub limit_minor: i64,
    #[diesel(sql_type = BigInt)]
    pub exposure_minor: i64,
    /// The unused credit (each account's limit less its exposure, never below 0).
    #[diesel(sql_type = BigInt)]
    pub available_minor: i64,
}

pub fn book(conn: &mut DbConn) -> Result<Vec<LineBook>, StoreError> {
    const LIMIT: &str = "CASE WHEN line = 'secured' THEN vault_minor ELSE general_limit_minor END";
    const EXPOSURE: &str = "(held_minor + principal_minor + fees_minor + late_fees_minor)";
    let sql = format!(
        "SELECT line, CAST(COUNT(*) AS BIGINT) AS customers, CAST(COALESCE(SUM(vault_minor), 0) AS BIGINT) AS vault_minor, \
         CAST(COALESCE(SUM({LIMIT}), 0) AS BIGINT) AS limit_minor, \
         CAST(COALESCE(SUM({EXPOSURE}), 0) AS BIGINT) AS exposure_minor, \
         CAST(COALESCE(SUM(CASE WHEN {LIMIT} > {EXPOSURE} THEN {LIMIT} - {EXPOSURE} ELSE 0 END), 0) AS BIGINT) AS available_minor \
         FROM money_accounts JOIN users ON users.id = money_accounts.user_id WHERE users.role = 'user' \
         GROUP BY line ORDER BY line"
    );
    Ok(diesel::sql_query(sql).load(conn)?)
}

/// Past-due buckets: `current` (due, not yet past), 1-30, 31-60, 61-90, 90+ days.
pub const BUCKETS: [&str; 5] = ["current", "1-30", "31-60", "61-90", "90+"];

/// Which bucket an unpaid installment due `days_past_due` days ago falls in.
pub fn bucket(days_past_due: i64) -> usize {
    match days_past_due {
        ..=0 => 0,
        1..=30 => 1,
        31..=60 => 2,
        61..=90 => 3,
        _ => 4,
    }
}

#[derive(QueryableByName)]
struct DueRow {
    #[diesel(sql_type = Date)]
    due_date: NaiveDate,
    #[diesel(sql_type = BigInt)]
    installments: i64,
    #[diesel(sql_type = BigInt)]
    outstanding: i64,
}

/// Count and amount outstanding per bucket, as of `today`, of installments due or overdue.
pub fn aging(conn: &mut DbConn, today: NaiveDate) -> Result<[(i64, i64); 5], StoreError> {
    let rows: Vec<DueRow> = diesel::sql_query(
        "SELECT due_date, CAST(COUNT(*) AS BIGINT) AS installments, \
         CAST(COALESCE(SUM(principal_minor - principal_paid_minor + fee_minor - fee_paid_minor \
             + late_fee_minor - late_fee_paid_minor), 0) AS BIGINT) AS outstanding \
         FROM installments WHERE state IN ('due', 'overdue') GROUP BY due_date",
    )
    .load(conn)?;
    let mut buckets = [(0, 0); 5];
    for row in rows {
        let slot = &mut buckets[bucket((today - row.due_date).num_days())];
        slot.0 += row.installments;
        slot.1 += row.outstanding;
    }
    Ok(buckets)
}

/// Money moved on one UTC day by one movement kind.
#[derive(Clone, Debug, QueryableByName)]
pub struct DayKind {
    #[diesel(sql_type = Text)]
    pub day: String,
    #[diesel(sql_type = Text)]
    pub kind: String,
    #[diesel(sql_type = BigInt)]
    pub amount_minor: i64,
}

/// Movements since `from`, summed per day and kind (a transfer counted once, as it leaves).
pub fn per_day(conn: &mut DbConn, from: DateTime<Utc>) -> Result<Vec<DayKind>, StoreError> {
    Ok(diesel::sql_query(
        "SELECT substr(CAST(created_at AS TEXT), 1, 10) AS day, kind, \
         CAST(COALESCE(SUM(amount_minor), 0) AS BIGINT) AS amount_minor \
         FROM movements WHERE created_at >= $1 AND kind <> 'transfer_in' GROUP BY 1, 2 ORDER BY 1, 2",
    )
    .bind::<Timestamp, _>(from.naive_utc())
    .load(conn)?)
}

#[cfg(test)]
mod tests {
    use super::bucket;

    #[test]
    fn buckets_edges() {
        assert_eq!([0, 1, 30, 31, 60, 61, 90, 91].map(bucket), [0, 1, 1, 2, 2, 3, 3, 4]);
        assert_eq!(bucket(-5), 0, "not yet due is current");
    }
}
