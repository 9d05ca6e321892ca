//! Policy → Plan: the classic stateful input chain. Pure: no I/O, no clock.
//!
//! Order of the chain (each rule counted, each carrying its name as a comment): the blocks
//! (`[[block]]`, dropped before anything is accepted, so a blocked source loses its open
//! connections too) ·
//! `established` · `invalid` · the blocks `after = "established"` · `loopback` · `icmp` ·
//! `icmpv6` · the blocks `after = "baseline"` · one rule per allowed (source, protocol, port
//! range), each followed by the blocks `after = "<its name>"` · the blocks `after = "allows"` ·
//! the rejects · `final` (drop, or accept in audit
//! mode).
//! More than [`ENTRIES_PER_CHAIN`] allow/reject rules go into chains the input chain jumps to.

use std::collections::HashMap;

use crate::core::model::{
    Baseline, Block, BlockAt, BlockState, Final, IcmpReject, Log, Mode, Policy, Reject, RejectWith,
    Section, Service,
};
use crate::core::plan::*;

mod addresses;
mod connections;
mod limits;
mod rejects;
mod states;
mod variants;
use addresses::{address_matches, one_or_set};
use limits::families_of;
use rejects::per_family;
pub use states::ICMPV6_UNTRACKED;
use states::untracked_too;

/// The name of statewall's table when none is given.
pub const DEFAULT_TABLE: &str = "statewall";
/// The input base chain (`[forward]` and `[output]` add chains named after their hooks).
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
        || name == CLAMP_MSS_COMMENT
        || hook_entries_chain_number(name).is_some()
}

/// Comment of a section's `clamp_mss` rule (the first of its chain).
pub const CLAMP_MSS_COMMENT: &str = "clamp_mss";

/// A section's `clamp_mss`: every TCP SYN (SYN set, RST not, as iptables' `--tcp-flags
/// SYN,RST SYN`) gets its MSS option lowered, and goes on to the rules after it.
fn clamp_mss_rule(mss: crate::core::model::Mss) -> Rule {
    Rule {
        comment: CLAMP_MSS_COMMENT.into(),
        origin: None,
        matches: vec![
            Match::L4Proto(IPPROTO_TCP),
            Match::TcpFlags {
                mask: crate::core::model::CLAMP_FLAGS.0,
                value: crate::core::model::CLAMP_FLAGS.1,
            },
        ],
        verdict: Verdict::SetMss(mss),
    }
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
        let kinds = if decl.networks {
            [SetKind::Live4, SetKind::Live6]
        } else {
            [SetKind::LiveHost4, SetKind::LiveHost6]
        };
        for kind in kinds {
            sets.push(Set {
                name: set_name(kind, &decl.name),
                kind,
                elements: Vec::new(),
                timeout: decl.timeout,
            });
        }
    }
    // the input section's entries, borrowed (a from_file list may hold 100,000 sources)
    let input = Entries {
        baseline: &policy.baseline,
        block: &policy.block,
        allow: &policy.allow,
        reject: &policy.reject,
    };
    section_rules(input, Hook::Input, &mut rules, &mut sets);
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
    rules.extend(
        policy
            .log_final
            .as_ref()
            .map(|l| final_log_rule(Hook::Input, l)),
    );
    rules.extend(final_rules(policy.mode, policy.final_rule));
    let mut chains = Vec::new();
    chains.extend(base_chain(Hook::Input, rules));
    for (hook, section) in [
        (Hook::Forward, &policy.forward),
        (Hook::Output, &policy.output),
    ] {
        let Some(section) = section else { continue };
        let mut rules: Vec<Rule> = section.clamp_mss.map(clamp_mss_rule).into_iter().collect();
        // the clamp entries after it: each SYN its matches say gets its MSS lowered and goes
        // on, in the order written (the kernel only lowers, but a later clamp's tcp_mss reads
        // what an earlier one left)
        for c in &section.clamp {
            service_rules(&c.service, &mut rules, &mut sets, Entry::Other, |_| {
                Verdict::SetMss(c.mss)
            });
        }
        section_rules(Entries::of(section), hook, &mut rules, &mut sets);
        rules.extend(section.log_final.as_ref().map(|l| final_log_rule(hook, l)));
        rules.extend(final_rules(policy.mode, section.final_rule));
        chains.extend(base_chain(hook, rules));
    }
    Plan {
        table: table.to_string(),
        mode: policy.mode,
        sets: dedup_sets(sets),
        chains,
    }
}

