//! A per-source limit: `update @meter4_<entry> { ip saddr limit rate over 12/minute burst
//! 6 packets }`, IPv6 sources by their prefix: `update @meter6_<entry> { ip6 saddr &
//! ffff:ffff:ffff:ffff:: limit rate over … }` (`Meter`). The kernel keeps a token bucket per
//! key in the entry's own dynamic set; the expression matches when the packet's source has
//! run out. The family check, the load and the mask are rustables'; the dynset with its
//! limit is our own bytes (rustables 0.9 has no dynset).
//!
//! nft: `[ meta load nfproto => reg 1 ] [ cmp eq reg 1 0x0000000a ]
//! [ payload load 16b @ network header + 8 => reg 1 ]
//! [ bitwise reg 1 = ( reg 1 & 0xffffffff 0xffffffff 0x00000000 0x00000000 ) ^ 0x0 … ]
//! [ dynset update reg_key 1 set meter6_ssh timeout 0ms expr [ limit rate 12/minute burst 6
//! type packets flags 0x1 ] ]`
//!
//! The same dynset without a limit feeds a live set of single addresses (`FeedLive`,
//! `add_to_set` and a block's `refresh`): `update @ip4_trap { ip saddr }` adds the source, or
//! renews its lifetime. nft: `[ meta load nfproto => reg 1 ] [ cmp eq reg 1 0x00000002 ]
//! [ payload load 4b @ network header + 12 => reg 1 ] [ dynset update reg_key 1 set ip4_trap ]`.
//! With the delete operation it takes the source out (`remove_from_set`): `delete @ip4_knock
//! { ip saddr }`, `[ dynset delete reg_key 1 set ip4_knock ]`.

use rustables::expr::Bitwise;

use super::prim::{bitwise_of, own};
use super::saddr::{self, Addr};
use super::{At, Decoding, Expr, SetIds, Step};
use crate::codec::nft::{
    NFT_DYNSET_OP_DELETE, NFT_DYNSET_OP_UPDATE, NFT_REG_1, NFTA_DYNSET_EXPR, NFTA_DYNSET_OP,
    NFTA_DYNSET_SET_ID, NFTA_DYNSET_SET_NAME, NFTA_DYNSET_SREG_KEY, NFTA_EXPR_DATA, NFTA_EXPR_NAME,
};
use crate::codec::wire::{Attrs, attr, be32, string};
use crate::core::model::LIMITS_MAX;
use crate::core::model::{Cidr, Rate};
use crate::core::plan::{LiveName, Match, meter_name, meter_set_name};

/// The key: the family check, the source load and (shorter than the address) its mask — an
/// IPv6 prefix, or /0 for a limit of the entry as a whole, whose one bucket every source of
/// the family shares.
pub(super) fn encode_key(rule: &mut rustables::Rule, v6: bool, prefix: u8) {
    saddr::encode_load(rule, v6, Addr::Src);
    let len = if v6 { 16 } else { 4 };
    if u32::from(prefix) < len * 8 {
        let mask = Cidr::mask_bytes(prefix, len as usize);
        rule.add_expr(Bitwise::new(mask, vec![0u8; len as usize]).expect("same length"));
    }
}

/// The dynset that updates the source's bucket (`rate`, `over` it or within it), or (None)
/// the source's member of a live set (deletes it with `remove`), as one list element.
pub(super) fn encode_dynset(
    list: &mut Attrs,
    set: &str,
    set_ids: &SetIds,
    rate: Option<Rate>,
    over: bool,
    remove: bool,
) {
    let op = if remove {
        NFT_DYNSET_OP_DELETE
    } else {
        NFT_DYNSET_OP_UPDATE
    };
    own(list, "dynset", |d| {
        d.str(NFTA_DYNSET_SET_NAME, set);
        if let Some(id) = set_ids.get(set) {
            d.be32(NFTA_DYNSET_SET_ID, *id);
        }
        d.be32(NFTA_DYNSET_OP, op)
            .be32(NFTA_DYNSET_SREG_KEY, NFT_REG_1);
        if let Some(rate) = rate {
            d.nest(NFTA_DYNSET_EXPR, |e| {
                e.str(NFTA_EXPR_NAME, "limit")
                    .nest(NFTA_EXPR_DATA, |l| super::limit::data(l, rate, over));
            });
        }
    });
}

