//! The gate chains of the Arch wiki's port knock (and its many copies): a chain a list
//! check jumps to takes the source off that list first, without a target, and then decides
//! every packet —
//!
//! ```text
//! -A GATE2 -m recent --name AUTH1 --remove
//! -A GATE2 -p tcp --dport 8000 -m recent --name AUTH2 --set -j DROP
//! -A GATE2 -j GATE1                      # GATE1: a knock on 7000, then -j DROP
//! -A PASSED -m recent --name AUTH3 --remove
//! -A PASSED -p tcp --dport 22 -j ACCEPT
//! -A PASSED -j GATE1
//! ```
//!
//! Every packet that meets such a remove is decided after it, in its chain or in chains it
//! jumps to, before the chain would hand it back: so the remove is what each of those
//! decisions does too, and statewall writes it there (`remove_from_set` on the entry of
//! each rule the walk reaches after it, `flatten.rs`), leaving the remove itself out, noted.
//! Where a packet could get back to the chain that jumped there undecided, or a later rule
//! reads the list again, counts or rates, the remove stays refused, saying which.

use std::collections::{HashMap, HashSet};

use super::rule::{IptRule, Target};

/// A target-less remove folded into the decisions after it: its line (the rules of its
/// chain on later lines come after it) and its list.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Fold {
    pub(super) line: u32,
    pub(super) list: String,
}

/// The folded removes of each chain.
pub(super) type Folds = HashMap<String, Vec<Fold>>;

/// How many rules the checks of all target-less removes of a file follow together: each
/// follows its chain's rules after it and the chains they jump to, again for each remove.
const FOLLOW_BUDGET: usize = 100_000;

/// The lists of the removes folded into rule `rule` reached by the jumps `via` (outermost
/// first): those of each chain on the way whose remove comes before the rule (or jump)
/// there.
pub(super) fn removes_on_way(
    folds: &Folds,
    rules: &[IptRule],
    via: &[usize],
    rule: usize,
) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    if folds.is_empty() {
        return out;
    }
    for &e in via.iter().chain(std::iter::once(&rule)) {
        let q = &rules[e];
        for f in folds.get(q.chain.as_str()).into_iter().flatten() {
            if f.line < q.line {
                out.push(f.list.clone());
            }
        }
    }
    // sorted, not looked up one by one (up to 8 removes a chain, 16 chains deep)
    out.sort_unstable();
    out.dedup();
    out
}

/// Why target-less remove `rules[at]` of list `list` cannot be folded into the decisions
/// after it, if it cannot: it has a condition, a packet it meets may go back to the chain
/// that jumped there undecided, or a rule after it reads or changes the list (but a DROP
/// or REJECT that `--set`s it again), counts or rates. `budget`: the rules all removes may
/// still follow.
pub(super) fn unfoldable(
    rules: &[IptRule],
    of: &HashMap<&str, Vec<usize>>,
    at: usize,
    budget: &mut usize,
) -> Option<String> {
    let r = &rules[at];
    let rec = r.extra.recent.as_ref()?;
    if !(super::chains::unconditional_but_list(r)
        && rec.hitcount.is_none()
        && rec.other.is_empty()
        && !rec.rttl)
    {
        return Some(
            "it has matches of its own, so the packets after it differ in whether they met it"
                .into(),
        );
    }
    let from = of.get(r.chain.as_str())?.iter().position(|&i| i == at)? + 1;
    let mut walk = Follow {
        rules,
        of,
        list: rec.name(),
        budget,
    };
    match walk.after(&r.chain, from, 0) {
        Ok(true) => None,
        Ok(false) if super::lines::FILTER_CHAINS.contains(&r.chain.as_str()) => Some(format!(
            "a packet it meets can reach the end of chain {}, whose policy then decides it, and statewall's final rule takes no source off a set",
            r.chain
        )),
        Ok(false) => Some(format!(
            "a packet it meets can reach the end of chain {} undecided and go back to the chain that jumped there",
            r.chain
        )),
        Err(why) => Some(why),
    }
}

struct Follow<'a, 'b> {
    rules: &'a [IptRule],
    of: &'a HashMap<&'a str, Vec<usize>>,
    list: &'a str,
    budget: &'b mut usize,
}

