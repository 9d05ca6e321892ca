//! The use cases on the fake kernel, store and clock: the decisions of apply, remove,
//! status, enforce, the rollout and boot, with failures injected. No root, no namespace.

use std::collections::BTreeMap;

use crate::core::fake::{FakeClock, FakeKernel, Inject, MemStore};
use crate::core::identity;
use crate::core::kernel::{Kernel, KernelError};
use crate::core::lint::Facts;
use crate::core::model::Mode;
use crate::core::plan::Plan;
use crate::core::rollout::{Confirmed, Pending, Previous, RollbackRecord, SessionAge};
use crate::core::store::{Clock, Kind, Store};
use crate::core::usecase::{Error, apply, boot, enforce, rollout};
use crate::core::{compile, policy};

const T: &str = "statewall";
const SSH: &str = "[[allow]]\nname = \"ssh\"\ntcp = [22]\n";
const SSH_WEB: &str =
    "[[allow]]\nname = \"ssh\"\ntcp = [22]\n\n[[allow]]\nname = \"web\"\ntcp = [80]\n";

fn plan(text: &str, mode: Mode) -> Plan {
    let (p, d) = policy::parse(text);
    let mut p = p.unwrap_or_else(|| panic!("{d:?}"));
    p.mode = mode;
    compile::compile(&p, T)
}

fn rules(k: &mut FakeKernel) -> Vec<(String, u64)> {
    let live = k.read_table(T).unwrap().expect("a table");
    live.chains
        .iter()
        .flat_map(|c| c.rules.iter())
        .map(|r| (r.comment.clone().unwrap_or_default(), r.packets))
        .collect()
}

fn trial<'a>(
    p: &'a Plan,
    text: &'a str,
    files: &'a BTreeMap<String, String>,
    carry: bool,
) -> rollout::Trial<'a> {
    rollout::Trial {
        table: T,
        plan: p,
        text,
        files,
        mode: p.mode.as_str(),
        source: "test.toml",
        carry_counters: carry,
        secs: 60,
        netns: None,
        id: "trial-1".into(),
        sshd_ports: &[],
    }
}

/// A plain apply of `text` in `mode`.
fn plain(
    k: &mut FakeKernel,
    s: &MemStore,
    text: &str,
    mode: Mode,
) -> Result<apply::Applied, Error> {
    let p = plan(text, mode);
    let files = BTreeMap::new();
    apply::apply(
        k,
        s,
        &FakeClock::default(),
        &apply::Request {
            plan: &p,
            text,
            files: &files,
            audit_flag: mode == Mode::Audit,
            sshd_ports: &[],
        },
    )
}

/// A NEW ssh connection through the candidate's rules, then `confirm` from a new session.
fn confirm_with_proof(k: &mut FakeKernel, s: &MemStore, c: &FakeClock) -> rollout::Kept {
    new_ssh_connection(k);
    rollout::confirm(k, s, c, SessionAge::OpenedAfterApply, "", true, false).unwrap()
}

/// A NEW ssh connection through the candidate's own rules (the ssh rule counts it).
fn new_ssh_connection(k: &mut FakeKernel) {
    k.hit(T, "ssh", 1);
}

fn validated(text: &str) -> crate::core::usecase::Validated {
    crate::core::usecase::Validated {
        policy: policy::parse(text).0.unwrap(),
        text: text.into(),
        files: BTreeMap::new(),
        source: "test.toml".into(),
    }
}

fn no_guard() -> impl FnMut(&Pending) -> Result<u32, String> {
    |_| Ok(4242)
}

/// `apply --confirm` of `p` (compiled from `text`, no lists), with a guard that is only a pid.
fn on_trial(
    k: &mut FakeKernel,
    s: &MemStore,
    c: &FakeClock,
    p: &Plan,
    text: &str,
) -> rollout::OnTrial {
    let files = BTreeMap::new();
    rollout::apply_confirm(k, s, c, trial(p, text, &files, false), &mut no_guard()).unwrap()
}

