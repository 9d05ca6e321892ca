//! IPv6 neighbour discovery across an import, with cold neighbour caches.
//!
//! Conntrack never calls a neighbour solicitation or advertisement (nor MLD, router
//! discovery) NEW: it leaves them untracked. Whether an ip6tables file lets them in depends on
//! the states its accepts name: `-i eth0 -j ACCEPT` takes them, `--ctstate NEW` does not. The
//! corpus harness cannot see this: its sanity probes fill both neighbour caches before any rule
//! is loaded. Here each pair `tests/data/import/ok-nd-*.rules` (+ `.rules6`) is loaded by
//! iptables-restore/ip6tables-restore in one namespace pair and by statewall (`--ipv6`) in
//! another; both neighbour caches are flushed before each probe (a TCP connection to port 22,
//! which every file accepts, then a ping), so that each needs neighbour discovery through the
//! rules. The oracle's answers are stated too: a setup in which nothing passes would
//! otherwise agree with anything.

use std::net::SocketAddr;

use crate::import::load_both;
use crate::support::{
    CLIENT_IF, FW_V6, Listeners, PROBE_TIMEOUT, Pair, Probe, listen_tcp, ping, probe_tcp,
};

/// Each pair, and whether neighbour discovery passes its INPUT (then the connection and the
/// ping get through; else neither does).
const CASES: [(&str, bool); 7] = [
    ("ok-nd-trusted-iface", true),
    ("ok-nd-trusted-net", true),
    ("ok-nd-icmpv6-new", false),
    ("ok-nd-iface-new", false),
    ("ok-nd-iface-untracked", true),
    ("ok-nd-by-type", true),
    ("ok-nd-limited-icmpv6", true),
];

/// (connected to port 22, ping answered), each from cold caches.
fn looks(pair: &Pair) -> (bool, bool) {
    pair.forget_neighbours();
    let tcp = probe_tcp(
        &pair.client,
        SocketAddr::new(FW_V6.into(), 22),
        PROBE_TIMEOUT,
    );
    pair.forget_neighbours();
    (tcp == Probe::Connected, ping(&pair.client, FW_V6))
}

#[cfg_attr(not(statewall_root), ignore = "needs root: creates network namespaces")]
#[test]
fn import_neighbour_discovery_passes_as_with_ip6tables_from_cold_caches() {
    let mut wrong = Vec::new();
    for (i, (name, nd)) in CASES.into_iter().enumerate() {
        let oracle = Pair::new(&format!("nd{i}-ipt"));
        let ours = Pair::new(&format!("nd{i}-sw"));
        let _l1 = listen_tcp(&oracle.fw, &[22]);
        let _l2 = listen_tcp(&ours.fw, &[22]);
        let (rules, rules6) = (format!("{name}.rules"), format!("{name}.rules6"));
        load_both((&oracle, &ours), (&rules, Some(&rules6)));
        let (theirs, mine) = (looks(&oracle), looks(&ours));
        if theirs != (nd, nd) || mine != theirs {
            wrong.push(format!(
                "{name}: ip6tables (tcp 22, ping) {theirs:?}, expected {:?}; statewall {mine:?}",
                (nd, nd)
            ));
        }
    }
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));
}

/// One UDP datagram from the client to the all-nodes multicast address on its link, port
/// `port`.
fn multicast_datagram(pair: &Pair, port: u16) {
    let link = pair
        .client
        .exec(["ip", "-o", "link", "show", "dev", CLIENT_IF]);
    let index: u32 = link
        .stdout
        .split(':')
        .next()
        .and_then(|n| n.trim().parse().ok())
        .unwrap_or_else(|| panic!("no index in {link}"));
    pair.client.run(|| {
        let s = std::net::UdpSocket::bind("[::]:0").expect("udp bind");
        let all_nodes = std::net::SocketAddrV6::new("ff02::1".parse().unwrap(), port, 0, index);
        s.send_to(b"statewall", all_nodes).expect("send");
    });
}

