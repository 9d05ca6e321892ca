//! Extension headers in the kernel (`rt_type`: nft's `rt type 0`; `tcp_option`: `tcp option
//! 64 exists`; `tcp_mss`: `tcp option maxseg size 536-65535`): nft makes the same objects of statewall's text and reads statewall's own bytes
//! as those matches, readback finds no drift, and real crafted packets between namespaces —
//! IPv6 datagrams with a type 0 routing header (segments left 0, so the receiver delivers
//! them), with a routing header of another type, and without one; TCP SYNs carrying option
//! kind 64 or 128, and one carrying only an MSS — are dropped or let through as the policy
//! says, counted by the rule that decided.

use std::collections::BTreeSet;
use std::net::{Ipv6Addr, UdpSocket};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::time::{Duration, Instant};

use crate::support::{
    CLIENT_V4, CLIENT_V6, FW_V4, FW_V6, Netns, Pair, TempPolicy, inet_checksum, listen_tcp, names,
    packets_of, payloads_within, raw4, raw4_send, repo_path, statewall, status_json,
};

const POLICY: &str = "tests/data/policy/ok-exthdr.toml";
const PORT: u16 = 5400;
/// How long packets get to arrive.
const SETTLE: Duration = Duration::from_millis(600);

/// An IPv6 packet from the client to fw's `PORT`: a UDP datagram whose payload is `name`,
/// behind a routing header of type `rt` (segments left 0, one address) when given.
fn ipv6_datagram(rt: Option<u8>, sport: u16, name: &str) -> Vec<u8> {
    let mut udp = Vec::new();
    let len = (8 + name.len()) as u16;
    udp.extend_from_slice(&sport.to_be_bytes());
    udp.extend_from_slice(&PORT.to_be_bytes());
    udp.extend_from_slice(&len.to_be_bytes());
    udp.extend_from_slice(&[0, 0]);
    udp.extend_from_slice(name.as_bytes());
    // the pseudo-header of the final destination (segments left 0: fw itself)
    let pseudo_len = u32::from(len).to_be_bytes();
    let sum = inet_checksum(&[
        &CLIENT_V6.octets(),
        &FW_V6.octets(),
        &pseudo_len,
        &[0, 0, 0, 17],
        &udp,
    ]);
    udp[6..8].copy_from_slice(&sum.to_be_bytes());
    let mut ext = Vec::new();
    if let Some(ty) = rt {
        // next header UDP, length 2 (24 bytes), type, segments left 0, reserved, an address
        ext.extend_from_slice(&[17, 2, ty, 0, 0, 0, 0, 0]);
        ext.extend_from_slice(&FW_V6.octets());
    }
    let mut p = vec![0x60, 0, 0, 0];
    p.extend_from_slice(&((ext.len() + udp.len()) as u16).to_be_bytes());
    p.push(if rt.is_some() { 43 } else { 17 });
    p.push(64);
    p.extend_from_slice(&CLIENT_V6.octets());
    p.extend_from_slice(&FW_V6.octets());
    p.extend_from_slice(&ext);
    p.extend_from_slice(&udp);
    p
}

/// Sends whole IPv6 packets from the client (`IPPROTO_RAW`: the header is ours).
fn send_ipv6(client: &Netns, packets: &[Vec<u8>]) {
    client.run(|| {
        // SAFETY: plain socket calls on a descriptor owned here, with valid buffers.
        unsafe {
            let fd = libc::socket(libc::AF_INET6, libc::SOCK_RAW, libc::IPPROTO_RAW);
            assert!(fd >= 0, "raw socket: {}", std::io::Error::last_os_error());
            let fd = OwnedFd::from_raw_fd(fd);
            let mut to: libc::sockaddr_in6 = std::mem::zeroed();
            to.sin6_family = libc::AF_INET6 as libc::sa_family_t;
            to.sin6_addr.s6_addr = FW_V6.octets();
            let len = std::mem::size_of::<libc::sockaddr_in6>() as libc::socklen_t;
            for p in packets {
                let sent = libc::sendto(
                    fd.as_raw_fd(),
                    p.as_ptr().cast(),
                    p.len(),
                    0,
                    (&raw const to).cast(),
                    len,
                );
                assert_eq!(
                    sent,
                    p.len() as isize,
                    "sendto: {}",
                    std::io::Error::last_os_error()
                );
            }
        }
    });
}

