//! Project automation: `cargo xtask <command>` (the alias lives in `.cargo/config.toml`).

mod bench;
mod bench_sets;
mod ci;
mod demo;
mod deps;
mod dist;
mod netprobe;
#[cfg(feature = "lib")]
mod package;
#[cfg(feature = "lib")]
mod soak;
mod util;
mod veth;

use std::process::ExitCode;

const USAGE: &str = "\
usage: cargo xtask <command>

commands:
  ci              what CI runs (.ci/run), stopping at the first failing step:
                    1. deps (as below)
                    2. cargo fmt --all --check
                    3. cargo clippy --workspace --all-targets -- -D warnings
                    4. cargo xtask dist (the static binary, the .deb)
                    5. cargo test --workspace  (needs root: the kernel tests create
                       network namespaces)
                    6. cargo xtask soak --smoke
                    7. the tests built as a user without root gets them, run without
                       capabilities
  deps            install the system packages the build and the tests need, if any is
                  missing (libclang-dev linux-libc-dev nftables iptables iproute2
                  iputils-ping procps openssh-server systemd prometheus-node-exporter fail2ban
                  curl; apt-get, needs root; no service is started), and the Python
                  test oracles prometheus_client and jsonschema from PyPI into a venv,
                  target/pytools
  demo [rollout] [--release]
                  as root: build statewall and walk through check, plan, apply --audit,
                  status, verify, enforce, status and remove against two throwaway network
                  namespaces (sw-demo-fw, sw-demo-client) joined by a veth pair, probing
                  TCP ports from the client; everything is removed afterwards.
                  `rollout`: the safe rollout instead — apply --audit --confirm, confirm,
                  verify, enforce --confirm, and a candidate that forgets ssh: refused by
                  the lint, forced, and rolled back by the guard when nobody confirms
  dist            build the one static binary (target/dist/statewall: glibc's static-pie,
                  no program interpreter), bash/zsh/fish completions and the man page (from
                  the clap definitions), and target/dist/statewall_<version>_<arch>.deb; as
                  root, prove the binary applies, reads back and removes a policy from a root
                  directory that holds nothing else, and install the .deb, run `statewall
                  --version` from it and remove it again
  bench [--quick] [--out FILE] [--statewall BIN]
                  as root: build statewall (release) and measure it against `nft -f` (one
                  set, and linear rules) and iptables-restore (nf_tables) in throwaway
                  network namespaces: apply (first, replace), readback, peak memory and
                  NEW connections/s over a veth pair, for the classic policy and 1k, 10k,
                  50k, 100k sources (--quick: no 100k, fewer repetitions); prints a
                  markdown table and writes it to docs/bench.md (or FILE); --statewall
                  benches that binary instead of building one
  soak [--smoke] [--out FILE] [--seed N]
                  as root: the reliability suite — SIGKILL at random points of applies
                  (small and 20,000-source policies), racing applies, SIGKILL of the CLI and
                  the guard in confirm windows with damaged records, foreign tables kept
                  byte-identical, a mutation fuzzer over the policy parser, the importer and
                  the netlink decoder (1,000,000 executions each), the hostile inputs timed,
                  and memory against input size; writes docs/reliability.md. --smoke: a little
                  of each, writes nothing (CI runs it)
  help            this text
";

/// Runs `f` in an xtask built with the `lib` feature (statewall's library in-process); from
/// the plain xtask, first makes sure of the system packages the library's build needs, then
/// runs `cargo run --package xtask --features lib -- ARGS` and returns its outcome.
pub fn with_lib(args: &[String], f: fn() -> util::Result) -> util::Result {
    if cfg!(feature = "lib") {
        return f();
    }
    deps::run()?;
    let mut cmd = std::process::Command::new(util::cargo());
    cmd.args([
        "run",
        "--quiet",
        "--package",
        "xtask",
        "--features",
        "lib",
        "--",
    ])
    .args(args)
    .current_dir(util::repo_root());
    util::run_ok(&mut cmd)
}

/// `cargo xtask soak ARGS`, whichever xtask this is.
pub fn soak(args: &[&str]) -> util::Result {
    #[cfg(feature = "lib")]
    {
        let args: Vec<String> = args.iter().map(|a| a.to_string()).collect();
        soak::run(&args)
    }
    #[cfg(not(feature = "lib"))]
    {
        let mut all = vec!["soak".to_string()];
        all.extend(args.iter().map(|a| a.to_string()));
        with_lib(&all, || {
            Err("unreachable: the plain xtask re-runs itself".into())
        })
    }
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let Some((command, rest)) = args.split_first() else {
        print!("{USAGE}");
        return ExitCode::SUCCESS;
    };
    let result = match command.as_str() {
        "ci" if rest.is_empty() => ci::run(),
        "deps" if rest.is_empty() => deps::run(),
        "demo" => demo::run(rest),
        "dist" if rest.is_empty() => with_lib(&args, dist::run),
        "bench" => bench::run(rest),
        #[cfg(feature = "lib")]
        "soak" => soak::run(rest),
        #[cfg(not(feature = "lib"))]
        "soak" => with_lib(&args, || Ok(())),
        // Hidden helpers the demo runs inside its namespaces.
        "listen" => netprobe::listen(rest),
        "probe" => netprobe::probe(rest),
        "help" | "-h" | "--help" => {
            print!("{USAGE}");
            return ExitCode::SUCCESS;
        }
        _ => {
            eprint!(
                "xtask: unknown command or arguments: {}\n\n{USAGE}",
                args.join(" ")
            );
            return ExitCode::from(2);
        }
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("xtask {command}: error: {e}");
            ExitCode::FAILURE
        }
    }
}
