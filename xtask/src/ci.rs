//! `cargo xtask ci`: what CI runs (via `.ci/run`), in order, stopping at the first failure.

use std::process::Command;

use crate::deps;
use crate::util::{self, Result};

struct Step {
    name: &'static str,
    title: &'static str,
    run: fn() -> Result,
}

const STEPS: &[Step] = &[
    Step {
        name: "deps",
        title: "system packages (libclang-dev, nftables, iptables, iproute2, iputils-ping, ...)",
        run: deps::run,
    },
    Step {
        name: "fmt",
        title: "cargo fmt --all --check",
        run: || cargo(&["fmt", "--all", "--check"]),
    },
    Step {
        name: "clippy",
        title: "cargo clippy --workspace --all-targets -- -D warnings",
        run: || {
            cargo(&[
                "clippy",
                "--workspace",
                "--all-targets",
                "--",
                "-D",
                "warnings",
            ])
        },
    },
    Step {
        name: "test",
        title: "cargo test --workspace",
        run: test,
    },
];

fn cargo(args: &[&str]) -> Result {
    util::run_ok(
        Command::new(util::cargo())
            .args(args)
            .current_dir(util::repo_root()),
    )
}

fn test() -> Result {
    if !util::is_root() {
        return Err(
            "the integration tests create network namespaces, veth pairs and nf_tables \
             rulesets inside them, which needs root (CAP_SYS_ADMIN + CAP_NET_ADMIN); they are \
             not skipped. Re-run as root, e.g. `sudo -E cargo xtask ci`"
                .into(),
        );
    }
    cargo(&["test", "--workspace"])
}

pub fn run() -> Result {
    let total = STEPS.len();
    for (i, step) in STEPS.iter().enumerate() {
        let n = i + 1;
        eprintln!();
        eprintln!("==> ci step {n}/{total} [{}]: {}", step.name, step.title);
        util::flush();
        if let Err(e) = (step.run)() {
            eprintln!();
            eprintln!("xtask ci: FAILED at step {n}/{total} [{}]: {e}", step.name);
            return Err(format!("ci step {n}/{total} [{}] failed", step.name));
        }
    }
    eprintln!();
    eprintln!("xtask ci: all {total} steps passed");
    Ok(())
}
