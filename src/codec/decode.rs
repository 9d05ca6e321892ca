//! Kernel rule messages → plan rules + counters. Pure and defensive: anything that is not
//! exactly a shape statewall emits is reported as text, never a panic.
//!
//! The messages are read straight off the wire. rustables 0.9 can decode rules, but only
//! from dumps it sends itself with family UNSPEC, and the kernel answers those from the
//! first table of that name in any family: an `ip statewall` table (or iptables-nft's
//! `ip filter`, when `--table filter`) would hide statewall's own `inet` one. Our dumps ask
//! for family `inet` (see `readback`), and this module reads what comes back.

use super::encode::comment_from_udata;
use super::expr::{self, Expr};
use super::nft::{
    NFGENMSG_LEN, NFTA_RULE_CHAIN, NFTA_RULE_EXPRESSIONS, NFTA_RULE_HANDLE, NFTA_RULE_TABLE,
    NFTA_RULE_USERDATA, NLMSG_HDRLEN,
};
use super::wire::{self, attr, be64, string};
use crate::core::live::{Foreign, LiveRule};
use crate::core::plan::Rule;

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
    let exprs = attr(body, NFTA_RULE_EXPRESSIONS)
        .map(expr::parse_list)
        .unwrap_or_default();
    Some((place, decode_rule(handle, udata, &exprs)))
}

/// The rule in statewall's terms (each expression's decoding: `codec::expr`), or why it is
/// someone else's.
fn decode_rule(handle: u64, udata: Option<&[u8]>, exprs: &[Expr]) -> LiveRule {
    let comment = udata.and_then(comment_from_udata);
    let decoded = expr::decode(comment.as_deref().unwrap_or(""), exprs);
    let rule = decoded
        .rule
        .map_err(Foreign::Other)
        .and_then(|(matches, verdict)| {
            let rule = Rule {
                comment: comment.clone().unwrap_or_default(),
                origin: None,
                matches,
                verdict,
            };
            if decoded.counter.is_some() {
                Ok(rule)
            } else {
                // statewall counts every rule; one without a counter was written by someone else
                Err(Foreign::Uncounted(rule))
            }
        });
    let (packets, bytes) = decoded.counter.unwrap_or((0, 0));
    LiveRule {
        handle,
        comment,
        rule,
        packets,
        bytes,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::codec::expr::testing::{chain, decode_rustables, roundtrip, rule, tcp_port_set};
    use crate::core::model::{Cidr, IcmpReject, PortRange};
    use crate::core::plan::{CtStates, Match, Verdict};

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
    fn foreign_expressions_are_reported_not_panicked_on() {
        use rustables::expr::{Immediate, Masquerade, VerdictKind};
        let mut r = rustables::Rule::new(&chain()).unwrap();
        r.add_expr(Masquerade {});
        r.add_expr(Immediate::new_verdict(VerdictKind::Accept));
        let live = decode_rustables(&r);
        let err = live.rule.unwrap_err().to_string();
        assert!(err.contains("`masq`"), "{err}");

        let mut r = rustables::Rule::new(&chain()).unwrap();
        r.add_expr(Immediate::new_verdict(VerdictKind::Jump {
            chain: "elsewhere".into(),
        }));
        assert!(
            decode_rustables(&r)
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
            assert!(decode_rustables(&r).rule.is_err(), "{foreign}");
        }
        let mut r = rustables::Rule::new(&chain()).unwrap();
        r.add_expr(Immediate::new_verdict(VerdictKind::Goto {
            chain: "entries_1".into(),
        }));
        let err = decode_rustables(&r).rule.unwrap_err().to_string();
        assert!(err.contains("verdict goto entries_1"), "{err}");

        let empty = rustables::Rule::new(&chain()).unwrap();
        assert_eq!(
            decode_rustables(&empty).rule,
            Err(Foreign::Other("rule has no verdict".into()))
        );

        let mut uncounted = rustables::Rule::new(&chain()).unwrap();
        uncounted.add_expr(Immediate::new_verdict(VerdictKind::Drop));
        assert_eq!(
            decode_rustables(&uncounted).rule.unwrap_err().to_string(),
            "a rule without a counter: `drop`"
        );
    }
}
