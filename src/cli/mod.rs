//! The `statewall` command: raw arguments → a validated request → a use case → stdout and
//! an exit code. One file per command; the decisions are the core's use cases. Stdout
//! carries data; logs and diagnostics go to stderr.

mod apply;
mod args;
mod boot;
mod check;
mod confirm;
mod enforce;
pub mod error;
mod guard;
mod import;
mod install_unit;
mod load;
mod metrics;
mod plan;
mod remove;
mod rollback;
mod set;
mod status;
mod verify;

use std::io::Write;
use std::path::Path;
use std::process::ExitCode;

use crate::codec::encode::Fault;
use crate::system::kernel::Netlink;
use crate::system::netns;
use crate::system::state::StateDir;
pub use args::{Cli, Cmd};
use error::{CliError, Exit};
use load::ImportOpts;

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
    // an empty STATEWALL_STATE_DIR: clap would refuse it as "a value is required for
    // '--state-dir'", a flag the admin never typed (and even when --state-dir is given)
    let empty_env = std::env::var_os("STATEWALL_STATE_DIR").is_some_and(|v| v.is_empty());
    if empty_env {
        // SAFETY: no other thread exists yet
        unsafe { std::env::remove_var("STATEWALL_STATE_DIR") };
    }
    let cli = match parse_args() {
        Ok((_, true)) if empty_env => {
            eprintln!(
                "statewall: STATEWALL_STATE_DIR is set but empty: give it a directory, or unset it for the default ({})",
                crate::system::state::DEFAULT_DIR
            );
            return ExitCode::from(Exit::Usage.code());
        }
        Ok((c, _)) => c,
        Err(e) => {
            let _ = e.print();
            return ExitCode::from(if e.use_stderr() {
                Exit::Usage.code()
            } else {
                Exit::Ok.code()
            });
        }
    };
    init_logging(cli.verbose);
    match run(cli) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("statewall: {e}");
            ExitCode::from(e.exit_code())
        }
    }
}

/// `statewall --version`: the version and the commit it was built from.
pub fn version() -> &'static str {
    static VERSION: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    VERSION.get_or_init(|| format!("{} (commit {})", env!("CARGO_PKG_VERSION"), metrics::COMMIT))
}

/// The command line as clap defines it (`cargo xtask dist` makes completions and the man
/// page from it), with [`version`].
pub fn command() -> clap::Command {
    <Cli as clap::CommandFactory>::command().version(version())
}

