//! The audit log: filters (actor, action, target, dates), pages, and a CSV export streamed a
//! page at a time, so a long range never sits in memory.

use actix_web::{HttpRequest, HttpResponse, web};
use chrono::{DateTime, NaiveDate, Utc};
use futures_util::StreamExt;
use maud::{Markup, html};
use serde::Deserialize;
use uuid::Uuid;

use super::error::ConsoleError;
use super::layout::{page, time};
use super::session::Staff;
use crate::state::AppState;
use crate::store::admin::AuditEntry;
use crate::store::audit::{self, AuditFilter};

const PAGE: u32 = 50;
const EXPORT_BATCH: u32 = 500;

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.route("/audit", web::get().to(list)).route("/audit.csv", web::get().to(export));
}

/// The filter as the form sends it.
#[derive(Clone, Debug, Default, Deserialize)]
pub struct Query {
    #[serde(default)]
    actor: String,
    #[serde(default)]
    action: String,
    #[serde(default)]
    target: String,
    #[serde(default)]
    from: String,
    #[serde(default)]
    to: String,
    before: Option<String>,
}

fn day(text: &str, what: &str) -> Result<Option<DateTime<Utc>>, ConsoleError> {
    if text.is_empty() {
        return Ok(None);
    }
    let date = NaiveDate::parse_from_str(text, "%Y-%m-%d")
        .map_err(|_| ConsoleError::BadRequest(format!("{what} must be a date, YYYY-MM-DD")))?;
    Ok(Some(date.and_hms_opt(0, 0, 0).expect("midnight exists").and_utc()))
}

impl Query {
    /// The store's filter; the actor may be given by username or id.
    async fn filter(&self, state: &AppState) -> Result<AuditFilter, ConsoleError> {
        let long = [&self.actor, &self.action, &self.target].iter().any(|f| f.chars().count() > 64);
        if long {
            return Err(ConsoleError::BadRequest("filters are at most 64 characters".into()));
        }
        let actor = self.actor.trim().to_owned();
        let actor_id = match actor.as_str() {
            "" => None,
            id if Uuid::parse_str(id).is_ok() => Some(id.to_owned()),
            name => {
                let name = name.to_owned();
                let found = state.db.read(move |conn| crate::store::users::credentials(conn, &name)).await?;
                // An unknown name matches nothing (not everything).
                Some(found.map_or_else(|| Uuid::nil().to_string(), |(u, _)| u.id.to_string()))
            }
        };
        let until = day(&self.to, "to")?.map(|d| d + chrono::TimeDelta::days(1));
        let text = |s: &str| Some(s.trim().to_owned()).filter(|s| !s.is_empty());
        Ok(AuditFilter {
            actor_id,
            action: text(&self.action),
            target_id: text(&self.target),
            from: day(&self.from, "from")?,
            until,
        })
    }

    fn link(&self, before: Option<&str>, path: &str) -> String {
        let mut query = url::form_urlencoded::Serializer::new(String::new());
        for (k, v) in [
            ("actor", &self.actor),
            ("action", &self.action),
            ("target", &self.target),
            ("from", &self.from),
            ("to", &self.to),
        ] {
            query.append_pair(k, v);
        }
        if let Some(before) = before {
            query.append_pair("before", before);
        }
        format!("{path}?{}", query.finish())
    }
}

async fn list(
    req: HttpRequest,
    state: web::Data<AppState>,
    staff: Staff,
    query: web::Query<Query>,
) -> Result<HttpResponse, ConsoleError> {
    let query = query.into_inner();
    let filter = query.filter(&state).await?;
    let before = query.before.clone();
    let rows = state.db.read(move |conn| audit::search(conn, &filter, before.as_deref(), PAGE + 1)).await?;
    let more = rows.len() > PAGE as usize;
    let rows = &rows[..rows.len().min(PAGE as usize)];
    let next = more.then(|| rows.last().map(|e| query.link(Some(&e.id), "/console/audit"))).flatten();
    Ok(page(
        &req,
        Some(&staff.0),
        "Audit log",
        "/console/audit",
        html! {
            h1 { "Audit log" }
            (filter_form(&query))
            p { a class="button" href=(query.link(None, "/console/audit.csv")) download { "Export these entries as CSV" } }
            @if rows.is_empty() { p class="empty" { "No audit entry matches." } } @else {
                table class="data" id="audit-entries" {
                    thead { tr {
                        th scope="col" { "When" } th scope="col" { "Action" } th scope="col" { "Actor" }
                        th scope="col" { "Target" } th scope="col" { "Reason" } th scope="col" { "Details" }
                    } }
                    tbody { @for e in rows { (entry(e)) } }
                }
                @if let Some(next) = next { p { a class="button" href=(next) { "Older entries →" } } }
            }
        },
    ))
}

