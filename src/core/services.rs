//! The service catalogue: well-known service names, their protocols and their port.
//!
//! One table serves two readers:
//! - the policy checker tells someone who wrote a service name where a port goes which
//!   number is meant (`tcp = ["ssh"]` → "did you mean 22?"): [`port_of`];
//! - the importer names an entry for one port after its service (`ssh`, not `tcp-22`):
//!   [`entry_name`].
//!
//! Each row says which of the two it serves, so that neither reader sees a name it never
//! used: the importer names `tcp/21` "ftp", but the checker does not read "ftp" as a port;
//! the checker knows the aliases "domain" and "auth", but the importer never names an entry
//! after them. Pure data, no I/O.

/// The transport protocol of a service's port.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Proto {
    Tcp,
    Udp,
}

impl Proto {
    /// The protocol with this IP protocol number (6 or 17), if it is one of the two.
    pub fn from_number(n: u8) -> Option<Proto> {
        match n {
            6 => Some(Proto::Tcp),
            17 => Some(Proto::Udp),
            _ => None,
        }
    }
}

/// One row of the catalogue.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Known {
    pub name: &'static str,
    pub protos: &'static [Proto],
    pub port: u16,
    /// The importer names an entry for this protocol and port after it.
    pub names_entries: bool,
    /// The policy checker reads the name as this port, when it is written where a port goes.
    pub read_as_port: bool,
}

const TCP: &[Proto] = &[Proto::Tcp];
const UDP: &[Proto] = &[Proto::Udp];
const BOTH: &[Proto] = &[Proto::Tcp, Proto::Udp];

/// A service both readers know.
const fn both(name: &'static str, protos: &'static [Proto], port: u16) -> Known {
    Known {
        name,
        protos,
        port,
        names_entries: true,
        read_as_port: true,
    }
}

/// A name the importer gives entries, but which the checker does not read as a port.
const fn entry_only(name: &'static str, protos: &'static [Proto], port: u16) -> Known {
    Known {
        read_as_port: false,
        ..both(name, protos, port)
    }
}

/// Another name for a service, which the checker reads as its port; entries are never
/// named after it.
const fn alias(name: &'static str, protos: &'static [Proto], port: u16) -> Known {
    Known {
        names_entries: false,
        ..both(name, protos, port)
    }
}

/// Every service statewall knows by name.
pub const SERVICES: &[Known] = &[
    entry_only("ftp", TCP, 21),
    both("ssh", TCP, 22),
    both("smtp", TCP, 25),
    both("dns", UDP, 53),
    // DNS over TCP: an entry for it is named apart from the udp one
    entry_only("dns-tcp", TCP, 53),
    alias("domain", BOTH, 53),
    both("http", TCP, 80),
    both("pop3", TCP, 110),
    both("ident", TCP, 113),
    alias("auth", TCP, 113),
    both("ntp", UDP, 123),
    both("imap", TCP, 143),
    both("https", TCP, 443),
    both("smtps", TCP, 465),
    both("submission", TCP, 587),
    both("imaps", TCP, 993),
    both("pop3s", TCP, 995),
];

/// The port a service name written where a port goes stands for (any letter case).
pub fn port_of(word: &str) -> Option<u16> {
    SERVICES
        .iter()
        .find(|k| k.read_as_port && k.name.eq_ignore_ascii_case(word))
        .map(|k| k.port)
}

/// The port of a service name written where a port of `proto` goes (`tcp = ["ssh"]`), from
/// the one catalogue: only names it reads as ports, and only for a protocol the service uses.
pub fn port_for(word: &str, proto: Proto) -> Option<u16> {
    SERVICES
        .iter()
        .find(|k| k.read_as_port && k.name.eq_ignore_ascii_case(word) && k.protos.contains(&proto))
        .map(|k| k.port)
}

/// The name the importer gives an entry for this one port of IP protocol `proto` (6 or 17).
pub fn entry_name(proto: u8, port: u16) -> Option<&'static str> {
    let proto = Proto::from_number(proto)?;
    SERVICES
        .iter()
        .find(|k| k.names_entries && k.port == port && k.protos.contains(&proto))
        .map(|k| k.name)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_checker_reads_service_names_as_ports() {
        assert_eq!(port_of("ssh"), Some(22));
        assert_eq!(port_of("HTTPS"), Some(443));
        assert_eq!(port_of("domain"), Some(53));
        assert_eq!(port_of("Auth"), Some(113));
        assert_eq!(port_of("ntp"), Some(123));
        // names only the importer gives
        assert_eq!(port_of("ftp"), None);
        assert_eq!(port_of("dns-tcp"), None);
        assert_eq!(port_of("gopher"), None);
    }

    #[test]
    fn the_importer_names_entries_per_protocol_and_port() {
        assert_eq!(entry_name(6, 22), Some("ssh"));
        assert_eq!(entry_name(6, 21), Some("ftp"));
        assert_eq!(entry_name(17, 53), Some("dns"));
        assert_eq!(entry_name(6, 53), Some("dns-tcp"));
        assert_eq!(entry_name(6, 113), Some("ident"));
        assert_eq!(entry_name(17, 123), Some("ntp"));
        // no service on that protocol, or not a port protocol
        assert_eq!(entry_name(17, 22), None);
        assert_eq!(entry_name(6, 123), None);
        assert_eq!(entry_name(1, 22), None);
        assert_eq!(entry_name(6, 8080), None);
    }

    #[test]
    fn every_name_is_listed_once() {
        for (i, a) in SERVICES.iter().enumerate() {
            assert!(
                SERVICES[i + 1..].iter().all(|b| b.name != a.name),
                "{} is listed twice",
                a.name
            );
        }
    }
}
