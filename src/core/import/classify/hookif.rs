//! Interfaces a chain's packets have not: a packet for this host has no output interface,
//! one it sends no input interface. iptables refuses `-o` in INPUT and `-i` in OUTPUT, but
//! not in a user chain those reach, where the match then decides nothing but "never" (or,
//! negated, "always").

use crate::core::import::analyse::Analyser;

impl Analyser<'_> {
    /// A packet for this host has no output interface, one it sends no input interface
    /// (nft's `oifname`/`iifname` is empty there): a user chain's `-o X` reached from INPUT
    /// (`-i X` from OUTPUT; iptables refuses them in the chains themselves) matches no
    /// packet there, and its `! -o X` every packet. False: the rule is left out (noted);
    /// else the exceptions that say nothing are taken away (noted).
    pub(super) fn interfaces_of_hook(&mut self, f: &mut super::Flat) -> bool {
        use super::Hook;
        let c = &mut f.cond;
        let (pos, nots, flag, which) = match self.hook {
            Hook::Input => (&mut c.oif, &mut c.not_oif, "-o", "output"),
            Hook::Output => (&mut c.iif, &mut c.not_iif, "-i", "input"),
            Hook::Forward => return true,
        };
        let r = &self.rules[f.rule];
        let (line, text) = (r.line, crate::core::diag::shorten(&r.text, 80));
        let chain = self.hook.chain();
        if pos.is_some() {
            self.notes.push(format!("line {line}: `{text}` says `{flag}`, which no packet of {chain} has (it has no {which} interface): it matches nothing there and is left out"));
            return false;
        }
        if !nots.is_empty() {
            nots.clear();
            self.notes.push(format!("line {line}: `{text}` says `! {flag}`, which every packet of {chain} meets (it has no {which} interface): read without it"));
        }
        true
    }
}
