//! ICMP exceptions (`except_icmp`, `except_icmpv6`: nft's `icmp type != 8`) in the kernel: nft
//! makes the same objects of statewall's text, readback finds no drift, and real ICMP
//! messages of several types from the client meet a block of every type but echo requests:
//! the echo requests pass, the others are dropped and counted by the block alone.

use std::net::Ipv4Addr;
use std::time::{Duration, Instant};

use crate::support::{
    CLIENT_V4, FW_V4, Netns, Pair, TempPolicy, inet_checksum, packets_of, ping, raw4, raw4_send,
    repo_path, statewall, status_json,
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
