//! Namespace harness for the kernel and traffic tests.
//!
//! House rules it enforces: nothing reaches the host's netfilter or links. Every test works in
//! network namespaces it created ([`Netns`], deleted on `Drop`, so also when the test panics);
//! the veth pair of a [`Pair`] is created inside `fw` with its peer moved straight into `client`,
//! and carries only documentation addresses (192.0.2.0/24, 2001:db8:5a::/64). Every external
//! command runs with a timeout; every loop is bounded.
//!
//! The tests need root and fail (they do not skip) without it.
//!
//! ```ignore
//! let pair = Pair::new("web");
//! let _listeners = listen_tcp(&pair.fw, &[22, 8080]);
//! let out = statewall(&pair.fw, ["apply", example("web-and-mail.toml").to_str().unwrap()]);
//! out.assert_code(0);
//! assert_eq!(probe_tcp(&pair.client, fw_v4(8080), PROBE_TIMEOUT), Probe::TimedOut);
//! ```

#![allow(dead_code)] // not every test file uses every helper

pub mod crafted;
pub mod flows;
pub mod forwarded;
pub mod python;
pub mod routed;
pub mod ruleset;
mod selftest;

use std::ffi::{OsStr, OsString};
use std::fmt;
use std::fs::File;
use std::io::Read;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr, TcpListener, TcpStream};
use std::os::fd::AsRawFd;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

/// Address of the firewalled side of a [`Pair`].
pub const FW_V4: Ipv4Addr = Ipv4Addr::new(192, 0, 2, 1);
pub const FW_V6: Ipv6Addr = Ipv6Addr::new(0x2001, 0xdb8, 0x5a, 0, 0, 0, 0, 1);
/// Address of the client side of a [`Pair`].
pub const CLIENT_V4: Ipv4Addr = Ipv4Addr::new(192, 0, 2, 2);
pub const CLIENT_V6: Ipv6Addr = Ipv6Addr::new(0x2001, 0xdb8, 0x5a, 0, 0, 0, 0, 2);
/// An address inside the pair's subnets that nobody owns (nothing answers ARP/ND for it).
pub const SILENT_V4: Ipv4Addr = Ipv4Addr::new(192, 0, 2, 3);
/// Interface names of the veth ends (each lives in its own namespace).
pub const FW_IF: &str = "veth-fw";
pub const CLIENT_IF: &str = "veth-client";

/// A reasonable connect timeout for "is it dropped?" probes.
pub const PROBE_TIMEOUT: Duration = Duration::from_millis(1500);
/// Upper bound for any external command (ip, nft, ping, statewall).
pub const CMD_TIMEOUT: Duration = Duration::from_secs(60);
/// Upper bound for waiting until a pair is usable.
const SETUP_TIMEOUT: Duration = Duration::from_secs(10);
/// Listener threads stop on their own after this, even if `Listeners` is leaked.
const LISTENER_MAX: Duration = Duration::from_secs(300);

pub fn fw_v4(port: u16) -> SocketAddr {
    SocketAddr::new(IpAddr::V4(FW_V4), port)
}

pub fn fw_v6(port: u16) -> SocketAddr {
    SocketAddr::new(IpAddr::V6(FW_V6), port)
}

/// A file in the repository, e.g. `repo_path("examples/web-and-mail.toml")`.
pub fn repo_path(relative: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join(relative)
}

/// An example policy, e.g. `example("web-and-mail.toml")`.
pub fn example(name: &str) -> PathBuf {
    repo_path("examples").join(name)
}

/// Panics with a clear message unless we are root (and `ip` is there).
pub fn require_root() {
    // SAFETY: geteuid has no preconditions and cannot fail.
    let euid = unsafe { libc::geteuid() };
    assert!(
        euid == 0,
        "this test creates network namespaces and needs root (euid is {euid}); it is not \
         skipped on purpose. Run the tests as root, e.g. `sudo -E cargo test --test it`, or \
         `cargo xtask ci` as root"
    );
}

// ---------------------------------------------------------------------------------------------
// Running commands

/// What a command did: exit code and captured output.
#[derive(Debug, Clone)]
pub struct Output {
    /// The command line, for messages.
    pub cmdline: String,
    /// Exit code; `None` when killed by a signal (or by our timeout).
    pub code: Option<i32>,
    pub stdout: String,
    pub stderr: String,
    pub timed_out: bool,
}

impl Output {
    pub fn success(&self) -> bool {
        self.code == Some(0)
    }

    /// Panics (showing the command and both outputs) unless the exit code is `code`.
    #[track_caller]
    pub fn assert_code(&self, code: i32) -> &Self {
        assert!(
            self.code == Some(code),
            "expected exit code {code}, got:\n{self}"
        );
        self
    }

    /// Panics (showing the command and both outputs) unless the command succeeded.
    #[track_caller]
    pub fn assert_ok(&self) -> &Self {
        self.assert_code(0)
    }
}

