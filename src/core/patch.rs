//! Incremental apply: the difference between the plan the kernel holds and a new plan, as
//! one small batch — elements added to and deleted from the sets a `from_file` list fills,
//! a few rules deleted and inserted in place — so that everything else keeps its counters
//! and a one-line change of a 100,000-line list costs a few messages, not a table replace.
//! Pure: plans and the live rules (with their handles) in, a [`Patch`] or "replace" out.
//!
//! A patch is made only when the two plans have the same chains (names, hooks) and the same
//! sets (names, kinds, lifetimes), and the rules of each chain differ in one run of at most
//! [`MAX_RULE_EDITS`] rules; anything else is a table replace, as before.
//!
//! The table comment cannot change without replacing the table, so the fingerprint of a
//! patched table lives in the comment of the one rule of the chain [`MARKER_CHAIN`], which
//! nothing jumps to (no packet ever meets it): each patch replaces that rule.

use crate::core::identity::rule_id;
use crate::core::live::LiveTable;
use crate::core::plan::{Plan, Rule, SetElem, SetKind};

/// The chain whose one rule carries the fingerprint of a patched table (in its comment).
pub const MARKER_CHAIN: &str = "plan";

/// At most this many rules deleted plus inserted in one chain; more is a replace.
pub const MAX_RULE_EDITS: usize = 64;

/// Elements added to and deleted from one set.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ElementEdit {
    pub set: String,
    pub kind: SetKind,
    pub add: Vec<SetElem>,
    pub del: Vec<SetElem>,
}

/// One rule change in a chain.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RuleEdit {
    Delete {
        chain: String,
        handle: u64,
    },
    /// `rule` goes right after the rule with handle `after` (None: at the chain's start).
    /// Several inserts after the same rule are listed last first, so each lands right
    /// behind it and the run ends up in plan order.
    Insert {
        chain: String,
        after: Option<u64>,
        rule: Rule,
    },
}

/// What an incremental apply sends.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Patch {
    pub table: String,
    pub elements: Vec<ElementEdit>,
    pub rules: Vec<RuleEdit>,
    /// the marker rule to replace (None: the marker chain is created)
    pub marker: Option<u64>,
    /// the new marker comment: `identity::table_comment` of the new plan
    pub comment: String,
}

impl Patch {
    /// Messages the batch holds, about.
    pub fn size(&self) -> usize {
        let elements: usize = self
            .elements
            .iter()
            .map(|e| e.add.len() + e.del.len())
            .sum();
        elements + self.rules.len() + 2
    }
}

/// The patch that turns `live` — whose rules are `old`'s, and whose set elements are taken
/// to be `old`'s (the caller checked the fingerprint) — into `new`, whose fingerprint is
/// `new_fp`; None when only a table replace will do.
pub fn diff(live: &LiveTable, old: &Plan, new: &Plan, new_fp: &str) -> Option<Patch> {
    if old.table != new.table || old.mode != new.mode || live.chains.len() != new.chains.len() {
        return None;
    }
    let elements = set_edits(old, new)?;
    let mut rules = Vec::new();
    for (lc, nc) in live.chains.iter().zip(&new.chains) {
        let hook_same = match (lc.hook, nc.hook) {
            (None, None) => true,
            (Some((_, prio)), Some(h)) => prio == h.priority,
            _ => false,
        };
        if lc.name != nc.name || !hook_same {
            return None;
        }
        rules.extend(chain_edits(&lc.name, lc, &nc.rules)?);
    }
    Some(Patch {
        table: new.table.clone(),
        elements,
        rules,
        marker: live.marker.as_ref().map(|m| m.0),
        comment: crate::core::identity::comment_of(new, new_fp),
    })
}

