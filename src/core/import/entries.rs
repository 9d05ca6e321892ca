//! The policy's entries, made from the allow and reject rules: one entry per rule (and
//! source), then IPv4/IPv6 twins joined and neighbours that differ only in their sources
//! merged.

use std::collections::{BTreeMap, HashMap, HashSet, VecDeque};
use std::net::{Ipv4Addr, Ipv6Addr};

use super::extra::EntryExtra;
use super::flatten::{Flat, Verdict};
use super::naming::entry_name;
use super::rule::IptRule;
use super::rule::RejectKind;
use crate::core::model::{BlockState, Cidr, More, PortRange};
use crate::core::plan::CtStates;

/// An entry's [`More`], kept only where it says something: most imported rules use none of
/// its keys, and an empty one is a kilobyte (a file of 45,000 rules would carry 45 MB of
/// them). Read as a `More` (an empty one where there is none); written through, it is made
/// on first write, and [`MoreBox::settle`] lets an empty one go again.
#[derive(Default, Clone)]
pub(super) struct MoreBox(Option<Box<More>>);

static NO_MORE: std::sync::LazyLock<More> = std::sync::LazyLock::new(More::default);

impl MoreBox {
    /// Lets go of the `More` if it says nothing.
    pub(super) fn settle(&mut self) {
        if self.0.as_deref().is_some_and(|m| *m == More::default()) {
            self.0 = None;
        }
    }
}

impl From<More> for MoreBox {
    fn from(m: More) -> Self {
        let mut b = MoreBox(Some(Box::new(m)));
        b.settle();
        b
    }
}

impl std::ops::Deref for MoreBox {
    type Target = More;
    fn deref(&self) -> &More {
        self.0.as_deref().unwrap_or(&NO_MORE)
    }
}

impl std::ops::DerefMut for MoreBox {
    fn deref_mut(&mut self) -> &mut More {
        self.0.get_or_insert_with(Box::default)
    }
}

impl PartialEq for MoreBox {
    fn eq(&self, other: &Self) -> bool {
        **self == **other
    }
}

impl std::fmt::Debug for MoreBox {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        (**self).fmt(f)
    }
}

#[derive(Clone)]
pub(super) struct Entry {
    pub(super) name: String,
    /// the comments above the entry: the lines it came from
    pub(super) lines: Vec<String>,
    pub(super) tcp: Vec<PortRange>,
    pub(super) udp: Vec<PortRange>,
    pub(super) icmp: Vec<u8>,
    pub(super) from: Vec<Cidr>,
    pub(super) iif: Option<String>,
    /// the keys of issue 10: `to`, `except_from`, `except_to`, `oif`, source ports,
    /// protocols, ICMP codes, ICMPv6, TCP flags
    pub(super) more: MoreBox,
    pub(super) with: Option<&'static str>,
    /// a block's `after` (None: first, or not a block)
    pub(super) after: Option<String>,
    /// a block's `state` (`"new"`, `"invalid"`)
    pub(super) state: Option<BlockState>,
    /// an allow's segment: the allows between two blocks among them (never merged across)
    pub(super) seg: usize,
    /// a block among the allows: it goes after the last allow of this segment (its name
    /// becomes `after` once names are unique, its index `after_allow`)
    pub(super) after_seg: Option<usize>,
    pub(super) after_allow: Option<usize>,
    /// the jumps that led to its rule, and its rule's comment (by its hash): two entries
    /// of different chains or comments never merge ([`same_rest`])
    pub(super) via: Vec<usize>,
    pub(super) comment_id: Option<(usize, u64)>,
    /// it matches ports of tcp or udp and nothing else a port merge would change, and is
    /// not named by a comment: its ports may join the next allow's of the same source
    pub(super) ports_only: bool,
    /// from the ip6tables file
    pub(super) v6: bool,
    /// `log` and `limit` (from LOG, `-m limit`, `-m recent` rules)
    pub(super) extra: EntryExtra,
}

/// The `with` of a reject entry for this rule's verdict (None: not a reject).
pub(super) fn with_of(f: &Flat) -> Option<&'static str> {
    match f.verdict {
        Verdict::Reject(RejectKind::TcpReset) => Some("tcp-reset"),
        Verdict::Reject(RejectKind::Icmp(k)) => Some(k.as_str()),
        _ => None,
    }
}