#[test]
fn apply_commits_one_batch_and_a_rejected_one_changes_nothing() {
    let (mut k, s) = (FakeKernel::new(), MemStore::default());
    let a = plain(&mut k, &s, SSH, Mode::Enforce).unwrap();
    assert_eq!(k.commits, 1);
    assert!(
        matches!(a.outcome, apply::Outcome::Committed { before, committed, .. } if committed.generation == before + 1),
        "{a:?}"
    );
    k.hit(T, "ssh", 5);
    let before = k.read_table(T).unwrap();
    // (one more rule: a patch first; refused, a whole-table replace, refused too)
    k.inject
        .extend([Inject::Reject(libc::EINVAL), Inject::Reject(libc::EINVAL)]);
    let e = plain(&mut k, &s, SSH_WEB, Mode::Enforce).unwrap_err();
    assert!(
        matches!(e, Error::Kernel(KernelError::Rejected { .. })),
        "{e:?}"
    );
    assert_eq!(
        format!("{:?}", k.read_table(T).unwrap()),
        format!("{before:?}")
    );
}

#[test]
fn a_lost_race_is_retried_against_the_new_generation_then_reported() {
    let (mut k, s) = (FakeKernel::new(), MemStore::default());
    k.inject.push_back(Inject::Race);
    plain(&mut k, &s, SSH, Mode::Enforce).expect("the retry commits");
    assert_eq!(k.commits, 1);
    k.inject.extend([Inject::Race; 3]);
    let e = plain(&mut k, &s, SSH_WEB, Mode::Enforce).unwrap_err();
    assert!(matches!(e, Error::ChangedUnderneath(_)), "{e:?}");
    assert_eq!(k.commits, 1, "nothing more committed");
}

#[test]
fn a_pending_change_blocks_apply_and_remove() {
    let (mut k, s, c) = (FakeKernel::new(), MemStore::default(), FakeClock::default());
    let p = plan(SSH, Mode::Enforce);
    let files = BTreeMap::new();
    rollout::apply_confirm(
        &mut k,
        &s,
        &c,
        trial(&p, SSH, &files, false),
        &mut no_guard(),
    )
    .unwrap();
    for e in [
        plain(&mut k, &s, SSH, Mode::Enforce).unwrap_err(),
        apply::remove(&mut k, &s, T).unwrap_err(),
    ] {
        assert!(
            matches!(&e, Error::Refused(m) if m.contains("pending")),
            "{e:?}"
        );
    }
}

#[test]
fn remove_says_when_there_is_no_table() {
    let (mut k, s) = (FakeKernel::new(), MemStore::default());
    let e = apply::remove(&mut k, &s, T).unwrap_err();
    assert!(matches!(e, Error::NoTable(_)), "{e:?}");
    assert!(matches!(
        apply::status(&mut k, T).unwrap_err(),
        Error::NoTable(_)
    ));
}

#[test]
fn enforce_carries_every_unchanged_rules_counters_and_refuses_a_non_audit_table() {
    let (mut k, s) = (FakeKernel::new(), MemStore::default());
    let (p, _) = policy::parse(SSH);
    let p = p.unwrap();
    plain(&mut k, &s, SSH, Mode::Enforce).unwrap();
    let e = enforce::check(&mut k, T, &p, &Facts::default(), false).unwrap_err();
    assert!(matches!(e, Error::Refused(_)), "{e:?}");

    plain(&mut k, &s, SSH, Mode::Audit).unwrap();
    k.hit(T, "ssh", 7);
    k.hit(T, "established", 30);
    k.hit(T, "final", 2);
    let (checked, _) = enforce::check(&mut k, T, &p, &Facts::default(), false).unwrap();
    assert_eq!(checked.would_drop, 2);
    enforce::commit(
        &mut k,
        &s,
        &FakeClock::default(),
        &checked,
        &validated(SSH),
        &[],
    )
    .unwrap();
    let live = k.read_table(T).unwrap().unwrap();
    assert_eq!(live.stored_mode(), Some("enforce"));
    let r = rules(&mut k);
    assert!(r.contains(&("ssh".into(), 7)), "{r:?}");
    assert!(r.contains(&("established".into(), 30)), "{r:?}");
    assert!(
        r.contains(&("final".into(), 0)),
        "the final rule changed: {r:?}"
    );
}

