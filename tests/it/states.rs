//! `state` (an allow's connection states, in a section without the established rule) and
//! the port exceptions (`except_tcp`, `except_udp`, `except_tcp_sport`, …) in the kernel:
//! nft reads statewall's text as statewall's batch, readback finds no drift, and real
//! packets through the routed trio get what the policy says.

use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

use crate::support::forwarded::{CLIENT, FW_FRONT, trio};
use crate::support::routed::{self, Outcome, Responder};
use crate::support::{Netns, TempPolicy, packets_of, statewall, status_json};

const STATES: &str = "tests/data/policy/ok-state.toml";
const WAIT: Duration = Duration::from_millis(800);

fn tcp(ns: &Netns, src: IpAddr, sport: u16, dst: IpAddr, port: u16) -> Outcome {
    routed::tcp(
        ns,
        SocketAddr::new(src, sport),
        SocketAddr::new(dst, port),
        WAIT,
    )
}

fn apply(ns: &Netns, tag: &str, text: &str) {
    let policy = TempPolicy::new(tag, text);
    statewall(ns, ["apply", &policy.path()]).assert_ok();
    let st = status_json(ns);
    assert_eq!(st["drift"], false, "{st}");
}

#[cfg_attr(not(statewall_root), ignore = "needs root: creates network namespaces")]
#[test]
fn state_and_port_exceptions_mean_the_same_to_nft_and_read_back_without_drift() {
    let path = crate::support::repo_path(STATES);
    let path = path.to_str().unwrap();
    // ranges are `range neq`, single ports `cmp neq`, states a `ct state` mask, as nft
    // writes them
    crate::kernel::same_to_nft(path, &[]);
    crate::kernel::applied_without_drift("st-drift", path);
}

#[cfg_attr(not(statewall_root), ignore = "needs root: creates network namespaces")]
#[test]
fn state_decides_which_packets_of_a_connection_an_allow_takes() {
    let t = trio("st-state");
    let _fw = Responder::start(&t.fw, &[8080, 8081], &[]);
    let _client = Responder::start(&t.client, &[9000], &[]);
    let (client, fw) = (IpAddr::from(CLIENT), IpAddr::from(FW_FRONT));
    // each allow says its states; "replies" carries every connection on
    apply(
        &t.fw,
        "st-state",
        "[baseline]\nestablished = false\n\n\
         [[allow]]\nname = \"replies\"\nstate = [\"established\", \"related\"]\n\n\
         [[allow]]\nname = \"web\"\ntcp = [8080]\nstate = [\"new\"]\n\n\
         [[allow]]\nname = \"old-only\"\ntcp = [8081]\nstate = [\"established\"]\n",
    );
    assert_eq!(tcp(&t.client, client, 0, fw, 8080), Outcome::Answered);
    // a NEW connection is not established: "old-only" lets none in
    assert_eq!(tcp(&t.client, client, 0, fw, 8081), Outcome::Silent);
    // fw's own connection out: its replies come in as established
    assert_eq!(tcp(&t.fw, fw, 0, client, 9000), Outcome::Answered);
    let st = status_json(&t.fw);
    assert!(packets_of(&st, "replies") >= 4, "{st}");
    assert!(packets_of(&st, "web") >= 1, "{st}");
    assert_eq!(packets_of(&st, "old-only"), 0, "{st}");

    // without "replies", `state = ["new"]` takes the first packet of a connection only: the
    // handshake's SYN gets in, the data after it does not, and fw's own connection gets no
    // answer
    apply(
        &t.fw,
        "st-new",
        "[baseline]\nestablished = false\n\n\
         [[allow]]\nname = \"web\"\ntcp = [8080]\nstate = [\"new\"]\n",
    );
    assert_eq!(
        tcp(&t.client, client, 0, fw, 8080),
        Outcome::ConnectedNoData
    );
    assert_eq!(tcp(&t.fw, fw, 0, client, 9000), Outcome::Silent);

    // and without `state` the allow is stateless: every packet to the port
    apply(
        &t.fw,
        "st-less",
        "[baseline]\nestablished = false\n\n[[allow]]\nname = \"web\"\ntcp = [8080]\n",
    );
    assert_eq!(tcp(&t.client, client, 0, fw, 8080), Outcome::Answered);
}

