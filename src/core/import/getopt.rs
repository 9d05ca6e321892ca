//! Long options as iptables-restore reads them: glibc's `getopt_long` over iptables' own
//! options and those of the modules a rule has loaded so far, which takes any unambiguous
//! abbreviation (`--proto udp`, `-p tcp --dp 22`, `-j LOG --log-p "x"`). A line's option
//! names are written out in full here, before anything reads them, so that the rest of the
//! importer sees one spelling. The tables are iptables 1.8.9's (`iptables/xtables.c`
//! `original_opts`, and each extension's options at the revision a current kernel has).
//!
//! What getopt does, and so what this does:
//! - an exact name wins; otherwise a prefix of exactly one option (or of several that are
//!   one option under other names: `--src` and `--source`) is that option; a prefix of two
//!   options is ambiguous and iptables-restore refuses the line ("unknown option");
//! - the options are iptables' own and those of every `-m` module and the `-j` target given
//!   before, in the rule's order: `-m tcp --dest` is ambiguous (`--destination`,
//!   `--destination-port`), `--dest` before `-m tcp` is not;
//! - `-p tcp` loads the tcp match only when an option is unknown or ambiguous without it
//!   (iptables' "implicit protocol match"), and then tries that option again: `-p tcp --dp
//!   22` is `--dport`, and after it `--dest` is ambiguous.
//!
//! Each name is written as the option getopt takes it for (`--dport` after `-m multiport`
//! is multiport's `--dports`, so that the readers after this need not ask which module
//! reads it); the few aliases the importer does not read are written as the name it does
//! (`--ttl` → `--ttl-eq`, `--fragments` → `--fragment`). A name of a module the rule has not
//! loaded where it stands (`--ctstate` without `-m conntrack`) is refused, as iptables-restore
//! refuses it ("unknown option"), unless a module, target or protocol match these tables do
//! not hold came before it (`-j DNAT --to`: read as written, the line is refused elsewhere).

use super::Fam;
use super::lex::Tok;

mod proto;
use proto::{foreign_proto_opts, icmp_of_negated, no_fragment_in_v6, other_family_module};

