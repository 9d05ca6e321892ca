//! The iptables-save importer.
//!
//! 1. Data-driven: every `tests/data/import/NAME.rules` is imported and the result compared with
//!    `NAME.expected` (the TOML, then the notes; or the rendered diagnostics). `ok-*` import,
//!    `err-*` are refused, `noflag-*` are imported without an IPv6 choice (and so refused).
//!    Options: `--ipv6 NAME.rules6` when that file exists, else `--mirror-ipv6`.
//!    `UPDATE_EXPECT=1 cargo test --test it import` rewrites the `.expected` files; review them.
//! 2. Differential, against the real thing: the same file loaded with `iptables-nft-restore`
//!    in one namespace pair and applied by statewall (`apply FILE.rules --mirror-ipv6`) in another;
//!    the same probe matrix (TCP to every port of the file and some others, ICMP echo, from an
//!    allowed and a disallowed client address) must get the same verdict from both.

use std::fs;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::path::PathBuf;
use std::time::Duration;

use statewall::core::import::{self, Input, Ipv6};

use crate::support::{
    CLIENT_IF, CLIENT_V4, CLIENT_V6, FW_V4, FW_V6, Netns, PROBE_TIMEOUT, Pair, listen_tcp,
    repo_path, statewall,
};

fn data_dir() -> PathBuf {
    repo_path("tests/data/import")
}

fn outcome(name: &str, src: &str, src6: Option<(&str, &str)>) -> (String, bool) {
    let mode = match (src6, name.starts_with("noflag-")) {
        (Some(_), _) => Ipv6::File,
        (None, true) => Ipv6::Unspecified,
        (None, false) => Ipv6::Mirror,
    };
    // port, user and group names as the CLI (and iptables-restore) reads them: the host's
    // /etc/services, /etc/passwd and /etc/group (the goldens name root only, which every
    // host has)
    let services = match std::fs::read_to_string("/etc/services") {
        Ok(text) => statewall::core::services::NameDb::parse(&text),
        Err(_) => statewall::core::services::NameDb::builtin(),
    };
    let read = |p: &str| std::fs::read_to_string(p).unwrap_or_default();
    let services = services.with_ids(&read("/etc/passwd"), &read("/etc/group"));
    match import::import_with(src, src6.map(|(_, s)| s), mode, &services) {
        Ok(i) => {
            let mut out = i.toml.clone();
            out.push_str("\n--- notes\n");
            for n in &i.notes {
                out.push_str(n);
                out.push('\n');
            }
            (out, true)
        }
        Err(problems) => {
            let mut out = String::new();
            for (k, (input, d)) in problems.iter().enumerate() {
                if k > 0 {
                    out.push('\n');
                }
                out.push_str(&match (input, src6) {
                    (Input::V6, Some((n6, s6))) => d.render(n6, s6),
                    _ => d.render(name, src),
                });
            }
            (out, false)
        }
    }
}

#[test]
fn data_driven_cases() {
    let dir = data_dir();
    let mut inputs: Vec<PathBuf> = fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "rules"))
        .collect();
    inputs.sort();
    let mut failures = Vec::new();
    for path in &inputs {
        let name = path.file_name().unwrap().to_string_lossy().into_owned();
        let src = fs::read_to_string(path).unwrap();
        let p6 = path.with_extension("rules6");
        let src6 = fs::read_to_string(&p6).ok();
        let n6 = p6.file_name().unwrap().to_string_lossy().into_owned();
        let (actual, ok) = outcome(&name, &src, src6.as_deref().map(|s| (n6.as_str(), s)));
        if ok != name.starts_with("ok-") {
            failures.push(format!(
                "{name}: the name promises {}, but the import {}:\n{actual}",
                if name.starts_with("ok-") {
                    "success"
                } else {
                    "a refusal"
                },
                if ok { "succeeded" } else { "was refused" }
            ));
        }
        failures.extend(crate::golden::case(
            &path.with_extension("expected"),
            &name,
            &actual,
        ));
    }
    assert!(inputs.len() >= 15, "only {} cases", inputs.len());
    assert!(failures.is_empty(), "{}", failures.join("\n\n"));
}

#[cfg_attr(not(statewall_root), ignore = "needs root: creates network namespaces")]
#[test]
fn an_imported_policy_is_what_check_and_plan_take_directly() {
    // `import` prints TOML; `check` takes the iptables file itself (detected by content).
    let file = data_dir().join("ok-rhel.rules");
    let ns = Netns::new("imp-cli");
    let out = statewall(&ns, ["import", "--mirror-ipv6", file.to_str().unwrap()]);
    out.assert_ok();
    assert!(out.stdout.contains("final = \"host-prohibited\""), "{out}");
    assert!(out.stderr.contains("note: "), "{out}");
    statewall(&ns, ["check", "--mirror-ipv6", file.to_str().unwrap()]).assert_ok();
    // --confirm keeps the policy text for rollback and boot: only a statewall policy will do
    let confirm = statewall(
        &ns,
        [
            "apply",
            "--mirror-ipv6",
            file.to_str().unwrap(),
            "--confirm",
            "10s",
        ],
    );
    confirm.assert_code(2);
    assert!(confirm.stderr.contains("statewall import"), "{confirm}");
    let args = [
        "enforce",
        "--mirror-ipv6",
        file.to_str().unwrap(),
        "--confirm",
        "10s",
    ];
    let confirm = statewall(&ns, args);
    confirm.assert_code(2);
    assert!(confirm.stderr.contains("statewall import"), "{confirm}");
    let refused = statewall(&ns, ["check", file.to_str().unwrap()]);
    refused.assert_code(1);
    assert!(refused.stderr.contains("--mirror-ipv6"), "{refused}");
    // a statewall policy says its IPv6 itself: the flags of an iptables-save file's reading
    // are refused beside it, not ignored
    let policy = crate::support::example("web-and-mail.toml");
    let policy = policy.to_str().unwrap();
    for flags in [
        &["--mirror-ipv6"][..],
        &["--ipv6", file.to_str().unwrap()][..],
    ] {
        let mut args = vec!["check", policy];
        args.extend_from_slice(flags);
        let out = statewall(&ns, args);
        out.assert_code(2);
        assert!(
            out.stderr
                .contains("is a statewall policy, which says its IPv6 itself"),
            "{out}"
        );
    }
    let bad = data_dir().join("err-missing-commit.rules");
    let out = statewall(&ns, ["import", "--mirror-ipv6", bad.to_str().unwrap()]);
    out.assert_code(1);
    assert!(
        out.stderr.contains("err-missing-commit.rules:6:37"),
        "file:line:col: {out}"
    );
    assert!(out.stdout.is_empty(), "{out}");
}

// ------------------------------------------------------------------------------------------
// The differential test

/// A second client address in each pair: a source the files do not allow.
const OTHER_V4: Ipv4Addr = Ipv4Addr::new(192, 0, 2, 4);
const OTHER_V6: Ipv6Addr = Ipv6Addr::new(0x2001, 0xdb8, 0x5a, 0, 0, 0, 0, 4);

#[derive(Debug, Clone, PartialEq, Eq)]
enum Verdict {
    Connected,
    Refused,
    TimedOut,
    Error(String),
}

/// A TCP connect from `src` (bound) to `dst`, inside `ns`, with plain libc calls.
fn probe_from(ns: &Netns, src: IpAddr, dst: SocketAddr) -> Verdict {
    probe_from_port(ns, SocketAddr::new(src, 0), dst, PROBE_TIMEOUT)
}

/// [`probe_from`] from source port `src`'s (0: any), waiting `wait` for an answer.
fn probe_from_port(ns: &Netns, src: SocketAddr, dst: SocketAddr, wait: Duration) -> Verdict {
    ns.run(move || {
        let fam = if dst.is_ipv4() {
            libc::AF_INET
        } else {
            libc::AF_INET6
        };
        // SAFETY: plain socket calls on a descriptor we own and close.
        unsafe {
            let fd = libc::socket(
                fam,
                libc::SOCK_STREAM | libc::SOCK_NONBLOCK | libc::SOCK_CLOEXEC,
                0,
            );
            assert!(fd >= 0, "socket: {}", std::io::Error::last_os_error());
            let result = (|| {
                let one: libc::c_int = 1;
                let size = std::mem::size_of::<libc::c_int>() as libc::socklen_t;
                libc::setsockopt(
                    fd,
                    libc::SOL_SOCKET,
                    libc::SO_REUSEADDR,
                    (&raw const one).cast(),
                    size,
                );
                let (_, sa, len) = crate::support::routed::sockaddr(src);
                if libc::bind(fd, &sa as *const _ as *const libc::sockaddr, len) != 0 {
                    return Verdict::Error(format!("bind: {}", std::io::Error::last_os_error()));
                }
                let (_, sa, len) = crate::support::routed::sockaddr(dst);
                if libc::connect(fd, &sa as *const _ as *const libc::sockaddr, len) != 0 {
                    let e = std::io::Error::last_os_error();
                    if e.raw_os_error() != Some(libc::EINPROGRESS) {
                        return Verdict::Error(e.to_string());
                    }
                }
                let mut pfd = libc::pollfd {
                    fd,
                    events: libc::POLLOUT,
                    revents: 0,
                };
                let n = libc::poll(&mut pfd, 1, wait.as_millis() as i32);
                if n == 0 {
                    return Verdict::TimedOut;
                }
                let mut err: libc::c_int = 0;
                let mut l = std::mem::size_of::<libc::c_int>() as libc::socklen_t;
                libc::getsockopt(
                    fd,
                    libc::SOL_SOCKET,
                    libc::SO_ERROR,
                    &mut err as *mut _ as *mut libc::c_void,
                    &mut l,
                );
                match err {
                    0 => Verdict::Connected,
                    libc::ECONNREFUSED => Verdict::Refused,
                    e => Verdict::Error(std::io::Error::from_raw_os_error(e).to_string()),
                }
            })();
            libc::close(fd);
            result
        }
    })
}

/// UDP echo servers on `[::]:PORT` (both families) inside `ns`, until the returned flag is set.
fn listen_udp(ns: &Netns, ports: &[u16]) -> UdpEcho {
    let sockets: Vec<std::net::UdpSocket> = ns.run(|| {
        ports
            .iter()
            .map(|&p| {
                let s = std::net::UdpSocket::bind((Ipv6Addr::UNSPECIFIED, p)).expect("udp bind");
                s.set_read_timeout(Some(Duration::from_millis(50))).unwrap();
                s
            })
            .collect()
    });
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let threads = sockets
        .into_iter()
        .map(|s| {
            let stop = stop.clone();
            std::thread::spawn(move || {
                let mut buf = [0u8; 512];
                let deadline = std::time::Instant::now() + Duration::from_secs(300);
                while !stop.load(std::sync::atomic::Ordering::SeqCst)
                    && std::time::Instant::now() < deadline
                {
                    if let Ok((n, from)) = s.recv_from(&mut buf) {
                        let _ = s.send_to(&buf[..n], from);
                    }
                }
            })
        })
        .collect();
    UdpEcho { stop, threads }
}

struct UdpEcho {
    stop: std::sync::Arc<std::sync::atomic::AtomicBool>,
    threads: Vec<std::thread::JoinHandle<()>>,
}

impl Drop for UdpEcho {
    fn drop(&mut self) {
        self.stop.store(true, std::sync::atomic::Ordering::SeqCst);
        for t in self.threads.drain(..) {
            let _ = t.join();
        }
    }
}

/// One UDP datagram from `src` to `dst`: echoed, refused (ICMP port unreachable), another
/// ICMP error, or no answer within `wait`.
fn udp_from(ns: &Netns, src: IpAddr, dst: SocketAddr, wait: Duration) -> Verdict {
    ns.run(move || {
        let s = std::net::UdpSocket::bind((src, 0)).expect("udp bind");
        s.connect(dst).expect("udp connect");
        s.set_read_timeout(Some(wait)).unwrap();
        if let Err(e) = s.send(b"statewall") {
            return Verdict::Error(format!("send: {e}"));
        }
        let mut buf = [0u8; 64];
        match s.recv(&mut buf) {
            Ok(_) => Verdict::Connected,
            Err(e) if e.kind() == std::io::ErrorKind::ConnectionRefused => Verdict::Refused,
            Err(e)
                if matches!(
                    e.kind(),
                    std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                ) =>
            {
                Verdict::TimedOut
            }
            Err(e) => Verdict::Error(e.to_string()),
        }
    })
}

/// UDP ports every differential probes (allowed, rejected or dropped depending on the file).
const UDP_PORTS: &[u16] = &[53, 123, 137, 139, 5000];

/// One echo request from `src` to `dst`: answered, refused by an ICMP error, or no answer
/// within `wait` (whole seconds, at least one).
fn ping_from(ns: &Netns, src: IpAddr, dst: IpAddr, wait: Duration) -> Verdict {
    let secs = wait.as_secs().max(1).to_string();
    let out = ns.exec([
        "ping",
        "-n",
        "-q",
        "-c",
        "1",
        "-W",
        &secs,
        "-I",
        &src.to_string(),
        &dst.to_string(),
    ]);
    if out.success() {
        Verdict::Connected
    } else if out.stdout.contains("errors") {
        Verdict::Refused
    } else {
        Verdict::TimedOut
    }
}

/// How many of `count` pings sent at once, each its own ICMP echo "connection" (a ping
/// process of its own: one process's echoes share an id, and conntrack calls all but its
/// first established), `src` gets answered.
fn pings_answered(ns: &Netns, src: IpAddr, dst: IpAddr, count: usize) -> usize {
    std::thread::scope(|s| {
        let all: Vec<_> = (0..count)
            .map(|_| s.spawn(move || ping_from(ns, src, dst, PING_WAIT)))
            .collect();
        all.into_iter()
            .map(|h| h.join().expect("ping thread"))
            .filter(|v| *v == Verdict::Connected)
            .count()
    })
}

/// A pair whose client also has the second (disallowed) address. The firewalled side sends
/// ICMP errors without rate limits (a reject answered or not must not depend on how many
/// probes ran in the same second).
fn pair_with_two_clients(tag: &str) -> Pair {
    let pair = Pair::new(tag);
    pair.fw.run(|| {
        for (path, value) in [
            ("/proc/sys/net/ipv4/icmp_ratelimit", "0"),
            ("/proc/sys/net/ipv4/icmp_msgs_per_sec", "100000"),
            ("/proc/sys/net/ipv4/icmp_msgs_burst", "100000"),
            ("/proc/sys/net/ipv6/icmp/ratelimit", "0"),
        ] {
            fs::write(path, value).unwrap_or_else(|e| panic!("{path}: {e}"));
        }
    });
    pair.add_client_address(OTHER_V4, OTHER_V6);
    pair
}

/// `iptables-nft-restore` (or `iptables-restore` when it is the nf_tables variant).
pub(crate) fn restore_tool(v6: bool) -> String {
    let (nft, plain) = if v6 {
        ("ip6tables-nft-restore", "ip6tables-restore")
    } else {
        ("iptables-nft-restore", "iptables-restore")
    };
    let have = |t: &str| {
        std::process::Command::new("sh")
            .args(["-c", &format!("command -v {t}")])
            .output()
            .is_ok_and(|o| o.status.success())
    };
    if have(nft) {
        return nft.to_string();
    }
    let v = std::process::Command::new(if v6 { "ip6tables" } else { "iptables" })
        .arg("-V")
        .output()
        .expect("iptables -V");
    let v = String::from_utf8_lossy(&v.stdout).into_owned();
    assert!(
        v.contains("nf_tables"),
        "the oracle must be iptables on nf_tables, found {v}"
    );
    plain.to_string()
}

/// How long a ping waits for its answer (ICMP has no refusal but an error).
const PING_WAIT: Duration = Duration::from_secs(2);

/// Looks after the first at a probe whose verdicts differ, each waiting this much longer: a
/// difference counts only when it survives them all (a loaded machine can leave a first
/// answer unheard; a real difference answers the same every time).
const RELOOK_WAITS: [Duration; 2] = [Duration::from_secs(4), Duration::from_secs(8)];

/// One probe of the differential matrix.
#[derive(Clone, Copy)]
enum Look {
    Tcp(IpAddr, SocketAddr),
    Udp(IpAddr, SocketAddr),
    Ping(IpAddr, IpAddr),
}

