//! `statewall metrics`: what one scrape found, in the Prometheus text exposition format
//! (version 0.0.4, what node_exporter's textfile collector and every scraper read). Pure:
//! the use case (`usecase::metrics`) gathers a [`Scrape`]; this sums the rules per policy
//! entry, judges drift without set elements, and writes the text.
//!
//! Conventions of the exporters: `statewall_` prefix, base units (seconds, bytes), counters
//! end in `_total`, one HELP and one TYPE line per family, label values escaped (`\\`, `\"`,
//! `\n`), no handles or other per-commit identifiers as labels.

use std::collections::{BTreeMap, HashMap};

use crate::core::identity::fingerprint_as;
use crate::core::live::{Foreign, LiveRule, LiveTable};
use crate::core::plan::{self, Plan, SetKind, Verdict};
use crate::core::report::live_plan;

/// What one scrape found. `None` is "could not be told" (the series is left out, and the use
/// case says why on stderr), never a guess.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Scrape {
    pub table: String,
    pub version: String,
    pub commit: String,
    /// the table was read: false when there is none or netlink failed
    pub up: bool,
    pub rules: Vec<RuleSeries>,
    /// (set name, elements) of the sets the rules look up, but the audit sets
    pub sets: Vec<(String, u64)>,
    pub pending: Option<bool>,
    pub drift: Option<bool>,
    /// CLOCK_REALTIME seconds of the accepted revision (committed or confirmed)
    pub last_apply: Option<u64>,
    /// rollbacks by reason (every reason in `rollout::ROLLBACK_REASONS`, 0 when none)
    pub rollbacks: Option<BTreeMap<String, u64>>,
    /// rollbacks refused: a candidate that stayed live past its window
    pub rollbacks_refused: Option<u64>,
    /// the live table is the accepted revision (what boot loads); `None` while a change is
    /// pending, with drift, or with nothing accepted
    pub boot_loads_live: Option<bool>,
}

/// The counters of one policy entry in one chain, summed over its kernel rules.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RuleSeries {
    pub chain: String,
    /// the rule comment: the policy entry's name ("" for a rule without one)
    pub rule: String,
    pub verdict: &'static str,
    pub packets: u64,
    pub bytes: u64,
}

/// What a rule does with a packet, in one word: `accept`, `drop`, `reject` (any kind),
/// `jump` (to an `entries_N` chain), `continue` (the audit recorders count and go on), or
/// `unknown` for a rule statewall cannot read. A policy entry's rules share one.
pub fn verdict_class(r: &LiveRule) -> &'static str {
    let rule = match &r.rule {
        Ok(rule) | Err(Foreign::Uncounted(rule)) => rule,
        Err(Foreign::Other(_)) => return "unknown",
    };
    match rule.verdict {
        Verdict::Continue => "continue",
        Verdict::Log(_) => "log",
        Verdict::SetMss(_) => "mss",
        Verdict::Accept => "accept",
        Verdict::Drop => "drop",
        Verdict::RejectTcpReset | Verdict::RejectIcmpx(_) | Verdict::RejectIcmp { .. } => "reject",
        Verdict::Jump(_) | Verdict::JumpIn(..) => "jump",
    }
}

