//! Unknown keys, and the word that was probably meant: the key, mode or kind closest to what
//! was written, or a known alias of it.

use toml::Spanned;
use toml::de::DeString;

use super::Checker;

const ROOT_KEYS: &[&str] = &[
    "mode",
    "final",
    "log_final",
    "baseline",
    "set",
    "block",
    "allow",
    "reject",
    "forward",
    "output",
];
const SECTION_KEYS: &[&str] = &[
    "final",
    "log_final",
    "clamp_mss",
    "clamp",
    "baseline",
    "allow",
    "reject",
    "block",
];
const BASELINE_KEYS: &[&str] = &["established", "invalid", "loopback", "icmp", "icmpv6"];
/// The keys of an allow entry: every entry's, and `remove_from_set` (a port knock's open
/// door that closes behind the connection it lets in).
const ALLOW_KEYS: &[&str] = &and::<1, 74>(ENTRY_KEYS, ["remove_from_set"]);
const ENTRY_KEYS: [&str; 73] = [
    "name",
    "tcp",
    "udp",
    "icmp",
    "from",
    "from_file",
    "from_set",
    "iif",
    "oif",
    "to",
    "except_from",
    "except_to",
    "tcp_sport",
    "udp_sport",
    "protocol",
    "except_protocol",
    "icmpv6",
    "tcp_flags",
    "limit",
    "connections",
    "log",
    "published",
    "published_udp",
    "published_any",
    "published_to",
    "published_from",
    "connection_protocol",
    "dnat",
    "except_iif",
    "except_oif",
    "to_type",
    "from_type",
    "except_to_type",
    "except_from_type",
    "pkttype",
    "except_pkttype",
    "ipsec_in",
    "ipsec_out",
    "rt_type",
    "except_rt_type",
    "tcp_option",
    "except_tcp_option",
    "tcp_mss",
    "except_tcp_mss",
    "mac",
    "except_mac",
    "uid",
    "except_uid",
    "gid",
    "except_gid",
    "length",
    "except_length",
    "ttl",
    "except_ttl",
    "contains",
    "except_contains",
    "u32",
    "except_u32",
    "mark",
    "except_mark",
    "helper",
    "except_helper",
    "hours",
    "days",
    "since",
    "until",
    "except_tcp",
    "except_udp",
    "except_tcp_sport",
    "except_udp_sport",
    "except_icmp",
    "except_icmpv6",
    "state",
];
/// A reject entry's: every entry's, `with`, `add_to_set` and `remove_from_set`.
const REJECT_KEYS: &[&str] = &and::<3, 76>(ENTRY_KEYS, ["with", "add_to_set", "remove_from_set"]);
/// A block entry's: every entry's (its `state` is `"new"` only), `with`, `after`,
/// `add_to_set`, `remove_from_set` and `refresh`.
const BLOCK_KEYS: &[&str] = &and::<5, 78>(
    ENTRY_KEYS,
    ["with", "after", "add_to_set", "remove_from_set", "refresh"],
);

/// `keys` and then `more` (N is their number together: checked when compiled).
const fn and<const M: usize, const N: usize>(
    keys: [&'static str; 73],
    more: [&'static str; M],
) -> [&'static str; N] {
    assert!(N == 73 + M);
    let mut out = [""; N];
    let mut i = 0;
    while i < keys.len() {
        out[i] = keys[i];
        i += 1;
    }
    while i < N {
        out[i] = more[i - keys.len()];
        i += 1;
    }
    out
}
const SET_KEYS: &[&str] = &["name", "timeout", "networks"];
/// A clamp entry's: its name, what it lowers the MSS to, and the matches that say which SYNs
/// (iptables' `-j TCPMSS` rules say them with these).
const CLAMP_KEYS: &[&str] = &[
    "name",
    "mss",
    "from",
    "to",
    "iif",
    "oif",
    "except_from",
    "except_to",
    "except_iif",
    "except_oif",
    "tcp",
    "tcp_sport",
    "tcp_flags",
    "tcp_mss",
    "except_tcp_mss",
];

/// Whether `key` is a clamp entry's.
pub(super) fn clamp_key(key: &str) -> bool {
    CLAMP_KEYS.contains(&key)
}

/// The keys valid at a place, aliases people write for them, and how to say where.
struct Keys {
    valid: &'static [&'static str],
    aliases: &'static [(&'static str, &'static str)],
    label: &'static str,
}

/// Where a key was written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Place {
    Root,
    Baseline,
    Allow,
    Reject,
    Block,
    Set,
    Section,
    Clamp,
}

