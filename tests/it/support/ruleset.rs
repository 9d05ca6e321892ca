//! What an iptables-save file says, as much as a traffic harness needs to build a topology
//! and a probe matrix for it (interface names, networks, ports), and the IPv4 file made into
//! the ip6tables file that `--mirror-ipv6` promises (see `corpus.rs`). The importer is
//! what is tested; this is deliberately a separate, small reading.

use std::collections::{BTreeSet, HashMap, HashSet};
use std::fmt::Write as _;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use super::routed;

// ---------------------------------------------------------------------------------------------
// Networks

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Net {
    pub addr: IpAddr,
    pub prefix: u8,
}

impl Net {
    pub fn parse(text: &str) -> Option<Net> {
        let (a, m) = text.split_once('/').unwrap_or((text, ""));
        let addr: IpAddr = a.parse().ok()?;
        let max = if addr.is_ipv4() { 32 } else { 128 };
        let prefix = if m.is_empty() {
            max
        } else if let Ok(p) = m.parse::<u8>() {
            p
        } else {
            // a dotted netmask: 255.255.0.0
            let mask: Ipv4Addr = m.parse().ok()?;
            let bits = u32::from(mask);
            if bits.leading_ones() + bits.trailing_zeros() != 32 {
                return None;
            }
            bits.leading_ones() as u8
        };
        (prefix <= max).then_some(Net { addr, prefix })
    }

    pub fn bits(a: IpAddr) -> u128 {
        match a {
            IpAddr::V4(v4) => u32::from(v4) as u128,
            IpAddr::V6(v6) => u128::from(v6),
        }
    }

    pub fn width(&self) -> u32 {
        if self.addr.is_ipv4() { 32 } else { 128 }
    }

    pub fn mask(&self) -> u128 {
        let host = self.width() - self.prefix as u32;
        let all = if self.width() == 32 {
            u32::MAX as u128
        } else {
            u128::MAX
        };
        if host >= 128 {
            0
        } else {
            all & !((1u128 << host) - 1)
        }
    }

    pub fn contains(&self, a: IpAddr) -> bool {
        a.is_ipv4() == self.addr.is_ipv4()
            && Net::bits(a) & self.mask() == Net::bits(self.addr) & self.mask()
    }

    pub fn nth(&self, n: u128) -> IpAddr {
        let v = (Net::bits(self.addr) & self.mask()) | n;
        match self.addr {
            IpAddr::V4(_) => IpAddr::V4(Ipv4Addr::from(v as u32)),
            IpAddr::V6(_) => IpAddr::V6(Ipv6Addr::from(v)),
        }
    }

    /// A usable unicast address inside, not one the trio uses itself, that `fits` the side
    /// it goes to.
    pub fn pick(&self, taken: &HashSet<IpAddr>, fits: impl Fn(IpAddr) -> bool) -> Option<IpAddr> {
        if self.prefix == 0 {
            return None;
        }
        let host = self.width() - self.prefix as u32;
        let candidates: Vec<u128> = match host {
            0 => vec![0],
            1 => vec![0, 1],
            _ => (1..=4u128).filter(|n| host >= 3 || *n < 3).collect(),
        };
        candidates
            .into_iter()
            .map(|n| self.nth(n))
            .find(|a| usable(*a) && !routed::is_link_address(*a) && !taken.contains(a) && fits(*a))
    }
}

pub fn usable(a: IpAddr) -> bool {
    match a {
        IpAddr::V4(v4) => {
            let o = v4.octets();
            !(o[0] == 0 || o[0] == 127 || o[0] >= 224)
        }
        IpAddr::V6(v6) => {
            let s = v6.segments();
            !(v6.is_unspecified()
                || v6.is_loopback()
                || s[0] >= 0xff00
                || (s[0] & 0xffc0) == 0xfe80
                || (s[0..5] == [0; 5] && s[5] == 0xffff))
        }
    }
}

// ---------------------------------------------------------------------------------------------
// What the file says (only what the harness needs; the importer is what is tested)

/// Splits a rule line into words, `"..."` (with `\"`) kept as one.
pub fn words(line: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut cur = String::new();
    let (mut quoted, mut escaped, mut any) = (false, false, false);
    for c in line.chars() {
        if escaped {
            cur.push(c);
            escaped = false;
        } else if c == '\\' && quoted {
            escaped = true;
        } else if c == '"' {
            quoted = !quoted;
            any = true;
        } else if c.is_whitespace() && !quoted {
            if any || !cur.is_empty() {
                out.push(std::mem::take(&mut cur));
            }
            any = false;
        } else {
            cur.push(c);
        }
    }
    if any || !cur.is_empty() {
        out.push(cur);
    }
    out
}

