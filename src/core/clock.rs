//! When an entry matches (`hours`, `days`, `since`, `until`: nft's `meta hour`, `meta day`,
//! `meta time`; iptables' `-m time`). The kernel reads its own clock for each packet:
//! - `hours`: a window of the day in UTC, `"09:00-17:00"`, both ends within it (to the
//!   second); one whose start is after its end wraps past midnight (`"22:00-06:00"`);
//! - `days`: weekdays, counted as nftables counts them, in the kernel's timezone (UTC unless
//!   something set one at boot: `settimeofday`'s `tz_minuteswest`);
//! - `since`, `until`: dates in UTC, `"2025-01-01"` or `"2025-01-01T08:00:00"`, both
//!   included (`until` to the end of its second).
//!
//! A window and its days are tested on the same packet's clock, as nft and iptables (without
//! `--contiguous`) do: `hours = "22:00-06:00"` with `days = ["fri"]` is Friday's first six
//! hours and its last two. Pure data, no I/O.

use crate::core::model::More;
use crate::core::plan::Match;

/// Seconds in a day.
pub const DAY: u32 = 86_400;
/// Every weekday (bit `d` for day `d`, 0 = Sunday as nft counts).
pub const ALL_DAYS: u8 = 0x7f;
/// The weekdays' names as the policy writes them (index = nft's number).
pub const DAY_NAMES: [&str; 7] = ["sun", "mon", "tue", "wed", "thu", "fri", "sat"];
/// The last year a date may name: `meta time` counts nanoseconds in 64 bits (to 2554).
const LAST_YEAR: i64 = 2500;

/// When an entry matches: every field None (days [`ALL_DAYS`]) is always.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Clock {
    /// (start, stop) in seconds of the UTC day, both included; start > stop wraps
    pub hours: Option<(u32, u32)>,
    /// bit `d`: weekday `d` (0 = Sunday)
    pub days: u8,
    /// seconds since 1970 (UTC), included
    pub since: Option<u64>,
    /// seconds since 1970 (UTC), included to the end of that second
    pub until: Option<u64>,
}

impl Default for Clock {
    fn default() -> Self {
        Clock {
            hours: None,
            days: ALL_DAYS,
            since: None,
            until: None,
        }
    }
}

impl Clock {
    /// Whether it says nothing (always).
    pub fn is_always(&self) -> bool {
        *self == Clock::default()
    }
}

/// `HH:MM` or `HH:MM:SS` (hours 0-23) as seconds of the day.
pub fn parse_daytime(s: &str) -> Result<u32, String> {
    let bad = || format!("`{s}` is not a time of day HH:MM or HH:MM:SS (00:00-23:59:59)");
    let parts: Vec<&str> = s.split(':').collect();
    if !(2..=3).contains(&parts.len()) {
        return Err(bad());
    }
    let mut n = [0u32; 3];
    for (i, p) in parts.iter().enumerate() {
        if p.is_empty() || p.len() > 2 || !p.bytes().all(|b| b.is_ascii_digit()) {
            return Err(bad());
        }
        n[i] = p.parse().map_err(|_| bad())?;
    }
    if n[0] > 23 || n[1] > 59 || n[2] > 59 {
        return Err(bad());
    }
    Ok(n[0] * 3600 + n[1] * 60 + n[2])
}

/// Seconds of the day as `HH:MM` (or `HH:MM:SS` where the seconds are not 0).
pub fn daytime_text(t: u32) -> String {
    let (h, m, s) = (t / 3600, t / 60 % 60, t % 60);
    if s == 0 {
        format!("{h:02}:{m:02}")
    } else {
        format!("{h:02}:{m:02}:{s:02}")
    }
}

/// `START-STOP`, two times of day: (start, stop). A window of every second of the day
/// (`"00:00-23:59:59"`, `"10:00-09:59:59"`) is refused: it says nothing.
pub fn parse_window(s: &str) -> Result<(u32, u32), String> {
    let Some((a, b)) = s.split_once('-') else {
        return Err(format!(
            "`{s}` is not a window START-STOP of two times of day (\"09:00-17:00\")"
        ));
    };
    let (start, stop) = (parse_daytime(a.trim())?, parse_daytime(b.trim())?);
    if (stop + 1) % DAY == start {
        return Err(format!(
            "`{s}` is every second of the day: leave `hours` out"
        ));
    }
    Ok((start, stop))
}

/// A window as the policy writes it.
pub fn window_text((start, stop): (u32, u32)) -> String {
    format!("{}-{}", daytime_text(start), daytime_text(stop))
}

/// A weekday's name (`mon`, `Monday`, any case) as nft's number (0 = Sunday).
pub fn parse_day(s: &str) -> Option<u8> {
    let l = s.to_ascii_lowercase();
    const LONG: [&str; 7] = [
        "sunday",
        "monday",
        "tuesday",
        "wednesday",
        "thursday",
        "friday",
        "saturday",
    ];
    (0..7u8).find(|&d| DAY_NAMES[usize::from(d)] == l || LONG[usize::from(d)] == l)
}

