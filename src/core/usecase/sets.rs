//! Live sets: `statewall set add|del|list`, and the members every table replace carries.
//!
//! A live set (`[[set]]`) is two kernel sets, `live4_<name>` and `live6_<name>`. Adding or
//! deleting members is one small batch of element messages, conditional on the generation
//! id: never a table replace, every counter untouched. Each change is appended to the
//! state directory's members journal, so that boot brings members back after a reboot;
//! every replace of the table (apply, enforce, a trial, a rollback, boot) carries what the
//! kernel holds in the same batch, with what is left of each member's lifetime.

use std::net::IpAddr;

use crate::core::kernel::{Change, Committed, Kernel, KernelError, ON_RACE, RaceOr, SetEdit};
use crate::core::live::LiveTable;
use crate::core::members::{self, MemberOp};
use crate::core::model::Cidr;
use crate::core::plan::{Member, Members, Plan, SetKind, Verdict, set_of};
use crate::core::store::{Clock, Store};
use crate::core::usecase::{Error, state_err};

/// A journal past this size is rewritten as a snapshot by the next `set add`/`set del`.
const JOURNAL_COMPACT_BYTES: u64 = 16 << 20;

/// The members a replace of `live` by `plan` carries: for each live set of the plan, what
/// the kernel holds now; when the kernel has no such set (after a reboot, or with the table
/// removed), what the journal says is left of it.
pub fn carried<S: Store, C: Clock>(
    live: Option<&LiveTable>,
    plan: &Plan,
    store: &S,
    clock: &C,
) -> Members {
    let mut out = Members::new();
    let wanted: Vec<&str> = plan
        .sets
        .iter()
        .filter(|s| s.kind.live())
        .map(|s| s.name.as_str())
        .collect();
    if wanted.is_empty() {
        return out;
    }
    let mut journal: Option<Members> = None;
    for name in wanted {
        let in_kernel = live
            .and_then(|t| t.sets.iter().find(|s| s.name == name))
            .filter(|s| s.elements.is_ok());
        let list = match in_kernel {
            Some(s) => s.members(),
            None => {
                let j = journal.get_or_insert_with(|| match store.read_members() {
                    Ok((ops, _)) => {
                        let (m, dropped) = members::replay_counting(&ops, clock.realtime_ms());
                        if dropped > 0 {
                            tracing::warn!(
                                "{dropped} member(s) of the members journal were left out: a lifetime past the kernel's range or a network overlapping one kept (no `set add` makes either: the journal was damaged)"
                            );
                        }
                        m
                    }
                    Err(e) => {
                        tracing::warn!("the members journal could not be read: {e}");
                        Members::new()
                    }
                });
                j.get(name).cloned().unwrap_or_default()
            }
        };
        out.insert(name.to_string(), list);
    }
    out
}

/// After a replace that carried `members`: the journal becomes exactly that (which also
/// keeps it compact, and drops sets the plan no longer has).
pub fn record_carried<S: Store, C: Clock>(store: &S, clock: &C, carried: &Members) {
    let keep = !carried.is_empty() || store.read_members().is_ok_and(|(ops, _)| !ops.is_empty());
    if !keep {
        return;
    }
    if let Err(e) = store.rewrite_members(&members::snapshot(carried, clock.realtime_ms())) {
        tracing::warn!("the members journal could not be written: {e}");
    }
}

/// Whether `plan` has live sets (a replace must then read what they hold).
pub fn has_live_sets(plan: &Plan) -> bool {
    plan.sets.iter().any(|s| s.kind.live())
}

