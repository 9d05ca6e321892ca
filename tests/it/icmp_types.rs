//! ICMP exceptions (`except_icmp`, `except_icmpv6`: nft's `icmp type != 8`) in the kernel: nft
//! makes the same objects of statewall's text, readback finds no drift, and real ICMP
//! messages of several types from the client meet a block of every type but echo requests:
//! the echo requests pass, the others are dropped and counted by the block alone. And the
//! ICMP rules meet only packets of their own family: an IPv6 packet whose next header is 1
//! and an IPv4 packet of protocol 58 get to the final drop.

use std::net::{Ipv4Addr, Ipv6Addr};
use std::time::{Duration, Instant};

use crate::support::{
    CLIENT_V4, FW_V4, FW_V6, Netns, Pair, TempPolicy, counted, inet_checksum, packets_of, ping,
    raw4, raw4_send, raw6, raw6_send, repo_path, statewall, status_json,
};

const POLICY: &str = "tests/data/policy/ok-icmp-exceptions.toml";

#[cfg_attr(not(statewall_root), ignore = "needs root: creates network namespaces")]
#[test]
fn icmp_exceptions_mean_the_same_to_nft_and_read_back_without_drift() {
    let path = repo_path(POLICY);
    crate::kernel::same_to_nft(path.to_str().unwrap(), &[]);
    let (_ns, list) = crate::kernel::applied_and_listed("icmpx-drift", path.to_str().unwrap());
    assert_eq!(
        list.of("icmp-but-requests"),
        // nft leaves out the `meta l4proto icmp` its `icmp type` implies
        [
            "icmp type != echo-request icmp type != timestamp-request ct state new counter packets 0 bytes 0 accept comment \"icmp-but-requests\""
        ],
    );
}

/// An ICMP message of type `ty` (code 0, id `id`, 14 bytes of zeroes after it).
fn icmp_message(ty: u8, id: u16) -> [u8; 20] {
    let mut msg = [0u8; 20];
    msg[0] = ty;
    msg[4..6].copy_from_slice(&id.to_be_bytes());
    let sum = inet_checksum(&[&msg]);
    msg[2..4].copy_from_slice(&sum.to_be_bytes());
    msg
}

/// `n` ICMP messages of type `ty` from `src` to `dst`, through a raw socket inside `ns`.
fn send_icmp(ns: &Netns, (src, dst): (Ipv4Addr, Ipv4Addr), ty: u8, n: usize) {
    let msg = icmp_message(ty, 0x5157);
    ns.run(move || raw4_send(&raw4(libc::IPPROTO_ICMP, src, None), &msg, dst, n));
}

/// A block of every ICMP type but echo requests, before the allows: pings are answered, and
/// of the timestamp (13), information (15) and address mask (17) requests the client sends
/// (all NEW to conntrack, as echo requests are), each is dropped and counted by the block;
/// the allow of all ICMP after it counts only the echo requests.
#[cfg_attr(not(statewall_root), ignore = "needs root: creates network namespaces")]
#[test]
fn a_block_of_every_icmp_type_but_echo_lets_pings_through_and_counts_the_rest() {
    let pair = Pair::new("icmpx");
    let policy = TempPolicy::new(
        "icmpx",
        "[baseline]\nicmp = false\n\n\
         [[block]]\nname = \"odd-icmp\"\nafter = \"baseline\"\nexcept_icmp = [\"echo-request\"]\n\n\
         [[allow]]\nname = \"any-icmp\"\nprotocol = [\"icmp\"]\n",
    );
    statewall(&pair.fw, ["apply", &policy.path()]).assert_ok();
    for _ in 0..3 {
        assert!(
            ping(&pair.client, FW_V4),
            "an echo request passes the block"
        );
    }
    for ty in [13, 15, 17] {
        send_icmp(&pair.client, (CLIENT_V4, FW_V4), ty, 4);
    }
    let st = status_json(&pair.fw);
    assert_eq!(packets_of(&st, "odd-icmp"), 12, "{st}");
    assert_eq!(packets_of(&st, "any-icmp"), 3, "{st}");
    assert_eq!(st["drift"], false, "{st}");
}

/// Whether an ICMP timestamp request (type 13) from `src` to `dst`, sent through a raw socket
/// inside `ns`, gets its reply (type 14, the same id) within a second.
fn timestamp_answered(ns: &Netns, (src, dst): (Ipv4Addr, Ipv4Addr)) -> bool {
    ns.run(move || {
        use std::os::fd::AsRawFd;
        let id: u16 = 0x7a3c;
        let fd = raw4(libc::IPPROTO_ICMP, src, Some(Duration::from_millis(100)));
        raw4_send(&fd, &icmp_message(13, id), dst, 1);
        let end = Instant::now() + Duration::from_secs(1);
        let mut buf = [0u8; 256];
        while Instant::now() < end {
            // SAFETY: a recv into a buffer of the length given, on a descriptor `fd` owns.
            let n = unsafe { libc::recv(fd.as_raw_fd(), buf.as_mut_ptr().cast(), buf.len(), 0) };
            let Ok(n) = usize::try_from(n) else { continue };
            let ihl = usize::from(buf[0] & 0x0f) * 4;
            if n >= ihl + 8 && buf[ihl] == 14 && buf[ihl + 4..ihl + 6] == id.to_be_bytes() {
                return true;
            }
        }
        false
    })
}

