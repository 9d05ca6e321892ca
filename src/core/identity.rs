//! Identity from structure: the table fingerprint, each rule's identity and the counters
//! carried across a swap are computed from the plan's data, field by field with explicit
//! tags — never from rendered text, so a cosmetic change to `render` changes no identity.
//!
//! The encoding below is part of statewall's on-disk and in-kernel contract (the table
//! comment and the state records hold its hashes): `tests/it/plan.rs` pins it with a
//! golden. Change it only with a new [`SCHEME`].

use std::collections::{HashMap, VecDeque};

use crate::core::live::LiveTable;
use crate::core::model::{Cidr, IcmpReject, LogDest, PortRange, Rate};
use crate::core::plan::{
    Chain, LiveName, Match, Plan, RecordKey, Rule, Set, SetElem, SetKind, Verdict,
};

/// The fingerprint scheme, written into the table comment as `id=<SCHEME>`. A table without
/// it was committed by statewall 0.1, whose fingerprint hashed the rendered text
/// ([`legacy_fingerprint`]).
pub const SCHEME: &str = "2";

/// 64-bit FNV-1a: the one hash statewall uses (fingerprints, rule identities, state-file
/// checksums). Not cryptographic: it tells changes apart, it does not resist forgery.
#[derive(Debug, Clone, Copy)]
pub struct Fnv(u64);

impl Default for Fnv {
    fn default() -> Self {
        Fnv(0xcbf2_9ce4_8422_2325)
    }
}

impl Fnv {
    pub fn bytes(&mut self, data: &[u8]) -> &mut Self {
        for b in data {
            self.0 ^= u64::from(*b);
            self.0 = self.0.wrapping_mul(0x0000_0100_0000_01b3);
        }
        self
    }

    fn tag(&mut self, t: u8) -> &mut Self {
        self.bytes(&[t])
    }

    fn u32(&mut self, v: u32) -> &mut Self {
        self.bytes(&v.to_be_bytes())
    }

    fn u64(&mut self, v: u64) -> &mut Self {
        self.bytes(&v.to_be_bytes())
    }

    /// A string, length first, so that ("ab", "c") and ("a", "bc") differ.
    fn str(&mut self, s: &str) -> &mut Self {
        self.u32(s.len() as u32).bytes(s.as_bytes())
    }

    pub fn finish(&self) -> u64 {
        self.0
    }

    pub fn hex(&self) -> String {
        format!("{:016x}", self.0)
    }
}

/// FNV-1a of `data`, as 16 hex digits.
pub fn hash_hex(data: &[u8]) -> String {
    Fnv::default().bytes(data).hex()
}

fn cidr(h: &mut Fnv, c: Cidr) {
    match c {
        Cidr::V4(a, l) => h.tag(4).bytes(&a.octets()).tag(l),
        Cidr::V6(a, l) => h.tag(6).bytes(&a.octets()).tag(l),
    };
}

fn ports(h: &mut Fnv, r: PortRange) {
    h.bytes(&r.lo.to_be_bytes()).bytes(&r.hi.to_be_bytes());
}

fn icmp_reject(k: IcmpReject) -> u8 {
    match k {
        IcmpReject::PortUnreachable => 1,
        IcmpReject::HostUnreachable => 2,
        IcmpReject::AdminProhibited => 3,
        IcmpReject::NoRoute => 4,
        // never in a RejectIcmpx of a compiled plan (they compile to RejectIcmp); tagged all
        // the same so that identity stays total
        IcmpReject::HostProhibited => 5,
        IcmpReject::NetProhibited => 6,
        IcmpReject::ProtoUnreachable => 7,
    }
}

fn record_key(k: RecordKey) -> u8 {
    match k {
        RecordKey::TcpPort => 1,
        RecordKey::UdpPort => 2,
        RecordKey::Src4 => 3,
        RecordKey::Src6 => 4,
    }
}

/// A per-source limit's bucket: its key (family, prefix) and rate; whether it matches what
/// exceeds the rate (`over`), and which of the entry's limits it is (`nth`).
fn meter(
    h: &mut Fnv,
    (v6, prefix): (bool, u8),
    r: Rate,
    (over, nth): (bool, u8),
    shared: Option<LiveName>,
) {
    h.tag(29).tag(u8::from(v6)).tag(prefix);
    rate(h, r);
    // what exceeds a per-source limit goes on (`over = "continue"`): tagged only then (a
    // byte no match begins with), so that every plan made before it keeps its fingerprint
    if !over {
        h.tag(200);
    }
    // the second and later limits of an entry (each its own meter set): tagged only then,
    // for the same reason
    if nth > 0 {
        h.tag(201).tag(nth);
    }
    // a meter several entries share (`meter = "dns"`): likewise
    if let Some(s) = shared {
        h.tag(202).str(s.as_str());
    }
}

