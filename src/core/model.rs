//! The validated policy: what the admin asked for, with every value checked.
//!
//! Produced by [`crate::core::policy::parse`] from a TOML file; consumed by [`crate::core::compile`].
//! Pure data, no I/O.

use std::fmt;
use std::net::{Ipv4Addr, Ipv6Addr};

mod block_state;
mod icmp;
pub use block_state::BlockState;
pub use icmp::*;

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
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Cidr {
    V4(Ipv4Addr, u8),
    V6(Ipv6Addr, u8),
}

/// IPv4 before IPv6, then by address, then by prefix length: the order a derive would give,
/// compared as integers (sets of 100,000 networks are sorted and checked in order on every
/// apply).
impl Ord for Cidr {
    #[inline]
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        let key = |c: &Cidr| match *c {
            Cidr::V4(a, l) => (0u8, u128::from(u32::from(a)), l),
            Cidr::V6(a, l) => (1u8, u128::from(a), l),
        };
        key(self).cmp(&key(other))
    }
}

impl PartialOrd for Cidr {
    #[inline]
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
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

    /// Whether `nets` names networks and all of them are IPv4: a match on them confines an
    /// entry to IPv4 (an empty list confines nothing).
    pub fn all_v4(nets: &[Cidr]) -> bool {
        !nets.is_empty() && nets.iter().all(|n| matches!(n, Cidr::V4(..)))
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

/// The ICMP error a reject answers with. The first four are nf_tables' `icmpx` kinds, one
/// meaning for both families. The last three are iptables' `--reject-with` codes that icmpx
/// cannot say: an ICMPv4 code of their own, and for IPv6 the ip6tables counterpart
/// (`icmp6-adm-prohibited` for the prohibited ones, as RHEL pairs them;
/// `icmp6-port-unreachable` for proto-unreachable: ICMPv6 has no protocol unreachable, and
/// nf_tables cannot send its parameter problem). [`IcmpReject::codes`] has them all.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IcmpReject {
    PortUnreachable,
    HostUnreachable,
    AdminProhibited,
    NoRoute,
    /// ICMP type 3 code 10 (`icmp-host-prohibited`, RHEL/CentOS's default reject)
    HostProhibited,
    /// ICMP type 3 code 9 (`icmp-net-prohibited`)
    NetProhibited,
    /// ICMP type 3 code 2 (`icmp-proto-unreachable`, the Arch wiki's catch-all)
    ProtoUnreachable,
}

impl IcmpReject {
    /// Every kind, in the order the policy documents them.
    pub const ALL: [IcmpReject; 7] = [
        IcmpReject::PortUnreachable,
        IcmpReject::HostUnreachable,
        IcmpReject::AdminProhibited,
        IcmpReject::NoRoute,
        IcmpReject::HostProhibited,
        IcmpReject::NetProhibited,
        IcmpReject::ProtoUnreachable,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            IcmpReject::PortUnreachable => "port-unreachable",
            IcmpReject::HostUnreachable => "host-unreachable",
            IcmpReject::AdminProhibited => "admin-prohibited",
            IcmpReject::NoRoute => "no-route",
            IcmpReject::HostProhibited => "host-prohibited",
            IcmpReject::NetProhibited => "net-prohibited",
            IcmpReject::ProtoUnreachable => "proto-unreachable",
        }
    }

    /// The destination-unreachable codes the kind answers with: (ICMP, ICMPv6). For the
    /// icmpx kinds these are the kernel's icmpx translation (nft_reject's tables).
    pub fn codes(self) -> (u8, u8) {
        match self {
            IcmpReject::PortUnreachable => (3, 4),
            IcmpReject::HostUnreachable => (1, 3),
            IcmpReject::AdminProhibited => (13, 1),
            IcmpReject::NoRoute => (0, 0),
            IcmpReject::HostProhibited => (10, 1),
            IcmpReject::NetProhibited => (9, 1),
            IcmpReject::ProtoUnreachable => (2, 4),
        }
    }

    /// The code for one family (`v6`).
    pub fn code(self, v6: bool) -> u8 {
        let (v4, v6code) = self.codes();
        if v6 { v6code } else { v4 }
    }

