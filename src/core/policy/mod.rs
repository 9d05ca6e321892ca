//! The policy file: TOML text → validated [`Policy`], or every problem at once.
//!
//! Pure: no I/O. The format is documented line by line in `examples/web-and-mail.toml`:
//!
//! ```toml
//! mode = "enforce"              # or "audit"; optional, default "enforce"
//! final = "drop"                # enforce mode's last rule: "drop" (default), "reject" (= ICMP
//!                               # port-unreachable, like iptables' -j REJECT), "port-unreachable",
//!                               # "host-unreachable", "admin-prohibited", "no-route"
//!
//! [baseline]                    # optional; every key optional, default true
//! established = true
//! invalid = true
//! loopback = true
//! icmp = true
//! icmpv6 = true
//!
//! [[allow]]                     # zero or more
//! name = "ssh"                  # required, unique across allow and reject entries
//! tcp = [22, "8000-8080"]       # ports, or "lo-hi" inclusive ranges
//! udp = [53]
//! from = ["198.51.100.0/24", "2001:db8::/32", "203.0.113.7"]   # absent = anywhere
//! icmp = [8, "echo-request"]    # ICMPv4 types by number or iptables/nft name
//! iif = "eth0"                  # input interface by name (1-15 chars, no `/`, `:`, `*`, spaces)
//!                               # no ports but `from`/`iif`: everything from there
//!
//! [[reject]]                    # zero or more; the keys of allow, plus `with`
//! name = "ident"
//! tcp = [113]
//! with = "tcp-reset"            # or port-unreachable, host-unreachable, admin-prohibited, no-route
//! ```
//!
//! [`parse`] never stops at the first problem: TOML syntax errors (recovered by
//! `toml::de::DeTable::parse_recoverable`), unknown keys, wrong types and invalid values are all
//! reported, each pointing at the offending text. Values that a syntax error runs through are
//! left to that syntax error, so that one typo does not cascade into several complaints.

use std::collections::HashMap;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::ops::Range;

pub(crate) mod names;

use toml::Spanned;
use toml::de::{DeString, DeTable, DeValue};

use crate::core::diag::{Diagnostic, has_errors, loc_of};
use crate::core::model::{
    Baseline, Cidr, Final, ICMP_TYPES, IcmpReject, Mode, Policy, PortRange, Reject, RejectWith,
    Service, valid_ifname,
};
use names::{NAME_MAX, Repair, sanitise_name, valid_name};

/// Parses and validates a policy file.
///
/// Returns `Some(policy)` if and only if there is no error; the diagnostics (sorted by position)
/// hold every error and warning found, so warnings come back alongside a valid policy.
pub fn parse(src: &str) -> (Option<Policy>, Vec<Diagnostic>) {
    parse_with(src, &|_| {
        Err("no files can be read here: the policy was given as text, not as a file".into())
    })
}

/// Reads a `from_file` list: its path as written in the policy → (name to show in
/// diagnostics, text), or why it cannot be read. The CLI resolves paths relative to the
/// policy file; tests pass files from memory. Parsing stays free of I/O.
pub type Loader<'a> = &'a dyn Fn(&str) -> Result<(String, String), String>;

/// [`parse`], with a way to read the network lists `from_file` names.
pub fn parse_with(src: &str, load: Loader<'_>) -> (Option<Policy>, Vec<Diagnostic>) {
    parse_inner(src, load, false)
}

/// [`parse`] for a policy text statewall stored itself (the confirmed policy, the ruleset a
/// rollback restores): an entry name that a later statewall reserved for its own rules is
/// accepted with a warning, so that what was confirmed still loads at boot and can still be
/// rolled back to. Everything else is checked as in [`parse`].
pub fn parse_stored(src: &str) -> (Option<Policy>, Vec<Diagnostic>) {
    parse_inner(
        src,
        &|_| Err("no files can be read here: the policy was given as text, not as a file".into()),
        true,
    )
}

fn parse_inner(src: &str, load: Loader<'_>, stored: bool) -> (Option<Policy>, Vec<Diagnostic>) {
    let (root, errors) = DeTable::parse_recoverable(src);
    let mut cx = Checker {
        src,
        diags: Vec::new(),
        syntax: Vec::new(),
        swallowed: Vec::new(),
        load: Some(load),
        stored,
    };
    cx.syntax_errors(&errors, root.get_ref());
    let policy = cx.policy(root.get_ref());
    let mut diags = cx.diags;
    // the policy file's own problems first, then each list file's, each by position
    diags.sort_by_key(|d| (d.source.as_ref().map(|s| s.0.clone()), d.span.start));
    let policy = (!has_errors(&diags)).then_some(policy);
    (policy, diags)
}

const ROOT_KEYS: &[&str] = &["mode", "final", "baseline", "allow", "reject"];
const BASELINE_KEYS: &[&str] = &["established", "invalid", "loopback", "icmp", "icmpv6"];
const ALLOW_KEYS: &[&str] = &["name", "tcp", "udp", "icmp", "from", "from_file", "iif"];
const REJECT_KEYS: &[&str] = &[
    "name",
    "tcp",
    "udp",
    "icmp",
    "from",
    "from_file",
    "iif",
    "with",
];
const FINALS: &[&str] = &[
    "drop",
    "reject",
    "port-unreachable",
    "host-unreachable",
    "admin-prohibited",
    "no-route",
];
const MODES: &[&str] = &["enforce", "audit"];
const REJECT_WITH: &[&str] = &[
    "tcp-reset",
    "port-unreachable",
    "host-unreachable",
    "admin-prohibited",
    "no-route",
];

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Allow,
    Reject,
}

impl Kind {
    fn key(self) -> &'static str {
        match self {
            Kind::Allow => "allow",
            Kind::Reject => "reject",
        }
    }
}

/// A port list as written: the valid elements with their spans.
#[derive(Default)]
struct PortList {
    ports: Vec<(PortRange, Range<usize>)>,
    /// The key is present and is not an empty array (even if it is broken).
    mentioned: bool,
}

/// The `from` key as written.
#[derive(Default)]
struct FromList {
    nets: Vec<(Cidr, Range<usize>)>,
    /// Every element valid (or the key absent): the list can be reasoned about.
    clean: bool,
}

/// One `[[allow]]`/`[[reject]]` entry, checked.
struct Entry {
    kind: Kind,
    name: Option<(String, Range<usize>)>,
    tcp: PortList,
    udp: PortList,
    /// ICMPv4 types, with their spans.
    icmp: Vec<(u8, Range<usize>)>,
    /// `None` = from anywhere.
    from: Option<FromList>,
    /// `iif`, when valid.
    iif: Option<String>,
    with: RejectWith,
}

struct Checker<'s> {
    src: &'s str,
    diags: Vec<Diagnostic>,
    /// Where the TOML syntax errors are: values around them are not checked any further.
    syntax: Vec<usize>,
    /// What an unclosed array or inline table swallowed after its first error: not checked.
    swallowed: Vec<Range<usize>>,
    /// Reads `from_file` lists (None inside a list file itself).
    load: Option<Loader<'s>>,
    /// A text statewall stored itself: see [`parse_stored`].
    stored: bool,
}

impl<'s> Checker<'s> {
    fn error(&mut self, span: Range<usize>, message: impl Into<String>, help: Option<String>) {
        let mut d = Diagnostic::error(span, self.src, message);
        d.help = help;
        self.diags.push(d);
    }

    fn warning(&mut self, span: Range<usize>, message: impl Into<String>, help: Option<String>) {
        let mut d = Diagnostic::warning(span, self.src, message);
        d.help = help;
        self.diags.push(d);
    }

    /// Whether a syntax error lies within (or right at the edge of) `span`.
    fn tainted(&self, span: &Range<usize>) -> bool {
        self.syntax
            .iter()
            .any(|&at| span.start <= at && at <= span.end)
            || self
                .swallowed
                .iter()
                .any(|g| g.start <= span.start && span.start <= g.end)
    }

