//! `mac` and `except_mac` (the source MAC address of the frame a packet arrived in): one
//! address or a list, each once, checked where written; and where they may be used (a
//! packet the host sends arrived from no interface: not in `[output]`). `length` and
//! `except_length` (the packet's length): one length or range, or a list of them. `ttl` and
//! `except_ttl` (the TTL, IPv6's hop limit): one value, `"<N"`, `">N"` or range, or a list.

use std::ops::Range;

use toml::Spanned;
use toml::de::DeValue;

use super::{Checker, Entry, type_name};
use crate::core::model::More;
use crate::core::plan::Hook;

/// What a MAC address looks like, for the messages.
const MAC_VALID: &str = "a MAC address is six pairs of hex digits separated by colons, e.g. \"02:00:00:00:00:01\" (iptables' `-m mac --mac-source`)";

/// What a length looks like, for the messages.
const LENGTH_VALID: &str = "a length is the packet's IP total length in bytes, header included (0-65535), as iptables' `-m length --length` reads it: one length (1500) or a range (\"0:1500\" or \"0-1500\")";

/// What an MSS looks like, for the messages.
const MSS_VALID: &str = "an MSS is the value of a TCP segment's maximum segment size option (0-65535), as iptables' `-m tcpmss --mss` reads it: one value (1460) or a range (\"536:65535\" or \"536-65535\"); `except_tcp_mss` also takes segments without the option, as `! --mss` does";

/// "a length", "an MSS".
fn article(what: &str) -> String {
    let an = what.starts_with(['a', 'e', 'i', 'o', 'u', 'M']);
    format!("{} {what}", if an { "an" } else { "a" })
}

/// What a TTL looks like, for the messages.
const TTL_VALID: &str = "the TTL is IPv4's time to live and IPv6's hop limit, 0-255: one value (64, as iptables' `--ttl-eq`), \"<64\" (`--ttl-lt`), \">64\" (`--ttl-gt`) or a range (\"6-9\")";

