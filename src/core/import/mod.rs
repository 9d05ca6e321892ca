//! iptables-save text → a statewall policy (TOML text, and the `Policy` it parses to).
//!
//! Pure: no I/O. The CLI reads the files and prints. The importer never guesses: a construct
//! the policy model cannot express with the same meaning stops the import with the place and
//! the reason, and every problem is reported at once.
//!
//! How it works: the `*filter` table's `INPUT` chain is flattened (user chains jumped to are
//! inlined in order, their conditions joined with the jump's), LOG rules are left out, and every
//! remaining rule is classified into statewall's fixed chain order — established · invalid ·
//! loopback · icmp · allows · rejects · final. Reordering must not change any packet's verdict:
//! two rules whose order statewall would swap must either have the same verdict or match
//! disjoint packets, otherwise the file is refused at the later rule.

use std::collections::HashMap;
use std::fmt::Write;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::ops::Range;

use crate::core::diag::{Diagnostic, loc_of};
use crate::core::model::{Cidr, IcmpReject, PortRange, icmp_type_name, valid_ifname};
use crate::core::plan::CtStates;
use crate::core::policy::names::{Repair, sanitise_name};
use crate::core::services;

/// What IPv6 gets: statewall's table is `inet`, so an IPv4-only file must say.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ipv6 {
    /// no choice made: the import is refused (it would silently decide IPv6's fate)
    Unspecified,
    /// `--mirror-ipv6`: IPv6 gets the IPv4 file's meaning, plus the ICMPv6 baseline
    Mirror,
    /// `--ipv6 FILE6`: the second file (an ip6tables-save) says what IPv6 gets
    File,
}

/// Which input a diagnostic belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Input {
    V4,
    V6,
}

/// A successful import.
#[derive(Debug, Clone)]
pub struct Imported {
    /// the policy as TOML, commented with the lines it came from
    pub toml: String,
    /// the policy that TOML parses to
    pub policy: crate::core::model::Policy,
    /// what was left out on purpose, what was added, where meaning is approximated
    pub notes: Vec<String>,
}

/// Whether a text looks like iptables-save output: its first line that is neither blank nor a
/// comment starts with `*` (a table) or `:` (a chain).
pub fn looks_like_iptables(src: &str) -> bool {
    src.lines()
        .map(str::trim)
        .find(|l| !l.is_empty() && !l.starts_with('#'))
        .is_some_and(|l| l.starts_with('*') || l.starts_with(':'))
}

/// Imports an iptables-save text (and, with `Ipv6::File`, an ip6tables-save text `src6`).
pub fn import(
    src: &str,
    src6: Option<&str>,
    ipv6: Ipv6,
) -> Result<Imported, Vec<(Input, Diagnostic)>> {
    let mut problems = Vec::new();
    let v4 = analyse(src, Fam::V4).map_err(|d| tag(d, Input::V4));
    let v6 = match (ipv6, src6) {
        (Ipv6::File, Some(s6)) => Some(analyse(s6, Fam::V6).map_err(|d| tag(d, Input::V6))),
        _ => None,
    };
    if ipv6 == Ipv6::Unspecified {
        let at = first_line_span(src);
        problems.push((
            Input::V4,
            Diagnostic::error(
                at,
                src,
                "statewall's table covers IPv4 and IPv6 together, and this file only says what IPv4 gets",
            )
            .with_help(
                "choose what IPv6 gets: --mirror-ipv6 (the same services as IPv4, plus the ICMPv6 types IPv6 needs), or --ipv6 FILE6 with your ip6tables-save file",
            ),
        ));
    }
    let v4 = match v4 {
        Ok(a) => Some(a),
        Err(mut d) => {
            problems.append(&mut d);
            None
        }
    };
    let v6 = match v6 {
        Some(Ok(a)) => Some(a),
        Some(Err(mut d)) => {
            problems.append(&mut d);
            None
        }
        None => None,
    };
    if !problems.is_empty() {
        problems.sort_by_key(|(i, d)| (*i == Input::V6, d.span.start));
        return Err(problems);
    }
    let v4 = v4.expect("no problems, so analysed");
    build(src, v4, v6, ipv6).map_err(|d| tag(d, Input::V4))
}

fn tag(d: Vec<Diagnostic>, i: Input) -> Vec<(Input, Diagnostic)> {
    d.into_iter().map(|d| (i, d)).collect()
}

fn first_line_span(src: &str) -> Range<usize> {
    let mut off = 0;
    for l in src.split_inclusive('\n') {
        let t = l.trim_end_matches(['\n', '\r']);
        if !t.trim().is_empty() && !t.trim_start().starts_with('#') {
            return off..off + t.len();
        }
        off += l.len();
    }
    0..0
}

// ------------------------------------------------------------------------------------------
// Lexing and parsing

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Fam {
    V4,
    V6,
}

#[derive(Debug, Clone)]
struct Tok {
    text: String,
    span: Range<usize>,
}

/// Splits a line (starting at byte `base` of the source) into words; double quotes group,
/// `\"` and `\\` escape inside them.
fn words(line: &str, base: usize) -> Result<Vec<Tok>, Range<usize>> {
    let mut out = Vec::new();
    let b = line.as_bytes();
    let mut i = 0;
    while i < b.len() {
        if b[i].is_ascii_whitespace() {
            i += 1;
            continue;
        }
        let start = i;
        let mut text = String::new();
        if b[i] == b'"' {
            i += 1;
            let mut closed = false;
            while i < b.len() {
                match b[i] {
                    b'\\' if i + 1 < b.len() => {
                        let c = line[i + 1..].chars().next().unwrap_or('\\');
                        text.push(c);
                        i += 1 + c.len_utf8();
                    }
                    b'"' => {
                        closed = true;
                        i += 1;
                        break;
                    }
                    _ => {
                        let c = line[i..].chars().next().unwrap_or(' ');
                        text.push(c);
                        i += c.len_utf8();
                    }
                }
            }
            if !closed {
                return Err(base + start..base + line.len());
            }
        } else {
            while i < b.len() && !b[i].is_ascii_whitespace() {
                let c = line[i..].chars().next().unwrap_or(' ');
                text.push(c);
                i += c.len_utf8();
            }
        }
        out.push(Tok {
            text,
            span: base + start..base + i,
        });
    }
    Ok(out)
}

/// The condition of a rule: every field `None` = any.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
struct Cond {
    states: Option<u32>,
    iif: Option<String>,
    src: Option<Cidr>,
    /// `-d 127.0.0.0/8` (or `::1/128`) in the loopback pattern
    dst_lo: bool,
    proto: Option<u8>,
    ports: Option<Vec<PortRange>>,
    icmp: Option<u8>,
}

impl Cond {
    fn is_everything(&self) -> bool {
        *self == Cond::default()
    }

    /// Both conditions at once; `None` when no packet can match both.
    fn and(&self, o: &Cond) -> Option<Cond> {
        fn both<T: Clone + PartialEq>(a: &Option<T>, b: &Option<T>) -> Option<Option<T>> {
            match (a, b) {
                (None, x) | (x, None) => Some(x.clone()),
                (Some(x), Some(y)) if x == y => Some(Some(x.clone())),
                _ => None,
            }
        }
        let states = match (self.states, o.states) {
            (Some(a), Some(b)) if a & b == 0 => return None,
            (Some(a), Some(b)) => Some(a & b),
            (a, b) => a.or(b),
        };
        let src = match (self.src, o.src) {
            (Some(a), Some(b)) if a.covers(b) => Some(b),
            (Some(a), Some(b)) if b.covers(a) => Some(a),
            (Some(_), Some(_)) => return None,
            (a, b) => a.or(b),
        };
        let ports = match (&self.ports, &o.ports) {
            (Some(a), Some(b)) => {
                let mut v = Vec::new();
                for x in a {
                    for y in b {
                        let lo = x.lo.max(y.lo);
                        let hi = x.hi.min(y.hi);
                        if lo <= hi {
                            v.push(PortRange { lo, hi });
                        }
                    }
                }
                if v.is_empty() {
                    return None;
                }
                Some(v)
            }
            (a, b) => a.clone().or(b.clone()),
        };
        Some(Cond {
            states,
            iif: both(&self.iif, &o.iif)?,
            src,
            dst_lo: self.dst_lo || o.dst_lo,
            proto: both(&self.proto, &o.proto)?,
            ports,
            icmp: both(&self.icmp, &o.icmp)?,
        })
    }

