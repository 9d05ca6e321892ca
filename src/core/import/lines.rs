//! The line parser: an iptables-save text into its tables, chain policies, chains and rules.
//! Each `-A` rule's options are read by the rule parser (`rule`).

use std::collections::{HashMap, HashSet};
use std::ops::Range;

use super::Fam;
use super::lex::{LexError, Tok, WORD_MAX, WORDS_MAX, words};
use super::rule::IptRule;
use crate::core::diag::{Diagnostic, Diags, loc_of, shorten};
use crate::core::services::NameDb;

/// The most characters of a rule's line that notes, comments and messages quote.
pub(super) const QUOTED_MAX: usize = 200;

/// The most rules a file's filter table may have (each `--ports` rule and each `--set`
/// beside its jump counts as a rule of its own): a policy of more than that many entries
/// would be more than the 4 MiB a policy file may be, and each rule costs a few kilobytes
/// while the import runs. Past them the import is refused, at the first rule past them.
pub(super) const RULES_MAX: usize = 50_000;

/// What the filter table of a file holds.
#[derive(Debug, Default)]
pub(super) struct Tables {
    /// chain name → (policy, span of the policy word) for built-in chains
    pub(super) policies: HashMap<String, (String, Range<usize>)>,
    pub(super) user_chains: Vec<String>,
    /// the user chains that exist at the line being read (`-X` takes them away)
    chains: HashSet<String>,
    pub(super) rules: Vec<IptRule>,
    /// the span of the first `*filter` line, if the file has one
    pub(super) filter: Option<Range<usize>>,
    /// each rule's place in its chain: `-A` counts up, `-I` (at the top) down
    order: Vec<i64>,
    placed: i64,
    /// how many rules each chain has so far (`-I CHAIN N` one past them appends)
    counts: HashMap<String, usize>,
    /// [`RULES_MAX`] was passed (said once; the rules after it are read, not kept)
    full: bool,
    /// DROP policies of the other tables' built-in chains: (table, chain, span of the
    /// policy word), judged once the filter table is known (`analyse.rs`)
    pub(super) other_drops: Vec<(String, String, Range<usize>)>,
    /// user chains named before the line that makes them (a rule of one, or a jump or
    /// goto to one): (chain, where, a jump), judged at COMMIT (`declared_late`)
    early: Vec<(String, Range<usize>, bool)>,
}

/// The built-in chains of the filter table.
pub(super) const FILTER_CHAINS: [&str; 3] = ["INPUT", "FORWARD", "OUTPUT"];

/// Whether `chain` is a built-in chain of table `table`.
fn builtin(table: &str, chain: &str) -> bool {
    match table {
        "filter" => FILTER_CHAINS.contains(&chain),
        "nat" => ["PREROUTING", "INPUT", "OUTPUT", "POSTROUTING"].contains(&chain),
        "raw" => ["PREROUTING", "OUTPUT"].contains(&chain),
        _ => ["PREROUTING", "INPUT", "FORWARD", "OUTPUT", "POSTROUTING"].contains(&chain),
    }
}

/// The first carriage return of line `whole` (of table `table`, starting at byte `base`) that
/// iptables-restore stops at, if any: a CR separates no words, so it reads it as part of its
/// word. A built-in chain's counters (`:INPUT DROP [0:0]\r`), a user chain's ignored
/// policy and the free text of a comment or a log prefix (`--comment x\r`, `--log-prefix
/// "a\rb"`) may carry one; every other word (a table, COMMIT, a policy, a target, a port …)
/// it then refuses.
fn cr_stopped_at(whole: &str, base: usize, table: Option<&str>) -> Option<usize> {
    let first = base + whole.find('\r')?;
    let trimmed = whole.trim_matches([' ', '\t']);
    if let Some(chain) = trimmed.strip_prefix(':') {
        let chain = chain.strip_suffix('\r').unwrap_or(chain);
        let words: Vec<&str> = chain.split_whitespace().collect();
        let past = !chain.contains('\r')
            && match words[..] {
                [name, _] => !builtin(table.unwrap_or(""), name),
                _ => words.len() >= 3,
            };
        return (!past).then_some(first);
    }
    let Ok(words) = super::lex::words(whole, base) else {
        return Some(first);
    };
    let free_text = |i: usize| {
        i > 0
            && ["--comment", "--log-prefix", "--nflog-prefix"].contains(&words[i - 1].text.as_str())
    };
    whole
        .match_indices('\r')
        .map(|(at, _)| base + at)
        .find(|at| {
            !words
                .iter()
                .position(|w| w.span.contains(at))
                .is_some_and(free_text)
        })
}

