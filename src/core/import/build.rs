//! Building the policy from the analysed file(s): how it ends, its entries, the notes on
//! what changed on the way, and the text, checked by parsing it back.

use std::collections::BTreeSet;

use super::analyse::{Analysis, Chain};
use super::classify::{Hook, Placed};
use super::entries::{
    Entry, entry_of, join_families, merge, merge_ports, pin_to_v4, v6_entry_of, with_of,
};
use super::flatten::{Flat, Verdict};
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
    /// the input chain's final rule's ICMP answer; None for a drop (or audit's accept)
    pub(super) reject: Option<IcmpReject>,
    /// where the final verdict comes from: "from line N: …" or the chain policy
    pub(super) origin: String,
    /// enforce mode with an INPUT that accepts everything (the other chains do not)
    pub(super) input_accepts_all: bool,
    /// enforce mode with an INPUT that blocks some packets and accepts the rest
    pub(super) accepts_rest: bool,
}

/// One section of the policy (input, forward, output) as it is written.
pub(super) struct Section<'a> {
    pub(super) chain: &'a Chain,
    pub(super) blocks: Vec<Entry>,
    pub(super) allows: Vec<Entry>,
    pub(super) rejects: Vec<Entry>,
    /// the clamp entries (TCPMSS rules with matches), with what each clamps to
    pub(super) clamps: Vec<(Entry, crate::core::model::Mss)>,
    /// the `icmpv6` baseline of an input or output section, and why (the comment)
    pub(super) icmpv6: (bool, String),
}

