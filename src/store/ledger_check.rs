//! Recomputes the contract's invariants from the journal and lists every violation.

use diesel::prelude::*;
use diesel::sql_types::{BigInt, Text};
use serde::Serialize;

use super::{DbConn, StoreError};
use crate::domain::account::BALANCE_CEILING_MINOR;

/// At most this many violations of one kind are listed; the count says if there were more.
const LIST_LIMIT: i64 = 50;

#[derive(Clone, Debug, Serialize, PartialEq, Eq, utoipa::ToSchema)]
pub struct Violation {
    /// Which invariant: `entry_balanced`, `ledger_total_zero`, `stored_balance`,
    /// `non_negative`, `credit_state`, `money_conserved`, `events_complete` (the outbox
    /// agrees with the journal), `statement_reconciles` (a statement is as issued, adds up
    /// and agrees with the journal entries it took).
    pub invariant: &'static str,
    pub detail: String,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct LedgerReport {
    pub ok: bool,
    pub entries: i64,
    pub violations: Vec<Violation>,
}

#[derive(QueryableByName)]
struct Total {
    #[diesel(sql_type = BigInt)]
    total: i64,
}

#[derive(QueryableByName)]
struct Unbalanced {
    #[diesel(sql_type = Text)]
    entry_id: String,
    #[diesel(sql_type = BigInt)]
    total: i64,
    #[diesel(sql_type = BigInt)]
    legs: i64,
}

#[derive(QueryableByName)]
struct Mismatch {
    #[diesel(sql_type = Text)]
    user_id: String,
    #[diesel(sql_type = Text)]
    account: String,
    #[diesel(sql_type = BigInt)]
    stored: i64,
    #[diesel(sql_type = BigInt)]
    posted: i64,
}

#[derive(QueryableByName)]
struct BadState {
    #[diesel(sql_type = Text)]
    user_id: String,
    #[diesel(sql_type = Text)]
    problem: String,
}

fn total(conn: &mut DbConn, sql: &str) -> Result<i64, StoreError> {
    Ok(diesel::sql_query(sql).get_result::<Total>(conn)?.total)
}

pub fn check(conn: &mut DbConn) -> Result<LedgerReport, StoreError> {
    let mut violations = Vec::new();
    let entries = total(conn, "SELECT COUNT(*) AS total FROM journal_entries")?;

    // 1. Every entry has at least two postings and they sum to zero; so does everything.
    let unbalanced: Vec<Unbalanced> = diesel::sql_query(format!(
        "SELECT e.id AS entry_id, CAST(COALESCE(SUM(p.amount_minor), 0) AS BIGINT) AS total, \
                CAST(COUNT(p.entry_id) AS BIGINT) AS legs \
         FROM journal_entries e LEFT JOIN postings p ON p.entry_id = e.id \
         GROUP BY e.id HAVING COALESCE(SUM(p.amount_minor), 0) <> 0 OR COUNT(p.entry_id) < 2 \
         ORDER BY e.id LIMIT {LIST_LIMIT}"
    ))
    .load(conn)?;
    violations.extend(unbalanced.into_iter().map(|u| Violation {
        invariant: "entry_balanced",
        detail: format!("entry {} has {} posting(s) summing to {}", u.entry_id, u.legs, u.total),
    }));
    let grand = total(conn, "SELECT CAST(COALESCE(SUM(amount_minor), 0) AS BIGINT) AS total FROM postings")?;
    if grand != 0 {
        violations
            .push(Violation { invariant: "ledger_total_zero", detail: format!("all postings sum to {grand}, not 0") });
    }

    // 2. Stored balances equal the sums of their postings. The credit account carries
    // the user's debt (principal, billed fees, late fees) as a negative balance.
    let mismatches: Vec<Mismatch> = diesel::sql_query(format!(
        "SELECT user_id, account, stored, posted FROM ( \
           SELECT m.user_id, 'wallet' AS account, m.wallet_minor AS stored, \
                  CAST(COALESCE((SELECT SUM(p.amount_minor) FROM postings p \
                                 WHERE p.account_id = m.user_id || ':wallet'), 0) AS BIGINT) AS posted \
           FROM money_accounts m \
           UNION ALL \
           SELECT m.user_id, 'vault', m.vault_minor, \
                  CAST(COALESCE((SELECT SUM(p.amount_minor) FROM postings p \
                                 WHERE p.account_id = m.user_id || ':vault'), 0) AS BIGINT) \
           FROM money_accounts m \
           UNION ALL \
           SELECT m.user_id, 'credit', -(m.principal_minor + m.fees_minor + m.late_fees_minor), \
                  CAST(COALESCE((SELECT SUM(p.amount_minor) FROM postings p \
                                 WHERE p.account_id = m.user_id || ':credit'), 0) AS BIGINT) \
           FROM money_accounts m \
           UNION ALL \
           SELECT m.user_id, 'hold', m.held_minor, \
                  CAST(COALESCE((SELECT SUM(p.amount_minor) FROM postings p \
                                 WHERE p.account_id = m.user_id || ':hold'), 0) AS BIGINT) \
           FROM money_accounts m \
         ) balances WHERE stored <> posted ORDER BY user_id, account LIMIT {LIST_LIMIT}"
    ))
    .load(conn)?;
    violations.extend(mismatches.into_iter().map(|m| Violation {
        invariant: "stored_balance",
        detail: format!("{} of user {}: stored {} but postings sum to {}", m.account, m.user_id, m.stored, m.posted),
    }));

    // 3 and the credit state: nothing negative, nothing past the ceiling, known line.
    let bad_states: Vec<BadState> = diesel::sql_query(format!(
        "SELECT user_id, problem FROM ( \
           SELECT user_id, 'wallet or vault below zero' AS problem FROM money_accounts \
             WHERE wallet_minor < 0 OR vault_minor < 0 \
           UNION ALL \
           SELECT user_id, 'held, principal, fees or late fees below zero' FROM money_accounts \
             WHERE held_minor < 0 OR principal_minor < 0 OR fees_minor < 0 OR late_fees_minor < 0 \
           UNION ALL \
           SELECT user_id, 'a balance above the ceiling' FROM money_accounts \
             WHERE wallet_minor > {BALANCE_CEILING_MINOR} OR vault_minor > {BALANCE_CEILING_MINOR} \
           UNION ALL \
           SELECT user_id, 'unknown credit line' FROM money_accounts WHERE line NOT IN ('secured', 'general') \
         ) states ORDER BY user_id LIMIT {LIST_LIMIT}"
    ))
    .load(conn)?;
    violations.extend(bad_states.into_iter().map(|b| Violation {
        invariant: if b.problem.contains("below zero") && b.problem.starts_with("wallet") {
            "non_negative"
        } else {
            "credit_state"
        },
        detail: format!("user {}: {}", b.user_id, b.problem),
    }));

    // Each user's credit numbers agree with their purchases and installments.
    let credit: Vec<Mismatch> = diesel::sql_query(format!(
        "SELECT user_id, account, stored, posted FROM ( \
           SELECT m.user_id, 'held' AS account, m.held_minor AS stored, \
                  CAST(COALESCE((SELECT SUM(p.amount_minor) FROM purchases p \
                                 WHERE p.user_id = m.user_id AND p.state = 'authorized'), 0) AS BIGINT) AS posted \
           FROM money_accounts m \
           UNION ALL \
           SELECT m.user_id, 'principal', m.principal_minor, \
                  CAST(COALESCE((SELECT SUM(i.principal_minor - i.principal_paid_minor) FROM installments i \
                                 WHERE i.user_id = m.user_id), 0) AS BIGINT) \
           FROM money_accounts m \
           UNION ALL \
           SELECT m.user_id, 'fees', m.fees_minor, \
                  CAST(COALESCE((SELECT SUM(i.fee_minor - i.fee_paid_minor) FROM installments i \
                                 WHERE i.user_id = m.user_id AND i.fee_billed), 0) AS BIGINT) \
           FROM money_accounts m \
           UNION ALL \
           SELECT m.user_id, 'late_fees', m.late_fees_minor, \
                  CAST(COALESCE((SELECT SUM(i.late_fee_minor - i.late_fee_paid_minor) FROM installments i \
                                 WHERE i.user_id = m.user_id), 0) AS BIGINT) \
           FROM money_accounts m \
           UNION ALL \
           SELECT m.user_id, 'overdue_count', m.overdue_count, \
                  (SELECT COUNT(*) FROM installments i WHERE i.user_id = m.user_id AND i.state = 'overdue') \
           FROM money_accounts m \
         ) credit WHERE stored <> posted ORDER BY user_id, account LIMIT {LIST_LIMIT}"
    ))
    .load(conn)?;
    violations.extend(credit.into_iter().map(|m| Violation {
        invariant: "credit_state",
        detail: format!(
            "{} of user {}: stored {} but purchases and installments say {}",
            m.account, m.user_id, m.stored, m.posted
        ),
    }));
    let paid_but_owing = total(
        conn,
        "SELECT COUNT(*) AS total FROM installments WHERE state = 'paid' AND \
         (principal_paid_minor <> principal_minor OR late_fee_paid_minor <> late_fee_minor \
          OR (fee_billed AND fee_paid_minor <> fee_minor))",
    )?;
    if paid_but_owing > 0 {
        violations.push(Violation {
            invariant: "credit_state",
            detail: format!("{paid_but_owing} installment(s) marked paid still owe money"),
        });
    }

    // 6. No money created or destroyed: what came in minus what went out (by entry kind)
    // equals what wallets and vaults hold plus what the lender, merchants and fee
    // accounts net, plus what users owe.
    let bad_refunds = total(
        conn,
        "SELECT COUNT(*) AS total FROM purchases p WHERE p.refunded_minor < 0 OR p.refunded_minor > p.amount_minor \
         OR p.refunded_minor <> COALESCE((SELECT SUM(r.amount_minor) FROM refunds r WHERE r.purchase_id = p.id), 0) \
         OR (p.refunded_minor > 0 AND p.state <> 'captured')",
    )?;
    if bad_refunds > 0 {
        violations.push(Violation {
            invariant: "credit_state",
            detail: format!("{bad_refunds} purchase(s) whose refunded amount disagrees with their refunds"),
        });
    }

    // What each bill plan still carries equals what its sources' converted parts say they
    // moved there (a refund of a source takes from both at once).
    let bad_plans = total(
        conn,
        "SELECT COUNT(*) AS total FROM purchases p \
         WHERE EXISTS (SELECT 1 FROM installments s WHERE s.converted_into = p.id) \
         AND (SELECT SUM(i.principal_minor) FROM installments i WHERE i.purchase_id = p.id) \
          <> (SELECT SUM(s.converted_minor) FROM installments s WHERE s.converted_into = p.id)",
    )?;
    if bad_plans > 0 {
        violations.push(Violation {
            invariant: "credit_state",
            detail: format!("{bad_plans} bill plan(s) carrying other than what their sources moved into them"),
        });
    }

    events(conn, &mut violations)?;
    super::statements::check(conn, &mut violations, LIST_LIMIT as usize)?;

    let deposits = total(
        conn,
        "SELECT CAST(COALESCE(SUM(p.amount_minor), 0) AS BIGINT) AS total FROM postings p \
         JOIN journal_entries e ON e.id = p.entry_id \
         WHERE e.kind = 'deposit' AND p.account_id LIKE '%:wallet'",
    )?;
    let withdrawals = total(
        conn,
        "SELECT CAST(COALESCE(-SUM(p.amount_minor), 0) AS BIGINT) AS total FROM postings p \
         JOIN journal_entries e ON e.id = p.entry_id \
         WHERE e.kind = 'withdrawal' AND p.account_id LIKE '%:wallet'",
    )?;
    let held = total(
        conn,
        "SELECT CAST(COALESCE(SUM(wallet_minor + vault_minor), 0) AS BIGINT) AS total FROM money_accounts",
    )?;
    let others = total(
        conn,
        "SELECT CAST(COALESCE(SUM(amount_minor), 0) AS BIGINT) AS total FROM postings \
         WHERE account_id LIKE 'sys:%' AND account_id <> 'sys:external_funding' \
            OR account_id LIKE '%:credit' OR account_id LIKE '%:hold'",
    )?;
    if deposits - withdrawals != held + others {
        violations.push(Violation {
            invariant: "money_conserved",
            detail: format!(
                "deposits {deposits} - withdrawals {withdrawals} = {} but wallets and vaults hold {held} \
                 and the other accounts net {others}",
                deposits - withdrawals
            ),
        });
    }

    Ok(LedgerReport { ok: violations.is_empty(), entries, violations })
}

/// The outbox agrees with the journal: every movement and limit change has exactly one
/// event and every such event its row, and each user's `seq` runs 1, 2, 3... without a gap.
fn events(conn: &mut DbConn, violations: &mut Vec<Violation>) -> Result<(), StoreError> {
    let checks = [
        // Set differences and pre-counted groups rather than joins per row: SQLite would
        // walk a user's whole stream (index `(user_id, seq)`) for each of their movements,
        // minutes for a database of a few hundred thousand events.
        (
            "movements without their event",
            "SELECT COUNT(*) AS total FROM (SELECT user_id, entry_id FROM movements \
             EXCEPT SELECT user_id, object_id FROM events WHERE type = 'movement.created') missing",
        ),
        (
            "movement events without their movement",
            "SELECT COUNT(*) AS total FROM (SELECT user_id, object_id FROM events WHERE type = 'movement.created' \
             EXCEPT SELECT user_id, entry_id FROM movements) orphaned",
        ),
        (
            "limit changes without exactly one event",
            "SELECT COUNT(*) AS total FROM limit_history h LEFT JOIN (SELECT user_id, object_id, COUNT(*) AS n \
             FROM events WHERE type LIKE 'credit.%' GROUP BY user_id, object_id) e \
             ON e.object_id = h.id AND e.user_id = h.user_id WHERE coalesce(e.n, 0) <> 1",
        ),
        (
            "movements with more than one event",
            "SELECT COUNT(*) AS total FROM (SELECT user_id, object_id FROM events WHERE type = 'movement.created' \
             GROUP BY user_id, object_id HAVING COUNT(*) > 1) repeated",
        ),
        (
            "users whose event seq has a gap",
            "SELECT COUNT(*) AS total FROM (SELECT user_id FROM events GROUP BY user_id \
             HAVING MAX(seq) <> COUNT(*) OR MIN(seq) <> 1) gaps",
        ),
    ];
    for (what, sql) in checks {
        let found = total(conn, sql)?;
        if found > 0 {
            violations.push(Violation { invariant: "events_complete", detail: format!("{found} {what}") });
        }
    }
    Ok(())
}

#[derive(QueryableByName)]
struct BalanceRow {
    #[diesel(sql_type = Text)]
    kind: String,
    #[diesel(sql_type = BigInt)]
    accounts: i64,
    #[diesel(sql_type = BigInt)]
    total: i64,
}

/// One line of the trial balance: every ledger account of a kind (the system's own accounts
/// are one each; customers' are summed per kind) and the sum of their postings.
#[derive(Clone, Debug, serde::Serialize)]
pub struct BalanceLine {
    pub kind: String,
    pub accounts: i64,
    pub total_minor: i64,
}

/// The trial balance from the journal: the lines sum to zero when the books balance.
pub fn trial_balance(conn: &mut DbConn) -> Result<Vec<BalanceLine>, StoreError> {
    let rows: Vec<BalanceRow> = diesel::sql_query(
        "SELECT a.kind AS kind, CAST(COUNT(DISTINCT a.id) AS BIGINT) AS accounts, \
         CAST(COALESCE(SUM(p.amount_minor), 0) AS BIGINT) AS total \
         FROM ledger_accounts a LEFT JOIN postings p ON p.account_id = a.id \
         GROUP BY a.kind ORDER BY a.kind",
    )
    .load(conn)?;
    Ok(rows.into_iter().map(|r| BalanceLine { kind: r.kind, accounts: r.accounts, total_minor: r.total }).collect())
}