    /// Whether nf_tables' icmpx says the kind; the others are `reject with icmp`/`icmpv6`
    /// with their code, only meaningful in a rule of one family (`meta nfproto`).
    pub fn icmpx(self) -> bool {
        matches!(
            self,
            IcmpReject::PortUnreachable
                | IcmpReject::HostUnreachable
                | IcmpReject::AdminProhibited
                | IcmpReject::NoRoute
        )
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
    /// that live set holds single addresses only (`networks = false`)
    pub from_set_hosts: bool,
    /// the matches of issue 10 (destinations, exceptions, output interface, source ports,
    /// protocols, ICMP codes, ICMPv6, TCP flags); all empty for an entry that uses none
    pub more: More,
}

/// An entry's matches beyond ports, sources and the input interface. Empty (the default)
/// for an entry that uses none of them, which then compiles exactly as before they existed.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct More {
    /// `to`: destinations; empty = any
    pub to: Vec<Cidr>,
    /// `except_from`: sources the entry does not match (`ip saddr != …`)
    pub except_from: Vec<Cidr>,
    /// `except_to`: destinations the entry does not match
    pub except_to: Vec<Cidr>,
    /// `oif`: output interface name, or a prefix wildcard ending in `*`
    pub oif: Option<String>,
    /// `tcp_sport`, `udp_sport`: source ports
    pub tcp_sport: Vec<PortRange>,
    pub udp_sport: Vec<PortRange>,
    /// `protocol`: whole IP protocols by number (esp = 50, gre = 47…); `except_protocol`:
    /// every protocol but these (`meta l4proto != 6`, one each), on an entry that names none
    pub protocol: Vec<u8>,
    pub except_protocol: Vec<u8>,
    /// `icmp` entries written with a code (`"3/4"`): (type, code)
    pub icmp_codes: Vec<(u8, u8)>,
    /// `icmpv6`: ICMPv6 types, each with a code or not
    pub icmpv6: Vec<(u8, Option<u8>)>,
    /// `tcp_flags`: (mask, value) pairs, each one rule (`tcp flags value / mask`)
    pub tcp_flags: Vec<(u8, u8)>,
    /// `published`: (protocol, original destination ports) of DNAT'ed connections (`ct
    /// original proto-dst`); protocol 0 (`published_any`): of a connection of any protocol,
    /// as the kernel keeps it in the connection's tuple (an ICMP one's type × 256 + code);
    /// `dnat`: only those, to any port (`ct status dnat`)
    pub published: Vec<(u8, PortRange)>,
    pub dnat: bool,
    /// `published_to`: the destination addresses a connection had before the kernel DNAT'ed
    /// it, any of these (`ct original ip daddr 192.0.2.1`, one rule each: iptables'
    /// `--ctorigdst`); each rule is of its address's family
    pub published_to: Vec<Cidr>,
    /// `published_from`: the source addresses of a connection's first packet, any of these
    /// (`ct original ip saddr 192.0.2.0/24`, one rule each: iptables' `--ctorigsrc`); a
    /// reply's connection is from the address that opened it
    pub published_from: Vec<Cidr>,
    /// `connection_protocol`: the protocol of the packet's connection, any of these (`ct
    /// protocol 6`, one rule each: iptables' `--ctproto`); an ICMP error the kernel relates
    /// to a TCP connection is of TCP
    pub connection_protocol: Vec<u8>,
    /// `except_tcp`, `except_udp`: destination ports the entry does not match (`th dport !=
    /// 80`, one each); alone they name their protocol (every port but these)
    pub except_tcp: Vec<PortRange>,
    pub except_udp: Vec<PortRange>,
    /// `except_tcp_sport`, `except_udp_sport`: source ports the entry does not match
    pub except_tcp_sport: Vec<PortRange>,
    pub except_udp_sport: Vec<PortRange>,
    /// `except_icmp`, `except_icmpv6`: ICMP (ICMPv6) types the entry does not match (`icmp
    /// type != 8`, one `!=` each); they name their protocol (every type but these)
    pub except_icmp: Vec<u8>,
    pub except_icmpv6: Vec<u8>,
    /// `state`: the connection states an allow matches (`ct state established,related`), in
    /// a section without the established rule; None = that section's stateless allow
    pub state: Option<crate::core::plan::CtStates>,
    /// `limit`: what exceeds it gets `over` (before the entry's own rule); several (at most
    /// [`LIMITS_MAX`], none `over = "continue"`) are each a rule of their own, in order
    pub limit: Vec<Limit>,
    /// `connections`: an allow's concurrent connections at most (per source or in all); a
    /// NEW one beyond them gets `over` (before the entry's own rule)
    pub connections: Option<ConnLimit>,
    /// `log`: a rate-limited log rule before the entry's rules
    pub log: Option<Log>,
    /// `except_iif`, `except_oif`: interfaces (names or prefix wildcards) the entry does not
    /// match (`iifname != "lo"`, each one `!=`)
    pub except_iif: Vec<String>,
    pub except_oif: Vec<String>,
    /// `to_type`, `from_type`: the routing table's type of the destination / source address
    /// (`RTN_*`, [`crate::core::addrtype::ADDR_TYPES`]), any of these (`fib daddr type local`, one rule per type);
    /// `except_to_type`, `except_from_type`: none of these (`fib saddr type != broadcast`)
    pub to_type: Vec<u8>,
    pub from_type: Vec<u8>,
    pub except_to_type: Vec<u8>,
    pub except_from_type: Vec<u8>,
    /// `pkttype`: the link layer's packet type (`PACKET_*`, [`crate::core::pkttype::PKT_TYPES`]:
    /// unicast, broadcast, multicast), any of these (`meta pkttype broadcast`, one rule per
    /// type); `except_pkttype`: none of these (`meta pkttype != multicast`)
    pub pkttype: Vec<u8>,
    pub except_pkttype: Vec<u8>,
    /// `ipsec_in`: the packet arrived IPsec-protected (true: the kernel decrypted it, `meta
    /// ipsec exists`) or in the clear (false: `meta ipsec missing`); input and forward only.
    /// `ipsec_out`: its route leads into an IPsec policy, so it leaves encrypted (true: `rt
    /// ipsec exists`), or not (false: `rt ipsec missing`); forward and output only. iptables'
    /// `-m policy --dir in|out --pol ipsec|none`.
    pub ipsec_in: Option<bool>,
    pub ipsec_out: Option<bool>,
    /// `rt_type`: the type of an IPv6 packet's routing header, any of these (`rt type 0`, one
    /// rule per type; the entry matches IPv6 only); `except_rt_type`: a routing header of none
    /// of these (`rt type != 0`). A packet without a routing header matches neither.
    pub rt_type: Vec<u8>,
    pub except_rt_type: Vec<u8>,
    /// `tcp_option`: a TCP option kind the segment carries, any of these (`tcp option 64
    /// exists`, one rule per kind); `except_tcp_option`: kinds it does not carry (`tcp option
    /// 64 missing`). Either alone means every TCP packet (as `except_tcp` does).
    pub tcp_option: Vec<u8>,
    pub except_tcp_option: Vec<u8>,
    /// `tcp_mss`: the value of the MSS option a TCP segment carries, in any of these ranges
    /// (`tcp option maxseg size 536-65535`, one rule per range); `except_tcp_mss`: a segment
    /// without the option, or with one in none of these ranges (iptables' `-m tcpmss !
    /// --mss`: `tcp option maxseg missing`, and `… size != …` each). Either alone means every
    /// TCP packet (as `except_tcp` does).
    pub tcp_mss: Vec<(u16, u16)>,
    pub except_tcp_mss: Vec<(u16, u16)>,
    /// `mac`: the source MAC address of the ethernet frame the packet arrived in, any of
    /// these (`ether saddr 02:00:00:00:00:01`, one rule per address; nft checks `meta iiftype
    /// ether` first); `except_mac`: none of these (`ether saddr != …`). A packet that did not
    /// arrive on an ethernet device matches neither (xt_mac). Input and forward only.
    pub mac: Vec<[u8; 6]>,
    pub except_mac: Vec<[u8; 6]>,
    /// `uid`, `gid`: the user (group) owning the socket a packet the host sends leaves from,
    /// any of these (`meta skuid 1000`, one rule per id); `except_uid`, `except_gid`: none of
    /// these (`meta skuid != 0`). A packet without a socket (a reset or ICMP error the kernel
    /// makes) matches neither (xt_owner). Output only.
    pub uid: Vec<u32>,
    pub except_uid: Vec<u32>,
    pub gid: Vec<u32>,
    pub except_gid: Vec<u32>,
    /// `length`: the packet's length from its IP header on (`meta length`, as `-m length`
    /// compares), any of these ranges (one rule per range); `except_length`: none of these
    pub length: Vec<(u16, u16)>,
    pub except_length: Vec<(u16, u16)>,
    /// `ttl`: the IPv4 TTL or the IPv6 hop limit (the same field, named per family: `ip
    /// ttl`, `ip6 hoplimit`), in any of these ranges (`64`, `"<64"`, `">64"`, `"6-9"`; one
    /// rule per range and family); `except_ttl`: in none of them
    pub ttl: Vec<(u8, u8)>,
    pub except_ttl: Vec<(u8, u8)>,
    /// `contains`: the packet's bytes hold any of these patterns (one rule each; `xt match
    /// string`), `except_contains`: none; `u32`: any of these tests of words at computed
    /// offsets holds (one rule each; IPv4 only: `xt match u32`), `except_u32`: none does
    pub contains: Vec<crate::core::payload::Pattern>,
    pub except_contains: Vec<crate::core::payload::Pattern>,
    pub u32: Vec<crate::core::u32::U32>,
    pub except_u32: Vec<crate::core::u32::U32>,
    /// `mark`: the packet's mark (set by other programs) under a mask is any of these
    /// values (value, mask; one rule each: `meta mark 0x0000ca6c`); `except_mark`: none
    pub mark: Vec<(u32, u32)>,
    pub except_mark: Vec<(u32, u32)>,
    /// `helper`: the connection is one a conntrack helper of any of these names expected
    /// (its master's helper: an FTP session's data connections under `ftp`; one rule each,
    /// `xt match helper`); `except_helper`: of none of them
    pub helper: Vec<crate::core::cthelper::HelperName>,
    pub except_helper: Vec<crate::core::cthelper::HelperName>,
    /// `hours`, `days`, `since`, `until`: when the entry matches, by the kernel's clock
    /// (`meta hour`, `meta day`, `meta time`; one rule per range of days)
    pub clock: Option<crate::core::clock::Clock>,
    /// `add_to_set` (a block or reject): each packet the entry's rules decide adds its
    /// source to these live sets of single addresses, or renews its lifetime there (`update
    /// @ip4_<set> { ip saddr }`, iptables' `-m recent --set`)
    pub add_to_set: Vec<String>,
    /// `remove_from_set` (a block or reject): each packet the entry's rules decide takes its
    /// source out of these live sets (`delete @ip4_<set> { ip saddr }`, iptables' `-m recent
    /// --remove`)
    pub remove_from_set: Vec<String>,
    /// `refresh = true` (a block with `from_set`): each packet it blocks renews its source's
    /// lifetime in that set (iptables' `-m recent --update`)
    pub refresh: bool,
}