    /// Whether some packet can match both.
    fn overlaps(&self, o: &Cond) -> bool {
        self.and(o).is_some()
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Target {
    Accept,
    Drop,
    Reject(RejectKind),
    Log,
    Return,
    Jump(String),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum RejectKind {
    TcpReset,
    Icmp(IcmpReject),
}

#[derive(Debug, Clone)]
struct IptRule {
    /// the line's span, and the text without its counters
    span: Range<usize>,
    text: String,
    line: u32,
    chain: String,
    cond: Cond,
    /// several `-s` networks (a comma list) make several rules
    srcs: Vec<Cidr>,
    target: Target,
    target_span: Range<usize>,
    comment: Option<String>,
    syn: bool,
}

#[derive(Debug, Default)]
struct Tables {
    /// chain name → (policy, span of the policy word) for built-in chains
    policies: HashMap<String, (String, Range<usize>)>,
    user_chains: Vec<String>,
    rules: Vec<IptRule>,
}

struct Parser<'s> {
    src: &'s str,
    fam: Fam,
    diags: Vec<Diagnostic>,
}

impl<'s> Parser<'s> {
    fn err(&mut self, span: Range<usize>, msg: impl Into<String>, help: impl Into<String>) {
        self.diags
            .push(Diagnostic::error(span, self.src, msg).with_help(help));
    }

    fn parse(&mut self) -> Tables {
        let mut t = Tables::default();
        // (name, span of the `*name` line) of the table being read
        let mut table: Option<(String, Range<usize>)> = None;
        let mut off = 0;
        let src = self.src;
        for raw in src.split_inclusive('\n') {
            let base = off;
            off += raw.len();
            let line = raw.trim_end_matches('\n').trim_end_matches('\r');
            let trimmed = line.trim();
            let lspan = base..base + line.len();
            if trimmed.is_empty() || trimmed.starts_with('#') {
                continue;
            }
            let lead = line.len() - line.trim_start().len();
            if let Some(name) = trimmed.strip_prefix('*') {
                if let Some((open, ospan)) = table.clone() {
                    let l = loc_of(src, ospan.start).line;
                    self.err(
                        lspan.clone(),
                        format!(
                            "table *{name} starts before table *{open} (line {l}) is committed"
                        ),
                        "end each table with a COMMIT line",
                    );
                }
                table = Some((name.to_string(), lspan.clone()));
                continue;
            }
            let Some((tname, _)) = table.clone() else {
                self.err(
                    lspan.clone(),
                    "a line outside any table",
                    "iptables-save files start each table with a `*filter` (or `*nat`, …) line",
                );
                continue;
            };
            if trimmed == "COMMIT" {
                table = None;
                continue;
            }
            let toks = match words(&line[lead..], base + lead) {
                Ok(w) => w,
                Err(span) => {
                    self.err(span, "unclosed quote", "close the quoted text with `\"`");
                    continue;
                }
            };
            if let Some(name) = trimmed.strip_prefix(':') {
                // :CHAIN POLICY [p:b]
                let name = name.split_whitespace().next().unwrap_or("").to_string();
                let Some(policy) = toks.get(1) else {
                    self.err(
                        lspan.clone(),
                        "a chain line without a policy",
                        "write `:CHAIN POLICY [0:0]`, e.g. `:INPUT DROP [0:0]`",
                    );
                    continue;
                };
                if tname != "filter" {
                    if policy.text != "ACCEPT" {
                        self.err(
                            policy.span.clone(),
                            format!("chain {name} of table {tname} has policy {}", policy.text),
                            "statewall filters incoming packets only; it cannot express a non-ACCEPT policy outside the filter table's INPUT chain",
                        );
                    }
                    continue;
                }
                if policy.text == "-" {
                    t.user_chains.push(name);
                } else {
                    t.policies
                        .insert(name, (policy.text.clone(), policy.span.clone()));
                }
                continue;
            }
            // an optional [p:b] counter before the rule
            let mut toks = toks;
            if toks.first().is_some_and(|w| {
                w.text.starts_with('[') && w.text.ends_with(']') && w.text.contains(':')
            }) {
                toks.remove(0);
            }
            let Some(cmd) = toks.first().cloned() else {
                continue;
            };
            let text = line[cmd.span.start - base..].trim_end().to_string();
            if tname != "filter" {
                self.err(
                    cmd.span.start..lspan.end,
                    format!("a rule in the {tname} table"),
                    match tname.as_str() {
                        "nat" => "NAT rewrites addresses and ports; statewall only filters incoming packets, so it cannot import NAT rules (keep them in iptables/nft, or remove them)",
                        _ => "statewall only imports the filter table's INPUT chain; rules in other tables change or mark packets, which statewall cannot express",
                    },
                );
                continue;
            }
            match cmd.text.as_str() {
                "-N" | "--new-chain" => {
                    match toks.get(1) {
                        Some(n) => t.user_chains.push(n.text.clone()),
                        None => self.err(
                            cmd.span.clone(),
                            "-N without a chain name",
                            "write `-N CHAIN`",
                        ),
                    }
                    continue;
                }
                "-A" | "--append" => {}
                other => {
                    self.err(
                        cmd.span.clone(),
                        format!("`{other}` is not supported"),
                        "the importer reads iptables-save output: `:CHAIN POLICY` lines, `-N CHAIN` and `-A CHAIN …` rules",
                    );
                    continue;
                }
            }
            let Some(chain) = toks.get(1) else {
                self.err(
                    cmd.span.clone(),
                    "-A without a chain name",
                    "write `-A CHAIN …`",
                );
                continue;
            };
            let line_no = loc_of(src, base).line;
            if let Some(r) = self.rule(&toks[2..], chain.text.clone(), lspan.clone(), text, line_no)
            {
                t.rules.push(r);
            }
        }
        if let Some((name, _)) = table {
            let end = src.len();
            self.err(
                end..end,
                format!("table *{name} is never committed: the file ends without COMMIT"),
                "iptables-restore applies nothing without the COMMIT line; add it (is the file cut short?)",
            );
        }
        t
    }

    fn rule(
        &mut self,
        toks: &[Tok],
        chain: String,
        span: Range<usize>,
        text: String,
        line: u32,
    ) -> Option<IptRule> {
        let before = self.diags.len();
        let mut cond = Cond::default();
        let mut srcs = Vec::new();
        let mut target = None;
        let mut target_span = span.clone();
        let mut comment = None;
        let mut syn = false;
        let mut limit = None;
        let mut reject_with: Option<(String, Range<usize>)> = None;
        let mut i = 0;
        let val = |i: usize| toks.get(i + 1);
        while i < toks.len() {
            let t = &toks[i];
            let sp = t.span.clone();
            let need = |this: &mut Self, i: usize| -> Option<Tok> {
                match val(i) {
                    Some(v) => Some(v.clone()),
                    None => {
                        this.err(
                            sp.clone(),
                            format!("`{}` needs a value", t.text),
                            "see iptables(8)",
                        );
                        None
                    }
                }
            };
            match t.text.as_str() {
                "!" => {
                    self.err(
                        sp.clone(),
                        "a negation (`!`)",
                        "statewall's entries say what is allowed or rejected; they cannot say \"everything but\": write the complement as positive rules",
                    );
                    i += 1;
                    continue;
                }
                "-p" | "--protocol" => {
                    let v = need(self, i)?;
                    cond.proto = match (v.text.to_ascii_lowercase().as_str(), self.fam) {
                        ("tcp" | "6", _) => Some(6),
                        ("udp" | "17", _) => Some(17),
                        ("icmp" | "1", Fam::V4) => Some(1),
                        ("ipv6-icmp" | "icmpv6" | "icmp6" | "58", Fam::V6) => Some(58),
                        ("all" | "0", _) => None,
                        (other, _) => {
                            self.err(
                                v.span.clone(),
                                format!("protocol `{other}`"),
                                "statewall's entries match tcp and udp ports and ICMP types; other protocols cannot be imported",
                            );
                            None
                        }
                    };
                    i += 2;
                }
                "-s" | "--source" | "--src" => {
                    let v = need(self, i)?;
                    for part in v.text.split(',') {
                        match parse_net(part, self.fam) {
                            Ok(n) => srcs.push(n),
                            Err(why) => self.err(
                                v.span.clone(),
                                format!("source `{part}`: {why}"),
                                "write an address or network, e.g. 198.51.100.0/24",
                            ),
                        }
                    }
                    i += 2;
                }
                "-d" | "--destination" | "--dst" => {
                    let v = need(self, i)?;
                    let lo = match self.fam {
                        Fam::V4 => Cidr::V4(Ipv4Addr::new(127, 0, 0, 0), 8),
                        Fam::V6 => Cidr::V6(Ipv6Addr::LOCALHOST, 128),
                    };
                    if parse_net(&v.text, self.fam) == Ok(lo) {
                        cond.dst_lo = true;
                    } else {
                        self.err(
                            v.span.clone(),
                            format!("destination `{}`", v.text),
                            "statewall filters everything that arrives for this host and has no destination match; only the loopback pattern `-s 127.0.0.0/8 -d 127.0.0.0/8` is understood",
                        );
                    }
                    i += 2;
                }
                "-i" | "--in-interface" => {
                    let v = need(self, i)?;
                    if v.text.ends_with('+') {
                        self.err(v.span.clone(), format!("interface wildcard `{}`", v.text), "statewall matches one interface by its exact name: write one rule per interface");
                    } else if !valid_ifname(&v.text) {
                        self.err(
                            v.span.clone(),
                            format!("invalid interface name `{}`", v.text),
                            "an interface name is 1-15 characters without `/`, `:` or whitespace",
                        );
                    } else {
                        cond.iif = Some(v.text.clone());
                    }
                    i += 2;
                }
                "-o" | "--out-interface" => {
                    self.err(sp.clone(), "an output interface (`-o`)", "statewall filters incoming packets (the INPUT hook), which have no output interface");
                    i += 2;
                }
                "-m" | "--match" => {
                    let v = need(self, i)?;
                    match v.text.as_str() {
                        "tcp" | "udp" | "icmp" | "icmp6" | "state" | "conntrack" | "multiport"
                        | "comment" | "limit" => {}
                        other => {
                            let why = match other {
                                "recent" => {
                                    "`-m recent` keeps per-source history (port knocking, brute-force limits); statewall has no per-source state"
                                }
                                "mark" | "connmark" => {
                                    "marks are set by other rules or programs; statewall neither sets nor matches them"
                                }
                                "set" => {
                                    "ipset sets live outside the ruleset; list the networks in `from` instead"
                                }
                                "hashlimit" | "connlimit" => {
                                    "statewall has no rate or connection limits"
                                }
                                "owner" => "owner matches only exist for outgoing packets",
                                _ => "statewall's policy model cannot express this match",
                            };
                            self.err(v.span.clone(), format!("match module `-m {other}`"), why);
                            // its own options say nothing more
                            i += 2;
                            while i < toks.len() && !RULE_OPTIONS.contains(&toks[i].text.as_str()) {
                                i += 1;
                            }
                            continue;
                        }
                    }
                    i += 2;
                }
                "--dport" | "--destination-port" | "--dports" | "--destination-ports" => {
                    let v = need(self, i)?;
                    if !matches!(cond.proto, Some(6 | 17)) {
                        self.err(
                            sp.clone(),
                            format!("`{}` without `-p tcp` or `-p udp`", t.text),
                            "ports belong to a protocol: add -p tcp or -p udp before it",
                        );
                    }
                    let mut list = Vec::new();
                    for part in v.text.split(',') {
                        match parse_range(part) {
                            Some(r) => list.push(r),
                            None => self.err(
                                v.span.clone(),
                                format!("port `{part}`"),
                                "ports are numbers 1-65535, ranges are written lo:hi",
                            ),
                        }
                    }
                    cond.ports = Some(list);
                    i += 2;
                }
                "--sport" | "--source-port" | "--sports" | "--source-ports" => {
                    self.err(sp.clone(), format!("a source port match (`{}`)", t.text), "statewall's entries match destination ports only; a client's source port says nothing about the service");
                    i += 2;
                }
                "--syn" => {
                    syn = true;
                    i += 1;
                }
                "--tcp-flags" => {
                    let (Some(mask), Some(comp)) = (toks.get(i + 1), toks.get(i + 2)) else {
                        self.err(
                            sp.clone(),
                            "`--tcp-flags` needs a mask and the flags set",
                            "e.g. --tcp-flags SYN,RST,ACK,FIN SYN",
                        );
                        return None;
                    };
                    let m: Vec<&str> = mask.text.split(',').collect();
                    if comp.text == "SYN" && m.contains(&"SYN") && m.contains(&"ACK") {
                        syn = true;
                    } else {
                        self.err(mask.span.start..comp.span.end, format!("`--tcp-flags {} {}`", mask.text, comp.text), "only the connection-opening form (SYN set, ACK clear, like --syn) is understood: statewall matches NEW connections");
                    }
                    i += 3;
                }
                "--state" | "--ctstate" => {
                    let v = need(self, i)?;
                    let mut bits = 0;
                    for s in v.text.split(',') {
                        bits |= match s {
                            "NEW" => CtStates::NEW,
                            "ESTABLISHED" => CtStates::ESTABLISHED,
                            "RELATED" => CtStates::RELATED,
                            "INVALID" => CtStates::INVALID,
                            "UNTRACKED" => CtStates::UNTRACKED,
                            other => {
                                self.err(
                                    v.span.clone(),
                                    format!("connection state `{other}`"),
                                    "the states are NEW, ESTABLISHED, RELATED, INVALID, UNTRACKED",
                                );
                                0
                            }
                        };
                    }
                    cond.states = Some(bits);
                    i += 2;
                }
                "--icmp-type" | "--icmpv6-type" => {
                    let v = need(self, i)?;
                    if v.text != "any" {
                        match (self.fam, icmp_type(&v.text)) {
                            (Fam::V4, Some(n)) => cond.icmp = Some(n),
                            (Fam::V4, None) => self.err(v.span.clone(), format!("ICMP type `{}`", v.text), "statewall matches ICMP types (a name such as echo-request, or a number), not type/code pairs"),
                            (Fam::V6, _) => self.err(v.span.clone(), format!("ICMPv6 type `{}`", v.text), "statewall accepts the ICMPv6 types IPv6 needs in its baseline and has no per-type ICMPv6 entries"),
                        }
                    }
                    i += 2;
                }
                "--comment" => {
                    let v = need(self, i)?;
                    comment = Some(v.text.clone());
                    i += 2;
                }
                "--limit" | "--limit-burst" => {
                    limit = Some(sp.clone());
                    i += 2;
                }
                "-j" | "--jump" => {
                    let v = need(self, i)?;
                    target_span = v.span.clone();
                    target = Some(match v.text.as_str() {
                        "ACCEPT" => Target::Accept,
                        "DROP" => Target::Drop,
                        "REJECT" => Target::Reject(RejectKind::Icmp(IcmpReject::PortUnreachable)),
                        "LOG" => Target::Log,
                        "RETURN" => Target::Return,
                        // a chain of the file, or a target extension (MASQUERADE, MARK, …):
                        // checked once every chain is known
                        other => Target::Jump(other.to_string()),
                    });
                    i += 2;
                }
                "-g" | "--goto" => {
                    self.err(
                        sp.clone(),
                        "`-g` (goto)",
                        "a goto does not come back to INPUT; write the rules as jumps (-j)",
                    );
                    i += 2;
                }
                "--reject-with" => {
                    let v = need(self, i)?;
                    reject_with = Some((v.text.clone(), v.span.clone()));
                    i += 2;
                }
                "--log-prefix" | "--log-level" => i += 2,
                "--log-tcp-sequence" | "--log-tcp-options" | "--log-ip-options" | "--log-uid" => {
                    i += 1
                }
                other => {
                    self.err(sp.clone(), format!("unknown option `{other}`"), "the importer does not know this option; statewall cannot say whether it can express it");
                    i += 1;
                    // and its values
                    while i < toks.len() && !toks[i].text.starts_with('-') && toks[i].text != "!" {
                        i += 1;
                    }
                }
            }
        }
        let Some(mut target) = target else {
            if self.diags.len() == before {
                self.err(span, "a rule without a target (`-j`)", "a rule without -j only counts packets; statewall counts every rule anyway: remove it");
            }
            return None;
        };
        if let Some((with, wspan)) = reject_with {
            if target != Target::Reject(RejectKind::Icmp(IcmpReject::PortUnreachable)) {
                self.err(
                    wspan.clone(),
                    "`--reject-with` without `-j REJECT`",
                    "remove it",
                );
            }
            let kind = match (with.as_str(), self.fam) {
                ("tcp-reset" | "tcp-rst", _) => Some(RejectKind::TcpReset),
                ("icmp-port-unreachable", Fam::V4) | ("icmp6-port-unreachable", Fam::V6) => {
                    Some(RejectKind::Icmp(IcmpReject::PortUnreachable))
                }
                ("icmp-host-unreachable", Fam::V4) | ("icmp6-addr-unreachable", Fam::V6) => {
                    Some(RejectKind::Icmp(IcmpReject::HostUnreachable))
                }
                ("icmp-net-unreachable", Fam::V4) | ("icmp6-no-route" | "no-route", Fam::V6) => {
                    Some(RejectKind::Icmp(IcmpReject::NoRoute))
                }
                (
                    "icmp-admin-prohibited" | "icmp-host-prohibited" | "icmp-net-prohibited",
                    Fam::V4,
                )
                | ("icmp6-adm-prohibited" | "adm-prohibited", Fam::V6) => {
                    Some(RejectKind::Icmp(IcmpReject::AdminProhibited))
                }
                _ => None,
            };
            match kind {
                Some(k) => target = Target::Reject(k),
                None => self.err(wspan, format!("`--reject-with {with}`"), "statewall answers with tcp-reset, or port-unreachable, host-unreachable, admin-prohibited (also for host-/net-prohibited) or no-route (net-unreachable)"),
            }
        }
        if let (Some(l), false) = (&limit, target == Target::Log) {
            self.err(l.clone(), "`-m limit` on a rule that is not LOG", "a rate limit on ACCEPT, DROP or REJECT changes which packets get that verdict; statewall has no rate limits");
        }
        if syn && cond.proto != Some(6) {
            self.err(span.clone(), "`--syn` without `-p tcp`", "add -p tcp");
        }
        if self.diags.len() != before {
            return None;
        }
        Some(IptRule {
            span,
            text,
            line,
            chain,
            cond,
            srcs,
            target,
            target_span,
            comment,
            syn,
        })
    }
}

/// Options that start a new part of a rule (where skipping an unknown module's options stops).
const RULE_OPTIONS: &[&str] = &[
    "!",
    "-p",
    "--protocol",
    "-s",
    "--source",
    "-d",
    "--destination",
    "-i",
    "--in-interface",
    "-o",
    "--out-interface",
    "-m",
    "--match",
    "-j",
    "--jump",
    "-g",
    "--goto",
];

fn icmp_type(s: &str) -> Option<u8> {
    if let Ok(n) = s.parse::<u8>() {
        return Some(n);
    }
    let alias = match s {
        "ping" => "echo-request",
        "pong" => "echo-reply",
        "timestamp-request" => "timestamp-request",
        other => other,
    };
    crate::core::model::ICMP_TYPES
        .iter()
        .find(|(n, _)| *n == alias)
        .map(|(_, t)| *t)
}

fn parse_range(s: &str) -> Option<PortRange> {
    let p = |t: &str| t.parse::<u16>().ok().filter(|&n| n != 0);
    match s.split_once(':') {
        Some((a, b)) => {
            let lo = if a.is_empty() { 1 } else { p(a)? };
            let hi = if b.is_empty() { 65535 } else { p(b)? };
            (lo <= hi).then_some(PortRange { lo, hi })
        }
        None => p(s).map(PortRange::single),
    }
}

/// `a.b.c.d[/len|/mask]` (host bits are cleared, as iptables does).
fn parse_net(s: &str, fam: Fam) -> Result<Cidr, String> {
    let (a, l) = match s.split_once('/') {
        Some((a, l)) => (a, Some(l)),
        None => (s, None),
    };
    let addr: IpAddr = a.parse().map_err(|_| "not an IP address".to_string())?;
    let len = match (addr, fam) {
        (IpAddr::V4(_), Fam::V4) => match l {
            None => 32,
            Some(l) => match l.parse::<u8>() {
                Ok(n) if n <= 32 => n,
                _ => match l.parse::<Ipv4Addr>() {
                    Ok(m) => Cidr::prefix_of_mask(&m.octets())
                        .ok_or_else(|| "a non-contiguous netmask".to_string())?,
                    Err(_) => return Err("a bad prefix length".into()),
                },
            },
        },
        (IpAddr::V6(_), Fam::V6) => match l {
            None => 128,
            Some(l) => match l.parse::<u8>() {
                Ok(n) if n <= 128 => n,
                _ => return Err("a bad prefix length".into()),
            },
        },
        (IpAddr::V4(_), Fam::V6) => return Err("an IPv4 address in an ip6tables file".into()),
        (IpAddr::V6(_), Fam::V4) => return Err("an IPv6 address in an iptables file".into()),
    };
    Ok(crate::core::policy::network(addr, len))
}

// ------------------------------------------------------------------------------------------
// Flattening and classification

/// One rule of the flattened INPUT chain.
#[derive(Debug, Clone)]
struct Flat {
    cond: Cond,
    verdict: Verdict,
    /// the rule that decides, and the jumps that led to it (outermost first)
    rule: usize,
    via: Vec<usize>,
    syn: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Verdict {
    Accept,
    Drop,
    Reject(RejectKind),
}

/// The place of a rule in statewall's fixed order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Rank {
    Established,
    Invalid,
    Loopback,
    Icmp,
    Allow,
    Reject,
    /// a drop that merges into the final drop
    Drop,
}

/// What the analysis of one file found.
#[derive(Debug)]
struct Analysis {
    rules: Vec<IptRule>,
    established: Option<usize>,
    invalid: Option<usize>,
    loopback: Option<usize>,
    icmp: Option<usize>,
    /// (condition as statewall matches it, flat rule)
    allows: Vec<Flat>,
    rejects: Vec<Flat>,
    /// Some(rule) for a catch-all rule, None for the chain policy
    final_rule: (Option<usize>, Verdict),
    notes: Vec<String>,
}

fn analyse(src: &str, fam: Fam) -> Result<Analysis, Vec<Diagnostic>> {
    let mut p = Parser {
        src,
        fam,
        diags: Vec::new(),
    };
    let tables = p.parse();
    let mut diags = p.diags;
    let mut notes = Vec::new();
    // FORWARD and OUTPUT: nothing to do for statewall only while they do nothing.
    for (name, (pol, span)) in &tables.policies {
        match name.as_str() {
            "INPUT" => {}
            "FORWARD" | "OUTPUT" if pol == "ACCEPT" => {}
            "FORWARD" | "OUTPUT" => diags.push(
                Diagnostic::error(span.clone(), src, format!("chain {name} has policy {pol}"))
                    .with_help("statewall filters incoming packets only (the INPUT hook); it cannot import a policy for forwarded or outgoing packets"),
            ),
            _ => {}
        }
    }
    for r in &tables.rules {
        if r.chain == "FORWARD" || r.chain == "OUTPUT" {
            diags.push(
                Diagnostic::error(r.span.clone(), src, format!("a rule in chain {}", r.chain))
                    .with_help("statewall filters incoming packets only (the INPUT hook); forwarded and outgoing packets are not its business"),
            );
        } else if r.chain != "INPUT" && !tables.user_chains.contains(&r.chain) {
            diags.push(
                Diagnostic::error(
                    r.span.clone(),
                    src,
                    format!("a rule in chain {}, which is never declared", r.chain),
                )
                .with_help(format!(
                    "declare it with `:{} - [0:0]` or `-N {}`",
                    r.chain, r.chain
                )),
            );
        }
        if let Target::Jump(c) = &r.target
            && !tables.user_chains.contains(c)
        {
            diags.push(
                Diagnostic::error(r.target_span.clone(), src, format!("a jump to `{c}`, which is neither a chain of this file nor a target statewall knows"))
                    .with_help("statewall understands ACCEPT, DROP, REJECT, LOG, RETURN and jumps to chains of the file"),
            );
        }
    }
    if !diags.is_empty() {
        return Err(diags);
    }
    let rules = tables.rules;
    let (policy, policy_span) = tables
        .policies
        .get("INPUT")
        .cloned()
        .unwrap_or(("ACCEPT".into(), 0..0));

    // Flatten INPUT.
    let mut flat = Vec::new();
    let mut used_chains = Vec::new();
    flatten(
        src,
        &rules,
        "INPUT",
        &Cond::default(),
        &mut Vec::new(),
        &mut flat,
        &mut diags,
        &mut notes,
        &mut used_chains,
    );
    for c in &tables.user_chains {
        if !used_chains.contains(c) && rules.iter().any(|r| &r.chain == c) {
            notes.push(format!(
                "chain {c} is never jumped to from INPUT: its rules have no effect and are left out"
            ));
        }
    }
    if !diags.is_empty() {
        return Err(diags);
    }

    // The first catch-all ends the chain; anything after it is never reached.
    let mut final_rule = match policy.as_str() {
        "ACCEPT" => (None, Verdict::Accept),
        "DROP" => (None, Verdict::Drop),
        other => {
            diags.push(
                Diagnostic::error(policy_span, src, format!("INPUT policy {other}"))
                    .with_help("a chain policy is ACCEPT or DROP"),
            );
            return Err(diags);
        }
    };
    if let Some(at) = flat.iter().position(|f| f.cond.is_everything()) {
        final_rule = (Some(flat[at].rule), flat[at].verdict);
        let later: Vec<usize> = flat[at + 1..].iter().map(|f| f.rule).collect();
        let l = rules[flat[at].rule].line;
        for r in dedup(later) {
            diags.push(
                Diagnostic::error(rules[r].span.clone(), src, "this rule is never reached")
                    .with_help(format!("line {l} decides every packet before it; remove this rule, or move it before line {l}")),
            );
        }
        flat.truncate(at);
    }
    if let Verdict::Reject(RejectKind::TcpReset) = final_rule.1 {
        let r = final_rule.0.expect("a policy is never a reject");
        diags.push(
            Diagnostic::error(rules[r].target_span.clone(), src, "a catch-all REJECT with tcp-reset")
                .with_help("a tcp reset answers tcp only; statewall's final rule answers with an ICMP error: use --reject-with icmp-port-unreachable (or another ICMP kind)"),
        );
    }

    // Classify.
    let mut ranked: Vec<(Rank, Flat)> = Vec::new();
    let mut a = Analysis {
        rules: Vec::new(),
        established: None,
        invalid: None,
        loopback: None,
        icmp: None,
        allows: Vec::new(),
        rejects: Vec::new(),
        final_rule,
        notes: Vec::new(),
    };
    let est = CtStates::ESTABLISHED | CtStates::RELATED;
    let lo_src = match fam {
        Fam::V4 => Cidr::V4(Ipv4Addr::new(127, 0, 0, 0), 8),
        Fam::V6 => Cidr::V6(Ipv6Addr::LOCALHOST, 128),
    };
    let icmp_proto = if fam == Fam::V4 { 1 } else { 58 };
    for f in flat {
        let r = &rules[f.rule];
        let c = &f.cond;
        let only = |g: Cond| *c == g;
        let rank = match f.verdict {
            Verdict::Accept
                if only(Cond {
                    states: Some(est),
                    ..Default::default()
                }) =>
            {
                a.established.get_or_insert(f.rule);
                Rank::Established
            }
            Verdict::Accept
                if only(Cond {
                    iif: Some("lo".into()),
                    ..Default::default()
                }) || only(Cond {
                    src: Some(lo_src),
                    dst_lo: true,
                    ..Default::default()
                }) =>
            {
                a.loopback.get_or_insert(f.rule);
                if c.src.is_some() {
                    notes.push(format!(
                        "line {}: `{}` becomes statewall's loopback rule, which accepts everything arriving on lo (also local traffic to the host's other addresses)",
                        r.line, r.text
                    ));
                }
                Rank::Loopback
            }
            Verdict::Accept
                if only(Cond {
                    proto: Some(icmp_proto),
                    ..Default::default()
                }) =>
            {
                a.icmp.get_or_insert(f.rule);
                Rank::Icmp
            }
            Verdict::Drop
                if only(Cond {
                    states: Some(CtStates::INVALID),
                    ..Default::default()
                }) =>
            {
                a.invalid.get_or_insert(f.rule);
                Rank::Invalid
            }
            _ if c.dst_lo => {
                diags.push(Diagnostic::error(r.span.clone(), src, "a destination match other than the loopback pattern").with_help("only `-s 127.0.0.0/8 -d 127.0.0.0/8 -j ACCEPT` (or `-i lo -j ACCEPT`) is understood"));
                continue;
            }
            Verdict::Accept if c.states.is_some_and(|s| s & !est == 0) => {
                // already accepted by the established rule, if the file has one
                Rank::Established
            }
            v => {
                if let Some(s) = c.states {
                    let ok = match v {
                        Verdict::Accept => {
                            s & CtStates::NEW != 0
                                && s & (CtStates::INVALID | CtStates::UNTRACKED) == 0
                        }
                        _ => s == CtStates::NEW,
                    };
                    if !ok {
                        let names = CtStates(s).names().join(",");
                        diags.push(Diagnostic::error(r.span.clone(), src, format!("connection states {names} on this rule")).with_help("statewall's entries match NEW connections (established and related ones are accepted by its established rule, invalid ones dropped by its invalid rule); other combinations cannot be imported"));
                        continue;
                    }
                }
                if c.proto == Some(icmp_proto) && c.icmp.is_none() {
                    diags.push(Diagnostic::error(r.span.clone(), src, "ICMP restricted by source, interface or state").with_help("statewall accepts all ICMP for everyone (its icmp baseline), or single ICMP types (--icmp-type) per entry"));
                    continue;
                }
                if c.proto == Some(58) {
                    diags.push(Diagnostic::error(r.span.clone(), src, "an ICMPv6 rule with conditions").with_help("statewall accepts the ICMPv6 types IPv6 needs in its baseline; it has no other ICMPv6 entries"));
                    continue;
                }
                match v {
                    Verdict::Accept => Rank::Allow,
                    Verdict::Reject(k) => {
                        if k == RejectKind::TcpReset && (c.proto != Some(6)) {
                            diags.push(
                                Diagnostic::error(
                                    r.target_span.clone(),
                                    src,
                                    "tcp-reset for packets that are not only tcp",
                                )
                                .with_help("add -p tcp, or use an ICMP kind"),
                            );
                            continue;
                        }
                        Rank::Reject
                    }
                    Verdict::Drop => Rank::Drop,
                }
            }
        };
        if f.syn {
            notes.push(format!("line {}: `--syn`/`--tcp-flags` becomes a match on NEW connections (statewall's allows match ct state new)", r.line));
        }
        ranked.push((rank, f));
    }
    // Mid-chain drops only merge into a final drop.
    if final_rule.1 != Verdict::Drop {
        for (rank, f) in &ranked {
            if *rank == Rank::Drop {
                let r = &rules[f.rule];
                let fin = match final_rule.0 {
                    Some(i) => format!("line {}", rules[i].line),
                    None => "the INPUT policy".to_string(),
                };
                diags.push(Diagnostic::error(r.span.clone(), src, "a DROP before a final rule that does not drop").with_help(format!("statewall has no drop entries: what it does not allow meets its final rule, and here that accepts or rejects ({fin}); make this a REJECT, or end the chain with DROP")));
            }
        }
    }
    // Reordering into statewall's order must not change any verdict.
    for j in 0..ranked.len() {
        for i in 0..j {
            let (ri, fi) = &ranked[i];
            let (rj, fj) = &ranked[j];
            if rj < ri
                && fi.verdict != fj.verdict
                && sw_cond(*ri, &fi.cond).overlaps(&sw_cond(*rj, &fj.cond))
            {
                let a_ = &rules[fi.rule];
                let b_ = &rules[fj.rule];
                diags.push(
                    Diagnostic::error(b_.span.clone(), src, format!("this rule would move before line {} and change what it decides", a_.line))
                        .with_help(format!(
                            "statewall's chain has a fixed order (established, invalid, loopback, icmp, allows, rejects, final); this rule is {}, line {} ({}) is {}, and some packets match both: reorder the file so that this rule comes first, or make the two rules disjoint",
                            rank_name(*rj), a_.line, a_.text, rank_name(*ri)
                        )),
                );
            }
        }
    }
    // Without an established rule, allows (NEW only) would cut their own connections.
    if a.established.is_none()
        && final_rule.1 != Verdict::Accept
        && ranked.iter().any(|(r, _)| *r == Rank::Allow)
    {
        let first = ranked
            .iter()
            .find(|(r, _)| *r == Rank::Allow)
            .expect("some")
            .1
            .rule;
        diags.push(Diagnostic::error(rules[first].span.clone(), src, "an ACCEPT in a file without an ESTABLISHED,RELATED accept").with_help("statewall's entries accept NEW connections and rely on its established rule for the rest; add `-A INPUT -m state --state ESTABLISHED,RELATED -j ACCEPT` as the first rule"));
    }
    // An accept of established packets under conditions is only covered by a full one.
    if a.established.is_none() {
        for (_, f) in ranked.iter().filter(|(r, _)| *r == Rank::Established) {
            diags.push(
                Diagnostic::error(
                    rules[f.rule].span.clone(),
                    src,
                    "an ESTABLISHED/RELATED accept with conditions, and no plain one",
                )
                .with_help(
                    "statewall accepts every established and related packet in its first rule, or none; add `-A INPUT -m state --state ESTABLISHED,RELATED -j ACCEPT` if that is what is meant",
                ),
            );
        }
    }
    if !diags.is_empty() {
        return Err(diags);
    }
    for (rank, f) in ranked {
        let r = &rules[f.rule];
        match rank {
            Rank::Established if a.established != Some(f.rule) => notes.push(format!(
                "line {}: `{}` is covered by statewall's established rule",
                r.line, r.text
            )),
            Rank::Allow => {
                if f.cond.states.is_none() && !f.syn {
                    notes.push(format!("line {}: `{}` has no state match; statewall's allow accepts NEW connections (established ones by its established rule{})", r.line, r.text, if a.invalid.is_some() { "" } else { "; packets conntrack calls INVALID are no longer accepted here" }));
                }
                a.allows.push(f)
            }
            Rank::Reject => {
                if f.cond.states.is_some() {
                    notes.push(format!(
                        "line {}: `{}` rejects NEW connections only; statewall's rejects have no state match (established ones are accepted before them, invalid ones are rejected too)",
                        r.line, r.text
                    ));
                }
                a.rejects.push(f)
            }
            Rank::Drop => notes.push(format!(
                "line {}: `{}` drops what statewall's final rule drops anyway",
                r.line, r.text
            )),
            _ => {}
        }
    }
    notes.extend(std::mem::take(&mut a.notes));
    a.notes = notes;
    a.rules = rules;
    Ok(a)
}

fn rank_name(r: Rank) -> &'static str {
    match r {
        Rank::Established => "an established accept",
        Rank::Invalid => "an invalid drop",
        Rank::Loopback => "the loopback accept",
        Rank::Icmp => "the icmp accept",
        Rank::Allow => "an allow",
        Rank::Reject => "a reject",
        Rank::Drop => "a drop",
    }
}

/// The packets statewall's rule for this ranked rule matches.
fn sw_cond(rank: Rank, c: &Cond) -> Cond {
    match rank {
        Rank::Loopback => Cond {
            iif: Some("lo".into()),
            ..Default::default()
        },
        Rank::Established
            if c.states
                .is_some_and(|s| s & !(CtStates::ESTABLISHED | CtStates::RELATED) == 0) =>
        {
            Cond {
                states: Some(CtStates::ESTABLISHED | CtStates::RELATED),
                ..Default::default()
            }
        }
        Rank::Allow => Cond {
            states: Some(CtStates::NEW),
            ..c.clone()
        },
        // statewall's rejects have no state match
        Rank::Reject => Cond {
            states: None,
            ..c.clone()
        },
        _ => c.clone(),
    }
}

fn dedup(mut v: Vec<usize>) -> Vec<usize> {
    let mut seen = Vec::new();
    v.retain(|x| {
        if seen.contains(x) {
            false
        } else {
            seen.push(*x);
            true
        }
    });
    v
}

#[allow(clippy::too_many_arguments)]
fn flatten(
    src: &str,
    rules: &[IptRule],
    chain: &str,
    prefix: &Cond,
    via: &mut Vec<usize>,
    out: &mut Vec<Flat>,
    diags: &mut Vec<Diagnostic>,
    notes: &mut Vec<String>,
    used: &mut Vec<String>,
) {
    if via.len() > 16 {
        return;
    }
    let idx: Vec<usize> = (0..rules.len())
        .filter(|&i| rules[i].chain == chain)
        .collect();
    for (k, &i) in idx.iter().enumerate() {
        let r = &rules[i];
        let last = k + 1 == idx.len();
        let srcs: Vec<Option<Cidr>> = if r.srcs.is_empty() {
            vec![None]
        } else {
            r.srcs.iter().copied().map(Some).collect()
        };
        for s in srcs {
            let mut own = r.cond.clone();
            own.src = s;
            let Some(cond) = prefix.and(&own) else {
                continue;
            };
            match &r.target {
                Target::Log => {
                    notes.push(format!("line {}: `{}` is left out: LOG does not decide anything (statewall's counters show what each rule sees)", r.line, r.text));
                }
                Target::Return => {
                    if !own.is_everything() {
                        diags.push(Diagnostic::error(r.span.clone(), src, "a RETURN with a condition").with_help("it skips the rest of the chain for some packets only, which statewall's flat chain cannot express; reorder the chain so that no conditional RETURN is needed"));
                    } else if !last {
                        diags.push(
                            Diagnostic::error(
                                r.span.clone(),
                                src,
                                "a RETURN before the end of its chain",
                            )
                            .with_help(
                                "the rules after it are never reached; remove them or the RETURN",
                            ),
                        );
                    }
                }
                Target::Accept | Target::Drop | Target::Reject(_) => {
                    let verdict = match &r.target {
                        Target::Accept => Verdict::Accept,
                        Target::Drop => Verdict::Drop,
                        Target::Reject(k) => Verdict::Reject(*k),
                        _ => unreachable!(),
                    };
                    out.push(Flat {
                        cond,
                        verdict,
                        rule: i,
                        via: via.clone(),
                        syn: r.syn,
                    });
                }
                Target::Jump(c) => {
                    if via
                        .iter()
                        .any(|&v| matches!(&rules[v].target, Target::Jump(x) if x == c))
                        || c == chain
                    {
                        diags.push(
                            Diagnostic::error(
                                r.target_span.clone(),
                                src,
                                format!("a loop: chain {c} jumps back into itself"),
                            )
                            .with_help("iptables-restore refuses loops too"),
                        );
                        continue;
                    }
                    if !used.contains(c) {
                        used.push(c.clone());
                    }
                    via.push(i);
                    let c = c.clone();
                    flatten(src, rules, &c, &cond, via, out, diags, notes, used);
                    via.pop();
                }
            }
        }
    }
}

// ------------------------------------------------------------------------------------------
// Building the policy

struct Entry {
    name: String,
    lines: Vec<String>,
    tcp: Vec<PortRange>,
    udp: Vec<PortRange>,
    icmp: Vec<u8>,
    from: Vec<Cidr>,
    iif: Option<String>,
    with: Option<&'static str>,
    /// for merging: everything but the source
    key: String,
    /// from the ip6tables file
    v6: bool,
}

fn port_list(v: &[PortRange]) -> String {
    let items: Vec<String> = v
        .iter()
        .map(|r| {
            if r.lo == r.hi {
                r.lo.to_string()
            } else {
                format!("\"{}-{}\"", r.lo, r.hi)
            }
        })
        .collect();
    format!("[{}]", items.join(", "))
}

/// Sorted, merged, disjoint ranges.
fn normalise(mut v: Vec<PortRange>) -> Vec<PortRange> {
    v.sort();
    let mut out: Vec<PortRange> = Vec::new();
    for r in v {
        match out.last_mut() {
            Some(l) if u32::from(r.lo) <= u32::from(l.hi) + 1 => l.hi = l.hi.max(r.hi),
            _ => out.push(r),
        }
    }
    out
}

/// Unique names, none of them one of statewall's own (a comment may say "final"): the
/// first entry keeps its name; a later one with the same name, or one with a reserved name,
/// takes the first `NAME-2`, `NAME-3`, ... that no entry has or will have. (Names are at
/// most `DERIVED_MAX` characters here, so the suffix stays within the 64 a name may have.)
fn make_unique(mut names: Vec<&mut String>) {
    use crate::core::compile::is_reserved_name;
    let mut used: std::collections::HashSet<String> = names.iter().map(|n| n.to_string()).collect();
    let mut kept: std::collections::HashSet<String> = std::collections::HashSet::new();
    for name in names.iter_mut() {
        if !is_reserved_name(name) && kept.insert(name.to_string()) {
            continue;
        }
        let free = (2..)
            .map(|k| format!("{name}-{k}"))
            .find(|n| !used.contains(n) && !is_reserved_name(n))
            .expect("a free name");
        used.insert(free.clone());
        kept.insert(free.clone());
        **name = free;
    }
}

fn entry_of(a: &Analysis, f: &Flat, with: Option<&'static str>) -> Entry {
    let r = &a.rules[f.rule];
    let c = &f.cond;
    let mut e = Entry {
        name: String::new(),
        lines: Vec::new(),
        tcp: Vec::new(),
        udp: Vec::new(),
        icmp: Vec::new(),
        from: c.src.into_iter().collect(),
        iif: c.iif.clone(),
        with,
        key: String::new(),
        v6: false,
    };
    for &v in &f.via {
        let j = &a.rules[v];
        e.lines.push(format!("# via line {}: {}", j.line, j.text));
    }
    e.lines.push(format!("# from line {}: {}", r.line, r.text));
    let all = vec![PortRange { lo: 1, hi: 65535 }];
    match c.proto {
        Some(6) => e.tcp = normalise(c.ports.clone().unwrap_or(all)),
        Some(17) => e.udp = normalise(c.ports.clone().unwrap_or(all)),
        Some(1) => e.icmp = c.icmp.into_iter().collect(),
        _ => {}
    }
    let proto_name = match c.proto {
        Some(6) => "tcp",
        Some(17) => "udp",
        Some(1) => "icmp",
        _ => "",
    };
    let derived = match (&e.tcp[..], &e.udp[..], &e.icmp[..]) {
        ([p], [], []) | ([], [p], []) if p.lo == p.hi => c
            .proto
            .and_then(|proto| services::entry_name(proto, p.lo))
            .map(str::to_string)
            .unwrap_or_else(|| format!("{proto_name}-{}", p.lo)),
        (ps @ [_, ..], [], []) | ([], ps @ [_, ..], []) => {
            let l: Vec<String> = ps.iter().take(4).map(|p| p.to_string()).collect();
            format!("{proto_name}-{}", l.join("-"))
        }
        ([], [], [t]) => format!(
            "icmp-{}",
            icmp_type_name(*t)
                .map(str::to_string)
                .unwrap_or(t.to_string())
        ),
        _ => match (&c.iif, c.src) {
            (Some(i), _) => format!("iif-{i}"),
            (None, Some(s)) => format!("from-{s}"),
            _ => "entry".into(),
        },
    };
    let sanitise = |s: &str| sanitise_name(s, Repair::Derive);
    e.name = r
        .comment
        .as_deref()
        .and_then(sanitise)
        .or_else(|| sanitise(&derived))
        .unwrap_or_else(|| "entry".into());
    e.key = format!(
        "{:?}{:?}{:?}{:?}{:?}{:?}{:?}",
        e.tcp, e.udp, e.icmp, e.iif, e.with, f.via, r.comment
    );
    e
}

/// `--ipv6`: an IPv6 entry that says exactly what an IPv4 entry says (both from anywhere)
/// joins it, and the pair becomes one entry for both families.
fn join_families(entries: Vec<Entry>) -> Vec<Entry> {
    let any4 = vec![Cidr::V4(Ipv4Addr::UNSPECIFIED, 0)];
    let any6 = vec![Cidr::V6(Ipv6Addr::UNSPECIFIED, 0)];
    let (mut v4, v6): (Vec<Entry>, Vec<Entry>) = entries.into_iter().partition(|e| !e.v6);
    let mut rest = Vec::new();
    for e in v6 {
        let twin = v4.iter_mut().find(|f| {
            f.from == any4
                && e.from == any6
                && (&f.tcp, &f.udp, &f.icmp, &f.iif, f.with)
                    == (&e.tcp, &e.udp, &e.icmp, &e.iif, e.with)
        });
        match twin {
            Some(f) => {
                f.from.clear();
                f.lines.extend(e.lines);
            }
            None => rest.push(e),
        }
    }
    v4.extend(rest);
    v4
}

/// Consecutive entries that differ only in their (disjoint) sources become one.
fn merge(entries: Vec<Entry>) -> Vec<Entry> {
    let mut out: Vec<Entry> = Vec::new();
    for e in entries {
        if let Some(last) = out.last_mut()
            && last.key == e.key
            && !last.from.is_empty()
            && !e.from.is_empty()
            && e.from
                .iter()
                .all(|n| last.from.iter().all(|m| !m.covers(*n) && !n.covers(*m)))
        {
            last.from.extend(e.from);
            for l in e.lines.into_iter().filter(|l| l.starts_with("# from")) {
                if !last.lines.contains(&l) {
                    last.lines.push(l);
                }
            }
            continue;
        }
        out.push(e);
    }
    out
}

fn build(
    src: &str,
    v4: Analysis,
    v6: Option<Analysis>,
    ipv6: Ipv6,
) -> Result<Imported, Vec<Diagnostic>> {
    let mut notes = v4.notes.clone();
    let mut diags = Vec::new();
    if let Some(v6) = &v6 {
        notes.extend(v6.notes.iter().map(|n| format!("IPv6 file: {n}")));
        let same = |a: Option<usize>, b: Option<usize>| a.is_some() == b.is_some();
        if v4.final_rule.1 != v6.final_rule.1 {
            diags.push(Diagnostic::error(first_line_span(src), src, "the IPv4 and IPv6 files end differently").with_help("statewall has one final rule for both families: make both files end with the same verdict"));
        }
        if !same(v4.established, v6.established)
            || !same(v4.invalid, v6.invalid)
            || !same(v4.loopback, v6.loopback)
        {
            diags.push(Diagnostic::error(first_line_span(src), src, "the IPv4 and IPv6 files differ in their established, invalid or loopback rules").with_help("statewall's baseline is the same for both families"));
        }
    }
    if !diags.is_empty() {
        return Err(diags);
    }

    let (mode, final_rule) = match v4.final_rule.1 {
        Verdict::Accept => ("audit", None),
        Verdict::Drop => ("enforce", None),
        Verdict::Reject(RejectKind::Icmp(k)) => ("enforce", Some(k)),
        Verdict::Reject(RejectKind::TcpReset) => unreachable!("refused in analyse"),
    };
    let fin_origin = match v4.final_rule.0 {
        Some(i) => format!("from line {}: {}", v4.rules[i].line, v4.rules[i].text),
        None => "from the INPUT chain policy".to_string(),
    };
    if mode == "audit" {
        notes.push(format!("everything not allowed is accepted ({fin_origin}): imported as mode = \"audit\", where the final rule counts and accepts; check the counters, then switch to enforce"));
    }
    if let (Some(i), Some(IcmpReject::AdminProhibited)) = (v4.final_rule.0, final_rule)
        && (v4.rules[i].text.contains("host-prohibited")
            || v4.rules[i].text.contains("net-prohibited"))
    {
        notes.push(format!("line {}: statewall answers with ICMP 'administratively prohibited' (code 13) instead of 'host/net prohibited' (code 10/9); clients see the same error (host unreachable)", v4.rules[i].line));
    }

    let mut allows: Vec<Entry> = v4.allows.iter().map(|f| entry_of(&v4, f, None)).collect();
    let with_of = |f: &Flat| -> Option<&'static str> {
        match f.verdict {
            Verdict::Reject(RejectKind::TcpReset) => Some("tcp-reset"),
            Verdict::Reject(RejectKind::Icmp(k)) => Some(k.as_str()),
            _ => None,
        }
    };
    let mut rejects: Vec<Entry> = v4
        .rejects
        .iter()
        .map(|f| entry_of(&v4, f, with_of(f)))
        .collect();
    match ipv6 {
        Ipv6::Mirror => {
            notes.push("--mirror-ipv6: entries without a source apply to IPv6 as well; statewall adds its ICMPv6 baseline (errors, echo, MLD, router and neighbour discovery), which IPv6 cannot work without".into());
        }
        Ipv6::File => {
            notes.push("--ipv6: the IPv4 file's entries are pinned to IPv4 (from 0.0.0.0/0 when they had no source) and the IPv6 file's to IPv6 (::/0); statewall adds its ICMPv6 baseline (errors, echo, MLD, router and neighbour discovery)".into());
            for e in allows.iter_mut().chain(rejects.iter_mut()) {
                if e.from.is_empty() && e.icmp.is_empty() {
                    e.from.push(Cidr::V4(Ipv4Addr::UNSPECIFIED, 0));
                }
            }
            if let Some(v6) = &v6 {
                for f in &v6.allows {
                    let mut e = entry_of(v6, f, None);
                    e.lines
                        .iter_mut()
                        .for_each(|l| *l = l.replacen("# ", "# IPv6 file, ", 1));
                    if e.from.is_empty() {
                        e.from.push(Cidr::V6(Ipv6Addr::UNSPECIFIED, 0));
                    }
                    e.key.push_str("v6");
                    e.v6 = true;
                    allows.push(e);
                }
                for f in &v6.rejects {
                    let mut e = entry_of(v6, f, with_of(f));
                    e.lines
                        .iter_mut()
                        .for_each(|l| *l = l.replacen("# ", "# IPv6 file, ", 1));
                    if e.from.is_empty() {
                        e.from.push(Cidr::V6(Ipv6Addr::UNSPECIFIED, 0));
                    }
                    e.key.push_str("v6");
                    e.v6 = true;
                    rejects.push(e);
                }
                if v6.icmp.is_some() {
                    notes.push("IPv6 file: statewall accepts the ICMPv6 types IPv6 needs (1-4, 128-136, 143), not every ICMPv6 type".into());
                }
            }
        }
        Ipv6::Unspecified => {}
    }
    if ipv6 == Ipv6::File {
        allows = join_families(allows);
        rejects = join_families(rejects);
    }
    let mut allows = merge(allows);
    let mut rejects = merge(rejects);
    make_unique(
        allows
            .iter_mut()
            .chain(rejects.iter_mut())
            .map(|e| &mut e.name)
            .collect(),
    );

