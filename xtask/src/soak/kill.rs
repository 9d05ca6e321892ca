//! The failure loops, in throwaway network namespaces: SIGKILL at random points of an apply,
//! racing applies, SIGKILL of the CLI and of the guard during a confirm window, damaged state
//! files — and foreign tables that must stay byte-identical through all of it. The judge of
//! "one policy, whole" is statewall's own structural drift check (every live rule decoded and
//! fingerprinted again), with `nft` as the oracle for the foreign tables.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::thread;
use std::time::{Duration, Instant};

use super::fuzz::Rng;
use crate::util::{self, Result};

/// A namespace made for the soak, deleted on drop.
pub struct Ns(pub String);

impl Ns {
    pub fn new(name: &str) -> Result<Ns> {
        let _ = run(&["ip", "netns", "del", name]);
        run(&["ip", "netns", "add", name])?;
        let ns = Ns(name.to_string());
        run(&["ip", "-n", name, "link", "set", "lo", "up"])?;
        Ok(ns)
    }

    pub fn nft(&self, args: &[&str]) -> Result<String> {
        let mut all = vec!["ip", "netns", "exec", &self.0, "nft"];
        all.extend_from_slice(args);
        run(&all)
    }
}

impl Drop for Ns {
    fn drop(&mut self) {
        let _ = run(&["ip", "netns", "del", &self.0]);
    }
}

/// Runs a command (no shell); its stdout, or its stderr as the error.
pub fn run(words: &[&str]) -> Result<String> {
    let mut cmd = Command::new(words[0]);
    cmd.args(&words[1..]).stdin(Stdio::null());
    let (status, out, err) = util::run_capture(&mut cmd)?;
    if status.success() {
        Ok(out)
    } else {
        Err(format!("`{}`: {}", words.join(" "), err.trim()))
    }
}

/// What one loop counted.
#[derive(Debug, Default, Clone)]
pub struct Tally {
    pub iterations: u64,
    /// the table was neither absent (when allowed) nor one known policy, whole
    pub mixed_or_missing: u64,
    /// a command that must work after a kill did not (a stuck lock, a record that blocks)
    pub stuck: u64,
    pub notes: Vec<String>,
}

pub struct Soak<'a> {
    pub bin: &'a Path,
    pub ns: &'a Ns,
    pub state: PathBuf,
    pub rng: &'a mut Rng,
}

/// The live table as statewall reads it: `None` absent, `Some(Ok(fp))` one statewall plan
/// whole (no drift), `Some(Err(why))` anything else.
fn live(bin: &Path, ns: &Ns, state: &Path) -> Option<std::result::Result<String, String>> {
    let out = Command::new(bin)
        .args(["--netns", &ns.0, "--state-dir"])
        .arg(state)
        .args(["status", "--json"])
        .stdin(Stdio::null())
        .output()
        .ok()?;
    if out.status.code() == Some(5) {
        return None;
    }
    let text = String::from_utf8_lossy(&out.stdout);
    let doc: serde_json_lite::Doc = match serde_json_lite::parse(&text) {
        Some(d) => d,
        None => {
            return Some(Err(format!(
                "status: {}",
                String::from_utf8_lossy(&out.stderr)
            )));
        }
    };
    if doc.drift {
        return Some(Err(format!("drift: {}", doc.drift_reason)));
    }
    // the fingerprint from the oracle: the table's comment as nft shows it
    let listing = ns.nft(&["list", "table", "inet", "statewall"]).ok()?;
    Some(serde_json_lite::plan(&listing).ok_or_else(|| "no fingerprint".to_string()))
}

/// The few fields of `status --json` the soak reads (xtask has no JSON library).
mod serde_json_lite {
    pub struct Doc {
        pub drift: bool,
        pub drift_reason: String,
    }

    /// `statewall plan=<fp>` in a table's comment.
    pub fn plan(text: &str) -> Option<String> {
        let i = text.find("statewall plan=")? + "statewall plan=".len();
        Some(
            text[i..]
                .chars()
                .take_while(char::is_ascii_hexdigit)
                .collect(),
        )
    }

    fn field<'a>(text: &'a str, key: &str) -> Option<&'a str> {
        let at = text.find(&format!("\"{key}\": "))? + key.len() + 4;
        let rest = &text[at..];
        let end = rest.find([',', '\n']).unwrap_or(rest.len());
        Some(rest[..end].trim())
    }

    pub fn parse(text: &str) -> Option<Doc> {
        let drift = field(text, "drift")? == "true";
        let drift_reason = field(text, "drift_reason").unwrap_or("").to_string();
        Some(Doc {
            drift,
            drift_reason,
        })
    }
}

