//! The condition of a rule: which packets it matches, and what two conditions have in common.

use crate::core::model::{Cidr, PortRange};

/// The condition of a rule: every field `None` = any.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(super) struct Cond {
    pub(super) states: Option<u32>,
    pub(super) iif: Option<String>,
    pub(super) src: Option<Cidr>,
    /// `-d 127.0.0.0/8` (or `::1/128`) in the loopback pattern
    pub(super) dst_lo: bool,
    pub(super) proto: Option<u8>,
    pub(super) ports: Option<Vec<PortRange>>,
    pub(super) icmp: Option<u8>,
}

impl Cond {
    pub(super) fn is_everything(&self) -> bool {
        *self == Cond::default()
    }

    /// Both conditions at once; `None` when no packet can match both.
    pub(super) fn and(&self, o: &Cond) -> Option<Cond> {
        fn both<T: Clone + PartialEq>(a: &Option<T>, b: &Option<T>) -> Option<Option<T>> {
            match (a, b) {
                (None, x) | (x, None) => Some(x.clone()),
                (Some(x), Some(y)) if x == y => Some(Some(x.clone())),
                _ => None,
            }
        }
        let states = match (self.states, o.states) {
            (Some(a), Some(b)) if a & b == 0 => return None,
            (Some(a), Some(b)) => Some(a & b),
            (a, b) => a.or(b),
        };
        let src = match (self.src, o.src) {
            (Some(a), Some(b)) if a.covers(b) => Some(b),
            (Some(a), Some(b)) if b.covers(a) => Some(a),
            (Some(_), Some(_)) => return None,
            (a, b) => a.or(b),
        };
        let ports = match (&self.ports, &o.ports) {
            (Some(a), Some(b)) => Some(common_ports(a, b)?),
            (a, b) => a.clone().or(b.clone()),
        };
        Some(Cond {
            states,
            iif: both(&self.iif, &o.iif)?,
            src,
            dst_lo: self.dst_lo || o.dst_lo,
            proto: both(&self.proto, &o.proto)?,
            ports,
            icmp: both(&self.icmp, &o.icmp)?,
        })
    }

    /// Whether some packet can match both: [`Cond::and`] without building the result.
    pub(super) fn overlaps(&self, o: &Cond) -> bool {
        fn both<T: PartialEq>(a: &Option<T>, b: &Option<T>) -> bool {
            match (a, b) {
                (Some(x), Some(y)) => x == y,
                _ => true,
            }
        }
        let states = match (self.states, o.states) {
            (Some(a), Some(b)) => a & b != 0,
            _ => true,
        };
        let src = match (self.src, o.src) {
            (Some(a), Some(b)) => a.covers(b) || b.covers(a),
            _ => true,
        };
        let ports = match (&self.ports, &o.ports) {
            (Some(a), Some(b)) => a
                .iter()
                .any(|x| b.iter().any(|y| x.lo.max(y.lo) <= x.hi.min(y.hi))),
            _ => true,
        };
        states
            && src
            && ports
            && both(&self.iif, &o.iif)
            && both(&self.proto, &o.proto)
            && both(&self.icmp, &o.icmp)
    }
}

/// The ports in both lists, sorted and merged; None when there are none. (A rule lists at
/// most 15 ports, as iptables' multiport does, and merged lists stay that short through
/// nested jumps: this is never large.)
fn common_ports(a: &[PortRange], b: &[PortRange]) -> Option<Vec<PortRange>> {
    let mut v = Vec::new();
    for x in a {
        for y in b {
            let lo = x.lo.max(y.lo);
            let hi = x.hi.min(y.hi);
            if lo <= hi {
                v.push(PortRange { lo, hi });
            }
        }
    }
    v.sort_unstable();
    let mut merged: Vec<PortRange> = Vec::with_capacity(v.len());
    for r in v {
        match merged.last_mut() {
            Some(l) if r.lo <= l.hi => l.hi = l.hi.max(r.hi),
            _ => merged.push(r),
        }
    }
    (!merged.is_empty()).then_some(merged)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::Ipv4Addr;

    #[test]
    fn conditions_join() {
        let a = Cond {
            proto: Some(6),
            ports: Some(vec![PortRange { lo: 1, hi: 100 }]),
            ..Default::default()
        };
        let b = Cond {
            ports: Some(vec![PortRange::single(22), PortRange::single(200)]),
            ..Default::default()
        };
        assert_eq!(a.and(&b).unwrap().ports, Some(vec![PortRange::single(22)]));
        let c = Cond {
            proto: Some(17),
            ..Default::default()
        };
        assert!(!a.overlaps(&c));
        // overlaps is and().is_some(), without building the result
        let d = Cond {
            states: Some(2),
            iif: Some("eth0".into()),
            ..b.clone()
        };
        for (x, y) in [(&a, &b), (&a, &c), (&b, &c), (&a, &d), (&c, &d), (&d, &d)] {
            assert_eq!(x.overlaps(y), x.and(y).is_some(), "{x:?} {y:?}");
        }
    }

    #[test]
    fn sources_join_to_the_narrower() {
        let net = |a: [u8; 4], l| Cond {
            src: Some(Cidr::V4(Ipv4Addr::from(a), l)),
            ..Default::default()
        };
        let wide = net([10, 0, 0, 0], 8);
        let narrow = net([10, 1, 0, 0], 16);
        assert_eq!(wide.and(&narrow), Some(narrow.clone()));
        assert_eq!(narrow.and(&wide), Some(narrow.clone()));
        assert!(!narrow.overlaps(&net([10, 2, 0, 0], 16)));
    }
}
