//! Jumps read before the chains are walked, where the walk alone would lose what they mean:
//! - a jump to a chain that only logs (LOG, RETURN, jumps to such chains: ufw's
//!   `ufw-logging-deny`) decides nothing; when the walk could not read it (the jump or the
//!   chain has a `-m limit`, the chain a conditional RETURN) it is left out, noted;
//! - a jump that carries its own `-m recent`, `-m limit`/`-m hashlimit` or `-m connlimit` (a
//!   match the flattened condition does not keep) to a chain whose one deciding rule is an
//!   unconditional ACCEPT, DROP or REJECT after LOGs (ufw's `ufw-user-limit`, a LOGDROP
//!   chain), or an unconditional jump to such a chain, is read as that verdict, its LOGs
//!   left out, noted;
//! - any other jump with such a match is refused: reading its chain's rules under the jump's
//!   condition alone would apply them to packets the match leaves out.

use std::collections::{HashMap, HashSet};

use super::extra::LimitOpts;
use super::lines::FILTER_CHAINS;
use super::notes::Notes;
use super::rule::{IptRule, LIMIT_ELSEWHERE, Target};
use super::trap::trap_check;
use crate::core::diag::{Diagnostic, Diags, shorten};

/// What a chain does, as far as a jump to it is concerned.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Kind {
    /// it logs (or does nothing) and returns: a jump to it decides nothing. `plain`: the
    /// walk reads it as it is (no limit, no conditional RETURN)
    LogOnly {
        plain: bool,
    },
    /// its LOGs (rule indexes), then one unconditional verdict for every packet
    Verdict(Vec<usize>, Target),
    /// a rate guard: a RETURN of what is within a `-m limit` (rule index; a syn-flood chain),
    /// then for the rest what a `Verdict` chain does (its LOGs, its verdict)
    Guard(usize, Vec<usize>, Target),
    Other,
}

/// The mark a rule's condition gets when it takes only what exceeds a rate (the guard's
/// limit on line `line`): as a trap's list, whether a packet has it changes as packets
/// come, so the rule never decides every packet of the rest of its condition.
pub(super) fn rate_mark(line: u32) -> String {
    format!("{RATE_MARK}{line}")
}

/// How every [`rate_mark`] begins: spaces, which no `-m recent --name` (the other marks of
/// `Cond::in_set`) has.
pub(super) const RATE_MARK: &str = "rate above line ";

/// Whether `set` is the `--set` half of `jump`'s line (`lines.rs`: `--set -j CHAIN` split).
fn split_set(set: &IptRule, jump: &IptRule) -> bool {
    set.target == Target::RecentSet && set.span == jump.span && jump.extra.recent.is_none()
}

/// Whether rule `r` matches every packet (no condition, no match of its own).
pub(super) fn unconditional(r: &IptRule) -> bool {
    unconditional_but_list(r) && own_match(r).is_none()
}

/// Whether `r` matches every packet but for what its `-m recent` says (a target-less
/// remove: `fold.rs`).
pub(super) fn unconditional_but_list(r: &IptRule) -> bool {
    r.cond.is_everything()
        && r.srcs.is_empty()
        && r.dsts.is_empty()
        && r.flag_alts.is_empty()
        && r.fragment.is_none()
        && r.extra.limit.is_none()
        && r.extra.connlimit.is_none()
}

/// The match of rule `r` that its condition does not keep: `-m recent`, `-m limit` (or
/// `-m hashlimit`), `-m connlimit`.
pub(super) fn own_match(r: &IptRule) -> Option<&'static str> {
    // a jump that checks a list carries the check in its condition (`trap_check`), and the
    // rules of its chain get it as any other
    let checks_list =
        matches!(r.target, Target::Jump(_)) && super::trap::list_checked(&r.cond).is_some();
    if r.extra.recent.is_some() && !checks_list {
        Some("`-m recent`")
    } else if r.extra.connlimit.is_some() {
        Some("`-m connlimit`")
    } else if r.extra.limit.is_some() {
        Some("`-m limit`")
    } else {
        None
    }
}

