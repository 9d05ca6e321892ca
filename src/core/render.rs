//! Plan → nft script text: what `statewall plan` prints and what the golden tests compare.
//! Deterministic and pure. The script is valid input for `nft -f`, which the kernel tests
//! use as an oracle for "statewall's batch means the same as this text".

use crate::core::model::Cidr;
use crate::core::plan::*;
use std::fmt::Write;

/// The whole plan as an nft script that replaces statewall's table and nothing else.
pub fn script(plan: &Plan) -> String {
    let mut s = String::new();
    let t = &plan.table;
    let _ = writeln!(
        s,
        "# statewall plan: table inet {t}, mode {}",
        plan.mode.as_str()
    );
    let _ = writeln!(
        s,
        "# replaces this one table atomically; no other table is touched"
    );
    let clock = plan
        .chains
        .iter()
        .flat_map(|c| &c.rules)
        .flat_map(|r| &r.matches);
    if clock
        .into_iter()
        .any(|m| matches!(m, Match::Hour { .. } | Match::Time { .. }))
    {
        // nft reads a time of day and a date in its own timezone, and statewall writes UTC
        let _ = writeln!(
            s,
            "# its hours and dates are UTC: load it with `TZ=UTC nft -f`"
        );
    }
    let _ = writeln!(s, "table inet {t}");
    let _ = writeln!(s, "delete table inet {t}");
    s.push_str(&table_body(plan));
    s
}

/// `table inet NAME { ... }` alone: the part that is compared with the live table.
pub fn table_body(plan: &Plan) -> String {
    let mut s = String::new();
    let _ = writeln!(s, "table inet {} {{", plan.table);
    let fed = plan.fed_sets();
    for set in &plan.sets {
        s.push_str(&set_text(set, fed.contains(&set.name)));
        s.push('\n');
    }
    for (i, chain) in plan.chains.iter().enumerate() {
        if i > 0 {
            s.push('\n');
        }
        let _ = writeln!(s, "\tchain {} {{", chain.name);
        if let Some(h) = chain.hook {
            let _ = writeln!(
                s,
                "\t\ttype filter hook {} priority {}; policy accept;",
                h.hook.as_str(),
                h.priority
            );
        }
        for r in &chain.rules {
            let _ = writeln!(s, "\t\t{}", rule(r));
        }
        let _ = writeln!(s, "\t}}");
    }
    let _ = writeln!(s, "}}");
    s
}

/// One rule in nft syntax, with its counter and comment.
pub fn rule(r: &Rule) -> String {
    let m = matches_with(shown(r), &r.comment);
    let mut s = String::new();
    if !m.is_empty() {
        s.push_str(&m);
        s.push(' ');
    }
    let v = verdict(r.verdict);
    if v.is_empty() {
        let _ = write!(s, "counter comment \"{}\"", r.comment);
    } else {
        let _ = write!(s, "counter {v} comment \"{}\"", r.comment);
    }
    s
}

/// A rule's matches and verdict, without counter and comment (how a rule that lacks
/// statewall's counter is shown).
pub fn rule_text(r: &Rule) -> String {
    let m = rule_matches(r);
    let v = verdict(r.verdict);
    if m.is_empty() { v } else { format!("{m} {v}") }
}

/// The match part of a rule ("" for a rule that matches everything).
pub fn rule_matches(r: &Rule) -> String {
    matches_with(shown(r), &r.comment)
}

/// The matches nft shows of a rule: `reject with icmp …` implies its family, so nft neither
/// shows a leading `meta nfproto` of that family nor needs one written (it adds it first).
fn shown(r: &Rule) -> &[Match] {
    match (r.verdict, r.matches.first()) {
        (Verdict::RejectIcmp { v6, .. }, Some(Match::NfProto { v6: fam })) if v6 == *fam => {
            &r.matches[1..]
        }
        _ => &r.matches,
    }
}

