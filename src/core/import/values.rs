//! The values of a rule's options: networks (`-s`), port ranges (`--dport`), ICMP types,
//! `--reject-with` kinds and `-j` targets.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use super::Fam;
use super::rule::{PLAIN_REJECT, RejectKind, Target};
use crate::core::model::{Cidr, IcmpReject, PortRange, valid_ifname};
use crate::core::plan::CtStates;
use crate::core::policy::network;

/// The target a `-j` names. A chain of the file, or a target extension (MASQUERADE, MARK,
/// …), is checked once every chain is known.
pub(super) fn target_of(name: &str) -> Target {
    match name {
        "ACCEPT" => Target::Accept,
        "DROP" => Target::Drop,
        "REJECT" => PLAIN_REJECT,
        "LOG" | "NFLOG" => Target::Log,
        "RETURN" => Target::Return,
        // its option (`rule.rs`) says to what
        "TCPMSS" => Target::Mss(crate::core::model::Mss::Pmtu),
        other => Target::Jump(other.to_string()),
    }
}

/// `--reject-with` as iptables 1.8 reads it: the first of its reject types (in its order)
/// whose name or alias starts with the value, in any case (`host-prohib`, `icmp-port`,
/// `TCP-RESET`; an IPv6 file's `no-route`). None for one statewall does not keep
/// (`icmp6-policy-fail`, `icmp6-reject-route`) or iptables does not know.
pub(super) fn reject_kind(with: &str, fam: Fam) -> Option<RejectKind> {
    use IcmpReject::*;
    let icmp = |k| Some(RejectKind::Icmp(k));
    let table: &[(&str, &str, Option<RejectKind>)] = match fam {
        Fam::V4 => &[
            ("icmp-net-unreachable", "net-unreach", icmp(NoRoute)),
            (
                "icmp-host-unreachable",
                "host-unreach",
                icmp(HostUnreachable),
            ),
            (
                "icmp-proto-unreachable",
                "proto-unreach",
                icmp(ProtoUnreachable),
            ),
            (
                "icmp-port-unreachable",
                "port-unreach",
                icmp(PortUnreachable),
            ),
            ("icmp-net-prohibited", "net-prohib", icmp(NetProhibited)),
            ("icmp-host-prohibited", "host-prohib", icmp(HostProhibited)),
            ("tcp-reset", "tcp-rst", Some(RejectKind::TcpReset)),
            (
                "icmp-admin-prohibited",
                "admin-prohib",
                icmp(AdminProhibited),
            ),
        ],
        Fam::V6 => &[
            ("icmp6-no-route", "no-route", icmp(NoRoute)),
            (
                "icmp6-adm-prohibited",
                "adm-prohibited",
                icmp(AdminProhibited),
            ),
            (
                "icmp6-addr-unreachable",
                "addr-unreach",
                icmp(HostUnreachable),
            ),
            (
                "icmp6-port-unreachable",
                "port-unreach",
                icmp(PortUnreachable),
            ),
            ("tcp-reset", "tcp-reset", Some(RejectKind::TcpReset)),
            ("icmp6-policy-fail", "policy-fail", None),
            ("icmp6-reject-route", "reject-route", None),
        ],
    };
    let lower = with.to_ascii_lowercase();
    if lower.is_empty() {
        return None;
    }
    table
        .iter()
        .find(|(name, alias, _)| name.starts_with(&lower) || alias.starts_with(&lower))
        .and_then(|(_, _, kind)| *kind)
}

/// TCP flag names as iptables writes them (`SYN,ACK`, `ALL`, `NONE`; any case) as bits.
pub(super) fn tcp_flag_bits(s: &str) -> Option<u8> {
    let mut bits = 0;
    // (an empty name between commas, `SYN,RST,`, is nothing, as iptables reads it)
    for f in s.split(',').filter(|f| !f.is_empty()) {
        bits |= match f.to_ascii_uppercase().as_str() {
            "FIN" => 0x01,
            "SYN" => 0x02,
            "RST" => 0x04,
            "PSH" => 0x08,
            "ACK" => 0x10,
            "URG" => 0x20,
            "ALL" => 0x3f,
            "NONE" => 0,
            _ => return None,
        };
    }
    Some(bits)
}

