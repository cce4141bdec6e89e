//! The four-eyes decision of an action that may need a second admin: done at once, or
//! written as a request (`create`) in the same transaction, on the account as stored.

use chrono::{DateTime, Utc};
use diesel::prelude::*;
use uuid::Uuid;

use super::{CreditRequest, Requested, create, record, role_of};
use crate::domain::account::Refusal;
use crate::domain::credit::Purchase;
use crate::domain::four_eyes;
use crate::domain::user::{User, UserStatus};
use crate::store::admin;
use crate::store::refunds::{self, RefundOrder};
use crate::store::schema::refunds as rf;
use crate::store::score::Ctx;
use crate::store::{DbConn, StoreError};

/// An action either done at once or waiting for a second admin.
pub enum Asked<T> {
    Done(T),
    Pending(CreditRequest),
}

/// A refund at once, or, when it needs a second admin (`four_eyes::refund_needs_second_admin`),
/// a request for it. Decided in the refund's own transaction, on the buyer as stored.
pub fn refund_or_ask(
    conn: &mut DbConn,
    order: &RefundOrder<'_>,
    refund_four_eyes_limit_minor: i64,
) -> Result<Asked<Purchase>, StoreError> {
    let (buyer, refunded_minor) = refunds::check(conn, order.purchase_id, order.amount_minor, order.actor_id)?;
    let buyer_is_staff = role_of(conn, buyer)?.is_staff();
    let purchase_total_minor = refunded_minor + order.amount_minor;
    let by_actor_to_buyer_minor = refunded_by_to(conn, order.actor_id, buyer, order.now)? + order.amount_minor;
    let limit_minor = refund_four_eyes_limit_minor;
    if four_eyes::refund_needs_second_admin(purchase_total_minor, by_actor_to_buyer_minor, limit_minor, buyer_is_staff)
    {
        let change = Requested::Refund { purchase_id: order.purchase_id, amount_minor: order.amount_minor };
        return record(conn, order.actor_id, buyer, change, order.reason, order.now).map(Asked::Pending);
    }
    refunds::refund(conn, order).map(Asked::Done)
}

/// Freezes or unfreezes a customer at once; a staff member's freeze or unfreeze becomes a
/// request (`four_eyes::status_change_needs_second_admin`). `None`: no such user.
pub fn set_status_or_ask(
    conn: &mut DbConn,
    actor: Uuid,
    target: Uuid,
    status: UserStatus,
    reason: &str,
    ctx: &Ctx<'_>,
) -> Result<Option<Asked<User>>, StoreError> {
    let role = match role_of(conn, target) {
        Err(StoreError::Refused(Refusal::NotFound(_))) => return Ok(None),
        other => other?,
    };
    if four_eyes::status_change_needs_second_admin(role.is_staff()) {
        return create(conn, actor, target, Requested::Status(status), reason, ctx).map(|r| Some(Asked::Pending(r)));
    }
    Ok(admin::set_status(conn, actor, target, status, reason, None, ctx.now)?.map(Asked::Done))
}

/// What `actor` refunded to `buyer` over the day before `now` (refunds they applied,
/// directly or as the approver).
fn refunded_by_to(conn: &mut DbConn, actor: Uuid, buyer: Uuid, now: DateTime<Utc>) -> Result<i64, StoreError> {
    let since = (now - chrono::TimeDelta::days(1)).naive_utc();
    let amounts: Vec<i64> = rf::table
        .filter(rf::actor_id.eq(actor.to_string()))
        .filter(rf::user_id.eq(buyer.to_string()))
        .filter(rf::created_at.gt(since))
        .select(rf::amount_minor)
        .load(conn)?;
    Ok(amounts.iter().sum())
}
