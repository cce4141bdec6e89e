//! Monthly statements over HTTP: the customer's own (`/v1/credit/statements`, JSON and PDF)
//! and staff's view of a customer's (`/v1/admin/users/{id}/statements`). Who: a signed-in
//! customer reads only their own (another's answers 404, as if it did not exist); staff read
//! any. Cost: one indexed read; a PDF is rendered from the stored statement on each request.

use actix_web::{HttpResponse, get, web};
use serde::Serialize;
use utoipa::ToSchema;
use uuid::Uuid;

use super::AppState;
use super::dto::timestamp;
use super::page::{Page, PageQuery, page_schema};
use crate::auth::extract::{AdminUser, AuthUser};
use crate::domain::money::MoneyPolicy;
use crate::error::ApiError;
use crate::store::statements::{self, DueInstallment, Issued, IssuedNotice, Line, Owed, Reminder};

const PROBLEM: &str = "application/problem+json";

/// What was owed, by part, and in all.
#[derive(Serialize, ToSchema)]
#[schema(as = StatementOwed)]
pub struct OwedView {
    pub principal: String,
    pub fees: String,
    pub late_fees: String,
    pub total: String,
}

impl OwedView {
    fn new(owed: &Owed, money: &MoneyPolicy) -> Self {
        Self {
            principal: money.format(owed.principal),
            fees: money.format(owed.fees),
            late_fees: money.format(owed.late_fees),
            total: money.format(owed.total()),
        }
    }
}

/// One movement of the period; `amount` is positive for a charge, negative for a credit.
#[derive(Serialize, ToSchema)]
#[schema(as = StatementLine)]
pub struct LineView {
    /// `captures`, `fees`, `late_fees`, `repayments`, `refunds`, `collateral_settlements`, `other`.
    pub group: String,
    /// The movement's kind, e.g. `vault_repayment` for autopay from the vault.
    pub kind: String,
    /// The movement (its id in `/v1/transactions`).
    #[schema(format = Uuid)]
    pub movement_id: String,
    #[schema(format = Date)]
    pub date: String,
    pub description: Option<String>,
    pub amount: String,
}

/// An unpaid installment the statement asks to be paid by its due date.
#[derive(Serialize, ToSchema)]
#[schema(as = StatementInstallment)]
pub struct DueView {
    #[schema(format = Uuid)]
    pub purchase_id: String,
    pub seq: i32,
    #[schema(format = Date)]
    pub due_date: String,
    pub owed: String,
}

/// A monthly statement, as issued (never changed afterwards).
#[derive(Serialize, ToSchema)]
#[schema(as = Statement)]
pub struct StatementView {
    #[schema(format = Uuid)]
    pub id: String,
    #[schema(format = Uuid)]
    pub user_id: String,
    /// The first and the last day of the cycle (the last is the statement day).
    #[schema(format = Date)]
    pub period_start: String,
    #[schema(format = Date)]
    pub period_end: String,
    pub currency: String,
    pub opening: OwedView,
    /// Every movement of the credit account in the period, grouped, oldest first in a group.
    pub lines: Vec<LineView>,
    /// Sum of the positive lines; `credits` of the negative ones: opening + charges - credits = closing.
    pub charges: String,
    pub credits: String,
    pub closing: OwedView,
    /// What to pay by `due_date`: every unpaid installment due by then, overdue ones included.
    pub amount_due: String,
    #[schema(format = Date)]
    pub due_date: String,
    pub installments_due: Vec<DueView>,
    /// The credit limit and what was available of it at closing.
    pub limit: String,
    pub available: String,
    /// The credit score at closing.
    pub score: i64,
    #[schema(format = DateTime)]
    pub issued_at: String,
    /// SHA-256 of the statement as stored.
    pub content_hash: String,
}

