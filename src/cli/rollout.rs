//! The CLI side of the safe rollout: `apply --confirm`, `guard`, `confirm`, `rollback`,
//! `boot`, `install-unit`, the lockout lint gate and the pending part of `status`.
//! The decisions are in `crate::core::rollout` and `crate::core::lint` (pure); this module does
//! the I/O: state files, the clock, the guard process, netlink.

use std::io;
// `arg0` and `pre_exec(setsid)` for the one process statewall starts: itself, as the
// rollback guard (`spawn_guard`). Never nft, iptables or a shell.
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

use crate::codec::encode;
use crate::core::identity::{self, CounterSnapshot};
use crate::core::rollout::{
    self, BootSource, Candidate, Confirmed, GuardStep, LiveIs, Pending, Previous, RollbackRecord,
    SessionAge,
};
use crate::core::{compile, lint, policy, report};
use crate::system::host;
use crate::system::netlink::{CommitError, Socket};
use crate::system::state::{Kind, StateDir};
use crate::system::{netns, readback};
use serde_json::{Value, json};

use super::{commit_error_code, commit_with_retry, exit, fail};

/// Exit code: refused by the lockout lint or by the rollout state.
pub const REFUSED: u8 = 6;

pub fn state_dir(path: &Path) -> StateDir {
    StateDir::new(std::path::absolute(path).unwrap_or_else(|_| path.to_path_buf()))
}

fn now_secs() -> u64 {
    host::realtime_ms() / 1000
}

/// `statewall` with the same `--state-dir`, as the admin would type it.
fn cmd_hint(state: &StateDir, sub: &str) -> String {
    if state.path() == Path::new(crate::system::state::DEFAULT_DIR) {
        format!("statewall {sub}")
    } else {
        format!("statewall --state-dir {} {sub}", state.path().display())
    }
}

/// Compiles `text` in `mode` for `table`; None when it no longer parses. The texts are
/// stored ones (the previous ruleset, the confirmed policy) or were checked strictly
/// already, so they parse as stored texts: see `policy::parse_stored`.
fn plan_of(text: &str, mode: &str, table: &str) -> Option<crate::core::plan::Plan> {
    match policy::parse_stored(text) {
        (Some(p), d) if !crate::core::diag::has_errors(&d) => {
            Some(compile::compile(&rollout::with_stored_mode(p, mode), table))
        }
        _ => None,
    }
}

/// The lockout lint, run in the target namespace before any apply.
pub fn lint_gate(plan: &crate::core::plan::Plan, force: bool) -> Result<(), u8> {
    let facts = host::facts();
    tracing::debug!(?facts, "lockout lint facts");
    let findings = lint::check(plan, &facts);
    if findings.is_empty() {
        return Ok(());
    }
    let mut msg = String::from("this policy would lock you out:\n");
    for f in &findings {
        msg.push_str(&format!("  - {f}\n"));
    }
    if force {
        eprint!("statewall: WARNING (--force): {msg}");
        return Ok(());
    }
    msg.push_str("nothing was applied; fix the policy, or pass --force if you really mean it");
    Err(fail(REFUSED, msg))
}

/// Refuses an apply while a change is pending (the guard would find a foreign table).
/// `strict`: an unreadable state refuses too (else, for the default directory, a warning).
pub fn refuse_if_pending(state: &StateDir, strict: bool) -> Result<(), u8> {
    match state.read::<Pending>(Kind::Pending) {
        Ok(None) => Ok(()),
        Ok(Some(p)) => Err(fail(
            REFUSED,
            format!(
                "a change is pending (rolls back at {}): `{}` or `{}` first",
                rollout::utc(p.deadline),
                cmd_hint(state, "confirm"),
                cmd_hint(state, "rollback")
            ),
        )),
        Err(e) if !strict && state.path() == Path::new(crate::system::state::DEFAULT_DIR) => {
            tracing::warn!("state directory unusable: {e}");
            Ok(())
        }
        Err(e) => Err(fail(REFUSED, format!("state: {e}"))),
    }
}