#[cfg_attr(not(statewall_root), ignore = "needs root: creates network namespaces")]
#[test]
fn extension_headers_mean_the_same_to_nft_and_read_back_without_drift() {
    let path = repo_path(POLICY);
    let path = path.to_str().unwrap();
    // nft reads statewall's own bytes as the matches they stand for
    let (_ns, list) = crate::kernel::applied_and_listed("xh-drift", path);
    let lines = |comment: &str| list.of(comment);
    assert_eq!(
        lines("rh0"),
        ["rt type 0 counter packets 0 bytes 0 drop comment \"rh0\""]
    );
    assert_eq!(lines("rh-not-mobile").len(), 1, "IPv6 only:\n{list}");
    assert!(
        lines("rh-not-mobile")[0].starts_with("ip6 saddr 2001:db8::/32 rt type != 2 rt type != 4 "),
        "{list}"
    );
    assert_eq!(
        lines("odd-options"),
        [
            "tcp option 64 exists counter packets 0 bytes 0 drop comment \"odd-options\"",
            "tcp option 128 exists counter packets 0 bytes 0 drop comment \"odd-options\"",
        ]
    );
    assert!(
        lines("ssh")[0].starts_with("tcp dport 22 tcp option timestamp missing ct state new"),
        "{list}"
    );
    assert!(
        lines("web-mss")[0].contains("rt type 3 tcp dport @tcp_web-mss tcp option maxseg exists"),
        "{list}"
    );
    assert!(
        lines("fwd-rh0")[0].starts_with("rt type 0 udp dport 53"),
        "{list}"
    );
    // an MSS exception is two rules: without the option, and with one outside the range
    assert_eq!(
        lines("small-mss"),
        [
            "tcp option maxseg missing ct state new counter packets 0 bytes 0 drop comment \"small-mss\"",
            "tcp option maxseg size != 536-65535 ct state new counter packets 0 bytes 0 drop comment \"small-mss\"",
        ]
    );
    assert_eq!(lines("mss-range").len(), 2, "{list}");
    assert!(
        lines("mss-range")[0].starts_with(
            "tcp dport 8080 tcp option maxseg size 1400-1410 tcp option maxseg size != 1405 "
        ),
        "{list}"
    );
}

/// Real IPv6 datagrams: a type 0 routing header is dropped by the block and counted there;
/// a routing header of another type and none at all reach the listener through the allow.
/// Without the block all three arrive: what is missing was dropped by the firewall.
#[cfg_attr(not(statewall_root), ignore = "needs root: creates network namespaces")]
#[test]
fn a_type_0_routing_header_is_dropped_and_other_ipv6_passes() {
    let pair = Pair::new("xh-rt");
    let sock = pair.fw.run(|| {
        let s = UdpSocket::bind((Ipv6Addr::UNSPECIFIED, PORT)).expect("udp bind");
        s.set_read_timeout(Some(Duration::from_millis(50))).unwrap();
        s
    });
    let app = format!("[[allow]]\nname = \"app\"\nudp = [{PORT}]\n");
    let cases = [
        (app.clone(), names(&["rh0", "rh253", "plain"]), 0),
        (
            format!("[[block]]\nname = \"rh0\"\nrt_type = 0\n\n{app}"),
            names(&["rh253", "plain"]),
            1,
        ),
        (
            format!("[[block]]\nname = \"rh0\"\nexcept_rt_type = [0]\n\n{app}"),
            names(&["rh0", "plain"]),
            1,
        ),
    ];
    for (i, (text, want, blocked)) in cases.into_iter().enumerate() {
        let policy = TempPolicy::new("xh-rt", &text);
        statewall(&pair.fw, ["apply", &policy.path()]).assert_ok();
        // counters carry over an apply by rule identity: count what this case adds
        let before = status_json(&pair.fw);
        // a source port of their own per case and packet: each a NEW conntrack entry
        let base = 41000 + 10 * i as u16;
        send_ipv6(
            &pair.client,
            &[
                ipv6_datagram(Some(0), base, "rh0"),
                ipv6_datagram(Some(253), base + 1, "rh253"),
                ipv6_datagram(None, base + 2, "plain"),
            ],
        );
        assert_eq!(payloads_within(&sock, SETTLE), want, "{text}");
        let st = status_json(&pair.fw);
        assert_eq!(st["drift"], false, "{text}: {st}");
        let delta = |name: &str| packets_of(&st, name) - packets_of(&before, name);
        assert_eq!(delta("app"), want.len() as u64, "{text}: {st}");
        assert_eq!(delta("rh0"), blocked, "{text}: {st}");
    }
}

