//! Netlink wire format: the few pieces rustables 0.9 does not give us. Pure byte work,
//! no sockets (those live in `netlink.rs`), so all of it is tested without a kernel.

use super::nft::{
    NFGENMSG_LEN, NFNETLINK_V0, NFNL_BATCH_GENID, NFNL_MSG_BATCH_BEGIN, NFNL_SUBSYS_NFTABLES,
    NFPROTO_INET, NFT_MSG_GETGEN, NFTA_GEN_ID, NLA_F_NESTED, NLA_TYPE_MASK, NLM_F_ACK,
    NLM_F_ACK_TLVS, NLM_F_CAPPED, NLM_F_REQUEST, NLMSG_HDRLEN, NLMSGERR_ATTR_MSG,
};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Header {
    pub len: u32,
    pub ty: u16,
    pub flags: u16,
    pub seq: u32,
    pub pid: u32,
}

pub fn align4(n: usize) -> usize {
    (n + 3) & !3
}

impl Header {
    pub fn parse(b: &[u8]) -> Option<Header> {
        if b.len() < NLMSG_HDRLEN {
            return None;
        }
        Some(Header {
            len: u32::from_ne_bytes(b[0..4].try_into().ok()?),
            ty: u16::from_ne_bytes(b[4..6].try_into().ok()?),
            flags: u16::from_ne_bytes(b[6..8].try_into().ok()?),
            seq: u32::from_ne_bytes(b[8..12].try_into().ok()?),
            pid: u32::from_ne_bytes(b[12..16].try_into().ok()?),
        })
    }

    pub fn write(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(&self.len.to_ne_bytes());
        out.extend_from_slice(&self.ty.to_ne_bytes());
        out.extend_from_slice(&self.flags.to_ne_bytes());
        out.extend_from_slice(&self.seq.to_ne_bytes());
        out.extend_from_slice(&self.pid.to_ne_bytes());
    }
}

/// Splits a buffer into netlink messages (header + whole message bytes). Stops at the first
/// malformed header instead of panicking.
pub fn messages(buf: &[u8]) -> impl Iterator<Item = (Header, &[u8])> {
    let mut rest = buf;
    std::iter::from_fn(move || {
        let h = Header::parse(rest)?;
        let len = h.len as usize;
        if len < NLMSG_HDRLEN || len > rest.len() {
            return None;
        }
        let msg = &rest[..len];
        rest = &rest[align4(len).min(rest.len())..];
        Some((h, msg))
    })
}

/// Netlink attributes (type without the nested/byte-order flags, payload).
pub fn attrs(buf: &[u8]) -> impl Iterator<Item = (u16, &[u8])> {
    let mut rest = buf;
    std::iter::from_fn(move || {
        if rest.len() < 4 {
            return None;
        }
        let len = u16::from_ne_bytes([rest[0], rest[1]]) as usize;
        let ty = u16::from_ne_bytes([rest[2], rest[3]]) & NLA_TYPE_MASK;
        if len < 4 || len > rest.len() {
            return None;
        }
        let payload = &rest[4..len];
        rest = &rest[align4(len).min(rest.len())..];
        Some((ty, payload))
    })
}

/// The first attribute of type `ty` in `buf`.
pub fn attr(buf: &[u8], ty: u16) -> Option<&[u8]> {
    attrs(buf).find(|(t, _)| *t == ty).map(|(_, p)| p)
}

/// A big-endian `u32` attribute payload (`NLA_BE32`, as nf_tables sends numbers).
pub fn be32(p: &[u8]) -> Option<u32> {
    Some(u32::from_be_bytes(p.get(..4)?.try_into().ok()?))
}

/// A big-endian `u64` attribute payload (handles, counters).
pub fn be64(p: &[u8]) -> Option<u64> {
    Some(u64::from_be_bytes(p.get(..8)?.try_into().ok()?))
}

/// A NUL-terminated string attribute payload.
pub fn string(p: &[u8]) -> String {
    let p = p.split(|b| *b == 0).next().unwrap_or(p);
    String::from_utf8_lossy(p).into_owned()
}