/// Re-executes this very binary as the rollback guard, in a new session.
///
/// This is the only process statewall ever starts, and it is itself: the guard must outlive
/// this CLI, its terminal and its SSH session (hangup, SIGKILL), so it cannot be a thread.
/// `setsid()` in the child detaches it from the terminal's session and process group; its
/// stdio goes to the log in the state directory, never to our (possibly dead) terminal.
fn spawn_guard(state: &StateDir, netns: Option<&str>) -> io::Result<u32> {
    let log = state.open_log().map_err(io::Error::other)?;
    let log2 = log.try_clone()?;
    // Legitimate, and the only one: statewall re-executes itself (/proc/self/exe, the very
    // binary running now, never nft, iptables or a shell) as the rollback guard, which must
    // outlive this CLI, its terminal and its SSH session, so it cannot be a thread.
    let mut cmd = Command::new("/proc/self/exe");
    cmd.arg("--state-dir").arg(state.path());
    if let Some(n) = netns {
        cmd.arg("--netns").arg(n);
    }
    cmd.arg0("statewall")
        .arg("guard")
        .stdin(Stdio::null())
        .stdout(log)
        .stderr(log2);
    // SAFETY: setsid is async-signal-safe; nothing else runs between fork and exec.
    unsafe {
        cmd.pre_exec(|| {
            if libc::setsid() < 0 {
                return Err(io::Error::last_os_error());
            }
            Ok(())
        });
    }
    let child = cmd.spawn()?;
    Ok(child.id())
}

/// Any command that finds a pending change whose guard is gone starts a new guard.
pub fn ensure_guard(state: &StateDir) {
    let rec = match state.read::<Pending>(Kind::Pending) {
        Ok(Some(r)) => r,
        Ok(None) => return,
        Err(e) => {
            tracing::warn!("state: {e}");
            return;
        }
    };
    if rec.guard_pid.is_some_and(host::guard_alive) {
        return;
    }
    match spawn_guard(state, rec.netns.as_deref()) {
        Ok(pid) => {
            eprintln!(
                "statewall: a change is pending with no guard watching it: started guard pid {pid} (rolls back at {})",
                rollout::utc(rec.deadline)
            );
            if let Ok(_lock) = state.lock()
                && let Ok(Some(mut r)) = state.read::<Pending>(Kind::Pending)
                && r.id == rec.id
                && !r.guard_pid.is_some_and(host::guard_alive)
            {
                r.guard_pid = Some(pid);
                let _ = state.write(Kind::Pending, &r);
            }
        }
        Err(e) => eprintln!("statewall: WARNING: cannot start the rollback guard: {e}"),
    }
}

/// The live table's fingerprint as the rollout sees it: `Err` when it drifted.
fn live_fingerprint(t: &crate::core::live::LiveTable) -> Result<String, String> {
    if let Some(why) = report::drift(t) {
        return Err(why);
    }
    t.stored_fingerprint()
        .map(str::to_string)
        .ok_or_else(|| "no fingerprint".to_string())
}

/// `apply POLICY --confirm SECS`: snapshot, durable pending record, guard, commit.
pub fn apply_confirm(
    state: &StateDir,
    table: &str,
    path: &Path,
    audit: bool,
    secs: u64,
    netns_path: Option<String>,
) -> u8 {
    let mode = audit.then_some("audit");
    apply_confirm_with(state, table, path, mode, false, secs, netns_path)
}

