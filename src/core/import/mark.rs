//! `-m mark [!] --mark VALUE[/MASK]` (the packet's mark, which other programs set) into the
//! condition, which becomes an entry's `mark` or `except_mark` (`core::mark`). A second
//! `-m mark` that a packet must also meet narrows the first (their masks together); one no
//! mark can meet with it makes the rule match nothing.

use std::ops::Range;

use super::cond::Cond;
use super::lex::Tok;
use super::lines::Parser;
use crate::core::mark::{mark_text, parse_mark};
use crate::core::model::More;

/// A mark under its mask: (value, mask).
pub(super) type Mark = (u32, u32);

/// Whether some mark meets both.
pub(super) fn marks_meet(a: Mark, b: Mark) -> bool {
    let common = a.1 & b.1;
    a.0 & common == b.0 & common
}

/// Both at once (when [`marks_meet`]): the bits of both masks.
pub(super) fn marks_and(a: Mark, b: Mark) -> Mark {
    (a.0 | b.0, a.1 | b.1)
}

/// Whether every mark `pos` matches is one `not` excludes.
pub(super) fn mark_excluded(pos: &Mark, not: &Mark) -> bool {
    not.1 & !pos.1 == 0 && pos.0 & not.1 == not.0
}

impl Parser<'_> {
    /// `--mark` at `toks[i]` into `cond` (`neg`: a `!` before it): the index after its value,
    /// or None when it is not that option.
    pub(super) fn mark_option(
        &mut self,
        cond: &mut Cond,
        toks: &[Tok],
        i: usize,
        neg: Option<Range<usize>>,
    ) -> Option<Option<usize>> {
        if toks[i].text != "--mark" {
            return None;
        }
        let Some(v) = self.value(toks, i) else {
            return Some(None);
        };
        match parse_mark(&v.text) {
            Err(why) => {
                let help = if why.contains("not a number") {
                    "iptables-restore refuses it too: it reads a mark as a number 0-4294967295, decimal or hex after 0x"
                } else {
                    "a value with bits its mask clears matches no packet (iptables-restore loads it): remove the rule, or write the value under its mask"
                };
                self.err(v.span.clone(), format!("`--mark {}`: {why}", v.text), help);
            }
            Ok(m) if neg.is_some() => {
                if !cond.not_marks.contains(&m) {
                    cond.not_marks.push(m);
                }
            }
            Ok(m) => {
                cond.mark = Some(match cond.mark {
                    Some(had) if marks_meet(had, m) => marks_and(had, m),
                    Some(_) => {
                        self.err(
                            v.span.clone(),
                            "a second `--mark` no packet's mark can meet with the first",
                            "the rule matches no packet: remove it",
                        );
                        m
                    }
                    None => m,
                });
            }
        }
        Some(Some(i + 2))
    }
}

/// The entry's keys of a condition's marks.
pub(super) fn mark_keys(c: &Cond, m: &mut More) {
    m.mark = c.mark.into_iter().collect();
    m.except_mark = c.not_marks.clone();
}

/// The policy lines of an entry's marks (`mark = ["0xca6c"]`).
pub(super) fn mark_lines(t: &mut String, m: &More) {
    let lists: [(&str, &[_]); 2] = [("mark", &m.mark), ("except_mark", &m.except_mark)];
    super::header::list_lines(t, &lists, |&k| format!("\"{}\"", mark_text(k)));
}

/// A name for an entry told apart by a mark (`mark-0xca6c`, `mark-not-0xca6c`).
pub(super) fn mark_name(m: &More) -> Option<String> {
    let (what, k) = match (m.mark.first(), m.except_mark.first()) {
        (Some(k), _) => ("mark", k),
        (None, Some(k)) => ("mark-not", k),
        (None, None) => return None,
    };
    Some(format!("{what}-{}", mark_text(*k).replace('/', "-")))
}