/// A port or `lo:hi` range; a name is read with `services` for IP protocol `proto`.
pub(super) fn parse_range(
    s: &str,
    proto: Option<u8>,
    services: &crate::core::services::NameDb,
) -> Option<PortRange> {
    let p = |t: &str| t.parse::<u16>().ok().or_else(|| services.port(t, proto));
    match s.split_once(':') {
        Some((a, b)) => {
            let lo = if a.is_empty() { 0 } else { p(a)? };
            let hi = if b.is_empty() { 65535 } else { p(b)? };
            (lo <= hi).then_some(PortRange { lo, hi })
        }
        None => p(s).map(PortRange::single),
    }
}

/// `a.b.c.d[/len|/mask]`, IPv6 alike (host bits are cleared, as iptables does).
pub(super) fn parse_net(s: &str, fam: Fam) -> Result<Cidr, String> {
    let (a, l) = match s.split_once('/') {
        Some((a, l)) => (a, Some(l)),
        None => (s, None),
    };
    let addr: IpAddr = match (a.parse(), fam) {
        (Ok(addr), _) => addr,
        // the one host name iptables-restore resolves alike on every host (RFC 6761):
        // statewall resolves no other
        (Err(_), Fam::V4) if a.eq_ignore_ascii_case("localhost") => Ipv4Addr::LOCALHOST.into(),
        (Err(_), Fam::V6) if a.eq_ignore_ascii_case("localhost") => Ipv6Addr::LOCALHOST.into(),
        (Err(_), Fam::V4) => short_v4(a).ok_or_else(|| "not an IP address".to_string())?,
        (Err(_), Fam::V6) => return Err("not an IP address".into()),
    };
    let len = match (addr, fam) {
        (IpAddr::V4(_), Fam::V4) => match l {
            None => 32,
            Some(l) => match l.parse::<u8>() {
                Ok(n) if n <= 32 => n,
                _ => match l.parse::<Ipv4Addr>() {
                    Ok(m) => Cidr::prefix_of_mask(&m.octets())
                        .ok_or_else(|| "a non-contiguous netmask".to_string())?,
                    Err(_) => return Err("a bad prefix length".into()),
                },
            },
        },
        (IpAddr::V6(_), Fam::V6) => match l {
            None => 128,
            Some(l) => match l.parse::<u8>() {
                Ok(n) if n <= 128 => n,
                _ => match l.parse::<Ipv6Addr>() {
                    Ok(m) => Cidr::prefix_of_mask(&m.octets())
                        .ok_or_else(|| "a non-contiguous netmask".to_string())?,
                    Err(_) => return Err("a bad prefix length".into()),
                },
            },
        },
        (IpAddr::V4(_), Fam::V6) => return Err("an IPv4 address in an ip6tables file".into()),
        (IpAddr::V6(_), Fam::V4) => return Err("an IPv6 address in an iptables file".into()),
    };
    Ok(network(addr, len))
}

/// An IPv4 address with fewer than four parts, as iptables completes it with zeros: `0` is
/// 0.0.0.0 (`-s 0/0`), `10.1` is 10.1.0.0.
fn short_v4(a: &str) -> Option<IpAddr> {
    let parts: Vec<u8> = a
        .split('.')
        .map(|p| {
            p.bytes()
                .all(|b| b.is_ascii_digit())
                .then(|| p.parse::<u8>().ok())
                .flatten()
        })
        .collect::<Option<_>>()?;
    if parts.is_empty() || parts.len() > 3 {
        return None;
    }
    let mut octets = [0u8; 4];
    octets[..parts.len()].copy_from_slice(&parts);
    Some(IpAddr::V4(Ipv4Addr::from(octets)))
}

/// `-m iprange`'s `A-B` (or one address): the fewest networks that cover exactly the
/// addresses from A to B (at most 2 × the address length of them).
pub(super) fn parse_addr_range(s: &str, fam: Fam) -> Result<Vec<Cidr>, String> {
    let (a, b) = s.split_once('-').unwrap_or((s, s));
    let one = |t: &str| -> Result<(u128, u8), String> {
        match (t.trim().parse::<IpAddr>(), fam) {
            (Ok(IpAddr::V4(v)), Fam::V4) => Ok((u128::from(u32::from(v)), 32)),
            (Ok(IpAddr::V6(v)), Fam::V6) => Ok((u128::from(v), 128)),
            (Ok(IpAddr::V4(_)), Fam::V6) => Err("an IPv4 address in an ip6tables file".into()),
            (Ok(IpAddr::V6(_)), Fam::V4) => Err("an IPv6 address in an iptables file".into()),
            (Err(_), _) => Err(format!("`{t}` is not an IP address")),
        }
    };
    let ((lo, bits), (hi, _)) = (one(a)?, one(b)?);
    if lo > hi {
        return Err("the range ends before it starts".into());
    }
    Ok(range_networks(lo, hi, bits)
        .into_iter()
        .map(|(n, len)| match fam {
            Fam::V4 => Cidr::V4(Ipv4Addr::from(n as u32), len),
            Fam::V6 => Cidr::V6(Ipv6Addr::from(n), len),
        })
        .collect())
}

