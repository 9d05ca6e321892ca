//! The safe rollout: `apply --confirm` (and `enforce --confirm`), `rollback`, the guard's
//! watch, `confirm`. The records and the pure decisions are in `core::rollout`.

use std::collections::BTreeMap;

use crate::core::identity::{self, CounterSnapshot, Seeds};
use crate::core::kernel::{Change, Kernel, ON_RACE, RaceOr};
use crate::core::live::LiveTable;
use crate::core::plan::Plan;
use crate::core::report;
use crate::core::rollout::{
    Candidate, Confirmed, GuardStep, LiveIs, Pending, Previous, RollbackRecord, SessionAge,
};
use crate::core::rollout::{Origin, Revision, RollbackCounts, rollback_reason};
use crate::core::store::{Clock, Kind, Store};
use crate::core::usecase::apply::{accept, refuse_foreign};
use crate::core::usecase::{
    Error, clear_pending, read_pending, refuse_if_pending, state_err, stored_plan, write_pending,
};

/// The live table's fingerprint as the rollout sees it: `Err` when it drifted.
pub fn live_fingerprint(t: &LiveTable) -> Result<String, String> {
    if let Some(why) = report::drift(t) {
        return Err(why);
    }
    t.stored_fingerprint()
        .map(str::to_string)
        .ok_or_else(|| "no fingerprint".to_string())
}

/// Whether a recorded policy is what the live table holds: by the recorded fingerprint, or
/// by compiling the recorded text again with the live table's fingerprint scheme (a table
/// re-applied since the record was written by an older statewall).
fn record_is_live(
    recorded_fp: &str,
    text: &str,
    files: &BTreeMap<String, String>,
    mode: &str,
    live: &LiveTable,
    live_fp: &str,
) -> bool {
    recorded_fp == live_fp
        || stored_plan(text, files, mode, &live.name)
            .is_some_and(|p| identity::fingerprint_as(&p, live.stored_scheme()) == live_fp)
}

/// The live plan's fingerprint when the live table (statewall's, not drifted) is not the
/// accepted revision `c`, which is what boot loads: an apply killed between its commit and
/// its record, or a table committed with another state directory. `None` when it is.
pub fn live_is_not_accepted(c: &Confirmed, live: &LiveTable) -> Option<String> {
    // the usual case first, without judging drift (a walk of every rule, which status
    // has done once already)
    if live.stored_fingerprint()? == c.fingerprint {
        return None;
    }
    let fp = live_fingerprint(live).ok()?;
    (!accepted_is(c, live, &fp)).then_some(fp)
}

/// Whether the accepted revision `c` is the live table, whose fingerprint is `live_fp`.
pub fn accepted_is(c: &Confirmed, live: &LiveTable, live_fp: &str) -> bool {
    record_is_live(
        &c.fingerprint,
        &c.policy_text,
        &c.files,
        &c.mode,
        live,
        live_fp,
    )
}

/// What `apply --confirm` (or `enforce --confirm`) puts on trial.
pub struct Trial<'a> {
    pub table: &'a str,
    pub plan: &'a Plan,
    /// the candidate's policy text and lists, kept for rollback and boot
    pub text: &'a str,
    pub files: &'a BTreeMap<String, String>,
    pub mode: &'a str,
    pub source: &'a str,
    /// give every unchanged rule the live counters (audit → enforce)
    pub carry_counters: bool,
    pub secs: u64,
    /// the network namespace the guard must enter
    pub netns: Option<String>,
    /// unique per apply
    pub id: String,
    /// sshd's listening ports now: `confirm` wants a NEW connection to one of them
    pub sshd_ports: &'a [u16],
}

/// The ports `confirm` wants a NEW connection to: sshd's, or 22 when none is known.
pub fn proof_ports(sshd_ports: &[u16]) -> Vec<u16> {
    if sshd_ports.is_empty() {
        vec![22]
    } else {
        sshd_ports.to_vec()
    }
}

