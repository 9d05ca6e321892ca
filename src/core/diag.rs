//! Diagnostics: what is wrong in a policy file, where, and what would be right.
//!
//! A [`Diagnostic`] points at a byte range of the source text; [`render`] turns a list of them
//! into rustc-like text (deterministic, no colours):
//!
//! ```text
//! error: port 70000 is out of range
//!   --> policy.toml:7:12
//!    |
//!  7 | tcp = [22, 70000]
//!    |            ^^^^^
//!    = help: ports are 1-65535
//! ```
//!
//! Pure: no I/O.

use std::fmt;
use std::ops::Range;

use crate::core::model::Loc;

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Severity {
    Error,
    Warning,
}

impl Severity {
    pub fn as_str(self) -> &'static str {
        match self {
            Severity::Error => "error",
            Severity::Warning => "warning",
        }
    }
}

impl fmt::Display for Severity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One problem found in a source text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Diagnostic {
    pub severity: Severity,
    /// Byte offsets into the source text (always on char boundaries, never past its end).
    pub span: Range<usize>,
    /// 1-based line and column (in chars) of `span.start`.
    pub loc: Loc,
    pub message: String,
    /// What would be right, e.g. "did you mean `tcp`?".
    pub help: Option<String>,
    /// The file the span points into, when it is not the policy file itself (a `from_file`
    /// list): its display name and text.
    pub source: Option<std::sync::Arc<(String, String)>>,
}

impl Diagnostic {
    /// An error at `span` of `src`.
    pub fn error(span: Range<usize>, src: &str, message: impl Into<String>) -> Self {
        Self::new(Severity::Error, span, src, message)
    }

    /// A warning at `span` of `src`.
    pub fn warning(span: Range<usize>, src: &str, message: impl Into<String>) -> Self {
        Self::new(Severity::Warning, span, src, message)
    }

    /// A diagnostic of any severity. The span is clamped to `src` and to char boundaries; a
    /// zero-width span at the very end of a file that ends in a newline is moved back onto the
    /// last line, so that it points at something visible.
    pub fn new(
        severity: Severity,
        span: Range<usize>,
        src: &str,
        message: impl Into<String>,
    ) -> Self {
        let span = clamp_span(span, src);
        Diagnostic {
            severity,
            loc: loc_of(src, span.start),
            span,
            message: message.into(),
            help: None,
            source: None,
        }
    }

    pub fn with_help(mut self, help: impl Into<String>) -> Self {
        self.help = Some(help.into());
        self
    }

    pub fn is_error(&self) -> bool {
        self.severity == Severity::Error
    }

    /// This diagnostic as one rustc-like block, ending in a newline.
    pub fn render(&self, file_name: &str, src: &str) -> String {
        let (file_name, src) = match &self.source {
            Some(other) => (other.0.as_str(), other.1.as_str()),
            None => (file_name, src),
        };
        let span = clamp_span(self.span.clone(), src);
        let loc = loc_of(src, span.start);
        let line_start = src[..span.start].rfind('\n').map_or(0, |i| i + 1);
        let line_end = src[span.start..]
            .find('\n')
            .map_or(src.len(), |i| span.start + i);
        let line = src[line_start..line_end]
            .strip_suffix('\r')
            .unwrap_or(&src[line_start..line_end]);

        // Carets: from the span start to its end, clipped to the line; at least one.
        let before = &src[line_start..span.start];
        let pad: String = before
            .chars()
            .map(|c| if c == '\t' { '\t' } else { ' ' })
            .collect();
        let caret_end = span.end.min(line_start + line.len()).max(span.start);
        let width = src[span.start..caret_end].chars().count().max(1);

        let num = loc.line.to_string();
        let gutter = " ".repeat(num.len() + 1);
        let mut out = String::new();
        out.push_str(&format!("{}: {}\n", self.severity, self.message));
        out.push_str(&format!("{} --> {file_name}:{loc}\n", &gutter[1..]));
        out.push_str(&format!("{gutter} |\n"));
        if line.is_empty() {
            out.push_str(&format!(" {num} |\n"));
        } else {
            out.push_str(&format!(" {num} | {line}\n"));
        }
        out.push_str(&format!("{gutter} | {pad}{}\n", "^".repeat(width)));
        if let Some(help) = &self.help {
            let indent = format!("{gutter}         ");
            for (i, l) in help.lines().enumerate() {
                if i == 0 {
                    out.push_str(&format!("{gutter} = help: {l}\n"));
                } else {
                    out.push_str(&format!("{indent}{l}\n"));
                }
            }
        }
        out
    }
}

/// All diagnostics, one block each, blocks separated by a blank line; empty for no diagnostics.
pub fn render(diags: &[Diagnostic], file_name: &str, src: &str) -> String {
    diags
        .iter()
        .map(|d| d.render(file_name, src))
        .collect::<Vec<_>>()
        .join("\n")
}

/// Whether at least one diagnostic is an error (warnings alone do not count).
pub fn has_errors(diags: &[Diagnostic]) -> bool {
    diags.iter().any(Diagnostic::is_error)
}

/// (source pointer and length) → byte offsets where its lines start.
/// The cached line starts of one source text, keyed by where it is, its length and a
/// sample of its bytes: a text freed and another allocated at the same address with the
/// same length (the fuzzer found it) must not reuse the old index.
type LineIndex = Option<((usize, usize, u64), Vec<usize>)>;

