//! The state directory (default `/var/lib/statewall`): the last confirmed policy, the pending
//! change (with the previous ruleset to restore), the last rollback's outcome, the guard's log.
//!
//! Durability and safety: every record is written to a temporary file in the same directory,
//! fsync'ed, renamed over the old one, and the directory is fsync'ed (the revision history and
//! the set cache are renamed into place without the fsyncs: the accepted record is what boot
//! loads, and a cache is checked before use). The directory is created
//! 0700 and files 0600; a symlinked directory or file is refused (lstat, `O_NOFOLLOW`).
//! Every file is a JSON envelope with a checksum of its data: a truncated or garbled file is
//! reported as corrupt, never a panic.

use std::collections::BTreeMap;
use std::fs::{self, File, OpenOptions};
use std::io::{self, Write};
use std::os::fd::AsRawFd;
use std::os::unix::fs::{DirBuilderExt, MetadataExt, OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

use crate::core::members::{self, MemberOp};
use crate::core::store::StoreError;
use crate::core::store::envelope_value;
pub use crate::core::store::{FORMAT, Kind, checksum, envelope, open_envelope};
use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::Value;

mod blobs;
pub use blobs::BLOB_MIN;

pub const DEFAULT_DIR: &str = "/var/lib/statewall";

/// The members journal of live sets, in each namespace/table scope (`core::members`).
const MEMBERS_FILE: &str = "members.journal";

/// The accepted plan's sets (`core::setcache`), beside its revision.
const SET_CACHE_FILE: &str = "accepted.sets";

/// How long a command waits for another one in the same namespace to finish.
const LOCK_WAIT: std::time::Duration = std::time::Duration::from_secs(30);

#[derive(Debug)]
pub enum StateError {
    /// the directory or a file is a symlink
    Symlink(PathBuf),
    /// the path exists and is not a directory (or not a regular file)
    WrongType(PathBuf),
    /// the directory is writable by group or others
    Insecure(PathBuf),
    Io {
        path: PathBuf,
        err: io::Error,
    },
    /// another statewall command held the lock for longer than we wait
    Busy {
        path: PathBuf,
        waited: std::time::Duration,
    },
    /// truncated, garbled, wrong checksum or wrong shape
    Corrupt {
        path: PathBuf,
        why: String,
    },
}

impl std::fmt::Display for StateError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            StateError::Symlink(p) => write!(
                f,
                "{} is a symlink; statewall refuses a symlinked state path",
                p.display()
            ),
            StateError::WrongType(p) => write!(f, "{} has the wrong file type", p.display()),
            StateError::Insecure(p) => write!(
                f,
                "{} is writable by group or others; statewall refuses it (chmod 700 it)",
                p.display()
            ),
            StateError::Io { path, err } => write!(f, "{}: {err}", path.display()),
            StateError::Busy { path, waited } => write!(
                f,
                "another statewall command for this namespace and table is still running (it holds {} after {} s); try again when it is done",
                path.display(),
                waited.as_secs()
            ),
            StateError::Corrupt { path, why } => {
                write!(f, "{} is corrupt ({why})", path.display())
            }
        }
    }
}

impl std::error::Error for StateError {}

fn io_at(path: &Path) -> impl FnOnce(io::Error) -> StateError + '_ {
    move |err| StateError::Io {
        path: path.to_path_buf(),
        err,
    }
}

/// The state directory.
#[derive(Debug, Clone)]
pub struct StateDir {
    /// the directory as given (`--state-dir`)
    root: PathBuf,
    /// where this namespace's and table's records are: `root/ns/<namespace>/<table>`, or
    /// `root` itself for an unscoped directory
    path: PathBuf,
    /// the global options that chose this scope (` --netns NAME --table NAME`), repeated in
    /// the commands that messages tell the admin to run, so they act on the same records
    hint_args: String,
    /// which life of an unnamed namespace these records belong to (`claim_lifetime`):
    /// written beside them when the directory is made
    lifetime: Option<String>,
}

/// The file of a scope keyed by inode that says which life of the namespace wrote it.
const LIFETIME_FILE: &str = "namespace-lifetime";