/// `meta ipsec exists` (arrived decrypted), `rt ipsec missing` (`out`: leaves in the clear).
fn ipsec_text(out: bool, present: bool) -> String {
    let load = if out { "rt" } else { "meta" };
    let state = if present { "exists" } else { "missing" };
    format!("{load} ipsec {state}")
}

/// The match part of a rule named `comment` (a set lookup names the entry's set).
pub fn matches_with(ms: &[Match], comment: &str) -> String {
    let mut parts: Vec<String> = Vec::new();
    let mut i = 0;
    while i < ms.len() {
        match (ms[i], ms.get(i + 1)) {
            (Match::SrcInSet { v6 }, _) | (Match::SrcInAddrs { v6 }, _) => {
                let kind = match (ms[i], v6) {
                    (Match::SrcInAddrs { .. }, false) => SetKind::Addr4,
                    (Match::SrcInAddrs { .. }, true) => SetKind::Addr6,
                    (_, false) => SetKind::Src4,
                    (_, true) => SetKind::Src6,
                };
                let ip = if v6 { "ip6" } else { "ip" };
                parts.push(format!("{ip} saddr @{}", set_name(kind, comment)));
            }
            (Match::L4Proto(p), Some(Match::Record(key))) => {
                parts.push(format!(
                    "meta l4proto {} update @{} {{ th dport }}",
                    proto_name(p),
                    set_name(key.set_kind(), "")
                ));
                i += 2;
                continue;
            }
            (Match::Record(key @ (RecordKey::Src4 | RecordKey::Src6)), _) => {
                let (fam, ip) = if key == RecordKey::Src6 {
                    ("ipv6", "ip6")
                } else {
                    ("ipv4", "ip")
                };
                parts.push(format!(
                    "meta nfproto {fam} update @{} {{ {ip} saddr }}",
                    set_name(key.set_kind(), "")
                ));
            }
            (Match::L4Proto(p), Some(Match::DstPortInSet)) => {
                let kind = if p == IPPROTO_UDP {
                    SetKind::Udp
                } else {
                    SetKind::Tcp
                };
                parts.push(format!(
                    "{} dport @{}",
                    proto_name(p),
                    set_name(kind, comment)
                ));
                i += 2;
                continue;
            }
            (Match::L4Proto(p), Some(Match::DstPort(r))) => {
                parts.push(format!("{} dport {}", proto_name(p), r));
                i += 2;
                continue;
            }
            (Match::L4Proto(p), Some(Match::SrcPort(r))) => {
                parts.push(format!("{} sport {}", proto_name(p), r));
                i += 2;
                continue;
            }
            (Match::L4Proto(p), Some(Match::DstPortNot(r))) => {
                parts.push(format!("{} dport != {}", proto_name(p), r));
                i += 2;
                continue;
            }
            (Match::L4Proto(p), Some(Match::SrcPortNot(r))) => {
                parts.push(format!("{} sport != {}", proto_name(p), r));
                i += 2;
                continue;
            }
            (
                Match::Meter {
                    v6,
                    prefix,
                    rate,
                    over,
                    nth,
                    shared,
                },
                _,
            ) => {
                parts.push(format!(
                    "update @{} {{ {} limit rate {}{rate} }}",
                    meter_name(v6, comment, nth, shared),
                    meter_key(v6, prefix),
                    if over { "over " } else { "" }
                ));
            }
            (Match::ConnMeter { v6, prefix, max }, _) => {
                parts.push(conn_meter(comment, v6, prefix, max));
            }
            (Match::L4Proto(p), Some(Match::CtOrigDport(r))) => {
                parts.push(format!(
                    "meta l4proto {} ct original proto-dst {r}",
                    proto_name(p)
                ));
                i += 2;
                continue;
            }
            // a port set after something other than its protocol (a limit that counts every
            // packet of the protocol): the protocol before it names the set
            (Match::SrcPortInSet | Match::DstPortInSet | Match::DstInSet { .. }, _) => {
                parts.push(set_lookup(ms, i, comment));
            }
            (Match::L4Proto(IPPROTO_TCP), Some(Match::TcpFlags { mask, value })) => {
                parts.push(format!(
                    "tcp flags {} / {}",
                    tcp_flag_names(*value),
                    tcp_flag_names(*mask)
                ));
                i += 2;
                continue;
            }
            (Match::L4Proto(IPPROTO_ICMP), Some(Match::IcmpTypeCode { ty, code })) => {
                parts.push(format!(
                    "meta l4proto icmp icmp type {} icmp code {code}",
                    icmp_type(*ty)
                ));
                i += 2;
                continue;
            }
            (Match::L4Proto(IPPROTO_ICMPV6), Some(Match::Icmpv6TypeCode { ty, code })) => {
                parts.push(format!(
                    "meta l4proto ipv6-icmp icmpv6 type {ty} icmpv6 code {code}"
                ));
                i += 2;
                continue;
            }
            (Match::L4Proto(IPPROTO_ICMP), Some(Match::IcmpType(t))) => {
                // `meta l4proto icmp` spelt out: a bare `icmp type` makes nft add `meta nfproto ipv4`
                parts.push(format!("meta l4proto icmp icmp type {}", icmp_type(*t)));
                i += 2;
                continue;
            }
            (Match::L4Proto(IPPROTO_ICMPV6), Some(Match::Icmpv6Type { lo, hi })) => {
                // `meta l4proto` spelt out, as statewall's batch has it (a bare `icmpv6 type`
                // makes nft add `meta nfproto ipv6` instead)
                parts.push(if lo == hi {
                    format!("meta l4proto ipv6-icmp icmpv6 type {lo}")
                } else {
                    format!("meta l4proto ipv6-icmp icmpv6 type {lo}-{hi}")
                });
                i += 2;
                continue;
            }
            (m, _) => parts.push(single(m)),
        }
        i += 1;
    }
    parts.join(" ")
}