/// A TCP SYN from the client to fw's `PORT` with source port `sport` and these options.
fn syn(sport: u16, options: &[u8]) -> Vec<u8> {
    assert_eq!(options.len() % 4, 0);
    let mut seg = vec![0u8; 20];
    seg[0..2].copy_from_slice(&sport.to_be_bytes());
    seg[2..4].copy_from_slice(&PORT.to_be_bytes());
    seg[4..8].copy_from_slice(&0x1234_5678u32.to_be_bytes());
    seg[12] = ((5 + options.len() / 4) as u8) << 4;
    seg[13] = 0x02; // SYN
    seg[14..16].copy_from_slice(&64_240u16.to_be_bytes());
    seg.extend_from_slice(options);
    let len = (seg.len() as u16).to_be_bytes();
    let sum = inet_checksum(&[&CLIENT_V4.octets(), &FW_V4.octets(), &[0, 6], &len, &seg]);
    seg[16..18].copy_from_slice(&sum.to_be_bytes());
    seg
}

/// Sends `segments` from the client and returns the source ports fw answered with a
/// SYN-ACK within [`SETTLE`] (a raw TCP socket sees every segment that arrives).
fn syn_acks(client: &Netns, segments: &[Vec<u8>]) -> BTreeSet<u16> {
    client.run(|| {
        let mut got = BTreeSet::new();
        let fd = raw4(
            libc::IPPROTO_TCP,
            CLIENT_V4,
            Some(Duration::from_millis(50)),
        );
        for s in segments {
            raw4_send(&fd, s, FW_V4, 1);
        }
        // SAFETY: recv into a buffer of the length given, on a descriptor `fd` owns.
        unsafe {
            let end = Instant::now() + SETTLE;
            let mut buf = [0u8; 1500];
            while Instant::now() < end {
                let n = libc::recv(fd.as_raw_fd(), buf.as_mut_ptr().cast(), buf.len(), 0);
                let Ok(n) = usize::try_from(n) else { continue };
                let ihl = usize::from(buf[0] & 0x0f) * 4;
                let Some(tcp) = buf[..n].get(ihl..ihl + 20) else {
                    continue;
                };
                let from = u16::from_be_bytes([tcp[0], tcp[1]]);
                let to_port = u16::from_be_bytes([tcp[2], tcp[3]]);
                if buf[12..16] == FW_V4.octets() && from == PORT && tcp[13] & 0x12 == 0x12 {
                    got.insert(to_port);
                }
            }
        }
        got
    })
}

/// Real TCP SYNs: those carrying option kind 64 or 128 are dropped by the block and counted
/// there, one carrying only an MSS is answered; a block of SYNs without an MSS
/// (`except_tcp_option`, the classic scan filter) drops the other two. Without a block every
/// SYN is answered: what is missing was dropped by the firewall.
#[cfg_attr(not(statewall_root), ignore = "needs root: creates network namespaces")]
#[test]
fn syns_with_odd_options_are_dropped_and_a_plain_one_is_answered() {
    let pair = Pair::new("xh-tcp");
    let _listening = listen_tcp(&pair.fw, &[PORT]);
    let app = format!("[[allow]]\nname = \"app\"\ntcp = [{PORT}]\n");
    // (policy, which of the three SYNs are answered, what the block drops)
    let cases: [(String, &[usize], u64); 3] = [
        (app.clone(), &[0, 1, 2], 0),
        (
            format!("[[block]]\nname = \"odd\"\ntcp_option = [64, 128]\n\n{app}"),
            &[1],
            2,
        ),
        (
            format!(
                "[[block]]\nname = \"odd\"\nexcept_tcp_option = [\"mss\"]\ntcp_flags = [\"syn/syn,ack\"]\n\n{app}"
            ),
            &[1],
            2,
        ),
    ];
    for (i, (text, answered, blocked)) in cases.into_iter().enumerate() {
        let policy = TempPolicy::new("xh-tcp", &text);
        statewall(&pair.fw, ["apply", &policy.path()]).assert_ok();
        let before = status_json(&pair.fw);
        let base = 42000 + 10 * i as u16;
        let segments = [
            syn(base, &[64, 4, 0, 0]),
            syn(base + 1, &[2, 4, 0x05, 0xb4]),
            syn(base + 2, &[1, 1, 128, 2]),
        ];
        let want: BTreeSet<u16> = answered.iter().map(|&k| base + k as u16).collect();
        assert_eq!(syn_acks(&pair.client, &segments), want, "{text}");
        let st = status_json(&pair.fw);
        assert_eq!(st["drift"], false, "{text}: {st}");
        let delta = |name: &str| packets_of(&st, name) - packets_of(&before, name);
        assert_eq!(delta("app"), want.len() as u64, "{text}: {st}");
        assert_eq!(delta("odd"), blocked, "{text}: {st}");
    }
}

