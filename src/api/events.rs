//! The event feed: `GET /v1/events` (the caller's own, by `seq`) and `GET /v1/admin/events`
//! (everyone's, by writing transaction). Who: any signed-in user for their own; admins for all.
//! Cost: one indexed range read per page of at most 100, plus the movements it shows.

use actix_web::{HttpResponse, get, web};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use super::AppState;
use super::dto::{InstallmentView, MovementView, PurchaseView, UserView, timestamp};
use super::me_credit::LimitChangeView;
use super::page::{DEFAULT_LIMIT, MAX_LIMIT};
use crate::auth::extract::{AdminUser, AuthUser};
use crate::error::ApiError;
use crate::store::events::{self, Event, EventData, FeedPosition};

/// Every event type (`domain::webhook::EVENT_TYPES`).
#[derive(Serialize, ToSchema)]
#[allow(dead_code)]
pub enum EventType {
    #[serde(rename = "movement.created")]
    MovementCreated,
    #[serde(rename = "purchase.authorized")]
    PurchaseAuthorized,
    #[serde(rename = "purchase.captured")]
    PurchaseCaptured,
    #[serde(rename = "purchase.voided")]
    PurchaseVoided,
    #[serde(rename = "purchase.refunded")]
    PurchaseRefunded,
    #[serde(rename = "installment.due")]
    InstallmentDue,
    #[serde(rename = "installment.overdue")]
    InstallmentOverdue,
    #[serde(rename = "installment.paid")]
    InstallmentPaid,
    #[serde(rename = "installment.converted")]
    InstallmentConverted,
    /// An unpaid installment falls due in `credit.reminder_days` days.
    #[serde(rename = "installment.reminder")]
    InstallmentReminder,
    /// A monthly statement was issued.
    #[serde(rename = "statement.issued")]
    StatementIssued,
    #[serde(rename = "credit.limit_changed")]
    CreditLimitChanged,
    #[serde(rename = "credit.line_changed")]
    CreditLineChanged,
    #[serde(rename = "user.frozen")]
    UserFrozen,
    #[serde(rename = "user.unfrozen")]
    UserUnfrozen,
}

/// The object the event is about, as this API shows it right after the change.
#[derive(Serialize, ToSchema)]
#[serde(untagged)]
#[schema(as = EventData)]
pub enum EventDataView {
    Movement(Box<MovementView>),
    Purchase(PurchaseView),
    Installment(InstallmentView),
    LimitChange(LimitChangeView),
    User(UserView),
    Statement(super::statements::IssuedView),
    Reminder(super::statements::ReminderView),
}

#[derive(Serialize, ToSchema)]
#[schema(as = Event)]
pub struct EventView {
    /// The same on every delivery of the event: receivers deduplicate by it.
    #[schema(format = Uuid)]
    pub id: String,
    #[serde(rename = "type")]
    #[schema(value_type = EventType)]
    pub kind: String,
    #[schema(format = Uuid)]
    pub user_id: String,
    /// Rises by one per user, from 1.
    pub seq: i64,
    #[schema(format = DateTime)]
    pub created_at: String,
    pub data: EventDataView,
}

impl EventView {
    pub fn new(event: Event, state: &AppState) -> Self {
        let (money, model) = (&state.money, &state.settings.score);
        let data = match event.data {
            EventData::Movement(m) => {
                EventDataView::Movement(Box::new(MovementView::new(event.user_id, &m, model, money)))
            }
            EventData::Purchase(p) => EventDataView::Purchase(PurchaseView::new(&p, money)),
            EventData::Installment(i) => EventDataView::Installment(InstallmentView::new(&i, money)),
            EventData::LimitChange(c) => EventDataView::LimitChange(LimitChangeView::new(c, money)),
            EventData::User(u) => EventDataView::User(UserView::from(&u)),
            EventData::Statement(n) => EventDataView::Statement(super::statements::IssuedView::new(&n, money)),
            EventData::Reminder(r) => EventDataView::Reminder(super::statements::ReminderView::new(&r, money)),
        };
        Self {
            id: event.id.to_string(),
            kind: event.kind,
            user_id: event.user_id.to_string(),
            seq: event.seq,
            created_at: timestamp(event.created_at),
            data,
        }
    }
}