/// The days of a mask by name, Monday first (as a week is read).
pub fn days_names(mask: u8) -> Vec<&'static str> {
    [1, 2, 3, 4, 5, 6, 0]
        .into_iter()
        .filter(|d| mask & (1 << d) != 0)
        .map(|d| DAY_NAMES[d])
        .collect()
}

/// Days since 1970-01-01 of a civil date (proleptic Gregorian; month 1-12).
fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// The civil date of days since 1970-01-01: (year, month 1-12, day 1-31). Howard
/// Hinnant's `civil_from_days`.
pub(crate) fn civil_from_days(z: i64) -> (i64, i64, i64) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    (yoe + era * 400 + i64::from(m <= 2), m, d)
}

/// Seconds since 1970 (UTC) of a date and time of day, each part in range or carried over
/// as `mktime` carries it (month 0 is the year before's December, day 0 the month before's
/// last): None before 1970 or after [`LAST_YEAR`].
pub fn epoch_of(year: i64, month: i64, day: i64, secs_of_day: i64) -> Option<u64> {
    let (y, m) = (
        year + (month - 1).div_euclid(12),
        (month - 1).rem_euclid(12) + 1,
    );
    let days = days_from_civil(y, m, 1) + day - 1;
    let secs = days * i64::from(DAY) + secs_of_day;
    let last = days_from_civil(LAST_YEAR + 1, 1, 1) * i64::from(DAY);
    (0..last).contains(&secs).then_some(secs as u64)
}

/// `YYYY-MM-DD`, with `THH:MM[:SS]` (or a space before the time) or not: seconds since 1970,
/// UTC. Years 1970-2500.
pub fn parse_date(s: &str) -> Result<u64, String> {
    let bad = || {
        format!("`{s}` is not a date YYYY-MM-DD or YYYY-MM-DDTHH:MM[:SS] (UTC, 1970-{LAST_YEAR})")
    };
    let (date, time) = match s.split_once(['T', ' ']) {
        Some((d, t)) => (d, Some(t)),
        None => (s, None),
    };
    let p: Vec<&str> = date.split('-').collect();
    let num = |t: &str, len: usize| -> Option<i64> {
        (t.len() == len && t.bytes().all(|b| b.is_ascii_digit())).then(|| t.parse().ok())?
    };
    let [y, m, d] = p[..] else { return Err(bad()) };
    let (Some(y), Some(m), Some(d)) = (num(y, 4), num(m, 2), num(d, 2)) else {
        return Err(bad());
    };
    if !(1..=12).contains(&m) || d < 1 || d > days_in_month(y, m) {
        return Err(bad());
    }
    let t = match time {
        Some(t) => parse_daytime(t).map_err(|_| bad())?,
        None => 0,
    };
    epoch_of(y, m, d, i64::from(t)).ok_or_else(bad)
}

fn days_in_month(y: i64, m: i64) -> i64 {
    days_from_civil(y + i64::from(m == 12), m % 12 + 1, 1) - days_from_civil(y, m, 1)
}

/// Seconds since 1970 as the policy writes a date: `2025-01-01` at midnight, else
/// `2025-01-01T08:00:00`.
pub fn date_text(secs: u64) -> String {
    let days = (secs / u64::from(DAY)) as i64;
    let (y, m, d) = civil_from_days(days);
    let t = (secs % u64::from(DAY)) as u32;
    if t == 0 {
        format!("{y:04}-{m:02}-{d:02}")
    } else {
        let (h, mi, s) = (t / 3600, t / 60 % 60, t % 60);
        format!("{y:04}-{m:02}-{d:02}T{h:02}:{mi:02}:{s:02}")
    }
}

/// Whether an entry says when it matches.
pub fn has_clock(m: &More) -> bool {
    m.clock.is_some_and(|c| !c.is_always())
}

/// The day ranges that make up a set of days, each one rule's `meta day` (lo, hi, not): one
/// `!=` range where the days left out are one run, else a range per run of days. Empty for
/// every day.
pub fn day_ranges(days: u8) -> Vec<(u8, u8, bool)> {
    let runs = |mask: u8| {
        let mut out: Vec<(u8, u8)> = Vec::new();
        for d in 0..7u8 {
            if mask & (1 << d) == 0 {
                continue;
            }
            match out.last_mut() {
                Some((_, hi)) if *hi + 1 == d => *hi = d,
                _ => out.push((d, d)),
            }
        }
        out
    };
    let days = days & ALL_DAYS;
    if days == ALL_DAYS {
        return Vec::new();
    }
    match runs(ALL_DAYS & !days)[..] {
        [(lo, hi)] if runs(days).len() > 1 => vec![(lo, hi, true)],
        _ => runs(days).into_iter().map(|(l, h)| (l, h, false)).collect(),
    }
}