/// A dynset without an expression at `k` that updates (or deletes from) a live set of single
/// addresses of family `v6` (`ip4_<set>`): its `FeedLive`. None when it names another set (an audit
/// recorder's: `record` reads those).
fn decode_update(at: &At, data: &[u8], v6: bool, k: usize) -> Decoding {
    let set = attr(data, NFTA_DYNSET_SET_NAME)
        .map(string)
        .unwrap_or_default();
    let live = crate::core::plan::live_set_of(&set)?;
    let name = match LiveName::hosts(live) {
        Some(n) if n.set_name(v6) == set => n,
        _ => {
            return Some(Err(at.fail(
                k,
                format!("dynset updates {set}, not a live set of single addresses"),
            )));
        }
    };
    let remove = match attr(data, NFTA_DYNSET_OP).and_then(be32) {
        Some(NFT_DYNSET_OP_UPDATE) => false,
        Some(NFT_DYNSET_OP_DELETE) => true,
        _ => return Some(Err(at.fail(k, "dynset that neither updates nor deletes"))),
    };
    let m = Match::FeedLive {
        v6,
        set: name,
        remove,
    };
    Some(Ok((Step::Match(m), k + 1)))
}

/// A source key read by [`decode_key`]: whether IPv6, the prefix, where its dynset is, and
/// the dynset's data.
pub(super) type Keyed<'a> = (bool, u8, usize, &'a [u8]);

/// A source key and the dynset after it: the family check, the load, the mask if any
/// (`prefix`), and at `k` (3 or 4) a dynset, its data. None when the position does not start
/// so; an error for a mask that is not a prefix.
pub(super) fn decode_key<'a>(at: &At<'a>) -> Option<Result<Keyed<'a>, super::NotUnderstood>> {
    let v6 = match saddr::decode_load(at)? {
        Ok(v6) => v6,
        Err(_) => return None,
    };
    let len = if v6 { 16 } else { 4 };
    let (mask, k) = match bitwise_of(at.get(3)) {
        Some((mask, xor)) if xor.iter().all(|b| *b == 0) && mask.len() == len => (Some(mask), 4),
        Some(_) => return None,
        None => (None, 3),
    };
    let Some(Expr::Other { name, data }) = at.get(k) else {
        return None;
    };
    if name != "dynset" {
        return None;
    }
    let prefix = match mask.map(Cidr::prefix_of_mask) {
        None => len as u8 * 8,
        Some(Some(p)) => p,
        Some(None) => return Some(Err(at.fail(3, "a mask that is not a prefix"))),
    };
    Some(Ok((v6, prefix, k, data.as_slice())))
}

/// The family check, the load, the mask if any, and a dynset that carries a limit (four
/// or five expressions). A dynset without a limit is left to `record`; one with a
/// connection count was `connlimit`'s.
pub(super) fn decode(at: &At) -> Decoding {
    let (v6, prefix, k, data) = match decode_key(at)? {
        Ok(x) => x,
        Err(e) => return Some(Err(e)),
    };
    let Some(expr) = attr(data, NFTA_DYNSET_EXPR) else {
        return if k == 3 {
            decode_update(at, data, v6, k)
        } else {
            None
        };
    };
    let limit = match attr(expr, NFTA_EXPR_NAME).map(string).as_deref() {
        Some("limit") => attr(expr, NFTA_EXPR_DATA).unwrap_or_default(),
        _ => {
            return Some(Err(
                at.fail(k, "dynset with an expression other than a limit")
            ));
        }
    };
    let (rate, over) = match super::limit::read(limit) {
        Ok(x) => x,
        Err(why) => return Some(Err(at.fail(k, why))),
    };
    let op = attr(data, NFTA_DYNSET_OP).and_then(be32);
    if op != Some(NFT_DYNSET_OP_UPDATE) {
        return Some(Err(at.fail(k, "dynset that does not update")));
    }
    let set = attr(data, NFTA_DYNSET_SET_NAME)
        .map(string)
        .unwrap_or_default();
    // a shared meter's set (`meter4_/dns`), else one of the entry's own
    let shared = set
        .split_once("_/")
        .and_then(|(_, name)| LiveName::new(name))
        .filter(|s| set == meter_name(v6, "", 0, Some(*s)));
    let own = || (0..=LIMITS_MAX as u8 - 1).find(|&n| set == meter_set_name(v6, at.comment(), n));
    let nth = if shared.is_some() { Some(0) } else { own() };
    let Some(nth) = nth else {
        return Some(Err(
            at.fail(k, format!("meter set {set} is not the entry's own"))
        ));
    };
    let m = Match::Meter {
        v6,
        prefix,
        rate,
        over,
        nth,
        shared,
    };
    Some(Ok((Step::Match(m), k + 1)))
}

