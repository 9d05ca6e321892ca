//! Building the policy from the analysed file(s): how it ends, its entries, the notes on
//! what changed on the way, and the text, checked by parsing it back.

use super::analyse::Analysis;
use super::entries::{Entry, entry_of, join_families, merge, pin_to_v4, v6_entry_of, with_of};
use super::flatten::Verdict;
use super::naming::make_unique;
use super::notes::Notes;
use super::rule::RejectKind;
use super::text::policy_text;
use super::{Imported, Ipv6, first_line_span};
use crate::core::diag::{Diagnostic, Diags};
use crate::core::model::IcmpReject;

/// How the policy ends.
pub(super) struct Ending {
    pub(super) mode: &'static str,
    /// the final rule's ICMP answer; None for a drop (or audit's accept)
    pub(super) reject: Option<IcmpReject>,
    /// where the final verdict comes from: "from line N: …" or the chain policy
    pub(super) origin: String,
    /// `log_final = { … }  # line N: …`, from a LOG of every packet right before it
    pub(super) log_final: Option<String>,
}

pub(super) fn build(
    src: &str,
    v4: Analysis,
    v6: Option<Analysis>,
    ipv6: Ipv6,
) -> Result<Imported, Diags> {
    let mut notes = v4.notes.clone();
    if let Some(v6) = &v6 {
        for n in v6.notes.iter() {
            notes.push(format!("IPv6 file: {n}"));
        }
        let diags = families_differ(src, &v4, v6);
        if !diags.is_empty() {
            return Err(diags);
        }
    }
    let ending = ending(&v4, &mut notes);
    let (allows, rejects) = entries(&v4, v6.as_ref(), ipv6, &mut notes);
    if ipv6 == Ipv6::Mirror {
        mirror_notes(allows.iter().chain(rejects.iter()), &mut notes);
    }
    let listed = notes.clone().into_vec();
    let text = policy_text(&v4, &listed, &ending, &allows, &rejects);
    reparse(src, text, notes)
}

/// statewall has one final rule and one baseline for both families: the two files must
/// agree on them.
fn families_differ(src: &str, v4: &Analysis, v6: &Analysis) -> Diags {
    let mut diags = Diags::new();
    let same = |a: Option<usize>, b: Option<usize>| a.is_some() == b.is_some();
    if v4.final_rule.1 != v6.final_rule.1 {
        diags.push(Diagnostic::error(first_line_span(src), src, "the IPv4 and IPv6 files end differently").with_help("statewall has one final rule for both families: make both files end with the same verdict"));
    }
    if !same(v4.established, v6.established)
        || !same(v4.invalid, v6.invalid)
        || !same(v4.loopback, v6.loopback)
    {
        diags.push(
            Diagnostic::error(
                first_line_span(src),
                src,
                "the IPv4 and IPv6 files differ in their established, invalid or loopback rules",
            )
            .with_help("statewall's baseline is the same for both families"),
        );
    }
    diags
}

/// The mode and final rule of the policy, from the IPv4 file's final rule.
fn ending(v4: &Analysis, notes: &mut Notes) -> Ending {
    let (mode, reject) = match v4.final_rule.1 {
        Verdict::Accept => ("audit", None),
        Verdict::Drop => ("enforce", None),
        Verdict::Reject(RejectKind::Icmp(k)) => ("enforce", Some(k)),
        Verdict::Reject(RejectKind::TcpReset) => unreachable!("refused in analyse"),
    };
    let origin = match v4.final_rule.0 {
        Some(i) => format!("from line {}: {}", v4.rules[i].line, v4.rules[i].text),
        None => "from the INPUT chain policy".to_string(),
    };
    if mode == "audit" {
        notes.push(format!("everything not allowed is accepted ({origin}): imported as mode = \"audit\", where the final rule counts and accepts; check the counters, then switch to enforce"));
    }
    if let (Some(i), Some(IcmpReject::AdminProhibited)) = (v4.final_rule.0, reject)
        && v4.rules[i]
            .reject_with
            .as_deref()
            .is_some_and(|w| w.contains("host-prohibited") || w.contains("net-prohibited"))
    {
        notes.push(format!("line {}: statewall answers with ICMP 'administratively prohibited' (code 13) instead of 'host/net prohibited' (code 10/9); clients see the same error (host unreachable)", v4.rules[i].line));
    }
    Ending {
        mode,
        reject,
        origin,
        log_final: log_final(v4, notes),
    }
}

