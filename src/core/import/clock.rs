//! `-m time` (the kernel's xt_time: when a rule matches, by the packet's clock) into the
//! condition, which becomes an entry's `hours`, `days`, `since` and `until`
//! (`core::clock`). The options are read as libxt_time 1.8.9 reads them:
//! - `--timestart`/`--timestop` `hh:mm[:ss]` (00:00:00 and 23:59:59 when left out), both
//!   included; a start after the stop wraps past midnight, and a start equal to the stop (or
//!   right after it) is the whole day, which xt_time matches;
//! - `[!] --weekdays` names (`Mon`…`Sun`, the first two letters compared, case and all) or
//!   numbers 1-7 (Monday is 1), comma-separated;
//! - `--datestart`/`--datestop` `YYYY[-MM[-DD[Thh[:mm[:ss]]]]]` in UTC, years 1970-2038,
//!   out-of-range days and months carried over as `mktime` carries them. `--datestop
//!   2038-01-19T03:14:07` is xt_time's own end of time (2^31-1 seconds, which iptables-save
//!   writes for every `-m time`) and is left out: the entry matches past it;
//! - `--kerneltz` (`--localtz`) counts in the kernel's timezone, statewall in UTC (noted);
//! - `--contiguous` matters only for a window past midnight on some days (its early hours
//!   count as the day before): refused there; `--monthdays` is refused (nft has no
//!   day-of-month match).
//!
//! A rule with no day or no date left (`! --weekdays Mon,…,Sun`, a start after its stop)
//! matches nothing and is left out, noted. Two `-m time` in one rule (or one of a rule that
//! jumps to it) meet in one clock when their windows agree (`meet`).

use std::fmt::Write as _;
use std::ops::Range;

use super::lex::Tok;
use super::lines::Parser;
use super::rule::Draft;
use crate::core::clock::{self, ALL_DAYS, Clock, DAY};
use crate::core::model::More;

/// xt_time's end of time (`INT_MAX` seconds): `--datestop` when none is given.
const XT_END: u64 = i32::MAX as u64;
/// The latest year libxt_time reads.
const XT_LAST_YEAR: i64 = 2038;

/// One `-m time` of a rule, as its options are read: each option's value and where it is.
#[derive(Debug, Default)]
pub(super) struct TimeOpts {
    /// where `-m time` is
    at: Range<usize>,
    start: Option<(u32, Range<usize>)>,
    stop: Option<(u32, Range<usize>)>,
    /// xt_time's weekday bits: 1 (Monday) to 7 (Sunday)
    weekdays: Option<(u8, Range<usize>)>,
    date_start: Option<u64>,
    date_stop: Option<u64>,
    kerneltz: Option<Range<usize>>,
    utc: Option<Range<usize>>,
    contiguous: Option<Range<usize>>,
    /// an option of it was refused already (said once)
    refused: bool,
}

impl TimeOpts {
    pub(super) fn new(at: Range<usize>) -> TimeOpts {
        TimeOpts {
            at,
            ..TimeOpts::default()
        }
    }
}

/// The options of `-m time`.
const OPTIONS: [&str; 10] = [
    "--datestart",
    "--datestop",
    "--timestart",
    "--timestop",
    "--weekdays",
    "--monthdays",
    "--kerneltz",
    "--localtz",
    "--utc",
    "--contiguous",
];