fn filter_form(query: &Query) -> Markup {
    html! {
        form method="get" action="/console/audit" class="card filters" {
            div class="grid" {
                div { label for="actor" { "Actor (username or id)" } input id="actor" name="actor" value=(query.actor); }
                div { label for="action" { "Action" } input id="action" name="action" value=(query.action) placeholder="e.g. user.freeze"; }
                div { label for="target" { "Target id" } input id="target" name="target" value=(query.target); }
                div { label for="from" { "From (UTC date)" } input id="from" name="from" type="date" value=(query.from); }
                div { label for="to" { "To (UTC date, inclusive)" } input id="to" name="to" type="date" value=(query.to); }
            }
            button type="submit" class="primary" { "Filter" }
        }
    }
}

fn entry(e: &AuditEntry) -> Markup {
    html! {
        tr {
            td class="nowrap" { (time(e.created_at)) }
            td { code { (e.action) } }
            td { code class="small" { (e.actor_id) } }
            td { @if let Some(t) = &e.target_id { code class="small" { (t) } } @else { "—" } }
            td { (e.reason.as_deref().unwrap_or("—")) }
            td { details { summary { "JSON" } pre class="small" { (e.details.to_string()) } } }
        }
    }
}

/// One CSV field: quoted when it holds a separator, a quote or a line break; a leading
/// `= + - @` (a formula to a spreadsheet) is defused with a `'`.
fn csv_field(text: &str) -> String {
    let text = if text.starts_with(['=', '+', '-', '@', '\t', '\r']) { format!("'{text}") } else { text.to_owned() };
    if text.contains([',', '"', '\n', '\r']) { format!("\"{}\"", text.replace('"', "\"\"")) } else { text }
}

fn csv_line(e: &AuditEntry) -> String {
    let fields = [
        e.id.clone(),
        e.created_at.to_rfc3339_opts(chrono::SecondsFormat::Micros, true),
        e.actor_id.clone(),
        e.action.clone(),
        e.target_id.clone().unwrap_or_default(),
        e.reason.clone().unwrap_or_default(),
        e.details.to_string(),
    ];
    let mut line = fields.iter().map(|f| csv_field(f)).collect::<Vec<_>>().join(",");
    line.push_str("\r\n");
    line
}

/// Streams every matching entry, newest first, `EXPORT_BATCH` rows per database read.
async fn export(
    state: web::Data<AppState>,
    staff: Staff,
    query: web::Query<Query>,
) -> Result<HttpResponse, ConsoleError> {
    let filter = query.filter(&state).await?;
    let actor = staff.0.user.id;
    let details = serde_json::json!({"export": "audit_log.csv", "filter": format!("{filter:?}")});
    let now = crate::domain::time::now();
    state
        .db
        .write(move |conn| crate::store::admin::audit(conn, actor, "audit.export", None, None, &details, now))
        .await?;
    let header = web::Bytes::from_static(b"id,created_at,actor_id,action,target_id,reason,details\r\n");
    let start = (state, filter, None::<String>, false);
    let rows = futures_util::stream::unfold(start, |(state, filter, cursor, done)| async move {
        if done {
            return None;
        }
        let (f, c) = (filter.clone(), cursor.clone());
        let batch = state.db.read(move |conn| audit::search(conn, &f, c.as_deref(), EXPORT_BATCH)).await;
        match batch {
            Err(e) => {
                Some((Err(actix_web::error::ErrorInternalServerError(e.to_string())), (state, filter, cursor, true)))
            }
            Ok(batch) if batch.is_empty() => None,
            Ok(batch) => {
                let last = batch.last().map(|e| e.id.clone());
                let finished = batch.len() < EXPORT_BATCH as usize;
                let text: String = batch.iter().map(csv_line).collect();
                Some((Ok(web::Bytes::from(text)), (state, filter, last, finished)))
            }
        }
    });
    let body = futures_util::stream::once(async move { Ok::<_, actix_web::Error>(header) }).chain(rows);
    Ok(HttpResponse::Ok()
        .content_type("text/csv; charset=utf-8")
        .insert_header(("content-disposition", "attachment; filename=\"vaultline-audit.csv\""))
        .streaming(body))
}

#[cfg(test)]
mod tests {
    use super::csv_field;

    #[test]
    fn csv_fields_are_quoted_and_formulas_defused() {
        assert_eq!(csv_field("plain"), "plain");
        assert_eq!(csv_field("a,b"), "\"a,b\"");
        assert_eq!(csv_field("say \"hi\""), "\"say \"\"hi\"\"\"");
        assert_eq!(csv_field("=HYPERLINK(\"x\")"), "\"'=HYPERLINK(\"\"x\"\")\"");
        assert_eq!(csv_field("-1"), "'-1");
        assert_eq!(csv_field("two\nlines"), "\"two\nlines\"");
    }
}
