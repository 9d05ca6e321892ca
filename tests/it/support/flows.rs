//! Traffic from a chosen source address, and connections that stay open: what live sets
//! (a ban that also cuts an open connection, another source that still gets in) are judged by.

use std::io::{Read, Write};
use std::net::{IpAddr, SocketAddr, TcpListener, TcpStream};
use std::os::fd::FromRawFd;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

use super::routed::sockaddr;
use super::{Netns, Probe};

/// How long an echo server lives at most, whatever the test does.
const ECHO_MAX: Duration = Duration::from_secs(120);

/// A TCP connection from `src` (an address of `ns`) to `dst`, opened inside `ns`, with
/// `timeout`: bind, then a non-blocking connect and a bounded wait.
pub fn connect_from(
    ns: &Netns,
    src: IpAddr,
    dst: SocketAddr,
    timeout: Duration,
) -> Result<TcpStream, Probe> {
    ns.run(|| {
        let (domain, sa, sa_len) = sockaddr(SocketAddr::new(src, 0));
        // SAFETY: plain socket calls on a descriptor this function owns; the sockaddr
        // buffers outlive the calls that read them.
        unsafe {
            let fd = libc::socket(
                domain,
                libc::SOCK_STREAM | libc::SOCK_NONBLOCK | libc::SOCK_CLOEXEC,
                0,
            );
            if fd < 0 {
                return Err(Probe::Other("socket() failed".into()));
            }
            let stream = TcpStream::from_raw_fd(fd);
            if libc::bind(fd, (&sa as *const libc::sockaddr_storage).cast(), sa_len) != 0 {
                return Err(Probe::Other(format!(
                    "cannot bind {src}: {}",
                    std::io::Error::last_os_error()
                )));
            }
            let (_, da, da_len) = sockaddr(dst);
            let r = libc::connect(fd, (&da as *const libc::sockaddr_storage).cast(), da_len);
            if r != 0 && std::io::Error::last_os_error().raw_os_error() != Some(libc::EINPROGRESS) {
                return Err(Probe::Other(std::io::Error::last_os_error().to_string()));
            }
            let mut pfd = libc::pollfd {
                fd,
                events: libc::POLLOUT,
                revents: 0,
            };
            let n = libc::poll(&mut pfd, 1, timeout.as_millis() as i32);
            if n == 0 {
                return Err(Probe::TimedOut);
            }
            match stream.take_error() {
                Ok(None) => {}
                Ok(Some(e)) if e.kind() == std::io::ErrorKind::ConnectionRefused => {
                    return Err(Probe::Refused);
                }
                Ok(Some(e)) => return Err(Probe::Other(e.to_string())),
                Err(e) => return Err(Probe::Other(e.to_string())),
            }
            stream.set_nonblocking(false).ok();
            Ok(stream)
        }
    })
}

/// [`connect_from`] as a probe: how the attempt ended.
pub fn probe_from(ns: &Netns, src: IpAddr, dst: SocketAddr, timeout: Duration) -> Probe {
    match connect_from(ns, src, dst, timeout) {
        Ok(_) => Probe::Connected,
        Err(p) => p,
    }
}

/// Whether an open connection still carries data: one byte out, its echo back within
/// `timeout`.
pub fn echoes(stream: &mut TcpStream, timeout: Duration) -> bool {
    stream.set_read_timeout(Some(timeout)).ok();
    if stream.write_all(b"x").is_err() {
        return false;
    }
    let mut b = [0u8; 1];
    matches!(stream.read(&mut b), Ok(1))
}

/// An echo server on `[::]:PORT` inside `ns`: each connection gets back what it sends, until
/// the server is dropped (or [`ECHO_MAX`] passes).
pub struct Echo {
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl Echo {
    pub fn start(ns: &Netns, port: u16) -> Echo {
        let listener = ns.run(|| {
            let l = TcpListener::bind((std::net::Ipv6Addr::UNSPECIFIED, port))
                .unwrap_or_else(|e| panic!("cannot listen on [::]:{port}: {e}"));
            l.set_nonblocking(true).unwrap();
            l
        });
        let stop = Arc::new(AtomicBool::new(false));
        let flag = Arc::clone(&stop);
        let thread = thread::spawn(move || {
            let deadline = Instant::now() + ECHO_MAX;
            let mut conns: Vec<TcpStream> = Vec::new();
            while !flag.load(Ordering::SeqCst) && Instant::now() < deadline {
                if let Ok((s, _)) = listener.accept() {
                    s.set_nonblocking(true).ok();
                    conns.push(s);
                }
                conns.retain_mut(|s| {
                    let mut buf = [0u8; 256];
                    match s.read(&mut buf) {
                        Ok(0) => false,
                        Ok(n) => s.write_all(&buf[..n]).is_ok(),
                        Err(e) => e.kind() == std::io::ErrorKind::WouldBlock,
                    }
                });
                thread::sleep(Duration::from_millis(5));
            }
        });
        Echo {
            stop,
            thread: Some(thread),
        }
    }
}

impl Drop for Echo {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// Polls `ok` every 100 ms until it holds, failing the test after `timeout`.
pub fn eventually(timeout: Duration, what: &str, mut ok: impl FnMut() -> bool) {
    let deadline = Instant::now() + timeout;
    while !ok() {
        assert!(Instant::now() < deadline, "{what}: not within {timeout:?}");
        thread::sleep(Duration::from_millis(100));
    }
}