pub(super) fn build(
    src: &str,
    v4: Analysis,
    v6: Option<Analysis>,
    ipv6: Ipv6,
) -> Result<Imported, Diags> {
    let mut v4 = v4;
    let mut v6 = v6;
    let mut notes = v4.notes.clone();
    if let Some(v6) = &mut v6 {
        one_final(&mut v4, v6, &mut notes);
    }
    if let Some(v6) = &v6 {
        same_log_finals(&mut v4, v6, &mut notes);
        for n in v6.notes.iter() {
            notes.push(format!("IPv6 file: {n}"));
        }
        let diags = families_differ(src, &v4, v6);
        if !diags.is_empty() {
            return Err(diags);
        }
    }
    let ending = ending(&v4, v6.as_ref(), &mut notes);
    let mut sections = Vec::new();
    let chains = [Some(&v4.input), v4.forward.as_ref(), v4.output.as_ref()];
    let chains6 = v6
        .as_ref()
        .map(|a| [Some(&a.input), a.forward.as_ref(), a.output.as_ref()]);
    for (k, c) in chains.into_iter().enumerate() {
        let Some(c) = c else { continue };
        let c6 = chains6
            .and_then(|c6| c6[k])
            .map(|c| (v6.as_ref().expect("v6 chains"), c));
        sections.push(section(&v4, c, c6, ipv6, &mut notes));
    }
    if ending.input_accepts_all {
        sections[0].allows.clear();
        sections[0].blocks.clear();
    }
    if ipv6 == Ipv6::Mirror {
        for s in sections
            .iter_mut()
            .filter(|s| s.chain.hook != Hook::Forward)
        {
            super::mirror::icmpv6_first(&mut s.blocks);
        }
        for s in sections.iter_mut() {
            let entries = s
                .blocks
                .iter_mut()
                .chain(&mut s.allows)
                .chain(&mut s.rejects);
            entries.for_each(super::mirror::icmp_connections);
        }
    }
    // an INPUT that accepts everything is one allow of that name (`text::accept_all`): an
    // entry of FORWARD or OUTPUT that says only exceptions, named so too, takes another
    let mut accept_all = super::text::ACCEPT_ALL.to_string();
    make_unique(
        ending
            .input_accepts_all
            .then_some(&mut accept_all)
            .into_iter()
            .chain(sections.iter_mut().flat_map(|s| {
                s.blocks
                    .iter_mut()
                    .chain(s.allows.iter_mut())
                    .chain(s.rejects.iter_mut())
                    .chain(s.clamps.iter_mut().map(|(e, _)| e))
                    .map(|e| &mut e.name)
            }))
            .collect(),
    );
    sections.iter_mut().for_each(place_among);
    if ipv6 == Ipv6::Mirror {
        super::mirror::split_notes(&sections, &mut notes);
        mirror_notes(&sections, &mut notes);
    }
    match ipv6 {
        Ipv6::Mirror => notes.push("--mirror-ipv6: entries without a source apply to IPv6 as well; statewall adds its ICMPv6 baseline (errors, echo, MLD, router and neighbour discovery), which IPv6 cannot work without".into()),
        Ipv6::File => notes.push("--ipv6: the IPv4 file's entries are pinned to IPv4 (from 0.0.0.0/0 when they had no source) and the IPv6 file's to IPv6 (::/0); statewall's ICMPv6 baseline (errors, echo, MLD, router and neighbour discovery) stands for the IPv6 file's plain ICMPv6 accept, where it has one".into()),
        Ipv6::Unspecified => {}
    }
    if v6.as_ref().is_some_and(|a| a.input.icmp.is_some()) {
        notes.push("IPv6 file: statewall accepts the ICMPv6 types IPv6 needs (1-4, 128-136, 143), not every ICMPv6 type".into());
    }
    // the lists: one live set per view each, for both families (the set's IPv4 and IPv6
    // halves). The kernel keeps one table per name for both families, with the `--mask` of
    // the rule that made it: an IPv6 rule loaded after an IPv4 one of the same name that
    // says `--mask 255.255.255.255` keys its sources by their first 32 bits, which statewall
    // does not copy (noted)
    if let Some(v6) = &v6 {
        for (name, views) in &v6.sets {
            // the table is made by the IPv4 file's first rule of the list (loaded first)
            if v4.masked_lists.contains(name) {
                notes.push(format!("{}, one entry for a whole /32; statewall's set `{name}` keeps each IPv6 source whole, as the IPv6 file's own --mask says", super::recent::shared_mask_why(name)));
            }
            v4.sets
                .entry(name.clone())
                .or_default()
                .extend(views.iter().copied());
        }
    }
    for e in sections.iter_mut().flat_map(|s| {
        s.blocks
            .iter_mut()
            .chain(s.allows.iter_mut())
            .chain(s.rejects.iter_mut())
    }) {
        e.extra.live = super::trap::resolve(&e.extra, &v4.sets);
    }
    super::paths::share_lists(
        sections.iter_mut().flat_map(|s| {
            let k = s.chain.hook.chain();
            s.blocks
                .iter_mut()
                .chain(s.allows.iter_mut())
                .chain(s.rejects.iter_mut())
                .map(move |e| (k, e))
        }),
        &mut notes,
    );
    super::paths::unshare_where_ways_differ(
        sections.iter_mut().flat_map(|s| {
            s.blocks
                .iter_mut()
                .chain(s.allows.iter_mut())
                .chain(s.rejects.iter_mut())
        }),
        &mut notes,
    );
    let used = used_sets(&v4, &sections, &mut notes);
    let listed = notes.clone().into_vec();
    let text = policy_text(&v4, (&listed, &used), &ending, &sections);
    reparse(src, text, notes)
}

/// The sets of `-m recent` lists some entry checks, fills or empties, with the note on each
/// list whose checks have no `--seconds`. A list no entry kept uses (its rules were in a
/// chain statewall does not hook, or left out) is no set: one nothing uses filters nothing.
fn used_sets<'a>(
    v4: &Analysis,
    sections: &'a [Section<'_>],
    notes: &mut Notes,
) -> BTreeSet<&'a str> {
    let used: BTreeSet<&str> = sections
        .iter()
        .flat_map(|s| s.blocks.iter().chain(&s.allows).chain(&s.rejects))
        .flat_map(|e| {
            let l = &e.extra.live;
            l.from_set
                .iter()
                .chain(&l.add_to_set)
                .chain(&l.remove_from_set)
        })
        .map(String::as_str)
        .collect();
    for (name, views) in &v4.sets {
        let kept =
            |s: &Option<u64>| used.contains(super::trap::view_name(name, *s, views).as_str());
        if views.contains(&None) && kept(&None) {
            notes.push(format!("list `{name}`: iptables keeps a source on it until 100 newer sources push it out, where a check has no --seconds (or a rule --removes); statewall's set `{name}` keeps a source for {} s after the last packet that put it there (a timeout), 65,535 sources per family", super::trap::LIST_KEPT_S));
        }
    }
    used
}

