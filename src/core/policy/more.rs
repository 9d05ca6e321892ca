//! The entry keys that name protocols beyond tcp/udp ports: `protocol` (whole IP protocols
//! by name or number) and `tcp_flags` (the scan filters). `to`, `except_from`, `except_to`
//! are read like `from` (`sources`), `oif` like `iif` and `tcp_sport`/`udp_sport` like ports.

use std::ops::Range;

use toml::Spanned;
use toml::de::DeValue;

use super::{Checker, type_name};
use crate::core::model::{TCP_FLAG_PRESETS, parse_tcp_flags};
use crate::core::plan::{PROTOCOLS, protocol_number};

impl Checker<'_> {
    /// The array elements of `key`, or an error (an empty array is one too).
    fn array_of<'v, 'a>(
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

    /// `protocol = ["esp", "ah", 47]`: IP protocols by name or number, each once.
    pub(super) fn protocols(&mut self, value: &Spanned<DeValue<'_>>) -> Vec<u8> {
        let mut out: Vec<(u8, Range<usize>)> = Vec::new();
        let Some(items) = self.array_of("protocol", value, "[\"esp\", \"ah\", 47]") else {
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
}