/// The entry for flat rule `f` of analysis `a`.
pub(super) fn entry_of(rules: &[IptRule], f: &Flat, with: Option<&'static str>) -> Entry {
    let r = &rules[f.rule];
    let c = &f.cond;
    let mut e = Entry {
        name: String::new(),
        lines: Vec::new(),
        tcp: Vec::new(),
        udp: Vec::new(),
        icmp: Vec::new(),
        from: c.src.into_iter().collect(),
        iif: c.iif.clone(),
        more: More {
            to: c.dst.into_iter().collect(),
            except_from: c.not_src.clone(),
            except_to: c.not_dst.clone(),
            oif: c.oif.clone(),
            except_iif: c.not_iif.clone(),
            except_oif: c.not_oif.clone(),
            published_to: c.orig_dst.into_iter().collect(),
            published_from: c.orig_src.into_iter().collect(),
            connection_protocol: c.ct_proto.into_iter().collect(),
            ..Default::default()
        }
        .into(),
        with,
        after: None,
        state: f.block_state,
        seg: 0,
        after_seg: None,
        after_allow: None,
        via: f.via.clone(),
        comment_id: r.comment_id,
        ports_only: false,
        v6: false,
        extra: f.extra.clone(),
    };
    for &v in &f.via {
        let j = &rules[v];
        e.lines.push(format!("# via line {}: {}", j.line, j.text));
    }
    e.lines.push(format!("# from line {}: {}", r.line, r.text));
    address_types(c, &mut e.more);
    if let Some(set) = c.pkt_type {
        (e.more.pkttype, e.more.except_pkttype) = super::pkttype::pkttype_keys(set);
    }
    (e.more.ipsec_in, e.more.ipsec_out) = (c.ipsec_in, c.ipsec_out);
    if let Some(set) = c.rt_types {
        (e.more.rt_type, e.more.except_rt_type) = super::exthdr::rt_keys(set);
    }
    // two kinds at once (`flatten` refuses them) would be either of them here
    e.more.tcp_option = c.tcp_opts.clone();
    e.more.except_tcp_option = c.not_tcp_opts.clone();
    super::header::header_keys(c, &mut e.more);
    let all = vec![PortRange { lo: 0, hi: 65535 }];
    let m = &mut e.more;
    // an allow's or a reject's states, said with `state` where the chain has no established
    // rule (the analysis leaves them out where it has one: its allows match NEW connections,
    // and its rejects meet no established packet)
    if f.verdict == Verdict::Accept
        || matches!(f.verdict, Verdict::Reject(_)) && f.block_state.is_none()
    {
        m.state = c.states.map(CtStates);
    }
    m.dnat = c.dnat;
    match c.proto {
        // `--ctorigdstport` (alone with its protocol: `rule.rs`) is `published`
        Some(p @ (6 | 17)) if c.orig_dports.is_some() => {
            let ports = c.orig_dports.clone().map(normalise).unwrap_or_default();
            m.published = ports.into_iter().map(|r| (p, r)).collect();
        }
        Some(p @ (6 | 17)) => {
            let sports = c.sports.clone().map(normalise).unwrap_or_default();
            let flags: Vec<(u8, u8)> = c.flags.into_iter().filter(|_| p == 6).collect();
            let not_d = normalise(c.not_ports.clone());
            let not_s = normalise(c.not_sports.clone());
            let said =
                !sports.is_empty() || !flags.is_empty() || !not_d.is_empty() || !not_s.is_empty();
            let dports = match &c.ports {
                Some(ps) => normalise(ps.clone()),
                None if !said => all,
                None => Vec::new(),
            };
            if p == 6 {
                (e.tcp, m.tcp_sport, m.tcp_flags) = (dports, sports, flags);
                (m.except_tcp, m.except_tcp_sport) = (not_d, not_s);
            } else {
                (e.udp, m.udp_sport) = (dports, sports);
                (m.except_udp, m.except_udp_sport) = (not_d, not_s);
            }
        }
        Some(1) => match c.icmp {
            Some((t, None)) => e.icmp.push(t),
            Some((t, Some(code))) => m.icmp_codes.push((t, code)),
            None if !c.not_icmp.is_empty() => m.except_icmp = c.not_icmp.clone(),
            None => m.protocol.push(1),
        },
        Some(58) => match c.icmp {
            Some(t) => m.icmpv6.push(t),
            None if !c.not_icmp.is_empty() => m.except_icmpv6 = c.not_icmp.clone(),
            None => m.protocol.push(58),
        },
        Some(p) => m.protocol.push(p),
        // … and without `-p`, of a connection of any protocol
        None if c.orig_dports.is_some() => {
            let ports = c.orig_dports.clone().map(normalise).unwrap_or_default();
            m.published = ports.into_iter().map(|r| (0, r)).collect();
        }
        None => m.except_protocol = c.not_protos.clone(),
    }
    e.name = entry_name(r.comment.as_deref(), &e, c.proto);
    e.ports_only = r.comment.is_none()
        && (!e.tcp.is_empty() || !e.udp.is_empty())
        && e.icmp.is_empty()
        && e.more.protocol.is_empty()
        && e.more.icmp_codes.is_empty()
        && e.more.icmpv6.is_empty()
        && e.more.published.is_empty();
    e.more.settle();
    e
}

