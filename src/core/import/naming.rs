//! Entry names: from the rule's comment, or from what the entry matches (`ssh`, `tcp-8080`,
//! `icmp-echo-request`, `from-192.0.2.0/24`), made valid by the policy's one name sanitiser,
//! then unique.

use std::collections::{HashMap, HashSet};

use super::entries::Entry;
use crate::core::compile::is_reserved_name;
use crate::core::model::BlockAt;
use crate::core::model::{ICMPV6_TYPES, icmp_type_name};
use crate::core::plan::PROTOCOLS;
use crate::core::policy::names::{Repair, sanitise_name};
use crate::core::services;

/// The name of entry `e` (of IP protocol `proto`): its rule's comment, or else one derived
/// from what it matches, as a valid name; `entry` when neither gives one.
pub(super) fn entry_name(comment: Option<&str>, e: &Entry, proto: Option<u8>) -> String {
    let sanitise = |s: &str| sanitise_name(s, Repair::Derive);
    comment
        .and_then(sanitise)
        .or_else(|| sanitise(&derived_name(e, proto)))
        .unwrap_or_else(|| "entry".into())
}

/// A name for what the entry matches: its service, its ports, its ICMP type, or else its
/// interface or source.
fn derived_name(e: &Entry, proto: Option<u8>) -> String {
    let proto_name = match proto {
        Some(6) => "tcp",
        Some(17) => "udp",
        Some(1) => "icmp",
        _ => "",
    };
    // every port of a protocol says less than the other keys (`mss-not-536-65535`)
    let every =
        |ps: &[crate::core::model::PortRange]| matches!(ps, [p] if p.lo == 0 && p.hi == 65535);
    if e.icmp.is_empty()
        && (every(&e.tcp) || every(&e.udp))
        && let Some(name) = more_name(e)
    {
        return name;
    }
    match (&e.tcp[..], &e.udp[..], &e.icmp[..]) {
        ([p], [], []) | ([], [p], []) if p.lo == p.hi => proto
            .and_then(|proto| services::entry_name(proto, p.lo))
            .map(str::to_string)
            .unwrap_or_else(|| format!("{proto_name}-{}", p.lo)),
        (ps @ [_, ..], [], []) | ([], ps @ [_, ..], []) => {
            let l: Vec<String> = ps.iter().take(4).map(|p| p.to_string()).collect();
            format!("{proto_name}-{}", l.join("-"))
        }
        ([], [], [t]) => format!(
            "icmp-{}",
            icmp_type_name(*t)
                .map(str::to_string)
                .unwrap_or(t.to_string())
        ),
        _ => more_name(e).unwrap_or_else(|| match (&e.iif, e.from.first(), e.more.to.first()) {
            (Some(i), _, _) => format!("iif-{i}"),
            (None, Some(s), _) => format!("from-{s}"),
            (None, None, Some(d)) => format!("to-{d}"),
            _ => match (&e.more.oif, e.more.state, e.state) {
                (Some(o), _, _) => format!("oif-{o}"),
                (None, Some(st), _) => format!("state-{}", st.names().join("-")),
                // a block of `state = "new"` or `"invalid"`: `invalid`, `new`
                (None, None, Some(st)) => st.name(),
                // ports of both protocols (merged allows): `tcp-22-udp-123`
                (None, None, None) if !e.tcp.is_empty() && !e.udp.is_empty() => {
                    let l = |ps: &[crate::core::model::PortRange]| {
                        ps.iter()
                            .take(3)
                            .map(|p| p.to_string())
                            .collect::<Vec<_>>()
                            .join("-")
                    };
                    format!("tcp-{}-udp-{}", l(&e.tcp), l(&e.udp))
                }
                // nothing but a state the section gives every allow: every source
                (None, None, None) => "everything".into(),
            },
        }),
    }
}

