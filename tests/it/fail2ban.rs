//! examples/fail2ban/action.d/statewall.conf, run by Debian's fail2ban-server with a private
//! config dir, socket, pidfile and in-memory database (nothing of /etc/fail2ban but its
//! stock sshd filter, no service, no firewall but statewall's inside the test namespace):
//! three failed logins in a log the test writes ban that source — its connections drop while
//! another source still connects — and it connects again after the ban time.

use std::fs::OpenOptions;
use std::io::Write;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::support::flows::{eventually, probe_from};
use crate::support::{
    CLIENT_V4, FW_V4, Netns, Output, PROBE_TIMEOUT, Pair, Probe, TempPolicy, listen_tcp, repo_path,
    run_cmd, statewall, wait_bounded,
};

const SERVER: &str = "/usr/bin/fail2ban-server";
const CLIENT: &str = "/usr/bin/fail2ban-client";
/// A second address of the client namespace: a source that never fails a login.
const OTHER_V4: Ipv4Addr = Ipv4Addr::new(192, 0, 2, 4);
const OTHER_V6: std::net::Ipv6Addr = std::net::Ipv6Addr::new(0x2001, 0xdb8, 0x5a, 0, 0, 0, 0, 4);
const PORT: u16 = 2222;
const BANTIME: u64 = 6;

/// A fail2ban-server in the foreground with only its own files under `dir`; SIGTERM (which
/// unbans everything) and a bounded wait on drop.
struct Fail2ban {
    child: Child,
    conf: PathBuf,
    sock: PathBuf,
    log: PathBuf,
}

impl Fail2ban {
    /// `statewall`: the action's command prefix; `auth_log`: the file the jail reads.
    fn start(dir: &Path, statewall: &str, auth_log: &Path) -> Fail2ban {
        assert!(
            Path::new(SERVER).exists(),
            "{SERVER} is missing: `cargo xtask deps` installs Debian's fail2ban"
        );
        let conf = dir.join("conf");
        let run = dir.join("run");
        for d in [conf.join("filter.d"), conf.join("action.d"), run.clone()] {
            std::fs::create_dir_all(d).unwrap();
        }
        // Debian's stock sshd filter (and the common.conf it includes), our action
        for f in ["sshd.conf", "common.conf"] {
            std::fs::copy(
                Path::new("/etc/fail2ban/filter.d").join(f),
                conf.join("filter.d").join(f),
            )
            .unwrap();
        }
        std::fs::copy(
            repo_path("examples/fail2ban/action.d/statewall.conf"),
            conf.join("action.d/statewall.conf"),
        )
        .unwrap();
        let sock = run.join("f2b.sock");
        let pid = run.join("f2b.pid");
        std::fs::write(
            conf.join("fail2ban.conf"),
            format!(
                "[Definition]\nloglevel = INFO\nlogtarget = STDERR\nsocket = {}\npidfile = {}\n\
                 dbfile = :memory:\nsyslogsocket = auto\nallowipv6 = auto\ndbpurgeage = 1d\n",
                sock.display(),
                pid.display()
            ),
        )
        .unwrap();
        std::fs::write(
            conf.join("jail.conf"),
            format!(
                "[DEFAULT]\nbackend = polling\n\n[sshd]\nenabled = true\nfilter = sshd\n\
                 logpath = {}\nmaxretry = 3\nfindtime = 60\nbantime = {BANTIME}\n\
                 action = statewall[statewall=\"{statewall}\", set=\"banned\"]\n",
                auth_log.display()
            ),
        )
        .unwrap();
        // the jail refuses to start without its log file
        OpenOptions::new()
            .create(true)
            .append(true)
            .open(auth_log)
            .unwrap();
        let log = dir.join("fail2ban-server.log");
        let out = std::fs::File::create(&log).unwrap();
        let child = Command::new(SERVER)
            .args(["-f", "-x", "-c"])
            .arg(&conf)
            .arg("-s")
            .arg(&sock)
            .arg("-p")
            .arg(&pid)
            .args(["--logtarget", "STDERR"])
            // what the action's statewall commands inherit
            .env_remove("SSH_CONNECTION")
            .env_remove("STATEWALL_STATE_DIR")
            .stdin(Stdio::null())
            .stdout(out.try_clone().unwrap())
            .stderr(out)
            .spawn()
            .expect("fail2ban-server starts");
        let f2b = Fail2ban {
            child,
            conf,
            sock,
            log,
        };
        eventually(
            Duration::from_secs(20),
            "fail2ban-server to answer ping",
            || f2b.client(&["ping"]).success(),
        );
        f2b
    }

    fn client(&self, args: &[&str]) -> Output {
        let mut cmd = Command::new(CLIENT);
        cmd.arg("-c")
            .arg(&self.conf)
            .arg("-s")
            .arg(&self.sock)
            .args(args);
        run_cmd(cmd, Duration::from_secs(10))
    }

    fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }
}

impl Drop for Fail2ban {
    fn drop(&mut self) {
        // SAFETY: our own child's pid; SIGTERM makes fail2ban unban and exit (0.2 s measured)
        unsafe { libc::kill(self.child.id() as libc::pid_t, libc::SIGTERM) };
        let _ = wait_bounded(&mut self.child, Duration::from_secs(10));
        let _ = self.child.kill();
    }
}

/// One line of sshd's log as syslog writes it, stamped now (fail2ban ignores old failures).
fn failed_login(log: &Path, from: Ipv4Addr) {
    let mut date = Command::new("date");
    date.arg("--iso-8601=seconds");
    let now = run_cmd(date, Duration::from_secs(5));
    now.assert_ok();
    let mut f = OpenOptions::new().append(true).open(log).unwrap();
    writeln!(
        f,
        "{} fw sshd[4242]: Failed password for root from {from} port 4444 ssh2",
        now.stdout.trim()
    )
    .unwrap();
}

fn probe(pair: &Pair, src: Ipv4Addr) -> Probe {
    let dst = SocketAddr::new(IpAddr::V4(FW_V4), PORT);
    probe_from(&pair.client, IpAddr::V4(src), dst, PROBE_TIMEOUT)
}

fn banned(ns: &Netns) -> Vec<String> {
    crate::support::set_members(ns, "banned")
        .into_iter()
        .map(|(m, _)| m)
        .collect()
}

#[cfg_attr(not(statewall_root), ignore = "needs root: creates network namespaces")]
#[test]
fn fail2ban_bans_a_source_through_a_live_set_and_unbans_it_after_the_ban_time() {
    let pair = Pair::new("f2b");
    pair.add_client_address(OTHER_V4, OTHER_V6);
    let _listeners = listen_tcp(&pair.fw, &[PORT]);
    let policy = TempPolicy::new(
        "f2b",
        &format!(
            "[[set]]\nname = \"banned\"\ntimeout = \"1h\"\n\n\
             [[block]]\nname = \"bans\"\nfrom_set = \"banned\"\n\n\
             [[allow]]\nname = \"ssh\"\ntcp = [{PORT}]\n"
        ),
    );
    statewall(&pair.fw, ["apply", &policy.path()]).assert_ok();
    assert_eq!(probe(&pair, CLIENT_V4), Probe::Connected);
    assert_eq!(probe(&pair, OTHER_V4), Probe::Connected);

    let dir = std::env::temp_dir().join(format!("statewall-f2b-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    // the command fail2ban runs: this binary, in the firewall's namespace, its state dir
    let prefix = format!(
        "{} --netns {} --state-dir {}",
        env!("CARGO_BIN_EXE_statewall"),
        pair.fw.name(),
        pair.fw.state_dir().display()
    );
    let auth = dir.join("auth.log");
    let f2b = Fail2ban::start(&dir, &prefix, &auth);

    // three failed logins from the client: banned within seconds
    for _ in 0..3 {
        failed_login(&auth, CLIENT_V4);
    }
    let t0 = Instant::now();
    eventually(
        Duration::from_secs(15),
        "fail2ban to ban the client",
        || banned(&pair.fw) == [CLIENT_V4.to_string()],
    );
    let ban_latency = t0.elapsed();
    assert_eq!(probe(&pair, CLIENT_V4), Probe::TimedOut, "{}", f2b.log());
    assert_eq!(probe(&pair, OTHER_V4), Probe::Connected);
    let status = f2b.client(&["status", "sshd"]);
    assert!(status.stdout.contains(&CLIENT_V4.to_string()), "{status}");
    // fail2ban's ban time is the member's lifetime
    let out = statewall(&pair.fw, ["set", "list", "banned", "--json"]);
    let doc: serde_json::Value = serde_json::from_str(&out.stdout).unwrap();
    let left = doc["members"][0]["expires_in_ms"].as_u64().unwrap();
    assert!(
        left <= BANTIME * 1000,
        "lifetime {left} ms, ban time {BANTIME} s"
    );

    // after the ban time: unbanned, by fail2ban's `set del` (or the kernel's own expiry,
    // whichever comes first: fail2ban counts from the log line's second)
    eventually(
        Duration::from_secs(BANTIME + 20),
        "the client to be unbanned",
        || banned(&pair.fw).is_empty(),
    );
    assert_eq!(probe(&pair, CLIENT_V4), Probe::Connected);
    eventually(Duration::from_secs(10), "fail2ban to log the unban", || {
        f2b.log().contains(&format!("Unban {CLIENT_V4}"))
    });
    let log = f2b.log();
    assert!(!log.contains("ERROR"), "fail2ban logged an error:\n{log}");
    eprintln!("fail2ban: banned {ban_latency:?} after the third failure");
    drop(f2b);
    let _ = std::fs::remove_dir_all(&dir);
}
