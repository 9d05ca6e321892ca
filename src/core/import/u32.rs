//! `-m u32` (tests of words at computed offsets: the kernel's xt_u32) into the condition,
//! which becomes an entry's `u32` or (`! --u32`) `except_u32` (`core::u32`). The expression
//! is read as iptables reads it, with iptables' refusals at its byte. Two `-m u32` one
//! packet must both pass are one expression of both's tests (xt_u32 ANDs its tests); a
//! negated one stays apart. `-m u32` of an ip6tables file is refused: statewall's `u32`
//! counts its offsets from the IPv4 header.

use std::fmt::Write as _;
use std::ops::Range;

use super::cond::Cond;
use super::lex::Tok;
use super::lines::Parser;
use crate::core::model::More;
use crate::core::u32::{U32, parse};

/// One `-m u32` of a rule, as its option is read: the expression, whether negated, and
/// where its option is (None until `--u32` reads; xtcheck.rs refuses a `-m u32` without it).
#[derive(Debug, Default)]
pub(super) struct U32Opts {
    expr: Option<(U32, bool, Range<usize>)>,
}

impl Parser<'_> {
    /// `--u32` of the last `-m u32` at `toks[i]` (`neg`: a `!` before it): the index after
    /// it, or None when it is not one (or no `-m u32` came before it).
    pub(super) fn u32_option(
        &mut self,
        opts: Option<&mut U32Opts>,
        toks: &[Tok],
        i: usize,
        neg: Option<Range<usize>>,
    ) -> Option<Option<usize>> {
        if toks[i].text != "--u32" {
            return None;
        }
        let o = opts?;
        let Some(v) = self.value(toks, i) else {
            return Some(None);
        };
        match parse(&v.text) {
            Ok(u) => o.expr = Some((u, neg.is_some(), toks[i].span.start..v.span.end)),
            Err(e) => {
                // the byte iptables names, when the word is the text alone or in quotes
                let raw = &self.src[v.span.clone()];
                let quoted = raw.len() == v.text.len() + 2
                    && (raw.starts_with('"') || raw.starts_with('\''))
                    && raw.ends_with(&raw[..1])
                    && raw[1..raw.len() - 1] == v.text;
                let at = if (raw == v.text || quoted)
                    && e.at < v.text.len()
                    && e.why.starts_with("u32:")
                {
                    let p = v.span.start + usize::from(quoted) + e.at;
                    p..p + 1
                } else {
                    v.span.clone()
                };
                let help = if e.why.starts_with("u32:") {
                    "iptables-restore refuses it too"
                } else {
                    "iptables takes it; statewall keeps an expression inline, of at most 8 tests, 24 location numbers and 8 value ranges: shorten it"
                };
                self.err(at, format!("`--u32 {}`: {}", v.text, e.why), help);
            }
        }
        Some(Some(i + 2))
    }

    /// Each `-m u32` of a rule into `cond`: the positive ones as one expression of all
    /// their tests, each negated one apart.
    pub(super) fn u32s_into(&mut self, cond: &mut Cond, all: Vec<U32Opts>) {
        let mut tests = Vec::new();
        let mut first: Option<Range<usize>> = None;
        for o in all {
            let Some((u, not, at)) = o.expr else {
                // xtcheck refused it already (`--u32` is mandatory), or its value did not read
                continue;
            };
            if not {
                if !cond.u32s.contains(&(u, true)) {
                    cond.u32s.push((u, true));
                }
            } else {
                tests.extend(u.tests());
                first.get_or_insert(at);
            }
        }
        let Some(at) = first else { return };
        match U32::new(&tests) {
            Ok(u) => cond.u32s.push((u, false)),
            Err(why) => self.err(
                at,
                format!("two `-m u32` whose tests together make {why}"),
                "a packet must pass both, which statewall writes as one expression of both's tests (at most 8 tests, 24 location numbers and 8 value ranges): shorten them",
            ),
        }
    }
}

/// Why `-m u32` of an ip6tables file, or `-m bpf`, is refused.
pub(super) fn refused_why(module: &str) -> &'static str {
    if module == "u32" {
        "statewall's `u32` counts its offsets from the IPv4 header: an ip6tables `-m u32` has no equivalent"
    } else {
        "statewall runs no BPF program: it matches packets' bytes with `-m string` and `-m u32`"
    }
}

/// The entry's keys of a condition's u32 expressions.
pub(super) fn u32_keys(c: &Cond, m: &mut More) {
    for &(u, not) in &c.u32s {
        if not {
            m.except_u32.push(u);
        } else {
            m.u32.push(u);
        }
    }
}

/// The policy lines of an entry's u32 expressions (`u32 = ["0x34=0x18030000:0x1803ffff"]`).
pub(super) fn u32_text(t: &mut String, m: &More) {
    for (key, list) in [("u32", &m.u32), ("except_u32", &m.except_u32)] {
        if !list.is_empty() {
            let l: Vec<String> = list.iter().map(|u| format!("\"{}\"", u.text())).collect();
            let _ = writeln!(t, "{key} = [{}]", l.join(", "));
        }
    }
}

/// A name for an entry told apart by a u32 expression: `u32-` and its first location's
/// number (`u32-0x34`), `u32-not-…` for an exception.
pub(super) fn u32_name(m: &More) -> Option<String> {
    let (what, u) = match (m.u32.first(), m.except_u32.first()) {
        (Some(u), _) => ("u32", u),
        (None, Some(u)) => ("u32-not", u),
        (None, None) => return None,
    };
    let first = u.tests()[0].0[0].1;
    Some(format!("{what}-{first:#x}"))
}
