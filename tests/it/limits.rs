//! Rate limits, logging and published ports in the kernel (issue 10): nft reads statewall's
//! own text as statewall's batch, readback finds no drift, and real connections are limited
//! per source, logged at the rate asked, and let through to a DNAT'ed backend only from the
//! sources the policy names. Everything runs in namespaces the tests create.

use std::net::SocketAddr;
use std::time::Duration;

use crate::support::forwarded::{BACKEND, CLIENT, FW_BACK, FW_FRONT, trio};
use crate::support::{
    Netns, PROBE_TIMEOUT, Pair, Probe, TempPolicy, counted, fw_v4, listen_tcp, probe_tcp,
    rules_named, statewall, status_json,
};

const EVERY_SHAPE: &str = "tests/data/policy/ok-limits.toml";

#[cfg_attr(not(statewall_root), ignore = "needs root: creates network namespaces")]
#[test]
fn limits_logs_and_published_ports_mean_the_same_to_nft() {
    let path = crate::support::repo_path(EVERY_SHAPE);
    crate::kernel::same_to_nft(path.to_str().unwrap(), &[]);
}

/// `dnat = true` in every place (`ok-dnat.toml`): nft makes the same objects of statewall's
/// text (`ct status dnat`), and statewall reads its own bytes back without drift.
#[cfg_attr(not(statewall_root), ignore = "needs root: creates network namespaces")]
#[test]
fn dnat_entries_mean_the_same_to_nft_and_read_back_without_drift() {
    let path = crate::support::repo_path("tests/data/policy/ok-dnat.toml");
    let path = path.to_str().unwrap();
    let (_ns, list) = crate::kernel::applied_and_listed("l-dnat", path);
    for entry in ["redirected", "not-from-guests", "port-forwards"] {
        assert!(
            list.of(entry).iter().all(|l| l.contains("ct status dnat")),
            "{entry}: {list}"
        );
    }
}

#[cfg_attr(not(statewall_root), ignore = "needs root: creates network namespaces")]
#[test]
fn limits_logs_and_published_ports_read_back_without_drift() {
    let ns = Netns::new("l-drift");
    let path = crate::support::repo_path(EVERY_SHAPE);
    let path = path.to_str().unwrap();
    statewall(&ns, ["apply", path]).assert_ok();
    let st = status_json(&ns);
    assert_eq!(st["drift"], false, "{st}");
    assert!(
        rules_named(&st, "ssh")
            .iter()
            .all(|r| r["not_understood"].is_null()),
        "{st}"
    );
    // a second apply finds the plan live: nothing to add or remove
    statewall(&ns, ["apply", path]).assert_ok();
    let plan = statewall(&ns, ["plan", path]);
    plan.assert_ok();
    assert!(
        !plan.stdout.contains("\n- ") && !plan.stdout.contains("\n+ "),
        "{plan}"
    );
}

pub(crate) fn addr(ip: std::net::Ipv4Addr, port: u16) -> SocketAddr {
    SocketAddr::from((ip, port))
}

#[cfg_attr(not(statewall_root), ignore = "needs root: creates network namespaces")]
#[test]
fn a_burst_of_new_connections_from_one_source_is_limited_while_another_still_connects() {
    let t = trio("l-meter");
    let _ssh = listen_tcp(&t.fw, &[22]);
    let policy = TempPolicy::new(
        "l-meter",
        "[[allow]]\nname = \"ssh\"\ntcp = [22]\n\
         limit = { rate = \"3/minute\", per = \"source\", over = \"reject\" }\n",
    );
    statewall(&t.fw, ["apply", &policy.path()]).assert_ok();
    // the bucket holds 3: the client's first three connect, the next three are refused
    let tries: Vec<Probe> = (0..6)
        .map(|_| probe_tcp(&t.client, addr(FW_FRONT, 22), PROBE_TIMEOUT))
        .collect();
    assert_eq!(
        tries[..3],
        [Probe::Connected, Probe::Connected, Probe::Connected]
    );
    assert_eq!(
        tries[3..],
        [Probe::Refused, Probe::Refused, Probe::Refused],
        "{tries:?}"
    );
    // another source has its own bucket
    for _ in 0..2 {
        assert_eq!(
            probe_tcp(&t.backend, addr(FW_BACK, 22), PROBE_TIMEOUT),
            Probe::Connected
        );
    }
    // the over-limit rule counted exactly what it refused, under the entry's name
    let st = status_json(&t.fw);
    assert_eq!(counted(&st, "ssh", "reject"), 3, "{st}");
    assert_eq!(counted(&st, "ssh", "accept"), 5, "{st}");
    assert_eq!(st["drift"], false, "{st}");
    // the meter set knows both sources (nft as the oracle)
    let set = t.fw.nft(["list", "set", "inet", "statewall", "meter4_ssh"]);
    set.assert_ok();
    assert!(
        set.stdout.contains(&CLIENT.to_string()) && set.stdout.contains(&BACKEND.to_string()),
        "{set}"
    );
}