impl Place {
    /// The keys valid here, aliases people write for them, and how to say "here".
    fn keys(self) -> Keys {
        match self {
            Place::Root => Keys {
                valid: ROOT_KEYS,
                aliases: &[
                    ("allows", "allow"),
                    ("accept", "allow"),
                    ("rejects", "reject"),
                ],
                label: "at the top level",
            },
            Place::Baseline => Keys {
                valid: BASELINE_KEYS,
                aliases: &[
                    ("icmp6", "icmpv6"),
                    ("ipv6-icmp", "icmpv6"),
                    ("icmp_v6", "icmpv6"),
                    ("invalid_drop", "invalid"),
                    ("drop_invalid", "invalid"),
                    ("lo", "loopback"),
                    ("related", "established"),
                ],
                label: "in [baseline]",
            },
            Place::Allow => Keys {
                valid: ALLOW_KEYS,
                aliases: &[
                    ("source", "from"),
                    ("sources", "from"),
                    ("src", "from"),
                    ("saddr", "from"),
                    ("dest", "to"),
                    ("destination", "to"),
                    ("daddr", "to"),
                    ("sport", "tcp_sport"),
                    ("proto", "protocol"),
                    ("ctstate", "state"),
                    ("states", "state"),
                    ("connlimit", "connections"),
                    ("conn_limit", "connections"),
                    ("ct_count", "connections"),
                    ("max_connections", "connections"),
                    ("hoplimit", "ttl"),
                    ("hop_limit", "ttl"),
                    ("mac_source", "mac"),
                ],
                label: "in an allow entry",
            },
            Place::Reject => Keys {
                valid: REJECT_KEYS,
                aliases: &[
                    ("source", "from"),
                    ("sources", "from"),
                    ("src", "from"),
                    ("saddr", "from"),
                    ("reject-with", "with"),
                    ("reject_with", "with"),
                    ("hoplimit", "ttl"),
                    ("hop_limit", "ttl"),
                    ("mac_source", "mac"),
                ],
                label: "in a reject entry",
            },
            Place::Block => Keys {
                valid: BLOCK_KEYS,
                aliases: &[
                    ("source", "from"),
                    ("sources", "from"),
                    ("src", "from"),
                    ("saddr", "from"),
                    ("set", "from_set"),
                    ("verdict", "with"),
                    ("reject-with", "with"),
                    ("reject_with", "with"),
                    ("place", "after"),
                    ("position", "after"),
                    ("hoplimit", "ttl"),
                    ("hop_limit", "ttl"),
                    ("mac_source", "mac"),
                ],
                label: "in a block entry",
            },
            Place::Section => Keys {
                valid: SECTION_KEYS,
                aliases: &[("allows", "allow"), ("accept", "allow"), ("drop", "block")],
                label: "in a [forward] or [output] section",
            },
            Place::Clamp => Keys {
                valid: CLAMP_KEYS,
                aliases: &[
                    ("set_mss", "mss"),
                    ("clamp_mss", "mss"),
                    ("source", "from"),
                    ("src", "from"),
                    ("flags", "tcp_flags"),
                ],
                label: "in a clamp entry",
            },
            Place::Set => Keys {
                valid: SET_KEYS,
                aliases: &[("ttl", "timeout"), ("expires", "timeout")],
                label: "in a [[set]]",
            },
        }
    }
}

