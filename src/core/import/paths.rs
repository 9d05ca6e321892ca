//! A rate-limited rule that becomes several entries: a rule of a user chain jumped to from
//! INPUT and OUTPUT, or from two places; one after a RETURN of several things, read once per
//! way around it; one with `! --syn`, a rule per flag pattern. iptables keeps one token bucket
//! in the rule (`-m limit`'s lives in the rule; `-m hashlimit`'s in its name's table), but
//! each entry would have a bucket of its own. So every such rule's limit names a meter
//! (`meter = "line-N"`, an IPv6 file's `line-N-v6`) that its entries share, and that
//! [`unshare_where_ways_differ`] takes away again where only one entry is left. The networks
//! of a `-s a,b` (`-d`) list are rules of their own in the kernel, each with its own `-m
//! limit` bucket: the second one's entries share `line-N.2`, and so on (a hashlimit's are
//! its name's table, one for them all). Where a rule's entries would count differently (one
//! takes what exceeds the rate, another lets it go on, as the rules after each way decide),
//! a bucket cannot keep both ways: each gets its own bucket again, noted.

use std::collections::HashMap;

use super::Fam;
use super::entries::Entry;
use super::notes::Notes;
use super::rule::{IptRule, Target};

/// The meter name of the rule at `line` of a family's file.
fn meter_of(fam: Fam, line: u32) -> String {
    match fam {
        Fam::V4 => format!("line-{line}"),
        Fam::V6 => format!("line-{line}-v6"),
    }
}

/// The meter of the `part`th network pair (from 0) of a `-s a,b` (`-d`) rule whose limit
/// is shared by line (`line-N`): `line-N.2` for the second, and so on; the first's and any
/// other meter as they are.
pub(super) fn part_meter(meter: &str, part: usize) -> String {
    if part == 0 || !meter.starts_with("line-") {
        return meter.to_string();
    }
    let (base, v6) = match meter.strip_suffix("-v6") {
        Some(b) => (b, "-v6"),
        None => (meter, ""),
    };
    format!("{base}.{}{v6}", part + 1)
}

/// The bucket of network pair `part` (from 0) of rule `r`: the pair itself for a `-s a,b`
/// (`-d`) list, whose networks are rules of their own, but one for all the networks of an
/// `-m iprange` range, which is one match of one rule, with one `-m limit` bucket.
pub(super) fn bucket(r: &IptRule, part: usize) -> usize {
    let nd = r.dsts.len().max(1);
    let (si, di) = (part / nd, part % nd);
    match r.ranged {
        (false, false) => part,
        (true, false) => di,
        (false, true) => si,
        (true, true) => 0,
    }
}

/// Marks the limit of every accepting, dropping or rejecting rule that no `--hashlimit-name`
/// shares already as shared by its entries (by line).
pub(super) fn share_limits(fam: Fam, rules: &mut [IptRule]) {
    let names: std::collections::HashSet<String> = rules
        .iter()
        .filter_map(|r| r.extra.limit.as_ref()?.name.clone())
        .collect();
    for r in rules.iter_mut() {
        let decides = matches!(r.target, Target::Accept | Target::Drop | Target::Reject(_));
        let meter = meter_of(fam, r.line);
        let Some(lim) = r.extra.limit.as_mut() else {
            continue;
        };
        // a `--hashlimit-name` that could be one of this rule's line meters (`line-N`,
        // `line-N.2`): the rule keeps a bucket per entry rather than share a name with it
        let taken = names.iter().any(|n| n.starts_with(meter.as_str()));
        if decides && lim.shared.is_none() && !taken {
            lim.shared = Some(meter);
        }
    }
}

/// The meter a limit's TOML names, if any.
fn meter_in(limit: &str) -> Option<&str> {
    let start = limit.find(", meter = \"")? + ", meter = \"".len();
    let end = start + limit[start..].find('"')?;
    Some(&limit[start..end])
}

/// The entries that name one meter: their chains, how many, whether the last takes what
/// exceeds the rate, and whether some take it and others let it go on.
#[derive(Default)]
struct Named {
    chains: std::collections::BTreeSet<&'static str>,
    count: usize,
    takes: Option<bool>,
    apart: bool,
}

