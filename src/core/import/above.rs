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
        let refuse = |cx: &mut Self, why: String| {
            cx.error(r.span.clone(), "a `--hashlimit-above` rule statewall cannot map", format!("{why}; statewall maps `-m hashlimit --hashlimit-above R -j DROP` (or REJECT) of NEW connections before the ACCEPT of the same connections (or of more, or the ACCEPT policy) as that allow's limit: per source with `--hashlimit-mode srcip`, for the allow as a whole without a mode"));
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
            Ok(Some(prefix)) => (
                format!(
                    "{{ rate = \"{rate}\", burst = {burst}, per = \"source\", ipv6_prefix = {prefix}, over = \"{over}\" }}"
                ),
                "per source",
            ),
            Ok(None) => (
                format!("{{ rate = \"{rate}\", burst = {burst}, over = \"{over}\" }}"),
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
            return;
        };
        gone[p] = allow != p;
        flat[allow].verdict = Verdict::Accept;
        flat[allow].extra.global |= how != "per source";
        flat[allow].extra.limit.push(limit);
        let al = self.rules[flat[allow].rule].line;
        self.notes.push(format!("line {}: `--hashlimit-above {rate}` (burst {burst}) becomes line {al}'s allow's limit {how}: a token bucket, as hashlimit's; what exceeds it is {}", r.line, if over == "drop" { "dropped" } else { "rejected" }));
    }
}

/// Rules that name the same `--hashlimit-name`: the kernel keeps one table of buckets per
/// name (and family), with the first rule's rate, and every rule of the name takes its
/// tokens from it; statewall keeps a bucket per entry. Each rule after the first is refused.
pub(super) fn shared_hashlimits(
    src: &str,
    rules: &[super::rule::IptRule],
    diags: &mut crate::core::diag::Diags,
) {
    let mut first: std::collections::HashMap<&str, u32> = std::collections::HashMap::new();
    for r in rules {
        let Some(name) = r.extra.limit.as_ref().and_then(|l| l.name.as_deref()) else {
            continue;
        };
        match first.get(name) {
            None => {
                first.insert(name, r.line);
            }
            Some(&line) => diags.push(crate::core::diag::Diagnostic::error(r.span.clone(), src, format!("`--hashlimit-name {name}` again (line {line} names it first)")).with_help("the kernel keeps one bucket per source for every rule of that name, with the first rule's rate, so a source's packets to either rule take the same tokens; statewall keeps a bucket per entry: give each rule its own --hashlimit-name")),
        }
    }
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
            Ok(Some(prefix)) => format!(", per = \"source\", ipv6_prefix = {prefix}"),
            Ok(None) => {
                flat[p].extra.global = true;
                String::new()
            }
        };
        flat[p].extra.limit.push(format!(
            "{{ rate = \"{rate}\", burst = {burst}{per}, over = \"continue\" }}"
        ));
        // it takes tokens as it decides: its place is kept exactly, as a guard's
        flat[p].extra.guard = true;
        self.notes.push(format!("line {}: `{}` takes the packets within its rate ({rate}, burst {burst}{}) and lets the rest go on: its entry's limit says `over = \"continue\"`, and it keeps its place among the rules it shares packets with", r.line, crate::core::diag::shorten(&r.text, 80), if per.is_empty() { "" } else { ", per source" }));
    }
}