impl Parser<'_> {
    /// An option of the last `-m time` at `toks[i]` (`neg`: a `!` before it): the index after
    /// it, or None when it is not one (or no `-m time` came before it).
    pub(super) fn time_option(
        &mut self,
        opts: Option<&mut TimeOpts>,
        toks: &[Tok],
        i: usize,
        neg: Option<Range<usize>>,
    ) -> Option<Option<usize>> {
        let t = &toks[i];
        let name = t.text.as_str();
        if !OPTIONS.contains(&name) {
            return None;
        }
        let o = opts?;
        if let (Some(n), false) = (&neg, matches!(name, "--weekdays" | "--monthdays")) {
            o.refused = true;
            self.err(n.start..t.span.end, format!("a negation of `{name}`"), "iptables refuses it too: of `-m time`, only `--weekdays` and `--monthdays` take a `!`");
        }
        let flag = |slot: &mut Option<Range<usize>>| slot.replace(t.span.clone()).is_some();
        let twice = match name {
            "--kerneltz" | "--localtz" => flag(&mut o.kerneltz),
            "--utc" => flag(&mut o.utc),
            "--contiguous" => flag(&mut o.contiguous),
            _ => false,
        };
        if twice {
            o.refused = true;
            self.err(
                t.span.clone(),
                format!("`{name}` twice in one `-m time`"),
                "iptables refuses it too: give it once",
            );
        }
        if matches!(name, "--kerneltz" | "--localtz" | "--utc" | "--contiguous") {
            return Some(Some(i + 1));
        }
        let Some(v) = self.value(toks, i) else {
            return Some(None);
        };
        let span = t.span.start..v.span.end;
        if name == "--monthdays" {
            // every day of the month (1-31) says nothing; anything else nft cannot say
            if month_days(&v.text) != Some(u32::MAX - 1) || neg.is_some() {
                o.refused = true;
                self.err(span, format!("`--monthdays {}`", v.text), "nft has no day-of-month match (`meta day` is the weekday), so statewall cannot say it: give the dates with --datestart/--datestop, or leave it out");
            }
            return Some(Some(i + 2));
        }
        let again = match name {
            "--timestart" | "--timestop" => daytime(&v.text).map(|n| {
                let slot = if name == "--timestart" {
                    &mut o.start
                } else {
                    &mut o.stop
                };
                slot.replace((n, span.clone())).is_some()
            }),
            "--weekdays" => weekdays(&v.text).map(|w| {
                let w = if neg.is_some() { w ^ 0xfe } else { w };
                o.weekdays.replace((w, span.clone())).is_some()
            }),
            _ => xt_date(&v.text).map(|d| {
                let slot = if name == "--datestart" {
                    &mut o.date_start
                } else {
                    &mut o.date_stop
                };
                slot.replace(d).is_some()
            }),
        };
        match again {
            Err(()) => {
                o.refused = true;
                let why = match name {
                    "--timestart" | "--timestop" => {
                        "iptables refuses it too: a time of day is hh:mm[:ss], 00:00:00 to 23:59:59"
                    }
                    "--weekdays" => {
                        "iptables refuses it too: weekdays are Mon,Tue,Wed,Thu,Fri,Sat,Sun (the first two letters count) or numbers 1 (Monday) to 7, comma-separated"
                    }
                    _ => {
                        "iptables refuses it too: a date is YYYY[-MM[-DD[Thh[:mm[:ss]]]]] in UTC, years 1970 to 2038"
                    }
                };
                self.err(v.span.clone(), format!("`{name} {}`", v.text), why);
            }
            Ok(true) => {
                o.refused = true;
                self.err(
                    span,
                    format!("`{name}` twice in one `-m time`"),
                    "iptables refuses it too (\"can only be used once\"): give it once",
                );
            }
            Ok(false) => {}
        }
        Some(Some(i + 2))
    }

    /// Each `-m time` of a rule into its condition's clocks; one that leaves no moment to
    /// match makes the rule match nothing (`never`).
    pub(super) fn times_into(&mut self, d: &mut Draft, all: Vec<TimeOpts>) {
        for o in all.into_iter().filter(|o| !o.refused) {
            match self.clock_of(o) {
                Ok(c) if c.is_always() => {}
                Ok(c) => d.cond.clocks.push(c),
                Err(Some(why)) => d.never = Some(why),
                Err(None) => {}
            }
        }
    }

    /// One `-m time` as a clock: Err(Some(why)) when it matches at no moment, Err(None)
    /// when it was refused.
    fn clock_of(&mut self, o: TimeOpts) -> Result<Clock, Option<String>> {
        if let (Some(u), Some(k)) = (&o.utc, &o.kerneltz) {
            self.err(u.start.min(k.start)..u.end.max(k.end), "`--utc` with `--kerneltz`", "iptables refuses it too: a rule counts in UTC (the default) or in the kernel's timezone, not both");
            return Err(None);
        }
        let start = o.start.as_ref().map_or(0, |s| s.0);
        let stop = o.stop.as_ref().map_or(DAY - 1, |s| s.0);
        let weekdays = o.weekdays.as_ref().map_or(0xfe, |w| w.0);
        if let Some(c) = &o.contiguous {
            if start < stop {
                self.err(c.clone(), "`--contiguous` with a window that does not pass midnight", "iptables refuses it too (\"--contiguous only makes sense when stoptime is smaller than starttime\")");
                return Err(None);
            }
            if weekdays != 0xfe {
                self.err(c.clone(), "`--contiguous` with weekdays: iptables counts a window's hours past midnight as the day before", "statewall's `days` are each packet's own day (nft's `meta day`), as iptables' are without --contiguous: write the hours before midnight and those after it as two rules, the second with the next days");
                return Err(None);
            }
        }
        let line = crate::core::diag::loc_of(self.src, o.at.start).line;
        if o.kerneltz.is_some() {
            self.notes.push(format!("line {line}: `-m time --kerneltz` counts in the kernel's timezone; statewall's hours and dates are UTC (nft's `meta hour`, `meta time`): the same where the kernel's timezone is UTC, as on most hosts (systemd sets another only when the hardware clock keeps local time)"));
        }
        let hours = if start == stop || (stop + 1) % DAY == start {
            if start == stop && o.start.is_some() && o.stop.is_some() {
                self.notes.push(format!("line {line}: `--timestart` equal to `--timestop` is the whole day to xt_time (it reads a window whose start is its end as one that wraps all the way round), and so to the policy"));
            }
            None
        } else {
            Some((start, stop))
        };
        // xt's bit 7 (Sunday) is nft's day 0
        let days = (weekdays & 0x7e) | (weekdays >> 7 & 1);
        if days == 0 {
            return Err(Some("its `-m time` leaves no weekday".into()));
        }
        // said once, at the first rule it is true of
        if o.weekdays.is_some() && days != ALL_DAYS && o.kerneltz.is_none() && !self.weekdays_noted
        {
            self.weekdays_noted = true;
            self.notes.push(format!("line {line} (and each `--weekdays` after it): `--weekdays` are UTC days to iptables, and days in the kernel's timezone to nft (`meta day`): the same where the kernel's timezone is UTC, as on most hosts"));
        }
        let since = o.date_start.filter(|&s| s != 0);
        let until = o.date_stop.filter(|&u| u != XT_END);
        if o.date_start.unwrap_or(0) > o.date_stop.unwrap_or(XT_END) {
            return Err(Some(format!(
                "`--datestart` ({}) is after `--datestop` ({})",
                clock::date_text(o.date_start.unwrap_or(0)),
                clock::date_text(o.date_stop.unwrap_or(XT_END))
            )));
        }
        Ok(Clock {
            hours,
            days,
            since,
            until,
        })
    }
}

