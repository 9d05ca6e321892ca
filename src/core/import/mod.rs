//! iptables-save text → a statewall policy (TOML text, and the `Policy` it parses to).
//!
//! Pure: no I/O. The CLI reads the files and prints. The importer never guesses: a construct
//! the policy model cannot express with the same meaning stops the import with the place and
//! the reason, and every problem is reported at once.
//!
//! How it works: each of the `*filter` table's `INPUT`, `FORWARD` and `OUTPUT` chains (the
//! policy's input, `[forward]` and `[output]` sections) is flattened (user chains jumped to are
//! inlined in order, their conditions joined with the jump's), LOG, `-m limit` and `-m recent`
//! rules are placed by `extra` (a `log_final`, an entry's `log` or `limit`, or a note), and every
//! remaining rule is classified into statewall's fixed chain order — blocks · established ·
//! invalid · loopback · icmp · allows · rejects · final. Reordering must not change any packet's verdict:
//! two rules whose order statewall would swap must either have the same verdict or match
//! disjoint packets, otherwise the file is refused at the later rule.
//!
//! The importer is split by stage: `lex` (a line into words), `lines` (the line parser:
//! tables, chains, commands), `rule` (the rule parser: one `-A` rule's options) with `values`
//! (their values) and `cond` (the packets a rule matches), `flatten` (INPUT with the chains
//! it jumps to inlined), `analyse` with `classify` (statewall's fixed order, and whether
//! moving into it changes a verdict), then `build` (entries from the rules, `entries`, named
//! by `naming`) and `text` (the commented policy file).

mod above;
mod addrtype;
mod analyse;
mod build;
mod bytes;
mod chains;
mod classify;
mod clock;
pub(crate) mod cnum;
mod cond;
mod connlimit;
mod contains;
mod cthelper;
mod ctstate;
mod entries;
mod exthdr;
mod extra;
mod flatten;
mod fold;
mod getopt;
mod header;
mod htable;
mod icmp;
mod ipsec;
mod lex;
mod lines;
mod mark;
mod mirror;
mod mss;
mod naming;
mod notes;
mod once;
mod owner;
mod paths;
mod pkttype;
mod rate;
mod recent;
mod rule;
mod saved;
mod text;
mod trap;
mod u32;
mod values;
mod xtcheck;

use std::ops::Range;

use crate::core::diag::{Diagnostic, Diags};
use crate::core::services::NameDb;
use analyse::{Lower, analyse, analyse_with};
use build::build;

/// What IPv6 gets: statewall's table is `inet`, so an IPv4-only file must say.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ipv6 {
    /// no choice made: the import is refused (it would silently decide IPv6's fate)
    Unspecified,
    /// `--mirror-ipv6`: IPv6 gets the IPv4 file's meaning, plus the ICMPv6 baseline
    Mirror,
    /// `--ipv6 FILE6`: the second file (an ip6tables-save) says what IPv6 gets
    File,
}

/// Which input a diagnostic belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Input {
    V4,
    V6,
}

/// A successful import.
#[derive(Debug, Clone)]
pub struct Imported {
    /// the policy as TOML, commented with the lines it came from
    pub toml: String,
    /// the policy that TOML parses to
    pub policy: crate::core::model::Policy,
    /// what was left out on purpose, what was added, where meaning is approximated
    pub notes: Vec<String>,
}

pub use bytes::decode_comments;

/// Whether a text looks like iptables-save output: its first line that is neither blank nor a
/// comment starts with `*` (a table) or `:` (a chain).
pub fn looks_like_iptables(src: &str) -> bool {
    // a byte order mark before it hides no iptables-save file (the import says where it is)
    let src = src.strip_prefix('\u{feff}').unwrap_or(src);
    src.lines()
        .map(str::trim)
        .find(|l| !l.is_empty() && !l.starts_with('#'))
        .is_some_and(|l| l.starts_with('*') || l.starts_with(':'))
}

/// Why an import was refused: every problem found, the first [`crate::core::diag::SHOWN`] in
/// full (the IPv4 file's first, each file's by position) and the rest counted.
#[derive(Debug, Clone, Default)]
pub struct Problems(Diags, [bool; 2]);

impl Problems {
    fn add(&mut self, input: Input, d: Diags) {
        self.1[input as usize] |= d.total() > 0;
        self.0.absorb(input as u8, d, |_| {});
    }

