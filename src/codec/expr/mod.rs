//! One home per expression: every kind of match and verdict statewall writes has a file here
//! holding both directions side by side — its encode (a plan match → rustables expressions,
//! or our own bytes where rustables has none) and its decode (the expressions at a position
//! of a dumped rule → the match, and how many expressions it used). This file only
//! registers them and runs them over a rule.
//!
//! | file | plan | nft |
//! |---|---|---|
//! | `ct_state` | `CtState` | `ct state established,related` |
//! | `iif` | `Iif` | `iif lo` |
//! | `iifname` | `IifName` | `iifname "eth0"` |
//! | `l4proto` | `L4Proto`, `L4ProtoNot` | `meta l4proto tcp`, `meta l4proto != tcp` |
//! | `saddr` | `SrcNet`, `SrcInSet` | `ip saddr 192.0.2.0/24`, `ip6 saddr @src6_web` |
//! | `dport` | `DstPort`, `DstPortNot`, `DstPortInSet` | `th dport 22`, `th dport != 80`, `th dport @tcp_web` |
//! | `icmp` | `IcmpType`, `Icmpv6Type`, `IcmpTypeNot` | `icmp type 8`, `icmpv6 type 128-136`, `icmp type != 8` |
//! | `daddr` | `DstNet`, `DstNetNot`, `DstInSet` | `ip daddr 10.0.0.0/8`, `ip daddr != …`, `ip6 daddr @dst6_web` |
//! | `nfproto` | `NfProto` | `meta nfproto ipv6` |
//! | `oif` | `Oif`, `OifName` | `oif lo`, `oifname "eth0"` |
//! | `ifwild` | `IifWild`, `OifWild` | `iifname "br-*"`, `oifname "eth*"` |
//! | `ifnot` | `IfNot` | `iifname != "lo"`, `oifname != "eth*"` |
//! | `sport` | `SrcPort`, `SrcPortNot`, `SrcPortInSet` | `th sport 53`, `th sport != 53`, `th sport @tsport_dns` |
//! | `icmpcode` | `IcmpTypeCode`, `Icmpv6TypeCode` | `icmp type 3 icmp code 4` |
//! | `tcpflags` | `TcpFlags` | `tcp flags fin,syn / fin,syn` |
//! | `record` | `Record` | `update @audit_tcp { th dport }` (audit recorders) |
//! | `limit` | `Limit` | `limit rate over 12/minute burst 6 packets` |
//! | `meter` | `Meter`, `FeedLive` | `update @meter4_ssh { ip saddr limit rate over 12/minute }`, `update @ip4_trap { ip saddr }`, `delete @ip4_knock { ip saddr }` |
//! | `connlimit` | `CtCount`, `ConnMeter` | `ct count over 3`, `add @conn4_ssh { ip saddr ct count over 3 }` |
//! | `ctorig` | `CtOrigDport`, `CtOrigDst`, `CtOrigSrc` | `ct original proto-dst 8080`, `ct original ip daddr 192.0.2.1`, `ct original ip saddr 192.0.2.0/24` |
//! | `ctproto` | `CtProto` | `ct protocol tcp` |
//! | `ctstatus` | `CtDnat` | `ct status dnat` |
//! | `fib` | `AddrType` | `fib daddr type local`, `fib saddr type != broadcast` |
//! | `pkttype` | `PktType` | `meta pkttype broadcast`, `meta pkttype != multicast` |
//! | `ipsec` | `Ipsec` | `meta ipsec exists`, `rt ipsec missing` |
//! | `exthdr` | `RtType`, `TcpOption`, `TcpMss` | `rt type 0`, `rt type != 2`, `tcp option 64 exists`, `tcp option maxseg missing`, `tcp option maxseg size != 536-65535` |
//! | `owner` | `SkOwner` | `meta skuid 1000`, `meta skgid != 0` |
//! | `ether` | `EtherSrc` | `ether saddr 02:00:00:00:00:01`, `ether saddr != …` (after `meta iiftype ether`) |
//! | `ttl` | `Ttl` | `ip ttl < 64`, `ip6 hoplimit != 255`, `ip ttl 6-9` (after the family check) |
//! | `length` | `Length` | `meta length 0-1500`, `meta length != 576` |
//! | `xtstring` | `Contains` | `xt match string` (the kernel's x_tables match, nft_compat) |
//! | `xtu32` | `U32` | `xt match u32` (likewise) |
//! | `xthelper` | `Helper` | `xt match helper` (likewise) |
//! | `mark` | `Mark` | `meta mark 0x0000ca6c`, `meta mark & 0x00ff0000 != 0x00040000` |
//! | `clock` | `Hour`, `Day`, `Time` | `meta hour "09:00:00"-"17:00:00"`, `meta day 1-5`, `meta time < "2038-01-19 03:14:08"` |
//! | `log` | `Verdict::Log` | `log prefix "statewall ssh: " level info` |
//! | `mss` | `Verdict::SetMss` | `tcp option maxseg size set rt mtu`, `… set 1360` |
//! | `counter` | every rule's counter | `counter` |
//! | `verdict` | `Verdict` | `accept`, `drop`, `jump entries_1`, `reject with …` |
//!
//! `prim` holds the expressions themselves (meta, cmp, payload, …) as read and written, and
//! the recognisers several matches share.
//!
//! Adding an expression, say `limit`:
//! 1. its numbers in `codec/nft.rs`, under their uapi names (the header test checks them);
//! 2. `expr/limit.rs` with its `encode` and `decode` (and a round-trip test: see
//!    `testing`); an expression `prim` does not parse reaches `decode` as
//!    [`Expr::Other`], whose `data` holds its attributes;
//! 3. here: `mod limit;`, its arm in [`encode_match`], its `decode` in [`DECODERS`].
//!
//! Outside the codec it needs its `plan::Match` variant, and its text in `core::render`.

