//! The rule parser: the options of one `-A CHAIN …` rule into its condition and target,
//! refusing every option statewall cannot express with the same meaning.

use std::hash::{DefaultHasher, Hash, Hasher};
use std::ops::Range;

use super::Fam;
use super::cond::Cond;
use super::lex::Tok;
use super::lines::Parser;
use super::values::{icmp_type, loopback_net, parse_net, parse_range, reject_kind, target_of};
use crate::core::model::{Cidr, IcmpReject, valid_ifname};
use crate::core::plan::CtStates;

#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum Target {
    Accept,
    Drop,
    Reject(RejectKind),
    Log,
    Return,
    Jump(String),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum RejectKind {
    TcpReset,
    Icmp(IcmpReject),
}

/// `-j REJECT` without `--reject-with`.
pub(super) const PLAIN_REJECT: Target =
    Target::Reject(RejectKind::Icmp(IcmpReject::PortUnreachable));

#[derive(Debug, Clone)]
pub(super) struct IptRule {
    /// the line's span, and the text without its counters
    pub(super) span: Range<usize>,
    pub(super) text: String,
    pub(super) line: u32,
    pub(super) chain: String,
    pub(super) cond: Cond,
    /// several `-s` networks (a comma list) make several rules
    pub(super) srcs: Vec<Cidr>,
    pub(super) target: Target,
    pub(super) target_span: Range<usize>,
    pub(super) comment: Option<String>,
    pub(super) syn: bool,
    /// the `--reject-with` value as written
    pub(super) reject_with: Option<String>,
    /// the comment's length and hash, once: what entries compare (a comment may be long)
    pub(super) comment_id: Option<(usize, u64)>,
    /// a LOG rule's options as written
    pub(super) log: LogOpts,
}

/// What a LOG rule says: `--log-prefix`, `--log-level`, and its `-m limit` (`--limit`,
/// `--limit-burst`), as written.
#[derive(Debug, Clone, Default)]
pub(super) struct LogOpts {
    pub(super) prefix: Option<String>,
    pub(super) level: Option<String>,
    pub(super) limit: Option<String>,
    pub(super) burst: Option<String>,
}

/// A rule as its options are read.
#[derive(Default)]
struct Draft {
    cond: Cond,
    srcs: Vec<Cidr>,
    target: Option<Target>,
    /// the `-j` value; the whole line when there is none
    target_span: Option<Range<usize>>,
    comment: Option<String>,
    syn: bool,
    /// where `--limit` is
    limit: Option<Range<usize>>,
    log: LogOpts,
    reject_with: Option<(String, Range<usize>)>,
    /// the options that take one value per rule, as met so far, and those met twice
    given: Vec<&'static str>,
    repeated: Vec<&'static str>,
}

/// Options a rule gives at most once (iptables refuses the second: "multiple -s flags not
/// allowed"), each with the other ways to write it; a second one is refused here too, not
/// read as a union or the last one winning.
const ONCE: &[&[&str]] = &[
    &["-p", "--protocol"],
    &["-s", "--source", "--src"],
    &["-d", "--destination", "--dst"],
    &["-i", "--in-interface"],
    &["-j", "--jump", "-g", "--goto"],
    &[
        "--dport",
        "--destination-port",
        "--dports",
        "--destination-ports",
    ],
    &["--state", "--ctstate"],
    &["--icmp-type", "--icmpv6-type"],
    &["--reject-with"],
];

/// The most ports one rule lists: iptables' multiport match takes 15 (a range counts as two).
const MULTIPORT_MAX: usize = 15;

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

