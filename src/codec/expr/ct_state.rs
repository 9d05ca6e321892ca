//! `ct state established,related`: the connection-tracking state, masked, compared with 0.
//!
//! nft: `[ ct load state => reg 1 ] [ bitwise reg 1 = (reg 1 & mask) ^ 0 ] [ cmp neq reg 1 0 ]`

use rustables::expr::{Bitwise, Cmp, CmpOp, Conntrack, ConntrackKey};

use super::prim::{bitwise_of, cmp_of};
use super::{At, Decoding, Expr, Step};
use crate::codec::nft::{NFT_CMP_NEQ, NFT_CT_STATE};
use crate::core::plan::{CtStates, Match};

pub(super) fn encode(rule: &mut rustables::Rule, states: CtStates) {
    // ct state is host-endian in the register
    rule.add_expr(Conntrack::new(ConntrackKey::State));
    rule.add_expr(Bitwise::new(states.0.to_ne_bytes(), 0u32.to_ne_bytes()).expect("same length"));
    rule.add_expr(Cmp::new(CmpOp::Neq, 0u32.to_ne_bytes()));
}

pub(super) fn decode(at: &At) -> Decoding {
    let Some(Expr::Ct {
        key: NFT_CT_STATE,
        dir: None,
    }) = at.get(0)
    else {
        return None;
    };
    let Some((mask, xor)) = bitwise_of(at.get(1)) else {
        return Some(Err(at.fail(0, "ct state without a bitmask")));
    };
    Some(match (cmp_of(at.get(2)), <[u8; 4]>::try_from(mask)) {
        (Some((NFT_CMP_NEQ, zero)), Ok(m))
            if zero == [0; 4] && xor == [0; 4] && known_ct_states(&m) =>
        {
            Ok((
                Step::Match(Match::CtState(CtStates(u32::from_ne_bytes(m)))),
                3,
            ))
        }
        _ => Err(at.fail(0, "unexpected ct state comparison")),
    })
}

/// Whether a `ct state` mask names only states statewall renders (others would vanish
/// from the rendered rule, and so from the drift fingerprint).
fn known_ct_states(mask: &[u8; 4]) -> bool {
    let known = CtStates::INVALID
        | CtStates::ESTABLISHED
        | CtStates::RELATED
        | CtStates::NEW
        | CtStates::UNTRACKED;
    u32::from_ne_bytes(*mask) & !known == 0
}

#[cfg(test)]
mod tests {
    use super::super::testing::{cmp, ct_load, mask4, not_statewalls, roundtrip, rule};
    use super::*;
    use crate::core::plan::Verdict;

    #[test]
    fn ct_states_round_trip() {
        for states in [CtStates::ESTABLISHED | CtStates::RELATED, CtStates::NEW] {
            roundtrip(rule(
                vec![Match::CtState(CtStates(states))],
                Verdict::Accept,
            ));
        }
    }

    #[test]
    fn a_state_statewall_does_not_write_or_a_bare_load_is_not_statewalls() {
        let ct = || ct_load(NFT_CT_STATE);
        let mask = mask4;
        // bit 5 is a state statewall never writes (and would not render)
        let err = not_statewalls(&[
            ("ct", ct()),
            ("bitwise", mask(CtStates::NEW | 1 << 5)),
            ("cmp", cmp(NFT_CMP_NEQ, &[0; 4])),
        ]);
        assert_eq!(err, "expression 1 (`ct`): unexpected ct state comparison");
        let err = not_statewalls(&[("ct", ct()), ("cmp", cmp(NFT_CMP_NEQ, &[0; 4]))]);
        assert_eq!(err, "expression 1 (`ct`): ct state without a bitmask");
    }
}
