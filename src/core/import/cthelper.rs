//! `-m helper [!] --helper NAME` (the conntrack helper that expected the connection: its
//! master's) into the condition, which becomes an entry's `helper` or `except_helper`
//! (`core::cthelper`). A connection has one master, so two helpers a packet must both meet
//! make the rule match nothing.

use std::ops::Range;

use super::cond::Cond;
use super::lex::Tok;
use super::lines::Parser;
use crate::core::cthelper::HelperName;
use crate::core::model::More;

impl Parser<'_> {
    /// `--helper` at `toks[i]` into `cond` (`neg`: a `!` before it): the index after its
    /// value, or None when it is not that option.
    pub(super) fn helper_option(
        &mut self,
        cond: &mut Cond,
        toks: &[Tok],
        i: usize,
        neg: Option<Range<usize>>,
    ) -> Option<Option<usize>> {
        if toks[i].text != "--helper" {
            return None;
        }
        let Some(v) = self.value(toks, i) else {
            return Some(None);
        };
        match HelperName::parse(&v.text) {
            Err(why) => self.err(
                v.span.clone(),
                format!("`--helper {}`: {why}", v.text),
                "the kernel's helpers are named so (ftp, irc, sip, pptp, tftp, amanda, Q.931, RAS, netbios-ns, snmp, sane, h245): xt_helper cuts a longer name to 29 characters, and an empty one matches every expected connection; write the helper's own name",
            ),
            Ok(h) if neg.is_some() => {
                if !cond.not_helpers.contains(&h) {
                    cond.not_helpers.push(h);
                }
            }
            Ok(h) => match cond.helper {
                Some(had) if had != h => self.err(
                    v.span.clone(),
                    format!("a second `--helper` ({h}) beside `--helper {had}`"),
                    "a connection has one master, whose helper has one name: the rule matches no packet; remove it",
                ),
                _ => cond.helper = Some(h),
            },
        }
        Some(Some(i + 2))
    }
}

/// The entry's keys of a condition's helpers.
pub(super) fn helper_keys(c: &Cond, m: &mut More) {
    m.helper = c.helper.into_iter().collect();
    m.except_helper = c.not_helpers.clone();
}

/// The policy lines of an entry's helpers (`helper = ["ftp"]`).
pub(super) fn helper_lines(t: &mut String, m: &More) {
    let lists: [(&str, &[_]); 2] = [("helper", &m.helper), ("except_helper", &m.except_helper)];
    super::header::list_lines(t, &lists, |h| format!("\"{h}\""));
}

/// A name for an entry told apart by a helper (`helper-ftp`, `helper-not-irc`).
pub(super) fn helper_name(m: &More) -> Option<String> {
    match (m.helper.first(), m.except_helper.first()) {
        (Some(h), _) => Some(format!("helper-{h}")),
        (None, Some(h)) => Some(format!("helper-not-{h}")),
        (None, None) => None,
    }
}
