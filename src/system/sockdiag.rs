//! Listening TCP sockets of this network namespace over `NETLINK_SOCK_DIAG`: the kernel
//! walks only its listening hash, where reading `/proc/net/tcp` walks every bucket of the
//! established hash (~5 ms per file on a machine with a large table, on every apply).

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

/// The dump request for one address family (`struct inet_diag_req_v2`, all sockets in LISTEN).
pub fn request(family: u8, seq: u32) -> Vec<u8> {
    let mut body = vec![family, libc::IPPROTO_TCP as u8, 0, 0];
    body.extend_from_slice(&(1u32 << TCP_LISTEN).to_ne_bytes());
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

/// Every listening TCP socket (IPv4 and IPv6) of the calling thread's network namespace.
pub fn listening_tcp() -> io::Result<Vec<(u16, u64)>> {
    let mut sock = Socket::open_protocol(NETLINK_SOCK_DIAG)?;
    let mut out = Vec::new();
    for family in [libc::AF_INET as u8, libc::AF_INET6 as u8] {
        // `dump` sets the sequence number and stops at NLMSG_DONE
        for msg in sock.dump(request(family, 0))? {
            out.extend(parse(&msg));
        }
    }
    Ok(out)
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
    fn sock_diag_numbers_are_the_headers_ones() {
        use crate::codec::nft::Constants;
        let c = Constants::installed(&["linux/sock_diag.h", "netinet/tcp.h"]);
        assert_eq!(
            c.value("SOCK_DIAG_BY_FAMILY"),
            Some(SOCK_DIAG_BY_FAMILY.into())
        );
        assert_eq!(c.value("TCP_LISTEN"), Some(TCP_LISTEN.into()));
    }
}
