//! How many rules an entry's lists ask for: each "any of these" key (`mac`, `length`,
//! `tcp_mss`, …) makes one rule per value, and they multiply; each exception is a match in
//! every one of those rules. A policy of a few kilobytes could otherwise ask for billions of
//! matches: an entry past [`ENTRY_MATCHES_MAX`] is refused where it is written.

use std::ops::Range;

use super::Checker;
use crate::core::diag::thousands;
use crate::core::model::More;

/// The most matches one entry's rules may hold together (its rules times the matches of
/// each): about 42 MB of plan (a match is at most 208 bytes: a `u32` expression and a
/// `contains` pattern are kept inline), far past any entry written by hand.
pub(crate) const ENTRY_MATCHES_MAX: u128 = 200_000;

/// The most matches the entries of a policy may ask for in all, counted as for one entry
/// but with only the protocols and the log rule each has: 50,000 allows of one tcp port
/// each (a 3 MB policy) ask for 800,000. Within it, building, encoding and checking the
/// batch took at most about 800 MB in the densest shapes measured (400 entries of 2,988
/// rules each would be 5.6 GB); an entry's rules are counted with one match for each key it
/// sets, which a fixed guess of 8 left 2.5 times short (1.9 GB within the bound).
pub(crate) const POLICY_MATCHES_MAX: u128 = 1_500_000;

/// The most networks the address lists of a policy's entries (`from` with its `from_file`,
/// `to`, the exceptions) may hold in all: more than one list file at its 64 MiB limit holds
/// (5.6 million addresses), so that naming one such file from several entries stays bounded.
pub(crate) const POLICY_NETWORKS_MAX: usize = 8_000_000;

/// What an entry has besides its [`More`]: its ICMP types, how many of `tcp` and `udp` it
/// names, and the networks of its `from` (with `from_file`).
pub(super) struct Shape {
    pub(super) icmp: usize,
    pub(super) l4: usize,
    pub(super) sources: usize,
}

/// What the entries read so far ask for in all, and whether a limit was said already.
#[derive(Default)]
pub(super) struct Total {
    matches: u128,
    networks: usize,
    said: bool,
}

impl Checker<'_> {
    /// Refuses an entry whose lists multiply past [`ENTRY_MATCHES_MAX`] matches, and the
    /// entry that takes the policy past [`POLICY_MATCHES_MAX`] or [`POLICY_NETWORKS_MAX`].
    pub(super) fn entry_size_bounded(&mut self, m: &More, shape: Shape, at: Range<usize>) {
        let icmp = shape.icmp;
        let mss =
            m.tcp_mss.len() + usize::from(m.tcp_mss.is_empty() && !m.except_tcp_mss.is_empty());
        // the keys that make a rule per value, with their number of values
        let each = [
            ("to_type", m.to_type.len()),
            ("from_type", m.from_type.len()),
            ("pkttype", m.pkttype.len()),
            ("rt_type", m.rt_type.len()),
            ("mac", m.mac.len()),
            ("published_to", m.published_to.len()),
            ("published_from", m.published_from.len()),
            ("connection_protocol", m.connection_protocol.len()),
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
            ("u32", m.u32.len()),
            ("mark", m.mark.len()),
            ("helper", m.helper.len()),
            (
                "days",
                m.clock
                    .map_or(0, |c| crate::core::clock::day_ranges(c.days).len()),
            ),
        ];
        // the rules of one family, protocol part and verdict: the values multiply
        let mut variants: u128 = 1;
        for (_, n) in each {
            variants = variants.saturating_mul(n.max(1) as u128);
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
            m.except_u32.len(),
            m.except_mark.len(),
            m.except_helper.len(),
        ];
        // the entry's own matches: addresses, ports, states and the like (8 at most), one
        // more in every rule for each key above it sets (one value or several), for each
        // part of its clock, for its source ports, flags, output interface and IPsec; and
        // every exception
        let clock = m.clock.map_or(0, |c| {
            usize::from(c.hours.is_some())
                + usize::from(c.since.is_some())
                + usize::from(c.until.is_some())
        });
        let own = each.iter().filter(|(_, n)| *n > 0).count()
            + clock
            + usize::from(!m.tcp_sport.is_empty() || !m.udp_sport.is_empty())
            + usize::from(!m.tcp_flags.is_empty())
            + usize::from(m.oif.is_some())
            + usize::from(m.ipsec_in.is_some())
            + usize::from(m.ipsec_out.is_some())
            + usize::from(m.dnat);
        let per_variant =
            variants.saturating_mul((8 + own + excepts.iter().sum::<usize>()) as u128);
        // at most: both families, a rule of TCP and one of UDP ports, and a log or count
        // rule each
        let total = per_variant.saturating_mul(2 * 2 * 2);
        if total <= ENTRY_MATCHES_MAX {
            // its part of the policy's: both families, the protocols it has, its log rule
            let icmps = usize::from(icmp > 0 || !m.icmpv6.is_empty());
            let parts = 2 * (shape.l4 + icmps).max(1) as u128 * (1 + u128::from(m.log.is_some()));
            let networks = shape.sources + m.to.len() + m.except_from.len() + m.except_to.len();
            self.policy_size_bounded(per_variant * parts, networks, at);
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

    /// Adds an entry's `matches` and `networks` to the policy's, and refuses the entry that
    /// takes them past their limits (once: the entries after it are not counted).
    fn policy_size_bounded(&mut self, matches: u128, networks: usize, at: Range<usize>) {
        if self.total.said {
            return;
        }
        self.total.matches = self.total.matches.saturating_add(matches);
        self.total.networks = self.total.networks.saturating_add(networks);
        let (what, help) = if self.total.matches > POLICY_MATCHES_MAX {
            (
                format!(
                    "with this entry, the policy's entries ask for more than {} matches in their rules",
                    thousands(POLICY_MATCHES_MAX as usize)
                ),
                "each value of a key that makes a rule per value (`protocol`, `ttl`, `mac`, …) multiplies the entry's rules, and each exception is a match in every one of them: use fewer such values, or fewer exceptions, across the entries",
            )
        } else if self.total.networks > POLICY_NETWORKS_MAX {
            (
                format!(
                    "with this entry, the policy's address lists hold more than {} networks",
                    thousands(POLICY_NETWORKS_MAX)
                ),
                "each entry keeps its own copy of the networks it names, a `from_file` list too: name a big list from fewer entries (one entry can allow several ports and both tcp and udp), or merge its networks into wider ones",
            )
        } else {
            return;
        };
        self.total.said = true;
        self.error(at, what, Some(help.to_string()));
    }
}