impl Checker<'_> {
    /// Reports an unknown key; returns the key that was probably meant, if any.
    pub(super) fn unknown_key(
        &mut self,
        key: &Spanned<DeString<'_>>,
        place: Place,
    ) -> Option<&'static str> {
        let k: &str = key.get_ref().as_ref();
        if self.tainted(&key.span()) {
            return None;
        }
        let (help, meant) = unknown_key_help(k, place);
        let label = place.keys().label;
        self.error(key.span(), format!("unknown key `{k}` {label}"), Some(help));
        meant
    }
}

/// What to say about unknown key `k` at `place`, and the key it probably meant.
fn unknown_key_help(k: &str, place: Place) -> (String, Option<&'static str>) {
    let is_entry_key = BLOCK_KEYS.contains(&k) && !BASELINE_KEYS.contains(&k);
    let help = match place {
        Place::Root if is_entry_key => {
            format!("`{k}` belongs to an entry: put it after an [[allow]] or [[reject]] header")
        }
        Place::Root if BASELINE_KEYS.contains(&k) => {
            format!("`{k}` belongs to the baseline: put it under [baseline]")
        }
        Place::Root if k == "clamp" => "clamp entries lower the MSS of the TCP SYNs a router forwards (or the host sends): write them as [[forward.clamp]] (or [[output.clamp]])".to_string(),
        Place::Root if k == "clamp_mss" => "`clamp_mss` lowers the MSS of TCP SYNs a router forwards (or the host sends): put it under [forward] (or [output])".to_string(),
        Place::Baseline
        | Place::Allow
        | Place::Reject
        | Place::Block
        | Place::Set
        | Place::Section
            if k == "mode" =>
        {
            "`mode` is a top-level setting: put it at the top of the file, before any [section]"
                .to_string()
        }
        Place::Clamp if is_entry_key => format!(
            "a clamp entry lowers the MSS of the TCP SYNs its matches say, and takes {}: `{k}` is for allow, reject and block entries",
            CLAMP_KEYS[2..].iter().map(|k| format!("`{k}`")).collect::<Vec<_>>().join(", ")
        ),
        Place::Allow | Place::Reject | Place::Block if BASELINE_KEYS.contains(&k) => {
            format!("`{k}` belongs to the baseline: put it under [baseline]")
        }
        Place::Baseline if is_entry_key => {
            format!("`{k}` belongs to an entry: put it after an [[allow]] or [[reject]] header")
        }
        Place::Allow if k == "with" => {
            "`with` says how a reject entry answers; an allow entry accepts, so it has no `with`"
                .to_string()
        }
        Place::Allow | Place::Reject if k == "after" => {
            "`after` places a [[block]] entry in the chain; allow and reject entries have their fixed places"
                .to_string()
        }
        Place::Allow | Place::Reject | Place::Block
            if ["port", "ports", "dport", "dports", "dst-port"].contains(&k) =>
        {
            let help = "ports are listed per protocol: tcp = [...] and/or udp = [...]";
            return (help.to_string(), Some("tcp"));
        }
        _ => {
            let Keys {
                valid,
                aliases,
                label,
            } = place.keys();
            return match suggest(k, valid, aliases) {
                Some(good) => (format!("did you mean `{good}`?"), Some(good)),
                None => {
                    let list = valid
                        .iter()
                        .map(|v| format!("`{v}`"))
                        .collect::<Vec<_>>()
                        .join(", ");
                    (format!("the valid keys {label} are {list}"), None)
                }
            };
        }
    };
    (help, None)
}

/// The most cells of the edit-distance tables one suggestion fills (a few milliseconds).
const SUGGEST_CELLS: usize = 2_000_000;

