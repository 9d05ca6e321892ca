//! `statewall enforce`: audit → enforce in one swap, counters carried over.

use crate::core::identity::{self, CounterSnapshot, Seeds};
use crate::core::kernel::Kernel;
use crate::core::live::LiveTable;
use crate::core::model::Mode;
use crate::core::plan::Plan;
use crate::core::rollout::{Origin, Revision};
use crate::core::store::{Clock, Store};
use crate::core::usecase::apply::accept;
use crate::core::usecase::{Error, lint_gate};
use crate::core::usecase::{Validated, refuse_if_pending, state_err};
use crate::core::{compile, lint, verify};

/// An enforce that passed its checks: what to commit, and what the checks said.
#[derive(Debug)]
pub struct Checked {
    /// the policy in enforce mode
    pub plan: Plan,
    /// the live counters of every rule that stays
    pub seeds: Seeds,
    /// packets the audit's final rule counted (what enforce drops from now on)
    pub would_drop: u64,
    /// risks and lint findings overridden by `--force`, for a warning
    pub forced: Vec<String>,
}

/// The checks before enforcing: the live table is an audited statewall table, the audit
/// data shows nothing SSH depends on reaching the final rule, and the lockout lint passes
/// (each overridable with `force`).
pub fn check<K: Kernel>(
    k: &mut K,
    table: &str,
    policy: &crate::core::model::Policy,
    facts: &lint::Facts,
    force: bool,
) -> Result<(Checked, LiveTable), Error> {
    let live = k.read_table(table)?.ok_or_else(|| {
        Error::NoTable(format!(
            "no table inet {table} here: apply --audit first, let traffic flow, then enforce"
        ))
    })?;
    crate::core::usecase::apply::refuse_foreign(Some(&live))?;
    if live.stored_mode() != Some("audit") {
        return Err(Error::Refused(format!(
            "table inet {table} is not in audit mode: enforce switches an audited table; use apply"
        )));
    }
    let mut forced = Vec::new();
    // the policy to enforce must be the one audited: enforcing another one drops what
    // nobody ever counted
    let mut audited = policy.clone();
    audited.mode = Mode::Audit;
    let audited_fp =
        identity::fingerprint_as(&compile::compile(&audited, table), live.stored_scheme());
    if live.stored_fingerprint() != Some(audited_fp.as_str()) {
        let why = format!(
            "this policy is not the one being audited (the live audit table is plan {}; this policy in audit mode is plan {audited_fp}): enforcing it would drop traffic nobody counted",
            live.stored_fingerprint().unwrap_or("?")
        );
        if !force {
            return Err(Error::Refused(format!(
                "{why}. Apply it with --audit first and let traffic flow, or --force"
            )));
        }
        forced.push(why);
    }
    let mut policy = policy.clone();
    policy.mode = Mode::Enforce;
    let plan = compile::compile(&policy, table);
    let report = verify::report(&live, facts);
    if !report.risks.is_empty() {
        if !force {
            let mut msg = String::new();
            for r in &report.risks {
                msg.push_str(&format!("{r}\n"));
            }
            msg.push_str(
                "enforce refused: the audit data shows traffic your SSH access depends on \
                 reaching the final rule (fix the policy, or --force)",
            );
            return Err(Error::Refused(msg));
        }
        forced.extend(report.risks.iter().cloned());
    }
    forced.extend(lint_gate(&plan, facts, force)?);
    let seeds = CounterSnapshot::of(&live).seeds(&plan);
    Ok((
        Checked {
            plan,
            seeds,
            would_drop: report.would_drop.0,
            forced,
        },
        live,
    ))
}

/// Commits a checked enforce (without a confirm window): the enforcing policy becomes the
/// accepted revision, what boot loads.
pub fn commit<K: Kernel, S: Store, C: Clock>(
    k: &mut K,
    store: &S,
    clock: &C,
    checked: &Checked,
    v: &Validated,
    sshd_ports: &[u16],
) -> Result<(u32, u32), Error> {
    let _lock = store.lock().map_err(state_err)?;
    refuse_if_pending(store)?;
    let (before, committed) = crate::core::usecase::sets::replace_carrying(
        k,
        store,
        clock,
        &checked.plan,
        &checked.seeds,
    )?;
    accept(
        store,
        &Revision {
            policy_text: v.text.clone(),
            files: v.files.clone(),
            table: checked.plan.table.clone(),
            mode: Mode::Enforce.as_str().to_string(),
            fingerprint: identity::fingerprint(&checked.plan),
            confirmed_at: clock.now_secs(),
            origin: Origin::Enforce,
            sshd_ports: sshd_ports.to_vec(),
            trial: None,
        },
        &checked.plan,
    )?;
    Ok((before, committed.generation))
}