/// [`apply_confirm`] in general: `mode` overrides the policy's mode ("audit"/"enforce");
/// `carry_counters` gives every unchanged rule the live table's counters (audit → enforce).
pub fn apply_confirm_with(
    state: &StateDir,
    table: &str,
    path: &Path,
    mode: Option<&str>,
    carry_counters: bool,
    secs: u64,
    netns_path: Option<String>,
) -> u8 {
    let text = match std::fs::read_to_string(path) {
        Ok(t) => t,
        Err(e) => {
            return fail(
                exit::INVALID_POLICY,
                format!("cannot read {}: {e}", path.display()),
            );
        }
    };
    let mode = if let Some(m) = mode {
        m.to_string()
    } else {
        match policy::parse(&text).0 {
            Some(p) => p.mode.as_str().to_string(),
            None => return fail(exit::INVALID_POLICY, "the policy changed while reading it"),
        }
    };
    let Some(plan) = plan_of(&text, &mode, table) else {
        return fail(exit::INVALID_POLICY, "the policy changed while reading it");
    };
    let fingerprint = identity::fingerprint(&plan);
    let _lock = match state.lock() {
        Ok(l) => l,
        Err(e) => return fail(REFUSED, format!("state: {e}")),
    };
    if let Err(code) = refuse_if_pending(state, true) {
        return code;
    }
    let mut sock = match Socket::open() {
        Ok(s) => s,
        Err(e) => return fail(exit::KERNEL, format!("cannot open a netlink socket: {e}")),
    };
    let mut guard_pid = None;
    let id = format!("{}-{}", host::realtime_ms(), std::process::id());
    for attempt in 0..2 {
        // (a) what is live now, with its counters: the "previous" a rollback restores
        let generation = match sock.generation() {
            Ok(g) => g,
            Err(e) => return fail(exit::KERNEL, e),
        };
        let previous = match readback::read_table(table) {
            Err(e) => return fail(exit::KERNEL, e),
            Ok(None) => Previous::NoTable,
            Ok(Some(live)) => {
                let live_fp = match live_fingerprint(&live) {
                    Ok(fp) => fp,
                    Err(why) => {
                        return fail(
                            REFUSED,
                            format!(
                                "the live table inet {table} cannot be restored by statewall ({why}); nothing applied"
                            ),
                        );
                    }
                };
                let confirmed = state.read::<Confirmed>(Kind::Confirmed).ok().flatten();
                let source = match confirmed {
                    Some(c) if c.table == table && c.fingerprint == live_fp => {
                        Some((c.policy_text, c.mode))
                    }
                    _ if live_fp == fingerprint => Some((text.clone(), mode.clone())),
                    _ => None,
                };
                let Some((policy_text, prev_mode)) = source else {
                    return fail(
                        REFUSED,
                        format!(
                            "the live table inet {table} (plan {live_fp}) is not a confirmed policy, so a rollback \
                             would have nothing to go back to; nothing applied.\n  Adopt it first: \
                             `{}` with the policy that is live now, then `{}`",
                            cmd_hint(state, "apply CURRENT.toml --confirm 120s"),
                            cmd_hint(state, "confirm")
                        ),
                    );
                };
                Previous::Policy {
                    policy_text,
                    mode: prev_mode,
                    fingerprint: live_fp,
                    counters: CounterSnapshot::of(&live),
                }
            }
        };
        // (b) the durable pending record, before anything changes
        let now_ms = host::realtime_ms();
        let mut rec = Pending {
            id: id.clone(),
            table: table.to_string(),
            netns: netns_path.clone(),
            applied_at: now_ms / 1000,
            applied_boottime_ms: host::boottime_ms(),
            deadline: now_ms / 1000 + secs,
            boot_id: host::boot_id(),
            candidate: Candidate {
                policy_text: text.clone(),
                mode: mode.clone(),
                fingerprint: fingerprint.clone(),
                source: path.display().to_string(),
            },
            previous,
            guard_pid,
        };
        if let Err(e) = state.write(Kind::Pending, &rec) {
            return fail(
                REFUSED,
                format!("cannot record the pending change: {e}; nothing applied"),
            );
        }
        // (c) the guard, outside this session
        if guard_pid.is_none() {
            match spawn_guard(state, netns_path.as_deref()) {
                Ok(pid) => {
                    guard_pid = Some(pid);
                    rec.guard_pid = Some(pid);
                    if let Err(e) = state.write(Kind::Pending, &rec) {
                        let _ = state.remove(Kind::Pending);
                        return fail(
                            REFUSED,
                            format!("cannot record the guard: {e}; nothing applied"),
                        );
                    }
                }
                Err(e) => {
                    let _ = state.remove(Kind::Pending);
                    return fail(
                        REFUSED,
                        format!("cannot start the rollback guard: {e}; nothing applied"),
                    );
                }
            }
        }
        // (d) the commit, conditional on the generation the snapshot was taken at
        let seeds = match &rec.previous {
            Previous::Policy { counters, .. } if carry_counters => counters.seeds(&plan),
            _ => identity::Seeds::default(),
        };
        let batch = encode::encode_seeded(&plan, Some(generation), super::test_fault(), &seeds);
        match sock.commit(&batch) {
            Ok(after) => {
                let rules: usize = plan.chains.iter().map(|c| c.rules.len()).sum();
                println!(
                    "applied {}: table inet {table}, {rules} rules, mode {mode}, generation {generation} -> {after}\n\
                     PENDING: rolls back by itself at {} (in {secs} s), guard pid {}, unless confirmed.\n\
                     deadline: {}\n\
                     To keep it: open a NEW ssh connection (the current one proves nothing: `established` keeps it alive), then run `{}`.\n\
                     To go back now: `{}`",
                    path.display(),
                    rollout::utc(rec.deadline),
                    guard_pid.unwrap_or(0),
                    rec.deadline,
                    cmd_hint(state, "confirm"),
                    cmd_hint(state, "rollback"),
                );
                return exit::OK;
            }
            Err(CommitError::GenerationChanged) if attempt == 0 => {
                tracing::warn!(
                    "the ruleset changed while committing; re-reading and retrying once"
                );
            }
            Err(e) => {
                let _ = state.remove(Kind::Pending);
                return fail(commit_error_code(&e), e);
            }
        }
    }
    let _ = state.remove(Kind::Pending);
    fail(exit::CHANGED_UNDERNEATH, CommitError::GenerationChanged)
}

