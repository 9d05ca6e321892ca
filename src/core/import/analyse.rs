//! One file, analysed: parsed, checked to filter incoming packets only, INPUT flattened, its
//! final rule found, and every other rule classified into statewall's order (`classify`).

use std::collections::{HashMap, HashSet};
use std::ops::Range;

use super::Fam;
use super::classify::{Found, Hook};
use super::extra::Side;
use super::flatten::{Flat, Verdict};
use super::lines::{FILTER_CHAINS, Parser, Tables};
use super::notes::Notes;
use super::rule::{IptRule, RejectKind, Target};
use crate::core::diag::{Diagnostic, Diags, shorten};
use crate::core::plan::CtStates;
use crate::core::services::NameDb;

/// The final rule: Some(rule) for a catch-all rule, None for the chain policy.
pub(super) type FinalRule = (Option<usize>, Verdict);

/// What the analysis of one chain (INPUT, FORWARD or OUTPUT) found.
#[derive(Debug)]
pub(super) struct Chain {
    pub(super) hook: Hook,
    pub(super) established: Option<usize>,
    pub(super) invalid: Option<usize>,
    pub(super) loopback: Option<usize>,
    pub(super) icmp: Option<usize>,
    /// each with its place in statewall's order
    pub(super) blocks: Vec<(super::classify::Placed, Flat)>,
    pub(super) allows: Vec<Flat>,
    pub(super) rejects: Vec<Flat>,
    pub(super) final_rule: FinalRule,
    /// a LOG of every packet the final rule gets (`log_final`): its TOML value
    pub(super) log_final: Option<(usize, String)>,
    /// the chain's policy line, as written (line number, text), if the file has one
    pub(super) policy_at: Option<(u32, String)>,
    /// where the final rule comes from, when not from this file's own rule or policy
    /// (`--ipv6`: the other file's)
    pub(super) final_origin: Option<String>,
    /// the baseline rules this reading took as entries in their place
    pub(super) read_as: Lower,
    /// `-j TCPMSS` first in the chain: the section's `clamp_mss` (`mss.rs`)
    pub(super) clamp_mss: Option<super::mss::Clamp>,
    /// `-j TCPMSS` rules with matches first in the chain: its clamp entries
    pub(super) clamps: Vec<super::mss::ClampRule>,
}

impl Chain {
    /// The flat rules of the chain's entries: its blocks, allows and rejects.
    pub(super) fn entries(&self) -> impl Iterator<Item = &Flat> {
        self.blocks
            .iter()
            .map(|(_, f)| f)
            .chain(&self.allows)
            .chain(&self.rejects)
    }

    fn entries_mut(&mut self) -> impl Iterator<Item = &mut Flat> {
        self.blocks
            .iter_mut()
            .map(|(_, f)| f)
            .chain(&mut self.allows)
            .chain(&mut self.rejects)
    }

    /// Where the chain's final rule comes from, as the policy's comment says it: an origin
    /// set by the reading, the rule's line, the chain's policy line, or no policy line (a
    /// built-in chain iptables-restore leaves as it was: ACCEPT on a host without rules).
    pub(super) fn final_said(&self, rules: &[IptRule]) -> String {
        let name = self.hook.chain();
        match (&self.final_origin, self.final_rule.0) {
            (Some(o), _) => o.clone(),
            (None, Some(i)) => format!("from line {}: {}", rules[i].line, rules[i].text),
            (None, None) if self.policy_at.is_none() => format!(
                "no {name} policy line: ACCEPT, as iptables-restore leaves it on a host without rules"
            ),
            (None, None) => format!("from the {name} chain policy"),
        }
    }
}

impl Chain {
    /// A chain the file leaves alone (no rule, policy ACCEPT): what iptables does to it.
    pub(super) fn accepting(hook: Hook) -> Chain {
        Chain {
            hook,
            established: None,
            invalid: None,
            loopback: None,
            icmp: None,
            blocks: Vec::new(),
            allows: Vec::new(),
            rejects: Vec::new(),
            final_rule: (None, Verdict::Accept),
            log_final: None,
            policy_at: None,
            // the chain the file leaves alone: its policy's (not read here, so not "no
            // policy line")
            final_origin: Some(format!("from the {} chain policy", hook.chain())),
            read_as: Lower::default(),
            clamp_mss: None,
            clamps: Vec::new(),
        }
    }
}

/// What the analysis of one file found.
#[derive(Debug)]
pub(super) struct Analysis {
    pub(super) rules: Vec<IptRule>,
    pub(super) input: Chain,
    /// None: the chain accepts everything (statewall does not hook it)
    pub(super) forward: Option<Chain>,
    pub(super) output: Option<Chain>,
    pub(super) notes: Notes,
    /// the lists of the port-scan trap and of port knocking (`trap.rs`): each list's name
    /// and views (the `--seconds` its checks say)
    pub(super) sets: std::collections::BTreeMap<String, super::trap::Views>,
    /// the lists whose kernel table this file's first `-m recent` rule of it makes with
    /// `--mask 255.255.255.255` (the first by line, as iptables-restore loads them, every
    /// rule of the file, those statewall leaves out too: loading a rule makes its table)
    pub(super) masked_lists: HashSet<String>,
}

