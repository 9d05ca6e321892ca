//! `-m addrtype`: `--src-type` / `--dst-type` (negated or not) into the condition's sets of
//! address types, which become an entry's `from_type`/`to_type` (or their `except_*`).

use std::ops::Range;

use super::cond::Cond;
use super::lex::Tok;
use super::lines::Parser;
use crate::core::addrtype::{ADDR_TYPES, addr_type};

/// Every address type, as a set (bit `RTN_*`).
pub(super) const ALL_TYPES: u16 = (1 << ADDR_TYPES.len()) - 1;

/// The types of a set, in order.
pub(super) fn types_of(set: u16) -> Vec<u8> {
    ADDR_TYPES
        .iter()
        .map(|(_, t)| *t)
        .filter(|t| set & (1 << t) != 0)
        .collect()
}

impl Parser<'_> {
    /// The addrtype option at `toks[i]`; None when it is none, else where the next option
    /// starts (None inside: the value is missing). Each address has one type, so `!
    /// --dst-type LOCAL` is the set of every other type, and the sets of a rule and of the
    /// rules that jump to it meet by intersection.
    pub(super) fn addrtype_option(
        &mut self,
        cond: &mut Cond,
        toks: &[Tok],
        i: usize,
        neg: Option<Range<usize>>,
    ) -> Option<Option<usize>> {
        let t = &toks[i];
        let dst = match t.text.as_str() {
            "--src-type" => false,
            "--dst-type" => true,
            o @ ("--limit-iface-in" | "--limit-iface-out") => {
                self.err(t.span.clone(), format!("`{o}` of `-m addrtype`"), "statewall looks address types up in the whole routing table (nft's `fib daddr type`), not only the routes of the packet's interface: list the addresses with `to`, or leave the option out if the interfaces' addresses are what the rule means");
                return Some(Some(i + 1));
            }
            _ => return None,
        };
        let Some(v) = self.value(toks, i) else {
            return Some(None);
        };
        let mut set = 0u16;
        for name in v.text.split(',') {
            match addr_type(&name.to_ascii_lowercase()) {
                Some(ty) => set |= 1 << ty,
                None => {
                    let names: Vec<String> = ADDR_TYPES
                        .iter()
                        .map(|(n, _)| n.to_ascii_uppercase())
                        .collect();
                    self.err(
                        v.span.clone(),
                        format!("unknown address type `{name}`"),
                        format!("addrtype knows {}", names.join(", ")),
                    );
                    return Some(Some(i + 2));
                }
            }
        }
        if neg.is_some() {
            set = ALL_TYPES & !set;
        }
        let slot = if dst {
            &mut cond.dst_type
        } else {
            &mut cond.src_type
        };
        *slot = Some(slot.unwrap_or(ALL_TYPES) & set);
        Some(Some(i + 2))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sets_of_types() {
        assert_eq!(ALL_TYPES, 0x0fff);
        assert_eq!(types_of(1 << 2 | 1 << 5), [2, 5]);
        assert_eq!(types_of(ALL_TYPES).len(), 12);
    }
}
