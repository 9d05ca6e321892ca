//! Lockout lint: would this plan cut off the admin? Pure: a packet evaluator over a
//! [`Plan`] plus facts gathered at the edge (the SSH connection the command runs in, the ports
//! sshd listens on). No I/O, no clock.
//!
//! Checks, each as a NEW packet arriving on a non-loopback interface:
//! - from the SSH client to the SSH server port (`SSH_CONNECTION`);
//! - to every port sshd listens on (from the SSH client when known, else from anywhere);
//! - IPv6 neighbour and router discovery (ICMPv6 133-136), untracked and new.
//!
//! Audit mode is evaluated honestly: its final rule accepts, but a reject rule still cuts.

use std::net::{IpAddr, Ipv6Addr};

use crate::core::model::Cidr;
use crate::core::plan::{
    Chain, CtStates, Hook, IPPROTO_ICMPV6, IPPROTO_TCP, Match, Plan, Rule, SetElem, Verdict,
};

/// One packet as the input chain sees it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Packet {
    pub src: IpAddr,
    pub l4proto: u8,
    /// destination port (TCP/UDP)
    pub dport: Option<u16>,
    /// ICMPv6 type
    pub icmpv6_type: Option<u8>,
    /// one `CtStates` bit
    pub ct: u32,
    pub iif: u32,
    /// the destination address, when known (None: any destination rule is taken to match)
    pub dst: Option<IpAddr>,
}

/// The verdict for a packet and the rule that gave it (`None`: the chain policy, accept).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Outcome {
    pub verdict: Verdict,
    pub rule: Option<(String, usize, Rule)>,
}

impl Outcome {
    pub fn accepted(&self) -> bool {
        self.verdict == Verdict::Accept
    }

    /// `rule 7 of chain input "web" (policy line 12): tcp dport 80 ct state new drop`
    pub fn describe(&self) -> String {
        match &self.rule {
            None => "the chain policy".into(),
            Some((chain, i, r)) => {
                let line = r
                    .origin
                    .map(|l| format!(" (policy line {})", l.line))
                    .unwrap_or_default();
                format!(
                    "rule {} of chain {chain} \"{}\"{line}: {}",
                    i + 1,
                    r.comment,
                    crate::core::render::rule(r)
                )
            }
        }
    }
}

