//! An entry's `connections`. An allow's: before the allow's own rule, the rule that refuses
//! a NEW connection beyond the count (per source a connection list per address in the
//! entry's own set: `add @conn4_<name> { ip saddr ct count over 3 }`; for the entry as a
//! whole one list per family that all its rules share, `{ ip saddr & 0.0.0.0 ct count over
//! 500 }`, where a `ct count` in each rule would count each protocol apart), verdict drop or
//! reject. A block's or a reject's (`within = "continue"`): the count in the entry's
//! own rules, which then take only the packets beyond it.

use super::limits::with_count;
use crate::core::model::{ConnLimit, IcmpReject, Over, Service};
use crate::core::plan::*;

/// The over-count rules of one of the allow's rules (`matches`, protocol `proto`): its
/// matches with `ct state new` alone (whatever states the allow itself takes: the packets of
/// a connection already let in are never refused), then the count, for the entry as a whole
/// or per source (a rule and a set per family).
pub(super) fn over_count_rules(
    (out, sets): (&mut Vec<Rule>, &mut Vec<Set>),
    svc: &Service,
    (conn, proto): (ConnLimit, u8),
    matches: &[Match],
    rule: &dyn Fn(Vec<Match>, Verdict) -> Rule,
) {
    let over = match conn.over {
        Over::Reject if proto == IPPROTO_TCP => Verdict::RejectTcpReset,
        Over::Reject | Over::PortUnreachable => Verdict::RejectIcmpx(IcmpReject::PortUnreachable),
        // the policy checker takes no other (`continue` is a rate limit's)
        Over::Drop | Over::Continue => Verdict::Drop,
    };
    let mut m: Vec<Match> = matches
        .iter()
        .filter(|m| !matches!(m, Match::CtState(_)))
        .copied()
        .collect();
    m.push(Match::CtState(CtStates(CtStates::NEW)));
    for m in with_count(m, (conn.per, false), &mut |fam| {
        counter(svc, conn, fam, sets)
    }) {
        out.push(rule(m, over));
    }
}

/// The own rules of a block or a reject whose `connections` says `within = "continue"`:
/// `matches` with the count (one rule for the entry as a whole, or per source one per
/// family), so that they take only the packets of sources beyond it. Every packet that
/// reaches the count adds its connection to it, as `-m connlimit` does.
pub(super) fn beyond_count(
    sets: &mut Vec<Set>,
    svc: &Service,
    conn: ConnLimit,
    matches: Vec<Match>,
) -> Vec<Vec<Match>> {
    with_count(matches, (conn.per, false), &mut |fam| {
        counter(svc, conn, fam, sets)
    })
}

/// The match that counts connections of family `v6` whose sources count by their first
/// `prefix` bits (0 for the entry as a whole), in the entry's connection set of that family.
fn counter(svc: &Service, conn: ConnLimit, (v6, prefix): (bool, u8), sets: &mut Vec<Set>) -> Match {
    conn_set(svc, v6, sets);
    Match::ConnMeter {
        v6,
        prefix,
        max: conn.max,
    }
}

/// The entry's connection count set of one family (once): no lifetime, as the kernel
/// refuses `ct count` in a set with timeouts.
fn conn_set(svc: &Service, v6: bool, sets: &mut Vec<Set>) {
    let kind = if v6 { SetKind::Conn6 } else { SetKind::Conn4 };
    let name = set_name(kind, &svc.name);
    // repeats are dropped once at the end of `compile` ([`super::dedup_sets`])
    sets.push(Set {
        name,
        kind,
        elements: Vec::new(),
        timeout: None,
    });
}
