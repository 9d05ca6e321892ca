//! Source MAC addresses (`mac`, `except_mac`: nft's `ether saddr` after `meta iiftype ether`)
//! in the kernel: nft makes the same objects of statewall's text and reads statewall's own
//! bytes as `ether saddr`, readback finds no drift, and real datagrams from two peers on veth
//! pairs of their own, each with a MAC address set here, get in or are dropped as the policy
//! says, counted by the rule that decided; a datagram over loopback (no ethernet frame)
//! matches neither `mac` nor `except_mac`, as xt_mac matches only on ethernet devices.

use std::net::{Ipv4Addr, SocketAddr, UdpSocket};
use std::time::{Duration, Instant};

use crate::support::{
    CLIENT_IF, FW_V4, Netns, Pair, TempPolicy, names, packets_of, payloads_within, repo_path,
    statewall, status_json,
};

const POLICY: &str = "tests/data/policy/ok-mac.toml";
const PORT: u16 = 5500;
/// How long datagrams get to arrive.
const SETTLE: Duration = Duration::from_millis(600);
/// The two peers' MAC addresses.
const MAC_A: &str = "02:00:00:00:00:0a";
const MAC_B: &str = "02:00:00:00:00:0b";
/// The second peer's link: fw 198.51.100.1/24 on `veth-fw2`, the peer .2 on `veth-b`.
const FW2_V4: Ipv4Addr = Ipv4Addr::new(198, 51, 100, 1);
const B_V4: Ipv4Addr = Ipv4Addr::new(198, 51, 100, 2);

/// fw with two peers: the pair's client (192.0.2.2, MAC A) and a second namespace on a veth
/// pair of its own (198.51.100.2, MAC B).
struct Peers {
    pair: Pair,
    b: Netns,
}

fn peers(tag: &str) -> Peers {
    let pair = Pair::new(tag);
    pair.client
        .exec(["ip", "link", "set", CLIENT_IF, "address", MAC_A])
        .assert_ok();
    let b = Netns::new(&format!("{tag}-b"));
    pair.fw
        .exec([
            "ip",
            "link",
            "add",
            "veth-fw2",
            "type",
            "veth",
            "peer",
            "name",
            "veth-b",
            "netns",
            b.name(),
        ])
        .assert_ok();
    b.exec(["ip", "link", "set", "veth-b", "address", MAC_B])
        .assert_ok();
    for (ns, dev, addr) in [(&pair.fw, "veth-fw2", FW2_V4), (&b, "veth-b", B_V4)] {
        ns.exec(["ip", "addr", "add", &format!("{addr}/24"), "dev", dev])
            .assert_ok();
        ns.exec(["ip", "link", "set", dev, "up"]).assert_ok();
    }
    let deadline = Instant::now() + Duration::from_secs(10);
    while !b
        .exec(["ip", "-o", "link", "show", "dev", "veth-b"])
        .stdout
        .contains("LOWER_UP")
    {
        assert!(Instant::now() < deadline, "veth-b never came up");
        std::thread::sleep(Duration::from_millis(20));
    }
    Peers { pair, b }
}

/// Sends one datagram with payload `name` from `ns` to `to`.
fn send(ns: &Netns, to: SocketAddr, name: &str) {
    ns.run(|| {
        let s = UdpSocket::bind((Ipv4Addr::UNSPECIFIED, 0)).expect("udp bind");
        s.send_to(name.as_bytes(), to).expect("send");
    });
}

