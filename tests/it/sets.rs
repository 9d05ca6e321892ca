//! Sets at scale, judged by the kernel: every element is held, lookups admit exactly the
//! listed sources, and per-element counters read back over netlink.

use crate::support::{
    CLIENT_V4, FW_V4, Netns, Pair, Probe, TempPolicy, listen_tcp, packets_of, probe_tcp, statewall,
    status_json,
};
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::time::Duration;

/// 8080 open from `n` host addresses in 198.18.0.0/15 (the benchmarking range), plus
/// `extra` addresses at the end of the list.
fn many_sources(n: u32, extra: &[&str]) -> String {
    let mut text = String::from("[[allow]]\nname = \"bulk\"\ntcp = [8080]\nfrom = [\n");
    for i in 0..n {
        text.push_str(&format!("  \"{}\",\n", Ipv4Addr::from(0xC612_0000u32 + i)));
    }
    for e in extra {
        text.push_str(&format!("  \"{e}\",\n"));
    }
    text.push_str("]\n");
    text
}

fn element<'a>(st: &'a serde_json::Value, set: &str, elem: &str) -> &'a serde_json::Value {
    st["sets"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["name"] == set)
        .and_then(|s| {
            s["elements"]
                .as_array()
                .unwrap()
                .iter()
                .find(|e| e["element"] == elem)
        })
        .unwrap_or_else(|| panic!("no element {elem} in set {set}"))
}

#[cfg_attr(not(statewall_root), ignore = "needs root: creates network namespaces")]
#[test]
fn fifty_thousand_sources_are_one_set_and_only_they_get_in() {
    let pair = Pair::new("s-50k");
    let _listeners = listen_tcp(&pair.fw, &[8080]);
    let target = SocketAddr::new(IpAddr::V4(FW_V4), 8080);
    let client = CLIENT_V4.to_string();

    // The client's address is the last of 50,001 sources.
    let allowed = TempPolicy::new("allowed", &many_sources(50_000, &[&client]));
    let out = statewall(&pair.fw, ["apply", &allowed.path()]);
    out.assert_ok();
    // baseline (7) + one rule for the source set + final: the list is not rules
    assert!(out.stdout.contains(", 9 rules,"), "{out}");
    let list = pair
        .fw
        .nft(["list", "set", "inet", "statewall", "addr4_bulk"]);
    list.assert_ok();
    assert_eq!(
        list.stdout.matches("counter packets").count(),
        50_001,
        "the kernel holds every element"
    );
    assert_eq!(
        probe_tcp(&pair.client, target, Duration::from_secs(3)),
        Probe::Connected
    );
    let st = status_json(&pair.fw);
    assert_eq!(st["drift"], false, "{}", st["drift_reason"]);
    let set = &st["sets"][0];
    assert_eq!(set["name"], "addr4_bulk");
    assert_eq!(set["elements"].as_array().unwrap().len(), 50_001);
    // exactly the SYN of the one connection, on exactly the client's element
    assert_eq!(element(&st, "addr4_bulk", &client)["packets"], 1);
    assert_eq!(element(&st, "addr4_bulk", "198.18.0.0")["packets"], 0);
    let hits: u64 = set["elements"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["packets"].as_u64().unwrap())
        .sum();
    assert_eq!(hits, 1, "no other element counted anything");

    // The same list without the client: the lookup misses, the final rule drops.
    let denied = TempPolicy::new("denied", &many_sources(50_000, &[]));
    statewall(&pair.fw, ["apply", &denied.path()]).assert_ok();
    assert_eq!(
        probe_tcp(&pair.client, target, Duration::from_millis(800)),
        Probe::TimedOut
    );
    let st = status_json(&pair.fw);
    let final_rule = st["chains"][0]["rules"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["comment"] == "final")
        .unwrap();
    assert!(final_rule["packets"].as_u64().unwrap() >= 1, "{final_rule}");
}

