//! statewall's rule for a ranked rule: the packets it matches, which the placement and the
//! reordering check compare with every rule it could swap with.

use super::{EST, Rank};
use crate::core::import::cond::Cond;
use crate::core::import::flatten::{Flat, Verdict};
use crate::core::plan::CtStates;

/// The packets statewall's rule for ranked rule `f` (with condition `c`) matches
/// (`stateful`: the chain has an established rule, so allows match NEW only; a block keeps
/// its state match only with `state = "new"` or `"invalid"`).
pub(super) fn sw_cond(rank: Rank, f: &Flat, c: &Cond, stateful: bool) -> Cond {
    let v = sw_view(rank, f, c, stateful);
    Cond {
        states: v.states,
        ..v.cond.into_owned()
    }
}

/// [`sw_cond`] without a copy of `c`: its condition but for the states (the loopback and
/// established rules' own small ones), and the states in place of its own. The placement
/// compares a rule with every other one it could swap with, and a copy per comparison was
/// most of an import's time.
pub(super) struct SwView<'a> {
    cond: std::borrow::Cow<'a, Cond>,
    states: Option<u32>,
}

impl SwView<'_> {
    pub(super) fn overlaps(&self, o: &SwView<'_>) -> bool {
        self.cond.overlaps_as(self.states, &o.cond, o.states)
    }
}

pub(super) fn sw_view<'a>(rank: Rank, f: &Flat, c: &'a Cond, stateful: bool) -> SwView<'a> {
    use std::borrow::Cow::{Borrowed, Owned};
    let block = rank.block_at().is_some() || (rank == Rank::Allow && f.verdict != Verdict::Accept);
    let (cond, states) = match rank {
        _ if block => (Borrowed(c), f.block_state.map(|s| s.ct().0)),
        Rank::Loopback => {
            let lo = Cond {
                iif: c.iif.clone(),
                oif: c.oif.clone(),
                ..Default::default()
            };
            (Owned(lo), None)
        }
        Rank::Established if c.states.is_some_and(|s| s & !EST == 0) => {
            (Owned(Cond::default()), Some(EST))
        }
        // after the established rule an allow matches NEW; without it, its own states
        Rank::Allow if stateful => (Borrowed(c), Some(CtStates::NEW)),
        // a reject's states as the checks below read them: those that say more than NEW
        // in a chain without an established rule (`state`, as an allow's); a reject of
        // NEW alone is read as of every state (more than it matches: the checks then
        // keep more rules in their order, never fewer)
        Rank::Reject => (
            Borrowed(c),
            c.states
                .filter(|s| !stateful && s & !(CtStates::NEW | CtStates::INVALID) != 0),
        ),
        _ => (Borrowed(c), c.states),
    };
    SwView { cond, states }
}
