//! The port-scan trap of the Arch wiki's "Simple stateful firewall", and its kin: a DROP or
//! REJECT that puts its packets' sources on a `-m recent` list (`--set --name N -j REJECT`),
//! and checks of that list without `--hitcount` (`--update --seconds S --name N -j REJECT`)
//! that refuse a listed source. They become a live set of single addresses with a timeout of
//! S (`[[set]] name = "N" networks = false timeout = "Ss"`), the feeding entry's
//! `add_to_set = "N"` and a block with `from_set = "N"` (and `refresh = true` for
//! `--update`, which renews the member as iptables renews its entry).
//!
//! Both keep their place: the order check treats a rule with a side effect as deciding
//! otherwise than every rule it would swap with (`side_effects_keep_their_order`), and a
//! feeding or checking DROP never merges into the final rule.

use crate::core::diag::shorten;
use std::collections::{BTreeMap, BTreeSet};

use super::analyse::{Analyser, Chain};
use super::classify::{REORDER_BUDGET, Rank};
use super::cond::Cond;
use super::extra::EntryExtra;
use super::flatten::{Flat, Verdict};
use super::rule::{IptRule, Target};

/// Whether `r` is a part of a trap: a `--set` with a DROP or REJECT, or a check that made
/// its condition need the list (`rule.rs`).
pub(super) fn is_trap(r: &IptRule) -> bool {
    let feeds = r.extra.recent.as_ref().is_some_and(|x| x.set)
        && matches!(r.target, Target::Drop | Target::Reject(_));
    feeds || list_checked(&r.cond).is_some()
}

/// The check of a list (`trap.rs`: a `--update`/`--rcheck` without `--hitcount` that drops
/// or rejects, a `--rcheck` that accepts or jumps, a `--remove` that drops or rejects): the
/// source must be on the list, a part of `cond` (its [`list_mark`]).
pub(super) fn trap_check(cond: &mut Cond, extra: &super::extra::Extra, target: &Target) {
    let Some(rec) = &extra.recent else {
        return;
    };
    let Some((check, false)) = rec.check else {
        return;
    };
    let decides = matches!(target, Target::Drop | Target::Reject(_));
    let fits = match check {
        "update" => decides,
        "rcheck" => decides || matches!(target, Target::Accept | Target::Jump(_)),
        _ => decides,
    };
    if rec.hitcount.is_none() && fits {
        // `--remove` finds the source whatever its age (xt_recent removes before it looks
        // at `--seconds`)
        let seconds = rec.seconds.as_deref().filter(|_| check != "remove");
        cond.in_set = vec![list_mark(rec.name(), seconds)];
    }
}

/// A list's views: the `--seconds` its checks say, None for a check without (or a
/// `--remove`). Each is one live set; what the list's `--set` adds goes to all of them, and
/// its `--remove` takes the source out of all of them.
pub(super) type Views = BTreeSet<Option<u64>>;

/// How long the view of a list without `--seconds` keeps a source: iptables keeps it until
/// 100 newer sources push it out, and a set the packet path adds to needs a timeout (noted
/// where an import writes one).
pub(super) const LIST_KEPT_S: u64 = 3600;

/// The mark of a check of list `name` in `Cond::in_set`: the name, and its `--seconds` as
/// written. No list name has a space, and no [`super::chains::rate_mark`] ends so.
pub(super) fn list_mark(name: &str, seconds: Option<&str>) -> String {
    match seconds {
        Some(s) => format!("{name} --seconds {s}"),
        None => name.to_string(),
    }
}

/// The list checks of `cond`: each list and its `--seconds` as written.
fn list_checks(cond: &Cond) -> impl Iterator<Item = (&str, Option<&str>)> {
    cond.in_set
        .iter()
        .filter(|m| !m.starts_with(super::chains::RATE_MARK))
        .map(|m| match m.split_once(" --seconds ") {
            Some((n, s)) => (n, Some(s)),
            None => (m.as_str(), None),
        })
}

