//! Concurrent connection counts in the kernel (`connections`, nft's `ct count`, iptables'
//! `-m connlimit`): nft reads statewall's own text as statewall's batch, readback finds no
//! drift, and connections kept open from one source fill its count while another source
//! still connects; a closed one makes room again. Everything runs in namespaces the tests
//! create.

use std::net::{IpAddr, SocketAddr, TcpStream};
use std::os::fd::AsRawFd;
use std::time::Duration;

use crate::support::flows::{Echo, connect_from, eventually};
use crate::support::forwarded::{BACKEND, CLIENT, FW_BACK, FW_FRONT, trio};
use crate::support::{
    Netns, PROBE_TIMEOUT, Probe, TempPolicy, counted, payloads_within, rules_named, statewall,
    status_json, udp_listen,
};

const EVERY_SHAPE: &str = "tests/data/policy/ok-connections.toml";

#[cfg_attr(not(statewall_root), ignore = "needs root: creates network namespaces")]
#[test]
fn connection_counts_mean_the_same_to_nft() {
    let path = crate::support::repo_path(EVERY_SHAPE);
    crate::kernel::same_to_nft(path.to_str().unwrap(), &[]);
}

#[cfg_attr(not(statewall_root), ignore = "needs root: creates network namespaces")]
#[test]
fn connection_counts_read_back_without_drift() {
    let ns = Netns::new("c-drift");
    let path = crate::support::repo_path(EVERY_SHAPE);
    let path = path.to_str().unwrap();
    statewall(&ns, ["apply", path]).assert_ok();
    let st = status_json(&ns);
    assert_eq!(st["drift"], false, "{st}");
    // an allow's over-count rule and its own; a block's own rule per family; a reject's
    // one rule for all sources
    for (name, least) in [
        ("ssh", 2),
        ("imap", 2),
        ("web", 2),
        ("game", 2),
        ("vpn", 2),
        ("flood", 2),
        ("busy", 1),
    ] {
        let rules = rules_named(&st, name);
        assert!(rules.len() >= least, "{name}: {st}");
        assert!(
            rules.iter().all(|r| r["not_understood"].is_null()),
            "{name}: {st}"
        );
    }
    // a second apply finds the plan live: nothing to add or remove
    let plan = statewall(&ns, ["plan", path]);
    plan.assert_ok();
    assert!(
        !plan.stdout.contains("\n- ") && !plan.stdout.contains("\n+ "),
        "{plan}"
    );
}

/// A connection from `src` (an address of `ns`) to `dst` that stays open, or how the attempt
/// ended.
fn open(ns: &Netns, src: std::net::Ipv4Addr, dst: SocketAddr) -> Result<TcpStream, Probe> {
    connect_from(ns, IpAddr::V4(src), dst, PROBE_TIMEOUT)
}

fn outcome(r: &Result<TcpStream, Probe>) -> Probe {
    match r {
        Ok(_) => Probe::Connected,
        Err(p) => p.clone(),
    }
}

/// Ends a connection to `ns` with a reset (`SO_LINGER` 0), and waits (bounded) until `ns`'s
/// conntrack has seen the reset: the connection is no longer ESTABLISHED there, so the count
/// (which skips closed connections) no longer holds it.
fn reset(ns: &Netns, stream: TcpStream) {
    let port = stream.local_addr().expect("a bound stream").port();
    let open = format!("sport={port} dport=22 ");
    let established = || {
        let table = ns.run(|| std::fs::read_to_string("/proc/thread-self/net/nf_conntrack"));
        let table = table.expect("the namespace's conntrack table");
        table
            .lines()
            .any(|l| l.contains(&open) && l.contains("ESTABLISHED"))
    };
    // what the wait below watches is there to watch
    assert!(
        established(),
        "connection from port {port} not in conntrack"
    );
    let linger = libc::linger {
        l_onoff: 1,
        l_linger: 0,
    };
    // SAFETY: a setsockopt on a descriptor the stream owns, with a linger struct that
    // outlives the call.
    let r = unsafe {
        libc::setsockopt(
            stream.as_raw_fd(),
            libc::SOL_SOCKET,
            libc::SO_LINGER,
            (&linger as *const libc::linger).cast(),
            std::mem::size_of::<libc::linger>() as libc::socklen_t,
        )
    };
    assert_eq!(r, 0, "SO_LINGER: {}", std::io::Error::last_os_error());
    drop(stream);
    eventually(
        Duration::from_secs(10),
        "conntrack to see the reset",
        || !established(),
    );
}