/// The clock matches of an entry's rules: the dates and the window in every rule, one
/// variant per range of days; `[[]]` for an entry that says nothing of time.
pub fn clock_matches(m: &More) -> Vec<Vec<Match>> {
    let Some(c) = m.clock.filter(|c| !c.is_always()) else {
        return vec![vec![]];
    };
    let mut base = Vec::new();
    if let Some(s) = c.since {
        base.push(Match::Time {
            secs: s,
            before: false,
        });
    }
    if let Some(u) = c.until {
        base.push(Match::Time {
            secs: u + 1,
            before: true,
        });
    }
    if let Some((start, stop)) = c.hours {
        base.push(if start <= stop {
            Match::Hour {
                lo: start,
                hi: stop,
                not: false,
            }
        } else {
            // past midnight: every second but those between the end and the start
            Match::Hour {
                lo: stop + 1,
                hi: start - 1,
                not: true,
            }
        });
    }
    let days = day_ranges(c.days);
    if days.is_empty() {
        return vec![base];
    }
    days.into_iter()
        .map(|(lo, hi, not)| {
            let mut v = base.clone();
            v.push(Match::Day { lo, hi, not });
            v
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_dates_and_days_read_and_print_back() {
        assert_eq!(parse_daytime("09:00"), Ok(9 * 3600));
        assert_eq!(parse_daytime("23:59:59"), Ok(DAY - 1));
        for bad in ["24:00", "9", "09:60", "09:00:60", "a:b", "09::00", "-1:00"] {
            assert!(parse_daytime(bad).is_err(), "{bad}");
        }
        assert_eq!(parse_window("22:00-06:00"), Ok((22 * 3600, 6 * 3600)));
        assert!(parse_window("00:00-23:59:59").is_err());
        assert!(parse_window("10:00-09:59:59").is_err());
        assert_eq!(parse_window("10:00-10:00"), Ok((36000, 36000)));
        assert_eq!(window_text((9 * 3600, 17 * 3600 + 30)), "09:00-17:00:30");
        assert_eq!(parse_date("1970-01-01"), Ok(0));
        assert_eq!(parse_date("2038-01-19T03:14:07"), Ok(i32::MAX as u64));
        assert_eq!(parse_date("2024-02-29 12:00"), Ok(1_709_208_000));
        for bad in [
            "2023-02-29",
            "1969-12-31",
            "2501-01-01",
            "2024-1-01",
            "2024-13-01",
        ] {
            assert!(parse_date(bad).is_err(), "{bad}");
        }
        for s in [0, 1_709_208_000, i32::MAX as u64, 1_735_689_600] {
            assert_eq!(parse_date(&date_text(s)), Ok(s));
        }
        assert_eq!(date_text(1_735_689_600), "2025-01-01");
        assert_eq!(parse_day("Mon"), Some(1));
        assert_eq!(parse_day("sunday"), Some(0));
        assert_eq!(parse_day("mo"), None);
        assert_eq!(days_names(0b011_1110), ["mon", "tue", "wed", "thu", "fri"]);
    }

    #[test]
    fn mktime_carries_months_and_days_over() {
        // month 0: the year before's December; day 0: the month before's last
        assert_eq!(epoch_of(2024, 0, 1, 0), epoch_of(2023, 12, 1, 0));
        assert_eq!(epoch_of(2024, 3, 0, 0), epoch_of(2024, 2, 29, 0));
        assert_eq!(epoch_of(2023, 2, 31, 0), epoch_of(2023, 3, 3, 0));
        assert_eq!(epoch_of(1969, 12, 31, 0), None);
    }

    #[test]
    fn days_become_the_fewest_ranges() {
        assert_eq!(day_ranges(ALL_DAYS), []);
        // Monday to Friday: one range
        assert_eq!(day_ranges(0b011_1110), [(1, 5, false)]);
        // the weekend (6 and 0): every day but Monday to Friday
        assert_eq!(day_ranges(0b100_0001), [(1, 5, true)]);
        // one day
        assert_eq!(day_ranges(1 << 3), [(3, 3, false)]);
        // Sunday, Tuesday, Thursday, Saturday: four runs, and the rest three
        assert_eq!(
            day_ranges(0b101_0101),
            [(0, 0, false), (2, 2, false), (4, 4, false), (6, 6, false)]
        );
    }

    #[test]
    fn a_window_past_midnight_is_every_second_but_the_gap() {
        let more = |c: Clock| More {
            clock: Some(c),
            ..More::default()
        };
        let c = Clock {
            hours: Some((22 * 3600, 6 * 3600)),
            ..Clock::default()
        };
        assert_eq!(
            clock_matches(&more(c)),
            [vec![Match::Hour {
                lo: 6 * 3600 + 1,
                hi: 22 * 3600 - 1,
                not: true
            }]]
        );
        let c = Clock {
            until: Some(100),
            days: 0b100_0001,
            ..Clock::default()
        };
        assert_eq!(
            clock_matches(&more(c)),
            [vec![
                Match::Time {
                    secs: 101,
                    before: true
                },
                Match::Day {
                    lo: 1,
                    hi: 5,
                    not: true
                }
            ]]
        );
        assert_eq!(clock_matches(&More::default()), [Vec::<Match>::new()]);
    }
}