struct Chains<'r> {
    rules: &'r [IptRule],
    of: HashMap<&'r str, Vec<usize>>,
    kinds: HashMap<String, Kind>,
}

impl Chains<'_> {
    /// What user chain `c` does (`depth`: jumps followed so far, against loops).
    fn kind(&mut self, c: &str, depth: usize) -> Kind {
        if let Some(k) = self.kinds.get(c) {
            return k.clone();
        }
        if depth > 16 || FILTER_CHAINS.contains(&c) {
            return Kind::Other;
        }
        let idx = self.of.get(c).cloned().unwrap_or_default();
        // a guard's RETURN: within the rate (`-m limit` or `-m hashlimit`), of packets its
        // jumps all send (checked there: its condition must hold for them)
        let guard = idx
            .first()
            .filter(|&&i| guard_return(&self.rules[i]))
            .and_then(|&first| match self.kind_of(&idx[1..], depth) {
                Kind::Verdict(logs, t) if t != Target::Accept => Some(Kind::Guard(first, logs, t)),
                _ => None,
            });
        let kind = guard.unwrap_or_else(|| self.kind_of(&idx, depth));
        self.kinds.insert(c.to_string(), kind.clone());
        kind
    }

    /// What the rules `idx` of a chain do, in order. A rule that gives some packets the
    /// verdict the chain ends with for all the rest (`-p tcp -j TCP_DROP`, a chain that logs
    /// and drops, before `-j DROP`) changes nothing of that.
    fn kind_of(&mut self, idx: &[usize], depth: usize) -> Kind {
        let mut plain = true;
        let mut logs = Vec::new();
        let mut kind = None;
        // the verdicts some packets got before the end
        let mut early: Vec<Target> = Vec::new();
        for &i in idx {
            let r = &self.rules[i];
            let changes_list = r.extra.recent.is_some() || r.extra.connlimit.is_some();
            match &r.target {
                Target::Log | Target::Count if !changes_list => {
                    plain &= r.extra.limit.is_none() || r.target == Target::Log;
                    logs.push(i);
                }
                Target::Return if !changes_list => {
                    plain &= unconditional(r);
                    if unconditional(r) {
                        break;
                    }
                }
                Target::Jump(d) if !changes_list => match self.kind(d, depth + 1) {
                    Kind::LogOnly { plain: p } => plain &= p && r.extra.limit.is_none(),
                    // every packet on to a chain that logs and decides (a LOGDROP chain):
                    // this chain's verdict, its LOGs with this one's
                    Kind::Verdict(more, t) if unconditional(r) => {
                        kind = Some(if plain && early.iter().all(|e| *e == t) {
                            Kind::Verdict(logs.iter().copied().chain(more).collect(), t)
                        } else {
                            Kind::Other
                        });
                        break;
                    }
                    Kind::Verdict(more, t) if own_match(r).is_none() => {
                        logs.extend(more);
                        early.push(t);
                    }
                    _ => {
                        kind = Some(Kind::Other);
                        break;
                    }
                },
                Target::Accept | Target::Drop | Target::Reject(_) if unconditional(r) => {
                    kind = Some(if plain && early.iter().all(|e| *e == r.target) {
                        Kind::Verdict(logs.clone(), r.target.clone())
                    } else {
                        Kind::Other
                    });
                    break;
                }
                Target::Accept | Target::Drop | Target::Reject(_)
                    if !changes_list && own_match(r).is_none() =>
                {
                    early.push(r.target.clone());
                }
                _ => {
                    kind = Some(Kind::Other);
                    break;
                }
            }
        }
        match kind {
            Some(k) => k,
            // some packets decided, the rest returned: the chain decides more than one thing
            None if !early.is_empty() => Kind::Other,
            None => Kind::LogOnly { plain },
        }
    }
}

/// A guard's RETURN: of what is within a `-m limit` (or `-m hashlimit`), its packets all
/// in its condition (no lists of networks or flag patterns, no fragment match).
fn guard_return(r: &IptRule) -> bool {
    r.target == Target::Return
        && r.extra.limit.as_ref().is_some_and(|l| !l.above)
        && r.extra.recent.is_none()
        && r.extra.connlimit.is_none()
        && r.fragment.is_none()
        && r.srcs.is_empty()
        && r.dsts.is_empty()
        && r.flag_alts.is_empty()
        && !r.dnat_alt
}

