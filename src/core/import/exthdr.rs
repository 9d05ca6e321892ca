//! `-m rt --rt-type N` (ip6tables) and `-m tcp --tcp-option N` (negated or not) into the
//! condition — the routing header types a packet may have, the TCP option kinds it must and
//! must not carry — which become an entry's `rt_type`/`except_rt_type` and
//! `tcp_option`/`except_tcp_option`. The rt match's other options are refused.

use std::ops::Range;

use super::cond::Cond;
use super::lex::Tok;
use super::lines::Parser;

/// A set of routing header types (bit `t` of word `t / 64`): a packet matches when it has a
/// routing header of one of them (ip6t_rt: none at all never matches, `!` or not).
pub(super) type RtTypes = [u64; 4];

/// Every routing header type.
pub(super) const ALL_RT_TYPES: RtTypes = [u64::MAX; 4];

fn bit(t: u8) -> RtTypes {
    let mut s = [0; 4];
    s[usize::from(t / 64)] = 1 << (t % 64);
    s
}

pub(super) fn rt_and(a: RtTypes, b: RtTypes) -> RtTypes {
    [a[0] & b[0], a[1] & b[1], a[2] & b[2], a[3] & b[3]]
}

pub(super) fn rt_empty(a: RtTypes) -> bool {
    a == [0; 4]
}

/// A set's policy keys: (`rt_type`, `except_rt_type`), whichever lists fewer types. Both
/// match only packets that have a routing header, as the set does.
pub(super) fn rt_keys(set: RtTypes) -> (Vec<u8>, Vec<u8>) {
    let has = |t: u8| set[usize::from(t / 64)] & (1 << (t % 64)) != 0;
    let (yes, no): (Vec<u8>, Vec<u8>) = (0..=255u8).partition(|&t| has(t));
    if yes.len() <= no.len() {
        (yes, Vec::new())
    } else {
        (Vec::new(), no)
    }
}

/// The rt match's options statewall does not map, and why.
const RT_REFUSED: &[(&str, bool, &str)] = &[
    (
        "--rt-segsleft",
        true,
        "statewall matches a routing header's type only (`rt_type`), not its segments left",
    ),
    (
        "--rt-len",
        true,
        "statewall matches a routing header's type only (`rt_type`), not its length",
    ),
    (
        "--rt-0-res",
        false,
        "statewall matches a routing header's type only (`rt_type`), not the reserved field of a type 0 header",
    ),
    (
        "--rt-0-addrs",
        true,
        "statewall matches a routing header's type only (`rt_type`), not the addresses of a type 0 header",
    ),
    (
        "--rt-0-not-strict",
        false,
        "statewall matches a routing header's type only (`rt_type`), not the addresses of a type 0 header",
    ),
];

impl Parser<'_> {
    /// The rt or tcp-option option at `toks[i]`; None when it is none, else where the next
    /// option starts (None inside: the value is missing).
    pub(super) fn exthdr_option(
        &mut self,
        cond: &mut Cond,
        toks: &[Tok],
        i: usize,
        neg: Option<Range<usize>>,
    ) -> Option<Option<usize>> {
        let t = &toks[i];
        if let Some((o, takes_value, why)) = RT_REFUSED.iter().find(|(o, ..)| *o == t.text) {
            let end = if *takes_value {
                self.value(toks, i)
                    .map(|v| v.span.end)
                    .unwrap_or(t.span.end)
            } else {
                t.span.end
            };
            let start = neg.as_ref().map_or(t.span.start, |n| n.start);
            self.err(start..end, format!("`{o}` of `-m rt`"), *why);
            return Some(Some((i + 1 + usize::from(*takes_value)).min(toks.len())));
        }
        let rt = match t.text.as_str() {
            "--rt-type" => true,
            "--tcp-option" => false,
            _ => return None,
        };
        let v = self.value(toks, i)?;
        let Ok(n) = v.text.parse::<u8>() else {
            let what = if rt {
                "routing header type"
            } else {
                "TCP option kind"
            };
            self.err(
                v.span.clone(),
                format!("{what} `{}`", v.text),
                format!("a {what} is a number 0-255"),
            );
            return Some(Some(i + 2));
        };
        if rt {
            let set = if neg.is_some() {
                rt_and(ALL_RT_TYPES, bit(n).map(|w| !w))
            } else {
                bit(n)
            };
            cond.rt_types = Some(rt_and(cond.rt_types.unwrap_or(ALL_RT_TYPES), set));
        } else {
            if cond.proto != Some(6) {
                self.err(
                    t.span.clone(),
                    "`--tcp-option` without `-p tcp`",
                    "TCP options are in TCP headers: add -p tcp before it",
                );
            }
            if neg.is_some() {
                cond.not_tcp_opts.push(n);
            } else {
                cond.tcp_opts.push(n);
            }
        }
        Some(Some(i + 2))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sets_become_the_keys_that_say_them_exactly() {
        // --rt-type 0
        assert_eq!(rt_keys(bit(0)), (vec![0], vec![]));
        // ! --rt-type 0: a routing header of any other type
        let not0 = rt_and(ALL_RT_TYPES, bit(0).map(|w| !w));
        assert_eq!(rt_keys(not0), (vec![], vec![0]));
        // ! 0, then (a jump) ! 200
        let both = rt_and(not0, bit(200).map(|w| !w));
        assert_eq!(rt_keys(both), (vec![], vec![0, 200]));
        assert!(rt_empty(rt_and(bit(0), not0)));
        assert!(!rt_empty(rt_and(bit(2), not0)));
        assert_eq!(rt_keys(bit(255)), (vec![255], vec![]));
    }

    #[test]
    fn options_and_routing_headers_keep_rules_apart_only_when_proven() {
        let with = |f: &dyn Fn(&mut Cond)| {
            let mut c = Cond::default();
            f(&mut c);
            c
        };
        let has64 = with(&|c| c.tcp_opts = vec![64]);
        let not64 = with(&|c| c.not_tcp_opts = vec![64]);
        assert!(!has64.overlaps(&not64), "a segment carries 64 or not");
        assert_eq!(has64.and(&not64), None);
        assert!(has64.overlaps(&with(&|c| c.tcp_opts = vec![128])));
        assert!(has64.overlaps(&with(&|c| c.not_tcp_opts = vec![128])));
        // a rule without options meets every one (conservative)
        assert!(has64.overlaps(&Cond::default()));
        let rt0 = with(&|c| c.rt_types = Some(bit(0)));
        let not0 = with(&|c| c.rt_types = Some(rt_and(ALL_RT_TYPES, bit(0).map(|w| !w))));
        assert!(!rt0.overlaps(&not0));
        assert!(rt0.overlaps(&Cond::default()));
        let both = has64.and(&rt0).expect("one packet can have both");
        assert_eq!((both.tcp_opts, both.rt_types), (vec![64], Some(bit(0))));
    }
}
