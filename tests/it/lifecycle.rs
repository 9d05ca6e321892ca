//! The lifecycle of what the admin applied: a plain apply is what boot loads, a re-apply
//! changes nothing, counters follow their rules, statewall touches only its own table, the
//! mode cannot slip back to audit by accident, and boot's fallback keeps sshd's real ports.
//! A reboot is: delete the table, run `boot`. Every test makes its own namespaces.

use std::time::Duration;

use crate::rollout::{Tmp, live_plan, ruleset, sw, sw_new_session};
use crate::support::{
    Netns, PROBE_TIMEOUT, Pair, Probe, Sshd, fw_v4, listen_tcp, packets_of, probe_tcp,
};
use statewall::core::store::Kind;

const SSH: &str = "[[allow]]\nname = \"ssh\"\ntcp = [22]\n";
const SSH_WEB: &str =
    "[[allow]]\nname = \"ssh\"\ntcp = [22]\n\n[[allow]]\nname = \"web\"\ntcp = [8080]\n";

fn status(ns: &Netns, tmp: &Tmp) -> serde_json::Value {
    let out = sw(ns, tmp, &["status", "--json"]);
    out.assert_ok();
    serde_json::from_str(&out.stdout).unwrap()
}

fn reboot(ns: &Netns, tmp: &Tmp) -> String {
    ns.nft(["delete", "table", "inet", "statewall"]).assert_ok();
    let out = sw(ns, tmp, &["boot"]);
    out.assert_ok();
    out.stdout
}

#[cfg_attr(not(statewall_root), ignore = "needs root: creates network namespaces")]
#[test]
fn a_plain_apply_is_what_boot_loads_and_what_a_trial_rolls_back_to() {
    let ns = Netns::new("lc-plain");
    let tmp = Tmp::new("lc-plain");
    let web = tmp.policy("web", SSH_WEB);
    let out = sw(&ns, &tmp, &["apply", &web]);
    out.assert_ok();
    assert!(out.stdout.contains("boot loads it"), "{out}");
    let applied = live_plan(&ns);
    // reboot: the plain apply comes back, not the fallback
    let out = reboot(&ns, &tmp);
    assert!(out.contains("the last accepted policy"), "{out}");
    // the plan is named once (with the revision), not again after the table
    let booted = tmp.dir().revisions().unwrap().pop().unwrap();
    assert_eq!(out.matches(booted.fingerprint.as_str()).count(), 1, "{out}");
    assert_eq!(live_plan(&ns), applied);
    // a trial over it, and its rollback, bring the plain apply back
    let ssh = tmp.policy("ssh", SSH);
    sw(&ns, &tmp, &["apply", &ssh, "--confirm", "60s"]).assert_ok();
    assert_ne!(live_plan(&ns), applied);
    sw(&ns, &tmp, &["rollback"]).assert_ok();
    assert_eq!(live_plan(&ns), applied);
    // an unconfirmed trial never becomes what boot loads
    sw(&ns, &tmp, &["apply", &ssh, "--confirm", "60s"]).assert_ok();
    reboot(&ns, &tmp);
    assert_eq!(live_plan(&ns), applied);
    // every commit is a revision, self-contained, kept per namespace and table
    let revisions = tmp.dir().revisions().unwrap();
    let origins: Vec<&str> = revisions.iter().map(|r| r.origin.as_str()).collect();
    assert_eq!(
        origins,
        [
            "apply",
            "boot",
            "confirm-window",
            "rollback",
            "confirm-window",
            "boot"
        ]
    );
    assert!(revisions.iter().all(|r| !r.policy_text.is_empty()));
}

