//! Kernel rule messages → plan rules + counters. Pure and defensive: anything that is not
//! exactly a shape statewall emits is reported as text, never a panic.
//!
//! The messages are read straight off the wire. rustables 0.9 can decode rules, but only
//! from dumps it sends itself with family UNSPEC, and the kernel answers those from the
//! first table of that name in any family: an `ip statewall` table (or iptables-nft's
//! `ip filter`, when `--table filter`) would hide statewall's own `inet` one. Our dumps ask
//! for family `inet` (see `readback`), and this module reads what comes back.

use std::net::{Ipv4Addr, Ipv6Addr};

use super::encode::comment_from_udata;
use super::nft::{
    NF_ACCEPT, NF_DROP, NF_QUEUE, NFGENMSG_LEN, NFPROTO_IPV4, NFPROTO_IPV6, NFT_BREAK, NFT_CMP_EQ,
    NFT_CMP_GTE, NFT_CMP_LTE, NFT_CMP_NEQ, NFT_CONTINUE, NFT_CT_STATE, NFT_GOTO, NFT_JUMP,
    NFT_LOOKUP_F_INV, NFT_META_IIF, NFT_META_IIFNAME, NFT_META_L4PROTO, NFT_META_NFPROTO,
    NFT_PAYLOAD_NETWORK_HEADER, NFT_PAYLOAD_TRANSPORT_HEADER, NFT_REJECT_ICMPX_ADMIN_PROHIBITED,
    NFT_REJECT_ICMPX_HOST_UNREACH, NFT_REJECT_ICMPX_NO_ROUTE, NFT_REJECT_ICMPX_PORT_UNREACH,
    NFT_REJECT_ICMPX_UNREACH, NFT_REJECT_TCP_RST, NFT_RETURN, NFTA_BITWISE_MASK, NFTA_BITWISE_XOR,
    NFTA_CMP_DATA, NFTA_CMP_OP, NFTA_COUNTER_BYTES, NFTA_COUNTER_PACKETS, NFTA_CT_KEY,
    NFTA_DATA_VALUE, NFTA_DATA_VERDICT, NFTA_EXPR_DATA, NFTA_EXPR_NAME, NFTA_IMMEDIATE_DATA,
    NFTA_LIST_ELEM, NFTA_LOOKUP_FLAGS, NFTA_LOOKUP_SET, NFTA_META_KEY, NFTA_PAYLOAD_BASE,
    NFTA_PAYLOAD_LEN, NFTA_PAYLOAD_OFFSET, NFTA_REJECT_ICMP_CODE, NFTA_REJECT_TYPE,
    NFTA_RULE_CHAIN, NFTA_RULE_EXPRESSIONS, NFTA_RULE_HANDLE, NFTA_RULE_TABLE, NFTA_RULE_USERDATA,
    NFTA_VERDICT_CHAIN, NFTA_VERDICT_CODE, NLMSG_HDRLEN,
};
use super::wire::{self, attr, be32, be64, string};
use crate::core::live::{Foreign, LiveRule};
use crate::core::model::{Cidr, IcmpReject, PortRange};
use crate::core::plan::{
    CtStates, IPPROTO_TCP, IPPROTO_UDP, Match, RecordKey, Rule, SetKind, Verdict, set_name,
};

/// One expression of a rule, as far as statewall reads it.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Expr {
    Meta {
        key: u32,
    },
    Cmp {
        op: u32,
        data: Vec<u8>,
    },
    Bitwise {
        mask: Vec<u8>,
        xor: Vec<u8>,
    },
    Payload {
        base: u32,
        offset: u32,
        len: u32,
    },
    Ct {
        key: u32,
    },
    Lookup {
        set: String,
    },
    Counter {
        packets: u64,
        bytes: u64,
    },
    /// an immediate verdict: its code, and the chain of a jump or goto
    Verdict {
        code: i32,
        chain: Option<String>,
    },
    Reject {
        ty: u32,
        code: Option<u8>,
    },
    /// by name only: a dynset (the audit recorders), or anything statewall does not emit
    Other(String),
}

impl Expr {
    fn name(&self) -> &str {
        match self {
            Expr::Meta { .. } => "meta",
            Expr::Cmp { .. } => "cmp",
            Expr::Bitwise { .. } => "bitwise",
            Expr::Payload { .. } => "payload",
            Expr::Ct { .. } => "ct",
            Expr::Lookup { .. } => "lookup",
            Expr::Counter { .. } => "counter",
            Expr::Verdict { .. } => "immediate",
            Expr::Reject { .. } => "reject",
            Expr::Other(name) => name,
        }
    }
}

