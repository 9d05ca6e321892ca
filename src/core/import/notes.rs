//! The notes of an import: what was left out, added or approximated. Bounded: a note said
//! twice is kept once, and past [`NOTES_KEPT`] they are only counted.

use std::collections::HashSet;
use std::hash::{DefaultHasher, Hash, Hasher};

/// The most notes an import keeps (in the policy's header and on stderr).
pub(super) const NOTES_KEPT: usize = 100;

#[derive(Debug, Clone, Default)]
pub(super) struct Notes {
    kept: Vec<String>,
    /// hashes of every note met, kept or not: a repeat is dropped
    seen: HashSet<u64>,
    /// distinct notes past [`NOTES_KEPT`]
    omitted: usize,
}

impl Notes {
    pub(super) fn push(&mut self, note: String) {
        let mut h = DefaultHasher::new();
        note.hash(&mut h);
        if !self.seen.insert(h.finish()) {
            return;
        }
        if self.kept.len() < NOTES_KEPT {
            self.kept.push(note);
        } else {
            self.omitted += 1;
        }
    }

    pub(super) fn extend(&mut self, notes: impl IntoIterator<Item = String>) {
        notes.into_iter().for_each(|n| self.push(n));
    }

    pub(super) fn iter(&self) -> impl Iterator<Item = &String> {
        self.kept.iter()
    }

    /// The notes kept, and one saying how many more there were.
    pub(super) fn into_vec(self) -> Vec<String> {
        let mut v = self.kept;
        if self.omitted > 0 {
            v.push(format!(
                "… and {} more notes like these, not listed",
                crate::core::diag::thousands(self.omitted)
            ));
        }
        v
    }
}

/// The first `shown` of `items`, comma-separated, and how many more: a note that names a
/// bounded number of lines or entries, however many there are.
pub(super) fn first_of<T: std::fmt::Display>(items: &[T], shown: usize) -> String {
    let mut list = items
        .iter()
        .take(shown)
        .map(T::to_string)
        .collect::<Vec<_>>()
        .join(", ");
    if items.len() > shown {
        list.push_str(&format!(" and {} more", items.len() - shown));
    }
    list
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_list_names_the_first_and_counts_the_rest() {
        assert_eq!(first_of(&[1, 2, 3], 5), "1, 2, 3");
        assert_eq!(first_of(&[1, 2, 3, 4], 2), "1, 2 and 2 more");
        assert_eq!(first_of::<u8>(&[], 2), "");
    }

    #[test]
    fn repeats_are_dropped_and_the_rest_counted() {
        let mut n = Notes::default();
        for i in 0..1000 {
            n.push(format!("line {}: note", i % 300));
        }
        let v = n.into_vec();
        assert_eq!(v.len(), NOTES_KEPT + 1);
        assert_eq!(v[0], "line 0: note");
        assert_eq!(v[NOTES_KEPT], "… and 200 more notes like these, not listed");
    }
}
