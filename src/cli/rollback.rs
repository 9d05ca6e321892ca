//! `statewall rollback`: back to the ruleset before the pending change, now.

use super::error::{CliError, Exit};
use super::{Ctx, enter, kernel, outln};
use crate::core::usecase;
use crate::core::usecase::rollout::{self as trial, RolledBack};
use crate::system::host::SystemClock;

pub fn run(cx: &Ctx) -> Result<(), CliError> {
    let Some(rec) = usecase::read_pending(&cx.state)? else {
        return Err(CliError::new(
            Exit::Unsafe,
            "no pending change: nothing to roll back",
        ));
    };
    enter(rec.netns.as_deref())?;
    let mut k = kernel();
    let result = trial::rollback(&mut k, &cx.state, &SystemClock, Some(&rec.id), None);
    k.finish();
    match result? {
        RolledBack::Refused(why) => Err(CliError::new(Exit::Unsafe, why)),
        done => outln(done.message()),
    }
}
