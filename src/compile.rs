//! Policy → Plan: the classic stateful input chain. Pure: no I/O, no clock.
//!
//! Order of the chain (each rule counted, each carrying its name as a comment):
//! `established` · `invalid` · `loopback` · `icmp` · `icmpv6` · one rule per allowed
//! (source, protocol, port range) · the rejects · `final` (drop, or accept in audit mode).

use crate::model::{Mode, Policy, RejectWith, Service};
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
    for svc in &policy.allow {
        service_rules(svc, &mut rules, true, |_| Verdict::Accept);
    }
    for rej in &policy.reject {
        service_rules(&rej.service, &mut rules, false, |proto| match rej.with {
            RejectWith::TcpReset => Verdict::RejectTcpReset,
            RejectWith::Default if proto == IPPROTO_TCP => Verdict::RejectTcpReset,
            RejectWith::Default => Verdict::RejectIcmpx(crate::model::IcmpReject::PortUnreachable),
            RejectWith::Icmp(kind) => Verdict::RejectIcmpx(kind),
        });
    }
    rules.push(Rule {
        comment: FINAL_COMMENT.into(),
        origin: None,
        matches: vec![],
        verdict: match policy.mode {
            Mode::Enforce => Verdict::Drop,
            Mode::Audit => Verdict::Accept,
        },
    });
    Plan {
        table: table.to_string(),
        mode: policy.mode,
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

/// One rule per (source network, protocol, port range); `new_only` adds `ct state new`.
fn service_rules(
    svc: &Service,
    out: &mut Vec<Rule>,
    new_only: bool,
    verdict: impl Fn(u8) -> Verdict,
) {
    let sources: Vec<Option<crate::model::Cidr>> = if svc.from.is_empty() {
        vec![None]
    } else {
        svc.from.iter().copied().map(Some).collect()
    };
    for src in &sources {
        for (proto, ports) in [(IPPROTO_TCP, &svc.tcp), (IPPROTO_UDP, &svc.udp)] {
            for range in ports.iter() {
                let mut matches = Vec::with_capacity(4);
                if let Some(net) = src {
                    matches.push(Match::SrcNet(*net));
                }
                matches.push(Match::L4Proto(proto));
                matches.push(Match::DstPort(*range));
                if new_only {
                    matches.push(Match::CtState(CtStates(CtStates::NEW)));
                }
                out.push(Rule {
                    comment: svc.name.clone(),
                    origin: Some(svc.loc),
                    matches,
                    verdict: verdict(proto),
                });
            }
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
