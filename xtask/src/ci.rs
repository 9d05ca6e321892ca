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
        title: "system packages (libclang-dev, nftables, iptables, iproute2, iputils-ping, ...) and the Python test oracles (target/pytools)",
        run: deps::run,
    },
    Step {
        name: "fmt",
        title: "cargo fmt --all --check",
        run: || cargo(&["fmt", "--all", "--check"]),
    },
    Step {
        name: "clippy",
        title: "cargo clippy --workspace --all-targets --all-features -- -D warnings",
        run: || {
            cargo(&[
                "clippy",
                "--workspace",
                "--all-targets",
                "--all-features",
                "--",
                "-D",
                "warnings",
            ])
        },
    },
    Step {
        name: "dist",
        title: "the static binary, in an empty root (cargo xtask dist)",
        run: || crate::with_lib(&["dist".to_string()], crate::dist::run),
    },
    Step {
        name: "test",
        title: "cargo test --workspace -- --test-threads=3",
        run: test,
    },
    Step {
        name: "soak",
        title: "cargo xtask soak --smoke: a little of each failure loop, the fuzzer and the hostile inputs",
        run: || crate::soak(&["--smoke"]),
    },
    Step {
        name: "unprivileged",
        title: "the tests as a user without root: pure and fake-kernel tests pass, kernel tests say 'needs root'",
        run: unprivileged,
    },
];

/// Builds the tests as someone without root gets them (`STATEWALL_TESTS_UNPRIVILEGED`) and
/// runs them with every capability dropped (uid 0 keeps the checkout readable wherever CI
/// cloned it; without CAP_SYS_ADMIN no namespace can be made). They must pass, and the
/// kernel tests must be reported as ignored rather than fail.
///
/// The build shares the test step's target directory: only statewall's own crates see the
/// changed cfg, so the dependencies are not built a second time (9 s against 72 s from an
/// empty directory). The next root `cargo test` rebuilds those crates once.
fn unprivileged() -> Result {
    let out = Command::new(util::cargo())
        .args(["test", "--no-run", "-p", "statewall"])
        .env("STATEWALL_TESTS_UNPRIVILEGED", "1")
        .current_dir(util::repo_root())
        .output()
        .map_err(|e| format!("cannot run cargo test --no-run: {e}"))?;
    let log = String::from_utf8_lossy(&out.stderr);
    if !out.status.success() {
        return Err(format!("building the unprivileged tests failed:\n{log}"));
    }
    let exes: Vec<&str> = log
        .lines()
        .filter_map(|l| l.trim().strip_prefix("Executable "))
        .filter_map(|l| l.rsplit_once(" (")?.1.strip_suffix(')'))
        .collect();
    let (mut passed, mut failed, mut ignored) = (0, 0, 0);
    for exe in &exes {
        let run = Command::new("setpriv")
            .args([
                "--inh-caps=-all",
                "--ambient-caps=-all",
                "--bounding-set=-all",
                "--no-new-privs",
                "--",
                exe,
            ])
            .output()
            .map_err(|e| format!("cannot run {exe} under setpriv: {e}"))?;
        let text = String::from_utf8_lossy(&run.stdout);
        for (p, f, i) in text.lines().filter_map(parse_result) {
            passed += p;
            failed += f;
            ignored += i;
        }
        if !run.status.success() {
            println!("{text}{}", String::from_utf8_lossy(&run.stderr));
            return Err(format!("{exe} failed without privileges"));
        }
    }
    println!("unprivileged: {passed} passed, {failed} failed, {ignored} ignored (need root)");
    if ignored == 0 || passed == 0 {
        return Err("expected both tests that pass without root and kernel tests ignored".into());
    }
    Ok(())
}

fn cargo(args: &[&str]) -> Result {
    util::run_ok(
        Command::new(util::cargo())
            .args(args)
            .current_dir(util::repo_root()),
    )
}

/// Test threads of the test step ([`test`]).
const TEST_THREADS: usize = 3;

/// The test step's summary line, repeated as the very last line of a passing run.
static SUMMARY: std::sync::OnceLock<String> = std::sync::OnceLock::new();

