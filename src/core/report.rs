//! Readback → what `status` and `plan` show: the live table as a plan, drift, the counter
//! table and its JSON form. Pure: works on data the kernel layer already read.

use serde::Serialize;
use serde_json::Value;

use crate::core::identity::fingerprint_as;
use crate::core::live::LiveRule;
use crate::core::live::LiveTable;
use crate::core::model::Mode;
use crate::core::plan::{self, BaseHook, Hook, Plan};

/// Version of the `status --json` schema; bumped on any incompatible change.
pub const STATUS_SCHEMA: &str = "statewall.status/1";

/// The live table in statewall's terms, or why it cannot be (a rule statewall would not
/// have written, a chain on a hook statewall does not use).
pub fn live_plan(t: &LiveTable) -> Result<Plan, String> {
    let mut chains = Vec::new();
    for c in &t.chains {
        let hook = match c.hook {
            None => None,
            Some((n, prio)) => match Hook::from_number(n) {
                Some(hook) => Some(BaseHook {
                    hook,
                    priority: prio,
                }),
                None => return Err(format!("chain {} is on hook {n}", c.name)),
            },
        };
        if c.hook.is_some() && c.policy != Some("accept") {
            return Err(format!("chain {} has policy {:?}", c.name, c.policy));
        }
        let mut rules = Vec::new();
        for r in &c.rules {
            match &r.rule {
                Ok(rule) => rules.push(rule.clone()),
                Err(why) => {
                    return Err(format!(
                        "rule handle {} in chain {}: {why}",
                        r.handle, c.name
                    ));
                }
            }
        }
        chains.push(plan::Chain {
            name: c.name.clone(),
            hook,
            rules,
        });
    }
    let mut sets = Vec::new();
    for s in &t.sets {
        match &s.elements {
            Ok(els) => sets.push(plan::Set {
                name: s.name.clone(),
                kind: s.kind,
                // what an audit set holds is traffic data, not part of the plan
                // (a live set's members are run-time state, not part of the plan either)
                elements: if s.kind.dynamic() || s.kind.live() {
                    Vec::new()
                } else {
                    els.iter().map(|(e, _, _)| *e).collect()
                },
                timeout: s.timeout,
            }),
            Err(why) => return Err(format!("set {}: {why}", s.name)),
        }
    }
    Ok(Plan {
        sets,
        table: t.name.clone(),
        mode: match t.stored_mode() {
            Some("audit") => Mode::Audit,
            _ => Mode::Enforce,
        },
        chains,
    })
}

/// Whether the live table differs from what statewall last committed (the fingerprint it
/// stored in the table's comment). `None` = no drift; `Some(reason)` otherwise.
pub fn drift(t: &LiveTable) -> Option<String> {
    let Some(stored) = t.stored_fingerprint() else {
        return Some("the table carries no statewall fingerprint (not made by statewall?)".into());
    };
    match live_plan(t) {
        Err(why) => Some(format!("changed outside statewall: {why}")),
        Ok(p) if fingerprint_as(&p, t.stored_scheme()) != stored => {
            Some("changed outside statewall: its rules differ from what statewall committed".into())
        }
        Ok(_) => None,
    }
}

/// The live table as text in the same form as `render::table_body`, for diffs: a rule
/// statewall would not have written shows as a `#` line saying what it is.
pub fn live_text(t: &LiveTable) -> String {
    if let Ok(p) = live_plan(t) {
        return crate::core::render::table_body(&p);
    }
    let mut s = format!("table inet {} {{\n", t.name);
    for (i, c) in t.chains.iter().enumerate() {
        if i > 0 {
            s.push('\n');
        }
        s.push_str(&format!("\tchain {} {{\n", c.name));
        if let (Some(h), Some((_, prio))) = (hook_name(c.hook), c.hook) {
            s.push_str(&format!(
                "\t\ttype filter hook {h} priority {prio}; policy {};\n",
                c.policy.unwrap_or("?")
            ));
        }
        for r in &c.rules {
            s.push_str(&format!("\t\t{}\n", live_rule_text(r)));
        }
        s.push_str("\t}\n");
    }
    s.push_str("}\n");
    s
}

