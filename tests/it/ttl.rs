//! The TTL and the hop limit (`ttl`, `except_ttl`: nft's `ip ttl`, `ip6 hoplimit`) in the
//! kernel: nft makes the same objects of statewall's text and reads statewall's own bytes as
//! those matches, readback finds no drift, and real UDP datagrams sent with chosen TTLs (hop
//! limits) over a veth pair get in or are dropped as the policy says, counted by the rule
//! that decided; and an iptables file with `-m ttl` (its ip6tables partner with `-m hl`)
//! imported decides those datagrams as iptables-nft-restore of the same files does.

use std::collections::BTreeSet;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr, UdpSocket};
use std::os::fd::AsRawFd;
use std::time::{Duration, Instant};

use crate::support::{
    FW_V4, FW_V6, Netns, Pair, TempPolicy, packets_of, repo_path, statewall, status_json,
};

const POLICY: &str = "tests/data/policy/ok-ttl.toml";
const PORT: u16 = 5700;
/// How long datagrams get to arrive.
const SETTLE: Duration = Duration::from_millis(600);
/// The TTLs (hop limits) the datagrams are sent with: fw is on the link, so they arrive so.
const TTLS: [u8; 7] = [1, 4, 5, 63, 64, 65, 255];

/// Sends, from `ns`, one UDP datagram to `to` per TTL (hop limit) in `ttls`, its payload the
/// TTL.
fn send(ns: &Netns, to: SocketAddr, ttls: &[u8]) {
    ns.run(|| {
        let any: IpAddr = if to.is_ipv6() {
            Ipv6Addr::UNSPECIFIED.into()
        } else {
            Ipv4Addr::UNSPECIFIED.into()
        };
        let s = UdpSocket::bind((any, 0)).expect("udp bind");
        for &ttl in ttls {
            if to.is_ipv6() {
                let hops = libc::c_int::from(ttl);
                // SAFETY: setsockopt with a valid int on a socket owned here.
                let rc = unsafe {
                    libc::setsockopt(
                        s.as_raw_fd(),
                        libc::IPPROTO_IPV6,
                        libc::IPV6_UNICAST_HOPS,
                        (&raw const hops).cast(),
                        std::mem::size_of::<libc::c_int>() as libc::socklen_t,
                    )
                };
                assert_eq!(
                    rc,
                    0,
                    "IPV6_UNICAST_HOPS: {}",
                    std::io::Error::last_os_error()
                );
            } else {
                s.set_ttl(u32::from(ttl)).expect("IP_TTL");
            }
            s.send_to(ttl.to_string().as_bytes(), to).expect("send");
        }
    });
}

/// The TTLs of the datagrams that arrived at `sock` within [`SETTLE`].
fn received(sock: &UdpSocket) -> BTreeSet<u8> {
    let mut got = BTreeSet::new();
    let end = Instant::now() + SETTLE;
    let mut buf = [0u8; 16];
    while Instant::now() < end {
        while let Ok(n) = sock.recv(&mut buf) {
            got.insert(String::from_utf8_lossy(&buf[..n]).parse().unwrap());
        }
    }
    got
}

fn listen(ns: &Netns) -> UdpSocket {
    ns.run(|| {
        let s = UdpSocket::bind((Ipv6Addr::UNSPECIFIED, PORT)).expect("udp bind");
        s.set_read_timeout(Some(Duration::from_millis(50))).unwrap();
        s
    })
}

fn targets() -> [SocketAddr; 2] {
    [
        SocketAddr::from((FW_V4, PORT)),
        SocketAddr::from((FW_V6, PORT)),
    ]
}