/// The rollback, under the state lock: restore the previous ruleset if the candidate is still
/// live, refuse (and record why) if someone else changed statewall's table.
/// `only`: act only on this pending change (the guard's). Returns a message for the log.
fn do_rollback(state: &StateDir, only: Option<&str>) -> Result<String, String> {
    let _lock = state.lock().map_err(|e| e.to_string())?;
    let rec = match state.read::<Pending>(Kind::Pending) {
        Ok(Some(r)) => r,
        Ok(None) => return Ok("no pending change: nothing to roll back".into()),
        Err(e) => return Err(format!("state: {e}")),
    };
    if only.is_some_and(|id| id != rec.id) {
        return Ok(format!("the pending change is now {}; not mine", rec.id));
    }
    if let Ok(Some(c)) = state.read::<Confirmed>(Kind::Confirmed)
        && c.fingerprint == rec.candidate.fingerprint
        && c.confirmed_at >= rec.applied_at
    {
        let _ = state.remove(Kind::Pending);
        return Ok("the candidate was confirmed: nothing to roll back".into());
    }
    let record = |rolled_back: bool, message: String| {
        let _ = state.write(
            Kind::Rollback,
            &RollbackRecord {
                pending_id: rec.id.clone(),
                at: now_secs(),
                rolled_back,
                message: message.clone(),
            },
        );
        let _ = state.remove(Kind::Pending);
        message
    };
    let mut sock = Socket::open().map_err(|e| format!("cannot open a netlink socket: {e}"))?;
    for _attempt in 0..5 {
        let generation = sock.generation().map_err(|e| e.to_string())?;
        let live = readback::read_table(&rec.table).map_err(|e| e.to_string())?;
        let fp = live.as_ref().map(live_fingerprint);
        let is = rollout::classify_live(
            &rec,
            fp.as_ref()
                .map(|r| r.as_ref().map(String::as_str).map_err(String::as_str)),
        );
        match is {
            LiveIs::Previous => {
                return Ok(record(
                    true,
                    "the previous ruleset is already live; pending change cleared".into(),
                ));
            }
            LiveIs::Foreign(why) => {
                return Ok(record(
                    false,
                    format!(
                        "REFUSED to roll back: {why}. statewall does not overwrite a change made by someone else; check `statewall status`"
                    ),
                ));
            }
            LiveIs::Candidate => {}
        }
        let batch = match &rec.previous {
            Previous::NoTable => encode::encode_remove(&rec.table, Some(generation)),
            Previous::Policy {
                policy_text,
                mode,
                counters,
                ..
            } => {
                let Some(plan) = plan_of(policy_text, mode, &rec.table) else {
                    return Ok(record(
                        false,
                        "REFUSED to roll back: the previous policy no longer parses".into(),
                    ));
                };
                encode::encode_seeded(&plan, Some(generation), None, &counters.seeds(&plan))
            }
        };
        match sock.commit(&batch) {
            Ok(after) => {
                let what = match &rec.previous {
                    Previous::NoTable => format!("deleted table inet {}", rec.table),
                    Previous::Policy { fingerprint, .. } => {
                        format!("restored plan {fingerprint} with its counters")
                    }
                };
                return Ok(record(
                    true,
                    format!(
                        "rolled back: {what} (generation {generation} -> {after}); the candidate {} was never confirmed",
                        rec.candidate.fingerprint
                    ),
                ));
            }
            Err(CommitError::GenerationChanged) => {
                tracing::warn!("the ruleset changed during the rollback; re-reading");
                continue;
            }
            Err(e) => return Err(format!("rollback failed: {e}")),
        }
    }
    Err("the ruleset kept changing underneath; rollback not done (the guard will retry)".into())
}