#[test]
fn enforce_is_refused_when_the_audit_saw_ssh_reach_the_final_rule() {
    let (mut k, s) = (FakeKernel::new(), MemStore::default());
    // web only: ssh would be dropped; the audit recorders saw port 22
    let web = "[[allow]]\nname = \"web\"\ntcp = [80]\n";
    plain(&mut k, &s, web, Mode::Audit).unwrap();
    let t = k.tables.get_mut(T).unwrap();
    let set = t.sets.iter_mut().find(|s| s.name == "audit_tcp").unwrap();
    set.elements = Ok(vec![(
        crate::core::plan::SetElem::Ports(crate::core::model::PortRange::single(22)),
        3,
        180,
    )]);
    let facts = Facts {
        ssh: None,
        sshd_ports: vec![22],
    };
    let (p, _) = policy::parse(web);
    let e = enforce::check(&mut k, T, &p.unwrap(), &facts, false).unwrap_err();
    assert!(matches!(&e, Error::Refused(m) if m.contains("22")), "{e:?}");
}

#[test]
fn a_trial_rolls_back_to_the_previous_policy_with_its_counters_at_the_deadline() {
    let (mut k, s, c) = (FakeKernel::new(), MemStore::default(), FakeClock::default());
    let files = BTreeMap::new();
    // the previous ruleset: confirmed, with traffic on it
    let p1 = plan(SSH_WEB, Mode::Enforce);
    rollout::apply_confirm(
        &mut k,
        &s,
        &c,
        trial(&p1, SSH_WEB, &files, false),
        &mut no_guard(),
    )
    .unwrap();
    confirm_with_proof(&mut k, &s, &c);
    k.hit(T, "web", 11);
    // the candidate, on trial
    let p2 = plan(SSH, Mode::Enforce);
    let mut t = trial(&p2, SSH, &files, false);
    t.id = "trial-2".into();
    let on = rollout::apply_confirm(&mut k, &s, &c, t, &mut no_guard()).unwrap();
    assert_eq!(on.record.guard_pid, Some(4242));
    assert!(matches!(on.record.previous, Previous::Policy { .. }));
    assert!(!rules(&mut k).iter().any(|(n, _)| n == "web"));
    // the guard: waits, then rolls back at the deadline (the fake clock moves as it sleeps)
    let rec: Pending = s.read(Kind::Pending).unwrap().unwrap();
    let mut log = Vec::new();
    rollout::guard(&mut k, &s, &c, &rec, &mut |m| log.push(m.to_string())).unwrap();
    assert!(c.now_secs() >= rec.deadline);
    assert!(log.last().unwrap().starts_with("rolled back"), "{log:?}");
    assert!(
        rules(&mut k).contains(&("web".into(), 11)),
        "counters came back"
    );
    let r: RollbackRecord = s.read(Kind::Rollback).unwrap().unwrap();
    assert!(r.rolled_back);
    assert!(s.read::<Pending>(Kind::Pending).unwrap().is_none());
}

#[test]
fn a_confirmed_trial_stays_and_the_guard_stands_down() {
    let (mut k, s, c) = (FakeKernel::new(), MemStore::default(), FakeClock::default());
    let p = plan(SSH, Mode::Enforce);
    on_trial(&mut k, &s, &c, &p, SSH);
    let rec: Pending = s.read(Kind::Pending).unwrap().unwrap();
    // an old session proves nothing: refused when a new one is required, kept otherwise
    let e =
        rollout::confirm(&mut k, &s, &c, SessionAge::PredatesApply, "", true, false).unwrap_err();
    assert!(matches!(e, Error::Refused(_)), "{e:?}");
    // and without a NEW connection counted by the candidate's rules, no confirm at all
    let e = rollout::confirm(
        &mut k,
        &s,
        &c,
        SessionAge::OpenedAfterApply,
        "",
        false,
        false,
    )
    .unwrap_err();
    assert!(
        matches!(&e, Error::Refused(m) if m.contains("NEW connection")),
        "{e:?}"
    );
    new_ssh_connection(&mut k);
    let kept =
        rollout::confirm(&mut k, &s, &c, SessionAge::PredatesApply, "", false, false).unwrap();
    assert_eq!(kept.proof, 1);
    assert!(kept.unproven.is_some());
    let conf: Confirmed = s.read(Kind::Confirmed).unwrap().unwrap();
    assert_eq!(conf.fingerprint, identity::fingerprint(&p));
    let mut log = Vec::new();
    rollout::guard(&mut k, &s, &c, &rec, &mut |m| log.push(m.to_string())).unwrap();
    assert!(log[0].contains("exiting"), "{log:?}");
    assert_eq!(
        k.read_table(T).unwrap().unwrap().stored_fingerprint(),
        Some(conf.fingerprint.as_str())
    );
}

