//! The line parser: an iptables-save text into its tables, chain policies, chains and rules.
//! Each `-A` rule's options are read by the rule parser (`rule`).

use std::collections::HashMap;
use std::ops::Range;

use super::Fam;
use super::lex::{Tok, words};
use super::rule::IptRule;
use crate::core::diag::{Diagnostic, Diags, loc_of, shorten};

/// The most characters of a rule's line that notes, comments and messages quote.
pub(super) const QUOTED_MAX: usize = 200;

/// What the filter table of a file holds.
#[derive(Debug, Default)]
pub(super) struct Tables {
    /// chain name → (policy, span of the policy word) for built-in chains
    pub(super) policies: HashMap<String, (String, Range<usize>)>,
    pub(super) user_chains: Vec<String>,
    pub(super) rules: Vec<IptRule>,
    /// the span of the first `*filter` line, if the file has one
    pub(super) filter: Option<Range<usize>>,
}

/// The table being read: its name and the span of its `*name` line.
type Open = Option<(String, Range<usize>)>;

pub(super) struct Parser<'s> {
    pub(super) src: &'s str,
    pub(super) fam: Fam,
    pub(super) diags: Diags,
}

impl<'s> Parser<'s> {
    pub(super) fn new(src: &'s str, fam: Fam) -> Self {
        Parser {
            src,
            fam,
            diags: Diags::new(),
        }
    }

    pub(super) fn err(
        &mut self,
        span: Range<usize>,
        msg: impl Into<String>,
        help: impl Into<String>,
    ) {
        self.diags
            .push(Diagnostic::error(span, self.src, msg).with_help(help));
    }

    pub(super) fn parse(&mut self) -> Tables {
        let mut t = Tables::default();
        let mut table: Open = None;
        let mut off = 0;
        for raw in self.src.split_inclusive('\n') {
            let base = off;
            off += raw.len();
            self.line(&mut t, &mut table, raw, base);
        }
        if let Some((name, _)) = table {
            let end = self.src.len();
            self.err(
                end..end,
                format!("table *{name} is never committed: the file ends without COMMIT"),
                "iptables-restore applies nothing without the COMMIT line; add it (is the file cut short?)",
            );
        }
        t
    }

    /// One line, starting at byte `base`.
    fn line(&mut self, t: &mut Tables, table: &mut Open, raw: &str, base: usize) {
        let line = raw.trim_end_matches('\n').trim_end_matches('\r');
        let trimmed = line.trim();
        let lspan = base..base + line.len();
        if trimmed.is_empty() || trimmed.starts_with('#') {
            return;
        }
        let lead = line.len() - line.trim_start().len();
        if let Some(name) = trimmed.strip_prefix('*') {
            if name == "filter" && t.filter.is_none() {
                t.filter = Some(lspan.clone());
            }
            self.table_start(table, name, lspan);
            return;
        }
        if table.is_none() {
            self.err(
                lspan,
                "a line outside any table",
                "iptables-save files start each table with a `*filter` (or `*nat`, …) line",
            );
            return;
        }
        if trimmed == "COMMIT" {
            *table = None;
            return;
        }
        // the table's name, borrowed and cut short: a line must not cost a copy of a long one
        let tname = shorten(table.as_ref().map_or("", |(n, _)| n.as_str()), 64);
        let tname = tname.as_ref();
        let toks = match words(&line[lead..], base + lead) {
            Ok(w) => w,
            Err(span) => {
                self.err(span, "unclosed quote", "close the quoted text with `\"`");
                return;
            }
        };
        if let Some(name) = trimmed.strip_prefix(':') {
            self.chain_line(t, tname, name, &toks, lspan);
            return;
        }
        self.command(t, tname, toks, line, base);
    }

    /// `*name`: a table starts (the one before must have been committed).
    fn table_start(&mut self, table: &mut Open, name: &str, lspan: Range<usize>) {
        if let Some((open, ospan)) = table.take() {
            let l = loc_of(self.src, ospan.start).line;
            self.err(
                lspan.clone(),
                format!("table *{name} starts before table *{open} (line {l}) is committed"),
                "end each table with a COMMIT line",
            );
        }
        *table = Some((name.to_string(), lspan));
    }

    /// `:CHAIN POLICY [p:b]`: a built-in chain's policy, or (`-`) a user chain.
    fn chain_line(
        &mut self,
        t: &mut Tables,
        tname: &str,
        name: &str,
        toks: &[Tok],
        lspan: Range<usize>,
    ) {
        let name = name.split_whitespace().next().unwrap_or("").to_string();
        let Some(policy) = toks.get(1) else {
            self.err(
                lspan,
                "a chain line without a policy",
                "write `:CHAIN POLICY [0:0]`, e.g. `:INPUT DROP [0:0]`",
            );
            return;
        };
        if tname != "filter" {
            if policy.text != "ACCEPT" {
                self.err(
                    policy.span.clone(),
                    format!("chain {name} of table {tname} has policy {}", policy.text),
                    "statewall filters incoming packets only; it cannot express a non-ACCEPT policy outside the filter table's INPUT chain",
                );
            }
            return;
        }
        if policy.text == "-" {
            t.user_chains.push(name);
        } else {
            t.policies
                .insert(name, (policy.text.clone(), policy.span.clone()));
        }
    }

    /// `-N CHAIN` or `-A CHAIN …` (after an optional `[p:b]` counter), in table `tname`.
    fn command(
        &mut self,
        t: &mut Tables,
        tname: &str,
        mut toks: Vec<Tok>,
        line: &str,
        base: usize,
    ) {
        if toks.first().is_some_and(|w| {
            w.text.starts_with('[') && w.text.ends_with(']') && w.text.contains(':')
        }) {
            toks.remove(0);
        }
        let Some(cmd) = toks.first().cloned() else {
            return;
        };
        let lspan = base..base + line.len();
        let text = shorten(line[cmd.span.start - base..].trim_end(), QUOTED_MAX).into_owned();
        if tname != "filter" {
            self.err(
                cmd.span.start..lspan.end,
                format!("a rule in the {tname} table"),
                match tname {
                    "nat" => "NAT rewrites addresses and ports; statewall only filters incoming packets, so it cannot import NAT rules (keep them in iptables/nft, or remove them)",
                    _ => "statewall only imports the filter table's INPUT chain; rules in other tables change or mark packets, which statewall cannot express",
                },
            );
            return;
        }
        match cmd.text.as_str() {
            "-N" | "--new-chain" => {
                match toks.get(1) {
                    Some(n) => t.user_chains.push(n.text.clone()),
                    None => self.err(
                        cmd.span.clone(),
                        "-N without a chain name",
                        "write `-N CHAIN`",
                    ),
                }
                return;
            }
            "-A" | "--append" => {}
            other => {
                self.err(
                    cmd.span.clone(),
                    format!("`{other}` is not supported"),
                    "the importer reads iptables-save output: `:CHAIN POLICY` lines, `-N CHAIN` and `-A CHAIN …` rules",
                );
                return;
            }
        }
        let Some(chain) = toks.get(1) else {
            self.err(
                cmd.span.clone(),
                "-A without a chain name",
                "write `-A CHAIN …`",
            );
            return;
        };
        let line_no = loc_of(self.src, base).line;
        if let Some(r) = self.rule(&toks[2..], chain.text.clone(), lspan, text, line_no) {
            t.rules.push(r);
        }
    }
}
