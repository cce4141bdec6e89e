//! Staff management (admins only): create a staff member, change a role, reset two-factor,
//! deactivate; the same store calls and audit entries as `/v1/admin/staff`.

use actix_web::{HttpRequest, HttpResponse, web};
use maud::{Markup, html};
use serde::Deserialize;
use uuid::Uuid;

use super::error::ConsoleError;
use super::layout::{csrf, notice, page, time};
use super::session::{Signed, Staff};
use crate::api::admin::staff::{NewStaffRequest, create_staff};
use crate::domain::staff::{Action, REASON_MAX_CHARS};
use crate::domain::text;
use crate::domain::user::{Role, User};
use crate::error::ApiError;
use crate::state::AppState;
use crate::store;

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.route("/staff", web::get().to(list))
        .route("/staff", web::post().to(create))
        .route("/staff/{id}/{change}", web::post().to(change));
}

#[derive(Deserialize)]
pub struct Done {
    done: Option<String>,
}

async fn list(
    req: HttpRequest,
    state: web::Data<AppState>,
    staff: Staff,
    done: web::Query<Done>,
) -> Result<HttpResponse, ConsoleError> {
    let rows = state.db.read(|conn| store::staff::list(conn, None, 200)).await?;
    let signed = &staff.0;
    let message = match done.done.as_deref() {
        Some("created") => Some("The staff member is created; they set up two-factor at their first sign-in."),
        Some("role") => Some("The role is changed; their sessions ended."),
        Some("totp") => Some("Two-factor is reset; they enrol again at their next sign-in."),
        Some("deactivate") => Some("Deactivated: no staff powers remain, and their sessions ended."),
        _ => None,
    };
    Ok(page(
        &req,
        Some(signed),
        "Staff",
        "/console/staff",
        html! {
            h1 { "Staff" }
            @if let Some(text) = message { (notice("ok", text)) }
            table class="data" {
                thead { tr {
                    th scope="col" { "Name" } th scope="col" { "Role" } th scope="col" { "Status" } th scope="col" { "Since" }
                    @if signed.may(Action::ManageStaff) { th scope="col" { "Change" } }
                } }
                tbody { @for user in &rows { (row(signed, user)) } }
            }
            @if signed.may(Action::ManageStaff) { (create_form(signed)) }
        },
    ))
}

fn role_options(current: Option<Role>) -> Markup {
    html! { @for role in Role::STAFF { option value=(role.as_str()) selected[Some(role) == current] { (role.as_str()) } } }
}

fn row(signed: &Signed, user: &User) -> Markup {
    let id = user.id;
    html! {
        tr {
            td { (user.display_name) div class="muted small" { (user.username.as_str()) } }
            td { span class={ "badge role-" (user.role.as_str()) } { (user.role.as_str()) } }
            td { (user.status.as_str()) }
            td { (time(user.created_at)) }
            @if signed.may(Action::ManageStaff) {
                td {
                    @if user.id == signed.user.id { span class="muted" { "You" } } @else {
                        form method="post" action={ "/console/staff/" (id) "/role" } class="row" {
                            (csrf(signed))
                            label class="visually-hidden" for={ "role-" (id) } { "New role" }
                            select id={ "role-" (id) } name="role" { (role_options(Some(user.role))) }
                            label class="visually-hidden" for={ "why-role-" (id) } { "Reason" }
                            input id={ "why-role-" (id) } name="reason" placeholder="Reason" required maxlength=(REASON_MAX_CHARS);
                            button type="submit" { "Change role" }
                        }
                        form method="post" action={ "/console/staff/" (id) "/totp" } class="row" {
                            (csrf(signed))
                            label class="visually-hidden" for={ "why-totp-" (id) } { "Reason" }
                            input id={ "why-totp-" (id) } name="reason" placeholder="Reason" required maxlength=(REASON_MAX_CHARS);
                            button type="submit" { "Reset two-factor" }
                        }
                        form method="post" action={ "/console/staff/" (id) "/deactivate" } class="row" {
                            (csrf(signed))
                            label class="visually-hidden" for={ "why-off-" (id) } { "Reason" }
                            input id={ "why-off-" (id) } name="reason" placeholder="Reason" required maxlength=(REASON_MAX_CHARS);
                            button type="submit" class="danger" { "Deactivate" }
                        }
                    }
                }
            }
        }
    }
}

