//! The verdict, last in a rule: `accept`, `drop`, `jump entries_<n>` (an immediate verdict)
//! and `reject with tcp reset` / `reject with icmpx <code>` / `reject with icmp <code>` (a
//! reject). An audit recorder has none (`Verdict::Continue`).
//!
//! nft: `[ immediate reg 0 accept ]`, `[ reject type 2 code 1 ]`, `[ reject type 0 code 10 ]`
//!
//! `reject with icmp` (type 0) carries a code the kernel reads per family, so it is only
//! statewall's after a family check (`plan::family_of` of the matches before it); rustables
//! has no code beyond the icmpx ones, so its expression is our own bytes.

use rustables::expr::{IcmpCode, Immediate, Reject, RejectType, VerdictKind};

use super::{At, Decoding, Expr, NotUnderstood, Step};
use crate::codec::nft::{
    NF_ACCEPT, NF_DROP, NF_QUEUE, NFT_BREAK, NFT_CONTINUE, NFT_GOTO, NFT_JUMP,
    NFT_REJECT_ICMP_UNREACH, NFT_REJECT_ICMPX_ADMIN_PROHIBITED, NFT_REJECT_ICMPX_HOST_UNREACH,
    NFT_REJECT_ICMPX_NO_ROUTE, NFT_REJECT_ICMPX_PORT_UNREACH, NFT_REJECT_ICMPX_UNREACH,
    NFT_REJECT_TCP_RST, NFT_RETURN, NFTA_EXPR_DATA, NFTA_EXPR_NAME, NFTA_LIST_ELEM,
    NFTA_REJECT_ICMP_CODE, NFTA_RULE_EXPRESSIONS,
};
use crate::codec::wire;
use crate::core::model::IcmpReject;
use crate::core::plan::{
    Hook, Verdict, entries_chain, hook_entries_chain, hook_entries_chain_number,
};

pub(super) fn encode(rule: &mut rustables::Rule, verdict: Verdict) {
    match verdict {
        // a log rule's log is written by `expr::encode` (our own bytes)
        Verdict::Continue | Verdict::Log(_) | Verdict::SetMss(_) => {}
        Verdict::Accept => rule.add_expr(Immediate::new_verdict(VerdictKind::Accept)),
        Verdict::Drop => rule.add_expr(Immediate::new_verdict(VerdictKind::Drop)),
        Verdict::RejectTcpReset => rule.add_expr(
            Reject::default()
                .with_type(RejectType::TcpRst)
                .with_icmp_code(IcmpCode::NoRoute),
        ),
        Verdict::RejectIcmpx(kind) => rule.add_expr(
            Reject::default()
                .with_type(RejectType::IcmpxUnreach)
                .with_icmp_code(match kind {
                    IcmpReject::PortUnreachable => IcmpCode::PortUnreach,
                    IcmpReject::HostUnreachable => IcmpCode::HostUnreach,
                    IcmpReject::AdminProhibited => IcmpCode::AdminProhibited,
                    IcmpReject::NoRoute => IcmpCode::NoRoute,
                    IcmpReject::HostProhibited
                    | IcmpReject::NetProhibited
                    | IcmpReject::ProtoUnreachable => {
                        unreachable!("compile makes reject with icmp of these (RejectIcmp)")
                    }
                }),
        ),
        Verdict::RejectIcmp { .. } => rule.add_expr(reject_icmp()),
        Verdict::Jump(n) => rule.add_expr(Immediate::new_verdict(VerdictKind::Jump {
            chain: entries_chain(n),
        })),
        Verdict::JumpIn(hook, n) => rule.add_expr(Immediate::new_verdict(VerdictKind::Jump {
            chain: hook_entries_chain(hook, n),
        })),
    }
}

/// `[ reject type 0 code <code> ]`, written in two steps: rustables knows only the icmpx
/// codes (0–3), so the rule carries code 0 here and [`finish`] writes the real code into the
/// rule's message (every encoder calls it; a rule message with code 0 would decode as
/// "a code statewall does not emit").
fn reject_icmp() -> Reject {
    Reject::default()
        .with_type(RejectType::IcmpUnreach)
        .with_icmp_code(IcmpCode::NoRoute)
}

/// Writes the code of a `reject with icmp` verdict into `msg`, the NEWRULE message rustables
/// wrote for `verdict` (see [`reject_icmp`]); nothing for any other verdict.
pub(super) fn finish(msg: &mut [u8], verdict: Verdict) {
    let Verdict::RejectIcmp { code, .. } = verdict else {
        return;
    };
    let at = {
        let exprs = wire::attr(wire::nfnl_attrs(msg), NFTA_RULE_EXPRESSIONS).unwrap_or(&[]);
        wire::attrs(exprs)
            .filter(|(ty, _)| *ty == NFTA_LIST_ELEM)
            .last()
            .filter(|(_, e)| {
                wire::attr(e, NFTA_EXPR_NAME).map(wire::string).as_deref() == Some("reject")
            })
            .and_then(|(_, e)| wire::attr(e, NFTA_EXPR_DATA))
            .and_then(|d| wire::attr(d, NFTA_REJECT_ICMP_CODE))
            .map(|c| c.as_ptr() as usize - msg.as_ptr() as usize)
    };
    let at = at.expect("the last expression of a reject rule is its reject");
    msg[at] = code;
}