#[derive(Serialize, ToSchema)]
pub struct EventFeed {
    pub items: Vec<EventView>,
    /// Pass as `after` to resume: the last item's position, or `after` itself when the page
    /// is empty (poll again later with it). Never null.
    #[schema(pattern = r"^[0-9]{1,18}(\.[0-9]{1,18})?$")]
    pub next_cursor: String,
}

pub const USER_CURSOR_PATTERN: &str = r"^[0-9]{1,18}$";
pub const ALL_CURSOR_PATTERN: &str = r"^[0-9]{1,18}\.[0-9]{1,18}$";

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct FeedQuery {
    /// `next_cursor` of the previous page; absent: from the first event.
    pub after: Option<String>,
    /// Items per page, default 20.
    #[param(minimum = 1, maximum = 100)]
    pub limit: Option<u32>,
}

impl FeedQuery {
    fn limit(&self) -> Result<u32, ApiError> {
        let limit = self.limit.unwrap_or(DEFAULT_LIMIT);
        if !(1..=MAX_LIMIT).contains(&limit) {
            return Err(ApiError::BadRequest(format!("limit must be 1..={MAX_LIMIT}")));
        }
        Ok(limit)
    }
}

fn number(text: &str) -> Option<i64> {
    (!text.is_empty() && text.len() <= 18 && text.bytes().all(|b| b.is_ascii_digit())).then(|| text.parse().ok())?
}

/// The caller's events, oldest first: every movement, purchase and installment state
/// change, limit and line change, and freeze.
#[utoipa::path(operation_id = "listMyEvents", tag = "events", security(("bearer" = [])), params(FeedQuery), responses(
    (status = 200, description = "A page of events, oldest first", body = EventFeed),
    (status = 400, description = "`validation_error`: a malformed cursor or limit", body = crate::error::Problem, content_type = "application/problem+json"),
    (status = 401, description = "`unauthorized`", body = crate::error::Problem, content_type = "application/problem+json"),
))]
#[get("/v1/events")]
pub async fn my_events(
    state: web::Data<AppState>,
    caller: AuthUser,
    query: web::Query<FeedQuery>,
) -> Result<HttpResponse, ApiError> {
    let limit = query.limit()?;
    let after = match query.after.as_deref() {
        None => 0,
        Some(text) => {
            number(text).ok_or_else(|| ApiError::BadRequest("after must be a cursor from this feed".into()))?
        }
    };
    let user_id = caller.id();
    let found = state.db.read(move |conn| events::for_user(conn, user_id, after, limit)).await?;
    let next_cursor = found.last().map_or(after, |e| e.seq).to_string();
    let items = found.into_iter().map(|e| EventView::new(e, &state)).collect();
    Ok(HttpResponse::Ok().json(EventFeed { items, next_cursor }))
}

/// Everyone's events in a stable, resumable order: by writing transaction (a transaction still
/// running holds back those after it), each user's in `seq` order.
#[utoipa::path(operation_id = "listAllEvents", tag = "admin", path = "/v1/admin/events", security(("bearer" = [])), params(FeedQuery), responses(
    (status = 200, description = "A page of events, by writing transaction", body = EventFeed),
    (status = 400, description = "`validation_error`: a malformed cursor or limit", body = crate::error::Problem, content_type = "application/problem+json"),
    (status = 401, description = "`unauthorized`", body = crate::error::Problem, content_type = "application/problem+json"),
    (status = 403, description = "`forbidden`: not an admin", body = crate::error::Problem, content_type = "application/problem+json"),
))]
#[get("/events")]
pub async fn all_events(
    state: web::Data<AppState>,
    _admin: AdminUser,
    query: web::Query<FeedQuery>,
) -> Result<HttpResponse, ApiError> {
    let limit = query.limit()?;
    let after = match query.after.as_deref() {
        None => None,
        Some(text) => {
            let parsed =
                text.split_once('.').and_then(|(t, p)| Some(FeedPosition { txid: number(t)?, position: number(p)? }));
            Some(parsed.ok_or_else(|| ApiError::BadRequest("after must be a cursor from this feed".into()))?)
        }
    };
    let found = state.db.read(move |conn| events::all(conn, after, limit)).await?;
    let last = found.last().map(|e| FeedPosition { txid: e.txid, position: e.position }).or(after);
    let next_cursor = last.map_or_else(|| "0.0".to_owned(), |p| format!("{}.{}", p.txid, p.position));
    let items = found.into_iter().map(|e| EventView::new(e, &state)).collect();
    Ok(HttpResponse::Ok().json(EventFeed { items, next_cursor }))
}
