//! When entries match (`hours`, `days`, `since`, `until`: nft's `meta hour`, `meta day`,
//! `meta time`) in the kernel: nft (with TZ=UTC) makes the same objects of statewall's text
//! and reads statewall's bytes as those matches, readback finds no drift; and windows,
//! days and dates set around the moment the test runs — one inside and one outside of each,
//! a window past midnight among them — drop the datagrams of their port as iptables'
//! `-m time` of the same words drops them in a namespace of its own, counted by statewall's
//! rule. The host's clock is the kernel's: both namespaces read it at the same moment, and
//! every edge is an hour (a day for dates) away from it.

use std::collections::BTreeSet;
use std::net::{Ipv4Addr, Ipv6Addr, SocketAddr, UdpSocket};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use crate::support::{
    Netns, TempPolicy, packets_of, payloads_within, repo_path, restore_one_rule, statewall,
    status_json, udp_listen,
};

const POLICY: &str = "tests/data/policy/ok-clock.toml";
const DAY: u64 = 86_400;
/// The first of the forms' ports (each form has the next one).
const BASE_PORT: u16 = 7100;
/// Datagrams sent to each port, per family.
const SENT: usize = 3;

#[cfg_attr(not(statewall_root), ignore = "needs root: creates network namespaces")]
#[test]
fn clock_matches_mean_the_same_to_nft_and_read_back_without_drift() {
    let path = repo_path(POLICY);
    let (_ns, list) = crate::kernel::applied_and_listed("clock-drift", path.to_str().unwrap());
    // a window past midnight is every second but the gap; weekdays as nft numbers them
    assert_eq!(
        list.of("office-only-ssh"),
        [
            "meta hour != \"08:00:01\"-\"17:59:59\" meta day 1-5 tcp dport 22 counter packets 0 bytes 0 drop comment \"office-only-ssh\""
        ]
    );
    assert_eq!(
        list.of("campaign"),
        [
            "meta time >= \"2025-11-01 00:00:00\" meta time < \"2026-01-01 00:00:00\" tcp dport 8443 ct state new counter packets 0 bytes 0 accept comment \"campaign\""
        ]
    );
    // Saturday and Sunday: every day but Monday to Friday
    assert_eq!(
        list.of("game"),
        [
            "meta hour \"10:00\"-\"20:30\" meta day != 1-5 udp dport 27015 ct state new counter packets 0 bytes 0 accept comment \"game\""
        ]
    );
    // Sunday to Thursday: one range
    assert!(
        list.of("bedtime")[0].contains("meta hour != \"06:30:01\"-\"21:59:59\" meta day 0-4"),
        "{list}"
    );
}

/// Now, in UTC: (seconds of the day, weekday with 0 = Sunday, seconds since 1970). Waits
/// out the last 90 seconds of a day, so that a weekday the test names stays the day.
fn now_utc() -> (u64, u64, u64) {
    let secs = || {
        SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .expect("a clock after 1970")
            .as_secs()
    };
    let mut now = secs();
    if now % DAY > DAY - 90 {
        std::thread::sleep(Duration::from_secs(DAY - now % DAY + 2));
        now = secs();
    }
    (now % DAY, (now / DAY + 4) % 7, now)
}

fn hms(t: u64) -> String {
    let t = t % DAY;
    format!("{:02}:{:02}:{:02}", t / 3600, t / 60 % 60, t % 60)
}

/// A date as both write it (`YYYY-MM-DDThh:mm:ss`, UTC).
fn date(secs: u64) -> String {
    let out = std::process::Command::new("date")
        .args(["-u", "-d", &format!("@{secs}"), "+%Y-%m-%dT%H:%M:%S"])
        .output()
        .expect("date");
    String::from_utf8(out.stdout).unwrap().trim().to_string()
}

/// One clock form: its policy keys, iptables' `-m time` options, and whether it holds now.
struct Form {
    keys: String,
    opts: String,
    now: bool,
}

