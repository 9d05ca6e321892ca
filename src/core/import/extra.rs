//! LOG, `-m limit` and `-m recent`: what a rule says about logging and rates, as written
//! (the rule parser), and where they land in the policy once a chain is flattened (the
//! analysis): a LOG of every packet before the final rule becomes the section's
//! `log_final`, a LOG right before a rule with the same matches that rule's entry's `log`; a
//! limited ACCEPT becomes an allow with a `limit` (its overflow dropped or rejected there
//! when the file does so anyway, else passed on: `over = "continue"`); the ssh
//! brute-force pair (`-m recent --set`, then `--update … -j DROP`) a per-source `limit` on the
//! allow it guards. Everything else is a note (a LOG decides nothing) or refused with why.

pub(super) use super::rate::iptables_rate;
use std::ops::Range;

use super::analyse::{Analyser, FinalRule};
use super::cond::Cond;
use super::flatten::{Flat, Verdict};
use super::lex::Tok;
use super::lines::Parser;
use super::rule::{IptRule, RejectKind, Target};
use crate::core::diag::shorten;
use crate::core::model::{IcmpReject, LOG_LEVELS, LOG_PREFIX_MAX};
use crate::core::plan::CtStates;

/// What a rule says beyond its condition and target: its LOG options, its `-m limit`, its
/// `-m recent`.
#[derive(Debug, Clone, Default)]
pub(super) struct Extra {
    pub(super) log: LogOpts,
    pub(super) limit: Option<LimitOpts>,
    /// where `--limit` (`--hashlimit-upto`) is: a limit on a jump or a RETURN is judged once
    /// the chains are known (`chains.rs`)
    pub(super) limit_span: Option<Range<usize>>,
    pub(super) recent: Option<Recent>,
    /// `-m connlimit` (`connlimit.rs`)
    pub(super) connlimit: Option<super::connlimit::ConnOpts>,
}

/// `--log-prefix`, `--log-level` as written (and NFLOG's `--nflog-prefix`, `--nflog-group`).
#[derive(Debug, Clone, Default)]
pub(super) struct LogOpts {
    pub(super) prefix: Option<String>,
    pub(super) level: Option<String>,
    /// an NFLOG target: its group (0 when not said)
    pub(super) group: Option<String>,
}

/// `-m limit --limit N/unit --limit-burst B` as written, or `-m hashlimit`'s
/// `--hashlimit-upto`/`--hashlimit-burst` (with its mode and source mask).
#[derive(Debug, Clone, Default)]
pub(super) struct LimitOpts {
    pub(super) rate: Option<String>,
    pub(super) burst: Option<String>,
    /// `-m hashlimit`: Some(its `--hashlimit-mode`, "" when not given)
    pub(super) hash_mode: Option<String>,
    /// `--hashlimit-srcmask` (a prefix length)
    pub(super) srcmask: Option<String>,
    /// `--hashlimit-above`: the rule matches what exceeds the rate (`above.rs`)
    pub(super) above: bool,
    /// written before the rule's ports, ICMP type, TCP flags or states, so that it counts
    /// every packet of the protocol (`counts = "protocol"`, `rule/order.rs`)
    pub(super) early: bool,
    /// what the mapping refuses (`--hashlimit-above`, byte rates, other modes …)
    pub(super) other: Vec<String>,
    /// `--hashlimit-name`: the kernel's table of buckets, shared by every rule of the name
    pub(super) name: Option<String>,
    /// `--hashlimit-htable-expire` (ms) and `--hashlimit-htable-max`, `-size`: what the
    /// kernel's table forgets and holds (`table_notes`)
    pub(super) expire: Option<String>,
    pub(super) table_max: Option<String>,
    pub(super) table_size: Option<String>,
    /// the statewall meter of a name several rules share (`above::shared_hashlimits`), or
    /// of the rule's line, which its entries share (`paths::share_limits`); a `-m limit`'s,
    /// which has no name, is always its line's
    pub(super) shared: Option<String>,
}

impl LimitOpts {
    /// `, meter = "NAME"` for a limit whose buckets other entries share, else nothing: what a
    /// limit's table says after its `per` (or its burst, for the entry as a whole). `part`:
    /// which network pair of the rule's `-s a,b` (`-d`) list the entry is ([`Flat::part`]).
    ///
    /// [`Flat::part`]: super::flatten::Flat::part
    pub(super) fn meter_key(&self, part: usize) -> String {
        // a `-m limit`'s bucket is its kernel rule's: each network pair of a `-s a,b` list
        // has its own (`paths::part_meter`); a hashlimit's is its name's table, one for all
        let own = self.hash_mode.is_none();
        self.shared
            .as_deref()
            .map(|m| {
                let m = if own {
                    super::paths::part_meter(m, part)
                } else {
                    m.to_string()
                };
                format!(", meter = \"{m}\"")
            })
            .unwrap_or_default()
    }

