//! The rollback guard: `statewall guard` (started by `apply --confirm`, restartable by
//! hand), how it is started, and the pending change as `status` shows it.

use std::io;
// Legitimate, and the only process statewall ever starts: itself (`/proc/self/exe`), as the
// rollback guard (`spawn`), which must outlive this CLI, its terminal and its SSH session,
// so it cannot be a thread. `arg0` and `pre_exec(setsid)` are for that. Never nft, iptables
// or a shell.
use std::os::unix::process::CommandExt;
use std::process::{Command, Stdio};

use serde_json::{Value, json};

use super::error::CliError;
use super::{Ctx, enter, hint, kernel};
use crate::core::rollout::{self, Pending, RollbackRecord};
use crate::core::store::{Clock, Kind};
use crate::core::usecase::{self, rollout as trial};
use crate::system::host::{self, SystemClock};
use crate::system::state::StateDir;

/// Re-executes this very binary as the rollback guard, in a new session.
///
/// This is the only process statewall ever starts, and it is itself: the guard must outlive
/// this CLI, its terminal and its SSH session (hangup, SIGKILL), so it cannot be a thread.
/// `setsid()` in the child detaches it from the terminal's session and process group; its
/// stdio goes to the log in the state directory, never to our (possibly dead) terminal.
/// `record`: handed to the guard on its stdin, so that it holds its own copy from the start
/// whatever happens to the files.
pub fn spawn(
    state: &StateDir,
    netns: Option<&str>,
    table: &str,
    record: Option<&Pending>,
) -> io::Result<u32> {
    let log = state.open_log().map_err(io::Error::other)?;
    let log2 = log.try_clone()?;
    // Legitimate, and the only one: statewall re-executes itself (/proc/self/exe, the very
    // binary running now, never nft, iptables or a shell) as the rollback guard, which must
    // outlive this CLI, its terminal and its SSH session, so it cannot be a thread.
    let mut cmd = Command::new("/proc/self/exe");
    cmd.arg("--state-dir")
        .arg(state.root())
        .arg("--table")
        .arg(table);
    if let Some(n) = netns {
        cmd.arg("--netns").arg(n);
    }
    cmd.arg0("statewall").arg("guard");
    if record.is_some() {
        cmd.arg("--record-on-stdin").stdin(Stdio::piped());
    } else {
        cmd.stdin(Stdio::null());
    }
    cmd.stdout(log).stderr(log2);
    // SAFETY: setsid is async-signal-safe; nothing else runs between fork and exec.
    unsafe {
        cmd.pre_exec(|| {
            if libc::setsid() < 0 {
                return Err(io::Error::last_os_error());
            }
            Ok(())
        });
    }
    let mut child = cmd.spawn()?;
    if let (Some(rec), Some(mut stdin)) = (record, child.stdin.take()) {
        use std::io::Write;
        let text = serde_json::to_vec(rec).map_err(io::Error::other)?;
        // a failed hand-over is the guard's to report: it falls back to the files
        let _ = stdin.write_all(&text);
    }
    Ok(child.id())
}

