//! `statewall verify`: what an audit-mode table has seen, from data the kernel kept —
//! the rules' counters and the audit sets the recorder rules fill (destination ports and
//! sources of everything the final rule would drop). Pure: works on a read-back table.

use serde_json::{Value, json};

use crate::core::compile::FINAL_COMMENT;
use crate::core::lint::Facts;
use crate::core::live::{LiveSet, LiveTable};
use crate::core::plan::{SetKind, Verdict};

/// One destination port or source that the final rule would have dropped.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Hit {
    pub what: String,
    pub packets: u64,
    pub bytes: u64,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Report {
    pub table: String,
    pub audit: bool,
    /// (policy name, packets) of every allow/reject entry, in chain order
    pub entries: Vec<(String, u64)>,
    /// entries whose rules saw no packet at all
    pub silent: Vec<String>,
    /// packets and bytes the final rule counted (what enforce would drop)
    pub would_drop: (u64, u64),
    pub tcp_ports: Vec<Hit>,
    pub udp_ports: Vec<Hit>,
    pub sources: Vec<Hit>,
    /// why enforcing looks unsafe (empty: it looks safe)
    pub risks: Vec<String>,
    /// an audit set that could not be read, or is full
    pub notes: Vec<String>,
}

impl Report {
    pub fn safe(&self) -> bool {
        self.audit && self.risks.is_empty()
    }
}

fn hits(set: Option<&LiveSet>, notes: &mut Vec<String>) -> Vec<Hit> {
    let Some(set) = set else { return Vec::new() };
    match &set.elements {
        Err(why) => {
            notes.push(format!("set {} could not be read: {why}", set.name));
            Vec::new()
        }
        Ok(els) => {
            if els.len() as u32 >= crate::core::plan::DYNAMIC_SET_SIZE {
                notes.push(format!(
                    "set {} is full ({} elements): later keys were not recorded",
                    set.name,
                    els.len()
                ));
            }
            let mut v: Vec<Hit> = els
                .iter()
                .map(|(e, p, b)| Hit {
                    what: e.to_string(),
                    packets: *p,
                    bytes: *b,
                })
                .collect();
            v.sort_by(|a, b| b.packets.cmp(&a.packets).then(a.what.cmp(&b.what)));
            v
        }
    }
}

