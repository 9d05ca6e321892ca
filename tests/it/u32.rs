//! Tests of words at computed offsets (`u32`, `except_u32`: the kernel's xt_u32 as an
//! nf_tables `match` expression, nft's `xt match u32`) in the kernel: the kernel takes
//! statewall's bytes in its inet table, readback finds no drift and nft sees the match
//! iptables-nft writes; real UDP datagrams over IPv4 meet statewall's block exactly as they
//! meet iptables' `-m u32` of the same expression in a namespace of its own (counted by
//! statewall's rule), and every IPv6 datagram passes both (statewall's `u32` tests IPv4
//! packets only); and an imported file's `-m u32` rules let in the datagrams
//! iptables-restore of the file lets in. nft's language cannot write this match, so nft is
//! no oracle here: the x_tables rule iptables-nft-restore makes is.

use std::collections::BTreeSet;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr, UdpSocket};
use std::time::Duration;

use crate::support::{
    FW_V4, FW_V6, Netns, Pair, TempPolicy, ids_within, packets_of, repo_path, send_tagged,
    statewall, status_json, udp_listen,
};

const POLICY: &str = "tests/data/policy/ok-u32.toml";
const PORT: u16 = 5071;
/// How long datagrams get to arrive.
const SETTLE: Duration = Duration::from_millis(500);

#[cfg_attr(not(statewall_root), ignore = "needs root: creates network namespaces")]
#[test]
fn u32_tests_are_taken_by_the_kernel_and_read_back_without_drift() {
    let path = repo_path(POLICY);
    let (ns, _) = crate::kernel::applied_without_drift("u32-drift", path.to_str().unwrap());
    let lines = crate::kernel::xt_match_rules(
        &ns,
        "[ match name u32 rev 0 ]",
        &[
            "xt match u32 \"0x34=0x18030000:0x1803ffff\"",
            "xt match u32 \"0x0>>0x16&0x3c@0x8>>0xf&0x1=0x1\"",
            "xt match u32 \"0x6&0xff=0x11&&0x4&0x3fff=0x1:0x3fff\"",
            "xt match u32 != \"0x0>>0x16&0x3c@0xc>>0x1c=0x6:0xf\"",
        ],
    );
    // IPv4 only: a rule without an IPv4 address checks the family first; the test comes
    // after every cheaper match of its rule
    assert_eq!(
        lines,
        [
            "meta nfproto ipv4 tcp dport 443 xt match u32 counter packets 0 bytes 0 drop comment \"heartbleed\"",
            "meta nfproto ipv4 udp dport 53 xt match u32 counter packets 0 bytes 0 drop comment \"dns-responses-in\"",
            "meta nfproto ipv4 xt match u32 counter packets 0 bytes 0 drop comment \"udp-frag-or-runt\"",
            "meta nfproto ipv4 xt match u32 counter packets 0 bytes 0 drop comment \"udp-frag-or-runt\"",
            "ip saddr 192.0.2.0/24 tcp dport 80 ct state new xt match u32 counter packets 0 bytes 0 accept comment \"web\"",
        ],
        "{lines:#?}"
    );
}

/// The datagrams the test sends: a fixed-width id (`#00#`), then the payload, which starts
/// at UDP data offset 4: IPv4 offset 32 behind a 20-byte header.
fn payloads() -> Vec<Vec<u8>> {
    let padded = |head: &[u8], n: usize| {
        let mut v = head.to_vec();
        v.extend(std::iter::repeat_n(b'.', n));
        v
    };
    vec![
        b"ABCD".to_vec(),
        b"ABCE".to_vec(),
        b"xABCD".to_vec(),
        b"ZZZZ".to_vec(),
        b"B".to_vec(),
        padded(b"C", 400),
        padded(b"ABCD", 40),
        padded(b"plain", 20),
        padded(b"Z", 40),
    ]
}

fn send(ns: &Netns, to: SocketAddr) {
    send_tagged(ns, to, payloads(), |i| format!("#{i:02}#"));
}

/// The ids of the datagrams that arrived at `sock` within [`SETTLE`].
fn received(sock: &UdpSocket) -> BTreeSet<usize> {
    ids_within(sock, SETTLE)
}