#[cfg_attr(not(statewall_root), ignore = "needs root: creates network namespaces")]
#[test]
fn a_source_gets_its_count_of_open_connections_and_the_next_is_refused_while_another_connects() {
    let t = trio("c-count");
    let _ssh = Echo::start(&t.fw, 22);
    let _web = Echo::start(&t.fw, 8080);
    let policy = TempPolicy::new(
        "c-count",
        "[[allow]]\nname = \"ssh\"\ntcp = [22]\n\
         connections = { max = 3, over = \"reject\" }\n\
         [[allow]]\nname = \"web\"\ntcp = [8080]\nudp = [8080]\n\
         connections = { max = 2, per = \"entry\", over = \"reject\" }\n",
    );
    statewall(&t.fw, ["apply", &policy.path()]).assert_ok();
    let ssh = SocketAddr::from((FW_FRONT, 22));
    // three open connections from the client: its count is full, and the next two NEW ones
    // are reset by the over rule
    let mut kept: Vec<TcpStream> = (0..3)
        .map(|i| open(&t.client, CLIENT, ssh).unwrap_or_else(|p| panic!("connection {i}: {p}")))
        .collect();
    let over: Vec<Probe> = (0..2)
        .map(|_| outcome(&open(&t.client, CLIENT, ssh)))
        .collect();
    assert_eq!(over, [Probe::Refused, Probe::Refused]);
    // another source has its own count
    let other: Vec<Result<TcpStream, Probe>> = (0..3)
        .map(|_| open(&t.backend, BACKEND, SocketAddr::from((FW_BACK, 22))))
        .collect();
    assert!(
        other.iter().all(|r| r.is_ok()),
        "{:?}",
        other.iter().map(outcome).collect::<Vec<_>>()
    );
    // the over rule counted exactly the refusals, under the entry's name; the accept the
    // six connections let in
    let st = status_json(&t.fw);
    assert_eq!(counted(&st, "ssh", "reject"), 2, "{st}");
    assert_eq!(counted(&st, "ssh", "accept"), 6, "{st}");
    assert_eq!(st["drift"], false, "{st}");
    // the set holds a connection list per source (nft as the oracle)
    let set = t.fw.nft(["list", "set", "inet", "statewall", "conn4_ssh"]);
    set.assert_ok();
    assert!(
        set.stdout.contains(&CLIENT.to_string()) && set.stdout.contains(&BACKEND.to_string()),
        "{set}"
    );
    // one of the client's connections ends: a new one fits again, and then the count is full
    reset(&t.fw, kept.pop().expect("three kept"));
    let again = open(&t.client, CLIENT, ssh);
    assert_eq!(outcome(&again), Probe::Connected);
    assert_eq!(outcome(&open(&t.client, CLIENT, ssh)), Probe::Refused);
    // for the entry as a whole: two open connections from either source fill it, for its
    // udp rule too (one list per family that both rules count in)
    let web_front = SocketAddr::from((FW_FRONT, 8080));
    let sock = udp_listen(&t.fw, 8080);
    let first = open(&t.client, CLIENT, web_front);
    let second = open(&t.backend, BACKEND, SocketAddr::from((FW_BACK, 8080)));
    t.client.run(|| {
        let s = std::net::UdpSocket::bind((CLIENT, 0)).expect("udp bind");
        s.send_to(b"d", web_front).expect("send");
    });
    let datagrams = payloads_within(&sock, Duration::from_millis(500));
    assert!(datagrams.is_empty(), "{datagrams:?}");
    let third = open(&t.client, CLIENT, web_front);
    assert_eq!(
        [outcome(&first), outcome(&second), outcome(&third)],
        [Probe::Connected, Probe::Connected, Probe::Refused]
    );
    let st = status_json(&t.fw);
    assert_eq!(counted(&st, "ssh", "reject"), 3, "{st}");
    assert_eq!(counted(&st, "web", "reject"), 2, "{st}");
    assert_eq!(counted(&st, "web", "accept"), 2, "{st}");
    assert_eq!(st["drift"], false, "{st}");
    drop((kept, other, again, first, second));
}

/// A block with `connections = { max = 2, within = "continue" }` before an allow of the
/// client alone: the client's third open connection is reset by the block, counted there;
/// the backend's first is within the count, goes on past the block, and meets the final
/// drop (the block lets it go on, it does not accept it).
#[cfg_attr(not(statewall_root), ignore = "needs root: creates network namespaces")]
#[test]
fn a_block_takes_the_connections_beyond_its_count_and_the_rest_go_on() {
    let t = trio("c-beyond");
    let _ssh = Echo::start(&t.fw, 22);
    let policy = TempPolicy::new(
        "c-beyond",
        &format!(
            "[[block]]\nname = \"crowd\"\ntcp = [22]\nafter = \"baseline\"\nwith = \"tcp-reset\"\n\
             connections = {{ max = 2, within = \"continue\" }}\n\
             [[allow]]\nname = \"ssh\"\ntcp = [22]\nfrom = [\"{CLIENT}/32\"]\n"
        ),
    );
    statewall(&t.fw, ["apply", &policy.path()]).assert_ok();
    let ssh = SocketAddr::from((FW_FRONT, 22));
    let kept: Vec<TcpStream> = (0..2)
        .map(|i| open(&t.client, CLIENT, ssh).unwrap_or_else(|p| panic!("connection {i}: {p}")))
        .collect();
    assert_eq!(outcome(&open(&t.client, CLIENT, ssh)), Probe::Refused);
    let from_backend = open(&t.backend, BACKEND, SocketAddr::from((FW_BACK, 22)));
    assert_eq!(outcome(&from_backend), Probe::TimedOut);
    let st = status_json(&t.fw);
    assert_eq!(counted(&st, "crowd", "reject"), 1, "{st}");
    assert_eq!(counted(&st, "ssh", "accept"), 2, "{st}");
    assert_eq!(st["drift"], false, "{st}");
    drop(kept);
}