/// The differential matrix of one family, each probe with its label: TCP to `ports` and UDP
/// to [`UDP_PORTS`] from both client addresses, and a ping from each.
fn matrix(ports: &[u16], v6: bool) -> Vec<(String, Look)> {
    let (sources, dst): (Vec<IpAddr>, IpAddr) = if v6 {
        (vec![CLIENT_V6.into(), OTHER_V6.into()], FW_V6.into())
    } else {
        (vec![CLIENT_V4.into(), OTHER_V4.into()], FW_V4.into())
    };
    let mut all = Vec::new();
    for &src in &sources {
        for &port in ports {
            let to = SocketAddr::new(dst, port);
            all.push((format!("tcp {src} -> {to}"), Look::Tcp(src, to)));
        }
        for &port in UDP_PORTS {
            let to = SocketAddr::new(dst, port);
            all.push((format!("udp {src} -> {to}"), Look::Udp(src, to)));
        }
        all.push((format!("ping {src} -> {dst}"), Look::Ping(src, dst)));
    }
    all
}

/// The verdicts of `looks` from `pair`'s client, all probes at once (each drop costs a
/// wait), each waiting at least `wait`.
fn look(pair: &Pair, looks: &[Look], wait: Duration) -> Vec<Verdict> {
    std::thread::scope(|s| {
        let handles: Vec<_> = looks
            .iter()
            .map(|&l| {
                s.spawn(move || match l {
                    Look::Tcp(src, to) => {
                        probe_from_port(&pair.client, SocketAddr::new(src, 0), to, wait)
                    }
                    Look::Udp(src, to) => udp_from(&pair.client, src, to, wait),
                    Look::Ping(src, dst) => ping_from(&pair.client, src, dst, wait.max(PING_WAIT)),
                })
            })
            .collect();
        handles
            .into_iter()
            .map(|h| h.join().expect("probe thread"))
            .collect()
    })
}

/// `looks` from both pairs at once, each probe's verdicts (iptables', statewall's) side by side.
fn look_both(pairs: (&Pair, &Pair), looks: &[Look], wait: Duration) -> Vec<(Verdict, Verdict)> {
    let (a, b) = std::thread::scope(|s| {
        let a = s.spawn(|| look(pairs.0, looks, wait));
        let b = s.spawn(|| look(pairs.1, looks, wait));
        (
            a.join().expect("oracle probes"),
            b.join().expect("statewall probes"),
        )
    });
    a.into_iter().zip(b).collect()
}

/// The probes of `matrix` whose verdicts differ between the pairs in the first look and in
/// every slower look after it ([`RELOOK_WAITS`]), with the verdicts of the last look; and
/// the oracle's verdict of every probe.
fn differences(pairs: (&Pair, &Pair), matrix: &[(String, Look)]) -> (Vec<String>, Vec<String>) {
    let looks: Vec<Look> = matrix.iter().map(|(_, l)| *l).collect();
    let first = look_both(pairs, &looks, PROBE_TIMEOUT);
    let seen = matrix
        .iter()
        .zip(&first)
        .map(|((label, _), (want, _))| format!("{label}: {want:?}"))
        .collect();
    let mut differ: Vec<(usize, (Verdict, Verdict))> = first
        .into_iter()
        .enumerate()
        .filter(|(_, (want, got))| want != got)
        .collect();
    for wait in RELOOK_WAITS {
        if differ.is_empty() {
            break;
        }
        let again: Vec<Look> = differ.iter().map(|(i, _)| looks[*i]).collect();
        let answers = look_both(pairs, &again, wait);
        differ = differ
            .into_iter()
            .zip(answers)
            .filter(|(_, (want, got))| want != got)
            .map(|((i, _), answer)| (i, answer))
            .collect();
    }
    let diffs = differ
        .iter()
        .map(|(i, (want, got))| format!("{}: iptables {want:?}, statewall {got:?}", matrix[*i].0))
        .collect();
    (diffs, seen)
}

/// Loads `rules` with iptables in one pair and statewall's import of it in another, and compares
/// the verdicts of the same probes. With `rules6`, also IPv6: ip6tables-restore of `rules6`
/// against statewall's `--mirror-ipv6` of `rules`.
fn differential(tag: &str, rules: &str, rules6: Option<&str>, ports: &[u16]) {
    let f6 = rules6.map(|r6| data_dir().join("ipv6").join(r6));
    differential_with(tag, rules, f6, &["--mirror-ipv6"], ports);
}

/// [`differential`] with the oracle's IPv6 file and statewall's IPv6 arguments given.
fn differential_with(
    tag: &str,
    rules: &str,
    rules6: Option<PathBuf>,
    sw_ipv6: &[&str],
    ports: &[u16],
) {
    let oracle = pair_with_two_clients(&format!("{tag}-ipt"));
    let ours = pair_with_two_clients(&format!("{tag}-sw"));
    compare(rules, rules6, sw_ipv6, ports, (&oracle, &ours));
}

/// [`differential_with`] on pairs made by the caller: iptables' in `oracle`, statewall's
/// in `ours`.
fn compare(
    rules: &str,
    rules6: Option<PathBuf>,
    sw_ipv6: &[&str],
    ports: &[u16],
    (oracle, ours): (&Pair, &Pair),
) {
    let file = data_dir().join(rules);
    let _l1 = listen_tcp(&oracle.fw, ports);
    let _l2 = listen_tcp(&ours.fw, ports);
    let _u1 = listen_udp(&oracle.fw, UDP_PORTS);
    let _u2 = listen_udp(&ours.fw, UDP_PORTS);

    oracle
        .fw
        .exec([restore_tool(false).as_str(), file.to_str().unwrap()])
        .assert_ok();
    if let Some(f6) = &rules6 {
        oracle
            .fw
            .exec([restore_tool(true).as_str(), f6.to_str().unwrap()])
            .assert_ok();
    }
    // statewall takes the iptables-save file directly
    let mut args = vec!["apply", "--force"];
    args.extend_from_slice(sw_ipv6);
    args.push(file.to_str().unwrap());
    statewall(&ours.fw, args).assert_ok();

    let mut families = vec![false];
    if rules6.is_some() {
        families.push(true);
    }
    let mut diffs = Vec::new();
    let mut seen = Vec::new();
    for v6 in families {
        let (d, s) = differences((oracle, ours), &matrix(ports, v6));
        diffs.extend(d);
        seen.extend(s);
    }
    eprintln!(
        "{rules}: {} probes, the same verdicts:\n{}",
        seen.len(),
        seen.join("\n")
    );
    if !diffs.is_empty() {
        let ipt = oracle.fw.nft(["list", "ruleset"]).stdout;
        let sw = ours.fw.nft(["list", "ruleset"]).stdout;
        panic!(
            "{rules}: {} probe(s) differ:\n{}\n\n--- all oracle verdicts\n{}\n--- iptables\n{ipt}\n--- statewall\n{sw}",
            diffs.len(),
            diffs.join("\n"),
            seen.join("\n")
        );
    }
    // The matrix must say something: at least one probe of each kind the file has.
    assert!(
        seen.iter().any(|s| s.contains("Connected")),
        "{rules}: nothing connected?\n{}",
        seen.join("\n")
    );
}

#[cfg_attr(not(statewall_root), ignore = "needs root: creates network namespaces")]
#[test]
fn differential_seed_audit() {
    differential(
        "d-aud",
        "ok-seed-audit.rules",
        Some("seed-audit.rules6"),
        &[22, 25, 80, 443, 113, 8, 8080],
    );
}

#[cfg_attr(not(statewall_root), ignore = "needs root: creates network namespaces")]
#[test]
fn differential_seed_enforce() {
    differential(
        "d-enf",
        "ok-seed-enforce.rules",
        Some("seed-enforce.rules6"),
        &[22, 25, 80, 443, 113, 8, 8080],
    );
}

#[cfg_attr(not(statewall_root), ignore = "needs root: creates network namespaces")]
#[test]
fn differential_dual_stack_files() {
    // --ipv6 FILE6: the oracle loads both files, statewall imports both into one policy
    let f6 = data_dir().join("ok-dual.rules6");
    let f6s = f6.to_str().unwrap().to_string();
    differential_with(
        "d-dual",
        "ok-dual.rules",
        Some(f6.clone()),
        &["--ipv6", &f6s],
        &[22, 80, 8080, 443],
    );
}

#[cfg_attr(not(statewall_root), ignore = "needs root: creates network namespaces")]
#[test]
fn differential_rhel_dual_stack_host_prohibited_and_adm_prohibited() {
    // host-prohibited answers IPv6 with ICMPv6 admin-prohibited: the pair RHEL ships is one kind
    let f6 = data_dir().join("ok-rhel-dual.rules6");
    let f6s = f6.to_str().unwrap().to_string();
    differential_with(
        "d-rhdual",
        "ok-rhel-dual.rules",
        Some(f6.clone()),
        &["--ipv6", &f6s],
        &[22, 80],
    );
}

#[cfg_attr(not(statewall_root), ignore = "needs root: creates network namespaces")]
#[test]
fn differential_odd_forms() {
    differential(
        "d-odd",
        "ok-odd-forms.rules",
        None,
        &[8000, 8005, 8010, 8011, 9000, 2222, 2223, 22],
    );
}

/// `-p ip` is every protocol (`ok-protocol-ip.rules`): the other client gets in on every
/// port, as through iptables-restore of the file.
#[cfg_attr(not(statewall_root), ignore = "needs root: creates network namespaces")]
#[test]
fn differential_protocol_ip() {
    differential("d-pip", "ok-protocol-ip.rules", None, &[22, 80]);
}

#[cfg_attr(not(statewall_root), ignore = "needs root: creates network namespaces")]
#[test]
fn differential_rhel_host_prohibited() {
    differential("d-rhel", "ok-rhel.rules", None, &[22, 8080, 80, 9999]);
}

#[cfg_attr(not(statewall_root), ignore = "needs root: creates network namespaces")]
#[test]
fn differential_admin_whitelist_chain() {
    differential("d-adm", "ok-admin-ssh.rules", None, &[22, 80, 443]);
}

#[cfg_attr(not(statewall_root), ignore = "needs root: creates network namespaces")]
#[test]
fn differential_mail_multiport_udp() {
    differential(
        "d-mail",
        "ok-mail.rules",
        None,
        &[
            25, 465, 587, 110, 143, 993, 994, 995, 53, 6000, 6005, 6010, 6011, 113, 22,
        ],
    );
}

#[cfg_attr(not(statewall_root), ignore = "needs root: creates network namespaces")]
#[test]
fn differential_hardened_log_syn_iif() {
    differential(
        "d-hard",
        "ok-hardened-log-syn.rules",
        None,
        &[22, 443, 9100, 8443, 8444, 80],
    );
}

/// `! --ctstate`, `! --state`: every other state (`ok-ctstate-negated.rules`). 8080 is reset,
/// 22 connects, 443 completes its handshake and gets no data through, as through
/// iptables-restore of the file.
#[cfg_attr(not(statewall_root), ignore = "needs root: creates network namespaces")]
#[test]
fn differential_ctstate_negated() {
    differential(
        "d-ctneg",
        "ok-ctstate-negated.rules",
        None,
        &[22, 443, 8080, 80],
    );
}

/// RETURNs of a source and a MAC, and of a MAC alone, before a DROP (`ok-mac-return.rules`):
/// from the bound MAC only the bound address gets on to the accepts (the other one is
/// dropped), from the other MAC both addresses, as through iptables-restore of the file.
#[cfg_attr(not(statewall_root), ignore = "needs root: creates network namespaces")]
#[test]
fn differential_mac_return() {
    from_macs(
        "d-macr",
        "ok-mac-return.rules",
        &["02:00:00:00:00:0a", "02:00:00:00:00:0b"],
    );
}

/// The differential of `file` (mirrored to IPv6, ports 22, 80, 443) with the client's
/// frames carrying each MAC of `macs` in turn (`tag` and the MAC's index name the pairs).
fn from_macs(tag: &str, file: &str, macs: &[&str]) {
    for (i, mac) in macs.iter().enumerate() {
        let tag = format!("{tag}{i}");
        let pairs = [
            pair_with_two_clients(&format!("{tag}-ipt")),
            pair_with_two_clients(&format!("{tag}-sw")),
        ];
        for p in &pairs {
            p.client
                .exec(["ip", "link", "set", CLIENT_IF, "address", mac])
                .assert_ok();
        }
        compare(
            file,
            None,
            &["--mirror-ipv6"],
            &[22, 80, 443],
            (&pairs[0], &pairs[1]),
        );
    }
}

/// `-m addrtype`: the same routing-table types as nft's `fib … type`.
#[cfg_attr(not(statewall_root), ignore = "needs root: creates network namespaces")]
#[test]
fn differential_addrtype() {
    differential("d-atype", "ok-addrtype.rules", None, &[22, 80, 443]);
}

/// A match module twice in one rule (a TTL range as two `-m ttl`, lengths, address types,
/// connection states): a packet must pass both, as through iptables' rules; each port's
/// rule would decide otherwise if only its first or only its second match counted.
#[cfg_attr(not(statewall_root), ignore = "needs root: creates network namespaces")]
#[test]
fn differential_module_twice() {
    differential(
        "d-twice",
        "ok-module-twice.rules",
        None,
        &[22, 23, 25, 80, 81, 443, 444, 3306, 8080, 8081],
    );
}

/// A rate guard before the INVALID drop (`ok-guard-before-invalid.rules`), placed where it
/// moves past the fewest rules so that the INVALID drop keeps its place behind it: the same
/// verdicts as iptables' rules.
#[cfg_attr(not(statewall_root), ignore = "needs root: creates network namespaces")]
#[test]
fn differential_guard_before_invalid() {
    differential("d-gbi", "ok-guard-before-invalid.rules", None, &[22, 8140]);
}

/// `-m connlimit` before its ACCEPT: a connection within the count gets in, as through
/// iptables' rules (the count itself: `connections.rs`).
#[cfg_attr(not(statewall_root), ignore = "needs root: creates network namespaces")]
#[test]
fn differential_connlimit() {
    differential("d-connl", "ok-connlimit.rules", None, &[22, 80, 443, 27960]);
}

/// `-m pkttype`: unicast probes only here (broadcasts and multicasts: `pkttype.rs`).
#[cfg_attr(not(statewall_root), ignore = "needs root: creates network namespaces")]
#[test]
fn differential_pkttype() {
    differential("d-ptype", "ok-pkttype.rules", None, &[22, 80]);
}

/// `-m mac --mac-source` (and `!`): the client's frames carry the laptop's address, the
/// other allowed machine's, and the shut-out one's in turn, and each time the ordinary
/// probes decide as through iptables' rules (two peers at once: `mac.rs`).
#[cfg_attr(not(statewall_root), ignore = "needs root: creates network namespaces")]
#[test]
fn differential_mac() {
    from_macs(
        "d-mac",
        "ok-mac.rules",
        &[
            "02:00:00:00:00:0a",
            "02:00:00:00:00:0b",
            "02:00:00:00:00:66",
        ],
    );
}

/// `-m length` (and `!`): the probes' own lengths decide — an IPv4 SYN is 60 bytes, an IPv6
/// one 80, a UDP probe 37 and 57, a ping 84 — as through iptables' and ip6tables' rules.
#[cfg_attr(not(statewall_root), ignore = "needs root: creates network namespaces")]
#[test]
fn differential_length() {
    let f6 = data_dir().join("ok-length.rules6");
    let f6s = f6.to_str().unwrap().to_string();
    differential_with(
        "d-len",
        "ok-length.rules",
        Some(f6.clone()),
        &["--ipv6", &f6s],
        &[22, 80, 443],
    );
}

/// `-m ttl` and ip6tables' `-m hl` (and `! --ttl-eq`): the probes go out with TTL (hop
/// limit) 64, which ssh needs and http refuses, as through iptables' and ip6tables' rules
/// (datagrams of every TTL: `ttl.rs`).
#[cfg_attr(not(statewall_root), ignore = "needs root: creates network namespaces")]
#[test]
fn differential_ttl() {
    let f6 = data_dir().join("ok-ttl.rules6");
    let f6s = f6.to_str().unwrap().to_string();
    differential_with(
        "d-ttl",
        "ok-ttl.rules",
        Some(f6.clone()),
        &["--ipv6", &f6s],
        &[22, 80, 443],
    );
}

/// `--tcp-option` and `-m rt --rt-type` (with their `!`): the ordinary probes (whose SYNs
/// carry an MSS, no odd option kind and no routing header) decide as iptables does, past
/// the scan filter jumped to for every TCP packet (crafted packets: `exthdr.rs`).
#[cfg_attr(not(statewall_root), ignore = "needs root: creates network namespaces")]
#[test]
fn differential_exthdr() {
    let f6 = data_dir().join("ok-exthdr.rules6");
    let f6s = f6.to_str().unwrap().to_string();
    differential_with(
        "d-xh",
        "ok-exthdr.rules",
        Some(f6.clone()),
        &["--ipv6", &f6s],
        &[22, 80, 443],
    );
}

