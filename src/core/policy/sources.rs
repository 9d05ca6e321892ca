//! Sources: `from = [...]` and the network lists `from_file` names, each network checked and
//! none listed twice or inside another.

use std::ops::Range;
use std::sync::Arc;

use toml::Spanned;
use toml::de::DeValue;

use super::cidr::parse_cidr;
use super::intervals::{Kept, disjoint, keep_disjoint};
use super::{Checker, FromList, Kind, inner_span, type_name};
use crate::core::diag::{Diags, loc_of};
use crate::core::model::{Cidr, Loc};

/// Words people write for "any source".
const ANYWHERE: &[&str] = &["any", "anywhere", "all", "*", "everywhere", "internet"];

impl Checker<'_> {
    /// `from` (or `key`, another list of addresses: `to`, `except_from`, `published_to` …).
    pub(super) fn from(&mut self, kind: Kind, value: &Spanned<DeValue<'_>>) -> FromList {
        self.addresses(kind, "from", value)
    }

    pub(super) fn addresses(
        &mut self,
        kind: Kind,
        key: &str,
        value: &Spanned<DeValue<'_>>,
    ) -> FromList {
        let span = value.span();
        let mut list = FromList {
            nets: Vec::new(),
            spans: Vec::new(),
            clean: false,
        };
        if self.tainted(&span) {
            return list;
        }
        let items = match value.get_ref() {
            DeValue::Array(items) => items,
            other => {
                let help = match other {
                    DeValue::String(_) => {
                        format!("put it in brackets: {key} = [{}]", self.text(&span))
                    }
                    _ => format!("write {key} = [\"198.51.100.0/24\", \"2001:db8::/32\"]"),
                };
                self.error(
                    span,
                    format!(
                        "expected an array of addresses or networks, found {}",
                        type_name(other)
                    ),
                    Some(help),
                );
                return list;
            }
        };
        if items.is_empty() {
            let (what, help) = match key {
                "from" => (
                    "matches no source at all".to_string(),
                    format!(
                        "remove the `from` key to {} from anywhere, or list the sources",
                        kind.key()
                    ),
                ),
                _ => {
                    let (of, without) = match key {
                        "to" => ("destination", "the entry takes every destination"),
                        "except_from" => ("source taken out", "no source is taken out"),
                        "except_to" => ("destination taken out", "no destination is taken out"),
                        "published_to" => (
                            "original destination",
                            "the entry takes every original destination",
                        ),
                        _ => ("original source", "the entry takes every original source"),
                    };
                    (
                        format!("lists no {of}"),
                        format!(
                            "remove the `{key}` key (without it {without}), or list the addresses"
                        ),
                    )
                }
            };
            self.error(span, format!("`{key} = []` {what}"), Some(help));
            return list;
        }
        list.clean = true;
        let mut nets = Vec::new();
        for item in items.iter() {
            match self.source(item) {
                Some(net) => nets.push((net, item.span())),
                None => list.clean = false,
            }
        }
        // The same network twice, or one inside another, within this one list: checked in
        // listing order against the networks kept so far, so lists of 50,000 sources stay
        // O(n log n).
        (list.nets, list.spans) = keep_disjoint(
            nets,
            |n| n.interval(),
            |(a, aspan), (b, bspan)| {
                let (msg, help) = net_clash(*a, *b, loc_of(self.src, aspan.start));
                self.error(bspan.clone(), msg, Some(help));
            },
        )
        .into_iter()
        .unzip();
        list
    }

    /// One element of `from`: a network written as a string.
    fn source(&mut self, item: &Spanned<DeValue<'_>>) -> Option<Cidr> {
        let ispan = item.span();
        if self.tainted(&ispan) {
            return None;
        }
        match item.get_ref() {
            DeValue::String(s) => self.cidr(s, ispan),
            other => {
                self.error(
                    ispan,
                    format!(
                        "expected an address or network string, found {}",
                        type_name(other)
                    ),
                    Some(
                        "write it as a string, e.g. \"198.51.100.0/24\" or \"2001:db8::1\"".into(),
                    ),
                );
                None
            }
        }
    }

    /// `from_file = "path"`: one network per line (`#` starts a comment), added to the
    /// entry's `from`. Problems point into the list file; a network that is already listed
    /// (inline or earlier in the file), or nested in one, is an error as in `from`.
    pub(super) fn list_file(
        &mut self,
        value: &Spanned<DeValue<'_>>,
        from: Option<FromList>,
    ) -> Option<FromList> {
        let span = value.span();
        let Some(path) = value.get_ref().as_str() else {
            self.error(
                span,
                format!(
                    "expected the path of a file listing networks, found {}",
                    type_name(value.get_ref())
                ),
                Some(
                    "write from_file = \"sources/office.txt\" (relative to the policy file)".into(),
                ),
            );
            return from;
        };
        let Some(source) = self.read_list(path, &span) else {
            let mut list = from.unwrap_or_default();
            list.clean = false;
            return Some(list);
        };
        let mut list = from.unwrap_or(FromList {
            clean: true,
            ..FromList::default()
        });
        let (file_nets, diags) = self.list_networks(&source, &mut list);
        if file_nets.is_empty() && diags.is_empty() {
            self.error(
                span.clone(),
                format!("{path} lists no network: this entry would match nothing from it"),
                Some("list one network per line, e.g. 198.51.100.0/24, or remove from_file".into()),
            );
            list.clean = false;
        }
        self.diags
            .absorb(0, diags, |d| d.source = Some(source.clone()));
        if list.nets.is_empty() {
            list.nets = file_nets;
        } else {
            list.nets.extend(file_nets);
        }
        Some(list)
    }

    /// The list file's (name, text), or None when it cannot be read (reported at `span`).
    fn read_list(&mut self, path: &str, span: &Range<usize>) -> Option<Arc<(String, String)>> {
        crate::core::diag::new_texts();
        let loaded = match self.load {
            Some(load) => load(path),
            None => Err("a list file cannot name another".into()),
        };
        match loaded {
            Ok(source) => Some(source),
            Err(why) => {
                self.error(
                    span.clone(),
                    format!("cannot read {path}: {why}"),
                    Some("the path is relative to the policy file's folder; the file lists one network per line".into()),
                );
                None
            }
        }
    }

    /// The networks of a list file that `list` (the inline ones) and earlier lines do not
    /// already hold, and the problems found in the file, pointing into it.
    fn list_networks(&self, source: &(String, String), list: &mut FromList) -> (Vec<Cidr>, Diags) {
        let text = &source.1;
        let mut sub = Checker::new(text, None, self.stored);
        // room for a list of IPv4 addresses, the shortest usual lines (8 bytes with the
        // newline); pages never written to cost nothing
        let mut parsed: Vec<Cidr> = Vec::with_capacity(text.len() / 8 + 1);
        if !list_lines(text, &mut sub, |net, _| parsed.push(net)) {
            list.clean = false;
        }
        // no overlap anywhere (the usual list): nothing more to look at
        let inline = list.nets.len();
        let net = |i: usize| match i.checked_sub(inline) {
            None => list.nets[i],
            Some(k) => parsed[k],
        };
        if disjoint(inline + parsed.len(), |i| net(i).interval()) {
            return (parsed, sub.diags);
        }
        // an overlap: read again with each line's place (problems were said the first time),
        // and say which lines overlap which
        drop(parsed);
        let mut placed: Vec<(Cidr, Range<usize>)> = Vec::new();
        list_lines(
            text,
            &mut Checker::new(text, None, self.stored),
            |net, at| {
                placed.push((net, at));
            },
        );
        let mut kept = Kept::default();
        for (i, net) in list.nets.iter().enumerate() {
            let (fam, lo, hi) = net.interval();
            kept.insert(fam, lo, hi, i);
        }
        let mut file_nets: Vec<(Cidr, Range<usize>)> = Vec::new();
        for (net, tspan) in placed {
            let (fam, lo, hi) = net.interval();
            if let Some(j) = kept.first_overlap(fam, lo, hi) {
                let (other, where_) = match list.spans.get(j) {
                    Some(s) if j < inline => (
                        list.nets[j],
                        format!("in `from` at {}", loc_of(self.src, s.start)),
                    ),
                    _ => {
                        let (n, s) = &file_nets[j - inline];
                        (*n, format!("at line {}", loc_of(text, s.start).line))
                    }
                };
                let msg = if other == net {
                    format!("{net} is listed twice")
                } else if other.covers(net) {
                    format!("{net} is already inside {other}")
                } else {
                    format!("{net} also covers {other}")
                };
                sub.error(
                    tspan,
                    msg,
                    Some(format!("{other} is listed {where_}; keep one of the two")),
                );
                list.clean = false;
                continue;
            }
            kept.insert(fam, lo, hi, inline + file_nets.len());
            file_nets.push((net, tspan));
        }
        (file_nets.into_iter().map(|(n, _)| n).collect(), sub.diags)
    }

    /// One address or network, written as `s` at `span`.
    pub(super) fn cidr(&mut self, s: &str, span: Range<usize>) -> Option<Cidr> {
        let t = s.trim();
        if t != s && !t.is_empty() && parse_cidr(t).is_ok() {
            self.error(
                span,
                format!("unexpected spaces in {s:?}"),
                Some(format!("did you mean \"{t}\"?")),
            );
            return None;
        }
        if ANYWHERE.iter().any(|w| w.eq_ignore_ascii_case(t)) {
            self.error(
                span,
                format!("{s:?} is not an address"),
                Some(
                    "remove the `from` key to match any source (or write \"0.0.0.0/0\" and \"::/0\")"
                        .into(),
                ),
            );
            return None;
        }
        match parse_cidr(s) {
            Ok(net) => Some(net),
            Err(e) => {
                let (at, message, help) = e.explain(s);
                // point inside the string when it was written plainly
                let at = match (at, inner_span(self.src, &span, s)) {
                    (Some(r), Some(base)) => base + r.start..base + r.end,
                    _ => span,
                };
                self.error(at, message, Some(help));
                None
            }
        }
    }
}

