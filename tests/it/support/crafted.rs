//! Crafted TCP segments of every flag pattern, for the scan filters (`--tcp-flags`,
//! `--syn`, `! --syn`) that ordinary connections never test: each segment goes out of a raw
//! socket with a source port of its own, and what comes back for it is read off raw TCP and
//! ICMP sockets: a segment the firewall passes to a port nobody listens on is answered with a
//! reset by the stack behind it (all but a reset itself), a rejected one with the REJECT's
//! reset or ICMP error, a dropped one with nothing.

use std::net::Ipv4Addr;
use std::os::fd::{AsRawFd, OwnedFd};
use std::time::{Duration, Instant};

use super::{Netns, inet_checksum, raw4, raw4_send};

/// The flag patterns sent: every combination of FIN, SYN, RST, PSH, ACK and URG (what
/// iptables' `ALL` covers), then three with ECE/CWR (an ECN SYN, an ECN ACK, every bit).
pub fn patterns() -> Vec<u8> {
    (0u8..64).chain([0xc2, 0x50, 0xff]).collect()
}

/// Whether conntrack calls a segment of these flags, of no connection yet, INVALID:
/// `nf_conntrack_proto_tcp.c`'s `tcp_valid_flags` (PSH, ECE and CWR aside) and `tcp_new`,
/// where only a SYN (with URG) begins a connection and an ACK (with URG) is picked up
/// (`nf_conntrack_tcp_loose`, on by default).
pub fn conntrack_invalid(flags: u8) -> bool {
    !matches!(flags & !(0x08 | 0x40 | 0x80), 0x02 | 0x22 | 0x10 | 0x30)
}

/// What came back for one crafted segment.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reply {
    Silent,
    /// a TCP segment back, with its flags
    Tcp(u8),
    /// an ICMP error about it: type and code
    Icmp(u8, u8),
}

impl std::fmt::Display for Reply {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Reply::Silent => write!(f, "silent"),
            Reply::Tcp(fl) => write!(f, "tcp {}", flag_names(*fl)),
            Reply::Icmp(t, c) => write!(f, "icmp {t}/{c}"),
        }
    }
}

/// `SYN,ACK` for 0x12, `NONE` for 0.
pub fn flag_names(flags: u8) -> String {
    const NAMES: [&str; 8] = ["FIN", "SYN", "RST", "PSH", "ACK", "URG", "ECE", "CWR"];
    let on: Vec<&str> = (0..8)
        .filter(|b| flags & (1 << b) != 0)
        .map(|b| NAMES[b])
        .collect();
    if on.is_empty() {
        "NONE".into()
    } else {
        on.join(",")
    }
}

/// One bare segment (no options, no payload) from `src:sport` to `dst:dport` with `flags`
/// (an acknowledgement number where ACK is among them), its checksum filled in.
pub fn segment(src: Ipv4Addr, sport: u16, dst: Ipv4Addr, dport: u16, flags: u8) -> [u8; 20] {
    let mut seg = [0u8; 20];
    seg[0..2].copy_from_slice(&sport.to_be_bytes());
    seg[2..4].copy_from_slice(&dport.to_be_bytes());
    seg[4..8].copy_from_slice(&0x3141_5926u32.to_be_bytes());
    if flags & 0x10 != 0 {
        seg[8..12].copy_from_slice(&0x2718_2818u32.to_be_bytes());
    }
    seg[12] = 5 << 4;
    seg[13] = flags;
    seg[14..16].copy_from_slice(&64_240u16.to_be_bytes());
    let sum = inet_checksum(&[
        &src.octets(),
        &dst.octets(),
        &[0, libc::IPPROTO_TCP as u8, 0, 20],
        &seg,
    ]);
    seg[16..18].copy_from_slice(&sum.to_be_bytes());
    seg
}

