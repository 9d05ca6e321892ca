//! The sets of the accepted plan, kept beside its revision in a compact binary form, so that
//! an incremental apply of a 100,000-line list need not compile the previous policy again
//! to know what the kernel's sets hold. A cache: keyed by the plan's fingerprint, with the
//! fingerprint's state after the sets (`identity::sets_state`), so that checking it against
//! the live table's rules does not walk every element again, and a checksum of the
//! whole; when missing, stale or damaged the apply compiles the accepted revision instead.
//! Pure: bytes in, bytes out.

use std::net::{Ipv4Addr, Ipv6Addr};

use crate::core::model::{Cidr, PortRange};
use crate::core::plan::{Set, SetElem, SetKind};

const MAGIC: &[u8] = b"statewall-sets 4\n";

/// What the cache holds: the plan's fingerprint, the fingerprint's state after its sets,
/// and the sets.
#[derive(Debug, PartialEq, Eq)]
pub struct Cached {
    pub fingerprint: String,
    pub sets_state: u64,
    pub sets: Vec<Set>,
}

/// The kind's tag: the fingerprint's (`identity::set_kind`), fixed forever.
fn kind_tag(k: SetKind) -> u8 {
    crate::core::identity::set_kind(k)
}

fn kind_of(t: u8) -> Option<SetKind> {
    [
        SetKind::Src4,
        SetKind::Src6,
        SetKind::Tcp,
        SetKind::Udp,
        SetKind::AuditTcp,
        SetKind::AuditUdp,
        SetKind::AuditSrc4,
        SetKind::AuditSrc6,
        SetKind::Live4,
        SetKind::Live6,
        SetKind::Addr4,
        SetKind::Addr6,
        SetKind::Dst4,
        SetKind::Dst6,
        SetKind::TcpSport,
        SetKind::UdpSport,
        SetKind::LiveHost4,
        SetKind::LiveHost6,
        SetKind::Meter4,
        SetKind::Meter6,
        SetKind::Conn4,
        SetKind::Conn6,
    ]
    .into_iter()
    .find(|k| kind_tag(*k) == t)
}

/// The cache of `sets`, for the plan whose fingerprint is `fingerprint` and whose
/// fingerprint's state after these sets is `sets_state`.
pub fn encode(fingerprint: &str, sets_state: u64, sets: &[Set]) -> Vec<u8> {
    let n: usize = sets.iter().map(|s| s.elements.len()).sum();
    let mut b = Vec::with_capacity(MAGIC.len() + 96 + n * 18);
    b.extend_from_slice(MAGIC);
    b.push(fingerprint.len().min(255) as u8);
    b.extend_from_slice(&fingerprint.as_bytes()[..fingerprint.len().min(255)]);
    b.extend_from_slice(&sets_state.to_be_bytes());
    b.extend_from_slice(&(sets.len() as u32).to_be_bytes());
    for s in sets {
        let name = &s.name.as_bytes()[..s.name.len().min(u16::MAX as usize)];
        b.extend_from_slice(&(name.len() as u16).to_be_bytes());
        b.extend_from_slice(name);
        b.push(kind_tag(s.kind));
        b.extend_from_slice(&s.timeout.map_or(0, |t| t.saturating_add(1)).to_be_bytes());
        b.extend_from_slice(&(s.elements.len() as u32).to_be_bytes());
        for e in &s.elements {
            match e {
                SetElem::Net(Cidr::V4(a, l)) => {
                    b.push(4);
                    b.extend_from_slice(&a.octets());
                    b.push(*l);
                }
                SetElem::Net(Cidr::V6(a, l)) => {
                    b.push(6);
                    b.extend_from_slice(&a.octets());
                    b.push(*l);
                }
                SetElem::Ports(r) => {
                    b.push(2);
                    b.extend_from_slice(&r.lo.to_be_bytes());
                    b.extend_from_slice(&r.hi.to_be_bytes());
                }
            }
        }
    }
    let sum = checksum(&b);
    b.extend_from_slice(&sum.to_le_bytes());
    b
}

/// A checksum of the cache (not a hash to trust against anyone: the cache is ours, in a
/// private directory): that nothing changed or cut it. Four independent lanes of 8-byte
/// words, so that 600 KB cost microseconds.
fn checksum(b: &[u8]) -> u64 {
    const K: u64 = 0x9e37_79b9_7f4a_7c15;
    let mut lanes = [K ^ b.len() as u64, 1, 2, 3];
    let (blocks, rest) = b.as_chunks::<32>();
    for block in blocks {
        for (lane, word) in lanes.iter_mut().zip(block.as_chunks::<8>().0) {
            *lane = (*lane ^ u64::from_le_bytes(*word))
                .wrapping_mul(K)
                .rotate_left(31);
        }
    }
    let mut h = lanes
        .iter()
        .fold(0u64, |h, l| (h ^ l).wrapping_mul(K).rotate_left(31));
    for &x in rest {
        h = (h ^ u64::from(x)).wrapping_mul(K).rotate_left(31);
    }
    h ^ h >> 32
}

