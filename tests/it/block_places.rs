//! Blocks with a verdict and a place (`with`, `after`) and negated interfaces
//! (`except_iif`) in the kernel: nft makes the same objects of statewall's text, readback
//! finds no drift, and real packets show the place — an open connection survives a block
//! placed after the baseline (its packets are established) while a new one is refused, and
//! the same block placed first cuts it. A block after a named allow sits between that allow
//! and the next one: what the first takes from a blocked source gets in, what only the
//! second would take does not; `state = "new"` spares open connections even first, and
//! `state = "invalid"` drops what conntrack calls invalid and lets NEW connections pass.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::time::Duration;

use crate::support::flows::{Echo, connect_from, echoes, probe_from};
use crate::support::{
    CLIENT_V4, FW_V4, Netns, PROBE_TIMEOUT, Pair, Probe, TempPolicy, packets_of, send_tcp_flags,
    statewall, status_json,
};

const PLACES: &str = "tests/data/policy/ok-block-places.toml";
const PORT: u16 = 8080;
const OTHER_V4: Ipv4Addr = Ipv4Addr::new(192, 0, 2, 6);
const OTHER_V6: Ipv6Addr = Ipv6Addr::new(0x2001, 0xdb8, 0x5a, 0, 0, 0, 0, 6);

#[cfg_attr(not(statewall_root), ignore = "needs root: creates network namespaces")]
#[test]
fn block_places_and_negated_interfaces_mean_the_same_to_nft() {
    let path = crate::support::repo_path(PLACES);
    crate::kernel::same_to_nft(path.to_str().unwrap(), &[]);
    let ns = Netns::new("bp-drift");
    statewall(&ns, ["apply", path.to_str().unwrap()]).assert_ok();
    let st = status_json(&ns);
    assert_eq!(st["drift"], false, "{st}");
    let list = ns.nft(["list", "chain", "inet", "statewall", "input"]);
    // the order the policy asked for: first, established, after established, loopback, …
    let order: Vec<&str> = list
        .stdout
        .lines()
        .filter_map(|l| l.split("comment \"").nth(1))
        .map(|c| c.trim_end_matches('"'))
        .collect();
    let at = |n: &str| {
        order
            .iter()
            .position(|c| *c == n)
            .unwrap_or_else(|| panic!("{n}: {list}"))
    };
    assert!(at("spoofed-lo") < at("established"), "{list}");
    assert!(
        at("invalid") < at("null-scan") && at("null-scan") < at("loopback"),
        "{list}"
    );
    assert!(
        at("icmpv6") < at("bad-net") && at("bad-net") < at("web"),
        "{list}"
    );
    // blocks after a named allow: right after its rules, in the order written
    assert!(
        at("web") < at("after-web")
            && at("after-web") < at("after-web-too")
            && at("after-web-too") < at("mail"),
        "{list}"
    );
    assert!(
        at("mail") < at("smtp-out") && at("smtp-out") < at("final"),
        "{list}"
    );
    assert!(
        list.stdout
            .lines()
            .any(|l| l.contains("comment \"no-syn\"") && l.contains("ct state new")),
        "{list}"
    );
    let fwd = ns.nft(["list", "chain", "inet", "statewall", "forward"]);
    let lan_out = fwd.stdout.find("\"lan-out\"").expect("lan-out");
    let after = fwd.stdout.find("\"after-lan-out\"").expect("after-lan-out");
    assert!(lan_out < after, "{fwd}");
    assert!(list.stdout.contains("iifname != \"lo\""), "{list}");
    assert!(list.stdout.contains("iifname != \"docker*\""), "{list}");
}

fn policy(after: &str) -> String {
    format!(
        "[[block]]\nname = \"cut\"\nfrom = [\"{CLIENT_V4}\"]\ntcp = [{PORT}]\nwith = \"tcp-reset\"\n{after}\n\
         [[allow]]\nname = \"web\"\ntcp = [{PORT}]\n"
    )
}

