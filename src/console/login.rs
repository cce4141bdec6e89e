//! Signing in and out: the password (under the API login's throttle; the TOTP step is in
//! `two_factor`), sign out, sign out everywhere, and the staff member's own account page.

use actix_web::{HttpRequest, HttpResponse, web};
use maud::{Markup, html};
use serde::Deserialize;

use super::error::ConsoleError;
use super::layout::{csrf, notice, page, time};
use super::session::{self, HalfSigned, Signed, Staff};
use crate::auth::error::AuthError;
use crate::domain::user::UserStatus;
use crate::state::AppState;
use crate::store::console::{self as store, NewSession};

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.route("/login", web::get().to(login_page))
        .route("/login", web::post().to(login))
        .route("/logout", web::post().to(logout))
        .route("/logout-all", web::post().to(logout_all))
        .route("/account", web::get().to(account));
}

#[derive(Deserialize)]
pub struct Why {
    why: Option<String>,
}

fn why_text(why: &str) -> Option<&'static str> {
    Some(match why {
        "idle" => "Your session ended after a while without activity. Please sign in again.",
        "expired" => "Your session reached its time limit. Please sign in again.",
        "signed_out" => "Please sign in.",
        "no_access" => "This account has no console access.",
        "bye" => "You are signed out.",
        "everywhere" => "You are signed out on every device.",
        _ => return None,
    })
}

fn login_form(req: &HttpRequest, message: Option<(&str, &str)>, username: &str) -> HttpResponse {
    page(
        req,
        None,
        "Sign in",
        "",
        html! {
            div class="narrow card" {
                h1 { "Staff sign-in" }
                @if let Some((kind, text)) = message { (notice(kind, text)) }
                form method="post" action="/console/login" {
                    label for="username" { "Username" }
                    input id="username" name="username" autocomplete="username" required value=(username) autofocus;
                    label for="password" { "Password" }
                    input id="password" name="password" type="password" autocomplete="current-password" required;
                    button type="submit" class="primary" { "Sign in" }
                }
                p class="muted" { "For Vaultline staff. Every action is recorded in the audit log." }
            }
        },
    )
}

async fn login_page(req: HttpRequest, why: web::Query<Why>) -> HttpResponse {
    let message = why.why.as_deref().and_then(why_text).map(|t| ("warn", t));
    login_form(&req, message, "")
}

#[derive(Deserialize)]
pub struct Credentials {
    username: String,
    password: String,
}

fn refused(req: &HttpRequest, status: actix_web::http::StatusCode, text: &str, username: &str) -> HttpResponse {
    let mut res = login_form(req, Some(("error", text)), username);
    *res.status_mut() = status;
    res
}

async fn login(
    req: HttpRequest,
    state: web::Data<AppState>,
    form: web::Form<Credentials>,
) -> Result<HttpResponse, ConsoleError> {
    use actix_web::http::StatusCode;
    let address = state.client_address(&req);
    let user = match crate::auth::session::check_password(&state, &form.username, &form.password, &address).await {
        Ok(user) => user,
        Err(AuthError::InvalidCredentials) => {
            return Ok(refused(&req, StatusCode::UNAUTHORIZED, "Wrong username or password.", &form.username));
        }
        Err(AuthError::TooManyAttempts { .. }) => {
            let text = "Too many attempts. Wait a little, then try again.";
            return Ok(refused(&req, StatusCode::TOO_MANY_REQUESTS, text, &form.username));
        }
        Err(other) => return Err(ConsoleError::from(crate::error::ApiError::from(other))),
    };
    if !user.role.is_staff() || user.status != UserStatus::Active {
        crate::security::event("console_refused", Some(user.username.as_str()), &address, "not active staff");
        return Ok(refused(&req, StatusCode::FORBIDDEN, "This account has no console access.", &form.username));
    }
    let (user_id, require) = (user.id, state.settings.console.require_totp);
    let enrolled = state.db.read(move |conn| store::totp(conn, user_id)).await?.is_some_and(|t| t.confirmed);
    let (token, csrf_token) = (session::random_token(), session::random_token());
    let hash = session::token_hash(&token);
    let now = crate::domain::time::now();
    let second_factor = !enrolled && !require;
    state
        .db
        .write(move |conn| {
            let new = NewSession { token_hash: &hash, user_id, csrf_token: &csrf_token, second_factor };
            store::create_session(conn, &new, now)
        })
        .await?;
    crate::security::event("console_sign_in", Some(user.username.as_str()), &address, "password accepted");
    let next = match (enrolled, require) {
        (true, _) => "/console/2fa",
        (false, true) => "/console/2fa/enrol",
        (false, false) => "/console",
    };
    Ok(HttpResponse::SeeOther()
        .cookie(session::session_cookie(&state.settings.console, token))
        .insert_header(("location", next))
        .finish())
}

#[derive(Deserialize)]
pub struct CsrfOnly {
    csrf: Option<String>,
}

async fn logout(
    state: web::Data<AppState>,
    signed: HalfSigned,
    form: web::Form<CsrfOnly>,
) -> Result<HttpResponse, ConsoleError> {
    signed.0.check_csrf(form.csrf.as_deref())?;
    let hash = signed.0.session.token_hash.clone();
    state.db.write(move |conn| store::end_session(conn, &hash)).await?;
    Ok(signed_out(&state, "bye"))
}

/// Ends every console session and every API session (tokens) of the staff member.
async fn logout_all(
    state: web::Data<AppState>,
    staff: Staff,
    form: web::Form<CsrfOnly>,
) -> Result<HttpResponse, ConsoleError> {
    staff.0.check_csrf(form.csrf.as_deref())?;
    let (user_id, now) = (staff.0.user.id, crate::domain::time::now());
    state
        .db
        .write(move |conn| {
            store::end_all_sessions(conn, user_id)?;
            crate::store::sessions::end_sessions(conn, user_id, now)
        })
        .await?;
    Ok(signed_out(&state, "everywhere"))
}

fn signed_out(state: &AppState, why: &str) -> HttpResponse {
    HttpResponse::SeeOther()
        .cookie(session::removal_cookie(&state.settings.console))
        .insert_header(("location", format!("/console/login?why={why}")))
        .finish()
}

fn security_card(signed: &Signed, enrolled: bool) -> Markup {
    html! {
        section class="card" {
            h2 { "Security" }
            dl class="facts" {
                dt { "Two-factor" } dd { @if enrolled { "On (authenticator app)" } @else { "Not set up" } }
                dt { "Signed in at" } dd { (time(signed.session.created_at)) }
                dt { "Role" } dd { (signed.user.role.as_str()) }
            }
            @if !enrolled { p { a class="button" href="/console/2fa/enrol" { "Set up two-factor" } } }
            form method="post" action="/console/logout-all" {
                (csrf(signed))
                button type="submit" class="danger" { "Sign out everywhere" }
                span class="muted" { " Ends every console session and every API token of yours." }
            }
        }
    }
}

async fn account(req: HttpRequest, state: web::Data<AppState>, staff: Staff) -> Result<HttpResponse, ConsoleError> {
    let user_id = staff.0.user.id;
    let enrolled = state.db.read(move |conn| store::totp(conn, user_id)).await?.is_some_and(|t| t.confirmed);
    Ok(page(
        &req,
        Some(&staff.0),
        "My account",
        "/console/account",
        html! {
            h1 { "My account" }
            p { (staff.0.user.display_name) " (" (staff.0.user.username.as_str()) ")" }
            (security_card(&staff.0, enrolled))
        },
    ))
}