    if ipv6 == Ipv6::Mirror {
        for e in allows.iter().chain(rejects.iter()) {
            if !e.from.is_empty() {
                notes.push(format!("entry \"{}\" is restricted to IPv4 sources: IPv6 clients meet the final rule (add IPv6 networks to its `from` if they should get in)", e.name));
            }
            if !e.icmp.is_empty() {
                notes.push(format!("entry \"{}\" matches ICMPv4 types only", e.name));
            }
        }
    }
    let mut t = String::new();
    let _ = writeln!(
        t,
        "# statewall policy imported from an iptables-save file; every entry says which line it came from."
    );
    let _ = writeln!(
        t,
        "# Review it, then `statewall check`, `statewall plan`, `statewall apply`."
    );
    for n in &notes {
        let _ = writeln!(t, "# note: {n}");
    }
    t.push('\n');
    let _ = writeln!(
        t,
        "mode = \"{mode}\"{}",
        if mode == "audit" {
            format!("  # {fin_origin}")
        } else {
            String::new()
        }
    );
    if let Some(k) = final_rule {
        let _ = writeln!(t, "final = \"{}\"  # {fin_origin}", k.as_str());
    } else if mode == "enforce" {
        let _ = writeln!(t, "# final rule: drop ({fin_origin})");
    }
    t.push('\n');
    let _ = writeln!(t, "[baseline]");
    let why = |r: Option<usize>, absent: &str| match r {
        Some(i) => format!("line {}: {}", v4.rules[i].line, v4.rules[i].text),
        None => absent.to_string(),
    };
    for (key, rule, absent) in [
        (
            "established",
            v4.established,
            "no ESTABLISHED,RELATED accept in the file",
        ),
        ("invalid", v4.invalid, "no INVALID drop in the file"),
        ("loopback", v4.loopback, "no loopback accept in the file"),
        ("icmp", v4.icmp, "no ICMP accept in the file"),
    ] {
        let _ = writeln!(t, "{key} = {}  # {}", rule.is_some(), why(rule, absent));
    }
    let _ = writeln!(
        t,
        "icmpv6 = true  # added by statewall: IPv6 needs neighbour discovery, errors, echo and MLD"
    );
    for (kind, list) in [("allow", &allows), ("reject", &rejects)] {
        for e in list {
            t.push('\n');
            for l in &e.lines {
                let _ = writeln!(t, "{l}");
            }
            let _ = writeln!(t, "[[{kind}]]");
            let _ = writeln!(t, "name = \"{}\"", e.name);
            if !e.tcp.is_empty() {
                let _ = writeln!(t, "tcp = {}", port_list(&e.tcp));
            }
            if !e.udp.is_empty() {
                let _ = writeln!(t, "udp = {}", port_list(&e.udp));
            }
            if !e.icmp.is_empty() {
                let l: Vec<String> = e
                    .icmp
                    .iter()
                    .map(|i| match icmp_type_name(*i) {
                        Some(n) => format!("\"{n}\""),
                        None => i.to_string(),
                    })
                    .collect();
                let _ = writeln!(t, "icmp = [{}]", l.join(", "));
            }
            if !e.from.is_empty() {
                let l: Vec<String> = e.from.iter().map(|n| format!("\"{n}\"")).collect();
                let _ = writeln!(t, "from = [{}]", l.join(", "));
            }
            if let Some(i) = &e.iif {
                let _ = writeln!(t, "iif = \"{i}\"");
            }
            if let Some(w) = e.with {
                let _ = writeln!(t, "with = \"{w}\"");
            }
        }
    }
    let (policy, pdiags) = crate::core::policy::parse(&t);
    match policy {
        Some(policy) => {
            for d in pdiags {
                notes.push(format!("the generated policy: {}", d.message));
            }
            Ok(Imported {
                toml: t,
                policy,
                notes,
            })
        }
        None => {
            let text = crate::core::diag::render(&pdiags, "imported.toml", &t);
            Err(vec![Diagnostic::error(
                first_line_span(src),
                src,
                format!("the generated policy is invalid (a bug in the importer):\n{text}"),
            )])
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn words_quote_and_escape() {
        let w = words(r#"-m comment --comment "a \"b\" c" -j ACCEPT"#, 0).unwrap();
        let t: Vec<&str> = w.iter().map(|t| t.text.as_str()).collect();
        assert_eq!(
            t,
            ["-m", "comment", "--comment", "a \"b\" c", "-j", "ACCEPT"]
        );
        assert!(words("--comment \"open", 0).is_err());
    }

    #[test]
    fn names_are_made_unique_and_never_statewall_own() {
        let mut names: Vec<String> = ["final", "final", "final-2", "ssh", "ssh", "ssh-2", "icmp"]
            .map(String::from)
            .to_vec();
        make_unique(names.iter_mut().collect());
        assert_eq!(
            names,
            [
                "final-3", "final-4", "final-2", "ssh", "ssh-3", "ssh-2", "icmp-2"
            ]
        );
    }

    #[test]
    fn detection() {
        assert!(looks_like_iptables("# Generated\n*filter\n"));
        assert!(looks_like_iptables(":INPUT ACCEPT [0:0]\n"));
        assert!(!looks_like_iptables("mode = \"audit\"\n"));
        assert!(!looks_like_iptables(""));
    }

    #[test]
    fn ranges_and_nets() {
        assert_eq!(
            parse_range("8000:8080"),
            Some(PortRange { lo: 8000, hi: 8080 })
        );
        assert_eq!(parse_range("22"), Some(PortRange::single(22)));
        assert_eq!(parse_range("0"), None);
        assert_eq!(
            parse_net("10.1.2.3/255.0.0.0", Fam::V4),
            Ok(Cidr::V4(Ipv4Addr::new(10, 0, 0, 0), 8))
        );
        assert!(parse_net("::1", Fam::V4).is_err());
    }

    #[test]
    fn conditions_join() {
        let a = Cond {
            proto: Some(6),
            ports: Some(vec![PortRange { lo: 1, hi: 100 }]),
            ..Default::default()
        };
        let b = Cond {
            ports: Some(vec![PortRange::single(22), PortRange::single(200)]),
            ..Default::default()
        };
        assert_eq!(a.and(&b).unwrap().ports, Some(vec![PortRange::single(22)]));
        let c = Cond {
            proto: Some(17),
            ..Default::default()
        };
        assert!(!a.overlaps(&c));
    }
}