/// A replace of the table by `plan`, conditional on the generation read first, carrying
/// the live sets' members read after it (so no member added in between is lost: a change
/// in between moves the generation and the batch is refused and tried again). The
/// journal is rewritten to what was carried.
pub fn replace_carrying<K: Kernel, S: Store, C: Clock>(
    k: &mut K,
    store: &S,
    clock: &C,
    plan: &Plan,
    seeds: &crate::core::identity::Seeds,
) -> Result<(u32, Committed), Error> {
    let (before, committed, carried) = ON_RACE.run(|_| -> Result<_, RaceOr<Error>> {
        let before = k.generation()?;
        let carried = if has_live_sets(plan) {
            let live = k.read_table(&plan.table)?;
            carried(live.as_ref(), plan, store, clock)
        } else {
            Members::new()
        };
        let change = Change::Replace {
            plan,
            seeds,
            members: &carried,
        };
        let committed = k.commit(change, before).map_err(RaceOr::from)?;
        Ok((before, committed, carried))
    })?;
    record_carried(store, clock, &carried);
    Ok((before, committed))
}

/// What `statewall set add|del` asks.
pub struct SetRequest<'a> {
    pub table: &'a str,
    /// the live set's name in the policy (`banned`)
    pub set: &'a str,
    pub add: &'a [Cidr],
    pub del: &'a [Cidr],
    /// lifetime of the added members, seconds; None = the set's default (or until deleted)
    pub timeout: Option<u64>,
    /// add to a blocking set even what covers the admin's own SSH connection
    pub force: bool,
    /// the peers of established connections to sshd (the admin's own among them)
    pub admin_peers: &'a [IpAddr],
}

/// What a members change did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SetChanged {
    pub added: usize,
    pub deleted: usize,
    /// deletions of members that were not there (nothing to do for them)
    pub absent: Vec<Cidr>,
    /// additions of members already there (kept as they were)
    pub present: Vec<Cidr>,
    pub generation: u32,
}

/// How the live set `set` is used by the live table's rules.
struct SetUse {
    found: bool,
    /// a rule drops or rejects what it holds
    blocking: bool,
    /// it holds single addresses only (`networks = false`: hash sets `ip4_`/`ip6_`)
    hosts: bool,
}

fn live_set_use(t: &LiveTable, set: &str) -> SetUse {
    let mut u = SetUse {
        found: false,
        blocking: false,
        hosts: false,
    };
    for c in &t.chains {
        for r in &c.rules {
            let Ok(rule) = &r.rule else { continue };
            for m in &rule.matches {
                let Some(name) = set_of(rule, m) else {
                    continue;
                };
                if crate::core::plan::live_set_of(&name) != Some(set) {
                    continue;
                }
                u.found = true;
                u.hosts |= name.starts_with("ip");
                u.blocking |= matches!(
                    rule.verdict,
                    Verdict::Drop
                        | Verdict::RejectTcpReset
                        | Verdict::RejectIcmpx(_)
                        | Verdict::RejectIcmp { .. }
                );
            }
        }
    }
    u
}

/// The live sets a table's rules look up, by policy name.
fn live_set_names(t: &LiveTable) -> Vec<String> {
    let mut names: Vec<String> = t
        .chains
        .iter()
        .flat_map(|c| &c.rules)
        .filter_map(|r| r.rule.as_ref().ok())
        .flat_map(|rule| rule.matches.iter().filter_map(|m| set_of(rule, m)))
        .filter_map(|n| crate::core::plan::live_set_of(&n).map(str::to_string))
        .collect();
    names.sort();
    names.dedup();
    names
}

/// The kernel set of live set `set` that holds `net`, and its kind.
fn kernel_set(set: &str, net: &Cidr, hosts: bool) -> (String, SetKind) {
    kernel_set_of(set, matches!(net, Cidr::V6(..)), hosts)
}

/// The kernel set of live set `set` for one family (`v6`), and its kind.
fn kernel_set_of(set: &str, v6: bool, hosts: bool) -> (String, SetKind) {
    let kind = match (v6, hosts) {
        (false, false) => SetKind::Live4,
        (true, false) => SetKind::Live6,
        (false, true) => SetKind::LiveHost4,
        (true, true) => SetKind::LiveHost6,
    };
    (crate::core::plan::set_name(kind, set), kind)
}

