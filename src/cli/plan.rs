//! `statewall plan`: the nft script apply would commit, and its diff to the live table.

use std::path::Path;

use super::error::CliError;
use super::{Ctx, guard, kernel, load, out};
use crate::core::kernel::Kernel;
use crate::core::{compile, render, report};

pub fn run(cx: &Ctx, policy: Option<&Path>, audit: bool, no_live: bool) -> Result<(), CliError> {
    guard::ensure(cx);
    let loaded = load::load(policy, &cx.import)?;
    cx.enter_netns()?;
    let plan = compile::compile(
        &compile::with_mode(loaded.validated.policy, audit),
        &cx.table,
    );
    let mut s = render::script(&plan);
    if !no_live {
        s.push('\n');
        let mut k = kernel();
        match k.read_table(&plan.table) {
            Err(e) => s.push_str(&format!("# live table not readable ({e}); no diff\n")),
            Ok(None) => s.push_str(&format!(
                "# no live table inet {}: apply would create it\n",
                plan.table
            )),
            Ok(Some(live)) if live.stored_fingerprint().is_none() => s.push_str(&format!(
                "# table inet {} exists and was not made by statewall: apply would refuse to touch it\n",
                plan.table
            )),
            Ok(Some(live)) => {
                match render::diff(&report::live_text(&live), &render::table_body(&plan)) {
                    None => s.push_str(&format!(
                        "# the live table inet {} already is this plan (apply would send nothing and keep every counter)\n",
                        plan.table
                    )),
                    Some(d) => {
                        s.push_str(&format!(
                            "# difference from the live table inet {} (- live, + plan):\n",
                            plan.table
                        ));
                        for line in d.lines() {
                            s.push_str(&format!("# {line}\n"));
                        }
                    }
                }
            }
        }
    }
    out(&s)
}
