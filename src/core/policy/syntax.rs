//! TOML syntax errors, reported so that one mistake reads as one mistake.
//!
//! An array or inline table left open swallows what follows it and makes the TOML parser
//! report an error on nearly every later line: those are folded into one error at the opening
//! bracket, plus the first one inside (usually next to the actual mistake); nothing after that
//! first one is checked any further.

use std::collections::HashMap;
use std::ops::Range;

use toml::Spanned;
use toml::de::{DeTable, DeValue};

use super::Checker;
use crate::core::diag::{line_start, loc_of};

/// An array (`[`) or inline table (`{`) with its span.
type Container = (Range<usize>, char);

/// What the TOML parser says when a container is never closed, for each kind.
const UNCLOSED: [(&str, char); 2] = [("unclosed array,", '['), ("unclosed inline table,", '{')];

impl Checker<'_> {
    /// Reports the TOML syntax errors, and remembers where they are (see [`Checker::tainted`]).
    pub(super) fn syntax_errors(&mut self, errors: &[toml::de::Error], root: &DeTable<'_>) {
        let mut containers = Vec::new();
        containers_of(root, &mut containers);
        let mut errors: Vec<&toml::de::Error> = errors.iter().collect();
        errors.sort_by_key(|e| e.span().map_or(0, |s| s.start));
        let open = unclosed(&errors, &containers);
        let outer = outermost(&open);
        self.fold_into(&errors, &outer);
        self.swallowed.sort_by_key(|g| g.start);
        self.report_unclosed(open);
        self.syntax.sort_unstable();
    }

    /// Reports every error outside the unclosed `outer` containers (disjoint, by start), and
    /// only the first one inside each; what follows that first one is swallowed.
    fn fold_into(&mut self, errors: &[&toml::de::Error], outer: &[Container]) {
        let mut first_inside: Vec<Option<usize>> = vec![None; outer.len()];
        for e in errors {
            let at = e.span().map_or(0, |s| s.start);
            let holder = outer
                .partition_point(|(r, _)| r.start < at)
                .checked_sub(1)
                .filter(|&i| at <= outer[i].0.end);
            match holder {
                None => self.syntax_error(e),
                Some(i) => {
                    if !is_unclosed_message(e) && first_inside[i].is_none() {
                        first_inside[i] = Some(at);
                        self.syntax_error(e);
                    }
                    self.syntax.push(at);
                }
            }
        }
        for ((r, _), first) in outer.iter().zip(first_inside) {
            self.swallowed.push(first.unwrap_or(r.end)..r.end);
        }
    }

    /// One error at the opening bracket of each unclosed container, unless an earlier one
    /// swallowed it.
    fn report_unclosed(&mut self, mut open: Vec<Container>) {
        open.sort_by_key(|(r, _)| r.start);
        for (r, bracket) in open {
            self.syntax.push(r.start);
            let last = self.swallowed.partition_point(|g| g.start <= r.start);
            if last
                .checked_sub(1)
                .is_some_and(|i| r.start <= self.swallowed[i].end)
            {
                continue; // inside what an earlier unclosed bracket swallowed
            }
            let (what, close) = if bracket == '[' {
                ("array", ']')
            } else {
                ("inline table", '}')
            };
            let first = loc_of(self.src, r.start).line;
            let last = loc_of(self.src, r.end).line;
            let help = if last > first {
                format!(
                    "add the missing `{close}`: everything up to line {last} was read as part of this {what}"
                )
            } else {
                format!("add the missing `{close}`")
            };
            self.error(
                r.start..r.start + 1,
                format!("invalid TOML: this {what} is never closed"),
                Some(help),
            );
        }
    }

    fn syntax_error(&mut self, e: &toml::de::Error) {
        let span = e.span().unwrap_or(0..0);
        let at = span.start;
        let msg = e.message();
        let text = self.text(&span);
        let mut message = format!("invalid TOML: {msg}");
        let help = if msg.starts_with("string values must be quoted") {
            quoting_help(text)
        } else if msg.starts_with("carriage return must be followed by newline") {
            Some("this file's lines end in a bare carriage return (`\\r`, old Mac style): save it with `\\n` (or `\\r\\n`) line ends".into())
        } else if msg == "duplicate key" {
            if !text.is_empty() {
                message = format!("invalid TOML: duplicate key `{text}`");
            }
            Some(self.duplicate_key_help(at))
        } else {
            None
        };
        self.error(span, message, help);
        self.syntax.push(at);
    }

    /// A key written twice: `[allow]` twice means entries written with single brackets.
    fn duplicate_key_help(&self, at: usize) -> String {
        // the start of the line is all that matters: a few bytes, however long the line
        let start = line_start(self.src, at);
        let head = &self.src[start
            ..self
                .src
                .floor_char_boundary((start + 64).min(self.src.len()))];
        let line = head.lines().next().unwrap_or("").trim();
        match ["allow", "reject"]
            .into_iter()
            .find(|k| line.starts_with(&format!("[{k}]")) || line == format!("[{k}]"))
        {
            Some(k) => format!(
                "entries are written [[{k}]], with double brackets: each [[{k}]] header starts one more entry"
            ),
            None => {
                "each key, and each [table], may be written only once; merge the two".to_string()
            }
        }
    }
}