/// An exclusive lock on the state directory (flock on its `lock` file), released on drop.
pub struct Lock {
    _file: File,
}

impl StateDir {
    pub fn new(path: impl Into<PathBuf>) -> StateDir {
        let path = path.into();
        StateDir {
            root: path.clone(),
            path,
            hint_args: String::new(),
            lifetime: None,
        }
    }

    /// The records of one network namespace (`netns::identity`) and one table: commands for
    /// another namespace or table never read or act on them.
    pub fn scoped(&self, namespace: &str, table: &str) -> StateDir {
        StateDir {
            root: self.root.clone(),
            path: self.root.join("ns").join(namespace).join(table),
            hint_args: String::new(),
            lifetime: None,
        }
    }

    /// For records kept under a namespace's inode (`ino-N`): `lifetime` is the namespace's
    /// life now (`netns::lifetime`). The inode number is reused by the next namespace once
    /// one is gone, and after a reboot: records another life of it left are moved aside (to
    /// `TABLE.gone`, replacing older ones), so a new namespace never boots, rolls back to or
    /// reports a dead one's policy. Records without a lifetime (written before statewall
    /// kept one) are claimed. Returns what was moved, for stderr.
    pub fn claim_lifetime(&mut self, lifetime: &str) -> Result<Option<String>, StateError> {
        self.lifetime = Some(lifetime.to_string());
        if !self.exists()? {
            return Ok(None);
        }
        match read_nofollow(&self.path.join(LIFETIME_FILE))? {
            Some(theirs) if theirs.trim() == lifetime => Ok(None),
            Some(_) => {
                let mut gone = self.path.clone().into_os_string();
                gone.push(".gone");
                let gone = PathBuf::from(gone);
                let _ = fs::remove_dir_all(&gone);
                match fs::rename(&self.path, &gone) {
                    Ok(()) => {}
                    // another command of this namespace moved them first
                    Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
                    Err(e) => return Err(io_at(&self.path)(e)),
                }
                Ok(Some(format!(
                    "{} held the records of another namespace with this inode number, which is gone (inode numbers are reused); moved to {}",
                    self.path.display(),
                    gone.display()
                )))
            }
            None => {
                self.replace_file(LIFETIME_FILE, format!("{lifetime}\n").as_bytes(), true)?;
                Ok(None)
            }
        }
    }

    /// The same records, with the global options (`--netns`, `--table`) that the commands
    /// in messages must repeat: `statewall --netns fw confirm`, not a bare `statewall
    /// confirm`, which would look for a pending change in another namespace or table.
    pub fn with_hint_args(mut self, netns: Option<&str>, table: Option<&str>) -> StateDir {
        let mut args = String::new();
        if let Some(ns) = netns {
            args.push_str(&format!(" --netns {}", shell_word(ns)));
        }
        if let Some(table) = table {
            args.push_str(&format!(" --table {table}"));
        }
        self.hint_args = args;
        self
    }

    /// The directory as given.
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// Moves records of statewall 0.1, which kept one set of records for the whole directory
    /// (`root/*.json`), into this scope when they belong to it: a pending change whose
    /// namespace is this one, a confirmed policy of this table when this is the command's own
    /// namespace (0.1 had no way to tell). What is moved is said on stderr by the caller.
    pub fn adopt_legacy(
        &self,
        table: &str,
        own_namespace: bool,
        belongs: impl Fn(Option<&str>) -> bool,
    ) -> Vec<String> {
        let mut moved = Vec::new();
        if self.path == self.root || !matches!(self.root_exists(), Ok(true)) {
            return moved;
        }
        let legacy = StateDir::new(&self.root);
        // nothing of 0.1 there (the usual case): touch nothing — a command that only reads,
        // or none at all (`check`), must not create a state directory
        if ![Kind::Pending, Kind::Confirmed, Kind::Rollback]
            .iter()
            .any(|k| legacy.file(*k).is_file())
        {
            return moved;
        }
        let Ok(_lock) = self.lock() else {
            return moved;
        };
        for kind in [Kind::Pending, Kind::Confirmed, Kind::Rollback] {
            let from = legacy.file(kind);
            if !from.is_file() || self.file(kind).exists() {
                continue;
            }
            let ours = match kind {
                Kind::Pending => legacy
                    .read::<serde_json::Value>(kind)
                    .ok()
                    .flatten()
                    .is_some_and(|p| p["table"] == table && belongs(p["netns"].as_str())),
                Kind::Confirmed => {
                    own_namespace
                        && legacy
                            .read::<serde_json::Value>(kind)
                            .ok()
                            .flatten()
                            .is_some_and(|c| c["table"] == table)
                }
                _ => own_namespace,
            };
            if ours && fs::rename(&from, self.file(kind)).is_ok() {
                moved.push(format!(
                    "moved {} (statewall 0.1's layout) to {}",
                    from.display(),
                    self.file(kind).display()
                ));
            }
        }
        let _ = self.sync_dir();
        moved
    }