/// `strtoul` over a run of digits (none is 0, as strtoul reads it), and what follows.
fn number(s: &str) -> Option<(u64, &str)> {
    let end = s.find(|c: char| !c.is_ascii_digit()).unwrap_or(s.len());
    let n = if end == 0 { 0 } else { s[..end].parse().ok()? };
    Some((n, &s[end..]))
}

/// libxt_time's `hh:mm[:ss]` as seconds of the day.
fn daytime(s: &str) -> Result<u32, ()> {
    let (h, rest) = number(s).ok_or(())?;
    let rest = rest.strip_prefix(':').ok_or(())?;
    let (m, rest) = number(rest).ok_or(())?;
    let sec = match rest.strip_prefix(':') {
        Some(r) => match number(r).ok_or(())? {
            (sec, "") => sec,
            _ => return Err(()),
        },
        None if rest.is_empty() => 0,
        None => return Err(()),
    };
    if h > 23 || m > 59 || sec > 59 {
        return Err(());
    }
    Ok((h * 3600 + m * 60 + sec) as u32)
}

/// libxt_time's weekdays: xt bits 1 (Monday) to 7 (Sunday); a number past 7 sets a bit
/// the kernel's byte has no room for, so none.
fn weekdays(s: &str) -> Result<u8, ()> {
    const NAMES: [&str; 7] = ["Mo", "Tu", "We", "Th", "Fr", "Sa", "Su"];
    let mut mask = 0u8;
    let mut rest = s;
    while !rest.is_empty() {
        let (seg, more) = rest.split_once(',').unwrap_or((rest, ""));
        rest = more;
        if seg.bytes().all(|b| b.is_ascii_digit()) {
            // strtoul: an empty one is 0, which iptables refuses ("the week does NOT begin
            // with Sunday")
            match number(seg).ok_or(())?.0 {
                0 => return Err(()),
                n @ 1..=7 => mask |= 1 << n,
                _ => {}
            }
            continue;
        }
        match NAMES.iter().position(|n| seg.starts_with(n)) {
            Some(i) => mask |= 1 << (i + 1),
            None => return Err(()),
        }
    }
    Ok(mask)
}