impl Soak<'_> {
    fn cmd(&self, args: &[&str]) -> Command {
        let mut c = Command::new(self.bin);
        c.args(["--netns", &self.ns.0, "--state-dir"])
            .arg(&self.state)
            .args(args)
            .env("STATEWALL_TEST_SHORT_WINDOWS", "1")
            .env_remove("SSH_CONNECTION")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null());
        c
    }

    fn ok(&self, args: &[&str]) -> bool {
        self.cmd(args).status().is_ok_and(|s| s.success())
    }

    fn fingerprint_of(&self, policy: &Path) -> Result<String> {
        // apply it once, read what the kernel holds
        if !self.ok(&["apply", &policy.display().to_string()]) {
            return Err(format!("apply {} failed", policy.display()));
        }
        match live(self.bin, self.ns, &self.state) {
            Some(Ok(fp)) => Ok(fp),
            other => Err(format!("after apply: {other:?}")),
        }
    }

    /// SIGKILL at a random moment of `apply`, `n` times, over `policies`; after each, the
    /// table must be one of the known plans, whole, and the next apply must not be blocked.
    pub fn killed_applies(&mut self, policies: &[PathBuf], n: u64) -> Result<Tally> {
        let mut known = Vec::new();
        let mut took = Vec::new();
        for p in policies {
            let t = Instant::now();
            known.push(self.fingerprint_of(p)?);
            took.push(t.elapsed());
        }
        let mut tally = Tally::default();
        for _ in 0..n {
            util::check_interrupted()?;
            let i = self.rng.below(policies.len());
            // anywhere from before the exec to after the commit
            let window = took[i].as_micros() as u64 * 3 / 2 + 2_000;
            let delay = Duration::from_micros(self.rng.next() % window);
            let mut child = self
                .cmd(&["apply", &policies[i].display().to_string()])
                .spawn()
                .map_err(|e| format!("spawn: {e}"))?;
            thread::sleep(delay);
            let _ = child.kill();
            let _ = child.wait();
            tally.iterations += 1;
            match live(self.bin, self.ns, &self.state) {
                Some(Ok(fp)) if known.contains(&fp) => {}
                other => {
                    tally.mixed_or_missing += 1;
                    tally
                        .notes
                        .push(format!("after a kill at {delay:?}: {other:?}"));
                }
            }
            // nothing a killed apply left behind may block the next one
            let next = policies[self.rng.below(policies.len())]
                .display()
                .to_string();
            if !self.ok(&["apply", &next]) {
                tally.stuck += 1;
                tally.notes.push("an apply after a kill failed".into());
            }
        }
        Ok(tally)
    }

    /// Two applies started together, `n` times (sharing the state directory, and with one
    /// each); the table ends as one of them, whole.
    pub fn racing_applies(&mut self, a: &Path, b: &Path, n: u64) -> Result<Tally> {
        let known = [self.fingerprint_of(a)?, self.fingerprint_of(b)?];
        let other_state = self.state.with_extension("other");
        let mut tally = Tally::default();
        for k in 0..n {
            util::check_interrupted()?;
            let mut first = self.cmd(&["apply", &a.display().to_string()]);
            let mut second = self.cmd(&["apply", &b.display().to_string()]);
            if k % 2 == 1 {
                second.arg("--state-dir").arg(&other_state);
            }
            let (mut x, mut y) = (
                first.spawn().map_err(|e| e.to_string())?,
                second.spawn().map_err(|e| e.to_string())?,
            );
            let _ = x.wait();
            let _ = y.wait();
            tally.iterations += 1;
            match live(self.bin, self.ns, &self.state) {
                Some(Ok(fp)) if known.contains(&fp) => {}
                other => {
                    tally.mixed_or_missing += 1;
                    tally.notes.push(format!("after a race: {other:?}"));
                }
            }
        }
        let _ = std::fs::remove_dir_all(&other_state);
        Ok(tally)
    }

    /// `apply --confirm 2s` over an accepted policy, `n` times, with SIGKILL of the CLI or
    /// of the guard at a random moment and, every other time, the pending record damaged
    /// (truncated, garbage, deleted, one or both copies). After the deadline and one more
    /// statewall command (which restarts a missing guard), the accepted policy is back.
    pub fn killed_trials(&mut self, accepted: &Path, candidate: &Path, n: u64) -> Result<Tally> {
        let base = self.fingerprint_of(accepted)?;
        let mut tally = Tally::default();
        let scope = self.state.join(format!("ns/name-{}/statewall", self.ns.0));
        for k in 0..n {
            util::check_interrupted()?;
            let mut cli = self
                .cmd(&["apply", &candidate.display().to_string(), "--confirm", "2s"])
                .spawn()
                .map_err(|e| e.to_string())?;
            let kill_cli = k % 3 == 0;
            if kill_cli {
                thread::sleep(Duration::from_micros(self.rng.next() % 40_000));
                let _ = cli.kill();
            }
            let _ = cli.wait();
            if !kill_cli {
                thread::sleep(Duration::from_millis(self.rng.next() % 1500));
                if let Some(pid) = guard_pid(&scope) {
                    // SAFETY: kill on the guard this loop started.
                    unsafe { libc::kill(pid as i32, libc::SIGKILL) };
                }
            }
            if k % 2 == 1 {
                damage(&scope, self.rng);
            }
            thread::sleep(Duration::from_millis(2200));
            // any command restarts a missing guard, which rolls back at once past the deadline
            let _ = self.cmd(&["status"]).status();
            let deadline = Instant::now() + Duration::from_secs(10);
            tally.iterations += 1;
            loop {
                match live(self.bin, self.ns, &self.state) {
                    Some(Ok(fp)) if fp == base => break,
                    other if Instant::now() > deadline => {
                        tally.mixed_or_missing += 1;
                        tally.notes.push(format!(
                            "trial {k}: not rolled back ({other:?}); guard log: {}",
                            std::fs::read_to_string(scope.join("guard.log"))
                                .unwrap_or_default()
                                .lines()
                                .rev()
                                .take(3)
                                .collect::<Vec<_>>()
                                .join(" | ")
                        ));
                        // start the next round from the accepted policy again
                        let _ = self.cmd(&["rollback"]).status();
                        let _ = self.ok(&["apply", &accepted.display().to_string()]);
                        break;
                    }
                    _ => thread::sleep(Duration::from_millis(100)),
                }
            }
            if !self.ok(&["apply", &accepted.display().to_string()]) {
                tally.stuck += 1;
                tally
                    .notes
                    .push(format!("trial {k}: the next apply was blocked"));
            }
        }
        Ok(tally)
    }
}

