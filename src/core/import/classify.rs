//! Classification: every flat rule gets its place in statewall's fixed chain order —
//! blocks · established · invalid · blocks after established · loopback · icmp · blocks after
//! the baseline · allows · blocks after the allows · rejects · final — and reordering into it
//! must not change any packet's verdict.
//!
//! A DROP or REJECT goes where statewall puts its kind (a drop into the final drop, a reject
//! among the rejects) when that keeps every verdict; else into the first of the block places
//! that does (first, after established, after the baseline, after the allows, or among the
//! allows in file order: right after the allow before it, `after = "<its name>"`), as a
//! `[[block]]` with its verdict (`with`) and place (`after`); a DROP or REJECT of NEW packets
//! that fits nowhere without its state match keeps it (`state = "new"`). Moving a rule before an earlier
//! rule that decided every packet of an interface (`-i lo -j ACCEPT`) excepts that interface
//! from it (`except_iif`): those packets never reached it in the file. The order check
//! (`reordering_keeps_verdicts`) then proves the result, pair by pair.
//!
//! The last reading of a chain (`in_place`, after the others failed) keeps every DROP and
//! REJECT in its place as far as the places allow: each goes where it moves past the fewest
//! rules, and a REJECT is a block there, never among the rejects (after every block), so that
//! a later DROP both match can follow it (an INVALID drop after a REJECT of a TCP flag pattern).
//!
//! In a chain without a plain ESTABLISHED,RELATED accept, statewall has no established rule
//! and its allows keep their own states (`state`): an accept of established or related
//! packets under conditions is then an allow like any other.

use super::Fam;
use super::analyse::{Analyser, FinalRule};
use super::cond::Cond;
use super::flatten::{Flat, Verdict};
use super::rule::RejectKind;
use crate::core::diag::shorten;
use crate::core::model::{BlockAt, BlockState};
use crate::core::plan::CtStates;
use names::{place_name, rank_name};
use stateless::new_and_invalid;
use sw::{sw_cond, sw_view};

/// The place of a rule in statewall's fixed order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub(super) enum Rank {
    /// a drop or reject that moves before everything (a `[[block]]`)
    Block,
    Established,
    Invalid,
    /// a block `after = "established"`
    BlockEstablished,
    Loopback,
    Icmp,
    /// a block `after = "baseline"`
    BlockBaseline,
    Allow,
    /// a block `after = "allows"`
    BlockAllows,
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

/// The block places, in the order they are tried: `Rank::Allow` is a block among the allows,
/// in file order (after the allow before it), tried last as it splits the allows.
/// A place a block may take: its rank, the state match it keeps, its condition there.
type Placing = (Rank, Option<BlockState>, super::cond::Cond);

const BLOCK_RANKS: [Rank; 5] = [
    Rank::Block,
    Rank::BlockEstablished,
    Rank::BlockBaseline,
    Rank::BlockAllows,
    Rank::Allow,
];

/// Where an imported block goes: a place of its section, or right after the allow with this
/// index among the chain's allows (in file order).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum Placed {
    At(BlockAt),
    AfterAllow(usize),
}

impl Rank {
    /// Where a block of this rank goes (None: not a block).
    pub(super) fn block_at(self) -> Option<BlockAt> {
        match self {
            Rank::Block => Some(BlockAt::First),
            Rank::BlockEstablished => Some(BlockAt::Established),
            Rank::BlockBaseline => Some(BlockAt::Baseline),
            Rank::BlockAllows => Some(BlockAt::Allows),
            _ => None,
        }
    }
}

