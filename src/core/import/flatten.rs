//! A built-in chain (INPUT, FORWARD, OUTPUT), flattened: the chains it jumps to are inlined in order, their rules' conditions
//! joined with the jump's; LOG and `-m recent --set` rules are set aside for `extra.rs`.

use std::collections::{HashMap, HashSet};

use super::analyse::Analyser;
use super::cond::Cond;
use super::extra::{EntryExtra, Side};
use super::rule::{IptRule, RejectKind, Target};
use crate::core::diag::shorten;
use crate::core::model::{BlockState, Cidr};

/// How deep chains may nest below a built-in one: nf_tables keeps at most 16 levels
/// (`NFT_JUMP_STACK_SIZE`), the built-in chain the first, and refuses a jump into a 17th
/// ("Too many links"), as iptables-restore on it does. The walk refuses such a jump too (it
/// would be a recursion as deep as the file has chains).
pub(super) const MAX_LEVELS: usize = 16;

/// The most rules the walks through INPUT, FORWARD and OUTPUT look at, together: each jump
/// walks the chain it jumps to again, so nested jumps multiply (and each source of a `-s
/// a,b,…` list is a rule of its own). Past this the import is refused: each rule walked
/// becomes an entry of a few kilobytes while the import runs, and a policy of more than
/// 100,000 entries is more than the 4 MiB a policy file may be.
pub(super) const MAX_WALK: usize = 100_000;

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
    /// which network pair of the rule's `-s a,b` (`-d`) list it is, from 0: a kernel rule of
    /// its own, with a `-m limit` bucket of its own (`paths.rs`)
    pub(super) part: usize,
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
    /// the folded removes of the last rule reached, and the way it was reached
    removes: Option<(usize, Vec<usize>, Vec<String>)>,
}