#[test]
fn a_rollback_never_overwrites_someone_elses_change() {
    let (mut k, s, c) = (FakeKernel::new(), MemStore::default(), FakeClock::default());
    let p = plan(SSH, Mode::Enforce);
    on_trial(&mut k, &s, &c, &p, SSH);
    k.tamper(T);
    let before = format!("{:?}", k.read_table(T).unwrap());
    let out = rollout::rollback(&mut k, &s, &c, None, None).unwrap();
    assert!(matches!(out, rollout::RolledBack::Refused(_)), "{out:?}");
    assert_eq!(format!("{:?}", k.read_table(T).unwrap()), before);
}

#[test]
fn a_damaged_or_deleted_pending_record_never_stops_the_guard() {
    for how in ["damage both", "delete both", "damage the first"] {
        let (mut k, s, c) = (FakeKernel::new(), MemStore::default(), FakeClock::default());
        let p = plan(SSH, Mode::Enforce);
        on_trial(&mut k, &s, &c, &p, SSH);
        let rec: Pending = s.read(Kind::Pending).unwrap().unwrap();
        match how {
            "damage both" => {
                s.damage(Kind::Pending, "{\"statewall_state\": 1, \"kind\": \"pend");
                s.damage(Kind::PendingCopy, "garbage");
            }
            "delete both" => {
                s.remove(Kind::Pending).unwrap();
                s.remove(Kind::PendingCopy).unwrap();
            }
            _ => s.damage(Kind::Pending, "{"),
        }
        let mut log = Vec::new();
        rollout::guard(&mut k, &s, &c, &rec, &mut |m| log.push(m.to_string())).unwrap();
        assert!(
            c.now_secs() >= rec.deadline,
            "{how}: waited for the deadline"
        );
        assert!(
            log.last().is_some_and(|l| l.starts_with("rolled back")),
            "{how}: {log:?}"
        );
        assert!(
            k.read_table(T).unwrap().is_none(),
            "{how}: back to no table"
        );
    }
}

#[test]
fn from_file_lists_travel_with_the_record_so_rollback_and_boot_compile_them() {
    let (mut k, s, c) = (FakeKernel::new(), MemStore::default(), FakeClock::default());
    let text = "[[allow]]\nname = \"ssh\"\ntcp = [22]\nfrom_file = \"nets.txt\"\n";
    let files: BTreeMap<String, String> = [(
        "nets.txt".to_string(),
        "192.0.2.0/24\n198.51.100.0/24\n".to_string(),
    )]
    .into();
    let loader = |n: &str| {
        files
            .get(n)
            .map(|t| std::sync::Arc::new((n.to_string(), t.clone())))
            .ok_or_else(|| "missing".to_string())
    };
    let (pol, d) = policy::parse_with(text, &loader);
    let p = compile::compile(&pol.unwrap_or_else(|| panic!("{d:?}")), T);
    rollout::apply_confirm(
        &mut k,
        &s,
        &c,
        trial(&p, text, &files, false),
        &mut no_guard(),
    )
    .unwrap();
    confirm_with_proof(&mut k, &s, &c);
    // a reboot: the table is gone; boot compiles the confirmed policy with its list
    k.tables.clear();
    let mut notes = Vec::new();
    let b = boot::boot(&mut k, &s, &c, T, &mut |n| notes.push(n)).unwrap();
    assert_eq!(b.fingerprint, identity::fingerprint(&p), "{notes:?}");
    let live = k.read_table(T).unwrap().unwrap();
    assert_eq!(live.sets[0].elements.as_ref().unwrap().len(), 2);
}

