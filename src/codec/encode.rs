//! Plan → the bytes of one nf_tables batch. Pure: builds rustables objects and serialises
//! them; no socket is opened here.
//!
//! The batch replaces statewall's table and only it:
//! `NEWTABLE` (so the delete cannot fail) · `DELTABLE` · `NEWTABLE` (with the plan's
//! fingerprint in its userdata) · `NEWCHAIN` · `NEWRULE`… — committed all or nothing.
//!
//! Where rustables 0.9 falls short we post-process its bytes: the batch-begin message
//! carries `NFNL_BATCH_GENID` (the commit is refused with `ERESTART` if the ruleset changed
//! since we read the generation), and `NLM_F_ACK` is cleared on every message so a large
//! batch does not flood the socket with acks (errors are reported regardless).

use std::collections::HashMap;

use rustables::expr::{Immediate, VerdictKind};
use rustables::{Batch, Chain, ChainPolicy, ChainType, Hook, HookClass, MsgType, ProtocolFamily};

use super::expr::{self, SetIds};
use super::nft::{
    NFNL_MSG_BATCH_BEGIN, NFNL_MSG_BATCH_END, NFNL_SUBSYS_NFTABLES, NFT_MSG_DELSETELEM,
    NFT_MSG_NEWSETELEM, NFTNL_UDATA_RULE_COMMENT, NFTNL_UDATA_TABLE_COMMENT, NLM_F_ACK,
    NLM_F_REQUEST,
};
use super::wire;
use crate::core::identity::{Seeds, table_comment};
use crate::core::kernel::SetEdit;
use crate::core::plan::{self, Match, Member, Members, Plan};

/// Userdata TLV type that `nft` shows as `comment`, on tables and rules alike.
const UDATA_COMMENT: u8 = NFTNL_UDATA_RULE_COMMENT;
const _: () = assert!(NFTNL_UDATA_TABLE_COMMENT == UDATA_COMMENT);

/// A fault injected on purpose, only for tests of the failure path.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fault {
    /// append a rule that jumps to a chain that does not exist: the kernel rejects the batch
    JumpToMissingChain,
    /// commit the batch, then lose its outcome (as when netlink fails after the send)
    LoseBatchOutcome,
}

/// What one message of the batch stands for, so a kernel error can be traced back to it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Op {
    pub seq: u32,
    pub what: String,
}

#[derive(Debug, Clone)]
pub struct EncodedBatch {
    pub bytes: Vec<u8>,
    /// one entry per message between batch begin and batch end
    pub ops: Vec<Op>,
    /// the sequence number of the batch-end message
    pub end_seq: u32,
}

impl EncodedBatch {
    pub fn op(&self, seq: u32) -> Option<&Op> {
        self.ops.iter().find(|o| o.seq == seq)
    }

    /// The rules of the batch with more expressions than the kernel takes in one rule
    /// ([`RULE_EXPRS_MAX`]): what each stands for (its entry and policy line) and how many
    /// it has. The kernel refuses the whole batch for one (EINVAL), so a policy is checked
    /// before anything is sent.
    pub fn overlong_rules(&self) -> Vec<(String, usize)> {
        let rule_ty = (NFNL_SUBSYS_NFTABLES << 8) | super::nft::NFT_MSG_NEWRULE;
        wire::messages(&self.bytes)
            .filter(|(h, _)| h.ty != NFNL_MSG_BATCH_BEGIN && h.ty != NFNL_MSG_BATCH_END)
            .zip(&self.ops)
            .filter(|((h, _), _)| h.ty == rule_ty)
            .filter_map(|((_, m), op)| {
                let body = m.get(super::nft::NLMSG_HDRLEN + super::nft::NFGENMSG_LEN..)?;
                let exprs = wire::attrs(body)
                    .find(|(ty, _)| *ty == super::nft::NFTA_RULE_EXPRESSIONS)
                    .map_or(0, |(_, list)| wire::attrs(list).count());
                (exprs > RULE_EXPRS_MAX).then(|| (op.what.clone(), exprs))
            })
            .collect()
    }
}

