//! A pattern searched for in a packet's bytes (an entry's `contains`, `except_contains`;
//! iptables' `-m string`). nft's own language has no such match; the kernel's `xt_string`
//! does it, and nf_tables runs it as a `match` expression (nft_compat) in any family, which
//! is what iptables-nft writes for `-m string` and what statewall writes too (nft lists it
//! as `xt match string`). Pure data, no I/O.
//!
//! The search runs over the packet from its network header on (the IP header is byte 0),
//! between two offsets, with Boyer-Moore (`bm`) or Knuth-Morris-Pratt (`kmp`): the two
//! differ where the packet's bytes are not in one piece (Boyer-Moore does not find a
//! pattern that spans two of them), so the algorithm is part of the match, as in iptables.

use crate::core::model::More;
use crate::core::plan::Match;

/// The longest pattern the kernel takes (`XT_STRING_MAX_PATTERN_SIZE`).
pub const PATTERN_MAX: usize = 128;

/// The search algorithm, as the kernel's textsearch names it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Algo {
    /// Boyer-Moore (`ts_bm`)
    Bm,
    /// Knuth-Morris-Pratt (`ts_kmp`)
    Kmp,
}

impl Algo {
    pub fn name(self) -> &'static str {
        match self {
            Algo::Bm => "bm",
            Algo::Kmp => "kmp",
        }
    }

    pub fn from_name(name: &str) -> Option<Algo> {
        match name {
            "bm" => Some(Algo::Bm),
            "kmp" => Some(Algo::Kmp),
            _ => None,
        }
    }
}

/// A pattern with where and how it is searched for, kept inline so that a [`Match`] stays
/// `Copy` (at most [`PATTERN_MAX`] bytes).
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct Pattern {
    len: u8,
    bytes: [u8; PATTERN_MAX],
    pub algo: Algo,
    /// the first offset searched (from the network header)
    pub from: u16,
    /// the last offset searched
    pub to: u16,
    /// letters match either case (iptables' `--icase`)
    pub icase: bool,
}

impl Pattern {
    /// A pattern of 1 to [`PATTERN_MAX`] bytes searched between `from` and `to`, or why not.
    pub fn new(
        bytes: &[u8],
        algo: Algo,
        from: u16,
        to: u16,
        icase: bool,
    ) -> Result<Pattern, String> {
        if bytes.is_empty() {
            return Err("an empty pattern (it would match every packet)".into());
        }
        if bytes.len() > PATTERN_MAX {
            return Err(format!(
                "a pattern of {} bytes; the kernel searches for at most {PATTERN_MAX}",
                bytes.len()
            ));
        }
        if from > to {
            return Err(format!(
                "a pattern between offsets {from} and {to} (the search would start after it ends)"
            ));
        }
        let mut b = [0u8; PATTERN_MAX];
        b[..bytes.len()].copy_from_slice(bytes);
        Ok(Pattern {
            len: bytes.len() as u8,
            bytes: b,
            algo,
            from,
            to,
            icase,
        })
    }

    /// The pattern's bytes.
    pub fn bytes(&self) -> &[u8] {
        &self.bytes[..usize::from(self.len)]
    }

    /// Whether the pattern reads as text: printable ASCII without `"`, `\` and `|` (which
    /// iptables' `--string` and TOML strings would have to escape).
    pub fn is_text(&self) -> bool {
        self.bytes()
            .iter()
            .all(|&c| (0x20..0x7f).contains(&c) && !matches!(c, b'"' | b'\\' | b'|'))
    }

    /// The pattern in lower-case hex digits.
    pub fn hex(&self) -> String {
        self.bytes().iter().map(|b| format!("{b:02x}")).collect()
    }

    /// How statewall shows the pattern and its options: `"friendly-scanner"` (or
    /// `|0000ff0001|` for bytes that are not text), then ` algo kmp`, ` from 40`, ` to 1000`,
    /// ` icase` where they differ from `bm`, 0, 65535 and case-sensitive.
    pub fn text(&self) -> String {
        let mut s = if self.is_text() {
            format!(
                "\"{}\"",
                std::str::from_utf8(self.bytes()).expect("printable ASCII")
            )
        } else {
            format!("|{}|", self.hex())
        };
        if self.algo != Algo::Bm {
            s.push_str(&format!(" algo {}", self.algo.name()));
        }
        if self.from != 0 {
            s.push_str(&format!(" from {}", self.from));
        }
        if self.to != u16::MAX {
            s.push_str(&format!(" to {}", self.to));
        }
        if self.icase {
            s.push_str(" icase");
        }
        s
    }
}