impl Analyser<'_> {
    /// Built-in chain `name` with the chains it jumps to inlined; the chains jumped to are
    /// added to `used`.
    pub(super) fn flatten_chain(&mut self, name: &str, used: &mut HashSet<String>) -> Vec<Flat> {
        let rules = self.rules;
        let chains = super::chains::rules_by_chain(rules);
        let mut walk = Walk {
            chains,
            via: Vec::new(),
            out: Vec::new(),
            used: HashSet::new(),
            steps: self.walked,
            removes: None,
        };
        self.flatten(&mut walk, name, &Cond::default());
        used.extend(walk.used);
        self.walked = walk.steps;
        // the slack of its growth would stay for the whole import
        walk.out.shrink_to_fit();
        walk.out
    }

    /// The rules of `chain`, for the packets of `prefix` (the conditions of the jumps here,
    /// and the exceptions its conditional RETURNs make for the rules after them).
    fn flatten(&mut self, walk: &mut Walk<'_>, chain: &str, prefix: &Cond) {
        let rules = self.rules;
        let mut idx = walk.chains.get(chain).cloned().unwrap_or_default();
        // an unconditional RETURN ends the chain: what follows is never reached (as after a
        // catch-all, iptables-restore loads it, and it decides nothing)
        let plain = |r: &IptRule| r.target == Target::Return && super::chains::unconditional(r);
        if let Some(end) = idx.iter().position(|&i| plain(&rules[i])) {
            let l = rules[idx[end]].line;
            for &i in &idx[end + 1..] {
                self.notes.push(format!("line {}: `{}` is never reached (the RETURN of line {l} ends its chain) and is left out", rules[i].line, shorten(&rules[i].text, 80)));
            }
            idx.truncate(end + 1);
        }
        self.walk_rules(walk, chain, &idx, prefix.clone());
    }

    /// Rules `idx` of `chain` (in order), for the packets of `prefix`.
    fn walk_rules(&mut self, walk: &mut Walk<'_>, chain: &str, idx: &[usize], prefix: Cond) {
        // the ways around RETURNs of several things still to walk, the next one last: in
        // the order a recursion would take them, without its depth
        let mut todo: Vec<(usize, Cond)> = vec![(0, prefix)];
        while let Some((from, prefix)) = todo.pop() {
            if let Some((at, ways)) = self.walk_from(walk, chain, idx, from, prefix) {
                todo.extend(ways.into_iter().rev().map(|w| (at + 1, w)));
            }
        }
    }

    /// Rules `idx[from..]` of `chain` for the packets of `prefix`, up to the end, or (Some)
    /// up to a RETURN of several things at `idx[at]`: the ways around it, each with `prefix`.
    fn walk_from(
        &mut self,
        walk: &mut Walk<'_>,
        chain: &str,
        idx: &[usize],
        from: usize,
        prefix: Cond,
    ) -> Option<(usize, Vec<Cond>)> {
        let rules = self.rules;
        let mut prefix = prefix;
        let plain = |r: &IptRule| r.target == Target::Return && super::chains::unconditional(r);
        for (at, &i) in idx.iter().enumerate().skip(from) {
            let r = &rules[i];
            // several `-s` (`-d`) networks make several rules, and so does `! --syn`
            let srcs: Vec<Option<Cidr>> = some_or_any(&r.srcs);
            let dsts: Vec<Option<Cidr>> = some_or_any(&r.dsts);
            let flags: Vec<Option<(u8, u8)>> = some_or_any(&r.flag_alts);
            // `--ctstate …,DNAT`: the states, then DNAT'ed connections (`ctstate.rs`)
            let dnats: &[bool] = if r.dnat_alt { &[false, true] } else { &[false] };
            for (((part, (s, d)), fl), &dnat) in srcs
                .iter()
                .flat_map(|s| dsts.iter().map(move |d| (s, d)))
                .enumerate()
                .flat_map(|sd| flags.iter().map(move |f| (sd, f)))
                .flat_map(|x| dnats.iter().map(move |n| (x, n)))
            {
                if walk.steps > MAX_WALK {
                    return None;
                }
                walk.steps += 1;
                if walk.steps > MAX_WALK {
                    self.error(
                        r.span.clone(),
                        format!("INPUT, FORWARD and OUTPUT, with the chains they jump to, are more than {} rules long by here (in {})", crate::core::diag::thousands(MAX_WALK), self.hook.chain()),
                        "statewall's chain is one flat list: each jump copies the chain it jumps to (nested jumps multiply), each network of a `-s a,b,…` list is one rule, and a RETURN of several things reads the rest of its chain once per way around it; jump to each chain once, or use fewer, wider networks",
                    );
                    return None;
                }
                let mut own = r.cond.clone();
                own.src = *s;
                own.dst = *d;
                if fl.is_some() {
                    own.flags = *fl;
                }
                if dnat {
                    own.states = None;
                    own.dnat = true;
                }
                let Some(cond) = prefix.and(&own) else {
                    continue;
                };
                if r.target == Target::Return && plain(r) {
                    return None;
                }
                // the chain's last rule: returning there is what the chain's end does (its
                // rate or count kept by no one else; a list it changes is another matter)
                if r.target == Target::Return && at + 1 == idx.len() && r.extra.recent.is_none() {
                    self.notes.push(format!("line {}: `{}` is the last rule of chain {chain}: returning there is what the chain's end does, so it is left out", r.line, shorten(&r.text, 80)));
                    continue;
                }
                // a goto's RETURN after its jump to a chain that decides every packet: none
                // comes back to it
                if r.goto.is_some()
                    && at > 0
                    && matches!(&rules[idx[at - 1]].target, Target::Jump(c) if decides_all(walk, rules, c))
                {
                    continue;
                }
                if r.target == Target::Return {
                    // what the jumps here say already, the RETURN need not (`-p tcp` in a
                    // chain jumped to for tcp); one that says nothing more returns them all
                    let own = own.beyond(&prefix);
                    if own.is_everything() && r.extra.limit.is_none() && r.extra.recent.is_none() {
                        let l = r.line;
                        // noted once, however many jumps lead here
                        let cut: &[usize] = if self.returned_all.insert(i) {
                            let at = idx.iter().position(|&j| j == i).unwrap_or(idx.len());
                            &idx[(at + 1).min(idx.len())..]
                        } else {
                            &[]
                        };
                        for &j in cut {
                            self.notes.push(format!("line {}: `{}` is never reached for the packets that jump here (the RETURN of line {l} returns them all) and is left out for them", rules[j].line, shorten(&rules[j].text, 80)));
                        }
                        return None;
                    }
                    // a RETURN of several things at once (`-s NET ! -i tun0`) leaves the
                    // rules after it the packets that miss any one of them: one walk of the
                    // rest for each, kept apart (missing the first; matching it and missing
                    // the second; …)
                    let single = srcs.len() <= 1 && dsts.len() <= 1 && flags.len() <= 1;
                    if let Some(ways) = single.then(|| self.return_ways(r, &own)).flatten() {
                        return Some((at, ways.iter().filter_map(|w| prefix.and(w)).collect()));
                    }
                    // the rules after it see the rest: none when it returns every packet here
                    match self.return_rule(r, &own).map(|neg| prefix.and(&neg)) {
                        Some(Some(rest)) => prefix = rest,
                        Some(None) => return None,
                        None => {}
                    }
                    continue;
                }
                self.follow(walk, chain, (i, part), cond);
            }
        }
        None
    }

    /// Whether the rule matches what packets of this hook cannot have (a MAC address in
    /// OUTPUT, an owner in INPUT or FORWARD, IPsec on the way they do not go): refused, as
    /// iptables-restore refuses it.
    fn refused_in_hook(&mut self, r: &IptRule, cond: &Cond) -> bool {
        if self.hook == super::classify::Hook::Output
            && (cond.mac.is_some() || !cond.not_macs.is_empty())
        {
            self.error(
            r.span.clone(),
            "`-m mac` in OUTPUT: a packet this host sends arrived in no frame, so it has no source MAC address",
            "iptables-restore refuses `-m mac` in OUTPUT (and in chains OUTPUT jumps to) too: match MAC addresses in INPUT or FORWARD",
        );
            return true;
        }
        if let Some((dir, chains)) = match self.hook {
            super::classify::Hook::Input if cond.ipsec_out.is_some() => Some(("out", "INPUT")),
            super::classify::Hook::Output if cond.ipsec_in.is_some() => Some(("in", "OUTPUT")),
            _ => None,
        } {
            let how = if dir == "out" {
                "a packet for this host leaves through no route, so no IPsec policy encrypts it"
            } else {
                "a packet this host sends did not arrive, so no IPsec policy decrypted it"
            };
            self.error(
            r.span.clone(),
            format!("`-m policy --dir {dir}` in {chains}: {how}"),
            format!("iptables-restore refuses it in {chains} (and in chains {chains} jumps to) too (\"{} policy not valid in …\"): ask how packets arrive in INPUT or FORWARD (`--dir in`), how they leave in FORWARD or OUTPUT (`--dir out`)", if dir == "out" { "output" } else { "input" }),
        );
            return true;
        }
        if self.hook != super::classify::Hook::Output && super::owner::has_owner(cond) {
            self.error(
            r.span.clone(),
            format!("`-m owner` in {}: a packet arriving or passing through was sent by no socket of this host, so it has no owner", self.hook.chain()),
            "iptables-restore refuses `-m owner` in INPUT and FORWARD (and in chains they jump to) too: match owners in OUTPUT",
        );
            return true;
        }
        false
    }

    /// Rule `i` of `chain`, with the condition it has under the jumps that led here.
    fn follow(
        &mut self,
        walk: &mut Walk<'_>,
        chain: &str,
        (i, part): (usize, usize),
        mut cond: Cond,
    ) {
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
        if let Err(why) = super::u32::join_positive(&mut cond) {
            self.error(
                r.span.clone(),
                format!("two `-m u32` a packet must pass at once (in this rule, or one of a rule that jumps to it) whose tests together make {why}"),
                "statewall writes them as one expression of both's tests (at most 8 tests, 24 location numbers and 8 value ranges): shorten them",
            );
            return;
        }
        if cond.patterns.iter().filter(|(_, not)| !not).count() > 1 {
            self.error(
                r.span.clone(),
                "a rule for packets that hold two patterns at once (two `-m string`, or one of a rule that jumps to it)",
                "statewall's `contains` lists patterns any of which a packet holds, one rule each: write one pattern per chain of jumps",
            );
            return;
        }
        match super::clock::meet(&cond.clocks) {
            Ok(c) if c.is_some() || cond.clocks.is_empty() => {
                cond.clocks = c.into_iter().filter(|c| !c.is_always()).collect();
            }
            Ok(_) => {
                self.notes.push(format!("line {}: `{}` matches at no moment (its `-m time` and those of the rules that jump to it leave no day or no date) and is left out", r.line, shorten(&r.text, 80)));
                return;
            }
            Err(()) => {
                self.error(
                    r.span.clone(),
                    "a rule for packets within two windows of the day at once (two `-m time`, or one of a rule that jumps to it)",
                    "statewall's entry has one window (`hours`): write the hours both windows share in one `-m time`",
                );
                return;
            }
        }
        if cond.ttls.is_some_and(super::header::no_ttl) {
            // `--ttl-lt 0`, `--ttl-gt 255`, or TTLs a jump's condition rules out
            self.notes.push(format!("line {}: `{}` matches no packet (no TTL is below 0, above 255, or all it names at once) and is left out", r.line, shorten(&r.text, 80)));
            return;
        }
        if self.refused_in_hook(r, &cond) {
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
                    via: walk.via.clone(),
                });
                return;
            }
            // taken out before the walk (`mss.rs`)
            Target::Mss(_) => return,
            Target::Count => {
                self.notes.push(format!("line {}: `{}` has no target: it only counts packets and is left out (statewall counts every rule it makes)", r.line, shorten(&r.text, 80)));
                return;
            }
            // an unconditional one: the end of its chain (`flatten`)
            Target::Return => return,
            Target::Jump(c) => {
                self.jump(walk, chain, i, c, &cond);
                return;
            }
        };
        // the target-less removes the packet met on its way here (`fold.rs`): the same for
        // every part of one rule reached one way (a `-s a,b,…` list's networks)
        let removes = match &walk.removes {
            _ if self.folds.is_empty() => Vec::new(),
            Some((r, via, lists)) if *r == i && *via == walk.via => lists.clone(),
            _ => {
                let lists = super::fold::removes_on_way(&self.folds, rules, &walk.via, i);
                walk.removes = Some((i, walk.via.clone(), lists.clone()));
                lists
            }
        };
        let most = crate::core::policy::FEED_SETS_MAX;
        if removes.len() > most {
            self.error(
                r.span.clone(),
                format!("a rule whose packets met {} target-less `--remove`s of different lists on their way here", removes.len()),
                format!("statewall takes a source off the lists of those removes in the rule that decides the packet, and an entry takes sources off at most {most} sets: remove fewer lists on the way"),
            );
            return;
        }
        let extra = EntryExtra {
            remove_from_set: removes,
            ..EntryExtra::default()
        };
        walk.out.push(Flat {
            cond,
            verdict,
            rule: i,
            part,
            via: walk.via.clone(),
            extra,
            block_state: None,
        });
    }

    /// The packets a RETURN of condition `own` leaves to the rest of its chain, when `own`
    /// says two or more things each of which one condition turns around (networks,
    /// interfaces, address or packet types, connection states): kept apart, the packets
    /// that miss the first, those that match it and miss the second, and so on. None for a
    /// RETURN of one thing, or of something else (it rates, counts or lists).
    fn return_ways(&self, r: &IptRule, own: &Cond) -> Option<Vec<Cond>> {
        let x = &r.extra;
        if x.recent.is_some() || x.connlimit.is_some() || x.limit.is_some() {
            return None;
        }
        let parts = own.parts().filter(|p| p.len() > 1)?;
        let mut ways = Vec::new();
        let mut met = Cond::default();
        for part in &parts {
            if let Some(way) = met.and(&part.negated()?) {
                ways.push(way);
            }
            met = met.and(part)?;
        }
        Some(ways)
    }

    /// A RETURN with condition `own` (the rules after an unconditional one are cut by
    /// [`Analyser::flatten`]): the packets it leaves to the rest of its chain, when one
    /// condition says them (it returns for one network, interface, address or packet type,
    /// or connection states). None, refused, otherwise.
    fn return_rule(&mut self, r: &IptRule, own: &Cond) -> Option<Cond> {
        let neg = own
            .negated()
            .filter(|_| r.extra.recent.is_none() && r.extra.connlimit.is_none());
        if neg.is_none() && r.extra.limit.is_none() {
            self.error(r.span.clone(), "a RETURN with a condition statewall cannot turn around", "it skips the rest of the chain for some packets only; statewall gives the rules after it the exception of a RETURN that says one thing or several (`-s`, `-d`, `-i`, `-o` or their `!`, a protocol and its ports (`-p gre`, `! -p tcp`, `-p udp --sport 53`: not udp, or udp from another port), a `-m time` of one thing (a window, weekdays, a start or an end date), `-m addrtype`, `-m pkttype`, `-m policy`, `-m mac`, a connection state), and none of one that says anything else (TCP flags, ICMP types, a port's `!`, a length) or counts (`-m recent`): reorder the chain so that no such RETURN is needed");
        }
        neg
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
        if walk.via.len() + 1 >= MAX_LEVELS {
            self.error(
                rules[i].target_span.clone(),
                format!("a jump to chain {c}, {} chains below {}", walk.via.len() + 1, self.hook.chain()),
                format!("nf_tables runs chains at most {} deep below a built-in one, and iptables-restore (nf_tables) refuses a deeper jump too (\"Too many links\"): jump to the chains from fewer levels", MAX_LEVELS - 1),
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

/// The most condition comparisons [`Analyser::cut_shadowed`] makes: past it, the rest of
/// the chain is kept as it is (the order check then judges it, within its own budget).
const SHADOW_BUDGET: usize = 2_000_000;

impl Analyser<'_> {
    /// Leaves out the rules of `flat` that an earlier rule decides wholly (it matches every
    /// packet they match, and has no rate, list or count that lets some through: a second
    /// `-i lo -j ACCEPT` after the first), noted; they never decide a packet, and left in
    /// they could only stop a rule from moving where statewall's order puts it. The LOGs and
    /// list updates met on the walk keep their places.
    pub(super) fn cut_shadowed(&mut self, flat: &mut Vec<Flat>) {
        let rules = self.rules;
        let mut budget = SHADOW_BUDGET;
        let mut cut: Vec<(usize, usize)> = Vec::new();
        let mut gone = vec![false; flat.len()];
        'rules: for k in 1..flat.len() {
            for j in 0..k {
                if budget == 0 {
                    break 'rules;
                }
                budget -= 1;
                if !gone[j]
                    && self.decides_all(&flat[j])
                    && super::extra::covers(&flat[j].cond, &flat[k].cond)
                {
                    gone[k] = true;
                    cut.push((k, j));
                    break;
                }
            }
        }
        let mut said: Vec<u32> = Vec::new();
        // a rule with another flat rule that stays (for other networks of its list, or
        // other ways around a RETURN) is still reached: no note
        let kept: HashSet<usize> = (0..flat.len())
            .filter(|&k| !gone[k])
            .map(|k| flat[k].rule)
            .collect();
        self.cut.extend(cut.iter().map(|&(k, _)| flat[k].rule));
        self.kept.extend(kept.iter().copied());
        // nor a line another rule of which stays (a goto's jump, when the RETURN after it
        // is never reached; the other half of `--ports`)
        let kept_lines: HashSet<u32> = (0..flat.len())
            .filter(|&k| !gone[k])
            .flat_map(|k| std::iter::once(&flat[k].rule).chain(&flat[k].via))
            .map(|&i| rules[i].line)
            .collect();
        for &(k, j) in &cut {
            let (r, by) = (&rules[flat[k].rule], &rules[flat[j].rule]);
            if !said.contains(&r.line) && !kept_lines.contains(&r.line) {
                said.push(r.line);
                let verb = match flat[j].verdict {
                    Verdict::Accept => "accepts",
                    Verdict::Drop => "drops",
                    Verdict::Reject(_) => "rejects",
                };
                self.notes.push(format!("line {}: `{}` is never reached (line {} {verb} every packet it matches first) and is left out", r.line, shorten(&r.text, 80), by.line));
            }
        }
        // a LOG or a `--set` that an earlier rule's packets never get past is never reached
        let side = std::mem::take(&mut self.side);
        for s in side {
            // within the same budget: past it, every side rule is kept
            let reach = s.at.min(flat.len()).min(budget);
            budget -= reach;
            let by = (0..reach).find(|&j| {
                !gone[j]
                    && self.decides_all(&flat[j])
                    && super::extra::covers(&flat[j].cond, &s.cond)
            });
            match by {
                Some(j) => {
                    let r = &rules[s.rule];
                    if !said.contains(&r.line) {
                        said.push(r.line);
                        self.notes.push(format!("line {}: `{}` is never reached (line {} decides every packet it matches first) and is left out", r.line, shorten(&r.text, 80), rules[flat[j].rule].line));
                    }
                }
                None => self.side.push(s),
            }
        }
        // the LOGs and `--set`s met before flat[at] stay before the rule that is there now
        for s in &mut self.side {
            s.at -= gone[..s.at.min(gone.len())].iter().filter(|g| **g).count();
        }
        let mut i = 0;
        flat.retain(|_| {
            i += 1;
            !gone[i - 1]
        });
    }
}

/// Whether every packet that enters chain `c` is decided there: an unconditional ACCEPT,
/// DROP or REJECT with no RETURN before it (a goto's RETURN included: it returns from `c`).
fn decides_all(walk: &Walk<'_>, rules: &[IptRule], c: &str) -> bool {
    let Some(idx) = walk.chains.get(c) else {
        return false;
    };
    for &i in idx {
        let r = &rules[i];
        match r.target {
            Target::Return => return false,
            Target::Accept | Target::Drop | Target::Reject(_)
                if super::chains::unconditional(r) =>
            {
                return true;
            }
            _ => {}
        }
    }
    false
}