    /// Who the rate is for: `Ok(Some(per))` per source (`--hashlimit-mode srcip`), in the
    /// policy's words: `per = "source"` and the prefix a source counts by
    /// (`--hashlimit-srcmask`: an IPv4 file's `ipv4_prefix` below 32, an IPv6 file's
    /// `ipv6_prefix`; whole addresses without one, IPv6 ones too); `Ok(None)` for the rule as
    /// a whole (no mode, or a mask of 0: every source alike); Err for a mask no address has.
    pub(super) fn per_source(&self, fam: super::Fam) -> Result<Option<String>, String> {
        if self.hash_mode.as_deref() != Some("srcip") {
            return Ok(None);
        }
        let v4 = fam == super::Fam::V4;
        let full = if v4 { 32 } else { 128 };
        let mask = match self.srcmask.as_deref() {
            None => full,
            Some(m) => match m.parse::<u8>() {
                Ok(n) if n <= full => n,
                _ => {
                    return Err(format!(
                        "`--hashlimit-srcmask {m}`: no prefix length of an {} address (0 to {full})",
                        if v4 { "IPv4" } else { "IPv6" }
                    ));
                }
            },
        };
        Ok(match mask {
            0 => None,
            m if v4 && m < 32 => Some(format!(
                "per = \"source\", ipv4_prefix = {m}, ipv6_prefix = 128"
            )),
            _ if v4 => Some("per = \"source\", ipv6_prefix = 128".to_string()),
            m => Some(format!("per = \"source\", ipv6_prefix = {m}")),
        })
    }
}

/// `-m recent …` as written.
#[derive(Debug, Clone, Default)]
pub(super) struct Recent {
    pub(super) name: Option<String>,
    pub(super) set: bool,
    /// `--update`, `--rcheck` or `--remove`, and whether it is negated
    pub(super) check: Option<(&'static str, bool)>,
    pub(super) seconds: Option<String>,
    pub(super) hitcount: Option<String>,
    /// `--rdest`, a `--mask` other than a whole address: what the mapping refuses
    pub(super) other: Vec<String>,
    /// `--rttl`: a check that also compares the TTL with the recorded packet's
    pub(super) rttl: bool,
    /// `--mask 255.255.255.255` written (revision 1: the table keeps it, if this rule makes it)
    pub(super) mask: bool,
}

impl Recent {
    pub(super) fn name(&self) -> &str {
        self.name.as_deref().unwrap_or("DEFAULT")
    }
}

/// A LOG or a `-m recent --set` met on the walk through a chain: the rule, its condition
/// there, and how many deciding rules came before it.
#[derive(Debug, Clone)]
pub(super) struct Side {
    pub(super) rule: usize,
    pub(super) cond: Cond,
    pub(super) at: usize,
    /// the jumps that led to it (outermost first)
    pub(super) via: Vec<usize>,
}

/// What an entry gets from its LOG, limit or recent rules: TOML values.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(super) struct EntryExtra {
    pub(super) log: Option<String>,
    /// `limit`: one, or (checks of one `-m recent` list at several windows) a few
    pub(super) limit: Vec<String>,
    /// the limit counts the entry as a whole (not per source)
    pub(super) global: bool,
    /// a guard (`within = "continue"`): the entry takes only what exceeds its limit, and
    /// consumes tokens for what is within (`above.rs`): its place must be kept exactly
    pub(super) guard: bool,
    /// the meter every `-m recent` list's limit of the entry names (`list.rate`): kept where
    /// other entries name it too and count alike, taken away elsewhere; and where a list's
    /// entries check it at different rates, noted (`paths::share_lists`)
    pub(super) recent_meters: Vec<String>,
    /// `connections` (from a `-m connlimit` rule: `connlimit.rs`)
    pub(super) connections: Option<String>,
    /// the port-scan trap and port knocking (`trap.rs`): the list a DROP or REJECT adds its
    /// sources to (`-m recent --set`), the lists it takes them out of (its own `--remove`,
    /// and the target-less `--remove`s the packet met on its way here: `fold.rs`), and
    /// the check an entry makes
    pub(super) add_to_set: Option<String>,
    pub(super) remove_from_set: Vec<String>,
    pub(super) from_set: Option<super::trap::ListCheck>,
    /// the three as the policy writes them, each list's views named (`trap::resolve`, once
    /// every list is known)
    pub(super) live: super::trap::LiveKeys,
}

impl EntryExtra {
    /// Whether an allow with these refuses some of its packets: a limit or a connection count
    /// whose excess is dropped or rejected there (not `over = "continue"`).
    pub(super) fn refuses_some(&self) -> bool {
        let refuses = |t: &str| t.contains("over = ") && !t.contains("over = \"continue\"");
        self.limit.iter().any(|l| refuses(l)) || self.connections.as_deref().is_some_and(refuses)
    }
}

const EST: u32 = CtStates::ESTABLISHED | CtStates::RELATED;