/// `over = "continue"`: the allow takes what is within the rate, and what exceeds it meets
/// the rules after the allow (here a reject, where `over = "drop"` would time out), as
/// iptables' `-m limit … -j ACCEPT` / `-m hashlimit … -j ACCEPT` pass it on.
#[cfg_attr(not(statewall_root), ignore = "needs root: creates network namespaces")]
#[test]
fn what_exceeds_a_continue_limit_goes_on_to_the_rules_after_the_allow() {
    let t = trio("l-cont");
    let _ssh = listen_tcp(&t.fw, &[22, 8080]);
    let policy = TempPolicy::new(
        "l-cont",
        "[[allow]]\nname = \"ssh\"\ntcp = [22]\n\
         limit = { rate = \"3/minute\", per = \"source\", over = \"continue\" }\n\
         [[allow]]\nname = \"web\"\ntcp = [8080]\nlimit = { rate = \"2/minute\", over = \"continue\" }\n\
         [[reject]]\nname = \"after\"\ntcp = [22, 8080]\nwith = \"tcp-reset\"\n",
    );
    statewall(&t.fw, ["apply", &policy.path()]).assert_ok();
    let tries: Vec<Probe> = (0..5)
        .map(|_| probe_tcp(&t.client, addr(FW_FRONT, 22), PROBE_TIMEOUT))
        .collect();
    assert_eq!(
        tries,
        [
            Probe::Connected,
            Probe::Connected,
            Probe::Connected,
            Probe::Refused,
            Probe::Refused
        ]
    );
    // per source: another source has its own bucket
    assert_eq!(
        probe_tcp(&t.backend, addr(FW_BACK, 22), PROBE_TIMEOUT),
        Probe::Connected
    );
    // for everyone together: the third connection, from either source, is refused
    let web: Vec<Probe> = [&t.client, &t.backend, &t.client]
        .iter()
        .zip([FW_FRONT, FW_BACK, FW_FRONT])
        .map(|(ns, ip)| probe_tcp(ns, addr(ip, 8080), PROBE_TIMEOUT))
        .collect();
    assert_eq!(web, [Probe::Connected, Probe::Connected, Probe::Refused]);
    // the allows counted what they let in, the reject after them what exceeded the rates;
    // no over-limit rule of their own
    let st = status_json(&t.fw);
    assert_eq!(counted(&st, "ssh", "accept"), 4, "{st}");
    assert_eq!(counted(&st, "web", "accept"), 2, "{st}");
    assert_eq!(counted(&st, "after", "reject"), 3, "{st}");
    assert_eq!(
        counted(&st, "ssh", "drop") + counted(&st, "ssh", "reject"),
        0
    );
    assert_eq!(st["drift"], false, "{st}");
}

const LIMIT_LIST: &str = "tests/data/policy/ok-limit-list.toml";

/// Several limits on one entry: nft reads statewall's text (`update @meter4_ssh/2 …`) as
/// statewall's batch, and readback finds each over-limit rule with its own meter set.
#[cfg_attr(not(statewall_root), ignore = "needs root: creates network namespaces")]
#[test]
fn a_list_of_limits_means_the_same_to_nft_and_reads_back_without_drift() {
    let path = crate::support::repo_path(LIMIT_LIST);
    let path = path.to_str().unwrap();
    crate::kernel::same_to_nft(path, &[]);
    let (ns, _) = crate::kernel::applied_without_drift("l-list", path);
    let set = ns.nft(["list", "set", "inet", "statewall", "meter4_ssh/2"]);
    set.assert_ok();
}

/// Two per-source limits on one allow: a NEW connection gets in only within both. The first
/// (2 per 4 s) refuses the third of a quick burst; once it has refilled, the second (3 per
/// hour, which the refused one never reached) lets one more in and refuses the next. Each
/// over-limit rule counts exactly what it refused.
#[cfg_attr(not(statewall_root), ignore = "needs root: creates network namespaces")]
#[test]
fn a_connection_gets_in_only_within_every_limit_of_a_list() {
    let t = trio("l-two");
    let _ssh = listen_tcp(&t.fw, &[22]);
    let policy = TempPolicy::new(
        "l-two",
        "[[allow]]\nname = \"ssh\"\ntcp = [22]\n\
         limit = [{ rate = \"2/4s\", per = \"source\", over = \"reject\" },\
         { rate = \"3/hour\", per = \"source\", over = \"reject\" }]\n",
    );
    statewall(&t.fw, ["apply", &policy.path()]).assert_ok();
    let try_once = || probe_tcp(&t.client, addr(FW_FRONT, 22), PROBE_TIMEOUT);
    let burst: Vec<Probe> = (0..3).map(|_| try_once()).collect();
    assert_eq!(
        burst,
        [Probe::Connected, Probe::Connected, Probe::Refused],
        "the first limit holds 2"
    );
    // the first bucket refills (2 in 4 s); the second has one left of its 3
    std::thread::sleep(Duration::from_millis(4500));
    let later: Vec<Probe> = (0..2).map(|_| try_once()).collect();
    assert_eq!(
        later,
        [Probe::Connected, Probe::Refused],
        "the second limit holds 3"
    );
    // another source has its own buckets
    assert_eq!(
        probe_tcp(&t.backend, addr(FW_BACK, 22), PROBE_TIMEOUT),
        Probe::Connected
    );
    let st = status_json(&t.fw);
    assert_eq!(st["drift"], false, "{st}");
    assert_eq!(counted(&st, "ssh", "accept"), 4, "{st}");
    let refused_by = |set: &str| -> u64 {
        rules_named(&st, "ssh")
            .iter()
            .filter(|r| {
                r["verdict"]
                    .as_str()
                    .is_some_and(|v| v.starts_with("reject"))
                    && r.to_string().contains(&format!("@{set} "))
            })
            .map(|r| r["packets"].as_u64().unwrap_or(0))
            .sum()
    };
    assert_eq!(refused_by("meter4_ssh"), 1, "{st}");
    assert_eq!(refused_by("meter4_ssh/2"), 1, "{st}");
}

