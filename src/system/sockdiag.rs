//! TCP sockets of this network namespace over `NETLINK_SOCK_DIAG`: the listening ones (the
//! kernel walks only its listening hash, where reading `/proc/net/tcp` walks every bucket of
//! the established hash: ~5 ms per file on a machine with a large table, on every apply), and
//! the established ones with their addresses (only when `SSH_CONNECTION` is missing).

use std::io;

use super::netlink::Socket;
use crate::codec::nft::{NETLINK_SOCK_DIAG, NLM_F_DUMP, NLM_F_REQUEST, NLMSG_HDRLEN};
use crate::codec::wire;

// The sock_diag protocol's own numbers stay here, where alone it is spoken; the netlink
// ones it shares with nf_tables come from `codec::nft`.
/// linux/sock_diag.h
const SOCK_DIAG_BY_FAMILY: u16 = 20;
/// the kernel's TCP state (include/net/tcp_states.h; glibc's netinet/tcp.h has it too)
const TCP_LISTEN: u32 = 10;
/// sizeof(struct inet_diag_msg)
const INET_DIAG_MSG_LEN: usize = 72;

/// the kernel's TCP_ESTABLISHED
const TCP_ESTABLISHED: u32 = 1;

/// The dump request for one address family (`struct inet_diag_req_v2`, all sockets in LISTEN).
pub fn request(family: u8, seq: u32) -> Vec<u8> {
    request_in(family, TCP_LISTEN, seq)
}

/// The dump request for one address family's TCP sockets in `state`.
fn request_in(family: u8, state: u32, seq: u32) -> Vec<u8> {
    let mut body = vec![family, libc::IPPROTO_TCP as u8, 0, 0];
    body.extend_from_slice(&(1u32 << state).to_ne_bytes());
    body.extend_from_slice(&[0u8; 48]); // struct inet_diag_sockid: no filter
    let mut out = Vec::with_capacity(NLMSG_HDRLEN + body.len());
    wire::Header {
        len: (NLMSG_HDRLEN + body.len()) as u32,
        ty: SOCK_DIAG_BY_FAMILY,
        flags: NLM_F_REQUEST | NLM_F_DUMP,
        seq,
        pid: 0,
    }
    .write(&mut out);
    out.extend_from_slice(&body);
    out
}

/// (local port, socket inode) out of one `struct inet_diag_msg` reply.
pub fn parse(msg: &[u8]) -> Option<(u16, u64)> {
    let m = msg.get(NLMSG_HDRLEN..NLMSG_HDRLEN + INET_DIAG_MSG_LEN)?;
    let port = u16::from_be_bytes([m[4], m[5]]);
    let inode = u32::from_ne_bytes(m[68..72].try_into().ok()?);
    Some((port, u64::from(inode)))
}

/// An established TCP connection: its local and remote ends, and its socket's inode.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Conn {
    pub local: std::net::SocketAddr,
    pub remote: std::net::SocketAddr,
    pub inode: u64,
}

/// The connection out of one `struct inet_diag_msg` reply (`idiag_family`, then the
/// sockid: ports big-endian, addresses as four big-endian words, an IPv4 one in the first).
pub fn parse_conn(msg: &[u8]) -> Option<Conn> {
    use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
    let m = msg.get(NLMSG_HDRLEN..NLMSG_HDRLEN + INET_DIAG_MSG_LEN)?;
    let addr = |at: usize| -> Option<IpAddr> {
        let b: [u8; 16] = m[at..at + 16].try_into().ok()?;
        match i32::from(m[0]) {
            libc::AF_INET => Some(IpAddr::V4(Ipv4Addr::new(b[0], b[1], b[2], b[3]))),
            libc::AF_INET6 => Some(IpAddr::V6(Ipv6Addr::from(b))),
            _ => None,
        }
    };
    Some(Conn {
        local: SocketAddr::new(addr(8)?, u16::from_be_bytes([m[4], m[5]])),
        remote: SocketAddr::new(addr(24)?, u16::from_be_bytes([m[6], m[7]])),
        inode: u64::from(u32::from_ne_bytes(m[68..72].try_into().ok()?)),
    })
}

