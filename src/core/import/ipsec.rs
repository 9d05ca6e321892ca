//! `-m policy` (xt_policy): whether a packet met IPsec. Its bare form, `--dir in|out --pol
//! ipsec|none`, becomes an entry's `ipsec_in` or `ipsec_out`: `--dir in --pol ipsec` matches a
//! packet the kernel decrypted (it has a security path: nft's `meta ipsec exists`, which
//! iptables-nft itself writes for it), `--dir out --pol ipsec` one whose route leads into an
//! IPsec policy (`rt ipsec exists`), `--pol none` the others (xt_policy answers `none` exactly
//! when it finds no security path, no transform on the route). `--pol` is `ipsec` when left
//! out. What the policy elements say of the states (`--proto`, `--mode`, `--spi`, `--reqid`,
//! `--tunnel-src`/`-dst`, `--strict`, `--next`) nf_tables cannot say in an inet table, and
//! is refused; under `--pol none` xt_policy reads no element, and neither does this.

use std::ops::Range;

use super::lex::Tok;
use super::lines::Parser;
use super::rule::Draft;

/// One `-m policy` of a rule, as its options are read.
#[derive(Debug, Default)]
pub(super) struct PolicyOpts {
    /// `--dir out` (Some(true)) or `--dir in`
    out: Option<bool>,
    /// `--pol none` (Some(true)) or `--pol ipsec`
    none: Option<bool>,
    /// the first element option, where it is (refused unless `--pol none`)
    element: Option<(String, Range<usize>)>,
    /// an option of it was refused already
    refused: bool,
}

/// The options of one policy element (and `--strict`, `--next`, which order them).
const ELEMENT: &[&str] = &[
    "--strict",
    "--reqid",
    "--spi",
    "--tunnel-src",
    "--tunnel-dst",
    "--proto",
    "--mode",
    "--next",
];

impl Parser<'_> {
    /// The policy option at `toks[i]` of the rule's last `-m policy`; None when it is none,
    /// else where the next option starts (None inside: the value is missing).
    pub(super) fn policy_option(
        &mut self,
        opts: Option<&mut PolicyOpts>,
        toks: &[Tok],
        i: usize,
    ) -> Option<Option<usize>> {
        let t = &toks[i];
        let name = t.text.as_str();
        if !matches!(name, "--dir" | "--pol") && !ELEMENT.contains(&name) {
            return None;
        }
        let o = opts?;
        let takes_value = !matches!(name, "--strict" | "--next");
        let next = i + 1 + usize::from(takes_value);
        if ELEMENT.contains(&name) {
            if o.element.is_none() {
                let end = if takes_value {
                    toks.get(i + 1).map_or(t.span.end, |v| v.span.end)
                } else {
                    t.span.end
                };
                o.element = Some((name.to_string(), t.span.start..end));
            }
            return Some(Some(next));
        }
        let v = self.value(toks, i)?;
        match (name, v.text.as_str()) {
            ("--dir", "in") => o.out = Some(false),
            ("--dir", "out") => o.out = Some(true),
            ("--pol", "ipsec") => o.none = Some(false),
            ("--pol", "none") => o.none = Some(true),
            _ => {
                o.refused = true;
                let valid = if name == "--dir" {
                    "`in` or `out`"
                } else {
                    "`ipsec` or `none`"
                };
                self.err(
                    v.span.clone(),
                    format!("`{name} {}`", v.text),
                    format!(
                        "iptables-restore refuses it too: `{name}` takes {valid}, in lower case"
                    ),
                );
            }
        }
        Some(Some(next))
    }

    /// The rule's `-m policy` matches into its condition (`ipsec_in`, `ipsec_out`); two that
    /// ask one direction opposite things match no packet (the rule is left out, noted).
    pub(super) fn policies_into(&mut self, d: &mut Draft, all: Vec<PolicyOpts>) {
        for o in all.into_iter().filter(|o| !o.refused) {
            let Some(out) = o.out else {
                // iptables refuses a `-m policy` without `--dir` (xtcheck says so)
                continue;
            };
            let none = o.none.unwrap_or(false);
            if let (Some((opt, at)), false) = (&o.element, none) {
                let help = if opt == "--proto" {
                    "nf_tables has no match of the IPsec state's protocol in an inet table (`meta ipsec` and `rt ipsec` say whether a packet met IPsec at all, as `-m policy` says without an element). Where this host's IPsec makes no AH-only SAs (strongSwan's and Libreswan's ESP, compressed or not), `--proto esp` excludes no packet: remove it; else keep the rule in iptables"
                } else {
                    "nf_tables has no match of an IPsec state's mode, SPI, request id or tunnel ends in an inet table, and no order of them (`--strict`, `--next`): statewall's `ipsec_in`/`ipsec_out` say whether a packet met IPsec at all, as `-m policy --dir in|out --pol ipsec` says without an element"
                };
                self.err(
                    at.clone(),
                    format!("`{opt}` of a `-m policy` element"),
                    help,
                );
                continue;
            }
            let present = !none;
            let slot = if out {
                &mut d.cond.ipsec_out
            } else {
                &mut d.cond.ipsec_in
            };
            match *slot {
                Some(had) if had != present => {
                    d.never = Some(format!(
                        "two `-m policy --dir {}` ask for IPsec and for none at once",
                        if out { "out" } else { "in" }
                    ));
                }
                _ => *slot = Some(present),
            }
        }
    }
}
