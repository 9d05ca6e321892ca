//! ICMP and ICMPv6 type and code names, and TCP flag patterns, as a policy or an iptables
//! rule writes them (re-exported by [`crate::core::model`]).

/// ICMPv4 type names as iptables (`--icmp-type`) and nft know them.
pub const ICMP_TYPES: &[(&str, u8)] = &[
    ("echo-reply", 0),
    ("destination-unreachable", 3),
    ("source-quench", 4),
    ("redirect", 5),
    ("echo-request", 8),
    ("router-advertisement", 9),
    ("router-solicitation", 10),
    ("time-exceeded", 11),
    ("parameter-problem", 12),
    ("timestamp-request", 13),
    ("timestamp-reply", 14),
    ("info-request", 15),
    ("info-reply", 16),
    ("address-mask-request", 17),
    ("address-mask-reply", 18),
    // iptables' aliases (after the names nft writes, which name a type)
    ("pong", 0),
    ("ping", 8),
    ("ttl-exceeded", 11),
];

/// ICMPv4 (type, code) names as iptables (`--icmp-type host-unreachable`) knows them, and
/// nft's where they differ.
pub const ICMP_CODES: &[(&str, u8, u8)] = &[
    ("network-unreachable", 3, 0),
    ("net-unreachable", 3, 0),
    ("host-unreachable", 3, 1),
    ("protocol-unreachable", 3, 2),
    ("prot-unreachable", 3, 2),
    ("port-unreachable", 3, 3),
    ("fragmentation-needed", 3, 4),
    ("frag-needed", 3, 4),
    ("source-route-failed", 3, 5),
    ("network-unknown", 3, 6),
    ("host-unknown", 3, 7),
    ("network-prohibited", 3, 9),
    ("net-prohibited", 3, 9),
    ("host-prohibited", 3, 10),
    ("tos-network-unreachable", 3, 11),
    ("tos-host-unreachable", 3, 12),
    ("communication-prohibited", 3, 13),
    ("admin-prohibited", 3, 13),
    ("host-precedence-violation", 3, 14),
    ("precedence-cutoff", 3, 15),
    ("network-redirect", 5, 0),
    ("host-redirect", 5, 1),
    ("tos-network-redirect", 5, 2),
    ("tos-host-redirect", 5, 3),
    ("ttl-zero-during-transit", 11, 0),
    ("ttl-zero-during-reassembly", 11, 1),
    ("ip-header-bad", 12, 0),
    ("required-option-missing", 12, 1),
];

/// ICMPv6 type names as ip6tables and nft know them.
pub const ICMPV6_TYPES: &[(&str, u8)] = &[
    ("destination-unreachable", 1),
    ("packet-too-big", 2),
    ("time-exceeded", 3),
    ("parameter-problem", 4),
    ("echo-request", 128),
    ("echo-reply", 129),
    ("mld-listener-query", 130),
    ("mld-listener-report", 131),
    ("mld-listener-done", 132),
    ("nd-router-solicit", 133),
    ("router-solicitation", 133),
    ("nd-router-advert", 134),
    ("router-advertisement", 134),
    ("nd-neighbor-solicit", 135),
    ("neighbour-solicitation", 135),
    ("neighbor-solicitation", 135),
    ("nd-neighbor-advert", 136),
    ("neighbour-advertisement", 136),
    ("neighbor-advertisement", 136),
    ("nd-redirect", 137),
    ("mld2-listener-report", 143),
    // ip6tables' aliases (after the names nft writes, which name a type)
    ("ttl-exceeded", 3),
    ("ping", 128),
    ("pong", 129),
    ("redirect", 137),
];

/// ICMPv6 (type, code) names as ip6tables knows them.
pub const ICMPV6_CODES: &[(&str, u8, u8)] = &[
    ("no-route", 1, 0),
    ("communication-prohibited", 1, 1),
    ("admin-prohibited", 1, 1),
    ("beyond-scope", 1, 2),
    ("address-unreachable", 1, 3),
    ("addr-unreachable", 1, 3),
    ("port-unreachable", 1, 4),
    ("failed-policy", 1, 5),
    ("reject-route", 1, 6),
    ("ttl-zero-during-transit", 3, 0),
    ("ttl-zero-during-reassembly", 3, 1),
    ("bad-header", 4, 0),
    ("unknown-header-type", 4, 1),
    ("unknown-option", 4, 2),
];

