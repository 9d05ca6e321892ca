//! The unit tests of `rule`: one rule's options into its condition and target.

use super::super::Fam;
use super::*;
use crate::core::model::PortRange;
use std::net::Ipv4Addr;

/// A rule's words read as a line's are: through the getopt pass first (`lines.rs`).
fn read(line: &str, fam: Fam) -> (Option<IptRule>, Vec<String>) {
    let mut toks = crate::core::import::lex::words(line, 0).unwrap();
    if let Err(u) = crate::core::import::getopt::spell_out(&mut toks, fam)
        .and_then(|walk| crate::core::import::xtcheck::checked(&toks, &walk, fam))
    {
        return (None, vec![u.what]);
    }
    let db = crate::core::services::NameDb::builtin();
    let mut p = Parser::new(line, fam, &db);
    let r = p.rule(&toks, "INPUT".into(), 0..line.len(), line.into(), 1);
    (r, p.diags.into_iter().map(|d| d.message).collect())
}

#[test]
fn a_rule_reads_into_condition_and_target() {
    let (r, diags) = read(
        "-s 10.1.2.3/8 -p tcp -m tcp --dport 22:80 -m comment --comment ssh -j REJECT --reject-with tcp-reset",
        Fam::V4,
    );
    assert!(diags.is_empty(), "{diags:?}");
    let r = r.unwrap();
    assert_eq!(r.srcs, [Cidr::V4(Ipv4Addr::new(10, 0, 0, 0), 8)]);
    assert_eq!(r.cond.proto, Some(6));
    assert_eq!(r.cond.ports, Some(vec![PortRange { lo: 22, hi: 80 }]));
    assert_eq!(r.comment.as_deref(), Some("ssh"));
    assert_eq!(r.target, Target::Reject(RejectKind::TcpReset));
}

#[test]
fn negated_ports_are_exceptions_and_ctorigdstport_original_ports() {
    let (r, diags) = read(
        "-p tcp ! --sport 1000:2000 -m multiport ! --dports 80,443 -j ACCEPT",
        Fam::V4,
    );
    assert!(diags.is_empty(), "{diags:?}");
    let r = r.unwrap();
    assert_eq!(
        r.cond.not_ports,
        [PortRange::single(80), PortRange::single(443)]
    );
    assert_eq!(r.cond.not_sports, [PortRange { lo: 1000, hi: 2000 }]);
    assert_eq!(r.cond.ports, None);
    let (r, diags) = read(
        "-p tcp -m conntrack --ctorigdstport 25 -i ens3 -j ACCEPT",
        Fam::V4,
    );
    assert!(diags.is_empty(), "{diags:?}");
    assert_eq!(
        r.unwrap().cond.orig_dports,
        Some(vec![PortRange::single(25)])
    );
    // without `-p`: the original "port" of a connection of any protocol (`published_any`)
    let (r, diags) = read(
        "-m conntrack --ctorigdstport 30000:32767 -j ACCEPT",
        Fam::V4,
    );
    assert!(diags.is_empty(), "{diags:?}");
    let c = r.unwrap().cond;
    assert_eq!(c.proto, None);
    assert_eq!(
        c.orig_dports,
        Some(vec![PortRange {
            lo: 30000,
            hi: 32767
        }])
    );
    // `--ctorigdst`: one address or network, as `-d` writes it (a dotted mask too)
    for (line, fam, want) in [
        (
            "-p tcp -m conntrack --ctorigdst 198.51.100.2 --ctorigdstport 80 -j ACCEPT",
            Fam::V4,
            "198.51.100.2/32",
        ),
        (
            "-m conntrack --ctorigdst 192.0.2.0/255.255.255.128 -j ACCEPT",
            Fam::V4,
            "192.0.2.0/25",
        ),
        (
            "-m conntrack --ctorigdst 2001:db8::/64 -j ACCEPT",
            Fam::V6,
            "2001:db8::/64",
        ),
    ] {
        let (r, diags) = read(line, fam);
        assert!(diags.is_empty(), "{line}: {diags:?}");
        let want = crate::core::policy::parse_member(want).unwrap();
        assert_eq!(r.unwrap().cond.orig_dst, Some(want), "{line}");
    }
    for (line, why) in [
        (
            "-p tcp -m conntrack --ctorigdstport 25 --dport 80 -j ACCEPT",
            "`--ctorigdstport` with other port or flag matches in one rule",
        ),
        (
            "-p icmp -m conntrack --ctorigdstport 2048 -j ACCEPT",
            "`--ctorigdstport` without `-p tcp` or `-p udp`",
        ),
        (
            "-p tcp -m conntrack ! --ctorigdstport 25 -j ACCEPT",
            "a negation of `--ctorigdstport`",
        ),
        (
            "-p tcp -m conntrack --ctreplsrc 10.0.0.1 -j ACCEPT",
            "`--ctreplsrc` (a conntrack match statewall cannot express)",
        ),
    ] {
        let (r, diags) = read(line, Fam::V4);
        assert!(r.is_none(), "{line}");
        assert_eq!(diags, [why], "{line}");
    }
}

