//! `-m connlimit`: a DROP or REJECT of a source's connections beyond a count, right before
//! the ACCEPT of those connections, becomes that allow's `connections` (nft's `ct count`).
//!
//! ```text
//! -A INPUT -p tcp --dport 22 -m connlimit --connlimit-above 3 -j REJECT --reject-with tcp-reset
//! -A INPUT -p tcp --dport 22 -j ACCEPT
//! → connections = { max = 3, per = "source", ipv6_prefix = 128, over = "reject" }
//! ```
//!
//! `--connlimit-mask 0` counts all sources together (`per = "entry"`, one count per rule and
//! family, as iptables and ip6tables each keep their own); a shorter mask is the
//! `ipv4_prefix` (an IPv4 file's) or the `ipv6_prefix` (an IPv6 file's): a count per network.
//!
//! Both count the connections of the source address, the packet's own included, and match
//! when there are more than the count (the kernel's `nf_conncount` under both).
//!
//! A DROP or REJECT with a count that no such ACCEPT follows — or that also sees packets of
//! connections already accepted (an allow's count is of NEW connections), or answers with
//! another reject than an allow's `over` gives — is a guard: a block (or reject) in its
//! place with `connections = { max = N, …, within = "continue" }`, which takes only the
//! packets of sources beyond the count and lets the rest go on, as the rule does. Every
//! packet that reaches it adds its connection to the count, as in the file, so it keeps its
//! place among the rules it shares packets with (as a rate guard does).
//!
//! Everything else is refused where written: `--connlimit-upto` (or `!` above: a match of
//! the connections within the count), `--connlimit-daddr` (a count per destination), an
//! ACCEPT with a count.

use std::ops::Range;

use super::Fam;
use super::analyse::{Analyser, FinalRule};
use super::cond::Cond;
use super::extra::Extra;
use super::flatten::{Flat, Verdict};
use super::lex::Tok;
use super::lines::Parser;
use super::rule::RejectKind;
use crate::core::diag::shorten;
use crate::core::model::{CONN_MAX, IcmpReject};
use crate::core::plan::CtStates;

/// `-m connlimit`'s options as written.
#[derive(Debug, Clone, Default)]
pub(super) struct ConnOpts {
    /// `--connlimit-above N`
    pub(super) above: Option<String>,
    /// `--connlimit-mask 0`: one count for all sources together
    pub(super) all: bool,
    /// `--connlimit-mask N` shorter than an address (IPv4 1-31, IPv6 1-127): a count per /N
    /// network
    pub(super) prefix: Option<u8>,
    /// what the mapping refuses: `--connlimit-upto`, `! --connlimit-above`,
    /// `--connlimit-daddr`, a mask longer than an address
    pub(super) other: Vec<String>,
}

impl Parser<'_> {
    /// An option of `-m connlimit` at `toks[i]` (`neg`: a `!` before it); None when it is
    /// none, else where the next option starts (None inside: no value).
    pub(super) fn connlimit_option(
        &mut self,
        extra: &mut Extra,
        toks: &[Tok],
        i: usize,
        neg: Option<Range<usize>>,
    ) -> Option<Option<usize>> {
        let o = toks[i].text.as_str();
        if !o.starts_with("--connlimit-") {
            return None;
        }
        // without `-m connlimit` before it, the option is no one's (refused as unknown)
        let c = extra.connlimit.as_mut()?;
        match o {
            "--connlimit-saddr" => return Some(Some(i + 1)),
            "--connlimit-daddr" => {
                c.other
                    .push("`--connlimit-daddr` (a count per destination)".into());
                return Some(Some(i + 1));
            }
            _ => {}
        }
        let Some(v) = self.value(toks, i).map(|v| v.text) else {
            return Some(None);
        };
        let c = extra.connlimit.as_mut()?;
        let full = if self.fam == Fam::V4 { "32" } else { "128" };
        match (o, neg.is_some()) {
            ("--connlimit-above", false) => c.above = Some(v),
            ("--connlimit-above", true) | ("--connlimit-upto", false) => c.other.push(format!(
                "`{}{o} {v}` (a match of the connections within the count)",
                if neg.is_some() { "! " } else { "" }
            )),
            ("--connlimit-upto", true) => c.above = Some(v),
            ("--connlimit-mask", false) if v == full => {}
            ("--connlimit-mask", false) if v == "0" => c.all = true,
            ("--connlimit-mask", false)
                if v.parse::<u8>()
                    .is_ok_and(|n| n >= 1 && full.parse::<u8>().is_ok_and(|f| n < f)) =>
            {
                c.prefix = v.parse().ok();
            }
            ("--connlimit-mask", false) => c.other.push(format!(
                "`--connlimit-mask {v}` (no prefix length of an address of this family)"
            )),
            _ => c.other.push(format!(
                "`{}{o} {v}`",
                if neg.is_some() { "! " } else { "" }
            )),
        }
        Some(Some(i + 2))
    }
}

