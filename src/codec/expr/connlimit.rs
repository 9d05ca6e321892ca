//! A connection count (`connections` on an allow): for the entry as a whole `ct count over
//! 3` (`CtCount`: the expression keeps its own list of the connections that passed it), per
//! source `add @conn4_<entry> { ip saddr ct count over 3 }`, IPv6 sources by their prefix
//! `add @conn6_<entry> { ip6 saddr & ffff:ffff:ffff:ffff:: ct count over 3 }` (`ConnMeter`:
//! a list per source in the entry's own dynamic set). Both match when there are more than
//! the count, the packet's own connection included (`flags 1`: over). The family check, the
//! load and the mask are rustables' (`meter::encode_key`); the connlimit and the dynset that
//! carries one are our own bytes (rustables 0.9 has neither).
//!
//! nft: `[ connlimit count 3 flags 1 ]`; `[ meta load nfproto => reg 1 ] [ cmp eq reg 1
//! 0x00000002 ] [ payload load 4b @ network header + 12 => reg 1 ] [ dynset add reg_key 1
//! set conn4_ssh expr [ connlimit count 3 flags 1 ] ]` (a dynset that adds, where a meter's
//! updates: an element's connection list is never renewed, only kept while it holds any).

use super::prim::own;
use super::{At, Decoding, Expr, SetIds, Step};
use crate::codec::nft::{
    NFT_CONNLIMIT_F_INV, NFT_DYNSET_OP_ADD, NFT_REG_1, NFTA_CONNLIMIT_COUNT, NFTA_CONNLIMIT_FLAGS,
    NFTA_DYNSET_EXPR, NFTA_DYNSET_OP, NFTA_DYNSET_SET_ID, NFTA_DYNSET_SET_NAME,
    NFTA_DYNSET_SREG_KEY, NFTA_EXPR_DATA, NFTA_EXPR_NAME,
};
use crate::codec::wire::{Attrs, attr, be32, string};
use crate::core::model::CONN_MAX;
use crate::core::plan::{Match, SetKind, set_name};

/// The `connlimit` expression's data attributes: more than `max` (inverted).
fn data(d: &mut Attrs, max: u32) {
    d.be32(NFTA_CONNLIMIT_COUNT, max)
        .be32(NFTA_CONNLIMIT_FLAGS, NFT_CONNLIMIT_F_INV);
}

/// A connlimit's data → its count, or what statewall does not write in it.
fn read(d: &[u8]) -> Result<u32, &'static str> {
    let max = attr(d, NFTA_CONNLIMIT_COUNT)
        .and_then(be32)
        .ok_or("connlimit without a count")?;
    let flags = attr(d, NFTA_CONNLIMIT_FLAGS).and_then(be32).unwrap_or(0);
    if flags != NFT_CONNLIMIT_F_INV {
        return Err("connlimit that matches up to its count (statewall writes `over`)");
    }
    if !(1..=CONN_MAX).contains(&max) {
        return Err("connlimit count out of range");
    }
    Ok(max)
}

/// One standalone `connlimit` list element (`ct count over <max>`).
pub(super) fn encode_own(list: &mut Attrs, max: u32) {
    own(list, "connlimit", |d| data(d, max));
}

/// The dynset that adds the source's key to `set` with its connection list, as one list
/// element (after [`super::meter::encode_key`]).
pub(super) fn encode_dynset(list: &mut Attrs, set: &str, set_ids: &SetIds, max: u32) {
    own(list, "dynset", |d| {
        d.str(NFTA_DYNSET_SET_NAME, set);
        if let Some(id) = set_ids.get(set) {
            d.be32(NFTA_DYNSET_SET_ID, *id);
        }
        d.be32(NFTA_DYNSET_OP, NFT_DYNSET_OP_ADD)
            .be32(NFTA_DYNSET_SREG_KEY, NFT_REG_1);
        d.nest(NFTA_DYNSET_EXPR, |e| {
            e.str(NFTA_EXPR_NAME, "connlimit")
                .nest(NFTA_EXPR_DATA, |c| data(c, max));
        });
    });
}

/// A standalone connlimit (`CtCount`), or a source key and a dynset carrying one
/// (`ConnMeter`); None for anything else (a meter's dynset carries a limit).
pub(super) fn decode(at: &At) -> Decoding {
    if let Some(Expr::Other { name, data }) = at.get(0)
        && name == "connlimit"
    {
        return Some(match read(data) {
            Ok(max) => Ok((Step::Match(Match::CtCount { max }), 1)),
            Err(why) => Err(at.fail(0, why)),
        });
    }
    let (v6, prefix, k, data) = match super::meter::decode_key(at)? {
        Ok(x) => x,
        Err(_) => return None,
    };
    let expr = attr(data, NFTA_DYNSET_EXPR)?;
    if attr(expr, NFTA_EXPR_NAME).map(string).as_deref() != Some("connlimit") {
        return None;
    }
    let max = match read(attr(expr, NFTA_EXPR_DATA).unwrap_or_default()) {
        Ok(max) => max,
        Err(why) => return Some(Err(at.fail(k, why))),
    };
    if attr(data, NFTA_DYNSET_OP).and_then(be32) != Some(NFT_DYNSET_OP_ADD) {
        return Some(Err(
            at.fail(k, "a connection count's dynset that does not add")
        ));
    }
    let kind = if v6 { SetKind::Conn6 } else { SetKind::Conn4 };
    let set = attr(data, NFTA_DYNSET_SET_NAME)
        .map(string)
        .unwrap_or_default();
    if set != set_name(kind, at.comment()) {
        return Some(Err(at.fail(
            k,
            format!("connection count set {set} is not the entry's own"),
        )));
    }
    let m = Match::ConnMeter { v6, prefix, max };
    Some(Ok((Step::Match(m), k + 1)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_count_reads_back_as_written_and_one_statewall_does_not_write_is_refused() {
        let mut d = Attrs::default();
        data(&mut d, 3);
        assert_eq!(read(&d.0), Ok(3));
        let mut d = Attrs::default();
        d.be32(NFTA_CONNLIMIT_COUNT, 3);
        assert!(read(&d.0).is_err(), "up to 3 (not inverted)");
        let mut d = Attrs::default();
        d.be32(NFTA_CONNLIMIT_COUNT, 0)
            .be32(NFTA_CONNLIMIT_FLAGS, NFT_CONNLIMIT_F_INV);
        assert!(read(&d.0).is_err(), "over 0");
        assert!(read(&[]).is_err(), "no count");
    }
}
