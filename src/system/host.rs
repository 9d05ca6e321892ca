//! Facts about this machine, read at the edge for the rollout and the lockout lint: clocks,
//! the boot id, the session's age, the SSH connection, the ports sshd listens on, whether a
//! guard process is alive. Reads `/proc` and the environment; never writes.

use std::net::IpAddr;
use std::path::Path;

use crate::core::lint::{self, Facts, SshConnection};

fn clock_ms(clock: libc::clockid_t) -> u64 {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: valid pointer to a timespec; these clocks always exist on Linux.
    unsafe { libc::clock_gettime(clock, &mut ts) };
    (ts.tv_sec as u64) * 1000 + (ts.tv_nsec as u64) / 1_000_000
}

/// CLOCK_REALTIME in milliseconds.
pub fn realtime_ms() -> u64 {
    clock_ms(libc::CLOCK_REALTIME)
}

/// CLOCK_BOOTTIME in milliseconds (includes suspend, like process start times).
pub fn boottime_ms() -> u64 {
    clock_ms(libc::CLOCK_BOOTTIME)
}

/// `/proc/sys/kernel/random/boot_id` (empty when unreadable).
pub fn boot_id() -> String {
    std::fs::read_to_string("/proc/sys/kernel/random/boot_id")
        .map(|s| s.trim().to_string())
        .unwrap_or_default()
}

/// Field 22 (`starttime`, clock ticks since boot) of a `/proc/PID/stat` text.
pub fn stat_starttime(stat: &str) -> Option<u64> {
    // the command name (field 2) is in parentheses and may contain spaces
    let rest = &stat[stat.rfind(')')? + 1..];
    // rest starts at field 3; field 22 is the 20th after it
    rest.split_whitespace().nth(19)?.parse().ok()
}

/// Command name (field 2) and parent pid (field 4) of a `/proc/PID/stat` text.
pub fn stat_comm_ppid(stat: &str) -> Option<(String, u32)> {
    let open = stat.find('(')?;
    let close = stat.rfind(')')?;
    let comm = stat.get(open + 1..close)?.to_string();
    let ppid = stat[close + 1..].split_whitespace().nth(1)?.parse().ok()?;
    Some((comm, ppid))
}

/// The resolution of process start times (one clock tick), in ms.
pub fn tick_ms() -> u64 {
    ticks_to_ms(1).max(1)
}

fn ticks_to_ms(ticks: u64) -> u64 {
    // SAFETY: sysconf has no preconditions.
    let hz = unsafe { libc::sysconf(libc::_SC_CLK_TCK) };
    let hz = if hz > 0 { hz as u64 } else { 100 };
    ticks * 1000 / hz
}

fn process_start_ms(pid: i32) -> Option<u64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    stat_starttime(&stat).map(ticks_to_ms)
}

/// Start of this process's session (its leader, `getsid(0)`), CLOCK_BOOTTIME ms.
pub fn session_start_ms() -> Option<u64> {
    // SAFETY: getsid has no preconditions.
    let sid = unsafe { libc::getsid(0) };
    if sid <= 0 {
        return None;
    }
    process_start_ms(sid)
}

/// (pid, command name, start in CLOCK_BOOTTIME ms) of our ancestors, parent first, up to
/// pid 1 (at most 64).
fn ancestor_processes() -> Vec<(i32, String, u64)> {
    let mut out = Vec::new();
    // SAFETY: getppid has no preconditions.
    let mut pid = unsafe { libc::getppid() };
    while pid > 1 && out.len() < 64 {
        let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else {
            break;
        };
        let (Some((comm, ppid)), Some(start)) = (stat_comm_ppid(&stat), stat_starttime(&stat))
        else {
            break;
        };
        out.push((pid, comm, ticks_to_ms(start)));
        pid = ppid as i32;
    }
    out
}

/// (command name, start in CLOCK_BOOTTIME ms) of our ancestors, parent first, up to pid 1.
pub fn ancestors() -> Vec<(String, u64)> {
    ancestor_processes()
        .into_iter()
        .map(|(_, comm, start)| (comm, start))
        .collect()
}

/// When the connection this command runs over was opened, and what that was taken from.
pub fn connection_start() -> Option<(u64, crate::core::rollout::ConnectionBasis)> {
    crate::core::rollout::connection_start(&ancestors(), session_start_ms())
}

