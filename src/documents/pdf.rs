//! A minimal PDF 1.4 writer: text only, in the standard Type 1 fonts Helvetica and
//! Helvetica-Bold (every reader has them, nothing is embedded), WinAnsi encoding,
//! uncompressed content streams and an exact cross-reference table. Enough for an
//! invoice, with no dependency.

use std::fmt::Write as _;

/// A4 in points.
pub const PAGE_WIDTH: f32 = 595.0;
pub const PAGE_HEIGHT: f32 = 842.0;
pub const MARGIN: f32 = 50.0;

/// Where a piece of text is anchored: its left or its right end.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Align {
    Left,
    Right,
}

#[derive(Debug, Clone)]
struct Text {
    x: f32,
    y: f32,
    size: f32,
    bold: bool,
    text: String,
}

/// A document laid out top to bottom; pages break by themselves.
pub struct Document {
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
    pub fn new(title: &str) -> Self {
        Document { title: title.to_owned(), pages: vec![Vec::new()], y: PAGE_HEIGHT - MARGIN }
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
        self.push(MARGIN, size, true, text);
        self.y -= size * 0.6;
    }

    /// One row of cells at `size`.
    pub fn row(&mut self, size: f32, cells: &[Cell<'_>]) {
        self.ensure_room(size * 1.5);
        self.y -= size * 1.5;
        for cell in cells {
            let x = match cell.align {
                Align::Left => cell.x,
                Align::Right => cell.x - text_width(cell.text, size),
            };
            self.push(x, size, cell.bold, cell.text);
        }
    }

    /// Vertical space.
    pub fn gap(&mut self, points: f32) {
        self.y -= points;
    }

    fn push(&mut self, x: f32, size: f32, bold: bool, text: &str) {
        if let Some(page) = self.pages.last_mut() {
            page.push(Text { x, y: self.y, size, bold, text: text.to_owned() });
        }
    }

    /// The PDF file.
    pub fn render(&self) -> Vec<u8> {
        let page_count = self.pages.len();
        // Objects: 1 catalog, 2 page tree, 3 and 4 fonts, 5 info, then a page and its
        // content stream for each page.
        let mut objects: Vec<Vec<u8>> = Vec::with_capacity(5 + 2 * page_count);
        let kids: Vec<String> = (0..page_count).map(|i| format!("{} 0 R", 6 + 2 * i)).collect();
        objects.push(b"<< /Type /Catalog /Pages 2 0 R >>".to_vec());
        objects.push(format!("<< /Type /Pages /Kids [{}] /Count {page_count} >>", kids.join(" ")).into_bytes());
        objects.push(b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica /Encoding /WinAnsiEncoding >>".to_vec());
        objects
            .push(b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica-Bold /Encoding /WinAnsiEncoding >>".to_vec());
        let mut info = b"<< /Producer (Canopy) /Title ".to_vec();
        info.extend(pdf_string(&self.title));
        info.extend(b" >>");
        objects.push(info);
        for (i, page) in self.pages.iter().enumerate() {
            let content_id = 7 + 2 * i;
            objects.push(
                format!(
                    "<< /Type /Page /Parent 2 0 R /MediaBox [0 0 {PAGE_WIDTH} {PAGE_HEIGHT}] \
                     /Resources << /Font << /F1 3 0 R /F2 4 0 R >> >> /Contents {content_id} 0 R >>"
                )
                .into_bytes(),
            );
            let mut stream = Vec::new();
            for text in page {
                let font = if text.bold { "F2" } else { "F1" };
                let mut op = String::new();
                let _ = write!(op, "BT /{font} {} Tf 1 0 0 1 {:.2} {:.2} Tm ", text.size, text.x, text.y);
                stream.extend(op.into_bytes());
                stream.extend(pdf_string(&text.text));
                stream.extend(b" Tj ET\n");
            }
            let mut object = format!("<< /Length {} >>\nstream\n", stream.len()).into_bytes();
            object.extend(stream);
            object.extend(b"\nendstream");
            objects.push(object);
        }

        let mut out: Vec<u8> = b"%PDF-1.4\n%\xE2\xE3\xCF\xD3\n".to_vec();
        let mut offsets = Vec::with_capacity(objects.len());
        for (i, object) in objects.iter().enumerate() {
            offsets.push(out.len());
            out.extend(format!("{} 0 obj\n", i + 1).into_bytes());
            out.extend(object);
            out.extend(b"\nendobj\n");
        }
        let xref_at = out.len();
        let mut xref = format!("xref\n0 {}\n0000000000 65535 f \n", objects.len() + 1);
        for offset in offsets {
            let _ = writeln!(xref, "{offset:010} 00000 n ");
        }
        let _ = write!(
            xref,
            "trailer\n<< /Size {} /Root 1 0 R /Info 5 0 R >>\nstartxref\n{xref_at}\n%%EOF\n",
            objects.len() + 1
        );
        out.extend(xref.into_bytes());
        out
    }
}

/// WinAnsi code of a character, or `?` for what the standard fonts cannot show.
fn win_ansi(c: char) -> u8 {
    match c {
        ' '..='~' => c as u8,
        '\u{a0}'..='\u{ff}' => c as u32 as u8,
        '€' => 0x80,
        '‚' => 0x82,
        '„' => 0x84,
        '…' => 0x85,
        '‘' => 0x91,
        '’' => 0x92,
        '“' => 0x93,
        '”' => 0x94,
        '–' => 0x96,
        '—' => 0x97,
        '\t' | '\n' | '\r' => b' ',
        _ => b'?',
    }
}

/// A PDF literal string in WinAnsi, ASCII only: `( ) \` escaped, bytes above 127 as
/// octal escapes.
fn pdf_string(text: &str) -> Vec<u8> {
    let mut out = vec![b'('];
    for c in text.chars() {
        match win_ansi(c) {
            b'(' => out.extend(b"\\("),
            b')' => out.extend(b"\\)"),
            b'\\' => out.extend(b"\\\\"),
            byte if byte >= 0x80 => out.extend(format!("\\{byte:03o}").into_bytes()),
            byte => out.push(byte),
        }
    }
    out.push(b')');
    out
}

/// Helvetica advance widths (per 1000 em) of the printable ASCII characters.
const HELVETICA_WIDTHS: [u16; 95] = [
    278, 278, 355, 556, 556, 889, 667, 191, 333, 333, 389, 584, 278, 333, 278, 278, // space to /
    556, 556, 556, 556, 556, 556, 556, 556, 556, 556, // 0 to 9
    278, 278, 584, 584, 584, 556, 1015, // : to @
    667, 667, 722, 722, 667, 611, 778, 722, 278, 500, 667, 556, 833, 722, 778, 667, 778, 722, 667, 611, 722, 667, 944,
    667, 667, 611, // A to Z
    278, 278, 278, 469, 556, 333, // [ to `
    556, 556, 500, 556, 556, 278, 556, 556, 222, 222, 500, 222, 833, 556, 556, 556, 556, 333, 500, 278, 556, 500, 722,
    500, 500, 500, // a to z
    334, 260, 334, 584, // { to ~
];

/// Width of a text in points at `size` (Helvetica metrics; bold is close enough to
/// right-align amounts).
pub fn text_width(text: &str, size: f32) -> f32 {
    let units: u32 = text
        .chars()
        .map(|c| match c {
            ' '..='~' => u32::from(HELVETICA_WIDTHS[(c as usize) - 32]),
            _ => 556,
        })
        .sum();
    units as f32 * size / 1000.0
}

/// Splits text into lines no wider than `width` points at `size`, at spaces where it can.
pub fn wrap(text: &str, width: f32, size: f32) -> Vec<String> {
    let mut lines = Vec::new();
    let mut current = String::new();
    for word in text.split_whitespace() {
        let candidate = if current.is_empty() { word.to_owned() } else { format!("{current} {word}") };
        if text_width(&candidate, size) <= width {
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
            if text_width(&piece, size) > width {
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

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn xref_offsets_point_at_their_objects() {
        let mut doc = Document::new("T (1)");
        for n in 0..120 {
            doc.row(10.0, &[Cell::left(MARGIN, &format!("row {n} (x) \\ é €"))]);
        }
        let pdf = doc.render();
        // Everything after the binary comment line is ASCII.
        let text = String::from_utf8(pdf[15..].to_vec()).unwrap();
        let start: usize = text.rsplit("startxref\n").next().unwrap().lines().next().unwrap().parse().unwrap();
        let table = String::from_utf8(pdf[start..].to_vec()).unwrap();
        assert!(table.starts_with("xref\n0 "));
        let entries: Vec<&str> = table.lines().skip(3).take_while(|l| !l.starts_with("trailer")).collect();
        assert!(entries.len() >= 9, "two pages at least");
        for (i, entry) in entries.iter().enumerate() {
            assert_eq!(entry.len() + 1, 20, "xref entries are 20 bytes");
            let offset: usize = entry[..10].parse().unwrap();
            assert!(pdf[offset..].starts_with(format!("{} 0 obj\n", i + 1).as_bytes()));
        }
        assert!(text.contains("(row 7 \\(x\\) \\\\ \\351 \\200)"));
    }

    #[test]
    fn wrapping_keeps_words_and_cuts_only_giants() {
        assert_eq!(wrap("a b c", 1000.0, 10.0), vec!["a b c"]);
        let lines = wrap("alpha beta gamma delta", 60.0, 10.0);
        assert!(lines.len() > 1 && lines.iter().all(|l| text_width(l, 10.0) <= 60.0), "{lines:?}");
        assert_eq!(lines.join(" "), "alpha beta gamma delta");
        let giant = wrap(&"x".repeat(100), 50.0, 10.0);
        assert!(giant.len() > 1 && giant.concat().len() == 100);
        assert_eq!(wrap("", 50.0, 10.0), vec![""]);
    }
}
