//! The `statewall` command: raw arguments → a validated request → the library → stdout.
//! The only place that reads files and prints. Stdout carries data; logs go to stderr.

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Instant;

use clap::{Parser, Subcommand};
use statewall::kernel::encode::{self, EncodedBatch, Fault};
use statewall::kernel::netlink::{CommitError, Socket};
use statewall::kernel::{netns, readback};
use statewall::{compile, diag, policy, render, report};

const DEFAULT_POLICY: &str = "/etc/statewall/policy.toml";

/// Exit codes (documented in the README and `--help`).
mod exit {
    pub const OK: u8 = 0;
    pub const INVALID_POLICY: u8 = 1;
    pub const USAGE: u8 = 2;
    pub const KERNEL: u8 = 3;
    pub const CHANGED_UNDERNEATH: u8 = 4;
    pub const NO_TABLE: u8 = 5;
}

const AFTER_HELP: &str = "\
Examples:
  statewall check examples/web-and-mail.toml      validate, print every problem with file:line:col
  statewall plan  examples/web-and-mail.toml      the nft script that would be committed + diff to live
  statewall apply examples/web-and-mail.toml --audit
                                                  commit; the final rule counts and accepts
  statewall status                                packets/bytes per rule, read over netlink
  statewall apply examples/web-and-mail.toml      enforce: the final rule drops
  statewall --netns fw status --json              inside network namespace /run/netns/fw

The careful rollout: apply --audit, let real traffic flow, read `status` (which rules
see traffic, what the `final` rule counts), then apply in enforce mode.

statewall owns exactly one table (inet statewall, or --table NAME) and replaces it in one
atomic netlink batch; it never touches another table and never flushes the ruleset.
It never runs nft, iptables or a shell.

Exit codes:
  0  success
  1  the policy is invalid or unreadable (nothing was sent to the kernel)
  2  usage error
  3  the kernel refused or netlink failed (nothing was applied)
  4  the ruleset changed underneath during apply (nothing was applied)
  5  there is no statewall table (status, remove)

Logging: -v (debug), -vv (trace), or STATEWALL_LOG=<tracing filter>; logs go to stderr.";

#[derive(Parser, Debug)]
#[command(
    name = "statewall",
    version,
    about = "A stateful firewall for one host: a policy file becomes one atomic nf_tables batch, counters come back over netlink",
    after_help = AFTER_HELP
)]
struct Cli {
    /// Act inside a network namespace: NAME (= /run/netns/NAME) or a path (/proc/PID/ns/net)
    #[arg(long, global = true, value_name = "NAME|PATH")]
    netns: Option<String>,

    /// The inet table statewall owns
    #[arg(long, global = true, value_name = "NAME", default_value = compile::DEFAULT_TABLE)]
    table: String,

    /// More logging on stderr (-v debug, -vv trace)
    #[arg(short, long, global = true, action = clap::ArgAction::Count)]
    verbose: u8,

    #[command(subcommand)]
    cmd: Cmd,
}

#[derive(Subcommand, Debug)]
enum Cmd {
    /// Validate a policy: every problem with file:line:col; nothing is sent to the kernel
    Check {
        /// Policy file [default: /etc/statewall/policy.toml]
        policy: Option<PathBuf>,
    },
    /// Print what apply would commit, as an nft script, and how it differs from the live table
    Plan {
        /// Policy file [default: /etc/statewall/policy.toml]
        policy: Option<PathBuf>,
        /// Plan in audit mode (the final rule counts and accepts)
        #[arg(long)]
        audit: bool,
        /// Do not read the live table for a diff
        #[arg(long)]
        no_live: bool,
    },
    /// Compile the policy and commit it in one atomic batch, replacing statewall's table
    Apply {
        /// Policy file [default: /etc/statewall/policy.toml]
        policy: Option<PathBuf>,
        /// Audit mode whatever the policy says: the final rule counts and accepts instead of dropping
        #[arg(long)]
        audit: bool,
    },
    /// Per-rule packets and bytes of statewall's table, read over netlink; reports drift
    Status {
        /// Machine-readable output (schema statewall.status/1, see README)
        #[arg(long)]
        json: bool,
        /// Exact counts instead of K/M/G
        #[arg(short = 'x', long)]
        exact: bool,
    },
    /// Delete statewall's table, and nothing else
    Remove,
}

fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(c) => c,
        Err(e) => {
            let _ = e.print();
            return ExitCode::from(if e.use_stderr() {
                exit::USAGE
            } else {
                exit::OK
            });
        }
    };
    init_logging(cli.verbose);
    ExitCode::from(run(cli))
}

fn init_logging(verbose: u8) {
    use tracing_subscriber::EnvFilter;
    let filter = match std::env::var("STATEWALL_LOG") {
        Ok(f) => EnvFilter::new(f),
        Err(_) => EnvFilter::new(match verbose {
            0 => "warn",
            1 => "statewall=debug",
            _ => "trace",
        }),
    };
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_target(false)
        .init();
}

fn fail(code: u8, msg: impl std::fmt::Display) -> u8 {
    eprintln!("statewall: {msg}");
    code
}

fn valid_table_name(t: &str) -> bool {
    let mut chars = t.chars();
    t.len() <= 64
        && chars.next().is_some_and(|c| c.is_ascii_alphabetic())
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
}

fn run(cli: Cli) -> u8 {
    if !valid_table_name(&cli.table) {
        return fail(
            exit::USAGE,
            format!(
                "--table {:?}: a table name is 1-64 letters, digits, '_' or '-', starting with a letter",
                cli.table
            ),
        );
    }
    // Everything that does not need the kernel happens before entering the namespace.
    match &cli.cmd {
        Cmd::Check { policy } => {
            return match load(policy.as_deref()) {
                Ok((_, path)) => {
                    println!("{}: ok", path.display());
                    exit::OK
                }
                Err(code) => code,
            };
        }
        Cmd::Plan { .. } | Cmd::Apply { .. } | Cmd::Status { .. } | Cmd::Remove => {}
    }
    let loaded = match &cli.cmd {
        Cmd::Plan { policy, .. } | Cmd::Apply { policy, .. } => match load(policy.as_deref()) {
            Ok(p) => Some(p),
            Err(code) => return code,
        },
        _ => None,
    };
    if let Some(ns) = &cli.netns {
        match netns::enter(ns) {
            Ok(path) => tracing::debug!("entered network namespace {}", path.display()),
            Err(e) => return fail(exit::USAGE, format!("--netns {ns}: {e}")),
        }
    }
    match cli.cmd {
        Cmd::Check { .. } => unreachable!("handled above"),
        Cmd::Plan { audit, no_live, .. } => {
            let (policy, _) = loaded.expect("loaded above");
            let plan = compile::compile(&compile::with_mode(policy, audit), &cli.table);
            print!("{}", render::script(&plan));
            if !no_live {
                print_live_diff(&plan);
            }
            exit::OK
        }
        Cmd::Apply { audit, .. } => {
            let (policy, path) = loaded.expect("loaded above");
            apply(&cli.table, compile::with_mode(policy, audit), &path)
        }
        Cmd::Status { json, exact } => status(&cli.table, json, exact),
        Cmd::Remove => remove(&cli.table),
    }
}

/// Reads and validates the policy; prints diagnostics (warnings too) to stderr.
fn load(path: Option<&Path>) -> Result<(statewall::model::Policy, PathBuf), u8> {
    let path = path
        .map(Path::to_path_buf)
        .unwrap_or_else(|| PathBuf::from(DEFAULT_POLICY));
    let src = match std::fs::read_to_string(&path) {
        Ok(s) => s,
        Err(e) => {
            let hint = if path == Path::new(DEFAULT_POLICY) {
                " (no policy given: pass a file, e.g. `statewall check examples/web-and-mail.toml`)"
            } else {
                ""
            };
            return Err(fail(
                exit::INVALID_POLICY,
                format!("cannot read {}: {e}{hint}", path.display()),
            ));
        }
    };
    let (policy, diags) = policy::parse(&src);
    if !diags.is_empty() {
        eprint!(
            "{}",
            diag::render(&diags, &path.display().to_string(), &src)
        );
    }
    match policy {
        Some(p) if !diag::has_errors(&diags) => Ok((p, path)),
        _ => {
            let n = diags
                .iter()
                .filter(|d| matches!(d.severity, diag::Severity::Error))
                .count();
            Err(fail(
                exit::INVALID_POLICY,
                format!(
                    "{}: {n} error{}; nothing was sent to the kernel",
                    path.display(),
                    if n == 1 { "" } else { "s" }
                ),
            ))
        }
    }
}

