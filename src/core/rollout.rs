//! The safe rollout, as data and decisions: the records kept in the state directory, the
//! guard's next step, what the live table means for a rollback, what boot loads, whether the
//! session that confirms predates the apply. Pure: no I/O and no clock — every "now" is a
//! parameter. The driver (files, processes, netlink) is the CLI's `rollout_cli` module.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::core::identity::CounterSnapshot;
use crate::core::model::{Mode, Policy};

/// The built-in safe policy, keeping `ports` (sshd's, as last recorded) open besides 22.
pub fn safe_policy(ports: &[u16]) -> String {
    let mut all: Vec<u16> = ports.to_vec();
    all.push(22);
    all.sort_unstable();
    all.dedup();
    let list: Vec<String> = all.iter().map(u16::to_string).collect();
    SAFE_POLICY.replace("tcp = [22]", &format!("tcp = [{}]", list.join(", ")))
}

/// Policy loaded by `boot` when there is no usable confirmed policy: the stateful baseline
/// (established, invalid drop, loopback, ICMP, the essential ICMPv6), SSH open, the rest dropped.
pub const SAFE_POLICY: &str = "\
# statewall built-in safe policy: loaded by `statewall boot` when no confirmed policy is usable.
mode = \"enforce\"

[[allow]]
name = \"ssh\"
tcp = [22]
";

/// The systemd unit `statewall install-unit` writes: `statewall boot` for this binary, state
/// directory and table, early (before `network-pre.target`), and confined: capabilities
/// bounded to `CAP_NET_ADMIN`, the system read-only but for the state directory, netlink and
/// unix sockets only, no new privileges (`systemd-analyze security`: about 1.6). The state
/// directory under `/var/lib` is systemd's `StateDirectory=` (made 0700 if missing).
/// `docs/statewall.service` is this unit for the defaults.
pub fn systemd_unit(binary: &str, state_dir: &str, table: &str) -> String {
    let bin_dir = binary
        .rsplit_once('/')
        .map_or("/", |(d, _)| if d.is_empty() { "/" } else { d });
    let state = match state_dir.strip_prefix("/var/lib/") {
        Some(name) if !name.is_empty() && !name.contains("..") => {
            format!("StateDirectory={name}\nStateDirectoryMode=0700\n")
        }
        _ => format!("ReadWritePaths=-{state_dir}\n"),
    };
    format!(
        "\
[Unit]
Description=statewall: load the last accepted firewall policy (table inet {table})
DefaultDependencies=no
Before=network-pre.target shutdown.target
Wants=network-pre.target
# the state directory and the binary may live on their own filesystems
RequiresMountsFor={state_dir} {bin_dir}
Conflicts=shutdown.target

[Service]
Type=oneshot
RemainAfterExit=yes
ExecStart={binary} --state-dir {state_dir} --table {table} boot
UMask=0077
# nf_tables over netlink needs CAP_NET_ADMIN and nothing else
CapabilityBoundingSet=CAP_NET_ADMIN
AmbientCapabilities=
NoNewPrivileges=yes
ProtectSystem=strict
{state}ProtectHome=yes
PrivateTmp=yes
PrivateDevices=yes
DevicePolicy=closed
PrivateIPC=yes
ProtectKernelTunables=yes
ProtectKernelModules=yes
ProtectKernelLogs=yes
ProtectControlGroups=yes
ProtectClock=yes
ProtectHostname=yes
ProtectProc=invisible
RestrictAddressFamilies=AF_NETLINK AF_UNIX
RestrictNamespaces=yes
RestrictRealtime=yes
RestrictSUIDSGID=yes
LockPersonality=yes
MemoryDenyWriteExecute=yes
RemoveIPC=yes
KeyringMode=private
IPAddressDeny=any
SystemCallArchitectures=native
SystemCallFilter=@system-service
SystemCallFilter=~@privileged @resources @mount @swap @reboot @raw-io @module @obsolete @debug @cpu-emulation @clock
SystemCallErrorNumber=EPERM

[Install]
WantedBy=sysinit.target
"
    )
}

