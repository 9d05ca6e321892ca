//! The port-scan trap of the Arch wiki's "Simple stateful firewall", and its kin: a DROP or
//! REJECT that puts its packets' sources on a `-m recent` list (`--set --name N -j REJECT`),
//! and checks of that list without `--hitcount` (`--update --seconds S --name N -j REJECT`)
//! that refuse a listed source. They become a live set of single addresses with a timeout of
//! S (`[[set]] name = "N" networks = false timeout = "Ss"`), the feeding entry's
//! `add_to_set = "N"` and a block with `from_set = "N"` (and `refresh = true` for
//! `--update`, which renews the member as iptables renews its entry).
//!
//! Both keep their place: the order check treats a rule with a side effect as deciding
//! otherwise than every rule it would swap with (`side_effects_keep_their_order`), and a
//! feeding or checking DROP never merges into the final rule.

use std::collections::BTreeMap;

use super::analyse::{Analyser, Chain};
use super::classify::{REORDER_BUDGET, Rank};
use super::extra::EntryExtra;
use super::flatten::Flat;
use super::rule::{IptRule, Target};

/// Whether `r` is a part of a trap: a `--set` with a DROP or REJECT, or a check that made
/// its condition need the list (`rule.rs`).
pub(super) fn is_trap(r: &IptRule) -> bool {
    let feeds = r.extra.recent.as_ref().is_some_and(|x| x.set)
        && matches!(r.target, Target::Drop | Target::Reject(_));
    feeds || !r.cond.in_set.is_empty()
}

/// A check of a list without `--hitcount`: the list, its `--seconds`, and whether it renews
/// the members it finds (`--update`; `--rcheck` does not).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct ListCheck {
    pub(super) set: String,
    pub(super) seconds: u64,
    pub(super) refresh: bool,
}

impl EntryExtra {
    /// A part of a trap: it fills a list, or checks one.
    pub(super) fn trap(&self) -> bool {
        self.add_to_set.is_some() || self.from_set.is_some()
    }

    /// It changes a list as it decides, or takes tokens of a guard's rate (its place must
    /// be kept exactly).
    pub(super) fn changes_list(&self) -> bool {
        self.add_to_set.is_some() || self.from_set.as_ref().is_some_and(|c| c.refresh) || self.guard
    }
}

