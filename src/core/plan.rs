//! The compiled ruleset: exactly what is committed to the kernel, as plain data.
//!
//! [`crate::core::compile`] produces it from a policy, [`crate::core::render`] prints it as an nft
//! script, [`crate::codec::encode`] turns it into netlink messages, and
//! [`crate::codec::decode`] turns the kernel's rules back into it (readback).
//! The same type on both sides is what makes drift detection a plain comparison.

use crate::core::cthelper::HelperName;
use crate::core::model::{Cidr, IcmpReject, Loc, LogDest, Mode, PortRange, Rate};
use crate::core::payload::Pattern;

/// Protocol numbers used in `meta l4proto`.
pub const IPPROTO_ICMP: u8 = 1;
pub const IPPROTO_TCP: u8 = 6;
pub const IPPROTO_UDP: u8 = 17;
pub const IPPROTO_ICMPV6: u8 = 58;

/// The loopback device has this interface index in every network namespace
/// (`LOOPBACK_IFINDEX` in the kernel), so `iif lo` needs no lookup.
pub const LOOPBACK_IFINDEX: u32 = 1;

mod ifname;
mod livename;
mod tcpflags;

pub use ifname::{ifname_bytes, ifname_match, ifname_not_match, ifname_of, iifname};
pub use livename::{LiveName, live_set_kind, live_set_of};
pub use tcpflags::{TCP_FLAGS, tcp_flag_names};

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Plan {
    /// the `inet` table statewall owns
    pub table: String,
    pub mode: Mode,
    /// named interval sets the rules look up (created before the chains)
    pub sets: Vec<Set>,
    pub chains: Vec<Chain>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Chain {
    pub name: String,
    /// `Some` for a base chain (`type filter hook input priority 0; policy accept`)
    pub hook: Option<BaseHook>,
    pub rules: Vec<Rule>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BaseHook {
    pub hook: Hook,
    pub priority: i32,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Hook {
    Input,
    Forward,
    Output,
}

impl Hook {
    pub const ALL: [Hook; 3] = [Hook::Input, Hook::Forward, Hook::Output];

    pub fn as_str(self) -> &'static str {
        match self {
            Hook::Input => "input",
            Hook::Forward => "forward",
            Hook::Output => "output",
        }
    }

    /// The kernel's `NF_INET_*` hook number.
    pub fn number(self) -> u32 {
        match self {
            Hook::Input => 1,
            Hook::Forward => 2,
            Hook::Output => 3,
        }
    }

    pub fn from_number(n: u32) -> Option<Hook> {
        Hook::ALL.into_iter().find(|h| h.number() == n)
    }
}

/// One rule. Every rule has a counter; `comment` is stored in the rule's userdata and
/// maps counters back to the policy entry that made the rule.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rule {
    pub comment: String,
    /// where in the policy file this rule comes from (None for decoded kernel rules)
    pub origin: Option<Loc>,
    pub matches: Vec<Match>,
    pub verdict: Verdict,
}

/// Connection-tracking states, as the kernel's `NF_CT_STATE_*` bits.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CtStates(pub u32);

impl CtStates {
    pub const INVALID: u32 = 1;
    pub const ESTABLISHED: u32 = 1 << 1;
    pub const RELATED: u32 = 1 << 2;
    pub const NEW: u32 = 1 << 3;
    pub const UNTRACKED: u32 = 1 << 6;
    /// The states of packets without a connection: no connection's protocol, original
    /// addresses or ports, or DNAT, can be matched for them.
    pub const CONNECTIONLESS: u32 = Self::INVALID | Self::UNTRACKED;

    pub fn names(self) -> Vec<&'static str> {
        let mut v = Vec::new();
        for (bit, name) in [
            (Self::INVALID, "invalid"),
            (Self::ESTABLISHED, "established"),
            (Self::RELATED, "related"),
            (Self::NEW, "new"),
            (Self::UNTRACKED, "untracked"),
        ] {
            if self.0 & bit != 0 {
                v.push(name);
            }
        }
        v
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Match {
    /// `ct state` has any of these bits
    CtState(CtStates),
    /// `iif <index>` (only loopback is emitted)
    Iif(u32),
    /// `meta l4proto <n>`
    L4Proto(u8),
    /// `meta l4proto != <n>` (`except_protocol`: every protocol but this one)
    L4ProtoNot(u8),
    /// `ip saddr`/`ip6 saddr` in the network (implies the family)
    SrcNet(Cidr),
    /// `th dport <range>` (needs an `L4Proto` before it)
    DstPort(PortRange),
    /// `icmpv6 type <lo>-<hi>` (needs `L4Proto(58)` before it)
    Icmpv6Type { lo: u8, hi: u8 },
    /// `ip saddr @src4_<name>` / `ip6 saddr @src6_<name>`: the rule's own source set
    /// (its name follows from the rule's comment, see [`set_name`])
    SrcInSet { v6: bool },
    /// `th dport @tcp_<name>` / `@udp_<name>` (needs an `L4Proto` before it)
    DstPortInSet,
    /// audit mode: `update @audit_<key> { <key> }` — records what the final rule would
    /// drop (destination ports, sources) in a dynamic set with a counter per element
    Record(RecordKey),
    /// `icmp type <n>` (needs `L4Proto(1)` before it)
    IcmpType(u8),
    /// `icmp type != <t>` / `icmpv6 type != <t>`: an exception (`except_icmp`,
    /// `except_icmpv6`; needs `L4Proto(1)` or `L4Proto(58)` before it)
    IcmpTypeNot { v6: bool, ty: u8 },
    /// `iifname "<name>"`: the input interface's name, NUL-padded to `IFNAMSIZ` (16) bytes
    IifName([u8; 16]),
    /// `ip saddr @addr4_<name>` / `ip6 saddr @addr6_<name>`: the rule's own hash set of
    /// single addresses (its networks are in `SrcInSet`'s interval set)
    SrcInAddrs { v6: bool },
    /// `ip saddr @live4_<set>` / `ip6 saddr @live6_<set>`: a live set (`[[set]]`), whose
    /// members change at run time (`statewall set add`) and are not part of the plan
    SrcInLive { v6: bool, set: LiveName },
    /// `update @ip4_<set> { ip saddr }` / `update @ip6_<set> { ip6 saddr }`: the packet's
    /// source is added to a live set of single addresses, or its lifetime there renewed
    /// (`add_to_set`, a block's `refresh`); matches unless the set is full (implies the
    /// family). With `remove`, `delete @ip4_<set> { ip saddr }`: the source is taken out of
    /// the set (`remove_from_set`, iptables' `-m recent --remove`); matches every packet of
    /// the family, in the set or not.
    FeedLive {
        v6: bool,
        set: LiveName,
        remove: bool,
    },
    /// `ip daddr`/`ip6 daddr` in the network (implies the family)
    DstNet(Cidr),
    /// `ip daddr @dst4_<name>` / `ip6 daddr @dst6_<name>`: the rule's own destination set
    DstInSet { v6: bool },
    /// `ip saddr != <net>` / `ip6 saddr != <net>` (implies the family)
    SrcNetNot(Cidr),
    /// `ip daddr != <net>` / `ip6 daddr != <net>` (implies the family)
    DstNetNot(Cidr),
    /// `meta nfproto ipv4|ipv6`: the family alone, for a rule whose other matches do not imply it
    NfProto { v6: bool },
    /// `oif <index>` (only loopback is emitted)
    Oif(u32),
    /// `oifname "<name>"`, NUL-padded like [`Match::IifName`]
    OifName([u8; 16]),
    /// `iifname "<prefix>*"`: the bytes before the `*`, NUL-padded (compared without the NUL)
    IifWild([u8; 16]),
    /// `oifname "<prefix>*"`
    OifWild([u8; 16]),
    /// `th sport <range>` (needs an `L4Proto` before it)
    SrcPort(PortRange),
    /// `th sport @tsport_<name>` / `@usport_<name>` (needs an `L4Proto` before it)
    SrcPortInSet,
    /// `icmp type <t> icmp code <c>` (needs `L4Proto(1)` before it)
    IcmpTypeCode { ty: u8, code: u8 },
    /// `icmpv6 type <t> icmpv6 code <c>` (needs `L4Proto(58)` before it)
    Icmpv6TypeCode { ty: u8, code: u8 },
    /// `tcp flags <value> / <mask>` (needs `L4Proto(6)` before it)
    TcpFlags { mask: u8, value: u8 },
    /// `limit rate [over] <rate>`: the kernel's token bucket in this rule; `over` matches what
    /// exceeds it, else what is within it (a log rule's own limit; an entry's limit is a
    /// [`Match::Meter`], whose bucket all the entry's rules share)
    Limit { rate: Rate, over: bool },
    /// `update @meter4_<name> { ip saddr limit rate over <rate> }` (IPv6: `ip6 saddr &
    /// <prefix mask>`): a bucket per source in the entry's own dynamic set; matches what
    /// exceeds its source's rate (implies the family). `prefix` 0 (`ip saddr & 0.0.0.0`):
    /// one bucket for every source, the limit of the entry as a whole. `nth`: which of the entry's limits
    /// (0 the first: `meter4_<name>`; the next ones `meter4_<name>/2`, …). `shared`: the
    /// meter several entries name (`meter = "dns"`), its set `meter4_/dns` (`nth` then 0)
    Meter {
        v6: bool,
        prefix: u8,
        rate: Rate,
        over: bool,
        nth: u8,
        shared: Option<LiveName>,
    },
    /// `ct count over <max>`: more than `max` connections pass this match at once (the
    /// expression keeps its own list of them). statewall no longer writes it (an entry's
    /// count is a [`Match::ConnMeter`], prefix 0 for the entry as a whole); it is read back
    /// from a table an older statewall wrote, which then shows drift until applied again
    CtCount { max: u32 },
    /// `add @conn4_<name> { ip saddr ct count over <max> }` (IPv6: `ip6 saddr & <prefix
    /// mask>`): a connection list per source in the entry's own dynamic set; matches when the
    /// packet's source has more than `max` connections, this one included; `prefix` 0 (`ip
    /// saddr & 0.0.0.0`): one list for every source, the count of the entry as a whole
    ConnMeter { v6: bool, prefix: u8, max: u32 },
    /// `ct original proto-dst <range>`: the destination port a connection had before the
    /// kernel DNAT'ed it (needs an `L4Proto` before it)
    CtOrigDport(PortRange),
    /// `ct original ip daddr <net>` / `ct original ip6 daddr <net>`: the destination address
    /// a connection had before the kernel DNAT'ed it (the kernel's load breaks for a
    /// connection of the other family: it implies the family, as `DstNet` does; an entry's
    /// `published_to`)
    CtOrigDst(Cidr),
    /// `ct original ip saddr <net>` / `ct original ip6 saddr <net>`: the source address of
    /// the connection's first packet (implies the family; an entry's `published_from`)
    CtOrigSrc(Cidr),
    /// `ct protocol 6`: the protocol of the packet's connection (an ICMP error related to a
    /// TCP connection: TCP), an entry's `connection_protocol`
    CtProto(u8),
    /// `ct status dnat`: the kernel DNAT'ed the packet's connection (an entry's `dnat`)
    CtDnat,
    /// `iifname != "lo"` / `oifname != "eth*"` (`out`): every interface but this name, or
    /// (`wild`) but those whose name starts with these bytes (an entry's `except_iif`/`except_oif`)
    IfNot {
        out: bool,
        wild: bool,
        name: [u8; 16],
    },
    /// `fib daddr type local` / `fib saddr type != broadcast`: the routing table's type
    /// (`RTN_*`, [`crate::core::addrtype::ADDR_TYPES`]) of the destination (`dst`) or source
    /// address, or (`not`) any other type (an entry's `to_type`, `except_from_type`, …)
    AddrType { dst: bool, ty: u8, not: bool },
    /// `meta pkttype broadcast` / `meta pkttype != multicast`: the link layer's packet type
    /// (`PACKET_*`, [`crate::core::pkttype::PKT_TYPES`]), or (`not`) any other type (an
    /// entry's `pkttype`, `except_pkttype`)
    PktType { ty: u8, not: bool },
    /// `meta ipsec exists` / `meta ipsec missing` (`out` false): the packet arrived
    /// IPsec-protected (the kernel decrypted it and left it a security path), or not;
    /// `rt ipsec exists` / `rt ipsec missing` (`out`): its route leads into an IPsec policy
    /// (it will leave encrypted), or not. Input and forward (`meta`), forward and output
    /// (`rt`) only (an entry's `ipsec_in`, `ipsec_out`: iptables' `-m policy --dir in|out
    /// --pol ipsec|none`)
    Ipsec { out: bool, present: bool },
    /// `rt type 0` / `rt type != 0`: the type of the IPv6 routing header (an exthdr load; a
    /// packet without one matches neither); needs the family checked as IPv6 before it (an
    /// entry's `rt_type`, `except_rt_type`)
    RtType { ty: u8, not: bool },
    /// `tcp option 64 exists` / `tcp option 64 missing` (`present` false): whether the TCP
    /// header carries an option of this kind (needs `L4Proto(6)` before it; an entry's
    /// `tcp_option`, `except_tcp_option`)
    TcpOption { kind: u8, present: bool },
    /// `tcp option maxseg size 536-65535` / `… != 536-65535`: the value of the TCP header's
    /// MSS option in a range or (`not`) outside it; a segment without the option matches
    /// neither (needs `L4Proto(6)` before it; an entry's `tcp_mss`, `except_tcp_mss`)
    TcpMss { lo: u16, hi: u16, not: bool },
    /// `ether saddr 02:00:00:00:00:01` / `ether saddr != …`: the source address of the
    /// ethernet header, after `meta iiftype ether` (a packet that did not arrive on an
    /// ethernet device matches neither; an entry's `mac`, `except_mac`)
    EtherSrc { mac: [u8; 6], not: bool },
    /// `meta skuid 1000` / `meta skgid != 0`: the user (`gid`: group) owning the socket a
    /// packet the host sends leaves from; a packet without one (forwarded, or a reset the
    /// kernel makes) matches neither way (an output entry's `uid`, `except_uid`, `gid`,
    /// `except_gid`)
    SkOwner { gid: bool, id: u32, not: bool },
    /// `meta length 0-1500` / `meta length != 576`: the packet's length (the skb's, from the
    /// IP header on at the IP hooks), in a range or (`not`) outside it (an entry's `length`,
    /// `except_length`)
    Length { lo: u16, hi: u16, not: bool },
    /// `ip ttl < 64` / `ip6 hoplimit != 255`: the IPv4 TTL or the IPv6 hop limit (a network
    /// header load) in a range or (`not`) outside it; needs the family checked before it (an
    /// entry's `ttl`, `except_ttl`)
    Ttl { v6: bool, lo: u8, hi: u8, not: bool },
    /// `meta mark & 0x00ff0000 != 0x00040000`: the mark under a mask (all ones: the whole
    /// mark) is `value` or (`not`) not (an entry's `mark`, `except_mark`)
    Mark { value: u32, mask: u32, not: bool },
    /// `xt match helper "ftp"`: the connection's master has that conntrack helper (the helper
    /// expected it), or (`not`) not (an entry's `helper`, `except_helper`)
    Helper { name: HelperName, not: bool },
    /// `meta hour "09:00:00"-"17:00:00"`, `meta hour != …`: the second of the UTC day (an
    /// entry's `hours`)
    Hour { lo: u32, hi: u32, not: bool },
    /// `meta day 1-5`, `meta day != 1-5`: the weekday, 0 = Sunday (an entry's `days`)
    Day { lo: u8, hi: u8, not: bool },
    /// `meta time >= "2025-01-01 00:00:00"` or (`before`) `meta time < …`: the time since
    /// 1970 in whole seconds (an entry's `since`, `until`)
    Time { secs: u64, before: bool },
    /// `xt match string`: the bytes hold the pattern, or not (`contains`, `except_contains`)
    Contains { pattern: Pattern, not: bool },
    /// `xt match u32`: the expression holds, or not (`u32`, `except_u32`; IPv4 only: needs
    /// `meta nfproto ipv4` before it)
    U32 {
        expr: crate::core::u32::U32,
        not: bool,
    },
    /// `th dport != <range>`: an exception (`except_tcp`, `except_udp`; needs an `L4Proto`
    /// before it)
    DstPortNot(PortRange),
    /// `th sport != <range>` (`except_tcp_sport`, `except_udp_sport`)
    SrcPortNot(PortRange),
}

/// The text a log rule writes before each line, kept inline so a [`Verdict`] stays `Copy`:
/// at most [`crate::core::model::LOG_PREFIX_MAX`] bytes of printable ASCII without `"`
/// and `\\` (the policy checker refuses others).
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct LogPrefix {
    len: u8,
    bytes: [u8; crate::core::model::LOG_PREFIX_MAX],
}

impl LogPrefix {
    /// Cut to [`crate::core::model::LOG_PREFIX_MAX`] bytes (on a char boundary).
    pub fn new(text: &str) -> LogPrefix {
        let mut end = text.len().min(crate::core::model::LOG_PREFIX_MAX);
        while !text.is_char_boundary(end) {
            end -= 1;
        }
        let mut bytes = [0u8; crate::core::model::LOG_PREFIX_MAX];
        bytes[..end].copy_from_slice(&text.as_bytes()[..end]);
        LogPrefix {
            len: end as u8,
            bytes,
        }
    }

    pub fn as_str(&self) -> &str {
        std::str::from_utf8(&self.bytes[..usize::from(self.len)]).unwrap_or("?")
    }
}

impl std::fmt::Debug for LogPrefix {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{:?}", self.as_str())
    }
}

/// A log rule's verdict: `log prefix "<prefix>" [level <l> | group <g>]`; evaluation goes on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct LogTo {
    pub prefix: LogPrefix,
    pub dest: LogDest,
}