/// Element edits of every set, when the two plans have the same sets.
fn set_edits(old: &Plan, new: &Plan) -> Option<Vec<ElementEdit>> {
    if old.sets.len() != new.sets.len() {
        return None;
    }
    let mut out = Vec::new();
    for (o, n) in old.sets.iter().zip(&new.sets) {
        if o.name != n.name || o.kind != n.kind || o.timeout != n.timeout {
            return None;
        }
        if o.kind.dynamic() || o.kind.live() {
            // filled by the packet path or at run time: not the plan's to change
            continue;
        }
        // both are in key order (the compiler and the cache make them so): one merge,
        // which checks that as it goes; sorted copies only when they are not
        let (del, add) = match merge(&o.elements, &n.elements) {
            Some(edits) => edits,
            None => merge(&in_order(&o.elements), &in_order(&n.elements))?,
        };
        let (a, b) = (&o.elements, &n.elements);
        if b.is_empty() && !a.is_empty() {
            // a set emptied: the compiler would not have made it (a rule changed too)
            return None;
        }
        if !add.is_empty() || !del.is_empty() {
            out.push(ElementEdit {
                set: n.name.clone(),
                kind: n.kind,
                add,
                del,
            });
        }
    }
    Some(out)
}

/// The elements only `a` has and those only `b` has, both in key order; None when `a` or
/// `b` is not in key order (each element after the one before it).
fn merge(a: &[SetElem], b: &[SetElem]) -> Option<(Vec<SetElem>, Vec<SetElem>)> {
    let (mut del, mut add) = (Vec::new(), Vec::new());
    let (mut i, mut j) = (0, 0);
    while i < a.len() || j < b.len() {
        match (a.get(i), b.get(j)) {
            (Some(x), Some(y)) if x == y => {
                i += 1;
                j += 1;
            }
            (Some(x), Some(y)) if x < y => {
                del.push(*x);
                i += 1;
            }
            (Some(_), Some(y)) => {
                add.push(*y);
                j += 1;
            }
            (Some(x), None) => {
                del.push(*x);
                i += 1;
            }
            (None, Some(y)) => {
                add.push(*y);
                j += 1;
            }
            (None, None) => break,
        }
        // what was just passed must come before what is next, in both
        let ordered = |v: &[SetElem], k: usize| k == 0 || k >= v.len() || v[k - 1] < v[k];
        if !ordered(a, i) || !ordered(b, j) {
            return None;
        }
    }
    Some((del, add))
}

/// A set's elements in key order (the compiler makes them so; sorted here otherwise).
fn in_order(v: &[SetElem]) -> std::borrow::Cow<'_, [SetElem]> {
    if v.is_sorted() {
        std::borrow::Cow::Borrowed(v)
    } else {
        let mut c = v.to_vec();
        c.sort_unstable();
        std::borrow::Cow::Owned(c)
    }
}

