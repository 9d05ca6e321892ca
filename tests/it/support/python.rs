//! Python oracles: `prometheus_client`'s parser for the metrics text, `jsonschema` for the
//! JSON documents. `cargo xtask deps` installs both from PyPI into a venv under the target
//! directory (`target/pytools`); a test that finds neither there nor in `python3` says it
//! skipped, and why, and checks nothing else of what needs them.

use std::path::PathBuf;
use std::process::Command;

use super::{CMD_TIMEOUT, Output, run_cmd};

/// The venv `cargo xtask deps` makes: `<target>/pytools`.
pub fn venv_python() -> PathBuf {
    std::path::Path::new(env!("CARGO_TARGET_TMPDIR"))
        .parent()
        .expect("the target directory")
        .join("pytools/bin/python3")
}

/// A Python that can `import module`: `STATEWALL_TEST_PYTHON`, the venv, or `python3`.
/// `None` (and a line saying the test skipped it) when none can.
pub fn with_module(module: &str, test: &str) -> Option<PathBuf> {
    let mut candidates: Vec<PathBuf> = Vec::new();
    if let Some(p) = std::env::var_os("STATEWALL_TEST_PYTHON") {
        candidates.push(p.into());
    }
    candidates.push(venv_python());
    candidates.push("python3".into());
    for py in candidates {
        let mut cmd = Command::new(&py);
        cmd.args(["-c", &format!("import {module}")]);
        let ok = cmd
            .stdin(std::process::Stdio::null())
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .status()
            .is_ok_and(|s| s.success());
        if ok {
            return Some(py);
        }
    }
    eprintln!(
        "SKIPPED {test}: the Python package `{module}` is missing (neither in {} nor in python3); \
         `cargo xtask deps` installs it",
        venv_python().display()
    );
    None
}

/// Runs `script` with `args` under `python`, with [`CMD_TIMEOUT`].
pub fn run(python: &PathBuf, script: &str, args: &[&str]) -> Output {
    let mut cmd = Command::new(python);
    cmd.arg("-c").arg(script).args(args);
    run_cmd(cmd, CMD_TIMEOUT)
}