    fn revisions_dir(&self) -> PathBuf {
        self.path.join("revisions")
    }

    /// The history's files, by number, oldest first.
    fn revision_files(&self) -> Result<Vec<(u64, PathBuf)>, StateError> {
        let dir = self.revisions_dir();
        let entries = match fs::read_dir(&dir) {
            Ok(e) => e,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(Vec::new()),
            Err(e) => return Err(io_at(&dir)(e)),
        };
        let mut files: Vec<(u64, PathBuf)> = entries
            .flatten()
            .filter_map(|e| {
                let name = e.file_name().to_string_lossy().into_owned();
                // `NNNNNNNNNN.json`, or `NNNNNNNNNN.<origin>.json` (the origin readable
                // without reading a revision that may hold a 100,000-line list)
                let stem = name.strip_suffix(".json")?;
                let n = stem.split('.').next()?.parse().ok()?;
                Some((n, e.path()))
            })
            .collect();
        files.sort();
        Ok(files)
    }

    /// Appends a revision (not waiting for the disk: see below) and drops the oldest beyond
    /// [`REVISIONS_KEPT`](crate::core::rollout::REVISIONS_KEPT).
    pub fn append_revision(&self, rev: &crate::core::rollout::Revision) -> Result<(), StateError> {
        self.append_revision_as(rev, None)
    }

    /// [`append_revision`](Self::append_revision), its record already made ([`Self::record_value`]).
    fn append_revision_as(
        &self,
        rev: &crate::core::rollout::Revision,
        value: Option<Value>,
    ) -> Result<(), StateError> {
        self.ensure()?;
        let dir = self.revisions_dir();
        if !dir.exists() {
            fs::DirBuilder::new()
                .mode(0o700)
                .create(&dir)
                .map_err(io_at(&dir))?;
        }
        let files = self.revision_files()?;
        let next = files.last().map_or(1, |(n, _)| n + 1);
        let sub = StateDir {
            root: self.root.clone(),
            path: dir.clone(),
            hint_args: self.hint_args.clone(),
            lifetime: None,
        };
        let text = match value {
            Some(v) => envelope_value(Kind::Revision, v),
            None => self.record_text(Kind::Revision, rev)?,
        };
        // not waited for on disk: the accepted record (written durably before) is what boot
        // loads; the history is what came before it, and a crash may lose its newest entry
        // (a torn one is skipped when read), never the accepted revision
        sub.replace_file(
            &format!("{next:010}.{}.json", rev.origin.as_str()),
            text.as_bytes(),
            false,
        )?;
        let keep = crate::core::rollout::REVISIONS_KEPT.saturating_sub(1);
        for (_, old) in files.iter().take(files.len().saturating_sub(keep)) {
            let _ = fs::remove_file(old);
        }
        self.collect_blobs();
        Ok(())
    }

    /// The newest revision that can be read (older ones only when the newer are damaged).
    pub fn last_revision(&self) -> Result<Option<crate::core::rollout::Revision>, StateError> {
        for (_, path) in self.revision_files()?.iter().rev() {
            if let Ok(Some(text)) = read_nofollow(path)
                && let Ok(rev) = self.open_record(Kind::Revision, &text)
            {
                return Ok(Some(rev));
            }
        }
        Ok(None)
    }

