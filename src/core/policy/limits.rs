//! The keys of rate limits and logging: an entry's `limit` and `log`, a section's
//! `log_final`, `published` (the original destination ports of DNAT'ed connections) and
//! `dnat` (only DNAT'ed connections, whatever their ports).
//!
//! ```toml
//! limit = "6/30s"                        # one bucket per family for the entry; what exceeds is dropped
//! limit = { rate = "6/30s", per = "source", burst = 6, ipv6_prefix = 64, over = "drop" }
//! limit = { rate = "30/minute", per = "source", over = "continue", counts = "protocol" }
//! log = true                             # "statewall <name>: ", level warn, 5/minute
//! log = { prefix = "ssh: ", level = "info", limit = "10/minute", burst = 5 }
//! log = { group = 2 }                    # to nflog group 2 (ulogd) instead of the kernel log
//! ```

use toml::Spanned;
use toml::de::DeValue;

use super::live::valid_set_name;
use super::{Checker, type_name};
use crate::core::model::{
    LIMITS_MAX, LOG_LEVELS, LOG_PREFIX_MAX, LOG_RATE_DEFAULT, Limit, LimitPer, Log, LogDest, Over,
    RATE_MAX, Rate,
};
use crate::core::plan::LiveName;

/// The default IPv6 prefix a per-source limit counts as one source.
pub(crate) const V6_PREFIX_DEFAULT: u8 = 64;

impl LimitPer {
    /// Per source: IPv4 sources by their first `v4` bits (None: whole addresses), IPv6
    /// sources by their first `v6` bits (None: statewall's default, a /64).
    pub fn source(v4: Option<u8>, v6: Option<u8>) -> LimitPer {
        LimitPer::Source {
            v4_prefix: v4.unwrap_or(32),
            v6_prefix: v6.unwrap_or(V6_PREFIX_DEFAULT),
        }
    }
}