/// The `log_final` line of a LOG of every packet before the final rule: its prefix, level
/// and `-m limit`; what statewall says otherwise is noted.
fn log_final(v4: &Analysis, notes: &mut Notes) -> Option<String> {
    use crate::core::model::{LOG_LEVELS, LOG_PREFIX_MAX, Rate};
    let r = &v4.rules[v4.log_final?];
    let l = r.line;
    let mut parts = Vec::new();
    if let Some(p) = &r.log.prefix {
        let fits = p.len() <= LOG_PREFIX_MAX
            && p.bytes()
                .all(|b| (0x20..0x7f).contains(&b) && b != b'"' && b != b'\\');
        if fits && !p.is_empty() {
            parts.push(format!("prefix = \"{p}\""));
        } else {
            notes.push(format!("line {l}: the log prefix is not kept (statewall's are up to {LOG_PREFIX_MAX} printable characters without `\"` or `\\`): statewall's default prefix is used"));
        }
    }
    if let Some(level) = &r.log.level {
        let name = match level.as_str() {
            "error" => Some("err"),
            "warning" => Some("warn"),
            n => LOG_LEVELS.iter().copied().find(|x| *x == n).or_else(|| {
                n.parse::<usize>()
                    .ok()
                    .and_then(|i| LOG_LEVELS.get(i).copied())
            }),
        };
        match name {
            Some(n) => parts.push(format!("level = \"{n}\"")),
            None => notes.push(format!(
                "line {l}: log level `{level}` is not kept: statewall logs at warn"
            )),
        }
    }
    // iptables' limit: 3/hour and a burst of 5 unless said
    let rate = r.log.limit.as_deref().map(|t| (t, Rate::parse(t)));
    match rate {
        Some((text, Ok(rate))) => {
            parts.push(format!("limit = \"{text}\""));
            let burst = r.log.burst.as_deref().and_then(|b| b.parse::<u32>().ok()).unwrap_or(5);
            if burst != rate.burst {
                parts.push(format!("burst = {burst}"));
            }
        }
        Some((text, Err(_))) => notes.push(format!("line {l}: log limit `{text}` is not a rate statewall keeps: it logs at most 5/minute")),
        None => notes.push(format!("line {l}: this LOG has no `-m limit`; statewall never logs unbounded: at most 5/minute (add limit = \"…\" to log_final for more)")),
    }
    Some(format!(
        "log_final = {{ {} }}  # line {l}: {}",
        parts.join(", "),
        crate::core::diag::shorten(&r.text, 120).replace('\n', " ")
    ))
}

/// The allow and reject entries, for both families as `ipv6` says, merged and uniquely
/// named.
fn entries(
    v4: &Analysis,
    v6: Option<&Analysis>,
    ipv6: Ipv6,
    notes: &mut Notes,
) -> (Vec<Entry>, Vec<Entry>) {
    let mut allows: Vec<Entry> = v4.allows.iter().map(|f| entry_of(v4, f, None)).collect();
    let mut rejects: Vec<Entry> = v4
        .rejects
        .iter()
        .map(|f| entry_of(v4, f, with_of(f)))
        .collect();
    match ipv6 {
        Ipv6::Mirror => {
            notes.push("--mirror-ipv6: entries without a source apply to IPv6 as well; statewall adds its ICMPv6 baseline (errors, echo, MLD, router and neighbour discovery), which IPv6 cannot work without".into());
        }
        Ipv6::File => {
            notes.push("--ipv6: the IPv4 file's entries are pinned to IPv4 (from 0.0.0.0/0 when they had no source) and the IPv6 file's to IPv6 (::/0); statewall adds its ICMPv6 baseline (errors, echo, MLD, router and neighbour discovery)".into());
            allows
                .iter_mut()
                .chain(rejects.iter_mut())
                .for_each(pin_to_v4);
            if let Some(v6) = v6 {
                allows.extend(v6.allows.iter().map(|f| v6_entry_of(v6, f, None)));
                rejects.extend(v6.rejects.iter().map(|f| v6_entry_of(v6, f, with_of(f))));
                if v6.icmp.is_some() {
                    notes.push("IPv6 file: statewall accepts the ICMPv6 types IPv6 needs (1-4, 128-136, 143), not every ICMPv6 type".into());
                }
            }
            allows = join_families(allows);
            rejects = join_families(rejects);
        }
        Ipv6::Unspecified => {}
    }
    let mut allows = merge(allows);
    let mut rejects = merge(rejects);
    make_unique(
        allows
            .iter_mut()
            .chain(rejects.iter_mut())
            .map(|e| &mut e.name)
            .collect(),
    );
    (allows, rejects)
}

/// `--mirror-ipv6`: what IPv6 does not get from the entries.
fn mirror_notes<'e>(entries: impl Iterator<Item = &'e Entry>, notes: &mut Notes) {
    for e in entries {
        if !e.from.is_empty() {
            notes.push(format!("entry \"{}\" is restricted to IPv4 sources: IPv6 clients meet the final rule (add IPv6 networks to its `from` if they should get in)", e.name));
        }
        if !e.icmp.is_empty() {
            notes.push(format!("entry \"{}\" matches ICMPv4 types only", e.name));
        }
    }
}

/// The import, once its text parses as a valid policy (its warnings become notes); an
/// invalid one is a bug in the importer, reported as such.
fn reparse(src: &str, text: String, mut notes: Notes) -> Result<Imported, Diags> {
    let (policy, pdiags) = crate::core::policy::parse(&text);
    match policy {
        Some(policy) => {
            let omitted = pdiags.omitted();
            for d in pdiags {
                notes.push(format!("the generated policy: {}", d.message));
            }
            if omitted > 0 {
                notes.push(format!(
                    "the generated policy: … and {omitted} more warnings"
                ));
            }
            Ok(Imported {
                toml: text,
                policy,
                notes: notes.into_vec(),
            })
        }
        None => {
            let rendered = pdiags.render("imported.toml", &text);
            let mut diags = Diags::new();
            diags.push(Diagnostic::error(
                first_line_span(src),
                src,
                format!("the generated policy is invalid (a bug in the importer):\n{rendered}"),
            ));
            Err(diags)
        }
    }
}
