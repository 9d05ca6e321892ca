//! Live sets on the fake kernel, store and clock: `set add|del`, the lockout check, and
//! members that survive apply, enforce, a rollback and a reboot.

use std::collections::BTreeMap;
use std::net::IpAddr;

use crate::core::fake::{FakeClock, FakeKernel, Inject, MemStore};
use crate::core::kernel::Kernel;
use crate::core::model::{Cidr, Mode};
use crate::core::plan::Plan;
use crate::core::policy::parse_member;
use crate::core::usecase::sets::{self, SetRequest};
use crate::core::usecase::{Error, apply, boot, enforce, rollout};
use crate::core::{compile, policy};

const T: &str = "statewall";
const BANS: &str = "[[set]]\nname = \"banned\"\ntimeout = \"1h\"\n\n[[set]]\nname = \"friends\"\n\n\
[[block]]\nname = \"bans\"\nfrom_set = \"banned\"\n\n\
[[allow]]\nname = \"ssh\"\ntcp = [22]\n\n\
[[allow]]\nname = \"admin\"\ntcp = [8443]\nfrom_set = \"friends\"\n";

fn plan(text: &str, mode: Mode) -> Plan {
    let (p, d) = policy::parse(text);
    let mut p = p.unwrap_or_else(|| panic!("{d:?}"));
    p.mode = mode;
    compile::compile(&p, T)
}

fn apply_text(k: &mut FakeKernel, s: &MemStore, c: &FakeClock, text: &str) {
    let p = plan(text, Mode::Enforce);
    let files = BTreeMap::new();
    let req = apply::Request {
        plan: &p,
        text,
        files: &files,
        audit_flag: false,
        sshd_ports: &[],
    };
    apply::apply(k, s, c, &req).unwrap();
}

fn nets(list: &[&str]) -> Vec<Cidr> {
    list.iter().map(|s| parse_member(s).unwrap()).collect()
}

/// How a test adds: the lifetime, the admin's addresses, --force.
type Opts<'a> = (Option<u64>, &'a [IpAddr], bool);

fn add(
    k: &mut FakeKernel,
    s: &MemStore,
    c: &FakeClock,
    set: &str,
    list: &[&str],
    (timeout, admin, force): Opts<'_>,
) -> Result<sets::SetChanged, Error> {
    let add = nets(list);
    sets::change(
        k,
        s,
        c,
        &SetRequest {
            table: T,
            set,
            add: &add,
            del: &[],
            timeout,
            force,
            admin_peers: admin,
        },
    )
}

fn del(
    k: &mut FakeKernel,
    s: &MemStore,
    c: &FakeClock,
    set: &str,
    list: &[&str],
) -> sets::SetChanged {
    let del = nets(list);
    sets::change(
        k,
        s,
        c,
        &SetRequest {
            table: T,
            set,
            add: &[],
            del: &del,
            timeout: None,
            force: false,
            admin_peers: &[],
        },
    )
    .unwrap()
}

/// The members of a live set now: (member, seconds left).
fn members(k: &mut FakeKernel, set: &str) -> Vec<(String, Option<u64>)> {
    let (list, _) = sets::list(k, T, set).unwrap();
    list.iter()
        .map(|m| (m.net.to_string(), m.expires_ms.map(|ms| ms.div_ceil(1000))))
        .collect()
}

#[test]
fn set_add_and_del_change_only_elements_and_keep_every_counter() {
    let (mut k, s, c) = (FakeKernel::new(), MemStore::default(), FakeClock::default());
    apply_text(&mut k, &s, &c, BANS);
    k.hit(T, "ssh", 7);
    let handles = |k: &mut FakeKernel| -> Vec<u64> {
        let t = k.read_table(T).unwrap().unwrap();
        t.chains
            .iter()
            .flat_map(|c| c.rules.iter().map(|r| r.handle))
            .collect()
    };
    let before = handles(&mut k);
    let g = k.generation;
    let done = add(
        &mut k,
        &s,
        &c,
        "banned",
        &["203.0.113.7", "2001:db8::/64"],
        (Some(600), &[], false),
    )
    .unwrap();
    assert_eq!((done.added, done.generation), (2, g + 1));
    // no default given: the set's own (1h) becomes explicit
    add(
        &mut k,
        &s,
        &c,
        "banned",
        &["198.51.100.0/24"],
        (None, &[], false),
    )
    .unwrap();
    assert_eq!(
        members(&mut k, "banned"),
        [
            ("198.51.100.0/24".to_string(), Some(3600)),
            ("203.0.113.7".to_string(), Some(600)),
            ("2001:db8::/64".to_string(), Some(600)),
        ]
    );
    assert_eq!(handles(&mut k), before, "no rule was replaced");
    let t = k.read_table(T).unwrap().unwrap();
    let ssh = t.chains[0]
        .rules
        .iter()
        .find(|r| r.comment.as_deref() == Some("ssh"))
        .unwrap();
    assert_eq!(ssh.packets, 7);
    // a member that is not there is reported, not an error; the rest are deleted
    let d = del(&mut k, &s, &c, "banned", &["203.0.113.7", "192.0.2.1"]);
    assert_eq!((d.deleted, d.absent.clone()), (1, nets(&["192.0.2.1"])));
    assert_eq!(members(&mut k, "banned").len(), 2);
    // the journal says the same
    let (ops, _) = crate::core::store::Store::read_members(&s).unwrap();
    let replayed = crate::core::members::replay(&ops, c.realtime_ms.get());
    assert_eq!(replayed["live4_banned"].len(), 1);
    assert_eq!(replayed["live6_banned"].len(), 1);
}

