//! The keys of an entry that are neither its name, its ports nor its sources: `icmp`,
//! `iif`, `except_iif`/`except_oif`, (reject and block entries) `with` and (block entries)
//! `after`.

use std::ops::Range;

use toml::Spanned;
use toml::de::DeValue;

use super::keys::suggest;
use super::{Checker, type_name};
use crate::core::diag::loc_of;
use crate::core::model::{BlockAt, ICMP_TYPES, IcmpReject, RejectWith, valid_ifname_or_wildcard};

/// An ICMP type and, when written, its code.
pub(super) type IcmpSpec = (u8, Option<u8>);

/// What `after` takes, for the help of its errors.
pub(super) const AFTER_VALUES: &str = "`after` is \"established\" (after the established and invalid rules: open connections keep going), \"baseline\" (after the whole baseline, before the allows), the name of an [[allow]] entry of the same section (right after its rules) or \"allows\" (after the allows, before the rejects); leave it out to block before everything";

const REJECT_WITH: &[&str] = &[
    "tcp-reset",
    "port-unreachable",
    "host-unreachable",
    "admin-prohibited",
    "no-route",
    "host-prohibited",
    "net-prohibited",
    "proto-unreachable",
];

impl Checker<'_> {
    /// A reject entry's `with`, or (`block`) a block entry's, which also takes "drop" (the
    /// caller's: it is no reject kind).
    pub(super) fn with(&mut self, value: &Spanned<DeValue<'_>>, block: bool) -> Option<RejectWith> {
        let span = value.span();
        if self.tainted(&span) {
            return None;
        }
        let kinds = "\"tcp-reset\", \"port-unreachable\", \"host-unreachable\", \"admin-prohibited\", \"no-route\", \"host-prohibited\", \"net-prohibited\", \"proto-unreachable\"";
        let valid = if block {
            format!("\"drop\" (the default) or a reject kind: {kinds}")
        } else {
            format!(
                "{kinds}; leave `with` out for a tcp reset on tcp ports and port-unreachable on udp ports"
            )
        };
        let Some(s) = value.get_ref().as_str() else {
            self.error(
                span,
                format!(
                    "expected a string for `with`, found {}",
                    type_name(value.get_ref())
                ),
                Some(format!("`with` is one of {valid}")),
            );
            return None;
        };
        Some(match s {
            "tcp-reset" => RejectWith::TcpReset,
            "port-unreachable" => RejectWith::Icmp(IcmpReject::PortUnreachable),
            "host-unreachable" => RejectWith::Icmp(IcmpReject::HostUnreachable),
            "admin-prohibited" => RejectWith::Icmp(IcmpReject::AdminProhibited),
            "no-route" => RejectWith::Icmp(IcmpReject::NoRoute),
            "host-prohibited" => RejectWith::Icmp(IcmpReject::HostProhibited),
            "net-prohibited" => RejectWith::Icmp(IcmpReject::NetProhibited),
            "proto-unreachable" => RejectWith::Icmp(IcmpReject::ProtoUnreachable),
            _ => {
                let stripped = s
                    .strip_prefix("icmpx-")
                    .or_else(|| s.strip_prefix("icmpv6-"))
                    .or_else(|| s.strip_prefix("icmp6-"))
                    .or_else(|| s.strip_prefix("icmp-"))
                    .unwrap_or(s);
                let aliases = [
                    ("reset", "tcp-reset"),
                    ("rst", "tcp-reset"),
                    ("tcp-rst", "tcp-reset"),
                    ("tcp reset", "tcp-reset"),
                    ("prohibited", "admin-prohibited"),
                    ("admin-prohib", "admin-prohibited"),
                    ("net-unreachable", "no-route"),
                    ("noroute", "no-route"),
                    ("prot-unreachable", "proto-unreachable"),
                    ("adm-prohibited", "admin-prohibited"),
                    ("unreachable", "port-unreachable"),
                ];
                let mut words = REJECT_WITH.to_vec();
                if block {
                    words.push("drop");
                }
                let help = match suggest(stripped, &words, &aliases) {
                    _ if s == "drop" => "a reject entry answers what it matches; to drop it silently, make it a [[block]] (with after = \"allows\" it takes a reject's place in the chain)".to_string(),
                    Some(good) => format!("did you mean \"{good}\"? `with` is one of {valid}"),
                    None => format!("`with` is one of {valid}"),
                };
                self.error(span, format!("unknown reject kind {s:?}"), Some(help));
                return None;
            }
        })
    }

    /// `icmp = [8, "echo-request", "3/4", "destination-unreachable/port-unreachable"]`:
    /// ICMPv4 (or, `v6`, ICMPv6) types by number or name, each with a code or not. Returns
    /// the valid ones and whether the key (`key`) holds a non-empty list.
    pub(super) fn icmp_types(
        &mut self,
        key: &str,
        value: &Spanned<DeValue<'_>>,
        v6: bool,
    ) -> (Vec<(IcmpSpec, Range<usize>)>, bool) {
        let span = value.span();
        let mut out: Vec<(IcmpSpec, Range<usize>)> = Vec::new();
        if self.tainted(&span) {
            return (out, true);
        }
        let items = match value.get_ref() {
            DeValue::Array(items) => items,
            other => {
                self.error(
                    span.clone(),
                    format!(
                        "expected an array of ICMP types, found {}",
                        type_name(other)
                    ),
                    Some(format!(
                        "put it in brackets: {key} = [{}]",
                        self.text(&span)
                    )),
                );
                return (out, true);
            }
        };
        if items.is_empty() {
            self.error(
                span,
                format!("`{key} = []` lists no ICMP type"),
                Some(format!(
                    "remove the key, or list types, e.g. {key} = [\"echo-request\"]"
                )),
            );
            return (out, false);
        }
        for item in items.iter() {
            let ispan = item.span();
            if self.tainted(&ispan) {
                continue;
            }
            let Some(t) = self.icmp_type(item, v6) else {
                continue;
            };
            if let Some((_, first)) = out.iter().find(|(u, _)| *u == t) {
                let at = loc_of(self.src, first.start);
                let shown = match t {
                    (ty, None) => format!("ICMP type {ty}"),
                    (ty, Some(c)) => format!("ICMP type {ty} code {c}"),
                };
                self.error(
                    ispan,
                    format!("{shown} is listed twice"),
                    Some(format!(
                        "it is already listed at {at}; remove one of the two"
                    )),
                );
                continue;
            }
            out.push((t, ispan));
        }
        (out, true)
    }

    /// One ICMP type, by number or by name, with a code or not.
    fn icmp_type(&mut self, item: &Spanned<DeValue<'_>>, v6: bool) -> Option<(u8, Option<u8>)> {
        let ispan = item.span();
        match item.get_ref() {
            DeValue::Integer(i) => {
                let t = i128::from_str_radix(i.as_str(), i.radix())
                    .ok()
                    .and_then(|n| u8::try_from(n).ok());
                if t.is_none() {
                    let text = self.text(&ispan);
                    self.error(
                        ispan,
                        format!("ICMP type {text} is out of range"),
                        Some("ICMP types are 0-255".into()),
                    );
                }
                t.map(|t| (t, None))
            }
            DeValue::String(s) => {
                let t = crate::core::model::parse_icmp(s, v6);
                if t.is_none() {
                    let lower = s.to_ascii_lowercase();
                    let help = if v6 {
                        "write a number 0-255, a name such as \"echo-request\" or \"nd-neighbor-solicit\", or \"type/code\" (\"1/4\", \"destination-unreachable/port-unreachable\")".to_string()
                    } else {
                        format!(
                            "{} (a code goes after a slash: \"3/4\", \"destination-unreachable/port-unreachable\")",
                            icmp_name_help(&lower)
                        )
                    };
                    self.error(ispan, format!("unknown ICMP type {s:?}"), Some(help));
                }
                t
            }
            other => {
                self.error(
                    ispan,
                    format!("expected an ICMP type, found {}", type_name(other)),
                    Some("write a number 0-255 or a name such as \"echo-request\"".into()),
                );
                None
            }
        }
    }

    /// A block's `after`: where its rules go in the section's fixed order, or after which
    /// allow entry (a name, checked against the entries once all are read:
    /// [`Checker::block_places`]).
    pub(super) fn block_at(&mut self, value: &Spanned<DeValue<'_>>) -> Option<BlockAt> {
        let span = value.span();
        if self.tainted(&span) {
            return None;
        }
        let Some(s) = value.get_ref().as_str() else {
            let found = type_name(value.get_ref());
            self.error(
                span,
                format!("expected a string for `after`, found {found}"),
                Some(AFTER_VALUES.into()),
            );
            return None;
        };
        if let Some(at) = BlockAt::PLACES.into_iter().find(|a| a.after() == Some(s)) {
            return Some(at);
        }
        Some(BlockAt::Allow(s.to_string()))
    }

    /// `except_iif = "lo"` or `["lo", "docker*"]`: interfaces (or wildcards) the entry does not
    /// match, each once.
    pub(super) fn ifnames(&mut self, key: &str, value: &Spanned<DeValue<'_>>) -> Vec<String> {
        let span = value.span();
        if self.tainted(&span) {
            return Vec::new();
        }
        let items: Vec<&Spanned<DeValue<'_>>> = match value.get_ref() {
            DeValue::String(_) => vec![value],
            DeValue::Array(items) if !items.is_empty() => items.iter().collect(),
            other => {
                let found = if matches!(other, DeValue::Array(_)) {
                    "an empty array".to_string()
                } else {
                    type_name(other).to_string()
                };
                self.error(
                    span,
                    format!(
                        "expected an interface name or a list of them for `{key}`, found {found}"
                    ),
                    Some(format!(
                        "write {key} = \"lo\" or {key} = [\"lo\", \"docker*\"]"
                    )),
                );
                return Vec::new();
            }
        };
        let mut out: Vec<String> = Vec::new();
        let mut seen = std::collections::HashSet::new();
        for item in items {
            let Some(name) = self.ifname(key, item) else {
                continue;
            };
            if !seen.insert(name.clone()) {
                self.error(
                    item.span(),
                    format!("interface {name:?} is listed twice in `{key}`"),
                    Some("list each interface once".into()),
                );
                continue;
            }
            out.push(name);
        }
        out
    }

    /// `iif = "eth0"` / `oif = "br-*"`: an interface by name, or all whose names start
    /// with a prefix (a trailing `*`).
    pub(super) fn ifname(&mut self, key: &str, value: &Spanned<DeValue<'_>>) -> Option<String> {
        let span = value.span();
        if self.tainted(&span) {
            return None;
        }
        let rule = "an interface name is 1-15 characters, without `/`, `:`, quotes or whitespace; a trailing `*` matches every name that starts with what comes before it";
        let Some(s) = value.get_ref().as_str() else {
            self.error(
                span,
                format!(
                    "expected a string for `{key}`, found {}",
                    type_name(value.get_ref())
                ),
                Some(format!("write {key} = \"eth0\"")),
            );
            return None;
        };
        if valid_ifname_or_wildcard(s) && !s.ends_with('+') {
            return Some(s.to_string());
        }
        let help = if let Some(prefix) = s.strip_suffix('+') {
            format!("write \"{prefix}*\": nft (and statewall) write iptables' `+` wildcard as `*`")
        } else if s.contains('*') {
            format!("{rule}; `*` may only end the name")
        } else if s.len() > 15 {
            format!("{rule}; {s:?} is {} bytes long", s.len())
        } else {
            rule.to_string()
        };
        self.error(span, format!("invalid interface name {s:?}"), Some(help));
        None
    }
}