impl More {
    /// Whether the entry names a protocol other than through tcp/udp ports and icmp types.
    pub fn has_protocols(&self) -> bool {
        !self.tcp_sport.is_empty()
            || !self.udp_sport.is_empty()
            || !self.protocol.is_empty()
            || !self.icmp_codes.is_empty()
            || !self.icmpv6.is_empty()
            || !self.tcp_flags.is_empty()
            || !self.published.is_empty()
            || !self.except_tcp.is_empty()
            || !self.except_udp.is_empty()
            || !self.except_tcp_sport.is_empty()
            || !self.except_udp_sport.is_empty()
            || !self.except_icmp.is_empty()
            || !self.except_icmpv6.is_empty()
            || crate::core::exthdr::has_tcp_options(self)
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reject {
    pub service: Service,
    pub with: RejectWith,
}

/// Where a `[[block]]` entry's rules go in its section's fixed order.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum BlockAt {
    /// before everything, the established rule included: a blocked source loses its open
    /// connections too (the default)
    #[default]
    First,
    /// `after = "established"`: after the established and invalid rules, before loopback,
    /// icmp and the allows (open connections keep going)
    Established,
    /// `after = "baseline"`: after the whole baseline (established, invalid, loopback, icmp,
    /// icmpv6), before the allows
    Baseline,
    /// `after = "<allow name>"`: right after that allow entry's rules (of the same section),
    /// before the next allow's; several blocks after one allow go in the order written
    Allow(String),
    /// `after = "allows"`: after the allows, before the rejects
    Allows,
}

impl BlockAt {
    /// The places a keyword names (not `Allow`, which names an entry).
    pub const PLACES: [BlockAt; 4] = [
        BlockAt::First,
        BlockAt::Established,
        BlockAt::Baseline,
        BlockAt::Allows,
    ];