fn test() -> Result {
    if !util::is_root() {
        return Err(
            "the integration tests create network namespaces, veth pairs and nf_tables \
             rulesets inside them, which needs root (CAP_SYS_ADMIN + CAP_NET_ADMIN); they are \
             not skipped. Re-run as root, e.g. `sudo -E cargo xtask ci`"
                .into(),
        );
    }
    // The output goes through as it comes; the `test result:` lines are added up so that
    // the run ends with one plain summary line (`tests: N passed, N failed, N skipped`).
    // Three test threads on CI's two cores: the kernel tests mostly wait for probes in
    // their namespaces (timeouts of dropped packets, buckets refilling), so a third thread
    // fills that time (the integration binary: 810 s with two, 713 s with three, measured).
    let mut child = Command::new(util::cargo())
        .args([
            "test",
            "--workspace",
            "--no-fail-fast",
            "--",
            &format!("--test-threads={TEST_THREADS}"),
        ])
        .current_dir(util::repo_root())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .map_err(|e| format!("cannot run cargo test: {e}"))?;
    let out = child.stdout.take().expect("piped");
    let (mut passed, mut failed, mut ignored) = (0u64, 0u64, 0u64);
    for line in std::io::BufRead::lines(std::io::BufReader::new(out)) {
        let Ok(line) = line else { break };
        println!("{line}");
        if let Some((p, f, i)) = parse_result(&line) {
            passed += p;
            failed += f;
            ignored += i;
        }
    }
    let status = child
        .wait()
        .map_err(|e| format!("waiting for cargo test: {e}"))?;
    let summary = format!("tests: {passed} passed, {failed} failed, {ignored} skipped");
    println!();
    println!("{summary}");
    util::flush();
    let _ = SUMMARY.set(summary);
    if status.success() {
        Ok(())
    } else {
        Err(format!("cargo test {}", util::describe_status(status)))
    }
}

/// `test result: ok. 50 passed; 0 failed; 2 ignored; ...` → (50, 0, 2).
fn parse_result(line: &str) -> Option<(u64, u64, u64)> {
    let rest = line.trim().strip_prefix("test result: ")?;
    let mut counts = (0, 0, 0);
    for part in rest.split(';') {
        let words: Vec<&str> = part.split_whitespace().collect();
        let n = |i: usize| words.get(i).and_then(|w| w.parse::<u64>().ok());
        match words.as_slice() {
            [_, _, "passed"] => counts.0 = n(1)?,
            [_, "passed"] => counts.0 = n(0)?,
            [_, "failed"] => counts.1 = n(0)?,
            [_, "ignored"] => counts.2 = n(0)?,
            _ => {}
        }
    }
    Some(counts)
}

/// statewall's default state directory: tests, demos and benchmarks each pass their own.
const DEFAULT_STATE_DIR: &str = "/var/lib/statewall";

pub fn run() -> Result {
    // a test that forgot --state-dir would share this with every other one: caught here
    let had_state_dir = std::path::Path::new(DEFAULT_STATE_DIR).exists();
    let total = STEPS.len();
    // each step's time, said at the end: where the run's minutes go
    let mut took = Vec::with_capacity(total);
    for (i, step) in STEPS.iter().enumerate() {
        let n = i + 1;
        eprintln!();
        eprintln!("==> ci step {n}/{total} [{}]: {}", step.name, step.title);
        util::flush();
        let started = std::time::Instant::now();
        let result = (step.run)();
        took.push(format!("{} {:.0?}", step.name, started.elapsed()));
        if let Err(e) = result {
            eprintln!();
            eprintln!("xtask ci: FAILED at step {n}/{total} [{}]: {e}", step.name);
            return Err(format!("ci step {n}/{total} [{}] failed", step.name));
        }
    }
    if !had_state_dir && std::path::Path::new(DEFAULT_STATE_DIR).exists() {
        eprintln!();
        eprintln!(
            "xtask ci: FAILED: {DEFAULT_STATE_DIR} was created during the run: a test, demo or \
             benchmark ran statewall without --state-dir (or STATEWALL_STATE_DIR)"
        );
        return Err(format!("{DEFAULT_STATE_DIR} was written by the run"));
    }
    eprintln!();
    eprintln!("xtask ci: all {total} steps passed ({})", took.join(", "));
    util::flush();
    if let Some(summary) = SUMMARY.get() {
        println!("{summary}");
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    #[test]
    fn result_lines_add_up() {
        assert_eq!(
            super::parse_result(
                "test result: ok. 70 passed; 1 failed; 2 ignored; 0 measured; 0 filtered out; finished in 51.29s"
            ),
            Some((70, 1, 2))
        );
        assert_eq!(super::parse_result("running 3 tests"), None);
    }
}