/// Packets the rules that accept a NEW SSH connection have in `live` (positions from `plan`,
/// which is live).
fn proof_packets(plan: &Plan, live: &LiveTable, ports: &[u16]) -> u64 {
    crate::core::lint::ssh_proof_rules(plan, &proof_ports(ports))
        .iter()
        .filter_map(|(chain, i)| {
            live.chains
                .iter()
                .find(|c| c.name == *chain)
                .and_then(|c| c.rules.get(*i))
        })
        .map(|r| r.packets)
        .sum()
}

/// A change on trial: committed, recorded, guarded.
#[derive(Debug)]
pub struct OnTrial {
    pub record: Pending,
    pub before: u32,
    pub after: u32,
    pub rules: usize,
}

/// What is live now, as the `Previous` a rollback would restore; refused when statewall
/// could not restore it.
fn previous_of<K: Kernel, S: Store>(
    k: &mut K,
    store: &S,
    trial: &Trial<'_>,
) -> Result<Previous, Error> {
    let Some(live) = k.read_table(trial.table)? else {
        return Ok(Previous::NoTable);
    };
    refuse_foreign(Some(&live))?;
    let table = trial.table;
    let live_fp = live_fingerprint(&live).map_err(|why| {
        Error::Refused(format!(
            "the live table inet {table} cannot be restored by statewall ({why}); nothing applied"
        ))
    })?;
    let confirmed = store.read::<Confirmed>(Kind::Confirmed).ok().flatten();
    let candidate_fp = identity::fingerprint_as(trial.plan, live.stored_scheme());
    let source = match confirmed {
        Some(c)
            if c.table == table
                && record_is_live(
                    &c.fingerprint,
                    &c.policy_text,
                    &c.files,
                    &c.mode,
                    &live,
                    &live_fp,
                ) =>
        {
            Some((c.policy_text, c.files, c.mode))
        }
        _ if live_fp == candidate_fp => Some((
            trial.text.to_string(),
            trial.files.clone(),
            trial.mode.to_string(),
        )),
        // any revision statewall committed here: a rollback can restore it
        _ => store.revisions().ok().and_then(|revs| {
            revs.into_iter().rev().find_map(|r| {
                record_is_live(
                    &r.fingerprint,
                    &r.policy_text,
                    &r.files,
                    &r.mode,
                    &live,
                    &live_fp,
                )
                .then_some((r.policy_text, r.files, r.mode))
            })
        }),
    };
    let Some((policy_text, files, mode)) = source else {
        return Err(Error::Refused(format!(
            "the live table inet {table} (plan {live_fp}) is not a confirmed policy, so a rollback \
             would have nothing to go back to; nothing applied.\n  Adopt it first: \
             `{}` with the policy that is live now, then `{}`",
            store.command("apply CURRENT.toml --confirm 120s"),
            store.command("confirm")
        )));
    };
    Ok(Previous::Policy {
        policy_text,
        files,
        mode,
        fingerprint: live_fp,
        counters: CounterSnapshot::of(&live),
    })
}