#[test]
fn adding_the_admins_own_address_to_a_blocking_set_is_refused_unless_forced() {
    let (mut k, s, c) = (FakeKernel::new(), MemStore::default(), FakeClock::default());
    apply_text(&mut k, &s, &c, BANS);
    let me: IpAddr = "198.51.100.23".parse().unwrap();
    let g = k.generation;
    let e = add(
        &mut k,
        &s,
        &c,
        "banned",
        &["198.51.100.0/24"],
        (None, &[me], false),
    )
    .unwrap_err();
    assert!(
        matches!(&e, Error::Refused(m) if m.contains("198.51.100.23") && m.contains("--force")),
        "{e:?}"
    );
    assert_eq!(k.generation, g, "nothing was sent");
    // an allowlist does not block: no question asked
    add(
        &mut k,
        &s,
        &c,
        "friends",
        &["198.51.100.23"],
        (None, &[me], false),
    )
    .unwrap();
    add(
        &mut k,
        &s,
        &c,
        "banned",
        &["198.51.100.0/24"],
        (None, &[me], true),
    )
    .unwrap();
    assert_eq!(members(&mut k, "banned").len(), 1);
}

#[test]
fn unknown_sets_overlaps_and_races_are_answered() {
    let (mut k, s, c) = (FakeKernel::new(), MemStore::default(), FakeClock::default());
    let e = add(&mut k, &s, &c, "banned", &["192.0.2.1"], (None, &[], false)).unwrap_err();
    assert!(matches!(e, Error::NoTable(_)), "{e:?}");
    apply_text(&mut k, &s, &c, BANS);
    let e = add(&mut k, &s, &c, "bannd", &["192.0.2.1"], (None, &[], false)).unwrap_err();
    assert!(
        matches!(&e, Error::Usage(m) if m.contains("banned, friends")),
        "{e:?}"
    );
    // a name of 128 KiB (a mistyped argument) is cut in the answer, not echoed whole
    let long = "x".repeat(128 << 10);
    let e = add(&mut k, &s, &c, &long, &["192.0.2.1"], (None, &[], false)).unwrap_err();
    assert!(
        matches!(&e, Error::Usage(m) if m.len() < 400 && m.contains("banned, friends")),
        "{e:?}"
    );
    add(
        &mut k,
        &s,
        &c,
        "banned",
        &["192.0.2.0/24"],
        (None, &[], false),
    )
    .unwrap();
    let g = k.generation;
    let e = add(&mut k, &s, &c, "banned", &["192.0.2.9"], (None, &[], false)).unwrap_err();
    assert!(
        matches!(&e, Error::Refused(m) if m.contains("overlaps 192.0.2.0/24")),
        "{e:?}"
    );
    assert_eq!(k.generation, g);
    // someone else commits between the read and the batch: read again, commit once
    k.inject.push_back(Inject::Race);
    add(
        &mut k,
        &s,
        &c,
        "banned",
        &["203.0.113.1"],
        (None, &[], false),
    )
    .unwrap();
    assert_eq!(members(&mut k, "banned").len(), 2);
}

