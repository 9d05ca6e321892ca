//! `-m mac --mac-source XX:XX:XX:XX:XX:XX` (negated or not) into the condition — the source
//! MAC address a frame must have, and those it must not — which becomes an entry's `mac` and
//! `except_mac`; and how those keys are written and named in the imported policy.

use std::fmt::Write as _;
use std::ops::Range;

use super::cond::Cond;
use super::lex::Tok;
use super::lines::Parser;
use crate::core::header::{mac_text, parse_mac};
use crate::core::model::More;

impl Parser<'_> {
    /// The mac option at `toks[i]`; None when it is none, else where the next option starts
    /// (None inside: the value is missing). A rule and the rules that jump to it meet by
    /// intersection: two different addresses leave no frame.
    pub(super) fn header_option(
        &mut self,
        cond: &mut Cond,
        toks: &[Tok],
        i: usize,
        neg: Option<Range<usize>>,
    ) -> Option<Option<usize>> {
        if toks[i].text != "--mac-source" {
            return None;
        }
        let Some(v) = self.value(toks, i) else {
            return Some(None);
        };
        let Some(mac) = parse_mac(&v.text).filter(|_| !v.text.contains('-')) else {
            self.err(
                v.span.clone(),
                format!("MAC address `{}`", v.text),
                "a MAC address is six pairs of hex digits separated by colons (XX:XX:XX:XX:XX:XX), as iptables reads it",
            );
            return Some(Some(i + 2));
        };
        if neg.is_some() {
            if !cond.not_macs.contains(&mac) {
                cond.not_macs.push(mac);
            }
        } else {
            cond.mac = Some(mac);
        }
        Some(Some(i + 2))
    }
}

/// The entry's keys of a condition's MAC addresses.
pub(super) fn header_keys(c: &Cond, m: &mut More) {
    m.mac = c.mac.into_iter().collect();
    m.except_mac = c.not_macs.clone();
}

/// The policy lines of an entry's header keys (`mac = ["02:00:00:00:00:01"]`).
pub(super) fn header_text(t: &mut String, m: &More) {
    for (key, macs) in [("mac", &m.mac), ("except_mac", &m.except_mac)] {
        if !macs.is_empty() {
            let l: Vec<String> = macs
                .iter()
                .map(|&a| format!("\"{}\"", mac_text(a)))
                .collect();
            let _ = writeln!(t, "{key} = [{}]", l.join(", "));
        }
    }
}

/// A name for an entry told apart by its header keys (`mac-02-00-00-00-00-01`).
pub(super) fn header_name(m: &More) -> Option<String> {
    for (what, macs) in [("mac", &m.mac), ("mac-not", &m.except_mac)] {
        if let [a, ..] = macs[..] {
            return Some(format!("{what}-{}", mac_text(a).replace(':', "-")));
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::super::cond::Cond;

    #[test]
    fn an_address_and_its_negation_keep_rules_apart() {
        let a = [2, 0, 0, 0, 0, 1];
        let b = [2, 0, 0, 0, 0, 2];
        let with = |f: &dyn Fn(&mut Cond)| {
            let mut c = Cond::default();
            f(&mut c);
            c
        };
        let is_a = with(&|c| c.mac = Some(a));
        let not_a = with(&|c| c.not_macs = vec![a]);
        let is_b = with(&|c| c.mac = Some(b));
        assert!(!is_a.overlaps(&not_a));
        assert!(!is_a.overlaps(&is_b));
        assert!(is_b.overlaps(&not_a));
        assert!(is_a.overlaps(&Cond::default()));
        let both = is_b.and(&not_a).expect("B is not A");
        assert_eq!((both.mac, both.not_macs), (Some(b), vec![a]));
        assert!(is_a.and(&is_b).is_none());
    }
}