/// Where a revision came from.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Origin {
    /// a plain `apply`
    Apply,
    /// `apply --confirm` / `enforce --confirm`, not confirmed yet
    ConfirmWindow,
    /// a change confirmed within its window (statewall 0.1's records are these)
    #[default]
    Confirm,
    /// `enforce`
    Enforce,
    /// a rollback restored it
    Rollback,
    /// `boot` loaded it
    Boot,
}

impl Origin {
    pub fn as_str(self) -> &'static str {
        match self {
            Origin::Apply => "apply",
            Origin::ConfirmWindow => "confirm-window",
            Origin::Confirm => "confirm",
            Origin::Enforce => "enforce",
            Origin::Rollback => "rollback",
            Origin::Boot => "boot",
        }
    }
}

/// A revision: one policy as it was committed, self-contained (its text, the lists it
/// named, the mode), with when and how. The *accepted* revision (`Kind::Confirmed`) is
/// what `boot` loads and what `apply --confirm` can roll back to: the last plain apply,
/// enforce or confirmed change — never one still on trial.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Confirmed {
    /// the policy file's text, exactly as applied
    pub policy_text: String,
    /// the `from_file` lists the policy named, as read (name as written → text), so that the
    /// record compiles again without the files; absent in records of statewall 0.1
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub files: BTreeMap<String, String>,
    pub table: String,
    /// "enforce" or "audit" (the mode it was applied in, `--audit` included)
    pub mode: String,
    /// `identity::fingerprint` of its plan
    pub fingerprint: String,
    /// CLOCK_REALTIME seconds: when it was committed or confirmed
    pub confirmed_at: u64,
    #[serde(default)]
    pub origin: Origin,
    /// the ports sshd listened on when it was committed: boot's fallback keeps them open
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub sshd_ports: Vec<u16>,
    /// the pending change's id, for a `confirm-window` revision and the `confirm` of it:
    /// how a trial is told apart from another in the same second
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub trial: Option<String>,
}

/// A revision, by its use: see [`Confirmed`].
pub type Revision = Confirmed;

/// How many revisions the store keeps (the oldest go first).
pub const REVISIONS_KEPT: usize = 16;

/// What a rollback restores.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Previous {
    /// there was no statewall table: rollback deletes it
    NoTable,
    /// this policy, with these counters
    Policy {
        policy_text: String,
        /// the `from_file` lists the policy named, as read (name as written → text), so that the
        /// record compiles again without the files; absent in records of statewall 0.1
        #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
        files: BTreeMap<String, String>,
        mode: String,
        fingerprint: String,
        counters: CounterSnapshot,
    },
}

impl Previous {
    pub fn fingerprint(&self) -> Option<&str> {
        match self {
            Previous::NoTable => None,
            Previous::Policy { fingerprint, .. } => Some(fingerprint),
        }
    }
}

/// The candidate of a pending change.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Candidate {
    pub policy_text: String,
    /// the `from_file` lists the policy named, as read (name as written → text), so that the
    /// record compiles again without the files; absent in records of statewall 0.1
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub files: BTreeMap<String, String>,
    pub mode: String,
    pub fingerprint: String,
    /// the file it was read from, for messages
    pub source: String,
}

/// A change applied with `--confirm` and not confirmed yet.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Pending {
    /// unique per apply, so a guard never acts on a later change than its own
    pub id: String,
    pub table: String,
    /// the network namespace path given with `--netns`
    pub netns: Option<String>,
    /// CLOCK_REALTIME seconds
    pub applied_at: u64,
    /// CLOCK_BOOTTIME milliseconds at apply (compared with the session's start)
    pub applied_boottime_ms: u64,
    /// CLOCK_REALTIME seconds: no confirm by then → rollback
    pub deadline: u64,
    /// /proc/sys/kernel/random/boot_id at apply
    pub boot_id: String,
    pub candidate: Candidate,
    pub previous: Previous,
    /// the guard process watching the deadline
    pub guard_pid: Option<u32>,
    /// sshd's listening ports at apply: `confirm` wants a NEW connection to one of them
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub sshd_ports: Vec<u16>,
    /// packets the candidate's SSH-accepting rules started with (carried counters), so that
    /// `confirm` counts only what came in since the candidate went live
    #[serde(default)]
    pub proof_baseline: u64,
}

