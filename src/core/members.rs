//! The members of live sets as the state directory keeps them: a journal of additions and
//! deletions, one line each, so that `statewall set add` costs one appended line whatever
//! the size of the set, and boot brings back what the kernel lost, each member with what is
//! left of its lifetime. Pure: text in, text out; the file is the store's.
//!
//! A line: `+ <kernel set> <network> <expires at, unix seconds | ->` or
//! `- <kernel set> <network>`; `= <kernel set>` empties a set. A line that does not parse is
//! skipped (a torn last line after a crash), never fatal.

use std::collections::BTreeMap;

use crate::core::model::Cidr;
use crate::core::plan::{Member, Members};

/// One change to a live set's members.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MemberOp {
    Add {
        set: String,
        net: Cidr,
        /// unix seconds; None = until deleted
        expires_at: Option<u64>,
    },
    Del {
        set: String,
        net: Cidr,
    },
    /// the set is empty from here on (a snapshot starts with one per set)
    Clear {
        set: String,
    },
}

/// The journal text of `ops`.
pub fn format_ops(ops: &[MemberOp]) -> String {
    let mut s = String::with_capacity(ops.len() * 40);
    for op in ops {
        match op {
            MemberOp::Add {
                set,
                net,
                expires_at: Some(t),
            } => s.push_str(&format!("+ {set} {} {t}\n", full(net))),
            MemberOp::Add {
                set,
                net,
                expires_at: None,
            } => s.push_str(&format!("+ {set} {} -\n", full(net))),
            MemberOp::Del { set, net } => s.push_str(&format!("- {set} {}\n", full(net))),
            MemberOp::Clear { set } => s.push_str(&format!("= {set}\n")),
        }
    }
    s
}

/// A network with its prefix always written (`10.0.0.1/32`).
fn full(net: &Cidr) -> String {
    match net {
        Cidr::V4(a, l) => format!("{a}/{l}"),
        Cidr::V6(a, l) => format!("{a}/{l}"),
    }
}

fn parse_net(s: &str) -> Option<Cidr> {
    let (a, l) = s.split_once('/')?;
    let len: u8 = l.parse().ok()?;
    match a.parse::<std::net::IpAddr>().ok()? {
        std::net::IpAddr::V4(a) if len <= 32 => Some(Cidr::V4(a, len)),
        std::net::IpAddr::V6(a) if len <= 128 => Some(Cidr::V6(a, len)),
        _ => None,
    }
}

/// Whether an op's network can be a member of its kernel set: `live4_`/`ip4_` hold IPv4,
/// `live6_`/`ip6_` IPv6, and the hash sets (`ip4_`, `ip6_`) single addresses. The kernel
/// takes a wrong-family key in an interval set as another range (a line `+ live4_banned
/// 2001:db8::1/128 -` became 0.0.0.1-10.0.0.0 there), so such a line is a damaged one.
fn fits(op: &MemberOp) -> bool {
    let (set, net) = match op {
        MemberOp::Add { set, net, .. } | MemberOp::Del { set, net } => (set, net),
        MemberOp::Clear { .. } => return true,
    };
    use crate::core::plan::SetKind;
    matches!(
        (crate::core::plan::live_set_kind(set), net),
        (Some((SetKind::Live4, _)), Cidr::V4(..))
            | (Some((SetKind::LiveHost4, _)), Cidr::V4(_, 32))
            | (Some((SetKind::Live6, _)), Cidr::V6(..))
            | (Some((SetKind::LiveHost6, _)), Cidr::V6(_, 128))
    )
}

/// The longest lifetime the kernel takes for an element, in ms: it refuses the whole batch
/// (ERANGE) for one at or past `u64::MAX` ns.
const KERNEL_MAX_LEFT_MS: u64 = u64::MAX / 1_000_000 - 1;

/// The ops of a journal text, and how many lines were skipped as unreadable. Linear.
pub fn parse_ops(text: &str) -> (Vec<MemberOp>, usize) {
    let mut ops = Vec::new();
    let mut skipped = 0;
    for line in text.lines() {
        let mut parts = line.split(' ');
        let op = match (parts.next(), parts.next(), parts.next(), parts.next()) {
            (Some("+"), Some(set), Some(net), Some(exp)) => parse_net(net).and_then(|net| {
                let expires_at = match exp {
                    "-" => None,
                    t => Some(t.parse().ok()?),
                };
                Some(MemberOp::Add {
                    set: set.to_string(),
                    net,
                    expires_at,
                })
            }),
            (Some("-"), Some(set), Some(net), None) => parse_net(net).map(|net| MemberOp::Del {
                set: set.to_string(),
                net,
            }),
            (Some("="), Some(set), None, None) => Some(MemberOp::Clear {
                set: set.to_string(),
            }),
            _ => None,
        };
        match op {
            Some(op) if parts.next().is_none() && fits(&op) => ops.push(op),
            _ if line.is_empty() => {}
            _ => skipped += 1,
        }
    }
    (ops, skipped)
}

/// What the ops leave in each set at `now_ms` (unix ms): members whose time has not run out,
/// each with what is left of it.
pub fn replay(ops: &[MemberOp], now_ms: u64) -> Members {
    replay_counting(ops, now_ms).0
}

