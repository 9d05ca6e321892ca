//! `hours`, `days`, `since`, `until` (when an entry matches, by the kernel's clock: nft's
//! `meta hour`, `meta day`, `meta time`; iptables' `-m time`): `hours = "09:00-17:00"` (UTC;
//! a start after the end wraps past midnight), `days = ["mon", "tue"]`, `since =
//! "2025-01-01"`, `until = "2025-12-31T18:00:00"` (UTC; a TOML date or date-time works too).

use toml::Spanned;
use toml::de::DeValue;

use super::{Checker, type_name};
use crate::core::clock;
use crate::core::model::More;

const HOURS: &str = "hours is one window of the UTC day, START-STOP: hours = \"09:00-17:00\", or hours = \"22:00-06:00\" past midnight";
const DAYS: &str =
    "days are weekdays: days = [\"mon\", \"tue\", \"wed\", \"thu\", \"fri\"] (or \"monday\", …)";
const DATES: &str = "a date is YYYY-MM-DD or YYYY-MM-DDTHH:MM[:SS], in UTC: since = \"2025-01-01\", until = \"2025-12-31T18:00:00\"";

impl Checker<'_> {
    /// `hours`, `days`, `since`, `until` into the entry's clock.
    pub(super) fn clock_key(&mut self, more: &mut More, key: &str, value: &Spanned<DeValue<'_>>) {
        let span = value.span();
        let mut c = more.clock.unwrap_or_default();
        match key {
            "hours" => {
                let DeValue::String(s) = value.get_ref() else {
                    let found = type_name(value.get_ref());
                    self.error(
                        span,
                        format!("expected a window for `hours`, found {found}"),
                        Some(HOURS.into()),
                    );
                    return;
                };
                match clock::parse_window(s) {
                    Ok(w) => c.hours = Some(w),
                    Err(why) => {
                        return self.error(span, format!("`hours`: {why}"), Some(HOURS.into()));
                    }
                }
            }
            "days" => {
                let Some(days) = self.each_once(key, value, "[\"sat\", \"sun\"]", Self::day) else {
                    return;
                };
                c.days = days.iter().fold(0, |m, d| m | 1 << d);
                if c.days == clock::ALL_DAYS {
                    self.error(
                        span,
                        "`days` lists every day of the week: it says nothing",
                        Some("leave `days` out".into()),
                    );
                    return;
                }
            }
            _ => {
                let text = match value.get_ref() {
                    DeValue::String(s) => s.to_string(),
                    DeValue::Datetime(d) => d.to_string(),
                    other => {
                        self.error(
                            span,
                            format!("expected a date for `{key}`, found {}", type_name(other)),
                            Some(DATES.into()),
                        );
                        return;
                    }
                };
                let Ok(secs) = clock::parse_date(text.strip_suffix('Z').unwrap_or(&text)) else {
                    self.error(
                        span,
                        format!("`{key}`: `{text}` is not a date statewall reads"),
                        Some(DATES.into()),
                    );
                    return;
                };
                if key == "since" {
                    c.since = Some(secs);
                } else {
                    c.until = Some(secs);
                }
                if let (Some(s), Some(u)) = (c.since, c.until)
                    && s > u
                {
                    self.error(
                        span,
                        format!(
                            "`until` ({}) is before `since` ({}): the entry would match nothing",
                            clock::date_text(u),
                            clock::date_text(s)
                        ),
                        Some("give the first moment in `since` and the last in `until`".into()),
                    );
                    return;
                }
            }
        }
        more.clock = Some(c);
    }

    fn day(&mut self, key: &str, item: &Spanned<DeValue<'_>>) -> Option<u8> {
        let found = match item.get_ref() {
            DeValue::String(s) => match clock::parse_day(s) {
                Some(d) => return Some(d),
                None => format!("`{s}`"),
            },
            other => type_name(other).to_string(),
        };
        self.error(
            item.span(),
            format!("expected a weekday in `{key}`, found {found}"),
            Some(DAYS.into()),
        );
        None
    }
}
