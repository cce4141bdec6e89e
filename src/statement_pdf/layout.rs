//! The page layout: everything is first placed on pages (so each page can say "Page n of m"),
//! then drawn with printpdf. Amounts are right-aligned by measuring the embedded font.

use printpdf::{Color, IndirectFontRef, Line, Mm, PdfDocument, PdfLayerReference, Point, Rect, Rgb};

use super::Document;

const REGULAR: &[u8] = include_bytes!("fonts/DejaVuSans.ttf");
const BOLD: &[u8] = include_bytes!("fonts/DejaVuSans-Bold.ttf");

const WIDTH: f32 = 210.0;
const HEIGHT: f32 = 297.0;
const LEFT: f32 = 18.0;
const RIGHT: f32 = 192.0;
const BOTTOM: f32 = 22.0;
const ROW: f32 = 5.6;

#[derive(Clone, Copy, PartialEq)]
enum Face {
    Regular,
    Bold,
}

#[derive(Clone, Copy)]
enum Align {
    Left,
    Right,
}

enum Op {
    Text { text: String, size: f32, x: f32, y: f32, face: Face, align: Align, white: bool },
    Band { left: f32, right: f32, y: f32, height: f32, shade: (f32, f32, f32) },
    Rule { y: f32 },
}

/// Places text top down, starting new pages as needed.
struct Pages {
    pages: Vec<Vec<Op>>,
    y: f32,
}

impl Pages {
    fn new() -> Self {
        let mut pages = Self { pages: Vec::new(), y: 0.0 };
        pages.new_page();
        pages
    }

    fn new_page(&mut self) {
        self.pages.push(Vec::new());
        self.y = HEIGHT - 20.0;
    }

    fn room(&mut self, needed: f32) {
        if self.y - needed < BOTTOM {
            self.new_page();
        }
    }

    fn put(&mut self, op: Op) {
        self.pages.last_mut().expect("a page").push(op);
    }

    fn text(&mut self, text: &str, size: f32, x: f32, face: Face, align: Align) {
        let y = self.y;
        self.put(Op::Text { text: text.to_owned(), size, x, y, face, align, white: false });
    }

    /// A label on the left and a value on the right, on one line.
    fn pair(&mut self, label: &str, value: &str, face: Face) {
        self.room(ROW);
        self.text(label, 9.5, LEFT + 3.0, face, Align::Left);
        self.text(value, 9.5, RIGHT - 3.0, face, Align::Right);
        self.y -= ROW;
    }
}

/// The statement's PDF.
pub fn render(document: &Document) -> Result<Vec<u8>, String> {
    let pages = place(document);
    draw(document, pages)
}

fn place(document: &Document) -> Vec<Vec<Op>> {
    let mut p = Pages::new();
    // The letterhead band.
    p.put(Op::Band { left: 0.0, right: WIDTH, y: HEIGHT - 32.0, height: 32.0, shade: (0.07, 0.20, 0.36) });
    p.put(Op::Text {
        text: "VAULTLINE".into(),
        size: 20.0,
        x: LEFT,
        y: HEIGHT - 17.0,
        face: Face::Bold,
        align: Align::Left,
        white: true,
    });
    let title = document.title.clone();
    p.put(Op::Text {
        text: title,
        size: 11.0,
        x: LEFT,
        y: HEIGHT - 25.0,
        face: Face::Regular,
        align: Align::Left,
        white: true,
    });
    p.y = HEIGHT - 42.0;
    for line in &document.heading {
        p.text(line, 9.5, LEFT, Face::Regular, Align::Left);
        p.y -= ROW;
    }
    p.y -= 3.0;
    let box_height = ROW * document.summary.len() as f32 + 11.0;
    let y = p.y - box_height + 2.0;
    p.put(Op::Band { left: LEFT, right: RIGHT, y, height: box_height, shade: (0.93, 0.95, 0.97) });
    p.text("Account summary", 11.0, LEFT + 3.0, Face::Bold, Align::Left);
    p.y -= ROW + 1.5;
    for (label, value) in &document.summary {
        let face = if matches!(label.as_str(), "Closing balance" | "Amount due" | "Due date") {
            Face::Bold
        } else {
            Face::Regular
        };
        p.pair(label, value, face);
    }
    p.y -= 8.0;
    p.text("Transactions this period", 12.0, LEFT, Face::Bold, Align::Left);
    p.y -= ROW + 2.0;
    for section in &document.sections {
        p.room(ROW * 3.0);
        p.text(&section.title, 10.5, LEFT, Face::Bold, Align::Left);
        p.y -= 2.0;
        let y = p.y;
        p.put(Op::Rule { y });
        p.y -= ROW - 1.0;
        for row in &section.rows {
            p.room(ROW);
            p.text(&row.date, 9.0, LEFT, Face::Regular, Align::Left);
            p.text(&row.description, 9.0, LEFT + 26.0, Face::Regular, Align::Left);
            p.text(&row.amount, 9.0, RIGHT, Face::Regular, Align::Right);
            p.y -= ROW;
        }
        p.y -= 3.0;
    }
    p.y -= 4.0;
    for line in &document.footer {
        p.room(ROW);
        p.text(line, 7.5, LEFT, Face::Regular, Align::Left);
        p.y -= ROW - 1.0;
    }
    p.pages
}