impl Checker<'_> {
    /// An input interface is a packet's that arrived, an output interface one's that leaves:
    /// `iif` in [output] and `oif` in the input entries name what such a packet does not have
    /// (nft's `iifname`/`oifname` then matches nothing, and `except_*` everything), and
    /// iptables refuses `-i` in OUTPUT and `-o` in INPUT ("Can't use -i with OUTPUT").
    pub(super) fn interfaces_where_packets_are(&mut self, entries: &[super::Entry]) {
        use super::Hook;
        for e in entries {
            let (at, key, section, fix) = match e.hook {
                Hook::Output => (
                    0,
                    "iif",
                    "[output]",
                    "a packet this host sends arrived on no interface: match where it leaves with `oif`",
                ),
                Hook::Input => (
                    1,
                    "oif",
                    "the input entries",
                    "a packet for this host leaves on no interface: match where it arrives with `iif`",
                ),
                _ => continue,
            };
            if let Some(span) = &e.if_span[at] {
                self.error(
                    span.clone(),
                    format!(
                        "`{key}` (or `except_{key}`) in {section} matches no packet's interface"
                    ),
                    Some(format!(
                        "{fix} (iptables refuses `-{}` there too)",
                        if at == 0 { "i" } else { "o" }
                    )),
                );
            }
        }
    }
}

/// The ICMP type name probably meant by an unknown one (lowercased), or the valid names.
fn icmp_name_help(lower: &str) -> String {
    let valid: Vec<&str> = ICMP_TYPES.iter().map(|(n, _)| *n).collect();
    let aliases = [
        ("ping", "echo-request"),
        ("echo", "echo-request"),
        ("pong", "echo-reply"),
        ("unreachable", "destination-unreachable"),
        ("timestamp", "timestamp-request"),
    ];
    match suggest(lower, &valid, &aliases) {
        Some(good) => format!("did you mean \"{good}\"?"),
        None => format!("write a number 0-255 or one of {}", valid.join(", ")),
    }
}
