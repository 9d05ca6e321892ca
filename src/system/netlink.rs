//! Our own nfnetlink socket: what rustables' `Batch::send` cannot do.
//!
//! - batches of any size (buffers sized to the batch; no per-message acks to overflow them)
//! - the commit is conditional on the generation id read before it
//! - every kernel error is mapped back to the batch message (and so the policy item) it answers
//! - the outcome is confirmed by reading the generation id after the batch on the same socket

use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::time::Duration;

use crate::codec::encode::{EncodedBatch, Op};
use crate::codec::nft::{
    NETLINK_CAP_ACK, NETLINK_EXT_ACK, NETLINK_NETFILTER, NLM_F_DUMP_INTR, NLMSG_DONE, NLMSG_ERROR,
};
use crate::codec::wire::{self, Header};

const RECV_BUF: usize = 1 << 20;

#[derive(Debug)]
pub enum CommitError {
    /// the socket itself failed (open, send, receive)
    Io {
        during: &'static str,
        err: io::Error,
    },
    /// the ruleset generation changed since it was read: nothing applied
    GenerationChanged,
    /// the kernel refused a message of the batch: nothing applied
    Rejected {
        errno: i32,
        seq: u32,
        op: Option<Op>,
        ext_msg: Option<String>,
        /// further errors on other messages of the same batch
        more: usize,
    },
    /// we could not learn whether the batch committed (e.g. receive buffer overflow)
    Uncertain(String),
}

impl std::fmt::Display for CommitError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            CommitError::Io { during, err } => write!(f, "netlink {during} failed: {err}"),
            CommitError::GenerationChanged => write!(
                f,
                "the ruleset changed underneath (generation id moved): nothing applied"
            ),
            CommitError::Rejected {
                errno,
                seq,
                op,
                ext_msg,
                more,
            } => {
                write!(
                    f,
                    "the kernel rejected the batch: {}",
                    wire::errno_words(*errno)
                )?;
                match op {
                    Some(op) => write!(f, "\n  in message {seq}: {}", op.what)?,
                    None => write!(f, "\n  in message {seq}")?,
                }
                if let Some(m) = ext_msg {
                    write!(f, "\n  kernel says: {m}")?;
                }
                if *more > 0 {
                    write!(f, "\n  ({more} more messages were refused)")?;
                }
                write!(
                    f,
                    "\n  nothing was applied; the previous ruleset is in force"
                )
            }
            CommitError::Uncertain(why) => write!(f, "commit outcome unknown: {why}"),
        }
    }
}

impl std::error::Error for CommitError {}

fn io_err(during: &'static str) -> impl FnOnce(io::Error) -> CommitError {
    move |err| CommitError::Io { during, err }
}

pub struct Socket {
    fd: OwnedFd,
    seq: u32,
}

impl Socket {
    /// Opens an nfnetlink socket in the calling thread's network namespace.
    pub fn open() -> io::Result<Socket> {
        Self::open_protocol(NETLINK_NETFILTER)
    }

    /// A netlink socket of another family (e.g. `NETLINK_SOCK_DIAG`), with the same
    /// framing, timeouts and `dump`.
    pub fn open_protocol(protocol: libc::c_int) -> io::Result<Socket> {
        // SAFETY: plain syscalls; the fd is owned by OwnedFd from here on.
        let raw = unsafe {
            libc::socket(
                libc::AF_NETLINK,
                libc::SOCK_RAW | libc::SOCK_CLOEXEC,
                protocol,
            )
        };
        if raw < 0 {
            return Err(io::Error::last_os_error());
        }
        let fd = unsafe { OwnedFd::from_raw_fd(raw) };
        let mut addr: libc::sockaddr_nl = unsafe { std::mem::zeroed() };
        addr.nl_family = libc::AF_NETLINK as u16;
        let rc = unsafe {
            libc::bind(
                fd.as_raw_fd(),
                &addr as *const _ as *const libc::sockaddr,
                std::mem::size_of::<libc::sockaddr_nl>() as u32,
            )
        };
        if rc < 0 {
            return Err(io::Error::last_os_error());
        }
        let s = Socket { fd, seq: 0 };
        // errors echo only the request header, plus the kernel's explanation
        s.setsockopt(libc::SOL_NETLINK, NETLINK_CAP_ACK, 1)?;
        let _ = s.setsockopt(libc::SOL_NETLINK, NETLINK_EXT_ACK, 1);
        s.set_buffer(libc::SO_RCVBUFFORCE, libc::SO_RCVBUF, 4 << 20);
        let tv = libc::timeval {
            tv_sec: 30,
            tv_usec: 0,
        };
        unsafe {
            libc::setsockopt(
                s.fd.as_raw_fd(),
                libc::SOL_SOCKET,
                libc::SO_RCVTIMEO,
                &tv as *const _ as *const libc::c_void,
                std::mem::size_of::<libc::timeval>() as u32,
            );
        }
        Ok(s)
    }

