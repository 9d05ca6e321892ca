//! Kernel rule (as rustables decoded it) → plan rule + counters. Pure and defensive:
//! anything that is not exactly a shape statewall emits is reported as text, never a panic.

use rustables::expr::{
    CmpOp, ConntrackKey, ExpressionVariant, MetaType, RawExpression, RejectType, VerdictType,
};
use std::net::{Ipv4Addr, Ipv6Addr};

use super::encode::{
    NFPROTO_IPV4, NFPROTO_IPV6, NFT_PAYLOAD_NETWORK_HEADER, NFT_PAYLOAD_TRANSPORT_HEADER,
    comment_from_udata,
};
use crate::model::{Cidr, IcmpReject, PortRange};
use crate::plan::{
    CtStates, IPPROTO_TCP, IPPROTO_UDP, Match, RecordKey, Rule, SetKind, Verdict, set_name,
};

/// One rule read back from the kernel.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LiveRule {
    pub handle: u64,
    pub comment: Option<String>,
    /// the rule in statewall's terms, or what could not be understood
    pub rule: Result<Rule, String>,
    pub packets: u64,
    pub bytes: u64,
}

pub fn decode_rule(r: &rustables::Rule) -> LiveRule {
    let comment = r.get_userdata().and_then(|u| comment_from_udata(u));
    let mut packets = 0;
    let mut bytes = 0;
    let exprs: Vec<&RawExpression> = r
        .get_expressions()
        .map(|l| l.iter().collect())
        .unwrap_or_default();
    let mut counted = false;
    let rule = decode_exprs(
        comment.as_deref().unwrap_or(""),
        &exprs,
        &mut packets,
        &mut bytes,
        &mut counted,
    )
    .and_then(|(matches, verdict)| {
        let text = || {
            let m = crate::render::matches_with(&matches, comment.as_deref().unwrap_or(""));
            let v = crate::render::verdict(verdict);
            if m.is_empty() { v } else { format!("{m} {v}") }
        };
        if !counted {
            // statewall counts every rule; one without a counter was written by someone else
            return Err(format!("a rule without a counter: `{}`", text()));
        }
        Ok(Rule {
            comment: comment.clone().unwrap_or_default(),
            origin: None,
            matches,
            verdict,
        })
    });
    LiveRule {
        handle: r.get_handle().copied().unwrap_or(0),
        comment,
        rule,
        packets,
        bytes,
    }
}

fn name(e: &RawExpression) -> &str {
    e.get_name().map(String::as_str).unwrap_or("?")
}

fn cmp_of(e: Option<&&RawExpression>) -> Option<(CmpOp, Vec<u8>)> {
    match e?.get_data()? {
        ExpressionVariant::Cmp(c) => Some((*c.get_op()?, c.get_data()?.get_value()?.clone())),
        _ => None,
    }
}

fn bitwise_of(e: Option<&&RawExpression>) -> Option<(Vec<u8>, Vec<u8>)> {
    match e?.get_data()? {
        ExpressionVariant::Bitwise(b) => Some((
            b.get_mask()?.get_value()?.clone(),
            b.get_xor()?.get_value()?.clone(),
        )),
        _ => None,
    }
}

/// `cmp eq v` → (v, v); `cmp gte lo` + `cmp lte hi` → (lo, hi). Returns the number of
/// expressions consumed.
fn eq_or_range(exprs: &[&RawExpression], at: usize) -> Option<(Vec<u8>, Vec<u8>, usize)> {
    match cmp_of(exprs.get(at))? {
        (CmpOp::Eq, v) => Some((v.clone(), v, 1)),
        (CmpOp::Gte, lo) => match cmp_of(exprs.get(at + 1))? {
            (CmpOp::Lte, hi) => Some((lo, hi, 2)),
            _ => None,
        },
        _ => None,
    }
}

fn prefix_of(mask: &[u8]) -> Option<u8> {
    let ones: u32 = mask.iter().map(|b| b.count_ones()).sum();
    let expect = super::encode::prefix_mask(ones as u8, mask.len());
    (expect == mask).then_some(ones as u8)
}

fn u16_be(v: &[u8]) -> Option<u16> {
    Some(u16::from_be_bytes(v.try_into().ok()?))
}

/// rustables 0.9 has no dynset: it hands it over as raw bytes we cannot read, so a dynset
/// is recognised by name, and only in the place statewall puts it (see `sets::recorder_rule`).
fn is_dynset(e: Option<&&RawExpression>) -> bool {
    e.is_some_and(|e| e.get_name().map(String::as_str) == Some("dynset"))
}

