//! Options a rule gives at most once, and what a second one means: refused where iptables
//! refuses it too (`-s` twice) or where statewall reads one per rule, and read together
//! with the first where a second match module gives it (`-m ttl --ttl-gt 5 -m ttl --ttl-lt
//! 10`: a packet must pass both).

use super::cond::Cond;
use super::lex::Tok;
use super::lines::Parser;
use super::rule::Draft;

/// Options a rule gives at most once (iptables refuses the second: "multiple -s flags not
/// allowed"; a match module's, in a second `-m` only), each with the other ways to write
/// it; a second one is refused here too, not read as a union or the last one winning, but
/// for [`MERGED`].
const ONCE: &[&[&str]] = &[
    &["-f", "--fragment"],
    &["-c", "--set-counters"],
    &["-p", "--protocol"],
    &["-s", "--source", "--src"],
    &["-d", "--destination", "--dst"],
    &["-i", "--in-interface"],
    &["-o", "--out-interface"],
    &["--sport", "--source-port", "--sports", "--source-ports"],
    &["--syn", "--tcp-flags"],
    &["-j", "--jump", "-g", "--goto"],
    &[
        "--dport",
        "--destination-port",
        "--dports",
        "--destination-ports",
    ],
    &["--state", "--ctstate"],
    &["--ctorigdstport"],
    &["--ctorigdst"],
    &["--ctorigsrc"],
    &["--ctproto"],
    &["--icmp-type", "--icmpv6-type"],
    &["--reject-with"],
    &["--src-type"],
    &["--dst-type"],
    &["--pkt-type"],
    &["--rt-type"],
    &["--tcp-option"],
    &["--mac-source"],
    &["--length"],
    &["--mss"],
    &["--ttl-eq", "--ttl-lt", "--ttl-gt"],
    &["--hl-eq", "--hl-lt", "--hl-gt"],
    &["--src-range"],
    &["--dst-range"],
];

/// The options of [`ONCE`] a match module gives (iptables takes a second in a second
/// `-m`), and of those the ones a second reads together with the first (`merged`).
const MODULE_ONCE: &[&str] = &[
    "--sport",
    "--syn",
    "--dport",
    "--state",
    "--ctorigdstport",
    "--ctorigdst",
    "--ctorigsrc",
    "--ctproto",
    "--icmp-type",
    "--src-type",
    "--dst-type",
    "--pkt-type",
    "--rt-type",
    "--tcp-option",
    "--mac-source",
    "--length",
    "--mss",
    "--ttl-eq",
    "--hl-eq",
    "--src-range",
    "--dst-range",
];
/// Of [`MODULE_ONCE`], those a second match module's is read together with the first, each
/// with how the first's reading is cleared for the second to be read on its own.
type Clear = fn(&mut Cond);
const MERGED: &[(&str, Clear)] = &[
    ("--state", |c| c.states = None),
    ("--src-type", |c| c.src_type = None),
    ("--dst-type", |c| c.dst_type = None),
    ("--pkt-type", |c| c.pkt_type = None),
    ("--length", |c| c.lengths = None),
    ("--mss", |c| c.mss = None),
    ("--ttl-eq", |c| c.ttls = None),
    ("--hl-eq", |c| c.ttls = None),
];

impl Parser<'_> {
    /// The option at `toks[i]` when it is one of [`ONCE`] given before in the rule: where
    /// the next option starts (None: the rule ends early). None when it is not.
    pub(super) fn given_once(
        &mut self,
        d: &mut Draft,
        toks: &[Tok],
        i: usize,
    ) -> Option<Option<usize>> {
        let t = &toks[i];
        let once = ONCE.iter().find(|o| o.contains(&t.text.as_str()))?;
        let name = once[0];
        if !d.given.contains(&name) {
            d.given.push(name);
            return None;
        }
        if let Some(&(_, clear)) = MERGED.iter().find(|(n, _)| *n == name)
            && d.neg.is_none()
        {
            return Some(self.merged(d, toks, i, (name, clear)));
        }
        d.neg = None;
        // said once per option and rule, however often it is repeated; its value skipped
        if !d.repeated.contains(&name) {
            d.repeated.push(name);
            let why = if MODULE_ONCE.contains(&name) {
                format!(
                    "each `-m` match takes one `{name}`, and statewall reads one per rule (a second match module's is read together with the first only for connection states, address and packet types, lengths, MSS values and TTLs)"
                )
            } else {
                format!("iptables-restore refuses it too: iptables takes one `{name}` per rule")
            };
            let or = if name == "-s" {
                ", or list the sources as one `-s a,b`"
            } else {
                ""
            };
            self.err(
                t.span.clone(),
                format!("`{}` a second time in one rule", t.text),
                format!("{why}: split the rule, one per value{or}"),
            );
        }
        // past its values: `-f` has none, `-c` two
        let values = match name {
            "-f" => 0,
            "-c" => 2,
            _ => 1,
        };
        Some(Some((i + 1 + values).min(toks.len())))
    }

    /// A second match module's option `name` at `toks[i]` (one of [`MERGED`]), read on its
    /// own and then together with the first: a packet must pass both. Where none can, the
    /// rule matches nothing (left out, noted), unless a match that counts or stamps comes
    /// with it (it may have run before the second), which is refused.
    fn merged(
        &mut self,
        d: &mut Draft,
        toks: &[Tok],
        i: usize,
        (name, clear): (&'static str, Clear),
    ) -> Option<usize> {
        let first = d.cond.clone();
        clear(&mut d.cond);
        d.given.retain(|g| *g != name);
        let next = self.option(d, toks, i);
        let name = toks[i].text.as_str();
        match first.and(&d.cond) {
            Some(both) => d.cond = both,
            None if d.counts() => {
                self.err(toks[i].span.clone(), format!("a second match (`{name}`) that no packet of the first passes, in a rule that counts"), "the rule matches no packet, but a `-m recent`, `-m limit` or `-m connlimit` before its second match may still count or stamp the packets of its first: take the rule out, or write what it is meant to match");
            }
            None => {
                d.never = Some(format!(
                    "no packet passes both its first match and its second, `{name}`"
                ))
            }
        }
        next
    }
}