/// The most expressions the kernel takes in one rule (`NFT_RULE_MAXEXPRS`).
pub const RULE_EXPRS_MAX: usize = 128;

/// The rules of `plan` with more expressions than the kernel takes in one rule
/// ([`EncodedBatch::overlong_rules`]), encoded without the sets' elements (which only their
/// own messages carry), so that checking a policy of 100,000 sources costs its rules alone.
pub fn overlong_rules(plan: &Plan) -> Vec<(String, usize)> {
    let light = Plan {
        table: plan.table.clone(),
        mode: plan.mode,
        sets: plan
            .sets
            .iter()
            .map(|s| plan::Set {
                name: s.name.clone(),
                kind: s.kind,
                elements: Vec::new(),
                timeout: s.timeout,
            })
            .collect(),
        chains: plan.chains.clone(),
    };
    encode(&light, None, None).overlong_rules()
}

/// A userdata blob holding one comment TLV (type, length incl. NUL, bytes, NUL).
/// Comments are cut to fit the 255-byte TLV length (on a char boundary).
pub fn comment_udata(comment: &str) -> Vec<u8> {
    let mut end = comment.len().min(254);
    while !comment.is_char_boundary(end) {
        end -= 1;
    }
    let text = &comment.as_bytes()[..end];
    let mut v = Vec::with_capacity(text.len() + 3);
    v.push(UDATA_COMMENT);
    v.push((text.len() + 1) as u8);
    v.extend_from_slice(text);
    v.push(0);
    v
}

/// Reads the comment TLV back out of a userdata blob (None when absent or malformed).
pub fn comment_from_udata(udata: &[u8]) -> Option<String> {
    let mut rest = udata;
    while rest.len() >= 2 {
        let (ty, len) = (rest[0], rest[1] as usize);
        let val = rest.get(2..2 + len)?;
        if ty == UDATA_COMMENT {
            let val = val.strip_suffix(&[0]).unwrap_or(val);
            return Some(String::from_utf8_lossy(val).into_owned());
        }
        rest = &rest[2 + len..];
    }
    None
}

pub fn encode(plan: &Plan, genid: Option<u32>, fault: Option<Fault>) -> EncodedBatch {
    encode_seeded(plan, genid, fault, &Seeds::default(), &Members::new())
}

/// [`encode`], with initial counter values for some rules, and the members its live sets
/// carry over (by kernel set name).
pub fn encode_seeded(
    plan: &Plan,
    genid: Option<u32>,
    fault: Option<Fault>,
    seeds: &Seeds,
    members: &Members,
) -> EncodedBatch {
    let mut b = Builder::new(plan);
    let table = b.table(plan);
    // every chain before any rule: the input chain's rules jump to the chains after it
    let chains = b.chains(plan, &table);
    for ((ci, ch), chain) in plan.chains.iter().enumerate().zip(&chains) {
        for (i, r) in ch.rules.iter().enumerate() {
            let seed = seeds.get(&(ci, i)).copied();
            b.rule(ch, chain, i, r, seed);
        }
        if fault == Some(Fault::JumpToMissingChain) && ch.hook.is_some() {
            let mut r = rustables::Rule::new(chain).expect("chain has table and name");
            r.add_expr(Immediate::new_verdict(VerdictKind::Jump {
                chain: "statewall-test-missing-chain".into(),
            }));
            let what = format!("injected fault: jump to a missing chain from {}", ch.name);
            b.batch.add(&r, MsgType::Add);
            b.what.push(what);
        }
    }
    assemble(b.with_sets(plan, members), genid)
}

pub use super::patch::encode_patch;