impl fmt::Display for Output {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let how = match (self.timed_out, self.code) {
            (true, _) => "timed out and was killed".to_string(),
            (false, Some(c)) => format!("exited with code {c}"),
            (false, None) => "was killed by a signal".to_string(),
        };
        writeln!(f, "`{}` {how}", self.cmdline)?;
        writeln!(f, "--- stdout\n{}", self.stdout.trim_end())?;
        write!(f, "--- stderr\n{}", self.stderr.trim_end())
    }
}

fn cmdline(cmd: &Command) -> String {
    let mut words = vec![cmd.get_program().to_string_lossy().into_owned()];
    words.extend(cmd.get_args().map(|a| a.to_string_lossy().into_owned()));
    words.join(" ")
}

/// Runs `cmd` (stdin closed) with a timeout, capturing stdout and stderr. Panics only when the
/// program cannot be started at all.
/// Waits for `child` at most `timeout`, then kills it: (its status, whether it was killed).
pub fn wait_bounded(
    child: &mut std::process::Child,
    timeout: Duration,
) -> (Option<std::process::ExitStatus>, bool) {
    let deadline = Instant::now() + timeout;
    loop {
        match child.try_wait() {
            Ok(Some(status)) => return (Some(status), false),
            Ok(None) if Instant::now() >= deadline => {
                let _ = child.kill();
                return (child.wait().ok(), true);
            }
            Ok(None) => thread::sleep(Duration::from_millis(5)),
            Err(_) => return (None, false),
        }
    }
}

pub fn run_cmd(cmd: Command, timeout: Duration) -> Output {
    run_cmd_with(cmd, timeout, None)
}

/// [`run_cmd`] with `text` on the command's stdin (written by a thread, so a command that
/// does not read cannot block the test), with [`CMD_TIMEOUT`].
pub fn run_with_stdin(cmd: Command, text: &str) -> Output {
    run_cmd_with(cmd, CMD_TIMEOUT, Some(text))
}

fn run_cmd_with(mut cmd: Command, timeout: Duration, stdin: Option<&str>) -> Output {
    let line = cmdline(&cmd);
    let mut child = cmd
        .stdin(if stdin.is_some() {
            Stdio::piped()
        } else {
            Stdio::null()
        })
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("cannot run `{line}`: {e}"));
    if let (Some(text), Some(mut pipe)) = (stdin, child.stdin.take()) {
        let text = text.to_string();
        thread::spawn(move || {
            use std::io::Write;
            let _ = pipe.write_all(text.as_bytes());
        });
    }
    let reader = |pipe: Option<Box<dyn Read + Send>>| {
        thread::spawn(move || {
            let mut buf = Vec::new();
            if let Some(mut pipe) = pipe {
                let _ = pipe.read_to_end(&mut buf);
            }
            String::from_utf8_lossy(&buf).into_owned()
        })
    };
    let out = reader(child.stdout.take().map(|p| Box::new(p) as _));
    let err = reader(child.stderr.take().map(|p| Box::new(p) as _));
    let (status, timed_out) = wait_bounded(&mut child, timeout);
    Output {
        cmdline: line,
        code: if timed_out {
            None
        } else {
            status.and_then(|s| s.code())
        },
        stdout: out.join().unwrap_or_default(),
        stderr: err.join().unwrap_or_default(),
        timed_out,
    }
}

/// `ip ARGS` in the current (host) namespace — only for `ip netns add/del/list`.
fn ip_host<I, S>(args: I) -> Output
where
    I: IntoIterator<Item = S>,
    S: AsRef<OsStr>,
{
    let mut cmd = Command::new("ip");
    cmd.args(args);
    run_cmd(cmd, CMD_TIMEOUT)
}

/// Names of the network namespaces in `ip netns list`.
pub fn netns_list() -> Vec<String> {
    let out = ip_host(["netns", "list"]);
    out.assert_ok();
    out.stdout
        .lines()
        .filter_map(|l| l.split_whitespace().next())
        .map(str::to_string)
        .collect()
}

// ---------------------------------------------------------------------------------------------
// Namespaces

static COUNTER: AtomicUsize = AtomicUsize::new(0);
/// `ip netns add` sets up the shared `/run/netns` mount on first use; concurrent first calls
/// from parallel tests could stack two mounts, so adds are serialised within the process.
static ADD_LOCK: Mutex<()> = Mutex::new(());

/// A named network namespace (`/run/netns/NAME`) this test created; deleted on `Drop`.
#[derive(Debug)]
pub struct Netns {
    name: String,
}