/// The networks (address, prefix length) of `bits`-bit addresses that cover `lo..=hi`
/// exactly, largest aligned block first: O(bits) of them.
fn range_networks(mut lo: u128, hi: u128, bits: u8) -> Vec<(u128, u8)> {
    let mut out = Vec::new();
    loop {
        // the largest block that starts at lo (aligned there) and ends by hi
        let aligned = lo.trailing_zeros().min(u32::from(bits));
        let fits = match (hi - lo).checked_add(1) {
            Some(n) => 127 - n.leading_zeros(),
            None => 128,
        };
        let size = aligned.min(fits);
        out.push((lo, bits - size as u8));
        let last = match 1u128.checked_shl(size) {
            Some(n) => lo + (n - 1),
            None => u128::MAX,
        };
        if last >= hi {
            return out;
        }
        lo = last + 1;
    }
}

/// A list of networks that holds every address (`-s 0/0`, as iptables writes "any" in old
/// scripts) says nothing: no networks, so that the rule is not pinned to its file's family.
pub(super) fn anywhere_is_none(nets: Vec<Cidr>) -> Vec<Cidr> {
    if nets
        .iter()
        .any(|n| matches!(n, Cidr::V4(_, 0) | Cidr::V6(_, 0)))
    {
        Vec::new()
    } else {
        nets
    }
}

/// Why `! -s TEXT` (or `-d`) cannot be kept as one exception: (what, help), None when it can.
pub(super) fn negated_net_problem(text: &str, nets: &[Cidr]) -> Option<(String, &'static str)> {
    match nets {
        // iptables-nft writes a comparison of no bytes, which the kernel refuses (EINVAL)
        [Cidr::V4(_, 0) | Cidr::V6(_, 0)] => Some((
            format!("`! {text}`: every address but all of them"),
            "iptables-restore refuses it too (the kernel takes no comparison of zero bytes); the rule would match no packet: leave it out",
        )),
        [] | [_] => None,
        _ => Some((
            format!("a negated list `! {text}`"),
            "iptables makes one rule per network of the list, each matching everything but that network (together: every packet); write one network after `!`",
        )),
    }
}

/// An interface alias label as old scripts write it (`venet0:0`, `eth0:1`): a valid name
/// around one `:`, which no network device's name has.
pub(super) fn is_alias(name: &str) -> bool {
    name.split_once(':').is_some_and(|(dev, label)| {
        valid_ifname(dev) && !label.is_empty() && !label.contains(':') && valid_ifname(label)
    })
}

/// Why an option is unknown: an option of a target statewall does not have (true), with
/// that target; iptables' own options with `=` (`--source=10.0.0.1`, one word to
/// iptables-restore too, which refuses it), or one the importer does not know.
pub(super) fn unknown_option_help(option: &str) -> (bool, &'static str) {
    // the options of targets statewall does not keep: the target is the reason
    let target = [
        (
            &[
                "--queue-num",
                "--queue-balance",
                "--queue-bypass",
                "--queue-cpu-fanout",
            ][..],
            "an option of `-j NFQUEUE`, which hands packets to a userspace program for its verdict: statewall decides every packet in the kernel and queues none",
        ),
        (
            &[
                "--set-mark",
                "--set-xmark",
                "--save-mark",
                "--restore-mark",
                "--and-mark",
                "--or-mark",
                "--xor-mark",
            ],
            "an option of `-j MARK` or `-j CONNMARK`, which sets a mark other rules or routing read: statewall matches marks (`mark`) but sets none",
        ),
        (
            &["--sack-perm", "--timestamp", "--wscale", "--ecn"],
            "an option of `-j SYNPROXY`, which answers a connection's SYN itself (with a syncookie) before the server sees it: statewall accepts, drops or rejects packets and proxies no handshake",
        ),
        (
            &["--add-set", "--del-set"],
            "an option of `-j SET`, which fills an ipset: statewall fills its own live sets (`add_to_set`), not ipsets",
        ),
        (
            &["--to-destination", "--to-source", "--to-ports"],
            "an option of a NAT target (`-j DNAT`, `-j SNAT`, `-j REDIRECT`, `-j MASQUERADE`): statewall filters and translates no address",
        ),
    ];
    if let Some((_, why)) = target.iter().find(|(opts, _)| opts.contains(&option)) {
        return (true, why);
    }
    if option.starts_with("--") && option.contains('=') {
        (
            false,
            "iptables-restore refuses it too: iptables' own options (`--source`, `--protocol`, `--jump`, …) take their value as the next word, not after `=`",
        )
    } else {
        (
            false,
            "the importer does not know this option; statewall cannot say whether it can express it",
        )
    }
}