/// Any command that finds a pending change whose guard is gone starts a new guard. A trial
/// whose records were lost with its guard gone is rebuilt from the revision history and
/// handed to a guard that rolls it back at once.
pub fn ensure(cx: &Ctx) {
    let state = &cx.state;
    let rec = match usecase::read_pending(state) {
        Ok(Some(r)) => r,
        Ok(None) => {
            let netns = cx.netns_path();
            // (the history first: it says cheaply whether a trial can be lost at all, where
            // looking for a guard reads every process's command line)
            let Some(lost) = trial::lost_trial(state, &SystemClock, &cx.table, netns.clone())
            else {
                return;
            };
            // a guard still running holds the trial in memory and rolls it back at its
            // deadline; only a trial nobody watches is rebuilt, and rolled back now
            if host::guard_running_for(state.root(), &cx.table, netns.as_deref()) {
                return;
            }
            eprintln!(
                "statewall: the records of the change on trial ({}) were lost and no guard holds them: rebuilt from the revision history; rolling it back now",
                lost.candidate.fingerprint
            );
            if let Err(e) = usecase::write_pending(state, &lost) {
                eprintln!("statewall: WARNING: {e}");
                return;
            }
            let rolled = enter(lost.netns.as_deref()).ok().map(|()| {
                let mut k = kernel();
                let r = trial::rollback(&mut k, state, &SystemClock, Some(&lost.id), Some(&lost));
                k.finish();
                r
            });
            match rolled {
                Some(Ok(outcome)) => eprintln!("statewall: {}", outcome.message()),
                Some(Err(e)) => {
                    eprintln!("statewall: WARNING: the rollback failed: {e}; a guard retries")
                }
                None => {
                    eprintln!("statewall: WARNING: cannot enter the namespace; a guard retries")
                }
            }
            match usecase::read_pending(state) {
                Ok(Some(still)) => still,
                _ => return,
            }
        }
        Err(e) => {
            tracing::warn!("state: {e}");
            return;
        }
    };
    if rec.guard_pid.is_some_and(host::guard_alive) {
        return;
    }
    match spawn(state, rec.netns.as_deref(), &rec.table, Some(&rec)) {
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
                let _ = usecase::write_pending(state, &r);
            }
        }
        Err(e) => eprintln!("statewall: WARNING: cannot start the rollback guard: {e}"),
    }
}

fn log_line(msg: &str) {
    println!(
        "{} guard[{}]: {msg}",
        rollout::utc(SystemClock.now_secs()),
        std::process::id()
    );
}

/// `statewall guard`: waits for the pending change's deadline and rolls back. A restarted
/// guard honours the same deadline: all it starts from is on disk.
pub fn run(cx: &Ctx, record_on_stdin: bool) -> Result<(), CliError> {
    let state = &cx.state;
    let me = std::process::id();
    // loaded once, kept in memory: a record damaged later cannot switch the guard off. The
    // CLI that started us hands the record over on stdin; restarted by hand, we read it.
    let handed = record_on_stdin
        .then(|| {
            let mut text = Vec::new();
            std::io::Read::read_to_end(&mut std::io::stdin(), &mut text).ok()?;
            serde_json::from_slice::<Pending>(&text)
                .map_err(|e| {
                    log_line(&format!(
                        "the handed-over record is unusable ({e}); reading the state directory"
                    ))
                })
                .ok()
        })
        .flatten();
    let rec = match handed {
        Some(r) => r,
        None => match usecase::read_pending(state)? {
            Some(r) => r,
            None => {
                log_line("no pending change; nothing to guard");
                return Ok(());
            }
        },
    };
    if let Some(pid) = rec.guard_pid
        && pid != me
        && host::guard_alive(pid)
    {
        log_line(&format!(
            "guard pid {pid} already watches {}; exiting",
            rec.id
        ));
        return Ok(());
    }
    if rec.guard_pid != Some(me) {
        record_pid(state, &rec, me);
    }
    enter(rec.netns.as_deref())?;
    log_line(&format!(
        "watching {} (table inet {}): rollback at {} unless confirmed",
        rec.id,
        rec.table,
        rollout::utc(rec.deadline)
    ));
    let mut k = kernel();
    let result = trial::guard(&mut k, state, &SystemClock, &rec, &mut |m| log_line(m));
    k.finish();
    Ok(result?)
}

fn record_pid(state: &StateDir, rec: &Pending, me: u32) {
    match state.lock() {
        Ok(_lock) => {
            if let Ok(Some(mut r)) = state.read::<Pending>(Kind::Pending)
                && r.id == rec.id
                && r.guard_pid != Some(me)
                && !r.guard_pid.is_some_and(|p| p != me && host::guard_alive(p))
            {
                r.guard_pid = Some(me);
                if let Err(e) = usecase::write_pending(state, &r) {
                    log_line(&format!("cannot record my pid: {e}"));
                }
            }
        }
        Err(e) => log_line(&format!("cannot lock the state: {e}")),
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
            "seconds_left": p.deadline.saturating_sub(SystemClock.now_secs()),
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
            p.deadline.saturating_sub(SystemClock.now_secs()),
            hint(state, "confirm"),
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
