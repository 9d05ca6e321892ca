//! Live sets judged by the kernel: a banned source is dropped at once (its open connection
//! too) while another source still gets in; members change without a table replace, come
//! back after a changed apply, a rollback and a reboot, and never cross namespaces.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::time::{Duration, Instant};

use crate::support::flows::{Echo, connect_from, echoes, eventually, probe_from};
use crate::support::{
    CLIENT_V4, CLIENT_V6, FW_V4, FW_V6, Netns, PROBE_TIMEOUT, Pair, Probe, TempPolicy, bin,
    packets_of, run_cmd, statewall, status_json,
};

/// A second address of the client namespace: "another source".
const OTHER_V4: Ipv4Addr = Ipv4Addr::new(192, 0, 2, 5);
const OTHER_V6: Ipv6Addr = Ipv6Addr::new(0x2001, 0xdb8, 0x5a, 0, 0, 0, 0, 5);

const PORT: u16 = 8080;

fn policy(extra_port: bool) -> String {
    format!(
        "[[set]]\nname = \"banned\"\ntimeout = \"1h\"\n\n\
         [[block]]\nname = \"bans\"\nfrom_set = \"banned\"\n\n\
         [[allow]]\nname = \"web\"\ntcp = [{PORT}{}]\n",
        if extra_port { ", 8081" } else { "" }
    )
}

fn with_other_source(pair: &Pair) {
    pair.add_client_address(OTHER_V4, OTHER_V6);
}

fn probe(pair: &Pair, src: impl Into<IpAddr>) -> Probe {
    let src = src.into();
    let dst = match src {
        IpAddr::V4(_) => SocketAddr::new(IpAddr::V4(FW_V4), PORT),
        IpAddr::V6(_) => SocketAddr::new(IpAddr::V6(FW_V6), PORT),
    };
    probe_from(&pair.client, src, dst, PROBE_TIMEOUT)
}

/// `set list NAME --json`, parsed: (member, packets, expires_in_ms).
fn members(ns: &Netns, set: &str) -> Vec<(String, u64, Option<u64>)> {
    let out = statewall(ns, ["set", "list", set, "--json"]);
    out.assert_ok();
    let doc: serde_json::Value = serde_json::from_str(&out.stdout).unwrap();
    assert_eq!(doc["schema"], "statewall.set/1");
    doc["members"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| {
            (
                m["member"].as_str().unwrap().to_string(),
                m["packets"].as_u64().unwrap(),
                m["expires_in_ms"].as_u64(),
            )
        })
        .collect()
}