impl Match {
    /// The family this match checks (its expressions include `meta nfproto`): `Some(true)`
    /// for IPv6. Protocol matches (`meta l4proto icmp`) check none.
    pub fn family(&self) -> Option<bool> {
        match *self {
            Match::SrcNet(c)
            | Match::DstNet(c)
            | Match::SrcNetNot(c)
            | Match::DstNetNot(c)
            | Match::CtOrigDst(c)
            | Match::CtOrigSrc(c) => Some(matches!(c, Cidr::V6(..))),
            Match::SrcInSet { v6 }
            | Match::SrcInAddrs { v6 }
            | Match::SrcInLive { v6, .. }
            | Match::FeedLive { v6, .. }
            | Match::DstInSet { v6 }
            | Match::NfProto { v6 } => Some(v6),
            _ => None,
        }
    }
}

/// The family a rule's matches check, if any of them does (see [`Match::family`]).
pub fn family_of(matches: &[Match]) -> Option<bool> {
    matches.iter().find_map(Match::family)
}

/// What a set holds. Every statewall set is an interval set with a counter per element.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum SetKind {
    Src4,
    Src6,
    Tcp,
    Udp,
    /// dynamic sets the audit recorders fill (no elements in the plan)
    AuditTcp,
    AuditUdp,
    AuditSrc4,
    AuditSrc6,
    /// a live set's members (`[[set]]`): interval sets with timeouts, filled at run time
    Live4,
    Live6,
    /// an entry's destinations (`to`), when there are several
    Dst4,
    Dst6,
    /// an entry's source ports (`tcp_sport`, `udp_sport`), when there are several
    TcpSport,
    UdpSport,
    /// single source addresses of an entry: hash sets (an interval set of 100,000 costs the
    /// kernel a walk for every change; a hash set does not), beside `Src4`/`Src6` for networks
    Addr4,
    Addr6,
    /// a live set of single addresses (`networks = false`): hash sets with timeouts
    LiveHost4,
    LiveHost6,
    /// a per-source limit's buckets (`limit = { per = "source" }`): dynamic sets the packet
    /// path fills, each element forgotten once its bucket would be full again
    Meter4,
    Meter6,
    /// a per-source connection count's lists (`connections = { per = "source" }`): dynamic
    /// sets the packet path fills, without a lifetime (the kernel refuses `ct count` in a set
    /// with timeouts): an element goes when its source's last connection has ended
    Conn4,
    Conn6,
}

