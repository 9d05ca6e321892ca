//! The conntrack entry's matches beyond the state: `published_to` (iptables'
//! `--ctorigdst`), the destination address a connection had before the kernel DNAT'ed it,
//! and `connection_protocol` (`--ctproto`), the protocol of the packet's connection. nft
//! reads statewall's text as statewall's batch, statewall reads its bytes back without
//! drift, and the imported rules let through what iptables-restore of the same file lets
//! through (behind a Docker-like DNAT for `--ctorigdst`). Everything runs in namespaces the
//! tests create.

use std::net::SocketAddr;
use std::time::Duration;

use crate::limits::{addr, publish_8080_of};
use crate::support::forwarded::{BACKEND, CLIENT, FW_BACK, FW_FRONT, trio};
use crate::support::{
    PROBE_TIMEOUT, Probe, counted, listen_tcp, probe_tcp, statewall, status_json,
};

/// `ok-published-to.toml`: addresses and prefixes of both families, on and off a byte
/// boundary (nft shortens those on one), mean the same to nft and read back without drift;
/// each address is one rule of its family, and beside an IPv4 `from` only the IPv4 one is.
#[cfg_attr(not(statewall_root), ignore = "needs root: creates network namespaces")]
#[test]
fn original_destinations_mean_the_same_to_nft_and_read_back_without_drift() {
    let path = crate::support::repo_path("tests/data/policy/ok-published-to.toml");
    let (_ns, list) = crate::kernel::applied_and_listed("l-pubto", path.to_str().unwrap());
    let web = list.of("web-on-public-ip");
    for want in [
        "ct original ip daddr 192.0.2.1 ",
        "ct original ip daddr 198.51.100.0/25 ",
        "ct original ip6 daddr 2001:db8::/33 ",
        "ct original ip daddr 10.0.0.0/8 ",
    ] {
        assert_eq!(
            web.iter().filter(|l| l.contains(want)).count(),
            1,
            "{want}: {list}"
        );
    }
    assert_eq!(web.len(), 4, "{list}");
    let mail = list.of("partner-mail");
    assert_eq!(mail.len(), 1, "{list}");
    assert!(
        mail[0].contains("ct original ip saddr 203.0.113.0/24 ct original ip daddr 192.0.2.1 "),
        "{list}"
    );
    let admin = list.of("admin-from-office");
    assert_eq!(admin.len(), 1, "{list}");
    assert!(
        admin[0].contains("ip saddr 203.0.113.0/24 ct original ip daddr 192.0.2.1 "),
        "{list}"
    );
}

/// Docker's documented DOCKER-USER rule (`ok-ctorigdst.rules`: `-m conntrack --ctorigdst
/// 192.0.2.0/25 --ctorigdstport 8080 -j ACCEPT`, and two with `--ctorigsrc` too) against
/// iptables-restore of the same file, each behind the same DNAT of port 8080, whatever its
/// address, to the backend's 80. The connection to the firewall's front address gets
/// through; one to port 8080 of the firewall's back address is DNAT'ed alike but its rule
/// wants another original source (read without `published_from` it would get through); one
/// to port 8080 of the backend gets through by the rule of its source and original
/// destination; the backend's own port 80 was not DNAT'ed at all. (Read as `published`
/// alone, the first rule would let through all three.)
#[cfg_attr(not(statewall_root), ignore = "needs root: creates network namespaces")]
#[test]
fn an_imported_ctorigdst_lets_through_what_iptables_lets_through() {
    let file = crate::support::repo_path("tests/data/import/ok-ctorigdst.rules");
    let file = file.to_str().unwrap();
    let answers = |t: &crate::support::routed::Trio| {
        let _backend = listen_tcp(&t.backend, &[80]);
        let short = Duration::from_millis(500);
        [
            probe_tcp(&t.client, addr(FW_FRONT, 8080), PROBE_TIMEOUT),
            probe_tcp(&t.client, addr(FW_BACK, 8080), short),
            probe_tcp(&t.client, addr(BACKEND, 8080), short),
            probe_tcp(&t.client, addr(BACKEND, 80), short),
        ]
    };
    let oracle = trio("l-odst-ipt");
    publish_8080_of(&oracle.fw, &["tcp"]);
    oracle.fw.exec(["iptables-restore", file]).assert_ok();
    let ours = trio("l-odst-sw");
    publish_8080_of(&ours.fw, &["tcp"]);
    statewall(&ours.fw, ["apply", "--force", "--mirror-ipv6", file]).assert_ok();
    let want = answers(&oracle);
    use Probe::{Connected as C, TimedOut as T};
    assert_eq!(want, [C, T, C, T], "iptables itself");
    assert_eq!(answers(&ours), want);
    let st = status_json(&ours.fw);
    assert_eq!(st["drift"], false, "{st}");
    assert_eq!(counted(&st, "published-tcp-8080", "accept"), 1, "{st}");
}

