//! In-memory seams for tests: a kernel that applies a batch all or nothing, keeps counters
//! and a generation id and fails on request; a store of records; a clock that only moves
//! when told (or when slept on).

use std::cell::{Cell, RefCell};
use std::collections::{BTreeMap, HashMap, VecDeque};

use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::core::identity;
use crate::core::kernel::{Change, Committed, Kernel, KernelError};
use crate::core::live::{LiveChain, LiveRule, LiveSet, LiveTable};
use crate::core::members::MemberOp;
use crate::core::plan::{Plan, SetElem};
use crate::core::store::{Clock, Kind, Store, StoreError};

/// A failure the next commit meets.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Inject {
    /// the kernel refuses the batch with this errno: nothing changes
    Reject(i32),
    /// someone else commits first: the generation moves, the batch is refused as stale
    Race,
    /// the batch commits, but the reply is lost (ENOBUFS): the caller cannot know
    LostReply,
}

#[derive(Debug, Default)]
pub struct FakeKernel {
    pub generation: u32,
    pub tables: BTreeMap<String, LiveTable>,
    /// failures for the next commits, in order
    pub inject: VecDeque<Inject>,
    /// batches that committed
    pub commits: usize,
    /// reads that dumped set elements ([`Kernel::read_table`])
    pub element_reads: usize,
    /// reads of the rules and live sets only ([`Kernel::read_for_apply`])
    pub apply_reads: usize,
    /// patches that committed
    pub patches: usize,
    /// every read fails with this (netlink refused, say)
    pub read_error: Option<String>,
    next_handle: u64,
}

impl FakeKernel {
    pub fn new() -> FakeKernel {
        FakeKernel {
            generation: 1,
            ..FakeKernel::default()
        }
    }

    /// Traffic: `packets` more packets (of 60 bytes) hit the first rule named `comment`.
    pub fn hit(&mut self, table: &str, comment: &str, packets: u64) {
        let t = self.tables.get_mut(table).expect("a table");
        let rule = t
            .chains
            .iter_mut()
            .flat_map(|c| c.rules.iter_mut())
            .find(|r| r.comment.as_deref() == Some(comment))
            .unwrap_or_else(|| panic!("no rule named {comment}"));
        rule.packets += packets;
        rule.bytes += 60 * packets;
    }

    /// Someone else's change: a rule appended to statewall's input chain (drift).
    pub fn tamper(&mut self, table: &str) {
        let t = self.tables.get_mut(table).expect("a table");
        t.chains[0].rules.push(LiveRule {
            handle: 999_999,
            comment: None,
            rule: Err(crate::core::live::Foreign::Other(
                "`log` (not statewall's)".into(),
            )),
            packets: 0,
            bytes: 0,
        });
        self.generation += 1;
    }

    fn live_of(
        &mut self,
        plan: &Plan,
        seeds: &identity::Seeds,
        members: &crate::core::plan::Members,
    ) -> LiveTable {
        let mut chains = Vec::new();
        for (ci, c) in plan.chains.iter().enumerate() {
            let mut rules = Vec::new();
            for (ri, r) in c.rules.iter().enumerate() {
                self.next_handle += 1;
                let (packets, bytes) = seeds.get(&(ci, ri)).copied().unwrap_or((0, 0));
                let mut rule = r.clone();
                rule.origin = None;
                rules.push(LiveRule {
                    handle: self.next_handle,
                    comment: Some(r.comment.clone()),
                    rule: Ok(rule),
                    packets,
                    bytes,
                });
            }
            chains.push(LiveChain {
                name: c.name.clone(),
                hook: c.hook.map(|h| (h.hook.number(), h.priority)),
                policy: c.hook.map(|_| "accept"),
                rules,
            });
        }
        let sets = plan
            .sets
            .iter()
            .map(|s| {
                let mut els: Vec<_> = s.elements.iter().map(|e| (*e, 0, 0, None)).collect();
                if s.kind.live() {
                    for m in members.get(&s.name).into_iter().flatten() {
                        els.push((SetElem::Net(m.net), 0, 0, m.expires_ms));
                    }
                }
                els.sort();
                LiveSet {
                    name: s.name.clone(),
                    kind: s.kind,
                    expires: if s.kind.live() {
                        els.iter().map(|e| e.3).collect()
                    } else {
                        Vec::new()
                    },
                    elements: Ok(els.into_iter().map(|(e, p, b, _)| (e, p, b)).collect()),
                    timeout: s.timeout,
                }
            })
            .collect();
        LiveTable {
            marker: None,
            name: plan.table.clone(),
            comment: Some(identity::table_comment(plan)),
            sets,
            chains,
        }
    }
}