impl Analyser<'_> {
    /// A trap rule at `flat[p]`: its `add_to_set` or `from_set`; refused (taken out) when
    /// it says what a live set cannot keep.
    pub(super) fn trap_rule(&mut self, flat: &mut [Flat], p: usize, gone: &mut [bool]) {
        let r = &self.rules[flat[p].rule];
        let rec = r.extra.recent.clone().expect("a recent");
        let refuse = |cx: &mut Self, why: String| {
            cx.error(r.span.clone(), "a `-m recent` list statewall cannot map", format!("{why}; statewall maps a list that a DROP or REJECT fills (`--set --name N`) and checks without `--hitcount` (`--update` or `--rcheck --seconds S --name N` with a DROP or REJECT) as a live set with a timeout of S seconds: the port-scan trap"));
        };
        if let Some(o) = rec.other.first() {
            gone[p] = true;
            return refuse(self, format!("it says {o}"));
        }
        let name = rec.name().to_string();
        if !crate::core::policy::valid_set_name(&name) {
            gone[p] = true;
            return refuse(
                self,
                format!("its name `{name}` is not a set name statewall takes"),
            );
        }
        if rec.set {
            flat[p].extra.add_to_set = Some(name);
            return;
        }
        if rec.rttl {
            gone[p] = true;
            return refuse(self, "it says --rttl (the TTL must match the recorded packet's), which a set of addresses cannot keep".into());
        }
        if flat[p].cond.src.is_some() || !flat[p].cond.not_src.is_empty() {
            gone[p] = true;
            return refuse(self, "it also matches the source address".into());
        }
        let seconds = rec
            .seconds
            .as_deref()
            .and_then(|s| s.parse::<u64>().ok())
            .filter(|s| (1..=86_400 * 7).contains(s));
        let Some(seconds) = seconds else {
            gone[p] = true;
            return refuse(
                self,
                "a check without --seconds (1 to 604800) keeps a source on the list for ever"
                    .into(),
            );
        };
        let refresh = rec.check.is_some_and(|(k, _)| k == "update");
        flat[p].extra.from_set = Some(ListCheck {
            set: name,
            seconds,
            refresh,
        });
    }

    /// A trap rule that would merge into the final rule, or a check that found no block
    /// place (`refresh` is a block's): refused (its list would no longer change, or no
    /// longer be checked, there).
    pub(super) fn trap_not_merged(&mut self, ranked: &[(Rank, Flat)]) {
        for (rank, f) in ranked {
            let unplaced = (*rank == Rank::Drop && (f.extra.trap() || f.extra.guard))
                || (*rank == Rank::Reject && f.extra.from_set.is_some());
            if unplaced && f.extra.guard {
                let r = &self.rules[f.rule];
                self.error(r.span.clone(), "a rate guard that no block place keeps", "it takes a token for every packet it meets and drops what exceeds its rate, so it must meet exactly the packets it meets in the file: statewall keeps it as a `[[block]]`, and no block place keeps what every rule decides here; reorder the file so that it comes before the rules it would swap with");
            } else if unplaced {
                let r = &self.rules[f.rule];
                self.error(r.span.clone(), "a rule of the port-scan trap that no block place keeps", "its list must change (or be checked) exactly where the file does it: statewall keeps a feeding DROP and every check as a `[[block]]`, and no block place keeps what every rule decides here; reorder the file so that the check comes before the rules it would swap with");
            }
        }
    }

    /// Rules that change a list keep their order with every rule they overlap, whatever
    /// its verdict: the same verdict from another rule would leave the list unchanged.
    pub(super) fn side_effects_keep_their_order(&mut self, ranked: &[(Rank, Flat)]) {
        let effects: Vec<usize> = (0..ranked.len())
            .filter(|&i| ranked[i].1.extra.changes_list())
            .collect();
        // one comparison per rule and trap rule: bounded as the order check is
        if effects.len().saturating_mul(ranked.len()) > REORDER_BUDGET {
            let r = &self.rules[ranked[effects[0]].1.rule];
            self.error(r.span.clone(), format!("too many rules of port-scan traps: keeping their order would compare more than {} pairs of rules", crate::core::diag::thousands(REORDER_BUDGET)), "use fewer trap rules (one that fills each list, one check of it) or fewer, wider rules");
            return;
        }
        for &j in &effects {
            let (rj, fj) = &ranked[j];
            let swapped = ranked.iter().enumerate().find(|&(i, (ri, fi))| {
                i != j && ((i < j && ri > rj) || (i > j && ri < rj)) && fi.cond.overlaps(&fj.cond)
            });
            if let Some((i, _)) = swapped {
                let (a, b) = (&self.rules[fj.rule], &self.rules[ranked[i].1.rule]);
                let what = if fj.extra.guard {
                    "this rate guard"
                } else {
                    "this rule of the port-scan trap"
                };
                self.error(a.span.clone(), format!("{what} would change places with line {}", b.line), "statewall's chain has a fixed order (blocks, established, invalid, loopback, icmp, allows with blocks among them, rejects, final), and a rule that puts sources on a list, renews them there, or takes tokens of a rate, must meet exactly the packets it meets in the file; reorder the file so that the two rules keep statewall's order, or make them disjoint");
            }
        }
    }

    /// Every list of a chain's trap rules: checked and filled, with one `--seconds`.
    /// Returns each list's timeout.
    pub(super) fn trap_lists(&mut self, chains: &[&Chain]) -> BTreeMap<String, u64> {
        let mut fed: BTreeMap<String, usize> = BTreeMap::new();
        let mut checked: BTreeMap<String, (u64, usize)> = BTreeMap::new();
        let flats = chains.iter().flat_map(|c| {
            c.blocks
                .iter()
                .map(|(_, f)| f)
                .chain(&c.allows)
                .chain(&c.rejects)
        });
        for f in flats {
            if let Some(n) = &f.extra.add_to_set {
                fed.entry(n.clone()).or_insert(f.rule);
            }
            if let Some(ListCheck {
                set: n, seconds: s, ..
            }) = &f.extra.from_set
            {
                match checked.get(n) {
                    Some(&(s0, r0)) if s0 != *s => {
                        let (r, r0) = (&self.rules[f.rule], &self.rules[r0]);
                        self.error(r.span.clone(), format!("list `{n}` checked with --seconds {s} here and {s0} on line {}", r0.line), "statewall's live set has one timeout: give every check of the list the same --seconds");
                    }
                    Some(_) => {}
                    None => {
                        checked.insert(n.clone(), (*s, f.rule));
                    }
                }
            }
        }
        for (n, r) in &fed {
            if !checked.contains_key(n) {
                let r = &self.rules[*r];
                self.error(r.span.clone(), format!("list `{n}` is filled here and never checked without --hitcount"), "statewall maps a list a DROP or REJECT fills only with its checks (`--update` or `--rcheck --seconds S --name N` with a DROP or REJECT)");
            }
        }
        for (n, (_, r)) in &checked {
            if !fed.contains_key(n) {
                let r = &self.rules[*r];
                self.error(r.span.clone(), format!("list `{n}` is checked here and filled by no DROP or REJECT"), "statewall maps a list checked without --hitcount only when a DROP or REJECT fills it (`--set --name N -j REJECT`): the port-scan trap");
            }
        }
        checked.into_iter().map(|(n, (s, _))| (n, s)).collect()
    }
}