impl Parser<'_> {
    /// `-m recent`: its options follow (read by [`Parser::recent_option`]); `i` is the first
    /// word after `-m recent`.
    pub(super) fn recent(&mut self, extra: &mut Extra, toks: &[Tok], i: usize) -> usize {
        if extra.recent.is_some() {
            self.err(
                toks[i - 1].span.clone(),
                "a second `-m recent` in one rule",
                "iptables checks (or stamps) each list in turn, and statewall reads one `-m recent` per rule: split the rule, or let a chain do the second check",
            );
            return super::lex::skip_module(toks, i);
        }
        extra.recent.get_or_insert_with(Recent::default);
        i
    }

    /// An option of `-m recent` at `toks[i]` (`neg`: a `!` before it); None when it is none.
    pub(super) fn recent_option(
        &mut self,
        extra: &mut Extra,
        toks: &[Tok],
        i: usize,
        neg: Option<Range<usize>>,
    ) -> Option<Option<usize>> {
        let r = extra.recent.as_mut()?;
        let t = &toks[i];
        let check = match t.text.as_str() {
            "--set" => {
                r.set = true;
                None
            }
            "--update" => Some("update"),
            "--rcheck" => Some("rcheck"),
            "--remove" => Some("remove"),
            "--rsource" | "--reap" => None,
            "--rdest" => {
                r.other.push(t.text.clone());
                None
            }
            "--rttl" => {
                r.rttl = true;
                None
            }
            "--name" | "--seconds" | "--hitcount" | "--mask" => {
                let Some(v) = toks.get(i + 1) else {
                    self.err(
                        t.span.clone(),
                        format!("`{}` needs a value", t.text),
                        "see iptables-extensions(8)",
                    );
                    return Some(None);
                };
                let v = v.text.clone();
                match t.text.as_str() {
                    "--name" => r.name = Some(v),
                    "--seconds" => r.seconds = Some(v),
                    "--hitcount" => r.hitcount = Some(v),
                    "--mask" if v == "255.255.255.255" => r.mask = true,
                    _ if v == "255.255.255.255"
                        || v == "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff" => {}
                    _ => r.other.push(format!("--mask {v}")),
                }
                return Some(Some(i + 2));
            }
            _ => return None,
        };
        if let Some(c) = check {
            if r.check.is_some() || r.set {
                self.err(
                    t.span.clone(),
                    "`-m recent` with two of --set, --update, --rcheck, --remove",
                    "iptables takes one of them per rule",
                );
            }
            r.check = Some((c, neg.is_some()));
        } else if let Some(n) = neg {
            self.err(
                n.start..t.span.end,
                format!("a negation of `{}`", t.text),
                "remove the `!`",
            );
        }
        if r.set && r.check.is_some() && check.is_none() {
            self.err(
                t.span.clone(),
                "`-m recent` with two of --set, --update, --rcheck, --remove",
                "iptables takes one of them per rule",
            );
        }
        Some(Some(i + 1))
    }

    /// An option of `-m limit` or `-m hashlimit` at `toks[i]`; None when it is none, else
    /// where the next option starts (None inside: no value).
    pub(super) fn limit_option(
        &mut self,
        extra: &mut Extra,
        toks: &[Tok],
        i: usize,
    ) -> Option<Option<usize>> {
        let o = toks[i].text.as_str();
        if !matches!(o, "--limit" | "--limit-burst") && !o.starts_with("--hashlimit") {
            return None;
        }
        let Some(v) = self.value(toks, i).map(|v| v.text) else {
            return Some(None);
        };
        let l = extra.limit.get_or_insert_with(Default::default);
        match o {
            "--limit" => l.rate = Some(v),
            "--limit-burst" => l.burst = Some(v),
            _ => {
                l.hash_mode.get_or_insert_with(String::new);
                match o {
                    "--hashlimit-upto" | "--hashlimit" | "--hashlimit-above" => {
                        l.above = o == "--hashlimit-above";
                        // bytes per time (`kb/s`) is another kind of rate
                        if v.split('/')
                            .next()
                            .is_some_and(|n| n.parse::<u64>().is_err())
                        {
                            l.other.push(format!("`{o} {v}` (bytes)"));
                        }
                        l.rate = Some(v);
                    }
                    "--hashlimit-burst" => l.burst = Some(v),
                    "--hashlimit-mode" => {
                        if v != "srcip" {
                            l.other.push(format!("`--hashlimit-mode {v}`"));
                        }
                        l.hash_mode = Some(v);
                    }
                    "--hashlimit-srcmask" => l.srcmask = Some(v),
                    "--hashlimit-name" => l.name = Some(v),
                    // how long an idle source's bucket is kept, how many the table holds:
                    // said in notes (`table_notes`)
                    "--hashlimit-htable-expire" => l.expire = Some(v),
                    "--hashlimit-htable-max" => l.table_max = Some(v),
                    "--hashlimit-htable-size" => l.table_size = Some(v),
                    "--hashlimit-htable-gcinterval" | "--hashlimit-dstmask" => {}
                    other => l.other.push(format!("`{other} {v}`")),
                }
            }
        }
        Some(Some(i + 2))
    }

    /// A `-m recent --set` rule has no target (it records); any other `-m recent` rule is
    /// judged when its chain is analysed.
    pub(super) fn recent_fits(&mut self, extra: &Extra, target: &Target, span: &Range<usize>) {
        let check = extra.recent.as_ref().and_then(|r| r.check);
        match check {
            _ if !matches!(target, Target::RecentSet | Target::Count) => {}
            None => {}
            // judged with the rules around it (`trap::stale_removes`)
            Some(("remove", false)) => {}
            Some(("remove", true)) => self.err(
                span.clone(),
                "a `! --remove` without a target (`-j`)",
                "it takes the source off the list and matches the packets of sources that were not on it; a rule without a target decides none of them: give it the verdict they get",
            ),
            Some(_) => self.err(
                span.clone(),
                "a `-m recent` check without a target (`-j`)",
                "a check only means something with the verdict it leads to",
            ),
        }
    }
}

/// The `over` of a limit whose excess a DROP or REJECT of `proto` packets refuses: a drop, a
/// reject as statewall's over-limit reject answers (a tcp reset for tcp, port unreachable
/// otherwise), or port unreachable; Err with why not.
pub(super) fn over_of(verdict: Verdict, proto: Option<u8>) -> Result<&'static str, &'static str> {
    let reset = if proto == Some(6) {
        RejectKind::TcpReset
    } else {
        RejectKind::Icmp(IcmpReject::PortUnreachable)
    };
    match verdict {
        Verdict::Drop => Ok("drop"),
        Verdict::Reject(k) if k == reset => Ok("reject"),
        Verdict::Reject(RejectKind::Icmp(IcmpReject::PortUnreachable)) => Ok("port-unreachable"),
        Verdict::Reject(_) => Err(
            "it rejects with an answer statewall's over-limit reject does not give (a tcp reset, or port unreachable)",
        ),
        Verdict::Accept => Err("it accepts"),
    }
}

