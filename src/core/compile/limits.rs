//! The rules an entry's limits add: before its own rule, what exceeds its connection count
//! (`connections`: `ct count over 3`, per source `add @conn4_<name> { ip saddr ct count over
//! 3 }`) and its rate (`limit`: `limit rate over …`, per source `update @meter4_<name> { ip
//! saddr limit rate over … }`) gets the limit's `over`; a limit whose overflow goes on
//! (`over = "continue"`) sits in the entry's own rule instead. Each per-source limit has its
//! dynamic set per family.

use super::families_of;
use crate::core::model::{ConnLimit, IcmpReject, Limit, LimitPer, Over, Rate, Service};
use crate::core::plan::*;

/// The verdict of what exceeds a limit, for a rule of protocol `proto`.
fn over_verdict(over: Over, proto: u8) -> Verdict {
    match over {
        Over::Drop => Verdict::Drop,
        Over::Reject if proto == IPPROTO_TCP => Verdict::RejectTcpReset,
        Over::Reject | Over::PortUnreachable => Verdict::RejectIcmpx(IcmpReject::PortUnreachable),
        Over::Continue => unreachable!("an overflow that goes on has no rule of its own"),
    }
}

/// The over-limit rules of one of the entry's rules (`matches`, protocol `proto`): the
/// connection count's, then the rate limit's (unless its overflow goes on).
pub(super) fn over_rules(
    out: &mut Vec<Rule>,
    svc: &Service,
    sets: &mut Vec<Set>,
    allow: bool,
    proto: u8,
    matches: &[Match],
    rule: &dyn Fn(Vec<Match>, Verdict) -> Rule,
) {
    if let Some(conn) = svc.more.connections {
        connection_rules(out, svc, sets, conn, proto, matches, rule);
    }
    let Some(limit) = svc.more.limit.filter(|l| l.over != Over::Continue) else {
        return;
    };
    let mut m = matches.to_vec();
    // an allow limits the connections it lets in, not their packets (or, with
    // `state`, the packets of the states it names)
    let has_state = m.iter().any(|m| matches!(m, Match::CtState(_)));
    if allow && !has_state {
        m.push(Match::CtState(CtStates(CtStates::NEW)));
    }
    let over = over_verdict(limit.over, proto);
    match limit.per {
        LimitPer::Entry => {
            m.push(Match::Limit {
                rate: limit.rate,
                over: true,
            });
            out.push(rule(m, over));
        }
        LimitPer::Source { v6_prefix } => {
            for v6 in families_of(&m) {
                let mut m = m.clone();
                let prefix = if v6 { v6_prefix } else { 32 };
                m.push(Match::Meter {
                    v6,
                    prefix,
                    rate: limit.rate,
                    over: true,
                });
                meter_set(svc, v6, limit.rate, sets);
                out.push(rule(m, over));
            }
        }
    }
}

/// The rules that refuse a NEW connection beyond an allow's count: its matches with `ct
/// state new` alone (whatever states the allow itself takes: the packets of a connection
/// already let in are never refused), then the count, for the entry as a whole or per source
/// (one rule and set per family).
fn connection_rules(
    out: &mut Vec<Rule>,
    svc: &Service,
    sets: &mut Vec<Set>,
    conn: ConnLimit,
    proto: u8,
    matches: &[Match],
    rule: &dyn Fn(Vec<Match>, Verdict) -> Rule,
) {
    let mut m: Vec<Match> = matches
        .iter()
        .filter(|m| !matches!(m, Match::CtState(_)))
        .copied()
        .collect();
    m.push(Match::CtState(CtStates(CtStates::NEW)));
    let over = over_verdict(conn.over, proto);
    match conn.per {
        LimitPer::Entry => {
            m.push(Match::CtCount { max: conn.max });
            out.push(rule(m, over));
        }
        LimitPer::Source { v6_prefix } => {
            for v6 in families_of(&m) {
                let mut m = m.clone();
                let prefix = if v6 { v6_prefix } else { 32 };
                m.push(Match::ConnMeter {
                    v6,
                    prefix,
                    max: conn.max,
                });
                let kind = if v6 { SetKind::Conn6 } else { SetKind::Conn4 };
                own_set(svc, kind, None, sets);
                out.push(rule(m, over));
            }
        }
    }
}

/// The rules of an entry whose limit says `over = "continue"`: its own rule with the limit
/// in it (`limit rate 2/second … accept`, per source `update @meter4_<name> { ip saddr limit
/// rate 2/second } … accept`), so that what exceeds the rate is left to the rules after it,
/// as iptables' `-m limit … -j ACCEPT` leaves it.
pub(super) fn limited_rules(
    out: &mut Vec<Rule>,
    svc: &Service,
    sets: &mut Vec<Set>,
    limit: Limit,
    matches: Vec<Match>,
    rule: &dyn Fn(Vec<Match>, Verdict) -> Rule,
    verdict: Verdict,
) {
    match limit.per {
        LimitPer::Entry => {
            let mut m = matches;
            m.push(Match::Limit {
                rate: limit.rate,
                over: false,
            });
            out.push(rule(m, verdict));
        }
        LimitPer::Source { v6_prefix } => {
            for v6 in families_of(&matches) {
                let mut m = matches.clone();
                let prefix = if v6 { v6_prefix } else { 32 };
                m.push(Match::Meter {
                    v6,
                    prefix,
                    rate: limit.rate,
                    over: false,
                });
                meter_set(svc, v6, limit.rate, sets);
                out.push(rule(m, verdict));
            }
        }
    }
}

/// The entry's meter set of one family (once): its buckets forgotten once full again.
fn meter_set(svc: &Service, v6: bool, rate: Rate, sets: &mut Vec<Set>) {
    let kind = if v6 { SetKind::Meter6 } else { SetKind::Meter4 };
    own_set(svc, kind, Some(rate.refill_secs()), sets);
}

/// The entry's dynamic set of `kind` (once), its elements' lifetime `timeout`.
fn own_set(svc: &Service, kind: SetKind, timeout: Option<u64>, sets: &mut Vec<Set>) {
    let name = set_name(kind, &svc.name);
    if sets.iter().any(|s| s.name == name) {
        return;
    }
    sets.push(Set {
        name,
        kind,
        elements: Vec::new(),
        timeout,
    });
}
