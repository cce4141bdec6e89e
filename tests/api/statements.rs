//! Monthly statements and due-date reminders (issue 30, items 1 and 2), with exact amounts:
//! three cycles of one customer (purchases, a partial repayment, a refund, a late fee,
//! autopay) give three statements that add up, agree with her movements and the journal,
//! survive a re-run byte for byte, are hers alone, and show in the PDF amount by amount.

use chrono::{Months, NaiveDate};
use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::credit::{bill_as_of, days, first_due};
use crate::credit_life::{Setup, bought, refund, setup};
use crate::helpers::{Backend, assert_problem, minor};
use crate::on_both_backends;

on_both_backends!(
    three_cycles_give_three_statements_that_reconcile,
    a_customer_never_sees_another_customers_statement,
    the_ledger_check_catches_a_tampered_statement,
    a_reminder_comes_once_per_unpaid_installment_three_days_ahead
);

fn due(n: u32) -> NaiveDate {
    first_due().checked_add_months(Months::new(n - 1)).unwrap()
}

/// The statement day of the n-th due date: `statement_lead_days` (10) before it.
fn statement_day(n: u32) -> NaiveDate {
    due(n) - days(10)
}

async fn statements(s: &Setup, token: &str) -> Vec<Value> {
    let page: Value = s.app.get_as("/v1/credit/statements", token).await.json().await.unwrap();
    page["items"].as_array().unwrap().clone()
}

/// The statement's raw JSON text, as served.
async fn raw(s: &Setup, id: &str) -> String {
    let res = s.app.get_as(&format!("/v1/credit/statements/{id}"), &s.ann).await;
    assert_eq!(res.status(), StatusCode::OK);
    res.text().await.unwrap()
}

async fn events_of(s: &Setup, kind: &str) -> Vec<Value> {
    let page: Value = s.app.get_as("/v1/events?limit=100", &s.ann).await.json().await.unwrap();
    page["items"].as_array().unwrap().iter().filter(|e| e["type"] == kind).cloned().collect()
}

/// (group, kind, amount) of each line.
fn lines(statement: &Value) -> Vec<(String, String, String)> {
    let text = |v: &Value| v.as_str().unwrap().to_owned();
    statement["lines"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| (text(&l["group"]), text(&l["kind"]), text(&l["amount"])))
        .collect()
}

fn line(group: &str, kind: &str, amount: &str) -> (String, String, String) {
    (group.to_owned(), kind.to_owned(), amount.to_owned())
}

fn totals(statement: &Value) -> [String; 5] {
    let text = |v: &Value| v.as_str().unwrap().to_owned();
    [
        text(&statement["opening"]["total"]),
        text(&statement["charges"]),
        text(&statement["credits"]),
        text(&statement["closing"]["total"]),
        text(&statement["amount_due"]),
    ]
}

/// Each line is one of the customer's movements, of the same kind; a refund's line is what
/// it took off the debt, every other line the movement's amount.
async fn lines_are_her_movements(s: &Setup, statement: &Value) {
    let movements = s.app.all_movements(&s.ann, 100).await;
    for l in statement["lines"].as_array().unwrap() {
        let m = movements.iter().find(|m| m["id"] == l["movement_id"]).expect("the line's movement");
        assert_eq!(m["kind"], l["kind"]);
        if l["kind"] != "refund" {
            assert_eq!(minor(&m["amount"]), minor(&l["amount"]).abs(), "{l}");
        }
    }
}

