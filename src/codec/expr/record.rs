//! Audit recorders: `meta l4proto tcp update @audit_tcp { th dport }` and
//! `update @audit_src4 { ip saddr }` (`Record`). rustables 0.9 has no dynset, so these are
//! written in our own bytes, the whole expression list at once (see `sets::recorder_rule`):
//! a port recorder's `meta l4proto` comes from its key, not from the plan's `L4Proto`
//! before it — which is what it decodes to again, followed by the `Record`.
//!
//! nft: `[ meta load l4proto => reg 1 ] [ cmp eq reg 1 0x00000006 ]
//! [ payload load 2b @ transport header + 2 => reg 1 ]
//! [ dynset update reg_key 1 set audit_tcp ]` (register 1, as nft itself emits it).

use super::dport::DPORT;
use super::prim::{is_dynset, own, transport_load};
use super::{At, Decoding, Step, saddr};
use crate::codec::nft::{
    NFT_CMP_EQ, NFT_DYNSET_OP_UPDATE, NFT_META_L4PROTO, NFT_META_NFPROTO,
    NFT_PAYLOAD_NETWORK_HEADER, NFT_PAYLOAD_TRANSPORT_HEADER, NFT_REG_1, NFTA_CMP_DATA,
    NFTA_CMP_OP, NFTA_CMP_SREG, NFTA_DATA_VALUE, NFTA_DYNSET_OP, NFTA_DYNSET_SET_ID,
    NFTA_DYNSET_SET_NAME, NFTA_DYNSET_SREG_KEY, NFTA_META_DREG, NFTA_META_KEY, NFTA_PAYLOAD_BASE,
    NFTA_PAYLOAD_DREG, NFTA_PAYLOAD_LEN, NFTA_PAYLOAD_OFFSET,
};
use crate::codec::wire::Attrs;
use crate::core::plan::{IPPROTO_TCP, IPPROTO_UDP, Match, RecordKey, set_name};

/// The recorder's expressions, without its counter, into an `NFTA_RULE_EXPRESSIONS` list.
pub(super) fn encode(list: &mut Attrs, key: RecordKey, set_id: u32) {
    let (meta_key, value, (base, offset, len)) = match key {
        RecordKey::TcpPort => (NFT_META_L4PROTO, IPPROTO_TCP, dport()),
        RecordKey::UdpPort => (NFT_META_L4PROTO, IPPROTO_UDP, dport()),
        RecordKey::Src4 | RecordKey::Src6 => {
            let (nfproto, offset, len) = saddr::family(key == RecordKey::Src6);
            (
                NFT_META_NFPROTO,
                nfproto,
                (NFT_PAYLOAD_NETWORK_HEADER, offset, len),
            )
        }
    };
    own(list, "meta", |d| {
        d.be32(NFTA_META_DREG, NFT_REG_1)
            .be32(NFTA_META_KEY, meta_key);
    });
    own(list, "cmp", |d| {
        d.be32(NFTA_CMP_SREG, NFT_REG_1)
            .be32(NFTA_CMP_OP, NFT_CMP_EQ)
            .nest(NFTA_CMP_DATA, |v| {
                v.put(NFTA_DATA_VALUE, &[value]);
            });
    });
    own(list, "payload", |d| {
        d.be32(NFTA_PAYLOAD_DREG, NFT_REG_1)
            .be32(NFTA_PAYLOAD_BASE, base)
            .be32(NFTA_PAYLOAD_OFFSET, offset)
            .be32(NFTA_PAYLOAD_LEN, len);
    });
    own(list, "dynset", |d| {
        d.str(NFTA_DYNSET_SET_NAME, &set_name(key.set_kind(), ""))
            .be32(NFTA_DYNSET_SET_ID, set_id)
            .be32(NFTA_DYNSET_OP, NFT_DYNSET_OP_UPDATE)
            .be32(NFTA_DYNSET_SREG_KEY, NFT_REG_1);
    });
}

fn dport() -> (u32, u32, u32) {
    (NFT_PAYLOAD_TRANSPORT_HEADER, DPORT.0, DPORT.1)
}

/// A source recorder (family check, address load, dynset: four expressions) or a port
/// recorder (port load, dynset: two, after the `L4Proto` match). Anything short of that is
/// left to `saddr` and `dport`, which say what is wrong with it.
pub(super) fn decode(at: &At) -> Decoding {
    if let Some(Ok(v6)) = saddr::decode_load(at) {
        if !is_dynset(at.get(3)) {
            return None;
        }
        let key = if v6 { RecordKey::Src6 } else { RecordKey::Src4 };
        return Some(Ok((Step::Match(Match::Record(key)), 4)));
    }
    let (offset, len) = transport_load(at, 0)?;
    if (offset, len) != DPORT || !is_dynset(at.get(1)) {
        return None;
    }
    let key = match at.last_match() {
        Some(Match::L4Proto(IPPROTO_TCP)) => RecordKey::TcpPort,
        Some(Match::L4Proto(IPPROTO_UDP)) => RecordKey::UdpPort,
        _ => return Some(Err(at.fail(0, "port recorder without tcp or udp"))),
    };
    Some(Ok((Step::Match(Match::Record(key)), 2)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::codec::decode::decode_rule_msg;
    use crate::codec::encode::comment_udata;
    use crate::codec::sets::recorder_rule;
    use crate::core::plan::{AUDIT_COMMENT, Verdict};

    #[test]
    fn recorders_decode_to_their_matches_and_counters() {
        for (key, matches) in [
            (RecordKey::TcpPort, vec![Match::L4Proto(IPPROTO_TCP)]),
            (RecordKey::UdpPort, vec![Match::L4Proto(IPPROTO_UDP)]),
            (RecordKey::Src4, vec![]),
            (RecordKey::Src6, vec![]),
        ] {
            let udata = comment_udata(AUDIT_COMMENT);
            let msg = recorder_rule("statewall", "input", key, 3, &udata, Some((2, 120)));
            let (_, live) = decode_rule_msg(&msg).expect("a rule message");
            let r = live.rule.expect("statewall's");
            let mut want = matches;
            want.push(Match::Record(key));
            assert_eq!((r.matches, r.verdict), (want, Verdict::Continue));
            assert_eq!((live.packets, live.bytes), (2, 120));
        }
    }
}
