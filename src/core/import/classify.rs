//! Classification: every flat rule gets its place in statewall's fixed chain order —
//! established · invalid · loopback · icmp · allows · rejects · final — and reordering into it
//! must not change any packet's verdict.

use super::Fam;
use super::analyse::{Analyser, FinalRule};
use super::cond::Cond;
use super::flatten::{Flat, Verdict};
use super::rule::RejectKind;
use super::values::loopback_net;
use crate::core::plan::CtStates;

/// The place of a rule in statewall's fixed order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub(super) enum Rank {
    Established,
    Invalid,
    Loopback,
    Icmp,
    Allow,
    Reject,
    /// a drop that merges into the final drop
    Drop,
}

/// The rules that became statewall's baseline rules: the first of each kind.
#[derive(Debug, Default, Clone, Copy)]
pub(super) struct Found {
    pub(super) established: Option<usize>,
    pub(super) invalid: Option<usize>,
    pub(super) loopback: Option<usize>,
    pub(super) icmp: Option<usize>,
}

const EST: u32 = CtStates::ESTABLISHED | CtStates::RELATED;

/// The most pairs of rules the reordering check compares (each: two conditions, no
/// allocation).
pub(super) const REORDER_BUDGET: usize = 50_000_000;

/// How many ranks and verdicts there are (for tables indexed by them).
const RANKS: usize = Rank::Drop as usize + 1;
const VERDICTS: usize = 7;

/// A number per verdict, below [`VERDICTS`].
fn verdict_index(v: Verdict) -> usize {
    match v {
        Verdict::Accept => 0,
        Verdict::Drop => 1,
        Verdict::Reject(RejectKind::TcpReset) => 2,
        Verdict::Reject(RejectKind::Icmp(k)) => 3 + k as usize,
    }
}

fn icmp_proto(fam: Fam) -> u8 {
    if fam == Fam::V4 { 1 } else { 58 }
}

/// A condition on `states` alone.
fn states_only(states: u32) -> Cond {
    Cond {
        states: Some(states),
        ..Default::default()
    }
}

