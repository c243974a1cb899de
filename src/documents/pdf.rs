//! A document laid out as rows of cells, top to bottom on A4 pages that break by
//! themselves, written as PDF by krilla. The text is set in the fonts of `fonts.rs`,
//! embedded as subsets (only the glyphs used) with a ToUnicode map, so any reader shows
//! and extracts every name: Polish, Greek, Cyrillic, Japanese alike. A document of more
//! than one page prints "Page N of M" at the foot of each.

use krilla::geom::Point;
use krilla::metadata::Metadata;
use krilla::page::PageSettings;
use krilla::surface::Surface;

use super::fonts::{Fonts, Shaped, fonts};
use crate::error::{AppError, AppResult};

/// A4 in points.
pub const PAGE_WIDTH: f32 = 595.0;
pub const PAGE_HEIGHT: f32 = 842.0;
pub const MARGIN: f32 = 50.0;

/// Baseline of the page footer, below the bottom margin.
const FOOTER_Y: f32 = MARGIN - 22.0;
const FOOTER_SIZE: f32 = 8.0;

/// Where a piece of text is anchored: its left or its right end.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Align {
    Left,
    Right,
}

/// A shaped text placed on a page; `y` is its baseline, from the bottom of the page.
#[derive(Debug, Clone)]
struct Text {
    x: f32,
    y: f32,
    size: f32,
    shaped: Shaped,
}

/// A document laid out top to bottom; pages break by themselves.
pub struct Document {
    fonts: &'static Fonts,
    title: String,
    pages: Vec<Vec<Text>>,
    /// Baseline of the next row on the current page.
    y: f32,
}

/// One cell of a row: x position, alignment, text, bold.
pub struct Cell<'a> {
    pub x: f32,
    pub align: Align,
    pub text: &'a str,
    pub bold: bool,
}

impl<'a> Cell<'a> {
    pub fn left(x: f32, text: &'a str) -> Self {
        Cell { x, align: Align::Left, text, bold: false }
    }
    pub fn right(x: f32, text: &'a str) -> Self {
        Cell { x, align: Align::Right, text, bold: false }
    }
    pub fn bold(mut self) -> Self {
        self.bold = true;
        self
    }
}

impl Document {
    pub fn new(title: &str) -> AppResult<Self> {
        Ok(Document { fonts: fonts()?, title: title.to_owned(), pages: vec![Vec::new()], y: PAGE_HEIGHT - MARGIN })
    }

    fn ensure_room(&mut self, height: f32) {
        if self.y - height < MARGIN {
            self.pages.push(Vec::new());
            self.y = PAGE_HEIGHT - MARGIN;
        }
    }

    /// A heading line.
    pub fn heading(&mut self, text: &str, size: f32) {
        self.ensure_room(size * 1.4);
        self.y -= size;
        let shaped = self.fonts.shape(text, true);
        self.push(MARGIN, size, shaped);
        self.y -= size * 0.6;
    }