/// The first list check of `cond`, if it has one.
pub(super) fn list_checked(cond: &Cond) -> Option<(&str, Option<&str>)> {
    list_checks(cond).next()
}

/// The name of the set that keeps view `secs` of list `name`: the list's own name when it
/// has one view or for the view without `--seconds`, else `<name>-<secs>s`.
pub(super) fn view_name(name: &str, secs: Option<u64>, views: &Views) -> String {
    match secs {
        Some(s) if views.len() > 1 => format!("{name}-{s}s"),
        _ => name.to_string(),
    }
}

/// A check of a list without `--hitcount`: the list, its `--seconds` (None: none), and
/// whether it renews the members it finds (`--update`; `--rcheck` does not).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct ListCheck {
    pub(super) set: String,
    pub(super) seconds: Option<u64>,
    pub(super) refresh: bool,
}

/// An entry's live-set keys as the policy writes them, each list's views named
/// ([`resolve`]).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(super) struct LiveKeys {
    pub(super) from_set: Option<String>,
    pub(super) refresh: bool,
    pub(super) add_to_set: Vec<String>,
    pub(super) remove_from_set: Vec<String>,
}

/// `x`'s lists as the sets that keep their views (`lists`: every list's views). A list of
/// one view renewed by its check is `refresh = true`; of several, every view is renewed
/// (`add_to_set`), as `recent` renews the one entry that all its checks read.
pub(super) fn resolve(x: &EntryExtra, lists: &BTreeMap<String, Views>) -> LiveKeys {
    let none = Views::new();
    let views = |n: &str| lists.get(n).unwrap_or(&none);
    let all = |n: &str| -> Vec<String> {
        let v = views(n);
        v.iter().map(|s| view_name(n, *s, v)).collect()
    };
    let mut keys = LiveKeys::default();
    if let Some(c) = &x.from_set {
        keys.from_set = Some(view_name(&c.set, c.seconds, views(&c.set)));
        if c.refresh && views(&c.set).len() > 1 {
            keys.add_to_set = all(&c.set);
        } else {
            keys.refresh = c.refresh;
        }
    }
    if let Some(n) = &x.add_to_set {
        keys.add_to_set.extend(all(n));
    }
    for n in &x.remove_from_set {
        keys.remove_from_set.extend(all(n));
    }
    // a `--set` of a list the packet was taken off on its way here puts it back, renewed
    // (the add's update), as xt_recent's remove and then set do
    let mut seen = keys.add_to_set.clone();
    keys.remove_from_set.retain(|v| {
        let first = !seen.contains(v);
        seen.push(v.clone());
        first
    });
    keys
}

impl EntryExtra {
    /// A part of a trap: it fills a list, empties one, or checks one.
    pub(super) fn trap(&self) -> bool {
        self.add_to_set.is_some() || !self.remove_from_set.is_empty() || self.from_set.is_some()
    }

    /// It changes a list as it decides, or takes tokens of a guard's rate (its place must
    /// be kept exactly).
    pub(super) fn changes_list(&self) -> bool {
        self.add_to_set.is_some()
            || !self.remove_from_set.is_empty()
            || self.from_set.as_ref().is_some_and(|c| c.refresh)
            || self.guard
    }
}