    /// The origin of the newest revision, from its file name when it says it (else read).
    pub fn last_revision_origin(&self) -> Result<Option<String>, StateError> {
        let files = self.revision_files()?;
        let Some((_, path)) = files.last() else {
            return Ok(None);
        };
        let name = path.file_name().map(|n| n.to_string_lossy().into_owned());
        if let Some(origin) = name.as_deref().and_then(|n| {
            let mut parts = n.strip_suffix(".json")?.split('.');
            parts.next()?;
            parts.next().map(str::to_string)
        }) {
            return Ok(Some(origin));
        }
        Ok(self.last_revision()?.map(|r| r.origin.as_str().to_string()))
    }

    /// Replaces the set cache (temp file and rename: never half written; no fsync, it is a
    /// cache checked against the live table before use).
    pub fn write_set_cache(&self, bytes: &[u8]) -> Result<(), StateError> {
        self.replace_file(SET_CACHE_FILE, bytes, false)
    }

    /// The revisions kept, oldest first; a damaged file is left out.
    pub fn revisions(&self) -> Result<Vec<crate::core::rollout::Revision>, StateError> {
        let mut out = Vec::new();
        for (_, path) in self.revision_files()? {
            if let Ok(Some(text)) = read_nofollow(&path)
                && let Ok(rev) = self.open_record(Kind::Revision, &text)
            {
                out.push(rev);
            }
        }
        Ok(out)
    }