impl SetKind {
    pub fn prefix(self) -> &'static str {
        match self {
            SetKind::Src4 => "src4",
            SetKind::Src6 => "src6",
            SetKind::Tcp => "tcp",
            SetKind::Udp => "udp",
            SetKind::AuditTcp | SetKind::AuditUdp | SetKind::AuditSrc4 | SetKind::AuditSrc6 => {
                "audit"
            }
            SetKind::Live4 => "live4",
            SetKind::Live6 => "live6",
            SetKind::Dst4 => "dst4",
            SetKind::Dst6 => "dst6",
            SetKind::TcpSport => "tsport",
            SetKind::UdpSport => "usport",
            SetKind::Addr4 => "addr4",
            SetKind::Addr6 => "addr6",
            SetKind::LiveHost4 => "ip4",
            SetKind::LiveHost6 => "ip6",
            SetKind::Meter4 => "meter4",
            SetKind::Meter6 => "meter6",
            SetKind::Conn4 => "conn4",
            SetKind::Conn6 => "conn6",
        }
    }

    /// A dynamic set (filled by the packet path), not an interval set from the policy.
    pub fn dynamic(self) -> bool {
        matches!(
            self,
            SetKind::AuditTcp
                | SetKind::AuditUdp
                | SetKind::AuditSrc4
                | SetKind::AuditSrc6
                | SetKind::Meter4
                | SetKind::Meter6
                | SetKind::Conn4
                | SetKind::Conn6
        )
    }

    /// A per-source limit's buckets: dynamic, with a lifetime and no counter.
    pub fn meter(self) -> bool {
        matches!(self, SetKind::Meter4 | SetKind::Meter6)
    }

    /// A per-source connection count's lists: dynamic, without a lifetime or a counter.
    pub fn conn(self) -> bool {
        matches!(self, SetKind::Conn4 | SetKind::Conn6)
    }

    /// A hash set of single keys (no intervals): the address sets.
    pub fn hashed(self) -> bool {
        matches!(
            self,
            SetKind::Addr4 | SetKind::Addr6 | SetKind::LiveHost4 | SetKind::LiveHost6
        )
    }

    /// A live set: its members are run-time state, not part of the plan.
    pub fn live(self) -> bool {
        matches!(
            self,
            SetKind::Live4 | SetKind::Live6 | SetKind::LiveHost4 | SetKind::LiveHost6
        )
    }

    /// The fixed name of an audit set.
    pub fn audit_name(self) -> Option<&'static str> {
        match self {
            SetKind::AuditTcp => Some("audit_tcp"),
            SetKind::AuditUdp => Some("audit_udp"),
            SetKind::AuditSrc4 => Some("audit_src4"),
            SetKind::AuditSrc6 => Some("audit_src6"),
            _ => None,
        }
    }

    /// nft's data type name (for rendering) and id (`NFTA_SET_KEY_TYPE`), key length.
    pub fn nft_type(self) -> (&'static str, u32, u32) {
        match self {
            SetKind::Src4
            | SetKind::AuditSrc4
            | SetKind::Live4
            | SetKind::Dst4
            | SetKind::Addr4
            | SetKind::LiveHost4
            | SetKind::Meter4
            | SetKind::Conn4 => ("ipv4_addr", 7, 4),
            SetKind::Src6
            | SetKind::AuditSrc6
            | SetKind::Live6
            | SetKind::Dst6
            | SetKind::Addr6
            | SetKind::LiveHost6
            | SetKind::Meter6
            | SetKind::Conn6 => ("ipv6_addr", 8, 16),
            SetKind::Tcp
            | SetKind::Udp
            | SetKind::AuditTcp
            | SetKind::AuditUdp
            | SetKind::TcpSport
            | SetKind::UdpSport => ("inet_service", 13, 2),
        }
    }

    pub fn from_prefix(p: &str) -> Option<SetKind> {
        [
            SetKind::Src4,
            SetKind::Src6,
            SetKind::Tcp,
            SetKind::Udp,
            SetKind::Live4,
            SetKind::Live6,
            SetKind::Dst4,
            SetKind::Dst6,
            SetKind::TcpSport,
            SetKind::UdpSport,
            SetKind::Addr4,
            SetKind::Addr6,
            SetKind::LiveHost4,
            SetKind::LiveHost6,
            SetKind::Meter4,
            SetKind::Meter6,
            SetKind::Conn4,
            SetKind::Conn6,
        ]
        .into_iter()
        .find(|k| k.prefix() == p)
    }

    /// The kind of a set statewall names `name` (`src4_web`, `audit_tcp`…).
    pub fn of_name(name: &str) -> Option<SetKind> {
        [
            SetKind::AuditTcp,
            SetKind::AuditUdp,
            SetKind::AuditSrc4,
            SetKind::AuditSrc6,
        ]
        .into_iter()
        .find(|k| k.audit_name() == Some(name))
        .or_else(|| SetKind::from_prefix(name.split_once('_')?.0))
    }
}

