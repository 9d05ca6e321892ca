//! `statewall enforce`: audit → enforce in one swap, the counters carried over.

use std::path::Path;
use std::time::Instant;

use super::error::CliError;
use super::{Ctx, apply, guard, kernel, load, millis, outln};
use crate::core::usecase::{self, enforce};
use crate::system::host::{self, SystemClock};

pub fn run(
    cx: &Ctx,
    policy: Option<&Path>,
    force: bool,
    confirm: Option<u64>,
) -> Result<(), CliError> {
    guard::ensure(cx);
    let loaded = load::load(policy, &cx.import)?;
    if confirm.is_some() {
        loaded.require_toml_for_confirm()?;
    }
    usecase::refuse_if_pending(&cx.state)?;
    cx.enter_netns()?;
    let started = Instant::now();
    let mut k = kernel();
    let facts = host::facts();
    let (checked, _) = enforce::check(&mut k, &cx.table, &loaded.validated.policy, &facts, force)?;
    if !checked.forced.is_empty() {
        for r in &checked.forced {
            eprintln!("statewall: {r}");
        }
        eprintln!("statewall: --force: enforcing anyway");
    }
    if let Some(secs) = confirm {
        return apply::on_trial(
            cx,
            &loaded.validated,
            &checked.plan,
            true,
            secs,
            &facts.sshd_ports,
        );
    }
    let result = enforce::commit(
        &mut k,
        &cx.state,
        &SystemClock,
        &checked,
        &loaded.validated,
        &facts.sshd_ports,
    );
    k.finish();
    let (before, after) = result?;
    outln(format!(
        "enforced {}: table inet {} now drops what the audit counted ({} packets so far), {} rules kept their counters, generation {before} -> {after}, {}\nboot loads it (mode enforce)",
        loaded.validated.source,
        cx.table,
        checked.would_drop,
        checked.seeds.len(),
        millis(started.elapsed())
    ))
}
