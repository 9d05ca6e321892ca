//! `statewall boot`: the last confirmed policy, else the built-in safe one. Never a pending
//! change (the machine restarted: it was not confirmed), never nothing.

use crate::core::identity::{self, Seeds};
use crate::core::kernel::{Change, Kernel};
use crate::core::rollout::{self, BootSource, Confirmed, Pending};
use crate::core::store::{Kind, Store};
use crate::core::usecase::apply::commit_fresh;
use crate::core::usecase::{Error, stored_plan};

/// What boot loaded.
#[derive(Debug)]
pub struct Booted {
    pub what: String,
    pub table: String,
    pub fingerprint: String,
    pub generation: u32,
}

/// `note` gets what boot has to say on the way (discarded records, fallbacks), for stderr.
pub fn boot<K: Kernel, S: Store>(
    k: &mut K,
    store: &S,
    table: &str,
    note: &mut dyn FnMut(String),
) -> Result<Booted, Error> {
    // under the lock, so that a guard recording its pid cannot bring the record back
    let lock = store.lock().ok();
    match store.read::<Pending>(Kind::Pending) {
        Ok(None) => {}
        Ok(Some(p)) => {
            note(format!(
                "boot: discarding the unconfirmed change {} ({}); loading the last confirmed policy",
                p.id, p.candidate.source
            ));
            let _ = store.remove(Kind::Pending);
        }
        Err(e) => {
            note(format!(
                "boot: discarding an unreadable pending record: {e}"
            ));
            let _ = store.remove(Kind::Pending);
        }
    }
    drop(lock);
    let source = rollout::boot_source(
        store
            .read::<Confirmed>(Kind::Confirmed)
            .map_err(|e| e.to_string()),
    );
    let safe = |why: &str| {
        (
            rollout::SAFE_POLICY.to_string(),
            std::collections::BTreeMap::new(),
            "enforce".to_string(),
            table.to_string(),
            format!("the built-in safe policy ({why})"),
        )
    };
    let mut attempts = Vec::new();
    match &source {
        BootSource::Confirmed(c) => {
            attempts.push((
                c.policy_text.clone(),
                c.files.clone(),
                c.mode.clone(),
                c.table.clone(),
                format!(
                    "the last confirmed policy (plan {}, confirmed {})",
                    c.fingerprint,
                    rollout::utc(c.confirmed_at)
                ),
            ));
            attempts.push(safe("the confirmed one failed"));
        }
        BootSource::Safe(why) => {
            note(format!("boot: {why}; loading the built-in safe policy"));
            attempts.push(safe("ssh open, the rest dropped"));
        }
    }
    let mut last_err = None;
    for (text, files, mode, table, what) in attempts {
        let Some(plan) = stored_plan(&text, &files, &mode, &table) else {
            note(format!("boot: {what} no longer compiles"));
            continue;
        };
        let seeds = Seeds::default();
        match commit_fresh(
            k,
            Change::Replace {
                plan: &plan,
                seeds: &seeds,
            },
        ) {
            Ok((_, committed)) => {
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