/// `ok-connection-protocol.toml`: `ct protocol` means the same to nft and reads back
/// without drift, one rule per protocol.
#[cfg_attr(not(statewall_root), ignore = "needs root: creates network namespaces")]
#[test]
fn connection_protocols_mean_the_same_to_nft_and_read_back_without_drift() {
    let path = crate::support::repo_path("tests/data/policy/ok-connection-protocol.toml");
    let (_ns, list) = crate::kernel::applied_and_listed("l-ctproto", path.to_str().unwrap());
    let replies = list.of("tcp-udp-replies");
    assert_eq!(replies.len(), 2, "{list}");
    for p in ["tcp", "udp"] {
        let want = format!("ct protocol {p} ct state established,related ");
        assert!(replies.iter().any(|l| l.contains(&want)), "{want}: {list}");
    }
}

/// `ok-ctproto.rules` (an INPUT chain that lets in the packets of the host's own TCP and
/// UDP connections by `--ctstate RELATED,ESTABLISHED --ctproto`) against iptables-restore of
/// the same file, the host (the firewall namespace) talking to a client: its TCP connection
/// and UDP exchange get their answers, and so do a TCP connection to a closed port (the
/// reset) and a UDP datagram to one (the ICMP port unreachable, RELATED to the UDP exchange:
/// read as `-p udp`, it would be dropped); the reply to its ping is dropped (read as an
/// established rule, it would get in); the client's ssh connection gets in, its telnet one
/// does not.
#[cfg_attr(not(statewall_root), ignore = "needs root: creates network namespaces")]
#[test]
fn an_imported_ctproto_lets_through_what_iptables_lets_through() {
    use crate::support::routed::{self, Outcome, Responder};
    let file = crate::support::repo_path("tests/data/import/ok-ctproto.rules");
    let file = file.to_str().unwrap();
    let answers = |t: &crate::support::routed::Trio| {
        let _client = Responder::start(&t.client, &[8000], &[8001]);
        let _host = Responder::start(&t.fw, &[22, 23], &[]);
        let (host, client) = (
            SocketAddr::from((FW_FRONT, 0)),
            SocketAddr::from((CLIENT, 0)),
        );
        let short = Duration::from_millis(500);
        [
            routed::tcp(&t.fw, host, addr(CLIENT, 8000), PROBE_TIMEOUT),
            routed::udp(&t.fw, host, addr(CLIENT, 8001), PROBE_TIMEOUT),
            routed::tcp(&t.fw, host, addr(CLIENT, 8002), PROBE_TIMEOUT),
            routed::udp(&t.fw, host, addr(CLIENT, 8003), PROBE_TIMEOUT),
            routed::icmp_echo(&t.fw, FW_FRONT.into(), CLIENT.into(), short),
            routed::tcp(&t.client, client, addr(FW_FRONT, 22), PROBE_TIMEOUT),
            routed::tcp(&t.client, client, addr(FW_FRONT, 23), short),
        ]
    };
    let oracle = trio("l-ctp-ipt");
    oracle.fw.exec(["iptables-restore", file]).assert_ok();
    let ours = trio("l-ctp-sw");
    statewall(&ours.fw, ["apply", "--force", "--mirror-ipv6", file]).assert_ok();
    let want = answers(&oracle);
    use Outcome::{Answered as A, Refused as R, Silent as S};
    assert_eq!(want, [A, A, R, R, S, A, S], "iptables itself");
    assert_eq!(answers(&ours), want);
    let st = status_json(&ours.fw);
    assert_eq!(st["drift"], false, "{st}");
    assert!(counted(&st, "udp-connections", "accept") >= 2, "{st}");
}

