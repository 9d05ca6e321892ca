//! IPv6 neighbour discovery across an import, with cold neighbour caches.
//!
//! Conntrack never calls a neighbour solicitation or advertisement (nor MLD, router
//! discovery) NEW: it leaves them untracked. Whether an ip6tables file lets them in depends on
//! the states its accepts name: `-i eth0 -j ACCEPT` takes them, `--ctstate NEW` does not. The
//! corpus harness cannot see this: its sanity probes fill both neighbour caches before any rule
//! is loaded. Here each pair `tests/data/import/ok-nd-*.rules` (+ `.rules6`) is loaded by
//! iptables-restore/ip6tables-restore in one namespace pair and by statewall (`--ipv6`) in
//! another; both neighbour caches are flushed before each probe (a TCP connection to port 22,
//! which every file accepts, then a ping), so that each needs neighbour discovery through the
//! rules. The oracle's answers are stated too: a setup in which nothing passes would
//! otherwise agree with anything.

use std::net::SocketAddr;

use crate::import::load_both;
use crate::support::{
    CLIENT_IF, FW_IF, FW_V6, PROBE_TIMEOUT, Pair, Probe, listen_tcp, ping, probe_tcp, require_root,
};

/// Each pair, and whether neighbour discovery passes its INPUT (then the connection and the
/// ping get through; else neither does).
const CASES: [(&str, bool); 6] = [
    ("ok-nd-trusted-iface", true),
    ("ok-nd-trusted-net", true),
    ("ok-nd-icmpv6-new", false),
    ("ok-nd-iface-new", false),
    ("ok-nd-iface-untracked", true),
    ("ok-nd-by-type", true),
];

/// Both ends forget their neighbours: the next packet between them starts with a neighbour
/// solicitation.
fn forget(pair: &Pair) {
    for (ns, dev) in [(&pair.client, CLIENT_IF), (&pair.fw, FW_IF)] {
        ns.exec(["ip", "-6", "neigh", "flush", "dev", dev])
            .assert_ok();
    }
}

/// (connected to port 22, ping answered), each from cold caches.
fn looks(pair: &Pair) -> (bool, bool) {
    forget(pair);
    let tcp = probe_tcp(
        &pair.client,
        SocketAddr::new(FW_V6.into(), 22),
        PROBE_TIMEOUT,
    );
    forget(pair);
    (tcp == Probe::Connected, ping(&pair.client, FW_V6))
}

#[test]
fn import_neighbour_discovery_passes_as_with_ip6tables_from_cold_caches() {
    require_root();
    let mut wrong = Vec::new();
    for (i, (name, nd)) in CASES.into_iter().enumerate() {
        let oracle = Pair::new(&format!("nd{i}-ipt"));
        let ours = Pair::new(&format!("nd{i}-sw"));
        let _l1 = listen_tcp(&oracle.fw, &[22]);
        let _l2 = listen_tcp(&ours.fw, &[22]);
        let (rules, rules6) = (format!("{name}.rules"), format!("{name}.rules6"));
        load_both((&oracle, &ours), (&rules, Some(&rules6)));
        let (theirs, mine) = (looks(&oracle), looks(&ours));
        if theirs != (nd, nd) || mine != theirs {
            wrong.push(format!(
                "{name}: ip6tables (tcp 22, ping) {theirs:?}, expected {:?}; statewall {mine:?}",
                (nd, nd)
            ));
        }
    }
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));
}