fn matches(m: &Match, p: &Packet, rule: &Rule, plan: &Plan) -> bool {
    // a set lookup: the rule's own set (named after its policy entry) holds the value
    let in_set = |pred: &dyn Fn(&SetElem) -> bool| {
        crate::core::plan::set_of(rule, m)
            .and_then(|name| plan.sets.iter().find(|s| s.name == name))
            .is_some_and(|s| s.elements.iter().any(pred))
    };
    // a packet without a connection (an untracked neighbour solicitation) passes no match
    // of its connection
    if m.of_connection() && p.ct & CtStates::CONNECTIONLESS != 0 {
        return false;
    }
    match *m {
        // a live set's members are not known when a policy is checked: a packet is taken
        // to be in none (`statewall set add` checks the admin's own address when it is added)
        Match::SrcInLive { .. } => false,
        // adding the source to a live set (or renewing it there, or taking it out) decides
        // nothing: it matches every packet of its family
        Match::FeedLive { v6, .. } => p.src.is_ipv6() == v6,
        Match::SrcInSet { .. } | Match::SrcInAddrs { .. } => {
            in_set(&|e| matches!(e, SetElem::Net(n) if n.contains(p.src)))
        }
        Match::DstPortInSet => in_set(
            &|e| matches!(e, SetElem::Ports(r) if p.dport.is_some_and(|d| r.lo <= d && d <= r.hi)),
        ),
        // ICMPv4 types are not modelled in the lint's packets: no lint packet is ICMPv4
        Match::IcmpType(_) => false,
        // audit recorders match what they record (their rules have no verdict)
        Match::Record(_) => true,
        // interface names are unknown to the lint: assume the admin's packets match, so a
        // rule bound to an interface counts as reaching them (the cautious reading for drops
        // and rejects; for accepts it may miss a lockout through another interface)
        Match::IifName(_) => true,
        Match::CtState(st) => st.0 & p.ct != 0,
        Match::Iif(i) => i == p.iif,
        Match::L4Proto(proto) => proto == p.l4proto,
        Match::L4ProtoNot(proto) => proto != p.l4proto,
        // the lint's packets are no ICMP errors: their connection's protocol is theirs
        Match::CtProto(proto) => proto == p.l4proto,
        Match::SrcNet(net) => net.contains(p.src),
        Match::DstPort(r) => p.dport.is_some_and(|d| r.lo <= d && d <= r.hi),
        Match::Icmpv6Type { lo, hi } => p.icmpv6_type.is_some_and(|t| lo <= t && t <= hi),
        // the lint's ICMPv6 packets (neighbour and router discovery) have code 0
        Match::Icmpv6TypeCode { ty, code } => p.icmpv6_type == Some(ty) && code == 0,
        Match::IcmpTypeCode { .. } => false,
        // an exception matches only packets of its family (an ICMPv6 one, those of the
        // other types)
        Match::IcmpTypeNot { v6, ty } => v6 && p.icmpv6_type.is_some_and(|t| t != ty),
        // a family check, and an exception (`!=`), match only packets of their family
        Match::NfProto { v6 } => p.src.is_ipv6() == v6,
        Match::SrcNetNot(net) => same_family(net, p.src) && !net.contains(p.src),
        Match::DstNet(net) => same_family(net, p.src) && p.dst.is_none_or(|d| net.contains(d)),
        // a packet the evaluator sends was not DNAT'ed (`CtDnat` is false): its original
        // destination is its destination
        Match::CtOrigDst(net) => same_family(net, p.src) && p.dst.is_none_or(|d| net.contains(d)),
        // nor are they replies: their connection's source is theirs
        Match::CtOrigSrc(net) => net.contains(p.src),
        Match::DstNetNot(net) => same_family(net, p.src) && p.dst.is_none_or(|d| !net.contains(d)),
        Match::DstInSet { v6 } => {
            p.src.is_ipv6() == v6
                && (p.dst.is_none()
                    || in_set(
                        &|e| matches!(e, SetElem::Net(n) if p.dst.is_some_and(|d| n.contains(d))),
                    ))
        }
        // input packets have no output interface
        Match::Oif(_) => false,
        // like `IifName`: names are unknown here, the admin's packets are taken to match
        Match::IifWild(_) | Match::OifName(_) | Match::OifWild(_) => true,
        // the client's source port is unknown: taken to match (cautious for drops)
        Match::SrcPort(_) | Match::SrcPortInSet => true,
        // a NEW TCP packet of the lint carries SYN alone
        Match::TcpFlags { mask, value } => p.l4proto == IPPROTO_TCP && 0x02 & mask == value,
        // the lint's packet is one connection, within any rate: what exceeds a limit is a
        // burst of them (a limited allow still lets the admin in; `limited` notes it)
        Match::Limit { over, .. } => !over,
        Match::Meter { over, .. } => !over,
        // … and one connection: what exceeds a connection count is many of them at once
        Match::CtCount { .. } | Match::ConnMeter { .. } => false,
        // the lint's packets come from a unicast address to one of the host's own
        Match::AddrType { dst, ty, not } => {
            let local = crate::core::addrtype::addr_type("local").expect("a type");
            let unicast = crate::core::addrtype::addr_type("unicast").expect("a type");
            (ty == if dst { local } else { unicast }) != not
        }
        // … addressed to this host alone on the link (unicast: nft's `host`), but for
        // neighbour and router discovery, whose solicitations go to multicast groups
        Match::PktType { ty, not } => {
            let nd = p.l4proto == IPPROTO_ICMPV6 && matches!(p.icmpv6_type, Some(133..=136));
            let name = if nd { "multicast" } else { "unicast" };
            (ty == crate::core::pkttype::pkt_type(name).expect("a type")) != not
        }
        // the lint's packets carry no routing header: `rt type` matches neither way (the
        // kernel's exthdr load finds no header and ends the rule)
        Match::RtType { .. } => false,
        Match::TcpOption { .. }
        | Match::Ipsec { .. }
        | Match::TcpMss { .. }
        | Match::EtherSrc { .. }
        | Match::Length { .. }
        | Match::Ttl { .. } => header_matches(m, p, rule),
        // the lint's packets arrive from elsewhere: no socket of this host sent them, and
        // an owner match takes neither way (as `meta skuid` fails without a socket)
        Match::SkOwner { .. } => false,
        // what the lint's packets carry past their headers is unknown: a search of it is
        // taken the cautious way, as matching for a drop or reject and not for an accept
        Match::Contains { .. } => rule.verdict != Verdict::Accept,
        // likewise a test of words the lint's packets carry (their headers' words are
        // known, not the bytes past them an offset may reach), and the clock: they come at
        // no particular time
        Match::U32 { .. } | Match::Hour { .. } | Match::Day { .. } | Match::Time { .. } => {
            rule.verdict != Verdict::Accept
        }
        // nothing marks the lint's packets: their mark is 0
        Match::Mark { value, not, .. } => (value == 0) != not,
        // no helper expected the lint's packets' connections
        Match::Helper { not, .. } => not,
        // nothing DNAT'ed the lint's packets: their original port is their port (an ICMPv6
        // one's type × 256, its code taken as 0); a packet of another protocol is taken the
        // cautious way
        Match::CtOrigDport(r) => match p.dport.or(p.icmpv6_type.map(|t| u16::from(t) << 8)) {
            Some(d) => r.lo <= d && d <= r.hi,
            None => rule.verdict != Verdict::Accept,
        },
        Match::CtDnat => false,
        // every interface but one: the lint's packets arrive on loopback (by index) or on
        // an interface whose name is unknown, taken to be another one
        Match::IfNot {
            out: false,
            wild,
            name,
        } => {
            let lo = crate::core::plan::ifname_bytes("lo");
            !(p.iif == crate::core::plan::LOOPBACK_IFINDEX
                && if wild {
                    lo.starts_with(&name[..name.iter().position(|&c| c == 0).unwrap_or(16)])
                } else {
                    name == lo
                })
        }
        // input packets have no output interface, so none is the one excepted
        Match::IfNot { out: true, .. } => true,
        Match::DstPortNot(r) => p.dport.is_some_and(|d| d < r.lo || r.hi < d),
        // the client's source port is unknown: taken to match, as `SrcPort`
        Match::SrcPortNot(_) => true,
    }
}

/// Whether every value of `a`-`b` is in `lo`-`hi` (Some(true)), none is (Some(false)), or
/// some are (None).
fn within(lo: u16, hi: u16, (a, b): (u16, u16)) -> Option<bool> {
    if lo <= a && b <= hi {
        Some(true)
    } else if hi < a || b < lo {
        Some(false)
    } else {
        None
    }
}