    /// The `after` value that says it (None: the default, written without `after`).
    pub fn after(&self) -> Option<&str> {
        match self {
            BlockAt::First => None,
            BlockAt::Established => Some("established"),
            BlockAt::Baseline => Some("baseline"),
            BlockAt::Allow(name) => Some(name),
            BlockAt::Allows => Some("allows"),
        }
    }

    /// Whether `word` is one of the place keywords of `after` (an allow of that name cannot
    /// be named there).
    pub fn is_keyword(word: &str) -> bool {
        matches!(word, "established" | "baseline" | "allows")
    }
}

/// One `[[block]]` entry: what it matches, what it does with it (`with`: None drops, as
/// blocks always did; Some answers as a `[[reject]]` with that `with` does), and where its
/// rules go (`after`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Block {
    pub service: Service,
    pub with: Option<RejectWith>,
    pub at: BlockAt,
    /// `state = "new"` or `"invalid"`: the block's rules match those packets only (`ct state
    /// new`, `ct state invalid`), or a list of states (`ct state new,established,related`);
    /// None: every packet
    pub state: Option<BlockState>,
}

/// What the last rule does with everything not allowed, in enforce mode.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Final {
    /// `drop`: silence (the default)
    #[default]
    Drop,
    /// an ICMP/ICMPv6 error, as iptables' `-j REJECT` does: `reject with icmpx <kind>`, or
    /// one rule per family for the kinds icmpx cannot say ([`IcmpReject::icmpx`])
    Reject(IcmpReject),
    /// `accept`: only in `[forward]` and `[output]` (the input chain has audit mode for that)
    Accept,
}

