//! The approvals inbox (maker-checker): pending four-eyes requests with the maker, the
//! reason and the customer's score beside them; approve or reject with a reason and a fresh
//! TOTP code (step-up), one by one or several at once (each still decided on its own). The
//! maker sees no buttons, and the server refuses a forged decision: the same
//! `decide_request` as `POST /v1/admin/credit-requests/{id}/approve`.

use actix_web::{HttpRequest, HttpResponse, web};
use chrono::TimeDelta;
use maud::{Markup, html};
use serde::Deserialize;
use uuid::Uuid;

use super::error::ConsoleError;
use super::layout::{csrf, money, notice, page, time};
use super::raw_form::RawForm;
use super::session::{Signed, Staff};
use super::two_factor::check_code;
use crate::api::admin::credit_requests::{Decision, decide_request};
use crate::domain::four_eyes::RequestState;
use crate::domain::staff::{REASON_MAX_CHARS, may_decide};
use crate::domain::user::User;
use crate::domain::{score, text};
use crate::state::AppState;
use crate::store::admin::LineChange;
use crate::store::credit_requests::{CreditRequest, Requested};
use crate::store::{self, console as sessions};

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.route("/approvals", web::get().to(inbox)).route("/approvals/decide", web::post().to(decide));
}

/// A pending request with who asked and the customer's score now.
struct Row {
    request: CreditRequest,
    maker: Option<User>,
    customer: Option<User>,
    score: Option<score::Score>,
}

/// What the last decision did (counts only: nothing a link could word for the console).
#[derive(Deserialize)]
pub struct Outcome {
    verb: Option<String>,
    decided: Option<u32>,
    failed: Option<u32>,
}

impl Outcome {
    fn text(&self) -> Option<String> {
        let verb = match self.verb.as_deref()? {
            "approved" => "approved",
            "rejected" => "rejected",
            _ => return None,
        };
        let mut text = format!("{} request(s) {verb}.", self.decided.unwrap_or(0));
        if let Some(failed) = self.failed.filter(|f| *f > 0) {
            text.push_str(&format!(" {failed} could not be decided as they stand now (see the audit log)."));
        }
        Some(text)
    }
}

async fn inbox(
    req: HttpRequest,
    state: web::Data<AppState>,
    staff: Staff,
    outcome: web::Query<Outcome>,
) -> Result<HttpResponse, ConsoleError> {
    let (model, now) = (state.settings.score.clone(), crate::domain::time::now());
    let rows = state
        .db
        .read(move |conn| {
            let pending = store::credit_requests::list(conn, Some(RequestState::Pending), None, 100)?;
            pending
                .into_iter()
                .map(|request| {
                    let maker = store::users::by_id(conn, request.requested_by)?;
                    let customer = store::users::by_id(conn, request.user_id)?;
                    let score = match &customer {
                        Some(_) => {
                            Some(score::evaluate(&store::score::standing(conn, request.user_id, now)?.inputs, &model))
                        }
                        None => None,
                    };
                    Ok(Row { request, maker, customer, score })
                })
                .collect::<Result<Vec<Row>, store::StoreError>>()
        })
        .await?;
    let signed = &staff.0;
    let decidable = rows.iter().any(|r| can_decide(signed, &r.request));
    Ok(page(
        &req,
        Some(signed),
        "Approvals",
        "/console/approvals",
        html! {
            h1 { "Approvals inbox" }
            @if let Some(done) = outcome.text() { (notice("ok", &done)) }
            @if rows.is_empty() {
                p class="empty" { "Nothing waits for a second pair of eyes." }
            } @else {
                form method="post" action="/console/approvals/decide" id="decide" {
                    (csrf(signed))
                    table class="data" {
                        thead { tr {
                            th scope="col" { @if decidable { input type="checkbox" id="select-all" aria-label="Select every request you may decide"; } }
                            th scope="col" { "Request" } th scope="col" { "Customer" } th scope="col" { "Score" }
                            th scope="col" { "Asked by" } th scope="col" { "Reason" } th scope="col" { "Asked at" }
                        } }
                        tbody { @for row in &rows { (request_row(signed, row, &state)) } }
                    }
                    @if decidable { (decision_fields()) } @else {
                        p class="muted" { "You cannot decide any of these: your own requests, requests about you, and kinds your role does not decide wait for someone else." }
                    }
                }
            }
        },
    ))
}

fn can_decide(signed: &Signed, request: &CreditRequest) -> bool {
    may_decide(signed.user.role, request.change.kind())
        && request.requested_by != signed.user.id
        && request.user_id != signed.user.id
}

fn what(request: &CreditRequest, state: &AppState) -> String {
    match request.change {
        Requested::Line(LineChange::General { limit_minor, override_eligibility }) => format!(
            "General line, limit {}{}",
            money(limit_minor, &state.limits),
            if override_eligibility { " (score override)" } else { "" }
        ),
        Requested::Line(LineChange::Secured) => "Back to a secured line".to_owned(),
        Requested::Refund { amount_minor, .. } => format!("Refund of {}", money(amount_minor, &state.money)),
        Requested::Status(status) => format!(
            "Staff account {}",
            if status == crate::domain::user::UserStatus::Frozen { "freeze" } else { "unfreeze" }
        ),
    }
}

