//! How many rules an entry's lists ask for: each "any of these" key (`mac`, `length`,
//! `tcp_mss`, …) makes one rule per value, and they multiply; each exception is a match in
//! every one of those rules. A policy of a few kilobytes could otherwise ask for billions of
//! matches: an entry past [`ENTRY_MATCHES_MAX`] is refused where it is written.

use std::ops::Range;

use super::Checker;
use crate::core::diag::thousands;
use crate::core::model::More;

/// The most matches one entry's rules may hold together (its rules times the matches of
/// each): about 30 MB of plan (a match is at most 140 bytes: a `contains` pattern is kept
/// inline), far past any entry written by hand.
pub(crate) const ENTRY_MATCHES_MAX: u128 = 200_000;

impl Checker<'_> {
    /// Refuses an entry whose lists multiply past [`ENTRY_MATCHES_MAX`] matches.
    pub(super) fn entry_size_bounded(&mut self, m: &More, icmp: usize, at: Range<usize>) {
        let mss =
            m.tcp_mss.len() + usize::from(m.tcp_mss.is_empty() && !m.except_tcp_mss.is_empty());
        // the keys that make a rule per value, with their number of values
        let each = [
            ("to_type", m.to_type.len()),
            ("from_type", m.from_type.len()),
            ("pkttype", m.pkttype.len()),
            ("rt_type", m.rt_type.len()),
            ("mac", m.mac.len()),
            ("uid", m.uid.len()),
            ("gid", m.gid.len()),
            ("length", m.length.len()),
            ("ttl", m.ttl.len()),
            ("tcp_option", m.tcp_option.len()),
            ("tcp_mss", mss),
            ("icmp", icmp + m.icmp_codes.len()),
            ("icmpv6", m.icmpv6.len()),
            ("protocol", m.protocol.len() + m.published.len()),
            ("limit", m.limit.len()),
            ("contains", m.contains.len()),
            ("mark", m.mark.len()),
        ];
        // both families, a rule of TCP and one of UDP ports, and a log or count rule each
        let mut rules: u128 = 2 * 2 * 2;
        for (_, n) in each {
            rules = rules.saturating_mul(n.max(1) as u128);
        }
        let excepts = [
            m.except_from.len(),
            m.except_to.len(),
            m.except_iif.len(),
            m.except_oif.len(),
            m.except_to_type.len(),
            m.except_from_type.len(),
            m.except_pkttype.len(),
            m.except_rt_type.len(),
            m.except_tcp_option.len(),
            m.except_tcp_mss.len(),
            m.except_mac.len(),
            m.except_uid.len(),
            m.except_gid.len(),
            m.except_length.len(),
            m.except_ttl.len(),
            m.except_tcp.len(),
            m.except_udp.len(),
            m.except_tcp_sport.len(),
            m.except_udp_sport.len(),
            m.except_icmp.len(),
            m.except_icmpv6.len(),
            m.except_contains.len(),
            m.except_mark.len(),
        ];
        // the entry's own matches (addresses, ports, states, …) and every exception
        let per_rule = 8 + excepts.iter().sum::<usize>() as u128;
        let total = rules.saturating_mul(per_rule);
        if total <= ENTRY_MATCHES_MAX {
            return;
        }
        let many: Vec<String> = each
            .iter()
            .filter(|(_, n)| *n > 1)
            .map(|(k, n)| format!("{} in `{k}`", thousands(*n)))
            .collect();
        let nots: usize = excepts.iter().sum();
        let mut why = if many.is_empty() {
            "its exceptions are each a match in every rule".to_string()
        } else {
            format!(
                "each value of these keys makes a rule of its own, and they multiply: {}",
                many.join(" × ")
            )
        };
        if nots > 0 && !many.is_empty() {
            why.push_str(&format!(", each rule with {} exceptions", thousands(nots)));
        }
        self.error(
            at,
            format!(
                "this entry asks for more than {} matches in its rules",
                thousands(ENTRY_MATCHES_MAX as usize)
            ),
            Some(format!("{why}; split it into entries of fewer values each (exceptions: fewer of them, or an `except_from` network that holds several)")),
        );
    }
}