#[cfg_attr(not(statewall_root), ignore = "needs root: creates network namespaces")]
#[test]
fn port_sets_and_mixed_family_sources_behave_and_count() {
    let pair = Pair::new("s-ports");
    let _listeners = listen_tcp(&pair.fw, &[80, 443, 8000, 8080, 9000]);
    let policy = TempPolicy::new(
        "ports",
        &format!(
            "[[allow]]\nname = \"web\"\ntcp = [80, 443, \"8000-8080\"]\n\
             from = [\"{CLIENT_V4}\", \"192.0.2.200\", \"198.51.100.0/24\", \"198.51.101.0/24\", \"2001:db8:5a::2\", \"2001:db8:5a::99\", \"2001:db8:77::/48\"]\n"
        ),
    );
    statewall(&pair.fw, ["apply", &policy.path()]).assert_ok();
    for port in [80, 443, 8000, 8080] {
        for ip in [IpAddr::V4(FW_V4), IpAddr::V6(crate::support::FW_V6)] {
            assert_eq!(
                probe_tcp(
                    &pair.client,
                    SocketAddr::new(ip, port),
                    Duration::from_secs(3)
                ),
                Probe::Connected,
                "{ip} port {port}"
            );
        }
    }
    assert_eq!(
        probe_tcp(
            &pair.client,
            SocketAddr::new(IpAddr::V4(FW_V4), 9000),
            Duration::from_millis(800)
        ),
        Probe::TimedOut
    );
    let st = status_json(&pair.fw);
    assert_eq!(st["drift"], false, "{}", st["drift_reason"]);
    // each port element saw one SYN per family; the range one SYN per port per family
    assert_eq!(element(&st, "tcp_web", "80")["packets"], 2);
    assert_eq!(element(&st, "tcp_web", "443")["packets"], 2);
    assert_eq!(element(&st, "tcp_web", "8000-8080")["packets"], 4);
    // the source lookup comes first in the rule: it also counts the SYN to 9000 (one SYN
    // within the 800 ms probe; the first retransmission would come after 1 s), which then
    // misses the port set and falls to the final rule
    assert_eq!(
        element(&st, "addr4_web", &CLIENT_V4.to_string())["packets"],
        5
    );
    assert_eq!(element(&st, "src4_web", "198.51.100.0/24")["packets"], 0);
    assert_eq!(element(&st, "addr6_web", "2001:db8:5a::2")["packets"], 4);
    // a text status shows the busiest elements
    let text = statewall(&pair.fw, ["status"]);
    text.assert_ok();
    assert!(
        text.stdout
            .contains("set tcp_web (inet_service, 3 elements, 3 with traffic)"),
        "{text}"
    );
}

#[cfg_attr(not(statewall_root), ignore = "needs root: creates network namespaces")]
#[test]
fn a_changed_set_element_is_drift() {
    let ns = Netns::new("s-drift");
    let policy = TempPolicy::new(
        "drift",
        "[[allow]]\nname = \"ssh\"\ntcp = [22]\nfrom = [\"198.51.100.0/24\", \"203.0.113.0/28\"]\n",
    );
    statewall(&ns, ["apply", &policy.path()]).assert_ok();
    assert_eq!(status_json(&ns)["drift"], false);
    ns.nft([
        "add",
        "element",
        "inet",
        "statewall",
        "src4_ssh",
        "{",
        "192.0.2.99",
        "}",
    ])
    .assert_ok();
    let st = status_json(&ns);
    assert_eq!(st["drift"], true, "{st}");
    let plan = statewall(&ns, ["plan", &policy.path()]);
    plan.assert_ok();
    assert!(
        plan.stdout
            .contains("# - \t\t\t192.0.2.99, 198.51.100.0/24, 203.0.113.0/28"),
        "{plan}"
    );
    // applying the policy again repairs it: a small table's elements are read back and
    // checked, and a changed one makes the apply replace the table
    let out = statewall(&ns, ["apply", &policy.path()]);
    out.assert_ok();
    assert!(out.stdout.contains("replaced a drifted table"), "{out}");
    let st = status_json(&ns);
    assert_eq!(st["drift"], false, "{st}");
    let list = ns.nft(["list", "set", "inet", "statewall", "src4_ssh"]);
    assert!(!list.stdout.contains("192.0.2.99"), "{list}");
}

/// ssh, then `n` entries each opening one TCP port (10000 + i), then "web" (80 and 443: a
/// port set, so that set order is exercised across chains), then ident answered with a TCP
/// reset.
pub(crate) fn many_entries(n: u16) -> String {
    let mut text = String::from("[[allow]]\nname = \"ssh\"\ntcp = [22]\n");
    for i in 0..n {
        text.push_str(&format!(
            "[[allow]]\nname = \"e{i}\"\ntcp = [{}]\n",
            10_000 + i
        ));
    }
    text.push_str("[[allow]]\nname = \"web\"\ntcp = [80, 443]\n");
    text.push_str("[[reject]]\nname = \"ident\"\ntcp = [113]\nwith = \"tcp-reset\"\n");
    text
}

fn chain_names(st: &serde_json::Value) -> Vec<String> {
    st["chains"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["name"].as_str().unwrap().to_string())
        .collect()
}

