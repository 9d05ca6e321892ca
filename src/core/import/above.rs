//! `-m hashlimit --hashlimit-above R … -j DROP` (or REJECT): the rule takes what exceeds the
//! rate, and what is within goes on, having taken a token — as nft's `limit rate over R`
//! does. Before the ACCEPT of the same packets it is that allow's limit (per source with
//! `--hashlimit-mode srcip`, for the entry as a whole without a mode), what exceeds it
//! dropped or rejected as the rule does; before a wider ACCEPT (or the ACCEPT policy) the rule
//! itself becomes the allow with the limit, as what it lets through is accepted anyway.
//! Anything else is refused with why.
//!
//! `-m limit R … -j DROP` (or REJECT, or `--hashlimit-upto`) takes the packets within the
//! rate, and what exceeds it goes on: a block (or reject) with `limit = { …, over =
//! "continue" }` in its place, kept there as a guard is (`limit_within`).

use super::analyse::{Analyser, FinalRule};
use super::extra::{iptables_rate, over_of, stateless};
use super::flatten::{Flat, Verdict};
use crate::core::model::LIMITS_MAX;
use crate::core::plan::CtStates;

impl Analyser<'_> {
    /// The `--hashlimit-above` rule at `flat[p]` (module doc).
    pub(super) fn limit_above(
        &mut self,
        flat: &mut [Flat],
        p: usize,
        fin: FinalRule,
        gone: &mut [bool],
    ) {
        let r = &self.rules[flat[p].rule];
        let lim = r.extra.limit.clone().expect("a limit");
        let cond = flat[p].cond.clone();
        // a refused rule is taken out, so that it causes no ordering error of its own
        gone[p] = true;
        // a `-m limit … -j RETURN` guard's DROP (REJECT) comes here too (`chains.rs`)
        let what = if lim.hash_mode.is_some() {
            "a `--hashlimit-above` rule statewall cannot map"
        } else {
            "a `-m limit … -j RETURN` guard statewall cannot map"
        };
        let refuse = |cx: &mut Self, why: String| {
            cx.error(r.span.clone(), what, format!("{why}; statewall maps `-m hashlimit --hashlimit-above R -j DROP` (or REJECT, or a `-m limit` RETURN before one) of NEW connections before the ACCEPT of the same connections (or of more, or the ACCEPT policy) as that allow's limit: per source with `--hashlimit-mode srcip`, for the allow as a whole without a mode"));
        };
        let (rate, burst) = match iptables_rate(&lim) {
            Ok(x) => x,
            Err(why) => return refuse(self, why),
        };
        let over = match over_of(flat[p].verdict, cond.proto) {
            Ok(over) => over,
            Err(why) => return refuse(self, why.into()),
        };
        let q = Self::next_deciding(flat, p, &cond);
        let decides_all = |q: usize| self.decides_all(&flat[q]);
        let same = q.filter(|&q| {
            flat[q].verdict == Verdict::Accept
                && decides_all(q)
                && flat[q].extra.limit.len() < LIMITS_MAX
                && unmarked(&flat[q].cond) == unmarked(&cond)
                && flat[q].cond.states.is_none_or(|s| s & CtStates::NEW != 0)
        });
        let wider = self.accepted_after(flat, p + 1, &cond, fin);
        // else a guard: the rule itself, taking only what exceeds the rate. An allow's limit
        // counts NEW connections, a guard what reaches it, as in the file: a rule that counts
        // every packet (no `--state NEW`, no ESTABLISHED,RELATED accept before it) is a guard
        // even before its ACCEPT
        let allow = match (same, wider) {
            _ if !self.new_only(flat, p, &cond) => None,
            (Some(q), _) => Some(q),
            (None, true) => Some(p),
            (None, false) => None,
        };
        let (limit, how) = match lim.per_source(self.fam) {
            Err(why) => return refuse(self, why),
            Ok(Some(per)) => (
                format!(
                    "{{ rate = \"{rate}\", burst = {burst}, {per}{}, over = \"{over}\" }}",
                    lim.meter_key(super::paths::bucket(r, flat[p].part))
                        + &super::htable::forget_key(&lim, &rate, burst)
                ),
                "per source",
            ),
            Ok(None) => (
                format!(
                    "{{ rate = \"{rate}\", burst = {burst}{}, over = \"{over}\" }}",
                    lim.meter_key(super::paths::bucket(r, flat[p].part))
                        + &super::htable::forget_key(&lim, &rate, burst)
                ),
                "for the entry as a whole",
            ),
        };
        let Some(allow) = allow else {
            gone[p] = false;
            let within = limit.replacen(
                &format!(", over = \"{over}\" }}"),
                ", within = \"continue\" }",
                1,
            );
            flat[p].extra.limit.push(within);
            flat[p].extra.guard = true;
            flat[p].extra.global |= how != "per source";
            self.notes.push(format!("line {}: a guard of {rate} (burst {burst}) {how}: its entry takes only what exceeds the rate (`within = \"continue\"`), as iptables' {}, and what is within goes on to the rules after it", r.line, if lim.hash_mode.is_some() { "`--hashlimit-above`" } else { "`-m limit … -j RETURN` before it" }));
            if lim.hash_mode.is_some() {
                self.notes
                    .extend(super::htable::table_notes(&lim, r.line, &rate, burst));
            }
            return;
        };
        gone[p] = allow != p;
        flat[allow].verdict = Verdict::Accept;
        flat[allow].extra.global |= how != "per source";
        flat[allow].extra.limit.push(limit);
        let al = self.rules[flat[allow].rule].line;
        self.notes.push(format!("line {}: `--hashlimit-above {rate}` (burst {burst}) becomes line {al}'s allow's limit {how}: a token bucket, as hashlimit's; what exceeds it is {}", r.line, if over == "drop" { "dropped" } else { "rejected" }));
        self.notes
            .extend(super::htable::table_notes(&lim, r.line, &rate, burst));
    }
}