/// A reader that never reads past the end.
struct Reader<'a>(&'a [u8]);

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize) -> Option<&'a [u8]> {
        if self.0.len() < n {
            return None;
        }
        let (a, rest) = self.0.split_at(n);
        self.0 = rest;
        Some(a)
    }
    fn u8(&mut self) -> Option<u8> {
        self.take(1).map(|b| b[0])
    }
    fn u16(&mut self) -> Option<u16> {
        Some(u16::from_be_bytes(self.take(2)?.try_into().ok()?))
    }
    fn u32(&mut self) -> Option<u32> {
        Some(u32::from_be_bytes(self.take(4)?.try_into().ok()?))
    }
    fn u64(&mut self) -> Option<u64> {
        Some(u64::from_be_bytes(self.take(8)?.try_into().ok()?))
    }
}

/// What a cache holds; None when it is damaged in any way (its checksum; and each count is
/// checked against the bytes left, so a damaged count cannot make it allocate more).
pub fn decode(bytes: &[u8]) -> Option<Cached> {
    let (body, sum) = bytes.split_at_checked(bytes.len().checked_sub(8)?)?;
    if checksum(body).to_le_bytes() != sum {
        return None;
    }
    let mut r = Reader(body.strip_prefix(MAGIC)?);
    let fl = usize::from(r.u8()?);
    let fp = String::from_utf8(r.take(fl)?.to_vec()).ok()?;
    let sets_state = r.u64()?;
    let n = r.u32()? as usize;
    if n > r.0.len() {
        return None;
    }
    let mut sets = Vec::with_capacity(n);
    for _ in 0..n {
        let nl = usize::from(r.u16()?);
        let name = String::from_utf8(r.take(nl)?.to_vec()).ok()?;
        let kind = kind_of(r.u8()?)?;
        let timeout = r.u64()?.checked_sub(1);
        let count = r.u32()? as usize;
        if count > r.0.len() / 5 {
            return None;
        }
        let mut elements = Vec::with_capacity(count);
        for _ in 0..count {
            let e = match r.u8()? {
                4 => {
                    let a: [u8; 4] = r.take(4)?.try_into().ok()?;
                    let l = r.u8()?;
                    (l <= 32).then_some(SetElem::Net(Cidr::V4(Ipv4Addr::from(a), l)))?
                }
                6 => {
                    let a: [u8; 16] = r.take(16)?.try_into().ok()?;
                    let l = r.u8()?;
                    (l <= 128).then_some(SetElem::Net(Cidr::V6(Ipv6Addr::from(a), l)))?
                }
                2 => SetElem::Ports(PortRange {
                    lo: r.u16()?,
                    hi: r.u16()?,
                }),
                _ => return None,
            };
            elements.push(e);
        }
        sets.push(Set {
            name,
            kind,
            elements,
            timeout,
        });
    }
    r.0.is_empty().then_some(Cached {
        fingerprint: fp,
        sets_state,
        sets,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sets_round_trip_and_damage_is_refused() {
        let sets = vec![
            Set {
                name: "src4_web".into(),
                kind: SetKind::Src4,
                elements: vec![
                    SetElem::Net(Cidr::V4(Ipv4Addr::new(10, 0, 0, 0), 8)),
                    SetElem::Net(Cidr::V4(Ipv4Addr::new(192, 0, 2, 7), 32)),
                ],
                timeout: None,
            },
            Set {
                name: "src6_web".into(),
                kind: SetKind::Src6,
                elements: vec![SetElem::Net(Cidr::V6("2001:db8::".parse().unwrap(), 32))],
                timeout: None,
            },
            Set {
                name: "tcp_web".into(),
                kind: SetKind::Tcp,
                elements: vec![SetElem::Ports(PortRange { lo: 80, hi: 88 })],
                timeout: None,
            },
            Set {
                name: "live4_banned".into(),
                kind: SetKind::Live4,
                elements: vec![],
                timeout: Some(3600),
            },
        ];
        let b = encode("0123456789abcdef", 42, &sets);
        assert_eq!(
            decode(&b),
            Some(Cached {
                fingerprint: "0123456789abcdef".to_string(),
                sets_state: 42,
                sets
            })
        );
        for cut in 0..b.len() {
            assert_eq!(decode(&b[..cut]), None, "cut at {cut}");
        }
        // any byte changed: the checksum says so
        for at in [
            0,
            MAGIC.len() + 3,
            MAGIC.len() + 1 + 16 + 7,
            b.len() / 2,
            b.len() - 1,
        ] {
            let mut bad = b.clone();
            bad[at] ^= 1;
            assert_eq!(decode(&bad), None, "byte {at} changed");
        }
    }
}
