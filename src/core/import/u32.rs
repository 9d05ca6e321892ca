//! `-m u32` (tests of words at computed offsets: the kernel's xt_u32) into the condition,
//! which becomes an entry's `u32` or (`! --u32`) `except_u32` (`core::u32`). The expression
//! is read as iptables reads it, with iptables' refusals at its byte. Two `-m u32` one
//! packet must both pass (in one rule, or one of a rule that jumps to it) are one
//! expression of both's tests (xt_u32 ANDs its tests); a negated one stays apart. `-m u32` of an ip6tables file is refused: statewall's `u32`
//! counts its offsets from the IPv4 header.

use std::fmt::Write as _;
use std::ops::Range;

use super::cond::Cond;
use super::lex::Tok;
use super::lines::Parser;
use crate::core::model::More;
use crate::core::u32::{U32, parse};

/// One `-m u32` of a rule, as its option is read: the expression and whether it is negated
/// (None until `--u32` reads; xtcheck.rs refuses a `-m u32` without it).
#[derive(Debug, Default)]
pub(super) struct U32Opts {
    expr: Option<(U32, bool)>,
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
            Ok(u) => o.expr = Some((u, neg.is_some())),
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

    /// Each `-m u32` of a rule into `cond`, once (two that must both hold are joined when
    /// the rule is flattened: [`join_positive`]).
    pub(super) fn u32s_into(&mut self, cond: &mut Cond, all: Vec<U32Opts>) {
        // (one without an expression: xtcheck refused it already, `--u32` is mandatory, or
        // its value did not read)
        for u in all.into_iter().filter_map(|o| o.expr) {
            if !cond.u32s.contains(&u) {
                cond.u32s.push(u);
            }
        }
    }
}

/// The positive expressions of a flattened rule's condition (its own and those of the rules
/// that jump to it) as one: xt_u32 ANDs the tests of an expression, so both holding is one
/// expression of both's tests; the negated ones stay apart (`except_u32`: none holds). Err:
/// more than statewall keeps inline.
pub(super) fn join_positive(c: &mut Cond) -> Result<(), String> {
    let positive: Vec<U32> = c
        .u32s
        .iter()
        .filter(|(_, not)| !not)
        .map(|(u, _)| *u)
        .collect();
    if positive.len() < 2 {
        return Ok(());
    }
    let tests: Vec<_> = positive.iter().flat_map(U32::tests).collect();
    let joined = U32::new(&tests)?;
    c.u32s.retain(|(_, not)| *not);
    c.u32s.insert(0, (joined, false));
    Ok(())
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
