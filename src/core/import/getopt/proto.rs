//! The protocol's side of the walk: the options of the protocol matches these tables do not
//! hold, and the options iptables refuses for the family or under a negated `-p`.

use super::{MODULES, Unread};
use crate::core::import::Fam;

/// The options of the match iptables loads for `-p PROTO` where these tables do not hold it
/// (libxt_sctp, libxt_dccp, libxt_esp, libxt_ah, libip6t_ah, libip6t_mh; a number by its
/// name, as getprotobynumber gives it): read as written (the line is refused elsewhere).
/// Any other option is one iptables does not know there (`-p sctp --icmp-type 8`: "unknown
/// option"), nor does this walk; udplite has no match.
pub(super) fn foreign_proto_opts(p: &str, fam: Fam) -> Option<&'static [&'static str]> {
    const PORTS: [&str; 4] = ["source-port", "sport", "destination-port", "dport"];
    Some(match (p.to_ascii_lowercase().as_str(), fam) {
        ("sctp" | "132", _) => &[PORTS[0], PORTS[1], PORTS[2], PORTS[3], "chunk-types"],
        ("dccp" | "33", _) => &[
            PORTS[0],
            PORTS[1],
            PORTS[2],
            PORTS[3],
            "dccp-types",
            "dccp-option",
        ],
        ("udplite" | "136", _) => &[],
        ("esp" | "50", _) => &["espspi"],
        ("ah" | "51", Fam::V4) => &["ahspi"],
        ("ah" | "51", Fam::V6) => &["ahspi", "ahlen", "ahres"],
        ("mh", Fam::V6) => &["mh-type"],
        _ => return None,
    })
}

/// An option of the icmp (icmp6) match after `! -p icmp`: iptables-nft adds that match as
/// the kernel's x_tables one, which takes only the protocol it names, never its negation
/// (EINVAL); the tcp and udp matches it writes as nft's own, which load.
pub(super) fn icmp_of_negated(
    m: Option<usize>,
    negated: bool,
    i: usize,
    text: &str,
) -> Result<(), Unread> {
    match m.map(|m| MODULES[m].0) {
        Some(name @ ("icmp" | "icmp6")) if negated => Err(Unread {
            at: i,
            what: format!("`{text}` after a `!` on `-p`"),
            why: format!(
                "iptables-restore refuses it too (RULE_APPEND failed (Invalid argument)): the {name} match takes only its own protocol, never every other; leave the type out, or the `!`"
            ),
        }),
        _ => Ok(()),
    }
}

/// ip6tables has no `-f` (`--fragment`).
pub(super) fn no_fragment_in_v6(
    short: Option<u8>,
    fam: Fam,
    text: &str,
    i: usize,
) -> Result<(), Unread> {
    if short == Some(b'f') && fam == Fam::V6 {
        return Err(Unread {
            at: i,
            what: format!("`{text}` in an ip6tables file"),
            why: "ip6tables-restore refuses it too (\"`-f' is not supported in IPv6, use -m frag instead\"): IPv6 has no fragment offset in its header; leave the rule out".into(),
        });
    }
    Ok(())
}

/// `-m icmp` or `-m ttl` in an ip6tables file, `-m icmp6`, `-m hl` or `-m rt` in an
/// iptables one: the other family's match, which iptables-restore cannot load.
pub(super) fn other_family_module(c: u8, name: &str, fam: Fam, at: usize) -> Result<(), Unread> {
    let Some(theirs) = super::family_of(name).filter(|&f| c == b'm' && f != fam) else {
        return Ok(());
    };
    Err(Unread {
        at,
        what: format!(
            "`-m {name}` in an {} file",
            if fam == Fam::V4 {
                "iptables"
            } else {
                "ip6tables"
            }
        ),
        why: format!(
            "iptables-restore refuses it too (\"Couldn't load match `{name}'\"): it is a match of {} rules{}",
            theirs.name(),
            match name {
                "hl" => "; IPv4's is the TTL, `-m ttl`",
                "ttl" => "; IPv6's is the hop limit, `-m hl`",
                "icmp" => "; IPv6's is `-m icmp6`",
                "rt" => "; give the ip6tables-save file with --ipv6 FILE6",
                _ => "; IPv4's is `-m icmp`",
            }
        ),
    })
}

/// The targets of iptables' extensions (libxt_*, libipt_*, libip6t_* of iptables 1.8.9)
/// that these tables do not hold, by the name `-j` gives: whose options are read as
/// written (the line is refused elsewhere). A `-j` of another name is a chain.
pub(super) const XT_TARGETS: [&str; 34] = [
    "AUDIT",
    "CHECKSUM",
    "CLASSIFY",
    "CLUSTERIP",
    "CONNMARK",
    "CONNSECMARK",
    "CT",
    "DNAT",
    "DNPT",
    "DSCP",
    "ECN",
    "HL",
    "HMARK",
    "IDLETIMER",
    "LED",
    "MARK",
    "MASQUERADE",
    "NETMAP",
    "NFQUEUE",
    "NOTRACK",
    "RATEEST",
    "REDIRECT",
    "SECMARK",
    "SET",
    "SNAT",
    "SNPT",
    "SYNPROXY",
    "TCPOPTSTRIP",
    "TEE",
    "TOS",
    "TPROXY",
    "TRACE",
    "TTL",
    "ULOG",
];