fn draw(document: &Document, pages: Vec<Vec<Op>>) -> Result<Vec<u8>, String> {
    let (doc, first_page, first_layer) = PdfDocument::new(&document.title, Mm(WIDTH), Mm(HEIGHT), "statement");
    let regular = doc.add_external_font(REGULAR).map_err(|e| e.to_string())?;
    let bold = doc.add_external_font(BOLD).map_err(|e| e.to_string())?;
    let measure = Measure::new()?;
    let total = pages.len();
    for (n, ops) in pages.into_iter().enumerate() {
        let layer = if n == 0 {
            doc.get_page(first_page).get_layer(first_layer)
        } else {
            let (page, layer) = doc.add_page(Mm(WIDTH), Mm(HEIGHT), "statement");
            doc.get_page(page).get_layer(layer)
        };
        let fonts = (&regular, &bold);
        for op in ops {
            draw_op(&layer, op, fonts, &measure);
        }
        let footer = format!("Page {} of {total}", n + 1);
        let op = Op::Text {
            text: footer,
            size: 7.5,
            x: RIGHT,
            y: 12.0,
            face: Face::Regular,
            align: Align::Right,
            white: false,
        };
        draw_op(&layer, op, fonts, &measure);
    }
    doc.save_to_bytes().map_err(|e| e.to_string())
}

fn draw_op(
    layer: &PdfLayerReference,
    op: Op,
    (regular, bold): (&IndirectFontRef, &IndirectFontRef),
    measure: &Measure,
) {
    match op {
        Op::Text { text, size, x, y, face, align, white } => {
            let x = match align {
                Align::Left => x,
                Align::Right => x - measure.width_mm(&text, size, face),
            };
            let shade = if white { 1.0 } else { 0.1 };
            layer.set_fill_color(Color::Rgb(Rgb::new(shade, shade, shade, None)));
            layer.use_text(text, size, Mm(x), Mm(y), if face == Face::Bold { bold } else { regular });
        }
        Op::Band { left, right, y, height, shade: (r, g, b) } => {
            layer.set_fill_color(Color::Rgb(Rgb::new(r, g, b, None)));
            layer.add_rect(Rect::new(Mm(left), Mm(y), Mm(right), Mm(y + height)));
        }
        Op::Rule { y } => {
            layer.set_outline_color(Color::Rgb(Rgb::new(0.55, 0.6, 0.65, None)));
            layer.set_outline_thickness(0.6);
            let points = vec![(Point::new(Mm(LEFT), Mm(y)), false), (Point::new(Mm(RIGHT), Mm(y)), false)];
            layer.add_line(Line { points, is_closed: false });
        }
    }
}

/// Text widths from the embedded fonts' advances, to right-align amounts.
struct Measure {
    regular: ttf_parser::Face<'static>,
    bold: ttf_parser::Face<'static>,
}

impl Measure {
    fn new() -> Result<Self, String> {
        let parse = |bytes: &'static [u8]| ttf_parser::Face::parse(bytes, 0).map_err(|e| e.to_string());
        Ok(Self { regular: parse(REGULAR)?, bold: parse(BOLD)? })
    }

    fn width_mm(&self, text: &str, size_pt: f32, face: Face) -> f32 {
        let font = if face == Face::Bold { &self.bold } else { &self.regular };
        let units: u32 = text
            .chars()
            .map(|c| font.glyph_index(c).and_then(|g| font.glyph_hor_advance(g)).map_or(0, u32::from))
            .sum();
        let points = units as f32 / f32::from(font.units_per_em()) * size_pt;
        points * 25.4 / 72.0
    }
}