/// Ports without their protocol.
/// The states `--state`/`--ctstate` names: `!` matches the packets of the others.
pub(super) const ALL_STATES: u32 = CtStates::NEW
    | CtStates::ESTABLISHED
    | CtStates::RELATED
    | CtStates::INVALID
    | CtStates::UNTRACKED;

/// `--ctstate DNAT` among the state bits: not a state but the connection's status (the
/// kernel DNAT'ed it), a bit clear of every `CtStates` one.
pub(super) const DNAT_STATUS: u32 = 1 << 16;

/// One state of `--state`/`--ctstate` (any case, as iptables reads them) as its bit
/// ([`DNAT_STATUS`] for DNAT), or Err with what to write instead.
/// A start of a name stands for it, the first of INVALID, NEW, ESTABLISHED, RELATED,
/// UNTRACKED, SNAT, DNAT it starts (`strncasecmp` over its length, as libxt_state and
/// libxt_conntrack read it: `EST` is ESTABLISHED, `N` NEW).
pub(super) fn state_bit(s: &str) -> Result<u32, &'static str> {
    const NAMES: [&str; 7] = [
        "INVALID",
        "NEW",
        "ESTABLISHED",
        "RELATED",
        "UNTRACKED",
        "SNAT",
        "DNAT",
    ];
    let upper = s.to_ascii_uppercase();
    let name = NAMES
        .iter()
        .find(|n| !upper.is_empty() && n.starts_with(upper.as_str()))
        .copied()
        .unwrap_or("");
    match name {
        "NEW" => Ok(CtStates::NEW),
        "ESTABLISHED" => Ok(CtStates::ESTABLISHED),
        "RELATED" => Ok(CtStates::RELATED),
        "INVALID" => Ok(CtStates::INVALID),
        "UNTRACKED" => Ok(CtStates::UNTRACKED),
        "DNAT" => Ok(DNAT_STATUS),
        "SNAT" => Err(
            "`--ctstate SNAT` says that the kernel translated the connection's source address (a status of the connection, not a state of its packets), which statewall does not match; the states it reads are NEW, ESTABLISHED, RELATED, INVALID and UNTRACKED, and `--ctstate DNAT` alone (`dnat = true`)",
        ),
        _ => Err(
            "iptables-restore refuses it too (\"Bad state\"): the states are NEW, ESTABLISHED, RELATED, INVALID, UNTRACKED (or the start of one's name)",
        ),
    }
}

pub(super) const PORTS_NEED_PROTO: &str =
    "ports belong to a protocol: add -p tcp or -p udp before it";

/// The match modules whose options the rule's readers map (those that read into a
/// module's own options, `-m string`, `-m u32`, `-m time`, `-m policy`, `-m recent`,
/// `-m connlimit`, are taken before).
pub(super) const MAPPED_MODULES: &[&str] = &[
    "tcp",
    "udp",
    "icmp",
    "icmp6",
    "icmpv6",
    "state",
    "conntrack",
    "multiport",
    "comment",
    "limit",
    "hashlimit",
    "addrtype",
    "pkttype",
    "iprange",
    "mac",
    "length",
    "tcpmss",
    "owner",
    "mark",
    "helper",
];

/// The help of a refused match whose meaning the policy cannot keep.
pub(super) const REFUSED_MATCH: &str = "statewall's policy model cannot express this match";