/// One file's analysis under way.
pub(super) struct Analyser<'s> {
    pub(super) src: &'s str,
    pub(super) fam: Fam,
    /// the lists whose kernel table the pair's IPv4 file makes with a /32 mask
    /// ([`analyse_with`]): this (IPv6) file's limits of them count per /32
    pub(super) wide_lists: &'s HashSet<String>,
    pub(super) rules: &'s [IptRule],
    pub(super) diags: Diags,
    pub(super) notes: Notes,
    /// the chain being analysed
    pub(super) hook: Hook,
    /// whether it has an established rule (statewall's allows then match NEW only)
    pub(super) stateful: bool,
    /// baseline rules the reading under way takes as entries in their place: for `--ipv6`
    /// where the other file lacks them, or for a chain the fixed baseline would reorder
    /// (`lower.established`: no established rule, that accept an allow with `state`)
    pub(super) lower: Lower,
    /// the LOG and `-m recent --set` rules met on the walk (`extra.rs`)
    pub(super) side: Vec<Side>,
    /// the DROPs that fit no block place in the chain being analysed: the rule, and for
    /// each place the rule that stops it there (`classify`)
    pub(super) unplaced: Vec<(usize, Vec<(&'static str, usize)>)>,
    /// place a rule that counts or stamps where it moves past the fewest rules, not at the
    /// first place that keeps every verdict (`classify.rs`): tried when that fails
    pub(super) nearest: bool,
    /// a reading placed such a rule (else a second one, `nearest`, would be the same)
    pub(super) traps_placed: bool,
    /// the last reading, every DROP and REJECT in its place: each placed where it moves past
    /// the fewest rules, a REJECT as a block there (never among the rejects, after every
    /// block), so that a later drop may follow it (`classify.rs`)
    pub(super) in_place: bool,
    /// the RETURNs that return every packet their jumps send, whose cut rules are noted
    /// (once each, however many jumps lead there)
    pub(super) returned_all: HashSet<usize>,
    /// the rules the walks so far looked at (`flatten.rs`: [`super::flatten::MAX_WALK`]
    /// bounds them all together)
    pub(super) walked: usize,
    /// the rules `final_rule` and `cut_shadowed` left out as never reached in some chain's
    /// walk, and those `cut_shadowed` kept in one: a rule in the first and never in the
    /// second is reached by no packet
    pub(super) cut: HashSet<usize>,
    pub(super) kept: HashSet<usize>,
    /// the `-m connlimit` rules mapped so far (the rule, its part of a `-s a,b` list), and
    /// in which chain: the kernel keeps one count in each, which one entry must hold
    pub(super) conn_mapped: HashMap<(usize, usize), Hook>,
    /// the `--hashlimit-name` meters of ACCEPTs mapped so far: what their allows do with
    /// what exceeds the rate (`over`), the first rule that said so, and in which chain (one
    /// meter's entries must take one way: `extra.rs`)
    pub(super) meter_ways: HashMap<String, (String, usize, Hook)>,
    /// the target-less removes folded into the decisions after them, by chain (`fold.rs`)
    pub(super) folds: super::fold::Folds,
    /// the line of the DROP or REJECT at which looking for block places ran out of its
    /// comparisons (`classify.rs`), said with what the order check refuses
    pub(super) place_stopped: Option<u32>,
}

impl Analyser<'_> {
    pub(super) fn error(
        &mut self,
        span: Range<usize>,
        msg: impl Into<String>,
        help: impl Into<String>,
    ) {
        // a rule of a chain reached by two jumps is met twice: its problem is said once
        self.diags
            .push_once(Diagnostic::error(span, self.src, msg).with_help(help));
    }
}

/// Baseline rules a file's analysis reads as ordinary entries, because the other family's
/// file has no such rule (`--ipv6`, where statewall's one baseline serves both families).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(super) struct Lower {
    /// the ESTABLISHED,RELATED accept is an allow in its place (`established = false`)
    pub(super) established: bool,
    /// the loopback accept is an allow of `iif = "lo"` (`oif` in OUTPUT)
    pub(super) loopback: bool,
    /// the ICMP accept is an allow of `protocol = ["icmp"]`
    pub(super) icmp: bool,
    /// the INVALID drop is a drop like any other: merged into a final drop where that keeps
    /// every verdict, else a block of `state = "invalid"` at the first place that does
    pub(super) invalid: bool,
}

