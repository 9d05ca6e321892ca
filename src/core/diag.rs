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
//!    = help: ports are 0-65535
//! ```
//!
//! Everything here is bounded, whatever the input: [`Diags`] keeps the first [`SHOWN`]
//! diagnostics in full and only counts the rest, by kind; a rendered block shows at most
//! [`EXCERPT_COLS`] columns of its source line and [`TEXT_MAX`] characters of its message and
//! of its help; a bare `\r` ends a line as `\n` does in a text without a bare `\n` (an old
//! Mac file); locating a byte is a binary search.
//!
//! Pure: no I/O.

use std::collections::HashMap;
use std::fmt;
use std::ops::{Deref, Range};

use crate::core::model::Loc;

/// How many diagnostics are rendered in full; the rest are counted by kind.
pub const SHOWN: usize = 50;
/// The most columns of a source line a rendered diagnostic shows (cut lines are marked `…`).
pub const EXCERPT_COLS: usize = 200;
/// Columns shown before the span when a long line is cut.
const LEAD_COLS: usize = 60;
/// The most characters of a message, or of a help, that are kept and shown.
pub const TEXT_MAX: usize = 1_000;
/// Distinct kinds counted one by one; diagnostics of further kinds are counted together.
const KINDS_KEPT: usize = 64;
/// Kinds listed one by one in the summary.
const KINDS_SHOWN: usize = 10;

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

    /// This diagnostic as one rustc-like block, ending in a newline: at most
    /// [`EXCERPT_COLS`] columns of the line, [`TEXT_MAX`] characters of message and help.
    pub fn render(&self, file_name: &str, src: &str) -> String {
        let (file_name, src) = match &self.source {
            Some(other) => (other.0.as_str(), other.1.as_str()),
            None => (file_name, src),
        };
        let span = clamp_span(self.span.clone(), src);
        let loc = loc_of(src, span.start);
        let ex = excerpt(src, span);

        let num = loc.line.to_string();
        let gutter = " ".repeat(num.len() + 1);
        let mut out = String::new();
        let message = shorten(&self.message, TEXT_MAX);
        out.push_str(&format!("{}: {message}\n", self.severity));
        out.push_str(&format!(
            "{} --> {}:{loc}\n",
            &gutter[1..],
            shorten(file_name, TEXT_MAX)
        ));
        out.push_str(&format!("{gutter} |\n"));
        if ex.line.is_empty() {
            out.push_str(&format!(" {num} |\n"));
        } else {
            out.push_str(&format!(" {num} | {}\n", ex.line));
        }
        out.push_str(&format!("{gutter} | {}{}\n", ex.pad, "^".repeat(ex.carets)));
        if let Some(help) = &self.help {
            let indent = format!("{gutter}         ");
            for (i, l) in shorten(help, TEXT_MAX).lines().enumerate() {
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

/// What a rendered block shows of the source: the line (cut to a window around the span,
/// marked `…` where cut), the padding before the carets, and how many carets.
struct Excerpt {
    line: String,
    pad: String,
    carets: usize,
}

fn is_eol(b: u8) -> bool {
    b == b'\n' || b == b'\r'
}

/// Walks from byte `at` of `src` at most `n` characters back (`back`) or forward, stopping at
/// a line end: where it stops, and how many characters it walked.
fn walk(src: &str, at: usize, n: usize, back: bool) -> (usize, usize) {
    let bytes = src.as_bytes();
    let (mut pos, mut walked) = (at, 0);
    while walked < n {
        if back && pos > 0 && !is_eol(bytes[pos - 1]) {
            pos = src.floor_char_boundary(pos - 1);
        } else if !back && pos < bytes.len() && !is_eol(bytes[pos]) {
            pos = src.ceil_char_boundary(pos + 1);
        } else {
            break;
        }
        walked += 1;
    }
    (pos, walked)
}

/// The part of `span.start`'s line that a block shows: the whole line when it fits in
/// [`EXCERPT_COLS`] columns, else a window of that width around the span's start (at least
/// [`LEAD_COLS`] columns before it). Found by walking from the span, never the whole line.
fn excerpt(src: &str, span: Range<usize>) -> Excerpt {
    let bytes = src.as_bytes();
    let (_, b) = walk(src, span.start, EXCERPT_COLS + 1, true);
    let (_, f) = walk(src, span.start, EXCERPT_COLS + 1, false);
    let lead = if b + f <= EXCERPT_COLS {
        b
    } else {
        b.min(EXCERPT_COLS.saturating_sub(f).max(LEAD_COLS))
    };
    let (begin, _) = walk(src, span.start, lead, true);
    let (end, _) = walk(src, span.start, EXCERPT_COLS - lead, false);
    let cut_before = begin > 0 && !is_eol(bytes[begin - 1]);
    let cut_after = end < bytes.len() && !is_eol(bytes[end]);

    let visible = |c: char| if c == '\t' { c } else { shown_char(c) };
    let mut line = String::new();
    let mut pad = String::new();
    if cut_before {
        line.push('…');
        pad.push(' ');
    }
    line.extend(src[begin..end].chars().map(visible));
    if cut_after {
        line.push('…');
    }
    pad.extend(
        src[begin..span.start]
            .chars()
            .map(|c| if c == '\t' { '\t' } else { ' ' }),
    );
    let caret_end = span.end.min(end).max(span.start);
    let carets = src[span.start..caret_end].chars().count().max(1);
    Excerpt { line, pad, carets }
}

/// A character of a file's text as a terminal or a written comment is given it: control
/// characters and the bidirectional controls (U+061C, U+200E, U+200F, U+202A–U+202E,
/// U+2066–U+2069: they reorder what follows them on screen, so a comment could make the
/// line it sits on read as another) are `�`.
pub fn shown_char(c: char) -> char {
    let bidi = matches!(c, '\u{061c}' | '\u{200e}' | '\u{200f}' | '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}');
    if c.is_control() || bidi {
        '\u{fffd}'
    } else {
        c
    }
}

/// At most `max` characters of `s` (then `…`), with control characters other than newlines
/// and tabs (and the bidirectional controls, [`shown_char`]) shown as `�`: what a terminal
/// is given of a text that came from a file.
pub fn shorten(s: &str, max: usize) -> std::borrow::Cow<'_, str> {
    let clean = |c: char| c == '\n' || c == '\t' || shown_char(c) == c;
    let long = s.len() > max && s.char_indices().nth(max).is_some();
    if !long && s.chars().all(clean) {
        return std::borrow::Cow::Borrowed(s);
    }
    let mut out: String = s
        .chars()
        .take(max)
        .map(|c| if clean(c) { c } else { '\u{fffd}' })
        .collect();
    if long {
        out.push('…');
    }
    std::borrow::Cow::Owned(out)
}

/// All diagnostics, one block each, blocks separated by a blank line; empty for no diagnostics.
/// (A [`Diags`] derefs to the ones it shows; [`Diags::render`] adds what it only counted.)
pub fn render(diags: &[Diagnostic], file_name: &str, src: &str) -> String {
    let mut out = String::new();
    for (i, d) in diags.iter().enumerate() {
        if i > 0 {
            out.push('\n');
        }
        out.push_str(&d.render(file_name, src));
    }
    out
}

/// Whether at least one diagnostic is an error (warnings alone do not count). A [`Diags`]
/// keeps errors before warnings, so this holds for what it shows too.
pub fn has_errors(diags: &[Diagnostic]) -> bool {
    diags.iter().any(Diagnostic::is_error)
}

// ---------------------------------------------------------------------------------------------
// Bounded collection

/// The diagnostics found in one or more texts, bounded: the first [`SHOWN`] (errors before
/// warnings, then by group, file and position) in full, and every other one only counted,
/// by kind. Memory stays the same whether a file has ten problems or ten million.
///
/// Derefs to the diagnostics it shows, in display order (group, file, position, then the order
/// they were found in).
#[derive(Debug, Clone, Default)]
pub struct Diags {
    shown: Vec<Diagnostic>,
    /// (group, sequence number) of each shown diagnostic
    meta: Vec<(u8, u64)>,
    /// which shown one is kept least (when all [`SHOWN`] are taken), once known
    worst: Option<usize>,
    seq: u64,
    errors: usize,
    warnings: usize,
    /// what is not shown, by kind
    counted: Box<Counted>,
}

/// The diagnostics a [`Diags`] does not show, by kind.
#[derive(Debug, Clone, Default)]
struct Counted {
    kinds: Vec<Kind>,
    kind_at: HashMap<(Severity, String), usize>,
    /// of kinds beyond [`KINDS_KEPT`]
    other_kinds: usize,
}

/// Diagnostics of one kind that are not shown: the message with its particulars (numbers,
/// addresses, quoted words) blanked out.
#[derive(Debug, Clone)]
struct Kind {
    severity: Severity,
    class: String,
    /// the first message of this kind, and whether every one said exactly that
    example: String,
    same: bool,
    count: usize,
}

impl Deref for Diags {
    type Target = [Diagnostic];

    fn deref(&self) -> &[Diagnostic] {
        &self.shown
    }
}

impl IntoIterator for Diags {
    type Item = Diagnostic;
    type IntoIter = std::vec::IntoIter<Diagnostic>;

    /// The diagnostics shown, in display order.
    fn into_iter(self) -> Self::IntoIter {
        self.shown.into_iter()
    }
}

impl Diags {
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds a diagnostic of group 0 (the one text, or the main one).
    pub fn push(&mut self, d: Diagnostic) {
        self.push_in(0, d);
    }

    /// [`Diags::push`], unless the same problem (span, message, help) is already shown: for
    /// a walk that meets one rule more than once (an iptables chain reached by two jumps).
    pub fn push_once(&mut self, d: Diagnostic) {
        let mut probe = d.clone();
        cut(&mut probe.message);
        if let Some(h) = &mut probe.help {
            cut(h);
        }
        let again = self
            .shown
            .iter()
            .zip(&self.meta)
            .any(|(s, (g, _))| *g == 0 && *s == probe);
        if !again {
            self.push(d);
        }
    }

    /// Adds a diagnostic of `group` (e.g. which of two input files): groups are shown in
    /// order. Its message and help are cut to [`TEXT_MAX`] characters.
    pub fn push_in(&mut self, group: u8, mut d: Diagnostic) {
        cut(&mut d.message);
        if let Some(h) = &mut d.help {
            cut(h);
        }
        self.seq += 1;
        match d.severity {
            Severity::Error => self.errors += 1,
            Severity::Warning => self.warnings += 1,
        }
        let meta = (group, self.seq);
        if self.shown.len() == SHOWN {
            // the one to let go if this one is better: found once per change of the shown
            let worst = *self.worst.get_or_insert_with(|| {
                (0..SHOWN)
                    .max_by(|&a, &b| {
                        keep_key(&self.shown[a], self.meta[a])
                            .cmp(&keep_key(&self.shown[b], self.meta[b]))
                    })
                    .expect("full")
            });
            if keep_key(&d, meta) > keep_key(&self.shown[worst], self.meta[worst]) {
                self.count(&d);
                return;
            }
            let old = self.shown.remove(worst);
            self.meta.remove(worst);
            self.worst = None;
            self.count(&old);
        }
        let at = self
            .shown
            .iter()
            .zip(&self.meta)
            .position(|(s, m)| show_key(s, *m) > show_key(&d, meta))
            .unwrap_or(self.shown.len());
        self.shown.insert(at, d);
        self.meta.insert(at, meta);
        self.worst = None;
    }

    /// Adds everything `other` holds to group `group`, each shown diagnostic changed by `f`
    /// first (e.g. to say which file it points into); what `other` only counted stays counted.
    pub fn absorb(&mut self, group: u8, other: Diags, mut f: impl FnMut(&mut Diagnostic)) {
        let shown_errors = other.shown.iter().filter(|d| d.is_error()).count();
        let shown_warnings = other.shown.len() - shown_errors;
        self.errors += other.errors - shown_errors;
        self.warnings += other.warnings - shown_warnings;
        for k in other.counted.kinds {
            match self.counted.kind_at.get(&(k.severity, k.class.clone())) {
                Some(&i) => {
                    let mine = &mut self.counted.kinds[i];
                    mine.count += k.count;
                    mine.same &= k.same && mine.example == k.example;
                }
                None => self.add_kind(k),
            }
        }
        self.counted.other_kinds += other.counted.other_kinds;
        for mut d in other.shown {
            f(&mut d);
            self.push_in(group, d);
        }
    }

    /// The diagnostics shown, with their groups, in display order.
    pub fn groups(&self) -> impl Iterator<Item = (u8, &Diagnostic)> {
        self.meta.iter().map(|m| m.0).zip(&self.shown)
    }

    /// Errors found, shown or not.
    pub fn errors(&self) -> usize {
        self.errors
    }

    /// Warnings found, shown or not.
    pub fn warnings(&self) -> usize {
        self.warnings
    }

    /// Diagnostics found, shown or not.
    pub fn total(&self) -> usize {
        self.errors + self.warnings
    }

    /// Diagnostics found but only counted.
    pub fn omitted(&self) -> usize {
        self.total() - self.shown.len()
    }

    pub fn has_errors(&self) -> bool {
        self.errors > 0
    }

    /// What was only counted, by kind (most frequent first), or None when everything is
    /// shown. Ends in a newline.
    pub fn summary(&self) -> Option<String> {
        let omitted = self.omitted();
        if omitted == 0 {
            return None;
        }
        let mut kinds: Vec<&Kind> = self.counted.kinds.iter().collect();
        kinds.sort_by_key(|k| std::cmp::Reverse(k.count));
        let rest: usize = kinds
            .iter()
            .skip(KINDS_SHOWN)
            .map(|k| k.count)
            .sum::<usize>()
            + self.counted.other_kinds;
        let widest = kinds.first().map_or(0, |k| k.count).max(rest);
        let width = thousands(widest).len();
        let mut out = format!("… and {} more, by kind:\n", thousands(omitted));
        for k in kinds.iter().take(KINDS_SHOWN) {
            let text = if k.same { &k.example } else { &k.class };
            let text = shorten(text, EXCERPT_COLS);
            let n = thousands(k.count);
            out.push_str(&format!("  {n:>width$} × {}: {text}\n", k.severity));
        }
        if rest > 0 {
            let n = thousands(rest);
            out.push_str(&format!("  {n:>width$} × of other kinds\n"));
        }
        Some(out)
    }

    /// The rendered blocks, one by one, then the summary: for writing out as they come, so
    /// that no one string holds them all.
    pub fn blocks<'a>(
        &'a self,
        file_name: &'a str,
        src: &'a str,
    ) -> impl Iterator<Item = String> + 'a {
        self.shown
            .iter()
            .enumerate()
            .map(move |(i, d)| {
                let block = d.render(file_name, src);
                if i > 0 { format!("\n{block}") } else { block }
            })
            .chain(self.summary().map(|s| format!("\n{s}")))
    }

    /// Every block and the summary, as one (bounded) string.
    pub fn render(&self, file_name: &str, src: &str) -> String {
        self.blocks(file_name, src).collect()
    }

    fn count(&mut self, d: &Diagnostic) {
        let key = (d.severity, class_of(&d.message));
        if let Some(&i) = self.counted.kind_at.get(&key) {
            let k = &mut self.counted.kinds[i];
            k.count += 1;
            k.same &= k.example == d.message;
            return;
        }
        self.add_kind(Kind {
            severity: d.severity,
            class: key.1,
            example: d.message.clone(),
            same: true,
            count: 1,
        });
    }

    fn add_kind(&mut self, k: Kind) {
        if self.counted.kinds.len() == KINDS_KEPT {
            self.counted.other_kinds += k.count;
            return;
        }
        self.counted
            .kind_at
            .insert((k.severity, k.class.clone()), self.counted.kinds.len());
        self.counted.kinds.push(k);
    }
}