fn single(m: Match) -> String {
    match m {
        Match::CtState(st) => format!("ct state {}", st.names().join(",")),
        Match::Iif(LOOPBACK_IFINDEX) => "iif \"lo\"".to_string(),
        Match::Iif(idx) => format!("iif {idx}"),
        Match::L4Proto(p) => format!("meta l4proto {}", proto_name(p)),
        Match::L4ProtoNot(p) => format!("meta l4proto != {}", proto_name(p)),
        Match::SrcNet(net @ Cidr::V4(..)) => format!("ip saddr {net}"),
        Match::SrcNet(net @ Cidr::V6(..)) => format!("ip6 saddr {net}"),
        Match::DstPort(r) => format!("th dport {r}"),
        Match::Icmpv6Type { lo, hi } if lo == hi => format!("icmpv6 type {lo}"),
        Match::Icmpv6Type { lo, hi } => format!("icmpv6 type {lo}-{hi}"),
        Match::IcmpType(t) => format!("icmp type {}", icmp_type(t)),
        Match::IcmpTypeNot { v6: false, ty } => format!("icmp type != {}", icmp_type(ty)),
        Match::IcmpTypeNot { v6: true, ty } => format!("icmpv6 type != {ty}"),
        Match::IifName(name) => format!("iifname \"{}\"", ifname_of(&name)),
        // set lookups are rendered by `matches_with`, which knows the rule's name
        Match::SrcInSet { v6: false } => "ip saddr @?".to_string(),
        Match::SrcInSet { v6: true } | Match::SrcInAddrs { v6: true } => "ip6 saddr @?".to_string(),
        Match::SrcInAddrs { v6: false } => "ip saddr @?".to_string(),
        Match::SrcInLive { v6: false, set } => format!("ip saddr @{}", set.set_name(false)),
        Match::SrcInLive { v6: true, set } => format!("ip6 saddr @{}", set.set_name(true)),
        Match::FeedLive { v6, set, remove } => format!(
            "{} @{} {{ {} saddr }}",
            if remove { "delete" } else { "update" },
            set.set_name(v6),
            if v6 { "ip6" } else { "ip" }
        ),
        Match::DstPortInSet => "th dport @?".to_string(),
        Match::SrcPortInSet => "th sport @?".to_string(),
        Match::DstInSet { v6: false } => "ip daddr @?".to_string(),
        Match::DstInSet { v6: true } => "ip6 daddr @?".to_string(),
        Match::DstNet(net @ Cidr::V4(..)) => format!("ip daddr {net}"),
        Match::DstNet(net @ Cidr::V6(..)) => format!("ip6 daddr {net}"),
        Match::SrcNetNot(net @ Cidr::V4(..)) => format!("ip saddr != {net}"),
        Match::SrcNetNot(net @ Cidr::V6(..)) => format!("ip6 saddr != {net}"),
        Match::DstNetNot(net @ Cidr::V4(..)) => format!("ip daddr != {net}"),
        Match::DstNetNot(net @ Cidr::V6(..)) => format!("ip6 daddr != {net}"),
        Match::NfProto { v6: false } => "meta nfproto ipv4".to_string(),
        Match::NfProto { v6: true } => "meta nfproto ipv6".to_string(),
        Match::Oif(LOOPBACK_IFINDEX) => "oif \"lo\"".to_string(),
        Match::Oif(idx) => format!("oif {idx}"),
        Match::OifName(name) => format!("oifname \"{}\"", ifname_of(&name)),
        Match::IifWild(name) => format!("iifname \"{}*\"", ifname_of(&name)),
        Match::OifWild(name) => format!("oifname \"{}*\"", ifname_of(&name)),
        Match::SrcPort(r) => format!("th sport {r}"),
        Match::IcmpTypeCode { ty, code } => format!("icmp type {} icmp code {code}", icmp_type(ty)),
        Match::Icmpv6TypeCode { ty, code } => format!("icmpv6 type {ty} icmpv6 code {code}"),
        Match::TcpFlags { mask, value } => format!(
            "tcp flags {} / {}",
            tcp_flag_names(value),
            tcp_flag_names(mask)
        ),
        Match::Record(key) => format!("update @{} {{ th dport }}", set_name(key.set_kind(), "")),
        Match::Limit { rate, over: true } => format!("limit rate over {rate}"),
        Match::Limit { rate, over: false } => format!("limit rate {rate}"),
        // rendered by `matches_with`, which knows the rule's name
        Match::Meter {
            v6,
            prefix,
            rate,
            over,
            ..
        } => format!(
            "update @? {{ {} limit rate {}{rate} }}",
            meter_key(v6, prefix),
            if over { "over " } else { "" }
        ),
        Match::CtCount { max } => format!("ct count over {max}"),
        // rendered by `matches_with`, which knows the rule's name
        Match::ConnMeter { v6, prefix, max } => {
            format!("add @? {{ {} ct count over {max} }}", meter_key(v6, prefix))
        }
        Match::CtOrigDport(r) => format!("ct original proto-dst {r}"),
        Match::CtOrigDst(net @ Cidr::V4(..)) => format!("ct original ip daddr {net}"),
        Match::CtOrigDst(net @ Cidr::V6(..)) => format!("ct original ip6 daddr {net}"),
        Match::CtOrigSrc(net @ Cidr::V4(..)) => format!("ct original ip saddr {net}"),
        Match::CtOrigSrc(net @ Cidr::V6(..)) => format!("ct original ip6 saddr {net}"),
        Match::CtDnat => "ct status dnat".to_string(),
        Match::CtProto(p) => format!("ct protocol {p}"),
        Match::AddrType { dst, ty, not } => format!(
            "fib {} type {}{}",
            if dst { "daddr" } else { "saddr" },
            if not { "!= " } else { "" },
            crate::core::addrtype::addr_type_name(ty)
        ),
        Match::PktType { ty, not } => format!(
            "meta pkttype {}{}",
            if not { "!= " } else { "" },
            crate::core::pkttype::nft_pkt_type_name(ty)
        ),
        Match::Ipsec { out, present } => ipsec_text(out, present),
        Match::RtType { ty, not } => format!("rt type {}{ty}", if not { "!= " } else { "" }),
        Match::TcpOption { kind, present } => format!(
            "tcp option {} {}",
            crate::core::exthdr::nft_tcp_option_name(kind),
            if present { "exists" } else { "missing" }
        ),
        Match::TcpMss { lo, hi, not } => format!(
            "tcp option maxseg size {}{}",
            if not { "!= " } else { "" },
            crate::core::header::range_text(lo, hi)
        ),
        Match::SkOwner { gid, id, not } => format!(
            "meta {} {}{id}",
            if gid { "skgid" } else { "skuid" },
            if not { "!= " } else { "" }
        ),
        Match::EtherSrc { mac, not } => format!(
            "ether saddr {}{}",
            if not { "!= " } else { "" },
            crate::core::header::mac_text(mac)
        ),
        Match::Ttl { v6, lo, hi, not } => format!(
            "{} {}",
            if v6 { "ip6 hoplimit" } else { "ip ttl" },
            crate::core::header::nft_ttl_text(lo, hi, not)
        ),
        Match::Length { lo, hi, not } => format!(
            "meta length {}{}",
            if not { "!= " } else { "" },
            crate::core::header::range_text(lo, hi)
        ),
        Match::IfNot { out, wild, name } => format!(
            "{}ifname != \"{}{}\"",
            if out { "o" } else { "i" },
            ifname_of(&name),
            if wild { "*" } else { "" }
        ),
        Match::Mark { .. } | Match::Hour { .. } | Match::Day { .. } | Match::Time { .. } => {
            meta_key(&m)
        }
        // nft lists the kernel's x_tables match by its name alone: the pattern follows
        Match::Contains { pattern, not } => format!(
            "xt match string {}{}",
            if not { "!= " } else { "" },
            pattern.text()
        ),
        Match::Helper { name, not } => {
            format!("xt match helper {}\"{name}\"", if not { "!= " } else { "" })
        }
        Match::U32 { expr, not } => format!(
            "xt match u32 {}\"{}\"",
            if not { "!= " } else { "" },
            expr.text()
        ),
        Match::DstPortNot(r) => format!("th dport != {r}"),
        Match::SrcPortNot(r) => format!("th sport != {r}"),
    }
}