impl Lower {
    /// What this lowers, and what `o` does.
    pub(super) fn with(self, o: Lower) -> Lower {
        Lower {
            established: self.established | o.established,
            loopback: self.loopback | o.loopback,
            icmp: self.icmp | o.icmp,
            invalid: self.invalid | o.invalid,
        }
    }
}

/// Rules that match no packet (an interface alias label, `-i venet0:0`; two `-m ttl` no TTL
/// passes): left out, noted.
/// A jump or RETURN among them is never taken, so nothing else changes.
fn matches_nothing(rules: &mut Vec<IptRule>, notes: &mut Notes) {
    for r in rules.iter().filter(|r| r.never.is_some()) {
        let why = r.never.as_deref().unwrap_or_default();
        notes.push(format!(
            "line {}: `{}` matches no packet ({why}) and is left out",
            r.line,
            shorten(&r.text, 80)
        ));
    }
    rules.retain(|r| r.never.is_none());
}

/// Rules of the other family's ICMP protocol (`-p icmp` in an ip6tables file, which
/// ip6tables-restore takes): kept as written, a protocol number no ICMP of this family has;
/// one note for them all.
fn other_icmp(fam: Fam, rules: &[IptRule], notes: &mut Notes) {
    let (other, name) = match fam {
        Fam::V4 => (58, "ipv6-icmp"),
        Fam::V6 => (1, "icmp"),
    };
    let lines: Vec<String> = rules
        .iter()
        .filter(|r| r.cond.proto == Some(other))
        .map(|r| r.line.to_string())
        .collect();
    if !lines.is_empty() {
        let many = if lines.len() > 1 { "s" } else { "" };
        let (own, own_proto) = match fam {
            Fam::V4 => ("ICMP", 1),
            Fam::V6 => ("ICMPv6", 58),
        };
        notes.push(format!("line{many} {}: `-p {name}` matches packets whose protocol field says {other}, which this family's ICMP never has: kept as `protocol = [{other}]`, it never meets {own} (protocol {own_proto})", shorten(&lines.join(", "), 80)));
    }
}

/// What [`rule_checks`] found.
struct RuleChecks {
    clamps: super::mss::Clamps,
    refused: bool,
    unreached: HashSet<String>,
    folds: super::fold::Folds,
}

/// The checks of single rules and of jumps on `rules`, their refusals added to `diags` and
/// their notes to `notes`: the clamps found, whether a check before the jumps refused
/// (the jumps' refusals are said with what the walk through the chains refuses), and the
/// chains no jump reaches, whose rules were left out before the checks. Where the reading
/// refused rules (`read_refused`), a chain whose only jump was refused is not taken for one
/// nothing reaches: its rules are checked too, so that the file's problems come at once.
fn rule_checks(
    src: &str,
    fam: Fam,
    rules: &mut Vec<IptRule>,
    policies: &HashMap<String, (String, std::ops::Range<usize>)>,
    (diags, notes): (&mut Diags, &mut Notes),
    read_refused: bool,
) -> RuleChecks {
    super::above::shared_hashlimits(src, fam, rules, (&mut *diags, &mut *notes));
    matches_nothing(rules, notes);
    // after the hashlimit names, whose meter the first rule that names it makes, reached or not
    let unreached = if read_refused {
        HashSet::new()
    } else {
        super::chains::unreached(rules)
    };
    let folds = super::trap::stale_removes(src, rules, diags, notes, read_refused);
    fragments(src, rules, diags, notes);
    let clamps = super::mss::clamps(src, rules, policies, diags, notes);
    let refused = !diags.is_empty();
    super::chains::jumps(src, rules, diags, notes);
    super::paths::share_limits(fam, rules);
    RuleChecks {
        clamps,
        refused,
        unreached,
        folds,
    }
}

pub(super) fn analyse(
    src: &str,
    fam: Fam,
    services: &NameDb,
    lower: Lower,
) -> Result<Analysis, Diags> {
    analyse_with(src, fam, services, lower, &HashSet::new())
}

