//! The command line as clap sees it: every command, flag and help text. `--help` teaches the
//! workflow; the exit codes it lists are `error::Exit::ALL` (a test keeps them equal).

use std::path::PathBuf;

use clap::{Parser, Subcommand};

use crate::core::compile;

pub const AFTER_HELP: &str = "\
Examples:
  statewall check examples/web-and-mail.toml      validate, print every problem with file:line:col
  statewall plan  examples/web-and-mail.toml      the nft script that would be committed + diff to live
  statewall apply examples/web-and-mail.toml --audit
                                                  commit; the final rule counts and accepts
  statewall status                                packets/bytes per rule, read over netlink
  statewall verify                                what the final rule would drop, by port and source
  statewall enforce examples/web-and-mail.toml    audit -> enforce in one swap, counters carried over
  statewall set add banned 203.0.113.7 --timeout 1h
                                                  ban at run time: a [[set]] of the policy, one small
                                                  batch, no table replace; kept across apply and reboot
  statewall --netns fw status --json              inside network namespace /run/netns/fw
  statewall metrics --textfile /var/lib/prometheus/node-exporter
                                                  counters for node_exporter's textfile collector
  statewall apply policy.toml --audit --confirm 120s
                                                  rolls back by itself unless, from a NEW ssh
  statewall confirm                               connection, you confirm within 120 s

The careful rollout: apply --audit --confirm 120s, open a NEW ssh connection and confirm
(it checks that the candidate's own ssh rule counted that connection), let real traffic
flow, `verify` (exit 0 when enforcing looks safe), then `enforce --confirm 120s` and
confirm again. No confirm in time: what was live before comes back by itself, even if the
SSH session died or this command was killed.

What boot loads: the last plain apply, enforce or confirmed change of this namespace and
table (each is a revision in --state-dir; with that record damaged, the newest such revision
of the history); never a change still on trial. Re-applying the
same policy sends nothing and keeps every counter.

statewall owns exactly one table (inet statewall, or --table NAME) and replaces it in one
atomic netlink batch; it never touches another table and never flushes the ruleset.
It never runs nft, iptables or a shell.

Exit codes:
  0  success
  1  the policy is invalid or unreadable (nothing was sent to the kernel)
  2  usage error
  3  the kernel refused or netlink failed (nothing was applied, unless the message says the outcome is unknown: then `status` shows what is live)
  4  the ruleset kept changing underneath (nothing was applied)
  5  there is no statewall table (status, remove, verify, enforce, set)
  6  refused for safety (lockout lint, audit data, pending change, rollout state, a table changed by someone else); or `verify` says enforcing looks unsafe
  7  the output could not be written (what the command did stands: an apply is committed)
  8  `plan --exit-code`: the live table is not this plan (apply would change it)

Logging: -v (debug), -vv (trace), or STATEWALL_LOG=<tracing filter>; logs go to stderr.";

#[derive(Parser, Debug)]
#[command(
    name = "statewall",
    version,
    about = "A stateful firewall for one host: a policy file becomes one atomic nf_tables batch, counters come back over netlink",
    after_help = AFTER_HELP
)]
pub struct Cli {
    /// Act inside a network namespace: NAME (= /run/netns/NAME) or a path (/proc/PID/ns/net)
    #[arg(long, global = true, value_name = "NAME|PATH")]
    pub netns: Option<String>,

    /// The inet table statewall owns
    #[arg(long, global = true, value_name = "NAME", default_value = compile::DEFAULT_TABLE)]
    pub table: String,

    /// Where statewall keeps its records, per namespace and table: revisions (what boot loads), the pending change, rollbacks
    #[arg(long, global = true, value_name = "DIR", env = "STATEWALL_STATE_DIR", default_value = crate::system::state::DEFAULT_DIR)]
    pub state_dir: PathBuf,

    /// More logging on stderr (-v debug, -vv trace)
    #[arg(short, long, global = true, action = clap::ArgAction::Count)]
    pub verbose: u8,

    /// Read the policy file as this format [default: detected: iptables-save text starts with `*` or `:`]
    #[arg(long, global = true, value_name = "toml|iptables", value_parser = ["toml", "iptables"])]
    pub format: Option<String>,

    /// iptables-save input: IPv6 gets the IPv4 file's meaning, plus the ICMPv6 baseline
    #[arg(long, global = true)]
    pub mirror_ipv6: bool,

    /// iptables-save input: the ip6tables-save file that says what IPv6 gets
    #[arg(long, global = true, value_name = "FILE6")]
    pub ipv6: Option<PathBuf>,

    #[command(subcommand)]
    pub cmd: Cmd,
}

