//! `-j TCPMSS` in FORWARD or OUTPUT: the section's `clamp_mss` (`--clamp-mss-to-pmtu` →
//! `"pmtu"`, `--set-mss N` → N) where the rule says just `-p tcp --tcp-flags SYN,RST SYN`
//! (statewall's clamp takes every such SYN), a `[[<hook>.clamp]]` entry where it says which
//! SYNs with interfaces, addresses, ports, `-m tcpmss --mss` or other flags (`--syn`). Both
//! come first in their chain, so no rule before the TCPMSS may let a packet through or send
//! it elsewhere (drops, rejects and LOGs may come first: a dropped SYN is never forwarded);
//! they keep the file's order among themselves (a plain one after one with matches is an
//! entry too: a `-m tcpmss` reads what the clamps before it left), and a rule that reads
//! the MSS (`-m tcpmss`) may not come before one.
//! A TCPMSS after rules that let packets through, whose SYNs are all dropped or rejected
//! after it, changes no packet that passes: left out, noted. Anything else is refused where
//! written. The rule leaves the walk: it decides nothing.

use super::classify::Hook;
use super::cond::Cond;
use super::notes::Notes;
use super::rule::{IptRule, Target};
use crate::core::diag::{Diagnostic, Diags, shorten};
use crate::core::model::Mss;

/// What a clamp does not do as xt_TCPMSS does (`tcpmss_mangle_packet`: a SYN without the
/// option and without payload gets one, of at most 536 over IPv4, 1220 over IPv6; nft's
/// `tcp option maxseg size set` only rewrites an option that is there).
const NO_OPTION: &str = "a SYN without an MSS option keeps none, where iptables' TCPMSS adds one (at most 536, 1220 over IPv6)";

/// A chain's clamp: the rule's line, its text, what it clamps to.
pub(super) type Clamp = (u32, String, Mss);

/// A TCPMSS rule with matches, and what it clamps to: a clamp entry.
pub(super) type ClampRule = (IptRule, Mss);

/// FORWARD's and OUTPUT's clamps: the plain one (`clamp_mss`), those with matches.
#[derive(Default)]
pub(super) struct Clamps {
    plain: [Option<Clamp>; 2],
    matched: [Vec<ClampRule>; 2],
}

