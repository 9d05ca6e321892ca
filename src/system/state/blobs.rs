//! `from_file` lists kept once each, by content, beside the records that name them: a
//! record holds `{"blob": <BLAKE3 hash>, "bytes": n}` where the list's text was, the text is
//! `blobs/<hash>`, read back checked against its hash, and collected when no record names it.

use std::collections::HashSet;
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

impl StateDir {
    /// The record a state file's text holds, with the lists it names read from `blobs/`.
    pub(super) fn open_record<T: DeserializeOwned>(
        &self,
        kind: Kind,
        text: &str,
    ) -> Result<T, String> {
        let mut value = open_envelope_value(kind, text)?;
        each_list(&mut value, &mut |list| {
            if list.is_object() {
                *list = Value::String(self.read_blob(list)?);
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

    /// `data` as the JSON a record holds, its long lists written to `blobs/` first and named.
    pub(super) fn record_value<T: Serialize>(&self, data: &T) -> Result<Value, StateError> {
        let mut value = serde_json::to_value(data).expect("state records serialise");
        let mut failed = None;
        let _ = each_list(&mut value, &mut |list| {
            if let Value::String(text) = list
                && text.len() >= BLOB_MIN
            {
                match self.write_blob(text) {
                    Ok(hash) => {
                        *list = serde_json::json!({ "blob": hash, "bytes": text.len() });
                    }
                    Err(e) => {
                        failed = Some(e);
                        return Err(String::new());
                    }
                }
            }
            Ok(())
        });
        match failed {
            Some(e) => Err(e),
            None => Ok(value),
        }
    }

    fn blobs(&self) -> StateDir {
        StateDir {
            root: self.root.clone(),
            path: self.path.join(BLOBS_DIR),
        }
    }

    /// Keeps `text` in `blobs/` under its hash (durably; nothing to write when it is there
    /// already) and returns the hash.
    fn write_blob(&self, text: &str) -> Result<String, StateError> {
        let hash = blake3::hash(text.as_bytes()).to_hex().to_string();
        let blobs = self.blobs();
        if fs::symlink_metadata(blobs.path.join(&hash))
            .is_ok_and(|m| m.is_file() && m.len() == text.len() as u64)
        {
            return Ok(hash);
        }
        let created = !blobs.exists()?;
        blobs.replace_file(&hash, text.as_bytes(), true)?;
        if created {
            self.sync_dir()?;
        }
        Ok(hash)
    }

    /// The list a record names (`{"blob": hash, "bytes": n}`), checked against its hash.
    fn read_blob(&self, named: &Value) -> Result<String, String> {
        let hash = named["blob"]
            .as_str()
            .filter(|h| h.len() == 64 && h.bytes().all(|b| b.is_ascii_hexdigit()))
            .ok_or("a list is named by an invalid hash")?;
        let bytes = named["bytes"].as_u64().ok_or("a list without its size")?;
        let path = self.blobs().path.join(hash);
        let short = &hash[..16];
        let meta = fs::symlink_metadata(&path)
            .map_err(|e| format!("the list {short}… it names cannot be read: {e}"))?;
        if !meta.is_file() || meta.len() != bytes {
            return Err(format!(
                "the list {short}… it names is not the {bytes} bytes it should be"
            ));
        }
        let text = read_nofollow(&path)
            .map_err(|e| e.to_string())?
            .ok_or_else(|| format!("the list {short}… it names is missing"))?;
        if blake3::hash(text.as_bytes()).to_hex().as_str() != hash {
            return Err(format!(
                "the list {short}… it names is damaged (hash mismatch)"
            ));
        }
        Ok(text)
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
            let _ = each_list(&mut value, &mut |list| {
                if let Some(h) = list["blob"].as_str() {
                    named.insert(h.to_string());
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
fn each_list(
    v: &mut Value,
    f: &mut dyn FnMut(&mut Value) -> Result<(), String>,
) -> Result<(), String> {
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

    /// A long list is written once, by content, and named by the records; they read back
    /// whole. A short one stays in the record.
    #[test]
    fn long_lists_are_kept_once_by_content() {
        let dir = scratch("blobs");
        let long: String = (0..10_000)
            .map(|i| format!("10.{}.{}.0/24\n", i / 256, i % 256))
            .collect();
        assert!(long.len() >= BLOB_MIN);
        let rev = revision(&long);
        dir.write(Kind::Confirmed, &rev).unwrap();
        dir.append_revision(&rev).unwrap();
        let blobs = blobs_in(&dir);
        assert_eq!(blobs.len(), 1, "one list, one blob: {blobs:?}");
        assert_eq!(fs::read_to_string(&blobs[0]).unwrap(), long);
        let record = fs::read_to_string(dir.file(Kind::Confirmed)).unwrap();
        assert!(record.len() < 2_000, "the record names the list: {record}");
        assert_eq!(dir.read(Kind::Confirmed).unwrap(), Some(rev.clone()));
        assert_eq!(dir.last_revision().unwrap(), Some(rev));
        // a short list stays inline
        let short = revision("10.0.0.0/8\n");
        dir.write(Kind::Pending, &short).unwrap();
        assert!(
            fs::read_to_string(dir.file(Kind::Pending))
                .unwrap()
                .contains("10.0.0.0/8")
        );
        assert_eq!(blobs_in(&dir).len(), 1);
        let _ = fs::remove_dir_all(dir.root());
    }

    /// A list that was changed, cut short or removed makes the record that names it
    /// corrupt (never a policy compiled from the wrong list).
    #[test]
    fn a_damaged_list_makes_its_record_corrupt() {
        let dir = scratch("blobs-damaged");
        let long = "192.0.2.1\n".repeat(BLOB_MIN / 10 + 1);
        dir.write(Kind::Confirmed, &revision(&long)).unwrap();
        let blob = blobs_in(&dir).remove(0);
        let flipped = long.replacen("192.0.2.1", "192.0.2.9", 1);
        fs::write(&blob, &flipped).unwrap();
        let err = dir
            .read::<crate::core::rollout::Revision>(Kind::Confirmed)
            .unwrap_err();
        assert!(err.to_string().contains("damaged"), "{err}");
        fs::write(&blob, &long[..long.len() - 1]).unwrap();
        let err = dir
            .read::<crate::core::rollout::Revision>(Kind::Confirmed)
            .unwrap_err();
        assert!(err.to_string().contains("bytes it should be"), "{err}");
        fs::remove_file(&blob).unwrap();
        let err = dir
            .read::<crate::core::rollout::Revision>(Kind::Confirmed)
            .unwrap_err();
        assert!(err.to_string().contains("cannot be read"), "{err}");
        let _ = fs::remove_dir_all(dir.root());
    }

    /// Blobs no record names any more go once they are older than the grace period; those
    /// still named, and young ones, stay.
    #[test]
    fn lists_no_record_names_are_collected() {
        let dir = scratch("blobs-gc");
        let list = |n: usize| "198.51.100.7\n".repeat(BLOB_MIN / 13 + 1 + n);
        // more revisions than are kept, each with its own list
        for n in 0..crate::core::rollout::REVISIONS_KEPT + 3 {
            let rev = revision(&list(n));
            dir.write(Kind::Confirmed, &rev).unwrap();
            dir.append_revision(&rev).unwrap();
        }
        let all = blobs_in(&dir);
        assert_eq!(
            all.len(),
            crate::core::rollout::REVISIONS_KEPT + 3,
            "young: all kept"
        );
        let old = std::time::SystemTime::now() - 2 * BLOB_GRACE;
        for b in &all {
            File::options()
                .write(true)
                .open(b)
                .unwrap()
                .set_modified(old)
                .unwrap();
        }
        let rev = revision(&list(0));
        dir.append_revision(&rev).unwrap();
        // the kept revisions name lists 4.. and 0 (the last one again)
        let left = blobs_in(&dir);
        assert_eq!(left.len(), crate::core::rollout::REVISIONS_KEPT, "{left:?}");
        for n in 4..crate::core::rollout::REVISIONS_KEPT + 3 {
            let hash = blake3::hash(list(n).as_bytes()).to_hex().to_string();
            assert!(left.iter().any(|p| p.ends_with(&hash)), "list {n} is named");
        }
        assert_eq!(
            dir.revisions().unwrap().len(),
            crate::core::rollout::REVISIONS_KEPT
        );
        let _ = fs::remove_dir_all(dir.root());
    }

    /// Accepting writes the record, the cache and the history, the list once.
    #[test]
    fn accepting_writes_record_cache_and_history() {
        use crate::core::store::Store;
        let dir = scratch("blobs-accept");
        let long = "203.0.113.9\n".repeat(BLOB_MIN / 12 + 1);
        let rev = revision(&long);
        let (record, history) = dir.accept_revision(&rev, b"cache");
        assert!(record.is_ok() && history.is_ok());
        assert_eq!(dir.read(Kind::Confirmed).unwrap(), Some(rev.clone()));
        assert_eq!(dir.last_revision().unwrap(), Some(rev));
        assert_eq!(Store::read_set_cache(&dir).as_deref(), Some(&b"cache"[..]));
        assert_eq!(blobs_in(&dir).len(), 1);
        let _ = fs::remove_dir_all(dir.root());
    }
}