/// [`replay`], and how many members it left out that no `set add` makes (a lifetime past
/// the kernel's range, a network overlapping one kept): a damaged journal's, the kernel would
/// refuse each with the whole batch. Members whose time ran out are not counted.
pub fn replay_counting(ops: &[MemberOp], now_ms: u64) -> (Members, usize) {
    let mut dropped = 0;
    let mut sets: BTreeMap<String, BTreeMap<Cidr, Option<u64>>> = BTreeMap::new();
    for op in ops {
        match op {
            MemberOp::Add {
                set,
                net,
                expires_at,
            } => {
                sets.entry(set.clone())
                    .or_default()
                    .insert(*net, *expires_at);
            }
            MemberOp::Del { set, net } => {
                if let Some(s) = sets.get_mut(set) {
                    s.remove(net);
                }
            }
            MemberOp::Clear { set } => {
                sets.insert(set.clone(), BTreeMap::new());
            }
        }
    }
    let mut out = Members::new();
    for (set, members) in sets {
        // in address order a network comes before those inside it: the last one kept
        // tells whether a member overlaps one kept already, which the kernel refuses
        // (the whole batch, and boot with it) for an interval set
        let mut last: Option<u128> = None;
        let mut list = Vec::new();
        for (net, exp) in members {
            let expires_ms = match exp {
                None => None,
                Some(at) => match at.saturating_mul(1000).checked_sub(now_ms) {
                    // its time ran out
                    None | Some(0) => continue,
                    Some(left) if left > KERNEL_MAX_LEFT_MS => {
                        dropped += 1;
                        continue;
                    }
                    Some(left) => Some(left),
                },
            };
            let (_, lo, hi) = net.interval();
            if last.is_some_and(|h| lo <= h) {
                dropped += 1;
                continue;
            }
            last = Some(hi);
            list.push(Member { net, expires_ms });
        }
        out.insert(set, list);
    }
    (out, dropped)
}

/// A journal that says exactly `members` (remaining lifetimes taken from `now_ms`).
pub fn snapshot(members: &Members, now_ms: u64) -> Vec<MemberOp> {
    let mut ops = Vec::new();
    for (set, list) in members {
        ops.push(MemberOp::Clear { set: set.clone() });
        for m in list {
            ops.push(MemberOp::Add {
                set: set.clone(),
                net: m.net,
                // rounded up: a member never comes back with less than it had
                expires_at: m.expires_ms.map(|left| (now_ms + left).div_ceil(1000)),
            });
        }
    }
    ops
}

#[cfg(test)]
mod tests {
    use super::*;

    fn net(s: &str) -> Cidr {
        parse_net(s).unwrap()
    }

    #[test]
    fn a_journal_round_trips_and_replays_to_what_is_left() {
        let ops = vec![
            MemberOp::Clear {
                set: "live4_banned".into(),
            },
            MemberOp::Add {
                set: "live4_banned".into(),
                net: net("192.0.2.1/32"),
                expires_at: Some(1_000),
            },
            MemberOp::Add {
                set: "live4_banned".into(),
                net: net("198.51.100.0/24"),
                expires_at: None,
            },
            MemberOp::Add {
                set: "live6_banned".into(),
                net: net("2001:db8::/64"),
                expires_at: Some(2_000),
            },
            MemberOp::Del {
                set: "live4_banned".into(),
                net: net("198.51.100.0/24"),
            },
        ];
        let text = format_ops(&ops);
        let (back, skipped) = parse_ops(&text);
        assert_eq!((back.clone(), skipped), (ops, 0));
        let now = 1_500_000;
        let (m, dropped) = replay_counting(&back, now);
        assert_eq!(m["live4_banned"], vec![]); // expired, and the other deleted
        assert_eq!(dropped, 0, "a member whose time ran out is not damage");
        assert_eq!(
            m["live6_banned"],
            vec![Member {
                net: net("2001:db8::/64"),
                expires_ms: Some(500_000)
            }]
        );
        // a snapshot replays to the same members
        assert_eq!(replay(&snapshot(&m, now), now), m);
    }

    #[test]
    fn what_the_kernel_would_refuse_is_left_out() {
        let (ops, skipped) = parse_ops(
            "+ live4_b 2001:db8::1/128 -\n+ ip4_h 192.0.2.0/24 -\n+ live6_b 10.0.0.1/32 -\n+ ip6_h 2001:db8::1/128 -\n",
        );
        assert_eq!((ops.len(), skipped), (1, 3));
        let (ops, _) = parse_ops(
            "+ live4_b 10.0.0.0/8 -\n+ live4_b 10.0.0.1/32 -\n+ live4_b 11.0.0.1/32 18446744073709551615\n+ live4_b 11.0.0.2/32 3000\n",
        );
        let (m, dropped) = replay_counting(&ops, 1_000_000);
        assert_eq!(dropped, 2);
        assert_eq!(
            m["live4_b"],
            vec![
                Member {
                    net: net("10.0.0.0/8"),
                    expires_ms: None
                },
                Member {
                    net: net("11.0.0.2/32"),
                    expires_ms: Some(2_000_000)
                }
            ]
        );
    }

    #[test]
    fn damaged_lines_are_skipped_not_fatal() {
        let (ops, skipped) = parse_ops(
            "+ live4_x 10.0.0.1/32 -\n+ live4_x 10.0.0.300/32 -\ngarbage\n+ live4_x 10.0.0.2/3",
        );
        assert_eq!(ops.len(), 1);
        assert_eq!(skipped, 3);
    }
}
