//! The validated policy: what the admin asked for, with every value checked.
//!
//! Produced by [`crate::core::policy::parse`] from a TOML file; consumed by [`crate::core::compile`].
//! Pure data, no I/O.

use std::fmt;
use std::net::{Ipv4Addr, Ipv6Addr};

/// Where something was written in the policy file (1-based line and column).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct Loc {
    pub line: u32,
    pub col: u32,
}

impl fmt::Display for Loc {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.line, self.col)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Mode {
    /// The final rule drops everything not allowed.
    #[default]
    Enforce,
    /// The final rule counts and accepts: nothing is locked out while counters are checked.
    Audit,
}

impl Mode {
    pub fn as_str(self) -> &'static str {
        match self {
            Mode::Enforce => "enforce",
            Mode::Audit => "audit",
        }
    }
}

/// The stateful baseline; every part is on by default.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Baseline {
    /// `ct state established,related accept`
    pub established: bool,
    /// `ct state invalid drop`
    pub invalid_drop: bool,
    /// `iif lo accept`
    pub loopback: bool,
    /// `meta l4proto icmp accept` (all ICMPv4)
    pub icmp: bool,
    /// the ICMPv6 types IPv6 cannot work without (errors, echo, MLD, router and neighbour discovery)
    pub icmpv6: bool,
}

impl Default for Baseline {
    fn default() -> Self {
        Baseline {
            established: true,
            invalid_drop: true,
            loopback: true,
            icmp: true,
            icmpv6: true,
        }
    }
}

/// An inclusive port range; a single port has `lo == hi`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct PortRange {
    pub lo: u16,
    pub hi: u16,
}

impl PortRange {
    pub fn single(p: u16) -> Self {
        PortRange { lo: p, hi: p }
    }
}

impl fmt::Display for PortRange {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.lo == self.hi {
            write!(f, "{}", self.lo)
        } else {
            write!(f, "{}-{}", self.lo, self.hi)
        }
    }
}

/// A source network with its host bits cleared (validation refuses host bits).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Cidr {
    V4(Ipv4Addr, u8),
    V6(Ipv6Addr, u8),
}

impl fmt::Display for Cidr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Cidr::V4(a, 32) => write!(f, "{a}"),
            Cidr::V6(a, 128) => write!(f, "{a}"),
            Cidr::V4(a, l) => write!(f, "{a}/{l}"),
            Cidr::V6(a, l) => write!(f, "{a}/{l}"),
        }
    }
}

/// The one CIDR helper: masks, containment and intervals of a [`Cidr`], for IPv4 and IPv6.
impl Cidr {
    /// The network mask of a `len`-bit prefix in an address of `bits` bits (32 or 128).
    pub fn mask(len: u8, bits: u32) -> u128 {
        let all = if bits >= 128 {
            u128::MAX
        } else {
            (1u128 << bits) - 1
        };
        all & !(all.checked_shr(u32::from(len)).unwrap_or(0))
    }

    /// The mask of a prefix as `len_bytes` big-endian bytes (4 or 16), as the kernel compares it.
    pub fn mask_bytes(prefix: u8, len_bytes: usize) -> Vec<u8> {
        let m = Self::mask(prefix, (len_bytes * 8) as u32);
        m.to_be_bytes()[16 - len_bytes..].to_vec()
    }

    /// The prefix length of a contiguous mask (`255.255.255.0` → 24), None when it has holes.
    pub fn prefix_of_mask(mask: &[u8]) -> Option<u8> {
        let ones: u32 = mask.iter().map(|b| b.count_ones()).sum();
        (Self::mask_bytes(ones as u8, mask.len()) == mask).then_some(ones as u8)
    }

    /// (family 4 or 6, first address, last address)
    pub fn interval(self) -> (u8, u128, u128) {
        match self {
            Cidr::V4(a, l) => {
                let lo = u128::from(u32::from(a));
                (4, lo, lo | (!Self::mask(l, 32) & u128::from(u32::MAX)))
            }
            Cidr::V6(a, l) => {
                let lo = u128::from(a);
                (6, lo, lo | !Self::mask(l, 128))
            }
        }
    }

    /// Whether `addr` is inside this network (never across families).
    pub fn contains(self, addr: std::net::IpAddr) -> bool {
        let (fam, lo, hi) = self.interval();
        let v = match addr {
            std::net::IpAddr::V4(a) if fam == 4 => u128::from(u32::from(a)),
            std::net::IpAddr::V6(a) if fam == 6 => u128::from(a),
            _ => return false,
        };
        lo <= v && v <= hi
    }

