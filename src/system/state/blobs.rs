//! `from_file` lists kept beside the records that name them, in pieces kept once each by
//! content: a record holds `{"pieces": [<BLAKE3 hash>, …], "bytes": n}` where the list's text
//! was, each piece is `blobs/<hash>`, read back checked against its hash, and collected when
//! no record names it. A changed line writes the piece it is in, not the whole list.

use std::collections::{BTreeMap, HashSet};
use std::fs;
use std::path::PathBuf;

use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::Value;

use super::{StateDir, StateError, read_nofollow};
use crate::core::store::{Kind, envelope_value, from_record, open_envelope_value};

/// Where `from_file` lists of [`BLOB_MIN`] bytes or more are kept, once each, by content.
const BLOBS_DIR: &str = "blobs";

/// `from_file` lists of this size or more are kept once, by content, in `blobs/` (named by
/// their BLAKE3 hash), and records name them instead of holding them: a changed
/// 100,000-line list is written once per apply, not once per record, and never escaped
/// into JSON. Smaller lists stay in the record.
pub const BLOB_MIN: usize = 64 << 10;

/// A blob no record names is deleted once it is this old (a command that writes a blob
/// writes the record naming it right after, under the lock; the margin covers a boot, which
/// goes on without the lock when it cannot take it).
const BLOB_GRACE: std::time::Duration = std::time::Duration::from_secs(60);

/// A list is cut into pieces of at least this many bytes (but the last)...
const PIECE_MIN: usize = 32 << 10;
/// ... and at most this many (but a longer single line).
const PIECE_MAX: usize = 256 << 10;

/// The pieces a list is kept in: each ends at the end of a line that its last bytes choose
/// (one in 64), at least [`PIECE_MIN`] bytes in, or at [`PIECE_MAX`]. The cuts depend on
/// the text around them only, so a changed line changes the piece it is in (and perhaps the
/// next), and the pieces before and after it stay the files they were.
fn pieces(text: &[u8]) -> Vec<&[u8]> {
    let mut out = Vec::new();
    let mut start = 0;
    while start < text.len() {
        let mut end = start + PIECE_MIN;
        loop {
            let Some(nl) = text
                .get(end..)
                .and_then(|t| t.iter().position(|&b| b == b'\n'))
            else {
                end = text.len();
                break;
            };
            end += nl + 1;
            let tail = &text[end.saturating_sub(8)..end];
            let word = tail.iter().fold(0u64, |w, &b| w << 8 | u64::from(b));
            if end - start >= PIECE_MAX || word.wrapping_mul(0x9e37_79b9_7f4a_7c15) >> 58 == 0 {
                break;
            }
        }
        let end = end.min(text.len());
        out.push(&text[start..end]);
        start = end;
    }
    out
}

impl StateDir {
    /// The record a state file's text holds, with the lists it names read from `blobs/`.
    pub(super) fn open_record<T: DeserializeOwned>(
        &self,
        kind: Kind,
        text: &str,
    ) -> Result<T, String> {
        let mut value = open_envelope_value(kind, text)?;
        each_list::<String>(&mut value, &mut |list| {
            if list.is_object() {
                *list = Value::String(self.read_list(list)?);
            }
            Ok(())
        })?;
        from_record(value)
    }

    /// A state file's text holding `data`, its long lists written to `blobs/` first.
    pub(super) fn record_text<T: Serialize>(
        &self,
        kind: Kind,
        data: &T,
    ) -> Result<String, StateError> {
        Ok(envelope_value(kind, self.record_value(data)?))
    }