impl Follow<'_, '_> {
    /// Whether every packet that gets to rule `from` of `chain` is decided there or in the
    /// chains it jumps to (at `depth` below the remove's chain: a RETURN there hands the
    /// packet back to the chain that jumped, which goes on), Err with why the fold cannot
    /// be. Each rule followed takes one of the budget.
    fn after(&mut self, chain: &str, from: usize, depth: usize) -> Result<bool, String> {
        let Some(idx) = self.of.get(chain) else {
            return Ok(false);
        };
        let mut leaks = false;
        for &i in idx.iter().skip(from) {
            if *self.budget == 0 {
                return Err(format!(
                    "the rules after target-less removes, with the chains they jump to, are more than {} to follow",
                    crate::core::diag::thousands(FOLLOW_BUDGET)
                ));
            }
            *self.budget -= 1;
            let q = &self.rules[i];
            let plain = super::chains::unconditional(q);
            if let Some(x) = &q.extra.recent {
                let sets_again = x.set
                    && x.check.is_none()
                    && matches!(q.target, Target::Drop | Target::Reject(_));
                if x.name() == self.list && !sets_again {
                    return Err(format!(
                        "line {} reads or changes list {} after it",
                        q.line, self.list
                    ));
                }
                if x.hitcount.is_some() && q.target != Target::Log {
                    return Err(format!("line {} counts hits of a list after it", q.line));
                }
            }
            // a LOG's rate says how often it logs, which decides nothing
            if (q.extra.limit.is_some() || q.extra.connlimit.is_some()) && q.target != Target::Log {
                return Err(format!(
                    "line {} after it has a rate or a count, whose excess another rule decides",
                    q.line
                ));
            }
            match &q.target {
                Target::Return if depth == 0 => {
                    return Err(format!(
                        "the RETURN of line {} hands packets it met back to the chain that jumped to {chain}",
                        q.line
                    ));
                }
                Target::Return if plain => return Ok(false),
                Target::Return => leaks = true,
                Target::Accept | Target::Drop | Target::Reject(_) if plain => return Ok(!leaks),
                Target::Jump(c) => {
                    if depth + 1 >= super::flatten::MAX_LEVELS {
                        return Err(format!(
                            "line {} jumps deeper than nf_tables runs chains",
                            q.line
                        ));
                    }
                    if self.after(c, 0, depth + 1)? && plain {
                        return Ok(!leaks);
                    }
                }
                _ => {}
            }
        }
        Ok(false)
    }
}

/// What the target-less removes of a file are checked with, and the folds found.
pub(super) struct Folder<'r> {
    of: HashMap<&'r str, Vec<usize>>,
    budget: usize,
    /// the lists some rule checks (None: the reading refused rules, a check may be
    /// among them)
    checked: Option<HashSet<&'r str>>,
    pub(super) folds: Folds,
}

impl<'r> Folder<'r> {
    pub(super) fn new(rules: &'r [IptRule], read_refused: bool) -> Self {
        Folder {
            of: super::chains::rules_by_chain(rules),
            budget: FOLLOW_BUDGET,
            checked: (!read_refused).then(|| super::recent::checked_lists(rules)),
            folds: Folds::new(),
        }
    }

    /// Target-less remove `rules[at]`, which the port-scan trap's reset does not explain
    /// (`why`): left out where no rule checks its list (noted: true), folded into the
    /// decisions after it (noted, its fold added: true), or refused with both reasons
    /// (false).
    pub(super) fn fold_or_refuse(
        &mut self,
        src: &str,
        rules: &[IptRule],
        at: usize,
        why: Option<String>,
        (notes, diags): (&mut super::notes::Notes, &mut crate::core::diag::Diags),
    ) -> bool {
        let r = &rules[at];
        let name = r.extra.recent.as_ref().map_or("DEFAULT", |x| x.name());
        if self.checked.as_ref().is_some_and(|c| !c.contains(name)) {
            // what it takes off no rule looks at (but /proc/net/xt_recent, for other tools)
            notes.push(format!("line {}: `{}` takes the source off list {name}, which no rule of the file checks: it decides nothing and is left out", r.line, crate::core::diag::shorten(&r.text, 80)));
            return true;
        }
        let most = crate::core::policy::FEED_SETS_MAX;
        let full = self
            .folds
            .get(r.chain.as_str())
            .is_some_and(|f| f.len() >= most);
        let unfit = if full {
            Some(format!(
                "chain {} has {most} such removes before it, as many sets as an entry takes sources off",
                r.chain
            ))
        } else {
            unfoldable(rules, &self.of, at, &mut self.budget)
        };
        match unfit {
            None => {
                notes.push(format!("line {}: `{}` takes the source off list {name} and lets the packet go on, and every packet it meets is decided after it (in chain {} or the chains it jumps to): each rule that decides them takes the source off set {name} (`remove_from_set`), and the remove is left out", r.line, crate::core::diag::shorten(&r.text, 80), r.chain));
                self.folds.entry(r.chain.clone()).or_default().push(Fold {
                    line: r.line,
                    list: name.to_string(),
                });
                true
            }
            Some(fold) => {
                diags.push(crate::core::diag::Diagnostic::error(r.span.clone(), src, "a `-m recent --remove` without a target (`-j`)").with_help(format!("it takes the source off the list and lets the packet go on; statewall leaves it out behind a `--rcheck --seconds S` of the list that drops what was stamped within S (the port-scan trap's reset: every check of the list within S seconds, no remove that decides), and here {}; or it takes the source off in every rule that decides the packets after it, where the chain decides them all (a port knock's gate chain), and here {fold}; elsewhere statewall takes a source off a live set only in an entry that decides the packet (`remove_from_set`): give the rule the verdict the packet gets next (the usual port-knock reset is `--remove … -j DROP`)", why.unwrap_or_default())));
                false
            }
        }
    }
}
