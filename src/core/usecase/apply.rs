//! `apply` (plain), `remove`, and the reads behind `status`, `plan` and `verify`.

use std::collections::BTreeMap;

use crate::core::identity::{self, CounterSnapshot, Seeds};
use crate::core::kernel::{Change, Committed, Kernel, KernelError, ON_RACE, RaceOr};
use crate::core::live::LiveTable;
use crate::core::model::Mode;
use crate::core::plan::Plan;
use crate::core::rollout::{Origin, Revision};
use crate::core::store::{Clock, Kind, Store};
use crate::core::usecase::rollout::live_fingerprint;
use crate::core::usecase::{Error, refuse_if_pending, state_err};
use crate::core::verify;

/// What an apply found live and replaced.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Replaced {
    /// there was no statewall table
    Nothing,
    /// statewall's table with this plan and mode
    Plan { fingerprint: String, mode: String },
    /// statewall's table with this plan, patched in place: only these set elements and
    /// rules were sent, every other counter untouched
    Patched {
        fingerprint: String,
        mode: String,
        elements: usize,
        rules: usize,
    },
    /// statewall's table, changed by someone else since statewall committed it
    Drifted(String),
}

impl std::fmt::Display for Replaced {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Replaced::Nothing => f.write_str("no table before"),
            Replaced::Plan { fingerprint, mode } => {
                write!(f, "replaced plan {fingerprint} (mode {mode})")
            }
            Replaced::Patched {
                fingerprint,
                elements,
                rules,
                ..
            } => write!(
                f,
                "patched plan {fingerprint} in place ({elements} set elements and {rules} rules sent)"
            ),
            Replaced::Drifted(why) => write!(f, "replaced a drifted table ({why})"),
        }
    }
}

/// What an apply did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// the live table already is the plan: nothing was sent, every counter kept
    Unchanged { generation: u32 },
    Committed {
        before: u32,
        committed: Committed,
        replaced: Replaced,
        /// rules that kept their counters (same identity as a live rule)
        carried: usize,
    },
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Applied {
    pub rules: usize,
    pub outcome: Outcome,
    /// the plan's fingerprint: what boot loads from now on
    pub fingerprint: String,
}

/// A plain apply's request: the plan and what makes it a self-contained revision.
pub struct Request<'a> {
    pub plan: &'a Plan,
    pub text: &'a str,
    pub files: &'a BTreeMap<String, String>,
    /// `--audit` was given: going from an enforcing table back to audit is meant
    pub audit_flag: bool,
    /// sshd's listening ports now: recorded, so that boot's fallback keeps them open
    pub sshd_ports: &'a [u16],
}