impl Analyser<'_> {
    /// A `-m connlimit` rule at `flat[p]`: the allow of the same matches right after it gets
    /// its count as `connections`, and the rule goes; without one, a guard (module doc).
    pub(super) fn connlimit_pair(
        &mut self,
        flat: &mut [Flat],
        p: usize,
        fin: FinalRule,
        gone: &mut [bool],
    ) {
        let r = &self.rules[flat[p].rule];
        let opts = r.extra.connlimit.clone().expect("a connlimit");
        let cond = flat[p].cond.clone();
        // a refused rule is taken out, so that it causes no ordering error of its own
        gone[p] = true;
        let refuse = |cx: &mut Self, why: String| {
            cx.error(r.span.clone(), "a `-m connlimit` rule statewall cannot map", format!("{why}; statewall maps `-m connlimit --connlimit-above N` (per source address; with `--connlimit-mask 0`, all sources together) on a DROP or REJECT: right before the ACCEPT of the same connections, that allow's `connections = {{ max = N }}`; elsewhere a block or reject of the sources beyond the count, `connections = {{ max = N, within = \"continue\" }}`"));
        };
        if let Some(o) = opts.other.first() {
            return refuse(self, format!("it says {o}"));
        }
        if r.extra.limit.is_some() || r.extra.recent.is_some() {
            return refuse(self, "it also says `-m limit` or `-m recent`".into());
        }
        let Some(max) = opts
            .above
            .as_deref()
            .and_then(|n| n.parse::<u32>().ok())
            .filter(|n| (1..=CONN_MAX).contains(n))
        else {
            return refuse(
                self,
                format!("it needs --connlimit-above N, N from 1 to {CONN_MAX}"),
            );
        };
        if flat[p].verdict == Verdict::Accept {
            return refuse(self, "it accepts (statewall refuses what exceeds the count, and lets in what the allow matches)".into());
        }
        // the networks of an `-m iprange` range are one rule with one count: for each
        // source apart they are apart, else several entries of one count
        let whole = !opts.all && opts.prefix.is_none();
        let key = match whole {
            true => (flat[p].rule, flat[p].part),
            false => (flat[p].rule, super::paths::bucket(r, flat[p].part)),
        };
        if self.conn_mapped.contains_key(&key) {
            return refuse(self, "several paths reach it (jumps from several rules or from INPUT and FORWARD, ways around a RETURN, the flag patterns of `! --syn`, the networks of an `-m iprange` range), and iptables keeps one count in the rule for the connections of them all, where statewall's `connections` counts per entry: write the rule once where every connection it counts passes (one rule of all the ports, say)".into());
        }
        self.conn_mapped.insert(key, self.hook);
        let next = Self::next_deciding(flat, p, &cond);
        let q = next.filter(|&q| {
            flat[q].verdict == Verdict::Accept
                && flat[q].extra.connections.is_none()
                && Cond::without_states(&flat[q].cond) == Cond::without_states(&cond)
                && flat[q].cond.states.is_none_or(|s| s & CtStates::NEW != 0)
        });
        // when every later rule for these packets accepts, up to one that takes them all
        // (or the ACCEPT policy), the rule itself becomes the allow: what it does not
        // reject is accepted anyway
        let wider = self.accepted_after(flat, p + 1, &cond, fin);
        let statewall_reject = if cond.proto == Some(6) {
            RejectKind::TcpReset
        } else {
            RejectKind::Icmp(IcmpReject::PortUnreachable)
        };
        // what an allow's `connections` gives a NEW connection beyond the count
        let over = match flat[p].verdict {
            Verdict::Drop => Some("drop"),
            Verdict::Reject(k) if k == statewall_reject => Some("reject"),
            Verdict::Reject(RejectKind::Icmp(IcmpReject::PortUnreachable)) => {
                Some("port-unreachable")
            }
            Verdict::Reject(_) | Verdict::Accept => None,
        };
        // an allow's count is of NEW connections: a rule that also sees the packets of
        // connections already accepted (or answers otherwise, or has no allow after it) is
        // a guard in its place
        let guard = if over.is_none() {
            Some("it answers with a reject an allow's `connections` does not give")
        } else if q.is_none() && !wider {
            Some("no ACCEPT of the same connections follows it")
        } else if !self.new_only(flat, p, &cond) {
            Some("it also sees packets of connections already accepted")
        } else {
            None
        };
        let (Some(over), None) = (over, guard) else {
            gone[p] = false;
            let why = guard.expect("a guard when no `over` is given");
            return self.connlimit_guard(flat, p, (&opts, max), why);
        };
        // no allow right after it: every later rule for these packets accepts (`wider`)
        let q = q.unwrap_or_else(|| {
            gone[p] = false;
            flat[p].verdict = Verdict::Accept;
            p
        });
        let (per, prefix) = opts.per(&mut flat[q], self.fam);
        let each = match prefix {
            None => "from all sources together".to_string(),
            Some(Some(n)) => format!("from each {} /{n} network", self.fam.name()),
            Some(None) => "from each source address".to_string(),
        };
        flat[q].extra.connections = Some(format!("{{ max = {max}, {per}, over = \"{over}\" }}"));
        let (cl, al) = (r.line, self.rules[flat[q].rule].line);
        let whose = if q == p {
            "an allow of what it does not refuse, as every later rule for its packets accepts them, with `connections`".to_string()
        } else {
            format!("the `connections` of line {al}'s allow")
        };
        self.notes.push(format!("line {cl}: `{}` becomes {whose}: at most {max} connections at once {each}, a NEW one beyond them {}", shorten(&r.text, 80), if over == "drop" { "dropped" } else { "rejected" }));
    }
}