/// The text a PDF of the service draws, page by page, one line per text operation: its
/// content streams read with lopdf, each glyph id mapped back to its character through the
/// embedded DejaVu Sans (the service writes text as glyph ids of that font). `.ci/run` also
/// reads a statement with poppler's `pdftotext`, which goes by the PDF's own ToUnicode map.
fn pdf_text(bytes: &[u8]) -> String {
    let mut chars = std::collections::HashMap::new();
    for path in ["src/statement_pdf/fonts/DejaVuSans.ttf", "src/statement_pdf/fonts/DejaVuSans-Bold.ttf"] {
        let data = std::fs::read(path).unwrap();
        let face = ttf_parser::Face::parse(&data, 0).unwrap();
        // Each face maps these characters to the same ids (one font family's cmap).
        for c in (' '..='~').chain(['·', '–']) {
            if let Some(id) = face.glyph_index(c) {
                chars.entry(id.0).or_insert(c);
            }
        }
    }
    let doc = lopdf::Document::load_mem(bytes).expect("a PDF");
    let mut text = String::new();
    for page in doc.get_pages().values() {
        let content = lopdf::content::Content::decode(&doc.get_page_content(*page).unwrap()).unwrap();
        for op in content.operations.iter().filter(|op| op.operator == "Tj") {
            let Some(lopdf::Object::String(raw, _)) = op.operands.first() else { continue };
            for pair in raw.chunks(2) {
                let id = u16::from_be_bytes([pair[0], pair[1]]);
                text.push(*chars.get(&id).unwrap_or(&'?'));
            }
            text.push('\n');
        }
    }
    text
}

/// Every amount printed with its currency, in order, in minor units.
fn printed_amounts(text: &str) -> Vec<i64> {
    let amount = regex::Regex::new(r"CNY -?[0-9][0-9,]*\.[0-9]{2}").unwrap();
    amount.find_iter(text).map(|m| minor_of_printed(m.as_str())).collect()
}

/// The PDF's text as poppler's `pdftotext` reads it (through the PDF's ToUnicode maps, as a
/// reader's copy and paste would), or `None` where it is not installed; under `CI=true` it
/// must be (`.ci/run` installs poppler-utils).
fn pdftotext(bytes: &[u8]) -> Option<String> {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("statement.pdf");
    std::fs::write(&path, bytes).unwrap();
    match std::process::Command::new("pdftotext").arg("-layout").arg(&path).arg("-").output() {
        Ok(out) => {
            assert!(out.status.success(), "pdftotext: {}", String::from_utf8_lossy(&out.stderr));
            Some(String::from_utf8(out.stdout).unwrap())
        }
        Err(_) if std::env::var("CI").as_deref() == Ok("true") => panic!("CI=true but pdftotext is missing"),
        Err(_) => None,
    }
}

/// `CNY -1,234.56` -> -123456.
fn minor_of_printed(text: &str) -> i64 {
    minor(&json!(text.trim_start_matches("CNY ").replace(',', "")))
}

/// The PDF's text (extracted in the test, no outside tool) shows the JSON's every amount,
/// in order, and no other: the summary, each line, then what to pay.
async fn pdf_agrees(s: &Setup, statement: &Value) {
    let res = s.app.get_as(&format!("/v1/credit/statements/{}.pdf", statement["id"].as_str().unwrap()), &s.ann).await;
    assert_eq!(res.status(), StatusCode::OK);
    assert_eq!(res.headers()["content-type"], "application/pdf");
    let bytes = res.bytes().await.unwrap();
    // To look at one: STATEMENT_PDF_DIR=/tmp cargo test --test api -- three_cycles
    if let Ok(dir) = std::env::var("STATEMENT_PDF_DIR") {
        std::fs::write(format!("{dir}/statement-{}.pdf", statement["period_end"].as_str().unwrap()), &bytes).unwrap();
    }
    let text = pdf_text(&bytes);
    if let Some(poppler) = pdftotext(&bytes) {
        assert_eq!(printed_amounts(&poppler), printed_amounts(&text), "pdftotext reads the same amounts: {poppler}");
    }
    let printed = printed_amounts(&text);
    let field = |path: &[&str]| path.iter().fold(statement, |v, k| &v[*k]);
    let mut expected: Vec<i64> = [
        &["opening", "total"][..],
        &["charges"],
        &["credits"],
        &["closing", "total"],
        &["closing", "principal"],
        &["closing", "fees"],
        &["closing", "late_fees"],
        &["amount_due"],
        &["limit"],
        &["available"],
    ]
    .iter()
    .map(|path| minor(field(path)))
    .collect();
    expected[2] = -expected[2];
    expected.extend(statement["lines"].as_array().unwrap().iter().map(|l| minor(&l["amount"])));
    expected.push(minor(&statement["amount_due"]));
    assert_eq!(printed, expected, "{text}");
    for date in [&statement["period_start"], &statement["period_end"], &statement["due_date"]] {
        assert!(text.contains(date.as_str().unwrap()), "{date} in {text}");
    }
}

