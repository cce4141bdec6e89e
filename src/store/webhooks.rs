//! Webhook endpoints and their deliveries. A delivery row is written with its event (the
//! outbox triggers); workers claim due rows for a lease, send them outside any transaction,
//! then settle them. Claims take only the oldest pending delivery of each endpoint and user,
//! so a user's events reach an endpoint in `seq` order.

use chrono::{DateTime, NaiveDateTime, Utc};
use diesel::prelude::*;
use diesel::sql_types::{BigInt, Integer, Text, Timestamp};
use uuid::Uuid;

use super::schema::{webhook_attempts as wa, webhook_deliveries as wd, webhooks as wh};
use super::{Backend, DbConn, StoreError};
use crate::domain::account::Refusal;

pub struct Webhook {
    pub id: Uuid,
    pub url: String,
    pub event_types: Vec<String>,
    pub created_at: DateTime<Utc>,
    pub consecutive_failures: i32,
    /// Set once `failing_after` attempts in a row failed; cleared by the next success.
    pub failing_since: Option<DateTime<Utc>>,
}

type WebhookRow = (String, String, String, NaiveDateTime, i32, Option<NaiveDateTime>);

fn from_row(row: WebhookRow) -> Result<Webhook, StoreError> {
    let (id, url, types, created_at, consecutive_failures, failing_since) = row;
    Ok(Webhook {
        id: Uuid::parse_str(&id).map_err(|_| StoreError::Corrupt(format!("webhooks.id {id}")))?,
        url,
        event_types: types.split(',').map(str::to_owned).collect(),
        created_at: created_at.and_utc(),
        consecutive_failures,
        failing_since: failing_since.map(|t| t.and_utc()),
    })
}

macro_rules! webhook_columns {
    () => {
        (wh::id, wh::url, wh::event_types, wh::created_at, wh::consecutive_failures, wh::failing_since)
    };
}

/// Registers an endpoint, refusing more than `max_endpoints` (each costs a row per event).
pub fn create(
    conn: &mut DbConn,
    url: &str,
    event_types: &[&str],
    secret: &str,
    created_by: Uuid,
    max_endpoints: i64,
    now: DateTime<Utc>,
) -> Result<Webhook, StoreError> {
    // Creates take turns (SQLite's writer does this by itself), so two at the limit cannot
    // both pass the count.
    if conn.backend() == Backend::Postgres {
        diesel::sql_query("LOCK TABLE webhooks IN SHARE ROW EXCLUSIVE MODE").execute(conn)?;
    }
    let count: i64 = wh::table.count().get_result(conn)?;
    if count >= max_endpoints {
        return Err(StoreError::Refused(Refusal::Forbidden("the service has as many webhook endpoints as it allows")));
    }
    let id = Uuid::now_v7();
    diesel::insert_into(wh::table)
        .values((
            wh::id.eq(id.to_string()),
            wh::url.eq(url),
            wh::event_types.eq(event_types.join(",")),
            wh::secret.eq(secret),
            wh::created_by.eq(created_by.to_string()),
            wh::created_at.eq(now.naive_utc()),
        ))
        .execute(conn)?;
    let row: WebhookRow = wh::table.find(id.to_string()).select(webhook_columns!()).first(conn)?;
    from_row(row)
}

/// Up to `limit` endpoints, newest first (ids are UUIDv7), strictly older than the `before` id.
pub fn list(conn: &mut DbConn, before: Option<&str>, limit: u32) -> Result<Vec<Webhook>, StoreError> {
    let mut query = wh::table.order(wh::id.desc()).limit(i64::from(limit)).select(webhook_columns!()).into_boxed();
    if let Some(before) = before {
        query = query.filter(wh::id.lt(before.to_owned()));
    }
    let rows: Vec<WebhookRow> = query.load(conn)?;
    rows.into_iter().map(from_row).collect()
}

pub fn by_id(conn: &mut DbConn, id: Uuid) -> Result<Option<Webhook>, StoreError> {
    let row: Option<WebhookRow> = wh::table.find(id.to_string()).select(webhook_columns!()).first(conn).optional()?;
    row.map(from_row).transpose()
}

