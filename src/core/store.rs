//! The store and clock seams: where the rollout keeps its records, and what time it is.
//! `system::state::StateDir` and `system::host::SystemClock` are the real ones;
//! [`crate::core::fake`] has in-memory ones for tests.

use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::Value;

use crate::core::members::MemberOp;

/// The records of the state directory.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Kind {
    /// the accepted revision: what boot loads
    Confirmed,
    Pending,
    /// the second copy of the pending record, written before the first
    PendingCopy,
    Rollback,
    /// how many rollbacks there were, by reason
    Rollbacks,
    /// one revision of the history
    Revision,
}

impl Kind {
    pub fn file(self) -> &'static str {
        match self {
            Kind::Confirmed => "confirmed.json",
            Kind::Pending => "pending.json",
            Kind::PendingCopy => "pending.copy.json",
            Kind::Rollback => "rollback.json",
            Kind::Rollbacks => "rollbacks.json",
            Kind::Revision => "revision.json",
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Kind::Confirmed => "confirmed",
            // both copies hold the same record
            Kind::Pending | Kind::PendingCopy => "pending",
            Kind::Rollback => "rollback",
            Kind::Rollbacks => "rollbacks",
            Kind::Revision => "revision",
        }
    }
}

/// A store that failed: unreadable, corrupt, insecure, full. In words.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoreError(pub String);

impl std::fmt::Display for StoreError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for StoreError {}

pub trait Store {
    /// held while it lives
    type Lock;
    /// `Ok(None)` when there is no such record.
    fn read<T: DeserializeOwned>(&self, kind: Kind) -> Result<Option<T>, StoreError>;
    /// Durable when it returns.
    fn write<T: Serialize>(&self, kind: Kind, data: &T) -> Result<(), StoreError>;
    /// No error when it is already gone.
    fn remove(&self, kind: Kind) -> Result<(), StoreError>;
    /// The store's exclusive lock: waits a bounded time for another command to finish,
    /// then says who holds it.
    fn lock(&self) -> Result<Self::Lock, StoreError>;
    /// Appends a revision to the history, which keeps the last
    /// [`REVISIONS_KEPT`](crate::core::rollout::REVISIONS_KEPT).
    fn append_revision(&self, rev: &crate::core::rollout::Revision) -> Result<(), StoreError>;
    /// The revisions kept, oldest first (a damaged one is left out).
    fn revisions(&self) -> Result<Vec<crate::core::rollout::Revision>, StoreError>;
    /// The newest revision that can be read, without reading the others.
    fn last_revision(&self) -> Result<Option<crate::core::rollout::Revision>, StoreError> {
        Ok(self.revisions()?.pop())
    }
    /// The origin (`Origin::as_str`) of the newest revision, cheaply when the store can.
    fn last_revision_origin(&self) -> Option<String> {
        self.last_revision()
            .ok()
            .flatten()
            .map(|r| r.origin.as_str().to_string())
    }
    /// Keeps the accepted plan's sets (`core::setcache`); a cache: failing to write it only
    /// makes the next apply slower.
    fn write_set_cache(&self, bytes: &[u8]);
    /// What accepting a revision writes, in this order: `rev` as the [`Kind::Confirmed`]
    /// record (nothing more when that fails), `cache` as the set cache, `rev` appended to the
    /// history. Returns the record's result and the history's. A store may do it in one pass
    /// over the revision's lists (the state directory hashes a 100,000-line list once).
    ///
    /// The revision's `from_file` lists are `files` (whatever `rev.files` holds is replaced
    /// by them): a caller that has them at hand need not copy megabytes into `rev`.
    fn accept_revision(
        &self,
        rev: &crate::core::rollout::Revision,
        files: &std::collections::BTreeMap<String, String>,
        cache: &[u8],
    ) -> (Result<(), StoreError>, Result<(), StoreError>) {
        let mut full = rev.clone();
        full.files = files.clone();
        if let Err(e) = self.write(Kind::Confirmed, &full) {
            return (Err(e), Ok(()));
        }
        self.write_set_cache(cache);
        (Ok(()), self.append_revision(&full))
    }
    /// The accepted plan's sets as [`write_set_cache`](Self::write_set_cache) kept them.
    fn read_set_cache(&self) -> Option<Vec<u8>>;
    /// Appends changes of live sets' members to their journal; durable when it returns.
    fn append_members(&self, ops: &[MemberOp]) -> Result<(), StoreError>;
    /// Replaces the members journal with `ops` (a snapshot), atomically and durably.
    fn rewrite_members(&self, ops: &[MemberOp]) -> Result<(), StoreError>;
    /// The members journal, in order (lines that cannot be read are skipped); its size in
    /// bytes, so that a growing journal is compacted.
    fn read_members(&self) -> Result<(Vec<MemberOp>, u64), StoreError>;
    /// The members journal's size in bytes (0 when there is none), without reading it.
    fn members_bytes(&self) -> u64;
    /// How the admin types `statewall SUB` to reach this store (`--state-dir` when not the
    /// default), for messages.
    fn command(&self, sub: &str) -> String;
    /// Whether an unusable store may be passed over with a warning by commands that only
    /// look for a pending change in it (the default directory, never one given explicitly).
    fn lenient(&self) -> bool;
}

