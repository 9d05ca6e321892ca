//! Addresses and networks as a policy writes them (`"198.51.100.0/24"`, `"2001:db8::1"`), and
//! what to say when one is wrong.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::ops::Range;

use super::is_digits;
use crate::core::model::Cidr;

#[derive(Debug, PartialEq, Eq)]
pub(super) enum CidrError {
    /// The address part (byte range within the string) is not an IP address.
    Address(Range<usize>),
    /// The text after `/` (byte range within the string) is not a number.
    Prefix(Range<usize>),
    /// The prefix is longer than the family allows; `at` covers `/prefix` within the string.
    TooLong {
        prefix: u32,
        v6: bool,
        at: Range<usize>,
    },
    /// Bits set after the prefix: `net` is the network meant, `addr` the bare address.
    HostBits { net: String, addr: String },
}

impl CidrError {
    /// What to say about string `s`: where within it (None: all of it), the message, the help.
    pub(super) fn explain(&self, s: &str) -> (Option<Range<usize>>, String, String) {
        match self {
            CidrError::Address(r) => (
                Some(r.clone()),
                format!("invalid IP address {:?}", &s[r.clone()]),
                "write an IPv4 or IPv6 address, optionally with a /prefix: \"198.51.100.0/24\", \"203.0.113.7\", \"2001:db8::/32\"".into(),
            ),
            CidrError::Prefix(r) => {
                let text = &s[r.clone()];
                let help = match text
                    .parse::<Ipv4Addr>()
                    .ok()
                    .and_then(|m| Cidr::prefix_of_mask(&m.octets()))
                {
                    Some(len) => format!(
                        "write the prefix length instead of a netmask: did you mean \"{}/{len}\"?",
                        &s[..r.start - 1]
                    ),
                    None => {
                        "the prefix length is a number: /0 to /32 for IPv4, /0 to /128 for IPv6"
                            .into()
                    }
                };
                (
                    Some(r.start - 1..r.end),
                    format!("invalid prefix length \"/{text}\""),
                    help,
                )
            }
            CidrError::TooLong { prefix, v6, at } => {
                let (fam, max) = if *v6 { ("IPv6", 128) } else { ("IPv4", 32) };
                (
                    Some(at.clone()),
                    format!("prefix length /{prefix} is too long for {fam}"),
                    format!("{fam} prefixes are /0 to /{max}"),
                )
            }
            CidrError::HostBits { net, addr } => (
                None,
                format!("{s} has host bits set"),
                format!("did you mean \"{net}\"? (or \"{addr}\" alone, for that one host)"),
            ),
        }
    }
}

/// An address (a host network) or a network without host bits.
pub(super) fn parse_cidr(s: &str) -> Result<Cidr, CidrError> {
    let (addr_text, prefix_text) = match s.split_once('/') {
        Some((a, p)) => (a, Some(p)),
        None => (s, None),
    };
    let addr: IpAddr = addr_text
        .parse()
        .map_err(|_| CidrError::Address(0..addr_text.len()))?;
    let max = if addr.is_ipv4() { 32 } else { 128 };
    let prefix = match prefix_text {
        None => max,
        Some(p) => {
            let at = addr_text.len() + 1..s.len();
            let n = if is_digits(p) {
                p.parse::<u32>().unwrap_or(u32::MAX)
            } else {
                return Err(CidrError::Prefix(at));
            };
            if n > max {
                return Err(CidrError::TooLong {
                    prefix: n,
                    v6: addr.is_ipv6(),
                    at: addr_text.len()..s.len(),
                });
            }
            n
        }
    };
    let len = u8::try_from(prefix).expect("at most 128");
    let net = network(addr, len);
    let written = match addr {
        IpAddr::V4(a) => Cidr::V4(a, len),
        IpAddr::V6(a) => Cidr::V6(a, len),
    };
    if net != written {
        return Err(CidrError::HostBits {
            net: net.to_string(),
            addr: addr.to_string(),
        });
    }
    Ok(net)
}

