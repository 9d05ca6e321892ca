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

/// A durable name for the network namespace `spec` (`None`: the one this process is in), so
/// that each namespace keeps its own records in a shared state directory: `name-NAME` for a
/// `/run/netns` name (names outlive a namespace's inode across reboots), `host` for the
/// namespace of PID 1, otherwise `ino-INODE` — never a `/proc/PID` path, which dies with
/// its process.
pub fn identity(spec: Option<&str>) -> io::Result<String> {
    use std::os::unix::fs::MetadataExt;
    let path = match spec {
        Some(s) => resolve(s),
        None => PathBuf::from("/proc/self/ns/net"),
    };
    if let Ok(rest) = path.strip_prefix("/run/netns")
        && let Some(name) = rest.to_str().filter(|n| !n.is_empty() && !n.contains('/'))
    {
        // a file name in /run/netns, and the name of the state kept for it: refused before
        // either is looked for when it cannot be one
        let key = format!("name-{}", safe_name(name));
        if name.len() > NAME_MAX || key.len() > NAME_MAX {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                format!(
                    "a namespace name of {} bytes: a name is a file name in /run/netns, at most {NAME_MAX} bytes (fewer when it has characters other than letters, digits, '.', '_' and '-')",
                    name.len()
                ),
            ));
        }
        return Ok(key);
    }
    let ino = match std::fs::metadata(&path) {
        Ok(m) => m.ino(),
        // no /proc (a bare chroot, a minimal container): its own filesystem keeps its state
        // apart, and there is only the namespace we are in
        Err(e) if spec.is_none() && e.kind() == io::ErrorKind::NotFound => {
            return Ok("host".to_string());
        }
        Err(e) => return Err(io::Error::new(e.kind(), format!("{}: {e}", path.display()))),
    };
    let host = std::fs::metadata("/proc/1/ns/net").map(|m| m.ino()).ok();
    if host == Some(ino) {
        return Ok("host".to_string());
    }
    // `ip netns exec NAME statewall …` and `--netns /proc/PID/ns/net` of a named namespace
    // are the namespace `--netns NAME` reaches: the same records (an inode number is reused
    // by the next namespace once this one is gone, and is new after a reboot)
    let dev = std::fs::metadata(&path)
        .map(|m| m.dev())
        .unwrap_or_default();
    if let Some(name) = run_netns_name(dev, ino)
        && let Ok(key) = identity(Some(&format!("/run/netns/{name}")))
    {
        return Ok(key);
    }
    Ok(format!("ino-{ino}"))
}

/// Which life of a namespace this is: the boot (`boot_id`) and the kernel's cookie of the
/// namespace, which no other namespace of that boot ever gets (Linux 5.14+; `None` on older
/// kernels). An inode number, the key of an unnamed namespace's records, is reused by the
/// next namespace once one is gone, and again after a reboot: this tells them apart.
pub fn lifetime(spec: Option<&str>) -> Option<String> {
    let boot = std::fs::read_to_string("/proc/sys/kernel/random/boot_id").ok()?;
    let cookie = match spec {
        None => cookie_here()?,
        // setns moves only the calling thread: a thread of its own enters, reads and ends
        Some(s) => {
            let path = resolve(s);
            std::thread::scope(|t| {
                t.spawn(|| {
                    let f = File::open(&path).ok()?;
                    // SAFETY: plain syscall on a valid fd we own; this thread ends next.
                    let rc = unsafe { libc::setns(f.as_raw_fd(), libc::CLONE_NEWNET) };
                    (rc == 0).then(cookie_here).flatten()
                })
                .join()
                .ok()
                .flatten()
            })?
        }
    };
    Some(format!("{} {cookie}", boot.trim()))
}

/// SO_NETNS_COOKIE of asm-generic/socket.h (x86, arm, riscv, …).
const SO_NETNS_COOKIE: libc::c_int = 71;

