//! The entry keys that name protocols beyond tcp/udp ports: `protocol` (whole IP protocols
//! by name or number) and `tcp_flags` (the scan filters). `to`, `except_from`, `except_to`
//! are read like `from` (`sources`), `oif` like `iif` and `tcp_sport`/`udp_sport` like ports.
//! `state` (an allow's connection states, in a section without the established rule) is
//! read here too.

use std::ops::Range;

use toml::Spanned;
use toml::de::DeValue;

use super::{Checker, Entry, Kind, type_name};
use crate::core::model::{Baseline, Over};
use crate::core::model::{TCP_FLAG_PRESETS, parse_tcp_flags};
use crate::core::plan::{CtStates, Hook};
use crate::core::plan::{PROTOCOLS, protocol_number};

impl Checker<'_> {
    /// The array elements of `key`, or an error (an empty array is one too).
    pub(super) fn array_of<'v, 'a>(
        &mut self,
        key: &str,
        value: &'v Spanned<DeValue<'a>>,
        example: &str,
    ) -> Option<&'v [Spanned<DeValue<'a>>]> {
        let span = value.span();
        if self.tainted(&span) {
            return None;
        }
        match value.get_ref() {
            DeValue::Array(items) if items.is_empty() => {
                self.error(
                    span,
                    format!("`{key} = []` lists nothing"),
                    Some(format!("remove the key, or write e.g. {key} = {example}")),
                );
                None
            }
            DeValue::Array(items) => Some(items),
            other => {
                self.error(
                    span,
                    format!("expected an array for `{key}`, found {}", type_name(other)),
                    Some(format!("write e.g. {key} = {example}")),
                );
                None
            }
        }
    }

    /// `protocol = ["esp", "ah", 47]` (or `except_protocol`, `key`): IP protocols by name or
    /// number, each once.
    pub(super) fn protocols(&mut self, key: &str, value: &Spanned<DeValue<'_>>) -> Vec<u8> {
        let mut out: Vec<(u8, Range<usize>)> = Vec::new();
        let Some(items) = self.array_of(key, value, "[\"esp\", \"ah\", 47]") else {
            return Vec::new();
        };
        let names: Vec<&str> = PROTOCOLS.iter().map(|(n, _)| *n).collect();
        for item in items {
            let span = item.span();
            if self.tainted(&span) {
                continue;
            }
            let p = match item.get_ref() {
                DeValue::Integer(i) => i128::from_str_radix(i.as_str(), i.radix())
                    .ok()
                    .and_then(|n| u8::try_from(n).ok())
                    .filter(|&n| n != 0 && n != 255),
                DeValue::String(s) => protocol_number(s),
                _ => None,
            };
            let Some(p) = p else {
                let text = self.text(&span).to_string();
                self.error(
                    span,
                    format!("unknown protocol {text}"),
                    Some(format!(
                        "write a protocol number 1-254 or one of {}",
                        names.join(", ")
                    )),
                );
                continue;
            };
            if out.iter().any(|(q, _)| *q == p) {
                self.error(
                    span,
                    format!("protocol {p} is listed twice"),
                    Some("remove one of the two".into()),
                );
                continue;
            }
            out.push((p, span));
        }
        out.into_iter().map(|(p, _)| p).collect()
    }

    /// `tcp_flags = ["null", "xmas", "syn,fin/syn,fin"]`: (mask, value) pairs.
    pub(super) fn tcp_flags(&mut self, value: &Spanned<DeValue<'_>>) -> Vec<(u8, u8)> {
        let mut out = Vec::new();
        let Some(items) = self.array_of("tcp_flags", value, "[\"syn,fin/syn,fin\", \"null\"]")
        else {
            return out;
        };
        let presets: Vec<&str> = TCP_FLAG_PRESETS.iter().map(|(n, _, _)| *n).collect();
        for item in items {
            let span = item.span();
            if self.tainted(&span) {
                continue;
            }
            let Some(s) = item.get_ref().as_str() else {
                self.error(
                    span,
                    format!("expected a string, found {}", type_name(item.get_ref())),
                    Some("write a preset such as \"null\" or flags as \"value/mask\"".into()),
                );
                continue;
            };
            match parse_tcp_flags(s) {
                Ok(pair) if out.contains(&pair) => self.error(
                    span,
                    format!("TCP flags {s:?} are listed twice"),
                    Some("remove one of the two".into()),
                ),
                Ok(pair) => out.push(pair),
                Err(why) => self.error(
                    span,
                    format!("invalid TCP flags: {why}"),
                    Some(format!(
                        "write the flags set, a slash and the flags looked at (\"syn,fin/syn,fin\", \"/fin,syn,rst,psh,ack,urg\" for none set), or a preset: {}",
                        presets.join(", ")
                    )),
                ),
            }
        }
        out
    }

    /// `state = ["established", "related"]`: the connection states an allow (or a reject)
    /// matches. Only allows and rejects take a list (a block's `state = "new"` or
    /// `"invalid"` is [`Checker::block_state`]'s).
    pub(super) fn states(&mut self, kind: Kind, value: &Spanned<DeValue<'_>>) -> Option<CtStates> {
        const NAMES: [(&str, u32); 5] = [
            ("new", CtStates::NEW),
            ("established", CtStates::ESTABLISHED),
            ("related", CtStates::RELATED),
            // an allow's and a block's: the packets conntrack leaves untracked (neighbour
            // discovery, MLD), which an allow of every state in a section without the
            // established rule takes, as iptables' accept without a state match does
            ("untracked", CtStates::UNTRACKED),
            // a block's list only: statewall drops them, never allows them
            ("invalid", CtStates::INVALID),
        ];
        let names = match kind {
            Kind::Block => &NAMES[..],
            Kind::Allow => &NAMES[..4],
            _ => &NAMES[..3],
        };
        // a block's list comes through its `state` (`places.rs`)
        if kind != Kind::Allow && kind != Kind::Reject && !value.get_ref().is_array() {
            if !self.tainted(&value.span()) {
                self.error(
                    value.span(),
                    format!("`state` on a {} entry", kind.key()),
                    Some("only allow and reject entries match a list of connection states (and a [[block]] NEW or invalid ones, with state = \"new\" or \"invalid\")".into()),
                );
            }
            return None;
        }
        let items = self.array_of("state", value, "[\"established\", \"related\"]")?;
        let mut bits = 0u32;
        let mut ok = true;
        for item in items {
            let span = item.span();
            if self.tainted(&span) {
                ok = false;
                continue;
            }
            let Some(s) = item.get_ref().as_str() else {
                self.error(
                    span,
                    format!("expected a string, found {}", type_name(item.get_ref())),
                    Some("write the states by name: \"new\", \"established\", \"related\"".into()),
                );
                ok = false;
                continue;
            };
            let Some(&(_, bit)) = names.iter().find(|(n, _)| *n == s) else {
                let help = match s.to_ascii_lowercase().as_str() {
                    "invalid" => "invalid packets are the baseline's `invalid` rule's: statewall drops them, never allows them".to_string(),
                    "untracked" => "a reject answers connections: the packets conntrack leaves untracked (neighbour discovery, MLD) are an allow's or a block's to name".to_string(),
                    other => match names.iter().find(|(n, _)| n.eq_ignore_ascii_case(other)) {
                        Some((n, _)) => format!("did you mean \"{n}\"?"),
                        None if kind == Kind::Block => "the states a block's list names are \"new\", \"established\", \"related\", \"invalid\" and \"untracked\"".to_string(),
                        None if kind == Kind::Allow => "the states an allow matches are \"new\", \"established\", \"related\" and \"untracked\"".to_string(),
                        None => "the states a reject matches are \"new\", \"established\" and \"related\"".to_string(),
                    },
                };
                self.error(span, format!("unknown connection state {s:?}"), Some(help));
                ok = false;
                continue;
            };
            if bits & bit != 0 {
                self.error(
                    span,
                    format!("state {s:?} is listed twice"),
                    Some("remove one of the two".into()),
                );
                ok = false;
                continue;
            }
            bits |= bit;
        }
        (ok && bits != 0).then_some(CtStates(bits))
    }

    /// `state` says what an allow matches where nothing else does: in a section whose
    /// established rule is on, every allow matches NEW connections (the established rule
    /// took the rest before it), so `state` there is refused.
    pub(super) fn state_needs_stateless(
        &mut self,
        entries: &[Entry],
        hook: Hook,
        baseline: Option<Baseline>,
    ) {
        let section = match hook {
            Hook::Input => "[baseline]".to_string(),
            h => format!("[{}.baseline]", h.as_str()),
        };
        if !baseline.is_some_and(|b| b.established) {
            // a limit whose overflow goes on sits in the allow's own rule, which takes
            // every packet of the connection there: it would count them all
            let continues = |e: &&Entry| {
                e.kind == Kind::Allow
                    && e.more.state.is_none()
                    && e.more.limit.iter().any(|l| l.over == Over::Continue)
            };
            for e in entries.iter().filter(|e| e.hook == hook).filter(continues) {
                let span = e.limit_span.clone().unwrap_or_default();
                self.error(
                    span,
                    "`over = \"continue\"` on an allow without `state` in a section without the established rule",
                    Some(format!("its limit sits in the allow's own rule, which takes every packet of the connections it lets in, so it would count them all, where an allow's limit counts NEW connections; say which states it counts (`state = [\"new\"]`, or `[\"new\", \"established\", \"related\"]` for every packet as iptables' `-m limit` counts them), or turn the established rule on under {section}")),
                );
            }
            return;
        }
        // `state = ["new"]` on an allow says NEW connections only: without it, an allow of
        // every protocol or of ICMPv6 also takes the neighbour discovery conntrack leaves
        // untracked; on a reject, that the INVALID packets it meets go on to the rules
        // after it (iptables' `--state NEW -j REJECT`)
        let new_only = |e: &Entry| {
            matches!(e.kind, Kind::Allow | Kind::Reject)
                && e.more.state == Some(CtStates(CtStates::NEW))
        };
        for e in entries.iter().filter(|e| e.hook == hook && !new_only(e)) {
            if let Some(span) = &e.state_span {
                self.error(
                    span.clone(),
                    "`state` in a section with the established rule",
                    Some(format!("the established rule accepts every established and related packet before the allows, which then match NEW connections (an allow of every protocol or of ICMPv6 takes the neighbour discovery conntrack leaves untracked too, unless it says `state = [\"new\"]`); remove `state` (or say `[\"new\"]` alone), or set `established = false` under {section} to say every allow's states yourself")),
                );
            }
        }
    }
}