    fn setsockopt(&self, level: libc::c_int, opt: libc::c_int, val: libc::c_int) -> io::Result<()> {
        let rc = unsafe {
            libc::setsockopt(
                self.fd.as_raw_fd(),
                level,
                opt,
                &val as *const _ as *const libc::c_void,
                std::mem::size_of::<libc::c_int>() as u32,
            )
        };
        if rc < 0 {
            Err(io::Error::last_os_error())
        } else {
            Ok(())
        }
    }

    /// Sets a buffer size, beyond rmem_max/wmem_max when we have CAP_NET_ADMIN.
    fn set_buffer(&self, force: libc::c_int, plain: libc::c_int, bytes: usize) {
        let v = bytes.min(i32::MAX as usize) as libc::c_int;
        if self.setsockopt(libc::SOL_SOCKET, force, v).is_err() {
            let _ = self.setsockopt(libc::SOL_SOCKET, plain, v);
        }
    }

    fn next_seq(&mut self) -> u32 {
        self.seq = self.seq.wrapping_add(1);
        self.seq
    }

    fn send(&self, buf: &[u8]) -> io::Result<()> {
        let mut addr: libc::sockaddr_nl = unsafe { std::mem::zeroed() };
        addr.nl_family = libc::AF_NETLINK as u16;
        let n = unsafe {
            libc::sendto(
                self.fd.as_raw_fd(),
                buf.as_ptr() as *const libc::c_void,
                buf.len(),
                0,
                &addr as *const _ as *const libc::sockaddr,
                std::mem::size_of::<libc::sockaddr_nl>() as u32,
            )
        };
        if n < 0 {
            return Err(io::Error::last_os_error());
        }
        if n as usize != buf.len() {
            return Err(io::Error::other(format!(
                "short send: {n} of {} bytes",
                buf.len()
            )));
        }
        Ok(())
    }

    /// Receives one datagram into `buf` (its capacity is the limit; it is not zeroed first:
    /// a zeroed megabyte per dump cost ~200 page faults, a third of a small `status`).
    fn recv(&self, buf: &mut Vec<u8>) -> io::Result<usize> {
        buf.clear();
        loop {
            // SAFETY: the kernel writes at most `capacity` bytes into the vector's spare
            // capacity; only the `n` bytes it wrote become the vector's length.
            let n = unsafe {
                libc::recv(
                    self.fd.as_raw_fd(),
                    buf.as_mut_ptr() as *mut libc::c_void,
                    buf.capacity(),
                    0,
                )
            };
            if n < 0 {
                let e = io::Error::last_os_error();
                if e.kind() == io::ErrorKind::Interrupted {
                    continue;
                }
                if e.kind() == io::ErrorKind::WouldBlock {
                    return Err(io::Error::new(
                        io::ErrorKind::TimedOut,
                        "no answer from the kernel within 30 s",
                    ));
                }
                return Err(e);
            }
            // SAFETY: see above; n <= capacity.
            unsafe { buf.set_len(n as usize) };
            return Ok(n as usize);
        }
    }

    /// Reads the ruleset generation id (`NFT_MSG_GETGEN`).
    pub fn generation(&mut self) -> Result<u32, CommitError> {
        let seq = self.next_seq();
        self.send(&wire::getgen(seq))
            .map_err(io_err("send of GETGEN"))?;
        let mut buf = Vec::with_capacity(RECV_BUF);
        let mut generation = None;
        loop {
            let n = self.recv(&mut buf).map_err(io_err("receive of GETGEN"))?;
            for (h, msg) in wire::messages(&buf[..n]) {
                if h.seq != seq {
                    continue;
                }
                match h.ty {
                    NLMSG_ERROR => {
                        let e = wire::parse_error(&h, msg);
                        match e {
                            Some(e) if e.errno == 0 => {
                                return generation.ok_or_else(|| {
                                    CommitError::Uncertain(
                                        "GETGEN acked without a generation".into(),
                                    )
                                });
                            }
                            Some(e) => {
                                return Err(CommitError::Io {
                                    during: "GETGEN",
                                    err: io::Error::from_raw_os_error(e.errno),
                                });
                            }
                            None => {}
                        }
                    }
                    NLMSG_DONE => {
                        return generation
                            .ok_or_else(|| CommitError::Uncertain("no generation".into()));
                    }
                    _ => generation = wire::parse_newgen(msg).or(generation),
                }
            }
        }
    }