/// `apply POLICY --confirm SECS`: snapshot what is live, write the durable pending record,
/// start the guard (`spawn_guard`, outside this process's session, handed the record so
/// that it holds its own copy from the start), then commit — the
/// commit conditional on the generation the snapshot was taken at. Any failure before the
/// commit leaves nothing pending and nothing applied.
pub fn apply_confirm<K: Kernel, S: Store, C: Clock>(
    k: &mut K,
    store: &S,
    clock: &C,
    trial: Trial<'_>,
    spawn_guard: &mut dyn FnMut(&Pending) -> Result<u32, String>,
) -> Result<OnTrial, Error> {
    let fingerprint = identity::fingerprint(trial.plan);
    let _lock = store.lock().map_err(state_err)?;
    refuse_if_pending(store)?;
    let mut guard_pid = None;
    let result = ON_RACE.run(|_| {
        // (a) what is live now, with its counters: the "previous" a rollback restores
        let generation = k.generation()?;
        let previous = previous_of(k, store, &trial).map_err(RaceOr::Err)?;
        // (b) the durable pending record, before anything changes
        let now_ms = clock.realtime_ms();
        let mut record = Pending {
            id: trial.id.clone(),
            table: trial.table.to_string(),
            netns: trial.netns.clone(),
            applied_at: now_ms / 1000,
            applied_boottime_ms: clock.boottime_ms(),
            deadline: now_ms / 1000 + trial.secs,
            boot_id: clock.boot_id(),
            candidate: Candidate {
                policy_text: trial.text.to_string(),
                files: trial.files.clone(),
                mode: trial.mode.to_string(),
                fingerprint: fingerprint.clone(),
                source: trial.source.to_string(),
            },
            previous,
            guard_pid,
            sshd_ports: trial.sshd_ports.to_vec(),
            proof_baseline: 0,
        };
        // the counters the candidate starts with: what confirm's proof counts from
        let seeds = match &record.previous {
            Previous::Policy { counters, .. } if trial.carry_counters => counters.seeds(trial.plan),
            _ => Seeds::default(),
        };
        record.proof_baseline =
            crate::core::lint::ssh_proof_rules(trial.plan, &proof_ports(trial.sshd_ports))
                .iter()
                .filter_map(|(chain, i)| {
                    let ci = trial.plan.chains.iter().position(|c| c.name == *chain)?;
                    seeds.get(&(ci, *i)).map(|(packets, _)| *packets)
                })
                .sum();
        write_pending(store, &record)
            .map_err(|e| RaceOr::Err(Error::Refused(format!("{e}; nothing applied"))))?;
        // (c) the guard, outside this session
        if guard_pid.is_none() {
            let pid = spawn_guard(&record).map_err(|e| {
                let _ = clear_pending(store);
                RaceOr::Err(Error::Refused(format!(
                    "cannot start the rollback guard: {e}; nothing applied"
                )))
            })?;
            guard_pid = Some(pid);
            record.guard_pid = Some(pid);
            write_pending(store, &record).map_err(|e| {
                let _ = clear_pending(store);
                RaceOr::Err(Error::Refused(format!(
                    "{e} (the guard's pid); nothing applied"
                )))
            })?;
        }
        // (d) the commit, conditional on the generation the snapshot was taken at
        let members = if crate::core::usecase::sets::has_live_sets(trial.plan) {
            let live = k.read_table(trial.table)?;
            crate::core::usecase::sets::carried(live.as_ref(), trial.plan, store, clock)
        } else {
            Default::default()
        };
        let change = Change::Replace {
            plan: trial.plan,
            seeds: &seeds,
            members: &members,
        };
        match k.commit(change, generation) {
            Ok(c) => {
                crate::core::usecase::sets::record_carried(store, clock, &members);
                Ok((record, generation, c.generation))
            }
            Err(e) => {
                let _ = clear_pending(store);
                Err(RaceOr::from(e))
            }
        }
    });
    let (record, before, after) = result?;
    if let Err(e) = store.append_revision(&Revision {
        policy_text: trial.text.to_string(),
        files: trial.files.clone(),
        table: trial.table.to_string(),
        mode: trial.mode.to_string(),
        fingerprint: record.candidate.fingerprint.clone(),
        confirmed_at: record.applied_at,
        origin: Origin::ConfirmWindow,
        sshd_ports: trial.sshd_ports.to_vec(),
        trial: Some(record.id.clone()),
    }) {
        tracing::warn!("the revision history could not be written: {e}");
    }
    Ok(OnTrial {
        record,
        before,
        after,
        rules: trial.plan.chains.iter().map(|c| c.rules.len()).sum(),
    })
}

/// What a rollback did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RolledBack {
    /// nothing to do: nothing pending, or it was confirmed, or another change's
    Nothing(String),
    /// the previous ruleset is live again
    Done(String),
    /// statewall's table was changed by someone else: not overwritten
    Refused(String),
}

impl RolledBack {
    pub fn message(&self) -> &str {
        match self {
            RolledBack::Nothing(m) | RolledBack::Done(m) | RolledBack::Refused(m) => m,
        }
    }
}

