//! The use cases: what each command does, as library functions over three seams — a
//! [`Kernel`](crate::core::kernel::Kernel), a [`Store`](crate::core::store::Store) and a
//! [`Clock`](crate::core::store::Clock). They decide and act; they never print, read a file
//! or open a socket: the CLI gathers the inputs (the validated policy, host facts) and shows
//! the outcome. Tested on the fake kernel without root (`core::fake`).

pub mod apply;
pub mod boot;
pub mod enforce;
pub mod metrics;
pub mod rollout;
pub mod sets;

#[cfg(test)]
mod tests;
#[cfg(test)]
mod tests_sets;

use std::collections::BTreeMap;

use crate::core::kernel::KernelError;
use crate::core::model::Policy;
use crate::core::plan::Plan;
use crate::core::rollout as records;
use crate::core::rollout::Pending;
use crate::core::store::{Kind, Store};
use crate::core::{compile, diag, lint, policy};

/// Why a use case did not do what was asked. Each kind has one exit code (`cli::error`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Error {
    /// a policy (given or stored) that does not hold: nothing was sent
    Invalid(String),
    /// a request that does not make sense here
    Usage(String),
    /// there is no statewall table here
    NoTable(String),
    /// refused for safety: the lockout lint, the audit data, a pending change, the rollout
    /// state, a table someone else changed. Nothing was applied.
    Refused(String),
    /// the ruleset kept changing underneath: nothing was applied
    ChangedUnderneath(String),
    /// the kernel refused the batch or netlink failed
    Kernel(KernelError),
}

impl std::fmt::Display for Error {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Error::Invalid(m)
            | Error::Usage(m)
            | Error::NoTable(m)
            | Error::Refused(m)
            | Error::ChangedUnderneath(m) => f.write_str(m),
            Error::Kernel(e) => write!(f, "{e}"),
        }
    }
}

impl std::error::Error for Error {}

impl From<KernelError> for Error {
    fn from(e: KernelError) -> Error {
        match e {
            KernelError::GenerationChanged => Error::ChangedUnderneath(e.to_string()),
            e => Error::Kernel(e),
        }
    }
}

/// A policy the CLI read and validated, with everything needed to compile it again later
/// without the files: its text and the `from_file` lists it named, as read.
#[derive(Debug, Clone)]
pub struct Validated {
    pub policy: Policy,
    pub text: String,
    /// `from_file` name as written in the policy → the list's text
    pub files: BTreeMap<String, String>,
    /// where it came from, for messages
    pub source: String,
}

/// Compiles a policy text statewall stored itself (with its lists) in `mode` for `table`;
/// `None` when it no longer parses.
pub fn stored_plan(
    text: &str,
    files: &BTreeMap<String, String>,
    mode: &str,
    table: &str,
) -> Option<Plan> {
    let loader = |name: &str| -> Result<std::sync::Arc<(String, String)>, String> {
        files
            .get(name)
            .map(|t| std::sync::Arc::new((name.to_string(), t.clone())))
            .ok_or_else(|| format!("{name} was not kept with the stored policy"))
    };
    match policy::parse_stored_with(text, &loader) {
        (Some(p), d) if !diag::has_errors(&d) => {
            Some(compile::compile(&records::with_stored_mode(p, mode), table))
        }
        _ => None,
    }
}

/// The lockout lint as a gate: the findings refuse the plan, unless `force` (then they are
/// returned, for a warning).
pub fn lint_gate(plan: &Plan, facts: &lint::Facts, force: bool) -> Result<Vec<String>, Error> {
    let findings: Vec<String> = lint::check(plan, facts)
        .iter()
        .map(ToString::to_string)
        .collect();
    if findings.is_empty() || force {
        return Ok(findings);
    }
    let mut msg = String::from("this policy would lock you out:\n");
    for f in &findings {
        msg.push_str(&format!("  - {f}\n"));
    }
    msg.push_str("nothing was applied; fix the policy, or pass --force if you really mean it");
    Err(Error::Refused(msg))
}

/// The pending change, from its record or, when that is damaged, from its second copy.
/// When both are damaged the record is set aside (removed, and said in the log): a damaged
/// record never blocks statewall. The guard, which loaded the record when it started, still
/// rolls back at the deadline from its own copy.
pub fn read_pending<S: Store>(store: &S) -> Result<Option<Pending>, Error> {
    match store.read::<Pending>(Kind::Pending) {
        Ok(Some(p)) => Ok(Some(p)),
        // deleted: the second copy, if any, still holds it (confirm and rollback clear both)
        Ok(None) => match store.read::<Pending>(Kind::PendingCopy) {
            Ok(Some(p)) => {
                tracing::warn!("the pending record is missing; using its second copy");
                Ok(Some(p))
            }
            Ok(None) => Ok(None),
            Err(e) => {
                tracing::warn!("a damaged copy of a pending record was set aside: {e}");
                let _ = store.remove(Kind::PendingCopy);
                Ok(None)
            }
        },
        Err(first) => match store.read::<Pending>(Kind::PendingCopy) {
            Ok(Some(p)) => {
                tracing::warn!("the pending record is damaged ({first}); using its second copy");
                Ok(Some(p))
            }
            Ok(None) | Err(_) => {
                clear_pending(store).map_err(|e| {
                    Error::Refused(format!("state: {first}; setting it aside failed: {e}"))
                })?;
                tracing::warn!(
                    "the pending record is damaged ({first}) and has no usable copy: set aside; \
                     a guard still running rolls back at the deadline from its own copy"
                );
                Ok(None)
            }
        },
    }
}

/// Writes the pending record: the second copy first, so that one of them is whole at
/// every moment.
pub fn write_pending<S: Store>(store: &S, p: &Pending) -> Result<(), Error> {
    store
        .write(Kind::PendingCopy, p)
        .and_then(|_| store.write(Kind::Pending, p))
        .map_err(|e| Error::Refused(format!("cannot record the pending change: {e}")))
}

/// Removes the pending record and its copy.
pub fn clear_pending<S: Store>(store: &S) -> Result<(), Error> {
    store
        .remove(Kind::Pending)
        .and_then(|_| store.remove(Kind::PendingCopy))
        .map_err(|e| Error::Refused(format!("cannot clear the pending change: {e}")))
}

/// Refuses while a change is pending (its guard would find a foreign table).
pub fn refuse_if_pending<S: Store>(store: &S) -> Result<(), Error> {
    match read_pending(store)? {
        None => Ok(()),
        Some(p) => Err(Error::Refused(format!(
            "a change is pending (rolls back at {}): `{}` or `{}` first",
            records::utc(p.deadline),
            store.command("confirm"),
            store.command("rollback")
        ))),
    }
}

/// A state error as a refusal (the rollout cannot go on without its records).
pub(crate) fn state_err(e: impl std::fmt::Display) -> Error {
    Error::Refused(format!("state: {e}"))
}
