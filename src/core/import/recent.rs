//! `-m recent` as an ssh brute-force guard: checks of a list with `--hitcount` and the
//! `--set` that fills it, mapped onto the allow they guard as per-source limits (one per
//! check); everything else about `recent` is refused with why (the port-scan trap, checks
//! without `--hitcount`, is `trap.rs`'s).

use std::collections::HashSet;

use super::analyse::{Analyser, FinalRule};
use super::cond::Cond;
use super::extra::{Recent, Side, covers, stateless};
use super::flatten::{Flat, Verdict};
use super::rule::{IptRule, Target};
use crate::core::model::{LIMITS_MAX, Rate};
use crate::core::plan::CtStates;

/// Why list `name`, in both files of a pair, keys IPv6 sources by their first 32 bits in the
/// kernel (said for the lists' limits here and for their live sets in `build.rs`).
pub(super) fn shared_mask_why(name: &str) -> String {
    format!(
        "list `{name}` is in both files: the kernel keeps one `-m recent` table per name, with the --mask of the rule that made it, and the IPv4 file's first rule of it says `--mask 255.255.255.255`: with that file loaded first, ip6tables' rules track IPv6 sources by their first 32 bits"
    )
}

impl Analyser<'_> {
    /// The prefix by which this file's limits of list `name` count IPv6 sources: whole
    /// (/128), as `recent` keeps them, but /32 in an ip6tables file whose pair's IPv4 file
    /// makes the list's kernel table with `--mask 255.255.255.255` (loaded first, the
    /// table's mask applies to IPv6 sources too: their first 32 bits), noted.
    fn list_prefix6(&mut self, name: &str, line: u32) -> u8 {
        if self.fam != super::Fam::V6 || !self.wide_lists.contains(name) {
            return 128;
        }
        self.notes.push(format!(
            "line {line}: {}, so this limit counts per /32 (`ipv6_prefix = 32`)",
            shared_mask_why(name)
        ));
        32
    }

    /// A `-m recent` check at `flat[p]`: an ssh brute-force pattern, mapped onto the allow it
    /// guards as a per-source limit; anything else refused. The patterns, each with its
    /// `--set` of the same matches and nothing deciding those packets in between:
    /// - the `--set` first, then `--update`/`--rcheck --hitcount H -j DROP` (or REJECT), then
    ///   the ACCEPT: H-1 connections per window (the check counts the packet just set);
    /// - the check first, then the `--set`, then the ACCEPT: H per window;
    /// - the `--set` first, then `! --update`/`! --rcheck --hitcount H -j ACCEPT`, whose
    ///   overflow a later rule (or the final rule) drops: H-1 per window (`! --rcheck`), or
    ///   (H-1)/2 rounded up (`! --update`, which stamps again each connection it accepts).
    pub(super) fn recent_pair(
        &mut self,
        flat: &mut [Flat],
        p: usize,
        (sets, used, accepts): (&[Side], &mut [bool], &mut [Option<bool>]),
        fin: FinalRule,
        gone: &mut [bool],
    ) {
        let r = &self.rules[flat[p].rule];
        let rec = r.extra.recent.clone().expect("a recent");
        let cond = flat[p].cond.clone();
        // a refused rule is taken out, so that it causes no ordering error of its own
        gone[p] = true;
        let refuse = |cx: &mut Self, why: String| {
            cx.error(r.span.clone(), "a `-m recent` rule statewall cannot map", format!("{why}; statewall maps the ssh brute-force patterns: `-m recent --set --name N` on NEW connections and `-m recent --update --seconds S --hitcount H --name N -j DROP` (or REJECT) with the same matches right before or after it, then the ACCEPT of those connections; or the `--set`, then `! --update` (or `! --rcheck`) `… -j ACCEPT` with the rest dropped (a per-source limit)"));
        };
        let Some((kind, negated)) = rec.check else {
            return refuse(self, "it is not an --update or --rcheck".into());
        };
        if kind == "remove" || !rec.other.is_empty() {
            return refuse(
                self,
                format!(
                    "it says {}",
                    if kind == "remove" {
                        "--remove".to_string()
                    } else {
                        rec.other.join(", ")
                    }
                ),
            );
        }
        let Some((seconds, hits)) = window(&rec) else {
            return refuse(
                self,
                "it needs --seconds (1 to 604800) and --hitcount (1 to 255)".into(),
            );
        };
        if (flat[p].verdict == Verdict::Accept) != negated {
            return refuse(
                self,
                if negated {
                    "a negated check that does not accept".into()
                } else {
                    "it accepts".into()
                },
            );
        }
        let (si, set, set_first) =
            match self.recent_set(flat, p, &rec, (sets, used, accepts), negated) {
                Ok(found) => found,
                Err(why) => return refuse(self, why),
            };
        // `--hitcount 1` counts the stamp the `--set` just made when it comes first: no
        // connection would get in (before the `--set` it is one connection per window)
        if hits == 1 && set_first {
            return refuse(
                self,
                "a check of one connection per window (`--hitcount 1`, or `--seconds` alone) after its `--set` counts the connection the `--set` has just stamped, so it lets no connection in; before the `--set` it is one connection per window".into(),
            );
        }
        // a list filled for the packets of several rules: `recent` counts a source's
        // connections to them all together, and so do their limits, sharing a meter
        let shared = Self::shared_list(flat, sets, &set);
        // a check that counts every packet maps where statewall's entries see every packet too:
        // a reading without an established rule (beside one they see NEW connections alone)
        let all_packets = !self.new_only(flat, set.at.min(p), &cond);
        let unstated = self.lower.established || !super::extra::has_established_accept(flat);
        if all_packets && !unstated {
            return refuse(self, "it counts every packet, not NEW connections (no `--state NEW`, no ESTABLISHED,RELATED accept before it)".into());
        }
        // the allow that gets the limit and what becomes of its overflow; None: a guard
        let found = if negated {
            let next = Self::next_deciding(flat, p, &cond);
            match self.overflow(flat, next, &cond, fin) {
                Ok((over, drops)) => {
                    if let Some(d) = drops.filter(|&d| flat[d].cond == cond) {
                        gone[d] = true;
                    }
                    Some((p, over))
                }
                Err(why) => {
                    return refuse(self, format!("what it does not accept goes on, and {why}"));
                }
            }
        } else {
            let from = if set_first { p } else { set.at - 1 };
            match self.guarded_allow(flat, (p, from.max(p)), (&rec, fin)) {
                Ok(found) => Some(found),
                // no allow of these connections right after it: a guard in its place, when
                // the `--set` is a rule of its own beside it
                Err(_) if si.is_some() => None,
                Err(why) => return refuse(self, why),
            }
        };
        let allowed = self.allowed_per_window(hits, seconds, (set_first, negated, kind), r.line);
        let rate = format!("{allowed}/{seconds}s");
        if let Err(why) = Rate::parse(&rate) {
            return refuse(self, format!("{rate}: {why}"));
        }
        let meter = match self.limit_meter(shared.as_deref(), &rec, &rate, set.rule) {
            Ok(m) => m,
            Err(why) => return refuse(self, why),
        };
        let p6 = self.list_prefix6(rec.name(), r.line);
        let Some((q, over)) = found else {
            used[si.expect("a guard's `--set` is a rule")] = true;
            gone[p] = false;
            flat[p].extra.limit.push(format!(
                "{{ rate = \"{rate}\", per = \"source\", ipv6_prefix = {p6}{meter}, within = \"continue\" }}"
            ));
            // it takes tokens for what it meets: its place is kept exactly
            flat[p].extra.guard = true;
            self.tag_meters(&mut flat[p], &rec, &rate);
            let (sl, ul) = (self.rules[set.rule].line, r.line);
            let what = ["NEW connections", "packets"][usize::from(all_packets)];
            self.notes.push(format!("lines {}-{}: `-m recent` (at most {allowed} {what} per source in any {seconds} s) guards no allow (no ACCEPT of the same connections right after it): it becomes a {} of what exceeds a per-source limit of {rate} (`within = \"continue\"`), in its place, and what is within goes on to the rules after it, as in the file; statewall's token bucket lets {allowed} through at once, then one every {} s as it refills, where `recent` counts a sliding window{}", sl.min(ul), sl.max(ul), if flat[p].verdict == Verdict::Drop { "block" } else { "reject" }, every(seconds, allowed), if rec.rttl { "; `--rttl` is not kept" } else { "" }));
            return;
        };
        match si {
            Some(si) => used[si] = true,
            None => accepts[set.at] = Some(true),
        }
        gone[p] = q != p;
        // a check that becomes the allow it guards (`guarded_allow`), or a negated one
        flat[q].verdict = Verdict::Accept;
        if all_packets {
            self.counts_every_packet(&mut flat[q], r.line);
        }
        // `recent` keeps whole addresses, IPv6 ones too (but see `list_prefix6`)
        flat[q].extra.limit.push(format!(
            "{{ rate = \"{rate}\", per = \"source\", ipv6_prefix = {p6}{meter}, over = \"{over}\" }}"
        ));
        self.tag_meters(&mut flat[q], &rec, &rate);
        let lines = (
            self.rules[set.rule].line,
            r.line,
            self.rules[flat[q].rule].line,
        );
        let counts_blocked = kind == "update" || set_first;
        self.recent_note(
            lines,
            (allowed, seconds, &rate),
            (counts_blocked, over),
            rec.rttl,
        );
    }

    /// How many connections a source gets in a window of a check of `hits` at line `line`:
    /// the check counts the packet just set when the `--set` comes first; a `! --update`
    /// after it stamps again what it accepts (xt_recent updates where the rule matches, `!`
    /// included), so each connection let in counts twice (noted).
    fn allowed_per_window(
        &mut self,
        hits: u32,
        seconds: u64,
        (set_first, negated, kind): (bool, bool, &str),
        line: u32,
    ) -> u32 {
        let twice = set_first && negated && kind == "update";
        if twice {
            let allowed = (hits - 1).div_ceil(2);
            self.notes.push(format!("line {line}: `! --update` stamps the list again for every connection it accepts, beside the `--set`'s stamp, so each counts twice against `--hitcount {hits}`: {allowed} per source in {seconds} s, not {}", hits - 1));
            allowed
        } else if set_first {
            hits - 1
        } else {
            hits
        }
    }

    /// The allow a check that drops or rejects (`flat[p]`, of list `rec`) guards: the first
    /// rule after `flat[from]` for its packets, past the list's other checks, an ACCEPT with
    /// the same matches; or, when that rule (or the final rule) accepts every one of them and
    /// the list has no other check there, the check itself (`p`: it becomes that allow, as
    /// what it does not drop is accepted anyway). And the limit's `over` for the check's
    /// verdict. Err with why not.
    fn guarded_allow(
        &self,
        flat: &[Flat],
        (p, from): (usize, usize),
        (rec, fin): (&Recent, FinalRule),
    ) -> Result<(usize, &'static str), String> {
        let cond = &flat[p].cond;
        let over = super::extra::over_of(flat[p].verdict, cond.proto)?;
        let q = self.next_past_checks(flat, from, (cond, rec));
        if let Some(q) = q.filter(|&q| flat[q].extra.limit.len() >= LIMITS_MAX) {
            return Err(format!(
                "line {}'s allow has {LIMITS_MAX} limits already, as many as statewall's allow takes",
                self.rules[flat[q].rule].line
            ));
        }
        let fits = |q: usize| {
            flat[q].verdict == Verdict::Accept
                && self.rules[flat[q].rule].extra.limit.is_none()
                && stateless(&flat[q].cond) == stateless(cond)
                && flat[q].cond.states.is_none_or(|s| s & CtStates::NEW != 0)
        };
        if let Some(q) = q.filter(|&q| fits(q)) {
            return Ok((q, over));
        }
        // every rule after the checks accepts what it meets of these packets (up to one that
        // accepts them all, or the ACCEPT policy): the check itself is the allow
        let accepts_all = self.accepted_after(flat, q.unwrap_or(flat.len()), cond, fin);
        let alone =
            !(0..flat.len()).any(|k| k != p && flat[k].cond == *cond && self.sibling(flat, k, rec));
        if accepts_all && alone {
            return Ok((p, over));
        }
        Err("the next rule for these packets is not an ACCEPT with the same matches, nor one that accepts them all".into())
    }

    /// The note on a check mapped as a limit: the lines of its `--set`, of itself and of the
    /// allow; H per S seconds and the rate; whether `recent` counts the attempts it refuses,
    /// and how it refuses them; whether it said `--rttl`.
    fn recent_note(
        &mut self,
        (sl, ul, al): (u32, u32, u32),
        (allowed, seconds, rate): (u32, u64, &str),
        (counts_blocked, over): (bool, &str),
        rttl: bool,
    ) {
        let (first, last) = (sl.min(ul), sl.max(ul).max(al));
        let counts_blocked = if counts_blocked {
            let verb = if over == "drop" { "drops" } else { "rejects" };
            format!(
                "also counts the attempts it {verb}, so a source that keeps trying stays shut out there and gets one through per refill here"
            )
        } else {
            "does not count the attempts it refuses".to_string()
        };
        let ttl = if rttl {
            "; `--rttl` (the TTL must match the recorded packet's, against forged sources) is not kept: statewall limits by the source address alone, a little more strictly"
        } else {
            ""
        };
        self.notes.push(format!("lines {first}-{last}: `-m recent` (at most {allowed} NEW connections per source in any {seconds} s) becomes a per-source limit of {rate} on line {al}'s allow: statewall's token bucket lets {allowed} through at once, then one every {} s as it refills, while `recent` counts a sliding window (all {allowed} free again {seconds} s after the first) and {counts_blocked}{ttl}", every(seconds, allowed)));
    }
}

