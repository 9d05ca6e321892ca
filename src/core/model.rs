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
    pub allow: Vec<Service>,
    pub reject: Vec<Reject>,
    /// the final rule in enforce mode (audit mode always counts and accepts)
    pub final_rule: Final,
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
