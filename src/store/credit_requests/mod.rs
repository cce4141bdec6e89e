//! Four-eyes requests: a credit-line change, a refund or a staff member's freeze that one
//! admin may not make alone is written when one admin asks and decided once by another.
//! The decision is a conditional UPDATE `WHERE state = 'pending'` in the transaction that
//! applies the change, so of two admins approving at once exactly one applies it and the
//! other finds the request decided. (The table keeps its first name, `credit_requests`.)

use chrono::{DateTime, NaiveDateTime, Utc};
use diesel::prelude::*;
use serde_json::{Value, json};
use uuid::Uuid;

mod ask;

pub use ask::{Asked, refund_or_ask, set_status_or_ask};

use super::admin::{self, LineChange};
use super::refunds::{self, RefundOrder, RefundTerms};
use super::schema::{credit_requests as cr, users};
use super::score::Ctx;
use super::{DbConn, StoreError};
use crate::domain::account::{CreditLine, Refusal};
use crate::domain::four_eyes::{RequestKind, RequestState};
use crate::domain::user::{Role, UserStatus};

/// What a request asks for.
#[derive(Clone, Copy, Debug)]
pub enum Requested {
    Line(LineChange),
    Refund {
        purchase_id: Uuid,
        amount_minor: i64,
    },
    /// Freeze (`Frozen`) or unfreeze (`Active`) a staff member.
    Status(UserStatus),
}

impl Requested {
    pub fn kind(&self) -> RequestKind {
        match self {
            Requested::Line(_) => RequestKind::CreditLine,
            Requested::Refund { .. } => RequestKind::Refund,
            Requested::Status(UserStatus::Frozen) => RequestKind::Freeze,
            Requested::Status(UserStatus::Active) => RequestKind::Unfreeze,
        }
    }
}

#[derive(Clone, Debug)]
pub struct CreditRequest {
    pub id: Uuid,
    /// Whose account it is about (the buyer, for a refund).
    pub user_id: Uuid,
    pub requested_by: Uuid,
    pub change: Requested,
    pub reason: String,
    pub state: RequestState,
    pub decided_by: Option<Uuid>,
    pub decided_at: Option<DateTime<Utc>>,
    pub decision_reason: Option<String>,
    pub created_at: DateTime<Utc>,
}

#[derive(Queryable, Selectable)]
#[diesel(table_name = cr)]
struct Row {
    id: String,
    user_id: String,
    requested_by: String,
    kind: String,
    line: Option<String>,
    limit_minor: Option<i64>,
    override_eligibility: bool,
    purchase_id: Option<String>,
    amount_minor: Option<i64>,
    reason: String,
    state: String,
    decided_by: Option<String>,
    decided_at: Option<NaiveDateTime>,
    decision_reason: Option<String>,
    created_at: NaiveDateTime,
}

impl Row {
    fn requested(&self) -> Option<Requested> {
        let line = self.line.as_deref().and_then(CreditLine::from_db);
        Some(match (RequestKind::from_db(&self.kind)?, line, self.limit_minor) {
            (RequestKind::CreditLine, Some(CreditLine::General), Some(limit_minor)) => {
                Requested::Line(LineChange::General { limit_minor, override_eligibility: self.override_eligibility })
            }
            (RequestKind::CreditLine, Some(CreditLine::Secured), None) => Requested::Line(LineChange::Secured),
            (RequestKind::Refund, None, None) => Requested::Refund {
                purchase_id: Uuid::parse_str(self.purchase_id.as_deref()?).ok()?,
                amount_minor: self.amount_minor?,
            },
            (RequestKind::Freeze, None, None) => Requested::Status(UserStatus::Frozen),
            (RequestKind::Unfreeze, None, None) => Requested::Status(UserStatus::Active),
            _ => return None,
        })
    }