    /// Sends one batch and waits for its outcome. The batch was encoded against the
    /// generation id `expected_gen`; on success returns the generation after the commit.
    pub fn commit(&mut self, batch: &EncodedBatch) -> Result<u32, CommitError> {
        self.set_buffer(
            libc::SO_SNDBUFFORCE,
            libc::SO_SNDBUF,
            batch.bytes.len() + (64 << 10),
        );
        // our own sequence numbers must not collide with the batch's (0..=end_seq)
        if self.seq <= batch.end_seq {
            self.seq = batch.end_seq;
        }
        match self.send(&batch.bytes) {
            Ok(()) => {}
            Err(e) => {
                return Err(CommitError::Io {
                    during: "send of the batch",
                    err: e,
                });
            }
        }
        // The kernel processes the batch before the next message on this socket; the
        // GETGEN reply therefore arrives after every error the batch produced.
        // From here the batch was sent: the kernel may have committed it, so a failure to
        // learn its outcome is "unknown", never "nothing applied".
        let probe = self.next_seq();
        self.send(&wire::getgen(probe)).map_err(|e| {
            CommitError::Uncertain(format!(
                "the batch was sent, but the GETGEN after it was not: {e}"
            ))
        })?;
        let mut buf = Vec::with_capacity(RECV_BUF);
        let mut errors: Vec<wire::NlError> = Vec::new();
        let mut generation = None;
        loop {
            let n = match self.recv(&mut buf) {
                Ok(n) => n,
                Err(e) if e.raw_os_error() == Some(libc::ENOBUFS) => {
                    return Err(CommitError::Uncertain(
                        "the kernel's answers overflowed the receive buffer; run `statewall status` to see what is live".into(),
                    ));
                }
                Err(e) => {
                    return Err(CommitError::Uncertain(format!(
                        "the batch was sent, but receiving its outcome failed: {e}"
                    )));
                }
            };
            for (h, msg) in wire::messages(&buf[..n]) {
                match h.ty {
                    NLMSG_ERROR => {
                        if let Some(e) = wire::parse_error(&h, msg) {
                            if e.request.seq == probe {
                                if e.errno == 0 {
                                    return self.outcome(batch, errors, generation);
                                }
                                return Err(CommitError::Uncertain(format!(
                                    "the batch was sent, but the GETGEN after it failed: {}",
                                    io::Error::from_raw_os_error(e.errno)
                                )));
                            }
                            if e.errno != 0 {
                                errors.push(e);
                            }
                        }
                    }
                    _ if h.seq == probe => {
                        generation = wire::parse_newgen(msg).or(generation);
                    }
                    _ => {}
                }
            }
        }
    }

    fn outcome(
        &self,
        batch: &EncodedBatch,
        errors: Vec<wire::NlError>,
        generation: Option<u32>,
    ) -> Result<u32, CommitError> {
        if let Some(first) = errors.first() {
            let begin_seq = Header::parse(&batch.bytes).map(|h| h.seq).unwrap_or(0);
            if first.errno == libc::ERESTART && first.request.seq == begin_seq {
                return Err(CommitError::GenerationChanged);
            }
            return Err(CommitError::Rejected {
                errno: first.errno,
                seq: first.request.seq,
                op: batch.op(first.request.seq).cloned(),
                ext_msg: first.ext_msg.clone(),
                more: errors.len() - 1,
            });
        }
        generation.ok_or_else(|| CommitError::Uncertain("no generation id after the batch".into()))
    }
}

impl Socket {
    /// Sends a dump request (its sequence number is set here) and returns every reply
    /// message up to `NLMSG_DONE`. An error answer (e.g. ENOENT) is returned as such.
    pub fn dump(&mut self, mut request: Vec<u8>) -> io::Result<Vec<Vec<u8>>> {
        let seq = self.next_seq();
        request[8..12].copy_from_slice(&seq.to_ne_bytes());
        self.send(&request)?;
        let mut buf = Vec::with_capacity(RECV_BUF);
        let mut out = Vec::new();
        let mut interrupted = false;
        loop {
            let n = self.recv(&mut buf)?;
            for (h, msg) in wire::messages(&buf[..n]) {
                if h.seq != seq {
                    continue;
                }
                // the ruleset changed during the dump: what came may be a mix
                interrupted |= h.flags & NLM_F_DUMP_INTR != 0;
                match h.ty {
                    NLMSG_DONE => {
                        let errno = wire::done_errno(msg);
                        if errno != 0 {
                            return Err(io::Error::from_raw_os_error(errno));
                        }
                        if interrupted {
                            return Err(io::Error::new(
                                io::ErrorKind::Interrupted,
                                "the ruleset changed during the dump",
                            ));
                        }
                        return Ok(out);
                    }
                    NLMSG_ERROR => match wire::parse_error(&h, msg) {
                        Some(e) if e.errno != 0 => {
                            return Err(io::Error::from_raw_os_error(e.errno));
                        }
                        _ => return Ok(out),
                    },
                    _ => out.push(msg.to_vec()),
                }
            }
        }
    }

