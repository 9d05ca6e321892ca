//! Conntrack helpers (`helper`, `except_helper`: the kernel's x_tables match `helper`, through
//! nft_compat) in the kernel. `ok-helper.rules` — established connections accepted, a
//! RELATED one only where the ftp helper expected it — imported and applied in one pair of
//! namespaces and loaded by iptables-restore in another, each firewall an FTP server whose
//! control connections get the ftp helper (a table the test makes: `ct helper set`). After
//! a `227 Entering Passive Mode` reply, the client's data connection gets in through both,
//! counted by statewall's helper rule; a connection to a port no helper expected, and a
//! second one to the expected port (an expectation is used once), are dropped by both,
//! counted by statewall's final rule. And `ok-helper.toml` reads back as written: the kernel
//! takes xt_helper in statewall's inet table, without drift.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use crate::support::{FW_V4, Netns, Pair, packets_of, status_json};

/// The FTP control port, and the data port the server's reply names (195 × 256 + 80).
const CONTROL: u16 = 21;
const DATA: u16 = 50000;
/// A port the server listens on that no helper expects a connection to.
const OTHER: u16 = 50001;
const WAIT: Duration = Duration::from_millis(1500);

/// The test's own table: control connections to port 21 get the ftp helper (since Linux
/// 4.7 no helper attaches by itself).
const HELPERS: &str = "table inet sw_test_helpers {
  ct helper ftp-std { type \"ftp\" protocol tcp; }
  chain pre { type filter hook prerouting priority 0; tcp dport 21 ct helper set \"ftp-std\"; }
}
";

/// Runs `f` while `fw` serves FTP's start on [`CONTROL`] — a 220 greeting, and to `PASV` the
/// 227 reply that names [`DATA`] — and accepts (and closes) connections to [`DATA`] and
/// [`OTHER`]. One thread polls the listeners until `f` returns.
fn with_ftp_server<T: Send>(fw: &Netns, f: impl FnOnce() -> T + Send) -> T {
    let listeners: Vec<TcpListener> = fw.run(|| {
        [CONTROL, DATA, OTHER]
            .iter()
            .map(|&p| {
                let l = TcpListener::bind(SocketAddr::from((FW_V4, p))).expect("listen");
                l.set_nonblocking(true).expect("nonblocking");
                l
            })
            .collect()
    });
    let done = AtomicBool::new(false);
    std::thread::scope(|scope| {
        scope.spawn(|| {
            let mut controls: Vec<(TcpStream, Vec<u8>)> = Vec::new();
            while !done.load(Ordering::Relaxed) {
                for (k, l) in listeners.iter().enumerate() {
                    if let Ok((mut c, _)) = l.accept()
                        && k == 0
                    {
                        c.set_nonblocking(true).expect("nonblocking");
                        let _ = c.write_all(b"220 statewall test\r\n");
                        controls.push((c, Vec::new()));
                    }
                }
                for (c, got) in &mut controls {
                    let mut buf = [0u8; 64];
                    if let Ok(n @ 1..) = c.read(&mut buf) {
                        got.extend_from_slice(&buf[..n]);
                        if got.starts_with(b"PASV\r\n") {
                            got.clear();
                            let (a, b) = (DATA >> 8, DATA & 0xff);
                            let reply =
                                format!("227 Entering Passive Mode (192,0,2,1,{a},{b})\r\n");
                            let _ = c.write_all(reply.as_bytes());
                        }
                    }
                }
                std::thread::sleep(Duration::from_millis(5));
            }
        });
        let out = f();
        done.store(true, Ordering::Relaxed);
        out
    })
}

/// Whether a TCP connection from `client` to the firewall's `port` is set up in time.
fn connects(client: &Netns, port: u16) -> bool {
    client.run(|| TcpStream::connect_timeout(&SocketAddr::from((FW_V4, port)), WAIT).is_ok())
}

/// From `client`: an FTP control connection that asks for passive mode and reads the 227
/// reply, then whether the data connection it names gets through, a second connection to
/// the same port, and one to [`OTHER`].
fn session(client: &Netns) -> (bool, bool, bool) {
    let control = client.run(|| {
        let mut c = TcpStream::connect_timeout(&SocketAddr::from((FW_V4, CONTROL)), WAIT)
            .expect("the control connection gets in (port 21 is open)");
        c.set_read_timeout(Some(WAIT)).unwrap();
        let mut r = BufReader::new(c.try_clone().unwrap());
        let mut line = String::new();
        r.read_line(&mut line).expect("the 220 greeting");
        c.write_all(b"PASV\r\n").unwrap();
        line.clear();
        r.read_line(&mut line).expect("the 227 reply");
        assert!(line.starts_with("227 "), "{line:?}");
        c
    });
    let data = connects(client, DATA);
    let again = connects(client, DATA);
    let other = connects(client, OTHER);
    drop(control);
    (data, again, other)
}

#[cfg_attr(not(statewall_root), ignore = "needs root: creates network namespaces")]
#[test]
fn an_ftp_data_connection_gets_in_where_the_helper_expected_it_as_through_iptables() {
    let oracle = Pair::new("helper-ipt");
    let ours = Pair::new("helper-sw");
    for pair in [&oracle, &ours] {
        crate::support::run_with_stdin(
            {
                let mut c = std::process::Command::new("ip");
                c.args(["netns", "exec", pair.fw.name(), "nft", "-f", "-"]);
                c
            },
            HELPERS,
        )
        .assert_ok();
    }
    crate::import::load_both((&oracle, &ours), ("ok-helper.rules", None));
    let mut got = Vec::new();
    for pair in [&oracle, &ours] {
        got.push(with_ftp_server(&pair.fw, || session(&pair.client)));
    }
    assert_eq!(got[0], got[1], "iptables', then statewall's");
    assert_eq!(
        got[1],
        (true, false, false),
        "the expected data connection only"
    );
    let status = status_json(&ours.fw);
    assert!(
        packets_of(&status, "tcp-1024-65535") >= 1,
        "the helper rule counts the data connection's SYN: {status}"
    );
    assert!(
        packets_of(&status, "final") >= 2,
        "the final rule counts the unexpected SYNs: {status}"
    );
}

/// `ok-helper.toml` applied: the kernel takes xt_helper in statewall's inet table, nft's
/// netlink debug shows `[ match name helper rev 0 ]` for each helper match (nft's listing
/// prints them as `ct helper`), status shows them, and readback finds no drift.
#[cfg_attr(not(statewall_root), ignore = "needs root: creates network namespaces")]
#[test]
fn helper_matches_read_back_without_drift() {
    let path = crate::support::repo_path("tests/data/policy/ok-helper.toml");
    let (ns, _) = crate::kernel::applied_without_drift("helper-drift", path.to_str().unwrap());
    let debug = crate::kernel::input_in_netlink_terms(&ns);
    assert_eq!(
        debug.stdout.matches("[ match name helper rev 0 ]").count(),
        3,
        "{debug}"
    );
    let status = crate::support::statewall(&ns, ["status"]);
    status.assert_ok();
    for shown in [
        "xt match helper \"ftp\"",
        "xt match helper != \"irc\" xt match helper != \"sip\"",
    ] {
        assert!(status.stdout.contains(shown), "{shown}:\n{status}");
    }
}