/// One long option: its name, which option it is (names of one option share the number:
/// `sport` and `source-port`), and whether it takes the next word as its value.
pub(super) type Long = (&'static str, u8, bool);

/// iptables' own long options (`original_opts`), by the short option each is.
const OWN: &[Long] = &[
    ("append", b'A', true),
    ("delete", b'D', true),
    ("check", b'C', true),
    ("insert", b'I', true),
    ("replace", b'R', true),
    ("list", b'L', false),
    ("list-rules", b'S', false),
    ("flush", b'F', false),
    ("zero", b'Z', false),
    ("new-chain", b'N', true),
    ("delete-chain", b'X', false),
    ("rename-chain", b'E', true),
    ("policy", b'P', true),
    ("source", b's', true),
    ("destination", b'd', true),
    ("src", b's', true),
    ("dst", b'd', true),
    ("protocol", b'p', true),
    ("in-interface", b'i', true),
    ("jump", b'j', true),
    ("table", b't', true),
    ("match", b'm', true),
    ("numeric", b'n', false),
    ("out-interface", b'o', true),
    ("verbose", b'v', false),
    ("wait", b'w', false),
    ("wait-interval", b'W', false),
    ("exact", b'x', false),
    ("fragments", b'f', false),
    ("version", b'V', false),
    ("help", b'h', false),
    ("line-numbers", b'0', false),
    ("modprobe", b'M', true),
    ("set-counters", b'c', true),
    ("goto", b'g', true),
    ("ipv4", b'4', false),
    ("ipv6", b'6', false),
];

/// iptables' short options and how many words follow each (`-c PKTS BYTES`; those whose
/// value is optional take it only in the same word, `-L`, `-F`, `-Z`, `-X`, `-w`, `-h`).
const SHORT: &[(u8, usize)] = &[
    (b'A', 1),
    (b'C', 1),
    (b'D', 1),
    (b'R', 1),
    (b'I', 1),
    (b'N', 1),
    (b'E', 1),
    (b'P', 1),
    (b'M', 1),
    (b's', 1),
    (b'd', 1),
    (b'p', 1),
    (b'i', 1),
    (b'o', 1),
    (b'j', 1),
    (b'g', 1),
    (b'm', 1),
    (b't', 1),
    (b'c', 2),
    (b'L', 0),
    (b'S', 0),
    (b'F', 0),
    (b'Z', 0),
    (b'X', 0),
    (b'w', 0),
    (b'W', 0),
    (b'h', 0),
    (b'V', 0),
    (b'v', 0),
    (b'n', 0),
    (b'x', 0),
    (b'f', 0),
    (b'0', 0),
    (b'4', 0),
    (b'6', 0),
];

/// The options of the match modules and targets (upper case) the importer reads, by name.
pub(super) const MODULES: &[(&str, &[Long])] = &[
    (
        "tcp",
        &[
            ("source-port", 1, true),
            ("sport", 1, true),
            ("destination-port", 2, true),
            ("dport", 2, true),
            ("syn", 3, false),
            ("tcp-flags", 4, true),
            ("tcp-option", 5, true),
        ],
    ),
    (
        "udp",
        &[
            ("source-port", 1, true),
            ("sport", 1, true),
            ("destination-port", 2, true),
            ("dport", 2, true),
        ],
    ),
    ("icmp", &[("icmp-type", 1, true)]),
    ("icmp6", &[("icmpv6-type", 1, true)]),
    (
        "conntrack",
        &[
            ("ctstate", 1, true),
            ("ctproto", 2, true),
            ("ctorigsrc", 3, true),
            ("ctorigdst", 4, true),
            ("ctreplsrc", 5, true),
            ("ctrepldst", 6, true),
            ("ctstatus", 7, true),
            ("ctexpire", 8, true),
            ("ctorigsrcport", 9, true),
            ("ctorigdstport", 10, true),
            ("ctreplsrcport", 11, true),
            ("ctrepldstport", 12, true),
            ("ctdir", 13, true),
        ],
    ),
    ("state", &[("state", 1, true)]),
    (
        "multiport",
        &[
            ("source-ports", 1, true),
            ("sports", 1, true),
            ("destination-ports", 2, true),
            ("dports", 2, true),
            ("ports", 3, true),
        ],
    ),
    ("comment", &[("comment", 1, true)]),
    ("limit", &[("limit", 1, true), ("limit-burst", 2, true)]),
    (
        "hashlimit",
        &[
            ("hashlimit-upto", 1, true),
            ("hashlimit-above", 2, true),
            ("hashlimit", 1, true),
            ("hashlimit-srcmask", 3, true),
            ("hashlimit-dstmask", 4, true),
            ("hashlimit-burst", 5, true),
            ("hashlimit-htable-size", 6, true),
            ("hashlimit-htable-max", 7, true),
            ("hashlimit-htable-gcinterval", 8, true),
            ("hashlimit-htable-expire", 9, true),
            ("hashlimit-mode", 10, true),
            ("hashlimit-name", 11, true),
            ("hashlimit-rate-match", 12, false),
            ("hashlimit-rate-interval", 13, true),
        ],
    ),
    (
        "addrtype",
        &[
            ("src-type", 1, true),
            ("dst-type", 2, true),
            ("limit-iface-in", 3, false),
            ("limit-iface-out", 4, false),
        ],
    ),
    ("pkttype", &[("pkt-type", 1, true)]),
    ("iprange", &[("src-range", 1, true), ("dst-range", 2, true)]),
    ("mac", &[("mac-source", 1, true)]),
    ("length", &[("length", 1, true)]),
    ("tcpmss", &[("mss", 1, true)]),
    (
        "owner",
        &[
            ("uid-owner", 1, true),
            ("gid-owner", 2, true),
            ("socket-exists", 3, false),
            ("suppl-groups", 4, false),
        ],
    ),
    ("mark", &[("mark", 1, true)]),
    ("helper", &[("helper", 1, true)]),
    (
        "policy",
        &[
            ("dir", 1, true),
            ("pol", 2, true),
            ("strict", 3, false),
            ("reqid", 4, true),
            ("spi", 5, true),
            ("tunnel-src", 6, true),
            ("tunnel-dst", 7, true),
            ("proto", 8, true),
            ("mode", 9, true),
            ("next", 10, false),
        ],
    ),
    (
        "time",
        &[
            ("datestart", 1, true),
            ("datestop", 2, true),
            ("timestart", 3, true),
            ("timestop", 4, true),
            ("monthdays", 5, true),
            ("weekdays", 6, true),
            ("localtz", 7, false),
            ("utc", 8, false),
            ("kerneltz", 9, false),
            ("contiguous", 10, false),
        ],
    ),
    (
        "recent",
        &[
            ("set", 1, false),
            ("rcheck", 2, false),
            ("update", 3, false),
            ("remove", 4, false),
            ("seconds", 5, true),
            ("reap", 6, false),
            ("hitcount", 7, true),
            ("rttl", 8, false),
            ("name", 9, true),
            ("rsource", 10, false),
            ("rdest", 11, false),
            ("mask", 12, true),
        ],
    ),
    (
        "string",
        &[
            ("from", 1, true),
            ("to", 2, true),
            ("algo", 3, true),
            ("string", 4, true),
            ("hex-string", 5, true),
            ("icase", 6, false),
        ],
    ),
    ("u32", &[("u32", 1, true)]),
    (
        "connlimit",
        &[
            ("connlimit-upto", 1, true),
            ("connlimit-above", 2, true),
            ("connlimit-mask", 3, true),
            ("connlimit-saddr", 4, false),
            ("connlimit-daddr", 5, false),
        ],
    ),
    (
        "ttl",
        &[
            ("ttl-lt", 1, true),
            ("ttl-gt", 2, true),
            ("ttl-eq", 3, true),
            ("ttl", 3, true),
        ],
    ),
    (
        "hl",
        &[
            ("hl-lt", 1, true),
            ("hl-gt", 2, true),
            ("hl-eq", 3, true),
            ("hl", 3, true),
        ],
    ),
    (
        "rt",
        &[
            ("rt-type", 1, true),
            ("rt-segsleft", 2, true),
            ("rt-len", 3, true),
            ("rt-0-res", 4, false),
            ("rt-0-addrs", 5, true),
            ("rt-0-not-strict", 6, false),
        ],
    ),
    (
        "LOG",
        &[
            ("log-level", 1, true),
            ("log-prefix", 2, true),
            ("log-tcp-sequence", 3, false),
            ("log-tcp-options", 4, false),
            ("log-ip-options", 5, false),
            ("log-uid", 6, false),
            ("log-macdecode", 7, false),
        ],
    ),
    (
        "NFLOG",
        &[
            ("nflog-group", 1, true),
            ("nflog-prefix", 2, true),
            ("nflog-range", 3, true),
            ("nflog-size", 4, true),
            ("nflog-threshold", 5, true),
        ],
    ),
    ("REJECT", &[("reject-with", 1, true)]),
    (
        "TCPMSS",
        &[("set-mss", 1, true), ("clamp-mss-to-pmtu", 2, false)],
    ),
];

/// Aliases iptables takes that the importer reads under another name.
const READ_AS: &[(&str, &str)] = &[
    ("--fragments", "--fragment"),
    ("--ttl", "--ttl-eq"),
    ("--hl", "--hl-eq"),
];

/// A word iptables-restore refuses where it stands (the line is refused): an abbreviation of
/// more than one option, or a number it does not read.
#[derive(Debug, PartialEq, Eq)]
pub(super) struct Unread {
    /// the word
    pub(super) at: usize,
    pub(super) what: String,
    pub(super) why: String,
}

impl Unread {
    /// `word`, an option of a module (or target) the rule has not loaded before it.
    fn unloaded(at: usize, word: &str, fam: Fam) -> Self {
        let name = word.trim_start_matches('-');
        let owners: Vec<String> = MODULES
            .iter()
            .enumerate()
            .filter(|(m, (_, opts))| {
                opts.iter().any(|o| o.0 == name) && module(MODULES[*m].0, fam).is_some()
            })
            .map(|(_, (n, _))| {
                if n.bytes().all(|b| b.is_ascii_uppercase()) {
                    format!("`-j {n}`")
                } else {
                    format!("`-m {n}`")
                }
            })
            .collect();
        let why = if owners.is_empty() {
            "iptables-restore refuses it too (\"unknown option\"): this family's iptables has no module with this option".to_string()
        } else {
            format!(
                "iptables-restore refuses it too (\"unknown option\"): it is an option of {}, which the rule must name before it",
                owners.join(" or ")
            )
        };
        Unread {
            at,
            what: format!("`{word}` where no module of this rule reads it"),
            why,
        }
    }

    /// `word`, an option neither iptables nor a module loaded before it has (a misspelt
    /// `--cstate`); `near` the names getopt would take there, for a suggestion.
    fn unknown(at: usize, word: &str, near: &[&str]) -> Self {
        let guess = crate::core::policy::suggest(word.trim_start_matches('-'), near, &[])
            .map(|g| format!("; did you mean `--{g}`?"))
            .unwrap_or_default();
        Unread {
            at,
            what: format!("unknown option `{word}`"),
            why: format!(
                "iptables-restore refuses it too (\"unknown option\"): neither iptables nor a module loaded before it has this option{guess}"
            ),
        }
    }

    fn ambiguous(at: usize, word: &str, could_be: &[String]) -> Self {
        let names: Vec<String> = could_be.iter().map(|n| format!("`{n}`")).collect();
        Unread {
            at,
            what: format!("`{word}` is short for more than one option here ({})", names.join(", ")),
            why: "iptables-restore refuses it too (\"unknown option\"): getopt takes an abbreviation only when it names one option among iptables' own and those of the modules loaded before it; write the option out in full".into(),
        }
    }
}

/// The module (index into [`MODULES`]) a name loads in family `fam`: `-m icmpv6`, `-p
/// ipv6-icmp` and `-p 58` load ip6tables' icmp6; iptables' icmp and ttl are IPv4's, hl and
/// rt IPv6's.
pub(super) fn module(name: &str, fam: Fam) -> Option<usize> {
    let name = match name {
        "icmpv6" | "ipv6-icmp" => "icmp6",
        n => n,
    };
    if family_of(name).is_some_and(|f| f != fam) {
        return None;
    }
    MODULES.iter().position(|(n, _)| *n == name)
}

/// The family whose iptables alone has match `name` (under any of its names): iptables'
/// icmp and ttl are IPv4's, hl, rt and icmp6 IPv6's; None for the others.
pub(super) fn family_of(name: &str) -> Option<Fam> {
    match name {
        "icmp" | "ttl" => Some(Fam::V4),
        "icmp6" | "icmpv6" | "ipv6-icmp" | "hl" | "rt" => Some(Fam::V6),
        _ => None,
    }
}

/// The match a protocol loads (`-p TCP`, `-p 6`: tcp), as iptables' `find_proto` finds it.
pub(super) fn protocol_module(proto: &str, fam: Fam) -> Option<usize> {
    let p = proto.to_ascii_lowercase();
    let name = match p.parse::<u8>() {
        Ok(6) => "tcp",
        Ok(17) => "udp",
        Ok(1) => "icmp",
        Ok(58) => "ipv6-icmp",
        Ok(_) => return None,
        Err(_) => p.as_str(),
    };
    module(name, fam)
}

/// The options where a word stands: iptables' own (index `None`) and the loaded modules'.
struct Loaded {
    fam: Fam,
    modules: Vec<usize>,
    /// the rule's `-p`, and whether its match has been loaded for it
    proto: Option<String>,
    proto_loaded: bool,
    /// a module or target this file's tables do not hold was named before (`-m connmark`,
    /// `-j DNAT`): whose options these tables cannot tell
    foreign: bool,
    /// the options of the protocol's match these tables do not hold (`-p sctp`)
    proto_opts: Option<&'static [&'static str]>,
    /// the `-p` has a `!`
    proto_negated: bool,
}