/// What the last rollback did (kept for `status`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RollbackRecord {
    pub pending_id: String,
    pub at: u64,
    pub rolled_back: bool,
    pub message: String,
}

/// How many rollbacks restored the previous ruleset, by reason (`statewall_rollbacks_total`).
/// [`RollbackRecord`] keeps only the last one; this counts every one since the record was
/// first written (statewall before 0.2 did not count).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct RollbackCounts {
    /// reason (one of [`ROLLBACK_REASONS`]) → rollbacks
    pub by_reason: BTreeMap<String, u64>,
    /// rollbacks refused: the candidate stayed live (someone else changed the table, or the
    /// previous policy no longer compiles); counted since statewall 0.3
    #[serde(default)]
    pub refused: u64,
}

/// Why a rollback happened: the confirm window closed (the guard, or a command after the
/// deadline), or someone ran `statewall rollback` within the window.
pub const ROLLBACK_REASONS: [&str; 2] = ["deadline", "requested"];

/// The reason of a rollback done at `now` (CLOCK_REALTIME seconds) of a change whose window
/// closes at `deadline`.
pub fn rollback_reason(now: u64, deadline: u64) -> &'static str {
    if now >= deadline {
        ROLLBACK_REASONS[0]
    } else {
        ROLLBACK_REASONS[1]
    }
}

pub fn mode_str(m: Mode) -> &'static str {
    m.as_str()
}

pub fn parse_mode(s: &str) -> Mode {
    if s == "audit" {
        Mode::Audit
    } else {
        Mode::Enforce
    }
}

/// Applies a stored mode on top of a parsed policy.
pub fn with_stored_mode(mut p: Policy, mode: &str) -> Policy {
    p.mode = parse_mode(mode);
    p
}

/// The shortest confirm window: time to open a new SSH connection and type `confirm`.
pub const MIN_CONFIRM_SECS: u64 = 10;

/// `120s`, `2m`, `1h`, `90` (seconds). At least 10 s, at most 24 h.
pub fn parse_duration(s: &str) -> Result<u64, String> {
    parse_window(s, MIN_CONFIRM_SECS)
}

/// [`parse_duration`] with another lower bound (tests shorten windows to save time).
pub fn parse_window(s: &str, min_secs: u64) -> Result<u64, String> {
    let s = s.trim();
    let (num, mult) = match s.char_indices().last() {
        Some((i, 's')) => (&s[..i], 1),
        Some((i, 'm')) => (&s[..i], 60),
        Some((i, 'h')) => (&s[..i], 3600),
        _ => (s, 1),
    };
    let n: u64 = num
        .parse()
        .map_err(|_| format!("{s:?}: a duration is a number with s, m or h, e.g. 120s or 2m"))?;
    let secs = n.saturating_mul(mult);
    if !(min_secs..=86_400).contains(&secs) {
        return Err(format!(
            "{s:?}: between {min_secs}s (time to open a new ssh connection and confirm) and 24h, please"
        ));
    }
    Ok(secs)
}

/// The guard's next step.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum GuardStep {
    /// sleep this long (ms), then look again
    Wait(u64),
    /// the deadline passed: roll back now
    RollbackNow,
    /// nothing (more) to guard
    Exit(String),
}

/// How often the guard re-reads the record (so a confirm makes it exit soon).
pub const GUARD_POLL_MS: u64 = 250;

