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

/// Whether no two of the intervals (kind, lo, hi) of one kind overlap.
pub(super) fn all_disjoint(spans: &[(u8, u128, u128)]) -> bool {
    disjoint(spans.len(), |i| spans[i])
}

/// Whether no two of the `n` intervals `at(0)`, … `at(n - 1)` (kind, lo, hi) of one kind
/// overlap, without a copy of them. Lists are usually in order with a few lines out of
/// place (one line of a sorted list changed): those are set aside while the rest is checked
/// in one scan, then sorted among themselves and looked up in the rest by binary search.
/// Linear for a list in order, O(n log n) at worst.
pub(super) fn disjoint(n: usize, at: impl Fn(usize) -> (u8, u128, u128)) -> bool {
    // `a` ends before `b` starts (intervals of another kind are apart by their kind)
    let before = |a: (u8, u128, u128), b: (u8, u128, u128)| (a.0, a.2) < (b.0, b.1);
    // the items in order so far, by index: 0..i until the first item out of place
    let mut run: Option<Vec<usize>> = None;
    let mut strays: Vec<usize> = Vec::new();
    let mut last: Option<usize> = None;
    for i in 0..n {
        let cur = at(i);
        let Some(l) = last else {
            last = Some(i);
            continue;
        };
        if before(at(l), cur) {
            if let Some(r) = &mut run {
                r.push(i);
            }
            last = Some(i);
            continue;
        }
        let r = run.get_or_insert_with(|| (0..i).collect());
        // out of place: this item, or the last one when this one follows the one before it
        let prev = r.len().checked_sub(2).map(|k| at(r[k]));
        if prev.is_none_or(|p| before(p, cur)) {
            strays.push(r.pop().expect("the run holds the last item"));
            r.push(i);
            last = Some(i);
        } else {
            strays.push(i);
        }
    }
    if strays.is_empty() {
        return true;
    }
    let run = run.unwrap_or_default();
    strays.sort_unstable_by_key(|&i| {
        let s = at(i);
        (s.0, s.1)
    });
    if strays.windows(2).any(|w| !before(at(w[0]), at(w[1]))) {
        return false;
    }
    // the run is in order and disjoint: only its last item starting at or before a stray's
    // end can overlap it
    strays.iter().all(|&i| {
        let s = at(i);
        let k = run.partition_point(|&j| {
            let r = at(j);
            (r.0, r.1) <= (s.0, s.2)
        });
        k == 0 || {
            let r = at(run[k - 1]);
            r.0 != s.0 || r.2 < s.1
        }
    })
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

    /// The run-and-strays check says what comparing every pair says, for lists in order,
    /// nearly in order, reversed and shuffled, of two kinds.
    #[test]
    fn disjoint_agrees_with_every_pair() {
        let mut rnd = crate::core::test_rng(0x2545_f491_4f6c_dd1d);
        let brute = |v: &[(u8, u128, u128)]| {
            (0..v.len())
                .all(|i| (0..i).all(|j| v[i].0 != v[j].0 || v[i].2 < v[j].1 || v[j].2 < v[i].1))
        };
        let mut seen = [0usize; 2];
        for round in 0..4000 {
            let n = 1 + rnd(40) as usize;
            let mut v: Vec<(u8, u128, u128)> = Vec::new();
            let mut lo = 0u128;
            for _ in 0..n {
                lo += u128::from(rnd(6));
                let hi = lo + u128::from(rnd(3));
                v.push((if rnd(8) == 0 { 6 } else { 4 }, lo, hi));
                lo = hi + 1;
            }
            match round % 4 {
                0 => {}
                1 => {
                    for _ in 0..1 + rnd(3) {
                        let i = rnd(n as u64) as usize;
                        v[i].1 = u128::from(rnd(200));
                        v[i].2 = v[i].1 + u128::from(rnd(3));
                    }
                }
                2 => v.reverse(),
                _ => {
                    for i in (1..n).rev() {
                        v.swap(i, rnd(i as u64 + 1) as usize);
                    }
                }
            }
            let want = brute(&v);
            seen[usize::from(want)] += 1;
            assert_eq!(all_disjoint(&v), want, "{v:?}");
        }
        assert!(seen[0] > 200 && seen[1] > 2000, "{seen:?}");
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