/// `NFTA_DATA_VALUE` inside a nested data attribute.
fn value(data: &[u8]) -> Option<Vec<u8>> {
    attr(data, NFTA_DATA_VALUE).map(<[u8]>::to_vec)
}

/// One `NFTA_LIST_ELEM` of a rule's expressions. A known expression with an attribute
/// missing or malformed is returned as `Other` with a note, so it is reported, not trusted.
fn parse_expr(elem: &[u8]) -> Expr {
    let name = attr(elem, NFTA_EXPR_NAME)
        .map(string)
        .unwrap_or_else(|| "?".into());
    let d = attr(elem, NFTA_EXPR_DATA).unwrap_or(&[]);
    let a = |ty| attr(d, ty);
    let parsed = match name.as_str() {
        "meta" => a(NFTA_META_KEY)
            .and_then(be32)
            .map(|key| Expr::Meta { key }),
        "cmp" => match (
            a(NFTA_CMP_OP).and_then(be32),
            a(NFTA_CMP_DATA).and_then(value),
        ) {
            (Some(op), Some(data)) => Some(Expr::Cmp { op, data }),
            _ => None,
        },
        "bitwise" => match (
            a(NFTA_BITWISE_MASK).and_then(value),
            a(NFTA_BITWISE_XOR).and_then(value),
        ) {
            (Some(mask), Some(xor)) => Some(Expr::Bitwise { mask, xor }),
            _ => None,
        },
        "payload" => match (
            a(NFTA_PAYLOAD_BASE).and_then(be32),
            a(NFTA_PAYLOAD_OFFSET).and_then(be32),
            a(NFTA_PAYLOAD_LEN).and_then(be32),
        ) {
            (Some(base), Some(offset), Some(len)) => Some(Expr::Payload { base, offset, len }),
            _ => None,
        },
        "ct" => a(NFTA_CT_KEY).and_then(be32).map(|key| Expr::Ct { key }),
        // an inverted lookup (`!= @set`) means the opposite: not statewall's
        "lookup" if a(NFTA_LOOKUP_FLAGS).and_then(be32).unwrap_or(0) & NFT_LOOKUP_F_INV != 0 => {
            Some(Expr::Other("lookup (inverted)".into()))
        }
        "lookup" => a(NFTA_LOOKUP_SET).map(|s| Expr::Lookup { set: string(s) }),
        // a counter created without values has none yet (the kernel always dumps both)
        "counter" => Some(Expr::Counter {
            packets: a(NFTA_COUNTER_PACKETS).and_then(be64).unwrap_or(0),
            bytes: a(NFTA_COUNTER_BYTES).and_then(be64).unwrap_or(0),
        }),
        // an immediate that loads data into a register is not statewall's: Other
        "immediate" => a(NFTA_IMMEDIATE_DATA)
            .and_then(|data| attr(data, NFTA_DATA_VERDICT))
            .and_then(|v| {
                Some(Expr::Verdict {
                    code: be32(attr(v, NFTA_VERDICT_CODE)?)? as i32,
                    chain: attr(v, NFTA_VERDICT_CHAIN).map(string),
                })
            }),
        "reject" => a(NFTA_REJECT_TYPE).and_then(be32).map(|ty| Expr::Reject {
            ty,
            code: a(NFTA_REJECT_ICMP_CODE).and_then(|c| c.first().copied()),
        }),
        _ => Some(Expr::Other(name.clone())),
    };
    parsed.unwrap_or(Expr::Other(format!("{name} (malformed)")))
}

/// Where a dumped rule sits: its table and chain.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RulePlace {
    pub table: String,
    pub chain: String,
}