fn guard_pid(scope: &Path) -> Option<u32> {
    let text = std::fs::read_to_string(scope.join("pending.json")).ok()?;
    let at = text.find("\"guard_pid\": ")? + 13;
    text[at..]
        .chars()
        .take_while(char::is_ascii_digit)
        .collect::<String>()
        .parse()
        .ok()
}

/// Damages the pending record the way a disk or an admin might.
fn damage(scope: &Path, rng: &mut Rng) {
    let files = ["pending.json", "pending.copy.json"];
    let which: &[&str] = match rng.below(3) {
        0 => &files[..1],
        1 => &files[1..],
        _ => &files,
    };
    for f in which {
        let p = scope.join(f);
        match rng.below(3) {
            0 => {
                if let Ok(t) = std::fs::read(&p) {
                    let _ = std::fs::write(&p, &t[..t.len() / 2]);
                }
            }
            1 => {
                let _ = std::fs::write(&p, b"\x00garbage{");
            }
            _ => {
                let _ = std::fs::remove_file(&p);
            }
        }
    }
}

/// Tables of others, made in the namespace before the soak: iptables-nft's `ip filter`, a
/// firewalld-like `inet firewalld`, a Docker-like `ip nat`. Returns their listings.
pub fn foreign_tables(ns: &Ns) -> Result<Vec<(String, String)>> {
    run(&[
        "ip",
        "netns",
        "exec",
        &ns.0,
        "iptables-nft",
        "-A",
        "INPUT",
        "-s",
        "203.0.113.9",
        "-j",
        "DROP",
    ])?;
    for cmd in [
        "add table inet firewalld",
        "add chain inet firewalld filter_INPUT { type filter hook input priority 10; policy accept; }",
        "add rule inet firewalld filter_INPUT tcp dport 9999 reject",
        "add table ip nat",
        "add chain ip nat PREROUTING { type nat hook prerouting priority -100; policy accept; }",
        "add rule ip nat PREROUTING tcp dport 8080 dnat to 192.0.2.10:80",
    ] {
        let words: Vec<&str> = cmd.split(' ').collect();
        // nft takes the whole command as one argument list
        let mut all = vec!["ip", "netns", "exec", &ns.0, "nft"];
        all.extend(words);
        run(&all)?;
    }
    listings(ns)
}

pub fn listings(ns: &Ns) -> Result<Vec<(String, String)>> {
    let mut out = Vec::new();
    for (family, name) in [("ip", "filter"), ("inet", "firewalld"), ("ip", "nat")] {
        out.push((
            format!("{family} {name}"),
            ns.nft(&["list", "table", family, name])?,
        ));
    }
    Ok(out)
}