#[test]
fn an_address_range_is_the_networks_that_cover_it() {
    let (r, d) = read(
        "-p tcp -m iprange --src-range 10.0.0.1-10.0.0.2 ! --dst-range 10.0.1.0-10.0.1.255 -j ACCEPT",
        Fam::V4,
    );
    assert!(d.is_empty(), "{d:?}");
    let r = r.unwrap();
    let v4 = |c, n| Cidr::V4(Ipv4Addr::new(10, 0, c, n), 0);
    let with = |c: Cidr, len| match c {
        Cidr::V4(a, _) => Cidr::V4(a, len),
        other => other,
    };
    assert_eq!(r.srcs, [with(v4(0, 1), 32), with(v4(0, 2), 32)]);
    assert_eq!(r.cond.not_dst, [with(v4(1, 0), 24)]);
    // one list of sources per rule, whichever comes first; a bad range is said
    for line in [
        "-s 10.0.0.0/8 -m iprange --src-range 10.0.0.1-10.0.0.2 -j ACCEPT",
        "-m iprange --dst-range 10.0.0.1-10.0.0.2 -d 10.0.0.0/8 -j ACCEPT",
    ] {
        let (_, d) = read(line, Fam::V4);
        assert_eq!(d.len(), 1, "{line}: {d:?}");
        assert!(d[0].starts_with("both `-"), "{d:?}");
    }
    let (_, d) = read(
        "-m iprange --src-range 10.0.0.9-10.0.0.1 -j ACCEPT",
        Fam::V4,
    );
    assert_eq!(
        d,
        ["address range `10.0.0.9-10.0.0.1`: the range ends before it starts"]
    );
}

#[test]
fn every_refusal_is_reported() {
    let (r, diags) = read(
        "! -p all -m recent ! --rcheck --seconds 60 --name x -j ACCEPT ! -s 10.0.0.0/8,10.1.0.0/16",
        Fam::V4,
    );
    assert!(r.is_none());
    assert_eq!(
        diags,
        [
            "`! -p all`: every protocol but all of them",
            // `-m recent` is judged with its chain (`extra.rs`); an option nothing has is
            // getopt.rs's refusal, which stops the line where iptables-restore stops it
            "a negated list `! 10.0.0.0/8,10.1.0.0/16`",
        ]
    );
    let (r, diags) = read(
        &format!("-p tcp {}-p udp -j ACCEPT", "-s 10.0.0.1 ".repeat(120)),
        Fam::V4,
    );
    assert!(r.is_none());
    assert_eq!(
        diags,
        [
            "`-s` a second time in one rule",
            "`-p` a second time in one rule"
        ]
    );
    let (r, diags) = read("-p tcp --dport", Fam::V4);
    assert!(r.is_none());
    assert_eq!(diags, ["`--dport` needs a value"]);
    // an option of a target the rule does not have: iptables' "unknown option"
    let (_, diags) = read("-p tcp -j ACCEPT --reject-with icmp6-no-route", Fam::V4);
    assert_eq!(
        diags,
        ["`--reject-with` where no module of this rule reads it"]
    );
}