/// The errno an `NLMSG_DONE` carries: a dump that failed part way ends with its negative
/// errno right after the header (0: the dump is complete).
pub fn done_errno(msg: &[u8]) -> i32 {
    msg.get(NLMSG_HDRLEN..NLMSG_HDRLEN + 4)
        .and_then(|b| b.try_into().ok())
        .map_or(0, |b| i32::from_ne_bytes(b).min(0).saturating_neg())
}

/// The attributes of an nfnetlink message (after nlmsghdr and nfgenmsg); empty when the
/// message is too short to have any.
pub fn nfnl_attrs(msg: &[u8]) -> &[u8] {
    msg.get(NLMSG_HDRLEN + NFGENMSG_LEN..).unwrap_or(&[])
}

/// A netlink attribute writer with nesting: every message rustables cannot write is built
/// with it (batch begin and end, GETGEN, sets, set elements, recorder rules).
#[derive(Default)]
pub struct Attrs(pub Vec<u8>);

impl Attrs {
    pub fn put(&mut self, ty: u16, payload: &[u8]) -> &mut Self {
        let len = 4 + payload.len();
        self.0.extend_from_slice(&(len as u16).to_ne_bytes());
        self.0.extend_from_slice(&ty.to_ne_bytes());
        self.0.extend_from_slice(payload);
        self.0.resize(align4(self.0.len()), 0);
        self
    }
    pub fn str(&mut self, ty: u16, s: &str) -> &mut Self {
        let mut v = s.as_bytes().to_vec();
        v.push(0);
        self.put(ty, &v)
    }
    pub fn be32(&mut self, ty: u16, v: u32) -> &mut Self {
        self.put(ty, &v.to_be_bytes())
    }

    pub fn be64(&mut self, ty: u16, v: u64) -> &mut Self {
        self.put(ty, &v.to_be_bytes())
    }
    pub fn nest(&mut self, ty: u16, f: impl FnOnce(&mut Attrs)) -> &mut Self {
        let mut inner = Attrs::default();
        f(&mut inner);
        self.put(ty | NLA_F_NESTED, &inner.0)
    }
}

/// An nfnetlink message: header, nfgenmsg (family, version 0, res_id) and attributes.
pub fn nfnl_message(
    ty: u16,
    flags: u16,
    seq: u32,
    family: u8,
    res_id: u16,
    attributes: &Attrs,
) -> Vec<u8> {
    let len = NLMSG_HDRLEN + NFGENMSG_LEN + attributes.0.len();
    let mut out = Vec::with_capacity(len);
    Header {
        len: len as u32,
        ty,
        flags,
        seq,
        pid: 0,
    }
    .write(&mut out);
    out.push(family);
    out.push(NFNETLINK_V0);
    out.extend_from_slice(&res_id.to_be_bytes());
    out.extend_from_slice(&attributes.0);
    out
}

/// An nf_tables message about statewall's `inet` table (`ty` is the `NFT_MSG_*` number;
/// the sequence number is set when it is sent).
pub fn nft_message(ty: u16, flags: u16, attributes: &Attrs) -> Vec<u8> {
    nfnl_message(
        (NFNL_SUBSYS_NFTABLES << 8) | ty,
        flags,
        0,
        NFPROTO_INET,
        0,
        attributes,
    )
}

/// The batch-begin message, with the generation id when given.
pub fn batch_begin(seq: u32, genid: Option<u32>) -> Vec<u8> {
    let mut attrs = Attrs::default();
    if let Some(g) = genid {
        attrs.be32(NFNL_BATCH_GENID, g);
    }
    nfnl_message(
        NFNL_MSG_BATCH_BEGIN,
        NLM_F_REQUEST,
        seq,
        0,
        NFNL_SUBSYS_NFTABLES,
        &attrs,
    )
}

/// `NFT_MSG_GETGEN`: asks for the ruleset generation id.
pub fn getgen(seq: u32) -> Vec<u8> {
    nfnl_message(
        (NFNL_SUBSYS_NFTABLES << 8) | NFT_MSG_GETGEN,
        NLM_F_REQUEST | NLM_F_ACK,
        seq,
        0,
        0,
        &Attrs::default(),
    )
}