fn live_rule_text(r: &LiveRule) -> String {
    match &r.rule {
        Ok(rule) => crate::core::render::rule(rule),
        Err(why) => format!("# not statewall's (handle {}): {why}", r.handle),
    }
}

fn hook_name(h: Option<(u32, i32)>) -> Option<String> {
    h.map(|(n, _)| match n {
        0 => "prerouting".to_string(),
        1 => "input".to_string(),
        2 => "forward".to_string(),
        3 => "output".to_string(),
        4 => "postrouting".to_string(),
        n => n.to_string(),
    })
}

/// A verdict in nft syntax for JSON: `continue` for the rules that only count (the audit
/// recorders), whose nft text shows no verdict.
fn json_verdict(v: plan::Verdict) -> String {
    match v {
        plan::Verdict::Continue => "continue".into(),
        v => crate::core::render::verdict(v),
    }
}

/// `status --json`: a stable, documented schema (see README). Typed, so a 50,000-element
/// set serialises straight to the output without a map per element.
#[derive(Debug, Serialize)]
pub struct StatusDoc {
    pub schema: &'static str,
    pub table: String,
    pub family: &'static str,
    pub mode: Option<String>,
    pub drift: bool,
    pub drift_reason: Option<String>,
    pub chains: Vec<ChainDoc>,
    pub sets: Vec<SetDoc>,
    /// a pending change (filled in by the CLI from the state directory), or null
    pub pending: Value,
    /// the accepted revision's plan, what boot loads (filled in by the CLI), or null
    pub accepted_plan: Option<String>,
    /// false when the live table is statewall's, not drifted, and not the accepted plan
    /// (null when there is no accepted revision or the table drifted)
    pub boot_loads_live: Option<bool>,
}

#[derive(Debug, Serialize)]
pub struct ChainDoc {
    pub name: String,
    pub hook: Option<String>,
    pub priority: Option<i32>,
    pub policy: Option<&'static str>,
    pub rules: Vec<RuleDoc>,
}

#[derive(Debug, Serialize)]
pub struct RuleDoc {
    pub handle: u64,
    pub comment: Option<String>,
    #[serde(rename = "match")]
    pub matches: Option<String>,
    pub verdict: Option<String>,
    pub packets: u64,
    pub bytes: u64,
    pub not_understood: Option<String>,
}

#[derive(Debug, Serialize)]
pub struct SetDoc {
    pub name: String,
    #[serde(rename = "type")]
    pub kind: &'static str,
    /// empty for a live set: its members are listed on request only (`statewall set list`)
    pub elements: Vec<ElementDoc>,
    /// a live set's summary; None for other sets
    pub live: Option<LiveDoc>,
    pub not_understood: Option<String>,
}

#[derive(Debug, Serialize)]
pub struct LiveDoc {
    pub members: u64,
    pub packets: u64,
    pub bytes: u64,
    pub timeout_s: Option<u64>,
}

#[derive(Debug, Serialize)]
pub struct ElementDoc {
    pub element: String,
    pub packets: u64,
    pub bytes: u64,
}

