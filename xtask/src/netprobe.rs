//! Hidden helper subcommands the demo runs inside its namespaces via `ip netns exec`:
//!
//! * `listen PORT...` binds dual-stack TCP listeners on `[::]`, prints `ready`, accepts and
//!   closes connections, and exits when its stdin closes (the demo holds the other end, so the
//!   listener never outlives it) or after [`LISTEN_MAX`] at the latest.
//! * `probe TIMEOUT_MS ADDR...` connects to every address in parallel and prints one
//!   `ADDR<TAB>RESULT<TAB>MILLISECONDS` line per address, in argument order.

use std::io::{BufRead, Write};
use std::net::{Ipv6Addr, SocketAddr, TcpListener, TcpStream};
use std::thread;
use std::time::{Duration, Instant};

use crate::util::Result;

const LISTEN_MAX: Duration = Duration::from_secs(15 * 60);

pub fn listen(args: &[String]) -> Result {
    if args.is_empty() {
        return Err("listen: no ports given".into());
    }
    let mut listeners = Vec::new();
    for arg in args {
        let port: u16 = arg
            .parse()
            .map_err(|_| format!("listen: bad port {arg:?}"))?;
        // [::] with the default net.ipv6.bindv6only=0 accepts IPv4 (mapped) and IPv6.
        let listener = TcpListener::bind((Ipv6Addr::UNSPECIFIED, port))
            .map_err(|e| format!("listen: cannot bind [::]:{port}: {e}"))?;
        listeners.push(listener);
    }
    for listener in listeners {
        thread::spawn(move || {
            for stream in listener.incoming() {
                // Accept and close at once: the handshake is what the probes look at.
                drop(stream);
            }
        });
    }
    println!("ready");
    let _ = std::io::stdout().flush();

    // Exit when the parent closes our stdin (or dies), bounded by LISTEN_MAX.
    thread::spawn(|| {
        let stdin = std::io::stdin();
        let mut line = String::new();
        let mut lock = stdin.lock();
        while matches!(lock.read_line(&mut line), Ok(n) if n > 0) {
            line.clear();
        }
        std::process::exit(0);
    });
    thread::sleep(LISTEN_MAX);
    eprintln!(
        "listen: giving up after {}s without being stopped",
        LISTEN_MAX.as_secs()
    );
    std::process::exit(0);
}

pub fn probe(args: &[String]) -> Result {
    let Some((timeout, addrs)) = args.split_first() else {
        return Err("probe: usage: probe TIMEOUT_MS ADDR...".into());
    };
    let timeout = Duration::from_millis(
        timeout
            .parse()
            .map_err(|_| format!("probe: bad timeout {timeout:?}"))?,
    );
    let mut targets = Vec::new();
    for a in addrs {
        let addr: SocketAddr = a.parse().map_err(|_| format!("probe: bad address {a:?}"))?;
        targets.push(addr);
    }
    let handles: Vec<_> = targets
        .into_iter()
        .map(|addr| {
            thread::spawn(move || {
                let start = Instant::now();
                let result = match TcpStream::connect_timeout(&addr, timeout) {
                    Ok(_) => "connected".to_string(),
                    Err(e) => match e.kind() {
                        std::io::ErrorKind::ConnectionRefused => "refused".to_string(),
                        std::io::ErrorKind::TimedOut => "timed-out".to_string(),
                        _ => format!("error:{e}"),
                    },
                };
                (addr, result, start.elapsed().as_millis())
            })
        })
        .collect();
    for handle in handles {
        let (addr, result, ms) = handle
            .join()
            .map_err(|_| "probe: a probe thread panicked".to_string())?;
        println!("{addr}\t{result}\t{ms}");
    }
    Ok(())
}
