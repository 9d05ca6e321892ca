//! Every protocol but some (`except_protocol`: nft's `meta l4proto != tcp`) in the kernel:
//! nft makes the same objects of statewall's text and reads statewall's bytes as that
//! match, readback finds no drift; an output block of every protocol but TCP drops the UDP
//! datagrams, the pings and passes the TCP connections that iptables' `! -p tcp` DROP of
//! the same does, counted by statewall's rule; and the imported `ok-not-protocol.rules`
//! (`! -p`, and `-p tcp -j RETURN` turned around) and `ok-port-return.rules` (RETURNs of a
//! protocol and its ports) behave as iptables-restore of them.

use std::net::{Ipv4Addr, Ipv6Addr, SocketAddr, UdpSocket};
use std::time::Duration;

use crate::support::{
    Netns, Probe, TempPolicy, listen_tcp, packets_of, payloads_within, ping, probe_tcp, repo_path,
    restore_one_rule, statewall, status_json, udp_listen,
};

const POLICY: &str = "tests/data/policy/ok-except-protocol.toml";
const UDP_PORT: u16 = 5300;
const TCP_PORT: u16 = 5301;
/// Datagrams sent per family.
const SENT: usize = 3;

#[cfg_attr(not(statewall_root), ignore = "needs root: creates network namespaces")]
#[test]
fn except_protocol_means_the_same_to_nft_and_reads_back_without_drift() {
    let path = repo_path(POLICY);
    let (_ns, list) = crate::kernel::applied_and_listed("proto-drift", path.to_str().unwrap());
    assert_eq!(
        list.of("partner-only-tcp-udp"),
        [
            "ip saddr 203.0.113.0/24 meta l4proto != tcp meta l4proto != udp counter packets 0 bytes 0 drop comment \"partner-only-tcp-udp\""
        ]
    );
    assert!(
        list.of("mgmt-not-tcp")[0].contains("ip daddr 10.9.0.0/16 meta l4proto != tcp"),
        "{list}"
    );
}

/// What passes an output hook over loopback in `ns`: UDP datagrams (by payload), a ping
/// of each family, a TCP connection of each family.
fn passes(ns: &Netns) -> (std::collections::BTreeSet<String>, Vec<bool>, Vec<Probe>) {
    let sock = udp_listen(ns, UDP_PORT);
    ns.run(|| {
        for to in [
            SocketAddr::from((Ipv4Addr::LOCALHOST, UDP_PORT)),
            SocketAddr::from((Ipv6Addr::LOCALHOST, UDP_PORT)),
        ] {
            let s = UdpSocket::bind(SocketAddr::new(to.ip(), 0)).expect("udp bind");
            for i in 0..SENT {
                // a datagram the output hook drops fails to send: that is an outcome
                let _ = s.send_to(format!("{}-{i}", to.ip()).as_bytes(), to);
            }
        }
    });
    let udp = payloads_within(&sock, Duration::from_millis(500));
    let pings = vec![ping(ns, Ipv4Addr::LOCALHOST), ping(ns, Ipv6Addr::LOCALHOST)];
    let _l = listen_tcp(ns, &[TCP_PORT]);
    let tcp = [
        SocketAddr::from((Ipv4Addr::LOCALHOST, TCP_PORT)),
        SocketAddr::from((Ipv6Addr::LOCALHOST, TCP_PORT)),
    ]
    .into_iter()
    .map(|a| probe_tcp(ns, a, Duration::from_millis(500)))
    .collect();
    (udp, pings, tcp)
}

/// An output block of every protocol but TCP, and iptables' (ip6tables') `! -p tcp` DROP in
/// another namespace: the same datagrams, pings and connections pass; statewall's block
/// counts the datagrams and the pings' echo requests.
#[cfg_attr(not(statewall_root), ignore = "needs root: creates network namespaces")]
#[test]
fn every_protocol_but_tcp_is_dropped_as_iptables_not_p_tcp_drops_it() {
    let ours = Netns::new("proto-sw");
    let theirs = Netns::new("proto-ipt");
    let policy = TempPolicy::new(
        "proto",
        "[output]\nfinal = \"accept\"\n\n[[output.block]]\nname = \"b\"\nexcept_protocol = [\"tcp\"]\n",
    );
    statewall(&ours, ["apply", &policy.path()]).assert_ok();
    restore_one_rule(&theirs, "-A OUTPUT ! -p tcp -j DROP");
    let (mine, oracle) = (passes(&ours), passes(&theirs));
    assert_eq!(mine, oracle, "statewall's, then iptables'");
    assert!(mine.0.is_empty() && mine.1 == [false, false], "{mine:?}");
    assert_eq!(mine.2, [Probe::Connected, Probe::Connected], "TCP passes");
    let st = status_json(&ours);
    // each family's datagrams and the echo request of its ping (which ping may resend)
    assert!(packets_of(&st, "b") >= 2 * SENT as u64 + 2, "{st}");
}

/// `ok-not-protocol.rules` and `ok-port-return.rules` (RETURNs of a protocol and its ports)
/// imported and applied, and loaded by iptables-restore, through the import corpus'
/// harness (INPUT and FORWARD, TCP, UDP, ICMP; IPv6 by the mirrored file).
#[cfg_attr(not(statewall_root), ignore = "needs root: creates network namespaces")]
#[test]
fn imported_protocol_exceptions_behave_as_iptables_restore_of_them() {
    let files = ["ok-not-protocol.rules", "ok-port-return.rules"]
        .map(|f| repo_path(&format!("tests/data/import/{f}")));
    let bad = crate::corpus::not_identical(&files);
    assert!(bad.is_empty(), "{bad:?}");
}