fn a_match(h: &mut Fnv, m: &Match) {
    match *m {
        Match::CtState(s) => {
            h.tag(1).u32(s.0);
        }
        Match::Iif(i) => {
            h.tag(2).u32(i);
        }
        Match::L4Proto(p) => {
            h.tag(3).tag(p);
        }
        Match::L4ProtoNot(p) => {
            h.tag(55).tag(p);
        }
        Match::SrcNet(c) => {
            h.tag(4);
            cidr(h, c);
        }
        Match::DstPort(r) => {
            h.tag(5);
            ports(h, r);
        }
        Match::Icmpv6Type { lo, hi } => {
            h.tag(6).tag(lo).tag(hi);
        }
        Match::SrcInSet { v6 } => {
            h.tag(7).tag(u8::from(v6));
        }
        Match::DstPortInSet => {
            h.tag(8);
        }
        Match::Record(k) => {
            h.tag(9).tag(record_key(k));
        }
        Match::IcmpType(t) => {
            h.tag(10).tag(t);
        }
        Match::IifName(name) => {
            h.tag(11).bytes(&name);
        }
        Match::SrcInAddrs { v6 } => {
            h.tag(27).tag(u8::from(v6));
        }
        Match::SrcInLive { v6, set } => {
            h.tag(12).tag(u8::from(v6)).str(set.as_str());
            if set.holds_hosts() {
                h.tag(1);
            }
        }
        Match::FeedLive { v6, set, remove } => {
            // 40: clear of the tags other branches may take next; 41 a removal
            h.tag(if remove { 41 } else { 40 })
                .tag(u8::from(v6))
                .str(set.as_str());
        }
        Match::DstNet(c) => {
            h.tag(13);
            cidr(h, c);
        }
        Match::DstInSet { v6 } => {
            h.tag(14).tag(u8::from(v6));
        }
        Match::SrcNetNot(c) => {
            h.tag(15);
            cidr(h, c);
        }
        Match::DstNetNot(c) => {
            h.tag(16);
            cidr(h, c);
        }
        Match::NfProto { v6 } => {
            h.tag(17).tag(u8::from(v6));
        }
        Match::Oif(i) => {
            h.tag(18).u32(i);
        }
        Match::OifName(name) => {
            h.tag(19).bytes(&name);
        }
        Match::IifWild(name) => {
            h.tag(20).bytes(&name);
        }
        Match::OifWild(name) => {
            h.tag(21).bytes(&name);
        }
        Match::SrcPort(r) => {
            h.tag(22);
            ports(h, r);
        }
        Match::SrcPortInSet => {
            h.tag(23);
        }
        Match::IcmpTypeCode { ty, code } => {
            h.tag(24).tag(ty).tag(code);
        }
        Match::IcmpTypeNot { v6, ty } => {
            h.tag(43).tag(u8::from(v6)).tag(ty);
        }
        Match::Icmpv6TypeCode { ty, code } => {
            h.tag(25).tag(ty).tag(code);
        }
        Match::TcpFlags { mask, value } => {
            h.tag(26).tag(mask).tag(value);
        }
        Match::Limit { rate: r, over } => {
            h.tag(28).tag(u8::from(over));
            rate(h, r);
        }
        Match::Meter {
            v6,
            prefix,
            rate: r,
            over,
            nth,
            shared,
        } => meter(h, (v6, prefix), r, (over, nth), shared),
        Match::CtCount { max } => conn_count(h, None, max),
        Match::ConnMeter { v6, prefix, max } => conn_count(h, Some((v6, prefix)), max),
        Match::CtOrigDport(r) => {
            h.tag(30);
            ports(h, r);
        }
        Match::CtDnat
        | Match::CtOrigDst(_)
        | Match::CtOrigSrc(_)
        | Match::CtProto(_)
        | Match::AddrType { .. }
        | Match::PktType { .. }
        | Match::Ipsec { .. }
        | Match::RtType { .. }
        | Match::TcpOption { .. }
        | Match::TcpMss { .. }
        | Match::EtherSrc { .. }
        | Match::Length { .. }
        | Match::Ttl { .. }
        | Match::SkOwner { .. }
        | Match::Mark { .. }
        | Match::IfNot { .. } => header_match(h, m),
        Match::Hour { .. } | Match::Day { .. } | Match::Time { .. } => clock_match(h, m),
        Match::Contains { .. } | Match::U32 { .. } | Match::Helper { .. } => xt_match(h, m),
        Match::DstPortNot(r) => {
            h.tag(31);
            ports(h, r);
        }
        Match::SrcPortNot(r) => {
            h.tag(32);
            ports(h, r);
        }
    }
}