/// The cookie of the namespace the calling thread is in, read from a socket opened in it.
fn cookie_here() -> Option<u64> {
    use std::os::fd::{FromRawFd, OwnedFd};
    // SAFETY: socket(2) with constant arguments; the fd is owned (and closed) below.
    let fd = unsafe { libc::socket(libc::AF_UNIX, libc::SOCK_DGRAM | libc::SOCK_CLOEXEC, 0) };
    if fd < 0 {
        return None;
    }
    // SAFETY: a fresh fd that nothing else owns.
    let fd = unsafe { OwnedFd::from_raw_fd(fd) };
    let mut cookie: u64 = 0;
    let mut len = std::mem::size_of::<u64>() as libc::socklen_t;
    // SAFETY: getsockopt writes at most `len` bytes into `cookie`, which is that large.
    let rc = unsafe {
        libc::getsockopt(
            fd.as_raw_fd(),
            libc::SOL_SOCKET,
            SO_NETNS_COOKIE,
            (&raw mut cookie).cast(),
            &mut len,
        )
    };
    (rc == 0 && len as usize == std::mem::size_of::<u64>()).then_some(cookie)
}

/// The `/run/netns` name of the namespace this process is in, if it has one (`ip netns exec
/// NAME statewall …`): what `--netns` must say for a command to reach it from elsewhere.
pub fn own_name() -> Option<String> {
    use std::os::unix::fs::MetadataExt;
    let m = std::fs::metadata("/proc/self/ns/net").ok()?;
    run_netns_name(m.dev(), m.ino())
}

/// The name in /run/netns of the namespace that is inode `ino` of device `dev` (nsfs: a
/// file left there by a namespace that is gone is another device's), if it has one (the
/// first, by name, when it has several).
fn run_netns_name(dev: u64, ino: u64) -> Option<String> {
    use std::os::unix::fs::MetadataExt;
    let mut names: Vec<String> = std::fs::read_dir("/run/netns")
        .ok()?
        .flatten()
        .filter(|e| std::fs::metadata(e.path()).is_ok_and(|m| m.ino() == ino && m.dev() == dev))
        .filter_map(|e| e.file_name().into_string().ok())
        .collect();
    names.sort();
    names.into_iter().next()
}

/// The longest file name (Linux's NAME_MAX).
const NAME_MAX: usize = 255;

/// A namespace name as a file name: letters, digits, `.`, `_`, `-` kept, anything else
/// (and a leading `.`) as `%XX`.
fn safe_name(name: &str) -> String {
    let mut s = String::new();
    for (i, b) in name.bytes().enumerate() {
        if b.is_ascii_alphanumeric() || b == b'_' || b == b'-' || (b == b'.' && i > 0) {
            s.push(b as char);
        } else {
            s.push_str(&format!("%{b:02X}"));
        }
    }
    s
}

#[cfg(test)]
mod tests {
    #[test]
    fn identities_are_file_names() {
        assert_eq!(super::identity(Some("fw")).unwrap(), "name-fw");
        assert_eq!(
            super::identity(Some("/run/netns/a b")).unwrap(),
            "name-a%20b"
        );
        assert_eq!(super::identity(Some("..")).unwrap(), "name-%2E.");
        // a name that cannot be a file name is refused before anything is looked for
        let long = "n".repeat(251);
        assert!(super::identity(Some(&long[1..])).is_ok());
        let err = super::identity(Some(&long)).unwrap_err();
        assert!(
            err.to_string().contains("a namespace name of 251 bytes"),
            "{err}"
        );
        assert!(super::identity(Some(&"%".repeat(90))).is_err());
        let me = super::identity(None).unwrap();
        assert!(
            me == "host" || me.starts_with("ino-") || me.starts_with("name-"),
            "{me}"
        );
        assert_eq!(super::identity(Some("/proc/self/ns/net")).unwrap(), me);
    }

    #[test]
    fn names_and_paths() {
        assert_eq!(super::resolve("fw").to_str(), Some("/run/netns/fw"));
        assert_eq!(
            super::resolve("/proc/1/ns/net").to_str(),
            Some("/proc/1/ns/net")
        );
    }
}