impl FakeKernel {
    /// A members change as the kernel takes it: all or nothing; deleting an absent member
    /// is ENOENT, adding one that overlaps another (not the same) is EEXIST.
    fn edit_members(
        &mut self,
        table: &str,
        edits: &[crate::core::kernel::SetEdit],
    ) -> Result<usize, KernelError> {
        let reject = |errno: i32, message: String| KernelError::Rejected { errno, message };
        let mut t = self
            .tables
            .get(table)
            .cloned()
            .ok_or_else(|| reject(libc::ENOENT, "No such file or directory".into()))?;
        for e in edits {
            let set = t
                .sets
                .iter_mut()
                .find(|s| s.name == e.set)
                .ok_or_else(|| reject(libc::ENOENT, format!("no set {}", e.set)))?;
            let els = set
                .elements
                .as_mut()
                .map_err(|_| reject(libc::EIO, "?".into()))?;
            let mut rows: Vec<(SetElem, u64, u64, Option<u64>)> = els
                .iter()
                .zip(set.expires.iter().chain(std::iter::repeat(&None)))
                .map(|(&(e, p, b), &x)| (e, p, b, x))
                .collect();
            for net in &e.del {
                let at = rows
                    .iter()
                    .position(|r| r.0 == SetElem::Net(*net))
                    .ok_or_else(|| reject(libc::ENOENT, "No such file or directory".into()))?;
                rows.remove(at);
            }
            for m in &e.add {
                let (lo, hi) = (m.net.interval().1, m.net.interval().2);
                let same = rows.iter().any(|r| r.0 == SetElem::Net(m.net));
                let overlaps = rows.iter().any(|r| match r.0 {
                    SetElem::Net(n) => {
                        let (_, a, b) = n.interval();
                        a <= hi && lo <= b
                    }
                    SetElem::Ports(_) => false,
                });
                if same {
                    continue;
                }
                if overlaps {
                    return Err(reject(libc::EEXIST, "File exists".into()));
                }
                rows.push((SetElem::Net(m.net), 0, 0, m.expires_ms));
            }
            rows.sort();
            set.expires = rows.iter().map(|r| r.3).collect();
            *els = rows.into_iter().map(|(e, p, b, _)| (e, p, b)).collect();
        }
        self.tables.insert(table.to_string(), t);
        Ok(edits.len())
    }

    /// An incremental apply as the kernel takes it: all or nothing; a rule handle or an
    /// element that is not there is ENOENT.
    fn patch(&mut self, p: &crate::core::patch::Patch) -> Result<usize, KernelError> {
        use crate::core::patch::RuleEdit;
        let enoent = || KernelError::Rejected {
            errno: libc::ENOENT,
            message: "No such file or directory".into(),
        };
        let mut t = self.tables.get(&p.table).cloned().ok_or_else(enoent)?;
        for e in &p.elements {
            let set = t
                .sets
                .iter_mut()
                .find(|s| s.name == e.set)
                .ok_or_else(enoent)?;
            let els = set.elements.as_mut().map_err(|_| enoent())?;
            for d in &e.del {
                let at = els.iter().position(|x| x.0 == *d).ok_or_else(enoent)?;
                els.remove(at);
            }
            els.extend(e.add.iter().map(|a| (*a, 0, 0)));
            els.sort();
        }
        for edit in &p.rules {
            match edit {
                RuleEdit::Delete { chain, handle } => {
                    let c = t
                        .chains
                        .iter_mut()
                        .find(|c| c.name == *chain)
                        .ok_or_else(enoent)?;
                    let at = c
                        .rules
                        .iter()
                        .position(|r| r.handle == *handle)
                        .ok_or_else(enoent)?;
                    c.rules.remove(at);
                }
                RuleEdit::Insert { chain, after, rule } => {
                    self.next_handle += 1;
                    let c = t
                        .chains
                        .iter_mut()
                        .find(|c| c.name == *chain)
                        .ok_or_else(enoent)?;
                    let at = match after {
                        None => 0,
                        Some(h) => {
                            1 + c
                                .rules
                                .iter()
                                .position(|r| r.handle == *h)
                                .ok_or_else(enoent)?
                        }
                    };
                    let mut r = rule.clone();
                    r.origin = None;
                    c.rules.insert(
                        at,
                        LiveRule {
                            handle: self.next_handle,
                            comment: Some(rule.comment.clone()),
                            rule: Ok(r),
                            packets: 0,
                            bytes: 0,
                        },
                    );
                }
            }
        }
        if let Some((h, _)) = &t.marker
            && Some(*h) != p.marker
        {
            return Err(enoent());
        }
        self.next_handle += 1;
        t.marker = Some((self.next_handle, p.comment.clone()));
        self.tables.insert(p.table.clone(), t);
        self.patches += 1;
        Ok(p.size())
    }