/// The matches of the kernel's clock (`meta hour`, `meta day`, `meta time`): tags 52-54.
fn clock_match(h: &mut Fnv, m: &Match) {
    match *m {
        Match::Hour { lo, hi, not } => {
            h.tag(52).tag(u8::from(not)).u32(lo).u32(hi);
        }
        Match::Day { lo, hi, not } => {
            h.tag(53).tag(u8::from(not)).tag(lo).tag(hi);
        }
        Match::Time { secs, before } => {
            h.tag(54).tag(u8::from(before)).u64(secs);
        }
        _ => unreachable!("a_match gives clock_match the clock's matches only"),
    }
}

/// The matches of a header field or type (address and packet types, extension headers, the
/// source MAC, the packet's mark), of an interface's exception (tag 33) and of the
/// connection's DNAT status: tags 34 and up.
fn header_match(h: &mut Fnv, m: &Match) {
    match *m {
        Match::Mark { value, mask, not } => {
            h.tag(45).tag(u8::from(not)).u32(value).u32(mask);
        }
        Match::IfNot { out, wild, name } => {
            h.tag(33)
                .tag(u8::from(out))
                .tag(u8::from(wild))
                .bytes(&name);
        }
        // the connection's status, DNAT'ed (`dnat`)
        Match::CtDnat => {
            h.tag(46);
        }
        // the connection's protocol (`connection_protocol`)
        Match::CtProto(p) => {
            h.tag(57).tag(p);
        }
        // the connection's original source (`published_from`)
        Match::CtOrigSrc(c) => {
            h.tag(58);
            cidr(h, c);
        }
        // the connection's destination before DNAT (`published_to`)
        Match::CtOrigDst(c) => {
            h.tag(56);
            cidr(h, c);
        }
        Match::AddrType { dst, ty, not } => {
            h.tag(34).tag(u8::from(dst)).tag(ty).tag(u8::from(not));
        }
        Match::PktType { ty, not } => {
            h.tag(35).tag(ty).tag(u8::from(not));
        }
        // IPsec in or out (`ipsec_in`, `ipsec_out`)
        Match::Ipsec { out, present } => {
            h.tag(60).tag(u8::from(out)).tag(u8::from(present));
        }
        Match::RtType { ty, not } => {
            h.tag(36).tag(ty).tag(u8::from(not));
        }
        Match::TcpOption { kind, present } => {
            h.tag(37).tag(kind).tag(u8::from(present));
        }
        Match::TcpMss { lo, hi, not } => {
            h.tag(40).tag(u8::from(not));
            h.bytes(&lo.to_be_bytes()).bytes(&hi.to_be_bytes());
        }
        Match::EtherSrc { mac, not } => {
            h.tag(38).tag(u8::from(not)).bytes(&mac);
        }
        Match::Length { lo, hi, not } => {
            h.tag(39).tag(u8::from(not));
            h.bytes(&lo.to_be_bytes()).bytes(&hi.to_be_bytes());
        }
        Match::Ttl { v6, lo, hi, not } => {
            h.tag(41)
                .tag(u8::from(v6))
                .tag(lo)
                .tag(hi)
                .tag(u8::from(not));
        }
        Match::SkOwner { gid, id, not } => {
            h.tag(42).tag(u8::from(gid)).tag(u8::from(not));
            h.bytes(&id.to_be_bytes());
        }
        _ => unreachable!("a_match hands over header matches only"),
    }
}

/// A u32 expression: tag 47, then its text (which says every number, operator and range).
fn u32_expr(h: &mut Fnv, u: &crate::core::u32::U32, not: bool) {
    h.tag(47).tag(u8::from(not)).str(&u.text());
}