/// `within = "continue"` (a syn-flood guard): the block takes only what exceeds its rate,
/// and what is within goes on to the allow after it. A quick burst of connections: the
/// first two get in, the next ones are reset by the reject that takes the excess, and its
/// rule counts exactly those; the allow counts the two. nft reads the plan as the batch.
#[cfg_attr(not(statewall_root), ignore = "needs root: creates network namespaces")]
#[test]
fn a_guard_within_continue_takes_only_what_exceeds_its_rate() {
    let pair = Pair::new("l-within");
    let _web = listen_tcp(&pair.fw, &[8080]);
    let policy = TempPolicy::new(
        "l-within",
        "[[block]]\nname = \"syn-guard\"\ntcp = [8080]\nwith = \"tcp-reset\"\n\
         after = \"established\"\n\
         limit = { rate = \"2/minute\", burst = 2, within = \"continue\" }\n\
         [[allow]]\nname = \"web\"\ntcp = [8080]\n",
    );
    crate::kernel::same_to_nft(&policy.path(), &[]);
    statewall(&pair.fw, ["apply", &policy.path()]).assert_ok();
    let tries: Vec<Probe> = (0..4)
        .map(|_| probe_tcp(&pair.client, fw_v4(8080), PROBE_TIMEOUT))
        .collect();
    assert_eq!(
        tries,
        [
            Probe::Connected,
            Probe::Connected,
            Probe::Refused,
            Probe::Refused
        ]
    );
    let st = status_json(&pair.fw);
    assert_eq!(counted(&st, "syn-guard", "reject"), 2, "{st}");
    assert_eq!(counted(&st, "web", "accept"), 2, "{st}");
    assert_eq!(st["drift"], false, "{st}");
}

#[cfg_attr(not(statewall_root), ignore = "needs root: creates network namespaces")]
#[test]
fn a_global_limit_drops_what_exceeds_it_for_everyone() {
    let pair = Pair::new("l-glob");
    let _web = listen_tcp(&pair.fw, &[8080]);
    let policy = TempPolicy::new(
        "l-glob",
        "[[allow]]\nname = \"web\"\ntcp = [8080]\nlimit = { rate = \"2/minute\" }\n",
    );
    statewall(&pair.fw, ["apply", &policy.path()]).assert_ok();
    let short = Duration::from_millis(400);
    let tries: Vec<Probe> = (0..3)
        .map(|_| probe_tcp(&pair.client, fw_v4(8080), short))
        .collect();
    assert_eq!(tries, [Probe::Connected, Probe::Connected, Probe::TimedOut]);
    let st = status_json(&pair.fw);
    assert!(counted(&st, "web", "drop") >= 1, "{st}");
    assert_eq!(counted(&st, "web", "accept"), 2, "{st}");
}

/// An entry of tcp and udp is a rule per protocol, and its limit one bucket per family that
/// both rules and every source take from: two datagrams and a connection use the three
/// tokens, so a connection from another address is refused, and so is one from the first;
/// IPv6 has a bucket of its own. (nft's plain `limit` in each rule would give tcp three
/// tokens of its own, and IPv6 none left; a bucket per source, the other address three.)
#[cfg_attr(not(statewall_root), ignore = "needs root: creates network namespaces")]
#[test]
fn a_limit_of_the_whole_entry_is_one_bucket_per_family_for_all_its_rules() {
    use crate::support::{
        CLIENT_IF, CLIENT_V4, flows::probe_from, fw_v6, payloads_within, udp_listen,
    };
    let pair = Pair::new("l-whole");
    let other = std::net::Ipv4Addr::new(192, 0, 2, 4);
    pair.client
        .exec([
            "ip",
            "addr",
            "add",
            &format!("{other}/24"),
            "dev",
            CLIENT_IF,
        ])
        .assert_ok();
    let _web = listen_tcp(&pair.fw, &[8080]);
    let sock = udp_listen(&pair.fw, 8080);
    let policy = TempPolicy::new(
        "l-whole",
        "[[allow]]\nname = \"web\"\ntcp = [8080]\nudp = [8080]\n\
         limit = { rate = \"3/minute\", over = \"reject\" }\n",
    );
    statewall(&pair.fw, ["apply", &policy.path()]).assert_ok();
    // two datagrams, each from a socket of its own: two NEW connections
    for i in 0..2 {
        pair.client.run(|| {
            let s = std::net::UdpSocket::bind(("0.0.0.0", 0)).expect("udp bind");
            s.send_to(format!("d{i}").as_bytes(), fw_v4(8080))
                .expect("send");
        });
    }
    let got = payloads_within(&sock, Duration::from_millis(500));
    assert_eq!(got.len(), 2, "{got:?}");
    let tcp = |from: std::net::Ipv4Addr| {
        probe_from(&pair.client, from.into(), fw_v4(8080), PROBE_TIMEOUT)
    };
    assert_eq!(
        [tcp(CLIENT_V4), tcp(other), tcp(CLIENT_V4)],
        [Probe::Connected, Probe::Refused, Probe::Refused]
    );
    assert_eq!(
        probe_tcp(&pair.client, fw_v6(8080), PROBE_TIMEOUT),
        Probe::Connected
    );
    let st = status_json(&pair.fw);
    assert_eq!(st["drift"], false, "{st}");
    assert_eq!(counted(&st, "web", "reject"), 2, "{st}");
    assert_eq!(counted(&st, "web", "accept"), 4, "{st}");
    // one bucket: every IPv4 source counts as 0.0.0.0
    let set = pair
        .fw
        .nft(["list", "set", "inet", "statewall", "meter4_web"]);
    set.assert_ok();
    assert!(set.stdout.contains("0.0.0.0"), "{set}");
}

