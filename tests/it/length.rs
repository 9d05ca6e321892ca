//! The packet's length (`length`, `except_length`: nft's `meta length`) in the kernel: nft
//! makes the same objects of statewall's text and reads statewall's own bytes as those
//! matches, readback finds no drift, and real UDP datagrams of chosen sizes over a veth pair,
//! IPv4 and IPv6, get in or are dropped at the edges of a range as the policy says, counted
//! by the rule that decided. Two packets where the length could be read otherwise: a short
//! datagram in an ethernet frame padded to 60 bytes has its IP length (the IP layer trims the
//! padding before any hook), and an IPv6 datagram of 65536 bytes over loopback (MTU 65536),
//! whose header's payload length says 65496, is 65536 long for statewall's rule and for
//! ip6tables' `-m length` of the same range alike (xt_length reads the skb's length there).

use std::collections::BTreeSet;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr, UdpSocket};
use std::time::{Duration, Instant};

use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};

use crate::support::{
    CLIENT_IF, CLIENT_V4, FW_IF, FW_V4, FW_V6, Netns, Pair, TempPolicy, packets_of, repo_path,
    statewall, status_json,
};

const POLICY: &str = "tests/data/policy/ok-length.toml";
const PORT: u16 = 5600;
/// How long datagrams get to arrive.
const SETTLE: Duration = Duration::from_millis(600);
/// The headers before a UDP datagram's data: IP and UDP.
const V4_HEADERS: usize = 20 + 8;
const V6_HEADERS: usize = 40 + 8;

/// Sends, from `ns`, one UDP datagram to `to` per IP total length in `lengths` (its payload
/// names the length).
fn send(ns: &Netns, to: SocketAddr, lengths: &[usize]) {
    ns.run(|| {
        let any: IpAddr = if to.is_ipv6() {
            Ipv6Addr::UNSPECIFIED.into()
        } else {
            Ipv4Addr::UNSPECIFIED.into()
        };
        let s = UdpSocket::bind((any, 0)).expect("udp bind");
        let headers = if to.is_ipv6() { V6_HEADERS } else { V4_HEADERS };
        for &len in lengths {
            let mut data = len.to_string().into_bytes();
            data.resize(len - headers, b'.');
            s.send_to(&data, to).expect("send");
        }
    });
}

/// The lengths of the datagrams that arrived at `sock` within [`SETTLE`].
fn received(sock: &UdpSocket) -> BTreeSet<usize> {
    let mut got = BTreeSet::new();
    let end = Instant::now() + SETTLE;
    let mut buf = vec![0u8; 70_000];
    while Instant::now() < end {
        while let Ok(n) = sock.recv(&mut buf) {
            let digits: Vec<u8> = buf[..n.min(8)]
                .iter()
                .copied()
                .take_while(u8::is_ascii_digit)
                .collect();
            got.insert(String::from_utf8_lossy(&digits).parse().unwrap());
        }
    }
    got
}

fn listen(ns: &Netns) -> UdpSocket {
    ns.run(|| {
        let s = UdpSocket::bind((Ipv6Addr::UNSPECIFIED, PORT)).expect("udp bind");
        s.set_read_timeout(Some(Duration::from_millis(50))).unwrap();
        s
    })
}

#[cfg_attr(not(statewall_root), ignore = "needs root: creates network namespaces")]
#[test]
fn lengths_mean_the_same_to_nft_and_read_back_without_drift() {
    let path = repo_path(POLICY);
    let path = path.to_str().unwrap();
    let (ns, list) = crate::kernel::applied_and_listed("len-drift", path);
    let lines = |comment: &str| list.of(comment);
    assert_eq!(
        lines("big-udp"),
        ["meta length 513-65535 udp dport 53 counter packets 0 bytes 0 drop comment \"big-udp\""]
    );
    assert_eq!(
        lines("app"),
        [
            "meta length != 1000-1100 meta length != 1500 tcp dport 8080 ct state new counter packets 0 bytes 0 accept comment \"app\""
        ]
    );
    assert_eq!(lines("tiny").len(), 4, "{list}");
    let debug = crate::kernel::input_in_netlink_terms(&ns);
    assert!(
        debug.stdout.contains("[ meta load len => reg 1 ]")
            && debug
                .stdout
                .contains("[ byteorder reg 1 = hton(reg 1, 4, 4) ]"),
        "{debug}"
    );
}

