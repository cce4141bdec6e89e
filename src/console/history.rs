//! The customer 360's history: purchases with their schedules, movements (paged) and the
//! limit history, read with the same store functions as the customer's own API.

use maud::{Markup, html};
use uuid::Uuid;

use super::layout::{money, time};
use crate::domain::credit::Purchase;
use crate::domain::money::MoneyPolicy;
use crate::domain::movement::Movement;
use crate::store::limits::LimitChange;
use crate::store::{self, DbConn, StoreError};

const MOVEMENTS_PAGE: u32 = 20;

pub struct History {
    purchases: Vec<Purchase>,
    movements: Vec<Movement>,
    more_movements: bool,
    limits: Vec<LimitChange>,
}

pub fn load(conn: &mut DbConn, user_id: Uuid, movements_before: Option<&str>) -> Result<History, StoreError> {
    let purchases = store::purchases::purchases(conn, user_id, None, 10)?;
    let mut movements = store::ledger::movements(conn, user_id, movements_before, MOVEMENTS_PAGE + 1)?;
    let more_movements = movements.len() > MOVEMENTS_PAGE as usize;
    movements.truncate(MOVEMENTS_PAGE as usize);
    let limits = store::limits::history(conn, user_id, None, 10)?;
    Ok(History { purchases, movements, more_movements, limits })
}

pub fn render(history: &History, policy: &MoneyPolicy, user_id: Uuid) -> Markup {
    html! {
        (purchases(history, policy))
        (movements(history, policy, user_id))
        (limits(history, policy))
    }
}

fn purchases(history: &History, policy: &MoneyPolicy) -> Markup {
    let m = |minor| money(minor, policy);
    html! {
        section class="card" id="purchases" {
            h2 { "Purchases" }
            @if history.purchases.is_empty() { p class="empty" { "No purchase yet." } } @else {
                table class="data compact" {
                    thead { tr {
                        th scope="col" { "Bought" } th scope="col" { "Description" } th scope="col" class="num" { "Amount" }
                        th scope="col" class="num" { "Refunded" } th scope="col" { "State" } th scope="col" { "Schedule" }
                    } }
                    tbody { @for p in &history.purchases { tr {
                        td { (time(p.created_at)) }
                        td { (p.description.as_deref().unwrap_or("—")) }
                        td class="num" { (m(p.amount_minor)) }
                        td class="num" { (m(p.refunded_minor)) }
                        td { (p.state.as_str()) }
                        td {
                            @if p.schedule.is_empty() { span class="muted" { (p.installments) " part(s), not started" } } @else {
                                details { summary { (p.schedule.len()) " installments" }
                                    ul { @for i in &p.schedule {
                                        li { (i.due_date) ": " (m(i.principal_minor + i.fee_minor)) " · " (i.state.as_str()) }
                                    } }
                                }
                            }
                        }
                    } } }
                }
            }
        }
    }
}

fn movements(history: &History, policy: &MoneyPolicy, user_id: Uuid) -> Markup {
    let m = |minor| money(minor, policy);
    let next = history.more_movements.then(|| history.movements.last().map(|mv| mv.id)).flatten();
    html! {
        section class="card" id="movements" {
            h2 { "Movements" }
            @if history.movements.is_empty() { p class="empty" { "No movement yet." } } @else {
                table class="data compact" {
                    thead { tr {
                        th scope="col" { "When" } th scope="col" { "Kind" } th scope="col" class="num" { "Amount" }
                        th scope="col" { "Counterparty" } th scope="col" { "Note" }
                    } }
                    tbody { @for mv in &history.movements { tr {
                        td { (time(mv.created_at)) }
                        td { (mv.kind.as_str().replace('_', " ")) }
                        td class="num" { (m(mv.amount_minor)) }
                        td { (mv.counterparty.as_deref().unwrap_or("—")) }
                        td { (mv.note.as_deref().unwrap_or("—")) }
                    } } }
                }
                @if let Some(next) = next {
                    p { a class="button" href={ "/console/customers/" (user_id) "?movements_before=" (next) "#movements" } { "Older movements →" } }
                }
            }
        }
    }
}

fn limits(history: &History, policy: &MoneyPolicy) -> Markup {
    let m = |minor| money(minor, policy);
    html! {
        section class="card" id="limit-history" {
            h2 { "Limit history" }
            @if history.limits.is_empty() { p class="empty" { "The limit has not changed yet." } } @else {
                table class="data compact" {
                    thead { tr {
                        th scope="col" { "When" } th scope="col" { "Line" } th scope="col" class="num" { "Before" }
                        th scope="col" class="num" { "After" } th scope="col" { "Why" }
                    } }
                    tbody { @for c in &history.limits { tr {
                        td { (time(c.created_at)) } td { (c.line) }
                        td class="num" { (m(c.limit_before_minor)) } td class="num" { (m(c.limit_after_minor)) }
                        td { (c.reason.replace('_', " ")) }
                    } } }
                }
            }
        }
    }
}