#[cfg_attr(not(statewall_root), ignore = "needs root: creates network namespaces")]
#[test]
fn drops_and_rejects_are_logged_at_the_rate_asked_and_the_verdict_is_not_limited() {
    let pair = Pair::new("l-log");
    let policy = TempPolicy::new(
        "l-log",
        "log_final = { prefix = \"statewall drop: \", limit = \"1/minute\" }\n\
         [[reject]]\nname = \"ident\"\ntcp = [113]\nlog = { limit = \"2/minute\", level = \"info\" }\n",
    );
    statewall(&pair.fw, ["apply", &policy.path()]).assert_ok();
    // every reject answers, though only two are logged
    for _ in 0..5 {
        assert_eq!(
            probe_tcp(&pair.client, fw_v4(113), PROBE_TIMEOUT),
            Probe::Refused
        );
    }
    // every drop drops, though only one is logged
    let short = Duration::from_millis(300);
    for _ in 0..4 {
        assert_eq!(probe_tcp(&pair.client, fw_v4(9), short), Probe::TimedOut);
    }
    let st = status_json(&pair.fw);
    assert_eq!(counted(&st, "ident", "log"), 2, "{st}");
    assert_eq!(counted(&st, "ident", "reject"), 5, "{st}");
    assert_eq!(counted(&st, "final", "log"), 1, "{st}");
    assert!(counted(&st, "final", "drop") >= 4, "{st}");
    // the kernel holds the log rules as asked (nft as the oracle)
    let out = pair.fw.nft(["list", "chain", "inet", "statewall", "input"]);
    out.assert_ok();
    assert!(
        out.stdout
            .contains("limit rate 1/minute burst 1 packets counter packets 1 bytes"),
        "{out}"
    );
    assert!(
        out.stdout.contains("log prefix \"statewall drop: \""),
        "{out}"
    );
    assert!(
        out.stdout
            .contains("log prefix \"statewall ident: \" level info"),
        "{out}"
    );
}

/// What Docker does for `-p 8080:80`: DNAT in an iptables-nft nat table of `fw` (the test
/// builds it with iptables, an oracle tool; statewall never touches it). [`publish_8080_of`]
/// for other protocols beside TCP.
fn publish_8080(fw: &Netns) {
    publish_8080_of(fw, &["tcp"]);
}

/// Port 8080 of each of `protos` DNAT'ed to the backend's port 80.
pub(crate) fn publish_8080_of(fw: &Netns, protos: &[&str]) {
    for proto in protos {
        fw.exec([
            "iptables",
            "-t",
            "nat",
            "-A",
            "PREROUTING",
            "-p",
            proto,
            "--dport",
            "8080",
            "-j",
            "DNAT",
            "--to-destination",
            &format!("{BACKEND}:80"),
        ])
        .assert_ok();
    }
}

/// An imported `--ctstate DNAT` accept (`ok-ctstate-dnat.rules`, an OpenWrt zone's port
/// forwards; `ok-ctstate-established-dnat.rules`, firewalld's `RELATED,ESTABLISHED,DNAT`
/// accept) against iptables-restore of the same file, each behind the same DNAT: the
/// published port gets through to the backend in both, the backend's own port (nothing
/// DNAT'ed it) meets the REJECT in both, and the entry that took the DNAT'ed connection
/// counted it.
#[cfg_attr(not(statewall_root), ignore = "needs root: creates network namespaces")]
#[test]
fn an_imported_ctstate_dnat_accept_lets_through_what_iptables_lets_through() {
    let answers = |t: &crate::support::routed::Trio| {
        let short = Duration::from_millis(500);
        [
            probe_tcp(&t.client, addr(FW_FRONT, 8080), PROBE_TIMEOUT),
            probe_tcp(&t.client, addr(BACKEND, 80), short),
        ]
    };
    for (tag, name, entry) in [
        ("dnat", "ok-ctstate-dnat.rules", "Accept-port-forwards"),
        ("esdn", "ok-ctstate-established-dnat.rules", "dnat"),
    ] {
        let file = crate::support::repo_path(&format!("tests/data/import/{name}"));
        let file = file.to_str().unwrap();
        let oracle = trio(&format!("l-{tag}-ipt"));
        let _b1 = listen_tcp(&oracle.backend, &[80]);
        publish_8080(&oracle.fw);
        oracle.fw.exec(["iptables-restore", file]).assert_ok();
        let ours = trio(&format!("l-{tag}-sw"));
        let _b2 = listen_tcp(&ours.backend, &[80]);
        publish_8080(&ours.fw);
        statewall(&ours.fw, ["apply", "--force", "--mirror-ipv6", file]).assert_ok();
        let want = answers(&oracle);
        // refused, or (host-prohibited) unreachable
        assert!(
            want[0] == Probe::Connected && !matches!(want[1], Probe::Connected | Probe::TimedOut),
            "{name}: iptables itself: {want:?}"
        );
        assert_eq!(answers(&ours), want, "{name}");
        let st = status_json(&ours.fw);
        assert_eq!(counted(&st, entry, "accept"), 1, "{name}: {st}");
        assert_eq!(st["drift"], false, "{name}: {st}");
    }
}