/// The audit report; `facts` (the same the lockout lint uses) say which ports SSH needs.
pub fn report(t: &LiveTable, facts: &Facts) -> Report {
    let audit = t.stored_mode() == Some("audit");
    let mut entries: Vec<(String, u64)> = Vec::new();
    let mut index: std::collections::HashMap<String, usize> = std::collections::HashMap::new();
    let mut would_drop = (0, 0);
    for c in &t.chains {
        for r in &c.rules {
            let name = r.comment.clone().unwrap_or_default();
            // what the input chain's final rule counted (forward and output have their own);
            // a reject icmpx cannot say is one final rule per family
            if name == FINAL_COMMENT && matches!(c.hook, Some((1, _))) {
                would_drop = (would_drop.0 + r.packets, would_drop.1 + r.bytes);
                continue;
            }
            // a jump into a chain of entry rules counts what got that far, not an entry
            let jump = matches!(&r.rule, Ok(rule) if matches!(rule.verdict, Verdict::Jump(_) | Verdict::JumpIn(..)));
            if name == FINAL_COMMENT {
                continue;
            }
            // an entry's log rule and its limit's rule count what it logged and limited,
            // not what it let through
            let aside = matches!(&r.rule, Ok(rule) if matches!(rule.verdict, Verdict::Log(_))
                || rule.matches.iter().any(|m| matches!(m, crate::core::plan::Match::Limit { .. } | crate::core::plan::Match::Meter { .. }
                    | crate::core::plan::Match::CtCount { .. } | crate::core::plan::Match::ConnMeter { .. })));
            if jump
                || aside
                || name == crate::core::plan::AUDIT_COMMENT
                || crate::core::compile::BASELINE_COMMENTS.contains(&name.as_str())
            {
                continue;
            }
            // by name, in policy order: a lookup per rule, not a scan (50,000 entries)
            match index.get(&name) {
                Some(&k) => entries[k].1 += r.packets,
                None => {
                    index.insert(name.clone(), entries.len());
                    entries.push((name, r.packets));
                }
            }
        }
    }
    let silent = entries
        .iter()
        .filter(|(_, p)| *p == 0)
        .map(|(n, _)| n.clone())
        .collect();
    let set = |k: SetKind| t.sets.iter().find(|s| s.kind == k);
    let mut notes = Vec::new();
    let tcp_ports = hits(set(SetKind::AuditTcp), &mut notes);
    let udp_ports = hits(set(SetKind::AuditUdp), &mut notes);
    let mut sources = hits(set(SetKind::AuditSrc4), &mut notes);
    sources.extend(hits(set(SetKind::AuditSrc6), &mut notes));
    sources.sort_by(|a, b| b.packets.cmp(&a.packets).then(a.what.cmp(&b.what)));

    let mut risks = Vec::new();
    if !audit {
        risks.push(format!(
            "table inet {} is not in audit mode: there is nothing to verify (apply --audit first)",
            t.name
        ));
    }
    let mut ssh_like: Vec<(u16, &str)> = Vec::new();
    if let Some(p) = facts.ssh.as_ref().map(|c| c.server_port) {
        ssh_like.push((p, "the port of your own SSH connection"));
    }
    for p in &facts.sshd_ports {
        if !ssh_like.iter().any(|(q, _)| q == p) {
            ssh_like.push((*p, "a port sshd listens on"));
        }
    }
    for (port, why) in ssh_like {
        if let Some(h) = tcp_ports
            .iter()
            .find(|h| h.what == port.to_string() && h.packets > 0)
        {
            risks.push(format!(
                "tcp port {port} ({why}) reached the final rule {} times: enforcing would drop those connections",
                h.packets
            ));
        }
    }
    Report {
        table: t.name.clone(),
        audit,
        entries,
        silent,
        would_drop,
        tcp_ports,
        udp_ports,
        sources,
        risks,
        notes,
    }
}

/// Up to this many entries, the text report lists every one; beyond, a summary.
const ENTRIES_SHOWN_IN_FULL: usize = 50;
/// How many busy and how many silent entries the summary names.
const ENTRIES_SUMMARY: usize = 20;

fn top(list: &[Hit], n: usize) -> Vec<&Hit> {
    list.iter().filter(|h| h.packets > 0).take(n).collect()
}

pub fn text(r: &Report) -> String {
    let mut s = String::new();
    s.push_str(&format!(
        "audit report for table inet {}\n\nentries of the policy (packets):\n",
        r.table
    ));
    let silent_note = "  <- saw no NEW connection: is the service in use, and is the rule right?";
    if r.entries.len() <= ENTRIES_SHOWN_IN_FULL {
        for (name, p) in &r.entries {
            let note = if *p == 0 { silent_note } else { "" };
            s.push_str(&format!("  {p:>10}  {name}{note}\n"));
        }
    } else {
        // thousands of entries: the busiest and the first silent ones; --json has them all
        let mut busy: Vec<&(String, u64)> = r.entries.iter().filter(|(_, p)| *p > 0).collect();
        busy.sort_by_key(|e| std::cmp::Reverse(e.1));
        s.push_str(&format!(
            "  {} entries: {} saw NEW connections, {} did not\n",
            r.entries.len(),
            busy.len(),
            r.silent.len()
        ));
        for (name, p) in busy.iter().take(ENTRIES_SUMMARY) {
            s.push_str(&format!("  {p:>10}  {name}\n"));
        }
        if busy.len() > ENTRIES_SUMMARY {
            s.push_str(&format!(
                "  {:>10}  ... {} more that saw traffic\n",
                "",
                busy.len() - ENTRIES_SUMMARY
            ));
        }
        for name in r.silent.iter().take(ENTRIES_SUMMARY) {
            s.push_str(&format!("  {:>10}  {name}{silent_note}\n", 0));
        }
        if r.silent.len() > ENTRIES_SUMMARY {
            s.push_str(&format!(
                "  {:>10}  ... {} more that saw no NEW connection\n",
                "",
                r.silent.len() - ENTRIES_SUMMARY
            ));
        }
        s.push_str("  (statewall verify --json lists every entry)\n");
    }
    s.push_str(&format!(
        "\nwhat enforce would drop: {} packets, {} bytes reached the final rule\n",
        r.would_drop.0, r.would_drop.1
    ));
    for (label, list) in [
        ("tcp ports", &r.tcp_ports),
        ("udp ports", &r.udp_ports),
        ("sources", &r.sources),
    ] {
        let shown = top(list, 10);
        if shown.is_empty() {
            continue;
        }
        s.push_str(&format!("  by {label}:\n"));
        for h in shown {
            s.push_str(&format!("    {:>10}  {}\n", h.packets, h.what));
        }
    }
    for n in &r.notes {
        s.push_str(&format!("note: {n}\n"));
    }
    s.push('\n');
    if r.risks.is_empty() {
        s.push_str(
            "enforcing looks safe: nothing your SSH access depends on reached the final rule\n",
        );
    } else {
        for risk in &r.risks {
            s.push_str(&format!("UNSAFE: {risk}\n"));
        }
    }
    s
}