/// The kernel's x_tables matches statewall runs (nft_compat): `string`, `u32`, `helper`.
fn xt_match(h: &mut Fnv, m: &Match) {
    match *m {
        Match::Contains { pattern, not } => contains(h, &pattern, not),
        Match::U32 { expr, not } => u32_expr(h, &expr, not),
        Match::Helper { name, not } => {
            h.tag(59).tag(u8::from(not)).str(name.as_str());
        }
        _ => unreachable!("a_match gives xt_match the x_tables matches only"),
    }
}

/// A search of the packet's bytes: tag 44, its options, the pattern (length first).
fn contains(h: &mut Fnv, p: &crate::core::payload::Pattern, not: bool) {
    h.tag(44)
        .tag(u8::from(not))
        .tag(u8::from(p.icase))
        .tag(u8::from(p.algo == crate::core::payload::Algo::Kmp));
    h.bytes(&p.from.to_be_bytes()).bytes(&p.to.to_be_bytes());
    h.tag(p.bytes().len() as u8).bytes(p.bytes());
}

/// A connection count, for the entry or (`key`: IPv6, prefix) per source: tags 50 and up,
/// clear of every tag before them.
fn conn_count(h: &mut Fnv, key: Option<(bool, u8)>, max: u32) {
    match key {
        None => h.tag(50).u32(max),
        Some((v6, prefix)) => h.tag(51).tag(u8::from(v6)).tag(prefix).u32(max),
    };
}

fn rate(h: &mut Fnv, r: Rate) {
    h.u32(r.n).u64(r.unit.secs()).u32(r.burst);
}

fn verdict(h: &mut Fnv, v: Verdict) {
    match v {
        Verdict::Continue => h.tag(0),
        Verdict::Accept => h.tag(1),
        Verdict::Drop => h.tag(2),
        Verdict::RejectTcpReset => h.tag(3),
        Verdict::RejectIcmpx(k) => h.tag(4).tag(icmp_reject(k)),
        Verdict::Jump(n) => h.tag(5).u32(n),
        Verdict::JumpIn(hook, n) => h.tag(6).str(hook.as_str()).u32(n),
        Verdict::Log(to) => {
            h.tag(7).str(to.prefix.as_str());
            match to.dest {
                LogDest::Level(l) => h.tag(1).tag(l),
                LogDest::Group(g) => h.tag(2).u32(u32::from(g)),
            }
        }
        Verdict::RejectIcmp { v6, code } => h.tag(8).tag(u8::from(v6)).tag(code),
        Verdict::SetMss(crate::core::model::Mss::Pmtu) => h.tag(9).tag(0),
        Verdict::SetMss(crate::core::model::Mss::Value(v)) => h.tag(9).tag(1).u32(u32::from(v)),
    };
}

fn rule(h: &mut Fnv, r: &Rule) {
    h.str(&r.comment).u32(r.matches.len() as u32);
    for m in &r.matches {
        a_match(h, m);
    }
    verdict(h, r.verdict);
}

/// A set kind's tag in the fingerprint (also the set cache's, `core::setcache`): fixed forever.
pub(crate) fn set_kind(k: SetKind) -> u8 {
    match k {
        SetKind::Src4 => 1,
        SetKind::Src6 => 2,
        SetKind::Tcp => 3,
        SetKind::Udp => 4,
        SetKind::AuditTcp => 5,
        SetKind::AuditUdp => 6,
        SetKind::AuditSrc4 => 7,
        SetKind::AuditSrc6 => 8,
        SetKind::Live4 => 9,
        SetKind::Live6 => 10,
        SetKind::Dst4 => 11,
        SetKind::Dst6 => 12,
        SetKind::TcpSport => 13,
        SetKind::UdpSport => 14,
        SetKind::Addr4 => 15,
        SetKind::Addr6 => 16,
        SetKind::LiveHost4 => 31,
        SetKind::LiveHost6 => 32,
        SetKind::Meter4 => 17,
        SetKind::Meter6 => 18,
        SetKind::Conn4 => 50,
        SetKind::Conn6 => 51,
    }
}

fn set(h: &mut Fnv, s: &Set) {
    h.str(&s.name).tag(set_kind(s.kind));
    if s.kind.live() || s.kind.meter() || s.kind.conn() {
        // a live set's declaration is the plan; its members are run-time state (a meter's
        // and a connection count's elements are sources the packet path saw)
        h.u64(s.timeout.unwrap_or(0));
        return;
    }
    // the kernel keeps elements by key: their order in the policy is not part of the table
    let mut sorted;
    let els = if s.elements.is_sorted() {
        &s.elements
    } else {
        sorted = s.elements.clone();
        sorted.sort();
        &sorted
    };
    h.u32(els.len() as u32);
    for &e in els {
        match e {
            SetElem::Net(c) => {
                h.tag(1);
                cidr(h, c);
            }
            SetElem::Ports(r) => {
                h.tag(2);
                ports(h, r);
            }
        }
    }
}