/// `--mirror-ipv6` promises IPv6 its ICMPv6 baseline before anything the file says: a
/// multicast drop the file puts before its accepts is split, so that the neighbour
/// solicitations to solicited-node multicast addresses get in, as with the harness's oracle
/// (ip6tables-restore of the mirrored file, the ICMPv6 accepts first), while the IPv6 half
/// still drops other multicast.
#[cfg_attr(not(statewall_root), ignore = "needs root: creates network namespaces")]
#[test]
fn mirror_keeps_neighbour_discovery_before_a_multicast_drop_from_cold_caches() {
    let (oracle, ours, _listening) = mirror_pair("ok-mirror-multicast-block.rules", "ndm");
    let (theirs, mine) = (looks(&oracle), looks(&ours));
    assert_eq!(
        theirs,
        (true, true),
        "ip6tables (tcp 22, ping) from cold caches"
    );
    assert_eq!(mine, theirs, "statewall (tcp 22, ping) from cold caches");
    multicast_datagram(&ours, 5353);
    let st = crate::support::status_json(&ours.fw);
    assert!(
        crate::support::packets_of(&st, "link-multicast-ipv6") >= 1,
        "the IPv6 half drops multicast: {st}"
    );
}

/// The oracle loads `name` and its mechanical IPv6 mirror (the ICMPv6 accepts first), statewall
/// applies it with `--mirror-ipv6`; each fw listens on port 22.
fn mirror_pair(name: &str, tag: &str) -> (Pair, Pair, [Listeners; 2]) {
    let file = crate::support::repo_path(&format!("tests/data/import/{name}"));
    let oracle = Pair::new(&format!("{tag}-ipt"));
    let ours = Pair::new(&format!("{tag}-sw"));
    let listening = [listen_tcp(&oracle.fw, &[22]), listen_tcp(&ours.fw, &[22])];
    let text = std::fs::read_to_string(&file).unwrap();
    let six = crate::support::TempPolicy::new(tag, &crate::support::ruleset::mirror_to_v6(&text));
    for (tool, path) in [
        (
            crate::import::restore_tool(false),
            file.to_str().unwrap().to_string(),
        ),
        (crate::import::restore_tool(true), six.path()),
    ] {
        oracle.fw.exec([tool.as_str(), path.as_str()]).assert_ok();
    }
    crate::support::statewall(
        &ours.fw,
        ["apply", "--force", "--mirror-ipv6", file.to_str().unwrap()],
    )
    .assert_ok();
    (oracle, ours, listening)
}

/// A reject of every packet from the client's interface before the established rule: under
/// `--mirror-ipv6` its IPv6 half keeps its place but leaves the baseline's ICMPv6 types to
/// it, so that from cold caches the neighbour discovery gets through, the connection to port
/// 22 is refused and the ping answered, as with the oracle (ip6tables-restore of the mirrored
/// file, the ICMPv6 accepts first). Before, the whole IPv6 half sat in the reject's place:
/// the neighbour advertisements were rejected, and the client heard nothing.
#[cfg_attr(not(statewall_root), ignore = "needs root: creates network namespaces")]
#[test]
fn mirror_keeps_neighbour_discovery_before_an_interface_reject_from_cold_caches() {
    let (oracle, ours, _listening) = mirror_pair("ok-mirror-iface-reject-first.rules", "ndr");
    let look = |p: &Pair| {
        p.forget_neighbours();
        let tcp = probe_tcp(&p.client, SocketAddr::new(FW_V6.into(), 22), PROBE_TIMEOUT);
        p.forget_neighbours();
        (tcp, ping(&p.client, FW_V6))
    };
    let (theirs, mine) = (look(&oracle), look(&ours));
    assert_eq!(
        theirs,
        (Probe::Refused, true),
        "ip6tables (tcp 22, ping) from cold caches"
    );
    assert_eq!(mine, theirs, "statewall (tcp 22, ping) from cold caches");
    let st = crate::support::status_json(&ours.fw);
    assert!(
        crate::support::packets_of(&st, "iif-veth-fw-ipv6") >= 1,
        "the IPv6 half rejected the connection: {st}"
    );
}
