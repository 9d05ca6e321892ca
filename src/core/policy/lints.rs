//! Checks across entries: names used twice, and reject entries that an allow entry or the
//! icmp baseline keeps from ever seeing their traffic.

use std::collections::HashMap;
use std::ops::Range;

use super::ports::port_word;
use super::{Checker, Entry, Kind};
use crate::core::diag::thousands;
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
                        "an entry named \"{name}\" is already at line {line}; names must be unique across every entry of the policy (allows, rejects, blocks and clamps, in every section)"
                    )),
                );
            } else {
                seen.insert(name, span);
            }
        }
    }

    /// Warns when an allow entry accepts traffic that a reject entry also covers: allow rules
    /// come before reject rules in the chain, so the reject never sees that traffic. One
    /// warning per port list element of the reject, naming the first allow entry that takes
    /// some of it (and how many more do). At most [`SHADOW_BUDGET`] comparisons, each a
    /// binary search; a policy that would need more is told so instead.
    pub(super) fn shadowed_rejects(&mut self, entries: &[&Entry]) {
        let clean = |e: &Entry| e.name.is_some() && e.from.as_ref().is_none_or(|f| f.clean);
        if !entries.iter().any(|e| e.kind == Kind::Reject && clean(e)) {
            // nothing to shadow: the allows' sources are not even sorted
            return;
        }
        let allows: Vec<Allow<'_>> = entries
            .iter()
            .copied()
            // (a live set's sources are not known here: such an allow shadows nothing)
            .filter(|e| e.kind == Kind::Allow && clean(e) && e.from_set.is_none())
            .map(Allow::new)
            .collect();
        let rejects: Vec<&Entry> = entries
            .iter()
            .copied()
            .filter(|e| e.kind == Kind::Reject && clean(e))
            .collect();
        let cost = rejects
            .iter()
            .map(|r| {
                let nets = r.from.as_ref().map_or(0, |f| f.nets.len());
                1 + r.tcp.ports.len() + r.udp.ports.len() + nets
            })
            .fold(0usize, usize::saturating_add)
            .saturating_mul(allows.len());
        if cost > SHADOW_BUDGET {
            self.shadow_check_skipped(&rejects, allows.len(), cost);
            return;
        }
        for rej in rejects {
            self.shadowed_reject(rej, &allows);
        }
    }

    /// The shadow check for one reject entry against every allow entry.
    fn shadowed_reject(&mut self, rej: &Entry, allows: &[Allow<'_>]) {
        let mut hits: [Vec<Option<Hit>>; 2] = [
            rej.tcp.ports.iter().map(|_| None).collect(),
            rej.udp.ports.iter().map(|_| None).collect(),
        ];
        for (ai, allow) in allows.iter().enumerate() {
            if allow.entry.iif.is_some() && allow.entry.iif != rej.iif {
                continue; // only packets from that interface
            }
            let Some(sources) = allow.shadowed_sources(rej) else {
                continue;
            };
            for (p, rports) in [&rej.tcp.ports, &rej.udp.ports].into_iter().enumerate() {
                let aports = if p == 0 { &allow.tcp } else { &allow.udp };
                for (k, (r, _)) in rports.iter().enumerate() {
                    let over = overlapping(aports, *r);
                    if over.is_empty() {
                        continue;
                    }
                    match &mut hits[p][k] {
                        Some(hit) => hit.more += 1,
                        slot @ None => {
                            *slot = Some(Hit {
                                allow: ai,
                                ports: over
                                    .iter()
                                    .map(|a| PortRange {
                                        lo: a.lo.max(r.lo),
                                        hi: a.hi.min(r.hi),
                                    })
                                    .take(LISTED)
                                    .collect(),
                                count: over.len(),
                                sources: sources.clone(),
                                more: 0,
                            })
                        }
                    }
                }
            }
        }
        for (p, proto) in ["tcp", "udp"].into_iter().enumerate() {
            let rports = if p == 0 {
                &rej.tcp.ports
            } else {
                &rej.udp.ports
            };
            for (k, hit) in std::mem::take(&mut hits[p]).into_iter().enumerate() {
                if let Some(hit) = hit {
                    self.shadow_warning(rej, &allows[hit.allow], proto, &rports[k].1, hit);
                }
            }
        }
    }

    /// One port list element of `rej` that `allow` accepts (some of), as a warning.
    fn shadow_warning(
        &mut self,
        rej: &Entry,
        allow: &Allow<'_>,
        proto: &str,
        rspan: &Range<usize>,
        hit: Hit,
    ) {
        let (Some((rname, _)), Some((aname, aspan))) = (&rej.name, &allow.entry.name) else {
            return;
        };
        let aline = self.line_of(aspan);
        let ports = if let ([one], 1) = (&hit.ports[..], hit.count) {
            port_word(*one)
        } else {
            format!("ports {}", listed(&hit.ports, hit.count))
        };
        let sources = match &hit.sources {
            Sources::All => String::new(),
            Sources::Some(nets, count) => format!(" from {}", listed(nets, *count)),
        };
        let also = match hit.more {
            0 => String::new(),
            1 => "; 1 more allow entry accepts some of it too".to_string(),
            n => format!("; {n} more allow entries accept some of it too"),
        };
        self.warning(
            rspan.clone(),
            format!(
                "reject \"{rname}\" never sees {proto} {ports}{sources}: allow \"{aname}\" (line {aline}) accepts it first"
            ),
            Some(format!(
                "allow rules come before reject rules in the chain, whatever their order in the file, so allow \"{aname}\" wins and this part of the reject has no effect; remove the overlap from one of the two entries{also}"
            )),
        );
    }

    /// Says that the shadow check was not made, at the first reject entry.
    fn shadow_check_skipped(&mut self, rejects: &[&Entry], allows: usize, cost: usize) {
        let Some((_, span)) = rejects.first().and_then(|r| r.name.as_ref()) else {
            return;
        };
        self.warning(
            span.clone(),
            format!(
                "not checked whether allow entries take traffic from reject entries: {} reject and {} allow entries would take {} comparisons, more than the {} this check makes",
                thousands(rejects.len()),
                thousands(allows),
                thousands(cost),
                thousands(SHADOW_BUDGET)
            ),
            Some("the policy is valid without this check; it warns when a reject entry can never see some of its traffic because an allow entry accepts it first. Fewer, wider entries (port ranges, from_file lists) keep it within reach".into()),
        );
    }

    /// Warns when a reject entry lists ICMP types while the icmp baseline accepts all ICMP
    /// before any reject rule.
    pub(super) fn icmp_rejects_shadowed(&mut self, entries: &[&Entry]) {
        for rej in entries.iter().copied().filter(|e| e.kind == Kind::Reject) {
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

/// The most comparisons the shadowed-reject check makes: (1 + port list elements + sources
/// of a reject entry) × allow entries, summed over the reject entries.
pub(super) const SHADOW_BUDGET: usize = 50_000_000;

/// The most ports, or networks, one warning lists.
const LISTED: usize = 8;

/// An allow entry as the shadow check looks at it: its port ranges and networks, each sorted
/// (they are disjoint within an entry, so a binary search finds the ones that matter).
struct Allow<'e> {
    entry: &'e Entry,
    tcp: Vec<PortRange>,
    udp: Vec<PortRange>,
    /// (family, first, last address, network); None = from anywhere
    nets: Option<Vec<(u8, u128, u128, Cidr)>>,
}

/// The first allow entry that takes some of a reject's port list element.
struct Hit {
    /// index among the allows
    allow: usize,
    /// the ports both take (the first [`LISTED`]), and how many there are
    ports: Vec<PortRange>,
    count: usize,
    sources: Sources,
    /// further allow entries that take some of it
    more: usize,
}

/// Which of a reject's sources an allow entry accepts entirely.
#[derive(Clone)]
enum Sources {
    All,
    /// the first [`LISTED`] of them, and how many there are
    Some(Vec<Cidr>, usize),
}

impl<'e> Allow<'e> {
    fn new(entry: &'e Entry) -> Self {
        let sorted = |ports: &[(PortRange, Range<usize>)]| {
            let mut v: Vec<PortRange> = ports.iter().map(|(p, _)| *p).collect();
            v.sort_unstable();
            v
        };
        let nets = entry.from.as_ref().map(|f| {
            let mut v: Vec<(u8, u128, u128, Cidr)> = f
                .nets
                .iter()
                .map(|n| {
                    let (fam, lo, hi) = n.interval();
                    (fam, lo, hi, *n)
                })
                .collect();
            // stable: a list in order (or nearly) is sorted runs, merged in linear time
            v.sort_by_key(|&(fam, lo, _, _)| (fam, lo));
            v
        });
        Allow {
            entry,
            tcp: sorted(&entry.tcp.ports),
            udp: sorted(&entry.udp.ports),
            nets,
        }
    }

    /// Which of the reject's sources this allow entry accepts entirely; None for none of them.
    fn shadowed_sources(&self, rej: &Entry) -> Option<Sources> {
        let Some(mine) = &self.nets else {
            return Some(Sources::All); // the allow is from anywhere: everything
        };
        let theirs = &rej.from.as_ref()?.nets;
        let covered = |n: &Cidr| {
            let (fam, lo, hi) = n.interval();
            let i = mine.partition_point(|&(f, l, _, _)| (f, l) <= (fam, lo));
            i.checked_sub(1)
                .is_some_and(|i| mine[i].0 == fam && hi <= mine[i].2)
        };
        let mut shown = Vec::new();
        let mut count = 0;
        for n in theirs {
            if covered(n) {
                count += 1;
                if shown.len() < LISTED {
                    shown.push(*n);
                }
            }
        }
        match count {
            0 => None,
            c if c == theirs.len() => Some(Sources::All),
            c => Some(Sources::Some(shown, c)),
        }
    }
}

/// The ranges of `sorted` (disjoint, by start) that overlap `r`.
fn overlapping(sorted: &[PortRange], r: PortRange) -> &[PortRange] {
    let from = sorted.partition_point(|a| a.hi < r.lo);
    let to = from + sorted[from..].partition_point(|a| a.lo <= r.hi);
    &sorted[from..to]
}

/// `a, b, c` — or `a, b, …, h and 12 more` when `count` passes the ones listed.
fn listed<T: std::fmt::Display>(shown: &[T], count: usize) -> String {
    let list: Vec<String> = shown.iter().map(ToString::to_string).collect();
    if count > shown.len() {
        format!("{} and {} more", list.join(", "), count - shown.len())
    } else {
        list.join(", ")
    }
}

#[cfg(test)]
mod tests {
    use crate::core::policy::parse;

    #[test]
    fn three_hundred_allows_over_three_hundred_reject_ports_make_one_warning_per_port() {
        // 90,000 (reject port, allow) pairs, as 300 warnings that say how many more
        let mut src = String::new();
        for i in 0..300 {
            src.push_str(&format!("[[allow]]\nname = \"a{i}\"\ntcp = [\"1-1000\"]\n"));
        }
        let ports: Vec<String> = (1..=300).map(|p| p.to_string()).collect();
        src.push_str(&format!(
            "[[reject]]\nname = \"r\"\ntcp = [{}]\n",
            ports.join(", ")
        ));
        let (policy, diags) = parse(&src);
        assert!(policy.is_some());
        assert_eq!((diags.errors(), diags.warnings()), (0, 300));
        assert_eq!(
            diags[0].message,
            "reject \"r\" never sees tcp port 1: allow \"a0\" (line 2) accepts it first"
        );
        assert!(
            diags[0]
                .help
                .as_ref()
                .unwrap()
                .ends_with("; 299 more allow entries accept some of it too")
        );
        assert!(diags.render("p.toml", &src).len() < 60_000);
    }

    #[test]
    fn long_lists_are_named_in_part_and_counted() {
        let nets: Vec<String> = (0..20).map(|i| format!("\"10.0.{i}.0/24\"")).collect();
        let src = format!(
            "[[allow]]\nname = \"a\"\ntcp = [{}]\nfrom = [\"10.0.0.0/16\"]\n\
             [[reject]]\nname = \"r\"\ntcp = [\"1-100\"]\nfrom = [{}, \"192.0.2.0/24\"]\n",
            (1..=20)
                .map(|p| p.to_string())
                .collect::<Vec<_>>()
                .join(", "),
            nets.join(", ")
        );
        let (_, diags) = parse(&src);
        assert_eq!(diags.len(), 1, "{diags:?}");
        assert_eq!(
            diags[0].message,
            "reject \"r\" never sees tcp ports 1, 2, 3, 4, 5, 6, 7, 8 and 12 more from \
             10.0.0.0/24, 10.0.1.0/24, 10.0.2.0/24, 10.0.3.0/24, 10.0.4.0/24, 10.0.5.0/24, \
             10.0.6.0/24, 10.0.7.0/24 and 12 more: allow \"a\" (line 2) accepts it first"
        );
    }

    #[test]
    fn past_its_budget_the_shadow_check_says_it_was_not_made() {
        let mut src = String::new();
        let ports: Vec<String> = (1..=5000).map(|p| p.to_string()).collect();
        for i in 0..10_001 {
            src.push_str(&format!(
                "[[allow]]\nname = \"a{i}\"\ntcp = [{}]\n",
                10_000 + i
            ));
        }
        src.push_str(&format!(
            "[[reject]]\nname = \"r\"\ntcp = [{}]\n",
            ports.join(", ")
        ));
        let (policy, diags) = parse(&src);
        assert!(policy.is_some());
        assert_eq!(diags.len(), 1);
        assert!(
            diags[0].message.starts_with(
                "not checked whether allow entries take traffic from reject entries: 1 reject and 10,001 allow entries would take 50,015,001 comparisons, more than the 50,000,000"
            ),
            "{}",
            diags[0].message
        );
    }
}