impl Checker<'_> {
    /// A rate string (`"6/30s"`), or an error at it.
    fn rate(&mut self, key: &str, value: &Spanned<DeValue<'_>>) -> Option<Rate> {
        let span = value.span();
        let Some(s) = value.get_ref().as_str() else {
            self.error(
                span,
                format!(
                    "expected a rate string for `{key}`, found {}",
                    type_name(value.get_ref())
                ),
                Some(format!("write e.g. {key} = \"6/30s\" (6 per 30 seconds)")),
            );
            return None;
        };
        match Rate::parse(s) {
            Ok(r) => Some(r),
            Err(why) => {
                self.error(span, format!("invalid rate: {why}"), None);
                None
            }
        }
    }

    /// `ipv4_prefix` (1-32) or `ipv6_prefix` (1-128) of a per-source limit or count, into
    /// `prefixes` (IPv4's, IPv6's); false after an error at it.
    pub(super) fn source_prefix(
        &mut self,
        key: &str,
        value: &Spanned<DeValue<'_>>,
        prefixes: &mut (Option<u8>, Option<u8>),
    ) -> bool {
        let v4 = key == "ipv4_prefix";
        let n = self.number(key, value, 1, if v4 { 32 } else { 128 });
        let slot = if v4 { &mut prefixes.0 } else { &mut prefixes.1 };
        *slot = n.map(|n| n as u8);
        n.is_some()
    }

    /// A whole number in `lo..=hi`, or an error at it.
    pub(super) fn number(
        &mut self,
        key: &str,
        value: &Spanned<DeValue<'_>>,
        lo: i64,
        hi: i64,
    ) -> Option<i64> {
        let span = value.span();
        let n = match value.get_ref() {
            DeValue::Integer(i) => i64::from_str_radix(i.as_str(), i.radix()).ok(),
            _ => None,
        };
        match n {
            Some(n) if (lo..=hi).contains(&n) => Some(n),
            _ => {
                self.error(
                    span,
                    format!("`{key}` must be a whole number from {lo} to {hi}"),
                    None,
                );
                None
            }
        }
    }

    /// A string among `choices`, or an error at it.
    pub(super) fn choice<'c>(
        &mut self,
        key: &str,
        value: &Spanned<DeValue<'_>>,
        choices: &[&'c str],
    ) -> Option<&'c str> {
        let found = value
            .get_ref()
            .as_str()
            .and_then(|s| choices.iter().find(|c| **c == s).copied());
        if found.is_none() {
            self.error(
                value.span(),
                format!("`{key}` is one of {}", quoted(choices)),
                None,
            );
        }
        found
    }

    /// An entry's `limit`: one, or a list of them (each its own rule, in order).
    pub(super) fn limit(&mut self, value: &Spanned<DeValue<'_>>) -> Option<Vec<Limit>> {
        let span = value.span();
        if self.tainted(&span) {
            return None;
        }
        let DeValue::Array(items) = value.get_ref() else {
            return self.one_limit(value).map(|l| vec![l]);
        };
        if items.is_empty() || items.len() > LIMITS_MAX {
            self.error(
                span,
                format!("`limit` lists 1 to {LIMITS_MAX} limits, this one {}", items.len()),
                Some("write one limit, limit = \"6/30s\", or several that a connection must all be within: limit = [{ rate = \"3/10s\", per = \"source\" }, { rate = \"4/30m\", per = \"source\" }]".into()),
            );
            return None;
        }
        let limits: Vec<Option<Limit>> = items.iter().map(|v| self.one_limit(v)).collect();
        let limits: Vec<Limit> = limits.into_iter().collect::<Option<_>>()?;
        if limits.len() > 1
            && let Some(i) = limits
                .iter()
                .position(|l| l.over == Over::Continue || l.within_continues)
        {
            self.error(
                items[i].span(),
                "`over = \"continue\"` or `within = \"continue\"` in a list of limits",
                Some("a limit whose overflow goes on sits in the entry's own rule, and several there would each take tokens for packets another one refuses: give such an entry one limit".into()),
            );
            return None;
        }
        Some(limits)
    }

    /// One limit of an entry's `limit`.
    fn one_limit(&mut self, value: &Spanned<DeValue<'_>>) -> Option<Limit> {
        let span = value.span();
        let table = match value.get_ref() {
            DeValue::String(_) => {
                let rate = self.rate("limit", value)?;
                return Some(Limit {
                    rate,
                    per: LimitPer::Entry,
                    over: Over::Drop,
                    within_continues: false,
                    shared: None,
                    forget: None,
                    early: false,
                });
            }
            DeValue::Table(t) => t,
            other => {
                self.error(
                    span,
                    format!("expected a rate, a table or a list of them for `limit`, found {}", type_name(other)),
                    Some("write limit = \"6/30s\", or limit = { rate = \"6/30s\", per = \"source\" }, or a list of them".into()),
                );
                return None;
            }
        };
        let (mut rate, mut burst, mut per_source, mut over) = (None, None, false, Over::Drop);
        let mut prefixes = (None, None);
        let mut ok = true;
        let mut prefix_span = None;
        let (mut within_continues, mut over_span) = (false, None);
        let mut shared = None;
        let mut forget = None;
        let mut early = false;
        for (k, v) in table.iter() {
            match k.get_ref().as_ref() {
                "counts" => match self.choice("counts", v, &["entry", "protocol"]) {
                    Some(c) => early = c == "protocol",
                    None => ok = false,
                },
                "forget" => {
                    forget = self.forget(v);
                    ok &= forget.is_some();
                }
                "meter" => {
                    shared = self.meter_name(v);
                    ok &= shared.is_some();
                }
                "rate" => {
                    rate = self.rate("rate", v);
                    ok &= rate.is_some();
                }
                "burst" => {
                    burst = self.number("burst", v, 1, i64::from(RATE_MAX));
                    ok &= burst.is_some();
                }
                "per" => match self.choice("per", v, &["source", "entry"]) {
                    Some(p) => per_source = p == "source",
                    None => ok = false,
                },
                key @ ("ipv4_prefix" | "ipv6_prefix") => {
                    ok &= self.source_prefix(key, v, &mut prefixes);
                    prefix_span = Some((key, k.span()));
                }
                "within" => match self.choice("within", v, &["continue"]) {
                    Some(_) => within_continues = true,
                    None => ok = false,
                },
                "over" => match self.choice(
                    "over",
                    v,
                    &["drop", "reject", "port-unreachable", "continue"],
                ) {
                    Some(o) => {
                        over_span = Some(k.span());
                        over = match o {
                            "drop" => Over::Drop,
                            "reject" => Over::Reject,
                            "continue" => Over::Continue,
                            _ => Over::PortUnreachable,
                        }
                    }
                    None => ok = false,
                },
                other => {
                    self.error(
                        k.span(),
                        format!("unknown key `{other}` in `limit`"),
                        Some("a limit has rate, per, burst, ipv4_prefix, ipv6_prefix, meter, forget, over, counts and (blocks and rejects) within".into()),
                    );
                    ok = false;
                }
            }
        }
        if let (Some((key, s)), false) = (prefix_span, per_source) {
            self.error(
                s,
                format!("`{key}` without per = \"source\""),
                Some(format!("it says how much of an {} source counts as one source: add per = \"source\", or remove it", if key == "ipv4_prefix" { "IPv4" } else { "IPv6" })),
            );
            ok = false;
        }
        let Some(mut rate) = rate.take() else {
            if ok {
                self.error(
                    span,
                    "this `limit` has no rate",
                    Some("add rate = \"6/30s\" (6 per 30 seconds)".into()),
                );
            }
            return None;
        };
        if !ok {
            return None;
        }
        if let Some(b) = burst {
            rate.burst = b as u32;
        }
        let per = if per_source {
            LimitPer::source(prefixes.0, prefixes.1)
        } else {
            LimitPer::Entry
        };
        if within_continues && over_span.is_some() {
            self.error(
                over_span.unwrap_or_default(),
                "`over` with `within = \"continue\"`",
                Some("with within = \"continue\" the entry takes only what exceeds the rate, and gives it the entry's own verdict (a block's drop or `with`, a reject's answer): remove `over`".into()),
            );
            return None;
        }
        Some(Limit {
            rate,
            per,
            over,
            within_continues,
            shared,
            forget,
            early,
        })
    }

    /// `forget = "10s"`: how long a source's bucket outlives its last packet.
    fn forget(&mut self, value: &Spanned<DeValue<'_>>) -> Option<u64> {
        let parsed = match value.get_ref() {
            DeValue::String(s) => crate::core::model::parse_duration(s),
            other => Err(format!(
                "expected a duration such as \"60s\", found {}",
                type_name(other)
            )),
        };
        match parsed {
            Ok(secs) => Some(secs),
            Err(why) => {
                self.error(
                    value.span(),
                    format!("invalid `forget`: {why}"),
                    Some("write how long a source may be idle before its bucket is forgotten and it starts again with a full burst, e.g. forget = \"60s\" (iptables' --hashlimit-htable-expire); leave it out to forget a bucket once it is full again".into()),
                );
                None
            }
        }
    }

    /// Entries whose limits name one meter share its buckets, so they must count alike: the
    /// same rate and burst, the same IPv6 prefix, and all taking what exceeds the rate (or
    /// all what is within it) — a bucket keeps the limit of the rule that made it. Each that
    /// differs from the first is an error at its `limit`.
    pub(super) fn shared_meters_agree(&mut self, entries: &[super::Entry]) {
        let mut first: std::collections::HashMap<LiveName, (Limit, usize)> = Default::default();
        // in the file's order (the entries come by kind)
        let mut limited: Vec<_> = entries
            .iter()
            .filter_map(|e| e.limit_span.as_ref().map(|s| (s, e)))
            .filter(|(_, e)| e.more.limit.iter().any(|l| l.shared.is_some()))
            .collect();
        limited.sort_by_key(|(s, _)| s.start);
        for (span, e) in limited {
            for l in &e.more.limit {
                let Some(name) = l.shared else { continue };
                let takes_excess = |l: &Limit| l.within_continues || l.over != Over::Continue;
                let Some((f, at)) = first.get(&name).copied() else {
                    first.insert(name, (*l, span.start));
                    continue;
                };
                let r = (l.rate.n, l.rate.unit, l.rate.burst);
                if r == (f.rate.n, f.rate.unit, f.rate.burst)
                    && l.per == f.per
                    && l.forget == f.forget
                    && takes_excess(l) == takes_excess(&f)
                {
                    continue;
                }
                let line = self.line_of(&(at..at));
                self.error(
                    span.clone(),
                    format!("meter \"{name}\" counts otherwise at line {line}"),
                    Some(format!(
                        "the entries naming a meter share its buckets, so they count alike: rate {} (burst {}), {}, {}{}; write the same here, or name another meter",
                        crate::core::model::Rate { burst: 5, ..f.rate },
                        f.rate.burst,
                        match f.per {
                            LimitPer::Source { v4_prefix, v6_prefix } => format!("ipv4_prefix = {v4_prefix}, ipv6_prefix = {v6_prefix}"),
                            LimitPer::Entry => "per entry".into(),
                        },
                        if takes_excess(&f) { "taking what exceeds the rate" } else { "over = \"continue\"" },
                        f.forget.map(|s| format!(", forget = \"{s}s\"")).unwrap_or_default()
                    )),
                );
            }
        }
    }

    /// A limit's `meter = "NAME"`: the name of a meter entries share.
    fn meter_name(&mut self, value: &Spanned<DeValue<'_>>) -> Option<LiveName> {
        let name = value.get_ref().as_str().filter(|s| valid_set_name(s));
        match name.and_then(LiveName::new) {
            Some(n) => Some(n),
            None => {
                self.error(
                    value.span(),
                    "expected a meter name for `meter`",
                    Some(format!(
                        "a meter name is 1-{} characters of A-Z a-z 0-9 _ . -, starting with a letter or digit; the entries whose limits name it share its buckets",
                        LiveName::MAX
                    )),
                );
                None
            }
        }
    }

    /// `dnat = true`: the entry matches only connections the kernel DNAT'ed (a port forward,
    /// a container's published port), to any port. `false` is refused: it would read as
    /// "connections nobody DNAT'ed", which statewall does not match.
    pub(super) fn dnat(&mut self, value: &Spanned<DeValue<'_>>) -> bool {
        match value.get_ref() {
            DeValue::Boolean(true) => true,
            other => {
                let found = match other {
                    DeValue::Boolean(_) => "false".to_string(),
                    o => type_name(o).to_string(),
                };
                self.error(
                    value.span(),
                    format!("expected true for `dnat`, found {found}"),
                    Some("write dnat = true for the connections the kernel DNAT'ed (iptables' `--ctstate DNAT`), or leave the key out for every connection".into()),
                );
                false
            }
        }
    }

    /// An entry's `log`, or a section's `log_final` (`key`): None for `false` or an error.
    pub(super) fn log(&mut self, key: &str, value: &Spanned<DeValue<'_>>) -> Option<Log> {
        let span = value.span();
        if self.tainted(&span) {
            return None;
        }
        let mut log = Log {
            prefix: None,
            dest: LogDest::Level(4),
            rate: LOG_RATE_DEFAULT,
        };
        let table = match value.get_ref() {
            DeValue::Boolean(true) => return Some(log),
            DeValue::Boolean(false) => return None,
            DeValue::Table(t) => t,
            other => {
                self.error(
                    span,
                    format!("expected true or a table for `{key}`, found {}", type_name(other)),
                    Some(format!("write {key} = true, or {key} = {{ prefix = \"dropped: \", level = \"info\" }}")),
                );
                return None;
            }
        };
        let mut ok = true;
        let (mut level, mut group, mut burst) = (None, None, None);
        for (k, v) in table.iter() {
            match k.get_ref().as_ref() {
                "prefix" => match v.get_ref().as_str() {
                    Some(p) if prefix_ok(p) => log.prefix = Some(p.to_string()),
                    _ => {
                        self.error(
                            v.span(),
                            format!("a log prefix is a string of 1 to {LOG_PREFIX_MAX} printable ASCII characters without `\"` or `\\`"),
                            None,
                        );
                        ok = false;
                    }
                },
                "level" => match self.choice("level", v, &LOG_LEVELS) {
                    Some(l) => {
                        level = LOG_LEVELS
                            .iter()
                            .position(|x| *x == l)
                            .map(|i| (i as u8, k.span()))
                    }
                    None => ok = false,
                },
                "group" => match self.number("group", v, 0, i64::from(u16::MAX)) {
                    Some(g) => group = Some((g as u16, k.span())),
                    None => ok = false,
                },
                "limit" => match self.rate("limit", v) {
                    Some(r) => {
                        log.rate = Rate {
                            burst: burst.unwrap_or(r.burst),
                            ..r
                        }
                    }
                    None => ok = false,
                },
                "burst" => match self.number("burst", v, 1, i64::from(RATE_MAX)) {
                    Some(b) => {
                        burst = Some(b as u32);
                        log.rate.burst = b as u32;
                    }
                    None => ok = false,
                },
                other => {
                    self.error(
                        k.span(),
                        format!("unknown key `{other}` in `{key}`"),
                        Some("a log has prefix, level or group, limit and burst".into()),
                    );
                    ok = false;
                }
            }
        }
        match (level, group) {
            (Some(_), Some((_, gspan))) => {
                self.error(
                    gspan,
                    "a log goes to the kernel log at a `level` or to an nflog `group`, not both",
                    Some("remove one of the two".into()),
                );
                ok = false;
            }
            (Some((l, _)), None) => log.dest = LogDest::Level(l),
            (None, Some((g, _))) => log.dest = LogDest::Group(g),
            (None, None) => {}
        }
        ok.then_some(log)
    }
}

