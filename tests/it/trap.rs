//! Live sets fed from the packet path, judged by the kernel: the Arch wiki's port-scan trap
//! (`-m recent --set` on what no service took, `--update --seconds S` before the services).
//! A source that tries a closed port is refused there and from then on everywhere, while
//! another source still connects; each refused try renews its entry; it gets in again once
//! the entry runs out; a changed apply keeps what the packet path added, with what is left
//! of its lifetime. Everything runs in namespaces the tests create.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::thread::sleep;
use std::time::Duration;

use crate::support::flows::probe_from;
use crate::support::{
    CLIENT_V4, CLIENT_V6, FW_V4, FW_V6, Netns, PROBE_TIMEOUT, Pair, Probe, TempPolicy,
    fed_set_is_dynamic, listen_tcp, packets_of, set_members, statewall, status_json,
};

/// A second address of the client namespace: "another source".
const OTHER_V4: Ipv4Addr = Ipv4Addr::new(192, 0, 2, 5);
const OTHER_V6: Ipv6Addr = Ipv6Addr::new(0x2001, 0xdb8, 0x5a, 0, 0, 0, 0, 5);

/// The open port, and a closed one.
const OPEN: u16 = 8080;
const CLOSED: u16 = 8081;

const EVERY_SHAPE: &str = "tests/data/policy/ok-trap.toml";

/// The trap, with entries lasting `timeout` after the last try; `extra` opens one more port.
fn policy(timeout: &str, extra: bool) -> String {
    format!(
        "[[set]]\nname = \"portscan\"\nnetworks = false\ntimeout = \"{timeout}\"\n\n\
         [[block]]\nname = \"trapped\"\nfrom_set = \"portscan\"\nrefresh = true\n\
         after = \"baseline\"\nstate = \"new\"\nprotocol = [\"tcp\"]\nwith = \"tcp-reset\"\n\n\
         [[allow]]\nname = \"web\"\ntcp = [{OPEN}{}]\n\n\
         [[reject]]\nname = \"trap\"\nprotocol = [\"tcp\"]\nwith = \"tcp-reset\"\n\
         add_to_set = \"portscan\"\n",
        if extra { ", 9090" } else { "" }
    )
}

fn probe(pair: &Pair, src: impl Into<IpAddr>, port: u16) -> Probe {
    let src = src.into();
    let dst = match src {
        IpAddr::V4(_) => SocketAddr::new(IpAddr::V4(FW_V4), port),
        IpAddr::V6(_) => SocketAddr::new(IpAddr::V6(FW_V6), port),
    };
    probe_from(&pair.client, src, dst, PROBE_TIMEOUT)
}

/// `set list portscan --json`: (member, what is left of its lifetime in ms).
fn members(ns: &Netns) -> Vec<(String, u64)> {
    set_members(ns, "portscan")
        .into_iter()
        .map(|(m, left)| (m, left.expect("a fed member expires")))
        .collect()
}

fn trapped_pair(tag: &str, timeout: &str) -> (Pair, TempPolicy) {
    let pair = Pair::new(tag);
    pair.add_client_address(OTHER_V4, OTHER_V6);
    let p = TempPolicy::new(tag, &policy(timeout, false));
    statewall(&pair.fw, ["apply", &p.path()]).assert_ok();
    (pair, p)
}