/// libxt_time's `--monthdays`: bits 1-31; None where iptables refuses it.
fn month_days(s: &str) -> Option<u32> {
    let mut mask = 0u32;
    for seg in s.split(',').filter(|seg| !seg.is_empty()) {
        match number(seg)? {
            (n @ 0..=31, "") => mask |= 1 << n,
            _ => return None,
        }
    }
    Some(mask)
}

/// libxt_time's `YYYY[-MM[-DD[Thh[:mm[:ss]]]]]` in UTC: seconds since 1970.
fn xt_date(s: &str) -> Result<u64, ()> {
    let (y, mut rest) = number(s).ok_or(())?;
    if !(1970..=XT_LAST_YEAR as u64).contains(&y) {
        return Err(());
    }
    // month, day, hour, minute, second: each after its separator, with its bound
    let parts = [('-', 12), ('-', 31), ('T', 23), (':', 59), (':', 59)];
    let mut v = [1u64, 1, 0, 0, 0];
    for (k, (sep, max)) in parts.into_iter().enumerate() {
        let Some(r) = rest.strip_prefix(sep) else {
            break;
        };
        let (n, r) = number(r).ok_or(())?;
        if n > max {
            return Err(());
        }
        v[k] = n;
        rest = r;
    }
    if !rest.is_empty() {
        return Err(());
    }
    let [mo, d, h, mi, sec] = v.map(|n| n as i64);
    clock::epoch_of(y as i64, mo, d, h * 3600 + mi * 60 + sec).ok_or(())
}

/// The moments a clock of one thing (a window, days, a start or an end) does not match,
/// as a clock: the other hours, the other days, before the start, after the end. None for
/// a clock of several things (its negation is several clocks).
pub(super) fn other_times(c: Clock) -> Option<Clock> {
    let one = |o: Clock| Some(o).filter(|o| !o.is_always());
    match c {
        Clock {
            hours: Some((start, stop)),
            days: ALL_DAYS,
            since: None,
            until: None,
        } => one(Clock {
            hours: Some(((stop + 1) % DAY, (start + DAY - 1) % DAY)),
            ..Clock::default()
        }),
        Clock {
            hours: None,
            days,
            since: None,
            until: None,
        } => one(Clock {
            days: ALL_DAYS & !days,
            ..Clock::default()
        }),
        Clock {
            hours: None,
            since: Some(s),
            until: None,
            ..
        } if c.days == ALL_DAYS && s > 0 => one(Clock {
            until: Some(s - 1),
            ..Clock::default()
        }),
        Clock {
            hours: None,
            since: None,
            until: Some(u),
            ..
        } if c.days == ALL_DAYS => one(Clock {
            since: Some(u + 1),
            ..Clock::default()
        }),
        _ => None,
    }
}

/// The entry's clock keys of a condition (one clock once the rule is flattened).
pub(super) fn clock_keys(clocks: &[Clock], m: &mut More) {
    m.clock = clocks.first().copied();
}

/// The clocks a packet must meet at once, as one: Ok(None) when no moment meets them all,
/// Err when two windows of the day differ (statewall's entry has one).
pub(super) fn meet(clocks: &[Clock]) -> Result<Option<Clock>, ()> {
    let mut out = Clock::default();
    for c in clocks {
        out.hours = match (out.hours, c.hours) {
            (Some(a), Some(b)) if a != b => return Err(()),
            (a, b) => a.or(b),
        };
        out.days &= c.days;
        out.since = out.since.max(c.since);
        out.until = match (out.until, c.until) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        };
    }
    let empty = out.days == 0 || matches!((out.since, out.until), (Some(s), Some(u)) if s > u);
    Ok((!empty).then_some(out))
}

/// The policy lines of an entry's clock (`hours = "22:00-06:00"`).
pub(super) fn clock_lines(t: &mut String, m: &More) {
    let Some(c) = m.clock else { return };
    if let Some(w) = c.hours {
        let _ = writeln!(t, "hours = \"{}\"", clock::window_text(w));
    }
    if c.days != ALL_DAYS {
        let names: Vec<String> = clock::days_names(c.days)
            .iter()
            .map(|d| format!("\"{d}\""))
            .collect();
        let _ = writeln!(t, "days = [{}]", names.join(", "));
    }
    for (key, date) in [("since", c.since), ("until", c.until)] {
        if let Some(d) = date {
            let _ = writeln!(t, "{key} = \"{}\"", clock::date_text(d));
        }
    }
}

