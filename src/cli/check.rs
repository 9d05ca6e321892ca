//! `statewall check`: validate only; every problem with file:line:col.

use std::path::Path;

use super::error::CliError;
use super::{Ctx, load, outln};

pub fn run(cx: &Ctx, policy: Option<&Path>) -> Result<(), CliError> {
    let l = load::load(policy, &cx.import)?;
    let plan = crate::core::compile::compile(&l.validated.policy, &cx.table);
    let imported = l.iptables.then_some((l.validated.text.as_str(), None));
    load::fits_the_kernel(&plan, &l.path, imported)?;
    outln(format!("{}: ok", l.path.display()))
}