fn chain(h: &mut Fnv, c: &Chain) {
    h.str(&c.name);
    match c.hook {
        None => h.tag(0),
        Some(b) => h.tag(1).str(b.hook.as_str()).u32(b.priority as u32),
    };
    h.u32(c.rules.len() as u32);
    for r in &c.rules {
        rule(h, r);
    }
}

/// The plan's fingerprint: table name, sets (elements in key order), chains and rules.
/// Where a rule came from in the policy file (`origin`) and the mode are not part of it (the
/// mode is stored beside it, and shows in the final rule's verdict anyway).
pub fn fingerprint(plan: &Plan) -> String {
    fingerprint_from(sets_state(plan), &plan.chains)
}

/// The fingerprint's state once it has taken in `plan`'s table and sets (every set
/// element): [`fingerprint_from`] it and any chains is the fingerprint of the plan with
/// those chains, without walking 100,000 elements again (`core::setcache` keeps it).
pub fn sets_state(plan: &Plan) -> u64 {
    let mut h = Fnv::default();
    h.str("statewall-plan").str(SCHEME).str(&plan.table);
    h.u32(plan.sets.len() as u32);
    for s in &plan.sets {
        set(&mut h, s);
    }
    h.0
}

/// The fingerprint of a plan whose table and sets left the state `state` ([`sets_state`])
/// and whose chains are `chains`.
pub fn fingerprint_from(state: u64, chains: &[crate::core::plan::Chain]) -> String {
    let mut h = Fnv(state);
    h.u32(chains.len() as u32);
    for c in chains {
        chain(&mut h, c);
    }
    h.hex()
}

/// Statewall 0.1's fingerprint: FNV-1a of the rendered table text. Kept only to recognise
/// tables 0.1 committed (their comment has no `id=`) until they are next replaced; the
/// upgrade test (`tests/data/legacy/`) pins it against tables 0.1 really wrote.
pub fn legacy_fingerprint(plan: &Plan) -> String {
    hash_hex(crate::core::render::table_body(plan).as_bytes())
}

/// A rule's identity: its comment (the policy entry), matches and verdict; not its place.
/// Counters follow a rule by this across any change of the rules around it.
pub fn rule_id(r: &Rule) -> u64 {
    let mut h = Fnv::default();
    rule(&mut h, r);
    h.finish()
}

/// The table comment statewall writes: `statewall plan=<fingerprint> mode=<mode> id=2`.
pub fn table_comment(plan: &Plan) -> String {
    comment_of(plan, &fingerprint(plan))
}

/// [`table_comment`] of `plan`, whose fingerprint is `fp` (computed once: it walks every
/// set element).
pub fn comment_of(plan: &Plan, fp: &str) -> String {
    format!(
        "statewall plan={fp} mode={} id={SCHEME}",
        plan.mode.as_str()
    )
}

/// The fingerprint `plan` would have in a table whose comment says it was made with
/// `scheme` (`None`: statewall 0.1).
pub fn fingerprint_as(plan: &Plan, scheme: Option<&str>) -> String {
    match scheme {
        None => legacy_fingerprint(plan),
        Some(_) => fingerprint(plan),
    }
}

/// Initial counter values per (chain index, rule index) of a plan: a full table replace
/// would reset every counter, so a swap that must carry counters over (audit → enforce,
/// rollback to the previous ruleset) creates the counters with these values.
pub type Seeds = HashMap<(usize, usize), (u64, u64)>;

/// The counters of a live table, with each rule's identity, so they can be given back to
/// the same rules later (stored with a pending change; see [`CounterSnapshot::seeds`]).
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct CounterSnapshot {
    pub rules: Vec<SnapshotRule>,
}

#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct SnapshotRule {
    pub chain: String,
    pub index: usize,
    /// [`rule_id`] of the rule (None when the rule was not statewall's)
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<u64>,
    /// statewall 0.1 kept `render::rule` of the rule instead: still read from its records
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub text: Option<String>,
    pub packets: u64,
    pub bytes: u64,
}

