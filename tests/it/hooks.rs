//! Issue 10 in the kernel: forward and output sections and every new match are what nft
//! makes of statewall's own text, read back without drift, and judged by real packets —
//! forward through a routed third namespace (`support::forwarded::trio`).

use std::net::SocketAddr;

use crate::support::forwarded::{BACKEND, CLIENT, FW_FRONT, trio};
use crate::support::{
    PROBE_TIMEOUT, Probe, TempPolicy, listen_tcp, packets_of, probe_tcp, statewall, status_json,
};

const EVERY_MATCH: &str = "tests/data/policy/ok-hooks.toml";

#[cfg_attr(not(statewall_root), ignore = "needs root: creates network namespaces")]
#[test]
fn every_new_match_and_hook_means_the_same_to_nft() {
    let path = crate::support::repo_path(EVERY_MATCH);
    crate::kernel::same_to_nft(path.to_str().unwrap(), &[]);
}

#[cfg_attr(not(statewall_root), ignore = "needs root: creates network namespaces")]
#[test]
fn every_new_match_reads_back_without_drift() {
    let ns = crate::support::Netns::new("h-drift");
    let path = crate::support::repo_path(EVERY_MATCH);
    let path = path.to_str().unwrap();
    statewall(&ns, ["apply", path]).assert_ok();
    let st = status_json(&ns);
    assert_eq!(st["drift"], false, "{st}");
    // a second apply finds the plan live and sends nothing
    let again = statewall(&ns, ["apply", path]);
    again.assert_ok();
    let plan = statewall(&ns, ["plan", path]);
    plan.assert_ok();
    assert!(
        !plan.stdout.contains("\n- ") && !plan.stdout.contains("\n+ "),
        "{plan}"
    );
}

fn addr(ip: std::net::Ipv4Addr, port: u16) -> SocketAddr {
    SocketAddr::from((ip, port))
}

#[cfg_attr(not(statewall_root), ignore = "needs root: creates network namespaces")]
#[test]
fn forward_allows_what_its_section_allows_and_drops_or_rejects_the_rest() {
    let t = trio("h-fwd");
    let _backend = listen_tcp(&t.backend, &[8080, 8081, 8082]);
    // routed, and nothing filters yet: every port answers
    for port in [8080, 8081, 8082] {
        assert_eq!(
            probe_tcp(&t.client, addr(BACKEND, port), PROBE_TIMEOUT),
            Probe::Connected
        );
    }
    let policy = TempPolicy::new(
        "h-fwd",
        &format!(
            "[forward]\nfinal = \"drop\"\n\n\
             [[forward.allow]]\nname = \"web\"\ntcp = [8080]\nfrom = [\"{CLIENT}\"]\nto = [\"{BACKEND}\"]\niif = \"veth-f*\"\n\n\
             [[forward.reject]]\nname = \"closed\"\ntcp = [8082]\noif = \"veth-fb\"\n"
        ),
    );
    statewall(&t.fw, ["apply", &policy.path()]).assert_ok();
    assert_eq!(
        probe_tcp(&t.client, addr(BACKEND, 8080), PROBE_TIMEOUT),
        Probe::Connected
    );
    assert_eq!(
        probe_tcp(&t.client, addr(BACKEND, 8081), PROBE_TIMEOUT),
        Probe::TimedOut
    );
    assert_eq!(
        probe_tcp(&t.client, addr(BACKEND, 8082), PROBE_TIMEOUT),
        Probe::Refused
    );
    // the backend's own connections back to the client are forwarded too: dropped
    let _client = listen_tcp(&t.client, &[9000]);
    assert_eq!(
        probe_tcp(&t.backend, addr(CLIENT, 9000), PROBE_TIMEOUT),
        Probe::TimedOut
    );
    let st = status_json(&t.fw);
    assert_eq!(st["drift"], false, "{st}");
    assert!(packets_of(&st, "web") >= 1, "{st}");
    // input keeps its own final drop: the forward allows open nothing on fw itself
    let _fw = listen_tcp(&t.fw, &[22]);
    assert_eq!(
        probe_tcp(&t.client, addr(FW_FRONT, 22), PROBE_TIMEOUT),
        Probe::TimedOut
    );
}

#[cfg_attr(not(statewall_root), ignore = "needs root: creates network namespaces")]
#[test]
fn output_rejects_what_its_section_rejects_and_input_matches_destinations_and_exceptions() {
    let t = trio("h-out");
    let _backend = listen_tcp(&t.backend, &[7001, 7002]);
    let _fw = listen_tcp(&t.fw, &[5001, 5002]);
    // a second address of fw on the client side
    let second = std::net::Ipv4Addr::new(192, 0, 2, 11);
    t.fw.exec([
        "ip",
        "addr",
        "add",
        &format!("{second}/24"),
        "dev",
        "veth-fc",
    ])
    .assert_ok();
    let policy = TempPolicy::new(
        "h-out",
        &format!(
            "[[allow]]\nname = \"second-only\"\ntcp = [5001]\nto = [\"{second}\"]\n\n\
             [[allow]]\nname = \"all-but-client\"\ntcp = [5002]\nfrom = [\"192.0.2.0/24\"]\nexcept_from = [\"{CLIENT}\"]\n\n\
             [output]\nfinal = \"accept\"\n\n\
             [[output.reject]]\nname = \"no-7002\"\ntcp = [7002]\nto = [\"{BACKEND}\"]\nwith = \"tcp-reset\"\n"
        ),
    );
    statewall(&t.fw, ["apply", &policy.path()]).assert_ok();
    // input: `to` — the port answers on the second address only
    assert_eq!(
        probe_tcp(&t.client, addr(second, 5001), PROBE_TIMEOUT),
        Probe::Connected
    );
    assert_eq!(
        probe_tcp(&t.client, addr(FW_FRONT, 5001), PROBE_TIMEOUT),
        Probe::TimedOut
    );
    // input: `except_from` — the client is the exception of its own network
    assert_eq!(
        probe_tcp(&t.client, addr(FW_FRONT, 5002), PROBE_TIMEOUT),
        Probe::TimedOut
    );
    assert_eq!(packets_of(&status_json(&t.fw), "all-but-client"), 0);
    // output: fw's own connections — 7002 is refused by the reject, 7001 gets out
    assert_eq!(
        probe_tcp(&t.fw, addr(BACKEND, 7001), PROBE_TIMEOUT),
        Probe::Connected
    );
    assert_eq!(
        probe_tcp(&t.fw, addr(BACKEND, 7002), PROBE_TIMEOUT),
        Probe::Refused
    );
    let st = status_json(&t.fw);
    assert_eq!(st["drift"], false, "{st}");
    assert!(packets_of(&st, "no-7002") >= 1, "{st}");
}
