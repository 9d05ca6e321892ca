//! Numbers as iptables reads them. Every number iptables takes goes through
//! `xtables_strtoul`, C's `strtoumax` in base 0: `0x1f` is hexadecimal and a leading `0`
//! makes it octal, so `--dport 022` is port 18, `-s 010.0.0.1` is 8.0.0.1 and `--dport 08`
//! is refused (not octal, and no service is called `08`). iptables-save writes them back in
//! decimal. The importer writes each number of a rule's values in decimal before it reads
//! them, so that every reader after it sees what iptables saw.
//!
//! Rates (`--limit 05/sec`) are read with `atoi`, in decimal, and are left as they are.

use std::borrow::Cow;

use super::Fam;

/// A whole word read as `xtables_strtoul` reads it: an optional `+`, then `0x` and hex
/// digits, `0` and octal digits, or decimal digits. None for anything else, and for a
/// number past `u64` (`ERANGE`).
pub(super) fn c_number(s: &str) -> Option<u64> {
    c_prefix(s.as_bytes()).and_then(|(v, n)| (n == s.len()).then_some(v))
}

/// The number C's `strtoumax` in base 0 reads at the start of `b` (no blanks first): an
/// optional `+`, then `0x` and hex digits (`0x` without one is the `0` alone), `0` and
/// octal digits, or decimal digits; with how many bytes it took. None where it reads no
/// digit, or a number past `u64` (`ERANGE`).
pub(crate) fn c_prefix(b: &[u8]) -> Option<(u64, usize)> {
    let mut j = usize::from(b.first() == Some(&b'+'));
    let hex = b.get(j) == Some(&b'0')
        && matches!(b.get(j + 1), Some(b'x' | b'X'))
        && b.get(j + 2).is_some_and(u8::is_ascii_hexdigit);
    let radix = match (hex, b.get(j)) {
        (true, _) => {
            j += 2;
            16
        }
        (false, Some(b'0')) => 8,
        _ => 10,
    };
    let start = j;
    let mut v: u64 = 0;
    while let Some(d) = b.get(j).and_then(|&c| char::from(c).to_digit(radix)) {
        v = v.checked_mul(u64::from(radix))?.checked_add(u64::from(d))?;
        j += 1;
    }
    (j > start).then_some((v, j))
}

/// How an option's value holds its numbers.
#[derive(Clone, Copy)]
enum Kind {
    /// one number, or a name (`--log-level`, `--uid-owner`: `N`, `N-M` or a name)
    Number,
    /// `N`, `N:M` (ports, lengths, MSS values, a port may be a service name)
    Range,
    /// ranges separated by `,` (multiport)
    List,
    /// a protocol number or name
    Protocol,
    /// an ICMP type, `type/code`, or a name
    Icmp,
    /// addresses with a prefix length or a mask, separated by `,`
    Nets,
    /// `A-B` addresses (iprange)
    AddrRange,
    /// `value/mask`
    Mark,
}

/// The kind of value of each option that holds numbers (by the name the importer reads),
/// given by module `from` (`""`: iptables' own options; None: getopt would not take it here).
/// The udp match's ports and conntrack's are read with `getaddrinfo`, in decimal (`-p udp
/// --dport 022` is port 22, `0x35` no port), and stay as written; tcp's and multiport's are
/// numbers as every other.
fn kind(from: Option<&str>, option: &str) -> Option<Kind> {
    use Kind::*;
    Some(match option {
        "--dport" | "--sport" | "--destination-port" | "--source-port" if from != Some("tcp") => {
            return None;
        }
        "--hitcount"
        | "--seconds"
        | "--limit-burst"
        | "--hashlimit-burst"
        | "--hashlimit-htable-size"
        | "--hashlimit-htable-max"
        | "--hashlimit-htable-gcinterval"
        | "--hashlimit-htable-expire"
        | "--hashlimit-srcmask"
        | "--hashlimit-dstmask"
        | "--connlimit-above"
        | "--connlimit-upto"
        | "--connlimit-mask"
        | "--ttl-eq"
        | "--ttl-lt"
        | "--ttl-gt"
        | "--hl-eq"
        | "--hl-lt"
        | "--hl-gt"
        | "--ttl"
        | "--hl"
        | "--set-mss"
        | "--nflog-group"
        | "--nflog-range"
        | "--nflog-size"
        | "--nflog-threshold"
        | "--from"
        | "--to"
        | "--rt-type"
        | "--rt-len"
        | "--tcp-option"
        | "--log-level"
        | "--uid-owner"
        | "--gid-owner" => Number,
        "--dport" | "--sport" | "--destination-port" | "--source-port" | "--length" | "--mss"
        | "--rt-segsleft" | "--ctexpire" => Range,
        "--dports" | "--sports" | "--ports" | "--destination-ports" | "--source-ports" => List,
        "-p" | "--protocol" | "--ctproto" => Protocol,
        "--icmp-type" | "--icmpv6-type" => Icmp,
        "-s" | "--source" | "--src" | "-d" | "--destination" | "--dst" | "--ctorigsrc"
        | "--ctorigdst" | "--ctreplsrc" | "--ctrepldst" => Nets,
        "--src-range" | "--dst-range" => AddrRange,
        "--mark" => Mark,
        _ => return None,
    })
}

