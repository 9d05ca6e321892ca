//! `statewall enforce`: audit → enforce in one swap, counters carried over.

use crate::core::identity::{CounterSnapshot, Seeds};
use crate::core::kernel::{Change, Kernel};
use crate::core::live::LiveTable;
use crate::core::model::Mode;
use crate::core::plan::Plan;
use crate::core::usecase::apply::commit_fresh;
use crate::core::usecase::{Error, lint_gate};
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
    if live.stored_mode() != Some("audit") {
        return Err(Error::Usage(format!(
            "table inet {table} is not in audit mode: enforce switches an audited table; use apply"
        )));
    }
    let mut policy = policy.clone();
    policy.mode = Mode::Enforce;
    let plan = compile::compile(&policy, table);
    let report = verify::report(&live, facts);
    let mut forced = Vec::new();
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

/// Commits a checked enforce (without a confirm window).
pub fn commit<K: Kernel>(k: &mut K, checked: &Checked) -> Result<(u32, u32), Error> {
    let (before, committed) = commit_fresh(
        k,
        Change::Replace {
            plan: &checked.plan,
            seeds: &checked.seeds,
        },
    )?;
    Ok((before, committed.generation))
}
