//! The order of a rule's matches where it matters: a `-m recent` that stamps its list, and
//! a rate match that takes a token, run for every packet that reaches them, whatever the
//! matches after them say (refused, but for a LOG's rate, which decides what is logged).

use std::ops::Range;

use super::Draft;
use crate::core::import::extra::Extra;
use crate::core::import::lines::Parser;

impl Draft {
    /// How many networks, flag patterns and pattern, u32 and time matches the rule has so
    /// far: with its condition, what its matches have said.
    pub(super) fn said(&self) -> [usize; 6] {
        let d = self;
        [
            d.srcs.len(),
            d.dsts.len(),
            d.flag_alts.len(),
            d.strings.len(),
            d.u32s.len(),
            d.times.len(),
        ]
    }
}

impl Parser<'_> {
    /// A `-m recent` of the rule with matches after it that say more: refused where it
    /// stamps its list ([`Parser::recent_first`]).
    pub(super) fn recent_order(&mut self, d: &Draft, target: &super::Target) {
        if let Some((at, c, said)) = &d.recent_at
            && (*c != d.cond || *said != d.said())
        {
            self.recent_first(&d.extra, at.clone());
        }
        // a LOG's rate decides what is logged, never what passes
        if let Some((at, c, said)) = &d.rate_at
            && (*c != d.cond || *said != d.said())
            && *target != super::Target::Log
        {
            let name = self.src[at.clone()].to_string();
            self.err(at.clone(), format!("`-m {name}` before other matches of its rule"), "iptables runs a rule's matches in order, so the rate takes a token for every packet that reaches it, whether the matches after it (a port, a type, a state, a length) hold or not, and what it lets through meets them after; statewall's limit counts the entry's own packets only: write the rate match after the rule's other matches, if that is what is meant");
        }
    }

    /// A `-m recent` that stamps its list (`--set`, `--update`, `--remove`) at `at`, with
    /// matches after it in its rule: refused, as iptables runs a rule's matches in order and
    /// so stamps every packet that reaches the list, whether the matches after it hold or not.
    fn recent_first(&mut self, extra: &Extra, at: Range<usize>) {
        let Some(r) = &extra.recent else { return };
        if r.set || matches!(r.check, Some(("update" | "remove", _))) {
            let what = if r.set {
                "--set"
            } else {
                r.check.map_or("", |c| c.0)
            };
            self.err(at, format!("`-m recent` (`--{}`) before other matches of its rule", what.trim_start_matches('-')), "iptables runs a rule's matches in order, so its list is stamped for every packet that reaches it, whether the matches after it (a port, a protocol's match, an address, a state) hold or not; statewall's list takes only the rule's own packets: write `-m recent` after the rule's other matches, if that is what is meant");
        }
    }
}