/// Real datagrams of IP total lengths on both sides of a range's edges, IPv4 and IPv6: a
/// block of 100-200 drops those within, an allow of every length but 100-200 lets in those
/// outside, counted by the rule that decided.
#[cfg_attr(not(statewall_root), ignore = "needs root: creates network namespaces")]
#[test]
fn datagrams_are_told_apart_at_the_edges_of_a_length_range() {
    let pair = Pair::new("len-edges");
    let sock = listen(&pair.fw);
    let app = format!("[[allow]]\nname = \"app\"\nudp = [{PORT}]\n");
    let sizes = [99, 100, 200, 201, 1400];
    let outside: BTreeSet<usize> = [99, 201, 1400].into();
    // (policy, what arrives, what the rule named "b" takes)
    let cases = [
        (app.clone(), sizes.iter().copied().collect(), 0),
        (
            format!("[[block]]\nname = \"b\"\nudp = [{PORT}]\nlength = \"100:200\"\n\n{app}"),
            outside.clone(),
            2,
        ),
        (
            format!("[[allow]]\nname = \"b\"\nudp = [{PORT}]\nexcept_length = \"100-200\"\n"),
            outside.clone(),
            3,
        ),
    ];
    for (text, want, counted) in cases {
        let policy = TempPolicy::new("len-edges", &text);
        statewall(&pair.fw, ["apply", &policy.path()]).assert_ok();
        for to in [
            SocketAddr::from((FW_V4, PORT)),
            SocketAddr::from((FW_V6, PORT)),
        ] {
            let before = status_json(&pair.fw);
            send(&pair.client, to, &sizes);
            assert_eq!(received(&sock), want, "{text} to {to}");
            let st = status_json(&pair.fw);
            assert_eq!(st["drift"], false, "{text}: {st}");
            let delta = |name: &str| packets_of(&st, name) - packets_of(&before, name);
            assert_eq!(delta("b"), counted, "{text} to {to}: {st}");
        }
    }
}

/// An IPv6 datagram of 65536 bytes over loopback (payload length 65496): its length is
/// 65536, beyond every range iptables can write. A block of lengths 0-65535 lets it through
/// and drops one of 1000 bytes; a block of every length but 0-65535 drops it alone — in
/// statewall's table and in ip6tables' of the same rule alike.
#[cfg_attr(not(statewall_root), ignore = "needs root: creates network namespaces")]
#[test]
fn a_65536_byte_ipv6_datagram_is_as_long_for_statewall_as_for_xt_length() {
    let sizes = [1000, 65536];
    for (key, bang, dropped) in [("length", "", 1000), ("except_length", "! ", 65536)] {
        let want: BTreeSet<usize> = sizes.iter().copied().filter(|&s| s != dropped).collect();
        let ours = Netns::new("len-lo-sw");
        let theirs = Netns::new("len-lo-ipt");
        let text = format!(
            "[[block]]\nname = \"b\"\nudp = [{PORT}]\n{key} = \"0:65535\"\n\n[[allow]]\nname = \"app\"\nudp = [{PORT}]\n"
        );
        let policy = TempPolicy::new("len-lo", &text);
        statewall(&ours, ["apply", &policy.path()]).assert_ok();
        let rules = format!(
            "*filter\n:INPUT ACCEPT [0:0]\n:FORWARD ACCEPT [0:0]\n:OUTPUT ACCEPT [0:0]\n-A INPUT -p udp -m udp --dport {PORT} -m length {bang}--length 0:65535 -j DROP\nCOMMIT\n"
        );
        let file = std::env::temp_dir().join(format!("statewall-len-{}.rules6", theirs.name()));
        std::fs::write(&file, rules).unwrap();
        let loaded = theirs.exec(["ip6tables-nft-restore", file.to_str().unwrap()]);
        let _ = std::fs::remove_file(&file);
        loaded.assert_ok();
        for ns in [&ours, &theirs] {
            let sock = listen(ns);
            send(ns, SocketAddr::from((Ipv6Addr::LOCALHOST, PORT)), &sizes);
            assert_eq!(received(&sock), want, "{key} in {}", ns.name());
        }
        assert_eq!(packets_of(&status_json(&ours), "b"), 1, "{key}");
    }
}