#[derive(Debug, Clone)]
pub struct RuleLine {
    pub line: usize,
    pub table: String,
    pub chain: String,
    pub words: Vec<String>,
}

pub fn rule_lines(text: &str) -> Vec<RuleLine> {
    let mut table = String::new();
    let mut out = Vec::new();
    for (k, raw) in text.lines().enumerate() {
        let l = raw.trim_end_matches('\r').trim();
        if let Some(t) = l.strip_prefix('*') {
            table = t.trim().to_string();
            continue;
        }
        let mut w = words(l);
        // iptables-save -c writes a rule's counters first (`[12:3456] -A …`), and a file
        // loaded by both tools may say which one a line is for (`-4 -A …`, `-6 -A …`)
        let lead = w
            .iter()
            .take_while(|x| is_counters(x) || *x == "-4" || *x == "-6")
            .count();
        w.drain(..lead);
        if w.len() >= 2 && ["-A", "--append", "-I", "--insert"].contains(&w[0].as_str()) {
            out.push(RuleLine {
                line: k + 1,
                table: table.clone(),
                chain: w[1].clone(),
                words: w,
            });
        }
    }
    out
}

/// `[packets:bytes]`, the counters iptables-save -c writes before a rule.
fn is_counters(w: &str) -> bool {
    w.strip_prefix('[')
        .and_then(|x| x.strip_suffix(']'))
        .and_then(|x| x.split_once(':'))
        .is_some_and(|(p, b)| {
            [p, b]
                .iter()
                .all(|n| !n.is_empty() && n.bytes().all(|c| c.is_ascii_digit()))
        })
}

/// The value after option `k`, skipping an old-style `!` (`-i ! eth0`).
pub fn value_at(w: &[String], k: usize) -> Option<&str> {
    match w.get(k + 1).map(String::as_str) {
        Some("!") => w.get(k + 2).map(String::as_str),
        v => v,
    }
}

pub fn service_port(name: &str, proto: &str) -> Option<u16> {
    if let Ok(p) = name.parse::<u16>() {
        return Some(p);
    }
    let n = std::ffi::CString::new(name).ok()?;
    let p = std::ffi::CString::new(proto).ok()?;
    // SAFETY: valid C strings; the result points into libc's static storage, read at once.
    unsafe {
        let ent = libc::getservbyname(n.as_ptr(), p.as_ptr());
        (!ent.is_null()).then(|| u16::from_be((*ent).s_port as u16))
    }
}

/// `22`, `1000:2000`, `:1024`, `80,443,8000:8080` → the ports to probe (a range gives its ends
/// and the ports just outside it).
pub fn ports_of(spec: &str, proto: &str) -> Vec<u16> {
    let mut out = Vec::new();
    for part in spec.split(',') {
        match part.split_once(':') {
            Some((a, b)) => {
                let a = if a.is_empty() {
                    Some(0)
                } else {
                    service_port(a, proto)
                };
                let b = if b.is_empty() {
                    Some(65535)
                } else {
                    service_port(b, proto)
                };
                if let (Some(a), Some(b)) = (a, b) {
                    out.extend([a, b]);
                    out.extend(a.checked_sub(1));
                    out.extend(b.checked_add(1));
                }
            }
            None => out.extend(service_port(part, proto)),
        }
    }
    out.retain(|&p| p != 0);
    out
}

/// What the harness derives from a file: interface names, addresses, ports.
#[derive(Debug, Default)]
pub struct Facts {
    /// Rules in nat/raw/mangle/security: (line, table).
    pub nat_like: Vec<(usize, String)>,
    pub in_ifs: Vec<String>,
    pub fwd_in_ifs: Vec<String>,
    pub out_ifs: Vec<String>,
    pub sources: Vec<Net>,
    pub in_dests: Vec<Net>,
    pub fwd_dests: Vec<Net>,
    /// `-d` networks of rules only OUTPUT reaches (the fw's own connections out)
    pub out_dests: Vec<Net>,
    pub tcp: Vec<u16>,
    pub udp: Vec<u16>,
    pub sports: Vec<u16>,
    /// `!` before `-s`/`-d` somewhere.
    pub negated_address: bool,
    /// a `-m recent --set` with a verdict (a port-scan trap): a probe changes what the
    /// probes after it from the same source get, so they run one at a time, in order
    pub in_order: bool,
    /// the longest time a `-m limit`/`-m hashlimit` bucket of a rule that decides (not a
    /// LOG) takes to fill again from empty (`--limit-burst` / `--limit`): the probes share
    /// its tokens, so which of them get one depends on timing; a second look waits for it
    pub refill: Option<std::time::Duration>,
}