/// An imported `--ctorigdstport` without `-p` (`ok-ctorigdstport-any.rules`, a Kubernetes
/// node's NodePort forward) against iptables-restore of the same file, each behind the same
/// DNAT of TCP and UDP 8080 to the backend's 80. The kernel compares the connection's original
/// destination "port" whatever its protocol: the TCP connection and the UDP exchange to the
/// published port get through, and so does a UDP exchange straight to the backend's 8080
/// (nothing DNAT'ed it: its original port is its port), the backend's own TCP port 80 does not,
/// and a ping does (an ICMP echo's "port" is its type × 256 + code, 2048, inside 2000:2100). The
/// replies pass by the same match (the forward chain has no ESTABLISHED accept). Read as
/// `published` + `published_udp`, the ping would be dropped; as `published` alone, UDP too.
#[cfg_attr(not(statewall_root), ignore = "needs root: creates network namespaces")]
#[test]
fn an_imported_ctorigdstport_of_any_protocol_lets_through_what_iptables_lets_through() {
    use crate::support::routed::{self, Outcome, Responder};
    let file = crate::support::repo_path("tests/data/import/ok-ctorigdstport-any.rules");
    let file = file.to_str().unwrap();
    let answers = |t: &crate::support::routed::Trio| {
        let _r = Responder::start(&t.backend, &[80], &[80, 8080]);
        let from = SocketAddr::from((CLIENT, 0));
        let short = Duration::from_millis(500);
        [
            routed::tcp(&t.client, from, addr(FW_FRONT, 8080), PROBE_TIMEOUT),
            routed::udp(&t.client, from, addr(FW_FRONT, 8080), PROBE_TIMEOUT),
            routed::udp(&t.client, from, addr(BACKEND, 8080), PROBE_TIMEOUT),
            routed::tcp(&t.client, from, addr(BACKEND, 80), short),
            routed::icmp_echo(
                &t.client,
                CLIENT.into(),
                BACKEND.into(),
                Duration::from_secs(2),
            ),
        ]
    };
    let oracle = trio("l-orig-ipt");
    publish_8080_of(&oracle.fw, &["tcp", "udp"]);
    oracle.fw.exec(["iptables-restore", file]).assert_ok();
    let ours = trio("l-orig-sw");
    publish_8080_of(&ours.fw, &["tcp", "udp"]);
    statewall(&ours.fw, ["apply", "--force", "--mirror-ipv6", file]).assert_ok();
    let want = answers(&oracle);
    use Outcome::{Answered, Silent};
    assert_eq!(
        want,
        [Answered, Answered, Answered, Silent, Answered],
        "iptables itself"
    );
    assert_eq!(answers(&ours), want);
    let st = status_json(&ours.fw);
    assert_eq!(st["drift"], false, "{st}");
    // 8080: the TCP connection and the UDP exchanges, both ways; 2000-2100: the echo request
    // and its reply
    assert!(counted(&st, "published-8080", "accept") >= 6, "{st}");
    assert_eq!(counted(&st, "published-2000-2100", "accept"), 2, "{st}");
}

/// One `-m recent` list that INPUT and FORWARD both jump to (`ok-recent-input-forward.rules`)
/// against iptables-restore of the file: two NEW ssh connections to the host, then two to the
/// routed backend, from one source. iptables counts them in one list, so the fourth is
/// dropped; the import's two allows must share their meter to answer alike (a bucket each
/// lets the fourth in).
#[cfg_attr(not(statewall_root), ignore = "needs root: creates network namespaces")]
#[test]
fn an_imported_recent_list_counts_input_and_forward_connections_together() {
    let file = crate::support::repo_path("tests/data/import/ok-recent-input-forward.rules");
    let file = file.to_str().unwrap();
    let answers = |t: &crate::support::routed::Trio| {
        let _host = listen_tcp(&t.fw, &[22]);
        let _backend = listen_tcp(&t.backend, &[22]);
        let short = Duration::from_millis(500);
        [
            probe_tcp(&t.client, addr(FW_FRONT, 22), PROBE_TIMEOUT),
            probe_tcp(&t.client, addr(FW_FRONT, 22), PROBE_TIMEOUT),
            probe_tcp(&t.client, addr(BACKEND, 22), PROBE_TIMEOUT),
            probe_tcp(&t.client, addr(BACKEND, 22), short),
        ]
    };
    let oracle = trio("l-rec-ipt");
    oracle.fw.exec(["iptables-restore", file]).assert_ok();
    let ours = trio("l-rec-sw");
    statewall(&ours.fw, ["apply", "--force", "--mirror-ipv6", file]).assert_ok();
    let want = answers(&oracle);
    use Probe::{Connected, TimedOut};
    assert_eq!(
        want,
        [Connected, Connected, Connected, TimedOut],
        "iptables itself"
    );
    assert_eq!(answers(&ours), want);
    let st = status_json(&ours.fw);
    assert_eq!(st["drift"], false, "{st}");
}

/// `iptables-save -t nat` in `ns`, without its comment lines (they carry a date); with
/// `counters = false` also without the chains' packet counters.
fn nat_table(ns: &Netns, counters: bool) -> String {
    let out = ns.exec(["iptables-save", "-t", "nat"]);
    out.assert_ok();
    let text: Vec<String> = out
        .stdout
        .lines()
        .filter(|l| !l.starts_with('#'))
        .map(|l| match (counters, l.rfind(" [")) {
            (false, Some(at)) if l.starts_with(':') => l[..at].to_string(),
            _ => l.to_string(),
        })
        .collect();
    text.join("\n")
}

