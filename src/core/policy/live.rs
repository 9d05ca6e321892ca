//! Live sets: the `[[set]]` tables, and `from_set` in entries. A live set's members change at
//! run time (`statewall set add`); the policy only declares it: a name, and optionally the
//! default lifetime of what is added to it. The packet path may feed one too: a block or
//! reject's `add_to_set` adds the source of what it decides, its `remove_from_set` takes it
//! out, a block's `refresh = true` renews the lifetime of the members it blocks (iptables'
//! `-m recent --set`, `--remove` and `--update`).

use std::collections::HashMap;
use std::ops::Range;

use toml::Spanned;
use toml::de::{DeString, DeTable, DeValue};

use super::keys::Place;
use super::names::valid_name;

/// Whether `s` may name a `[[set]]` (the importer names the sets it makes after `-m recent`
/// lists).
pub(crate) fn valid_set_name(s: &str) -> bool {
    valid_name(s) && LiveName::new(s).is_some()
}
use super::{Checker, Entry, type_name};
use crate::core::diag::loc_of;
use crate::core::model::{LiveSetDecl, parse_duration};
use crate::core::plan::LiveName;

/// An entry's `add_to_set`, `remove_from_set` and `refresh = true`, where written.
#[derive(Default)]
pub(super) struct Feed {
    pub(super) add_to_set: Vec<(String, Range<usize>)>,
    pub(super) remove_from_set: Vec<(String, Range<usize>)>,
    pub(super) refresh: Option<Range<usize>>,
}

/// How many sets one entry's `add_to_set` (or `remove_from_set`) may name: each is one
/// more expression on each of its rules.
pub(crate) const FEED_SETS_MAX: usize = 8;

/// One `[[set]]` as written.
pub(super) struct SetSpec {
    name: Option<(String, Range<usize>)>,
    timeout: Option<u64>,
    networks: bool,
}