/// The chain of `a` for section `k` (INPUT, FORWARD, OUTPUT), if the file filters it.
fn chain_of(a: &mut Analysis, k: usize) -> Option<&mut Chain> {
    match k {
        0 => Some(&mut a.input),
        1 => a.forward.as_mut(),
        _ => a.output.as_mut(),
    }
}

/// `--ipv6`: one final rule per section for both families. Where the two files end a chain
/// differently (or one leaves it alone: an ACCEPT policy), the section keeps the stricter
/// ending (drop, then reject, then accept; the IPv4 file's between two rejects) and the other
/// file's ending becomes that family's last entry, pinned to it: a `[[reject]]` after its
/// rejects, or an `[[allow]]` after its allows, its rejects and blocks after the allows
/// moved before it (blocks right after its last allow, in their order). Each is noted.
fn one_final(v4: &mut Analysis, v6: &mut Analysis, notes: &mut Notes) {
    for (k, hook) in [Hook::Input, Hook::Forward, Hook::Output]
        .into_iter()
        .enumerate()
    {
        let (has4, has6) = (chain_of(v4, k).is_some(), chain_of(v6, k).is_some());
        match (has4, has6) {
            (false, false) => continue,
            (true, false) if k == 1 => v6.forward = Some(Chain::accepting(hook)),
            (true, false) => v6.output = Some(Chain::accepting(hook)),
            (false, true) if k == 1 => v4.forward = Some(Chain::accepting(hook)),
            (false, true) => v4.output = Some(Chain::accepting(hook)),
            (true, true) => {}
        }
        let f4 = chain_of(v4, k).expect("present").final_rule.1;
        let f6 = chain_of(v6, k).expect("present").final_rule.1;
        if same_ending(f4, f6) {
            continue;
        }
        let strict = |v: Verdict| match v {
            Verdict::Drop => 2,
            Verdict::Reject(_) => 1,
            Verdict::Accept => 0,
        };
        let keep_v6 = strict(f6) > strict(f4);
        let (m, family, other) = if keep_v6 {
            (&mut *v4, "IPv4", "IPv6")
        } else {
            (&mut *v6, "IPv6", "IPv4")
        };
        let name = hook.chain();
        let mc = chain_of(m, k).expect("present");
        let (fin, policy_at) = (mc.final_rule, mc.policy_at.clone());
        // the rule its entry comes from (the catch-all, or the policy line), named for it
        let rest = format!("{}-rest", family.to_ascii_lowercase());
        let from = match fin.0 {
            Some(i) => super::rule::IptRule {
                comment: Some(rest),
                comment_id: None,
                ..m.rules[i].clone()
            },
            None => {
                let (line, text) =
                    policy_at.unwrap_or((0, format!("(no {name} rule or policy: ACCEPT)")));
                super::rule::IptRule {
                    span: 0..0,
                    text,
                    line,
                    chain: name.to_string(),
                    cond: Default::default(),
                    srcs: Vec::new(),
                    dsts: Vec::new(),
                    ranged: (false, false),
                    flag_alts: Vec::new(),
                    dnat_alt: false,
                    target: super::rule::Target::Count,
                    target_span: 0..0,
                    comment: Some(rest),
                    comment_id: None,
                    extra: Default::default(),
                    fragment: None,
                    never: None,
                    ctdir: None,
                    goto: None,
                }
            }
        };
        m.rules.push(from);
        let rule = m.rules.len() - 1;
        let mc = chain_of(m, k).expect("present");
        let last = Flat {
            cond: Default::default(),
            verdict: fin.1,
            rule,
            part: 0,
            via: Vec::new(),
            extra: Default::default(),
            block_state: None,
        };
        match fin.1 {
            Verdict::Accept => {
                // what this file drops or rejects after its allows must come before the accept
                // of the rest: blocks right after its last allow (or after the baseline), in
                // their order, the rejects with their answer
                use crate::core::model::BlockAt;
                let place = match mc.allows.len() {
                    0 => Placed::At(BlockAt::Baseline),
                    n => Placed::AfterAllow(n - 1),
                };
                let (late, kept): (Vec<_>, Vec<_>) = std::mem::take(&mut mc.blocks)
                    .into_iter()
                    .partition(|(p, _)| *p == Placed::At(BlockAt::Allows));
                mc.blocks = kept;
                let rejects = std::mem::take(&mut mc.rejects);
                mc.blocks.extend(
                    late.into_iter()
                        .map(|(_, f)| f)
                        .chain(rejects)
                        .map(|f| (place.clone(), f)),
                );
                mc.allows.push(last);
                // like any accept without a state match behind the established rule, the
                // ending's allow takes NEW connections: the file's accepted INVALID packets too
                if mc.established.is_some() && mc.invalid.is_none() {
                    notes.push(format!("the {family} file's ending of {name} (\"{}-rest\") has no state match; statewall's allows accept NEW connections (established ones by its established rule; packets conntrack calls INVALID are no longer accepted there)", family.to_ascii_lowercase()));
                }
            }
            _ => mc.rejects.push(last),
        }
        // its own ending is now an entry: the section's is the other file's
        mc.final_rule = (None, if keep_v6 { f6 } else { f4 });
        let kept = chain_of(if keep_v6 { &mut *v6 } else { &mut *v4 }, k).expect("present");
        let origin = match (kept.final_rule.0, &kept.policy_at) {
            (Some(_), _) => "its last rule".to_string(),
            (None, Some((l, t))) => format!("line {l}: {t}"),
            (None, None) => "no policy: ACCEPT".into(),
        };
        if keep_v6 {
            let c4 = chain_of(v4, k).expect("present");
            c4.final_rule = (None, f6);
            c4.final_origin = Some(format!("from the IPv6 file, {origin}"));
        }
        notes.push(format!("the IPv4 and IPv6 files end {name} differently: the section ends as the {other} file's does, and the {family} file's ending is the last entry for {family} (\"{}-rest\", pinned to {family})", family.to_ascii_lowercase()));
    }
}