/// A rule message as a dump returns it (`NFT_MSG_NEWRULE`: nlmsghdr, nfgenmsg, attributes)
/// → where it sits and the rule. `None` for a message too short to be one.
pub fn decode_rule_msg(msg: &[u8]) -> Option<(RulePlace, LiveRule)> {
    if msg.len() < NLMSG_HDRLEN + NFGENMSG_LEN {
        return None;
    }
    let body = wire::nfnl_attrs(msg);
    let place = RulePlace {
        table: attr(body, NFTA_RULE_TABLE).map(string).unwrap_or_default(),
        chain: attr(body, NFTA_RULE_CHAIN).map(string).unwrap_or_default(),
    };
    let handle = attr(body, NFTA_RULE_HANDLE).and_then(be64).unwrap_or(0);
    let udata = attr(body, NFTA_RULE_USERDATA);
    let exprs: Vec<Expr> = attr(body, NFTA_RULE_EXPRESSIONS)
        .map(|list| {
            wire::attrs(list)
                .filter(|(t, _)| *t == NFTA_LIST_ELEM)
                .map(|(_, e)| parse_expr(e))
                .collect()
        })
        .unwrap_or_default();
    Some((place, decode_rule(handle, udata, &exprs)))
}

fn decode_rule(handle: u64, udata: Option<&[u8]>, exprs: &[Expr]) -> LiveRule {
    let comment = udata.and_then(comment_from_udata);
    let mut packets = 0;
    let mut bytes = 0;
    let mut counted = false;
    let rule = decode_exprs(
        comment.as_deref().unwrap_or(""),
        exprs,
        &mut packets,
        &mut bytes,
        &mut counted,
    )
    .map_err(Foreign::Other)
    .and_then(|(matches, verdict)| {
        let rule = Rule {
            comment: comment.clone().unwrap_or_default(),
            origin: None,
            matches,
            verdict,
        };
        if counted {
            Ok(rule)
        } else {
            // statewall counts every rule; one without a counter was written by someone else
            Err(Foreign::Uncounted(rule))
        }
    });
    LiveRule {
        handle,
        comment,
        rule,
        packets,
        bytes,
    }
}

fn cmp_of(e: Option<&Expr>) -> Option<(u32, Vec<u8>)> {
    match e? {
        Expr::Cmp { op, data } => Some((*op, data.clone())),
        _ => None,
    }
}

fn bitwise_of(e: Option<&Expr>) -> Option<(Vec<u8>, Vec<u8>)> {
    match e? {
        Expr::Bitwise { mask, xor } => Some((mask.clone(), xor.clone())),
        _ => None,
    }
}

/// `cmp eq v` → (v, v); `cmp gte lo` + `cmp lte hi` → (lo, hi). Returns the number of
/// expressions consumed.
fn eq_or_range(exprs: &[Expr], at: usize) -> Option<(Vec<u8>, Vec<u8>, usize)> {
    match cmp_of(exprs.get(at))? {
        (NFT_CMP_EQ, v) => Some((v.clone(), v, 1)),
        (NFT_CMP_GTE, lo) => match cmp_of(exprs.get(at + 1))? {
            (NFT_CMP_LTE, hi) => Some((lo, hi, 2)),
            _ => None,
        },
        _ => None,
    }
}

/// Whether a `ct state` mask names only states statewall renders (others would vanish
/// from the rendered rule, and so from the drift fingerprint).
fn known_ct_states(mask: &[u8; 4]) -> bool {
    let known = CtStates::INVALID
        | CtStates::ESTABLISHED
        | CtStates::RELATED
        | CtStates::NEW
        | CtStates::UNTRACKED;
    u32::from_ne_bytes(*mask) & !known == 0
}

fn u16_be(v: &[u8]) -> Option<u16> {
    Some(u16::from_be_bytes(v.try_into().ok()?))
}

/// A dynset is recognised by name, and only in the place statewall puts it (see
/// `sets::recorder_rule`).
fn is_dynset(e: Option<&Expr>) -> bool {
    matches!(e, Some(Expr::Other(name)) if name == "dynset")
}

fn lookup_of(e: Option<&Expr>) -> Option<String> {
    match e? {
        Expr::Lookup { set } => Some(set.clone()),
        _ => None,
    }
}