impl Final {
    pub fn as_str(self) -> &'static str {
        match self {
            Final::Drop => "drop",
            Final::Reject(kind) => kind.as_str(),
            Final::Accept => "accept",
        }
    }
}

/// A `[forward]` or `[output]` section: its own base chain, baseline, entries and final rule.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Section {
    /// `loopback` is always false in forward (no packet is forwarded to loopback)
    pub baseline: Baseline,
    pub block: Vec<Block>,
    pub allow: Vec<Service>,
    pub reject: Vec<Reject>,
    pub final_rule: Final,
    /// `log_final`: a log rule right before the final rule
    pub log_final: Option<Log>,
    /// `clamp_mss`: the MSS option of TCP SYNs lowered to the route's (or to a value), first
    /// in the chain, as iptables' `-j TCPMSS`
    pub clamp_mss: Option<Mss>,
    /// `[[<hook>.clamp]]`: the SYNs an entry's matches say (its `tcp_flags`, `syn/syn,rst`
    /// when it gives none) get their MSS option lowered, right after `clamp_mss`, in order
    pub clamp: Vec<Clamp>,
}

/// A `[[forward.clamp]]` (or `[[output.clamp]]`) entry: iptables' `-j TCPMSS` with matches
/// (`-o ppp0`, `-s 10.8.0.0/24 --syn`, `-m tcpmss --mss 1400:1536`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Clamp {
    pub service: Service,
    /// what the MSS option is lowered to
    pub mss: Mss,
}

