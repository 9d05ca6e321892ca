//! The nftables expressions statewall's matches are made of (meta, cmp, payload, bitwise,
//! lookup…), as read off the wire and as written, and the small recognisers several matches
//! share. What a sequence of them *means* is decided in the match files next to this one.

use rustables::expr::{Cmp, CmpOp, Lookup, Payload, Register};

use super::{At, Decoding, NotUnderstood, SetIds};
use crate::codec::nft::{
    NFT_CMP_EQ, NFT_CMP_GTE, NFT_CMP_LTE, NFT_CMP_NEQ, NFT_LOOKUP_F_INV,
    NFT_PAYLOAD_TRANSPORT_HEADER, NFT_RANGE_NEQ, NFT_REG_1, NFTA_BITWISE_MASK, NFTA_BITWISE_XOR,
    NFTA_CMP_DATA, NFTA_CMP_OP, NFTA_COUNTER_BYTES, NFTA_COUNTER_PACKETS, NFTA_CT_DIRECTION,
    NFTA_CT_KEY, NFTA_DATA_VALUE, NFTA_DATA_VERDICT, NFTA_EXPR_DATA, NFTA_EXPR_NAME,
    NFTA_IMMEDIATE_DATA, NFTA_LIST_ELEM, NFTA_LOOKUP_FLAGS, NFTA_LOOKUP_SET, NFTA_META_KEY,
    NFTA_PAYLOAD_BASE, NFTA_PAYLOAD_LEN, NFTA_PAYLOAD_OFFSET, NFTA_RANGE_FROM_DATA, NFTA_RANGE_OP,
    NFTA_RANGE_SREG, NFTA_RANGE_TO_DATA, NFTA_REJECT_ICMP_CODE, NFTA_REJECT_TYPE,
    NFTA_VERDICT_CHAIN, NFTA_VERDICT_CODE,
};
use crate::codec::wire::{self, Attrs, attr, be32, be64, string};

/// One expression of a rule, as far as statewall reads it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Expr {
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
        /// the direction of a directional key (`ct original proto-dst`)
        dir: Option<u8>,
    },
    Lookup {
        set: String,
    },
    /// `range eq|neq` of register 1 (nft writes `th dport != 1000-2000` with it)
    Range {
        op: u32,
        from: Vec<u8>,
        to: Vec<u8>,
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
    /// any other expression (a dynset, or one statewall does not emit), or a known one that
    /// is malformed or means something else (the name says so); `data` is its
    /// `NFTA_EXPR_DATA`, for a match file that reads an expression parsed nowhere here
    Other {
        name: String,
        data: Vec<u8>,
    },
}

impl Expr {
    /// The expression's name, as messages about it show it.
    pub(crate) fn name(&self) -> &str {
        match self {
            Expr::Meta { .. } => "meta",
            Expr::Cmp { .. } => "cmp",
            Expr::Bitwise { .. } => "bitwise",
            Expr::Payload { .. } => "payload",
            Expr::Ct { .. } => "ct",
            Expr::Lookup { .. } => "lookup",
            Expr::Range { .. } => "range",
            Expr::Counter { .. } => "counter",
            Expr::Verdict { .. } => "immediate",
            Expr::Reject { .. } => "reject",
            Expr::Other { name, .. } => name,
        }
    }
}

/// The expressions of an `NFTA_RULE_EXPRESSIONS` list.
pub(crate) fn parse_list(list: &[u8]) -> Vec<Expr> {
    wire::attrs(list)
        .filter(|(t, _)| *t == NFTA_LIST_ELEM)
        .map(|(_, e)| parse(e))
        .collect()
}

/// `NFTA_DATA_VALUE` inside a nested data attribute.
fn value(data: &[u8]) -> Option<Vec<u8>> {
    attr(data, NFTA_DATA_VALUE).map(<[u8]>::to_vec)
}