/// The last rule of a base chain: what enforce mode does with the rest; audit mode counts
/// and accepts it. A reject icmpx cannot say is two rules, one per family.
fn final_rules(mode: Mode, fin: Final) -> Vec<Rule> {
    let rule = Rule {
        comment: FINAL_COMMENT.into(),
        origin: None,
        matches: vec![],
        verdict: match (mode, fin) {
            (Mode::Enforce, Final::Drop) => Verdict::Drop,
            (Mode::Enforce, Final::Reject(kind)) => Verdict::RejectIcmpx(kind),
            (Mode::Enforce, Final::Accept) | (Mode::Audit, _) => Verdict::Accept,
        },
    };
    let mut rules = vec![rule];
    per_family(&mut rules, 0);
    rules
}

/// The log rule before a section's final rule (`log_final`): it shares the final rule's
/// name, so status shows the two together, and only counts and logs.
fn final_log_rule(hook: Hook, log: &Log) -> Rule {
    let prefix = log
        .prefix
        .clone()
        .unwrap_or_else(|| format!("statewall {} final: ", hook.as_str()));
    Rule {
        comment: FINAL_COMMENT.into(),
        origin: None,
        matches: vec![Match::Limit {
            rate: log.rate,
            over: false,
        }],
        verdict: Verdict::Log(LogTo {
            prefix: LogPrefix::new(&prefix),
            dest: log.dest,
        }),
    }
}

/// The base chain of `hook` (named after it), then the chains its entries moved to.
fn base_chain(hook: Hook, rules: Vec<Rule>) -> Vec<Chain> {
    let (rules, entry_chains) = split_entries(hook, rules);
    let mut chains = vec![Chain {
        name: hook.as_str().into(),
        hook: Some(BaseHook { hook, priority: 0 }),
        rules,
    }];
    chains.extend(entry_chains);
    chains
}

/// A section's rules in the fixed order: blocks · established · invalid · blocks after
/// established · loopback (input: `iif lo`; output: `oif lo`; forward: none) · icmp · icmpv6
/// · blocks after the baseline · allows · blocks after the allows · rejects (the final rule
/// and the audit recorders are added by the caller).
/// What a section's rules are made of: its baseline and entries.
#[derive(Clone, Copy)]
struct Entries<'a> {
    baseline: &'a Baseline,
    block: &'a [Block],
    allow: &'a [Service],
    reject: &'a [Reject],
}

impl<'a> Entries<'a> {
    fn of(s: &'a Section) -> Self {
        Entries {
            baseline: &s.baseline,
            block: &s.block,
            allow: &s.allow,
            reject: &s.reject,
        }
    }
}

/// The sets with each name's first only: meter and connection sets are pushed once per rule
/// that counts in them and kept here, in linear time, where a scan per push was quadratic.
fn dedup_sets(sets: Vec<Set>) -> Vec<Set> {
    let mut seen = std::collections::HashSet::with_capacity(sets.len());
    sets.into_iter()
        .filter(|s| seen.insert(s.name.clone()))
        .collect()
}

