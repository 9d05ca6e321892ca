//! Sources: `from = [...]` and the network lists `from_file` names, each network checked and
//! none listed twice or inside another.

use std::ops::Range;
use std::sync::Arc;

use toml::Spanned;
use toml::de::DeValue;

use super::cidr::parse_cidr;
use super::intervals::{Kept, all_disjoint, keep_disjoint};
use super::{Checker, FromList, Kind, inner_span, type_name};
use crate::core::diag::{Diags, loc_of};
use crate::core::model::{Cidr, Loc};

/// Words people write for "any source".
const ANYWHERE: &[&str] = &["any", "anywhere", "all", "*", "everywhere", "internet"];

impl Checker<'_> {
    pub(super) fn from(&mut self, kind: Kind, value: &Spanned<DeValue<'_>>) -> FromList {
        let span = value.span();
        let mut list = FromList {
            nets: Vec::new(),
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
                        format!("put it in brackets: from = [{}]", self.text(&span))
                    }
                    _ => "write from = [\"198.51.100.0/24\", \"2001:db8::/32\"]".into(),
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
            self.error(
                span,
                "`from = []` matches no source at all",
                Some(format!(
                    "remove the `from` key to {} from anywhere, or list the sources",
                    kind.key()
                )),
            );
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
        list.nets = keep_disjoint(
            nets,
            |n| n.interval(),
            |(a, aspan), (b, bspan)| {
                let (msg, help) = net_clash(*a, *b, loc_of(self.src, aspan.start));
                self.error(bspan.clone(), msg, Some(help));
            },
        );
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
            let mut list = from.unwrap_or(FromList {
                nets: Vec::new(),
                clean: false,
            });
            list.clean = false;
            return Some(list);
        };
        let mut list = from.unwrap_or(FromList {
            nets: Vec::new(),
            clean: true,
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
        // later checks (shadowed rejects) point at the from_file key for these networks
        list.nets
            .extend(file_nets.into_iter().map(|(n, _)| (n, span.clone())));
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
            Ok(source) => Some(Arc::new(source)),
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
    fn list_networks(
        &self,
        source: &(String, String),
        list: &mut FromList,
    ) -> (Vec<(Cidr, Range<usize>)>, Diags) {
        let text = &source.1;
        let mut sub = Checker::new(text, None, self.stored);
        let mut parsed: Vec<(Cidr, Range<usize>)> = Vec::new();
        for (tspan, t) in list_lines(text) {
            match sub.cidr(t, tspan.clone()) {
                Some(net) => parsed.push((net, tspan)),
                None => list.clean = false,
            }
        }
        // no overlap anywhere (the usual list): nothing more to look at
        let spans: Vec<(u8, u128, u128)> = list
            .nets
            .iter()
            .chain(parsed.iter())
            .map(|(n, _)| n.interval())
            .collect();
        if all_disjoint(&spans) {
            return (parsed, sub.diags);
        }
        let mut kept = Kept::default();
        for (i, (net, _)) in list.nets.iter().enumerate() {
            let (fam, lo, hi) = net.interval();
            kept.insert(fam, lo, hi, i);
        }
        let inline = list.nets.len();
        let mut file_nets: Vec<(Cidr, Range<usize>)> = Vec::new();
        for (net, tspan) in parsed {
            let (fam, lo, hi) = net.interval();
            if let Some(j) = kept.first_overlap(fam, lo, hi) {
                let (other, where_) = if j < inline {
                    let (n, s) = &list.nets[j];
                    (*n, format!("in `from` at {}", loc_of(self.src, s.start)))
                } else {
                    let (n, s) = &file_nets[j - inline];
                    (*n, format!("at line {}", loc_of(text, s.start).line))
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
        (file_nets, sub.diags)
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
fn list_lines(text: &str) -> Vec<(Range<usize>, &str)> {
    let mut out = Vec::new();
    let mut offset = 0;
    for line in text.split_inclusive('\n') {
        let start = offset;
        offset += line.len();
        let content = line.split('#').next().unwrap_or("");
        let t = content.trim();
        if t.is_empty() {
            continue;
        }
        let at = start + (content.len() - content.trim_start().len());
        out.push((at..at + t.len(), t));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn list_file_lines() {
        let text = "# office\n 10.0.0.0/8 # hq\n\n192.0.2.1\r\n";
        let lines = list_lines(text);
        let got: Vec<(&str, &str)> = lines.iter().map(|(r, t)| (&text[r.clone()], *t)).collect();
        assert_eq!(
            got,
            [("10.0.0.0/8", "10.0.0.0/8"), ("192.0.2.1", "192.0.2.1")]
        );
    }
}