/// statewall has one final rule and one baseline per section for both families: the two
/// files must agree on them.
fn families_differ(src: &str, v4: &Analysis, v6: &Analysis) -> Diags {
    let mut diags = Diags::new();
    let same = |a: Option<usize>, b: Option<usize>| a.is_some() == b.is_some();
    let pairs = [
        (Some(&v4.input), Some(&v6.input), "INPUT"),
        (v4.forward.as_ref(), v6.forward.as_ref(), "FORWARD"),
        (v4.output.as_ref(), v6.output.as_ref(), "OUTPUT"),
    ];
    for (a, b, name) in pairs {
        let (a, b) = match (a, b) {
            (None, None) => continue,
            (Some(a), Some(b)) => (a, b),
            _ => {
                diags.push(Diagnostic::error(first_line_span(src), src, format!("one of the IPv4 and IPv6 files filters {name} and the other accepts everything there")).with_help("statewall hooks a chain for both families or for neither: make both files filter it, or neither"));
                continue;
            }
        };
        let clamp = |c: &Chain| c.clamp_mss.as_ref().map(|(.., m)| *m);
        if clamp(a) != clamp(b) {
            diags.push(Diagnostic::error(first_line_span(src), src, format!("the IPv4 and IPv6 files clamp the MSS of {name} differently")).with_help("statewall's clamp_mss is one rule for both families: give both files the same `-j TCPMSS` rule, or neither"));
        }
        if !same_ending(a.final_rule.1, b.final_rule.1) {
            diags.push(Diagnostic::error(first_line_span(src), src, format!("the IPv4 and IPv6 files end {name} differently")).with_help("statewall has one final rule per chain for both families: make both files end it with the same verdict"));
        }
        if !same(a.established, b.established)
            || !same(a.invalid, b.invalid)
            || !same(a.loopback, b.loopback)
        {
            diags.push(
                Diagnostic::error(
                    first_line_span(src),
                    src,
                    format!("the IPv4 and IPv6 files differ in the established, invalid or loopback rules of {name}"),
                )
                .with_help("statewall's baseline is the same for both families"),
            );
        }
    }
    diags
}