impl Netns {
    /// Creates `sw-<tag>-<pid>-<counter>` and brings its `lo` up. IPv6 duplicate address
    /// detection is switched off inside it, so addresses are usable at once.
    pub fn new(tag: &str) -> Netns {
        require_root();
        let n = COUNTER.fetch_add(1, Ordering::Relaxed);
        let name = format!("sw-{tag}-{}-{n}", std::process::id());
        {
            let _serial = ADD_LOCK
                .lock()
                .unwrap_or_else(|poisoned| poisoned.into_inner());
            ip_host(["netns", "add", &name]).assert_ok();
        }
        // From here on Drop deletes it, whatever fails next.
        let ns = Netns { name };
        ns.exec(["ip", "link", "set", "lo", "up"]).assert_ok();
        ns.run(|| {
            for conf in ["all", "default"] {
                let path = format!("/proc/sys/net/ipv6/conf/{conf}/accept_dad");
                std::fs::write(&path, "0").unwrap_or_else(|e| panic!("writing {path}: {e}"));
            }
        });
        ns
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    /// This namespace's own statewall state directory (a temp dir, removed on `Drop`): tests
    /// never share `/var/lib/statewall`, nor one another's records.
    pub fn state_dir(&self) -> PathBuf {
        std::env::temp_dir().join(format!("statewall-state-{}", self.name))
    }

    /// `/run/netns/NAME`, usable as `statewall --netns PATH` or with `setns`.
    pub fn path(&self) -> PathBuf {
        Path::new("/run/netns").join(&self.name)
    }

    /// Runs a command inside the namespace (`ip netns exec NAME ARGS`), with [`CMD_TIMEOUT`].
    pub fn exec<I, S>(&self, args: I) -> Output
    where
        I: IntoIterator<Item = S>,
        S: AsRef<OsStr>,
    {
        let mut cmd = Command::new("ip");
        cmd.args(["netns", "exec", &self.name]).args(args);
        run_cmd(cmd, CMD_TIMEOUT)
    }

    /// `nft ARGS` inside the namespace. An oracle for reading state back — tests do not build
    /// rulesets with it.
    pub fn nft<I, S>(&self, args: I) -> Output
    where
        I: IntoIterator<Item = S>,
        S: AsRef<OsStr>,
    {
        // nft reads and prints times of day and dates in its own timezone; statewall's are UTC
        let mut all: Vec<OsString> = vec!["env".into(), "TZ=UTC".into(), "nft".into()];
        all.extend(args.into_iter().map(|a| a.as_ref().to_os_string()));
        self.exec(all)
    }

    /// Runs `f` on a fresh thread that has entered this namespace (`setns(CLONE_NEWNET)`), and
    /// returns its result (a panic in `f` is re-raised here). Sockets created in `f` belong to
    /// this namespace for their whole life, whichever thread uses them later.
    pub fn run<T: Send>(&self, f: impl FnOnce() -> T + Send) -> T {
        let path = self.path();
        let file =
            File::open(&path).unwrap_or_else(|e| panic!("cannot open {}: {e}", path.display()));
        thread::scope(|scope| {
            let handle = scope.spawn(move || {
                // SAFETY: a valid namespace fd; setns only affects this (new) thread.
                let rc = unsafe { libc::setns(file.as_raw_fd(), libc::CLONE_NEWNET) };
                assert!(
                    rc == 0,
                    "setns({}) failed: {}",
                    path.display(),
                    std::io::Error::last_os_error()
                );
                drop(file);
                f()
            });
            match handle.join() {
                Ok(value) => value,
                Err(panic) => std::panic::resume_unwind(panic),
            }
        })
    }
}

impl Drop for Netns {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(self.state_dir());
        // Deleting the namespace also destroys its links (a veth takes its peer with it) and
        // its nf_tables ruleset. Never panic here: we may already be unwinding.
        let out = ip_host(["netns", "del", &self.name]);
        if !out.success() {
            eprintln!(
                "WARNING: could not delete network namespace {}:\n{out}",
                self.name
            );
        }
    }
}

/// An IPv4 /24 and an IPv6 /64 (no DAD) on `dev` of `ns`.
fn add_addresses(ns: &Netns, dev: &str, v4: Ipv4Addr, v6: Ipv6Addr) {
    ns.exec(["ip", "addr", "add", &format!("{v4}/24"), "dev", dev])
        .assert_ok();
    ns.exec([
        "ip",
        "-6",
        "addr",
        "add",
        &format!("{v6}/64"),
        "dev",
        dev,
        "nodad",
    ])
    .assert_ok();
}

/// Two namespaces joined by a veth pair: `fw` (the firewalled host: 192.0.2.1/24,
/// 2001:db8:5a::1/64 on `veth-fw`) and `client` (192.0.2.2/24, 2001:db8:5a::2/64 on
/// `veth-client`). Both ends are up, addresses are not tentative.
#[derive(Debug)]
pub struct Pair {
    pub fw: Netns,
    pub client: Netns,
}

