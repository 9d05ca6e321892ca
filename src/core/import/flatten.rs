//! A built-in chain (INPUT, FORWARD, OUTPUT), flattened: the chains it jumps to are inlined in order, their rules' conditions
//! joined with the jump's; LOG and `-m recent --set` rules are set aside for `extra.rs`.

use std::collections::{HashMap, HashSet};

use super::analyse::Analyser;
use super::cond::Cond;
use super::extra::{EntryExtra, Side};
use super::rule::{IptRule, RejectKind, Target};
use crate::core::diag::shorten;
use crate::core::model::{BlockState, Cidr};

/// How deep jumps may nest before the walk stops.
const MAX_DEPTH: usize = 16;

/// The most rules the walk through INPUT looks at: each jump walks the chain it jumps to
/// again, so nested jumps multiply (and each source of a `-s a,b,…` list is a rule of its
/// own). Past this the import is refused.
pub(super) const MAX_WALK: usize = 500_000;

/// Each item of `v` as Some, or one None (any) when it is empty.
fn some_or_any<T: Copy>(v: &[T]) -> Vec<Option<T>> {
    if v.is_empty() {
        vec![None]
    } else {
        v.iter().copied().map(Some).collect()
    }
}

/// One rule of a flattened built-in chain.
#[derive(Debug, Clone)]
pub(super) struct Flat {
    pub(super) cond: Cond,
    pub(super) verdict: Verdict,
    /// the rule that decides, and the jumps that led to it (outermost first)
    pub(super) rule: usize,
    pub(super) via: Vec<usize>,
    /// the `log` and `limit` its entry gets (`extra.rs`)
    pub(super) extra: EntryExtra,
    /// a DROP or REJECT of NEW or INVALID packets placed as a block that keeps its state
    /// match (`state = "new"`, `"invalid"`): set by `classify` where no place without it
    /// keeps every verdict
    pub(super) block_state: Option<BlockState>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Verdict {
    Accept,
    Drop,
    Reject(RejectKind),
}

/// The walk through INPUT and the chains it jumps to.
struct Walk<'r> {
    /// the rules of each chain, in order
    chains: HashMap<&'r str, Vec<usize>>,
    /// the jumps that led here (outermost first)
    via: Vec<usize>,
    out: Vec<Flat>,
    /// the chains jumped to so far
    used: HashSet<String>,
    /// the rules looked at so far; past [`MAX_WALK`] (said once) the walk stops
    steps: usize,
}