/// `<kind>_<service name>`: a set belongs to one policy entry, so its name is derived, not
/// chosen, and a rule's match names its set through the rule's comment. Audit sets have
/// fixed names.
pub fn set_name(kind: SetKind, service: &str) -> String {
    match kind.audit_name() {
        Some(n) => n.to_string(),
        None => format!("{}_{service}", kind.prefix()),
    }
}

/// The meter set of an entry's limit `nth` (0 the first) of one family: `meter4_<name>`,
/// then `meter4_<name>/2`, … (a `/` no entry name has, and nft's names take).
pub fn meter_set_name(v6: bool, service: &str, nth: u8) -> String {
    let base = set_name(if v6 { SetKind::Meter6 } else { SetKind::Meter4 }, service);
    if nth == 0 {
        base
    } else {
        format!("{base}/{}", u16::from(nth) + 1)
    }
}

/// The set of a meter match: a shared meter's `meter4_/<shared>` (a `/` first, which no
/// entry name has), else the entry's own ([`meter_set_name`]).
pub fn meter_name(v6: bool, service: &str, nth: u8, shared: Option<LiveName>) -> String {
    match shared {
        Some(s) => format!(
            "{}_/{}",
            if v6 { SetKind::Meter6 } else { SetKind::Meter4 }.prefix(),
            s.as_str()
        ),
        None => meter_set_name(v6, service, nth),
    }
}