/// Cycle 1: two purchases, a partial repayment, a refund; its statement, checked. Answers it.
async fn first_cycle(s: &Setup) -> Value {
    // Cycle 1: two purchases, a partial repayment, a refund of the single-part one.
    let big = bought(s, "1200.00", 3).await;
    let small = bought(s, "300.00", 1).await;
    let res = s.app.post_money("/v1/credit/repayments", &s.ann, &json!({"amount": "100.00"})).await;
    assert_eq!(res.status(), StatusCode::CREATED);
    assert_eq!(refund(s, &small, "stmt-refund", "50.00").await.status(), StatusCode::CREATED);
    // Before the statement day nothing is issued.
    let run = bill_as_of(&s.app, &s.admin, statement_day(1) - days(1)).await;
    assert_eq!(run["statements_issued"], 0);
    assert!(statements(s, &s.ann).await.is_empty());
    let run = bill_as_of(&s.app, &s.admin, statement_day(1)).await;
    assert_eq!(run["statements_issued"], 1);

    let first = statements(s, &s.ann).await.remove(0);
    let (day1, due1) = (statement_day(1).to_string(), due(1).to_string());
    assert_eq!((first["period_end"].as_str(), first["due_date"].as_str()), (Some(&*day1), Some(&*due1)));
    // 1200.00 in three parts of 400.00; the repayment took 100.00 off the first part, so its
    // fee (0.5%) is 1.50; the single part (no fee) is 250.00 after the refund.
    assert_eq!(
        lines(&first),
        [
            line("captures", "purchase_capture", "1200.00"),
            line("captures", "purchase_capture", "300.00"),
            line("fees", "fee", "1.50"),
            line("repayments", "repayment", "-100.00"),
            line("refunds", "refund", "-50.00"),
        ]
    );
    assert_eq!(totals(&first), ["0.00", "1501.50", "150.00", "1351.50", "551.50"]);
    assert_eq!((first["limit"].as_str(), first["available"].as_str()), (Some("1500.00"), Some("148.50")));
    let owed: Vec<(&str, &str)> = first["installments_due"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| (i["purchase_id"].as_str().unwrap(), i["owed"].as_str().unwrap()))
        .collect();
    assert_eq!(owed, [(&*big, "301.50"), (&*small, "250.00")]);

    first
}

/// Billing again, on every date already run, changes no statement by a byte.
async fn rerun_changes_nothing(s: &Setup, all: &[Value]) {
    let ids: Vec<&str> = all.iter().map(|v| v["id"].as_str().unwrap()).collect();
    let mut before = Vec::new();
    for id in &ids {
        before.push(raw(s, id).await);
    }
    for date in [statement_day(1), due(1) + days(2), statement_day(2), due(2), statement_day(3)] {
        assert_eq!(bill_as_of(&s.app, &s.admin, date).await["statements_issued"], 0);
    }
    for (id, text) in ids.iter().zip(&before) {
        assert_eq!(&raw(s, id).await, text);
    }
    assert_eq!(statements(s, &s.ann).await.len(), 3);
    assert_eq!(events_of(s, "statement.issued").await.len(), 3);
}

