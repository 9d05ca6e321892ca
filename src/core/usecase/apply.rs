//! `apply` (plain), `remove`, and the reads behind `status`, `plan` and `verify`.

use crate::core::identity::Seeds;
use crate::core::kernel::{Change, Committed, KernelError, ON_RACE, RaceOr};
use crate::core::live::LiveTable;
use crate::core::plan::Plan;
use crate::core::store::Store;
use crate::core::usecase::{Error, refuse_if_pending};
use crate::core::verify;

use crate::core::kernel::Kernel;

/// What an apply committed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Applied {
    pub rules: usize,
    pub before: u32,
    pub committed: Committed,
}

/// Reads the generation, commits `change` against it; on a lost race, again (the one
/// retry policy, [`ON_RACE`]).
pub fn commit_fresh<K: Kernel>(k: &mut K, change: Change<'_>) -> Result<(u32, Committed), Error> {
    ON_RACE.run(|_| {
        let before = k.generation()?;
        let committed = k.commit(change, before).map_err(RaceOr::from)?;
        Ok((before, committed))
    })
}

/// `statewall apply POLICY`: the plan replaces statewall's table in one batch.
pub fn apply<K: Kernel, S: Store>(k: &mut K, store: &S, plan: &Plan) -> Result<Applied, Error> {
    refuse_if_pending(store)?;
    let seeds = Seeds::default();
    let (before, committed) = commit_fresh(
        k,
        Change::Replace {
            plan,
            seeds: &seeds,
        },
    )?;
    Ok(Applied {
        rules: plan.chains.iter().map(|c| c.rules.len()).sum(),
        before,
        committed,
    })
}

/// `statewall remove`: deletes statewall's table, and nothing else.
pub fn remove<K: Kernel, S: Store>(k: &mut K, store: &S, table: &str) -> Result<(), Error> {
    refuse_if_pending(store)?;
    match commit_fresh(k, Change::Remove { table }) {
        Ok(_) => Ok(()),
        Err(Error::Kernel(KernelError::Rejected { errno, .. })) if errno == libc::ENOENT => Err(
            Error::NoTable(format!("no table inet {table} here: nothing to remove")),
        ),
        Err(e) => Err(e),
    }
}

/// The live table for `status`: an error when there is none.
pub fn status<K: Kernel>(k: &mut K, table: &str) -> Result<LiveTable, Error> {
    k.read_table(table)?.ok_or_else(|| {
        Error::NoTable(format!(
            "no table inet {table} here: nothing applied yet (statewall apply POLICY)"
        ))
    })
}

/// `statewall verify`: the audit report on the live table.
pub fn verify<K: Kernel>(
    k: &mut K,
    table: &str,
    facts: &crate::core::lint::Facts,
) -> Result<verify::Report, Error> {
    let live = k.read_table(table)?.ok_or_else(|| {
        Error::NoTable(format!("no table inet {table} here: apply --audit first"))
    })?;
    Ok(verify::report(&live, facts))
}