impl StatementView {
    pub fn new(issued: &Issued, money: &MoneyPolicy) -> Self {
        let s = &issued.statement;
        let line = |l: &Line| LineView {
            group: l.group.clone(),
            kind: l.kind.clone(),
            movement_id: l.entry_id.clone(),
            date: l.date.to_string(),
            description: l.description.clone(),
            amount: money.format(l.amount),
        };
        let due = |i: &DueInstallment| DueView {
            purchase_id: i.purchase_id.clone(),
            seq: i.seq,
            due_date: i.due_date.to_string(),
            owed: money.format(i.owed),
        };
        Self {
            id: s.id.clone(),
            user_id: s.user_id.clone(),
            period_start: s.period_start.to_string(),
            period_end: s.period_end.to_string(),
            currency: money.currency().code().to_owned(),
            opening: OwedView::new(&s.opening, money),
            lines: s.lines.iter().map(line).collect(),
            charges: money.format(s.charges),
            credits: money.format(s.credits),
            closing: OwedView::new(&s.closing, money),
            amount_due: money.format(s.amount_due),
            due_date: s.due_date.to_string(),
            installments_due: s.installments_due.iter().map(due).collect(),
            limit: money.format(s.limit),
            available: money.format(s.available),
            score: s.score,
            issued_at: timestamp(issued.issued_at.and_utc()),
            content_hash: issued.content_hash.clone(),
        }
    }
}

page_schema!(StatementPage, StatementView);

/// What event `statement.issued` carries.
#[derive(Serialize, ToSchema)]
#[schema(as = StatementIssued)]
pub struct IssuedView {
    #[schema(format = Uuid)]
    pub statement_id: String,
    #[schema(format = Date)]
    pub period_start: String,
    #[schema(format = Date)]
    pub period_end: String,
    pub closing: String,
    pub amount_due: String,
    #[schema(format = Date)]
    pub due_date: String,
}

impl IssuedView {
    pub fn new(n: &IssuedNotice, money: &MoneyPolicy) -> Self {
        Self {
            statement_id: n.id.clone(),
            period_start: n.period_start.to_string(),
            period_end: n.period_end.to_string(),
            closing: money.format(n.closing),
            amount_due: money.format(n.amount_due),
            due_date: n.due_date.to_string(),
        }
    }
}

/// What event `installment.reminder` carries: the part and what it still owes.
#[derive(Serialize, ToSchema)]
#[schema(as = InstallmentReminder)]
pub struct ReminderView {
    #[schema(format = Uuid)]
    pub purchase_id: String,
    pub seq: i32,
    #[schema(format = Date)]
    pub due_date: String,
    pub amount_due: String,
}

impl ReminderView {
    pub fn new(r: &Reminder, money: &MoneyPolicy) -> Self {
        Self {
            purchase_id: r.purchase_id.clone(),
            seq: r.seq,
            due_date: r.due_date.to_string(),
            amount_due: money.format(r.amount_due),
        }
    }
}

async fn page_of(state: &AppState, user_id: Uuid, page: &PageQuery) -> Result<HttpResponse, ApiError> {
    let page = page.parse()?;
    let limit = page.limit;
    let rows = state.db.read(move |conn| statements::list(conn, user_id, page.after.as_deref(), limit + 1)).await?;
    let views: Vec<StatementView> = rows.iter().map(|s| StatementView::new(s, &state.money)).collect();
    Ok(HttpResponse::Ok().json(Page::from_rows(views, limit, |s| s.id.clone())))
}

async fn one(state: &AppState, user_id: Uuid, id: Uuid) -> Result<Issued, ApiError> {
    let found = state.db.read(move |conn| statements::get(conn, user_id, id)).await?;
    found.ok_or_else(|| ApiError::NotFound("no such statement".into()))
}

/// The caller's statements, newest first.
#[utoipa::path(operation_id = "listStatements", tag = "credit", security(("bearer" = [])), params(PageQuery), responses(
    (status = 200, description = "A page of statements", body = StatementPage),
))]
#[get("/v1/credit/statements")]
pub async fn list(
    state: web::Data<AppState>,
    caller: AuthUser,
    page: web::Query<PageQuery>,
) -> Result<HttpResponse, ApiError> {
    page_of(&state, caller.id(), &page).await
}

