//! Policy → Plan: the classic stateful input chain. Pure: no I/O, no clock.
//!
//! Order of the chain (each rule counted, each carrying its name as a comment): the blocks
//! (`[[block]]`, dropped before anything is accepted, so a blocked source loses its open
//! connections too) ·
//! `established` · `invalid` · `loopback` · `icmp` · `icmpv6` · one rule per allowed
//! (source, protocol, port range) · the rejects · `final` (drop, or accept in audit mode).
//! More than [`ENTRIES_PER_CHAIN`] allow/reject rules go into chains the input chain jumps to.

use crate::core::model::{Cidr, Final, Mode, Policy, RejectWith, Service};
use crate::core::plan::*;

/// The name of statewall's table when none is given.
pub const DEFAULT_TABLE: &str = "statewall";
/// The one base chain statewall creates.
pub const INPUT_CHAIN: &str = "input";
/// Comment of the last rule of the chain.
pub const FINAL_COMMENT: &str = "final";
/// Comments of the baseline rules, in chain order.
pub const BASELINE_COMMENTS: [&str; 5] = ["established", "invalid", "loopback", "icmp", "icmpv6"];

/// Whether a policy entry may not take `name`: statewall's own rules carry it (the baseline,
/// the audit recorders, the final rule, the jumps into `entries_N`), and counters, `verify`
/// and readback tell rules apart by these names.
pub fn is_reserved_name(name: &str) -> bool {
    BASELINE_COMMENTS.contains(&name)
        || name == AUDIT_COMMENT
        || name == FINAL_COMMENT
        || entries_chain_number(name).is_some()
}

/// ICMPv6 types accepted by the `icmpv6` baseline rule, as inclusive ranges:
/// errors (destination unreachable, packet too big, time exceeded, parameter problem),
/// echo request/reply, MLD (130-132), router and neighbour discovery (133-136), MLDv2 report (143).
/// Neighbour solicitations arrive untracked, so `ct state established` never covers them.
pub const ICMPV6_ESSENTIAL: [(u8, u8); 3] = [(1, 4), (128, 136), (143, 143)];

