//! `statewall import`: an iptables-save file → a statewall policy (TOML on stdout, notes on
//! stderr).

use std::path::Path;

use super::error::CliError;
use super::{Ctx, load, out};

pub fn run(cx: &Ctx, file: &Path) -> Result<(), CliError> {
    let src = load::read_iptables(file, load::IMPORT_MAX, "an iptables-save file")?;
    let i = load::imported(file, &src, &cx.import)?;
    let plan = crate::core::compile::compile(&i.policy, &cx.table);
    load::fits_the_kernel(&plan, file, Some((&i.toml, Some(&src))))?;
    out(&i.toml)
}