#[cfg_attr(not(statewall_root), ignore = "needs root: creates network namespaces")]
#[test]
fn a_banned_source_is_dropped_at_once_even_mid_connection_and_others_still_connect() {
    let pair = Pair::new("ls-ban");
    with_other_source(&pair);
    let _echo = Echo::start(&pair.fw, PORT);
    let p = TempPolicy::new("ls-ban", &policy(false));
    statewall(&pair.fw, ["apply", &p.path()]).assert_ok();
    let fw4 = SocketAddr::new(IpAddr::V4(FW_V4), PORT);
    let mut open = connect_from(&pair.client, IpAddr::V4(CLIENT_V4), fw4, PROBE_TIMEOUT)
        .expect("the client connects before the ban");
    assert!(
        echoes(&mut open, PROBE_TIMEOUT),
        "the open connection carries data"
    );
    let handles_before = pair
        .fw
        .nft(["-a", "list", "chain", "inet", "statewall", "input"]);

    let out = statewall(&pair.fw, ["set", "add", "banned", &CLIENT_V4.to_string()]);
    out.assert_ok();
    assert!(out.stdout.contains("added 1 member to \"banned\""), "{out}");
    // the open connection is cut: the block comes before the established rule
    assert!(
        !echoes(&mut open, Duration::from_millis(800)),
        "a banned source's open connection still carries data"
    );
    assert_eq!(probe(&pair, CLIENT_V4), Probe::TimedOut);
    // another source, and the banned client's IPv6 address, still get in
    assert_eq!(probe(&pair, OTHER_V4), Probe::Connected);
    assert_eq!(probe(&pair, CLIENT_V6), Probe::Connected);
    // no rule was replaced: same handles, the kernel (nft) holds the member
    let handles_after = pair
        .fw
        .nft(["-a", "list", "chain", "inet", "statewall", "input"]);
    let strip = |s: &str| -> Vec<String> {
        s.lines()
            .map(|l| l.split("counter").next().unwrap().to_string() + l.rsplit('#').next().unwrap())
            .collect()
    };
    assert_eq!(strip(&handles_before.stdout), strip(&handles_after.stdout));
    let list = pair
        .fw
        .nft(["list", "set", "inet", "statewall", "live4_banned"]);
    assert!(list.stdout.contains(&CLIENT_V4.to_string()), "{list}");
    // the counters: the block rule and the member counted the dropped packets
    let st = status_json(&pair.fw);
    assert!(packets_of(&st, "bans") > 0, "{st}");
    let set = st["sets"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["name"] == "live4_banned")
        .unwrap();
    assert_eq!(set["live"]["members"], 1);
    assert_eq!(
        set["elements"].as_array().unwrap().len(),
        0,
        "status never lists members"
    );
    let m = members(&pair.fw, "banned");
    assert_eq!(m.len(), 1);
    assert_eq!(m[0].0, CLIENT_V4.to_string());
    assert!(m[0].1 > 0, "the member's own counter: {m:?}");
    assert!(
        m[0].2.is_some_and(|ms| ms <= 3_600_000 && ms > 3_500_000),
        "{m:?}"
    );

    // unbanned: the client gets in again
    statewall(&pair.fw, ["set", "del", "banned", &CLIENT_V4.to_string()]).assert_ok();
    assert_eq!(probe(&pair, CLIENT_V4), Probe::Connected);
    // an IPv6 ban with a short lifetime: dropped, then let in again when it runs out
    statewall(
        &pair.fw,
        [
            "set",
            "add",
            "banned",
            "2001:db8:5a::/120",
            "--timeout",
            "2s",
        ],
    )
    .assert_ok();
    assert_eq!(probe(&pair, CLIENT_V6), Probe::TimedOut);
    assert_eq!(probe(&pair, OTHER_V4), Probe::Connected);
    eventually(Duration::from_secs(15), "the 2 s ban to run out", || {
        probe(&pair, CLIENT_V6) == Probe::Connected
    });
    assert!(members(&pair.fw, "banned").is_empty());
    // adding a member again renews its lifetime (fail2ban's actionprolong relies on it)
    statewall(
        &pair.fw,
        ["set", "add", "banned", "192.0.2.99", "--timeout", "5s"],
    )
    .assert_ok();
    statewall(
        &pair.fw,
        ["set", "add", "banned", "192.0.2.99", "--timeout", "1h"],
    )
    .assert_ok();
    let m = members(&pair.fw, "banned");
    assert!(m[0].2.is_some_and(|ms| ms > 3_000_000), "{m:?}");
}