impl Checker<'_> {
    /// `mac`, `except_mac` into the entry.
    pub(super) fn mac_key(&mut self, more: &mut More, key: &str, value: &Spanned<DeValue<'_>>) {
        let macs = self.macs(key, value);
        if key == "mac" {
            more.mac = macs;
        } else {
            more.except_mac = macs;
        }
    }

    /// One address or a list of them, each once.
    fn macs(&mut self, key: &str, value: &Spanned<DeValue<'_>>) -> Vec<[u8; 6]> {
        let span = value.span();
        if self.tainted(&span) {
            return Vec::new();
        }
        let items: Vec<&Spanned<DeValue<'_>>> = match value.get_ref() {
            DeValue::String(_) => vec![value],
            DeValue::Array(items) if !items.is_empty() => items.iter().collect(),
            other => {
                let found = match other {
                    DeValue::Array(_) => "an empty array",
                    other => type_name(other),
                };
                self.error(
                    span,
                    format!("expected a MAC address or a list of them for `{key}`, found {found}"),
                    Some(format!(
                        "write {key} = \"02:00:00:00:00:01\" or {key} = [\"02:00:00:00:00:01\", \"02:00:00:00:00:02\"]; {MAC_VALID}"
                    )),
                );
                return Vec::new();
            }
        };
        let mut out: Vec<[u8; 6]> = Vec::new();
        let mut seen = std::collections::HashSet::new();
        for item in items {
            let Some(text) = item.get_ref().as_str() else {
                let found = type_name(item.get_ref());
                self.error(
                    item.span(),
                    format!("expected a MAC address (a string) in `{key}`, found {found}"),
                    Some(MAC_VALID.into()),
                );
                continue;
            };
            let Some(mac) = crate::core::header::parse_mac(text) else {
                self.error(
                    item.span(),
                    format!("{text:?} is not a MAC address"),
                    Some(MAC_VALID.into()),
                );
                continue;
            };
            if !seen.insert(mac) {
                self.error(
                    item.span(),
                    format!("{text:?} is listed twice in `{key}`"),
                    Some("list each once".into()),
                );
                continue;
            }
            out.push(mac);
        }
        out
    }

    /// `length`, `except_length` into the entry: each a length (`1500`, `"1500"`) or a
    /// range (`"0:1500"`, as iptables writes it, or `"0-1500"`), 0-65535, each once.
    pub(super) fn length_key(&mut self, more: &mut More, key: &str, value: &Spanned<DeValue<'_>>) {
        let Some(out) = self.each_once(key, value, "\"0:1500\"", Self::length_value) else {
            return;
        };
        if key == "length" {
            more.length = out;
        } else {
            more.except_length = out;
        }
    }

    /// `tcp_mss`, `except_tcp_mss` into the entry: each an MSS (`1460`) or a range
    /// (`"536:65535"`, `"536-65535"`), 0-65535, each once.
    pub(super) fn mss_key(&mut self, more: &mut More, key: &str, value: &Spanned<DeValue<'_>>) {
        let Some(out) = self.each_once(key, value, "\"536-65535\"", Self::mss_value) else {
            return;
        };
        if key == "tcp_mss" {
            more.tcp_mss = out;
        } else {
            more.except_tcp_mss = out;
        }
    }

    /// The items of `key` — one value, or a list of them — each read by `one`, each once;
    /// None (said) for an empty list or a tainted value. `example`: a value for the help.
    pub(super) fn each_once<T: Eq + std::hash::Hash + Copy>(
        &mut self,
        key: &str,
        value: &Spanned<DeValue<'_>>,
        example: &str,
        one: fn(&mut Self, &str, &Spanned<DeValue<'_>>) -> Option<T>,
    ) -> Option<Vec<T>> {
        let span = value.span();
        if self.tainted(&span) {
            return None;
        }
        let items: Vec<&Spanned<DeValue<'_>>> = match value.get_ref() {
            DeValue::Array(items) if !items.is_empty() => items.iter().collect(),
            DeValue::Array(_) => {
                self.error(
                    span,
                    format!("`{key} = []` lists nothing"),
                    Some(format!("remove the key, or write e.g. {key} = {example}")),
                );
                return None;
            }
            _ => vec![value],
        };
        let mut out: Vec<T> = Vec::new();
        let mut seen = std::collections::HashSet::new();
        for item in items {
            let Some(r) = one(self, key, item) else {
                continue;
            };
            if !seen.insert(r) {
                self.error(
                    item.span(),
                    format!("{} is listed twice in `{key}`", self.text(&item.span())),
                    Some("list each once".into()),
                );
                continue;
            }
            out.push(r);
        }
        Some(out)
    }

    /// One length or range.
    fn length_value(&mut self, key: &str, item: &Spanned<DeValue<'_>>) -> Option<(u16, u16)> {
        self.u16_range(key, item, ("length", LENGTH_VALID))
    }

    /// One MSS or range.
    fn mss_value(&mut self, key: &str, item: &Spanned<DeValue<'_>>) -> Option<(u16, u16)> {
        self.u16_range(key, item, ("MSS", MSS_VALID))
    }

    /// One number 0-65535 or a range of them (`N:M`, `N-M`); `what` names it, `valid` says
    /// what is.
    fn u16_range(
        &mut self,
        key: &str,
        item: &Spanned<DeValue<'_>>,
        (what, valid): (&str, &str),
    ) -> Option<(u16, u16)> {
        let span = item.span();
        let text = match item.get_ref() {
            DeValue::Integer(i) => i.as_str().to_string(),
            DeValue::String(s) => s.to_string(),
            other => {
                let found = type_name(other);
                self.error(
                    span,
                    format!(
                        "expected {} or a range for `{key}`, found {found}",
                        article(what)
                    ),
                    Some(valid.into()),
                );
                return None;
            }
        };
        let (lo, hi) = match text.split_once([':', '-']) {
            Some((lo, hi)) => (lo.trim(), hi.trim()),
            None => (text.trim(), text.trim()),
        };
        let (Ok(lo), Ok(hi)) = (lo.parse::<u16>(), hi.parse::<u16>()) else {
            self.error(
                span,
                format!(
                    "{} is not {} 0-65535 or a range of them",
                    self.text(&item.span()),
                    article(what)
                ),
                Some(valid.into()),
            );
            return None;
        };
        if lo > hi {
            self.error(
                span,
                format!("the range {lo}:{hi} runs backwards"),
                Some(format!("write the smaller {what} first: \"{hi}:{lo}\"")),
            );
            return None;
        }
        Some((lo, hi))
    }

    /// `ttl`, `except_ttl` into the entry: each `64` (or `"64"`), `"<64"`, `">64"` or a range
    /// `"6-9"` (`"6:9"`), of TTLs 0-255, each once; one that holds no TTL is refused.
    pub(super) fn ttl_key(&mut self, more: &mut More, key: &str, value: &Spanned<DeValue<'_>>) {
        let Some(out) = self.each_once(key, value, "\"<64\"", Self::ttl_value) else {
            return;
        };
        if key == "ttl" {
            more.ttl = out;
        } else {
            more.except_ttl = out;
        }
    }

    /// One TTL value, comparison or range.
    fn ttl_value(&mut self, key: &str, item: &Spanned<DeValue<'_>>) -> Option<(u8, u8)> {
        let span = item.span();
        let text = match item.get_ref() {
            DeValue::Integer(i) => i.as_str().to_string(),
            DeValue::String(s) => s.trim().to_string(),
            other => {
                let found = type_name(other);
                self.error(
                    span,
                    format!("expected a TTL, a comparison or a range for `{key}`, found {found}"),
                    Some(TTL_VALID.into()),
                );
                return None;
            }
        };
        let num = |t: &str| t.trim().parse::<u8>().ok();
        let range = if let Some(n) = text.strip_prefix('<') {
            num(n).map(|n| (n.checked_sub(1).map(|h| (0, h)), n))
        } else if let Some(n) = text.strip_prefix('>') {
            num(n).map(|n| (n.checked_add(1).map(|l| (l, 255)), n))
        } else if let Some((lo, hi)) = text.split_once(['-', ':']) {
            match (num(lo), num(hi)) {
                (Some(lo), Some(hi)) if lo <= hi => Some((Some((lo, hi)), lo)),
                (Some(lo), Some(hi)) => {
                    self.error(
                        span,
                        format!("the range {lo}-{hi} runs backwards"),
                        Some(format!("write the smaller TTL first: \"{hi}-{lo}\"")),
                    );
                    return None;
                }
                _ => None,
            }
        } else {
            num(&text).map(|n| (Some((n, n)), n))
        };
        match range {
            Some((Some(r), _)) => Some(r),
            Some((None, _)) => {
                let shown = self.text(&span).to_string();
                self.error(
                    span,
                    format!("{shown} holds no TTL"),
                    Some(
                        "a TTL is 0-255: nothing is below 0 or above 255; remove the value".into(),
                    ),
                );
                None
            }
            None => {
                let shown = self.text(&span).to_string();
                self.error(
                    span,
                    format!("{shown} is not a TTL 0-255, a comparison or a range"),
                    Some(TTL_VALID.into()),
                );
                None
            }
        }
    }

    /// `mac` reads the frame a packet arrived in: a packet the host sends itself (`[output]`)
    /// arrived in none, and iptables refuses `-m mac` in OUTPUT too.
    pub(super) fn mac_where_packets_arrive(&mut self, entries: &[Entry]) {
        for e in entries.iter().filter(|e| e.hook == Hook::Output) {
            if let Some(span) = &e.mac_span {
                self.error(
                    span.clone(),
                    "`mac` in [output]: a packet this host sends arrived in no frame, so it has no source MAC address to match",
                    Some("match MAC addresses where packets arrive: in the input entries (top level) or in [forward]; iptables refuses `-m mac` in OUTPUT too".into()),
                );
            }
        }
    }
}