/// multiport's `--ports` (`ok-multiport-ports.rules`): the probes decide as iptables does,
/// and so do connections from chosen source ports — from 443 or 8000 to a port no
/// destination rule opens are accepted (the source-port halves), from other ports rejected
/// by `! --ports` or dropped by the policy.
#[cfg_attr(not(statewall_root), ignore = "needs root: creates network namespaces")]
#[test]
fn differential_multiport_ports() {
    let rules = "ok-multiport-ports.rules";
    differential("d-mpp", rules, None, &[22, 443, 8000, 6000]);
    let oracle = Pair::new("d-mpp-ipt2");
    let ours = Pair::new("d-mpp-sw2");
    load_both((&oracle, &ours), (rules, None));
    // (source port, destination port)
    let probes = [
        (443, 6000),
        (5555, 6000),
        (8000, 6000),
        (5557, 8000),
        (1000, 7000),
        (5558, 443),
    ];
    let answers = |pair: &Pair| {
        let _listening = listen_tcp(&pair.fw, &[443, 6000, 7000, 8000]);
        probes.map(|(sport, dport)| {
            let src = SocketAddr::new(CLIENT_V4.into(), sport);
            probe_from_port(
                &pair.client,
                src,
                SocketAddr::new(FW_V4.into(), dport),
                PROBE_TIMEOUT,
            )
        })
    };
    let theirs = answers(&oracle);
    use Verdict::{Connected as C, Refused as R, TimedOut as T};
    assert_eq!(theirs, [C, R, C, C, T, C], "iptables");
    assert_eq!(answers(&ours), theirs, "statewall, iptables");
}

/// A kill switch of the client's interface (`ok-block-states.rules`: `--state
/// INVALID,NEW,UNTRACKED -j DROP` in chains that accept the rest): a block that keeps its
/// list. The client's probes decide as iptables does (ssh in, the rest dropped), and the
/// host's own connection out to the client gets its answers through both (a block of every
/// state would drop them).
#[cfg_attr(not(statewall_root), ignore = "needs root: creates network namespaces")]
#[test]
fn differential_block_of_new_invalid_and_untracked() {
    let rules = "ok-block-states.rules";
    differential("d-bst", rules, None, &[22, 80]);
    let oracle = Pair::new("d-bst-ipt2");
    let ours = Pair::new("d-bst-sw2");
    load_both((&oracle, &ours), (rules, None));
    let out = |pair: &Pair| {
        let _listening = listen_tcp(&pair.client, &[9000]);
        let to = SocketAddr::new(CLIENT_V4.into(), 9000);
        probe_from(&pair.fw, FW_V4.into(), to)
    };
    assert_eq!(out(&oracle), Verdict::Connected, "iptables");
    assert_eq!(out(&ours), Verdict::Connected, "statewall");
}

/// Accepts of NEW,UNTRACKED (no raw table untracks a TCP or UDP packet): the allows of NEW
/// connections decide the probes as iptables does, and ip6tables' ICMPv6 aliases (`ping`,
/// `redirect`) name the types it loads.
#[cfg_attr(not(statewall_root), ignore = "needs root: creates network namespaces")]
#[test]
fn differential_new_untracked() {
    let f6 = data_dir().join("ok-new-untracked.rules6");
    let f6s = f6.to_str().unwrap().to_string();
    differential_with(
        "d-untr",
        "ok-new-untracked.rules",
        Some(f6.clone()),
        &["--ipv6", &f6s],
        &[22, 80],
    );
}

/// DROPs and REJECTs mixed into accept lists: blocks right after the allow before them.
#[cfg_attr(not(statewall_root), ignore = "needs root: creates network namespaces")]
#[test]
fn differential_blocks_among_allows() {
    differential(
        "d-among",
        "ok-blocks-among-allows.rules",
        None,
        &[22, 80, 443, 8080, 8081, 9999],
    );
}

#[cfg_attr(not(statewall_root), ignore = "needs root: creates network namespaces")]
#[test]
fn differential_early_blocks() {
    differential(
        "d-early",
        "ok-early-order.rules",
        None,
        &[22, 80, 443, 8080, 9999],
    );
}

/// A REJECT of NEW,ESTABLISHED,RELATED before the loopback accept, in a chain without an
/// established rule (corpus 308): a block that keeps its states, first. The probes from the
/// client decide as iptables does, and so do the host's own connections over loopback —
/// refused on port 23 by both (the loopback accept would let them in, were the reject put
/// among statewall's rejects), connected on port 22.
#[cfg_attr(not(statewall_root), ignore = "needs root: creates network namespaces")]
#[test]
fn differential_reject_states_before_the_loopback_accept() {
    let rules = "ok-reject-states-first.rules";
    differential("d-rslo", rules, None, &[22, 23, 80]);
    let over_lo = |tag: &str, iptables: bool| {
        let pair = Pair::new(tag);
        let _listening = listen_tcp(&pair.fw, &[22, 23]);
        let file = data_dir().join(rules);
        let file = file.to_str().unwrap();
        if iptables {
            pair.fw
                .exec([restore_tool(false).as_str(), file])
                .assert_ok();
        } else {
            statewall(&pair.fw, ["apply", "--force", "--mirror-ipv6", file]).assert_ok();
        }
        let lo = IpAddr::from(Ipv4Addr::LOCALHOST);
        [22, 23].map(|port| probe_from(&pair.fw, lo, SocketAddr::new(lo, port)))
    };
    let theirs = over_lo("d-rslo-lo-ipt", true);
    assert_eq!(theirs, [Verdict::Connected, Verdict::Refused], "iptables");
    assert_eq!(
        over_lo("d-rslo-lo-sw", false),
        theirs,
        "statewall, iptables"
    );
}

#[cfg_attr(not(statewall_root), ignore = "needs root: creates network namespaces")]
#[test]
fn differential_trusted_source_and_final_reject() {
    differential("d-trust", "ok-trusted-net.rules", None, &[80, 23, 22, 8080]);
}

/// Established packets accepted per service, with no plain ESTABLISHED,RELATED accept: the
/// allows say their states (`state`), port 80 only for established connections (so a new one
/// is dropped, as iptables drops it).
#[cfg_attr(not(statewall_root), ignore = "needs root: creates network namespaces")]
#[test]
fn differential_conditional_established() {
    differential(
        "d-condest",
        "ok-conditional-established.rules",
        None,
        &[22, 80, 8080],
    );
}

/// `! --dports` and `! --sport`: every port but the listed ones (`except_tcp`,
/// `except_tcp_sport`).
#[cfg_attr(not(statewall_root), ignore = "needs root: creates network namespaces")]
#[test]
fn differential_port_exceptions() {
    differential(
        "d-except",
        "ok-port-exceptions.rules",
        None,
        &[22, 23, 7999, 8000, 8050, 8099, 8100],
    );
}

// ------------------------------------------------------------------------------------------
// The policy keys the importer needs, in the kernel

/// Oracle: `nft -f` of statewall's rendered plan for a policy that uses every key the importer
/// added (icmp types, iif, entries with only `from`/`iif`, final reject) builds the same kernel
/// objects as statewall's own batch.
#[cfg_attr(not(statewall_root), ignore = "needs root: creates network namespaces")]
#[test]
fn the_plan_script_with_the_import_keys_means_the_same_to_nft() {
    let policy = repo_path("tests/data/policy/ok-import-keys.toml");
    let policy = policy.to_str().unwrap();
    let ours = Netns::new("imp-ours");
    let theirs = Netns::new("imp-nft");
    statewall(&ours, ["apply", "--force", policy]).assert_ok();
    let plan = statewall(&ours, ["plan", "--no-live", policy]);
    plan.assert_ok();
    for needle in [
        "meta l4proto icmp icmp type echo-request",
        "iifname \"eth1\" ct state new",
        "ip saddr 10.0.0.0/8 ct state new",
        "reject with icmpx type admin-prohibited comment \"final\"",
    ] {
        assert!(plan.stdout.contains(needle), "{needle}:\n{plan}");
    }
    let script =
        std::env::temp_dir().join(format!("statewall-imp-plan-{}.nft", std::process::id()));
    fs::write(&script, &plan.stdout).unwrap();
    theirs
        .nft(["add", "table", "inet", "statewall"])
        .assert_ok();
    let loaded = theirs.nft(["-f", script.to_str().unwrap()]);
    let _ = fs::remove_file(&script);
    loaded.assert_ok();
    let list = |ns: &Netns| {
        let out = ns.nft(["list", "ruleset"]);
        out.assert_ok();
        out.stdout
            .lines()
            .filter(|l| !l.trim_start().starts_with("comment \"statewall plan="))
            .collect::<Vec<_>>()
            .join("\n")
    };
    assert_eq!(list(&ours), list(&theirs));
    // and the bytecode of the rules with the new matches, which the listing folds (`meta
    // l4proto icmp` before `icmp type`). Rules with a source network are left out: nft loads
    // only the prefix bytes where statewall masks the whole address (the same meaning).
    let blocks = |ns: &Netns| {
        let out = ns.nft(["--debug=netlink", "list", "table", "inet", "statewall"]);
        out.assert_ok();
        let mut blocks: Vec<String> = Vec::new();
        for l in out.stdout.lines() {
            let t = l.trim_start();
            if t.starts_with('[') {
                if let Some(b) = blocks.last_mut()
                    && !t.starts_with("[ counter")
                {
                    b.push_str(t);
                    b.push('\n');
                }
            } else if t.starts_with("inet statewall") {
                blocks.push(String::new());
            }
        }
        blocks
            .into_iter()
            .filter(|b| {
                b.contains("iifname")
                    || b.contains(
                        "cmp eq reg 1 0x00000001 ]\n[ payload load 1b @ transport header + 0",
                    )
            })
            .filter(|b| !b.contains("network header"))
            .collect::<Vec<_>>()
    };
    let (a, b) = (blocks(&ours), blocks(&theirs));
    assert_eq!(a.len(), 4, "{a:#?}");
    assert_eq!(a, b);
    // statewall reads its own rules back without drift
    let st = crate::support::status_json(&ours);
    assert_eq!(st["drift"], false, "{st}");
}

/// Loads `rules` with iptables in one pair and statewall's import of it in another, and makes
/// the same TCP connections (from `src` to port `port`, listened on in both), one after
/// another, to each: their answers must be the same, in order (a rule with a rate or a list
/// makes what a connection gets depend on those before it). Returns them, and statewall's
/// pair.
fn replay(tag: &str, rules: &str, listen: &[u16], steps: &[(IpAddr, u16)]) -> (Vec<Verdict>, Pair) {
    let steps: Vec<Step> = steps.iter().map(|&(a, p)| Step::Connect(a, p)).collect();
    replay_steps(tag, rules, listen, &steps)
}

/// A step of [`replay_steps`]: a connection, a knock (one SYN: a connection given up before
/// the kernel sends its SYN again), or a pause (windows and buckets refill).
#[derive(Clone, Copy)]
enum Step {
    Connect(IpAddr, u16),
    Knock(IpAddr, u16),
    Wait(std::time::Duration),
}

/// [`replay`] with pauses between the connections: the answers to the connections, in order.
fn replay_steps(tag: &str, rules: &str, listen: &[u16], steps: &[Step]) -> (Vec<Verdict>, Pair) {
    replay_files(tag, (rules, None), listen, steps)
}

/// iptables-restore of `rules` (and ip6tables-restore of `rules6`) in `oracle`, and
/// statewall's import of them (`--ipv6 rules6`, or `--mirror-ipv6`) applied in `ours`: the
/// files of `tests/data/import/`, by name (the differentials of other modules use it too).
pub(crate) fn load_both((oracle, ours): (&Pair, &Pair), (rules, rules6): (&str, Option<&str>)) {
    let file = data_dir().join(rules);
    oracle
        .fw
        .exec([restore_tool(false).as_str(), file.to_str().unwrap()])
        .assert_ok();
    let f6 = rules6.map(|r| data_dir().join(r));
    let mut args = vec!["apply", "--force"];
    match &f6 {
        Some(f6) => {
            oracle
                .fw
                .exec([restore_tool(true).as_str(), f6.to_str().unwrap()])
                .assert_ok();
            args.extend(["--ipv6", f6.to_str().unwrap()]);
        }
        None => args.push("--mirror-ipv6"),
    }
    args.push(file.to_str().unwrap());
    statewall(&ours.fw, args).assert_ok();
}

/// [`replay_steps`] of `rules` and, when given, its ip6tables file `rules6` (loaded by
/// ip6tables-restore, and `--ipv6` to statewall; else `--mirror-ipv6`).
fn replay_files(
    tag: &str,
    (rules, rules6): (&str, Option<&str>),
    listen: &[u16],
    steps: &[Step],
) -> (Vec<Verdict>, Pair) {
    let oracle = pair_with_two_clients(&format!("{tag}-ipt"));
    let ours = pair_with_two_clients(&format!("{tag}-sw"));
    let _l1 = listen_tcp(&oracle.fw, listen);
    let _l2 = listen_tcp(&ours.fw, listen);
    load_both((&oracle, &ours), (rules, rules6));
    // fw's address of the source's family
    let fw = |src: IpAddr| -> IpAddr {
        if src.is_ipv6() {
            FW_V6.into()
        } else {
            FW_V4.into()
        }
    };
    let run = |pair: &Pair| -> Vec<Verdict> {
        let mut answers = Vec::new();
        for step in steps {
            match *step {
                Step::Connect(src, port) => answers.push(probe_from(
                    &pair.client,
                    src,
                    SocketAddr::new(fw(src), port),
                )),
                Step::Knock(src, port) => {
                    let dst = SocketAddr::new(fw(src), port);
                    let wait = std::time::Duration::from_millis(300);
                    use crate::support::Probe;
                    answers.push(
                        match crate::support::flows::probe_from(&pair.client, src, dst, wait) {
                            Probe::TimedOut => Verdict::TimedOut,
                            Probe::Refused => Verdict::Refused,
                            Probe::Connected => Verdict::Connected,
                            other => Verdict::Error(format!("knock: {other}")),
                        },
                    );
                }
                Step::Wait(d) => std::thread::sleep(d),
            }
        }
        answers
    };
    let want = run(&oracle);
    let got = run(&ours);
    assert_eq!(
        want, got,
        "{rules}: iptables (left) and statewall (right) differ"
    );
    (want, ours)
}

/// `-m limit` and `-m hashlimit` ACCEPTs whose overflow the later rules decide otherwise than
/// one drop (`ok-limit-continue.rules`): statewall's `over = "continue"` leaves it to its later
/// entries. The same connections, one after another, from two sources to each side: the
/// answers must be the same, past each bucket too.
#[cfg_attr(not(statewall_root), ignore = "needs root: creates network namespaces")]
#[test]
fn differential_limit_overflow_goes_on_to_the_later_rules() {
    let imported = crate::support::bin(None)
        .args(["import", "--mirror-ipv6"])
        .arg(data_dir().join("ok-limit-continue.rules"))
        .output()
        .unwrap();
    let toml = String::from_utf8_lossy(&imported.stdout);
    assert_eq!(toml.matches("over = \"continue\"").count(), 2, "{toml}");
    let (c, o): (IpAddr, IpAddr) = (CLIENT_V4.into(), OTHER_V4.into());
    // 8080: a bucket of 3 for everyone, then the client's own accept, others' reset;
    // 8081: a bucket of 2 per source, then others' reset and the client's final drop
    let steps = [
        (c, 8080),
        (o, 8080),
        (o, 8080),
        (o, 8080),
        (c, 8080),
        (o, 8080),
        (c, 8081),
        (c, 8081),
        (c, 8081),
        (o, 8081),
        (o, 8081),
        (o, 8081),
    ];
    let (want, _) = replay("d-lc", "ok-limit-continue.rules", &[8080, 8081], &steps);
    // the overflow met each kind of later rule: an accept, a reject, the final drop
    assert_eq!(want[3], Verdict::Refused, "{want:?}");
    assert_eq!(want[4], Verdict::Connected, "{want:?}");
    assert_eq!(want[8], Verdict::TimedOut, "{want:?}");
    assert_eq!(want[11], Verdict::Refused, "{want:?}");
}

