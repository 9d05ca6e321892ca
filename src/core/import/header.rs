//! `-m mac --mac-source XX:XX:XX:XX:XX:XX`, `-m length --length N[:M]`, `-m tcpmss --mss
//! N[:M]`, `-m ttl --ttl-eq|--ttl-lt|--ttl-gt N` and ip6tables' `-m hl --hl-eq|--hl-lt|--hl-gt
//! N` (negated where iptables takes a `!`) into the condition — the source MAC address a frame
//! must have, and those it must not; the lengths a packet may have; the MSS values a TCP
//! segment may carry (or none); the TTLs (hop limits) it may have — which become an entry's
//! `mac`/`except_mac`, `length`/`except_length`, `tcp_mss`/`except_tcp_mss` and
//! `ttl`/`except_ttl`; and how those keys are written and named in the imported policy.

use std::fmt::Write as _;
use std::ops::Range;

use super::cond::Cond;
use super::lex::Tok;
use super::lines::Parser;
use crate::core::header::mac_text;
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
        if let Some(next) = self.owner_option(cond, toks, i, neg.clone()) {
            return Some(next);
        }
        if toks[i].text == "--length" {
            return Some(self.length_option(cond, toks, i, neg.is_some()));
        }
        if toks[i].text == "--mss" {
            return Some(self.mss_option(cond, toks, i, neg.is_some()));
        }
        let ttl = match self.fam {
            super::Fam::V4 => ["--ttl-eq", "--ttl-lt", "--ttl-gt"],
            super::Fam::V6 => ["--hl-eq", "--hl-lt", "--hl-gt"],
        };
        if ttl.contains(&toks[i].text.as_str()) {
            return Some(self.ttl_option(cond, toks, i, neg));
        }
        if toks[i].text != "--mac-source" {
            return None;
        }
        let Some(v) = self.value(toks, i) else {
            return Some(None);
        };
        let Some(mac) = xt_mac(&v.text) else {
            self.err(
                v.span.clone(),
                format!("MAC address `{}`", v.text),
                "a MAC address is six groups of one or two hex digits separated by colons (XX:XX:XX:XX:XX:XX), as iptables reads it",
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

/// A MAC address as libxtables reads one (`xtopt_parse_ethermac`): six groups separated by
/// `:`, each `strtoul(…, 16)` of at most two characters, so `0:1:2:3:4:5` is
/// 00:01:02:03:04:05, a `+` may lead a digit and an empty group is 0.
fn xt_mac(text: &str) -> Option<[u8; 6]> {
    let mut out = [0u8; 6];
    let mut parts = text.split(':');
    for b in &mut out {
        let p = parts.next()?;
        let digits = p.strip_prefix('+').filter(|d| !d.is_empty()).unwrap_or(p);
        if p.len() > 2 || !digits.bytes().all(|c| c.is_ascii_hexdigit()) {
            return None;
        }
        *b = if digits.is_empty() {
            0
        } else {
            u8::from_str_radix(digits, 16).ok()?
        };
    }
    parts.next().is_none().then_some(out)
}

/// A set of TTLs (hop limits): bit `t` of word `t / 64`.
pub(super) type Ttls = [u64; 4];

/// A range of TTLs as the policy keys hold it.
type TtlRange = (u8, u8);

/// The TTLs in both sets.
pub(super) fn ttls_and(a: Ttls, b: Ttls) -> Ttls {
    [a[0] & b[0], a[1] & b[1], a[2] & b[2], a[3] & b[3]]
}

/// Whether a set holds no TTL.
pub(super) fn no_ttl(a: Ttls) -> bool {
    a == [0; 4]
}

fn has_ttl(a: Ttls, t: u8) -> bool {
    a[usize::from(t / 64)] & (1 << (t % 64)) != 0
}

/// The set of TTLs `lo..=hi`.
fn ttl_range(lo: u8, hi: u8) -> Ttls {
    let mut s = [0; 4];
    for t in lo..=hi {
        s[usize::from(t / 64)] |= 1 << (t % 64);
    }
    s
}

/// A set's runs of TTLs, as ranges.
fn ttl_runs(a: Ttls) -> Vec<TtlRange> {
    let mut out: Vec<TtlRange> = Vec::new();
    for t in 0..=255u8 {
        if !has_ttl(a, t) {
            continue;
        }
        match out.last_mut() {
            Some((_, hi)) if u16::from(*hi) + 1 == u16::from(t) => *hi = t,
            _ => out.push((t, t)),
        }
    }
    out
}

/// A set of TTLs as policy keys: its runs as `ttl`, or those of what it leaves out as
/// `except_ttl`, whichever are fewer (`! --ttl-eq 64` is `except_ttl = [64]`).
fn ttl_keys(a: Ttls) -> (Vec<TtlRange>, Vec<TtlRange>) {
    let yes = ttl_runs(a);
    let no = ttl_runs(a.map(|w| !w));
    if yes.len() <= no.len() {
        (yes, Vec::new())
    } else {
        (Vec::new(), no)
    }
}

impl Parser<'_> {
    /// `--ttl-eq|--ttl-lt|--ttl-gt N` (`-m ttl`) and `--hl-*` (`-m hl`), `!` on the `-eq`
    /// only (as iptables takes it): the TTLs the packet may have, met with what the
    /// condition already says. iptables reads the TTL (hop limit) from the header, as nft's
    /// `ip ttl` and `ip6 hoplimit` do.
    fn ttl_option(
        &mut self,
        cond: &mut Cond,
        toks: &[Tok],
        i: usize,
        neg: Option<Range<usize>>,
    ) -> Option<usize> {
        let t = &toks[i];
        let op = &t.text[t.text.len() - 2..];
        if let Some(n) = neg.clone().filter(|_| op != "eq") {
            self.err(
                n.start..t.span.end,
                format!("a negation of `{}`", t.text),
                "iptables takes a `!` on --ttl-eq and --hl-eq only (\"cannot be inverted\"): write the opposite comparison",
            );
            return Some(i + 2);
        }
        let v = self.value(toks, i)?;
        let Ok(n) = v.text.parse::<u8>() else {
            self.err(
                v.span.clone(),
                format!("TTL `{}`", v.text),
                "a TTL (hop limit) is a number 0-255",
            );
            return Some(i + 2);
        };
        let set = match op {
            "eq" => ttl_range(n, n),
            "lt" if n == 0 => [0; 4],
            "lt" => ttl_range(0, n - 1),
            _ if n == 255 => [0; 4],
            _ => ttl_range(n + 1, 255),
        };
        let set = if neg.is_some() { set.map(|w| !w) } else { set };
        cond.ttls = Some(match cond.ttls {
            Some(had) => ttls_and(had, set),
            None => set,
        });
        Some(i + 2)
    }

    /// `--length N[:M]`, negated or not: the lengths the packet may have, met with what the
    /// condition already says.
    fn length_option(
        &mut self,
        cond: &mut Cond,
        toks: &[Tok],
        i: usize,
        neg: bool,
    ) -> Option<usize> {
        let what = ("length", "a length");
        self.range_option(&mut cond.lengths, (toks, i), neg, what)
    }

    /// `-m tcpmss --mss N[:M]`, negated or not: the MSS values the segment may carry (a
    /// `!` also takes segments without the option, as xt_tcpmss does), met with what the
    /// condition had.
    fn mss_option(&mut self, cond: &mut Cond, toks: &[Tok], i: usize, neg: bool) -> Option<usize> {
        self.range_option(&mut cond.mss, (toks, i), neg, ("MSS", "an MSS"))
    }

    /// A range option's value (`N`, `N:M`, `:M`, `N:`; what a `!` leaves, past 65535 too)
    /// met with the set the condition had; `what`: its name, and with an article.
    fn range_option(
        &mut self,
        had: &mut Option<Lengths>,
        (toks, i): (&[Tok], usize),
        neg: bool,
        (what, a_what): (&str, &str),
    ) -> Option<usize> {
        let v = self.value(toks, i)?;
        let Some((lo, hi)) = length_range(&v.text) else {
            self.err(
                v.span.clone(),
                format!("{what} `{}`", v.text),
                format!("{a_what} is a number 0-65535, a range is N:M with N at most M, as iptables reads them"),
            );
            return Some(i + 2);
        };
        let mut set = vec![(u32::from(lo), u32::from(hi))];
        if neg {
            set = lengths_not(&set);
        }
        *had = Some(match had {
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
    super::owner::owner_keys(c, m);
    if let Some(set) = &c.lengths {
        (m.length, m.except_length) = length_keys(set);
    }
    // a set with segments without the option is `except_tcp_mss` (which takes them too)
    if let Some(set) = &c.mss {
        (m.tcp_mss, m.except_tcp_mss) = length_keys(set);
    }
    if let Some(set) = c.ttls {
        (m.ttl, m.except_ttl) = ttl_keys(set);
    }
    super::contains::contains_keys(c, m);
    super::u32::u32_keys(c, m);
    super::mark::mark_keys(c, m);
    super::cthelper::helper_keys(c, m);
    super::clock::clock_keys(&c.clocks, m);
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

/// `key = [a, b]` for each key whose list is not empty, each item as `item` writes it: the
/// shape of the "any of these" keys' policy lines.
pub(super) fn list_lines<T>(t: &mut String, lists: &[(&str, &[T])], item: impl Fn(&T) -> String) {
    for (key, list) in lists {
        if !list.is_empty() {
            let l: Vec<String> = list.iter().map(&item).collect();
            let _ = writeln!(t, "{key} = [{}]", l.join(", "));
        }
    }
}

/// The policy lines of an entry's header keys (`mac = ["02:00:00:00:00:01"]`, `length =
/// ["0:1500"]`).
pub(super) fn header_text(t: &mut String, m: &More) {
    super::owner::owner_text(t, m);
    super::contains::contains_text(t, m);
    super::u32::u32_text(t, m);
    super::mark::mark_lines(t, m);
    super::cthelper::helper_lines(t, m);
    super::clock::clock_lines(t, m);
    list_lines(t, &[("mac", &m.mac), ("except_mac", &m.except_mac)], |&a| {
        format!("\"{}\"", mac_text(a))
    });
    for (key, ranges) in [("ttl", &m.ttl), ("except_ttl", &m.except_ttl)] {
        if !ranges.is_empty() {
            let l: Vec<String> = ranges
                .iter()
                .map(|&(lo, hi)| match crate::core::header::ttl_text((lo, hi)) {
                    t if lo == hi => t,
                    t => format!("\"{t}\""),
                })
                .collect();
            let _ = writeln!(t, "{key} = [{}]", l.join(", "));
        }
    }
    for (key, ranges) in [
        ("length", &m.length),
        ("except_length", &m.except_length),
        ("tcp_mss", &m.tcp_mss),
        ("except_tcp_mss", &m.except_tcp_mss),
    ] {
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
    if let Some(name) = super::contains::contains_name(m).or_else(|| super::u32::u32_name(m)) {
        return Some(name);
    }
    if let Some(name) = super::mark::mark_name(m)
        .or_else(|| super::cthelper::helper_name(m))
        .or_else(|| super::clock::clock_name(m))
    {
        return Some(name);
    }
    for (what, macs) in [("mac", &m.mac), ("mac-not", &m.except_mac)] {
        if let [a, ..] = macs[..] {
            return Some(format!("{what}-{}", mac_text(a).replace(':', "-")));
        }
    }
    for (what, ranges) in [("ttl", &m.ttl), ("ttl-not", &m.except_ttl)] {
        if let [(lo, hi), ..] = ranges[..] {
            let t = crate::core::header::ttl_text((lo, hi));
            let t = t.replace('<', "below-").replace('>', "above-");
            return Some(format!("{what}-{t}"));
        }
    }
    for (what, ranges) in [
        ("length", &m.length),
        ("length-not", &m.except_length),
        ("mss", &m.tcp_mss),
        ("mss-not", &m.except_tcp_mss),
    ] {
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

    #[test]
    fn ttl_sets_meet_and_become_the_keys_that_list_fewer() {
        use super::{no_ttl, ttl_keys, ttl_range, ttls_and};
        assert_eq!(ttl_keys(ttl_range(0, 4)), (vec![(0, 4)], vec![]));
        assert_eq!(ttl_keys(ttl_range(65, 255)), (vec![(65, 255)], vec![]));
        let not64 = ttl_range(64, 64).map(|w| !w);
        assert_eq!(ttl_keys(not64), (vec![], vec![(64, 64)]));
        let both = ttls_and(not64, ttl_range(63, 255));
        assert_eq!(ttl_keys(both), (vec![(63, 63), (65, 255)], vec![]));
        assert!(no_ttl(ttls_and(ttl_range(0, 4), ttl_range(5, 9))));
        let with = |set| Cond {
            ttls: Some(set),
            ..Cond::default()
        };
        assert!(!with(ttl_range(0, 4)).overlaps(&with(ttl_range(5, 255))));
        assert!(with(not64).overlaps(&with(ttl_range(63, 64))));
        assert!(!with(not64).overlaps(&with(ttl_range(64, 64))));
    }
}