fn request_row(signed: &Signed, row: &Row, state: &AppState) -> Markup {
    let r = &row.request;
    let id = format!("req-{}", r.id);
    html! {
        tr {
            td {
                @if can_decide(signed, r) {
                    input type="checkbox" name="id" value=(r.id) id=(id) class="pick" aria-label={ "Select request " (r.id) };
                } @else if r.requested_by == signed.user.id {
                    span class="badge" title="You asked for this; someone else decides it" { "yours" }
                }
            }
            td { label for=(id) { (what(r, state)) } }
            td {
                @if let Some(c) = &row.customer { a href={ "/console/customers/" (c.id) } { (c.display_name) } } @else { "—" }
            }
            td {
                @if let Some(s) = &row.score {
                    span class="score" { (s.value) }
                    details { summary { "factors" } ul { @for f in &s.factors { li { (f.name) " " (format!("{:+}", f.impact)) } } } }
                }
            }
            td { @if let Some(m) = &row.maker { (m.display_name) } @else { code { (r.requested_by) } } }
            td { (r.reason) }
            td { (time(r.created_at)) }
        }
    }
}

fn decision_fields() -> Markup {
    html! {
        fieldset class="card" {
            legend { "Decide the selected requests" }
            label for="reason" { "Reason (kept in the audit log)" }
            textarea id="reason" name="reason" required maxlength=(REASON_MAX_CHARS) rows="2" {}
            label for="code" { "Authenticator code (required for approvals and rejections)" }
            input id="code" name="code" inputmode="numeric" autocomplete="one-time-code";
            div class="row" {
                button type="submit" name="decision" value="approve" class="primary" { "Approve selected" }
                button type="submit" name="decision" value="reject" class="danger" { "Reject selected" }
            }
        }
    }
}

/// Step-up: a TOTP code entered within `console.step_up_secs`, or one given now.
async fn step_up(state: &AppState, req: &HttpRequest, signed: &Signed, code: &str) -> Result<(), ConsoleError> {
    let window = TimeDelta::seconds(state.settings.console.step_up_secs);
    let now = crate::domain::time::now();
    if signed.session.stepped_up_at.is_some_and(|at| now - at <= window) {
        return Ok(());
    }
    let user_id = signed.user.id;
    let enrolled = state.db.read(move |conn| sessions::totp(conn, user_id)).await?.is_some_and(|t| t.confirmed);
    if !enrolled {
        return Err(ConsoleError::Forbidden("set up two-factor (My account) before deciding requests".into()));
    }
    if code.trim().is_empty() || !check_code(state, req, signed, code).await? {
        return Err(ConsoleError::Forbidden("a valid authenticator code is required to decide requests".into()));
    }
    let hash = signed.session.token_hash.clone();
    state.db.write(move |conn| sessions::second_factor_passed(conn, &hash, now)).await?;
    Ok(())
}

async fn decide(
    req: HttpRequest,
    state: web::Data<AppState>,
    staff: Staff,
    body: web::Bytes,
) -> Result<HttpResponse, ConsoleError> {
    let signed = staff.0;
    // `id` repeats (one per selected request).
    let form = RawForm::parse(&body);
    signed.check_csrf(form.one("csrf"))?;
    let decision = match form.one("decision") {
        Some("approve") => Decision::Approve,
        Some("reject") => Decision::Reject,
        _ => return Err(ConsoleError::BadRequest("choose approve or reject".into())),
    };
    let reason = text::visible("reason", form.one("reason").unwrap_or_default(), REASON_MAX_CHARS)
        .map_err(ConsoleError::BadRequest)?;
    let asked = form.all("id");
    let ids: Vec<Uuid> = asked.iter().filter_map(|id| Uuid::parse_str(id).ok()).collect();
    if ids.is_empty() || ids.len() != asked.len() || ids.len() > 100 {
        return Err(ConsoleError::BadRequest("select between 1 and 100 requests".into()));
    }
    step_up(&state, &req, &signed, form.one("code").unwrap_or_default()).await?;
    let mut failures = Vec::new();
    for id in &ids {
        if let Err(e) = decide_request(&state, &signed.user, *id, reason.clone(), decision).await {
            failures.push((id, e));
        }
    }
    // One request alone: its refusal is the answer (403 for a forged decision).
    if ids.len() == 1
        && let Some((_, e)) = failures.pop()
    {
        return Err(ConsoleError::from(e));
    }
    let verb = if decision == Decision::Approve { "approved" } else { "rejected" };
    for (id, e) in &failures {
        tracing::info!(request = %id, error = %e, "a bulk decision left a request undecided");
    }
    let location =
        format!("/console/approvals?verb={verb}&decided={}&failed={}", ids.len() - failures.len(), failures.len());
    Ok(HttpResponse::SeeOther().insert_header(("location", location)).finish())
}