#[cfg_attr(not(statewall_root), ignore = "needs root: creates network namespaces")]
#[test]
fn port_exceptions_match_every_port_but_theirs() {
    let t = trio("st-except");
    let tcp_ports = [7000, 8080, 8081, 8089, 8090, 8095, 8099, 8100];
    let _fw = Responder::start(&t.fw, &tcp_ports, &[5353, 5354]);
    let (client, fw) = (IpAddr::from(CLIENT), IpAddr::from(FW_FRONT));
    apply(
        &t.fw,
        "st-except",
        "[[allow]]\nname = \"all-but\"\nexcept_tcp = [7000, 8081, \"8090-8099\"]\n\n\
         [[allow]]\nname = \"not-from-low\"\ntcp = [7000]\nexcept_tcp_sport = [\"1-1023\"]\n\n\
         [[allow]]\nname = \"udp-all-but\"\nexcept_udp = [5353]\n",
    );
    for (port, want) in [
        (8080, Outcome::Answered),
        (8081, Outcome::Silent),
        (8089, Outcome::Answered),
        (8090, Outcome::Silent),
        (8095, Outcome::Silent),
        (8099, Outcome::Silent),
        (8100, Outcome::Answered),
    ] {
        assert_eq!(tcp(&t.client, client, 0, fw, port), want, "tcp {port}");
    }
    // 7000 only from a source port outside 1-1023
    assert_eq!(tcp(&t.client, client, 1000, fw, 7000), Outcome::Silent);
    assert_eq!(tcp(&t.client, client, 40000, fw, 7000), Outcome::Answered);
    let udp = |port| {
        routed::udp(
            &t.client,
            SocketAddr::new(client, 0),
            SocketAddr::new(fw, port),
            WAIT,
        )
    };
    assert_eq!(udp(5353), Outcome::Silent);
    assert_eq!(udp(5354), Outcome::Answered);
    let st = status_json(&t.fw);
    assert!(packets_of(&st, "not-from-low") >= 1, "{st}");
    assert!(packets_of(&st, "udp-all-but") >= 1, "{st}");
}

#[cfg_attr(not(statewall_root), ignore = "needs root: creates network namespaces")]
#[test]
fn an_allow_of_neighbour_discovery_takes_the_packets_conntrack_leaves_untracked() {
    use crate::support::{PROBE_TIMEOUT, Pair, Probe, fw_v6, listen_tcp, probe_tcp};
    let pair = Pair::new("st-nd");
    let _l = listen_tcp(&pair.fw, &[8080]);
    // no ICMPv6 baseline: neighbour discovery gets in by the allow alone. Solicitations and
    // advertisements are never NEW (conntrack leaves them untracked), so an allow of NEW
    // connections must take them as they are, or IPv6 cannot reach the host
    let with_nd = "[baseline]\nicmpv6 = false\n\n\
         [[allow]]\nname = \"nd\"\nicmpv6 = [133, 134, 135, 136]\n\n\
         [[allow]]\nname = \"web\"\ntcp = [8080]\n";
    apply(&pair.fw, "st-nd", with_nd);
    pair.forget_neighbours();
    assert_eq!(
        probe_tcp(&pair.client, fw_v6(8080), PROBE_TIMEOUT),
        Probe::Connected
    );
    let st = status_json(&pair.fw);
    assert!(packets_of(&st, "nd") >= 1, "{st}");
    // without it, the neighbours never learn each other: nothing gets through (the lockout
    // check says so: --force)
    let without = TempPolicy::new(
        "st-nd",
        "[baseline]\nicmpv6 = false\n\n[[allow]]\nname = \"web\"\ntcp = [8080]\n",
    );
    statewall(&pair.fw, ["apply", "--force", &without.path()]).assert_ok();
    pair.forget_neighbours();
    assert_eq!(
        probe_tcp(&pair.client, fw_v6(8080), PROBE_TIMEOUT),
        Probe::TimedOut
    );
}

#[cfg_attr(not(statewall_root), ignore = "needs root: creates network namespaces")]
#[test]
fn an_allow_of_every_protocol_takes_its_neighbour_discovery_unless_it_says_new() {
    use crate::support::{FW_IF, PROBE_TIMEOUT, Pair, Probe, fw_v6, listen_tcp, probe_tcp};
    let pair = Pair::new("st-ndif");
    let _l = listen_tcp(&pair.fw, &[8080]);
    let cold = || {
        pair.forget_neighbours();
        probe_tcp(&pair.client, fw_v6(8080), PROBE_TIMEOUT)
    };
    // no ICMPv6 baseline: the trusted interface's allow alone lets its neighbour discovery
    // in (`ct state new,untracked`), as iptables' `-i eth0 -j ACCEPT` does
    let lan = |state: &str| {
        format!(
            "[baseline]\nicmpv6 = false\n\n[[allow]]\nname = \"lan\"\niif = \"{FW_IF}\"\n{state}"
        )
    };
    apply(&pair.fw, "st-ndif", &lan(""));
    assert_eq!(cold(), Probe::Connected);
    let st = status_json(&pair.fw);
    assert!(packets_of(&st, "lan") >= 2, "{st}");
    // NEW connections only: solicitations are never NEW, so nothing reaches the host
    let new_only = TempPolicy::new("st-ndif", &lan("state = [\"new\"]\n"));
    statewall(&pair.fw, ["apply", "--force", &new_only.path()]).assert_ok();
    assert_eq!(status_json(&pair.fw)["drift"], false);
    assert_eq!(cold(), Probe::TimedOut);
}