/// The set a match of `rule` refers to, if any.
pub fn set_of(rule: &Rule, m: &Match) -> Option<String> {
    let proto = rule.matches.iter().find_map(|m| match m {
        Match::L4Proto(p) => Some(*p),
        _ => None,
    });
    let kind = match (m, proto) {
        (Match::SrcInSet { v6: false }, _) => SetKind::Src4,
        (Match::SrcInSet { v6: true }, _) => SetKind::Src6,
        (Match::SrcInAddrs { v6: false }, _) => SetKind::Addr4,
        (Match::SrcInAddrs { v6: true }, _) => SetKind::Addr6,
        (Match::DstPortInSet, Some(IPPROTO_TCP)) => SetKind::Tcp,
        (Match::DstPortInSet, Some(IPPROTO_UDP)) => SetKind::Udp,
        (Match::DstInSet { v6: false }, _) => SetKind::Dst4,
        (Match::DstInSet { v6: true }, _) => SetKind::Dst6,
        (Match::SrcPortInSet, Some(IPPROTO_TCP)) => SetKind::TcpSport,
        (Match::SrcPortInSet, Some(IPPROTO_UDP)) => SetKind::UdpSport,
        (Match::Record(key), _) => key.set_kind(),
        (Match::SrcInLive { v6, set } | Match::FeedLive { v6, set, .. }, _) => {
            return Some(set.set_name(*v6));
        }
        (
            Match::Meter {
                v6, nth, shared, ..
            },
            _,
        ) => {
            return Some(meter_name(*v6, &rule.comment, *nth, *shared));
        }
        (Match::ConnMeter { v6: false, .. }, _) => SetKind::Conn4,
        (Match::ConnMeter { v6: true, .. }, _) => SetKind::Conn6,
        _ => return None,
    };
    Some(set_name(kind, &rule.comment))
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum SetElem {
    Net(Cidr),
    Ports(PortRange),
}

impl SetElem {
    /// The order's key as integers: networks (IPv4, then IPv6, by address, then prefix
    /// length) before port ranges (by first, then last port) — the order a derive gives.
    #[inline]
    fn key(&self) -> (u8, u128, u8) {
        match *self {
            SetElem::Net(Cidr::V4(a, l)) => (0, u128::from(u32::from(a)), l),
            SetElem::Net(Cidr::V6(a, l)) => (1, u128::from(a), l),
            SetElem::Ports(r) => (2, u128::from(r.lo) << 16 | u128::from(r.hi), 0),
        }
    }
}

/// Sets of 100,000 elements are checked for order several times in an apply: compared as
/// integers ([`SetElem::key`]).
impl Ord for SetElem {
    #[inline]
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        self.key().cmp(&other.key())
    }
}

