//! The lab network the demo and the bench share: two namespaces joined by a veth pair that
//! is created inside the firewalled one with its peer moved straight into the client, so
//! the host namespace never sees an interface, an address or a rule.

use std::process::{Command, Stdio};
use std::thread;
use std::time::{Duration, Instant};

use crate::util::{self, Result};

pub const FW_V4: &str = "192.0.2.1";
pub const CLIENT_V4: &str = "192.0.2.2";
pub const FW_V6: &str = "2001:db8:5a::1";
pub const CLIENT_V6: &str = "2001:db8:5a::2";

/// How long a new pair may take to have carrier and usable IPv6 addresses.
const READY_TIMEOUT: Duration = Duration::from_secs(10);

/// Runs a command (no shell), optionally echoing it as `+ words`; fails with its stderr.
pub fn sh(words: &[&str], echo: bool) -> Result {
    let mut cmd = Command::new(words[0]);
    cmd.args(&words[1..]).stdin(Stdio::null());
    if echo {
        println!("+ {}", words.join(" "));
    }
    let (status, _out, err) = util::run_capture(&mut cmd)?;
    if status.success() {
        Ok(())
    } else {
        Err(format!(
            "`{}` failed ({}): {}",
            words.join(" "),
            util::describe_status(status),
            err.trim()
        ))
    }
}

/// Joins `fw` and `client` (both existing namespaces) by a veth pair with the lab's
/// addresses, and waits (bounded) until both ends have carrier and no IPv6 address is
/// tentative.
pub fn pair(fw: &str, fw_if: &str, client: &str, client_if: &str, echo: bool) -> Result {
    sh(
        &[
            "ip", "-n", fw, "link", "add", fw_if, "type", "veth", "peer", "name", client_if,
            "netns", client,
        ],
        echo,
    )?;
    for (ns, dev, v4, v6) in [
        (fw, fw_if, FW_V4, FW_V6),
        (client, client_if, CLIENT_V4, CLIENT_V6),
    ] {
        let v4 = format!("{v4}/24");
        let v6 = format!("{v6}/64");
        sh(&["ip", "-n", ns, "addr", "add", &v4, "dev", dev], echo)?;
        sh(
            &[
                "ip", "-n", ns, "-6", "addr", "add", &v6, "dev", dev, "nodad",
            ],
            echo,
        )?;
        sh(&["ip", "-n", ns, "link", "set", dev, "up"], echo)?;
    }
    let deadline = Instant::now() + READY_TIMEOUT;
    loop {
        let mut ready = true;
        for (ns, dev) in [(fw, fw_if), (client, client_if)] {
            let (_, link, _) = util::run_capture(
                Command::new("ip").args(["-n", ns, "-o", "link", "show", "dev", dev]),
            )?;
            let (_, tentative, _) = util::run_capture(Command::new("ip").args([
                "-n",
                ns,
                "-6",
                "-o",
                "addr",
                "show",
                "dev",
                dev,
                "scope",
                "global",
                "tentative",
            ]))?;
            ready &= link.contains("LOWER_UP") && tentative.trim().is_empty();
        }
        if ready {
            return Ok(());
        }
        util::check_interrupted()?;
        if Instant::now() >= deadline {
            return Err(format!(
                "the veth pair {fw} <-> {client} was not ready within {}s",
                READY_TIMEOUT.as_secs()
            ));
        }
        thread::sleep(Duration::from_millis(20));
    }
}
