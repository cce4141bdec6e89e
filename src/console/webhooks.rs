//! Webhooks: the endpoints, registering one (its secret shown once), deleting one, its
//! delivery attempts, redelivering an event; the same functions as `/v1/admin/webhooks`.

use actix_web::{HttpRequest, HttpResponse, web};
use maud::{Markup, html};
use uuid::Uuid;

use super::error::ConsoleError;
use super::layout::{csrf, notice, page, time};
use super::raw_form::RawForm;
use super::session::{Signed, Staff};
use crate::api::admin::webhooks::{redeliver_as, register_as, remove_as};
use crate::domain::staff::Action;
use crate::domain::webhook::{EVENT_TYPES, URL_MAX_CHARS};
use crate::state::AppState;
use crate::store;

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.route("/webhooks", web::get().to(list))
        .route("/webhooks", web::post().to(register))
        .route("/webhooks/{id}", web::get().to(attempts))
        .route("/webhooks/{id}/delete", web::post().to(remove))
        .route("/webhooks/{id}/redeliver", web::post().to(redeliver));
}

async fn list_page(
    req: &HttpRequest,
    state: &AppState,
    signed: &Signed,
    created: Option<(&str, &str)>,
) -> Result<HttpResponse, ConsoleError> {
    let hooks = state.db.read(|conn| store::webhooks::list(conn, None, 100)).await?;
    let manage = signed.may(Action::ManageWebhooks);
    Ok(page(
        req,
        Some(signed),
        "Webhooks",
        "/console/webhooks",
        html! {
            h1 { "Webhooks" }
            @if let Some((url, secret)) = created {
                (notice("ok", &format!("Registered {url}. Its signing secret is shown only now; store it in the receiver:")))
                p { code class="secret" id="webhook-secret" { (secret) } }
            }
            @if hooks.is_empty() { p class="empty" { "No endpoint is registered." } } @else {
                table class="data" id="webhooks" {
                    thead { tr {
                        th scope="col" { "URL" } th scope="col" { "Events" } th scope="col" { "State" } th scope="col" { "Since" }
                        @if manage { th scope="col" { "Remove" } }
                    } }
                    tbody { @for h in &hooks { tr {
                        td { a href={ "/console/webhooks/" (h.id) } { (h.url) } }
                        td class="small" { (h.event_types.join(", ")) }
                        td { @if h.failing_since.is_some() { span class="badge status-frozen" { "failing" } } @else { span class="badge status-active" { "active" } } }
                        td { (time(h.created_at)) }
                        @if manage { td {
                            form method="post" action={ "/console/webhooks/" (h.id) "/delete" } {
                                (csrf(signed))
                                button type="submit" class="danger" aria-label={ "Delete " (h.url) } { "Delete" }
                            }
                        } }
                    } } }
                }
            }
            @if manage { (register_form(signed)) }
        },
    ))
}

fn register_form(signed: &Signed) -> Markup {
    html! {
        form method="post" action="/console/webhooks" class="card" {
            h2 { "Register an endpoint" }
            (csrf(signed))
            label for="url" { "URL (https, a public address)" }
            input id="url" name="url" type="url" required maxlength=(URL_MAX_CHARS) placeholder="https://hooks.example.com/vaultline";
            fieldset { legend { "Events" }
                div class="checks" { @for t in EVENT_TYPES {
                    label class="check" { input type="checkbox" name="events" value=(t); " " (t) }
                } }
            }
            button type="submit" class="primary" { "Register" }
        }
    }
}

async fn list(req: HttpRequest, state: web::Data<AppState>, staff: Staff) -> Result<HttpResponse, ConsoleError> {
    list_page(&req, &state, &staff.0, None).await
}

async fn register(
    req: HttpRequest,
    state: web::Data<AppState>,
    staff: Staff,
    body: web::Bytes,
) -> Result<HttpResponse, ConsoleError> {
    let signed = staff.0;
    // `events` repeats (one per ticked type).
    let form = RawForm::parse(&body);
    signed.check_csrf(form.one("csrf"))?;
    let url = form.one("url").unwrap_or_default();
    let (hook, secret) = register_as(&state, &signed.user, url, &form.all("events")).await?;
    list_page(&req, &state, &signed, Some((&hook.url, &secret))).await
}

async fn remove(
    state: web::Data<AppState>,
    staff: Staff,
    id: web::Path<Uuid>,
    body: web::Bytes,
) -> Result<HttpResponse, ConsoleError> {
    staff.0.check_csrf(RawForm::parse(&body).one("csrf"))?;
    remove_as(&state, &staff.0.user, id.into_inner()).await?;
    Ok(HttpResponse::SeeOther().insert_header(("location", "/console/webhooks")).finish())
}

async fn attempts(
    req: HttpRequest,
    state: web::Data<AppState>,
    staff: Staff,
    id: web::Path<Uuid>,
) -> Result<HttpResponse, ConsoleError> {
    let id = id.into_inner();
    let found = state
        .db
        .read(move |conn| {
            let Some(hook) = store::webhooks::by_id(conn, id)? else { return Ok(None) };
            Ok(Some((hook, store::webhooks::attempts(conn, id, None, 50)?)))
        })
        .await?;
    let (hook, attempts) = found.ok_or_else(|| ConsoleError::NotFound("no such webhook".into()))?;
    let signed = &staff.0;
    Ok(page(
        &req,
        Some(signed),
        "Webhook attempts",
        "/console/webhooks",
        html! {
            p class="crumbs" { a href="/console/webhooks" { "Webhooks" } " / " (hook.url) }
            h1 { "Delivery attempts" }
            @if attempts.is_empty() { p class="empty" { "Nothing was sent to this endpoint yet." } } @else {
                table class="data" {
                    thead { tr {
                        th scope="col" { "When" } th scope="col" { "Event" } th scope="col" { "Status" } th scope="col" { "Error" }
                        th scope="col" class="num" { "ms" } @if signed.may(Action::ManageWebhooks) { th scope="col" { "Again" } }
                    } }
                    tbody { @for a in &attempts { tr {
                        td { (time(a.attempted_at)) } td { code class="small" { (a.event_id) } }
                        td { @if let Some(s) = a.status_code { (s) } @else { "—" } }
                        td { (a.error.as_deref().unwrap_or("—")) } td class="num" { (a.duration_ms) }
                        @if signed.may(Action::ManageWebhooks) { td {
                            form method="post" action={ "/console/webhooks/" (hook.id) "/redeliver" } {
                                (csrf(signed))
                                input type="hidden" name="event_id" value=(a.event_id);
                                button type="submit" { "Redeliver" }
                            }
                        } }
                    } } }
                }
            }
        },
    ))
}

async fn redeliver(
    state: web::Data<AppState>,
    staff: Staff,
    id: web::Path<Uuid>,
    body: web::Bytes,
) -> Result<HttpResponse, ConsoleError> {
    let form = RawForm::parse(&body);
    staff.0.check_csrf(form.one("csrf"))?;
    let event = form.one("event_id").and_then(|v| Uuid::parse_str(v).ok());
    let event = event.ok_or_else(|| ConsoleError::BadRequest("which event?".into()))?;
    let id = id.into_inner();
    redeliver_as(&state, &staff.0.user, id, event).await?;
    Ok(HttpResponse::SeeOther().insert_header(("location", format!("/console/webhooks/{id}"))).finish())
}