/// A batch that adds and deletes members of live sets, and nothing else: no table
/// replace, every counter untouched. Deletions go first, so a member can be re-added with a
/// new lifetime in one batch.
pub fn encode_members(table: &str, edits: &[SetEdit], genid: Option<u32>) -> EncodedBatch {
    let mut parts = Vec::new();
    for e in edits {
        let del: Vec<Member> = e
            .del
            .iter()
            .map(|&net| Member {
                net,
                expires_ms: None,
            })
            .collect();
        let keys = super::sets::member_keys(e.kind, &del);
        for m in super::sets::element_messages(NFT_MSG_DELSETELEM, table, &e.set, None, &keys) {
            parts.push((m, format!("delete {} members of set {}", del.len(), e.set)));
        }
        let keys = super::sets::member_keys(e.kind, &e.add);
        for m in super::sets::element_messages(NFT_MSG_NEWSETELEM, table, &e.set, None, &keys) {
            parts.push((m, format!("add {} members to set {}", e.add.len(), e.set)));
        }
    }
    assemble(parts, genid)
}

/// Our own bytes for a message of the batch.
enum Own {
    /// the whole message (rustables wrote an empty placeholder rule)
    Whole(Vec<u8>),
    /// expressions for the placeholders in the rule rustables wrote (`expr::splice_own`)
    Splice(Vec<Vec<u8>>),
}

/// The batch as rustables builds it, with what each message stands for, and our own bytes
/// for the messages rustables cannot write.
struct Builder {
    batch: Batch,
    /// what each message stands for, in order
    what: Vec<String>,
    /// message index → our own bytes for it, whole or spliced into what rustables wrote
    own: HashMap<usize, Own>,
    /// the plan's table and its sets, numbered in the batch
    table: String,
    set_ids: SetIds,
}

impl Builder {
    fn new(plan: &Plan) -> Builder {
        Builder {
            batch: Batch::new(),
            what: Vec::new(),
            own: HashMap::new(),
            table: plan.table.clone(),
            set_ids: plan
                .sets
                .iter()
                .enumerate()
                .map(|(i, s)| (s.name.clone(), (i + 1) as u32))
                .collect(),
        }
    }

    /// `NEWTABLE` (so the delete cannot fail), `DELTABLE`, `NEWTABLE` with the comment.
    fn table(&mut self, plan: &Plan) -> rustables::Table {
        let t = &plan.table;
        let bare = rustables::Table::new(ProtocolFamily::Inet).with_name(t.as_str());
        self.batch.add(&bare, MsgType::Add);
        self.what.push(format!("create table inet {t} if missing"));
        self.batch.add(&bare, MsgType::Del);
        self.what.push(format!("delete table inet {t}"));
        let table = rustables::Table::new(ProtocolFamily::Inet)
            .with_name(t.as_str())
            .with_flags(0u32)
            .with_userdata(comment_udata(&table_comment(plan)));
        self.batch.add(&table, MsgType::Add);
        self.what.push(format!("add table inet {t}"));
        table
    }

    fn chains(&mut self, plan: &Plan, table: &rustables::Table) -> Vec<Chain> {
        let mut chains = Vec::with_capacity(plan.chains.len());
        for ch in &plan.chains {
            let mut chain = Chain::new(table).with_name(ch.name.as_str());
            if let Some(h) = ch.hook {
                let class = match h.hook {
                    plan::Hook::Input => HookClass::In,
                    plan::Hook::Forward => HookClass::Forward,
                    plan::Hook::Output => HookClass::Out,
                };
                chain = chain
                    .with_hook(Hook::new(class, h.priority))
                    .with_policy(ChainPolicy::Accept)
                    .with_type(ChainType::Filter);
            }
            let what = format!("add chain inet {} {}", plan.table, ch.name);
            self.batch.add(&chain, MsgType::Add);
            self.what.push(what);
            chains.push(chain);
        }
        chains
    }