/// The network `addr/len` names: `addr` with the bits after the prefix cleared (built on
/// [`Cidr::mask`]; the importer clears host bits with it too, as iptables does).
pub(crate) fn network(addr: IpAddr, len: u8) -> Cidr {
    match addr {
        IpAddr::V4(a) => {
            let bits = u128::from(u32::from(a)) & Cidr::mask(len, 32);
            Cidr::V4(Ipv4Addr::from(bits as u32), len)
        }
        IpAddr::V6(a) => Cidr::V6(Ipv6Addr::from(u128::from(a) & Cidr::mask(len, 128)), len),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cidr_parsing() {
        assert_eq!(
            parse_cidr("198.51.100.0/24"),
            Ok(Cidr::V4(Ipv4Addr::new(198, 51, 100, 0), 24))
        );
        assert_eq!(
            parse_cidr("203.0.113.7"),
            Ok(Cidr::V4(Ipv4Addr::new(203, 0, 113, 7), 32))
        );
        assert_eq!(
            parse_cidr("2001:db8::/32"),
            Ok(Cidr::V6("2001:db8::".parse().unwrap(), 32))
        );
        assert_eq!(
            parse_cidr("0.0.0.0/0"),
            Ok(Cidr::V4(Ipv4Addr::UNSPECIFIED, 0))
        );
        assert_eq!(parse_cidr("::/0"), Ok(Cidr::V6(Ipv6Addr::UNSPECIFIED, 0)));
        assert_eq!(parse_cidr("10.0.0.0/x"), Err(CidrError::Prefix(9..10)));
        assert_eq!(parse_cidr("10.0.0.300"), Err(CidrError::Address(0..10)));
        assert!(matches!(
            parse_cidr("10.0.0.0/33"),
            Err(CidrError::TooLong {
                prefix: 33,
                v6: false,
                ..
            })
        ));
        assert_eq!(
            parse_cidr("198.51.100.7/24"),
            Err(CidrError::HostBits {
                net: "198.51.100.0/24".into(),
                addr: "198.51.100.7".into()
            })
        );
    }

    #[test]
    fn networks_clear_host_bits() {
        let a = |s: &str| s.parse::<IpAddr>().unwrap();
        assert_eq!(
            network(a("10.1.2.3"), 8),
            Cidr::V4(Ipv4Addr::new(10, 0, 0, 0), 8)
        );
        assert_eq!(
            network(a("10.1.2.3"), 0),
            Cidr::V4(Ipv4Addr::UNSPECIFIED, 0)
        );
        assert_eq!(
            network(a("10.1.2.3"), 32),
            Cidr::V4(Ipv4Addr::new(10, 1, 2, 3), 32)
        );
        assert_eq!(
            network(a("2001:db8::1"), 32),
            Cidr::V6("2001:db8::".parse().unwrap(), 32)
        );
        assert_eq!(
            network(a("2001:db8::1"), 128),
            Cidr::V6("2001:db8::1".parse().unwrap(), 128)
        );
    }

    #[test]
    fn coverage() {
        let n = |s: &str| parse_cidr(s).unwrap();
        assert!(n("10.0.0.0/8").covers(n("10.1.0.0/16")));
        assert!(!n("10.1.0.0/16").covers(n("10.0.0.0/8")));
        assert!(n("0.0.0.0/0").covers(n("192.0.2.1")));
        assert!(!n("::/0").covers(n("192.0.2.1")));
    }

    #[test]
    fn a_netmask_after_the_slash_is_explained() {
        let s = "10.0.0.0/255.255.0.0";
        let e = parse_cidr(s).unwrap_err();
        let (at, message, help) = e.explain(s);
        assert_eq!(&s[at.unwrap()], "/255.255.0.0");
        assert_eq!(message, "invalid prefix length \"/255.255.0.0\"");
        assert!(help.contains("did you mean \"10.0.0.0/16\"?"), "{help}");
    }
}
