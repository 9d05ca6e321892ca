//! An incremental apply (`core::patch::Patch`) as one batch: set elements deleted and added,
//! rules deleted by handle and inserted after a kept rule's handle (`NFTA_RULE_POSITION`), and
//! the marker rule that carries the new fingerprint replaced. Pure byte work.

use rustables::{Batch, Chain, MsgType, ProtocolFamily};

use super::encode::{EncodedBatch, assemble, comment_udata, rule_seeded};
use super::expr::SetIds;
use super::nft::{
    NFNL_MSG_BATCH_BEGIN, NFNL_MSG_BATCH_END, NFT_MSG_DELSETELEM, NFT_MSG_NEWSETELEM, NLM_F_APPEND,
};
use super::sets::{Key, element_keys, element_messages};
use super::wire;
use crate::core::patch::{MARKER_CHAIN, Patch, RuleEdit};

/// The batch of `patch`, conditional on `genid`.
pub fn encode_patch(patch: &Patch, genid: Option<u32>) -> EncodedBatch {
    let t = patch.table.as_str();
    let mut parts: Vec<(Vec<u8>, String)> = Vec::new();
    for e in &patch.elements {
        let del: Vec<Key> = element_keys(e.kind, &e.del);
        for m in element_messages(NFT_MSG_DELSETELEM, t, &e.set, None, &del) {
            parts.push((
                m,
                format!("delete {} elements of set {}", e.del.len(), e.set),
            ));
        }
        let add: Vec<Key> = element_keys(e.kind, &e.add);
        for m in element_messages(NFT_MSG_NEWSETELEM, t, &e.set, None, &add) {
            parts.push((m, format!("add {} elements to set {}", e.add.len(), e.set)));
        }
    }
    let table = rustables::Table::new(ProtocolFamily::Inet).with_name(t);
    // rustables writes each object; what each message stands for, and whether it goes to the
    // head of its chain (NLM_F_APPEND cleared), kept beside it
    let mut batch = Batch::new();
    let mut what: Vec<(String, bool)> = Vec::new();
    // message index → the plan rule its message needs finishing for (`expr::finish`)
    let mut finish = std::collections::HashMap::new();
    for edit in &patch.rules {
        match edit {
            RuleEdit::Delete { chain, handle } => {
                let c = Chain::new(&table).with_name(chain.as_str());
                let r = rustables::Rule::new(&c)
                    .expect("named")
                    .with_handle(*handle);
                batch.add(&r, MsgType::Del);
                what.push((
                    format!("delete rule handle {handle} of chain {chain}"),
                    false,
                ));
            }
            RuleEdit::Insert { chain, after, rule } => {
                let c = Chain::new(&table).with_name(chain.as_str());
                let mut r = rule_seeded(&c, rule, None, &SetIds::new());
                finish.insert(what.len(), rule);
                if let Some(h) = after {
                    r = r.with_position(*h);
                }
                batch.add(&r, MsgType::Add);
                let place = match after {
                    Some(h) => format!("after handle {h}"),
                    None => "at its start".to_string(),
                };
                what.push((
                    format!("insert rule `{}` into chain {chain} {place}", rule.comment),
                    after.is_none(),
                ));
            }
        }
    }
    let marker_chain = Chain::new(&table).with_name(MARKER_CHAIN);
    match patch.marker {
        Some(h) => {
            let r = rustables::Rule::new(&marker_chain)
                .expect("named")
                .with_handle(h);
            batch.add(&r, MsgType::Del);
            what.push((format!("delete the marker rule (handle {h})"), false));
        }
        None => {
            batch.add(&marker_chain, MsgType::Add);
            what.push((
                format!("add chain inet {t} {MARKER_CHAIN} (the plan marker)"),
                false,
            ));
        }
    }
    let marker = rustables::Rule::new(&marker_chain)
        .expect("named")
        .with_userdata(comment_udata(&patch.comment));
    batch.add(&marker, MsgType::Add);
    what.push((
        "add the marker rule: the new plan's fingerprint".to_string(),
        false,
    ));
    let raw = batch.finalize();
    let msgs = wire::messages(&raw)
        .filter(|(h, _)| h.ty != NFNL_MSG_BATCH_BEGIN && h.ty != NFNL_MSG_BATCH_END)
        .map(|(_, m)| m.to_vec());
    for (i, (mut m, (w, head))) in msgs.zip(what).enumerate() {
        if let Some(rule) = finish.get(&i) {
            super::expr::finish(&mut m, rule);
        }
        if head {
            // inserted at the start of the chain: no append, no position
            let flags = u16::from_ne_bytes([m[6], m[7]]) & !NLM_F_APPEND;
            m[6..8].copy_from_slice(&flags.to_ne_bytes());
        }
        parts.push((m, w));
    }
    assemble(parts, genid)
}
