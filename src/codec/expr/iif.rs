//! `iif lo`: the input interface's index (only loopback's, which is 1 in every namespace).
//!
//! nft: `[ meta load iif => reg 1 ] [ cmp eq reg 1 0x00000001 ]`

use rustables::expr::{Cmp, CmpOp, Meta, MetaType};

use super::prim::{UNKNOWN_META, meta_eq};
use super::{At, Decoding, Step};
use crate::codec::nft::NFT_META_IIF;
use crate::core::plan::Match;

pub(super) fn encode(rule: &mut rustables::Rule, index: u32) {
    rule.add_expr(Meta::new(MetaType::Iif));
    rule.add_expr(Cmp::new(CmpOp::Eq, index.to_ne_bytes()));
}

pub(super) fn decode(at: &At) -> Decoding {
    Some(
        meta_eq(at, NFT_META_IIF)?.and_then(|v| match <[u8; 4]>::try_from(v) {
            Ok(index) => Ok((Step::Match(Match::Iif(u32::from_ne_bytes(index))), 2)),
            Err(_) => Err(at.fail(0, UNKNOWN_META)),
        }),
    )
}

#[cfg(test)]
mod tests {
    use super::super::testing::{cmp, not_statewalls, roundtrip, rule};
    use super::*;
    use crate::codec::nft::{NFT_CMP_EQ, NFTA_META_KEY};
    use crate::codec::wire::Attrs;
    use crate::core::plan::{LOOPBACK_IFINDEX, Verdict};

    #[test]
    fn iif_round_trips() {
        roundtrip(rule(vec![Match::Iif(LOOPBACK_IFINDEX)], Verdict::Accept));
    }

    #[test]
    fn an_index_of_the_wrong_size_is_not_statewalls() {
        let mut meta = Attrs::default();
        meta.be32(NFTA_META_KEY, NFT_META_IIF);
        let err = not_statewalls(&[("meta", meta), ("cmp", cmp(NFT_CMP_EQ, &[1, 0]))]);
        assert_eq!(err, format!("expression 1 (`meta`): {UNKNOWN_META}"));
    }
}
