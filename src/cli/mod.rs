//! The `statewall` command: raw arguments → a validated request → the library → stdout.
//! The only place that reads files and prints. Stdout carries data; logs go to stderr.

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Instant;

use crate::codec::encode::{self, EncodedBatch, Fault};
use crate::core::{compile, diag, policy, render, report};
use crate::system::netlink::{CommitError, Socket};
use crate::system::{netns, readback};
use clap::{Parser, Subcommand};

mod rollout;
use rollout as rollout_cli;

const DEFAULT_POLICY: &str = "/etc/statewall/policy.toml";

/// Exit codes (documented in the README and `--help`).
mod exit {
    pub const OK: u8 = 0;
    pub const INVALID_POLICY: u8 = 1;
    pub const USAGE: u8 = 2;
    pub const KERNEL: u8 = 3;
    pub const CHANGED_UNDERNEATH: u8 = 4;
    pub const NO_TABLE: u8 = 5;
    pub const UNSAFE: u8 = 6;
}

const AFTER_HELP: &str = "\
Examples:
  statewall check examples/web-and-mail.toml      validate, print every problem with file:line:col
  statewall plan  examples/web-and-mail.toml      the nft script that would be committed + diff to live
  statewall apply examples/web-and-mail.toml --audit
                                                  commit; the final rule counts and accepts
  statewall status                                packets/bytes per rule, read over netlink
  statewall verify                                what the final rule would drop, by port and source
  statewall enforce examples/web-and-mail.toml    audit -> enforce in one swap, counters carried over
  statewall --netns fw status --json              inside network namespace /run/netns/fw
  statewall apply policy.toml --audit --confirm 120s
                                                  rolls back by itself unless, from a NEW ssh
  statewall confirm                               connection, you confirm within 120 s

The careful rollout: apply --audit --confirm 120s, confirm from a NEW ssh connection,
let real traffic flow, `verify` (exit 0 when enforcing looks safe), then
`enforce --confirm 120s` and confirm again. No confirm in time: the previous table comes
back by itself, even if the SSH session died or this command was killed.

statewall owns exactly one table (inet statewall, or --table NAME) and replaces it in one
atomic netlink batch; it never touches another table and never flushes the ruleset.
It never runs nft, iptables or a shell.

Exit codes:
  0  success
  1  the policy is invalid or unreadable (nothing was sent to the kernel)
  2  usage error
  3  the kernel refused or netlink failed (nothing was applied)
  4  the ruleset changed underneath during apply (nothing was applied)
  5  there is no statewall table (status, remove, verify, enforce)
  6  refused for safety: the lockout lint, the audit data (enforce), a pending change, the
     rollout state (nothing was applied); or `verify` says enforcing looks unsafe

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

    /// Where statewall keeps its state: last confirmed policy, pending change, rollback record
    #[arg(long, global = true, value_name = "DIR", env = "STATEWALL_STATE_DIR", default_value = crate::system::state::DEFAULT_DIR)]
    state_dir: PathBuf,

    /// More logging on stderr (-v debug, -vv trace)
    #[arg(short, long, global = true, action = clap::ArgAction::Count)]
    verbose: u8,

    /// Read the policy file as this format [default: detected: iptables-save text starts with `*` or `:`]
    #[arg(long, global = true, value_name = "toml|iptables", value_parser = ["toml", "iptables"])]
    format: Option<String>,

    /// iptables-save input: IPv6 gets the IPv4 file's meaning, plus the ICMPv6 baseline
    #[arg(long, global = true)]
    mirror_ipv6: bool,

    /// iptables-save input: the ip6tables-save file that says what IPv6 gets
    #[arg(long, global = true, value_name = "FILE6")]
    ipv6: Option<PathBuf>,

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
        /// Roll back by itself unless `statewall confirm` comes within this time (e.g. 120s, 2m)
        #[arg(long, value_name = "DURATION", value_parser = crate::core::rollout::parse_duration)]
        confirm: Option<u64>,
        /// Apply even when the lockout lint says it would cut off SSH or IPv6 neighbour discovery
        #[arg(long)]
        force: bool,
    },
    /// Keep the pending change: it becomes the last confirmed ruleset (what boot loads)
    Confirm {
        /// Refuse unless this session was opened after the apply (a NEW connection)
        #[arg(long)]
        require_new_connection: bool,
    },
    /// Go back to the ruleset before the pending change, now
    Rollback,
    /// Load the last confirmed policy (or the built-in safe one) at boot; discards a pending change
    Boot,
    /// Write the systemd unit that runs `statewall boot` before the network comes up
    InstallUnit {
        #[arg(long, value_name = "DIR", default_value = "/etc/systemd/system")]
        dir: PathBuf,
    },
    /// The rollback guard (started by `apply --confirm`; restartable by hand)
    #[command(hide = true)]
    Guard,
    /// Per-rule packets and bytes of statewall's table, read over netlink; reports drift
    Status {
        /// Machine-readable output (schema statewall.status/1, see README)
        #[arg(long)]
        json: bool,
        /// Exact counts instead of K/M/G
        #[arg(short = 'x', long)]
        exact: bool,
    },
    /// Audit report: which rules saw traffic, what the final rule would have dropped (by port and
    /// source, from sets the kernel filled); exit 0 when enforcing looks safe, 6 when not
    Verify {
        /// Machine-readable output (schema statewall.verify/1)
        #[arg(long)]
        json: bool,
    },
    /// Audit -> enforce in one atomic swap: only the final rule changes, the other counters carry
    /// over; refused when the audit data shows traffic to your SSH port or sshd's ports
    Enforce {
        /// Policy file [default: /etc/statewall/policy.toml]
        policy: Option<PathBuf>,
        /// Enforce even when the audit data or the lockout lint says it would cut off SSH
        #[arg(long)]
        force: bool,
        /// Roll back to the audit table by itself unless `statewall confirm` comes within this time
        #[arg(long, value_name = "DURATION", value_parser = crate::core::rollout::parse_duration)]
        confirm: Option<u64>,
    },
    /// Delete statewall's table, and nothing else
    Remove,
    /// Turn an iptables-save file into a statewall policy (TOML on stdout, notes on stderr)
    Import {
        /// The iptables-save file (e.g. /etc/iptables/rules.v4); needs --mirror-ipv6 or --ipv6 FILE6
        file: PathBuf,
    },
}

