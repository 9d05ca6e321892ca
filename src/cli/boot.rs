//! `statewall boot`: the last confirmed policy (its record damaged: the newest accepted
//! revision of the history), else the built-in safe one.

use super::error::CliError;
use super::{Ctx, kernel, outln};
use crate::core::usecase::boot;
use crate::system::host::SystemClock;

pub fn run(cx: &Ctx) -> Result<(), CliError> {
    cx.enter_netns()?;
    let mut k = kernel();
    let result = boot::boot(&mut k, &cx.state, &SystemClock, &cx.table, &mut |n| {
        eprintln!("statewall: {n}")
    });
    k.finish();
    let b = result?;
    // a revision is named with the plan it recorded: said once, unless it compiles to another
    let plan = if b.what.contains(&b.fingerprint) {
        String::new()
    } else {
        format!(", plan {}", b.fingerprint)
    };
    outln(format!(
        "boot: loaded {} into table inet {}{plan}, generation {}",
        b.what, b.table, b.generation
    ))
}
