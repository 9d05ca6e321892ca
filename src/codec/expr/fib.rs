//! The routing table's type of a packet's source or destination address: `fib daddr type
//! local` (`AddrType`), `fib saddr type != broadcast` — iptables' `-m addrtype`. rustables
//! 0.9 has no fib: the load is our own bytes, the comparison rustables'.
//!
//! nft: `[ fib daddr type => reg 1 ] [ cmp eq reg 1 0x00000002 ]` (the type, an `RTN_*`
//! value, is a u32 in host order in the register)

use rustables::expr::{Cmp, CmpOp};

use super::prim::{cmp_of, own};
use super::{At, Decoding, Expr, Step};
use crate::codec::nft::{
    NFT_CMP_EQ, NFT_CMP_NEQ, NFT_FIB_RESULT_ADDRTYPE, NFT_REG_1, NFTA_FIB_DREG, NFTA_FIB_F_DADDR,
    NFTA_FIB_F_SADDR, NFTA_FIB_FLAGS, NFTA_FIB_RESULT,
};
use crate::codec::wire::{Attrs, attr, be32};
use crate::core::plan::Match;

/// The `fib` expression's data: the type of the destination (`dst`) or source address.
fn data(d: &mut Attrs, dst: bool) {
    let flags = if dst {
        NFTA_FIB_F_DADDR
    } else {
        NFTA_FIB_F_SADDR
    };
    d.be32(NFTA_FIB_DREG, NFT_REG_1)
        .be32(NFTA_FIB_RESULT, NFT_FIB_RESULT_ADDRTYPE)
        .be32(NFTA_FIB_FLAGS, flags);
}

/// The load, as one list element.
pub(super) fn encode_load(list: &mut Attrs, dst: bool) {
    own(list, "fib", |d| data(d, dst));
}

/// The comparison after the load.
pub(super) fn encode_cmp(rule: &mut rustables::Rule, ty: u8, not: bool) {
    let op = if not { CmpOp::Neq } else { CmpOp::Eq };
    rule.add_expr(Cmp::new(op, u32::from(ty).to_ne_bytes().to_vec()));
}

/// A fib's data → whether it looks up the destination, or what statewall does not write.
fn read(d: &[u8]) -> Result<bool, &'static str> {
    if attr(d, NFTA_FIB_RESULT).and_then(be32) != Some(NFT_FIB_RESULT_ADDRTYPE) {
        return Err("fib of something other than the address type");
    }
    match attr(d, NFTA_FIB_FLAGS).and_then(be32) {
        Some(NFTA_FIB_F_DADDR) => Ok(true),
        Some(NFTA_FIB_F_SADDR) => Ok(false),
        _ => Err("fib flags statewall does not write (an interface, a mark)"),
    }
}

pub(super) fn decode(at: &At) -> Decoding {
    let Some(Expr::Other { name, data }) = at.get(0) else {
        return None;
    };
    if name != "fib" {
        return None;
    }
    let dst = match read(data) {
        Ok(dst) => dst,
        Err(why) => return Some(Err(at.fail(0, why))),
    };
    let Some((op, value)) = cmp_of(at.get(1)) else {
        return Some(Err(at.fail(0, "fib type without a comparison")));
    };
    let not = match op {
        NFT_CMP_EQ => false,
        NFT_CMP_NEQ => true,
        _ => return Some(Err(at.fail(1, "fib type compared other than == or !="))),
    };
    let ty = <[u8; 4]>::try_from(value)
        .ok()
        .map(u32::from_ne_bytes)
        .and_then(|t| u8::try_from(t).ok());
    match ty {
        Some(ty) => Some(Ok((Step::Match(Match::AddrType { dst, ty, not }), 2))),
        None => Some(Err(
            at.fail(1, "fib type compared with something not a type")
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_fib_reads_back_as_written_and_a_foreign_one_is_refused() {
        for dst in [false, true] {
            let mut d = Attrs::default();
            data(&mut d, dst);
            assert_eq!(read(&d.0), Ok(dst));
        }
        let mut d = Attrs::default();
        d.be32(NFTA_FIB_DREG, NFT_REG_1)
            .be32(NFTA_FIB_RESULT, NFT_FIB_RESULT_ADDRTYPE)
            .be32(NFTA_FIB_FLAGS, NFTA_FIB_F_DADDR | 8);
        assert!(read(&d.0).is_err(), "daddr . iif");
        let mut d = Attrs::default();
        d.be32(NFTA_FIB_RESULT, 1)
            .be32(NFTA_FIB_FLAGS, NFTA_FIB_F_DADDR);
        assert!(read(&d.0).is_err(), "oif");
    }
}
