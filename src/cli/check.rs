//! `statewall check`: validate only; every problem with file:line:col, and what the lockout
//! lint of an `apply` here would refuse, as a warning.

use std::path::Path;

use super::error::CliError;
use super::{Ctx, load, outln};

pub fn run(cx: &Ctx, policy: Option<&Path>) -> Result<(), CliError> {
    let l = load::load(policy, &cx.import)?;
    let plan = crate::core::compile::compile(&l.validated.policy, &cx.table);
    let imported = l.iptables.then_some((l.validated.text.as_str(), None));
    load::fits_the_kernel(&plan, &l.path, imported)?;
    // what `apply` here would refuse for a lockout: said now, as a warning (check reads no
    // kernel, and the facts are this namespace's: its sshd, the admin's connection)
    // (in --netns's namespace, as apply reads them: the host's facts would warn of the
    // host's sshd and connection, which that namespace's ruleset never sees)
    if let Err(e) = cx.enter_netns() {
        tracing::debug!("no lockout warning: {e}");
        return outln(format!("{}: ok", l.path.display()));
    }
    let facts = crate::system::host::facts();
    let findings = crate::core::lint::check(&plan, &facts);
    if !findings.is_empty() {
        eprintln!(
            "warning: `apply` here would refuse this policy, which would lock you out (--force overrides):"
        );
        for f in findings {
            eprintln!("  - {f}");
        }
    }
    outln(format!("{}: ok", l.path.display()))
}