/// Whether two entries say the same but for their sources and ports: compared field by
/// field where they are merged (no key string per entry: a file of 400,000 rules would
/// carry a kilobyte of text for each).
fn same_rest(a: &Entry, b: &Entry) -> bool {
    a.iif == b.iif
        && a.more == b.more
        && a.with == b.with
        && a.via == b.via
        && a.comment_id == b.comment_id
        && a.extra == b.extra
        && a.state == b.state
        && a.seg == b.seg
        && a.v6 == b.v6
        && a.after == b.after
        && a.after_seg == b.after_seg
}

/// Whether two entries say the same but for their sources.
fn same_key(a: &Entry, b: &Entry) -> bool {
    a.tcp == b.tcp && a.udp == b.udp && a.icmp == b.icmp && same_rest(a, b)
}

/// Consecutive allows of the same (restricted) sources that differ only in their tcp and
/// udp ports become one (a file listing each service of a network on its own line: one
/// entry per network). All accept, side by side, so the union accepts what they accepted.
/// Services open to everyone keep an entry each, named after the service.
pub(super) fn merge_ports(mut entries: Vec<Entry>) -> Vec<Entry> {
    let restricted = |e: &Entry| {
        !e.from.is_empty()
            && e.from
                .iter()
                .all(|n| !matches!(n, Cidr::V4(_, 0) | Cidr::V6(_, 0)))
    };
    // in place: each entry is compared with the last one kept, and taken into it or kept
    entries.dedup_by(|e, last| {
        let joins = restricted(e)
            && last.ports_only
            && e.ports_only
            && same_rest(last, e)
            && last.from == e.from
            && e.extra == EntryExtra::default()
            && last.extra == EntryExtra::default();
        if !joins {
            return false;
        }
        let take = |a: &mut Vec<PortRange>, b: &mut Vec<PortRange>| {
            let joined = std::mem::take(a).into_iter().chain(std::mem::take(b));
            *a = normalise(joined.collect());
        };
        take(&mut last.tcp, &mut e.tcp);
        take(&mut last.udp, &mut e.udp);
        last.lines.extend(
            std::mem::take(&mut e.lines)
                .into_iter()
                .filter(|l| l.starts_with("# from")),
        );
        let proto = match (last.tcp.is_empty(), last.udp.is_empty()) {
            (false, true) => Some(6),
            (true, false) => Some(17),
            _ => None,
        };
        last.name = entry_name(None, last, proto);
        true
    });
    entries
}

/// `-m addrtype`: the types listed (`to_type`), or, when that is shorter, the ones left out
/// (`except_to_type`): each address has exactly one type, so both say the same.
fn address_types(c: &super::cond::Cond, m: &mut More) {
    use super::addrtype::{ALL_TYPES, types_of};
    let pairs = [
        (c.dst_type, &mut m.to_type, &mut m.except_to_type),
        (c.src_type, &mut m.from_type, &mut m.except_from_type),
    ];
    for (set, any, except) in pairs {
        let Some(set) = set else { continue };
        let (yes, no) = (types_of(set), types_of(ALL_TYPES & !set));
        if yes.len() <= no.len() {
            *any = yes;
        } else {
            *except = no;
        }
    }
}

