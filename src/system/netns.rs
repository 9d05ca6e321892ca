//! Entering a network namespace: `--netns NAME` (→ /run/netns/NAME) or a path such as
//! `/proc/PID/ns/net`. `setns` switches the calling thread; sockets opened afterwards
//! (ours and rustables') live in that namespace.

use std::fs::File;
use std::io;
use std::os::fd::AsRawFd;
use std::path::PathBuf;

/// `NAME` → `/run/netns/NAME`; anything with a `/` is taken as a path.
pub fn resolve(spec: &str) -> PathBuf {
    if spec.contains('/') {
        PathBuf::from(spec)
    } else {
        PathBuf::from("/run/netns").join(spec)
    }
}

/// Moves the calling thread into the namespace named by `spec`.
pub fn enter(spec: &str) -> io::Result<PathBuf> {
    let path = resolve(spec);
    let f = File::open(&path)
        .map_err(|e| io::Error::new(e.kind(), format!("{}: {e}", path.display())))?;
    // SAFETY: plain syscall on a valid fd we own.
    let rc = unsafe { libc::setns(f.as_raw_fd(), libc::CLONE_NEWNET) };
    if rc != 0 {
        let e = io::Error::last_os_error();
        return Err(io::Error::new(
            e.kind(),
            format!(
                "{}: not a network namespace or no permission: {e}",
                path.display()
            ),
        ));
    }
    Ok(path)
}

#[cfg(test)]
mod tests {
    #[test]
    fn names_and_paths() {
        assert_eq!(super::resolve("fw").to_str(), Some("/run/netns/fw"));
        assert_eq!(
            super::resolve("/proc/1/ns/net").to_str(),
            Some("/proc/1/ns/net")
        );
    }
}
