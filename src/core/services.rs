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

/// The names an iptables-save file may use for numbers, as iptables-restore on the same host
/// reads them: a services database in `/etc/services` form (`name port/proto [aliases…] [#
/// comment]`, what `getservbyname` reads a port name with), and the users and groups of
/// `/etc/passwd` and `/etc/group` (what `getpwnam`/`getgrnam` read `--uid-owner root` with).
/// The CLI reads the host's files; without them, [`NameDb::builtin`] (the catalogue above,
/// and no user or group names).
#[derive(Debug, Clone, Default)]
pub struct NameDb {
    /// name (and alias) → its tcp and udp port
    ports: std::collections::HashMap<String, [Option<u16>; 2]>,
    /// user name → uid, group name → gid
    users: std::collections::HashMap<String, u32>,
    groups: std::collections::HashMap<String, u32>,
    /// protocol name (and alias) → its number, as `/etc/protocols` says
    protocols: std::collections::HashMap<String, u8>,
}

impl NameDb {
    /// The lines of an `/etc/services` text; a line that is not `name port/proto …` says
    /// nothing (as for the C library). The first line for a name and protocol counts.
    pub fn parse(text: &str) -> NameDb {
        let mut db = NameDb::default();
        for line in text.lines() {
            let line = line.split('#').next().unwrap_or("");
            let mut w = line.split_whitespace();
            let (Some(name), Some(pp)) = (w.next(), w.next()) else {
                continue;
            };
            let Some((port, proto)) = pp.split_once('/') else {
                continue;
            };
            let (Ok(port), Some(i)) = (port.parse::<u16>(), proto_index(proto)) else {
                continue;
            };
            for n in std::iter::once(name).chain(w) {
                let slot = &mut db.ports.entry(n.to_string()).or_default()[i];
                slot.get_or_insert(port);
            }
        }
        db
    }

    /// `db` with the users of an `/etc/passwd` text and the groups of an `/etc/group` text
    /// (`name:password:id:…`); a line that is not that form says nothing, and the first line
    /// for a name counts (as for the C library's files).
    pub fn with_ids(mut self, passwd: &str, group: &str) -> NameDb {
        for (text, map) in [(passwd, &mut self.users), (group, &mut self.groups)] {
            for line in text.lines() {
                let mut f = line.split(':');
                let (Some(name), Some(_), Some(id)) = (f.next(), f.next(), f.next()) else {
                    continue;
                };
                let Ok(id) = id.parse::<u32>() else {
                    continue;
                };
                if !name.is_empty() && !name.starts_with(['#', '+', '-']) {
                    map.entry(name.to_string()).or_insert(id);
                }
            }
        }
        self
    }

    /// `db` with the protocols of an `/etc/protocols` text (`name number aliases…`, as
    /// `getprotobyname` reads it: the first line for a name counts). iptables-save prints a
    /// protocol by the name this file gives its number (`-p 59` is saved as `-p ipv6-nonxt`),
    /// and iptables-restore reads it back through the same file.
    pub fn with_protocols(mut self, text: &str) -> NameDb {
        for line in text.lines() {
            let line = line.split('#').next().unwrap_or("");
            let mut w = line.split_whitespace();
            let (Some(name), Some(num)) = (w.next(), w.next()) else {
                continue;
            };
            let Ok(num) = num.parse::<u8>() else {
                continue;
            };
            for n in std::iter::once(name).chain(w) {
                self.protocols.entry(n.to_string()).or_insert(num);
            }
        }
        self
    }

    /// The number of protocol `name` in the host's `/etc/protocols` (case-sensitive, as
    /// `getprotobyname` is), if it was read.
    pub fn protocol(&self, name: &str) -> Option<u8> {
        self.protocols.get(name).copied()
    }

    /// The uid of user `name` (`gid`: the gid of group `name`), as `getpwnam` (`getgrnam`)
    /// over the files gives it.
    pub fn id(&self, name: &str, gid: bool) -> Option<u32> {
        if gid {
            self.groups.get(name).copied()
        } else {
            self.users.get(name).copied()
        }
    }

