//! The policy file: TOML text → validated [`Policy`], or every problem at once.
//!
//! Pure: no I/O. The format is documented line by line in `examples/web-and-mail.toml`:
//!
//! ```toml
//! mode = "enforce"              # or "audit"; optional, default "enforce"
//! final = "drop"                # enforce mode's last rule: "drop" (default), "accept" (a
//!                               # blocklist: what no entry decides passes), "reject" (= ICMP
//!                               # port-unreachable, like iptables' -j REJECT), "port-unreachable",
//!                               # "host-unreachable", "admin-prohibited", "no-route",
//!                               # "host-prohibited", "net-prohibited", "proto-unreachable"
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
//! with = "tcp-reset"            # or port-unreachable, host-unreachable, admin-prohibited, no-route,
//!                               # host-prohibited, net-prohibited, proto-unreachable
//! ```
//!
//! [`parse`] never stops at the first problem: TOML syntax errors (recovered by
//! `toml::de::DeTable::parse_recoverable`), unknown keys, wrong types and invalid values are all
//! reported, each pointing at the offending text. Values that a syntax error runs through are
//! left to that syntax error, so that one typo does not cascade into several complaints.
//!
//! The checker is split by what it looks at: `syntax` (TOML errors, folded), `settings`
//! (`mode`, `final`, `[baseline]`), `entries` (the `[[allow]]`/`[[reject]]` tables) with
//! `fields` (`icmp`, `iif`, `with`), `names`, `ports`, `sources` (`from`, `from_file`) with
//! `cidr`, `lints` (checks across entries) and `keys` (unknown keys and what was probably
//! meant).

mod cidr;
mod clamps;
mod clock;
mod connections;
mod contains;
mod cthelper;
mod entries;
mod exthdr;
mod fields;
mod header;
mod intervals;
mod ipsec;
mod keys;
mod limits;
mod lints;
mod live;
mod mark;
mod more;
pub(crate) mod names;
mod owner;
mod places;
mod ports;
mod sections;
mod settings;
mod size;
mod sources;
mod syntax;
mod u32;

use std::ops::Range;

use toml::de::{DeTable, DeValue};

use crate::core::diag::{Diagnostic, Diags, loc_of};
use crate::core::model::{
    Block, BlockAt, BlockState, Cidr, More, Policy, PortRange, Reject, RejectWith, Section, Service,
};
use crate::core::plan::Hook;

pub(crate) use cidr::network;
pub(crate) use keys::suggest;
pub(crate) use live::{FEED_SETS_MAX, valid_set_name};

/// The largest policy file read: twice the 2 MiB a policy of 50,000 entries takes; long
/// source lists belong in `from_file` lists. An import that would write more is refused.
pub const POLICY_MAX: u64 = 4 << 20;

/// A live set member as `statewall set add` takes it: an IPv4 or IPv6 address, or a
/// network without host bits. The error is one line: what is wrong, and what to write.
pub fn parse_member(s: &str) -> Result<Cidr, String> {
    cidr::parse_cidr(s).map_err(|e| {
        let (_, message, help) = e.explain(s);
        format!("{message}: {help}")
    })
}

/// Parses and validates a policy file.
///
/// Returns `Some(policy)` if and only if there is no error; the diagnostics (by position)
/// hold every error and warning found, so warnings come back alongside a valid policy: the
/// first [`crate::core::diag::SHOWN`] in full, the rest counted (see [`Diags`]).
pub fn parse(src: &str) -> (Option<Policy>, Diags) {
    parse_with(src, &|_| {
        Err("no files can be read here: the policy was given as text, not as a file".into())
    })
}

/// Reads a `from_file` list: its path as written in the policy → (name to show in
/// diagnostics, text), or why it cannot be read. The CLI resolves paths relative to the
/// policy file; tests pass files from memory. Parsing stays free of I/O.
pub type Loader<'a> = &'a dyn Fn(&str) -> Result<std::sync::Arc<(String, String)>, String>;

/// [`parse`], with a way to read the network lists `from_file` names.
pub fn parse_with(src: &str, load: Loader<'_>) -> (Option<Policy>, Diags) {
    parse_inner(src, load, false)
}

/// [`parse`] for a policy text statewall stored itself (the confirmed policy, the ruleset a
/// rollback restores): an entry name that a later statewall reserved for its own rules is
/// accepted with a warning, so that what was confirmed still loads at boot and can still be
/// rolled back to. Everything else is checked as in [`parse`].
pub fn parse_stored(src: &str) -> (Option<Policy>, Diags) {
    parse_inner(
        src,
        &|_| Err("no files can be read here: the policy was given as text, not as a file".into()),
        true,
    )
}

/// [`parse_stored`], with the `from_file` lists kept beside the stored text.
pub fn parse_stored_with(src: &str, load: Loader<'_>) -> (Option<Policy>, Diags) {
    parse_inner(src, load, true)
}