/// An ICMP (or, `v6`, ICMPv6) type with an optional code, as written in a policy or an
/// iptables rule: `8`, `"echo-request"`, `"3/4"`, `"destination-unreachable/4"`,
/// `"destination-unreachable/port-unreachable"`, `"port-unreachable"` (a code name alone, as
/// iptables takes it). None when it is not one.
pub fn parse_icmp(text: &str, v6: bool) -> Option<(u8, Option<u8>)> {
    let lower = text.trim().to_ascii_lowercase();
    let (types, codes) = if v6 {
        (ICMPV6_TYPES, ICMPV6_CODES)
    } else {
        (ICMP_TYPES, ICMP_CODES)
    };
    let ty_of = |s: &str| -> Option<u8> {
        s.parse::<u8>()
            .ok()
            .or_else(|| types.iter().find(|(n, _)| *n == s).map(|(_, t)| *t))
    };
    if let Some((t, c)) = lower.split_once('/') {
        let ty = ty_of(t)?;
        let code = c.parse::<u8>().ok().or_else(|| {
            codes
                .iter()
                .find(|(n, ct, _)| *n == c && *ct == ty)
                .map(|(_, _, code)| *code)
        })?;
        return Some((ty, Some(code)));
    }
    if let Some(ty) = ty_of(&lower) {
        return Some((ty, None));
    }
    codes
        .iter()
        .find(|(n, _, _)| *n == lower)
        .map(|(_, t, c)| (*t, Some(*c)))
}

/// TCP flag presets for the common scan filters: (name, mask, value).
pub const TCP_FLAG_PRESETS: &[(&str, u8, u8)] = &[
    ("null", 0x3f, 0x00),
    ("xmas", 0x3f, 0x29),
    ("all", 0x3f, 0x3f),
    ("syn-fin", 0x03, 0x03),
    ("syn-rst", 0x06, 0x06),
    ("fin-rst", 0x05, 0x05),
    ("fin-noack", 0x11, 0x01),
    ("psh-noack", 0x18, 0x08),
    ("urg-noack", 0x30, 0x20),
    ("new-nosyn", 0x16, 0x00),
];

/// TCP flags as `value/mask` (`"syn,fin/syn,fin"`, `"/fin,syn,rst,psh,ack,urg"` for none of
/// them, `"syn/syn,rst,ack,fin"`; `all` and `none` stand for the six classic flags and for
/// nothing) or a preset name: (mask, value). The value must lie within the mask.
pub fn parse_tcp_flags(text: &str) -> Result<(u8, u8), String> {
    let lower = text.trim().to_ascii_lowercase();
    if let Some((_, m, v)) = TCP_FLAG_PRESETS.iter().find(|(n, _, _)| *n == lower) {
        return Ok((*m, *v));
    }
    let bits = |s: &str| -> Result<u8, String> {
        let mut b = 0u8;
        for w in s.split(',').map(str::trim).filter(|w| !w.is_empty()) {
            b |= match w {
                "all" => 0x3f,
                "none" => 0,
                _ => crate::core::plan::TCP_FLAGS
                    .iter()
                    .find(|(n, _)| *n == w)
                    .map(|(_, b)| *b)
                    .ok_or_else(|| format!("unknown TCP flag {w:?}"))?,
            };
        }
        Ok(b)
    };
    let Some((v, m)) = lower.split_once('/') else {
        return Err(format!("{text:?} is neither a preset nor \"value/mask\""));
    };
    let (value, mask) = (bits(v)?, bits(m)?);
    if mask == 0 {
        return Err(format!(
            "{text:?} has an empty mask: it would match every packet"
        ));
    }
    if value & !mask != 0 {
        return Err(format!("{text:?}: the flags set must lie within the mask"));
    }
    Ok((mask, value))
}

/// The name of an ICMPv4 type, if it has one.
pub fn icmp_type_name(t: u8) -> Option<&'static str> {
    ICMP_TYPES.iter().find(|(_, n)| *n == t).map(|(s, _)| *s)
}