    /// Whether this network holds all of `inner` (never across families).
    pub fn covers(self, inner: Cidr) -> bool {
        let (fa, la, ha) = self.interval();
        let (fb, lb, hb) = inner.interval();
        fa == fb && la <= lb && hb <= ha
    }
}

/// How a rejected connection is answered.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RejectWith {
    /// TCP reset for TCP ports, ICMP(v6) port unreachable for UDP ports.
    Default,
    /// `tcp-reset`: only valid when the entry has TCP ports only.
    TcpReset,
    /// An ICMP/ICMPv6 unreachable of the given kind, for TCP and UDP alike.
    Icmp(IcmpReject),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IcmpReject {
    PortUnreachable,
    HostUnreachable,
    AdminProhibited,
    NoRoute,
}

impl IcmpReject {
    pub fn as_str(self) -> &'static str {
        match self {
            IcmpReject::PortUnreachable => "port-unreachable",
            IcmpReject::HostUnreachable => "host-unreachable",
            IcmpReject::AdminProhibited => "admin-prohibited",
            IcmpReject::NoRoute => "no-route",
        }
    }
}

/// One `[[allow]]` or `[[reject]]` entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Service {
    pub name: String,
    /// where the entry's `name` was written
    pub loc: Loc,
    pub tcp: Vec<PortRange>,
    pub udp: Vec<PortRange>,
    /// empty = from anywhere
    pub from: Vec<Cidr>,
    /// ICMPv4 types (`icmp type N`); empty = none
    pub icmp: Vec<u8>,
    /// input interface name (`iifname "eth0"`); None = any interface
    pub iif: Option<String>,
    /// `from_set = "banned"`: sources are the members of this live set (`[[set]]`)
    pub from_set: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reject {
    pub service: Service,
    pub with: RejectWith,
}

/// What the last rule does with everything not allowed, in enforce mode.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Final {
    /// `drop`: silence (the default)
    #[default]
    Drop,
    /// `reject with icmpx <kind>`: an ICMP/ICMPv6 error, as iptables' `-j REJECT` does
    Reject(IcmpReject),
}

impl Final {
    pub fn as_str(self) -> &'static str {
        match self {
            Final::Drop => "drop",
            Final::Reject(kind) => kind.as_str(),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Policy {
    pub mode: Mode,
    pub baseline: Baseline,
    /// `[[set]]`: live sets, whose members change at run time
    pub sets: Vec<LiveSetDecl>,
    /// `[[block]]`: dropped before the established rule, so a blocked source loses its open
    /// connections too
    pub block: Vec<Service>,
    pub allow: Vec<Service>,
    pub reject: Vec<Reject>,
    /// the final rule in enforce mode (audit mode always counts and accepts)
    pub final_rule: Final,
}

/// One `[[set]]`: a live set of IPv4 and IPv6 addresses or networks.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LiveSetDecl {
    pub name: String,
    pub loc: Loc,
    /// default lifetime of members added at run time, in seconds; None = until deleted
    pub timeout: Option<u64>,
}

/// Parses a duration as statewall writes them: `90s`, `10m`, `1h`, `2d`, `1h30m`, or plain
/// seconds (`600`). At least one second, at most ten years. The one duration syntax of
/// statewall (confirm windows, set timeouts).
pub fn parse_duration(text: &str) -> Result<u64, String> {
    const MAX: u64 = 10 * 365 * 86_400;
    let t = text.trim();
    if t.is_empty() {
        return Err("an empty duration".into());
    }
    if t.bytes().all(|b| b.is_ascii_digit()) {
        return match t.parse::<u64>() {
            Ok(n) if (1..=MAX).contains(&n) => Ok(n),
            _ => Err(format!("{t:?} is out of range (1 second to 10 years)")),
        };
    }
    let mut total: u64 = 0;
    let mut digits = String::new();
    let mut units = 0;
    for c in t.chars() {
        if c.is_ascii_digit() {
            if digits.len() >= 12 {
                return Err(format!("{t:?} is out of range (1 second to 10 years)"));
            }
            digits.push(c);
            continue;
        }
        let unit = match c {
            's' => 1,
            'm' => 60,
            'h' => 3600,
            'd' => 86_400,
            _ => {
                return Err(format!(
                    "{t:?} is not a duration (write e.g. 90s, 10m, 1h, 2d or 1h30m)"
                ));
            }
        };
        let n: u64 = digits.parse().map_err(|_| {
            format!("{t:?} is not a duration (write e.g. 90s, 10m, 1h, 2d or 1h30m)")
        })?;
        digits.clear();
        units += 1;
        total = total.saturating_add(n.saturating_mul(unit));
    }
    if !digits.is_empty() || units == 0 {
        return Err(format!(
            "{t:?} is not a duration: a number needs a unit (s, m, h, d)"
        ));
    }
    if !(1..=MAX).contains(&total) {
        return Err(format!("{t:?} is out of range (1 second to 10 years)"));
    }
    Ok(total)
}

/// ICMPv4 type names as iptables (`--icmp-type`) and nft know them.
pub const ICMP_TYPES: &[(&str, u8)] = &[
    ("echo-reply", 0),
    ("destination-unreachable", 3),
    ("source-quench", 4),
    ("redirect", 5),
    ("echo-request", 8),
    ("router-advertisement", 9),
    ("router-solicitation", 10),
    ("time-exceeded", 11),
    ("parameter-problem", 12),
    ("timestamp-request", 13),
    ("timestamp-reply", 14),
    ("info-request", 15),
    ("info-reply", 16),
    ("address-mask-request", 17),
    ("address-mask-reply", 18),
];

/// The name of an ICMPv4 type, if it has one.
pub fn icmp_type_name(t: u8) -> Option<&'static str> {
    ICMP_TYPES.iter().find(|(_, n)| *n == t).map(|(s, _)| *s)
}