/// One series per policy entry (rule comment) and verdict per chain, its kernel rules
/// summed (the `icmpv6` rules are one series). Chains in the order read, entries in
/// the order of their first rule.
pub fn rule_series(t: &LiveTable) -> Vec<RuleSeries> {
    let mut out: Vec<RuleSeries> = Vec::new();
    for c in &t.chains {
        let mut at: HashMap<(&str, &'static str), usize> = HashMap::new();
        for r in &c.rules {
            let name = r.comment.as_deref().unwrap_or("");
            let verdict = verdict_class(r);
            let i = *at.entry((name, verdict)).or_insert_with(|| {
                out.push(RuleSeries {
                    chain: c.name.clone(),
                    rule: name.to_string(),
                    verdict,
                    packets: 0,
                    bytes: 0,
                });
                out.len() - 1
            });
            out[i].packets = out[i].packets.saturating_add(r.packets);
            out[i].bytes = out[i].bytes.saturating_add(r.bytes);
        }
    }
    out
}

/// The sets the live rules look up, by name, in the order of their first rule.
pub fn referenced_sets(t: &LiveTable) -> Vec<(String, SetKind)> {
    let mut out: Vec<(String, SetKind)> = Vec::new();
    for rule in t.chains.iter().flat_map(|c| &c.rules) {
        let Ok(rule) = &rule.rule else { continue };
        for m in &rule.matches {
            if let Some(name) = plan::set_of(rule, m)
                && let Some(kind) = SetKind::of_name(&name)
                && !out.iter().any(|(n, _)| *n == name)
            {
                out.push((name, kind));
            }
        }
    }
    out
}

/// Drift, as `report::drift` judges it, from a table read without set elements. The
/// elements are taken from `committed`, the plan statewall committed (whose fingerprint the
/// table's comment carries), so rules and chains are checked and set elements are not.
/// `None` when that cannot be told: the rules look up sets and no record holds the plan.
pub fn drift_without_elements(t: &LiveTable, committed: Option<&Plan>) -> Option<bool> {
    let Some(stored) = t.stored_fingerprint() else {
        return Some(true);
    };
    let Ok(mut live) = live_plan(t) else {
        return Some(true);
    };
    if !referenced_sets(t).is_empty() {
        live.sets = committed?.sets.clone();
    }
    Some(fingerprint_as(&live, t.stored_scheme()) != stored)
}

/// The element count of each set the rules look up, from the committed plan (never from an
/// element dump); the audit sets, which the kernel fills, and the live sets, whose members
/// change at run time (counting them needs a dump: `statewall status`), are left out.
pub fn set_sizes(t: &LiveTable, committed: &Plan) -> Vec<(String, u64)> {
    referenced_sets(t)
        .into_iter()
        .filter(|(_, kind)| !kind.dynamic() && !kind.live())
        .filter_map(|(name, _)| {
            let set = committed.sets.iter().find(|s| s.name == name)?;
            Some((name, set.elements.len() as u64))
        })
        .collect()
}

/// A label value as the text format wants it: backslash, double quote and line feed escaped.
pub fn escape_label(v: &str) -> String {
    let mut s = String::with_capacity(v.len());
    for c in v.chars() {
        match c {
            '\\' => s.push_str("\\\\"),
            '"' => s.push_str("\\\""),
            '\n' => s.push_str("\\n"),
            c => s.push(c),
        }
    }
    s
}

/// HELP text as the text format wants it: backslash and line feed escaped.
fn escape_help(v: &str) -> String {
    v.replace('\\', "\\\\").replace('\n', "\\n")
}

/// A metric family: its name, type and HELP text.
struct Meta {
    name: &'static str,
    kind: &'static str,
    help: &'static str,
}

const UP: Meta = Meta {
    name: "statewall_up",
    kind: "gauge",
    help: "1 when statewall's table was read; 0 when there is none or netlink failed (the reason is on stderr)",
};
const BUILD_INFO: Meta = Meta {
    name: "statewall_build_info",
    kind: "gauge",
    help: "The statewall build that answered the scrape: version and git commit (\"unknown\" when built without git)",
};
const RULE_PACKETS: Meta = Meta {
    name: "statewall_rule_packets_total",
    kind: "counter",
    help: "Packets counted by the rules of a policy entry (rule = its name) in a chain, summed over its kernel rules",
};
const RULE_BYTES: Meta = Meta {
    name: "statewall_rule_bytes_total",
    kind: "counter",
    help: "Bytes counted by the rules of a policy entry (rule = its name) in a chain, summed over its kernel rules",
};
const SET_ELEMENTS: Meta = Meta {
    name: "statewall_set_elements",
    kind: "gauge",
    help: "Elements of a set as statewall committed it (counted from the plan: a scrape never dumps a set's elements); audit sets are left out",
};
const PENDING: Meta = Meta {
    name: "statewall_pending",
    kind: "gauge",
    help: "1 while a change applied with --confirm waits for `statewall confirm` (it rolls back by itself otherwise)",
};
const DRIFT: Meta = Meta {
    name: "statewall_drift",
    kind: "gauge",
    help: "1 when the table's rules or chains differ from what statewall committed (set elements are checked by `statewall status`, not by a scrape)",
};
const BOOT_LOADS_LIVE: Meta = Meta {
    name: "statewall_boot_loads_live",
    kind: "gauge",
    help: "1 when the live table is the accepted revision, what boot loads; 0 when it is not (an apply that died before recording it, a table committed with another --state-dir: the next reboot changes the firewall); left out while a change is pending, with drift, or with nothing accepted",
};
const LAST_APPLY: Meta = Meta {
    name: "statewall_last_apply_timestamp_seconds",
    kind: "gauge",
    help: "When the accepted revision (what boot loads) was committed or confirmed, in seconds since the epoch",
};
const ROLLBACKS: Meta = Meta {
    name: "statewall_rollbacks_total",
    kind: "counter",
    help: "Rollbacks that restored the previous ruleset: reason=deadline (no confirm in time) or requested (statewall rollback)",
};
const ROLLBACKS_REFUSED: Meta = Meta {
    name: "statewall_rollbacks_refused_total",
    kind: "counter",
    help: "Rollbacks refused, so the unconfirmed candidate stayed live: someone else changed the table, or the previous policy no longer compiles (`statewall status` says which)",
};

/// One metric family being written: HELP and TYPE come with its first sample, so a family
/// without samples is left out.
struct Family<'a> {
    out: &'a mut String,
    meta: &'static Meta,
    started: bool,
}