/// Whether the IPv4 file's final verdict `v4` answers IPv6 as the IPv6 file's `v6` does:
/// the same verdict, or a reject kind whose ICMPv6 code is the IPv6 file's (RHEL ends INPUT
/// with icmp-host-prohibited and its ip6tables twin with icmp6-adm-prohibited).
fn same_ending(v4: Verdict, v6: Verdict) -> bool {
    match (v4, v6) {
        (Verdict::Reject(RejectKind::Icmp(a)), Verdict::Reject(RejectKind::Icmp(b))) => {
            a.code(true) == b.code(true)
        }
        _ => v4 == v6,
    }
}

/// `--ipv6`: a section logs what its final rule gets for both families or for neither; when
/// the two files' LOGs differ, the IPv4 one is left out too (noted).
fn same_log_finals(v4: &mut Analysis, v6: &Analysis, notes: &mut Notes) {
    let pairs = [
        (Some(&mut v4.input), Some(&v6.input)),
        (v4.forward.as_mut(), v6.forward.as_ref()),
        (v4.output.as_mut(), v6.output.as_ref()),
    ];
    for (a, b) in pairs {
        let (Some(a), b) = (a, b) else { continue };
        let theirs = b.and_then(|b| b.log_final.as_ref()).map(|(_, v)| v);
        if a.log_final.as_ref().map(|(_, v)| v) != theirs
            && let Some((r, _)) = a.log_final.take()
        {
            let r = &v4.rules[r];
            notes.push(format!("line {}: `{}` is left out (the IPv6 file does not log its final rule's packets the same way, and statewall's log_final is one for both families): a LOG never changes a verdict, so leaving it out changes what is logged, never what is let through", r.line, r.text));
        }
    }
}

/// The mode and final rule of the policy, from the IPv4 file's final rule (the IPv6 file's
/// is the same: `one_final`), and whether an INPUT that accepts the rest refuses some packets
/// first, in either file.
fn ending(v4: &Analysis, v6: Option<&Analysis>, notes: &mut Notes) -> Ending {
    let input = &v4.input;
    let (mut mode, reject) = match input.final_rule.1 {
        Verdict::Accept => ("audit", None),
        Verdict::Drop => ("enforce", None),
        Verdict::Reject(RejectKind::Icmp(k)) => ("enforce", Some(k)),
        Verdict::Reject(RejectKind::TcpReset) => unreachable!("refused in analyse"),
    };
    let origin = input.final_said(&v4.rules);
    let others_filter = [&v4.forward, &v4.output]
        .into_iter()
        .flatten()
        .any(|c| c.final_rule.1 != Verdict::Accept);
    let stops_some = std::iter::once(input)
        .chain(v6.map(|a| &a.input))
        .any(|c| !super::analyse::accepts_all(c));
    let mut input_accepts_all = false;
    let mut accepts_rest = false;
    if mode == "audit" && others_filter {
        mode = "enforce";
        if stops_some {
            // a blocklist INPUT beside a FORWARD or OUTPUT that filters: enforce mode (audit
            // would make those accept too), the input chain's final rule accepts
            accepts_rest = true;
            notes.push(format!("INPUT drops or rejects some packets and accepts the rest ({origin}), while FORWARD or OUTPUT drops what it does not allow: imported in enforce mode with the input chain's final = \"accept\""));
        } else {
            input_accepts_all = true;
            notes.push(format!("INPUT accepts everything ({origin}): imported as an input section that accepts every packet (no baseline, one stateless allow from anywhere), in enforce mode for FORWARD/OUTPUT"));
        }
    } else if mode == "audit" {
        notes.push(format!("everything not allowed is accepted ({origin}): imported as mode = \"audit\", where the final rule counts and accepts; check the counters, then switch to enforce"));
    }
    Ending {
        mode,
        reject,
        origin,
        input_accepts_all,
        accepts_rest,
    }
}