fn create_form(signed: &Signed) -> Markup {
    html! {
        section class="card" {
            h2 { "Add a staff member" }
            form method="post" action="/console/staff" class="grid" {
                (csrf(signed))
                div { label for="new-username" { "Username" } input id="new-username" name="username" required pattern="[a-z0-9_]{3,32}"; }
                div { label for="new-name" { "Display name" } input id="new-name" name="display_name"; }
                div { label for="new-password" { "First password (10+ characters)" } input id="new-password" name="password" type="password" required minlength="10" autocomplete="new-password"; }
                div { label for="new-role" { "Role" } select id="new-role" name="role" { (role_options(None)) } }
                div { label for="new-reason" { "Reason" } input id="new-reason" name="reason" required maxlength=(REASON_MAX_CHARS); }
                div { button type="submit" class="primary" { "Add" } }
            }
        }
    }
}

#[derive(Deserialize)]
pub struct NewStaff {
    csrf: Option<String>,
    #[serde(flatten)]
    new: NewStaffRequest,
}

fn staff_role(text: &str) -> Result<Role, ConsoleError> {
    Role::staff(text)
        .ok_or_else(|| ConsoleError::BadRequest("role must be support, operations, credit or admin".into()))
}

async fn create(
    state: web::Data<AppState>,
    staff: Staff,
    form: web::Form<NewStaff>,
) -> Result<HttpResponse, ConsoleError> {
    let signed = staff.0;
    signed.check_csrf(form.csrf.as_deref())?;
    let mut new = form.into_inner().new;
    new.display_name = new.display_name.filter(|d| !d.is_empty());
    create_staff(&state, &signed.user, &new).await.map_err(|e| match e {
        ApiError::UsernameTaken => ConsoleError::BadRequest("that username is taken".into()),
        other => other.into(),
    })?;
    Ok(HttpResponse::SeeOther().insert_header(("location", "/console/staff?done=created")).finish())
}

#[derive(Deserialize)]
pub struct Change {
    csrf: Option<String>,
    role: Option<String>,
    #[serde(default)]
    reason: String,
}

async fn change(
    state: web::Data<AppState>,
    staff: Staff,
    path: web::Path<(Uuid, String)>,
    form: web::Form<Change>,
) -> Result<HttpResponse, ConsoleError> {
    let signed = staff.0;
    signed.check_csrf(form.csrf.as_deref())?;
    signed.require(Action::ManageStaff)?;
    let (target, what) = path.into_inner();
    let reason = text::visible("reason", &form.reason, REASON_MAX_CHARS).map_err(ConsoleError::BadRequest)?;
    if target == signed.user.id {
        return Err(ConsoleError::Forbidden("nobody changes their own staff account".into()));
    }
    let (actor, now) = (signed.user.id, crate::domain::time::now());
    let missing = || ConsoleError::NotFound("no such staff member".into());
    let done = match what.as_str() {
        "role" => {
            let role = staff_role(form.role.as_deref().unwrap_or_default())?;
            state
                .db
                .write(move |conn| store::staff::set_role(conn, actor, target, role, &reason, now))
                .await?
                .ok_or_else(missing)?;
            "role"
        }
        "totp" => {
            state
                .db
                .write(move |conn| store::staff::reset_totp(conn, actor, target, &reason, now))
                .await?
                .ok_or_else(missing)?;
            "totp"
        }
        "deactivate" => {
            state
                .db
                .write(move |conn| store::staff::set_role(conn, actor, target, Role::User, &reason, now))
                .await?
                .ok_or_else(missing)?;
            "deactivate"
        }
        _ => return Err(ConsoleError::NotFound("no such staff change".into())),
    };
    Ok(HttpResponse::SeeOther().insert_header(("location", format!("/console/staff?done={done}"))).finish())
}