#[cfg(test)]
mod tests {
    use crate::codec::decode::decode_rule_msg;
    use crate::codec::nft::{NFNL_SUBSYS_NFTABLES, NFT_MSG_NEWRULE};
    use crate::codec::{encode, wire};
    use crate::core::plan::{Match, Verdict};
    use crate::core::{compile, policy};

    /// Every rule of `policy`, through the whole encoder (our own expressions spliced into
    /// rustables' messages) and the decoder: (comment, matches, verdict) as planned.
    fn round_trip(policy: &str) -> Vec<(String, Vec<Match>, Verdict)> {
        let (p, d) = policy::parse(policy);
        let plan = compile::compile(&p.unwrap_or_else(|| panic!("{d:?}")), "statewall");
        let batch = encode::encode(&plan, None, None);
        let newrule = (NFNL_SUBSYS_NFTABLES << 8) | NFT_MSG_NEWRULE;
        let got: Vec<_> = wire::messages(&batch.bytes)
            .filter(|(h, _)| h.ty == newrule)
            .map(|(_, m)| {
                let (_, live) = decode_rule_msg(m).expect("a rule message");
                let r = live.rule.unwrap_or_else(|e| panic!("{e}"));
                (r.comment, r.matches, r.verdict)
            })
            .collect();
        let want: Vec<_> = plan
            .chains
            .iter()
            .flat_map(|c| &c.rules)
            .map(|r| (r.comment.clone(), r.matches.clone(), r.verdict))
            .collect();
        assert_eq!(got, want);
        want
    }

    /// Every rule of the policy of every limit, log and published port.
    #[test]
    fn rules_with_our_own_expressions_read_back_as_planned() {
        let want = round_trip(include_str!("../../../tests/data/policy/ok-limits.toml"));
        let own = want.iter().filter(|(_, m, v)| {
            matches!(v, Verdict::Log(_)) || m.iter().any(|m| matches!(m, Match::Meter { .. }))
        });
        assert!(own.count() >= 6, "the policy has meters and log rules");
    }

    /// Limits that count every packet of their protocol: the meter between the protocol and
    /// its ports (a port set among them), ICMP and ICMPv6 types, TCP flags and states reads
    /// back in its place, and what follows it reads the protocol before it.
    #[test]
    fn meters_that_count_the_protocol_read_back_in_their_place() {
        let want = round_trip(include_str!(
            "../../../tests/data/policy/ok-limit-counts.toml"
        ));
        let after_proto = want.iter().filter(|(_, m, _)| {
            m.windows(2)
                .any(|w| matches!(w, [Match::L4Proto(_), Match::Meter { .. }]))
        });
        assert_eq!(after_proto.count(), 8, "{want:#?}");
        assert!(want.iter().any(|(_, m, _)| m.contains(&Match::DstPortInSet)
            && m.iter().any(|m| matches!(m, Match::Meter { .. }))));
    }

    /// Every rule of the policy of every connection count: the dynsets that add a source (or,
    /// for the entry as a whole, every source as one) with its connection list.
    #[test]
    fn rules_that_count_connections_read_back_as_planned() {
        let want = round_trip(include_str!(
            "../../../tests/data/policy/ok-connections.toml"
        ));
        let count = |f: fn(&Match) -> bool| want.iter().filter(|(_, m, _)| m.iter().any(f)).count();
        // the allow "web" and the reject "busy" count for the entry as a whole (every source
        // as one: prefix 0); the block "flood" and the other allows per source; a rule per
        // family they can match
        assert_eq!(
            count(|m| matches!(m, Match::ConnMeter { prefix: 0, .. })),
            4,
            "{want:#?}"
        );
        assert_eq!(
            count(|m| matches!(m, Match::ConnMeter { prefix: 1.., .. })),
            8,
            "{want:#?}"
        );
        assert_eq!(count(|m| matches!(m, Match::CtCount { .. })), 0);
    }

    /// The rules that feed live sets (`add_to_set`, a block's `refresh`) read back as
    /// planned, each dynset naming its live set, beside lookups of the same set.
    #[test]
    fn rules_that_feed_live_sets_read_back_as_planned() {
        let want = round_trip(include_str!("../../../tests/data/policy/ok-trap.toml"));
        let feeding = |m: &[Match]| {
            m.iter()
                .filter(|m| matches!(m, Match::FeedLive { .. }))
                .count()
        };
        let fed: Vec<_> = want.iter().filter(|(_, m, _)| feeding(m) > 0).collect();
        assert_eq!(fed.len(), 10, "{fed:?}");
        let refresh = fed
            .iter()
            .filter(|(_, m, _)| m.iter().any(|m| matches!(m, Match::SrcInLive { .. })));
        assert_eq!(refresh.count(), 4);
    }
}