impl Pair {
    pub fn new(tag: &str) -> Pair {
        let fw = Netns::new(&format!("{tag}-fw"));
        let client = Netns::new(&format!("{tag}-cl"));
        // Created inside fw, the peer goes straight into client: the host never sees either.
        fw.exec([
            "ip",
            "link",
            "add",
            FW_IF,
            "type",
            "veth",
            "peer",
            "name",
            CLIENT_IF,
            "netns",
            client.name(),
        ])
        .assert_ok();
        for (ns, dev, v4, v6) in [
            (&fw, FW_IF, FW_V4, FW_V6),
            (&client, CLIENT_IF, CLIENT_V4, CLIENT_V6),
        ] {
            add_addresses(ns, dev, v4, v6);
            ns.exec(["ip", "link", "set", dev, "up"]).assert_ok();
        }
        let pair = Pair { fw, client };
        pair.wait_ready();
        pair
    }

    /// Gives the client one more source address per family (on its veth, no DAD): "another
    /// source" for tests of what one source may do and another may not.
    pub fn add_client_address(&self, v4: Ipv4Addr, v6: Ipv6Addr) {
        add_addresses(&self.client, CLIENT_IF, v4, v6);
    }

    /// Both ends forget their IPv6 neighbours: the next packet between them starts with a
    /// neighbour solicitation, which must get through the rules (conntrack leaves it
    /// untracked).
    pub fn forget_neighbours(&self) {
        for ns in [&self.fw, &self.client] {
            ns.exec(["ip", "-6", "neigh", "flush", "all"]).assert_ok();
        }
    }

    /// Bounded wait until both ends have carrier and no IPv6 address is tentative.
    fn wait_ready(&self) {
        let deadline = Instant::now() + SETUP_TIMEOUT;
        loop {
            let mut last = String::new();
            let ready = [(&self.fw, FW_IF), (&self.client, CLIENT_IF)]
                .into_iter()
                .all(|(ns, dev)| {
                    let link = ns.exec(["ip", "-o", "link", "show", "dev", dev]);
                    let tentative =
                        ns.exec(["ip", "-6", "-o", "addr", "show", "dev", dev, "tentative"]);
                    last = format!("{link}\n{tentative}");
                    link.success()
                        && link.stdout.contains("LOWER_UP")
                        && tentative.success()
                        && tentative.stdout.trim().is_empty()
                });
            if ready {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "veth pair {} <-> {} not ready within {:?}; last check:\n{last}",
                self.fw.name(),
                self.client.name(),
                SETUP_TIMEOUT
            );
            thread::sleep(Duration::from_millis(20));
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Traffic

/// TCP listeners bound inside a namespace; they stop (and their threads are joined) on `Drop`.
pub struct Listeners {
    ports: Vec<u16>,
    stop: Arc<AtomicBool>,
    threads: Vec<JoinHandle<()>>,
}

impl Listeners {
    /// The bound ports, in the order given (useful with port 0).
    pub fn ports(&self) -> &[u16] {
        &self.ports
    }
}

impl Drop for Listeners {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        for t in self.threads.drain(..) {
            let _ = t.join();
        }
    }
}

/// Binds dual-stack TCP listeners on `[::]:PORT` (IPv4 and IPv6) inside `ns`, accepting and
/// closing connections in background threads until the returned [`Listeners`] is dropped.
pub fn listen_tcp(ns: &Netns, ports: &[u16]) -> Listeners {
    let listeners: Vec<TcpListener> = ns.run(|| {
        ports
            .iter()
            .map(|&port| {
                let l = TcpListener::bind((Ipv6Addr::UNSPECIFIED, port)).unwrap_or_else(|e| {
                    panic!("cannot listen on [::]:{port} in {}: {e}", ns.name())
                });
                l.set_nonblocking(true).expect("set_nonblocking");
                l
            })
            .collect()
    });
    let stop = Arc::new(AtomicBool::new(false));
    let mut bound = Vec::new();
    let mut threads = Vec::new();
    for listener in listeners {
        bound.push(listener.local_addr().expect("local_addr").port());
        let stop = Arc::clone(&stop);
        threads.push(thread::spawn(move || {
            let deadline = Instant::now() + LISTENER_MAX;
            while !stop.load(Ordering::SeqCst) && Instant::now() < deadline {
                match listener.accept() {
                    Ok((stream, _)) => drop(stream),
                    Err(_) => thread::sleep(Duration::from_millis(5)),
                }
            }
        }));
    }
    Listeners {
        ports: bound,
        stop,
        threads,
    }
}

/// How a TCP connection attempt ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Probe {
    Connected,
    /// ECONNREFUSED: a TCP RST (closed port, or a `reject with tcp reset` rule).
    Refused,
    /// No answer within the timeout (e.g. dropped).
    TimedOut,
    Other(String),
}

impl fmt::Display for Probe {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Probe::Connected => f.write_str("connected"),
            Probe::Refused => f.write_str("refused"),
            Probe::TimedOut => f.write_str("timed out"),
            Probe::Other(e) => write!(f, "error: {e}"),
        }
    }
}

