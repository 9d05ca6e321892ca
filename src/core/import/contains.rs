//! `-m string` (a pattern searched for in the packet's bytes: the kernel's xt_string) into
//! the condition, which becomes an entry's `contains` or (`! --string`) `except_contains`
//! (`core::payload`). Each `-m string` holds one pattern (`--string TEXT` or `--hex-string
//! "|00ff|text"`) with `--algo bm|kmp` (iptables needs it), `--from N`, `--to N` (0 and
//! 65535 by default) and `--icase`. Two patterns one packet must both hold are refused when
//! the rule is flattened (`contains` is any of its patterns); negated ones are each an
//! `except_contains`.

use std::fmt::Write as _;
use std::ops::Range;

use super::cond::Cond;
use super::lex::Tok;
use super::lines::Parser;
use crate::core::model::More;
use crate::core::payload::{Algo, Pattern, parse_hex_string};

/// One `-m string` of a rule, as its options are read.
#[derive(Debug, Default)]
pub(super) struct StringOpts {
    /// where `-m string` is
    at: Range<usize>,
    /// the pattern's bytes, whether negated, and where its option is
    pattern: Option<(Vec<u8>, bool, Range<usize>)>,
    algo: Option<Algo>,
    from: Option<u16>,
    to: Option<u16>,
    icase: bool,
    /// an option of it was refused already (said once)
    refused: bool,
}

impl StringOpts {
    pub(super) fn new(at: Range<usize>) -> StringOpts {
        StringOpts {
            at,
            ..StringOpts::default()
        }
    }
}

impl Parser<'_> {
    /// An option of the last `-m string` at `toks[i]` (`neg`: a `!` before it): the index
    /// after it, or None when it is not one (or no `-m string` came before it).
    pub(super) fn string_option(
        &mut self,
        opts: Option<&mut StringOpts>,
        toks: &[Tok],
        i: usize,
        neg: Option<Range<usize>>,
    ) -> Option<Option<usize>> {
        let t = &toks[i];
        let name = t.text.as_str();
        if !matches!(
            name,
            "--string" | "--hex-string" | "--algo" | "--from" | "--to" | "--icase"
        ) {
            return None;
        }
        let o = opts?;
        if let (Some(n), false) = (&neg, matches!(name, "--string" | "--hex-string")) {
            self.err(
                n.start..t.span.end,
                format!("a negation of `{name}`"),
                "iptables negates the pattern only: `! --string`, `! --hex-string`",
            );
        }
        if name == "--icase" {
            o.icase = true;
            return Some(Some(i + 1));
        }
        let Some(v) = self.value(toks, i) else {
            return Some(None);
        };
        let vspan = t.span.start..v.span.end;
        match name {
            "--string" | "--hex-string" if o.pattern.is_some() => self.err(
                vspan,
                "a second pattern in one `-m string`",
                "iptables refuses it too (\"Can't specify multiple strings\"): give each pattern its own `-m string`",
            ),
            "--string" => o.pattern = Some((v.text.into_bytes(), neg.is_some(), vspan)),
            "--hex-string" => match hex_text(&v.text) {
                Ok(b) => o.pattern = Some((b, neg.is_some(), vspan)),
                Err(why) => {
                    o.refused = true;
                    self.err(
                    v.span.clone(),
                    format!("`--hex-string {}`: {why}", v.text),
                    "write bytes as pairs of hex digits between `|`: \"|0000ff0001|\"",
                    );
                }
            },
            "--algo" => match Algo::from_name(&v.text) {
                Some(a) => o.algo = Some(a),
                None => self.err(
                    v.span.clone(),
                    format!("`--algo {}`", v.text),
                    "the kernel searches with bm (Boyer-Moore) or kmp (Knuth-Morris-Pratt)",
                ),
            },
            _ => match v.text.parse::<u16>() {
                Ok(n) if name == "--from" => o.from = Some(n),
                Ok(n) => o.to = Some(n),
                Err(_) => self.err(
                    v.span.clone(),
                    format!("`{name} {}`", v.text),
                    "an offset is a whole number from 0 to 65535",
                ),
            },
        }
        Some(Some(i + 2))
    }

    /// Each `-m string` of a rule into `cond` as a pattern, or refused where it is.
    pub(super) fn strings_into(&mut self, cond: &mut Cond, all: Vec<StringOpts>) {
        for o in all.into_iter().filter(|o| !o.refused) {
            let Some((bytes, not, at)) = o.pattern else {
                self.err(
                    o.at,
                    "`-m string` without `--string` or `--hex-string`",
                    "iptables refuses it too: give the pattern",
                );
                continue;
            };
            let Some(algo) = o.algo else {
                self.err(
                    o.at,
                    "`-m string` without `--algo`",
                    "iptables refuses it too: add --algo bm (or kmp)",
                );
                continue;
            };
            let (from, to) = (o.from.unwrap_or(0), o.to.unwrap_or(u16::MAX));
            match Pattern::new(&bytes, algo, from, to, o.icase) {
                Ok(p) if !cond.patterns.contains(&(p, not)) => cond.patterns.push((p, not)),
                Ok(_) => {}
                Err(why) => self.err(
                    at,
                    format!("a search for {why}"),
                    "iptables-restore refuses it too",
                ),
            }
        }
    }
}

