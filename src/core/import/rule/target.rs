//! A rule's REJECT: the kind `--reject-with` names, and the rule a tcp reset needs.

use std::ops::Range;

use super::{Draft, PLAIN_REJECT, Target};
use crate::core::import::lines::Parser;
use crate::core::import::values::reject_kind;

impl Parser<'_> {
    /// `--reject-with WITH` on a rule with `target`: the reject kind it makes.
    pub(super) fn reject_with(
        &mut self,
        target: Target,
        with: &str,
        wspan: Range<usize>,
    ) -> Target {
        if target != PLAIN_REJECT {
            self.err(
                wspan.clone(),
                "`--reject-with` without `-j REJECT`",
                "remove it",
            );
        }
        match reject_kind(with, self.fam) {
            Some(k) => Target::Reject(k),
            None => {
                self.err(wspan, format!("`--reject-with {with}`"), "statewall answers with tcp-reset, or icmp-port-unreachable, icmp-host-unreachable, icmp-net-unreachable, icmp-proto-unreachable, icmp-admin-prohibited, icmp-host-prohibited, icmp-net-prohibited (IPv6: icmp6-port-unreachable, icmp6-addr-unreachable, icmp6-no-route, icmp6-adm-prohibited)");
                target
            }
        }
    }

    /// A tcp reset from a rule that is not of `-p tcp` (the kernel's REJECT checks the rule
    /// itself, whatever reaches it: a rule statewall finds nothing reaches is refused too).
    pub(super) fn reset_of_tcp(&mut self, d: &Draft, target: &Target, span: &Range<usize>) {
        if matches!(target, Target::Reject(k) if *k == super::RejectKind::TcpReset)
            && d.cond.proto != Some(6)
        {
            let at = d.target_span.clone().unwrap_or_else(|| span.clone());
            self.err(at, "`--reject-with tcp-reset` on a rule that is not of `-p tcp`", "iptables-restore refuses it too (RULE_APPEND failed (Invalid argument)): the kernel sends a tcp reset only from a rule of protocol tcp; add -p tcp, or use an ICMP kind");
        }
    }
}