pub fn status_doc(t: &LiveTable) -> StatusDoc {
    let chains = t
        .chains
        .iter()
        .map(|c| ChainDoc {
            name: c.name.clone(),
            hook: hook_name(c.hook),
            priority: c.hook.map(|(_, p)| p),
            policy: c.policy,
            rules: c
                .rules
                .iter()
                .map(|r| {
                    let (matches, verdict, not_understood) = match &r.rule {
                        Ok(rule) => (
                            // absent values are null, never "": a rule without a match
                            // (the final rule) matches every packet
                            Some(crate::core::render::rule_matches(rule)).filter(|m| !m.is_empty()),
                            Some(json_verdict(rule.verdict)),
                            None,
                        ),
                        Err(why) => (None, None, Some(why.to_string())),
                    };
                    RuleDoc {
                        handle: r.handle,
                        comment: r.comment.clone().filter(|c| !c.is_empty()),
                        matches,
                        verdict,
                        packets: r.packets,
                        bytes: r.bytes,
                        not_understood,
                    }
                })
                .collect(),
        })
        .collect();
    let sets = t
        .sets
        .iter()
        .map(|s| {
            let live = s.kind.live().then(|| {
                let els = s.elements.as_deref().unwrap_or_default();
                LiveDoc {
                    members: els.len() as u64,
                    packets: els.iter().map(|e| e.1).sum(),
                    bytes: els.iter().map(|e| e.2).sum(),
                    timeout_s: s.timeout,
                }
            });
            let (elements, not_understood) = match &s.elements {
                Ok(_) if s.kind.live() => (Vec::new(), None),
                Ok(els) => (
                    els.iter()
                        .map(|(e, p, b)| ElementDoc {
                            element: e.to_string(),
                            packets: *p,
                            bytes: *b,
                        })
                        .collect(),
                    None,
                ),
                Err(why) => (Vec::new(), Some(why.clone())),
            };
            SetDoc {
                name: s.name.clone(),
                kind: s.kind.nft_type().0,
                elements,
                live,
                not_understood,
            }
        })
        .collect();
    let drift = drift(t);
    StatusDoc {
        schema: STATUS_SCHEMA,
        table: t.name.clone(),
        family: "inet",
        mode: t.stored_mode().map(str::to_string),
        drift: drift.is_some(),
        drift_reason: drift,
        chains,
        sets,
        pending: Value::Null,
        accepted_plan: None,
        boot_loads_live: None,
    }
}

/// Version of the `apply --json` schema; bumped on any incompatible change.
pub const APPLY_SCHEMA: &str = "statewall.apply/1";

/// `apply --json`: one line saying what an apply did (see README and
/// `docs/schema/apply.json`). Absent values are null, never "".
#[derive(Debug, Serialize)]
pub struct ApplyDoc {
    pub schema: &'static str,
    pub table: String,
    /// the policy file, as given
    pub source: String,
    /// false: the live table already was the plan, nothing was sent
    pub changed: bool,
    pub mode: &'static str,
    /// the plan's fingerprint (what the table's comment and the accepted revision carry)
    pub plan: String,
    /// the ruleset generation now: after the commit, or as read when nothing was sent
    pub generation: u32,
    /// the generation the commit was conditional on; null when nothing was sent
    pub generation_before: Option<u32>,
    pub rules: usize,
    pub sets: usize,
    /// messages in the one batch; null when nothing was sent
    pub messages: Option<usize>,
    /// what the commit replaced; null when nothing was sent
    pub replaced: Option<ReplacedDoc>,
    /// rules whose counters carried over (every rule when nothing was sent)
    pub counters_kept: usize,
}

#[derive(Debug, Serialize)]
pub struct ReplacedDoc {
    /// "nothing" (there was no table), "plan" (statewall's table), "drifted" (statewall's
    /// table, changed by someone else)
    pub what: &'static str,
    /// the replaced plan's fingerprint, for "plan"
    pub plan: Option<String>,
    /// the replaced table's mode, for "plan"
    pub mode: Option<String>,
    /// how it had drifted, for "drifted"
    pub drift_reason: Option<String>,
}