/// The edits of a request, one per kernel set touched (IPv4 first).
fn edits(set: &str, hosts: bool, add: &[Member], del: &[Cidr]) -> Vec<SetEdit> {
    let mut out: Vec<SetEdit> = Vec::new();
    let mut entry = |net: &Cidr| -> usize {
        let (name, kind) = kernel_set(set, net, hosts);
        match out.iter().position(|e| e.set == name) {
            Some(i) => i,
            None => {
                out.push(SetEdit {
                    set: name,
                    kind,
                    add: Vec::new(),
                    del: Vec::new(),
                });
                out.len() - 1
            }
        }
    };
    let mut plan: Vec<(usize, Option<Member>, Option<Cidr>)> = Vec::new();
    for m in add {
        plan.push((entry(&m.net), Some(*m), None));
    }
    for d in del {
        plan.push((entry(d), None, Some(*d)));
    }
    for (i, a, d) in plan {
        if let Some(a) = a {
            out[i].add.push(a);
        }
        if let Some(d) = d {
            out[i].del.push(d);
        }
    }
    out.sort_by_key(|e| e.kind as u8);
    out
}

/// `statewall set add|del`: one batch of element messages for the live set's kernel sets,
/// conditional on the generation id; then the journal. Adding what covers the admin's own
/// SSH connection to a set that drops or rejects is refused unless `force`.
pub fn change<K: Kernel, S: Store, C: Clock>(
    k: &mut K,
    store: &S,
    clock: &C,
    req: &SetRequest<'_>,
) -> Result<SetChanged, Error> {
    let _lock = store.lock().map_err(state_err)?;
    let rules = k.read_rules(req.table)?.ok_or_else(|| {
        Error::NoTable(format!(
            "no table inet {} here: apply a policy with a [[set]] first",
            req.table
        ))
    })?;
    crate::core::usecase::apply::refuse_foreign(Some(&rules))?;
    let SetUse {
        found,
        blocking,
        hosts,
    } = live_set_use(&rules, req.set);
    if !found {
        let names = live_set_names(&rules);
        let known = if names.is_empty() {
            "it has no live sets (declare one with [[set]] and use it with from_set)".to_string()
        } else {
            format!("its live sets are {}", names.join(", "))
        };
        // the name as typed, cut: a mistyped argument may be 128 KiB
        return Err(Error::Usage(format!(
            "no live set \"{}\" in table inet {}: {known}",
            crate::core::diag::shorten(req.set, 80),
            req.table
        )));
    }
    if hosts
        && let Some(net) = req
            .add
            .iter()
            .chain(req.del)
            .find(|n| !matches!(n, Cidr::V4(_, 32) | Cidr::V6(_, 128)))
    {
        return Err(Error::Usage(format!(
            "{net} is a network, and \"{}\" holds single addresses (networks = false in its [[set]]): add its addresses one by one, or let the set take networks",
            req.set
        )));
    }
    if blocking && !req.force {
        for net in req.add {
            if let Some(peer) = req.admin_peers.iter().find(|p| net.contains(**p)) {
                return Err(Error::Refused(format!(
                    "refusing to add {net} to \"{}\": it holds {peer}, the source of an open SSH connection to this host \
                     (probably yours), and a rule drops or rejects what the set holds: you would lock yourself out. \
                     Pass --force if that is really meant",
                    req.set
                )));
            }
        }
    }
    // without --timeout the set's default applies: made explicit, so that the journal
    // knows when each member ends
    let timeout = match req.timeout {
        Some(t) => Some(t),
        None => k.set_timeout(req.table, &kernel_set_of(req.set, false, hosts).0)?,
    };
    let expires_ms = timeout.map(|s| s.saturating_mul(1000));
    let mut add: Vec<Member> = req
        .add
        .iter()
        .map(|&net| Member { net, expires_ms })
        .collect();
    let mut del: Vec<Cidr> = req.del.to_vec();
    let mut absent = Vec::new();
    let mut present = Vec::new();
    let generation = match commit_edits(k, req.table, req.set, hosts, &add, &del) {
        Ok(g) => g,
        // a member to delete is not there, or one to add overlaps another: find which
        // (reading the members: the slow path), leave those out, and try again
        Err(Error::Kernel(KernelError::Rejected { errno, .. }))
            if errno == libc::ENOENT || errno == libc::EEXIST || errno == libc::ENOTEMPTY =>
        {
            let live = k.read_table(req.table)?;
            // each kernel set's members read and sorted once, not once per member asked
            // about (40,000 deletions from a set of 40,000 were 1.6 billion copies: 5.4 s)
            let held_in = |name: &str| -> Held {
                Held::of(
                    live.as_ref()
                        .and_then(|t| t.sets.iter().find(|s| s.name == name))
                        .map(|s| s.members().into_iter().map(|m| m.net).collect())
                        .unwrap_or_default(),
                )
            };
            let [v4, v6] = [false, true].map(|v6| held_in(&kernel_set_of(req.set, v6, hosts).0));
            let holds = |net: &Cidr| -> &Held {
                match net {
                    Cidr::V4(..) => &v4,
                    Cidr::V6(..) => &v6,
                }
            };
            let (keep, gone): (Vec<Cidr>, Vec<Cidr>) = del.iter().partition(|d| holds(d).has(d));
            absent = gone;
            del = keep;
            let mut kept = Vec::new();
            for m in &add {
                let members = holds(&m.net);
                if let Some(other) = members.overlap(&m.net) {
                    return Err(Error::Refused(format!(
                        "{} overlaps {other}, already in \"{}\": delete that first ({}); nothing was changed",
                        m.net,
                        req.set,
                        store.command(&format!("set del {} {other}", req.set))
                    )));
                }
                if members.has(&m.net) {
                    present.push(m.net);
                }
                kept.push(*m);
            }
            add = kept;
            commit_edits(k, req.table, req.set, hosts, &add, &del)?
        }
        Err(e) => return Err(e),
    };
    journal(store, clock, req.set, hosts, &add, &del).map_err(|e| {
        Error::Refused(format!(
            "the members were changed in the kernel, but recording them for boot failed: {e}; a reboot would lose this change (run the command again once the state directory is writable)"
        ))
    })?;
    Ok(SetChanged {
        added: add.len(),
        deleted: del.len(),
        absent,
        present,
        generation,
    })
}