/// Negated interfaces (`! -i X`) an earlier rule made redundant, taken off a rule: put back
/// if the rule moves before that earlier rule.
#[derive(Debug, Default, Clone)]
pub(super) struct Dropped {
    /// the place (in `ranked`) of the latest earlier rule that decided them
    at: Option<usize>,
    iif: Vec<String>,
    oif: Vec<String>,
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

/// A flat rule's verdict for the reordering check: an accept whose limit or connection
/// count drops what exceeds it (a ping limit, an ssh guard's allow) refuses some of its
/// packets, so an accept that statewall's order would put before it may not overtake it.
fn flat_verdict_index(f: &Flat) -> usize {
    if f.verdict == Verdict::Accept && f.extra.refuses_some() {
        verdict_index(Verdict::Drop)
    } else {
        verdict_index(f.verdict)
    }
}

fn icmp_proto(fam: Fam) -> u8 {
    if fam == Fam::V4 { 1 } else { 58 }
}

/// The interface a condition matches every packet of, and nothing else: `-i X` (false) or
/// `-o X` (true).
fn whole_if(c: &Cond) -> Option<(String, bool)> {
    let bare = Cond {
        iif: None,
        oif: None,
        ..c.clone()
    };
    if !bare.is_everything() {
        return None;
    }
    match (&c.iif, &c.oif) {
        (Some(i), None) => Some((i.clone(), false)),
        (None, Some(o)) => Some((o.clone(), true)),
        _ => None,
    }
}

/// A condition on `states` alone.
pub(super) fn states_only(states: u32) -> Cond {
    Cond {
        states: Some(states),
        ..Default::default()
    }
}

impl Analyser<'_> {
    /// Every flat rule with its rank; a rule that fits nowhere is left out (and reported).
    /// A DROP or REJECT gets the place of its kind, or a block place ([`Analyser::place`]).
    pub(super) fn rank_all(
        &mut self,
        flat: Vec<Flat>,
        found: &mut Found,
        final_rule: FinalRule,
    ) -> Vec<(Rank, Flat)> {
        let mut ranked = Vec::new();
        let mut dropped = Vec::new();
        self.unplaced.clear();
        // whether the chain has an established rule, known before its rules are ranked (a
        // reject of more states than NEW says them only where it has none)
        self.stateful = !self.lower.established && super::extra::has_established_accept(&flat);
        // interfaces whose every packet an earlier rule decided, and that rule's place
        let mut decided: Vec<(String, bool, usize)> = Vec::new();
        for mut f in flat {
            if !self.interfaces_of_hook(&mut f) {
                continue;
            }
            self.tracked_only(&mut f);
            let d = self.drop_negated_ifs(&mut f, &decided);
            let Some(rank) = self.rank(&f, found) else {
                continue;
            };
            if let Some((name, out)) = whole_if(&f.cond) {
                decided.push((name, out, ranked.len()));
            }
            ranked.push((rank, f));
            dropped.push(d);
        }
        self.stateful = found.established.is_some();
        if !self.stateful {
            // no plain ESTABLISHED,RELATED accept: an accept of established or related
            // packets under conditions is an allow that says its states (`state`)
            for (rank, _) in ranked.iter_mut().filter(|(r, _)| *r == Rank::Established) {
                *rank = Rank::Allow;
            }
        }
        self.place_stopped = None;
        self.place(&mut ranked, &mut dropped, final_rule, found);
        // a rule that moves before the rule that made its negation redundant keeps it
        for (i, d) in dropped.iter_mut().enumerate() {
            if d.at.is_some_and(|a| ranked[a].0 > ranked[i].0) {
                let c = &mut ranked[i].1.cond;
                c.not_iif.append(&mut d.iif);
                c.not_oif.append(&mut d.oif);
            }
        }
        for (i, d) in dropped.iter().enumerate() {
            let r = &self.rules[ranked[i].1.rule];
            for (out, names) in [(false, &d.iif), (true, &d.oif)] {
                for n in names {
                    self.notes.push(format!("line {}: `! {} {n}` says nothing: every packet {} {n} was decided by an earlier rule", r.line, if out { "-o" } else { "-i" }, if out { "leaving on" } else { "arriving on" }));
                }
            }
        }
        ranked
    }

    /// `! -i X` says nothing when an earlier rule decided every packet arriving on X (the
    /// classic `-i lo -j ACCEPT` before `! -i lo -s 127.0.0.0/8 -j DROP`): it is taken off,
    /// and put back by [`Analyser::place`] if the rule moves before that rule. Any other stays,
    /// as the entry's `except_iif`/`except_oif`.
    fn drop_negated_ifs(&mut self, f: &mut Flat, decided: &[(String, bool, usize)]) -> Dropped {
        let mut d = Dropped::default();
        for out in [false, true] {
            let nots = if out {
                &mut f.cond.not_oif
            } else {
                &mut f.cond.not_iif
            };
            let (gone, kept): (Vec<String>, Vec<String>) =
                std::mem::take(nots).into_iter().partition(|n| {
                    let by = decided
                        .iter()
                        .find(|(d, o, _)| *o == out && super::cond::if_covers(d, n));
                    if let Some((_, _, i)) = by {
                        d.at = d.at.max(Some(*i));
                    }
                    by.is_some()
                });
            *nots = kept;
            if out {
                d.oif = gone;
            } else {
                d.iif = gone;
            }
        }
        d
    }