    /// Whether problems were found in the IPv4 file, and in the IPv6 one (shown or only
    /// counted).
    pub fn in_inputs(&self) -> [bool; 2] {
        self.1
    }

    /// The problems shown, with the input each points into.
    pub fn iter(&self) -> impl Iterator<Item = (Input, &Diagnostic)> {
        self.0.groups().map(|(g, d)| {
            let input = if g == Input::V6 as u8 {
                Input::V6
            } else {
                Input::V4
            };
            (input, d)
        })
    }

    /// Problems found, shown or not.
    pub fn len(&self) -> usize {
        self.0.total()
    }

    pub fn is_empty(&self) -> bool {
        self.0.total() == 0
    }

    /// What was only counted, by kind (see [`Diags::summary`]).
    pub fn summary(&self) -> Option<String> {
        self.0.summary()
    }
}

/// Imports an iptables-save text (and, with `Ipv6::File`, an ip6tables-save text `src6`).
/// Port names mean what the catalogue says ([`NameDb::builtin`]), and no user or group name
/// is known; see [`import_with`].
pub fn import(src: &str, src6: Option<&str>, ipv6: Ipv6) -> Result<Imported, Problems> {
    import_with(src, src6, ipv6, &NameDb::builtin())
}

/// [`import`], with port, user and group names (`--dport snmp`, `--uid-owner root`) read as
/// `services` says: the host's `/etc/services`, `/etc/passwd` and `/etc/group`, as
/// iptables-restore there reads them.
pub fn import_with(
    src: &str,
    src6: Option<&str>,
    ipv6: Ipv6,
    services: &NameDb,
) -> Result<Imported, Problems> {
    crate::core::diag::new_texts();
    let mut problems = Problems::default();
    let mut v4 = analyse(src, Fam::V4, services, Lower::default());
    // the lists whose tables the IPv4 file makes with a /32 mask, which its IPv6 rules share
    let wide = v4
        .as_ref()
        .map(|a| a.masked_lists.clone())
        .unwrap_or_default();
    let mut v6 = match (ipv6, src6) {
        (Ipv6::File, Some(s6)) => {
            Some(analyse_with(s6, Fam::V6, services, Lower::default(), &wide))
        }
        _ => None,
    };
    // statewall's baseline serves both families: where one file has an established or
    // loopback accept, or an INVALID drop, the other lacks, both are read again with those
    // rules as entries. A reading with some lowered can show another difference (an IPv4
    // loopback accept after the lowered established allow and an ICMP drop is no longer the
    // loopback rule; the IPv6 one, with nothing between, still is): read again until nothing
    // new is lowered. Each round lowers one more rule of four at least.
    if let (Ok(a4), Some(Ok(a6)), Some(s6)) = (&v4, &v6, src6) {
        let (mut lower, mut read) = (lowering(a4, a6), Lower::default());
        while lower != read {
            // the last readings go before the next are made: never four at once
            drop(std::mem::replace(&mut v4, Err(Diags::new())));
            drop(v6.take());
            v4 = analyse(src, Fam::V4, services, lower);
            v6 = Some(analyse_with(s6, Fam::V6, services, lower, &wide));
            read = lower;
            if let (Ok(b4), Some(Ok(b6))) = (&v4, &v6) {
                lower = lower.with(lowering(b4, b6));
            }
        }
    }
    if ipv6 == Ipv6::Unspecified {
        let at = first_line_span(src);
        let mut d = Diags::new();
        d.push(
            Diagnostic::error(
                at,
                src,
                "statewall's table covers IPv4 and IPv6 together, and this file only says what IPv4 gets",
            )
            .with_help(
                "choose what IPv6 gets: --mirror-ipv6 (the same services as IPv4, plus the ICMPv6 types IPv6 needs), or --ipv6 FILE6 with your ip6tables-save file",
            ),
        );
        problems.add(Input::V4, d);
    }
    let v4 = match v4 {
        Ok(a) => Some(a),
        Err(d) => {
            problems.add(Input::V4, d);
            None
        }
    };
    let v6 = match v6 {
        Some(Ok(a)) => Some(a),
        Some(Err(d)) => {
            problems.add(Input::V6, d);
            None
        }
        None => None,
    };
    if !problems.is_empty() {
        return Err(problems);
    }
    let v4 = v4.expect("no problems, so analysed");
    build(src, v4, v6, ipv6).map_err(|d| {
        let mut p = Problems::default();
        p.add(Input::V4, d);
        p
    })
}

