//! `statewall plan`: the nft script apply would commit, and its diff to the live table;
//! with `--exit-code`, whether an apply would change anything (exit 0) or not (exit 8).

use std::path::Path;

use super::error::{CliError, Exit};
use super::{Ctx, guard, kernel, load, out};
use crate::core::usecase::apply::{self, Comparison};
use crate::core::{compile, render, report};

pub fn run(
    cx: &Ctx,
    policy: Option<&Path>,
    audit: bool,
    no_live: bool,
    exit_code: bool,
) -> Result<(), CliError> {
    guard::ensure(cx);
    let loaded = load::load(policy, &cx.import)?;
    cx.enter_netns()?;
    let plan = compile::compile(
        &compile::with_mode(loaded.validated.policy, audit),
        &cx.table,
    );
    let imported = loaded
        .iptables
        .then_some((loaded.validated.text.as_str(), None));
    load::fits_the_kernel(&plan, &loaded.path, imported)?;
    let mut s = render::script(&plan);
    if no_live {
        return out(&s);
    }
    s.push('\n');
    let table = &plan.table;
    let compared = apply::compare(&mut kernel(), &plan);
    let outcome = match compared {
        Err(e) if exit_code => {
            // no answer to give: the script, then the error and its own exit code
            out(&s)?;
            return Err(e.into());
        }
        Err(e) => {
            s.push_str(&format!("# live table not readable ({e}); no diff\n"));
            Ok(())
        }
        Ok(Comparison::Absent) => {
            s.push_str(&format!(
                "# no live table inet {table}: apply would create it\n"
            ));
            would_change(table)
        }
        Ok(Comparison::Same) => {
            s.push_str(&format!(
                "# the live table inet {table} already is this plan (apply would send nothing and keep every counter)\n"
            ));
            Ok(())
        }
        Ok(Comparison::Foreign(live)) => {
            s.push_str(&format!(
                "# table inet {table} exists and was not made by statewall: apply would refuse to touch it\n"
            ));
            diff(&mut s, &live, &plan);
            Err(CliError::new(
                Exit::Unsafe,
                format!(
                    "table inet {table} was not made by statewall: apply would refuse to touch it"
                ),
            ))
        }
        Ok(Comparison::Differs(live)) => {
            diff(&mut s, &live, &plan);
            would_change(table)
        }
    };
    out(&s)?;
    if exit_code { outcome } else { Ok(()) }
}

/// `--exit-code`'s answer when an apply would change the table.
fn would_change(table: &str) -> Result<(), CliError> {
    Err(CliError::new(
        Exit::WouldChange,
        format!("the live table inet {table} is not this plan: apply would change it"),
    ))
}

/// The line diff from the live table to the plan, as `#` comments.
fn diff(s: &mut String, live: &crate::core::live::LiveTable, plan: &crate::core::plan::Plan) {
    let table = &plan.table;
    match render::diff(&report::live_text(live), &render::table_body(plan)) {
        None => match report::drift(live) {
            None => s.push_str(&format!(
                "# the live table inet {table} already is this plan, committed by statewall 0.1: apply would commit it once more in the current format, keeping every counter\n"
            )),
            Some(why) => s.push_str(&format!(
                "# the live table inet {table} shows the same rules, but is not recorded as this plan ({why}): apply would replace it, keeping every counter\n"
            )),
        },
        Some(d) => {
            s.push_str(&format!(
                "# difference from the live table inet {table} (- live, + plan):\n"
            ));
            for line in d.lines() {
                s.push_str(&format!("# {line}\n"));
            }
        }
    }
}