impl PartialOrd for SetElem {
    #[inline]
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}

impl From<Cidr> for SetElem {
    fn from(n: Cidr) -> SetElem {
        SetElem::Net(n)
    }
}

impl From<PortRange> for SetElem {
    fn from(r: PortRange) -> SetElem {
        SetElem::Ports(r)
    }
}

impl std::fmt::Display for SetElem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            SetElem::Net(n) => write!(f, "{n}"),
            SetElem::Ports(r) => write!(f, "{r}"),
        }
    }
}

impl Plan {
    /// The kernel sets the packet path feeds (a rule updates them: `add_to_set`,
    /// `refresh`, or deletes from them: `remove_from_set`), by name: such a live set is created `dynamic` (`NFT_SET_EVAL`, which a
    /// set a rule adds to must be) and bounded. Empty for a plan without such rules.
    pub fn fed_sets(&self) -> std::collections::BTreeSet<String> {
        let mut out = std::collections::BTreeSet::new();
        for r in self.chains.iter().flat_map(|c| &c.rules) {
            for m in &r.matches {
                if let Match::FeedLive { v6, set, .. } = m {
                    out.insert(set.set_name(*v6));
                }
            }
        }
        out
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Set {
    pub name: String,
    pub kind: SetKind,
    /// in policy order (sorted on the wire); always empty for a live set, whose members are
    /// run-time state carried beside the plan ([`Member`])
    pub elements: Vec<SetElem>,
    /// a live set's default member lifetime in seconds (`timeout = "1h"`); None otherwise
    pub timeout: Option<u64>,
}

/// A member of a live set, as it is carried across a table replace or restored at boot.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Member {
    pub net: Cidr,
    /// what is left of its lifetime, in milliseconds; None = until deleted
    pub expires_ms: Option<u64>,
}

/// The members of live sets, by kernel set name (`live4_banned`): run-time state that a
/// table replace carries in the same batch.
pub type Members = std::collections::BTreeMap<String, Vec<Member>>;

/// What an audit recorder keeps.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum RecordKey {
    TcpPort,
    UdpPort,
    Src4,
    Src6,
}

