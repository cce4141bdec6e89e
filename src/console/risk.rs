//! The risk dashboard: vault collateral, exposure and available credit by line kind, the
//! delinquency aging buckets, and late fees, settlements and money volume per day, with bar
//! charts drawn on the server as SVG (no script, nothing fetched: they work offline).

use actix_web::{HttpRequest, HttpResponse, web};
use chrono::TimeDelta;
use maud::{Markup, html};

use super::error::ConsoleError;
use super::layout::{money, page};
use super::session::Staff;
use crate::domain::money::MoneyPolicy;
use crate::state::AppState;
use crate::store::risk::{self, BUCKETS, DayKind, LineBook};

const DAYS: i64 = 30;

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.route("/risk", web::get().to(dashboard));
}

async fn dashboard(req: HttpRequest, state: web::Data<AppState>, staff: Staff) -> Result<HttpResponse, ConsoleError> {
    let now = crate::domain::time::now();
    let from = (now - TimeDelta::days(DAYS - 1)).date_naive().and_hms_opt(0, 0, 0).expect("midnight").and_utc();
    let (book, aging, days) = state
        .db
        .read(move |conn| Ok((risk::book(conn)?, risk::aging(conn, now.date_naive())?, risk::per_day(conn, from)?)))
        .await?;
    let labels: Vec<String> = (0..DAYS).map(|d| (from + TimeDelta::days(d)).date_naive().to_string()).collect();
    let series = |kinds: &[&str]| -> Vec<(String, i64)> {
        labels.iter().map(|day| (day[5..].to_owned(), sum(&days, day, kinds))).collect()
    };
    let p = &state.money;
    let volume_kinds =
        ["deposit", "withdrawal", "transfer_out", "purchase_capture", "repayment", "refund", "vault_repayment"];
    Ok(page(
        &req,
        Some(&staff.0),
        "Risk",
        "/console/risk",
        html! {
            h1 { "Risk" }
            (book_card(&book, p))
            section class="card" id="aging" {
                h2 { "Delinquency aging (days past due)" }
                div class="grid" {
                    table class="data compact" {
                        thead { tr { th scope="col" { "Bucket" } th scope="col" class="num" { "Installments" } th scope="col" class="num" { "Outstanding" } } }
                        tbody { @for (i, name) in BUCKETS.iter().enumerate() {
                            tr { td { (name) } td class="num" { (aging[i].0) } td class="num" { (money(aging[i].1, p)) } }
                        } }
                    }
                    (bar_chart("Outstanding by bucket", &BUCKETS.iter().enumerate().map(|(i, b)| (b.to_string(), aging[i].1)).collect::<Vec<_>>(), p))
                }
            }
            div class="grid" {
                section class="card" { h2 { "Late fees per day" } (bar_chart("Late fees per day, last 30 days", &series(&["late_fee"]), p)) }
                section class="card" { h2 { "Collateral settlements per day" } (bar_chart("Settlements per day, last 30 days", &series(&["collateral_settlement"]), p)) }
            }
            section class="card" { h2 { "Money volume per day" } (bar_chart("Money moved per day, last 30 days", &series(&volume_kinds), p)) }
        },
    ))
}

fn sum(days: &[DayKind], day: &str, kinds: &[&str]) -> i64 {
    days.iter().filter(|d| d.day == day && kinds.contains(&d.kind.as_str())).map(|d| d.amount_minor).sum()
}

fn book_card(book: &[LineBook], p: &MoneyPolicy) -> Markup {
    let total = |f: fn(&LineBook) -> i64| book.iter().map(f).sum::<i64>();
    html! {
        section class="card" id="book" {
            h2 { "The book" }
            table class="data compact" {
                thead { tr {
                    th scope="col" { "Line" } th scope="col" class="num" { "Customers" } th scope="col" class="num" { "Vault collateral" }
                    th scope="col" class="num" { "Limits" } th scope="col" class="num" { "Exposure" } th scope="col" class="num" { "Available credit" }
                } }
                tbody { @for l in book { tr {
                    td { (l.line) } td class="num" { (l.customers) } td class="num" { (money(l.vault_minor, p)) }
                    td class="num" { (money(l.limit_minor, p)) } td class="num" { (money(l.exposure_minor, p)) }
                    td class="num" { (money(l.available_minor, p)) }
                } } }
                tfoot { tr {
                    th scope="row" { "All" } td class="num" { (total(|l| l.customers)) } td class="num" { (money(total(|l| l.vault_minor), p)) }
                    td class="num" { (money(total(|l| l.limit_minor), p)) } td class="num" { (money(total(|l| l.exposure_minor), p)) }
                    td class="num" { (money(total(|l| l.available_minor), p)) }
                } }
            }
        }
    }
}

/// A bar chart as inline SVG: one bar per point, the largest value labelled, a text
/// alternative for screen readers.
fn bar_chart(title: &str, points: &[(String, i64)], p: &MoneyPolicy) -> Markup {
    const W: i64 = 600;
    const H: i64 = 180;
    const TOP: i64 = 18;
    const BOTTOM: i64 = 22;
    let largest = points.iter().map(|(_, v)| *v).max().unwrap_or(0);
    let max = largest.max(1);
    let slot = W / i64::try_from(points.len().max(1)).unwrap_or(1);
    let bar = (slot * 7 / 10).max(1);
    let every = (points.len() / 6).max(1);
    let described: Vec<String> =
        points.iter().filter(|(_, v)| *v > 0).map(|(l, v)| format!("{l}: {}", money(*v, p))).collect();
    let alt = if described.is_empty() {
        format!("{title}: nothing yet")
    } else {
        format!("{title}. {}", described.join("; "))
    };
    html! {
        svg class="chart" viewBox=(format!("0 0 {W} {H}")) role="img" aria-label=(alt) {
            title { (alt) }
            line x1="0" y1=(H - BOTTOM) x2=(W) y2=(H - BOTTOM) class="axis" {}
            text x="0" y="12" class="chart-label" {
                @if largest > 0 { "max " (money(largest, p)) } @else { "nothing in this period" }
            }
            @for (index, (label, value)) in points.iter().enumerate() {
                @let x = i64::try_from(index).unwrap_or(0) * slot;
                @let height = (H - TOP - BOTTOM) * value / max;
                rect x=(x + (slot - bar) / 2) y=(H - BOTTOM - height) width=(bar) height=(height) class="bar" {}
                @if index.is_multiple_of(every) {
                    text x=(x) y=(H - 6) class="chart-label" { (label) }
                }
            }
        }
    }
}
