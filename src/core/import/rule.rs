//! The rule parser: the options of one `-A CHAIN …` rule into its condition and target,
//! refusing every option statewall cannot express with the same meaning.

use std::hash::{DefaultHasher, Hash, Hasher};
use std::ops::Range;

use super::cond::Cond;
use super::extra::Extra;
use super::lex::{Tok, skip_module};
use super::lines::Parser;
use super::values::{parse_addr_range, parse_net, parse_range, target_of, tcp_flag_bits};
use crate::core::model::{Cidr, IcmpReject, MSS_MIN, Mss, PortRange, valid_ifname};
use crate::core::plan::protocol_number;

#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum Target {
    Accept,
    Drop,
    Reject(RejectKind),
    Log,
    Return,
    Jump(String),
    /// no `-j`, with `-m recent --set`: the rule only records its packets' sources
    RecentSet,
    /// no `-j` at all: the rule only counts its packets
    Count,
    /// `-j TCPMSS` (`--clamp-mss-to-pmtu` or `--set-mss N`): a SYN's MSS option lowered, and
    /// on to the next rule (`mss.rs`)
    Mss(Mss),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum RejectKind {
    TcpReset,
    Icmp(IcmpReject),
}

/// A rate match on a rule whose target statewall keeps without a rate (TCPMSS): what, and why.
pub(super) const LIMIT_ELSEWHERE: (&str, &str) = (
    "a rate match (`-m limit`, `-m hashlimit`) on a rule of this target",
    "statewall keeps a rate on an ACCEPT, DROP, REJECT, LOG or NFLOG (and on a jump read as one of them); here the rate would choose which packets get the target, which no statewall entry says: remove the rate, or write it on the rule that decides these packets",
);

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
    /// several `-s` (`-d`) networks (a comma list) make several rules; those of an `-m
    /// iprange` range (`ranged`: source, destination) one rule, with one bucket and count
    pub(super) srcs: Vec<Cidr>,
    pub(super) dsts: Vec<Cidr>,
    pub(super) ranged: (bool, bool),
    /// TCP flag patterns of which any matches (`! --syn` is several); empty = any flags
    pub(super) flag_alts: Vec<(u8, u8)>,
    /// `--ctstate …,DNAT` with other states: the rule matches those states or (a rule of
    /// its own after it) a DNAT'ed connection (`ctstate.rs`)
    pub(super) dnat_alt: bool,
    pub(super) target: Target,
    pub(super) target_span: Range<usize>,
    pub(super) comment: Option<String>,
    /// the comment's length and hash, once: what entries compare (a comment may be long)
    pub(super) comment_id: Option<(usize, u64)>,
    /// `--log-*`, `-m limit` and `-m recent`, as written (`extra.rs`)
    pub(super) extra: Extra,
    /// `-f` (Some(true): non-first fragments only) or `! -f` (Some(false)): decided by the
    /// analysis, which knows whether the file's rules use connection tracking
    pub(super) fragment: Option<bool>,
    /// why no packet matches (an interface no device can have, `-i venet0:0`; two `-m ttl`
    /// no TTL passes): noted (`analyse`)
    pub(super) never: Option<String>,
    /// `--ctdir ORIGINAL` (true) or `REPLY`, and where: kept only where every packet of the
    /// rule opens a connection, and so goes the original way (`extra.rs`)
    pub(super) ctdir: Option<(bool, Range<usize>)>,
    /// `-g CHAIN`: where (split into a jump and a RETURN, `lines.rs`; the RETURN keeps it)
    pub(super) goto: Option<Range<usize>>,
}