/// Where a diagnostic is shown: group, file (the main one first), position, then the order
/// found.
fn show_key(d: &Diagnostic, (group, seq): (u8, u64)) -> (u8, Option<&str>, usize, u64) {
    let file = d.source.as_ref().map(|s| s.0.as_str());
    (group, file, d.span.start, seq)
}

/// Which diagnostics are kept when there are too many: errors first, then as shown.
fn keep_key(d: &Diagnostic, meta: (u8, u64)) -> (Severity, (u8, Option<&str>, usize, u64)) {
    (d.severity, show_key(d, meta))
}

fn cut(s: &mut String) {
    if let std::borrow::Cow::Owned(short) = shorten(s, TEXT_MAX) {
        *s = short;
    }
}

/// The kind of a message: each number, address, range and quoted text replaced by `…`, so
/// that "tcp port 80 is listed twice" and "tcp port 443 is listed twice" are one kind.
fn class_of(message: &str) -> String {
    let mut out = String::new();
    let mut chars = message.chars().take(EXCERPT_COLS).peekable();
    while let Some(c) = chars.next() {
        match c {
            '"' | '`' | '\'' => {
                out.push(c);
                out.push('…');
                for d in chars.by_ref() {
                    if d == c {
                        break;
                    }
                }
                out.push(c);
            }
            _ if c.is_ascii_alphanumeric() => {
                let mut word = String::from(c);
                while let Some(&d) = chars.peek() {
                    if d.is_ascii_alphanumeric() || matches!(d, '.' | ':' | '/' | '-' | '_') {
                        word.push(d);
                        chars.next();
                    } else {
                        break;
                    }
                }
                let trail = word.len() - word.trim_end_matches(['.', ':', '-']).len();
                let (body, tail) = word.split_at(word.len() - trail);
                if body.bytes().any(|b| b.is_ascii_digit()) {
                    out.push('…');
                } else {
                    out.push_str(body);
                }
                out.push_str(tail);
            }
            _ => out.push(c),
        }
    }
    out
}