fn section_rules(sec: Entries<'_>, hook: Hook, rules: &mut Vec<Rule>, sets: &mut Vec<Set>) {
    let block_rules = |b: &Block, rules: &mut Vec<Rule>, sets: &mut Vec<Set>| {
        let start = rules.len();
        let entry = Entry::Block { state: b.state };
        service_rules(&b.service, rules, sets, entry, |proto| match b.with {
            None => Verdict::Drop,
            Some(with) => reject_verdict(with, proto),
        });
        per_family(rules, start);
    };
    let blocks = |at: BlockAt, rules: &mut Vec<Rule>, sets: &mut Vec<Set>| {
        for b in sec.block.iter().filter(|b| b.at == at) {
            block_rules(b, rules, sets);
        }
    };
    // the blocks `after = "<allow name>"`, by that name, in the order written
    let mut after_allow: HashMap<&str, Vec<&Block>> = HashMap::new();
    for b in sec.block {
        if let BlockAt::Allow(name) = &b.at {
            after_allow.entry(name.as_str()).or_default().push(b);
        }
    }
    blocks(BlockAt::First, rules, sets);
    let b = sec.baseline;
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
    blocks(BlockAt::Established, rules, sets);
    let lo = match hook {
        Hook::Input => Some(Match::Iif(LOOPBACK_IFINDEX)),
        Hook::Output => Some(Match::Oif(LOOPBACK_IFINDEX)),
        Hook::Forward => None,
    };
    if let (true, Some(lo)) = (b.loopback, lo) {
        rules.push(own("loopback", vec![lo], Verdict::Accept));
    }
    if b.icmp {
        // `meta l4proto icmp` alone also meets an IPv6 packet whose next header is 1, which
        // no ICMP of IPv6 is (ip6tables' `-p icmp`): the family is checked first
        rules.push(own(
            "icmp",
            vec![Match::NfProto { v6: false }, Match::L4Proto(IPPROTO_ICMP)],
            Verdict::Accept,
        ));
    }
    if b.icmpv6 {
        for (lo, hi) in ICMPV6_ESSENTIAL {
            let m = vec![
                Match::NfProto { v6: true },
                Match::L4Proto(IPPROTO_ICMPV6),
                Match::Icmpv6Type { lo, hi },
            ];
            rules.push(own("icmpv6", m, Verdict::Accept));
        }
    }
    blocks(BlockAt::Baseline, rules, sets);
    // Without the `established` rule nothing would carry the rest of a connection: the
    // allows are then stateless (every packet of the port, both directions' replies
    // included), never `ct state new` alone, which would let only the first packet in.
    let stateful = b.established;
    for svc in sec.allow {
        service_rules(svc, rules, sets, Entry::Allow { stateful }, |_| {
            Verdict::Accept
        });
        for b in after_allow.get(svc.name.as_str()).into_iter().flatten() {
            block_rules(b, rules, sets);
        }
    }
    blocks(BlockAt::Allows, rules, sets);
    for rej in sec.reject {
        let start = rules.len();
        service_rules(&rej.service, rules, sets, Entry::Other, |proto| {
            reject_verdict(rej.with, proto)
        });
        per_family(rules, start);
    }
}

/// How a reject (or a block `with` a reject kind) answers a rule of protocol `proto`.
fn reject_verdict(with: RejectWith, proto: u8) -> Verdict {
    match with {
        RejectWith::TcpReset => Verdict::RejectTcpReset,
        RejectWith::Default if proto == IPPROTO_TCP => Verdict::RejectTcpReset,
        RejectWith::Default => Verdict::RejectIcmpx(IcmpReject::PortUnreachable),
        RejectWith::Icmp(kind) => Verdict::RejectIcmpx(kind),
    }
}

/// More than [`ENTRIES_PER_CHAIN`] policy-entry rules (the run of rules that carry a policy
/// location) move, in order, into chains of that many, and the input chain jumps to each in
/// turn. An accept, drop or reject in a jumped-to chain ends the packet's walk as it would
/// have in place; a packet no rule there matches comes back to the next jump. So the verdict
/// of every packet is what it was, and each jump's counter says how many packets got that far.
fn split_entries(hook: Hook, rules: Vec<Rule>) -> (Vec<Rule>, Vec<Chain>) {
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
            comment: hook_entries_chain(hook, n),
            origin: None,
            matches: Vec::new(),
            verdict: jump_to(hook, n),
        });
        chains.push(Chain {
            name: hook_entries_chain(hook, n),
            hook: None,
            rules: entries.by_ref().take(ENTRIES_PER_CHAIN).collect(),
        });
    }
    rules.extend(tail);
    (rules, chains)
}

