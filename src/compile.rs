//! Policy → Plan: the classic stateful input chain. Pure: no I/O, no clock.
//!
//! Order of the chain (each rule counted, each carrying its name as a comment):
//! `established` · `invalid` · `loopback` · `icmp` · `icmpv6` · one rule per allowed
//! (source, protocol, port range) · the rejects · `final` (drop, or accept in audit mode).

use crate::model::{Cidr, Final, Mode, Policy, RejectWith, Service};
use crate::plan::*;

/// The name of statewall's table when none is given.
pub const DEFAULT_TABLE: &str = "statewall";
/// The one base chain statewall creates.
pub const INPUT_CHAIN: &str = "input";
/// Comment of the last rule of the chain.
pub const FINAL_COMMENT: &str = "final";

/// ICMPv6 types accepted by the `icmpv6` baseline rule, as inclusive ranges:
/// errors (destination unreachable, packet too big, time exceeded, parameter problem),
/// echo request/reply, MLD (130-132), router and neighbour discovery (133-136), MLDv2 report (143).
/// Neighbour solicitations arrive untracked, so `ct state established` never covers them.
pub const ICMPV6_ESSENTIAL: [(u8, u8); 3] = [(1, 4), (128, 136), (143, 143)];

pub fn compile(policy: &Policy, table: &str) -> Plan {
    let mut rules = Vec::new();
    let b = &policy.baseline;
    if b.established {
        rules.push(Rule {
            comment: "established".into(),
            origin: None,
            matches: vec![Match::CtState(CtStates(
                CtStates::ESTABLISHED | CtStates::RELATED,
            ))],
            verdict: Verdict::Accept,
        });
    }
    if b.invalid_drop {
        rules.push(Rule {
            comment: "invalid".into(),
            origin: None,
            matches: vec![Match::CtState(CtStates(CtStates::INVALID))],
            verdict: Verdict::Drop,
        });
    }
    if b.loopback {
        rules.push(Rule {
            comment: "loopback".into(),
            origin: None,
            matches: vec![Match::Iif(LOOPBACK_IFINDEX)],
            verdict: Verdict::Accept,
        });
    }
    if b.icmp {
        rules.push(Rule {
            comment: "icmp".into(),
            origin: None,
            matches: vec![Match::L4Proto(IPPROTO_ICMP)],
            verdict: Verdict::Accept,
        });
    }
    if b.icmpv6 {
        for (lo, hi) in ICMPV6_ESSENTIAL {
            rules.push(Rule {
                comment: "icmpv6".into(),
                origin: None,
                matches: vec![Match::L4Proto(IPPROTO_ICMPV6), Match::Icmpv6Type { lo, hi }],
                verdict: Verdict::Accept,
            });
        }
    }
    let mut sets = Vec::new();
    for svc in &policy.allow {
        service_rules(svc, &mut rules, &mut sets, true, |_| Verdict::Accept);
    }
    for rej in &policy.reject {
        service_rules(
            &rej.service,
            &mut rules,
            &mut sets,
            false,
            |proto| match rej.with {
                RejectWith::TcpReset => Verdict::RejectTcpReset,
                RejectWith::Default if proto == IPPROTO_TCP => Verdict::RejectTcpReset,
                RejectWith::Default => {
                    Verdict::RejectIcmpx(crate::model::IcmpReject::PortUnreachable)
                }
                RejectWith::Icmp(kind) => Verdict::RejectIcmpx(kind),
            },
        );
    }
    if policy.mode == Mode::Audit {
        // What the final rule would drop, kept by the kernel: destination ports and
        // sources in dynamic sets with a counter per element (`statewall verify` reads them).
        for key in RecordKey::ALL {
            let kind = key.set_kind();
            sets.push(Set {
                name: set_name(kind, ""),
                kind,
                elements: Vec::new(),
            });
            let mut matches = match key {
                RecordKey::TcpPort => vec![Match::L4Proto(IPPROTO_TCP)],
                RecordKey::UdpPort => vec![Match::L4Proto(IPPROTO_UDP)],
                RecordKey::Src4 | RecordKey::Src6 => vec![],
            };
            matches.push(Match::Record(key));
            rules.push(Rule {
                comment: AUDIT_COMMENT.into(),
                origin: None,
                matches,
                verdict: Verdict::Continue,
            });
        }
    }
    rules.push(Rule {
        comment: FINAL_COMMENT.into(),
        origin: None,
        matches: vec![],
        verdict: match (policy.mode, policy.final_rule) {
            (Mode::Enforce, Final::Drop) => Verdict::Drop,
            (Mode::Enforce, Final::Reject(kind)) => Verdict::RejectIcmpx(kind),
            (Mode::Audit, _) => Verdict::Accept,
        },
    });
    Plan {
        table: table.to_string(),
        mode: policy.mode,
        sets,
        chains: vec![Chain {
            name: INPUT_CHAIN.into(),
            hook: Some(BaseHook {
                hook: Hook::Input,
                priority: 0,
            }),
            rules,
        }],
    }
}

