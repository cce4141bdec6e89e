//! Admin actions, each written to the audit log in its own transaction.

use chrono::{DateTime, Utc};
use diesel::prelude::*;
use serde_json::{Value, json};
use uuid::Uuid;

use super::limits::{self, LimitReason};
use super::schema::{audit_log as al, money_accounts as ma, users};
use super::score::{self, Ctx, Standing};
use super::{DbConn, StoreError};
use crate::domain::account::{CreditLine, Refusal};
use crate::domain::four_eyes;
use crate::domain::user::{Role, User, UserStatus};

pub fn audit(
    conn: &mut DbConn,
    actor_id: Uuid,
    action: &str,
    target_id: Option<&str>,
    reason: Option<&str>,
    details: &Value,
    now: DateTime<Utc>,
) -> Result<(), StoreError> {
    // Every admin action is a security event too (counted in /metrics, logged with the actor).
    crate::security::event("admin_action", Some(&actor_id.to_string()), "-", action);
    diesel::insert_into(al::table)
        .values((
            al::id.eq(Uuid::now_v7().to_string()),
            al::actor_id.eq(actor_id.to_string()),
            al::action.eq(action),
            al::target_id.eq(target_id),
            al::reason.eq(reason),
            al::details.eq(details.to_string()),
            al::created_at.eq(now.naive_utc()),
        ))
        .execute(conn)?;
    Ok(())
}

#[derive(Clone, Debug)]
pub struct AuditEntry {
    pub id: String,
    pub actor_id: String,
    pub action: String,
    pub target_id: Option<String>,
    pub reason: Option<String>,
    pub details: Value,
    pub created_at: DateTime<Utc>,
}

/// Newest first, optionally only about one target.
pub fn audit_log(
    conn: &mut DbConn,
    target_id: Option<&str>,
    before: Option<&str>,
    limit: u32,
) -> Result<Vec<AuditEntry>, StoreError> {
    let filter = super::audit::AuditFilter { target_id: target_id.map(str::to_owned), ..Default::default() };
    super::audit::search(conn, &filter, before, limit)
}

/// Freezes or unfreezes a user (naming the four-eyes request it applies, if any); `None`
/// if there is no such user.
pub fn set_status(
    conn: &mut DbConn,
    actor_id: Uuid,
    target: Uuid,
    status: UserStatus,
    reason: &str,
    request_id: Option<Uuid>,
    now: DateTime<Utc>,
) -> Result<Option<User>, StoreError> {
    // The account row first: every money operation holds it while it checks the status, so
    // once this commits no operation that was waiting behind it can move money out.
    diesel::update(ma::table.filter(ma::user_id.eq(target.to_string())))
        .set(ma::wallet_minor.eq(ma::wallet_minor))
        .execute(conn)?;
    let before: Option<String> =
        users::table.filter(users::id.eq(target.to_string())).select(users::status).first(conn).optional()?;
    let Some(before) = before else { return Ok(None) };
    diesel::update(users::table.filter(users::id.eq(target.to_string())))
        .set(users::status.eq(status.as_str()))
        .execute(conn)?;
    let action = if status == UserStatus::Frozen { "user.freeze" } else { "user.unfreeze" };
    // A frozen staff member has no staff powers, and their sessions end at once. A frozen
    // user keeps theirs: they may still read and repay.
    let role: String = users::table.filter(users::id.eq(target.to_string())).select(users::role).first(conn)?;
    let is_staff = Role::from_db(&role).is_some_and(Role::is_staff);
    let sessions_ended = status == UserStatus::Frozen && is_staff;
    if sessions_ended {
        super::sessions::end_sessions(conn, target, now)?;
    }
    let mut details =
        json!({"before": {"status": before}, "after": {"status": status.as_str()}, "sessions_ended": sessions_ended});
    if let Some(id) = request_id {
        details["request_id"] = json!(id.to_string());
    }
    audit(conn, actor_id, action, Some(&target.to_string()), Some(reason), &details, now)?;
    super::users::by_id(conn, target)
}

/// What an admin asks of a user's credit line.
#[derive(Clone, Copy, Debug)]
pub enum LineChange {
    /// Upgrade to (or adjust) a general line with this limit.
    General { limit_minor: i64, override_eligibility: bool },
    /// Back to a secured line: the limit is the vault again.
    Secured,
}

