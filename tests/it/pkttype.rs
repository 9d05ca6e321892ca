//! Link-layer packet types (`pkttype`, `except_pkttype`: `meta pkttype`) in the kernel: nft
//! makes the same objects of statewall's text and reads statewall's own bytes as `pkttype
//! broadcast`, readback finds no drift, and real datagrams between namespaces — one to the
//! fw's address (unicast), one to the subnet's broadcast address (SO_BROADCAST: a frame to
//! ff:ff:ff:ff:ff:ff), one to the all-hosts group 224.0.0.1 (multicast) — get in or are
//! dropped as the policy says, counted by the rule that decided. And an imported `-m pkttype`
//! file decides those datagrams as iptables-nft-restore of the same file does.

use std::collections::BTreeSet;
use std::net::{IpAddr, Ipv4Addr, SocketAddr, UdpSocket};
use std::time::{Duration, Instant};

use crate::support::{
    CLIENT_IF, CLIENT_V4, FW_V4, Netns, Pair, TempPolicy, packets_of, repo_path, statewall,
    status_json,
};

const POLICY: &str = "tests/data/policy/ok-pkttype.toml";
const PORT: u16 = 5300;
/// The broadcast address of the pair's 192.0.2.0/24.
const BROADCAST_V4: Ipv4Addr = Ipv4Addr::new(192, 0, 2, 255);
/// All hosts on the link: every IPv4 interface is in this group.
const ALL_HOSTS_V4: Ipv4Addr = Ipv4Addr::new(224, 0, 0, 1);
/// How long datagrams get to arrive.
const SETTLE: Duration = Duration::from_millis(600);

/// How a datagram is addressed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum To {
    Unicast,
    Broadcast,
    Multicast,
}

const ALL: [To; 3] = [To::Unicast, To::Broadcast, To::Multicast];

impl To {
    fn addr(self) -> Ipv4Addr {
        match self {
            To::Unicast => FW_V4,
            To::Broadcast => BROADCAST_V4,
            To::Multicast => ALL_HOSTS_V4,
        }
    }
}

/// A pair whose client can send to multicast groups on its veth (no default route there).
fn pair(tag: &str) -> Pair {
    let pair = Pair::new(tag);
    pair.client
        .exec(["ip", "route", "add", "224.0.0.0/4", "dev", CLIENT_IF])
        .assert_ok();
    pair
}

/// UDP sockets on fw's `0.0.0.0:PORT` for each port: they take unicast, broadcast and
/// all-hosts datagrams alike.
fn receivers(fw: &Netns, ports: &[u16]) -> Vec<(u16, UdpSocket)> {
    fw.run(|| {
        ports
            .iter()
            .map(|&p| {
                let s = UdpSocket::bind((Ipv4Addr::UNSPECIFIED, p)).expect("udp bind");
                s.set_read_timeout(Some(Duration::from_millis(50))).unwrap();
                (p, s)
            })
            .collect()
    })
}

/// One datagram from the client for each (kind, port), each from a socket of its own (a NEW
/// conntrack entry each); its payload names it.
fn send(client: &Netns, probes: &[(To, u16)]) {
    client.run(|| {
        for &(to, port) in probes {
            let s = UdpSocket::bind((CLIENT_V4, 0)).expect("udp bind");
            s.set_broadcast(true).unwrap();
            let payload = format!("{to:?} {port}");
            s.send_to(
                payload.as_bytes(),
                SocketAddr::new(IpAddr::V4(to.addr()), port),
            )
            .unwrap_or_else(|e| panic!("sending {payload}: {e}"));
        }
    });
}

/// What arrived at the receivers within [`SETTLE`], by payload.
fn received(socks: &[(u16, UdpSocket)]) -> BTreeSet<String> {
    let mut got = BTreeSet::new();
    let end = Instant::now() + SETTLE;
    let mut buf = [0u8; 64];
    while Instant::now() < end {
        for (_, s) in socks {
            while let Ok(n) = s.recv(&mut buf) {
                got.insert(String::from_utf8_lossy(&buf[..n]).into_owned());
            }
        }
    }
    got
}

fn names(probes: &[(To, u16)]) -> BTreeSet<String> {
    probes.iter().map(|(to, p)| format!("{to:?} {p}")).collect()
}

#[cfg_attr(not(statewall_root), ignore = "needs root: creates network namespaces")]
#[test]
fn packet_types_mean_the_same_to_nft_and_read_back_without_drift() {
    let path = repo_path(POLICY);
    let path = path.to_str().unwrap();
    crate::kernel::same_to_nft(path, &[]);
    let (ns, _) = crate::kernel::applied_without_drift("pk-drift", path);
    // nft reads statewall's own bytes as the match they stand for
    let list = ns.nft(["list", "chain", "inet", "statewall", "input"]);
    list.assert_ok();
    let line = |comment: &str| {
        list.stdout
            .lines()
            .find(|l| l.contains(&format!("comment \"{comment}\"")))
            .unwrap_or_else(|| panic!("no rule {comment}:\n{list}"))
            .to_string()
    };
    assert!(
        line("link-broadcast").contains("pkttype broadcast counter"),
        "{list}"
    );
    assert!(
        line("dhcp").contains("pkttype != multicast udp dport 67"),
        "{list}"
    );
    assert!(line("ssh").contains("pkttype host tcp dport 22"), "{list}");
}

