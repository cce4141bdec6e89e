//! Billing (a dry run of what today's run would do, the run itself, past runs) and the
//! ledger (the invariant check with its violations, the trial balance), through the same
//! functions as `POST /v1/admin/billing/run` and `GET /v1/admin/ledger/check`.

use actix_web::{HttpRequest, HttpResponse, web};
use maud::{Markup, html};
use serde::Deserialize;

use super::error::ConsoleError;
use super::layout::{csrf, money, notice, page, time};
use super::session::{Signed, Staff};
use crate::api::admin::credit::billing_as;
use crate::domain::staff::Action;
use crate::state::AppState;
use crate::store::audit::{self, AuditFilter};
use crate::store::billing::{BillingCounts, BillingReport};
use crate::store::ledger_check;

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.route("/billing", web::get().to(billing))
        .route("/billing", web::post().to(run))
        .route("/ledger", web::get().to(ledger));
}

async fn billing_page(
    req: &HttpRequest,
    state: &AppState,
    signed: &Signed,
    report: Option<&BillingReport>,
) -> Result<HttpResponse, ConsoleError> {
    let filter = AuditFilter { action: Some("billing.run".into()), ..AuditFilter::default() };
    let past = state.db.read(move |conn| audit::search(conn, &filter, None, 20)).await?;
    let today = crate::domain::time::now().date_naive().to_string();
    Ok(page(
        req,
        Some(signed),
        "Billing",
        "/console/billing",
        html! {
            h1 { "Billing" }
            @if let Some(report) = report {
                @if report.dry_run { (notice("warn", "Dry run: nothing was written. This is what the run would do.")) }
                @else { (notice("ok", "The run is done (running it again for the same date changes nothing).")) }
                section class="card" id="billing-result" { h2 { "Result" } (counts(&report.counts)) }
            }
            @if signed.may(Action::BillingDryRun) {
                form method="post" action="/console/billing" class="card" {
                    (csrf(signed))
                    label for="as_of" { "As of (UTC date)" }
                    input id="as_of" name="as_of" type="date" value=(today) required;
                    div class="row" {
                        button type="submit" name="mode" value="dry_run" class="primary" { "Dry run" }
                        @if signed.may(Action::BillingRun) { button type="submit" name="mode" value="run" class="danger" { "Run billing" } }
                    }
                }
            } @else { p class="muted" { "Your role (" (signed.user.role.as_str()) ") cannot run billing." } }
            h2 { "Past runs" }
            @if past.is_empty() { p class="empty" { "No billing run yet." } } @else {
                table class="data" {
                    thead { tr { th scope="col" { "When" } th scope="col" { "As of" } th scope="col" { "Kind" } th scope="col" { "Counts" } } }
                    tbody { @for e in &past { tr {
                        td { (time(e.created_at)) }
                        td { (e.details["as_of"].as_str().unwrap_or("—")) }
                        td { @if e.details["dry_run"] == true { "dry run" } @else { "run" } }
                        td { code class="small" { (e.details["counts"].to_string()) } }
                    } } }
                }
            }
        },
    ))
}

fn counts(c: &BillingCounts) -> Markup {
    let lines = [
        ("Installments falling due", c.installments_due),
        ("Installments turning overdue", c.installments_overdue),
        ("Late fees charged", c.late_fees_charged),
        ("Collateral settlements", c.collateral_settlements),
        ("Purchases confirmed automatically", c.purchases_auto_confirmed),
        ("Autopay payments", c.autopay_payments),
        ("On-time credits", c.on_time_credited),
    ];
    html! { dl class="facts" { @for (label, n) in lines { dt { (label) } dd class="num" { (n) } } } }
}

async fn billing(req: HttpRequest, state: web::Data<AppState>, staff: Staff) -> Result<HttpResponse, ConsoleError> {
    billing_page(&req, &state, &staff.0, None).await
}

#[derive(Deserialize)]
pub struct RunForm {
    csrf: Option<String>,
    #[serde(default)]
    as_of: String,
    #[serde(default)]
    mode: String,
}

async fn run(
    req: HttpRequest,
    state: web::Data<AppState>,
    staff: Staff,
    form: web::Form<RunForm>,
) -> Result<HttpResponse, ConsoleError> {
    let signed = staff.0;
    signed.check_csrf(form.csrf.as_deref())?;
    let dry_run = match form.mode.as_str() {
        "dry_run" => true,
        "run" => false,
        _ => return Err(ConsoleError::BadRequest("choose a dry run or a run".into())),
    };
    let report = billing_as(&state, &signed.user, &form.as_of, dry_run).await?;
    billing_page(&req, &state, &signed, Some(&report)).await
}

async fn ledger(req: HttpRequest, state: web::Data<AppState>, staff: Staff) -> Result<HttpResponse, ConsoleError> {
    let (report, balance) =
        state.db.read(|conn| Ok((ledger_check::check(conn)?, ledger_check::trial_balance(conn)?))).await?;
    let sum: i64 = balance.iter().map(|l| l.total_minor).sum();
    Ok(page(
        &req,
        Some(&staff.0),
        "Ledger",
        "/console/ledger",
        html! {
            h1 { "Ledger" }
            @if report.ok {
                (notice("ok", &format!("Every invariant holds, recomputed from {} journal entries.", report.entries)))
            } @else {
                (notice("error", &format!("{} violation(s) found in {} journal entries.", report.violations.len(), report.entries)))
                table class="data" id="violations" {
                    thead { tr { th scope="col" { "Invariant" } th scope="col" { "Detail" } } }
                    tbody { @for v in &report.violations { tr { td { code { (v.invariant) } } td { (v.detail) } } } }
                }
            }
            section class="card" {
                h2 { "Trial balance" }
                table class="data compact" id="trial-balance" {
                    thead { tr { th scope="col" { "Account kind" } th scope="col" class="num" { "Accounts" } th scope="col" class="num" { "Balance (sum of postings)" } } }
                    tbody { @for line in &balance { tr {
                        td { (line.kind.replace('_', " ")) } td class="num" { (line.accounts) } td class="num" { (money(line.total_minor, &state.money)) }
                    } } }
                    tfoot { tr { th scope="row" { "Total" } td {} td class="num" { strong { (money(sum, &state.money)) } } } }
                }
            }
        },
    ))
}
