//! `uid`, `except_uid`, `gid`, `except_gid` (the user or group owning the socket a packet
//! the host sends leaves from, iptables' `-m owner --uid-owner` / `--gid-owner`): one id or
//! a list, each a number 0-4294967294. Output entries only: a packet arriving or passing
//! through has no socket of this host (iptables refuses `-m owner` in INPUT and FORWARD too).

use std::ops::Range;

use toml::Spanned;
use toml::de::DeValue;

use super::{Checker, Entry, type_name};
use crate::core::model::More;
use crate::core::plan::Hook;

/// What an owner id looks like, for the messages.
const ID_VALID: &str = "a user or group id is a number 0-4294967294, as iptables-save writes `--uid-owner` and `--gid-owner` (find a name's with `id -u NAME` or `getent group NAME`)";

impl Checker<'_> {
    /// `uid`, `except_uid`, `gid`, `except_gid` into the entry.
    pub(super) fn owner_key(&mut self, more: &mut More, key: &str, value: &Spanned<DeValue<'_>>) {
        let Some(ids) = self.each_once(key, value, "[1000]", Self::owner_id) else {
            return;
        };
        match key {
            "uid" => more.uid = ids,
            "except_uid" => more.except_uid = ids,
            "gid" => more.gid = ids,
            _ => more.except_gid = ids,
        }
    }

    /// One id.
    fn owner_id(&mut self, key: &str, item: &Spanned<DeValue<'_>>) -> Option<u32> {
        let span = item.span();
        let found = match item.get_ref() {
            DeValue::Integer(i) => i128::from_str_radix(i.as_str(), i.radix())
                .ok()
                .and_then(|n| u32::try_from(n).ok())
                .filter(|&n| n != u32::MAX),
            other => {
                self.error(
                    span,
                    format!(
                        "expected a user or group id for `{key}`, found {}",
                        type_name(other)
                    ),
                    Some(ID_VALID.into()),
                );
                return None;
            }
        };
        if found.is_none() {
            let shown = self.text(&span).to_string();
            self.error(
                span,
                format!("{shown} is not a user or group id 0-4294967294"),
                Some(ID_VALID.into()),
            );
        }
        found
    }

    /// An owner is a sending socket's: only `[output]` entries may ask for it.
    pub(super) fn owner_where_packets_leave(&mut self, entries: &[Entry]) {
        for e in entries.iter().filter(|e| e.hook != Hook::Output) {
            if let Some(span) = &e.owner_span {
                let section = match e.hook {
                    Hook::Forward => "[forward]",
                    _ => "the input entries",
                };
                self.error(
                    span.clone(),
                    format!("a socket owner in {section}: a packet arriving or passing through was sent by no socket of this host, so it has no owner to match"),
                    Some("match the owner where packets leave: in [output] (iptables refuses `-m owner` in INPUT and FORWARD too)".into()),
                );
            }
        }
    }
}

/// Where `uid`, `gid` or their exceptions were written, for the section check.
pub(super) fn span_of(key: &str, value: &Spanned<DeValue<'_>>) -> Option<Range<usize>> {
    matches!(key, "uid" | "except_uid" | "gid" | "except_gid").then(|| value.span())
}
