//! One file, analysed: parsed, checked to filter incoming packets only, INPUT flattened, its
//! final rule found, and every other rule classified into statewall's order (`classify`).

use std::collections::{HashMap, HashSet};
use std::ops::Range;

use super::Fam;
use super::classify::Found;
use super::flatten::{Flat, Verdict};
use super::lines::{Parser, Tables};
use super::notes::Notes;
use super::rule::{IptRule, RejectKind, Target};
use crate::core::diag::{Diagnostic, Diags};

/// The final rule: Some(rule) for a catch-all rule, None for the chain policy.
pub(super) type FinalRule = (Option<usize>, Verdict);

/// What the analysis of one file found.
#[derive(Debug)]
pub(super) struct Analysis {
    pub(super) rules: Vec<IptRule>,
    pub(super) established: Option<usize>,
    pub(super) invalid: Option<usize>,
    pub(super) loopback: Option<usize>,
    pub(super) icmp: Option<usize>,
    /// (condition as statewall matches it, flat rule)
    pub(super) allows: Vec<Flat>,
    pub(super) rejects: Vec<Flat>,
    pub(super) final_rule: FinalRule,
    /// a LOG of every packet right before the final rule (`log_final`)
    pub(super) log_final: Option<usize>,
    pub(super) notes: Notes,
}

/// One file's analysis under way.
pub(super) struct Analyser<'s> {
    pub(super) src: &'s str,
    pub(super) fam: Fam,
    pub(super) rules: &'s [IptRule],
    pub(super) diags: Diags,
    pub(super) notes: Notes,
    /// LOG rules of every packet: (rule, how many flat rules came before it)
    pub(super) logs_everything: Vec<(usize, usize)>,
}

impl Analyser<'_> {
    pub(super) fn error(
        &mut self,
        span: Range<usize>,
        msg: impl Into<String>,
        help: impl Into<String>,
    ) {
        self.diags
            .push(Diagnostic::error(span, self.src, msg).with_help(help));
    }
}

pub(super) fn analyse(src: &str, fam: Fam) -> Result<Analysis, Diags> {
    let mut p = Parser::new(src, fam);
    let tables = p.parse();
    let mut diags = p.diags;
    outside_input(src, &tables, &mut diags);
    if diags.is_empty() {
        says_something(src, &tables, &mut diags);
    }
    if !diags.is_empty() {
        return Err(diags);
    }
    let Tables {
        policies,
        user_chains,
        rules,
        filter: _,
    } = tables;
    let mut cx = Analyser {
        src,
        fam,
        rules: &rules,
        diags,
        notes: Notes::default(),
        logs_everything: Vec::new(),
    };
    let mut flat = cx.flatten_input(&user_chains);
    if !cx.diags.is_empty() {
        return Err(cx.diags);
    }
    let Some(final_rule) = cx.final_rule(&policies, &mut flat) else {
        return Err(cx.diags);
    };
    let log_final = cx.log_final(flat.len());
    let mut found = Found::default();
    let ranked = cx.rank_all(flat, &mut found);
    cx.check_order(&ranked, final_rule, &found);
    if !cx.diags.is_empty() {
        return Err(cx.diags);
    }
    let (allows, rejects) = cx.collect(ranked, &found);
    let notes = cx.notes;
    Ok(Analysis {
        rules,
        established: found.established,
        invalid: found.invalid,
        loopback: found.loopback,
        icmp: found.icmp,
        allows,
        rejects,
        final_rule,
        log_final,
        notes,
    })
}