/// Decides the guard's next step from the record on disk (`None`: it is gone), the change it
/// guards (`watching`: the record id), the clock (`now_ms`, CLOCK_REALTIME) and this boot.
pub fn guard_step(rec: Option<&Pending>, watching: &str, now_ms: u64, boot_id: &str) -> GuardStep {
    let Some(rec) = rec else {
        return GuardStep::Exit("no pending change (confirmed or rolled back)".into());
    };
    if rec.id != watching {
        return GuardStep::Exit(format!(
            "the pending change is now {} (not {watching})",
            rec.id
        ));
    }
    if rec.boot_id != boot_id {
        return GuardStep::Exit(
            "the pending change is from another boot; `statewall boot` discards it".into(),
        );
    }
    let deadline_ms = rec.deadline.saturating_mul(1000);
    if now_ms >= deadline_ms {
        GuardStep::RollbackNow
    } else {
        GuardStep::Wait((deadline_ms - now_ms).min(GUARD_POLL_MS))
    }
}

/// What the live table is, seen by a rollback.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LiveIs {
    /// the candidate: roll back
    Candidate,
    /// already the previous ruleset (the commit never happened, or a rollback already ran)
    Previous,
    /// someone else changed statewall's table: do not overwrite
    Foreign(String),
}

/// `live`: `None` when there is no table, `Some(Ok(fingerprint))` for an undrifted statewall
/// table, `Some(Err(why))` for a table that drifted or is not statewall's.
pub fn classify_live(rec: &Pending, live: Option<Result<&str, &str>>) -> LiveIs {
    match live {
        Some(Ok(fp)) if fp == rec.candidate.fingerprint => LiveIs::Candidate,
        Some(Ok(fp)) if Some(fp) == rec.previous.fingerprint() => LiveIs::Previous,
        None if rec.previous == Previous::NoTable => LiveIs::Previous,
        None => LiveIs::Foreign("statewall's table was deleted by someone else".into()),
        Some(Ok(fp)) => LiveIs::Foreign(format!(
            "statewall's table now holds plan {fp}, neither the candidate ({}) nor the previous ruleset",
            rec.candidate.fingerprint
        )),
        Some(Err(why)) => LiveIs::Foreign(format!("statewall's table was changed: {why}")),
    }
}

/// Where a boot takes its policy from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BootSource {
    Confirmed(Confirmed),
    /// the built-in safe policy, and why
    Safe(String),
}

/// The newest revision of `history` (oldest first) that was the accepted one when it was
/// written: a plain apply, an enforce or a confirmed change. The accepted record is written
/// before its revision, so with that record damaged this is what it said (or, after a crash
/// between the two writes, the one accepted before it). A rollback's and a boot's revisions
/// restore or reload what was accepted already (a boot's may be the safe policy), and a trial's
/// was never accepted: none of them is taken.
pub fn newest_accepted(history: &[Revision]) -> Option<&Revision> {
    history
        .iter()
        .rev()
        .find(|r| matches!(r.origin, Origin::Apply | Origin::Enforce | Origin::Confirm))
}

/// `confirmed`: the confirmed record as read (`Err`: unreadable/corrupt; `Ok(None)`: none).
pub fn boot_source(confirmed: Result<Option<Confirmed>, String>) -> BootSource {
    match confirmed {
        Ok(Some(c)) => {
            // the lists it named travel with it: a boot reads no policy files
            if crate::core::usecase::stored_plan(&c.policy_text, &c.files, &c.mode, &c.table)
                .is_some()
            {
                BootSource::Confirmed(c)
            } else {
                BootSource::Safe("the confirmed policy does not parse any more".into())
            }
        }
        Ok(None) => BootSource::Safe("no confirmed policy yet".into()),
        Err(why) => BootSource::Safe(format!("the confirmed state is unusable: {why}")),
    }
}

/// Whether the session running `confirm` was opened after the apply.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SessionAge {
    /// opened after the apply: it went through the candidate's rules as a NEW connection
    OpenedAfterApply,
    /// opened before: it survived on `established`, it proves nothing
    PredatesApply,
    Unknown,
}

/// What the age of the admin's connection was taken from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ConnectionBasis {
    /// the closest ancestor process named `sshd*`: the per-connection sshd process
    SshdProcess,
    /// the session leader (`getsid(0)`): no sshd among the ancestors
    SessionLeader,
}