    /// The catalogue's names (every row, as iptables would know them from a usual
    /// `/etc/services`).
    pub fn builtin() -> NameDb {
        let mut db = NameDb::default();
        for k in SERVICES {
            for p in k.protos {
                let i = match p {
                    Proto::Tcp => 0,
                    Proto::Udp => 1,
                };
                db.ports.entry(k.name.to_string()).or_default()[i].get_or_insert(k.port);
            }
        }
        db
    }

    /// The port of `name` for IP protocol `proto` (6 or 17; another or none: tcp's, else
    /// udp's), as `getservbyname` gives it: names are case-sensitive.
    pub fn port(&self, name: &str, proto: Option<u8>) -> Option<u16> {
        let [tcp, udp] = *self.ports.get(name)?;
        match proto {
            Some(6) => tcp,
            Some(17) => udp,
            _ => tcp.or(udp),
        }
    }
}

fn proto_index(p: &str) -> Option<usize> {
    match p {
        "tcp" => Some(0),
        "udp" => Some(1),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn protocols_read_as_getprotobyname_does() {
        let db = NameDb::default().with_protocols(
            "# comment\nhopopt\t0\tHOPOPT\nipv6-nonxt 59\tIPv6-NoNxt\t# No Next Header\nipv6-nonxt 60 dup\nbad x\n",
        );
        assert_eq!(db.protocol("ipv6-nonxt"), Some(59));
        assert_eq!(db.protocol("IPv6-NoNxt"), Some(59));
        assert_eq!(db.protocol("hopopt"), Some(0));
        assert_eq!(db.protocol("dup"), Some(60));
        assert_eq!(db.protocol("IPV6-NONXT"), None);
        assert_eq!(db.protocol("bad"), None);
    }

    #[test]
    fn users_and_groups_read_as_getpwnam_does() {
        let db = NameDb::default().with_ids(
            "root:x:0:0:root:/root:/bin/bash\n# a comment\nbroken line\n\
             debian-tor:x:107:113::/var/lib/tor:/bin/false\nroot:x:5:5::/:/bin/sh\n\
             +nis:::\nodd:x:not-a-number:1::/:\n",
            "root:x:0:\nwww-data:x:33:\n",
        );
        assert_eq!(db.id("root", false), Some(0));
        assert_eq!(db.id("debian-tor", false), Some(107));
        assert_eq!(db.id("odd", false), None);
        assert_eq!(db.id("+nis", false), None);
        assert_eq!(db.id("www-data", true), Some(33));
        assert_eq!(db.id("www-data", false), None);
        assert_eq!(NameDb::builtin().id("root", false), None);
    }

    #[test]
    fn a_services_file_reads_as_getservbyname_does() {
        let db = NameDb::parse(
            "# comment\nsnmp\t\t161/tcp\t\t\t\t# SNMP\nsnmp\t\t161/udp\nhttp\t80/tcp\twww # web\nbad line\nx 99999/tcp\ny 7/sctp\nhttp 81/tcp\nsyslog 514/udp\n",
        );
        assert_eq!(db.port("snmp", Some(17)), Some(161));
        assert_eq!(db.port("snmp", Some(6)), Some(161));
        assert_eq!(db.port("www", Some(6)), Some(80), "aliases");
        assert_eq!(db.port("http", None), Some(80), "the first line counts");
        assert_eq!(db.port("http", Some(17)), None);
        assert_eq!(db.port("syslog", None), Some(514), "udp when no tcp");
        assert_eq!(db.port("HTTP", Some(6)), None, "case-sensitive");
        assert_eq!(db.port("x", None), None);
        assert_eq!(db.port("y", None), None);
        let b = NameDb::builtin();
        assert_eq!(b.port("ssh", Some(6)), Some(22));
        assert_eq!(b.port("domain", Some(17)), Some(53));
        assert_eq!(b.port("ftp", Some(6)), Some(21));
    }

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