/// The Arch wiki's ssh guard (`ok-recent-set-accept.rules`): one `-m recent` list checked at
/// two windows (2 in 4 s, 3 in an hour), filled by the ACCEPT itself; statewall's two
/// per-source limits on the allow. The same connections, with a pause that clears the short
/// window, to iptables-restore of the file and to statewall's import: the same answers —
/// the short window refuses the third of a burst, the long one the fifth after the pause.
#[cfg_attr(not(statewall_root), ignore = "needs root: creates network namespaces")]
#[test]
fn differential_ssh_guard_with_two_windows() {
    let (c, o): (IpAddr, IpAddr) = (CLIENT_V4.into(), OTHER_V4.into());
    let steps = [
        Step::Connect(c, 8080),
        Step::Connect(c, 8080),
        Step::Connect(c, 8080),
        Step::Wait(std::time::Duration::from_millis(4500)),
        Step::Connect(c, 8080),
        Step::Connect(c, 8080),
        Step::Connect(o, 8080),
        Step::Connect(c, 8081),
        Step::Connect(c, 8081),
        Step::Connect(c, 8081),
    ];
    let (want, _) = replay_steps("d-g2", "ok-recent-set-accept.rules", &[8080, 8081], &steps);
    use Verdict::{Connected as C, Refused as R, TimedOut as T};
    assert_eq!(want, [C, C, T, C, T, C, C, C, R], "{want:?}");
}

/// An `--update … -j DROP` after the `--set … -j ACCEPT` of its list
/// (`ok-recent-dead-check.rules`): iptables accepts every connection of a burst (the check
/// never sees a NEW one), and so does the import's plain allow; another port meets the final
/// drop in both. A throttle read into the pair would refuse the burst's fourth.
#[cfg_attr(not(statewall_root), ignore = "needs root: creates network namespaces")]
#[test]
fn differential_recent_check_after_its_set_accept() {
    let c: IpAddr = CLIENT_V4.into();
    let mut steps = vec![(c, 8080); 5];
    steps.push((c, 8081));
    let (want, _) = replay(
        "d-rdead",
        "ok-recent-dead-check.rules",
        &[8080, 8081],
        &steps,
    );
    use Verdict::{Connected as C, TimedOut as T};
    assert_eq!(want, [C, C, C, C, C, T], "{want:?}");
}

/// Conditional RETURNs (`ok-conditional-return.rules`): the host a RETURN skips meets the
/// reject after the jump, the other client the ssh accept; the DROP after RETURNs by address
/// type drops nothing the clients send to the firewall's own address.
#[cfg_attr(not(statewall_root), ignore = "needs root: creates network namespaces")]
#[test]
fn differential_conditional_return() {
    differential("d-cret", "ok-conditional-return.rules", None, &[22, 80]);
}

/// RETURNs in built-in chains (`ok-return-in-builtin.rules`): INPUT's policy is DROP, so the
/// host whose ssh returns is dropped there while the other client gets in, as with
/// iptables-restore of the file, probe for probe.
#[cfg_attr(not(statewall_root), ignore = "needs root: creates network namespaces")]
#[test]
fn differential_return_in_a_builtin_chain() {
    differential("d-bret", "ok-return-in-builtin.rules", None, &[22, 80]);
}

/// Udp ports by service names listed for tcp alone (`ok-udp-port-names.rules`): udp 139
/// (`netbios-ssn`) answers in both copies, the other udp ports do not.
#[cfg_attr(not(statewall_root), ignore = "needs root: creates network namespaces")]
#[test]
fn differential_udp_port_names_of_tcp_services() {
    differential("d-udpn", "ok-udp-port-names.rules", None, &[22]);
}

/// Option names a hand-written file shortens as getopt_long lets it (`--proto udp`, `-p tcp
/// --dp 22`, `--sta`, `--reject`), `--goto=SSH`, and iptables' other names (`--fragments`,
/// `-m ttl --ttl`, `--pol`) (`ok-abbreviated-options.rules`): the same verdicts as
/// iptables-restore of the file, probe for probe.
#[cfg_attr(not(statewall_root), ignore = "needs root: creates network namespaces")]
#[test]
fn differential_abbreviated_options() {
    differential(
        "d-abbr",
        "ok-abbreviated-options.rules",
        None,
        &[22, 25, 80, 443, 8080, 8081],
    );
}

/// Two `*filter` blocks, the second starting the table anew as iptables-restore does, and
/// rules with `-c PACKETS BYTES` (`ok-filter-twice-counters.rules`): ports 22 and 443 answer,
/// the first block's 80 and 8080 do not, in both copies.
#[cfg_attr(not(statewall_root), ignore = "needs root: creates network namespaces")]
#[test]
fn differential_filter_twice_and_set_counters() {
    differential(
        "d-f2c",
        "ok-filter-twice-counters.rules",
        None,
        &[22, 80, 443, 8080],
    );
}

/// Numbers in hexadecimal and octal, as iptables reads them (`ok-numbers-as-iptables-reads.rules`):
/// `--dport 022` opens port 18 and leaves 22 closed, `010:012` opens 8 to 10, in both copies.
#[cfg_attr(not(statewall_root), ignore = "needs root: creates network namespaces")]
#[test]
fn differential_numbers_as_iptables_reads_them() {
    differential(
        "d-num",
        "ok-numbers-as-iptables-reads.rules",
        None,
        &[8, 9, 10, 12, 18, 22, 80, 8080],
    );
}

/// A `* filter` line and ports given after `-m tcp` but before `-p tcp`
/// (`ok-restore-lines-as-written.rules`): the same verdicts as iptables-restore of the file.
#[cfg_attr(not(statewall_root), ignore = "needs root: creates network namespaces")]
#[test]
fn differential_restore_lines_as_written() {
    differential(
        "d-rlw",
        "ok-restore-lines-as-written.rules",
        None,
        &[22, 80, 443],
    );
}

/// A chain read in the file's own order with an ssh guard and a LOG
/// (`ok-file-order-extras.rules`): the same verdicts as iptables-restore, probe for probe.
#[cfg_attr(not(statewall_root), ignore = "needs root: creates network namespaces")]
#[test]
fn differential_file_order_with_a_guard_and_a_log() {
    differential("d-foe", "ok-file-order-extras.rules", None, &[22, 25, 80]);
}

/// `--hashlimit-above` guards (`ok-hashlimit-above.rules`): the same connections, in order, to
/// iptables-restore of the file and to its import — the fourth ssh connection from one source
/// is dropped while another source gets in, the sixth to 8080 from anyone is reset, and the
/// wider accept's other port still answers.
#[cfg_attr(not(statewall_root), ignore = "needs root: creates network namespaces")]
#[test]
fn differential_hashlimit_above() {
    let (c, o): (IpAddr, IpAddr) = (CLIENT_V4.into(), OTHER_V4.into());
    let mut steps = vec![(c, 22); 4];
    steps.push((o, 22));
    steps.extend([
        (c, 8080),
        (o, 8080),
        (c, 8080),
        (o, 8080),
        (c, 8080),
        (o, 8080),
        (c, 8081),
    ]);
    let (want, _) = replay(
        "d-hla",
        "ok-hashlimit-above.rules",
        &[22, 8080, 8081],
        &steps,
    );
    use Verdict::{Connected as C, Refused as R, TimedOut as T};
    assert_eq!(want, [C, C, C, T, C, C, C, C, C, C, R, C], "{want:?}");
}

/// A `--hitcount 1` check before its `--set`, and one of `--seconds` alone
/// (`ok-recent-hitcount-one.rules`): the same connections, in order, to iptables-restore of
/// the file and to its import — a source's first connection to each port gets in, its
/// second within the window is reset, another source still gets in, and the first source's
/// third try is reset again.
#[cfg_attr(not(statewall_root), ignore = "needs root: creates network namespaces")]
#[test]
fn differential_recent_hitcount_one_before_its_set() {
    let (c, o): (IpAddr, IpAddr) = (CLIENT_V4.into(), OTHER_V4.into());
    let mut steps = Vec::new();
    for port in [25, 587] {
        steps.extend([(c, port), (c, port), (o, port), (c, port)]);
    }
    let (want, _) = replay("d-rh1", "ok-recent-hitcount-one.rules", &[25, 587], &steps);
    use Verdict::{Connected as C, Refused as R};
    assert_eq!(want, [C, R, C, R, C, R, C, R], "{want:?}");
}

/// A syn-flood chain (`ok-guard.rules`: `-m limit --limit 2/min --limit-burst 4 -j RETURN`,
/// then DROP, for every SYN; `ok-guard-logdrop.rules`: the same whose rest jumps to a chain
/// that logs and drops): the same connections, in order, to iptables-restore of the file
/// and to its import — the first four SYNs, from either source, get through to the accept
/// after the guard; the ones beyond the rate are dropped, for everyone. The same in INPUT
/// itself (`ok-return-guard-builtin.rules`), where the RETURN gets INPUT's ACCEPT policy.
#[cfg_attr(not(statewall_root), ignore = "needs root: creates network namespaces")]
#[test]
fn differential_syn_flood_guard() {
    let (c, o): (IpAddr, IpAddr) = (CLIENT_V4.into(), OTHER_V4.into());
    let steps = [
        (c, 8080),
        (c, 8080),
        (o, 8080),
        (c, 8080),
        (o, 8080),
        (c, 8080),
    ];
    for (tag, file) in [
        ("d-guard", "ok-guard.rules"),
        ("d-gld", "ok-guard-logdrop.rules"),
        // the guard written in INPUT itself, whose RETURN gets the ACCEPT policy
        ("d-rgb", "ok-return-guard-builtin.rules"),
    ] {
        let (want, _) = replay(tag, file, &[8080], &steps);
        use Verdict::{Connected as C, TimedOut as T};
        assert_eq!(want, [C, C, C, C, T, T], "{file}: {want:?}");
    }
}

/// DROPs and REJECTs of NEW and INVALID packets (`ok-new-invalid.rules`): blocks that say
/// those states, or right after the established rule; the same verdicts as iptables-restore of the file, probe for probe
/// (one client rejected everywhere, the other let in on ssh and dropped on the web port).
#[cfg_attr(not(statewall_root), ignore = "needs root: creates network namespaces")]
#[test]
fn differential_new_and_invalid_blocks() {
    differential("d-ni", "ok-new-invalid.rules", None, &[22, 80]);
}

/// An INVALID drop only the IPv6 file has (`ok-dual-invalid.rules` + `.rules6`): both files
/// read with it as an entry pinned to IPv6; the same verdicts as iptables-restore and
/// ip6tables-restore of the two files, probe for probe.
#[cfg_attr(not(statewall_root), ignore = "needs root: creates network namespaces")]
#[test]
fn differential_invalid_drop_in_one_family() {
    let f6 = data_dir().join("ok-dual-invalid.rules6");
    let f6s = f6.to_str().unwrap().to_string();
    differential_with(
        "d-dinv",
        "ok-dual-invalid.rules",
        Some(f6.clone()),
        &["--ipv6", &f6s],
        &[22, 80],
    );
}

/// A limited accept of established and related packets (`ok-limit-states.rules`), read in the
/// file's own order: the same verdicts as iptables-restore of the file, probe for probe.
#[cfg_attr(not(statewall_root), ignore = "needs root: creates network namespaces")]
#[test]
fn differential_limit_of_established_packets() {
    differential("d-lst", "ok-limit-states.rules", None, &[22, 80]);
}

/// `-m recent` guards whose connections a wider ACCEPT takes (`ok-recent-falls-through.rules`):
/// the check becomes that allow, with its limit. The same connections, in order, to
/// iptables-restore of the file and to its import: the third from one source in 30 s is
/// dropped, another source and the wider accept's other port still get in.
#[cfg_attr(not(statewall_root), ignore = "needs root: creates network namespaces")]
#[test]
fn differential_recent_guard_before_a_wider_accept() {
    let (c, o): (IpAddr, IpAddr) = (CLIENT_V4.into(), OTHER_V4.into());
    let steps = [
        (c, 2222),
        (c, 2222),
        (c, 2222),
        (o, 2222),
        (c, 2223),
        (c, 8080),
    ];
    let (want, _) = replay(
        "d-rft",
        "ok-recent-falls-through.rules",
        &[2222, 2223, 8080],
        &steps,
    );
    use Verdict::{Connected as C, TimedOut as T};
    assert_eq!(want, [C, C, T, C, C, T], "{want:?}");
}

/// An `iptables-save` of a ufw host (`ok-ufw.rules`): `ufw limit ssh` (a `-m recent` check
/// that jumps to a chain that logs and rejects) lets 5 NEW connections per source in 30 s
/// through and rejects the 6th, another source still connects, and the web port and the
/// dropped one answer as in iptables. The same connections, in order, to iptables-restore of
/// the file and to its import: the same answers.
#[cfg_attr(not(statewall_root), ignore = "needs root: creates network namespaces")]
#[test]
fn differential_ufw_host() {
    let (c, o): (IpAddr, IpAddr) = (CLIENT_V4.into(), OTHER_V4.into());
    let mut steps = vec![(c, 22); 6];
    steps.extend([(o, 22), (c, 80), (c, 4001)]);
    let (want, _) = replay("d-ufw", "ok-ufw.rules", &[22, 80, 4001], &steps);
    use Verdict::{Connected as C, Refused as R, TimedOut as T};
    assert_eq!(want, [C, C, C, C, C, R, C, C, T], "{want:?}");
}

/// Trap lists of every kind in one file (`ok-portscan-lists.rules`): two windows of one list,
/// a list nothing fills (its check on 2223 never matches), and a list a REJECT fills that
/// nothing checks (a plain REJECT). The trap makes the order of the probes matter, so the
/// same connections go in one order to iptables-restore of the file and to its import: the
/// client gets ssh, tries 2223 (trapped there), and is refused on ssh; the other address
/// tries 2222 (trapped there too), and is refused on ssh.
#[cfg_attr(not(statewall_root), ignore = "needs root: creates network namespaces")]
#[test]
fn differential_portscan_lists() {
    let (c, o): (IpAddr, IpAddr) = (CLIENT_V4.into(), OTHER_V4.into());
    let steps = [(c, 22), (c, 2223), (c, 22), (o, 2222), (o, 22)];
    let (want, _) = replay(
        "d-psl",
        "ok-portscan-lists.rules",
        &[22, 2222, 2223],
        &steps,
    );
    use Verdict::{Connected as C, Refused as R};
    assert_eq!(want, [C, R, R, R, R], "{want:?}");
}

/// The Arch wiki's port-scan trap (`ok-portscan-trap.rules`): a source that tries a closed
/// port is refused on the open ones too, another source is not, until it tries one. The
/// same connections, in order, to iptables-restore of the file and to statewall's import
/// (a live set fed by the reject, checked and renewed by a block): the same answers.
#[cfg_attr(not(statewall_root), ignore = "needs root: creates network namespaces")]
#[test]
fn differential_portscan_trap() {
    let (c, o): (IpAddr, IpAddr) = (CLIENT_V4.into(), OTHER_V4.into());
    let steps = [
        (c, 8080),
        (c, 9999),
        (c, 8080),
        (o, 8081),
        (c, 8081),
        (o, 9998),
        (o, 8080),
    ];
    let (want, ours) = replay("d-pt", "ok-portscan-trap.rules", &[8080, 8081], &steps);
    // the trap caught each source after its first closed port, and only then
    assert_eq!(
        want,
        [
            Verdict::Connected,
            Verdict::Refused,
            Verdict::Refused,
            Verdict::Connected,
            Verdict::Refused,
            Verdict::Refused,
            Verdict::Refused
        ]
    );
    // statewall's set holds both sources, put there by the reject
    let listed = statewall(&ours.fw, ["set", "list", "TCP-PORTSCAN"]);
    listed.assert_ok();
    assert!(
        listed.stdout.contains(&CLIENT_V4.to_string())
            && listed.stdout.contains(&OTHER_V4.to_string()),
        "{listed}"
    );
}