/// One section's entries, for both families as `ipv6` says, merged. Allows are never merged
/// across a block among them (each run between two such blocks is a segment), and in a
/// section with such blocks the IPv6 file's entries stay apart from the IPv4 file's (joining
/// them would move IPv6 allows across IPv6 blocks).
fn section<'a>(
    v4: &Analysis,
    c: &'a Chain,
    c6: Option<(&Analysis, &Chain)>,
    ipv6: Ipv6,
    notes: &mut Notes,
) -> Section<'a> {
    let icmpv6 = icmpv6_baseline(c, c6, notes);
    let among = |c: &Chain| -> Vec<usize> {
        c.blocks
            .iter()
            .filter_map(|(p, _)| match p {
                Placed::AfterAllow(j) => Some(*j),
                Placed::At(_) => None,
            })
            .collect()
    };
    let kinds = |a: &Analysis, c: &Chain, v6: bool, seg0: usize| {
        let of = |f: &Flat, with| {
            if v6 {
                v6_entry_of(&a.rules, f, with)
            } else {
                entry_of(&a.rules, f, with)
            }
        };
        // the allows before each block among them, in file order
        let cuts = among(c);
        let seg_of = |i: usize| seg0 + cuts.partition_point(|&j| j < i);
        let blocks: Vec<Entry> = c
            .blocks
            .iter()
            .map(|(at, f)| {
                let mut e = of(f, with_of(f));
                match at {
                    Placed::At(at) => e.after = at.after().map(str::to_string),
                    Placed::AfterAllow(j) => e.after_seg = Some(seg_of(*j)),
                }
                e
            })
            .collect();
        let allows: Vec<Entry> = c
            .allows
            .iter()
            .enumerate()
            .map(|(i, f)| {
                let mut e = of(f, None);
                e.seg = seg_of(i);
                e
            })
            .collect();
        let rejects: Vec<Entry> = c.rejects.iter().map(|f| of(f, with_of(f))).collect();
        ([blocks, allows, rejects], seg0 + cuts.len() + 1)
    };
    let (mut lists, segs) = kinds(v4, c, false, 0);
    if ipv6 == Ipv6::File {
        lists.iter_mut().flatten().for_each(pin_to_v4);
        let mut apart = !among(c).is_empty();
        if let Some((a6, c6)) = c6 {
            apart |= !among(c6).is_empty();
            for (l, l6) in lists.iter_mut().zip(kinds(a6, c6, true, segs).0) {
                l.reserve_exact(l6.len());
                l.extend(l6);
            }
        }
        if !apart {
            for l in lists.iter_mut() {
                *l = join_families(std::mem::take(l));
            }
        }
    }
    let [blocks, allows, rejects] = lists;
    let [blocks, allows, rejects] = [blocks, merge_ports(allows), rejects].map(merge);
    let mut clamps = clamp_entries(&c.clamps, false, ipv6 == Ipv6::File);
    if let (Some((_, c6)), Ipv6::File) = (c6, ipv6) {
        clamps.extend(clamp_entries(&c6.clamps, true, true));
    }
    Section {
        chain: c,
        blocks,
        allows,
        rejects,
        clamps,
        icmpv6,
    }
}

/// The clamp entries of a chain's TCPMSS rules with matches: one per rule, its `-s`/`-d`
/// lists (and `-m iprange` ranges) its `from`/`to` lists (an entry matches any source of
/// its list towards any destination of its list, as iptables-restore's rule per pair does,
/// in one entry: a rule's pairs are never written out), from the IPv6 file (`v6`) or
/// pinned to IPv4 when the files are a pair (`pin`).
fn clamp_entries(
    rules: &[super::mss::ClampRule],
    v6: bool,
    pin: bool,
) -> Vec<(Entry, crate::core::model::Mss)> {
    let mut out = Vec::new();
    for (r, mss) in rules {
        let one = std::slice::from_ref(r);
        let f = Flat {
            cond: r.cond.clone(),
            verdict: Verdict::Accept,
            rule: 0,
            part: 0,
            via: Vec::new(),
            extra: Default::default(),
            block_state: None,
        };
        let mut e = if v6 {
            v6_entry_of(one, &f, None)
        } else {
            entry_of(one, &f, None)
        };
        if !r.srcs.is_empty() {
            e.from = r.srcs.clone();
        }
        if !r.dsts.is_empty() {
            e.more.to = r.dsts.clone();
        }
        if pin && !v6 {
            pin_to_v4(&mut e);
        }
        if r.comment.is_none() {
            e.name = format!("tcpmss-line-{}", r.line);
        }
        out.push((e, *mss));
    }
    out
}