impl Analyser<'_> {
    /// Whether `f` decides every packet of its condition: it has no rate, list or count that
    /// lets some through (or changes what later packets get).
    pub(super) fn decides_all(&self, f: &Flat) -> bool {
        let x = &self.rules[f.rule].extra;
        x.limit.is_none()
            && x.recent.is_none()
            && x.connlimit.is_none()
            && f.cond.in_set.is_empty()
            && f.extra.remove_from_set.is_empty()
    }

    /// Whether every packet of `cond` that goes past `flat[..from]` is accepted: each rule
    /// from `from` on that meets some of them (not all taken by such an accept before it)
    /// accepts every packet it matches, up to one that takes them all, or the final rule
    /// accepts.
    pub(super) fn accepted_after(
        &self,
        flat: &[Flat],
        from: usize,
        cond: &Cond,
        fin: FinalRule,
    ) -> bool {
        // the accepts that took some of them: a few are looked at, more make the answer no
        // (a refusal, never a wrong reading), so that a chain of many stays linear
        const TAKEN_MAX: usize = 32;
        let mut taken: Vec<&Cond> = Vec::new();
        for f in &flat[from.min(flat.len())..] {
            let Some(both) = f.cond.and(cond) else {
                continue;
            };
            if taken.iter().any(|t| covers(t, &both)) {
                continue;
            }
            if taken.len() == TAKEN_MAX {
                return false;
            }
            if f.verdict != Verdict::Accept || !self.decides_all(f) {
                return false;
            }
            if covers(&f.cond, cond) {
                return true;
            }
            taken.push(&f.cond);
        }
        fin.1 == Verdict::Accept
    }
}

/// Whether `a` matches every packet `b` matches (only when that is proven).
pub(super) fn covers(a: &Cond, b: &Cond) -> bool {
    match a.and(b) {
        Some(both) => both == *b,
        None => false,
    }
}

/// `c` without its state match.
pub(super) fn stateless(c: &Cond) -> Cond {
    Cond {
        states: None,
        ..c.clone()
    }
}