/// Why `err-ct-without-connection.rules` is refused, as the kernel says it: in a
/// namespace whose raw table leaves UDP to port 9 untracked, iptables-restore's `-m
/// conntrack --ctstate UNTRACKED --ctproto tcp` takes each of those UDP datagrams (a packet
/// without a connection passes the conntrack match once its state matched, its protocol
/// untested), and the same state and protocol in two matches take none. statewall's
/// `connection_protocol` could only say the second, so the import refuses the first.
#[cfg_attr(not(statewall_root), ignore = "needs root: creates network namespaces")]
#[test]
fn a_conntrack_match_takes_connectionless_packets_of_any_protocol() {
    let pair = crate::support::Pair::new("l-ctnone");
    let file = std::env::temp_dir().join("statewall-ctnone.rules");
    let one = "-A INPUT -m conntrack --ctstate UNTRACKED --ctproto tcp -j DROP";
    let two = "-A INPUT -m state --state UNTRACKED -m conntrack --ctproto tcp -j DROP";
    std::fs::write(
        &file,
        format!(
            "*raw\n:PREROUTING ACCEPT [0:0]\n:OUTPUT ACCEPT [0:0]\n-A PREROUTING -p udp --dport 9 -j NOTRACK\nCOMMIT\n*filter\n:INPUT ACCEPT [0:0]\n:FORWARD ACCEPT [0:0]\n:OUTPUT ACCEPT [0:0]\n{one}\n{two}\nCOMMIT\n"
        ),
    )
    .unwrap();
    let loaded = pair.fw.exec(["iptables-restore", file.to_str().unwrap()]);
    let _ = std::fs::remove_file(&file);
    loaded.assert_ok();
    let sent = 3;
    crate::support::send_tagged(
        &pair.client,
        crate::support::fw_v4(9),
        vec![b"x".to_vec(); sent],
        |i| format!("#{i}#"),
    );
    // the two rules' packet counts, in order, once the datagrams arrived (a bounded wait)
    let counts = || {
        let text = pair
            .fw
            .exec(["iptables", "-L", "INPUT", "-v", "-x", "-n"])
            .assert_ok()
            .stdout
            .clone();
        let counts: Vec<u64> = text
            .lines()
            .filter(|l| l.contains("DROP"))
            .map(|l| l.split_whitespace().next().unwrap().parse().unwrap())
            .collect();
        (counts, text)
    };
    let mut seen = counts();
    for _ in 0..40 {
        if seen.0.first() == Some(&(sent as u64)) {
            break;
        }
        std::thread::sleep(Duration::from_millis(50));
        seen = counts();
    }
    let (counts, text) = seen;
    assert_eq!(counts, [sent as u64, 0], "{text}");
    let file = crate::support::repo_path("tests/data/import/err-ct-without-connection.rules");
    let out = crate::support::run_cmd(
        {
            let mut c = crate::support::bin(None);
            c.args(["import", "--mirror-ipv6", file.to_str().unwrap()]);
            c
        },
        PROBE_TIMEOUT * 10,
    );
    let err = &out.stderr;
    assert_eq!(out.code, Some(1), "{err}");
    assert!(
        err.contains("err-ct-without-connection.rules:10:41"),
        "{err}"
    );
}
