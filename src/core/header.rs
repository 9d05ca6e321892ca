//! What the link-layer and IP headers say of a packet, as an entry matches it: the source
//! MAC address of the ethernet frame it arrived in (`mac`, nft's `ether saddr`; iptables'
//! `-m mac --mac-source`), the packet's length (`length`, nft's `meta length`; iptables'
//! `-m length`) and its TTL or hop limit (`ttl`, nft's `ip ttl` and `ip6 hoplimit`; iptables'
//! `-m ttl`, ip6tables' `-m hl`), and their exceptions. Pure data, no I/O.

use crate::core::model::More;
use crate::core::plan::Match;

/// A MAC address as people write it: six pairs of hex digits separated by `:` (or `-`),
/// any case. None for anything else.
pub fn parse_mac(text: &str) -> Option<[u8; 6]> {
    let sep = if text.contains('-') { '-' } else { ':' };
    let mut out = [0u8; 6];
    let mut parts = text.split(sep);
    for b in &mut out {
        let p = parts.next()?;
        if p.len() != 2 || !p.bytes().all(|c| c.is_ascii_hexdigit()) {
            return None;
        }
        *b = u8::from_str_radix(p, 16).ok()?;
    }
    parts.next().is_none().then_some(out)
}

/// A MAC address as nft and the policy write it: `02:00:00:00:00:01`.
pub fn mac_text(mac: [u8; 6]) -> String {
    let parts: Vec<String> = mac.iter().map(|b| format!("{b:02x}")).collect();
    parts.join(":")
}

/// Whether an entry says anything of the source MAC address.
pub fn has_mac(m: &More) -> bool {
    !m.mac.is_empty() || !m.except_mac.is_empty()
}

/// One variant per positive value (none: one variant without), each with every exception
/// (`!=`): the shape of every "any of these, none of those" key (`mac`, `rt_type`, …).
pub(crate) fn variants<T: Copy>(
    pos: &[T],
    not: &[T],
    one: impl Fn(T, bool) -> Match,
) -> Vec<Vec<Match>> {
    let nots: Vec<Match> = not.iter().map(|&v| one(v, true)).collect();
    if pos.is_empty() {
        return vec![nots];
    }
    pos.iter()
        .map(|&v| {
            let mut m = vec![one(v, false)];
            m.extend(nots.iter().copied());
            m
        })
        .collect()
}

/// The source-MAC matches of an entry's rules: one variant per `mac`, each with every
/// `except_mac` as `!=`; `[[]]` for an entry that uses neither. Both need a frame that came
/// in on an ethernet device (nft checks `meta iiftype ether` first, as xt_mac does).
pub fn mac_matches(m: &More) -> Vec<Vec<Match>> {
    variants(&m.mac, &m.except_mac, |mac, not| Match::EtherSrc {
        mac,
        not,
    })
}

/// Whether an entry says anything of the packet's length.
pub fn has_length(m: &More) -> bool {
    !m.length.is_empty() || !m.except_length.is_empty()
}

/// Whether an entry says anything of the TTL (hop limit).
pub fn has_ttl(m: &More) -> bool {
    !m.ttl.is_empty() || !m.except_ttl.is_empty()
}

/// Whether an entry has a match whose IPv4 and IPv6 forms differ (the TTL, IPv6's hop
/// limit): its rules are made per family.
pub fn per_family(m: &More) -> bool {
    has_ttl(m)
}

/// The TTL matches of an entry's rules of one family (`ip ttl` for IPv4, `ip6 hoplimit` for
/// IPv6): one variant per `ttl` range, each with every `except_ttl` as its negation; `[[]]`
/// for an entry that uses neither.
pub fn ttl_matches(m: &More, v6: bool) -> Vec<Vec<Match>> {
    variants(&m.ttl, &m.except_ttl, |(lo, hi), not| match (lo, hi, not) {
        // an exception from one end is a range from the other (`except_ttl = "<5"` is `ip ttl
        // > 4`), as nft writes it and reads it back
        (0, h, true) if h < 255 => Match::Ttl {
            v6,
            lo: h + 1,
            hi: 255,
            not: false,
        },
        (l, 255, true) if l > 0 => Match::Ttl {
            v6,
            lo: 0,
            hi: l - 1,
            not: false,
        },
        _ => Match::Ttl { v6, lo, hi, not },
    })
}

/// A TTL range as the policy writes it: `64`, `"<64"`, `">64"`, `"6-9"`.
pub fn ttl_text((lo, hi): (u8, u8)) -> String {
    match (lo, hi) {
        (l, h) if l == h => l.to_string(),
        (0, h) if h < 255 => format!("<{}", h + 1),
        (l, 255) if l > 0 => format!(">{}", l - 1),
        (l, h) => format!("{l}-{h}"),
    }
}

/// Whether nft writes a TTL range with `range neq` (a negated range neither end of which is
/// an end of 0-255; the others are one comparison).
pub fn ttl_range_neq(lo: u8, hi: u8, not: bool) -> bool {
    not && lo != hi && !(lo == 0 && hi < 255) && !(hi == 255 && lo > 0)
}