#[cfg_attr(not(statewall_root), ignore = "needs root: creates network namespaces")]
#[test]
fn a_port_published_by_a_docker_like_dnat_is_reachable_only_from_the_sources_allowed() {
    let t = trio("l-dock");
    let _backend = listen_tcp(&t.backend, &[80]);
    publish_8080(&t.fw);
    let published = addr(FW_FRONT, 8080);
    assert_eq!(
        probe_tcp(&t.client, published, PROBE_TIMEOUT),
        Probe::Connected,
        "the DNAT works before statewall filters"
    );
    let before = nat_table(&t.fw, true);
    let policy = |from: &str| {
        TempPolicy::new(
            "l-dock",
            &format!(
                "[forward]\nfinal = \"drop\"\n\n[[forward.allow]]\nname = \"web\"\n\
                 published = [8080]\nfrom = [\"{from}\"]\n"
            ),
        )
    };
    // published, but not to the client's network: dropped
    let other = policy("198.51.100.0/24");
    statewall(&t.fw, ["apply", &other.path()]).assert_ok();
    assert_eq!(
        nat_table(&t.fw, true),
        before,
        "statewall changed the nat table"
    );
    let short = Duration::from_millis(500);
    assert_eq!(probe_tcp(&t.client, published, short), Probe::TimedOut);
    // the published port through, counted by `entry`; the backend's own port, not
    // published, dropped by the forward chain's final rule
    let published_only = |entry: &str| {
        assert_eq!(
            probe_tcp(&t.client, published, PROBE_TIMEOUT),
            Probe::Connected
        );
        assert_eq!(
            probe_tcp(&t.client, addr(BACKEND, 80), short),
            Probe::TimedOut
        );
        let st = status_json(&t.fw);
        assert_eq!(counted(&st, entry, "accept"), 1, "{st}");
        assert_eq!(st["drift"], false, "{st}");
    };
    // to the client's network: through, by its original port only
    let mine = policy("192.0.2.0/24");
    statewall(&t.fw, ["apply", &mine.path()]).assert_ok();
    published_only("web");
    // every DNAT'ed connection (`dnat`, iptables' `--ctstate DNAT`), whatever its port: the
    // published port gets through, the backend's own port (nothing DNAT'ed it) does not
    let any_port = TempPolicy::new(
        "l-dock",
        "[forward]\nfinal = \"drop\"\n\n[[forward.allow]]\nname = \"forwards\"\ndnat = true\n",
    );
    statewall(&t.fw, ["apply", &any_port.path()]).assert_ok();
    published_only("forwards");
    statewall(&t.fw, ["remove"]).assert_ok();
    assert_eq!(
        nat_table(&t.fw, false),
        {
            let t2 = before.clone();
            t2.lines()
                .map(|l| match l.rfind(" [") {
                    Some(at) if l.starts_with(':') => l[..at].to_string(),
                    _ => l.to_string(),
                })
                .collect::<Vec<_>>()
                .join("\n")
        },
        "statewall changed the nat table"
    );
}

/// A reader of one nflog group in a namespace: an `NETLINK_NETFILTER` socket bound to the
/// group (nfnetlink_log, as ulogd binds it), created inside the namespace.
struct Nflog(std::os::fd::OwnedFd);

impl Nflog {
    const NFNL_SUBSYS_ULOG: u16 = 4;
    const NFULNL_MSG_PACKET: u16 = 0;
    const NFULNL_MSG_CONFIG: u16 = 1;
    const NFULA_PREFIX: u16 = 10;
    const NFULA_CFG_CMD: u16 = 1;
    const NFULA_CFG_MODE: u16 = 2;
    const NFULNL_CFG_CMD_BIND: u8 = 1;
    const NFULNL_COPY_META: u8 = 1;

    fn bind(ns: &Netns, group: u16) -> Nflog {
        use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
        let fd = ns.run(move || {
            // SAFETY: plain socket calls on a descriptor owned here.
            unsafe {
                let fd = libc::socket(
                    libc::AF_NETLINK,
                    libc::SOCK_RAW | libc::SOCK_CLOEXEC,
                    libc::NETLINK_NETFILTER,
                );
                assert!(fd >= 0, "socket: {}", std::io::Error::last_os_error());
                let fd = OwnedFd::from_raw_fd(fd);
                let mut sa: libc::sockaddr_nl = std::mem::zeroed();
                sa.nl_family = libc::AF_NETLINK as u16;
                let len = std::mem::size_of::<libc::sockaddr_nl>() as libc::socklen_t;
                let rc = libc::bind(fd.as_raw_fd(), (&raw const sa).cast(), len);
                assert_eq!(rc, 0, "bind: {}", std::io::Error::last_os_error());
                let tv = libc::timeval {
                    tv_sec: 2,
                    tv_usec: 0,
                };
                libc::setsockopt(
                    fd.as_raw_fd(),
                    libc::SOL_SOCKET,
                    libc::SO_RCVTIMEO,
                    (&raw const tv).cast(),
                    std::mem::size_of::<libc::timeval>() as libc::socklen_t,
                );
                fd
            }
        });
        let log = Nflog(fd);
        log.config(group, Self::NFULA_CFG_CMD, &[Self::NFULNL_CFG_CMD_BIND]);
        log.config(
            group,
            Self::NFULA_CFG_MODE,
            &[0, 0, 0, 0, Self::NFULNL_COPY_META, 0],
        );
        log
    }

