//! Tests of 32-bit words at computed offsets of a packet (an entry's `u32`, `except_u32`;
//! iptables' `-m u32`). nft's language has no match that follows an offset read from the
//! packet itself (`@`); the kernel's `xt_u32` does, and nf_tables runs it as a `match`
//! expression (nft_compat), as iptables-nft writes it and statewall does too (nft lists it
//! as `xt match u32`). Pure data, no I/O.
//!
//! The language is iptables' (libxt_u32), read here exactly as iptables reads it:
//!
//! ```text
//! u32      := test ("&&" test)*
//! test     := location "=" range ("," range)*
//! location := number (op number)*          op: "&" "<<" ">>" "@"
//! range    := number (":" number)?
//! ```
//!
//! Numbers are C's (`0x` hex, a leading `0` octal, else decimal; at most 2³²-1); blanks may
//! stand before any number or operator. A location starts as the big-endian word at byte
//! `number` of the packet counted from its network header (the IP header's first byte);
//! `&` masks it, `<<`/`>>` shift it, and `@ n` moves the base forward by the value so far
//! and reads the word at `n` from there. A test holds when the value lies in any of its
//! ranges; the expression holds when every test does. A word past the packet's end fails
//! the expression (the kernel's rule).
//!
//! iptables takes at most 10 tests of at most 10 numbers and 10 ranges each; statewall
//! keeps an expression inline so a [`crate::core::plan::Match`] stays `Copy`, and takes at
//! most [`TESTS_MAX`] tests holding [`NUMS_MAX`] numbers and [`RANGES_MAX`] ranges
//! between them — more than any expression met in real rulesets (the deepest common one,
//! a TCP payload word, is 9 numbers).

use std::fmt::Write as _;

use crate::core::model::More;
use crate::core::plan::Match;

/// iptables' bound (`XT_U32_MAXSIZE`; the kernel's arrays hold one more) on tests, and on
/// each test's numbers and ranges.
pub const KERNEL_MAX: usize = 10;
/// The most tests one expression may hold here.
pub const TESTS_MAX: usize = 8;
/// The most numbers (of locations) all its tests hold together.
pub const NUMS_MAX: usize = 24;
/// The most ranges all its tests hold together.
pub const RANGES_MAX: usize = 8;

/// What follows a location's number (`xt_u32`'s `enum xt_u32_ops`, its numbers).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Op {
    And = 0,
    Shl = 1,
    Shr = 2,
    At = 3,
}

impl Op {
    pub fn from_u8(n: u8) -> Option<Op> {
        [Op::And, Op::Shl, Op::Shr, Op::At]
            .get(usize::from(n))
            .copied()
    }

    fn text(self) -> &'static str {
        match self {
            Op::And => "&",
            Op::Shl => "<<",
            Op::Shr => ">>",
            Op::At => "@",
        }
    }
}

/// A u32 expression, inline.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct U32 {
    ntests: u8,
    /// each test's end in `nums` and in `ranges`
    ends: [(u8, u8); TESTS_MAX],
    nums: [u32; NUMS_MAX],
    /// the operator before each number (`And` before a test's first: not read)
    ops: [Op; NUMS_MAX],
    ranges: [(u32, u32); RANGES_MAX],
}

/// One test as plain data: its location (the first number's operator is not read) and
/// ranges.
pub type Test = (Vec<(Op, u32)>, Vec<(u32, u32)>);

