//! Webhook endpoints (`/v1/admin/webhooks`). Who: admins only, every change audited. The URL
//! is admin input the service will call: http(s) only, no credentials, and (unless
//! `webhooks.allow_private_targets`) no loopback, private or reserved address, checked here
//! for the address literal or every address the name resolves to, and again at each delivery
//! by the worker's resolver (a name may change what it points at). At most
//! `webhooks.max_endpoints` endpoints: each adds a row to every event it wants.

use std::time::Duration;

use actix_web::{HttpResponse, delete, get, post, web};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use uuid::Uuid;

use crate::api::AppState;
use crate::api::dto::timestamp;
use crate::api::json::JsonBody;
use crate::api::page::{Page, PageQuery, page_schema};
use crate::auth::extract::AdminUser;
use crate::domain::staff::{self, Action};
use crate::domain::user::User;
use crate::domain::{time, webhook};
use crate::error::ApiError;
use crate::store::{self, webhooks::Webhook};

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct WebhookRequest {
    /// http or https, at most 2048 characters; a public address unless the service allows
    /// private targets.
    #[schema(example = "https://hooks.example.com/vaultline")]
    url: String,
    /// The event types to deliver, 1 to 13 of them, each once.
    #[schema(value_type = Vec<crate::api::events::EventType>)]
    events: Vec<String>,
}

#[derive(Serialize, ToSchema)]
#[schema(as = Webhook)]
pub struct WebhookView {
    #[schema(format = Uuid)]
    id: String,
    url: String,
    #[schema(value_type = Vec<crate::api::events::EventType>)]
    events: Vec<String>,
    #[schema(format = DateTime)]
    created_at: String,
    /// `failing` after `webhooks.failing_after` attempts in a row failed, until one succeeds.
    #[schema(example = "active")]
    state: &'static str,
    consecutive_failures: i32,
}

impl From<&Webhook> for WebhookView {
    fn from(w: &Webhook) -> Self {
        Self {
            id: w.id.to_string(),
            url: w.url.clone(),
            events: w.event_types.clone(),
            created_at: timestamp(w.created_at),
            state: if w.failing_since.is_some() { "failing" } else { "active" },
            consecutive_failures: w.consecutive_failures,
        }
    }
}

#[derive(Serialize, ToSchema)]
pub struct CreatedWebhook {
    #[serde(flatten)]
    webhook: WebhookView,
    /// The signing secret, shown only in this answer: store it now.
    secret: String,
}

/// A secret with 256 bits from the OS.
fn new_secret() -> String {
    let mut bytes = [0u8; 32];
    getrandom::fill(&mut bytes).expect("the OS random source is available");
    format!("whsec_{}", webhook::hex(&bytes))
}

/// Refuses a name that resolves to nothing, or (unless allowed) to any non-public address.
async fn check_resolves(target: &webhook::Target, allow_private: bool) -> Result<(), ApiError> {
    if target.ip.is_some() {
        return Ok(());
    }
    let host = target.url.host_str().unwrap_or_default().to_owned();
    let port = target.url.port_or_known_default().unwrap_or(443);
    let lookup = tokio::time::timeout(Duration::from_secs(3), tokio::net::lookup_host((host.clone(), port))).await;
    let addrs: Vec<_> = match lookup {
        Ok(Ok(addrs)) => addrs.collect(),
        _ => return Err(ApiError::Validation(format!("url: `{host}` does not resolve"))),
    };
    if addrs.is_empty() {
        return Err(ApiError::Validation(format!("url: `{host}` does not resolve")));
    }
    if let Some((bad, why)) = addrs.iter().find_map(|a| webhook::refusal(a.ip()).map(|why| (a.ip(), why)))
        && !allow_private
    {
        return Err(ApiError::Validation(format!(
            "url: `{host}` resolves to {bad}, a private, loopback or reserved address: {why}"
        )));
    }
    Ok(())
}

/// Register an endpoint; deliveries of the events it wants start with the next event.
#[utoipa::path(operation_id = "createWebhook", tag = "admin", path = "/v1/admin/webhooks", security(("bearer" = [])), request_body = WebhookRequest,
    responses(
        (status = 201, description = "The endpoint with its signing secret (shown only here)", body = CreatedWebhook),
        (status = 403, description = "`forbidden`: as many endpoints as `webhooks.max_endpoints` exist", body = crate::error::Problem, content_type = "application/problem+json"),
        (status = 422, description = "`validation_error`: a bad URL or event type, or a private target", body = crate::error::Problem, content_type = "application/problem+json"),
    ))]