fn prefix_ok(p: &str) -> bool {
    (1..=LOG_PREFIX_MAX).contains(&p.len())
        && p.bytes()
            .all(|b| (0x20..0x7f).contains(&b) && b != b'"' && b != b'\\')
}

fn quoted(choices: &[&str]) -> String {
    choices
        .iter()
        .map(|c| format!("\"{c}\""))
        .collect::<Vec<_>>()
        .join(", ")
}

#[cfg(test)]
mod tests {
    use crate::core::model::{LimitPer, LogDest, Over, Rate, RateUnit};
    use crate::core::policy::parse;

    #[test]
    fn rates_are_kept_as_nft_shows_them() {
        let r = |s| Rate::parse(s);
        let rate = |n, unit, burst| Ok(Rate { n, unit, burst });
        assert_eq!(r("6/30s"), rate(12, RateUnit::Minute, 6));
        assert_eq!(r("5/minute"), rate(5, RateUnit::Minute, 5));
        assert_eq!(r("100/s"), rate(100, RateUnit::Second, 100));
        assert_eq!(r("1/90s"), rate(40, RateUnit::Hour, 1));
        assert_eq!(r("7/1w"), rate(1, RateUnit::Day, 7));
        for bad in ["", "6", "0/s", "6/0s", "6/x", "a/s", "6/11s", "2000000/s"] {
            assert!(r(bad).is_err(), "{bad}");
        }
        assert_eq!(r("6/30s").unwrap().refill_secs(), 30);
    }