#[test]
fn boot_loads_the_accepted_policy_never_a_pending_one_and_else_the_safe_one() {
    let (mut k, s, c) = (FakeKernel::new(), MemStore::default(), FakeClock::default());
    let mut notes = Vec::new();
    let b = boot::boot(&mut k, &s, &c, T, &mut |n| notes.push(n)).unwrap();
    assert!(b.what.contains("built-in safe policy"), "{b:?}");
    let p = plan(SSH_WEB, Mode::Enforce);
    k.tables.clear();
    on_trial(&mut k, &s, &c, &p, SSH_WEB);
    // not confirmed: boot discards it and loads the safe policy again
    k.tables.clear();
    let b = boot::boot(&mut k, &s, &c, T, &mut |n| notes.push(n)).unwrap();
    assert!(b.what.contains("built-in safe policy"), "{b:?}");
    assert!(
        notes
            .iter()
            .any(|n| n.contains("discarding the unconfirmed change"))
    );
    assert!(s.read::<Pending>(Kind::Pending).unwrap().is_none());
    // a confirmed one that the kernel refuses: the safe policy after it
    s.write(
        Kind::Confirmed,
        &Confirmed {
            policy_text: SSH_WEB.into(),
            files: BTreeMap::new(),
            table: T.into(),
            mode: "enforce".into(),
            fingerprint: identity::fingerprint(&p),
            confirmed_at: c.now_secs(),
            ..Default::default()
        },
    )
    .unwrap();
    k.inject.push_back(Inject::Reject(libc::EINVAL));
    let b = boot::boot(&mut k, &s, &c, T, &mut |n| notes.push(n)).unwrap();
    assert!(b.what.contains("the confirmed one failed"), "{b:?}");
    let b = boot::boot(&mut k, &s, &c, T, &mut |n| notes.push(n)).unwrap();
    assert!(b.what.contains("last accepted policy"), "{b:?}");
}

/// The accepted record damaged: boot loads the newest revision that was accepted when it
/// was written, never a trial's (unconfirmed, then rolled back) nor a boot's; with no such
/// revision, or the record absent rather than damaged, the safe policy.
#[test]
fn a_damaged_accepted_record_boots_the_newest_accepted_revision_of_the_history() {
    let (mut k, s, c) = (FakeKernel::new(), MemStore::default(), FakeClock::default());
    let web = plan(SSH_WEB, Mode::Enforce);
    plain(&mut k, &s, SSH_WEB, Mode::Enforce).unwrap();
    // a trial of another policy, rolled back at its deadline: its revision is no candidate
    let p = plan(SSH, Mode::Enforce);
    on_trial(&mut k, &s, &c, &p, SSH);
    let rec = s.read::<Pending>(Kind::Pending).unwrap().unwrap();
    rollout::guard(&mut k, &s, &c, &rec, &mut |_| {}).unwrap();
    let mut notes = Vec::new();
    let reboot = |k: &mut FakeKernel, notes: &mut Vec<String>| {
        k.tables.clear();
        boot::boot(k, &s, &c, T, &mut |n| notes.push(n)).unwrap()
    };
    assert_eq!(
        reboot(&mut k, &mut notes).fingerprint,
        identity::fingerprint(&web)
    );
    s.damage(Kind::Confirmed, "{\"statewall_state\": 1, \"kin");
    let b = reboot(&mut k, &mut notes);
    assert_eq!(
        b.fingerprint,
        identity::fingerprint(&web),
        "{b:?} {notes:?}"
    );
    assert!(b.what.contains("newest accepted revision"), "{b:?}");
    assert!(notes.iter().any(|n| n.contains("is corrupt")), "{notes:?}");
    // the record is written again from it: the next boot reads it as before
    let b = reboot(&mut k, &mut notes);
    assert!(b.what.contains("last accepted policy"), "{b:?}");
    assert_eq!(b.fingerprint, identity::fingerprint(&web));
    // damaged again after boots' own revisions: still the accepted one, not a boot's
    s.damage(Kind::Confirmed, "garbage");
    let b = reboot(&mut k, &mut notes);
    assert!(b.what.contains("newest accepted revision"), "{b:?}");
    assert_eq!(b.fingerprint, identity::fingerprint(&web));
    // a history of trials and boots only, the record damaged: the safe policy
    s.damage(Kind::Confirmed, "garbage");
    s.history.borrow_mut().retain(|r| {
        !matches!(
            r.origin,
            crate::core::rollout::Origin::Apply
                | crate::core::rollout::Origin::Confirm
                | crate::core::rollout::Origin::Enforce
        )
    });
    assert!(
        reboot(&mut k, &mut notes)
            .what
            .contains("built-in safe policy")
    );
    // the record absent (not damaged), the history intact: nothing was accepted, the safe one
    let (mut k, s, c) = (FakeKernel::new(), MemStore::default(), FakeClock::default());
    plain(&mut k, &s, SSH_WEB, Mode::Enforce).unwrap();
    s.remove(Kind::Confirmed).unwrap();
    k.tables.clear();
    let b = boot::boot(&mut k, &s, &c, T, &mut |_| {}).unwrap();
    assert!(b.what.contains("built-in safe policy"), "{b:?}");
}