fn parse_inner(src: &str, load: Loader<'_>, stored: bool) -> (Option<Policy>, Diags) {
    crate::core::diag::new_texts();
    let (root, errors) = DeTable::parse_recoverable(src);
    let mut cx = Checker::new(src, Some(load), stored);
    cx.syntax_errors(&errors, root.get_ref());
    let policy = cx.policy(root.get_ref());
    // the policy file's own problems first, then each list file's, each by position
    let diags = cx.diags;
    let policy = (!diags.has_errors()).then_some(policy);
    (policy, diags)
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Allow,
    Reject,
    Block,
    /// `[[forward.clamp]]`, `[[output.clamp]]`: a SYN's MSS lowered (`clamps.rs`)
    Clamp,
}

impl Kind {
    fn key(self) -> &'static str {
        match self {
            Kind::Allow => "allow",
            Kind::Reject => "reject",
            Kind::Block => "block",
            Kind::Clamp => "clamp",
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
    /// the inline networks, then the list file's
    nets: Vec<Cidr>,
    /// where each inline network is written (a list file's are not kept: 100,000 spans)
    spans: Vec<Range<usize>>,
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
    /// `from_set`, when valid: a live set's name (checked against the `[[set]]`s later)
    from_set: Option<(String, Range<usize>)>,
    with: RejectWith,
    /// a block's `with`: None drops (the default), Some rejects
    block_with: Option<RejectWith>,
    /// a block's `after`, and where it was written
    at: BlockAt,
    at_span: Option<Range<usize>>,
    /// a block's `state` (`"new"`, `"invalid"`)
    block_state: Option<BlockState>,
    /// the section the entry belongs to (input: the top-level entries)
    hook: Hook,
    /// the matches beyond ports, sources and `iif` (valid elements only)
    more: More,
    /// where a valid `state` was written
    state_span: Option<Range<usize>>,
    /// where a valid `limit` was written
    limit_span: Option<Range<usize>>,
    /// where `mac` or `except_mac` was written
    mac_span: Option<Range<usize>>,
    /// where `uid`, `gid` or an exception of them was written
    owner_span: Option<Range<usize>>,
    /// where `ipsec_in` (0) and `ipsec_out` (1) were written
    ipsec_span: [Option<Range<usize>>; 2],
    /// where an input (0) and an output (1) interface were written
    if_span: [Option<Range<usize>>; 2],
    /// `add_to_set` and `refresh`, where written
    feed: live::Feed,
    /// a clamp entry's `mss`, when valid
    mss: Option<crate::core::model::Mss>,
}

struct Checker<'s> {
    src: &'s str,
    diags: Diags,
    /// Where the TOML syntax errors are: values around them are not checked any further.
    /// Sorted once they are all known.
    syntax: Vec<usize>,
    /// What an unclosed array or inline table swallowed after its first error: not checked.
    /// Disjoint, and sorted once they are all known.
    swallowed: Vec<Range<usize>>,
    /// Reads `from_file` lists (None inside a list file itself).
    load: Option<Loader<'s>>,
    /// A text statewall stored itself: see [`parse_stored`].
    stored: bool,
    /// What the entries read so far ask for in all: matches, and networks in their address
    /// lists (`size.rs`); the entry that passes a limit is refused, once.
    total: size::Total,
}

impl<'s> Checker<'s> {
    fn new(src: &'s str, load: Option<Loader<'s>>, stored: bool) -> Self {
        Checker {
            src,
            diags: Diags::new(),
            syntax: Vec::new(),
            swallowed: Vec::new(),
            load,
            stored,
            total: size::Total::default(),
        }
    }

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

    /// Whether a syntax error lies within (or right at the edge of) `span`: two binary
    /// searches, since every value asks.
    fn tainted(&self, span: &Range<usize>) -> bool {
        let first_after = self.syntax.partition_point(|&at| at < span.start);
        let in_span = self
            .syntax
            .get(first_after)
            .is_some_and(|&at| at <= span.end);
        let last_from = self.swallowed.partition_point(|g| g.start <= span.start);
        in_span
            || last_from
                .checked_sub(1)
                .is_some_and(|i| span.start <= self.swallowed[i].end)
    }