impl U32 {
    /// An expression of these tests, or why statewall cannot keep it (each test needs a
    /// number and a range; the bounds above).
    pub fn new(tests: &[Test]) -> Result<U32, String> {
        if tests.is_empty() {
            return Err("no test".into());
        }
        if tests.len() > TESTS_MAX {
            return Err(format!(
                "{} tests joined by `&&` (statewall keeps at most {TESTS_MAX})",
                tests.len()
            ));
        }
        let nums: usize = tests.iter().map(|t| t.0.len()).sum();
        let ranges: usize = tests.iter().map(|t| t.1.len()).sum();
        if nums > NUMS_MAX {
            return Err(format!(
                "{nums} numbers in its locations (statewall keeps at most {NUMS_MAX} in one expression)"
            ));
        }
        if ranges > RANGES_MAX {
            return Err(format!(
                "{ranges} value ranges (statewall keeps at most {RANGES_MAX} in one expression)"
            ));
        }
        let mut u = U32 {
            ntests: 0,
            ends: [(0, 0); TESTS_MAX],
            nums: [0; NUMS_MAX],
            ops: [Op::And; NUMS_MAX],
            ranges: [(0, 0); RANGES_MAX],
        };
        let (mut n, mut r) = (0usize, 0usize);
        for (k, (loc, vals)) in tests.iter().enumerate() {
            if loc.is_empty() || vals.is_empty() {
                return Err("a test without a location or a value".into());
            }
            if loc.len() > KERNEL_MAX || vals.len() > KERNEL_MAX {
                return Err(format!(
                    "a test of more than {KERNEL_MAX} numbers or ranges (the kernel's bound)"
                ));
            }
            for (i, &(op, num)) in loc.iter().enumerate() {
                u.ops[n] = if i == 0 { Op::And } else { op };
                u.nums[n] = num;
                n += 1;
            }
            for &(lo, hi) in vals {
                u.ranges[r] = (lo, hi);
                r += 1;
            }
            u.ends[k] = (n as u8, r as u8);
        }
        u.ntests = tests.len() as u8;
        Ok(u)
    }

    /// Its tests, in order.
    pub fn tests(&self) -> Vec<Test> {
        let (mut n, mut r) = (0usize, 0usize);
        let mut out = Vec::with_capacity(usize::from(self.ntests));
        for &(ne, re) in &self.ends[..usize::from(self.ntests)] {
            let (ne, re) = (usize::from(ne), usize::from(re));
            let loc = (n..ne).map(|i| (self.ops[i], self.nums[i])).collect();
            out.push((loc, self.ranges[r..re].to_vec()));
            (n, r) = (ne, re);
        }
        out
    }

    /// The expression as iptables-save writes it: every number in hex
    /// (`0x0>>0x16&0x3c@0x8=0x1`).
    pub fn text(&self) -> String {
        let mut s = String::new();
        for (k, (loc, vals)) in self.tests().iter().enumerate() {
            if k > 0 {
                s.push_str("&&");
            }
            for (i, (op, num)) in loc.iter().enumerate() {
                if i > 0 {
                    s.push_str(op.text());
                }
                let _ = write!(s, "{num:#x}");
            }
            s.push('=');
            for (i, &(lo, hi)) in vals.iter().enumerate() {
                if i > 0 {
                    s.push(',');
                }
                let _ = write!(s, "{lo:#x}");
                if hi != lo {
                    let _ = write!(s, ":{hi:#x}");
                }
            }
        }
        s
    }
}

impl std::fmt::Debug for U32 {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "U32({})", self.text())
    }
}

/// Why an expression does not read: iptables' words, and the byte (from 0) it stopped at.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Unread {
    pub at: usize,
    pub why: String,
}

/// The longest expression read (iptables takes any; this bounds the work on hostile input,
/// far past the longest [`U32`] holds).
pub const TEXT_MAX: usize = 4096;

