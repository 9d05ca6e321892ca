//! A routed third namespace behind the firewall: `client` — `fw` (forwarding) — `backend`,
//! two veth pairs and routes, so that forward behaviour is probed with real packets.
//!
//! client 10.10.1.2 on `veth-c` ↔ `veth-fc` 10.10.1.1 in fw; fw 10.10.2.1 on `veth-fb` ↔
//! `veth-b` 10.10.2.2 in backend. fw has `net.ipv4.ip_forward = 1`; client and backend route
//! everything through fw. Nothing here touches the host's namespace.

use std::net::Ipv4Addr;
use std::thread;
use std::time::{Duration, Instant};

use super::Netns;

pub const CLIENT: Ipv4Addr = Ipv4Addr::new(10, 10, 1, 2);
pub const FW_FRONT: Ipv4Addr = Ipv4Addr::new(10, 10, 1, 1);
pub const FW_BACK: Ipv4Addr = Ipv4Addr::new(10, 10, 2, 1);
pub const BACKEND: Ipv4Addr = Ipv4Addr::new(10, 10, 2, 2);

/// The three namespaces (deleted with it).
#[derive(Debug)]
pub struct Trio {
    pub client: Netns,
    pub fw: Netns,
    pub backend: Netns,
}

impl Trio {
    pub fn new(tag: &str) -> Trio {
        let client = Netns::new(&format!("{tag}-c"));
        let fw = Netns::new(&format!("{tag}-f"));
        let backend = Netns::new(&format!("{tag}-b"));
        let links = [
            ("veth-fc", "veth-c", &client, FW_FRONT, CLIENT),
            ("veth-fb", "veth-b", &backend, FW_BACK, BACKEND),
        ];
        for (fw_if, peer, ns, fw_addr, addr) in links {
            fw.exec([
                "ip",
                "link",
                "add",
                fw_if,
                "type",
                "veth",
                "peer",
                "name",
                peer,
                "netns",
                ns.name(),
            ])
            .assert_ok();
            fw.exec(["ip", "addr", "add", &format!("{fw_addr}/24"), "dev", fw_if])
                .assert_ok();
            fw.exec(["ip", "link", "set", fw_if, "up"]).assert_ok();
            ns.exec(["ip", "addr", "add", &format!("{addr}/24"), "dev", peer])
                .assert_ok();
            ns.exec(["ip", "link", "set", peer, "up"]).assert_ok();
            ns.exec(["ip", "route", "add", "default", "via", &fw_addr.to_string()])
                .assert_ok();
        }
        fw.exec(["sysctl", "-q", "-w", "net.ipv4.ip_forward=1"])
            .assert_ok();
        let trio = Trio {
            client,
            fw,
            backend,
        };
        trio.wait_routed();
        trio
    }

    /// Bounded wait until the client reaches the backend through fw (ARP and carrier).
    fn wait_routed(&self) {
        let deadline = Instant::now() + Duration::from_secs(10);
        while !super::ping(&self.client, BACKEND) {
            assert!(
                Instant::now() < deadline,
                "{} does not reach {BACKEND} through {}",
                self.client.name(),
                self.fw.name()
            );
            thread::sleep(Duration::from_millis(50));
        }
    }
}
