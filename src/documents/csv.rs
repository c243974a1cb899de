//! RFC 4180 CSV: fields with commas, quotes or line breaks are quoted (quotes doubled),
//! records end with CRLF.
//!
//! Spreadsheets run a cell that starts with `=`, `+`, `-`, `@`, a tab or a carriage return
//! as a formula (`=HYPERLINK(...)` in an invoice line would be a live link). Such cells get
//! a leading `'`, as OWASP recommends ("CSV injection"), so they show as the text they are.
//! Plain numbers (`-12.50`) are left alone: they cannot be formulas, and amounts stay numbers.

use std::borrow::Cow;

fn is_plain_number(value: &str) -> bool {
    let digits = value.strip_prefix('-').unwrap_or(value);
    let mut parts = digits.splitn(2, '.');
    let whole = parts.next().unwrap_or("");
    let fraction = parts.next();
    !whole.is_empty()
        && whole.bytes().all(|b| b.is_ascii_digit())
        && fraction.is_none_or(|f| !f.is_empty() && f.bytes().all(|b| b.is_ascii_digit()))
}

fn neutralised(value: &str) -> Cow<'_, str> {
    let starts_formula = value.starts_with(['=', '+', '-', '@', '\t', '\r']);
    if starts_formula && !is_plain_number(value) { Cow::Owned(format!("'{value}")) } else { Cow::Borrowed(value) }
}

pub fn field(value: &str) -> Cow<'_, str> {
    let value = neutralised(value);
    if value.contains([',', '"', '\r', '\n']) {
        Cow::Owned(format!("\"{}\"", value.replace('"', "\"\"")))
    } else {
        value
    }
}

/// Appends one record.
pub fn record<S: AsRef<str>>(out: &mut String, fields: &[S]) {
    let line: Vec<Cow<'_, str>> = fields.iter().map(|f| field(f.as_ref())).collect();
    out.push_str(&line.join(","));
    out.push_str("\r\n");
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quotes_only_what_needs_quoting() {
        let mut out = String::new();
        record(&mut out, &["plain", "a,b", "say \"hi\"", "two\nlines", ""]);
        assert_eq!(out, "plain,\"a,b\",\"say \"\"hi\"\"\",\"two\nlines\",\r\n");
    }

    #[test]
    fn formulas_are_neutralised_and_numbers_are_not() {
        for (cell, written) in [
            ("=HYPERLINK(\"http://x\")", "\"'=HYPERLINK(\"\"http://x\"\")\""),
            ("+1+2", "'+1+2"),
            ("-1+2", "'-1+2"),
            ("@SUM(A1)", "'@SUM(A1)"),
            ("\tx", "'\tx"),
            ("\rx", "\"'\rx\""),
            ("-12.50", "-12.50"),
            ("-7", "-7"),
            ("a=b", "a=b"),
        ] {
            assert_eq!(field(cell), written, "{cell:?}");
        }
    }
}