#[post("/webhooks")]
pub async fn create(
    state: web::Data<AppState>,
    admin: AdminUser,
    body: JsonBody<WebhookRequest>,
) -> Result<HttpResponse, ApiError> {
    let (hook, secret) = register_as(&state, &admin.0, &body.value.url, &body.value.events).await?;
    Ok(HttpResponse::Created().json(CreatedWebhook { webhook: WebhookView::from(&hook), secret }))
}

fn may_manage(staff: &User) -> Result<(), ApiError> {
    if staff::allows(staff.role, Action::ManageWebhooks) {
        return Ok(());
    }
    Err(ApiError::Forbidden(format!("the {} role cannot manage webhooks", staff.role.as_str())))
}

/// Registers an endpoint as `staff` asked, for the API and the console alike; answers it
/// with its signing secret (shown to the caller once, never again).
pub(crate) async fn register_as(
    state: &AppState,
    staff: &User,
    url: &str,
    events: &[String],
) -> Result<(Webhook, String), ApiError> {
    may_manage(staff)?;
    let settings = &state.settings.webhooks;
    let target = webhook::parse_target(url, settings.allow_private_targets).map_err(ApiError::Validation)?;
    let types = webhook::event_types(events).map_err(|why| ApiError::Validation(format!("events: {why}")))?;
    check_resolves(&target, settings.allow_private_targets).await?;
    let (url, secret, actor, max) = (target.url.to_string(), new_secret(), staff.id, settings.max_endpoints);
    let stored_secret = secret.clone();
    let hook = state
        .db
        .write(move |conn| {
            let now = time::now();
            let hook = store::webhooks::create(conn, &url, &types, &stored_secret, actor, max, now)?;
            let details = serde_json::json!({"after": {"url": hook.url, "events": hook.event_types}});
            store::admin::audit(conn, actor, "webhook.create", Some(&hook.id.to_string()), None, &details, now)?;
            Ok(hook)
        })
        .await?;
    Ok((hook, secret))
}

page_schema!(WebhookPage, WebhookView);

/// The registered endpoints, newest first (secrets are never shown again).
#[utoipa::path(operation_id = "listWebhooks", tag = "admin", path = "/v1/admin/webhooks", security(("bearer" = [])), params(PageQuery),
    responses((status = 200, description = "A page of endpoints", body = WebhookPage)))]
#[get("/webhooks")]
pub async fn list(
    state: web::Data<AppState>,
    _admin: AdminUser,
    page: web::Query<PageQuery>,
) -> Result<HttpResponse, ApiError> {
    let page = page.parse()?;
    let limit = page.limit;
    let hooks = state.db.read(move |conn| store::webhooks::list(conn, page.after.as_deref(), limit + 1)).await?;
    let views: Vec<WebhookView> = hooks.iter().map(WebhookView::from).collect();
    Ok(HttpResponse::Ok().json(Page::from_rows(views, limit, |w| w.id.clone())))
}

/// Remove an endpoint with its pending deliveries.
#[utoipa::path(operation_id = "deleteWebhook", tag = "admin", path = "/v1/admin/webhooks/{id}", security(("bearer" = [])),
    params(("id" = Uuid, Path)),
    responses(
        (status = 204, description = "Removed"),
        (status = 404, description = "`not_found`", body = crate::error::Problem, content_type = "application/problem+json"),
    ))]
#[delete("/webhooks/{id}")]
pub async fn remove(
    state: web::Data<AppState>,
    admin: AdminUser,
    id: web::Path<Uuid>,
) -> Result<HttpResponse, ApiError> {
    remove_as(&state, &admin.0, id.into_inner()).await?;
    Ok(HttpResponse::NoContent().finish())
}

/// Removes an endpoint with its pending deliveries, audited; for the API and the console.
pub(crate) async fn remove_as(state: &AppState, staff: &User, id: Uuid) -> Result<(), ApiError> {
    may_manage(staff)?;
    let actor = staff.id;
    let removed = state
        .db
        .write(move |conn| {
            let removed = store::webhooks::delete(conn, id)?;
            if removed {
                let details = serde_json::json!({});
                store::admin::audit(conn, actor, "webhook.delete", Some(&id.to_string()), None, &details, time::now())?;
            }
            Ok(removed)
        })
        .await?;
    if !removed {
        return Err(ApiError::NotFound("no such webhook".into()));
    }
    Ok(())
}