/// A policy read and validated by `load`.
struct Loaded {
    policy: crate::core::model::Policy,
    path: PathBuf,
    /// read from an iptables-save file (not a statewall policy)
    iptables: bool,
}

#[derive(Debug, Default)]
struct ImportOpts {
    format: Option<String>,
    mirror_ipv6: bool,
    ipv6: Option<PathBuf>,
}

/// `--confirm` with an iptables-save file: refused, with the way to a statewall policy.
fn confirm_needs_toml(path: &Path) -> u8 {
    fail(
        exit::USAGE,
        format!(
            "--confirm keeps the policy text for rollback and boot, so it needs a statewall policy: run `statewall import {} > policy.toml`, review it, and use that",
            path.display()
        ),
    )
}

pub fn main() -> ExitCode {
    // `statewall status | head`: a reader that goes away ends us quietly, as it ends `cat`
    // or `nft`, instead of a panic in println!. Only pipes raise SIGPIPE, never the netlink
    // sockets. A commit is one sendmsg: dying on a print before it sends nothing, after it
    // leaves the change committed (and a pending one in its guard's hands; the guard's
    // output goes to a file).
    // SAFETY: called before any thread exists; SIG_DFL is a valid disposition.
    unsafe {
        libc::signal(libc::SIGPIPE, libc::SIG_DFL);
    }
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
    // how iptables-save input is read (check, plan, apply, enforce, import)
    let opts = ImportOpts {
        format: cli.format.clone(),
        mirror_ipv6: cli.mirror_ipv6,
        ipv6: cli.ipv6.clone(),
    };
    // Everything that does not need the kernel happens before entering the namespace.
    match &cli.cmd {
        Cmd::Import { file } => return import_cmd(file, &opts),
        Cmd::Check { policy } => {
            return match load(policy.as_deref(), &opts) {
                Ok(l) => {
                    println!("{}: ok", l.path.display());
                    exit::OK
                }
                Err(code) => code,
            };
        }
        Cmd::Plan { .. }
        | Cmd::Apply { .. }
        | Cmd::Status { .. }
        | Cmd::Remove
        | Cmd::Verify { .. }
        | Cmd::Enforce { .. } => {
            rollout_cli::ensure_guard(&rollout_cli::state_dir(&cli.state_dir));
        }
        Cmd::Confirm { .. } | Cmd::Rollback | Cmd::Guard | Cmd::Boot | Cmd::InstallUnit { .. } => {
            return run_rollout(&cli);
        }
    }
    let loaded = match &cli.cmd {
        Cmd::Plan { policy, .. } | Cmd::Apply { policy, .. } | Cmd::Enforce { policy, .. } => {
            match load(policy.as_deref(), &opts) {
                Ok(l) => Some(l),
                Err(code) => return code,
            }
        }
        _ => None,
    };
    if let Some(ns) = &cli.netns {
        match netns::enter(ns) {
            Ok(path) => tracing::debug!("entered network namespace {}", path.display()),
            Err(e) => return fail(exit::USAGE, format!("--netns {ns}: {e}")),
        }
    }
    match cli.cmd {
        Cmd::Check { .. }
        | Cmd::Confirm { .. }
        | Cmd::Rollback
        | Cmd::Guard
        | Cmd::Boot
        | Cmd::InstallUnit { .. }
        | Cmd::Import { .. } => unreachable!("handled above"),
        Cmd::Plan { audit, no_live, .. } => {
            let policy = loaded.expect("loaded above").policy;
            let plan = compile::compile(&compile::with_mode(policy, audit), &cli.table);
            print!("{}", render::script(&plan));
            if !no_live {
                print_live_diff(&plan);
            }
            exit::OK
        }
        Cmd::Apply {
            audit,
            confirm,
            force,
            ..
        } => {
            let Loaded {
                policy,
                path,
                iptables,
            } = loaded.expect("loaded above");
            if confirm.is_some() && iptables {
                return confirm_needs_toml(&path);
            }
            let policy = compile::with_mode(policy, audit);
            let state = rollout_cli::state_dir(&cli.state_dir);
            if let Err(code) = rollout_cli::lint_gate(&compile::compile(&policy, &cli.table), force)
            {
                return code;
            }
            match confirm {
                Some(secs) => rollout_cli::apply_confirm(
                    &state,
                    &cli.table,
                    &path,
                    audit,
                    secs,
                    cli.netns
                        .as_deref()
                        .map(|n| netns::resolve(n).display().to_string()),
                ),
                None => match rollout_cli::refuse_if_pending(&state, false) {
                    Ok(()) => apply(&cli.table, policy, &path),
                    Err(code) => code,
                },
            }
        }
        Cmd::Status { json, exact } => {
            let state = rollout_cli::state_dir(&cli.state_dir);
            let code = status(&cli.table, json, exact, &state);
            if !json {
                print!("{}", rollout_cli::pending_text(&state));
            }
            code
        }
        Cmd::Remove => {
            match rollout_cli::refuse_if_pending(&rollout_cli::state_dir(&cli.state_dir), false) {
                Ok(()) => remove(&cli.table),
                Err(code) => code,
            }
        }
        Cmd::Verify { json } => verify(&cli.table, json),
        Cmd::Enforce { force, confirm, .. } => {
            let Loaded {
                policy,
                path,
                iptables,
            } = loaded.expect("loaded above");
            if confirm.is_some() && iptables {
                return confirm_needs_toml(&path);
            }
            let state = rollout_cli::state_dir(&cli.state_dir);
            let netns_path = cli
                .netns
                .as_deref()
                .map(|n| netns::resolve(n).display().to_string());
            match rollout_cli::refuse_if_pending(&state, false) {
                Ok(()) => enforce(&cli.table, policy, &path, force, |plan, seeds| {
                    match confirm {
                        // the same checks, then the confirm machinery commits the enforce
                        // plan with the live counters carried over
                        Some(secs) => Err(rollout_cli::apply_confirm_with(
                            &state,
                            &cli.table,
                            &path,
                            Some("enforce"),
                            true,
                            secs,
                            netns_path.clone(),
                        )),
                        None => Ok((plan, seeds)),
                    }
                }),
                Err(code) => code,
            }
        }
    }
}

