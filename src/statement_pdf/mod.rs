//! Renders a statement as a PDF in the service: text laid out on A4 pages with DejaVu Sans
//! embedded (`fonts/`, with its licence), so nothing is fetched at build or run time and the
//! text can be extracted again (`pdftotext`). It knows nothing of the API: the caller hands it
//! a `Document` of ready-formatted strings.

/// One row of a section: date, description, amount (already formatted).
pub struct Row {
    pub date: String,
    pub description: String,
    pub amount: String,
}

/// A titled group of rows and its total.
pub struct Section {
    pub title: String,
    pub rows: Vec<Row>,
    pub total: String,
}

/// What a statement page shows, every value formatted by the caller.
pub struct Document {
    pub title: String,
    /// Lines under the title: who, which period, when issued.
    pub heading: Vec<String>,
    /// Label and value pairs of the summary box (opening, charges, credits, closing, due...).
    pub summary: Vec<(String, String)>,
    pub sections: Vec<Section>,
    /// Small print at the foot of the last page.
    pub footer: Vec<String>,
}

/// The PDF's bytes.
pub fn render(_document: &Document) -> Result<Vec<u8>, String> {
    Err("not yet".into())
}