/// The Arch wiki's port knocking (`ok-port-knock.rules`): ssh opens to a source that knocked
/// on 8881, 7777 and 9991 in that order, one SYN each, and to no other; a wrong port
/// half-way takes the source off the lists. The same knocks and connections, in order, to
/// iptables-restore of the file and to statewall's import (live sets that blocks fill and
/// empty, one per `--seconds` a list is checked with): the same answers.
#[cfg_attr(not(statewall_root), ignore = "needs root: creates network namespaces")]
#[test]
fn differential_port_knocking() {
    let (c, o): (IpAddr, IpAddr) = (CLIENT_V4.into(), OTHER_V4.into());
    use Step::{Connect, Knock};
    let steps = [
        Connect(c, 22),
        Knock(c, 8881),
        Knock(c, 7777),
        Knock(c, 9991),
        Connect(c, 22),
        Connect(o, 22),
        Knock(o, 8881),
        Knock(o, 7777),
        Knock(o, 1234),
        Knock(o, 9991),
        Connect(o, 22),
        Knock(o, 7777),
        Knock(o, 9991),
        Connect(o, 22),
        Connect(c, 22),
    ];
    let (want, ours) = replay_files("d-knock", ("ok-port-knock.rules", None), &[22], &steps);
    use Verdict::{Connected as C, TimedOut as T};
    assert_eq!(
        want,
        [T, T, T, T, C, T, T, T, T, T, T, T, T, T, C],
        "{want:?}"
    );
    // statewall's sets: the source that knocked is on the three lists (SSH2 in both its
    // views), the other on none
    for set in ["SSH0", "SSH1", "SSH2", "SSH2-30s"] {
        let listed = statewall(&ours.fw, ["set", "list", set]);
        listed.assert_ok();
        assert!(
            listed.stdout.contains(&CLIENT_V4.to_string()),
            "{set}: {listed}"
        );
        assert!(
            !listed.stdout.contains(&OTHER_V4.to_string()),
            "{set}: {listed}"
        );
    }
}

/// The Arch wiki's port knock with gate chains (`ok-gate-port-knock.rules`): each gate's
/// target-less `--remove` is folded into the rules that decide the packets after it. ssh
/// opens to the source that knocked on 7000, 8000 and 9000 in order, for one connection
/// (the accept takes it off AUTH3); a wrong knock half-way, or a knock on 7000 again, starts
/// it over. The same knocks and connections to iptables-restore of the file and to
/// statewall's import: the same answers. Without the removes folded in (each decision
/// leaving the lists as they were) three answers differ: the client's second connection,
/// the other source's after its wrong knock, and the client's after a new first knock all
/// get in.
#[cfg_attr(not(statewall_root), ignore = "needs root: creates network namespaces")]
#[test]
fn differential_gate_port_knocking() {
    let (c, o): (IpAddr, IpAddr) = (CLIENT_V4.into(), OTHER_V4.into());
    use Step::{Connect, Knock};
    let steps = [
        Connect(c, 22),
        Knock(c, 7000),
        Knock(c, 8000),
        Knock(c, 9000),
        Connect(c, 22),
        Connect(c, 22),
        Knock(o, 7000),
        Knock(o, 8000),
        Knock(o, 1234),
        Knock(o, 9000),
        Connect(o, 22),
        Knock(o, 7000),
        Knock(o, 8000),
        Knock(o, 9000),
        Connect(o, 22),
        Knock(c, 7000),
        Connect(c, 22),
    ];
    let (want, ours) = replay_files("d-gate", ("ok-gate-port-knock.rules", None), &[22], &steps);
    use Verdict::{Connected as C, TimedOut as T};
    assert_eq!(
        want,
        [T, T, T, T, C, T, T, T, T, T, T, T, T, T, C, T, T],
        "{want:?}"
    );
    // statewall's sets: no source is on AUTH3, which each accept took its source off, nor
    // on AUTH1, which the client's last knock filled and its last connection's drop (gate
    // 2's remove) emptied again
    for set in ["AUTH1", "AUTH3"] {
        let out = statewall(&ours.fw, ["set", "list", set]);
        out.assert_ok();
        assert!(out.stdout.contains("0 members"), "{set}: {out}");
    }
}

/// A one-knock door (`ok-knock-remove-accept.rules`): the ACCEPT that a list check jumps to
/// takes the source off the list (`--remove -j ACCEPT`, an allow with `remove_from_set`), so
/// each knock lets one connection in. The same steps to iptables-restore of the file and to
/// statewall's import: the same answers (an allow that only looked the set up would let the
/// second connection in).
#[cfg_attr(not(statewall_root), ignore = "needs root: creates network namespaces")]
#[test]
fn differential_knock_remove_accept() {
    let c: IpAddr = CLIENT_V4.into();
    use Step::{Connect, Knock};
    let steps = [
        Connect(c, 22),
        Knock(c, 7000),
        Connect(c, 22),
        Connect(c, 22),
        Knock(c, 7000),
        Connect(c, 22),
    ];
    let (want, _) = replay_files(
        "d-kra",
        ("ok-knock-remove-accept.rules", None),
        &[22],
        &steps,
    );
    use Verdict::{Connected as C, TimedOut as T};
    assert_eq!(want, [T, T, C, T, T, C], "{want:?}");
}

/// The widely copied "portscan" lockout (`ok-portscan-remove.rules`, and with its check
/// jumping to a chain that logs and drops, `ok-portscan-remove-logdrop.rules`): a try of
/// port 139 locks the source out of everything for 3 s, another source is not locked out,
/// and the source gets in again once the 3 s have passed. The file's `--remove` without a
/// target (its reset after the window) is left out: the same answers as iptables-restore
/// of it.
#[cfg_attr(not(statewall_root), ignore = "needs root: creates network namespaces")]
#[test]
fn differential_portscan_remove() {
    let (c, o): (IpAddr, IpAddr) = (CLIENT_V4.into(), OTHER_V4.into());
    use Step::{Connect, Knock, Wait};
    let steps = [
        Connect(c, 8080),
        Knock(c, 139),
        Connect(c, 8080),
        Connect(o, 8080),
        Wait(Duration::from_millis(3500)),
        Connect(c, 8080),
        Knock(c, 139),
        Connect(c, 8080),
    ];
    for file in [
        "ok-portscan-remove.rules",
        "ok-portscan-remove-logdrop.rules",
    ] {
        let (want, _ours) = replay_files("d-psrm", (file, None), &[8080], &steps);
        use Verdict::{Connected as C, TimedOut as T};
        assert_eq!(want, [C, T, T, C, C, T, T], "{file}: {want:?}");
    }
}

/// A list check that jumps to a chain handing each protocol to a chain that logs and drops
/// (`ok-recent-jump-verdict-chains.rules`): a source that tried a closed port is dropped
/// on the open one too, another source is not, as through iptables-restore of the file.
#[cfg_attr(not(statewall_root), ignore = "needs root: creates network namespaces")]
#[test]
fn differential_recent_jump_to_verdict_chains() {
    let (c, o): (IpAddr, IpAddr) = (CLIENT_V4.into(), OTHER_V4.into());
    use Step::{Connect, Knock};
    let steps = [
        Connect(c, 8080),
        Knock(c, 9999),
        Connect(c, 8080),
        Connect(o, 8080),
    ];
    let files = ("ok-recent-jump-verdict-chains.rules", None);
    let (want, _ours) = replay_files("d-rjv", files, &[8080], &steps);
    use Verdict::{Connected as C, TimedOut as T};
    assert_eq!(want, [C, T, T, C], "{want:?}");
}

/// A port knock whose check names the sources it opens to (`ok-recent-check-with-source.rules`:
/// an allow with `from` and `from_set` both): the client in the network that knocked gets
/// in, another that knocked does not, as through iptables-restore of the file.
#[cfg_attr(not(statewall_root), ignore = "needs root: creates network namespaces")]
#[test]
fn differential_recent_check_with_source() {
    let (c, o): (IpAddr, IpAddr) = (CLIENT_V4.into(), OTHER_V4.into());
    use Step::{Connect, Knock};
    let steps = [
        Connect(c, 22),
        Knock(c, 22222),
        Connect(c, 22),
        Knock(o, 22222),
        Connect(o, 22),
    ];
    let files = ("ok-recent-check-with-source.rules", None);
    let (want, _ours) = replay_files("d-rcs", files, &[22], &steps);
    use Verdict::{Connected as C, TimedOut as T};
    assert_eq!(want, [T, T, C, T, T], "{want:?}");
}

/// A trap list checked with two `--seconds` (`ok-portscan-two-windows.rules`): one live set
/// per window, each renewed by the `--update` as `recent` renews its one entry: right
/// after a dropped try the 2 s check refuses (the drop renewed its window too), 2.5 s
/// later it lets go while the renewed 60 s one still drops. One SYN each (a knock), so
/// that no retransmission renews them: the same answers as iptables-restore of the file.
#[cfg_attr(not(statewall_root), ignore = "needs root: creates network namespaces")]
#[test]
fn differential_trap_list_checked_with_two_windows() {
    let c: IpAddr = CLIENT_V4.into();
    use Step::{Connect, Knock, Wait};
    let steps = [
        Connect(c, 8080),
        Connect(c, 9999),
        Knock(c, 8081),
        Wait(std::time::Duration::from_millis(2500)),
        Knock(c, 8080),
        Knock(c, 8081),
        Wait(std::time::Duration::from_millis(2500)),
        Knock(c, 8081),
    ];
    let (want, _) = replay_files(
        "d-tw",
        ("ok-portscan-two-windows.rules", None),
        &[8080, 8081],
        &steps,
    );
    use Verdict::{Connected as C, Refused as R, TimedOut as T};
    assert_eq!(want, [C, R, R, T, R, T], "{want:?}");
}

/// Numbered inserts (`ok-numbered-inserts.rules`): `-I INPUT N` one past the chain's rules
/// appends, `-I INPUT 1` goes on top, as iptables-restore builds the chain. Probe for probe
/// the same verdicts as iptables-restore of the file (8080 rejected before the established
/// accept, 22, 80 and 8081 open, 8082 rejected, the rest dropped).
#[cfg_attr(not(statewall_root), ignore = "needs root: creates network namespaces")]
#[test]
fn differential_numbered_inserts() {
    differential(
        "d-ni",
        "ok-numbered-inserts.rules",
        None,
        &[22, 80, 8080, 8081, 8082, 9999],
    );
}

/// Long options with their value after `=` and quotes inside a word
/// (`ok-option-equals.rules`: `--dport=22`, `--comment="ssh from anywhere"`), read as
/// iptables-restore reads them: probe for probe the same verdicts.
#[cfg_attr(not(statewall_root), ignore = "needs root: creates network namespaces")]
#[test]
fn differential_option_equals_value() {
    differential(
        "d-oe",
        "ok-option-equals.rules",
        None,
        &[22, 80, 443, 8080, 9999],
    );
}

/// A RETURN of two things at once (`ok-return-two-things.rules`: `-s 192.0.2.4/30 ! -i lo
/// -j RETURN`, as Tailscale's ts-input writes it): the rules after it get the packets that
/// miss the network, and those that match it but arrive on lo. The same connections to
/// iptables-restore of the file and to its import: the returned source reaches ssh only,
/// the other is dropped but for its own port.
#[cfg_attr(not(statewall_root), ignore = "needs root: creates network namespaces")]
#[test]
fn differential_return_of_two_things() {
    let (c, o): (IpAddr, IpAddr) = (CLIENT_V4.into(), OTHER_V4.into());
    let steps = [(c, 22), (o, 22), (c, 8081), (o, 8081), (c, 8080), (o, 8080)];
    let (want, _) = replay(
        "d-r2",
        "ok-return-two-things.rules",
        &[22, 8080, 8081],
        &steps,
    );
    use Verdict::{Connected as C, TimedOut as T};
    assert_eq!(want, [T, C, C, T, T, T], "{want:?}");
}

/// A REJECT of NEW, ESTABLISHED and RELATED packets in a chain without an established rule
/// (`ok-reject-states.rules`): a reject with `state`, as an allow says its states. Probe
/// for probe the same verdicts as iptables-restore of the file.
#[cfg_attr(not(statewall_root), ignore = "needs root: creates network namespaces")]
#[test]
fn differential_reject_with_states() {
    differential(
        "d-rs",
        "ok-reject-states.rules",
        None,
        &[22, 23, 8080, 9999],
    );
}

/// The ssh brute-force guard whose `--set` is on the jump into its chain
/// (`ok-recent-set-jump.rules`): the `--set` and then the plain jump, as iptables evaluates
/// it, which is the brute-force pair before the chain's ACCEPT. The same connections to
/// iptables-restore of the file and to its import: two through, the third refused, the
/// other source and port 80 untouched.
#[cfg_attr(not(statewall_root), ignore = "needs root: creates network namespaces")]
#[test]
fn differential_recent_set_on_the_jump() {
    let (c, o): (IpAddr, IpAddr) = (CLIENT_V4.into(), OTHER_V4.into());
    let steps = [(c, 22), (c, 22), (c, 22), (c, 22), (o, 22), (c, 80)];
    let (want, _) = replay("d-sj", "ok-recent-set-jump.rules", &[22, 80], &steps);
    use Verdict::{Connected as C, Refused as R};
    assert_eq!(want, [C, C, R, R, C, C], "{want:?}");
}

/// `--ctdir ORIGINAL` where every packet of the rule opens a connection (`ok-ctdir.rules`:
/// after the established accept, or with `--ctstate NEW`): it says nothing more there.
/// Probe for probe the same verdicts as iptables-restore of the file.
#[cfg_attr(not(statewall_root), ignore = "needs root: creates network namespaces")]
#[test]
fn differential_ctdir_original() {
    differential("d-cd", "ok-ctdir.rules", None, &[22, 80, 8080, 9999]);
}

/// A blocklist INPUT beside an OUTPUT that drops what it does not allow
/// (`ok-blocklist-output.rules`): enforce mode with the input chain's final = "accept"; port 0
/// is dropped with the rest of `0:1023`. The same verdicts as iptables-restore of the file,
/// probe for probe (replies pass OUTPUT by its source-port allows).
#[cfg_attr(not(statewall_root), ignore = "needs root: creates network namespaces")]
#[test]
fn differential_blocklist_input_beside_a_filtering_output() {
    differential(
        "d-bl",
        "ok-blocklist-output.rules",
        None,
        &[0, 22, 80, 8080],
    );
}

/// Connections kept open (`steps`: from a client address to a port), one after another, to
/// iptables-restore of `rules` (and ip6tables-restore of `rules6`) and to statewall's import
/// (`--ipv6 rules6`, or `--mirror-ipv6`): their answers must be the same, in order. Returns
/// them.
fn held_connections(
    tag: &str,
    (rules, rules6): (&str, Option<&str>),
    steps: &[(IpAddr, u16)],
) -> Vec<crate::support::Probe> {
    use crate::support::Probe;
    use crate::support::flows::{Echo, connect_from};
    let (oracle, ours) = (
        pair_with_two_clients(&format!("{tag}-ipt")),
        pair_with_two_clients(&format!("{tag}-sw")),
    );
    let mut ports: Vec<u16> = steps.iter().map(|&(_, p)| p).collect();
    ports.sort_unstable();
    ports.dedup();
    let _echo: Vec<Echo> = [&oracle, &ours]
        .iter()
        .flat_map(|p| ports.iter().map(|&port| Echo::start(&p.fw, port)))
        .collect();
    load_both((&oracle, &ours), (rules, rules6));
    let run = |pair: &Pair| {
        let mut kept = Vec::new();
        let answers: Vec<Probe> = steps
            .iter()
            .map(|&(src, port)| {
                let dst: IpAddr = if src.is_ipv4() {
                    FW_V4.into()
                } else {
                    FW_V6.into()
                };
                match connect_from(&pair.client, src, SocketAddr::new(dst, port), PROBE_TIMEOUT) {
                    Ok(s) => {
                        kept.push(s);
                        Probe::Connected
                    }
                    Err(p) => p,
                }
            })
            .collect();
        (answers, kept)
    };
    let (want, _kept_ipt) = run(&oracle);
    let (got, _kept_sw) = run(&ours);
    assert_eq!(
        want, got,
        "{rules}: iptables (left) and statewall (right) differ"
    );
    want
}

/// `--connlimit-mask 0`, and an IPv6 mask of 64 (`ok-connlimit-all.rules` + `.rules6`):
/// connections kept open from the two clients ([`held_connections`]). Port 8080 counts all
/// sources together (the third open connection is reset whichever client makes it, and
/// IPv6 has its own count), ssh each IPv4 address and each IPv6 /64 (both clients' IPv6
/// addresses are in one /64).
#[cfg_attr(not(statewall_root), ignore = "needs root: creates network namespaces")]
#[test]
fn differential_connlimit_of_all_sources_and_of_a_network() {
    use crate::support::Probe::{Connected as C, Refused as R};
    let (c4, o4, c6, o6): (IpAddr, IpAddr, IpAddr, IpAddr) = (
        CLIENT_V4.into(),
        OTHER_V4.into(),
        CLIENT_V6.into(),
        OTHER_V6.into(),
    );
    let steps = [
        (c4, 8080),
        (o4, 8080),
        (c4, 8080),
        (o4, 8080),
        (c6, 8080),
        (c4, 22),
        (c4, 22),
        (c4, 22),
        (o4, 22),
        (c6, 22),
        (o6, 22),
        (c6, 22),
    ];
    let files = ("ok-connlimit-all.rules", Some("ok-connlimit-all.rules6"));
    let want = held_connections("d-cla", files, &steps);
    assert_eq!(
        want,
        [C, C, R, R, C, C, C, R, C, C, C, R],
        "the counts held"
    );
}

