//! IPsec (`ipsec_in`, `ipsec_out`: `meta ipsec`, `rt ipsec`) in the kernel: nft makes the same
//! objects of statewall's text and reads statewall's own bytes as `meta ipsec exists` and `rt
//! ipsec exists`, readback finds no drift, and iptables' own translation of `-m policy --dir
//! in --pol ipsec|none` is the very expressions statewall writes. This kernel has no ESP or AH
//! transform (`ip xfrm state add … proto esp` answers "Requested type not found"), so no
//! packet here can arrive decrypted: the real connections below are in the clear, and they
//! meet `ipsec_in = false` and `ipsec_out = false` and never `… = true`, counted by the rule
//! that decided.

use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

use crate::support::{
    CLIENT_V4, Netns, Pair, Probe, TempPolicy, fw_v4, listen_tcp, packets_of, probe_tcp, repo_path,
    statewall, status_json,
};

const POLICY: &str = "tests/data/policy/ok-ipsec.toml";

#[cfg_attr(not(statewall_root), ignore = "needs root: creates network namespaces")]
#[test]
fn ipsec_matches_mean_the_same_to_nft_and_read_back_without_drift() {
    let path = repo_path(POLICY);
    let (_ns, list) = crate::kernel::applied_and_listed("ips-drift", path.to_str().unwrap());
    let has = |comment: &str, text: &str| {
        assert!(
            list.of(comment).iter().all(|l| l.contains(text)),
            "{comment}: {list}"
        );
    };
    has("l2tp", "meta ipsec exists udp dport 1701");
    has("l2tp-clear", "meta ipsec missing udp dport 1701");
    has("into-tunnel", "rt ipsec exists");
    has("clear-both-ways", "meta ipsec missing rt ipsec missing");
    has("smtp-in-the-clear", "rt ipsec missing tcp dport 25");
}

/// The (load, comparison) pairs of the security path in a `nft --debug=netlink` listing.
fn secpath_pairs(listing: &str) -> Vec<(String, String)> {
    let lines: Vec<&str> = listing.lines().map(str::trim).collect();
    let mut pairs: Vec<(String, String)> = lines
        .windows(2)
        .filter(|w| w[0].starts_with("[ meta load secpath"))
        .map(|w| (w[0].to_string(), w[1].to_string()))
        .collect();
    pairs.sort();
    pairs.dedup();
    pairs
}

/// The oracle for `-m policy --dir in`: iptables' own translator (`iptables-translate`, its
/// libxt_policy xlate) says `meta secpath exists` and `meta secpath missing`; nft makes of
/// those the very expressions statewall writes for `ipsec_in`. (`--dir out` the translator
/// leaves untranslated; `rt ipsec` is xt_policy's `dst->xfrm` test, as the kernel's sources
/// show.)
#[cfg_attr(not(statewall_root), ignore = "needs root: creates network namespaces")]
#[test]
fn iptables_translates_policy_dir_in_to_the_expressions_statewall_writes() {
    let ns = Netns::new("ips-ipt");
    ns.nft(["add", "table", "ip", "oracle"]).assert_ok();
    ns.nft(["add", "chain", "ip", "oracle", "c"]).assert_ok();
    for pol in ["ipsec", "none"] {
        let t = ns.exec([
            "iptables-translate",
            "-A",
            "INPUT",
            "-m",
            "policy",
            "--dir",
            "in",
            "--pol",
            pol,
            "-j",
            "ACCEPT",
        ]);
        t.assert_ok();
        let word = if pol == "ipsec" { "exists" } else { "missing" };
        let want = format!("meta secpath {word}");
        assert!(
            t.stdout.contains(&format!("INPUT {want} counter accept")),
            "{t}"
        );
        ns.nft([
            "add", "rule", "ip", "oracle", "c", "meta", "secpath", word, "accept",
        ])
        .assert_ok();
    }
    let theirs = ns.nft(["--debug=netlink", "list", "chain", "ip", "oracle", "c"]);
    theirs.assert_ok();
    statewall(&ns, ["apply", repo_path(POLICY).to_str().unwrap()]).assert_ok();
    let ours = crate::kernel::input_in_netlink_terms(&ns);
    ours.assert_ok();
    let want = vec![
        (
            "[ meta load secpath => reg 1 ]".to_string(),
            "[ cmp eq reg 1 0x00000000 ]".to_string(),
        ),
        (
            "[ meta load secpath => reg 1 ]".to_string(),
            "[ cmp eq reg 1 0x00000001 ]".to_string(),
        ),
    ];
    assert_eq!(secpath_pairs(&theirs.stdout), want, "{theirs}");
    assert_eq!(secpath_pairs(&ours.stdout), want, "{ours}");
}

/// Real connections in the clear, both ways: an allow of `ipsec_in = true` lets none in and
/// one of `ipsec_in = false` lets them in; a block of `ipsec_out = false` stops the host's
/// own connections and one of `ipsec_out = true` none; each counted by its rule.
#[cfg_attr(not(statewall_root), ignore = "needs root: creates network namespaces")]
#[test]
fn connections_in_the_clear_meet_false_and_never_true() {
    let pair = Pair::new("ips-real");
    let _fw = listen_tcp(&pair.fw, &[5001, 5002]);
    let _client = listen_tcp(&pair.client, &[5003, 5004]);
    let policy = TempPolicy::new(
        "ips-real",
        "[[allow]]\nname = \"tunnel-in\"\ntcp = [5001]\nipsec_in = true\n\n\
         [[allow]]\nname = \"clear-in\"\ntcp = [5002]\nipsec_in = false\n\n\
         [output]\nfinal = \"accept\"\n\n\
         [[output.block]]\nname = \"clear-out\"\ntcp = [5003]\nipsec_out = false\n\n\
         [[output.block]]\nname = \"tunnel-out\"\ntcp = [5004]\nipsec_out = true\n",
    );
    statewall(&pair.fw, ["apply", &policy.path()]).assert_ok();
    let wait = Duration::from_millis(1500);
    let to_client = |port| SocketAddr::new(IpAddr::V4(CLIENT_V4), port);
    let got = [
        probe_tcp(&pair.client, fw_v4(5001), wait),
        probe_tcp(&pair.client, fw_v4(5002), wait),
        probe_tcp(&pair.fw, to_client(5003), wait),
        probe_tcp(&pair.fw, to_client(5004), wait),
    ];
    assert_eq!(
        got,
        [
            Probe::TimedOut,
            Probe::Connected,
            Probe::TimedOut,
            Probe::Connected
        ]
    );
    let st = status_json(&pair.fw);
    assert_eq!(st["drift"], false, "{st}");
    assert_eq!(packets_of(&st, "tunnel-in"), 0, "{st}");
    assert_eq!(packets_of(&st, "clear-in"), 1, "{st}");
    assert!(packets_of(&st, "clear-out") >= 1, "{st}");
    assert_eq!(packets_of(&st, "tunnel-out"), 0, "{st}");
}