#[cfg_attr(not(statewall_root), ignore = "needs root: creates network namespaces")]
#[test]
fn an_open_connection_survives_a_block_after_the_baseline_and_a_first_one_cuts_it() {
    let pair = Pair::new("bp-open");
    pair.add_client_address(OTHER_V4, OTHER_V6);
    let _echo = Echo::start(&pair.fw, PORT);
    let fw = SocketAddr::new(IpAddr::V4(FW_V4), PORT);
    let open_policy = TempPolicy::new(
        "bp-open",
        &format!("[[allow]]\nname = \"web\"\ntcp = [{PORT}]\n"),
    );
    statewall(&pair.fw, ["apply", &open_policy.path()]).assert_ok();
    let mut open = connect_from(&pair.client, IpAddr::V4(CLIENT_V4), fw, PROBE_TIMEOUT)
        .expect("the client connects before any block");
    assert!(
        echoes(&mut open, PROBE_TIMEOUT),
        "the connection carries data"
    );

    // after the baseline: the open connection's packets are established and accepted first
    let later = TempPolicy::new("bp-later", &policy("after = \"baseline\"\n"));
    statewall(&pair.fw, ["apply", &later.path()]).assert_ok();
    assert!(
        echoes(&mut open, PROBE_TIMEOUT),
        "a block after the baseline cut an established connection"
    );
    // a new connection from the blocked source gets the block's verdict (a reset), others get in
    let new = probe_from(&pair.client, IpAddr::V4(CLIENT_V4), fw, PROBE_TIMEOUT);
    assert_eq!(new, Probe::Refused);
    let other = probe_from(&pair.client, IpAddr::V4(OTHER_V4), fw, PROBE_TIMEOUT);
    assert_eq!(other, Probe::Connected);
    assert!(packets_of(&status_json(&pair.fw), "cut") > 0);

    // first (no `after`): before the established rule, so the open connection is cut
    let first = TempPolicy::new("bp-first", &policy(""));
    statewall(&pair.fw, ["apply", &first.path()]).assert_ok();
    assert!(
        !echoes(&mut open, Duration::from_millis(800)),
        "a block before the established rule left an open connection carrying data"
    );
    let other = probe_from(&pair.client, IpAddr::V4(OTHER_V4), fw, PROBE_TIMEOUT);
    assert_eq!(other, Probe::Connected);
}

/// A block `after = "ssh-all"`: the blocked source still reaches ssh-all's port (the allow
/// comes first), not the port of the allow after the block, which everyone else reaches.
#[cfg_attr(not(statewall_root), ignore = "needs root: creates network namespaces")]
#[test]
fn a_block_after_a_named_allow_sits_between_the_allows() {
    const SSH: u16 = 2222;
    let pair = Pair::new("bp-among");
    pair.add_client_address(OTHER_V4, OTHER_V6);
    let _web = Echo::start(&pair.fw, PORT);
    let _ssh = Echo::start(&pair.fw, SSH);
    let text = format!(
        "[[allow]]\nname = \"ssh-all\"\ntcp = [{SSH}]\n\n\
         [[block]]\nname = \"bad\"\nfrom = [\"{OTHER_V4}\"]\nafter = \"ssh-all\"\nwith = \"port-unreachable\"\n\n\
         [[allow]]\nname = \"web-lan\"\ntcp = [{PORT}]\nfrom = [\"192.0.2.0/24\"]\n"
    );
    let policy = TempPolicy::new("bp-among", &text);
    statewall(&pair.fw, ["apply", &policy.path()]).assert_ok();
    let to = |port| SocketAddr::new(IpAddr::V4(FW_V4), port);
    let from =
        |src: Ipv4Addr, port| probe_from(&pair.client, IpAddr::V4(src), to(port), PROBE_TIMEOUT);
    assert_eq!(
        from(OTHER_V4, SSH),
        Probe::Connected,
        "the allow before the block"
    );
    assert_eq!(
        from(OTHER_V4, PORT),
        Probe::Refused,
        "the block before web-lan"
    );
    assert_eq!(
        from(CLIENT_V4, PORT),
        Probe::Connected,
        "web-lan for the others"
    );
    assert_eq!(from(CLIENT_V4, SSH), Probe::Connected);
    let st = status_json(&pair.fw);
    assert!(packets_of(&st, "bad") > 0, "{st}");
    assert_eq!(st["drift"], false, "{st}");
}

/// `state = "new"` on a block placed first: a new connection from the source is refused,
/// and an open one keeps carrying data (its packets are established, not new).
#[cfg_attr(not(statewall_root), ignore = "needs root: creates network namespaces")]
#[test]
fn a_first_block_of_new_connections_spares_an_open_one() {
    let pair = Pair::new("bp-new");
    let _echo = Echo::start(&pair.fw, PORT);
    let fw = SocketAddr::new(IpAddr::V4(FW_V4), PORT);
    let open_policy = TempPolicy::new(
        "bp-new-open",
        &format!("[[allow]]\nname = \"web\"\ntcp = [{PORT}]\n"),
    );
    statewall(&pair.fw, ["apply", &open_policy.path()]).assert_ok();
    let mut open = connect_from(&pair.client, IpAddr::V4(CLIENT_V4), fw, PROBE_TIMEOUT)
        .expect("the client connects before any block");
    assert!(echoes(&mut open, PROBE_TIMEOUT));
    let new_only = TempPolicy::new("bp-new", &policy("state = \"new\"\n"));
    statewall(&pair.fw, ["apply", &new_only.path()]).assert_ok();
    assert!(
        echoes(&mut open, PROBE_TIMEOUT),
        "a block of NEW connections cut an established one"
    );
    let new = probe_from(&pair.client, IpAddr::V4(CLIENT_V4), fw, PROBE_TIMEOUT);
    assert_eq!(new, Probe::Refused);
    assert!(packets_of(&status_json(&pair.fw), "cut") > 0);
}