/// The TCP flags of the SYNs `clamp_mss` (and a clamp entry without `tcp_flags`) takes, as
/// (mask, value): SYN set, RST not — SYN-ACKs too (iptables' `--tcp-flags SYN,RST SYN`).
pub const CLAMP_FLAGS: (u8, u8) = (0x06, 0x02);

/// The smallest MSS `clamp_mss` takes: a connection's segments carry at least this much
/// (IPv4's minimum MTU, 576, less 40 bytes of headers).
pub const MSS_MIN: u16 = 536;

/// What `clamp_mss` lowers a SYN's MSS option to (never raising it: the kernel writes a new
/// value only when it is smaller, as xt_TCPMSS does).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Mss {
    /// the MTU of the route, both ways, less the IP and TCP headers (`rt mtu`, iptables'
    /// `--clamp-mss-to-pmtu`)
    Pmtu,
    /// a fixed value (iptables' `--set-mss`)
    Value(u16),
}

#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Policy {
    pub mode: Mode,
    pub baseline: Baseline,
    /// `[[set]]`: live sets, whose members change at run time
    pub sets: Vec<LiveSetDecl>,
    /// `[[block]]`: dropped before the established rule, so a blocked source loses its open
    /// connections too (unless `after` places them later; `with` may reject instead)
    pub block: Vec<Block>,
    pub allow: Vec<Service>,
    pub reject: Vec<Reject>,
    /// the final rule in enforce mode (audit mode always counts and accepts)
    pub final_rule: Final,
    /// `log_final`: a log rule right before the input chain's final rule
    pub log_final: Option<Log>,
    /// `[forward]`: None = statewall does not hook forward
    pub forward: Option<Section>,
    /// `[output]`: None = statewall does not hook output
    pub output: Option<Section>,
}

/// One `[[set]]`: a live set of IPv4 and IPv6 addresses or networks.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LiveSetDecl {
    pub name: String,
    pub loc: Loc,
    /// default lifetime of members added at run time, in seconds; None = until deleted
    pub timeout: Option<u64>,
    /// members may be networks (interval sets, the default); `networks = false`: single
    /// addresses only, in hash sets that other tools can fill with plain element adds
    pub networks: bool,
}

/// The units nft prints a rate in (`limit rate 12/minute`): the kernel takes any number of
/// seconds, but nft shows only these, so a rate is kept in one of them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum RateUnit {
    Second,
    Minute,
    Hour,
    Day,
    Week,
}

impl RateUnit {
    pub const ALL: [RateUnit; 5] = [
        RateUnit::Second,
        RateUnit::Minute,
        RateUnit::Hour,
        RateUnit::Day,
        RateUnit::Week,
    ];

    pub fn secs(self) -> u64 {
        match self {
            RateUnit::Second => 1,
            RateUnit::Minute => 60,
            RateUnit::Hour => 3600,
            RateUnit::Day => 86_400,
            RateUnit::Week => 604_800,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            RateUnit::Second => "second",
            RateUnit::Minute => "minute",
            RateUnit::Hour => "hour",
            RateUnit::Day => "day",
            RateUnit::Week => "week",
        }
    }

    pub fn from_secs(secs: u64) -> Option<RateUnit> {
        RateUnit::ALL.into_iter().find(|u| u.secs() == secs)
    }
}

/// A token bucket as the kernel's `limit` keeps it: `n` packets per `unit` refill it,
/// `burst` packets pass at once when it is full.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Rate {
    pub n: u32,
    pub unit: RateUnit,
    pub burst: u32,
}

/// The most packets per unit, and the largest burst, a rate may say.
pub const RATE_MAX: u32 = 1_000_000;