/// A TTL range as nft writes it: `64`, `< 64`, `> 63`, `6-9`, and negated `!= 64`, `> 63`
/// (not below 64), `< 64`, `!= 6-9`.
pub fn nft_ttl_text(lo: u8, hi: u8, not: bool) -> String {
    match (lo, hi, not) {
        (l, h, false) if l == h => l.to_string(),
        (l, h, true) if l == h => format!("!= {l}"),
        (0, h, false) if h < 255 => format!("< {}", h + 1),
        (0, h, true) if h < 255 => format!("> {h}"),
        (l, 255, false) if l > 0 => format!("> {}", l - 1),
        (l, 255, true) if l > 0 => format!("< {l}"),
        (l, h, false) => format!("{l}-{h}"),
        (l, h, true) => format!("!= {l}-{h}"),
    }
}

/// The length matches of an entry's rules: one variant per `length` range, each with every
/// `except_length` as `!=`; `[[]]` for an entry that uses neither.
pub fn length_matches(m: &More) -> Vec<Vec<Match>> {
    variants(&m.length, &m.except_length, |(lo, hi), not| Match::Length {
        lo,
        hi,
        not,
    })
}

/// A length range as the policy and nft write it: `1500`, `0-1500`.
pub fn range_text(lo: u16, hi: u16) -> String {
    if lo == hi {
        lo.to_string()
    } else {
        format!("{lo}-{hi}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mac_addresses_as_written_and_as_nft_writes_them() {
        let a = [0x02, 0, 0, 0, 0, 0x01];
        assert_eq!(parse_mac("02:00:00:00:00:01"), Some(a));
        assert_eq!(parse_mac("02-00-00-00-00-01"), Some(a));
        assert_eq!(
            parse_mac("AA:bb:CC:dd:EE:ff"),
            Some([0xaa, 0xbb, 0xcc, 0xdd, 0xee, 0xff])
        );
        for bad in [
            "",
            "02:00:00:00:00",
            "02:00:00:00:00:01:02",
            "2:0:0:0:0:1",
            "02:00:00:00:00:0g",
            "02:00-00:00:00:01",
            "0200.0000.0001",
            "+2:00:00:00:00:01",
        ] {
            assert_eq!(parse_mac(bad), None, "{bad}");
        }
        assert_eq!(
            mac_text([0xaa, 0xbb, 0xcc, 0, 0x0d, 0xff]),
            "aa:bb:cc:00:0d:ff"
        );
    }

    #[test]
    fn one_rule_per_mac_and_every_exception_in_each() {
        assert_eq!(mac_matches(&More::default()), vec![Vec::<Match>::new()]);
        let (a, b, c) = ([2, 0, 0, 0, 0, 1], [2, 0, 0, 0, 0, 2], [2, 0, 0, 0, 0, 3]);
        let e = |mac, not| Match::EtherSrc { mac, not };
        let m = More {
            mac: vec![a, b],
            except_mac: vec![c],
            ..Default::default()
        };
        assert_eq!(
            mac_matches(&m),
            vec![vec![e(a, false), e(c, true)], vec![e(b, false), e(c, true)]]
        );
    }

    #[test]
    fn one_rule_per_length_range_and_every_exception_in_each() {
        let l = |lo, hi, not| Match::Length { lo, hi, not };
        assert_eq!(length_matches(&More::default()), vec![Vec::<Match>::new()]);
        let m = More {
            length: vec![(0, 100), (1500, 65535)],
            except_length: vec![(576, 576)],
            ..Default::default()
        };
        assert_eq!(
            length_matches(&m),
            vec![
                vec![l(0, 100, false), l(576, 576, true)],
                vec![l(1500, 65535, false), l(576, 576, true)]
            ]
        );
        assert_eq!(range_text(1500, 1500), "1500");
        assert_eq!(range_text(0, 1500), "0-1500");
    }

    #[test]
    fn ttl_ranges_as_the_policy_and_nft_write_them() {
        assert_eq!(ttl_text((64, 64)), "64");
        assert_eq!(ttl_text((0, 63)), "<64");
        assert_eq!(ttl_text((65, 255)), ">64");
        assert_eq!(ttl_text((6, 9)), "6-9");
        assert_eq!(ttl_text((0, 255)), "0-255");
        assert_eq!(nft_ttl_text(64, 64, false), "64");
        assert_eq!(nft_ttl_text(64, 64, true), "!= 64");
        assert_eq!(nft_ttl_text(0, 63, false), "< 64");
        assert_eq!(nft_ttl_text(0, 63, true), "> 63");
        assert_eq!(nft_ttl_text(65, 255, false), "> 64");
        assert_eq!(nft_ttl_text(65, 255, true), "< 65");
        assert_eq!(nft_ttl_text(6, 9, true), "!= 6-9");
        assert_eq!(nft_ttl_text(0, 255, false), "0-255");
        let m = More {
            ttl: vec![(0, 63)],
            except_ttl: vec![(1, 1)],
            ..Default::default()
        };
        let t = |lo, hi, not| Match::Ttl {
            v6: true,
            lo,
            hi,
            not,
        };
        assert_eq!(
            ttl_matches(&m, true),
            vec![vec![t(0, 63, false), t(1, 1, true)]]
        );
        let ends = More {
            except_ttl: vec![(0, 4), (250, 255), (6, 9)],
            ..Default::default()
        };
        assert_eq!(
            ttl_matches(&ends, true),
            vec![vec![t(5, 255, false), t(0, 249, false), t(6, 9, true)]]
        );
        assert!(per_family(&m) && !per_family(&More::default()));
    }
}
