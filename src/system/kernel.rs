//! The real [`Kernel`]: our nfnetlink socket, the codec's batches, readback's dumps.

use crate::codec::encode::{self, Fault};
use crate::core::kernel::{Change, Committed, Kernel, KernelError};
use crate::core::live::LiveTable;
use crate::system::netlink::{CommitError, Socket};
use crate::system::readback;

/// nf_tables in the calling thread's namespace (enter it first), on one socket opened on first
/// use: an apply reads the live table and commits on it; only a socket that committed is
/// released in the background.
#[derive(Default)]
pub struct Netlink {
    sock: Option<Socket>,
    committed: bool,
    /// a test-only fault injected into every batch (see `cli::test_fault`)
    fault: Option<Fault>,
}

impl Netlink {
    pub fn new(fault: Option<Fault>) -> Netlink {
        Netlink {
            fault,
            ..Netlink::default()
        }
    }

    fn sock(&mut self) -> Result<&mut Socket, KernelError> {
        if self.sock.is_none() {
            let s = Socket::open()
                .map_err(|e| KernelError::Io(format!("cannot open a netlink socket: {e}")))?;
            self.sock = Some(s);
        }
        Ok(self.sock.as_mut().expect("opened above"))
    }

    /// Done with the kernel. A socket that committed takes one RCU grace period to close
    /// (~8 ms): it is released in the background, so the command returns as soon as the
    /// kernel has committed.
    pub fn finish(self) {
        match self.sock {
            Some(s) if self.committed => s.close_in_background(),
            _ => {}
        }
    }
}

/// A batch whose outcome is unknown (sent, then netlink failed): the generation, read on a
/// socket of its own, tells "nothing was applied" (it is still `genid`, which the batch would
/// have moved) from "it may have been committed".
fn uncertain(why: &str, genid: u32) -> KernelError {
    let now = Socket::open()
        .map_err(|e| e.to_string())
        .and_then(|mut s| s.generation().map_err(|e| e.to_string()));
    KernelError::Io(match now {
        Ok(g) if g == genid => {
            format!("{why}; the ruleset generation is still {genid}: nothing was applied")
        }
        Ok(g) => format!(
            "commit outcome unknown: {why}; the ruleset generation moved ({genid} -> {g}), so this batch may have been committed: `statewall status` shows what is live (and says NOT WHAT BOOT LOADS when it is this change)"
        ),
        Err(e) => format!(
            "commit outcome unknown: {why}; the generation cannot be read ({e}): `statewall status` shows what is live"
        ),
    })
}

fn kernel_error(e: CommitError) -> KernelError {
    match e {
        CommitError::GenerationChanged => KernelError::GenerationChanged,
        CommitError::Rejected { errno, .. } => KernelError::Rejected {
            errno,
            message: e.to_string(),
        },
        CommitError::Io { .. } | CommitError::Uncertain(_) => KernelError::Io(e.to_string()),
    }
}

impl Kernel for Netlink {
    fn generation(&mut self) -> Result<u32, KernelError> {
        self.sock()?.generation().map_err(kernel_error)
    }

    fn read_table(&mut self, table: &str) -> Result<Option<LiveTable>, KernelError> {
        readback::read_table_on(self.sock()?, table, readback::Elements::Read)
            .map_err(|e| KernelError::Io(e.to_string()))
    }

    fn read_rules(&mut self, table: &str) -> Result<Option<LiveTable>, KernelError> {
        readback::read_table_on(self.sock()?, table, readback::Elements::Skip)
            .map_err(|e| KernelError::Io(e.to_string()))
    }

    fn read_for_apply(&mut self, table: &str) -> Result<Option<LiveTable>, KernelError> {
        readback::read_table_on(self.sock()?, table, readback::Elements::Live)
            .map_err(|e| KernelError::Io(e.to_string()))
    }

    fn set_timeout(&mut self, table: &str, set: &str) -> Result<Option<u64>, KernelError> {
        readback::set_timeout(self.sock()?, table, set).map_err(|e| KernelError::Io(e.to_string()))
    }

    fn commit(&mut self, change: Change<'_>, genid: u32) -> Result<Committed, KernelError> {
        let batch = match change {
            Change::Replace {
                plan,
                seeds,
                members,
            } => encode::encode_seeded(plan, Some(genid), self.fault, seeds, members),
            Change::Remove { table } => encode::encode_remove(table, Some(genid)),
            Change::Members { table, edits } => encode::encode_members(table, edits, Some(genid)),
            Change::Patch { patch } => encode::encode_patch(patch, Some(genid)),
        };
        tracing::debug!(
            bytes = batch.bytes.len(),
            messages = batch.ops.len(),
            generation = genid,
            "committing batch"
        );
        let sock = self.sock()?;
        let mut result = sock.commit(&batch);
        if self.fault == Some(Fault::LoseBatchOutcome) && result.is_ok() {
            result = Err(CommitError::Uncertain(
                "(test fault) the batch's outcome was lost".into(),
            ));
        }
        // whatever the outcome, the socket took part in a commit
        self.committed = true;
        let generation = match result {
            Err(CommitError::Uncertain(why)) => return Err(uncertain(&why, genid)),
            r => r.map_err(kernel_error)?,
        };
        Ok(Committed {
            generation,
            messages: batch.ops.len(),
        })
    }
}