/// Re-writes a finalized rustables batch: its batch-begin message is replaced by ours
/// (with the generation id), and `flags` maps each other message's flags.
pub fn rewrite_batch(
    raw: &[u8],
    genid: Option<u32>,
    flags: impl Fn(&Header, u16) -> u16,
) -> Vec<u8> {
    let mut out = Vec::with_capacity(raw.len() + 8);
    for (h, msg) in messages(raw) {
        if h.ty == NFNL_MSG_BATCH_BEGIN {
            out.extend_from_slice(&batch_begin(h.seq, genid));
            continue;
        }
        let start = out.len();
        out.extend_from_slice(msg);
        let f = flags(&h, h.flags);
        out[start + 6..start + 8].copy_from_slice(&f.to_ne_bytes());
        out.resize(align4(out.len()), 0);
    }
    out
}

/// A decoded `NLMSG_ERROR` message: errno 0 is an ack.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NlError {
    /// positive errno (0 = ack)
    pub errno: i32,
    /// header of the message it answers
    pub request: Header,
    /// extended ack text, when the kernel gave one
    pub ext_msg: Option<String>,
}

pub fn parse_error(h: &Header, msg: &[u8]) -> Option<NlError> {
    let body = msg.get(NLMSG_HDRLEN..)?;
    let err = i32::from_ne_bytes(body.get(0..4)?.try_into().ok()?);
    let request = Header::parse(body.get(4..)?)?;
    let mut ext_msg = None;
    if h.flags & NLM_F_ACK_TLVS != 0 {
        // with NLM_F_CAPPED only the request header was echoed, otherwise the whole request
        let echoed = if h.flags & NLM_F_CAPPED != 0 {
            NLMSG_HDRLEN
        } else {
            align4(request.len as usize)
        };
        if let Some(tlvs) = body.get(4 + echoed..) {
            for (ty, p) in attrs(tlvs) {
                if ty == NLMSGERR_ATTR_MSG {
                    let p = p.strip_suffix(&[0]).unwrap_or(p);
                    ext_msg = Some(String::from_utf8_lossy(p).into_owned());
                }
            }
        }
    }
    Some(NlError {
        errno: -err,
        request,
        ext_msg,
    })
}

/// The generation id out of an `NFT_MSG_NEWGEN` reply.
pub fn parse_newgen(msg: &[u8]) -> Option<u32> {
    let body = msg.get(NLMSG_HDRLEN + NFGENMSG_LEN..)?;
    attrs(body)
        .find(|(t, _)| *t == NFTA_GEN_ID)
        .and_then(|(_, p)| Some(u32::from_be_bytes(p.get(0..4)?.try_into().ok()?)))
}