/// The entry for flat rule `f` of the ip6tables file's analysis `a`: said to come from that
/// file, and pinned to IPv6 (`::/0`) when it has no source.
pub(super) fn v6_entry_of(rules: &[IptRule], f: &Flat, with: Option<&'static str>) -> Entry {
    let mut e = entry_of(rules, f, with);
    e.lines
        .iter_mut()
        .for_each(|l| *l = l.replacen("# ", "# IPv6 file, ", 1));
    let v6_only = !e.more.icmpv6.is_empty() || e.more.protocol == [58];
    if e.from.is_empty() && e.more.to.is_empty() && !v6_only {
        pin(&mut e, Cidr::V6(Ipv6Addr::UNSPECIFIED, 0));
    }
    e.v6 = true;
    e
}

/// `--ipv6`: an IPv4 file's entry without a source (or ICMP types) is pinned to IPv4.
pub(super) fn pin_to_v4(e: &mut Entry) {
    let v4_only = !e.icmp.is_empty()
        || !e.more.icmp_codes.is_empty()
        || !e.more.except_icmp.is_empty()
        || e.more.protocol == [1];
    if e.from.is_empty() && e.more.to.is_empty() && !v4_only {
        pin(e, Cidr::V4(Ipv4Addr::UNSPECIFIED, 0));
    }
}

/// Pins an entry to the family of `any` (a network of every address): `from` it, or, for a
/// check of a live set (`from_set`, whose sources are the set's), `to` it. The set has a
/// half per family, and a list both files fill holds sources of both: the IPv4 file's check
/// must read the IPv4 half only, as iptables' reads the sources ip6tables never sees.
fn pin(e: &mut Entry, any: Cidr) {
    if e.extra.from_set.is_some() {
        e.more.to.push(any);
    } else {
        e.from.push(any);
    }
}

/// `--ipv6`: an IPv6 entry that says exactly what an IPv4 entry says (both from anywhere)
/// joins it, and the pair becomes one entry for both families. Each IPv4 entry takes the
/// first such IPv6 entry (found by what they say, not by comparing every pair).
pub(super) fn join_families(entries: Vec<Entry>) -> Vec<Entry> {
    let any4 = vec![Cidr::V4(Ipv4Addr::UNSPECIFIED, 0)];
    let any6 = vec![Cidr::V6(Ipv6Addr::UNSPECIFIED, 0)];
    // the IPv6 file's entries follow the IPv4 file's: split there, not copied
    let mut v4 = entries;
    let at = v4.iter().position(|e| e.v6).unwrap_or(v4.len());
    let v6 = if v4[at..].iter().all(|e| e.v6) {
        v4.split_off(at)
    } else {
        let (four, six) = std::mem::take(&mut v4).into_iter().partition(|e| !e.v6);
        v4 = four;
        six
    };
    // what an entry says, hashed from its debug text as it is written (no text kept per
    // entry); entries of one hash are told apart by `says_same`
    let says = |e: &Entry| {
        let what = (
            &e.tcp, &e.udp, &e.icmp, &e.iif, &e.more, e.with, &e.after, e.state,
        );
        let mut h = HashWriter(std::collections::hash_map::DefaultHasher::new());
        let _ = std::fmt::Write::write_fmt(&mut h, format_args!("{what:?}"));
        std::hash::Hasher::finish(&h.0)
    };
    let says_same = |a: &Entry, b: &Entry| {
        (
            &a.tcp, &a.udp, &a.icmp, &a.iif, &a.more, a.with, &a.after, a.state,
        ) == (
            &b.tcp, &b.udp, &b.icmp, &b.iif, &b.more, b.with, &b.after, b.state,
        )
    };
    let mut waiting: HashMap<u64, VecDeque<usize>> = HashMap::new();
    for (i, f) in v4.iter().enumerate() {
        if f.from == any4 {
            waiting.entry(says(f)).or_default().push_back(i);
        }
    }
    // the IPv6 file's own entries go right before the next twin after them in its order (an
    // IPv6 reject of a network before a reject both files share stays before it), the
    // rest at the end; twins are joined in the order of both files only
    let mut before: Vec<Vec<Entry>> = (0..=v4.len()).map(|_| Vec::new()).collect();
    let mut pending = Vec::new();
    let mut last = None;
    for e in v6 {
        // a limit is one bucket per entry: iptables and ip6tables each had their own
        let twin = if e.from == any6 && e.extra.limit.is_empty() && e.extra.connections.is_none() {
            waiting.get_mut(&says(&e)).and_then(|q| {
                let k = q
                    .iter()
                    .position(|&i| says_same(&v4[i], &e) && last.is_none_or(|l| i > l))?;
                q.remove(k)
            })
        } else {
            None
        };
        match twin {
            Some(i) => {
                let f = &mut v4[i];
                f.from.clear();
                f.lines.extend(e.lines);
                before[i].append(&mut pending);
                last = Some(i);
            }
            None => pending.push(e),
        }
    }
    before[v4.len()].append(&mut pending);
    let mut out = Vec::with_capacity(v4.len() + before.iter().map(Vec::len).sum::<usize>());
    for (e, mut b) in v4.into_iter().map(Some).chain([None]).zip(before) {
        out.append(&mut b);
        out.extend(e);
    }
    out
}