/// The TCPMSS rules of `rules`, taken out: FORWARD's and OUTPUT's clamps.
pub(super) fn clamps(
    src: &str,
    rules: &mut Vec<IptRule>,
    policies: &Policies,
    diags: &mut Diags,
    notes: &mut Notes,
) -> Clamps {
    let mut found: [Option<Clamp>; 2] = [None, None];
    let mut matched: [Vec<ClampRule>; 2] = [Vec::new(), Vec::new()];
    let syn = Cond {
        proto: Some(6),
        flags: Some(crate::core::model::CLAMP_FLAGS),
        ..Cond::default()
    };
    let mut gone = vec![false; rules.len()];
    // every segment with SYN set: what any TCPMSS rule a clamp takes may clamp (its flags
    // require SYN set, `says_which_syns`), SYN+RST ones of `--tcp-flags SYN SYN` too
    let any_syn = Cond {
        proto: Some(6),
        flags: Some((
            crate::core::model::CLAMP_FLAGS.1,
            crate::core::model::CLAMP_FLAGS.1,
        )),
        ..Cond::default()
    };
    let dropped = dropped_after(rules, &any_syn, policies);
    // FORWARD's and OUTPUT's first rule that lets packets through or sends them elsewhere
    let mut open: [Option<u32>; 2] = [None, None];
    // FORWARD's and OUTPUT's first rule that reads a SYN's MSS option (`-m tcpmss`): a clamp
    // after it in the file would come before it in statewall's chain
    let mut reads: [Option<u32>; 2] = [None, None];
    for (i, r) in rules.iter().enumerate() {
        let Target::Mss(mss) = r.target else {
            let at = match r.chain.as_str() {
                "FORWARD" => 0,
                "OUTPUT" => 1,
                _ => continue,
            };
            let passes = !matches!(
                r.target,
                Target::Drop | Target::Reject(_) | Target::Log | Target::Count
            );
            // a rule no SYN meets (`-p udp -j ACCEPT`) changes none a TCPMSS after it sees
            if passes && r.cond.overlaps(&any_syn) && open[at].is_none() {
                open[at] = Some(r.line);
            }
            if r.cond.mss.is_some() && r.cond.overlaps(&any_syn) && reads[at].is_none() {
                reads[at] = Some(r.line);
            }
            continue;
        };
        gone[i] = true;
        let mut refuse = |what: String, help: &str| {
            diags.push(Diagnostic::error(r.span.clone(), src, what).with_help(help));
        };
        let slot = match r.chain.as_str() {
            "FORWARD" => 0,
            "OUTPUT" => 1,
            c => {
                refuse(
                    format!("`-j TCPMSS` in chain {c}"),
                    "statewall clamps the MSS of the SYNs of its [forward] and [output] sections (clamp_mss): write the TCPMSS rule in FORWARD or OUTPUT itself",
                );
                continue;
            }
        };
        let which = says_which_syns(r);
        // every SYN clamp_mss takes, and nothing more: the section's clamp_mss
        let plain = which && r.cond == syn && r.srcs.is_empty() && r.dsts.is_empty();
        if !which {
            refuse(
                "a `-j TCPMSS` rule with matches a clamp entry cannot say".into(),
                "statewall's clamp entries ([[forward.clamp]], [[output.clamp]]) say which SYNs by interfaces (`-i`, `-o` and their `!`), addresses (`-s`, `-d` and their `!`), tcp ports, `-m tcpmss --mss` and TCP flags with SYN set (`--syn`, `--tcp-flags SYN,RST SYN`): leave the other matches (states, rates, marks, …) out of the TCPMSS rule, or keep it in iptables",
            );
            continue;
        }
        if open[slot].is_some() && dropped[i] {
            gone[i] = true;
            notes.push(format!("line {}: `{}` is left out: the SYNs it would clamp are dropped or rejected after it (those the rules before it let through keep their MSS, as in the file), so it changes no packet that passes", r.line, shorten(&r.text, 80)));
            continue;
        }
        if let Some(line) = reads[slot] {
            refuse(
                format!(
                    "`-j TCPMSS` after line {line}, which matches on the MSS option (`-m tcpmss`)"
                ),
                "statewall's clamps come first in their chain, so that rule would see the MSS this one lowers, where iptables shows it the SYN's own: move the TCPMSS rule before it, or keep it in iptables",
            );
            continue;
        }
        if let Some(line) = open[slot] {
            refuse(
                format!(
                    "`-j TCPMSS` after line {line}, which lets some packets through or sends them elsewhere"
                ),
                "iptables clamps only the SYNs that reach the TCPMSS rule, and statewall's clamp_mss is the first rule of its chain: move the TCPMSS rule before every ACCEPT and jump of its chain",
            );
            continue;
        }
        // a plain one after clamps with matches is one of them: clamp_mss comes first, and
        // a clamp's `tcp_mss` reads what the clamps before it left
        if !plain || !matched[slot].is_empty() {
            let to = match mss {
                Mss::Pmtu => "what the route takes".to_string(),
                Mss::Value(v) => v.to_string(),
            };
            notes.push(format!("line {}: `{}` lowers the MSS option of the SYNs it matches to {to}: a clamp entry, among the first rules of the {} section, as the rule is first in its chain among what lets packets through; {NO_OPTION}", r.line, shorten(&r.text, 80), match slot { 0 => "forward", _ => "output" }));
            matched[slot].push((r.clone(), mss));
            continue;
        }
        if let Some((line, ..)) = &found[slot] {
            refuse(
                format!(
                    "a second `-j TCPMSS` in {} (line {line} clamps already)",
                    r.chain
                ),
                "iptables lowers the MSS by each in turn, statewall's clamp_mss is one value: keep one TCPMSS rule (the lower value does what both do)",
            );
            continue;
        }
        let to = match mss {
            Mss::Pmtu => "what the route takes (clamp_mss = \"pmtu\")".to_string(),
            Mss::Value(v) => format!("{v} (clamp_mss = {v})"),
        };
        notes.push(format!("line {}: `{}` lowers every SYN's MSS option to {to}, the first rule of the {} section, as the rule is first in its chain among what lets packets through; {NO_OPTION}", r.line, shorten(&r.text, 80), match slot { 0 => "forward", _ => "output" }));
        found[slot] = Some((r.line, r.text.clone(), mss));
    }
    let mut k = 0;
    rules.retain(|_| {
        k += 1;
        !gone[k - 1]
    });
    Clamps {
        plain: found,
        matched,
    }
}