impl Rate {
    /// `"6/30s"`, `"5/minute"`, `"100/s"`, `"2/1h"`: N packets per period, the period a
    /// number with a unit (s, m, h, d, w, or second … week) or a unit alone. Kept as nft
    /// shows it: `6/30s` is `12/minute`; a rate no unit says in whole packets is refused.
    /// The burst is N (what the text says may arrive at once), unless set apart.
    pub fn parse(text: &str) -> Result<Rate, String> {
        let t = text.trim();
        let example = "write N/period, e.g. \"6/30s\", \"5/minute\" or \"100/s\"";
        let Some((n, period)) = t.split_once('/') else {
            return Err(format!("{t:?} is not a rate: {example}"));
        };
        let n: u32 = match n.trim().parse() {
            Ok(n) if (1..=RATE_MAX).contains(&n) => n,
            _ => {
                return Err(format!(
                    "{t:?}: the number of packets must be 1 to {RATE_MAX}"
                ));
            }
        };
        let period = period.trim();
        let digits = period.bytes().take_while(u8::is_ascii_digit).count();
        let (count, unit) = period.split_at(digits);
        let count: u64 = if count.is_empty() {
            1
        } else {
            match count.parse() {
                Ok(c) if (1..=1_000_000).contains(&c) => c,
                _ => return Err(format!("{t:?}: the period must be 1 to 1000000 units")),
            }
        };
        let unit_secs = match unit {
            "s" | "sec" | "second" | "seconds" => 1,
            "m" | "min" | "minute" | "minutes" => 60,
            "h" | "hour" | "hours" => 3600,
            "d" | "day" | "days" => 86_400,
            "w" | "week" | "weeks" => 604_800,
            _ => {
                return Err(format!(
                    "{t:?}: unknown unit {unit:?} (s, m, h, d, w or second … week): {example}"
                ));
            }
        };
        let period = count * unit_secs;
        let n64 = u64::from(n);
        for unit in RateUnit::ALL {
            let per = n64 * unit.secs();
            if per % period == 0 && per / period <= u64::from(RATE_MAX) {
                return Ok(Rate {
                    n: (per / period) as u32,
                    unit,
                    burst: n,
                });
            }
        }
        Err(format!(
            "{t:?} is no whole number of packets per second, minute, hour, day or week (the units nft shows): pick a period that makes one (6/30s is 12/minute, 1/90s is 40/hour)"
        ))
    }

    /// Seconds an empty bucket takes to fill up again: after that long without a packet a
    /// source's state is worth nothing (its bucket would be full anyway), so a per-source
    /// meter forgets it then.
    pub fn refill_secs(self) -> u64 {
        let total = u64::from(self.burst) * self.unit.secs();
        total.div_ceil(u64::from(self.n.max(1))).max(1)
    }
}

impl std::fmt::Display for Rate {
    /// As nft prints it after `limit rate`: `12/minute`, ` burst 6 packets` unless 5 (the
    /// kernel's default, which nft leaves out).
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/{}", self.n, self.unit.as_str())?;
        if self.burst != 5 {
            write!(f, " burst {} packets", self.burst)?;
        }
        Ok(())
    }
}

/// Whom a limit counts: the entry as a whole, or each source on its own (IPv4 sources by
/// their first `v4_prefix` bits, 32 unless a network counts as one; IPv6 sources by their
/// first `v6_prefix` bits: one host usually has a whole /64).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum LimitPer {
    Entry,
    Source { v4_prefix: u8, v6_prefix: u8 },
}

/// What happens to what exceeds a limit.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Over {
    Drop,
    /// a tcp reset for tcp, ICMP port unreachable otherwise (as `[[reject]]` answers)
    Reject,
    /// ICMP port unreachable, for tcp too (iptables' plain `-j REJECT`)
    PortUnreachable,
    /// nothing: the entry matches only what is within the rate, and what exceeds it goes on
    /// to the rules after the entry (iptables' `-m limit … -j ACCEPT`)
    Continue,
}

/// The most limits one entry takes (`limit = [{ … }, { … }]`): iptables' ssh brute-force
/// guards check one list at a few windows (3 in 10 s, 4 in 30 min), never many.
pub const LIMITS_MAX: usize = 4;