/// Rules that name the same `--hashlimit-name`: the kernel keeps one table of buckets per
/// name (and family), made by the first rule with its rate, burst, mode and mask, and every
/// rule of the name takes its tokens from it. Rules of a name that count per source (or all
/// sources together: no mode) and match what exceeds the rate (`--hashlimit-above`) share a
/// statewall meter (`meter = "NAME"`, IPv6 files' `NAME-v6`) at the first rule's rate, as
/// the kernel counts them. Rules of a name that are all LOGs (Shorewall's `lograte`, which
/// every log of its rulesets shares) decide what is logged, never a verdict: each keeps a
/// limit of its own, noted. Any other rule of a name that an earlier rule named is refused
/// where it is written.
pub(super) fn shared_hashlimits(
    src: &str,
    fam: super::Fam,
    rules: &mut [super::rule::IptRule],
    (diags, notes): (&mut crate::core::diag::Diags, &mut super::notes::Notes),
) {
    use std::collections::HashMap;
    let name_of = |r: &super::rule::IptRule| r.extra.limit.as_ref().and_then(|l| l.name.clone());
    let mut count: HashMap<String, usize> = HashMap::new();
    // the line of each name's second rule (a target-less first rule's refusal names it)
    let mut second: HashMap<String, u32> = HashMap::new();
    // the lines of each name's rules while all of them are LOGs (`None` once one is not)
    let mut logs: HashMap<String, Option<Vec<u32>>> = HashMap::new();
    for r in rules.iter() {
        let Some(name) = name_of(r) else {
            continue;
        };
        let n = count.entry(name.clone()).or_default();
        *n += 1;
        if *n == 2 {
            second.insert(name.clone(), r.line);
        }
        let lines = logs.entry(name).or_insert_with(|| Some(Vec::new()));
        match lines {
            Some(l) if r.target == super::rule::Target::Log => l.push(r.line),
            _ => *lines = None,
        }
    }
    let mut first: HashMap<String, usize> = HashMap::new();
    for i in 0..rules.len() {
        let Some(name) = name_of(&rules[i]).filter(|n| count[n] > 1) else {
            continue;
        };
        if let Some(lines) = &logs[&name] {
            // said at the name's first rule; each log keeps its own limit
            if first.insert(name.clone(), i).is_none() {
                notes.push(format!(
                    "lines {}: the {} LOG rules of `--hashlimit-name {name}` take their tokens from one table of buckets, which the first one's rate fills; statewall gives each log it keeps a limit of its own, at its own rate: what is logged may differ, never what is let through",
                    super::notes::first_of(lines, 5),
                    lines.len()
                ));
            }
            continue;
        }
        let f = *first.entry(name.clone()).or_insert(i);
        if rules[i].target == super::rule::Target::Count {
            // left out as a rule that only counts, it would leave the others more tokens
            let r = &rules[i];
            let other = if f == i { second[&name] } else { rules[f].line };
            let span = r.extra.limit_span.clone().unwrap_or_else(|| r.span.clone());
            diags.push(crate::core::diag::Diagnostic::error(span, src, format!("a rule without a target takes tokens from `--hashlimit-name {name}`, which line {other} uses too")).with_help("the kernel keeps one table of buckets for every rule of that name, so this rule's packets use up tokens the others then lack; a statewall entry takes tokens only where it decides: give this rule its own --hashlimit-name (then it only counts, and is left out), or remove it"));
            continue;
        }
        let (a, b) = (
            rules[f].extra.limit.clone().unwrap_or_default(),
            rules[i].extra.limit.clone().unwrap_or_default(),
        );
        let meter = match fam {
            super::Fam::V4 => name.clone(),
            super::Fam::V6 => format!("{name}-v6"),
        };
        let why = if !matches!(a.hash_mode.as_deref(), Some("srcip" | "")) {
            Some("statewall's meters count per source (`--hashlimit-mode srcip`) or all sources together (no mode)".to_string())
        } else if !(a.above && b.above || accepts_within(&rules[f]) && accepts_within(&rules[i])) {
            Some("statewall shares a meter between rules that match what exceeds the rate (`--hashlimit-above`), or that all ACCEPT what is within it (`--hashlimit-upto`), and a bucket keeps the way of the rule that made it".to_string())
        } else if !crate::core::policy::valid_set_name(&meter) {
            Some(format!(
                "statewall's meter `{meter}` would need a name of 1-{} characters of A-Z a-z 0-9 _ . -",
                crate::core::plan::LiveName::MAX
            ))
        } else {
            None
        };
        if let Some(why) = why {
            if i != f {
                diags.push(crate::core::diag::Diagnostic::error(rules[i].span.clone(), src, format!("`--hashlimit-name {name}` again (line {} names it first)", rules[f].line)).with_help(format!("the kernel keeps one table of buckets for every rule of that name, made by the first with its rate, so the rules take the same tokens; {why}: give each rule its own --hashlimit-name")));
            }
            continue;
        }
        if i != f
            && (a.rate != b.rate
                || a.burst != b.burst
                || a.srcmask != b.srcmask
                || a.expire != b.expire)
        {
            notes.push(format!("line {}: `--hashlimit-name {name}` is line {}'s table of buckets, which counts every rule of the name at its rate ({}, burst {}{}): so does statewall's meter `{meter}`", rules[i].line, rules[f].line, a.rate.as_deref().unwrap_or("3/hour"), a.burst.as_deref().unwrap_or("5"), a.srcmask.as_deref().map(|m| format!(", source mask {m}")).unwrap_or_default()));
        }
        let lim = rules[i].extra.limit.as_mut().expect("a limit");
        // the kernel counts with the table's settings, which are the first rule's
        lim.rate = a.rate;
        lim.burst = a.burst;
        lim.hash_mode = a.hash_mode;
        lim.srcmask = a.srcmask;
        // and forgets and holds sources as the first rule's table does
        lim.expire = a.expire;
        lim.table_max = a.table_max;
        lim.table_size = a.table_size;
        lim.shared = Some(meter);
    }
}

