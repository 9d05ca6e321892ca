//! `statewall metrics`: one scrape. Reads the table without any set's elements
//! ([`Kernel::read_rules`]) and the records, and never fails: what cannot be read is said
//! in a note for stderr and left out of the scrape (`statewall_up 0` without a table), so a
//! scrape always answers. Reads only: a damaged record is reported, never set aside.

use std::collections::BTreeMap;

use crate::core::identity::fingerprint_as;
use crate::core::kernel::Kernel;
use crate::core::live::LiveTable;
use crate::core::metrics::{self, Scrape};
use crate::core::plan::Plan;
use crate::core::rollout::{
    Confirmed, Pending, Previous, ROLLBACK_REASONS, Revision, RollbackCounts,
};
use crate::core::store::{Kind, Store};
use crate::core::usecase::stored_plan;

/// The build that answers: `statewall_build_info`.
pub struct Build<'a> {
    pub version: &'a str,
    pub commit: &'a str,
}

/// One scrape of `table`, and notes (for stderr) on what could not be read.
pub fn scrape<K: Kernel, S: Store>(
    k: &mut K,
    store: &S,
    table: &str,
    build: &Build<'_>,
) -> (Scrape, Vec<String>) {
    let mut notes = Vec::new();
    let mut s = Scrape {
        table: table.to_string(),
        version: build.version.to_string(),
        commit: build.commit.to_string(),
        ..Scrape::default()
    };
    let pending = read_pending(store, &mut notes);
    s.pending = pending.as_ref().map(Option::is_some);
    let confirmed = match store.read::<Confirmed>(Kind::Confirmed) {
        Ok(c) => c,
        Err(e) => {
            notes.push(format!("the accepted revision cannot be read: {e}"));
            None
        }
    };
    s.last_apply = confirmed.as_ref().map(|c| c.confirmed_at);
    s.rollbacks = match store.read::<RollbackCounts>(Kind::Rollbacks) {
        Ok(counts) => {
            let counts = counts.unwrap_or_default();
            s.rollbacks_refused = Some(counts.refused);
            let mut by = counts.by_reason;
            for r in ROLLBACK_REASONS {
                by.entry(r.to_string()).or_insert(0);
            }
            Some(by)
        }
        Err(e) => {
            notes.push(format!("the count of rollbacks cannot be read: {e}"));
            None
        }
    };
    let live = match k.read_rules(table) {
        Ok(Some(t)) => t,
        Ok(None) => {
            notes.push(format!(
                "no table inet {table} here: statewall_up 0 (nothing applied yet?)"
            ));
            return (s, notes);
        }
        Err(e) => {
            notes.push(format!("reading table inet {table} failed: {e}"));
            return (s, notes);
        }
    };
    s.up = true;
    s.rules = metrics::rule_series(&live);
    let sets = metrics::referenced_sets(&live);
    let committed = if sets.is_empty() {
        None
    } else {
        committed_plan(
            store,
            &live,
            pending.as_ref().and_then(Option::as_ref),
            confirmed.as_ref(),
        )
    };
    s.drift = metrics::drift_without_elements(&live, committed.as_ref());
    // what boot loads is what is live: judged when nothing is pending and nothing drifted
    s.boot_loads_live = match (&confirmed, &pending, s.drift, live.stored_fingerprint()) {
        (Some(c), Some(None), Some(false), Some(fp)) => {
            Some(crate::core::usecase::rollout::accepted_is(c, &live, fp))
        }
        _ => None,
    };
    match &committed {
        Some(plan) => s.sets = metrics::set_sizes(&live, plan),
        None if !sets.is_empty() => notes.push(format!(
            "table inet {table} holds a plan none of this state directory's records has \
             (applied with another --state-dir, or the records were lost): its set sizes and \
             drift are left out, since a scrape never dumps set elements; `statewall status` \
             reads them"
        )),
        None => {}
    }
    (s, notes)
}

/// The pending change, read only: `Some(None)` when there is none, `None` when that cannot
/// be told (the record and its copy are damaged; a guard may still hold its own copy).
fn read_pending<S: Store>(store: &S, notes: &mut Vec<String>) -> Option<Option<Pending>> {
    match store.read::<Pending>(Kind::Pending) {
        Ok(Some(p)) => Some(Some(p)),
        first => match (first, store.read::<Pending>(Kind::PendingCopy)) {
            (_, Ok(Some(p))) => Some(Some(p)),
            (Ok(None), Ok(None)) => Some(None),
            (Ok(None), Err(e)) => {
                notes.push(format!("the copy of the pending record is damaged: {e}"));
                Some(None)
            }
            (Err(e), _) => {
                notes.push(format!("the pending record cannot be read: {e}"));
                None
            }
            (Ok(Some(_)), _) => unreachable!("matched above"),
        },
    }
}