/// A guard's RETURN right before a DROP or REJECT of the same packets, with no later rule of
/// its chain for any of them (a Synology NAS's DOS_PROTECT: a pair per interface and kind of
/// packet, jumped to for every packet): within the rate they leave the chain, where the rules
/// after the pair never meet them anyway, and beyond it they get the verdict. The RETURN goes
/// (`gone`), and the DROP or REJECT takes its rate as a `--hashlimit-above` rule does: a
/// guard in its place.
fn guard_pairs(rules: &mut [IptRule], gone: &mut [bool], notes: &mut Notes) {
    let of = rules_by_chain(rules);
    let mut pairs = Vec::new();
    for idx in of.values() {
        for (w, pair) in idx.windows(2).enumerate() {
            let (ret, v) = (&rules[pair[0]], &rules[pair[1]]);
            let plain = v.srcs.is_empty()
                && v.dsts.is_empty()
                && v.flag_alts.is_empty()
                && !v.dnat_alt
                && v.fragment.is_none()
                && own_match(v).is_none();
            let same = guard_return(ret)
                && plain
                && v.cond == ret.cond
                && matches!(v.target, Target::Drop | Target::Reject(_));
            if same
                && !idx[w + 2..]
                    .iter()
                    .any(|&k| rules[k].cond.overlaps(&ret.cond))
            {
                pairs.push((pair[0], pair[1]));
            }
        }
    }
    // in the file's order (the chains came out of a hash map): the notes say them so
    pairs.sort_unstable();
    for (ret, v) in pairs {
        let (limit, line) = (rules[ret].extra.limit.clone(), rules[ret].line);
        let span = rules[ret].extra.limit_span.clone();
        gone[ret] = true;
        notes.push(format!("line {line}: `{}` and line {}, a DROP or REJECT of the same packets that nothing after them in chain {} meets, are a guard of their rate: line {} takes what exceeds it, in its place, and what is within goes on", shorten(&rules[ret].text, 80), rules[v].line, rules[v].chain, rules[v].line));
        let r = &mut rules[v];
        r.extra.limit = limit.map(|l| LimitOpts { above: true, ..l });
        r.extra.limit_span = span;
        r.cond.in_set.push(rate_mark(line));
    }
}

/// Notes that the LOGs `logs` of a chain are left out for the packets that line `line`
/// (`text`) sends there, the jump being read as `read_as`.
fn logs_left_out(
    cx: &Chains,
    logs: &[usize],
    line: u32,
    text: &str,
    read_as: &str,
    notes: &mut Notes,
) {
    for &l in logs {
        notes.push(format!("line {}: the LOG of chain {} is left out for the packets line {line} sends there (`{text}`, read as {read_as}); a LOG never changes a verdict", cx.rules[l].line, cx.rules[l].chain));
    }
}

/// A jump's own `-m limit` (or `--hashlimit-upto`) to a chain that drops or rejects is that
/// DROP or REJECT with the rate (`rule.rs`): it takes what is within the rate and passes the
/// rest on, so it never decides all of its condition (the rate's mark says so).
fn limited_verdict(r: &mut IptRule) {
    if matches!(r.target, Target::Drop | Target::Reject(_))
        && r.extra.limit.as_ref().is_some_and(|l| !l.above)
    {
        r.cond.in_set.push(rate_mark(r.line));
    }
}

