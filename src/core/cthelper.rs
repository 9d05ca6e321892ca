//! The helper of a connection's master (`helper`, `except_helper`; iptables' `-m helper
//! --helper NAME`): the connections a conntrack helper expected — an FTP session's data
//! connections (helper `ftp`), IRC's DCC, SIP's media — are RELATED to the connection whose
//! helper made the expectation, and the kernel's x_tables match `helper` tells them by that
//! helper's name. nft's own `ct helper` reads the helper of the connection itself (the FTP
//! control connection's), not its master's, so statewall runs xt_helper (nft_compat), as
//! iptables-nft does. Pure data, no I/O.

use crate::core::model::More;
use crate::core::plan::Match;

/// The longest name xt_helper holds (`char name[30]`, NUL-terminated).
pub const HELPER_NAME_MAX: usize = 29;

/// A conntrack helper's name as xt_helper compares it, kept inline (a `Match` is `Copy`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct HelperName {
    len: u8,
    name: [u8; HELPER_NAME_MAX],
}

impl HelperName {
    /// 1-29 bytes of A-Z a-z 0-9 `_` `.` `-` (the kernel's helpers: `ftp`, `irc`, `sip`,
    /// `pptp`, `tftp`, `amanda`, `Q.931`, `RAS`, `netbios-ns`, `snmp`, `sane`, `h245`);
    /// None with why for anything else.
    pub fn parse(text: &str) -> Result<HelperName, String> {
        let b = text.as_bytes();
        if b.is_empty() || b.len() > HELPER_NAME_MAX {
            return Err(format!(
                "a helper's name is 1-{HELPER_NAME_MAX} characters, not {}",
                b.len()
            ));
        }
        if let Some(c) = text
            .chars()
            .find(|c| !(c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-')))
        {
            return Err(format!(
                "{c:?} in a helper's name (its characters are A-Z a-z 0-9 _ . -)"
            ));
        }
        let mut name = [0u8; HELPER_NAME_MAX];
        name[..b.len()].copy_from_slice(b);
        Ok(HelperName {
            len: b.len() as u8,
            name,
        })
    }

    pub fn as_str(&self) -> &str {
        std::str::from_utf8(&self.name[..usize::from(self.len)]).expect("checked when parsed")
    }
}

impl std::fmt::Display for HelperName {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Whether an entry says anything of a connection's helper.
pub fn has_helper(m: &More) -> bool {
    !m.helper.is_empty() || !m.except_helper.is_empty()
}

/// The helper matches of an entry's rules: one variant per `helper`, each with every
/// `except_helper` as a negated match; `[[]]` for an entry that uses neither.
pub fn helper_matches(m: &More) -> Vec<Vec<Match>> {
    crate::core::header::variants(&m.helper, &m.except_helper, |name, not| Match::Helper {
        name,
        not,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn helper_names_are_the_kernels() {
        for ok in ["ftp", "Q.931", "netbios-ns", "proto_gre", &"x".repeat(29)] {
            assert_eq!(HelperName::parse(ok).unwrap().as_str(), ok);
        }
        for bad in ["", "ftp irc", "ftp\"", "ftp/21", &"x".repeat(30), "fté"] {
            assert!(HelperName::parse(bad).is_err(), "{bad:?}");
        }
    }
}
