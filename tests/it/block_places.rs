//! Blocks with a verdict and a place (`with`, `after`) and negated interfaces
//! (`except_iif`) in the kernel: nft makes the same objects of statewall's text, readback
//! finds no drift, and real packets show the place — an open connection survives a block
//! placed after the baseline (its packets are established) while a new one is refused, and
//! the same block placed first cuts it.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::time::Duration;

use crate::support::flows::{Echo, connect_from, echoes, probe_from};
use crate::support::{
    CLIENT_V4, FW_V4, Netns, PROBE_TIMEOUT, Pair, Probe, TempPolicy, packets_of, statewall,
    status_json,
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
    assert!(
        at("web") < at("smtp-out") && at("smtp-out") < at("final"),
        "{list}"
    );
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
