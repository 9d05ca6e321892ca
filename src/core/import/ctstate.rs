//! `-m state --state` and `-m conntrack --ctstate`: the connection states a rule matches,
//! and `--ctstate DNAT` (a status of the connection: the kernel DNAT'ed it), which becomes
//! an entry's `dnat`.

use std::ops::Range;

use super::cond::Cond;
use super::lex::Tok;
use super::lines::Parser;
use super::values::{ALL_STATES, DNAT_STATUS};

impl Parser<'_> {
    /// `t` (`--state`, `--ctstate`) with its value `v`, `neg` where its `!` is, into the
    /// rule's condition; true for states with DNAT beside them (`RELATED,ESTABLISHED,DNAT`,
    /// firewalld's first rule): the condition says the states, and the rule is followed by
    /// a rule of its own for DNAT'ed connections (`IptRule::dnat_alt`, `flatten.rs`) —
    /// iptables matches a packet of either, and the two rules have one verdict.
    pub(super) fn state_option(
        &mut self,
        cond: &mut Cond,
        t: &Tok,
        v: &Tok,
        neg: Option<Range<usize>>,
    ) -> bool {
        let bits = self.states(v);
        if bits & DNAT_STATUS != 0 && t.text == "--state" {
            // the state match knows the five states only; DNAT is conntrack's
            self.err(
                v.span.clone(),
                "connection state `DNAT` in `-m state --state`",
                "iptables-restore refuses it too (\"Bad state \"DNAT\"\"): a DNAT'ed connection is `-m conntrack --ctstate DNAT`",
            );
            return false;
        }
        if bits & DNAT_STATUS != 0 {
            if bits != DNAT_STATUS && neg.is_none() {
                cond.states = Some(bits & !DNAT_STATUS);
                return true;
            }
            if let Some(n) = neg {
                self.err(
                    n.start..v.span.end,
                    "a negation of `--ctstate` with DNAT",
                    "statewall's `dnat = true` matches the connections the kernel DNAT'ed, never the others (and for a packet without a connection, invalid or untracked, the kernel has no status to test): write rules for what gets through instead",
                );
            } else {
                cond.dnat = true;
            }
            return false;
        }
        // `!`: the packets of every other state (none of the named bits in theirs)
        let not = ALL_STATES & !bits;
        match neg {
            Some(n) if not == 0 => self.err(
                n.start..t.span.end,
                format!("a negation of `{}`", t.text),
                "statewall cannot say \"every connection state but\"; write the complement as positive rules",
            ),
            Some(_) => cond.states = Some(not),
            None => cond.states = Some(bits),
        }
        false
    }

    /// `--state STATE[,STATE…]` as conntrack state bits (in any case, as iptables reads them:
    /// `New` is NEW), and `DNAT` as [`DNAT_STATUS`].
    fn states(&mut self, v: &Tok) -> u32 {
        let mut bits = 0;
        for s in v.text.split(',') {
            match super::values::state_bit(s) {
                Ok(b) => bits |= b,
                Err(help) => self.err(v.span.clone(), format!("connection state `{s}`"), help),
            }
        }
        bits
    }
}