/// How long the bucket of limit rule `words` takes to fill from empty, if it has one and
/// decides (a LOG's limit only says what is logged).
fn refill_of(words: &[String]) -> Option<std::time::Duration> {
    let after = |opt: &str| {
        words
            .iter()
            .position(|w| w == opt)
            .and_then(|i| words.get(i + 1))
    };
    let target = after("-j").or_else(|| after("--jump"))?;
    if target == "LOG" || target == "NFLOG" {
        return None;
    }
    let rate = after("--limit").or_else(|| after("--hashlimit-upto"))?;
    let (n, unit) = rate.split_once('/').unwrap_or((rate.as_str(), "hour"));
    let n: f64 = n.parse().ok().filter(|n: &f64| *n > 0.0)?;
    let per = match unit.chars().next()? {
        's' => 1.0,
        'm' => 60.0,
        'h' => 3600.0,
        _ => 86400.0,
    };
    let burst: f64 = after("--limit-burst")
        .or_else(|| after("--hashlimit-burst"))
        .and_then(|b| b.parse().ok())
        .unwrap_or(5.0);
    Some(std::time::Duration::from_secs_f64(burst * per / n))
}

pub fn push_unique<T: PartialEq>(v: &mut Vec<T>, x: T) {
    if !v.contains(&x) {
        v.push(x);
    }
}