#[test]
fn members_survive_apply_enforce_rollback_and_reboot_with_what_is_left_of_them() {
    let (mut k, s, c) = (FakeKernel::new(), MemStore::default(), FakeClock::default());
    apply_text(&mut k, &s, &c, BANS);
    add(
        &mut k,
        &s,
        &c,
        "banned",
        &["203.0.113.7"],
        (Some(600), &[], false),
    )
    .unwrap();
    add(
        &mut k,
        &s,
        &c,
        "banned",
        &["2001:db8::/64"],
        (Some(60), &[], false),
    )
    .unwrap();
    add(
        &mut k,
        &s,
        &c,
        "friends",
        &["192.0.2.10"],
        (None, &[], false),
    )
    .unwrap();
    // 10 minutes… no: 50 s pass
    c.advance_ms(50_000);
    k.expire(50_000);
    // a changed policy: the table is replaced, the members come along
    let changed = BANS.replace("tcp = [22]", "tcp = [22, 2222]");
    apply_text(&mut k, &s, &c, &changed);
    let want = vec![
        ("203.0.113.7".to_string(), Some(550)),
        ("2001:db8::/64".to_string(), Some(10)),
    ];
    assert_eq!(members(&mut k, "banned"), want);
    assert_eq!(
        members(&mut k, "friends"),
        [("192.0.2.10".to_string(), None)]
    );
    // enforce (audit first)
    let audit = plan(&changed, Mode::Audit);
    let files = BTreeMap::new();
    apply::apply(
        &mut k,
        &s,
        &c,
        &apply::Request {
            plan: &audit,
            text: &changed,
            files: &files,
            audit_flag: true,
            sshd_ports: &[],
        },
    )
    .unwrap();
    assert_eq!(members(&mut k, "banned"), want);
    let v = crate::core::usecase::Validated {
        policy: policy::parse(&changed).0.unwrap(),
        text: changed.clone(),
        files: files.clone(),
        source: "t.toml".into(),
    };
    let checked = enforce::check(
        &mut k,
        T,
        &v.policy,
        &crate::core::lint::Facts::default(),
        true,
    )
    .unwrap()
    .0;
    enforce::commit(&mut k, &s, &c, &checked, &v, &[]).unwrap();
    assert_eq!(members(&mut k, "banned"), want);
    // a trial, and its rollback: the members added during the trial are kept
    let p = plan(BANS, Mode::Enforce);
    let trial = rollout::Trial {
        table: T,
        plan: &p,
        text: BANS,
        files: &files,
        mode: "enforce",
        source: "t.toml",
        carry_counters: false,
        secs: 60,
        netns: None,
        id: "t1".into(),
        sshd_ports: &[],
    };
    rollout::apply_confirm(&mut k, &s, &c, trial, &mut |_| Ok(4242)).unwrap();
    add(
        &mut k,
        &s,
        &c,
        "banned",
        &["192.0.2.66"],
        (None, &[], false),
    )
    .unwrap();
    rollout::rollback(&mut k, &s, &c, None, None).unwrap();
    assert_eq!(members(&mut k, "banned").len(), 3);
    // a reboot: the kernel forgets; 20 s pass; boot brings back what is left
    k.tables.clear();
    c.advance_ms(20_000);
    boot::boot(&mut k, &s, &c, T, &mut |_| {}).unwrap();
    let after = members(&mut k, "banned");
    assert_eq!(
        after,
        [
            ("192.0.2.66".to_string(), Some(3580)),
            ("203.0.113.7".to_string(), Some(530)),
        ],
        "the /64 had 10 s left: gone"
    );
    assert_eq!(
        members(&mut k, "friends"),
        [("192.0.2.10".to_string(), None)]
    );
}

#[test]
fn a_patch_the_kernel_refuses_becomes_a_whole_table_replace() {
    let (mut k, s, c) = (FakeKernel::new(), MemStore::default(), FakeClock::default());
    let text = |last: &str| {
        format!(
            "[[allow]]\nname = \"web\"\ntcp = [80]\nfrom = [\"192.0.2.1\", \"192.0.2.2\", \"{last}\"]\n"
        )
    };
    apply_text(&mut k, &s, &c, &text("192.0.2.3"));
    // someone else deletes the element the next apply would delete
    let t = k.tables.get_mut(T).unwrap();
    let set = t.sets.iter_mut().find(|s| s.name == "addr4_web").unwrap();
    set.elements
        .as_mut()
        .unwrap()
        .retain(|e| e.0.to_string() != "192.0.2.3");
    let p = plan(&text("192.0.2.4"), Mode::Enforce);
    let t2 = text("192.0.2.4");
    let files = BTreeMap::new();
    let a = apply::apply(
        &mut k,
        &s,
        &c,
        &apply::Request {
            plan: &p,
            text: &t2,
            files: &files,
            audit_flag: false,
            sshd_ports: &[],
        },
    )
    .unwrap();
    assert!(
        matches!(
            &a.outcome,
            apply::Outcome::Committed {
                replaced: apply::Replaced::Drifted(_),
                ..
            }
        ),
        "{a:?}"
    );
    assert_eq!(k.patches, 0);
    let live = k.read_table(T).unwrap().unwrap();
    let set = live.sets.iter().find(|s| s.name == "addr4_web").unwrap();
    let els: Vec<String> = set
        .elements
        .as_ref()
        .unwrap()
        .iter()
        .map(|e| e.0.to_string())
        .collect();
    assert_eq!(els, ["192.0.2.1", "192.0.2.2", "192.0.2.4"]);
}