/// Whether `addr` is an address of this (network namespace's) host: a loopback address, or
/// one an interface here holds (getifaddrs; not `bind`, which `ip_nonlocal_bind` lets succeed
/// for any address: a client read as local would pass the lint as loopback, and a server
/// read as local would have another namespace's connection linted here). A client that is
/// local sends its packets over the loopback interface.
fn is_local(addr: IpAddr) -> bool {
    if addr.is_loopback() {
        return true;
    }
    let mut head: *mut libc::ifaddrs = std::ptr::null_mut();
    // SAFETY: getifaddrs fills `head` with a list we free below, once.
    if unsafe { libc::getifaddrs(&mut head) } != 0 {
        return false;
    }
    let mut found = false;
    let mut at = head;
    while !at.is_null() {
        // SAFETY: `at` is an element of the list getifaddrs made, not yet freed.
        let ifa = unsafe { &*at };
        if !ifa.ifa_addr.is_null() {
            // SAFETY: ifa_addr points to a sockaddr whose family says its real type.
            let family = i32::from(unsafe { (*ifa.ifa_addr).sa_family });
            let ip = match family {
                libc::AF_INET => {
                    // SAFETY: an AF_INET address is a sockaddr_in.
                    let sin = unsafe { &*(ifa.ifa_addr as *const libc::sockaddr_in) };
                    Some(IpAddr::from(
                        u32::from_be(sin.sin_addr.s_addr).to_be_bytes(),
                    ))
                }
                libc::AF_INET6 => {
                    // SAFETY: an AF_INET6 address is a sockaddr_in6.
                    let sin6 = unsafe { &*(ifa.ifa_addr as *const libc::sockaddr_in6) };
                    Some(IpAddr::from(sin6.sin6_addr.s6_addr))
                }
                _ => None,
            };
            if ip == Some(addr) {
                found = true;
                break;
            }
        }
        at = ifa.ifa_next;
    }
    // SAFETY: `head` came from getifaddrs and is freed once.
    unsafe { libc::freeifaddrs(head) };
    found
}

/// The SSH connection this command runs in, if `SSH_CONNECTION` names one whose server
/// address is local here (with `--netns`, a connection to the host does not pass this ruleset).
pub fn ssh_connection() -> Option<SshConnection> {
    let s = std::env::var("SSH_CONNECTION").ok()?;
    let mut c = lint::parse_ssh_connection(&s)?;
    if is_local(c.server) {
        c.client_is_local = is_local(c.client);
        Some(c)
    } else {
        tracing::debug!(
            "SSH_CONNECTION server {} is not local here; not linted",
            c.server
        );
        None
    }
}

/// Ports of LISTEN TCP sockets owned by a process named sshd (in this network namespace).
pub fn sshd_ports() -> Vec<u16> {
    // First the sshd processes and their sockets (cheap: a few small files), and only when
    // there is one, the listening sockets of this namespace (over sock_diag, not by reading
    // /proc/net/tcp, which walks the whole established hash: ~5 ms per file on every apply).
    let mut inodes: Vec<u64> = Vec::new();
    let Ok(procs) = std::fs::read_dir("/proc") else {
        return Vec::new();
    };
    // only the processes' directories (numbers): /proc's other entries have no `comm`
    let pids = procs.flatten().filter(|p| {
        p.file_name()
            .to_str()
            .is_some_and(|n| n.bytes().all(|b| b.is_ascii_digit()))
    });
    for p in pids {
        let dir = p.path();
        let Ok(comm) = std::fs::read_to_string(dir.join("comm")) else {
            continue;
        };
        if comm.trim() != "sshd" {
            continue;
        }
        inodes.extend(socket_inodes(&dir));
    }
    if inodes.is_empty() {
        return Vec::new();
    }
    let listening = match crate::system::sockdiag::listening_tcp() {
        Ok(l) => l,
        Err(e) => {
            tracing::debug!("sock_diag failed ({e}); reading /proc/net/tcp instead");
            let mut l = Vec::new();
            for f in ["/proc/net/tcp", "/proc/net/tcp6"] {
                if let Ok(t) = std::fs::read_to_string(f) {
                    l.extend(lint::parse_proc_net_tcp(&t));
                }
            }
            l
        }
    };
    let mut ports: Vec<u16> = listening
        .iter()
        .filter(|(_, ino)| inodes.contains(ino))
        .map(|(port, _)| *port)
        .collect();
    ports.sort_unstable();
    ports.dedup();
    ports
}