    /// One row of cells at `size`.
    pub fn row(&mut self, size: f32, cells: &[Cell<'_>]) {
        self.ensure_room(size * 1.5);
        self.y -= size * 1.5;
        for cell in cells {
            let shaped = self.fonts.shape(cell.text, cell.bold);
            let x = match cell.align {
                Align::Left => cell.x,
                Align::Right => cell.x - shaped.width(size),
            };
            self.push(x, size, shaped);
        }
    }

    /// Vertical space.
    pub fn gap(&mut self, points: f32) {
        self.y -= points;
    }

    fn push(&mut self, x: f32, size: f32, shaped: Shaped) {
        let y = self.y;
        if let Some(page) = self.pages.last_mut() {
            page.push(Text { x, y, size, shaped });
        }
    }

    /// Width of a text in points at `size`, in the regular weight.
    pub fn text_width(&self, text: &str, size: f32) -> f32 {
        self.fonts.shape(text, false).width(size)
    }

    /// Splits text into lines no wider than `width` points at `size`, at spaces where it
    /// can.
    pub fn wrap(&self, text: &str, width: f32, size: f32) -> Vec<String> {
        let mut lines = Vec::new();
        let mut current = String::new();
        for word in text.split_whitespace() {
            let candidate = if current.is_empty() { word.to_owned() } else { format!("{current} {word}") };
            if self.text_width(&candidate, size) <= width {
                current = candidate;
                continue;
            }
            if !current.is_empty() {
                lines.push(std::mem::take(&mut current));
            }
            // A word wider than the column is cut.
            let mut piece = String::new();
            for c in word.chars() {
                piece.push(c);
                if self.text_width(&piece, size) > width && piece.chars().count() > 1 {
                    piece.pop();
                    lines.push(std::mem::take(&mut piece));
                    piece.push(c);
                }
            }
            current = piece;
        }
        if !current.is_empty() || lines.is_empty() {
            lines.push(current);
        }
        lines
    }

    /// The PDF file.
    pub fn render(&self) -> AppResult<Vec<u8>> {
        let mut pdf = krilla::Document::new();
        pdf.set_metadata(Metadata::new().title(self.title.clone()).producer("Canopy".to_owned()));
        let count = self.pages.len();
        for (index, page) in self.pages.iter().enumerate() {
            let settings = PageSettings::from_wh(PAGE_WIDTH, PAGE_HEIGHT)
                .ok_or_else(|| AppError::internal("PDF page size rejected"))?;
            let mut pdf_page = pdf.start_page_with(settings);
            let mut surface = pdf_page.surface();
            for text in page {
                self.draw(&mut surface, text);
            }
            if count > 1 {
                let label = format!("Page {} of {count}", index + 1);
                let shaped = self.fonts.shape(&label, false);
                let x = PAGE_WIDTH - MARGIN - shaped.width(FOOTER_SIZE);
                self.draw(&mut surface, &Text { x, y: FOOTER_Y, size: FOOTER_SIZE, shaped });
            }
            surface.finish();
            pdf_page.finish();
        }
        // KrillaError's Debug names the font, not any text of the document.
        pdf.finish().map_err(|e| AppError::internal(format!("PDF not written: {e:?}")))
    }

    fn draw(&self, surface: &mut Surface<'_>, text: &Text) {
        // krilla measures y from the top of the page.
        let mut x = text.x;
        let y = PAGE_HEIGHT - text.y;
        for run in &text.shaped.runs {
            surface.draw_glyphs(
                Point::from_xy(x, y),
                &run.glyphs,
                self.fonts.pdf_font(run.face),
                &run.text,
                text.size,
                false,
            );
            x += run.width * text.size;
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn a_long_document_breaks_into_pages_and_renders() {
        let mut doc = Document::new("T (1)").unwrap();
        for n in 0..120 {
            doc.row(10.0, &[Cell::left(MARGIN, &format!("row {n} (x) \\ é € Łódź 東京"))]);
        }
        assert_eq!(doc.pages.len(), 3, "49 rows of 15 points fit between the margins");
        assert!(doc.pages.iter().flatten().all(|t| t.y >= MARGIN));
        let pdf = doc.render().unwrap();
        assert!(pdf.starts_with(b"%PDF-1."));
        assert!(String::from_utf8_lossy(&pdf).trim_end().ends_with("%%EOF"));
        assert_eq!(doc.render().unwrap(), pdf, "the same document gives the same bytes");
    }

    #[test]
    fn right_aligned_cells_end_at_their_x() {
        let mut doc = Document::new("T").unwrap();
        doc.row(10.0, &[Cell::right(300.0, "1234.56"), Cell::right(400.0, "Żółć 東京").bold()]);
        let texts = &doc.pages[0];
        assert!((texts[0].x + texts[0].shaped.width(10.0) - 300.0).abs() < 0.001);
        assert!((texts[1].x + texts[1].shaped.width(10.0) - 400.0).abs() < 0.001);
    }

    #[test]
    fn wrapping_keeps_words_and_cuts_only_giants() {
        let doc = Document::new("T").unwrap();
        assert_eq!(doc.wrap("a b c", 1000.0, 10.0), vec!["a b c"]);
        let lines = doc.wrap("alpha beta gamma delta", 60.0, 10.0);
        assert!(lines.len() > 1 && lines.iter().all(|l| doc.text_width(l, 10.0) <= 60.0), "{lines:?}");
        assert_eq!(lines.join(" "), "alpha beta gamma delta");
        let giant = doc.wrap(&"x".repeat(100), 50.0, 10.0);
        assert!(giant.len() > 1 && giant.concat().len() == 100);
        let kanji = doc.wrap(&"東京支社".repeat(10), 50.0, 10.0);
        assert!(kanji.len() > 1 && kanji.iter().all(|l| doc.text_width(l, 10.0) <= 50.0), "{kanji:?}");
        assert_eq!(doc.wrap("", 50.0, 10.0), vec![""]);
    }
}