    /// Time passes for live sets' members: their lifetimes shrink, and the expired go.
    pub fn expire(&mut self, ms: u64) {
        for t in self.tables.values_mut() {
            for s in t.sets.iter_mut().filter(|s| s.kind.live()) {
                let Ok(els) = &mut s.elements else { continue };
                let mut keep = Vec::new();
                let mut exp = Vec::new();
                for (i, e) in els.iter().enumerate() {
                    match s.expires.get(i).copied().flatten() {
                        Some(left) if left <= ms => {}
                        Some(left) => {
                            keep.push(*e);
                            exp.push(Some(left - ms));
                        }
                        None => {
                            keep.push(*e);
                            exp.push(None);
                        }
                    }
                }
                *els = keep;
                s.expires = exp;
            }
        }
    }
}

impl Kernel for FakeKernel {
    fn generation(&mut self) -> Result<u32, KernelError> {
        Ok(self.generation)
    }

    fn read_table(&mut self, table: &str) -> Result<Option<LiveTable>, KernelError> {
        if let Some(e) = &self.read_error {
            return Err(KernelError::Io(e.clone()));
        }
        self.element_reads += 1;
        Ok(self.tables.get(table).cloned())
    }

    fn read_rules(&mut self, table: &str) -> Result<Option<LiveTable>, KernelError> {
        if let Some(e) = &self.read_error {
            return Err(KernelError::Io(e.clone()));
        }
        Ok(self.tables.get(table).cloned().map(|mut t| {
            t.sets.clear();
            t
        }))
    }

    fn read_for_apply(&mut self, table: &str) -> Result<Option<LiveTable>, KernelError> {
        if let Some(e) = &self.read_error {
            return Err(KernelError::Io(e.clone()));
        }
        self.apply_reads += 1;
        Ok(self.tables.get(table).cloned().map(|mut t| {
            t.sets.retain(|s| s.kind.live());
            t
        }))
    }

    fn set_timeout(&mut self, table: &str, set: &str) -> Result<Option<u64>, KernelError> {
        Ok(self
            .tables
            .get(table)
            .and_then(|t| t.sets.iter().find(|s| s.name == set))
            .and_then(|s| s.timeout))
    }

    fn commit(&mut self, change: Change<'_>, genid: u32) -> Result<Committed, KernelError> {
        let inject = self.inject.pop_front();
        match inject {
            Some(Inject::Reject(errno)) => {
                return Err(KernelError::Rejected {
                    errno,
                    message: format!("the kernel rejected the batch (errno {errno})"),
                });
            }
            Some(Inject::Race) => self.generation += 1,
            _ => {}
        }
        if genid != self.generation {
            return Err(KernelError::GenerationChanged);
        }
        let messages = match change {
            Change::Members { table, edits } => self.edit_members(table, edits)?,
            Change::Patch { patch } => self.patch(patch)?,
            Change::Replace {
                plan,
                seeds,
                members,
            } => {
                let live = self.live_of(plan, seeds, members);
                self.tables.insert(plan.table.clone(), live);
                3 + plan.sets.len() + plan.chains.iter().map(|c| 1 + c.rules.len()).sum::<usize>()
            }
            Change::Remove { table } => {
                if self.tables.remove(table).is_none() {
                    return Err(KernelError::Rejected {
                        errno: libc::ENOENT,
                        message: "No such file or directory".into(),
                    });
                }
                1
            }
        };
        self.generation += 1;
        self.commits += 1;
        if inject == Some(Inject::LostReply) {
            return Err(KernelError::Io(
                "commit outcome unknown: the reply was lost".into(),
            ));
        }
        Ok(Committed {
            generation: self.generation,
            messages,
        })
    }
}