#[cfg_attr(not(statewall_root), ignore = "needs root: creates network namespaces")]
#[test]
fn a_reapply_sends_nothing_and_a_changed_plan_keeps_every_unchanged_rules_counters() {
    let pair = Pair::new("lc-idem");
    let tmp = Tmp::new("lc-idem");
    let _l = listen_tcp(&pair.fw, &[22, 8080]);
    let web = tmp.policy("web", SSH_WEB);
    sw(&pair.fw, &tmp, &["apply", &web]).assert_ok();
    for port in [22, 8080] {
        assert_eq!(
            probe_tcp(&pair.client, fw_v4(port), PROBE_TIMEOUT),
            Probe::Connected
        );
    }
    let before = status(&pair.fw, &tmp);
    // the same plan: nothing sent, counters intact
    let out = sw(&pair.fw, &tmp, &["apply", &web]);
    out.assert_ok();
    assert!(out.stdout.starts_with("unchanged"), "{out}");
    let again = status(&pair.fw, &tmp);
    assert_eq!(packets_of(&again, "ssh"), packets_of(&before, "ssh"));
    let handles = |st: &serde_json::Value| st["chains"][0]["rules"][0]["handle"].clone();
    assert_eq!(
        handles(&again),
        handles(&before),
        "the same rules: nothing was sent"
    );
    assert!(packets_of(&before, "ssh") > 0);
    // a changed plan (web moves to 8081): ssh and the baseline keep theirs, web starts anew
    let moved = tmp.policy("moved", &SSH_WEB.replace("8080", "8081"));
    let out = sw(&pair.fw, &tmp, &["apply", &moved]);
    out.assert_ok();
    assert!(out.stdout.contains("rules kept their counters"), "{out}");
    let after = status(&pair.fw, &tmp);
    assert_eq!(packets_of(&after, "ssh"), packets_of(&before, "ssh"));
    // carried, not reset (a late FIN/ACK of the probes may still add a packet or two)
    assert!(
        packets_of(&after, "established") >= packets_of(&before, "established")
            && packets_of(&before, "established") > 0
    );
    assert_eq!(packets_of(&after, "web"), 0);
}

#[cfg_attr(not(statewall_root), ignore = "needs root: creates network namespaces")]
#[test]
fn only_a_table_statewall_made_is_ever_touched() {
    let ns = Netns::new("lc-foreign");
    let tmp = Tmp::new("lc-foreign");
    ns.nft(["add", "table", "inet", "firewalld"]).assert_ok();
    ns.nft([
        "add",
        "chain",
        "inet",
        "firewalld",
        "c",
        "{ type filter hook input priority 10; policy accept; }",
    ])
    .assert_ok();
    let theirs = ruleset(&ns);
    let ssh = tmp.policy("ssh", SSH);
    for args in [
        vec!["--table", "firewalld", "apply", ssh.as_str()],
        vec![
            "--table",
            "firewalld",
            "apply",
            ssh.as_str(),
            "--confirm",
            "60s",
        ],
        vec!["--table", "firewalld", "remove"],
        vec!["--table", "firewalld", "boot"],
        vec!["--table", "firewalld", "status"],
        vec!["--table", "firewalld", "verify"],
        vec!["--table", "firewalld", "enforce", ssh.as_str()],
    ] {
        let out = sw(&ns, &tmp, &args);
        out.assert_code(6);
        assert!(
            out.stderr.contains("not made by statewall"),
            "{args:?}: {out}"
        );
        assert_eq!(
            ruleset(&ns),
            theirs,
            "{args:?} left firewalld's table alone"
        );
    }
}

#[cfg_attr(not(statewall_root), ignore = "needs root: creates network namespaces")]
#[test]
fn the_mode_does_not_slip_back_to_audit_and_only_the_audited_policy_is_enforced() {
    let ns = Netns::new("lc-mode");
    let tmp = Tmp::new("lc-mode");
    let audited = tmp.policy("audited", &format!("mode = \"audit\"\n{SSH_WEB}"));
    sw(&ns, &tmp, &["apply", &audited]).assert_ok();
    // enforcing another policy than the audited one is refused
    let other = tmp.policy("other", SSH);
    let out = sw(&ns, &tmp, &["enforce", &other]);
    out.assert_code(6);
    assert!(out.stderr.contains("not the one being audited"), "{out}");
    let out = sw(&ns, &tmp, &["enforce", &audited]);
    out.assert_ok();
    assert_eq!(status(&ns, &tmp)["mode"], "enforce");
    // the file still says audit: a routine apply must not accept everything again
    let out = sw(&ns, &tmp, &["apply", &audited]);
    out.assert_code(6);
    assert!(out.stderr.contains("pass --audit"), "{out}");
    assert_eq!(status(&ns, &tmp)["mode"], "enforce");
    // boot loads the enforcing revision
    reboot(&ns, &tmp);
    assert_eq!(status(&ns, &tmp)["mode"], "enforce");
    // saying so explicitly goes back to audit
    sw(&ns, &tmp, &["apply", &audited, "--audit"]).assert_ok();
    assert_eq!(status(&ns, &tmp)["mode"], "audit");
}