impl Checker<'_> {
    /// The value of the top-level `set` key: an array of `[[set]]` tables.
    pub(super) fn live_sets(
        &mut self,
        key: &Spanned<DeString<'_>>,
        value: &Spanned<DeValue<'_>>,
        out: &mut Vec<SetSpec>,
    ) {
        match value.get_ref() {
            DeValue::Array(items) => {
                for item in items.iter() {
                    match item.get_ref() {
                        DeValue::Table(t) => out.push(self.live_set(item.span(), t)),
                        _ if self.tainted(&item.span()) => {}
                        other => self.error(
                            item.span(),
                            format!("expected a set (a table), found {}", type_name(other)),
                            Some("write one section per set:\n[[set]]\nname = \"banned\"".into()),
                        ),
                    }
                }
            }
            other => {
                if !self.tainted(&key.span()) {
                    self.error(
                        key.span(),
                        format!(
                            "`set` must be [[set]] sections (an array of tables), found {}",
                            type_name(other)
                        ),
                        Some("write one section per set:\n[[set]]\nname = \"banned\"\ntimeout = \"1h\"".into()),
                    );
                }
            }
        }
    }

    fn live_set(&mut self, span: Range<usize>, table: &DeTable<'_>) -> SetSpec {
        let mut spec = SetSpec {
            name: None,
            timeout: None,
            networks: true,
        };
        let mut named = false;
        for (key, value) in table.iter() {
            match key.get_ref().as_ref() {
                "name" => {
                    named = true;
                    spec.name = self.set_ref(value);
                }
                "timeout" => spec.timeout = self.timeout(value),
                "networks" => match value.get_ref() {
                    DeValue::Boolean(b) => spec.networks = *b,
                    _ if self.tainted(&value.span()) => {}
                    other => self.error(
                        value.span(),
                        format!("expected true or false for `networks`, found {}", type_name(other)),
                        Some("networks = false keeps single addresses only (hash sets that tools such as CrowdSec's bouncer fill with plain element adds); true (the default) also takes networks".into()),
                    ),
                },
                _ => {
                    if self.unknown_key(key, Place::Set) == Some("name") {
                        named = true;
                    }
                }
            }
        }
        if !named && !self.tainted(&span) {
            let head = self.entry_head(&span);
            self.error(
                head,
                "this [[set]] has no `name`",
                Some("add name = \"...\": entries use it (from_set = \"...\"), and so does `statewall set add NAME ADDRESS`".into()),
            );
        }
        spec
    }

    /// `timeout = "1h"`: a duration string (or whole seconds).
    fn timeout(&mut self, value: &Spanned<DeValue<'_>>) -> Option<u64> {
        let span = value.span();
        if self.tainted(&span) {
            return None;
        }
        let parsed = match value.get_ref() {
            DeValue::String(s) => parse_duration(s),
            DeValue::Integer(i) => parse_duration(i.as_str()),
            other => Err(format!(
                "expected a duration such as \"1h\", found {}",
                type_name(other)
            )),
        };
        match parsed {
            Ok(secs) => Some(secs),
            Err(why) => {
                self.error(
                    span,
                    format!("invalid timeout: {why}"),
                    Some("write e.g. timeout = \"1h\", \"30m\", \"600s\" or \"2d\"; leave it out to keep members until they are deleted".into()),
                );
                None
            }
        }
    }

    /// A block's `refresh`: Some(where) when true.
    pub(super) fn refresh(&mut self, value: &Spanned<DeValue<'_>>) -> Option<Range<usize>> {
        match value.get_ref() {
            DeValue::Boolean(b) => b.then(|| value.span()),
            _ if self.tainted(&value.span()) => None,
            other => {
                self.error(
                    value.span(),
                    format!("expected true or false for `refresh`, found {}", type_name(other)),
                    Some("refresh = true: each packet the block matches renews its source's lifetime in the block's from_set (iptables' -m recent --update)".into()),
                );
                None
            }
        }
    }

    /// `refresh = true` renews members of the entry's own `from_set`: it needs one.
    pub(super) fn refresh_has_a_set(&mut self, feed: &Feed, from_set_written: bool) {
        if let (Some(span), false) = (&feed.refresh, from_set_written) {
            self.error(
                span.clone(),
                "`refresh = true` without `from_set`",
                Some("refresh renews the lifetime of the members of the set the block looks up: add from_set = \"...\" (or, to add sources to a set, use add_to_set = \"...\")".into()),
            );
        }
    }

    /// A live set's name as written in `[[set]]` `name` or in an entry's `from_set`.
    pub(super) fn set_ref(
        &mut self,
        value: &Spanned<DeValue<'_>>,
    ) -> Option<(String, Range<usize>)> {
        let span = value.span();
        if self.tainted(&span) {
            return None;
        }
        let Some(s) = value.get_ref().as_str() else {
            self.error(
                span,
                format!(
                    "expected a set name (a string), found {}",
                    type_name(value.get_ref())
                ),
                Some("write e.g. from_set = \"banned\"".into()),
            );
            return None;
        };
        if !valid_name(s) || LiveName::new(s).is_none() {
            self.error(
                span,
                format!("invalid set name \"{s}\""),
                Some(format!(
                    "a set name is 1-{} characters of A-Z a-z 0-9 _ . -, starting with a letter or digit",
                    LiveName::MAX
                )),
            );
            return None;
        }
        Some((s.to_string(), span))
    }

    /// `add_to_set` or `remove_from_set` (`key`): a set name, or an array of up to
    /// [`FEED_SETS_MAX`] different ones.
    pub(super) fn set_refs(
        &mut self,
        key: &str,
        value: &Spanned<DeValue<'_>>,
    ) -> Vec<(String, Range<usize>)> {
        if !matches!(value.get_ref(), DeValue::Array(_)) {
            return self.set_ref(value).into_iter().collect();
        }
        // an empty list says nothing, refused as every list key refuses it
        let Some(items) = self.array_of(key, value, "[\"knock1\", \"knock2\"]") else {
            return Vec::new();
        };
        if items.len() > FEED_SETS_MAX {
            self.error(
                value.span(),
                format!("`{key}` names {} sets", items.len()),
                Some(format!(
                    "one entry adds to (or removes from) at most {FEED_SETS_MAX} sets: split it"
                )),
            );
            return Vec::new();
        }
        let mut out: Vec<(String, Range<usize>)> = Vec::new();
        for item in items.iter() {
            let Some((name, span)) = self.set_ref(item) else {
                continue;
            };
            if out.iter().any(|(n, _)| *n == name) {
                self.error(
                    span,
                    format!("set \"{name}\" is named twice in `{key}`"),
                    Some("name each set once".into()),
                );
                continue;
            }
            out.push((name, span));
        }
        out
    }

    /// An entry that adds its sources to a set and takes them out of it again: refused.
    pub(super) fn feed_is_one_way(&mut self, feed: &Feed) {
        for (name, span) in &feed.remove_from_set {
            if feed.add_to_set.iter().any(|(n, _)| n == name) {
                self.error(
                    span.clone(),
                    format!("set \"{name}\" is both in `add_to_set` and in `remove_from_set`"),
                    Some("an entry either adds its packets' sources to a set or takes them out: keep one".into()),
                );
            }
        }
    }

    /// The declared sets, checked against the entries: names are unique, every `from_set`
    /// names a declared set, and every declared set is used (a set no rule looks up would
    /// hold members that filter nothing).
    pub(super) fn live_sets_used(
        &mut self,
        sets: Vec<SetSpec>,
        entries: &[Entry],
    ) -> Vec<LiveSetDecl> {
        let mut declared: HashMap<String, Range<usize>> = HashMap::new();
        let mut out = Vec::new();
        for spec in sets {
            let Some((name, span)) = spec.name else {
                continue;
            };
            if let Some(first) = declared.get(&name) {
                let line = self.line_of(first);
                self.error(
                    span,
                    format!("duplicate set name \"{name}\""),
                    Some(format!(
                        "a [[set]] named \"{name}\" is already at line {line}"
                    )),
                );
                continue;
            }
            declared.insert(name.clone(), span.clone());
            out.push((
                LiveSetDecl {
                    name,
                    loc: loc_of(self.src, span.start),
                    timeout: spec.timeout,
                    networks: spec.networks,
                },
                span,
            ));
        }
        let mut used: HashMap<&str, ()> = HashMap::new();
        // the sets the packet path feeds, each with where the first entry feeding it says so
        let mut fed: HashMap<&str, Range<usize>> = HashMap::new();
        // the sets it only takes sources out of (`remove_from_set`)
        let mut emptied: HashMap<&str, Range<usize>> = HashMap::new();
        for e in entries {
            if let Some((set, span)) = &e.from_set {
                if declared.contains_key(set) {
                    used.insert(set, ());
                    if let Some(r) = &e.feed.refresh {
                        fed.entry(set).or_insert_with(|| r.clone());
                    }
                } else {
                    self.no_such_set(&declared, set, span);
                }
            }
            for (set, span) in &e.feed.add_to_set {
                if declared.contains_key(set) {
                    fed.entry(set).or_insert_with(|| span.clone());
                } else {
                    self.no_such_set(&declared, set, span);
                }
            }
            for (set, span) in &e.feed.remove_from_set {
                if declared.contains_key(set) {
                    emptied.entry(set).or_insert_with(|| span.clone());
                } else {
                    self.no_such_set(&declared, set, span);
                }
            }
        }
        let mut kept = Vec::new();
        for (decl, span) in out {
            let feeder = fed.get(decl.name.as_str());
            if let Some(at) = feeder {
                self.fed_set_fits(&decl, &span, at, true);
            } else if let Some(at) = emptied.get(decl.name.as_str()) {
                self.fed_set_fits(&decl, &span, at, false);
            }
            if used.contains_key(decl.name.as_str()) {
                kept.push(decl);
            } else if let Some(at) = feeder {
                let line = self.line_of(at);
                self.error(
                    span,
                    format!("set \"{}\" is fed (line {line}) but used by no entry", decl.name),
                    Some(format!(
                        "what the packet path adds would filter nothing: look it up in a block (from_set = \"{}\", with refresh = true to renew what it blocks), or remove it",
                        decl.name
                    )),
                );
            } else {
                self.error(
                    span,
                    format!("set \"{}\" is used by no entry", decl.name),
                    Some(format!(
                        "its members would filter nothing: use it in an entry (from_set = \"{}\" in a [[block]], [[allow]] or [[reject]]), or remove it",
                        decl.name
                    )),
                );
            }
        }
        kept
    }

    /// `set` is named by an entry (`from_set`, `add_to_set`) at `span` but declared nowhere.
    fn no_such_set(
        &mut self,
        declared: &HashMap<String, Range<usize>>,
        set: &str,
        span: &Range<usize>,
    ) {
        let help = if declared.is_empty() {
            format!("declare it:\n[[set]]\nname = \"{set}\"")
        } else {
            let mut names: Vec<&str> = declared.keys().map(String::as_str).collect();
            names.sort_unstable();
            format!(
                "the declared sets are {}; or declare it with a [[set]] section",
                names.join(", ")
            )
        };
        self.error(
            span.clone(),
            format!("no [[set]] named \"{set}\""),
            Some(help),
        );
    }

    /// A set the packet path feeds (`add_to_set`, or `refresh` at `at`) is a hash set of single
    /// addresses whose members expire: the kernel adds to no interval set from the packet
    /// path, and what a packet adds must not stay for ever. A set it only takes sources out
    /// of (`remove_from_set`, `adds` false) need only hold single addresses.
    fn fed_set_fits(
        &mut self,
        decl: &LiveSetDecl,
        span: &Range<usize>,
        at: &Range<usize>,
        adds: bool,
    ) {
        let line = self.line_of(at);
        if decl.networks {
            self.error(
                span.clone(),
                format!("set \"{}\" is changed by the packet path (line {line}) but holds networks", decl.name),
                Some("add networks = false to this [[set]]: the kernel adds single source addresses to hash sets only, never to the interval sets that hold networks".into()),
            );
        }
        if adds && decl.timeout.is_none() {
            self.error(
                span.clone(),
                format!("set \"{}\" is fed from the packet path (line {line}) but has no timeout", decl.name),
                Some("add timeout = \"60s\" (or any duration) to this [[set]]: what a packet adds, and each renewal, lasts that long (iptables' -m recent --seconds)".into()),
            );
        }
    }
}