pub trait Clock {
    /// CLOCK_REALTIME, milliseconds
    fn realtime_ms(&self) -> u64;
    /// CLOCK_BOOTTIME, milliseconds (goes on during suspend; compared with process starts)
    fn boottime_ms(&self) -> u64;
    /// this boot's id (`/proc/sys/kernel/random/boot_id`)
    fn boot_id(&self) -> String;
    /// waits (the guard's poll); a fake clock just moves on
    fn sleep_ms(&self, ms: u64);

    fn now_secs(&self) -> u64 {
        self.realtime_ms() / 1000
    }
}

/// Version of the envelope around every record.
pub const FORMAT: u32 = 1;

/// The state file checksum: FNV-1a of the compact JSON, hex.
pub fn checksum(data: &str) -> String {
    crate::core::identity::hash_hex(data.as_bytes())
}

/// The text of a state file holding `data`.
pub fn envelope<T: Serialize>(kind: Kind, data: &T) -> String {
    envelope_value(
        kind,
        serde_json::to_value(data).expect("state records serialise"),
    )
}

/// [`envelope`] of a record already turned into JSON.
pub fn envelope_value(kind: Kind, value: Value) -> String {
    let compact = serde_json::to_string(&value).expect("json");
    let env = serde_json::json!({
        "statewall_state": FORMAT,
        "kind": kind.name(),
        "checksum": checksum(&compact),
        "data": value,
    });
    let mut s = serde_json::to_string_pretty(&env).expect("json");
    s.push('\n');
    s
}

/// Parses a state file's text; every failure is a message, never a panic.
pub fn open_envelope<T: DeserializeOwned>(kind: Kind, text: &str) -> Result<T, String> {
    from_record(open_envelope_value(kind, text)?)
}

/// [`open_envelope`] up to the checked JSON of the record.
pub fn open_envelope_value(kind: Kind, text: &str) -> Result<Value, String> {
    let mut env: Value = serde_json::from_str(text).map_err(|e| format!("not JSON: {e}"))?;
    if env["statewall_state"] != FORMAT {
        return Err(format!("unknown format {}", env["statewall_state"]));
    }
    if env["kind"] != kind.name() {
        return Err(format!("holds {} instead of {}", env["kind"], kind.name()));
    }
    let data = env.get_mut("data").map(Value::take).ok_or("no data")?;
    let compact = serde_json::to_string(&data).map_err(|e| e.to_string())?;
    if env["checksum"] != checksum(&compact).as_str() {
        return Err("checksum mismatch".into());
    }
    Ok(data)
}

/// The record a checked JSON value holds.
pub fn from_record<T: DeserializeOwned>(data: Value) -> Result<T, String> {
    serde_json::from_value(data).map_err(|e| format!("unexpected shape: {e}"))
}
