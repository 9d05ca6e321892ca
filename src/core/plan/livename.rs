//! The inline name of a live set or a shared meter.

use super::SetKind;

/// The name of a live set (`[[set]]`), kept inline so that a [`Match`] stays `Copy`: at most
/// [`LiveName::MAX`] bytes of A-Z a-z 0-9 _ . - (the policy checker refuses others).
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct LiveName {
    len: u8,
    bytes: [u8; LiveName::MAX],
    /// a set of single addresses (`networks = false`): hash sets `ip4_`/`ip6_<name>`, which
    /// any tool can fill with plain `nft add element` (CrowdSec's set-only bouncer does)
    hosts: bool,
}

impl LiveName {
    pub const MAX: usize = 32;

    /// None when `name` is empty or longer than [`LiveName::MAX`] bytes.
    pub fn new(name: &str) -> Option<LiveName> {
        let b = name.as_bytes();
        if b.is_empty() || b.len() > Self::MAX {
            return None;
        }
        let mut bytes = [0u8; Self::MAX];
        bytes[..b.len()].copy_from_slice(b);
        Some(LiveName {
            len: b.len() as u8,
            bytes,
            hosts: false,
        })
    }

    /// [`LiveName::new`] for a set of single addresses (`networks = false`).
    pub fn hosts(name: &str) -> Option<LiveName> {
        LiveName::new(name).map(|n| LiveName { hosts: true, ..n })
    }

    /// Whether it holds single addresses only (hash sets).
    pub fn holds_hosts(&self) -> bool {
        self.hosts
    }

    pub fn as_str(&self) -> &str {
        std::str::from_utf8(&self.bytes[..usize::from(self.len)]).unwrap_or("?")
    }

    /// The kernel set holding this live set's IPv4 or IPv6 members.
    pub fn set_name(&self, v6: bool) -> String {
        let kind = match (self.hosts, v6) {
            (false, false) => SetKind::Live4,
            (false, true) => SetKind::Live6,
            (true, false) => SetKind::LiveHost4,
            (true, true) => SetKind::LiveHost6,
        };
        format!("{}_{}", kind.prefix(), self.as_str())
    }
}

/// The live set a kernel set belongs to: `live4_banned` → `banned` (also `live6_`, and
/// `ip4_`/`ip6_` for sets of single addresses).
pub fn live_set_of(kernel_set: &str) -> Option<&str> {
    live_set_kind(kernel_set).map(|(_, name)| name)
}

/// The kind of a live set's kernel set ([`LiveName::set_name`] read back), and the live set.
pub fn live_set_kind(kernel_set: &str) -> Option<(SetKind, &str)> {
    [
        SetKind::Live4,
        SetKind::Live6,
        SetKind::LiveHost4,
        SetKind::LiveHost6,
    ]
    .into_iter()
    .find_map(|k| {
        let rest = kernel_set.strip_prefix(k.prefix())?.strip_prefix('_')?;
        Some((k, rest))
    })
}

impl std::fmt::Debug for LiveName {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{:?}", self.as_str())
    }
}

impl std::fmt::Display for LiveName {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}