/// The arguments, and whether the state directory is the default one (no --state-dir, no
/// STATEWALL_STATE_DIR).
fn parse_args() -> Result<(Cli, bool), clap::Error> {
    let matches = command().try_get_matches()?;
    let default_dir =
        matches.value_source("state_dir") == Some(clap::parser::ValueSource::DefaultValue);
    Ok((
        <Cli as clap::FromArgMatches>::from_arg_matches(&matches)?,
        default_dir,
    ))
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

/// What every command may need besides its own arguments: the table, the namespace, the
/// state directory, how iptables-save input is read.
pub struct Ctx {
    pub table: String,
    pub netns: Option<String>,
    pub state: StateDir,
    pub import: ImportOpts,
}

impl Ctx {
    fn of(cli: &Cli) -> Result<Ctx, CliError> {
        if !valid_table_name(&cli.table) {
            return Err(CliError::usage(format!(
                "--table {:?}: a table name is 1-64 letters, digits, '_' or '-', starting with a letter",
                crate::core::diag::shorten(&cli.table, 80)
            )));
        }
        let dir = &cli.state_dir;
        let root = StateDir::new(std::path::absolute(dir).unwrap_or_else(|_| dir.clone()));
        // each namespace and table keeps its own records
        let ns = cli.netns.as_deref();
        let key = netns::identity(ns).map_err(|e| {
            let ns = ns.map_or("(this namespace)".into(), |n| {
                crate::core::diag::shorten(n, 80)
            });
            CliError::usage(format!("--netns {ns}: {e}"))
        })?;
        // the commands messages tell the admin to run (from a new ssh session, in the host's
        // namespace) name this namespace and table: `ip netns exec NAME` gets `--netns NAME`
        let named = match ns {
            None if key.starts_with("name-") => netns::own_name(),
            _ => None,
        };
        let mut state = root.scoped(&key, &cli.table).with_hint_args(
            ns.or(named.as_deref()),
            (cli.table != crate::core::compile::DEFAULT_TABLE).then_some(cli.table.as_str()),
        );
        // an unnamed namespace's records are under its inode number, which the next
        // namespace reuses: they carry which life of it wrote them
        if key.starts_with("ino-")
            && let Some(life) = netns::lifetime(ns)
        {
            match state.claim_lifetime(&life) {
                Ok(Some(m)) => eprintln!("statewall: {m}"),
                Ok(None) => {}
                Err(e) => return Err(crate::core::usecase::state_err(e).into()),
            }
        }
        for m in state.adopt_legacy(&cli.table, ns.is_none(), |theirs| {
            netns::identity(theirs).is_ok_and(|k| k == key)
        }) {
            eprintln!("statewall: {m}");
        }
        Ok(Ctx {
            table: cli.table.clone(),
            netns: cli.netns.clone(),
            state,
            import: ImportOpts {
                format: cli.format.clone(),
                mirror_ipv6: cli.mirror_ipv6,
                ipv6: cli.ipv6.clone(),
            },
        })
    }

    /// Enters `--netns` (this thread; the CLI has only one).
    fn enter_netns(&self) -> Result<(), CliError> {
        enter(self.netns.as_deref())
    }

    /// `--netns` as a path the guard can enter later.
    fn netns_path(&self) -> Option<String> {
        self.netns
            .as_deref()
            .map(|n| netns::resolve(n).display().to_string())
    }
}

/// Enters a network namespace given by name or path (nothing for `None`).
fn enter(ns: Option<&str>) -> Result<(), CliError> {
    if let Some(ns) = ns {
        let path = netns::enter(ns).map_err(|e| CliError::usage(format!("--netns {ns}: {e}")))?;
        tracing::debug!("entered network namespace {}", path.display());
    }
    Ok(())
}

/// The kernel, in the namespace entered.
fn kernel() -> Netlink {
    Netlink::new(test_fault())
}

/// `--format`, `--mirror-ipv6` and `--ipv6` say how a policy or an iptables-save file is
/// read: refused, before anything is read, on a command that reads none (they were taken and
/// ignored), and `--ipv6` beside `--mirror-ipv6` (they exclude each other).
fn input_options_fit(cli: &Cli) -> Result<(), CliError> {
    let reads = match &cli.cmd {
        Cmd::Check { .. } | Cmd::Plan { .. } | Cmd::Apply { .. } | Cmd::Enforce { .. } => None,
        Cmd::Import { .. } => Some("--format").filter(|_| cli.format.is_some()).map(|f| {
            format!("{f}: import reads an iptables-save file, whatever it is called")
        }),
        _ => [
            (cli.format.is_some(), "--format"),
            (cli.mirror_ipv6, "--mirror-ipv6"),
            (cli.ipv6.is_some(), "--ipv6"),
        ]
        .into_iter()
        .find(|(set, _)| *set)
        .map(|(_, f)| {
            format!(
                "{f} says how a policy or an iptables-save file is read, and this command reads none: it is taken by check, plan, apply, enforce and import"
            )
        }),
    };
    if let Some(why) = reads {
        return Err(CliError::usage(why));
    }
    if cli.ipv6.is_some() && cli.mirror_ipv6 {
        return Err(CliError::usage(
            "--ipv6 FILE6 and --mirror-ipv6 exclude each other: the IPv6 file, or the IPv4 meaning mirrored",
        ));
    }
    Ok(())
}

fn valid_table_name(t: &str) -> bool {
    let mut chars = t.chars();
    t.len() <= 64
        && chars.next().is_some_and(|c| c.is_ascii_alphabetic())
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
}

fn run(cli: Cli) -> Result<(), CliError> {
    input_options_fit(&cli)?;
    let cx = Ctx::of(&cli)?;
    match cli.cmd {
        Cmd::Check { policy } => check::run(&cx, policy.as_deref()),
        Cmd::Import { file } => import::run(&cx, &file),
        Cmd::Plan {
            policy,
            audit,
            no_live,
            exit_code,
        } => plan::run(&cx, policy.as_deref(), audit, no_live, exit_code),
        Cmd::Apply {
            policy,
            audit,
            confirm,
            force,
            json,
        } => apply::run(&cx, policy.as_deref(), audit, confirm, force, json),
        Cmd::Status { json, exact } => status::run(&cx, json, exact),
        Cmd::Verify { json } => verify::run(&cx, json),
        Cmd::Enforce {
            policy,
            force,
            confirm,
        } => enforce::run(&cx, policy.as_deref(), force, confirm),
        Cmd::Remove => remove::run(&cx),
        Cmd::Set { op } => set::run(&cx, op),
        Cmd::Confirm {
            require_new_connection,
            force,
        } => confirm::run(&cx, require_new_connection, force),
        Cmd::Rollback => rollback::run(&cx),
        Cmd::Guard { record_on_stdin } => guard::run(&cx, record_on_stdin),
        Cmd::Boot => boot::run(&cx),
        Cmd::InstallUnit { dir } => install_unit::run(&cx, &dir),
        Cmd::Metrics { textfile } => metrics::run(&cx, textfile.as_deref()),
    }
}

/// Writes `text` to stdout; a stdout that cannot be written is its own exit code.
fn out(text: &str) -> Result<(), CliError> {
    let mut o = std::io::stdout().lock();
    o.write_all(text.as_bytes())
        .and_then(|_| o.flush())
        .map_err(|e| CliError::new(Exit::Output, format!("cannot write to stdout: {e}")))
}

/// [`out`], one line.
fn outln(text: impl AsRef<str>) -> Result<(), CliError> {
    let mut s = text.as_ref().to_string();
    s.push('\n');
    out(&s)
}

/// `statewall` with the same `--state-dir`, as the admin would type it.
fn hint(state: &StateDir, sub: &str) -> String {
    crate::core::store::Store::command(state, sub)
}

/// The test-only fault hook: forces a batch the kernel rejects, to prove nothing is
/// half-applied. Only debug builds (what `cargo test` runs) listen to it.
fn test_fault() -> Option<Fault> {
    if !cfg!(debug_assertions) {
        return None;
    }
    match std::env::var("STATEWALL_TEST_FAULT").ok()?.as_str() {
        "jump-to-missing-chain" => Some(Fault::JumpToMissingChain),
        "lose-batch-outcome" => Some(Fault::LoseBatchOutcome),
        _ => None,
    }
}

/// Milliseconds, for the one-line summaries.
fn millis(d: std::time::Duration) -> String {
    crate::system::netlink::millis(d)
}

/// `path`, for messages.
fn shown(path: &Path) -> String {
    path.display().to_string()
}
