//! `helper`, `except_helper` (the conntrack helper that expected the connection: its
//! master's, iptables' `-m helper --helper NAME`): one name or a list, each a helper's name
//! as the kernel knows it (`"ftp"`, `"irc"`, `"sip"`, `"Q.931"`).

use toml::Spanned;
use toml::de::DeValue;

use super::{Checker, type_name};
use crate::core::cthelper::HelperName;
use crate::core::model::More;

const VALID: &str = "a helper is named as the kernel names it, 1-29 characters of A-Z a-z 0-9 _ . -: helper = \"ftp\", helper = [\"ftp\", \"irc\"]";

impl Checker<'_> {
    /// `helper`, `except_helper` into the entry: each name once.
    pub(super) fn helper_key(&mut self, more: &mut More, key: &str, value: &Spanned<DeValue<'_>>) {
        let Some(names) = self.each_once(key, value, "\"ftp\"", Self::helper_value) else {
            return;
        };
        if key == "helper" {
            more.helper = names;
        } else {
            more.except_helper = names;
        }
    }

    fn helper_value(&mut self, key: &str, item: &Spanned<DeValue<'_>>) -> Option<HelperName> {
        let span = item.span();
        let DeValue::String(s) = item.get_ref() else {
            self.error(
                span,
                format!(
                    "expected a helper's name for `{key}`, found {}",
                    type_name(item.get_ref())
                ),
                Some(VALID.into()),
            );
            return None;
        };
        match HelperName::parse(s) {
            Ok(n) => Some(n),
            Err(why) => {
                self.error(span, format!("`{key}`: {why}"), Some(VALID.into()));
                None
            }
        }
    }
}