    fn into_domain(self) -> Result<CreditRequest, StoreError> {
        let corrupt = |what: &str| StoreError::Corrupt(format!("credit_requests.{what} of {}", self.id));
        let uuid = |text: &str, what: &str| Uuid::parse_str(text).map_err(|_| corrupt(what));
        Ok(CreditRequest {
            id: uuid(&self.id, "id")?,
            user_id: uuid(&self.user_id, "user_id")?,
            requested_by: uuid(&self.requested_by, "requested_by")?,
            change: self.requested().ok_or_else(|| corrupt("kind"))?,
            state: RequestState::from_db(&self.state).ok_or_else(|| corrupt("state"))?,
            decided_by: self.decided_by.as_deref().map(|d| uuid(d, "decided_by")).transpose()?,
            decided_at: self.decided_at.map(|at| at.and_utc()),
            decision_reason: self.decision_reason.clone(),
            created_at: self.created_at.and_utc(),
            reason: self.reason,
        })
    }
}

fn change_details(change: Requested) -> Value {
    let kind = change.kind().as_str();
    match change {
        Requested::Line(LineChange::General { limit_minor, override_eligibility }) => {
            json!({"kind": kind, "line": "general", "limit_minor": limit_minor, "override": override_eligibility})
        }
        Requested::Line(LineChange::Secured) => {
            json!({"kind": kind, "line": "secured", "limit_minor": null, "override": false})
        }
        Requested::Refund { purchase_id, amount_minor } => {
            json!({"kind": kind, "purchase_id": purchase_id.to_string(), "amount_minor": amount_minor})
        }
        Requested::Status(_) => json!({"kind": kind}),
    }
}

pub fn by_id(conn: &mut DbConn, id: Uuid) -> Result<Option<CreditRequest>, StoreError> {
    let row: Option<Row> =
        cr::table.filter(cr::id.eq(id.to_string())).select(Row::as_select()).first(conn).optional()?;
    row.map(Row::into_domain).transpose()
}

fn role_of(conn: &mut DbConn, user: Uuid) -> Result<Role, StoreError> {
    let role: Option<String> =
        users::table.filter(users::id.eq(user.to_string())).select(users::role).first(conn).optional()?;
    let role = role.ok_or(StoreError::Refused(Refusal::NotFound("user")))?;
    Role::from_db(&role).ok_or_else(|| StoreError::Corrupt(format!("users.role of {user}")))
}

/// Refuses a freeze of someone frozen or an unfreeze of someone active: it would change
/// nothing now, and applied later it could only reverse a decision made since.
fn status_changes(conn: &mut DbConn, user: Uuid, to: UserStatus) -> Result<(), StoreError> {
    let now: Option<String> =
        users::table.filter(users::id.eq(user.to_string())).select(users::status).first(conn).optional()?;
    let now = now.ok_or(StoreError::Refused(Refusal::NotFound("user")))?;
    if now == to.as_str() {
        return Err(StoreError::Refused(Refusal::StatusUnchanged(to.as_str())));
    }
    Ok(())
}

/// Refuses a request the direct action would refuse now (the rules are checked again when
/// it is approved).
fn check(conn: &mut DbConn, actor: Uuid, target: Uuid, change: Requested, ctx: &Ctx<'_>) -> Result<(), StoreError> {
    match change {
        Requested::Line(line) => admin::check_line_change(conn, target, line, ctx).map(|_| ()),
        Requested::Refund { purchase_id, amount_minor } => {
            refunds::check(conn, purchase_id, amount_minor, actor).map(|_| ())
        }
        Requested::Status(status) => status_changes(conn, target, status),
    }
}

/// Records `actor`'s request for `change` on `target`'s account, refused as the direct
/// action would be refused now. Nothing on the account changes.
pub fn create(
    conn: &mut DbConn,
    actor: Uuid,
    target: Uuid,
    change: Requested,
    reason: &str,
    ctx: &Ctx<'_>,
) -> Result<CreditRequest, StoreError> {
    check(conn, actor, target, change, ctx)?;
    record(conn, actor, target, change, reason, ctx.now)
}