/// The facts `verify` and `enforce` check the audit data against.
fn audit_facts() -> crate::core::verify::Facts {
    crate::core::verify::Facts {
        ssh_port: crate::system::host::ssh_connection().map(|c| c.server_port),
        sshd_ports: crate::system::host::sshd_ports(),
    }
}

fn verify(table: &str, json: bool) -> u8 {
    let live = match readback::read_table(table) {
        Err(e) => return fail(exit::KERNEL, e),
        Ok(None) => {
            return fail(
                exit::NO_TABLE,
                format!("no table inet {table} here: apply --audit first"),
            );
        }
        Ok(Some(t)) => t,
    };
    let report = crate::core::verify::report(&live, &audit_facts());
    if json {
        println!(
            "{}",
            serde_json::to_string_pretty(&crate::core::verify::json(&report)).expect("json")
        );
    } else {
        print!("{}", crate::core::verify::text(&report));
    }
    if report.safe() {
        exit::OK
    } else {
        exit::UNSAFE
    }
}

/// Audit → enforce: the same policy in enforce mode, committed with the live counters
/// carried over to every rule that did not change (all but the final rule and the audit
/// recorders), after checking the audit data and the lockout lint.
fn enforce(
    table: &str,
    policy: crate::core::model::Policy,
    path: &Path,
    force: bool,
    commit_via: impl FnOnce(
        crate::core::plan::Plan,
        crate::core::identity::Seeds,
    ) -> Result<(crate::core::plan::Plan, crate::core::identity::Seeds), u8>,
) -> u8 {
    let started = Instant::now();
    let live = match readback::read_table(table) {
        Err(e) => return fail(exit::KERNEL, e),
        Ok(None) => {
            return fail(
                exit::NO_TABLE,
                format!(
                    "no table inet {table} here: apply --audit first, let traffic flow, then enforce"
                ),
            );
        }
        Ok(Some(t)) => t,
    };
    if live.stored_mode() != Some("audit") {
        return fail(
            exit::USAGE,
            format!(
                "table inet {table} is not in audit mode: enforce switches an audited table; use apply"
            ),
        );
    }
    let mut policy = policy;
    policy.mode = crate::core::model::Mode::Enforce;
    let plan = compile::compile(&policy, table);
    let report = crate::core::verify::report(&live, &audit_facts());
    if !report.risks.is_empty() {
        for r in &report.risks {
            eprintln!("statewall: {r}");
        }
        if !force {
            return fail(
                exit::UNSAFE,
                "enforce refused: the audit data shows traffic your SSH access depends on reaching the final rule (fix the policy, or --force)",
            );
        }
        eprintln!("statewall: --force: enforcing anyway");
    }
    if let Err(code) = rollout_cli::lint_gate(&plan, force) {
        return code;
    }
    let seeds = crate::core::identity::CounterSnapshot::of(&live).seeds(&plan);
    let (plan, seeds) = match commit_via(plan, seeds) {
        Ok(x) => x,
        Err(code) => return code,
    };
    let mut sock = match Socket::open() {
        Ok(s) => s,
        Err(e) => return fail(exit::KERNEL, format!("cannot open a netlink socket: {e}")),
    };
    let result = commit_with_retry(&mut sock, |g| {
        encode::encode_seeded(&plan, Some(g), None, &seeds)
    });
    sock.close_in_background();
    match result {
        Ok((before, after, _)) => {
            println!(
                "enforced {}: table inet {table} now drops what the audit counted ({} packets so far), {} rules kept their counters, generation {before} -> {after}, {}",
                path.display(),
                report.would_drop.0,
                seeds.len(),
                crate::system::netlink::millis(started.elapsed())
            );
            exit::OK
        }
        Err(e) => fail(commit_error_code(&e), &e),
    }
}