    #[test]
    fn limit_and_log_keys_become_the_entry() {
        let (p, d) = parse(
            "log_final = { prefix = \"in drop: \", limit = \"3/minute\" }\n\
             [[allow]]\nname = \"ssh\"\ntcp = [22]\n\
             limit = { rate = \"6/30s\", per = \"source\", ipv6_prefix = 56, over = \"reject\" }\n\
             log = { level = \"info\" }\n\
             [[allow]]\nname = \"web\"\ntcp = [80]\nlimit = \"100/s\"\nlog = true\n",
        );
        let p = p.unwrap_or_else(|| panic!("{d:?}"));
        let ssh = p.allow[0].more.limit[0];
        assert_eq!(ssh.per, LimitPer::source(None, Some(56)));
        assert_eq!(ssh.over, Over::Reject);
        assert_eq!(
            p.allow[0].more.log.as_ref().unwrap().dest,
            LogDest::Level(6)
        );
        assert_eq!(p.allow[1].more.limit[0].per, LimitPer::Entry);
        let fin = p.log_final.unwrap();
        assert_eq!(fin.prefix.as_deref(), Some("in drop: "));
        assert_eq!(fin.rate.n, 3);
    }

    #[test]
    fn a_limit_of_the_whole_entry_over_two_protocols_says_nothing_and_may_name_a_meter() {
        // one bucket per family, whichever of the entry's rules a packet meets: nothing to warn
        let src = "[[allow]]\nname = \"h3\"\ntcp = [443]\nudp = [443]\nlimit = \"100/s\"\n\
                   [[allow]]\nname = \"a\"\ntcp = [80]\nlimit = { rate = \"5/s\", meter = \"web\" }\n\
                   [[allow]]\nname = \"b\"\nudp = [80]\nlimit = { rate = \"5/s\", meter = \"web\" }\n";
        let (p, d) = parse(src);
        let p = p.unwrap_or_else(|| panic!("{d:?}"));
        assert!(d.is_empty(), "{d:#?}");
        let l = &p.allow[1].more.limit[0];
        assert_eq!(
            (l.per, l.shared.map(|s| s.as_str().to_string())),
            (LimitPer::Entry, Some("web".into()))
        );
    }