/// The `icmpv6` baseline of an input or output section (a forward section's follows its
/// ICMP accept, in `text`). With `--ipv6 FILE6` it is what the IPv6 file says: its plain
/// ICMPv6 accept (statewall's narrower list of the types IPv6 needs, as noted), or none —
/// its own ICMPv6 rules are entries, and a file that lets no neighbour discovery in is told
/// so. Else statewall adds it, as `--mirror-ipv6` promises.
fn icmpv6_baseline(
    c: &Chain,
    c6: Option<(&Analysis, &Chain)>,
    notes: &mut Notes,
) -> (bool, String) {
    let added = (
        true,
        "added by statewall: IPv6 needs neighbour discovery, errors, echo and MLD".to_string(),
    );
    if c.hook == Hook::Forward {
        // nothing forwarded needs ICMPv6 the way the host itself does: as the ICMP accept,
        // the IPv6 file's where there is one (the IPv4 file's says nothing of IPv6)
        return match c6 {
            Some((a6, c6)) => match c6.icmp {
                Some(r) => {
                    let r = &a6.rules[r];
                    (true, format!("IPv6 file, line {}: {}", r.line, r.text))
                }
                None => (
                    false,
                    "the IPv6 file has no plain ICMPv6 accept in FORWARD: its ICMPv6 rules are entries".to_string(),
                ),
            },
            None => (c.icmp.is_some(), "as the chain's ICMP accept".to_string()),
        };
    }
    let Some((a6, c6)) = c6 else {
        return added;
    };
    if let Some(r) = c6.icmp {
        let r = &a6.rules[r];
        return (true, format!("IPv6 file, line {}: {}", r.line, r.text));
    }
    // an accept of every packet (the file's ACCEPT ending, kept as an entry beside an IPv4
    // file that drops) took neighbour discovery, MLD and ICMPv6 errors, which conntrack leaves
    // untracked: behind the established rule statewall's allows take NEW connections only, so
    // its ICMPv6 baseline takes them
    if c6.established.is_some()
        && let Some(f) = c6.allows.iter().find(|f| f.cond.is_everything())
    {
        let r = &a6.rules[f.rule];
        return (
            true,
            format!(
                "IPv6 file, line {}: {} (its accept of every packet took neighbour discovery, which conntrack leaves untracked)",
                r.line, r.text
            ),
        );
    }
    let nd = |t: u8| {
        c6.allows.iter().any(|f| match f.cond.proto {
            Some(58) => f.cond.icmp.is_none_or(|(x, _)| x == t),
            // an accept of every protocol takes them too, unless it names states (neighbour
            // discovery is untracked)
            p => p.is_none() && f.cond.states.is_none(),
        })
    };
    let hook = c.hook.chain();
    if !(nd(135) && nd(136)) && c6.final_rule.1 != super::flatten::Verdict::Accept {
        notes.push(format!("IPv6 file: {hook} lets no neighbour discovery through (ICMPv6 135 and 136), so IPv6 on this host cannot reach its neighbours, as with the file; `icmpv6 = true` accepts what IPv6 needs"));
    }
    (
        false,
        "the IPv6 file has no plain ICMPv6 accept: its ICMPv6 rules are entries".to_string(),
    )
}

/// Each block among the allows goes after the last allow of its segment: `after` is that
/// allow's (unique) name.
fn place_among(sec: &mut Section<'_>) {
    let mut last: std::collections::HashMap<usize, usize> = std::collections::HashMap::new();
    for (i, a) in sec.allows.iter().enumerate() {
        last.insert(a.seg, i);
    }
    for b in sec.blocks.iter_mut() {
        if let Some(s) = b.after_seg {
            let i = last[&s];
            b.after = Some(sec.allows[i].name.clone());
            b.after_allow = Some(i);
        }
    }
}