/// A name from the keys of issue 10: a protocol, an ICMP code, an ICMPv6 type, TCP flags,
/// source ports.
fn more_name(e: &Entry) -> Option<String> {
    let m = &e.more;
    if let [p] = m.protocol[..] {
        return Some(match PROTOCOLS.iter().find(|(_, n)| *n == p) {
            Some((name, _)) => (*name).to_string(),
            None => format!("proto-{p}"),
        });
    }
    if let [p] = m.except_protocol[..] {
        return Some(match PROTOCOLS.iter().find(|(_, n)| *n == p) {
            Some((name, _)) => format!("not-{name}"),
            None => format!("proto-not-{p}"),
        });
    }
    if let [(t, c)] = m.icmp_codes[..] {
        return Some(format!("icmp-{t}-{c}"));
    }
    if let [(t, c)] = m.icmpv6[..] {
        let name = ICMPV6_TYPES.iter().find(|(_, n)| *n == t).map(|(n, _)| *n);
        return Some(match (name, c) {
            (Some(n), None) => format!("icmpv6-{n}"),
            (_, Some(c)) => format!("icmpv6-{t}-{c}"),
            (None, None) => format!("icmpv6-{t}"),
        });
    }
    if !m.tcp_flags.is_empty() {
        return Some("tcp-flags".into());
    }
    let types = [
        ("to", &m.to_type),
        ("from", &m.from_type),
        ("to-not", &m.except_to_type),
        ("from-not", &m.except_from_type),
    ];
    for (dir, types) in types {
        if let [t, ..] = types[..] {
            return Some(format!(
                "{dir}-{}",
                crate::core::addrtype::addr_type_name(t)
            ));
        }
    }
    for (dir, met) in [("in", m.ipsec_in), ("out", m.ipsec_out)] {
        if let Some(b) = met {
            return Some(format!("{}-{dir}", if b { "ipsec" } else { "clear" }));
        }
    }
    for (what, types) in [("link", &m.pkttype), ("link-not", &m.except_pkttype)] {
        if let [t, ..] = types[..] {
            return Some(format!("{what}-{}", crate::core::pkttype::pkt_type_name(t)));
        }
    }
    for (what, types) in [("rt-type", &m.rt_type), ("rt-type-not", &m.except_rt_type)] {
        if let [t, ..] = types[..] {
            return Some(format!("{what}-{t}"));
        }
    }
    for (what, kinds) in [
        ("tcp-option", &m.tcp_option),
        ("tcp-option-not", &m.except_tcp_option),
    ] {
        if let [k, ..] = kinds[..] {
            return Some(format!(
                "{what}-{}",
                crate::core::exthdr::tcp_option_name(k)
            ));
        }
    }
    if let Some(name) = super::header::header_name(m) {
        return Some(name);
    }
    if let Some(name) = super::owner::owner_name(m) {
        return Some(name);
    }
    for (proto, ports) in [("tcp", &m.tcp_sport), ("udp", &m.udp_sport)] {
        if let Some(p) = ports.first() {
            return Some(format!("{proto}-from-port-{p}"));
        }
    }
    let list = |ps: &[crate::core::model::PortRange]| {
        let l: Vec<String> = ps.iter().take(4).map(|p| p.to_string()).collect();
        l.join("-")
    };
    for (what, ports) in [
        ("tcp-except", &m.except_tcp),
        ("udp-except", &m.except_udp),
        ("tcp-except-from-port", &m.except_tcp_sport),
        ("udp-except-from-port", &m.except_udp_sport),
    ] {
        if !ports.is_empty() {
            return Some(format!("{what}-{}", list(ports)));
        }
    }
    if let Some(&t) = m.except_icmp.first() {
        let t = icmp_type_name(t).map_or(t.to_string(), str::to_string);
        return Some(format!("icmp-except-{t}"));
    }
    if let Some(t) = m.except_icmpv6.first() {
        return Some(format!("icmpv6-except-{t}"));
    }
    if let Some((p, r)) = m.published.first() {
        return Some(match p {
            6 => format!("published-tcp-{r}"),
            17 => format!("published-udp-{r}"),
            _ => format!("published-{r}"),
        });
    }
    if let Some(&p) = m.connection_protocol.first() {
        let name = crate::core::plan::PROTOCOLS
            .iter()
            .find(|(_, n)| *n == p)
            .map_or(p.to_string(), |(name, _)| name.to_string());
        return Some(format!("{name}-connections"));
    }
    m.dnat.then(|| "dnat".to_string())
}

