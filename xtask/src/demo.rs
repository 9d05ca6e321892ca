//! `cargo xtask demo`: the core story, end to end, in two throwaway network namespaces.
//!
//! `sw-demo-fw` (the firewalled host) and `sw-demo-client` are joined by a veth pair that is
//! created inside `sw-demo-fw` with its peer moved straight into `sw-demo-client`, so the host
//! namespace never sees an interface, an address or a rule. Everything is torn down by
//! [`Lab`]'s `Drop`: on success, on error, on panic and on Ctrl-C (the signal only sets a flag
//! that the next step sees; the running child gets the SIGINT itself).

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::thread;
use std::time::{Duration, Instant};

use crate::deps;
use crate::util::{self, Result};
use crate::veth::{self, CLIENT_V4, CLIENT_V6, FW_V4, FW_V6};

const FW: &str = "sw-demo-fw";
const CLIENT: &str = "sw-demo-client";
const FW_IF: &str = "veth-fw";
const CLIENT_IF: &str = "veth-client";
const POLICY: &str = "examples/web-and-mail.toml";
const LISTEN_PORTS: &[u16] = &[22, 25, 80, 443, 8080, 113];
const PROBES: &[(u16, &str)] = &[
    (22, "ssh"),
    (25, "smtp"),
    (80, "http"),
    (443, "https"),
    (8080, "not in the policy"),
    (113, "ident: reject"),
];
const PROBE_TIMEOUT_MS: u64 = 1500;
const STATEWALL_TIMEOUT: Duration = Duration::from_secs(60);
const SETUP_TIMEOUT: Duration = Duration::from_secs(10);

pub fn run(args: &[String]) -> Result {
    let mut release = false;
    let mut rollout = false;
    for arg in args {
        match arg.as_str() {
            "--release" => release = true,
            "rollout" => rollout = true,
            other => {
                return Err(format!(
                    "demo: unknown argument {other:?} (try `rollout` and/or --release)"
                ));
            }
        }
    }
    util::trap_signals();
    if !util::is_root() {
        return Err("the demo creates network namespaces and a veth pair: run it as root".into());
    }
    let mut story = Story::default();

    story.section("Prerequisites: system packages");
    deps::run()?;
    util::check_interrupted()?;

    let profile = if release { "release" } else { "debug" };
    story.section(&format!("Build statewall ({profile} build)"));
    let bin = build(release)?;
    println!("binary: {}", bin.display());
    util::check_interrupted()?;

    story.section("Lab: two namespaces joined by a veth pair");
    let exe = std::env::current_exe().map_err(|e| format!("cannot find the xtask binary: {e}"))?;
    let mut lab = Lab::default();
    // statewall's records for this demo only, never the host's /var/lib/statewall
    let state = std::env::temp_dir().join(format!("sw-demo-records-{}", std::process::id()));
    // SAFETY: the demo is single-threaded here; the variable is read by the statewall
    // commands it starts
    unsafe { std::env::set_var("STATEWALL_STATE_DIR", &state) };
    let result = lab.create(&exe).and_then(|()| {
        if rollout {
            rollout_story(&mut story, &bin, &exe)
        } else {
            walk_through(&mut story, &bin, &exe)
        }
    });
    let result = match result {
        Err(_) if util::interrupted() => Err("interrupted (the lab is removed below)".to_string()),
        other => other,
    };
    if let Err(e) = &result {
        util::flush();
        println!();
        println!("demo FAILED: {e}");
    }
    drop(lab);
    let _ = std::fs::remove_dir_all(&state);
    if result.is_ok() {
        println!();
        println!(
            "demo done: the host namespace was never touched (no interface, address or rule)."
        );
    }
    result
}

