//! The kernel seam: what the use cases need from netfilter, as a trait. The real one speaks
//! netlink (`system::kernel::Netlink`); [`crate::core::fake::FakeKernel`] keeps a table in
//! memory, so every use case is tested without root. The namespace tests stay the judge.

use crate::core::identity::Seeds;
use crate::core::live::LiveTable;
use crate::core::model::Cidr;
use crate::core::plan::{Member, Members, Plan, SetKind};

/// One atomic change to statewall's table: the whole batch, all or nothing.
#[derive(Debug, Clone, Copy)]
pub enum Change<'a> {
    /// replace statewall's table with `plan`; rules listed in `seeds` start with those
    /// counters, and its live sets get `members` (what they held, in the same batch)
    Replace {
        plan: &'a Plan,
        seeds: &'a Seeds,
        members: &'a Members,
    },
    /// delete statewall's table and nothing else
    Remove { table: &'a str },
    /// an incremental apply: set elements and a few rules changed in place, the marker
    /// rule replaced; everything else (and its counters) untouched
    Patch {
        patch: &'a crate::core::patch::Patch,
    },
    /// add and delete members of live sets: only those elements, never a table replace
    Members {
        table: &'a str,
        edits: &'a [SetEdit],
    },
}

/// Members added to and deleted from one kernel set of a live set (`live4_banned`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SetEdit {
    pub set: String,
    pub kind: SetKind,
    pub add: Vec<Member>,
    pub del: Vec<Cidr>,
}

/// A batch the kernel took.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Committed {
    /// the ruleset generation after the commit
    pub generation: u32,
    /// messages in the batch
    pub messages: usize,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum KernelError {
    /// the ruleset generation moved since it was read: nothing was applied
    GenerationChanged,
    /// the kernel refused the batch (errno, and everything it said): nothing was applied
    Rejected { errno: i32, message: String },
    /// netlink failed, or whether the batch committed is unknown
    Io(String),
}

impl std::fmt::Display for KernelError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            KernelError::GenerationChanged => write!(
                f,
                "the ruleset changed underneath (generation id moved): nothing applied"
            ),
            KernelError::Rejected { message, .. } => f.write_str(message),
            KernelError::Io(m) => f.write_str(m),
        }
    }
}

impl std::error::Error for KernelError {}

pub trait Kernel {
    /// The ruleset's generation id now.
    fn generation(&mut self) -> Result<u32, KernelError>;
    /// statewall's `inet` table as it is live, with counters; `None` when there is none.
    fn read_table(&mut self, table: &str) -> Result<Option<LiveTable>, KernelError>;
    /// statewall's table as [`read_table`](Self::read_table) reads it, but no set's elements:
    /// `sets` is empty. A set's element dump costs the kernel a walk of the set for every
    /// reply buffer (seconds for 500,000 elements); a metrics scrape must not wait for that.
    fn read_rules(&mut self, table: &str) -> Result<Option<LiveTable>, KernelError>;
    /// What an apply reads: the rules with their counters, and the live sets with their
    /// members (a replace carries them); no other set's elements (an apply takes them from
    /// the table's fingerprint and the accepted revision).
    fn read_for_apply(&mut self, table: &str) -> Result<Option<LiveTable>, KernelError>;
    /// The default element lifetime (seconds) of set `set` of statewall's table; None when
    /// it has none (or there is no such set).
    fn set_timeout(&mut self, table: &str, set: &str) -> Result<Option<u64>, KernelError>;
    /// Commits `change` in one batch, conditional on generation `genid`: a stale id commits
    /// nothing and answers [`KernelError::GenerationChanged`].
    fn commit(&mut self, change: Change<'_>, genid: u32) -> Result<Committed, KernelError>;
}

/// How often a use case tries again when someone else committed between its read and its
/// commit (each try re-reads what it decided on). The one retry policy of statewall.
#[derive(Debug, Clone, Copy)]
pub struct Retry {
    pub attempts: u32,
}

/// Three tries: a concurrent commit is rare and short; a ruleset that keeps changing is
/// reported ("changed underneath", exit 4) rather than fought.
pub const ON_RACE: Retry = Retry { attempts: 3 };

impl Retry {
    /// Runs `attempt` until it does not fail with [`KernelError::GenerationChanged`], at
    /// most `self.attempts` times; the last error is returned.
    pub fn run<T, E: From<KernelError>>(
        self,
        mut attempt: impl FnMut(u32) -> Result<T, RaceOr<E>>,
    ) -> Result<T, E> {
        for n in 1..=self.attempts {
            match attempt(n) {
                Ok(t) => return Ok(t),
                Err(RaceOr::Race) if n < self.attempts => {
                    tracing::warn!("the ruleset changed while committing; reading it again");
                }
                Err(RaceOr::Race) => return Err(KernelError::GenerationChanged.into()),
                Err(RaceOr::Err(e)) => return Err(e),
            }
        }
        Err(KernelError::GenerationChanged.into())
    }
}

/// What one try of a [`Retry`] ended with: a lost race (try again) or a real error.
pub enum RaceOr<E> {
    Race,
    Err(E),
}

impl<E: From<KernelError>> From<KernelError> for RaceOr<E> {
    fn from(e: KernelError) -> Self {
        match e {
            KernelError::GenerationChanged => RaceOr::Race,
            e => RaceOr::Err(e.into()),
        }
    }
}
