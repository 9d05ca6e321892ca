//! `-m mac --mac-source XX:XX:XX:XX:XX:XX` and `-m length --length N[:M]` (negated or not)
//! into the condition — the source MAC address a frame must have, and those it must not; the
//! lengths a packet may have — which become an entry's `mac`/`except_mac` and
//! `length`/`except_length`; and how those keys are written and named in the imported policy.

use std::fmt::Write as _;
use std::ops::Range;

use super::cond::Cond;
use super::lex::Tok;
use super::lines::Parser;
use crate::core::header::{mac_text, parse_mac};
use crate::core::model::More;

/// Lengths as the condition keeps them: sorted, disjoint, inclusive ranges of 0 to
/// [`LONGER`], which stands for every length past 65535 (a 65536-byte IPv6 datagram over
/// loopback, a BIG TCP packet: no `--length` range holds them, every `!` does).
pub(super) type Lengths = Vec<(u32, u32)>;

/// A range of lengths as the policy keys hold it.
type Range16 = (u16, u16);

/// Every length past the largest a range can name.
const LONGER: u32 = 65536;

/// The lengths in both sets.
pub(super) fn lengths_and(a: &[(u32, u32)], b: &[(u32, u32)]) -> Lengths {
    let mut out = Vec::new();
    for &(alo, ahi) in a {
        for &(blo, bhi) in b {
            let (lo, hi) = (alo.max(blo), ahi.min(bhi));
            if lo <= hi {
                out.push((lo, hi));
            }
        }
    }
    out.sort_unstable();
    out
}

/// Every length not in `a`.
fn lengths_not(a: &[(u32, u32)]) -> Lengths {
    let mut out = Vec::new();
    let mut next = 0;
    for &(lo, hi) in a {
        if lo > next {
            out.push((next, lo - 1));
        }
        next = hi + 1;
    }
    if next <= LONGER {
        out.push((next, LONGER));
    }
    out
}

/// `--length` as iptables reads it: `N`, `N:M`, `:M` (from 0), `N:` (to 65535).
fn length_range(text: &str) -> Option<(u16, u16)> {
    let (lo, hi) = match text.split_once(':') {
        Some((lo, hi)) => (lo, hi),
        None => (text, text),
    };
    let lo = if lo.is_empty() { 0 } else { lo.parse().ok()? };
    let hi = if hi.is_empty() {
        u16::MAX
    } else {
        hi.parse().ok()?
    };
    (lo <= hi).then_some((lo, hi))
}

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
        if toks[i].text == "--length" {
            return Some(self.length_option(cond, toks, i, neg.is_some()));
        }
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

impl Parser<'_> {
    /// `--length N[:M]`, negated or not: the lengths the packet may have, met with what the
    /// condition already says.
    fn length_option(
        &mut self,
        cond: &mut Cond,
        toks: &[Tok],
        i: usize,
        neg: bool,
    ) -> Option<usize> {
        let v = self.value(toks, i)?;
        let Some((lo, hi)) = length_range(&v.text) else {
            self.err(
                v.span.clone(),
                format!("length `{}`", v.text),
                "a length is a number 0-65535, a range is N:M with N at most M, as iptables reads them",
            );
            return Some(i + 2);
        };
        let mut set = vec![(u32::from(lo), u32::from(hi))];
        if neg {
            set = lengths_not(&set);
        }
        cond.lengths = Some(match &cond.lengths {
            Some(had) => lengths_and(had, &set),
            None => set,
        });
        Some(i + 2)
    }
}

/// The entry's keys of a condition's MAC addresses.
pub(super) fn header_keys(c: &Cond, m: &mut More) {
    m.mac = c.mac.into_iter().collect();
    m.except_mac = c.not_macs.clone();
    if let Some(set) = &c.lengths {
        (m.length, m.except_length) = length_keys(set);
    }
}

/// A set of lengths as policy keys: the ranges of `length` when it holds no length past
/// 65535 (only a `!` does), else those of `except_length` (what it leaves out).
fn length_keys(set: &[(u32, u32)]) -> (Vec<Range16>, Vec<Range16>) {
    let as_u16 = |v: Lengths| -> Vec<Range16> {
        v.into_iter()
            .map(|(lo, hi)| (lo as u16, hi.min(65535) as u16))
            .collect()
    };
    if set.last().is_some_and(|&(_, hi)| hi == LONGER) {
        (Vec::new(), as_u16(lengths_not(set)))
    } else {
        (as_u16(set.to_vec()), Vec::new())
    }
}

/// The policy lines of an entry's header keys (`mac = ["02:00:00:00:00:01"]`, `length =
/// ["0:1500"]`).
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
    for (key, ranges) in [("length", &m.length), ("except_length", &m.except_length)] {
        if !ranges.is_empty() {
            let l: Vec<String> = ranges
                .iter()
                .map(|&(lo, hi)| {
                    if lo == hi {
                        lo.to_string()
                    } else {
                        format!("\"{lo}:{hi}\"")
                    }
                })
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
    for (what, ranges) in [("length", &m.length), ("length-not", &m.except_length)] {
        if let [(lo, hi), ..] = ranges[..] {
            return Some(format!(
                "{what}-{}",
                crate::core::header::range_text(lo, hi)
            ));
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

    #[test]
    fn lengths_meet_and_a_negation_keeps_what_no_range_names() {
        use super::{LONGER, length_keys, length_range, lengths_and, lengths_not};
        assert_eq!(length_range("0:1500"), Some((0, 1500)));
        assert_eq!(length_range("1500"), Some((1500, 1500)));
        assert_eq!(length_range(":100"), Some((0, 100)));
        assert_eq!(length_range("100:"), Some((100, 65535)));
        assert_eq!(length_range("10:5"), None);
        assert_eq!(length_range("70000"), None);
        let not = lengths_not(&[(100, 200)]);
        assert_eq!(not, [(0, 99), (201, LONGER)]);
        assert_eq!(lengths_not(&[(0, 65535)]), [(LONGER, LONGER)]);
        assert_eq!(lengths_and(&not, &[(50, 300)]), [(50, 99), (201, 300)]);
        assert!(lengths_and(&[(0, 99)], &[(100, 200)]).is_empty());
        assert_eq!(length_keys(&[(0, 1500)]), (vec![(0, 1500)], vec![]));
        assert_eq!(length_keys(&not), (vec![], vec![(100, 200)]));
        assert_eq!(length_keys(&[(LONGER, LONGER)]), (vec![], vec![(0, 65535)]));
        let with = |set: Vec<(u32, u32)>| Cond {
            lengths: Some(set),
            ..Cond::default()
        };
        assert!(!with(vec![(0, 99)]).overlaps(&with(vec![(100, 200)])));
        assert!(with(vec![(0, 100)]).overlaps(&with(vec![(100, 200)])));
        assert!(with(vec![(0, 100)]).overlaps(&Cond::default()));
    }
}