/// The closest valid word, if any is close enough (or a known alias).
pub(crate) fn suggest<'a>(
    word: &str,
    valid: &[&'a str],
    aliases: &[(&str, &'a str)],
) -> Option<&'a str> {
    // a word this long is close to no key (and its edit distance would take a table of
    // its length times theirs)
    if word.len() > 64 {
        return None;
    }
    let lower = word.to_ascii_lowercase();
    if let Some((_, good)) = aliases.iter().find(|(a, _)| *a == lower) {
        return Some(good);
    }
    let len = lower.chars().count();
    // a word whose length differs from a valid one's by more than the distance allowed is
    // not close to it, and costs no table; the tables of one word add up to at most
    // SUGGEST_CELLS (a word among thousands of long entry names is compared with the first
    // ones only)
    let mut cells = 0usize;
    let close = valid
        .iter()
        .filter(|v| len.abs_diff(v.chars().count()) <= (v.chars().count() / 3).max(1))
        .take_while(|v| {
            cells += (len + 1) * (v.chars().count() + 1);
            cells <= SUGGEST_CELLS
        })
        .map(|v| (edit_distance(&lower, v), *v))
        .filter(|(d, v)| *d <= (v.chars().count() / 3).max(1))
        .min_by_key(|(d, _)| *d)
        .map(|(_, v)| v);
    // Otherwise a word that starts like a valid one (`enforcing`, `tcp_ports`).
    close.or_else(|| {
        valid.iter().copied().find(|v| {
            let common = lower
                .chars()
                .zip(v.chars())
                .take_while(|(a, b)| a == b)
                .count();
            lower.chars().count() >= 3 && common >= v.chars().count().min(4)
        })
    })
}

/// Optimal string alignment distance (Levenshtein plus adjacent transpositions), in one
/// table of (|a|+1)·(|b|+1) cells.
fn edit_distance(a: &str, b: &str) -> usize {
    let a: Vec<char> = a.chars().collect();
    let b: Vec<char> = b.chars().collect();
    let w = b.len() + 1;
    let mut d = vec![0usize; (a.len() + 1) * w];
    for i in 0..=a.len() {
        d[i * w] = i;
    }
    for (j, cell) in d[..w].iter_mut().enumerate() {
        *cell = j;
    }
    for i in 1..=a.len() {
        for j in 1..=b.len() {
            let cost = usize::from(a[i - 1] != b[j - 1]);
            let mut v = (d[(i - 1) * w + j] + 1)
                .min(d[i * w + j - 1] + 1)
                .min(d[(i - 1) * w + j - 1] + cost);
            if i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1] {
                v = v.min(d[(i - 2) * w + j - 2] + 1);
            }
            d[i * w + j] = v;
        }
    }
    d[a.len() * w + b.len()]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn suggestions() {
        let modes = &["enforce", "audit"];
        assert_eq!(suggest("tpc", ALLOW_KEYS, &[]), Some("tcp"));
        assert_eq!(suggest("TCP", ALLOW_KEYS, &[]), Some("tcp"));
        assert_eq!(suggest("form", ALLOW_KEYS, &[]), Some("from"));
        assert_eq!(suggest("comment", ALLOW_KEYS, &[]), None);
        assert_eq!(suggest("enforcing", modes, &[]), Some("enforce"));
        assert_eq!(suggest("enfroce", modes, &[]), Some("enforce"));
        assert_eq!(suggest("drop", modes, &[]), None);
        assert_eq!(edit_distance("kitten", "sitting"), 3);
        assert_eq!(suggest(&"tcp".repeat(100_000), ALLOW_KEYS, &[]), None);
    }

    #[test]
    fn unknown_keys_say_where_they_belong() {
        assert_eq!(
            unknown_key_help("tpc", Place::Allow),
            ("did you mean `tcp`?".into(), Some("tcp"))
        );
        assert_eq!(unknown_key_help("dport", Place::Reject).1, Some("tcp"));
        assert_eq!(
            unknown_key_help("tcp", Place::Root).0,
            "`tcp` belongs to an entry: put it after an [[allow]] or [[reject]] header"
        );
        assert_eq!(
            unknown_key_help("comment", Place::Root),
            (
                "the valid keys at the top level are `mode`, `final`, `log_final`, `baseline`, `set`, `block`, `allow`, `reject`, `forward`, `output`".into(),
                None
            )
        );
    }
}