    fn root_exists(&self) -> Result<bool, StateError> {
        StateDir::new(&self.root).exists()
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    pub fn file(&self, kind: Kind) -> PathBuf {
        self.path.join(kind.file())
    }

    /// Where the guard writes its log.
    pub fn log_path(&self) -> PathBuf {
        self.path.join("guard.log")
    }

    /// Whether the directory exists (refusing a symlink or a non-directory).
    pub fn exists(&self) -> Result<bool, StateError> {
        // a scope is as safe as the directory it is in
        if self.path != self.root && !self.root_exists()? {
            return Ok(false);
        }
        match fs::symlink_metadata(&self.path) {
            Ok(m) if m.file_type().is_symlink() => Err(StateError::Symlink(self.path.clone())),
            Ok(m) if !m.is_dir() => Err(StateError::WrongType(self.path.clone())),
            Ok(m) if m.mode() & 0o022 != 0 => Err(StateError::Insecure(self.path.clone())),
            Ok(_) => Ok(true),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(false),
            Err(e) => Err(io_at(&self.path)(e)),
        }
    }

    /// Creates the directory (0700) if needed.
    pub fn ensure(&self) -> Result<(), StateError> {
        if self.exists()? {
            return Ok(());
        }
        fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(&self.path)
            .map_err(io_at(&self.path))?;
        // the umask may have taken bits away, never added: set exactly 0700
        fs::set_permissions(&self.path, fs::Permissions::from_mode(0o700))
            .map_err(io_at(&self.path))?;
        self.exists()?;
        if let Some(l) = &self.lifetime {
            self.replace_file(LIFETIME_FILE, format!("{l}\n").as_bytes(), true)?;
        }
        Ok(())
    }

    /// Reads a record: `Ok(None)` when the file (or the directory) does not exist.
    pub fn read<T: DeserializeOwned>(&self, kind: Kind) -> Result<Option<T>, StateError> {
        if !self.exists()? {
            return Ok(None);
        }
        let path = self.file(kind);
        let text = match read_nofollow(&path) {
            Ok(Some(t)) => t,
            Ok(None) => return Ok(None),
            Err(e) => return Err(e),
        };
        self.open_record(kind, &text)
            .map(Some)
            .map_err(|why| StateError::Corrupt { path, why })
    }

    /// Writes a record durably (temp file, fsync, rename, fsync of the directory).
    pub fn write<T: Serialize>(&self, kind: Kind, data: &T) -> Result<(), StateError> {
        self.write_named(kind.file(), kind, data)
    }

    /// [`write`](Self::write) to the file `name` of this directory.
    fn write_named<T: Serialize>(
        &self,
        name: &str,
        kind: Kind,
        data: &T,
    ) -> Result<(), StateError> {
        let text = self.record_text(kind, data)?;
        self.replace_file(name, text.as_bytes(), true)
    }

    /// Replaces file `name` of this directory with `bytes`: a temporary file (0600, never
    /// through a symlink), renamed over it, so it is never half written; `durable`: the file
    /// and then the directory are fsync'd before it returns.
    fn replace_file(&self, name: &str, bytes: &[u8], durable: bool) -> Result<(), StateError> {
        self.replace(name, bytes, durable, durable)
    }

    /// [`replace_file`](Self::replace_file) fsync'ing the file but not the directory: for
    /// several files of one directory, fsync'd once after them all.
    fn replace_file_synced(&self, name: &str, bytes: &[u8]) -> Result<(), StateError> {
        self.replace(name, bytes, true, false)
    }

    fn replace(
        &self,
        name: &str,
        bytes: &[u8],
        sync_file: bool,
        sync_dir: bool,
    ) -> Result<(), StateError> {
        self.ensure()?;
        let path = self.path.join(name);
        if let Ok(m) = fs::symlink_metadata(&path)
            && m.file_type().is_symlink()
        {
            return Err(StateError::Symlink(path));
        }
        let tmp = self
            .path
            .join(format!(".{name}.tmp.{}", std::process::id()));
        let _ = fs::remove_file(&tmp);
        let result = (|| {
            let mut f = OpenOptions::new()
                .write(true)
                .create_new(true)
                .mode(0o600)
                .custom_flags(libc::O_NOFOLLOW)
                .open(&tmp)
                .map_err(io_at(&tmp))?;
            f.write_all(bytes).map_err(io_at(&tmp))?;
            if sync_file {
                f.sync_all().map_err(io_at(&tmp))?;
            }
            drop(f);
            fs::rename(&tmp, &path).map_err(io_at(&path))?;
            if sync_dir {
                self.sync_dir()?;
            }
            Ok(())
        })();
        if result.is_err() {
            let _ = fs::remove_file(&tmp);
        }
        result
    }

    /// Appends lines to the members journal: one `write` of whole lines, then `fdatasync`,
    /// so a crash leaves at most a torn last line (skipped when read).
    pub fn append_members(&self, text: &str) -> Result<(), StateError> {
        self.ensure()?;
        let path = self.path.join(MEMBERS_FILE);
        let mut f = OpenOptions::new()
            .append(true)
            .create(true)
            .mode(0o600)
            .custom_flags(libc::O_NOFOLLOW)
            .open(&path)
            .map_err(io_at(&path))?;
        f.write_all(text.as_bytes()).map_err(io_at(&path))?;
        f.sync_data().map_err(io_at(&path))
    }

    /// Replaces the members journal (temp file, fsync, rename, fsync of the directory).
    pub fn rewrite_members(&self, text: &str) -> Result<(), StateError> {
        self.replace_file(MEMBERS_FILE, text.as_bytes(), true)
    }

    /// The members journal's text; `Ok(None)` when there is none.
    pub fn read_members(&self) -> Result<Option<String>, StateError> {
        if !self.exists()? {
            return Ok(None);
        }
        // one line at a time: a byte that is not UTF-8 damages its line (skipped when read),
        // not the whole journal, which every member would be lost with at the next apply
        Ok(read_bytes_nofollow(&self.path.join(MEMBERS_FILE))?
            .map(|b| String::from_utf8_lossy(&b).into_owned()))
    }

    /// Removes a record (durably); no error when it is already gone.
    pub fn remove(&self, kind: Kind) -> Result<(), StateError> {
        if !self.exists()? {
            return Ok(());
        }
        let path = self.file(kind);
        match fs::remove_file(&path) {
            Ok(()) => self.sync_dir(),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
            Err(e) => Err(io_at(&path)(e)),
        }
    }

    fn sync_dir(&self) -> Result<(), StateError> {
        File::open(&self.path)
            .and_then(|d| d.sync_all())
            .map_err(io_at(&self.path))
    }

    /// Takes the directory's exclusive lock (creating the directory if needed); blocks.
    pub fn lock(&self) -> Result<Lock, StateError> {
        self.ensure()?;
        let path = self.path.join("lock");
        let f = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .mode(0o600)
            .custom_flags(libc::O_NOFOLLOW | libc::O_CLOEXEC)
            .open(&path)
            .map_err(io_at(&path))?;
        // bounded: another statewall command in this namespace holds it for milliseconds
        // (a commit) or seconds (a large apply); one that never lets go is reported
        let deadline = std::time::Instant::now() + LOCK_WAIT;
        loop {
            // SAFETY: flock on a valid fd we own.
            let rc = unsafe { libc::flock(f.as_raw_fd(), libc::LOCK_EX | libc::LOCK_NB) };
            if rc == 0 {
                return Ok(Lock { _file: f });
            }
            let e = io::Error::last_os_error();
            match e.raw_os_error() {
                Some(libc::EWOULDBLOCK) if std::time::Instant::now() < deadline => {
                    std::thread::sleep(std::time::Duration::from_millis(20));
                }
                Some(libc::EWOULDBLOCK) => {
                    return Err(StateError::Busy {
                        path,
                        waited: LOCK_WAIT,
                    });
                }
                Some(libc::EINTR) => {}
                _ => return Err(io_at(&path)(e)),
            }
        }
    }

    /// Opens the guard's log for appending (0600).
    pub fn open_log(&self) -> Result<File, StateError> {
        self.ensure()?;
        let path = self.log_path();
        OpenOptions::new()
            .append(true)
            .create(true)
            .mode(0o600)
            .custom_flags(libc::O_NOFOLLOW)
            .open(&path)
            .map_err(io_at(&path))
    }
}

/// Reads a regular file without following a symlink; `Ok(None)` when it does not exist.
fn read_nofollow(path: &Path) -> Result<Option<String>, StateError> {
    let Some(bytes) = read_bytes_nofollow(path)? else {
        return Ok(None);
    };
    String::from_utf8(bytes)
        .map(Some)
        .map_err(|_| StateError::Corrupt {
            path: path.into(),
            why: "not UTF-8".into(),
        })
}

/// [`read_nofollow`]'s bytes, before they are taken for UTF-8 text.
fn read_bytes_nofollow(path: &Path) -> Result<Option<Vec<u8>>, StateError> {
    match fs::symlink_metadata(path) {
        Ok(m) if m.file_type().is_symlink() => return Err(StateError::Symlink(path.into())),
        Ok(m) if !m.is_file() => return Err(StateError::WrongType(path.into())),
        Ok(m) if m.size() > 64 << 20 => {
            return Err(StateError::Corrupt {
                path: path.into(),
                why: "larger than 64 MiB".into(),
            });
        }
        Ok(_) => {}
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(io_at(path)(e)),
    }
    let bytes = match OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NOFOLLOW)
        .open(path)
        .and_then(|mut f| {
            let mut v = Vec::new();
            io::Read::read_to_end(&mut f, &mut v).map(|_| v)
        }) {
        Ok(b) => b,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
        Err(e) if e.raw_os_error() == Some(libc::ELOOP) => {
            return Err(StateError::Symlink(path.into()));
        }
        Err(e) => return Err(io_at(path)(e)),
    };
    Ok(Some(bytes))
}

