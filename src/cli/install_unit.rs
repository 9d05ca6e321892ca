//! `statewall install-unit`: the systemd unit that runs `statewall boot` early, for this
//! binary, this state directory and this table, confined.

use std::path::{Path, PathBuf};

use super::error::CliError;
use super::{Ctx, outln};
use crate::core::rollout;

/// A path systemd takes as it is in a unit line: absolute, no white space, quotes,
/// backslashes or `%` (a specifier).
fn unit_safe(what: &str, p: &Path) -> Result<String, CliError> {
    let s = p.to_str().unwrap_or_default();
    if !p.is_absolute()
        || s.is_empty()
        || s.chars()
            .any(|c| c.is_whitespace() || matches!(c, '"' | '\'' | '\\' | '%' | ';'))
    {
        return Err(CliError::usage(format!(
            "{what} {}: a unit needs an absolute path without spaces, quotes, backslashes or '%'",
            p.display()
        )));
    }
    Ok(s.to_string())
}

pub fn run(cx: &Ctx, dir: &Path) -> Result<(), CliError> {
    // the unit runs at boot, before any named namespace exists, in the host's namespace: a
    // --netns left out of it would load the host's records (or the built-in safe policy)
    // into the host's firewall, not this namespace's
    if let Some(ns) = &cx.netns {
        return Err(CliError::usage(format!(
            "--netns {}: the unit install-unit writes runs `statewall boot` in the host's network namespace at boot, before any named namespace exists; for a namespace, run `statewall --netns {} boot` from whatever creates it (its own unit's ExecStartPost=, or the container's start hook)",
            crate::core::diag::shorten(ns, 80),
            crate::core::diag::shorten(ns, 80)
        )));
    }
    // the unit runs this very binary: where it is now, as the kernel sees it
    let exe = std::env::current_exe()
        .and_then(std::fs::canonicalize)
        .map_err(|e| CliError::usage(format!("cannot tell where this binary is: {e}")))?;
    let binary = unit_safe("the binary", &exe)?;
    let state_dir = unit_safe("--state-dir", cx.state.root())?;
    if binary.starts_with("/tmp/") || binary.contains("/target/debug/") {
        eprintln!(
            "statewall: WARNING: the unit runs {binary}, which may not be there at the next boot; install the binary (e.g. `cargo xtask dist`, then copy target/dist/statewall to /usr/local/sbin) and run install-unit from there"
        );
    }
    let unit = rollout::systemd_unit(&binary, &state_dir, &cx.table);
    // one unit a table: a second table's install does not overwrite the first's
    let name = if cx.table == crate::core::compile::DEFAULT_TABLE {
        "statewall.service".to_string()
    } else {
        format!("statewall-{}.service", cx.table)
    };
    let path: PathBuf = dir.join(&name);
    let tmp = dir.join(format!(".{name}.tmp"));
    if let Err(e) = std::fs::write(&tmp, &unit).and_then(|_| std::fs::rename(&tmp, &path)) {
        let _ = std::fs::remove_file(&tmp);
        return Err(CliError::usage(format!(
            "cannot write {}: {e}",
            path.display()
        )));
    }
    outln(format!(
        "wrote {}\nit runs `{binary} --state-dir {state_dir} --table {} boot` before the network comes up (network-pre.target): the last accepted policy, else the built-in safe one\nenable it with: systemctl daemon-reload && systemctl enable {name}",
        path.display(),
        cx.table
    ))?;
    nothing_accepted_yet(cx);
    Ok(())
}

/// Warns when this namespace and table have no accepted policy yet: the next boot then
/// loads the built-in safe policy, which opens sshd's ports as recorded at the last commit
/// (none yet) and 22 — an sshd on another port would be cut off at that boot.
fn nothing_accepted_yet(cx: &Ctx) {
    use crate::core::store::Kind;
    if !matches!(
        cx.state
            .read::<crate::core::rollout::Confirmed>(Kind::Confirmed),
        Ok(None)
    ) {
        return;
    }
    // the ports a trial's revision recorded, which that policy opens too
    let recorded: Vec<u16> = cx
        .state
        .revisions()
        .unwrap_or_default()
        .into_iter()
        .flat_map(|r| r.sshd_ports)
        .collect();
    let ports = crate::system::host::sshd_ports();
    let other: Vec<String> = ports
        .iter()
        .filter(|p| **p != 22 && !recorded.contains(p))
        .map(u16::to_string)
        .collect();
    let cut = if other.is_empty() {
        String::new()
    } else {
        format!(
            "; sshd listens on {} now, which that policy would not open",
            other.join(", ")
        )
    };
    eprintln!(
        "statewall: WARNING: no policy accepted yet here: until one is applied the next boot loads the built-in safe policy (ssh open on 22 and on sshd's ports as a commit recorded them, the rest dropped{cut}); apply a policy before rebooting"
    );
}