/// The rules of one policy entry: one per (source family, protocol or ICMP type), or one
/// per source family for an entry without ports (it then matches everything from there);
/// the entry's states add a `ct state` match (an allow's NEW behind the established rule or
/// its own `state`, a block's `state = "new"` or `"invalid"`). An entry's interfaces come first in each of
/// its rules.
///
/// A single source network or port range is matched inline; two or more become one
/// interval set per family / protocol (with a counter per element), so the packet path
/// costs one lookup whatever the length of the list. The same holds for destinations and
/// source ports; exceptions (`except_from`, `except_to`) are `!=` matches in each rule.
fn service_rules(
    svc: &Service,
    out: &mut Vec<Rule>,
    sets: &mut Vec<Set>,
    entry: Entry,
    verdict: impl Fn(u8) -> Verdict,
) {
    // an allow matches NEW connections after the established rule; without it, the states
    // its `state` says, or every packet; a block with `state` only NEW or INVALID ones; a
    // reject (in a section without the established rule) the states its `state` says
    let state = match entry {
        Entry::Allow { stateful: true } => Some(CtStates(CtStates::NEW)),
        Entry::Allow { stateful: false } | Entry::Other => svc.more.state,
        Entry::Block { state } => state.map(BlockState::ct),
    };
    let first_rule = out.len();
    let mut head = Vec::with_capacity(2);
    if let Some(name) = &svc.iif {
        head.push(ifname_match(name, false));
    }
    if let Some(name) = &svc.more.oif {
        head.push(ifname_match(name, true));
    }
    head.extend(
        svc.more
            .except_iif
            .iter()
            .map(|n| ifname_not_match(n, false)),
    );
    head.extend(
        svc.more
            .except_oif
            .iter()
            .map(|n| ifname_not_match(n, true)),
    );
    let first_set = sets.len();
    let families = address_matches(svc, sets);
    let bodies = bodies(svc, sets);
    // an entry's sets in the order readback finds them (by kind), so that a plan and its
    // table read back have the same fingerprint
    sets[first_set..].sort_by_key(|s| s.kind as u8);
    let protos: Vec<u8> = bodies.iter().map(|(p, _)| *p).collect();
    // a search of the packet's bytes comes last, after every cheaper match has decided
    // (a test of words at computed offsets likewise, after the search)
    let patterns = variants::product(
        crate::core::payload::contains_matches(&svc.more),
        &crate::core::u32::u32_matches(&svc.more),
    );
    let bodies: Vec<(u8, &Vec<Match>, &Vec<Match>)> = bodies
        .iter()
        .flat_map(|(p, b)| patterns.iter().map(move |q| (*p, b, q)))
        .collect();
    for variant in variants::variants(&svc.more, families, &protos) {
        let of_conn = variants::of_connection(&variant);
        for &(ref proto, body, search) in &bodies {
            if !variants::proto_meets_connection(*proto, &variant) {
                continue;
            }
            let mut matches = head.clone();
            // an ICMP part of a variant that checks no family checks its own first: `meta
            // l4proto icmp` also meets IPv6 packets of next header 1 (and `ipv6-icmp` IPv4
            // packets of protocol 58), which no ICMP of that family is
            if family_of(&variant).is_none()
                && let p @ (IPPROTO_ICMP | IPPROTO_ICMPV6) = *proto
            {
                matches.push(Match::NfProto {
                    v6: p == IPPROTO_ICMPV6,
                });
            }
            matches.extend(variant.iter().copied());
            matches.extend(body.iter().copied());
            if let Some(st) = state {
                let st = if of_conn {
                    st
                } else {
                    untracked_too(st, entry, svc.more.state.is_some(), body)
                };
                matches.push(Match::CtState(st));
            }
            matches.extend(search.iter().copied());
            let rule = |matches: Vec<Match>, verdict: Verdict| Rule {
                comment: svc.name.clone(),
                origin: Some(svc.loc),
                matches,
                verdict,
            };
            if let Some(log) = &svc.more.log {
                let mut m = matches.clone();
                m.push(Match::Limit {
                    rate: log.rate,
                    over: false,
                });
                let prefix = log
                    .prefix
                    .clone()
                    .unwrap_or_else(|| format!("statewall {}: ", svc.name));
                let to = LogTo {
                    prefix: LogPrefix::new(&prefix),
                    dest: log.dest,
                };
                out.push(rule(m, Verdict::Log(to)));
            }
            let conn = svc.more.connections;
            if let Some(conn) = conn.filter(|c| !c.within_continues) {
                let rules = (&mut *out, &mut *sets);
                connections::over_count_rules(rules, svc, (conn, *proto), &matches, &rule);
            }
            let mut own = match conn.filter(|c| c.within_continues) {
                Some(conn) => connections::beyond_count(sets, svc, conn, matches),
                None => vec![matches],
            };
            for (nth, limit) in svc.more.limit.iter().enumerate() {
                let allow = entry_is_allow(entry);
                own = own
                    .into_iter()
                    .flat_map(|m| {
                        let rules = (&mut *out, &mut *sets);
                        limits::limit_rules(
                            rules,
                            svc,
                            (*limit, nth as u8, allow, *proto),
                            m,
                            &rule,
                        )
                    })
                    .collect();
            }
            for m in own.into_iter().flat_map(|m| feeding(svc, m)) {
                out.push(rule(m, verdict(*proto)));
            }
        }
    }
    if !svc.more.limit.is_empty() || svc.more.log.is_some() || svc.more.connections.is_some() {
        // the entry's sets in the order readback finds them: by the first rule that names
        // each, then by kind
        let first_ref = |s: &Set| {
            out[first_rule..]
                .iter()
                .position(|r| {
                    r.matches
                        .iter()
                        .any(|m| set_of(r, m).as_deref() == Some(&s.name))
                })
                .unwrap_or(usize::MAX)
        };
        sets[first_set..].sort_by_key(|s| (first_ref(s), s.kind as u8));
    }
}