#[cfg_attr(not(statewall_root), ignore = "needs root: creates network namespaces")]
#[test]
fn set_changes_are_refused_clearly_and_stdin_takes_many() {
    let ns = Netns::new("ls-errs");
    let p = TempPolicy::new("ls-errs", &policy(false));
    statewall(&ns, ["set", "add", "banned", "192.0.2.9"]).assert_code(5);
    statewall(&ns, ["apply", &p.path()]).assert_ok();
    let out = statewall(&ns, ["set", "add", "banend", "192.0.2.9"]);
    out.assert_code(2);
    assert!(out.stderr.contains("its live sets are banned"), "{out}");
    let out = statewall(&ns, ["set", "add", "banned", "192.0.2.9/24", "nonsense"]);
    out.assert_code(2);
    assert!(
        out.stderr.contains("host bits") && out.stderr.contains("nonsense"),
        "{out}"
    );
    // bulk from stdin: 1,000 addresses and networks, one batch
    let mut text = String::from("# bulk\n");
    for i in 0..1000u32 {
        text.push_str(&format!("{}\n", Ipv4Addr::from(0xC633_6400u32 + i * 4)));
    }
    text.push_str("2001:db8:bad::/48, 198.18.0.0/15\n");
    let mut cmd = bin(Some(&ns));
    cmd.args(["--netns", ns.name(), "set", "add", "banned", "-"]);
    let out = crate::support::run_with_stdin(cmd, &text);
    out.assert_ok();
    assert!(out.stdout.contains("added 1002 members"), "{out}");
    assert_eq!(members(&ns, "banned").len(), 1002);
    // overlapping an existing member: refused, nothing changed
    let out = statewall(&ns, ["set", "add", "banned", "198.18.7.7"]);
    out.assert_code(6);
    assert!(out.stderr.contains("overlaps 198.18.0.0/15"), "{out}");
    // deleting what is not there is said, not an error
    let out = statewall(&ns, ["set", "del", "banned", "192.0.2.77", "198.18.0.0/15"]);
    out.assert_ok();
    assert!(
        out.stderr.contains("192.0.2.77 is not in \"banned\""),
        "{out}"
    );
    assert_eq!(members(&ns, "banned").len(), 1001);
    // the admin's own SSH connection (SSH_CONNECTION's server address is local here)
    ns.exec(["ip", "link", "set", "lo", "up"]).assert_ok();
    let mut cmd = bin(Some(&ns));
    cmd.env("SSH_CONNECTION", "127.0.0.9 50000 127.0.0.1 22")
        .args(["--netns", ns.name(), "set", "add", "banned", "127.0.0.0/8"]);
    let out = run_cmd(cmd, crate::support::CMD_TIMEOUT);
    out.assert_code(6);
    assert!(
        out.stderr.contains("127.0.0.9") && out.stderr.contains("--force"),
        "{out}"
    );
}

#[cfg_attr(not(statewall_root), ignore = "needs root: creates network namespaces")]
#[test]
fn members_survive_a_changed_apply_a_rollback_and_a_reboot() {
    let pair = Pair::new("ls-keep");
    let _echo = Echo::start(&pair.fw, PORT);
    let p1 = TempPolicy::new("ls-keep1", &policy(false));
    let p2 = TempPolicy::new("ls-keep2", &policy(true));
    statewall(&pair.fw, ["apply", &p1.path()]).assert_ok();
    statewall(&pair.fw, ["set", "add", "banned", &CLIENT_V4.to_string()]).assert_ok();
    statewall(
        &pair.fw,
        [
            "set",
            "add",
            "banned",
            "198.51.100.0/24",
            "--timeout",
            "600s",
        ],
    )
    .assert_ok();
    assert_eq!(probe(&pair, CLIENT_V4), Probe::TimedOut);
    // a changed policy replaces the table: the members are in the same batch
    let out = statewall(&pair.fw, ["apply", &p2.path()]);
    out.assert_ok();
    assert!(out.stdout.contains("replaced plan"), "{out}");
    assert_eq!(members(&pair.fw, "banned").len(), 2);
    assert_eq!(probe(&pair, CLIENT_V4), Probe::TimedOut);
    // a trial and its rollback: a ban added during the trial is kept too
    let mut cmd = bin(Some(&pair.fw));
    cmd.env("STATEWALL_TEST_SHORT_WINDOWS", "1").args([
        "--netns",
        pair.fw.name(),
        "apply",
        &p1.path(),
        "--confirm",
        "60s",
    ]);
    run_cmd(cmd, crate::support::CMD_TIMEOUT).assert_ok();
    statewall(&pair.fw, ["set", "add", "banned", "203.0.113.0/24"]).assert_ok();
    statewall(&pair.fw, ["rollback"]).assert_ok();
    let m = members(&pair.fw, "banned");
    assert_eq!(m.len(), 3, "{m:?}");
    // a reboot: the kernel forgets everything; boot brings the members back
    pair.fw
        .nft(["delete", "table", "inet", "statewall"])
        .assert_ok();
    assert_eq!(probe(&pair, CLIENT_V4), Probe::Connected);
    let t0 = Instant::now();
    statewall(&pair.fw, ["boot"]).assert_ok();
    let m = members(&pair.fw, "banned");
    let names: Vec<&str> = m.iter().map(|(n, _, _)| n.as_str()).collect();
    assert_eq!(names, ["192.0.2.2", "198.51.100.0/24", "203.0.113.0/24"]);
    let left = m[1].2.expect("the 600 s member has a lifetime");
    assert!(
        left <= 600_000 && left > 540_000 - t0.elapsed().as_millis() as u64,
        "{m:?}"
    );
    assert_eq!(probe(&pair, CLIENT_V4), Probe::TimedOut);
    // and the other lifetimes are what is left of the set's default hour
    assert!(m[0].2.is_some_and(|ms| ms <= 3_600_000), "{m:?}");
}