/// [`analyse`] of an ip6tables file whose pair's IPv4 file made the `-m recent` tables of
/// `wide_lists` with `--mask 255.255.255.255` (loaded first, as netfilter-persistent
/// does): the kernel keeps one table per name, with the mask of the rule that made it, so
/// the IPv6 rules of those lists count each /32 of sources as one.
pub(super) fn analyse_with<'s>(
    src: &'s str,
    fam: Fam,
    services: &NameDb,
    lower: Lower,
    wide_lists: &'s HashSet<String>,
) -> Result<Analysis, Diags> {
    let mut p = Parser::new(src, fam, services);
    let tables = p.parse();
    let mut diags = p.diags;
    undeclared(src, &tables, &mut diags);
    let mut notes = p.notes;
    drops_elsewhere(src, &tables, &mut diags, &mut notes);
    let left_out = super::saved::left_out(src, fam, &tables, &mut diags, &mut notes);
    if diags.is_empty() && !left_out {
        says_something(src, &tables, &mut diags, &mut notes);
    }
    if !diags.is_empty() {
        // what the checks of single rules and of jumps refuse among the rules that were
        // read is said now too, so that a file's problems come at once, not one stage of
        // fixes after another (a rule refused above is missing there: it can hide a
        // problem, not make one)
        let mut rules = tables.rules.clone();
        let mut dropped = Notes::default();
        builtin_returns(&mut rules, &tables.policies, &mut dropped);
        super::recent::throttles(&mut rules);
        rule_checks(
            src,
            fam,
            &mut rules,
            &tables.policies,
            (&mut diags, &mut dropped),
            true,
        );
        return Err(diags);
    }
    let Tables {
        policies,
        user_chains,
        mut rules,
        ..
    } = tables;
    builtin_returns(&mut rules, &policies, &mut notes);
    super::recent::throttles(&mut rules);
    other_icmp(fam, &rules, &mut notes);
    let masked_lists = masked_lists(&rules);
    let RuleChecks {
        clamps,
        refused,
        unreached,
        folds,
    } = rule_checks(
        src,
        fam,
        &mut rules,
        &policies,
        (&mut diags, &mut notes),
        false,
    );
    if refused {
        return Err(diags);
    }
    let mut cx = Analyser {
        src,
        fam,
        wide_lists,
        rules: &rules,
        diags,
        notes,
        hook: Hook::Input,
        stateful: true,
        lower,
        side: Vec::new(),
        unplaced: Vec::new(),
        nearest: false,
        traps_placed: false,
        in_place: false,
        returned_all: HashSet::new(),
        walked: 0,
        cut: HashSet::new(),
        kept: HashSet::new(),
        conn_mapped: HashMap::new(),
        meter_ways: HashMap::new(),
        folds,
        place_stopped: None,
    };
    let mut used = HashSet::new();
    let mut chains = Vec::new();
    for hook in [Hook::Input, Hook::Forward, Hook::Output] {
        let name = hook.chain();
        let said = policies.get(name).is_some_and(|(p, _)| p != "ACCEPT")
            || rules.iter().any(|r| r.chain == name)
            || clamps.any(hook);
        if hook != Hook::Input && !said {
            chains.push(None);
            continue;
        }
        cx.hook = hook;
        let noted = cx.notes.clone();
        let chain = cx
            .chain(&policies, &mut used)
            .map(|c| clamps.attach(c, hook));
        if hook != Hook::Input && chain.as_ref().is_some_and(accepts_all) {
            // not hooked: what its reading noted of its rules says nothing of the policy
            cx.notes = noted;
            cx.notes.push(format!("{name} accepts every packet it meets: statewall does not hook it (no [{}] section), and its rules are left out", name.to_ascii_lowercase()));
        }
        chains.push(chain);
    }
    // one pass over the rules, not one per chain (a file of 300,000 chains nothing jumps to)
    let ruled: HashSet<&str> = rules.iter().map(|r| r.chain.as_str()).collect();
    for c in &user_chains {
        if !used.contains(c) && (ruled.contains(c.as_str()) || unreached.contains(c)) {
            cx.notes.push(format!(
                "chain {c} is never jumped to from INPUT, FORWARD or OUTPUT: its rules have no effect and are left out"
            ));
        }
    }
    let analysed: Vec<&Chain> = chains.iter().flatten().collect();
    let (sets, unchecked) = cx.trap_lists(&analysed);
    // lists no rule checks: filling them changes no verdict, so their DROPs are plain blocks
    for f in chains.iter_mut().flatten().flat_map(Chain::entries_mut) {
        if f.extra
            .add_to_set
            .as_ref()
            .is_some_and(|n| unchecked.contains(n))
        {
            f.extra.add_to_set = None;
        }
    }
    if !cx.diags.is_empty() {
        return Err(cx.diags);
    }
    let notes = cx.notes;
    let mut chains = chains.into_iter();
    let input = chains.next().flatten().expect("no problems, so analysed");
    let forward = chains.next().flatten().filter(|c| !accepts_all(c));
    let output = chains.next().flatten().filter(|c| !accepts_all(c));
    Ok(Analysis {
        rules,
        input,
        forward,
        output,
        notes,
        sets,
        masked_lists,
    })
}

/// The lists whose first `-m recent` rule in the file says `--mask 255.255.255.255`
/// ([`Analysis::masked_lists`]).
fn masked_lists(rules: &[IptRule]) -> HashSet<String> {
    let mut first: HashMap<&str, (u32, bool)> = HashMap::new();
    for r in rules {
        if let Some(x) = &r.extra.recent {
            let e = first.entry(x.name()).or_insert((r.line, x.mask));
            if r.line < e.0 {
                *e = (r.line, x.mask);
            }
        }
    }
    first
        .into_iter()
        .filter(|(_, (_, mask))| *mask)
        .map(|(name, _)| name.to_string())
        .collect()
}