/// The rollback, under the store's lock: restore the previous ruleset if the candidate is
/// still live; refuse (and record why) if someone else changed statewall's table.
/// `only`: act only on this pending change (the guard's own). `held`: the guard's copy of
/// the record, used when both records on disk are damaged.
pub fn rollback<K: Kernel, S: Store, C: Clock>(
    k: &mut K,
    store: &S,
    clock: &C,
    only: Option<&str>,
    held: Option<&Pending>,
) -> Result<RolledBack, Error> {
    let _lock = store.lock().map_err(state_err)?;
    let rec = match read_pending(store)? {
        Some(r) => r,
        // both records damaged and set aside: the guard still knows what to undo
        None if held.is_some_and(|h| {
            store
                .read::<RollbackRecord>(Kind::Rollback)
                .ok()
                .flatten()
                .is_none_or(|r| r.pending_id != h.id)
        }) =>
        {
            held.expect("checked").clone()
        }
        None => {
            return Ok(RolledBack::Nothing(
                "no pending change: nothing to roll back".into(),
            ));
        }
    };
    if only.is_some_and(|id| id != rec.id) {
        return Ok(RolledBack::Nothing(format!(
            "the pending change is now {}; not mine",
            rec.id
        )));
    }
    if let Ok(Some(c)) = store.read::<Confirmed>(Kind::Confirmed)
        && c.fingerprint == rec.candidate.fingerprint
        && c.confirmed_at >= rec.applied_at
    {
        let _ = clear_pending(store);
        return Ok(RolledBack::Nothing(
            "the candidate was confirmed: nothing to roll back".into(),
        ));
    }
    let record = |outcome: RolledBack| {
        let _ = store.write(
            Kind::Rollback,
            &RollbackRecord {
                pending_id: rec.id.clone(),
                at: clock.now_secs(),
                rolled_back: matches!(outcome, RolledBack::Done(_)),
                message: outcome.message().to_string(),
            },
        );
        let _ = clear_pending(store);
        outcome
    };
    let restore = match &rec.previous {
        Previous::NoTable => None,
        Previous::Policy {
            policy_text,
            files,
            mode,
            counters,
            ..
        } => match stored_plan(policy_text, files, mode, &rec.table) {
            Some(plan) => {
                let seeds = counters.seeds(&plan);
                Some((plan, seeds))
            }
            None => {
                count_rollback(store, None);
                return Ok(record(RolledBack::Refused(
                    "REFUSED to roll back: the previous policy no longer parses".into(),
                )));
            }
        },
    };
    let mut restored = false;
    let outcome = ON_RACE.run(|_| {
        let generation = k.generation()?;
        let live = k.read_table(&rec.table)?;
        let fp = live.as_ref().map(live_fingerprint);
        let is = crate::core::rollout::classify_live(
            &rec,
            fp.as_ref()
                .map(|r| r.as_ref().map(String::as_str).map_err(String::as_str)),
        );
        match is {
            LiveIs::Previous => {
                return Ok(RolledBack::Done(
                    "the previous ruleset is already live; pending change cleared".into(),
                ));
            }
            LiveIs::Foreign(why) => {
                return Ok(RolledBack::Refused(format!(
                    "REFUSED to roll back: {why}. statewall does not overwrite a change made by someone else; check `statewall status`"
                )));
            }
            LiveIs::Candidate => {}
        }
        let members = match &restore {
            Some((plan, _)) => {
                crate::core::usecase::sets::carried(live.as_ref(), plan, store, clock)
            }
            None => Default::default(),
        };
        let change = match &restore {
            None => Change::Remove { table: &rec.table },
            Some((plan, seeds)) => Change::Replace {
                plan,
                seeds,
                members: &members,
            },
        };
        let after = k.commit(change, generation)?.generation;
        if restore.is_some() {
            crate::core::usecase::sets::record_carried(store, clock, &members);
        }
        restored = true;
        let what = match &rec.previous {
            Previous::NoTable => format!("deleted table inet {}", rec.table),
            Previous::Policy { fingerprint, .. } => {
                format!("restored plan {fingerprint} with its counters")
            }
        };
        Ok(RolledBack::Done(format!(
            "rolled back: {what} (generation {generation} -> {after}); the candidate {} was never confirmed",
            rec.candidate.fingerprint
        )))
    });
    match outcome {
        Ok(o) => {
            if restored {
                count_rollback(store, Some(rollback_reason(clock.now_secs(), rec.deadline)));
            } else if matches!(o, RolledBack::Refused(_)) {
                count_rollback(store, None);
            }
            if matches!(o, RolledBack::Done(_)) {
                restored_revision(store, clock, &rec);
            }
            Ok(record(o))
        }
        Err(Error::ChangedUnderneath(_)) => Err(Error::ChangedUnderneath(
            "the ruleset kept changing underneath; rollback not done (the guard will retry)".into(),
        )),
        Err(e) => Err(e),
    }
}