/// The inodes of the sockets process directory `dir` (`/proc/PID`) holds open.
fn socket_inodes(dir: &Path) -> Vec<u64> {
    let Ok(fds) = std::fs::read_dir(dir.join("fd")) else {
        return Vec::new();
    };
    fds.flatten()
        .filter_map(|fd| {
            let target = std::fs::read_link(fd.path()).ok()?;
            target
                .to_string_lossy()
                .strip_prefix("socket:[")
                .and_then(|s| s.strip_suffix(']'))
                .and_then(|s| s.parse::<u64>().ok())
        })
        .collect()
}

/// The admin's SSH connection: `SSH_CONNECTION`; without it (sudo's `env_reset` drops it, as
/// `su -` and Ansible's `become` do), the TCP connection to one of `sshd_ports` that the sshd
/// this command runs under holds (an ancestor named `sshd` or `sshd-session`: the process of
/// that connection). Either only when its server address is local here.
pub fn admin_connection(sshd_ports: impl FnOnce() -> Vec<u16>) -> Option<SshConnection> {
    if std::env::var_os("SSH_CONNECTION").is_some() {
        return ssh_connection();
    }
    // the sockets of each sshd ancestor, nearest first
    let mut held: Vec<Vec<u64>> = Vec::new();
    for (pid, comm, _) in ancestor_processes() {
        if comm == "sshd" || comm == "sshd-session" {
            held.push(socket_inodes(Path::new(&format!("/proc/{pid}"))));
        }
    }
    let inodes: Vec<u64> = held.iter().flatten().copied().collect();
    if inodes.is_empty() {
        return None;
    }
    let sshd_ports = sshd_ports();
    let conns = crate::system::sockdiag::established_tcp(&inodes)
        .inspect_err(|e| tracing::debug!("sock_diag failed ({e}): the ssh client is unknown"))
        .ok()?;
    // A session's sshd (before OpenSSH 9.8 also named sshd) listens for its -R and X11
    // forwards itself and holds the connections accepted there, whose local port is then one
    // of `sshd_ports`: a connection on a port its own holder listens on is a forward (sshd's
    // child closes the listener's sockets), taken only when there is no other.
    let listening = crate::system::sockdiag::listening_tcp().unwrap_or_default();
    let forward = |c: &crate::system::sockdiag::Conn| {
        held.iter().any(|own| {
            own.contains(&c.inode)
                && listening
                    .iter()
                    .any(|(port, ino)| *port == c.local.port() && own.contains(ino))
        })
    };
    // the first choice: one that is no forward; then the one the farthest sshd holds
    let c = conns
        .into_iter()
        .filter(|c| sshd_ports.contains(&c.local.port()))
        .max_by_key(|c| {
            (
                !forward(c),
                held.iter().rposition(|own| own.contains(&c.inode)),
            )
        })?;
    let c = SshConnection {
        client: lint::unmapped(c.remote.ip()),
        client_port: c.remote.port(),
        server: lint::unmapped(c.local.ip()),
        server_port: c.local.port(),
        found_by: "the connection of the sshd this command runs under",
        client_is_local: false,
    };
    tracing::debug!(
        "no SSH_CONNECTION: the client is {} ({})",
        c.client,
        c.found_by
    );
    is_local(c.server).then_some(SshConnection {
        client_is_local: is_local(c.client),
        ..c
    })
}

/// The lint's facts, read in the current network namespace.
pub fn facts() -> Facts {
    let sshd_ports = sshd_ports();
    Facts {
        ssh: admin_connection(|| sshd_ports.clone()),
        sshd_ports,
    }
}