/// The jumps of `rules` read as the module says (left out, read as their chain's verdict,
/// or refused), and the `-m limit` of a jump or a RETURN judged.
pub(super) fn jumps(src: &str, rules: &mut Vec<IptRule>, diags: &mut Diags, notes: &mut Notes) {
    let mut gone = vec![false; rules.len()];
    guard_pairs(rules, &mut gone, notes);
    let of = rules_by_chain(rules);
    let mut cx = Chains {
        rules: &rules[..],
        of,
        kinds: HashMap::new(),
    };
    // jumps read as a verdict, and the guard RETURN whose limit they take; the `--set`s
    // whose jump is read as the verdict they then get
    let mut verdicts: Vec<(usize, Target, Option<usize>)> = Vec::new();
    let mut sets: Vec<(usize, Target)> = Vec::new();
    for (i, r) in rules.iter().enumerate() {
        let Target::Jump(c) = &r.target else {
            continue;
        };
        let text = shorten(&r.text, 80);
        match (cx.kind(c, 0), own_match(r)) {
            (Kind::LogOnly { plain: true }, None) => {}
            // `--set -j CHAIN` (split into its `--set` and the jump, `lines.rs`) to a chain
            // that logs and drops or rejects: the trap's `--set -j DROP`
            (Kind::Verdict(logs, t), None)
                if matches!(t, Target::Drop | Target::Reject(_))
                    && i > 0
                    && split_set(&rules[i - 1], r) =>
            {
                logs_left_out(&cx, &logs, r.line, &text, "its chain's verdict", notes);
                sets.push((i - 1, t));
                gone[i] = true;
            }
            (Kind::LogOnly { .. }, _) => {
                gone[i] = true;
                notes.push(format!("line {}: `{text}` is left out: chain {c} only logs and returns, and a LOG never changes a verdict", r.line));
            }
            (Kind::Verdict(..), None) | (Kind::Other, None) => {}
            (Kind::Verdict(logs, t), Some(_)) => {
                logs_left_out(&cx, &logs, r.line, &text, "its chain's verdict", notes);
                verdicts.push((i, t, None));
            }
            (Kind::Guard(ret, logs, t), None)
                if super::extra::covers(&cx.rules[ret].cond, &r.cond) =>
            {
                logs_left_out(&cx, &logs, r.line, &text, "a guard of their rate", notes);
                verdicts.push((i, t, Some(ret)));
            }
            (Kind::Guard(ret, ..), None) => {
                diags.push(Diagnostic::error(r.target_span.clone(), src, format!("a jump to chain {c}, a rate guard for other packets than these")).with_help(format!("the RETURN of line {} lets through, within its rate, only packets that match it; statewall reads a guard chain only for jumps whose packets all match that RETURN", cx.rules[ret].line)));
            }
            (Kind::Other | Kind::Guard(..), Some(m)) => {
                diags.push(Diagnostic::error(r.target_span.clone(), src, format!("a jump with {m} to chain {c}, which decides more than one thing")).with_help(format!("statewall reads the rules of a chain under the condition of the jump to it, which cannot carry {m}; it reads such a jump only when its chain logs and then accepts, drops or rejects every packet (as ufw's ufw-user-limit), or only logs")));
            }
        }
    }
    // a chain whose jumps are all left out or read as its verdict is left out with them
    // (not "never jumped to")
    let read: Vec<usize> = verdicts.iter().map(|(i, ..)| *i).collect();
    let mut candidates: Vec<String> = cx
        .kinds
        .iter()
        .filter(|(_, k)| **k != Kind::Other)
        .map(|(c, _)| c.clone())
        .collect();
    // each chain's jumps, once (a file of many chains stays linear)
    let mut jumps_to: HashMap<String, Vec<usize>> = HashMap::new();
    for (i, r) in rules.iter().enumerate() {
        if let Target::Jump(c) = &r.target {
            jumps_to.entry(c.clone()).or_default().push(i);
        }
    }
    let read: std::collections::HashSet<usize> = read.into_iter().collect();
    // until none is left to add: the chains that an inlined chain alone jumps to are
    // inlined with it (a chain whose verdict is that of the chains it sends packets to)
    loop {
        let mut added = false;
        candidates.retain(|c| {
            let all_read = jumps_to
                .get(c.as_str())
                .is_some_and(|all| all.iter().all(|i| gone[*i] || read.contains(i)));
            if all_read {
                for &i in cx.of.get(c.as_str()).map_or(&[][..], |v| &v[..]) {
                    gone[i] = true;
                }
                added = true;
            }
            !all_read
        });
        if !added {
            break;
        }
    }
    let mut late: Vec<usize> = (0..rules.len())
        .filter(|&i| rules[i].target == Target::Return)
        .collect();
    for (i, t) in sets {
        rules[i].target = t;
    }
    for (i, t, guard) in verdicts {
        // a guard: what exceeds the RETURN's rate gets the verdict, the rest goes on (as a
        // `--hashlimit-above` rule: `above.rs`)
        if let Some(ret) = guard {
            let (limit, line) = (rules[ret].extra.limit.clone(), rules[ret].line);
            let r = &mut rules[i];
            r.extra.limit = limit.map(|l| LimitOpts { above: true, ..l });
            r.cond.in_set.push(rate_mark(line));
        }
        let r = &mut rules[i];
        r.target = t;
        if guard.is_none() {
            limited_verdict(r);
        }
        let (cond, extra, target) = (&mut r.cond, &r.extra, &r.target);
        trap_check(cond, extra, target);
        late.push(i);
    }
    // a chain nothing jumps to is never walked (noted as such)
    let jumped: std::collections::HashSet<String> = jumps_to
        .iter()
        .filter(|(_, all)| all.iter().any(|j| !gone[*j]))
        .map(|(c, _)| c.clone())
        .collect();
    let walked = |c: &str| FILTER_CHAINS.contains(&c) || jumped.contains(c);
    for i in late {
        let r = &rules[i];
        // an ACCEPT's limit and a DROP's or REJECT's are mapped (a `--hashlimit-above` one
        // takes what exceeds the rate, any other what is within it, as `rule.rs` reads them)
        let mapped = matches!(r.target, Target::Accept | Target::Drop | Target::Reject(_));
        if !gone[i]
            && walked(&r.chain)
            && !mapped
            && let Some(span) = &r.extra.limit_span
        {
            let d = if r.target == Target::Return {
                Diagnostic::error(span.clone(), src, "`-m limit` on a RETURN in a chain that decides").with_help("the rules after it get the packets beyond the rate (a syn-flood guard: `-m limit … -j RETURN`, then `-j DROP`), which no statewall entry says; statewall's limits say what exceeds the rate on the ACCEPT of those packets: write the limit there")
            } else {
                Diagnostic::error(span.clone(), src, LIMIT_ELSEWHERE.0).with_help(LIMIT_ELSEWHERE.1)
            };
            diags.push(d);
        }
    }
    let mut k = 0;
    rules.retain(|_| {
        k += 1;
        !gone[k - 1]
    });
}

