//! The ledger check's part for statements: each one is as issued (its hash), adds up
//! (opening + charges - credits = closing, and its lines make its charges and credits),
//! agrees with the journal entries it took, and opens where the previous one closed.

use diesel::prelude::*;
use diesel::sql_types::{BigInt, Text};

use crate::store::ledger_check::Violation;
use crate::store::{DbConn, StoreError};

#[derive(QueryableByName)]
struct Stored {
    #[diesel(sql_type = Text)]
    id: String,
    #[diesel(sql_type = Text)]
    body: String,
    #[diesel(sql_type = Text)]
    content_hash: String,
    #[diesel(sql_type = BigInt)]
    opening_minor: i64,
    #[diesel(sql_type = BigInt)]
    charges_minor: i64,
    #[diesel(sql_type = BigInt)]
    credits_minor: i64,
    #[diesel(sql_type = BigInt)]
    closing_minor: i64,
    #[diesel(sql_type = BigInt)]
    amount_due_minor: i64,
    /// What the journal says the entries it took moved the credit account by (as debt).
    #[diesel(sql_type = BigInt)]
    journal_minor: i64,
    /// The closing of the user's previous statement (0 for the first).
    #[diesel(sql_type = BigInt)]
    previous_closing_minor: i64,
}

/// Appends a `statement_reconciles` violation for every statement that fails (at most
/// `limit` listed).
pub fn check(conn: &mut DbConn, violations: &mut Vec<Violation>, limit: usize) -> Result<(), StoreError> {
    let rows: Vec<Stored> = diesel::sql_query(
        "SELECT s.id, s.body, s.content_hash, s.opening_minor, s.charges_minor, s.credits_minor, \
                s.closing_minor, s.amount_due_minor, \
                CAST(COALESCE((SELECT -SUM(p.amount_minor) FROM statement_entries e JOIN postings p \
                               ON p.entry_id = e.entry_id AND p.account_id = e.user_id || ':credit' \
                               WHERE e.statement_id = s.id), 0) AS BIGINT) AS journal_minor, \
                CAST(COALESCE((SELECT b.closing_minor FROM statements b WHERE b.user_id = s.user_id \
                               AND b.period_end < s.period_end ORDER BY b.period_end DESC LIMIT 1), 0) AS BIGINT) \
                    AS previous_closing_minor \
         FROM statements s ORDER BY s.id",
    )
    .load(conn)?;
    let mut found = 0;
    for row in rows {
        if let Some(problem) = problem(&row) {
            found += 1;
            if found <= limit {
                violations.push(Violation {
                    invariant: "statement_reconciles",
                    detail: format!("statement {}: {problem}", row.id),
                });
            }
        }
    }
    Ok(())
}

fn problem(row: &Stored) -> Option<String> {
    if super::content_hash(&row.body) != row.content_hash {
        return Some("its text is not what was issued (content hash differs)".into());
    }
    let s = match serde_json::from_str::<super::Statement>(&row.body) {
        Ok(s) => s,
        Err(e) => return Some(format!("its text does not parse: {e}")),
    };
    let columns = (row.opening_minor, row.charges_minor, row.credits_minor, row.closing_minor, row.amount_due_minor);
    if columns != (s.opening.total(), s.charges, s.credits, s.closing.total(), s.amount_due) {
        return Some("its amounts differ from its text".into());
    }
    let charges: i64 = s.lines.iter().map(|l| l.amount.max(0)).sum();
    let credits: i64 = s.lines.iter().map(|l| (-l.amount).max(0)).sum();
    if (charges, credits) != (s.charges, s.credits) {
        return Some(format!(
            "its lines make charges {charges} and credits {credits}, not {} and {}",
            s.charges, s.credits
        ));
    }
    if row.opening_minor + row.charges_minor - row.credits_minor != row.closing_minor {
        return Some(format!(
            "opening {} + charges {} - credits {} is not closing {}",
            row.opening_minor, row.charges_minor, row.credits_minor, row.closing_minor
        ));
    }
    if row.charges_minor - row.credits_minor != row.journal_minor {
        return Some(format!(
            "the journal moved its entries by {}, it says {}",
            row.journal_minor,
            row.charges_minor - row.credits_minor
        ));
    }
    if row.opening_minor != row.previous_closing_minor {
        return Some(format!(
            "opens at {} where the previous closed at {}",
            row.opening_minor, row.previous_closing_minor
        ));
    }
    None
}