fn log_line(msg: &str) {
    println!(
        "{} guard[{}]: {msg}",
        rollout::utc(now_secs()),
        std::process::id()
    );
}

/// `statewall guard`: waits for the pending change's deadline and rolls back. Stateless: all
/// it knows is on disk, so a restarted guard honours the same deadline.
pub fn guard(state: &StateDir) -> u8 {
    let me = std::process::id();
    let rec = match state.read::<Pending>(Kind::Pending) {
        Ok(Some(r)) => r,
        Ok(None) => {
            log_line("no pending change; nothing to guard");
            return exit::OK;
        }
        Err(e) => return fail(REFUSED, format!("state: {e}")),
    };
    if let Some(pid) = rec.guard_pid
        && pid != me
        && host::guard_alive(pid)
    {
        log_line(&format!(
            "guard pid {pid} already watches {}; exiting",
            rec.id
        ));
        return exit::OK;
    }
    if rec.guard_pid != Some(me) {
        match state.lock() {
            Ok(_lock) => {
                if let Ok(Some(mut r)) = state.read::<Pending>(Kind::Pending)
                    && r.id == rec.id
                    && !r.guard_pid.is_some_and(|p| p != me && host::guard_alive(p))
                {
                    r.guard_pid = Some(me);
                    if let Err(e) = state.write(Kind::Pending, &r) {
                        log_line(&format!("cannot record my pid: {e}"));
                    }
                }
            }
            Err(e) => log_line(&format!("cannot lock the state: {e}")),
        }
    }
    if let Some(ns) = &rec.netns
        && let Err(e) = netns::enter(ns)
    {
        return fail(REFUSED, format!("guard: --netns {ns}: {e}"));
    }
    let boot_id = host::boot_id();
    log_line(&format!(
        "watching {} (table inet {}): rollback at {} unless confirmed",
        rec.id,
        rec.table,
        rollout::utc(rec.deadline)
    ));
    let mut last = rec.clone();
    let mut failures = 0u32;
    loop {
        let current = match state.read::<Pending>(Kind::Pending) {
            Ok(r) => r,
            Err(e) => {
                // keep the deadline of the last good record; the rollback re-reads under lock
                log_line(&format!(
                    "state unreadable ({e}); keeping the last deadline"
                ));
                Some(last.clone())
            }
        };
        if let Some(r) = &current {
            last = r.clone();
        }
        match rollout::guard_step(current.as_ref(), &rec.id, host::realtime_ms(), &boot_id) {
            GuardStep::Wait(ms) => std::thread::sleep(Duration::from_millis(ms)),
            GuardStep::Exit(why) => {
                log_line(&format!("exiting: {why}"));
                return exit::OK;
            }
            GuardStep::RollbackNow => match do_rollback(state, Some(&rec.id)) {
                Ok(msg) => {
                    log_line(&msg);
                    return exit::OK;
                }
                Err(e) => {
                    failures += 1;
                    log_line(&format!("rollback attempt {failures} failed: {e}"));
                    if failures >= 20 {
                        return exit::KERNEL;
                    }
                    std::thread::sleep(Duration::from_millis(500));
                }
            },
        }
    }
}

