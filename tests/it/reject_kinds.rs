//! The ICMP rejects icmpx cannot say (`host-prohibited`, `net-prohibited`,
//! `proto-unreachable`) on the wire: a client probing the firewalled namespace reads the ICMP
//! error off its socket's error queue (`IP_RECVERR` / `IPV6_RECVERR`: the type and code as they
//! arrived, not an errno several codes share), and nft itself reads the plan's text the same.

use std::net::{SocketAddr, UdpSocket};
use std::os::fd::AsRawFd;

use crate::support::{Netns, Pair, TempPolicy, fw_v4, fw_v6, rules_named, statewall, status_json};

const POLICY: &str = r#"
final = "host-prohibited"

[[reject]]
name = "mail"
udp = [25]
with = "net-prohibited"

[[reject]]
name = "old"
udp = [7]
from = ["192.0.2.0/24", "2001:db8:5a::/64"]
with = "proto-unreachable"
"#;

/// The ICMP error (type, code) a UDP datagram from inside `ns` to `dst` draws, read from the
/// socket's error queue; `None` when none arrives within two seconds.
fn icmp_error(ns: &Netns, dst: SocketAddr) -> Option<(u8, u8)> {
    ns.run(|| {
        let (bind, level, opt) = if dst.is_ipv6() {
            ("[::]:0", libc::IPPROTO_IPV6, libc::IPV6_RECVERR)
        } else {
            ("0.0.0.0:0", libc::IPPROTO_IP, libc::IP_RECVERR)
        };
        let s = UdpSocket::bind(bind).expect("bind");
        let fd = s.as_raw_fd();
        let on: libc::c_int = 1;
        // SAFETY: a valid descriptor and an int option.
        let r = unsafe {
            libc::setsockopt(
                fd,
                level,
                opt,
                (&on as *const libc::c_int).cast(),
                std::mem::size_of::<libc::c_int>() as libc::socklen_t,
            )
        };
        assert_eq!(r, 0, "setsockopt RECVERR");
        s.connect(dst).expect("connect");
        s.send(b"statewall").expect("send");
        let mut pfd = libc::pollfd {
            fd,
            events: 0,
            revents: 0,
        };
        // SAFETY: one valid pollfd; POLLERR is reported whatever `events` says.
        if unsafe { libc::poll(&mut pfd, 1, 2000) } <= 0 || pfd.revents & libc::POLLERR == 0 {
            return None;
        }
        let mut data = [0u8; 64];
        let mut control = [0u64; 64];
        let mut iov = libc::iovec {
            iov_base: data.as_mut_ptr().cast(),
            iov_len: data.len(),
        };
        // SAFETY: zeroed msghdr is valid; the pointers set below outlive the call.
        let mut msg: libc::msghdr = unsafe { std::mem::zeroed() };
        msg.msg_iov = &mut iov;
        msg.msg_iovlen = 1;
        msg.msg_control = control.as_mut_ptr().cast();
        msg.msg_controllen = std::mem::size_of_val(&control);
        // SAFETY: msg points at live buffers.
        if unsafe { libc::recvmsg(fd, &mut msg, libc::MSG_ERRQUEUE) } < 0 {
            return None;
        }
        // SAFETY: walking the control messages the kernel wrote into `control`.
        unsafe {
            let mut c = libc::CMSG_FIRSTHDR(&msg);
            while !c.is_null() {
                if (*c).cmsg_level == level && (*c).cmsg_type == opt {
                    let e = libc::CMSG_DATA(c)
                        .cast::<libc::sock_extended_err>()
                        .read_unaligned();
                    return Some((e.ee_type, e.ee_code));
                }
                c = libc::CMSG_NXTHDR(&msg, c);
            }
        }
        None
    })
}

#[cfg_attr(not(statewall_root), ignore = "needs root: creates network namespaces")]
#[test]
fn a_client_gets_the_exact_icmp_code_of_each_reject_kind() {
    let pair = Pair::new("rejk");
    let policy = TempPolicy::new("reject-kinds", POLICY);
    statewall(&pair.fw, ["apply", &policy.path()]).assert_ok();
    let cases = [
        // the final rule: ICMP destination unreachable 10 (host prohibited), ICMPv6 1/1
        (9, (3, 10), (1, 1)),
        // net-prohibited: code 9
        (25, (3, 9), (1, 1)),
        // proto-unreachable: code 2, by a rule whose source implies the family; ICMPv6 has no
        // protocol unreachable: port unreachable
        (7, (3, 2), (1, 4)),
    ];
    for (port, v4, v6) in cases {
        assert_eq!(
            icmp_error(&pair.client, fw_v4(port)),
            Some(v4),
            "udp {port} over IPv4"
        );
        assert_eq!(
            icmp_error(&pair.client, fw_v6(port)),
            Some(v6),
            "udp {port} over IPv6"
        );
    }
    // the table reads back as applied, each family's rule counted its own packets
    let st = status_json(&pair.fw);
    assert_eq!(st["drift"], false, "{st}");
    for name in ["final", "mail", "old"] {
        let rules = rules_named(&st, name);
        assert_eq!(rules.len(), 2, "{name}: one rule per family: {st}");
        for r in rules {
            assert!(r["packets"].as_u64().unwrap() >= 1, "{name}: {r}");
        }
    }
    // an incremental apply inserts such rules too (their code written into the message)
    let more = TempPolicy::new(
        "reject-kinds-more",
        &format!("{POLICY}\n[[reject]]\nname = \"late\"\nudp = [26]\nwith = \"host-prohibited\"\n"),
    );
    let out = statewall(&pair.fw, ["apply", &more.path()]);
    out.assert_ok();
    assert!(out.stdout.contains("patched plan"), "{out}");
    assert_eq!(icmp_error(&pair.client, fw_v4(26)), Some((3, 10)));
    assert_eq!(icmp_error(&pair.client, fw_v6(26)), Some((1, 1)));
    assert_eq!(status_json(&pair.fw)["drift"], false);
    // nft names the codes as statewall renders them
    let listed = pair.fw.nft(["list", "ruleset"]);
    listed.assert_ok();
    for line in [
        "reject with icmp host-prohibited comment \"final\"",
        "reject with icmpv6 admin-prohibited comment \"final\"",
        "reject with icmp net-prohibited comment \"mail\"",
        "ip saddr 192.0.2.0/24 udp dport 7 counter",
    ] {
        assert!(listed.stdout.contains(line), "{line}\n{}", listed.stdout);
    }
}

#[cfg_attr(not(statewall_root), ignore = "needs root: creates network namespaces")]
#[test]
fn the_plan_script_of_reject_kinds_means_the_same_to_nft() {
    let path = crate::support::repo_path("tests/data/policy/ok-reject-kinds.toml");
    crate::kernel::same_to_nft(path.to_str().unwrap(), &[]);
}