impl CounterSnapshot {
    pub fn of(live: &LiveTable) -> CounterSnapshot {
        let mut rules = Vec::new();
        for c in &live.chains {
            for (index, r) in c.rules.iter().enumerate() {
                rules.push(SnapshotRule {
                    chain: c.name.clone(),
                    index,
                    id: r.rule.as_ref().ok().map(rule_id),
                    text: None,
                    packets: r.packets,
                    bytes: r.bytes,
                });
            }
        }
        CounterSnapshot { rules }
    }

    /// Seeds for `plan`: each rule gets the counters of a snapshot rule with the same
    /// identity — by identity, not by place, so counters follow a rule that moved. Rules
    /// with the same identity pair up in order. Any other rule starts at zero.
    pub fn seeds(&self, plan: &Plan) -> Seeds {
        // hash maps: carrying the counters of 50,000 rules is not 50,000² comparisons
        let mut by_id: HashMap<u64, VecDeque<&SnapshotRule>> = HashMap::new();
        let mut by_text: HashMap<&str, VecDeque<&SnapshotRule>> = HashMap::new();
        for s in &self.rules {
            if let Some(id) = s.id {
                by_id.entry(id).or_default().push_back(s);
            } else if let Some(t) = &s.text {
                by_text.entry(t.as_str()).or_default().push_back(s);
            }
        }
        let mut seeds = Seeds::new();
        for (ci, c) in plan.chains.iter().enumerate() {
            for (ri, r) in c.rules.iter().enumerate() {
                let found = match by_id.get_mut(&rule_id(r)) {
                    Some(q) => q.pop_front(),
                    None if !by_text.is_empty() => by_text
                        .get_mut(crate::core::render::rule(r).as_str())
                        .and_then(VecDeque::pop_front),
                    None => None,
                };
                if let Some(s) = found {
                    seeds.insert((ci, ri), (s.packets, s.bytes));
                }
            }
        }
        seeds
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::plan::CtStates;

    fn r(comment: &str, m: Vec<Match>, v: Verdict) -> Rule {
        Rule {
            comment: comment.into(),
            origin: None,
            matches: m,
            verdict: v,
        }
    }

    #[test]
    fn identity_ignores_origin_and_tells_fields_apart() {
        let a = r("ssh", vec![Match::L4Proto(6)], Verdict::Accept);
        let mut b = a.clone();
        b.origin = Some(crate::core::model::Loc { line: 3, col: 1 });
        assert_eq!(rule_id(&a), rule_id(&b));
        for other in [
            r("ssh2", vec![Match::L4Proto(6)], Verdict::Accept),
            r("ssh", vec![Match::L4Proto(17)], Verdict::Accept),
            r("ssh", vec![Match::L4Proto(6)], Verdict::Drop),
            r("ssh", vec![], Verdict::Accept),
            r(
                "ssh",
                vec![Match::CtState(CtStates(CtStates::NEW))],
                Verdict::Accept,
            ),
        ] {
            assert_ne!(rule_id(&a), rule_id(&other), "{other:?}");
        }
    }

    #[test]
    fn counters_follow_a_rule_that_moved() {
        let ssh = r("ssh", vec![Match::L4Proto(6)], Verdict::Accept);
        let web = r("web", vec![Match::L4Proto(6)], Verdict::Accept);
        let fin = r("final", vec![], Verdict::Drop);
        let live_plan = Plan {
            table: "t".into(),
            mode: crate::core::model::Mode::Enforce,
            sets: vec![],
            chains: vec![Chain {
                name: "input".into(),
                hook: None,
                rules: vec![ssh.clone(), fin.clone()],
            }],
        };
        let snap = CounterSnapshot {
            rules: live_plan.chains[0]
                .rules
                .iter()
                .enumerate()
                .map(|(i, x)| SnapshotRule {
                    chain: "input".into(),
                    index: i,
                    id: Some(rule_id(x)),
                    text: None,
                    packets: 10 + i as u64,
                    bytes: 100,
                })
                .collect(),
        };
        let mut next = live_plan.clone();
        next.chains[0].rules = vec![web, ssh, fin];
        let seeds = snap.seeds(&next);
        assert_eq!(seeds.get(&(0, 0)), None, "a new rule starts at zero");
        assert_eq!(seeds.get(&(0, 1)), Some(&(10, 100)), "ssh moved down one");
        assert_eq!(seeds.get(&(0, 2)), Some(&(11, 100)));
    }
}