/// The state directory is the real [`Store`](crate::core::store::Store).
impl crate::core::store::Store for StateDir {
    type Lock = Lock;

    fn read<T: DeserializeOwned>(&self, kind: Kind) -> Result<Option<T>, StoreError> {
        StateDir::read(self, kind).map_err(store_err)
    }

    fn write<T: Serialize>(&self, kind: Kind, data: &T) -> Result<(), StoreError> {
        StateDir::write(self, kind, data).map_err(store_err)
    }

    fn remove(&self, kind: Kind) -> Result<(), StoreError> {
        StateDir::remove(self, kind).map_err(store_err)
    }

    fn lock(&self) -> Result<Lock, StoreError> {
        StateDir::lock(self).map_err(store_err)
    }

    fn append_revision(&self, rev: &crate::core::rollout::Revision) -> Result<(), StoreError> {
        StateDir::append_revision(self, rev).map_err(store_err)
    }

    fn revisions(&self) -> Result<Vec<crate::core::rollout::Revision>, StoreError> {
        StateDir::revisions(self).map_err(store_err)
    }

    fn append_members(&self, ops: &[MemberOp]) -> Result<(), StoreError> {
        StateDir::append_members(self, &members::format_ops(ops)).map_err(store_err)
    }

    fn rewrite_members(&self, ops: &[MemberOp]) -> Result<(), StoreError> {
        StateDir::rewrite_members(self, &members::format_ops(ops)).map_err(store_err)
    }

