//! Customers: the search, the customer 360 (read view, pending requests as a banner, audit
//! entries about them) and freeze/unfreeze with a mandatory reason and a confirmation,
//! through the same store call and audit entry as `POST /v1/admin/users/{id}/freeze`.

use actix_web::{HttpRequest, HttpResponse, web};
use maud::{Markup, html};
use serde::Deserialize;
use uuid::Uuid;

use super::credit_line;
use super::error::ConsoleError;
use super::history::{self, History};
use super::layout::{csrf, money, notice, page, time};
use super::session::{Signed, Staff};
use crate::domain::four_eyes::RequestState;
use crate::domain::staff::{Action, REASON_MAX_CHARS};
use crate::domain::user::{User, UserStatus};
use crate::domain::{score, text};
use crate::state::AppState;
use crate::store::credit_requests::Asked;
use crate::store::score::{Ctx, Standing};
use crate::store::{self, admin::AuditEntry, credit_requests::CreditRequest};

const PAGE: u32 = 20;

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.route("", web::get().to(search))
        .route("/", web::get().to(search))
        .route("/customers/{id}", web::get().to(customer))
        .route("/customers/{id}/freeze", web::post().to(freeze))
        .route("/customers/{id}/unfreeze", web::post().to(unfreeze));
}

#[derive(Deserialize)]
pub struct SearchQuery {
    q: Option<String>,
    after: Option<String>,
}

async fn search(
    req: HttpRequest,
    state: web::Data<AppState>,
    staff: Staff,
    query: web::Query<SearchQuery>,
) -> Result<HttpResponse, ConsoleError> {
    let q = query.q.clone().unwrap_or_default().trim().to_owned();
    if q.chars().count() > 64 {
        return Err(ConsoleError::BadRequest("search for at most 64 characters".into()));
    }
    let after = query.after.clone().filter(|a| Uuid::parse_str(a).is_ok());
    let (needle, now) = (q.clone(), crate::domain::time::now());
    let rows = state
        .db
        .read(move |conn| {
            let users = store::users::find_customers(conn, &needle, after.as_deref(), PAGE + 1)?;
            users
                .into_iter()
                .map(|u| Ok((store::score::standing(conn, u.id, now)?, u)))
                .collect::<Result<Vec<(Standing, User)>, _>>()
        })
        .await?;
    let more = rows.len() > PAGE as usize;
    let rows = &rows[..rows.len().min(PAGE as usize)];
    let next = more.then(|| rows.last().map(|(_, u)| u.id.to_string())).flatten();
    Ok(page(
        &req,
        Some(&staff.0),
        "Customers",
        "/console",
        html! {
            h1 { "Customers" }
            form method="get" action="/console" class="search" role="search" {
                label for="q" { "Username prefix, display name or customer id" }
                div class="row" {
                    input id="q" name="q" value=(q) maxlength="64" autofocus;
                    button type="submit" class="primary" { "Search" }
                }
            }
            @if rows.is_empty() {
                p class="empty" { @if q.is_empty() { "No customers yet." } @else { "No customer matches “" (q) "”." } }
            } @else {
                (results(rows, &state))
                @if let Some(next) = next {
                    p { a class="button" href={ "/console?q=" (urlencode(&q)) "&after=" (next) } { "Next page →" } }
                }
            }
        },
    ))
}

fn urlencode(text: &str) -> String {
    url::form_urlencoded::byte_serialize(text.as_bytes()).collect()
}

fn results(rows: &[(Standing, User)], state: &AppState) -> Markup {
    html! {
        table class="data" {
            thead { tr {
                th scope="col" { "Customer" } th scope="col" { "Status" } th scope="col" { "Line" }
                th scope="col" class="num" { "Limit" } th scope="col" class="num" { "Exposure" }
                th scope="col" class="num" { "Days overdue" }
            } }
            tbody {
                @for (standing, user) in rows {
                    tr {
                        td {
                            a href={ "/console/customers/" (user.id) } { (user.display_name) }
                            div class="muted small" { (user.username.as_str()) }
                        }
                        td { (status_badge(user.status)) }
                        td { (standing.state.line.as_str()) }
                        td class="num" { (money(standing.state.limit_minor(), &state.money)) }
                        td class="num" { (money(standing.state.exposure_minor(), &state.money)) }
                        td class="num" { @if standing.inputs.overdue_now { (standing.inputs.overdue_days) } @else { "—" } }
                    }
                }
            }
        }
    }
}

fn status_badge(status: UserStatus) -> Markup {
    html! { span class={ "badge status-" (status.as_str()) } { (status.as_str()) } }
}