impl Analyser<'_> {
    /// Built-in chain `name` with the chains it jumps to inlined; the chains jumped to are
    /// added to `used`.
    pub(super) fn flatten_chain(&mut self, name: &str, used: &mut HashSet<String>) -> Vec<Flat> {
        let rules = self.rules;
        let mut chains: HashMap<&str, Vec<usize>> = HashMap::new();
        for (i, r) in rules.iter().enumerate() {
            chains.entry(r.chain.as_str()).or_default().push(i);
        }
        let mut walk = Walk {
            chains,
            via: Vec::new(),
            out: Vec::new(),
            used: HashSet::new(),
            steps: 0,
        };
        self.flatten(&mut walk, name, &Cond::default());
        used.extend(walk.used);
        walk.out
    }

    /// The rules of `chain`, for the packets of `prefix` (the conditions of the jumps here).
    fn flatten(&mut self, walk: &mut Walk<'_>, chain: &str, prefix: &Cond) {
        if walk.via.len() > MAX_DEPTH {
            return;
        }
        let rules = self.rules;
        let mut idx = walk.chains.get(chain).cloned().unwrap_or_default();
        // an unconditional RETURN ends the chain: what follows is never reached (as after a
        // catch-all, iptables-restore loads it, and it decides nothing)
        let plain = |r: &IptRule| {
            r.target == Target::Return
                && r.cond.is_everything()
                && r.srcs.is_empty()
                && r.dsts.is_empty()
                && r.flag_alts.is_empty()
        };
        if let Some(end) = idx.iter().position(|&i| plain(&rules[i])) {
            let l = rules[idx[end]].line;
            for &i in &idx[end + 1..] {
                self.notes.push(format!("line {}: `{}` is never reached (the RETURN of line {l} ends its chain) and is left out", rules[i].line, shorten(&rules[i].text, 80)));
            }
            idx.truncate(end + 1);
        }
        for &i in &idx {
            let r = &rules[i];
            // several `-s` (`-d`) networks make several rules, and so does `! --syn`
            let srcs: Vec<Option<Cidr>> = some_or_any(&r.srcs);
            let dsts: Vec<Option<Cidr>> = some_or_any(&r.dsts);
            let flags: Vec<Option<(u8, u8)>> = some_or_any(&r.flag_alts);
            for ((s, d), fl) in srcs
                .iter()
                .flat_map(|s| dsts.iter().map(move |d| (s, d)))
                .flat_map(|sd| flags.iter().map(move |f| (sd, f)))
            {
                if walk.steps > MAX_WALK {
                    return;
                }
                walk.steps += 1;
                if walk.steps > MAX_WALK {
                    self.error(
                        r.span.clone(),
                        format!("{}, with the chains it jumps to, is more than {} rules long here", self.hook.chain(), crate::core::diag::thousands(MAX_WALK)),
                        "statewall's chain is one flat list: each jump copies the chain it jumps to (nested jumps multiply) and each network of a `-s a,b,…` list is one rule; jump to each chain once, or use fewer, wider networks",
                    );
                    return;
                }
                let mut own = r.cond.clone();
                own.src = *s;
                own.dst = *d;
                if fl.is_some() {
                    own.flags = *fl;
                }
                let Some(cond) = prefix.and(&own) else {
                    continue;
                };
                self.follow(walk, chain, i, (&own, cond));
            }
        }
    }

    /// Rule `i` of `chain`, with its own condition and the one it
    /// has under the jumps that led here.
    fn follow(&mut self, walk: &mut Walk<'_>, chain: &str, i: usize, (own, cond): (&Cond, Cond)) {
        let rules = self.rules;
        let r = &rules[i];
        if r.fragment == Some(true) {
            // never matches once conntrack reassembled the fragments (noted by `analyse`)
            return;
        }
        if cond.tcp_opts.len() > 1 {
            self.error(
                r.span.clone(),
                "a rule for TCP segments that carry two option kinds at once (its own `--tcp-option` and one of a rule that jumps to it)",
                "statewall's `tcp_option` lists kinds any of which a segment carries, one rule each: write one kind per chain of jumps",
            );
            return;
        }
        if cond.ttls.is_some_and(super::header::no_ttl) {
            // `--ttl-lt 0`, `--ttl-gt 255`, or TTLs a jump's condition rules out
            self.notes.push(format!("line {}: `{}` matches no packet (no TTL is below 0, above 255, or all it names at once) and is left out", r.line, shorten(&r.text, 80)));
            return;
        }
        if self.hook == super::classify::Hook::Output
            && (cond.mac.is_some() || !cond.not_macs.is_empty())
        {
            self.error(
                r.span.clone(),
                "`-m mac` in OUTPUT: a packet this host sends arrived in no frame, so it has no source MAC address",
                "iptables-restore refuses `-m mac` in OUTPUT (and in chains OUTPUT jumps to) too: match MAC addresses in INPUT or FORWARD",
            );
            return;
        }
        let verdict = match &r.target {
            Target::Accept => Verdict::Accept,
            Target::Drop => Verdict::Drop,
            Target::Reject(k) => Verdict::Reject(*k),
            // placed (or left out) once the chain is known, in `extras`
            Target::Log | Target::RecentSet => {
                self.side.push(Side {
                    rule: i,
                    cond,
                    at: walk.out.len(),
                });
                return;
            }
            Target::Count => {
                self.notes.push(format!("line {}: `{}` has no target: it only counts packets and is left out (statewall counts every rule it makes)", r.line, shorten(&r.text, 80)));
                return;
            }
            Target::Return => {
                self.return_rule(r, own);
                return;
            }
            Target::Jump(c) => {
                self.jump(walk, chain, i, c, &cond);
                return;
            }
        };
        walk.out.push(Flat {
            cond,
            verdict,
            rule: i,
            via: walk.via.clone(),
            extra: EntryExtra::default(),
            block_state: None,
        });
    }

    /// A RETURN is only the end of its chain, for every packet (the rules after an
    /// unconditional one are cut by [`Analyser::flatten`]).
    fn return_rule(&mut self, r: &IptRule, own: &Cond) {
        if !own.is_everything() {
            self.error(r.span.clone(), "a RETURN with a condition", "it skips the rest of the chain for some packets only, which statewall's flat chain cannot express; reorder the chain so that no conditional RETURN is needed");
        }
    }

    /// Rule `i` of `chain` jumps to chain `c`: its rules, under `cond`.
    fn jump(&mut self, walk: &mut Walk<'_>, chain: &str, i: usize, c: &str, cond: &Cond) {
        let rules = self.rules;
        let looped = walk
            .via
            .iter()
            .any(|&v| matches!(&rules[v].target, Target::Jump(x) if x == c));
        if looped || c == chain {
            self.error(
                rules[i].target_span.clone(),
                format!("a loop: chain {c} jumps back into itself"),
                "iptables-restore refuses loops too",
            );
            return;
        }
        if !walk.used.contains(c) {
            walk.used.insert(c.to_string());
        }
        walk.via.push(i);
        self.flatten(walk, c, cond);
        walk.via.pop();
    }
}