impl Analyser<'_> {
    /// The `-m connlimit` DROP or REJECT at `flat[p]` that guards no allow: it stays, as a
    /// block (or reject) that takes only the packets of sources beyond the count.
    fn connlimit_guard(
        &mut self,
        flat: &mut [Flat],
        p: usize,
        (opts, max): (&ConnOpts, u32),
        why: &str,
    ) {
        let r = &self.rules[flat[p].rule];
        let (per, prefix) = opts.per(&mut flat[p], self.fam);
        let each = match prefix {
            None => "when all sources together have".to_string(),
            Some(Some(n)) => format!("whose {} /{n} network has", self.fam.name()),
            Some(None) => "whose source address has".to_string(),
        };
        flat[p].extra.connections =
            Some(format!("{{ max = {max}, {per}, within = \"continue\" }}"));
        // every packet it meets adds its connection to the count: its place is kept exactly
        flat[p].extra.guard = true;
        self.notes.push(format!("line {}: `{}` is a guard ({why}): its entry takes only a packet {each} more than {max} connections, its own counted (`connections` with `within = \"continue\"`), and the rest go on to the rules after it, as in the file", r.line, shorten(&r.text, 80)));
    }
}

impl ConnOpts {
    /// Whose connections the count counts, as the policy says it (`per = …`), and the
    /// network prefix a source counts by (`Some(None)`: whole addresses, as iptables counts
    /// them unless a mask says otherwise, IPv6 ones too; None: all sources together, for which
    /// `entry` is marked global: one count per family, as iptables and ip6tables each keep
    /// their own).
    fn per(&self, entry: &mut Flat, fam: Fam) -> (String, Option<Option<u8>>) {
        if self.all {
            entry.extra.global = true;
            return ("per = \"entry\"".into(), None);
        }
        let per = match (self.prefix, fam) {
            (Some(n), Fam::V4) => format!("per = \"source\", ipv4_prefix = {n}, ipv6_prefix = 128"),
            (Some(n), Fam::V6) => format!("per = \"source\", ipv6_prefix = {n}"),
            (None, _) => "per = \"source\", ipv6_prefix = 128".into(),
        };
        (per, Some(self.prefix))
    }
}

impl Cond {
    /// The condition without its state match.
    fn without_states(&self) -> Cond {
        Cond {
            states: None,
            ..self.clone()
        }
    }
}