#[test]
fn an_apply_that_loses_a_race_reads_the_table_again_and_says_what_it_replaced() {
    let (mut k, s) = (FakeKernel::new(), MemStore::default());
    plain(&mut k, &s, SSH, Mode::Enforce).unwrap();
    // someone else commits between our read and our commit: we read again, and say so
    k.inject.push_back(Inject::Race);
    let a = plain(&mut k, &s, SSH_WEB, Mode::Enforce).unwrap();
    match a.outcome {
        apply::Outcome::Committed {
            replaced, carried, ..
        } => {
            // one rule more: patched in place (the table was read again after the race)
            assert!(
                matches!(replaced, apply::Replaced::Patched { rules: 1, .. }),
                "{replaced:?}"
            );
            assert!(carried > 0);
        }
        other => panic!("{other:?}"),
    }
    // the same plan again: nothing sent
    let commits = k.commits;
    let a = plain(&mut k, &s, SSH_WEB, Mode::Enforce).unwrap();
    assert!(
        matches!(a.outcome, apply::Outcome::Unchanged { .. }),
        "{a:?}"
    );
    assert_eq!(k.commits, commits);
    // and every apply recorded what boot loads
    let accepted: crate::core::rollout::Revision = s.read(Kind::Confirmed).unwrap().unwrap();
    assert_eq!(
        accepted.fingerprint,
        identity::fingerprint(&plan(SSH_WEB, Mode::Enforce))
    );
    assert_eq!(
        s.revisions().unwrap().len(),
        2,
        "an unchanged apply is no revision"
    );
}

#[test]
fn a_trial_whose_records_were_lost_is_rebuilt_from_the_history_and_rolled_back() {
    let (mut k, s, c) = (FakeKernel::new(), MemStore::default(), FakeClock::default());
    plain(&mut k, &s, SSH_WEB, Mode::Enforce).unwrap();
    let p = plan(SSH, Mode::Enforce);
    on_trial(&mut k, &s, &c, &p, SSH);
    assert!(
        rollout::lost_trial(&s, &c, T, None).is_none(),
        "the record is there"
    );
    // both copies gone, and no guard
    s.remove(Kind::Pending).unwrap();
    s.remove(Kind::PendingCopy).unwrap();
    let lost = rollout::lost_trial(&s, &c, T, None).expect("rebuilt");
    assert_eq!(lost.candidate.fingerprint, identity::fingerprint(&p));
    crate::core::usecase::write_pending(&s, &lost).unwrap();
    let mut log = Vec::new();
    rollout::guard(&mut k, &s, &c, &lost, &mut |m| log.push(m.to_string())).unwrap();
    assert!(rules(&mut k).iter().any(|(n, _)| n == "web"), "{log:?}");
    // rolled back: nothing is lost any more
    assert!(rollout::lost_trial(&s, &c, T, None).is_none());
    // a confirmed trial is not lost either
    on_trial(&mut k, &s, &c, &p, SSH);
    confirm_with_proof(&mut k, &s, &c);
    assert!(rollout::lost_trial(&s, &c, T, None).is_none());
}