/// Unique names, none of them one of statewall's own (a comment may say "final") or a place
/// `after` names (an allow called "allows" could not be named by a block): the
/// first entry keeps its name; a later one with the same name, or one with a reserved name,
/// takes the first `NAME-2`, `NAME-3`, ... that no entry has or will have. (Names are at
/// most `DERIVED_MAX` characters here, so the suffix stays within the 64 a name may have.)
pub(super) fn make_unique(mut names: Vec<&mut String>) {
    let taken = |n: &str| is_reserved_name(n) || BlockAt::is_keyword(n);
    let mut used: HashSet<String> = names.iter().map(|n| n.to_string()).collect();
    let mut kept: HashSet<String> = HashSet::new();
    // the next suffix to try for each name: a thousand entries called "ssh" do not each
    // count up from 2
    let mut next: HashMap<String, usize> = HashMap::new();
    for name in names.iter_mut() {
        if !taken(name) && kept.insert(name.to_string()) {
            continue;
        }
        let k = next.entry(name.to_string()).or_insert(2);
        let free = loop {
            let n = format!("{name}-{k}");
            *k += 1;
            if !used.contains(&n) && !taken(&n) {
                break n;
            }
        };
        used.insert(free.clone());
        kept.insert(free.clone());
        **name = free;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::model::{Cidr, PortRange};

    fn entry(tcp: &[u16], udp: &[u16], icmp: &[u8]) -> Entry {
        Entry {
            name: String::new(),
            lines: Vec::new(),
            tcp: tcp.iter().map(|&p| PortRange::single(p)).collect(),
            udp: udp.iter().map(|&p| PortRange::single(p)).collect(),
            icmp: icmp.to_vec(),
            from: Vec::new(),
            iif: None,
            more: Default::default(),
            with: None,
            after: None,
            state: None,
            seg: 0,
            after_seg: None,
            after_allow: None,
            via: Vec::new(),
            comment_id: None,
            ports_only: false,
            v6: false,
            extra: Default::default(),
        }
    }

    #[test]
    fn names_are_made_unique_and_never_statewall_own() {
        let mut names: Vec<String> = [
            "final", "final", "final-2", "ssh", "ssh", "ssh-2", "icmp", "allows",
        ]
        .map(String::from)
        .to_vec();
        make_unique(names.iter_mut().collect());
        assert_eq!(
            names,
            [
                "final-3", "final-4", "final-2", "ssh", "ssh-3", "ssh-2", "icmp-2", "allows-2"
            ]
        );
    }

    #[test]
    fn names_say_what_the_entry_matches() {
        assert_eq!(entry_name(None, &entry(&[22], &[], &[]), Some(6)), "ssh");
        assert_eq!(
            entry_name(None, &entry(&[53], &[], &[]), Some(6)),
            "dns-tcp"
        );
        assert_eq!(entry_name(None, &entry(&[], &[53], &[]), Some(17)), "dns");
        assert_eq!(
            entry_name(None, &entry(&[8080], &[], &[]), Some(6)),
            "tcp-8080"
        );
        assert_eq!(
            entry_name(None, &entry(&[1, 2, 3, 4, 5], &[], &[]), Some(6)),
            "tcp-1-2-3-4"
        );
        assert_eq!(
            entry_name(None, &entry(&[], &[], &[8]), Some(1)),
            "icmp-echo-request"
        );
        let mut from = entry(&[], &[], &[]);
        from.from = vec![Cidr::V4("192.0.2.0".parse().unwrap(), 24)];
        assert_eq!(entry_name(None, &from, None), "from-192.0.2.0-24");
        assert_eq!(entry_name(Some("Web (alt)"), &from, None), "Web-alt");
        assert_eq!(entry_name(Some("→"), &from, None), "from-192.0.2.0-24");
    }
}