    /// Each DROP's and REJECT's place: the place of its kind (merged into a final drop; among
    /// the rejects) when no rule it would swap with decides otherwise for some packet it
    /// matches; else the first block place where none does, with fewest interfaces excepted
    /// (the ones an earlier rule decided whole, see the module). A rule that fits nowhere
    /// keeps the place of its kind, and the order check reports it. The comparisons stop at
    /// [`REORDER_BUDGET`] (the order check then decides, within its own budget).
    fn place(
        &mut self,
        ranked: &mut [(Rank, Flat)],
        dropped: &mut [Dropped],
        final_rule: FinalRule,
        found: &Found,
    ) {
        let mut budget = REORDER_BUDGET;
        let fin_drop = final_rule.1 == Verdict::Drop;
        let new_ok = found.established.is_some() && found.invalid.is_some();
        for p in 0..ranked.len() {
            let natural = ranked[p].0;
            if !matches!(natural, Rank::Drop | Rank::Reject) {
                continue;
            }
            let states = ranked[p].1.cond.states;
            // the state a block may keep: NEW, or INVALID (a reject of INVALID packets only
            // as such a block, statewall's rejects having no state match), or, in a chain
            // without an established rule, states an allow may say (a REJECT of
            // NEW,ESTABLISHED,RELATED before the accepts it must precede)
            let listed = states.filter(|&s| self.block_says(s));
            // a reject entry says no invalid or untracked states: such a list is a block's
            let odd = states.is_some_and(|s| {
                s.count_ones() > 1 && s & (CtStates::INVALID | CtStates::UNTRACKED) != 0
            });
            let keep = BlockState::ALL
                .into_iter()
                .map(|(_, s)| s)
                .find(|s| states == Some(s.ct().0))
                .or(listed.map(|s| BlockState::States(CtStates(s))));
            let mut tries: Vec<(Rank, Option<BlockState>)> = Vec::new();
            // a DROP of the port-scan trap keeps its place as a block, and so does its check
            // (`refresh` is a block's) (`trap.rs`)
            let (trap, checks) = {
                let x = &ranked[p].1.extra;
                (x.trap() || x.guard, x.from_set.is_some())
            };
            self.traps_placed |= trap;
            // (a reject of INVALID packets only is no reject entry, whose rule has no state
            // match: it would reject every state, whatever the final rule)
            // (a guard's REJECT keeps its place as a block: it counts what it meets, and the
            // rejects come after every rule its place in the file keeps it before; so does
            // every REJECT in the `in_place` reading)
            if (natural == Rank::Reject
                && !self.in_place
                && keep != Some(BlockState::Invalid)
                && !checks
                && !odd
                && !ranked[p].1.extra.guard)
                || (natural == Rank::Drop && fin_drop && !trap)
            {
                tries.push((natural, None));
            }
            // a block has no state match: after the established and invalid rules only NEW
            // (and untracked) packets reach it, so a rule of NEW packets may go there; after
            // the established rule alone NEW and INVALID ones do (and only there, before the
            // invalid rule, for a reject: that rule would drop what it rejects)
            let est = found.established.is_some();
            let drops = ranked[p].1.verdict == Verdict::Drop;
            tries.extend(
                BLOCK_RANKS
                    .into_iter()
                    .filter(|&r| match states {
                        None => true,
                        Some(s) if s == CtStates::NEW | CtStates::INVALID => {
                            est && (r == Rank::BlockEstablished || r != Rank::Block && drops)
                        }
                        Some(s) => s == CtStates::NEW && r != Rank::Block && new_ok,
                    })
                    .map(|r| (r, None)),
            );
            // else a block that keeps its state match (`state = "new"`, `"invalid"`), at
            // any place
            if keep.is_some() {
                tries.extend(BLOCK_RANKS.into_iter().map(|r| (r, keep)));
            }
            // in the `in_place` reading the baseline's rules are entries, so the places before
            // it move a rule past no more of the file's rules than the one after it; but they
            // put it before statewall's own ICMPv6 accepts (`--mirror-ipv6`), which come before
            // anything the file says: a REJECT of `-i lo` first would refuse the ICMPv6 error
            // it sends itself. They are tried last
            if self.in_place {
                tries.sort_by_key(|(r, _)| matches!(r, Rank::Block | Rank::BlockEstablished));
            }
            // on a second reading (`nearest`), a rule that counts or stamps (a trap's, a
            // guard's) takes, of the places that keep every verdict, the one that moves it past
            // the fewest rules, where the first one that does left a later rule that must stay
            // behind it without a place (an INVALID drop behind a rate guard); on the last
            // (`in_place`) every rule does (a multicast DROP among the allows, not after
            // them, where a later REJECT among them must follow it)
            let nearest = trap && self.nearest || self.in_place;
            let crossed = |rank: Rank| {
                let moved = |(q, (rq, _)): (usize, &(Rank, Flat))| {
                    (q < p && *rq > rank) || (q > p && *rq < rank)
                };
                if nearest {
                    ranked.iter().enumerate().filter(|&x| moved(x)).count()
                } else {
                    0
                }
            };
            let mut best: Option<((usize, usize), Placing)> = None;
            let mut stopped: Vec<(&'static str, usize)> = Vec::new();
            for (rank, keep) in tries {
                if budget == 0 {
                    self.place_stopped = Some(self.rules[ranked[p].1.rule].line);
                    return;
                }
                let (cond, excepted) =
                    match self.fits(ranked, &dropped[p], p, (rank, keep), &mut budget) {
                        Ok(fit) => fit,
                        Err(q) => {
                            let place = place_name(rank, keep);
                            if !stopped.iter().any(|(n, _)| *n == place) {
                                stopped.push((place, ranked[q].1.rule));
                            }
                            continue;
                        }
                    };
                // counting the rules it moves past is a pass over the chain: charged as the
                // comparisons are, so a reading of many traps stays within the budget
                if nearest {
                    budget = budget.saturating_sub(ranked.len());
                }
                let score = (excepted, crossed(rank));
                if best.as_ref().is_none_or(|(n, _)| score < *n) {
                    best = Some((score, (rank, keep, cond)));
                }
                if score == (0, 0) {
                    break;
                }
            }
            if best.is_none() && natural == Rank::Drop {
                self.unplaced.push((ranked[p].1.rule, stopped));
            }
            if let Some((_, (rank, block_state, cond))) = best {
                if dropped[p].at.is_some_and(|a| ranked[a].0 > rank) {
                    dropped[p] = Dropped::default();
                }
                ranked[p] = (
                    rank,
                    Flat {
                        cond,
                        block_state,
                        ..ranked[p].1.clone()
                    },
                );
            }
        }
    }

    /// Whether rule `p` may take place `rank`: no rule it would swap with there decides
    /// otherwise for a packet both match. Returns the condition it gets there (its dropped
    /// negations put back when it moves before the rule that made them redundant, and the
    /// interfaces excepted that an earlier rule it moves before decided whole), and how many
    /// were excepted.
    fn fits(
        &self,
        ranked: &[(Rank, Flat)],
        d: &Dropped,
        p: usize,
        (rank, block_state): (Rank, Option<BlockState>),
        budget: &mut usize,
    ) -> Result<(super::cond::Cond, usize), usize> {
        let f = &Flat {
            block_state,
            ..ranked[p].1.clone()
        };
        let mut c = f.cond.clone();
        if d.at.is_some_and(|a| ranked[a].0 > rank) {
            c.not_iif.extend(d.iif.iter().cloned());
            c.not_oif.extend(d.oif.iter().cloned());
        }
        let mut excepted = 0;
        let stateful = self.stateful;
        for (q, (rq, fq)) in ranked[..p].iter().enumerate() {
            *budget = budget.saturating_sub(1);
            // the same verdict decides the same, but a rule that changes a list (or takes
            // tokens) must still meet exactly the packets it meets in the file
            if *rq <= rank || fq.verdict == f.verdict && !fq.extra.changes_list() {
                continue;
            }
            let sq = sw_view(*rq, fq, &fq.cond, stateful);
            if !sq.overlaps(&sw_view(rank, f, &c, stateful)) {
                continue;
            }
            let (name, out) = whole_if(&fq.cond).ok_or(q)?;
            let nots = if out { &mut c.not_oif } else { &mut c.not_iif };
            if !nots.contains(&name) {
                nots.push(name);
                excepted += 1;
            }
        }
        let sw = sw_view(rank, f, &c, stateful);
        for (q, (rq, fq)) in ranked.iter().enumerate().skip(p + 1) {
            *budget = budget.saturating_sub(1);
            // a later DROP of a trap or guard is not placed yet, and will be a block (at
            // most after the allows), never merged into the final drop
            let rq = match *rq {
                Rank::Drop if fq.extra.trap() || fq.extra.guard => Rank::BlockAllows,
                rq => rq,
            };
            if rq >= rank || fq.verdict == f.verdict && !fq.extra.changes_list() {
                continue;
            }
            if sw_view(rq, fq, &fq.cond, stateful).overlaps(&sw) {
                return Err(q);
            }
        }
        Ok((c, excepted))
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
        // a rule with a rate, a list or a count decides some of its packets only: never a
        // baseline rule, which takes them all (a limited ICMP accept is an allow with its limit)
        if !self.decides_all(f) {
            return None;
        }
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
        let icmp = Cond {
            proto: Some(icmp_proto(self.fam)),
            ..Default::default()
        };
        match f.verdict {
            Verdict::Accept if only(states_only(EST)) => {
                if !self.lower.established {
                    found.established.get_or_insert(f.rule);
                }
                Some(Rank::Established)
            }
            // only `-i lo` (`-o lo`) is the loopback rule: `-s 127.0.0.0/8 -d 127.0.0.0/8` is
            // an allow of those addresses, as iptables takes it (the host's traffic to its
            // own other addresses also crosses lo, and that rule leaves it to the rest)
            Verdict::Accept if !self.lower.loopback && only(lo) => {
                found.loopback.get_or_insert(f.rule);
                Some(Rank::Loopback)
            }
            Verdict::Accept if !self.lower.icmp && only(icmp) => {
                found.icmp.get_or_insert(f.rule);
                Some(Rank::Icmp)
            }
            Verdict::Drop if !self.lower.invalid && only(states_only(CtStates::INVALID)) => {
                found.invalid.get_or_insert(f.rule);
                Some(Rank::Invalid)
            }
            _ => None,
        }
    }

    /// UNTRACKED among a rule's states (`--ctstate NEW,UNTRACKED`) where no packet it matches
    /// can be untracked says nothing: conntrack leaves packets untracked only where a raw
    /// table's rule says so (which the import refuses) or, unasked, ICMPv6's neighbour
    /// discovery and MLD; a rule of one protocol other than ICMPv6, or of any protocol in an
    /// IPv4 file, meets none of those. (Under `--mirror-ipv6` an IPv4 rule's entry applies to
    /// IPv6 too, where statewall's ICMPv6 baseline accepts those types before any entry.)
    fn tracked_only(&mut self, f: &mut Flat) {
        let c = &mut f.cond;
        let Some(s) = c.states else { return };
        if s & CtStates::UNTRACKED == 0 || s == CtStates::UNTRACKED {
            return;
        }
        // behind the established rule an allow of every protocol or of ICMPv6 takes NEW
        // and untracked packets by itself (`entry_rank` keeps them)
        if self.untracked_fits(f.verdict, c) {
            return;
        }
        let ipv4_any = c.proto.is_none() && self.fam == super::Fam::V4;
        // an ICMPv6 type conntrack tracks (echo, errors)
        let tracked_type =
            c.proto == Some(crate::core::plan::IPPROTO_ICMPV6) && !takes_untracked(c);
        if c.proto
            .is_none_or(|p| p == crate::core::plan::IPPROTO_ICMPV6)
            && !ipv4_any
            && !tracked_type
        {
            return;
        }
        c.states = Some(s & !CtStates::UNTRACKED);
        let r = &self.rules[f.rule];
        let which = if ipv4_any {
            "no IPv4 packet"
        } else if tracked_type {
            "no packet of that ICMPv6 type"
        } else {
            "none of its protocol"
        };
        let note = format!(
            "line {}: `{}` matches UNTRACKED packets too, but conntrack leaves {which} untracked unless a raw table's rule says so (the file has none): its other states say the same",
            r.line, r.text
        );
        self.notes.push(note);
    }

    /// Whether an accept of condition `c` says states an allow of it can: NEW and UNTRACKED
    /// (and ESTABLISHED or RELATED, which the established rule took first, or which the
    /// allow says beside them without one) where the allow takes the untracked neighbour
    /// discovery (`takes_untracked`).
    fn untracked_fits(&self, verdict: Verdict, c: &super::cond::Cond) -> bool {
        let s = c.states.unwrap_or(0);
        verdict == Verdict::Accept
            && takes_untracked(c)
            && s & CtStates::NEW != 0
            && s & CtStates::UNTRACKED != 0
            && s & CtStates::INVALID == 0
    }

    /// Whether a block can keep connection states `s` as its list (`state = [...]`): several
    /// states without ESTABLISHED or RELATED, or any with them (one of them alone too) where
    /// the chain has no established rule, which would accept those packets first.
    fn block_says(&self, s: u32) -> bool {
        s.count_ones() > 1 && s & EST == 0 || s & EST != 0 && !self.stateful
    }

    /// An allow, a reject or a drop; None when an entry cannot say what it matches (its
    /// states, a reset for more than tcp).
    fn entry_rank(&mut self, f: &Flat) -> Option<Rank> {
        let rules = self.rules;
        let r = &rules[f.rule];
        let c = &f.cond;
        // in a chain with an established accept, an accept of NEW and INVALID packets (what
        // is left after a user chain's conditional RETURN of ESTABLISHED,RELATED) is a
        // stateless accept that established packets do not reach: an allow, noted as one
        // (`collect`); the order check reads it with its own states
        if f.verdict == Verdict::Accept && self.stateful && c.states.is_some_and(new_and_invalid) {
            return Some(Rank::Allow);
        }
        // a reject of NEW connections and more, in a chain without an established rule,
        // says its states as an allow does (`state`)
        let said = matches!(f.verdict, Verdict::Reject(_))
            && !self.stateful
            && c.states.is_some_and(|s| states_fit(Verdict::Accept, s))
            // a drop or reject of states a block can keep is a block that says them (`place`)
            || f.verdict != Verdict::Accept && c.states.is_some_and(|s| self.block_says(s));
        if let Some(s) = c.states
            && !states_fit(f.verdict, s)
            && !said
            && !self.untracked_fits(f.verdict, c)
        {
            let names = CtStates(s).names().join(",");
            let help = if f.verdict == Verdict::Accept && new_and_invalid(s) {
                // (its states may come from the path to it: a RETURN above, a jump's match)
                "statewall's entries match NEW connections; an accept of NEW and INVALID packets imports as an allow (INVALID packets no longer accepted) in a chain with an established accept; this one has none"
            } else if s & CtStates::UNTRACKED != 0 && s != CtStates::UNTRACKED {
                "statewall's entries match NEW connections; UNTRACKED says more only where packets arrive untracked without a raw-table rule, as ICMPv6's neighbour discovery and MLD do: if the rule is meant for one protocol, name it (`-p tcp`, `-p udp`): for TCP and UDP, UNTRACKED then says nothing"
            } else {
                "statewall's entries match NEW connections (established and related ones are accepted by its established rule, invalid ones dropped by its invalid rule); other combinations cannot be imported"
            };
            self.error(
                r.span.clone(),
                format!("connection states {names} on this rule"),
                help,
            );
            return None;
        }
        match f.verdict {
            Verdict::Accept => Some(Rank::Allow),
            // a tcp reset of a rule not of `-p tcp` is refused where the rule is read
            // (`rule/target.rs`): a jump's condition only narrows the rule's own
            Verdict::Reject(_) => Some(Rank::Reject),
            Verdict::Drop => Some(Rank::Drop),
        }
    }

    /// Refuses what statewall's order would decide differently.
    pub(super) fn check_order(&mut self, ranked: &[(Rank, Flat)], final_rule: FinalRule) {
        let refused = if final_rule.1 != Verdict::Drop {
            self.drops_before_another_final(ranked, final_rule)
        } else {
            Vec::new()
        };
        self.reordering_keeps_verdicts(ranked, &refused);
    }

    /// Mid-chain drops only merge into a final drop; returns the rules of those that could
    /// not (their conflicts are said here, not again by the order check).
    fn drops_before_another_final(
        &mut self,
        ranked: &[(Rank, Flat)],
        final_rule: FinalRule,
    ) -> Vec<usize> {
        let rules = self.rules;
        let mut refused = Vec::new();
        for (rank, f) in ranked {
            if *rank == Rank::Drop {
                let r = &rules[f.rule];
                let fin = match final_rule.0 {
                    Some(i) => format!("line {}", rules[i].line),
                    None => format!("the {} policy", self.hook.chain()),
                };
                let stopped = self
                    .unplaced
                    .iter()
                    .find(|(u, _)| *u == f.rule)
                    .map(|(_, s)| {
                        let each: Vec<String> = s
                            .iter()
                            .map(|(place, q)| format!("{place}: line {} ({})", rules[*q].line, shorten(&rules[*q].text, 80)))
                            .collect();
                        format!(" Each block place changes what a rule decides for some packet both match — {}.", each.join("; "))
                    })
                    .unwrap_or_default();
                // no place was tried for it: the search ran out of its budget before
                let stopped = match self.place_stopped {
                    Some(l) if stopped.is_empty() => format!(
                        " (statewall stopped looking for block places at line {l}, after {} comparisons of rules: this DROP was not placed; fewer, wider rules, or the established accept before them, let every one be placed)",
                        crate::core::diag::thousands(REORDER_BUDGET)
                    ),
                    _ => stopped,
                };
                self.error(r.span.clone(), "a DROP that statewall can neither merge into its final rule nor place as a block", format!("statewall drops in a `[[block]]` (first, after the established rule, after the baseline, among the allows or after them; with or without `state = \"new\"` or `\"invalid\"`) or in its final rule, and here the final rule accepts or rejects ({fin}).{stopped} Make this a REJECT, end the chain with DROP, or reorder the file so that the drop comes first"));
                refused.push(f.rule);
            }
        }
        refused
    }

    /// Two rules whose order statewall swaps must have the same verdict or match disjoint
    /// packets; otherwise the later one is refused (at the first earlier rule it conflicts
    /// with). Only the pairs that can conflict are compared — an earlier rule of a later rank
    /// with another verdict — and at most [`REORDER_BUDGET`] of them: a file that would need
    /// more is refused, since an unchecked swap could change what a packet gets.
    fn reordering_keeps_verdicts(&mut self, ranked: &[(Rank, Flat)], refused: &[usize]) {
        // a limit that counts its whole protocol keeps its place among rules of any verdict
        let counts = self.count_conds(ranked);
        let any_early = counts.iter().any(Option::is_some);
        if !self.reorder_within_budget(ranked, any_early) {
            return;
        }
        let rules = self.rules;
        let stateful = self.stateful;
        let sw: Vec<Cond> = ranked
            .iter()
            .map(|(r, f)| sw_cond(*r, f, &f.cond, stateful))
            .collect();
        // the earlier rules, by rank and verdict, in order
        let mut earlier: Vec<Vec<usize>> = vec![Vec::new(); RANKS * VERDICTS];
        for (j, (rj, fj)) in ranked.iter().enumerate() {
            let vj = flat_verdict_index(fj);
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
                .filter(|&(r, v)| {
                    (v != vj || any_early) && !(lo_first && r == Rank::Loopback as usize)
                })
                .filter_map(|(r, v)| {
                    earlier[r * VERDICTS + v].iter().copied().find(|&i| {
                        v != vj && sw[i].overlaps(&sw[j])
                            || counts::counted_apart(&sw, &counts, i, j)
                    })
                })
                .min()
                // a DROP refused already: its conflicts are in its own error
                .filter(|&i| !refused.contains(&ranked[i].1.rule));
            if let Some(i) = first.filter(|&i| counts::counted_apart(&sw, &counts, i, j)) {
                self.count_moved(ranked, (i, j));
            } else if let Some(i) = first {
                let (ri, fi) = &ranked[i];
                let a_ = &rules[fi.rule];
                let b_ = &rules[fj.rule];
                let stopped = self.place_stopped.map_or(String::new(), |l| format!(" (statewall stopped looking for block places at line {l}, after {} comparisons of rules: the DROPs and REJECTs from there on keep the place of their kind; fewer, wider rules, or the established accept before them, let every one be placed)", crate::core::diag::thousands(REORDER_BUDGET)));
                self.error(
                    b_.span.clone(),
                    format!("this rule would move before line {} and change what it decides", a_.line),
                    format!(
                        "statewall's chain has a fixed order (blocks, established, invalid, blocks, loopback, icmp, blocks, allows with blocks among them, blocks, rejects, final); this rule is {}, line {} ({}) is {}, and some packets match both: reorder the file so that this rule comes first, or make the two rules disjoint{stopped}",
                        rank_name(*rj, fj), a_.line, a_.text, rank_name(*ri, fi)
                    ),
                );
            }
            earlier[*rj as usize * VERDICTS + vj].push(j);
        }
    }

    /// Whether the pairs [`Analyser::reordering_keeps_verdicts`] compares are at most
    /// [`REORDER_BUDGET`]: counted per rank and verdict, without comparing any. If not, the
    /// file is refused at the rule where the count passes it.
    fn reorder_within_budget(&mut self, ranked: &[(Rank, Flat)], all: bool) -> bool {
        let mut seen = [[0usize; VERDICTS]; RANKS];
        let mut pairs = 0usize;
        for (rj, fj) in ranked {
            let vj = flat_verdict_index(fj);
            for row in &seen[*rj as usize + 1..] {
                pairs += row.iter().sum::<usize>() - if all { 0 } else { row[vj] };
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
        let mut blocks = Vec::new();
        // the lines of the accepts without a state match that statewall narrows to NEW, and
        // of those before the INVALID drop, whose invalid packets the file accepted
        let mut stateless: Vec<u32> = Vec::new();
        // whether one of them said NEW and INVALID (`new_and_invalid`)
        let mut stated = false;
        let mut before_invalid: Vec<u32> = Vec::new();
        let mut invalid_met = found.invalid.is_none();
        for (rank, mut f) in ranked {
            let r = &self.rules[f.rule];
            invalid_met |= found.invalid == Some(f.rule);
            match rank {
                Rank::Established if found.established != Some(f.rule) => self.notes.push(format!(
                    "line {}: `{}` is covered by statewall's established rule",
                    r.line, r.text
                )),
                Rank::Allow if f.verdict != Verdict::Accept => {
                    self.block_state_note(&f);
                    // among the allows, in file order: after the allow before it
                    let place = match out.allows.len() {
                        0 => Placed::At(BlockAt::Baseline),
                        n => Placed::AfterAllow(n - 1),
                    };
                    blocks.push((rank, place, f))
                }
                Rank::Allow => {
                    // without an established rule the allow keeps its states (`state`);
                    // with one, it matches NEW connections, whatever states it named
                    if found.established.is_some() {
                        if f.cond.states.is_none_or(new_and_invalid)
                            && !f.cond.dnat
                            && stateless.last() != Some(&r.line)
                        {
                            stateless.push(r.line);
                            stated |= f.cond.states.is_some();
                            if !invalid_met {
                                before_invalid.push(r.line);
                            }
                        }
                        // NEW alone where the allow would take untracked packets too
                        // (neighbour discovery: `takes_untracked`) says `state = ["new"]`
                        // in an IPv6 file (IPv4 has none: the import refuses raw tables,
                        // and under --mirror-ipv6 the ICMPv6 baseline takes IPv6's first)
                        let new_only = self.fam == super::Fam::V6
                            && f.cond.states.is_some_and(|s| s & CtStates::UNTRACKED == 0)
                            && takes_untracked(&f.cond);
                        if new_only {
                            self.notes.push(format!("line {}: `{}` accepts NEW packets only, and conntrack never calls neighbour discovery or MLD new (it leaves them untracked): its allow says `state = [\"new\"]`, as an allow of every protocol or of ICMPv6 takes them otherwise", r.line, r.text));
                        }
                        f.cond.states = new_only.then_some(CtStates::NEW);
                    }
                    out.allows.push(f)
                }
                Rank::Reject => {
                    // without an established rule, a reject of some states says them
                    // (`state`): the replies of the connections it lets by are not its to
                    // reject; behind the established rule a reject of NEW connections has
                    // none, as an allow's (one of INVALID packets is refused: no reject
                    // entry says INVALID)
                    let new = f.cond.states.is_some_and(|s| s & CtStates::NEW != 0);
                    let invalid = f.cond.states.is_some_and(|s| s & CtStates::INVALID != 0);
                    if invalid && !(new && found.established.is_some()) {
                        self.error(r.span.clone(), "a REJECT of INVALID packets that statewall keeps as a reject entry, which cannot say INVALID", "statewall keeps a DROP or REJECT of INVALID packets alone as a block of `state = \"invalid\"` before its rejects, where it answers as the file does; here a reject of another answer (or of other states) comes first in the file: move this rule before it, or drop INVALID packets (-j DROP)");
                        continue;
                    }
                    // behind the established rule a reject of NEW connections says so
                    // (`state = ["new"]`): the INVALID packets it meets go on, as the rule
                    // lets them; one of INVALID packets too says no state
                    if new && found.established.is_some() {
                        let only_new = f
                            .cond
                            .states
                            .is_some_and(|s| s & (CtStates::INVALID | CtStates::UNTRACKED) == 0);
                        if !only_new {
                            self.notes.push(format!(
                                "line {}: `{}` rejects NEW connections and packets without one (INVALID, UNTRACKED): its reject has no state match (established ones are accepted before it)",
                                r.line, r.text
                            ));
                        }
                        f.cond.states = only_new.then_some(CtStates::NEW);
                    }
                    out.rejects.push(f)
                }
                Rank::Block | Rank::BlockEstablished | Rank::BlockBaseline | Rank::BlockAllows => {
                    self.block_state_note(&f);
                    let at = rank.block_at().expect("a block rank");
                    blocks.push((rank, Placed::At(at), f))
                }
                Rank::Drop => self.notes.push(format!(
                    "line {}: `{}` drops what statewall's final rule drops anyway",
                    r.line, r.text
                )),
                _ => {}
            }
        }
        // in the order of their places (a block among the allows before the first one goes
        // after the blocks after the baseline), each place's in file order
        blocks.sort_by_key(|(rank, _, _)| *rank);
        out.blocks = blocks.into_iter().map(|(_, at, f)| (at, f)).collect();
        self.stateless_note(&stateless, stated, &before_invalid, found);
        out
    }

    /// A block that drops or rejects NEW connections only without `state = "new"`: after
    /// the established and invalid rules only new (and untracked) packets reach it.
    fn block_state_note(&mut self, f: &Flat) {
        if f.cond.states.is_some() && f.block_state.is_none() {
            let r = &self.rules[f.rule];
            if f.cond.states == Some(CtStates::NEW | CtStates::INVALID) {
                self.notes.push(format!("line {}: `{}` drops or rejects NEW and INVALID packets; statewall's block has no state match, and comes after its established rule, so only those (and untracked ones) reach it", r.line, r.text));
            } else {
                self.notes.push(format!("line {}: `{}` drops or rejects NEW connections only; statewall's block has no state match, and comes after its established and invalid rules, so only new (and untracked) packets reach it", r.line, r.text));
            }
        }
    }
}

/// A chain's entries, by kind.
#[derive(Debug, Default)]
pub(super) struct Collected {
    /// each with its place
    pub(super) blocks: Vec<(Placed, Flat)>,
    pub(super) allows: Vec<Flat>,
    pub(super) rejects: Vec<Flat>,
}

/// Whether an allow of condition `c` behind the established rule takes the packets
/// conntrack leaves untracked (neighbour discovery, MLD) unless it says `state = ["new"]`:
/// one of every protocol, of all of ICMPv6, or of the ICMPv6 types conntrack never tracks.
pub(super) fn takes_untracked(c: &super::cond::Cond) -> bool {
    let nd = crate::core::compile::ICMPV6_UNTRACKED;
    match c.proto {
        None => true,
        Some(crate::core::plan::IPPROTO_ICMPV6) => c.icmp.is_none_or(|(t, _)| nd.contains(&t)),
        Some(_) => false,
    }
}

/// Whether an entry with this verdict can say it matches connection states `s`: allows match
/// NEW (established and related ones are accepted anyway), rejects and drops NEW alone.
fn states_fit(verdict: Verdict, s: u32) -> bool {
    match verdict {
        Verdict::Accept => {
            s & CtStates::NEW != 0 && s & (CtStates::INVALID | CtStates::UNTRACKED) == 0
        }
        // a drop or reject of INVALID packets merges into a final drop or is a block of
        // `state = "invalid"`; of NEW and INVALID ones, a block after the established rule
        // (`place`)
        _ => s == CtStates::NEW || s == CtStates::INVALID || s == CtStates::NEW | CtStates::INVALID,
    }
}

mod counts;
mod hookif;
mod names;
mod stateless;
mod sw;
#[cfg(test)]
mod tests;