/// What the two files' analyses must read as entries: the established or loopback accept,
/// or the INVALID drop, of a chain that one file has and the other lacks (said by a note of
/// each analysis); and the INVALID drop behind a loopback accept read so.
fn lowering(a4: &analyse::Analysis, a6: &analyse::Analysis) -> Lower {
    let pairs = [
        (Some(&a4.input), Some(&a6.input)),
        (a4.forward.as_ref(), a6.forward.as_ref()),
        (a4.output.as_ref(), a6.output.as_ref()),
    ];
    let mut lower = Lower::default();
    for (a, b) in pairs {
        let (est, lo, inv) = match (a, b) {
            (Some(a), Some(b)) => (
                a.established.is_some() != b.established.is_some(),
                a.loopback.is_some() != b.loopback.is_some(),
                a.invalid.is_some() != b.invalid.is_some(),
            ),
            // one file filters the chain and the other accepts everything there
            (Some(c), None) | (None, Some(c)) => (
                c.established.is_some(),
                c.loopback.is_some(),
                c.invalid.is_some(),
            ),
            (None, None) => (false, false, false),
        };
        // a loopback accept read as an allow keeps its place, and an INVALID drop after it in
        // either file can no longer come first: that drop is read as an entry too, in both
        let lo_first = |c: Option<&analyse::Chain>| {
            c.is_some_and(|c| matches!((c.loopback, c.invalid), (Some(l), Some(i)) if l < i))
        };
        let inv = inv || lo && (lo_first(a) || lo_first(b));
        lower = lower.with(Lower {
            established: est,
            loopback: lo,
            invalid: inv,
            icmp: false,
        });
    }
    lower
}

/// The first line that is neither blank nor a comment: where a problem with the whole file
/// is shown.
fn first_line_span(src: &str) -> Range<usize> {
    let mut off = 0;
    for l in src.split_inclusive('\n') {
        let t = l.trim_end_matches(['\n', '\r']);
        if !t.trim().is_empty() && !t.trim_start().starts_with('#') {
            return off..off + t.len();
        }
        off += l.len();
    }
    0..0
}

/// The address family of a file: an iptables-save or an ip6tables-save.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Fam {
    V4,
    V6,
}

impl Fam {
    /// "IPv4" or "IPv6".
    fn name(self) -> &'static str {
        match self {
            Fam::V4 => "IPv4",
            Fam::V6 => "IPv6",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Problems of both files of a pair are said to be in both, also where the IPv4 file's
    /// fill every place shown and the IPv6 file's are only counted.
    #[test]
    fn problems_know_their_files_beyond_those_shown() {
        let v4: String = (0..60)
            .map(|i| format!("-A INPUT -s 10.0.0.{i}/33 -j ACCEPT\n"))
            .collect();
        let v4 = format!("*filter\n:INPUT DROP [0:0]\n{v4}COMMIT\n");
        let v6 = "*filter\n:INPUT DROP [0:0]\n-A INPUT -s ::1/129 -j ACCEPT\nCOMMIT\n";
        let p = import(&v4, Some(v6), Ipv6::File).expect_err("refused");
        assert_eq!(p.len(), 61);
        assert!(p.iter().all(|(i, _)| matches!(i, Input::V4)), "{p:?}");
        assert_eq!(p.in_inputs(), [true, true]);
        let p = import(&v4, None, Ipv6::Mirror).expect_err("refused");
        assert_eq!(p.in_inputs(), [true, false]);
    }

    #[test]
    fn detection() {
        assert!(looks_like_iptables("# Generated\n*filter\n"));
        assert!(looks_like_iptables(":INPUT ACCEPT [0:0]\n"));
        assert!(!looks_like_iptables("mode = \"audit\"\n"));
        assert!(!looks_like_iptables(""));
        // an editor's byte order mark before it
        assert!(looks_like_iptables("\u{feff}# Generated\n*filter\n"));
        assert!(looks_like_iptables("\u{feff}*filter\n"));
        assert!(!looks_like_iptables("\u{feff}mode = \"audit\"\n"));
    }

    #[test]
    fn the_first_line_that_says_something() {
        let src = "# Generated\n\n*filter\r\nCOMMIT\n";
        assert_eq!(&src[first_line_span(src)], "*filter");
        assert_eq!(first_line_span("# only\n"), 0..0);
    }
}
