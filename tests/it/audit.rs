//! Audit → verify → enforce, judged by real packets: the audit sets the kernel fills show
//! what enforce would drop; enforce swaps one rule and keeps the other counters.

use crate::support::{
    CLIENT_V4, CLIENT_V6, FW_V4, FW_V6, Pair, Probe, example, listen_tcp, probe_tcp, rules_named,
    statewall, status_json,
};
use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

fn verify_json(pair: &Pair, env: &[(&str, &str)]) -> (i32, serde_json::Value) {
    let mut cmd = crate::support::bin(Some(&pair.fw));
    cmd.args(["--netns", pair.fw.name(), "verify", "--json"]);
    cmd.env_remove("SSH_CONNECTION");
    for (k, v) in env {
        cmd.env(k, v);
    }
    let out = crate::support::run_cmd(cmd, crate::support::CMD_TIMEOUT);
    let v = serde_json::from_str(&out.stdout).unwrap_or_else(|e| panic!("{e}: {out}"));
    (out.code.unwrap_or(-1), v)
}

/// The `silent` list of a `verify --json` report: entries that saw no NEW connection.
fn silent_entries(report: &serde_json::Value) -> Vec<&str> {
    report["silent"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s.as_str().unwrap())
        .collect()
}

fn key_packets(list: &serde_json::Value, key: &str) -> u64 {
    list.as_array()
        .unwrap()
        .iter()
        .find(|h| h["key"] == key)
        .map(|h| h["packets"].as_u64().unwrap())
        .unwrap_or(0)
}

#[cfg_attr(not(statewall_root), ignore = "needs root: creates network namespaces")]
#[test]
fn verify_names_what_enforce_would_drop_and_enforce_keeps_the_counters() {
    let pair = Pair::new("a-verify");
    let _l = listen_tcp(&pair.fw, &[22, 8080]);
    // an echo service on smtp's port, for a connection held across the swap
    let _echo = crate::traffic::echo_server(&pair.fw, 25);
    let policy = example("web-and-mail.toml").display().to_string();
    statewall(&pair.fw, ["apply", "--audit", &policy]).assert_ok();

    let v4 = |p| SocketAddr::new(IpAddr::V4(FW_V4), p);
    let v6 = |p| SocketAddr::new(IpAddr::V6(FW_V6), p);
    let long = Duration::from_secs(3);
    for _ in 0..2 {
        assert_eq!(probe_tcp(&pair.client, v4(8080), long), Probe::Connected);
        assert_eq!(probe_tcp(&pair.client, v6(8080), long), Probe::Connected);
    }
    assert_eq!(probe_tcp(&pair.client, v4(22), long), Probe::Connected);

    let (code, report) = verify_json(&pair, &[]);
    assert_eq!(code, 0, "nothing SSH depends on was dropped: {report:#}");
    assert_eq!(report["safe"], true);
    let drop = &report["would_drop"];
    // each connect's SYN is the one NEW packet that reaches the final rule
    assert_eq!(key_packets(&drop["tcp_ports"], "8080"), 4, "{report:#}");
    assert_eq!(key_packets(&drop["tcp_ports"], "22"), 0, "ssh is allowed");
    assert_eq!(key_packets(&drop["sources"], &CLIENT_V4.to_string()), 2);
    assert_eq!(key_packets(&drop["sources"], &CLIENT_V6.to_string()), 2);
    assert_eq!(drop["packets"], 4);
    let silent = silent_entries(&report);
    assert_eq!(
        silent,
        ["smtp", "http", "https", "ident"],
        "ssh saw its connection"
    );

    // The admin's own SSH session on 8080 (as SSH_CONNECTION says): enforcing would cut it.
    let (code, report) = verify_json(
        &pair,
        &[("SSH_CONNECTION", "192.0.2.2 50000 192.0.2.1 8080")],
    );
    assert_eq!(code, 6, "{report:#}");
    assert!(
        report["risks"][0]
            .as_str()
            .unwrap()
            .contains("tcp port 8080")
    );
    let mut cmd = crate::support::bin(Some(&pair.fw));
    cmd.args(["--netns", pair.fw.name(), "enforce", &policy])
        .env("SSH_CONNECTION", "192.0.2.2 50000 192.0.2.1 8080");
    let refused = crate::support::run_cmd(cmd, crate::support::CMD_TIMEOUT);
    refused.assert_code(6);
    assert!(refused.stderr.contains("enforce refused"), "{refused}");
    assert_eq!(
        status_json(&pair.fw)["mode"],
        "audit",
        "nothing was applied"
    );

    // A held connection, then the swap.
    let mut held = crate::traffic::connect_held(&pair, v4(25));
    crate::traffic::expect_echo(&pair, &mut held, "before enforce");
    let before = status_json(&pair.fw);
    let established_before = rules_named(&before, "established")[0]["packets"]
        .as_u64()
        .unwrap();
    let ssh_before = rules_named(&before, "ssh")[0]["packets"].as_u64().unwrap();
    let mut cmd = crate::support::bin(Some(&pair.fw));
    cmd.args(["--netns", pair.fw.name(), "enforce", &policy])
        .env_remove("SSH_CONNECTION");
    let out = crate::support::run_cmd(cmd, crate::support::CMD_TIMEOUT);
    out.assert_ok();
    let after = status_json(&pair.fw);
    assert_eq!(after["mode"], "enforce");
    assert_eq!(after["drift"], false, "{}", after["drift_reason"]);
    assert!(
        rules_named(&after, "established")[0]["packets"]
            .as_u64()
            .unwrap()
            >= established_before,
        "counters carried over"
    );
    assert_eq!(
        rules_named(&after, "ssh")[0]["packets"].as_u64().unwrap(),
        ssh_before
    );
    assert_eq!(rules_named(&after, "final")[0]["verdict"], "drop");
    assert_eq!(
        rules_named(&after, "final")[0]["packets"],
        0,
        "the changed rule starts at 0"
    );
    assert!(
        rules_named(&after, "audit").is_empty(),
        "no recorders in enforce mode"
    );
    assert!(
        after["sets"].as_array().unwrap().is_empty(),
        "audit sets are gone"
    );
    assert_eq!(
        probe_tcp(&pair.client, v4(8080), Duration::from_millis(800)),
        Probe::TimedOut
    );
    assert_eq!(probe_tcp(&pair.client, v4(22), long), Probe::Connected);
    crate::traffic::expect_echo(
        &pair,
        &mut held,
        "after enforce: the established flow goes on",
    );

    // verify on an enforce table says there is nothing to verify
    let (code, report) = verify_json(&pair, &[]);
    assert_eq!(code, 6);
    assert_eq!(report["audit"], false);
}

