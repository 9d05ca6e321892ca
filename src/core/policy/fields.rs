//! The keys of an entry that are neither its name, its ports nor its sources: `icmp`,
//! `iif` and (reject entries) `with`.

use std::ops::Range;

use toml::Spanned;
use toml::de::DeValue;

use super::keys::suggest;
use super::{Checker, type_name};
use crate::core::diag::loc_of;
use crate::core::model::{ICMP_TYPES, IcmpReject, RejectWith, valid_ifname};

const REJECT_WITH: &[&str] = &[
    "tcp-reset",
    "port-unreachable",
    "host-unreachable",
    "admin-prohibited",
    "no-route",
];

impl Checker<'_> {
    pub(super) fn with(&mut self, value: &Spanned<DeValue<'_>>) -> Option<RejectWith> {
        let span = value.span();
        if self.tainted(&span) {
            return None;
        }
        let valid = "\"tcp-reset\", \"port-unreachable\", \"host-unreachable\", \"admin-prohibited\", \"no-route\"; leave `with` out for a tcp reset on tcp ports and port-unreachable on udp ports";
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
                    ("unreachable", "port-unreachable"),
                ];
                let help = match suggest(stripped, REJECT_WITH, &aliases) {
                    Some(good) => format!("did you mean \"{good}\"? `with` is one of {valid}"),
                    None => format!("`with` is one of {valid}"),
                };
                self.error(span, format!("unknown reject kind {s:?}"), Some(help));
                return None;
            }
        })
    }

    /// `icmp = [8, "echo-request"]`: ICMPv4 types by number or name. Returns the valid
    /// types and whether the key holds a non-empty list.
    pub(super) fn icmp_types(
        &mut self,
        value: &Spanned<DeValue<'_>>,
    ) -> (Vec<(u8, Range<usize>)>, bool) {
        let span = value.span();
        let mut out: Vec<(u8, Range<usize>)> = Vec::new();
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
                    Some(format!("put it in brackets: icmp = [{}]", self.text(&span))),
                );
                return (out, true);
            }
        };
        if items.is_empty() {
            self.error(
                span,
                "`icmp = []` lists no ICMP type",
                Some("remove the key, or list types, e.g. icmp = [\"echo-request\"]".into()),
            );
            return (out, false);
        }
        for item in items.iter() {
            let ispan = item.span();
            if self.tainted(&ispan) {
                continue;
            }
            let Some(t) = self.icmp_type(item) else {
                continue;
            };
            if let Some((_, first)) = out.iter().find(|(u, _)| *u == t) {
                let at = loc_of(self.src, first.start);
                self.error(
                    ispan,
                    format!("ICMP type {t} is listed twice"),
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

    /// One ICMP type, by number or by name.
    fn icmp_type(&mut self, item: &Spanned<DeValue<'_>>) -> Option<u8> {
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
                t
            }
            DeValue::String(s) => {
                let lower = s.to_ascii_lowercase();
                let t = ICMP_TYPES
                    .iter()
                    .find(|(n, _)| *n == lower)
                    .map(|(_, t)| *t);
                if t.is_none() {
                    let help = icmp_name_help(&lower);
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

    /// `iif = "eth0"`: an input interface by name.
    pub(super) fn iif(&mut self, value: &Spanned<DeValue<'_>>) -> Option<String> {
        let span = value.span();
        if self.tainted(&span) {
            return None;
        }
        let rule =
            "an interface name is 1-15 characters, without `/`, `:`, `*`, quotes or whitespace";
        let Some(s) = value.get_ref().as_str() else {
            self.error(
                span,
                format!(
                    "expected a string for `iif`, found {}",
                    type_name(value.get_ref())
                ),
                Some("write iif = \"eth0\"".into()),
            );
            return None;
        };
        if valid_ifname(s) && !s.ends_with('+') {
            return Some(s.to_string());
        }
        let help = if s.ends_with('+') || s.contains('*') {
            format!("{rule}; interface wildcards are not supported: one entry per interface")
        } else if s.len() > 15 {
            format!("{rule}; {s:?} is {} bytes long", s.len())
        } else {
            rule.to_string()
        };
        self.error(span, format!("invalid interface name {s:?}"), Some(help));
        None
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