/// The plan whose fingerprint the live table's comment carries, compiled again from the
/// record that holds it: the accepted revision, the pending change (its candidate or what
/// it would restore), or the history, newest first. Only a record whose recorded
/// fingerprint is the table's is compiled.
fn committed_plan<S: Store>(
    store: &S,
    live: &LiveTable,
    pending: Option<&Pending>,
    confirmed: Option<&Confirmed>,
) -> Option<Plan> {
    let stored = live.stored_fingerprint()?;
    let compile = |text: &str, files: &BTreeMap<String, String>, mode: &str| {
        stored_plan(text, files, mode, &live.name)
            .filter(|p| fingerprint_as(p, live.stored_scheme()) == stored)
    };
    let revision = |r: &Revision| {
        (r.fingerprint == stored)
            .then(|| compile(&r.policy_text, &r.files, &r.mode))
            .flatten()
    };
    if let Some(p) = confirmed.and_then(revision) {
        return Some(p);
    }
    if let Some(p) = pending {
        let c = &p.candidate;
        if c.fingerprint == stored
            && let Some(plan) = compile(&c.policy_text, &c.files, &c.mode)
        {
            return Some(plan);
        }
        if let Previous::Policy {
            policy_text,
            files,
            mode,
            fingerprint,
            ..
        } = &p.previous
            && fingerprint == stored
            && let Some(plan) = compile(policy_text, files, mode)
        {
            return Some(plan);
        }
    }
    store.revisions().ok()?.iter().rev().find_map(revision)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::fake::{FakeClock, FakeKernel, MemStore};
    use crate::core::model::Mode;
    use crate::core::usecase::{apply, rollout};

    const T: &str = "statewall";
    const BIG: &str = "[[allow]]\nname = \"cdn\"\ntcp = [443]\nfrom_file = \"cdn.txt\"\n";
    const BUILD: Build<'static> = Build {
        version: "0.1.0",
        commit: "abc",
    };

    fn cdn_list(n: usize) -> BTreeMap<String, String> {
        let list: String = (0..n)
            .map(|i| format!("10.{}.{}.0/24\n", i / 256, i % 256))
            .collect();
        BTreeMap::from([("cdn.txt".to_string(), list)])
    }

    fn apply_big(k: &mut FakeKernel, s: &MemStore, files: &BTreeMap<String, String>) -> Plan {
        let plan = stored_plan(BIG, files, "enforce", T).expect("compiles");
        apply::apply(
            k,
            s,
            &FakeClock::default(),
            &apply::Request {
                plan: &plan,
                text: BIG,
                files,
                audit_flag: false,
                sshd_ports: &[],
            },
        )
        .unwrap();
        plan
    }

    fn line<'a>(text: &'a str, prefix: &str) -> Option<&'a str> {
        text.lines().find(|l| l.starts_with(prefix))
    }

    #[test]
    fn a_scrape_counts_a_big_set_from_the_plan_without_dumping_any_element() {
        let (mut k, s) = (FakeKernel::new(), MemStore::default());
        let files = cdn_list(3_000);
        apply_big(&mut k, &s, &files);
        k.hit(T, "cdn", 5);
        let reads = k.element_reads;
        let (scrape, notes) = scrape(&mut k, &s, T, &BUILD);
        assert_eq!(k.element_reads, reads, "a scrape dumped set elements");
        assert!(notes.is_empty(), "{notes:?}");
        let text = metrics::exposition(&scrape);
        assert_eq!(
            line(&text, "statewall_set_elements{"),
            Some("statewall_set_elements{table=\"statewall\",set=\"src4_cdn\"} 3000")
        );
        assert_eq!(
            line(
                &text,
                "statewall_rule_packets_total{table=\"statewall\",chain=\"input\",rule=\"cdn\""
            ),
            Some(
                "statewall_rule_packets_total{table=\"statewall\",chain=\"input\",rule=\"cdn\",verdict=\"accept\"} 5"
            )
        );
        for want in [
            "statewall_up{table=\"statewall\"} 1",
            "statewall_drift{table=\"statewall\"} 0",
            "statewall_pending{table=\"statewall\"} 0",
            "statewall_last_apply_timestamp_seconds{table=\"statewall\"} 1800000000",
            "statewall_rollbacks_total{table=\"statewall\",reason=\"deadline\"} 0",
            "statewall_rollbacks_total{table=\"statewall\",reason=\"requested\"} 0",
        ] {
            assert!(text.lines().any(|l| l == want), "no `{want}` in\n{text}");
        }
        // someone else's rule: drift, still without an element dump
        k.tamper(T);
        let (scrape, _) = super::scrape(&mut k, &s, T, &BUILD);
        assert_eq!(scrape.drift, Some(true));
        assert_eq!(k.element_reads, reads);
    }

    #[test]
    fn a_pending_change_and_its_rollback_show() {
        let (mut k, s, c) = (FakeKernel::new(), MemStore::default(), FakeClock::default());
        let files = cdn_list(40);
        apply_big(&mut k, &s, &files);
        // a trial of a smaller list: pending, and its sets are counted from its candidate
        let small = cdn_list(2);
        let plan = stored_plan(BIG, &small, "enforce", T).unwrap();
        let trial = rollout::Trial {
            table: T,
            plan: &plan,
            text: BIG,
            files: &small,
            mode: "enforce",
            source: "p.toml",
            carry_counters: false,
            secs: 60,
            netns: None,
            id: "t".into(),
            sshd_ports: &[],
        };
        rollout::apply_confirm(&mut k, &s, &c, trial, &mut |_| Ok(1)).unwrap();
        let (on_trial, _) = scrape(&mut k, &s, T, &BUILD);
        assert_eq!(on_trial.pending, Some(true));
        assert_eq!(on_trial.drift, Some(false));
        assert_eq!(on_trial.sets, [("src4_cdn".to_string(), 2)]);
        rollout::rollback(&mut k, &s, &c, None, None).unwrap();
        let (after, _) = scrape(&mut k, &s, T, &BUILD);
        assert_eq!(after.pending, Some(false));
        assert_eq!(after.sets, [("src4_cdn".to_string(), 40)]);
        assert_eq!(after.rollbacks.unwrap()["requested"], 1);
    }

    #[test]
    fn no_table_a_failing_kernel_or_unknown_records_still_answer() {
        let (mut k, s) = (FakeKernel::new(), MemStore::default());
        let (none, notes) = scrape(&mut k, &s, T, &BUILD);
        assert!(!none.up);
        assert!(notes[0].contains("no table"), "{notes:?}");
        let text = metrics::exposition(&none);
        assert!(
            text.contains("statewall_up{table=\"statewall\"} 0\n"),
            "{text}"
        );
        assert!(
            text.contains("statewall_pending{table=\"statewall\"} 0\n"),
            "{text}"
        );
        k.read_error = Some("netlink: Operation not permitted".into());
        let (failed, notes) = scrape(&mut k, &s, T, &BUILD);
        assert!(!failed.up);
        assert!(notes[0].contains("Operation not permitted"), "{notes:?}");
        k.read_error = None;
        // applied with another state directory: the rules, but no set sizes and no drift
        apply_big(&mut k, &MemStore::default(), &cdn_list(5));
        let (elsewhere, notes) = scrape(&mut k, &s, T, &BUILD);
        assert!(elsewhere.up);
        assert!(!elsewhere.rules.is_empty());
        assert_eq!((elsewhere.drift, elsewhere.sets.len()), (None, 0));
        assert!(notes[0].contains("another --state-dir"), "{notes:?}");
        // damaged records: left out and said, never set aside by a scrape
        s.damage(Kind::Pending, "garbage");
        s.damage(Kind::Rollbacks, "garbage");
        let (damaged, notes) = scrape(&mut k, &s, T, &BUILD);
        assert_eq!((damaged.pending, damaged.rollbacks), (None, None));
        assert_eq!(notes.len(), 3, "{notes:?}");
        assert!(s.files.borrow().contains_key(&Kind::Pending));
    }

    #[test]
    fn an_audit_table_counts_its_sets_but_not_the_audit_sets() {
        let (mut k, s) = (FakeKernel::new(), MemStore::default());
        let files = cdn_list(10);
        let plan = stored_plan(BIG, &files, "audit", T).unwrap();
        apply::apply(
            &mut k,
            &s,
            &FakeClock::default(),
            &apply::Request {
                plan: &plan,
                text: BIG,
                files: &files,
                audit_flag: true,
                sshd_ports: &[],
            },
        )
        .unwrap();
        assert_eq!(plan.mode, Mode::Audit);
        let (sc, notes) = scrape(&mut k, &s, T, &BUILD);
        assert!(notes.is_empty(), "{notes:?}");
        assert_eq!(sc.sets, [("src4_cdn".to_string(), 10)]);
        assert_eq!(sc.drift, Some(false));
        assert!(sc.rules.iter().any(|r| r.verdict == "continue"), "{sc:?}");
    }
}
