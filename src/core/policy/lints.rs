//! Checks across entries: names used twice, and reject entries that an allow entry or the
//! icmp baseline keeps from ever seeing their traffic.

use std::collections::HashMap;
use std::ops::Range;

use super::ports::port_word;
use super::{Checker, Entry, Kind};
use crate::core::model::{Cidr, PortRange};

impl Checker<'_> {
    pub(super) fn duplicate_names(&mut self, entries: &[Entry]) {
        let mut named: Vec<(&str, &Range<usize>)> = entries
            .iter()
            .filter_map(|e| e.name.as_ref().map(|(n, s)| (n.as_str(), s)))
            .collect();
        named.sort_by_key(|(_, s)| s.start);
        let mut seen: HashMap<&str, &Range<usize>> = HashMap::new();
        for (name, span) in named {
            if let Some(first) = seen.get(name) {
                let line = self.line_of(first);
                self.error(
                    span.clone(),
                    format!("duplicate name \"{name}\""),
                    Some(format!(
                        "an entry named \"{name}\" is already at line {line}; names must be unique across allow and reject entries"
                    )),
                );
            } else {
                seen.insert(name, span);
            }
        }
    }

    /// Warns when an allow entry accepts traffic that a reject entry also covers: allow rules
    /// come before reject rules in the chain, so the reject never sees that traffic.
    pub(super) fn shadowed_rejects(&mut self, entries: &[Entry]) {
        let clean = |e: &Entry| e.from.as_ref().is_none_or(|f| f.clean);
        let allows: Vec<&Entry> = entries
            .iter()
            .filter(|e| e.kind == Kind::Allow && clean(e))
            .collect();
        for rej in entries.iter().filter(|e| e.kind == Kind::Reject) {
            if rej.name.is_none() || !clean(rej) {
                continue;
            }
            for allow in &allows {
                if allow.name.is_none() {
                    continue;
                }
                if allow.iif.is_some() && allow.iif != rej.iif {
                    continue; // only packets from that interface
                }
                let Some(shadowed) = shadowed_sources(rej, allow) else {
                    continue;
                };
                let sources = if shadowed.is_empty() {
                    String::new()
                } else {
                    let list: Vec<String> = shadowed.iter().map(|n| n.to_string()).collect();
                    format!(" from {}", list.join(", "))
                };
                self.shadowed_ports(rej, allow, &sources);
            }
        }
    }

    /// One warning per port list element of `rej` that `allow` accepts (from `sources`).
    fn shadowed_ports(&mut self, rej: &Entry, allow: &Entry, sources: &str) {
        let (Some((rname, _)), Some((aname, aspan))) = (&rej.name, &allow.name) else {
            return;
        };
        let aline = self.line_of(aspan);
        for (proto, rports, aports) in [
            ("tcp", &rej.tcp.ports, &allow.tcp.ports),
            ("udp", &rej.udp.ports, &allow.udp.ports),
        ] {
            for (r, rspan) in rports {
                let overlaps: Vec<PortRange> = aports
                    .iter()
                    .filter(|(a, _)| a.lo <= r.hi && r.lo <= a.hi)
                    .map(|(a, _)| PortRange {
                        lo: a.lo.max(r.lo),
                        hi: a.hi.min(r.hi),
                    })
                    .collect();
                if overlaps.is_empty() {
                    continue;
                }
                let ports = if let [one] = overlaps[..] {
                    port_word(one)
                } else {
                    let list: Vec<String> = overlaps.iter().map(|p| p.to_string()).collect();
                    format!("ports {}", list.join(", "))
                };
                self.warning(
                    rspan.clone(),
                    format!(
                        "reject \"{rname}\" never sees {proto} {ports}{sources}: allow \"{aname}\" (line {aline}) accepts it first"
                    ),
                    Some(format!(
                        "allow rules come before reject rules in the chain, whatever their order in the file, so allow \"{aname}\" wins and this part of the reject has no effect; remove the overlap from one of the two entries"
                    )),
                );
            }
        }
    }

    /// Warns when a reject entry lists ICMP types while the icmp baseline accepts all ICMP
    /// before any reject rule.
    pub(super) fn icmp_rejects_shadowed(&mut self, entries: &[Entry]) {
        for rej in entries.iter().filter(|e| e.kind == Kind::Reject) {
            let name = rej
                .name
                .as_ref()
                .map_or("", |(n, _)| n.as_str())
                .to_string();
            for (t, span) in &rej.icmp {
                self.warning(
                    span.clone(),
                    format!("reject \"{name}\" never sees ICMP type {t}: the icmp baseline accepts all ICMP first"),
                    Some("write [baseline] icmp = false and allow the ICMP types you want with icmp = [...] in an allow entry".into()),
                );
            }
        }
    }
}

/// Which of the reject's sources the allow entry accepts entirely: None for none of them,
/// an empty list for all of them, or the ones it accepts.
fn shadowed_sources(rej: &Entry, allow: &Entry) -> Option<Vec<Cidr>> {
    match (&rej.from, &allow.from) {
        (_, None) => Some(Vec::new()), // the allow is from anywhere: everything
        (None, Some(_)) => None,
        (Some(r), Some(a)) => {
            let nets: Vec<Cidr> = r
                .nets
                .iter()
                .map(|(n, _)| *n)
                .filter(|n| a.nets.iter().any(|(m, _)| m.covers(*n)))
                .collect();
            if nets.is_empty() {
                None
            } else if nets.len() == r.nets.len() {
                Some(Vec::new())
            } else {
                Some(nets)
            }
        }
    }
}