/// What getopt makes of a long option's name.
enum Found {
    /// the option (module, entry)
    One(Option<usize>, usize),
    Ambiguous(Vec<String>),
    Unknown,
}

impl Loaded {
    fn tables(&self) -> impl Iterator<Item = (Option<usize>, &'static [Long])> + '_ {
        std::iter::once((None, OWN)).chain(self.modules.iter().map(|&m| (Some(m), MODULES[m].1)))
    }

    /// Whether a module, target or protocol match these tables do not hold may read option
    /// `name` (read as written, the line refused elsewhere).
    fn foreign_for(&self, name: &str) -> bool {
        self.foreign
            || self
                .proto_opts
                .is_some_and(|o| o.iter().any(|o| o.starts_with(name)))
    }

    fn load(&mut self, m: usize) {
        if !self.modules.contains(&m) {
            self.modules.push(m);
        }
    }

    /// getopt_long's answer for `name` among the loaded options.
    fn find(&self, name: &str) -> Found {
        for (m, t) in self.tables() {
            if let Some(k) = t.iter().position(|o| o.0 == name) {
                return Found::One(m, k);
            }
        }
        // the options `name` abbreviates, one name each (getopt takes several names of one
        // option as that option)
        let mut found: Vec<(Option<usize>, Long)> = Vec::new();
        for (m, t) in self.tables() {
            for o in t.iter().filter(|o| o.0.starts_with(name)) {
                if !found
                    .iter()
                    .any(|(fm, f)| *fm == m && f.1 == o.1 && f.2 == o.2)
                {
                    found.push((m, *o));
                }
            }
        }
        match found.as_slice() {
            [] => Found::Unknown,
            [(m, o)] => Found::One(*m, table(*m).iter().position(|x| x == o).unwrap_or(0)),
            all => Found::Ambiguous(all.iter().map(|(_, o)| format!("--{}", o.0)).collect()),
        }
    }

    /// As [`Loaded::find`], loading the protocol's match and asking again where iptables does.
    fn resolve(&mut self, name: &str) -> Found {
        match self.find(name) {
            Found::One(m, k) => Found::One(m, k),
            other => {
                let proto = (!self.proto_loaded)
                    .then_some(self.proto.as_deref())
                    .flatten()
                    .and_then(|p| protocol_module(p, self.fam));
                match proto {
                    Some(m) => {
                        self.proto_loaded = true;
                        self.load(m);
                        self.find(name)
                    }
                    None => other,
                }
            }
        }
    }
}

fn table(m: Option<usize>) -> &'static [Long] {
    m.map_or(OWN, |m| MODULES[m].1)
}