/// A `-m recent` list's limits, each named for its list (`EntryExtra::recent_meters`), keep
/// that meter where other entries name it too: two guard pairs of one list (ports 22 and 2222), or INPUT and FORWARD
/// jumping to one guard chain, check one list in iptables, which counts a source's
/// connections of all of them together; noted. Where only one entry names it, or the
/// entries would count differently (one takes what exceeds the rate, another lets it go
/// on), the name goes: a bucket each, as before. `entries` come with their section's chain
/// (`INPUT`, `FORWARD`, `OUTPUT`).
pub(super) fn share_lists<'a>(
    entries: impl Iterator<Item = (&'static str, &'a mut Entry)>,
    notes: &mut Notes,
) {
    let entries: Vec<(&'static str, &'a mut Entry)> = entries.collect();
    let mut named: HashMap<String, Named> = HashMap::new();
    for (k, e) in &entries {
        for l in &e.extra.limit {
            let Some(m) = meter_in(l) else { continue };
            let n = named.entry(m.to_string()).or_default();
            n.chains.insert(*k);
            n.count += 1;
            let takes = takes_excess(l);
            n.apart |= n.takes.is_some_and(|t| t != takes);
            n.takes = Some(takes);
        }
    }
    rates_apart(&entries, notes);
    let (mut shared, mut apart): (Vec<&String>, Vec<&String>) = (Vec::new(), Vec::new());
    for (_, e) in entries {
        for meter in std::mem::take(&mut e.extra.recent_meters) {
            match named.get_key_value(&meter) {
                Some((m, n)) if n.count > 1 && !n.apart => shared.push(m),
                other => {
                    if let Some((m, n)) = other
                        && n.count > 1
                    {
                        apart.push(m);
                    }
                    for l in e.extra.limit.iter_mut() {
                        *l = l.replacen(&format!(", meter = \"{meter}\""), "", 1);
                    }
                }
            }
        }
    }
    apart.sort();
    apart.dedup();
    for meter in apart {
        let list = meter.rsplit_once('.').map_or(meter.as_str(), |(l, _)| l);
        notes.push(format!("list `{list}`: checks of it guard several entries, and `recent` counts a source's connections of them all together, but some of them take what exceeds the rate and others let it go on, which one bucket of statewall's cannot keep: each counts in a bucket of its own"));
    }
    shared.sort();
    shared.dedup();
    for meter in shared {
        // a list one chain fills from several ways was noted with them (`recent.rs`)
        let said = format!("share the meter `{meter}`");
        if notes.iter().any(|n| n.contains(&said)) {
            continue;
        }
        let chains: Vec<&str> = named[meter].chains.iter().copied().collect();
        let list = meter.rsplit_once('.').map_or(meter.as_str(), |(l, _)| l);
        notes.push(format!("list `{list}`: checks of it guard several entries (in {}), and `recent` keeps one list, counting a source's connections of them all together: their limits share the meter `{meter}`", chains.join(" and ")));
    }
}

/// Entries whose limits come from checks of one `-m recent` list at different rates (port
/// 22's pair with `--hitcount 4`, port 2222's with 6): iptables counts every check's
/// connections in the one list, but a meter counts at one rate, so each rate's entries count
/// apart from the others': noted, per list (and family).
fn rates_apart(entries: &[(&'static str, &mut Entry)], notes: &mut Notes) {
    use std::collections::{BTreeMap, BTreeSet};
    let mut lists: BTreeMap<String, BTreeSet<BTreeSet<&str>>> = BTreeMap::new();
    for (_, e) in entries {
        let mut of: BTreeMap<String, BTreeSet<&str>> = BTreeMap::new();
        for m in &e.extra.recent_meters {
            let Some((list, rate)) = m.rsplit_once('.') else {
                continue;
            };
            let fam = if rate.ends_with("-v6") { "-v6" } else { "" };
            of.entry(format!("{list}{fam}")).or_default().insert(m);
        }
        for (list, rates) in of {
            lists.entry(list).or_default().insert(rates);
        }
    }
    for (list, kinds) in lists {
        if kinds.len() > 1 {
            let list = list.trim_end_matches("-v6");
            notes.push(format!("list `{list}`: its checks guard entries at different rates, and `recent` counts a source's connections of them all in the one list, but a limit counts at one rate: the entries of each rate count apart from the others'"));
        }
    }
}

/// The `line-N` meter a limit's TOML names, if any.
fn line_meter(limit: &str) -> Option<&str> {
    meter_in(limit).filter(|m| m.starts_with("line-"))
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
        let line = meter
            .trim_start_matches("line-")
            .trim_end_matches("-v6")
            .split('.')
            .next()
            .unwrap_or_default();
        notes.push(format!("line {line}: a limited rule that becomes several entries (several paths reach it, or ways around a RETURN) keeps one bucket in iptables, but the rules after them decide what exceeds the rate differently, which one bucket of statewall's cannot keep: each of its entries counts in a bucket of its own"));
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

    #[test]
    fn each_network_of_a_list_has_its_own_line_meter() {
        assert_eq!(part_meter("line-9", 0), "line-9");
        assert_eq!(part_meter("line-9", 1), "line-9.2");
        assert_eq!(part_meter("line-9-v6", 2), "line-9.3-v6");
        // a `--hashlimit-name`'s meter is one for every network
        assert_eq!(part_meter("dns", 1), "dns");
    }
}
