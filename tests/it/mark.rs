//! Packet marks (`mark`, `except_mark`: nft's `meta mark`) in the kernel: nft makes the same
//! objects of statewall's text and reads statewall's bytes as those matches, readback finds
//! no drift; UDP datagrams sent from sockets marked with `SO_MARK` (as wg-quick marks its
//! tunnel's) meet each form — a whole mark, its exception, a masked one and its exception —
//! as they meet iptables' `-m mark` of the same mark in a namespace of its own, counted by
//! statewall's rule; and the imported wg-quick kill switch (`ok-mark.rules`) lets out what
//! iptables-restore of the file lets out.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr, UdpSocket};
use std::os::fd::AsRawFd;
use std::time::Duration;

use crate::support::{
    CLIENT_V4, Netns, Pair, TempPolicy, loopback_alike, names, packets_of, payloads_within,
    repo_path, restore_one_rule, statewall, status_json, udp_listen,
};

const POLICY: &str = "tests/data/policy/ok-mark.toml";
const PORT: u16 = 5072;
/// How long datagrams get to arrive.
const SETTLE: Duration = Duration::from_millis(500);
/// The marks the datagrams are sent with, each datagram naming its index.
const MARKS: [u32; 6] = [0, 1, 0xca6c, 0x40000, 0x4abcd, 0x50000];

#[cfg_attr(not(statewall_root), ignore = "needs root: creates network namespaces")]
#[test]
fn marks_mean_the_same_to_nft_and_read_back_without_drift() {
    let path = repo_path(POLICY);
    let (_ns, list) = crate::kernel::applied_and_listed("mark-drift", path.to_str().unwrap());
    assert_eq!(
        list.of("zone"),
        [
            "meta mark & 0x00ff0000 == 0x00040000 counter packets 0 bytes 0 drop comment \"zone\"",
            "meta mark 0x00000007 counter packets 0 bytes 0 drop comment \"zone\"",
        ]
    );
    assert_eq!(
        list.of("marked-in"),
        [
            "meta mark & 0x00008000 == 0x00008000 counter packets 0 bytes 0 drop comment \"marked-in\""
        ]
    );
    assert!(
        list.of("kill-switch")[0].contains("meta mark != 0x0000ca6c"),
        "{list}"
    );
    assert!(
        list.of("web")[0].contains("meta mark != 0x00000001"),
        "{list}"
    );
}

/// Sends from `ns` one datagram per mark of [`MARKS`] to `to` (the payload: its index).
/// A datagram the output hook drops fails to send: that is an outcome, not an error.
fn send_marked(ns: &Netns, to: SocketAddr) {
    ns.run(|| {
        let any: IpAddr = if to.is_ipv6() {
            Ipv6Addr::UNSPECIFIED.into()
        } else {
            Ipv4Addr::UNSPECIFIED.into()
        };
        for (i, mark) in MARKS.iter().enumerate() {
            let s = UdpSocket::bind((any, 0)).expect("udp bind");
            // SAFETY: setsockopt on a socket owned here, with a valid u32 option value.
            let rc = unsafe {
                libc::setsockopt(
                    s.as_raw_fd(),
                    libc::SOL_SOCKET,
                    libc::SO_MARK,
                    (&raw const *mark).cast(),
                    std::mem::size_of::<u32>() as libc::socklen_t,
                )
            };
            assert_eq!(rc, 0, "SO_MARK: {}", std::io::Error::last_os_error());
            let _ = s.send_to(i.to_string().as_bytes(), to);
        }
    });
}

/// Each mark form as an output block in statewall's table and as iptables' (ip6tables')
/// `-m mark` DROP of the same mark in another namespace, over loopback: the same marked
/// datagrams arrive, and statewall's block counts the rest.
#[cfg_attr(not(statewall_root), ignore = "needs root: creates network namespaces")]
#[test]
fn marked_datagrams_meet_a_mark_as_they_meet_iptables_mark_match() {
    let forms = [
        ("mark = \"0xca6c\"", "--mark 0xca6c"),
        ("except_mark = \"0xca6c\"", "! --mark 0xca6c"),
        ("mark = \"0x40000/0xff0000\"", "--mark 0x40000/0xff0000"),
        (
            "except_mark = \"0x40000/0xff0000\"",
            "! --mark 0x40000/0xff0000",
        ),
    ];
    for (key, opts) in forms {
        let ours = Netns::new("mark-sw");
        let theirs = Netns::new("mark-ipt");
        let text = format!(
            "[output]\nfinal = \"accept\"\n\n[[output.block]]\nname = \"b\"\nudp = [{PORT}]\n{key}\n"
        );
        let policy = TempPolicy::new("mark", &text);
        statewall(&ours, ["apply", &policy.path()]).assert_ok();
        let rule = format!("-A OUTPUT -p udp -m udp --dport {PORT} -m mark {opts} -j DROP");
        restore_one_rule(&theirs, &rule);
        let dropped = loopback_alike((&ours, &theirs), (PORT, MARKS.len()), send_marked, key);
        let st = status_json(&ours);
        assert_eq!(packets_of(&st, "b"), dropped as u64, "{key}: {st}");
    }
}

/// `ok-mark.rules` imported and applied, and loaded by iptables-restore: datagrams the
/// firewall sends to the client with each mark — the kill switch lets out only the tunnel's
/// fwmark — arrive alike.
#[cfg_attr(not(statewall_root), ignore = "needs root: creates network namespaces")]
#[test]
fn an_imported_kill_switch_lets_out_what_iptables_restore_lets_out() {
    let oracle = Pair::new("mark-imp-ipt");
    let ours = Pair::new("mark-imp-sw");
    crate::import::load_both((&oracle, &ours), ("ok-mark.rules", None));
    let mut got = Vec::new();
    for pair in [&oracle, &ours] {
        let sock = udp_listen(&pair.client, PORT);
        send_marked(&pair.fw, SocketAddr::from((CLIENT_V4, PORT)));
        got.push(payloads_within(&sock, SETTLE));
    }
    assert_eq!(got[0], got[1], "iptables', then statewall's");
    assert_eq!(got[0], names(&["2"]), "only the tunnel's mark leaves");
}
