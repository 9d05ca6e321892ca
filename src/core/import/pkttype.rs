//! `-m pkttype`: `--pkt-type unicast|broadcast|multicast` (negated or not) into the condition's
//! set of packet types, which becomes an entry's `pkttype` (or `except_pkttype`).

use std::ops::Range;

use super::cond::Cond;
use super::lex::Tok;
use super::lines::Parser;
use crate::core::pkttype::{PKT_TYPES, pkt_type};

/// The set bit of the kernel's packet types iptables cannot name (a frame for another host,
/// one the host sends…): what a `!` matches besides the named ones. Bits 0-2 are
/// [`PKT_TYPES`]' (`PACKET_*`).
pub(super) const OTHER_TYPES: u8 = 1 << 3;
/// Every packet type, as a set.
pub(super) const ALL_PKT_TYPES: u8 = ((1 << PKT_TYPES.len()) - 1) | OTHER_TYPES;

/// A set's policy keys: (`pkttype`, `except_pkttype`). A set with the unnamed types (from a
/// `!`) is every type but some named ones; one without them lists its named ones.
pub(super) fn pkttype_keys(set: u8) -> (Vec<u8>, Vec<u8>) {
    let named = |set: u8| -> Vec<u8> {
        PKT_TYPES
            .iter()
            .map(|(_, t)| *t)
            .filter(|t| set & (1 << t) != 0)
            .collect()
    };
    if set & OTHER_TYPES != 0 {
        (Vec::new(), named(ALL_PKT_TYPES & !set))
    } else {
        (named(set), Vec::new())
    }
}

/// iptables' name (any case: it compares without) → the type; its aliases too.
fn iptables_pkt_type(name: &str) -> Option<u8> {
    match name.to_ascii_lowercase().as_str() {
        "host" => pkt_type("unicast"),
        "bcast" => pkt_type("broadcast"),
        "mcast" => pkt_type("multicast"),
        n => pkt_type(n),
    }
}

impl Parser<'_> {
    /// The pkttype option at `toks[i]`; None when it is none, else where the next option
    /// starts (None inside: the value is missing). The sets of a rule and of the rules that
    /// jump to it meet by intersection (each packet has one type).
    pub(super) fn pkttype_option(
        &mut self,
        cond: &mut Cond,
        toks: &[Tok],
        i: usize,
        neg: Option<Range<usize>>,
    ) -> Option<Option<usize>> {
        if toks[i].text != "--pkt-type" {
            return None;
        }
        let Some(v) = self.value(toks, i) else {
            return Some(None);
        };
        let Some(ty) = iptables_pkt_type(&v.text) else {
            let (msg, why) = if v.text.eq_ignore_ascii_case("otherhost") {
                (
                    "packet type `otherhost`".to_string(),
                    "frames for another host reach the firewall's hooks only through a bridge (br_netfilter), and statewall's `pkttype` names unicast, broadcast and multicast only",
                )
            } else {
                (
                    format!("unknown packet type `{}`", v.text),
                    "statewall's `pkttype` names unicast, broadcast and multicast (iptables' host, bcast and mcast too)",
                )
            };
            self.err(v.span.clone(), msg, why);
            return Some(Some(i + 2));
        };
        let set = if neg.is_some() {
            ALL_PKT_TYPES & !(1 << ty)
        } else {
            1 << ty
        };
        cond.pkt_type = Some(cond.pkt_type.unwrap_or(ALL_PKT_TYPES) & set);
        Some(Some(i + 2))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sets_become_the_keys_that_say_them_exactly() {
        assert_eq!(ALL_PKT_TYPES, 0x0f);
        // --pkt-type broadcast
        assert_eq!(pkttype_keys(1 << 1), (vec![1], vec![]));
        // ! --pkt-type broadcast: everything else, the types iptables cannot name too
        assert_eq!(pkttype_keys(ALL_PKT_TYPES & !(1 << 1)), (vec![], vec![1]));
        // ! broadcast, then (a jump) ! multicast: still every unnamed type
        assert_eq!(pkttype_keys(1 | OTHER_TYPES), (vec![], vec![1, 2]));
        assert_eq!(iptables_pkt_type("UNICAST"), Some(0));
        assert_eq!(iptables_pkt_type("host"), Some(0));
        assert_eq!(iptables_pkt_type("Bcast"), Some(1));
        assert_eq!(iptables_pkt_type("mcast"), Some(2));
        assert_eq!(iptables_pkt_type("otherhost"), None);
    }
}