pub fn json(r: &Report) -> Value {
    let list = |l: &[Hit]| -> Vec<Value> {
        l.iter()
            .map(|h| json!({"key": h.what, "packets": h.packets, "bytes": h.bytes}))
            .collect()
    };
    json!({
        "schema": "statewall.verify/1",
        "table": r.table,
        "audit": r.audit,
        "safe": r.safe(),
        "entries": r.entries.iter().map(|(n, p)| json!({"name": n, "packets": p})).collect::<Vec<_>>(),
        "silent": r.silent,
        "would_drop": {"packets": r.would_drop.0, "bytes": r.would_drop.1,
            "tcp_ports": list(&r.tcp_ports), "udp_ports": list(&r.udp_ports),
            "sources": list(&r.sources)},
        "risks": r.risks,
        "notes": r.notes,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn report(n: usize, busy: impl Fn(usize) -> u64) -> Report {
        let entries: Vec<(String, u64)> = (0..n).map(|i| (format!("e{i}"), busy(i))).collect();
        Report {
            table: "statewall".into(),
            audit: true,
            silent: entries
                .iter()
                .filter(|(_, p)| *p == 0)
                .map(|(n, _)| n.clone())
                .collect(),
            entries,
            would_drop: (0, 0),
            tcp_ports: Vec::new(),
            udp_ports: Vec::new(),
            sources: Vec::new(),
            risks: Vec::new(),
            notes: Vec::new(),
        }
    }

    #[test]
    fn a_short_report_lists_every_entry() {
        let t = text(&report(ENTRIES_SHOWN_IN_FULL, |i| (i % 2) as u64));
        for i in 0..ENTRIES_SHOWN_IN_FULL {
            assert!(t.contains(&format!("  e{i}")), "e{i} missing:\n{t}");
        }
        assert!(!t.contains("--json lists"), "{t}");
    }

    #[test]
    fn thousands_of_entries_are_summed_up_busiest_first() {
        // every 100th entry but e0 saw traffic, e4900 the most
        let t = text(&report(5_000, |i| if i % 100 == 0 { i as u64 } else { 0 }));
        assert!(
            t.contains("5000 entries: 49 saw NEW connections, 4951 did not"),
            "{t}"
        );
        let first_busy = t.lines().position(|l| l.ends_with("  e4900")).unwrap();
        let next_busy = t.lines().position(|l| l.ends_with("  e4800")).unwrap();
        assert!(first_busy < next_busy, "{t}");
        assert!(t.contains("... 29 more that saw traffic"), "{t}");
        assert!(
            t.contains("... 4931 more that saw no NEW connection"),
            "{t}"
        );
        assert!(t.lines().count() < 60, "{t}");
    }
}