impl Analyser<'_> {
    /// The `--set` of recent check `flat[p]` (named as `rec`): right before it, or (a check
    /// that drops, not `negated`) right after it, with the same matches and nothing deciding
    /// those packets in between; or (not `negated`) the ACCEPT after it that sets (`-m recent
    /// --set … -j ACCEPT`, at `flat[q]`: a Side at q). Returns its index in `sets` (None for
    /// such an ACCEPT), it, and whether it comes first; Err with why there is none.
    fn recent_set(
        &self,
        flat: &[Flat],
        p: usize,
        rec: &Recent,
        (sets, used, accepts): (&[Side], &[bool], &[Option<bool>]),
        negated: bool,
    ) -> Result<(Option<usize>, Side, bool), String> {
        let cond = &flat[p].cond;
        let named = |r: &IptRule| {
            r.extra
                .recent
                .as_ref()
                .is_some_and(|x| x.name() == rec.name())
        };
        // between them only rules these packets never meet, or (not `negated`) other checks
        // of the list that drop, with the same matches: each a limit of the same allow
        let clear = |from: usize, to: usize| {
            !(from..to).any(|k| {
                flat[k].cond.overlaps(cond)
                    && (negated || flat[k].cond != *cond || !self.sibling(flat, k, rec))
            })
        };
        // one `--set` serves the checks of its list beside it: each other one is a sibling
        // (or the `clear` above fails)
        let free = |i: usize, s: &Side| !used[i] || !negated && s.cond == *cond;
        let before = sets
            .iter()
            .enumerate()
            .rev()
            .find(|(_, s)| s.at <= p && named(&self.rules[s.rule]))
            .filter(|(i, s)| s.cond == *cond && free(*i, s) && clear(s.at, p));
        if let Some((i, s)) = before {
            return Ok((Some(i), s.clone(), true));
        }
        // (a `--set` past the chain's end, behind the rule that decides every packet, is
        // never met: `at` counts the rules that rule's cut left out)
        let after = sets
            .iter()
            .enumerate()
            .find(|(_, s)| s.at > p && s.at <= flat.len() && named(&self.rules[s.rule]))
            .filter(|(i, s)| !negated && s.cond == *cond && free(*i, s) && clear(p + 1, s.at));
        if let Some((i, s)) = after {
            return Ok((Some(i), s.clone(), false));
        }
        let accept = self.next_past_checks(flat, p, (cond, rec)).filter(|&q| {
            !negated
                && accepts[q].is_some()
                && named(&self.rules[flat[q].rule])
                && flat[q].cond == *cond
        });
        if let Some(q) = accept {
            let s = Side {
                rule: flat[q].rule,
                cond: flat[q].cond.clone(),
                at: q,
                via: flat[q].via.clone(),
            };
            return Ok((None, s, false));
        }
        let past_end = sets
            .iter()
            .find(|s| s.at > flat.len() && named(&self.rules[s.rule]));
        if let Some(s) = past_end {
            return Err(format!(
                "the `--set` of line {} comes after a rule that decides every packet of the chain: no packet meets it, and nothing fills the list",
                self.rules[s.rule].line
            ));
        }
        let any_set = sets
            .iter()
            .map(|s| s.rule)
            .chain(
                (0..flat.len())
                    .filter(|&q| accepts[q].is_some())
                    .map(|q| flat[q].rule),
            )
            .find(|&r| named(&self.rules[r]));
        Err(match any_set {
            Some(r) => format!(
                "the `--set` of line {} is not right before or after it with the same matches",
                self.rules[r].line
            ),
            None => match self.rules.iter().find(|r| {
                r.extra
                    .recent
                    .as_ref()
                    .is_some_and(|x| x.set && x.name() == rec.name())
            }) {
                // a `--set` that drops or rejects is a port-scan trap's feed (`trap.rs`), which
                // this walk may well meet: its list is a live set, whose checks count nothing
                Some(s) if matches!(s.target, Target::Drop | Target::Reject(_)) => format!(
                    "its list is filled by the `--set` of line {} in {}, which {} the packets it takes: a port-scan trap's list, read as a live set whose checks (`--update`/`--rcheck` without `--hitcount`) say only whether the source is on it, never how often it came",
                    s.line,
                    s.chain,
                    if matches!(s.target, Target::Drop) {
                        "drops"
                    } else {
                        "rejects"
                    }
                ),
                // a `--set` in another chain (INPUT's, for a FORWARD check) fills the list
                // for packets this chain never sees: the check's count is not this chain's
                Some(s) => format!(
                    "its list is filled by the `--set` of line {} in {}, which this chain's packets never meet",
                    s.line, s.chain
                ),
                None => format!("no `--set --name {}` comes with it", rec.name()),
            },
        })
    }

    /// Another way into `--set` rule `set` (a jump that leads to it, or the rule itself when
    /// `set` came by a jump) whose packets differ from `set`'s in more than their source:
    /// a source can then fill the list from both. Differing sources keep their counts apart,
    /// as `recent` keeps one per source address.
    /// Returns the rules each way starts from (its outermost jump, or the rule itself).
    fn shared_list(flat: &[Flat], sets: &[Side], set: &Side) -> Option<Vec<usize>> {
        let unsourced = |c: &Cond| Cond {
            src: None,
            ..c.clone()
        };
        let own = unsourced(&set.cond);
        let side_ways = sets
            .iter()
            .filter(|s| s.rule == set.rule)
            .map(|s| (&s.cond, s.via.first().copied().unwrap_or(s.rule)));
        let flat_ways = flat
            .iter()
            .filter(|f| f.rule == set.rule)
            .map(|f| (&f.cond, f.via.first().copied().unwrap_or(f.rule)));
        let mut ways: Vec<(&Cond, usize)> = side_ways.chain(flat_ways).collect();
        if ways.iter().all(|(c, _)| unsourced(c) == own) {
            return None;
        }
        // each source meets one way all the time when every earlier way, its source aside,
        // takes all that a later one does: a source an earlier way names meets it wherever a
        // later one would have met it, and the others never meet it (`-s LAN … -j GUARD`,
        // then `-i usb0 … -j GUARD`), so each allow's per-source limit counts what the list
        // counts; statewall keeps the allows in the file's order
        // (covering is transitive: each way against the next one says it for every pair)
        ways.sort_by_key(|&(_, w)| w);
        let nested = ways
            .windows(2)
            .all(|p| covers(&unsourced(p[0].0), &unsourced(p[1].0)));
        if nested {
            return None;
        }
        let mut starts: Vec<usize> = ways.into_iter().map(|(_, w)| w).collect();
        starts.sort_unstable();
        starts.dedup();
        Some(starts)
    }

    /// The meter the limits of a list's check share when its `--set` is reached from several
    /// rules (`ways`, their lines): the list's name and the rate (`sshbf.3-10s`; an IPv6
    /// file's with `-v6`), noted; Err with why when it makes no meter name.
    fn list_meter(
        &mut self,
        rec: &Recent,
        rate: &str,
        ways: &[usize],
        set_rule: usize,
    ) -> Result<String, String> {
        let Some(m) = self.list_meter_name(rec, rate) else {
            let m = format!("{}.{}", rec.name(), rate.replace('/', "-"));
            return Err(format!(
                "the `--set` of line {} fills the list for packets of different rules, whose limits would share a meter, and `{m}` is no meter name (1-{} characters of A-Z a-z 0-9 _ . -)",
                self.rules[set_rule].line,
                crate::core::plan::LiveName::MAX
            ));
        };
        let lines: Vec<String> = ways
            .iter()
            .map(|&w| self.rules[w].line.to_string())
            .collect();
        let note = format!(
            "list `{}`: the `--set` of line {} fills it for the packets of several rules (reached from lines {}), and `recent` counts a source's connections to them all together: their limits of {rate} share the meter `{m}`",
            rec.name(),
            self.rules[set_rule].line,
            lines.join(", ")
        );
        // (a note said twice is kept once)
        self.notes.push(note);
        Ok(m)
    }

    /// The `, meter = "…"` of a check's limit: its list's meter (`list_meter_name`), which
    /// `paths::share_lists` takes away again where no other entry names it. A list this chain
    /// fills from several ways (`shared`) is noted here; one it fills from one way alone may
    /// be checked in another chain or by another pair too. Err: why not.
    fn limit_meter(
        &mut self,
        shared: Option<&[usize]>,
        rec: &Recent,
        rate: &str,
        set_rule: usize,
    ) -> Result<String, String> {
        let m = match shared {
            Some(ways) => Some(self.list_meter(rec, rate, ways, set_rule)?),
            None => self.list_meter_name(rec, rate),
        };
        Ok(m.map_or(String::new(), |m| format!(", meter = \"{m}\"")))
    }

    /// The entry `f` whose limit a check of list `rec` at `rate` became: its list's meter.
    fn tag_meters(&self, f: &mut Flat, rec: &Recent, rate: &str) {
        f.extra
            .recent_meters
            .extend(self.list_meter_name(rec, rate));
    }

    /// The allow `f` of a check that counts every packet: it says the states it takes, so
    /// that its limit counts every packet as the list does (an allow's limit counts NEW
    /// connections otherwise), noted; `line` the check's.
    fn counts_every_packet(&mut self, f: &mut Flat, line: u32) {
        if f.cond.states.is_some() {
            return;
        }
        f.cond.states = Some(CtStates::NEW | CtStates::ESTABLISHED | CtStates::RELATED);
        self.notes.push(format!("line {line}: `-m recent` counts every packet it meets, not only NEW connections: the allow of line {} says `state = [\"new\", \"established\", \"related\"]`, so that statewall's limit counts them all too (packets conntrack calls invalid go on to the rules after it)", self.rules[f.rule].line));
    }

    /// The meter of list `rec`'s limits of `rate`: the list's name and the rate
    /// (`sshbf.3-10s`; an IPv6 file's with `-v6`), or None when that is no meter name.
    fn list_meter_name(&self, rec: &Recent, rate: &str) -> Option<String> {
        let mut m = format!("{}.{}", rec.name(), rate.replace('/', "-"));
        if self.fam == super::Fam::V6 {
            m.push_str("-v6");
        }
        crate::core::policy::valid_set_name(&m).then_some(m)
    }

    /// Whether `flat[k]` is a check of list `rec` with a `--hitcount` that drops or rejects
    /// (not negated), with the same matches as `rec`'s: a sibling, each of them a limit of
    /// the allow after them.
    fn sibling(&self, flat: &[Flat], k: usize, rec: &Recent) -> bool {
        let r = &self.rules[flat[k].rule];
        r.extra.recent.as_ref().is_some_and(|x| {
            x.name() == rec.name()
                && x.hitcount.is_some()
                && matches!(x.check, Some(("update" | "rcheck", false)))
        }) && matches!(flat[k].verdict, Verdict::Drop | Verdict::Reject(_))
    }

    /// The first rule after `flat[p]` that meets some of the packets of `cond`, past the
    /// other checks of list `rec` with those matches (siblings).
    fn next_past_checks(
        &self,
        flat: &[Flat],
        p: usize,
        (cond, rec): (&Cond, &Recent),
    ) -> Option<usize> {
        (p + 1..flat.len()).find(|&q| {
            flat[q].cond.overlaps(cond) && !(flat[q].cond == *cond && self.sibling(flat, q, rec))
        })
    }

    /// The lists whose every deciding check (in the whole file) is in this chain and changes
    /// nothing there: each drops (rejects) only packets that the rules after it, or the
    /// final rule, drop (reject) alike (a `--set … -j ACCEPT` before its `--update … -j
    /// DROP` leaves the check only what the chain drops anyway). Such a list decides nothing:
    /// its checks are left out and its `--set`s are plain (`unchecked_set_accept`). A list
    /// some other check reads stays: an `--update` that matches stamps the list again.
    pub(super) fn dead_lists(&self, flat: &[Flat], fin: FinalRule) -> HashSet<String> {
        // each list's deciding checks (rules), and each rule's places in this chain: one pass
        // over each, so that a file of many lists stays linear (`dead_check` looks along the
        // chain from each place of a recent rule: within the budget `extras` checked)
        let mut checks: std::collections::HashMap<&str, Vec<usize>> = Default::default();
        for (i, r) in self.rules.iter().enumerate() {
            if let Some(x) = &r.extra.recent
                && x.check.is_some()
                && !matches!(r.target, Target::Log | Target::Count)
            {
                checks.entry(x.name()).or_default().push(i);
            }
        }
        let mut at: std::collections::HashMap<usize, Vec<usize>> = Default::default();
        for (p, f) in flat.iter().enumerate() {
            if self.rules[f.rule].extra.recent.is_some() {
                at.entry(f.rule).or_default().push(p);
            }
        }
        let dead = |i: &usize| {
            at.get(i)
                .is_some_and(|ps| ps.iter().all(|&p| self.dead_check(flat, p, fin)))
        };
        checks
            .into_iter()
            .filter(|(_, rules)| rules.iter().all(dead))
            .map(|(name, _)| name.to_string())
            .collect()
    }

    /// Whether `flat[p]` is an `--update`/`--rcheck --hitcount` check that drops (rejects)
    /// only what the first later rule that meets its packets, taking them all, or the final
    /// rule drops (rejects) alike.
    fn dead_check(&self, flat: &[Flat], p: usize, fin: FinalRule) -> bool {
        let r = &self.rules[flat[p].rule];
        let checks = r.extra.recent.as_ref().is_some_and(|x| {
            x.hitcount.is_some() && matches!(x.check, Some(("update" | "rcheck", false)))
        });
        let v = flat[p].verdict;
        if !checks || !matches!(v, Verdict::Drop | Verdict::Reject(_)) {
            return false;
        }
        let cond = &flat[p].cond;
        match flat[p + 1..].iter().find(|f| f.cond.overlaps(cond)) {
            Some(f) => f.verdict == v && self.decides_all(f) && covers(&f.cond, cond),
            None => fin.1 == v,
        }
    }

    /// A check of a list [`Analyser::dead_lists`] found deciding nothing: left out, noted.
    pub(super) fn dead_check_left_out(&mut self, r: &IptRule) {
        let name = r.extra.recent.as_ref().map_or("DEFAULT", Recent::name);
        self.notes.push(format!("line {}: `{}` drops (or rejects) only packets the rules after it drop (reject) alike, and no other check reads list {name}: the check is left out, and so is the list", r.line, crate::core::diag::shorten(&r.text, 80)));
    }

    /// An ACCEPT that also records its packets' sources (`-m recent --set … -j ACCEPT`) that
    /// no check before it uses: a plain allow when nothing checks its list (or only checks
    /// that decide nothing: `dead`), noted; refused otherwise.
    pub(super) fn unchecked_set_accept(&mut self, r: &IptRule, dead: &HashSet<String>) {
        let rec = r.extra.recent.as_ref().expect("a recent");
        if dead.contains(rec.name()) {
            self.notes.push(format!("line {}: `-m recent --set --name {}` records sources on a list whose checks decide nothing: the ACCEPT is kept, the list left out", r.line, rec.name()));
        } else if checked_lists(self.rules).contains(rec.name()) {
            self.error(r.span.clone(), "a `-m recent --set` on an ACCEPT statewall cannot map", format!("statewall maps `--set --name {} … -j ACCEPT` with the checks right before it that drop what the list already holds too often (`--rcheck`/`--update --seconds S --hitcount H --name {} -j DROP`, the same matches): the allow's per-source limit", rec.name(), rec.name()));
        } else {
            self.notes.push(format!("line {}: `-m recent --set --name {}` records sources on a list no rule checks: the ACCEPT is kept, the list left out", r.line, rec.name()));
        }
    }
}

