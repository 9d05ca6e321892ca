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
    /// a drop that moves before everything (a `[[block]]`)
    Block,
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
const VERDICTS: usize = 3 + crate::core::model::IcmpReject::ALL.len();

/// What statewall's sections are: where their loopback rule looks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Hook {
    Input,
    Forward,
    Output,
}

impl Hook {
    pub(super) fn chain(self) -> &'static str {
        match self {
            Hook::Input => "INPUT",
            Hook::Forward => "FORWARD",
            Hook::Output => "OUTPUT",
        }
    }
}

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
    /// A DROP merges into a final drop when no later rule that decides otherwise overlaps
    /// it, else it becomes a block (before everything) when no earlier one does.
    pub(super) fn rank_all(
        &mut self,
        flat: Vec<Flat>,
        found: &mut Found,
        final_rule: FinalRule,
    ) -> Vec<(Rank, Flat)> {
        let mut ranked = Vec::new();
        // interfaces whose every packet an earlier rule decided, and that rule's place
        let mut decided: Vec<(String, bool, usize)> = Vec::new();
        for mut f in flat {
            let Some(at) = self.drop_negated_ifs(&mut f, &decided) else {
                continue;
            };
            let Some(rank) = self.rank(&f, found) else {
                continue;
            };
            if let Some(at) = at
                && ranked
                    .get(at)
                    .is_some_and(|(r, _): &(Rank, Flat)| *r > rank)
            {
                let r = &self.rules[f.rule];
                self.error(r.span.clone(), "a negated interface (`! -i`/`! -o`) on a rule that statewall would move before the rule that makes it redundant", "statewall has no \"every interface but\" match; write the rule without `!` after a rule that decides every packet of that interface");
                continue;
            }
            let whole_if = |c: &Cond| {
                let bare = Cond {
                    iif: None,
                    oif: None,
                    ..c.clone()
                };
                match (&c.iif, &c.oif) {
                    (Some(i), None) if bare.is_everything() => Some((i.clone(), false)),
                    (None, Some(o)) if bare.is_everything() => Some((o.clone(), true)),
                    _ => None,
                }
            };
            if let Some((name, out)) = whole_if(&f.cond) {
                decided.push((name, out, ranked.len()));
            }
            ranked.push((rank, f));
        }
        self.stateful = found.established.is_some();
        if !self.stateful {
            // no plain ESTABLISHED,RELATED accept: an accept of established or related
            // packets under conditions is an allow that says its states (`state`)
            for (rank, _) in ranked.iter_mut().filter(|(r, _)| *r == Rank::Established) {
                *rank = Rank::Allow;
            }
        }
        self.place_drops(&mut ranked, final_rule);
        ranked
    }

    /// `! -i X` is only kept when an earlier rule decided every packet arriving on X (the
    /// classic `-i lo -j ACCEPT` before `! -i lo -s 127.0.0.0/8 -j DROP`): then the negation
    /// says nothing and is dropped. Returns the place of the latest such earlier rule (Some(None)
    /// without negations), None when a negation stays (reported).
    fn drop_negated_ifs(
        &mut self,
        f: &mut Flat,
        decided: &[(String, bool, usize)],
    ) -> Option<Option<usize>> {
        let mut at = None;
        for out in [false, true] {
            let nots = if out {
                std::mem::take(&mut f.cond.not_oif)
            } else {
                std::mem::take(&mut f.cond.not_iif)
            };
            for n in nots {
                let by = decided
                    .iter()
                    .find(|(d, o, _)| *o == out && super::cond::if_covers(d, &n));
                let r = &self.rules[f.rule];
                match by {
                    Some((_, _, i)) => {
                        at = at.max(Some(*i));
                        self.notes.push(format!("line {}: `! {} {n}` says nothing: every packet {} {n} was decided by an earlier rule", r.line, if out { "-o" } else { "-i" }, if out { "leaving on" } else { "arriving on" }));
                    }
                    None => {
                        self.error(r.span.clone(), format!("a negated interface `! {} {}`", if out { "-o" } else { "-i" }, n.replace('*', "+")), "statewall has no \"every interface but\" match; it imports one only when an earlier rule decides every packet of that interface (e.g. `-i lo -j ACCEPT` first): add such a rule, or write the rule per interface");
                        return None;
                    }
                }
            }
        }
        Some(at)
    }

    /// Each DROP entry's place: merged into a final drop (Rank::Drop) when no later rule of
    /// another verdict overlaps it; else a block (before everything) when it has no state
    /// match and no earlier rule of another verdict overlaps it. The comparisons stop at
    /// [`REORDER_BUDGET`] (the order check then decides, within its own budget).
    fn place_drops(&mut self, ranked: &mut [(Rank, Flat)], final_rule: FinalRule) {
        let mut budget = REORDER_BUDGET;
        let fin_drop = final_rule.1 == Verdict::Drop;
        for p in 0..ranked.len() {
            if ranked[p].0 != Rank::Drop {
                continue;
            }
            let c = ranked[p].1.cond.clone();
            let c = &c;
            let conflict = |range: std::ops::Range<usize>, budget: &mut usize| {
                range.into_iter().any(|q| {
                    *budget = budget.saturating_sub(1);
                    let (rq, fq) = &ranked[q];
                    fq.verdict != Verdict::Drop && sw_cond(*rq, &fq.cond, self.stateful).overlaps(c)
                })
            };
            if budget == 0 {
                return;
            }
            if fin_drop && !conflict(p + 1..ranked.len(), &mut budget) {
                continue;
            }
            if c.states.is_none() && !conflict(0..p, &mut budget) {
                ranked[p].0 = Rank::Block;
            }
        }
    }

    fn rank(&mut self, f: &Flat, found: &mut Found) -> Option<Rank> {
        if let Some(rank) = self.baseline_rank(f, found) {
            return Some(rank);
        }
        let c = &f.cond;
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
        let lo_if = Some("lo".to_string());
        let lo = match self.hook {
            Hook::Input => Cond {
                iif: lo_if,
                ..Default::default()
            },
            Hook::Output => Cond {
                oif: lo_if,
                ..Default::default()
            },
            Hook::Forward => Cond {
                states: Some(0), // never: forward has no loopback rule
                ..Default::default()
            },
        };
        let lo_nets = Cond {
            src: Some(loopback_net(self.fam)),
            dst: Some(loopback_net(self.fam)),
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
            Verdict::Accept if only(lo) || (self.hook == Hook::Input && only(lo_nets)) => {
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
    /// states, a reset for more than tcp).
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
    pub(super) fn check_order(&mut self, ranked: &[(Rank, Flat)], final_rule: FinalRule) {
        if final_rule.1 != Verdict::Drop {
            self.drops_before_another_final(ranked, final_rule);
        }
        self.reordering_keeps_verdicts(ranked);
    }

    /// Mid-chain drops only merge into a final drop.
    fn drops_before_another_final(&mut self, ranked: &[(Rank, Flat)], final_rule: FinalRule) {
        let rules = self.rules;
        for (rank, f) in ranked {
            if *rank == Rank::Drop {
                let r = &rules[f.rule];
                let fin = match final_rule.0 {
                    Some(i) => format!("line {}", rules[i].line),
                    None => format!("the {} policy", self.hook.chain()),
                };
                self.error(r.span.clone(), "a DROP that statewall can neither merge into its final rule nor move first", format!("statewall drops in a `[[block]]` (before every other rule, without a state match) or in its final rule, and here the final rule accepts or rejects ({fin}) and an earlier rule of another verdict matches some of these packets; make this a REJECT, or end the chain with DROP"));
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
        let stateful = self.stateful;
        let sw: Vec<Cond> = ranked
            .iter()
            .map(|(r, f)| sw_cond(*r, &f.cond, stateful))
            .collect();
        // the earlier rules, by rank and verdict, in order
        let mut earlier: Vec<Vec<usize>> = vec![Vec::new(); RANKS * VERDICTS];
        for (j, (rj, fj)) in ranked.iter().enumerate() {
            let vj = verdict_index(fj.verdict);
            // the loopback accept before the invalid drop: statewall's invalid rule comes
            // first, which changes only invalid packets on the loopback interface (said)
            let lo_first = *rj == Rank::Invalid
                && (0..VERDICTS)
                    .any(|v| !earlier[Rank::Loopback as usize * VERDICTS + v].is_empty());
            if lo_first {
                let r = &rules[fj.rule];
                self.notes.push(format!("line {}: `{}` comes after the loopback accept in the file; statewall drops invalid packets first, so conntrack-invalid packets on lo (local connections out of sync) are now dropped instead of accepted", r.line, r.text));
            }
            let first = (*rj as usize + 1..RANKS)
                .flat_map(|r| (0..VERDICTS).map(move |v| (r, v)))
                .filter(|&(r, v)| v != vj && !(lo_first && r == Rank::Loopback as usize))
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

    /// The block, allow and reject entries' rules, and a note for each rule that changes
    /// meaning or disappears on the way.
    pub(super) fn collect(&mut self, ranked: Vec<(Rank, Flat)>, found: &Found) -> Collected {
        let mut out = Collected::default();
        for (rank, mut f) in ranked {
            let r = &self.rules[f.rule];
            match rank {
                Rank::Established if found.established != Some(f.rule) => self.notes.push(format!(
                    "line {}: `{}` is covered by statewall's established rule",
                    r.line, r.text
                )),
                Rank::Allow => {
                    // without an established rule the allow keeps its states (`state`);
                    // with one, it matches NEW connections, whatever states it named
                    if found.established.is_some() {
                        if f.cond.states.is_none() {
                            self.notes.push(format!("line {}: `{}` has no state match; statewall's allow accepts NEW connections (established ones by its established rule{})", r.line, r.text, if found.invalid.is_some() { "" } else { "; packets conntrack calls INVALID are no longer accepted here" }));
                        }
                        f.cond.states = None;
                    }
                    out.allows.push(f)
                }
                Rank::Reject => {
                    if f.cond.states.is_some() {
                        self.notes.push(format!(
                            "line {}: `{}` rejects NEW connections only; statewall's rejects have no state match (established ones are accepted before them, invalid ones are rejected too)",
                            r.line, r.text
                        ));
                    }
                    out.rejects.push(f)
                }
                Rank::Block => out.blocks.push(f),
                Rank::Drop => self.notes.push(format!(
                    "line {}: `{}` drops what statewall's final rule drops anyway",
                    r.line, r.text
                )),
                _ => {}
            }
        }
        out
    }
}

/// A chain's entries, by kind.
#[derive(Debug, Default)]
pub(super) struct Collected {
    pub(super) blocks: Vec<Flat>,
    pub(super) allows: Vec<Flat>,
    pub(super) rejects: Vec<Flat>,
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
        Rank::Block => "a drop before everything (a block)",
        Rank::Established => "an established accept",
        Rank::Invalid => "an invalid drop",
        Rank::Loopback => "the loopback accept",
        Rank::Icmp => "the icmp accept",
        Rank::Allow => "an allow",
        Rank::Reject => "a reject",
        Rank::Drop => "a drop",
    }
}

/// The packets statewall's rule for this ranked rule matches (`stateful`: the chain has an
/// established rule, so allows match NEW only).
fn sw_cond(rank: Rank, c: &Cond, stateful: bool) -> Cond {
    match rank {
        Rank::Loopback => Cond {
            iif: c.iif.clone(),
            oif: c.oif.clone(),
            ..Default::default()
        },
        Rank::Established if c.states.is_some_and(|s| s & !EST == 0) => states_only(EST),
        // after the established rule an allow matches NEW; without it, its own states
        Rank::Allow if stateful => Cond {
            states: Some(CtStates::NEW),
            ..c.clone()
        },
        // statewall's rejects and blocks have no state match
        Rank::Reject | Rank::Block => Cond {
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
    fn statewall_allows_match_new_or_their_own_states_and_rejects_any_state() {
        let c = states_only(EST | CtStates::NEW);
        assert_eq!(sw_cond(Rank::Allow, &c, true).states, Some(CtStates::NEW));
        assert_eq!(
            sw_cond(Rank::Allow, &c, false).states,
            Some(EST | CtStates::NEW)
        );
        assert_eq!(sw_cond(Rank::Allow, &Cond::default(), false).states, None);
        assert_eq!(sw_cond(Rank::Reject, &c, true).states, None);
        assert_eq!(
            sw_cond(Rank::Established, &states_only(CtStates::RELATED), true),
            states_only(EST)
        );
    }
}
