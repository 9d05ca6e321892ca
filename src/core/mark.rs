//! The packet's mark as an entry matches it (`mark`, `except_mark`: nft's `meta mark`;
//! iptables' `-m mark --mark VALUE[/MASK]`): a value, compared under a mask (all ones when
//! none is written). Programs other than statewall set marks (wg-quick's fwmark, ip rules,
//! tc, a captive portal); statewall only reads them. Pure data, no I/O.

use crate::core::model::More;
use crate::core::plan::Match;

/// `VALUE` or `VALUE/MASK`, each a number as iptables reads it (decimal, or hex after `0x`),
/// 0-4294967295; None with why for anything else, or a value with bits its mask clears
/// (no mark would match it).
pub fn parse_mark(text: &str) -> Result<(u32, u32), String> {
    let number = |s: &str| -> Result<u32, String> {
        let s = s.trim();
        let n = match s.strip_prefix("0x").or_else(|| s.strip_prefix("0X")) {
            // no sign after the `0x` (Rust's parser would take one; strtoul does not)
            Some(hex) if hex.starts_with(['+', '-']) => "".parse::<u32>(),
            Some(hex) => u32::from_str_radix(hex, 16),
            None => s.parse::<u32>(),
        };
        n.map_err(|_| format!("`{s}` is not a number 0-4294967295 (decimal, or hex after 0x)"))
    };
    let (value, mask) = match text.split_once('/') {
        Some((v, m)) => (number(v)?, number(m)?),
        None => (number(text)?, u32::MAX),
    };
    if value & !mask != 0 {
        return Err(format!(
            "0x{value:x} has bits the mask 0x{mask:x} clears: no mark matches it"
        ));
    }
    Ok((value, mask))
}

/// A mark as the policy and iptables write it: `0xca6c`, `0x40000/0xff0000`.
pub fn mark_text((value, mask): (u32, u32)) -> String {
    if mask == u32::MAX {
        format!("0x{value:x}")
    } else {
        format!("0x{value:x}/0x{mask:x}")
    }
}

/// Whether an entry says anything of the packet's mark.
pub fn has_mark(m: &More) -> bool {
    !m.mark.is_empty() || !m.except_mark.is_empty()
}

/// The mark matches of an entry's rules: one variant per `mark`, each with every
/// `except_mark` as `!=`; `[[]]` for an entry that uses neither.
pub fn mark_matches(m: &More) -> Vec<Vec<Match>> {
    crate::core::header::variants(&m.mark, &m.except_mark, |(value, mask), not| Match::Mark {
        value,
        mask,
        not,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn marks_read_as_iptables_reads_them() {
        assert_eq!(parse_mark("0xca6c"), Ok((0xca6c, u32::MAX)));
        assert_eq!(parse_mark("51820"), Ok((51820, u32::MAX)));
        assert_eq!(parse_mark("0x40000/0xff0000"), Ok((0x40000, 0xff0000)));
        assert_eq!(parse_mark("0/0x8000"), Ok((0, 0x8000)));
        assert!(parse_mark("0x1/0x2").is_err());
        assert!(parse_mark("0x100000000").is_err());
        assert!(parse_mark("mark").is_err());
        assert_eq!(mark_text((0x40000, 0xff0000)), "0x40000/0xff0000");
        assert_eq!(mark_text((0xca6c, u32::MAX)), "0xca6c");
    }
}