/// `69950` as `69,950`.
pub fn thousands(n: usize) -> String {
    let digits = n.to_string();
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

// ---------------------------------------------------------------------------------------------
// Locations

/// Where the lines of one source text start, and (for non-ASCII text) how many UTF-8
/// continuation bytes come before each block of [`BLOCK`] bytes, so that a column is counted
/// in at most [`BLOCK`] steps however long its line.
struct LineIndex {
    key: IndexKey,
    starts: Vec<usize>,
    continuation: Vec<usize>,
    /// the line last asked for: locations mostly come in order, a line or two apart
    hint: std::cell::Cell<usize>,
}

const BLOCK: usize = 256;
/// Source texts whose index is kept (a policy, a `from_file` list, an import's two files and
/// the policy it makes are looked at in turn).
const INDEXES_KEPT: usize = 4;

impl LineIndex {
    fn new(src: &str, key: IndexKey) -> Self {
        let b = src.as_bytes();
        let mut starts = vec![0];
        let bare_cr_ends = bare_cr_ends_lines(b);
        for (i, &c) in b.iter().enumerate() {
            if c == b'\n' || (bare_cr_ends && c == b'\r' && b.get(i + 1) != Some(&b'\n')) {
                starts.push(i + 1);
            }
        }
        let mut continuation = Vec::new();
        if !src.is_ascii() {
            let mut n = 0;
            for chunk in b.chunks(BLOCK) {
                continuation.push(n);
                n += chunk.iter().filter(|&&c| c & 0xC0 == 0x80).count();
            }
            continuation.push(n);
        }
        LineIndex {
            key,
            starts,
            continuation,
            hint: std::cell::Cell::new(0),
        }
    }

    /// The 0-based line holding byte `offset`: the hinted line or the next, else a binary
    /// search.
    fn line_of(&self, offset: usize) -> usize {
        let holds = |i: usize| {
            self.starts[i] <= offset && self.starts.get(i + 1).is_none_or(|&next| offset < next)
        };
        let h = self.hint.get();
        let line = if holds(h) {
            h
        } else if h + 1 < self.starts.len() && holds(h + 1) {
            h + 1
        } else {
            self.starts.partition_point(|&s| s <= offset) - 1
        };
        self.hint.set(line);
        line
    }

    /// How many chars `src[..at]` holds.
    fn chars_before(&self, src: &str, at: usize) -> usize {
        if self.continuation.is_empty() {
            return at;
        }
        let block = at / BLOCK;
        let tail = src.as_bytes()[block * BLOCK..at]
            .iter()
            .filter(|&&c| c & 0xC0 == 0x80)
            .count();
        at - self.continuation[block] - tail
    }
}

/// Which text an index belongs to: its address and length, and a sample of its bytes (a
/// text freed and another allocated in its place rarely has the same sample).
type IndexKey = (usize, usize, [u8; 48]);

fn index_key(src: &str) -> IndexKey {
    let b = src.as_bytes();
    let mut sample = [0u8; 48];
    let mut put = |at: usize, from: usize| {
        let part = &b[from.min(b.len())..(from + 16).min(b.len())];
        sample[at..at + part.len()].copy_from_slice(part);
    };
    put(0, 0);
    put(16, b.len() / 2);
    put(32, b.len().saturating_sub(16));
    (src.as_ptr() as usize, src.len(), sample)
}

thread_local! {
    static LINE_INDEX: std::cell::RefCell<Vec<LineIndex>> = const { std::cell::RefCell::new(Vec::new()) };
}

/// Whether a bare `\r` ends a line of text `b`: in a text of `\r` line ends (an old Mac
/// file, perhaps with a `\r\n` in it) it does; in a text of `\n` lines it is a byte inside
/// one, as iptables-restore, grep -n and sed count lines, so the lines after it keep their
/// numbers.
fn bare_cr_ends_lines(b: &[u8]) -> bool {
    !b.iter()
        .enumerate()
        .any(|(i, &c)| c == b'\n' && (i == 0 || b[i - 1] != b'\r'))
}

/// 1-based line and column (counted in chars) of byte `offset` in `src`. Lines end at `\n`
/// (or `\r\n`), and at a bare `\r` in a text with no `\n` of its own ([`bare_cr_ends_lines`]).
pub fn loc_of(src: &str, offset: usize) -> Loc {
    let offset = src.floor_char_boundary(offset.min(src.len()));
    // Line starts are indexed once per source text (policies of 50,000 entries ask for
    // 50,000 locations): a binary search (or the line asked for last) instead of a scan from
    // the start each time.
    let (line, col) = with_index(src, |ix| {
        let idx = ix.line_of(offset);
        let start = ix.starts[idx];
        (
            idx + 1,
            ix.chars_before(src, offset) - ix.chars_before(src, start) + 1,
        )
    });
    Loc {
        line: u32::try_from(line).unwrap_or(u32::MAX),
        col: u32::try_from(col).unwrap_or(u32::MAX),
    }
}

/// Byte offset where the line holding byte `offset` of `src` starts.
pub fn line_start(src: &str, offset: usize) -> usize {
    let offset = offset.min(src.len());
    with_index(src, |ix| ix.starts[ix.line_of(offset)])
}

/// Forgets every line index: a parse starts with this, and so does reading each list file,
/// so that a text freed and another allocated at its address, with the same length and the
/// same sampled bytes (the fuzzer of `cargo xtask soak` made one), never meets a stale index.
pub fn new_texts() {
    LINE_INDEX.with(|cell| cell.borrow_mut().clear());
}

fn with_index<T>(src: &str, f: impl FnOnce(&LineIndex) -> T) -> T {
    let key = index_key(src);
    LINE_INDEX.with(|cell| {
        let mut kept = cell.borrow_mut();
        match kept.iter().position(|ix| ix.key == key) {
            Some(0) => {}
            Some(i) => {
                let ix = kept.remove(i);
                kept.insert(0, ix);
            }
            None => {
                kept.insert(0, LineIndex::new(src, key));
                kept.truncate(INDEXES_KEPT);
            }
        }
        f(&kept[0])
    })
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
mod tests;