/// An ethernet frame carrying an IPv4 UDP datagram of `ip_len` bytes to fw's `PORT`, padded
/// with `pad` more bytes after the datagram (as short frames are padded to 60 bytes).
fn padded_frame(src_mac: [u8; 6], dst_mac: [u8; 6], ip_len: usize, pad: usize) -> Vec<u8> {
    let data = ip_len - V4_HEADERS;
    let mut ip = vec![0x45, 0];
    ip.extend_from_slice(&(ip_len as u16).to_be_bytes());
    ip.extend_from_slice(&[0, 1, 0x40, 0, 64, 17, 0, 0]);
    ip.extend_from_slice(&CLIENT_V4.octets());
    ip.extend_from_slice(&FW_V4.octets());
    let sum = checksum(&ip);
    ip[10..12].copy_from_slice(&sum.to_be_bytes());
    // UDP without a checksum (0: none, which IPv4 allows)
    ip.extend_from_slice(&40_000u16.to_be_bytes());
    ip.extend_from_slice(&PORT.to_be_bytes());
    ip.extend_from_slice(&((8 + data) as u16).to_be_bytes());
    ip.extend_from_slice(&[0, 0]);
    let name = ip_len.to_string();
    ip.extend(name.bytes().chain(std::iter::repeat(b'.')).take(data));
    let mut frame = dst_mac.to_vec();
    frame.extend_from_slice(&src_mac);
    frame.extend_from_slice(&[0x08, 0x00]);
    frame.extend_from_slice(&ip);
    frame.extend(std::iter::repeat_n(0xaa, pad));
    frame
}

/// The Internet checksum of `b`.
fn checksum(b: &[u8]) -> u16 {
    let mut sum: u32 = b
        .chunks(2)
        .map(|w| u32::from(u16::from_be_bytes([w[0], *w.get(1).unwrap_or(&0)])))
        .sum();
    while sum > 0xffff {
        sum = (sum & 0xffff) + (sum >> 16);
    }
    !(sum as u16)
}

/// The MAC address of `dev` in `ns`.
fn mac_of(ns: &Netns, dev: &str) -> [u8; 6] {
    let out = ns.exec(["cat", &format!("/sys/class/net/{dev}/address")]);
    out.assert_ok();
    let mut mac = [0u8; 6];
    for (b, p) in mac.iter_mut().zip(out.stdout.trim().split(':')) {
        *b = u8::from_str_radix(p, 16).unwrap();
    }
    mac
}

/// Sends whole ethernet frames out of the client's veth (`AF_PACKET`: the frame is ours).
fn send_frames(client: &Netns, frames: &[Vec<u8>]) {
    client.run(|| {
        // SAFETY: plain socket calls on a descriptor owned here, with valid buffers.
        unsafe {
            let fd = libc::socket(libc::AF_PACKET, libc::SOCK_RAW, 0);
            assert!(
                fd >= 0,
                "packet socket: {}",
                std::io::Error::last_os_error()
            );
            let fd = OwnedFd::from_raw_fd(fd);
            let name = std::ffi::CString::new(CLIENT_IF).unwrap();
            let mut to: libc::sockaddr_ll = std::mem::zeroed();
            to.sll_family = libc::AF_PACKET as u16;
            to.sll_ifindex = libc::if_nametoindex(name.as_ptr()) as i32;
            to.sll_halen = 6;
            let len = std::mem::size_of::<libc::sockaddr_ll>() as libc::socklen_t;
            for f in frames {
                let sent = libc::sendto(
                    fd.as_raw_fd(),
                    f.as_ptr().cast(),
                    f.len(),
                    0,
                    (&raw const to).cast(),
                    len,
                );
                assert_eq!(
                    sent,
                    f.len() as isize,
                    "sendto: {}",
                    std::io::Error::last_os_error()
                );
            }
        }
    });
}

/// Datagrams of 30 and 31 IP bytes, each in a frame padded to 60 bytes (and one of 30
/// without padding): a block of length 30 drops both 30s and lets the 31 through — the rule
/// compares the IP packet's length, not the frame's (the IP layer trims the padding before
/// the input hook, so `meta length` is the IP length there).
#[cfg_attr(not(statewall_root), ignore = "needs root: creates network namespaces")]
#[test]
fn a_padded_frame_has_its_ip_length() {
    let pair = Pair::new("len-pad");
    let sock = listen(&pair.fw);
    let text = format!(
        "[[block]]\nname = \"b\"\nudp = [{PORT}]\nlength = 30\n\n[[allow]]\nname = \"app\"\nudp = [{PORT}]\n"
    );
    let policy = TempPolicy::new("len-pad", &text);
    statewall(&pair.fw, ["apply", &policy.path()]).assert_ok();
    let (src, dst) = (mac_of(&pair.client, CLIENT_IF), mac_of(&pair.fw, FW_IF));
    send_frames(
        &pair.client,
        &[
            padded_frame(src, dst, 30, 60 - 14 - 30),
            padded_frame(src, dst, 31, 60 - 14 - 31),
            padded_frame(src, dst, 30, 0),
        ],
    );
    assert_eq!(received(&sock), [31].into());
    let st = status_json(&pair.fw);
    assert_eq!(packets_of(&st, "b"), 2, "{st}");
    assert_eq!(packets_of(&st, "app"), 1, "{st}");
}