#[derive(Serialize, ToSchema)]
#[schema(as = WebhookAttempt)]
pub struct AttemptView {
    #[schema(format = Uuid)]
    id: String,
    #[schema(format = Uuid)]
    event_id: String,
    #[schema(format = DateTime)]
    attempted_at: String,
    /// The receiver's status; null when no answer came (refused, timed out).
    status_code: Option<i32>,
    error: Option<String>,
    duration_ms: i64,
}

page_schema!(AttemptPage, AttemptView);

/// The endpoint's delivery attempts, newest first.
#[utoipa::path(operation_id = "listWebhookAttempts", tag = "admin", path = "/v1/admin/webhooks/{id}/attempts", security(("bearer" = [])),
    params(("id" = Uuid, Path), PageQuery),
    responses(
        (status = 200, description = "A page of attempts", body = AttemptPage),
        (status = 404, description = "`not_found`", body = crate::error::Problem, content_type = "application/problem+json"),
    ))]
#[get("/webhooks/{id}/attempts")]
pub async fn attempts(
    state: web::Data<AppState>,
    _admin: AdminUser,
    id: web::Path<Uuid>,
    page: web::Query<PageQuery>,
) -> Result<HttpResponse, ApiError> {
    let page = page.parse()?;
    let (id, limit) = (id.into_inner(), page.limit);
    let found = state
        .db
        .read(move |conn| {
            if store::webhooks::by_id(conn, id)?.is_none() {
                return Ok(None);
            }
            store::webhooks::attempts(conn, id, page.after.as_deref(), limit + 1).map(Some)
        })
        .await?
        .ok_or_else(|| ApiError::NotFound("no such webhook".into()))?;
    let views: Vec<AttemptView> = found
        .into_iter()
        .map(|a| AttemptView {
            id: a.id,
            event_id: a.event_id,
            attempted_at: timestamp(a.attempted_at),
            status_code: a.status_code,
            error: a.error,
            duration_ms: a.duration_ms,
        })
        .collect();
    Ok(HttpResponse::Ok().json(Page::from_rows(views, limit, |a| a.id.clone())))
}

#[derive(Serialize, ToSchema)]
pub struct Redelivery {
    #[schema(example = "pending")]
    state: &'static str,
}

/// Send an event to the endpoint again (after the user's earlier pending events there).
#[utoipa::path(operation_id = "redeliverWebhookEvent", tag = "admin", path = "/v1/admin/webhooks/{id}/events/{event_id}/redeliver",
    security(("bearer" = [])), params(("id" = Uuid, Path), ("event_id" = Uuid, Path)),
    responses(
        (status = 202, description = "Queued", body = Redelivery),
        (status = 404, description = "`not_found`: no such webhook or event", body = crate::error::Problem, content_type = "application/problem+json"),
    ))]
#[post("/webhooks/{id}/events/{event_id}/redeliver")]
pub async fn redeliver(
    state: web::Data<AppState>,
    admin: AdminUser,
    path: web::Path<(Uuid, Uuid)>,
) -> Result<HttpResponse, ApiError> {
    let (id, event_id) = path.into_inner();
    redeliver_as(&state, &admin.0, id, event_id).await?;
    Ok(HttpResponse::Accepted().json(Redelivery { state: "pending" }))
}

/// Queues an event for an endpoint again, audited; for the API and the console.
pub(crate) async fn redeliver_as(state: &AppState, staff: &User, id: Uuid, event_id: Uuid) -> Result<(), ApiError> {
    may_manage(staff)?;
    let actor = staff.id;
    let queued = state
        .db
        .write(move |conn| {
            let Some(position) = store::events::position_of(conn, event_id)? else { return Ok(false) };
            if store::webhooks::by_id(conn, id)?.is_none() {
                return Ok(false);
            }
            let now = time::now();
            store::webhooks::redeliver(conn, id, position, now.naive_utc())?;
            let details = serde_json::json!({"event_id": event_id.to_string()});
            store::admin::audit(conn, actor, "webhook.redeliver", Some(&id.to_string()), None, &details, now)?;
            Ok(true)
        })
        .await?;
    if !queued {
        return Err(ApiError::NotFound("no such webhook or event".into()));
    }
    Ok(())
}
