//! A routed topology for traffic tests that need FORWARD: a [`Trio`] of namespaces
//! `client — fw — backend`, the fw forwarding between its two veths, plus one-thread responders
//! (TCP echo and UDP echo on many ports) and probes that classify how an attempt ended
//! ([`Outcome`]).
//!
//! Addresses (documentation ranges only): the client link is 192.0.2.0/24 and 2001:db8:5a::/64
//! (fw .1/::1, client .2/::2), the backend link 198.51.100.0/24 and 2001:db8:5b::/64 (fw .1/::1,
//! backend .2/::2). The client and the backend route everything via the fw. Extra addresses (a
//! ruleset's sources and destinations) are added as /32 or /128 with the routes that bring their
//! replies back. Every loop is bounded; the namespaces go with the [`Trio`] (`Netns` drops).

#![allow(dead_code)]

use std::io::{Read, Write};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr, TcpListener, TcpStream, UdpSocket};
use std::os::fd::{AsRawFd, FromRawFd};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

use super::{Netns, SETUP_TIMEOUT};

pub const CLIENT_LINK_V4: (Ipv4Addr, Ipv4Addr) =
    (Ipv4Addr::new(192, 0, 2, 1), Ipv4Addr::new(192, 0, 2, 2));
pub const BACKEND_LINK_V4: (Ipv4Addr, Ipv4Addr) = (
    Ipv4Addr::new(198, 51, 100, 1),
    Ipv4Addr::new(198, 51, 100, 2),
);
pub const CLIENT_LINK_V6: (Ipv6Addr, Ipv6Addr) = (
    Ipv6Addr::new(0x2001, 0xdb8, 0x5a, 0, 0, 0, 0, 1),
    Ipv6Addr::new(0x2001, 0xdb8, 0x5a, 0, 0, 0, 0, 2),
);
pub const BACKEND_LINK_V6: (Ipv6Addr, Ipv6Addr) = (
    Ipv6Addr::new(0x2001, 0xdb8, 0x5b, 0, 0, 0, 0, 1),
    Ipv6Addr::new(0x2001, 0xdb8, 0x5b, 0, 0, 0, 0, 2),
);
/// The veth end's name inside the client and inside the backend namespace.
pub const LEAF_IF: &str = "up0";
/// Responders stop on their own after this, even if leaked.
const RESPONDER_MAX: Duration = Duration::from_secs(300);

/// Is `a` one of the addresses the trio itself uses (or the network/broadcast address of a link)?
pub fn is_link_address(a: IpAddr) -> bool {
    let v4 = [
        CLIENT_LINK_V4.0,
        CLIENT_LINK_V4.1,
        BACKEND_LINK_V4.0,
        BACKEND_LINK_V4.1,
        Ipv4Addr::new(192, 0, 2, 0),
        Ipv4Addr::new(192, 0, 2, 255),
        Ipv4Addr::new(198, 51, 100, 0),
        Ipv4Addr::new(198, 51, 100, 255),
    ];
    let v6 = [
        CLIENT_LINK_V6.0,
        CLIENT_LINK_V6.1,
        BACKEND_LINK_V6.0,
        BACKEND_LINK_V6.1,
    ];
    match a {
        IpAddr::V4(a) => v4.contains(&a),
        IpAddr::V6(a) => v6.contains(&a),
    }
}

/// Whether `a` lies in the network of the backend's link (`backend`) or of the client's: the
/// namespaces on that link take it for a neighbour there, so only that side can hold it (a
/// file's address there, as a backend behind the client's link, would never be routed).
pub fn in_link_net(a: IpAddr, backend: bool) -> bool {
    let (v4, v6) = match backend {
        true => (BACKEND_LINK_V4.0, BACKEND_LINK_V6.0),
        false => (CLIENT_LINK_V4.0, CLIENT_LINK_V6.0),
    };
    match a {
        // the links are a /24 and a /64
        IpAddr::V4(a) => a.octets()[..3] == v4.octets()[..3],
        IpAddr::V6(a) => a.segments()[..4] == v6.segments()[..4],
    }
}