impl Family<'_> {
    fn new<'a>(out: &'a mut String, meta: &'static Meta) -> Family<'a> {
        Family {
            out,
            meta,
            started: false,
        }
    }

    fn sample(&mut self, labels: &[(&str, &str)], value: u64) {
        let name = self.meta.name;
        if !self.started {
            self.started = true;
            self.out.push_str(&format!(
                "# HELP {name} {}\n# TYPE {name} {}\n",
                escape_help(self.meta.help),
                self.meta.kind
            ));
        }
        self.out.push_str(name);
        if !labels.is_empty() {
            let l: Vec<String> = labels
                .iter()
                .map(|(k, v)| format!("{k}=\"{}\"", escape_label(v)))
                .collect();
            self.out.push_str(&format!("{{{}}}", l.join(",")));
        }
        self.out.push_str(&format!(" {value}\n"));
    }
}

/// The scrape in the text exposition format, families in a fixed order.
pub fn exposition(s: &Scrape) -> String {
    let mut out = String::new();
    let t = s.table.as_str();
    Family::new(&mut out, &UP).sample(&[("table", t)], u64::from(s.up));
    Family::new(&mut out, &BUILD_INFO).sample(&[("version", &s.version), ("commit", &s.commit)], 1);
    let mut f = Family::new(&mut out, &RULE_PACKETS);
    for r in &s.rules {
        f.sample(&rule_labels(t, r), r.packets);
    }
    let mut f = Family::new(&mut out, &RULE_BYTES);
    for r in &s.rules {
        f.sample(&rule_labels(t, r), r.bytes);
    }
    let mut f = Family::new(&mut out, &SET_ELEMENTS);
    for (name, n) in &s.sets {
        f.sample(&[("table", t), ("set", name)], *n);
    }
    let gauges = [
        (&PENDING, s.pending.map(u64::from)),
        (&DRIFT, s.drift.map(u64::from)),
        (&LAST_APPLY, s.last_apply),
        (&BOOT_LOADS_LIVE, s.boot_loads_live.map(u64::from)),
    ];
    for (meta, value) in gauges {
        if let Some(v) = value {
            Family::new(&mut out, meta).sample(&[("table", t)], v);
        }
    }
    let mut f = Family::new(&mut out, &ROLLBACKS);
    for (reason, n) in s.rollbacks.iter().flatten() {
        f.sample(&[("table", t), ("reason", reason)], *n);
    }
    if let Some(n) = s.rollbacks_refused {
        Family::new(&mut out, &ROLLBACKS_REFUSED).sample(&[("table", t)], n);
    }
    out
}