/// `statewall rollback`: the rollback, now.
pub fn rollback_now(state: &StateDir) -> u8 {
    let rec = match state.read::<Pending>(Kind::Pending) {
        Ok(Some(r)) => r,
        Ok(None) => return fail(REFUSED, "no pending change: nothing to roll back"),
        Err(e) => return fail(REFUSED, format!("state: {e}")),
    };
    if let Some(ns) = &rec.netns
        && let Err(e) = netns::enter(ns)
    {
        return fail(exit::USAGE, format!("--netns {ns}: {e}"));
    }
    match do_rollback(state, Some(&rec.id)) {
        Ok(msg) if msg.starts_with("REFUSED") => fail(exit::CHANGED_UNDERNEATH, msg),
        Ok(msg) => {
            println!("{msg}");
            exit::OK
        }
        Err(e) => fail(exit::KERNEL, e),
    }
}

/// `statewall confirm`: the candidate becomes the last confirmed ruleset.
pub fn confirm(state: &StateDir, require_new: bool) -> u8 {
    let _lock = match state.lock() {
        Ok(l) => l,
        Err(e) => return fail(REFUSED, format!("state: {e}")),
    };
    let rec = match state.read::<Pending>(Kind::Pending) {
        Ok(Some(r)) => r,
        Ok(None) => {
            let last = match state.read::<RollbackRecord>(Kind::Rollback) {
                Ok(Some(r)) => format!(" (last rollback at {}: {})", rollout::utc(r.at), r.message),
                _ => String::new(),
            };
            return fail(REFUSED, format!("no pending change to confirm{last}"));
        }
        Err(e) => return fail(REFUSED, format!("state: {e}")),
    };
    let conn = host::connection_start();
    let basis = match conn {
        Some((_, rollout::ConnectionBasis::SshdProcess)) => " (judged by its sshd process)",
        Some((_, rollout::ConnectionBasis::SessionLeader)) => " (judged by its session leader)",
        None => "",
    };
    // start times are whole clock ticks (floored): a start in the apply's own tick is after it
    let applied = rec.applied_boottime_ms.saturating_sub(host::tick_ms());
    match rollout::session_age(conn.map(|c| c.0), applied) {
        SessionAge::OpenedAfterApply => println!(
            "this session was opened after the apply{basis}: it came in through the candidate's rules as a NEW connection"
        ),
        age => {
            let why = if age == SessionAge::Unknown {
                "the age of this session is unknown: it may predate the apply, and then it proves nothing"
            } else {
                "this session predates the apply: it proves nothing (the `established` rule keeps it alive)"
            };
            let why = format!("{why}{basis}");
            if require_new {
                return fail(
                    REFUSED,
                    format!(
                        "{why}. Open a NEW ssh connection and confirm from there (--require-new-connection); nothing confirmed, the rollback stays armed for {}",
                        rollout::utc(rec.deadline)
                    ),
                );
            }
            println!("WARNING: {why}. Open a NEW ssh connection and confirm from there.");
        }
    }
    if let Some(ns) = &rec.netns
        && let Err(e) = netns::enter(ns)
    {
        return fail(exit::USAGE, format!("--netns {ns}: {e}"));
    }
    let live = match readback::read_table(&rec.table) {
        Ok(l) => l,
        Err(e) => return fail(exit::KERNEL, e),
    };
    let live_fp = live.as_ref().map(live_fingerprint);
    if !matches!(&live_fp, Some(Ok(fp)) if *fp == rec.candidate.fingerprint) {
        return fail(
            REFUSED,
            format!(
                "the live table inet {} is not the candidate {} any more; nothing confirmed (see `statewall status`)",
                rec.table, rec.candidate.fingerprint
            ),
        );
    }
    let confirmed = Confirmed {
        policy_text: rec.candidate.policy_text.clone(),
        table: rec.table.clone(),
        mode: rec.candidate.mode.clone(),
        fingerprint: rec.candidate.fingerprint.clone(),
        confirmed_at: now_secs().max(rec.applied_at),
    };
    if let Err(e) = state.write(Kind::Confirmed, &confirmed) {
        return fail(
            REFUSED,
            format!("cannot record the confirmation: {e}; the rollback stays armed"),
        );
    }
    if let Err(e) = state.remove(Kind::Pending) {
        return fail(REFUSED, format!("cannot clear the pending change: {e}"));
    }
    println!(
        "confirmed {} (plan {}, mode {}): it is the last confirmed ruleset; boot loads it; the guard stands down",
        rec.candidate.source, rec.candidate.fingerprint, rec.candidate.mode
    );
    exit::OK
}