/// Removes the endpoint with its pending deliveries and attempts; false if there was none.
pub fn delete(conn: &mut DbConn, id: Uuid) -> Result<bool, StoreError> {
    let id = id.to_string();
    diesel::delete(wa::table.filter(wa::webhook_id.eq(&id))).execute(conn)?;
    diesel::delete(wd::table.filter(wd::webhook_id.eq(&id))).execute(conn)?;
    Ok(diesel::delete(wh::table.find(&id)).execute(conn)? == 1)
}

/// A delivery a worker now holds until its lease ends.
pub struct Claimed {
    pub webhook_id: String,
    pub url: String,
    pub secret: String,
    pub event_position: i64,
    pub user_id: String,
    /// Including this one.
    pub attempt: i32,
    /// This claim's own: settling needs it (a lease that expired and was claimed again is
    /// no longer this worker's to settle).
    pub lease_token: String,
}

#[derive(QueryableByName)]
struct Due {
    #[diesel(sql_type = Text)]
    webhook_id: String,
    #[diesel(sql_type = BigInt)]
    event_position: i64,
    #[diesel(sql_type = Text)]
    user_id: String,
}

/// Whether any delivery is due: a read, so an idle worker never takes SQLite's write lock.
pub fn any_due(conn: &mut DbConn, now: NaiveDateTime) -> Result<bool, StoreError> {
    let due = wd::table
        .filter(wd::state.eq("pending"))
        .filter(wd::next_attempt_at.le(now))
        .select(wd::event_position)
        .first::<i64>(conn)
        .optional()?;
    Ok(due.is_some())
}

/// Claims up to `batch` due deliveries, each the oldest pending one of its endpoint and user,
/// until `lease_until`. One transaction: on PostgreSQL rows another worker is claiming are
/// skipped (`SKIP LOCKED`) and its lease hides them afterwards; SQLite has one writer. Rows
/// queued behind a failing one are pushed back with it (`settle`), so the scan stays short.
pub fn claim(
    conn: &mut DbConn,
    now: NaiveDateTime,
    lease_until: NaiveDateTime,
    batch: u32,
) -> Result<Vec<Claimed>, StoreError> {
    let lock = if conn.backend() == Backend::Postgres { " FOR UPDATE OF d SKIP LOCKED" } else { "" };
    let due: Vec<Due> = diesel::sql_query(format!(
        "SELECT d.webhook_id, d.event_position, d.user_id FROM webhook_deliveries d \
         WHERE d.state = 'pending' AND d.next_attempt_at <= $1 AND (d.leased_until IS NULL OR d.leased_until < $1) \
           AND NOT EXISTS (SELECT 1 FROM webhook_deliveries e WHERE e.webhook_id = d.webhook_id \
                           AND e.user_id = d.user_id AND e.state = 'pending' AND e.seq < d.seq) \
         ORDER BY d.next_attempt_at, d.event_position LIMIT $2{lock}"
    ))
    .bind::<Timestamp, _>(now)
    .bind::<BigInt, _>(i64::from(batch))
    .load(conn)?;
    let mut claimed = Vec::with_capacity(due.len());
    for d in due {
        let token = Uuid::new_v4().to_string();
        let attempt: i32 = diesel::update(wd::table.find((&d.webhook_id, d.event_position)))
            .set((wd::leased_until.eq(lease_until), wd::lease_token.eq(&token), wd::attempts.eq(wd::attempts + 1)))
            .returning(wd::attempts)
            .get_result(conn)?;
        let (url, secret): (String, String) =
            wh::table.find(&d.webhook_id).select((wh::url, wh::secret)).first(conn)?;
        claimed.push(Claimed {
            webhook_id: d.webhook_id,
            url,
            secret,
            event_position: d.event_position,
            user_id: d.user_id,
            attempt,
            lease_token: token,
        });
    }
    Ok(claimed)
}