impl Analyser<'_> {
    /// A trap rule at `flat[p]`: its `add_to_set`, `remove_from_set` or `from_set`; refused
    /// (taken out) when it says what a live set cannot keep.
    pub(super) fn trap_rule(&mut self, flat: &mut [Flat], p: usize, gone: &mut [bool]) {
        let r = &self.rules[flat[p].rule];
        let own = r.extra.recent.clone();
        let refuse = |cx: &mut Self, why: String| {
            cx.error(r.span.clone(), "a `-m recent` list statewall cannot map", format!("{why}; statewall maps a list that a DROP or REJECT fills (`--set --name N`), checks without `--hitcount` (`--update` or `--rcheck [--seconds S] --name N` with a DROP or REJECT, `--rcheck` with an ACCEPT or a jump) and empties (`--remove` with a DROP or REJECT) as live sets, one per `--seconds` its checks say: the port-scan trap, port knocking"));
        };
        let checks: Vec<(String, Option<String>)> = list_checks(&flat[p].cond)
            .map(|(n, s)| (n.to_string(), s.map(str::to_string)))
            .collect();
        let why = if let Some(o) = own.as_ref().and_then(|x| x.other.first()) {
            Some(format!("it says {o}"))
        } else if let [(a, _), (b, _), ..] = &checks[..] {
            Some(format!(
                "it checks two lists (`{a}` and `{b}`, with the jumps that lead to it), and an entry looks up one set"
            ))
        } else if r.extra.limit.is_some() || r.extra.connlimit.is_some() {
            Some("it also has a rate or a count".into())
        } else if let Some(n) = own
            .iter()
            .map(|x| x.name())
            .chain(checks.iter().map(|(n, _)| n.as_str()))
            .find(|n| !crate::core::policy::valid_set_name(n))
        {
            Some(format!("its name `{n}` is not a set name statewall takes"))
        } else if own.as_ref().is_some_and(|x| {
            x.check.is_some_and(|(k, neg)| {
                neg || x.hitcount.is_some() || k == "update" && flat[p].verdict == Verdict::Accept
            })
        }) {
            Some("it checks its own list as a set cannot (with `--hitcount`, a `!`, or `--update` on an ACCEPT) under a jump that checks a list".into())
        } else if flat[p].verdict == Verdict::Accept && own.as_ref().is_some_and(|x| x.set) {
            Some("an ACCEPT that fills a list under a jump that checks one: statewall's allows look sets up and may take a source off one (`remove_from_set`), never add one".into())
        } else {
            None
        };
        if let Some(why) = why {
            gone[p] = true;
            return refuse(self, why);
        }
        if let Some(rec) = &own {
            let name = rec.name().to_string();
            if rec.set {
                flat[p].extra.add_to_set = Some(name);
            } else if rec.check.is_some_and(|(k, _)| k == "remove")
                && !flat[p].extra.remove_from_set.contains(&name)
            {
                flat[p].extra.remove_from_set.push(name);
            }
        }
        let Some((list, seconds)) = checks.into_iter().next() else {
            return;
        };
        let checks_own = own.as_ref().is_some_and(|x| x.check.is_some());
        if checks_own && own.as_ref().is_some_and(|x| x.rttl) {
            gone[p] = true;
            return refuse(self, "it says --rttl (the TTL must match the recorded packet's), which a set of addresses cannot keep".into());
        }
        let seconds = match seconds {
            None => None,
            Some(s) => match s.parse::<u64>() {
                Ok(s) if (1..=86_400 * 7).contains(&s) => Some(s),
                _ => {
                    gone[p] = true;
                    return refuse(
                        self,
                        format!("its check's --seconds {s} is not 1 to 604800"),
                    );
                }
            },
        };
        let refresh = own
            .as_ref()
            .is_some_and(|x| x.check.is_some_and(|(k, _)| k == "update"));
        flat[p].extra.from_set = Some(ListCheck {
            set: list,
            seconds,
            refresh,
        });
    }

    /// A trap rule that would merge into the final rule, or a check that found no block
    /// place (`refresh` is a block's): refused (its list would no longer change, or no
    /// longer be checked, there).
    pub(super) fn trap_not_merged(&mut self, ranked: &[(Rank, Flat)]) {
        for (rank, f) in ranked {
            let unplaced = (*rank == Rank::Drop && (f.extra.trap() || f.extra.guard))
                || (*rank == Rank::Reject && f.extra.from_set.is_some());
            if unplaced && f.extra.guard {
                let r = &self.rules[f.rule];
                let (what, how) = if f.extra.connections.is_some() {
                    (
                        "a connection-count guard",
                        "it counts the connection of every packet it meets and drops what is beyond its count",
                    )
                } else {
                    (
                        "a rate guard",
                        "it takes a token for every packet it meets and drops what exceeds its rate",
                    )
                };
                self.error(r.span.clone(), format!("{what} that no block place keeps"), format!("{how}, so it must meet exactly the packets it meets in the file: statewall keeps it as a `[[block]]`, and no block place keeps what every rule decides here; reorder the file so that it comes before the rules it would swap with"));
            } else if unplaced {
                let r = &self.rules[f.rule];
                self.error(r.span.clone(), "a rule of the port-scan trap that no block place keeps", "its list must change (or be checked) exactly where the file does it: statewall keeps a feeding DROP and every check as a `[[block]]`, and no block place keeps what every rule decides here; reorder the file so that the check comes before the rules it would swap with");
            }
        }
    }

    /// Rules that change a list keep their order with every rule they overlap, whatever
    /// its verdict: the same verdict from another rule would leave the list unchanged.
    pub(super) fn side_effects_keep_their_order(&mut self, ranked: &[(Rank, Flat)]) {
        let effects: Vec<usize> = (0..ranked.len())
            .filter(|&i| ranked[i].1.extra.changes_list())
            .collect();
        // one comparison per rule and trap rule: bounded as the order check is
        if effects.len().saturating_mul(ranked.len()) > REORDER_BUDGET {
            let r = &self.rules[ranked[effects[0]].1.rule];
            self.error(r.span.clone(), format!("too many rules of port-scan traps: keeping their order would compare more than {} pairs of rules", crate::core::diag::thousands(REORDER_BUDGET)), "use fewer trap rules (one that fills each list, one check of it) or fewer, wider rules");
            return;
        }
        for &j in &effects {
            let (rj, fj) = &ranked[j];
            let swapped = ranked.iter().enumerate().find(|&(i, (ri, fi))| {
                i != j && ((i < j && ri > rj) || (i > j && ri < rj)) && fi.cond.overlaps(&fj.cond)
            });
            if let Some((i, _)) = swapped {
                let (a, b) = (&self.rules[fj.rule], &self.rules[ranked[i].1.rule]);
                let what = if fj.extra.guard && fj.extra.connections.is_some() {
                    "this connection-count guard"
                } else if fj.extra.guard {
                    "this rate guard"
                } else {
                    "this rule of the port-scan trap"
                };
                self.error(a.span.clone(), format!("{what} would change places with line {}", b.line), "statewall's chain has a fixed order (blocks, established, invalid, loopback, icmp, allows with blocks among them, rejects, final), and a rule that puts sources on a list, renews them there, takes tokens of a rate or counts connections, must meet exactly the packets it meets in the file; reorder the file so that the two rules keep statewall's order, or make them disjoint");
            }
        }
    }

    /// Why list `name` is never filled, if it is not: no rule of the file `--set`s it, or
    /// every rule that does (`fillers`, its `--set` rules) is reached by no packet (left out
    /// as never reached).
    fn never_filled(&self, fillers: &[usize]) -> Option<String> {
        let setters: Vec<&IptRule> = fillers
            .iter()
            // a rule this walk left out as never reached, and no walk kept
            .map(|&i| (self.cut.contains(&i) && !self.kept.contains(&i)).then_some(&self.rules[i]))
            .collect::<Option<_>>()?;
        Some(match &setters[..] {
            [] => "no rule of the file fills".to_string(),
            [one] => format!("only line {} fills, and no packet reaches it", one.line),
            more => {
                let lines: Vec<String> = more.iter().map(|r| r.line.to_string()).collect();
                format!(
                    "only lines {} fill, and no packet reaches them",
                    lines.join(", ")
                )
            }
        })
    }

    /// Every list of the chains' trap rules: checked and filled. Returns each list's views
    /// (the `--seconds` of its checks), and the lists that DROPs or REJECTs fill and no rule
    /// of the file checks at all: filling them decides nothing (but for what
    /// /proc/net/xt_recent shows other tools), so those rules are plain blocks, noted.
    pub(super) fn trap_lists(
        &mut self,
        chains: &[&Chain],
    ) -> (BTreeMap<String, Views>, BTreeSet<String>) {
        let mut fed: BTreeMap<String, usize> = BTreeMap::new();
        let mut checked: BTreeMap<String, (Views, usize)> = BTreeMap::new();
        for f in chains.iter().flat_map(|c| c.entries()) {
            if let Some(n) = &f.extra.add_to_set {
                fed.entry(n.clone()).or_insert(f.rule);
            }
            if let Some(c) = &f.extra.from_set {
                let (views, _) = checked
                    .entry(c.set.clone())
                    .or_insert_with(|| (Views::new(), f.rule));
                views.insert(c.seconds);
            }
        }
        // the sets an entry takes its source off: each list's views (`fold.rs` gathers
        // the removes of the way to it)
        let most = crate::core::policy::FEED_SETS_MAX;
        for f in chains.iter().flat_map(|c| c.entries()) {
            let views = |l: &String| checked.get(l).map_or(1, |(v, _)| v.len().max(1));
            let sets: usize = f.extra.remove_from_set.iter().map(views).sum();
            if sets > most {
                let r = &self.rules[f.rule];
                self.error(r.span.clone(), format!("a rule that takes its packets' sources off {sets} sets (the lists of the `--remove`s on their way here, one set per --seconds each list is checked with)"), format!("an entry takes sources off at most {most} sets: remove fewer lists on the way, or check each with one --seconds"));
            }
        }
        let mut unchecked = BTreeSet::new();
        let checked_anywhere = super::recent::checked_lists(self.rules);
        for (n, r) in &fed {
            if !checked_anywhere.contains(n.as_str()) {
                let r = &self.rules[*r];
                self.notes.push(format!("line {}: `{}` fills list {n}, which no rule of the file checks but a LOG, if any: the list decides nothing (only /proc/net/xt_recent shows it, to other tools), so the rule is a plain {} and the list is left out", r.line, shorten(&r.text, 80), if r.target == Target::Drop { "DROP" } else { "REJECT" }));
                unchecked.insert(n.clone());
            } else if !checked.contains_key(n) {
                let r = &self.rules[*r];
                self.error(r.span.clone(), format!("list `{n}` is filled here and never checked without --hitcount"), "statewall maps a list a DROP or REJECT fills only with its checks (`--update`, `--rcheck` or `--remove --name N`)");
            }
        }
        // every list's `--set` rules, in one pass (a file may check thousands of lists): for
        // why a list is never filled, and the first LOG that fills it (`--set … -j LOG`)
        let mut fillers: BTreeMap<&str, Vec<usize>> = BTreeMap::new();
        for (i, q) in self.rules.iter().enumerate() {
            if let Some(x) = q.extra.recent.as_ref().filter(|x| x.set) {
                fillers.entry(x.name()).or_default().push(i);
            }
        }
        for (n, (views, r)) in &checked {
            let r = &self.rules[*r];
            if !fed.contains_key(n) {
                match self.never_filled(fillers.get(n.as_str()).map_or(&[][..], Vec::as_slice)) {
                    // iptables' list starts empty and stays so: its check never matches,
                    // and neither does the check of statewall's live set, which nothing
                    // feeds (but `statewall set add`)
                    Some(why) => self.notes.push(format!("line {}: `{}` checks list {n}, which {why}: the list stays empty (but for /proc/net/xt_recent) and the check never matches, as the check of live set {n} that nothing feeds", r.line, shorten(&r.text, 80))),
                    None => {
                        // a LOG that fills it (`--set … -j LOG`): its packets go on
                        let log = fillers.get(n.as_str()).into_iter().flatten().map(|&i| &self.rules[i]).find(|q| q.target == Target::Log);
                        let by_log = log.map_or(String::new(), |q| format!("; line {} fills it on a LOG (`--set … -j LOG`), whose packets go on to the rules after it, and a statewall log adds to no set: put the `--set` on the DROP or REJECT those packets meet", q.line));
                        self.error(r.span.clone(), format!("list `{n}` is checked here and filled by no DROP or REJECT"), format!("statewall maps a list checked without --hitcount only when a DROP or REJECT fills it (`--set --name N -j REJECT`): the port-scan trap{by_log}"));
                    }
                }
            }
            // each view is a set of its own, named after the list; the `--set` adds to
            // all of them in one entry, which names at most so many
            let most = crate::core::policy::FEED_SETS_MAX;
            if views.len() > most {
                self.error(r.span.clone(), format!("list `{n}` is checked with {} windows (different --seconds, or none)", views.len()), format!("statewall keeps one live set per --seconds a list is checked with, and the rule that fills the list adds to all of them: at most {most}; check the list with fewer windows"));
                continue;
            }
            for s in views {
                let v = view_name(n, *s, views);
                if v != *n && (checked.contains_key(&v) || !crate::core::policy::valid_set_name(&v))
                {
                    self.error(r.span.clone(), format!("list `{n}` is checked with --seconds {} and with other --seconds (or none), and the set for each, `{v}`, is not a name statewall can give it", s.unwrap_or(0)), "statewall keeps one live set per --seconds a list is checked with, named `<list>-<seconds>s`: rename the list (at most 24 characters, none of them a list's name with such an ending)");
                }
            }
        }
        let views = checked.into_iter().map(|(n, (v, _))| (n, v)).collect();
        (views, unchecked)
    }
}