/// The matches of a meta key: the packet's mark, the kernel's clock.
fn meta_key(m: &Match) -> String {
    match *m {
        Match::Mark { value, mask, not } => {
            let op = if not { "!= " } else { "" };
            if mask == u32::MAX {
                format!("meta mark {op}0x{value:08x}")
            } else {
                let op = if not { "!=" } else { "==" };
                format!("meta mark & 0x{mask:08x} {op} 0x{value:08x}")
            }
        }
        // nft reads these in its own timezone: the text is UTC's (TZ=UTC nft -f)
        Match::Hour { lo, hi, not } => {
            let op = if not { "!= " } else { "" };
            let t = |s: u32| format!("\"{:02}:{:02}:{:02}\"", s / 3600, s / 60 % 60, s % 60);
            if lo == hi {
                format!("meta hour {op}{}", t(lo))
            } else {
                format!("meta hour {op}{}-{}", t(lo), t(hi))
            }
        }
        Match::Day { lo, hi, not } => {
            let op = if not { "!= " } else { "" };
            if lo == hi {
                format!("meta day {op}{lo}")
            } else {
                format!("meta day {op}{lo}-{hi}")
            }
        }
        Match::Time { secs, before } => {
            let op = if before { "<" } else { ">=" };
            let date = crate::core::clock::date_text(secs);
            let (d, t) = date.split_once('T').unwrap_or((&date, "00:00:00"));
            format!("meta time {op} \"{d} {t}\"")
        }
        _ => unreachable!("single gives meta_key the mark and the clock only"),
    }
}

