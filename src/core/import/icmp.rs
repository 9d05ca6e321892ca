//! `--icmp-type TYPE[/CODE]` (and `--icmpv6-type`) into the condition: a type, a type with a
//! code, or a code name (which names its type too); `any` says nothing. `! --icmp-type TYPE`
//! is every type but this one (an entry's `except_icmp`, `except_icmpv6`: nft's `icmp type
//! != 8`); a negated type with a code is refused where written, and `! any` matches no
//! packet (left out, unless a match before it counts).

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
        (cond, never, counts): (&mut Cond, &mut Option<String>, bool),
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
                    "iptables-restore refuses it too: write a type by name or number, a type/code pair of numbers (3/4), or a code name (port-unreachable)",
                );
                return Some(Some(i + 2));
            }
        };
        match (neg, parsed) {
            (None, _) if any => {}
            (None, Some(ty)) => cond.icmp = Some(ty),
            // iptables-restore loads it; a match that counts or stamps before it still sees
            // the packets (`once.rs`)
            (Some(n), _) if any && counts => self.err(
                n.start..v.span.end,
                format!("`! {} any`: no {what} packet, in a rule that counts", t.text),
                "the rule matches no packet, but the `-m recent`, `-m limit` or `-m connlimit` before it still counts or stamps every packet that reaches it: take the rule out",
            ),
            (Some(_), _) if any => *never = Some(format!("`! {} any` names every {what} type", t.text)),
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

/// The ICMP names iptables 1.8 knows (`iptables -p icmp -h`), `any` aside: its vocabulary,
/// which decides what a start of a name is short for; their numbers are the model's
/// ([`parse_icmp`]).
const IPTABLES_ICMP: &[&str] = &[
    "echo-reply",
    "pong",
    "destination-unreachable",
    "network-unreachable",
    "host-unreachable",
    "protocol-unreachable",
    "port-unreachable",
    "fragmentation-needed",
    "source-route-failed",
    "network-unknown",
    "host-unknown",
    "network-prohibited",
    "host-prohibited",
    "tos-network-unreachable",
    "tos-host-unreachable",
    "communication-prohibited",
    "host-precedence-violation",
    "precedence-cutoff",
    "source-quench",
    "redirect",
    "network-redirect",
    "host-redirect",
    "tos-network-redirect",
    "tos-host-redirect",
    "echo-request",
    "ping",
    "router-advertisement",
    "router-solicitation",
    "time-exceeded",
    "ttl-exceeded",
    "ttl-zero-during-transit",
    "ttl-zero-during-reassembly",
    "parameter-problem",
    "ip-header-bad",
    "required-option-missing",
    "timestamp-request",
    "timestamp-reply",
    "address-mask-request",
    "address-mask-reply",
];

/// The ICMPv6 names ip6tables 1.8 knows (`ip6tables -p icmpv6 -h`).
const IP6TABLES_ICMPV6: &[&str] = &[
    "destination-unreachable",
    "no-route",
    "communication-prohibited",
    "beyond-scope",
    "address-unreachable",
    "port-unreachable",
    "failed-policy",
    "reject-route",
    "packet-too-big",
    "time-exceeded",
    "ttl-exceeded",
    "ttl-zero-during-transit",
    "ttl-zero-during-reassembly",
    "parameter-problem",
    "bad-header",
    "unknown-header-type",
    "unknown-option",
    "echo-request",
    "ping",
    "echo-reply",
    "pong",
    "router-solicitation",
    "router-advertisement",
    "neighbour-solicitation",
    "neighbor-solicitation",
    "neighbour-advertisement",
    "neighbor-advertisement",
    "redirect",
];

/// An `--icmp-type` (`v6`: `--icmpv6-type`) value as iptables reads it: a name in any case,
/// or the start of exactly one name (`echo-req`, `port`), else a number or `type/code`.
/// `Ok(None)` for `any` (IPv4); Err with why for a start that several names share.
pub(super) fn iptables_icmp(text: &str, v6: bool) -> Result<Option<(u8, Option<u8>)>, String> {
    let lower = text.to_ascii_lowercase();
    let names: &[&str] = if v6 { IP6TABLES_ICMPV6 } else { IPTABLES_ICMP };
    let any: &[&str] = if v6 { &[] } else { &["any"] };
    let mut found = any
        .iter()
        .chain(names)
        .filter(|n| !lower.is_empty() && n.starts_with(&lower));
    match (found.next(), found.next()) {
        (Some(&"any"), None) => Ok(None),
        (Some(name), None) => Ok(parse_icmp(name, v6)),
        (Some(a), Some(b)) => Err(format!(
            "the start of more than one name (`{a}`, `{b}`), which iptables refuses"
        )),
        // past the names, iptables reads numbers only: `3`, `3/4` (not `3/port-unreachable`
        // or `destination-unreachable/4`)
        (None, _)
            if text
                .split('/')
                .all(|p| !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit())) =>
        {
            parse_icmp(text, v6)
                .map(Some)
                .ok_or_else(|| "not a name, number or type/code".to_string())
        }
        (None, _) => {
            Err("not a name, number or type/code (a code follows a type's number only)".into())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::{IP6TABLES_ICMPV6, IPTABLES_ICMP, iptables_icmp};

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
        // every name iptables knows has its numbers in the model's tables
        for (names, v6) in [(IPTABLES_ICMP, false), (IP6TABLES_ICMPV6, true)] {
            for n in names {
                assert!(crate::core::model::parse_icmp(n, v6).is_some(), "{n}");
            }
        }
    }
}