#[cfg_attr(not(statewall_root), ignore = "needs root: creates network namespaces")]
#[test]
fn thousands_of_entries_go_into_jumped_to_chains_and_behave_as_one_list() {
    let pair = Pair::new("s-chains");
    let _listeners = listen_tcp(&pair.fw, &[22, 12_300, 9_999]);
    let port = |p: u16| SocketAddr::new(IpAddr::V4(FW_V4), p);
    // 2,503 entry rules: entries_1 (ssh, e0..e998), entries_2, entries_3 (… e2499, web, ident)
    let big = TempPolicy::new("chains", &many_entries(2_500));
    let out = statewall(&pair.fw, ["apply", &big.path()]);
    out.assert_ok();
    let st = status_json(&pair.fw);
    assert_eq!(
        chain_names(&st),
        ["input", "entries_1", "entries_2", "entries_3"]
    );
    assert_eq!(st["drift"], false, "{}", st["drift_reason"]);
    let sizes: Vec<usize> = st["chains"].as_array().unwrap()[1..]
        .iter()
        .map(|c| c["rules"].as_array().unwrap().len())
        .collect();
    assert_eq!(sizes, [1000, 1000, 503]);

    // the kernel is the judge: the first chain, the last chain, the reject, the drop
    let timeout = Duration::from_secs(3);
    assert_eq!(probe_tcp(&pair.client, port(22), timeout), Probe::Connected);
    assert_eq!(
        probe_tcp(&pair.client, port(12_300), timeout),
        Probe::Connected
    );
    assert_eq!(probe_tcp(&pair.client, port(113), timeout), Probe::Refused);
    assert_eq!(
        probe_tcp(&pair.client, port(9_999), Duration::from_millis(800)),
        Probe::TimedOut
    );

    // and the counters read back chain by chain say where each packet went
    let st = status_json(&pair.fw);
    for (name, exactly) in [("ssh", 1), ("e2300", 1), ("ident", 1), ("e0", 0)] {
        assert_eq!(packets_of(&st, name), exactly, "{name}");
    }
    // every NEW SYN but ssh's went past entries_1 and entries_2 into entries_3
    let jumps = ["entries_1", "entries_2", "entries_3"].map(|j| packets_of(&st, j));
    let dropped = packets_of(&st, "final");
    assert!(dropped >= 1, "final counted {dropped}");
    assert_eq!(
        jumps,
        [3 + dropped, 2 + dropped, 2 + dropped],
        "ssh stops in entries_1; 12300 and ident go on to entries_3 once each, 9999 with each SYN"
    );
    // the same as nft sees it
    let list = pair
        .fw
        .nft(["list", "chain", "inet", "statewall", "entries_3"]);
    list.assert_ok();
    assert!(
        list.stdout
            .contains("tcp dport 12300 ct state new counter packets 1 "),
        "{}",
        list.stdout
    );

    // plan finds nothing to change; a small policy takes the extra chains away in one batch
    let out = statewall(&pair.fw, ["plan", &big.path()]);
    out.assert_ok();
    assert!(out.stdout.contains("already is this plan"), "{out}");
    let small = TempPolicy::new("chains-small", &many_entries(3));
    statewall(&pair.fw, ["apply", &small.path()]).assert_ok();
    let st = status_json(&pair.fw);
    assert_eq!(chain_names(&st), ["input"]);
    assert_eq!(
        probe_tcp(&pair.client, port(12_300), Duration::from_millis(800)),
        Probe::TimedOut
    );
}

#[cfg_attr(not(statewall_root), ignore = "needs root: creates network namespaces")]
#[test]
fn a_reader_that_goes_away_ends_statewall_quietly() {
    // `statewall plan big.toml | head -1`: far more than a pipe holds, and the reader leaves
    use std::io::{BufRead, BufReader, Read};
    use std::os::unix::process::ExitStatusExt;
    let ns = Netns::new("s-pipe");
    let big = TempPolicy::new("pipe", &many_entries(3_000));
    let mut child = crate::support::bin(Some(&ns))
        .args(["--netns", ns.name(), "plan", &big.path()])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut first = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut first)
        .unwrap();
    assert!(first.starts_with('#'), "{first}");
    // the read end is closed here: the next write raises SIGPIPE
    let mut err = String::new();
    child
        .stderr
        .take()
        .unwrap()
        .read_to_string(&mut err)
        .unwrap();
    let status = child.wait().unwrap();
    assert_eq!(status.signal(), Some(libc::SIGPIPE), "{status:?}: {err}");
    assert_eq!(err, "", "no panic, no message");
}