/// A file must say what incoming packets get: a filter table, with an INPUT policy or INPUT
/// rules. An empty file (or `/dev/null`) is refused, not read as "accept everything".
fn says_something(src: &str, tables: &Tables, diags: &mut Diags) {
    let help = "statewall imports the INPUT chain of the filter table, as `iptables-save` (or `ip6tables-save`) prints it: `*filter`, `:INPUT DROP [0:0]`, the `-A INPUT …` rules, `COMMIT`";
    let Some(filter) = &tables.filter else {
        let message = if src.trim().is_empty() {
            "the file is empty: it says nothing about incoming packets".to_string()
        } else {
            "no `*filter` table: the file says nothing about incoming packets".to_string()
        };
        diags.push(Diagnostic::error(super::first_line_span(src), src, message).with_help(help));
        return;
    };
    let input_rules = tables.rules.iter().any(|r| r.chain == "INPUT");
    if !input_rules && !tables.policies.contains_key("INPUT") {
        diags.push(
            Diagnostic::error(
                filter.clone(),
                src,
                "the filter table says nothing about INPUT: no `:INPUT` policy line and no INPUT rule",
            )
            .with_help(help),
        );
    }
}

/// FORWARD and OUTPUT: nothing to do for statewall only while they do nothing. Also refuses
/// rules in chains never declared, and jumps to what is neither a chain nor a known target.
fn outside_input(src: &str, tables: &Tables, diags: &mut Diags) {
    let user_chains: HashSet<&str> = tables.user_chains.iter().map(String::as_str).collect();
    for (name, (pol, span)) in &tables.policies {
        match name.as_str() {
            "INPUT" => {}
            "FORWARD" | "OUTPUT" if pol == "ACCEPT" => {}
            "FORWARD" | "OUTPUT" => diags.push(
                Diagnostic::error(span.clone(), src, format!("chain {name} has policy {pol}"))
                    .with_help("a policy has [forward] and [output] sections, but the importer does not map FORWARD and OUTPUT chains yet: import without them and write the section by hand (README: Forward, output and richer matches)"),
            ),
            _ => {}
        }
    }
    for r in &tables.rules {
        if r.chain == "FORWARD" || r.chain == "OUTPUT" {
            diags.push(
                Diagnostic::error(r.span.clone(), src, format!("a rule in chain {}", r.chain))
                    .with_help("a policy has [forward] and [output] sections, but the importer does not map FORWARD and OUTPUT chains yet: import without them and write the section by hand (README: Forward, output and richer matches)"),
            );
        } else if r.chain != "INPUT" && !user_chains.contains(r.chain.as_str()) {
            diags.push(
                Diagnostic::error(
                    r.span.clone(),
                    src,
                    format!("a rule in chain {}, which is never declared", r.chain),
                )
                .with_help(format!(
                    "declare it with `:{} - [0:0]` or `-N {}`",
                    r.chain, r.chain
                )),
            );
        }
        if let Target::Jump(c) = &r.target
            && !user_chains.contains(c.as_str())
        {
            diags.push(
                Diagnostic::error(r.target_span.clone(), src, format!("a jump to `{c}`, which is neither a chain of this file nor a target statewall knows"))
                    .with_help("statewall understands ACCEPT, DROP, REJECT, LOG, RETURN and jumps to chains of the file"),
            );
        }
    }
}

impl Analyser<'_> {
    /// The INPUT policy, or the first catch-all rule: that ends the chain, and anything after
    /// it is never reached (reported, and cut from `flat`). None when the policy is neither
    /// ACCEPT nor DROP.
    fn final_rule(
        &mut self,
        policies: &HashMap<String, (String, Range<usize>)>,
        flat: &mut Vec<Flat>,
    ) -> Option<FinalRule> {
        let rules = self.rules;
        let (policy, policy_span) = policies
            .get("INPUT")
            .cloned()
            .unwrap_or(("ACCEPT".into(), 0..0));
        let mut final_rule = match policy.as_str() {
            "ACCEPT" => (None, Verdict::Accept),
            "DROP" => (None, Verdict::Drop),
            other => {
                self.error(
                    policy_span,
                    format!("INPUT policy {other}"),
                    "a chain policy is ACCEPT or DROP",
                );
                return None;
            }
        };
        if let Some(at) = flat.iter().position(|f| f.cond.is_everything()) {
            final_rule = (Some(flat[at].rule), flat[at].verdict);
            let later: Vec<usize> = flat[at + 1..].iter().map(|f| f.rule).collect();
            let l = rules[flat[at].rule].line;
            for r in dedup(later) {
                self.error(rules[r].span.clone(), "this rule is never reached", format!("line {l} decides every packet before it; remove this rule, or move it before line {l}"));
            }
            flat.truncate(at);
        }
        if let Verdict::Reject(RejectKind::TcpReset) = final_rule.1 {
            let r = final_rule.0.expect("a policy is never a reject");
            self.error(rules[r].target_span.clone(), "a catch-all REJECT with tcp-reset", "a tcp reset answers tcp only; statewall's final rule answers with an ICMP error: use --reject-with icmp-port-unreachable (or another ICMP kind)");
        }
        Some(final_rule)
    }
}

