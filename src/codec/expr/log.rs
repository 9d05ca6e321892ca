//! A log rule's verdict: `log prefix "statewall ssh: " level info` or `… group 3` (nflog)
//! (`Verdict::Log`). rustables 0.9 writes no log level: ours are our own bytes. A log
//! expression ends the rule like a verdict, and evaluation goes on after it.
//!
//! nft: `[ log prefix statewall ssh:  level 6 ]`, `[ log prefix sw  group 3 snaplen 0
//! qthreshold 0 ]` (the kernel dumps a level for every kernel-log rule, 4 when none was set)

use super::prim::own;
use super::{At, Decoding, Expr, Step};
use crate::codec::nft::{NFTA_LOG_GROUP, NFTA_LOG_LEVEL, NFTA_LOG_PREFIX};
use crate::codec::wire::{Attrs, attr, be32, string};
use crate::core::model::{LOG_PREFIX_MAX, LogDest};
use crate::core::plan::{LogPrefix, LogTo, Verdict};

/// The syslog level the kernel logs at when a rule names none (`NFT_LOGLEVEL_WARNING`).
const DEFAULT_LEVEL: u32 = 4;

pub(super) fn encode_own(list: &mut Attrs, to: LogTo) {
    own(list, "log", |d| {
        d.str(NFTA_LOG_PREFIX, to.prefix.as_str());
        match to.dest {
            LogDest::Level(l) => {
                d.be32(NFTA_LOG_LEVEL, u32::from(l));
            }
            LogDest::Group(g) => {
                d.put(NFTA_LOG_GROUP, &g.to_be_bytes());
            }
        }
    });
}

pub(super) fn decode(at: &At) -> Decoding {
    let Some(Expr::Other { name, data }) = at.get(0) else {
        return None;
    };
    if name != "log" {
        return None;
    }
    let prefix = attr(data, NFTA_LOG_PREFIX).map(string).unwrap_or_default();
    if prefix.len() > LOG_PREFIX_MAX {
        return Some(Err(at.fail(0, "log prefix longer than the kernel keeps")));
    }
    let group = attr(data, NFTA_LOG_GROUP)
        .and_then(|g| Some(u16::from_be_bytes(g.get(..2)?.try_into().ok()?)));
    let dest = match group {
        Some(g) => LogDest::Group(g),
        None => {
            let level = attr(data, NFTA_LOG_LEVEL)
                .and_then(be32)
                .unwrap_or(DEFAULT_LEVEL);
            match u8::try_from(level).ok().filter(|l| *l <= 7) {
                Some(l) => LogDest::Level(l),
                None => return Some(Err(at.fail(0, "log level statewall does not write"))),
            }
        }
    };
    let to = LogTo {
        prefix: LogPrefix::new(&prefix),
        dest,
    };
    Some(Ok((Step::Verdict(Verdict::Log(to)), 1)))
}
