//! An entry's `connections`: how many connections an allow lets in at once, per source or
//! in all (the kernel's conntrack count: nft's `ct count over N`, iptables' `-m connlimit`).
//!
//! ```toml
//! connections = 3                                   # per source; a 4th NEW one is dropped
//! connections = { max = 3, per = "source", ipv6_prefix = 64, over = "reject" }
//! connections = { max = 200, per = "entry" }        # all sources together
//! ```
//!
//! On a block or a reject, `within = "continue"`: the entry takes only the packets of a
//! source with more connections than `max` (its own counted), and the rest go on — iptables'
//! `-m connlimit --connlimit-above N -j DROP` where no ACCEPT of the same packets follows.
//!
//! ```toml
//! connections = { max = 50, within = "continue" }   # a block of sources beyond 50
//! ```

use std::ops::Range;

use toml::Spanned;
use toml::de::DeValue;

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
                    per: LimitPer::source(None, None),
                    over: Over::Drop,
                    within_continues: false,
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
        let (mut max, mut per_source, mut over) = (None, true, Over::Drop);
        let mut prefixes = (None, None);
        let mut ok = true;
        let mut prefix_span = None;
        let (mut within_continues, mut over_span) = (false, None);
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
                key @ ("ipv4_prefix" | "ipv6_prefix") => {
                    ok &= self.source_prefix(key, v, &mut prefixes);
                    prefix_span = Some((key, k.span()));
                }
                "within" => match self.choice("within", v, &["continue"]) {
                    Some(_) => within_continues = true,
                    None => ok = false,
                },
                "over" => match self.choice("over", v, &["drop", "reject", "port-unreachable"]) {
                    Some(o) => {
                        over_span = Some(k.span());
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
                        "mask" | "prefix" => "did you mean `ipv4_prefix` or `ipv6_prefix`?".to_string(),
                        _ => "`connections` has max, per, ipv4_prefix, ipv6_prefix, over and (blocks and rejects) within".to_string(),
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
        if let (Some((key, s)), false) = (prefix_span, per_source) {
            self.error(
                s,
                format!("`{key}` with per = \"entry\""),
                Some(format!("it says how much of an {} source counts as one source: remove it, or count per = \"source\"", if key == "ipv4_prefix" { "IPv4" } else { "IPv6" })),
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
        if let (true, Some(s)) = (within_continues, over_span) {
            self.error(
                s,
                "`over` with `within = \"continue\"`",
                Some("with within = \"continue\" the entry takes only the packets beyond the count, and gives them the entry's own verdict (a block's drop or `with`, a reject's answer): remove `over`".into()),
            );
            return None;
        }
        let per = if per_source {
            LimitPer::source(prefixes.0, prefixes.1)
        } else {
            LimitPer::Entry
        };
        Some(ConnLimit {
            max,
            per,
            over,
            within_continues,
        })
    }

    /// INVALID and UNTRACKED packets have no connection: an entry of those states with a
    /// key that matches the connection (`published…`, `connection_protocol`, `dnat`) takes
    /// none of them; refused, so that no entry says more than it matches.
    pub(super) fn connectionless_fit(
        &mut self,
        more: &crate::core::model::More,
        states: Option<CtStates>,
        at: Range<usize>,
    ) {
        let none = CtStates::CONNECTIONLESS;
        let Some(s) = states.filter(|s| s.0 & none != 0) else {
            return;
        };
        let keys: Vec<&str> = [
            (
                "published",
                more.published
                    .iter()
                    .any(|p| p.0 == crate::core::plan::IPPROTO_TCP),
            ),
            (
                "published_udp",
                more.published
                    .iter()
                    .any(|p| p.0 == crate::core::plan::IPPROTO_UDP),
            ),
            ("published_any", more.published.iter().any(|p| p.0 == 0)),
            ("published_to", !more.published_to.is_empty()),
            ("published_from", !more.published_from.is_empty()),
            ("connection_protocol", !more.connection_protocol.is_empty()),
            ("dnat", more.dnat),
        ]
        .into_iter()
        .filter_map(|(k, on)| on.then_some(k))
        .collect();
        if keys.is_empty() {
            return;
        }
        let names: Vec<String> = CtStates(s.0 & none)
            .names()
            .iter()
            .map(|n| format!("\"{n}\""))
            .collect();
        let keys: Vec<String> = keys.iter().map(|k| format!("`{k}`")).collect();
        let (what, help) = if s.0 & !none == 0 {
            (
                "it would match nothing",
                "leave the key out to take every such packet, or the state out for the connections",
            )
        } else {
            (
                "those would never match",
                "remove them from `state`, and write an entry of their own without the key if they are meant",
            )
        };
        self.error(
            at,
            format!("`state` {} beside {}: {what}", names.join(" and "), keys.join(", ")),
            Some(format!("{} packets have no connection, so no connection's protocol, original address, port or DNAT to match: {help}", names.join(" and "))),
        );
    }

    /// A packet's connection is of the packet's own protocol, but for an ICMP (ICMPv6) error,
    /// which the kernel relates to the connection it is about: beside the protocols of the
    /// entry's packets (`packets`, 0: a published port of any), each connection protocol
    /// must meet one of them and each of them one connection protocol, or its rules would
    /// match nothing (compile leaves such pairings out).
    pub(super) fn connection_protocols_fit(
        &mut self,
        packets: &[u8],
        conns: &[u8],
        at: Range<usize>,
    ) {
        use crate::core::ctmatch::packet_meets_connection as meets;
        if packets.is_empty() || conns.is_empty() {
            return;
        }
        let name = crate::core::render::proto_name;
        let mut dead: Vec<String> = Vec::new();
        for &p in packets {
            if !conns.iter().any(|&c| meets(p, c)) {
                dead.push(format!("the entry's {} packets", name(p)));
            }
        }
        for &c in conns {
            if !packets.iter().any(|&p| meets(p, c)) {
                dead.push(format!("its {} connections", name(c)));
            }
        }
        if dead.is_empty() {
            return;
        }
        self.error(
            at,
            format!("`connection_protocol` beside the entry's own protocols: {} would match nothing", dead.join(" and ")),
            Some("a packet's connection is of the packet's protocol (only an ICMP or ICMPv6 error is related to a connection of another): for a TCP packet `connection_protocol = [\"tcp\"]` says nothing more; list the protocols that meet, or leave the key out".into()),
        );
    }

    /// An allow's `connections` counts the NEW connections it lets in: refused on an allow
    /// whose `state` leaves NEW out, and with `within`. A block's or a reject's takes the
    /// packets beyond the count: it needs `within = "continue"`.
    pub(super) fn connections_fit(
        &mut self,
        kind: Kind,
        (state, within): (Option<CtStates>, bool),
        at: Range<usize>,
    ) {
        if kind != Kind::Allow {
            if !within {
                self.error(
                    at,
                    format!("`connections` on a {} entry without `within = \"continue\"`", kind.key()),
                    Some(format!("a {k} takes only the packets of sources beyond the count, and lets the rest go on: write connections = {{ max = 50, within = \"continue\" }}; or, to let at most that many in, put `connections` on the [[allow]] of these packets", k = kind.key())),
                );
            }
            return;
        }
        if within {
            self.error(
                at.clone(),
                "`within = \"continue\"` in an allow's `connections`",
                Some("an allow lets in the connections within the count and gives those beyond it `over`; an entry that takes only what is beyond the count and lets the rest go on is a block or a reject".into()),
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
        let per = |v6_prefix| LimitPer::Source {
            v4_prefix: 32,
            v6_prefix,
        };
        let c = |i: usize| p.allow[i].more.connections;
        assert_eq!(
            c(0),
            Some(ConnLimit {
                max: 3,
                per: per(64),
                over: Over::Drop,
                within_continues: false,
            })
        );
        assert_eq!(
            c(1),
            Some(ConnLimit {
                max: 200,
                per: LimitPer::Entry,
                over: Over::Reject,
                within_continues: false,
            })
        );
        assert_eq!(
            c(2),
            Some(ConnLimit {
                max: 10,
                per: per(56),
                over: Over::PortUnreachable,
                within_continues: false,
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
            "`connections` on a reject entry without `within = \"continue\"`",
            "unknown key `count` in `connections`",
        ] {
            assert!(msgs.iter().any(|m| m.contains(want)), "{want}: {msgs:#?}");
        }
    }

    #[test]
    fn a_block_or_reject_takes_what_is_beyond_the_count_with_within() {
        let (p, d) = parse(
            "[[block]]\nname = \"flood\"\ntcp = [80]\nafter = \"allows\"\n\
             connections = { max = 50, within = \"continue\" }\n\
             [[reject]]\nname = \"busy\"\nudp = [27960]\n\
             connections = { max = 3, per = \"entry\", within = \"continue\" }\n",
        );
        let p = p.unwrap_or_else(|| panic!("{d:?}"));
        assert_eq!(
            p.block[0].service.more.connections,
            Some(ConnLimit {
                max: 50,
                per: LimitPer::source(None, Some(64)),
                over: Over::Drop,
                within_continues: true,
            })
        );
        assert_eq!(
            p.reject[0].service.more.connections,
            Some(ConnLimit {
                max: 3,
                per: LimitPer::Entry,
                over: Over::Drop,
                within_continues: true,
            })
        );
        // within is a block's or a reject's, and says the entry's own verdict: no `over`
        let src = "[[allow]]\nname = \"a\"\ntcp = [22]\n\
                   connections = { max = 3, within = \"continue\" }\n\
                   [[block]]\nname = \"b\"\ntcp = [23]\n\
                   connections = { max = 3, within = \"continue\", over = \"reject\" }\n\
                   [[block]]\nname = \"c\"\ntcp = [24]\nconnections = { max = 3, within = \"stop\" }\n";
        let (p, d) = parse(src);
        assert!(p.is_none());
        let msgs: Vec<String> = d.iter().map(|d| d.message.clone()).collect();
        assert_eq!(msgs.len(), 3, "{msgs:#?}");
        for want in [
            "`within = \"continue\"` in an allow's `connections`",
            "`over` with `within = \"continue\"`",
            "`within` is one of",
        ] {
            assert!(msgs.iter().any(|m| m.contains(want)), "{want}: {msgs:#?}");
        }
    }
}
