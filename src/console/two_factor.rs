//! The second factor: TOTP enrolment (with recovery codes) and the code asked after the
//! password, both under the login throttle; `check_code` also serves step-up.

use actix_web::{HttpRequest, HttpResponse, web};
use maud::html;
use serde::Deserialize;

use super::error::ConsoleError;
use super::layout::{csrf, notice, page};
use super::session::{HalfSigned, Signed};
use crate::credentials::totp;
use crate::state::AppState;
use crate::store::console as store;

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.route("/2fa", web::get().to(second_factor_page))
        .route("/2fa", web::post().to(second_factor))
        .route("/2fa/enrol", web::get().to(enrol_page))
        .route("/2fa/enrol", web::post().to(enrol));
}

#[derive(Deserialize)]
pub struct CodeForm {
    csrf: Option<String>,
    code: String,
}

fn code_page(req: &HttpRequest, signed: &Signed, error: Option<&str>) -> HttpResponse {
    page(
        req,
        None,
        "Two-factor check",
        "",
        html! {
            div class="narrow card" {
                h1 { "Two-factor check" }
                @if let Some(error) = error { (notice("error", error)) }
                p { "Enter the 6-digit code from your authenticator app, or one of your recovery codes." }
                form method="post" action="/console/2fa" {
                    (csrf(signed))
                    label for="code" { "Code" }
                    input id="code" name="code" inputmode="numeric" autocomplete="one-time-code" required autofocus;
                    button type="submit" class="primary" { "Continue" }
                }
            }
        },
    )
}

async fn second_factor_page(req: HttpRequest, signed: HalfSigned) -> HttpResponse {
    code_page(&req, &signed.0, None)
}

/// Checks a TOTP code (spending its time step) or a recovery code, under the login throttle
/// of this staff member and address: six digits are guessable without one.
pub(super) async fn check_code(
    state: &AppState,
    req: &HttpRequest,
    signed: &Signed,
    code: &str,
) -> Result<bool, ConsoleError> {
    let address = state.client_address(req);
    let name = signed.user.username.as_str().to_owned();
    let now = crate::domain::time::now();
    let admitted = crate::auth::throttle::admit_login(state, Some(&name), &address, now)
        .await
        .map_err(|_| ConsoleError::TooManyAttempts("too many codes tried; wait a little, then try again".into()))?;
    let (user_id, code) = (signed.user.id, code.trim().to_owned());
    let accepted = state
        .db
        .write(move |conn| {
            let Some(secret) = store::totp(conn, user_id)?.filter(|t| t.confirmed) else { return Ok(false) };
            match totp::verify(&secret.secret, &code, now.timestamp(), secret.last_step) {
                Some(step) => store::spend_step(conn, user_id, step, false, now),
                None => store::use_recovery_code(conn, user_id, &totp::recovery_code_hash(&code), now),
            }
        })
        .await?;
    let outcome = if accepted {
        crate::auth::throttle::succeeded(state, admitted).await
    } else {
        crate::auth::throttle::failed(state, admitted, &name, &address).await
    };
    outcome.map_err(|e| ConsoleError::from(crate::error::ApiError::from(e)))?;
    Ok(accepted)
}

async fn second_factor(
    req: HttpRequest,
    state: web::Data<AppState>,
    signed: HalfSigned,
    form: web::Form<CodeForm>,
) -> Result<HttpResponse, ConsoleError> {
    let signed = signed.0;
    signed.check_csrf(form.csrf.as_deref())?;
    if !check_code(&state, &req, &signed, &form.code).await? {
        let mut res = code_page(&req, &signed, Some("That code is not valid (or was used already)."));
        *res.status_mut() = actix_web::http::StatusCode::UNAUTHORIZED;
        return Ok(res);
    }
    let (hash, now) = (signed.session.token_hash.clone(), crate::domain::time::now());
    state.db.write(move |conn| store::second_factor_passed(conn, &hash, now)).await?;
    Ok(HttpResponse::SeeOther().insert_header(("location", "/console")).finish())
}