/// The port-scan trap's "once the window has passed, take them off the list": `-m recent
/// --remove --name N` without a target, behind a check of N that drops or rejects every
/// source stamped within S seconds (`--rcheck --seconds S --name N -j DROP`, or a jump to
/// a chain that logs and then drops or rejects every packet, with a
/// condition that covers the remove's, earlier in the same chain). A source that gets there
/// has no stamp within S, so what the remove takes away no check of N can see when every
/// check of N looks back S seconds at most (and none removes): statewall's live set forgets
/// a source after its window on its own. Left out, noted; any other target-less remove is
/// refused, saying which of these it lacks.
///
/// A remove every packet of which is decided after it in its chain (the gate chains of
/// the Arch wiki's port knock) is folded into those decisions instead (`fold.rs`): left
/// out, noted, and returned by chain. `read_refused`: the reading refused rules, so a
/// list's checks may be among them.
pub(super) fn stale_removes(
    src: &str,
    rules: &mut Vec<IptRule>,
    diags: &mut crate::core::diag::Diags,
    notes: &mut super::notes::Notes,
    read_refused: bool,
) -> super::fold::Folds {
    use std::collections::HashMap;
    let secs = |x: &super::extra::Recent| x.seconds.as_deref().and_then(|s| s.parse::<u64>().ok());
    // one pass: per list, why its checks or removes would see a stale entry (the first
    // rule that says so), and the widest window its checks look back
    let mut widest: HashMap<&str, (u64, u32)> = HashMap::new();
    let mut unfit: HashMap<&str, String> = HashMap::new();
    for c in rules.iter() {
        let Some(x) = &c.extra.recent else { continue };
        let name = x.name();
        let why = match x.check {
            // a remove that decides sees a source whatever its age (target-less ones are
            // judged here each)
            Some(("remove", _)) if c.target != Target::Count => Some(format!(
                "line {} removes from {name} and decides the packet",
                c.line
            )),
            _ if !x.other.is_empty() || x.rttl => Some(format!(
                "line {} reads {name} with {}",
                c.line,
                if x.rttl {
                    "--rttl".to_string()
                } else {
                    x.other.join(", ")
                }
            )),
            Some(("rcheck" | "update", _)) => {
                let t = secs(x).unwrap_or(u64::MAX);
                let w = widest.entry(name).or_insert((0, c.line));
                if t > w.0 {
                    *w = (t, c.line);
                }
                None
            }
            _ => None,
        };
        if let Some(why) = why {
            unfit.entry(name).or_insert(why);
        }
    }
    // the chains that log and then drop or reject every packet (a LOGDROP chain): a check
    // that jumps there drops what it meets too
    let mut drops: HashMap<&str, bool> = HashMap::new();
    for r in rules.iter() {
        if r.target != Target::Log {
            let decides = matches!(r.target, Target::Drop | Target::Reject(_))
                && super::chains::unconditional(r);
            drops.entry(r.chain.as_str()).or_insert(decides);
        }
    }
    let dropping = |t: &Target| match t {
        Target::Drop | Target::Reject(_) => true,
        Target::Jump(c) => drops.get(c.as_str()) == Some(&true),
        _ => false,
    };
    // the checks that may guard a remove, per chain and list (the last few: a remove is
    // compared with at most GUARDS of them, so that the pass stays linear)
    const GUARDS: usize = 8;
    let mut guards: HashMap<(&str, &str), Vec<usize>> = HashMap::new();
    let mut gone = vec![false; rules.len()];
    let mut fold = super::fold::Folder::new(rules, read_refused);
    for (i, r) in rules.iter().enumerate() {
        let Some(rec) = &r.extra.recent else { continue };
        let name = rec.name();
        let guard_fits = matches!(rec.check, Some(("rcheck" | "update", false)))
            && rec.hitcount.is_none()
            && !rec.set
            && !rec.rttl
            && rec.other.is_empty()
            && dropping(&r.target)
            && r.srcs.is_empty()
            && r.dsts.is_empty()
            && r.flag_alts.is_empty()
            && r.fragment.is_none()
            && r.extra.limit.is_none()
            && r.extra.connlimit.is_none();
        if guard_fits {
            let list = guards.entry((r.chain.as_str(), name)).or_default();
            if list.len() == GUARDS {
                list.remove(0);
            }
            list.push(i);
            continue;
        }
        if r.target != Target::Count || rec.check != Some(("remove", false)) {
            continue;
        }
        // the check before it that takes every stamped source of its packets
        let plain = r.srcs.is_empty() && r.dsts.is_empty();
        let guard = guards
            .get(&(r.chain.as_str(), name))
            .into_iter()
            .flatten()
            .rev()
            .map(|&g| &rules[g])
            .find(|g| {
                let unlisted = Cond {
                    in_set: Vec::new(),
                    ..g.cond.clone()
                };
                plain && super::extra::covers(&unlisted, &r.cond)
            })
            .map(|g| (g.line, g.extra.recent.as_ref().and_then(secs)));
        let why = match guard {
            None => Some(format!(
                "no `--rcheck --seconds S --name {name}` (or `--update`) that drops or rejects the packets it meets comes before it in chain {}",
                r.chain
            )),
            Some((_, None)) => Some(format!("the check of {name} before it has no `--seconds`")),
            Some((_, Some(s))) => unfit
                .get(name)
                .cloned()
                .or_else(|| {
                    widest.get(name).filter(|(t, _)| *t > s).map(|(t, line)| {
                        let over = if *t == u64::MAX {
                            "without --seconds".to_string()
                        } else {
                            format!("over {t} seconds")
                        };
                        format!("line {line} checks {name} {over}, further back than {s} seconds")
                    })
                })
                .or_else(|| (!rec.other.is_empty()).then(|| rec.other.join(", "))),
        };
        match (why, guard) {
            (None, Some((line, Some(s)))) => {
                gone[i] = true;
                notes.push(format!("line {}: `{}` is left out: line {line} drops every source on list {name} stamped within {s} seconds, so it takes off only sources no check of {name} sees any more, as statewall's set of {name} forgets them after {s} seconds", r.line, shorten(&r.text, 80)));
            }
            (why, _) => {
                gone[i] = fold.fold_or_refuse(src, rules, i, why, (&mut *notes, &mut *diags));
            }
        }
    }
    let folds = fold.folds;
    let mut k = 0;
    rules.retain(|_| {
        k += 1;
        !gone[k - 1]
    });
    folds
}