/// Whether `name` is an option of any table (the importer reads those as written).
fn known(name: &str) -> Option<Long> {
    std::iter::once(OWN)
        .chain(MODULES.iter().map(|m| m.1))
        .flat_map(|t| t.iter())
        .find(|o| o.0 == name)
        .copied()
}

/// What the walk over a line found, for xtcheck.rs: each module instance the rule loads
/// and each option word with the instance that reads it, as libxtables hands them over.
#[derive(Debug, Default)]
pub(super) struct Walk {
    /// each instance: its module, and the word that loaded it (`-m state`'s `state`, or the
    /// first option of the protocol's match loaded implicitly). A second `-m state` is a
    /// second instance, and the options after it go to it
    pub(super) insts: Vec<(usize, usize)>,
    /// each option of a module: its word, its instance, its number, whether a `!` stood
    /// before it
    pub(super) given: Vec<Given>,
    /// the words of `-i` (false) and `-o` (true)
    pub(super) ifaces: Vec<(usize, bool)>,
    /// the chain of `-A`/`-I`
    pub(super) chain: Option<String>,
    /// the rule is of the other family (`-6` in an iptables file): iptables-restore reads
    /// nothing past that word, and the line is left out
    pub(super) other_family: bool,
    /// the walk stopped at a word it does not know (the line is refused there): what the
    /// words past it give the instances is unknown
    pub(super) partial: bool,
}

