//! A purchase as PostgreSQL's `vl_purchase_snapshot` writes it (JSON): the credit
//! functions answer with it, and events carry it.

use chrono::{NaiveDate, NaiveDateTime};
use serde::Deserialize;
use uuid::Uuid;

use super::StoreError;
use super::purchases::{InstallmentRow, PurchaseRow, installment_from_row, purchase_from_row};
use crate::domain::credit::{Installment, Purchase, Refund};

#[derive(Deserialize)]
struct PurchaseJson {
    id: String,
    user_id: String,
    merchant_id: String,
    amount_minor: i64,
    installments: i32,
    description: Option<String>,
    state: String,
    created_at: NaiveDateTime,
    #[serde(default)]
    refunded_minor: i64,
}

#[derive(Deserialize)]
pub(crate) struct InstallmentJson {
    purchase_id: String,
    seq: i32,
    due_date: NaiveDate,
    principal_minor: i64,
    fee_minor: i64,
    fee_billed: bool,
    late_fee_minor: i64,
    principal_paid_minor: i64,
    fee_paid_minor: i64,
    late_fee_paid_minor: i64,
    state: String,
    was_overdue: bool,
    days_overdue: i32,
}

#[derive(Deserialize)]
struct RefundJson {
    id: String,
    amount_minor: i64,
    reason: String,
    created_at: NaiveDateTime,
}

#[derive(Deserialize)]
struct SnapshotJson {
    purchase: PurchaseJson,
    schedule: Vec<InstallmentJson>,
    /// Only in events' snapshots (`vl_event_purchase`); answers read the refunds apart.
    #[serde(default)]
    refunds: Vec<RefundJson>,
}

impl InstallmentJson {
    /// The part, of a purchase of `count` parts.
    pub(super) fn into_installment(self, count: i32) -> Result<Installment, StoreError> {
        let i = self;
        let row: InstallmentRow = (
            i.purchase_id,
            i.seq,
            count,
            i.due_date,
            i.principal_minor,
            i.fee_minor,
            i.fee_billed,
            i.late_fee_minor,
            i.principal_paid_minor,
            i.fee_paid_minor,
            i.late_fee_paid_minor,
            i.state,
            i.was_overdue,
            i.days_overdue,
        );
        installment_from_row(row)
    }
}

/// A purchase from `vl_purchase_snapshot`'s JSON rows.
pub fn purchase_from_snapshot(json: &str) -> Result<Purchase, StoreError> {
    let snap: SnapshotJson =
        serde_json::from_str(json).map_err(|e| StoreError::Corrupt(format!("purchase snapshot: {e}")))?;
    let p = snap.purchase;
    let schedule =
        snap.schedule.into_iter().map(|i| i.into_installment(p.installments)).collect::<Result<Vec<_>, _>>()?;
    let row: PurchaseRow = (
        p.id,
        p.user_id,
        p.merchant_id,
        p.amount_minor,
        p.installments,
        p.description,
        p.state,
        p.created_at,
        p.refunded_minor,
    );
    let mut purchase = purchase_from_row(row, &schedule)?;
    for r in snap.refunds {
        let id = Uuid::parse_str(&r.id).map_err(|_| StoreError::Corrupt(format!("refund id {}", r.id)))?;
        let refund = Refund { id, amount_minor: r.amount_minor, reason: r.reason, created_at: r.created_at.and_utc() };
        purchase.refunds.push(refund);
    }
    Ok(purchase)
}