/// The lists some rule of the file checks or empties (`--update`, `--rcheck`, `--remove`):
/// a `--set` of any other list fills what nothing reads (but /proc/net/xt_recent), and
/// decides nothing.
pub(super) fn checked_lists(rules: &[IptRule]) -> std::collections::HashSet<&str> {
    rules
        .iter()
        // a LOG's (or a rule's that only counts) check decides nothing
        .filter(|r| !matches!(r.target, Target::Log | Target::Count))
        .filter_map(|r| r.extra.recent.as_ref())
        .filter(|x| x.check.is_some())
        .map(Recent::name)
        .collect()
}

/// Whether rule `r` is an ACCEPT that also records its packets' sources (`-m recent --set …
/// -j ACCEPT`).
pub(super) fn set_accept(r: &IptRule) -> bool {
    r.target == Target::Accept
        && r.extra
            .recent
            .as_ref()
            .is_some_and(|x| x.set && x.check.is_none())
}

/// `secs / n` as a short number of seconds.
fn every(secs: u64, n: u32) -> String {
    let n = u64::from(n.max(1));
    if secs.is_multiple_of(n) {
        (secs / n).to_string()
    } else {
        format!("{:.1}", secs as f64 / n as f64)
    }
}

/// A check's window: its `--seconds` (1 to a week) and `--hitcount` (1 to 255), when it has
/// both.
fn window(rec: &Recent) -> Option<(u64, u32)> {
    let seconds = rec
        .seconds
        .as_deref()
        .and_then(|s| s.parse::<u64>().ok())
        .filter(|s| (1..=86_400 * 7).contains(s))?;
    let hits = rec
        .hitcount
        .as_deref()
        .and_then(|s| s.parse::<u32>().ok())
        .filter(|h| (1..=255).contains(h))?;
    Some((seconds, hits))
}

