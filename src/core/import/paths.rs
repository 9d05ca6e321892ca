//! A rate-limited rule that several paths reach: a rule of a user chain jumped to from INPUT
//! and OUTPUT, or from two places, keeps one token bucket in iptables (`-m limit`'s lives in
//! the rule; `-m hashlimit`'s in its name's table), but the walk through the chains makes it
//! an entry per path, each with a bucket of its own. Such a rule's limit is a meter its
//! entries share (`meter = "line-N"`, an IPv6 file's `line-N-v6`), so that its packets take
//! their tokens from one bucket again. Where its entries would count differently (one takes
//! what exceeds the rate, another lets it go on, as the rules after each path decide), a
//! bucket cannot keep both ways: [`unshare_where_ways_differ`] gives each its own bucket
//! again and says so.

use std::collections::{HashMap, VecDeque};

use super::Fam;
use super::entries::Entry;
use super::notes::Notes;
use super::rule::{IptRule, Target};

/// How many ways each chain is reached from INPUT, FORWARD and OUTPUT (capped at 2: only
/// "more than one" matters), walking the jumps in topological order (Kahn), so that a long
/// chain of chains costs linear time; chains in a loop (which iptables-restore refuses)
/// keep what reached them before the loop.
fn ways(rules: &[IptRule]) -> HashMap<&str, u8> {
    let mut edges: HashMap<&str, Vec<&str>> = HashMap::new();
    let mut indegree: HashMap<&str, usize> = HashMap::new();
    for r in rules {
        if let Target::Jump(to) = &r.target {
            edges.entry(r.chain.as_str()).or_default().push(to.as_str());
            *indegree.entry(to.as_str()).or_default() += 1;
            indegree.entry(r.chain.as_str()).or_default();
        }
    }
    let mut count: HashMap<&str, u8> = HashMap::new();
    for b in ["INPUT", "FORWARD", "OUTPUT"] {
        count.insert(b, 1);
    }
    let mut queue: VecDeque<&str> = indegree
        .iter()
        .filter(|(_, d)| **d == 0)
        .map(|(c, _)| *c)
        .collect();
    while let Some(c) = queue.pop_front() {
        let here = count.get(c).copied().unwrap_or(0);
        for to in edges.get(c).into_iter().flatten() {
            let n = count.entry(to).or_default();
            *n = n.saturating_add(here).min(2);
            let d = indegree.get_mut(to).expect("counted");
            *d -= 1;
            if *d == 0 {
                queue.push_back(to);
            }
        }
    }
    count
}

/// The meter name of the rule at `line` of a family's file.
fn meter_of(fam: Fam, line: u32) -> String {
    match fam {
        Fam::V4 => format!("line-{line}"),
        Fam::V6 => format!("line-{line}-v6"),
    }
}

/// Marks the limit of every accepting, dropping or rejecting rule that more than one path
/// reaches, and that no `--hashlimit-name` shares already, as shared by its entries.
pub(super) fn share_limits(fam: Fam, rules: &mut [IptRule]) {
    let count = ways(rules);
    let many: Vec<bool> = rules
        .iter()
        .map(|r| count.get(r.chain.as_str()).copied().unwrap_or(0) > 1)
        .collect();
    let names: std::collections::HashSet<String> = rules
        .iter()
        .filter_map(|r| r.extra.limit.as_ref()?.name.clone())
        .collect();
    for (r, many) in rules.iter_mut().zip(many) {
        let decides = matches!(r.target, Target::Accept | Target::Drop | Target::Reject(_));
        let meter = meter_of(fam, r.line);
        let Some(lim) = r.extra.limit.as_mut() else {
            continue;
        };
        if many && decides && lim.shared.is_none() && !names.contains(&meter) {
            lim.shared = Some(meter);
        }
    }
}

/// The `line-N` meter a limit's TOML names, if any.
fn line_meter(limit: &str) -> Option<&str> {
    let start = limit.find(", meter = \"line-")? + ", meter = \"".len();
    let end = start + limit[start..].find('"')?;
    Some(&limit[start..end])
}

/// Whether a limit's TOML takes what exceeds the rate (its own verdict, or a guard's), not
/// `over = "continue"`.
fn takes_excess(limit: &str) -> bool {
    !limit.contains("over = \"continue\"")
}

/// The entries of one rule's shared meter must count alike: where some take what exceeds
/// the rate and others let it go on, each keeps a bucket of its own, noted.
pub(super) fn unshare_where_ways_differ<'a>(
    entries: impl Iterator<Item = &'a mut Entry>,
    notes: &mut Notes,
) {
    let mut groups: HashMap<String, Vec<&'a mut String>> = HashMap::new();
    for e in entries {
        for l in e.extra.limit.iter_mut() {
            if let Some(m) = line_meter(l) {
                groups.entry(m.to_string()).or_default().push(l);
            }
        }
    }
    let mut split: Vec<String> = Vec::new();
    for (meter, mut limits) in groups {
        let first = takes_excess(limits[0]);
        let alike = limits.iter().all(|l| takes_excess(l) == first);
        if alike && limits.len() > 1 {
            continue;
        }
        // one entry left (the others' paths decided nothing): its own bucket needs no name
        for l in limits.iter_mut() {
            **l = l.replacen(&format!(", meter = \"{meter}\""), "", 1);
        }
        if !alike {
            split.push(meter);
        }
    }
    split.sort();
    for meter in split {
        let line = meter.trim_start_matches("line-").trim_end_matches("-v6");
        notes.push(format!("line {line}: a limited rule that several paths reach keeps one bucket in iptables, but the rules after its paths decide what exceeds the rate differently, which one bucket of statewall's cannot keep: each of its entries counts in a bucket of its own"));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_line_meter_is_found_in_a_limit_and_others_are_not() {
        let l = "{ rate = \"1/s\", burst = 5, meter = \"line-29\", over = \"drop\" }";
        assert_eq!(line_meter(l), Some("line-29"));
        let l6 = "{ rate = \"1/s\", burst = 5, meter = \"line-3-v6\", over = \"drop\" }";
        assert_eq!(line_meter(l6), Some("line-3-v6"));
        assert_eq!(line_meter("{ rate = \"1/s\", meter = \"dns\" }"), None);
        assert!(takes_excess(l));
        assert!(!takes_excess("{ rate = \"1/s\", over = \"continue\" }"));
    }
}