/// When the connection this command runs over was opened (CLOCK_BOOTTIME ms).
/// `ancestors`: (command name, start) from the parent upwards. The closest `sshd*` ancestor
/// is the per-connection sshd process, whatever `sudo`/`su`/tmux started in between (sudo
/// with `use_pty` starts a new session, so the session leader alone would look new);
/// without one, the session leader's start.
pub fn connection_start(
    ancestors: &[(String, u64)],
    session_leader_start: Option<u64>,
) -> Option<(u64, ConnectionBasis)> {
    match ancestors.iter().find(|(comm, _)| comm.starts_with("sshd")) {
        Some((_, start)) => Some((*start, ConnectionBasis::SshdProcess)),
        None => session_leader_start.map(|s| (s, ConnectionBasis::SessionLeader)),
    }
}

/// Both times are CLOCK_BOOTTIME milliseconds.
pub fn session_age(session_start_ms: Option<u64>, applied_boottime_ms: u64) -> SessionAge {
    match session_start_ms {
        None => SessionAge::Unknown,
        Some(s) if s >= applied_boottime_ms => SessionAge::OpenedAfterApply,
        Some(_) => SessionAge::PredatesApply,
    }
}

/// UTC calendar time of a unix timestamp: `2026-11-25 06:45:12 UTC`.
pub fn utc(secs: u64) -> String {
    let days = (secs / 86_400) as i64;
    let rem = secs % 86_400;
    let (y, m, d) = crate::core::clock::civil_from_days(days);
    format!(
        "{y:04}-{m:02}-{d:02} {:02}:{:02}:{:02} UTC",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pending() -> Pending {
        Pending {
            id: "a".into(),
            table: "statewall".into(),
            netns: None,
            applied_at: 100,
            applied_boottime_ms: 5_000,
            deadline: 220,
            boot_id: "boot".into(),
            candidate: Candidate {
                files: Default::default(),
                policy_text: String::new(),
                mode: "audit".into(),
                fingerprint: "cand".into(),
                source: "p.toml".into(),
            },
            previous: Previous::NoTable,
            guard_pid: None,
            sshd_ports: vec![],
            proof_baseline: 0,
        }
    }

    #[test]
    fn durations() {
        assert_eq!(parse_duration("120s"), Ok(120));
        assert_eq!(parse_duration("2m"), Ok(120));
        assert_eq!(parse_duration("1h"), Ok(3600));
        assert_eq!(parse_duration("30"), Ok(30));
        assert!(parse_duration("0s").is_err());
        assert!(
            parse_duration("9s").is_err(),
            "too short to confirm from a new session"
        );
        assert_eq!(parse_duration("10s"), Ok(10));
        assert!(parse_duration("2d").is_err());
        assert!(parse_duration("").is_err());
        assert!(parse_duration("25h").is_err());
    }

    #[test]
    fn guard_waits_then_rolls_back_and_exits_when_confirmed() {
        let p = pending();
        assert_eq!(
            guard_step(Some(&p), "a", 100_000, "boot"),
            GuardStep::Wait(GUARD_POLL_MS)
        );
        assert_eq!(
            guard_step(Some(&p), "a", 219_900, "boot"),
            GuardStep::Wait(100)
        );
        assert_eq!(
            guard_step(Some(&p), "a", 220_000, "boot"),
            GuardStep::RollbackNow
        );
        assert!(matches!(
            guard_step(None, "a", 0, "boot"),
            GuardStep::Exit(_)
        ));
        assert!(matches!(
            guard_step(Some(&p), "b", 0, "boot"),
            GuardStep::Exit(_)
        ));
        assert!(matches!(
            guard_step(Some(&p), "a", 0, "other"),
            GuardStep::Exit(_)
        ));
    }

    #[test]
    fn live_table_classification() {
        let mut p = pending();
        assert_eq!(classify_live(&p, Some(Ok("cand"))), LiveIs::Candidate);
        assert_eq!(classify_live(&p, None), LiveIs::Previous);
        assert!(matches!(
            classify_live(&p, Some(Ok("zzz"))),
            LiveIs::Foreign(_)
        ));
        assert!(matches!(
            classify_live(&p, Some(Err("drift"))),
            LiveIs::Foreign(_)
        ));
        p.previous = Previous::Policy {
            files: Default::default(),
            policy_text: String::new(),
            mode: "enforce".into(),
            fingerprint: "prev".into(),
            counters: CounterSnapshot::default(),
        };
        assert_eq!(classify_live(&p, Some(Ok("prev"))), LiveIs::Previous);
        assert!(matches!(classify_live(&p, None), LiveIs::Foreign(_)));
    }

    #[test]
    fn boot_never_loads_nothing() {
        assert!(matches!(boot_source(Ok(None)), BootSource::Safe(_)));
        assert!(matches!(
            boot_source(Err("garbage".into())),
            BootSource::Safe(_)
        ));
        let c = Confirmed {
            files: Default::default(),
            policy_text: "[[allow]]\nname = \"web\"\ntcp = [80]\n".into(),
            table: "statewall".into(),
            mode: "enforce".into(),
            fingerprint: "x".into(),
            confirmed_at: 0,
            ..Default::default()
        };
        assert_eq!(boot_source(Ok(Some(c.clone()))), BootSource::Confirmed(c));
        let bad = Confirmed {
            files: Default::default(),
            policy_text: "[[allow]]\nname = ".into(),
            ..boot_source_dummy()
        };
        assert!(matches!(boot_source(Ok(Some(bad))), BootSource::Safe(_)));
        // confirmed before "icmp" became one of statewall's own names: it still boots
        let older = Confirmed {
            files: Default::default(),
            policy_text: "[[allow]]\nname = \"icmp\"\nicmp = [\"echo-request\"]\n".into(),
            ..boot_source_dummy()
        };
        assert!(crate::core::diag::has_errors(
            &crate::core::policy::parse(&older.policy_text).1
        ));
        assert_eq!(
            boot_source(Ok(Some(older.clone()))),
            BootSource::Confirmed(older)
        );
        let (p, d) = crate::core::policy::parse(SAFE_POLICY);
        assert!(p.is_some() && !crate::core::diag::has_errors(&d), "{d:?}");
    }

    fn boot_source_dummy() -> Confirmed {
        Confirmed {
            files: Default::default(),
            policy_text: String::new(),
            table: "statewall".into(),
            mode: "enforce".into(),
            fingerprint: String::new(),
            confirmed_at: 0,
            ..Default::default()
        }
    }

    #[test]
    fn session_age_compares_boottimes() {
        assert_eq!(
            session_age(Some(6_000), 5_000),
            SessionAge::OpenedAfterApply
        );
        assert_eq!(session_age(Some(4_000), 5_000), SessionAge::PredatesApply);
        assert_eq!(session_age(None, 5_000), SessionAge::Unknown);
    }

    #[test]
    fn the_closest_sshd_ancestor_dates_the_connection() {
        let chain = |v: &[(&str, u64)]| -> Vec<(String, u64)> {
            v.iter().map(|(c, s)| (c.to_string(), *s)).collect()
        };
        // sudo (new session, just now) <- bash <- sshd-session (the connection) <- sshd (listener)
        let a = chain(&[
            ("sudo", 9_000),
            ("bash", 2_000),
            ("sshd-session", 1_500),
            ("sshd", 10),
        ]);
        assert_eq!(
            connection_start(&a, Some(9_000)),
            Some((1_500, ConnectionBasis::SshdProcess))
        );
        let b = chain(&[("bash", 2_000), ("login", 100)]);
        assert_eq!(
            connection_start(&b, Some(2_000)),
            Some((2_000, ConnectionBasis::SessionLeader))
        );
        assert_eq!(connection_start(&b, None), None);
    }

    #[test]
    fn utc_dates() {
        assert_eq!(utc(0), "1970-01-01 00:00:00 UTC");
        assert_eq!(utc(1_795_000_000), "2026-11-18 11:06:40 UTC");
        assert_eq!(utc(951_782_400), "2000-02-29 00:00:00 UTC");
    }
}