/// Real datagrams: whichever the policy lets in arrive, the rest are dropped, and the rule
/// that decided counts them.
#[cfg_attr(not(statewall_root), ignore = "needs root: creates network namespaces")]
#[test]
fn broadcasts_and_multicasts_get_what_the_policy_says() {
    let pair = pair("pk-real");
    let socks = receivers(&pair.fw, &[PORT]);
    let probes: Vec<(To, u16)> = ALL.iter().map(|&to| (to, PORT)).collect();
    let app = format!("[[allow]]\nname = \"app\"\nudp = [{PORT}]\n");
    // (the policy, what gets in, a block and how many it drops)
    type Case = (String, &'static [To], Option<(&'static str, u64)>);
    let cases: [Case; 6] = [
        // without a packet type every kind reaches the socket: what is missing below was
        // dropped by the firewall, not lost on the way
        (app.clone(), &ALL, None),
        (
            format!("[[block]]\nname = \"no-bcast\"\npkttype = \"broadcast\"\n\n{app}"),
            &[To::Unicast, To::Multicast],
            Some(("no-bcast", 1)),
        ),
        (
            format!("{app}pkttype = \"unicast\"\n"),
            &[To::Unicast],
            None,
        ),
        (
            format!("{app}except_pkttype = [\"broadcast\"]\n"),
            &[To::Unicast, To::Multicast],
            None,
        ),
        (
            format!("{app}pkttype = [\"broadcast\", \"multicast\"]\n"),
            &[To::Broadcast, To::Multicast],
            None,
        ),
        (
            format!(
                "[[block]]\nname = \"no-mcast\"\nudp = [{PORT}]\npkttype = [\"multicast\"]\n\n{app}"
            ),
            &[To::Unicast, To::Broadcast],
            Some(("no-mcast", 1)),
        ),
    ];
    for (text, want, blocked) in cases {
        let policy = TempPolicy::new("pk-real", &text);
        statewall(&pair.fw, ["apply", &policy.path()]).assert_ok();
        let before = status_json(&pair.fw);
        send(&pair.client, &probes);
        let got = received(&socks);
        let want_set = names(&want.iter().map(|&to| (to, PORT)).collect::<Vec<_>>());
        assert_eq!(got, want_set, "{text}");
        let st = status_json(&pair.fw);
        assert_eq!(st["drift"], false, "{text}: {st}");
        let delta = |name: &str| packets_of(&st, name) - packets_of(&before, name);
        assert_eq!(delta("app"), want.len() as u64, "{text}: {st}");
        if let Some((name, n)) = blocked {
            assert_eq!(delta(name), n, "{text}: {st}");
        }
    }
}

/// `-m pkttype` imported: statewall's policy of `ok-pkttype.rules` lets in the same unicast,
/// broadcast and multicast datagrams as iptables-nft-restore of the file — mDNS multicast
/// only, every other broadcast and multicast dropped, unicast to the open ports.
#[cfg_attr(not(statewall_root), ignore = "needs root: creates network namespaces")]
#[test]
fn an_imported_pkttype_file_decides_as_iptables_does() {
    let file = repo_path("tests/data/import/ok-pkttype.rules");
    let ports = [53, 123, 137, 5353];
    let oracle = pair("pk-ipt");
    let ours = pair("pk-sw");
    oracle
        .fw
        .exec(["iptables-nft-restore", file.to_str().unwrap()])
        .assert_ok();
    statewall(
        &ours.fw,
        ["apply", "--force", "--mirror-ipv6", file.to_str().unwrap()],
    )
    .assert_ok();
    let probes: Vec<(To, u16)> = ALL
        .iter()
        .flat_map(|&to| ports.iter().map(move |&p| (to, p)))
        .collect();
    let mut got = Vec::new();
    for p in [&oracle, &ours] {
        let socks = receivers(&p.fw, &ports);
        send(&p.client, &probes);
        got.push(received(&socks));
    }
    let want = names(&[
        (To::Unicast, 53),
        (To::Unicast, 123),
        (To::Unicast, 137),
        (To::Multicast, 5353),
    ]);
    assert_eq!(got[0], want, "iptables, the oracle");
    assert_eq!(got[1], want, "statewall");
    let st = status_json(&ours.fw);
    assert_eq!(st["drift"], false, "{st}");
    assert!(packets_of(&st, "link-broadcast") >= 4, "{st}");
    assert!(packets_of(&st, "link-multicast") >= 3, "{st}");
}