/// Whether the trial `rec` is over: rolled back (the last rollback record is its), or
/// confirmed (the accepted revision is its candidate, accepted since it was applied).
fn settled<S: Store>(store: &S, rec: &Pending) -> bool {
    let rolled_back = store
        .read::<RollbackRecord>(Kind::Rollback)
        .ok()
        .flatten()
        .is_some_and(|r| r.pending_id == rec.id);
    let confirmed = store
        .read::<Confirmed>(Kind::Confirmed)
        .ok()
        .flatten()
        .is_some_and(|c| {
            c.fingerprint == rec.candidate.fingerprint && c.confirmed_at >= rec.applied_at
        });
    rolled_back || confirmed
}

/// A rollback to a policy is a revision of the history.
fn restored_revision<S: Store, C: Clock>(store: &S, clock: &C, rec: &Pending) {
    if let Previous::Policy {
        policy_text,
        files,
        mode,
        fingerprint,
        ..
    } = &rec.previous
        && let Err(e) = store.append_revision(&Revision {
            policy_text: policy_text.clone(),
            files: files.clone(),
            table: rec.table.clone(),
            mode: mode.clone(),
            fingerprint: fingerprint.clone(),
            confirmed_at: clock.now_secs(),
            origin: Origin::Rollback,
            sshd_ports: rec.sshd_ports.clone(),
            trial: None,
        })
    {
        tracing::warn!("the revision history could not be written: {e}");
    }
}

/// Adds one to the rollbacks done for `reason`, or to those refused (`None`), under the
/// caller's lock. A count that cannot be kept is said in the log, never a reason not to roll
/// back.
fn count_rollback<S: Store>(store: &S, reason: Option<&str>) {
    let mut counts = store
        .read::<RollbackCounts>(Kind::Rollbacks)
        .ok()
        .flatten()
        .unwrap_or_default();
    match reason {
        Some(reason) => *counts.by_reason.entry(reason.to_string()).or_default() += 1,
        None => counts.refused += 1,
    }
    if let Err(e) = store.write(Kind::Rollbacks, &counts) {
        tracing::warn!("the count of rollbacks could not be written: {e}");
    }
}

/// How many failed rollbacks the guard tries before it gives up.
pub const GUARD_ATTEMPTS: u32 = 20;

/// The guard's watch over pending change `watching`: waits for its deadline and rolls back,
/// or stands down when it is confirmed, rolled back or replaced. `log` gets every line for
/// the guard's log. A record that becomes unreadable keeps the last good deadline.
pub fn guard<K: Kernel, S: Store, C: Clock>(
    k: &mut K,
    store: &S,
    clock: &C,
    first: &Pending,
    log: &mut dyn FnMut(&str),
) -> Result<(), Error> {
    let boot_id = clock.boot_id();
    let mut last = first.clone();
    let mut failures = 0u32;
    loop {
        let current = match store.read::<Pending>(Kind::Pending) {
            Ok(Some(r)) => Some(r),
            first => match store.read::<Pending>(Kind::PendingCopy) {
                Ok(Some(copy)) => Some(copy),
                // gone for good only when confirmed or rolled back; otherwise the record
                // was lost, and the copy in memory holds what to undo
                _ if settled(store, &last) => None,
                _ => {
                    if let Err(e) = first {
                        log(&format!(
                            "state unreadable ({e}); keeping the record in memory"
                        ));
                    } else {
                        log(
                            "the pending record is gone but was neither confirmed nor rolled back; keeping it in memory",
                        );
                    }
                    Some(last.clone())
                }
            },
        };
        if let Some(r) = &current {
            last = r.clone();
        }
        match crate::core::rollout::guard_step(
            current.as_ref(),
            &first.id,
            clock.realtime_ms(),
            &boot_id,
        ) {
            GuardStep::Wait(ms) => clock.sleep_ms(ms),
            GuardStep::Exit(why) => {
                log(&format!("exiting: {why}"));
                return Ok(());
            }
            GuardStep::RollbackNow => match rollback(k, store, clock, Some(&first.id), Some(&last))
            {
                Ok(outcome) => {
                    log(outcome.message());
                    return Ok(());
                }
                Err(e) => {
                    failures += 1;
                    log(&format!("rollback attempt {failures} failed: {e}"));
                    if failures >= GUARD_ATTEMPTS {
                        return Err(e);
                    }
                    clock.sleep_ms(500);
                }
            },
        }
    }
}