/// Whether rule `r` ACCEPTs what is within its hashlimit's rate (`--hashlimit-upto`): its
/// entry is an allow that takes what exceeds the rate, as one of `--hashlimit-above` does.
fn accepts_within(r: &super::rule::IptRule) -> bool {
    r.target == super::rule::Target::Accept && r.extra.limit.as_ref().is_some_and(|l| !l.above)
}

/// `c` without its state match and without the marks of rates it takes only the excess of:
/// what an allow with the same matches has.
fn unmarked(c: &super::cond::Cond) -> super::cond::Cond {
    super::cond::Cond {
        in_set: c
            .in_set
            .iter()
            .filter(|s| !s.starts_with(super::chains::RATE_MARK))
            .cloned()
            .collect(),
        ..stateless(c)
    }
}

impl Analyser<'_> {
    /// The DROP or REJECT with a rate (`-m limit`, `--hashlimit-upto`) at `flat[p]`: its
    /// entry takes what is within the rate, and the rest goes on (module doc).
    pub(super) fn limit_within(&mut self, flat: &mut [Flat], p: usize, gone: &mut [bool]) {
        let r = &self.rules[flat[p].rule];
        let lim = r.extra.limit.clone().expect("a limit");
        let refuse = |cx: &mut Self, why: String| {
            cx.error(r.span.clone(), "a DROP or REJECT with a rate statewall cannot map", format!("{why}; statewall maps `-m limit R -j DROP` (or REJECT, or `-m hashlimit --hashlimit-upto R`, per source with `--hashlimit-mode srcip`) as a block (or reject) whose limit lets what exceeds the rate go on (`over = \"continue\"`)"));
        };
        let (rate, burst) = match iptables_rate(&lim) {
            Ok(x) => x,
            Err(why) => {
                gone[p] = true;
                return refuse(self, why);
            }
        };
        let per = match lim.per_source(self.fam) {
            Err(why) => {
                gone[p] = true;
                return refuse(self, why);
            }
            Ok(Some(per)) => format!(
                ", {per}{}",
                lim.meter_key(super::paths::bucket(r, flat[p].part))
                    + &super::htable::forget_key(&lim, &rate, burst)
            ),
            Ok(None) => {
                flat[p].extra.global = true;
                lim.meter_key(super::paths::bucket(r, flat[p].part))
                    + &super::htable::forget_key(&lim, &rate, burst)
            }
        };
        flat[p].extra.limit.push(format!(
            "{{ rate = \"{rate}\", burst = {burst}{per}, over = \"continue\" }}"
        ));
        // it takes tokens as it decides: its place is kept exactly, as a guard's
        flat[p].extra.guard = true;
        self.notes.push(format!("line {}: `{}` takes the packets within its rate ({rate}, burst {burst}{}) and lets the rest go on: its entry's limit says `over = \"continue\"`, and it keeps its place among the rules it shares packets with", r.line, crate::core::diag::shorten(&r.text, 80), if per.starts_with(", per") { ", per source" } else { "" }));
    }

    /// Whether the allow of rule `rule`, whose limit `lim` takes what exceeds its rate the
    /// way `over` says, can share its `--hashlimit-name`'s meter: the meter's other allows
    /// must take the same way (statewall's meter keeps one; iptables leaves each rule's
    /// excess to the rules after it). Else refused at the rule, false.
    pub(super) fn meter_way(
        &mut self,
        lim: &super::extra::LimitOpts,
        over: &str,
        rule: usize,
    ) -> bool {
        // a name's meter (`shared_hashlimits`), not a line's (`paths::share_limits`)
        let named = |m: &String| {
            lim.name
                .as_ref()
                .is_some_and(|n| *m == *n || *m == format!("{n}-v6"))
        };
        let Some(meter) = lim.shared.clone().filter(named) else {
            return true;
        };
        let hook = self.hook;
        let (way, first, _) = self
            .meter_ways
            .entry(meter)
            .or_insert_with(|| (over.to_string(), rule, hook))
            .clone();
        if way == over {
            return true;
        }
        let rules = self.rules;
        let (r, f) = (&rules[rule], &rules[first]);
        let name = lim.name.as_deref().unwrap_or_default();
        let says = |w: &str| match w {
            "continue" => "goes on to the rules after it".to_string(),
            "drop" => "is dropped there (the next rule for those packets drops it)".to_string(),
            w => format!("is {w}ed there (the next rule for those packets does so)"),
        };
        self.error(
            r.span.clone(),
            format!(
                "`--hashlimit-name {name}`: what exceeds the rate here {}, at line {} it {}",
                says(over),
                f.line,
                says(&way)
            ),
            "the rules of one name take their tokens from one table, which statewall keeps as one meter of entries that all take what exceeds the rate the same way: give this rule its own --hashlimit-name, or order the file so that the same rules follow each of them",
        );
        false
    }
}
