//! Files for node_exporter's textfile collector: written whole or not at all, so that a
//! scrape, which may read the directory at any moment, never sees half a file.

use std::fs::{self, File, OpenOptions};
use std::io::{self, Write};
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

/// Writes `text` to `dir/name` atomically: a temporary file in `dir` itself (same
/// filesystem; its name does not end in `.prom`, so the collector never reads it), fsync,
/// rename over `name`, fsync of `dir`. The file is 0644: node_exporter runs as its own user.
/// Returns the path written.
pub fn write_atomic(dir: &Path, name: &str, text: &str) -> io::Result<PathBuf> {
    let path = dir.join(name);
    let tmp = dir.join(format!(".{name}.{}.tmp", std::process::id()));
    let _ = fs::remove_file(&tmp);
    let result = (|| {
        let mut f = OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o644)
            .custom_flags(libc::O_NOFOLLOW | libc::O_CLOEXEC)
            .open(&tmp)?;
        // the umask may have taken the read bits away
        f.set_permissions(fs::Permissions::from_mode(0o644))?;
        f.write_all(text.as_bytes())?;
        f.sync_all()?;
        drop(f);
        fs::rename(&tmp, &path)?;
        File::open(dir)?.sync_all()
    })();
    if result.is_err() {
        let _ = fs::remove_file(&tmp);
    }
    result.map(|()| path)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::MetadataExt;

    #[test]
    fn writes_the_whole_file_readable_by_others_and_leaves_no_temporary_file() {
        let dir = std::env::temp_dir().join(format!("statewall-textfile-{}", std::process::id()));
        let _ = fs::remove_dir_all(&dir);
        fs::create_dir_all(&dir).unwrap();
        let first = write_atomic(&dir, "statewall.prom", "a 1\n").unwrap();
        let path = write_atomic(&dir, "statewall.prom", "b 2\n").unwrap();
        assert_eq!(path, first);
        assert_eq!(fs::read_to_string(&path).unwrap(), "b 2\n");
        assert_eq!(fs::metadata(&path).unwrap().mode() & 0o777, 0o644);
        let names: Vec<String> = fs::read_dir(&dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        assert_eq!(names, ["statewall.prom"]);
        // a directory that is not there: an error, nothing written
        assert!(write_atomic(&dir.join("missing"), "statewall.prom", "x").is_err());
        fs::remove_dir_all(&dir).unwrap();
    }
}