/// With a real sshd on 2222: the trial's confirm wants a NEW connection to 2222 counted by
/// the candidate's rules; with the accepted record damaged a reboot loads the newest accepted
/// revision of the history, and when boot must fall back further (the history gone too), the
/// fallback keeps 2222 open as well as 22.
#[cfg_attr(not(statewall_root), ignore = "needs root: creates network namespaces")]
#[test]
fn with_sshd_on_2222_confirm_proves_it_and_the_fallback_keeps_it_open() {
    let pair = Pair::new("lc-sshd");
    let tmp = Tmp::new("lc-sshd");
    let _sshd = Sshd::start(&pair.fw, 2222);
    let p = tmp.policy("ssh2222", "[[allow]]\nname = \"ssh\"\ntcp = [2222]\n");
    sw(&pair.fw, &tmp, &["apply", &p, "--confirm", "60s"]).assert_ok();
    let rec = tmp.pending().unwrap();
    assert_eq!(rec.sshd_ports, [2222]);
    // nothing counted yet: refused
    let out = sw_new_session(&pair.fw, &tmp, &["confirm"]);
    out.assert_code(6);
    assert!(out.stderr.contains("port (2222)"), "{out}");
    // a NEW connection to the real sshd, through the candidate's ssh rule
    assert_eq!(
        probe_tcp(&pair.client, fw_v4(2222), PROBE_TIMEOUT),
        Probe::Connected
    );
    sw_new_session(&pair.fw, &tmp, &["confirm"]).assert_ok();
    assert_eq!(tmp.confirmed().unwrap().sshd_ports, [2222]);
    // the accepted record damaged, then a reboot: the history's confirmed revision
    std::fs::write(tmp.dir().file(Kind::Confirmed), "garbage").unwrap();
    let out = reboot(&pair.fw, &tmp);
    assert!(
        out.contains("newest accepted revision") && out.contains("confirm "),
        "{out}"
    );
    assert_eq!(
        probe_tcp(&pair.client, fw_v4(2222), PROBE_TIMEOUT),
        Probe::Connected
    );
    // and the accepted record is that revision again
    assert_eq!(tmp.confirmed().unwrap().sshd_ports, [2222]);
    // the history's accepted revisions gone as well (its trial's and boot's kept, which
    // boot never loads): the fallback opens sshd's port too
    let revisions = tmp.dir().path().join("revisions");
    let mut gone = 0;
    for e in std::fs::read_dir(&revisions).unwrap() {
        let p = e.unwrap().path();
        let name = p.file_name().unwrap().to_string_lossy().into_owned();
        if [".apply.", ".confirm.", ".enforce."]
            .iter()
            .any(|o| name.contains(o))
        {
            std::fs::remove_file(&p).unwrap();
            gone += 1;
        }
    }
    assert_eq!(gone, 1, "the confirm's revision");
    // (boot wrote the accepted record again from it: damaged once more)
    std::fs::write(tmp.dir().file(Kind::Confirmed), "garbage").unwrap();
    let out = reboot(&pair.fw, &tmp);
    assert!(out.contains("built-in safe policy"), "{out}");
    let live = ruleset(&pair.fw);
    assert!(live.contains("2222"), "{live}");
    assert_eq!(
        probe_tcp(&pair.client, fw_v4(2222), PROBE_TIMEOUT),
        Probe::Connected
    );
}