/// What to say about network `b` overlapping network `a`, listed earlier at `at`.
fn net_clash(a: Cidr, b: Cidr, at: Loc) -> (String, String) {
    if a == b {
        (
            format!("{b} is listed twice"),
            format!("it is already listed at {at}; remove one of the two"),
        )
    } else if a.covers(b) {
        (
            format!("{b} is already inside {a}"),
            format!("{a} is listed at {at}; remove {b}"),
        )
    } else {
        (
            format!("{b} also covers {a}, listed earlier"),
            format!("remove {a} (at {at}): {b} includes it"),
        )
    }
}

/// The lines of a list file that say something: without their `#` comment and trimmed,
/// with their spans.
struct ListLines<'t> {
    text: &'t str,
    offset: usize,
}

impl<'t> ListLines<'t> {
    /// The lines of `text`, after a byte order mark at its start (an editor's, as a policy
    /// file may have one too).
    fn new(text: &'t str) -> Self {
        let offset = if text.starts_with('\u{feff}') {
            '\u{feff}'.len_utf8()
        } else {
            0
        };
        ListLines { text, offset }
    }
}

impl<'t> Iterator for ListLines<'t> {
    type Item = (Range<usize>, &'t str);

    fn next(&mut self) -> Option<Self::Item> {
        while self.offset < self.text.len() {
            let start = self.offset;
            let rest = &self.text.as_bytes()[start..];
            let len = rest
                .iter()
                .position(|b| *b == b'\n')
                .map_or(rest.len(), |i| i + 1);
            self.offset += len;
            let line = &rest[..len];
            // `#` and the whitespace trimmed are ASCII: the cuts fall on char boundaries
            let content =
                &self.text[start..start + line.iter().position(|b| *b == b'#').unwrap_or(len)];
            let t = content.trim();
            if t.is_empty() {
                continue;
            }
            let at = start + (content.len() - content.trim_start().len());
            return Some((at..at + t.len(), t));
        }
        None
    }
}

/// Reads each line of a list file that says something into `push` (its network and
/// where it is written), problems to `sub`; false when a line was not a network.
fn list_lines(text: &str, sub: &mut Checker<'_>, mut push: impl FnMut(Cidr, Range<usize>)) -> bool {
    let mut clean = true;
    let mut lines = ListLines::new(text);
    loop {
        // the usual line, an IPv4 address or network alone: read in place
        if let Some((addr, plen, len)) = fast_v4_line(&text.as_bytes()[lines.offset..]) {
            let at = lines.offset;
            push(v4(addr, plen), at..at + len);
            lines.offset = (at + len + 1).min(text.len());
            continue;
        }
        let Some((tspan, t)) = lines.next() else {
            return clean;
        };
        match fast_v4(t.as_bytes()).or_else(|| sub.cidr(t, tspan.clone())) {
            Some(net) => push(net, tspan),
            None => clean = false,
        }
    }
}

/// The network an IPv4 address or network written plainly (`198.51.100.7`,
/// `198.51.100.0/24`) is, as [`parse_cidr`] reads it: the fast way through a list of
/// 100,000 lines. None for anything else (IPv6, a mistake): [`parse_cidr`] then decides,
/// and explains.
fn fast_v4(s: &[u8]) -> Option<Cidr> {
    fast_v4_prefix(s).and_then(|(a, l, used)| (used == s.len()).then(|| v4(a, l)))
}

/// The network `addr/len` (the fast way's parts, kept in registers until here).
fn v4(addr: u32, len: u8) -> Cidr {
    Cidr::V4(std::net::Ipv4Addr::from(addr), len)
}

/// [`fast_v4`] of a whole line at the start of `s`: the network and the line's length
/// without its `\n`, when the line is just that (no spaces, no comment).
fn fast_v4_line(s: &[u8]) -> Option<(u32, u8, usize)> {
    let (a, l, used) = fast_v4_prefix(s)?;
    matches!(s.get(used), None | Some(b'\n')).then_some((a, l, used))
}

/// The IPv4 network written at the start of `s` (address, prefix length), and how many
/// bytes it takes; None when what starts `s` is not plainly one, or goes on with a digit.
#[inline]
fn fast_v4_prefix(s: &[u8]) -> Option<(u32, u8, usize)> {
    let digit = |i: usize| match s.get(i) {
        Some(b @ b'0'..=b'9') => Some(u32::from(b - b'0')),
        _ => None,
    };
    let mut i = 0;
    let mut addr: u32 = 0;
    for k in 0..4 {
        let mut v = digit(i)?;
        i += 1;
        // std refuses leading zeros (they could mean octal): after a 0, no digit follows
        if v != 0 {
            for _ in 0..2 {
                let Some(d) = digit(i) else { break };
                v = v * 10 + d;
                i += 1;
            }
        }
        if v > 255 {
            return None;
        }
        addr = addr << 8 | v;
        if k < 3 {
            if s.get(i) != Some(&b'.') {
                return None;
            }
            i += 1;
        }
    }
    let mut len = 32;
    if s.get(i) == Some(&b'/') {
        let a = digit(i + 1)?;
        (len, i) = match digit(i + 2) {
            Some(b) => (a * 10 + b, i + 3),
            None => (a, i + 2),
        };
        if len > 32 {
            return None;
        }
    }
    if digit(i).is_some() {
        return None;
    }
    let host = u32::MAX.checked_shr(len).unwrap_or(0);
    if addr & host != 0 {
        return None;
    }
    Some((addr, len as u8, i))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn list_file_lines() {
        let text = "# office\n 10.0.0.0/8 # hq\n\n192.0.2.1\r\n";
        let got: Vec<(&str, &str)> = ListLines::new(text)
            .map(|(r, t)| (&text[r.clone()], t))
            .collect();
        assert_eq!(
            got,
            [("10.0.0.0/8", "10.0.0.0/8"), ("192.0.2.1", "192.0.2.1")]
        );
        // an editor's byte order mark before the first line, and the fast way after it
        let text = "\u{feff}10.0.0.1\n";
        let mut nets = Vec::new();
        let mut sub = Checker::new(text, None, false);
        assert!(list_lines(text, &mut sub, |n, _| nets.push(n)));
        assert_eq!(nets, [parse_cidr("10.0.0.1").unwrap()]);
    }

    /// The fast way reads what `parse_cidr` reads, exactly, or leaves it to `parse_cidr`:
    /// every string of a small alphabet up to 6 characters, and random longer ones.
    #[test]
    fn fast_v4_agrees_with_parse_cidr() {
        let alphabet = b"0125/.9:a ";
        let mut checked = 0;
        let mut s = Vec::new();
        let mut check = |s: &[u8]| {
            let text = std::str::from_utf8(s).unwrap();
            if let Some(net) = fast_v4(s) {
                assert_eq!(parse_cidr(text), Ok(net), "{text:?}");
            }
            checked += 1;
        };
        fn each(s: &mut Vec<u8>, alphabet: &[u8], depth: usize, f: &mut dyn FnMut(&[u8])) {
            f(s);
            if depth == 0 {
                return;
            }
            for c in alphabet {
                s.push(*c);
                each(s, alphabet, depth - 1, f);
                s.pop();
            }
        }
        each(&mut s, alphabet, 6, &mut check);
        // longer: random dotted quads with prefixes, some malformed
        let mut rnd = crate::core::test_rng(0x9e37_79b9_7f4a_7c15);
        let mut hits = 0;
        for _ in 0..200_000 {
            let mut t = String::new();
            for k in 0..4 {
                let o = rnd(300);
                if rnd(20) == 0 {
                    t.push('0');
                }
                t.push_str(&o.to_string());
                if k < 3 {
                    t.push('.');
                }
            }
            if rnd(2) == 0 {
                t.push_str(&format!("/{}", rnd(40)));
            }
            if let Some(net) = fast_v4(t.as_bytes()) {
                hits += 1;
                assert_eq!(parse_cidr(&t), Ok(net), "{t:?}");
            } else {
                // every plain IPv4 form takes the fast way: what it leaves is a mistake
                assert!(
                    parse_cidr(&t).is_err(),
                    "{t:?} parses, but not the fast way"
                );
            }
        }
        assert!(checked > 1_000_000 && hits > 10_000, "{checked} {hits}");
        assert_eq!(
            fast_v4(b"198.51.100.0/24"),
            Some(Cidr::V4([198, 51, 100, 0].into(), 24))
        );
        assert_eq!(
            fast_v4(b"0.0.0.0/0"),
            Some(Cidr::V4([0, 0, 0, 0].into(), 0))
        );
    }
}
