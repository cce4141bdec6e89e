//! The page every console screen shares: header, top navigation, the signed-in staff member
//! and sign-out, the CSP nonce; and how money and times are printed.

use actix_web::{HttpMessage, HttpRequest, HttpResponse};
use chrono::{DateTime, Utc};
use maud::{DOCTYPE, Markup, html};

use super::session::Signed;
use crate::domain::money::MoneyPolicy;
use crate::domain::staff::Action;

/// This response's CSP nonce (set by the console's headers middleware).
#[derive(Clone, Debug)]
pub struct Nonce(pub String);

pub fn nonce(req: &HttpRequest) -> String {
    req.extensions().get::<Nonce>().map(|n| n.0.clone()).unwrap_or_default()
}

/// The top navigation: path, label, and the action a role needs to see it.
const NAV: [(&str, &str, Action); 8] = [
    ("/console", "Customers", Action::Read),
    ("/console/approvals", "Approvals", Action::Read),
    ("/console/risk", "Risk", Action::Read),
    ("/console/billing", "Billing", Action::Read),
    ("/console/ledger", "Ledger", Action::Read),
    ("/console/audit", "Audit log", Action::Read),
    ("/console/webhooks", "Webhooks", Action::Read),
    ("/console/staff", "Staff", Action::Read),
];

/// A whole page. `active` is the navigation entry to mark as current.
pub fn page(req: &HttpRequest, signed: Option<&Signed>, title: &str, active: &str, body: Markup) -> HttpResponse {
    let nonce = nonce(req);
    let markup = html! {
        (DOCTYPE)
        html lang="en" {
            (head(title))
            body {
                a class="skip" href="#main" { "Skip to content" }
                header class="top" {
                    span class="brand" { "Vaultline" span class="brand-sub" { "Operations" } }
                    @if let Some(signed) = signed {
                        nav aria-label="Main" {
                            ul {
                                @for (path, label, action) in NAV {
                                    @if signed.may(action) {
                                        li {
                                            a href=(path) aria-current=[(path == active).then_some("page")] { (label) }
                                        }
                                    }
                                }
                            }
                        }
                        div class="who" {
                            a class="me" href="/console/account" aria-current=[("/console/account" == active).then_some("page")] title="My account: two-factor, sign out everywhere" { (signed.user.display_name) }
                            span class={ "badge role-" (signed.user.role.as_str()) } { (signed.user.role.as_str()) }
                            form method="post" action="/console/logout" class="inline" {
                                (csrf(signed))
                                button type="submit" class="link" { "Sign out" }
                            }
                        }
                    }
                }
                main id="main" tabindex="-1" { (body) }
                footer { "Times are UTC. " span class="muted" { "Server time " (time(crate::domain::time::now())) } }
                script nonce=(nonce) src="/console/assets/console.js" {}
            }
        }
    };
    html_response(markup)
}

/// Every page's `<head>`: the stylesheet is the console's own, nothing from elsewhere.
pub fn head(title: &str) -> Markup {
    html! {
        head {
            meta charset="utf-8";
            meta name="viewport" content="width=device-width, initial-scale=1";
            title { (title) " · Vaultline console" }
            link rel="stylesheet" href="/console/assets/console.css";
        }
    }
}

pub fn html_response(markup: Markup) -> HttpResponse {
    HttpResponse::Ok().content_type("text/html; charset=utf-8").body(markup.into_string())
}

/// The hidden CSRF field every state-changing form carries.
pub fn csrf(signed: &Signed) -> Markup {
    html! { input type="hidden" name="csrf" value=(signed.session.csrf_token); }
}

/// Money with its currency and thousands separators: `CNY 1,234,567.80`.
pub fn money(minor: i64, policy: &MoneyPolicy) -> String {
    let plain = policy.format(minor);
    let (sign, digits) = plain.strip_prefix('-').map_or(("", plain.as_str()), |rest| ("-", rest));
    let (whole, fraction) = digits.split_once('.').map_or((digits, None), |(w, f)| (w, Some(f)));
    let mut grouped = String::new();
    for (i, c) in whole.chars().enumerate() {
        if i > 0 && (whole.len() - i) % 3 == 0 {
            grouped.push(',');
        }
        grouped.push(c);
    }
    let fraction = fraction.map(|f| format!(".{f}")).unwrap_or_default();
    format!("{} {sign}{grouped}{fraction}", policy.currency().code())
}

/// A time in UTC with its offset shown: `2026-12-08 14:05:09 UTC+00:00`.
pub fn time(at: DateTime<Utc>) -> String {
    at.format("%Y-%m-%d %H:%M:%S UTC%:z").to_string()
}

/// A notice at the top of a page (`kind`: `ok`, `error`, `warn`).
pub fn notice(kind: &str, text: &str) -> Markup {
    html! { p class={ "notice " (kind) } role=(if kind == "error" { "alert" } else { "status" }) { (text) } }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::money::Currency;

    #[test]
    fn money_has_currency_and_thousands_separators() {
        let policy = MoneyPolicy::new(Currency::new("CNY", 2).unwrap(), 100_000_000).unwrap();
        assert_eq!(money(123_456_780, &policy), "CNY 1,234,567.80");
        assert_eq!(money(5, &policy), "CNY 0.05");
        assert_eq!(money(-100_000, &policy), "CNY -1,000.00");
        assert_eq!(money(99_999, &policy), "CNY 999.99");
    }

    #[test]
    fn times_show_utc_and_the_offset() {
        let at = DateTime::parse_from_rfc3339("2026-12-08T14:05:09Z").unwrap().with_timezone(&Utc);
        assert_eq!(time(at), "2026-12-08 14:05:09 UTC+00:00");
    }
}