impl Analyser<'_> {
    /// Every flat rule with its rank; a rule that fits nowhere is left out (and reported).
    pub(super) fn rank_all(&mut self, flat: Vec<Flat>, found: &mut Found) -> Vec<(Rank, Flat)> {
        let mut ranked = Vec::new();
        for f in flat {
            let Some(rank) = self.rank(&f, found) else {
                continue;
            };
            if f.syn {
                let line = self.rules[f.rule].line;
                self.notes.push(format!("line {line}: `--syn`/`--tcp-flags` becomes a match on NEW connections (statewall's allows match ct state new)"));
            }
            ranked.push((rank, f));
        }
        ranked
    }

    fn rank(&mut self, f: &Flat, found: &mut Found) -> Option<Rank> {
        if let Some(rank) = self.baseline_rank(f, found) {
            return Some(rank);
        }
        let c = &f.cond;
        if c.dst_lo {
            let span = self.rules[f.rule].span.clone();
            self.error(span, "a destination match other than the loopback pattern", "only `-s 127.0.0.0/8 -d 127.0.0.0/8 -j ACCEPT` (or `-i lo -j ACCEPT`) is understood");
            return None;
        }
        if f.verdict == Verdict::Accept && c.states.is_some_and(|s| s & !EST == 0) {
            // already accepted by the established rule, if the file has one
            return Some(Rank::Established);
        }
        self.entry_rank(f)
    }

    /// The exact patterns of statewall's baseline rules: the established, loopback and
    /// ICMP accepts, and the invalid drop.
    fn baseline_rank(&mut self, f: &Flat, found: &mut Found) -> Option<Rank> {
        let c = &f.cond;
        let only = |g: Cond| *c == g;
        let lo_iif = Cond {
            iif: Some("lo".into()),
            ..Default::default()
        };
        let lo_nets = Cond {
            src: Some(loopback_net(self.fam)),
            dst_lo: true,
            ..Default::default()
        };
        let icmp = Cond {
            proto: Some(icmp_proto(self.fam)),
            ..Default::default()
        };
        match f.verdict {
            Verdict::Accept if only(states_only(EST)) => {
                found.established.get_or_insert(f.rule);
                Some(Rank::Established)
            }
            Verdict::Accept if only(lo_iif) || only(lo_nets) => {
                found.loopback.get_or_insert(f.rule);
                if c.src.is_some() {
                    let r = &self.rules[f.rule];
                    self.notes.push(format!(
                        "line {}: `{}` becomes statewall's loopback rule, which accepts everything arriving on lo (also local traffic to the host's other addresses)",
                        r.line, r.text
                    ));
                }
                Some(Rank::Loopback)
            }
            Verdict::Accept if only(icmp) => {
                found.icmp.get_or_insert(f.rule);
                Some(Rank::Icmp)
            }
            Verdict::Drop if only(states_only(CtStates::INVALID)) => {
                found.invalid.get_or_insert(f.rule);
                Some(Rank::Invalid)
            }
            _ => None,
        }
    }

    /// An allow, a reject or a drop; None when an entry cannot say what it matches (its
    /// states, its ICMP, a reset for more than tcp).
    fn entry_rank(&mut self, f: &Flat) -> Option<Rank> {
        let rules = self.rules;
        let r = &rules[f.rule];
        let c = &f.cond;
        if let Some(s) = c.states
            && !states_fit(f.verdict, s)
        {
            let names = CtStates(s).names().join(",");
            self.error(r.span.clone(), format!("connection states {names} on this rule"), "statewall's entries match NEW connections (established and related ones are accepted by its established rule, invalid ones dropped by its invalid rule); other combinations cannot be imported");
            return None;
        }
        if c.proto == Some(icmp_proto(self.fam)) && c.icmp.is_none() {
            self.error(r.span.clone(), "ICMP restricted by source, interface or state", "statewall accepts all ICMP for everyone (its icmp baseline), or single ICMP types (--icmp-type) per entry");
            return None;
        }
        if c.proto == Some(58) {
            self.error(r.span.clone(), "an ICMPv6 rule with conditions", "statewall accepts the ICMPv6 types IPv6 needs in its baseline; it has no other ICMPv6 entries");
            return None;
        }
        match f.verdict {
            Verdict::Accept => Some(Rank::Allow),
            Verdict::Reject(RejectKind::TcpReset) if c.proto != Some(6) => {
                self.error(
                    r.target_span.clone(),
                    "tcp-reset for packets that are not only tcp",
                    "add -p tcp, or use an ICMP kind",
                );
                None
            }
            Verdict::Reject(_) => Some(Rank::Reject),
            Verdict::Drop => Some(Rank::Drop),
        }
    }

    /// Refuses what statewall's order would decide differently.
    pub(super) fn check_order(
        &mut self,
        ranked: &[(Rank, Flat)],
        final_rule: FinalRule,
        found: &Found,
    ) {
        if final_rule.1 != Verdict::Drop {
            self.drops_before_another_final(ranked, final_rule);
        }
        self.reordering_keeps_verdicts(ranked);
        self.established_is_plain(ranked, final_rule, found);
    }

    /// Mid-chain drops only merge into a final drop.
    fn drops_before_another_final(&mut self, ranked: &[(Rank, Flat)], final_rule: FinalRule) {
        let rules = self.rules;
        for (rank, f) in ranked {
            if *rank == Rank::Drop {
                let r = &rules[f.rule];
                let fin = match final_rule.0 {
                    Some(i) => format!("line {}", rules[i].line),
                    None => "the INPUT policy".to_string(),
                };
                self.error(r.span.clone(), "a DROP before a final rule that does not drop", format!("statewall has no drop entries: what it does not allow meets its final rule, and here that accepts or rejects ({fin}); make this a REJECT, or end the chain with DROP"));
            }
        }
    }

    /// Two rules whose order statewall swaps must have the same verdict or match disjoint
    /// packets; otherwise the later one is refused (at the first earlier rule it conflicts
    /// with). Only the pairs that can conflict are compared — an earlier rule of a later rank
    /// with another verdict — and at most [`REORDER_BUDGET`] of them: a file that would need
    /// more is refused, since an unchecked swap could change what a packet gets.
    fn reordering_keeps_verdicts(&mut self, ranked: &[(Rank, Flat)]) {
        if !self.reorder_within_budget(ranked) {
            return;
        }
        let rules = self.rules;
        let sw: Vec<Cond> = ranked.iter().map(|(r, f)| sw_cond(*r, &f.cond)).collect();
        // the earlier rules, by rank and verdict, in order
        let mut earlier: Vec<Vec<usize>> = vec![Vec::new(); RANKS * VERDICTS];
        for (j, (rj, fj)) in ranked.iter().enumerate() {
            let vj = verdict_index(fj.verdict);
            let first = (*rj as usize + 1..RANKS)
                .flat_map(|r| (0..VERDICTS).map(move |v| (r, v)))
                .filter(|&(_, v)| v != vj)
                .filter_map(|(r, v)| {
                    earlier[r * VERDICTS + v]
                        .iter()
                        .copied()
                        .find(|&i| sw[i].overlaps(&sw[j]))
                })
                .min();
            if let Some(i) = first {
                let (ri, fi) = &ranked[i];
                let a_ = &rules[fi.rule];
                let b_ = &rules[fj.rule];
                self.error(
                    b_.span.clone(),
                    format!("this rule would move before line {} and change what it decides", a_.line),
                    format!(
                        "statewall's chain has a fixed order (established, invalid, loopback, icmp, allows, rejects, final); this rule is {}, line {} ({}) is {}, and some packets match both: reorder the file so that this rule comes first, or make the two rules disjoint",
                        rank_name(*rj), a_.line, a_.text, rank_name(*ri)
                    ),
                );
            }
            earlier[*rj as usize * VERDICTS + vj].push(j);
        }
    }

    /// Whether the pairs [`Analyser::reordering_keeps_verdicts`] compares are at most
    /// [`REORDER_BUDGET`]: counted per rank and verdict, without comparing any. If not, the
    /// file is refused at the rule where the count passes it.
    fn reorder_within_budget(&mut self, ranked: &[(Rank, Flat)]) -> bool {
        let mut seen = [[0usize; VERDICTS]; RANKS];
        let mut pairs = 0usize;
        for (rj, fj) in ranked {
            let vj = verdict_index(fj.verdict);
            for row in &seen[*rj as usize + 1..] {
                pairs += row.iter().sum::<usize>() - row[vj];
            }
            if pairs > REORDER_BUDGET {
                let r = &self.rules[fj.rule];
                self.error(
                    r.span.clone(),
                    format!(
                        "too many rules to reorder: checking that statewall's order keeps every verdict would compare more than {} pairs of rules by here",
                        crate::core::diag::thousands(REORDER_BUDGET)
                    ),
                    "statewall puts every rule in a fixed order (established, invalid, loopback, icmp, allows, rejects, final) and must check each pair of rules that it swaps; order the file that way (accepts before rejects and drops), or use fewer, wider rules",
                );
                return false;
            }
            seen[*rj as usize][vj] += 1;
        }
        true
    }

    /// Without an established rule, allows (NEW only) would cut their own connections; an
    /// accept of established packets under conditions is only covered by a plain one.
    fn established_is_plain(
        &mut self,
        ranked: &[(Rank, Flat)],
        final_rule: FinalRule,
        found: &Found,
    ) {
        if found.established.is_some() {
            return;
        }
        let rules = self.rules;
        if final_rule.1 != Verdict::Accept
            && let Some((_, first)) = ranked.iter().find(|(r, _)| *r == Rank::Allow)
        {
            self.error(rules[first.rule].span.clone(), "an ACCEPT in a file without an ESTABLISHED,RELATED accept", "statewall's entries accept NEW connections and rely on its established rule for the rest; add `-A INPUT -m state --state ESTABLISHED,RELATED -j ACCEPT` as the first rule");
        }
        for (_, f) in ranked.iter().filter(|(r, _)| *r == Rank::Established) {
            self.error(
                rules[f.rule].span.clone(),
                "an ESTABLISHED/RELATED accept with conditions, and no plain one",
                "statewall accepts every established and related packet in its first rule, or none; add `-A INPUT -m state --state ESTABLISHED,RELATED -j ACCEPT` if that is what is meant",
            );
        }
    }

    /// The allow and reject entries' rules, and a note for each rule that changes meaning or
    /// disappears on the way.
    pub(super) fn collect(
        &mut self,
        ranked: Vec<(Rank, Flat)>,
        found: &Found,
    ) -> (Vec<Flat>, Vec<Flat>) {
        let (mut allows, mut rejects) = (Vec::new(), Vec::new());
        for (rank, f) in ranked {
            let r = &self.rules[f.rule];
            match rank {
                Rank::Established if found.established != Some(f.rule) => self.notes.push(format!(
                    "line {}: `{}` is covered by statewall's established rule",
                    r.line, r.text
                )),
                Rank::Allow => {
                    if f.cond.states.is_none() && !f.syn {
                        self.notes.push(format!("line {}: `{}` has no state match; statewall's allow accepts NEW connections (established ones by its established rule{})", r.line, r.text, if found.invalid.is_some() { "" } else { "; packets conntrack calls INVALID are no longer accepted here" }));
                    }
                    allows.push(f)
                }
                Rank::Reject => {
                    if f.cond.states.is_some() {
                        self.notes.push(format!(
                            "line {}: `{}` rejects NEW connections only; statewall's rejects have no state match (established ones are accepted before them, invalid ones are rejected too)",
                            r.line, r.text
                        ));
                    }
                    rejects.push(f)
                }
                Rank::Drop => self.notes.push(format!(
                    "line {}: `{}` drops what statewall's final rule drops anyway",
                    r.line, r.text
                )),
                _ => {}
            }
        }
        (allows, rejects)
    }
}