/// One field: in decimal when it is a number; Err when it is all digits and still no
/// number iptables reads (`08`: no name is all digits either).
fn field(f: &str) -> Result<Cow<'_, str>, String> {
    match c_number(f) {
        Some(n) if n.to_string() != f => Ok(Cow::Owned(n.to_string())),
        Some(_) => Ok(Cow::Borrowed(f)),
        None if !f.is_empty() && f.bytes().all(|b| b.is_ascii_digit()) => {
            Err(if f.starts_with('0') {
                format!(
                    "`{f}` is no number iptables reads: a leading 0 makes it octal (digits 0 to 7)"
                )
            } else {
                format!("`{f}` is no number iptables reads: it is past the largest")
            })
        }
        None => Ok(Cow::Borrowed(f)),
    }
}

/// `text` split at `sep`, each part through `each`, joined again.
fn parts(
    text: &str,
    sep: char,
    each: impl Fn(&str) -> Result<Cow<'_, str>, String>,
) -> Result<String, String> {
    let mut out = Vec::new();
    for p in text.split(sep) {
        out.push(each(p)?.into_owned());
    }
    Ok(out.join(&sep.to_string()))
}

/// An IPv4 address of one to four numbers (iptables completes a shorter one with zeros), in
/// decimal; unchanged where one part is no number (a host name, which iptables looks up).
fn v4(a: &str) -> Cow<'_, str> {
    let nums: Option<Vec<u64>> = a.split('.').map(c_number).collect();
    match nums {
        Some(n) if (1..=4).contains(&n.len()) => {
            let text = n.iter().map(u64::to_string).collect::<Vec<_>>().join(".");
            if text == a {
                Cow::Borrowed(a)
            } else {
                Cow::Owned(text)
            }
        }
        _ => Cow::Borrowed(a),
    }
}

/// A network `addr[/len|/mask]`: the address's numbers (IPv4) and the prefix length's.
fn net(n: &str, fam: Fam) -> Result<Cow<'_, str>, String> {
    let (a, mask) = match n.split_once('/') {
        Some((a, m)) => (a, Some(m)),
        None => (n, None),
    };
    let a = match fam {
        Fam::V4 => v4(a),
        Fam::V6 => Cow::Borrowed(a),
    };
    let mask = match mask {
        Some(m) if fam == Fam::V4 && m.contains('.') => Some(v4(m)),
        Some(m) => Some(field(m)?),
        None => None,
    };
    Ok(match mask {
        Some(m) => Cow::Owned(format!("{a}/{m}")),
        None => a,
    })
}

/// `N:M` with each number in decimal.
fn range(r: &str) -> Result<Cow<'_, str>, String> {
    parts(r, ':', field).map(Cow::Owned)
}