/// Windows, days and dates one hour (a day) either side of now, in and out.
fn forms() -> Vec<Form> {
    const POLICY_DAYS: [&str; 7] = ["sun", "mon", "tue", "wed", "thu", "fri", "sat"];
    const XT_DAYS: [&str; 7] = ["Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"];
    let (sod, today, now) = now_utc();
    let window = |start: u64, stop: u64, now: bool| Form {
        keys: format!("hours = \"{}-{}\"", hms(start), hms(stop)),
        opts: format!("--timestart {} --timestop {}", hms(start), hms(stop)),
        now,
    };
    let others: Vec<usize> = (0..7).filter(|&d| d != today as usize).collect();
    let days = |list: &[usize], now: bool| Form {
        keys: format!(
            "days = [{}]",
            list.iter()
                .map(|&d| format!("\"{}\"", POLICY_DAYS[d]))
                .collect::<Vec<_>>()
                .join(", ")
        ),
        opts: format!(
            "--weekdays {}",
            list.iter()
                .map(|&d| XT_DAYS[d])
                .collect::<Vec<_>>()
                .join(",")
        ),
        now,
    };
    let dated = |key: &str, opt: &str, at: u64, now: bool| Form {
        keys: format!("{key} = \"{}\"", date(at)),
        opts: format!("--{opt} {}", date(at)),
        now,
    };
    vec![
        // an hour either side of now (past midnight when now is within an hour of it)
        window(sod + DAY - 3600, sod + 3600, true),
        // the hours but the two around now: one of these two passes midnight
        window(sod + 3600, sod + DAY - 3600, false),
        window(sod + 3600, sod + 7200, false),
        days(&[today as usize], true),
        days(&others, false),
        dated("since", "datestart", now - DAY, true),
        dated("since", "datestart", now + DAY, false),
        dated("until", "datestop", now + DAY, true),
        dated("until", "datestop", now - DAY, false),
    ]
}

/// Sends [`SENT`] datagrams from `ns` to `port` over loopback, IPv4 and IPv6: those that
/// arrive (by payload). A datagram the output hook drops fails to send: that is an outcome.
fn arrive(ns: &Netns, port: u16) -> BTreeSet<String> {
    let sock = udp_listen(ns, port);
    ns.run(|| {
        for (i, to) in [
            SocketAddr::from((Ipv4Addr::LOCALHOST, port)),
            SocketAddr::from((Ipv6Addr::LOCALHOST, port)),
        ]
        .into_iter()
        .enumerate()
        {
            let s = UdpSocket::bind(SocketAddr::new(to.ip(), 0)).expect("udp bind");
            for n in 0..SENT {
                let _ = s.send_to(format!("{i}-{n}").as_bytes(), to);
            }
        }
    });
    payloads_within(&sock, Duration::from_millis(500))
}

/// Each form as an output block of its own port in statewall's table, and as iptables'
/// `-m time` DROP of the same port in another namespace: the same datagrams arrive, the
/// form's own verdict on now holds, and statewall's block counts what it dropped.
#[cfg_attr(not(statewall_root), ignore = "needs root: creates network namespaces")]
#[test]
fn windows_days_and_dates_drop_as_iptables_time_match_drops() {
    let forms = forms();
    let port = |i: usize| BASE_PORT + i as u16;
    let mut text = String::from("[output]\nfinal = \"accept\"\n");
    let mut rules = Vec::new();
    for (i, f) in forms.iter().enumerate() {
        text += &format!(
            "\n[[output.block]]\nname = \"c{i}\"\nudp = [{}]\n{}\n",
            port(i),
            f.keys
        );
        rules.push(format!(
            "-A OUTPUT -p udp -m udp --dport {} -m time {} -j DROP",
            port(i),
            f.opts
        ));
    }
    let ours = Netns::new("clock-sw");
    let theirs = Netns::new("clock-ipt");
    let policy = TempPolicy::new("clock", &text);
    statewall(&ours, ["apply", &policy.path()]).assert_ok();
    restore_one_rule(&theirs, &rules.join("\n"));
    for (i, f) in forms.iter().enumerate() {
        let (mine, oracle) = (arrive(&ours, port(i)), arrive(&theirs, port(i)));
        assert_eq!(mine, oracle, "{}: statewall's, then iptables'", f.keys);
        let want = if f.now { 0 } else { 2 * SENT };
        assert_eq!(mine.len(), want, "{} (holds now: {})", f.keys, f.now);
        let st = status_json(&ours);
        let dropped = if f.now { 2 * SENT as u64 } else { 0 };
        assert_eq!(
            packets_of(&st, &format!("c{i}")),
            dropped,
            "{}: {st}",
            f.keys
        );
    }
}