/// The rule edits of one chain: the live rules (their identities and handles) against the
/// new ones; a common start and end stay, the run in between (at most [`MAX_RULE_EDITS`]
/// rules on both sides together) is matched by longest common subsequence.
fn chain_edits(
    chain: &str,
    live: &crate::core::live::LiveChain,
    new: &[Rule],
) -> Option<Vec<RuleEdit>> {
    let mut old_ids = Vec::with_capacity(live.rules.len());
    for r in &live.rules {
        old_ids.push(rule_id(r.rule.as_ref().ok()?));
    }
    let new_ids: Vec<u64> = new.iter().map(rule_id).collect();
    // audit recorders, limits, meters and log rules are our own bytes (rustables 0.9 has
    // none of them): never inserted by a patch
    let recorder = |r: &Rule| r.has_own_expressions();
    let mut start = 0;
    while start < old_ids.len() && start < new_ids.len() && old_ids[start] == new_ids[start] {
        start += 1;
    }
    let (mut oe, mut ne) = (old_ids.len(), new_ids.len());
    while oe > start && ne > start && old_ids[oe - 1] == new_ids[ne - 1] {
        oe -= 1;
        ne -= 1;
    }
    let (om, nm) = (&old_ids[start..oe], &new_ids[start..ne]);
    if om.len() + nm.len() > MAX_RULE_EDITS || new[start..ne].iter().any(recorder) {
        return None;
    }
    // LCS table over the middle run (at most 64 x 64)
    let mut l = vec![vec![0u16; nm.len() + 1]; om.len() + 1];
    for i in (0..om.len()).rev() {
        for j in (0..nm.len()).rev() {
            l[i][j] = if om[i] == nm[j] {
                l[i + 1][j + 1] + 1
            } else {
                l[i + 1][j].max(l[i][j + 1])
            };
        }
    }
    let mut edits = Vec::new();
    // the handle of the last rule kept so far: inserts go right after it
    let mut anchor = start.checked_sub(1).map(|k| live.rules[k].handle);
    let mut run: Vec<RuleEdit> = Vec::new();
    let flush = |run: &mut Vec<RuleEdit>, edits: &mut Vec<RuleEdit>| {
        edits.extend(run.drain(..).rev());
    };
    let (mut i, mut j) = (0, 0);
    while i < om.len() || j < nm.len() {
        if i < om.len() && j < nm.len() && om[i] == nm[j] {
            flush(&mut run, &mut edits);
            anchor = Some(live.rules[start + i].handle);
            i += 1;
            j += 1;
        } else if j < nm.len() && (i == om.len() || l[i][j + 1] >= l[i + 1][j]) {
            run.push(RuleEdit::Insert {
                chain: chain.to_string(),
                after: anchor,
                rule: new[start + j].clone(),
            });
            j += 1;
        } else {
            edits.push(RuleEdit::Delete {
                chain: chain.to_string(),
                handle: live.rules[start + i].handle,
            });
            i += 1;
        }
    }
    flush(&mut run, &mut edits);
    Some(edits)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::fake::FakeKernel;
    use crate::core::identity::{fingerprint, table_comment};

    /// One merge finds what each side alone has, and says when a side is out of order.
    #[test]
    fn merge_diffs_in_order_and_refuses_disorder() {
        let e = |n: u32| SetElem::Net(crate::core::model::Cidr::V4(n.into(), 32));
        let old = [e(1), e(3), e(5), e(7)];
        let new = [e(1), e(4), e(5), e(7), e(9)];
        assert_eq!(merge(&old, &new), Some((vec![e(3)], vec![e(4), e(9)])));
        assert_eq!(merge(&old, &old), Some((vec![], vec![])));
        assert_eq!(merge(&[e(1), e(5), e(3)], &new), None);
        assert_eq!(merge(&old, &[e(1), e(9), e(4)]), None);
        assert_eq!(merge(&old, &[e(1), e(1)]), None);
    }
    use crate::core::kernel::{Change, Kernel};

    fn plan(text: &str, files: &[(&str, &str)]) -> Plan {
        let files: Vec<(String, String)> = files
            .iter()
            .map(|(a, b)| (a.to_string(), b.to_string()))
            .collect();
        let load = move |p: &str| {
            files
                .iter()
                .find(|(n, _)| n == p)
                .map(|(n, t)| std::sync::Arc::new((n.clone(), t.clone())))
                .ok_or_else(|| "no such list".to_string())
        };
        let (p, d) = crate::core::policy::parse_with(text, &load);
        crate::core::compile::compile(&p.unwrap_or_else(|| panic!("{d:?}")), "t")
    }

    fn live_of(p: &Plan) -> (FakeKernel, LiveTable) {
        let mut k = FakeKernel::new();
        let change = Change::Replace {
            plan: p,
            seeds: &Default::default(),
            members: &Default::default(),
        };
        k.commit(change, 1).unwrap();
        let t = k.read_table("t").unwrap().unwrap();
        (k, t)
    }

    const LIST: &str = "[[allow]]\nname = \"ssh\"\ntcp = [22]\n\n[[allow]]\nname = \"bulk\"\ntcp = [80]\nfrom_file = \"l\"\n";

    #[test]
    fn a_changed_line_of_a_list_is_two_element_edits_and_no_rule() {
        let old = plan(LIST, &[("l", "10.0.0.1\n10.0.0.2\n10.0.0.3\n")]);
        let new = plan(LIST, &[("l", "10.0.0.1\n10.0.0.9\n10.0.0.3\n")]);
        let (_, live) = live_of(&old);
        let p = diff(&live, &old, &new, &fingerprint(&new)).expect("a patch");
        assert!(p.rules.is_empty(), "{p:?}");
        assert_eq!(p.elements.len(), 1);
        assert_eq!(p.elements[0].del.len(), 1);
        assert_eq!(p.elements[0].add.len(), 1);
        assert_eq!(p.comment, table_comment(&new));
    }

    #[test]
    fn a_rule_added_between_two_is_one_insert_after_its_predecessor() {
        let a = "[[allow]]\nname = \"ssh\"\ntcp = [22]\n\n[[allow]]\nname = \"web\"\ntcp = [80]\n";
        let b = "[[allow]]\nname = \"ssh\"\ntcp = [22]\n\n[[allow]]\nname = \"dns\"\nudp = [53]\ntcp = [53]\n\n[[allow]]\nname = \"web\"\ntcp = [80]\n";
        let (old, new) = (plan(a, &[]), plan(b, &[]));
        let (mut k, live) = live_of(&old);
        let p = diff(&live, &old, &new, &fingerprint(&new)).expect("a patch");
        let ssh = live.chains[0]
            .rules
            .iter()
            .find(|r| r.comment.as_deref() == Some("ssh"))
            .unwrap()
            .handle;
        let inserts: Vec<(Option<u64>, String)> = p
            .rules
            .iter()
            .map(|e| match e {
                RuleEdit::Insert { after, rule, .. } => (*after, crate::core::render::rule(rule)),
                RuleEdit::Delete { .. } => panic!("nothing is deleted: {p:?}"),
            })
            .collect();
        assert_eq!(inserts.len(), 2);
        assert!(inserts.iter().all(|(a, _)| *a == Some(ssh)));
        // listed last first: each lands right after ssh, so the run ends in plan order
        assert!(inserts[0].1.contains("udp"), "{inserts:?}");
        // applied, the fake kernel holds the new plan's rules in order
        let change = Change::Patch { patch: &p };
        k.commit(change, k.generation).unwrap();
        let after = k.read_table("t").unwrap().unwrap();
        let got: Vec<u64> = after.chains[0]
            .rules
            .iter()
            .map(|r| rule_id(r.rule.as_ref().unwrap()))
            .collect();
        let want: Vec<u64> = new.chains[0].rules.iter().map(rule_id).collect();
        assert_eq!(got, want);
        assert_eq!(
            after.stored_fingerprint(),
            Some(crate::core::identity::fingerprint(&new).as_str())
        );
    }

    #[test]
    fn other_sets_chains_or_many_rules_are_a_replace() {
        let one = plan("[[allow]]\nname = \"web\"\ntcp = [80]\n", &[]);
        let two = plan("[[allow]]\nname = \"web\"\ntcp = [80, 443]\n", &[]);
        let (_, live) = live_of(&one);
        assert!(
            diff(&live, &one, &two, &fingerprint(&two)).is_none(),
            "a new set"
        );
        let mut many = String::new();
        for i in 0..70 {
            many.push_str(&format!(
                "[[allow]]\nname = \"e{i}\"\ntcp = [{}]\n",
                1000 + i
            ));
        }
        let big = plan(&many, &[]);
        let (_, live) = live_of(&one);
        assert!(
            diff(&live, &one, &big, &fingerprint(&big)).is_none(),
            "70 new rules and one deleted"
        );
        let audit = {
            let mut p = one.clone();
            p.mode = crate::core::model::Mode::Audit;
            p
        };
        assert!(
            diff(&live, &one, &audit, &fingerprint(&audit)).is_none(),
            "another mode"
        );
    }
}