/// The members journal damaged (a line that is not UTF-8, a network of the other family, a
/// lifetime past the kernel's range, a network overlapping a member): a reboot loads the
/// accepted policy with the members the damage did not touch, and says what it left out.
/// (Before, one such line made the kernel refuse boot's batch, so the built-in safe policy
/// came up and every ban was lost; or loaded a range nobody added.)
#[cfg_attr(not(statewall_root), ignore = "needs root: creates network namespaces")]
#[test]
fn a_damaged_members_journal_loses_only_its_damaged_lines_across_a_reboot() {
    use std::io::Write;
    let ns = Netns::new("ls-dmg");
    let p = TempPolicy::new("ls-dmg", &policy(false));
    statewall(&ns, ["apply", &p.path()]).assert_ok();
    statewall(&ns, ["set", "add", "banned", "10.0.0.0/8", "2001:db8::/32"]).assert_ok();
    let journal = walk_for(&ns.state_dir(), "members.journal").expect("a members journal");
    let mut f = std::fs::OpenOptions::new()
        .append(true)
        .open(&journal)
        .unwrap();
    f.write_all(b"+ live4_banned 198.51.100.7/32 - \xff\n")
        .unwrap(); // not UTF-8
    f.write_all(b"+ live4_banned 2001:db8::1/128 -\n").unwrap(); // the other family
    f.write_all(b"+ live4_banned 192.0.2.9/32 18446744073709551615\n")
        .unwrap(); // 584 years on
    f.write_all(b"+ live4_banned 10.1.2.3/32 -\n").unwrap(); // inside 10.0.0.0/8
    drop(f);
    ns.nft(["delete", "table", "inet", "statewall"]).assert_ok();
    let out = statewall(&ns, ["boot"]);
    out.assert_ok();
    assert!(!out.stderr.contains("safe policy"), "{out}");
    assert!(
        out.stderr.contains("2 line(s) of") && out.stderr.contains("2 member(s)"),
        "{out}"
    );
    let names: Vec<String> = members(&ns, "banned").into_iter().map(|m| m.0).collect();
    assert_eq!(names, ["10.0.0.0/8", "2001:db8::/32"]);
}

/// A member the kernel took but the journal could not record (here: the journal is a
/// symlink, which the state directory never follows) is an error, exit 6, saying that a
/// reboot would lose it; it exited 0 with a warning in the log, and fail2ban's ban was gone
/// after the next reboot.
#[cfg_attr(not(statewall_root), ignore = "needs root: creates network namespaces")]
#[test]
fn a_member_the_journal_cannot_record_is_an_error_not_a_warning() {
    let ns = Netns::new("ls-nojournal");
    let p = TempPolicy::new("ls-nojournal", &policy(false));
    statewall(&ns, ["apply", &p.path()]).assert_ok();
    statewall(&ns, ["set", "add", "banned", "10.0.0.0/8"]).assert_ok();
    let journal = walk_for(&ns.state_dir(), "members.journal").expect("a members journal");
    std::fs::remove_file(&journal).unwrap();
    std::os::unix::fs::symlink("/dev/null", &journal).unwrap();
    let out = statewall(&ns, ["set", "add", "banned", "198.51.100.7"]);
    out.assert_code(6);
    assert!(
        out.stderr.contains("recording them for boot failed")
            && out.stderr.contains("a reboot would lose this change"),
        "{out}"
    );
    let names: Vec<String> = members(&ns, "banned").into_iter().map(|m| m.0).collect();
    assert!(names.contains(&"198.51.100.7".to_string()), "{names:?}");
}

fn walk_for(dir: &std::path::Path, name: &str) -> Option<std::path::PathBuf> {
    for e in std::fs::read_dir(dir).ok()?.flatten() {
        let p = e.path();
        if p.is_dir() {
            if let Some(found) = walk_for(&p, name) {
                return Some(found);
            }
        } else if p.file_name().is_some_and(|n| n == name) {
            return Some(p);
        }
    }
    None
}