fn decode_exprs(
    comment: &str,
    exprs: &[Expr],
    packets: &mut u64,
    bytes: &mut u64,
    counted: &mut bool,
) -> Result<(Vec<Match>, Verdict), String> {
    let mut matches = Vec::new();
    let mut verdict = None;
    let mut i = 0;
    let not_understood = |i: usize, what: &str| -> String {
        format!("expression {} (`{}`): {what}", i + 1, exprs[i].name())
    };
    while i < exprs.len() {
        match &exprs[i] {
            Expr::Ct { key: NFT_CT_STATE } => {
                let (mask, xor) = bitwise_of(exprs.get(i + 1))
                    .ok_or_else(|| not_understood(i, "ct state without a bitmask"))?;
                match (
                    cmp_of(exprs.get(i + 2)),
                    <[u8; 4]>::try_from(mask.as_slice()),
                ) {
                    (Some((NFT_CMP_NEQ, zero)), Ok(m))
                        if zero == [0; 4] && xor == [0; 4] && known_ct_states(&m) =>
                    {
                        matches.push(Match::CtState(CtStates(u32::from_ne_bytes(m))));
                        i += 3;
                    }
                    _ => return Err(not_understood(i, "unexpected ct state comparison")),
                }
            }
            Expr::Meta { key } => {
                let key = *key;
                let (op, v) = cmp_of(exprs.get(i + 1))
                    .ok_or_else(|| not_understood(i, "meta without a comparison"))?;
                if op != NFT_CMP_EQ {
                    return Err(not_understood(i, "meta with a comparison other than =="));
                }
                match (key, v.as_slice()) {
                    (NFT_META_IIF, v) if v.len() == 4 => {
                        matches.push(Match::Iif(u32::from_ne_bytes(v.try_into().unwrap())));
                        i += 2;
                    }
                    (NFT_META_IIFNAME, v) if v.len() == 16 => {
                        let mut name = [0u8; 16];
                        name.copy_from_slice(v);
                        matches.push(Match::IifName(name));
                        i += 2;
                    }
                    (NFT_META_L4PROTO, [p]) => {
                        matches.push(Match::L4Proto(*p));
                        i += 2;
                    }
                    (NFT_META_NFPROTO, [fam]) if *fam == NFPROTO_IPV4 || *fam == NFPROTO_IPV6 => {
                        let (off, len) = if *fam == NFPROTO_IPV4 {
                            (12, 4)
                        } else {
                            (8, 16)
                        };
                        let Some(Expr::Payload {
                            base,
                            offset,
                            len: plen,
                        }) = exprs.get(i + 2)
                        else {
                            return Err(not_understood(i, "family check without an address match"));
                        };
                        if (*base, *offset, *plen) != (NFT_PAYLOAD_NETWORK_HEADER, off, len) {
                            return Err(not_understood(i + 2, "not a source address load"));
                        }
                        if is_dynset(exprs.get(i + 3)) {
                            matches.push(Match::Record(if len == 4 {
                                RecordKey::Src4
                            } else {
                                RecordKey::Src6
                            }));
                            i += 4;
                            continue;
                        }
                        if let Some(set) = lookup_of(exprs.get(i + 3)) {
                            let kind = if len == 4 {
                                SetKind::Src4
                            } else {
                                SetKind::Src6
                            };
                            if set != set_name(kind, comment) {
                                return Err(not_understood(
                                    i + 3,
                                    &format!("lookup in set {set}, not this rule's own set"),
                                ));
                            }
                            matches.push(Match::SrcInSet { v6: len == 16 });
                            i += 4;
                            continue;
                        }
                        let mut j = i + 3;
                        let mut prefix = (len * 8) as u8;
                        if let Some((mask, _xor)) = bitwise_of(exprs.get(j)) {
                            prefix = Cidr::prefix_of_mask(&mask)
                                .ok_or_else(|| not_understood(j, "non-contiguous address mask"))?;
                            j += 1;
                        }
                        let addr = match cmp_of(exprs.get(j)) {
                            Some((NFT_CMP_EQ, a)) if a.len() == len as usize => a,
                            _ => {
                                return Err(not_understood(
                                    j.min(exprs.len() - 1),
                                    "unexpected address comparison",
                                ));
                            }
                        };
                        let net = if len == 4 {
                            Cidr::V4(
                                Ipv4Addr::from(<[u8; 4]>::try_from(addr.as_slice()).unwrap()),
                                prefix,
                            )
                        } else {
                            Cidr::V6(
                                Ipv6Addr::from(<[u8; 16]>::try_from(addr.as_slice()).unwrap()),
                                prefix,
                            )
                        };
                        matches.push(Match::SrcNet(net));
                        i = j + 1;
                    }
                    _ => {
                        return Err(not_understood(
                            i,
                            "meta key or value statewall does not emit",
                        ));
                    }
                }
            }
            Expr::Payload {
                base: NFT_PAYLOAD_TRANSPORT_HEADER,
                offset,
                len,
            } => {
                let field = (*offset, *len);
                if is_dynset(exprs.get(i + 1)) && field == (2, 2) {
                    match matches.last() {
                        Some(Match::L4Proto(IPPROTO_TCP)) => {
                            matches.push(Match::Record(RecordKey::TcpPort))
                        }
                        Some(Match::L4Proto(IPPROTO_UDP)) => {
                            matches.push(Match::Record(RecordKey::UdpPort))
                        }
                        _ => return Err(not_understood(i, "port recorder without tcp or udp")),
                    }
                    i += 2;
                    continue;
                }
                if let Some(set) = lookup_of(exprs.get(i + 1)) {
                    let kind = match matches.last() {
                        Some(Match::L4Proto(IPPROTO_TCP)) => SetKind::Tcp,
                        Some(Match::L4Proto(IPPROTO_UDP)) => SetKind::Udp,
                        _ => return Err(not_understood(i, "port set lookup without tcp or udp")),
                    };
                    if field != (2, 2) || set != set_name(kind, comment) {
                        return Err(not_understood(
                            i + 1,
                            &format!("lookup in set {set}, not this rule's own port set"),
                        ));
                    }
                    matches.push(Match::DstPortInSet);
                    i += 2;
                    continue;
                }
                let (lo, hi, used) = eq_or_range(exprs, i + 1)
                    .ok_or_else(|| not_understood(i, "transport header without a comparison"))?;
                match field {
                    (2, 2) => {
                        let (lo, hi) = (u16_be(&lo), u16_be(&hi));
                        match (lo, hi) {
                            (Some(lo), Some(hi)) => {
                                matches.push(Match::DstPort(PortRange { lo, hi }))
                            }
                            _ => return Err(not_understood(i, "port of the wrong size")),
                        }
                    }
                    (0, 1)
                        if lo.len() == 1
                            && lo == hi
                            && matches.last()
                                == Some(&Match::L4Proto(crate::core::plan::IPPROTO_ICMP)) =>
                    {
                        matches.push(Match::IcmpType(lo[0]))
                    }
                    (0, 1) if lo.len() == 1 && hi.len() == 1 => matches.push(Match::Icmpv6Type {
                        lo: lo[0],
                        hi: hi[0],
                    }),
                    _ => {
                        return Err(not_understood(
                            i,
                            "transport header field statewall does not emit",
                        ));
                    }
                }
                i += 1 + used;
            }
            Expr::Counter {
                packets: p,
                bytes: b,
            } => {
                *packets = *p;
                *bytes = *b;
                *counted = true;
                i += 1;
            }
            Expr::Verdict { code, chain } => {
                verdict = Some(match (*code, chain) {
                    (NF_ACCEPT, _) => Verdict::Accept,
                    (NF_DROP, _) => Verdict::Drop,
                    (NFT_JUMP, Some(chain)) => match crate::core::plan::entries_chain_number(chain)
                    {
                        Some(n) => Verdict::Jump(n),
                        None => {
                            return Err(not_understood(i, &format!("jump to chain {chain}")));
                        }
                    },
                    (code, _) => {
                        let what = match code {
                            NFT_CONTINUE => "continue".to_string(),
                            NFT_BREAK => "break".to_string(),
                            NFT_JUMP => "jump without a chain".to_string(),
                            NFT_GOTO => format!("goto {}", chain.as_deref().unwrap_or("?")),
                            NFT_RETURN => "return".to_string(),
                            NF_QUEUE => "queue".to_string(),
                            n => format!("code {n}"),
                        };
                        return Err(not_understood(i, &format!("verdict {what}")));
                    }
                });
                i += 1;
            }
            Expr::Reject { ty, code } => {
                verdict = Some(match (*ty, *code) {
                    (NFT_REJECT_TCP_RST, _) => Verdict::RejectTcpReset,
                    (NFT_REJECT_ICMPX_UNREACH, Some(code)) => Verdict::RejectIcmpx(match code {
                        NFT_REJECT_ICMPX_PORT_UNREACH => IcmpReject::PortUnreachable,
                        NFT_REJECT_ICMPX_HOST_UNREACH => IcmpReject::HostUnreachable,
                        NFT_REJECT_ICMPX_ADMIN_PROHIBITED => IcmpReject::AdminProhibited,
                        NFT_REJECT_ICMPX_NO_ROUTE => IcmpReject::NoRoute,
                        _ => return Err(not_understood(i, "reject code statewall does not emit")),
                    }),
                    _ => return Err(not_understood(i, "reject kind statewall does not emit")),
                });
                i += 1;
            }
            _ => return Err(not_understood(i, "expression statewall does not emit")),
        }
        if verdict.is_some() && i < exprs.len() {
            return Err(not_understood(i, "expression after the verdict"));
        }
    }
    let recorder = matches.iter().any(|m| matches!(m, Match::Record(_)));
    let verdict = match verdict {
        Some(v) => v,
        // an audit recorder only counts and records
        None if recorder => Verdict::Continue,
        None => return Err("rule has no verdict".to_string()),
    };
    Ok((matches, verdict))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::codec::nft::{NFT_MSG_NEWRULE, NLM_F_MULTI};
    use crate::core::model::{Cidr, IcmpReject, PortRange};
    use crate::core::plan::{CtStates, Match, Rule, Verdict};
    use rustables::{Chain, ProtocolFamily, Table};

    fn chain() -> Chain {
        let t = Table::new(ProtocolFamily::Inet).with_name("statewall");
        Chain::new(&t).with_name("input")
    }

    /// The NEWRULE message rustables writes for `rule`: the attributes a dump returns too
    /// (the kernel adds the handle, and the counter's values).
    fn decode_rule(rule: &rustables::Rule) -> LiveRule {
        let mut batch = rustables::Batch::new();
        batch.add(rule, rustables::MsgType::Add);
        let raw = batch.finalize();
        let msg = wire::messages(&raw).nth(1).expect("begin, rule, end").1;
        let (place, live) = decode_rule_msg(msg).expect("a rule message");
        assert_eq!(place.table, "statewall");
        assert_eq!(place.chain, "input");
        live
    }

    fn roundtrip(r: Rule) {
        let obj = crate::codec::encode::rule(&chain(), &r);
        let live = decode_rule(&obj);
        assert_eq!(live.comment.as_deref(), Some(r.comment.as_str()));
        assert_eq!(live.rule, Ok(r));
    }

    fn rule(matches: Vec<Match>, verdict: Verdict) -> Rule {
        Rule {
            comment: "t".into(),
            origin: None,
            matches,
            verdict,
        }
    }

    #[test]
    fn every_match_and_verdict_decodes_to_what_was_encoded() {
        roundtrip(rule(
            vec![Match::CtState(CtStates(
                CtStates::ESTABLISHED | CtStates::RELATED,
            ))],
            Verdict::Accept,
        ));
        roundtrip(rule(vec![Match::Iif(1)], Verdict::Drop));
        roundtrip(rule(
            vec![
                Match::SrcNet(Cidr::V4("198.51.100.0".parse().unwrap(), 24)),
                Match::L4Proto(6),
                Match::DstPort(PortRange { lo: 22, hi: 22 }),
                Match::CtState(CtStates(CtStates::NEW)),
            ],
            Verdict::Accept,
        ));
        roundtrip(rule(
            vec![
                Match::SrcNet(Cidr::V6("2001:db8::".parse().unwrap(), 32)),
                Match::L4Proto(17),
                Match::DstPort(PortRange { lo: 8000, hi: 8080 }),
            ],
            Verdict::RejectIcmpx(IcmpReject::AdminProhibited),
        ));
        roundtrip(rule(
            vec![Match::SrcNet(Cidr::V4("203.0.113.7".parse().unwrap(), 32))],
            Verdict::RejectTcpReset,
        ));
        roundtrip(rule(
            vec![Match::L4Proto(58), Match::Icmpv6Type { lo: 128, hi: 136 }],
            Verdict::Accept,
        ));
        roundtrip(rule(vec![], Verdict::Drop));
        roundtrip(rule(
            vec![
                crate::core::plan::iifname("eth0"),
                Match::L4Proto(1),
                Match::IcmpType(8),
                Match::CtState(CtStates(CtStates::NEW)),
            ],
            Verdict::Accept,
        ));
        roundtrip(rule(
            vec![crate::core::plan::iifname("veth-client12")],
            Verdict::RejectIcmpx(IcmpReject::HostUnreachable),
        ));
        roundtrip(rule(vec![], Verdict::Jump(1)));
        roundtrip(rule(vec![], Verdict::Jump(50)));
    }

    #[test]
    fn cut_or_corrupt_messages_are_reported_not_panicked_on() {
        let r = rule(
            vec![
                Match::SrcNet(Cidr::V4("198.51.100.0".parse().unwrap(), 24)),
                Match::L4Proto(6),
                Match::DstPort(PortRange { lo: 22, hi: 22 }),
            ],
            Verdict::Accept,
        );
        let mut batch = rustables::Batch::new();
        batch.add(
            &crate::codec::encode::rule(&chain(), &r),
            rustables::MsgType::Add,
        );
        let raw = batch.finalize();
        let msg = wire::messages(&raw).nth(1).unwrap().1.to_vec();
        for cut in 0..msg.len() {
            if let Some((_, live)) = decode_rule_msg(&msg[..cut]) {
                assert_ne!(live.rule, Ok(r.clone()), "cut at {cut} still decodes whole");
            }
        }
        for at in 20..msg.len() {
            let mut bad = msg.clone();
            bad[at] ^= 0xff;
            let _ = decode_rule_msg(&bad);
        }
    }

    /// A rule message as the kernel dumps it, written attribute by attribute: a handle, then
    /// `exprs` (name, attributes), a counter of 3 packets and 180 bytes, and `accept`.
    fn dumped(handle: u64, exprs: &[(&str, wire::Attrs)]) -> Vec<u8> {
        let mut a = wire::Attrs::default();
        a.str(NFTA_RULE_TABLE, "statewall")
            .str(NFTA_RULE_CHAIN, "input")
            .put(NFTA_RULE_HANDLE, &handle.to_be_bytes())
            .nest(NFTA_RULE_EXPRESSIONS, |list| {
                let mut elem = |name: &str, data: &wire::Attrs| {
                    list.nest(NFTA_LIST_ELEM, |e| {
                        e.str(NFTA_EXPR_NAME, name).nest(NFTA_EXPR_DATA, |d| {
                            d.0.extend_from_slice(&data.0);
                        });
                    });
                };
                for (name, data) in exprs {
                    elem(name, data);
                }
                let mut counter = wire::Attrs::default();
                counter
                    .put(NFTA_COUNTER_BYTES, &180u64.to_be_bytes())
                    .put(NFTA_COUNTER_PACKETS, &3u64.to_be_bytes());
                elem("counter", &counter);
                let mut verdict = wire::Attrs::default();
                verdict.nest(NFTA_IMMEDIATE_DATA, |d| {
                    d.nest(NFTA_DATA_VERDICT, |v| {
                        v.put(NFTA_VERDICT_CODE, &(NF_ACCEPT as u32).to_be_bytes());
                    });
                });
                elem("immediate", &verdict);
            })
            .put(
                NFTA_RULE_USERDATA,
                &crate::codec::encode::comment_udata("web"),
            );
        wire::nft_message(NFT_MSG_NEWRULE, NLM_F_MULTI, &a) // as a dump sends it
    }

    fn cmp(op: u32, value: &[u8]) -> wire::Attrs {
        let mut a = wire::Attrs::default();
        a.be32(NFTA_CMP_OP, op).nest(NFTA_CMP_DATA, |d| {
            d.put(NFTA_DATA_VALUE, value);
        });
        a
    }

    /// `meta l4proto tcp tcp dport @tcp_web` as the kernel dumps it, with the lookup's
    /// `NFTA_LOOKUP_FLAGS` when given.
    fn tcp_port_set(handle: u64, lookup_flags: Option<u32>) -> Vec<u8> {
        let mut l4 = wire::Attrs::default();
        l4.be32(NFTA_META_KEY, NFT_META_L4PROTO);
        let mut dport = wire::Attrs::default();
        dport
            .be32(NFTA_PAYLOAD_BASE, NFT_PAYLOAD_TRANSPORT_HEADER)
            .be32(NFTA_PAYLOAD_OFFSET, 2)
            .be32(NFTA_PAYLOAD_LEN, 2);
        let mut lookup = wire::Attrs::default();
        lookup.str(NFTA_LOOKUP_SET, "tcp_web");
        if let Some(f) = lookup_flags {
            lookup.be32(NFTA_LOOKUP_FLAGS, f);
        }
        dumped(
            handle,
            &[
                ("meta", l4),
                ("cmp", cmp(NFT_CMP_EQ, &[6])),
                ("payload", dport),
                ("lookup", lookup),
            ],
        )
    }

    #[test]
    fn a_dumped_rule_reads_back_with_handle_counters_and_set_lookup() {
        let (place, live) = decode_rule_msg(&tcp_port_set(77, None)).unwrap();
        assert_eq!(place.chain, "input");
        assert_eq!((live.handle, live.packets, live.bytes), (77, 3, 180));
        assert_eq!(
            live.rule.unwrap().matches,
            [Match::L4Proto(6), Match::DstPortInSet]
        );
    }

    #[test]
    fn an_inverted_lookup_or_an_unknown_ct_state_is_not_statewalls() {
        let plain = decode_rule_msg(&tcp_port_set(1, Some(0))).unwrap().1;
        assert!(plain.rule.is_ok(), "{:?}", plain.rule);
        // `tcp dport != @tcp_web` means the opposite of what statewall wrote
        let inverted = decode_rule_msg(&tcp_port_set(1, Some(NFT_LOOKUP_F_INV)))
            .unwrap()
            .1;
        assert!(inverted.rule.is_err(), "{:?}", inverted.rule);

        let ct = |mask: u32| {
            let mut c = wire::Attrs::default();
            c.be32(NFTA_CT_KEY, NFT_CT_STATE);
            let mut b = wire::Attrs::default();
            b.nest(NFTA_BITWISE_MASK, |d| {
                d.put(NFTA_DATA_VALUE, &mask.to_ne_bytes());
            })
            .nest(NFTA_BITWISE_XOR, |d| {
                d.put(NFTA_DATA_VALUE, &[0; 4]);
            });
            dumped(
                1,
                &[
                    ("ct", c),
                    ("bitwise", b),
                    ("cmp", cmp(NFT_CMP_NEQ, &[0; 4])),
                ],
            )
        };
        let ok = decode_rule_msg(&ct(CtStates::NEW)).unwrap().1.rule.unwrap();
        assert_eq!(ok.matches, [Match::CtState(CtStates(CtStates::NEW))]);
        // bit 5 is a state statewall never writes (and would not render)
        let err = decode_rule_msg(&ct(CtStates::NEW | 1 << 5))
            .unwrap()
            .1
            .rule
            .unwrap_err()
            .to_string();
        assert!(err.contains("ct state"), "{err}");
    }

    #[test]
    fn foreign_expressions_are_reported_not_panicked_on() {
        use rustables::expr::{Immediate, Log, VerdictKind};
        let mut r = rustables::Rule::new(&chain()).unwrap();
        r.add_expr(Log::new(None, Some("x")).unwrap());
        r.add_expr(Immediate::new_verdict(VerdictKind::Accept));
        let live = decode_rule(&r);
        let err = live.rule.unwrap_err().to_string();
        assert!(err.contains("`log`"), "{err}");

        let mut r = rustables::Rule::new(&chain()).unwrap();
        r.add_expr(Immediate::new_verdict(VerdictKind::Jump {
            chain: "elsewhere".into(),
        }));
        assert!(
            decode_rule(&r)
                .rule
                .unwrap_err()
                .to_string()
                .contains("jump to chain elsewhere")
        );
        for foreign in [
            "entries_0",
            "entries_01",
            "entries_",
            "entries_x",
            "entries_+3",
        ] {
            let mut r = rustables::Rule::new(&chain()).unwrap();
            r.add_expr(Immediate::new_verdict(VerdictKind::Jump {
                chain: foreign.into(),
            }));
            assert!(decode_rule(&r).rule.is_err(), "{foreign}");
        }
        let mut r = rustables::Rule::new(&chain()).unwrap();
        r.add_expr(Immediate::new_verdict(VerdictKind::Goto {
            chain: "entries_1".into(),
        }));
        let err = decode_rule(&r).rule.unwrap_err().to_string();
        assert!(err.contains("verdict goto entries_1"), "{err}");

        let empty = rustables::Rule::new(&chain()).unwrap();
        assert_eq!(
            decode_rule(&empty).rule,
            Err(Foreign::Other("rule has no verdict".into()))
        );

        let mut uncounted = rustables::Rule::new(&chain()).unwrap();
        uncounted.add_expr(Immediate::new_verdict(VerdictKind::Drop));
        assert_eq!(
            decode_rule(&uncounted).rule.unwrap_err().to_string(),
            "a rule without a counter: `drop`"
        );
    }
}