    /// `rev` as the JSON a record holds, with `files` as its lists (the long ones written to
    /// `blobs/` straight from `files`, never copied into the JSON).
    pub(super) fn record_with_lists(
        &self,
        rev: &crate::core::rollout::Revision,
        files: &BTreeMap<String, String>,
    ) -> Result<Value, StateError> {
        let mut value = serde_json::to_value(rev).expect("state records serialise");
        if files.is_empty() {
            if let Value::Object(m) = &mut value {
                m.remove("files");
            }
            return Ok(value);
        }
        let mut lists = serde_json::Map::new();
        for (name, text) in files {
            let list = if text.len() >= BLOB_MIN {
                self.write_list(text)?
            } else {
                Value::String(text.clone())
            };
            lists.insert(name.clone(), list);
        }
        if let Value::Object(m) = &mut value {
            m.insert("files".into(), Value::Object(lists));
        }
        Ok(value)
    }

    /// `data` as the JSON a record holds, its long lists written to `blobs/` first and named.
    pub(super) fn record_value<T: Serialize>(&self, data: &T) -> Result<Value, StateError> {
        let mut value = serde_json::to_value(data).expect("state records serialise");
        each_list::<StateError>(&mut value, &mut |list| {
            if let Value::String(text) = list
                && text.len() >= BLOB_MIN
            {
                let named = self.write_list(text)?;
                *list = named;
            }
            Ok(())
        })?;
        Ok(value)
    }

    fn blobs(&self) -> StateDir {
        StateDir {
            root: self.root.clone(),
            path: self.path.join(BLOBS_DIR),
            hint_args: String::new(),
            lifetime: None,
        }
    }

    /// Keeps `text` in `blobs/`, durably, as pieces ([`pieces`]) each under its hash (a
    /// piece already there is not written again: a changed line of a long list writes the
    /// piece it is in), and returns what a record holds instead: the pieces' hashes in order
    /// and the length.
    fn write_list(&self, text: &str) -> Result<Value, StateError> {
        let blobs = self.blobs();
        let created = !blobs.exists()?;
        let mut names = Vec::new();
        let mut wrote = false;
        for piece in pieces(text.as_bytes()) {
            let hash = blake3::hash(piece).to_hex().to_string();
            if !fs::symlink_metadata(blobs.path.join(&hash))
                .is_ok_and(|m| m.is_file() && m.len() == piece.len() as u64)
            {
                blobs.replace_file_synced(&hash, piece)?;
                wrote = true;
            }
            names.push(Value::String(hash));
        }
        if wrote {
            blobs.sync_dir()?;
        }
        if created {
            self.sync_dir()?;
        }
        Ok(serde_json::json!({ "pieces": names, "bytes": text.len() }))
    }

    /// The list a record names (`{"pieces": [hash, …], "bytes": n}`), each piece checked
    /// against its hash and the whole against its length.
    fn read_list(&self, named: &Value) -> Result<String, String> {
        let bytes = named["bytes"].as_u64().ok_or("a list without its size")?;
        let hashes = named["pieces"]
            .as_array()
            .ok_or("a list named without its pieces")?;
        let mut text = Vec::with_capacity(usize::try_from(bytes).unwrap_or(0).min(64 << 20));
        let blobs = self.blobs();
        for h in hashes {
            let hash = h
                .as_str()
                .filter(|h| h.len() == 64 && h.bytes().all(|b| b.is_ascii_hexdigit()))
                .ok_or("a list piece is named by an invalid hash")?;
            let short = &hash[..16];
            let path = blobs.path.join(hash);
            let meta = fs::symlink_metadata(&path)
                .map_err(|e| format!("the list piece {short}… it names cannot be read: {e}"))?;
            if !meta.is_file() || text.len() as u64 + meta.len() > bytes {
                return Err(format!(
                    "the list piece {short}… it names makes the list longer than its {bytes} bytes"
                ));
            }
            let piece = fs::read(&path)
                .map_err(|e| format!("the list piece {short}… it names cannot be read: {e}"))?;
            if blake3::hash(&piece).to_hex().as_str() != hash {
                return Err(format!(
                    "the list piece {short}… it names is damaged (hash mismatch)"
                ));
            }
            text.extend_from_slice(&piece);
        }
        if text.len() as u64 != bytes {
            return Err(format!(
                "the list it names is not the {bytes} bytes it should be"
            ));
        }
        String::from_utf8(text).map_err(|_| "a list it names is not UTF-8".into())
    }