/// A count of bare SYNs with the ACCEPT policy after it (`ok-connlimit-accept-policy.rules`):
/// the rule itself becomes the allow. Connections kept open from both clients: the third is
/// reset whichever client makes it, as through iptables.
#[cfg_attr(not(statewall_root), ignore = "needs root: creates network namespaces")]
#[test]
fn differential_connlimit_before_the_accept_policy() {
    use crate::support::Probe::{Connected as C, Refused as R};
    let (c, o): (IpAddr, IpAddr) = (CLIENT_V4.into(), OTHER_V4.into());
    let steps = [(c, 8080), (o, 8080), (o, 8080), (c, 8080)];
    let files = ("ok-connlimit-accept-policy.rules", None);
    let want = held_connections("d-clp", files, &steps);
    assert_eq!(want, [C, C, R, R], "the count held");
}

/// Loopback by address only (`ok-lo-by-address.rules`): from the firewall to itself, the
/// same answers through iptables-restore of the file and through its import — a closed
/// port answers over 127.0.0.1 and is silent over the host's own address (the rule takes
/// loopback addresses, not all of lo), and ssh answers over both.
#[cfg_attr(not(statewall_root), ignore = "needs root: creates network namespaces")]
#[test]
fn differential_loopback_by_address_is_not_all_of_lo() {
    use crate::support::flows::Echo;
    let (oracle, ours) = (Pair::new("d-lba-ipt"), Pair::new("d-lba-sw"));
    load_both((&oracle, &ours), ("ok-lo-by-address.rules", None));
    let lo: IpAddr = Ipv4Addr::LOCALHOST.into();
    let own: IpAddr = FW_V4.into();
    let mut got = Vec::new();
    for pair in [&oracle, &ours] {
        let _echo = [Echo::start(&pair.fw, 22), Echo::start(&pair.fw, 8080)];
        got.push(
            [(lo, 8080), (own, 8080), (lo, 22), (own, 22)]
                .map(|(a, port)| probe_from(&pair.fw, a, SocketAddr::new(a, port))),
        );
    }
    use Verdict::{Connected as C, TimedOut as T};
    assert_eq!(got[0], [C, T, C, C], "iptables");
    assert_eq!(
        got[1], got[0],
        "statewall (left) differs from iptables (right)"
    );
}

/// `-m connlimit` guards (`ok-connlimit-guard.rules`): a REJECT before the established accept
/// (it sees every packet), one with host-prohibited, one counting all sources together
/// before an ACCEPT of a network — each a block that takes the connections beyond its count
/// and lets the rest go on — and a DROP before a wider ACCEPT, which becomes that allow's
/// count. Connections kept open from the two clients: the same answers as through
/// iptables-restore of the file.
#[cfg_attr(not(statewall_root), ignore = "needs root: creates network namespaces")]
#[test]
fn differential_connlimit_guards() {
    use crate::support::Probe::{Connected as C, Refused as R, TimedOut as T};
    let (c, o): (IpAddr, IpAddr) = (CLIENT_V4.into(), OTHER_V4.into());
    let steps = [
        (c, 25),
        (c, 25),
        (c, 25),
        (o, 25),
        (c, 8080),
        (c, 8080),
        (o, 8080),
        (c, 80),
        (o, 80),
        (c, 80),
        (c, 443),
        (c, 443),
        (o, 443),
        (c, 8443),
    ];
    let files = ("ok-connlimit-guard.rules", None);
    let want = held_connections("d-clg", files, &steps);
    let unreachable = want[5].clone();
    assert!(
        // EHOSTUNREACH ("No route to host"), as host-prohibited answers
        matches!(&unreachable, crate::support::Probe::Other(e) if e.contains("os error 113")),
        "host-prohibited: {unreachable}"
    );
    assert_eq!(
        want,
        [C, C, R, C, C, unreachable, C, C, C, R, C, T, C, C],
        "the counts held"
    );
}

/// A `-m connlimit` guard REJECT after the accepts and before the INVALID drop
/// (`ok-connlimit-guard-invalid.rules`, corpus 80's form): a block among the allows with its
/// tcp-reset, in the file's own order. Connections kept open from the two clients: the same
/// answers as through iptables-restore of the file (a client's third SMTP connection reset,
/// the other client's first let in).
#[cfg_attr(not(statewall_root), ignore = "needs root: creates network namespaces")]
#[test]
fn differential_connlimit_guard_before_the_invalid_drop() {
    use crate::support::Probe::{Connected as C, Refused as R};
    let (c, o): (IpAddr, IpAddr) = (CLIENT_V4.into(), OTHER_V4.into());
    let steps = [(c, 25), (c, 25), (c, 25), (o, 25), (c, 8080), (c, 25)];
    let files = ("ok-connlimit-guard-invalid.rules", None);
    let want = held_connections("d-cgi", files, &steps);
    assert_eq!(want, [C, C, R, C, C, R], "the count held");
}

/// A limited ICMP accept after the ESTABLISHED,RELATED accept in a chain read in the file's
/// order (`ok-limit-after-established.rules`): its allow takes NEW connections; the same
/// verdicts as iptables-restore of the file, probe for probe.
#[cfg_attr(not(statewall_root), ignore = "needs root: creates network namespaces")]
#[test]
fn differential_limit_after_the_established_accept() {
    differential(
        "d-lae",
        "ok-limit-after-established.rules",
        None,
        &[22, 80, 8080],
    );
}

/// One `-m recent` guard chain jumped to from a source's rule and then an interface's
/// (`ok-recent-nested-ways.rules`): each source always meets one of them, and the two ways'
/// allows share the list's meter. The same connections from the two clients, one after another,
/// to iptables-restore of the file and to statewall's import: the same answers (the third
/// of each source's burst dropped).
#[cfg_attr(not(statewall_root), ignore = "needs root: creates network namespaces")]
#[test]
fn differential_recent_guard_reached_by_nested_ways() {
    let (c, o): (IpAddr, IpAddr) = (CLIENT_V4.into(), OTHER_V4.into());
    let steps = [
        (c, 8080),
        (o, 8080),
        (c, 8080),
        (o, 8080),
        (c, 8080),
        (o, 8080),
    ];
    let (want, _) = replay("d-rnw", "ok-recent-nested-ways.rules", &[8080], &steps);
    use Verdict::{Connected as C, TimedOut as T};
    assert_eq!(want, [C, C, C, C, T, T], "{want:?}");
}

/// Two guard pairs of one `-m recent` list for two ports (`ok-recent-two-guards.rules`, the
/// twenty-fourth probe's F1): iptables counts a source's connections to both ports in the
/// one list, and the import's two allows share its meter. Two connections to 8080 and one
/// to 8081 get in, the fourth and fifth (to 8081, to 8080) are dropped, the other client
/// gets in: the same answers as iptables-restore of the file (a bucket per allow lets the
/// fourth and fifth in).
#[cfg_attr(not(statewall_root), ignore = "needs root: creates network namespaces")]
#[test]
fn differential_two_guards_of_one_recent_list() {
    let (c, o): (IpAddr, IpAddr) = (CLIENT_V4.into(), OTHER_V4.into());
    let steps = [
        (c, 8080),
        (c, 8080),
        (c, 8081),
        (c, 8081),
        (c, 8080),
        (o, 8081),
    ];
    let (want, _) = replay("d-r2g", "ok-recent-two-guards.rules", &[8080, 8081], &steps);
    use Verdict::{Connected as C, TimedOut as T};
    assert_eq!(want, [C, C, C, T, T, C], "{want:?}");
}

/// [`replay`] of `rules` with five connections to 8080 from one client, then one from the
/// other: the answers, iptables' and statewall's alike.
fn five_then_another(tag: &str, rules: &str) -> Vec<Verdict> {
    let (c, o): (IpAddr, IpAddr) = (CLIENT_V4.into(), OTHER_V4.into());
    let steps = [
        (c, 8080),
        (c, 8080),
        (c, 8080),
        (c, 8080),
        (c, 8080),
        (o, 8080),
    ];
    replay(tag, rules, &[8080], &steps).0
}

/// `! --update` after the `--set` (`ok-recent-not-update.rules`, the twenty-sixth probe's
/// F2): each connection it accepts is stamped twice, so a source gets two of `--hitcount 4`,
/// not three. Five connections from one client and one from the other get the same answers
/// as through iptables-restore of the file (a limit of 3/60s lets the third in).
#[cfg_attr(not(statewall_root), ignore = "needs root: creates network namespaces")]
#[test]
fn differential_negated_update_counts_each_accepted_connection_twice() {
    let want = five_then_another("d-rnu", "ok-recent-not-update.rules");
    use Verdict::{Connected as C, Refused as R};
    assert_eq!(want, [C, C, R, R, R, C], "{want:?}");
}

/// The ssh guard pair under an ACCEPT policy beside a FORWARD that drops
/// (`ok-recent-guard-accept-policy.rules`, the twenty-sixth probe's F9): the pair is kept, and
/// five connections from one client and one from the other get the answers they get through
/// iptables-restore of the file (INPUT read as accepting everything let all five in).
#[cfg_attr(not(statewall_root), ignore = "needs root: creates network namespaces")]
#[test]
fn differential_recent_guard_under_an_accept_policy() {
    let want = five_then_another("d-rga", "ok-recent-guard-accept-policy.rules");
    use Verdict::{Connected as C, TimedOut as T};
    assert_eq!(want, [C, C, C, T, T, C], "{want:?}");
}

/// `-m recent` checks that guard no allow (`ok-recent-guard.rules`): a DROP after its
/// `--set` and a REJECT before it, each followed by an ACCEPT of one network only. A burst
/// from each client to each port, one after another, to iptables-restore of the file and to
/// statewall's import: the same answers (the third of each source's burst dropped or reset,
/// the other source's first let through to the ACCEPT).
#[cfg_attr(not(statewall_root), ignore = "needs root: creates network namespaces")]
#[test]
fn differential_recent_guards_without_their_allow() {
    let (c, o): (IpAddr, IpAddr) = (CLIENT_V4.into(), OTHER_V4.into());
    let steps = [
        (c, 8080),
        (c, 8080),
        (c, 8080),
        (o, 8080),
        (c, 8443),
        (c, 8443),
        (c, 8443),
        (o, 8443),
    ];
    let (want, _) = replay("d-rg", "ok-recent-guard.rules", &[8080, 8443], &steps);
    use Verdict::{Connected as C, Refused as R, TimedOut as T};
    assert_eq!(want, [C, C, T, C, C, C, R, C], "{want:?}");
}

/// The port-scan trap with an INVALID drop only the IPv4 file has
/// (`ok-trap-one-family.rules` + `.rules6`): the drop is a block before the trap. The same
/// connections, one after another, to iptables-restore and ip6tables-restore of the files
/// and to statewall's import of both: the same answers (a source that tried a closed port
/// is dropped on the open one too).
#[cfg_attr(not(statewall_root), ignore = "needs root: creates network namespaces")]
#[test]
fn differential_portscan_trap_with_an_invalid_drop_in_one_family() {
    let (c, o): (IpAddr, IpAddr) = (CLIENT_V4.into(), OTHER_V4.into());
    let steps: Vec<Step> = [(c, 8080), (c, 9999), (c, 8080), (o, 8080)]
        .into_iter()
        .map(|(a, p)| Step::Connect(a, p))
        .collect();
    let files = (
        "ok-trap-one-family.rules",
        Some("ok-trap-one-family.rules6"),
    );
    let (want, _) = replay_files("d-t1f", files, &[8080], &steps);
    use Verdict::{Connected as C, TimedOut as T};
    assert_eq!(want, [C, T, T, C], "{want:?}");
}

/// The port-scan trap in both files, its check rejecting for IPv4 and dropping for IPv6
/// (`ok-trap-two-families.rules` + `.rules6`): each check reads its own family's half of the
/// list. The same connections to iptables-restore and ip6tables-restore of the files and to
/// statewall's import of both: an IPv6 source that tried a closed port is dropped on the
/// open one (an IPv4 check of both halves would reset it), an IPv4 one reset.
#[cfg_attr(not(statewall_root), ignore = "needs root: creates network namespaces")]
#[test]
fn differential_portscan_trap_in_both_families() {
    let (c6, o6): (IpAddr, IpAddr) = (CLIENT_V6.into(), OTHER_V6.into());
    let c4: IpAddr = CLIENT_V4.into();
    let steps: Vec<Step> = [
        (c6, 8080),
        (c6, 9999),
        (c6, 8080),
        (o6, 8080),
        (c4, 9999),
        (c4, 8080),
    ]
    .into_iter()
    .map(|(a, p)| Step::Connect(a, p))
    .collect();
    let files = (
        "ok-trap-two-families.rules",
        Some("ok-trap-two-families.rules6"),
    );
    let (want, _) = replay_files("d-t2f", files, &[8080], &steps);
    use Verdict::{Connected as C, Refused as R, TimedOut as T};
    assert_eq!(want, [C, R, T, C, R, R], "{want:?}");
}

/// A list in both files whose IPv4 rules say `--mask 255.255.255.255`
/// (`ok-recent-mask-two-families.rules` + `.rules6`): the kernel keeps one table per name,
/// with the mask of the rule that made it (the IPv4 file's, loaded first), so the IPv6
/// client that tried a closed port is listed as its whole /32 and another IPv6 source is
/// dropped too; statewall keeps IPv6 sources whole, as the IPv6 file's own mask says, and
/// lets the other source in (its import notes the difference).
#[cfg_attr(not(statewall_root), ignore = "needs root: creates network namespaces")]
#[test]
fn a_list_in_both_families_keeps_ipv6_sources_whole_where_the_kernel_masks_them() {
    let oracle = pair_with_two_clients("d-rm2-ipt");
    let ours = pair_with_two_clients("d-rm2-sw");
    let _l1 = listen_tcp(&oracle.fw, &[8080]);
    let _l2 = listen_tcp(&ours.fw, &[8080]);
    let files = (
        "ok-recent-mask-two-families.rules",
        Some("ok-recent-mask-two-families.rules6"),
    );
    load_both((&oracle, &ours), files);
    let run = |pair: &Pair| {
        let to = |port| SocketAddr::new(FW_V6.into(), port);
        let tried = probe_from(&pair.client, CLIENT_V6.into(), to(9999));
        let other = probe_from(&pair.client, OTHER_V6.into(), to(8080));
        (tried, other)
    };
    let (theirs, mine) = (run(&oracle), run(&ours));
    let listed = oracle.fw.exec(["cat", "/proc/net/xt_recent/scanners"]);
    assert!(
        listed
            .stdout
            .contains("src=2001:0db8:0000:0000:0000:0000:0000:0000 "),
        "{listed}"
    );
    assert_eq!(theirs, (Verdict::TimedOut, Verdict::TimedOut));
    assert_eq!(mine, (Verdict::TimedOut, Verdict::Connected));
}

/// A flood trap on a limited ICMP accept (`ok-flood-trap.rules`): 30 pings at once get the
/// burst answered (about 10) and put the source on the list; a ping a
/// second later is then dropped (while listed), and one from the other address answered.
/// The same through iptables-restore and statewall's import (within a token of each other:
/// the buckets start when each file is loaded). Before the import kept the limit, the
/// accept was the baseline's ICMP rule: all 30 answered.
#[cfg_attr(not(statewall_root), ignore = "needs root: creates network namespaces")]
#[test]
fn differential_flood_trap_on_a_limited_icmp_accept() {
    let oracle = pair_with_two_clients("d-fl-ipt");
    let ours = pair_with_two_clients("d-fl-sw");
    load_both((&oracle, &ours), ("ok-flood-trap.rules", None));
    let run = |pair: &Pair| {
        let (c, o) = (IpAddr::from(CLIENT_V4), IpAddr::from(OTHER_V4));
        let flood = pings_answered(&pair.client, c, FW_V4.into(), 30);
        std::thread::sleep(std::time::Duration::from_secs(1));
        (
            flood,
            ping_from(&pair.client, c, FW_V4.into(), PING_WAIT),
            ping_from(&pair.client, o, FW_V4.into(), PING_WAIT),
        )
    };
    let (theirs, ours) = (run(&oracle), run(&ours));
    assert!((9..=14).contains(&theirs.0), "iptables: {theirs:?}");
    assert!(
        theirs.0.abs_diff(ours.0) <= 1,
        "iptables {theirs:?}, statewall {ours:?}"
    );
    assert_eq!(
        (theirs.1.clone(), theirs.2.clone()),
        (Verdict::TimedOut, Verdict::Connected),
        "iptables"
    );
    assert_eq!(
        (ours.1, ours.2),
        (theirs.1, theirs.2),
        "statewall, iptables"
    );
}