    /// Rule `i` of chain `ch`.
    fn rule(
        &mut self,
        ch: &plan::Chain,
        chain: &Chain,
        i: usize,
        r: &plan::Rule,
        seed: Option<(u64, u64)>,
    ) {
        let origin = match r.origin {
            Some(loc) => format!(" (policy line {})", loc.line),
            None => String::new(),
        };
        // a kernel built without an x_tables match refuses the rule that runs it (ENOENT):
        // the message says which module it needs
        let xt = r.matches.iter().find_map(|m| match m {
            Match::Contains { .. } => Some("string"),
            Match::U32 { .. } => Some("u32"),
            Match::Helper { .. } => Some("helper"),
            _ => None,
        });
        let xt = xt.map_or(String::new(), |name| {
            format!(", which runs the kernel's x_tables match `{name}` (module xt_{name}, through nft_compat)")
        });
        let what = format!(
            "rule {} of chain {} (entry `{}`){origin}{xt}",
            i + 1,
            ch.name,
            r.comment
        );
        let recorder = r.matches.iter().find_map(|m| match m {
            Match::Record(key) => Some(*key),
            _ => None,
        });
        let Some(key) = recorder else {
            let mut rule = rustables::Rule::new(chain).expect("chain has table and name");
            let own = expr::encode(&mut rule, r, seed, &self.set_ids);
            let rule = rule.with_userdata(comment_udata(&r.comment));
            if matches!(r.verdict, plan::Verdict::RejectIcmp { .. }) {
                // rustables cannot write its reject code: the finished message replaces it
                self.own
                    .insert(self.what.len(), Own::Whole(rule_message(&rule, r, &own)));
            } else if !own.is_empty() {
                self.own.insert(self.what.len(), Own::Splice(own));
            }
            self.batch.add(&rule, MsgType::Add);
            self.what.push(what);
            return;
        };
        // rustables cannot write a dynset: a placeholder keeps the message count, and our
        // own bytes replace it in `with_sets`
        let id = self
            .set_ids
            .get(&plan::set_name(key.set_kind(), ""))
            .copied()
            .unwrap_or(0);
        let udata = comment_udata(&r.comment);
        let own = super::sets::recorder_rule(&self.table, &ch.name, key, id, &udata, seed);
        self.own.insert(self.what.len(), Own::Whole(own));
        let placeholder = rustables::Rule::new(chain).expect("named");
        self.batch.add(&placeholder, MsgType::Add);
        self.what.push(what);
    }

    /// Every message, with what it stands for. rustables cannot write interval sets: our
    /// own set messages go in right after the table (before the rules that look them up).
    fn with_sets(mut self, plan: &Plan, members: &Members) -> Vec<(Vec<u8>, String)> {
        let t = &plan.table;
        let raw = self.batch.finalize();
        let mut parts = Vec::with_capacity(self.what.len() + 2 * plan.sets.len());
        let mut rust_msgs = wire::messages(&raw)
            .filter(|(h, _)| h.ty != NFNL_MSG_BATCH_BEGIN && h.ty != NFNL_MSG_BATCH_END)
            .map(|(_, m)| m.to_vec())
            .enumerate()
            .map(|(i, m)| match self.own.remove(&i) {
                Some(Own::Whole(mine)) => mine,
                Some(Own::Splice(exprs)) => expr::splice_own(&m, &exprs),
                None => m,
            })
            .zip(self.what);
        parts.extend(rust_msgs.by_ref().take(3));
        let fed = plan.fed_sets();
        for (i, set) in plan.sets.iter().enumerate() {
            let id = (i + 1) as u32;
            let n = set.elements.len();
            let what = format!("add set inet {t} {} ({n} elements)", set.name);
            parts.push((
                super::sets::newset(t, set, id, fed.contains(&set.name)),
                what,
            ));
            let chunks = super::sets::newsetelems(t, set, id);
            let n = chunks.len();
            for (k, m) in chunks.into_iter().enumerate() {
                let what = format!("add elements to set {} (part {} of {n})", set.name, k + 1);
                parts.push((m, what));
            }
            let carried = members.get(&set.name).filter(|_| set.kind.live());
            if let Some(carried) = carried.filter(|m| !m.is_empty()) {
                let keys = super::sets::member_keys(set.kind, carried);
                let msgs = super::sets::element_messages(
                    NFT_MSG_NEWSETELEM,
                    t,
                    &set.name,
                    Some(id),
                    &keys,
                );
                for m in msgs {
                    let what = format!("carry {} members of set {}", carried.len(), set.name);
                    parts.push((m, what));
                }
            }
        }
        parts.extend(rust_msgs);
        parts
    }
}