    /// Deletes the blobs that no record of this scope names any more (past [`BLOB_GRACE`]).
    pub(super) fn collect_blobs(&self) {
        let blobs = self.blobs();
        let Ok(entries) = fs::read_dir(&blobs.path) else {
            return;
        };
        // only blobs past the grace period may go: none, and the records need not be read
        let old: Vec<(String, PathBuf)> = entries
            .flatten()
            .filter(|e| {
                e.metadata()
                    .ok()
                    .and_then(|m| m.modified().ok())
                    .and_then(|t| t.elapsed().ok())
                    .is_some_and(|age| age > BLOB_GRACE)
            })
            .map(|e| (e.file_name().to_string_lossy().into_owned(), e.path()))
            .collect();
        if old.is_empty() {
            return;
        }
        let mut named = HashSet::new();
        let records = [Kind::Confirmed, Kind::Pending, Kind::PendingCopy]
            .iter()
            .map(|k| (*k, self.file(*k)))
            .chain(
                self.revision_files()
                    .unwrap_or_default()
                    .into_iter()
                    .map(|(_, p)| (Kind::Revision, p)),
            );
        for (kind, path) in records {
            let Ok(Some(text)) = read_nofollow(&path) else {
                continue;
            };
            let Ok(mut value) = open_envelope_value(kind, &text) else {
                continue;
            };
            let _ = each_list::<()>(&mut value, &mut |list| {
                for h in list["pieces"].as_array().into_iter().flatten() {
                    if let Some(h) = h.as_str() {
                        named.insert(h.to_string());
                    }
                }
                Ok(())
            });
        }
        for (name, path) in old {
            if !named.contains(&name) {
                let _ = fs::remove_file(path);
            }
        }
    }
}