#[test]
fn plan_compares_by_the_check_apply_makes_to_send_nothing() {
    let (mut k, s) = (FakeKernel::new(), MemStore::default());
    let web = plan(SSH_WEB, Mode::Enforce);
    assert!(matches!(
        apply::compare(&mut k, &web).unwrap(),
        apply::Comparison::Absent
    ));
    plain(&mut k, &s, SSH_WEB, Mode::Enforce).unwrap();
    assert!(matches!(
        apply::compare(&mut k, &web).unwrap(),
        apply::Comparison::Same
    ));
    // when compare says Same, an apply sends nothing; otherwise it commits
    let commits = k.commits;
    plain(&mut k, &s, SSH_WEB, Mode::Enforce).unwrap();
    assert_eq!(k.commits, commits);
    for other in [plan(SSH, Mode::Enforce), plan(SSH_WEB, Mode::Audit)] {
        assert!(matches!(
            apply::compare(&mut k, &other).unwrap(),
            apply::Comparison::Differs(_)
        ));
    }
    k.tamper(T);
    assert!(matches!(
        apply::compare(&mut k, &web).unwrap(),
        apply::Comparison::Differs(_)
    ));
    // a table of that name statewall did not make
    k.tables.get_mut(T).unwrap().comment = Some("firewalld".into());
    assert!(matches!(
        apply::compare(&mut k, &web).unwrap(),
        apply::Comparison::Foreign(_)
    ));
}

#[test]
fn every_rollback_done_is_counted_by_its_reason_and_a_refused_one_apart() {
    use crate::core::rollout::RollbackCounts;
    let (mut k, s, c) = (FakeKernel::new(), MemStore::default(), FakeClock::default());
    let counts = |s: &MemStore| {
        s.read::<RollbackCounts>(Kind::Rollbacks)
            .unwrap()
            .unwrap_or_default()
            .by_reason
    };
    let p = plan(SSH, Mode::Enforce);
    // `statewall rollback` within the window
    on_trial(&mut k, &s, &c, &p, SSH);
    let out = rollout::rollback(&mut k, &s, &c, None, None).unwrap();
    assert!(matches!(out, rollout::RolledBack::Done(_)), "{out:?}");
    assert_eq!(counts(&s), BTreeMap::from([("requested".into(), 1)]));
    // the guard at the deadline
    on_trial(&mut k, &s, &c, &p, SSH);
    let rec: Pending = s.read(Kind::Pending).unwrap().unwrap();
    rollout::guard(&mut k, &s, &c, &rec, &mut |_| {}).unwrap();
    assert_eq!(
        counts(&s),
        BTreeMap::from([("deadline".into(), 1), ("requested".into(), 1)])
    );
    let refused = |s: &MemStore| {
        s.read::<RollbackCounts>(Kind::Rollbacks)
            .unwrap()
            .unwrap_or_default()
            .refused
    };
    assert_eq!(refused(&s), 0);
    // refused (someone else changed the table): nothing rolled back, so no reason counted;
    // counted as refused, which a scrape shows (the candidate stayed live)
    on_trial(&mut k, &s, &c, &p, SSH);
    k.tamper(T);
    let out = rollout::rollback(&mut k, &s, &c, None, None).unwrap();
    assert!(matches!(out, rollout::RolledBack::Refused(_)), "{out:?}");
    assert_eq!(counts(&s).values().sum::<u64>(), 2);
    assert_eq!(refused(&s), 1);
    let build = crate::core::usecase::metrics::Build {
        version: "0",
        commit: "x",
    };
    let (scrape, _) = crate::core::usecase::metrics::scrape(&mut k, &s, T, &build);
    assert_eq!(scrape.rollbacks_refused, Some(1));
    // nothing pending any more: a second rollback is nothing, not another refusal
    let out = rollout::rollback(&mut k, &s, &c, None, None).unwrap();
    assert!(matches!(out, rollout::RolledBack::Nothing(_)), "{out:?}");
    assert_eq!(refused(&s), 1);
}