    fn text(&self, span: &Range<usize>) -> &'s str {
        self.src.get(span.clone()).unwrap_or("")
    }

    fn line_of(&self, span: &Range<usize>) -> u32 {
        loc_of(self.src, span.start).line
    }

    /// Reports the TOML syntax errors. An array or inline table left open swallows what
    /// follows it and makes the TOML parser report an error on nearly every later line: those
    /// are folded into one error at the opening bracket, plus the first one inside (usually
    /// next to the actual mistake); nothing after that first one is checked any further.
    fn syntax_errors(&mut self, errors: &[toml::de::Error], root: &DeTable<'_>) {
        let mut containers = Vec::new();
        containers_of(root, &mut containers);
        let mut errors: Vec<&toml::de::Error> = errors.iter().collect();
        errors.sort_by_key(|e| e.span().map_or(0, |s| s.start));

        // The containers the parser says are unclosed end where its error is; when several
        // containers end there, the unclosed ones are the outermost.
        let mut open: Vec<(Range<usize>, char)> = Vec::new();
        for (what, bracket) in [("unclosed array,", '['), ("unclosed inline table,", '{')] {
            let mut ends: Vec<usize> = errors
                .iter()
                .filter(|e| e.message().starts_with(what))
                .filter_map(|e| e.span().map(|s| s.start))
                .collect();
            ends.sort_unstable();
            ends.dedup();
            for end in ends {
                let n = errors
                    .iter()
                    .filter(|e| e.message().starts_with(what))
                    .filter(|e| e.span().map(|s| s.start) == Some(end))
                    .count();
                let mut here: Vec<&Range<usize>> = containers
                    .iter()
                    .filter(|(r, b)| *b == bracket && r.end == end)
                    .map(|(r, _)| r)
                    .collect();
                here.sort_by_key(|r| r.start);
                open.extend(here.into_iter().take(n).map(|r| (r.clone(), bracket)));
            }
        }
        let outer: Vec<(Range<usize>, char)> = open
            .iter()
            .filter(|(r, _)| {
                !open
                    .iter()
                    .any(|(o, _)| o != r && o.start <= r.start && r.end <= o.end)
            })
            .cloned()
            .collect();

        let mut first_inside: Vec<Option<usize>> = vec![None; outer.len()];
        for e in errors {
            let at = e.span().map_or(0, |s| s.start);
            match outer.iter().position(|(r, _)| r.start < at && at <= r.end) {
                None => self.syntax_error(e),
                Some(i) => {
                    let unclosed_msg = e.message().starts_with("unclosed array,")
                        || e.message().starts_with("unclosed inline table,");
                    if !unclosed_msg && first_inside[i].is_none() {
                        first_inside[i] = Some(at);
                        self.syntax_error(e);
                    }
                    self.syntax.push(at);
                }
            }
        }
        for ((r, _), first) in outer.iter().zip(first_inside) {
            self.swallowed.push(first.unwrap_or(r.end)..r.end);
        }
        open.sort_by_key(|(r, _)| r.start);
        for (r, bracket) in open {
            self.syntax.push(r.start);
            if self
                .swallowed
                .iter()
                .any(|g| g.start <= r.start && r.start <= g.end)
            {
                continue; // inside what an earlier unclosed bracket swallowed
            }
            let (what, close) = if bracket == '[' {
                ("array", ']')
            } else {
                ("inline table", '}')
            };
            let first = loc_of(self.src, r.start).line;
            let last = loc_of(self.src, r.end).line;
            let help = if last > first {
                format!(
                    "add the missing `{close}`: everything up to line {last} was read as part of this {what}"
                )
            } else {
                format!("add the missing `{close}`")
            };
            self.error(
                r.start..r.start + 1,
                format!("invalid TOML: this {what} is never closed"),
                Some(help),
            );
        }
    }

    fn syntax_error(&mut self, e: &toml::de::Error) {
        let span = e.span().unwrap_or(0..0);
        let at = span.start;
        let msg = e.message();
        let text = self.text(&span);
        let words: Vec<&str> = text.split_whitespace().collect();
        let mut message = format!("invalid TOML: {msg}");
        let help = if msg.starts_with("string values must be quoted") && !words.is_empty() {
            let t = text.trim();
            if words.len() > 1 && words.iter().all(|w| w.parse::<i64>().is_ok()) {
                Some(format!(
                    "separate array elements with commas: {}",
                    words.join(", ")
                ))
            } else if t.eq_ignore_ascii_case("true") || t.eq_ignore_ascii_case("false") {
                Some(format!("did you mean {}?", t.to_ascii_lowercase()))
            } else {
                Some(format!("did you mean \"{t}\"?"))
            }
        } else if msg == "duplicate key" {
            if !text.is_empty() {
                message = format!("invalid TOML: duplicate key `{text}`");
            }
            let line_start = self.src[..at.min(self.src.len())]
                .rfind('\n')
                .map_or(0, |i| i + 1);
            let line = self.src[line_start..].lines().next().unwrap_or("").trim();
            match ["allow", "reject"]
                .into_iter()
                .find(|k| line.starts_with(&format!("[{k}]")) || line == format!("[{k}]"))
            {
                Some(k) => Some(format!(
                    "entries are written [[{k}]], with double brackets: each [[{k}]] header starts one more entry"
                )),
                None => Some(
                    "each key, and each [table], may be written only once; merge the two"
                        .to_string(),
                ),
            }
        } else {
            None
        };
        self.error(span, message, help);
        self.syntax.push(at);
    }

    fn policy(&mut self, root: &DeTable<'_>) -> Policy {
        let mut policy = Policy::default();
        let mut entries = Vec::new();
        for (key, value) in root.iter() {
            match key.get_ref().as_ref() {
                "mode" => {
                    if let Some(mode) = self.mode(value) {
                        policy.mode = mode;
                    }
                }
                "final" => {
                    if let Some(f) = self.final_rule(value) {
                        policy.final_rule = f;
                    }
                }
                "baseline" => policy.baseline = self.baseline(key, value),
                "allow" => self.entries(Kind::Allow, key, value, &mut entries),
                "reject" => self.entries(Kind::Reject, key, value, &mut entries),
                _ => {
                    self.unknown_key(key, Place::Root);
                }
            }
        }
        self.duplicate_names(&entries);
        self.shadowed_rejects(&entries);
        if policy.baseline.icmp {
            self.icmp_rejects_shadowed(&entries);
        }

        for e in entries {
            let Some((name, span)) = e.name else { continue };
            let service = Service {
                name,
                loc: loc_of(self.src, span.start),
                tcp: e.tcp.ports.into_iter().map(|(p, _)| p).collect(),
                udp: e.udp.ports.into_iter().map(|(p, _)| p).collect(),
                from: e
                    .from
                    .map(|f| f.nets.into_iter().map(|(n, _)| n).collect())
                    .unwrap_or_default(),
                icmp: e.icmp.into_iter().map(|(t, _)| t).collect(),
                iif: e.iif,
            };
            match e.kind {
                Kind::Allow => policy.allow.push(service),
                Kind::Reject => policy.reject.push(Reject {
                    service,
                    with: e.with,
                }),
            }
        }
        policy
    }

    // ---------------------------------------------------------------- mode and baseline

    fn mode(&mut self, value: &Spanned<DeValue<'_>>) -> Option<Mode> {
        let span = value.span();
        if self.tainted(&span) {
            return None;
        }
        let Some(s) = value.get_ref().as_str() else {
            self.error(
                span,
                format!(
                    "expected a string for `mode`, found {}",
                    type_name(value.get_ref())
                ),
                Some("write mode = \"enforce\" or mode = \"audit\"".into()),
            );
            return None;
        };
        match s {
            "enforce" => Some(Mode::Enforce),
            "audit" => Some(Mode::Audit),
            _ => {
                let aliases = [
                    ("drop", "enforce"),
                    ("strict", "enforce"),
                    ("on", "enforce"),
                    ("monitor", "audit"),
                    ("log", "audit"),
                    ("permissive", "audit"),
                    ("dry-run", "audit"),
                    ("learn", "audit"),
                ];
                let help = match suggest(s, MODES, &aliases) {
                    Some(good) => format!(
                        "did you mean \"{good}\"? the modes are \"enforce\" (drop what is not allowed) and \"audit\" (count it and accept it)"
                    ),
                    None => "the modes are \"enforce\" (drop what is not allowed) and \"audit\" (count it and accept it)".into(),
                };
                self.error(span, format!("unknown mode {s:?}"), Some(help));
                None
            }
        }
    }

    fn baseline(&mut self, key: &Spanned<DeString<'_>>, value: &Spanned<DeValue<'_>>) -> Baseline {
        let mut b = Baseline::default();
        let table = match value.get_ref() {
            DeValue::Table(t) => t,
            DeValue::Array(a)
                if a.iter().all(|v| v.get_ref().is_table())
                    && self.text(&value.span()).starts_with("[[") =>
            {
                self.error(
                    key.span(),
                    "`baseline` is written as an array of tables ([[baseline]])",
                    Some(
                        "write [baseline], with single brackets: there is only one baseline".into(),
                    ),
                );
                for t in a.iter().filter_map(|v| v.get_ref().as_table()) {
                    self.baseline_keys(t, &mut b);
                }
                return b;
            }
            other => {
                if !self.tainted(&value.span()) {
                    self.error(
                        value.span(),
                        format!("expected the [baseline] table, found {}", type_name(other)),
                        Some(
                            "write a [baseline] section with one line per part, e.g.\n[baseline]\nicmp = false"
                                .into(),
                        ),
                    );
                }
                return b;
            }
        };
        self.baseline_keys(table, &mut b);
        b
    }

    fn baseline_keys(&mut self, table: &DeTable<'_>, b: &mut Baseline) {
        for (key, value) in table.iter() {
            let slot = match key.get_ref().as_ref() {
                "established" => &mut b.established,
                "invalid" => &mut b.invalid_drop,
                "loopback" => &mut b.loopback,
                "icmp" => &mut b.icmp,
                "icmpv6" => &mut b.icmpv6,
                _ => {
                    self.unknown_key(key, Place::Baseline);
                    continue;
                }
            };
            let span = value.span();
            match value.get_ref() {
                DeValue::Boolean(v) => *slot = *v,
                _ if self.tainted(&span) => {}
                other => {
                    let help = match other.as_str() {
                        Some(s @ ("true" | "false")) => format!("write {s} without quotes"),
                        _ => format!(
                            "write {} = true or {} = false",
                            key.get_ref(),
                            key.get_ref()
                        ),
                    };
                    self.error(
                        span,
                        format!("expected true or false, found {}", type_name(other)),
                        Some(help),
                    );
                }
            }
        }
    }

    // ---------------------------------------------------------------- entries

    fn entries(
        &mut self,
        kind: Kind,
        key: &Spanned<DeString<'_>>,
        value: &Spanned<DeValue<'_>>,
        out: &mut Vec<Entry>,
    ) {
        let k = kind.key();
        match value.get_ref() {
            DeValue::Array(items) => {
                for item in items.iter() {
                    match item.get_ref() {
                        DeValue::Table(t) => out.push(self.entry(kind, item.span(), t)),
                        _ if self.tainted(&item.span()) => {}
                        other => self.error(
                            item.span(),
                            format!(
                                "expected {} {k} entry (a table), found {}",
                                if kind == Kind::Allow { "an" } else { "a" },
                                type_name(other)
                            ),
                            Some(format!(
                                "each entry is a table, e.g. {k} = [{{ name = \"ssh\", tcp = [22] }}], or a [[{k}]] section"
                            )),
                        ),
                    }
                }
            }
            DeValue::Table(t) => {
                // `[allow]` instead of `[[allow]]`, or `allow = { ... }`.
                let text = self.text(&value.span());
                if !self.tainted(&key.span()) {
                    let help = if text.starts_with('{') {
                        format!(
                            "`{k}` holds a list of entries: write {k} = [{{ ... }}], or use a [[{k}]] section per entry"
                        )
                    } else {
                        format!(
                            "write [[{k}]], with double brackets: each [[{k}]] header starts one more entry"
                        )
                    };
                    let shown = if text.starts_with('[') {
                        format!("[{k}]")
                    } else {
                        format!("`{k}`")
                    };
                    self.error(
                        key.span(),
                        format!(
                            "{shown} is a single table, but {k} entries must be an array of tables"
                        ),
                        Some(help),
                    );
                }
                // Check its contents anyway, as if it were one entry.
                out.push(self.entry(kind, value.span(), t));
            }
            other => {
                if !self.tainted(&value.span()) {
                    self.error(
                        value.span(),
                        format!("expected [[{k}]] entries, found {}", type_name(other)),
                        Some(format!(
                            "write one section per entry:\n[[{k}]]\nname = \"ssh\"\ntcp = [22]"
                        )),
                    );
                }
            }
        }
    }

    fn entry(&mut self, kind: Kind, span: Range<usize>, table: &DeTable<'_>) -> Entry {
        let mut name = None;
        let mut name_written = false;
        let mut tcp = PortList::default();
        let mut udp = PortList::default();
        let mut from = None;
        let mut from_file = None;
        let mut icmp = Vec::new();
        let mut icmp_mentioned = false;
        let mut iif = None;
        let mut iif_written = false;
        let mut with = RejectWith::Default;
        let mut with_span = None;
        let mut misspelt = Vec::new();
        let place = match kind {
            Kind::Allow => Place::Allow,
            Kind::Reject => Place::Reject,
        };
        for (key, value) in table.iter() {
            match key.get_ref().as_ref() {
                "name" => {
                    name_written = true;
                    name = self.name(value);
                }
                "tcp" => tcp = self.ports("tcp", value),
                "udp" => udp = self.ports("udp", value),
                "from" => from = Some(self.from(kind, value)),
                "from_file" => from_file = Some(value),
                "icmp" => (icmp, icmp_mentioned) = self.icmp_types(value),
                "iif" => {
                    iif_written = true;
                    iif = self.iif(value);
                }
                "with" if kind == Kind::Reject => {
                    if let Some(w) = self.with(value) {
                        with = w;
                        with_span = Some(value.span());
                    }
                }
                _ => {
                    // A misspelt `tcp` or `name` is reported as such, not also as missing.
                    if let Some(meant) = self.unknown_key(key, place) {
                        misspelt.push(meant);
                    }
                }
            }
        }

        if let Some(value) = from_file {
            from = self.list_file(value, from);
        }
        let k = kind.key();
        let entry_ok = !self.tainted(&span);
        let head = self.entry_head(&span);
        if !name_written && entry_ok && !misspelt.contains(&"name") {
            self.error(
                head.clone(),
                format!("this {k} entry has no `name`"),
                Some(
                    "add a name = \"...\" line: a short label, unique across allow and reject entries, that names the rule and its counter"
                        .into(),
                ),
            );
        }
        let ports_misspelt = misspelt.contains(&"tcp") || misspelt.contains(&"udp");
        // Without ports, an entry that names sources or an interface matches everything from
        // there; one that restricts nothing at all would match everything.
        let restricted = from.is_some() || iif_written || misspelt.contains(&"from");
        if !tcp.mentioned
            && !udp.mentioned
            && !icmp_mentioned
            && !restricted
            && entry_ok
            && !ports_misspelt
        {
            let what = match &name {
                Some((n, _)) => format!("{k} entry \"{n}\" has no ports"),
                None => format!("this {k} entry has no ports"),
            };
            self.error(
                head,
                what,
                Some("add tcp = [...] and/or udp = [...], e.g. tcp = [22]; an entry without ports needs `from` or `iif` (it then matches everything from there); to accept everything, use mode = \"audit\"".into()),
            );
        }
        let portless = !tcp.mentioned && !udp.mentioned && !icmp_mentioned;
        if let (RejectWith::TcpReset, Some(ws)) = (with, &with_span)
            && (icmp_mentioned || portless)
            && !udp.mentioned
        {
            let what = if icmp_mentioned {
                "the icmp types of this entry"
            } else {
                "an entry without tcp ports"
            };
            self.error(
                ws.clone(),
                format!("with = \"tcp-reset\" cannot answer {what}"),
                Some(
                    "a tcp reset answers tcp ports only: list tcp = [...], or use with = \"port-unreachable\" (or another ICMP kind)"
                        .into(),
                ),
            );
        }
        if let (RejectWith::TcpReset, Some(ws)) = (with, &with_span)
            && udp.mentioned
        {
            self.error(
                ws.clone(),
                "with = \"tcp-reset\" cannot answer the udp ports of this entry".to_string(),
                Some(
                    "split it into two [[reject]] entries (tcp with \"tcp-reset\", udp without `with`), or use with = \"port-unreachable\", which answers both"
                        .into(),
                ),
            );
        }

        Entry {
            kind,
            name,
            tcp,
            udp,
            icmp,
            from,
            iif,
            with,
        }
    }

    /// Where to point for a problem with a whole entry: its `[[allow]]` header, or the start
    /// of its inline table.
    /// Where to point for a problem with a whole entry: its `[[allow]]` header, the opening
    /// brace of its inline table, or (dotted keys) its key.
    fn entry_head(&self, span: &Range<usize>) -> Range<usize> {
        if self.text(span).starts_with('{') {
            span.start..span.start + 1
        } else {
            span.clone()
        }
    }

    fn name(&mut self, value: &Spanned<DeValue<'_>>) -> Option<(String, Range<usize>)> {
        let span = value.span();
        if self.tainted(&span) {
            return None;
        }
        let Some(s) = value.get_ref().as_str() else {
            let help = match value.get_ref() {
                DeValue::Integer(_) => format!("quote it: name = \"{}\"", self.text(&span)),
                _ => "write name = \"...\", e.g. name = \"ssh\"".to_string(),
            };
            self.error(
                span,
                format!(
                    "expected a string for `name`, found {}",
                    type_name(value.get_ref())
                ),
                Some(help),
            );
            return None;
        };
        let rule = "names are 1-64 characters of A-Z a-z 0-9 _ . - starting with a letter or digit";
        if s.is_empty() {
            self.error(
                span,
                "the name is empty",
                Some(format!(
                    "give the entry a short unique label, e.g. name = \"ssh\"; {rule}"
                )),
            );
            return None;
        }
        let len = s.chars().count();
        if len > NAME_MAX {
            let short: String = s.chars().take(NAME_MAX).collect();
            let help = if valid_name(&short) {
                format!("{rule}; e.g. \"{short}\"")
            } else {
                rule.to_string()
            };
            self.error(
                span,
                format!("the name is {len} characters long, more than {NAME_MAX}"),
                Some(help),
            );
            return None;
        }
        if !valid_name(s) {
            let fixed = sanitise_name(s, Repair::Suggest);
            let help = match fixed {
                Some(f) => format!("{rule}; did you mean \"{f}\"?"),
                None => rule.to_string(),
            };
            self.error(span, format!("invalid name {s:?}"), Some(help));
            return None;
        }
        if crate::core::compile::is_reserved_name(s) {
            let message = format!("the name \"{s}\" belongs to statewall's own rules");
            let help = Some(format!(
                "counters and `verify` tell rules apart by name, and statewall names its own \
                 rules established, invalid, loopback, icmp, icmpv6, audit, final and \
                 entries_1, entries_2, ...; choose another, e.g. \"{s}-svc\""
            ));
            if self.stored {
                // what was confirmed must still boot; `verify` may mix its counters up
                self.warning(span.clone(), message, help);
                return Some((s.to_string(), span));
            }
            self.error(span, message, help);
            return None;
        }
        Some((s.to_string(), span))
    }

    fn with(&mut self, value: &Spanned<DeValue<'_>>) -> Option<RejectWith> {
        let span = value.span();
        if self.tainted(&span) {
            return None;
        }
        let valid = "\"tcp-reset\", \"port-unreachable\", \"host-unreachable\", \"admin-prohibited\", \"no-route\"; leave `with` out for a tcp reset on tcp ports and port-unreachable on udp ports";
        let Some(s) = value.get_ref().as_str() else {
            self.error(
                span,
                format!(
                    "expected a string for `with`, found {}",
                    type_name(value.get_ref())
                ),
                Some(format!("`with` is one of {valid}")),
            );
            return None;
        };
        Some(match s {
            "tcp-reset" => RejectWith::TcpReset,
            "port-unreachable" => RejectWith::Icmp(IcmpReject::PortUnreachable),
            "host-unreachable" => RejectWith::Icmp(IcmpReject::HostUnreachable),
            "admin-prohibited" => RejectWith::Icmp(IcmpReject::AdminProhibited),
            "no-route" => RejectWith::Icmp(IcmpReject::NoRoute),
            _ => {
                let stripped = s
                    .strip_prefix("icmpx-")
                    .or_else(|| s.strip_prefix("icmpv6-"))
                    .or_else(|| s.strip_prefix("icmp6-"))
                    .or_else(|| s.strip_prefix("icmp-"))
                    .unwrap_or(s);
                let aliases = [
                    ("reset", "tcp-reset"),
                    ("rst", "tcp-reset"),
                    ("tcp-rst", "tcp-reset"),
                    ("tcp reset", "tcp-reset"),
                    ("prohibited", "admin-prohibited"),
                    ("admin-prohib", "admin-prohibited"),
                    ("net-unreachable", "no-route"),
                    ("noroute", "no-route"),
                    ("unreachable", "port-unreachable"),
                ];
                let help = match suggest(stripped, REJECT_WITH, &aliases) {
                    Some(good) => format!("did you mean \"{good}\"? `with` is one of {valid}"),
                    None => format!("`with` is one of {valid}"),
                };
                self.error(span, format!("unknown reject kind {s:?}"), Some(help));
                return None;
            }
        })
    }

    fn final_rule(&mut self, value: &Spanned<DeValue<'_>>) -> Option<Final> {
        let span = value.span();
        if self.tainted(&span) {
            return None;
        }
        let valid = "\"drop\" (the default), \"reject\" (ICMP port unreachable, like iptables' -j REJECT), \"port-unreachable\", \"host-unreachable\", \"admin-prohibited\", \"no-route\"";
        let Some(s) = value.get_ref().as_str() else {
            self.error(
                span,
                format!(
                    "expected a string for `final`, found {}",
                    type_name(value.get_ref())
                ),
                Some(format!("`final` is one of {valid}")),
            );
            return None;
        };
        Some(match s {
            "drop" => Final::Drop,
            "reject" | "port-unreachable" => Final::Reject(IcmpReject::PortUnreachable),
            "host-unreachable" => Final::Reject(IcmpReject::HostUnreachable),
            "admin-prohibited" => Final::Reject(IcmpReject::AdminProhibited),
            "no-route" => Final::Reject(IcmpReject::NoRoute),
            _ => {
                let stripped = s
                    .strip_prefix("icmpx-")
                    .or_else(|| s.strip_prefix("icmp-"))
                    .unwrap_or(s);
                let aliases = [
                    ("deny", "drop"),
                    ("block", "drop"),
                    ("accept", "drop"),
                    ("tcp-reset", "reject"),
                    ("host-prohibited", "admin-prohibited"),
                    ("prohibited", "admin-prohibited"),
                    ("net-unreachable", "no-route"),
                ];
                let help = match suggest(stripped, FINALS, &aliases) {
                    Some("drop") if s == "accept" => format!(
                        "to accept what is not allowed, write mode = \"audit\"; `final` is one of {valid}"
                    ),
                    Some(good) => format!("did you mean \"{good}\"? `final` is one of {valid}"),
                    None => format!("`final` is one of {valid}"),
                };
                self.error(span, format!("unknown final rule {s:?}"), Some(help));
                return None;
            }
        })
    }

    /// `icmp = [8, "echo-request"]`: ICMPv4 types by number or name. Returns the valid
    /// types and whether the key holds a non-empty list.
    fn icmp_types(&mut self, value: &Spanned<DeValue<'_>>) -> (Vec<(u8, Range<usize>)>, bool) {
        let span = value.span();
        let mut out: Vec<(u8, Range<usize>)> = Vec::new();
        if self.tainted(&span) {
            return (out, true);
        }
        let names = || {
            ICMP_TYPES
                .iter()
                .map(|(n, _)| *n)
                .collect::<Vec<_>>()
                .join(", ")
        };
        let items = match value.get_ref() {
            DeValue::Array(items) => items,
            other => {
                self.error(
                    span.clone(),
                    format!(
                        "expected an array of ICMP types, found {}",
                        type_name(other)
                    ),
                    Some(format!("put it in brackets: icmp = [{}]", self.text(&span))),
                );
                return (out, true);
            }
        };
        if items.is_empty() {
            self.error(
                span,
                "`icmp = []` lists no ICMP type",
                Some("remove the key, or list types, e.g. icmp = [\"echo-request\"]".into()),
            );
            return (out, false);
        }
        for item in items.iter() {
            let ispan = item.span();
            if self.tainted(&ispan) {
                continue;
            }
            let t = match item.get_ref() {
                DeValue::Integer(i) => {
                    match i128::from_str_radix(i.as_str(), i.radix())
                        .ok()
                        .and_then(|n| u8::try_from(n).ok())
                    {
                        Some(t) => t,
                        None => {
                            let text = self.text(&ispan);
                            self.error(
                                ispan,
                                format!("ICMP type {text} is out of range"),
                                Some("ICMP types are 0-255".into()),
                            );
                            continue;
                        }
                    }
                }
                DeValue::String(s) => {
                    let lower = s.to_ascii_lowercase();
                    match ICMP_TYPES.iter().find(|(n, _)| *n == lower) {
                        Some((_, t)) => *t,
                        None => {
                            let valid: Vec<&str> = ICMP_TYPES.iter().map(|(n, _)| *n).collect();
                            let aliases = [
                                ("ping", "echo-request"),
                                ("echo", "echo-request"),
                                ("pong", "echo-reply"),
                                ("unreachable", "destination-unreachable"),
                                ("timestamp", "timestamp-request"),
                            ];
                            let help = match suggest(&lower, &valid, &aliases) {
                                Some(good) => format!("did you mean \"{good}\"?"),
                                None => format!("write a number 0-255 or one of {}", names()),
                            };
                            self.error(ispan, format!("unknown ICMP type {s:?}"), Some(help));
                            continue;
                        }
                    }
                }
                other => {
                    self.error(
                        ispan,
                        format!("expected an ICMP type, found {}", type_name(other)),
                        Some("write a number 0-255 or a name such as \"echo-request\"".into()),
                    );
                    continue;
                }
            };
            if let Some((_, first)) = out.iter().find(|(u, _)| *u == t) {
                let at = loc_of(self.src, first.start);
                self.error(
                    ispan,
                    format!("ICMP type {t} is listed twice"),
                    Some(format!(
                        "it is already listed at {at}; remove one of the two"
                    )),
                );
                continue;
            }
            out.push((t, ispan));
        }
        (out, true)
    }

    /// `iif = "eth0"`: an input interface by name.
    fn iif(&mut self, value: &Spanned<DeValue<'_>>) -> Option<String> {
        let span = value.span();
        if self.tainted(&span) {
            return None;
        }
        let rule =
            "an interface name is 1-15 characters, without `/`, `:`, `*`, quotes or whitespace";
        let Some(s) = value.get_ref().as_str() else {
            self.error(
                span,
                format!(
                    "expected a string for `iif`, found {}",
                    type_name(value.get_ref())
                ),
                Some("write iif = \"eth0\"".into()),
            );
            return None;
        };
        if valid_ifname(s) && !s.ends_with('+') {
            return Some(s.to_string());
        }
        let help = if s.ends_with('+') || s.contains('*') {
            format!("{rule}; interface wildcards are not supported: one entry per interface")
        } else if s.len() > 15 {
            format!("{rule}; {s:?} is {} bytes long", s.len())
        } else {
            rule.to_string()
        };
        self.error(span, format!("invalid interface name {s:?}"), Some(help));
        None
    }

    // ---------------------------------------------------------------- ports

    fn ports(&mut self, proto: &str, value: &Spanned<DeValue<'_>>) -> PortList {
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
        for item in items.iter() {
            if let Some(range) = self.port(item) {
                list.ports.push((range, item.span()));
            }
        }

        // The same port twice, or overlapping ranges, within this one list: each range is
        // checked against the earliest-listed range kept so far that it overlaps. Kept ranges
        // are disjoint, so an ordered map finds that one in O(log n) (long lists are real).
        let mut keep = Vec::with_capacity(list.ports.len());
        let mut kept = Kept::default();
        for i in 0..list.ports.len() {
            let b0 = list.ports[i].0;
            let Some(j) = kept.first_overlap(0, u128::from(b0.lo), u128::from(b0.hi)) else {
                kept.insert(0, u128::from(b0.lo), u128::from(b0.hi), i);
                keep.push(true);
                continue;
            };
            let (a, aspan) = list.ports[j].clone();
            let (b, bspan) = list.ports[i].clone();
            let at = loc_of(self.src, aspan.start);
            let (msg, help) = if a == b {
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
                    format!(
                        "merge the two ranges into one: did you mean \"{merged}\"? ({a} is at {at})"
                    ),
                )
            };
            self.error(bspan, msg, Some(help));
            keep.push(false);
        }
        list.ports = list
            .ports
            .into_iter()
            .zip(keep)
            .filter_map(|(p, k)| k.then_some(p))
            .collect();
        list
    }

    fn port(&mut self, item: &Spanned<DeValue<'_>>) -> Option<PortRange> {
        let span = item.span();
        if self.tainted(&span) {
            return None;
        }
        let range_help =
            "write a port as a number (22) and a range as a \"lo-hi\" string (\"8000-8080\")";
        match item.get_ref() {
            DeValue::Integer(i) => {
                let n = i128::from_str_radix(i.as_str(), i.radix()).ok();
                match n.and_then(|n| u16::try_from(n).ok()).filter(|&n| n != 0) {
                    Some(p) => Some(PortRange::single(p)),
                    None => {
                        let text = self.text(&span);
                        self.error(
                            span,
                            format!("port {text} is out of range"),
                            Some("ports are 1-65535".into()),
                        );
                        None
                    }
                }
            }
            DeValue::String(s) => self.port_string(s, span),
            DeValue::Float(_) => {
                self.error(
                    span,
                    "expected a port number, found a float",
                    Some("ports are whole numbers, 1-65535".into()),
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
    fn port_string(&mut self, s: &str, span: Range<usize>) -> Option<PortRange> {
        let inner = inner_span(self.src, &span, s);
        let sub = |r: Range<usize>| match &inner {
            Some(base) => base + r.start..base + r.end,
            None => span.clone(),
        };
        let t = s.trim();
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
            let mut bad = false;
            let mut check = |text: &str, r: Range<usize>, this: &mut Self| -> u16 {
                match text.parse::<u32>().ok().and_then(|n| u16::try_from(n).ok()) {
                    Some(p) if p != 0 => p,
                    _ => {
                        this.error(
                            sub(r),
                            format!("port {text} is out of range"),
                            Some("ports are 1-65535".into()),
                        );
                        bad = true;
                        0
                    }
                }
            };
            let lo_p = check(lo, 0..lo.len(), self);
            let hi_p = check(hi, lo.len() + 1..s.len(), self);
            if bad {
                return None;
            }
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
            return Some(PortRange { lo: lo_p, hi: hi_p });
        }
        if let Some(p) = crate::core::services::port_of(t) {
            self.error(
                span,
                format!("expected a port number, found the string {s:?}"),
                Some(format!("ports are numbers: did you mean {p}?")),
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

    // ---------------------------------------------------------------- sources

    fn from(&mut self, kind: Kind, value: &Spanned<DeValue<'_>>) -> FromList {
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
        for item in items.iter() {
            let ispan = item.span();
            if self.tainted(&ispan) {
                list.clean = false;
                continue;
            }
            match item.get_ref() {
                DeValue::String(s) => match self.cidr(s, ispan.clone()) {
                    Some(net) => list.nets.push((net, ispan)),
                    None => list.clean = false,
                },
                other => {
                    list.clean = false;
                    self.error(
                        ispan,
                        format!(
                            "expected an address or network string, found {}",
                            type_name(other)
                        ),
                        Some(
                            "write it as a string, e.g. \"198.51.100.0/24\" or \"2001:db8::1\""
                                .into(),
                        ),
                    );
                }
            }
        }

        // The same network twice, or one inside another, within this one list: checked in
        // listing order against the networks kept so far (disjoint, in an ordered map), so
        // lists of 50,000 sources stay O(n log n).
        let mut keep = Vec::with_capacity(list.nets.len());
        let mut kept = Kept::default();
        for later in 0..list.nets.len() {
            let (fam, lo, hi) = list.nets[later].0.interval();
            let Some(first) = kept.first_overlap(fam, lo, hi) else {
                kept.insert(fam, lo, hi, later);
                keep.push(true);
                continue;
            };
            let (a, aspan) = list.nets[first].clone();
            let (b, bspan) = list.nets[later].clone();
            let at = loc_of(self.src, aspan.start);
            let (msg, help) = if a == b {
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
            };
            self.error(bspan, msg, Some(help));
            keep.push(false);
        }
        list.nets = list
            .nets
            .into_iter()
            .zip(keep)
            .filter_map(|(n, k)| k.then_some(n))
            .collect();
        list
    }

    /// `from_file = "path"`: one network per line (`#` starts a comment), added to the
    /// entry's `from`. Problems point into the list file; a network that is already listed
    /// (inline or earlier in the file), or nested in one, is an error as in `from`.
    fn list_file(
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
        let loaded = match self.load {
            Some(load) => load(path),
            None => Err("a list file cannot name another".into()),
        };
        let (name, text) = match loaded {
            Ok(x) => x,
            Err(why) => {
                self.error(
                    span,
                    format!("cannot read {path}: {why}"),
                    Some("the path is relative to the policy file's folder; the file lists one network per line".into()),
                );
                let mut list = from.unwrap_or(FromList {
                    nets: Vec::new(),
                    clean: false,
                });
                list.clean = false;
                return Some(list);
            }
        };
        let source = std::sync::Arc::new((name, text));
        let mut sub = Checker {
            src: &source.1,
            diags: Vec::new(),
            syntax: Vec::new(),
            swallowed: Vec::new(),
            load: None,
            stored: self.stored,
        };
        let mut list = from.unwrap_or(FromList {
            nets: Vec::new(),
            clean: true,
        });
        let mut kept = Kept::default();
        for (i, (net, _)) in list.nets.iter().enumerate() {
            let (fam, lo, hi) = net.interval();
            kept.insert(fam, lo, hi, i);
        }
        let inline = list.nets.len();
        let mut file_nets: Vec<(Cidr, Range<usize>)> = Vec::new();
        let mut offset = 0;
        for line in source.1.split_inclusive('\n') {
            let start = offset;
            offset += line.len();
            let content = line.split('#').next().unwrap_or("");
            let t = content.trim();
            if t.is_empty() {
                continue;
            }
            let at = start + (content.len() - content.trim_start().len());
            let tspan = at..at + t.len();
            let Some(net) = sub.cidr(t, tspan.clone()) else {
                list.clean = false;
                continue;
            };
            let (fam, lo, hi) = net.interval();
            if let Some(j) = kept.first_overlap(fam, lo, hi) {
                let (other, where_) = if j < inline {
                    let (n, s) = &list.nets[j];
                    (*n, format!("in `from` at {}", loc_of(self.src, s.start)))
                } else {
                    let (n, s) = &file_nets[j - inline];
                    (*n, format!("at line {}", loc_of(&source.1, s.start).line))
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
        if file_nets.is_empty() && sub.diags.is_empty() {
            self.error(
                span.clone(),
                format!("{path} lists no network: this entry would match nothing from it"),
                Some("list one network per line, e.g. 198.51.100.0/24, or remove from_file".into()),
            );
            list.clean = false;
        }
        for mut d in sub.diags {
            d.source = Some(source.clone());
            self.diags.push(d);
        }
        // later checks (shadowed rejects) point at the from_file key for these networks
        list.nets
            .extend(file_nets.into_iter().map(|(n, _)| (n, span.clone())));
        Some(list)
    }

    fn cidr(&mut self, s: &str, span: Range<usize>) -> Option<Cidr> {
        let inner = inner_span(self.src, &span, s);
        let sub = |r: Range<usize>| match &inner {
            Some(base) => base + r.start..base + r.end,
            None => span.clone(),
        };
        let example = "write an IPv4 or IPv6 address, optionally with a /prefix: \"198.51.100.0/24\", \"203.0.113.7\", \"2001:db8::/32\"";
        let t = s.trim();
        if t != s && !t.is_empty() && parse_cidr(t).is_ok() {
            self.error(
                span,
                format!("unexpected spaces in {s:?}"),
                Some(format!("did you mean \"{t}\"?")),
            );
            return None;
        }
        if ["any", "anywhere", "all", "*", "everywhere", "internet"]
            .iter()
            .any(|w| w.eq_ignore_ascii_case(t))
        {
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
            Err(CidrError::Address(r)) => {
                let text = &s[r.clone()];
                self.error(
                    sub(r),
                    format!("invalid IP address {text:?}"),
                    Some(example.into()),
                );
                None
            }
            Err(CidrError::Prefix(r)) => {
                let text = &s[r.clone()];
                let help = match text
                    .parse::<Ipv4Addr>()
                    .ok()
                    .and_then(|m| Cidr::prefix_of_mask(&m.octets()))
                {
                    Some(len) => format!(
                        "write the prefix length instead of a netmask: did you mean \"{}/{len}\"?",
                        &s[..r.start - 1]
                    ),
                    None => {
                        "the prefix length is a number: /0 to /32 for IPv4, /0 to /128 for IPv6"
                            .into()
                    }
                };
                self.error(
                    sub(r.start - 1..r.end),
                    format!("invalid prefix length \"/{text}\""),
                    Some(help),
                );
                None
            }
            Err(CidrError::TooLong { prefix, v6, at }) => {
                let (fam, max) = if v6 { ("IPv6", 128) } else { ("IPv4", 32) };
                self.error(
                    sub(at),
                    format!("prefix length /{prefix} is too long for {fam}"),
                    Some(format!("{fam} prefixes are /0 to /{max}")),
                );
                None
            }
            Err(CidrError::HostBits { net, addr }) => {
                self.error(
                    span,
                    format!("{s} has host bits set"),
                    Some(format!(
                        "did you mean \"{net}\"? (or \"{addr}\" alone, for that one host)"
                    )),
                );
                None
            }
        }
    }

    // ---------------------------------------------------------------- cross-entry checks

    fn duplicate_names(&mut self, entries: &[Entry]) {
        let mut named: Vec<(&str, &Range<usize>)> = entries
            .iter()
            .filter_map(|e| e.name.as_ref().map(|(n, s)| (n.as_str(), s)))
            .collect();
        named.sort_by_key(|(_, s)| s.start);
        let mut seen: HashMap<&str, &Range<usize>> = HashMap::new();
        for (name, span) in named {
            if let Some(first) = seen.get(name) {
                let line = self.line_of(first);
                self.error(
                    span.clone(),
                    format!("duplicate name \"{name}\""),
                    Some(format!(
                        "an entry named \"{name}\" is already at line {line}; names must be unique across allow and reject entries"
                    )),
                );
            } else {
                seen.insert(name, span);
            }
        }
    }

    /// Warns when an allow entry accepts traffic that a reject entry also covers: allow rules
    /// come before reject rules in the chain, so the reject never sees that traffic.
    fn shadowed_rejects(&mut self, entries: &[Entry]) {
        let allows: Vec<&Entry> = entries
            .iter()
            .filter(|e| e.kind == Kind::Allow && e.from.as_ref().is_none_or(|f| f.clean))
            .collect();
        for rej in entries.iter().filter(|e| e.kind == Kind::Reject) {
            let (Some((rname, _)), true) = (&rej.name, rej.from.as_ref().is_none_or(|f| f.clean))
            else {
                continue;
            };
            for allow in &allows {
                let Some((aname, aspan)) = &allow.name else {
                    continue;
                };
                if allow.iif.is_some() && allow.iif != rej.iif {
                    continue; // only packets from that interface
                }
                // Which of the reject's sources the allow entry accepts entirely.
                let shadowed: Option<Vec<Cidr>> = match (&rej.from, &allow.from) {
                    (_, None) => Some(Vec::new()), // the allow is from anywhere: everything
                    (None, Some(_)) => None,
                    (Some(r), Some(a)) => {
                        let nets: Vec<Cidr> = r
                            .nets
                            .iter()
                            .map(|(n, _)| *n)
                            .filter(|n| a.nets.iter().any(|(m, _)| m.covers(*n)))
                            .collect();
                        if nets.is_empty() {
                            None
                        } else if nets.len() == r.nets.len() {
                            Some(Vec::new())
                        } else {
                            Some(nets)
                        }
                    }
                };
                let Some(shadowed) = shadowed else { continue };
                let sources = if shadowed.is_empty() {
                    String::new()
                } else {
                    let list: Vec<String> = shadowed.iter().map(|n| n.to_string()).collect();
                    format!(" from {}", list.join(", "))
                };
                let aline = self.line_of(aspan);
                for (proto, rports, aports) in [
                    ("tcp", &rej.tcp.ports, &allow.tcp.ports),
                    ("udp", &rej.udp.ports, &allow.udp.ports),
                ] {
                    for (r, rspan) in rports {
                        let overlaps: Vec<PortRange> = aports
                            .iter()
                            .filter(|(a, _)| a.lo <= r.hi && r.lo <= a.hi)
                            .map(|(a, _)| PortRange {
                                lo: a.lo.max(r.lo),
                                hi: a.hi.min(r.hi),
                            })
                            .collect();
                        if overlaps.is_empty() {
                            continue;
                        }
                        let ports = if let [one] = overlaps[..] {
                            port_word(one)
                        } else {
                            let list: Vec<String> =
                                overlaps.iter().map(|p| p.to_string()).collect();
                            format!("ports {}", list.join(", "))
                        };
                        self.warning(
                            rspan.clone(),
                            format!(
                                "reject \"{rname}\" never sees {proto} {ports}{sources}: allow \"{aname}\" (line {aline}) accepts it first"
                            ),
                            Some(format!(
                                "allow rules come before reject rules in the chain, whatever their order in the file, so allow \"{aname}\" wins and this part of the reject has no effect; remove the overlap from one of the two entries"
                            )),
                        );
                    }
                }
            }
        }
    }

    /// Warns when a reject entry lists ICMP types while the icmp baseline accepts all ICMP
    /// before any reject rule.
    fn icmp_rejects_shadowed(&mut self, entries: &[Entry]) {
        for rej in entries.iter().filter(|e| e.kind == Kind::Reject) {
            let name = rej
                .name
                .as_ref()
                .map_or("", |(n, _)| n.as_str())
                .to_string();
            for (t, span) in &rej.icmp {
                self.warning(
                    span.clone(),
                    format!("reject \"{name}\" never sees ICMP type {t}: the icmp baseline accepts all ICMP first"),
                    Some("write [baseline] icmp = false and allow the ICMP types you want with icmp = [...] in an allow entry".into()),
                );
            }
        }
    }

    // ---------------------------------------------------------------- unknown keys

    /// Reports an unknown key; returns the key that was probably meant, if any.
    fn unknown_key(&mut self, key: &Spanned<DeString<'_>>, place: Place) -> Option<&'static str> {
        let k: &str = key.get_ref().as_ref();
        if self.tainted(&key.span()) {
            return None;
        }
        let (valid, aliases, label): (&[&str], &[(&str, &str)], &str) = match place {
            Place::Root => (
                ROOT_KEYS,
                &[
                    ("allows", "allow"),
                    ("accept", "allow"),
                    ("rejects", "reject"),
                ],
                "at the top level",
            ),
            Place::Baseline => (
                BASELINE_KEYS,
                &[
                    ("icmp6", "icmpv6"),
                    ("ipv6-icmp", "icmpv6"),
                    ("icmp_v6", "icmpv6"),
                    ("invalid_drop", "invalid"),
                    ("drop_invalid", "invalid"),
                    ("lo", "loopback"),
                    ("related", "established"),
                ],
                "in [baseline]",
            ),
            Place::Allow => (
                ALLOW_KEYS,
                &[
                    ("source", "from"),
                    ("sources", "from"),
                    ("src", "from"),
                    ("saddr", "from"),
                ],
                "in an allow entry",
            ),
            Place::Reject => (
                REJECT_KEYS,
                &[
                    ("source", "from"),
                    ("sources", "from"),
                    ("src", "from"),
                    ("saddr", "from"),
                    ("reject-with", "with"),
                    ("reject_with", "with"),
                ],
                "in a reject entry",
            ),
        };
        let list = valid
            .iter()
            .map(|v| format!("`{v}`"))
            .collect::<Vec<_>>()
            .join(", ");
        let is_entry_key = REJECT_KEYS.contains(&k) && !BASELINE_KEYS.contains(&k);
        let mut meant = None;
        let help = match place {
            Place::Root if is_entry_key => {
                format!("`{k}` belongs to an entry: put it after an [[allow]] or [[reject]] header")
            }
            Place::Root if BASELINE_KEYS.contains(&k) => {
                format!("`{k}` belongs to the baseline: put it under [baseline]")
            }
            Place::Baseline | Place::Allow | Place::Reject if k == "mode" => {
                "`mode` is a top-level setting: put it at the top of the file, before any [section]"
                    .to_string()
            }
            Place::Allow | Place::Reject if BASELINE_KEYS.contains(&k) => {
                format!("`{k}` belongs to the baseline: put it under [baseline]")
            }
            Place::Baseline if is_entry_key => {
                format!("`{k}` belongs to an entry: put it after an [[allow]] or [[reject]] header")
            }
            Place::Allow if k == "with" => {
                "`with` says how a reject entry answers; an allow entry accepts, so it has no `with`"
                    .to_string()
            }
            Place::Allow | Place::Reject
                if ["port", "ports", "dport", "dports", "dst-port"].contains(&k) =>
            {
                meant = Some("tcp");
                "ports are listed per protocol: tcp = [...] and/or udp = [...]".to_string()
            }
            _ => match suggest(k, valid, aliases) {
                Some(good) => {
                    meant = Some(good);
                    format!("did you mean `{good}`?")
                }
                None => format!("the valid keys {label} are {list}"),
            },
        };
        self.error(key.span(), format!("unknown key `{k}` {label}"), Some(help));
        meant
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Place {
    Root,
    Baseline,
    Allow,
    Reject,
}

/// Every array and table value with its span, and `[` or `{` for arrays and tables.
fn containers_of(table: &DeTable<'_>, out: &mut Vec<(Range<usize>, char)>) {
    for value in table.values() {
        container_value(value, out);
    }
}

fn container_value(value: &Spanned<DeValue<'_>>, out: &mut Vec<(Range<usize>, char)>) {
    match value.get_ref() {
        DeValue::Array(items) => {
            out.push((value.span(), '['));
            for item in items.iter() {
                container_value(item, out);
            }
        }
        DeValue::Table(t) => {
            out.push((value.span(), '{'));
            containers_of(t, out);
        }
        _ => {}
    }
}

fn type_name(v: &DeValue<'_>) -> &'static str {
    match v {
        DeValue::String(_) => "a string",
        DeValue::Integer(_) => "an integer",
        DeValue::Float(_) => "a float",
        DeValue::Boolean(_) => "a boolean",
        DeValue::Datetime(_) => "a date-time",
        DeValue::Array(_) => "an array",
        DeValue::Table(_) => "a table",
    }
}

fn port_word(r: PortRange) -> String {
    if r.lo == r.hi {
        format!("port {r}")
    } else {
        format!("ports {r}")
    }
}

fn is_digits(s: &str) -> bool {
    !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit())
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

/// Where the characters of string value `s` start in the source, if the value was written
/// as a plain quoted string (no escapes), so that errors can point inside it.
fn inner_span(src: &str, span: &Range<usize>, s: &str) -> Option<usize> {
    let text = src.get(span.clone())?;
    for q in ["\"", "'"] {
        if let Some(body) = text.strip_prefix(q).and_then(|t| t.strip_suffix(q))
            && body == s
        {
            return Some(span.start + q.len());
        }
    }
    None
}

/// The closest valid word, if any is close enough (or a known alias).
fn suggest<'a>(word: &str, valid: &[&'a str], aliases: &[(&str, &'a str)]) -> Option<&'a str> {
    let lower = word.to_ascii_lowercase();
    if let Some((_, good)) = aliases.iter().find(|(a, _)| *a == lower) {
        return Some(good);
    }
    let close = valid
        .iter()
        .map(|v| (edit_distance(&lower, v), *v))
        .filter(|(d, v)| *d <= (v.chars().count() / 3).max(1))
        .min_by_key(|(d, _)| *d)
        .map(|(_, v)| v);
    // Otherwise a word that starts like a valid one (`enforcing`, `tcp_ports`).
    close.or_else(|| {
        valid.iter().copied().find(|v| {
            let common = lower
                .chars()
                .zip(v.chars())
                .take_while(|(a, b)| a == b)
                .count();
            lower.chars().count() >= 3 && common >= v.chars().count().min(4)
        })
    })
}

/// Optimal string alignment distance (Levenshtein plus adjacent transpositions).
fn edit_distance(a: &str, b: &str) -> usize {
    let a: Vec<char> = a.chars().collect();
    let b: Vec<char> = b.chars().collect();
    let mut d = vec![vec![0usize; b.len() + 1]; a.len() + 1];
    for (i, row) in d.iter_mut().enumerate() {
        row[0] = i;
    }
    for (j, cell) in d[0].iter_mut().enumerate() {
        *cell = j;
    }
    for i in 1..=a.len() {
        for j in 1..=b.len() {
            let cost = usize::from(a[i - 1] != b[j - 1]);
            let mut v = (d[i - 1][j] + 1)
                .min(d[i][j - 1] + 1)
                .min(d[i - 1][j - 1] + cost);
            if i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1] {
                v = v.min(d[i - 2][j - 2] + 1);
            }
            d[i][j] = v;
        }
    }
    d[a.len()][b.len()]
}

#[derive(Debug, PartialEq, Eq)]
enum CidrError {
    /// The address part (byte range within the string) is not an IP address.
    Address(Range<usize>),
    /// The text after `/` (byte range within the string) is not a number.
    Prefix(Range<usize>),
    /// The prefix is longer than the family allows; `at` covers `/prefix` within the string.
    TooLong {
        prefix: u32,
        v6: bool,
        at: Range<usize>,
    },
    /// Bits set after the prefix: `net` is the network meant, `addr` the bare address.
    HostBits { net: String, addr: String },
}

fn parse_cidr(s: &str) -> Result<Cidr, CidrError> {
    let (addr_text, prefix_text) = match s.split_once('/') {
        Some((a, p)) => (a, Some(p)),
        None => (s, None),
    };
    let addr: IpAddr = addr_text
        .parse()
        .map_err(|_| CidrError::Address(0..addr_text.len()))?;
    let max = if addr.is_ipv4() { 32 } else { 128 };
    let prefix = match prefix_text {
        None => max,
        Some(p) => {
            let at = addr_text.len() + 1..s.len();
            let n = if is_digits(p) {
                p.parse::<u32>().unwrap_or(u32::MAX)
            } else {
                return Err(CidrError::Prefix(at));
            };
            if n > max {
                return Err(CidrError::TooLong {
                    prefix: n,
                    v6: addr.is_ipv6(),
                    at: addr_text.len()..s.len(),
                });
            }
            n
        }
    };
    let len = u8::try_from(prefix).expect("at most 128");
    let net = network(addr, len);
    let written = match addr {
        IpAddr::V4(a) => Cidr::V4(a, len),
        IpAddr::V6(a) => Cidr::V6(a, len),
    };
    if net != written {
        return Err(CidrError::HostBits {
            net: net.to_string(),
            addr: addr.to_string(),
        });
    }
    Ok(net)
}

/// The network `addr/len` names: `addr` with the bits after the prefix cleared.
pub(crate) fn network(addr: IpAddr, len: u8) -> Cidr {
    match addr {
        IpAddr::V4(a) => {
            let bits = u128::from(u32::from(a)) & Cidr::mask(len, 32);
            Cidr::V4(Ipv4Addr::from(bits as u32), len)
        }
        IpAddr::V6(a) => Cidr::V6(Ipv6Addr::from(u128::from(a) & Cidr::mask(len, 128)), len),
    }
}

/// Disjoint intervals kept so far, keyed by (kind, start) → (end, index in the list).
#[derive(Default)]
struct Kept(std::collections::BTreeMap<(u8, u128), (u128, usize)>);

impl Kept {
    fn insert(&mut self, kind: u8, lo: u128, hi: u128, index: usize) {
        self.0.insert((kind, lo), (hi, index));
    }

    /// The smallest list index among kept intervals overlapping [lo, hi].
    fn first_overlap(&self, kind: u8, lo: u128, hi: u128) -> Option<usize> {
        // Disjoint and ordered: the overlapping ones are the last few starting at or before
        // `hi`; walking back stops at the first that ends before `lo`.
        self.0
            .range((kind, 0)..=(kind, hi))
            .rev()
            .take_while(|(_, (end, _))| *end >= lo)
            .map(|(_, (_, idx))| *idx)
            .min()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn errors(src: &str) -> Vec<String> {
        let (policy, diags) = parse(src);
        assert!(policy.is_none(), "expected errors for {src:?}");
        diags.into_iter().map(|d| d.message).collect()
    }

    #[test]
    fn empty_file_is_the_default_policy() {
        let (policy, diags) = parse("");
        assert!(diags.is_empty());
        assert_eq!(policy, Some(Policy::default()));
    }

    #[test]
    fn cidr_parsing() {
        assert_eq!(
            parse_cidr("198.51.100.0/24"),
            Ok(Cidr::V4(Ipv4Addr::new(198, 51, 100, 0), 24))
        );
        assert_eq!(
            parse_cidr("203.0.113.7"),
            Ok(Cidr::V4(Ipv4Addr::new(203, 0, 113, 7), 32))
        );
        assert_eq!(
            parse_cidr("2001:db8::/32"),
            Ok(Cidr::V6("2001:db8::".parse().unwrap(), 32))
        );
        assert_eq!(
            parse_cidr("0.0.0.0/0"),
            Ok(Cidr::V4(Ipv4Addr::UNSPECIFIED, 0))
        );
        assert_eq!(parse_cidr("::/0"), Ok(Cidr::V6(Ipv6Addr::UNSPECIFIED, 0)));
        assert_eq!(parse_cidr("10.0.0.0/x"), Err(CidrError::Prefix(9..10)));
        assert_eq!(parse_cidr("10.0.0.300"), Err(CidrError::Address(0..10)));
        assert!(matches!(
            parse_cidr("10.0.0.0/33"),
            Err(CidrError::TooLong {
                prefix: 33,
                v6: false,
                ..
            })
        ));
        assert_eq!(
            parse_cidr("198.51.100.7/24"),
            Err(CidrError::HostBits {
                net: "198.51.100.0/24".into(),
                addr: "198.51.100.7".into()
            })
        );
    }

    #[test]
    fn coverage() {
        let n = |s: &str| parse_cidr(s).unwrap();
        assert!(n("10.0.0.0/8").covers(n("10.1.0.0/16")));
        assert!(!n("10.1.0.0/16").covers(n("10.0.0.0/8")));
        assert!(n("0.0.0.0/0").covers(n("192.0.2.1")));
        assert!(!n("::/0").covers(n("192.0.2.1")));
    }

    #[test]
    fn suggestions() {
        assert_eq!(suggest("tpc", ALLOW_KEYS, &[]), Some("tcp"));
        assert_eq!(suggest("TCP", ALLOW_KEYS, &[]), Some("tcp"));
        assert_eq!(suggest("form", ALLOW_KEYS, &[]), Some("from"));
        assert_eq!(suggest("comment", ALLOW_KEYS, &[]), None);
        assert_eq!(suggest("enforcing", MODES, &[]), Some("enforce"));
        assert_eq!(suggest("enfroce", MODES, &[]), Some("enforce"));
        assert_eq!(suggest("drop", MODES, &[]), None);
        assert_eq!(edit_distance("kitten", "sitting"), 3);
        assert_eq!(loose_range("8000:8080"), Some((8000, 8080)));
        assert_eq!(loose_range("80 to 90"), Some((80, 90)));
        assert_eq!(loose_range("8000-8080x"), None);
        assert_eq!(loose_range("8000–8080"), Some((8000, 8080)));
        assert_eq!(loose_range("80-é90"), None);
    }

    #[test]
    fn every_problem_is_reported() {
        let msgs = errors(
            "mode = \"strict\"\n[[allow]]\nname = \"a b\"\ntcp = [0, 70000]\nfrom = [\"10.0.0.1/8\"]\n",
        );
        assert_eq!(
            msgs,
            [
                "unknown mode \"strict\"",
                "invalid name \"a b\"",
                "port 0 is out of range",
                "port 70000 is out of range",
                "10.0.0.1/8 has host bits set",
            ]
        );
    }

    #[test]
    fn spans_point_inside_strings() {
        let src = "[[allow]]\nname = \"x\"\ntcp = [\"1-70000\"]\nfrom = [\"10.0.0.0/40\"]\n";
        let (_, diags) = parse(src);
        let texts: Vec<&str> = diags.iter().map(|d| &src[d.span.clone()]).collect();
        assert_eq!(texts, ["70000", "/40"]);
    }

    #[test]
    fn loc_is_the_name_value() {
        let (policy, diags) = parse("\n[[allow]]\n  name = 'ssh'\ntcp = [22]\n");
        assert!(diags.is_empty(), "{diags:?}");
        let policy = policy.unwrap();
        assert_eq!(
            policy.allow[0].loc,
            crate::core::model::Loc { line: 3, col: 10 }
        );
    }
}