/// A kernel set's members as networks, sorted by (first, last) address: whether one is
/// there, and which one overlaps a network, in O(log n) each.
struct Held(Vec<(u128, u128, Cidr)>);

impl Held {
    fn of(nets: Vec<Cidr>) -> Held {
        let mut v: Vec<(u128, u128, Cidr)> = nets
            .into_iter()
            .map(|n| {
                let (_, lo, hi) = n.interval();
                (lo, hi, n)
            })
            .collect();
        v.sort_unstable_by_key(|&(lo, hi, _)| (lo, hi));
        Held(v)
    }

    fn has(&self, net: &Cidr) -> bool {
        let (_, lo, hi) = net.interval();
        self.0
            .binary_search_by_key(&(lo, hi), |&(l, h, _)| (l, h))
            .is_ok()
    }

    /// A member other than `net` that covers it or that it covers (two networks overlap
    /// only so): the widest that covers it first, else the lowest inside it.
    fn overlap(&self, net: &Cidr) -> Option<Cidr> {
        let (_, lo, hi) = net.interval();
        let (len, bits) = match net {
            Cidr::V4(_, l) => (*l, 32),
            Cidr::V6(_, l) => (*l, 128),
        };
        for l in 0..len {
            let first = lo & Cidr::mask(l, bits);
            let last = first | (!Cidr::mask(l, bits) & Cidr::mask(bits as u8, bits));
            if let Ok(i) = self
                .0
                .binary_search_by_key(&(first, last), |&(a, b, _)| (a, b))
            {
                return Some(self.0[i].2);
            }
        }
        let from = self.0.partition_point(|&(l, _, _)| l < lo);
        self.0[from..]
            .iter()
            .take_while(|&&(l, _, _)| l <= hi)
            .find(|&&(_, _, n)| n != *net)
            .map(|&(_, _, n)| n)
    }
}

