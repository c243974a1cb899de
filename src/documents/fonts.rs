//! The fonts invoice PDFs are set in, compiled into the binary (`assets/fonts/`, with
//! their licences), and the shaping that turns a text into positioned glyphs.
//!
//! Noto Sans (regular and bold) is the primary font: Latin with every European accent,
//! Greek, Cyrillic. Droid Sans Fallback covers Chinese and Japanese. The choice is made per
//! character: the primary font wherever it has a glyph, the fallback otherwise. A shaped
//! text is measured and drawn from the same glyphs, so right-aligned amounts and wrapped
//! lines end where the layout computed.

use std::sync::LazyLock;

use krilla::text::{Font, GlyphId, KrillaGlyph};
use rustybuzz::{Face, UnicodeBuffer};

use crate::error::{AppError, AppResult};

static NOTO_SANS: &[u8] = include_bytes!("../../assets/fonts/NotoSans-Regular.ttf");
static NOTO_SANS_BOLD: &[u8] = include_bytes!("../../assets/fonts/NotoSans-Bold.ttf");
static DROID_SANS_FALLBACK: &[u8] = include_bytes!("../../assets/fonts/DroidSansFallbackFull.ttf");

/// One face: what shapes text (rustybuzz) and what the PDF embeds (krilla), over the
/// same bytes.
struct Typeface {
    shaper: Face<'static>,
    pdf: Font,
    units_per_em: f32,
}

impl Typeface {
    fn load(name: &str, bytes: &'static [u8]) -> Result<Self, String> {
        let shaper = Face::from_slice(bytes, 0).ok_or_else(|| format!("font {name} does not parse"))?;
        let pdf = Font::new(bytes.into(), 0).ok_or_else(|| format!("font {name} is not usable in a PDF"))?;
        let units_per_em = shaper.units_per_em() as f32;
        Ok(Typeface { shaper, pdf, units_per_em })
    }

    fn has(&self, c: char) -> bool {
        self.shaper.glyph_index(c).is_some()
    }
}

/// Which face a run is set in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FaceId {
    Regular,
    Bold,
    Fallback,
}

pub struct Fonts {
    regular: Typeface,
    bold: Typeface,
    fallback: Typeface,
}

static FONTS: LazyLock<Result<Fonts, String>> = LazyLock::new(|| {
    Ok(Fonts {
        regular: Typeface::load("Noto Sans", NOTO_SANS)?,
        bold: Typeface::load("Noto Sans Bold", NOTO_SANS_BOLD)?,
        fallback: Typeface::load("Droid Sans Fallback", DROID_SANS_FALLBACK)?,
    })
});

/// The embedded fonts, parsed once.
pub fn fonts() -> AppResult<&'static Fonts> {
    FONTS.as_ref().map_err(AppError::internal)
}

/// A piece of text set in one face: its glyphs with advances in ems.
#[derive(Debug, Clone)]
pub struct Run {
    pub face: FaceId,
    pub text: String,
    pub glyphs: Vec<KrillaGlyph>,
    /// The advance of the whole run, in ems.
    pub width: f32,
}

/// A line of text, shaped: runs left to right.
#[derive(Debug, Clone, Default)]
pub struct Shaped {
    pub runs: Vec<Run>,
}

impl Shaped {
    /// The advance of the line at `size` points.
    pub fn width(&self, size: f32) -> f32 {
        self.runs.iter().map(|r| r.width).sum::<f32>() * size
    }
}

/// Marks and joiners stay in the face of the character they attach to.
fn attaches(c: char) -> bool {
    matches!(
        c,
        '\u{0300}'..='\u{036F}'
            | '\u{1AB0}'..='\u{1AFF}'
            | '\u{1DC0}'..='\u{1DFF}'
            | '\u{20D0}'..='\u{20FF}'
            | '\u{FE00}'..='\u{FE0F}'
            | '\u{FE20}'..='\u{FE2F}'
            | '\u{200C}'
            | '\u{200D}'
    )
}

impl Fonts {
    fn face(&self, id: FaceId) -> &Typeface {
        match id {
            FaceId::Regular => &self.regular,
            FaceId::Bold => &self.bold,
            FaceId::Fallback => &self.fallback,
        }
    }

