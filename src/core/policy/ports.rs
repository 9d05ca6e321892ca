//! Port lists: `tcp = [22, "8000-8080"]`, each element checked, and no port listed twice.

use std::ops::Range;

use toml::Spanned;
use toml::de::DeValue;

use super::intervals::keep_disjoint;
use super::{Checker, PortList, inner_span, is_digits, type_name};
use crate::core::diag::loc_of;
use crate::core::model::{Loc, PortRange};
use crate::core::services;

impl Checker<'_> {
    pub(super) fn ports(&mut self, proto: &str, value: &Spanned<DeValue<'_>>) -> PortList {
        let span = value.span();
        let mut list = PortList {
            ports: Vec::new(),
            mentioned: true,
        };
        if self.tainted(&span) {
            return list;
        }
        let items = match value.get_ref() {
            DeValue::Array(items) => items,
            other => {
                let text = self.text(&span);
                let help = match other {
                    DeValue::String(s) if is_digits(s.trim()) => {
                        format!("write {proto} = [{}]", s.trim())
                    }
                    DeValue::Integer(_) | DeValue::String(_) => {
                        format!("put it in brackets: {proto} = [{text}]")
                    }
                    _ => format!("write {proto} = [22, 443, \"8000-8080\"]"),
                };
                self.error(
                    span,
                    format!("expected an array of ports, found {}", type_name(other)),
                    Some(help),
                );
                return list;
            }
        };
        list.mentioned = !items.is_empty();
        let mut ports = Vec::new();
        for item in items.iter() {
            if let Some(range) = self.port(proto, item) {
                ports.push((range, item.span()));
            }
        }
        // The same port twice, or overlapping ranges, within this one list: each range is
        // checked against the earliest-listed range kept so far that it overlaps (long lists
        // are real).
        list.ports = keep_disjoint(
            ports,
            |p| (0, u128::from(p.lo), u128::from(p.hi)),
            |(a, aspan), (b, bspan)| {
                let (msg, help) = port_clash(proto, *a, *b, loc_of(self.src, aspan.start));
                self.error(bspan.clone(), msg, Some(help));
            },
        );
        list
    }

    fn port(&mut self, proto: &str, item: &Spanned<DeValue<'_>>) -> Option<PortRange> {
        let span = item.span();
        if self.tainted(&span) {
            return None;
        }
        let range_help =
            "write a port as a number (22) and a range as a \"lo-hi\" string (\"8000-8080\")";
        match item.get_ref() {
            DeValue::Integer(i) => {
                let n = i128::from_str_radix(i.as_str(), i.radix()).ok();
                match n.and_then(|n| u16::try_from(n).ok()) {
                    Some(p) => Some(PortRange::single(p)),
                    None => {
                        let text = self.text(&span);
                        self.error(
                            span,
                            format!("port {text} is out of range"),
                            Some("ports are 0-65535".into()),
                        );
                        None
                    }
                }
            }
            DeValue::String(s) => self.port_string(proto, s, span),
            DeValue::Float(_) => {
                self.error(
                    span,
                    "expected a port number, found a float",
                    Some("ports are whole numbers, 0-65535".into()),
                );
                None
            }
            other => {
                self.error(
                    span,
                    format!(
                        "expected a port number or a \"lo-hi\" range, found {}",
                        type_name(other)
                    ),
                    Some(range_help.into()),
                );
                None
            }
        }
    }

    /// A `"lo-hi"` range string.
    fn port_string(&mut self, proto: &str, s: &str, span: Range<usize>) -> Option<PortRange> {
        let t = s.trim();
        // a service name from the one catalogue (`tcp = ["ssh", "https"]`)
        let p = if proto.starts_with("udp") || proto.starts_with("except_udp") {
            services::Proto::Udp
        } else {
            services::Proto::Tcp
        };
        if let Some(port) = services::port_for(t, p) {
            return Some(PortRange::single(port));
        }
        if !t.is_empty() && t.bytes().all(|b| b.is_ascii_digit()) {
            self.error(
                span,
                format!("expected a port number, found the string {s:?}"),
                Some(format!(
                    "write single ports as numbers, without quotes: did you mean {t}?"
                )),
            );
            return None;
        }
        if let Some((lo, hi)) = s.split_once('-')
            && is_digits(lo)
            && is_digits(hi)
        {
            return self.lo_hi(s, (lo, hi), span);
        }
        if let Some(p) = services::port_of(t) {
            self.error(
                span,
                format!("service {s:?} has no {proto} port"),
                Some(format!(
                    "its port is {p} on another protocol: list it there, or write the number"
                )),
            );
            return None;
        }
        // Not "lo-hi": say what was probably meant.
        let help = if let Some((a, b)) = loose_range(t) {
            format!(
                "ranges are written \"lo-hi\": did you mean \"{}-{}\"?",
                a.min(b),
                a.max(b)
            )
        } else {
            "write a port as a number (22) and a range as a \"lo-hi\" string (\"8000-8080\")"
                .to_string()
        };
        self.error(span, format!("malformed port range {s:?}"), Some(help));
        None
    }

    /// The range `s`, written as two numbers `lo` and `hi` joined by `-`.
    fn lo_hi(&mut self, s: &str, (lo, hi): (&str, &str), span: Range<usize>) -> Option<PortRange> {
        let inner = inner_span(self.src, &span, s);
        let sub = |r: Range<usize>| match &inner {
            Some(base) => base + r.start..base + r.end,
            None => span.clone(),
        };
        let lo_p = self.range_end(lo, sub(0..lo.len()));
        let hi_p = self.range_end(hi, sub(lo.len() + 1..s.len()));
        let (lo_p, hi_p) = (lo_p?, hi_p?);
        if lo_p > hi_p {
            self.error(
                span,
                format!("port range {s:?} is backwards"),
                Some(format!(
                    "ranges go from low to high: did you mean \"{hi_p}-{lo_p}\"?"
                )),
            );
            return None;
        }
        Some(PortRange { lo: lo_p, hi: hi_p })
    }

    /// One end of a range, 0-65535 (port 0 is a real header value: scan filters drop it).
    fn range_end(&mut self, text: &str, span: Range<usize>) -> Option<u16> {
        match text.parse::<u32>().ok().and_then(|n| u16::try_from(n).ok()) {
            Some(p) => Some(p),
            None => {
                self.error(
                    span,
                    format!("port {text} is out of range"),
                    Some("ports are 0-65535".into()),
                );
                None
            }
        }
    }
}