fn lookup_of(e: Option<&&RawExpression>) -> Option<String> {
    match e?.get_data()? {
        ExpressionVariant::Lookup(l) => l.get_set().cloned(),
        _ => None,
    }
}

fn decode_exprs(
    comment: &str,
    exprs: &[&RawExpression],
    packets: &mut u64,
    bytes: &mut u64,
    counted: &mut bool,
) -> Result<(Vec<Match>, Verdict), String> {
    let mut matches = Vec::new();
    let mut verdict = None;
    let mut i = 0;
    let not_understood = |i: usize, what: &str| -> String {
        format!("expression {} (`{}`): {what}", i + 1, name(exprs[i]))
    };
    while i < exprs.len() {
        let e = exprs[i];
        let Some(data) = e.get_data() else {
            return Err(not_understood(i, "no data"));
        };
        match data {
            ExpressionVariant::Conntrack(ct) if ct.get_key() == Some(&ConntrackKey::State) => {
                let (mask, xor) = bitwise_of(exprs.get(i + 1))
                    .ok_or_else(|| not_understood(i, "ct state without a bitmask"))?;
                match (
                    cmp_of(exprs.get(i + 2)),
                    <[u8; 4]>::try_from(mask.as_slice()),
                ) {
                    (Some((CmpOp::Neq, zero)), Ok(m)) if zero == [0; 4] && xor == [0; 4] => {
                        matches.push(Match::CtState(CtStates(u32::from_ne_bytes(m))));
                        i += 3;
                    }
                    _ => return Err(not_understood(i, "unexpected ct state comparison")),
                }
            }
            ExpressionVariant::Meta(m) => {
                let key = m.get_key().copied();
                let (op, v) = cmp_of(exprs.get(i + 1))
                    .ok_or_else(|| not_understood(i, "meta without a comparison"))?;
                if op != CmpOp::Eq {
                    return Err(not_understood(i, "meta with a comparison other than =="));
                }
                match (key, v.as_slice()) {
                    (Some(MetaType::Iif), v) if v.len() == 4 => {
                        matches.push(Match::Iif(u32::from_ne_bytes(v.try_into().unwrap())));
                        i += 2;
                    }
                    (Some(MetaType::IifName), v) if v.len() == 16 => {
                        let mut name = [0u8; 16];
                        name.copy_from_slice(v);
                        matches.push(Match::IifName(name));
                        i += 2;
                    }
                    (Some(MetaType::L4Proto), [p]) => {
                        matches.push(Match::L4Proto(*p));
                        i += 2;
                    }
                    (Some(MetaType::NfProto), [fam])
                        if *fam == NFPROTO_IPV4 || *fam == NFPROTO_IPV6 =>
                    {
                        let (off, len) = if *fam == NFPROTO_IPV4 {
                            (12, 4)
                        } else {
                            (8, 16)
                        };
                        let p = match exprs.get(i + 2).and_then(|e| e.get_data()) {
                            Some(ExpressionVariant::Payload(p)) => p,
                            _ => {
                                return Err(not_understood(
                                    i,
                                    "family check without an address match",
                                ));
                            }
                        };
                        if p.get_base() != Some(&NFT_PAYLOAD_NETWORK_HEADER)
                            || p.get_offset() != Some(&off)
                            || p.get_len() != Some(&len)
                        {
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
                            prefix = prefix_of(&mask)
                                .ok_or_else(|| not_understood(j, "non-contiguous address mask"))?;
                            j += 1;
                        }
                        let addr = match cmp_of(exprs.get(j)) {
                            Some((CmpOp::Eq, a)) if a.len() == len as usize => a,
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
            ExpressionVariant::Payload(p)
                if p.get_base() == Some(&NFT_PAYLOAD_TRANSPORT_HEADER) =>
            {
                if is_dynset(exprs.get(i + 1))
                    && (p.get_offset(), p.get_len()) == (Some(&2), Some(&2))
                {
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
                    if (p.get_offset(), p.get_len()) != (Some(&2), Some(&2))
                        || set != set_name(kind, comment)
                    {
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
                match (p.get_offset(), p.get_len()) {
                    (Some(2), Some(2)) => {
                        let (lo, hi) = (u16_be(&lo), u16_be(&hi));
                        match (lo, hi) {
                            (Some(lo), Some(hi)) => {
                                matches.push(Match::DstPort(PortRange { lo, hi }))
                            }
                            _ => return Err(not_understood(i, "port of the wrong size")),
                        }
                    }
                    (Some(0), Some(1))
                        if lo.len() == 1
                            && lo == hi
                            && matches.last()
                                == Some(&Match::L4Proto(crate::plan::IPPROTO_ICMP)) =>
                    {
                        matches.push(Match::IcmpType(lo[0]))
                    }
                    (Some(0), Some(1)) if lo.len() == 1 && hi.len() == 1 => {
                        matches.push(Match::Icmpv6Type {
                            lo: lo[0],
                            hi: hi[0],
                        })
                    }
                    _ => {
                        return Err(not_understood(
                            i,
                            "transport header field statewall does not emit",
                        ));
                    }
                }
                i += 1 + used;
            }
            ExpressionVariant::Counter(c) => {
                *packets = c.get_nb_packets().copied().unwrap_or(0);
                *bytes = c.get_nb_bytes().copied().unwrap_or(0);
                *counted = true;
                i += 1;
            }
            ExpressionVariant::Immediate(imm) => {
                let v = imm.get_data().and_then(|d| d.get_verdict());
                let code = v.and_then(|v| v.get_code()).copied();
                let target = v.and_then(|v| v.get_chain());
                verdict = Some(match (code, target) {
                    (Some(VerdictType::Accept), _) => Verdict::Accept,
                    (Some(VerdictType::Drop), _) => Verdict::Drop,
                    (Some(VerdictType::Jump), Some(chain)) => {
                        match crate::plan::entries_chain_number(chain) {
                            Some(n) => Verdict::Jump(n),
                            None => {
                                return Err(not_understood(i, &format!("jump to chain {chain}")));
                            }
                        }
                    }
                    (other, _) => {
                        return Err(not_understood(i, &format!("verdict {other:?}")));
                    }
                });
                i += 1;
            }
            ExpressionVariant::Reject(r) => {
                use rustables::expr::IcmpCode;
                verdict = Some(match (r.get_type(), r.get_icmp_code()) {
                    (Some(RejectType::TcpRst), _) => Verdict::RejectTcpReset,
                    (Some(RejectType::IcmpxUnreach), Some(code)) => {
                        Verdict::RejectIcmpx(match code {
                            IcmpCode::PortUnreach => IcmpReject::PortUnreachable,
                            IcmpCode::HostUnreach => IcmpReject::HostUnreachable,
                            IcmpCode::AdminProhibited => IcmpReject::AdminProhibited,
                            IcmpCode::NoRoute => IcmpReject::NoRoute,
                        })
                    }
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
    use crate::model::{Cidr, IcmpReject, PortRange};
    use crate::plan::{CtStates, Match, Rule, Verdict};
    use rustables::{Chain, ProtocolFamily, Table};

    fn chain() -> Chain {
        let t = Table::new(ProtocolFamily::Inet).with_name("statewall");
        Chain::new(&t).with_name("input")
    }

    fn roundtrip(r: Rule) {
        let obj = crate::kernel::encode::rule(&chain(), &r);
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
                crate::plan::iifname("eth0"),
                Match::L4Proto(1),
                Match::IcmpType(8),
                Match::CtState(CtStates(CtStates::NEW)),
            ],
            Verdict::Accept,
        ));
        roundtrip(rule(
            vec![crate::plan::iifname("veth-client12")],
            Verdict::RejectIcmpx(IcmpReject::HostUnreachable),
        ));
        roundtrip(rule(vec![], Verdict::Jump(1)));
        roundtrip(rule(vec![], Verdict::Jump(50)));
    }

    #[test]
    fn foreign_expressions_are_reported_not_panicked_on() {
        use rustables::expr::{Immediate, Log, VerdictKind};
        let mut r = rustables::Rule::new(&chain()).unwrap();
        r.add_expr(Log::new(None, Some("x")).unwrap());
        r.add_expr(Immediate::new_verdict(VerdictKind::Accept));
        let live = decode_rule(&r);
        let err = live.rule.unwrap_err();
        assert!(err.contains("`log`"), "{err}");

        let mut r = rustables::Rule::new(&chain()).unwrap();
        r.add_expr(Immediate::new_verdict(VerdictKind::Jump {
            chain: "elsewhere".into(),
        }));
        assert!(
            decode_rule(&r)
                .rule
                .unwrap_err()
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
        assert!(decode_rule(&r).rule.unwrap_err().contains("Goto"));

        let empty = rustables::Rule::new(&chain()).unwrap();
        assert_eq!(decode_rule(&empty).rule, Err("rule has no verdict".into()));

        let mut uncounted = rustables::Rule::new(&chain()).unwrap();
        uncounted.add_expr(Immediate::new_verdict(VerdictKind::Drop));
        assert_eq!(
            decode_rule(&uncounted).rule,
            Err("a rule without a counter: `drop`".into())
        );
    }
}