/// Where `mac` or `except_mac` was written, for the section check.
pub(super) fn span_of(key: &str, value: &Spanned<DeValue<'_>>) -> Option<Range<usize>> {
    matches!(key, "mac" | "except_mac").then(|| value.span())
}

#[cfg(test)]
mod tests {
    use crate::core::policy::parse;
    use crate::core::policy::test_errors as errors;

    #[test]
    fn mac_addresses_become_the_entry() {
        let (p, d) = parse(
            "[[allow]]\nname = \"a\"\nmac = \"02:00:00:00:00:01\"\n\
             [forward]\n[[forward.block]]\nname = \"b\"\nmac = [\"AA:BB:CC:DD:EE:FF\", \"02-00-00-00-00-02\"]\n\
             except_mac = \"02:00:00:00:00:03\"\n",
        );
        let p = p.unwrap_or_else(|| panic!("{d:?}"));
        assert_eq!(p.allow[0].more.mac, [[2, 0, 0, 0, 0, 1]]);
        let f = &p.forward.as_ref().unwrap().block[0].service.more;
        assert_eq!(
            f.mac,
            [[0xaa, 0xbb, 0xcc, 0xdd, 0xee, 0xff], [2, 0, 0, 0, 0, 2]]
        );
        assert_eq!(f.except_mac, [[2, 0, 0, 0, 0, 3]]);
    }

