//! The order of a rule's matches where it matters: a `-m recent` that stamps its list, and
//! a rate match that takes a token, run for every packet that reaches them, whatever the
//! matches after them say. A rate followed only by its protocol's parts (ports, ICMP type,
//! TCP flags) and states, on an ACCEPT, counts every packet of the protocol (`counts =
//! "protocol"`); any other rate or stamp before other matches is refused, but for a LOG's
//! rate, which decides what is logged.

use std::ops::Range;

use super::Draft;
use crate::core::import::cond::Cond;
use crate::core::import::extra::Extra;
use crate::core::import::lines::Parser;

impl Draft {
    /// Whether a match read so far counts or stamps the packets that reach it (`-m recent`,
    /// `-m limit`, `-m connlimit`): a later match no packet passes still leaves them counted.
    pub(in crate::core::import) fn counts(&self) -> bool {
        self.extra.recent.is_some() || self.extra.limit.is_some() || self.extra.connlimit.is_some()
    }

    /// How many networks, flag patterns and pattern, u32, time and policy matches the rule
    /// has so far: with its condition, what its matches have said. (The options of `-m
    /// string`, `-m u32`, `-m time` and `-m policy` reach the condition only once the rule
    /// is read: each counts where it is loaded.)
    pub(super) fn said(&self) -> [usize; 7] {
        let d = self;
        [
            d.srcs.len(),
            d.dsts.len(),
            d.flag_alts.len(),
            d.strings.len(),
            d.u32s.len(),
            d.times.len(),
            d.policies.len(),
        ]
    }
}

impl Parser<'_> {
    /// A `-m recent` of the rule with matches after it that say more: refused where it
    /// stamps its list ([`Parser::recent_first`]).
    pub(super) fn recent_order(&mut self, d: &mut Draft, target: &super::Target) {
        if let Some((at, c, said)) = &d.recent_at
            && (*c != d.cond || *said != d.said())
        {
            self.recent_first(&d.extra, at.clone());
        }
        // a LOG's rate decides what is logged, never what passes
        if let Some((at, c, said)) = d.rate_at.clone()
            && (c != d.cond || said != d.said())
            && *target != super::Target::Log
            && !Self::counts_protocol(d, (&c, said), target)
        {
            let name = self.src[at.clone()].to_string();
            self.err(at.clone(), format!("`-m {name}` before other matches of its rule"), "iptables runs a rule's matches in order, so the rate takes a token for every packet that reaches it, whether the matches after it hold or not, and what it lets through meets them after; statewall's limit counts either the entry's own packets or (`counts = \"protocol\"`, for an ACCEPT whose rate only its protocol's ports, ICMP type, TCP flags and states follow) every packet of its protocol: write the rate match after the rule's other matches, if that is what is meant");
        }
    }

    /// Whether the rate match of an ACCEPT, before the rule's other matches (`before`: the
    /// condition and what was said when it came), is followed only by the parts of its
    /// protocol and states, which statewall's limit can count before (`counts =
    /// "protocol"`, set on the rule's limit). The header's addresses, interfaces and
    /// protocol, wherever written, iptables checks before every match.
    fn counts_protocol(
        d: &mut Draft,
        (before, said): (&Cond, [usize; 7]),
        target: &super::Target,
    ) -> bool {
        let now = &d.cond;
        let header = Cond {
            iif: now.iif.clone(),
            oif: now.oif.clone(),
            src: now.src,
            dst: now.dst,
            not_src: now.not_src.clone(),
            not_dst: now.not_dst.clone(),
            not_iif: now.not_iif.clone(),
            not_oif: now.not_oif.clone(),
            proto: now.proto,
            not_protos: now.not_protos.clone(),
            ..before.clone()
        };
        let parts = Cond {
            ports: now.ports.clone(),
            sports: now.sports.clone(),
            not_ports: now.not_ports.clone(),
            not_sports: now.not_sports.clone(),
            icmp: now.icmp,
            not_icmp: now.not_icmp.clone(),
            flags: now.flags,
            states: now.states,
            ..header.clone()
        };
        // networks, flag patterns, then the string, u32, time and policy matches said
        let n = d.said();
        let same = |with_flags: bool| n[3..] == said[3..] && (!with_flags || n[2] == said[2]);
        if *now == header && same(true) {
            // only the header after it: the rate counts the rule's own packets
            return true;
        }
        if *now != parts || !same(false) || *target != super::Target::Accept {
            return false;
        }
        // a plain rate of its own (not `--hashlimit-above`, no list or count beside it)
        let alone = d.extra.recent.is_none() && d.extra.connlimit.is_none();
        match d.extra.limit.as_mut() {
            Some(l) if alone && !l.above => {
                l.early = true;
                true
            }
            _ => false,
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