/// Gives claims back unsent (the pass failed before settling them): due again at once.
pub fn release(conn: &mut DbConn, tokens: &[String]) -> Result<usize, StoreError> {
    Ok(diesel::update(wd::table.filter(wd::lease_token.eq_any(tokens)))
        .set((wd::leased_until.eq(None::<NaiveDateTime>), wd::lease_token.eq(None::<String>)))
        .execute(conn)?)
}

/// What one attempt came to.
pub struct Outcome {
    pub webhook_id: String,
    pub event_position: i64,
    pub user_id: String,
    pub lease_token: String,
    pub status_code: Option<i32>,
    pub error: Option<String>,
    pub duration_ms: i64,
    pub next: Next,
}

pub enum Next {
    Delivered,
    RetryAt(NaiveDateTime),
    /// Past `max_age_secs` (or the event cannot be shown): the delivery turns `failed` and
    /// the endpoint's next event for the user goes.
    GiveUp,
}

/// Records the attempts and moves each delivery on, if this worker still holds it; an
/// endpoint with `failing_after` failed attempts in a row is marked failing.
pub fn settle(
    conn: &mut DbConn,
    outcomes: &[Outcome],
    now: NaiveDateTime,
    failing_after: i32,
    expired_before: NaiveDateTime,
) -> Result<(), StoreError> {
    for o in outcomes {
        let held = wd::table
            .filter(wd::webhook_id.eq(&o.webhook_id))
            .filter(wd::event_position.eq(o.event_position))
            .filter(wd::state.eq("pending"))
            .filter(wd::lease_token.eq(&o.lease_token));
        let released = (wd::leased_until.eq(None::<NaiveDateTime>), wd::lease_token.eq(None::<String>));
        let moved = match o.next {
            Next::Delivered => diesel::update(held)
                .set((wd::state.eq("delivered"), wd::delivered_at.eq(now), released))
                .execute(conn)?,
            Next::RetryAt(at) => diesel::update(held).set((wd::next_attempt_at.eq(at), released)).execute(conn)?,
            Next::GiveUp => diesel::update(held).set((wd::state.eq("failed"), released)).execute(conn)?,
        };
        if moved == 0 {
            continue;
        }
        match o.next {
            // Those queued behind wait as long: they are not due before it (see `claim`).
            Next::RetryAt(at) => {
                diesel::update(
                    wd::table
                        .filter(wd::webhook_id.eq(&o.webhook_id))
                        .filter(wd::user_id.eq(&o.user_id))
                        .filter(wd::state.eq("pending"))
                        .filter(wd::next_attempt_at.lt(at)),
                )
                .set(wd::next_attempt_at.eq(at))
                .execute(conn)?;
            }
            // Everything as old behind it is given up at once, without an attempt each.
            Next::GiveUp => {
                diesel::sql_query(
                    "UPDATE webhook_deliveries SET state = 'failed' WHERE webhook_id = $1 AND user_id = $2 \
                     AND state = 'pending' AND leased_until IS NULL AND event_position IN \
                     (SELECT position FROM events WHERE user_id = $2 AND created_at < $3)",
                )
                .bind::<Text, _>(&o.webhook_id)
                .bind::<Text, _>(&o.user_id)
                .bind::<Timestamp, _>(expired_before)
                .execute(conn)?;
            }
            Next::Delivered => {}
        }
        record_attempt(conn, o, now, failing_after)?;
    }
    Ok(())
}

fn record_attempt(conn: &mut DbConn, o: &Outcome, now: NaiveDateTime, failing_after: i32) -> Result<(), StoreError> {
    diesel::insert_into(wa::table)
        .values((
            wa::id.eq(Uuid::now_v7().to_string()),
            wa::webhook_id.eq(&o.webhook_id),
            wa::event_position.eq(o.event_position),
            wa::attempted_at.eq(now),
            wa::status_code.eq(o.status_code),
            wa::error.eq(o.error.as_deref()),
            wa::duration_ms.eq(o.duration_ms),
        ))
        .execute(conn)?;
    let hook = wh::table.find(&o.webhook_id);
    if matches!(o.next, Next::Delivered) {
        diesel::update(hook)
            .set((wh::consecutive_failures.eq(0), wh::failing_since.eq(None::<NaiveDateTime>)))
            .execute(conn)?;
    } else {
        diesel::sql_query(
            "UPDATE webhooks SET consecutive_failures = consecutive_failures + 1, \
             failing_since = CASE WHEN failing_since IS NULL AND consecutive_failures + 1 >= $1 \
                                  THEN $2 ELSE failing_since END WHERE id = $3",
        )
        .bind::<Integer, _>(failing_after)
        .bind::<Timestamp, _>(now)
        .bind::<Text, _>(&o.webhook_id)
        .execute(conn)?;
    }
    Ok(())
}

