//! Interface names as nft compares them: NUL-padded to `IFNAMSIZ` (16) bytes, a trailing
//! `*` a prefix wildcard; the matches an entry's `iif`, `oif` and their exceptions make.

use super::Match;

/// `Match::IifName` for an interface name (cut to 15 bytes; validation refuses longer ones).
pub fn iifname(name: &str) -> Match {
    Match::IifName(ifname_bytes(name))
}

/// An interface match in direction `out` for `name`, which may end in the wildcard `*`
/// (`br-*`: every name that starts with `br-`).
pub fn ifname_match(name: &str, out: bool) -> Match {
    match (name.strip_suffix('*'), out) {
        (None, false) => Match::IifName(ifname_bytes(name)),
        (None, true) => Match::OifName(ifname_bytes(name)),
        (Some(p), false) => Match::IifWild(ifname_bytes(p)),
        (Some(p), true) => Match::OifWild(ifname_bytes(p)),
    }
}

/// The `!=` interface match in direction `out` for `name` (a name, or a wildcard ending in
/// `*`): what an entry's `except_iif`/`except_oif` compiles to.
pub fn ifname_not_match(name: &str, out: bool) -> Match {
    let (base, wild) = match name.strip_suffix('*') {
        Some(p) => (p, true),
        None => (name, false),
    };
    Match::IfNot {
        out,
        wild,
        name: ifname_bytes(base),
    }
}

/// A name (or a wildcard's prefix) NUL-padded to 16 bytes, cut to 15.
pub fn ifname_bytes(name: &str) -> [u8; 16] {
    let mut b = [0u8; 16];
    for (d, s) in b.iter_mut().zip(name.as_bytes().iter().take(15)) {
        *d = *s;
    }
    b
}

/// The interface name held by `Match::IifName` bytes (up to the first NUL).
pub fn ifname_of(b: &[u8; 16]) -> String {
    let end = b.iter().position(|&c| c == 0).unwrap_or(16);
    String::from_utf8_lossy(&b[..end]).into_owned()
}