impl Analyser<'_> {
    /// Whether the packets of `flat[at]` (and of what is met there) are NEW ones only: the
    /// rule says `--state NEW` (or takes bare SYNs), or an ESTABLISHED,RELATED accept of
    /// every packet it matches (plain, or `-i eth0` before rules of `-i eth0`) comes before it.
    pub(super) fn new_only(&self, flat: &[Flat], at: usize, cond: &Cond) -> bool {
        let rest = stateless(cond);
        // a bare SYN (`--syn`: SYN of FIN,SYN,RST,ACK) opens a connection: conntrack calls
        // it NEW (a retransmission too, until the peer answers)
        let bare_syn = cond.proto == Some(6) && cond.flags == Some((0x17, 0x02));
        cond.states == Some(CtStates::NEW)
            || bare_syn && cond.states.is_none()
            || flat[..at.min(flat.len())].iter().any(|f| {
                // a limited one lets the established packets beyond its rate through
                f.verdict == Verdict::Accept
                    && f.cond.states == Some(EST)
                    && covers(&stateless(&f.cond), &rest)
                    && self.decides_all(f)
            })
    }

    /// The first rule after `flat[p]` that matches some of `cond`'s packets.
    pub(super) fn next_deciding(flat: &[Flat], p: usize, cond: &Cond) -> Option<usize> {
        (p + 1..flat.len()).find(|&q| flat[q].cond.overlaps(cond))
    }

    /// `over` for packets that meet `next` (a rule, or the final rule): "drop" or "reject"
    /// when they are dropped, or rejected as statewall's over-limit reject answers (a tcp
    /// reset for tcp, port unreachable otherwise); Err with what they meet instead.
    pub(super) fn overflow(
        &self,
        flat: &[Flat],
        next: Option<usize>,
        cond: &Cond,
        fin: FinalRule,
    ) -> Result<(&'static str, Option<usize>), String> {
        let (verdict, what) = match next {
            Some(q) => {
                let r = &self.rules[flat[q].rule];
                if !covers(&flat[q].cond, cond) {
                    // several rules share them out: dropped all the same when every later
                    // rule that meets some of them drops, and so does the final rule
                    let all_drop = flat[q..]
                        .iter()
                        .filter(|f| f.cond.overlaps(cond))
                        .all(|f| f.verdict == Verdict::Drop);
                    if all_drop && fin.1 == Verdict::Drop {
                        return Ok(("drop", None));
                    }
                    return Err(format!("line {} decides only some of them", r.line));
                }
                (flat[q].verdict, format!("line {}", r.line))
            }
            None => (
                fin.1,
                match fin.0 {
                    Some(i) => format!("line {}", self.rules[i].line),
                    None => format!("the {} policy", self.hook.chain()),
                },
            ),
        };
        let statewall_reject = if cond.proto == Some(6) {
            RejectKind::TcpReset
        } else {
            RejectKind::Icmp(IcmpReject::PortUnreachable)
        };
        match verdict {
            Verdict::Drop => Ok(("drop", next)),
            Verdict::Reject(k) if k == statewall_reject => Ok(("reject", next)),
            Verdict::Reject(RejectKind::Icmp(IcmpReject::PortUnreachable)) => {
                Ok(("port-unreachable", next))
            }
            Verdict::Reject(_) => Err(format!(
                "{what} rejects them with an answer statewall's over-limit reject does not give (a tcp reset, or port unreachable)"
            )),
            Verdict::Accept => Err(format!("{what} accepts them")),
        }
    }

    /// Whether what conntrack calls invalid among `cond`'s packets, which a limited allow
    /// that names its states lets go on, meets after rule `q` what exceeds the limit meets
    /// at `q` (`over`): then `q` may become the allow's over-limit rule, else it stays a rule
    /// of its own for them.
    fn invalid_go_alike(
        &self,
        flat: &[Flat],
        q: usize,
        cond: &Cond,
        (fin, over): (FinalRule, &str),
    ) -> bool {
        let invalid = Cond {
            states: Some(CtStates::INVALID),
            ..cond.clone()
        };
        let after = Self::next_deciding(flat, q, &invalid);
        matches!(self.overflow(flat, after, &invalid, fin), Ok((o, _)) if o == over)
    }

    /// LOG, limit and recent rules of the chain just flattened (and cut at its final rule):
    /// limits and logs go to the entries' rules (`extra`), the rules they absorb are removed
    /// from `flat`, and the LOG that becomes `log_final` is returned (Some(rule)).
    pub(super) fn extras(&mut self, flat: &mut Vec<Flat>, fin: FinalRule) -> Option<usize> {
        let side = std::mem::take(&mut self.side);
        let rules = self.rules;
        // each rule with a rate, a list or a count looks along the chain for its partners:
        // bounded as the order check is
        let counted = flat.iter().filter(|f| !self.decides_all(f)).count();
        if let Some(f) = flat.iter().find(|f| !self.decides_all(f))
            && counted.saturating_mul(flat.len() + side.len()) > super::classify::REORDER_BUDGET
        {
            let r = &rules[f.rule];
            self.error(r.span.clone(), format!("{} rules with a rate, a list or a count among {} in {}: mapping them would compare more than {} pairs of rules", counted, flat.len(), self.hook.chain(), crate::core::diag::thousands(super::classify::REORDER_BUDGET)), "use fewer rate-limited, `-m recent` or `-m connlimit` rules, or fewer rules in the chain");
            return None;
        }
        let mut gone = vec![false; flat.len()];
        self.ctdir_fits(flat, &mut gone);
        let (sets, logs): (Vec<Side>, Vec<Side>) = side
            .into_iter()
            .partition(|s| rules[s.rule].target == Target::RecentSet);
        let mut used_sets = vec![false; sets.len()];
        let dead = self.dead_lists(flat, fin);
        // the ACCEPTs that also `--set` (`-m recent --set … -j ACCEPT`): their checks find them
        let mut set_accepts: Vec<Option<bool>> = flat
            .iter()
            .map(|f| super::recent::set_accept(&rules[f.rule]).then_some(false))
            .collect();
        for p in 0..flat.len() {
            let r = &rules[flat[p].rule];
            // a list check first: a rule under a jump that checks one has the check in its
            // condition, whatever else it says (refused there when it cannot keep both)
            let checks = super::trap::list_checked(&flat[p].cond).is_some();
            if checks || r.extra.recent.is_some() && super::trap::is_trap(r) {
                self.trap_rule(flat, p, &mut gone);
            } else if r.extra.connlimit.is_some() {
                self.connlimit_pair(flat, p, fin, &mut gone);
            } else if set_accepts[p].is_some() {
                // judged by the checks of its list, before it
            } else if r
                .extra
                .recent
                .as_ref()
                .is_some_and(|x| dead.contains(x.name()))
            {
                gone[p] = true;
                self.dead_check_left_out(r);
            } else if r.extra.recent.is_some() {
                let lists = (&sets[..], &mut used_sets[..], &mut set_accepts[..]);
                self.recent_pair(flat, p, lists, fin, &mut gone);
            } else if r.extra.limit.as_ref().is_some_and(|l| l.above) {
                self.limit_above(flat, p, fin, &mut gone);
            } else if r.extra.limit.is_some() && flat[p].verdict != Verdict::Accept {
                self.limit_within(flat, p, &mut gone);
            } else if r.extra.limit.is_some() {
                self.limited_accept(flat, p, fin, &mut gone);
            }
        }
        for (p, used) in set_accepts.iter().enumerate() {
            if *used == Some(false) && !gone[p] {
                let r = &rules[flat[p].rule];
                self.unchecked_set_accept(r, &dead);
            }
        }
        let checked = super::recent::checked_lists(rules);
        // each list's first check that says what the mapping refuses (`--mask`, `--rdest`):
        // refused where written, it leaves its `--set` without a partner
        let mut refused_checks: std::collections::HashMap<&str, &IptRule> =
            std::collections::HashMap::new();
        for c in flat.iter().map(|f| &rules[f.rule]) {
            if let Some(x) = c
                .extra
                .recent
                .as_ref()
                .filter(|x| x.check.is_some() && !x.other.is_empty())
            {
                refused_checks.entry(x.name()).or_insert(c);
            }
        }
        for (s, used) in sets.iter().zip(used_sets) {
            if !used && s.at <= flat.len() {
                let r = &rules[s.rule];
                let name = r.extra.recent.as_ref().map_or("DEFAULT", Recent::name);
                if !checked.contains(name) || dead.contains(name) {
                    self.notes.push(format!("line {}: `{}` fills list {name}, which no rule of the file checks but a LOG, if any: it decides nothing and is left out (only /proc/net/xt_recent would show the list)", r.line, shorten(&r.text, 80)));
                    continue;
                }
                // say so, as the pattern below is then there in the file
                let why = match refused_checks.get(name) {
                    Some(c) => format!(
                        "its check of list {name}, line {}, says {}, which statewall refuses (see there), so nothing reads this `--set`; ",
                        c.line,
                        c.extra
                            .recent
                            .as_ref()
                            .map_or(String::new(), |x| x.other.join(", "))
                    ),
                    None => String::new(),
                };
                self.error(r.span.clone(), "a `-m recent --set` statewall cannot map", format!("{why}statewall maps `-m recent` only as the ssh brute-force pair: `--set --name N` on NEW connections, right after it `--update --seconds S --hitcount H --name N -j DROP` with the same matches, then the ACCEPT of those connections (a per-source limit)"));
            }
        }
        let mut log_final = None;
        for l in logs {
            let r = &rules[l.rule];
            // a check of a list that is not in its condition (a trap's is): no log of
            // statewall's says it
            if r.extra.recent.is_some() && super::trap::list_checked(&l.cond).is_none() {
                self.left_out_log(r, "statewall's logs say no `-m recent` check");
            } else if l.cond.is_everything() && l.at == flat.len() {
                if let Some(prev) = log_final.replace(l.rule) {
                    self.left_out_log(
                        &rules[prev],
                        "a later LOG of the same packets is the one kept",
                    );
                }
            } else if l.at < flat.len()
                && !gone[l.at]
                && flat[l.at].cond == l.cond
                && self.log_exact(flat, l.at)
            {
                match self.log_value(r) {
                    Some(v) if flat[l.at].extra.log.is_none() => flat[l.at].extra.log = Some(v),
                    _ => self.left_out_log(r, "statewall keeps one log per rule"),
                }
            } else if l.at > flat.len() {
                self.left_out_log(r, "it is never reached");
            } else {
                self.left_out_log(r, "statewall logs every packet an entry's rule gets, or every packet its final rule gets, and this LOG is neither");
            }
        }
        let mut k = 0;
        flat.retain(|_| {
            k += 1;
            !gone[k - 1]
        });
        log_final
    }

    /// `--ctdir`: a rule whose packets all open connections goes the original way, so
    /// `ORIGINAL` says nothing more there (left out); anywhere else, and `REPLY`, it is
    /// refused (statewall's entries match no direction) and the rule taken out.
    fn ctdir_fits(&mut self, flat: &[Flat], gone: &mut [bool]) {
        for p in 0..flat.len() {
            let r = &self.rules[flat[p].rule];
            let Some((original, at)) = &r.ctdir else {
                continue;
            };
            if !*original {
                gone[p] = true;
                self.error(at.clone(), "`--ctdir REPLY`: the packets a connection's answering side sends", "statewall's entries match NEW connections (whose packets go the original way) and its established rule accepts both ways: a rule of replies cannot be kept");
            } else if !self.new_only(flat, p, &flat[p].cond) {
                gone[p] = true;
                self.error(at.clone(), "`--ctdir ORIGINAL` on packets that may belong to connections already open", "statewall keeps it only where every packet of the rule opens a connection (`--ctstate NEW`, or after an ESTABLISHED,RELATED accept), which goes the original way: there it says nothing more; elsewhere the replies it leaves out would meet statewall's established rule");
            }
        }
    }

    /// Whether statewall's log rule before `flat[at]`'s entry logs what the LOG logs: that
    /// entry is an allow (NEW connections, after the established rule) and only NEW packets
    /// reach the LOG, or a reject (any state).
    fn log_exact(&self, flat: &[Flat], at: usize) -> bool {
        match flat[at].verdict {
            Verdict::Accept => self.new_only(flat, at, &flat[at].cond),
            Verdict::Reject(_) => flat[at].cond.states.is_none(),
            Verdict::Drop => false,
        }
    }

    /// A LOG left out, with why.
    pub(super) fn left_out_log(&mut self, r: &IptRule, why: &str) {
        self.notes.push(format!("line {}: `{}` is left out ({why}): a LOG never changes a verdict, so leaving it out changes what is logged, never what is let through", r.line, r.text));
    }

    /// The TOML value of `log` / `log_final` for LOG rule `r`: its prefix, level, limit and
    /// burst; what statewall cannot keep is noted. None when it cannot be written.
    pub(super) fn log_value(&mut self, r: &IptRule) -> Option<String> {
        let l = r.line;
        let mut parts = Vec::new();
        if let Some(p) = &r.extra.log.prefix {
            let fits = p.len() <= LOG_PREFIX_MAX
                && p.bytes()
                    .all(|b| (0x20..0x7f).contains(&b) && b != b'"' && b != b'\\');
            if fits && !p.is_empty() {
                parts.push(format!("prefix = \"{p}\""));
            } else {
                self.notes.push(format!("line {l}: the log prefix is not kept (statewall's are up to {LOG_PREFIX_MAX} printable characters without `\"` or `\\`): statewall's default prefix is used"));
            }
        }
        if let Some(g) = &r.extra.log.group {
            match g.parse::<u16>() {
                Ok(g) => parts.push(format!("group = {g}")),
                Err(_) => self.notes.push(format!(
                    "line {l}: nflog group `{g}` is not a number up to 65535: statewall logs to the kernel log"
                )),
            }
        }
        if let Some(level) = &r.extra.log.level {
            let name = match level.as_str() {
                "error" => Some("err"),
                "warning" => Some("warn"),
                "panic" => Some("emerg"),
                n => LOG_LEVELS.iter().copied().find(|x| *x == n).or_else(|| {
                    n.parse::<usize>()
                        .ok()
                        .and_then(|i| LOG_LEVELS.get(i).copied())
                }),
            };
            match name {
                Some(n) => parts.push(format!("level = \"{n}\"")),
                None => self.notes.push(format!(
                    "line {l}: log level `{level}` is not kept: statewall logs at warn"
                )),
            }
        }
        match &r.extra.limit {
            Some(lim) => match iptables_rate(lim) {
                Ok((rate, burst)) => {
                    parts.push(format!("limit = \"{rate}\""));
                    parts.push(format!("burst = {burst}"));
                }
                Err(why) => {
                    self.notes.push(format!("line {l}: {why}: the log is limited to statewall's 5/minute"));
                }
            },
            None => self.notes.push(format!("line {l}: this LOG has no `-m limit`; statewall never logs unbounded: at most 5/minute, burst 5 (raise `limit` for more)")),
        }
        Some(format!("{{ {} }}", parts.join(", ")))
    }

    /// An IPv6 accept of ICMPv6 or of every protocol takes the neighbour discovery conntrack
    /// leaves untracked: its state bit and how a state list says it (none for others).
    fn untracked_of(&self, cond: &Cond) -> (u32, &'static str) {
        if self.fam == super::Fam::V6 && super::classify::takes_untracked(cond) {
            (CtStates::UNTRACKED, ", \"untracked\"")
        } else {
            (0, "")
        }
    }

    /// An ACCEPT with `-m limit` at `flat[p]`: an allow with a global limit when what exceeds
    /// the rate is dropped (or rejected as statewall rejects) anyway; else refused.
    fn limited_accept(&mut self, flat: &mut [Flat], p: usize, fin: FinalRule, gone: &mut [bool]) {
        let r = &self.rules[flat[p].rule];
        let lim = r.extra.limit.clone().expect("a limit");
        let here = if lim.hash_mode.is_some() {
            "`-m hashlimit` on an ACCEPT"
        } else {
            "`-m limit` on an ACCEPT"
        };
        let cond = flat[p].cond.clone();
        let Some((rate, burst)) = self.accept_rate(r, &lim, here) else {
            gone[p] = true;
            return;
        };
        let named = cond.states.filter(|s| s & !(CtStates::NEW | EST) == 0);
        // no established rule in this reading: lowered to an entry, or none in the chain
        let unstated = self.lower.established || !has_established_accept(flat);
        if !self.new_only(flat, p, &cond) && unstated && named.is_some() {
            // no established rule in this reading: the allow keeps the states it names, and
            // its limit counts their packets, as iptables' does
            self.notes.push(format!("line {}: `{}` limits the packets of the states it names: its allow says them (`state`), so that statewall's limit counts them too", r.line, shorten(&r.text, 80)));
        } else if !self.new_only(flat, p, &cond) && unstated && cond.states.is_none() {
            // no established rule in this reading: the allow says the states it takes, and
            // its limit counts their packets, as iptables' limit counts every packet
            let (bits, said) = self.untracked_of(&cond);
            flat[p].cond.states = Some(CtStates::NEW | EST | bits);
            self.notes.push(format!("line {}: `{}` limits every packet it matches, not only NEW connections: its allow says `state = [\"new\", \"established\", \"related\"{said}]`, so that statewall's limit counts them all too (packets conntrack calls invalid go on to the rules after it)", r.line, shorten(&r.text, 80)));
        } else if unstated
            && cond.states.is_none()
            && cond.flags.is_some()
            && !self.new_only(
                flat,
                p,
                &Cond {
                    flags: None,
                    ..cond.clone()
                },
            )
        {
            // bare SYNs (`--syn`) without an established rule: a retransmitted one is NEW
            // until the peer answers and ESTABLISHED after; the allow says both, so that its
            // limit counts them all, as iptables' does
            flat[p].cond.states = Some(CtStates::NEW | EST);
            self.notes.push(format!("line {}: `{}` limits bare SYNs whatever their connection's state: its allow says `state = [\"new\", \"established\", \"related\"]`, so that statewall's limit counts them all too (packets conntrack calls invalid go on to the rules after it)", r.line, shorten(&r.text, 80)));
        } else if self.new_only(flat, p, &cond) && unstated && cond.states.is_none() {
            // no established rule here, but an ESTABLISHED,RELATED accept of its packets before
            // it (the chain's, lowered, or `-p icmp --state RELATED,ESTABLISHED`): only NEW
            // connections reach it, and its allow says so, as its limit counts them
            flat[p].cond.states = Some(CtStates::NEW);
            self.notes.push(format!("line {}: `{}` comes after the file's ESTABLISHED,RELATED accept, so only NEW connections reach it: its allow says `state = [\"new\"]`, so that its limit counts them as iptables' does (packets conntrack calls invalid go on to the rules after it)", r.line, shorten(&r.text, 80)));
        } else if !self.new_only(flat, p, &cond) {
            self.error(r.span.clone(), format!("{here} that also counts packets of connections already accepted"), format!("no ESTABLISHED,RELATED accept comes before it and it has no `-m state --state NEW`, so iptables' limit counts (and stops) every packet it matches, while statewall's counts NEW connections and accepts the rest by its established rule; move `-A {} -m state --state ESTABLISHED,RELATED -j ACCEPT` before it, or add `-m state --state NEW`, if that is what is meant", self.hook.chain()));
            gone[p] = true;
            return;
        }
        let next = Self::next_deciding(flat, p, &cond);
        // what exceeds the rate: dropped or rejected there when iptables' next rule for
        // those packets does so anyway (the over-limit rule has its own counter), else left
        // to the rules after the allow (`over = "continue"`), as iptables leaves them
        // a next rule that fills or empties a list (a flood trap's `--set -j DROP`) keeps its
        // place after the allow, for what exceeds the rate to meet it
        let feeds = next.is_some_and(|q| {
            let rq = &self.rules[flat[q].rule];
            flat[q].extra.changes_list() || rq.extra.recent.is_some() && super::trap::is_trap(rq)
        });
        let (over, done) = match self.overflow(flat, next, &cond, fin) {
            Ok((over, next)) if !feeds => {
                if let Some(q) = next
                    && (flat[q].cond == flat[p].cond
                        || flat[q].cond == cond
                            && self.invalid_go_alike(flat, q, &cond, (fin, over)))
                {
                    gone[q] = true;
                    let rq = &self.rules[flat[q].rule];
                    self.notes.push(format!(
                        "line {}: `{}` becomes the over-limit rule of line {}'s limit",
                        rq.line, rq.text, r.line
                    ));
                }
                let done = if over == "drop" {
                    "dropped there, as iptables' next rule for those packets does"
                } else {
                    "rejected there, as iptables' next rule for those packets does"
                };
                (over, done)
            }
            // the allow then matches only what is within the rate: the order check, which
            // keeps every pair of overlapping rules with different verdicts in the file's
            // order, proves the rules after it decide the rest as iptables' do
            _ => (
                "continue",
                "left to the rules after it, as iptables leaves it",
            ),
        };
        if !self.meter_way(&lim, over, flat[p].rule) {
            gone[p] = true;
            return;
        }
        let line = r.line;
        // a rate before the rule's ports, type, flags or states counts every packet of its
        // protocol that reaches it (`rule/order.rs`)
        let early = if lim.early {
            self.notes.push(format!("line {line}: the rate comes before the rule's ports, ICMP type, TCP flags or states, so it takes a token for every packet of the protocol that reaches it: the limit says `counts = \"protocol\"`"));
            ", counts = \"protocol\""
        } else {
            ""
        };
        match lim.per_source(self.fam) {
            Err(why) => {
                self.error(r.span.clone(), why, "write the limit per source address (or drop the mask), or for the rule as a whole");
                gone[p] = true;
            }
            // hashlimit by source: a bucket per source address (its mask: a prefix)
            Ok(Some(per)) => {
                flat[p].extra.limit = vec![format!(
                    "{{ rate = \"{rate}\", burst = {burst}, {per}{}, over = \"{over}\"{early} }}",
                    lim.meter_key(super::paths::bucket(r, flat[p].part))
                        + &super::htable::forget_key(&lim, &rate, burst)
                )];
                let whom = match lim
                    .srcmask
                    .as_deref()
                    .filter(|_| per.contains("ipv4_prefix"))
                {
                    Some(m) => format!("per /{m} network of sources (`ipv4_prefix = {m}`)"),
                    None => "per source".to_string(),
                };
                self.notes.push(format!("line {line}: `-m hashlimit` by source becomes the allow's per-source limit ({rate}, burst {burst}): a token bucket {whom}, as hashlimit's; what exceeds it is {done}"));
                self.notes
                    .extend(super::htable::table_notes(&lim, line, &rate, burst));
            }
            Ok(None) => {
                flat[p].extra.limit = vec![format!(
                    "{{ rate = \"{rate}\", burst = {burst}{}, over = \"{over}\"{early} }}",
                    lim.meter_key(super::paths::bucket(r, flat[p].part))
                        + &super::htable::forget_key(&lim, &rate, burst)
                )];
                flat[p].extra.global = true;
                self.notes.push(format!("line {line}: `-m limit` becomes the allow's limit ({rate}, burst {burst}) for the rule as a whole, as iptables' is; what exceeds it is {done}"));
                if lim.hash_mode.is_some() {
                    self.notes
                        .extend(super::htable::table_notes(&lim, line, &rate, burst));
                }
            }
        }
    }
}