#[cfg_attr(not(statewall_root), ignore = "needs root: creates network namespaces")]
#[test]
fn two_namespaces_sharing_a_state_dir_keep_their_own_members() {
    let a = Netns::new("ls-nsa");
    let b = Netns::new("ls-nsb");
    let shared = a.state_dir();
    let p = TempPolicy::new("ls-ns", &policy(false));
    let run = |ns: &Netns, args: &[&str]| {
        let mut cmd = bin(Some(ns));
        cmd.arg("--state-dir")
            .arg(&shared)
            .arg("--netns")
            .arg(ns.name())
            .args(args);
        run_cmd(cmd, crate::support::CMD_TIMEOUT)
    };
    run(&a, &["apply", &p.path()]).assert_ok();
    run(&b, &["apply", &p.path()]).assert_ok();
    run(&a, &["set", "add", "banned", "192.0.2.66"]).assert_ok();
    run(&b, &["set", "add", "banned", "2001:db8::77"]).assert_ok();
    for ns in [&a, &b] {
        ns.nft(["delete", "table", "inet", "statewall"]).assert_ok();
        run(ns, &["boot"]).assert_ok();
    }
    let listed = |ns: &Netns| {
        let out = run(ns, &["set", "list", "banned", "--json"]);
        out.assert_ok();
        crate::support::members_of(&out.stdout)
            .into_iter()
            .map(|(m, _)| m)
            .collect::<Vec<_>>()
    };
    assert_eq!(listed(&a), ["192.0.2.66"]);
    assert_eq!(listed(&b), ["2001:db8::77"]);
}

/// A live set of single addresses (`networks = false`) is a plain hash set with timeouts:
/// what CrowdSec's firewall bouncer in set-only mode fills (it adds bare keys with a
/// timeout, as `nft add element` does here). Its members drop like any ban, are listed and
/// carried like any member, and networks are refused for it.
#[cfg_attr(not(statewall_root), ignore = "needs root: creates network namespaces")]
#[test]
fn a_set_of_addresses_takes_plain_element_adds_as_crowdsecs_bouncer_makes_them() {
    let pair = Pair::new("ls-cs");
    with_other_source(&pair);
    let _echo = Echo::start(&pair.fw, PORT);
    let text = |extra: bool| {
        format!(
            "[[set]]\nname = \"crowdsec\"\nnetworks = false\n\n\
             [[block]]\nname = \"crowdsec\"\nfrom_set = \"crowdsec\"\n\n\
             [[allow]]\nname = \"web\"\ntcp = [{PORT}{}]\n",
            if extra { ", 8081" } else { "" }
        )
    };
    let p1 = TempPolicy::new("ls-cs1", &text(false));
    let p2 = TempPolicy::new("ls-cs2", &text(true));
    statewall(&pair.fw, ["apply", &p1.path()]).assert_ok();
    let set = pair
        .fw
        .nft(["list", "set", "inet", "statewall", "ip4_crowdsec"]);
    set.assert_ok();
    assert!(!set.stdout.contains("interval"), "a hash set: {set}");
    // what the bouncer does: a bare key with a timeout
    pair.fw
        .nft([
            "add",
            "element",
            "inet",
            "statewall",
            "ip4_crowdsec",
            "{",
            &CLIENT_V4.to_string(),
            "timeout",
            "10m",
            "}",
        ])
        .assert_ok();
    assert_eq!(probe(&pair, CLIENT_V4), Probe::TimedOut);
    assert_eq!(probe(&pair, OTHER_V4), Probe::Connected);
    let m = members(&pair.fw, "crowdsec");
    assert_eq!(m.len(), 1, "{m:?}");
    assert_eq!(m[0].0, CLIENT_V4.to_string());
    assert!(m[0].2.is_some_and(|ms| ms <= 600_000), "{m:?}");
    // statewall's own adds take addresses, not networks
    statewall(&pair.fw, ["set", "add", "crowdsec", "2001:db8:5a::2"]).assert_ok();
    let out = statewall(&pair.fw, ["set", "add", "crowdsec", "198.51.100.0/24"]);
    out.assert_code(2);
    assert!(out.stderr.contains("networks = false"), "{out}");
    // a changed policy carries the bouncer's member too
    statewall(&pair.fw, ["apply", &p2.path()]).assert_ok();
    assert_eq!(members(&pair.fw, "crowdsec").len(), 2);
    assert_eq!(probe(&pair, CLIENT_V4), Probe::TimedOut);
    assert_eq!(status_json(&pair.fw)["drift"], false);
}