/// The link-layer and IP header matches (source MAC, length, TTL; IPsec) for a lint packet: what
/// the lint cannot know is taken the cautious way (matched by a drop or reject, not by an
/// accept).
fn header_matches(m: &Match, p: &Packet, rule: &Rule) -> bool {
    match *m {
        // a NEW TCP packet of the lint is a SYN: it carries an MSS (every stack sends one),
        // maybe window scaling, SACK permitted, a timestamp, NOPs and an end of list (which a
        // client sends depends on its stack), and no other kind. A kind it may or may not
        // carry is taken the cautious way: matched by a drop or reject, not by an accept. A
        // packet that is not TCP carries no option (nft: `missing`)
        Match::TcpOption { kind, present } => {
            if p.l4proto != IPPROTO_TCP {
                return !present;
            }
            match kind {
                2 => present,
                0 | 1 | 3 | 4 | 8 => rule.verdict != Verdict::Accept,
                _ => !present,
            }
        }
        // … and its MSS is at least 536 (the least every IPv4 host takes, RFC 9293) and at most
        // 65495 (loopback's MTU less the headers), its exact value unknown: a range that holds
        // all of those matches, one that holds none does not, any other is taken the cautious
        // way. Other packets carry no option: the load ends the rule, neither way matches
        Match::TcpMss { lo, hi, not } => {
            p.l4proto == IPPROTO_TCP
                && within(lo, hi, (536, 65495))
                    .map_or(rule.verdict != Verdict::Accept, |w| w != not)
        }
        // neighbour and router discovery arrive in the clear (IPsec lets them by, RFC
        // 4301): no security path. Whether the admin's own connection came through IPsec
        // is unknown (a VPN server's admin often comes through the tunnel): taken the
        // cautious way, as matching for a drop or reject and not for an accept
        Match::Ipsec { present, .. } => {
            let nd = p.l4proto == IPPROTO_ICMPV6 && matches!(p.icmpv6_type, Some(133..=136));
            if nd {
                !present
            } else {
                rule.verdict != Verdict::Accept
            }
        }
        // a frame's source MAC is unknown to the lint: a packet on loopback came in on no
        // ethernet device and matches neither way (nft's `meta iiftype ether` fails); one
        // from elsewhere may carry any address, taken the cautious way (matched by a drop or
        // reject, not by an accept)
        Match::EtherSrc { .. } => {
            p.iif != crate::core::plan::LOOPBACK_IFINDEX && rule.verdict != Verdict::Accept
        }
        // the lint's packets (a SYN, neighbour and router discovery) are small, their exact
        // length unknown: at least 40 bytes and at most 1280. A range that holds all of
        // those matches, one that holds none does not, any other is taken the cautious way
        Match::Length { lo, hi, not } => {
            within(lo, hi, (40, 1280)).map_or(rule.verdict != Verdict::Accept, |w| w != not)
        }
        // the TTL of the lint's packets is unknown (it depends on the hops they took), but
        // neighbour and router discovery always carry hop limit 255 (RFC 4861): a range that
        // holds every TTL matches, any other is taken the cautious way
        Match::Ttl { v6, lo, hi, not } => {
            let nd = p.l4proto == IPPROTO_ICMPV6 && matches!(p.icmpv6_type, Some(133..=136));
            let known = if lo == 0 && hi == 255 {
                Some(true)
            } else if nd {
                Some(hi == 255)
            } else {
                None
            };
            p.src.is_ipv6() == v6 && known.map_or(rule.verdict != Verdict::Accept, |k| k != not)
        }
        _ => unreachable!("matches hands over header matches only"),
    }
}

fn same_family(net: Cidr, a: IpAddr) -> bool {
    matches!(
        (net, a),
        (Cidr::V4(..), IpAddr::V4(_)) | (Cidr::V6(..), IpAddr::V6(_))
    )
}

/// The first rule of the input base chain(s) matching `p`, or the chain policy (accept).
/// A drop or reject in any base chain is final; an accept ends only its chain.
pub fn evaluate(plan: &Plan, p: &Packet) -> Outcome {
    let mut accepted = None;
    let input = |c: &&Chain| c.hook.is_some_and(|h| h.hook == Hook::Input);
    for chain in plan.chains.iter().filter(input) {
        if let Some(o) = walk(plan, chain, p, 0) {
            if o.verdict != Verdict::Accept {
                return o;
            }
            accepted.get_or_insert(o);
        }
    }
    accepted.unwrap_or(Outcome {
        verdict: Verdict::Accept,
        rule: None,
    })
}

/// The first rule of `chain` with a verdict that matches `p`, following jumps: a jumped-to
/// chain where nothing matches returns to the rule after the jump. A rule without a verdict
/// (an audit recorder) only counts, so evaluation goes on past it.
fn walk(plan: &Plan, chain: &Chain, p: &Packet, depth: usize) -> Option<Outcome> {
    for (i, r) in chain.rules.iter().enumerate() {
        if matches!(
            r.verdict,
            Verdict::Continue | Verdict::Log(_) | Verdict::SetMss(_)
        ) || !r.matches.iter().all(|m| matches(m, p, r, plan))
        {
            continue;
        }
        if let Verdict::Jump(n) | Verdict::JumpIn(_, n) = r.verdict {
            // the kernel refuses loops and deep nesting; the depth bound keeps this total
            let name = match r.verdict {
                Verdict::JumpIn(hook, _) => crate::core::plan::hook_entries_chain(hook, n),
                _ => crate::core::plan::entries_chain(n),
            };
            if depth < 16
                && let Some(target) = plan.chains.iter().find(|c| c.name == name)
                && let Some(o) = walk(plan, target, p, depth + 1)
            {
                return Some(o);
            }
            continue;
        }
        return Some(Outcome {
            verdict: r.verdict,
            rule: Some((chain.name.clone(), i, r.clone())),
        });
    }
    None
}