async fn three_cycles_give_three_statements_that_reconcile(backend: Backend) {
    let s = setup(backend, "5000.00", "1500.00").await;
    let first = first_cycle(&s).await;
    // Cycle 2: both parts go two days overdue (late fees), then she pays what is due.
    bill_as_of(&s.app, &s.admin, due(1) + days(2)).await;
    let bill: Value = s.app.get_as("/v1/credit/bill", &s.ann).await.json().await.unwrap();
    // 0.05% a day, two days: of 301.50 is 0.30, of 250.00 is 0.25.
    let late: Vec<&Value> = bill["overdue"].as_array().unwrap().iter().map(|p| &p["late_fee"]).collect();
    assert_eq!(late, [&json!("0.30"), &json!("0.25")]);
    let total_due = bill["total_due"].as_str().unwrap().to_owned();
    assert_eq!(total_due, "552.05");
    let res = s.app.post_money("/v1/credit/repayments", &s.ann, &json!({"amount": total_due})).await;
    assert_eq!(res.status(), StatusCode::CREATED);
    let res = s
        .app
        .client
        .put(s.app.url("/v1/me/autopay"))
        .bearer_auth(&s.ann)
        .json(&json!({"enabled": true, "sources": ["wallet"]}));
    assert_eq!(res.send().await.unwrap().status(), StatusCode::OK);
    assert_eq!(bill_as_of(&s.app, &s.admin, statement_day(2)).await["statements_issued"], 1);
    let second = statements(&s, &s.ann).await.remove(0);
    // The second part's fee (0.5% of 400.00), the late fees, her repayment.
    assert_eq!(
        lines(&second),
        [
            line("fees", "fee", "2.00"),
            line("late_fees", "late_fee", "0.55"),
            line("repayments", "repayment", "-552.05")
        ]
    );
    assert_eq!(totals(&second), ["1351.50", "2.55", "552.05", "802.00", "402.00"]);
    assert_eq!(
        second["closing"],
        json!({"principal": "800.00", "fees": "2.00", "late_fees": "0.00", "total": "802.00"})
    );

    // Cycle 3: autopay pays the second part on its due date.
    let run = bill_as_of(&s.app, &s.admin, due(2)).await;
    assert_eq!(run["autopay_payments"], 1);
    assert_eq!(bill_as_of(&s.app, &s.admin, statement_day(3)).await["statements_issued"], 1);
    let all = statements(&s, &s.ann).await;
    assert_eq!(all.len(), 3);
    let third = all[0].clone();
    // The third part's fee, and autopay's payment of the second part from the wallet.
    assert_eq!(lines(&third), [line("fees", "fee", "2.00"), line("repayments", "repayment", "-402.00")]);
    assert_eq!(totals(&third), ["802.00", "2.00", "402.00", "402.00", "402.00"]);
    assert_eq!((third["limit"].as_str(), third["available"].as_str()), (Some("1500.00"), Some("1098.00")));
    assert_eq!((all[1]["id"].clone(), all[2]["id"].clone()), (second["id"].clone(), first["id"].clone()));

    // Each opens where the one before closed; the last closes at what she owes now.
    assert_eq!(second["opening"], first["closing"]);
    assert_eq!(third["opening"], second["closing"]);
    assert_eq!(second["period_start"], (statement_day(1) + days(1)).to_string());
    let credit = &s.app.account(&s.ann).await["credit"];
    let owed_now = minor(&credit["principal"]) + minor(&credit["fees"]) + minor(&credit["late_fees"]);
    assert_eq!(minor(&third["closing"]["total"]), owed_now);
    for statement in [&first, &second, &third] {
        lines_are_her_movements(&s, statement).await;
        pdf_agrees(&s, statement).await;
    }
    let issued = events_of(&s, "statement.issued").await;
    let ids: Vec<&Value> = issued.iter().map(|e| &e["data"]["statement_id"]).collect();
    assert_eq!(ids, [&first["id"], &second["id"], &third["id"]]);
    assert_eq!(issued[2]["data"]["amount_due"], third["amount_due"]);

    rerun_changes_nothing(&s, &[first, second, third]).await;
    s.app.assert_ledger_clean(&s.admin).await;
}

async fn a_customer_never_sees_another_customers_statement(backend: Backend) {
    let s = setup(backend, "1000.00", "500.00").await;
    bought(&s, "300.00", 3).await;
    bill_as_of(&s.app, &s.admin, statement_day(1)).await;
    let mine = statements(&s, &s.ann).await;
    assert_eq!(mine.len(), 1);
    let id = mine[0]["id"].as_str().unwrap();
    let bob = s.app.user_token("bob_stmt").await;
    assert!(statements(&s, &bob).await.is_empty());
    for path in [format!("/v1/credit/statements/{id}"), format!("/v1/credit/statements/{id}.pdf")] {
        assert_problem(s.app.get_as(&path, &bob).await, 404, "not_found").await;
    }
    // A customer is not staff; staff see hers, JSON and PDF.
    let ann_id = s.app.get_as("/v1/me", &s.ann).await.json::<Value>().await.unwrap()["id"].as_str().unwrap().to_owned();
    let staff_path = format!("/v1/admin/users/{ann_id}/statements");
    assert_eq!(s.app.get_as(&staff_path, &bob).await.status(), StatusCode::FORBIDDEN);
    let page: Value = s.app.get_as(&staff_path, &s.admin).await.json().await.unwrap();
    assert_eq!(page["items"], json!(mine));
    let one: Value = s.app.get_as(&format!("{staff_path}/{id}"), &s.admin).await.json().await.unwrap();
    assert_eq!(one, mine[0]);
    assert_problem(s.app.get_as(&format!("{staff_path}/not-an-id"), &s.admin).await, 404, "not_found").await;
    assert_problem(s.app.get_as("/v1/credit/statements/not-an-id", &s.ann).await, 404, "not_found").await;
    assert_problem(s.app.get_as("/v1/credit/statements?limit=0", &s.ann).await, 400, "validation_error").await;
}