#[derive(Deserialize)]
pub struct Done {
    done: Option<String>,
    movements_before: Option<Uuid>,
}

struct Customer360 {
    user: User,
    standing: Standing,
    pending: Vec<CreditRequest>,
    audit: Vec<AuditEntry>,
    history: History,
}

async fn customer(
    req: HttpRequest,
    state: web::Data<AppState>,
    staff: Staff,
    id: web::Path<Uuid>,
    done: web::Query<Done>,
) -> Result<HttpResponse, ConsoleError> {
    let (id, now) = (id.into_inner(), crate::domain::time::now());
    let before = done.movements_before.map(|m| m.to_string());
    let found = state
        .db
        .read(move |conn| {
            let Some(user) = store::users::by_id(conn, id)? else { return Ok(None) };
            let standing = store::score::standing(conn, id, now)?;
            let pending = store::credit_requests::list(conn, Some(RequestState::Pending), None, 100)?;
            let pending = pending.into_iter().filter(|r| r.user_id == id).collect();
            let audit = store::admin::audit_log(conn, Some(&id.to_string()), None, 20)?;
            let history = history::load(conn, id, before.as_deref())?;
            Ok(Some(Customer360 { user, standing, pending, audit, history }))
        })
        .await?;
    let view = found.ok_or_else(|| ConsoleError::NotFound("no such customer".into()))?;
    let message = match done.done.as_deref() {
        Some("frozen") => Some(("ok", "The customer is frozen: no money can leave the account.")),
        Some("active") => Some(("ok", "The customer is active again.")),
        Some("pending") => Some(("warn", "Pending second approval: recorded as a request for another staff member.")),
        Some("line") => Some(("ok", "The credit line is changed.")),
        _ => None,
    };
    let title = view.user.display_name.clone();
    Ok(page(
        &req,
        Some(&staff.0),
        &title,
        "/console",
        html! {
            p class="crumbs" { a href="/console" { "Customers" } " / " (view.user.username.as_str()) }
            h1 { (view.user.display_name) " " (status_badge(view.user.status)) }
            @if let Some((kind, text)) = message { (notice(kind, text)) }
            @for request in &view.pending {
                p class="notice warn" role="status" {
                    "Pending " (request.change.kind().as_str().replace('_', " ")) " request, asked "
                    (time(request.created_at)) ": “" (request.reason) "”. "
                    a href="/console/approvals" { "Open the approvals inbox" }
                }
            }
            div class="grid" {
                (profile(&view.user))
                (account(&view.standing, &state))
                (score_card(&view.standing, &state))
            }
            (status_form(&staff.0, &view.user))
            (credit_line::form(&staff.0, &view.user))
            (history::render(&view.history, &state.money, view.user.id))
            (audit_card(&view.audit))
        },
    ))
}

fn profile(user: &User) -> Markup {
    html! {
        section class="card" {
            h2 { "Profile" }
            dl class="facts" {
                dt { "Display name" } dd { (user.display_name) }
                dt { "Username" } dd { (user.username.as_str()) }
                dt { "Customer id" } dd { code { (user.id) } }
                dt { "Status" } dd { (user.status.as_str()) }
                dt { "Joined" } dd { (time(user.created_at)) }
            }
        }
    }
}

fn account(standing: &Standing, state: &AppState) -> Markup {
    let s = &standing.state;
    let m = |minor| money(minor, &state.money);
    html! {
        section class="card" {
            h2 { "Account" }
            dl class="facts money" {
                dt { "Wallet" } dd { (m(s.wallet_minor)) }
                dt { "Vault" } dd { (m(s.vault_minor)) }
                dt { "Line" } dd { (s.line.as_str()) }
                dt { "Limit" } dd { (m(s.limit_minor())) }
                dt { "Exposure" } dd { (m(s.exposure_minor())) }
                dt { "Available" } dd { (m(s.available_minor())) }
                dt { "Unlockable" } dd { (m(s.unlockable_minor())) }
            }
        }
    }
}

fn score_card(standing: &Standing, state: &AppState) -> Markup {
    let score = score::evaluate(&standing.inputs, &state.settings.score);
    html! {
        section class="card wide" {
            h2 { "Score " span class="score" { (score.value) } }
            p class="muted" {
                "Upgrade threshold " (score.threshold) ": "
                @if score.eligible_for_upgrade { "eligible for an upgrade." } @else { "not eligible yet." }
            }
            table class="data compact" {
                thead { tr { th scope="col" { "Factor" } th scope="col" class="num" { "Impact" } th scope="col" { "Detail" } } }
                tbody {
                    @for factor in &score.factors {
                        tr { td { (factor.name.replace('_', " ")) } td class="num" { (format!("{:+}", factor.impact)) } td { (factor.detail) } }
                    }
                }
            }
        }
    }
}

