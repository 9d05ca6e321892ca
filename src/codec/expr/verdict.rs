//! The verdict, last in a rule: `accept`, `drop`, `jump entries_<n>` (an immediate verdict)
//! and `reject with tcp reset` / `reject with icmpx <code>` (a reject). An audit recorder
//! has none (`Verdict::Continue`).
//!
//! nft: `[ immediate reg 0 accept ]`, `[ reject type 2 code 1 ]`

use rustables::expr::{IcmpCode, Immediate, Reject, RejectType, VerdictKind};

use super::{At, Decoding, Expr, NotUnderstood, Step};
use crate::codec::nft::{
    NF_ACCEPT, NF_DROP, NF_QUEUE, NFT_BREAK, NFT_CONTINUE, NFT_GOTO, NFT_JUMP,
    NFT_REJECT_ICMPX_ADMIN_PROHIBITED, NFT_REJECT_ICMPX_HOST_UNREACH, NFT_REJECT_ICMPX_NO_ROUTE,
    NFT_REJECT_ICMPX_PORT_UNREACH, NFT_REJECT_ICMPX_UNREACH, NFT_REJECT_TCP_RST, NFT_RETURN,
};
use crate::core::model::IcmpReject;
use crate::core::plan::{
    Hook, Verdict, entries_chain, hook_entries_chain, hook_entries_chain_number,
};

pub(super) fn encode(rule: &mut rustables::Rule, verdict: Verdict) {
    match verdict {
        // a log rule's log is written by `expr::encode` (our own bytes)
        Verdict::Continue | Verdict::Log(_) => {}
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
                }),
        ),
        Verdict::Jump(n) => rule.add_expr(Immediate::new_verdict(VerdictKind::Jump {
            chain: entries_chain(n),
        })),
        Verdict::JumpIn(hook, n) => rule.add_expr(Immediate::new_verdict(VerdictKind::Jump {
            chain: hook_entries_chain(hook, n),
        })),
    }
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
}
