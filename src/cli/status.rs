//! `statewall status`: per-rule packets and bytes read over netlink; drift; the pending
//! change.

use std::io::Write;

use super::error::{CliError, Exit};
use super::{Ctx, guard, kernel, out};
use crate::core::report;
use crate::core::usecase;

pub fn run(cx: &Ctx, json: bool, exact: bool) -> Result<(), CliError> {
    guard::ensure(cx);
    cx.enter_netns()?;
    let live = match usecase::apply::status(&mut kernel(), &cx.table) {
        Ok(live) => live,
        // no table, but a policy accepted here (after a reboot, or a remove): say so
        Err(usecase::Error::NoTable(m)) => {
            return Err(match accepted(cx) {
                Some(c) => CliError::new(
                    Exit::NoTable,
                    format!(
                        "no table inet {} here; the accepted policy is plan {} ({} {}): `{}` loads it",
                        cx.table,
                        c.fingerprint,
                        c.origin.as_str(),
                        crate::core::rollout::utc(c.confirmed_at),
                        crate::core::store::Store::command(&cx.state, "boot")
                    ),
                ),
                None => usecase::Error::NoTable(m).into(),
            });
        }
        Err(e) => return Err(e.into()),
    };
    // what boot loads, when no change is pending: the live table unless an apply died
    // between its commit and its record (or the table came from another state directory)
    let accepted = accepted(cx);
    let pending = crate::core::store::Store::read::<crate::core::rollout::Pending>(
        &cx.state,
        crate::core::store::Kind::Pending,
    );
    let not_accepted = match (&accepted, pending) {
        (Some(c), Ok(None)) => usecase::rollout::live_is_not_accepted(c, &live),
        _ => None,
    };
    if json {
        let mut doc = report::status_doc(&live);
        doc.pending = guard::pending_json(&cx.state);
        doc.accepted_plan = accepted.as_ref().map(|c| c.fingerprint.clone());
        doc.boot_loads_live = match (&accepted, &not_accepted) {
            (_, Some(_)) => Some(false),
            (Some(_), None) if !doc.drift => Some(true),
            _ => None,
        };
        let o = std::io::stdout().lock();
        let mut o = std::io::BufWriter::with_capacity(1 << 16, o);
        serde_json::to_writer_pretty(&mut o, &doc)
            .map_err(std::io::Error::from)
            .and_then(|_| o.write_all(b"\n"))
            .and_then(|_| o.flush())
            .map_err(|e| CliError::new(Exit::Output, format!("cannot write to stdout: {e}")))
    } else {
        let mut s = report::status_text(&live, exact);
        if let (Some(c), Some(live_fp)) = (&accepted, &not_accepted) {
            s.push_str(&format!(
                "\nNOT WHAT BOOT LOADS: the live plan {live_fp} is not the accepted one, plan {} ({} {}), which boot loads: an apply that died before recording it, or a table committed with another --state-dir. `statewall apply POLICY` of the live policy records it; `{}` goes back to the accepted one\n",
                c.fingerprint,
                c.origin.as_str(),
                crate::core::rollout::utc(c.confirmed_at),
                crate::core::store::Store::command(&cx.state, "boot"),
            ));
        }
        s.push_str(&guard::pending_text(&cx.state));
        out(&s)
    }
}

/// The accepted policy's record here, if there is one that reads.
fn accepted(cx: &Ctx) -> Option<crate::core::rollout::Confirmed> {
    crate::core::store::Store::read(&cx.state, crate::core::store::Kind::Confirmed)
        .ok()
        .flatten()
}