impl Parser<'_> {
    /// The rule made of `toks` (the words after `-A CHAIN`), or None when it is refused (the
    /// reasons are in the diagnostics).
    pub(super) fn rule(
        &mut self,
        toks: &[Tok],
        chain: String,
        span: Range<usize>,
        text: String,
        line: u32,
    ) -> Option<IptRule> {
        let before = self.diags.total();
        let mut d = Draft::default();
        let mut i = 0;
        while i < toks.len() {
            i = self.option(&mut d, toks, i)?;
        }
        let Some(target) = d.target.take() else {
            if self.diags.total() == before {
                self.err(span, "a rule without a target (`-j`)", "a rule without -j only counts packets; statewall counts every rule anyway: remove it");
            }
            return None;
        };
        let reject_with = d.reject_with.take();
        let with_word = reject_with.as_ref().map(|(w, _)| w.clone());
        let target = match reject_with {
            Some((with, wspan)) => self.reject_with(target, &with, wspan),
            None => target,
        };
        if let (Some(l), false) = (&d.limit, target == Target::Log) {
            self.err(l.clone(), "`-m limit` on a rule that is not LOG", "a rate limit on ACCEPT, DROP or REJECT changes which packets get that verdict; statewall has no rate limits");
        }
        if d.syn && d.cond.proto != Some(6) {
            self.err(span.clone(), "`--syn` without `-p tcp`", "add -p tcp");
        }
        if self.diags.total() != before {
            return None;
        }
        let comment_id = d.comment.as_ref().map(|c| {
            let mut h = DefaultHasher::new();
            c.hash(&mut h);
            (c.len(), h.finish())
        });
        Some(IptRule {
            target_span: d.target_span.unwrap_or_else(|| span.clone()),
            span,
            text,
            line,
            chain,
            cond: d.cond,
            srcs: d.srcs,
            target,
            comment: d.comment,
            syn: d.syn,
            reject_with: with_word,
            comment_id,
            log: d.log,
        })
    }

    /// Reads the option at `toks[i]`; returns where the next one starts, or None when the
    /// rule cannot be read any further (an option without its value).
    fn option(&mut self, d: &mut Draft, toks: &[Tok], i: usize) -> Option<usize> {
        let t = &toks[i];
        let sp = t.span.clone();
        if let Some(once) = ONCE.iter().find(|o| o.contains(&t.text.as_str())) {
            if d.given.contains(&once[0]) {
                // said once per option and rule, however often it is repeated
                if d.repeated.contains(&once[0]) {
                    return Some((i + 2).min(toks.len()));
                }
                d.repeated.push(once[0]);
                self.err(
                    sp,
                    format!("`{}` a second time in one rule", t.text),
                    format!("iptables takes one `{}` per rule (iptables-save never writes two): split the rule, one per value{}", once[0], if once[0] == "-s" { ", or list the sources as one `-s a,b`" } else { "" }),
                );
                // and its value
                return Some((i + 2).min(toks.len()));
            }
            d.given.push(once[0]);
        }
        match t.text.as_str() {
            "!" => {
                self.err(
                    sp,
                    "a negation (`!`)",
                    "statewall's entries say what is allowed or rejected; they cannot say \"everything but\": write the complement as positive rules",
                );
                return Some(i + 1);
            }
            "-p" | "--protocol" => {
                let v = self.value(toks, i)?;
                d.cond.proto = self.protocol(&v);
            }
            "-s" | "--source" | "--src" => {
                let v = self.value(toks, i)?;
                self.sources(d, &v);
            }
            "-d" | "--destination" | "--dst" => {
                let v = self.value(toks, i)?;
                self.destination(d, &v);
            }
            "-i" | "--in-interface" => {
                let v = self.value(toks, i)?;
                self.in_interface(d, &v);
            }
            "-o" | "--out-interface" => {
                self.err(sp, "an output interface (`-o`)", "statewall filters incoming packets (the INPUT hook), which have no output interface");
            }
            "-m" | "--match" => {
                let v = self.value(toks, i)?;
                return Some(self.module(&v, toks, i));
            }
            "--dport" | "--destination-port" | "--dports" | "--destination-ports" => {
                let v = self.value(toks, i)?;
                self.dports(d, t, &v);
            }
            "--sport" | "--source-port" | "--sports" | "--source-ports" => {
                self.err(sp, format!("a source port match (`{}`)", t.text), "statewall's entries match destination ports only; a client's source port says nothing about the service");
            }
            "--syn" => {
                d.syn = true;
                return Some(i + 1);
            }
            "--tcp-flags" => return self.tcp_flags(d, toks, i),
            "--state" | "--ctstate" => {
                let v = self.value(toks, i)?;
                d.cond.states = Some(self.states(&v));
            }
            "--icmp-type" | "--icmpv6-type" => {
                let v = self.value(toks, i)?;
                self.icmp(d, &v);
            }
            "--comment" => d.comment = Some(self.value(toks, i)?.text),
            o @ ("--limit" | "--limit-burst") => {
                d.limit = Some(sp);
                let v = self.value(toks, i)?.text;
                if o == "--limit" {
                    d.log.limit = Some(v);
                } else {
                    d.log.burst = Some(v);
                }
            }
            "-j" | "--jump" => {
                let v = self.value(toks, i)?;
                d.target_span = Some(v.span.clone());
                d.target = Some(target_of(&v.text));
            }
            "-g" | "--goto" => {
                self.err(
                    sp,
                    "`-g` (goto)",
                    "a goto does not come back to INPUT; write the rules as jumps (-j)",
                );
            }
            "--reject-with" => {
                let v = self.value(toks, i)?;
                d.reject_with = Some((v.text, v.span));
            }
            o @ ("--log-prefix" | "--log-level") => {
                let v = self.value(toks, i)?.text;
                if o == "--log-prefix" {
                    d.log.prefix = Some(v);
                } else {
                    d.log.level = Some(v);
                }
            }
            "--log-tcp-sequence" | "--log-tcp-options" | "--log-ip-options" | "--log-uid" => {
                return Some(i + 1);
            }
            other => {
                self.err(sp, format!("unknown option `{other}`"), "the importer does not know this option; statewall cannot say whether it can express it");
                // and its values
                let mut i = i + 1;
                while i < toks.len() && !toks[i].text.starts_with('-') && toks[i].text != "!" {
                    i += 1;
                }
                return Some(i);
            }
        }
        Some(i + 2)
    }

    /// The value of the option at `toks[i]`, or None (reported) when the line ends first.
    fn value(&mut self, toks: &[Tok], i: usize) -> Option<Tok> {
        let v = toks.get(i + 1).cloned();
        if v.is_none() {
            let t = &toks[i];
            self.err(
                t.span.clone(),
                format!("`{}` needs a value", t.text),
                "see iptables(8)",
            );
        }
        v
    }

    /// `-p PROTO`: tcp, udp or this family's ICMP; None for `all`.
    fn protocol(&mut self, v: &Tok) -> Option<u8> {
        match (v.text.to_ascii_lowercase().as_str(), self.fam) {
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
        }
    }

    /// `-s NET[,NET…]`
    fn sources(&mut self, d: &mut Draft, v: &Tok) {
        for part in v.text.split(',') {
            match parse_net(part, self.fam) {
                Ok(n) => d.srcs.push(n),
                Err(why) => self.err(
                    v.span.clone(),
                    format!("source `{part}`: {why}"),
                    "write an address or network, e.g. 198.51.100.0/24",
                ),
            }
        }
    }

    /// `-d NET`: only the loopback pattern's.
    fn destination(&mut self, d: &mut Draft, v: &Tok) {
        if parse_net(&v.text, self.fam) == Ok(loopback_net(self.fam)) {
            d.cond.dst_lo = true;
        } else {
            self.err(
                v.span.clone(),
                format!("destination `{}`", v.text),
                "statewall filters everything that arrives for this host and has no destination match; only the loopback pattern `-s 127.0.0.0/8 -d 127.0.0.0/8` is understood",
            );
        }
    }

    /// `-i IFACE`: one interface by its exact name.
    fn in_interface(&mut self, d: &mut Draft, v: &Tok) {
        if v.text.ends_with('+') {
            self.err(
                v.span.clone(),
                format!("interface wildcard `{}`", v.text),
                "statewall matches one interface by its exact name: write one rule per interface",
            );
        } else if !valid_ifname(&v.text) {
            self.err(
                v.span.clone(),
                format!("invalid interface name `{}`", v.text),
                "an interface name is 1-15 characters without `/`, `:` or whitespace",
            );
        } else {
            d.cond.iif = Some(v.text.clone());
        }
    }

    /// `-m MODULE` at `toks[i]`: returns where the next option starts (an unsupported
    /// module's own options are skipped: they say nothing more).
    fn module(&mut self, v: &Tok, toks: &[Tok], i: usize) -> usize {
        let other = v.text.as_str();
        if matches!(
            other,
            "tcp"
                | "udp"
                | "icmp"
                | "icmp6"
                | "state"
                | "conntrack"
                | "multiport"
                | "comment"
                | "limit"
        ) {
            return i + 2;
        }
        let why = match other {
            "recent" => {
                "`-m recent` keeps per-source history (port knocking, brute-force limits); statewall has no per-source state"
            }
            "mark" | "connmark" => {
                "marks are set by other rules or programs; statewall neither sets nor matches them"
            }
            "set" => "ipset sets live outside the ruleset; list the networks in `from` instead",
            "hashlimit" | "connlimit" => "statewall has no rate or connection limits",
            "owner" => "owner matches only exist for outgoing packets",
            _ => "statewall's policy model cannot express this match",
        };
        self.err(v.span.clone(), format!("match module `-m {other}`"), why);
        let mut i = i + 2;
        while i < toks.len() && !RULE_OPTIONS.contains(&toks[i].text.as_str()) {
            i += 1;
        }
        i
    }

    /// `--dport PORTS` (option `t`): ports of the protocol given before.
    fn dports(&mut self, d: &mut Draft, t: &Tok, v: &Tok) {
        if !matches!(d.cond.proto, Some(6 | 17)) {
            self.err(
                t.span.clone(),
                format!("`{}` without `-p tcp` or `-p udp`", t.text),
                "ports belong to a protocol: add -p tcp or -p udp before it",
            );
        }
        let mut list = Vec::new();
        let mut count = 0;
        for part in v.text.split(',') {
            count += if part.contains(':') { 2 } else { 1 };
            if count > MULTIPORT_MAX {
                self.err(
                    v.span.clone(),
                    format!("`{}` lists more than {MULTIPORT_MAX} ports", t.text),
                    "iptables' multiport match takes at most 15 ports (a range counts as two), and iptables-save never writes more: split the rule",
                );
                break;
            }
            match parse_range(part) {
                Some(r) => list.push(r),
                None => self.err(
                    v.span.clone(),
                    format!("port `{part}`"),
                    "ports are numbers 1-65535, ranges are written lo:hi",
                ),
            }
        }
        d.cond.ports = Some(list);
    }

    /// `--tcp-flags MASK COMP` at `toks[i]`: only the form that means `--syn`.
    fn tcp_flags(&mut self, d: &mut Draft, toks: &[Tok], i: usize) -> Option<usize> {
        let (Some(mask), Some(comp)) = (toks.get(i + 1), toks.get(i + 2)) else {
            self.err(
                toks[i].span.clone(),
                "`--tcp-flags` needs a mask and the flags set",
                "e.g. --tcp-flags SYN,RST,ACK,FIN SYN",
            );
            return None;
        };
        let m: Vec<&str> = mask.text.split(',').collect();
        if comp.text == "SYN" && m.contains(&"SYN") && m.contains(&"ACK") {
            d.syn = true;
        } else {
            self.err(mask.span.start..comp.span.end, format!("`--tcp-flags {} {}`", mask.text, comp.text), "only the connection-opening form (SYN set, ACK clear, like --syn) is understood: statewall matches NEW connections");
        }
        Some(i + 3)
    }

    /// `--state STATE[,STATE…]` as conntrack state bits.
    fn states(&mut self, v: &Tok) -> u32 {
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
        bits
    }

    /// `--icmp-type TYPE`: ICMPv4 types only.
    fn icmp(&mut self, d: &mut Draft, v: &Tok) {
        if v.text == "any" {
            return;
        }
        match (self.fam, icmp_type(&v.text)) {
            (Fam::V4, Some(n)) => d.cond.icmp = Some(n),
            (Fam::V4, None) => self.err(v.span.clone(), format!("ICMP type `{}`", v.text), "statewall matches ICMP types (a name such as echo-request, or a number), not type/code pairs"),
            (Fam::V6, _) => self.err(v.span.clone(), format!("ICMPv6 type `{}`", v.text), "statewall accepts the ICMPv6 types IPv6 needs in its baseline and has no per-type ICMPv6 entries"),
        }
    }

    /// `--reject-with WITH` on a rule with `target`: the reject kind it makes.
    fn reject_with(&mut self, target: Target, with: &str, wspan: Range<usize>) -> Target {
        if target != PLAIN_REJECT {
            self.err(
                wspan.clone(),
                "`--reject-with` without `-j REJECT`",
                "remove it",
            );
        }
        match reject_kind(with, self.fam) {
            Some(k) => Target::Reject(k),
            None => {
                self.err(wspan, format!("`--reject-with {with}`"), "statewall answers with tcp-reset, or port-unreachable, host-unreachable, admin-prohibited (also for host-/net-prohibited) or no-route (net-unreachable)");
                target
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::model::PortRange;
    use std::net::Ipv4Addr;

    fn read(line: &str, fam: Fam) -> (Option<IptRule>, Vec<String>) {
        let toks = crate::core::import::lex::words(line, 0).unwrap();
        let mut p = Parser::new(line, fam);
        let r = p.rule(&toks, "INPUT".into(), 0..line.len(), line.into(), 1);
        (r, p.diags.into_iter().map(|d| d.message).collect())
    }

    #[test]
    fn a_rule_reads_into_condition_and_target() {
        let (r, diags) = read(
            "-s 10.1.2.3/8 -p tcp -m tcp --dport 22:80 -m comment --comment ssh -j REJECT --reject-with tcp-reset",
            Fam::V4,
        );
        assert!(diags.is_empty(), "{diags:?}");
        let r = r.unwrap();
        assert_eq!(r.srcs, [Cidr::V4(Ipv4Addr::new(10, 0, 0, 0), 8)]);
        assert_eq!(r.cond.proto, Some(6));
        assert_eq!(r.cond.ports, Some(vec![PortRange { lo: 22, hi: 80 }]));
        assert_eq!(r.comment.as_deref(), Some("ssh"));
        assert_eq!(r.target, Target::Reject(RejectKind::TcpReset));
    }

    #[test]
    fn every_refusal_is_reported() {
        let (r, diags) = read(
            "! -o eth0 -p gre -m recent --set --name x -j ACCEPT --log-uid --frob 1 2",
            Fam::V4,
        );
        assert!(r.is_none());
        assert_eq!(
            diags,
            [
                "a negation (`!`)",
                "an output interface (`-o`)",
                "protocol `gre`",
                "match module `-m recent`",
                "unknown option `--frob`",
            ]
        );
        let (r, diags) = read(
            &format!("-p tcp {}-p udp -j ACCEPT", "-s 10.0.0.1 ".repeat(8000)),
            Fam::V4,
        );
        assert!(r.is_none());
        assert_eq!(
            diags,
            [
                "`-s` a second time in one rule",
                "`-p` a second time in one rule"
            ]
        );
        let (r, diags) = read("-p tcp --dport", Fam::V4);
        assert!(r.is_none());
        assert_eq!(diags, ["`--dport` needs a value"]);
        let (_, diags) = read("-p tcp -j ACCEPT --reject-with icmp6-no-route", Fam::V4);
        assert_eq!(
            diags,
            [
                "`--reject-with` without `-j REJECT`",
                "`--reject-with icmp6-no-route`"
            ]
        );
    }
}
