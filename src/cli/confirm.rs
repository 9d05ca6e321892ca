//! `statewall confirm`: keep the pending change; it becomes what boot loads.

use super::error::CliError;
use super::{Ctx, enter, kernel, outln};
use crate::core::rollout::{self, ConnectionBasis};
use crate::core::usecase::rollout as trial;
use crate::system::host::{self, SystemClock};

pub fn run(cx: &Ctx, require_new: bool, force: bool) -> Result<(), CliError> {
    // the pending change says which namespace it lives in, and when it was applied (the
    // use case reads it again under the lock, and says when there is none)
    let pending = crate::core::usecase::read_pending(&cx.state).ok().flatten();
    let ns = pending.as_ref().and_then(|p| p.netns.clone());
    let applied_boottime = pending.as_ref().map(|p| p.applied_boottime_ms);
    let conn = host::connection_start();
    let basis = match conn {
        Some((_, ConnectionBasis::SshdProcess)) => " (judged by its sshd process)",
        Some((_, ConnectionBasis::SessionLeader)) => " (judged by its session leader)",
        None => "",
    };
    // start times are whole clock ticks (floored): a start in the apply's own tick is after it
    let age = rollout::session_age(
        conn.map(|c| c.0),
        applied_boottime
            .unwrap_or(0)
            .saturating_sub(host::tick_ms()),
    );
    enter(ns.as_deref())?;
    let mut k = kernel();
    let kept = trial::confirm(
        &mut k,
        &cx.state,
        &SystemClock,
        age,
        basis,
        require_new,
        force,
    )?;
    match &kept.forced {
        None => outln(format!(
            "proof: the candidate's own rules accepted {} packet(s) of NEW connections to sshd since it went live",
            kept.proof
        ))?,
        Some(why) => eprintln!("statewall: WARNING (--force): {why}; confirmed without that proof"),
    }
    match &kept.unproven {
        None => outln(format!(
            "this session was opened after the apply{basis}: it came in through the candidate's rules as a NEW connection"
        ))?,
        Some(why) => outln(format!(
            "WARNING: {why}. Open a NEW ssh connection and confirm from there."
        ))?,
    }
    let c = &kept.record.candidate;
    outln(format!(
        "confirmed {} (plan {}, mode {}): it is the accepted revision; boot loads it; the guard stands down",
        c.source, c.fingerprint, c.mode
    ))
}
