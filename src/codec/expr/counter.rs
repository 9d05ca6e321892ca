//! Every rule's `counter` (statewall counts every rule it writes; one without a counter is
//! someone else's), optionally starting from given values (a rule kept across an apply).
//!
//! nft: `[ counter pkts 0 bytes 0 ]`

use rustables::expr::Counter;

use super::prim::own;
use super::{At, Decoding, Expr, Step};
use crate::codec::nft::{NFTA_COUNTER_BYTES, NFTA_COUNTER_PACKETS};
use crate::codec::wire::Attrs;

pub(super) fn encode(start: Option<(u64, u64)>) -> Counter {
    match start {
        Some((packets, bytes)) => Counter::default()
            .with_nb_packets(packets)
            .with_nb_bytes(bytes),
        None => Counter::default(),
    }
}

/// The same in our own bytes, for the rules rustables cannot write.
pub(super) fn encode_own(list: &mut Attrs, start: Option<(u64, u64)>) {
    own(list, "counter", |d| {
        if let Some((packets, bytes)) = start {
            d.put(NFTA_COUNTER_BYTES, &bytes.to_be_bytes())
                .put(NFTA_COUNTER_PACKETS, &packets.to_be_bytes());
        }
    });
}

pub(super) fn decode(at: &At) -> Decoding {
    let Some(&Expr::Counter { packets, bytes }) = at.get(0) else {
        return None;
    };
    Some(Ok((Step::Counter { packets, bytes }, 1)))
}

#[cfg(test)]
mod tests {
    use super::super::testing::{chain, decode_rustables, rule};
    use super::super::{SetIds, encode as encode_rule};
    use crate::core::plan::Verdict;

    #[test]
    fn a_counter_starts_where_it_is_told() {
        let r = rule(vec![], Verdict::Accept);
        for (start, want) in [(None, (0, 0)), (Some((7, 420)), (7, 420))] {
            let mut obj = rustables::Rule::new(&chain()).unwrap();
            encode_rule(&mut obj, &r, start, &SetIds::new());
            let live = decode_rustables(&obj);
            assert_eq!((live.packets, live.bytes), want);
            assert!(live.rule.is_ok(), "{:?}", live.rule);
        }
    }
}