    fn read_members(&self) -> Result<(Vec<MemberOp>, u64), StoreError> {
        let text = StateDir::read_members(self).map_err(store_err)?;
        let text = text.unwrap_or_default();
        let (ops, skipped) = members::parse_ops(&text);
        if skipped > 0 {
            tracing::warn!(
                "{skipped} line(s) of {} could not be read and were skipped",
                self.path.join(MEMBERS_FILE).display()
            );
        }
        Ok((ops, text.len() as u64))
    }

    fn last_revision(&self) -> Result<Option<crate::core::rollout::Revision>, StoreError> {
        StateDir::last_revision(self).map_err(store_err)
    }

    fn last_revision_origin(&self) -> Option<String> {
        StateDir::last_revision_origin(self).ok().flatten()
    }

    fn write_set_cache(&self, bytes: &[u8]) {
        if let Err(e) = StateDir::write_set_cache(self, bytes) {
            tracing::debug!("the accepted plan's set cache could not be written: {e}");
        }
    }

    /// One pass over the revision's lists for both records: a 100,000-line list is hashed
    /// (and copied into JSON) once.
    fn accept_revision(
        &self,
        rev: &crate::core::rollout::Revision,
        files: &BTreeMap<String, String>,
        cache: &[u8],
    ) -> (Result<(), StoreError>, Result<(), StoreError>) {
        let value = match self.record_with_lists(rev, files) {
            Ok(v) => v,
            Err(e) => return (Err(store_err(e)), Ok(())),
        };
        let text = envelope_value(Kind::Confirmed, value.clone());
        if let Err(e) = self.replace_file(Kind::Confirmed.file(), text.as_bytes(), true) {
            return (Err(store_err(e)), Ok(()));
        }
        crate::core::store::Store::write_set_cache(self, cache);
        let history = self.append_revision_as(rev, Some(value)).map_err(store_err);
        (Ok(()), history)
    }

    fn read_set_cache(&self) -> Option<Vec<u8>> {
        let path = self.path.join(SET_CACHE_FILE);
        let meta = fs::symlink_metadata(&path).ok()?;
        if !meta.is_file() || meta.len() > 256 << 20 {
            return None;
        }
        fs::read(&path).ok()
    }

    fn members_bytes(&self) -> u64 {
        fs::symlink_metadata(self.path.join(MEMBERS_FILE)).map_or(0, |m| m.len())
    }

    fn command(&self, sub: &str) -> String {
        if self.root() == Path::new(DEFAULT_DIR) {
            format!("statewall{} {sub}", self.hint_args)
        } else {
            format!(
                "statewall --state-dir {}{} {sub}",
                shell_word(&self.root().display().to_string()),
                self.hint_args
            )
        }
    }

    fn lenient(&self) -> bool {
        self.root() == Path::new(DEFAULT_DIR)
    }
}

/// `w` as one shell word: as it is when it needs no quoting, else in single quotes.
fn shell_word(w: &str) -> String {
    if !w.is_empty()
        && w.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"/._-:+=,@%".contains(&b))
    {
        w.to_string()
    } else {
        format!("'{}'", w.replace('\'', "'\\''"))
    }
}