/// `-f` and `! -f`. Where the file's rules use connection tracking (a state match, an
/// original port), conntrack reassembles fragments before any filter hook sees them, in
/// iptables as in statewall: `-f` never matches (the rule is left out) and `! -f` always
/// does (it is dropped from the rule), each noted. Without conntrack the fragments arrive
/// one by one, which statewall's rules cannot tell apart: refused.
fn fragments(src: &str, rules: &mut [IptRule], diags: &mut Diags, notes: &mut Notes) {
    let tracked = rules.iter().any(|r| {
        let c = &r.cond;
        c.states.is_some()
            || c.dnat
            || c.orig_dports.is_some()
            || c.orig_dst.is_some()
            || c.orig_src.is_some()
            || c.ct_proto.is_some()
    });
    for r in rules.iter_mut() {
        let Some(first_not) = r.fragment else {
            continue;
        };
        if !tracked {
            diags.push(Diagnostic::error(r.span.clone(), src, "a fragment match (`-f`) in a file without connection tracking").with_help("without a state match no conntrack reassembles fragments before the filter hooks, and statewall's rules cannot match non-first fragments; remove the rule, or track connections (an ESTABLISHED,RELATED accept)"));
        } else if first_not {
            notes.push(format!("line {}: `{}` matches non-first fragments, and conntrack (which the file's state matches use) reassembles them before any filter rule sees them: it never matches and is left out", r.line, shorten(&r.text, 80)));
        } else {
            notes.push(format!("line {}: `! -f` says nothing once conntrack (which the file's state matches use) has reassembled the fragments: it is left out of the rule", r.line));
        }
    }
}

impl Analyser<'_> {
    /// One reading of the flattened chain with the baseline rules `lower` says are entries:
    /// LOG, limit and recent rules placed, every rule ranked, the order checked (problems
    /// reported). Returns the `log_final` LOG, the baseline rules found, the ranked rules.
    fn attempt(
        &mut self,
        mut flat: Vec<Flat>,
        final_rule: FinalRule,
        lower: Lower,
    ) -> (Option<usize>, Found, Vec<(super::classify::Rank, Flat)>) {
        let kept = std::mem::replace(&mut self.lower, lower);
        // a reading again of this chain maps its counts again
        let hook = self.hook;
        self.conn_mapped.retain(|_, h| *h != hook);
        self.meter_ways.retain(|_, (_, _, h)| *h != hook);
        let log_final = self.extras(&mut flat, final_rule);
        let mut found = Found::default();
        let ranked = self.rank_all(flat, &mut found, final_rule);
        self.check_order(&ranked, final_rule);
        self.trap_not_merged(&ranked);
        self.side_effects_keep_their_order(&ranked);
        self.lower = kept;
        (log_final, found, ranked)
    }
}

/// Whether a chain accepts every packet: statewall need not hook it (an INVALID drop is a
/// rule of its baseline, which only a hooked chain has; an allow whose limit or connection
/// count refuses what exceeds it, an ssh guard's, refuses some).
pub(super) fn accepts_all(c: &Chain) -> bool {
    c.final_rule.1 == Verdict::Accept
        && c.invalid.is_none()
        && !c.allows.iter().any(|f| f.extra.refuses_some())
        && c.blocks.is_empty()
        && c.rejects.is_empty()
        && c.clamp_mss.is_none()
        && c.clamps.is_empty()
}

