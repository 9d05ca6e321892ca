//! Self-tests of the harness (run with `cargo test --test it support`). No firewall involved.

use super::*;

#[cfg_attr(not(statewall_root), ignore = "needs root: creates network namespaces")]
#[test]
fn netns_is_created_with_lo_up_and_deleted_on_drop() {
    let ns = Netns::new("selftest");
    let name = ns.name().to_string();
    assert!(name.starts_with("sw-selftest-"), "{name}");
    assert!(ns.path().exists(), "{} missing", ns.path().display());
    assert!(
        netns_list().contains(&name),
        "{name} not in `ip netns list`"
    );
    let lo = ns.exec(["ip", "-o", "link", "show", "dev", "lo"]);
    lo.assert_ok();
    assert!(lo.stdout.contains("LOWER_UP"), "lo is not up:\n{lo}");
    drop(ns);
    assert!(
        !netns_list().contains(&name),
        "{name} still in `ip netns list`"
    );
}

#[cfg_attr(not(statewall_root), ignore = "needs root: creates network namespaces")]
#[test]
fn netns_names_are_unique() {
    let a = Netns::new("same");
    let b = Netns::new("same");
    assert_ne!(a.name(), b.name());
}

#[cfg_attr(not(statewall_root), ignore = "needs root: creates network namespaces")]
#[test]
fn netns_is_deleted_when_the_test_panics() {
    let name = std::sync::Mutex::new(String::new());
    let result = std::panic::catch_unwind(|| {
        let ns = Netns::new("panics");
        *name.lock().unwrap() = ns.name().to_string();
        panic!("deliberate panic with {} alive", ns.name());
    });
    assert!(result.is_err());
    let name = name.into_inner().unwrap();
    assert!(!name.is_empty());
    assert!(
        !netns_list().contains(&name),
        "{name} survived a panicking test"
    );
}

#[cfg_attr(not(statewall_root), ignore = "needs root: creates network namespaces")]
#[test]
fn run_enters_the_namespace_and_pair_links_stay_out_of_the_host() {
    let pair = Pair::new("run");
    let fw_dev = pair
        .fw
        .run(|| std::fs::read_to_string("/proc/thread-self/net/dev").unwrap());
    let client_dev = pair
        .client
        .run(|| std::fs::read_to_string("/proc/thread-self/net/dev").unwrap());
    assert!(
        fw_dev.contains(FW_IF) && !fw_dev.contains(CLIENT_IF),
        "{fw_dev}"
    );
    assert!(
        client_dev.contains(CLIENT_IF) && !client_dev.contains(FW_IF),
        "{client_dev}"
    );
    // A panic inside `run` reaches the caller.
    let caught = std::panic::catch_unwind(|| pair.fw.run(|| panic!("inside the namespace")));
    assert!(caught.is_err());
    // IPv6 DAD is off inside our namespaces, so nothing waits for it.
    let dad = pair
        .fw
        .run(|| std::fs::read_to_string("/proc/sys/net/ipv6/conf/veth-fw/accept_dad").unwrap());
    assert_eq!(dad.trim(), "0");
}

#[cfg_attr(not(statewall_root), ignore = "needs root: creates network namespaces")]
#[test]
fn pair_pings_over_ipv4_and_ipv6() {
    let pair = Pair::new("ping");
    assert!(ping(&pair.client, FW_V4), "client -> {FW_V4}");
    assert!(ping(&pair.client, FW_V6), "client -> {FW_V6}");
    assert!(ping(&pair.fw, CLIENT_V4), "fw -> {CLIENT_V4}");
    assert!(ping(&pair.fw, CLIENT_V6), "fw -> {CLIENT_V6}");
}

#[cfg_attr(not(statewall_root), ignore = "needs root: creates network namespaces")]
#[test]
fn listener_is_reachable_without_a_firewall() {
    let pair = Pair::new("listen");
    let out = pair.fw.nft(["list", "ruleset"]);
    out.assert_ok();
    assert!(
        out.stdout.trim().is_empty(),
        "fresh namespace has rules:\n{out}"
    );

    let listeners = listen_tcp(&pair.fw, &[22, 8080]);
    assert_eq!(listeners.ports(), &[22, 8080]);
    for port in [22, 8080] {
        for addr in [fw_v4(port), fw_v6(port)] {
            assert_eq!(
                probe_tcp(&pair.client, addr, PROBE_TIMEOUT),
                Probe::Connected,
                "{addr}"
            );
        }
    }
    // A closed port answers with a RST.
    assert_eq!(
        probe_tcp(&pair.client, fw_v4(9), PROBE_TIMEOUT),
        Probe::Refused
    );
    assert_eq!(
        probe_tcp(&pair.client, fw_v6(9), PROBE_TIMEOUT),
        Probe::Refused
    );
    // The listeners really stop on drop.
    drop(listeners);
    assert_eq!(
        probe_tcp(&pair.client, fw_v4(8080), PROBE_TIMEOUT),
        Probe::Refused
    );
    // The listener sockets lived in fw, not in the host: nothing listens on 8080 here.
    assert_ne!(
        probe_tcp(
            &pair.client,
            SocketAddr::from((CLIENT_V4, 8080)),
            PROBE_TIMEOUT
        ),
        Probe::Connected
    );
}

#[cfg_attr(not(statewall_root), ignore = "needs root: creates network namespaces")]
#[test]
fn probe_times_out_when_nothing_answers() {
    let pair = Pair::new("silent");
    let addr = SocketAddr::from((SILENT_V4, 80));
    let start = Instant::now();
    assert_eq!(
        probe_tcp(&pair.client, addr, Duration::from_millis(300)),
        Probe::TimedOut
    );
    assert!(start.elapsed() < Duration::from_secs(2));
}

#[test]
fn commands_are_bounded_by_their_timeout() {
    let mut cmd = Command::new("sleep");
    cmd.arg("10");
    let start = Instant::now();
    let out = run_cmd(cmd, Duration::from_millis(200));
    assert!(out.timed_out && out.code.is_none(), "{out}");
    assert!(start.elapsed() < Duration::from_secs(5));
}
