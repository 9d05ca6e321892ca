//! A connection's destination port before the kernel DNAT'ed it: `meta l4proto tcp
//! ct original proto-dst 8080` (`CtOrigDport`), how a forward entry matches the ports a
//! container runtime publishes; without the protocol (`published_any`) the "port" of a
//! connection of any protocol, as the kernel keeps it. rustables 0.9 writes no ct direction:
//! the load is our own bytes, the comparison rustables'.
//!
//! nft: `[ ct load proto_dst => reg 1 , dir original ] [ cmp eq reg 1 0x0000901f ]`
//! (a range: `cmp gte` + `cmp lte`)

use super::prim::{eq_or_range, eq_or_range_expr, own};
use super::{At, Decoding, Expr, Step};
use crate::codec::nft::{
    IP_CT_DIR_ORIGINAL, NFT_CT_PROTO_DST, NFT_REG_1, NFTA_CT_DIRECTION, NFTA_CT_DREG, NFTA_CT_KEY,
};
use crate::codec::wire::Attrs;
use crate::core::model::PortRange;
use crate::core::plan::Match;

/// The load, as one list element.
pub(super) fn encode_load(list: &mut Attrs) {
    own(list, "ct", |d| {
        d.be32(NFTA_CT_DREG, NFT_REG_1)
            .be32(NFTA_CT_KEY, NFT_CT_PROTO_DST)
            .put(NFTA_CT_DIRECTION, &[IP_CT_DIR_ORIGINAL]);
    });
}

/// The comparison after the load.
pub(super) fn encode_cmp(rule: &mut rustables::Rule, r: PortRange) {
    eq_or_range_expr(rule, &r.lo.to_be_bytes(), &r.hi.to_be_bytes());
}

pub(super) fn decode(at: &At) -> Decoding {
    let Some(&Expr::Ct {
        key: NFT_CT_PROTO_DST,
        dir,
    }) = at.get(0)
    else {
        return None;
    };
    if dir != Some(IP_CT_DIR_ORIGINAL) {
        return Some(Err(at.fail(0, "ct proto-dst of the reply direction")));
    }
    let port = |b: &[u8]| Some(u16::from_be_bytes(b.try_into().ok()?));
    let Some((lo, hi, used)) = eq_or_range(at, 1) else {
        return Some(Err(at.fail(0, "ct original proto-dst without a comparison")));
    };
    match (port(lo), port(hi)) {
        (Some(lo), Some(hi)) if lo <= hi => {
            let m = Match::CtOrigDport(PortRange { lo, hi });
            Some(Ok((Step::Match(m), 1 + used)))
        }
        _ => Some(Err(at.fail(
            1,
            "ct original proto-dst compared with something not a port",
        ))),
    }
}