/// The narrated part, once the lab is up.
fn walk_through(story: &mut Story, bin: &Path, exe: &Path) -> Result {
    story.section("Before any firewall: everything answers");
    probe_table(exe)?;

    story.section("Check the policy");
    statewall(bin, &["check", POLICY])?;

    story.section("Plan: the nft script statewall would commit (nothing is applied)");
    statewall(bin, &["plan", POLICY])?;

    story.section("Apply in audit mode: the final rule counts and accepts");
    statewall(bin, &["apply", POLICY, "--audit"])?;

    story.section("Probe from the client (audit mode: nothing unexpected is dropped)");
    probe_table(exe)?;

    story.section("Per-rule counters, read back over netlink");
    statewall(bin, &["status"])?;

    story.section("Verify: what the final rule counted, by port and source (kept by the kernel)");
    statewall(bin, &["verify"])?;

    story.section("Enforce: one atomic swap, only the final rule changes, counters carry over");
    statewall(bin, &["enforce", POLICY])?;

    story.section("Probe again: 8080 times out (final drop), 113 is refused at once (tcp-reset)");
    probe_table(exe)?;

    story.section("Counters again: the other rules kept theirs, the 'final' rule now counts drops");
    statewall(bin, &["status"])?;

    story.section("Remove statewall's table (and nothing else)");
    statewall(bin, &["remove"])?;
    let (status, out, err) = util::run_capture(
        Command::new("ip")
            .args(["netns", "exec", FW, "nft", "list", "ruleset"])
            .stdin(Stdio::null()),
    )?;
    if !status.success() {
        return Err(format!("nft list ruleset in {FW} failed: {}", err.trim()));
    }
    if out.trim().is_empty() {
        println!("oracle: `ip netns exec {FW} nft list ruleset` is empty again");
        Ok(())
    } else {
        Err(format!(
            "after `statewall remove` the ruleset in {FW} is not empty:\n{out}"
        ))
    }
}

#[derive(Default)]
struct Story {
    n: usize,
}

impl Story {
    fn section(&mut self, title: &str) {
        self.n += 1;
        util::flush();
        println!();
        println!("== {}. {title}", self.n);
    }
}

fn build(release: bool) -> Result<PathBuf> {
    let root = util::repo_root();
    let mut cmd = Command::new(util::cargo());
    cmd.args(["build", "--package", "statewall", "--bin", "statewall"])
        .current_dir(&root);
    if release {
        cmd.arg("--release");
    }
    println!("$ {}", util::display_command(&cmd));
    util::run_ok(&mut cmd)?;
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .map(|t| if t.is_absolute() { t } else { root.join(t) })
        .unwrap_or_else(|| root.join("target"));
    let bin = target
        .join(if release { "release" } else { "debug" })
        .join("statewall");
    if bin.exists() {
        Ok(bin)
    } else {
        Err(format!(
            "the build succeeded but {} is missing",
            bin.display()
        ))
    }
}