mod clock;
mod connlimit;
mod counter;
mod ct_state;
mod ctorig;
mod ctproto;
mod ctstatus;
mod daddr;
mod dport;
mod ether;
mod exthdr;
mod fib;
mod icmp;
mod icmpcode;
mod ifnot;
mod ifwild;
mod iif;
mod iifname;
mod ipsec;
mod l4proto;
mod length;
mod limit;
mod log;
mod mark;
mod meter;
mod mss;
mod nfproto;
mod oif;
mod owner;
mod pkttype;
mod prim;
mod record;
mod saddr;
mod sport;
mod tcpflags;
mod ttl;
mod verdict;
mod xthelper;
mod xtstring;
mod xtu32;

use std::collections::HashMap;

use crate::codec::wire::Attrs;
use crate::core::plan::{self, Match, RecordKey, Verdict};

pub(crate) use prim::{Expr, parse_list};

/// Set name → `NFTA_SET_ID` within one batch.
pub(crate) type SetIds = HashMap<String, u32>;

/// One plan rule's expressions into a rustables rule: its matches, its counter (starting
/// at `counter` when given), its verdict. An expression rustables cannot write goes in as
/// a placeholder, and its own bytes are returned, in order, for [`splice_own`] to put in
/// the placeholders' places in the finished message (none for most rules).
pub(crate) fn encode(
    out: &mut rustables::Rule,
    rule: &plan::Rule,
    counter: Option<(u64, u64)>,
    set_ids: &SetIds,
) -> Vec<Vec<u8>> {
    let mut own = Vec::new();
    for m in &rule.matches {
        encode_match(out, rule, m, set_ids, &mut own);
    }
    out.add_expr(counter::encode(counter));
    match rule.verdict {
        Verdict::Log(to) => placeholder(out, &mut own, |l| log::encode_own(l, to)),
        Verdict::SetMss(mss) => placeholder(out, &mut own, |l| mss::encode_own(l, mss)),
        v => verdict::encode(out, v),
    }
    own
}

/// The prefix of the `log` expression that stands in for one of our own expressions.
const PLACEHOLDER: &str = "statewall:own-expression";