impl RecordKey {
    pub const ALL: [RecordKey; 4] = [
        RecordKey::TcpPort,
        RecordKey::UdpPort,
        RecordKey::Src4,
        RecordKey::Src6,
    ];

    pub fn set_kind(self) -> SetKind {
        match self {
            RecordKey::TcpPort => SetKind::AuditTcp,
            RecordKey::UdpPort => SetKind::AuditUdp,
            RecordKey::Src4 => SetKind::AuditSrc4,
            RecordKey::Src6 => SetKind::AuditSrc6,
        }
    }
}

/// Capacity of each audit set (the kernel's dynamic set `size`): a full set stops
/// recording new keys, and `verify` says so.
pub const DYNAMIC_SET_SIZE: u32 = 65535;

/// Comment of the audit recorder rules (they come right before the final rule).
pub const AUDIT_COMMENT: &str = "audit";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// no verdict: the rule only counts (and records), evaluation goes on
    Continue,
    Accept,
    Drop,
    /// `reject with tcp reset`
    RejectTcpReset,
    /// `reject with icmpx <kind>` (ICMP for IPv4, ICMPv6 for IPv6); one of the four icmpx
    /// kinds only (the compiler turns the others into [`Verdict::RejectIcmp`])
    RejectIcmpx(IcmpReject),
    /// `reject with icmp <code>` / `reject with icmpv6 <code>`: an ICMP destination
    /// unreachable with this code, in a rule whose matches check its family ([`family_of`]:
    /// the kernel reads the code per family)
    RejectIcmp {
        v6: bool,
        code: u8,
    },
    /// `jump entries_<n>`: into the n-th chain of policy-entry rules (see [`ENTRIES_PER_CHAIN`])
    Jump(u32),
    /// `jump forward_entries_<n>` / `output_entries_<n>`: the same for another hook's section
    JumpIn(Hook, u32),
    /// `log …`: a log rule writes a line (its own `limit` keeps it to a few) and
    /// evaluation goes on, so the verdict of the rule it logs is never rate limited
    Log(LogTo),
    /// `tcp option maxseg size set rt mtu` (or a value): lowers a SYN's MSS option, and
    /// evaluation goes on
    SetMss(crate::core::model::Mss),
}

impl Rule {
    /// Whether rustables 0.9 cannot write some expression of the rule (a dynset, a limit,
    /// a log level, a ct direction, a fib, the packet type's and the security path's meta keys, an rt load, an exthdr): the codec writes those in
    /// its own bytes.
    pub fn has_own_expressions(&self) -> bool {
        matches!(self.verdict, Verdict::Log(_) | Verdict::SetMss(_))
            || self.matches.iter().any(|m| {
                matches!(
                    m,
                    Match::Record(_)
                        | Match::Limit { .. }
                        | Match::Meter { .. }
                        | Match::CtCount { .. }
                        | Match::ConnMeter { .. }
                        | Match::CtOrigDport(_)
                        | Match::CtOrigDst(_)
                        | Match::CtOrigSrc(_)
                        | Match::CtProto(_)
                        | Match::CtDnat
                        | Match::Hour { .. }
                        | Match::Day { .. }
                        | Match::Time { .. }
                        | Match::AddrType { .. }
                        | Match::PktType { .. }
                        | Match::Ipsec { .. }
                        | Match::RtType { .. }
                        | Match::TcpOption { .. }
                        | Match::TcpMss { .. }
                        | Match::Contains { .. }
                        | Match::U32 { .. }
                        | Match::Helper { .. }
                ) || matches!(m, Match::DstPortNot(r) | Match::SrcPortNot(r) if r.lo != r.hi)
                    || matches!(m, Match::Length { .. })
                    || matches!(m, Match::Ttl { lo, hi, not, .. } if crate::core::header::ttl_range_neq(*lo, *hi, *not))
            })
    }
}