    fn text(&self, span: &Range<usize>) -> &'s str {
        self.src.get(span.clone()).unwrap_or("")
    }

    fn line_of(&self, span: &Range<usize>) -> u32 {
        loc_of(self.src, span.start).line
    }

    /// Walks the top level, then checks the entries against each other.
    fn policy(&mut self, root: &DeTable<'_>) -> Policy {
        let mut policy = Policy::default();
        let mut entries = Vec::new();
        let mut sets = Vec::new();
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
                "log_final" => policy.log_final = self.log("log_final", value),
                "forward" => {
                    policy.forward = Some(self.section(Hook::Forward, value, &mut entries))
                }
                "output" => policy.output = Some(self.section(Hook::Output, value, &mut entries)),
                "baseline" => policy.baseline = self.baseline(key, value),
                "set" => self.live_sets(key, value, &mut sets),
                "block" => self.entries(Kind::Block, None, key, value, &mut entries),
                "allow" => self.entries(Kind::Allow, None, key, value, &mut entries),
                "reject" => self.entries(Kind::Reject, None, key, value, &mut entries),
                _ => {
                    self.unknown_key(key, keys::Place::Root);
                }
            }
        }
        self.duplicate_names(&entries);
        self.shared_meters_agree(&entries);
        self.block_places(&entries);
        self.mac_where_packets_arrive(&entries);
        self.owner_where_packets_leave(&entries);
        self.ipsec_where_packets_are(&entries);
        self.interfaces_where_packets_are(&entries);
        policy.sets = self.live_sets_used(sets, &entries);
        for hook in Hook::ALL {
            let baseline = match hook {
                Hook::Input => Some(policy.baseline),
                Hook::Forward => policy.forward.as_ref().map(|s| s.baseline),
                Hook::Output => policy.output.as_ref().map(|s| s.baseline),
            };
            // an allow with further matches (destinations, exceptions…) is narrower than
            // the shadow check reads it: it is left out of it
            let group: Vec<&Entry> = entries
                .iter()
                .filter(|e| e.hook == hook && (e.kind != Kind::Allow || e.more == More::default()))
                .collect();
            self.state_needs_stateless(&entries, hook, baseline);
            self.shadowed_rejects(&group);
            if baseline.is_some_and(|b| b.icmp) {
                self.icmp_rejects_shadowed(&group);
            }
        }
        // the sets of single addresses, by name: looked up once per entry, not by a walk of
        // every set (32,000 sets each named by an entry were 512 million name compares)
        let host_sets: std::collections::HashSet<String> = policy
            .sets
            .iter()
            .filter(|d| !d.networks)
            .map(|d| d.name.clone())
            .collect();
        for e in entries {
            self.add_entry(&mut policy, &host_sets, e);
        }
        policy
    }

    /// Adds a named entry to the policy (one without a valid name is already an error).
    fn add_entry(
        &self,
        policy: &mut Policy,
        host_sets: &std::collections::HashSet<String>,
        e: Entry,
    ) {
        let Some((name, span)) = e.name else { return };
        let service = Service {
            name,
            loc: loc_of(self.src, span.start),
            tcp: e.tcp.ports.into_iter().map(|(p, _)| p).collect(),
            udp: e.udp.ports.into_iter().map(|(p, _)| p).collect(),
            from: e.from.map(|f| f.nets).unwrap_or_default(),
            icmp: e.icmp.into_iter().map(|(t, _)| t).collect(),
            iif: e.iif,
            from_set_hosts: e
                .from_set
                .as_ref()
                .is_some_and(|(n, _)| host_sets.contains(n)),
            from_set: e.from_set.map(|(n, _)| n),
            more: e.more,
        };
        if e.kind == Kind::Clamp {
            clamps::add(policy, e.hook, service, e.mss);
            return;
        }
        let (block, allow, reject) = match e.hook {
            Hook::Input => (&mut policy.block, &mut policy.allow, &mut policy.reject),
            Hook::Forward | Hook::Output => {
                let sec: &mut Section = match e.hook {
                    Hook::Forward => policy.forward.get_or_insert_with(Section::default),
                    _ => policy.output.get_or_insert_with(Section::default),
                };
                (&mut sec.block, &mut sec.allow, &mut sec.reject)
            }
        };
        match e.kind {
            Kind::Block => block.push(Block {
                service,
                with: e.block_with,
                at: e.at,
                state: e.block_state,
            }),
            Kind::Allow => allow.push(service),
            Kind::Reject => reject.push(Reject {
                service,
                with: e.with,
            }),
            Kind::Clamp => unreachable!("a clamp entry is added above"),
        }
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

fn is_digits(s: &str) -> bool {
    !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit())
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

/// The errors of `src`, rendered as `t.toml` (the key modules' tests): it must be refused,
/// with errors only.
#[cfg(test)]
pub(crate) fn test_errors(src: &str) -> String {
    let (p, d) = parse(src);
    assert!(p.is_none(), "{src}");
    assert!(
        d.iter()
            .all(|d| d.severity == crate::core::diag::Severity::Error),
        "{d:?}"
    );
    crate::core::diag::render(&d, "t.toml", src)
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
    fn every_problem_is_reported() {
        let msgs = errors(
            "mode = \"strict\"\n[[allow]]\nname = \"a b\"\ntcp = [-1, 70000]\nfrom = [\"10.0.0.1/8\"]\n",
        );
        assert_eq!(
            msgs,
            [
                "unknown mode \"strict\"",
                "invalid name \"a b\"",
                "port -1 is out of range",
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