/// `from_set` on an allow entry: a live allowlist. A source gets in once it is added and not
/// after it is deleted; no table replace in between (the rule keeps its counter).
#[cfg_attr(not(statewall_root), ignore = "needs root: creates network namespaces")]
#[test]
fn a_live_allowlist_lets_in_only_its_members() {
    let pair = Pair::new("ls-allow");
    let _echo = Echo::start(&pair.fw, PORT);
    let p = TempPolicy::new(
        "ls-allow",
        &format!(
            "[[set]]\nname = \"admins\"\n\n[[allow]]\nname = \"panel\"\ntcp = [{PORT}]\nfrom_set = \"admins\"\n"
        ),
    );
    statewall(&pair.fw, ["apply", &p.path()]).assert_ok();
    assert_eq!(probe(&pair, CLIENT_V4), Probe::TimedOut);
    statewall(
        &pair.fw,
        [
            "set",
            "add",
            "admins",
            &format!("{CLIENT_V4}/32"),
            "2001:db8:5a::/64",
        ],
    )
    .assert_ok();
    assert_eq!(probe(&pair, CLIENT_V4), Probe::Connected);
    assert_eq!(probe(&pair, CLIENT_V6), Probe::Connected);
    let before = packets_of(&status_json(&pair.fw), "panel");
    assert!(before >= 2, "the allow counted both connections: {before}");
    statewall(&pair.fw, ["set", "del", "admins", &CLIENT_V4.to_string()]).assert_ok();
    assert_eq!(probe(&pair, CLIENT_V4), Probe::TimedOut);
    assert_eq!(probe(&pair, CLIENT_V6), Probe::Connected);
    assert!(
        packets_of(&status_json(&pair.fw), "panel") > before,
        "the same rule, its counter kept"
    );
}

/// The fingerprint hashes sets in the plan's order; readback must find them in it whatever
/// the policy: live sets declared before or after their first use, an entry with a port set
/// and a live set, an entry with a log rule and sets of both families, live sets only one
/// family's rules look up. Each is applied and read back without drift, and applying it
/// again sends nothing.
#[cfg_attr(not(statewall_root), ignore = "needs root: creates network namespaces")]
#[test]
fn every_kind_of_set_reads_back_in_the_plans_order() {
    let policies = [
        "[[set]]\nname = \"admins\"\n\n[[allow]]\nname = \"panel\"\ntcp = [8443, 9443]\nfrom_set = \"admins\"\n",
        "[[set]]\nname = \"friends\"\n\n[[set]]\nname = \"banned\"\n\n[[block]]\nname = \"bans\"\nfrom_set = \"banned\"\n\n\
         [[allow]]\nname = \"ssh\"\ntcp = [22]\nfrom_set = \"friends\"\n",
        "[[allow]]\nname = \"web\"\ntcp = [80, 443]\nfrom = [\"192.0.2.0/25\", \"198.51.100.0/24\", \"2001:db8:1::/48\", \"2001:db8:2::/48\"]\nlog = true\n",
        "[[allow]]\nname = \"mixed\"\ntcp = [80, 443]\nfrom = [\"192.0.2.7\", \"192.0.2.9\", \"198.51.100.0/24\", \"203.0.113.0/24\", \"2001:db8::1\", \"2001:db8::2\"]\n",
        // a live set whose only entry is of one family: no rule looks up its other half,
        // which the plan still has (probe 15's file 15, an imported port-scan trap)
        "[[set]]\nname = \"PS\"\nnetworks = false\ntimeout = \"60s\"\n\n[[block]]\nname = \"scanners\"\ntcp = [\"0-65535\"]\nto = [\"0.0.0.0/0\"]\nfrom_set = \"PS\"\n",
        "[[set]]\nname = \"v6only\"\n\n[[allow]]\nname = \"ssh\"\ntcp = [22]\nto = [\"::/0\"]\nfrom_set = \"v6only\"\n",
    ];
    for (i, text) in policies.iter().enumerate() {
        let ns = Netns::new(&format!("ls-order{i}"));
        let p = TempPolicy::new(&format!("ls-order{i}"), text);
        statewall(&ns, ["apply", &p.path()]).assert_ok();
        let st = status_json(&ns);
        assert_eq!(st["drift"], false, "policy {i}: {}", st["drift_reason"]);
        statewall(&ns, ["plan", &p.path(), "--exit-code"]).assert_code(0);
    }
}