pub struct Attempt {
    pub id: String,
    pub event_id: String,
    pub attempted_at: DateTime<Utc>,
    pub status_code: Option<i32>,
    pub error: Option<String>,
    pub duration_ms: i64,
}

type AttemptRow = (String, String, NaiveDateTime, Option<i32>, Option<String>, i64);

/// The endpoint's attempts, newest first, strictly older than the `before` id.
pub fn attempts(
    conn: &mut DbConn,
    webhook_id: Uuid,
    before: Option<&str>,
    limit: u32,
) -> Result<Vec<Attempt>, StoreError> {
    use super::schema::events as ev;
    let mut query = wa::table
        .inner_join(ev::table.on(ev::position.eq(wa::event_position)))
        .filter(wa::webhook_id.eq(webhook_id.to_string()))
        .order(wa::id.desc())
        .limit(i64::from(limit))
        .select((wa::id, ev::id, wa::attempted_at, wa::status_code, wa::error, wa::duration_ms))
        .into_boxed();
    if let Some(before) = before {
        query = query.filter(wa::id.lt(before.to_owned()));
    }
    let rows: Vec<AttemptRow> = query.load(conn)?;
    Ok(rows
        .into_iter()
        .map(|(id, event_id, at, status_code, error, duration_ms)| Attempt {
            id,
            event_id,
            attempted_at: at.and_utc(),
            status_code,
            error,
            duration_ms,
        })
        .collect())
}

/// Queues the event for the endpoint again, due now, even one it never wanted or that came
/// before it was registered (an admin asked for exactly this event). A copy being sent right
/// now keeps its lease: the worker holding it settles it, and no second copy goes meanwhile.
pub fn redeliver(
    conn: &mut DbConn,
    webhook_id: Uuid,
    event_position: i64,
    now: NaiveDateTime,
) -> Result<(), StoreError> {
    diesel::sql_query(
        "INSERT INTO webhook_deliveries (webhook_id, event_position, user_id, seq, next_attempt_at) \
         SELECT $1, position, user_id, seq, $2 FROM events WHERE position = $3 \
         ON CONFLICT (webhook_id, event_position) DO UPDATE \
         SET state = 'pending', next_attempt_at = excluded.next_attempt_at, delivered_at = NULL",
    )
    .bind::<Text, _>(webhook_id.to_string())
    .bind::<Timestamp, _>(now)
    .bind::<BigInt, _>(event_position)
    .execute(conn)?;
    Ok(())
}

/// Forgets deliveries delivered before `before`, and attempts older than it (events stay:
/// they are the feed).
pub fn purge_before(conn: &mut DbConn, before: NaiveDateTime) -> Result<usize, StoreError> {
    let attempts = diesel::delete(wa::table.filter(wa::attempted_at.lt(before))).execute(conn)?;
    let deliveries = diesel::delete(wd::table.filter(wd::state.eq("delivered")).filter(wd::delivered_at.lt(before)))
        .execute(conn)?;
    Ok(attempts + deliveries)
}

/// Deliveries pending and failed, over all endpoints (for /metrics).
pub fn counts(conn: &mut DbConn) -> Result<(i64, i64), StoreError> {
    let pending: i64 = wd::table.filter(wd::state.eq("pending")).count().get_result(conn)?;
    let failed: i64 = wd::table.filter(wd::state.eq("failed")).count().get_result(conn)?;
    Ok((pending, failed))
}