/// What a trio needs to know besides its fixed links.
#[derive(Debug, Clone, Default)]
pub struct TrioPlan {
    /// The fw's interface towards the client (e.g. `eth0`) and towards the backend (`eth1`).
    pub fw_client_if: String,
    pub fw_backend_if: String,
    /// Extra source addresses of the client (routed back to it by the fw).
    pub client_extra: Vec<IpAddr>,
    /// Extra local addresses of the fw (on its `lo`).
    pub fw_extra: Vec<IpAddr>,
    /// Extra local addresses of the backend (on its `lo`; the fw routes them to it).
    pub backend_extra: Vec<IpAddr>,
}

/// `client — fw — backend`, forwarding in fw, ICMP errors without rate limits.
#[derive(Debug)]
pub struct Trio {
    pub client: Netns,
    pub fw: Netns,
    pub backend: Netns,
    pub plan: TrioPlan,
}

fn sysctl(ns: &Netns, settings: &[(&str, &str)]) {
    ns.run(|| {
        for (path, value) in settings {
            std::fs::write(path, value).unwrap_or_else(|e| panic!("{path}: {e}"));
        }
    });
}

impl Trio {
    pub fn new(tag: &str, plan: &TrioPlan) -> Trio {
        let client = Netns::new(&format!("{tag}-c"));
        let fw = Netns::new(&format!("{tag}-f"));
        let backend = Netns::new(&format!("{tag}-b"));
        sysctl(
            &fw,
            &[
                ("/proc/sys/net/ipv4/ip_forward", "1"),
                ("/proc/sys/net/ipv6/conf/all/forwarding", "1"),
                ("/proc/sys/net/ipv4/conf/all/rp_filter", "0"),
                ("/proc/sys/net/ipv4/conf/default/rp_filter", "0"),
            ],
        );
        // a reject answered or not must not depend on how many probes ran in the same second
        for ns in [&client, &fw, &backend] {
            sysctl(
                ns,
                &[
                    ("/proc/sys/net/ipv4/icmp_ratelimit", "0"),
                    ("/proc/sys/net/ipv4/icmp_msgs_per_sec", "100000"),
                    ("/proc/sys/net/ipv4/icmp_msgs_burst", "100000"),
                    ("/proc/sys/net/ipv6/icmp/ratelimit", "0"),
                ],
            );
        }
        let links = [
            (
                &client,
                plan.fw_client_if.as_str(),
                CLIENT_LINK_V4,
                CLIENT_LINK_V6,
            ),
            (
                &backend,
                plan.fw_backend_if.as_str(),
                BACKEND_LINK_V4,
                BACKEND_LINK_V6,
            ),
        ];
        for (leaf, fw_if, v4, v6) in links {
            // created inside fw, the peer goes straight into the leaf: the host never sees either
            fw.exec([
                "ip",
                "link",
                "add",
                fw_if,
                "type",
                "veth",
                "peer",
                "name",
                LEAF_IF,
                "netns",
                leaf.name(),
            ])
            .assert_ok();
            for (ns, dev, a4, a6) in [(&fw, fw_if, v4.0, v6.0), (leaf, LEAF_IF, v4.1, v6.1)] {
                ns.exec(["ip", "addr", "add", &format!("{a4}/24"), "dev", dev])
                    .assert_ok();
                ns.exec([
                    "ip",
                    "-6",
                    "addr",
                    "add",
                    &format!("{a6}/64"),
                    "dev",
                    dev,
                    "nodad",
                ])
                .assert_ok();
                ns.exec(["ip", "link", "set", dev, "up"]).assert_ok();
            }
            leaf.exec(["ip", "route", "add", "default", "via", &v4.0.to_string()])
                .assert_ok();
            leaf.exec([
                "ip",
                "-6",
                "route",
                "add",
                "default",
                "via",
                &v6.0.to_string(),
            ])
            .assert_ok();
        }
        let host = |a: &IpAddr| match a {
            IpAddr::V4(_) => format!("{a}/32"),
            IpAddr::V6(_) => format!("{a}/128"),
        };
        let fam = |a: &IpAddr| if a.is_ipv4() { "-4" } else { "-6" };
        for a in &plan.client_extra {
            let h = host(a);
            let mut add = vec!["ip", "addr", "add", &h, "dev", LEAF_IF];
            if a.is_ipv6() {
                add.push("nodad");
            }
            client.exec(add).assert_ok();
            let via = match a {
                IpAddr::V4(_) => CLIENT_LINK_V4.1.to_string(),
                IpAddr::V6(_) => CLIENT_LINK_V6.1.to_string(),
            };
            fw.exec(["ip", fam(a), "route", "add", &host(a), "via", &via])
                .assert_ok();
        }
        for a in &plan.fw_extra {
            fw.exec(["ip", "addr", "add", &host(a), "dev", "lo"])
                .assert_ok();
        }
        for a in &plan.backend_extra {
            backend
                .exec(["ip", "addr", "add", &host(a), "dev", "lo"])
                .assert_ok();
            let via = match a {
                IpAddr::V4(_) => BACKEND_LINK_V4.1.to_string(),
                IpAddr::V6(_) => BACKEND_LINK_V6.1.to_string(),
            };
            fw.exec(["ip", fam(a), "route", "add", &host(a), "via", &via])
                .assert_ok();
        }
        let trio = Trio {
            client,
            fw,
            backend,
            plan: plan.clone(),
        };
        trio.wait_ready();
        trio
    }

