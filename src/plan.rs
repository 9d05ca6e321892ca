//! The compiled ruleset: exactly what is committed to the kernel, as plain data.
//!
//! [`crate::compile`] produces it from a policy, [`crate::render`] prints it as an nft
//! script, [`crate::kernel::encode`] turns it into netlink messages, and
//! [`crate::kernel::decode`] turns the kernel's rules back into it (readback).
//! The same type on both sides is what makes drift detection a plain comparison.

use crate::model::{Cidr, IcmpReject, Loc, Mode, PortRange};

/// Protocol numbers used in `meta l4proto`.
pub const IPPROTO_ICMP: u8 = 1;
pub const IPPROTO_TCP: u8 = 6;
pub const IPPROTO_UDP: u8 = 17;
pub const IPPROTO_ICMPV6: u8 = 58;

/// The loopback device has this interface index in every network namespace
/// (`LOOPBACK_IFINDEX` in the kernel), so `iif lo` needs no lookup.
pub const LOOPBACK_IFINDEX: u32 = 1;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Plan {
    /// the `inet` table statewall owns
    pub table: String,
    pub mode: Mode,
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
}

impl Hook {
    pub fn as_str(self) -> &'static str {
        match self {
            Hook::Input => "input",
        }
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
    /// `ip saddr`/`ip6 saddr` in the network (implies the family)
    SrcNet(Cidr),
    /// `th dport <range>` (needs an `L4Proto` before it)
    DstPort(PortRange),
    /// `icmpv6 type <lo>-<hi>` (needs `L4Proto(58)` before it)
    Icmpv6Type { lo: u8, hi: u8 },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    Accept,
    Drop,
    /// `reject with tcp reset`
    RejectTcpReset,
    /// `reject with icmpx <kind>` (ICMP for IPv4, ICMPv6 for IPv6)
    RejectIcmpx(IcmpReject),
}