/// Connects from inside `ns` to `addr` with `timeout`.
pub fn probe_tcp(ns: &Netns, addr: SocketAddr, timeout: Duration) -> Probe {
    ns.run(
        || match TcpStream::connect_timeout(&addr, timeout).map_err(|e| (e.kind(), e)) {
            Ok(_) => Probe::Connected,
            Err((std::io::ErrorKind::ConnectionRefused, _)) => Probe::Refused,
            Err((std::io::ErrorKind::TimedOut, _)) => Probe::TimedOut,
            Err((kind, e)) => Probe::Other(format!("{e} ({kind:?})")),
        },
    )
}

/// One ICMP echo (`ping -c 1 -W 2 ADDR`) from inside `ns`; true if answered.
pub fn ping(ns: &Netns, addr: impl Into<IpAddr>) -> bool {
    let addr = addr.into().to_string();
    ns.exec(["ping", "-n", "-q", "-c", "1", "-W", "2", &addr])
        .success()
}

// ---------------------------------------------------------------------------------------------
// The product

/// Runs the statewall binary under test as `statewall --netns NAME ARGS` (cwd: the repository
/// root, so relative paths like `examples/web-and-mail.toml` work), with [`CMD_TIMEOUT`].
pub fn statewall<I, S>(ns: &Netns, args: I) -> Output
where
    I: IntoIterator<Item = S>,
    S: AsRef<OsStr>,
{
    let mut cmd = bin(Some(ns));
    cmd.arg("--netns").arg(ns.name()).args(args);
    run_cmd(cmd, CMD_TIMEOUT)
}

/// The statewall binary under test (cwd: the repository root), never with the default state
/// directory: `ns`'s own one, or — for commands that need no namespace (`check`, `import`) —
/// a fresh path nobody else uses. An explicit `--state-dir` still wins over it.
pub fn bin(ns: Option<&Netns>) -> Command {
    let state = match ns {
        Some(ns) => ns.state_dir(),
        None => std::env::temp_dir().join(format!(
            "statewall-state-none-{}-{}",
            std::process::id(),
            COUNTER.fetch_add(1, Ordering::Relaxed)
        )),
    };
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_statewall"));
    cmd.env("STATEWALL_STATE_DIR", state)
        .current_dir(env!("CARGO_MANIFEST_DIR"));
    cmd
}

/// Someone else's change to statewall's table: `tcp dport PORT accept` appended to its input
/// chain with nft (drift).
pub fn add_foreign_rule(ns: &Netns, port: u16) {
    ns.nft([
        "add",
        "rule",
        "inet",
        "statewall",
        "input",
        "tcp",
        "dport",
        &port.to_string(),
        "accept",
    ])
    .assert_ok();
}

/// `statewall set list SET --json` in `ns`: each member with what is left of its lifetime
/// in ms (None for one that never expires), in the order listed.
pub fn set_members(ns: &Netns, set: &str) -> Vec<(String, Option<u64>)> {
    let out = statewall(ns, ["set", "list", set, "--json"]);
    out.assert_ok();
    members_of(&out.stdout)
}

/// The members of `set list --json` output, each with what is left of its lifetime in ms.
pub fn members_of(json: &str) -> Vec<(String, Option<u64>)> {
    let doc: serde_json::Value = serde_json::from_str(json).unwrap();
    doc["members"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| {
            let member = m["member"].as_str().unwrap().to_string();
            (member, m["expires_in_ms"].as_u64())
        })
        .collect()
}

/// A policy whose live sets the packet path feeds (`path`): nft reads its batch as the
/// rendered text, readback finds no drift, and the kernel made `set` a dynamic hash set
/// with timeouts (nft as the oracle).
pub fn fed_set_is_dynamic(tag: &str, path: &str, set: &str) {
    crate::kernel::same_to_nft(path, &[]);
    let (ns, _) = crate::kernel::applied_without_drift(tag, path);
    let listed = ns.nft(["list", "set", "inet", "statewall", set]);
    listed.assert_ok();
    assert!(listed.stdout.contains("flags dynamic,timeout"), "{listed}");
}

/// `statewall --netns NAME status --json`, required to succeed, parsed.
pub fn status_json(ns: &Netns) -> serde_json::Value {
    let out = statewall(ns, ["status", "--json"]);
    out.assert_ok();
    serde_json::from_str(&out.stdout)
        .unwrap_or_else(|e| panic!("`status --json` printed invalid JSON ({e}):\n{out}"))
}

/// The rules (across all chains) of a `status --json` document whose comment is `comment`.
pub fn rules_named<'a>(status: &'a serde_json::Value, comment: &str) -> Vec<&'a serde_json::Value> {
    status["chains"]
        .as_array()
        .into_iter()
        .flatten()
        .flat_map(|chain| chain["rules"].as_array().into_iter().flatten())
        .filter(|rule| rule["comment"] == comment)
        .collect()
}