/// What to say about range `b` overlapping range `a`, listed earlier at `at`.
fn port_clash(proto: &str, a: PortRange, b: PortRange, at: Loc) -> (String, String) {
    if a == b {
        (
            format!("{proto} {} is listed twice", port_word(b)),
            format!("it is already listed at {at}; remove one of the two"),
        )
    } else if a.lo <= b.lo && b.hi <= a.hi {
        (
            format!("{proto} {} is already covered by {a}", port_word(b)),
            format!("{a} is listed at {at}; remove {b}"),
        )
    } else if b.lo <= a.lo && a.hi <= b.hi {
        (
            format!("{proto} range {b} also covers {a}, listed earlier"),
            format!("remove {a} (at {at}): {b} includes it"),
        )
    } else {
        let merged = PortRange {
            lo: a.lo.min(b.lo),
            hi: a.hi.max(b.hi),
        };
        (
            format!("{proto} range {b} overlaps {a}, listed earlier"),
            format!("merge the two ranges into one: did you mean \"{merged}\"? ({a} is at {at})"),
        )
    }
}

pub(super) fn port_word(r: PortRange) -> String {
    if r.lo == r.hi {
        format!("port {r}")
    } else {
        format!("ports {r}")
    }
}

/// `8000:8080`, `8000..8080`, `8000 - 8080`, `8000 to 8080`, `8000–8080`: two numbers with
/// some separator that is not the plain `-` of a well-formed range.
fn loose_range(t: &str) -> Option<(u16, u16)> {
    let a_end = t.find(|c: char| !c.is_ascii_digit())?;
    let b_start = t
        .char_indices()
        .rev()
        .find(|(_, c)| !c.is_ascii_digit())
        .map(|(i, c)| i + c.len_utf8())?;
    if a_end == 0 || b_start >= t.len() || b_start <= a_end {
        return None;
    }
    let sep = t[a_end..b_start].trim();
    if !["-", "–", "—", ":", "..", "...", "to", ""].contains(&sep) {
        return None;
    }
    let a = t[..a_end].parse::<u16>().ok().filter(|&p| p != 0)?;
    let b = t[b_start..].parse::<u16>().ok().filter(|&p| p != 0)?;
    Some((a, b))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn loose_ranges() {
        assert_eq!(loose_range("8000:8080"), Some((8000, 8080)));
        assert_eq!(loose_range("80 to 90"), Some((80, 90)));
        assert_eq!(loose_range("8000-8080x"), None);
        assert_eq!(loose_range("8000–8080"), Some((8000, 8080)));
        assert_eq!(loose_range("80-é90"), None);
    }
}