    /// One config message (with an ack, which must say 0).
    fn config(&self, group: u16, attr: u16, payload: &[u8]) {
        use std::os::fd::AsRawFd;
        let attr_len = 4 + payload.len();
        let mut m = Vec::new();
        let total = 16 + 4 + attr_len.div_ceil(4) * 4;
        m.extend_from_slice(&(total as u32).to_ne_bytes());
        m.extend_from_slice(
            &((Self::NFNL_SUBSYS_ULOG << 8) | Self::NFULNL_MSG_CONFIG).to_ne_bytes(),
        );
        m.extend_from_slice(&((libc::NLM_F_REQUEST | libc::NLM_F_ACK) as u16).to_ne_bytes());
        m.extend_from_slice(&1u32.to_ne_bytes());
        m.extend_from_slice(&0u32.to_ne_bytes());
        m.extend_from_slice(&[0, 0]);
        m.extend_from_slice(&group.to_be_bytes());
        m.extend_from_slice(&(attr_len as u16).to_ne_bytes());
        m.extend_from_slice(&attr.to_ne_bytes());
        m.extend_from_slice(payload);
        m.resize(total, 0);
        // SAFETY: a valid socket and buffer.
        let sent = unsafe { libc::send(self.0.as_raw_fd(), m.as_ptr().cast(), m.len(), 0) };
        assert_eq!(
            sent,
            m.len() as isize,
            "{}",
            std::io::Error::last_os_error()
        );
        let mut buf = [0u8; 4096];
        // SAFETY: as above.
        let n = unsafe { libc::recv(self.0.as_raw_fd(), buf.as_mut_ptr().cast(), buf.len(), 0) };
        assert!(n >= 20, "no ack: {}", std::io::Error::last_os_error());
        let errno = i32::from_ne_bytes(buf[16..20].try_into().unwrap());
        assert_eq!(errno, 0, "nflog config {attr} refused: errno {}", -errno);
    }

    /// The prefixes of the packets logged, until nothing came for 2 s (at most 100).
    fn prefixes(&self) -> Vec<String> {
        use std::os::fd::AsRawFd;
        let mut out = Vec::new();
        let mut buf = vec![0u8; 65536];
        while out.len() < 100 {
            // SAFETY: a valid socket and buffer.
            let n =
                unsafe { libc::recv(self.0.as_raw_fd(), buf.as_mut_ptr().cast(), buf.len(), 0) };
            if n <= 0 {
                break;
            }
            let mut rest = &buf[..n as usize];
            while rest.len() >= 16 {
                let len = u32::from_ne_bytes(rest[..4].try_into().unwrap()) as usize;
                let ty = u16::from_ne_bytes(rest[4..6].try_into().unwrap());
                if len < 16 || len > rest.len() {
                    break;
                }
                if ty == (Self::NFNL_SUBSYS_ULOG << 8) | Self::NFULNL_MSG_PACKET {
                    let mut attrs = &rest[20..len];
                    while attrs.len() >= 4 {
                        let alen = u16::from_ne_bytes([attrs[0], attrs[1]]) as usize;
                        let aty = u16::from_ne_bytes([attrs[2], attrs[3]]) & 0x3fff;
                        if alen < 4 || alen > attrs.len() {
                            break;
                        }
                        if aty == Self::NFULA_PREFIX {
                            let p = &attrs[4..alen];
                            let p = p.split(|b| *b == 0).next().unwrap_or(p);
                            out.push(String::from_utf8_lossy(p).into_owned());
                        }
                        attrs = &attrs[(alen.div_ceil(4) * 4).min(attrs.len())..];
                    }
                }
                rest = &rest[(len.div_ceil(4) * 4).min(rest.len())..];
            }
        }
        out
    }
}

#[cfg_attr(not(statewall_root), ignore = "needs root: creates network namespaces")]
#[test]
fn an_nflog_reader_gets_the_dropped_packets_up_to_the_log_rate() {
    let pair = Pair::new("l-nflog");
    let policy = TempPolicy::new(
        "l-nflog",
        "log_final = { group = 7, limit = \"2/minute\" }\n\
         [[allow]]\nname = \"web\"\ntcp = [80]\n",
    );
    statewall(&pair.fw, ["apply", &policy.path()]).assert_ok();
    let log = Nflog::bind(&pair.fw, 7);
    let short = Duration::from_millis(300);
    for port in [9, 10, 11, 12] {
        assert_eq!(probe_tcp(&pair.client, fw_v4(port), short), Probe::TimedOut);
    }
    let got = log.prefixes();
    assert_eq!(
        got,
        ["statewall input final: ", "statewall input final: "],
        "two lines (the burst), for four dropped connections"
    );
    let st = status_json(&pair.fw);
    assert_eq!(counted(&st, "final", "log"), 2, "{st}");
    assert!(counted(&st, "final", "drop") >= 4, "{st}");
}

