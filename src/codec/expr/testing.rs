//! Test support for the expression files: a plan rule through the real encoder and decoder,
//! and rule messages as the kernel dumps them, written attribute by attribute (for shapes
//! statewall itself never writes).

use rustables::{Chain, ProtocolFamily, Table};

use crate::codec::decode::decode_rule_msg;
use crate::codec::nft::{
    NF_ACCEPT, NFT_CMP_EQ, NFT_META_L4PROTO, NFT_MSG_NEWRULE, NFT_PAYLOAD_TRANSPORT_HEADER,
    NFTA_CMP_DATA, NFTA_CMP_OP, NFTA_COUNTER_BYTES, NFTA_COUNTER_PACKETS, NFTA_DATA_VALUE,
    NFTA_DATA_VERDICT, NFTA_EXPR_DATA, NFTA_EXPR_NAME, NFTA_IMMEDIATE_DATA, NFTA_LIST_ELEM,
    NFTA_LOOKUP_FLAGS, NFTA_LOOKUP_SET, NFTA_META_KEY, NFTA_PAYLOAD_BASE, NFTA_PAYLOAD_LEN,
    NFTA_PAYLOAD_OFFSET, NFTA_RULE_CHAIN, NFTA_RULE_EXPRESSIONS, NFTA_RULE_HANDLE, NFTA_RULE_TABLE,
    NFTA_RULE_USERDATA, NFTA_VERDICT_CODE, NLM_F_MULTI,
};
use crate::codec::{encode, wire};
use crate::core::live::LiveRule;
use crate::core::plan::{Match, Rule, Verdict};

/// The input chain of table `inet statewall`.
pub(crate) fn chain() -> Chain {
    let t = Table::new(ProtocolFamily::Inet).with_name("statewall");
    Chain::new(&t).with_name("input")
}

/// A plan rule with the comment `t`.
pub(crate) fn rule(matches: Vec<Match>, verdict: Verdict) -> Rule {
    Rule {
        comment: "t".into(),
        origin: None,
        matches,
        verdict,
    }
}

/// The NEWRULE message rustables writes for `rule`, decoded: the attributes a dump returns
/// too (the kernel adds the handle, and the counter's values).
pub(crate) fn decode_rustables(rule: &rustables::Rule) -> LiveRule {
    let mut batch = rustables::Batch::new();
    batch.add(rule, rustables::MsgType::Add);
    let raw = batch.finalize();
    let msg = wire::messages(&raw).nth(1).expect("begin, rule, end").1;
    let (place, live) = decode_rule_msg(msg).expect("a rule message");
    assert_eq!(place.table, "statewall");
    assert_eq!(place.chain, "input");
    live
}

/// Encodes `r` and decodes it again: it must come back as it was.
#[track_caller]
pub(crate) fn roundtrip(r: Rule) {
    // as a batch writes it: rustables' expressions, ours spliced into their placeholders
    let mut rule = rustables::Rule::new(&chain()).expect("chain has table and name");
    let own = super::encode(&mut rule, &r, None, &super::SetIds::new());
    let rule = rule.with_userdata(encode::comment_udata(&r.comment));
    let msg = encode::rule_message(&rule, &r, &own);
    let (place, live) = decode_rule_msg(&msg).expect("a rule message");
    assert_eq!(
        (place.table.as_str(), place.chain.as_str()),
        ("statewall", "input")
    );
    assert_eq!(live.comment.as_deref(), Some(r.comment.as_str()));
    assert_eq!(live.rule, Ok(r));
}

/// A rule message as the kernel dumps it: a handle, then `exprs` (name, attributes), a
/// counter of 3 packets and 180 bytes, and `accept`; comment `web`.
pub(crate) fn dumped(handle: u64, exprs: &[(&str, wire::Attrs)]) -> Vec<u8> {
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
        .put(NFTA_RULE_USERDATA, &encode::comment_udata("web"));
    wire::nft_message(NFT_MSG_NEWRULE, NLM_F_MULTI, &a) // as a dump sends it
}

/// The attributes of `cmp <op> value`.
pub(crate) fn cmp(op: u32, value: &[u8]) -> wire::Attrs {
    let mut a = wire::Attrs::default();
    a.be32(NFTA_CMP_OP, op).nest(NFTA_CMP_DATA, |d| {
        d.put(NFTA_DATA_VALUE, value);
    });
    a
}

/// The attributes of a `ct` load of `key` (no register: the decoders ignore it).
pub(crate) fn ct_load(key: u32) -> wire::Attrs {
    let mut c = wire::Attrs::default();
    c.be32(crate::codec::nft::NFTA_CT_KEY, key);
    c
}

/// The attributes of `bitwise reg = (reg & mask) ^ 0` on 4 host-endian bytes.
pub(crate) fn mask4(mask: u32) -> wire::Attrs {
    use crate::codec::nft::{NFTA_BITWISE_MASK, NFTA_BITWISE_XOR};
    let mut b = wire::Attrs::default();
    b.nest(NFTA_BITWISE_MASK, |d| {
        d.put(NFTA_DATA_VALUE, &mask.to_ne_bytes());
    })
    .nest(NFTA_BITWISE_XOR, |d| {
        d.put(NFTA_DATA_VALUE, &[0; 4]);
    });
    b
}

/// `meta l4proto tcp tcp dport @tcp_web` as the kernel dumps it, with the lookup's
/// `NFTA_LOOKUP_FLAGS` when given.
pub(crate) fn tcp_port_set(handle: u64, lookup_flags: Option<u32>) -> Vec<u8> {
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

/// Why the dumped rule with `exprs` (then a counter and `accept`) is not statewall's.
#[track_caller]
pub(crate) fn not_statewalls(exprs: &[(&str, wire::Attrs)]) -> String {
    let (_, live) = decode_rule_msg(&dumped(1, exprs)).expect("a rule message");
    live.rule.expect_err("not statewall's").to_string()
}