fn rule_labels<'a>(table: &'a str, r: &'a RuleSeries) -> [(&'static str, &'a str); 4] {
    [
        ("table", table),
        ("chain", &r.chain),
        ("rule", &r.rule),
        ("verdict", r.verdict),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::live::LiveChain;
    use crate::core::model::Mode;

    fn table(text: &str, mode: Mode) -> (Plan, LiveTable) {
        let (p, d) = crate::core::policy::parse(text);
        let mut p = p.unwrap_or_else(|| panic!("{d:?}"));
        p.mode = mode;
        let plan = crate::core::compile::compile(&p, "statewall");
        let mut k = crate::core::fake::FakeKernel::new();
        crate::core::kernel::Kernel::commit(
            &mut k,
            crate::core::kernel::Change::Replace {
                plan: &plan,
                seeds: &Default::default(),
                members: &Default::default(),
            },
            1,
        )
        .unwrap();
        let live = k.tables.remove("statewall").unwrap();
        (plan, live)
    }

    const WEB: &str = "[[allow]]\nname = \"web\"\ntcp = [80, 443]\nfrom = [\"192.0.2.0/24\", \"198.51.100.0/24\", \"2001:db8::/32\"]\n\n[[reject]]\nname = \"ident\"\ntcp = [113]\nudp = [113]\n";

    #[test]
    fn one_series_per_policy_entry_per_chain_summed_over_its_rules() {
        let (_, mut live) = table(WEB, Mode::Enforce);
        for (i, r) in live.chains[0].rules.iter_mut().enumerate() {
            r.packets = i as u64 + 1;
            r.bytes = 100 * (i as u64 + 1);
        }
        let icmpv6: Vec<&LiveRule> = live.chains[0]
            .rules
            .iter()
            .filter(|r| r.comment.as_deref() == Some("icmpv6"))
            .collect();
        assert!(icmpv6.len() > 1, "several icmpv6 rules: {}", icmpv6.len());
        let want: u64 = icmpv6.iter().map(|r| r.packets).sum();
        let series = rule_series(&live);
        let names: Vec<(&str, &str)> = series
            .iter()
            .map(|s| (s.rule.as_str(), s.verdict))
            .collect();
        assert_eq!(
            names,
            [
                ("established", "accept"),
                ("invalid", "drop"),
                ("loopback", "accept"),
                ("icmp", "accept"),
                ("icmpv6", "accept"),
                ("web", "accept"),
                // tcp reset for tcp, icmpx for udp: one entry, one series
                ("ident", "reject"),
                ("final", "drop"),
            ]
        );
        let v6 = series.iter().find(|s| s.rule == "icmpv6").unwrap();
        assert_eq!((v6.packets, v6.bytes), (want, 100 * want));
        let total: u64 = live.chains[0].rules.iter().map(|r| r.packets).sum();
        assert_eq!(series.iter().map(|s| s.packets).sum::<u64>(), total);
    }

    #[test]
    fn entry_rules_in_jumped_to_chains_count_under_their_chain() {
        let text: String = (0..1_200)
            .map(|i| format!("[[allow]]\nname = \"s{i}\"\ntcp = [{}]\n", 1000 + i))
            .collect();
        let (_, live) = table(&text, Mode::Enforce);
        let series = rule_series(&live);
        let chain_of = |name: &str| {
            series
                .iter()
                .find(|s| s.rule == name)
                .map(|s| (s.chain.as_str(), s.verdict))
        };
        assert_eq!(chain_of("s0"), Some(("entries_1", "accept")));
        assert_eq!(chain_of("s1100"), Some(("entries_2", "accept")));
        // the jumps are rules of the input chain, named after the chain they jump to
        assert_eq!(chain_of("entries_2"), Some(("input", "jump")));
        assert_eq!(series.iter().filter(|s| s.rule == "s5").count(), 1);
    }

    #[test]
    fn set_sizes_come_from_the_plan_and_audit_sets_are_left_out() {
        let (plan, live) = table(WEB, Mode::Audit);
        let rules_only = LiveTable {
            marker: None,
            sets: Vec::new(),
            ..live.clone()
        };
        assert!(referenced_sets(&rules_only).len() > 3);
        assert_eq!(
            set_sizes(&rules_only, &plan),
            [("src4_web".to_string(), 2), ("tcp_web".to_string(), 2)]
        );
        // undrifted, from the rules and the committed plan: as report::drift says
        assert_eq!(crate::core::report::drift(&live), None);
        assert_eq!(
            drift_without_elements(&rules_only, Some(&plan)),
            Some(false)
        );
        // with sets looked up and no plan to take their elements from: cannot be told
        assert_eq!(drift_without_elements(&rules_only, None), None);
        // a changed rule is drift, with or without elements
        let mut changed = rules_only.clone();
        changed.chains[0].rules.remove(1);
        assert_eq!(drift_without_elements(&changed, Some(&plan)), Some(true));
        // another plan's sets are not this table's
        let (other, _) = table(
            "[[allow]]\nname = \"web\"\ntcp = [80, 8443]\nfrom = [\"192.0.2.0/24\", \"198.51.100.0/24\", \"2001:db8::/32\"]\n",
            Mode::Audit,
        );
        assert_eq!(
            drift_without_elements(&rules_only, Some(&other)),
            Some(true)
        );
        // a table without sets needs no plan
        let (_, plain) = table("[[allow]]\nname = \"ssh\"\ntcp = [22]\n", Mode::Enforce);
        assert_eq!(drift_without_elements(&plain, None), Some(false));
        let foreign = LiveTable {
            marker: None,
            comment: None,
            ..plain
        };
        assert_eq!(drift_without_elements(&foreign, None), Some(true));
    }

    #[test]
    fn label_values_and_help_are_escaped() {
        assert_eq!(escape_label(r#"a\b"c"#), r#"a\\b\"c"#);
        assert_eq!(escape_label("line\nbreak"), "line\\nbreak");
        assert_eq!(escape_label("plain_name-1"), "plain_name-1");
        assert_eq!(escape_help("a\\b\nc \"q\""), "a\\\\b\\nc \"q\"");
        // a rule someone else added with a comment the text format must escape
        let mut live = table("[[allow]]\nname = \"ssh\"\ntcp = [22]\n", Mode::Enforce).1;
        live.chains.push(LiveChain {
            name: "input".into(),
            hook: None,
            policy: None,
            rules: vec![LiveRule {
                handle: 7,
                comment: Some("say \"hi\"\\\n".into()),
                rule: Err(Foreign::Other("log".into())),
                packets: 3,
                bytes: 4,
            }],
        });
        let text = exposition(&Scrape {
            table: "statewall".into(),
            up: true,
            rules: rule_series(&live),
            ..Scrape::default()
        });
        assert!(
            text.contains(
                r#"statewall_rule_packets_total{table="statewall",chain="input",rule="say \"hi\"\\\n",verdict="unknown"} 3"#
            ),
            "{text}"
        );
        assert!(text.lines().all(|l| !l.is_empty()), "{text}");
    }

    #[test]
    fn families_come_in_a_fixed_order_each_with_help_and_type_and_unknowns_are_left_out() {
        let s = Scrape {
            table: "statewall".into(),
            version: "0.1.0".into(),
            commit: "abc".into(),
            up: true,
            rules: vec![RuleSeries {
                chain: "input".into(),
                rule: "ssh".into(),
                verdict: "accept",
                packets: 2,
                bytes: 120,
            }],
            sets: vec![("src4_ssh".into(), 50_000)],
            pending: Some(false),
            drift: Some(true),
            last_apply: Some(1_800_000_000),
            rollbacks: Some(BTreeMap::from([
                ("deadline".into(), 1),
                ("requested".into(), 0),
            ])),
            rollbacks_refused: Some(2),
            boot_loads_live: Some(true),
        };
        let text = exposition(&s);
        assert_eq!(
            text,
            "\
# HELP statewall_up 1 when statewall's table was read; 0 when there is none or netlink failed (the reason is on stderr)
# TYPE statewall_up gauge
statewall_up{table=\"statewall\"} 1
# HELP statewall_build_info The statewall build that answered the scrape: version and git commit (\"unknown\" when built without git)
# TYPE statewall_build_info gauge
statewall_build_info{version=\"0.1.0\",commit=\"abc\"} 1
# HELP statewall_rule_packets_total Packets counted by the rules of a policy entry (rule = its name) in a chain, summed over its kernel rules
# TYPE statewall_rule_packets_total counter
statewall_rule_packets_total{table=\"statewall\",chain=\"input\",rule=\"ssh\",verdict=\"accept\"} 2
# HELP statewall_rule_bytes_total Bytes counted by the rules of a policy entry (rule = its name) in a chain, summed over its kernel rules
# TYPE statewall_rule_bytes_total counter
statewall_rule_bytes_total{table=\"statewall\",chain=\"input\",rule=\"ssh\",verdict=\"accept\"} 120
# HELP statewall_set_elements Elements of a set as statewall committed it (counted from the plan: a scrape never dumps a set's elements); audit sets are left out
# TYPE statewall_set_elements gauge
statewall_set_elements{table=\"statewall\",set=\"src4_ssh\"} 50000
# HELP statewall_pending 1 while a change applied with --confirm waits for `statewall confirm` (it rolls back by itself otherwise)
# TYPE statewall_pending gauge
statewall_pending{table=\"statewall\"} 0
# HELP statewall_drift 1 when the table's rules or chains differ from what statewall committed (set elements are checked by `statewall status`, not by a scrape)
# TYPE statewall_drift gauge
statewall_drift{table=\"statewall\"} 1
# HELP statewall_last_apply_timestamp_seconds When the accepted revision (what boot loads) was committed or confirmed, in seconds since the epoch
# TYPE statewall_last_apply_timestamp_seconds gauge
statewall_last_apply_timestamp_seconds{table=\"statewall\"} 1800000000
# HELP statewall_boot_loads_live 1 when the live table is the accepted revision, what boot loads; 0 when it is not (an apply that died before recording it, a table committed with another --state-dir: the next reboot changes the firewall); left out while a change is pending, with drift, or with nothing accepted
# TYPE statewall_boot_loads_live gauge
statewall_boot_loads_live{table=\"statewall\"} 1
# HELP statewall_rollbacks_total Rollbacks that restored the previous ruleset: reason=deadline (no confirm in time) or requested (statewall rollback)
# TYPE statewall_rollbacks_total counter
statewall_rollbacks_total{table=\"statewall\",reason=\"deadline\"} 1
statewall_rollbacks_total{table=\"statewall\",reason=\"requested\"} 0
# HELP statewall_rollbacks_refused_total Rollbacks refused, so the unconfirmed candidate stayed live: someone else changed the table, or the previous policy no longer compiles (`statewall status` says which)
# TYPE statewall_rollbacks_refused_total counter
statewall_rollbacks_refused_total{table=\"statewall\"} 2
"
        );
        // what cannot be told is left out, never guessed; up and build_info are always there
        let down = exposition(&Scrape {
            table: "statewall".into(),
            version: "0.1.0".into(),
            commit: "unknown".into(),
            ..Scrape::default()
        });
        assert_eq!(
            down.lines()
                .filter(|l| !l.starts_with('#'))
                .collect::<Vec<_>>(),
            [
                "statewall_up{table=\"statewall\"} 0",
                "statewall_build_info{version=\"0.1.0\",commit=\"unknown\"} 1"
            ]
        );
    }
}
