//! Credit-line changes waiting for a second admin (four eyes): written when one admin asks,
//! decided once by another. The decision is a conditional UPDATE `WHERE state = 'pending'`
//! in the transaction that applies the change, so of two admins approving at once exactly
//! one applies it and the other finds the request decided.

use chrono::{DateTime, NaiveDateTime, Utc};
use diesel::prelude::*;
use serde_json::{Value, json};
use uuid::Uuid;

use super::admin::{self, LineChange};
use super::schema::credit_requests as cr;
use super::score::Ctx;
use super::{DbConn, StoreError};
use crate::domain::account::{CreditLine, Refusal};
use crate::domain::four_eyes::RequestState;

#[derive(Clone, Debug)]
pub struct CreditRequest {
    pub id: Uuid,
    pub user_id: Uuid,
    pub requested_by: Uuid,
    pub change: LineChange,
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
    line: String,
    limit_minor: Option<i64>,
    override_eligibility: bool,
    reason: String,
    state: String,
    decided_by: Option<String>,
    decided_at: Option<NaiveDateTime>,
    decision_reason: Option<String>,
    created_at: NaiveDateTime,
}

impl Row {
    fn into_domain(self) -> Result<CreditRequest, StoreError> {
        let corrupt = |what: &str| StoreError::Corrupt(format!("credit_requests.{what} of {}", self.id));
        let uuid = |text: &str, what: &str| Uuid::parse_str(text).map_err(|_| corrupt(what));
        let change = match (CreditLine::from_db(&self.line), self.limit_minor) {
            (Some(CreditLine::General), Some(limit_minor)) => {
                LineChange::General { limit_minor, override_eligibility: self.override_eligibility }
            }
            (Some(CreditLine::Secured), None) => LineChange::Secured,
            _ => return Err(corrupt("line")),
        };
        Ok(CreditRequest {
            id: uuid(&self.id, "id")?,
            user_id: uuid(&self.user_id, "user_id")?,
            requested_by: uuid(&self.requested_by, "requested_by")?,
            change,
            state: RequestState::from_db(&self.state).ok_or_else(|| corrupt("state"))?,
            decided_by: self.decided_by.as_deref().map(|d| uuid(d, "decided_by")).transpose()?,
            decided_at: self.decided_at.map(|at| at.and_utc()),
            decision_reason: self.decision_reason.clone(),
            created_at: self.created_at.and_utc(),
            reason: self.reason,
        })
    }
}

fn change_details(change: LineChange) -> Value {
    match change {
        LineChange::General { limit_minor, override_eligibility } => {
            json!({"line": "general", "limit_minor": limit_minor, "override": override_eligibility})
        }
        LineChange::Secured => json!({"line": "secured", "limit_minor": null, "override": false}),
    }
}

pub fn by_id(conn: &mut DbConn, id: Uuid) -> Result<Option<CreditRequest>, StoreError> {
    let row: Option<Row> =
        cr::table.filter(cr::id.eq(id.to_string())).select(Row::as_select()).first(conn).optional()?;
    row.map(Row::into_domain).transpose()
}

/// Records `actor`'s request for `change`, refused as the direct change would be refused
/// now (the rules are checked again when it is approved). Nothing on the account changes.
pub fn create(
    conn: &mut DbConn,
    actor: Uuid,
    target: Uuid,
    change: LineChange,
    reason: &str,
    ctx: &Ctx<'_>,
) -> Result<CreditRequest, StoreError> {
    admin::check_line_change(conn, target, change, ctx)?;
    let id = Uuid::now_v7();
    let (line, limit_minor, override_eligibility) = match change {
        LineChange::General { limit_minor, override_eligibility } => {
            ("general", Some(limit_minor), override_eligibility)
        }
        LineChange::Secured => ("secured", None, false),
    };
    diesel::insert_into(cr::table)
        .values((
            cr::id.eq(id.to_string()),
            cr::user_id.eq(target.to_string()),
            cr::requested_by.eq(actor.to_string()),
            cr::line.eq(line),
            cr::limit_minor.eq(limit_minor),
            cr::override_eligibility.eq(override_eligibility),
            cr::reason.eq(reason),
            cr::state.eq(RequestState::Pending.as_str()),
            cr::created_at.eq(ctx.now.naive_utc()),
        ))
        .execute(conn)?;
    let mut details = change_details(change);
    details["request_id"] = json!(id.to_string());
    details["outcome"] = json!(RequestState::Pending.as_str());
    admin::audit(conn, actor, "credit_request.create", Some(&target.to_string()), Some(reason), &details, ctx.now)?;
    by_id(conn, id)?.ok_or_else(|| StoreError::Corrupt(format!("credit request {id} vanished after insert")))
}

/// Marks a pending request decided by `actor`, who must not be the admin who asked.
/// Answers the request as it was before the decision.
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
            "the admin who asked for a credit-line change cannot decide it; another admin must",
        )));
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

/// Approves and applies the request in one transaction, through the same `change_line` as
/// a direct change (same checks as of now, same limit history, same audit entry). When the
/// rules now refuse it, nothing is written and the request stays pending.
pub fn approve(
    conn: &mut DbConn,
    actor: Uuid,
    id: Uuid,
    reason: &str,
    ctx: &Ctx<'_>,
) -> Result<CreditRequest, StoreError> {
    let request = decide(conn, actor, id, RequestState::Approved, reason, ctx.now)?;
    admin::change_line(conn, actor, request.user_id, request.change, &request.reason, Some(request.id), ctx)?;
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