/// Writes the request and its audit entry; the caller has checked it.
fn record(
    conn: &mut DbConn,
    actor: Uuid,
    target: Uuid,
    change: Requested,
    reason: &str,
    now: DateTime<Utc>,
) -> Result<CreditRequest, StoreError> {
    let id = Uuid::now_v7();
    let (line, limit_minor, override_eligibility) = match change {
        Requested::Line(LineChange::General { limit_minor, override_eligibility }) => {
            (Some("general"), Some(limit_minor), override_eligibility)
        }
        Requested::Line(LineChange::Secured) => (Some("secured"), None, false),
        _ => (None, None, false),
    };
    let (purchase_id, amount_minor) = match change {
        Requested::Refund { purchase_id, amount_minor } => (Some(purchase_id.to_string()), Some(amount_minor)),
        _ => (None, None),
    };
    diesel::insert_into(cr::table)
        .values((
            cr::id.eq(id.to_string()),
            cr::user_id.eq(target.to_string()),
            cr::requested_by.eq(actor.to_string()),
            cr::kind.eq(change.kind().as_str()),
            cr::line.eq(line),
            cr::limit_minor.eq(limit_minor),
            cr::override_eligibility.eq(override_eligibility),
            cr::purchase_id.eq(purchase_id),
            cr::amount_minor.eq(amount_minor),
            cr::reason.eq(reason),
            cr::state.eq(RequestState::Pending.as_str()),
            cr::created_at.eq(now.naive_utc()),
        ))
        .execute(conn)?;
    let mut details = change_details(change);
    details["request_id"] = json!(id.to_string());
    details["outcome"] = json!(RequestState::Pending.as_str());
    admin::audit(conn, actor, "credit_request.create", Some(&target.to_string()), Some(reason), &details, now)?;
    by_id(conn, id)?.ok_or_else(|| StoreError::Corrupt(format!("credit request {id} vanished after insert")))
}

/// Marks a pending request decided by `actor`, who must be neither the admin who asked nor
/// the person it is about. Answers the request as it was before the decision.
fn decide(
    conn: &mut DbConn,
    actor: Uuid,
    id: Uuid,
    to: RequestState,
    reason: &str,
    now: DateTime<Utc>,
) -> Result<CreditRequest, StoreError> {
    let request = by_id(conn, id)?.ok_or(StoreError::Refused(Refusal::NotFound("credit request")))?;
    if request.requested_by == actor {
        return Err(StoreError::Refused(Refusal::Forbidden(
            "the admin who asked for a four-eyes action cannot decide it; another admin must",
        )));
    }
    if request.user_id == actor {
        return Err(StoreError::Refused(Refusal::Forbidden("nobody decides a request about their own account")));
    }
    // On PostgreSQL a concurrent decision holds the row until it commits; this statement then
    // re-reads the row and finds it no longer pending. SQLite runs one writer at a time.
    let decided = diesel::update(cr::table.filter(cr::id.eq(id.to_string())).filter(cr::state.eq("pending")))
        .set((
            cr::state.eq(to.as_str()),
            cr::decided_by.eq(actor.to_string()),
            cr::decided_at.eq(now.naive_utc()),
            cr::decision_reason.eq(reason),
        ))
        .execute(conn)?;
    if decided == 0 {
        let state = by_id(conn, id)?.map_or(RequestState::Pending, |r| r.state);
        return Err(StoreError::Refused(Refusal::AlreadyDecided(state.as_str())));
    }
    Ok(request)
}

fn decision_audit(
    conn: &mut DbConn,
    actor: Uuid,
    request: &CreditRequest,
    to: RequestState,
    reason: &str,
    now: DateTime<Utc>,
) -> Result<CreditRequest, StoreError> {
    let mut details = change_details(request.change);
    details["request_id"] = json!(request.id.to_string());
    details["requested_by"] = json!(request.requested_by.to_string());
    details["outcome"] = json!(to.as_str());
    let action = if to == RequestState::Approved { "credit_request.approve" } else { "credit_request.reject" };
    admin::audit(conn, actor, action, Some(&request.user_id.to_string()), Some(reason), &details, now)?;
    by_id(conn, request.id)?.ok_or_else(|| StoreError::Corrupt(format!("credit request {} vanished", request.id)))
}