/// A per-source connection count of the entry named `comment`: `add @conn4_<name> { ip saddr
/// ct count over 3 }`.
fn conn_meter(comment: &str, v6: bool, prefix: u8, max: u32) -> String {
    let kind = if v6 { SetKind::Conn6 } else { SetKind::Conn4 };
    format!(
        "add @{} {{ {} ct count over {max} }}",
        set_name(kind, comment),
        meter_key(v6, prefix),
    )
}

/// A meter's key: the source address, an IPv6 one cut to its prefix, or (prefix 0, a limit of
/// the entry as a whole) every source of the family as one.
fn meter_key(v6: bool, prefix: u8) -> String {
    match (v6, prefix) {
        (false, 32..) => "ip saddr".into(),
        (false, p) => {
            let mask = std::net::Ipv4Addr::from(Cidr::mask(p, 32) as u32);
            format!("ip saddr & {mask}")
        }
        (true, 128..) => "ip6 saddr".into(),
        (true, p) => {
            let mask = std::net::Ipv6Addr::from(Cidr::mask(p, 128));
            format!("ip6 saddr & {mask}")
        }
    }
}

/// A duration as nft prints one: `1h30m`, `45s`.
pub fn nft_duration(secs: u64) -> String {
    let mut out = String::new();
    let mut rest = secs;
    for (unit, n) in [("d", 86_400), ("h", 3600), ("m", 60), ("s", 1)] {
        if rest >= n {
            let _ = write!(out, "{}{unit}", rest / n);
            rest %= n;
        }
    }
    if out.is_empty() {
        out.push_str("0s");
    }
    out
}