/// The admin's SSH connection: client address and port, server address and port, and where
/// it was learnt (`SSH_CONNECTION`, or the connection of the sshd this command runs under).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SshConnection {
    pub client: IpAddr,
    pub client_port: u16,
    pub server: IpAddr,
    pub server_port: u16,
    pub found_by: &'static str,
    /// the client is an address of this host (`ssh localhost`, a tunnel to it): its packets
    /// arrive on the loopback interface
    pub client_is_local: bool,
}

/// An address as the input chain sees it: an IPv4-mapped IPv6 address is IPv4.
pub fn unmapped(a: IpAddr) -> IpAddr {
    match a {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map(IpAddr::V4).unwrap_or(a),
        a => a,
    }
}

/// Parses `SSH_CONNECTION` ("192.0.2.2 50000 192.0.2.1 22"); IPv4-mapped IPv6 addresses
/// become IPv4 (that is how the packets reach the input chain).
pub fn parse_ssh_connection(s: &str) -> Option<SshConnection> {
    let w: Vec<&str> = s.split_whitespace().collect();
    let [c, cp, sv, sp] = w.as_slice() else {
        return None;
    };
    Some(SshConnection {
        client: unmapped(c.parse().ok()?),
        client_port: cp.parse().ok()?,
        server: unmapped(sv.parse().ok()?),
        server_port: sp.parse().ok()?,
        found_by: "SSH_CONNECTION",
        client_is_local: false,
    })
}

/// What the edge knows about this machine.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Facts {
    /// the SSH connection the command runs in, when it reaches this ruleset
    pub ssh: Option<SshConnection>,
    /// TCP ports a process named sshd listens on
    pub sshd_ports: Vec<u16>,
}

/// One way the plan would lock the admin out.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Finding {
    pub what: String,
    pub outcome: Outcome,
}

impl std::fmt::Display for Finding {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let v = crate::core::render::verdict(self.outcome.verdict);
        write!(f, "{}: {v} by {}", self.what, self.outcome.describe())
    }
}

/// The rules that accept a NEW TCP connection to one of `ports` (from anywhere the plan
/// names), other than the final rule: their counters rising proves that a new SSH
/// connection came in through the policy's own rules, not through audit mode's final accept.
pub fn ssh_proof_rules(plan: &Plan, ports: &[u16]) -> Vec<(String, usize)> {
    let mut out: Vec<(String, usize)> = Vec::new();
    for &port in ports {
        for src in candidate_sources(plan) {
            let o = evaluate(plan, &tcp_new(src, port));
            if let (Verdict::Accept, Some((chain, i, rule))) = (o.verdict, o.rule)
                && rule.comment != crate::core::compile::FINAL_COMMENT
                && !out.iter().any(|(c, j)| *c == chain && *j == i)
            {
                out.push((chain, i));
            }
        }
    }
    out
}

/// A non-loopback interface index for the evaluated packets.
const WIRE_IIF: u32 = 2;

fn tcp_new(src: IpAddr, port: u16) -> Packet {
    Packet {
        src,
        l4proto: IPPROTO_TCP,
        dport: Some(port),
        icmpv6_type: None,
        ct: CtStates::NEW,
        iif: WIRE_IIF,
        dst: None,
    }
}

/// Sources to try when the client is unknown: one outside every network the plan names,
/// and one inside each (so a port open only to some networks still counts as reachable).
fn candidate_sources(plan: &Plan) -> Vec<IpAddr> {
    let mut v: Vec<IpAddr> = vec![
        "203.0.113.250".parse().expect("ip"),
        "2001:db8:ffff::250".parse().expect("ip"),
    ];
    for c in &plan.chains {
        for r in &c.rules {
            for m in &r.matches {
                if let Match::SrcNet(net) = m {
                    v.push(first_address(net));
                }
            }
        }
    }
    // one address of each source set stands for its entry (a set of 50,000 networks must
    // not make the lint evaluate 50,000 packets)
    for set in &plan.sets {
        if let Some(SetElem::Net(net)) = set.elements.first() {
            v.push(first_address(net));
        }
    }
    v
}

fn first_address(net: &Cidr) -> IpAddr {
    match net {
        Cidr::V4(a, _) => IpAddr::V4(*a),
        Cidr::V6(a, _) => IpAddr::V6(*a),
    }
}