impl Analyser<'_> {
    /// The last LOG of every packet with no deciding rule between it and the final rule
    /// (`flat_len` rules decide before the final one): what `log_final` logs. Every other
    /// LOG is left out, with a note.
    fn log_final(&mut self, flat_len: usize) -> Option<usize> {
        let logs = std::mem::take(&mut self.logs_everything);
        let chosen = logs
            .iter()
            .rev()
            .find(|(_, before)| *before == flat_len)
            .map(|(r, _)| *r);
        let rules = self.rules;
        for (r, _) in logs {
            if Some(r) != chosen {
                self.left_out_log(&rules[r]);
            }
        }
        chosen
    }
}

/// `v` without repeats, in first-seen order.
fn dedup(mut v: Vec<usize>) -> Vec<usize> {
    let mut seen = HashSet::new();
    v.retain(|x| seen.insert(*x));
    v
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dedup_keeps_the_first() {
        assert_eq!(dedup(vec![3, 1, 3, 2, 1]), [3, 1, 2]);
    }

    #[test]
    fn a_file_that_says_nothing_about_input_is_refused() {
        let refused = |src: &str| {
            let d = analyse(src, Fam::V4).unwrap_err();
            (d[0].message.clone(), d[0].loc.line)
        };
        assert_eq!(
            refused(""),
            (
                "the file is empty: it says nothing about incoming packets".into(),
                1
            )
        );
        assert!(refused("# nothing\n").0.starts_with("no `*filter` table"));
        assert!(
            refused("*nat\n:PREROUTING ACCEPT [0:0]\nCOMMIT\n")
                .0
                .starts_with("no `*filter` table")
        );
        assert_eq!(
            refused("# saved\n*filter\n:FORWARD ACCEPT [0:0]\nCOMMIT\n").1,
            2,
            "at the *filter line"
        );
        // a policy alone says something (accept everything: audit mode), and so do rules
        assert!(analyse("*filter\n:INPUT ACCEPT [0:0]\nCOMMIT\n", Fam::V4).is_ok());
        assert!(analyse("*filter\n-A INPUT -j DROP\nCOMMIT\n", Fam::V4).is_ok());
    }

    #[test]
    fn the_first_catch_all_ends_the_chain() {
        let src = "*filter\n:INPUT ACCEPT [0:0]\n-A INPUT -m state --state ESTABLISHED,RELATED -j ACCEPT\n-A INPUT -p tcp --dport 22 -j ACCEPT\n-A INPUT -j DROP\n-A INPUT -p tcp --dport 80 -j ACCEPT\nCOMMIT\n";
        let diags = analyse(src, Fam::V4).unwrap_err();
        let msgs: Vec<&str> = diags.iter().map(|d| d.message.as_str()).collect();
        assert_eq!(msgs, ["this rule is never reached"]);
        assert_eq!(diags[0].loc.line, 6);
        let ok = src.replace("-A INPUT -p tcp --dport 80 -j ACCEPT\n", "");
        let a = analyse(&ok, Fam::V4).unwrap();
        assert_eq!(a.final_rule, (Some(2), Verdict::Drop));
        assert_eq!(a.established, Some(0));
        assert_eq!(a.allows.len(), 1);
    }
}