impl Analyser<'_> {
    /// The rate and burst of ACCEPT `r`'s limit `lim` as statewall writes them, or None
    /// (refused at the rule: `here` says what it is).
    fn accept_rate(&mut self, r: &IptRule, lim: &LimitOpts, here: &str) -> Option<(String, u32)> {
        match iptables_rate(lim) {
            Ok(x) => Some(x),
            Err(why) => {
                let help = if lim.other.is_empty() {
                    "statewall's rates are whole numbers of packets per second, minute, hour or day"
                } else {
                    "statewall's meters count per source address (`--hashlimit-mode srcip`, with `--hashlimit-srcmask`) or for the rule as a whole (no mode), not per destination or port: a rule of its own per port keeps a bucket each"
                };
                self.error(r.span.clone(), format!("{here}: {why}"), help);
                None
            }
        }
    }
}

/// Whether a chain's flattened rules have an ESTABLISHED,RELATED accept: statewall's
/// established rule, and its allows then match NEW only.
pub(super) fn has_established_accept(flat: &[Flat]) -> bool {
    flat.iter()
        .any(|f| f.verdict == Verdict::Accept && f.cond == super::classify::states_only(EST))
}

impl Analyser<'_> {
    /// The `log_final` of LOG rule `l` (of every packet, after every deciding rule), unless a
    /// DROP merged into the final rule would then be logged too (iptables dropped it before the
    /// LOG): left out then, with a note.
    pub(super) fn log_final(
        &mut self,
        l: usize,
        ranked: &[(super::classify::Rank, Flat)],
    ) -> Option<(usize, String)> {
        let r = &self.rules[l];
        if let Some((_, f)) = ranked
            .iter()
            .find(|(k, _)| *k == super::classify::Rank::Drop)
        {
            let why = format!(
                "statewall's final rule also drops what line {} drops before it, and would log that too",
                self.rules[f.rule].line
            );
            self.left_out_log(r, &why);
            return None;
        }
        self.log_value(r).map(|v| (l, v))
    }
}