/// A placeholder in `out`, and the expression `write` makes in `own`.
fn placeholder(out: &mut rustables::Rule, own: &mut Vec<Vec<u8>>, write: impl FnOnce(&mut Attrs)) {
    out.add_expr(rustables::expr::Log::new(None, Some(PLACEHOLDER)).expect("a short prefix"));
    let mut list = Attrs::default();
    write(&mut list);
    own.push(list.0);
}

/// A rule message rustables wrote with placeholders → the same message with each
/// placeholder replaced by the next of `own` (whole `NFTA_LIST_ELEM` attributes).
pub(crate) fn splice_own(msg: &[u8], own: &[Vec<u8>]) -> Vec<u8> {
    use crate::codec::nft::{
        NFGENMSG_LEN, NFTA_LOG_PREFIX, NFTA_RULE_EXPRESSIONS, NLA_TYPE_MASK, NLMSG_HDRLEN,
    };
    use crate::codec::wire::{align4, attr, string};
    /// (type with its flags, the whole attribute, its payload) of each attribute
    fn raw(buf: &[u8]) -> Vec<(u16, &[u8], &[u8])> {
        let mut out = Vec::new();
        let mut rest = buf;
        while rest.len() >= 4 {
            let len = usize::from(u16::from_ne_bytes([rest[0], rest[1]]));
            let ty = u16::from_ne_bytes([rest[2], rest[3]]);
            if len < 4 || len > rest.len() {
                break;
            }
            let whole = &rest[..align4(len).min(rest.len())];
            out.push((ty, whole, &rest[4..len]));
            rest = &rest[whole.len()..];
        }
        out
    }
    let head = NLMSG_HDRLEN + NFGENMSG_LEN;
    let Some(body) = msg.get(head..) else {
        return msg.to_vec();
    };
    let mut out = msg[..head].to_vec();
    let mut next = own.iter();
    for (ty, whole, payload) in raw(body) {
        if ty & NLA_TYPE_MASK != NFTA_RULE_EXPRESSIONS {
            out.extend_from_slice(whole);
            continue;
        }
        let mut list = Vec::with_capacity(payload.len() + own.iter().map(Vec::len).sum::<usize>());
        for (_, elem, p) in raw(payload) {
            let is_placeholder = attr(p, crate::codec::nft::NFTA_EXPR_NAME)
                .map(string)
                .as_deref()
                == Some("log")
                && attr(p, crate::codec::nft::NFTA_EXPR_DATA)
                    .and_then(|d| attr(d, NFTA_LOG_PREFIX))
                    .map(string)
                    .as_deref()
                    == Some(PLACEHOLDER);
            match (is_placeholder, next.clone().next()) {
                (true, Some(mine)) => {
                    next.next();
                    list.extend_from_slice(mine);
                }
                _ => list.extend_from_slice(elem),
            }
        }
        let mut a = Attrs::default();
        a.put(ty, &list);
        out.extend_from_slice(&a.0);
    }
    let len = out.len() as u32;
    out[..4].copy_from_slice(&len.to_ne_bytes());
    out
}

/// Completes the NEWRULE message rustables wrote for `rule` with what rustables cannot write
/// (the code of `reject with icmp`: see `verdict`). Every encoder of rule messages calls it.
pub(crate) fn finish(msg: &mut [u8], rule: &plan::Rule) {
    verdict::finish(msg, rule.verdict);
}