/// Address types in the kernel: nft reads statewall's `fib` rules as statewall's batch, and
/// the routing table decides — a connection to the fw's own address matches `to_type =
/// "local"` and `from_type = "unicast"`, not `"broadcast"` nor the exceptions of those.
#[cfg_attr(not(statewall_root), ignore = "needs root: creates network namespaces")]
#[test]
fn address_types_are_the_routing_tables() {
    let path = crate::support::repo_path("tests/data/policy/ok-addr-types.toml");
    crate::kernel::same_to_nft(path.to_str().unwrap(), &[]);
    let pair = Pair::new("bp-types");
    let _echo = Echo::start(&pair.fw, PORT);
    let fw = SocketAddr::new(IpAddr::V4(FW_V4), PORT);
    for (key, connects) in [
        ("to_type = \"local\"", true),
        ("to_type = [\"broadcast\", \"multicast\"]", false),
        ("except_to_type = \"local\"", false),
        ("from_type = \"unicast\"", true),
        ("except_from_type = [\"unicast\"]", false),
    ] {
        let text = format!("[[allow]]\nname = \"web\"\ntcp = [{PORT}]\n{key}\n");
        let policy = TempPolicy::new("bp-types", &text);
        statewall(&pair.fw, ["apply", &policy.path()]).assert_ok();
        let got = probe_from(&pair.client, IpAddr::V4(CLIENT_V4), fw, PROBE_TIMEOUT);
        let want = if connects {
            Probe::Connected
        } else {
            Probe::TimedOut
        };
        assert_eq!(got, want, "{key}");
        let st = status_json(&pair.fw);
        assert_eq!(st["drift"], false, "{key}: {st}");
        assert_eq!(packets_of(&st, "web") > 0, connects, "{key}: {st}");
    }
}

/// `state = "invalid"` in the kernel: nft reads statewall's text as the same batch; in a
/// section without the baseline's invalid rule, a block of invalid packets after the
/// baseline drops SYN+FIN segments (which the stateless allow after it would accept),
/// counted on the block alone, while NEW connections still reach the allow; no drift.
#[cfg_attr(not(statewall_root), ignore = "needs root: creates network namespaces")]
#[test]
fn a_block_of_invalid_packets_drops_them_and_lets_new_connections_pass() {
    let path = crate::support::repo_path("tests/data/policy/ok-block-invalid.toml");
    crate::kernel::same_to_nft(path.to_str().unwrap(), &[]);
    let pair = Pair::new("bp-invalid");
    let _echo = Echo::start(&pair.fw, PORT);
    let fw = SocketAddr::new(IpAddr::V4(FW_V4), PORT);
    let text = format!(
        "[baseline]\nestablished = false\ninvalid = false\n\n\
         [[block]]\nname = \"bad-state\"\nstate = \"invalid\"\nafter = \"baseline\"\n\n\
         [[allow]]\nname = \"web\"\ntcp = [{PORT}]\n"
    );
    let policy = TempPolicy::new("bp-invalid", &text);
    statewall(&pair.fw, ["apply", &policy.path()]).assert_ok();
    let list = pair.fw.nft(["list", "chain", "inet", "statewall", "input"]);
    assert!(
        list.stdout
            .lines()
            .any(|l| l.contains("comment \"bad-state\"") && l.contains("ct state invalid")),
        "{list}"
    );
    // SYN and FIN both set: conntrack calls every such segment invalid (`tcp_valid_flags`)
    send_tcp_flags(&pair.client, CLIENT_V4, fw, 0x03, 3);
    std::thread::sleep(Duration::from_millis(200));
    let st = status_json(&pair.fw);
    assert_eq!(packets_of(&st, "bad-state"), 3, "{st}");
    assert_eq!(
        packets_of(&st, "web"),
        0,
        "the allow took an invalid packet: {st}"
    );
    let new = probe_from(&pair.client, IpAddr::V4(CLIENT_V4), fw, PROBE_TIMEOUT);
    assert_eq!(new, Probe::Connected, "a NEW connection past the block");
    let st = status_json(&pair.fw);
    assert_eq!(packets_of(&st, "bad-state"), 3, "{st}");
    assert!(packets_of(&st, "web") > 0, "{st}");
    assert_eq!(st["drift"], false, "{st}");
}
