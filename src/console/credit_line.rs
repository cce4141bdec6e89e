//! A credit-line change from the customer 360 (upgrade to a general line, a new general
//! limit, back to a secured line), with a mandatory reason and a confirmation: the same
//! `change_line_as` as `POST /v1/admin/users/{id}/credit-line`, so the same eligibility,
//! four-eyes ("pending second approval"), idempotency and audit.

use actix_web::{HttpResponse, web};
use maud::{Markup, html};
use serde::Deserialize;
use uuid::Uuid;

use super::error::ConsoleError;
use super::layout::csrf;
use super::session::{Signed, Staff, random_token};
use crate::api::admin::users::change_line_as;
use crate::api::idempotency::IdempotencyKey;
use crate::auth::extract::AdminUser;
use crate::domain::staff::{Action, REASON_MAX_CHARS};
use crate::domain::text;
use crate::domain::user::User;
use crate::state::AppState;
use crate::store::admin::LineChange;

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.route("/customers/{id}/credit-line", web::post().to(change));
}

/// The form on the customer 360 (for roles that may change lines, never on one's own).
pub fn form(signed: &Signed, user: &User) -> Markup {
    html! {
        section class="card" id="credit-line" {
            h2 { "Credit line" }
            @if !signed.may(Action::ChangeCreditLine) {
                p class="muted" { "Your role (" (signed.user.role.as_str()) ") cannot change credit lines." }
            } @else if !user.role.is_staff() && signed.user.id != user.id {
                form method="post" action={ "/console/customers/" (user.id) "/credit-line" } {
                    (csrf(signed))
                    // One key per rendered form: a double submit is answered once.
                    input type="hidden" name="key" value={ "console-" (random_token()) };
                    fieldset { legend { "Line" }
                        label class="check" { input type="radio" name="line" value="general" checked; " General (unsecured), with this limit" }
                        label class="check" { input type="radio" name="line" value="secured"; " Secured (the limit is the vault)" }
                    }
                    label for="limit" { "General limit" }
                    input id="limit" name="limit" inputmode="decimal" placeholder="5000.00";
                    label class="check" { input type="checkbox" name="override" value="yes"; " Override the score check (always waits for a second approval)" }
                    label for="line-reason" { "Reason (kept in the audit log)" }
                    textarea id="line-reason" name="reason" required maxlength=(REASON_MAX_CHARS) rows="2" {}
                    label class="check" { input type="checkbox" name="confirm" value="yes" required; " I confirm this credit-line change" }
                    button type="submit" class="primary" { "Change the line" }
                }
            } @else {
                p class="muted" { "Staff accounts hold no credit lines, and nobody changes their own." }
            }
        }
    }
}

#[derive(Deserialize)]
pub struct LineForm {
    csrf: Option<String>,
    #[serde(default)]
    key: String,
    #[serde(default)]
    line: String,
    #[serde(default)]
    limit: String,
    #[serde(rename = "override")]
    override_eligibility: Option<String>,
    #[serde(default)]
    reason: String,
    confirm: Option<String>,
}

async fn change(
    state: web::Data<AppState>,
    staff: Staff,
    id: web::Path<Uuid>,
    form: web::Form<LineForm>,
) -> Result<HttpResponse, ConsoleError> {
    let signed = staff.0;
    signed.check_csrf(form.csrf.as_deref())?;
    signed.require(Action::ChangeCreditLine)?;
    let bad = ConsoleError::BadRequest;
    let reason = text::visible("reason", &form.reason, REASON_MAX_CHARS).map_err(bad)?;
    if form.confirm.as_deref() != Some("yes") {
        return Err(bad("tick the confirmation to go ahead".into()));
    }
    let key = IdempotencyKey::from_text(&form.key).ok_or_else(|| bad("the form has no valid key; reload it".into()))?;
    let override_eligibility = form.override_eligibility.as_deref() == Some("yes");
    let change = match form.line.as_str() {
        "general" => {
            let limit = state.limits.parse(form.limit.trim()).map_err(|e| bad(format!("limit: {e}")))?;
            LineChange::General { limit_minor: limit.minor(), override_eligibility }
        }
        "secured" => LineChange::Secured,
        _ => return Err(bad("choose a general or a secured line".into())),
    };
    let target = id.into_inner();
    let fingerprint =
        format!("console credit-line {target} {} {} {override_eligibility} {reason}", form.line, form.limit.trim());
    let admin = AdminUser(signed.user.clone());
    let answer = change_line_as(&state, &admin, key, fingerprint, target, change, reason).await?;
    let done = if answer.status() == actix_web::http::StatusCode::ACCEPTED { "pending" } else { "line" };
    Ok(HttpResponse::SeeOther()
        .insert_header(("location", format!("/console/customers/{target}?done={done}")))
        .finish())
}