/// One match of `rule`. Set lookups name the rule's own set (see `plan::set_of`).
fn encode_match(
    out: &mut rustables::Rule,
    rule: &plan::Rule,
    m: &Match,
    set_ids: &SetIds,
    own: &mut Vec<Vec<u8>>,
) {
    let set = || plan::set_of(rule, m).expect("a set lookup names the rule's own set");
    match *m {
        Match::CtState(states) => ct_state::encode(out, states),
        Match::Iif(index) => iif::encode(out, index),
        Match::IifName(name) => iifname::encode(out, name),
        Match::L4Proto(proto) => l4proto::encode(out, proto, false),
        Match::L4ProtoNot(proto) => l4proto::encode(out, proto, true),
        Match::SrcNet(net) => saddr::encode_net(out, net),
        Match::SrcInSet { v6 } | Match::SrcInAddrs { v6 } | Match::SrcInLive { v6, .. } => {
            saddr::encode_in_set(out, v6, &set(), set_ids)
        }
        Match::DstPort(ports) => dport::encode(out, ports),
        Match::DstPortInSet => dport::encode_in_set(out, &set(), set_ids),
        Match::IcmpType(ty) => icmp::encode_type(out, ty),
        Match::IcmpTypeNot { ty, .. } => icmp::encode_type_not(out, ty),
        Match::Icmpv6Type { lo, hi } => icmp::encode_v6_type(out, lo, hi),
        Match::Record(_) => unreachable!("a recorder rule is written whole: encode_recorder"),
        Match::DstNet(net) => daddr::encode_net(out, net, false),
        Match::DstNetNot(net) => daddr::encode_net(out, net, true),
        Match::DstInSet { v6 } => daddr::encode_in_set(out, v6, &set(), set_ids),
        Match::SrcNetNot(net) => {
            saddr::encode_net_at(out, net, saddr::Addr::Src, rustables::expr::CmpOp::Neq)
        }
        Match::NfProto { v6 } => nfproto::encode(out, v6),
        Match::Oif(index) => oif::encode_index(out, index),
        Match::OifName(name) => oif::encode_name(out, name),
        Match::IfNot { out: o, wild, name } => ifnot::encode(out, o, wild, name),
        Match::IifWild(name) => ifwild::encode(out, name, false),
        Match::OifWild(name) => ifwild::encode(out, name, true),
        Match::SrcPort(ports) => sport::encode(out, ports),
        Match::SrcPortInSet => sport::encode_in_set(out, &set(), set_ids),
        Match::IcmpTypeCode { ty, code } | Match::Icmpv6TypeCode { ty, code } => {
            icmpcode::encode(out, ty, code)
        }
        Match::TcpFlags { mask, value } => tcpflags::encode(out, mask, value),
        Match::Limit { rate, over } => placeholder(out, own, |l| limit::encode_own(l, rate, over)),
        Match::Meter {
            v6,
            prefix,
            rate,
            over,
            ..
        } => {
            meter::encode_key(out, v6, prefix);
            placeholder(out, own, |l| {
                meter::encode_dynset(l, &set(), set_ids, Some(rate), over, false)
            });
        }
        Match::FeedLive { v6, remove, .. } => {
            meter::encode_key(out, v6, if v6 { 128 } else { 32 });
            placeholder(out, own, |l| {
                meter::encode_dynset(l, &set(), set_ids, None, false, remove)
            });
        }
        Match::CtCount { max } => placeholder(out, own, |l| connlimit::encode_own(l, max)),
        Match::ConnMeter { v6, prefix, max } => {
            meter::encode_key(out, v6, prefix);
            placeholder(out, own, |l| {
                connlimit::encode_dynset(l, &set(), set_ids, max)
            });
        }
        Match::CtOrigDport(ports) => {
            placeholder(out, own, ctorig::encode_load);
            ctorig::encode_cmp(out, ports);
        }
        Match::CtOrigDst(net) | Match::CtOrigSrc(net) => {
            let src = matches!(m, Match::CtOrigSrc(_));
            placeholder(out, own, |l| ctorig::encode_addr_load(l, src, net));
            ctorig::encode_addr_cmp(out, net);
        }
        Match::CtProto(p) => {
            placeholder(out, own, ctproto::encode_load);
            ctproto::encode_cmp(out, p);
        }
        Match::CtDnat => {
            placeholder(out, own, ctstatus::encode_load);
            ctstatus::encode_cmp(out);
        }
        Match::AddrType { dst, ty, not } => {
            placeholder(out, own, |l| fib::encode_load(l, dst));
            fib::encode_cmp(out, ty, not);
        }
        Match::PktType { ty, not } => {
            placeholder(out, own, pkttype::encode_load);
            pkttype::encode_cmp(out, ty, not);
        }
        Match::Ipsec { out: o, present } => {
            placeholder(out, own, |l| ipsec::encode_load(l, o));
            ipsec::encode_cmp(out, present);
        }
        Match::RtType { ty, not } => {
            placeholder(out, own, exthdr::encode_rt_load);
            exthdr::encode_rt_cmp(out, ty, not);
        }
        Match::TcpOption { kind, present } => {
            placeholder(out, own, |l| exthdr::encode_option_load(l, kind));
            exthdr::encode_option_cmp(out, present);
        }
        Match::TcpMss { lo, hi, not } => exthdr::encode_mss(out, own, (lo, hi, not)),
        Match::EtherSrc { mac, not } => ether::encode(out, mac, not),
        Match::SkOwner { gid, id, not } => owner::encode(out, gid, id, not),
        Match::Mark { value, mask, not } => mark::encode(out, value, mask, not),
        Match::Hour { .. } | Match::Day { .. } | Match::Time { .. } => clock::encode(out, own, m),
        Match::Length { lo, hi, not } => length::encode(out, own, (lo, hi, not)),
        Match::Ttl { v6, lo, hi, not } => ttl::encode(out, own, (v6, lo, hi, not)),
        Match::Contains { pattern, not } => {
            placeholder(out, own, |l| xtstring::encode_own(l, &pattern, not))
        }
        Match::U32 { expr, not } => placeholder(out, own, |l| xtu32::encode_own(l, &expr, not)),
        Match::Helper { name, not } => {
            placeholder(out, own, |l| xthelper::encode_own(l, &name, not))
        }
        Match::DstPortNot(ports) => dport::encode_not(out, own, ports),
        Match::SrcPortNot(ports) => sport::encode_not(out, own, ports),
    }
}