/// A destination set or source port set lookup at `ms[i]` of a rule named `comment`.
fn set_lookup(ms: &[Match], i: usize, comment: &str) -> String {
    let proto = ms[..i].iter().rev().find_map(|m| match m {
        Match::L4Proto(p) => Some(*p),
        _ => None,
    });
    match (ms[i], proto) {
        (Match::DstInSet { v6: false }, _) => {
            format!("ip daddr @{}", set_name(SetKind::Dst4, comment))
        }
        (Match::DstInSet { v6: true }, _) => {
            format!("ip6 daddr @{}", set_name(SetKind::Dst6, comment))
        }
        (Match::SrcPortInSet, Some(IPPROTO_UDP)) => {
            format!("th sport @{}", set_name(SetKind::UdpSport, comment))
        }
        (Match::SrcPortInSet, _) => format!("th sport @{}", set_name(SetKind::TcpSport, comment)),
        (Match::DstPortInSet, Some(IPPROTO_UDP)) => {
            format!("th dport @{}", set_name(SetKind::Udp, comment))
        }
        (Match::DstPortInSet, _) => format!("th dport @{}", set_name(SetKind::Tcp, comment)),
        (m, _) => single(m),
    }
}

/// A set in nft syntax: an interval set with a counter per element, elements in the
/// policy's order, a few per line; `fed`: a live set the packet path adds to.
pub fn set_text(set: &Set, fed: bool) -> String {
    let mut s = String::new();
    let _ = writeln!(s, "\tset {} {{", set.name);
    let _ = writeln!(s, "\t\ttype {}", set.kind.nft_type().0);
    if set.kind.meter() {
        // a bucket per source the packet path saw, forgotten once it would be full again
        let _ = writeln!(s, "\t\tsize {}", crate::core::plan::DYNAMIC_SET_SIZE);
        let _ = writeln!(s, "\t\tflags dynamic,timeout");
        let _ = writeln!(s, "\t\ttimeout {}", nft_duration(set.timeout.unwrap_or(60)));
        let _ = writeln!(s, "\t}}");
        return s;
    }
    if set.kind.conn() {
        // a connection list per source the packet path saw, gone with its last connection
        let _ = writeln!(s, "\t\tsize {}", crate::core::plan::DYNAMIC_SET_SIZE);
        let _ = writeln!(s, "\t\tflags dynamic");
        let _ = writeln!(s, "\t}}");
        return s;
    }
    if set.kind.dynamic() {
        // filled by the packet path: its elements are data, not part of the plan
        let _ = writeln!(s, "\t\tsize {}", crate::core::plan::DYNAMIC_SET_SIZE);
        let _ = writeln!(s, "\t\tflags dynamic");
        let _ = writeln!(s, "\t\tcounter");
        let _ = writeln!(s, "\t}}");
        return s;
    }
    if set.kind.live() {
        // members come and go at run time (`statewall set add`, and the packet path for a
        // fed one, bounded as a dynamic set is): they are not part of the plan
        if fed {
            let _ = writeln!(s, "\t\tsize {}", crate::core::plan::DYNAMIC_SET_SIZE);
        }
        let flags = match (set.kind.hashed(), fed) {
            (true, true) => "dynamic,timeout",
            (true, false) => "timeout",
            (false, _) => "interval,timeout",
        };
        let _ = writeln!(s, "\t\tflags {flags}");
        let _ = writeln!(s, "\t\tcounter");
        if let Some(t) = set.timeout {
            let _ = writeln!(s, "\t\ttimeout {t}s");
        }
        let _ = writeln!(s, "\t}}");
        return s;
    }
    if !set.kind.hashed() {
        let _ = writeln!(s, "\t\tflags interval");
    }
    let _ = writeln!(s, "\t\tcounter");
    if !set.elements.is_empty() {
        // sorted, as the kernel holds them, so a live table renders like its plan
        let mut sorted = set.elements.clone();
        sorted.sort();
        let items: Vec<String> = sorted.iter().map(|e| e.to_string()).collect();
        let _ = writeln!(s, "\t\telements = {{");
        for (i, chunk) in items.chunks(4).enumerate() {
            let last = (i + 1) * 4 >= items.len();
            let _ = writeln!(
                s,
                "\t\t\t{}{}",
                chunk.join(", "),
                if last { "" } else { "," }
            );
        }
        let _ = writeln!(s, "\t\t}}");
    }
    let _ = writeln!(s, "\t}}");
    s
}