/// Each form as a block in statewall's table and as iptables' `-m u32` DROP of the same
/// expression (IPv4 only) in another namespace, over loopback: the same datagrams arrive,
/// IPv4 ones told apart, every IPv6 one in both; statewall's block counts the IPv4 ones it
/// took. The forms: a payload word behind a header of any length (`@`), a first byte in a
/// range at a fixed offset, a negation, the IP total length, a word past the end of most
/// datagrams, and two tests with a list of ranges.
#[cfg_attr(not(statewall_root), ignore = "needs root: creates network namespaces")]
#[test]
fn datagrams_meet_u32_as_they_meet_iptables_u32_match() {
    let forms = [
        ("u32", "0>>22&0x3C@12=0x41424344"),
        ("u32", "32>>24=0x41:0x43"),
        ("except_u32", "0>>22&0x3C@12>>24=0x5A"),
        ("u32", "0&0xFFFF=0:40"),
        ("u32", "0>>22&0x3C@300=0:0xFFFFFFFF"),
        ("u32", "0>>22&0x3C@12>>24=0x41,0x5A&&0&0xFFFF=0:60"),
    ];
    let all: BTreeSet<usize> = (0..payloads().len()).collect();
    for (key, expr) in forms {
        let ours = Netns::new("u32-sw");
        let theirs = Netns::new("u32-ipt");
        let text = format!(
            "[[block]]\nname = \"b\"\nudp = [{PORT}]\n{key} = \"{expr}\"\n\n[[allow]]\nname = \"app\"\nudp = [{PORT}]\n"
        );
        let policy = TempPolicy::new("u32", &text);
        statewall(&ours, ["apply", &policy.path()]).assert_ok();
        let not = if key == "except_u32" { "! " } else { "" };
        let rules = format!(
            "*filter\n:INPUT ACCEPT [0:0]\n:FORWARD ACCEPT [0:0]\n:OUTPUT ACCEPT [0:0]\n\
             -A INPUT -p udp -m udp --dport {PORT} -m u32 {not}--u32 \"{expr}\" -j DROP\nCOMMIT\n"
        );
        let file = std::env::temp_dir().join(format!("statewall-oracle-{}.rules", theirs.name()));
        std::fs::write(&file, rules).expect("write the oracle's rules");
        let loaded = theirs.exec(["iptables-nft-restore", file.to_str().unwrap()]);
        let _ = std::fs::remove_file(&file);
        loaded.assert_ok();
        let mut taken = 0;
        for to in [
            SocketAddr::from((Ipv4Addr::LOCALHOST, PORT)),
            SocketAddr::from((Ipv6Addr::LOCALHOST, PORT)),
        ] {
            let got: Vec<BTreeSet<usize>> = [&ours, &theirs]
                .iter()
                .map(|ns| {
                    let sock = udp_listen(ns, PORT);
                    send(ns, to);
                    received(&sock)
                })
                .collect();
            assert_eq!(
                got[0], got[1],
                "{key} {expr} to {to}: statewall's, then iptables'"
            );
            if to.is_ipv6() {
                assert_eq!(got[0], all, "{key} {expr}: every IPv6 datagram passes");
            } else {
                assert!(
                    !got[0].is_empty() && got[0] != all,
                    "{key} {expr}: the datagrams are told apart ({:?})",
                    got[0]
                );
                taken = all.len() - got[0].len();
            }
        }
        let st = status_json(&ours);
        assert_eq!(packets_of(&st, "b"), taken as u64, "{key} {expr}: {st}");
    }
}

/// `ok-u32.rules` imported (`--mirror-ipv6`) and applied, and loaded by iptables-restore:
/// datagrams from the client to the file's port, IPv4 and IPv6, arrive alike.
#[cfg_attr(not(statewall_root), ignore = "needs root: creates network namespaces")]
#[test]
fn an_imported_u32_match_answers_as_iptables_restore_of_the_file() {
    let oracle = Pair::new("u32-imp-ipt");
    let ours = Pair::new("u32-imp-sw");
    crate::import::load_both((&oracle, &ours), ("ok-u32.rules", None));
    let all: BTreeSet<usize> = (0..payloads().len()).collect();
    for to in [IpAddr::from(FW_V4), IpAddr::from(FW_V6)] {
        let mut got = Vec::new();
        for pair in [&oracle, &ours] {
            let sock = udp_listen(&pair.fw, PORT);
            send(&pair.client, SocketAddr::new(to, PORT));
            got.push(received(&sock));
        }
        assert_eq!(got[0], got[1], "to {to}: iptables', then statewall's");
        if to.is_ipv4() {
            assert!(
                !got[0].is_empty() && got[0] != all,
                "to {to}: the datagrams tell the tests apart ({:?})",
                got[0]
            );
        }
    }
}

/// A kernel built without xt_u32 refuses the rules that run it (ENOENT): the batch's words
/// for each such rule name the module, so the refusal says what is missing.
#[test]
fn a_refused_u32_rule_names_the_module_it_needs() {
    let text = std::fs::read_to_string(repo_path(POLICY)).unwrap();
    let (policy, diags) = statewall::core::policy::parse(&text);
    let policy = policy.unwrap_or_else(|| panic!("{diags:?}"));
    let plan = statewall::core::compile::compile(&policy, "statewall");
    let batch = statewall::codec::encode::encode(&plan, None, None);
    let named: Vec<&str> = batch
        .ops
        .iter()
        .filter(|o| o.what.contains("x_tables match `u32` (module xt_u32"))
        .map(|o| o.what.as_str())
        .collect();
    assert_eq!(named.len(), 5, "{:#?}", batch.ops);
    assert!(named[0].starts_with("rule "), "{named:?}");
    // only the rules that run it
    let any_xt = batch.ops.iter().filter(|o| o.what.contains("x_tables"));
    assert_eq!(any_xt.count(), 5);
}