/// At most this many policy-entry rules share one chain; more go into regular chains
/// `entries_1`, `entries_2`, … that the input chain jumps to in order. The packet path is the
/// same list of rules plus one jump per chain, but the kernel dumps a chain by restarting its
/// walk for every reply buffer (quadratic in the chain's length), so per-chain readback keeps
/// `status` of a 50,000-entry policy from taking seconds.
pub const ENTRIES_PER_CHAIN: usize = 1000;

/// Name of the n-th (1-based) chain of policy-entry rules.
pub fn entries_chain(n: u32) -> String {
    format!("entries_{n}")
}

/// The inverse of [`entries_chain`]: `entries_12` → 12.
pub fn entries_chain_number(name: &str) -> Option<u32> {
    let n = name.strip_prefix("entries_")?;
    if n.starts_with('0') || n.starts_with('+') {
        return None;
    }
    n.parse().ok().filter(|&n| n > 0)
}

/// The name of the n-th chain of policy-entry rules of `hook`: `entries_<n>` for input (as
/// always), `forward_entries_<n>`, `output_entries_<n>`.
pub fn hook_entries_chain(hook: Hook, n: u32) -> String {
    match hook {
        Hook::Input => entries_chain(n),
        other => format!("{}_{}", other.as_str(), entries_chain(n)),
    }
}

/// The inverse of [`hook_entries_chain`].
pub fn hook_entries_chain_number(name: &str) -> Option<(Hook, u32)> {
    for hook in [Hook::Forward, Hook::Output] {
        if let Some(rest) = name
            .strip_prefix(hook.as_str())
            .and_then(|r| r.strip_prefix('_'))
        {
            return entries_chain_number(rest).map(|n| (hook, n));
        }
    }
    entries_chain_number(name).map(|n| (Hook::Input, n))
}

/// The verdict that jumps to the n-th entries chain of `hook`.
pub fn jump_to(hook: Hook, n: u32) -> Verdict {
    match hook {
        Hook::Input => Verdict::Jump(n),
        other => Verdict::JumpIn(other, n),
    }
}

/// Protocol names as `/etc/protocols` (and `nft`) spell them, for `protocol = [...]`.
pub const PROTOCOLS: &[(&str, u8)] = &[
    ("icmp", 1),
    ("igmp", 2),
    ("ipencap", 4),
    ("tcp", 6),
    ("egp", 8),
    ("udp", 17),
    ("dccp", 33),
    ("ipv6", 41),
    ("rsvp", 46),
    ("gre", 47),
    ("esp", 50),
    ("ah", 51),
    ("ipv6-icmp", 58),
    ("ospf", 89),
    ("ipip", 94),
    ("pim", 103),
    ("vrrp", 112),
    ("l2tp", 115),
    ("sctp", 132),
    ("udplite", 136),
];

/// The number of a protocol name (`esp` → 50; `icmpv6`/`ipv6-icmp` → 58).
pub fn protocol_number(name: &str) -> Option<u8> {
    let lower = name.to_ascii_lowercase();
    let lower = match lower.as_str() {
        "icmpv6" | "icmp6" => "ipv6-icmp",
        "ipencap" | "ip-in-ip" => "ipencap",
        other => other,
    };
    PROTOCOLS.iter().find(|(n, _)| *n == lower).map(|(_, p)| *p)
}

#[cfg(test)]
mod size_tests {
    #[test]
    fn a_rule_stays_small() {
        assert!(
            std::mem::size_of::<super::Rule>() <= 128,
            "{}",
            std::mem::size_of::<super::Rule>()
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The integer order is the order a derive gives: variants, then fields in turn.
    #[test]
    fn set_elements_order_as_derived() {
        #[derive(PartialEq, Eq, PartialOrd, Ord, Debug)]
        enum Derived {
            V4([u8; 4], u8),
            V6([u8; 16], u8),
            Ports(u16, u16),
        }
        let derived = |e: &SetElem| match *e {
            SetElem::Net(Cidr::V4(a, l)) => Derived::V4(a.octets(), l),
            SetElem::Net(Cidr::V6(a, l)) => Derived::V6(a.octets(), l),
            SetElem::Ports(r) => Derived::Ports(r.lo, r.hi),
        };
        let mut all = Vec::new();
        for a in [0u32, 1, 0x0a00_0000, 0x0a00_0001, 0xffff_ffff] {
            for l in [0, 8, 32] {
                all.push(SetElem::Net(Cidr::V4(a.into(), l)));
            }
        }
        for a in [0u128, 1, 1 << 64, u128::MAX] {
            for l in [0, 64, 128] {
                all.push(SetElem::Net(Cidr::V6(a.into(), l)));
            }
        }
        for (lo, hi) in [(1, 1), (1, 65535), (80, 80), (80, 443), (65535, 65535)] {
            all.push(SetElem::Ports(PortRange { lo, hi }));
        }
        for x in &all {
            for y in &all {
                assert_eq!(x.cmp(y), derived(x).cmp(&derived(y)), "{x:?} {y:?}");
            }
        }
    }
}