#[cfg_attr(not(statewall_root), ignore = "needs root: creates network namespaces")]
#[test]
fn a_source_that_tries_a_closed_port_is_refused_everywhere_until_its_entry_runs_out() {
    let (pair, _p) = trapped_pair("tp-trap", "3s");
    let _web = listen_tcp(&pair.fw, &[OPEN]);
    // before: both sources reach the open port
    assert_eq!(probe(&pair, CLIENT_V4, OPEN), Probe::Connected);
    assert_eq!(probe(&pair, OTHER_V4, OPEN), Probe::Connected);
    assert!(members(&pair.fw).is_empty());
    // a try of a closed port: the trap answers with a reset and lists the source
    assert_eq!(probe(&pair, CLIENT_V4, CLOSED), Probe::Refused);
    let m = members(&pair.fw);
    assert_eq!(m.len(), 1, "{m:?}");
    assert_eq!(m[0].0, CLIENT_V4.to_string());
    assert!(m[0].1 <= 3000, "{m:?}");
    // from then on the open port refuses it too; the other source, and the client's own
    // IPv6 address (another family, another entry), still connect
    assert_eq!(probe(&pair, CLIENT_V4, OPEN), Probe::Refused);
    assert_eq!(probe(&pair, OTHER_V4, OPEN), Probe::Connected);
    assert_eq!(probe(&pair, CLIENT_V6, OPEN), Probe::Connected);
    // each refused try renews the entry (`refresh`, iptables' --update)
    sleep(Duration::from_millis(1500));
    let before = members(&pair.fw);
    assert!(before[0].1 <= 1500, "{before:?}");
    assert_eq!(probe(&pair, CLIENT_V4, OPEN), Probe::Refused);
    let after = members(&pair.fw);
    assert!(after[0].1 > 2000, "renewed: {before:?} then {after:?}");
    // the counters, read back over netlink: the trap caught one try, the block refused two
    let st = status_json(&pair.fw);
    assert_eq!(packets_of(&st, "trap"), 1, "{st}");
    assert_eq!(packets_of(&st, "trapped"), 2, "{st}");
    assert_eq!(st["drift"], false, "{st}");
    // no try for longer than the timeout: the entry runs out, the client connects again
    sleep(Duration::from_millis(3500));
    assert!(members(&pair.fw).is_empty());
    assert_eq!(probe(&pair, CLIENT_V4, OPEN), Probe::Connected);
}

#[cfg_attr(not(statewall_root), ignore = "needs root: creates network namespaces")]
#[test]
fn a_changed_apply_keeps_what_the_packet_path_added_with_what_is_left_of_its_lifetime() {
    let (pair, _p) = trapped_pair("tp-keep", "60s");
    let _web = listen_tcp(&pair.fw, &[OPEN, 9090]);
    assert_eq!(probe(&pair, CLIENT_V4, CLOSED), Probe::Refused);
    // a member added by hand sits beside the one the packet path added
    statewall(&pair.fw, ["set", "add", "portscan", "192.0.2.77"]).assert_ok();
    let p2 = TempPolicy::new("tp-keep2", &policy("60s", true));
    let out = statewall(&pair.fw, ["apply", &p2.path()]);
    out.assert_ok();
    assert!(out.stdout.contains("replaced plan"), "{out}");
    let m = members(&pair.fw);
    let names: Vec<&str> = m.iter().map(|(n, _)| n.as_str()).collect();
    assert_eq!(names, [CLIENT_V4.to_string().as_str(), "192.0.2.77"]);
    assert!(
        m.iter().all(|(_, left)| *left <= 60_000 && *left > 45_000),
        "{m:?}"
    );
    // still trapped under the new table, on the new port too; the other source gets in
    assert_eq!(probe(&pair, CLIENT_V4, OPEN), Probe::Refused);
    assert_eq!(probe(&pair, CLIENT_V4, 9090), Probe::Refused);
    assert_eq!(probe(&pair, OTHER_V4, 9090), Probe::Connected);
    // the unchanged rules kept their counters: the one try the trap caught, the two refused
    let st = status_json(&pair.fw);
    assert_eq!(packets_of(&st, "trap"), 1, "{st}");
    assert_eq!(packets_of(&st, "trapped"), 2, "{st}");
}

#[cfg_attr(not(statewall_root), ignore = "needs root: creates network namespaces")]
#[test]
fn fed_sets_and_their_rules_mean_the_same_to_nft_and_read_back_without_drift() {
    let path = crate::support::repo_path(EVERY_SHAPE);
    fed_set_is_dynamic("tp-drift", path.to_str().unwrap(), "ip4_portscan-tcp");
}