/// A sample of `src`: 64 bytes spread over it, hashed (cheap, whatever its length).
fn sample(src: &str) -> u64 {
    let b = src.as_bytes();
    let mut h = crate::core::identity::Fnv::default();
    if !b.is_empty() {
        for i in 0..64 {
            h.bytes(&[b[i * (b.len() - 1) / 63]]);
        }
    }
    h.finish()
}

thread_local! {
    static LINE_INDEX: std::cell::RefCell<LineIndex> = const { std::cell::RefCell::new(None) };
}

/// 1-based line and column (counted in chars) of byte `offset` in `src`.
pub fn loc_of(src: &str, offset: usize) -> Loc {
    let offset = src.floor_char_boundary(offset.min(src.len()));
    let before = &src[..offset];
    // Line starts are indexed once per source text (policies of 50,000 entries ask for
    // 50,000 locations): a binary search instead of a scan from the start each time.
    let (line, line_start) = LINE_INDEX.with(|cell| {
        let mut cache = cell.borrow_mut();
        let key = (src.as_ptr() as usize, src.len(), sample(src));
        if cache.as_ref().is_none_or(|(k, _)| *k != key) {
            let starts: Vec<usize> = std::iter::once(0)
                .chain(src.match_indices('\n').map(|(i, _)| i + 1))
                .collect();
            *cache = Some((key, starts));
        }
        let starts = &cache.as_ref().expect("just filled").1;
        let idx = starts.partition_point(|&s| s <= offset) - 1;
        (idx + 1, starts[idx])
    });
    // (a stale index can no longer be used, but never slice on its word alone)
    let col = before.get(line_start..).map_or(0, |l| l.chars().count()) + 1;
    Loc {
        line: u32::try_from(line).unwrap_or(u32::MAX),
        col: u32::try_from(col).unwrap_or(u32::MAX),
    }
}

fn clamp_span(span: Range<usize>, src: &str) -> Range<usize> {
    let mut start = src.floor_char_boundary(span.start.min(src.len()));
    let mut end = src.ceil_char_boundary(span.end.clamp(start, src.len()));
    if start == src.len() && start == end && start > 0 {
        // Past the last newline: step back onto the last line's end.
        let trimmed = src.trim_end_matches(['\n', '\r']);
        if trimmed.len() < src.len() {
            start = trimmed.len();
            end = start;
        }
    }
    start..end
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_like_rustc() {
        let src = "[[allow]]\nname = \"web\"\ntcp = [22, 70000]\n";
        let at = src.find("70000").unwrap();
        let d = Diagnostic::error(at..at + 5, src, "port 70000 is out of range")
            .with_help("ports are 1-65535");
        assert_eq!(d.loc, Loc { line: 3, col: 12 });
        assert_eq!(
            render(&[d], "policy.toml", src),
            "error: port 70000 is out of range\n\
             \x20 --> policy.toml:3:12\n\
             \x20  |\n\
             \x203 | tcp = [22, 70000]\n\
             \x20  |            ^^^^^\n\
             \x20  = help: ports are 1-65535\n"
        );
    }

    #[test]
    fn wide_gutter_blank_separator_and_clipping() {
        let mut src = "\n".repeat(11);
        src.push_str("x = [1,\n  2]\n");
        let at = src.find('[').unwrap();
        let a = Diagnostic::warning(at..src.len(), &src, "multi-line");
        let b = Diagnostic::error(src.len()..src.len(), &src, "at the end");
        assert_eq!(b.loc, Loc { line: 13, col: 5 });
        let out = render(&[a, b], "f.toml", &src);
        assert_eq!(
            out,
            "warning: multi-line\n\
             \x20  --> f.toml:12:5\n\
             \x20   |\n\
             \x2012 | x = [1,\n\
             \x20   |     ^^^\n\
             \n\
             error: at the end\n\
             \x20  --> f.toml:13:5\n\
             \x20   |\n\
             \x2013 |   2]\n\
             \x20   |     ^\n"
        );
    }

    #[test]
    fn columns_count_chars_and_has_errors() {
        let src = "name = \"é\" # é\nq = 1";
        let at = src.rfind('é').unwrap();
        let w = Diagnostic::warning(at..at + 2, src, "w");
        assert_eq!(w.loc, Loc { line: 1, col: 14 });
        assert!(!has_errors(std::slice::from_ref(&w)));
        let e = Diagnostic::error(100..200, src, "e");
        assert_eq!(e.span, src.len()..src.len());
        assert!(has_errors(&[w, e]));
        assert_eq!(render(&[], "x", src), "");
    }

    #[test]
    fn a_new_text_at_the_old_address_gets_its_own_line_index() {
        // the same buffer, rewritten in place: same address, same length, other lines
        let mut buf = String::from("ab\ncd\nef");
        assert_eq!(loc_of(&buf, 4).line, 2);
        buf.clear();
        buf.push_str("\u{e9}\u{e9}\u{e9}\u{e9}x");
        assert_eq!(buf.len(), 9);
        let l = loc_of(&buf, 4);
        assert_eq!((l.line, l.col), (1, 3));
    }
}