/// Whether an entry kind is an allow's.
fn entry_is_allow(e: Entry) -> bool {
    matches!(e, Entry::Allow { .. })
}

/// What kind of entry a rule is made for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Entry {
    /// an allow: `ct state new` on its rules when the section has the established rule
    Allow {
        stateful: bool,
    },
    /// a block: `ct state new` or `ct state invalid` on its rules with `state`
    Block {
        state: Option<BlockState>,
    },
    Other,
}

/// The matches of an entry's own rule, fed to live sets: `remove_from_set` ends it with
/// `delete @ip4_<set> { ip saddr }`, then a block's `refresh` and `add_to_set` with `update
/// @ip4_<set> { ip saddr }` (a key of one family: one rule per family when no other match
/// implies it). The deletes come first: they always match, where an update of a full set
/// does not, and the packet's source leaves the sets it should leave either way.
/// Unchanged for an entry with none.
fn feeding(svc: &Service, matches: Vec<Match>) -> Vec<Vec<Match>> {
    let refresh = svc.from_set.as_deref().filter(|_| svc.more.refresh);
    let named = |names: Vec<&str>, remove: bool| -> Vec<(LiveName, bool)> {
        names
            .into_iter()
            .filter_map(LiveName::hosts)
            .map(|n| (n, remove))
            .collect()
    };
    let mut sets = named(
        svc.more
            .remove_from_set
            .iter()
            .map(String::as_str)
            .collect(),
        true,
    );
    let updated = refresh
        .into_iter()
        .chain(svc.more.add_to_set.iter().map(String::as_str));
    sets.extend(named(updated.collect(), false));
    if sets.is_empty() {
        return vec![matches];
    }
    families_of(&matches)
        .into_iter()
        .map(|v6| {
            let mut m = matches.clone();
            m.extend(
                sets.iter()
                    .map(|&(set, remove)| Match::FeedLive { v6, set, remove }),
            );
            m
        })
        .collect()
}