/// An option of the dccp or sctp match that `-p dccp` (`-p sctp`) loaded: what to say.
pub(super) fn proto_match_option(proto: Option<u8>, option: &str) -> Option<String> {
    let name = match (proto, option) {
        (Some(33), "--dccp-types" | "--dccp-option") => "dccp",
        (Some(132), "--chunk-types") => "sctp",
        _ => return None,
    };
    Some(format!(
        "`{option}`, an option of the {name} match (`-p {name}` loads it)"
    ))
}

/// Where the next option starts after the values from `toks[i]` on.
pub(super) fn past_values(toks: &[super::lex::Tok], mut i: usize) -> usize {
    while i < toks.len() && !toks[i].text.starts_with('-') && toks[i].text != "!" {
        i += 1;
    }
    i
}

/// What to say of ports (`option`) in a rule of no tcp or udp: of `-p dccp` or `-p sctp`
/// they are that match's own (adding `-p tcp` would change what the rule matches).
pub(super) fn ports_without_tcp_udp(option: &str, proto: Option<u8>) -> (String, &'static str) {
    match proto {
        Some(p @ (33 | 132)) => {
            let name = if p == 33 { "dccp" } else { "sctp" };
            (
                format!("`{option}` of `-p {name}` (a port of the {name} match)"),
                "iptables reads it as a port of the protocol's own match, which `-p` loads; statewall matches tcp and udp ports only and cannot express dccp or sctp ones",
            )
        }
        _ => (
            format!("`{option}` without `-p tcp` or `-p udp`"),
            PORTS_NEED_PROTO,
        ),
    }
}