/// An entry's `limit`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Limit {
    pub rate: Rate,
    pub per: LimitPer,
    pub over: Over,
    /// `within = "continue"` (blocks and rejects): the entry takes only what exceeds the
    /// rate, with its own verdict, and what is within goes on to the rules after it (a
    /// syn-flood guard: iptables' `-m limit … -j RETURN` before a DROP); `over` is unused
    pub within_continues: bool,
    /// `meter = "NAME"` (per source): the buckets are those of a meter every entry naming it
    /// shares (iptables' `--hashlimit-name` of several rules), not the entry's own
    pub shared: Option<crate::core::plan::LiveName>,
    /// `forget = "10s"`: a source idle that long is forgotten and starts again with a full
    /// burst (iptables' `--hashlimit-htable-expire`); without it, once its bucket is full
    pub forget: Option<u64>,
    /// `counts = "protocol"`: the limit counts every packet of the entry's protocol (from
    /// its sources, on its interfaces) that reaches its rules, before their ports, ICMP
    /// types, TCP flags and states are checked, as iptables counts a rate match written
    /// before them (`-p udp -m hashlimit … -m udp --dport 53`); false (`"entry"`): only
    /// the entry's own packets
    pub early: bool,
}

/// An entry's `connections`: at most `max` connections at once, counted per source (IPv4 and
/// IPv6 sources by their prefixes) or for the entry as a whole. The kernel's
/// conntrack count (`ct count over N`, iptables' `-m connlimit --connlimit-above N`).
/// An allow's: a NEW connection beyond them gets `over` (drop, reject or port-unreachable,
/// never continue). A block's or a reject's (`within_continues`): the entry takes only the
/// packets of a source (or of all) with more connections than `max`, its own included, and
/// the rest go on to the rules after it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct ConnLimit {
    pub max: u32,
    pub per: LimitPer,
    pub over: Over,
    /// `within = "continue"` (blocks and rejects); `over` is then unused
    pub within_continues: bool,
}

/// The most connections `connections` takes (`max`): nft writes the count as 32 bits, but a
/// per-source set holds at most 65,535 sources, and no host keeps more from one.
pub const CONN_MAX: u32 = 65_535;

/// Where a log rule sends what it logs: the kernel log at a syslog level (0 emerg … 7
/// debug), or an nflog group for a userspace logger (ulogd).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum LogDest {
    Level(u8),
    Group(u16),
}

/// The syslog levels nft names, by number.
pub const LOG_LEVELS: [&str; 8] = [
    "emerg", "alert", "crit", "err", "warn", "notice", "info", "debug",
];

/// The longest log prefix statewall writes (the kernel keeps 127 bytes; iptables 29): short,
/// so that a rule stays small enough to pass around by value.
pub const LOG_PREFIX_MAX: usize = 48;

/// The default rate of a log rule: a few lines a minute, never a flood.
pub const LOG_RATE_DEFAULT: Rate = Rate {
    n: 5,
    unit: RateUnit::Minute,
    burst: 5,
};

/// `log` on an entry or on a section's final rule: what its log rule says, where, how often.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Log {
    /// None: `statewall <entry>: `
    pub prefix: Option<String>,
    pub dest: LogDest,
    pub rate: Rate,
}

/// Parses a duration as statewall writes them: `90s`, `10m`, `1h`, `2d`, `1h30m` (units from
/// the largest down, each once: `1h1h` or `30m1h` is a typo), or plain seconds (`600`). At
/// least one second, at most ten years. The one duration syntax of
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
    let mut last = u64::MAX;
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
        if unit >= last {
            return Err(format!(
                "{t:?} is not a duration: its units go from the largest down, each once (e.g. 1h30m)"
            ));
        }
        last = unit;
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

/// An interface name, or a wildcard (`br-*`: a prefix of 1-14 bytes, then `*`), as an
/// `iif`/`oif` key takes it.
pub fn valid_ifname_or_wildcard(s: &str) -> bool {
    match s.strip_suffix('*') {
        Some(prefix) => valid_ifname(prefix) && s.len() <= 15,
        None => valid_ifname(s),
    }
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
mod tests;
