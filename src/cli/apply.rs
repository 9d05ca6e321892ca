//! `statewall apply`: compile and commit in one atomic batch; with `--confirm`, on trial.

use std::path::Path;
use std::time::Instant;

use super::error::CliError;
use super::{Ctx, guard, hint, kernel, load, millis, outln, shown};
use crate::core::model::Mode;
use crate::core::usecase::apply::Outcome;
use crate::core::usecase::{self, Validated, rollout};
use crate::core::{compile, plan::Plan, report};
use crate::system::host::{self, SystemClock};

pub fn run(
    cx: &Ctx,
    policy: Option<&Path>,
    audit: bool,
    confirm: Option<u64>,
    force: bool,
    json: bool,
) -> Result<(), CliError> {
    guard::ensure(cx);
    let mut loaded = load::load(policy, &cx.import)?;
    if confirm.is_some() {
        loaded.require_toml_for_confirm()?;
    }
    cx.enter_netns()?;
    let started = Instant::now();
    // taken, not copied: a 100,000-line list is in it (nothing below reads it again)
    let policy = compile::with_mode(std::mem::take(&mut loaded.validated.policy), audit);
    let plan = compile::compile(&policy, &cx.table);
    let imported = loaded
        .iptables
        .then_some((loaded.validated.text.as_str(), None));
    load::fits_the_kernel(&plan, &loaded.path, imported)?;
    // its memory is what the rest allocates again (a command's pages cost as much to fault
    // in as the work on them)
    drop(policy);
    let facts = lint(&plan, force)?;
    if let Some(secs) = confirm {
        return on_trial(cx, &loaded.validated, &plan, false, secs, &facts.sshd_ports);
    }
    let v = &loaded.validated;
    let req = usecase::apply::Request {
        plan: &plan,
        text: &v.text,
        files: &v.files,
        audit_flag: audit,
        sshd_ports: &facts.sshd_ports,
    };
    let mut k = kernel();
    let result = usecase::apply::apply(&mut k, &cx.state, &SystemClock, &req);
    k.finish();
    let a = result?;
    if json {
        let doc = report::apply_doc(&a, &plan, &shown(&loaded.path));
        return outln(serde_json::to_string(&doc).expect("plain data serialises"));
    }
    let what = match &a.outcome {
        Outcome::Unchanged { generation } => format!(
            "unchanged {}: table inet {} already is this plan (mode {}, generation {generation}): nothing sent, every counter kept",
            shown(&loaded.path),
            cx.table,
            plan.mode.as_str(),
        ),
        Outcome::Committed {
            before,
            committed,
            replaced,
            carried,
        } => format!(
            "applied {}: table inet {}, {} rules, mode {}, {} messages in one batch, generation {before} -> {}, {}; {replaced}, {carried} rules kept their counters",
            shown(&loaded.path),
            cx.table,
            a.rules,
            plan.mode.as_str(),
            committed.messages,
            committed.generation,
            millis(started.elapsed())
        ),
    };
    outln(format!("{what}\nboot loads it (plan {})", a.fingerprint))
}

/// The lockout lint, in the target namespace, before any apply; `--force` warns instead.
/// Returns the host facts it used (sshd's ports are recorded with the revision).
pub fn lint(plan: &Plan, force: bool) -> Result<crate::core::lint::Facts, CliError> {
    let facts = host::facts();
    tracing::debug!(?facts, "lockout lint facts");
    let forced = usecase::lint_gate(plan, &facts, force)?;
    for note in crate::core::lint::notes(plan, &facts) {
        eprintln!("statewall: note: {note}");
    }
    if !forced.is_empty() {
        eprintln!("statewall: WARNING (--force): this policy would lock you out:");
        for f in forced {
            eprintln!("  - {f}");
        }
    }
    Ok(facts)
}

/// `apply --confirm` / `enforce --confirm`: committed on trial, with a guard that rolls it
/// back unless confirmed.
pub fn on_trial(
    cx: &Ctx,
    v: &Validated,
    plan: &Plan,
    carry_counters: bool,
    secs: u64,
    sshd_ports: &[u16],
) -> Result<(), CliError> {
    let mode = match plan.mode {
        Mode::Audit => "audit",
        Mode::Enforce => "enforce",
    };
    let trial = rollout::Trial {
        table: &cx.table,
        plan,
        text: &v.text,
        files: &v.files,
        mode,
        source: &v.source,
        carry_counters,
        secs,
        netns: cx.netns_path(),
        id: format!("{}-{}", host::realtime_ms(), std::process::id()),
        sshd_ports,
    };
    let netns = cx.netns_path();
    let mut spawn = |rec: &crate::core::rollout::Pending| {
        guard::spawn(&cx.state, netns.as_deref(), &cx.table, Some(rec)).map_err(|e| e.to_string())
    };
    let mut k = kernel();
    let result = rollout::apply_confirm(&mut k, &cx.state, &SystemClock, trial, &mut spawn);
    k.finish();
    let t = result?;
    outln(format!(
        "applied {}: table inet {}, {} rules, mode {mode}, generation {} -> {}\n\
         PENDING: rolls back by itself at {} (in {secs} s), guard pid {}, unless confirmed.\n\
         deadline: {} (unix seconds; `statewall status --json` has it too)\n\
         To keep it: open a NEW ssh connection (the current one proves nothing: `established` keeps it alive), then run `{}` there: it checks that the candidate's own rules counted that connection.\n\
         To go back now: `{}`",
        v.source,
        cx.table,
        t.rules,
        t.before,
        t.after,
        crate::core::rollout::utc(t.record.deadline),
        t.record.guard_pid.unwrap_or(0),
        t.record.deadline,
        hint(&cx.state, "confirm"),
        hint(&cx.state, "rollback"),
    ))
}