/// An expression in iptables' language, read as libxt_u32's parser reads it (the same
/// refusals, at the same byte), then bounded as [`U32::new`] bounds it (`at` 0).
pub fn parse(text: &str) -> Result<U32, Unread> {
    if text.len() > TEXT_MAX {
        return Err(Unread {
            at: TEXT_MAX,
            why: format!("an expression longer than {TEXT_MAX} bytes"),
        });
    }
    let b = text.as_bytes();
    let mut i = 0usize;
    let fail = |at: usize, why: &str| Unread {
        at,
        why: format!("u32: at char {at}: {why}"),
    };
    let mut tests: Vec<Test> = Vec::new();
    let (mut loc, mut vals): Test = (Vec::new(), Vec::new());
    let mut reading_values = false;
    loop {
        while b.get(i).copied().is_some_and(is_space) {
            i += 1;
        }
        let Some(&c) = b.get(i) else {
            if !reading_values {
                return Err(Unread {
                    at: i,
                    why: "u32: abrupt end of input after location specifier".into(),
                });
            }
            tests.push((loc, vals));
            if tests.len() > KERNEL_MAX {
                return Err(fail(i, "too many \"&&\"s"));
            }
            break;
        };
        if !reading_values {
            if c == b'=' {
                if loc.is_empty() {
                    return Err(fail(i, "location spec missing"));
                }
                i += 1;
                reading_values = true;
                continue;
            }
            let mut op = Op::And;
            if !loc.is_empty() {
                op = match c {
                    b'&' => Op::And,
                    b'<' | b'>' => {
                        i += 1;
                        if b.get(i) != Some(&c) {
                            let second = if c == b'<' { "'<'" } else { "'>'" };
                            return Err(fail(i, &format!("a second {second} was expected")));
                        }
                        if c == b'<' { Op::Shl } else { Op::Shr }
                    }
                    b'@' => Op::At,
                    _ => return Err(fail(i, "operator expected")),
                };
                i += 1;
            }
            let at = i;
            let n = number(b, &mut i).ok_or_else(|| fail(at, "not a number or out of range"))?;
            // the kernel's check (EINVAL): a word has 32 bits to shift
            if matches!(op, Op::Shl | Op::Shr) && n > 31 {
                let why = format!("a shift of {n} bits, where the kernel takes 31 at most");
                return Err(fail(at, &why));
            }
            loc.push((op, n));
            if loc.len() > KERNEL_MAX {
                return Err(fail(i, "too many operators"));
            }
        } else if c == b'&' {
            i += 1;
            if b.get(i) != Some(&b'&') {
                return Err(fail(i, "a second '&' was expected"));
            }
            tests.push((std::mem::take(&mut loc), std::mem::take(&mut vals)));
            if tests.len() > KERNEL_MAX {
                return Err(fail(i, "too many \"&&\"s"));
            }
            i += 1;
            reading_values = false;
        } else {
            if !vals.is_empty() {
                if c != b',' {
                    return Err(fail(i, "expected \",\" or \"&&\""));
                }
                i += 1;
            }
            let at = i;
            let lo = number(b, &mut i).ok_or_else(|| fail(at, "not a number or out of range"))?;
            while b.get(i).copied().is_some_and(is_space) {
                i += 1;
            }
            let hi = if b.get(i) == Some(&b':') {
                i += 1;
                let at = i;
                number(b, &mut i).ok_or_else(|| fail(at, "not a number or out of range"))?
            } else {
                lo
            };
            vals.push((lo, hi));
            if vals.len() > KERNEL_MAX {
                return Err(fail(i, "too many \",\"s"));
            }
        }
    }
    U32::new(&tests).map_err(|why| Unread { at: 0, why })
}

/// C's `isspace`.
fn is_space(c: u8) -> bool {
    matches!(c, b' ' | b'\t' | b'\n' | 0x0b | 0x0c | b'\r')
}

/// A number as `xtables_strtoui(…, 0, UINT32_MAX)` reads it at `b[*i..]`: blanks, then
/// what C's `strtoumax` in base 0 reads (`import::cnum::c_prefix`; no `-`), moving `i` past
/// it; None where it reads none or one past 2³²-1.
fn number(b: &[u8], i: &mut usize) -> Option<u32> {
    let mut j = *i;
    while b.get(j).copied().is_some_and(is_space) {
        j += 1;
    }
    let (v, n) = crate::core::import::cnum::c_prefix(&b[j..])?;
    *i = j + n;
    u32::try_from(v).ok()
}

/// Whether an entry tests words of packets.
pub fn has_u32(m: &More) -> bool {
    !m.u32.is_empty() || !m.except_u32.is_empty()
}