    #[test]
    fn bad_addresses_are_refused_where_they_are_written() {
        let e =
            errors("[[block]]\nname = \"m\"\nmac = [\"02:00:00:00:00:01\", \"02:00:00:00:01\"]\n");
        assert!(
            e.starts_with("error: \"02:00:00:00:01\" is not a MAC address\n  --> t.toml:3:29\n"),
            "{e}"
        );
        let e = errors(
            "[[block]]\nname = \"m\"\nexcept_mac = [\"02:00:00:00:00:01\", \"02:00:00:00:00:01\"]\n",
        );
        assert!(
            e.contains("is listed twice in `except_mac`\n  --> t.toml:3:36"),
            "{e}"
        );
        let e = errors("[[block]]\nname = \"m\"\nmac = []\n");
        assert!(e.contains("found an empty array"), "{e}");
        let e = errors("[[block]]\nname = \"m\"\nmac = [2]\n");
        assert!(
            e.contains("expected a MAC address (a string) in `mac`, found an integer"),
            "{e}"
        );
    }

    #[test]
    fn lengths_become_the_entry_and_bad_ones_are_refused_where_written() {
        let (p, d) = parse(
            "[[block]]\nname = \"big\"\nlength = \"1400:65535\"\n\
             [[block]]\nname = \"odd\"\nlength = [64, \"100-200\"]\nexcept_length = 150\n",
        );
        let p = p.unwrap_or_else(|| panic!("{d:?}"));
        assert_eq!(p.block[0].service.more.length, [(1400, 65535)]);
        assert_eq!(p.block[1].service.more.length, [(64, 64), (100, 200)]);
        assert_eq!(p.block[1].service.more.except_length, [(150, 150)]);
        let e = errors("[[block]]\nname = \"l\"\nlength = \"0:70000\"\n");
        assert!(
            e.starts_with(
                "error: \"0:70000\" is not a length 0-65535 or a range of them\n  --> t.toml:3:10"
            ),
            "{e}"
        );
        let e = errors("[[block]]\nname = \"l\"\nlength = \"1500:0\"\n");
        assert!(e.contains("the range 1500:0 runs backwards"), "{e}");
        let e = errors("[[block]]\nname = \"l\"\nexcept_length = [64, \"64\"]\n");
        assert!(
            e.contains("\"64\" is listed twice in `except_length`"),
            "{e}"
        );
        let e = errors("[[block]]\nname = \"l\"\nlength = true\n");
        assert!(
            e.contains("expected a length or a range for `length`, found a boolean"),
            "{e}"
        );
        let e = errors("[[block]]\nname = \"l\"\nlength = []\n");
        assert!(e.contains("`length = []` lists nothing"), "{e}");
    }

    #[test]
    fn ttls_become_the_entry_and_bad_ones_are_refused_where_written() {
        let (p, d) = parse(
            "[[block]]\nname = \"low\"\nttl = \"<5\"\n\
             [[block]]\nname = \"odd\"\nttl = [64, \">200\", \"6-9\", \"10:12\"]\nexcept_ttl = 255\n",
        );
        let p = p.unwrap_or_else(|| panic!("{d:?}"));
        assert_eq!(p.block[0].service.more.ttl, [(0, 4)]);
        let m = &p.block[1].service.more;
        assert_eq!(m.ttl, [(64, 64), (201, 255), (6, 9), (10, 12)]);
        assert_eq!(m.except_ttl, [(255, 255)]);
        let e = errors("[[block]]\nname = \"t\"\nttl = \"<0\"\n");
        assert!(
            e.starts_with("error: \"<0\" holds no TTL\n  --> t.toml:3:7"),
            "{e}"
        );
        let e = errors("[[block]]\nname = \"t\"\nexcept_ttl = \">255\"\n");
        assert!(e.contains("\">255\" holds no TTL"), "{e}");
        let e = errors("[[block]]\nname = \"t\"\nttl = 256\n");
        assert!(e.contains("256 is not a TTL 0-255"), "{e}");
        let e = errors("[[block]]\nname = \"t\"\nttl = \"9-6\"\n");
        assert!(e.contains("the range 9-6 runs backwards"), "{e}");
        let e = errors("[[block]]\nname = \"t\"\nttl = [\"<5\", \"<5\"]\n");
        assert!(e.contains("\"<5\" is listed twice in `ttl`"), "{e}");
        let e = errors("[[block]]\nname = \"t\"\nttl = \"<=5\"\n");
        assert!(e.contains("\"<=5\" is not a TTL"), "{e}");
    }

    #[test]
    fn output_has_no_source_mac() {
        let e = errors(
            "[output]\n[[output.reject]]\nname = \"m\"\nudp = [53]\nexcept_mac = \"02:00:00:00:00:01\"\n",
        );
        assert!(
            e.starts_with("error: `mac` in [output]: a packet this host sends arrived in no frame")
                && e.contains("--> t.toml:5:14"),
            "{e}"
        );
    }
}
