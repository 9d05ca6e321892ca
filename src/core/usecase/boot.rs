//! `statewall boot`: the last confirmed policy; when its record is damaged, the newest
//! revision of the history that was accepted when written; else the built-in safe one. Never
//! a pending change (the machine restarted: it was not confirmed), never nothing.

use crate::core::identity::{self, Seeds};
use crate::core::kernel::Kernel;
use crate::core::rollout::{
    self, BootSource, Confirmed, Origin, Pending, Revision, RollbackRecord,
};
use crate::core::store::{Clock, Kind, Store};
use crate::core::usecase::apply::refuse_foreign;
use crate::core::usecase::{Error, clear_pending, stored_plan};

/// What boot loaded.
#[derive(Debug)]
pub struct Booted {
    pub what: String,
    pub table: String,
    pub fingerprint: String,
    pub generation: u32,
}

/// `note` gets what boot has to say on the way (discarded records, fallbacks), for stderr.
pub fn boot<K: Kernel, S: Store, C: Clock>(
    k: &mut K,
    store: &S,
    clock: &C,
    table: &str,
    note: &mut dyn FnMut(String),
) -> Result<Booted, Error> {
    // under the lock, so that a guard recording its pid cannot bring the record back
    let lock = store.lock().ok();
    match store.read::<Pending>(Kind::Pending) {
        Ok(None) => {}
        Ok(Some(p)) => {
            note(format!(
                "boot: discarding the unconfirmed change {} ({}); loading the last accepted policy",
                p.id, p.candidate.source
            ));
            // said where a guard still watching it looks: the trial is over
            let _ = store.write(
                Kind::Rollback,
                &RollbackRecord {
                    pending_id: p.id.clone(),
                    at: clock.now_secs(),
                    rolled_back: false,
                    message: "discarded by boot: a change on trial is never what boot loads".into(),
                },
            );
        }
        Err(e) => {
            note(format!(
                "boot: discarding an unreadable pending record: {e}"
            ));
        }
    }
    let _ = clear_pending(store);
    let accepted = store.read::<Confirmed>(Kind::Confirmed);
    // the record is there but damaged (or no longer compiles), as opposed to absent
    let damaged = !matches!(accepted, Ok(None));
    let history = store.revisions().unwrap_or_default();
    // the ports sshd listened on when statewall last committed: the fallback keeps them open
    let sshd_ports: Vec<u16> = match &accepted {
        Ok(Some(c)) if !c.sshd_ports.is_empty() => c.sshd_ports.clone(),
        _ => history
            .iter()
            .rev()
            .find(|r| !r.sshd_ports.is_empty())
            .map(|r| r.sshd_ports.clone())
            .unwrap_or_default(),
    };
    drop(lock);
    let source = rollout::boot_source(accepted.map_err(|e| e.to_string()));
    let attempts = attempts(&source, damaged, &history, &sshd_ports, table, note);
    refuse_foreign(k.read_table(table)?.as_ref())?;
    let mut last_err = None;
    for Attempt {
        text,
        files,
        mode,
        table,
        what,
        accepts,
    } in attempts
    {
        let Some(plan) = stored_plan(&text, &files, &mode, &table) else {
            note(format!("boot: {what} no longer compiles"));
            continue;
        };
        let seeds = Seeds::default();
        match crate::core::usecase::sets::replace_carrying(k, store, clock, &plan, &seeds) {
            Ok((_, committed)) => {
                if let Some(r) = accepts {
                    match store.write(Kind::Confirmed, &r) {
                        Ok(()) => note(
                            "boot: the accepted record is written again from that revision".into(),
                        ),
                        Err(e) => note(format!(
                            "boot: the accepted record could not be written again: {e}"
                        )),
                    }
                }
                if let Err(e) = store.append_revision(&Revision {
                    policy_text: text,
                    files,
                    table: table.clone(),
                    mode,
                    fingerprint: identity::fingerprint(&plan),
                    confirmed_at: clock.now_secs(),
                    origin: Origin::Boot,
                    sshd_ports: sshd_ports.clone(),
                    trial: None,
                }) {
                    note(format!(
                        "boot: the revision history could not be written: {e}"
                    ));
                }
                return Ok(Booted {
                    what,
                    fingerprint: identity::fingerprint(&plan),
                    table,
                    generation: committed.generation,
                });
            }
            Err(e) => {
                note(format!("boot: loading {what} failed: {e}"));
                last_err = Some(e);
            }
        }
    }
    Err(last_err.unwrap_or_else(|| Error::Invalid("boot: no policy could be compiled".into())))
}

/// A policy boot may load: its text, lists, mode and table, and what it is (for the output).
struct Attempt {
    text: String,
    files: std::collections::BTreeMap<String, String>,
    mode: String,
    table: String,
    what: String,
    /// the history's revision this is, to become the accepted record again once the kernel
    /// took it (its record was damaged)
    accepts: Option<Revision>,
}

impl Attempt {
    /// `r`, said as `what (plan …, origin date{more})`.
    fn of(r: &Revision, what: &str, more: &str) -> Attempt {
        Attempt {
            text: r.policy_text.clone(),
            files: r.files.clone(),
            mode: r.mode.clone(),
            table: r.table.clone(),
            what: format!(
                "{what} (plan {}, {} {}{more})",
                r.fingerprint,
                r.origin.as_str(),
                rollout::utc(r.confirmed_at),
            ),
            accepts: None,
        }
    }
}

/// What boot tries, in order: the accepted policy; with its record damaged (`damaged`: there
/// but unreadable, or no longer compiling), the newest accepted revision of `history` — which
/// becomes the record again once the kernel took it (else every boot would add a revision of
/// its own and, 16 boots later, the history would hold no accepted one to go back to); last
/// the built-in safe policy.
fn attempts(
    source: &BootSource,
    damaged: bool,
    history: &[Revision],
    sshd_ports: &[u16],
    table: &str,
    note: &mut dyn FnMut(String),
) -> Vec<Attempt> {
    let safe = |why: &str| Attempt {
        text: rollout::safe_policy(sshd_ports),
        files: std::collections::BTreeMap::new(),
        mode: "enforce".to_string(),
        table: table.to_string(),
        what: format!("the built-in safe policy ({why})"),
        accepts: None,
    };
    match source {
        BootSource::Confirmed(c) => vec![
            Attempt::of(c, "the last accepted policy", ""),
            safe("the confirmed one failed"),
        ],
        BootSource::Safe(why) => match damaged.then(|| rollout::newest_accepted(history)) {
            Some(Some(r)) => {
                note(format!(
                    "boot: {why}; loading the newest accepted revision of the history instead"
                ));
                vec![
                    Attempt {
                        accepts: Some(r.clone()),
                        ..Attempt::of(
                            r,
                            "the newest accepted revision of the history",
                            "; the accepted record is unusable",
                        )
                    },
                    safe("the accepted record and the history's failed"),
                ]
            }
            _ => {
                note(format!("boot: {why}; loading the built-in safe policy"));
                vec![safe(
                    "ssh open on sshd's recorded ports and 22, the rest dropped",
                )]
            }
        },
    }
}