impl Facts {
    pub fn parse(text: &str) -> Facts {
        let rules = rule_lines(text);
        let mut f = Facts {
            in_order: rules.iter().any(|r| {
                let has = |x: &str| r.words.iter().any(|w| w == x);
                has("recent") && has("--set") && (has("-j") || has("--jump"))
            }),
            refill: rules
                .iter()
                .filter(|r| r.table == "filter")
                .filter_map(|r| refill_of(&r.words))
                .max(),
            ..Facts::default()
        };
        for r in &rules {
            if ["nat", "raw", "mangle", "security"].contains(&r.table.as_str()) {
                f.nat_like.push((r.line, r.table.clone()));
            }
        }
        let filter: Vec<&RuleLine> = rules.iter().filter(|r| r.table == "filter").collect();
        // which built-in chains reach each chain (jumps and gotos)
        let mut edges: HashMap<&str, Vec<&str>> = HashMap::new();
        for r in &filter {
            for (k, w) in r.words.iter().enumerate() {
                if ["-j", "--jump", "-g", "--goto"].contains(&w.as_str())
                    && let Some(t) = r.words.get(k + 1)
                {
                    edges.entry(r.chain.as_str()).or_default().push(t.as_str());
                }
            }
        }
        let mut roots: HashMap<&str, BTreeSet<&str>> = HashMap::new();
        for root in ["INPUT", "FORWARD", "OUTPUT"] {
            let mut stack = vec![root];
            let mut seen = HashSet::new();
            while let Some(c) = stack.pop() {
                if seen.insert(c) {
                    roots.entry(c).or_default().insert(root);
                    stack.extend(edges.get(c).into_iter().flatten().copied());
                }
            }
        }
        for r in &filter {
            let reach = roots.get(r.chain.as_str()).cloned().unwrap_or_default();
            let (input, forward) = (reach.contains("INPUT"), reach.contains("FORWARD"));
            let output = reach.contains("OUTPUT");
            let w = &r.words;
            let proto = w
                .iter()
                .position(|x| x == "-p" || x == "--protocol")
                .and_then(|k| value_at(w, k))
                .unwrap_or("")
                .to_ascii_lowercase();
            for (k, word) in w.iter().enumerate() {
                let val = value_at(w, k);
                let negated = k > 0 && w[k - 1] == "!";
                // a negated address in any chain, OUTPUT's too, has no agreed IPv6 mirror
                if ["-s", "--source", "--src", "-d", "--destination", "--dst"]
                    .contains(&word.as_str())
                {
                    f.negated_address |= negated || w.get(k + 1).is_some_and(|x| x == "!");
                }
                // and so has a negated `-m iprange` range, OUTPUT's too (statewall's entry
                // keeps its IPv4 exceptions out of IPv6, the mirror leaves the rule out)
                if ["--src-range", "--dst-range"].contains(&word.as_str()) {
                    f.negated_address |= negated;
                }
                match word.as_str() {
                    "-i" | "--in-interface" => {
                        if let Some(v) = val {
                            if input {
                                f.in_ifs.push(v.to_string());
                            }
                            if forward {
                                f.fwd_in_ifs.push(v.to_string());
                            }
                        }
                    }
                    "-o" | "--out-interface" if forward => f.out_ifs.extend(val.map(String::from)),
                    // (`--ctorigdst`, `--ctorigsrc`: the connection's first packet's
                    // addresses, before DNAT: those of a packet that opens one where nothing
                    // DNATs it, as in the harness)
                    "-s" | "--source" | "--src" | "-d" | "--destination" | "--dst"
                    | "--ctorigdst" | "--ctorigsrc"
                        if input || forward || output =>
                    {
                        let is_src = word.starts_with("-s")
                            || word == "--source"
                            || word == "--src"
                            || word == "--ctorigsrc";
                        for net in val.unwrap_or("").split(',').filter_map(Net::parse) {
                            if is_src {
                                if input || forward {
                                    push_unique(&mut f.sources, net);
                                }
                            } else if input {
                                push_unique(&mut f.in_dests, net);
                            } else if forward {
                                push_unique(&mut f.fwd_dests, net);
                            } else {
                                push_unique(&mut f.out_dests, net);
                            }
                        }
                    }
                    // `-m iprange`: its first and last address, and the one after it
                    "--src-range" | "--dst-range" if input || forward => {
                        f.negated_address |= negated;
                        let ends: Vec<IpAddr> = val
                            .unwrap_or("")
                            .split('-')
                            .filter_map(|a| a.parse().ok())
                            .collect();
                        let after = ends.last().and_then(|a| match a {
                            IpAddr::V4(v) => {
                                u32::from(*v).checked_add(1).map(|n| IpAddr::V4(n.into()))
                            }
                            IpAddr::V6(v) => {
                                u128::from(*v).checked_add(1).map(|n| IpAddr::V6(n.into()))
                            }
                        });
                        for addr in ends.into_iter().chain(after) {
                            let net = Net {
                                addr,
                                prefix: if addr.is_ipv4() { 32 } else { 128 },
                            };
                            if word == "--src-range" {
                                push_unique(&mut f.sources, net);
                            } else if input {
                                push_unique(&mut f.in_dests, net);
                            } else {
                                push_unique(&mut f.fwd_dests, net);
                            }
                        }
                    }
                    "--dport"
                    | "--destination-port"
                    | "--dports"
                    | "--destination-ports"
                    | "--ports"
                    | "--ctorigdstport" => {
                        let spec = val.unwrap_or("");
                        match proto.as_str() {
                            "tcp" | "6" => ports_of(spec, "tcp")
                                .into_iter()
                                .for_each(|p| push_unique(&mut f.tcp, p)),
                            "udp" | "17" => ports_of(spec, "udp")
                                .into_iter()
                                .for_each(|p| push_unique(&mut f.udp, p)),
                            _ => {
                                for p in ports_of(spec, "tcp") {
                                    push_unique(&mut f.tcp, p);
                                    push_unique(&mut f.udp, p);
                                }
                            }
                        }
                    }
                    "--sport" | "--source-port" | "--sports" | "--source-ports" => {
                        let proto = if proto == "udp" { "udp" } else { "tcp" };
                        for p in ports_of(val.unwrap_or(""), proto) {
                            push_unique(&mut f.sports, p);
                        }
                    }
                    _ => {}
                }
            }
        }
        f
    }

    pub fn merge(&mut self, other: &Facts) {
        self.in_ifs.extend(other.in_ifs.iter().cloned());
        self.fwd_in_ifs.extend(other.fwd_in_ifs.iter().cloned());
        self.out_ifs.extend(other.out_ifs.iter().cloned());
        for &p in &other.tcp {
            push_unique(&mut self.tcp, p);
        }
        for &p in &other.udp {
            push_unique(&mut self.udp, p);
        }
        for &p in &other.sports {
            push_unique(&mut self.sports, p);
        }
        self.negated_address |= other.negated_address;
        self.in_order |= other.in_order;
        self.refill = self.refill.max(other.refill);
    }
}