    #[test]
    fn entries_naming_one_meter_share_it_and_must_count_alike() {
        let ok = "[[block]]\nname = \"a\"\nudp = [53]\n\
                  limit = { rate = \"15/s\", burst = 10, per = \"source\", meter = \"dns\", within = \"continue\" }\n\
                  [[reject]]\nname = \"b\"\ntcp = [53]\n\
                  limit = { rate = \"15/s\", burst = 10, per = \"source\", meter = \"dns\", within = \"continue\" }\n";
        let (p, d) = parse(ok);
        let p = p.unwrap_or_else(|| panic!("{d:?}"));
        let shared = |l: &crate::core::model::Limit| l.shared.map(|s| s.as_str().to_string());
        assert_eq!(
            shared(&p.block[0].service.more.limit[0]).as_deref(),
            Some("dns")
        );
        assert_eq!(
            shared(&p.reject[0].service.more.limit[0]).as_deref(),
            Some("dns")
        );
        // another burst, another way (what is within), the entry as a whole, a bad name
        let bad = "[[block]]\nname = \"a\"\nudp = [53]\n\
                   limit = { rate = \"15/s\", burst = 10, per = \"source\", meter = \"dns\", within = \"continue\" }\n\
                   [[block]]\nname = \"b\"\ntcp = [53]\n\
                   limit = { rate = \"15/s\", per = \"source\", meter = \"dns\", within = \"continue\" }\n\
                   [[allow]]\nname = \"c\"\ntcp = [54]\n\
                   limit = { rate = \"15/s\", burst = 10, per = \"source\", meter = \"dns\", over = \"continue\" }\n\
                   [[block]]\nname = \"d\"\ntcp = [55]\n\
                   limit = { rate = \"15/s\", burst = 10, meter = \"dns\", within = \"continue\" }\n\
                   [[allow]]\nname = \"e\"\ntcp = [56]\n\
                   limit = { rate = \"1/s\", per = \"source\", meter = \"a b\" }\n\
                   [[block]]\nname = \"f\"\nudp = [57]\n\
                   limit = { rate = \"15/s\", burst = 10, per = \"source\", meter = \"dns\", within = \"continue\", forget = \"1s\" }\n";
        let (p, d) = parse(bad);
        assert!(p.is_none());
        let msgs: Vec<(u32, &str)> = d.iter().map(|d| (d.loc.line, d.message.as_str())).collect();
        assert_eq!(
            msgs,
            [
                (8, "meter \"dns\" counts otherwise at line 4"),
                (12, "meter \"dns\" counts otherwise at line 4"),
                (16, "meter \"dns\" counts otherwise at line 4"),
                (20, "expected a meter name for `meter`"),
                (24, "meter \"dns\" counts otherwise at line 4"),
            ],
        );
    }

