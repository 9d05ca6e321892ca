//! The conntrack match's original destination (`--ctorigdst`, `published_to`) and the
//! rule its original destination port (`--ctorigdstport`, `published`) must stand alone in.

use std::ops::Range;

use super::super::lex::Tok;
use super::super::lines::Parser;
use super::Draft;

impl Parser<'_> {
    /// `--ctorigdst A`: one address or network (`! --ctorigdst` and a list refused); the
    /// index after its value, None when the line ends first.
    pub(super) fn orig_dst(
        &mut self,
        d: &mut Draft,
        toks: &[Tok],
        i: usize,
        neg: Option<Range<usize>>,
    ) -> Option<usize> {
        let v = self.value(toks, i)?;
        if let Some(n) = &neg {
            self.err(n.start..v.span.end, "`! --ctorigdst` (every original destination but one)", "statewall matches a connection's original destination address (its `published_to` key), not its exceptions: write the rules for the addresses that are let through or blocked");
            return Some(i + 2);
        }
        match self.nets(&v, "original destination")[..] {
            [one] => d.cond.orig_dst = Some(one),
            // (reported by `nets`)
            [] => {}
            _ => self.err(v.span.clone(), format!("`--ctorigdst {}`: more than one address", v.text), "iptables-restore refuses it too (it looks the list up as one host name): the conntrack match takes one address or network per `--ctorigdst`; write a rule for each"),
        }
        Some(i + 2)
    }

    /// `--ctorigdstport` becomes an entry's `published` ports, which are a protocol part of
    /// their own (`meta l4proto tcp ct original proto-dst 25`): together with other port,
    /// flag or ICMP matches in one rule it would be read as either of them, not both.
    pub(super) fn orig_alone(&mut self, d: &Draft) {
        let Some(span) = &d.orig else { return };
        let c = &d.cond;
        let others = c.ports.is_some()
            || c.sports.is_some()
            || !c.not_ports.is_empty()
            || !c.not_sports.is_empty()
            || c.flags.is_some()
            || !d.flag_alts.is_empty()
            || c.icmp.is_some();
        if others {
            self.err(
                span.clone(),
                "`--ctorigdstport` with other port or flag matches in one rule",
                "statewall matches a connection's original destination port (its `published` key) on its own, not together with the packet's ports or TCP flags: split the rule, or match the ports alone",
            );
        }
    }
}
