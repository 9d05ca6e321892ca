//! Rates written before their rule's ports (`-p tcp -m limit … -m tcp --dport 8080`): iptables
//! runs a rule's matches in order, so the rate takes a token for every packet of the protocol
//! that reaches it, and statewall's import says `counts = "protocol"`, its meter right after
//! `meta l4proto`. The kernel is the judge: connections and datagrams to other ports spend
//! the bucket first, and then the limited port is refused in statewall's namespace exactly
//! where iptables-restore of the same file refuses it (a meter that counted the entry's own
//! packets would let it in), counted by statewall's rules.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::time::Duration;

use crate::support::{
    FW_V4, PROBE_TIMEOUT, Pair, Probe, counted, fw_v4, listen_tcp, probe_tcp, status_json,
    udp_listen,
};

const RULES: &str = "ok-rate-counts-protocol.rules";
/// A second source of the client, with a bucket of its own in the per-source meter.
const OTHER_V4: Ipv4Addr = Ipv4Addr::new(192, 0, 2, 12);
const OTHER_V6: Ipv6Addr = Ipv6Addr::new(0x2001, 0xdb8, 0, 0, 0, 0, 0, 12);

/// One datagram from `src` to port `port` of the firewall; whether it arrived at `sock`.
fn datagram(pair: &Pair, src: Ipv4Addr, port: u16, sock: &std::net::UdpSocket) -> bool {
    pair.client.run(|| {
        let s = std::net::UdpSocket::bind((src, 0)).expect("udp bind");
        s.send_to(b"rate", SocketAddr::new(IpAddr::from(FW_V4), port))
            .expect("send");
    });
    let mut buf = [0u8; 16];
    let deadline = std::time::Instant::now() + Duration::from_millis(500);
    while std::time::Instant::now() < deadline {
        if let Ok((n, _)) = sock.recv_from(&mut buf) {
            return &buf[..n] == b"rate";
        }
    }
    false
}

/// What the client meets in one namespace: TCP to 9090 twice (refused by the file's REJECT,
/// each after taking a token of the 8080 allow's burst of 3), then 8080 twice; UDP to 5353
/// from the second source (its own bucket), then from the client's source to 9999 twice
/// (refused, each taking a token of its burst of 2), then to 5353.
fn meet(pair: &Pair) -> (Vec<Probe>, Vec<bool>) {
    let _l = listen_tcp(&pair.fw, &[8080]);
    let tcp = [9090, 9090, 8080, 8080]
        .iter()
        .map(|&p| probe_tcp(&pair.client, fw_v4(p), PROBE_TIMEOUT))
        .collect();
    let sock = udp_listen(&pair.fw, 5353);
    let client = crate::support::CLIENT_V4;
    let udp = [
        (OTHER_V4, 5353),
        (client, 9999),
        (client, 9999),
        (client, 5353),
    ]
    .iter()
    .map(|&(src, port)| datagram(pair, src, port, &sock))
    .collect();
    (tcp, udp)
}

#[cfg_attr(not(statewall_root), ignore = "needs root: creates network namespaces")]
#[test]
fn a_rate_before_the_port_counts_the_protocol_as_iptables_does() {
    let oracle = Pair::new("rate-ipt");
    let ours = Pair::new("rate-sw");
    for p in [&oracle, &ours] {
        p.add_client_address(OTHER_V4, OTHER_V6);
    }
    crate::import::load_both((&oracle, &ours), (RULES, None));
    let theirs = meet(&oracle);
    let got = meet(&ours);
    assert_eq!(got, theirs, "statewall's, then iptables'");
    // the bucket of 3 is spent by the two refused connections and the first to 8080
    let refused = Probe::Refused;
    assert_eq!(
        got.0,
        [refused.clone(), refused.clone(), Probe::Connected, refused],
        "{got:?}"
    );
    assert_eq!(got.1, [true, false, false, false], "{got:?}");
    let st = status_json(&ours.fw);
    assert_eq!(counted(&st, "tcp-8080", "accept"), 1, "{st}");
    assert_eq!(counted(&st, "tcp-8080", "reject"), 1, "{st}");
    assert_eq!(counted(&st, "tcp-8080-9090", "reject"), 2, "{st}");
    assert_eq!(counted(&st, "udp-5353", "accept"), 1, "{st}");
    assert_eq!(counted(&st, "udp-5353", "reject"), 1, "{st}");
    assert_eq!(st["drift"], false, "{st}");
}

/// The policy of every form of `counts = "protocol"` (a port set, ICMP and ICMPv6 types,
/// TCP flags, an entry without a protocol): nft makes the same objects of statewall's text,
/// and statewall reads its own bytes back without drift.
#[cfg_attr(not(statewall_root), ignore = "needs root: creates network namespaces")]
#[test]
fn meters_that_count_the_protocol_mean_the_same_to_nft_and_read_back_without_drift() {
    let path = crate::support::repo_path("tests/data/policy/ok-limit-counts.toml");
    let path = path.to_str().unwrap();
    let (_ns, list) = crate::kernel::applied_and_listed("rate-drift", path);
    for entry in ["dns", "ping", "syn", "web"] {
        assert!(
            list.of(entry)
                .iter()
                .any(|l| l.starts_with("meta l4proto") && l.contains("} ")),
            "{entry}: {list}"
        );
    }
}