/// One of the caller's statements as PDF; another user's answers 404.
#[utoipa::path(operation_id = "getStatementPdf", tag = "credit", security(("bearer" = [])), params(("id" = String, Path)), responses(
    (status = 200, description = "The statement as a PDF document", content_type = "application/pdf", body = Vec<u8>),
    (status = 404, description = "`not_found`", body = crate::error::Problem, content_type = PROBLEM),
))]
#[get("/v1/credit/statements/{id}.pdf")]
pub async fn pdf(state: web::Data<AppState>, caller: AuthUser, id: web::Path<Uuid>) -> Result<HttpResponse, ApiError> {
    let issued = one(&state, caller.id(), id.into_inner()).await?;
    pdf_response(&issued, &state.money)
}

/// One of the caller's statements; another user's answers 404.
#[utoipa::path(operation_id = "getStatement", tag = "credit", security(("bearer" = [])), params(("id" = String, Path)), responses(
    (status = 200, description = "The statement", body = StatementView),
    (status = 404, description = "`not_found`", body = crate::error::Problem, content_type = PROBLEM),
))]
#[get("/v1/credit/statements/{id}")]
pub async fn get(state: web::Data<AppState>, caller: AuthUser, id: web::Path<Uuid>) -> Result<HttpResponse, ApiError> {
    let issued = one(&state, caller.id(), id.into_inner()).await?;
    Ok(HttpResponse::Ok().json(StatementView::new(&issued, &state.money)))
}

/// A customer's statements, newest first (staff).
#[utoipa::path(operation_id = "listUserStatements", tag = "admin", path = "/v1/admin/users/{id}/statements", security(("bearer" = [])),
    params(("id" = String, Path), PageQuery), responses(
    (status = 200, description = "A page of the user's statements", body = StatementPage),
))]
#[get("/users/{id}/statements")]
pub async fn admin_list(
    state: web::Data<AppState>,
    _staff: AdminUser,
    id: web::Path<Uuid>,
    page: web::Query<PageQuery>,
) -> Result<HttpResponse, ApiError> {
    page_of(&state, id.into_inner(), &page).await
}

/// One statement of a customer (staff), JSON or, with `.pdf`, the PDF the customer sees.
#[utoipa::path(operation_id = "getUserStatement", tag = "admin", path = "/v1/admin/users/{id}/statements/{statement_id}", security(("bearer" = [])),
    params(("id" = String, Path), ("statement_id" = String, Path, description = "The statement's id; append `.pdf` for the PDF")), responses(
    (status = 200, description = "The statement", body = StatementView),
    (status = 404, description = "`not_found`", body = crate::error::Problem, content_type = PROBLEM),
))]
#[get("/users/{id}/statements/{statement_id}")]
pub async fn admin_get(
    state: web::Data<AppState>,
    _staff: AdminUser,
    path: web::Path<(Uuid, String)>,
) -> Result<HttpResponse, ApiError> {
    let (user_id, wanted) = path.into_inner();
    let (id, as_pdf) = match wanted.strip_suffix(".pdf") {
        Some(id) => (id, true),
        None => (wanted.as_str(), false),
    };
    let id = Uuid::parse_str(id).map_err(|_| ApiError::NotFound("no such statement".into()))?;
    let issued = one(&state, user_id, id).await?;
    if as_pdf {
        return pdf_response(&issued, &state.money);
    }
    Ok(HttpResponse::Ok().json(StatementView::new(&issued, &state.money)))
}

fn pdf_response(issued: &Issued, money: &MoneyPolicy) -> Result<HttpResponse, ApiError> {
    let view = StatementView::new(issued, money);
    let bytes = crate::statement_pdf::render(&view.into_document())
        .map_err(|e| ApiError::Internal(format!("rendering statement {}: {e}", issued.statement.id)))?;
    Ok(HttpResponse::Ok()
        .content_type("application/pdf")
        .insert_header((
            "content-disposition",
            format!("inline; filename=\"statement-{}.pdf\"", issued.statement.period_end),
        ))
        .body(bytes))
}