    #[test]
    fn an_ipv4_network_counts_as_one_source_where_ipv4_prefix_says() {
        let (p, d) = parse(
            "[[allow]]\nname = \"dns\"\nudp = [53]\n\
             limit = { rate = \"30/minute\", per = \"source\", ipv4_prefix = 24 }\n\
             connections = { max = 9, ipv4_prefix = 16, ipv6_prefix = 48 }\n",
        );
        let p = p.unwrap_or_else(|| panic!("{d:?}"));
        let dns = &p.allow[0].more;
        assert_eq!(dns.limit[0].per, LimitPer::source(Some(24), None));
        let conn = dns.connections.expect("connections");
        assert_eq!(conn.per, LimitPer::source(Some(16), Some(48)));
        let bad = "[[allow]]\nname = \"a\"\ntcp = [22]\n\
                   limit = { rate = \"1/s\", ipv4_prefix = 24 }\n\
                   [[allow]]\nname = \"b\"\ntcp = [23]\n\
                   limit = { rate = \"1/s\", per = \"source\", ipv4_prefix = 33 }\n\
                   [[allow]]\nname = \"c\"\ntcp = [24]\n\
                   connections = { max = 3, per = \"entry\", ipv4_prefix = 24 }\n";
        let (p, d) = parse(bad);
        assert!(p.is_none());
        let msgs: Vec<(u32, &str)> = d.iter().map(|d| (d.loc.line, d.message.as_str())).collect();
        assert_eq!(
            msgs,
            [
                (4, "`ipv4_prefix` without per = \"source\""),
                (8, "`ipv4_prefix` must be a whole number from 1 to 32"),
                (12, "`ipv4_prefix` with per = \"entry\""),
            ],
        );
    }

