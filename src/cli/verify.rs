//! `statewall verify`: the audit report; exit 0 when enforcing looks safe, 6 when not.

use super::error::{CliError, Exit};
use super::{Ctx, guard, kernel, out, outln};
use crate::core::{usecase, verify};
use crate::system::host;

pub fn run(cx: &Ctx, json: bool) -> Result<(), CliError> {
    guard::ensure(cx);
    cx.enter_netns()?;
    let report = usecase::apply::verify(&mut kernel(), &cx.table, &host::facts())?;
    if json {
        outln(serde_json::to_string_pretty(&verify::json(&report)).expect("json"))?;
    } else {
        out(&verify::text(&report))?;
    }
    if report.safe() {
        Ok(())
    } else {
        // the report says why; the exit code says it to scripts
        Err(CliError::new(
            Exit::Unsafe,
            "enforcing looks unsafe (see the report above)",
        ))
    }
}
