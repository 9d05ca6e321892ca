//! How the refusals of the order check name a rank and a block place.

use super::super::flatten::{Flat, Verdict};
use super::Rank;
use crate::core::model::BlockState;

/// A block place as the refusal of a DROP names it.
pub(super) fn place_name(r: Rank, state: Option<BlockState>) -> &'static str {
    match (r, state) {
        (Rank::Block, None) => "first",
        (Rank::BlockEstablished, None) => "after the established rule",
        (Rank::BlockBaseline, None) => "after the baseline",
        (Rank::Allow, None) => "among the allows",
        (Rank::BlockAllows, None) => "after the allows",
        (_, Some(BlockState::New)) => "with state = \"new\"",
        (_, Some(BlockState::Invalid)) => "with state = \"invalid\"",
        (_, Some(BlockState::States(_))) => "with its states",
        _ => "as a drop",
    }
}

pub(super) fn rank_name(r: Rank, f: &Flat) -> &'static str {
    match r {
        Rank::Allow if f.verdict != Verdict::Accept => "a block among the allows",
        Rank::Block => "a block before everything",
        Rank::Established => "an established accept",
        Rank::Invalid => "an invalid drop",
        Rank::BlockEstablished => "a block after the established and invalid rules",
        Rank::Loopback => "the loopback accept",
        Rank::Icmp => "the icmp accept",
        Rank::BlockBaseline => "a block after the baseline",
        Rank::Allow => "an allow",
        Rank::BlockAllows => "a block after the allows",
        Rank::Reject => "a reject",
        Rank::Drop => "a drop",
    }
}