/// What a bare word where a value goes probably meant: numbers missing their commas, a
/// capitalised boolean, or a string missing its quotes.
fn quoting_help(text: &str) -> Option<String> {
    let words: Vec<&str> = text.split_whitespace().collect();
    if words.is_empty() {
        return None;
    }
    let t = text.trim();
    Some(
        if words.len() > 1 && words.iter().all(|w| w.parse::<i64>().is_ok()) {
            format!("separate array elements with commas: {}", words.join(", "))
        } else if t.eq_ignore_ascii_case("true") || t.eq_ignore_ascii_case("false") {
            format!("did you mean {}?", t.to_ascii_lowercase())
        } else {
            format!("did you mean \"{t}\"?")
        },
    )
}

fn is_unclosed_message(e: &toml::de::Error) -> bool {
    UNCLOSED
        .iter()
        .any(|(what, _)| e.message().starts_with(what))
}

/// The containers the parser says are unclosed. They end where its error is; when several
/// containers end there, the unclosed ones are the outermost.
fn unclosed(errors: &[&toml::de::Error], containers: &[Container]) -> Vec<Container> {
    let mut by_end: HashMap<(char, usize), Vec<&Range<usize>>> = HashMap::new();
    for (r, b) in containers {
        by_end.entry((*b, r.end)).or_default().push(r);
    }
    let mut open = Vec::new();
    for (what, bracket) in UNCLOSED {
        // how many such errors end at each place
        let mut ends: Vec<usize> = errors
            .iter()
            .filter(|e| e.message().starts_with(what))
            .filter_map(|e| e.span().map(|s| s.start))
            .collect();
        ends.sort_unstable();
        for run in ends.chunk_by(|a, b| a == b) {
            let Some(here) = by_end.get_mut(&(bracket, run[0])) else {
                continue;
            };
            here.sort_by_key(|r| r.start);
            open.extend(here.iter().take(run.len()).map(|r| ((*r).clone(), bracket)));
        }
    }
    open
}

/// The unclosed containers that no other unclosed container holds: by start (and the wider
/// first), each is held by an earlier one exactly when one of those reaches as far.
fn outermost(open: &[Container]) -> Vec<Container> {
    let mut sorted: Vec<&Container> = open.iter().collect();
    sorted.sort_by_key(|(r, _)| (r.start, std::cmp::Reverse(r.end)));
    let mut out = Vec::new();
    let mut widest: Option<&Range<usize>> = None;
    for c in sorted {
        let r = &c.0;
        match widest {
            Some(w) if w.end >= r.end && w != r => continue,
            Some(w) if w.end >= r.end => {}
            _ => widest = Some(r),
        }
        out.push(c.clone());
    }
    out
}

/// Every array and table value with its span, and `[` or `{` for arrays and tables.
fn containers_of(table: &DeTable<'_>, out: &mut Vec<Container>) {
    for value in table.values() {
        container_value(value, out);
    }
}

fn container_value(value: &Spanned<DeValue<'_>>, out: &mut Vec<Container>) {
    match value.get_ref() {
        DeValue::Array(items) => {
            out.push((value.span(), '['));
            for item in items.iter() {
                container_value(item, out);
            }
        }
        DeValue::Table(t) => {
            out.push((value.span(), '{'));
            containers_of(t, out);
        }
        _ => {}
    }
}