/// Sends one segment per `(destination, port, flags)` from `src` inside `ns`, in order, the
/// `k`th from source port `base + k`, and returns what came back for each within `settle`
/// of the last (the first answer of each).
pub fn replies(
    ns: &Netns,
    src: Ipv4Addr,
    probes: &[(Ipv4Addr, u16, u8)],
    base: u16,
    settle: Duration,
) -> Vec<Reply> {
    assert!(usize::from(base) + probes.len() <= 65_536, "source ports");
    ns.run(|| {
        let wait = Some(Duration::from_millis(5));
        let tcp = raw4(libc::IPPROTO_TCP, src, wait);
        let icmp = raw4(libc::IPPROTO_ICMP, src, wait);
        let mut got = vec![Reply::Silent; probes.len()];
        for (k, &(dst, port, flags)) in probes.iter().enumerate() {
            let sport = base + k as u16;
            raw4_send(&tcp, &segment(src, sport, dst, port, flags), dst, 1);
            // read as it comes, so that no socket buffer fills
            drain(&tcp, &icmp, probes, base, &mut got, None);
        }
        drain(&tcp, &icmp, probes, base, &mut got, Some(settle));
        got
    })
}

/// Reads both sockets until they are empty (`until` None) or `until` has passed, noting
/// each answer at its probe.
fn drain(
    tcp: &OwnedFd,
    icmp: &OwnedFd,
    probes: &[(Ipv4Addr, u16, u8)],
    base: u16,
    got: &mut [Reply],
    until: Option<Duration>,
) {
    let end = until.map(|d| Instant::now() + d);
    let mut buf = [0u8; 1500];
    loop {
        let mut any = false;
        for (fd, is_tcp) in [(tcp, true), (icmp, false)] {
            let flags = if end.is_some() { 0 } else { libc::MSG_DONTWAIT };
            // SAFETY: recv into a buffer of the length given, on a descriptor the caller owns.
            let n =
                unsafe { libc::recv(fd.as_raw_fd(), buf.as_mut_ptr().cast(), buf.len(), flags) };
            let Ok(n) = usize::try_from(n) else { continue };
            any = true;
            if let Some((k, r)) = parse(&buf[..n], is_tcp, probes, base)
                && got[k] == Reply::Silent
            {
                got[k] = r;
            }
        }
        match end {
            None if !any => return,
            Some(e) if Instant::now() >= e => return,
            _ => {}
        }
    }
}

/// The probe an IPv4 packet answers, and how: a TCP segment from the probe's destination
/// and port to its source port, or an ICMP error quoting the probe's segment.
fn parse(
    pkt: &[u8],
    is_tcp: bool,
    probes: &[(Ipv4Addr, u16, u8)],
    base: u16,
) -> Option<(usize, Reply)> {
    let ihl = usize::from(pkt.first()? & 0x0f) * 4;
    let from = Ipv4Addr::new(pkt[12], pkt[13], pkt[14], pkt[15]);
    let body = pkt.get(ihl..)?;
    if is_tcp {
        let sport = u16::from_be_bytes([*body.first()?, *body.get(1)?]);
        let dport = u16::from_be_bytes([*body.get(2)?, *body.get(3)?]);
        let k = usize::from(dport.checked_sub(base)?);
        let &(dst, port, _) = probes.get(k)?;
        (from == dst && sport == port).then_some((k, Reply::Tcp(*body.get(13)?)))
    } else {
        let (ty, code) = (*body.first()?, *body.get(1)?);
        // the quoted IPv4 header and the first 8 bytes of the segment
        let quoted = body.get(8..)?;
        let qihl = usize::from(quoted.first()? & 0x0f) * 4;
        if *quoted.get(9)? != libc::IPPROTO_TCP as u8 {
            return None;
        }
        let qdst = Ipv4Addr::new(quoted[16], quoted[17], quoted[18], quoted[19]);
        let seg = quoted.get(qihl..qihl + 4)?;
        let sport = u16::from_be_bytes([seg[0], seg[1]]);
        let dport = u16::from_be_bytes([seg[2], seg[3]]);
        let k = usize::from(sport.checked_sub(base)?);
        let &(dst, port, _) = probes.get(k)?;
        (qdst == dst && dport == port).then_some((k, Reply::Icmp(ty, code)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn conntrack_begins_or_picks_up_only_syns_and_acks() {
        let valid: Vec<u8> = patterns()
            .into_iter()
            .filter(|&f| !conntrack_invalid(f))
            .collect();
        // SYN, ACK, and each with URG and/or PSH; the ECN SYN and the ECN ACK
        assert_eq!(
            valid,
            [0x02, 0x0a, 0x10, 0x18, 0x22, 0x2a, 0x30, 0x38, 0xc2, 0x50]
        );
        assert_eq!(flag_names(0x12), "SYN,ACK");
        assert_eq!(flag_names(0), "NONE");
    }
}