/// Whether an entry with this verdict can say it matches connection states `s`: allows match
/// NEW (established and related ones are accepted anyway), rejects and drops NEW alone.
fn states_fit(verdict: Verdict, s: u32) -> bool {
    match verdict {
        Verdict::Accept => {
            s & CtStates::NEW != 0 && s & (CtStates::INVALID | CtStates::UNTRACKED) == 0
        }
        _ => s == CtStates::NEW,
    }
}

fn rank_name(r: Rank) -> &'static str {
    match r {
        Rank::Established => "an established accept",
        Rank::Invalid => "an invalid drop",
        Rank::Loopback => "the loopback accept",
        Rank::Icmp => "the icmp accept",
        Rank::Allow => "an allow",
        Rank::Reject => "a reject",
        Rank::Drop => "a drop",
    }
}

/// The packets statewall's rule for this ranked rule matches.
fn sw_cond(rank: Rank, c: &Cond) -> Cond {
    match rank {
        Rank::Loopback => Cond {
            iif: Some("lo".into()),
            ..Default::default()
        },
        Rank::Established if c.states.is_some_and(|s| s & !EST == 0) => states_only(EST),
        Rank::Allow => Cond {
            states: Some(CtStates::NEW),
            ..c.clone()
        },
        // statewall's rejects have no state match
        Rank::Reject => Cond {
            states: None,
            ..c.clone()
        },
        _ => c.clone(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn states_an_entry_can_say() {
        assert!(states_fit(Verdict::Accept, CtStates::NEW));
        assert!(states_fit(Verdict::Accept, CtStates::NEW | EST));
        assert!(!states_fit(
            Verdict::Accept,
            CtStates::NEW | CtStates::INVALID
        ));
        assert!(states_fit(Verdict::Drop, CtStates::NEW));
        assert!(!states_fit(
            Verdict::Drop,
            CtStates::NEW | CtStates::RELATED
        ));
    }

    #[test]
    fn statewall_allows_match_new_and_rejects_any_state() {
        let c = states_only(EST | CtStates::NEW);
        assert_eq!(sw_cond(Rank::Allow, &c).states, Some(CtStates::NEW));
        assert_eq!(sw_cond(Rank::Reject, &c).states, None);
        assert_eq!(
            sw_cond(Rank::Established, &states_only(CtStates::RELATED)),
            states_only(EST)
        );
    }
}