/// What `keep` takes of every TCP socket in `state` (IPv4, then IPv6) of the calling
/// thread's network namespace, one message at a time.
fn dump_tcp<T>(state: u32, keep: impl Fn(&[u8]) -> Option<T>) -> io::Result<Vec<T>> {
    let mut sock = Socket::open_protocol(NETLINK_SOCK_DIAG)?;
    let mut out = Vec::new();
    for family in [libc::AF_INET as u8, libc::AF_INET6 as u8] {
        // `dump` sets the sequence number and stops at NLMSG_DONE
        for msg in sock.dump(request_in(family, state, 0))? {
            out.extend(keep(&msg));
        }
    }
    Ok(out)
}

/// The established TCP connections (IPv4 and IPv6) of the calling thread's network namespace
/// whose socket is one of `inodes` (the kernel sends them all: the ones asked for are kept).
pub fn established_tcp(inodes: &[u64]) -> io::Result<Vec<Conn>> {
    dump_tcp(TCP_ESTABLISHED, |msg| {
        parse_conn(msg).filter(|c| inodes.contains(&c.inode))
    })
}

/// Every listening TCP socket (IPv4 and IPv6) of the calling thread's network namespace.
pub fn listening_tcp() -> io::Result<Vec<(u16, u64)>> {
    dump_tcp(TCP_LISTEN, parse)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn request_is_an_inet_diag_req_v2_for_listeners() {
        let r = request(libc::AF_INET6 as u8, 7);
        assert_eq!(r.len(), 16 + 56);
        let h = wire::Header::parse(&r).unwrap();
        assert_eq!((h.ty, h.seq, h.len), (SOCK_DIAG_BY_FAMILY, 7, 72));
        assert_eq!(r[16], libc::AF_INET6 as u8);
        assert_eq!(r[17], libc::IPPROTO_TCP as u8);
        assert_eq!(u32::from_ne_bytes(r[20..24].try_into().unwrap()), 1 << 10);
    }

    #[test]
    fn reply_gives_port_and_inode() {
        let mut msg = vec![0u8; 16 + 72];
        msg[16] = libc::AF_INET as u8;
        msg[17] = 10; // TCP_LISTEN
        msg[20..22].copy_from_slice(&22u16.to_be_bytes());
        msg[84..88].copy_from_slice(&123456u32.to_ne_bytes());
        assert_eq!(parse(&msg), Some((22, 123456)));
        assert_eq!(parse(&msg[..50]), None);
    }

    #[test]
    fn an_established_reply_gives_both_ends_and_the_inode() {
        let mut msg = vec![0u8; 16 + 72];
        msg[16] = libc::AF_INET as u8;
        msg[17] = 1; // TCP_ESTABLISHED
        msg[20..22].copy_from_slice(&22u16.to_be_bytes());
        msg[22..24].copy_from_slice(&50000u16.to_be_bytes());
        msg[24..28].copy_from_slice(&[192, 0, 2, 1]);
        msg[40..44].copy_from_slice(&[192, 0, 2, 2]);
        msg[84..88].copy_from_slice(&99u32.to_ne_bytes());
        let c = parse_conn(&msg).unwrap();
        assert_eq!(c.local, "192.0.2.1:22".parse().unwrap());
        assert_eq!(c.remote, "192.0.2.2:50000".parse().unwrap());
        assert_eq!(c.inode, 99);
        msg[16] = libc::AF_INET6 as u8;
        msg[24..40].copy_from_slice(
            &"2001:db8::1"
                .parse::<std::net::Ipv6Addr>()
                .unwrap()
                .octets(),
        );
        assert_eq!(
            parse_conn(&msg).unwrap().local,
            "[2001:db8::1]:22".parse().unwrap()
        );
        msg[16] = 99;
        assert_eq!(parse_conn(&msg), None);
        let r = request_in(libc::AF_INET as u8, TCP_ESTABLISHED, 1);
        assert_eq!(u32::from_ne_bytes(r[20..24].try_into().unwrap()), 1 << 1);
    }

    #[test]
    fn sock_diag_numbers_are_the_headers_ones() {
        use crate::codec::nft::Constants;
        let c = Constants::installed(&["linux/sock_diag.h", "netinet/tcp.h"]);
        assert_eq!(
            c.value("SOCK_DIAG_BY_FAMILY"),
            Some(SOCK_DIAG_BY_FAMILY.into())
        );
        assert_eq!(c.value("TCP_LISTEN"), Some(TCP_LISTEN.into()));
        assert_eq!(c.value("TCP_ESTABLISHED"), Some(TCP_ESTABLISHED.into()));
    }
}
