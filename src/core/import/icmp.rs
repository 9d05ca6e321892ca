//! `--icmp-type TYPE[/CODE]` (and `--icmpv6-type`) into the condition: a type, a type with a
//! code, or a code name (which names its type too); `any` says nothing. `! --icmp-type TYPE`
//! is every type but this one (an entry's `except_icmp`, `except_icmpv6`: nft's `icmp type
//! != 8`); a negated type with a code, or `! any`, is refused where written.

use std::ops::Range;

use super::Fam;
use super::cond::Cond;
use super::lex::Tok;
use super::lines::Parser;
use crate::core::model::parse_icmp;

impl Parser<'_> {
    /// `--icmp-type`/`--icmpv6-type` at `toks[i]` into `cond` (`neg`: a `!` before it): the
    /// index after its value, or None when it is not an ICMP type option.
    pub(super) fn icmp_option(
        &mut self,
        cond: &mut Cond,
        toks: &[Tok],
        i: usize,
        neg: Option<Range<usize>>,
    ) -> Option<Option<usize>> {
        let t = &toks[i];
        if !matches!(t.text.as_str(), "--icmp-type" | "--icmpv6-type") {
            return None;
        }
        let Some(v) = self.value(toks, i) else {
            return Some(None);
        };
        let v6 = self.fam == Fam::V6;
        let what = if v6 { "ICMPv6" } else { "ICMP" };
        let parsed = parse_icmp(&v.text, v6);
        match (neg, parsed) {
            (None, _) if v.text == "any" => {}
            (None, Some(ty)) => cond.icmp = Some(ty),
            (Some(n), _) if v.text == "any" => self.err(
                n.start..v.span.end,
                format!("`! {} any`: no {what} packet", t.text),
                "the rule matches nothing; remove it",
            ),
            (Some(_), Some((ty, None))) => {
                if !cond.not_icmp.contains(&ty) {
                    cond.not_icmp.push(ty);
                }
            }
            (Some(n), Some((ty, Some(code)))) => self.err(
                n.start..v.span.end,
                format!("a negation of {what} type {ty} with code {code}"),
                "statewall excepts whole types (`except_icmp = [3]`: every packet of the other types); to leave out one code, write the codes the rule takes as positive rules",
            ),
            (_, None) => self.err(
                v.span.clone(),
                format!("{what} type `{}`", v.text),
                "write a type by name or number, a type/code pair (3/4), or a code name (port-unreachable)",
            ),
        }
        Some(Some(i + 2))
    }
}
