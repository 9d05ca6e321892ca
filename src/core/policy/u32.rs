//! An entry's `u32` and `except_u32`: tests of 32-bit words at computed offsets of IPv4
//! packets (the kernel's xt_u32, iptables' `-m u32`; see `core::u32`), in iptables' own
//! language.
//!
//! ```toml
//! u32 = "0>>22&0x3C@8>>15&0x01=1"          # a DNS query's QR bit (IPv4, UDP)
//! except_u32 = ["0x34=0x18030000:0x1803ffff", "6&0xFF=1"]   # none of these holds
//! ```
//!
//! Offsets count from the IPv4 header's first byte, so an entry with either key matches
//! IPv4 packets only: it lists no IPv6 network, and it cannot be of ICMPv6 or a routing
//! header.

use std::ops::Range;

use toml::Spanned;
use toml::de::DeValue;

use super::{Checker, type_name};
use crate::core::model::{Cidr, More};
use crate::core::u32::{U32, parse};

const EXAMPLE: &str = "\"0>>22&0x3C@8>>15&0x01=1\"";

impl Checker<'_> {
    /// `u32`, `except_u32` into the entry: each expression once.
    pub(super) fn u32_key(&mut self, more: &mut More, key: &str, value: &Spanned<DeValue<'_>>) {
        let Some(out) = self.each_once(key, value, EXAMPLE, Self::expression) else {
            return;
        };
        if key == "u32" {
            more.u32 = out;
        } else {
            more.except_u32 = out;
        }
    }

    /// One expression, read as iptables reads it; a refusal points at the byte it stopped
    /// at when the string is written without escapes.
    fn expression(&mut self, key: &str, item: &Spanned<DeValue<'_>>) -> Option<U32> {
        let span = item.span();
        let DeValue::String(s) = item.get_ref() else {
            self.error(
                span,
                format!(
                    "expected a u32 expression (a string) in `{key}`, found {}",
                    type_name(item.get_ref())
                ),
                Some(format!(
                    "write {key} = {EXAMPLE}: iptables' `--u32` language"
                )),
            );
            return None;
        };
        match parse(s) {
            Ok(u) => Some(u),
            Err(e) => {
                let raw = self.text(&span);
                let plain = raw.len() == s.len() + 2 && &raw[1..raw.len() - 1] == s.as_ref();
                let at = if plain && e.at <= s.len() && e.why.starts_with("u32:") {
                    // (the closing quote where the text ended too soon)
                    let p = span.start + 1 + e.at;
                    p..p + 1
                } else {
                    span
                };
                self.error(
                    at,
                    format!("`{key}` does not read: {}", e.why),
                    Some("iptables' language: LOCATION=VALUE[:MAX][,…] tests joined by &&, a location a number followed by &N, <<N, >>N or @N (e.g. \"0>>22&0x3C@8>>15&0x01=1\")".into()),
                );
                None
            }
        }
    }

    /// An entry with `u32` matches IPv4 packets only: it lists no IPv6 network (which it
    /// would never match); ICMPv6 and a routing header are IPv6's.
    pub(super) fn u32_fits(&mut self, more: &More, from: Option<&[Cidr]>, at: Range<usize>) {
        if !crate::core::u32::has_u32(more) {
            return;
        }
        let v6 = |nets: &[Cidr]| nets.iter().any(|n| matches!(n, Cidr::V6(..)));
        let what = if from.is_some_and(v6) {
            "its sources (`from`) list IPv6 networks"
        } else if v6(&more.to)
            || v6(&more.except_from)
            || v6(&more.except_to)
            || v6(&more.published_to)
            || v6(&more.published_from)
        {
            "it lists IPv6 networks"
        } else if !more.icmpv6.is_empty() {
            "it matches ICMPv6"
        } else if crate::core::exthdr::has_rt(more) {
            "it matches a routing header (`rt_type`), which is IPv6's"
        } else {
            return;
        };
        self.error(
            at,
            format!("`u32` matches IPv4 packets only, but {what}, which the entry would never match"),
            Some("a u32 location counts from the IPv4 header: list IPv4 networks only, and give IPv6 an entry of its own".into()),
        );
    }
}

#[cfg(test)]
mod tests {
    use crate::core::policy::parse;

    fn errors(text: &str) -> String {
        let (p, d) = parse(text);
        assert!(p.is_none(), "{text}");
        d.iter().map(|d| d.render("t.toml", text)).collect()
    }

    #[test]
    fn expressions_are_read_as_iptables_reads_them() {
        let (p, d) = parse(
            "[[block]]\nname = \"hb\"\ntcp = [443]\nu32 = \"0x34=0x18030000:0x1803ffff\"\n\
             except_u32 = [\"6&0xFF=1\", \"0>>22&0x3C@8>>15&0x01=1\"]\n",
        );
        let p = p.unwrap_or_else(|| panic!("{d:?}"));
        let m = &p.block[0].service.more;
        assert_eq!(m.u32[0].text(), "0x34=0x18030000:0x1803ffff");
        assert_eq!(m.except_u32[1].text(), "0x0>>0x16&0x3c@0x8>>0xf&0x1=0x1");
    }

    #[test]
    fn refusals_point_at_the_byte() {
        let e = errors("[[block]]\nname = \"x\"\nu32 = \"1<2=3\"\n");
        assert!(
            e.contains(
                "`u32` does not read: u32: at char 2: a second '<' was expected\n  --> t.toml:3:10"
            ),
            "{e}"
        );
        let e = errors("[[block]]\nname = \"x\"\nu32 = 5\n");
        assert!(
            e.contains("expected a u32 expression (a string) in `u32`, found an integer"),
            "{e}"
        );
        let e = errors("[[block]]\nname = \"x\"\nu32 = [\"1=1\", \"0x1=0x1\"]\n");
        assert!(e.contains("is listed twice in `u32`"), "{e}");
        let e = errors("[[block]]\nname = \"x\"\nfrom = [\"2001:db8::/32\"]\nu32 = \"1=1\"\n");
        assert!(
            e.contains(
                "`u32` matches IPv4 packets only, but its sources (`from`) list IPv6 networks"
            ),
            "{e}"
        );
        let e =
            errors("[[block]]\nname = \"x\"\nicmpv6 = [\"echo-request\"]\nexcept_u32 = \"1=1\"\n");
        assert!(e.contains("but it matches ICMPv6"), "{e}");
    }
}