async fn the_ledger_check_catches_a_tampered_statement(backend: Backend) {
    let s = setup(backend, "1000.00", "500.00").await;
    bought(&s, "300.00", 3).await;
    bill_as_of(&s.app, &s.admin, statement_day(1)).await;
    s.app.assert_ledger_clean(&s.admin).await;
    let id = statements(&s, &s.ann).await[0]["id"].as_str().unwrap().to_owned();
    let check = async || -> Value { s.app.get_as("/v1/admin/ledger/check", &s.admin).await.json().await.unwrap() };
    s.app.execute_sql(&format!("UPDATE statements SET closing_minor = closing_minor - 100 WHERE id = '{id}'"));
    let report = check().await;
    assert_eq!(report["ok"], false);
    assert_eq!(report["violations"][0]["invariant"], "statement_reconciles");
    assert!(report["violations"][0]["detail"].as_str().unwrap().contains(&id), "{report}");
    s.app.execute_sql(&format!("UPDATE statements SET closing_minor = closing_minor + 100 WHERE id = '{id}'"));
    s.app.assert_ledger_clean(&s.admin).await;
    // The text itself: its hash gives it away.
    s.app.execute_sql(&format!(
        "UPDATE statements SET body = replace(body, '\"score\":', '\"score\": ') WHERE id = '{id}'"
    ));
    let report = check().await;
    assert_eq!(report["violations"][0]["invariant"], "statement_reconciles");
    assert!(report["violations"][0]["detail"].as_str().unwrap().contains("content hash"), "{report}");
}

async fn a_reminder_comes_once_per_unpaid_installment_three_days_ahead(backend: Backend) {
    let s = setup(backend, "1000.00", "500.00").await;
    // A single-part purchase paid off at once: it is never reminded.
    bought(&s, "60.00", 1).await;
    let res = s.app.post_money("/v1/credit/repayments", &s.ann, &json!({"amount": "60.00"})).await;
    assert_eq!(res.status(), StatusCode::CREATED);
    let id = bought(&s, "90.00", 3).await;
    assert_eq!(bill_as_of(&s.app, &s.admin, due(1) - days(4)).await["reminders_sent"], 0);
    assert!(events_of(&s, "installment.reminder").await.is_empty());
    assert_eq!(bill_as_of(&s.app, &s.admin, due(1) - days(3)).await["reminders_sent"], 1);
    for again in [due(1) - days(3), due(1) - days(2), due(1) - days(1)] {
        assert_eq!(bill_as_of(&s.app, &s.admin, again).await["reminders_sent"], 0);
    }
    let reminders = events_of(&s, "installment.reminder").await;
    assert_eq!(reminders.len(), 1);
    let expected = json!({"purchase_id": id, "seq": 1, "due_date": due(1).to_string(), "amount_due": "30.15"});
    assert_eq!(reminders[0]["data"], expected);
    // The second part, a month on; the run that reaches it reminds once.
    assert_eq!(bill_as_of(&s.app, &s.admin, due(2) - days(3)).await["reminders_sent"], 1);
    assert_eq!(bill_as_of(&s.app, &s.admin, due(2) - days(3)).await["reminders_sent"], 0);
    let reminders = events_of(&s, "installment.reminder").await;
    assert_eq!(reminders.len(), 2);
    assert_eq!(reminders[1]["data"]["seq"], 2);
    assert_eq!(reminders[1]["data"]["due_date"], due(2).to_string());
    s.app.assert_ledger_clean(&s.admin).await;
}