/// The u32 matches of an entry's rules: one variant per `u32`, each with every
/// `except_u32` as a test that must fail; `[[]]` for an entry that uses neither.
pub fn u32_matches(m: &More) -> Vec<Vec<Match>> {
    crate::core::header::variants(&m.u32, &m.except_u32, |expr, not| Match::U32 { expr, not })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(text: &str) -> (usize, String) {
        let e = parse(text).unwrap_err();
        (e.at, e.why)
    }

    #[test]
    fn expressions_read_as_iptables_reads_them() {
        let u = parse("0x34=0x18030000:0x1803ffff").unwrap();
        assert_eq!(
            u.tests(),
            [(vec![(Op::And, 0x34)], vec![(0x1803_0000, 0x1803_ffff)])]
        );
        assert_eq!(u.text(), "0x34=0x18030000:0x1803ffff");
        let u = parse(" 0 >> 22 & 0x3C @ 8 >> 15 & 0x01 = 1 ").unwrap();
        assert_eq!(u.text(), "0x0>>0x16&0x3c@0x8>>0xf&0x1=0x1");
        let u = parse("6&0xFF=1&&4&0x3FFF=0,5:7,010").unwrap();
        assert_eq!(u.text(), "0x6&0xff=0x1&&0x4&0x3fff=0x0,0x5:0x7,0x8");
        assert_eq!(
            parse("+1<<2=4294967295").unwrap().text(),
            "0x1<<0x2=0xffffffff"
        );
        // what iptables-save writes reads back the same
        for t in ["0x0&0xf000000=0x5:0xf", "0x6&0xff=0x11&&0x6&0xe0000000=0x1"] {
            assert_eq!(parse(t).unwrap().text(), t);
        }
    }

    #[test]
    fn refusals_are_iptables_own_at_its_byte() {
        assert_eq!(
            at("").1,
            "u32: abrupt end of input after location specifier"
        );
        assert_eq!(
            at("12"),
            (
                2,
                "u32: abrupt end of input after location specifier".into()
            )
        );
        assert_eq!(
            at("=1"),
            (0, "u32: at char 0: location spec missing".into())
        );
        assert_eq!(
            at("1<2=3"),
            (2, "u32: at char 2: a second '<' was expected".into())
        );
        assert_eq!(at("1>2=3").1, "u32: at char 2: a second '>' was expected");
        assert_eq!(at("1|2=3"), (1, "u32: at char 1: operator expected".into()));
        assert_eq!(
            at("1&x=3"),
            (2, "u32: at char 2: not a number or out of range".into())
        );
        assert_eq!(
            at("1=-3"),
            (2, "u32: at char 2: not a number or out of range".into())
        );
        assert_eq!(
            at("1=3;"),
            (3, "u32: at char 3: expected \",\" or \"&&\"".into())
        );
        assert_eq!(
            at("1=3&4"),
            (4, "u32: at char 4: a second '&' was expected".into())
        );
        assert_eq!(
            at("1=4294967296").1,
            "u32: at char 2: not a number or out of range"
        );
        // `08` is octal 0 and then an 8 where an operator belongs
        assert_eq!(at("08=1"), (1, "u32: at char 1: operator expected".into()));
        // `0x` without a hex digit is 0 and then an `x`
        assert_eq!(at("0x=1").0, 1);
        let long = ["1"; 12].join("&");
        assert_eq!(
            at(&format!("{long}=1")).1,
            "u32: at char 21: too many operators"
        );
        let many = ["1=1"; 12].join("&&");
        assert!(at(&many).1.ends_with("too many \"&&\"s"), "{many}");
        let ranges = ["1"; 12].join(",");
        assert!(at(&format!("1={ranges}")).1.ends_with("too many \",\"s"));
        assert!(at(&"1".repeat(5000)).1.contains("longer than 4096"));
    }

    #[test]
    fn statewall_keeps_what_fits_inline() {
        let nine = "0>>22&0x3C@12>>26&0x3C@0>>24&0xFF=0x47";
        let two = format!("{nine}&&{nine}");
        assert_eq!(parse(&two).unwrap().tests().len(), 2);
        let three = format!("{two}&&{nine}");
        let e = parse(&three).unwrap_err();
        assert_eq!(e.at, 0);
        assert!(e.why.contains("27 numbers"), "{}", e.why);
        let nine_tests = ["1=1"; 9].join("&&");
        assert!(parse(&nine_tests).unwrap_err().why.contains("9 tests"));
        let ranges = ["1"; 9].join(",");
        assert!(
            parse(&format!("1={ranges}"))
                .unwrap_err()
                .why
                .contains("9 value ranges")
        );
    }
}