/// One option word of a loaded module, as [`Walk::given`] holds it.
#[derive(Debug)]
pub(super) struct Given {
    pub(super) word: usize,
    pub(super) inst: usize,
    pub(super) id: u8,
    pub(super) not: bool,
}

impl Walk {
    /// The instance that reads an option of module `m` at word `i`: the last one of `m`
    /// (libxtables marks an instance done when the module is loaded again), or the
    /// protocol's match, loaded implicitly here.
    fn instance(&mut self, m: usize, i: usize) -> usize {
        match self.insts.iter().rposition(|&(x, _)| x == m) {
            Some(k) => k,
            None => {
                self.insts.push((m, i));
                self.insts.len() - 1
            }
        }
    }
}

/// Writes the long option names of a line's words (`-A CHAIN …`, `-P …`) out in full, as
/// getopt reads them, and says which module instance reads each; Err where one is
/// ambiguous (iptables-restore refuses the line). Words past one it does not know are left
/// as they are, and not walked: the line is refused there anyway.
pub(super) fn spell_out(toks: &mut [Tok], fam: Fam) -> Result<Walk, Unread> {
    let mut ctx = Loaded {
        fam,
        modules: Vec::new(),
        proto: None,
        proto_loaded: false,
        foreign: false,
        proto_opts: None,
        proto_negated: false,
    };
    let mut walk = Walk::default();
    let mut negated = false;
    let mut i = 0;
    while i < toks.len() {
        let text = toks[i].text.as_str();
        // the value words an option takes, what it is (its short name, or its module's
        // option), and the option getopt takes it for (`--dport` after `-m multiport` is
        // multiport's `--dports`)
        let (values, short, from, read): (usize, Option<u8>, Option<&str>, String) =
            if let Some(name) = text.strip_prefix("--") {
                if name.is_empty() {
                    walk.partial = true;
                    return Ok(walk);
                }
                let not = std::mem::take(&mut negated);
                let foreign = ctx.foreign_for(name);
                let (o, own, from, read) = match (ctx.resolve(name), known(name)) {
                    (Found::One(m, k), _) => {
                        icmp_of_negated(m, ctx.proto_negated, i, text)?;
                        let o = table(m)[k];
                        // the option getopt takes, by its full name (`--dport` after `-m
                        // multiport` is its `--dports`)
                        let full = format!("--{}", o.0);
                        let read = READ_AS.iter().find(|(a, _)| *a == full).map(|(_, b)| *b);
                        toks[i].text = read.map_or_else(|| full.clone(), str::to_string);
                        if let Some(m) = m {
                            let inst = walk.instance(m, i);
                            walk.given.push(Given {
                                word: i,
                                inst,
                                id: o.1,
                                not,
                            });
                        }
                        let module = m.map_or("", |m| MODULES[m].0);
                        (o, m.is_none(), Some(module), full)
                    }
                    (Found::Ambiguous(could_be), _) => {
                        return Err(Unread::ambiguous(i, text, &could_be));
                    }
                    // an option of a module the rule has not loaded where it stands
                    // (`--ctstate` without `-m conntrack`, `--log-prefix` before `-j LOG`)
                    (Found::Unknown, Some(_)) if !foreign => {
                        return Err(Unread::unloaded(i, text, fam));
                    }
                    // a module the tables do not hold may read it (`--mark` of `-m connmark`,
                    // `--to` of `-j DNAT`): read as written, the line is refused elsewhere
                    (Found::Unknown, Some(o)) => (o, false, None, text.to_string()),
                    // nothing has it: getopt refuses it, unless a module, target or
                    // protocol match these tables do not hold may (the line is refused
                    // elsewhere then; so is `--source=10.0.0.1`, with its own help)
                    (Found::Unknown, None) if !foreign && !name.contains('=') => {
                        let near: Vec<&str> = ctx
                            .tables()
                            .flat_map(|(_, t)| t.iter().map(|o| o.0))
                            .collect();
                        return Err(Unread::unknown(i, text, &near));
                    }
                    (Found::Unknown, None) => {
                        walk.partial = true;
                        return Ok(walk);
                    }
                };
                // tcp's flags and iptables' counters read the word after their value too
                let extra = usize::from(matches!(o.0, "tcp-flags" | "set-counters"));
                (usize::from(o.2) + extra, own.then_some(o.1), from, read)
            } else if text.len() == 2 && text.starts_with('-') && text != "--" {
                let c = text.as_bytes()[1];
                if c == b'p' {
                    ctx.proto_negated = negated;
                }
                negated = false;
                match SHORT.iter().find(|(s, _)| *s == c) {
                    Some(&(_, n)) => (n, Some(c), Some(""), text.to_string()),
                    None => {
                        walk.partial = true;
                        return Ok(walk);
                    }
                }
            } else {
                // a value iptables reads itself (`!`, a rule number, the second word of
                // `--tcp-flags`)
                negated = text == "!";
                i += 1;
                continue;
            };
        // iptables-restore skips the rest of a rule of the other family where it says so
        // (the line is left out after this pass), and reads nothing past it
        if matches!((short, fam), (Some(b'6'), Fam::V4) | (Some(b'4'), Fam::V6)) {
            walk.other_family = true;
            return Ok(walk);
        }
        no_fragment_in_v6(short, fam, &toks[i].text, i)?;
        // its value's numbers in decimal, as iptables reads them
        if values > 0
            && let Some(v) = toks.get(i + 1)
        {
            let option = toks[i].text.as_str();
            match super::cnum::decimal(from, &read, &v.text, fam) {
                Ok(Some(d)) => toks[i + 1].text = d,
                Ok(None) => {}
                Err(why) => {
                    return Err(Unread {
                        at: i + 1,
                        what: format!("`{option} {}`", v.text),
                        why: format!("iptables-restore refuses it too: {why}"),
                    });
                }
            }
        }
        let value = toks.get(i + 1).map(|t| t.text.clone());
        match (short, value) {
            (Some(c @ (b'i' | b'o')), _) => walk.ifaces.push((i, c == b'o')),
            (Some(b'A' | b'I'), Some(v)) => walk.chain = Some(v),
            // a match module's options, or a target's (a chain's name loads none)
            (Some(c @ (b'm' | b'j')), Some(v)) => {
                other_family_module(c, &v, fam, i + 1)?;
                let target = v.bytes().all(|b| b.is_ascii_uppercase());
                match module(&v, fam).filter(|_| target == (c == b'j')) {
                    Some(m) => {
                        ctx.load(m);
                        walk.insts.push((m, i + 1));
                    }
                    // a target of iptables' own, or a chain (upper case too, at times:
                    // a name no extension has is a chain, whose jump takes no option)
                    None if c == b'j' && !proto::XT_TARGETS.contains(&v.as_str()) => {}
                    None => ctx.foreign = true,
                }
            }
            (Some(b'p'), Some(v)) => {
                // the protocols whose match iptables loads and these tables do not hold
                ctx.proto_opts = foreign_proto_opts(&v, fam);
                ctx.proto = Some(v);
            }
            _ => {}
        }
        i += 1 + values;
    }
    Ok(walk)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spelled(line: &str, fam: Fam) -> Result<String, Unread> {
        let mut toks = super::super::lex::words(line, 0).unwrap();
        spell_out(&mut toks, fam)?;
        Ok(toks
            .iter()
            .map(|t| t.text.as_str())
            .collect::<Vec<_>>()
            .join(" "))
    }

    fn v4(line: &str) -> String {
        spelled(line, Fam::V4).unwrap_or_else(|e| panic!("{line}: {e:?}"))
    }

    fn ambiguous(line: &str) -> Vec<String> {
        match spelled(line, Fam::V4) {
            // the names in `(`--a`, `--b`)`
            Err(a) => a
                .what
                .split_once(" here (")
                .expect("ambiguous")
                .1
                .split('`')
                .skip(1)
                .step_by(2)
                .map(str::to_string)
                .collect(),
            Ok(s) => panic!("{line}: read as {s}"),
        }
    }

    #[test]
    fn abbreviations_are_written_out_as_getopt_reads_them() {
        // each checked with iptables-restore 1.8.9 in a namespace
        assert_eq!(
            v4("--app INPUT --proto udp -j ACCEPT"),
            "--append INPUT --protocol udp -j ACCEPT"
        );
        assert_eq!(
            v4("-A INPUT -p tcp --dp 22 -j ACCEPT"),
            "-A INPUT -p tcp --dport 22 -j ACCEPT"
        );
        assert_eq!(
            v4("-A INPUT -p 6 --dp 80 -j ACCEPT"),
            "-A INPUT -p 6 --dport 80 -j ACCEPT"
        );
        assert_eq!(
            v4("-A INPUT -p TCP --sy -j ACCEPT"),
            "-A INPUT -p TCP --syn -j ACCEPT"
        );
        assert_eq!(
            v4("-A INPUT -p tcp --dest 1.2.3.4 --dport 80 -j ACCEPT"),
            "-A INPUT -p tcp --destination 1.2.3.4 --dport 80 -j ACCEPT"
        );
        assert_eq!(
            v4("-A INPUT -m state --sta NEW -j ACCEPT"),
            "-A INPUT -m state --state NEW -j ACCEPT"
        );
        assert_eq!(
            v4("-A INPUT -p tcp -j REJECT --reject tcp-reset"),
            "-A INPUT -p tcp -j REJECT --reject-with tcp-reset"
        );
        assert_eq!(v4("-A INPUT --frag -j DROP"), "-A INPUT --fragment -j DROP");
        assert_eq!(
            v4("-A INPUT --fragments -j DROP"),
            "-A INPUT --fragment -j DROP"
        );
        assert_eq!(
            v4("-A INPUT -s 1.2.3.4 --jum ACCEPT"),
            "-A INPUT -s 1.2.3.4 --jump ACCEPT"
        );
        assert_eq!(
            v4("-A INPUT -p tcp -m multiport --dp 1,2 -j ACCEPT"),
            "-A INPUT -p tcp -m multiport --dports 1,2 -j ACCEPT"
        );
        assert_eq!(
            v4("-A INPUT -m limit --limit 5/s --limit-b 3 -j LOG --log-p x"),
            "-A INPUT -m limit --limit 5/s --limit-burst 3 -j LOG --log-prefix x"
        );
        assert_eq!(
            v4("-A INPUT -m ttl --ttl 64 -j ACCEPT"),
            "-A INPUT -m ttl --ttl-eq 64 -j ACCEPT"
        );
        assert_eq!(
            v4("-A INPUT -m recent --name x --rc --sec 60 --hit 3 -j DROP"),
            "-A INPUT -m recent --name x --rcheck --seconds 60 --hitcount 3 -j DROP"
        );
        // a value is not an option, whatever it looks like
        assert_eq!(
            v4("-A INPUT -j LOG --log-prefix --ipv -m comment --comm --dest"),
            "-A INPUT -j LOG --log-prefix --ipv -m comment --comment --dest"
        );
        assert_eq!(
            v4("-A INPUT -p tcp --tcp-f SYN,ACK SYN --dp 22"),
            "-A INPUT -p tcp --tcp-flags SYN,ACK SYN --dport 22"
        );
        // numbers as the option getopt takes: after `-m multiport`, `--dport` is its
        // `--dports` (base 0), `-p udp`'s own `--dport` reads decimal (found by the spelling
        // test over the corpus)
        assert_eq!(
            v4("-A INPUT -p tcp -m multiport --dport 026 -j ACCEPT"),
            "-A INPUT -p tcp -m multiport --dports 22 -j ACCEPT"
        );
        assert_eq!(
            v4("-A INPUT -p udp --dport 026"),
            "-A INPUT -p udp --dport 026"
        );
        assert_eq!(
            v4("-A INPUT -p tcp --dport 026"),
            "-A INPUT -p tcp --dport 22"
        );
        // a rule of the other family is read only up to where it says so (then skipped)
        assert_eq!(
            v4("-A INPUT -6 --in lo --dport 08"),
            "-A INPUT -6 --in lo --dport 08"
        );
        assert!(spelled("-A INPUT --in lo -6", Fam::V4).is_err());
        // IPv6's own modules
        assert_eq!(
            spelled("-A INPUT -p ipv6-icmp --icmpv6 1 -m hl --hl 255", Fam::V6).unwrap(),
            "-A INPUT -p ipv6-icmp --icmpv6-type 1 -m hl --hl-eq 255"
        );
    }

    #[test]
    fn what_getopt_cannot_tell_apart_is_ambiguous() {
        assert_eq!(
            ambiguous("-A INPUT -p tcp -m tcp --dest 1.2.3.4"),
            ["--destination", "--destination-port"]
        );
        // the protocol's match is loaded by --dport, and then --dest is ambiguous
        assert_eq!(
            ambiguous("-A INPUT -p tcp --dport 80 --dest 1.2.3.4"),
            ["--destination", "--destination-port"]
        );
        assert_eq!(
            ambiguous("-A INPUT --in lo"),
            ["--insert", "--in-interface"]
        );
        assert_eq!(
            ambiguous("-A INPUT -m conntrack --ctst NEW"),
            ["--ctstate", "--ctstatus"]
        );
        assert_eq!(
            ambiguous("-A INPUT -m recent --na x --se"),
            ["--set-counters", "--set", "--seconds"]
        );
        // one name for each option: `--s` is `--source` (or `--src`), `--set-counters`, or tcp's
        // `--sport` (or `--source-port`) or `--syn`
        assert_eq!(
            ambiguous("-A INPUT -p tcp -m tcp --s 1"),
            ["--source", "--set-counters", "--source-port", "--syn"]
        );
    }

    #[test]
    fn names_the_importer_reads_stay_as_written() {
        // but as the option getopt takes them for
        assert_eq!(
            v4("-A INPUT -p tcp -m multiport --dport 1,2 -m tcp --dport 3"),
            "-A INPUT -p tcp -m multiport --dports 1,2 -m tcp --dport 3"
        );
        for line in [
            "-A INPUT -p tcp --source-port 1 --destination-port 2 -j ACCEPT",
            "-A INPUT -p tcp -m hashlimit --hashlimit 5/s --hashlimit-name x -j ACCEPT",
            "[0:0] -A INPUT -m connmark --unknown --dest x",
        ] {
            assert_eq!(v4(line), line);
        }
        // an option nothing loaded has: iptables-restore's "unknown option", with the
        // loaded option it is closest to
        for (line, word, near) in [
            (
                "-A INPUT -m conntrack --cstate NEW",
                "--cstate",
                Some("--ctstate"),
            ),
            (
                "-A INPUT -m state --cstate NEW",
                "--cstate",
                Some("--state"),
            ),
            ("-A INPUT -p tcp --dprt 22", "--dprt", Some("--dport")),
            ("-A INPUT --frobnicate -j ACCEPT", "--frobnicate", None),
        ] {
            let u = spelled(line, Fam::V4).unwrap_err();
            assert_eq!(u.what, format!("unknown option `{word}`"), "{line}");
            assert!(
                u.why.contains("refuses it too (\"unknown option\")"),
                "{line}"
            );
            match near {
                Some(n) => assert!(
                    u.why.ends_with(&format!("did you mean `{n}`?")),
                    "{line}: {u:?}"
                ),
                None => assert!(!u.why.contains("did you mean"), "{line}: {u:?}"),
            }
        }
        // an option of a module the rule has not loaded: iptables-restore's "unknown option"
        for (line, word) in [
            ("-A INPUT -m state --ctstate NEW -j ACCEPT", "--ctstate"),
            ("-A INPUT --log-prefix x -j LOG", "--log-prefix"),
            ("-A INPUT -j ACCEPT --log-uid", "--log-uid"),
        ] {
            let u = spelled(line, Fam::V4).unwrap_err();
            assert!(
                u.what.starts_with(&format!("`{word}` where no module")),
                "{line}: {u:?}"
            );
        }
        // unless a module these tables do not hold may read it (`-j DNAT --to`)
        let line = "-A PREROUTING -p tcp -j DNAT --to 10.0.0.1";
        assert_eq!(v4(line), line);
        // -m ttl is IPv4's: ip6tables cannot load it
        let u = spelled("-A INPUT -m ttl --ttl 5", Fam::V6).unwrap_err();
        assert!(u.what.contains("`-m ttl` in an ip6tables file"), "{u:?}");
    }
}