/// A file of `-m time` rules around now — in and out of a window (one past midnight), of
/// today and of the other days, of dates, chains that RETURN in a window and reject the
/// other hours — imported and applied, and loaded by
/// iptables-restore: the import corpus' harness probes both alike (INPUT and FORWARD, TCP,
/// UDP, ICMP; IPv6 by the mirrored file).
#[cfg_attr(not(statewall_root), ignore = "needs root: creates network namespaces")]
#[test]
fn an_imported_file_of_time_matches_behaves_as_iptables_restore_of_it_now() {
    const XT_DAYS: [&str; 7] = ["Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"];
    let (sod, today, now) = now_utc();
    let others: Vec<&str> = (0..7)
        .filter(|&d| d != today as usize)
        .map(|d| XT_DAYS[d])
        .collect();
    let (before, after) = (hms(sod + DAY - 3600), hms(sod + 3600));
    let today = XT_DAYS[today as usize];
    let text = format!(
        "*filter\n:INPUT DROP [0:0]\n:FORWARD DROP [0:0]\n:OUTPUT ACCEPT [0:0]\n:NOW - [0:0]\n:LATER - [0:0]\n\
         -A INPUT -m conntrack --ctstate RELATED,ESTABLISHED -j ACCEPT\n\
         -A INPUT -p tcp -m tcp --dport 22 -m time --timestart {before} --timestop {after} --weekdays {today} -j ACCEPT\n\
         -A INPUT -p tcp -m tcp --dport 23 -m time --timestart {after} --timestop {before} -j ACCEPT\n\
         -A INPUT -p udp -m udp --dport 5000 -m time --weekdays {} -j ACCEPT\n\
         -A INPUT -p tcp -m tcp --dport 80 -m time --datestart {} --datestop {} -j ACCEPT\n\
         -A INPUT -p tcp -m tcp --dport 443 -m time --datestop {} -j ACCEPT\n\
         -A INPUT -p tcp -m tcp --dport 8080 -m time ! --weekdays {today} -j REJECT --reject-with tcp-reset\n\
         -A INPUT -p tcp -m tcp --dport 8080 -m time --timestart {after} -j REJECT --reject-with tcp-reset\n\
         -A INPUT -p tcp -m tcp --dport 8080 -j ACCEPT\n\
         -A INPUT -p tcp -m tcp --dport 9000 -j NOW\n\
         -A INPUT -p tcp -m tcp --dport 9001 -j LATER\n\
         -A INPUT -p tcp -m multiport --dports 9000,9001 -j ACCEPT\n\
         -A NOW -m time --timestart {before} --timestop {after} -j RETURN\n\
         -A NOW -p tcp -j REJECT --reject-with tcp-reset\n\
         -A LATER -m time --timestart {after} --timestop {before} -j RETURN\n\
         -A LATER -p tcp -j REJECT --reject-with tcp-reset\n\
         -A FORWARD -m conntrack --ctstate RELATED,ESTABLISHED -j ACCEPT\n\
         -A FORWARD -p tcp -m tcp --dport 8081 -m time --timestart {before} --timestop {after} --kerneltz -j ACCEPT\n\
         -A FORWARD -p tcp -m tcp --dport 8082 -m time --datestart {} -j ACCEPT\n\
         COMMIT\n",
        others.join(","),
        date(now - DAY),
        date(now + DAY),
        date(now - DAY),
        date(now + DAY),
    );
    let dir = std::env::temp_dir().join(format!("statewall-clock-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join("time-now.rules");
    std::fs::write(&file, &text).unwrap();
    let bad = crate::corpus::not_identical(std::slice::from_ref(&file));
    let _ = std::fs::remove_dir_all(&dir);
    assert!(bad.is_empty(), "{bad:?}\n{text}");
}