pub fn apply_doc(a: &crate::core::usecase::apply::Applied, plan: &Plan, source: &str) -> ApplyDoc {
    use crate::core::usecase::apply::{Outcome, Replaced};
    let (changed, generation, before, messages, replaced, kept) = match &a.outcome {
        Outcome::Unchanged { generation } => (false, *generation, None, None, None, a.rules),
        Outcome::Committed {
            before,
            committed,
            replaced,
            carried,
        } => {
            let r = match replaced {
                Replaced::Nothing => ReplacedDoc {
                    what: "nothing",
                    plan: None,
                    mode: None,
                    drift_reason: None,
                },
                Replaced::Plan { fingerprint, mode } => ReplacedDoc {
                    what: "plan",
                    plan: Some(fingerprint.clone()),
                    mode: Some(mode.clone()),
                    drift_reason: None,
                },
                Replaced::Patched {
                    fingerprint, mode, ..
                } => ReplacedDoc {
                    what: "patched",
                    plan: Some(fingerprint.clone()),
                    mode: Some(mode.clone()),
                    drift_reason: None,
                },
                Replaced::Drifted(why) => ReplacedDoc {
                    what: "drifted",
                    plan: None,
                    mode: None,
                    drift_reason: Some(why.clone()).filter(|w| !w.is_empty()),
                },
            };
            (
                true,
                committed.generation,
                Some(*before),
                Some(committed.messages),
                Some(r),
                *carried,
            )
        }
    };
    ApplyDoc {
        schema: APPLY_SCHEMA,
        table: plan.table.clone(),
        source: source.to_string(),
        changed,
        mode: plan.mode.as_str(),
        plan: a.fingerprint.clone(),
        generation,
        generation_before: before,
        rules: a.rules,
        sets: plan.sets.len(),
        messages,
        replaced,
        counters_kept: kept,
    }
}

/// [`status_doc`] as a JSON value.
pub fn status_json(t: &LiveTable) -> Value {
    serde_json::to_value(status_doc(t)).expect("plain data serialises")
}

/// Human-readable counts: exact with `exact`, else K/M/G/T with 1000 steps like iptables.
pub fn count(n: u64, exact: bool) -> String {
    if exact || n < 100_000 {
        return n.to_string();
    }
    let units = ["K", "M", "G", "T", "P"];
    let mut v = n;
    let mut u = 0;
    while v >= 100_000 && u < units.len() {
        v /= 1000;
        u += 1;
    }
    format!("{v}{}", units[u - 1])
}

/// `status`: the view `iptables -L -nv` gave, per chain, per rule.
pub fn status_text(t: &LiveTable, exact: bool) -> String {
    let mut s = String::new();
    let mode = t.stored_mode().unwrap_or("unknown");
    s.push_str(&format!("table inet {}  mode {mode}\n", t.name));
    match drift(t) {
        None => s.push_str("drift: none (the live table is what statewall committed)\n"),
        Some(why) => s.push_str(&format!("DRIFT: {why}\n")),
    }
    for c in &t.chains {
        s.push('\n');
        chain_text(&mut s, c, exact);
    }
    for set in &t.sets {
        s.push('\n');
        set_status(&mut s, set, exact);
    }
    s
}

/// Per-element counters of a set: the elements that saw traffic, busiest first (all of
/// them with `exact`), and how many saw none.
fn set_status(s: &mut String, set: &crate::core::live::LiveSet, exact: bool) {
    match &set.elements {
        Err(why) => s.push_str(&format!("set {}: not understood: {why}\n", set.name)),
        Ok(els) => {
            let mut hit: Vec<&(crate::core::plan::SetElem, u64, u64)> =
                els.iter().filter(|(_, p, _)| *p > 0).collect();
            hit.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(&b.0)));
            if set.kind.live() {
                let name = crate::core::plan::live_set_of(&set.name).unwrap_or(&set.name);
                s.push_str(&format!(
                    "live set {name} ({}: {}, {} member{}, {} with traffic{}; `statewall set list {name}` lists them)\n",
                    set.kind.nft_type().0,
                    set.name,
                    els.len(),
                    if els.len() == 1 { "" } else { "s" },
                    hit.len(),
                    match set.timeout {
                        Some(t) => format!(", default timeout {t}s"),
                        None => String::new(),
                    }
                ));
            } else {
                s.push_str(&format!(
                    "set {} ({}, {} element{}, {} with traffic)\n",
                    set.name,
                    set.kind.nft_type().0,
                    els.len(),
                    if els.len() == 1 { "" } else { "s" },
                    hit.len()
                ));
            }
            // a live set may hold half a million members: its busiest ten, even with -x
            let shown = if exact && !set.kind.live() {
                hit.len()
            } else {
                hit.len().min(10)
            };
            if shown > 0 {
                s.push_str(&format!("{:>10} {:>10}  element\n", "pkts", "bytes"));
            }
            for (e, p, b) in hit.iter().take(shown) {
                s.push_str(&format!(
                    "{:>10} {:>10}  {e}\n",
                    count(*p, exact),
                    count(*b, exact)
                ));
            }
            if hit.len() > shown {
                let how = if set.kind.live() {
                    "`statewall set list` shows all"
                } else {
                    "-x shows all"
                };
                s.push_str(&format!(
                    "  ... {} more with traffic ({how})\n",
                    hit.len() - shown
                ));
            }
        }
    }
}