fn store_err(e: StateError) -> StoreError {
    StoreError(e.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::Value;

    #[test]
    fn envelope_round_trip_and_corruption() {
        let data = serde_json::json!({"a": 1, "b": "x"});
        let text = envelope(Kind::Confirmed, &data);
        let back: Value = open_envelope(Kind::Confirmed, &text).unwrap();
        assert_eq!(back, data);
        assert!(open_envelope::<Value>(Kind::Pending, &text).is_err());
        assert!(open_envelope::<Value>(Kind::Confirmed, &text[..text.len() / 2]).is_err());
        let flipped = text.replace("\"x\"", "\"y\"");
        let err = open_envelope::<Value>(Kind::Confirmed, &flipped).unwrap_err();
        assert!(err.contains("checksum"), "{err}");
        assert!(open_envelope::<Value>(Kind::Confirmed, "\u{0}\u{1}garbage").is_err());
    }

    /// A byte that is not UTF-8: a record is corrupt, the journal's bytes are still read
    /// (its line is damaged, not the file), with the same refusal of a symlink.
    #[test]
    fn bytes_read_without_following_and_text_refused_where_not_utf8() {
        let dir = std::env::temp_dir().join(format!("statewall-state-{}", std::process::id()));
        let _ = fs::remove_dir_all(&dir);
        fs::create_dir_all(&dir).unwrap();
        let file = dir.join("members.journal");
        fs::write(&file, b"+ live4_b 10.0.0.1/32 -\n\xff\n").unwrap();
        let err = read_nofollow(&file).unwrap_err();
        assert!(
            matches!(&err, StateError::Corrupt { why, .. } if why == "not UTF-8"),
            "{err:?}"
        );
        let bytes = read_bytes_nofollow(&file).unwrap().unwrap();
        assert!(String::from_utf8_lossy(&bytes).starts_with("+ live4_b 10.0.0.1/32 -\n"));
        let link = dir.join("link");
        std::os::unix::fs::symlink(&file, &link).unwrap();
        assert!(matches!(
            read_bytes_nofollow(&link),
            Err(StateError::Symlink(_))
        ));
        assert!(read_bytes_nofollow(&dir.join("absent")).unwrap().is_none());
        fs::remove_dir_all(&dir).unwrap();
    }

    /// The lifetime of an unnamed namespace's records: written when the directory is made,
    /// written beside records that have none (an older statewall), kept when it is this
    /// life's, and another life's records are moved aside, replacing older ones.
    #[test]
    fn records_of_another_life_of_a_namespace_are_moved_aside() {
        let root = std::env::temp_dir().join(format!("statewall-life-{}", std::process::id()));
        let _ = fs::remove_dir_all(&root);
        fs::create_dir_all(&root).unwrap();
        fs::set_permissions(&root, fs::Permissions::from_mode(0o700)).unwrap();
        let scope = || StateDir::new(&root).scoped("ino-7", "statewall");
        let life = |s: &StateDir| fs::read_to_string(s.path().join(LIFETIME_FILE)).ok();
        let mut a = scope();
        assert_eq!(a.claim_lifetime("boot1 1").unwrap(), None);
        assert!(!a.path().exists(), "claiming alone makes no directory");
        a.write(Kind::Rollbacks, &serde_json::json!({})).unwrap();
        assert_eq!(life(&a).as_deref(), Some("boot1 1\n"));
        assert_eq!(scope().claim_lifetime("boot1 1").unwrap(), None);
        assert!(a.file(Kind::Rollbacks).exists());
        // an older statewall's records: claimed
        fs::remove_file(a.path().join(LIFETIME_FILE)).unwrap();
        assert_eq!(scope().claim_lifetime("boot1 1").unwrap(), None);
        assert_eq!(life(&a).as_deref(), Some("boot1 1\n"));
        // another life's, twice: aside, the newest kept there
        for next in ["boot1 2", "boot2 1"] {
            let mut b = scope();
            let said = b.claim_lifetime(next).unwrap().unwrap();
            assert!(said.contains("statewall.gone"), "{said}");
            assert!(!b.file(Kind::Rollbacks).exists());
            b.write(Kind::Rollbacks, &serde_json::json!({})).unwrap();
            assert_eq!(life(&b), Some(format!("{next}\n")));
        }
        let gone = root.join("ns/ino-7/statewall.gone");
        assert_eq!(
            fs::read_to_string(gone.join(LIFETIME_FILE)).unwrap(),
            "boot1 2\n"
        );
        fs::remove_dir_all(&root).unwrap();
    }
}