/// One batch from whole messages: batch begin (with the generation id), the messages
/// numbered 1.. with `NLM_F_ACK` cleared, batch end.
pub(super) fn assemble(parts: Vec<(Vec<u8>, String)>, genid: Option<u32>) -> EncodedBatch {
    let total: usize = parts.iter().map(|(m, _)| wire::align4(m.len())).sum();
    let mut bytes = Vec::with_capacity(total + 64);
    bytes.extend_from_slice(&wire::batch_begin(0, genid));
    let mut ops = Vec::with_capacity(parts.len());
    for (i, (mut m, what)) in parts.into_iter().enumerate() {
        let seq = (i + 1) as u32;
        m[8..12].copy_from_slice(&seq.to_ne_bytes());
        let flags = u16::from_ne_bytes([m[6], m[7]]) & !NLM_F_ACK;
        m[6..8].copy_from_slice(&flags.to_ne_bytes());
        bytes.extend_from_slice(&m);
        bytes.resize(wire::align4(bytes.len()), 0);
        ops.push(Op { seq, what });
    }
    let end_seq = ops.len() as u32 + 1;
    bytes.extend_from_slice(&wire::nfnl_message(
        NFNL_MSG_BATCH_END,
        NLM_F_REQUEST,
        end_seq,
        0,
        NFNL_SUBSYS_NFTABLES,
        &wire::Attrs::default(),
    ));
    EncodedBatch {
        bytes,
        ops,
        end_seq,
    }
}

/// One plan rule as a rustables rule object in `chain` (set lookups name their set; the
/// set id is only known inside a batch, see [`encode_seeded`]).
pub fn rule(chain: &Chain, r: &plan::Rule) -> rustables::Rule {
    rule_seeded(chain, r, None, &SetIds::new())
}

/// One plan rule, its counter starting at `counter` when given (the expressions of each
/// match and verdict: `codec::expr`).
pub(super) fn rule_seeded(
    chain: &Chain,
    r: &plan::Rule,
    counter: Option<(u64, u64)>,
    set_ids: &SetIds,
) -> rustables::Rule {
    let mut rule = rustables::Rule::new(chain).expect("chain has table and name");
    let own = expr::encode(&mut rule, r, counter, set_ids);
    // a rule with our own expressions is written by the full encoder only (an incremental
    // apply replaces the table instead: `core::patch`)
    debug_assert!(own.is_empty(), "rule `{}` needs our own bytes", r.comment);
    rule.with_userdata(comment_udata(&r.comment))
}

/// The NEWRULE message of `rule` (rustables' encoding of plan rule `r`), with our own
/// expressions `own` spliced in and finished (`expr::finish`).
pub(crate) fn rule_message(rule: &rustables::Rule, r: &plan::Rule, own: &[Vec<u8>]) -> Vec<u8> {
    let mut batch = Batch::new();
    batch.add(rule, MsgType::Add);
    let raw = batch.finalize();
    let mut msg = wire::messages(&raw)
        .find(|(h, _)| h.ty != NFNL_MSG_BATCH_BEGIN && h.ty != NFNL_MSG_BATCH_END)
        .map(|(_, m)| m.to_vec())
        .expect("a batch of one rule holds its message");
    if !own.is_empty() {
        msg = expr::splice_own(&msg, own);
    }
    expr::finish(&mut msg, r);
    msg
}

/// A batch that deletes statewall's table and nothing else.
pub fn encode_remove(table: &str, genid: Option<u32>) -> EncodedBatch {
    let mut batch = Batch::new();
    let t = rustables::Table::new(ProtocolFamily::Inet).with_name(table);
    batch.add(&t, MsgType::Del);
    let raw = batch.finalize();
    EncodedBatch {
        bytes: wire::rewrite_batch(&raw, genid, |_, flags| flags & !NLM_F_ACK),
        ops: vec![Op {
            seq: 1,
            what: format!("delete table inet {table}"),
        }],
        end_seq: 2,
    }
}