    #[test]
    fn every_problem_of_limit_and_log_is_reported_at_its_place() {
        let src = "[[allow]]\nname = \"a\"\ntcp = [22]\n\
                   limit = { rate = \"6/11s\", per = \"host\", burst = 0 }\n\
                   log = { level = \"loud\", prefix = \"say \\\"hi\\\"\" }\n\
                   [[allow]]\nname = \"b\"\ntcp = [23]\nlimit = { ipv6_prefix = 64 }\n\
                   log = { level = \"info\", group = 1 }\n";
        let (p, d) = parse(src);
        assert!(p.is_none());
        let msgs: Vec<String> = d.iter().map(|d| d.message.clone()).collect();
        assert_eq!(msgs.len(), 7, "{msgs:#?}");
        assert!(
            msgs.iter()
                .any(|m| m.contains("no whole number of packets")),
            "{msgs:?}"
        );
        assert!(msgs.iter().any(|m| m.contains("`per` is one of")));
        assert!(msgs.iter().any(|m| m.contains("`burst` must be")));
        assert!(msgs.iter().any(|m| m.contains("`level` is one of")));
        assert!(msgs.iter().any(|m| m.contains("log prefix")));
        assert!(msgs.iter().any(|m| m.contains("without per = \"source\"")));
        assert!(msgs.iter().any(|m| m.contains("not both")));
    }
}