fn print_live_diff(plan: &statewall::plan::Plan) {
    println!();
    match readback::read_table(&plan.table) {
        Err(e) => println!("# live table not readable ({e}); no diff"),
        Ok(None) => println!("# no live table inet {}: apply would create it", plan.table),
        Ok(Some(live)) => {
            let live_text = report::live_text(&live);
            match render::diff(&live_text, &render::table_body(plan)) {
                None => println!(
                    "# the live table inet {} already is this plan (apply would only reset its counters)",
                    plan.table
                ),
                Some(d) => {
                    println!(
                        "# difference from the live table inet {} (- live, + plan):",
                        plan.table
                    );
                    for line in d.lines() {
                        println!("# {line}");
                    }
                }
            }
        }
    }
}

fn test_fault() -> Option<Fault> {
    // Test-only hook: forces a batch the kernel rejects, to prove nothing is half-applied.
    match std::env::var("STATEWALL_TEST_FAULT").ok()?.as_str() {
        "jump-to-missing-chain" => Some(Fault::JumpToMissingChain),
        _ => None,
    }
}

fn commit_error_code(e: &CommitError) -> u8 {
    match e {
        CommitError::GenerationChanged => exit::CHANGED_UNDERNEATH,
        _ => exit::KERNEL,
    }
}

/// Reads the generation, encodes against it, commits; on a concurrent change re-reads
/// and tries once more.
fn commit_with_retry(
    sock: &mut Socket,
    make: impl Fn(u32) -> EncodedBatch,
) -> Result<(u32, u32, usize), CommitError> {
    let mut attempt = 0;
    loop {
        let before = sock.generation()?;
        let batch = make(before);
        tracing::debug!(
            bytes = batch.bytes.len(),
            messages = batch.ops.len(),
            generation = before,
            "committing batch"
        );
        match sock.commit(&batch) {
            Ok(after) => return Ok((before, after, batch.ops.len())),
            Err(CommitError::GenerationChanged) if attempt == 0 => {
                tracing::warn!(
                    "the ruleset changed while committing; re-reading and retrying once"
                );
                attempt += 1;
            }
            Err(e) => return Err(e),
        }
    }
}

fn apply(table: &str, policy: statewall::model::Policy, path: &Path) -> u8 {
    let started = Instant::now();
    let plan = compile::compile(&policy, table);
    let rules: usize = plan.chains.iter().map(|c| c.rules.len()).sum();
    let mut sock = match Socket::open() {
        Ok(s) => s,
        Err(e) => return fail(exit::KERNEL, format!("cannot open a netlink socket: {e}")),
    };
    let fault = test_fault();
    let result = commit_with_retry(&mut sock, |g| encode::encode(&plan, Some(g), fault));
    sock.close_in_background();
    match result {
        Ok((before, after, messages)) => {
            println!(
                "applied {}: table inet {table}, {rules} rules, mode {}, {messages} messages in one batch, generation {before} -> {after}, {}",
                path.display(),
                plan.mode.as_str(),
                statewall::kernel::netlink::millis(started.elapsed())
            );
            exit::OK
        }
        Err(e) => fail(commit_error_code(&e), &e),
    }
}

fn status(table: &str, json: bool, exact: bool) -> u8 {
    match readback::read_table(table) {
        Err(e) => fail(exit::KERNEL, e),
        Ok(None) => fail(
            exit::NO_TABLE,
            format!("no table inet {table} here: nothing applied yet (statewall apply POLICY)"),
        ),
        Ok(Some(t)) => {
            if json {
                println!(
                    "{}",
                    serde_json::to_string_pretty(&report::status_json(&t)).expect("json")
                );
            } else {
                print!("{}", report::status_text(&t, exact));
            }
            exit::OK
        }
    }
}

fn remove(table: &str) -> u8 {
    let mut sock = match Socket::open() {
        Ok(s) => s,
        Err(e) => return fail(exit::KERNEL, format!("cannot open a netlink socket: {e}")),
    };
    let result = commit_with_retry(&mut sock, |g| encode::encode_remove(table, Some(g)));
    sock.close_in_background();
    match result {
        Ok(_) => {
            println!("removed table inet {table}");
            exit::OK
        }
        Err(CommitError::Rejected { errno, .. }) if errno == libc::ENOENT => fail(
            exit::NO_TABLE,
            format!("no table inet {table} here: nothing to remove"),
        ),
        Err(e) => fail(commit_error_code(&e), &e),
    }
}
