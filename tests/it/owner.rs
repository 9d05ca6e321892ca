//! Socket owners (`uid`, `gid` and their exceptions: nft's `meta skuid`, `meta skgid`) in the
//! kernel: nft makes the same objects of statewall's text and reads statewall's own bytes as
//! `meta skuid`, readback finds no drift, and real datagrams that processes of different
//! users and groups send from the firewall's namespace leave or are stopped as the policy's
//! output entries say, counted by the rule that decided.

use std::collections::BTreeSet;
use std::net::{Ipv4Addr, UdpSocket};
use std::time::Duration;

use crate::support::{
    CLIENT_V4, Netns, Pair, TempPolicy, names, packets_of, payloads_within, repo_path, statewall,
    status_json,
};

const POLICY: &str = "tests/data/policy/ok-owner.toml";
const PORT: u16 = 5600;
/// How long datagrams get to arrive.
const SETTLE: Duration = Duration::from_millis(600);

#[cfg_attr(not(statewall_root), ignore = "needs root: creates network namespaces")]
#[test]
fn socket_owners_mean_the_same_to_nft_and_read_back_without_drift() {
    let path = repo_path(POLICY);
    let (_ns, list) = crate::kernel::applied_and_listed("owner-drift", path.to_str().unwrap());
    // an allow of every protocol takes the packets conntrack leaves untracked too
    // (neighbour discovery; the kernel sends it, no socket owns it)
    assert_eq!(
        list.of("torrent-tunnel"),
        [
            "oifname \"tun*\" meta skuid 1000 ct state new,untracked counter packets 0 bytes 0 accept comment \"torrent-tunnel\"",
            "oifname \"tun*\" meta skuid 1001 ct state new,untracked counter packets 0 bytes 0 accept comment \"torrent-tunnel\"",
        ]
    );
    assert_eq!(
        list.of("kids"),
        [
            "meta skuid != 0 meta skuid != 4294967294 meta skgid 1500 counter packets 0 bytes 0 reject with icmpx admin-prohibited comment \"kids\""
        ]
    );
    assert!(
        list.of("torrent-elsewhere")[0].starts_with("meta skuid 1000 meta skgid != 0 "),
        "{list}"
    );
}

/// One datagram with payload `name`, sent from `ns` to the client by a process of user
/// `uid` and group `gid` (setpriv drops root's ids before bash opens the socket).
fn send_as(ns: &Netns, uid: u32, gid: u32, name: &str) {
    send_to_port(ns, (uid, gid), name, PORT);
}

/// [`send_as`] to another port of the client.
fn send_to_port(ns: &Netns, (uid, gid): (u32, u32), name: &str, port: u16) {
    let script = format!("printf {name} > /dev/udp/{CLIENT_V4}/{port}");
    ns.exec([
        "setpriv",
        &format!("--reuid={uid}"),
        &format!("--regid={gid}"),
        "--clear-groups",
        "bash",
        "-c",
        &script,
    ]);
}

/// Datagrams the firewall's namespace sends as root, as user 1000 of group 1000 and as user
/// 1001 of group 1500: an allow of uid 0 before a reject lets only root's out; a block of
/// group 1500 but root stops only 1001's; `except_uid` lets every user's but 1000's out.
#[cfg_attr(not(statewall_root), ignore = "needs root: creates network namespaces")]
#[test]
fn datagrams_of_three_owners_leave_as_the_output_entries_say() {
    let p = Pair::new("owner-send");
    let sock = p.client.run(|| {
        let s = UdpSocket::bind((Ipv4Addr::UNSPECIFIED, PORT)).expect("udp bind");
        s.set_read_timeout(Some(Duration::from_millis(50))).unwrap();
        s
    });
    let out = "[output]\nfinal = \"accept\"\n";
    // (policy, what arrives, packets the entry named "stop" decided)
    let cases = [
        (
            format!(
                "{out}[[output.allow]]\nname = \"go\"\nudp = [{PORT}]\nuid = 0\n\n[[output.reject]]\nname = \"stop\"\nudp = [{PORT}]\n"
            ),
            names(&["root"]),
            2,
        ),
        (
            format!("{out}[[output.block]]\nname = \"stop\"\ngid = 1500\nexcept_uid = 0\n"),
            names(&["root", "u1000"]),
            1,
        ),
        (
            format!(
                "{out}[[output.block]]\nname = \"stop\"\nudp = [{PORT}]\nexcept_uid = [0, 1001]\n"
            ),
            names(&["root", "u1001"]),
            1,
        ),
    ];
    for (text, want, stopped) in cases {
        let policy = TempPolicy::new("owner-send", &text);
        statewall(&p.fw, ["apply", &policy.path()]).assert_ok();
        let before = status_json(&p.fw);
        send_as(&p.fw, 0, 1500, "root");
        send_as(&p.fw, 1000, 1000, "u1000");
        send_as(&p.fw, 1001, 1500, "u1001");
        assert_eq!(payloads_within(&sock, SETTLE), want, "{text}");
        let st = status_json(&p.fw);
        assert_eq!(st["drift"], false, "{text}: {st}");
        let delta = |name: &str| packets_of(&st, name) - packets_of(&before, name);
        assert_eq!(delta("stop"), stopped, "{text}: {st}");
    }
}

/// The import of `ok-owner.rules` against iptables-restore of the same file: datagrams that
/// root, user 1000 (group 1000), user 1001 (group 1500) and root in group 1500 send from the
/// firewall to two ports of the client (DNS and another) leave or not alike.
#[cfg_attr(not(statewall_root), ignore = "needs root: creates network namespaces")]
#[test]
fn an_imported_owner_file_lets_the_same_datagrams_leave_as_iptables() {
    let oracle = Pair::new("owner-ipt");
    let ours = Pair::new("owner-sw");
    crate::import::load_both((&oracle, &ours), ("ok-owner.rules", None));
    let senders = [
        ((0, 0), "root"),
        ((1000, 1000), "u1000"),
        ((1001, 1500), "u1001g1500"),
        ((0, 1500), "rootg1500"),
    ];
    let mut got = Vec::new();
    for pair in [&oracle, &ours] {
        let socks = pair.client.run(|| {
            [53, PORT].map(|port| {
                let s = UdpSocket::bind((Ipv4Addr::UNSPECIFIED, port)).expect("udp bind");
                s.set_read_timeout(Some(Duration::from_millis(50))).unwrap();
                s
            })
        });
        for ((uid, gid), name) in senders {
            for port in [53, PORT] {
                send_to_port(&pair.fw, (uid, gid), &format!("{name}:{port}"), port);
            }
        }
        let mut arrived: BTreeSet<String> = BTreeSet::new();
        for s in &socks {
            arrived.extend(payloads_within(s, SETTLE));
        }
        got.push(arrived);
    }
    // root's and root-in-1500's to both ports, 1001's DNS only; 1000's none
    let want = names(&[
        "root:53",
        "root:5600",
        "rootg1500:53",
        "rootg1500:5600",
        "u1001g1500:53",
    ]);
    assert_eq!(got[0], want, "iptables");
    assert_eq!(got[1], want, "statewall");
}