#[cfg_attr(not(statewall_root), ignore = "needs root: creates network namespaces")]
#[test]
fn ipv6_sources_share_a_bucket_per_prefix_and_another_prefix_has_its_own() {
    use crate::support::{CLIENT_IF, FW_IF, fw_v6};
    let pair = Pair::new("l-v6");
    let _ssh = listen_tcp(&pair.fw, &[22]);
    // two more client addresses: one in the client's /64, one in another /64 (on-link for fw)
    for (addr, len) in [("2001:db8:5a::3", 64), ("2001:db8:5b::2", 64)] {
        pair.client
            .exec([
                "ip",
                "-6",
                "addr",
                "add",
                &format!("{addr}/{len}"),
                "dev",
                CLIENT_IF,
                "nodad",
            ])
            .assert_ok();
    }
    pair.fw
        .exec(["ip", "-6", "route", "add", "2001:db8:5b::/64", "dev", FW_IF])
        .assert_ok();
    // which of them the client connects from: the source its route to fw names
    let from = |src: &str| {
        pair.client
            .exec([
                "ip",
                "-6",
                "route",
                "replace",
                "2001:db8:5a::1/128",
                "dev",
                CLIENT_IF,
                "src",
                src,
            ])
            .assert_ok();
    };
    let policy = TempPolicy::new(
        "l-v6",
        "[[allow]]\nname = \"ssh\"\ntcp = [22]\n\
         limit = { rate = \"2/minute\", per = \"source\", over = \"reject\" }\n",
    );
    statewall(&pair.fw, ["apply", &policy.path()]).assert_ok();
    let probe = || probe_tcp(&pair.client, fw_v6(22), PROBE_TIMEOUT);
    from("2001:db8:5a::2");
    assert_eq!(
        [probe(), probe(), probe()],
        [Probe::Connected, Probe::Connected, Probe::Refused]
    );
    // the same /64: the same bucket, already empty
    from("2001:db8:5a::3");
    assert_eq!(probe(), Probe::Refused);
    // another /64: a bucket of its own
    from("2001:db8:5b::2");
    assert_eq!([probe(), probe()], [Probe::Connected, Probe::Connected]);
    let st = status_json(&pair.fw);
    assert_eq!(counted(&st, "ssh", "reject"), 2, "{st}");
    assert_eq!(counted(&st, "ssh", "accept"), 4, "{st}");
    let set = pair
        .fw
        .nft(["list", "set", "inet", "statewall", "meter6_ssh"]);
    set.assert_ok();
    // keys are the /64 prefixes, not the addresses
    assert!(
        set.stdout.contains("2001:db8:5a::") && set.stdout.contains("2001:db8:5b::"),
        "{set}"
    );
    assert!(!set.stdout.contains("2001:db8:5a::3"), "{set}");
}

const IPV4_PREFIX: &str = "tests/data/policy/ok-limit-ipv4-prefix.toml";

/// `ipv4_prefix`: the masked source keys mean to nft what statewall's batch says, and read
/// back without drift.
#[cfg_attr(not(statewall_root), ignore = "needs root: creates network namespaces")]
#[test]
fn ipv4_prefixes_mean_the_same_to_nft_and_read_back_without_drift() {
    let path = crate::support::repo_path(IPV4_PREFIX);
    let path = path.to_str().unwrap();
    crate::kernel::same_to_nft(path, &[]);
    let (ns, _) = crate::kernel::applied_without_drift("l-v4p", path);
    let list = ns.nft(["list", "chain", "inet", "statewall", "input"]);
    assert!(list.stdout.contains("ip saddr & 255.255.255.252"), "{list}");
}

/// A limit with `ipv4_prefix = 30`: two addresses of one /30 take from one bucket, an
/// address of the next /30 has its own (iptables' `--hashlimit-srcmask 30`). With whole
/// addresses the second would connect; with one bucket for all, the third would not.
#[cfg_attr(not(statewall_root), ignore = "needs root: creates network namespaces")]
#[test]
fn ipv4_sources_share_a_bucket_per_network_and_another_network_has_its_own() {
    use crate::support::{CLIENT_IF, CLIENT_V4, flows::probe_from};
    let pair = Pair::new("l-v4net");
    let same = std::net::Ipv4Addr::new(192, 0, 2, 3);
    let next = std::net::Ipv4Addr::new(192, 0, 2, 4);
    for a in [same, next] {
        pair.client
            .exec(["ip", "addr", "add", &format!("{a}/24"), "dev", CLIENT_IF])
            .assert_ok();
    }
    let _ssh = listen_tcp(&pair.fw, &[22]);
    let policy = TempPolicy::new(
        "l-v4net",
        "[[allow]]\nname = \"ssh\"\ntcp = [22]\n\
         limit = { rate = \"2/minute\", per = \"source\", ipv4_prefix = 30, over = \"reject\" }\n",
    );
    statewall(&pair.fw, ["apply", &policy.path()]).assert_ok();
    let tcp =
        |from: std::net::Ipv4Addr| probe_from(&pair.client, from.into(), fw_v4(22), PROBE_TIMEOUT);
    // 192.0.2.2 and .3 are one /30 (192.0.2.0/30); .4 starts the next
    assert_eq!(
        [tcp(CLIENT_V4), tcp(same), tcp(same), tcp(next), tcp(next)],
        [
            Probe::Connected,
            Probe::Connected,
            Probe::Refused,
            Probe::Connected,
            Probe::Connected
        ]
    );
    let st = status_json(&pair.fw);
    assert_eq!(st["drift"], false, "{st}");
    assert_eq!(counted(&st, "ssh", "reject"), 1, "{st}");
    let set = pair
        .fw
        .nft(["list", "set", "inet", "statewall", "meter4_ssh"]);
    set.assert_ok();
    // keys are the networks, not the addresses
    assert!(
        set.stdout.contains("192.0.2.0") && set.stdout.contains("192.0.2.4"),
        "{set}"
    );
    assert!(!set.stdout.contains("192.0.2.3"), "{set}");
}