/// Refuses a credit-line change the rules forbid for `target` as it stands now, and returns
/// that standing: no such user; a staff member (staff hold no credit lines); more credit for a
/// user who may not have it (`four_eyes::more_credit_allowed`). Credit goes up with an
/// upgrade or a raised general limit. `override` waives the score (and so needs a second
/// admin), never a frozen account or an overdue installment. Lowering
/// a general limit and downgrading stay open, so an admin can always cut the risk.
pub fn check_line_change(
    conn: &mut DbConn,
    target: Uuid,
    change: LineChange,
    ctx: &Ctx<'_>,
) -> Result<Standing, StoreError> {
    let role: Option<String> =
        users::table.filter(users::id.eq(target.to_string())).select(users::role).first(conn).optional()?;
    let role = role.ok_or(StoreError::Refused(Refusal::NotFound("user")))?;
    if Role::from_db(&role).ok_or_else(|| StoreError::Corrupt(format!("users.role of {target}")))?.is_staff() {
        return Err(StoreError::Refused(Refusal::Forbidden("staff accounts cannot receive credit-line changes")));
    }
    let standing = score::standing(conn, target, ctx.now)?;
    if let LineChange::General { limit_minor, override_eligibility } = change {
        let before = standing.state;
        let upgrade = before.line == CreditLine::Secured;
        if upgrade || limit_minor > before.general_limit_minor {
            let score = crate::domain::score::evaluate(&standing.inputs, ctx.score);
            let (frozen, overdue) = (standing.inputs.frozen, standing.inputs.overdue_now);
            if !four_eyes::more_credit_allowed(override_eligibility, score.eligible_for_upgrade, frozen, overdue) {
                return Err(StoreError::Refused(Refusal::NotEligible {
                    score: score.value,
                    threshold: score.threshold,
                    overdue: standing.inputs.overdue_now,
                    frozen: standing.inputs.frozen,
                }));
            }
        }
    }
    Ok(standing)
}

/// Changes a user's line in one transaction with its limit-history row and audit entry
/// (naming the credit request it applies, if any). The account row is updated by one
/// statement, so a concurrent unlock or purchase sees either the old line or the new one,
/// never a mix.
pub fn change_line(
    conn: &mut DbConn,
    actor_id: Uuid,
    target: Uuid,
    change: LineChange,
    reason: &str,
    request_id: Option<Uuid>,
    ctx: &Ctx<'_>,
) -> Result<(), StoreError> {
    // Take the row lock first so the score, the line and the limit are read as they stand.
    diesel::update(ma::table.filter(ma::user_id.eq(target.to_string()))).set(ma::line.eq(ma::line)).execute(conn)?;
    let standing = check_line_change(conn, target, change, ctx)?;
    let before = standing.state;
    let (line, general_limit, limit_reason, action) = match change {
        LineChange::General { limit_minor, .. } => {
            let (reason, action) = if before.line == CreditLine::General {
                (LimitReason::AdminAdjustment, "credit_line.adjust")
            } else {
                (LimitReason::Upgrade, "credit_line.upgrade")
            };
            (CreditLine::General, limit_minor, reason, action)
        }
        LineChange::Secured => (CreditLine::Secured, 0, LimitReason::Downgrade, "credit_line.downgrade"),
    };
    diesel::update(ma::table.filter(ma::user_id.eq(target.to_string())))
        .set((ma::line.eq(line.as_str()), ma::general_limit_minor.eq(general_limit)))
        .execute(conn)?;
    let after = super::account_row::account(conn, target)?;
    let unchanged = before.line == after.line && before.limit_minor() == after.limit_minor();
    if !unchanged {
        limits::record(conn, target, line, before.limit_minor(), after.limit_minor(), limit_reason, ctx.now)?;
    }
    let mut details = json!({
        "before": {"line": before.line.as_str(), "limit_minor": before.limit_minor()},
        "after": {"line": after.line.as_str(), "limit_minor": after.limit_minor()},
        "override": matches!(change, LineChange::General { override_eligibility: true, .. }),
    });
    if let Some(id) = request_id {
        details["request_id"] = json!(id.to_string());
    }
    audit(conn, actor_id, action, Some(&target.to_string()), Some(reason), &details, ctx.now)
}