/// The safe rollout, narrated: audit with confirm, verify, enforce with confirm, and a
/// lockout (a candidate that forgets ssh) that heals itself when nobody confirms it.
fn rollout_story(story: &mut Story, bin: &Path, exe: &Path) -> Result {
    // statewall's state for this demo only (never the host's /var/lib/statewall)
    let state = std::env::temp_dir().join(format!("sw-demo-state-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&state);
    let bad = std::env::temp_dir().join(format!("sw-demo-no-ssh-{}.toml", std::process::id()));
    std::fs::write(
        &bad,
        "# a candidate that forgets ssh\n[[allow]]\nname = \"http\"\ntcp = [80]\n",
    )
    .map_err(|e| format!("cannot write {}: {e}", bad.display()))?;
    let result = rollout_steps(story, bin, exe, &state, &bad);
    let _ = std::fs::remove_dir_all(&state);
    let _ = std::fs::remove_file(&bad);
    result
}

fn rollout_steps(story: &mut Story, bin: &Path, exe: &Path, state: &Path, bad: &Path) -> Result {
    let st = state.to_str().ok_or("state path is not UTF-8")?;
    let bad = bad.to_str().ok_or("temp path is not UTF-8")?;
    // the admin's SSH session, as the lint sees it: from the client to port 22 of the host
    let admin = [("SSH_CONNECTION", "192.0.2.2 50022 192.0.2.1 22")];
    let sw_expect = |args: &[&str], code: i32| -> Result {
        let mut all = vec!["--state-dir", st];
        all.extend_from_slice(args);
        statewall_with(bin, &all, &admin, code)
    };
    let sw = |args: &[&str]| sw_expect(args, 0);

    story.section("Apply in audit mode, with a way back: no confirm within 60 s and it rolls back");
    sw(&["apply", POLICY, "--audit", "--confirm", "60s"])?;
    story.section("From a NEW connection: the services answer (audit mode drops nothing)");
    probe_table(exe)?;
    story.section(
        "Confirm: the counters prove a NEW ssh connection came in through the candidate's own ssh rule; it becomes what boot loads",
    );
    println!(
        "(here the demo's own session confirms; on a real machine do it from a NEW ssh connection)"
    );
    sw(&["confirm"])?;

    story.section("Verify: which rules saw traffic, what enforce would drop");
    sw(&["verify"])?;

    story.section("Enforce, with a way back: only the final rule changes, counters carry over");
    sw(&["enforce", POLICY, "--confirm", "60s"])?;
    probe_table(exe)?;
    sw(&["confirm"])?;

    story.section("A mistake: a candidate that forgets ssh. The lockout lint refuses it");
    let mut args = vec!["--state-dir", st, "apply", bad, "--confirm", "10s"];
    statewall_with(bin, &args, &admin, 6)?;

    story.section("Forced anyway, with --confirm 10s: new SSH connections now fail (locked out)");
    args.push("--force");
    statewall_with(bin, &args, &admin, 0)?;
    probe_table(exe)?;

    story.section(
        "A confirm now is refused: no NEW ssh connection was counted by the candidate's rules",
    );
    sw_expect(&["confirm"], 6)?;
    story
        .section("Nobody can confirm: the guard (outside any terminal) rolls back at the deadline");
    // the records of the demo's namespace and table, in the demo's state directory
    let pending = state.join(format!("ns/name-{FW}/statewall/pending.json"));
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        util::check_interrupted()?;
        thread::sleep(Duration::from_millis(500));
        if !pending.exists() {
            break;
        }
        if Instant::now() > deadline {
            return Err("no rollback within 30 s".into());
        }
    }
    println!("the pending change is gone; the confirmed enforce table is back:");
    probe_table(exe)?;
    sw(&["status"])?;
    sw(&["remove"])?;
    Ok(())
}

/// Runs statewall against the demo namespace, printed as a user would type it.
fn statewall(bin: &Path, args: &[&str]) -> Result {
    statewall_with(bin, args, &[], 0)
}

/// The same with extra environment, expecting exit code `expect`.
fn statewall_with(bin: &Path, args: &[&str], env: &[(&str, &str)], expect: i32) -> Result {
    util::check_interrupted()?;
    let mut cmd = Command::new(bin);
    cmd.arg("--netns")
        .arg(FW)
        .args(args)
        .current_dir(util::repo_root())
        .stdin(Stdio::null());
    for (k, v) in env {
        cmd.env(k, v);
    }
    let line = util::display_command(&cmd);
    let shown: Vec<String> = env.iter().map(|(k, v)| format!("{k}='{v}' ")).collect();
    println!("$ {}{line}", shown.concat());
    util::flush();
    let mut child = cmd
        .spawn()
        .map_err(|e| format!("cannot run {}: {e}", bin.display()))?;
    let status = util::wait_bounded(&mut child, &line, STATEWALL_TIMEOUT)?;
    if status.code() == Some(expect) {
        if expect != 0 {
            println!("(exit code {expect}, as expected)");
        }
        return Ok(());
    }
    let meaning = match status.code() {
        Some(1) => " = invalid policy",
        Some(2) => " = usage error",
        Some(3) => " = kernel/commit error, nothing applied",
        Some(4) => " = ruleset changed underneath, nothing applied",
        Some(5) => " = no statewall table",
        Some(6) => " = refused for safety (it would cut off SSH)",
        _ => "",
    };
    Err(format!(
        "`{line}` failed ({}{meaning})",
        util::describe_status(status)
    ))
}

/// Connects from the client to each probe port over IPv4 and IPv6 (in parallel) and prints
/// one table row per port.
fn probe_table(exe: &Path) -> Result {
    util::check_interrupted()?;
    let mut cmd = Command::new("ip");
    cmd.args(["netns", "exec", CLIENT])
        .arg(exe)
        .arg("probe")
        .arg(PROBE_TIMEOUT_MS.to_string())
        .stdin(Stdio::null());
    for (port, _) in PROBES {
        cmd.arg(format!("{FW_V4}:{port}"));
        cmd.arg(format!("[{FW_V6}]:{port}"));
    }
    println!("from {CLIENT}: TCP connect, {PROBE_TIMEOUT_MS} ms timeout");
    let (status, out, err) = util::run_capture(&mut cmd)?;
    if !status.success() {
        return Err(format!(
            "probing from {CLIENT} failed ({}): {}",
            util::describe_status(status),
            err.trim()
        ));
    }
    let results: Vec<String> = out
        .lines()
        .map(|line| {
            let mut f = line.split('\t');
            let (_addr, result, ms) = (f.next(), f.next().unwrap_or("?"), f.next());
            let result = result.replace("timed-out", "timed out");
            format!("{result} ({} ms)", ms.unwrap_or("?"))
        })
        .collect();
    if results.len() != PROBES.len() * 2 {
        return Err(format!("unexpected probe output:\n{out}{err}"));
    }
    println!("  {:<6} {:<18} {:<22} {}", "port", "service", FW_V4, FW_V6);
    for (i, (port, what)) in PROBES.iter().enumerate() {
        println!(
            "  {:<6} {:<18} {:<22} {}",
            port,
            what,
            results[2 * i],
            results[2 * i + 1]
        );
    }
    Ok(())
}

/// The namespaces and the listener process; `Drop` removes all of it.
#[derive(Default)]
struct Lab {
    namespaces: Vec<&'static str>,
    listener: Option<Child>,
}

impl Lab {
    fn create(&mut self, exe: &Path) -> Result {
        for ns in [FW, CLIENT] {
            if Path::new("/run/netns").join(ns).exists() {
                println!("namespace {ns} is left over from an interrupted run: deleting it");
                veth::sh(&["ip", "netns", "del", ns], true)?;
            }
        }
        for ns in [FW, CLIENT] {
            veth::sh(&["ip", "netns", "add", ns], true)?;
            self.namespaces.push(ns);
            veth::sh(&["ip", "-n", ns, "link", "set", "lo", "up"], true)?;
        }
        // Created inside FW, the peer goes straight into CLIENT: never in the host namespace.
        veth::pair(FW, FW_IF, CLIENT, CLIENT_IF, true)?;
        println!("{FW} ({FW_V4}, {FW_V6}) <-> {CLIENT} ({CLIENT_V4}, {CLIENT_V6}) are up");
        self.start_listeners(exe)
    }

    fn start_listeners(&mut self, exe: &Path) -> Result {
        let ports: Vec<String> = LISTEN_PORTS.iter().map(u16::to_string).collect();
        let mut cmd = Command::new("ip");
        cmd.args(["netns", "exec", FW])
            .arg(exe)
            .arg("listen")
            .args(&ports)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped());
        let mut child = cmd
            .spawn()
            .map_err(|e| format!("cannot start the listeners: {e}"))?;
        let stdout = child.stdout.take();
        self.listener = Some(child);
        let (tx, rx) = mpsc::channel();
        if let Some(stdout) = stdout {
            thread::spawn(move || {
                let mut line = String::new();
                let _ = BufReader::new(stdout).read_line(&mut line);
                let _ = tx.send(line);
            });
        }
        match rx.recv_timeout(SETUP_TIMEOUT) {
            Ok(line) if line.trim() == "ready" => {
                println!(
                    "TCP listeners in {FW} on [::] (IPv4 and IPv6), ports {}",
                    ports.join(" ")
                );
                Ok(())
            }
            Ok(_) | Err(mpsc::RecvTimeoutError::Disconnected) => {
                Err("the listener process exited before it was ready (see its error above)".into())
            }
            Err(mpsc::RecvTimeoutError::Timeout) => Err(format!(
                "the listeners were not ready within {}s",
                SETUP_TIMEOUT.as_secs()
            )),
        }
    }
}

impl Drop for Lab {
    fn drop(&mut self) {
        util::flush();
        println!();
        println!("== Cleanup");
        if let Some(mut child) = self.listener.take() {
            drop(child.stdin.take()); // the listener exits on EOF
            let _ = child.kill();
            match child.wait() {
                Ok(_) => println!("stopped the listeners (pid {})", child.id()),
                Err(e) => println!("could not reap the listener process {}: {e}", child.id()),
            }
        }
        // Deleting a namespace also destroys its veth end (and the peer) and its ruleset.
        for ns in self.namespaces.drain(..).rev() {
            match veth::sh(&["ip", "netns", "del", ns], true) {
                Ok(()) => {}
                Err(e) => println!("WARNING: {e}; remove it by hand: ip netns del {ns}"),
            }
        }
        let left: Vec<&str> = [FW, CLIENT]
            .into_iter()
            .filter(|ns| Path::new("/run/netns").join(ns).exists())
            .collect();
        if left.is_empty() {
            println!("no demo namespace is left");
        } else {
            println!("WARNING: still present: {}", left.join(", "));
        }
        util::flush();
    }
}