/// An interface name the kernel would accept: 1-15 bytes, not `.`/`..`, no `/`, `:`,
/// whitespace, NUL, quotes, backslash or the wildcard `*`.
pub fn valid_ifname(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 15
        && s != "."
        && s != ".."
        && s.chars()
            .all(|c| c.is_ascii_graphic() && !matches!(c, '/' | ':' | '"' | '\\' | '*'))
}

#[cfg(test)]
mod tests {
    use super::Cidr;

    fn net(s: &str) -> Cidr {
        let (a, l) = s.split_once('/').unwrap();
        match a.parse().unwrap() {
            std::net::IpAddr::V4(a) => Cidr::V4(a, l.parse().unwrap()),
            std::net::IpAddr::V6(a) => Cidr::V6(a, l.parse().unwrap()),
        }
    }

    #[test]
    fn durations() {
        use super::parse_duration as d;
        assert_eq!(d("600"), Ok(600));
        assert_eq!(d("90s"), Ok(90));
        assert_eq!(d("10m"), Ok(600));
        assert_eq!(d("1h30m"), Ok(5400));
        assert_eq!(d("2d"), Ok(172_800));
        for bad in [
            "",
            "0",
            "0s",
            "1x",
            "h",
            "1h30",
            "-5s",
            "99999999999999999999s",
            "3651d",
        ] {
            assert!(d(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn masks_containment_and_cover() {
        assert_eq!(Cidr::mask_bytes(24, 4), vec![255, 255, 255, 0]);
        assert_eq!(Cidr::mask_bytes(0, 4), vec![0; 4]);
        assert_eq!(Cidr::mask_bytes(32, 4), vec![255; 4]);
        assert_eq!(Cidr::mask_bytes(65, 16)[8], 0x80);
        assert_eq!(Cidr::mask_bytes(128, 16), vec![255; 16]);
        assert_eq!(Cidr::prefix_of_mask(&[255, 255, 240, 0]), Some(20));
        assert_eq!(Cidr::prefix_of_mask(&[255, 0, 255, 0]), None);
        assert!(net("10.0.0.0/8").contains("10.200.1.1".parse().unwrap()));
        assert!(!net("10.0.0.0/8").contains("11.0.0.1".parse().unwrap()));
        assert!(!net("0.0.0.0/0").contains("::1".parse().unwrap()));
        assert!(net("::/0").contains("2001:db8::1".parse().unwrap()));
        assert!(net("10.0.0.0/8").covers(net("10.1.0.0/16")));
        assert!(!net("10.1.0.0/16").covers(net("10.0.0.0/8")));
        assert!(!net("0.0.0.0/0").covers(net("::/0")));
        assert_eq!(net("192.0.2.0/24").interval().2, u128::from(0xc000_02ffu32));
    }
}