/// The checks without `--hitcount` of a list that only target-less `--set`s fill (an smtp
/// or ssh throttle: `--update --seconds 10 … -j REJECT`, then `--set`, then the ACCEPT):
/// `--seconds S` alone matches a source seen once in S seconds, as `--hitcount 1` does
/// (xt_recent counts the stamps within S up to the hit count), so such a check is read as
/// `--hitcount 1` and mapped as the brute-force pairs are, not as a trap's check (whose list
/// a DROP or REJECT fills).
pub(super) fn throttles(rules: &mut [IptRule]) {
    use std::collections::HashMap;
    // per list: whether a target-less `--set` fills it, and whether anything but those and
    // plain checks touches it
    let mut lists: HashMap<String, (bool, bool)> = HashMap::new();
    for r in rules.iter() {
        let Some(x) = &r.extra.recent else { continue };
        let e = lists.entry(x.name().to_string()).or_default();
        match (x.set, x.check) {
            (true, None) if r.target == Target::RecentSet => e.0 = true,
            (false, Some(("update" | "rcheck", false)))
                if matches!(r.target, Target::Drop | Target::Reject(_)) => {}
            _ => e.1 = true,
        }
    }
    for r in rules.iter_mut() {
        let Some(x) = &mut r.extra.recent else {
            continue;
        };
        let throttled = lists.get(x.name()) == Some(&(true, false));
        if !throttled || x.set || x.hitcount.is_some() || x.seconds.is_none() {
            continue;
        }
        let mark = super::trap::list_mark(x.name(), x.seconds.as_deref());
        r.cond.in_set.retain(|m| *m != mark);
        x.hitcount = Some("1".to_string());
    }
}
