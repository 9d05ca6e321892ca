//! iptables' rates (`--limit`, `--hashlimit-upto`, and their bursts) as statewall's.

use super::extra::LimitOpts;
use super::xtcheck::leading_number;
use crate::core::model::{RATE_MAX, Rate};

/// iptables' `--limit` (`N/sec`, `N/minute`, …; 3/hour unless said) and `--limit-burst` (5
/// unless said) as statewall's rate and burst; Err with why.
pub(super) fn iptables_rate(l: &LimitOpts) -> Result<(String, u32), String> {
    let text = l.rate.as_deref().unwrap_or("3/hour");
    if let Some(o) = l.other.first() {
        return Err(format!(
            "{o}: statewall limits packets per rule or per source address"
        ));
    }
    // hashlimit's burst as strtoull reads it (`1.0` is 1); limit's xtcheck.rs read whole
    let burst = match l.burst.as_deref() {
        None => 5,
        Some(b) => match leading_number(b).and_then(|n| u32::try_from(n).ok()) {
            Some(n) if (1..=RATE_MAX).contains(&n) => n,
            _ => {
                return Err(format!(
                    "--limit-burst `{b}` is not a burst statewall keeps (1 to {RATE_MAX})"
                ));
            }
        },
    };
    let (n, unit) = text.split_once('/').unwrap_or((text, "second"));
    // the number as atoi reads it (`+5` is 5, `5.5` too: iptables-save says 5/sec); what
    // atoi cannot read, xtcheck.rs refused already
    let digits = leading_number(n).map(|d| d.to_string());
    let n = digits.as_deref().unwrap_or(n);
    // as iptables reads it: the start of second, minute, hour or day, in any case (`5/MIN`,
    // `5/se`; not `5/hr`)
    let lower = unit.to_ascii_lowercase();
    let unit = [
        ("second", "s"),
        ("minute", "minute"),
        ("hour", "hour"),
        ("day", "day"),
    ]
    .into_iter()
    .find(|(word, _)| !lower.is_empty() && word.starts_with(&lower))
    .map(|(_, u)| u)
    .ok_or_else(|| format!("--limit `{text}`: unit `{unit}` is not second, minute, hour or day"))?;
    let rate = format!("{n}/{unit}");
    Rate::parse(&rate).map_err(|e| format!("--limit `{text}`: {e}"))?;
    Ok((rate, burst))
}

#[cfg(test)]
mod tests {
    use super::iptables_rate;
    use crate::core::import::extra::LimitOpts;

    /// Units as iptables 1.8.9 reads them (what iptables-save printed for each, in a
    /// namespace): the start of second, minute, hour or day, in any case; none is per second.
    #[test]
    fn rate_units_are_read_as_iptables_reads_them() {
        let rate = |r: &str| {
            let l = LimitOpts {
                rate: Some(r.into()),
                ..LimitOpts::default()
            };
            iptables_rate(&l).map(|(rate, _)| rate)
        };
        for (text, want) in [
            ("5/MIN", "5/minute"),
            ("5/se", "5/s"),
            ("5/mi", "5/minute"),
            ("5/hou", "5/hour"),
            ("5/d", "5/day"),
            ("5/Second", "5/s"),
            ("5", "5/s"),
            // atoi's number: iptables-save says 5/sec
            ("5.5/s", "5/s"),
            ("+5/min", "5/minute"),
        ] {
            assert_eq!(rate(text).as_deref(), Ok(want), "{text}");
        }
        for text in ["5/hr", "5/minutes", "5/"] {
            assert!(rate(text).is_err(), "{text}");
        }
    }
}
