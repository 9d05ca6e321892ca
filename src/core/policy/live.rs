//! Live sets: the `[[set]]` tables, and `from_set` in entries. A live set's members change at
//! run time (`statewall set add`); the policy only declares it: a name, and optionally the
//! default lifetime of what is added to it.

use std::collections::HashMap;
use std::ops::Range;

use toml::Spanned;
use toml::de::{DeString, DeTable, DeValue};

use super::keys::Place;
use super::names::valid_name;
use super::{Checker, Entry, type_name};
use crate::core::diag::loc_of;
use crate::core::model::{LiveSetDecl, parse_duration};
use crate::core::plan::LiveName;

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
        for e in entries {
            let Some((set, span)) = &e.from_set else {
                continue;
            };
            if declared.contains_key(set) {
                used.insert(set, ());
                continue;
            }
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
        let mut kept = Vec::new();
        for (decl, span) in out {
            if used.contains_key(decl.name.as_str()) {
                kept.push(decl);
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
}
