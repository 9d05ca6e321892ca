//! The imported policy as TOML text: a header with the notes, the mode and final rule, the
//! baseline, then the entries, each commented with the lines it came from.

use std::collections::BTreeSet;
use std::fmt::Write;

use super::analyse::{Analysis, Chain};
use super::build::{Ending, Section};
use super::classify::Hook;
use super::entries::Entry;
use super::flatten::Verdict;
use super::rule::RejectKind;
use crate::core::diag::{TEXT_MAX, shorten};
use crate::core::model::Cidr;
use crate::core::model::{PortRange, icmp_type_name};
use crate::core::plan::{IPPROTO_TCP, IPPROTO_UDP, TCP_FLAGS};

/// Whether a rule of the analysed chains puts sources on list `name`.
fn fed(a: &Analysis, name: &str) -> bool {
    let chains = [Some(&a.input), a.forward.as_ref(), a.output.as_ref()];
    chains
        .into_iter()
        .flatten()
        .flat_map(|c| c.entries())
        .any(|f| f.extra.add_to_set.as_deref() == Some(name))
}

pub(super) fn policy_text(
    v4: &Analysis,
    (notes, used): (&[String], &BTreeSet<&str>),
    ending: &Ending,
    sections: &[Section<'_>],
) -> String {
    let mut t = String::new();
    header(&mut t, notes, ending);
    // a key of the top level, before any table (a `[[set]]` would take it)
    if !ending.input_accepts_all {
        log_final(&mut t, v4, &v4.input);
    }
    for (name, views) in &v4.sets {
        for &secs in views {
            let set = super::trap::view_name(name, secs, views);
            if !used.contains(set.as_str()) {
                continue;
            }
            let kept = secs.unwrap_or(super::trap::LIST_KEPT_S);
            let checks = match secs {
                Some(_) if views.len() > 1 => {
                    format!(" as its checks with --seconds {kept} see it")
                }
                None if views.len() > 1 => {
                    " as its checks without --seconds (and its --remove) see it".into()
                }
                _ => String::new(),
            };
            let who = if fed(v4, name) {
                "the sources its DROP or REJECT puts on the list"
            } else {
                "no rule that is ever reached puts sources on the list (see the notes): empty unless `statewall set add` fills it, sources kept"
            };
            let _ = writeln!(
                t,
                "\n# `-m recent --name {name}`{checks}: {who}, each for {kept} s after its last packet there\n[[set]]\nname = \"{set}\"\nnetworks = false\ntimeout = \"{kept}s\""
            );
        }
    }
    for sec in sections {
        let hook = sec.chain.hook;
        let prefix = match hook {
            Hook::Input => "",
            Hook::Forward => "forward.",
            Hook::Output => "output.",
        };
        if hook != Hook::Input {
            t.push('\n');
            section_head(&mut t, v4, sec.chain);
            clamp_mss(&mut t, sec.chain);
            log_final(&mut t, v4, sec.chain);
            for (e, mss) in &sec.clamps {
                t.push('\n');
                entry(&mut t, &format!("{prefix}clamp"), e);
                let _ = writeln!(t, "mss = {}", mss_value(*mss));
            }
        }
        t.push('\n');
        if hook == Hook::Input && ending.input_accepts_all {
            accept_all(&mut t);
            continue;
        }
        baseline(&mut t, v4, sec, prefix);
        // a block among the allows is written right after the allow it follows
        let (among, blocks): (Vec<&Entry>, Vec<&Entry>) =
            sec.blocks.iter().partition(|b| b.after_allow.is_some());
        for e in blocks {
            t.push('\n');
            entry(&mut t, &format!("{prefix}block"), e);
        }
        for (i, e) in sec.allows.iter().enumerate() {
            t.push('\n');
            entry(&mut t, &format!("{prefix}allow"), e);
            for b in among.iter().filter(|b| b.after_allow == Some(i)) {
                t.push('\n');
                entry(&mut t, &format!("{prefix}block"), b);
            }
        }
        for e in &sec.rejects {
            t.push('\n');
            entry(&mut t, &format!("{prefix}reject"), e);
        }
    }
    t
}

/// The name of the one allow of an INPUT that accepts everything.
pub(super) const ACCEPT_ALL: &str = "everything";

/// An input section that accepts every packet: no baseline, one stateless allow from
/// anywhere (enforce mode, for the sake of a forward or output section that drops).
fn accept_all(t: &mut String) {
    let _ = writeln!(t, "[baseline]  # INPUT accepts everything");
    for key in ["established", "invalid", "loopback", "icmp", "icmpv6"] {
        let _ = writeln!(t, "{key} = false");
    }
    let _ = writeln!(
        t,
        "\n# INPUT accepts everything: without an established rule an allow is stateless"
    );
    let _ = writeln!(
        t,
        "[[allow]]\nname = \"{ACCEPT_ALL}\"\nfrom = [\"0.0.0.0/0\", \"::/0\"]"
    );
}

/// `[forward]` / `[output]` with its final rule.
fn section_head(t: &mut String, v4: &Analysis, c: &Chain) {
    let name = c.hook.chain();
    let _ = writeln!(t, "[{}]", name.to_ascii_lowercase());
    let origin = c.final_said(&v4.rules);
    let fin = match c.final_rule.1 {
        Verdict::Accept => "accept",
        Verdict::Drop => "drop",
        Verdict::Reject(RejectKind::Icmp(k)) => k.as_str(),
        Verdict::Reject(RejectKind::TcpReset) => unreachable!("refused in analyse"),
    };
    let _ = writeln!(
        t,
        "final = \"{fin}\"  # {}",
        shorten(&origin, TEXT_MAX).replace('\n', " ")
    );
}

/// A section's `clamp_mss`, from the TCPMSS rule it came from.
fn clamp_mss(t: &mut String, c: &Chain) {
    if let Some((line, text, mss)) = &c.clamp_mss {
        let from = format!("line {line}: {text}");
        let _ = writeln!(
            t,
            "clamp_mss = {}  # {}",
            mss_value(*mss),
            shorten(&from, TEXT_MAX).replace('\n', " ")
        );
    }
}

/// What `clamp_mss` and a clamp entry's `mss` lower the option to, as the policy writes it.
fn mss_value(mss: crate::core::model::Mss) -> String {
    match mss {
        crate::core::model::Mss::Pmtu => "\"pmtu\"".to_string(),
        crate::core::model::Mss::Value(v) => v.to_string(),
    }
}

/// A section's `log_final`, from the LOG it came from.
fn log_final(t: &mut String, v4: &Analysis, c: &Chain) {
    if let Some((r, value)) = &c.log_final {
        let r = &v4.rules[*r];
        let from = format!("line {}: {}", r.line, r.text);
        let _ = writeln!(
            t,
            "log_final = {value}  # {}",
            shorten(&from, TEXT_MAX).replace('\n', " ")
        );
    }
}

/// What the file is, the notes, the mode and the final rule.
fn header(t: &mut String, notes: &[String], ending: &Ending) {
    let _ = writeln!(
        t,
        "# statewall policy imported from an iptables-save file; every entry says which line it came from."
    );
    let _ = writeln!(
        t,
        "# Review it, then `statewall check`, `statewall plan`, `statewall apply`."
    );
    for n in notes {
        // cut, and without control characters: a comment line of valid TOML
        let _ = writeln!(t, "# note: {}", shorten(n, TEXT_MAX).replace('\n', " "));
    }
    t.push('\n');
    let Ending {
        mode,
        reject,
        origin,
        input_accepts_all,
        accepts_rest,
    } = ending;
    let _ = writeln!(
        t,
        "mode = \"{mode}\"{}",
        if *mode == "audit" {
            format!("  # {origin}")
        } else {
            String::new()
        }
    );
    if let Some(k) = reject {
        let _ = writeln!(t, "final = \"{}\"  # {origin}", k.as_str());
    } else if *accepts_rest {
        let _ = writeln!(t, "final = \"accept\"  # {origin}");
    } else if *input_accepts_all {
        let _ = writeln!(
            t,
            "# final rule: drop, never reached (INPUT accepts everything, {origin})"
        );
    } else if *mode == "enforce" {
        let _ = writeln!(t, "# final rule: drop ({origin})");
    }
}

/// `[baseline]` of a section, each part on when the IPv4 file has its rule (which the
/// comment quotes).
fn baseline(t: &mut String, v4: &Analysis, sec: &Section, prefix: &str) {
    let c = sec.chain;
    let _ = writeln!(t, "[{prefix}baseline]");
    let why = |r: Option<usize>, absent: &str| match r {
        Some(i) => format!("line {}: {}", v4.rules[i].line, v4.rules[i].text),
        None => absent.to_string(),
    };
    // a chain read in the file's own order has its baseline rules as entries in their place
    let said = |lowered: bool, none: &'static str, entry: &'static str| {
        if lowered { entry } else { none }
    };
    let low = c.read_as;
    let mut parts = vec![
        (
            "established",
            c.established,
            said(
                low.established,
                "no ESTABLISHED,RELATED accept in the chain",
                "the chain is read in the file's order: its ESTABLISHED,RELATED accept, if any, is an allow in its place",
            ),
        ),
        (
            "invalid",
            c.invalid,
            said(
                low.invalid,
                "no INVALID drop in the chain",
                "the chain is read in the file's order: its INVALID drop, if any, is a block or part of the final drop",
            ),
        ),
        (
            "loopback",
            c.loopback,
            said(
                low.loopback,
                "no loopback accept in the chain",
                "the chain is read in the file's order: its loopback accept, if any, is an allow in its place",
            ),
        ),
        (
            "icmp",
            c.icmp,
            said(
                low.icmp,
                "no ICMP accept in the chain",
                "the chain is read in the file's order: its ICMP accept, if any, is an allow in its place",
            ),
        ),
    ];
    if c.hook == Hook::Forward {
        parts.remove(2);
    }
    for (key, rule, absent) in parts {
        let _ = writeln!(
            t,
            "{key} = {}  # {}",
            rule.is_some(),
            shorten(&why(rule, absent), TEXT_MAX).replace('\n', " ")
        );
    }
    let (on, why) = &sec.icmpv6;
    let _ = writeln!(
        t,
        "icmpv6 = {on}  # {}",
        shorten(why, TEXT_MAX).replace('\n', " ")
    );
}

/// One `[[allow]]`, `[[reject]]` or `[[block]]` entry, after the lines it came from.
/// Whether entry `e` says what it matches beyond its source, as a policy entry must when it
/// has no `from` (ports, a protocol, an interface, a destination, a type, a live set, a
/// block's `state = "invalid"`; a block's other states say nothing, as the policy reads
/// them). A key this does not know only adds a `from` of everything.
fn says_where(e: &Entry, kind: &str) -> bool {
    let m = &e.more;
    let invalid = crate::core::plan::CtStates(crate::core::plan::CtStates::INVALID);
    !e.tcp.is_empty()
        || !e.udp.is_empty()
        || !e.icmp.is_empty()
        || m.has_protocols()
        || !m.except_protocol.is_empty()
        || e.iif.is_some()
        || m.state
            .is_some_and(|s| !kind.ends_with("block") || s == invalid)
        || e.extra.from_set.is_some()
        || e.state == Some(crate::core::model::BlockState::Invalid)
        || !m.to.is_empty()
        || !m.except_from.is_empty()
        || !m.except_to.is_empty()
        || m.oif.is_some()
        || !m.except_iif.is_empty()
        || !m.except_oif.is_empty()
        || !m.to_type.is_empty()
        || !m.from_type.is_empty()
        || !m.except_to_type.is_empty()
        || !m.except_from_type.is_empty()
        || !m.pkttype.is_empty()
        || !m.except_pkttype.is_empty()
        || m.ipsec_in.is_some()
        || m.ipsec_out.is_some()
        || !m.rt_type.is_empty()
        || !m.except_rt_type.is_empty()
        || crate::core::header::has_mac(m)
        || super::owner::says_owner(m)
        || crate::core::header::has_length(m)
        || crate::core::header::has_ttl(m)
        || crate::core::payload::has_contains(m)
        || crate::core::u32::has_u32(m)
        || m.dnat
        || crate::core::mark::has_mark(m)
        || crate::core::cthelper::has_helper(m)
        || crate::core::clock::has_clock(m)
}

fn entry(t: &mut String, kind: &str, e: &Entry) {
    for l in &e.lines {
        let _ = writeln!(t, "{l}");
    }
    let _ = writeln!(t, "[[{kind}]]");
    let _ = writeln!(t, "name = \"{}\"", e.name);
    if !e.tcp.is_empty() {
        let _ = writeln!(t, "tcp = {}", port_list(&e.tcp));
    }
    if !e.udp.is_empty() {
        let _ = writeln!(t, "udp = {}", port_list(&e.udp));
    }
    if !e.icmp.is_empty() || !e.more.icmp_codes.is_empty() {
        let mut l: Vec<String> = e
            .icmp
            .iter()
            .map(|i| match icmp_type_name(*i) {
                Some(n) => format!("\"{n}\""),
                None => i.to_string(),
            })
            .collect();
        l.extend(
            e.more
                .icmp_codes
                .iter()
                .map(|(ty, c)| format!("\"{ty}/{c}\"")),
        );
        let _ = writeln!(t, "icmp = [{}]", l.join(", "));
    }
    if !e.from.is_empty() {
        let l: Vec<String> = e.from.iter().map(|n| format!("\"{n}\"")).collect();
        let _ = writeln!(t, "from = [{}]", l.join(", "));
    } else if !says_where(e, kind) && !kind.ends_with("clamp") {
        // a policy entry must say what it matches (an empty one is refused there, lest it
        // accept everything by mistake): this one matches every source, and says so
        let _ = writeln!(t, "from = [\"0.0.0.0/0\", \"::/0\"]  # every source");
    }
    more(t, e);
    if let Some(i) = &e.iif {
        let _ = writeln!(t, "iif = \"{i}\"");
    }
    if let Some(o) = &e.more.oif {
        let _ = writeln!(t, "oif = \"{o}\"");
    }
    for (key, list) in [
        ("except_iif", &e.more.except_iif),
        ("except_oif", &e.more.except_oif),
    ] {
        if !list.is_empty() {
            let l: Vec<String> = list.iter().map(|n| format!("\"{n}\"")).collect();
            let _ = writeln!(t, "{key} = [{}]", l.join(", "));
        }
    }
    if let Some(w) = e.with {
        let _ = writeln!(t, "with = \"{w}\"");
    }
    if let Some(a) = &e.after {
        let _ = writeln!(t, "after = \"{a}\"");
    }
    if let Some(s) = e.state {
        let _ = writeln!(t, "state = {}", s.value());
    }
    let live = &e.extra.live;
    if let Some(set) = &live.from_set {
        let _ = writeln!(t, "from_set = \"{set}\"");
        if live.refresh {
            let _ = writeln!(t, "refresh = true");
        }
    }
    for (key, sets) in [
        ("remove_from_set", &live.remove_from_set),
        ("add_to_set", &live.add_to_set),
    ] {
        match &sets[..] {
            [] => {}
            [one] => {
                let _ = writeln!(t, "{key} = \"{one}\"");
            }
            all => {
                let l: Vec<String> = all.iter().map(|n| format!("\"{n}\"")).collect();
                let _ = writeln!(t, "{key} = [{}]", l.join(", "));
            }
        }
    }
    match e.extra.limit.as_slice() {
        [] => {}
        [l] => {
            let _ = writeln!(t, "limit = {l}");
        }
        ls => {
            let _ = writeln!(t, "limit = [\n  {},\n]", ls.join(",\n  "));
        }
    }
    if let Some(c) = &e.extra.connections {
        let _ = writeln!(t, "connections = {c}");
    }
    if let Some(l) = &e.extra.log {
        let _ = writeln!(t, "log = {l}");
    }
}

/// The keys of issue 10 but the output interface.
fn more(t: &mut String, e: &Entry) {
    let m = &e.more;
    let nets = |v: &[Cidr]| {
        let l: Vec<String> = v.iter().map(|n| format!("\"{n}\"")).collect();
        format!("[{}]", l.join(", "))
    };
    for (key, list) in [
        ("to", &m.to),
        ("except_from", &m.except_from),
        ("except_to", &m.except_to),
        ("published_to", &m.published_to),
        ("published_from", &m.published_from),
    ] {
        if !list.is_empty() {
            let _ = writeln!(t, "{key} = {}", nets(list));
        }
    }
    for (key, list) in [
        ("tcp_sport", &m.tcp_sport),
        ("udp_sport", &m.udp_sport),
        ("except_tcp", &m.except_tcp),
        ("except_udp", &m.except_udp),
        ("except_tcp_sport", &m.except_tcp_sport),
        ("except_udp_sport", &m.except_udp_sport),
    ] {
        if !list.is_empty() {
            let _ = writeln!(t, "{key} = {}", port_list(list));
        }
    }
    published(t, m);
    if let Some(st) = m.state {
        let l: Vec<String> = st.names().iter().map(|n| format!("\"{n}\"")).collect();
        let _ = writeln!(t, "state = [{}]", l.join(", "));
    }
    for (key, list) in [
        ("protocol", &m.protocol),
        ("except_protocol", &m.except_protocol),
        ("connection_protocol", &m.connection_protocol),
    ] {
        if !list.is_empty() {
            let l: Vec<String> = list.iter().map(u8::to_string).collect();
            let _ = writeln!(t, "{key} = [{}]", l.join(", "));
        }
    }
    if !m.icmpv6.is_empty() {
        let l: Vec<String> = m
            .icmpv6
            .iter()
            .map(|(ty, c)| match c {
                Some(c) => format!("\"{ty}/{c}\""),
                None => ty.to_string(),
            })
            .collect();
        let _ = writeln!(t, "icmpv6 = [{}]", l.join(", "));
    }
    if !m.except_icmp.is_empty() {
        let l: Vec<String> = m
            .except_icmp
            .iter()
            .map(|&i| match icmp_type_name(i) {
                Some(n) => format!("\"{n}\""),
                None => i.to_string(),
            })
            .collect();
        let _ = writeln!(t, "except_icmp = [{}]", l.join(", "));
    }
    if !m.except_icmpv6.is_empty() {
        let l: Vec<String> = m.except_icmpv6.iter().map(u8::to_string).collect();
        let _ = writeln!(t, "except_icmpv6 = [{}]", l.join(", "));
    }
    for (key, types) in [
        ("to_type", &m.to_type),
        ("except_to_type", &m.except_to_type),
        ("from_type", &m.from_type),
        ("except_from_type", &m.except_from_type),
    ] {
        if !types.is_empty() {
            let l: Vec<String> = types
                .iter()
                .map(|&t| format!("\"{}\"", crate::core::addrtype::addr_type_name(t)))
                .collect();
            let _ = writeln!(t, "{key} = [{}]", l.join(", "));
        }
    }
    for (key, types) in [
        ("pkttype", &m.pkttype),
        ("except_pkttype", &m.except_pkttype),
    ] {
        if !types.is_empty() {
            let l: Vec<String> = types
                .iter()
                .map(|&t| format!("\"{}\"", crate::core::pkttype::pkt_type_name(t)))
                .collect();
            let _ = writeln!(t, "{key} = [{}]", l.join(", "));
        }
    }
    for (key, met) in [("ipsec_in", m.ipsec_in), ("ipsec_out", m.ipsec_out)] {
        if let Some(b) = met {
            let _ = writeln!(t, "{key} = {b}");
        }
    }
    super::header::header_text(t, m);
    for (key, values) in [
        ("rt_type", &m.rt_type),
        ("except_rt_type", &m.except_rt_type),
    ] {
        if !values.is_empty() {
            let l: Vec<String> = values.iter().map(u8::to_string).collect();
            let _ = writeln!(t, "{key} = [{}]", l.join(", "));
        }
    }
    for (key, kinds) in [
        ("tcp_option", &m.tcp_option),
        ("except_tcp_option", &m.except_tcp_option),
    ] {
        if !kinds.is_empty() {
            let l: Vec<String> = kinds
                .iter()
                .map(|&k| {
                    match crate::core::exthdr::TCP_OPTIONS
                        .iter()
                        .find(|(_, n)| *n == k)
                    {
                        Some((name, _)) => format!("\"{name}\""),
                        None => k.to_string(),
                    }
                })
                .collect();
            let _ = writeln!(t, "{key} = [{}]", l.join(", "));
        }
    }
    if !m.tcp_flags.is_empty() {
        let l: Vec<String> = m
            .tcp_flags
            .iter()
            .map(|&(mask, v)| format!("\"{}/{}\"", flag_names(v), flag_names(mask)))
            .collect();
        let _ = writeln!(t, "tcp_flags = [{}]", l.join(", "));
    }
}

/// TCP flag bits as the policy writes them (`syn,ack`; empty for none).
fn flag_names(bits: u8) -> String {
    let names: Vec<&str> = TCP_FLAGS
        .iter()
        .filter(|(_, b)| bits & b != 0)
        .map(|(n, _)| *n)
        .collect();
    names.join(",")
}

/// A port list as TOML: single ports as numbers, ranges as "lo-hi" strings.
fn port_list(v: &[PortRange]) -> String {
    let items: Vec<String> = v
        .iter()
        .map(|r| {
            if r.lo == r.hi {
                r.lo.to_string()
            } else {
                format!("\"{}-{}\"", r.lo, r.hi)
            }
        })
        .collect();
    format!("[{}]", items.join(", "))
}

/// `published`, `published_udp`, `published_any` and `dnat`: the connection's original
/// destination port, and whether the kernel DNAT'ed it.
fn published(t: &mut String, m: &crate::core::model::More) {
    for (key, proto) in [
        ("published", IPPROTO_TCP),
        ("published_udp", IPPROTO_UDP),
        ("published_any", 0),
    ] {
        let list: Vec<PortRange> = m
            .published
            .iter()
            .filter(|(p, _)| *p == proto)
            .map(|(_, r)| *r)
            .collect();
        if !list.is_empty() {
            let _ = writeln!(t, "{key} = {}", port_list(&list));
        }
    }
    if m.dnat {
        let _ = writeln!(t, "dnat = true");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn port_lists() {
        let r = |lo, hi| PortRange { lo, hi };
        assert_eq!(
            port_list(&[r(22, 22), r(8000, 8080)]),
            "[22, \"8000-8080\"]"
        );
        assert_eq!(port_list(&[]), "[]");
    }
}
