//! `statewall remove`: delete statewall's table, and nothing else.

use super::error::CliError;
use super::{Ctx, guard, kernel, outln};
use crate::core::usecase;

pub fn run(cx: &Ctx) -> Result<(), CliError> {
    guard::ensure(cx);
    cx.enter_netns()?;
    let mut k = kernel();
    let result = usecase::apply::remove(&mut k, &cx.state, &cx.table);
    k.finish();
    result?;
    outln(format!("removed table inet {}", cx.table))
}