/// errno in words: the symbolic name and the C library's text.
pub fn errno_words(errno: i32) -> String {
    let name = match errno {
        libc::EPERM => "EPERM",
        libc::ENOENT => "ENOENT",
        libc::EINTR => "EINTR",
        libc::EAGAIN => "EAGAIN",
        libc::ENOMEM => "ENOMEM",
        libc::EBUSY => "EBUSY",
        libc::EEXIST => "EEXIST",
        libc::EINVAL => "EINVAL",
        libc::ENOSPC => "ENOSPC",
        libc::ERANGE => "ERANGE",
        libc::ELOOP => "ELOOP",
        libc::EMSGSIZE => "EMSGSIZE",
        libc::EPROTONOSUPPORT => "EPROTONOSUPPORT",
        libc::EOPNOTSUPP => "EOPNOTSUPP",
        libc::ENOBUFS => "ENOBUFS",
        libc::ERESTART => "ERESTART",
        libc::EAFNOSUPPORT => "EAFNOSUPPORT",
        _ => "errno",
    };
    let text = std::io::Error::from_raw_os_error(errno).to_string();
    let text = text.split(" (os error").next().unwrap_or(&text).to_string();
    format!("{name} {errno}: {text}")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::codec::nft::{
        NFT_MSG_NEWGEN, NFT_MSG_NEWRULE, NLM_F_MULTI, NLMSG_DONE, NLMSG_ERROR,
    };

    #[test]
    fn batch_begin_carries_genid_big_endian() {
        let m = batch_begin(0, Some(0x01020304));
        let h = Header::parse(&m).unwrap();
        assert_eq!(h.ty, NFNL_MSG_BATCH_BEGIN);
        assert_eq!(h.len as usize, m.len());
        // nfgenmsg: family 0, version 0, res_id = NFNL_SUBSYS_NFTABLES big endian
        assert_eq!(&m[16..20], &[0, 0, 0, 10]);
        let a: Vec<_> = attrs(&m[20..]).collect();
        assert_eq!(a, vec![(NFNL_BATCH_GENID, &[1u8, 2, 3, 4][..])]);
    }

    #[test]
    fn batch_begin_without_genid_has_no_attribute() {
        let m = batch_begin(7, None);
        assert_eq!(m.len(), 20);
        assert_eq!(Header::parse(&m).unwrap().seq, 7);
    }

    #[test]
    fn a_dump_that_failed_part_way_says_so_in_its_done() {
        let done = |payload: &[u8]| {
            let mut m = Vec::new();
            Header {
                len: (NLMSG_HDRLEN + payload.len()) as u32,
                ty: NLMSG_DONE,
                flags: NLM_F_MULTI,
                seq: 1,
                pid: 0,
            }
            .write(&mut m);
            m.extend_from_slice(payload);
            m
        };
        assert_eq!(done_errno(&done(&0i32.to_ne_bytes())), 0);
        assert_eq!(
            done_errno(&done(&(-libc::EMSGSIZE).to_ne_bytes())),
            libc::EMSGSIZE
        );
        assert_eq!(done_errno(&done(&[])), 0, "an old kernel's bare DONE");
    }

    #[test]
    fn messages_stops_at_garbage() {
        let mut buf = getgen(1);
        buf.extend_from_slice(&[0xff; 7]);
        assert_eq!(messages(&buf).count(), 1);
        assert_eq!(messages(&[1, 2, 3]).count(), 0);
        // a length field larger than the buffer
        let mut bad = getgen(2);
        bad[0] = 200;
        assert_eq!(messages(&bad).count(), 0);
    }

    #[test]
    fn parses_error_with_extack() {
        // build an NLMSG_ERROR with NLM_F_CAPPED|NLM_F_ACK_TLVS carrying a message
        let req = Header {
            len: 40,
            ty: (NFNL_SUBSYS_NFTABLES << 8) | NFT_MSG_NEWRULE,
            flags: NLM_F_REQUEST | NLM_F_ACK,
            seq: 9,
            pid: 0,
        };
        let mut body = Vec::new();
        body.extend_from_slice(&(-libc::ENOENT).to_ne_bytes());
        req.write(&mut body);
        let mut tlvs = Attrs::default();
        tlvs.put(NLMSGERR_ATTR_MSG, b"no such chain\0");
        body.extend_from_slice(&tlvs.0);
        let mut msg = Vec::new();
        Header {
            len: (16 + body.len()) as u32,
            ty: NLMSG_ERROR,
            flags: NLM_F_CAPPED | NLM_F_ACK_TLVS,
            seq: 9,
            pid: 0,
        }
        .write(&mut msg);
        msg.extend_from_slice(&body);
        let h = Header::parse(&msg).unwrap();
        let e = parse_error(&h, &msg).unwrap();
        assert_eq!(e.errno, libc::ENOENT);
        assert_eq!(e.request.seq, 9);
        assert_eq!(e.ext_msg.as_deref(), Some("no such chain"));
    }

    #[test]
    fn parses_newgen() {
        let m = nfnl_message(
            (NFNL_SUBSYS_NFTABLES << 8) | NFT_MSG_NEWGEN,
            0,
            3,
            0,
            0,
            Attrs::default().be32(NFTA_GEN_ID, 42),
        );
        assert_eq!(parse_newgen(&m), Some(42));
        assert_eq!(parse_newgen(&m[..18]), None);
    }

    #[test]
    fn errno_in_words() {
        assert_eq!(
            errno_words(libc::ENOENT),
            "ENOENT 2: No such file or directory"
        );
        assert!(errno_words(libc::ERESTART).starts_with("ERESTART 85"));
    }
}