/// `--mirror-ipv6`: what IPv6 does not get from the entries, one note per kind naming the
/// entries (the first [`NAMED`]; a file of 200 source-restricted accepts gets one note).
fn mirror_notes(sections: &[Section], notes: &mut Notes) {
    const NAMED: usize = 8;
    // (a block split by `mirror::icmpv6_first`, from 0.0.0.0/0, has its IPv6 half)
    let every4 = [crate::core::model::Cidr::V4(
        std::net::Ipv4Addr::UNSPECIFIED,
        0,
    )];
    let v4_only = |e: &Entry| {
        !e.from.is_empty()
            && e.from != every4
            && !e
                .from
                .iter()
                .any(|n| matches!(n, crate::core::model::Cidr::V6(..)))
    };
    // what one entry does, what several do
    let mut kinds: [(&str, &str, Vec<&str>); 6] = [
        (
            "accepts IPv4 sources only: IPv6 clients meet the rules after it (add IPv6 networks to its `from` if they should get in)",
            "accept IPv4 sources only: IPv6 clients meet the rules after them (add IPv6 networks to their `from` if they should get in)",
            Vec::new(),
        ),
        (
            "stops IPv4 sources only: IPv6 sources pass it",
            "stop IPv4 sources only: IPv6 sources pass them",
            Vec::new(),
        ),
        (
            "matches ICMPv4 types only",
            "match ICMPv4 types only",
            Vec::new(),
        ),
        (
            "has IPv4 exceptions: on IPv6 it matches without them",
            "have IPv4 exceptions: on IPv6 they match without them",
            Vec::new(),
        ),
        (
            "(`-p ipv6-icmp` in the IPv4 file) meets every ICMPv6 packet on IPv6, of every type, as the same rule in ip6tables would: more than statewall's ICMPv6 baseline if it accepts",
            "(`-p ipv6-icmp` in the IPv4 file) meet every ICMPv6 packet on IPv6, of every type, as the same rules in ip6tables would: more than statewall's ICMPv6 baseline if they accept",
            Vec::new(),
        ),
        (
            "tests IPv4 packets only (`u32` counts from the IPv4 header): it matches no IPv6 packet",
            "test IPv4 packets only (`u32` counts from the IPv4 header): they match no IPv6 packet",
            Vec::new(),
        ),
    ];
    for s in sections {
        for (e, allow) in s
            .blocks
            .iter()
            .chain(&s.rejects)
            .map(|e| (e, false))
            .chain(s.allows.iter().map(|e| (e, true)))
        {
            if v4_only(e) {
                kinds[usize::from(!allow)].2.push(&e.name);
            }
            if !e.icmp.is_empty() || !e.more.except_icmp.is_empty() {
                kinds[2].2.push(&e.name);
            }
            if !e.more.except_from.is_empty() || !e.more.except_to.is_empty() {
                kinds[3].2.push(&e.name);
            }
            if e.more.protocol.contains(&crate::core::plan::IPPROTO_ICMPV6) && !v4_only(e) {
                kinds[4].2.push(&e.name);
            }
            if crate::core::u32::has_u32(&e.more) && !v4_only(e) {
                kinds[5].2.push(&e.name);
            }
        }
    }
    for (one, many, names) in kinds {
        let quoted: Vec<String> = names.iter().map(|n| format!("\"{n}\"")).collect();
        let list = super::notes::first_of(&quoted, NAMED);
        match names.len() {
            0 => {}
            1 => notes.push(format!("entry {list} {one}")),
            _ => notes.push(format!("entries {list} {many}")),
        }
    }
}

/// The import, once its text parses as a valid policy (its warnings become notes); an
/// invalid one is a bug in the importer, reported as such.
fn reparse(src: &str, text: String, mut notes: Notes) -> Result<Imported, Diags> {
    let most = crate::core::policy::POLICY_MAX;
    if text.len() as u64 > most {
        let mut diags = Diags::new();
        diags.push(
            Diagnostic::error(
                first_line_span(src),
                src,
                format!(
                    "the policy this file makes is {} bytes, more than the {} MiB a statewall policy file may be",
                    crate::core::diag::thousands(text.len()),
                    most >> 20
                ),
            )
            .with_help("each rule becomes an entry with a comment naming its line: put long address lists in a `from_file` list (one network per line), or import the file in parts"),
        );
        return Err(diags);
    }
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