/// One batch of member edits against the generation read just before (again when someone
/// else committed in between); the generation after it. Nothing to do sends nothing.
fn commit_edits<K: Kernel>(
    k: &mut K,
    table: &str,
    set: &str,
    hosts: bool,
    add: &[Member],
    del: &[Cidr],
) -> Result<u32, Error> {
    let batch = edits(set, hosts, add, del);
    ON_RACE.run(|_| -> Result<u32, RaceOr<Error>> {
        let before = k.generation()?;
        if batch.is_empty() {
            return Ok(before);
        }
        let change = Change::Members {
            table,
            edits: &batch,
        };
        Ok(k.commit(change, before).map_err(RaceOr::from)?.generation)
    })
}

/// Appends a committed change to the journal (compacting it when it has grown large). An
/// append that fails is the caller's error: the change is live, and a reboot would lose it.
fn journal<S: Store, C: Clock>(
    store: &S,
    clock: &C,
    set: &str,
    hosts: bool,
    add: &[Member],
    del: &[Cidr],
) -> Result<(), crate::core::store::StoreError> {
    let now_s = clock.realtime_ms() / 1000;
    let mut ops = Vec::with_capacity(add.len() + del.len());
    for d in del {
        ops.push(MemberOp::Del {
            set: kernel_set(set, d, hosts).0,
            net: *d,
        });
    }
    for m in add {
        ops.push(MemberOp::Add {
            set: kernel_set(set, &m.net, hosts).0,
            net: m.net,
            expires_at: m.expires_ms.map(|ms| now_s + ms.div_ceil(1000)),
        });
    }
    store.append_members(&ops)?;
    if store.members_bytes() > JOURNAL_COMPACT_BYTES
        && let Ok((all, _)) = store.read_members()
    {
        let now = clock.realtime_ms();
        let _ = store.rewrite_members(&members::snapshot(&members::replay(&all, now), now));
    }
    Ok(())
}

/// One member as `set list` shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Listed {
    pub net: Cidr,
    pub packets: u64,
    pub bytes: u64,
    pub expires_ms: Option<u64>,
}

/// `statewall set list NAME`: the members of both kernel sets, with counters and what is
/// left of their lifetimes; and the set's default timeout.
pub fn list<K: Kernel>(
    k: &mut K,
    table: &str,
    set: &str,
) -> Result<(Vec<Listed>, Option<u64>), Error> {
    let live = k.read_table(table)?.ok_or_else(|| {
        Error::NoTable(format!(
            "no table inet {table} here: apply a policy with a [[set]] first"
        ))
    })?;
    crate::core::usecase::apply::refuse_foreign(Some(&live))?;
    let SetUse { found, hosts, .. } = live_set_use(&live, set);
    if !found {
        let names = live_set_names(&live);
        return Err(Error::Usage(format!(
            "no live set \"{}\" in table inet {table} (its live sets: {})",
            crate::core::diag::shorten(set, 80),
            if names.is_empty() {
                "none".to_string()
            } else {
                names.join(", ")
            }
        )));
    }
    let mut out = Vec::new();
    let mut timeout = None;
    for name in [false, true].map(|v6| kernel_set_of(set, v6, hosts).0) {
        let Some(s) = live.sets.iter().find(|s| s.name == name) else {
            continue;
        };
        timeout = timeout.or(s.timeout);
        let els = s.elements.as_ref().map_err(|why| {
            Error::Kernel(KernelError::Io(format!("set {name} cannot be read: {why}")))
        })?;
        for (i, (e, packets, bytes)) in els.iter().enumerate() {
            if let crate::core::plan::SetElem::Net(net) = e {
                out.push(Listed {
                    net: *net,
                    packets: *packets,
                    bytes: *bytes,
                    expires_ms: s.expires.get(i).copied().flatten(),
                });
            }
        }
    }
    Ok((out, timeout))
}
