//! `--icmp-type TYPE[/CODE]` (and `--icmpv6-type`) into the condition: a type, a type with a
//! code, or a code name (which names its type too); `any` says nothing. `! --icmp-type TYPE`
//! is every type but this one (an entry's `except_icmp`, `except_icmpv6`: nft's `icmp type
//! != 8`); a negated type with a code, or `! any`, is refused where written.

use std::ops::Range;

use super::Fam;
use super::cond::Cond;
use super::lex::Tok;
use super::lines::Parser;
use crate::core::model::parse_icmp;

impl Parser<'_> {
    /// `--icmp-type`/`--icmpv6-type` at `toks[i]` into `cond` (`neg`: a `!` before it): the
    /// index after its value, or None when it is not an ICMP type option.
    pub(super) fn icmp_option(
        &mut self,
        cond: &mut Cond,
        toks: &[Tok],
        i: usize,
        neg: Option<Range<usize>>,
    ) -> Option<Option<usize>> {
        let t = &toks[i];
        if !matches!(t.text.as_str(), "--icmp-type" | "--icmpv6-type") {
            return None;
        }
        let Some(v) = self.value(toks, i) else {
            return Some(None);
        };
        let v6 = self.fam == Fam::V6;
        let what = if v6 { "ICMPv6" } else { "ICMP" };
        let (parsed, any) = match iptables_icmp(&v.text, v6) {
            Ok(Some(ty)) => (Some(ty), false),
            Ok(None) => (None, true),
            Err(why) => {
                self.err(
                    v.span.clone(),
                    format!("{what} type `{}`: {why}", v.text),
                    "write a type by name or number, a type/code pair (3/4), or a code name (port-unreachable)",
                );
                return Some(Some(i + 2));
            }
        };
        match (neg, parsed) {
            (None, _) if any => {}
            (None, Some(ty)) => cond.icmp = Some(ty),
            (Some(n), _) if any => self.err(
                n.start..v.span.end,
                format!("`! {} any`: no {what} packet", t.text),
                "the rule matches nothing; remove it",
            ),
            (Some(_), Some((ty, None))) => {
                if !cond.not_icmp.contains(&ty) {
                    cond.not_icmp.push(ty);
                }
            }
            (Some(n), Some((ty, Some(code)))) => self.err(
                n.start..v.span.end,
                format!("a negation of {what} type {ty} with code {code}"),
                "statewall excepts whole types (`except_icmp = [3]`: every packet of the other types); to leave out one code, write the codes the rule takes as positive rules",
            ),
            (_, None) => self.err(
                v.span.clone(),
                format!("{what} type `{}`", v.text),
                "write a type by name or number, a type/code pair (3/4), or a code name (port-unreachable)",
            ),
        }
        Some(Some(i + 2))
    }
}

/// The ICMP names iptables 1.8 knows (`iptables -p icmp -h`): (name, type, code), `any` with
/// type 255.
const IPTABLES_ICMP: &[(&str, u8, Option<u8>)] = &[
    ("any", 255, None),
    ("echo-reply", 0, None),
    ("pong", 0, None),
    ("destination-unreachable", 3, None),
    ("network-unreachable", 3, Some(0)),
    ("host-unreachable", 3, Some(1)),
    ("protocol-unreachable", 3, Some(2)),
    ("port-unreachable", 3, Some(3)),
    ("fragmentation-needed", 3, Some(4)),
    ("source-route-failed", 3, Some(5)),
    ("network-unknown", 3, Some(6)),
    ("host-unknown", 3, Some(7)),
    ("network-prohibited", 3, Some(9)),
    ("host-prohibited", 3, Some(10)),
    ("tos-network-unreachable", 3, Some(11)),
    ("tos-host-unreachable", 3, Some(12)),
    ("communication-prohibited", 3, Some(13)),
    ("host-precedence-violation", 3, Some(14)),
    ("precedence-cutoff", 3, Some(15)),
    ("source-quench", 4, None),
    ("redirect", 5, None),
    ("network-redirect", 5, Some(0)),
    ("host-redirect", 5, Some(1)),
    ("tos-network-redirect", 5, Some(2)),
    ("tos-host-redirect", 5, Some(3)),
    ("echo-request", 8, None),
    ("ping", 8, None),
    ("router-advertisement", 9, None),
    ("router-solicitation", 10, None),
    ("time-exceeded", 11, None),
    ("ttl-exceeded", 11, None),
    ("ttl-zero-during-transit", 11, Some(0)),
    ("ttl-zero-during-reassembly", 11, Some(1)),
    ("parameter-problem", 12, None),
    ("ip-header-bad", 12, Some(0)),
    ("required-option-missing", 12, Some(1)),
    ("timestamp-request", 13, None),
    ("timestamp-reply", 14, None),
    ("address-mask-request", 17, None),
    ("address-mask-reply", 18, None),
];