/// `1234567.89` and `CNY` -> `CNY 1,234,567.89` (a minus sign kept in front of the digits).
fn with_currency(amount: &str, code: &str) -> String {
    let (sign, digits) = amount.strip_prefix('-').map_or(("", amount), |rest| ("-", rest));
    let (whole, fraction) = digits.split_once('.').map_or((digits, None), |(w, f)| (w, Some(f)));
    let mut grouped = String::new();
    for (i, c) in whole.chars().enumerate() {
        if i > 0 && (whole.len() - i) % 3 == 0 {
            grouped.push(',');
        }
        grouped.push(c);
    }
    let fraction = fraction.map(|f| format!(".{f}")).unwrap_or_default();
    format!("{code} {sign}{grouped}{fraction}")
}

/// `12.50` -> `-12.50`; zero stays unsigned.
fn negated(amount: &str) -> String {
    if amount.chars().all(|c| c == '0' || c == '.') { amount.to_owned() } else { format!("-{amount}") }
}

impl StatementView {
    /// The statement as the PDF shows it: the same amounts, with currency and separators.
    fn into_document(self) -> crate::statement_pdf::Document {
        use crate::statement_pdf::{Document, Row, Section};
        let money = |amount: &str| with_currency(amount, &self.currency);
        let titles = [
            ("captures", "Purchases"),
            ("fees", "Installment fees billed"),
            ("late_fees", "Late fees"),
            ("repayments", "Repayments (incl. autopay)"),
            ("refunds", "Refunds"),
            ("collateral_settlements", "Settled from the vault"),
            ("other", "Other"),
        ];
        let sections = titles
            .iter()
            .filter_map(|(group, title)| {
                let lines: Vec<&LineView> = self.lines.iter().filter(|l| l.group == *group).collect();
                if lines.is_empty() {
                    return None;
                }
                let rows = lines
                    .iter()
                    .map(|l| Row {
                        date: l.date.clone(),
                        description: l.description.clone().unwrap_or_else(|| l.kind.replace('_', " ")),
                        amount: money(&l.amount),
                    })
                    .collect();
                Some(Section { title: (*title).to_owned(), rows })
            })
            .collect();
        let summary = vec![
            ("Opening balance".to_owned(), money(&self.opening.total)),
            ("Charges".to_owned(), money(&self.charges)),
            ("Credits".to_owned(), money(&negated(&self.credits))),
            ("Closing balance".to_owned(), money(&self.closing.total)),
            ("  principal".to_owned(), money(&self.closing.principal)),
            ("  fees".to_owned(), money(&self.closing.fees)),
            ("  late fees".to_owned(), money(&self.closing.late_fees)),
            ("Amount due".to_owned(), money(&self.amount_due)),
            ("Due date".to_owned(), self.due_date.clone()),
            ("Credit limit".to_owned(), money(&self.limit)),
            ("Available credit".to_owned(), money(&self.available)),
            ("Credit score".to_owned(), self.score.to_string()),
        ];
        Document {
            title: "Credit statement".to_owned(),
            heading: vec![
                format!("Statement period {} to {}", self.period_start, self.period_end),
                format!("Statement {}", self.id),
                format!("Customer {}", self.user_id),
            ],
            summary,
            sections,
            footer: vec![
                format!("Pay {} by {} to avoid late fees.", money(&self.amount_due), self.due_date),
                format!("Issued {}. SHA-256 {}", self.issued_at, self.content_hash),
            ],
        }
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn amounts_get_currency_and_thousands_separators() {
        assert_eq!(super::with_currency("1234567.89", "CNY"), "CNY 1,234,567.89");
        assert_eq!(super::with_currency("-1000.00", "CNY"), "CNY -1,000.00");
        assert_eq!(super::with_currency("999.5", "USD"), "USD 999.5");
        assert_eq!(super::with_currency("0.00", "CNY"), "CNY 0.00");
    }
}
