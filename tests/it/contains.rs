//! Patterns in packets' bytes (`contains`, `except_contains`: the kernel's xt_string as an
//! nf_tables `match` expression, nft's `xt match string`) in the kernel: the kernel takes
//! statewall's bytes in its inet table, readback finds no drift and nft sees the match
//! iptables-nft writes; and real UDP datagrams, IPv4 and IPv6, holding a pattern or not, in
//! any case, before, within or after the offsets searched, meet statewall's block exactly as
//! they meet iptables' (ip6tables') `-m string` of the same pattern in a namespace of its
//! own — counted by statewall's rule; and an imported file's `-m string` rules let in the
//! datagrams iptables-restore of the file lets in. nft's language cannot write this match, so nft is no
//! oracle here: the x_tables rule iptables-nft-restore makes is.

use std::collections::BTreeSet;
use std::net::{IpAddr, SocketAddr, UdpSocket};
use std::time::Duration;

use crate::support::{
    FW_V4, FW_V6, Netns, Pair, TempPolicy, ids_within, loopback_alike, packets_of, repo_path,
    restore_one_rule, send_tagged, statewall, status_json, udp_listen,
};

const POLICY: &str = "tests/data/policy/ok-contains.toml";
const PORT: u16 = 5070;
/// How long datagrams get to arrive.
const SETTLE: Duration = Duration::from_millis(500);

#[cfg_attr(not(statewall_root), ignore = "needs root: creates network namespaces")]
#[test]
fn patterns_are_taken_by_the_kernel_and_read_back_without_drift() {
    let path = repo_path(POLICY);
    let (ns, _) = crate::kernel::applied_without_drift("str-drift", path.to_str().unwrap());
    let lines = crate::kernel::xt_match_rules(
        &ns,
        "[ match name string rev 1 ]",
        &[
            "xt match string \"friendly-scanner\"",
            "xt match string \"sipvicious\"",
            "xt match string |0000ff0001| from 40",
            "xt match string \"Secret\" algo kmp to 200 icase",
            "xt match string != \"/admin\"",
        ],
    );
    // the search comes after every cheaper match of its rule
    assert_eq!(
        lines,
        [
            "udp dport 5060 xt match string counter packets 0 bytes 0 drop comment \"sip-scanners\"",
            "udp dport 5060 xt match string counter packets 0 bytes 0 drop comment \"sip-scanners\"",
            "udp dport 53 xt match string counter packets 0 bytes 0 drop comment \"dns-any\"",
            "tcp dport 80 ct state new xt match string counter packets 0 bytes 0 accept comment \"web\"",
            "tcp dport 8080 xt match string counter packets 0 bytes 0 reject with tcp reset comment \"word\"",
        ],
        "{lines:#?}"
    );
}

/// The datagrams the test sends: an id, then the payload (the id holds no letter of any
/// pattern). The pattern sits at UDP data offset 0 (IP offset 28, IPv6 48), 20, or 200.
fn payloads() -> Vec<Vec<u8>> {
    let at = |off: usize, what: &[u8]| {
        let mut v = vec![b'.'; off];
        v.extend_from_slice(what);
        v.extend_from_slice(b"..");
        v
    };
    vec![
        b"plain".to_vec(),
        at(0, b"friendly-scanner"),
        at(20, b"friendly-scanner"),
        at(200, b"FRIENDLY-SCANNER"),
        at(0, &[0, 0, 0xff, 0, 1]),
        at(20, &[0, 0, 0xff, 0, 1]),
        at(0, b"secret"),
        at(20, b"SeCrEt"),
        at(200, b"Secret"),
        at(0, b"ok"),
    ]
}

fn send(ns: &Netns, to: SocketAddr) {
    send_tagged(ns, to, payloads(), |i| format!("#{i}#"));
}

/// The ids of the datagrams that arrived at `sock` within [`SETTLE`].
fn received(sock: &UdpSocket) -> BTreeSet<usize> {
    ids_within(sock, SETTLE)
}

/// Each pattern form as a block in statewall's table and as iptables' (ip6tables') `-m
/// string` DROP of the same pattern in another namespace, over loopback: the same datagrams
/// arrive, and statewall's block counts the rest. The forms: text (found at any offset, in
/// its case only), bytes from offset 40 (the ones at IP offset 28 and 48 … are told apart by
/// family), kmp between offsets 0 and 100 in any case, and a negated pattern.
#[cfg_attr(not(statewall_root), ignore = "needs root: creates network namespaces")]
#[test]
fn datagrams_meet_a_pattern_as_they_meet_iptables_string_match() {
    let forms = [
        (
            "contains = \"friendly-scanner\"",
            "--string \"friendly-scanner\" --algo bm --to 65535",
        ),
        (
            "contains = { hex = \"0000ff0001\", from_offset = 40 }",
            "--hex-string \"|0000ff0001|\" --algo bm --from 40 --to 65535",
        ),
        (
            "contains = { text = \"secret\", algo = \"kmp\", to_offset = 100, ignore_case = true }",
            "--string \"secret\" --algo kmp --to 100 --icase",
        ),
        (
            "except_contains = \"ok\"",
            "! --string \"ok\" --algo bm --to 65535",
        ),
    ];
    for (key, opts) in forms {
        let ours = Netns::new("str-sw");
        let theirs = Netns::new("str-ipt");
        let text = format!(
            "[[block]]\nname = \"b\"\nudp = [{PORT}]\n{key}\n\n[[allow]]\nname = \"app\"\nudp = [{PORT}]\n"
        );
        let policy = TempPolicy::new("str", &text);
        statewall(&ours, ["apply", &policy.path()]).assert_ok();
        let rule = format!("-A INPUT -p udp -m udp --dport {PORT} -m string {opts} -j DROP");
        restore_one_rule(&theirs, &rule);
        let dropped = loopback_alike((&ours, &theirs), (PORT, payloads().len()), send, key);
        let st = status_json(&ours);
        assert_eq!(packets_of(&st, "b"), dropped as u64, "{key}: {st}");
    }
}

/// `ok-contains.rules` imported and applied, and loaded by iptables-restore: datagrams from
/// the client to the SIP and DNS ports, with and without the file's patterns (the DNS one
/// at IP offsets before and after 40), IPv4 and IPv6, arrive at the same ports alike.
#[cfg_attr(not(statewall_root), ignore = "needs root: creates network namespaces")]
#[test]
fn an_imported_string_match_answers_as_iptables_restore_of_the_file() {
    let oracle = Pair::new("str-imp-ipt");
    let ours = Pair::new("str-imp-sw");
    crate::import::load_both(
        (&oracle, &ours),
        ("ok-contains.rules", Some("ok-contains.rules6")),
    );
    let all: BTreeSet<usize> = (0..payloads().len()).collect();
    for port in [5060, 53] {
        for to in [IpAddr::from(FW_V4), IpAddr::from(FW_V6)] {
            let mut got = Vec::new();
            for pair in [&oracle, &ours] {
                let sock = udp_listen(&pair.fw, port);
                send(&pair.client, SocketAddr::new(to, port));
                got.push(received(&sock));
            }
            assert_eq!(
                got[0], got[1],
                "port {port} to {to}: iptables', then statewall's"
            );
            assert!(
                !got[0].is_empty() && got[0] != all,
                "port {port} to {to}: the datagrams tell the pattern apart ({:?})",
                got[0]
            );
        }
    }
}