#[derive(Subcommand, Debug)]
pub enum Cmd {
    /// Validate a policy: every problem with file:line:col, and a warning of what apply here would refuse as a lockout; nothing is sent to the kernel
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
        /// Exit 0 when the live table already is this plan (apply would send nothing), 8 when
        /// apply would change it
        #[arg(long, conflicts_with = "no_live")]
        exit_code: bool,
    },
    /// Compile the policy and commit it in one atomic batch, replacing statewall's table
    Apply {
        /// Policy file [default: /etc/statewall/policy.toml]
        policy: Option<PathBuf>,
        /// Audit mode whatever the policy says: the final rule counts and accepts instead of dropping
        #[arg(long)]
        audit: bool,
        /// Roll back by itself unless `statewall confirm` comes within this time (e.g. 120s, 2m)
        #[arg(long, value_name = "DURATION", value_parser = confirm_window)]
        confirm: Option<u64>,
        /// Apply even when the lockout lint says it would cut off SSH or IPv6 neighbour discovery
        #[arg(long)]
        force: bool,
        /// Print a one-line JSON summary instead (schema statewall.apply/1, see README)
        #[arg(long, conflicts_with = "confirm")]
        json: bool,
    },
    /// Keep the pending change: it becomes the last confirmed ruleset (what boot loads)
    Confirm {
        /// Refuse unless this session was opened after the apply (a NEW connection)
        #[arg(long)]
        require_new_connection: bool,
        /// Confirm even though no NEW connection to sshd's port was counted by the candidate's
        /// own rules (says what it skipped)
        #[arg(long)]
        force: bool,
    },
    /// Go back to the ruleset before the pending change, now
    Rollback,
    /// Load the last accepted policy (its record damaged: the history's newest accepted one; else the built-in safe one) at boot; discards a pending change
    Boot,
    /// Write the systemd unit that runs `statewall boot` before the network comes up
    InstallUnit {
        /// Where to write statewall.service (the unit boots the host's namespace: --netns is
        /// refused)
        #[arg(long, value_name = "DIR", default_value = "/etc/systemd/system")]
        dir: PathBuf,
    },
    /// The rollback guard (started by `apply --confirm`; restartable by hand)
    #[command(hide = true)]
    Guard {
        /// Read the pending record to guard from stdin (what `apply --confirm` hands over),
        /// instead of from the state directory
        #[arg(long, hide = true)]
        record_on_stdin: bool,
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
        #[arg(long, value_name = "DURATION", value_parser = confirm_window)]
        confirm: Option<u64>,
    },
    /// Delete statewall's table, and nothing else
    Remove,
    /// Live sets ([[set]] in the policy): add, delete or list members at run time, in one small
    /// batch (never a table replace; every counter kept); members survive apply, rollback and reboot
    Set {
        #[command(subcommand)]
        op: SetCmd,
    },
    /// Prometheus metrics: per-entry counters, set sizes, pending, drift, rollbacks done and refused (text
    /// exposition format on stdout; exit 0 with statewall_up 0 when there is no table)
    Metrics {
        /// Write DIR/statewall.prom atomically instead, for node_exporter's
        /// --collector.textfile.directory
        #[arg(long, value_name = "DIR")]
        textfile: Option<PathBuf>,
    },
    /// Turn an iptables-save file into a statewall policy (TOML on stdout, notes on stderr)
    Import {
        /// The iptables-save file (e.g. /etc/iptables/rules.v4); needs --mirror-ipv6 or --ipv6 FILE6
        file: PathBuf,
    },
}

#[derive(Subcommand, Debug)]
pub enum SetCmd {
    /// Add members: addresses or networks, IPv4 and IPv6 (`-` reads more from stdin, one or
    /// more per line, `#` comments). Refused when one holds the address of your own SSH
    /// connection and the set blocks (unless --force)
    #[command(after_help = "Examples:
  statewall set add banned 203.0.113.7 --timeout 1h
  statewall set add banned 2001:db8:bad::/48 198.51.100.0/24
  cat bad.txt | statewall set add banned -")]
    Add {
        /// The set's name (`[[set]] name = ...` in the policy)
        name: String,
        /// Addresses or networks; `-` reads them from stdin
        #[arg(required = true, value_name = "ELEMENT")]
        elements: Vec<String>,
        /// How long the members stay (90s, 10m, 1h, 2d) [default: the set's `timeout`, or until deleted]
        #[arg(long, value_name = "DURATION", value_parser = set_timeout)]
        timeout: Option<u64>,
        /// Add even what holds the address of your own SSH connection to a set that blocks
        #[arg(long)]
        force: bool,
    },
    /// Delete members (a member that is not there is reported, not an error)
    Del {
        /// The set's name
        name: String,
        /// Addresses or networks, as they were added; `-` reads them from stdin
        #[arg(required = true, value_name = "ELEMENT")]
        elements: Vec<String>,
    },
    /// List the members with their counters and what is left of their lifetimes
    List {
        /// The set's name
        name: String,
        /// One JSON document (schema statewall.set/1)
        #[arg(long)]
        json: bool,
    },
}

/// `--timeout DURATION` of `set add`.
fn set_timeout(s: &str) -> Result<u64, String> {
    crate::core::model::parse_duration(s)
}

/// `--confirm DURATION`: at least 10 s. Test-only: debug builds (what `cargo test` runs)
/// with `STATEWALL_TEST_SHORT_WINDOWS=1` take windows down to 1 s, so that the rollback
/// tests do not each wait 10 s; a release binary never reads it.
fn confirm_window(s: &str) -> Result<u64, String> {
    let short = cfg!(debug_assertions)
        && std::env::var_os("STATEWALL_TEST_SHORT_WINDOWS").is_some_and(|v| v == "1");
    crate::core::rollout::parse_window(
        s,
        if short {
            1
        } else {
            crate::core::rollout::MIN_CONFIRM_SECS
        },
    )
}

#[cfg(test)]
mod tests {
    #[test]
    fn help_lists_the_exit_codes_there_are() {
        let table = super::super::error::help_table();
        assert!(
            super::AFTER_HELP.contains(&table),
            "--help's exit codes differ from error::Exit::ALL:\n{table}"
        );
    }
}