/// One `NFTA_LIST_ELEM` of a rule's expressions. A known expression with an attribute
/// missing or malformed is returned as `Other` with a note, so it is reported, not trusted.
fn parse(elem: &[u8]) -> Expr {
    let name = attr(elem, NFTA_EXPR_NAME)
        .map(string)
        .unwrap_or_else(|| "?".into());
    let d = attr(elem, NFTA_EXPR_DATA).unwrap_or(&[]);
    let other = |name: String| Expr::Other {
        name,
        data: d.to_vec(),
    };
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
        "ct" => a(NFTA_CT_KEY).and_then(be32).map(|key| Expr::Ct {
            key,
            dir: a(NFTA_CT_DIRECTION).and_then(|d| d.first().copied()),
        }),
        // an inverted lookup (`!= @set`) means the opposite: not statewall's
        "lookup" if a(NFTA_LOOKUP_FLAGS).and_then(be32).unwrap_or(0) & NFT_LOOKUP_F_INV != 0 => {
            Some(other("lookup (inverted)".into()))
        }
        "range" => match (
            a(NFTA_RANGE_OP).and_then(be32),
            a(NFTA_RANGE_FROM_DATA).and_then(value),
            a(NFTA_RANGE_TO_DATA).and_then(value),
        ) {
            (Some(op), Some(from), Some(to)) => Some(Expr::Range { op, from, to }),
            _ => None,
        },
        "lookup" => a(NFTA_LOOKUP_SET).map(|s| Expr::Lookup { set: string(s) }),
        // a counter created without values has none yet (the kernel always dumps both)
        "counter" => Some(Expr::Counter {
            packets: a(NFTA_COUNTER_PACKETS).and_then(be64).unwrap_or(0),
            bytes: a(NFTA_COUNTER_BYTES).and_then(be64).unwrap_or(0),
        }),
        // an immediate that loads data into a register: Other, for `mss` to read
        "immediate"
            if a(NFTA_IMMEDIATE_DATA).is_some_and(|d| attr(d, NFTA_DATA_VERDICT).is_none()) =>
        {
            Some(other("immediate".into()))
        }
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
        _ => Some(other(name.clone())),
    };
    parsed.unwrap_or_else(|| other(format!("{name} (malformed)")))
}

// ---- recognisers several matches share ----------------------------------------------

/// What a meta load compared with something other than the values statewall emits says.
pub(super) const UNKNOWN_META: &str = "meta key or value statewall does not emit";
/// What a transport header load without a comparison (or a lookup, or a dynset) says.
pub(super) const BARE_TRANSPORT_LOAD: &str = "transport header without a comparison";
/// What a transport header load of a field no match reads says.
pub(super) const UNKNOWN_TRANSPORT_FIELD: &str = "transport header field statewall does not emit";

pub(super) fn cmp_of(e: Option<&Expr>) -> Option<(u32, &[u8])> {
    match e? {
        Expr::Cmp { op, data } => Some((*op, data)),
        _ => None,
    }
}

pub(super) fn bitwise_of(e: Option<&Expr>) -> Option<(&[u8], &[u8])> {
    match e? {
        Expr::Bitwise { mask, xor } => Some((mask, xor)),
        _ => None,
    }
}

pub(super) fn lookup_of(e: Option<&Expr>) -> Option<&str> {
    match e? {
        Expr::Lookup { set } => Some(set),
        _ => None,
    }
}

/// `(offset, len)` of a transport header load at expression `k` after the position.
pub(super) fn transport_load(at: &At, k: usize) -> Option<(u32, u32)> {
    match at.get(k)? {
        &Expr::Payload {
            base: NFT_PAYLOAD_TRANSPORT_HEADER,
            offset,
            len,
        } => Some((offset, len)),
        _ => None,
    }
}

/// A dynset is recognised by name, and only in the place statewall puts it (see `record`).
pub(super) fn is_dynset(e: Option<&Expr>) -> bool {
    matches!(e, Some(Expr::Other { name, .. }) if name == "dynset")
}

/// `cmp eq v` → (v, v); `cmp gte lo` + `cmp lte hi` → (lo, hi); at expression `k` after
/// the position, with the number of expressions used.
pub(super) fn eq_or_range<'a>(at: &At<'a>, k: usize) -> Option<(&'a [u8], &'a [u8], usize)> {
    match cmp_of(at.get(k))? {
        (NFT_CMP_EQ, v) => Some((v, v, 1)),
        (NFT_CMP_GTE, lo) => match cmp_of(at.get(k + 1))? {
            (NFT_CMP_LTE, hi) => Some((lo, hi, 2)),
            _ => None,
        },
        _ => None,
    }
}

/// `cmp neq v` → (v, v); `range neq lo hi` → (lo, hi): an exception (`th dport != 80`,
/// `th dport != 1000-2000`, as nft writes them), at expression `k` after the position.
pub(super) fn neq_or_range_neq<'a>(at: &At<'a>, k: usize) -> Option<(&'a [u8], &'a [u8])> {
    match at.get(k)? {
        Expr::Cmp {
            op: NFT_CMP_NEQ,
            data,
        } => Some((data, data)),
        Expr::Range {
            op: NFT_RANGE_NEQ,
            from,
            to,
        } => Some((from, to)),
        _ => None,
    }
}