/// The protocol parts of an entry's rules: (protocol, matches), one per protocol with
/// ports, ICMP type, whole protocol or TCP flag pattern; one without any for an entry that
/// names none (it matches everything from its sources).
fn bodies(svc: &Service, sets: &mut Vec<Set>) -> Vec<(u8, Vec<Match>)> {
    let m = &svc.more;
    let mut bodies: Vec<(u8, Vec<Match>)> = Vec::new();
    for (proto, dports, sports, dkind, skind, (not_d, not_s)) in [
        (
            IPPROTO_TCP,
            &svc.tcp,
            &m.tcp_sport,
            SetKind::Tcp,
            SetKind::TcpSport,
            (&m.except_tcp, &m.except_tcp_sport),
        ),
        (
            IPPROTO_UDP,
            &svc.udp,
            &m.udp_sport,
            SetKind::Udp,
            SetKind::UdpSport,
            (&m.except_udp, &m.except_udp_sport),
        ),
    ] {
        let flags: &[(u8, u8)] = if proto == IPPROTO_TCP {
            &m.tcp_flags
        } else {
            &[]
        };
        if dports.is_empty()
            && sports.is_empty()
            && flags.is_empty()
            && not_d.is_empty()
            && not_s.is_empty()
        {
            continue;
        }
        let mut base = vec![Match::L4Proto(proto)];
        base.extend(one_or_set(
            dports,
            svc,
            dkind,
            sets,
            Match::DstPort,
            Match::DstPortInSet,
        ));
        base.extend(one_or_set(
            sports,
            svc,
            skind,
            sets,
            Match::SrcPort,
            Match::SrcPortInSet,
        ));
        // exceptions: one `!=` each, as `except_from` is
        base.extend(not_d.iter().copied().map(Match::DstPortNot));
        base.extend(not_s.iter().copied().map(Match::SrcPortNot));
        if flags.is_empty() {
            bodies.push((proto, base.clone()));
        }
        for &(mask, value) in flags {
            let mut b = base.clone();
            b.push(Match::TcpFlags { mask, value });
            bodies.push((proto, b));
        }
    }
    for t in &svc.icmp {
        bodies.push((
            IPPROTO_ICMP,
            vec![Match::L4Proto(IPPROTO_ICMP), Match::IcmpType(*t)],
        ));
    }
    for &(ty, code) in &m.icmp_codes {
        bodies.push((
            IPPROTO_ICMP,
            vec![
                Match::L4Proto(IPPROTO_ICMP),
                Match::IcmpTypeCode { ty, code },
            ],
        ));
    }
    for &(ty, code) in &m.icmpv6 {
        let t = match code {
            None => Match::Icmpv6Type { lo: ty, hi: ty },
            Some(code) => Match::Icmpv6TypeCode { ty, code },
        };
        bodies.push((IPPROTO_ICMPV6, vec![Match::L4Proto(IPPROTO_ICMPV6), t]));
    }
    // exceptions: every type of the protocol but these, one `!=` each
    for (proto, v6, nots) in [
        (IPPROTO_ICMP, false, &m.except_icmp),
        (IPPROTO_ICMPV6, true, &m.except_icmpv6),
    ] {
        if !nots.is_empty() {
            let mut b = vec![Match::L4Proto(proto)];
            b.extend(nots.iter().map(|&ty| Match::IcmpTypeNot { v6, ty }));
            bodies.push((proto, b));
        }
    }
    for &p in &m.protocol {
        bodies.push((p, vec![Match::L4Proto(p)]));
    }
    for &(p, r) in &m.published {
        bodies.push(match p {
            0 => (0, vec![Match::CtOrigDport(r)]),
            p => (p, vec![Match::L4Proto(p), Match::CtOrigDport(r)]),
        });
    }
    if crate::core::exthdr::has_tcp_options(m) {
        bodies = with_tcp_options(bodies, m);
    }
    if bodies.is_empty() {
        // 0: no protocol; the verdict function answers with its protocol-less kind
        let not: Vec<Match> = m
            .except_protocol
            .iter()
            .map(|&p| Match::L4ProtoNot(p))
            .collect();
        bodies.push((0, not));
    }
    bodies
}