/// A damaged pending record never leaves a candidate live past its deadline, and never
/// blocks the next apply.
#[cfg_attr(not(statewall_root), ignore = "needs root: creates network namespaces")]
#[test]
fn damaged_pending_records_neither_stop_the_rollback_nor_block_apply() {
    let ns = Netns::new("lc-damage");
    let tmp = Tmp::new("lc-damage");
    let web = tmp.policy("web", SSH_WEB);
    sw(&ns, &tmp, &["apply", &web]).assert_ok();
    let applied = live_plan(&ns);
    let ssh = tmp.policy("ssh", SSH);
    // both copies damaged while pending: the guard rolls back from what it holds
    sw(&ns, &tmp, &["apply", &ssh, "--confirm", "3s"]).assert_ok();
    for kind in [Kind::Pending, Kind::PendingCopy] {
        std::fs::write(tmp.dir().file(kind), "{\"statewall_state\": 1, \"kin").unwrap();
    }
    let deadline = std::time::Instant::now() + Duration::from_secs(15);
    while live_plan(&ns) != applied {
        assert!(
            std::time::Instant::now() < deadline,
            "no rollback; guard log:\n{}",
            std::fs::read_to_string(tmp.dir().log_path()).unwrap_or_default()
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    // the first copy truncated: rollback works from the second
    sw(&ns, &tmp, &["apply", &ssh, "--confirm", "60s"]).assert_ok();
    let f = tmp.dir().file(Kind::Pending);
    let text = std::fs::read_to_string(&f).unwrap();
    std::fs::write(&f, &text[..text.len() / 2]).unwrap();
    sw(&ns, &tmp, &["rollback"]).assert_ok();
    assert_eq!(live_plan(&ns), applied);
    // the first copy deleted: still pending (the second copy), rollback works
    sw(&ns, &tmp, &["apply", &ssh, "--confirm", "60s"]).assert_ok();
    std::fs::remove_file(tmp.dir().file(Kind::Pending)).unwrap();
    let out = sw(&ns, &tmp, &["apply", &web]);
    out.assert_code(6);
    assert!(out.stderr.contains("a change is pending"), "{out}");
    sw(&ns, &tmp, &["rollback"]).assert_ok();
    assert_eq!(live_plan(&ns), applied);
    // both garbage: set aside, apply is not blocked
    sw(&ns, &tmp, &["apply", &ssh, "--confirm", "60s"]).assert_ok();
    std::fs::write(tmp.dir().file(Kind::Pending), "x").unwrap();
    std::fs::write(tmp.dir().file(Kind::PendingCopy), "y").unwrap();
    let out = sw(&ns, &tmp, &["apply", &web]);
    out.assert_ok();
    assert!(out.stderr.contains("set aside"), "{out}");
}

/// An unnamed namespace (a container's: `--netns /proc/PID/ns/net`) keeps its records under
/// its inode number, which the kernel gives the next namespace as soon as this one is gone.
/// The records say which life of the namespace wrote them (the boot and the namespace's
/// cookie): a new namespace that finds another life's records under its number moves them
/// aside and boots the safe policy, never the dead namespace's, nor rolls back to it.
#[cfg_attr(not(statewall_root), ignore = "needs root: creates network namespaces")]
#[test]
fn a_reused_inode_number_does_not_hand_a_dead_namespaces_records_to_the_next() {
    use std::os::unix::fs::MetadataExt;
    use std::process::{Command, Stdio};
    struct Held(std::process::Child);
    impl Drop for Held {
        fn drop(&mut self) {
            let _ = self.0.kill();
            let _ = self.0.wait();
        }
    }
    // an unnamed namespace, alive while its process is
    let unnamed = || {
        let child = Command::new("unshare")
            .args(["--net", "--", "sleep", "120"])
            .stdin(Stdio::null())
            .spawn()
            .unwrap();
        let path = format!("/proc/{}/ns/net", child.id());
        let held = Held(child);
        let host = std::fs::metadata("/proc/self/ns/net").unwrap().ino();
        let mut ino = host;
        for _ in 0..100 {
            ino = std::fs::metadata(&path).map_or(host, |m| m.ino());
            if ino != host {
                break;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        assert_ne!(ino, host, "unshare --net made no namespace");
        (held, path, ino)
    };
    let tmp = Tmp::new("lc-reuse");
    let run = |path: &str, args: &[&str]| {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_statewall"));
        cmd.arg("--state-dir")
            .arg(tmp.state())
            .args(["--netns", path])
            .args(args)
            .env_remove("SSH_CONNECTION")
            .env_remove("STATEWALL_STATE_DIR");
        crate::support::run_cmd(cmd, crate::support::CMD_TIMEOUT)
    };
    let (a, path_a, ino_a) = unnamed();
    let web = tmp.policy("web", SSH_WEB);
    run(&path_a, &["apply", &web, "--force"]).assert_ok();
    let scope_a = tmp.state().join(format!("ns/ino-{ino_a}"));
    let life_a = std::fs::read_to_string(scope_a.join("statewall/namespace-lifetime")).unwrap();
    let boot_id = std::fs::read_to_string("/proc/sys/kernel/random/boot_id").unwrap();
    assert!(life_a.starts_with(boot_id.trim()), "{life_a}");
    // its own next command keeps its records
    let out = run(&path_a, &["status"]);
    out.assert_ok();
    assert!(!out.stderr.contains("another namespace"), "{out}");
    // B is what A's inode number would be once A is gone: A's records under B's number (the
    // kernel reuses a freed number at once, but other tests' namespaces may take it first)
    let (b, path_b, ino_b) = unnamed();
    let scope_b = tmp.state().join(format!("ns/ino-{ino_b}"));
    let copied = Command::new("cp")
        .arg("-a")
        .arg(&scope_a)
        .arg(&scope_b)
        .status()
        .unwrap();
    assert!(copied.success());
    drop(a);
    let out = run(&path_b, &["boot"]);
    out.assert_ok();
    assert!(
        out.stderr
            .contains("another namespace with this inode number"),
        "{out}"
    );
    assert!(out.stdout.contains("built-in safe policy"), "{out}");
    assert!(scope_b.join("statewall.gone/confirmed.json").exists());
    // B's records are B's now: a second command says nothing, and A's stay aside
    let life_b = std::fs::read_to_string(scope_b.join("statewall/namespace-lifetime")).unwrap();
    assert_ne!(life_a, life_b);
    let out = run(&path_b, &["status"]);
    out.assert_ok();
    assert!(!out.stderr.contains("another namespace"), "{out}");
    drop(b);
}

/// An apply killed between its commit and its record (measured with strace fault injection:
/// SIGKILL at its first write after the batch) leaves a live table that is not what boot
/// loads; so does a table committed with another state directory, which is how this test makes
/// it. `status` says so, with both plans and the way out, and `--json` has it; an apply of the
/// live policy records it.
#[cfg_attr(not(statewall_root), ignore = "needs root: creates network namespaces")]
#[test]
fn status_says_when_the_live_table_is_not_what_boot_loads() {
    let ns = Netns::new("lc-unrec");
    let tmp = Tmp::new("lc-unrec");
    let other = Tmp::new("lc-unrec-other");
    let ssh = tmp.policy("ssh", SSH);
    let web = tmp.policy("web", SSH_WEB);
    sw(&ns, &tmp, &["apply", &ssh]).assert_ok();
    let out = sw(&ns, &tmp, &["status"]);
    out.assert_ok();
    assert!(!out.stdout.contains("NOT WHAT BOOT LOADS"), "{out}");
    let accepted = status(&ns, &tmp);
    assert_eq!(accepted["boot_loads_live"], true, "{accepted}");
    let out = sw(&ns, &tmp, &["metrics"]);
    assert!(
        out.stdout
            .contains("statewall_boot_loads_live{table=\"statewall\"} 1\n"),
        "{out}"
    );
    sw(&ns, &other, &["apply", &web]).assert_ok();
    let ssh_plan = tmp.confirmed().unwrap().fingerprint;
    let web_plan = other.confirmed().unwrap().fingerprint;
    let out = sw(&ns, &tmp, &["status"]);
    out.assert_ok();
    assert!(
        out.stdout.contains(&format!(
            "NOT WHAT BOOT LOADS: the live plan {web_plan} is not the accepted one, plan {ssh_plan}"
        )),
        "{out}"
    );
    let doc = status(&ns, &tmp);
    assert_eq!(doc["boot_loads_live"], false, "{doc}");
    assert_eq!(doc["accepted_plan"], ssh_plan.as_str(), "{doc}");
    // and a scrape, for an alert: the next reboot changes the firewall
    let out = sw(&ns, &tmp, &["metrics"]);
    out.assert_ok();
    assert!(
        out.stdout
            .contains("statewall_boot_loads_live{table=\"statewall\"} 0\n"),
        "{out}"
    );
    // and it is true: a reboot brings the accepted one back
    reboot(&ns, &tmp);
    assert_eq!(status(&ns, &tmp)["boot_loads_live"], true);
    // an apply of the live policy records it
    sw(&ns, &other, &["apply", &web]).assert_ok();
    sw(&ns, &tmp, &["apply", &web]).assert_ok();
    let out = sw(&ns, &tmp, &["status"]);
    assert!(!out.stdout.contains("NOT WHAT BOOT LOADS"), "{out}");
}

/// A batch the kernel took whose outcome netlink then lost (measured with strace: ENOBUFS on
/// the GETGEN sent after the batch, EIO on the receive of its outcome) is not reported as
/// "nothing was applied": the generation moved, so the change may be live, and `status` shows
/// that it is and that boot does not load it. (A debug-only fault loses the outcome here.)
#[cfg_attr(not(statewall_root), ignore = "needs root: creates network namespaces")]
#[test]
fn a_lost_batch_outcome_is_reported_as_unknown_never_as_nothing_applied() {
    let ns = Netns::new("lc-lost");
    let tmp = Tmp::new("lc-lost");
    let ssh = tmp.policy("ssh", SSH);
    let web = tmp.policy("web", SSH_WEB);
    sw(&ns, &tmp, &["apply", &ssh]).assert_ok();
    let mut cmd = crate::rollout::sw_cmd(&ns, &tmp, &["apply", &web]);
    cmd.env("STATEWALL_TEST_FAULT", "lose-batch-outcome");
    let out = crate::support::run_cmd(cmd, crate::support::CMD_TIMEOUT);
    out.assert_code(3);
    assert!(
        out.stderr.contains("commit outcome unknown")
            && out.stderr.contains("may have been committed")
            && !out.stderr.contains("nothing was applied"),
        "{out}"
    );
    let out = sw(&ns, &tmp, &["status"]);
    out.assert_ok();
    assert!(out.stdout.contains("NOT WHAT BOOT LOADS"), "{out}");
    assert_eq!(status(&ns, &tmp)["boot_loads_live"], false);
}
