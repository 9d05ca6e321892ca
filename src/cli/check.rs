//! `statewall check`: validate only; every problem with file:line:col.

use std::path::Path;

use super::error::CliError;
use super::{Ctx, load, outln};

pub fn run(cx: &Ctx, policy: Option<&Path>) -> Result<(), CliError> {
    let l = load::load(policy, &cx.import)?;
    outln(format!("{}: ok", l.path.display()))
}