fn status_form(signed: &Signed, user: &User) -> Markup {
    let (verb, path, class) = match user.status {
        UserStatus::Active => ("Freeze", "freeze", "danger"),
        UserStatus::Frozen => ("Unfreeze", "unfreeze", "primary"),
    };
    html! {
        section class="card" {
            h2 { (verb) " account" }
            @if !signed.may(Action::Freeze) {
                p class="muted" { "Your role (" (signed.user.role.as_str()) ") cannot freeze or unfreeze accounts." }
            } @else if signed.user.id == user.id {
                p class="muted" { "Nobody acts on their own account." }
            } @else {
                form method="post" action={ "/console/customers/" (user.id) "/" (path) } {
                    (csrf(signed))
                    label for="reason" { "Reason (kept in the audit log)" }
                    textarea id="reason" name="reason" required maxlength=(REASON_MAX_CHARS) rows="2" {}
                    label class="check" {
                        input type="checkbox" name="confirm" value="yes" required;
                        " I confirm: " (verb.to_lowercase()) " " (user.display_name)
                    }
                    button type="submit" class=(class) { (verb) }
                }
            }
        }
    }
}

fn audit_card(entries: &[AuditEntry]) -> Markup {
    html! {
        section class="card" id="audit" {
            h2 { "Audit entries about this customer" }
            @if entries.is_empty() { p class="empty" { "No staff action on this customer yet." } } @else {
                table class="data compact" {
                    thead { tr { th scope="col" { "When" } th scope="col" { "Action" } th scope="col" { "By" } th scope="col" { "Reason" } } }
                    tbody {
                        @for e in entries {
                            tr { td { (time(e.created_at)) } td { (e.action) } td { code { (e.actor_id) } } td { (e.reason.as_deref().unwrap_or("—")) } }
                        }
                    }
                }
            }
        }
    }
}

#[derive(Deserialize)]
pub struct StatusForm {
    csrf: Option<String>,
    #[serde(default)]
    reason: String,
    confirm: Option<String>,
}

async fn set_status(
    req: HttpRequest,
    state: web::Data<AppState>,
    staff: Staff,
    target: Uuid,
    status: UserStatus,
    form: web::Form<StatusForm>,
) -> Result<HttpResponse, ConsoleError> {
    let signed = staff.0;
    signed.check_csrf(form.csrf.as_deref())?;
    signed.require(Action::Freeze)?;
    let reason = text::visible("reason", &form.reason, REASON_MAX_CHARS).map_err(ConsoleError::BadRequest)?;
    if form.confirm.as_deref() != Some("yes") {
        return Err(ConsoleError::BadRequest("tick the confirmation to go ahead".into()));
    }
    if signed.user.id == target {
        return Err(ConsoleError::Forbidden("nobody freezes or unfreezes their own account".into()));
    }
    let (actor, model) = (signed.user.id, state.settings.score.clone());
    let why = reason.clone();
    let outcome = state
        .db
        .write(move |conn| {
            let ctx = Ctx { now: crate::domain::time::now(), score: &model };
            store::credit_requests::set_status_or_ask(conn, actor, target, status, &why, &ctx)
        })
        .await
        .map_err(|e| ConsoleError::from(crate::api::store_error(e, &state.money)))?;
    let done = match outcome.ok_or_else(|| ConsoleError::NotFound("no such customer".into()))? {
        Asked::Pending(_) => "pending",
        Asked::Done(user) => {
            let event = if status == UserStatus::Frozen { "user_freeze" } else { "user_unfreeze" };
            let text = format!("by staff {actor} in the console: {reason}");
            crate::security::event(event, Some(user.username.as_str()), &state.client_address(&req), &text);
            status.as_str()
        }
    };
    let location = format!("/console/customers/{target}?done={done}");
    Ok(HttpResponse::SeeOther().insert_header(("location", location)).finish())
}

async fn freeze(
    req: HttpRequest,
    state: web::Data<AppState>,
    staff: Staff,
    id: web::Path<Uuid>,
    form: web::Form<StatusForm>,
) -> Result<HttpResponse, ConsoleError> {
    set_status(req, state, staff, id.into_inner(), UserStatus::Frozen, form).await
}

async fn unfreeze(
    req: HttpRequest,
    state: web::Data<AppState>,
    staff: Staff,
    id: web::Path<Uuid>,
    form: web::Form<StatusForm>,
) -> Result<HttpResponse, ConsoleError> {
    set_status(req, state, staff, id.into_inner(), UserStatus::Active, form).await
}