/// Calls `f` on each list of every `files` object in a record (the `from_file` lists of a
/// revision, a candidate, a previous policy): a string, or the name of a blob.
fn each_list<E>(v: &mut Value, f: &mut dyn FnMut(&mut Value) -> Result<(), E>) -> Result<(), E> {
    match v {
        Value::Object(map) => {
            for (key, child) in map.iter_mut() {
                match child {
                    Value::Object(files) if key == "files" => {
                        for list in files.values_mut() {
                            f(list)?;
                        }
                    }
                    _ => each_list(child, f)?,
                }
            }
        }
        Value::Array(items) => {
            for item in items {
                each_list(item, f)?;
            }
        }
        _ => {}
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::store::Kind;
    use std::fs::File;

    fn scratch(name: &str) -> StateDir {
        let dir = std::env::temp_dir().join(format!("statewall-{name}-{}", std::process::id()));
        let _ = fs::remove_dir_all(&dir);
        StateDir::new(dir)
    }

    fn revision(list: &str) -> crate::core::rollout::Revision {
        crate::core::rollout::Revision {
            policy_text: "[[allow]]\nname = \"bulk\"\ntcp = [22]\nfrom_file = \"l.txt\"\n".into(),
            files: [("l.txt".to_string(), list.to_string())].into(),
            table: "statewall".into(),
            mode: "enforce".into(),
            fingerprint: "f".into(),
            ..Default::default()
        }
    }

    fn blobs_in(dir: &StateDir) -> Vec<PathBuf> {
        let mut v: Vec<PathBuf> = fs::read_dir(dir.path().join(BLOBS_DIR))
            .map(|e| e.flatten().map(|e| e.path()).collect())
            .unwrap_or_default();
        v.sort();
        v
    }

    /// A list of `n` lines of distinct networks (about 13 bytes each), `changed` lines
    /// replaced by another network, one more `extra` line at the end.
    fn list(n: u32, changed: &[u32], extra: bool) -> String {
        let mut s: String = (0..n)
            .map(|i| match changed.contains(&i) {
                true => format!("172.16.{}.{}\n", i / 256, i % 256),
                false => format!("10.{}.{}.0/24\n", i / 256, i % 256),
            })
            .collect();
        if extra {
            s.push_str("192.0.2.77\n");
        }
        s
    }

    /// The hashes a record names for its list, in order.
    fn pieces_named(dir: &StateDir, kind: Kind) -> Vec<String> {
        let text = fs::read_to_string(dir.file(kind)).unwrap();
        let mut v = open_envelope_value(kind, &text).unwrap();
        let mut out = Vec::new();
        each_list::<()>(&mut v, &mut |l| {
            for h in l["pieces"].as_array().into_iter().flatten() {
                out.push(h.as_str().unwrap().to_string());
            }
            Ok(())
        })
        .unwrap();
        out
    }

    /// Cuts fall at line ends the text chooses, within the bounds; the pieces are the text.
    #[test]
    fn pieces_cut_at_line_ends_within_bounds() {
        let text = list(40_000, &[], false);
        let p = pieces(text.as_bytes());
        assert!(p.len() > 4, "{}", p.len());
        assert_eq!(p.concat(), text.as_bytes());
        for (i, piece) in p.iter().enumerate() {
            assert!(piece.ends_with(b"\n"));
            if i + 1 < p.len() {
                assert!(
                    (PIECE_MIN..=PIECE_MAX).contains(&piece.len()),
                    "{}",
                    piece.len()
                );
            }
        }
        // no newline at all, and a short text: one piece each
        let one_line = "x".repeat(PIECE_MAX * 2);
        assert_eq!(pieces(one_line.as_bytes()).len(), 1);
        assert_eq!(pieces(b"10.0.0.1\n").len(), 1);
        assert!(pieces(b"").is_empty());
    }

    /// A long list is kept in pieces, named by the records, and reads back whole; a changed
    /// line writes the piece it is in, the others stay. A short list stays in the record.
    #[test]
    fn long_lists_are_kept_in_pieces_and_a_changed_line_writes_one() {
        let dir = scratch("blobs");
        let long = list(20_000, &[], false);
        assert!(long.len() >= BLOB_MIN);
        let rev = revision(&long);
        dir.write(Kind::Confirmed, &rev).unwrap();
        dir.append_revision(&rev).unwrap();
        let first = blobs_in(&dir);
        assert!(first.len() > 2, "{first:?}");
        assert_eq!(pieces_named(&dir, Kind::Confirmed).len(), first.len());
        let record = fs::read_to_string(dir.file(Kind::Confirmed)).unwrap();
        assert!(
            record.len() < 8_000,
            "the record names the pieces: {record}"
        );
        assert_eq!(dir.read(Kind::Confirmed).unwrap(), Some(rev.clone()));
        assert_eq!(dir.last_revision().unwrap(), Some(rev));
        // one line changed in the middle, one added at the end: at most two pieces each
        let changed = revision(&list(20_000, &[10_000], true));
        dir.write(Kind::Confirmed, &changed).unwrap();
        let added = blobs_in(&dir).len() - first.len();
        assert!((1..=4).contains(&added), "{added} new pieces");
        assert_eq!(dir.read(Kind::Confirmed).unwrap(), Some(changed));
        // a short list stays inline
        let short = revision("10.0.0.0/8\n");
        dir.write(Kind::Pending, &short).unwrap();
        assert!(
            fs::read_to_string(dir.file(Kind::Pending))
                .unwrap()
                .contains("10.0.0.0/8")
        );
        let _ = fs::remove_dir_all(dir.root());
    }

    /// A piece that was changed, cut short or removed makes the record that names it
    /// corrupt (never a policy compiled from the wrong list).
    #[test]
    fn a_damaged_piece_makes_its_record_corrupt() {
        let dir = scratch("blobs-damaged");
        let long = list(12_000, &[], false);
        dir.write(Kind::Confirmed, &revision(&long)).unwrap();
        let named = pieces_named(&dir, Kind::Confirmed);
        let piece = dir.path().join(BLOBS_DIR).join(&named[1]);
        let good = fs::read(&piece).unwrap();
        let mut flipped = good.clone();
        flipped[3] ^= 1;
        fs::write(&piece, &flipped).unwrap();
        let read = || dir.read::<crate::core::rollout::Revision>(Kind::Confirmed);
        assert!(read().unwrap_err().to_string().contains("damaged"));
        fs::write(&piece, &good[..good.len() - 1]).unwrap();
        assert!(read().unwrap_err().to_string().contains("damaged"));
        fs::remove_file(&piece).unwrap();
        assert!(read().unwrap_err().to_string().contains("cannot be read"));
        fs::write(&piece, &good).unwrap();
        assert!(read().is_ok());
        let _ = fs::remove_dir_all(dir.root());
    }

    /// Pieces no record names any more go once they are older than the grace period; those
    /// still named, and young ones, stay.
    #[test]
    fn pieces_no_record_names_are_collected() {
        let dir = scratch("blobs-gc");
        let kept = crate::core::rollout::REVISIONS_KEPT;
        // more revisions than are kept, each with a list of its own (one line differs)
        for n in 0..kept as u32 + 3 {
            let rev = revision(&list(8_000, &[n * 300], false));
            dir.write(Kind::Confirmed, &rev).unwrap();
            dir.append_revision(&rev).unwrap();
        }
        let all = blobs_in(&dir);
        let old = std::time::SystemTime::now() - 2 * BLOB_GRACE;
        for b in &all {
            File::options()
                .write(true)
                .open(b)
                .unwrap()
                .set_modified(old)
                .unwrap();
        }
        dir.append_revision(&revision(&list(8_000, &[0], false)))
            .unwrap();
        let left: HashSet<String> = blobs_in(&dir)
            .iter()
            .map(|p| p.file_name().unwrap().to_string_lossy().into_owned())
            .collect();
        let mut named = HashSet::new();
        named.extend(pieces_named(&dir, Kind::Confirmed));
        for (_, p) in dir.revision_files().unwrap() {
            let text = fs::read_to_string(p).unwrap();
            let mut v = open_envelope_value(Kind::Revision, &text).unwrap();
            each_list::<()>(&mut v, &mut |l| {
                for h in l["pieces"].as_array().into_iter().flatten() {
                    named.insert(h.as_str().unwrap().to_string());
                }
                Ok(())
            })
            .unwrap();
        }
        assert_eq!(left, named, "exactly the pieces still named are left");
        assert!(
            left.len() < all.len(),
            "some went: {} of {}",
            left.len(),
            all.len()
        );
        assert_eq!(dir.revisions().unwrap().len(), kept);
        let _ = fs::remove_dir_all(dir.root());
    }

    /// Accepting writes the record, the cache and the history, the list once, from the lists
    /// given beside the revision.
    #[test]
    fn accepting_writes_record_cache_and_history() {
        use crate::core::store::Store;
        let dir = scratch("blobs-accept");
        let rev = revision(&list(12_000, &[], false));
        // the lists passed beside a revision that has none (an apply's way): written as its
        let bare = crate::core::rollout::Revision {
            files: BTreeMap::new(),
            ..rev.clone()
        };
        let (record, history) = dir.accept_revision(&bare, &rev.files, b"cache");
        assert!(record.is_ok() && history.is_ok());
        assert_eq!(dir.read(Kind::Confirmed).unwrap(), Some(rev.clone()));
        assert_eq!(dir.last_revision().unwrap(), Some(rev));
        assert_eq!(Store::read_set_cache(&dir).as_deref(), Some(&b"cache"[..]));
        assert_eq!(
            blobs_in(&dir).len(),
            pieces_named(&dir, Kind::Confirmed).len()
        );
        let _ = fs::remove_dir_all(dir.root());
    }
}