#[cfg_attr(not(statewall_root), ignore = "needs root: creates network namespaces")]
#[test]
fn ttls_mean_the_same_to_nft_and_read_back_without_drift() {
    let path = repo_path(POLICY);
    let path = path.to_str().unwrap();
    let (_ns, list) = crate::kernel::applied_and_listed("ttl-drift", path);
    let lines = |comment: &str| list.of(comment);
    assert_eq!(
        lines("expiring"),
        [
            "ip ttl < 2 udp dport 33434 counter packets 0 bytes 0 drop comment \"expiring\"",
            "ip6 hoplimit < 2 udp dport 33434 counter packets 0 bytes 0 drop comment \"expiring\"",
        ]
    );
    assert_eq!(lines("nd-off-link").len(), 4, "IPv6 only:\n{list}");
    assert!(
        lines("nd-off-link")[0].starts_with("ip6 hoplimit < 255 icmpv6 type nd-router-solicit "),
        "{list}"
    );
    assert!(
        lines("odd")[0]
            .starts_with("ip ttl 64 ip ttl > 2 ip ttl != 7 ip ttl < 250 udp dport 5000 "),
        "{list}"
    );
    assert!(
        lines("lan-ssh")[1].starts_with("ip6 saddr 2001:db8::/64 ip6 hoplimit > 60 tcp dport 22 "),
        "{list}"
    );
}

/// Real datagrams with TTLs (hop limits) 1 to 255: a block of those below 5, a block of all
/// but 64 and an allow of 60-64 alone let in what they must, IPv4 and IPv6, and the rule
/// named "b" counts what it decided.
#[cfg_attr(not(statewall_root), ignore = "needs root: creates network namespaces")]
#[test]
fn datagrams_are_told_apart_by_their_ttl() {
    let pair = Pair::new("ttl-dgrams");
    let sock = listen(&pair.fw);
    let app = format!("[[allow]]\nname = \"app\"\nudp = [{PORT}]\n");
    // (policy, what arrives, what "b" counts)
    let cases: [(String, &[u8], u64); 3] = [
        (
            format!("[[block]]\nname = \"b\"\nudp = [{PORT}]\nttl = \"<5\"\n\n{app}"),
            &[5, 63, 64, 65, 255],
            2,
        ),
        (
            format!("[[block]]\nname = \"b\"\nudp = [{PORT}]\nexcept_ttl = 64\n\n{app}"),
            &[64],
            6,
        ),
        (
            format!("[[allow]]\nname = \"b\"\nudp = [{PORT}]\nttl = \"60-64\"\n"),
            &[63, 64],
            2,
        ),
    ];
    for (text, want, counted) in cases {
        let policy = TempPolicy::new("ttl-dgrams", &text);
        statewall(&pair.fw, ["apply", &policy.path()]).assert_ok();
        for to in targets() {
            let before = status_json(&pair.fw);
            send(&pair.client, to, &TTLS);
            let want: BTreeSet<u8> = want.iter().copied().collect();
            assert_eq!(received(&sock), want, "{text} to {to}");
            let st = status_json(&pair.fw);
            assert_eq!(st["drift"], false, "{text}: {st}");
            let delta = packets_of(&st, "b") - packets_of(&before, "b");
            assert_eq!(delta, counted, "{text} to {to}: {st}");
        }
    }
}

/// `tests/data/import/ok-ttl.rules` (`-m ttl`) and its `.rules6` (`-m hl`): loaded with
/// iptables-nft-restore in one pair and imported by statewall in another, the same
/// datagrams of every TTL arrive in both, IPv4 and IPv6.
#[cfg_attr(not(statewall_root), ignore = "needs root: creates network namespaces")]
#[test]
fn an_imported_ttl_file_decides_datagrams_as_iptables_does() {
    let file = repo_path("tests/data/import/ok-ttl.rules");
    let file6 = repo_path("tests/data/import/ok-ttl.rules6");
    let (file, file6) = (file.to_str().unwrap(), file6.to_str().unwrap());
    let theirs = Pair::new("ttl-ipt");
    theirs.fw.exec(["iptables-nft-restore", file]).assert_ok();
    theirs.fw.exec(["ip6tables-nft-restore", file6]).assert_ok();
    let ours = Pair::new("ttl-sw");
    statewall(&ours.fw, ["apply", "--force", "--ipv6", file6, file]).assert_ok();
    let socks = [listen(&theirs.fw), listen(&ours.fw)];
    for to in targets() {
        let mut got = Vec::new();
        for (pair, sock) in [&theirs, &ours].into_iter().zip(&socks) {
            send(&pair.client, to, &TTLS);
            got.push(received(sock));
        }
        assert_eq!(got[0], got[1], "iptables, then statewall, to {to}");
        // the files drop some and let some in: the comparison says something
        assert!(!got[0].is_empty() && got[0].len() < TTLS.len(), "{got:?}");
    }
}