/// An ICMPv4 type by its nft name when it has one, else its number.
fn icmp_type(t: u8) -> String {
    match crate::core::model::icmp_type_name(t) {
        Some(name) => name.to_string(),
        None => t.to_string(),
    }
}

pub fn proto_name(p: u8) -> String {
    match p {
        IPPROTO_ICMP => "icmp".into(),
        IPPROTO_TCP => "tcp".into(),
        IPPROTO_UDP => "udp".into(),
        IPPROTO_ICMPV6 => "ipv6-icmp".into(),
        other => match PROTOCOLS.iter().find(|(_, n)| *n == other) {
            Some((name, _)) => (*name).to_string(),
            None => other.to_string(),
        },
    }
}

/// `reject with icmp <code>` as `nft list` prints it: the code by nft's name for it in its
/// family (`icmp` or `icmpv6`), else by number.
fn reject_icmp(v6: bool, code: u8) -> String {
    let name = match (v6, code) {
        (false, 0) => "net-unreachable",
        (false, 1) => "host-unreachable",
        (false, 2) => "prot-unreachable",
        (false, 3) => "port-unreachable",
        (false, 9) => "net-prohibited",
        (false, 10) => "host-prohibited",
        (false, 13) => "admin-prohibited",
        (true, 0) => "no-route",
        (true, 1) => "admin-prohibited",
        (true, 3) => "addr-unreachable",
        (true, 4) => "port-unreachable",
        _ => "",
    };
    let family = if v6 { "icmpv6" } else { "icmp" };
    if name.is_empty() {
        format!("reject with {family} {code}")
    } else {
        format!("reject with {family} {name}")
    }
}