/// An entry's TCP bodies with its `tcp_option` matches (one body per kind), or, for an entry
/// that names no TCP otherwise, every TCP packet with them (as `except_tcp` alone). The
/// policy checker refuses other protocols beside them.
fn with_tcp_options(
    bodies: Vec<(u8, Vec<Match>)>,
    m: &crate::core::model::More,
) -> Vec<(u8, Vec<Match>)> {
    let mut bodies = bodies;
    if !bodies.iter().any(|(p, _)| *p == IPPROTO_TCP) {
        bodies.push((IPPROTO_TCP, vec![Match::L4Proto(IPPROTO_TCP)]));
    }
    let opts = crate::core::exthdr::tcp_option_matches(m);
    let mut out = Vec::with_capacity(bodies.len() * opts.len());
    for (proto, body) in bodies {
        if proto != IPPROTO_TCP {
            out.push((proto, body));
            continue;
        }
        for o in &opts {
            let mut b = body.clone();
            b.extend(o.iter().copied());
            out.push((proto, b));
        }
    }
    out
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
                    dst: None,
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
    fn blocks_go_where_after_says_with_their_verdict() {
        let src = "[[block]]\nname = \"b-allows\"\nfrom = [\"192.0.2.0/24\"]\nafter = \"allows\"\n\n\
                   [[block]]\nname = \"b-first\"\nfrom = [\"192.0.2.1\"]\nexcept_iif = \"lo\"\nwith = \"host-prohibited\"\n\n\
                   [[block]]\nname = \"b-base\"\nfrom = [\"192.0.2.2\"]\nafter = \"baseline\"\nwith = \"tcp-reset\"\ntcp = [25]\n\n\
                   [[block]]\nname = \"b-est\"\ntcp_flags = [\"null\"]\nafter = \"established\"\n\n\
                   [[allow]]\nname = \"ssh\"\ntcp = [22]\n\n\
                   [[reject]]\nname = \"ident\"\ntcp = [113]\n";
        let (p, d) = crate::core::policy::parse(src);
        let plan = compile(&p.unwrap_or_else(|| panic!("{d:?}")), "t");
        let rules: Vec<String> = plan.chains[0]
            .rules
            .iter()
            .map(|r| format!("{} {}", r.comment, crate::core::render::rule(r)))
            .collect();
        let names: Vec<&str> = plan.chains[0]
            .rules
            .iter()
            .map(|r| r.comment.as_str())
            .collect();
        assert_eq!(
            names,
            [
                "b-first",
                "established",
                "invalid",
                "b-est",
                "loopback",
                "icmp",
                "icmpv6",
                "icmpv6",
                "icmpv6",
                "b-base",
                "ssh",
                "b-allows",
                "ident",
                "final"
            ],
            "{rules:#?}"
        );
        let text = |name: &str| {
            let r = plan.chains[0].rules.iter().find(|r| r.comment == name);
            crate::core::render::rule(r.unwrap())
        };
        assert!(
            text("b-first").contains("iifname != \"lo\" ip saddr 192.0.2.1")
                && text("b-first").contains("reject with icmp host-prohibited"),
            "{rules:#?}"
        );
        assert!(
            text("b-base").ends_with("reject with tcp reset comment \"b-base\""),
            "{rules:#?}"
        );
        assert!(text("b-est").contains(" drop "), "{rules:#?}");
        assert!(text("b-allows").contains(" drop "), "{rules:#?}");
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