/// Approves and applies the request in one transaction, through the same function as the
/// direct action (same checks as of now, same history, same audit entry). When the rules
/// now refuse it, nothing is written and the request stays pending.
pub fn approve(
    conn: &mut DbConn,
    actor: Uuid,
    id: Uuid,
    reason: &str,
    ctx: &Ctx<'_>,
    refund_terms: RefundTerms,
) -> Result<CreditRequest, StoreError> {
    let request = decide(conn, actor, id, RequestState::Approved, reason, ctx.now)?;
    match request.change {
        Requested::Line(change) => {
            admin::change_line(conn, actor, request.user_id, change, &request.reason, Some(request.id), ctx)?;
        }
        Requested::Refund { purchase_id, amount_minor } => {
            let order = RefundOrder {
                purchase_id,
                amount_minor,
                reason: &request.reason,
                actor_id: actor,
                terms: refund_terms,
                score: ctx.score,
                request_id: Some(request.id),
                now: ctx.now,
            };
            refunds::refund(conn, &order)?;
        }
        Requested::Status(status) => {
            // A request made stale by another (a second freeze, an unfreeze already done)
            // must not reverse what was decided since.
            status_changes(conn, request.user_id, status)?;
            admin::set_status(conn, actor, request.user_id, status, &request.reason, Some(request.id), ctx.now)?;
        }
    }
    decision_audit(conn, actor, &request, RequestState::Approved, reason, ctx.now)
}

/// Closes the request without touching the account.
pub fn reject(
    conn: &mut DbConn,
    actor: Uuid,
    id: Uuid,
    reason: &str,
    now: DateTime<Utc>,
) -> Result<CreditRequest, StoreError> {
    let request = decide(conn, actor, id, RequestState::Rejected, reason, now)?;
    decision_audit(conn, actor, &request, RequestState::Rejected, reason, now)
}

/// What a refused four-eyes action was about.
#[derive(Clone, Copy, Debug)]
pub enum Concerning {
    /// A request for this user's line, refused before it was written.
    User(Uuid),
    /// A decision on this request.
    Request(Uuid),
}

/// Keeps an audit entry for a refused four-eyes action, with the contract `code` it was
/// refused with. Its own transaction: the action's was rolled back.
pub fn audit_refusal(
    conn: &mut DbConn,
    actor: Uuid,
    action: &str,
    concerning: Concerning,
    reason: &str,
    code: &str,
    now: DateTime<Utc>,
) -> Result<(), StoreError> {
    let mut details = json!({"outcome": "refused", "code": code});
    let target = match concerning {
        Concerning::User(user) => Some(user),
        Concerning::Request(id) => {
            details["request_id"] = json!(id.to_string());
            by_id(conn, id)?.map(|r| r.user_id)
        }
    };
    let target = target.map(|t| t.to_string());
    admin::audit(conn, actor, action, target.as_deref(), Some(reason), &details, now)
}

/// Newest first, optionally only in one state, strictly after the `after_id` cursor.
pub fn list(
    conn: &mut DbConn,
    state: Option<RequestState>,
    after_id: Option<&str>,
    limit: u32,
) -> Result<Vec<CreditRequest>, StoreError> {
    let mut query = cr::table.order(cr::id.desc()).limit(i64::from(limit)).select(Row::as_select()).into_boxed();
    if let Some(state) = state {
        query = query.filter(cr::state.eq(state.as_str()));
    }
    if let Some(after) = after_id {
        query = query.filter(cr::id.lt(after.to_owned()));
    }
    query.load(conn)?.into_iter().map(Row::into_domain).collect()
}