/// Refuses to act on a table of that name that statewall did not make (no marker in its
/// comment): `--table firewalld` must never replace firewalld's table.
pub fn refuse_foreign(live: Option<&LiveTable>) -> Result<(), Error> {
    match live {
        Some(t) if t.stored_fingerprint().is_none() => Err(Error::Refused(format!(
            "table inet {} exists and was not made by statewall (its comment carries no statewall marker); \
             statewall only ever touches its own table: choose another --table, or remove that table yourself",
            t.name
        ))),
        _ => Ok(()),
    }
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

/// Up to this many set elements in a plan, an apply reads the live table's elements back and
/// checks them (a changed element is drift, and the apply replaces the table); beyond, it
/// takes them from the table's fingerprint and the accepted plan's set cache, since the
/// kernel takes about a second to dump 100,000 elements (`status` still checks them all).
pub const VERIFY_ELEMENTS: usize = 20_000;

/// Records `rev` as the accepted revision (what boot loads) and in the history, and keeps
/// its plan's sets (`core::setcache`) for the next incremental apply.
pub fn accept<S: Store>(store: &S, rev: &Revision, plan: &Plan) -> Result<(), Error> {
    accept_with(store, rev, &rev.files, plan, identity::sets_state(plan))
}

/// [`accept`] of a revision whose lists are `files`, of a plan whose fingerprint's state
/// after its sets is `sets_state`.
fn accept_with<S: Store>(
    store: &S,
    rev: &Revision,
    files: &BTreeMap<String, String>,
    plan: &Plan,
    sets_state: u64,
) -> Result<(), Error> {
    // the cache only after the record: its fingerprint then never names a plan boot would
    // not load (the unchanged check trusts it to say what the accepted revision is)
    let cache = crate::core::setcache::encode(&rev.fingerprint, sets_state, &plan.sets);
    let (record, history) = store.accept_revision(rev, files, &cache);
    record.map_err(|e| {
        Error::Refused(format!(
            "the table was committed, but recording it for boot failed: {e}"
        ))
    })?;
    if let Err(e) = history {
        tracing::warn!("the revision history could not be written: {e}");
    }
    Ok(())
}

/// `statewall apply POLICY`: the plan replaces statewall's table in one batch, every
/// unchanged rule keeping its counters, and becomes what boot loads. A plan the live table
/// already is sends nothing. Under the store's lock, so applies in one namespace take turns.
pub fn apply<K: Kernel, S: Store, C: Clock>(
    k: &mut K,
    store: &S,
    clock: &C,
    req: &Request<'_>,
) -> Result<Applied, Error> {
    let _lock = store.lock().map_err(state_err)?;
    refuse_if_pending(store)?;
    let plan = req.plan;
    let sets_state = identity::sets_state(plan);
    let fingerprint = identity::fingerprint_from(sets_state, &plan.chains);
    // the sets of the plan the table holds (its elements are not read back: a
    // 100,000-element set takes the kernel a second to dump): the accepted plan's, kept
    // beside its revision, or compiled again from the revision when that cache is stale
    let mut cached = store
        .read_set_cache()
        .and_then(|b| crate::core::setcache::decode(&b));
    let cached_fp = cached.as_ref().map(|c| c.fingerprint.clone());
    let small = small_enough(plan);
    let outcome = ON_RACE.run(|_| {
        let before = k.generation()?;
        let live = if small {
            k.read_table(&plan.table)?
        } else {
            k.read_for_apply(&plan.table)?
        };
        refuse_foreign(live.as_ref()).map_err(RaceOr::Err)?;
        if let Some(t) = &live {
            if t.stored_mode() == Some("enforce") && plan.mode == Mode::Audit && !req.audit_flag {
                return Err(RaceOr::Err(Error::Refused(format!(
                    "table inet {} enforces, and this policy says mode = \"audit\", which accepts \
                     everything the final rule would drop: pass --audit if you mean to go back to \
                     auditing, or set mode = \"enforce\" in the policy",
                    plan.table
                ))));
            }
            let unchanged = if small {
                already_live(t, plan)
            } else {
                holds(t, plan, &fingerprint)
            };
            if unchanged {
                return Ok(Outcome::Unchanged { generation: before });
            }
            let old = if small {
                // read whole: the plan it holds, when it is undrifted
                live_fingerprint(t)
                    .ok()
                    .and_then(|_| crate::core::report::live_plan(t).ok())
            } else {
                // taken, not copied (100,000 elements): a retry compiles the revision again
                held_plan(t, cached.take(), store)
            };
            if let Some(patch) =
                old.and_then(|p| crate::core::patch::diff(t, &p, plan, &fingerprint))
                && let Some(outcome) = try_patch(k, t, plan, &patch, before)?
            {
                return Ok(outcome);
            }
        }
        // a replace: what is live, read whole (its drift, every counter, the live members)
        let live = match live {
            Some(t) if small => Some(t),
            Some(_) => k.read_table(&plan.table)?,
            None => None,
        };
        refuse_foreign(live.as_ref()).map_err(RaceOr::Err)?;
        let live_fp = live.as_ref().map(live_fingerprint);
        if let (Some(t), Some(Ok(fp))) = (&live, &live_fp)
            && is_plan(t, fp, plan)
        {
            return Ok(Outcome::Unchanged { generation: before });
        }
        let replaced = match (&live, live_fp) {
            (None, _) => Replaced::Nothing,
            (Some(t), Some(Ok(fp))) => Replaced::Plan {
                fingerprint: fp,
                mode: t.stored_mode().unwrap_or("?").to_string(),
            },
            (Some(_), _) => Replaced::Drifted(
                live.as_ref()
                    .and_then(crate::core::report::drift)
                    .unwrap_or_default(),
            ),
        };
        let seeds = match &live {
            Some(t) => CounterSnapshot::of(t).seeds(plan),
            None => Seeds::default(),
        };
        let members = crate::core::usecase::sets::carried(live.as_ref(), plan, store, clock);
        let committed = k
            .commit(
                Change::Replace {
                    plan,
                    seeds: &seeds,
                    members: &members,
                },
                before,
            )
            .map_err(RaceOr::from)?;
        crate::core::usecase::sets::record_carried(store, clock, &members);
        Ok(Outcome::Committed {
            before,
            committed,
            replaced,
            carried: seeds.len(),
        })
    })?;
    // an unchanged plan is no new revision, unless boot would load something else
    // (the set cache is written with every accepted revision: its fingerprint says which,
    // without reading a revision that may hold a 100,000-line list)
    if matches!(outcome, Outcome::Unchanged { .. })
        && boot_loads(store, cached_fp.as_deref(), &fingerprint)
    {
        return Ok(Applied {
            rules: plan.chains.iter().map(|c| c.rules.len()).sum(),
            outcome,
            fingerprint,
        });
    }
    accept_with(
        store,
        &Revision {
            policy_text: req.text.to_string(),
            // the lists go to the store by reference (`req.files`): not copied
            files: BTreeMap::new(),
            table: plan.table.clone(),
            mode: plan.mode.as_str().to_string(),
            fingerprint: fingerprint.clone(),
            confirmed_at: clock.now_secs(),
            origin: Origin::Apply,
            sshd_ports: req.sshd_ports.to_vec(),
            trial: None,
        },
        req.files,
        plan,
        sets_state,
    )?;
    Ok(Applied {
        rules: plan.chains.iter().map(|c| c.rules.len()).sum(),
        outcome,
        fingerprint,
    })
}

/// Whether a table of `plan` is read whole and checked: one of up to [`VERIFY_ELEMENTS`] set
/// elements, so that an element changed by someone else makes it drifted and the apply
/// replaces it.
fn small_enough(plan: &Plan) -> bool {
    plan.sets
        .iter()
        .filter(|s| !s.kind.live() && !s.kind.dynamic())
        .map(|s| s.elements.len())
        .sum::<usize>()
        <= VERIFY_ELEMENTS
}

/// Whether boot loads the plan of `fingerprint` already: the set cache's fingerprint
/// (`cached`, written with every accepted revision) says which, without reading a revision
/// that may hold a 100,000-line list.
fn boot_loads<S: Store>(store: &S, cached: Option<&str>, fingerprint: &str) -> bool {
    cached.is_some_and(|fp| fp == fingerprint)
        || store
            .read::<Revision>(Kind::Confirmed)
            .ok()
            .flatten()
            .is_some_and(|r| r.fingerprint == fingerprint)
}

/// Commits `patch` against generation `before`: the outcome, or None when the kernel
/// refused it (an element or a rule it names was changed by someone else since: nothing was
/// applied, and a whole-table replace, which names none of them, follows).
fn try_patch<K: Kernel>(
    k: &mut K,
    t: &LiveTable,
    plan: &Plan,
    patch: &crate::core::patch::Patch,
    before: u32,
) -> Result<Option<Outcome>, RaceOr<Error>> {
    let committed = match k.commit(Change::Patch { patch }, before) {
        Ok(c) => c,
        Err(KernelError::Rejected { message, .. }) => {
            tracing::warn!(
                "the kernel refused the incremental change ({message}); replacing the table instead"
            );
            return Ok(None);
        }
        Err(e) => return Err(RaceOr::from(e)),
    };
    let inserted = patch
        .rules
        .iter()
        .filter(|e| matches!(e, crate::core::patch::RuleEdit::Insert { .. }))
        .count();
    Ok(Some(Outcome::Committed {
        before,
        committed,
        replaced: Replaced::Patched {
            fingerprint: t.stored_fingerprint().unwrap_or("?").to_string(),
            mode: t.stored_mode().unwrap_or("?").to_string(),
            elements: patch
                .elements
                .iter()
                .map(|e| e.add.len() + e.del.len())
                .sum(),
            rules: patch.rules.len(),
        },
        carried: plan.chains.iter().map(|c| c.rules.len()).sum::<usize>() - inserted,
    }))
}

/// The plan the live table `t` (read for an apply) holds, with its sets' elements: the
/// cached sets of the accepted plan when the table is that plan, else the accepted revision
/// compiled again; None when neither is what the table holds (then only a replace will do).
fn held_plan<S: Store>(
    t: &LiveTable,
    cached: Option<crate::core::setcache::Cached>,
    store: &S,
) -> Option<Plan> {
    let stored = t.stored_fingerprint()?;
    if let Some(c) = cached.filter(|c| c.fingerprint == stored)
        && let Ok(mut p) = crate::core::report::live_plan(t)
        // the live rules with the cached sets make the table's fingerprint: they are it
        // (the cache's checksum vouches for its sets and their state)
        && identity::fingerprint_from(c.sets_state, &p.chains) == c.fingerprint
    {
        p.sets = c.sets;
        return Some(p);
    }
    let rev = store.read::<Revision>(Kind::Confirmed).ok().flatten()?;
    if rev.fingerprint != stored || rev.table != t.name {
        return None;
    }
    let p = crate::core::usecase::stored_plan(&rev.policy_text, &rev.files, &rev.mode, &rev.table)?;
    holds(t, &p, &rev.fingerprint).then_some(p)
}

/// Whether the live table `t` read for an apply (rules, live sets; no other set's elements)
/// holds `plan`: its rules are `plan`'s and were committed as a plan with `plan`'s sets and
/// fingerprint. The set elements are taken to be the plan's (`status` reads them and says
/// when they drifted).
pub fn holds(t: &LiveTable, plan: &Plan, plan_fp: &str) -> bool {
    let Some(stored) = t.stored_fingerprint() else {
        return false;
    };
    if t.stored_scheme().is_none() || stored != plan_fp {
        return false;
    }
    let mut with_sets = t.clone();
    with_sets.sets = plan
        .sets
        .iter()
        .map(|s| {
            t.sets
                .iter()
                .find(|l| l.name == s.name && s.kind.live())
                .cloned()
                .unwrap_or_else(|| crate::core::live::LiveSet {
                    name: s.name.clone(),
                    kind: s.kind,
                    elements: Ok(s.elements.iter().map(|e| (*e, 0, 0)).collect()),
                    timeout: s.timeout,
                    expires: Vec::new(),
                })
        })
        .collect();
    crate::core::report::drift(&with_sets).is_none()
}

/// Whether the live table `t`, whose undrifted fingerprint is `live_fp`, already is `plan`:
/// committed by this statewall's fingerprint scheme with the same plan. The one check that
/// makes an apply send nothing.
fn is_plan(t: &LiveTable, live_fp: &str, plan: &Plan) -> bool {
    t.stored_scheme().is_some() && live_fp == identity::fingerprint_as(plan, t.stored_scheme())
}

/// Whether an apply of `plan` over the live table `t` would send nothing (the check
/// [`apply`] makes): `t` is undrifted and already is `plan`.
pub fn already_live(t: &LiveTable, plan: &Plan) -> bool {
    live_fingerprint(t).is_ok_and(|fp| is_plan(t, &fp, plan))
}

/// What the live table is to a plan, for `plan`.
#[derive(Debug)]
pub enum Comparison {
    /// no table: an apply would create it
    Absent,
    /// the live table already is the plan: an apply would send nothing
    Same,
    /// an apply would replace this live table
    Differs(Box<LiveTable>),
    /// a table of that name statewall did not make: an apply would refuse to touch it
    Foreign(Box<LiveTable>),
}

/// `statewall plan`: how the live table compares with `plan`, by the check an apply makes.
pub fn compare<K: Kernel>(k: &mut K, plan: &Plan) -> Result<Comparison, Error> {
    Ok(match k.read_table(&plan.table)? {
        None => Comparison::Absent,
        Some(t) if refuse_foreign(Some(&t)).is_err() => Comparison::Foreign(Box::new(t)),
        Some(t) if already_live(&t, plan) => Comparison::Same,
        Some(t) => Comparison::Differs(Box::new(t)),
    })
}

/// `statewall remove`: deletes statewall's table, and nothing else.
pub fn remove<K: Kernel, S: Store>(k: &mut K, store: &S, table: &str) -> Result<(), Error> {
    let _lock = store.lock().map_err(state_err)?;
    refuse_if_pending(store)?;
    refuse_foreign(k.read_table(table)?.as_ref())?;
    match commit_fresh(k, Change::Remove { table }) {
        Ok(_) => Ok(()),
        Err(Error::Kernel(KernelError::Rejected { errno, .. })) if errno == libc::ENOENT => Err(
            Error::NoTable(format!("no table inet {table} here: nothing to remove")),
        ),
        Err(e) => Err(e),
    }
}

/// The live table for `status`: an error when there is none, or when it is not statewall's.
pub fn status<K: Kernel>(k: &mut K, table: &str) -> Result<LiveTable, Error> {
    let live = k.read_table(table)?.ok_or_else(|| {
        Error::NoTable(format!(
            "no table inet {table} here: nothing applied yet (statewall apply POLICY)"
        ))
    })?;
    refuse_foreign(Some(&live))?;
    Ok(live)
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
    refuse_foreign(Some(&live))?;
    Ok(verify::report(&live, facts))
}