/// `--hex-string`'s text: `|hex|` runs among plain characters; a `\` escape (which iptables
/// reads too) is refused rather than read another way.
fn hex_text(s: &str) -> Result<Vec<u8>, String> {
    if s.contains('\\') {
        return Err("a `\\` escape, which statewall does not read".into());
    }
    parse_hex_string(s)
}

/// The entry's keys of a condition's patterns.
pub(super) fn contains_keys(c: &Cond, m: &mut More) {
    for &(p, not) in &c.patterns {
        if not {
            m.except_contains.push(p);
        } else {
            m.contains.push(p);
        }
    }
}

/// A pattern as the policy writes it: its text, or a table when it has bytes that are not
/// text or options that differ from the defaults.
fn pattern_text(p: &Pattern) -> String {
    let plain = p.algo == Algo::Bm && p.from == 0 && p.to == u16::MAX && !p.icase;
    let what = if p.is_text() {
        format!("\"{}\"", std::str::from_utf8(p.bytes()).expect("text"))
    } else {
        format!("{{ hex = \"{}\"", p.hex())
    };
    if plain && p.is_text() {
        return what;
    }
    let mut s = if p.is_text() {
        format!("{{ text = {what}")
    } else {
        what
    };
    if p.algo != Algo::Bm {
        let _ = write!(s, ", algo = \"{}\"", p.algo.name());
    }
    if p.from != 0 {
        let _ = write!(s, ", from_offset = {}", p.from);
    }
    if p.to != u16::MAX {
        let _ = write!(s, ", to_offset = {}", p.to);
    }
    if p.icase {
        s.push_str(", ignore_case = true");
    }
    s.push_str(" }");
    s
}

/// The policy lines of an entry's patterns (`contains = ["sipvicious"]`).
pub(super) fn contains_text(t: &mut String, m: &More) {
    for (key, list) in [
        ("contains", &m.contains),
        ("except_contains", &m.except_contains),
    ] {
        if !list.is_empty() {
            let l: Vec<String> = list.iter().map(pattern_text).collect();
            let _ = writeln!(t, "{key} = [{}]", l.join(", "));
        }
    }
}

/// A name for an entry told apart by a pattern (`string-sipvicious`), from its text's
/// letters and digits, or `string-hex` for bytes that are not text.
pub(super) fn contains_name(m: &More) -> Option<String> {
    let (what, p) = match (m.contains.first(), m.except_contains.first()) {
        (Some(p), _) => ("string", p),
        (None, Some(p)) => ("string-not", p),
        (None, None) => return None,
    };
    let word: String = std::str::from_utf8(p.bytes())
        .unwrap_or("")
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() {
                c.to_ascii_lowercase()
            } else {
                '-'
            }
        })
        .collect();
    let word = word.trim_matches('-');
    let word = if p.is_text() && !word.is_empty() {
        word
    } else {
        "hex"
    };
    Some(format!(
        "{what}-{}",
        word.chars().take(24).collect::<String>()
    ))
}
