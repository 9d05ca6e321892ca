//! `mark`, `except_mark` (the packet's mark, which other programs set: nft's `meta mark`,
//! iptables' `-m mark --mark`): one mark or a list, each `"0xca6c"`, a number, or
//! `"VALUE/MASK"` (`"0x40000/0xff0000"`).

use toml::Spanned;
use toml::de::DeValue;

use super::{Checker, type_name};
use crate::core::model::More;

const VALID: &str = "a mark is a number 0-4294967295 (decimal, or hex after 0x) or VALUE/MASK: mark = \"0xca6c\", mark = \"0x40000/0xff0000\"";

impl Checker<'_> {
    /// `mark`, `except_mark` into the entry: each mark once.
    pub(super) fn mark_key(&mut self, more: &mut More, key: &str, value: &Spanned<DeValue<'_>>) {
        let Some(marks) = self.each_once(key, value, "\"0xca6c\"", Self::mark_value) else {
            return;
        };
        if key == "mark" {
            more.mark = marks;
        } else {
            more.except_mark = marks;
        }
    }

    fn mark_value(&mut self, key: &str, item: &Spanned<DeValue<'_>>) -> Option<(u32, u32)> {
        let span = item.span();
        let text = match item.get_ref() {
            DeValue::Integer(i) => i128::from_str_radix(i.as_str(), i.radix())
                .map(|n| n.to_string())
                .unwrap_or_default(),
            DeValue::String(s) => s.to_string(),
            other => {
                self.error(
                    span,
                    format!("expected a mark for `{key}`, found {}", type_name(other)),
                    Some(VALID.into()),
                );
                return None;
            }
        };
        match crate::core::mark::parse_mark(&text) {
            Ok(m) => Some(m),
            Err(why) => {
                self.error(span, format!("`{key}`: {why}"), Some(VALID.into()));
                None
            }
        }
    }
}