/// `value` of `option` with its numbers in decimal (None: nothing to change). Err with why
/// for a number iptables refuses.
pub(super) fn decimal(
    from: Option<&str>,
    option: &str,
    value: &str,
    fam: Fam,
) -> Result<Option<String>, String> {
    let Some(k) = kind(from, option) else {
        return Ok(None);
    };
    let out = match k {
        Kind::Number => parts(value, '-', field)?,
        Kind::Range => range(value)?.into_owned(),
        Kind::List => parts(value, ',', range)?,
        Kind::Protocol => field(value)?.into_owned(),
        Kind::Icmp => parts(value, '/', range)?,
        Kind::Nets => parts(value, ',', |n| net(n, fam))?,
        Kind::AddrRange if fam == Fam::V4 => parts(value, '-', |a| Ok(v4(a)))?,
        Kind::AddrRange => value.to_string(),
        Kind::Mark => parts(value, '/', field)?,
    };
    Ok((out != value).then_some(out))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_are_read_in_the_base_their_start_says() {
        assert_eq!(c_number("22"), Some(22));
        assert_eq!(c_number("022"), Some(18));
        assert_eq!(c_number("0x16"), Some(22));
        assert_eq!(c_number("0X1F"), Some(31));
        assert_eq!(c_number("+7"), Some(7));
        assert_eq!(c_number("0"), Some(0));
        assert_eq!(c_number("00"), Some(0));
        for no in [
            "08",
            "0x",
            "-1",
            "",
            "1a",
            "ssh",
            "18446744073709551616",
            "+-1",
            "0x+1",
        ] {
            assert_eq!(c_number(no), None, "{no}");
        }
    }

    #[test]
    fn values_are_written_in_decimal_as_iptables_saves_them() {
        // each checked with iptables-restore and iptables-save 1.8.9 in a namespace
        let d = |o: &str, v: &str| {
            decimal(Some(if o == "--dport" { "tcp" } else { "" }), o, v, Fam::V4)
        };
        assert_eq!(d("--dport", "022").unwrap().as_deref(), Some("18"));
        assert_eq!(d("--dport", "0x16:0x50").unwrap().as_deref(), Some("22:80"));
        assert_eq!(d("--dport", "ssh").unwrap(), None);
        assert_eq!(d("--dport", "22").unwrap(), None);
        assert_eq!(
            d("--dports", "0x16,ssh,010:012").unwrap().as_deref(),
            Some("22,ssh,8:10")
        );
        assert_eq!(d("-p", "0x6").unwrap().as_deref(), Some("6"));
        assert_eq!(d("--icmp-type", "0x3/04").unwrap().as_deref(), Some("3/4"));
        assert_eq!(d("--icmp-type", "echo-request").unwrap(), None);
        assert_eq!(
            d("-s", "010.1.1.1,10.0.0.0/030,192.168.0.0/255.255.0x0.0")
                .unwrap()
                .as_deref(),
            Some("8.1.1.1,10.0.0.0/24,192.168.0.0/255.255.0.0")
        );
        // a host name is left to be refused as one
        assert_eq!(d("-s", "host.example").unwrap(), None);
        assert_eq!(
            d("--src-range", "010.0.0.1-10.0.0.0x10")
                .unwrap()
                .as_deref(),
            Some("8.0.0.1-10.0.0.16")
        );
        assert_eq!(d("--mark", "010/0xff").unwrap().as_deref(), Some("8/255"));
        assert_eq!(d("--hitcount", "0x4").unwrap().as_deref(), Some("4"));
        assert_eq!(
            d("--uid-owner", "0100-0200").unwrap().as_deref(),
            Some("64-128")
        );
        assert_eq!(d("--log-level", "warning").unwrap(), None);
        assert_eq!(d("--comment", "010").unwrap(), None);
        // IPv6 addresses are hexadecimal already; their prefix lengths are numbers
        assert_eq!(
            decimal(Some(""), "-s", "2001:db8::/0x20", Fam::V6)
                .unwrap()
                .as_deref(),
            Some("2001:db8::/32")
        );
        assert!(d("--dport", "08").unwrap_err().contains("octal"));
        assert!(d("--dports", "80,09").unwrap_err().contains("octal"));
        assert!(
            d("--hitcount", "99999999999999999999")
                .unwrap_err()
                .contains("largest")
        );
    }
}
