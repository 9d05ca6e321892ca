//! Disjoint intervals kept in order, to find duplicates and overlaps in long lists (of ports,
//! of networks) in O(n log n).

use std::collections::BTreeMap;
use std::ops::Range;

/// Disjoint intervals kept so far, keyed by (kind, start) → (end, index in the list). The
/// kind keeps apart intervals that never overlap (IPv4 and IPv6 networks).
#[derive(Default)]
pub(super) struct Kept(BTreeMap<(u8, u128), (u128, usize)>);

impl Kept {
    pub(super) fn insert(&mut self, kind: u8, lo: u128, hi: u128, index: usize) {
        self.0.insert((kind, lo), (hi, index));
    }

    /// The smallest list index among kept intervals overlapping [lo, hi].
    pub(super) fn first_overlap(&self, kind: u8, lo: u128, hi: u128) -> Option<usize> {
        // Disjoint and ordered: the overlapping ones are the last few starting at or before
        // `hi`; walking back stops at the first that ends before `lo`.
        self.0
            .range((kind, 0)..=(kind, hi))
            .rev()
            .take_while(|(_, (end, _))| *end >= lo)
            .map(|(_, (_, idx))| *idx)
            .min()
    }
}

/// Whether no two of the intervals (kind, lo, hi) of one kind overlap: a scan when they are
/// in order already (lists usually are), else a sort and a scan. Linear or n·log n.
pub(super) fn all_disjoint(spans: &[(u8, u128, u128)]) -> bool {
    let clean = |order: &mut dyn Iterator<Item = (u8, u128, u128)>| {
        let mut prev: Option<(u8, u128, u128)> = None;
        for cur in order {
            if let Some(p) = prev
                && p.0 == cur.0
                && p.2 >= cur.1
            {
                return false;
            }
            prev = Some(cur);
        }
        true
    };
    if spans
        .windows(2)
        .all(|w| (w[0].0, w[0].1) <= (w[1].0, w[1].1))
    {
        return clean(&mut spans.iter().copied());
    }
    let mut sorted = spans.to_vec();
    // stable: lists are mostly in order, and a stable sort merges sorted runs in linear time
    sorted.sort_by_key(|s| (s.0, s.1));
    clean(&mut sorted.into_iter())
}

/// The items of a list (with their spans) whose interval overlaps no earlier kept one, in
/// listing order. Each other item is passed to `clash`, with the earliest-listed kept item
/// that it overlaps: `clash(earlier, later)`.
pub(super) fn keep_disjoint<T>(
    items: Vec<(T, Range<usize>)>,
    interval: impl Fn(&T) -> (u8, u128, u128),
    mut clash: impl FnMut(&(T, Range<usize>), &(T, Range<usize>)),
) -> Vec<(T, Range<usize>)> {
    // The common case, a list without overlaps, is one sort (none when it is already in
    // order) and one scan; only a list with an overlap pays for the ordered map below.
    let spans: Vec<(u8, u128, u128)> = items.iter().map(|it| interval(&it.0)).collect();
    if all_disjoint(&spans) {
        return items;
    }
    let mut kept = Kept::default();
    let mut keep = Vec::with_capacity(items.len());
    for (i, item) in items.iter().enumerate() {
        let (kind, lo, hi) = spans[i];
        match kept.first_overlap(kind, lo, hi) {
            None => {
                kept.insert(kind, lo, hi, i);
                keep.push(true);
            }
            Some(j) => {
                clash(&items[j], item);
                keep.push(false);
            }
        }
    }
    items
        .into_iter()
        .zip(keep)
        .filter_map(|(item, k)| k.then_some(item))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_first_listed_overlap_is_found() {
        let mut k = Kept::default();
        k.insert(0, 10, 20, 3);
        k.insert(0, 30, 40, 1);
        k.insert(4, 10, 20, 0);
        assert_eq!(k.first_overlap(0, 15, 35), Some(1));
        assert_eq!(k.first_overlap(0, 21, 29), None);
        assert_eq!(k.first_overlap(0, 20, 20), Some(3));
        assert_eq!(k.first_overlap(6, 0, 100), None);
    }

    #[test]
    fn overlapping_items_are_reported_and_dropped() {
        let items = vec![(1u8, 0..1), (2, 1..2), (1, 2..3), (3, 3..4)];
        let mut clashes = Vec::new();
        let kept = keep_disjoint(
            items,
            |&n| (0, u128::from(n), u128::from(n)),
            |a, b| clashes.push((a.1.start, b.1.start)),
        );
        assert_eq!(kept, [(1, 0..1), (2, 1..2), (3, 3..4)]);
        assert_eq!(clashes, [(0, 2)]);
    }
}