/// The ICMPv6 names ip6tables 1.8 knows (`ip6tables -p icmpv6 -h`).
const IP6TABLES_ICMPV6: &[(&str, u8, Option<u8>)] = &[
    ("destination-unreachable", 1, None),
    ("no-route", 1, Some(0)),
    ("communication-prohibited", 1, Some(1)),
    ("beyond-scope", 1, Some(2)),
    ("address-unreachable", 1, Some(3)),
    ("port-unreachable", 1, Some(4)),
    ("failed-policy", 1, Some(5)),
    ("reject-route", 1, Some(6)),
    ("packet-too-big", 2, None),
    ("time-exceeded", 3, None),
    ("ttl-exceeded", 3, None),
    ("ttl-zero-during-transit", 3, Some(0)),
    ("ttl-zero-during-reassembly", 3, Some(1)),
    ("parameter-problem", 4, None),
    ("bad-header", 4, Some(0)),
    ("unknown-header-type", 4, Some(1)),
    ("unknown-option", 4, Some(2)),
    ("echo-request", 128, None),
    ("ping", 128, None),
    ("echo-reply", 129, None),
    ("pong", 129, None),
    ("router-solicitation", 133, None),
    ("router-advertisement", 134, None),
    ("neighbour-solicitation", 135, None),
    ("neighbor-solicitation", 135, None),
    ("neighbour-advertisement", 136, None),
    ("neighbor-advertisement", 136, None),
    ("redirect", 137, None),
];

/// An `--icmp-type` (`v6`: `--icmpv6-type`) value as iptables reads it: a name in any case,
/// or the start of exactly one name (`echo-req`, `port`), else a number or `type/code`.
/// `Ok(None)` for `any` (IPv4); Err with why for a start that several names share.
pub(super) fn iptables_icmp(text: &str, v6: bool) -> Result<Option<(u8, Option<u8>)>, String> {
    let lower = text.to_ascii_lowercase();
    let names = if v6 { IP6TABLES_ICMPV6 } else { IPTABLES_ICMP };
    let mut found = names
        .iter()
        .filter(|(n, _, _)| !lower.is_empty() && n.starts_with(&lower));
    match (found.next(), found.next()) {
        (Some((_, 255, _)), None) => Ok(None),
        (Some((_, ty, code)), None) => Ok(Some((*ty, *code))),
        (Some((a, _, _)), Some((b, _, _))) => Err(format!(
            "the start of more than one name (`{a}`, `{b}`), which iptables refuses"
        )),
        (None, _) => parse_icmp(text, v6)
            .map(Some)
            .ok_or_else(|| "not a name, number or type/code".to_string()),
    }
}

#[cfg(test)]
mod tests {
    use super::iptables_icmp;

    /// Read as iptables 1.8.9 reads them (what `iptables-save` printed for each, in a
    /// namespace): any case, the start of one name, numbers.
    #[test]
    fn icmp_types_are_read_as_iptables_reads_them() {
        for (text, v6, want) in [
            ("Echo-Req", false, Some((8, None))),
            ("echo-rep", false, Some((0, None))),
            ("dest", false, Some((3, None))),
            ("port", false, Some((3, Some(3)))),
            ("host-red", false, Some((5, Some(1)))),
            ("router-ad", false, Some((9, None))),
            ("ANY", false, None),
            ("3/1", false, Some((3, Some(1)))),
            ("8", false, Some((8, None))),
            ("echo-req", true, Some((128, None))),
            ("port-unr", true, Some((1, Some(4)))),
            ("neighbour-sol", true, Some((135, None))),
            ("1/4", true, Some((1, Some(4)))),
        ] {
            assert_eq!(iptables_icmp(text, v6), Ok(want), "{text}");
        }
        for (text, v6) in [
            ("echo", false),
            ("net", false),
            ("echo", true),
            ("any", true),
        ] {
            assert!(iptables_icmp(text, v6).is_err(), "{text}");
        }
    }
}