/// Records in memory, as the envelope text a state file would hold (so a test can damage
/// one the way a disk would).
#[derive(Debug, Default)]
pub struct MemStore {
    pub files: RefCell<HashMap<Kind, String>>,
    pub history: RefCell<Vec<crate::core::rollout::Revision>>,
    /// the members journal's text
    pub members: RefCell<String>,
    pub set_cache: RefCell<Option<Vec<u8>>>,
}

impl MemStore {
    /// Replaces a record's text (truncated, garbage…).
    pub fn damage(&self, kind: Kind, text: &str) {
        self.files.borrow_mut().insert(kind, text.to_string());
    }
}

impl Store for MemStore {
    type Lock = ();

    fn read<T: DeserializeOwned>(&self, kind: Kind) -> Result<Option<T>, StoreError> {
        match self.files.borrow().get(&kind) {
            None => Ok(None),
            Some(text) => crate::core::store::open_envelope(kind, text)
                .map(Some)
                .map_err(|why| StoreError(format!("{} is corrupt ({why})", kind.file()))),
        }
    }

    fn write<T: Serialize>(&self, kind: Kind, data: &T) -> Result<(), StoreError> {
        self.files
            .borrow_mut()
            .insert(kind, crate::core::store::envelope(kind, data));
        Ok(())
    }

    fn remove(&self, kind: Kind) -> Result<(), StoreError> {
        self.files.borrow_mut().remove(&kind);
        Ok(())
    }

    fn lock(&self) -> Result<(), StoreError> {
        Ok(())
    }

    fn append_revision(&self, rev: &crate::core::rollout::Revision) -> Result<(), StoreError> {
        let mut h = self.history.borrow_mut();
        h.push(rev.clone());
        let n = h.len().saturating_sub(crate::core::rollout::REVISIONS_KEPT);
        h.drain(..n);
        Ok(())
    }

    fn revisions(&self) -> Result<Vec<crate::core::rollout::Revision>, StoreError> {
        Ok(self.history.borrow().clone())
    }

    fn append_members(&self, ops: &[MemberOp]) -> Result<(), StoreError> {
        self.members
            .borrow_mut()
            .push_str(&crate::core::members::format_ops(ops));
        Ok(())
    }

    fn rewrite_members(&self, ops: &[MemberOp]) -> Result<(), StoreError> {
        *self.members.borrow_mut() = crate::core::members::format_ops(ops);
        Ok(())
    }

    fn read_members(&self) -> Result<(Vec<MemberOp>, u64), StoreError> {
        let text = self.members.borrow();
        Ok((crate::core::members::parse_ops(&text).0, text.len() as u64))
    }

    fn write_set_cache(&self, bytes: &[u8]) {
        *self.set_cache.borrow_mut() = Some(bytes.to_vec());
    }

    fn read_set_cache(&self) -> Option<Vec<u8>> {
        self.set_cache.borrow().clone()
    }

    fn members_bytes(&self) -> u64 {
        self.members.borrow().len() as u64
    }

    fn command(&self, sub: &str) -> String {
        format!("statewall {sub}")
    }

    fn lenient(&self) -> bool {
        false
    }
}

/// A clock that moves only when told, or when slept on.
#[derive(Debug)]
pub struct FakeClock {
    pub realtime_ms: Cell<u64>,
    pub boottime_ms: Cell<u64>,
    pub boot_id: String,
}

impl Default for FakeClock {
    fn default() -> Self {
        FakeClock {
            realtime_ms: Cell::new(1_800_000_000_000),
            boottime_ms: Cell::new(100_000),
            boot_id: "boot-1".into(),
        }
    }
}

impl FakeClock {
    pub fn advance_ms(&self, ms: u64) {
        self.realtime_ms.set(self.realtime_ms.get() + ms);
        self.boottime_ms.set(self.boottime_ms.get() + ms);
    }
}

impl Clock for FakeClock {
    fn realtime_ms(&self) -> u64 {
        self.realtime_ms.get()
    }
    fn boottime_ms(&self) -> u64 {
        self.boottime_ms.get()
    }
    fn boot_id(&self) -> String {
        self.boot_id.clone()
    }
    fn sleep_ms(&self, ms: u64) {
        self.advance_ms(ms);
    }
}