/// Whether a TCPMSS rule says which SYNs only with what a clamp entry keeps: interfaces,
/// addresses, tcp ports, MSS values, and TCP flags with SYN among those it requires set
/// (iptables takes the target only so).
fn says_which_syns(r: &IptRule) -> bool {
    let mut c = r.cond.clone();
    let flags = c.flags.take();
    (c.iif, c.oif, c.src, c.dst, c.ports, c.sports, c.mss) =
        (None, None, None, None, None, None, None);
    c.not_iif.clear();
    c.not_oif.clear();
    c.not_src.clear();
    c.not_dst.clear();
    // the SYN bit among those the flags require set (CLAMP_FLAGS' value is SYN alone)
    flags.is_some_and(|(mask, set)| mask & set & crate::core::model::CLAMP_FLAGS.1 != 0)
        && c == Cond {
            proto: Some(6),
            ..Cond::default()
        }
        && r.flag_alts.is_empty()
        && r.fragment.is_none()
        && r.never.is_none()
        && r.extra.limit.is_none()
        && r.extra.recent.is_none()
        && r.extra.connlimit.is_none()
}

/// The built-in chains' policies: chain → (policy, where it is written).
type Policies = std::collections::HashMap<String, (String, std::ops::Range<usize>)>;

/// For each rule, whether every SYN (`syn`) that gets past it is dropped or rejected in its
/// chain (FORWARD or OUTPUT): no later rule that may take one lets it through or sends it
/// elsewhere (a `-f` rule takes none: a later fragment has no TCP header), and an
/// unconditional DROP or REJECT, or the chain's DROP policy, ends it. One pass from the end.
fn dropped_after(rules: &[IptRule], syn: &Cond, policies: &Policies) -> Vec<bool> {
    let mut out = vec![false; rules.len()];
    for chain in ["FORWARD", "OUTPUT"] {
        let mut dropped = policies.get(chain).is_some_and(|(p, _)| p == "DROP");
        for (i, r) in rules
            .iter()
            .enumerate()
            .rev()
            .filter(|(_, r)| r.chain == chain)
        {
            out[i] = dropped;
            if r.fragment == Some(true) || r.never.is_some() || !r.cond.overlaps(syn) {
                continue;
            }
            match r.target {
                Target::Drop | Target::Reject(_) if super::chains::unconditional(r) => {
                    dropped = true
                }
                Target::Drop | Target::Reject(_) | Target::Log | Target::Count | Target::Mss(_) => {
                }
                _ => dropped = false,
            }
        }
    }
    out
}

impl Clamps {
    /// Where `hook`'s clamps are (INPUT has none).
    fn at(hook: Hook) -> Option<usize> {
        match hook {
            Hook::Forward => Some(0),
            Hook::Output => Some(1),
            Hook::Input => None,
        }
    }

    /// Whether `hook`'s chain clamps some SYNs.
    pub(super) fn any(&self, hook: Hook) -> bool {
        Clamps::at(hook).is_some_and(|i| self.plain[i].is_some() || !self.matched[i].is_empty())
    }

    /// `hook`'s chain with its clamps: the plain one (`clamp_mss`), those with matches.
    pub(super) fn attach(&self, c: super::analyse::Chain, hook: Hook) -> super::analyse::Chain {
        let Some(i) = Clamps::at(hook) else { return c };
        super::analyse::Chain {
            clamp_mss: self.plain[i].clone(),
            clamps: self.matched[i].clone(),
            ..c
        }
    }
}