#[cfg_attr(not(statewall_root), ignore = "needs root: creates network namespaces")]
#[test]
fn audit_verify_and_enforce_work_across_chains_of_entries() {
    let pair = Pair::new("a-chains");
    let _l = listen_tcp(&pair.fw, &[12_300]);
    let big = crate::support::TempPolicy::new("a-chains", &crate::sets::many_entries(2_500));
    statewall(&pair.fw, ["apply", "--audit", &big.path()]).assert_ok();
    let v4 = |p| SocketAddr::new(IpAddr::V4(FW_V4), p);
    let long = Duration::from_secs(3);
    assert_eq!(probe_tcp(&pair.client, v4(12_300), long), Probe::Connected);
    // audit: nothing is dropped; 9999 only reaches the final rule (and its recorders)
    assert_eq!(probe_tcp(&pair.client, v4(9_999), long), Probe::Refused);

    let (code, report) = verify_json(&pair, &[]);
    assert_eq!(code, 0, "{report:#}");
    assert_eq!(key_packets(&report["would_drop"]["tcp_ports"], "9999"), 1);
    let silent = silent_entries(&report);
    // 2,500 entries + ssh + web + ident, less the one that saw its connection; the jumps
    // are no entries
    assert_eq!(silent.len(), 2_502, "{:?}", &silent[..5]);
    assert!(!silent.contains(&"e2300"));
    assert!(silent.iter().all(|s| !s.starts_with("entries_")));

    let before = status_json(&pair.fw);
    assert_eq!(before["drift"], false, "{}", before["drift_reason"]);
    let out = statewall(&pair.fw, ["enforce", &big.path()]);
    out.assert_ok();
    let after = status_json(&pair.fw);
    assert_eq!(after["mode"], "enforce");
    assert_eq!(after["drift"], false, "{}", after["drift_reason"]);
    for name in ["e2300", "entries_1", "entries_3"] {
        let was = crate::support::packets_of(&before, name);
        assert!(was >= 1, "{name}");
        assert_eq!(
            crate::support::packets_of(&after, name),
            was,
            "{name} kept its counter"
        );
    }
    assert_eq!(
        probe_tcp(&pair.client, v4(9_999), Duration::from_millis(800)),
        Probe::TimedOut
    );
}