/// The expressions of an audit recorder rule, in our own bytes (rustables 0.9 has no
/// dynset): what `key` records, and its counter.
pub(crate) fn encode_recorder(
    list: &mut Attrs,
    key: RecordKey,
    set_id: u32,
    counter: Option<(u64, u64)>,
) {
    record::encode(list, key, set_id);
    counter::encode_own(list, counter);
}

/// What one decoder recognised at a position.
pub(crate) enum Step {
    Match(Match),
    Counter { packets: u64, bytes: u64 },
    Verdict(Verdict),
}

/// Why the expressions at a position are not statewall's: the expression to blame (an
/// index into the rule's expressions) and what is wrong.
pub(crate) struct NotUnderstood {
    at: usize,
    what: String,
}

/// A decoder's answer: `None` when the position does not start its expressions (the next
/// decoder is asked); else the step and how many expressions it used, or why they are
/// wrong.
pub(crate) type Decoding = Option<Result<(Step, usize), NotUnderstood>>;

/// A position in a rule's expressions, with what a decoder may need to know about the rule.
pub(crate) struct At<'a> {
    exprs: &'a [Expr],
    i: usize,
    /// the matches decoded before this position
    matches: &'a [Match],
    /// the rule's comment: a set lookup must name the rule's own set
    comment: &'a str,
}

impl<'a> At<'a> {
    /// The expression `k` places after the position.
    pub(crate) fn get(&self, k: usize) -> Option<&'a Expr> {
        self.exprs.get(self.i + k)
    }

    /// Blames the expression `k` places after the position.
    pub(crate) fn fail(&self, k: usize, what: impl Into<String>) -> NotUnderstood {
        NotUnderstood {
            at: self.i + k,
            what: what.into(),
        }
    }

    /// The match decoded just before this position, but for a meter: a limit that counts
    /// every packet of the protocol (`counts = "protocol"`) sits between the protocol and
    /// what follows it (its ports, its ICMP type), which read the protocol before it.
    pub(crate) fn last_match(&self) -> Option<&'a Match> {
        self.matches
            .iter()
            .rev()
            .find(|m| !matches!(m, Match::Meter { .. }))
    }

    pub(crate) fn comment(&self) -> &'a str {
        self.comment
    }

    /// The family the matches decoded before this position check, if any does.
    pub(crate) fn family(&self) -> Option<bool> {
        plan::family_of(self.matches)
    }

    /// The protocol of the last `meta l4proto` decoded before this position.
    pub(crate) fn proto(&self) -> Option<u8> {
        self.matches.iter().rev().find_map(|m| match m {
            Match::L4Proto(p) => Some(*p),
            _ => None,
        })
    }
}