/// What `confirm` kept.
#[derive(Debug)]
pub struct Kept {
    pub record: Pending,
    /// the session predates the apply or its age is unknown: it proved nothing
    pub unproven: Option<String>,
    /// packets the candidate's SSH-accepting rules counted since it went live
    pub proof: u64,
    /// what `--force` skipped, if anything
    pub forced: Option<String>,
}

/// `statewall confirm`: the candidate becomes the accepted revision (what boot loads) — if
/// it is still what is live, the deadline has not passed, and its counters prove what the
/// careful admin checks by eye: a NEW connection to an sshd port was accepted by one of the
/// candidate's own rules (not the final one) since it went live. `force` confirms without
/// that proof, and says so. `session`: when the confirming session was opened;
/// `require_new`: refuse unless after the apply.
#[allow(clippy::too_many_arguments)]
pub fn confirm<K: Kernel, S: Store, C: Clock>(
    k: &mut K,
    store: &S,
    clock: &C,
    session: SessionAge,
    basis: &str,
    require_new: bool,
    force: bool,
) -> Result<Kept, Error> {
    let _lock = store.lock().map_err(state_err)?;
    let Some(rec) = read_pending(store)? else {
        let last = match store.read::<RollbackRecord>(Kind::Rollback) {
            Ok(Some(r)) => format!(
                " (last rollback at {}: {})",
                crate::core::rollout::utc(r.at),
                r.message
            ),
            _ => String::new(),
        };
        return Err(Error::Refused(format!(
            "no pending change to confirm{last}"
        )));
    };
    let deadline = crate::core::rollout::utc(rec.deadline);
    if clock.now_secs() >= rec.deadline {
        return Err(Error::Refused(format!(
            "too late: the window closed at {deadline}; the change is being rolled back (by its guard, or by the next statewall command if the guard is gone); nothing confirmed"
        )));
    }
    let unproven = match session {
        SessionAge::OpenedAfterApply => None,
        age => {
            let why = if age == SessionAge::Unknown {
                "the age of this session is unknown: it may predate the apply, and then it proves nothing"
            } else {
                "this session predates the apply: it proves nothing (the `established` rule keeps it alive)"
            };
            let why = format!("{why}{basis}");
            if require_new {
                return Err(Error::Refused(format!(
                    "{why}, and --require-new-connection asks for one opened after the apply: open a NEW ssh connection and confirm from there; nothing confirmed, the rollback stays armed for {deadline}"
                )));
            }
            Some(why)
        }
    };
    let live = k.read_table(&rec.table)?;
    let live_fp = live.as_ref().map(live_fingerprint);
    let (Some(live), Some(Ok(fp))) = (&live, &live_fp) else {
        return Err(not_the_candidate(&rec));
    };
    if *fp != rec.candidate.fingerprint {
        return Err(not_the_candidate(&rec));
    }
    let c = &rec.candidate;
    let plan = stored_plan(&c.policy_text, &c.files, &c.mode, &rec.table)
        .ok_or_else(|| Error::Invalid("the candidate's policy no longer compiles".into()))?;
    let proof = proof_packets(&plan, live, &rec.sshd_ports).saturating_sub(rec.proof_baseline);
    let ports: Vec<String> = proof_ports(&rec.sshd_ports)
        .iter()
        .map(u16::to_string)
        .collect();
    let mut forced = None;
    if proof == 0 {
        let why = format!(
            "no NEW connection to sshd's port ({}) has been accepted by the candidate's own rules since it went live (their counters did not rise)",
            ports.join(", ")
        );
        if !force {
            return Err(Error::Refused(format!(
                "{why}: nothing proves you can still get in. Open a NEW ssh connection, then confirm again (or --force to confirm without the proof); the rollback stays armed for {deadline}"
            )));
        }
        forced = Some(why);
    }
    accept(
        store,
        &Revision {
            policy_text: c.policy_text.clone(),
            files: c.files.clone(),
            table: rec.table.clone(),
            mode: c.mode.clone(),
            fingerprint: c.fingerprint.clone(),
            confirmed_at: clock.now_secs().max(rec.applied_at),
            origin: Origin::Confirm,
            sshd_ports: rec.sshd_ports.clone(),
            trial: Some(rec.id.clone()),
        },
        &plan,
    )
    .map_err(|e| Error::Refused(format!("{e}; the rollback stays armed")))?;
    clear_pending(store)?;
    Ok(Kept {
        record: rec,
        unproven,
        proof,
        forced,
    })
}

