//! Entry names: what a valid one is, the `name` key of an entry, and the one routine that
//! turns other text into a name (for the checker's suggestions and the importer's entries).

use std::ops::Range;

use toml::Spanned;
use toml::de::DeValue;

use super::{Checker, type_name};

/// The longest name an entry may have.
pub(crate) const NAME_MAX: usize = 64;

/// The longest name [`Repair::Derive`] makes: room is left for the `-2`, `-3`, ... that
/// makes it unique, so that the result stays within [`NAME_MAX`].
pub(crate) const DERIVED_MAX: usize = NAME_MAX - 8;

/// 1-64 characters of A-Z a-z 0-9 _ . -, starting with a letter or digit.
pub(crate) fn valid_name(s: &str) -> bool {
    let mut chars = s.chars();
    chars.next().is_some_and(|c| c.is_ascii_alphanumeric())
        && chars.all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-'))
        && s.len() <= NAME_MAX
}

impl Checker<'_> {
    /// `name = "ssh"`: the entry's label, unique across entries (checked later).
    pub(super) fn name(&mut self, value: &Spanned<DeValue<'_>>) -> Option<(String, Range<usize>)> {
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
        if let Some((message, help)) = name_problem(s) {
            self.error(span, message, Some(help));
            return None;
        }
        if crate::core::compile::is_reserved_name(s) {
            return self.reserved_name(s, span);
        }
        Some((s.to_string(), span))
    }

    /// A name statewall gives its own rules: an error, but only a warning in a text statewall
    /// stored itself, since what was confirmed must still boot.
    fn reserved_name(&mut self, s: &str, span: Range<usize>) -> Option<(String, Range<usize>)> {
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
        None
    }
}

/// What is wrong with a name as written (message, help), if anything.
fn name_problem(s: &str) -> Option<(String, String)> {
    let rule = "names are 1-64 characters of A-Z a-z 0-9 _ . - starting with a letter or digit";
    if s.is_empty() {
        return Some((
            "the name is empty".into(),
            format!("give the entry a short unique label, e.g. name = \"ssh\"; {rule}"),
        ));
    }
    let len = s.chars().count();
    if len > NAME_MAX {
        let short: String = s.chars().take(NAME_MAX).collect();
        let help = if valid_name(&short) {
            format!("{rule}; e.g. \"{short}\"")
        } else {
            rule.to_string()
        };
        return Some((
            format!("the name is {len} characters long, more than {NAME_MAX}"),
            help,
        ));
    }
    if !valid_name(s) {
        let help = match sanitise_name(s, Repair::Suggest) {
            Some(f) => format!("{rule}; did you mean \"{f}\"?"),
            None => rule.to_string(),
        };
        return Some((format!("invalid name {s:?}"), help));
    }
    None
}

/// What [`sanitise_name`] makes of a text, and for whom.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Repair {
    /// The "did you mean" for a name someone wrote that is invalid: text with non-ASCII
    /// letters gets no suggestion (dropping them would change the name meant), a trailing
    /// `_` or `.` stays as written, and it is at most [`NAME_MAX`] characters.
    Suggest,
    /// A name made up from other text (an iptables comment, a port list): non-ASCII
    /// characters become `-` like any other, anything but a letter or digit is trimmed from
    /// both ends, and it is at most [`DERIVED_MAX`] characters.
    Derive,
}

/// A valid name close to `s`: characters other than A-Z a-z 0-9 _ . become `-` (one `-` for
/// a run of them), and what a name cannot start with is trimmed (see [`Repair`] for the
/// end). None when nothing is left.
pub(crate) fn sanitise_name(s: &str, how: Repair) -> Option<String> {
    if how == Repair::Suggest && !s.is_ascii() {
        return None;
    }
    let (max, ends_name): (usize, fn(char) -> bool) = match how {
        Repair::Suggest => (NAME_MAX, |c| c != '-'),
        Repair::Derive => (DERIVED_MAX, |c| c.is_ascii_alphanumeric()),
    };
    // Only the first `max` characters after the leading ones that are trimmed matter: a
    // comment of a megabyte costs no more than a short one.
    let mut out = String::new();
    let mut kept = 0;
    for c in s.chars() {
        if c.is_ascii_alphanumeric() || matches!(c, '_' | '.') {
            out.push(c);
        } else if !out.ends_with('-') {
            out.push('-');
        } else {
            continue;
        }
        if out.starts_with(|c: char| !c.is_ascii_alphanumeric()) {
            out.clear(); // would be trimmed from the start anyway
            continue;
        }
        kept += 1;
        if kept > max {
            break;
        }
    }
    let out: String = out
        .trim_start_matches(|c: char| !c.is_ascii_alphanumeric())
        .chars()
        .take(max)
        .collect();
    let out = out.trim_end_matches(|c: char| !ends_name(c));
    debug_assert!(out.is_empty() || valid_name(out), "{out:?}");
    (!out.is_empty()).then(|| out.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn suggestions_for_invalid_names() {
        let fix = |s| sanitise_name(s, Repair::Suggest);
        assert_eq!(fix("my service!").as_deref(), Some("my-service"));
        assert_eq!(fix("--x"), Some("x".to_string()));
        assert_eq!(fix("!!!"), None);
        assert_eq!(fix("smörgås"), None);
        assert_eq!(fix("a b_").as_deref(), Some("a-b_"));
        assert_eq!(fix("a b.").as_deref(), Some("a-b."));
    }

    #[test]
    fn names_derived_from_other_text() {
        let derive = |s| sanitise_name(s, Repair::Derive);
        assert_eq!(derive("my service!").as_deref(), Some("my-service"));
        assert_eq!(derive("smörgås bord").as_deref(), Some("sm-rg-s-bord"));
        assert_eq!(derive("__ssh__. ").as_deref(), Some("ssh"));
        assert_eq!(derive("é"), None);
        let long = format!("{} b", "a".repeat(55));
        assert_eq!(derive(&long), Some("a".repeat(55)));
        assert_eq!(derive(&"x".repeat(80)), Some("x".repeat(DERIVED_MAX)));
    }

    #[test]
    fn validity() {
        assert!(valid_name("ssh"));
        assert!(valid_name("web.alt_8000-8080"));
        assert!(!valid_name("-x"));
        assert!(!valid_name(""));
        assert!(!valid_name(&"a".repeat(NAME_MAX + 1)));
    }
}