/// The decoders, asked in this order at every position; the first that answers decides.
/// Order matters where expressions start alike: `connlimit` before `meter` and `meter`
/// before `record` (all load the
/// source and add to or update a set: a connection count's dynset carries a connlimit, a
/// meter's a limit); `record` before `saddr` and `dport` (a
/// recorder loads what they load, then updates a set); `ifnot` before `ifwild`,
/// `iifname` and `oif` (they read `==` only); `ifwild` before `iifname` and `oif`
/// (a name shorter than IFNAMSIZ is a wildcard); `saddr` and `daddr` before `nfproto` (a
/// family check an address load follows is theirs); `icmpcode` before `sport` (both load
/// the first two bytes: the protocol tells them apart); `dport` before `icmp` (a lookup
/// after any transport load is a port set lookup); the `unclaimed_*` ones last (they say
/// what is wrong with a meta or transport load nobody recognised).
const DECODERS: &[fn(&At) -> Decoding] = &[
    ct_state::decode,
    ctorig::decode,
    ctproto::decode,
    ctstatus::decode,
    fib::decode,
    pkttype::decode,
    ipsec::decode,
    exthdr::decode,
    ether::decode,
    owner::decode,
    mark::decode,
    clock::decode,
    length::decode,
    ttl::decode,
    limit::decode,
    xtu32::decode,
    xthelper::decode,
    xtstring::decode,
    log::decode,
    iif::decode,
    ifnot::decode,
    ifwild::decode,
    iifname::decode,
    oif::decode,
    l4proto::decode,
    connlimit::decode,
    meter::decode,
    record::decode,
    saddr::decode,
    daddr::decode,
    nfproto::decode,
    icmpcode::decode,
    sport::decode,
    tcpflags::decode,
    dport::decode,
    icmp::decode,
    counter::decode,
    mss::decode,
    verdict::decode,
    prim::unclaimed_meta,
    prim::unclaimed_transport,
];

/// A rule's expressions, decoded.
pub(crate) struct Decoded {
    /// the matches and the verdict, or (in words) why the rule is not statewall's
    pub rule: Result<(Vec<Match>, Verdict), String>,
    /// the last counter met before the rule was understood or given up on
    pub counter: Option<(u64, u64)>,
}

/// A rule's expressions → statewall's matches, counter and verdict; anything else is
/// reported in words, naming the expression (1-based) to blame.
pub(crate) fn decode(comment: &str, exprs: &[Expr]) -> Decoded {
    let mut matches = Vec::new();
    let mut verdict = None;
    let mut counter = None;
    let mut i = 0;
    let words = |e: NotUnderstood| {
        let at = e.at.min(exprs.len() - 1);
        format!("expression {} (`{}`): {}", at + 1, exprs[at].name(), e.what)
    };
    while i < exprs.len() {
        let at = At {
            exprs,
            i,
            matches: &matches,
            comment,
        };
        let found = DECODERS
            .iter()
            .find_map(|decoder| decoder(&at))
            .unwrap_or_else(|| Err(at.fail(0, "expression statewall does not emit")));
        let (step, used) = match found {
            Ok(found) => found,
            Err(e) => {
                return Decoded {
                    rule: Err(words(e)),
                    counter,
                };
            }
        };
        match step {
            Step::Match(m) => matches.push(m),
            Step::Counter { packets, bytes } => counter = Some((packets, bytes)),
            Step::Verdict(v) => verdict = Some(v),
        }
        i += used;
        if verdict.is_some() && i < exprs.len() {
            let e = NotUnderstood {
                at: i,
                what: "expression after the verdict".into(),
            };
            return Decoded {
                rule: Err(words(e)),
                counter,
            };
        }
    }
    let recorder = matches.iter().any(|m| matches!(m, Match::Record(_)));
    let rule = match verdict {
        Some(v) => Ok((matches, v)),
        // an audit recorder only counts and records
        None if recorder => Ok((matches, Verdict::Continue)),
        None => Err("rule has no verdict".to_string()),
    };
    Decoded { rule, counter }
}

#[cfg(test)]
pub(crate) mod testing;