impl std::fmt::Debug for Pattern {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Pattern({})", self.text())
    }
}

/// Bytes written as iptables' `--hex-string` writes them: text with `|hex digits|` runs
/// (spaces allowed inside a run), or None with why.
pub fn parse_hex_string(s: &str) -> Result<Vec<u8>, String> {
    let mut out = Vec::new();
    let mut in_hex = false;
    let mut count = 0usize;
    for part in s.split('|') {
        if in_hex {
            let digits: Vec<u8> = part.bytes().filter(|c| *c != b' ').collect();
            if !digits.len().is_multiple_of(2) || !digits.iter().all(u8::is_ascii_hexdigit) {
                return Err(format!("`|{part}|` is not pairs of hex digits"));
            }
            for pair in digits.chunks(2) {
                let hex = std::str::from_utf8(pair).expect("hex digits");
                out.push(u8::from_str_radix(hex, 16).expect("hex digits"));
            }
        } else {
            out.extend_from_slice(part.as_bytes());
        }
        in_hex = !in_hex;
        count += 1;
    }
    if count.is_multiple_of(2) {
        return Err("a `|` that opens a run of hex digits and is never closed".into());
    }
    Ok(out)
}

/// Bytes from hex digits alone (the policy's `hex = "0000ff0001"`; spaces between pairs are
/// taken), or why not.
pub fn parse_hex(s: &str) -> Result<Vec<u8>, String> {
    if s.contains('|') {
        return Err("hex digits only, without `|`".into());
    }
    parse_hex_string(&format!("|{s}|"))
}

/// Whether an entry searches packets' bytes.
pub fn has_contains(m: &More) -> bool {
    !m.contains.is_empty() || !m.except_contains.is_empty()
}

/// The pattern matches of an entry's rules: one variant per `contains`, each with every
/// `except_contains` as a search that must fail; `[[]]` for an entry that uses neither.
pub fn contains_matches(m: &More) -> Vec<Vec<Match>> {
    crate::core::header::variants(&m.contains, &m.except_contains, |pattern, not| {
        Match::Contains { pattern, not }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hex_strings_read_as_iptables_reads_them() {
        assert_eq!(
            parse_hex_string("|0000FF0001|").unwrap(),
            [0, 0, 0xff, 0, 1]
        );
        assert_eq!(parse_hex_string("GET |2f| x").unwrap(), b"GET / x");
        assert_eq!(parse_hex_string("|00 01|a").unwrap(), [0, 1, b'a']);
        assert_eq!(parse_hex_string("plain").unwrap(), b"plain");
        assert!(parse_hex_string("|0|").is_err());
        assert!(parse_hex_string("|zz|").is_err());
        assert!(parse_hex_string("|00").is_err());
        assert_eq!(parse_hex("0000ff0001").unwrap(), [0, 0, 0xff, 0, 1]);
        assert!(parse_hex("|00|").is_err());
    }

    #[test]
    fn a_pattern_is_bounded_and_shown_as_text_or_hex() {
        assert!(Pattern::new(b"", Algo::Bm, 0, 65535, false).is_err());
        assert!(Pattern::new(&[b'a'; 129], Algo::Bm, 0, 65535, false).is_err());
        assert!(Pattern::new(b"a", Algo::Bm, 10, 9, false).is_err());
        let p = Pattern::new(&[b'a'; 128], Algo::Kmp, 0, 65535, false).unwrap();
        assert_eq!(p.bytes().len(), 128);
        let p = Pattern::new(b"sipvicious", Algo::Bm, 0, 65535, false).unwrap();
        assert_eq!(p.text(), "\"sipvicious\"");
        let p = Pattern::new(&[0, 0, 0xff, 0, 1], Algo::Kmp, 40, 1000, true).unwrap();
        assert_eq!(p.text(), "|0000ff0001| algo kmp from 40 to 1000 icase");
        assert!(
            !Pattern::new(b"a|b", Algo::Bm, 0, 9, false)
                .unwrap()
                .is_text()
        );
    }
}
