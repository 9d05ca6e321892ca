//! An allow's `connections`: how many connections it lets in at once, per source or in all
//! (the kernel's conntrack count: nft's `ct count over N`, iptables' `-m connlimit`).
//!
//! ```toml
//! connections = 3                                   # per source; a 4th NEW one is dropped
//! connections = { max = 3, per = "source", ipv6_prefix = 64, over = "reject" }
//! connections = { max = 200, per = "entry" }        # all sources together
//! ```

use std::ops::Range;

use toml::Spanned;
use toml::de::DeValue;

use super::limits::V6_PREFIX_DEFAULT;
use super::{Checker, Kind, type_name};
use crate::core::model::{CONN_MAX, ConnLimit, LimitPer, Over};
use crate::core::plan::CtStates;

impl Checker<'_> {
    /// An entry's `connections`: a count, or a table.
    pub(super) fn connections(&mut self, value: &Spanned<DeValue<'_>>) -> Option<ConnLimit> {
        let span = value.span();
        if self.tainted(&span) {
            return None;
        }
        let max_of = |c: &mut Self, v| c.number("max", v, 1, i64::from(CONN_MAX)).map(|n| n as u32);
        let table = match value.get_ref() {
            DeValue::Integer(_) => {
                let max = max_of(self, value)?;
                return Some(ConnLimit {
                    max,
                    per: LimitPer::Source {
                        v6_prefix: V6_PREFIX_DEFAULT,
                    },
                    over: Over::Drop,
                });
            }
            DeValue::Table(t) => t,
            other => {
                self.error(
                    span,
                    format!("expected a number or a table for `connections`, found {}", type_name(other)),
                    Some("write connections = 3 (at most 3 at once from each source), or connections = { max = 3, per = \"source\", over = \"reject\" }".into()),
                );
                return None;
            }
        };
        let (mut max, mut per_source, mut prefix, mut over) = (None, true, None, Over::Drop);
        let mut ok = true;
        let mut prefix_span = None;
        for (k, v) in table.iter() {
            match k.get_ref().as_ref() {
                "max" => {
                    max = max_of(self, v);
                    ok &= max.is_some();
                }
                "per" => match self.choice("per", v, &["source", "entry"]) {
                    Some(p) => per_source = p == "source",
                    None => ok = false,
                },
                "ipv6_prefix" => {
                    prefix = self.number("ipv6_prefix", v, 1, 128);
                    prefix_span = Some(k.span());
                    ok &= prefix.is_some();
                }
                "over" => match self.choice("over", v, &["drop", "reject", "port-unreachable"]) {
                    Some(o) => {
                        over = match o {
                            "drop" => Over::Drop,
                            "reject" => Over::Reject,
                            _ => Over::PortUnreachable,
                        }
                    }
                    None => ok = false,
                },
                other => {
                    let help = match other {
                        "limit" | "count" | "above" | "connlimit_above" => {
                            format!("did you mean `max`? (`{other}` is not a key of `connections`)")
                        }
                        "mask" | "prefix" => "did you mean `ipv6_prefix`?".to_string(),
                        _ => "`connections` has max, per, ipv6_prefix and over".to_string(),
                    };
                    self.error(
                        k.span(),
                        format!("unknown key `{other}` in `connections`"),
                        Some(help),
                    );
                    ok = false;
                }
            }
        }
        if let (Some(s), false) = (prefix_span, per_source) {
            self.error(
                s,
                "`ipv6_prefix` with per = \"entry\"",
                Some("it says how much of an IPv6 source counts as one source: remove it, or count per = \"source\"".into()),
            );
            ok = false;
        }
        let Some(max) = max else {
            if ok {
                self.error(
                    span,
                    "this `connections` has no `max`",
                    Some("add max = 3 (at most 3 connections at once)".into()),
                );
            }
            return None;
        };
        if !ok {
            return None;
        }
        let per = if per_source {
            LimitPer::Source {
                v6_prefix: prefix.map_or(V6_PREFIX_DEFAULT, |p| p as u8),
            }
        } else {
            LimitPer::Entry
        };
        Some(ConnLimit { max, per, over })
    }

    /// `connections` is an allow's, and counts the NEW connections it lets in: refused on a
    /// reject or a block, and on an allow whose `state` leaves NEW out.
    pub(super) fn connections_fit(
        &mut self,
        kind: Kind,
        state: Option<CtStates>,
        at: Range<usize>,
    ) {
        if kind != Kind::Allow {
            self.error(
                at,
                format!("`connections` on a {} entry", kind.key()),
                Some(format!("only an allow counts the connections it lets in: a {} lets none in; put `connections` on the [[allow]] of these packets (a NEW connection beyond the count gets its `over`)", kind.key())),
            );
            return;
        }
        if state.is_some_and(|s| s.0 & CtStates::NEW == 0) {
            self.error(
                at,
                "`connections` on an allow that matches no NEW connection",
                Some("it refuses a NEW connection beyond the count, and this allow's `state` leaves NEW out: add \"new\" to `state`, or remove `connections`".into()),
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use crate::core::model::{ConnLimit, LimitPer, Over};
    use crate::core::policy::parse;

    #[test]
    fn connections_become_the_allow_s_count() {
        let (p, d) = parse(
            "[[allow]]\nname = \"ssh\"\ntcp = [22]\nconnections = 3\n\
             [[allow]]\nname = \"web\"\ntcp = [80]\n\
             connections = { max = 200, per = \"entry\", over = \"reject\" }\n\
             [[allow]]\nname = \"imap\"\ntcp = [993]\n\
             connections = { max = 10, ipv6_prefix = 56, over = \"port-unreachable\" }\n",
        );
        let p = p.unwrap_or_else(|| panic!("{d:?}"));
        let per = |v6_prefix| LimitPer::Source { v6_prefix };
        let c = |i: usize| p.allow[i].more.connections;
        assert_eq!(
            c(0),
            Some(ConnLimit {
                max: 3,
                per: per(64),
                over: Over::Drop
            })
        );
        assert_eq!(
            c(1),
            Some(ConnLimit {
                max: 200,
                per: LimitPer::Entry,
                over: Over::Reject
            })
        );
        assert_eq!(
            c(2),
            Some(ConnLimit {
                max: 10,
                per: per(56),
                over: Over::PortUnreachable
            })
        );
    }

    #[test]
    fn every_problem_of_connections_is_reported_at_its_place() {
        let src = "[[allow]]\nname = \"a\"\ntcp = [22]\n\
                   connections = { max = 0, per = \"host\", over = \"continue\" }\n\
                   [[allow]]\nname = \"b\"\ntcp = [23]\nconnections = { per = \"entry\", ipv6_prefix = 64 }\n\
                   [[allow]]\nname = \"c\"\ntcp = [24]\nconnections = \"3\"\n\
                   [[reject]]\nname = \"d\"\ntcp = [25]\nconnections = 3\n\
                   [[allow]]\nname = \"e\"\ntcp = [26]\nconnections = { count = 3 }\n";
        let (p, d) = parse(src);
        assert!(p.is_none());
        let msgs: Vec<String> = d.iter().map(|d| d.message.clone()).collect();
        assert_eq!(msgs.len(), 7, "{msgs:#?}");
        for want in [
            "`max` must be a whole number from 1 to 65535",
            "`per` is one of",
            "`over` is one of \"drop\", \"reject\", \"port-unreachable\"",
            "`ipv6_prefix` with per = \"entry\"",
            "expected a number or a table for `connections`, found",
            "`connections` on a reject entry",
            "unknown key `count` in `connections`",
        ] {
            assert!(msgs.iter().any(|m| m.contains(want)), "{want}: {msgs:#?}");
        }
    }
}