/// SYNs by their MSS: 100, 535, 536, 1405, 1460 and none (the last with a timestamp only).
fn mss_syns(base: u16) -> [Vec<u8>; 6] {
    let mss = |v: u16| {
        let [a, b] = v.to_be_bytes();
        [2, 4, a, b]
    };
    [
        syn(base, &mss(100)),
        syn(base + 1, &mss(535)),
        syn(base + 2, &mss(536)),
        syn(base + 3, &mss(1405)),
        syn(base + 4, &mss(1460)),
        syn(base + 5, &[1, 1, 8, 10, 0, 0, 0, 1, 0, 0, 0, 0]),
    ]
}

/// Real TCP SYNs by their MSS: a block of `except_tcp_mss = "536-65535"` (iptables' `!
/// --mss 536:65535`) drops those below 536 and the one without the option; one of
/// `tcp_mss` ranges drops those in them only, never the one without the option. Each is
/// counted by the rule that decided, and readback finds no drift.
#[cfg_attr(not(statewall_root), ignore = "needs root: creates network namespaces")]
#[test]
fn syns_are_dropped_by_their_mss_or_its_absence() {
    let pair = Pair::new("xh-mss");
    let _listening = listen_tcp(&pair.fw, &[PORT]);
    let app = format!("[[allow]]\nname = \"app\"\ntcp = [{PORT}]\n");
    // (the block's keys, which of the six SYNs are answered)
    let cases: [(&str, &[usize]); 3] = [
        ("except_tcp_mss = \"536-65535\"", &[2, 3, 4]),
        ("tcp_mss = [\"0-535\", 1460]", &[2, 3, 5]),
        ("except_tcp_mss = [\"0-100\", \"1400:65535\"]", &[0, 3, 4]),
    ];
    for (i, (keys, answered)) in cases.into_iter().enumerate() {
        // NEW only: the client's resets of the SYN-ACKs carry no MSS either
        let text = format!("[[block]]\nname = \"mss\"\n{keys}\nstate = \"new\"\n\n{app}");
        let policy = TempPolicy::new("xh-mss", &text);
        statewall(&pair.fw, ["apply", &policy.path()]).assert_ok();
        let before = status_json(&pair.fw);
        let base = 43000 + 10 * i as u16;
        let want: BTreeSet<u16> = answered.iter().map(|&k| base + k as u16).collect();
        assert_eq!(syn_acks(&pair.client, &mss_syns(base)), want, "{text}");
        let st = status_json(&pair.fw);
        assert_eq!(st["drift"], false, "{text}: {st}");
        let delta = |name: &str| packets_of(&st, name) - packets_of(&before, name);
        assert_eq!(delta("app"), want.len() as u64, "{text}: {st}");
        assert_eq!(delta("mss"), 6 - want.len() as u64, "{text}: {st}");
    }
}

/// The import of `-m tcpmss` (`ok-tcpmss-match.rules`: `! --mss 536:65535 -j DROP` for
/// NEW connections, `--mss 1400:1410 -j REJECT --reject-with tcp-reset`) against
/// iptables-restore of the same file, each in its own pair: the same SYNs are answered.
#[cfg_attr(not(statewall_root), ignore = "needs root: creates network namespaces")]
#[test]
fn imported_mss_matches_answer_the_syns_iptables_answers() {
    let file = repo_path("tests/data/import/ok-tcpmss-match.rules");
    let file = file.to_str().unwrap();
    let answered = |tag: &str, load: &dyn Fn(&Pair)| {
        let pair = Pair::new(tag);
        let _listening = listen_tcp(&pair.fw, &[PORT]);
        load(&pair);
        syn_acks(&pair.client, &mss_syns(44000))
    };
    let theirs = answered("xh-mss-ipt", &|p| {
        p.fw.exec(["iptables-restore", file]).assert_ok();
    });
    let ours = answered("xh-mss-sw", &|p| {
        statewall(&p.fw, ["apply", "--force", "--mirror-ipv6", file]).assert_ok();
    });
    // 536 and 1460 (1405 is reset, the others dropped)
    assert_eq!(theirs, BTreeSet::from([44002, 44004]), "iptables");
    assert_eq!(ours, theirs, "statewall's answers, iptables'");
}