/// Reads and validates the policy; prints diagnostics (warnings too) to stderr.
fn load(path: Option<&Path>, opts: &ImportOpts) -> Result<Loaded, u8> {
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
    let iptables = match opts.format.as_deref() {
        Some(f) => f == "iptables",
        None => crate::core::import::looks_like_iptables(&src),
    };
    if iptables {
        return imported(&path, &src, opts).map(|i| Loaded {
            policy: i.policy,
            path: path.clone(),
            iptables: true,
        });
    }
    // `from_file` lists are read here, at the edge, relative to the policy's folder
    let dir = path.parent().map(Path::to_path_buf).unwrap_or_default();
    let loader = |name: &str| -> Result<(String, String), String> {
        let p = dir.join(name);
        std::fs::read_to_string(&p)
            .map(|text| (p.display().to_string(), text))
            .map_err(|e| e.to_string())
    };
    let (policy, diags) = policy::parse_with(&src, &loader);
    if !diags.is_empty() {
        eprint!(
            "{}",
            diag::render(&diags, &path.display().to_string(), &src)
        );
    }
    match policy {
        Some(policy) if !diag::has_errors(&diags) => Ok(Loaded {
            policy,
            path,
            iptables: false,
        }),
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

/// Imports an iptables-save file (and the --ipv6 one); prints problems and notes to stderr.
fn imported(
    path: &Path,
    src: &str,
    opts: &ImportOpts,
) -> Result<crate::core::import::Imported, u8> {
    use crate::core::import::{self, Input, Ipv6};
    let src6 = match &opts.ipv6 {
        Some(p6) => match std::fs::read_to_string(p6) {
            Ok(s) => Some((p6.clone(), s)),
            Err(e) => {
                return Err(fail(
                    exit::INVALID_POLICY,
                    format!("cannot read {}: {e}", p6.display()),
                ));
            }
        },
        None => None,
    };
    let mode = match (&src6, opts.mirror_ipv6) {
        (Some(_), true) => {
            return Err(fail(
                exit::USAGE,
                "--ipv6 FILE6 and --mirror-ipv6 exclude each other: the IPv6 file, or the IPv4 meaning mirrored",
            ));
        }
        (Some(_), false) => Ipv6::File,
        (None, true) => Ipv6::Mirror,
        (None, false) => Ipv6::Unspecified,
    };
    match import::import(src, src6.as_ref().map(|(_, s)| s.as_str()), mode) {
        Ok(i) => {
            for n in &i.notes {
                eprintln!("note: {n}");
            }
            Ok(i)
        }
        Err(problems) => {
            for (k, (input, d)) in problems.iter().enumerate() {
                if k > 0 {
                    eprintln!();
                }
                let (name, text) = match (input, &src6) {
                    (Input::V6, Some((p6, s6))) => (p6.display().to_string(), s6.as_str()),
                    _ => (path.display().to_string(), src),
                };
                eprint!("{}", d.render(&name, text));
            }
            let n = problems.len();
            Err(fail(
                exit::INVALID_POLICY,
                format!(
                    "{}: {n} problem{} importing it; nothing was imported or sent to the kernel",
                    path.display(),
                    if n == 1 { "" } else { "s" }
                ),
            ))
        }
    }
}

fn import_cmd(file: &Path, opts: &ImportOpts) -> u8 {
    let src = match std::fs::read_to_string(file) {
        Ok(s) => s,
        Err(e) => {
            return fail(
                exit::INVALID_POLICY,
                format!("cannot read {}: {e}", file.display()),
            );
        }
    };
    match imported(file, &src, opts) {
        Ok(i) => {
            print!("{}", i.toml);
            exit::OK
        }
        Err(code) => code,
    }
}

fn print_live_diff(plan: &crate::core::plan::Plan) {
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
    // Only debug builds (what `cargo test` runs) listen to it; a release binary never does.
    if !cfg!(debug_assertions) {
        return None;
    }
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

fn apply(table: &str, policy: crate::core::model::Policy, path: &Path) -> u8 {
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
                crate::system::netlink::millis(started.elapsed())
            );
            exit::OK
        }
        Err(e) => fail(commit_error_code(&e), &e),
    }
}