fn chain_text(s: &mut String, c: &crate::core::live::LiveChain, exact: bool) {
    {
        match (hook_name(c.hook), c.hook) {
            (Some(h), Some((_, prio))) => s.push_str(&format!(
                "chain {} (hook {h} priority {prio}, policy {})\n",
                c.name,
                c.policy.unwrap_or("?")
            )),
            _ => s.push_str(&format!("chain {}\n", c.name)),
        }
        let w = c
            .rules
            .iter()
            .map(|r| r.comment.as_deref().unwrap_or("-").len())
            .max()
            .unwrap_or(4)
            .max(4);
        s.push_str(&format!(
            "{:>10} {:>10}  {:<22} {:<w$}  match\n",
            "pkts", "bytes", "verdict", "name"
        ));
        for r in &c.rules {
            let (m, v) = match &r.rule {
                Ok(rule) => (
                    crate::core::render::rule_matches(rule),
                    crate::core::render::verdict(rule.verdict),
                ),
                Err(why) => (format!("(not understood: {why})"), "?".into()),
            };
            let m = if m.is_empty() {
                "(everything)".into()
            } else {
                m
            };
            s.push_str(&format!(
                "{:>10} {:>10}  {:<22} {:<w$}  {}\n",
                count(r.packets, exact),
                count(r.bytes, exact),
                v,
                r.comment.as_deref().unwrap_or("-"),
                m
            ));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::count;

    #[test]
    fn the_apply_summary_says_what_changed_and_absent_values_are_null() {
        use crate::core::fake::{FakeClock, FakeKernel, MemStore};
        use crate::core::usecase::apply;
        let text = "[[allow]]\nname = \"web\"\ntcp = [80, 443]\n";
        let p = crate::core::compile::compile(
            &crate::core::policy::parse(text).0.unwrap(),
            "statewall",
        );
        let (mut k, s, files) = (FakeKernel::new(), MemStore::default(), Default::default());
        let req = apply::Request {
            plan: &p,
            text,
            files: &files,
            audit_flag: false,
            sshd_ports: &[],
        };
        let first = apply::apply(&mut k, &s, &FakeClock::default(), &req).unwrap();
        let again = apply::apply(&mut k, &s, &FakeClock::default(), &req).unwrap();
        let doc = |a| serde_json::to_value(super::apply_doc(a, &p, "p.toml")).unwrap();
        let (first, again) = (doc(&first), doc(&again));
        assert_eq!(first["schema"], "statewall.apply/1");
        assert_eq!(first["changed"], true);
        assert_eq!(first["replaced"]["what"], "nothing");
        assert_eq!(first["replaced"]["plan"], serde_json::Value::Null);
        assert_eq!(first["sets"], 1, "{first}");
        assert_eq!(first["generation_before"], 1);
        assert_eq!(first["generation"], 2);
        assert_eq!(again["changed"], false);
        assert_eq!(again["generation"], 2);
        assert_eq!(again["generation_before"], serde_json::Value::Null);
        assert_eq!(again["replaced"], serde_json::Value::Null);
        assert_eq!(again["counters_kept"], again["rules"]);
        assert_eq!(again["plan"], first["plan"]);
        for d in [&first, &again] {
            assert!(!d.to_string().contains("\"\""), "an empty string in {d}");
        }
    }

    #[test]
    fn counts_like_iptables() {
        assert_eq!(count(99_999, false), "99999");
        assert_eq!(count(123_456, false), "123K");
        assert_eq!(count(123_456_789, false), "123M");
        assert_eq!(count(123_456_789, true), "123456789");
    }
}