/// The most used name (ties: the first used), `name+` as `name0`; never `lo` nor `avoid`.
pub fn most_used(names: &[String], avoid: &str) -> Option<String> {
    let mut count: Vec<(String, usize)> = Vec::new();
    for n in names {
        let n = match n.strip_suffix('+') {
            Some(stem) => format!("{stem}0"),
            None => n.clone(),
        };
        let ok = !n.is_empty()
            && n.len() <= 15
            && n != "lo"
            && n != avoid
            && n.chars()
                .all(|c| c.is_ascii_alphanumeric() || "-_.@".contains(c));
        if !ok {
            continue;
        }
        match count.iter_mut().find(|(m, _)| *m == n) {
            Some((_, c)) => *c += 1,
            None => count.push((n, 1)),
        }
    }
    let best = count.iter().map(|(_, c)| *c).max()?;
    count.into_iter().find(|(_, c)| *c == best).map(|(n, _)| n)
}

/// The IPv4 file as ip6tables would say what `--mirror-ipv6` promises (see the module docs).
/// An IPv4 address or network as iptables reads one: dotted, or short (`172.16.0/24`, `0/0`:
/// the missing bytes are zeros), or `localhost`.
fn v4_text(a: &str) -> bool {
    let host = a.split('/').next().unwrap_or("");
    // the one name statewall resolves: 127.0.0.1 in an iptables file
    host.eq_ignore_ascii_case("localhost")
        || Net::parse(a).is_some_and(|n| n.addr.is_ipv4())
        || (!host.is_empty()
            && host.split('.').count() <= 4
            && host
                .split('.')
                .all(|b| !b.is_empty() && b.bytes().all(|c| c.is_ascii_digit())))
}

/// Every IPv4 address: `0/0`, `0.0.0.0/0`, `0.0.0.0/0.0.0.0`.
fn v4_anywhere(a: &str) -> bool {
    a.split_once('/')
        .is_some_and(|(h, m)| v4_text(h) && (m == "0" || m == "0.0.0.0"))
}

/// The reject type iptables reads `--reject-with X` as: the first, in iptables' order, whose
/// name or alias X starts, in any case (`icmp-host-unreach` is icmp-host-unreachable); X
/// itself when none is.
fn reject_v4_name(x: &str) -> &str {
    const TYPES: [(&str, &str); 8] = [
        ("icmp-net-unreachable", "net-unreach"),
        ("icmp-host-unreachable", "host-unreach"),
        ("icmp-proto-unreachable", "proto-unreach"),
        ("icmp-port-unreachable", "port-unreach"),
        ("icmp-net-prohibited", "net-prohib"),
        ("icmp-host-prohibited", "host-prohib"),
        ("tcp-reset", "tcp-rst"),
        ("icmp-admin-prohibited", "admin-prohib"),
    ];
    let lower = x.to_ascii_lowercase();
    TYPES
        .iter()
        .find(|(name, alias)| name.starts_with(&lower) || alias.starts_with(&lower))
        .map_or(x, |(name, _)| name)
}

/// The name an IPv6 rule's `-m recent` list gets in the mirror: one no IPv4 rule uses.
fn recent_v6_name(name: &str) -> String {
    format!("{name}.v6")
}

