//! The kernel's token bucket: `limit rate [over] 12/minute burst 6 packets` (`Limit`), and
//! the same expression as it rides in a per-source meter's dynset (`meter`). rustables 0.9
//! has no limit: it is written in our own bytes.
//!
//! nft: `[ limit rate 12/minute burst 6 type packets flags 0x1 ]` (flags 0x1: over)

use super::prim::own;
use super::{At, Decoding, Expr, Step};
use crate::codec::nft::{
    NFT_LIMIT_F_INV, NFT_LIMIT_PKTS, NFTA_LIMIT_BURST, NFTA_LIMIT_FLAGS, NFTA_LIMIT_RATE,
    NFTA_LIMIT_TYPE, NFTA_LIMIT_UNIT,
};
use crate::codec::wire::{Attrs, attr, be32, be64};
use crate::core::model::{RATE_MAX, Rate, RateUnit};
use crate::core::plan::Match;

/// The `limit` expression's data attributes.
pub(super) fn data(d: &mut Attrs, rate: Rate, over: bool) {
    d.be64(NFTA_LIMIT_RATE, u64::from(rate.n))
        .be64(NFTA_LIMIT_UNIT, rate.unit.secs())
        .be32(NFTA_LIMIT_BURST, rate.burst)
        .be32(NFTA_LIMIT_TYPE, NFT_LIMIT_PKTS)
        .be32(NFTA_LIMIT_FLAGS, if over { NFT_LIMIT_F_INV } else { 0 });
}

/// One `limit` list element.
pub(super) fn encode_own(list: &mut Attrs, rate: Rate, over: bool) {
    own(list, "limit", |d| data(d, rate, over));
}

/// A limit's data → (rate, over), or what statewall does not write in it.
pub(super) fn read(d: &[u8]) -> Result<(Rate, bool), &'static str> {
    let n = attr(d, NFTA_LIMIT_RATE)
        .and_then(be64)
        .ok_or("limit without a rate")?;
    let unit = attr(d, NFTA_LIMIT_UNIT)
        .and_then(be64)
        .ok_or("limit without a unit")?;
    let burst = attr(d, NFTA_LIMIT_BURST).and_then(be32).unwrap_or(0);
    let ty = attr(d, NFTA_LIMIT_TYPE)
        .and_then(be32)
        .unwrap_or(NFT_LIMIT_PKTS);
    let flags = attr(d, NFTA_LIMIT_FLAGS).and_then(be32).unwrap_or(0);
    if ty != NFT_LIMIT_PKTS {
        return Err("limit in bytes (statewall limits packets)");
    }
    let unit = RateUnit::from_secs(unit).ok_or("limit unit other than second … week")?;
    let n = u32::try_from(n)
        .ok()
        .filter(|n| (1..=RATE_MAX).contains(n))
        .ok_or("limit rate out of range")?;
    if burst == 0 || burst > RATE_MAX || flags & !NFT_LIMIT_F_INV != 0 {
        return Err("limit burst or flags statewall does not write");
    }
    Ok((Rate { n, unit, burst }, flags & NFT_LIMIT_F_INV != 0))
}

pub(super) fn decode(at: &At) -> Decoding {
    let Some(Expr::Other { name, data }) = at.get(0) else {
        return None;
    };
    if name != "limit" {
        return None;
    }
    Some(match read(data) {
        Ok((rate, over)) => Ok((Step::Match(Match::Limit { rate, over }), 1)),
        Err(why) => Err(at.fail(0, why)),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_limit_reads_back_as_written_and_a_foreign_one_is_refused() {
        for over in [false, true] {
            let rate = Rate {
                n: 12,
                unit: RateUnit::Minute,
                burst: 6,
            };
            let mut d = Attrs::default();
            data(&mut d, rate, over);
            assert_eq!(read(&d.0), Ok((rate, over)));
        }
        let mut d = Attrs::default();
        d.be64(NFTA_LIMIT_RATE, 3).be64(NFTA_LIMIT_UNIT, 7);
        assert!(read(&d.0).is_err(), "a unit nft cannot show");
        let mut d = Attrs::default();
        d.be64(NFTA_LIMIT_RATE, 3)
            .be64(NFTA_LIMIT_UNIT, 60)
            .be32(NFTA_LIMIT_BURST, 3)
            .be32(NFTA_LIMIT_TYPE, 1);
        assert!(read(&d.0).is_err(), "bytes");
    }
}