fn enrol_form(req: &HttpRequest, signed: &Signed, secret: &str, error: Option<&str>) -> HttpResponse {
    let uri = totp::provisioning_uri("Vaultline", signed.user.username.as_str(), secret);
    let grouped: Vec<String> = secret.as_bytes().chunks(4).map(|c| String::from_utf8_lossy(c).into_owned()).collect();
    page(
        req,
        None,
        "Set up two-factor",
        "",
        html! {
            div class="narrow card" {
                h1 { "Set up two-factor sign-in" }
                @if let Some(error) = error { (notice("error", error)) }
                ol {
                    li { "Open your authenticator app and add an account by key (time-based, 6 digits, 30 seconds)." }
                    li { "Enter this key: " code id="totp-secret" class="secret" { (grouped.join(" ")) } }
                    li { "Type the code the app shows." }
                }
                details { summary { "Key as a link (otpauth)" } code class="wrap" id="totp-uri" { (uri) } }
                form method="post" action="/console/2fa/enrol" {
                    (csrf(signed))
                    label for="code" { "Code from the app" }
                    input id="code" name="code" inputmode="numeric" autocomplete="one-time-code" required autofocus;
                    button type="submit" class="primary" { "Confirm" }
                }
            }
        },
    )
}

async fn enrol_page(
    req: HttpRequest,
    state: web::Data<AppState>,
    signed: HalfSigned,
) -> Result<HttpResponse, ConsoleError> {
    let user_id = signed.0.user.id;
    let secret = totp::new_secret();
    let enrolling = state.db.write(move |conn| store::begin_enrolment(conn, user_id, &secret)).await;
    match enrolling {
        Ok(secret) => Ok(enrol_form(&req, &signed.0, &secret, None)),
        Err(_) => Err(ConsoleError::Redirect("/console/2fa".into())),
    }
}

async fn enrol(
    req: HttpRequest,
    state: web::Data<AppState>,
    signed: HalfSigned,
    form: web::Form<CodeForm>,
) -> Result<HttpResponse, ConsoleError> {
    let signed = signed.0;
    signed.check_csrf(form.csrf.as_deref())?;
    let (user_id, now) = (signed.user.id, crate::domain::time::now());
    let pending = state.db.read(move |conn| store::totp(conn, user_id)).await?;
    let Some(pending) = pending.filter(|t| !t.confirmed) else {
        return Err(ConsoleError::Redirect("/console/2fa".into()));
    };
    let codes = totp::new_recovery_codes();
    let hashes: Vec<String> = codes.iter().map(|c| totp::recovery_code_hash(c)).collect();
    let hash = signed.session.token_hash.clone();
    let step = totp::verify(&pending.secret, &form.code, now.timestamp(), pending.last_step);
    let confirmed = state
        .db
        .write(move |conn| {
            let Some(step) = step else { return Ok(false) };
            if !store::spend_step(conn, user_id, step, true, now)? {
                return Ok(false);
            }
            store::set_recovery_codes(conn, user_id, &hashes)?;
            store::second_factor_passed(conn, &hash, now)?;
            let details = serde_json::json!({"after": {"totp": "enrolled"}});
            crate::store::admin::audit(
                conn,
                user_id,
                "staff.totp_enrolled",
                Some(&user_id.to_string()),
                None,
                &details,
                now,
            )?;
            Ok(true)
        })
        .await?;
    if !confirmed {
        let mut res = enrol_form(
            &req,
            &signed,
            &pending.secret,
            Some("That code does not match. Check the key and the clock, then try again."),
        );
        *res.status_mut() = actix_web::http::StatusCode::UNPROCESSABLE_ENTITY;
        return Ok(res);
    }
    Ok(page(
        &req,
        Some(&signed),
        "Recovery codes",
        "",
        html! {
            div class="narrow card" {
                h1 { "Two-factor is on" }
                (notice("ok", "Keep these recovery codes somewhere safe. Each works once, in place of a code, if you lose your phone. They are shown only now."))
                ul class="codes" id="recovery-codes" { @for code in &codes { li { code { (code) } } } }
                p { a class="button primary" href="/console" { "Continue to the console" } }
            }
        },
    ))
}