/// A name for an entry told apart by its clock (`hours-2200-0600`, `days-sat-sun`,
/// `until-2025-12-31`).
pub(super) fn clock_name(m: &More) -> Option<String> {
    let c = m.clock?;
    if let Some(w) = c.hours {
        return Some(format!("hours-{}", clock::window_text(w).replace(':', "")));
    }
    if c.days != ALL_DAYS {
        return Some(format!("days-{}", clock::days_names(c.days).join("-")));
    }
    let (what, d) = match (c.since, c.until) {
        (Some(s), _) => ("since", s),
        (None, Some(u)) => ("until", u),
        (None, None) => return None,
    };
    Some(format!("{what}-{}", clock::date_text(d).replace(':', "")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn options_read_as_libxt_time_reads_them() {
        assert_eq!(daytime("9:5"), Ok(9 * 3600 + 5 * 60));
        assert_eq!(daytime("09:00:"), Ok(9 * 3600));
        assert_eq!(daytime("23:59:59"), Ok(DAY - 1));
        for bad in ["24:00", "09", "09:60", "09:00:60", "09:00x", "a:00"] {
            assert!(daytime(bad).is_err(), "{bad}");
        }
        // Monday is bit 1, Sunday bit 7; names by their first two letters
        assert_eq!(weekdays("Mon,Sunday,3"), Ok(0b1000_1010));
        assert_eq!(weekdays("Mo,"), Ok(0b10));
        assert_eq!(weekdays("8"), Ok(0));
        for bad in ["mon", "M", "0", "Mon,,Tue", "x"] {
            assert!(weekdays(bad).is_err(), "{bad}");
        }
        assert_eq!(xt_date("1970"), Ok(0));
        assert_eq!(xt_date("2038-01-19T03:14:07"), Ok(XT_END));
        // an empty month is 0: the year before's December (`mktime`)
        assert_eq!(xt_date("2025-"), xt_date("2024-12-01"));
        assert_eq!(xt_date("2025-02-31"), xt_date("2025-03-03"));
        for bad in [
            "1969",
            "2039-01-01",
            "2025-13",
            "2025-01-01 00:00",
            "2025-01-01T24",
        ] {
            assert!(xt_date(bad).is_err(), "{bad}");
        }
        assert_eq!(month_days("1,31"), Some(1 << 1 | 1 << 31));
        assert_eq!(month_days("32"), None);
    }

    #[test]
    fn a_clock_of_one_thing_turns_around() {
        let window = Clock {
            hours: Some((8 * 3600, 18 * 3600)),
            ..Clock::default()
        };
        let night = other_times(window).unwrap();
        assert_eq!(night.hours, Some((18 * 3600 + 1, 8 * 3600 - 1)));
        assert_eq!(other_times(night), Some(window), "and back");
        let weekend = Clock {
            days: 0b100_0001,
            ..Clock::default()
        };
        assert_eq!(other_times(weekend).unwrap().days, 0b011_1110);
        let from = Clock {
            since: Some(100),
            ..Clock::default()
        };
        assert_eq!(other_times(from).unwrap().until, Some(99));
        assert_eq!(other_times(other_times(from).unwrap()), Some(from));
        let both = Clock {
            days: 0b10,
            ..window
        };
        assert_eq!(other_times(both), None, "two things: two clocks");
    }

    #[test]
    fn clocks_meet_in_one_or_in_none() {
        let window = Clock {
            hours: Some((3600, 7200)),
            ..Clock::default()
        };
        let weekend = Clock {
            days: 0b100_0001,
            since: Some(10),
            ..Clock::default()
        };
        let met = meet(&[window, weekend]).unwrap().unwrap();
        assert_eq!(
            (met.hours, met.days, met.since),
            (window.hours, weekend.days, Some(10))
        );
        let monday = Clock {
            days: 0b10,
            ..Clock::default()
        };
        assert_eq!(meet(&[weekend, monday]), Ok(None));
        let ended = Clock {
            until: Some(5),
            ..Clock::default()
        };
        assert_eq!(meet(&[weekend, ended]), Ok(None));
        let other = Clock {
            hours: Some((0, 60)),
            ..Clock::default()
        };
        assert_eq!(meet(&[window, other]), Err(()));
    }
}
