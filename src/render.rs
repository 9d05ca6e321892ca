//! Plan → nft script text: what `statewall plan` prints and what the golden tests compare.
//! Deterministic and pure. The script is valid input for `nft -f`, which the kernel tests
//! use as an oracle for "statewall's batch means the same as this text".

use crate::model::Cidr;
use crate::plan::*;
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
    let _ = writeln!(s, "table inet {t}");
    let _ = writeln!(s, "delete table inet {t}");
    s.push_str(&table_body(plan));
    s
}

/// `table inet NAME { ... }` alone: the part that is compared with the live table.
pub fn table_body(plan: &Plan) -> String {
    let mut s = String::new();
    let _ = writeln!(s, "table inet {} {{", plan.table);
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
    let m = matches(&r.matches);
    let mut s = String::new();
    if !m.is_empty() {
        s.push_str(&m);
        s.push(' ');
    }
    let _ = write!(
        s,
        "counter {} comment \"{}\"",
        verdict(r.verdict),
        r.comment
    );
    s
}

/// The match part of a rule ("" for a rule that matches everything).
pub fn matches(ms: &[Match]) -> String {
    let mut parts: Vec<String> = Vec::new();
    let mut i = 0;
    while i < ms.len() {
        match (ms[i], ms.get(i + 1)) {
            (Match::L4Proto(p), Some(Match::DstPort(r))) => {
                parts.push(format!("{} dport {}", proto_name(p), r));
                i += 2;
                continue;
            }
            (Match::L4Proto(IPPROTO_ICMPV6), Some(Match::Icmpv6Type { lo, hi })) => {
                parts.push(if lo == hi {
                    format!("icmpv6 type {lo}")
                } else {
                    format!("icmpv6 type {lo}-{hi}")
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
        Match::SrcNet(net @ Cidr::V4(..)) => format!("ip saddr {net}"),
        Match::SrcNet(net @ Cidr::V6(..)) => format!("ip6 saddr {net}"),
        Match::DstPort(r) => format!("th dport {r}"),
        Match::Icmpv6Type { lo, hi } if lo == hi => format!("icmpv6 type {lo}"),
        Match::Icmpv6Type { lo, hi } => format!("icmpv6 type {lo}-{hi}"),
    }
}

pub fn proto_name(p: u8) -> String {
    match p {
        IPPROTO_ICMP => "icmp".into(),
        IPPROTO_TCP => "tcp".into(),
        IPPROTO_UDP => "udp".into(),
        IPPROTO_ICMPV6 => "ipv6-icmp".into(),
        other => other.to_string(),
    }
}

pub fn verdict(v: Verdict) -> String {
    match v {
        Verdict::Accept => "accept".into(),
        Verdict::Drop => "drop".into(),
        Verdict::RejectTcpReset => "reject with tcp reset".into(),
        Verdict::RejectIcmpx(kind) => format!("reject with icmpx type {}", kind.as_str()),
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