/// Sum of the packet counters of the rules named `comment` in a `status --json` document.
pub fn packets_of(status: &serde_json::Value, comment: &str) -> u64 {
    rules_named(status, comment)
        .iter()
        .map(|rule| rule["packets"].as_u64().unwrap_or(0))
        .sum()
}

// ---------------------------------------------------------------------------------------------
// Policy files

/// A policy written to a uniquely named file in the temp dir; removed on drop.
pub struct TempPolicy(PathBuf);

impl TempPolicy {
    pub fn new(tag: &str, text: &str) -> TempPolicy {
        let n = COUNTER.fetch_add(1, Ordering::Relaxed);
        let path = std::env::temp_dir().join(format!(
            "statewall-test-{tag}-{}-{n}.toml",
            std::process::id()
        ));
        std::fs::write(&path, text)
            .unwrap_or_else(|e| panic!("cannot write {}: {e}", path.display()));
        TempPolicy(path)
    }

    pub fn path(&self) -> String {
        self.0.display().to_string()
    }
}

impl Drop for TempPolicy {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

// ---------------------------------------------------------------------------------------------
// A real sshd

/// OpenSSH's sshd, listening on `port` inside `ns` only (a host key made for the test, no
/// config file, no PAM); killed on drop. What the product finds as "sshd's ports" and what a
/// NEW ssh connection reaches.
pub struct Sshd {
    child: std::process::Child,
    dir: PathBuf,
}

impl Sshd {
    pub fn start(ns: &Netns, port: u16) -> Sshd {
        let n = COUNTER.fetch_add(1, Ordering::Relaxed);
        let dir = std::env::temp_dir().join(format!("statewall-sshd-{}-{n}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let key = dir.join("host_key");
        let mut keygen = Command::new("ssh-keygen");
        keygen
            .args(["-q", "-t", "ed25519", "-N", "", "-f"])
            .arg(&key);
        run_cmd(keygen, CMD_TIMEOUT).assert_ok();
        // sshd's privilege separation directory
        std::fs::create_dir_all("/run/sshd").unwrap();
        let child = Command::new("ip")
            .args([
                "netns",
                "exec",
                ns.name(),
                "/usr/sbin/sshd",
                "-D",
                "-e",
                "-f",
                "/dev/null",
            ])
            .arg("-h")
            .arg(&key)
            .args([
                "-p",
                &port.to_string(),
                "-o",
                "PidFile=none",
                "-o",
                "UsePAM=no",
            ])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("sshd starts (openssh-server; `cargo xtask deps` installs it)");
        let sshd = Sshd { child, dir };
        // listening when a connection from inside the namespace is accepted (bounded)
        let deadline = Instant::now() + Duration::from_secs(10);
        while !ns.run(|| {
            TcpStream::connect_timeout(
                &SocketAddr::new(IpAddr::V4(Ipv4Addr::LOCALHOST), port),
                Duration::from_millis(200),
            )
            .is_ok()
        }) {
            assert!(Instant::now() < deadline, "sshd did not listen on {port}");
            thread::sleep(Duration::from_millis(50));
        }
        sshd
    }
}

impl Drop for Sshd {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// The packets counted by the rules named `comment` whose verdict starts with `verdict`.
pub fn counted(st: &serde_json::Value, comment: &str, verdict: &str) -> u64 {
    rules_named(st, comment)
        .iter()
        .filter(|r| {
            r["verdict"]
                .as_str()
                .is_some_and(|v| v.starts_with(verdict))
        })
        .map(|r| r["packets"].as_u64().unwrap_or(0))
        .sum()
}

/// The Internet checksum (RFC 1071) of `parts` taken as one run of bytes (each part an even
/// length but the last): a pseudo-header and a segment, or an ICMP message.
pub fn inet_checksum(parts: &[&[u8]]) -> u16 {
    let mut sum: u32 = 0;
    for b in parts {
        for w in b.chunks(2) {
            sum += u32::from(u16::from_be_bytes([w[0], *w.get(1).unwrap_or(&0)]));
        }
    }
    while sum > 0xffff {
        sum = (sum & 0xffff) + (sum >> 16);
    }
    !(sum as u16)
}

/// Sends `n` bare TCP segments with `flags` (SYN 0x02, RST 0x04, …) from `src` (port 40000)
/// to `dst` through a raw socket in `ns`, none of a connection: conntrack calls them
/// invalid where no connection may begin with them (SYN with FIN, a lone RST).
pub fn send_tcp_flags(ns: &Netns, src: Ipv4Addr, dst: SocketAddr, flags: u8, n: usize) {
    let IpAddr::V4(dst_ip) = dst.ip() else {
        panic!("IPv4 only")
    };
    let seg = crafted::segment(src, 40_000, dst_ip, dst.port(), flags);
    ns.run(move || raw4_send(&raw4(libc::IPPROTO_TCP, src, None), &seg, dst_ip, n));
}

/// A raw IPv4 socket of protocol `proto` bound to `src`, in the namespace of the calling
/// thread (call it inside [`Netns::run`]); with `recv_wait`, its receive timeout.
pub fn raw4(
    proto: libc::c_int,
    src: Ipv4Addr,
    recv_wait: Option<Duration>,
) -> std::os::fd::OwnedFd {
    use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
    let from = sockaddr4(src);
    // SAFETY: plain socket calls on a descriptor owned here, with valid buffers.
    unsafe {
        let fd = libc::socket(libc::AF_INET, libc::SOCK_RAW, proto);
        assert!(fd >= 0, "raw socket: {}", std::io::Error::last_os_error());
        let fd = OwnedFd::from_raw_fd(fd);
        let len = std::mem::size_of::<libc::sockaddr_in>() as libc::socklen_t;
        let rc = libc::bind(fd.as_raw_fd(), (&raw const from).cast(), len);
        assert_eq!(rc, 0, "bind: {}", std::io::Error::last_os_error());
        if let Some(w) = recv_wait {
            let tv = libc::timeval {
                tv_sec: w.as_secs() as libc::time_t,
                tv_usec: w.subsec_micros() as libc::suseconds_t,
            };
            let tvl = std::mem::size_of::<libc::timeval>() as libc::socklen_t;
            let rc = libc::setsockopt(
                fd.as_raw_fd(),
                libc::SOL_SOCKET,
                libc::SO_RCVTIMEO,
                (&raw const tv).cast(),
                tvl,
            );
            assert_eq!(rc, 0, "SO_RCVTIMEO: {}", std::io::Error::last_os_error());
        }
        fd
    }
}

/// Sends `msg` through raw socket `fd` to `dst`, `n` times.
pub fn raw4_send(fd: &std::os::fd::OwnedFd, msg: &[u8], dst: Ipv4Addr, n: usize) {
    let to = sockaddr4(dst);
    let len = std::mem::size_of::<libc::sockaddr_in>();
    sendto_n(fd, msg, (&raw const to).cast(), len, n);
}

/// A raw IPv6 socket of next header `proto` (the kernel writes the IPv6 header), in the
/// namespace of the calling thread (call it inside [`Netns::run`]).
pub fn raw6(proto: libc::c_int) -> std::os::fd::OwnedFd {
    use std::os::fd::{FromRawFd, OwnedFd};
    // SAFETY: a plain socket call; the descriptor is owned from here on.
    unsafe {
        let fd = libc::socket(libc::AF_INET6, libc::SOCK_RAW, proto);
        assert!(fd >= 0, "raw socket: {}", std::io::Error::last_os_error());
        OwnedFd::from_raw_fd(fd)
    }
}

/// Sends `msg` through raw IPv6 socket `fd` to `dst`, `n` times.
pub fn raw6_send(fd: &std::os::fd::OwnedFd, msg: &[u8], dst: std::net::Ipv6Addr, n: usize) {
    // SAFETY: a plain C struct, all zeroes is valid.
    let mut to: libc::sockaddr_in6 = unsafe { std::mem::zeroed() };
    to.sin6_family = libc::AF_INET6 as libc::sa_family_t;
    to.sin6_addr.s6_addr = dst.octets();
    let len = std::mem::size_of::<libc::sockaddr_in6>();
    sendto_n(fd, msg, (&raw const to).cast(), len, n);
}

/// `n` sendto calls of `msg` through `fd` to the socket address at `to`, `len` bytes long
/// (the caller's own, alive for the call).
fn sendto_n(
    fd: &std::os::fd::OwnedFd,
    msg: &[u8],
    to: *const libc::sockaddr,
    len: usize,
    n: usize,
) {
    use std::os::fd::AsRawFd;
    for _ in 0..n {
        // SAFETY: a sendto on a descriptor `fd` owns, with a valid buffer and an address of
        // `len` bytes.
        let sent = unsafe {
            libc::sendto(
                fd.as_raw_fd(),
                msg.as_ptr().cast(),
                msg.len(),
                0,
                to,
                len as libc::socklen_t,
            )
        };
        assert_eq!(
            usize::try_from(sent).ok(),
            Some(msg.len()),
            "sendto: {}",
            std::io::Error::last_os_error()
        );
    }
}

fn sockaddr4(ip: Ipv4Addr) -> libc::sockaddr_in {
    // SAFETY: a plain C struct, all zeroes is valid.
    let mut sa: libc::sockaddr_in = unsafe { std::mem::zeroed() };
    sa.sin_family = libc::AF_INET as libc::sa_family_t;
    sa.sin_addr.s_addr = u32::from_ne_bytes(ip.octets());
    sa
}

/// The payloads of the datagrams that arrive at `sock` (a socket with a short read timeout)
/// within `settle`, as text: what a test sent, by name.
pub fn payloads_within(
    sock: &std::net::UdpSocket,
    settle: Duration,
) -> std::collections::BTreeSet<String> {
    let mut got = std::collections::BTreeSet::new();
    let end = Instant::now() + settle;
    let mut buf = [0u8; 64];
    while Instant::now() < end {
        while let Ok(n) = sock.recv(&mut buf) {
            got.insert(String::from_utf8_lossy(&buf[..n]).into_owned());
        }
    }
    got
}

/// Datagrams from `ns` to `to` from one socket of `to`'s family: each `tag(i)` (a number
/// between two `#`, as [`ids_within`] reads it) and then payload `i`.
pub fn send_tagged(ns: &Netns, to: SocketAddr, payloads: Vec<Vec<u8>>, tag: fn(usize) -> String) {
    ns.run(|| {
        let any: IpAddr = if to.is_ipv6() {
            Ipv6Addr::UNSPECIFIED.into()
        } else {
            Ipv4Addr::UNSPECIFIED.into()
        };
        let s = std::net::UdpSocket::bind((any, 0)).expect("udp bind");
        for (i, p) in payloads.into_iter().enumerate() {
            let mut data = tag(i).into_bytes();
            data.extend_from_slice(&p);
            s.send_to(&data, to).expect("send");
        }
    });
}

/// The numbers of the datagrams [`send_tagged`] sent that arrived at `sock` within `settle`.
pub fn ids_within(
    sock: &std::net::UdpSocket,
    settle: Duration,
) -> std::collections::BTreeSet<usize> {
    payloads_within(sock, settle)
        .iter()
        .map(|p| {
            p.split('#')
                .nth(1)
                .and_then(|d| d.parse().ok())
                .expect("an id")
        })
        .collect()
}

/// A UDP socket on `[::]:PORT` (both families) inside `ns`, reading with a 50 ms timeout:
/// for [`payloads_within`].
pub fn udp_listen(ns: &Netns, port: u16) -> std::net::UdpSocket {
    ns.run(|| {
        let s = std::net::UdpSocket::bind((Ipv6Addr::UNSPECIFIED, port)).expect("udp bind");
        s.set_read_timeout(Some(Duration::from_millis(50)))
            .expect("read timeout");
        s
    })
}

/// The datagrams `send` sends inside each namespace to itself over loopback, to `port` on
/// IPv4 and then IPv6: those that arrive in statewall's (`ours`) must be those that arrive
/// in the oracle's (`theirs`), and must tell the datagrams apart (some of the `sent` arrive,
/// not all). Returns how many did not arrive in both families together (what statewall's
/// rule took). `what` names the case in messages. A difference must survive a second look
/// (a CI run on a loaded machine once saw the oracle let one datagram through that it
/// dropped in every other run); statewall's takes count in both looks, as its counter does.
pub fn loopback_alike(
    (ours, theirs): (&Netns, &Netns),
    (port, sent): (u16, usize),
    send: impl Fn(&Netns, SocketAddr),
    what: &str,
) -> usize {
    let mut taken = 0;
    for to in [
        SocketAddr::from((Ipv4Addr::LOCALHOST, port)),
        SocketAddr::from((Ipv6Addr::LOCALHOST, port)),
    ] {
        let look = || -> Vec<_> {
            [ours, theirs]
                .iter()
                .map(|ns| {
                    let sock = udp_listen(ns, port);
                    send(ns, to);
                    payloads_within(&sock, Duration::from_millis(500))
                })
                .collect()
        };
        let mut got = look();
        if got[0] != got[1] {
            taken += sent - got[0].len();
            got = look();
        }
        assert_eq!(
            got[0], got[1],
            "{what} to {to}: statewall's, then the oracle's"
        );
        assert!(
            !got[0].is_empty() && got[0].len() < sent,
            "{what} to {to}: the datagrams are told apart ({:?})",
            got[0]
        );
        taken += sent - got[0].len();
    }
    taken
}

/// The oracle of a match's kernel test: in `ns`, iptables-nft-restore and
/// ip6tables-nft-restore of a filter table whose chains accept, with the one rule `rule`
/// (`-A INPUT …`) in both families.
pub fn restore_one_rule(ns: &Netns, rule: &str) {
    for (tool, suffix) in [
        ("iptables-nft-restore", "rules"),
        ("ip6tables-nft-restore", "rules6"),
    ] {
        let rules = format!(
            "*filter\n:INPUT ACCEPT [0:0]\n:FORWARD ACCEPT [0:0]\n:OUTPUT ACCEPT [0:0]\n{rule}\nCOMMIT\n"
        );
        let file = std::env::temp_dir().join(format!("statewall-oracle-{}.{suffix}", ns.name()));
        std::fs::write(&file, rules).expect("write the oracle's rules");
        let loaded = ns.exec([tool, file.to_str().expect("a UTF-8 temp dir")]);
        let _ = std::fs::remove_file(&file);
        loaded.assert_ok();
    }
}

/// A set of names, as [`payloads_within`] returns them.
pub fn names(list: &[&str]) -> std::collections::BTreeSet<String> {
    list.iter().map(|s| s.to_string()).collect()
}
