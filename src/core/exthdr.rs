//! What nftables' `exthdr` expression reads for an entry: the type of an IPv6 packet's
//! routing header (`rt_type`, nft's `rt type 0`; ip6tables' `-m rt --rt-type`) and the kinds
//! of option a TCP header carries (`tcp_option`, nft's `tcp option 64 exists`; iptables'
//! `--tcp-option`), and their exceptions. Pure data, no I/O.

use super::header::variants;
use crate::core::model::More;
use crate::core::plan::Match;

/// TCP option kinds a policy may name, by name (RFC 9293's, and iptables' `mss`): any other
/// kind is written by number (0-255).
pub const TCP_OPTIONS: [(&str, u8); 5] = [
    ("mss", 2),
    ("window", 3),
    ("sack-permitted", 4),
    ("sack", 5),
    ("timestamp", 8),
];

/// The kinds nft names (`tcp option maxseg exists`); it writes every other kind as a number.
const NFT_TCP_OPTIONS: [(&str, u8); 10] = [
    ("eol", 0),
    ("nop", 1),
    ("maxseg", 2),
    ("window", 3),
    ("sack-perm", 4),
    ("sack", 5),
    ("timestamp", 8),
    ("md5sig", 19),
    ("mptcp", 30),
    ("fastopen", 34),
];

/// The kind of an option's policy name.
pub fn tcp_option(name: &str) -> Option<u8> {
    TCP_OPTIONS
        .iter()
        .find(|(n, _)| *n == name)
        .map(|(_, k)| *k)
}

/// An option kind as the policy writes it: its name, or its number.
pub fn tcp_option_name(kind: u8) -> String {
    TCP_OPTIONS
        .iter()
        .find(|(_, k)| *k == kind)
        .map_or_else(|| kind.to_string(), |(n, _)| (*n).to_string())
}

/// An option kind as nft writes it (`maxseg`, `sack-perm`, `64`).
pub fn nft_tcp_option_name(kind: u8) -> String {
    NFT_TCP_OPTIONS
        .iter()
        .find(|(_, k)| *k == kind)
        .map_or_else(|| kind.to_string(), |(n, _)| (*n).to_string())
}

/// Whether an entry says anything of a routing header.
pub fn has_rt(m: &More) -> bool {
    !m.rt_type.is_empty() || !m.except_rt_type.is_empty()
}

/// Whether an entry says anything of TCP options (their kinds or the MSS option's value).
pub fn has_tcp_options(m: &More) -> bool {
    !m.tcp_option.is_empty()
        || !m.except_tcp_option.is_empty()
        || !m.tcp_mss.is_empty()
        || !m.except_tcp_mss.is_empty()
}

/// The routing-header matches of an entry's rules: one variant per `rt_type`, each with
/// every `except_rt_type` as `!=`; `[[]]` for an entry that uses neither. (They need the
/// family checked as IPv6 before them: the compiler pins such an entry to IPv6.)
pub fn rt_matches(m: &More) -> Vec<Vec<Match>> {
    variants(&m.rt_type, &m.except_rt_type, |ty, not| Match::RtType {
        ty,
        not,
    })
}

/// The TCP-option matches of an entry's TCP rules: one variant per `tcp_option` (`exists`),
/// each with every `except_tcp_option` (`missing`), times the MSS variants
/// ([`tcp_mss_matches`]); `[[]]` for an entry that uses none of them.
pub fn tcp_option_matches(m: &More) -> Vec<Vec<Match>> {
    let kinds = variants(&m.tcp_option, &m.except_tcp_option, |kind, not| {
        Match::TcpOption {
            kind,
            present: !not,
        }
    });
    let mss = tcp_mss_matches(m);
    let mut out = Vec::with_capacity(kinds.len() * mss.len());
    for k in &kinds {
        for v in &mss {
            out.push(k.iter().chain(v).copied().collect());
        }
    }
    out
}

/// The MSS kind (`maxseg`).
const MSS: u8 = 2;

/// The MSS matches: one variant per `tcp_mss` range, each with every `except_tcp_mss` as
/// `!=`; for `except_tcp_mss` alone, a variant for segments without the option (`tcp option
/// maxseg missing`) and one for those whose value is in none of the ranges (a `!=` matches
/// only a segment that has the option: nft's load ends the rule when it is missing), as
/// xt_tcpmss's `!` takes both; `[[]]` for an entry that uses neither.
pub fn tcp_mss_matches(m: &More) -> Vec<Vec<Match>> {
    let one = |(lo, hi), not| Match::TcpMss { lo, hi, not };
    let mut out = variants(&m.tcp_mss, &m.except_tcp_mss, one);
    if m.tcp_mss.is_empty() && !m.except_tcp_mss.is_empty() {
        out.insert(
            0,
            vec![Match::TcpOption {
                kind: MSS,
                present: false,
            }],
        );
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_rule_per_value_and_every_exception_in_each() {
        assert_eq!(rt_matches(&More::default()), vec![Vec::<Match>::new()]);
        assert_eq!(
            tcp_option_matches(&More::default()),
            vec![Vec::<Match>::new()]
        );
        let rt = |ty, not| Match::RtType { ty, not };
        let m = More {
            rt_type: vec![0, 2],
            except_rt_type: vec![4],
            ..Default::default()
        };
        assert_eq!(
            rt_matches(&m),
            vec![
                vec![rt(0, false), rt(4, true)],
                vec![rt(2, false), rt(4, true)]
            ]
        );
        let opt = |kind, present| Match::TcpOption { kind, present };
        let m = More {
            except_tcp_option: vec![64, 128],
            ..Default::default()
        };
        assert_eq!(
            tcp_option_matches(&m),
            vec![vec![opt(64, false), opt(128, false)]]
        );
        let m = More {
            tcp_option: vec![64, 128],
            ..Default::default()
        };
        assert_eq!(
            tcp_option_matches(&m),
            vec![vec![opt(64, true)], vec![opt(128, true)]]
        );
    }

    #[test]
    fn an_mss_exception_takes_segments_without_the_option_too() {
        let mss = |lo, hi, not| Match::TcpMss { lo, hi, not };
        let missing = Match::TcpOption {
            kind: 2,
            present: false,
        };
        let m = More {
            except_tcp_mss: vec![(536, 65535)],
            ..Default::default()
        };
        assert_eq!(
            tcp_option_matches(&m),
            vec![vec![missing], vec![mss(536, 65535, true)]]
        );
        let m = More {
            tcp_mss: vec![(0, 535), (1500, 1500)],
            except_tcp_mss: vec![(100, 100)],
            tcp_option: vec![8],
            ..Default::default()
        };
        let ts = Match::TcpOption {
            kind: 8,
            present: true,
        };
        assert_eq!(
            tcp_option_matches(&m),
            vec![
                vec![ts, mss(0, 535, false), mss(100, 100, true)],
                vec![ts, mss(1500, 1500, false), mss(100, 100, true)]
            ]
        );
    }

    #[test]
    fn option_names_as_the_policy_and_nft_write_them() {
        assert_eq!(tcp_option("mss"), Some(2));
        assert_eq!(tcp_option("maxseg"), None);
        assert_eq!(tcp_option_name(4), "sack-permitted");
        assert_eq!(tcp_option_name(64), "64");
        assert_eq!(nft_tcp_option_name(2), "maxseg");
        assert_eq!(nft_tcp_option_name(4), "sack-perm");
        assert_eq!(nft_tcp_option_name(128), "128");
        // every name the policy takes is a kind nft names too
        for (_, k) in TCP_OPTIONS {
            assert_ne!(nft_tcp_option_name(k), k.to_string());
        }
    }
}