/// A DROP and a REJECT with a rate before the ACCEPT of the same packets
/// (`ok-limit-drop.rules`): each takes what is within its rate, and the rest is accepted.
/// The same connections, one after another, to iptables-restore of the file and to
/// statewall's import: the same answers, in order.
#[cfg_attr(not(statewall_root), ignore = "needs root: creates network namespaces")]
#[test]
fn differential_drop_and_reject_within_a_rate() {
    let (c, o): (IpAddr, IpAddr) = (CLIENT_V4.into(), OTHER_V4.into());
    let steps = [
        (c, 8080),
        (o, 8080),
        (c, 8080),
        (c, 8081),
        (c, 8081),
        (o, 8081),
        (o, 8081),
    ];
    let (want, _) = replay("d-ld", "ok-limit-drop.rules", &[8080, 8081], &steps);
    // the client's SYN and its retransmission take the burst of 2: the rest get in
    use Verdict::{Connected as C, Refused as R, TimedOut as T};
    assert_eq!(want, [T, C, C, R, C, R, C], "{want:?}");
}

/// One datagram per step, one after another, from the step's source to the fw's IPv4
/// address at the step's port: what each got.
fn datagrams(pair: &Pair, steps: &[(IpAddr, u16)]) -> Vec<crate::support::routed::Outcome> {
    steps
        .iter()
        .map(|&(src, port)| {
            let dst = SocketAddr::new(FW_V4.into(), port);
            crate::support::routed::udp(&pair.client, SocketAddr::new(src, 0), dst, PROBE_TIMEOUT)
        })
        .collect()
}

/// One datagram per step (`datagrams`) to the fw of a pair loaded with `file` by
/// iptables-restore and of a pair loaded with its import (`name` the pairs' prefix; UDP
/// `ports` echoed on both fws): the two must answer alike; what iptables' answered.
fn datagram_replay(
    name: &str,
    file: &str,
    ports: &[u16],
    steps: &[(IpAddr, u16)],
) -> Vec<crate::support::routed::Outcome> {
    use crate::support::routed::Responder;
    let (oracle, ours) = (
        pair_with_two_clients(&format!("{name}-ipt")),
        pair_with_two_clients(&format!("{name}-sw")),
    );
    let _echo = [&oracle, &ours].map(|p| Responder::start(&p.fw, &[], ports));
    load_both((&oracle, &ours), (file, None));
    let (want, got) = (datagrams(&oracle, steps), datagrams(&ours, steps));
    assert_eq!(want, got, "iptables', then statewall's");
    want
}

/// `--hashlimit-above` rules that count every packet before their ACCEPTs
/// (`ok-hashlimit-guard.rules`): rate guards in their place. Six DNS datagrams in a burst from
/// one client, then three from another: the first three of each source echoed, the rest
/// refused (port-unreachable), as through iptables-restore of the file.
#[cfg_attr(not(statewall_root), ignore = "needs root: creates network namespaces")]
#[test]
fn differential_hashlimit_guards_count_every_datagram() {
    use crate::support::routed::Outcome;
    let steps: Vec<(IpAddr, u16)> = [[CLIENT_V4; 6].as_slice(), &[OTHER_V4; 3]]
        .concat()
        .into_iter()
        .map(|src| (IpAddr::from(src), 53))
        .collect();
    let want = datagram_replay("d-hlg", "ok-hashlimit-guard.rules", &[53], &steps);
    use Outcome::{Answered as A, Refused as R};
    assert_eq!(
        want,
        [A, A, A, R, R, R, A, A, A],
        "the bursts were counted per source"
    );
}

/// Datagrams to the three ports of one `--hashlimit-name`'s rules (burst 3): two to 53 and
/// three to 5000 from the client, one to 123, then one to 123 and one to 5000 from the other
/// client.
fn three_rule_steps() -> [(IpAddr, u16); 8] {
    let (c, o): (IpAddr, IpAddr) = (CLIENT_V4.into(), OTHER_V4.into());
    [
        (c, 53),
        (c, 53),
        (c, 5000),
        (c, 5000),
        (c, 5000),
        (c, 123),
        (o, 123),
        (o, 5000),
    ]
}

/// Three `--hashlimit-above` rules of one `--hashlimit-name` (`ok-hashlimit-shared.rules`,
/// corpus 431's form): a source's datagrams to any of their ports take tokens from one
/// bucket, at the first rule's rate (burst 3). Two to port 53 and three to 5000 from one
/// client, one to 123 (whose rule says burst 9), then the other client's: the client's third
/// gets in and the rest are refused, the other client's get in, as through
/// iptables-restore of the file (a bucket per entry would let the client's 5000s and 123
/// in).
#[cfg_attr(not(statewall_root), ignore = "needs root: creates network namespaces")]
#[test]
fn differential_hashlimit_name_shared_by_three_rules() {
    use crate::support::routed::Outcome;
    let steps = three_rule_steps();
    let ports = [53, 123, 5000];
    let want = datagram_replay("d-hls", "ok-hashlimit-shared.rules", &ports, &steps);
    use Outcome::{Answered as A, Refused as R};
    assert_eq!(
        want,
        [A, A, A, R, R, R, A, A],
        "one bucket per source for the three rules"
    );
}

/// Three `--hashlimit-upto` ACCEPTs of one `--hashlimit-name` (`ok-hashlimit-shared-upto.rules`,
/// a replayed shell script's form): a source's datagrams to any of their ports take tokens
/// from one bucket, at the first rule's rate (burst 3); what exceeds it goes on to the final
/// REJECT. Two to port 53 and three to 5000 from one client, one to 123 (whose rule says
/// burst 9), then the other client's: the client's third gets in and the rest are refused,
/// the other client's get in, as through iptables-restore of the file (a bucket per entry
/// would let the client's 5000s and 123 in).
#[cfg_attr(not(statewall_root), ignore = "needs root: creates network namespaces")]
#[test]
fn differential_hashlimit_name_shared_by_three_accepts() {
    use crate::support::routed::Outcome;
    let steps = three_rule_steps();
    let file = "ok-hashlimit-shared-upto.rules";
    let want = datagram_replay("d-hlu", file, &[53, 123, 5000], &steps);
    use Outcome::{Answered as A, Refused as R};
    assert_eq!(
        want,
        [A, A, A, R, R, R, A, A],
        "one bucket per source for the three accepts"
    );
}

/// Two `--hashlimit-above` rules of one `--hashlimit-name` without a mode
/// (`ok-hashlimit-shared-all.rules`): one bucket for the name, every source's datagrams to
/// either port taking tokens from it, at the first rule's rate (burst 3). Two to 123 from one
/// client and one to 5000 from the other use it up; the next of either, to either port, is
/// refused, as through iptables-restore of the file (a bucket per entry would let both in,
/// a bucket per source the other client's).
#[cfg_attr(not(statewall_root), ignore = "needs root: creates network namespaces")]
#[test]
fn differential_hashlimit_name_shared_by_all_sources() {
    use crate::support::routed::Outcome;
    let (c, o): (IpAddr, IpAddr) = (CLIENT_V4.into(), OTHER_V4.into());
    let steps = [(c, 123), (c, 123), (o, 5000), (o, 5000), (c, 123)];
    let file = "ok-hashlimit-shared-all.rules";
    let want = datagram_replay("d-hla", file, &[123, 5000], &steps);
    use Outcome::{Answered as A, Refused as R};
    assert_eq!(
        want,
        [A, A, A, R, R],
        "one bucket for both rules and every source"
    );
}

/// A `-m limit` ACCEPT in a chain two jumps reach (`ok-limit-shared-chain.rules`): one bucket
/// in iptables, which the datagrams of both jumps take from; the import's two entries share a
/// meter. Two to port 53 and one to 5000 use the burst of 3 up; the next of either port is
/// refused, from either client, as through iptables-restore of the file (a bucket per entry
/// would answer all five).
#[cfg_attr(not(statewall_root), ignore = "needs root: creates network namespaces")]
#[test]
fn differential_limit_of_a_chain_two_jumps_reach() {
    use crate::support::routed::Outcome;
    let (c, o): (IpAddr, IpAddr) = (CLIENT_V4.into(), OTHER_V4.into());
    let steps = [(c, 53), (c, 53), (o, 5000), (o, 5000), (c, 53)];
    let file = "ok-limit-shared-chain.rules";
    let want = datagram_replay("d-lsc", file, &[53, 5000], &steps);
    use Outcome::{Answered as A, Refused as R};
    assert_eq!(want, [A, A, A, R, R], "one bucket for both jumps");
}

/// `--hashlimit-srcmask 24` (`ok-limit-networks.rules`): the two clients, one /24, take from
/// one bucket of 3. Two datagrams from one and one from the other use it up; the next of
/// either is refused, as through iptables-restore of the file (a bucket per address would
/// answer the other client's second).
#[cfg_attr(not(statewall_root), ignore = "needs root: creates network namespaces")]
#[test]
fn differential_limit_per_ipv4_network() {
    use crate::support::routed::Outcome;
    let (c, o): (IpAddr, IpAddr) = (CLIENT_V4.into(), OTHER_V4.into());
    let steps = [(c, 53), (c, 53), (o, 53), (o, 53), (c, 53)];
    let want = datagram_replay("d-lnw", "ok-limit-networks.rules", &[53], &steps);
    use Outcome::{Answered as A, Refused as R};
    assert_eq!(want, [A, A, A, R, R], "one bucket for the /24");
}

/// A guard chain whose RETURN and REJECT say the same matches, jumped to for every packet
/// (`ok-guard-chain-same-matches.rules`, a Synology DOS_PROTECT's form): four datagrams to 53
/// get three answers and a refusal, while 5000, which the chain does not guard, is answered
/// after them, as through iptables-restore of the file.
#[cfg_attr(not(statewall_root), ignore = "needs root: creates network namespaces")]
#[test]
fn differential_guard_chain_of_the_same_matches() {
    use crate::support::routed::Outcome;
    let c: IpAddr = CLIENT_V4.into();
    let steps = [(c, 53), (c, 53), (c, 53), (c, 53), (c, 5000), (c, 5000)];
    let file = "ok-guard-chain-same-matches.rules";
    let want = datagram_replay("d-gcs", file, &[53, 5000], &steps);
    use Outcome::{Answered as A, Refused as R};
    assert_eq!(want, [A, A, A, R, A, A], "only 53 is guarded");
}

/// A `-m limit` ACCEPT after a RETURN of a source and a link-layer type
/// (`ok-limit-shared-return.rules`): one bucket in iptables; the import's two entries (every
/// other source; that source, not broadcast) share a meter. Two datagrams from one client and
/// one from the other use the burst of 3 up; the next of either is refused, as through
/// iptables-restore of the file (a bucket per entry would answer all five).
#[cfg_attr(not(statewall_root), ignore = "needs root: creates network namespaces")]
#[test]
fn differential_limit_after_a_return_of_two_things() {
    use crate::support::routed::Outcome;
    let (c, o): (IpAddr, IpAddr) = (CLIENT_V4.into(), OTHER_V4.into());
    let steps = [(c, 53), (c, 53), (o, 53), (o, 53), (c, 53)];
    let file = "ok-limit-shared-return.rules";
    let want = datagram_replay("d-lsr", file, &[53], &steps);
    use Outcome::{Answered as A, Refused as R};
    assert_eq!(
        want,
        [A, A, A, R, R],
        "one bucket for both ways around the RETURN"
    );
}

/// A `-m limit` ACCEPT of two networks in a chain two jumps reach
/// (`ok-limit-shared-networks.rules`): iptables-restore makes a rule, and a bucket, of each
/// network, which both jumps take from. Three datagrams from one client to ports 53 and 5000
/// use its burst of 3 up and its fourth is refused, while the other client's get in, as
/// through iptables-restore of the file (a bucket per entry would answer the fourth; one
/// bucket for both networks would refuse the other client's).
#[cfg_attr(not(statewall_root), ignore = "needs root: creates network namespaces")]
#[test]
fn differential_limit_of_each_network_of_a_list() {
    use crate::support::routed::Outcome;
    let (c, o): (IpAddr, IpAddr) = (CLIENT_V4.into(), OTHER_V4.into());
    let steps = [(c, 53), (c, 5000), (c, 53), (c, 5000), (o, 5000), (o, 53)];
    let file = "ok-limit-shared-networks.rules";
    let want = datagram_replay("d-lsn", file, &[53, 5000], &steps);
    use Outcome::{Answered as A, Refused as R};
    assert_eq!(
        want,
        [A, A, A, R, A, A],
        "a bucket per network, both jumps in it"
    );
}

/// Five datagrams of one flow (one source port: the first NEW, the rest ESTABLISHED once the
/// first was echoed) to port 53 of a pair loaded with `file` by iptables-restore and of a
/// pair loaded with its import (`tag` the pairs' prefix): the two must answer alike; what
/// iptables' answered.
fn flow_replay(tag: &str, file: &str) -> Vec<crate::support::routed::Outcome> {
    use crate::support::routed::{Outcome, Responder, udp};
    let (oracle, ours) = (
        Pair::new(&format!("{tag}-ipt")),
        Pair::new(&format!("{tag}-sw")),
    );
    let _echo = [&oracle, &ours].map(|p| Responder::start(&p.fw, &[], &[53]));
    load_both((&oracle, &ours), (file, None));
    let run = |pair: &Pair| -> Vec<Outcome> {
        let (src, dst) = (
            SocketAddr::new(CLIENT_V4.into(), 40053),
            SocketAddr::new(FW_V4.into(), 53),
        );
        (0..5)
            .map(|_| udp(&pair.client, src, dst, PROBE_TIMEOUT))
            .collect()
    };
    let (want, got) = (run(&oracle), run(&ours));
    assert_eq!(want, got, "{file}: iptables', then statewall's");
    want
}

/// A hashlimit ACCEPT in a chain without an ESTABLISHED,RELATED accept
/// (`ok-limit-stateless-chain.rules`): it counts every datagram, a flow's later ones too.
/// Five datagrams of one flow: three echoed, two refused, as through iptables-restore of the
/// file (a limit of NEW connections only would refuse the four after the first).
#[cfg_attr(not(statewall_root), ignore = "needs root: creates network namespaces")]
#[test]
fn differential_limit_in_a_chain_without_an_established_accept() {
    use crate::support::routed::Outcome::{Answered as A, Refused as R};
    let want = flow_replay("d-lsl", "ok-limit-stateless-chain.rules");
    assert_eq!(want, [A, A, A, R, R], "one flow's datagrams all counted");
}

/// A `-m recent` DNS throttle in a chain without an established accept: every datagram
/// stamps the list, a flow's later ones too. Mapped onto the ACCEPT after it
/// (`ok-recent-every-packet.rules`, whose allow then says every tracked state) and as a guard
/// in its place (`ok-recent-every-packet-guard.rules`, corpus 32's form). Five datagrams of
/// one flow: three echoed, two refused, as through iptables-restore (a limit of NEW
/// connections only would echo all five: there is one connection).
#[cfg_attr(not(statewall_root), ignore = "needs root: creates network namespaces")]
#[test]
fn differential_recent_in_a_chain_without_an_established_accept() {
    use crate::support::routed::Outcome::{Answered as A, Refused as R};
    for (tag, file) in [
        ("d-rsl", "ok-recent-every-packet.rules"),
        ("d-rsg", "ok-recent-every-packet-guard.rules"),
    ] {
        let want = flow_replay(tag, file);
        assert_eq!(
            want,
            [A, A, A, R, R],
            "{file}: one flow's datagrams all counted"
        );
    }
}

