//! Interface wildcards: `iifname "br-*"` (`IifWild`) and `oifname "eth*"` (`OifWild`). nft
//! compares only the bytes before the `*`, without the trailing NUL, so every name that
//! starts with them matches.
//!
//! nft: `[ meta load iifname => reg 1 ] [ cmp eq reg 1 0x002d7262 ]` (3 bytes: `br-`)

use rustables::expr::{Cmp, CmpOp, Meta, MetaType};

use super::prim::meta_eq;
use super::{At, Decoding, Step};
use crate::codec::nft::{NFT_META_IIFNAME, NFT_META_OIFNAME};
use crate::core::plan::{Match, ifname_bytes};

/// The prefix of a wildcard: the bytes before the first NUL.
fn prefix(name: &[u8; 16]) -> &[u8] {
    let end = name.iter().position(|&c| c == 0).unwrap_or(16);
    &name[..end]
}

pub(super) fn encode(rule: &mut rustables::Rule, name: [u8; 16], out: bool) {
    rule.add_expr(Meta::new(if out {
        MetaType::OifName
    } else {
        MetaType::IifName
    }));
    rule.add_expr(Cmp::new(CmpOp::Eq, prefix(&name).to_vec()));
}

/// A name comparison shorter than IFNAMSIZ is a wildcard; a full one is left to `iifname`
/// and `oif`.
pub(super) fn decode(at: &At) -> Decoding {
    for (key, out) in [(NFT_META_IIFNAME, false), (NFT_META_OIFNAME, true)] {
        let Some(found) = meta_eq(at, key) else {
            continue;
        };
        let v = match found {
            Ok(v) if !v.is_empty() && v.len() < 16 && !v.contains(&0) => v,
            _ => return None,
        };
        let name = ifname_bytes(std::str::from_utf8(v).ok()?);
        let m = if out {
            Match::OifWild(name)
        } else {
            Match::IifWild(name)
        };
        return Some(Ok((Step::Match(m), 2)));
    }
    None
}

#[cfg(test)]
mod tests {
    use super::super::testing::{roundtrip, rule};
    use crate::core::plan::{Verdict, ifname_match};

    #[test]
    fn wildcards_round_trip() {
        roundtrip(rule(vec![ifname_match("br-*", false)], Verdict::Accept));
        roundtrip(rule(vec![ifname_match("eth*", true)], Verdict::Drop));
        roundtrip(rule(
            vec![ifname_match("veth*", false), ifname_match("eth0", true)],
            Verdict::Accept,
        ));
    }
}