/// `statewall boot`: the last confirmed policy, else the built-in safe one. Never a pending
/// change (the machine restarted: it was not confirmed), never nothing.
pub fn boot(state: &StateDir, table: &str) -> u8 {
    // under the lock, so that a guard recording its pid cannot bring the record back
    let lock = match state.exists() {
        Ok(true) => state.lock().ok(),
        _ => None,
    };
    match state.read::<Pending>(Kind::Pending) {
        Ok(None) => {}
        Ok(Some(p)) => {
            eprintln!(
                "statewall: boot: discarding the unconfirmed change {} ({}); loading the last confirmed policy",
                p.id, p.candidate.source
            );
            let _ = state.remove(Kind::Pending);
        }
        Err(e) => {
            eprintln!("statewall: boot: discarding an unreadable pending record: {e}");
            let _ = state.remove(Kind::Pending);
        }
    }
    drop(lock);
    let source = rollout::boot_source(
        state
            .read::<Confirmed>(Kind::Confirmed)
            .map_err(|e| e.to_string()),
    );
    let (text, mode, table, what) = match &source {
        BootSource::Confirmed(c) => (
            c.policy_text.clone(),
            c.mode.clone(),
            c.table.clone(),
            format!(
                "the last confirmed policy (plan {}, confirmed {})",
                c.fingerprint,
                rollout::utc(c.confirmed_at)
            ),
        ),
        BootSource::Safe(why) => {
            eprintln!("statewall: boot: {why}; loading the built-in safe policy");
            (
                rollout::SAFE_POLICY.to_string(),
                "enforce".to_string(),
                table.to_string(),
                "the built-in safe policy (ssh open, the rest dropped)".to_string(),
            )
        }
    };
    let mut sock = match Socket::open() {
        Ok(s) => s,
        Err(e) => return fail(exit::KERNEL, format!("cannot open a netlink socket: {e}")),
    };
    let mut attempts = vec![(text, mode, table.clone(), what)];
    if matches!(source, BootSource::Confirmed(_)) {
        attempts.push((
            rollout::SAFE_POLICY.to_string(),
            "enforce".to_string(),
            table,
            "the built-in safe policy (the confirmed one failed)".to_string(),
        ));
    }
    let mut last_err = None;
    for (text, mode, table, what) in attempts {
        let Some(plan) = plan_of(&text, &mode, &table) else {
            continue;
        };
        match commit_with_retry(&mut sock, |g| encode::encode(&plan, Some(g), None)) {
            Ok((_, after, _)) => {
                println!(
                    "boot: loaded {what} into table inet {table}, plan {}, generation {after}",
                    identity::fingerprint(&plan)
                );
                return exit::OK;
            }
            Err(e) => {
                eprintln!("statewall: boot: loading {what} failed: {e}");
                last_err = Some(e);
            }
        }
    }
    match last_err {
        Some(e) => fail(commit_error_code(&e), e),
        None => fail(exit::KERNEL, "boot: no policy could be compiled"),
    }
}