/// A rule as its options are read.
#[derive(Default)]
pub(super) struct Draft {
    pub(super) cond: Cond,
    srcs: Vec<Cidr>,
    dsts: Vec<Cidr>,
    ranged: (bool, bool),
    flag_alts: Vec<(u8, u8)>,
    dnat_alt: bool,
    fragment: Option<bool>,
    /// a `!` waiting for the option it negates
    pub(super) neg: Option<Range<usize>>,
    target: Option<Target>,
    /// the `-j` value; the whole line when there is none
    target_span: Option<Range<usize>>,
    comment: Option<String>,
    syn: bool,
    /// where `--limit` is
    limit: Option<Range<usize>>,
    /// where `--ctorigdstport` and its value are
    orig: Option<Range<usize>>,
    /// where the first of `--ctproto`, `--ctorigdst`, `--ctorigsrc` and `--ctorigdstport`
    /// is: matches a packet without a connection cannot satisfy (`conntrack.rs`)
    conn_only: Option<Range<usize>>,
    /// `--ctorigdst 0.0.0.0/0` (or `--ctorigsrc`): the packet has a connection
    tracked_only: bool,
    pub(super) extra: Extra,
    reject_with: Option<(String, Range<usize>)>,
    /// `--clamp-mss-to-pmtu` or `--set-mss N` of `-j TCPMSS`
    mss: Option<Mss>,
    pub(super) never: Option<String>,
    ctdir: Option<(bool, Range<usize>)>,
    goto: Option<Range<usize>>,
    /// the options that take one value per rule, as met so far, and those met twice
    pub(super) given: Vec<&'static str>,
    pub(super) repeated: Vec<&'static str>,
    /// each `-m string` and its options (`contains.rs`), each `-m u32` (`u32.rs`), `-m
    /// time` (`clock.rs`), `-m policy` (`ipsec.rs`)
    strings: Vec<super::contains::StringOpts>,
    u32s: Vec<super::u32::U32Opts>,
    times: Vec<super::clock::TimeOpts>,
    policies: Vec<super::ipsec::PolicyOpts>,
    /// where `-m recent` and a rate match (`-m limit`, `-m hashlimit`) are, and what the
    /// rule's matches said when each came (`order.rs`)
    recent_at: Option<(Range<usize>, Cond, [usize; 7])>,
    rate_at: Option<(Range<usize>, Cond, [usize; 7])>,
    /// the match modules of one protocol (`-m udp`, `-m tcpmss`): that protocol, the
    /// module, and where it is named
    of_proto: Vec<(u8, &'static str, Range<usize>)>,
}

impl Draft {
    /// The rule's protocol as its ports and flags are read: `-p`, or before it the
    /// protocol of a `-m tcp`/`-m udp` already given (iptables reads `-m tcp --dport 22 -p
    /// tcp` so; the end of the rule checks that `-p` says the same).
    fn l4(&self) -> Option<u8> {
        self.cond.proto.or_else(|| {
            let ports = self.of_proto.iter().find(|m| matches!(m.1, "tcp" | "udp"));
            ports.map(|m| m.0)
        })
    }
}

/// The match modules the kernel takes for one protocol only ("only valid for protocol N"):
/// `-p tcp -m udp` and `-m tcp` without `-p` are refused when the rule is added.
const OF_PROTO: &[(&str, u8, &str)] = &[
    ("tcp", 6, "tcp"),
    ("udp", 17, "udp"),
    ("icmp", 1, "icmp"),
    ("icmp6", 58, "ipv6-icmp"),
    ("icmpv6", 58, "ipv6-icmp"),
    ("tcpmss", 6, "tcp"),
];

/// The most ports one rule lists: iptables' multiport match takes 15 (a range counts as two).
const MULTIPORT_MAX: usize = 15;

/// Whether the port option `t` is the udp match's: `--dport`, `--sport` or their long names
/// after `-p udp` (the getopt pass has written multiport's, which getopt takes a `--dport`
/// after `-m multiport` for, as `--dports`: iptables reads those names as multiport does).
fn udp_match_option(d: &Draft, t: &Tok) -> bool {
    let singular = matches!(
        t.text.as_str(),
        "--dport" | "--destination-port" | "--sport" | "--source-port"
    );
    d.l4() == Some(17) && singular
}

impl Parser<'_> {
    /// The rule made of `toks` (the words after `-A CHAIN`); None when refused (diagnosed).
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
        let recent_set = d.extra.recent.as_ref().is_some_and(|r| r.set);
        let target = d
            .target
            .take()
            .or(recent_set.then_some(Target::RecentSet))
            .unwrap_or(Target::Count);
        let reject_with = d.reject_with.take();
        let target = match reject_with {
            Some((with, wspan)) => self.reject_with(target, &with, wspan),
            None => target,
        };
        let target = match (target, d.mss) {
            (Target::Mss(_), Some(mss)) => Target::Mss(mss),
            (Target::Mss(m), None) => {
                let at = d.target_span.clone().unwrap_or_else(|| span.clone());
                self.err(
                    at,
                    "`-j TCPMSS` without `--clamp-mss-to-pmtu` or `--set-mss`",
                    "TCPMSS needs one of them (iptables-extensions(8))",
                );
                Target::Mss(m)
            }
            (t, Some(_)) => {
                self.err(
                    span.clone(),
                    "`--clamp-mss-to-pmtu` or `--set-mss` without `-j TCPMSS`",
                    "they are options of the TCPMSS target",
                );
                t
            }
            (t, None) => t,
        };
        // a jump's or a RETURN's limit is judged once the chains are known (`chains.rs`); a
        // rule without a target decides nothing, and its `-m limit` bucket is its own (left
        // out with it); a hashlimit's table may be other rules' too, which the file's names
        // say (`above::shared_hashlimits`)
        let count_only = target == Target::Count && d.extra.limit.is_some();
        let later = matches!(target, Target::Jump(_) | Target::Return)
            || count_only
            || d.extra.limit.is_some() && matches!(target, Target::Drop | Target::Reject(_));
        if let (Some(l), false) = (
            &d.limit,
            later || matches!(target, Target::Log | Target::Accept),
        ) {
            self.err(l.clone(), LIMIT_ELSEWHERE.0, LIMIT_ELSEWHERE.1);
        }
        d.extra.limit_span = d.limit.clone();
        self.recent_fits(&d.extra, &target, &span);
        self.recent_order(&mut d, &target);
        self.strings_into(&mut d.cond, std::mem::take(&mut d.strings));
        self.u32s_into(&mut d.cond, std::mem::take(&mut d.u32s));
        let times = std::mem::take(&mut d.times);
        self.times_into(&mut d, times);
        let policies = std::mem::take(&mut d.policies);
        self.policies_into(&mut d, policies);
        self.orig_alone(&d);
        self.conn_only_states(&mut d);
        for (p, name, at) in std::mem::take(&mut d.of_proto) {
            if d.cond.proto != Some(p) {
                let proto = OF_PROTO.iter().find(|o| o.1 == p).map_or("", |o| o.2);
                let what = match d.cond.proto {
                    None => format!("`-m {name}` without `-p {proto}`"),
                    Some(_) => format!("`-m {name}` in a rule of another protocol than {proto}"),
                };
                self.err(at, what, format!("iptables-restore refuses it too: the {name} match reads packets of protocol {proto} only, and the kernel takes it only in a rule of that protocol; add `-p {proto}`, or leave `-m {name}` out"));
            }
        }
        if d.syn && d.cond.proto != Some(6) {
            self.err(span.clone(), "`--syn` without `-p tcp`", "add -p tcp");
        }
        self.reset_of_tcp(&d, &target, &span);
        super::owner::socketless_negation(self, &d.cond, toks);
        if let Some(n) = d.neg.take() {
            self.err(
                n,
                "a `!` that negates nothing",
                "`!` goes right before the option it negates",
            );
        }
        if self.diags.total() != before {
            return None;
        }
        super::trap::trap_check(&mut d.cond, &d.extra, &target);
        // a DROP or REJECT with a rate takes what exceeds it (`--hashlimit-above`), or what
        // is within it: never every packet of the rest of its condition
        if d.extra.limit.as_ref().is_some_and(|l| l.above)
            || d.extra.limit.is_some() && matches!(target, Target::Drop | Target::Reject(_))
        {
            d.cond.in_set.push(super::chains::rate_mark(line));
        }
        if let Some((_, at)) = &d.ctdir
            && !matches!(target, Target::Accept | Target::Drop | Target::Reject(_))
        {
            self.err(at.clone(), "`--ctdir` on a rule that does not accept, drop or reject", "statewall keeps a connection's direction only where the rule decides packets that all open connections (which go the original way): write it on the ACCEPT, DROP or REJECT itself");
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
            dsts: d.dsts,
            ranged: d.ranged,
            flag_alts: d.flag_alts,
            dnat_alt: d.dnat_alt,
            target,
            comment: d.comment,
            comment_id,
            extra: d.extra,
            fragment: d.fragment,
            never: d.never,
            ctdir: d.ctdir,
            goto: d.goto,
        })
    }

    /// Reads the option at `toks[i]`: where the next starts; None where the rule ends early.
    pub(super) fn option(&mut self, d: &mut Draft, toks: &[Tok], i: usize) -> Option<usize> {
        let t = &toks[i];
        let sp = t.span.clone();
        if t.text == "!" {
            if d.neg.replace(sp.clone()).is_some() {
                self.err(
                    sp,
                    "`!` twice",
                    "write one `!` before the option it negates",
                );
            }
            return Some(i + 1);
        }
        if let Some(next) = self.given_once(d, toks, i) {
            return next;
        }
        let neg = d.neg.take();
        if matches!(t.text.as_str(), "-f" | "--fragment") {
            d.fragment = Some(neg.is_none());
            return Some(i + 1);
        }
        // `-v`: iptables-restore says what it does, the rule is the same
        if matches!(t.text.as_str(), "-v" | "--verbose") {
            return Some(i + 1);
        }
        if let Some(next) = self.recent_option(&mut d.extra, toks, i, neg.clone()) {
            return next;
        }
        if let Some(next) = self.connlimit_option(&mut d.extra, toks, i, neg.clone()) {
            return next;
        }
        if neg.is_none()
            && let Some(next) = self.limit_option(&mut d.extra, toks, i)
        {
            d.limit = Some(sp);
            return next;
        }
        if let Some(next) = self.address_option(d, toks, i, neg.clone()) {
            return next;
        }
        if let Some(next) = self.l4_option(d, toks, i, neg.clone()) {
            return next;
        }
        if let Some(next) = self.match_option(d, toks, i, neg.clone()) {
            return next;
        }
        if let Some(n) = neg {
            self.err(
                n.start..sp.end,
                format!("a negation of `{}`", t.text),
                "statewall can say \"except\" for sources, destinations, ports and ICMP types (except_from, except_to, except_tcp, except_udp, their _sport twins, except_icmp) and for the matches that name their exception; write the complement as positive rules",
            );
        }
        match t.text.as_str() {
            "-m" | "--match" => {
                let v = self.value(toks, i)?;
                return Some(self.module(d, &v, toks, i));
            }
            "--comment" => d.comment = Some(self.value(toks, i)?.text),
            // the rule's packet and byte counters at load (`-c 10 600`, as `[10:600]`
            // before it): nothing a packet meets
            "-c" | "--set-counters" => {
                let counts = &toks[(i + 1).min(toks.len())..(i + 3).min(toks.len())];
                if counts.len() < 2 || counts.iter().any(|c| c.text.parse::<u64>().is_err()) {
                    let end = counts.last().map_or(sp.end, |c| c.span.end);
                    self.err(sp.start..end, format!("`{}` without a packet and a byte count", t.text), "iptables-restore refuses it too: write `-c PACKETS BYTES` (both numbers), or leave the counters out");
                    return None;
                }
                return Some(i + 3);
            }
            "-j" | "--jump" | "-g" | "--goto" => {
                let v = self.value(toks, i)?;
                d.goto = matches!(t.text.as_str(), "-g" | "--goto").then_some(sp.start..v.span.end);
                d.target_span = Some(v.span.clone());
                d.target = Some(target_of(&v.text));
                if v.text == "NFLOG" {
                    // iptables' default group; `--nflog-group` (before or after) says another
                    d.extra.log.group.get_or_insert_with(|| "0".into());
                }
            }
            "--reject-with" => {
                let v = self.value(toks, i)?;
                d.reject_with = Some((v.text, v.span));
            }
            "--clamp-mss-to-pmtu" => {
                d.mss = Some(Mss::Pmtu);
                return Some(i + 1);
            }
            "--set-mss" => {
                let v = self.value(toks, i)?;
                let n = v.text.parse::<u16>().ok().filter(|n| *n >= MSS_MIN);
                if n.is_none() {
                    self.err(v.span.clone(), format!("`--set-mss {}`", v.text), format!("statewall's clamp_mss takes {MSS_MIN} to 65535: a smaller MSS makes every segment tiny"));
                }
                // a refused value stands as 0: the rule is not read, and no second error
                // says it has none
                d.mss = Some(Mss::Value(n.unwrap_or(0)));
            }
            o @ ("--log-prefix" | "--log-level") => {
                let v = self.value(toks, i)?.text;
                if o == "--log-prefix" {
                    d.extra.log.prefix = Some(v);
                } else {
                    d.extra.log.level = Some(v);
                }
            }
            "--log-tcp-sequence" | "--log-tcp-options" | "--log-ip-options" | "--log-uid" => {
                return Some(i + 1);
            }
            o @ ("--nflog-prefix" | "--nflog-group") => {
                let v = self.value(toks, i)?.text;
                if o == "--nflog-prefix" {
                    d.extra.log.prefix = Some(v);
                } else {
                    d.extra.log.group = Some(v);
                }
            }
            // how much of the packet goes to the group, and how many at once: what is logged
            "--nflog-range" | "--nflog-size" | "--nflog-threshold" => {}
            other if super::values::proto_match_option(d.cond.proto, other).is_some() => {
                let what = super::values::proto_match_option(d.cond.proto, other);
                self.err(sp, what.unwrap_or_default(), super::values::REFUSED_MATCH);
                return Some(super::values::past_values(toks, i + 1));
            }
            other => {
                let (of_target, help) = super::values::unknown_option_help(other);
                let what = if of_target {
                    format!("`{other}`, an option of a target statewall does not have")
                } else {
                    format!("unknown option `{other}`")
                };
                self.err(sp, what, help);
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

    /// `-s`, `-d`, `-i`, `-o` (negated or not): where the next option starts; None for others.
    fn address_option(
        &mut self,
        d: &mut Draft,
        toks: &[Tok],
        i: usize,
        neg: Option<Range<usize>>,
    ) -> Option<Option<usize>> {
        let t = &toks[i];
        let negated = neg.is_some();
        match t.text.as_str() {
            "-s" | "--source" | "--src" => {
                let Some(v) = self.value(toks, i) else {
                    return Some(None);
                };
                let nets = self.nets(&v, "source");
                if negated {
                    self.negated_nets(&v, nets, &mut d.cond.not_src);
                } else if !d.srcs.is_empty() {
                    self.err(
                        t.span.clone(),
                        "both `-s` and `--src-range` on one rule",
                        "statewall takes one list of networks per rule: write the addresses both allow as `-s` (or the range alone)",
                    );
                } else {
                    d.srcs = super::values::anywhere_is_none(nets);
                }
            }
            "-d" | "--destination" | "--dst" => {
                let Some(v) = self.value(toks, i) else {
                    return Some(None);
                };
                let nets = self.nets(&v, "destination");
                if negated {
                    self.negated_nets(&v, nets, &mut d.cond.not_dst);
                } else if !d.dsts.is_empty() {
                    self.err(
                        t.span.clone(),
                        "both `-d` and `--dst-range` on one rule",
                        "statewall takes one list of networks per rule: write the addresses both allow as `-d` (or the range alone)",
                    );
                } else {
                    d.dsts = super::values::anywhere_is_none(nets);
                }
            }
            o @ ("--src-range" | "--dst-range") => {
                let Some(v) = self.value(toks, i) else {
                    return Some(None);
                };
                let src = o == "--src-range";
                let nets = match parse_addr_range(&v.text, self.fam) {
                    Ok(nets) => nets,
                    Err(why) => {
                        self.err(
                            v.span.clone(),
                            format!("address range `{}`: {why}", v.text),
                            "write FIRST-LAST, e.g. 192.0.2.10-192.0.2.20",
                        );
                        Vec::new()
                    }
                };
                let (yes, not, plain) = if src {
                    (&mut d.srcs, &mut d.cond.not_src, "-s")
                } else {
                    (&mut d.dsts, &mut d.cond.not_dst, "-d")
                };
                // a range is the networks that cover it: any of them, or none of them
                if negated {
                    *not = super::cond::joined_nets(not, &nets);
                } else if !yes.is_empty() {
                    self.err(
                        t.span.clone(),
                        format!("both `{plain}` and `{o}` on one rule"),
                        format!("statewall takes one list of networks per rule: write the addresses both allow as `{plain}` (or the range alone)"),
                    );
                } else {
                    *yes = nets;
                    *(if src {
                        &mut d.ranged.0
                    } else {
                        &mut d.ranged.1
                    }) = true;
                }
            }
            "-i" | "--in-interface" | "-o" | "--out-interface" => {
                let Some(v) = self.value(toks, i) else {
                    return Some(None);
                };
                let out = t.text.starts_with("-o") || t.text == "--out-interface";
                // an alias label (`eth0:1`): no device has such a name (the kernel refuses
                // `:` in one), so the rule matches no packet, and its `!` every packet; one
                // of 16 bytes or more iptables refuses, as any name
                if super::values::is_alias(&v.text) && v.text.len() < 16 {
                    if !negated {
                        d.never = Some(format!(
                            "no network device is named `{}`: the kernel refuses `:` in a name, and an alias label is no device",
                            v.text
                        ));
                    }
                    return Some(Some(i + 2));
                }
                if let Some(name) = self.interface(&v) {
                    match (out, negated) {
                        (false, false) => d.cond.iif = name,
                        (true, false) => d.cond.oif = name,
                        (false, true) => d.cond.not_iif.extend(name),
                        (true, true) => d.cond.not_oif.extend(name),
                    }
                    // `! -i +`: no interface at all; iptables-restore loads it
                    if negated && d.cond.not_iif.is_empty() && d.cond.not_oif.is_empty() {
                        d.never = Some(format!("`! {} {}` names every interface", t.text, v.text));
                    }
                }
            }
            _ => return None,
        }
        Some(Some(i + 2))
    }

    /// `! -s NET`: one network, kept as an exception.
    fn negated_nets(&mut self, v: &Tok, nets: Vec<Cidr>, into: &mut Vec<Cidr>) {
        match super::values::negated_net_problem(&v.text, &nets) {
            Some((what, why)) => self.err(v.span.clone(), what, why),
            None => *into = super::cond::joined_nets(into, &nets),
        }
    }

    /// Protocols, ports, states, ICMP types, TCP flags: the next option's start; None: others.
    fn l4_option(
        &mut self,
        d: &mut Draft,
        toks: &[Tok],
        i: usize,
        neg: Option<Range<usize>>,
    ) -> Option<Option<usize>> {
        let t = &toks[i];
        let refuse_neg = |p: &mut Self, why: &str| {
            if let Some(n) = &neg {
                p.err(
                    n.start..t.span.end,
                    format!("a negation of `{}`", t.text),
                    format!("statewall cannot say \"every {why} but\"; write the complement as positive rules"),
                );
            }
        };
        match t.text.as_str() {
            "-p" | "--protocol" => {
                let Some(v) = self.value(toks, i) else {
                    return Some(None);
                };
                // `! -p tcp`: every protocol but tcp (`except_protocol`)
                let all = matches!(v.text.to_ascii_lowercase().as_str(), "all" | "0" | "ip");
                match (self.protocol(&v), neg) {
                    (Some(p), Some(_)) => d.cond.not_protos = vec![p],
                    (None, Some(n)) if all => self.err(n.start..v.span.end, format!("`! {} {}`: every protocol but all of them", t.text, v.text), "iptables refuses it too (\"rule would never match protocol\"): leave the rule out"),
                    (p, _) => d.cond.proto = p,
                }
            }
            "--dport"
            | "--destination-port"
            | "--dports"
            | "--destination-ports"
            | "--sport"
            | "--source-port"
            | "--sports"
            | "--source-ports" => {
                let Some(v) = self.value(toks, i) else {
                    return Some(None);
                };
                let ports = self.ports(d, t, &v, udp_match_option(d, t));
                let c = &mut d.cond;
                let (yes, not) = if t.text.starts_with("--d") {
                    (&mut c.ports, &mut c.not_ports)
                } else {
                    (&mut c.sports, &mut c.not_sports)
                };
                // `! --dports 80,443`: every port but these (`except_tcp`, `except_udp`, and
                // their `_sport` twins)
                if neg.is_some() {
                    *not = ports;
                } else {
                    *yes = Some(ports);
                }
            }
            "--ctorigdstport" => {
                refuse_neg(self, "original destination port");
                let Some(v) = self.value(toks, i) else {
                    return Some(None);
                };
                d.orig = Some(t.span.start..v.span.end);
                d.conn_only.get_or_insert(t.span.start..v.span.end);
                // the conntrack match reads a name as the udp match does
                d.cond.orig_dports = Some(self.ports(d, t, &v, true));
            }
            "--ctorigdst" | "--ctorigsrc" => return Some(self.orig_addr(d, toks, i, neg)),
            "--ctproto" => return Some(self.ct_proto(d, toks, i, neg)),
            "--ctdir" => {
                let Some(v) = self.value(toks, i) else {
                    return Some(None);
                };
                let start = neg.as_ref().map_or(t.span.start, |n| n.start);
                let original = match v.text.as_str() {
                    "ORIGINAL" => true,
                    "REPLY" => false,
                    other => {
                        self.err(
                            v.span.clone(),
                            format!("`--ctdir {other}`"),
                            "a connection's direction is ORIGINAL or REPLY",
                        );
                        return Some(None);
                    }
                };
                d.ctdir = Some((original != neg.is_some(), start..v.span.end));
            }
            "--ctreplsrc" | "--ctrepldst" | "--ctorigsrcport" | "--ctreplsrcport"
            | "--ctrepldstport" | "--ctstatus" | "--ctexpire" => {
                let end = toks.get(i + 1).map_or(t.span.end, |v| v.span.end);
                let start = neg.as_ref().map_or(t.span.start, |n| n.start);
                self.err(
                    start..end,
                    format!("`{}` (a conntrack match statewall cannot express)", t.text),
                    "of a connection's conntrack entry statewall matches its state, its protocol (`--ctproto`, the `connection_protocol` key), its original destination port (`--ctorigdstport`, `published`) and addresses (`--ctorigdst`, `published_to`; `--ctorigsrc`, `published_from`); not its reply addresses, its ports but that one, its status or expiry: write the rule with the packet's own addresses and ports (-s, -d, --dport) if they say the same",
                );
            }
            "--ports" => {
                self.err(t.span.clone(), "`--ports` (source or destination port)", "statewall matches destination ports and source ports separately, never either of them: write two rules, one with --dports and one with --sports");
            }
            "--syn" => {
                d.syn = neg.is_none();
                self.flags(d, (0x17, 0x02), neg.is_some());
                return Some(Some(i + 1));
            }
            "--tcp-flags" => return Some(self.tcp_flags(d, toks, i, neg.is_some())),
            "--state" | "--ctstate" => {
                let Some(v) = self.value(toks, i) else {
                    return Some(None);
                };
                d.dnat_alt = self.state_option(&mut d.cond, t, &v, neg.clone());
            }
            _ => return None,
        }
        Some(Some(i + 2))
    }

    /// The value of the option at `toks[i]`, or None (reported) when the line ends first.
    pub(super) fn value(&mut self, toks: &[Tok], i: usize) -> Option<Tok> {
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

    /// `-p PROTO` by name or number (this family's ICMP); None for `all` (`ip`: protocol 0).
    fn protocol(&mut self, v: &Tok) -> Option<u8> {
        let lower = v.text.to_ascii_lowercase();
        // a name statewall's policy takes, iptables not (its own are icmpv6 and ipv6-icmp)
        // then the name as the host's /etc/protocols gives it, which iptables-save prints
        // for a number (`-p 59` is saved as `-p ipv6-nonxt`) and iptables-restore reads
        let n = (lower != "icmp6")
            .then(|| {
                lower
                    .parse::<u8>()
                    .ok()
                    .or_else(|| protocol_number(&lower))
                    .or_else(|| self.services.protocol(&v.text))
            })
            .flatten();
        match (n, self.fam) {
            (Some(0), _) | (None, _) if matches!(lower.as_str(), "all" | "0" | "ip") => None,
            // a name the host gives number 0 (`hopopt`) is iptables' protocol 0: every one
            (Some(0), _) => None,
            // ip6tables takes `-p icmp` (and iptables `-p ipv6-icmp`): a protocol field of 1
            // (58), which the family's ICMP never has; kept as written (`analyse` notes it)
            (Some(p), _) => Some(p),
            (None, _) => {
                self.err(
                    v.span.clone(),
                    format!("protocol `{lower}`"),
                    "iptables-restore refuses it too, unless its host's /etc/protocols names it (\"unknown protocol\"): statewall knows protocols by number (1-254), by the names this host's /etc/protocols gives them, and by names it has built in (tcp, udp, icmp, icmpv6, esp, ah, gre, …); write the number",
                );
                None
            }
        }
    }

    /// `-s NET[,NET…]` (or `-d`, `what`)
    fn nets(&mut self, v: &Tok, what: &str) -> Vec<Cidr> {
        let mut out = Vec::new();
        for part in v.text.split(',') {
            match parse_net(part, self.fam) {
                Ok(n) => out.push(n),
                Err(why) => self.err(
                    v.span.clone(),
                    format!("{what} `{part}`: {why}"),
                    "write an address or network, e.g. 198.51.100.0/24",
                ),
            }
        }
        out
    }

    /// `-i`/`-o IFACE`: a name or prefix (`eth+`: `eth*`); Some(None) for `+`, None: invalid.
    fn interface(&mut self, v: &Tok) -> Option<Option<String>> {
        let (stem, wild) = match v.text.strip_suffix('+') {
            Some(s) => (s, true),
            None => (v.text.as_str(), false),
        };
        if wild && stem.is_empty() {
            return Some(None);
        }
        // iptables counts the `+` too: `eeeeeeeeeeeeeee+` (16) is refused as too long
        if !valid_ifname(stem) || v.text.len() > 15 {
            self.err(
                v.span.clone(),
                format!("invalid interface name `{}`", v.text),
                if v.text.len() > 15 {
                    "iptables-restore refuses it too (\"must be shorter than IFNAMSIZ\"): an interface name is 1-15 characters, a `+` at its end included"
                } else {
                    "an interface name is 1-15 characters without `/`, `:` or whitespace, a `+` at its end included"
                },
            );
            return None;
        }
        Some(Some(if wild {
            format!("{stem}*")
        } else {
            stem.to_string()
        }))
    }

    /// An option of the match modules that read into the condition alone (address and
    /// packet types, extension headers, MAC, length, TTL, ICMP types, marks, `-m string`) at
    /// `toks[i]`: as each of their readers answers.
    fn match_option(
        &mut self,
        d: &mut Draft,
        toks: &[Tok],
        i: usize,
        neg: Option<Range<usize>>,
    ) -> Option<Option<usize>> {
        let counts = d.counts();
        let (c, never) = (&mut d.cond, &mut d.never);
        self.addrtype_option((c, never, counts), toks, i, neg.clone())
            .or_else(|| self.pkttype_option(c, toks, i, neg.clone()))
            .or_else(|| self.exthdr_option(c, toks, i, neg.clone()))
            .or_else(|| self.header_option(c, toks, i, neg.clone()))
            .or_else(|| self.icmp_option((c, never, counts), toks, i, neg.clone()))
            .or_else(|| self.mark_option(c, toks, i, neg.clone()))
            .or_else(|| self.helper_option(c, toks, i, neg.clone()))
            .or_else(|| self.string_option(d.strings.last_mut(), toks, i, neg.clone()))
            .or_else(|| self.u32_option(d.u32s.last_mut(), toks, i, neg.clone()))
            .or_else(|| self.time_option(d.times.last_mut(), toks, i, neg.clone()))
            .or_else(|| self.policy_option(d.policies.last_mut(), toks, i))
    }

    /// `-m MODULE` at `toks[i]`: where the next option starts (skipping unmapped ones' options).
    fn module(&mut self, d: &mut Draft, v: &Tok, toks: &[Tok], i: usize) -> usize {
        let other = v.text.as_str();
        if let Some(&(name, p, _)) = OF_PROTO.iter().find(|(n, _, _)| *n == other) {
            d.of_proto.push((p, name, v.span.clone()));
        }
        if other == "recent" {
            d.recent_at = Some((v.span.clone(), d.cond.clone(), d.said()));
            return self.recent(&mut d.extra, toks, i + 2);
        }
        if matches!(other, "string" | "time" | "policy")
            || (other == "u32" && self.fam == super::Fam::V4)
        {
            match other {
                "string" => d
                    .strings
                    .push(super::contains::StringOpts::new(v.span.clone())),
                "time" => d.times.push(super::clock::TimeOpts::new(v.span.clone())),
                "policy" => d.policies.push(Default::default()),
                _ => d.u32s.push(super::u32::U32Opts::default()),
            }
            return i + 2;
        }
        if other == "connlimit" {
            if d.extra.connlimit.is_some() {
                self.err(v.span.clone(), "a second `-m connlimit` in one rule", "each counts connections of its own, and a packet must be within both; statewall's entry has one connection count: keep one of them");
            }
            d.extra.connlimit.get_or_insert_with(Default::default);
            return i + 2;
        }
        if matches!(other, "limit" | "hashlimit") {
            d.rate_at = Some((v.span.clone(), d.cond.clone(), d.said()));
            // a bare `-m limit` is 3/hour, burst 5; two in one rule are two buckets
            if d.extra.limit.is_some() {
                self.err(v.span.clone(), format!("a second rate match (`-m {other}`) in one rule"), "each rate match keeps a bucket of its own, and a packet must find a token in both; statewall's entry has one limit: keep one of them");
            }
            let l = d.extra.limit.get_or_insert_with(Default::default);
            if other == "hashlimit" {
                l.hash_mode.get_or_insert_with(String::new);
            }
            return i + 2;
        }
        // ip6tables' only (iptables-restore refuses it): refused below in an IPv4 file
        if matches!(other, "rt" | "hl") && self.fam == super::Fam::V6 {
            return i + 2;
        }
        // iptables' only: ip6tables' is -m hl (refused below in an IPv6 file)
        if other == "ttl" && self.fam == super::Fam::V4 {
            return i + 2;
        }
        if super::values::MAPPED_MODULES.contains(&other) {
            return i + 2;
        }
        let why = super::values::refused_module_why(other);
        self.err(v.span.clone(), format!("match module `-m {other}`"), why);
        skip_module(toks, i + 2)
    }

    /// `--dport PORTS` / `--sport PORTS` (option `t`): ports of the protocol given before. A
    /// name is that protocol's port in the services database (the tcp and multiport matches
    /// ask `getservbyname` for it), or with `any_name` its tcp port, else its udp one (the udp
    /// and conntrack matches ask `getaddrinfo` with no protocol: `-p udp --dport ssh` is 22).
    fn ports(&mut self, d: &Draft, t: &Tok, v: &Tok, any_name: bool) -> Vec<PortRange> {
        // iptables takes `--ctorigdstport` alone: the port of a connection of any protocol
        // (`published_any`)
        let alone = t.text == "--ctorigdstport" && d.l4().is_none();
        if !matches!(d.l4(), Some(6 | 17)) && !alone {
            let (what, help) = super::values::ports_without_tcp_udp(&t.text, d.cond.proto);
            self.err(t.span.clone(), what, help);
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
            let names = if any_name { None } else { d.l4() };
            match parse_range(part, names, self.services) {
                Some(r) => list.push(r),
                None => self.err(
                    v.span.clone(),
                    format!("port `{part}`"),
                    "ports are numbers 0-65535 (or service names statewall knows), ranges are written lo:hi",
                ),
            }
        }
        list
    }

    /// A TCP flag test (mask, value) on the rule; negated, any flag of the mask that differs
    /// from the value (one pattern per flag).
    fn flags(&mut self, d: &mut Draft, (mask, value): (u8, u8), negated: bool) {
        if negated {
            for bit in (0..6).map(|b| 1u8 << b).filter(|b| mask & b != 0) {
                d.flag_alts.push((bit, !value & bit));
            }
        } else {
            d.cond.flags = Some((mask, value & mask));
        }
    }

    /// `--tcp-flags MASK COMP` at `toks[i]`.
    fn tcp_flags(&mut self, d: &mut Draft, toks: &[Tok], i: usize, negated: bool) -> Option<usize> {
        let (Some(mask), Some(comp)) = (toks.get(i + 1), toks.get(i + 2)) else {
            self.err(
                toks[i].span.clone(),
                "`--tcp-flags` needs a mask and the flags set",
                "e.g. --tcp-flags SYN,RST,ACK,FIN SYN",
            );
            return None;
        };
        match (tcp_flag_bits(&mask.text), tcp_flag_bits(&comp.text)) {
            // the tcp match compares the masked flags with COMP as written: a COMP with a
            // flag outside the mask is never equal (`!`: always different); with a mask of
            // no flag iptables-nft leaves the test out (every segment), and where the
            // xtables match says otherwise the rule is refused
            (Some(0), Some(c)) if negated == (c == 0) => self.err(
                toks[i].span.start..comp.span.end,
                format!("`{}--tcp-flags {} {}`", if negated { "! " } else { "" }, mask.text, comp.text),
                "a mask of no flag: the xtables tcp match says no TCP segment matches, and iptables-nft loads the rule as `-p tcp`, every segment (iptables-save then shows no flags); write `-p tcp` if that is meant, or remove the rule",
            ),
            // a match that counts or stamps before it still sees the packets (`once.rs`)
            (Some(m), Some(c)) if c & !m != 0 && !negated => {
                let why = format!("`--tcp-flags {} {}` compares the flags of the mask with a value that has others: never equal", mask.text, comp.text);
                if d.counts() {
                    self.err(mask.span.start..comp.span.end, format!("{why}, in a rule that counts"), "the rule matches no packet, but the `-m recent`, `-m limit` or `-m connlimit` before it still counts or stamps every packet that reaches it: take the rule out, or write the flags it is meant to match");
                } else {
                    d.never = Some(why);
                }
            }
            (Some(m), Some(c)) if c & !m != 0 || m == 0 => {} // every segment
            (Some(m), Some(c)) => {
                let syn = m & 0x12 == 0x12 && c & m == 0x02 && !negated;
                d.syn |= syn;
                self.flags(d, (m, c), negated);
            }
            _ => self.err(
                mask.span.start..comp.span.end,
                format!("`--tcp-flags {} {}`", mask.text, comp.text),
                "flags are SYN, ACK, FIN, RST, URG, PSH, ALL or NONE, separated by commas",
            ),
        }
        if d.l4() != Some(6) {
            self.err(
                toks[i].span.clone(),
                "`--tcp-flags` without `-p tcp`",
                "add -p tcp",
            );
        }
        Some(i + 3)
    }
}

mod conntrack;
mod order;
mod target;
#[cfg(test)]
mod tests;