/// The rules of chains no jump from INPUT, FORWARD or OUTPUT reaches, directly or through
/// other chains: iptables never runs them, so they decide nothing, whatever they say (a
/// port knock's gate chains left without their jumps, a `--remove` statewall would refuse
/// anywhere it runs). Left out before the checks of single rules and jumps; returns their
/// chains, which the analysis notes with the chains its walk never met. One pass over the
/// rules and one over the jumps.
pub(super) fn unreached(rules: &mut Vec<IptRule>) -> HashSet<String> {
    let mut jumps: HashMap<&str, Vec<&str>> = HashMap::new();
    for r in rules.iter() {
        if let Target::Jump(c) = &r.target {
            jumps.entry(r.chain.as_str()).or_default().push(c.as_str());
        }
    }
    let mut reached: HashSet<&str> = FILTER_CHAINS.iter().copied().collect();
    let mut todo: Vec<&str> = FILTER_CHAINS.to_vec();
    while let Some(c) = todo.pop() {
        for &t in jumps.get(c).into_iter().flatten() {
            if reached.insert(t) {
                todo.push(t);
            }
        }
    }
    let gone: HashSet<String> = rules
        .iter()
        .filter(|r| !reached.contains(r.chain.as_str()))
        .map(|r| r.chain.clone())
        .collect();
    if !gone.is_empty() {
        rules.retain(|r| !gone.contains(&r.chain));
    }
    gone
}

/// The rule indexes of each chain, in order.
pub(super) fn rules_by_chain(rules: &[IptRule]) -> HashMap<&str, Vec<usize>> {
    let mut of: HashMap<&str, Vec<usize>> = HashMap::new();
    for (i, r) in rules.iter().enumerate() {
        of.entry(r.chain.as_str()).or_default().push(i);
    }
    of
}