/// The ICMP (`v6`: ICMPv6) destination-unreachable codes statewall writes with `reject with
/// icmp`: those of the kinds icmpx cannot say (`IcmpReject::icmpx`).
fn emitted_code(v6: bool, code: u8) -> bool {
    IcmpReject::ALL
        .iter()
        .any(|k| !k.icmpx() && k.code(v6) == code)
}

pub(super) fn decode(at: &At) -> Decoding {
    let verdict = match at.get(0)? {
        Expr::Verdict { code, chain } => immediate(at, *code, chain.as_deref()),
        Expr::Reject { ty, code } => reject(at, *ty, *code),
        _ => return None,
    };
    Some(verdict.map(|v| (Step::Verdict(v), 1)))
}

fn immediate(at: &At, code: i32, chain: Option<&str>) -> Result<Verdict, NotUnderstood> {
    match (code, chain) {
        (NF_ACCEPT, _) => Ok(Verdict::Accept),
        (NF_DROP, _) => Ok(Verdict::Drop),
        (NFT_JUMP, Some(chain)) => match hook_entries_chain_number(chain) {
            Some((Hook::Input, n)) => Ok(Verdict::Jump(n)),
            Some((hook, n)) => Ok(Verdict::JumpIn(hook, n)),
            None => Err(at.fail(0, format!("jump to chain {chain}"))),
        },
        (code, _) => {
            let what = match code {
                NFT_CONTINUE => "continue".to_string(),
                NFT_BREAK => "break".to_string(),
                NFT_JUMP => "jump without a chain".to_string(),
                NFT_GOTO => format!("goto {}", chain.unwrap_or("?")),
                NFT_RETURN => "return".to_string(),
                NF_QUEUE => "queue".to_string(),
                n => format!("code {n}"),
            };
            Err(at.fail(0, format!("verdict {what}")))
        }
    }
}

fn reject(at: &At, ty: u32, code: Option<u8>) -> Result<Verdict, NotUnderstood> {
    match (ty, code) {
        (NFT_REJECT_TCP_RST, _) => Ok(Verdict::RejectTcpReset),
        (NFT_REJECT_ICMPX_UNREACH, Some(code)) => Ok(Verdict::RejectIcmpx(match code {
            NFT_REJECT_ICMPX_PORT_UNREACH => IcmpReject::PortUnreachable,
            NFT_REJECT_ICMPX_HOST_UNREACH => IcmpReject::HostUnreachable,
            NFT_REJECT_ICMPX_ADMIN_PROHIBITED => IcmpReject::AdminProhibited,
            NFT_REJECT_ICMPX_NO_ROUTE => IcmpReject::NoRoute,
            _ => return Err(at.fail(0, "reject code statewall does not emit")),
        })),
        (NFT_REJECT_ICMP_UNREACH, Some(code)) => match at.family() {
            None => Err(at.fail(0, "reject with icmp in a rule of no one family")),
            Some(v6) if emitted_code(v6, code) => Ok(Verdict::RejectIcmp { v6, code }),
            Some(_) => Err(at.fail(0, "reject code statewall does not emit")),
        },
        _ => Err(at.fail(0, "reject kind statewall does not emit")),
    }
}

#[cfg(test)]
mod tests {
    use super::super::testing::{roundtrip, rule};
    use super::*;

    #[test]
    fn every_verdict_round_trips() {
        let mut all = vec![Verdict::Accept, Verdict::Drop, Verdict::RejectTcpReset];
        all.extend(
            [
                IcmpReject::PortUnreachable,
                IcmpReject::HostUnreachable,
                IcmpReject::AdminProhibited,
                IcmpReject::NoRoute,
            ]
            .map(Verdict::RejectIcmpx),
        );
        all.extend([1, 50].map(Verdict::Jump));
        for v in all {
            roundtrip(rule(vec![], v));
        }
    }

    #[test]
    fn reject_with_icmp_round_trips_after_a_family_check() {
        use crate::core::model::Cidr;
        use crate::core::plan::{IPPROTO_TCP, Match};
        let net = Cidr::V4(std::net::Ipv4Addr::new(10, 0, 0, 0), 8);
        for (v6, code) in [(false, 10), (false, 9), (false, 2), (true, 1), (true, 4)] {
            let v = Verdict::RejectIcmp { v6, code };
            roundtrip(rule(vec![Match::NfProto { v6 }], v));
            roundtrip(rule(
                vec![Match::NfProto { v6 }, Match::L4Proto(IPPROTO_TCP)],
                v,
            ));
        }
        roundtrip(rule(
            vec![Match::SrcNet(net)],
            Verdict::RejectIcmp {
                v6: false,
                code: 10,
            },
        ));
    }
}