#[test]
fn a_port_name_is_read_with_the_protocol_of_the_match_that_reads_it() {
    let ports = |line: &str| {
        let (r, diags) = read(line, Fam::V4);
        (
            r.map(|r| (r.cond.ports, r.cond.sports, r.cond.orig_dports)),
            diags,
        )
    };
    let one = |p: u16| Some(vec![PortRange::single(p)]);
    // the udp match asks getaddrinfo with no protocol: ssh (tcp only) is 22, tcp's first
    let (r, diags) = ports("-p udp -m udp --dport ssh --sport http -j ACCEPT");
    assert!(diags.is_empty(), "{diags:?}");
    assert_eq!(r, Some((one(22), one(80), None)));
    let (r, diags) = ports("-p 17 --destination-port ssh:http -j ACCEPT");
    assert!(diags.is_empty(), "{diags:?}");
    let range = Some(vec![PortRange { lo: 22, hi: 80 }]);
    assert_eq!(r, Some((range, None, None)));
    // so does the conntrack match
    let (r, diags) = ports("-p tcp -m conntrack --ctorigdstport ntp -j ACCEPT");
    assert!(diags.is_empty(), "{diags:?}");
    assert_eq!(r, Some((None, None, one(123))));
    // the tcp and multiport matches ask for the rule's protocol: refused as iptables refuses
    for line in [
        "-p tcp --dport ntp -j ACCEPT",
        "-p tcp -m multiport --dports ntp -j ACCEPT",
        "-p udp -m multiport --dports ssh -j ACCEPT",
        // after `-m multiport`, getopt takes `--dport` for its `--dports`
        "-p udp -m multiport --dport ssh -j ACCEPT",
    ] {
        let (_, diags) = ports(line);
        assert!(
            diags.iter().any(|d| d.contains("port `")),
            "{line}: {diags:?}"
        );
    }
}

#[test]
fn an_interface_wildcard_counts_its_plus_as_iptables_does() {
    // 14 letters and `+`: 15, taken (as `*` in the policy)
    let (r, diags) = read("-i eeeeeeeeeeeeee+ -j ACCEPT", Fam::V4);
    assert!(diags.is_empty(), "{diags:?}");
    assert_eq!(r.unwrap().cond.iif.as_deref(), Some("eeeeeeeeeeeeee*"));
    // 15 letters and `+`: 16, refused where written (iptables-restore refuses it too), not
    // left for the generated policy's check to call a bug of the importer
    let (r, diags) = read("-i eeeeeeeeeeeeeee+ -j ACCEPT", Fam::V4);
    assert!(r.is_none());
    assert!(
        diags
            .iter()
            .any(|d| d == "invalid interface name `eeeeeeeeeeeeeee+`"),
        "{diags:?}"
    );
}

/// `-m policy` reaches the condition only once the rule is read: a rate or a stamp before it
/// still counts every packet that reaches it, ahead of the policy match, and is refused as
/// before any other match; after it, read.
#[test]
fn a_rate_or_a_stamp_before_a_policy_match_is_refused() {
    let (r, diags) = read(
        "-p udp --dport 1701 -m limit --limit 5/s -m policy --dir in --pol ipsec -j ACCEPT",
        Fam::V4,
    );
    assert!(r.is_none(), "{diags:?}");
    assert!(
        diags
            .iter()
            .any(|d| d == "`-m limit` before other matches of its rule"),
        "{diags:?}"
    );
    let (r, diags) = read(
        "-p tcp --dport 23 -m recent --set --name trap -m policy --dir in --pol none -j DROP",
        Fam::V4,
    );
    assert!(r.is_none(), "{diags:?}");
    assert!(
        diags
            .iter()
            .any(|d| d == "`-m recent` (`--set`) before other matches of its rule"),
        "{diags:?}"
    );
    let (r, diags) = read(
        "-p udp --dport 1701 -m policy --dir in --pol ipsec -m limit --limit 5/s -j ACCEPT",
        Fam::V4,
    );
    assert!(diags.is_empty(), "{diags:?}");
    assert_eq!(r.unwrap().cond.ipsec_in, Some(true));
}