/// The import of `ok-icmp-except.rules` (`! --icmp-type echo-request -j ACCEPT`) against
/// iptables-restore of the same file: in both, the client's timestamp request is answered
/// and its ping is not; statewall's exception counts the request.
#[cfg_attr(not(statewall_root), ignore = "needs root: creates network namespaces")]
#[test]
fn an_imported_icmp_exception_answers_as_iptables() {
    let oracle = Pair::new("icmpx-ipt");
    let ours = Pair::new("icmpx-sw");
    crate::import::load_both((&oracle, &ours), ("ok-icmp-except.rules", None));
    for pair in [&oracle, &ours] {
        let answers = (
            ping(&pair.client, FW_V4),
            timestamp_answered(&pair.client, (CLIENT_V4, FW_V4)),
        );
        assert_eq!(answers, (false, true), "{:?}", pair.fw.name());
    }
    let st = status_json(&ours.fw);
    assert_eq!(packets_of(&st, "icmp-except-echo-request-2"), 1, "{st}");
}

/// `n` copies of `msg` as IPv6 packets of next header `proto` to `dst`, through a raw IPv6
/// socket inside `ns` (the kernel writes the IPv6 header).
fn send_raw6(ns: &Netns, proto: libc::c_int, msg: [u8; 20], dst: Ipv6Addr, n: usize) {
    ns.run(move || raw6_send(&raw6(proto), &msg, dst, n));
}

/// In an inet table `meta l4proto icmp` alone also meets an IPv6 packet whose next header is
/// 1, and `meta l4proto ipv6-icmp` an IPv4 packet of protocol 58: neither is ICMP of the
/// family the rule means (ip6tables drops the first where only iptables accepts ICMP). With
/// the baseline's `icmp` and `icmpv6` rules, and with entries of ICMP types and no address,
/// such packets (three of each, the bytes of an ICMP message of the type the rule takes)
/// reach the final drop and no ICMP rule counts them; pings of each family still pass,
/// counted by their rule. (With the INVALID drop they never get that far: conntrack finds its
/// ICMP trackers by the protocol number alone and calls them invalid.)
#[cfg_attr(not(statewall_root), ignore = "needs root: creates network namespaces")]
#[test]
fn the_icmp_rules_meet_only_packets_of_their_own_family() {
    let pair = Pair::new("icmp-fam");
    // (policy, the rules a ping of each family meets, the ICMP types of the packets of the
    // other family, the rules that must not count them)
    let cases = [
        (
            "[baseline]\ninvalid = false\n",
            ["icmp", "icmpv6"],
            (8, 128),
            &["icmp", "icmpv6"][..],
        ),
        (
            // the ICMPv6 baseline stays (neighbour discovery carries the IPv6 packets); the
            // IPv6 entry takes a type the baseline does not
            "[baseline]\ninvalid = false\nicmp = false\n\n\
             [[allow]]\nname = \"echo4\"\nicmp = [\"echo-request\"]\n\n\
             [[allow]]\nname = \"node-info6\"\nicmpv6 = [139]\n",
            ["echo4", "icmpv6"],
            (8, 139),
            &["echo4", "node-info6", "icmpv6"][..],
        ),
    ];
    for (text, [ping4, ping6], (ty4, ty6), none) in cases {
        let policy = TempPolicy::new("icmp-fam", text);
        statewall(&pair.fw, ["apply", &policy.path()]).assert_ok();
        let st = status_json(&pair.fw);
        assert!(ping(&pair.client, FW_V4), "{text}: a ping passes");
        assert!(ping(&pair.client, FW_V6), "{text}: an IPv6 ping passes");
        let before = status_json(&pair.fw);
        for (name, was) in [(ping4, &st), (ping6, &st)] {
            assert!(
                packets_of(&before, name) > packets_of(was, name),
                "{name}: {before}"
            );
        }
        send_raw6(
            &pair.client,
            libc::IPPROTO_ICMP,
            icmp_message(ty4, 0x6e31),
            FW_V6,
            3,
        );
        let mut of_v6 = icmp_message(ty6, 0x6e32);
        of_v6[0] = ty6;
        pair.client.run(move || {
            raw4_send(
                &raw4(libc::IPPROTO_ICMPV6, CLIENT_V4, None),
                &of_v6,
                FW_V4,
                3,
            );
        });
        std::thread::sleep(Duration::from_millis(300));
        let after = status_json(&pair.fw);
        for name in none {
            let delta = packets_of(&after, name) - packets_of(&before, name);
            assert_eq!(delta, 0, "{text}: {name}: {after}");
        }
        assert_eq!(
            counted(&after, "final", "drop") - counted(&before, "final", "drop"),
            6,
            "{text}: {after}"
        );
        assert_eq!(after["drift"], false, "{text}: {after}");
    }
}