/// A limited RST accept and the DROP after it in a chain without an established accept
/// (`ok-limit-rst-invalid.rules`, corpus 110's form): the allow names the states it takes, so
/// RSTs conntrack calls invalid (four of no connection here) go on past it, and the DROP stays
/// a block of its own that takes them all, where merging it into the limit left them to the
/// final accept. (iptables' ACCEPT takes the first two within its rate: statewall's allows
/// never take invalid packets, as the import's note says.)
#[cfg_attr(not(statewall_root), ignore = "needs root: creates network namespaces")]
#[test]
fn invalid_packets_past_a_limited_allow_meet_the_rule_after_it() {
    use crate::support::{packets_of, send_tcp_flags, status_json};
    let pair = Pair::new("i-rst");
    let file = data_dir().join("ok-limit-rst-invalid.rules");
    statewall(
        &pair.fw,
        ["apply", "--force", "--mirror-ipv6", file.to_str().unwrap()],
    )
    .assert_ok();
    send_tcp_flags(
        &pair.client,
        CLIENT_V4,
        SocketAddr::new(FW_V4.into(), 22),
        0x04,
        4,
    );
    std::thread::sleep(std::time::Duration::from_millis(200));
    let st = status_json(&pair.fw);
    assert_eq!(
        packets_of(&st, "tcp-flags"),
        4,
        "the block took the invalid RSTs: {st}"
    );
    assert_eq!(
        packets_of(&st, "tcp-flags-2"),
        0,
        "the allow took none: {st}"
    );
}

/// DROPs of ESTABLISHED packets alone in chains without an established accept
/// (`ok-block-established-only.rules`, the sixteenth probe's file 03): blocks that keep their
/// state. A connection to 8080 completes its handshake and gets no data back, one to 8081 is
/// echoed, as through iptables-restore of the file.
#[cfg_attr(not(statewall_root), ignore = "needs root: creates network namespaces")]
#[test]
fn differential_block_of_established_packets_alone() {
    use crate::support::routed::{Outcome, Responder, tcp};
    let (oracle, ours) = (Pair::new("d-beo-ipt"), Pair::new("d-beo-sw"));
    let _echo = [&oracle, &ours].map(|p| Responder::start(&p.fw, &[8080, 8081], &[]));
    load_both((&oracle, &ours), ("ok-block-established-only.rules", None));
    let run = |pair: &Pair| -> Vec<Outcome> {
        [8080, 8081]
            .map(|port| {
                let dst = SocketAddr::new(FW_V4.into(), port);
                tcp(
                    &pair.client,
                    SocketAddr::new(CLIENT_V4.into(), 0),
                    dst,
                    PROBE_TIMEOUT,
                )
            })
            .to_vec()
    };
    let (want, got) = (run(&oracle), run(&ours));
    assert_eq!(want, got, "iptables', then statewall's");
    assert_eq!(want, [Outcome::ConnectedNoData, Outcome::Answered]);
}

/// A port-scan trap whose `--set` no packet reaches (`ok-trap-never-filled.rules`, corpus
/// 471's form): the checks of the empty lists never match, so port 22 stays open after
/// probes of closed ports, as through iptables-restore of the file.
#[cfg_attr(not(statewall_root), ignore = "needs root: creates network namespaces")]
#[test]
fn differential_trap_never_filled() {
    differential("d-tnf", "ok-trap-never-filled.rules", None, &[80, 8080, 22]);
}

/// A built-in chain declared again with the policy `-`, and connection states in mixed case
/// (`ok-policy-dash-state-case.rules`, probe 15's files 23 and 06): the DROP policy stays, and
/// the same verdicts as iptables-restore of the file, probe for probe.
#[cfg_attr(not(statewall_root), ignore = "needs root: creates network namespaces")]
#[test]
fn differential_policy_dash_and_states_in_mixed_case() {
    differential(
        "d-pdc",
        "ok-policy-dash-state-case.rules",
        None,
        &[22, 80, 8080],
    );
}

/// Spellings iptables reads but never writes: capital protocol names, ICMP and reject types
/// in any case and cut short (`ok-iptables-spellings.rules`): the same verdicts as
/// iptables-restore of the file, probe for probe (a reset for 113, host-prohibited for 137,
/// port-unreachable for 80).
#[cfg_attr(not(statewall_root), ignore = "needs root: creates network namespaces")]
#[test]
fn differential_iptables_spellings() {
    differential(
        "d-isp",
        "ok-iptables-spellings.rules",
        None,
        &[22, 80, 113, 8080],
    );
}

/// An IPv4 file's `-p ipv6-icmp` accept under --mirror-ipv6 (`ok-ipv6-icmp-mirrored.rules`):
/// the same verdicts as iptables-restore of the file and ip6tables-restore of its mirror.
#[cfg_attr(not(statewall_root), ignore = "needs root: creates network namespaces")]
#[test]
fn differential_ipv6_icmp_in_an_ipv4_file_mirrored() {
    differential("d-i6m", "ok-ipv6-icmp-mirrored.rules", None, &[22, 80]);
}

/// firewalld's zones reached by `-g` (`ok-goto-zones.rules`): what a zone does not decide
/// goes back to INPUT after the jump to INPUT_ZONES (port 8080 accepted there), never to the
/// rules after the goto (no other zone): the same verdicts as iptables-restore, probe for
/// probe (the work zone's source gets 80 and 8080, not 22; the client 22, ICMP and 8080).
#[cfg_attr(not(statewall_root), ignore = "needs root: creates network namespaces")]
#[test]
fn differential_goto_zones() {
    differential("d-goto", "ok-goto-zones.rules", None, &[22, 80, 8080, 9000]);
}

/// An interface alias label and `localhost` (`ok-alias-localhost.rules`): the same verdicts
/// as iptables-restore of the file, probe for probe.
#[cfg_attr(not(statewall_root), ignore = "needs root: creates network namespaces")]
#[test]
fn differential_alias_labels_and_localhost() {
    differential("d-al", "ok-alias-localhost.rules", None, &[22, 53, 80]);
}

/// One `-m recent` list filled for two ports (`ok-recent-shared-list.rules`, corpus 67's
/// form): a source's connections to either port count together. Two to 22 and two to 2222
/// from one client, then one from the other: the client's third gets in and its fourth is
/// dropped, the other client's gets in, as through iptables-restore of the file (a limit per
/// allow would let the client's fourth in).
#[cfg_attr(not(statewall_root), ignore = "needs root: creates network namespaces")]
#[test]
fn differential_recent_list_filled_for_two_ports() {
    let (c, o): (IpAddr, IpAddr) = (CLIENT_V4.into(), OTHER_V4.into());
    let steps = [(c, 22), (c, 22), (c, 2222), (c, 2222), (o, 2222)];
    let (want, _) = replay("d-rsl", "ok-recent-shared-list.rules", &[22, 2222], &steps);
    use Verdict::{Connected as C, TimedOut as T};
    assert_eq!(want, [C, C, C, T, C], "{want:?}");
}

/// The ssh brute-force pair before an interface's ACCEPT and the ACCEPT policy
/// (`ok-recent-accept-policy.rules`): the check itself is the allow. The same connections,
/// one after another, to iptables-restore of the file and to statewall's import: the same
/// answers (each source's third is dropped).
#[cfg_attr(not(statewall_root), ignore = "needs root: creates network namespaces")]
#[test]
fn differential_recent_pair_before_the_accept_policy() {
    let (c, o): (IpAddr, IpAddr) = (CLIENT_V4.into(), OTHER_V4.into());
    let steps = [(c, 8080), (c, 8080), (o, 8080), (c, 8080), (o, 8080)];
    let (want, _) = replay("d-rap", "ok-recent-accept-policy.rules", &[8080], &steps);
    use Verdict::{Connected as C, TimedOut as T};
    assert_eq!(want, [C, C, C, T, C], "{want:?}");
}

/// The ssh brute-force pair after its interface's ESTABLISHED,RELATED accept
/// (`ok-recent-iif-established.rules`): the pair counts NEW connections. The same
/// connections, one after another, to iptables-restore of the file and to statewall's
/// import: the same answers (each source's fourth is dropped).
#[cfg_attr(not(statewall_root), ignore = "needs root: creates network namespaces")]
#[test]
fn differential_recent_pair_after_its_interfaces_established_accept() {
    let (c, o): (IpAddr, IpAddr) = (CLIENT_V4.into(), OTHER_V4.into());
    let steps = [
        (c, 8080),
        (c, 8080),
        (c, 8080),
        (o, 8080),
        (c, 8080),
        (o, 8080),
    ];
    let (want, _) = replay("d-rie", "ok-recent-iif-established.rules", &[8080], &steps);
    use Verdict::{Connected as C, TimedOut as T};
    assert_eq!(want, [C, C, C, C, T, C], "{want:?}");
}

/// RETURNs whose condition the jumps imply (`ok-return-implied.rules`): the rules after a
/// RETURN that returns every packet there are never reached (port 80 and ping get in). The
/// same verdicts as iptables-restore of the file, probe for probe.
#[cfg_attr(not(statewall_root), ignore = "needs root: creates network namespaces")]
#[test]
fn differential_returns_the_jumps_imply() {
    differential("d-ri", "ok-return-implied.rules", None, &[22, 80, 8080]);
}

/// An `-m iprange` range of two networks with one `-m limit` bucket
/// (`ok-iprange-limit-one-bucket.rules`, the twenty-sixth probe's F6): a client in each
/// network, alternating, share the burst of 2, as through iptables-restore of the file (a
/// bucket per network let all four in).
#[cfg_attr(not(statewall_root), ignore = "needs root: creates network namespaces")]
#[test]
fn differential_iprange_networks_share_one_limit_bucket() {
    let (c, o): (IpAddr, IpAddr) = (CLIENT_V4.into(), OTHER_V4.into());
    let steps = [(c, 8080), (o, 8080), (c, 8080), (o, 8080)];
    let (want, _) = replay(
        "d-irl",
        "ok-iprange-limit-one-bucket.rules",
        &[8080],
        &steps,
    );
    use Verdict::{Connected as C, TimedOut as T};
    assert_eq!(want, [C, C, T, T], "{want:?}");
}

/// A hashlimit whose table forgets an idle source before its bucket refills
/// (`ok-hashlimit-expire.rules`, the twenty-sixth probe's F1): a burst of four (the fourth
/// dropped), a pause longer than `--hashlimit-htable-expire`, and another burst of three all
/// let in, as through iptables-restore of the file (a bucket that only refilled, at 1/min,
/// would have dropped them).
#[cfg_attr(not(statewall_root), ignore = "needs root: creates network namespaces")]
#[test]
fn differential_hashlimit_forgets_an_idle_source() {
    let c: IpAddr = CLIENT_V4.into();
    let mut steps = vec![Step::Connect(c, 8080); 4];
    steps.push(Step::Wait(std::time::Duration::from_secs(5)));
    steps.extend([Step::Connect(c, 8080); 3]);
    let (want, _) = replay_steps("d-hle", "ok-hashlimit-expire.rules", &[8080], &steps);
    use Verdict::{Connected as C, TimedOut as T};
    assert_eq!(want, [C, C, C, T, C, C, C], "{want:?}");
}

/// A file whose chains nest `levels` deep below INPUT (INPUT → c1 → … → c<levels>), the
/// last one accepting a source; and the line of the jump into c<levels>.
fn nested_chains(levels: usize) -> (String, usize) {
    let mut lines = vec![
        "*filter".to_string(),
        ":INPUT DROP [0:0]".into(),
        ":FORWARD ACCEPT [0:0]".into(),
        ":OUTPUT ACCEPT [0:0]".into(),
    ];
    lines.extend((1..=levels).map(|i| format!(":c{i} - [0:0]")));
    lines.push("-A INPUT -p tcp -j c1".into());
    lines.extend((1..levels).map(|i| format!("-A c{i} -j c{}", i + 1)));
    let last_jump = lines.len();
    lines.push(format!("-A c{levels} -s 10.0.0.1/32 -j ACCEPT"));
    lines.push("COMMIT".into());
    (lines.join("\n") + "\n", last_jump)
}

/// nf_tables runs chains at most 15 deep below a built-in one. The importer walks exactly
/// what iptables-restore (nf_tables) loads: 15 levels import; at 16 both refuse the same
/// line (the walk once stopped silently there, leaving the deeper rules out).
#[cfg_attr(not(statewall_root), ignore = "needs root: creates network namespaces")]
#[test]
fn chains_nest_as_deep_as_iptables_restore_loads_them() {
    let ns = Netns::new("imp-depth");
    for levels in [15, 16] {
        let (text, line) = nested_chains(levels);
        let file =
            std::env::temp_dir().join(format!("statewall-depth-{}-{levels}.rules", ns.name()));
        fs::write(&file, &text).unwrap();
        let path = file.to_str().unwrap();
        let theirs = ns.exec(["iptables-nft-restore", path]);
        let ours = statewall(&ns, ["import", "--mirror-ipv6", path]);
        let _ = fs::remove_file(&file);
        if levels == 15 {
            theirs.assert_ok();
            ours.assert_ok();
            assert!(ours.stdout.contains("from = [\"10.0.0.1\"]"), "{ours}");
        } else {
            assert!(
                !theirs.success()
                    && theirs
                        .stderr
                        .contains(&format!("line {line}: RULE_APPEND failed (Too many links)")),
                "{theirs}"
            );
            ours.assert_code(1);
            assert!(
                ours.stderr
                    .contains("a jump to chain c16, 16 chains below INPUT")
                    && ours.stderr.contains(&format!("{path}:{line}:")),
                "{ours}"
            );
        }
    }
}

/// iptables-restore refuses a rule whose matches or target libxtables (or the kernel) finds
/// wrong: a mandatory option missing, an option twice in one module, two that exclude each
/// other, a `!` an option does not take, `-o` in INPUT, a log level or a rate it cannot
/// read. The importer refuses the same rules, at their line, and loads the forms next to
/// them that iptables-restore loads (`tests/data/import/xtables-checks.txt`); it used to
/// give `-m state` without `--state` (and the rest) a meaning. Likewise `--state DNAT` and
/// a chain used on a line before the one that makes it (`restore-refuses.txt`, whose
/// `refuse6:`/`load6:` cases are rules of an ip6tables file, given with `--ipv6`).
#[cfg_attr(not(statewall_root), ignore = "needs root: creates network namespaces")]
#[test]
fn the_importer_refuses_what_iptables_restore_refuses() {
    let ns = Netns::new("imp-xtcheck");
    let mut cases = fs::read_to_string(data_dir().join("xtables-checks.txt")).unwrap();
    cases += &fs::read_to_string(data_dir().join("restore-refuses.txt")).unwrap();
    let mut checked = 0;
    for line in cases
        .lines()
        .filter(|l| !l.starts_with('#') && !l.is_empty())
    {
        let (want, rule) = line
            .split_once(": ")
            .expect("`refuse: RULE` or `load: RULE`");
        // `refuse6`/`load6`: a rule of an ip6tables file (`--ipv6`, beside an IPv4 file of
        // the same frame without it)
        let (want, v6) = match want.strip_suffix('6') {
            Some(w) => (w, true),
            None => (want, false),
        };
        let rule = rule.replace("\\n", "\n").replace("\\r", "\r");
        // the rule on line 7; a rule of the user chain is reached from INPUT
        let frame = |rule: &str| {
            format!(
                "*filter\n:INPUT DROP [0:0]\n:FORWARD DROP [0:0]\n:OUTPUT ACCEPT [0:0]\n:USR - [0:0]\n\
                 -A INPUT -m state --state RELATED,ESTABLISHED -j ACCEPT\n{rule}\n-A INPUT -j USR\nCOMMIT\n"
            )
        };
        let file = std::env::temp_dir().join(format!("statewall-{}-{checked}.rules", ns.name()));
        let v4 = std::env::temp_dir().join(format!("statewall-{}-{checked}-v4.rules", ns.name()));
        fs::write(&file, frame(&rule)).unwrap();
        fs::write(&v4, frame("-A INPUT -p tcp --dport 22 -j ACCEPT")).unwrap();
        let path = file.to_str().unwrap();
        let (theirs, ours) = if v6 {
            let ours = statewall(&ns, ["import", v4.to_str().unwrap(), "--ipv6", path]);
            (ns.exec(["ip6tables-nft-restore", path]), ours)
        } else {
            let ours = statewall(&ns, ["import", "--mirror-ipv6", path]);
            (ns.exec(["iptables-nft-restore", path]), ours)
        };
        let _ = fs::remove_file(&file);
        let _ = fs::remove_file(&v4);
        match want {
            "refuse" => {
                assert!(!theirs.success(), "iptables-restore loads {rule}");
                ours.assert_code(1);
                assert!(
                    // at the case's lines (7 on)
                    (7..=9).any(|l| ours.stderr.contains(&format!("{path}:{l}:")))
                        && ours.stderr.contains("tables-restore refuses it too")
                        // the summary names the file the problem is in
                        && ours.stderr.contains(&format!("{path}: ")),
                    "{rule}: {ours}"
                );
            }
            "load" => {
                theirs.assert_ok();
                ours.assert_ok();
            }
            other => panic!("{other}: refuse or load"),
        }
        checked += 1;
    }
    assert!(checked >= 70, "{checked} cases");
}