/// A meta load of any key at the position and its `cmp eq`: (key, value). Claims every
/// meta load: one without that comparison is not statewall's.
fn meta_cmp<'a>(at: &At<'a>) -> Option<Result<(u32, &'a [u8]), NotUnderstood>> {
    let Some(Expr::Meta { key }) = at.get(0) else {
        return None;
    };
    Some(match cmp_of(at.get(1)) {
        None => Err(at.fail(0, "meta without a comparison")),
        Some((op, _)) if op != NFT_CMP_EQ => {
            Err(at.fail(0, "meta with a comparison other than =="))
        }
        Some((_, v)) => Ok((*key, v)),
    })
}

/// `meta <key> == value` at the position: the value (two expressions). None when the
/// position holds no meta load of this key.
pub(super) fn meta_eq<'a>(at: &At<'a>, key: u32) -> Option<Result<&'a [u8], NotUnderstood>> {
    match at.get(0) {
        Some(Expr::Meta { key: k }) if *k == key => meta_cmp(at).map(|r| r.map(|(_, v)| v)),
        _ => None,
    }
}

/// A meta load no match claimed: its key (or its value's size) is not one statewall emits.
pub(super) fn unclaimed_meta(at: &At) -> Decoding {
    Some(meta_cmp(at)?.and_then(|_| Err(at.fail(0, UNKNOWN_META))))
}

/// A transport header load no match claimed: a field statewall does not read.
pub(super) fn unclaimed_transport(at: &At) -> Decoding {
    transport_load(at, 0)?;
    Some(Err(match eq_or_range(at, 1) {
        None => at.fail(0, BARE_TRANSPORT_LOAD),
        Some(_) => at.fail(0, UNKNOWN_TRANSPORT_FIELD),
    }))
}

// ---- writing them ---------------------------------------------------------------------

/// A payload load into register 1.
pub(super) fn payload(base: u32, offset: u32, len: u32) -> Payload {
    Payload::default()
        .with_dreg(Register::Reg1)
        .with_base(base)
        .with_offset(offset)
        .with_len(len)
}

/// A lookup of register 1 in the set `name` (by its id when the set is made in the same
/// batch).
pub(super) fn lookup(name: &str, set_ids: &SetIds) -> Lookup {
    let mut set = rustables::Set::default().with_name(name);
    if let Some(id) = set_ids.get(name) {
        set.set_id(*id);
    }
    Lookup::new(&set).expect("the set has a name")
}

/// `cmp eq` for a single value, `cmp gte` + `cmp lte` for a range (big-endian data compares
/// numerically under the kernel's memcmp).
pub(super) fn eq_or_range_expr(rule: &mut rustables::Rule, lo: &[u8], hi: &[u8]) {
    if lo == hi {
        rule.add_expr(Cmp::new(CmpOp::Eq, lo.to_vec()));
    } else {
        rule.add_expr(Cmp::new(CmpOp::Gte, lo.to_vec()));
        rule.add_expr(Cmp::new(CmpOp::Lte, hi.to_vec()));
    }
}

/// `!= lo` (`cmp neq`), or for a range `!= lo-hi` (`range neq`, our own bytes: rustables
/// 0.9 has no range expression), as nft writes them.
pub(super) fn neq_or_range_neq_expr(
    rule: &mut rustables::Rule,
    own_list: &mut Vec<Vec<u8>>,
    lo: &[u8],
    hi: &[u8],
) {
    if lo == hi {
        rule.add_expr(Cmp::new(CmpOp::Neq, lo.to_vec()));
        return;
    }
    super::placeholder(rule, own_list, |l| {
        own(l, "range", |d| {
            d.be32(NFTA_RANGE_SREG, NFT_REG_1)
                .be32(NFTA_RANGE_OP, NFT_RANGE_NEQ)
                .nest(NFTA_RANGE_FROM_DATA, |v| {
                    v.put(NFTA_DATA_VALUE, lo);
                })
                .nest(NFTA_RANGE_TO_DATA, |v| {
                    v.put(NFTA_DATA_VALUE, hi);
                });
        })
    });
}

/// Whether `d` holds these attributes with these 32-bit values (an expression's keys and
/// registers, as `rt`'s).
pub(super) fn all_be32(d: &[u8], want: &[(u16, u32)]) -> bool {
    want.iter()
        .all(|&(ty, v)| attr(d, ty).and_then(be32) == Some(v))
}

/// One expression in our own bytes (what rustables cannot write):
/// `NFTA_LIST_ELEM { NAME, DATA { ... } }`.
pub(super) fn own(list: &mut Attrs, name: &str, data: impl FnOnce(&mut Attrs)) {
    list.nest(NFTA_LIST_ELEM, |e| {
        e.str(NFTA_EXPR_NAME, name).nest(NFTA_EXPR_DATA, data);
    });
}