pub fn compile(policy: &Policy, table: &str) -> Plan {
    let mut rules = Vec::new();
    let mut sets = Vec::new();
    // each live set is two kernel sets, one per family, declared before any rule uses them
    for decl in &policy.sets {
        for kind in [SetKind::Live4, SetKind::Live6] {
            sets.push(Set {
                name: set_name(kind, &decl.name),
                kind,
                elements: Vec::new(),
                timeout: decl.timeout,
            });
        }
    }
    for svc in &policy.block {
        service_rules(svc, &mut rules, &mut sets, false, |_| Verdict::Drop);
    }
    let b = &policy.baseline;
    // statewall's own rules: named after the baseline part, from no policy line
    let own = |comment: &str, matches: Vec<Match>, verdict| Rule {
        comment: comment.into(),
        origin: None,
        matches,
        verdict,
    };
    if b.established {
        let st = CtStates(CtStates::ESTABLISHED | CtStates::RELATED);
        rules.push(own(
            "established",
            vec![Match::CtState(st)],
            Verdict::Accept,
        ));
    }
    if b.invalid_drop {
        let st = CtStates(CtStates::INVALID);
        rules.push(own("invalid", vec![Match::CtState(st)], Verdict::Drop));
    }
    if b.loopback {
        rules.push(own(
            "loopback",
            vec![Match::Iif(LOOPBACK_IFINDEX)],
            Verdict::Accept,
        ));
    }
    if b.icmp {
        rules.push(own(
            "icmp",
            vec![Match::L4Proto(IPPROTO_ICMP)],
            Verdict::Accept,
        ));
    }
    if b.icmpv6 {
        for (lo, hi) in ICMPV6_ESSENTIAL {
            let m = vec![Match::L4Proto(IPPROTO_ICMPV6), Match::Icmpv6Type { lo, hi }];
            rules.push(own("icmpv6", m, Verdict::Accept));
        }
    }
    // Without the `established` rule nothing would carry the rest of a connection: the
    // allows are then stateless (every packet of the port, both directions' replies
    // included), never `ct state new` alone, which would let only the first packet in.
    let stateful = policy.baseline.established;
    for svc in &policy.allow {
        service_rules(svc, &mut rules, &mut sets, stateful, |_| Verdict::Accept);
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
                    Verdict::RejectIcmpx(crate::core::model::IcmpReject::PortUnreachable)
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
                timeout: None,
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
    let (rules, entry_chains) = split_entries(rules);
    let mut chains = vec![Chain {
        name: INPUT_CHAIN.into(),
        hook: Some(BaseHook {
            hook: Hook::Input,
            priority: 0,
        }),
        rules,
    }];
    chains.extend(entry_chains);
    Plan {
        table: table.to_string(),
        mode: policy.mode,
        sets,
        chains,
    }
}

/// More than [`ENTRIES_PER_CHAIN`] policy-entry rules (the run of rules that carry a policy
/// location) move, in order, into chains of that many, and the input chain jumps to each in
/// turn. An accept, drop or reject in a jumped-to chain ends the packet's walk as it would
/// have in place; a packet no rule there matches comes back to the next jump. So the verdict
/// of every packet is what it was, and each jump's counter says how many packets got that far.
fn split_entries(rules: Vec<Rule>) -> (Vec<Rule>, Vec<Chain>) {
    let first = rules.iter().position(|r| r.origin.is_some());
    let last = rules.iter().rposition(|r| r.origin.is_some());
    let (Some(first), Some(last)) = (first, last) else {
        return (rules, Vec::new());
    };
    if last + 1 - first <= ENTRIES_PER_CHAIN {
        return (rules, Vec::new());
    }
    let mut rules = rules;
    let tail = rules.split_off(last + 1);
    let entries = rules.split_off(first);
    let mut chains = Vec::new();
    let mut entries = entries.into_iter().peekable();
    while entries.peek().is_some() {
        let n = chains.len() as u32 + 1;
        rules.push(Rule {
            comment: entries_chain(n),
            origin: None,
            matches: Vec::new(),
            verdict: Verdict::Jump(n),
        });
        chains.push(Chain {
            name: entries_chain(n),
            hook: None,
            rules: entries.by_ref().take(ENTRIES_PER_CHAIN).collect(),
        });
    }
    rules.extend(tail);
    (rules, chains)
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
    if let Some(set) = svc.from_set.as_deref().and_then(LiveName::new) {
        sources.push(Some(Match::SrcInLive { v6: false, set }));
        sources.push(Some(Match::SrcInLive { v6: true, set }));
    } else if svc.from.is_empty() {
        sources.push(None);
    }
    // one lookup per kind of list: networks in an interval set, single addresses in a hash
    // set (a change to a 100,000-address hash set costs the kernel no walk of the set);
    // a single network or address is matched inline
    for (nets, v6) in [(&v4, false), (&v6, true)] {
        let (kind, addr_kind) = if v6 {
            (SetKind::Src6, SetKind::Addr6)
        } else {
            (SetKind::Src4, SetKind::Addr4)
        };
        if nets.len() == 1 {
            sources.push(Some(Match::SrcNet(nets[0])));
            continue;
        }
        let (hosts, networks): (Vec<Cidr>, Vec<Cidr>) = nets.iter().partition(|n| is_host(n));
        for (list, kind, m) in [
            (networks, kind, Match::SrcInSet { v6 }),
            (hosts, addr_kind, Match::SrcInAddrs { v6 }),
        ] {
            match list.as_slice() {
                [] => {}
                [one] => sources.push(Some(Match::SrcNet(*one))),
                many => {
                    sets.push(Set {
                        name: set_name(kind, &svc.name),
                        kind,
                        elements: many.iter().map(|n| SetElem::Net(*n)).collect(),
                        timeout: None,
                    });
                    sources.push(Some(m));
                }
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
                    timeout: None,
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

/// A single address (/32, /128).
fn is_host(n: &Cidr) -> bool {
    matches!(n, Cidr::V4(_, 32) | Cidr::V6(_, 128))
}

/// Applies `--audit` from the command line on top of the policy's own mode.
pub fn with_mode(mut policy: Policy, audit: bool) -> Policy {
    if audit {
        policy.mode = Mode::Audit;
    }
    policy
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::lint::{Packet, evaluate};
    use std::net::IpAddr;

    /// `n` entries, each one TCP port (10000 + i); every 7th only from 203.0.113.0/24, and
    /// every 11th a reject instead (ident-style).
    fn policy(n: usize) -> Policy {
        let mut src = String::new();
        for i in 0..n {
            let port = 10_000 + i;
            if i % 11 == 5 {
                src.push_str(&format!(
                    "[[reject]]\nname = \"r{i}\"\ntcp = [{port}]\nwith = \"tcp-reset\"\n"
                ));
            } else if i % 7 == 3 {
                src.push_str(&format!(
                    "[[allow]]\nname = \"e{i}\"\ntcp = [{port}]\nfrom = [\"203.0.113.0/24\"]\n"
                ));
            } else {
                src.push_str(&format!("[[allow]]\nname = \"e{i}\"\ntcp = [{port}]\n"));
            }
        }
        let (p, d) = crate::core::policy::parse(&src);
        assert!(!crate::core::diag::has_errors(&d), "{d:?}");
        p.unwrap()
    }

    /// The plan with every jump replaced by the rules of the chain it jumps to.
    fn inlined(plan: &Plan) -> Vec<Rule> {
        let mut out = Vec::new();
        for r in &plan.chains[0].rules {
            match r.verdict {
                Verdict::Jump(n) => {
                    let c = plan.chains.iter().find(|c| c.name == entries_chain(n));
                    out.extend(c.expect("jump target exists").rules.iter().cloned());
                }
                _ => out.push(r.clone()),
            }
        }
        out
    }

    #[test]
    fn statewall_names_its_own_rules_only_with_reserved_names() {
        let (p, d) = crate::core::policy::parse("mode = \"audit\"\n");
        assert!(!crate::core::diag::has_errors(&d), "{d:?}");
        let plan = compile(&p.unwrap(), "t");
        for r in &plan.chains[0].rules {
            assert!(is_reserved_name(&r.comment), "{}", r.comment);
        }
        let plan = compile(&policy(ENTRIES_PER_CHAIN + 1), "t");
        let jumps = plan.chains[0].rules.iter().filter(|r| r.origin.is_none());
        assert!(jumps.clone().any(|r| r.comment == "entries_2"));
        assert!(jumps.into_iter().all(|r| is_reserved_name(&r.comment)));
        assert!(!is_reserved_name("ssh") && !is_reserved_name("entries"));
    }

    #[test]
    fn up_to_a_chainful_of_entry_rules_stays_in_the_input_chain() {
        let plan = compile(&policy(ENTRIES_PER_CHAIN), "t");
        assert_eq!(plan.chains.len(), 1);
        assert!(
            plan.chains[0]
                .rules
                .iter()
                .all(|r| !matches!(r.verdict, Verdict::Jump(_)))
        );
    }

    #[test]
    fn more_entry_rules_move_in_order_into_jumped_to_chains() {
        let n = 2 * ENTRIES_PER_CHAIN + 345;
        let p = policy(n);
        let plan = compile(&p, "t");
        let input = &plan.chains[0];
        assert_eq!(input.name, INPUT_CHAIN);
        let names: Vec<&str> = plan.chains[1..].iter().map(|c| c.name.as_str()).collect();
        assert_eq!(names, ["entries_1", "entries_2", "entries_3"]);
        assert!(plan.chains[1..].iter().all(|c| c.hook.is_none()));
        let sizes: Vec<usize> = plan.chains[1..].iter().map(|c| c.rules.len()).collect();
        assert_eq!(sizes, [ENTRIES_PER_CHAIN, ENTRIES_PER_CHAIN, 345]);
        // the input chain: baseline, the three jumps in order, final
        let texts: Vec<String> = input.rules.iter().map(crate::core::render::rule).collect();
        let jumps: Vec<&String> = texts.iter().filter(|t| t.contains("jump")).collect();
        assert_eq!(
            jumps,
            [
                "counter jump entries_1 comment \"entries_1\"",
                "counter jump entries_2 comment \"entries_2\"",
                "counter jump entries_3 comment \"entries_3\""
            ]
        );
        assert_eq!(input.rules.last().unwrap().comment, FINAL_COMMENT);
        // nothing lost, nothing reordered: inlining the jumps gives the unsplit chain
        let flat = inlined(&plan);
        let order: Vec<&str> = flat
            .iter()
            .filter(|r| r.origin.is_some())
            .map(|r| r.comment.as_str())
            .collect();
        let names = p.allow.iter().map(|s| s.name.as_str());
        let expected: Vec<&str> = names
            .chain(p.reject.iter().map(|r| r.service.name.as_str()))
            .collect();
        assert_eq!(order.len(), n);
        assert_eq!(order, expected);
        let mut one_chain = plan.clone();
        one_chain.chains = vec![Chain {
            rules: flat,
            ..plan.chains[0].clone()
        }];
        // and every packet gets the same verdict from the same entry
        for i in 0..n + 3 {
            for src in ["203.0.113.9", "198.51.100.1"] {
                let pkt = Packet {
                    src: src.parse::<IpAddr>().unwrap(),
                    l4proto: IPPROTO_TCP,
                    dport: Some(10_000 + i as u16),
                    icmpv6_type: None,
                    ct: CtStates::NEW,
                    iif: 2,
                };
                let (a, b) = (evaluate(&plan, &pkt), evaluate(&one_chain, &pkt));
                assert_eq!(a.verdict, b.verdict, "port {} from {src}", 10_000 + i);
                let name =
                    |o: &crate::core::lint::Outcome| o.rule.as_ref().map(|r| r.2.comment.clone());
                assert_eq!(name(&a), name(&b), "port {} from {src}", 10_000 + i);
            }
        }
    }

    #[test]
    fn without_the_established_rule_allows_carry_the_whole_connection() {
        let (p, d) = crate::core::policy::parse(
            "[baseline]\nestablished = false\n\n[[allow]]\nname = \"ssh\"\ntcp = [22]\n",
        );
        let plan = compile(&p.unwrap_or_else(|| panic!("{d:?}")), "t");
        let ssh = plan.chains[0]
            .rules
            .iter()
            .find(|r| r.comment == "ssh")
            .unwrap();
        assert!(
            !ssh.matches.iter().any(|m| matches!(m, Match::CtState(_))),
            "{ssh:?}"
        );
        let (p, _) = crate::core::policy::parse("[[allow]]\nname = \"ssh\"\ntcp = [22]\n");
        let plan = compile(&p.unwrap(), "t");
        let ssh = plan.chains[0]
            .rules
            .iter()
            .find(|r| r.comment == "ssh")
            .unwrap();
        assert!(
            ssh.matches
                .contains(&Match::CtState(CtStates(CtStates::NEW)))
        );
    }
}
