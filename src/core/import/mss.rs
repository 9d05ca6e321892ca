//! `-j TCPMSS` in FORWARD or OUTPUT: the section's `clamp_mss` (`--clamp-mss-to-pmtu` →
//! `"pmtu"`, `--set-mss N` → N). statewall's clamp is the first rule of its chain and takes
//! every SYN (`tcp flags syn / syn,rst`), so the rule must say just that (`-p tcp
//! --tcp-flags SYN,RST SYN`), and no rule before it may let a packet through or send it
//! elsewhere (drops, rejects and LOGs may come first: a dropped SYN is never forwarded).
//! A TCPMSS after rules that let packets through, whose SYNs are all dropped or rejected
//! after it, changes no packet that passes: left out, noted. Anything else is refused where
//! written. The rule leaves the walk: it decides nothing.

use super::classify::Hook;
use super::cond::Cond;
use super::notes::Notes;
use super::rule::{IptRule, Target};
use crate::core::diag::{Diagnostic, Diags, shorten};
use crate::core::model::Mss;

/// A chain's clamp: the rule's line, its text, what it clamps to.
pub(super) type Clamp = (u32, String, Mss);

/// The TCPMSS rules of `rules`, taken out: FORWARD's and OUTPUT's clamps.
pub(super) fn clamps(
    src: &str,
    rules: &mut Vec<IptRule>,
    policies: &Policies,
    diags: &mut Diags,
    notes: &mut Notes,
) -> [Option<Clamp>; 2] {
    let mut found: [Option<Clamp>; 2] = [None, None];
    let syn = Cond {
        proto: Some(6),
        flags: Some((0x06, 0x02)),
        ..Cond::default()
    };
    let mut gone = vec![false; rules.len()];
    let dropped = dropped_after(rules, &syn, policies);
    // FORWARD's and OUTPUT's first rule that lets packets through or sends them elsewhere
    let mut open: [Option<u32>; 2] = [None, None];
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
            if passes && open[at].is_none() {
                open[at] = Some(r.line);
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
        let plain = r.cond == syn
            && r.srcs.is_empty()
            && r.dsts.is_empty()
            && r.flag_alts.is_empty()
            && r.fragment.is_none()
            && r.extra.limit.is_none()
            && r.extra.recent.is_none()
            && r.extra.connlimit.is_none();
        // the rule says every SYN but with other TCP flags (`--syn` is FIN,SYN,RST,ACK / SYN):
        // no more matches, a narrower one, which leaves the SYN-ACKs unclamped
        let other_flags = r.cond.flags.is_some()
            && r.cond.flags != syn.flags
            && {
                let mut c = r.cond.clone();
                c.flags = syn.flags;
                c == syn
            }
            && r.srcs.is_empty()
            && r.dsts.is_empty()
            && r.flag_alts.is_empty()
            && r.fragment.is_none()
            && r.extra.limit.is_none()
            && r.extra.recent.is_none()
            && r.extra.connlimit.is_none();
        if other_flags {
            let (mask, comp) = r.cond.flags.unwrap_or_default();
            refuse(
                format!(
                    "a `-j TCPMSS` rule of other TCP flags than `-p tcp --tcp-flags SYN,RST SYN` (mask {mask:#04x}, set {comp:#04x}{})",
                    if (mask, comp) == (0x17, 0x02) {
                        ": `--syn`"
                    } else {
                        ""
                    }
                ),
                "statewall's clamp_mss lowers the MSS of every SYN its section sees (tcp flags syn / syn,rst), SYN-ACKs too; `--syn` (FIN,SYN,RST,ACK SYN) leaves the SYN-ACKs unclamped, which clamp_mss cannot: where clamping them too is meant, write the rule as `-p tcp --tcp-flags SYN,RST SYN -j TCPMSS …`",
            );
            continue;
        }
        if !plain {
            refuse(
                "a `-j TCPMSS` rule with more matches than `-p tcp --tcp-flags SYN,RST SYN`".into(),
                "statewall's clamp_mss lowers the MSS of every SYN its section sees (tcp flags syn / syn,rst), on every interface and from every source: where that is what is meant, write the rule as `-p tcp --tcp-flags SYN,RST SYN -j TCPMSS …`; a clamp of one interface's SYNs (`-o ppp0`) is not one statewall keeps",
            );
            continue;
        }
        if open[slot].is_some() && dropped[i] {
            gone[i] = true;
            notes.push(format!("line {}: `{}` is left out: the SYNs it would clamp are dropped or rejected after it (those the rules before it let through keep their MSS, as in the file), so it changes no packet that passes", r.line, shorten(&r.text, 80)));
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
        if let Some((line, ..)) = &found[slot] {
            refuse(
                format!(
                    "a second `-j TCPMSS` in {} (line {line} clamps already)",
                    r.chain
                ),
                "a SYN's MSS is clamped once: keep one TCPMSS rule",
            );
            continue;
        }
        let to = match mss {
            Mss::Pmtu => "what the route takes (clamp_mss = \"pmtu\")".to_string(),
            Mss::Value(v) => format!("{v} (clamp_mss = {v})"),
        };
        notes.push(format!("line {}: `{}` lowers every SYN's MSS option to {to}, the first rule of the {} section, as the rule is first in its chain among what lets packets through", r.line, shorten(&r.text, 80), match slot { 0 => "forward", _ => "output" }));
        found[slot] = Some((r.line, r.text.clone(), mss));
    }
    let mut k = 0;
    rules.retain(|_| {
        k += 1;
        !gone[k - 1]
    });
    found
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

/// The clamp of `hook` among `clamps` (FORWARD's, OUTPUT's).
pub(super) fn of(clamps: &[Option<Clamp>; 2], hook: Hook) -> Option<Clamp> {
    match hook {
        Hook::Forward => clamps[0].clone(),
        Hook::Output => clamps[1].clone(),
        Hook::Input => None,
    }
}