impl Analyser<'_> {
    /// The analysis of chain `self.hook`; None when it has problems (reported).
    fn chain(
        &mut self,
        policies: &HashMap<String, (String, Range<usize>)>,
        used: &mut HashSet<String>,
    ) -> Option<Chain> {
        let before = self.diags.total();
        let mut flat = self.flatten_chain(self.hook.chain(), used);
        if self.diags.total() != before {
            return None;
        }
        let final_rule = self.final_rule(policies, &mut flat)?;
        self.cut_shadowed(&mut flat);
        // kept to try again, if need be: with the rules that count or stamp placed nearest
        // their place in the file, then in the file's own order (with the LOGs and `--set`s
        // met on the walk, which a reading takes)
        let again = (flat.clone(), self.diags.clone(), self.notes.clone());
        let side = self.side.clone();
        let first = self.lower;
        let full = Lower {
            established: true,
            loopback: true,
            icmp: true,
            invalid: true,
        };
        let mut tries = vec![(first, false, false), (first, true, false)];
        if first != full {
            // a rule statewall's fixed order would overtake: the ESTABLISHED,RELATED accept
            // after a DROP of a host among stateless accepts, an INVALID drop or an ICMP
            // accept after the accepts. Without statewall's baseline (`established = false`,
            // and the loopback, ICMP and INVALID rules as entries in their place) each rule
            // keeps its place, and the order check proves the rest as before
            tries.extend([(full, false, false), (full, true, false)]);
        }
        // last, every DROP and REJECT in its place: a DROP after a REJECT both match (an
        // INVALID drop after a REJECT of a TCP flag pattern) needs that REJECT as a block it
        // can follow, and a drop placed after the allows leaves a later REJECT among the
        // allows no place
        tries.push((full, true, true));
        let mut refused = None;
        let mut read = None;
        let mut had_established = false;
        let mut traps = true;
        for (lower, nearest, in_place) in tries {
            // a reading that placed no rule that counts or stamps reads the same nearest
            if nearest && !traps && !in_place {
                continue;
            }
            let (flat, diags, notes) = again.clone();
            self.side = side.clone();
            (self.nearest, self.traps_placed, self.in_place) = (nearest, false, in_place);
            self.diags = diags;
            self.notes = notes;
            let attempt = self.attempt(flat, final_rule, lower);
            (self.nearest, traps, self.in_place) = (false, self.traps_placed, false);
            if lower == first && !nearest {
                had_established = attempt.1.established.is_some();
            }
            if self.diags.total() == before {
                read = Some((attempt, lower, in_place));
                break;
            }
            // the first reading's refusal is the one said
            refused.get_or_insert_with(|| (self.diags.clone(), self.notes.clone()));
        }
        let Some(((log_final, found, ranked), read_as, in_place)) = read else {
            if let Some((diags, notes)) = refused {
                self.diags = diags;
                self.notes = notes;
            }
            return None;
        };
        if read_as == full && first != full {
            let est = ranked.iter().find(|(_, f)| {
                f.verdict == Verdict::Accept
                    && f.cond
                        == super::cond::Cond {
                            states: Some(CtStates::ESTABLISHED | CtStates::RELATED),
                            ..Default::default()
                        }
            });
            match est {
                // (first in the chain, it overtakes nothing: the baseline's other rules did)
                Some((_, f)) if had_established && ranked[0].1.rule != f.rule => {
                    let r = &self.rules[f.rule];
                    self.notes.push(format!("line {}: `{}` comes after rules that statewall's established rule, always first, would overtake: {} is imported without it (`established = false`), its allows accept every state as in the file, and this accept of established and related packets is an allow in its place", r.line, r.text, self.hook.chain()));
                }
                _ => self.notes.push(format!("{} is imported in the file's own order: statewall's fixed baseline would move a rule before one it may not overtake, so its established, loopback and ICMP accepts are entries in their place (and an INVALID drop, merged into a final drop or a block of `state = \"invalid\"` in its place)", self.hook.chain())),
            }
        }
        let reject_blocks = ranked.iter().any(|(r, f)| {
            matches!(f.verdict, Verdict::Reject(_)) && *r != super::classify::Rank::Reject
        });
        if in_place && reject_blocks {
            self.notes.push(format!("{}'s REJECTs are blocks where the file has them (`[[block]]`, the reject's kind as its `with`): a later rule must meet only what they leave, and statewall's rejects come after every block", self.hook.chain()));
        }
        if self.diags.total() != before {
            return None;
        }
        let log_final = log_final.and_then(|l| self.log_final(l, &ranked));
        let c = self.collect(ranked, &found);
        Some(Chain {
            hook: self.hook,
            established: found.established,
            invalid: found.invalid,
            loopback: found.loopback,
            icmp: found.icmp,
            blocks: c.blocks,
            allows: c.allows,
            rejects: c.rejects,
            final_rule,
            log_final,
            policy_at: policies.get(self.hook.chain()).map(|(_, span)| {
                let line = crate::core::diag::loc_of(self.src, span.start).line;
                let start = crate::core::diag::line_start(self.src, span.start);
                let end = self.src[start..]
                    .find('\n')
                    .map_or(self.src.len(), |e| start + e);
                (line, self.src[start..end].trim().to_string())
            }),
            final_origin: None,
            read_as,
            clamp_mss: None,
            clamps: Vec::new(),
        })
    }
}