/// Whether `pid` is a live (not zombie) statewall guard: same executable as ours and
/// `guard` among its arguments.
/// Whether a statewall guard for this state directory, table and namespace is running
/// (found by its command line, as `guard::spawn` starts it): used when the pending record is
/// lost, to tell a trial a guard still holds in memory from one nobody watches.
pub fn guard_running_for(root: &Path, table: &str, netns: Option<&str>) -> bool {
    let Ok(procs) = std::fs::read_dir("/proc") else {
        return false;
    };
    let me = std::process::id();
    procs.flatten().any(|p| {
        let Some(pid) = p.file_name().to_str().and_then(|n| n.parse::<u32>().ok()) else {
            return false;
        };
        if pid == me || !guard_alive(pid) {
            return false;
        }
        let Ok(cmdline) = std::fs::read(p.path().join("cmdline")) else {
            return false;
        };
        let args: Vec<String> = cmdline
            .split(|b| *b == 0)
            .map(|a| String::from_utf8_lossy(a).into_owned())
            .collect();
        let value = |flag: &str| {
            args.iter()
                .position(|a| a == flag)
                .and_then(|i| args.get(i + 1))
                .map(String::as_str)
        };
        value("--state-dir") == root.to_str()
            && value("--table") == Some(table)
            && value("--netns") == netns
    })
}

pub fn guard_alive(pid: u32) -> bool {
    let dir = Path::new("/proc").join(pid.to_string());
    let Ok(stat) = std::fs::read_to_string(dir.join("stat")) else {
        return false;
    };
    let state = stat
        .rfind(')')
        .and_then(|i| stat[i + 1..].split_whitespace().next());
    if matches!(state, Some("Z") | Some("X") | None) {
        return false;
    }
    let Ok(cmdline) = std::fs::read(dir.join("cmdline")) else {
        return false;
    };
    if !cmdline.split(|b| *b == 0).any(|a| a == b"guard") {
        return false;
    }
    let strip = |p: std::path::PathBuf| {
        let s = p.to_string_lossy().into_owned();
        s.strip_suffix(" (deleted)")
            .map(str::to_string)
            .unwrap_or(s)
    };
    match (
        std::fs::read_link(dir.join("exe")),
        std::fs::read_link("/proc/self/exe"),
    ) {
        (Ok(a), Ok(b)) => strip(a) == strip(b),
        // no permission to read its exe: trust the command line
        _ => true,
    }
}

/// The host's clocks are the real [`Clock`](crate::core::store::Clock).
#[derive(Debug, Clone, Copy, Default)]
pub struct SystemClock;

impl crate::core::store::Clock for SystemClock {
    fn realtime_ms(&self) -> u64 {
        realtime_ms()
    }
    fn boottime_ms(&self) -> u64 {
        boottime_ms()
    }
    fn boot_id(&self) -> String {
        boot_id()
    }
    fn sleep_ms(&self, ms: u64) {
        std::thread::sleep(std::time::Duration::from_millis(ms));
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn starttime_field() {
        let stat = "1234 (my (odd) name) S 1 1234 1234 0 -1 4194560 100 0 0 0 1 2 0 0 20 0 1 0 987654 12345 67";
        assert_eq!(super::stat_starttime(stat), Some(987_654));
        assert_eq!(super::stat_starttime("garbage"), None);
    }

    #[test]
    fn comm_and_ppid() {
        let stat = "1234 (my (odd) name) S 77 1234 1234 0 -1";
        assert_eq!(
            super::stat_comm_ppid(stat),
            Some(("my (odd) name".to_string(), 77))
        );
    }

    #[test]
    fn a_client_is_local_when_an_interface_here_holds_it() {
        use super::is_local;
        assert!(is_local("127.0.0.1".parse().unwrap()));
        assert!(is_local("127.1.2.3".parse().unwrap()));
        assert!(is_local("::1".parse().unwrap()));
        // documentation addresses no interface of a test host holds: not local, even where
        // `ip_nonlocal_bind` would let a bind to them succeed
        assert!(!is_local("203.0.113.250".parse().unwrap()));
        assert!(!is_local("2001:db8:ffff::250".parse().unwrap()));
    }

    #[test]
    fn this_process_has_a_start_time_and_clocks() {
        assert!(super::process_start_ms(std::process::id() as i32).is_some());
        // The session leader may be out of sight: in a child PID namespace (containers, CI
        // runners) getsid(0) is 0 for a session begun outside it. Then there is no start time,
        // and `confirm` says the session's age is unknown instead of guessing.
        // SAFETY: getsid has no preconditions.
        let sid = unsafe { libc::getsid(0) };
        let visible = sid > 0 && std::path::Path::new(&format!("/proc/{sid}/stat")).exists();
        assert_eq!(super::session_start_ms().is_some(), visible);
        assert!(super::realtime_ms() > 1_600_000_000_000);
        assert!(!super::boot_id().is_empty());
    }
}
