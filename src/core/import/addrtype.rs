//! `-m addrtype`: `--src-type` / `--dst-type` (negated or not) into the condition's sets of
//! address types, which become an entry's `from_type`/`to_type` (or their `except_*`).

use std::ops::Range;

use super::cond::Cond;
use super::lex::Tok;
use super::lines::Parser;
use crate::core::addrtype::{ADDR_TYPES, addr_type};

/// Every address type, as a set (bit `RTN_*`).
pub(super) const ALL_TYPES: u16 = (1 << ADDR_TYPES.len()) - 1;

/// The types xt_addrtype refuses in an IPv6 rule: BROADCAST, BLACKHOLE, and PROHIBIT on.
const IP6_REFUSED: u16 = 1 << 3 | 1 << 6 | !((1 << 8) - 1) & ALL_TYPES;

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
        (cond, never, counts): (&mut Cond, &mut Option<String>, bool),
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
        if self.fam == super::Fam::V6 {
            // xt_addrtype's check of an IPv6 rule (the kernel answers EINVAL)
            let refused = types_of(set & IP6_REFUSED);
            if let Some(&ty) = refused.first() {
                let name = ADDR_TYPES[usize::from(ty)].0.to_ascii_uppercase();
                self.err(
                    v.span.clone(),
                    format!("address type {name} in an ip6tables rule"),
                    "ip6tables-restore refuses it too (RULE_APPEND failed (Invalid argument)): IPv6 has no broadcast, and the kernel matches no BLACKHOLE, PROHIBIT, THROW, NAT or XRESOLVE there",
                );
                return Some(Some(i + 2));
            }
            set = ip6_meaning(set);
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
        // a list no address passes (an ip6tables rule's MULTICAST,ANYCAST: match_type6 wants
        // every type listed) matches no packet: the rule is left out, as iptables never
        // takes it, not read as an entry of no type list (every address)
        if set == 0 && neg.is_none() {
            if counts {
                self.err(
                    v.span.clone(),
                    format!("`{} {}`: no address, in a rule that counts", t.text, v.text),
                    "the rule matches no packet (an ip6tables rule's address must be of every type listed), but the `-m recent`, `-m limit` or `-m connlimit` before it still counts or stamps every packet that reaches it: take the rule out",
                );
            } else {
                *never = Some(format!(
                    "no address is of every type `{} {}` lists (an ip6tables rule's address must be of each, as xt_addrtype's match_type6 tests)",
                    t.text, v.text
                ));
            }
        }
        Some(Some(i + 2))
    }
}

/// What a list of types means in an ip6tables rule (xt_addrtype's `match_type6`), as the set
/// of routing types an address may have: each of UNICAST (any address but a multicast one
/// and `::`, the host's own included), MULTICAST and UNSPEC must hold, and one of the route
/// lookup's LOCAL, ANYCAST and UNREACHABLE (a route that rejects or none: nft's unreachable,
/// blackhole and prohibit). An IPv4 rule's list is any of its types; the kernel refuses the
/// other types in an IPv6 rule.
fn ip6_meaning(listed: u16) -> u16 {
    let bit = |name: &str| 1u16 << addr_type(name).expect("a known type");
    let mut set = ALL_TYPES;
    if listed & bit("unicast") != 0 {
        set &= !(bit("multicast") | bit("unspec"));
    }
    for only in ["multicast", "unspec"] {
        if listed & bit(only) != 0 {
            set &= bit(only);
        }
    }
    let mut routed = listed & (bit("local") | bit("anycast"));
    if listed & bit("unreachable") != 0 {
        routed |= bit("unreachable") | bit("blackhole") | bit("prohibit");
    }
    if routed != 0 {
        set &= routed;
    }
    set
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

    #[test]
    fn an_ip6tables_list_means_what_match_type6_tests() {
        let set = |names: &[&str]| {
            names
                .iter()
                .fold(0u16, |s, n| s | 1 << addr_type(n).unwrap())
        };
        // the host's own addresses are unicast to ip6tables
        let unicast = ip6_meaning(set(&["unicast"]));
        assert_eq!(
            unicast & set(&["local", "unicast", "anycast"]),
            set(&["local", "unicast", "anycast"])
        );
        assert_eq!(unicast & set(&["multicast", "unspec"]), 0);
        assert_eq!(ip6_meaning(set(&["local"])), set(&["local"]));
        // every type listed must hold, but one of the route's is enough
        assert_eq!(ip6_meaning(set(&["unicast", "multicast"])), 0);
        assert_eq!(ip6_meaning(set(&["unicast", "local"])), set(&["local"]));
        assert_eq!(
            ip6_meaning(set(&["local", "anycast"])),
            set(&["local", "anycast"])
        );
    }
}
