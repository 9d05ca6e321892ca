//! Limits that count every packet of their protocol (`counts = "protocol"`: a rate match
//! written before the rule's ports, ICMP type, TCP flags or states, `rule/order.rs`). Such a
//! limit takes a token for every packet of the protocol that reaches its rule, so the order
//! check keeps it after every rule the file puts before it and before every rule the file
//! puts after it that shares a packet with what it counts, whatever their verdicts: a swap
//! would change which packets reach the bucket.

use super::Rank;
use super::sw::sw_cond;
use crate::core::import::analyse::Analyser;
use crate::core::import::cond::Cond;
use crate::core::import::flatten::Flat;

impl Analyser<'_> {
    /// For each ranked rule, what its limit counts in statewall's chain when it counts every
    /// packet of its protocol: its condition without the ports, ICMP type, TCP flags and
    /// states that come after the count; None for every other rule.
    pub(super) fn count_conds(&self, ranked: &[(Rank, Flat)]) -> Vec<Option<Cond>> {
        ranked
            .iter()
            .map(|(rank, f)| {
                let early = self.rules[f.rule]
                    .extra
                    .limit
                    .as_ref()
                    .is_some_and(|l| l.early);
                early.then(|| {
                    let before = Cond {
                        ports: None,
                        sports: None,
                        not_ports: Vec::new(),
                        not_sports: Vec::new(),
                        icmp: None,
                        not_icmp: Vec::new(),
                        flags: None,
                        states: None,
                        ..f.cond.clone()
                    };
                    Cond {
                        states: None,
                        ..sw_cond(*rank, f, &before, self.stateful)
                    }
                })
            })
            .collect()
    }

    /// The error at rule `j` of `ranked`, which would move before rule `i` that shares a
    /// packet with what one of them counts.
    pub(super) fn count_moved(&mut self, ranked: &[(Rank, Flat)], (i, j): (usize, usize)) {
        let (a, b) = (&self.rules[ranked[i].1.rule], &self.rules[ranked[j].1.rule]);
        let what = format!(
            "this rule would move before line {} and change which packets a rate counts",
            a.line
        );
        let help = "a rate written before a rule's ports, ICMP type, TCP flags or states takes a token for every packet of its protocol that reaches it; statewall's chain has a fixed order (blocks, established, invalid, loopback, icmp, allows, rejects, final), which puts the two rules the other way round, so that packets one of them decides would reach the other's rate, or no longer would: reorder the file so that this rule comes first, or write the rate after the rule's other matches (it then counts the rule's own packets)";
        let span = b.span.clone();
        self.error(span, what, help);
    }
}

/// Whether rules `i` (earlier in the file) and `j` must keep their order because one of
/// them counts every packet of its protocol and the other matches a packet it counts.
pub(super) fn counted_apart(sw: &[Cond], counts: &[Option<Cond>], i: usize, j: usize) -> bool {
    counts[j].as_ref().is_some_and(|c| sw[i].overlaps(c))
        || counts[i].as_ref().is_some_and(|c| c.overlaps(&sw[j]))
}