/// A long `from_file` list is kept in pieces in the state directory's blob store, not in
/// the records; a changed line of it is patched in place and writes one piece; and after a
/// reboot, boot loads the list the accepted record names from there. The kernel judges: a source the changed line
/// adds gets in, before and after the reboot.
#[cfg_attr(not(statewall_root), ignore = "needs root: creates network namespaces")]
#[test]
fn a_long_list_comes_back_at_boot_from_the_blob_store() {
    let pair = Pair::new("ls-blob");
    with_other_source(&pair);
    let _echo = Echo::start(&pair.fw, PORT);
    let name = format!("statewall-test-blob-{}.txt", std::process::id());
    let list = std::env::temp_dir().join(&name);
    // 12,000 addresses of 10.0.0.0/8 (over 100 KB); the changed one adds the client
    let write = |with_client: bool| {
        let text: String = (0..12_000u32)
            .map(|i| match i {
                6_000 if with_client => format!("{CLIENT_V4}\n"),
                _ => format!("{}\n", Ipv4Addr::from(0x0a00_0000 + i * 4)),
            })
            .collect();
        assert!(text.len() > 100_000);
        std::fs::write(&list, text).unwrap();
    };
    let p = TempPolicy::new(
        "ls-blob",
        &format!("[[allow]]\nname = \"bulk\"\ntcp = [{PORT}]\nfrom_file = \"{name}\"\n"),
    );
    write(false);
    statewall(&pair.fw, ["apply", &p.path()]).assert_ok();
    assert_eq!(probe(&pair, CLIENT_V4), Probe::TimedOut);
    let confirmed = find_file(&pair.fw.state_dir(), "confirmed.json").expect("a record");
    let blobs = confirmed.parent().unwrap().join("blobs");
    let before = std::fs::read_dir(&blobs).unwrap().count();
    assert!(before > 1, "the list is kept in pieces");
    write(true);
    let out = statewall(&pair.fw, ["apply", &p.path()]);
    out.assert_ok();
    assert!(out.stdout.contains("patched plan"), "{out}");
    assert_eq!(probe(&pair, CLIENT_V4), Probe::Connected);
    // the records name the list's pieces; the changed line wrote the one it is in
    let record = std::fs::read_to_string(&confirmed).unwrap();
    assert!(
        record.len() < 4_000 && record.contains("\"pieces\""),
        "{record}"
    );
    let added = std::fs::read_dir(&blobs).unwrap().count() - before;
    assert!((1..=2).contains(&added), "{added} new pieces");
    // a reboot: the kernel forgets everything, the list file is gone; boot brings it back
    std::fs::remove_file(&list).unwrap();
    pair.fw
        .nft(["delete", "table", "inet", "statewall"])
        .assert_ok();
    assert_eq!(probe(&pair, CLIENT_V4), Probe::Connected, "no table: open");
    statewall(&pair.fw, ["boot"]).assert_ok();
    let status = status_json(&pair.fw);
    assert_eq!(status["drift"], false, "{status}");
    assert_eq!(probe(&pair, CLIENT_V4), Probe::Connected);
    assert_eq!(probe(&pair, OTHER_V4), Probe::TimedOut);
}

/// The first file called `name` under `dir`, depth first.
fn find_file(dir: &std::path::Path, name: &str) -> Option<std::path::PathBuf> {
    for e in std::fs::read_dir(dir).ok()?.flatten() {
        let p = e.path();
        if p.is_dir() {
            if let Some(f) = find_file(&p, name) {
                return Some(f);
            }
        } else if p.file_name().is_some_and(|n| n == name) {
            return Some(p);
        }
    }
    None
}
