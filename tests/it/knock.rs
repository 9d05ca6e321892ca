//! Port knocking with live sets the packet path fills and empties (`add_to_set`,
//! `remove_from_set`), judged by the kernel: `tests/data/policy/ok-knock.toml` opens ssh to
//! a source that knocked on 7001, 7002 and 7003 in that order, to no other source, and for
//! as long as its `opened` set keeps it; a wrong knock half-way takes the source off the
//! lists, so that the rest of the sequence opens nothing. Everything runs in namespaces the
//! tests create.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::thread::sleep;
use std::time::Duration;

use crate::support::flows::probe_from;
use crate::support::{
    CLIENT_V4, CLIENT_V6, FW_V4, FW_V6, Netns, PROBE_TIMEOUT, Pair, Probe, TempPolicy,
    fed_set_is_dynamic, listen_tcp, packets_of, repo_path, set_members, statewall, status_json,
};

/// A second address of the client namespace: "another source".
const OTHER_V4: Ipv4Addr = Ipv4Addr::new(192, 0, 2, 5);
const OTHER_V6: Ipv6Addr = Ipv6Addr::new(0x2001, 0xdb8, 0x5a, 0, 0, 0, 0, 5);

const POLICY: &str = "tests/data/policy/ok-knock.toml";

/// A knock is one SYN, dropped: a connect that gives up before the kernel sends it again
/// (its first retransmission is a second away), so each knock is one NEW packet.
const KNOCK_TIMEOUT: Duration = Duration::from_millis(300);

fn to(src: IpAddr, port: u16) -> SocketAddr {
    match src {
        IpAddr::V4(_) => SocketAddr::new(IpAddr::V4(FW_V4), port),
        IpAddr::V6(_) => SocketAddr::new(IpAddr::V6(FW_V6), port),
    }
}

fn knock(pair: &Pair, src: impl Into<IpAddr>, ports: &[u16]) {
    let src = src.into();
    for &port in ports {
        let got = probe_from(&pair.client, src, to(src, port), KNOCK_TIMEOUT);
        assert_eq!(
            got,
            Probe::TimedOut,
            "the knock on {port} from {src} is dropped"
        );
    }
}

fn ssh(pair: &Pair, src: impl Into<IpAddr>) -> Probe {
    let src = src.into();
    probe_from(&pair.client, src, to(src, 22), PROBE_TIMEOUT)
}

/// `set list NAME --json`: its members, sorted.
fn members(ns: &Netns, set: &str) -> Vec<String> {
    let mut m: Vec<String> = set_members(ns, set).into_iter().map(|(m, _)| m).collect();
    m.sort();
    m
}

#[cfg_attr(not(statewall_root), ignore = "needs root: creates network namespaces")]
#[test]
fn ssh_opens_only_to_the_source_that_knocked_in_order_and_only_for_a_while() {
    let pair = Pair::new("kn-open");
    pair.add_client_address(OTHER_V4, OTHER_V6);
    // the golden policy, with ssh open for 3 s after the last knock instead of 30
    let text = std::fs::read_to_string(repo_path(POLICY)).unwrap();
    let text = text.replace("timeout = \"30s\"", "timeout = \"3s\"");
    assert!(text.contains("\"3s\""));
    let p = TempPolicy::new("kn-open", &text);
    statewall(&pair.fw, ["apply", &p.path()]).assert_ok();
    let _sshd = listen_tcp(&pair.fw, &[22]);

    assert_eq!(
        ssh(&pair, CLIENT_V4),
        Probe::TimedOut,
        "closed before a knock"
    );
    knock(&pair, CLIENT_V4, &[7001, 7002, 7003]);
    assert_eq!(
        ssh(&pair, CLIENT_V4),
        Probe::Connected,
        "open after the knocks"
    );
    assert_eq!(ssh(&pair, OTHER_V4), Probe::TimedOut, "to that source only");
    assert_eq!(members(&pair.fw, "opened"), [CLIENT_V4.to_string()]);
    assert!(members(&pair.fw, "knock1").is_empty() && members(&pair.fw, "knock2").is_empty());

    // out of order, or a wrong port after the first or the second knock: nothing opens,
    // and the wrong knock takes the source off the lists
    knock(&pair, OTHER_V4, &[7002, 7001, 7003]);
    assert_eq!(
        ssh(&pair, OTHER_V4),
        Probe::TimedOut,
        "knocked out of order"
    );
    knock(&pair, OTHER_V4, &[7001, 7005, 7002, 7003]);
    assert_eq!(
        ssh(&pair, OTHER_V4),
        Probe::TimedOut,
        "a wrong port after one knock"
    );
    knock(&pair, OTHER_V4, &[7001, 7002, 7005, 7003]);
    assert_eq!(
        ssh(&pair, OTHER_V4),
        Probe::TimedOut,
        "a wrong port after two"
    );
    assert!(members(&pair.fw, "knock1").is_empty() && members(&pair.fw, "knock2").is_empty());

    // IPv6 sources knock in their own family's sets
    knock(&pair, CLIENT_V6, &[7001, 7002, 7003]);
    assert_eq!(ssh(&pair, CLIENT_V6), Probe::Connected);
    assert_eq!(ssh(&pair, OTHER_V6), Probe::TimedOut);

    // the counters, read back over netlink: who knocked what
    let st = status_json(&pair.fw);
    assert_eq!(packets_of(&st, "knock1"), 5, "{st}");
    assert_eq!(packets_of(&st, "knock2"), 3, "{st}");
    assert_eq!(packets_of(&st, "knock3"), 2, "{st}");
    assert_eq!(packets_of(&st, "wrong-first-knock"), 2, "{st}");
    assert_eq!(packets_of(&st, "wrong-knock"), 1, "{st}");
    assert_eq!(packets_of(&st, "ssh"), 2, "{st}");
    assert_eq!(st["drift"], false, "{st}");

    // no knock for longer than `opened` keeps a source: closed again
    sleep(Duration::from_millis(3500));
    assert_eq!(
        ssh(&pair, CLIENT_V4),
        Probe::TimedOut,
        "closed once the 3 s ran out"
    );
    assert!(members(&pair.fw, "opened").is_empty());
}

#[cfg_attr(not(statewall_root), ignore = "needs root: creates network namespaces")]
#[test]
fn knock_rules_mean_the_same_to_nft_and_read_back_without_drift() {
    let path = repo_path(POLICY);
    fed_set_is_dynamic("kn-drift", path.to_str().unwrap(), "ip4_knock1");
}
