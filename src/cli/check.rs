//! `statewall check`: validate only; every problem with file:line:col.

use std::path::Path;

use super::error::CliError;
use super::{Ctx, load, outln};

pub fn run(cx: &Ctx, policy: Option<&Path>) -> Result<(), CliError> {
    let l = load::load(policy, &cx.import)?;
    let plan = crate::core::compile::compile(&l.validated.policy, &cx.table);
    let from = l
        .iptables
        .then_some((l.path.as_path(), l.validated.text.as_str()));
    load::fits_the_kernel(&plan, from)?;
    outln(format!("{}: ok", l.path.display()))
}