#[cfg_attr(not(statewall_root), ignore = "needs root: creates network namespaces")]
#[test]
fn source_macs_mean_the_same_to_nft_and_read_back_without_drift() {
    let path = repo_path(POLICY);
    let path = path.to_str().unwrap();
    // nft reads statewall's own bytes as the matches they stand for (it hides the
    // `meta iiftype ether` it puts before each address itself)
    let (ns, list) = crate::kernel::applied_and_listed("mac-drift", path);
    let lines = |comment: &str| list.of(comment);
    assert_eq!(
        lines("spoofer"),
        ["ether saddr 02:00:00:00:00:66 counter packets 0 bytes 0 drop comment \"spoofer\""]
    );
    assert_eq!(
        lines("ssh-laptop"),
        [
            "ether saddr 02:00:00:00:00:01 tcp dport 22 ct state new counter packets 0 bytes 0 accept comment \"ssh-laptop\"",
            "ether saddr aa:bb:cc:dd:ee:ff tcp dport 22 ct state new counter packets 0 bytes 0 accept comment \"ssh-laptop\"",
        ]
    );
    assert!(
        lines("lan-unknown")[0].starts_with(
            "iifname \"eth1\" ether saddr != 02:00:00:00:00:01 ether saddr != 02:00:00:00:00:02 "
        ),
        "{list}"
    );
    assert_eq!(lines("dhcp").len(), 4, "{list}");
    let debug = crate::kernel::input_in_netlink_terms(&ns);
    assert!(
        debug.stdout.contains("[ meta load iiftype => reg 1 ]")
            && debug
                .stdout
                .contains("[ payload load 6b @ link header + 6 => reg 1 ]"),
        "{debug}"
    );
}

/// Real datagrams from two peers with their own MAC addresses: an allow of one address lets
/// only that peer in; a block of every address but one drops the other peer; a block of
/// one address drops that peer. A datagram fw sends itself over loopback carries no ethernet
/// header: neither kind of block takes it. Counters say which rule decided.
#[cfg_attr(not(statewall_root), ignore = "needs root: creates network namespaces")]
#[test]
fn datagrams_from_two_peers_are_told_apart_by_their_source_mac() {
    let p = peers("mac-two");
    let sock = p.pair.fw.run(|| {
        let s = UdpSocket::bind((Ipv4Addr::UNSPECIFIED, PORT)).expect("udp bind");
        s.set_read_timeout(Some(Duration::from_millis(50))).unwrap();
        s
    });
    let app = format!("[[allow]]\nname = \"app\"\nudp = [{PORT}]\n");
    // (policy, what arrives, what the block named "b" drops)
    let cases = [
        (app.clone(), names(&["a", "b", "lo"]), 0),
        (
            format!("[[allow]]\nname = \"app\"\nudp = [{PORT}]\nmac = \"{MAC_A}\"\n"),
            names(&["a", "lo"]),
            0,
        ),
        (
            format!("[[block]]\nname = \"b\"\nudp = [{PORT}]\nexcept_mac = \"{MAC_A}\"\n\n{app}"),
            names(&["a", "lo"]),
            1,
        ),
        (
            format!(
                "[[block]]\nname = \"b\"\nudp = [{PORT}]\nmac = [\"{}\"]\n\n{app}",
                MAC_B.to_uppercase()
            ),
            names(&["a", "lo"]),
            1,
        ),
    ];
    for (text, want, blocked) in cases {
        let policy = TempPolicy::new("mac-two", &text);
        statewall(&p.pair.fw, ["apply", &policy.path()]).assert_ok();
        let before = status_json(&p.pair.fw);
        send(&p.pair.client, SocketAddr::from((FW_V4, PORT)), "a");
        send(&p.b, SocketAddr::from((FW2_V4, PORT)), "b");
        send(
            &p.pair.fw,
            SocketAddr::from((Ipv4Addr::LOCALHOST, PORT)),
            "lo",
        );
        assert_eq!(payloads_within(&sock, SETTLE), want, "{text}");
        let st = status_json(&p.pair.fw);
        assert_eq!(st["drift"], false, "{text}: {st}");
        let delta = |name: &str| packets_of(&st, name) - packets_of(&before, name);
        // the loopback datagram is the baseline's
        assert_eq!(delta("app"), want.len() as u64 - 1, "{text}: {st}");
        assert_eq!(delta("b"), blocked, "{text}: {st}");
    }
}