    /// Bounded wait until every veth end has carrier and no IPv6 address is tentative.
    fn wait_ready(&self) {
        let ends = [
            (&self.fw, self.plan.fw_client_if.as_str()),
            (&self.fw, self.plan.fw_backend_if.as_str()),
            (&self.client, LEAF_IF),
            (&self.backend, LEAF_IF),
        ];
        let deadline = Instant::now() + SETUP_TIMEOUT;
        loop {
            let mut last = String::new();
            let ready = ends.iter().all(|(ns, dev)| {
                let link = ns.exec(["ip", "-o", "link", "show", "dev", dev]);
                let tentative = ns.exec(["ip", "-6", "-o", "addr", "show", "tentative"]);
                last = format!("{link}\n{tentative}");
                link.success()
                    && link.stdout.contains("LOWER_UP")
                    && tentative.success()
                    && tentative.stdout.trim().is_empty()
            });
            if ready {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "trio {} not ready within {SETUP_TIMEOUT:?}; last check:\n{last}",
                self.fw.name()
            );
            thread::sleep(Duration::from_millis(20));
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Responders

/// TCP echo (first byte back) and UDP echo on `[::]:PORT` (both families) inside a namespace,
/// served by one polling thread; stopped and joined on `Drop`.
pub struct Responder {
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl Responder {
    pub fn start(ns: &Netns, tcp: &[u16], udp: &[u16]) -> Responder {
        let (listeners, sockets): (Vec<TcpListener>, Vec<UdpSocket>) = ns.run(|| {
            let l = tcp
                .iter()
                .map(|&p| {
                    let l = TcpListener::bind((Ipv6Addr::UNSPECIFIED, p)).unwrap_or_else(|e| {
                        panic!("cannot listen on tcp [::]:{p} in {}: {e}", ns.name())
                    });
                    l.set_nonblocking(true).unwrap();
                    l
                })
                .collect();
            let u = udp
                .iter()
                .map(|&p| {
                    let s = UdpSocket::bind((Ipv6Addr::UNSPECIFIED, p)).unwrap_or_else(|e| {
                        panic!("cannot bind udp [::]:{p} in {}: {e}", ns.name())
                    });
                    s.set_nonblocking(true).unwrap();
                    // the destination of each datagram, so that its echo leaves from it
                    let on: libc::c_int = 1;
                    // SAFETY: a valid socket and a c_int option of its size.
                    let rc = unsafe {
                        libc::setsockopt(
                            s.as_raw_fd(),
                            libc::IPPROTO_IPV6,
                            libc::IPV6_RECVPKTINFO,
                            (&on as *const libc::c_int).cast(),
                            std::mem::size_of::<libc::c_int>() as libc::socklen_t,
                        )
                    };
                    assert_eq!(rc, 0, "IPV6_RECVPKTINFO on udp [::]:{p}");
                    s
                })
                .collect();
            (l, u)
        });
        let stop = Arc::new(AtomicBool::new(false));
        let flag = Arc::clone(&stop);
        let thread = thread::spawn(move || {
            let mut fds: Vec<libc::pollfd> = listeners
                .iter()
                .map(|l| l.as_raw_fd())
                .chain(sockets.iter().map(|s| s.as_raw_fd()))
                .map(|fd| libc::pollfd {
                    fd,
                    events: libc::POLLIN,
                    revents: 0,
                })
                .collect();
            let deadline = Instant::now() + RESPONDER_MAX;
            let mut buf = [0u8; 512];
            while !flag.load(Ordering::SeqCst) && Instant::now() < deadline {
                // SAFETY: fds is a valid array of pollfd for the whole call.
                let n = unsafe { libc::poll(fds.as_mut_ptr(), fds.len() as libc::nfds_t, 50) };
                if n <= 0 {
                    continue;
                }
                for (k, pfd) in fds.iter_mut().enumerate() {
                    if pfd.revents == 0 {
                        continue;
                    }
                    pfd.revents = 0;
                    if k < listeners.len() {
                        while let Ok((stream, _)) = listeners[k].accept() {
                            thread::spawn(move || echo_one(stream));
                        }
                    } else {
                        let s = &sockets[k - listeners.len()];
                        while echo_datagram(s, &mut buf) {}
                    }
                }
            }
        });
        Responder {
            stop,
            thread: Some(thread),
        }
    }
}

/// Echoes one waiting datagram of `s` (a `[::]` socket with `IPV6_RECVPKTINFO`) from the
/// address it was sent to: a wildcard socket's plain `send_to` would take the source the route
/// gives, the link address, and a datagram to another address of the namespace (a ruleset's
/// destination, on `lo`) would get an echo its sender's connected socket drops. False when
/// none is waiting.
fn echo_datagram(s: &UdpSocket, buf: &mut [u8]) -> bool {
    let fd = s.as_raw_fd();
    // SAFETY: plain C structs, zero is a valid value for each.
    let mut from: libc::sockaddr_in6 = unsafe { std::mem::zeroed() };
    let mut iov = libc::iovec {
        iov_base: buf.as_mut_ptr().cast(),
        iov_len: buf.len(),
    };
    let mut cbuf = [0u64; 32];
    // SAFETY: as above.
    let mut msg: libc::msghdr = unsafe { std::mem::zeroed() };
    msg.msg_name = (&mut from as *mut libc::sockaddr_in6).cast();
    msg.msg_namelen = std::mem::size_of::<libc::sockaddr_in6>() as libc::socklen_t;
    msg.msg_iov = &mut iov;
    msg.msg_iovlen = 1;
    msg.msg_control = cbuf.as_mut_ptr().cast();
    msg.msg_controllen = std::mem::size_of_val(&cbuf) as _;
    // SAFETY: msg points at live buffers of the sizes it says.
    let n = unsafe { libc::recvmsg(fd, &mut msg, 0) };
    if n < 0 {
        return false;
    }
    let mut info: Option<libc::in6_pktinfo> = None;
    // SAFETY: the control buffer as recvmsg filled it.
    let mut c = unsafe { libc::CMSG_FIRSTHDR(&msg) };
    while !c.is_null() {
        // SAFETY: c is a header inside the control buffer.
        let h = unsafe { &*c };
        if h.cmsg_level == libc::IPPROTO_IPV6 && h.cmsg_type == libc::IPV6_PKTINFO {
            // SAFETY: an IPV6_PKTINFO header carries an in6_pktinfo.
            info = Some(unsafe {
                std::ptr::read_unaligned(libc::CMSG_DATA(c).cast::<libc::in6_pktinfo>())
            });
        }
        // SAFETY: as above.
        c = unsafe { libc::CMSG_NXTHDR(&msg, c) };
    }
    let mut iov = libc::iovec {
        iov_base: buf.as_mut_ptr().cast(),
        iov_len: n as usize,
    };
    let mut ocbuf = [0u64; 8];
    // SAFETY: as above.
    let mut out: libc::msghdr = unsafe { std::mem::zeroed() };
    out.msg_name = (&mut from as *mut libc::sockaddr_in6).cast();
    out.msg_namelen = msg.msg_namelen;
    out.msg_iov = &mut iov;
    out.msg_iovlen = 1;
    if let Some(mut i) = info {
        // the interface only where the address needs one (link-local)
        if i.ipi6_addr.s6_addr[0] != 0xfe || i.ipi6_addr.s6_addr[1] & 0xc0 != 0x80 {
            i.ipi6_ifindex = 0;
        }
        let size = std::mem::size_of::<libc::in6_pktinfo>() as libc::c_uint;
        out.msg_control = ocbuf.as_mut_ptr().cast();
        // SAFETY: CMSG_SPACE of a small size fits the 64-byte buffer.
        out.msg_controllen = unsafe { libc::CMSG_SPACE(size) } as _;
        // SAFETY: the first header of a buffer of that space.
        unsafe {
            let c = libc::CMSG_FIRSTHDR(&out);
            (*c).cmsg_level = libc::IPPROTO_IPV6;
            (*c).cmsg_type = libc::IPV6_PKTINFO;
            (*c).cmsg_len = libc::CMSG_LEN(size) as _;
            std::ptr::write_unaligned(libc::CMSG_DATA(c).cast::<libc::in6_pktinfo>(), i);
        }
    }
    // SAFETY: out points at live buffers of the sizes it says.
    let _ = unsafe { libc::sendmsg(fd, &out, 0) };
    true
}

/// One accepted connection: its first byte back, then close (bounded by a read timeout).
fn echo_one(mut stream: TcpStream) {
    let _ = stream.set_nonblocking(false);
    let _ = stream.set_read_timeout(Some(Duration::from_secs(3)));
    let mut b = [0u8; 1];
    if let Ok(1) = stream.read(&mut b) {
        let _ = stream.write_all(&b);
    }
}

impl Drop for Responder {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Probes

/// How one probe ended, as fine as the client can tell.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub enum Outcome {
    /// TCP: connected and one byte came back; UDP: the datagram was echoed; ICMP: an echo reply.
    Answered,
    /// TCP: the handshake completed but the byte sent afterwards was not echoed.
    ConnectedNoData,
    /// ECONNREFUSED: a TCP reset, or ICMP port unreachable for UDP.
    Refused,
    /// Another ICMP error (or local error) the socket reported: its errno, or ping's words.
    Error(String),
    /// Nothing came back within the timeout.
    Silent,
}

impl std::fmt::Display for Outcome {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Outcome::Answered => f.write_str("answered"),
            Outcome::ConnectedNoData => f.write_str("connected, no data back"),
            Outcome::Refused => f.write_str("refused"),
            Outcome::Error(e) => write!(f, "error ({e})"),
            Outcome::Silent => f.write_str("silent (timed out)"),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Proto {
    Tcp,
    Udp,
    Icmp,
}

impl std::fmt::Display for Proto {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Proto::Tcp => "tcp",
            Proto::Udp => "udp",
            Proto::Icmp => "icmp-echo",
        })
    }
}

fn errno_name(e: &std::io::Error) -> String {
    let name = match e.raw_os_error() {
        Some(libc::EHOSTUNREACH) => "EHOSTUNREACH",
        Some(libc::ENETUNREACH) => "ENETUNREACH",
        Some(libc::EACCES) => "EACCES",
        Some(libc::EPERM) => "EPERM",
        Some(libc::ENOPROTOOPT) => "ENOPROTOOPT",
        Some(libc::EPROTO) => "EPROTO",
        Some(libc::ECONNRESET) => "ECONNRESET",
        Some(libc::EMSGSIZE) => "EMSGSIZE",
        Some(libc::EADDRNOTAVAIL) => "EADDRNOTAVAIL",
        _ => return e.to_string(),
    };
    name.to_string()
}

/// A socket address for libc calls: (domain, storage, length). The one such helper of the tests.
pub fn sockaddr(a: SocketAddr) -> (i32, libc::sockaddr_storage, libc::socklen_t) {
    // SAFETY: an all-zero sockaddr_storage is valid; a sockaddr_in(6) is written into it.
    let mut ss: libc::sockaddr_storage = unsafe { std::mem::zeroed() };
    match a {
        SocketAddr::V4(v4) => {
            let sin = libc::sockaddr_in {
                sin_family: libc::AF_INET as libc::sa_family_t,
                sin_port: v4.port().to_be(),
                sin_addr: libc::in_addr {
                    s_addr: u32::from_ne_bytes(v4.ip().octets()),
                },
                sin_zero: [0; 8],
            };
            // SAFETY: sockaddr_storage is larger than sockaddr_in and suitably aligned.
            unsafe { std::ptr::write((&mut ss as *mut libc::sockaddr_storage).cast(), sin) };
            let len = std::mem::size_of::<libc::sockaddr_in>() as libc::socklen_t;
            (libc::AF_INET, ss, len)
        }
        SocketAddr::V6(v6) => {
            let sin6 = libc::sockaddr_in6 {
                sin6_family: libc::AF_INET6 as libc::sa_family_t,
                sin6_port: v6.port().to_be(),
                sin6_flowinfo: 0,
                sin6_addr: libc::in6_addr {
                    s6_addr: v6.ip().octets(),
                },
                sin6_scope_id: 0,
            };
            // SAFETY: as above, for sockaddr_in6.
            unsafe { std::ptr::write((&mut ss as *mut libc::sockaddr_storage).cast(), sin6) };
            let len = std::mem::size_of::<libc::sockaddr_in6>() as libc::socklen_t;
            (libc::AF_INET6, ss, len)
        }
    }
}

/// A socket of `kind` bound to `src` (port 0 = any) with SO_REUSEADDR and IP(V6)_RECVERR.
fn bound_socket(kind: i32, src: SocketAddr) -> Result<i32, Outcome> {
    let (domain, sa, len) = sockaddr(src);
    // SAFETY: plain socket calls on a descriptor this function owns or returns.
    unsafe {
        let fd = libc::socket(domain, kind | libc::SOCK_CLOEXEC, 0);
        if fd < 0 {
            return Err(Outcome::Error(format!(
                "socket: {}",
                std::io::Error::last_os_error()
            )));
        }
        let one: libc::c_int = 1;
        let size = std::mem::size_of::<libc::c_int>() as libc::socklen_t;
        let on = (&one as *const libc::c_int).cast();
        libc::setsockopt(fd, libc::SOL_SOCKET, libc::SO_REUSEADDR, on, size);
        // every ICMP error reported at once (without it IPv6 TCP waits for the SYN's
        // retransmission before it takes a port unreachable, and UDP ignores "soft" errors)
        if domain == libc::AF_INET {
            libc::setsockopt(fd, libc::IPPROTO_IP, libc::IP_RECVERR, on, size);
        } else {
            libc::setsockopt(fd, libc::IPPROTO_IPV6, libc::IPV6_RECVERR, on, size);
        }
        if libc::bind(fd, (&sa as *const libc::sockaddr_storage).cast(), len) != 0 {
            let e = std::io::Error::last_os_error();
            libc::close(fd);
            return Err(Outcome::Error(format!("bind {src}: {e}")));
        }
        Ok(fd)
    }
}

/// TCP from `src` to `dst` inside `ns`: connect within `timeout`, then one byte that must come
/// back within `timeout`.
pub fn tcp(ns: &Netns, src: SocketAddr, dst: SocketAddr, timeout: Duration) -> Outcome {
    ns.run(|| {
        let fd = match bound_socket(libc::SOCK_STREAM | libc::SOCK_NONBLOCK, src) {
            Ok(fd) => fd,
            Err(o) => return o,
        };
        // SAFETY: fd is ours; the stream closes it.
        let mut stream = unsafe { TcpStream::from_raw_fd(fd) };
        let (_, da, dlen) = sockaddr(dst);
        // SAFETY: a valid descriptor and sockaddr.
        let r = unsafe { libc::connect(fd, (&da as *const libc::sockaddr_storage).cast(), dlen) };
        if r != 0 {
            let e = std::io::Error::last_os_error();
            if e.raw_os_error() != Some(libc::EINPROGRESS) {
                return classify(&e);
            }
        }
        let mut pfd = libc::pollfd {
            fd,
            events: libc::POLLOUT,
            revents: 0,
        };
        // SAFETY: one valid pollfd.
        if unsafe { libc::poll(&mut pfd, 1, timeout.as_millis() as i32) } == 0 {
            return Outcome::Silent;
        }
        match stream.take_error() {
            Ok(None) => {}
            Ok(Some(e)) => return classify(&e),
            Err(e) => return Outcome::Error(e.to_string()),
        }
        let _ = stream.set_nonblocking(false);
        let _ = stream.set_read_timeout(Some(timeout));
        if stream.write_all(b"x").is_err() {
            return Outcome::ConnectedNoData;
        }
        let mut b = [0u8; 1];
        match stream.read(&mut b) {
            Ok(1) => Outcome::Answered,
            _ => Outcome::ConnectedNoData,
        }
    })
}

fn classify(e: &std::io::Error) -> Outcome {
    match e.kind() {
        std::io::ErrorKind::ConnectionRefused => Outcome::Refused,
        std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut => Outcome::Silent,
        _ => Outcome::Error(errno_name(e)),
    }
}

/// One UDP datagram from `src` to `dst` inside `ns`: echoed, refused, another ICMP error, or
/// nothing within `timeout`.
pub fn udp(ns: &Netns, src: SocketAddr, dst: SocketAddr, timeout: Duration) -> Outcome {
    ns.run(|| {
        let fd = match bound_socket(libc::SOCK_DGRAM, src) {
            Ok(fd) => fd,
            Err(o) => return o,
        };
        // SAFETY: fd is ours; the socket closes it.
        let s = unsafe { UdpSocket::from_raw_fd(fd) };
        if let Err(e) = s.connect(dst) {
            return classify(&e);
        }
        let _ = s.set_read_timeout(Some(timeout));
        if let Err(e) = s.send(b"statewall") {
            return classify(&e);
        }
        let mut buf = [0u8; 64];
        match s.recv(&mut buf) {
            Ok(_) => Outcome::Answered,
            Err(e) => classify(&e),
        }
    })
}

/// One ICMP echo request from `src` to `dst` (`ping -c 1 -W SECS -I SRC`) inside `ns`, an
/// answer awaited for `timeout` (iputils takes fractions of a second).
pub fn icmp_echo(ns: &Netns, src: IpAddr, dst: IpAddr, timeout: Duration) -> Outcome {
    let out = ns.exec([
        "ping",
        "-n",
        "-c",
        "1",
        "-W",
        &format!("{:.3}", timeout.as_secs_f64()),
        "-I",
        &src.to_string(),
        &dst.to_string(),
    ]);
    if out.success() {
        return Outcome::Answered;
    }
    // "From 192.0.2.1 icmp_seq=1 Destination Host Prohibited"
    let error = out.stdout.lines().find_map(|l| {
        let rest = l.strip_prefix("From ")?;
        let (_, after) = rest.split_once("icmp_seq=")?;
        let (_, words) = after.split_once(' ')?;
        Some(words.trim().to_string())
    });
    match error {
        Some(words) => Outcome::Error(words),
        None if out.stderr.trim().is_empty() => Outcome::Silent,
        None => Outcome::Error(format!("ping: {}", out.stderr.trim())),
    }
}