    /// The font krilla embeds for a face.
    pub fn pdf_font(&self, id: FaceId) -> Font {
        self.face(id).pdf.clone()
    }

    /// Shapes one line. Control characters (tabs, line breaks) print as spaces; a
    /// character neither face has prints as the primary face's missing-glyph box (its
    /// text still extracts).
    pub fn shape(&self, text: &str, bold: bool) -> Shaped {
        let primary = if bold { FaceId::Bold } else { FaceId::Regular };
        let mut pieces: Vec<(FaceId, String)> = Vec::new();
        for c in text.chars() {
            let c = if c.is_control() { ' ' } else { c };
            let current = pieces.last().map(|(face, _)| *face);
            let face = match current {
                Some(face) if attaches(c) || c == ' ' => face,
                _ if self.face(primary).has(c) || !self.fallback.has(c) => primary,
                _ => FaceId::Fallback,
            };
            match pieces.last_mut() {
                Some((last, piece)) if *last == face => piece.push(c),
                _ => pieces.push((face, c.to_string())),
            }
        }
        Shaped { runs: pieces.into_iter().map(|(face, text)| self.shape_run(face, text)).collect() }
    }

    fn shape_run(&self, id: FaceId, text: String) -> Run {
        let face = self.face(id);
        let mut buffer = UnicodeBuffer::new();
        buffer.push_str(&text);
        let output = rustybuzz::shape(&face.shaper, &[], buffer);
        // A glyph's text is its cluster: from its cluster start to the next one.
        let mut starts: Vec<usize> = output.glyph_infos().iter().map(|i| i.cluster as usize).collect();
        starts.sort_unstable();
        starts.dedup();
        let em = face.units_per_em;
        let glyphs: Vec<KrillaGlyph> = output
            .glyph_infos()
            .iter()
            .zip(output.glyph_positions())
            .map(|(info, pos)| {
                let start = info.cluster as usize;
                let end = starts.iter().copied().find(|s| *s > start).unwrap_or(text.len());
                KrillaGlyph::new(
                    GlyphId::new(info.glyph_id),
                    pos.x_advance as f32 / em,
                    pos.x_offset as f32 / em,
                    pos.y_offset as f32 / em,
                    pos.y_advance as f32 / em,
                    start..end,
                    None,
                )
            })
            .collect();
        let width = glyphs.iter().map(|g| g.x_advance).sum();
        Run { face: id, text, glyphs, width }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn the_embedded_fonts_parse() {
        assert!(fonts().is_ok());
    }

    #[test]
    fn each_character_takes_the_primary_face_when_it_has_a_glyph_and_the_fallback_otherwise() {
        let fonts = fonts().unwrap();
        let shaped = fonts.shape("Łódź Ελλάδα Москва 東京支社 ok", false);
        let runs: Vec<(FaceId, &str)> = shaped.runs.iter().map(|r| (r.face, r.text.as_str())).collect();
        assert_eq!(
            runs,
            [(FaceId::Regular, "Łódź Ελλάδα Москва "), (FaceId::Fallback, "東京支社 "), (FaceId::Regular, "ok")]
        );
        assert!(shaped.runs.iter().flat_map(|r| &r.glyphs).all(|g| g.glyph_id.to_u32() != 0), "no missing glyph");
        let bold = fonts.shape("Total", true);
        assert_eq!(bold.runs[0].face, FaceId::Bold);
        assert!(bold.width(10.0) > fonts.shape("Total", false).width(10.0) * 0.99);
    }

    #[test]
    fn widths_grow_with_the_text_and_the_size() {
        let fonts = fonts().unwrap();
        let one = fonts.shape("Usługa", false).width(10.0);
        assert!(one > 20.0 && one < 50.0, "{one}");
        assert!((fonts.shape("Usługa", false).width(20.0) - 2.0 * one).abs() < 0.01);
        assert!(fonts.shape("Usługa Usługa", false).width(10.0) > 2.0 * one);
        assert_eq!(fonts.shape("", false).width(10.0), 0.0);
    }
}