/// Text written into a hasher.
struct HashWriter(std::collections::hash_map::DefaultHasher);

impl std::fmt::Write for HashWriter {
    fn write_str(&mut self, s: &str) -> std::fmt::Result {
        std::hash::Hasher::write(&mut self.0, s.as_bytes());
        Ok(())
    }
}

/// Consecutive entries that differ only in their (disjoint) sources become one. The sources
/// of the entry being grown are kept as ordered intervals, so each new source is checked in
/// O(log n), and its comment lines in a set.
pub(super) fn merge(mut entries: Vec<Entry>) -> Vec<Entry> {
    // the sources and comment lines of the last entry kept (None: not read yet)
    let mut nets: BTreeMap<(u8, u128), u128> = BTreeMap::new();
    let mut lines: HashSet<String> = HashSet::new();
    let mut read = false;
    let start = |e: &Entry, nets: &mut BTreeMap<(u8, u128), u128>, lines: &mut HashSet<String>| {
        nets.clear();
        lines.clear();
        for n in &e.from {
            let (fam, lo, hi) = n.interval();
            nets.insert((fam, lo), hi);
        }
        lines.extend(e.lines.iter().cloned());
    };
    // in place: each entry is compared with the last one kept, and taken into it or kept
    entries.dedup_by(|e, last| {
        if !read {
            start(last, &mut nets, &mut lines);
            read = true;
        }
        let joins = same_key(last, e)
            && e.extra.limit.is_empty()
            && e.extra.connections.is_none()
            && !last.from.is_empty()
            && !e.from.is_empty()
            && disjoint_from(&nets, &e.from);
        if !joins {
            start(e, &mut nets, &mut lines);
            return false;
        }
        for n in &e.from {
            let (fam, lo, hi) = n.interval();
            nets.insert((fam, lo), hi);
        }
        last.from.append(&mut e.from);
        for l in std::mem::take(&mut e.lines) {
            if l.starts_with("# from") && lines.insert(l.clone()) {
                last.lines.push(l);
            }
        }
        true
    });
    entries
}

/// Whether every network of `from` is disjoint from the intervals of `nets` (themselves
/// disjoint): none starts inside it, and the last one starting before it ends before it.
fn disjoint_from(nets: &BTreeMap<(u8, u128), u128>, from: &[Cidr]) -> bool {
    from.iter().all(|n| {
        let (fam, lo, hi) = n.interval();
        nets.range((fam, lo)..=(fam, hi)).next().is_none()
            && !nets
                .range(..(fam, lo))
                .next_back()
                .is_some_and(|(&(f, _), &end)| f == fam && end >= lo)
    })
}

/// Sorted, merged, disjoint ranges.
fn normalise(mut v: Vec<PortRange>) -> Vec<PortRange> {
    v.sort();
    let mut out: Vec<PortRange> = Vec::new();
    for r in v {
        match out.last_mut() {
            Some(l) if u32::from(r.lo) <= u32::from(l.hi) + 1 => l.hi = l.hi.max(r.hi),
            _ => out.push(r),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ranges_are_normalised() {
        let r = |lo, hi| PortRange { lo, hi };
        assert_eq!(
            normalise(vec![
                r(80, 80),
                r(20, 25),
                r(26, 30),
                r(22, 23),
                r(443, 443)
            ]),
            [r(20, 30), r(80, 80), r(443, 443)]
        );
    }
}