/// The table being read: its name and the span of its `*name` line.
type Open = Option<(String, Range<usize>)>;

pub(super) struct Parser<'s> {
    pub(super) src: &'s str,
    pub(super) fam: Fam,
    pub(super) diags: Diags,
    /// what the import should say of what it read (a name read as this host reads it)
    pub(super) notes: super::notes::Notes,
    /// what port, user and group names mean (`--dport snmp`, `--uid-owner root`)
    pub(super) services: &'s NameDb,
    /// whether `--weekdays`' timezone was noted (once a file, at its first rule)
    pub(super) weekdays_noted: bool,
    /// the first line iptables-restore refuses for its carriage return, and how many do
    /// (said once, at the end)
    cr: Option<(Range<usize>, usize)>,
}

impl<'s> Parser<'s> {
    pub(super) fn new(src: &'s str, fam: Fam, services: &'s NameDb) -> Self {
        Parser {
            src,
            fam,
            diags: Diags::new(),
            notes: super::notes::Notes::default(),
            services,
            weekdays_noted: false,
            cr: None,
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
        if let Some((span, n)) = self.cr.take() {
            let more = match n {
                1 => String::new(),
                n => format!(
                    ", and in {} more lines",
                    crate::core::diag::thousands(n - 1)
                ),
            };
            if self.src[span.end..].starts_with('\n') || span.end == self.src.len() {
                self.err(
                    span,
                    format!("a carriage return in this line (a Windows line end){more}"),
                    "iptables-restore refuses it too: it reads the CR as part of the line's last word (`*filter\\r` is no table, `COMMIT\\r` no commit, `-j ACCEPT\\r` no target); convert the line ends to LF: `sed -i 's/\\r$//' FILE` (or dos2unix)",
                );
            } else {
                self.err(
                    span,
                    format!("a carriage return inside this line{more}"),
                    "iptables-restore refuses it too: a CR separates no words, so it becomes part of its word (`-p tcp\\r` names no protocol, `22\\r` no port), and only the text of a comment or a log prefix may hold one; remove it: `tr -d '\\r' < FILE`",
                );
            }
        }
        if let Some((name, _)) = table {
            let end = self.src.len();
            self.err(
                end..end,
                format!("table *{name} is never committed: the file ends without COMMIT"),
                "iptables-restore applies nothing without the COMMIT line; add it (is the file cut short?)",
            );
        }
        // the user chains left at the end, each once, in the order they were made
        let mut seen = HashSet::new();
        let chains = std::mem::take(&mut t.chains);
        t.user_chains
            .retain(|c| chains.contains(c) && seen.insert(c.clone()));
        // `-I` rules before the rules of their chain met so far, `-A` ones after
        // (in place, by the cycles of the permutation: no second copy of the rules)
        t.rules.shrink_to_fit();
        let order = std::mem::take(&mut t.order);
        if !order.is_sorted() {
            let mut at: Vec<usize> = (0..order.len()).collect();
            at.sort_by_key(|&i| order[i]);
            // slot k takes the rule at `at[k]`
            for k in 0..at.len() {
                let mut j = k;
                while at[j] != k {
                    let next = at[j];
                    t.rules.swap(j, next);
                    at[j] = j;
                    j = next;
                }
                at[j] = j;
            }
        }
        t
    }

    /// One line, starting at byte `base`.
    fn line(&mut self, t: &mut Tables, table: &mut Open, raw: &str, base: usize) {
        // a byte order mark (an editor's, most often before the first line): iptables-restore
        // reads its three bytes as part of the line's first word, so the mark and `*filter` make
        // no table, the mark and `# Generated` no comment. Said here, and the line read without it
        // (as a CR is), so that one mark gives one error and not one for every line after it
        let (raw, base) = match raw.strip_prefix('\u{feff}') {
            Some(rest) => {
                let at = base..base + '\u{feff}'.len_utf8();
                self.err(
                    at.clone(),
                    "a byte order mark (U+FEFF, the bytes EF BB BF) before this line's first word",
                    "iptables-restore refuses it too: it reads the three bytes as part of the line's first word (the mark and `*filter` make no table, the mark and `#` no comment); save the file without it: `sed -i '1s/^\\xEF\\xBB\\xBF//' FILE`",
                );
                (rest, at.end)
            }
            None => (raw, base),
        };
        let whole = raw.strip_suffix('\n').unwrap_or(raw);
        let line = whole.strip_suffix('\r').unwrap_or(whole);
        let trimmed = line.trim();
        let lspan = base..base + line.len();
        // iptables-restore skips an empty line and a `#` in the first column, and takes
        // every other line for a table, a chain, COMMIT or a command
        if line.starts_with('#') || whole.is_empty() {
            return;
        }
        if !self.first_column(trimmed, line, &lspan) {
            return;
        }
        // one inside the line is no separator either
        if let Some(at) = cr_stopped_at(whole, base, table.as_ref().map(|(n, _)| n.as_str())) {
            self.cr.get_or_insert((at..at + 1, 0)).1 += 1;
        }
        if trimmed.is_empty() {
            return;
        }
        let lead = line.len() - line.trim_start().len();
        if let Some(rest) = trimmed.strip_prefix('*') {
            // the first word, as iptables-restore's strtok takes it (`* filter` is filter)
            let name = rest.split_whitespace().next().unwrap_or("");
            if name == "filter" {
                match &t.filter {
                    None => t.filter = Some(lspan.clone()),
                    Some(first) => self.filter_again(t, first.start, &lspan),
                }
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
        if line == "COMMIT" {
            if table.as_ref().is_some_and(|(n, _)| n == "filter") {
                self.declared_late(t);
            }
            *table = None;
            return;
        }
        // the table's name, borrowed and cut short: a line must not cost a copy of a long one
        let tname = shorten(table.as_ref().map_or("", |(n, _)| n.as_str()), 64);
        let tname = tname.as_ref();
        let toks = match words(&line[lead..], base + lead) {
            Ok(w) => w,
            Err(LexError::Unclosed(span)) => {
                self.err(span, "unclosed quote", "close the quoted text with `\"`");
                return;
            }
            Err(LexError::TooMany(span)) => {
                self.err(
                    span,
                    format!("a line of more than {} words", WORDS_MAX - 1),
                    "iptables-restore refuses it too (\"Parser cannot handle more arguments\"): split the rule, or use fewer, wider matches",
                );
                return;
            }
            Err(LexError::TooLong(span)) => {
                self.err(
                    span,
                    format!("a word of more than {} bytes", WORD_MAX),
                    "iptables-restore refuses it too (\"Parameter too long!\"): a list of more networks or ports belongs in several rules",
                );
                return;
            }
        };
        if let Some(name) = trimmed.strip_prefix(':') {
            self.chain_line(t, tname, name, &toks, lspan);
            return;
        }
        self.command(t, tname, toks, line, base);
    }

    /// Whether the line says something where iptables-restore reads it: not blanks alone,
    /// and `*`, `:`, `#` and COMMIT in the first column (blanks before a command are read
    /// past). Else an error, and false.
    fn first_column(&mut self, trimmed: &str, line: &str, lspan: &Range<usize>) -> bool {
        let (what, why) = if line.is_empty() {
            // a carriage return alone: said with the others
            return true;
        } else if trimmed.is_empty() {
            (
                "a line of blanks alone".to_string(),
                "iptables-restore refuses it too: only an empty line says nothing to it, and this one it takes for a command without words; empty the line",
            )
        } else if trimmed.starts_with(['*', ':', '#']) && line.starts_with(char::is_whitespace)
            || trimmed == "COMMIT" && line != "COMMIT"
        {
            (
                format!("`{}` with blanks before or after it", shorten(trimmed, 64)),
                "iptables-restore refuses it too: it reads a table (`*`), a chain (`:`), a comment (`#`) and COMMIT only from the first column of a line, and COMMIT only alone on it (else the line is a command): remove the blanks",
            )
        } else {
            return true;
        };
        self.err(lspan.clone(), what, why);
        false
    }

    /// A second `*filter` (at `lspan`; the first at byte `first`): iptables-restore starts
    /// the table anew at each, so what the lines before it made is gone. iptables-nft
    /// deletes the table (its built-in chains come back with an ACCEPT policy unless the
    /// block says another); iptables-legacy flushes it and keeps the policies, so the note
    /// says which reading this is.
    fn filter_again(&mut self, t: &mut Tables, first: usize, lspan: &Range<usize>) {
        let (l0, l) = (
            loc_of(self.src, first).line,
            loc_of(self.src, lspan.start).line,
        );
        if !t.rules.is_empty() || !t.policies.is_empty() || !t.chains.is_empty() {
            self.notes.push(format!("line {l}: a second `*filter` starts the table anew, as iptables-restore does: the chains, rules and policies of the `*filter` at line {l0} are gone, and a built-in chain the new block gives no policy accepts (iptables-nft's reading; iptables-legacy's would keep the earlier policies)"));
        }
        t.policies.clear();
        t.user_chains.clear();
        t.chains.clear();
        t.rules.clear();
        t.order.clear();
        t.placed = 0;
        t.counts.clear();
        t.full = false;
        t.early.clear();
    }

    /// A rule of a user chain, or a jump or goto to one, on a line before the chain's
    /// `:CHAIN` (or `-N`) line: iptables-restore refuses it ("Chain 'fz' does not exist",
    /// "No chain/target/match by that name"), as the chain does not exist yet where the line
    /// stands. A chain never made is `analyse.rs`'s to say.
    fn declared_late(&mut self, t: &mut Tables) {
        for (chain, span, jump) in std::mem::take(&mut t.early) {
            if !t.chains.contains(&chain) {
                continue;
            }
            let what = if jump {
                format!("a jump to chain {chain} before the line that makes it")
            } else {
                format!("a rule in chain {chain} before the line that makes it")
            };
            self.err(span, what, format!("iptables-restore refuses it too (the chain does not exist yet on this line): move the `:{chain} - [0:0]` line (or `-N {chain}`) above its first use, as iptables-save writes it"));
        }
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
        if !["filter", "nat", "mangle", "raw", "security"].contains(&name) {
            self.err(
                lspan.clone(),
                format!("a table named `{}`", shorten(name, 64)),
                "iptables-restore refuses it too (\"table name '…' invalid\"): its tables are filter, nat, mangle, raw and security",
            );
        }
        *table = Some((name.to_string(), lspan));
    }

    /// `:CHAIN POLICY [p:b]`: a built-in chain's policy (`-`: unchanged), or (`-`, or no
    /// policy) a user chain.
    fn chain_line(
        &mut self,
        t: &mut Tables,
        tname: &str,
        name: &str,
        toks: &[Tok],
        lspan: Range<usize>,
    ) {
        if name.split_whitespace().nth(1).is_none() {
            let what = shorten(name.trim(), 64);
            self.err(
                lspan,
                format!("chain {what} without a policy word"),
                format!("iptables-restore refuses it too (\"policy invalid\"): write `:{what} - [0:0]` for a user chain, `:{what} DROP [0:0]` for a built-in one"),
            );
            return;
        }
        let name = name.split_whitespace().next().unwrap_or("").to_string();
        let policy = toks
            .get(1)
            .filter(|p| !(p.text.starts_with('[') && p.text.ends_with(']')));
        if !builtin(tname, &name) {
            // a user chain: iptables-restore ignores a policy word on it
            if tname == "filter" && self.chain_name_ok(&name, toks[0].span.clone()) {
                t.chains.insert(name.clone());
                t.user_chains.push(name);
            }
            return;
        }
        let Some(policy) = policy else {
            self.err(
                lspan,
                format!("built-in chain {name} without a policy"),
                "write `:CHAIN POLICY [0:0]`, e.g. `:INPUT DROP [0:0]` (iptables-restore refuses this line too)",
            );
            return;
        };
        // `-` on a built-in chain leaves its policy as it is (an earlier line's, else
        // ACCEPT), as iptables-restore does
        if policy.text != "-" {
            self.set_policy(t, tname, &name, policy);
        }
    }

    /// The policy of built-in chain `name` of table `tname` (a `:` line or `-P`).
    fn set_policy(&mut self, t: &mut Tables, tname: &str, name: &str, policy: &Tok) {
        if !matches!(policy.text.as_str(), "ACCEPT" | "DROP") {
            self.err(
                policy.span.clone(),
                format!("chain {name} has policy {}", policy.text),
                "a chain policy is ACCEPT or DROP (iptables-restore refuses others too)",
            );
            return;
        }
        if tname != "filter" {
            if policy.text != "ACCEPT" {
                t.other_drops
                    .push((tname.into(), name.into(), policy.span.clone()));
            }
            return;
        }
        t.policies
            .insert(name.to_string(), (policy.text.clone(), policy.span.clone()));
    }

    /// The words of a command as getopt reads them (option names written out, numbers in
    /// decimal), checked as libxtables checks them: false where the line is refused (said)
    /// or skipped, a rule of the other family.
    fn read_as_getopt(&mut self, toks: &mut Vec<Tok>) -> bool {
        let checked = super::getopt::spell_out(toks, self.fam).and_then(|walk| {
            super::xtcheck::checked(toks, &walk, self.fam).map(|()| walk.other_family)
        });
        match checked {
            // `-4`/`-6` (an option anywhere in the line, not a value: `-p -6` is none):
            // iptables-restore silently skips a rule of the other family, as
            // ip6tables-restore does, so that one file can serve both
            Ok(true) => false,
            Ok(false) => {
                // the family's own flag says nothing more (the other's is a value here)
                let own = match self.fam {
                    Fam::V4 => ["-4", "--ipv4"],
                    Fam::V6 => ["-6", "--ipv6"],
                };
                toks.retain(|w| !own.contains(&w.text.as_str()));
                true
            }
            Err(u) => {
                self.err(toks[u.at].span.clone(), u.what, u.why);
                false
            }
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
        if !self.read_as_getopt(&mut toks) {
            return;
        }
        let Some(cmd) = toks.first().cloned() else {
            return;
        };
        let lspan = base..base + line.len();
        let text = shorten(line[cmd.span.start - base..].trim_end(), QUOTED_MAX).into_owned();
        let insert = match cmd.text.as_str() {
            "-A" | "--append" => false,
            "-I" | "--insert" => true,
            _ => {
                self.chain_command(t, tname, &toks, &cmd);
                return;
            }
        };
        if tname != "filter" {
            self.err(
                cmd.span.start..lspan.end,
                format!("a rule in the {tname} table"),
                match tname {
                    "nat" => "NAT rewrites addresses and ports; statewall only filters, so it cannot import NAT rules (keep them in iptables/nft, or remove them)",
                    _ => "statewall only imports the filter table; rules in other tables change or mark packets, which statewall cannot express",
                },
            );
            return;
        }
        let Some(chain) = toks.get(1) else {
            self.err(
                cmd.span.clone(),
                "-A without a chain name",
                "write `-A CHAIN …`",
            );
            return;
        };
        let mut from = 2;
        let mut insert = insert;
        let count = t.counts.get(&chain.text).copied().unwrap_or(0);
        if insert && let Some(n) = toks.get(2).and_then(|w| super::cnum::c_number(&w.text)) {
            from = 3;
            // one past the chain's rules is where `-A` puts it: numbered inserts in order
            // (`-I C 1`, `-I C 2`, …) build a chain top to bottom
            if n > 1 && n == count as u64 + 1 {
                insert = false;
            } else if n != 1 {
                let (what, fix) = if n == 0 || n > count as u64 + 1 {
                    (
                        format!(
                            "`-I {} {n}`: chain {} has {count} rules here, so there is no position {n}",
                            chain.text, chain.text
                        ),
                        "iptables-restore refuses it too (index of insertion too big): number the inserts from 1, one past the rules before them",
                    )
                } else {
                    (
                        format!(
                            "`-I {} {n}`: an insertion among the chain's rules (it has {count} here)",
                            chain.text
                        ),
                        "write the rules in the order the chain should have them (`-A`), as iptables-save prints them",
                    )
                };
                self.err(toks[2].span.clone(), what, fix);
                return;
            }
        }
        let line_no = loc_of(self.src, base).line;
        let mut parts = Vec::new();
        for toks in either_port(&toks[from..]) {
            let (c, l, x) = (chain.text.clone(), lspan.clone(), text.clone());
            // a refusal is said once, not once per part
            let Some(r) = self.rule(&toks, c, l, x, line_no) else {
                parts.clear();
                break;
            };
            let Some(rs) = self.goto_apart(r) else {
                parts.clear();
                break;
            };
            parts.extend(rs.into_iter().flat_map(recent_set_apart));
        }
        if !parts.is_empty() && t.rules.len() + parts.len() > RULES_MAX {
            if !t.full {
                t.full = true;
                self.err(
                    lspan,
                    format!("the filter table has more than {} rules", crate::core::diag::thousands(RULES_MAX)),
                    "a statewall policy of more entries is more than the 4 MiB a policy file may be: put long address lists in a `from_file` list (one network per line), or import the file in parts",
                );
            }
            return;
        }
        if !builtin(tname, &chain.text) && !t.chains.contains(&chain.text) {
            t.early
                .push((chain.text.clone(), chain.span.clone(), false));
        }
        // once per line (its parts share the jump): a look at this line's own, not the file's
        let line_start = t.early.len();
        for r in &parts {
            if let super::rule::Target::Jump(c) = &r.target
                && !t.chains.contains(c)
                && !t.early[line_start..]
                    .iter()
                    .any(|(e, s, _)| e == c && *s == r.target_span)
            {
                t.early.push((c.clone(), r.target_span.clone(), true));
            }
        }
        if !parts.is_empty() {
            if insert {
                // each `-I` goes above the one before: the jump first, the `--set` above it
                parts.reverse();
            }
            for r in parts {
                t.placed += 1;
                t.order.push(if insert { -t.placed } else { t.placed });
                t.rules.push(r);
            }
            *t.counts.entry(chain.text.clone()).or_default() += 1;
        }
    }

    /// `-N CHAIN`, `-P CHAIN POLICY`, `-F [CHAIN]`, `-Z`, in table `tname`.
    fn chain_command(&mut self, t: &mut Tables, tname: &str, toks: &[Tok], cmd: &Tok) {
        let filter = tname == "filter";
        // `-v` says what iptables-restore does; past a command's words, any other is refused
        let toks: Vec<Tok> = toks
            .iter()
            .filter(|w| !matches!(w.text.as_str(), "-v" | "--verbose"))
            .cloned()
            .collect();
        let toks = &toks[..];
        let most = match cmd.text.as_str() {
            "-P" | "--policy" => 3,
            "-N" | "--new-chain" | "-F" | "--flush" | "-X" | "--delete-chain" | "-Z" | "--zero" => {
                2
            }
            _ => usize::MAX,
        };
        if let Some(w) = toks.get(most) {
            let says = format!("Bad argument `{}'", shorten(&w.text, 64));
            self.err(
                w.span.clone(),
                format!("`{}` after `{}`", shorten(&w.text, 64), cmd.text),
                format!(
                    "iptables-restore refuses it too (\"{says}\"): the command takes no more words"
                ),
            );
            return;
        }
        match cmd.text.as_str() {
            "-N" | "--new-chain" => match toks.get(1) {
                Some(n) if filter && (t.chains.contains(&n.text) || builtin(tname, &n.text)) => {
                    self.err(n.span.clone(), format!("`-N {}`: chain {} exists here already", n.text, n.text), "iptables-restore refuses it too (\"Chain already exists\"): make each chain once, with `:CHAIN - [0:0]` or `-N CHAIN`");
                }
                Some(n) if filter => {
                    if self.chain_name_ok(&n.text, n.span.clone()) {
                        t.chains.insert(n.text.clone());
                        t.user_chains.push(n.text.clone());
                    }
                }
                Some(_) => {}
                None => self.err(cmd.span.clone(), "-N without a chain name", "write `-N CHAIN`"),
            },
            "-P" | "--policy" => match (toks.get(1), toks.get(2)) {
                (Some(c), Some(p)) if builtin(tname, &c.text) => {
                    let c = c.text.clone();
                    self.set_policy(t, tname, &c, p)
                }
                (Some(c), Some(_)) => self.err(c.span.clone(), format!("`-P {}`: not a built-in chain of table {tname}", c.text), "only built-in chains have a policy (iptables-restore refuses this line too)"),
                _ => self.err(cmd.span.clone(), "-P without a chain and a policy", "write `-P CHAIN POLICY`, e.g. `-P INPUT DROP`"),
            },
            "-F" | "--flush" => {
                if !filter {
                    return;
                }
                if let Some(c) = toks.get(1)
                    && !builtin(tname, &c.text)
                    && !t.chains.contains(&c.text)
                {
                    let what = format!("`-F {}`: no chain {} here", c.text, c.text);
                    self.err(c.span.clone(), what, "iptables-restore refuses it too (\"No chain/target/match by that name\"): flush chains after `-N` or `:CHAIN - [0:0]` made them");
                    return;
                }
                let chain = toks.get(1).map(|c| c.text.clone());
                let order = std::mem::take(&mut t.order);
                let (order, rules) = order
                    .into_iter()
                    .zip(t.rules.drain(..))
                    .filter(|(_, r)| chain.as_ref().is_some_and(|c| *c != r.chain))
                    .unzip();
                t.order = order;
                t.rules = rules;
                match &chain {
                    Some(c) => {
                        t.counts.remove(c);
                    }
                    None => t.counts.clear(),
                }
            }
            "-X" | "--delete-chain" => {
                if filter {
                    self.delete_chains(t, toks.get(1), cmd);
                    if toks.get(1).is_none() {
                        self.policies_reset(t, cmd);
                    }
                }
            }
            // counters statewall does not take: only a chain that does not exist matters
            "-Z" | "--zero" => {
                if let Some(c) = toks.get(1).filter(|c| filter && !builtin(tname, &c.text) && !t.chains.contains(&c.text)) {
                    let what = format!("`-Z {}`: no chain {} here", c.text, c.text);
                    self.err(c.span.clone(), what, "iptables-restore refuses it too (\"No chain/target/match by that name\")");
                }
            }
            other => self.err(
                cmd.span.clone(),
                format!("`{other}` is not supported"),
                "the importer reads iptables-save output: `:CHAIN POLICY` lines, `-N`, `-P`, `-F`, `-X`, and `-A`/`-I CHAIN …` rules",
            ),
        }
    }
}

impl Parser<'_> {
    /// Whether a user chain's name (of a `:CHAIN` line or `-N`, at `span`) is one iptables
    /// takes (`assert_valid_chain_name`: under 29 bytes, not starting with `-` or `!`, not a
    /// verdict's name); refused where written otherwise.
    fn chain_name_ok(&mut self, name: &str, span: Range<usize>) -> bool {
        let why = if name.len() >= 29 {
            format!("chain name `{name}` of {} bytes", name.len())
        } else if name.starts_with(['-', '!']) {
            format!("chain name `{name}` starting with `{}`", &name[..1])
        } else if ["ACCEPT", "DROP", "QUEUE", "RETURN"].contains(&name) {
            format!("chain name `{name}`, a verdict's")
        } else {
            return true;
        };
        self.err(span, why, "iptables-restore refuses it too: a chain's name is 1-28 bytes, does not start with `-` or `!`, and is not ACCEPT, DROP, QUEUE or RETURN");
        false
    }

    /// A bare `-X` at `cmd` after the built-in chains' policy lines: iptables-nft (1.8.9)
    /// restores the built-in chains with ACCEPT policies there (their rules stay), where
    /// iptables-legacy keeps them; read as iptables-nft does, as a second `*filter` is, and
    /// noted where a DROP is gone.
    fn policies_reset(&mut self, t: &mut Tables, cmd: &Tok) {
        let mut dropped: Vec<&str> = t
            .policies
            .iter()
            .filter(|(_, (p, _))| p != "ACCEPT")
            .map(|(c, _)| c.as_str())
            .collect();
        dropped.sort_unstable();
        if !dropped.is_empty() {
            let l = loc_of(self.src, cmd.span.start).line;
            self.notes.push(format!("line {l}: a bare `-X` after the policy lines sets the built-in chains back to ACCEPT, as iptables-nft restores the file ({} DROP before it; iptables-legacy would keep that): the rules stay, the DROP is gone; to keep it, move `-X` before the policy lines", dropped.join(", ")));
        }
        t.policies.clear();
    }

    /// `-X [CHAIN]`: the user chain (every one, without a name) is gone, as iptables-restore
    /// deletes it; one that has rules, or that does not exist, is refused as it refuses it.
    fn delete_chains(&mut self, t: &mut Tables, chain: Option<&Tok>, cmd: &Tok) {
        let gone: Vec<String> = match chain {
            Some(c) if t.chains.contains(&c.text) => vec![c.text.clone()],
            Some(c) => {
                let what = format!("`-X {}`: no user chain {} here", c.text, c.text);
                self.err(c.span.clone(), what, "iptables-restore refuses it too (no chain by that name): delete chains after `-N` or `:CHAIN - [0:0]` made them");
                return;
            }
            None => {
                // by name: the refusal names the same chain every time
                let mut all: Vec<String> = t.chains.iter().cloned().collect();
                all.sort_unstable();
                all
            }
        };
        let at = chain.map_or(cmd.span.clone(), |c| c.span.clone());
        if let Some(full) = gone
            .iter()
            .find(|c| t.counts.get(*c).is_some_and(|&n| n > 0))
        {
            let what = format!("`-X` of chain {full}, which has rules here");
            self.err(at, what, "iptables-restore refuses it too (CHAIN_DEL: device or resource busy): flush the chain first (`-F`)");
            return;
        }
        for c in &gone {
            t.chains.remove(c);
        }
    }
}

/// multiport's `--ports P` (a source or a destination port in P) as rules statewall reads:
/// `! --ports P` is `! --dports P ! --sports P`, one rule; `--ports P` two rules, as
/// iptables decides them: `--dports P`, then `--sports P ! --dports P` (apart, so that a
/// jump's chain runs once for a packet of both). A rule whose matches count its packets
/// (`-m limit`, `-m hashlimit`, `-m recent`) is left as written (two buckets or lists are not
/// one): the rule parser refuses `--ports` where it is.
fn either_port(toks: &[Tok]) -> Vec<Vec<Tok>> {
    let Some(i) = toks.iter().position(|t| t.text == "--ports") else {
        return vec![toks.to_vec()];
    };
    let counting = toks.windows(2).any(|w| {
        ["-m", "--match"].contains(&w[0].text.as_str())
            && ["limit", "hashlimit", "recent"].contains(&w[1].text.as_str())
    });
    let Some(value) = toks.get(i + 1).filter(|_| !counting) else {
        return vec![toks.to_vec()];
    };
    let word = |text: &str, like: &Tok| Tok {
        text: text.into(),
        span: like.span.clone(),
    };
    let with = |middle: Vec<Tok>| {
        let mut out = toks[..i].to_vec();
        out.extend(middle);
        out.extend_from_slice(&toks[i + 2..]);
        out
    };
    let key = &toks[i];
    let negated = i > 0 && toks[i - 1].text == "!";
    if negated {
        let bang = toks[i - 1].clone();
        return vec![with(vec![
            word("--dports", key),
            value.clone(),
            bang,
            word("--sports", key),
            value.clone(),
        ])];
    }
    vec![
        with(vec![word("--dports", key), value.clone()]),
        with(vec![
            word("--sports", key),
            value.clone(),
            word("!", key),
            word("--dports", key),
            value.clone(),
        ]),
    ]
}

/// A jump that also records its packets' sources (`-m recent --set --name N -j SSH`, with no
/// rate or count) is the `--set` rule and then the plain jump, as iptables evaluates it: the
/// source is recorded, and the packet goes on into the chain.
impl Parser<'_> {
    /// `COND -g CHAIN`: a jump to CHAIN and then, for the same packets, a RETURN — what
    /// CHAIN does not decide goes back to the caller of the chain that went to it (its
    /// policy, in a built-in chain), never to the rules after the goto. None, refused where
    /// written, for a goto to no chain or one with a rate, a list or a count (the RETURN
    /// would count its packets again).
    fn goto_apart(&mut self, r: IptRule) -> Option<Vec<IptRule>> {
        use super::rule::Target;
        let Some(at) = r.goto.clone() else {
            return Some(vec![r]);
        };
        let x = &r.extra;
        let counts = x.limit.is_some() || x.recent.is_some() || x.connlimit.is_some();
        if !matches!(r.target, Target::Jump(_)) || counts {
            let why = if counts {
                "statewall reads `COND -g CHAIN` as `COND -j CHAIN` and then `COND -j RETURN`, and a rate, a list or a count there would count its packets twice: write the goto without it, and the count in CHAIN"
            } else {
                "a goto goes to a user chain of the file"
            };
            self.err(
                at,
                "`-g` (goto) statewall cannot read as a jump and a RETURN",
                why,
            );
            return None;
        }
        // the RETURN keeps where the goto is: nothing returns when CHAIN decides every
        // packet, and the walk leaves it out then (`flatten.rs`)
        let ret = IptRule {
            target: Target::Return,
            goto: Some(at),
            ..r.clone()
        };
        Some(vec![IptRule { goto: None, ..r }, ret])
    }
}

fn recent_set_apart(r: IptRule) -> Vec<IptRule> {
    use super::rule::Target;
    let splits = matches!(r.target, Target::Jump(_))
        && r.extra
            .recent
            .as_ref()
            .is_some_and(|x| x.set && x.check.is_none())
        && r.extra.limit.is_none()
        && r.extra.connlimit.is_none();
    if !splits {
        return vec![r];
    }
    let mut jump = r.clone();
    jump.extra.recent = None;
    let set = IptRule {
        target: Target::RecentSet,
        ..r
    };
    vec![set, jump]
}