/// The rules of one policy entry: one per (source family, protocol or ICMP type), or one
/// per source family for an entry without ports (it then matches everything from there);
/// `new_only` adds `ct state new`. An entry's `iif` comes first in each of its rules.
///
/// A single source network or port range is matched inline; two or more become one
/// interval set per family / protocol (with a counter per element), so the packet path
/// costs one lookup whatever the length of the list.
fn service_rules(
    svc: &Service,
    out: &mut Vec<Rule>,
    sets: &mut Vec<Set>,
    new_only: bool,
    verdict: impl Fn(u8) -> Verdict,
) {
    let v4: Vec<Cidr> = svc
        .from
        .iter()
        .copied()
        .filter(|n| matches!(n, Cidr::V4(..)))
        .collect();
    let v6: Vec<Cidr> = svc
        .from
        .iter()
        .copied()
        .filter(|n| matches!(n, Cidr::V6(..)))
        .collect();
    let mut sources: Vec<Option<Match>> = Vec::new();
    if svc.from.is_empty() {
        sources.push(None);
    }
    for (nets, kind, v6) in [(&v4, SetKind::Src4, false), (&v6, SetKind::Src6, true)] {
        match nets.as_slice() {
            [] => {}
            [one] => sources.push(Some(Match::SrcNet(*one))),
            many => {
                sets.push(Set {
                    name: set_name(kind, &svc.name),
                    kind,
                    elements: many.iter().map(|n| SetElem::Net(*n)).collect(),
                });
                sources.push(Some(Match::SrcInSet { v6 }));
            }
        }
    }
    let mut bodies: Vec<(u8, Vec<Match>)> = Vec::new();
    for (proto, ports, kind) in [
        (IPPROTO_TCP, &svc.tcp, SetKind::Tcp),
        (IPPROTO_UDP, &svc.udp, SetKind::Udp),
    ] {
        match ports.as_slice() {
            [] => {}
            [one] => bodies.push((proto, vec![Match::L4Proto(proto), Match::DstPort(*one)])),
            many => {
                sets.push(Set {
                    name: set_name(kind, &svc.name),
                    kind,
                    elements: many.iter().map(|r| SetElem::Ports(*r)).collect(),
                });
                bodies.push((proto, vec![Match::L4Proto(proto), Match::DstPortInSet]));
            }
        }
    }
    for t in &svc.icmp {
        bodies.push((
            IPPROTO_ICMP,
            vec![Match::L4Proto(IPPROTO_ICMP), Match::IcmpType(*t)],
        ));
    }
    let portless = svc.tcp.is_empty() && svc.udp.is_empty() && svc.icmp.is_empty();
    if portless {
        // 0: no protocol; the verdict function answers with its protocol-less kind
        bodies.push((0, Vec::new()));
    }
    for src in &sources {
        let mut head = Vec::with_capacity(5);
        if let Some(name) = &svc.iif {
            head.push(iifname(name));
        }
        if let Some(m) = src {
            head.push(*m);
        }
        for (proto, body) in &bodies {
            let mut matches = head.clone();
            matches.extend(body.iter().copied());
            if new_only {
                matches.push(Match::CtState(CtStates(CtStates::NEW)));
            }
            out.push(Rule {
                comment: svc.name.clone(),
                origin: Some(svc.loc),
                matches,
                verdict: verdict(*proto),
            });
        }
    }
}

/// Applies `--audit` from the command line on top of the policy's own mode.
pub fn with_mode(mut policy: Policy, audit: bool) -> Policy {
    if audit {
        policy.mode = Mode::Audit;
    }
    policy
}