/// Everything in `plan` that would cut the admin off; empty when it is safe to apply.
pub fn check(plan: &Plan, facts: &Facts) -> Vec<Finding> {
    let mut out = Vec::new();
    if let Some(ssh) = facts.ssh {
        let mut p = tcp_new(ssh.client, ssh.server_port);
        if ssh.client_is_local {
            p.iif = crate::core::plan::LOOPBACK_IFINDEX;
        }
        let o = evaluate(plan, &p);
        if !o.accepted() {
            out.push(Finding {
                what: format!(
                    "a NEW ssh connection from your client {} to port {} ({})",
                    ssh.client, ssh.server_port, ssh.found_by
                ),
                outcome: o,
            });
        }
    }
    let mut ports = facts.sshd_ports.clone();
    ports.sort_unstable();
    ports.dedup();
    for port in ports {
        if facts.ssh.is_some_and(|s| s.server_port == port) {
            continue; // reported above
        }
        match facts.ssh {
            Some(ssh) => {
                let o = evaluate(plan, &tcp_new(ssh.client, port));
                if !o.accepted() {
                    out.push(Finding {
                        what: format!(
                            "a NEW connection from your client {} to port {port}, where sshd listens",
                            ssh.client
                        ),
                        outcome: o,
                    });
                }
            }
            None => {
                let tries: Vec<Outcome> = candidate_sources(plan)
                    .into_iter()
                    .map(|src| evaluate(plan, &tcp_new(src, port)))
                    .collect();
                if !tries.iter().any(Outcome::accepted) {
                    out.push(Finding {
                        what: format!(
                            "a NEW connection from anywhere to port {port}, where sshd listens"
                        ),
                        outcome: tries.into_iter().next().expect("at least one source"),
                    });
                }
            }
        }
    }
    let link_local = IpAddr::V6(Ipv6Addr::new(0xfe80, 0, 0, 0, 0, 0, 0, 1));
    'nd: for ty in 133..=136u8 {
        for ct in [CtStates::UNTRACKED, CtStates::NEW] {
            let p = Packet {
                src: link_local,
                l4proto: IPPROTO_ICMPV6,
                dport: None,
                icmpv6_type: Some(ty),
                ct,
                iif: WIRE_IIF,
                dst: None,
            };
            let o = evaluate(plan, &p);
            if !o.accepted() {
                out.push(Finding {
                    what: format!(
                        "IPv6 neighbour/router discovery (icmpv6 type {ty}, ct state {})",
                        CtStates(ct).names().join(",")
                    ),
                    outcome: o,
                });
                break 'nd;
            }
        }
    }
    out
}

/// What the lint lets through but should be said: the admin's ssh connections accepted by
/// an entry with a rate limit (not a lockout — a connection within the rate gets in — but
/// a burst of new ones from the admin's address would be dropped or rejected).
pub fn notes(plan: &Plan, facts: &Facts) -> Vec<String> {
    let mut ports = facts.sshd_ports.clone();
    ports.extend(facts.ssh.map(|s| s.server_port));
    ports.sort_unstable();
    ports.dedup();
    let mut out = Vec::new();
    for port in ports {
        let sources = match facts.ssh {
            Some(ssh) => vec![ssh.client],
            None => candidate_sources(plan),
        };
        for src in sources {
            let o = evaluate(plan, &tcp_new(src, port));
            let Some((chain, i, rule)) = o.rule.as_ref().filter(|_| o.accepted()) else {
                continue;
            };
            let Some(c) = plan.chains.iter().find(|c| &c.name == chain) else {
                continue;
            };
            // the over-limit rule before the accept, or (`over = "continue"`) the accept's
            // own limit
            let limit = c.rules[..*i]
                .iter()
                .filter(|r| r.comment == rule.comment)
                .flat_map(|r| r.matches.iter())
                .find(|m| {
                    matches!(
                        m,
                        Match::Limit { over: true, .. } | Match::Meter { over: true, .. }
                    )
                })
                .map(|m| (m, "are refused until the rate allows them again"))
                .or_else(|| {
                    rule.matches
                        .iter()
                        .find(|m| matches!(m, Match::Limit { .. } | Match::Meter { .. }))
                        .map(|m| (m, "go on to the rules after it"))
                });
            if let Some((m, then)) = limit {
                let how = match m {
                    Match::Meter {
                        rate, prefix: 0, ..
                    } => format!("for everyone together at {rate}"),
                    Match::Meter { rate, .. } => format!("per source at {rate}"),
                    Match::Limit { rate, .. } => format!("for everyone together at {rate}"),
                    _ => unreachable!("filtered above"),
                };
                let note = format!(
                    "NEW connections to port {port}, where sshd listens, are accepted by \"{}\" but rate limited {how}: more than that from your address {then}",
                    rule.comment
                );
                if !out.contains(&note) {
                    out.push(note);
                }
            }
        }
    }
    out
}