    /// Closes the socket without making the caller wait for it.
    ///
    /// Releasing an nfnetlink socket that committed a batch blocks ~8-11 ms in `close()`
    /// (the kernel waits for an RCU grace period), although the commit is already visible.
    /// A child process (no exec: the same code, no other program) keeps a reference to the
    /// socket until this process has exited, then lets the kernel release it; this process
    /// returns at once. The child holds no stdio, so pipes reading our output see
    /// end-of-file when we exit. Falls back to a plain close if it cannot be started.
    ///
    /// The child shares this process's memory (`CLONE_VM`) instead of copying its page
    /// tables, which for an apply of a 100,000-line list cost more than the rest of the
    /// child; sharing also spares this process's exit the teardown of its memory (the child
    /// does that, later). The child only makes raw system calls on its own stack, never
    /// touching memory this process uses.
    pub fn close_in_background(self) {
        const STACK: usize = 64 << 10;
        let mut pipe = [0 as libc::c_int; 2];
        // SAFETY: plain syscalls; the child runs `closer` on a stack of its own, making
        // only raw system calls with values passed in `args` (leaked: it outlives us).
        unsafe {
            if libc::pipe2(pipe.as_mut_ptr(), libc::O_CLOEXEC) != 0 {
                return;
            }
            let stack = libc::mmap(
                std::ptr::null_mut(),
                STACK,
                libc::PROT_READ | libc::PROT_WRITE,
                libc::MAP_PRIVATE | libc::MAP_ANONYMOUS | libc::MAP_STACK,
                -1,
                0,
            );
            if stack == libc::MAP_FAILED {
                libc::close(pipe[0]);
                libc::close(pipe[1]);
                return;
            }
            let args = Box::into_raw(Box::new([self.fd.as_raw_fd(), pipe[0], pipe[1]]));
            let pid = libc::clone(
                closer,
                (stack as *mut u8).add(STACK) as *mut libc::c_void,
                libc::CLONE_VM | libc::SIGCHLD,
                args as *mut libc::c_void,
            );
            if pid > 0 {
                libc::close(pipe[0]);
                // keep the write end open until exit; the socket's last reference is the
                // child's, so our exit does not wait for its release
                std::mem::forget(self.fd);
            } else {
                drop(Box::from_raw(args));
                libc::munmap(stack, STACK);
                libc::close(pipe[0]);
                libc::close(pipe[1]);
            }
        }
    }
}

/// The child of [`Socket::close_in_background`]: drops stdio, waits for the parent to exit
/// (its end of the pipe reads end-of-file), closes the socket, exits. Raw system calls
/// only: it shares the parent's memory, and libc's wrappers may touch the parent's thread
/// state.
extern "C" fn closer(args: *mut libc::c_void) -> libc::c_int {
    // SAFETY: `args` is the leaked [socket, pipe read end, write end] the parent made.
    unsafe {
        let [sock, pipe, ours] = *(args as *const [libc::c_int; 3]);
        // our copy of the write end: the parent's must be the last one
        libc::syscall(libc::SYS_close, ours);
        let null = libc::syscall(
            libc::SYS_openat,
            libc::AT_FDCWD,
            c"/dev/null".as_ptr(),
            libc::O_RDWR,
        );
        for fd in 0..3 {
            libc::syscall(libc::SYS_dup3, null, fd, 0);
        }
        let mut b = 0u8;
        while libc::syscall(libc::SYS_read, pipe, &mut b as *mut u8, 1) < 0 {}
        libc::syscall(libc::SYS_close, sock);
        libc::syscall(libc::SYS_exit_group, 0);
    }
    0
}

/// How long a commit took, for the CLI's summary line.
pub fn millis(d: Duration) -> String {
    format!("{:.2} ms", d.as_secs_f64() * 1000.0)
}
