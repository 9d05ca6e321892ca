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
    let live = usecase::apply::status(&mut kernel(), &cx.table)?;
    if json {
        let mut doc = report::status_doc(&live);
        doc.pending = guard::pending_json(&cx.state);
        let o = std::io::stdout().lock();
        let mut o = std::io::BufWriter::with_capacity(1 << 16, o);
        serde_json::to_writer_pretty(&mut o, &doc)
            .map_err(std::io::Error::from)
            .and_then(|_| o.write_all(b"\n"))
            .and_then(|_| o.flush())
            .map_err(|e| CliError::new(Exit::Output, format!("cannot write to stdout: {e}")))
    } else {
        let mut s = report::status_text(&live, exact);
        s.push_str(&guard::pending_text(&cx.state));
        out(&s)
    }
}