/// Parses `/proc/net/tcp` or `/proc/net/tcp6`: (local port, socket inode) of LISTEN sockets.
pub fn parse_proc_net_tcp(text: &str) -> Vec<(u16, u64)> {
    text.lines()
        .skip(1)
        .filter_map(|l| {
            let f: Vec<&str> = l.split_whitespace().collect();
            let local = f.get(1)?;
            let state = f.get(3)?;
            if *state != "0A" {
                return None;
            }
            let port = u16::from_str_radix(local.rsplit(':').next()?, 16).ok()?;
            let inode = f.get(9)?.parse().ok()?;
            Some((port, inode))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::{compile, policy};

    fn plan(src: &str) -> Plan {
        let (p, d) = policy::parse(src);
        assert!(!crate::core::diag::has_errors(&d), "{d:?}");
        compile::compile(&p.unwrap(), "statewall")
    }

    fn ssh_facts() -> Facts {
        Facts {
            ssh: parse_ssh_connection("192.0.2.2 50000 192.0.2.1 22"),
            sshd_ports: vec![22],
        }
    }

    #[test]
    fn a_rate_limited_ssh_is_no_lockout_but_is_noted_and_a_logged_one_neither() {
        for (limit, how) in [
            (
                "limit = { rate = \"6/30s\", per = \"source\" }",
                "per source at 12/minute burst 6 packets",
            ),
            (
                "limit = \"3/minute\"",
                "for everyone together at 3/minute burst 3 packets",
            ),
        ] {
            let p = plan(&format!(
                "log_final = true\n[[allow]]\nname = \"ssh\"\ntcp = [22]\n{limit}\nlog = true\n"
            ));
            assert_eq!(check(&p, &ssh_facts()), vec![]);
            let notes = notes(&p, &ssh_facts());
            assert_eq!(notes.len(), 1, "{notes:?}");
            assert!(notes[0].contains(how), "{notes:?}");
        }
        let p = plan("[[allow]]\nname = \"ssh\"\ntcp = [22]\nlog = true\n");
        assert_eq!(check(&p, &ssh_facts()), vec![]);
        assert_eq!(notes(&p, &ssh_facts()), Vec::<String>::new());
    }

    #[test]
    fn ssh_open_passes() {
        let p = plan("[[allow]]\nname = \"ssh\"\ntcp = [22]\n");
        assert_eq!(check(&p, &ssh_facts()), vec![]);
    }

    #[test]
    fn ssh_open_to_a_set_of_networks_is_reachable_and_proves_a_confirm() {
        let p = plan(
            "[[allow]]\nname = \"ssh\"\ntcp = [22]\nfrom = [\"192.0.2.0/24\", \"198.51.100.0/24\"]\n",
        );
        let facts = Facts {
            ssh: None,
            sshd_ports: vec![22],
        };
        assert_eq!(check(&p, &facts), vec![]);
        let rules = ssh_proof_rules(&p, &[22]);
        assert_eq!(rules.len(), 1, "{rules:?}");
        assert_eq!(p.chains[0].rules[rules[0].1].comment, "ssh");
    }

    #[test]
    fn no_ssh_rule_is_refused_naming_the_final_rule() {
        let p = plan("[[allow]]\nname = \"web\"\ntcp = [8080]\n");
        let f = check(&p, &ssh_facts());
        assert_eq!(f.len(), 1, "{f:?}");
        let text = f[0].to_string();
        assert!(text.contains("192.0.2.2"), "{text}");
        assert!(text.contains("\"final\""), "{text}");
        assert!(text.contains("drop"), "{text}");
    }

    #[test]
    fn a_final_reject_icmpx_cannot_say_cuts_each_family_by_its_own_rule() {
        let p = plan("final = \"host-prohibited\"\n[[allow]]\nname = \"web\"\ntcp = [8080]\n");
        let f = check(&p, &ssh_facts());
        assert_eq!(f.len(), 1, "{f:?}");
        let text = f[0].to_string();
        assert!(text.contains("reject with icmp host-prohibited"), "{text}");
        let v6 = tcp_new("2001:db8::2".parse().unwrap(), 22);
        let o = evaluate(&p, &v6);
        assert_eq!(o.verdict, Verdict::RejectIcmp { v6: true, code: 1 });
        let ok = plan("final = \"host-prohibited\"\n[[allow]]\nname = \"ssh\"\ntcp = [22]\n");
        assert_eq!(check(&ok, &ssh_facts()), vec![]);
    }

    #[test]
    fn audit_mode_accepts_but_a_reject_still_cuts() {
        let audit = plan("mode = \"audit\"\n[[allow]]\nname = \"web\"\ntcp = [8080]\n");
        assert_eq!(check(&audit, &ssh_facts()), vec![]);
        let rej = plan(
            "mode = \"audit\"\n[[reject]]\nname = \"nossh\"\ntcp = [22]\nwith = \"tcp-reset\"\n",
        );
        let f = check(&rej, &ssh_facts());
        assert_eq!(f.len(), 1);
        assert!(
            f[0].to_string().contains("\"nossh\" (policy line"),
            "{}",
            f[0]
        );
    }

    #[test]
    fn ssh_restricted_to_another_network_is_refused() {
        let p = plan("[[allow]]\nname = \"ssh\"\ntcp = [22]\nfrom = [\"198.51.100.0/24\"]\n");
        assert_eq!(check(&p, &ssh_facts()).len(), 1);
        // without SSH_CONNECTION, port 22 is still reachable from somewhere: fine
        let facts = Facts {
            ssh: None,
            sshd_ports: vec![22],
        };
        assert_eq!(check(&p, &facts), vec![]);
        let none = plan("[[allow]]\nname = \"web\"\ntcp = [80]\n");
        assert_eq!(check(&none, &facts).len(), 1);
    }

    #[test]
    fn other_sshd_ports_and_neighbour_discovery() {
        let p = plan("[[allow]]\nname = \"ssh\"\ntcp = [22]\n");
        let mut facts = ssh_facts();
        facts.sshd_ports = vec![22, 2222];
        let f = check(&p, &facts);
        assert_eq!(f.len(), 1);
        assert!(f[0].what.contains("2222"));
        let no_v6 = plan("[baseline]\nicmpv6 = false\n[[allow]]\nname = \"ssh\"\ntcp = [22]\n");
        let f = check(&no_v6, &ssh_facts());
        assert_eq!(f.len(), 1);
        assert!(f[0].what.contains("neighbour"), "{}", f[0]);
        // an untracked solicitation has no connection, of ICMPv6 or any other protocol
        for key in [
            "connection_protocol = [\"icmpv6\"]",
            "published_from = [\"fe80::/10\"]",
        ] {
            let p = plan(&format!(
                "[baseline]\nicmpv6 = false\n[[allow]]\nname = \"ssh\"\ntcp = [22]\n[[allow]]\nname = \"nd\"\n{key}\n"
            ));
            let f = check(&p, &ssh_facts());
            assert_eq!(f.len(), 1, "{key}");
            assert!(
                f[0].what.contains("neighbour") && f[0].what.contains("untracked"),
                "{key}: {}",
                f[0]
            );
        }
    }

    /// A rule of untracked packets that also matches the connection (a plan statewall's
    /// compiler no longer writes, read by the evaluator all the same) takes no untracked
    /// packet: it has no connection.
    #[test]
    fn connection_matches_take_no_untracked_packet() {
        let mut p = plan(
            "[baseline]\nicmpv6 = false\n[[allow]]\nname = \"nd\"\nconnection_protocol = [\"icmpv6\"]\n",
        );
        let both = CtStates(CtStates::NEW | CtStates::UNTRACKED);
        for r in p.chains.iter_mut().flat_map(|c| c.rules.iter_mut()) {
            for m in r.matches.iter_mut() {
                if matches!(m, Match::CtState(_)) && r.comment == "nd" {
                    *m = Match::CtState(both);
                }
            }
        }
        let solicitation = |ct| Packet {
            src: IpAddr::V6(Ipv6Addr::new(0xfe80, 0, 0, 0, 0, 0, 0, 1)),
            l4proto: IPPROTO_ICMPV6,
            dport: None,
            icmpv6_type: Some(135),
            ct,
            iif: WIRE_IIF,
            dst: None,
        };
        let by = |ct| evaluate(&p, &solicitation(ct)).rule.map(|r| r.2.comment);
        assert_eq!(by(CtStates::NEW).as_deref(), Some("nd"));
        assert_ne!(by(CtStates::UNTRACKED).as_deref(), Some("nd"));
    }

    #[test]
    fn blocks_of_link_layer_types_cut_what_arrives_as_those_types() {
        let ssh = "[[allow]]\nname = \"ssh\"\ntcp = [22]\n";
        let block = |ty: &str| {
            plan(&format!(
                "[[block]]\nname = \"b\"\npkttype = \"{ty}\"\n{ssh}"
            ))
        };
        assert_eq!(check(&block("broadcast"), &ssh_facts()), vec![]);
        // the admin's connection is unicast
        let f = check(&block("unicast"), &ssh_facts());
        assert!(!f.is_empty() && f[0].what.contains("22"), "{f:?}");
        // neighbour solicitations go to a multicast group
        let f = check(&block("multicast"), &ssh_facts());
        assert!(
            !f.is_empty() && f.iter().all(|f| f.what.contains("neighbour")),
            "{f:?}"
        );
    }

    #[test]
    fn the_admins_connection_may_come_through_ipsec_and_neighbours_come_clear() {
        let ssh = "[[allow]]\nname = \"ssh\"\ntcp = [22]\n";
        let cut = |entries: &str| check(&plan(entries), &ssh_facts());
        // a block of either kind may take the admin's packets
        for key in ["ipsec_in = true", "ipsec_in = false"] {
            let f = cut(&format!(
                "[[block]]\nname = \"b\"\ntcp = [22]\n{key}\n{ssh}"
            ));
            assert!(!f.is_empty() && f[0].what.contains("22"), "{key}: {f:?}");
        }
        // an allow of one kind alone does not prove the admin gets in
        for key in ["ipsec_in = true", "ipsec_in = false"] {
            let f = cut(&format!("[[allow]]\nname = \"ssh\"\ntcp = [22]\n{key}\n"));
            assert!(!f.is_empty() && f[0].what.contains("22"), "{key}: {f:?}");
        }
        // neighbour discovery arrives in the clear: a block of what IPsec decrypted leaves
        // it be, one of what arrived in the clear takes it
        let f = cut(&format!("[[block]]\nname = \"b\"\nipsec_in = true\n{ssh}"));
        assert!(f.iter().all(|f| !f.what.contains("neighbour")), "{f:?}");
        let f = cut(&format!("[[block]]\nname = \"b\"\nipsec_in = false\n{ssh}"));
        assert!(f.iter().any(|f| f.what.contains("neighbour")), "{f:?}");
    }

    #[test]
    fn routing_headers_never_and_tcp_options_as_a_syn_carries_them() {
        let ssh = "[[allow]]\nname = \"ssh\"\ntcp = [22]\n";
        let blocked = |key: &str| {
            let p = plan(&format!("[[block]]\nname = \"b\"\n{key}\n{ssh}"));
            !check(&p, &ssh_facts()).is_empty()
        };
        // no lint packet has a routing header: neither way matches
        assert!(!blocked("rt_type = 0"));
        assert!(!blocked("except_rt_type = 0"));
        // every SYN carries an MSS, none an odd kind; a kind it may carry is taken to be
        // there for a block, and not for an allow
        assert!(blocked("tcp_option = \"mss\""));
        assert!(!blocked("except_tcp_option = \"mss\""));
        assert!(!blocked("tcp_option = [64, 128]"));
        assert!(blocked("except_tcp_option = 64"));
        assert!(blocked("tcp_option = \"timestamp\""));
        assert!(blocked("except_tcp_option = \"timestamp\""));
        let allow = |key: &str| {
            let p = plan(&format!("[[allow]]\nname = \"ssh\"\ntcp = [22]\n{key}\n"));
            check(&p, &ssh_facts()).is_empty()
        };
        assert!(allow("tcp_option = \"mss\""));
        assert!(!allow("tcp_option = \"timestamp\""));
        assert!(!allow("tcp_option = 64"));
        assert!(allow("except_tcp_option = 64"));
    }

    #[test]
    fn a_syns_mss_is_at_least_536_and_its_value_unknown() {
        let ssh = "[[allow]]\nname = \"ssh\"\ntcp = [22]\n";
        let blocked = |key: &str| {
            let p = plan(&format!("[[block]]\nname = \"b\"\n{key}\n{ssh}"));
            !check(&p, &ssh_facts()).is_empty()
        };
        // the anti-DDoS rule (`! --mss 536:65535`) spares every SYN a real stack sends
        assert!(!blocked("except_tcp_mss = \"536-65535\""));
        assert!(!blocked("tcp_mss = \"0-535\""));
        // a value it may have is taken to be it, for a block
        assert!(blocked("tcp_mss = 1460"));
        assert!(blocked("except_tcp_mss = 1460"));
        assert!(blocked("tcp_mss = \"536-65535\""));
        let allow = |key: &str| {
            let p = plan(&format!("[[allow]]\nname = \"ssh\"\ntcp = [22]\n{key}\n"));
            check(&p, &ssh_facts()).is_empty()
        };
        assert!(allow("tcp_mss = \"536-65535\""));
        assert!(!allow("tcp_mss = 1460"));
        assert!(!allow("except_tcp_mss = \"536-65535\""));
    }

    #[test]
    fn a_source_mac_is_unknown_and_taken_the_cautious_way() {
        let ssh = "[[allow]]\nname = \"ssh\"\ntcp = [22]\n";
        let blocked = |key: &str| {
            let p = plan(&format!("[[block]]\nname = \"b\"\n{key}\n{ssh}"));
            !check(&p, &ssh_facts()).is_empty()
        };
        // the admin's frames may carry any address: a block of one, or of all but one, may cut
        assert!(blocked("mac = \"02:00:00:00:00:01\""));
        assert!(blocked("except_mac = \"02:00:00:00:00:01\""));
        // … and an allow of one may not let them in
        let p = plan("[[allow]]\nname = \"ssh\"\ntcp = [22]\nmac = \"02:00:00:00:00:01\"\n");
        assert!(!check(&p, &ssh_facts()).is_empty());
    }

    #[test]
    fn small_packets_meet_length_ranges_as_they_must_or_may() {
        let ssh = "[[allow]]\nname = \"ssh\"\ntcp = [22]\n";
        let blocked = |key: &str| {
            let p = plan(&format!("[[block]]\nname = \"b\"\n{key}\n{ssh}"));
            !check(&p, &ssh_facts()).is_empty()
        };
        assert!(blocked("length = \"0:1500\""));
        assert!(!blocked("length = \"1400:65535\""));
        assert!(blocked("length = \"60:100\""));
        assert!(!blocked("except_length = \"0:1500\""));
        let allow = |key: &str| {
            let p = plan(&format!("[[allow]]\nname = \"ssh\"\ntcp = [22]\n{key}\n"));
            check(&p, &ssh_facts()).is_empty()
        };
        assert!(allow("length = \"0:1500\""));
        assert!(!allow("length = \"60:100\""));
        assert!(!allow("length = \"1400:65535\""));
    }

    #[test]
    fn neighbour_discovery_carries_hop_limit_255_and_other_ttls_are_unknown() {
        let ssh = "[[allow]]\nname = \"ssh\"\ntcp = [22]\n";
        let blocked = |key: &str| {
            let p = plan(&format!("[[block]]\nname = \"b\"\n{key}\n{ssh}"));
            !check(&p, &ssh_facts()).is_empty()
        };
        let nd = "icmpv6 = [133, 134, 135, 136]";
        // the classic check that neighbour discovery came from the link: never its own
        assert!(!blocked(&format!("{nd}\nexcept_ttl = 255")));
        assert!(blocked(&format!("{nd}\nttl = 255")));
        assert!(!blocked(&format!("{nd}\nttl = \"<255\"")));
        // a SYN's TTL is unknown: a block of some may cut, an allow of some may not let in
        assert!(blocked("tcp = [22]\nttl = \"<5\""));
        let p = plan("[[allow]]\nname = \"ssh\"\ntcp = [22]\nttl = \">5\"\n");
        assert!(!check(&p, &ssh_facts()).is_empty());
    }

    #[test]
    fn ssh_connection_parsing() {
        let s = parse_ssh_connection("::ffff:192.0.2.2 50000 ::ffff:192.0.2.1 22").unwrap();
        assert_eq!(s.client, "192.0.2.2".parse::<IpAddr>().unwrap());
        assert_eq!(s.server_port, 22);
        assert!(parse_ssh_connection("garbage").is_none());
    }

    #[test]
    fn proc_net_tcp_listeners() {
        let text = "  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode\n   0: 00000000:0016 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 12345 1 0000000000000000 100 0 0 10 0\n   1: 0100007F:0019 0100007F:9C40 01 00000000:00000000 00:00000000 00000000     0        0 999 1\n";
        assert_eq!(parse_proc_net_tcp(text), vec![(22, 12345)]);
    }
}