/// A file must say what incoming packets get: a filter table, with an INPUT policy, rules of
/// a built-in chain, or at least rules of chains of its own. An empty file (or `/dev/null`),
/// or a filter table of nothing, is refused, not read as "accept everything". A table of
/// rules only in chains of its own (ufw's `user.rules`, jumped to from rules that are not in
/// the file) is what iptables-restore loads it as: INPUT, FORWARD and OUTPUT left as they
/// were, accepting every packet on a host without rules; imported so, with a note.
fn says_something(src: &str, tables: &Tables, diags: &mut Diags, notes: &mut Notes) {
    let help = "statewall imports the INPUT, FORWARD and OUTPUT chains of the filter table, as `iptables-save` (or `ip6tables-save`) prints them: `*filter`, `:INPUT DROP [0:0]`, the `-A INPUT …` rules, `COMMIT`";
    let Some(filter) = &tables.filter else {
        let message = if src.trim().is_empty() {
            "the file is empty: it says nothing about incoming packets".to_string()
        } else {
            "no `*filter` table: the file says nothing about incoming packets".to_string()
        };
        diags.push(Diagnostic::error(super::first_line_span(src), src, message).with_help(help));
        return;
    };
    // an INPUT policy, a rule of a built-in chain, or a FORWARD/OUTPUT policy that drops
    let said = tables.policies.contains_key("INPUT")
        || tables.policies.values().any(|(p, _)| p != "ACCEPT")
        || tables
            .rules
            .iter()
            .any(|r| FILTER_CHAINS.contains(&r.chain.as_str()));
    if said {
        return;
    }
    if tables.rules.is_empty() {
        diags.push(
            Diagnostic::error(
                filter.clone(),
                src,
                "the filter table says nothing about INPUT, FORWARD or OUTPUT: no INPUT policy, no rule, no policy that drops",
            )
            .with_help(help),
        );
        return;
    }
    let mut seen = HashSet::new();
    let own: Vec<&str> = tables
        .rules
        .iter()
        .map(|r| r.chain.as_str())
        .filter(|c| seen.insert(*c))
        .collect();
    notes.push(format!(
        "the filter table says nothing about INPUT, FORWARD or OUTPUT (no policy line, no rule): iptables-restore of it leaves them as they were, accepting every packet on a host without rules, and so does this policy; its rules are in chains no built-in chain of this file jumps to ({}{}): to keep what they do, import the whole ruleset as `iptables-save` prints it on the host (for ufw: its before, user and after rules together)",
        own[..own.len().min(3)].join(", "),
        if own.len() > 3 { ", …" } else { "" }
    ));
}

/// A RETURN in INPUT, FORWARD or OUTPUT: the packet gets the chain's policy (as at the
/// chain's end), so the rule is read with that verdict, ACCEPT or DROP (`-m limit … -j
/// RETURN` then `-j DROP` under policy ACCEPT: an accept within the rate). The policy is the
/// file's last word on it, as the kernel applies it when the packet comes, or ACCEPT.
fn builtin_returns(
    rules: &mut [IptRule],
    policies: &HashMap<String, (String, Range<usize>)>,
    notes: &mut Notes,
) {
    for r in rules.iter_mut() {
        if r.target != Target::Return || !FILTER_CHAINS.contains(&r.chain.as_str()) {
            continue;
        }
        let (target, policy) = match policies.get(&r.chain).map(|(p, _)| p.as_str()) {
            Some("DROP") => (Target::Drop, "DROP"),
            _ => (Target::Accept, "ACCEPT"),
        };
        r.target = target;
        // a goto's way back (`lines.rs`): what its chain leaves undecided
        if r.goto.is_some() {
            notes.push(format!(
                "line {}: what the goto's chain leaves undecided gets the built-in {} chain's policy, {policy}, as iptables gives it (a goto never returns to the rules after it)",
                r.line, r.chain
            ));
            continue;
        }
        notes.push(format!(
            "line {}: a RETURN in the built-in {} chain gives its packets the chain policy, {policy}, as its end does: read as `-j {policy}`",
            r.line, r.chain
        ));
    }
}

/// The DROP policies of nat, mangle, raw and security chains. statewall leaves those tables
/// alone, so it takes one only where it changes nothing: where the filter table drops every
/// packet of the hooks that chain sees already (its built-in chains there have policy DROP
/// and no rule — a file that turns a family off in every table); else refused where written.
fn drops_elsewhere(src: &str, tables: &Tables, diags: &mut Diags, notes: &mut Notes) {
    /// The most policies the note names (a file may declare a chain again and again).
    const NAMED: usize = 16;
    let (mut quiet, mut filter, mut all) = (Vec::new(), Vec::new(), 0);
    let ruled: HashSet<&str> = tables.rules.iter().map(|r| r.chain.as_str()).collect();
    for (table, chain, span) in &tables.other_drops {
        let seen: &[&str] = match chain.as_str() {
            "PREROUTING" => &["INPUT", "FORWARD"],
            "POSTROUTING" => &["FORWARD", "OUTPUT"],
            "INPUT" => &["INPUT"],
            "FORWARD" => &["FORWARD"],
            _ => &["OUTPUT"],
        };
        let drops_all = |c: &&str| {
            tables.policies.get(*c).is_some_and(|(p, _)| p == "DROP") && !ruled.contains(*c)
        };
        let open: Vec<&str> = seen.iter().filter(|c| !drops_all(c)).copied().collect();
        if open.is_empty() {
            all += 1;
            if quiet.len() < NAMED {
                let line = crate::core::diag::loc_of(src, span.start).line;
                quiet.push(format!("{table} {chain} (line {line})"));
            }
            for c in seen {
                if !filter.contains(c) {
                    filter.push(*c);
                }
            }
            continue;
        }
        diags.push(
            Diagnostic::error(span.clone(), src, format!("chain {chain} of table {table} has policy DROP"))
                .with_help(format!("statewall filters in its own table and leaves the nat, mangle, raw and security tables alone; it takes a DROP policy there only where the filter table drops every packet of that hook already (policy DROP and no rule), and its {} does not", open.join(" and "))),
        );
    }
    if !quiet.is_empty() {
        filter.sort_by_key(|c| FILTER_CHAINS.iter().position(|f| f == c));
        let more = if all > quiet.len() {
            format!(" and {} more", all - quiet.len())
        } else {
            String::new()
        };
        notes.push(format!("the DROP policies of {}{more} change nothing: the filter table's {} drop every packet there already (policy DROP, no rule)", quiet.join(", "), filter.join(", ")));
    }
}

