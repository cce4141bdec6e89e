//! Renders a statement as a PDF in the service: A4 pages laid out here, DejaVu Sans embedded
//! (`fonts/`, with its licence), so nothing is fetched at build or run time and the text can
//! be extracted again (`pdftotext`). It knows nothing of the API: the caller hands it a
//! `Document` of ready-formatted strings.

mod layout;

pub use layout::render;

/// One row of a section: date, description, amount (already formatted).
pub struct Row {
    pub date: String,
    pub description: String,
    pub amount: String,
}

/// A titled group of rows.
pub struct Section {
    pub title: String,
    pub rows: Vec<Row>,
}

/// What a statement shows, every value formatted by the caller.
pub struct Document {
    pub title: String,
    /// Lines under the title: which period, which statement, whose.
    pub heading: Vec<String>,
    /// Label and value pairs of the summary box (opening, charges, credits, closing, due...).
    pub summary: Vec<(String, String)>,
    pub sections: Vec<Section>,
    /// Small print after the last section.
    pub footer: Vec<String>,
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A two-page statement renders; with `STATEMENT_PDF_OUT` set, it is written there to look at.
    #[test]
    fn a_long_statement_renders_on_numbered_pages() {
        let row = |n: usize| Row {
            date: "2026-12-08".into(),
            description: format!("Purchase {n} at Tmall Store"),
            amount: format!("CNY {n},234.56"),
        };
        let document = Document {
            title: "Credit statement".into(),
            heading: vec!["Statement period 2026-12-01 to 2026-12-31".into(), "Customer ann".into()],
            summary: vec![("Opening balance".into(), "CNY 0.00".into()), ("Amount due".into(), "CNY 1,351.50".into())],
            sections: vec![Section { title: "Purchases".into(), rows: (1..60).map(row).collect() }],
            footer: vec!["Pay CNY 1,351.50 by 2027-01-10.".into()],
        };
        let bytes = render(&document).unwrap();
        assert!(bytes.starts_with(b"%PDF-"));
        if let Ok(path) = std::env::var("STATEMENT_PDF_OUT") {
            std::fs::write(path, &bytes).unwrap();
        }
    }
}