/// Why a match module statewall does not map (`-m connmark`, `-m statistic`) is refused.
pub(super) fn refused_module_why(other: &str) -> &'static str {
    match other {
        "connmark" => {
            "statewall matches a packet's own mark (`-m mark`: `mark`), not its connection's (`ct mark`)"
        }
        "set" => "ipset sets live outside the ruleset; list the networks in `from` instead",
        "rt" => {
            "the routing header is an IPv6 extension header: `-m rt` is ip6tables' (iptables-restore refuses it in an IPv4 file); give the ip6tables-save file with --ipv6 FILE6"
        }
        "hl" => {
            "the hop limit is IPv6's: `-m hl` is ip6tables' (iptables-restore cannot load it); IPv4's TTL is `-m ttl`"
        }
        "ttl" => {
            "the TTL is IPv4's: `-m ttl` is iptables' (ip6tables-restore cannot load it); IPv6's hop limit is `-m hl`"
        }
        "u32" | "bpf" => super::u32::refused_why(other),
        "statistic" => {
            "statewall decides a packet by what it is, never by chance or by count: a rule that takes a random share of packets (or every Nth one) has no equivalent"
        }
        "physdev" => {
            "statewall's table is an inet one, and the kernel's physdev match serves ip and ip6 tables only (nf_tables has no bridge-port match there): match the bridge itself with `iif`/`oif`, or filter bridged traffic in a bridge table"
        }
        _ => "statewall's policy model cannot express this match",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// iptables completes a short IPv4 address with zeros (`-s 0/0`, `-d 10.1/16`).
    #[test]
    fn short_addresses_are_completed_with_zeros() {
        let v4 = |s: &str| parse_net(s, Fam::V4);
        assert_eq!(v4("0/0"), Ok(Cidr::V4(Ipv4Addr::UNSPECIFIED, 0)));
        assert_eq!(v4("10.1/16"), Ok(Cidr::V4(Ipv4Addr::new(10, 1, 0, 0), 16)));
        assert_eq!(
            v4("192.168.1/24"),
            Ok(Cidr::V4(Ipv4Addr::new(192, 168, 1, 0), 24))
        );
        assert_eq!(v4("10"), Ok(Cidr::V4(Ipv4Addr::new(10, 0, 0, 0), 32)));
        for bad in ["", "x", "300/8", "1.2.3.4.5", "1..2", "-1"] {
            assert!(v4(bad).is_err(), "{bad}");
        }
        assert!(parse_net("0/0", Fam::V6).is_err());
    }

    #[test]
    fn ranges_cover_exactly_with_few_networks() {
        // every range within a small space, against the addresses it holds
        for lo in 0u128..70 {
            for hi in lo..70 {
                let nets = range_networks(lo, hi, 32);
                let mut covered: Vec<u128> = Vec::new();
                for (n, len) in &nets {
                    let size = 1u128 << (32 - len);
                    assert_eq!(n % size, 0, "{lo}-{hi}: {n}/{len} is not aligned");
                    covered.extend(*n..n + size);
                }
                covered.sort();
                assert_eq!(
                    covered,
                    (lo..=hi).collect::<Vec<_>>(),
                    "{lo}-{hi}: {nets:?}"
                );
                assert!(nets.len() <= 2 * 32);
            }
        }
        assert_eq!(range_networks(0, u128::from(u32::MAX), 32), [(0, 0)]);
        assert_eq!(range_networks(0, u128::MAX, 128), [(0, 0)]);
        assert_eq!(range_networks(1, u128::MAX - 1, 128).len(), 2 * 127);
        let r = |s| parse_addr_range(s, Fam::V4).unwrap();
        assert_eq!(
            r("192.168.1.100-192.168.1.103"),
            [Cidr::V4(Ipv4Addr::new(192, 168, 1, 100), 30)]
        );
        assert_eq!(
            r("10.0.0.255-10.0.1.0"),
            [
                Cidr::V4(Ipv4Addr::new(10, 0, 0, 255), 32),
                Cidr::V4(Ipv4Addr::new(10, 0, 1, 0), 32)
            ]
        );
        assert_eq!(r("10.0.0.9"), [Cidr::V4(Ipv4Addr::new(10, 0, 0, 9), 32)]);
        assert!(parse_addr_range("10.0.0.9-10.0.0.1", Fam::V4).is_err());
        assert!(parse_addr_range("10.0.0.1-::1", Fam::V4).is_err());
        assert_eq!(
            parse_addr_range("2001:db8::-2001:db8::ffff", Fam::V6).unwrap(),
            [Cidr::V6("2001:db8::".parse().unwrap(), 112)]
        );
    }

    #[test]
    fn ranges_and_nets() {
        assert_eq!(
            parse_range(
                "8000:8080",
                Some(6),
                &crate::core::services::NameDb::builtin()
            ),
            Some(PortRange { lo: 8000, hi: 8080 })
        );
        assert_eq!(
            parse_range("22", Some(6), &crate::core::services::NameDb::builtin()),
            Some(PortRange::single(22))
        );
        assert_eq!(
            parse_range("0", Some(6), &crate::core::services::NameDb::builtin()),
            Some(PortRange::single(0))
        );
        // `:1023` starts at 0, as iptables reads it
        assert_eq!(
            parse_range(":1023", Some(6), &crate::core::services::NameDb::builtin()),
            Some(PortRange { lo: 0, hi: 1023 })
        );
        assert_eq!(
            parse_net("localhost", Fam::V4),
            Ok(Cidr::V4(Ipv4Addr::LOCALHOST, 32))
        );
        assert_eq!(
            parse_net("localhost", Fam::V6),
            Ok(Cidr::V6(Ipv6Addr::LOCALHOST, 128))
        );
        assert_eq!(
            parse_net("10.1.2.3/255.0.0.0", Fam::V4),
            Ok(Cidr::V4(Ipv4Addr::new(10, 0, 0, 0), 8))
        );
        assert!(parse_net("::1", Fam::V4).is_err());
        assert_eq!(
            parse_net("10.0.0.0/255.0.255.0", Fam::V4),
            Err("a non-contiguous netmask".to_string())
        );
    }

    #[test]
    fn states_by_name_and_nat_statuses_named() {
        assert_eq!(state_bit("Established"), Ok(CtStates::ESTABLISHED));
        assert_eq!(state_bit("untracked"), Ok(CtStates::UNTRACKED));
        assert!(
            state_bit("SNAT")
                .unwrap_err()
                .contains("status of the connection")
        );
        assert_eq!(state_bit("dnat"), Ok(DNAT_STATUS));
        // a start of a name, the first it starts in libxt_state's order
        assert_eq!(state_bit("EST"), Ok(CtStates::ESTABLISHED));
        assert_eq!(state_bit("n"), Ok(CtStates::NEW));
        assert_eq!(state_bit("I"), Ok(CtStates::INVALID));
        assert_eq!(state_bit("D"), Ok(DNAT_STATUS));
        assert!(state_bit("").is_err() && state_bit("NEWX").is_err());
        assert_eq!(DNAT_STATUS & ALL_STATES, 0);
        assert!(state_bit("NEWW").unwrap_err().contains("the states are"));
        let others = CtStates::ESTABLISHED | CtStates::RELATED | CtStates::UNTRACKED;
        assert_eq!(ALL_STATES & !(CtStates::NEW | CtStates::INVALID), others);
    }

    #[test]
    fn reject_kinds_per_family() {
        assert_eq!(reject_kind("tcp-rst", Fam::V4), Some(RejectKind::TcpReset));
        // ip6tables knows no `tcp-rst` (its tcp-reset has no alias)
        assert_eq!(reject_kind("tcp-rst", Fam::V6), None);
        // the first type, in iptables' order, whose name or alias the value starts, in any
        // case (what iptables-save printed for each, in a namespace)
        for (with, fam, want) in [
            ("icmp", Fam::V4, IcmpReject::NoRoute),
            ("icmp-h", Fam::V4, IcmpReject::HostUnreachable),
            ("host-prohib", Fam::V4, IcmpReject::HostProhibited),
            (
                "ICMP-PORT-UNREACHABLE",
                Fam::V4,
                IcmpReject::PortUnreachable,
            ),
            ("icmp-a", Fam::V4, IcmpReject::AdminProhibited),
            ("a", Fam::V6, IcmpReject::AdminProhibited),
            ("p", Fam::V6, IcmpReject::PortUnreachable),
            ("icmp6", Fam::V6, IcmpReject::NoRoute),
        ] {
            assert_eq!(
                reject_kind(with, fam),
                Some(RejectKind::Icmp(want)),
                "{with}"
            );
        }
        assert_eq!(reject_kind("t", Fam::V4), Some(RejectKind::TcpReset));
        assert_eq!(reject_kind("tcp-r", Fam::V6), Some(RejectKind::TcpReset));
        assert_eq!(reject_kind("x", Fam::V4), None);
        assert_eq!(reject_kind("reject-route", Fam::V6), None);
        for (with, kind, code) in [
            ("icmp-host-prohibited", IcmpReject::HostProhibited, 10),
            ("icmp-net-prohibited", IcmpReject::NetProhibited, 9),
            ("icmp-proto-unreachable", IcmpReject::ProtoUnreachable, 2),
            ("icmp-admin-prohibited", IcmpReject::AdminProhibited, 13),
            ("icmp-net-unreachable", IcmpReject::NoRoute, 0),
            ("icmp-host-unreachable", IcmpReject::HostUnreachable, 1),
            ("icmp-port-unreachable", IcmpReject::PortUnreachable, 3),
        ] {
            assert_eq!(reject_kind(with, Fam::V4), Some(RejectKind::Icmp(kind)));
            assert_eq!(kind.code(false), code, "{with}: exactly its ICMP code");
        }
        for (with, code) in [
            ("icmp6-adm-prohibited", 1),
            ("icmp6-no-route", 0),
            ("icmp6-addr-unreachable", 3),
            ("icmp6-port-unreachable", 4),
        ] {
            let Some(RejectKind::Icmp(kind)) = reject_kind(with, Fam::V6) else {
                panic!("{with}")
            };
            assert_eq!(kind.code(true), code, "{with}: exactly its ICMPv6 code");
        }
        assert_eq!(reject_kind("icmp-host-prohibited", Fam::V6), None);
        assert_eq!(target_of("REJECT"), PLAIN_REJECT);
        assert_eq!(target_of("MASQUERADE"), Target::Jump("MASQUERADE".into()));
        assert_eq!(tcp_flag_bits("SYN,RST,ACK,FIN"), Some(0x17));
        assert_eq!(tcp_flag_bits("ALL"), Some(0x3f));
        assert_eq!(tcp_flag_bits("NONE"), Some(0));
        // an empty name between commas is nothing, and names are read in any case, as
        // iptables-save printed them in a namespace (`SYN,RST SYN,RST`, `FIN,SYN SYN`)
        assert_eq!(tcp_flag_bits("SYN,RST,"), Some(0x06));
        assert_eq!(tcp_flag_bits("syn,,fin"), Some(0x03));
        assert_eq!(tcp_flag_bits("SYN,BOGUS"), None);
    }
}