/// Refuses rules in chains never declared, and jumps to what is neither a chain nor a known
/// target.
fn undeclared(src: &str, tables: &Tables, diags: &mut Diags) {
    let user_chains: HashSet<&str> = tables.user_chains.iter().map(String::as_str).collect();
    for r in &tables.rules {
        if !FILTER_CHAINS.contains(&r.chain.as_str()) && !user_chains.contains(r.chain.as_str()) {
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
    /// The chain's policy, or the first catch-all rule: that ends the chain, and anything after
    /// it is never reached (noted, and cut from `flat`). None when the policy is neither
    /// ACCEPT nor DROP.
    fn final_rule(
        &mut self,
        policies: &HashMap<String, (String, Range<usize>)>,
        flat: &mut Vec<Flat>,
    ) -> Option<FinalRule> {
        let rules = self.rules;
        let policy = policies
            .get(self.hook.chain())
            .map_or("ACCEPT", |(p, _)| p.as_str());
        // other policies are refused by the parser
        let mut final_rule = match policy {
            "DROP" => (None, Verdict::Drop),
            _ => (None, Verdict::Accept),
        };
        // a rule that matches every packet, but for a rate, a count or a list of its own
        // (`-m limit`, `-m connlimit`, `-m recent`: on the rule or a jump that led to it)
        // or a connection's direction (`--ctdir`), decides only some of them: the rules
        // after it meet the rest
        let whole = |f: &Flat| {
            // a rule that takes sources off a list (`fold.rs`) does more than decide
            f.cond.is_everything()
                && f.extra.remove_from_set.is_empty()
                && std::iter::once(&f.rule).chain(&f.via).all(|&i| {
                    super::chains::own_match(&rules[i]).is_none() && rules[i].ctdir.is_none()
                })
        };
        if let Some(at) = flat.iter().position(whole) {
            final_rule = (Some(flat[at].rule), flat[at].verdict);
            let later: Vec<usize> = flat[at + 1..].iter().map(|f| f.rule).collect();
            self.cut.extend(later.iter().copied());
            let l = rules[flat[at].rule].line;
            // iptables-restore loads them, and they never decide a packet: left out, said
            for r in dedup(later) {
                let r = &rules[r];
                self.notes.push(format!("line {}: `{}` is never reached (line {l} decides every packet before it) and is left out, as it has no effect in the file either; move it before line {l} if it was meant to", r.line, shorten(&r.text, 80)));
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
            let d = analyse(src, Fam::V4, &NameDb::builtin(), Lower::default()).unwrap_err();
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
        assert!(
            analyse(
                "*filter\n:INPUT ACCEPT [0:0]\nCOMMIT\n",
                Fam::V4,
                &NameDb::builtin(),
                Lower::default()
            )
            .is_ok()
        );
        assert!(
            analyse(
                "*filter\n-A INPUT -j DROP\nCOMMIT\n",
                Fam::V4,
                &NameDb::builtin(),
                Lower::default()
            )
            .is_ok()
        );
    }

    #[test]
    fn the_first_catch_all_ends_the_chain() {
        let src = "*filter\n:INPUT ACCEPT [0:0]\n-A INPUT -m state --state ESTABLISHED,RELATED -j ACCEPT\n-A INPUT -p tcp --dport 22 -j ACCEPT\n-A INPUT -j DROP\n-A INPUT -p tcp --dport 80 -j ACCEPT\nCOMMIT\n";
        let a = analyse(src, Fam::V4, &NameDb::builtin(), Lower::default()).unwrap();
        let notes: Vec<&String> = a.notes.iter().collect();
        assert!(
            notes[0].starts_with(
                "line 6: `-A INPUT -p tcp --dport 80 -j ACCEPT` is never reached (line 5 decides"
            ),
            "{}",
            notes[0]
        );
        assert_eq!(a.input.final_rule, (Some(2), Verdict::Drop));
        assert_eq!(
            a.input.allows.len(),
            1,
            "port 80 is left out, as iptables never reaches it"
        );
        assert_eq!(a.input.established, Some(0));
        assert_eq!(a.input.allows.len(), 1);
    }
}