/// `statewall install-unit`: writes statewall.service into `dir`.
pub fn install_unit(dir: &Path) -> u8 {
    let path: PathBuf = dir.join("statewall.service");
    let tmp = dir.join(".statewall.service.tmp");
    let result =
        std::fs::write(&tmp, rollout::SYSTEMD_UNIT).and_then(|_| std::fs::rename(&tmp, &path));
    match result {
        Ok(()) => {
            println!(
                "wrote {}\nenable it with: systemctl daemon-reload && systemctl enable statewall.service\n\
                 it runs `/usr/local/sbin/statewall boot` before the network comes up (network-pre.target)",
                path.display()
            );
            exit::OK
        }
        Err(e) => {
            let _ = std::fs::remove_file(&tmp);
            fail(exit::USAGE, format!("cannot write {}: {e}", path.display()))
        }
    }
}

/// The pending change for `status --json` (`null` when none).
pub fn pending_json(state: &StateDir) -> Value {
    match state.read::<Pending>(Kind::Pending) {
        Ok(Some(p)) => json!({
            "id": p.id,
            "table": p.table,
            "candidate_plan": p.candidate.fingerprint,
            "candidate_mode": p.candidate.mode,
            "candidate_source": p.candidate.source,
            "previous_plan": p.previous.fingerprint(),
            "applied_at": p.applied_at,
            "deadline": p.deadline,
            "deadline_utc": rollout::utc(p.deadline),
            "seconds_left": p.deadline.saturating_sub(now_secs()),
            "guard_pid": p.guard_pid,
            "guard_alive": p.guard_pid.is_some_and(host::guard_alive),
        }),
        Ok(None) => Value::Null,
        Err(e) => json!({ "error": e.to_string() }),
    }
}

/// The pending change (and the last rollback) for `status`, as text.
pub fn pending_text(state: &StateDir) -> String {
    let mut s = String::new();
    match state.read::<Pending>(Kind::Pending) {
        Ok(Some(p)) => s.push_str(&format!(
            "\nPENDING: {} (plan {}, mode {}) rolls back at {} (in {} s) unless `{}`; guard pid {} {}\n",
            p.candidate.source,
            p.candidate.fingerprint,
            p.candidate.mode,
            rollout::utc(p.deadline),
            p.deadline.saturating_sub(now_secs()),
            cmd_hint(state, "confirm"),
            p.guard_pid.map(|x| x.to_string()).unwrap_or("-".into()),
            if p.guard_pid.is_some_and(host::guard_alive) {
                "(alive)"
            } else {
                "(NOT running)"
            }
        )),
        Ok(None) => {}
        Err(e) => s.push_str(&format!("\nstate: {e}\n")),
    }
    if let Ok(Some(r)) = state.read::<RollbackRecord>(Kind::Rollback) {
        s.push_str(&format!(
            "last rollback ({}): {}\n",
            rollout::utc(r.at),
            r.message
        ));
    }
    s
}