pub fn verdict(v: Verdict) -> String {
    match v {
        Verdict::Continue => String::new(),
        Verdict::Accept => "accept".into(),
        Verdict::Drop => "drop".into(),
        Verdict::RejectTcpReset => "reject with tcp reset".into(),
        Verdict::RejectIcmpx(kind) => format!("reject with icmpx type {}", kind.as_str()),
        Verdict::RejectIcmp { v6, code } => reject_icmp(v6, code),
        Verdict::Jump(n) => format!("jump {}", crate::core::plan::entries_chain(n)),
        Verdict::JumpIn(hook, n) => format!("jump {}", hook_entries_chain(hook, n)),
        Verdict::SetMss(crate::core::model::Mss::Pmtu) => {
            "tcp option maxseg size set rt mtu".into()
        }
        Verdict::SetMss(crate::core::model::Mss::Value(v)) => {
            format!("tcp option maxseg size set {v}")
        }
        Verdict::Log(to) => {
            let mut s = format!("log prefix \"{}\"", to.prefix.as_str());
            match to.dest {
                // warn is the kernel's default, which nft leaves out
                crate::core::model::LogDest::Level(4) => {}
                crate::core::model::LogDest::Level(l) => {
                    let name = crate::core::model::LOG_LEVELS.get(usize::from(l));
                    let _ = write!(s, " level {}", name.copied().unwrap_or("?"));
                }
                crate::core::model::LogDest::Group(g) => {
                    let _ = write!(s, " group {g}");
                }
            }
            s
        }
    }
}

/// A minimal line diff (longest common subsequence), `-` for live only, `+` for plan only.
/// Returns None when both texts are equal.
pub fn diff(old: &str, new: &str) -> Option<String> {
    if old == new {
        return None;
    }
    let a: Vec<&str> = old.lines().collect();
    let b: Vec<&str> = new.lines().collect();
    // LCS table; inputs are a few hundred lines in practice. For very large tables fall
    // back to a summary rather than an O(n*m) table.
    if a.len().saturating_mul(b.len()) > 4_000_000 {
        return Some(format!(
            "(live table has {} lines, plan has {} lines; too large for a line diff)\n",
            a.len(),
            b.len()
        ));
    }
    let mut lcs = vec![vec![0u32; b.len() + 1]; a.len() + 1];
    for i in (0..a.len()).rev() {
        for j in (0..b.len()).rev() {
            lcs[i][j] = if a[i] == b[j] {
                lcs[i + 1][j + 1] + 1
            } else {
                lcs[i + 1][j].max(lcs[i][j + 1])
            };
        }
    }
    let (mut i, mut j) = (0, 0);
    let mut out = String::new();
    while i < a.len() || j < b.len() {
        if i < a.len() && j < b.len() && a[i] == b[j] {
            let _ = writeln!(out, "  {}", a[i]);
            i += 1;
            j += 1;
        } else if i < a.len() && (j == b.len() || lcs[i + 1][j] >= lcs[i][j + 1]) {
            let _ = writeln!(out, "- {}", a[i]);
            i += 1;
        } else {
            let _ = writeln!(out, "+ {}", b[j]);
            j += 1;
        }
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    #[test]
    fn diff_marks_removed_then_added_lines() {
        assert_eq!(
            super::diff("a\nb\nc\n", "a\nx\nc\n").as_deref(),
            Some("  a\n- b\n+ x\n  c\n")
        );
        assert_eq!(super::diff("same\n", "same\n"), None);
    }
}