fn status(table: &str, json: bool, exact: bool, state: &crate::system::state::StateDir) -> u8 {
    match readback::read_table(table) {
        Err(e) => fail(exit::KERNEL, e),
        Ok(None) => fail(
            exit::NO_TABLE,
            format!("no table inet {table} here: nothing applied yet (statewall apply POLICY)"),
        ),
        Ok(Some(t)) => {
            if json {
                let mut doc = report::status_doc(&t);
                doc.pending = rollout_cli::pending_json(state);
                let out = std::io::stdout().lock();
                let mut out = std::io::BufWriter::with_capacity(1 << 16, out);
                if serde_json::to_writer_pretty(&mut out, &doc).is_err()
                    || std::io::Write::write_all(&mut out, b"\n").is_err()
                    || std::io::Write::flush(&mut out).is_err()
                {
                    return fail(exit::KERNEL, "cannot write to stdout");
                }
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

/// The rollout commands that do not take a policy: confirm, rollback, guard, boot, install-unit.
fn run_rollout(cli: &Cli) -> u8 {
    let state = rollout_cli::state_dir(&cli.state_dir);
    match &cli.cmd {
        Cmd::Confirm {
            require_new_connection,
        } => rollout_cli::confirm(&state, *require_new_connection),
        Cmd::Rollback => rollout_cli::rollback_now(&state),
        Cmd::Guard => rollout_cli::guard(&state),
        Cmd::InstallUnit { dir } => rollout_cli::install_unit(dir),
        Cmd::Boot => {
            if let Some(ns) = &cli.netns
                && let Err(e) = netns::enter(ns)
            {
                return fail(exit::USAGE, format!("--netns {ns}: {e}"));
            }
            rollout_cli::boot(&state, &cli.table)
        }
        _ => unreachable!("only rollout commands come here"),
    }
}