pub fn mirror_to_v6(text: &str) -> String {
    let mut out = String::new();
    let mut table = String::new();
    for raw in text.lines() {
        let l = raw.trim_end_matches('\r');
        if let Some(t) = l.trim().strip_prefix('*') {
            table = t.to_string();
        }
        if table == "filter" && l.trim() == "COMMIT" {
            // "plus the ICMPv6 baseline": what statewall's input and output baseline accept
            // (errors, echo, MLD, router and neighbour discovery), first in each chain
            for chain in ["INPUT", "OUTPUT"] {
                for ty in (1..=4).chain(128..=136).chain([143]) {
                    let _ = writeln!(
                        out,
                        "-I {chain} 1 -p ipv6-icmp -m icmp6 --icmpv6-type {ty} -j ACCEPT"
                    );
                }
            }
        }
        let mut w = words(l);
        // iptables-save -c's `[packets:bytes]` before a rule
        if w.first()
            .is_some_and(|x| x.starts_with('[') && x.ends_with(']') && x.contains(':'))
        {
            w.remove(0);
        }
        let rule = w
            .first()
            .is_some_and(|x| ["-A", "--append", "-I", "--insert"].contains(&x.as_str()));
        if !rule {
            out.push_str(l);
            out.push('\n');
            continue;
        }
        let mut drop = false;
        for (k, x) in w.iter().enumerate() {
            let v = value_at(&w, k).unwrap_or("");
            match x.as_str() {
                // every IPv4 address (`0/0`) says nothing: statewall reads it as no address
                "-s" | "--source" | "--src" | "-d" | "--destination" | "--dst"
                    if !(v4_anywhere(v) && !(k > 0 && w[k - 1] == "!")) =>
                {
                    drop |= v.split(',').any(v4_text);
                }
                // a connection's IPv4 original address: statewall's entry is IPv4's alone
                // (every address, `0/0`, is "has a connection": rewritten below)
                "--ctorigsrc" | "--ctorigdst" if !v4_anywhere(v) => drop |= v4_text(v),
                "--src-range" | "--dst-range" => {
                    drop |= v.split('-').any(|a| a.parse::<Ipv4Addr>().is_ok());
                }
                // `! -p icmp` stays: every protocol but 1, as statewall's `except_protocol`
                // reads it for IPv6 too
                "-p" | "--protocol" if !(k > 0 && w[k - 1] == "!") => {
                    drop |= ["icmp", "1"].contains(&v.to_ascii_lowercase().as_str())
                }
                // a u32 location counts from the IPv4 header: statewall's `u32` tests IPv4
                // packets only, and the mirror has no such rule
                "--icmp-type" | "--u32" => drop = true,
                _ => {}
            }
        }
        if drop {
            continue;
        }
        // what IPv6 has no such thing as: a recent `--mask` of a whole IPv4 address is the
        // whole IPv6 one; no IPv6 address is of type BROADCAST (statewall's `fib … type
        // broadcast` never matches one), so a rule that needs one is left out, and a `!` of
        // it says nothing
        let mut v6w: Vec<String> = Vec::with_capacity(w.len());
        let mut k = 0;
        while k < w.len() {
            let x = w[k].as_str();
            let v = w.get(k + 1).map(String::as_str);
            // ip6tables has no `-f`; reassembled by conntrack, it never matches (and `! -f`
            // always does), as statewall reads it
            if x == "-f" || x == "--fragment" {
                if v6w.last().is_some_and(|l| l == "!") {
                    v6w.pop();
                    k += 1;
                    continue;
                }
                drop = true;
                break;
            }
            let addr = ["-s", "--source", "--src", "-d", "--destination", "--dst"].contains(&x);
            if addr && v.is_some_and(v4_anywhere) && v6w.last().is_none_or(|l| l != "!") {
                k += 2;
                continue;
            }
            // a connection count per IPv4 address or network is, in statewall's IPv6 half of
            // the entry, a count per IPv6 address (`ipv6_prefix = 128`, `connlimit.rs`); ip6tables
            // would read the IPv4 file's `--connlimit-mask 32` as one count for a whole /32
            if x == "--connlimit-mask"
                && v.and_then(|m| m.parse::<u8>().ok())
                    .is_some_and(|m| (1..=32).contains(&m))
            {
                v6w.extend(["--connlimit-mask".into(), "128".into()]);
                k += 2;
                continue;
            }
            if x == "--mask" && v == Some("255.255.255.255") {
                v6w.extend([
                    "--mask".into(),
                    "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff".into(),
                ]);
                k += 2;
                continue;
            }
            if let (true, Some(v)) = (x == "--src-type" || x == "--dst-type", v) {
                let negated = v6w.last().is_some_and(|l| l == "!");
                let kept: Vec<&str> = v.split(',').filter(|t| *t != "BROADCAST").collect();
                if kept.is_empty() {
                    if !negated {
                        drop = true;
                        break;
                    }
                    v6w.pop();
                } else {
                    v6w.extend([x.to_string(), kept.join(",")]);
                    // to ip6tables a host's own address is UNICAST too, to iptables (and to
                    // statewall's `fib … type`, which the mirror keeps for IPv6) only LOCAL
                    if !negated && kept.contains(&"UNICAST") && !kept.contains(&"LOCAL") {
                        v6w.extend(["-m", "addrtype", "!", x, "LOCAL"].map(String::from));
                    }
                }
                k += 2;
                continue;
            }
            // every IPv4 original address is every IPv6 one; an IPv4 file's ICMP
            // connections are ICMPv6 ones in statewall's mirror (`mirror.rs`)
            if let (true, Some(v)) = (x == "--ctorigsrc" || x == "--ctorigdst", v)
                && v4_anywhere(v)
            {
                v6w.extend([x.to_string(), "::/0".into()]);
                k += 2;
                continue;
            }
            if let (true, Some(v)) = (x == "--ctproto", v)
                && ["icmp", "1"].contains(&v.to_ascii_lowercase().as_str())
            {
                v6w.extend([x.to_string(), "ipv6-icmp".into()]);
                k += 2;
                continue;
            }
            // the TTL's IPv6 twin is the hop limit, one field: statewall's `ttl` says both
            let hl = match x {
                "ttl" if v6w.last().is_some_and(|l| l == "-m" || l == "--match") => Some("hl"),
                "--ttl-eq" => Some("--hl-eq"),
                "--ttl-gt" => Some("--hl-gt"),
                "--ttl-lt" => Some("--hl-lt"),
                _ => None,
            };
            v6w.push(hl.map_or_else(|| w[k].clone(), String::from));
            k += 1;
        }
        if drop {
            continue;
        }
        // a `-m addrtype` left without a type says nothing (and ip6tables refuses it); its
        // types may come after other options (`-m addrtype -p tcp --dst-type LOCAL`), up to
        // the next module
        let mut k = 0;
        while k + 1 < v6w.len() {
            let bare = v6w[k] == "-m"
                && v6w[k + 1] == "addrtype"
                && !v6w[k + 2..]
                    .iter()
                    .take_while(|n| *n != "-m" && *n != "--match")
                    .any(|n| n == "--src-type" || n == "--dst-type");
            if bare {
                v6w.drain(k..k + 2);
            } else {
                k += 1;
            }
        }
        // a `-m recent` list of its own: the kernel keeps one table per name for both
        // families, with the `--mask` of the rule that made it, so an IPv6 rule sharing the
        // IPv4 rule's name would track IPv6 sources under IPv4's 255.255.255.255 (one entry
        // per /32: a client's try would list the firewall's own address too). The mirror
        // means the same rules for IPv6 sources, each whole, as statewall's sets keep them
        // (a rule of one `-m recent` may give its `--name` after another module or the
        // target, `-m recent -m limit … -j LOG --name SSH`: getopt hands it to recent all
        // the same, the only module of these tables with a `--name`)
        let recents = (1..v6w.len())
            .filter(|&i| v6w[i] == "recent" && ["-m", "--match"].contains(&v6w[i - 1].as_str()))
            .count();
        let mut k = 0;
        while k + 1 < v6w.len() {
            if (v6w[k] == "-m" || v6w[k] == "--match") && v6w[k + 1] == "recent" {
                let named = v6w[k + 2..]
                    .iter()
                    .take_while(|n| recents == 1 || (*n != "-m" && *n != "--match"))
                    .any(|n| n == "--name");
                if !named {
                    v6w.splice(k + 2..k + 2, ["--name".to_string(), "DEFAULT".to_string()]);
                }
            }
            if v6w[k] == "--name" {
                v6w[k + 1] = recent_v6_name(&v6w[k + 1]);
            }
            k += 1;
        }
        let mapped: Vec<String> = v6w
            .iter()
            .enumerate()
            .map(|(k, x)| {
                let with = k > 0 && v6w[k - 1] == "--reject-with";
                let m = match if with { reject_v4_name(x) } else { x.as_str() } {
                    "icmp-net-unreachable" => "icmp6-no-route",
                    "icmp-host-unreachable" => "icmp6-addr-unreachable",
                    "icmp-port-unreachable" | "icmp-proto-unreachable" => "icmp6-port-unreachable",
                    "icmp-net-prohibited" | "icmp-host-prohibited" | "icmp-admin-prohibited" => {
                        "icmp6-adm-prohibited"
                    }
                    // iptables takes `tcp-rst` for `tcp-reset`; ip6tables-restore does not
                    "tcp-rst" | "tcp-reset" => "tcp-reset",
                    other => other,
                };
                if m.contains(char::is_whitespace) || m.is_empty() {
                    format!("\"{}\"", m.replace('"', "\\\""))
                } else {
                    m.to_string()
                }
            })
            .collect();
        out.push_str(&mapped.join(" "));
        out.push('\n');
    }
    out
}