fn not_the_candidate(rec: &Pending) -> Error {
    Error::Refused(format!(
        "the live table inet {} is not the candidate {} any more; nothing confirmed (see `statewall status`)",
        rec.table, rec.candidate.fingerprint
    ))
}

/// A trial whose records were lost — both copies damaged or deleted — while no guard held
/// them: rebuilt from the revision history (the candidate is the last `confirm-window`
/// revision, the previous the accepted one), with its deadline already passed, so that a
/// guard rolls it back at once — and, as always, only while the candidate is what is live.
/// `None` when nothing is lost: a record exists, or the last trial was confirmed or rolled
/// back, or the last revision is not a trial.
pub fn lost_trial<S: Store, C: Clock>(
    store: &S,
    clock: &C,
    table: &str,
    netns: Option<String>,
) -> Option<Pending> {
    if read_pending(store).ok()?.is_some() {
        return None;
    }
    // (a trial's revision is the newest: anything else means no trial, told without
    // reading a revision that may hold a 100,000-line list)
    if store
        .last_revision_origin()
        .is_some_and(|o| o != Origin::ConfirmWindow.as_str())
    {
        return None;
    }
    let last = store.last_revision().ok()??;
    if last.origin != Origin::ConfirmWindow || last.table != table {
        return None;
    }
    let accepted = store.read::<Confirmed>(Kind::Confirmed).ok().flatten();
    // over when confirmed or rolled back: told by the trial's id (two trials can start in
    // the same second); a revision of statewall before ids were kept falls back to times
    let over = match &last.trial {
        Some(id) => {
            accepted
                .as_ref()
                .is_some_and(|a| a.trial.as_ref() == Some(id))
                || store
                    .read::<RollbackRecord>(Kind::Rollback)
                    .ok()
                    .flatten()
                    .is_some_and(|r| &r.pending_id == id)
        }
        None => {
            accepted.as_ref().is_some_and(|a| {
                a.fingerprint == last.fingerprint && a.confirmed_at >= last.confirmed_at
            }) || store
                .read::<RollbackRecord>(Kind::Rollback)
                .ok()
                .flatten()
                .is_some_and(|r| r.at >= last.confirmed_at)
        }
    };
    if over {
        return None;
    }
    let now = clock.now_secs();
    Some(Pending {
        id: last
            .trial
            .clone()
            .unwrap_or_else(|| format!("recovered-{}", last.confirmed_at)),
        table: table.to_string(),
        netns,
        applied_at: last.confirmed_at,
        applied_boottime_ms: 0,
        deadline: now,
        boot_id: clock.boot_id(),
        candidate: Candidate {
            policy_text: last.policy_text,
            files: last.files,
            mode: last.mode,
            fingerprint: last.fingerprint,
            source: "a trial whose records were lost".into(),
        },
        previous: match accepted {
            Some(a) => Previous::Policy {
                policy_text: a.policy_text,
                files: a.files,
                mode: a.mode,
                fingerprint: a.fingerprint,
                counters: CounterSnapshot::default(),
            },
            None => Previous::NoTable,
        },
        guard_pid: None,
        sshd_ports: last.sshd_ports,
        proof_baseline: 0,
    })
}
