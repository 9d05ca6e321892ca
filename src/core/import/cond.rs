//! The condition of a rule: which packets it matches, and what two conditions have in common.

use crate::core::model::{Cidr, PortRange};

/// The condition of a rule: every field `None` (or empty) = any.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(super) struct Cond {
    pub(super) states: Option<u32>,
    /// an interface name, or a prefix wildcard ending in `*` (iptables' `eth+`)
    pub(super) iif: Option<String>,
    pub(super) oif: Option<String>,
    pub(super) src: Option<Cidr>,
    pub(super) dst: Option<Cidr>,
    /// `! -s`, `! -d`: networks the rule does not match
    pub(super) not_src: Vec<Cidr>,
    pub(super) not_dst: Vec<Cidr>,
    /// `! -i`, `! -o`: interfaces (or wildcards) the rule does not match
    pub(super) not_iif: Vec<String>,
    pub(super) not_oif: Vec<String>,
    pub(super) proto: Option<u8>,
    /// `! -p`: protocols the rule does not match (none beside a protocol it names)
    pub(super) not_protos: Vec<u8>,
    pub(super) ports: Option<Vec<PortRange>>,
    pub(super) sports: Option<Vec<PortRange>>,
    /// `! --dport`, `! --sport` (and multiport's `! --dports`): ports the rule does not match
    pub(super) not_ports: Vec<PortRange>,
    pub(super) not_sports: Vec<PortRange>,
    /// `-m conntrack --ctstate DNAT`: the kernel DNAT'ed the packet's connection (its state
    /// is NEW, ESTABLISHED or RELATED: kept apart only from a condition of INVALID or
    /// UNTRACKED packets alone)
    pub(super) dnat: bool,
    /// `-m conntrack --ctorigdstport`: the connection's destination port before DNAT
    pub(super) orig_dports: Option<Vec<PortRange>>,
    /// `-m conntrack --ctorigdst`: the connection's destination address before DNAT
    pub(super) orig_dst: Option<Cidr>,
    /// `-m conntrack --ctorigsrc`: the source address of the connection's first packet
    pub(super) orig_src: Option<Cidr>,
    /// `-m conntrack --ctproto`: the protocol of the packet's connection (an ICMP error
    /// related to a TCP connection: TCP; no relation to `proto` is assumed)
    pub(super) ct_proto: Option<u8>,
    /// ICMP (or ICMPv6, by `proto`) type, and code
    pub(super) icmp: Option<(u8, Option<u8>)>,
    /// `! --icmp-type T` (or `! --icmpv6-type`): types the rule does not match
    pub(super) not_icmp: Vec<u8>,
    /// TCP flags (mask, value)
    pub(super) flags: Option<(u8, u8)>,
    /// `-m addrtype`: the address types (bit `RTN_*`) the source / destination may have
    pub(super) src_type: Option<u16>,
    pub(super) dst_type: Option<u16>,
    /// `-m pkttype`: the link layer's packet types (bit `PACKET_*`, and one for the types
    /// iptables cannot name: `pkttype.rs`) the packet may have
    pub(super) pkt_type: Option<u8>,
    /// `-m policy --dir in|out --pol ipsec|none`: the packet arrived (left) IPsec-protected,
    /// or not
    pub(super) ipsec_in: Option<bool>,
    pub(super) ipsec_out: Option<bool>,
    /// `-m rt --rt-type`: the routing header types the packet may have (it has one)
    pub(super) rt_types: Option<super::exthdr::RtTypes>,
    /// `--tcp-option`: TCP option kinds the segment carries, and (`!`) does not carry
    pub(super) tcp_opts: Vec<u8>,
    pub(super) not_tcp_opts: Vec<u8>,
    /// `-m mac --mac-source`: the frame's source MAC address, and (`!`) addresses it does not
    /// have (either way the frame came in on an ethernet device)
    pub(super) mac: Option<[u8; 6]>,
    pub(super) not_macs: Vec<[u8; 6]>,
    /// `-m owner --uid-owner`, `--gid-owner`: the user and group owning the socket the packet
    /// leaves from, and (`!`) those that must not (a packet without a socket matches neither)
    pub(super) uid: Option<u32>,
    pub(super) not_uids: Vec<u32>,
    pub(super) gid: Option<u32>,
    pub(super) not_gids: Vec<u32>,
    /// `-m length`: the lengths the packet may have (`header.rs`)
    pub(super) lengths: Option<super::header::Lengths>,
    /// `-m tcpmss --mss`: the MSS values the segment may carry, kept as lengths are, the
    /// value past 65535 standing for a segment without the option (only a `!` takes it)
    pub(super) mss: Option<super::header::Lengths>,
    /// `-m ttl`, `-m hl`: the TTLs (hop limits) the packet may have
    pub(super) ttls: Option<super::header::Ttls>,
    /// `-m recent --update`/`--rcheck --seconds S --name N` (no `--hitcount`): the source is
    /// on list N. Whether it is changes as packets come: any packet may be on it or not, so
    /// it never keeps two conditions apart, and a rule with it never decides every packet
    /// of the rest of its condition
    pub(super) in_set: Vec<String>,
    /// `-m string`: patterns the packet's bytes hold (`false`) or (`! --string`) do not hold
    /// (`true`). Any packet may carry any bytes: they never keep two conditions apart
    pub(super) patterns: Vec<(crate::core::payload::Pattern, bool)>,
    /// `-m u32`: expressions that hold (`false`) or (`! --u32`) do not (`true`); like
    /// patterns, they never keep two conditions apart
    pub(super) u32s: Vec<(crate::core::u32::U32, bool)>,
    /// `-m mark --mark`: the packet's mark under a mask, and (`!`) marks it must not have
    pub(super) mark: Option<super::mark::Mark>,
    pub(super) not_marks: Vec<super::mark::Mark>,
    /// `-m helper --helper`: the helper of the connection's master, and (`!`) helpers it
    /// must not be
    pub(super) helper: Option<crate::core::cthelper::HelperName>,
    pub(super) not_helpers: Vec<crate::core::cthelper::HelperName>,
    /// `-m time`: when the packet must come (a packet's clock is no part of what it is, so
    /// clocks never keep conditions apart; they meet in one when the rule is flattened)
    pub(super) clocks: Vec<crate::core::clock::Clock>,
}

/// Whether interface pattern `a` (a name, or a prefix ending in `*`) matches every name `b`
/// matches.
pub(super) fn if_covers(a: &str, b: &str) -> bool {
    match a.strip_suffix('*') {
        Some(p) => b.starts_with(p),
        None => a == b,
    }
}

/// Whether some interface name matches both patterns.
fn if_overlaps(a: &str, b: &str) -> bool {
    if_covers(a, b) || if_covers(b, a)
}

/// Whether a network matches both (networks are nested or disjoint).
/// The networks of `a` and of `b`, none of them covered by another: what a packet's address
/// must be outside of both lists to be outside of (`! -s H -m iprange ! --src-range R` is
/// one rule's two exceptions; a policy lists no network another of the list covers).
pub(super) fn joined_nets(a: &[Cidr], b: &[Cidr]) -> Vec<Cidr> {
    let mut new: Vec<Cidr> = Vec::new();
    for x in b {
        if !a.iter().chain(&new).any(|y| y.covers(*x)) {
            new.push(*x);
        }
    }
    let mut v: Vec<Cidr> = a
        .iter()
        .filter(|y| !new.iter().any(|x| x.covers(**y)))
        .copied()
        .collect();
    v.extend(new);
    v
}

fn net_overlaps(a: Cidr, b: Cidr) -> bool {
    a.covers(b) || b.covers(a)
}

fn ports_overlap(a: &[PortRange], b: &[PortRange]) -> bool {
    a.iter()
        .any(|x| b.iter().any(|y| x.lo.max(y.lo) <= x.hi.min(y.hi)))
}

/// Whether every port `pos` needs is one of the exceptions `nots` (each range inside one).
fn ports_excluded(pos: &Option<Vec<PortRange>>, nots: &[PortRange]) -> bool {
    pos.as_ref().is_some_and(|ps| {
        ps.iter()
            .all(|p| nots.iter().any(|n| n.lo <= p.lo && p.hi <= n.hi))
    })
}

/// Whether `pos` (what one condition needs) falls wholly inside an exception of the other.
fn excluded<T>(pos: &Option<T>, nots: &[T], covers: impl Fn(&T, &T) -> bool) -> bool {
    pos.as_ref()
        .is_some_and(|p| nots.iter().any(|n| covers(n, p)))
}

fn flags_overlap(a: (u8, u8), b: (u8, u8)) -> bool {
    let common = a.0 & b.0;
    a.1 & common == b.1 & common
}

/// The address (packet) types both sets allow (every address, every packet, has exactly one
/// type).
fn types_and<T: Copy + std::ops::BitAnd<Output = T>>(a: Option<T>, b: Option<T>) -> Option<T> {
    match (a, b) {
        (Some(a), Some(b)) => Some(a & b),
        (a, b) => a.or(b),
    }
}

fn icmp_overlaps(a: (u8, Option<u8>), b: (u8, Option<u8>)) -> bool {
    a.0 == b.0
        && match (a.1, b.1) {
            (Some(x), Some(y)) => x == y,
            _ => true,
        }
}

impl Cond {
    /// Every packet this condition does not match, when that is one condition: this one
    /// says one thing (a network, an interface, address or packet types, IPsec in or out,
    /// connection states)
    /// or its exception. None otherwise (`-p tcp --dport 22` is not: its negation is "not
    /// tcp, or tcp to another port").
    pub(super) fn negated(&self) -> Option<Cond> {
        use super::addrtype::ALL_TYPES;
        use super::pkttype::ALL_PKT_TYPES;
        const ALL_STATES: u32 = crate::core::plan::CtStates::INVALID
            | crate::core::plan::CtStates::ESTABLISHED
            | crate::core::plan::CtStates::RELATED
            | crate::core::plan::CtStates::NEW
            | crate::core::plan::CtStates::UNTRACKED;
        let any = Cond::default();
        let one = |f: fn(&mut Cond)| {
            let mut c = self.clone();
            f(&mut c);
            c == any
        };
        let neg = if one(|c| c.src = None) {
            Cond {
                not_src: vec![self.src?],
                ..any
            }
        } else if one(|c| c.dst = None) {
            Cond {
                not_dst: vec![self.dst?],
                ..any
            }
        } else if self.not_src.len() == 1 && one(|c| c.not_src.clear()) {
            Cond {
                src: Some(self.not_src[0]),
                ..any
            }
        } else if self.not_dst.len() == 1 && one(|c| c.not_dst.clear()) {
            Cond {
                dst: Some(self.not_dst[0]),
                ..any
            }
        } else if one(|c| c.iif = None) {
            Cond {
                not_iif: vec![self.iif.clone()?],
                ..any
            }
        } else if one(|c| c.oif = None) {
            Cond {
                not_oif: vec![self.oif.clone()?],
                ..any
            }
        } else if self.not_iif.len() == 1 && one(|c| c.not_iif.clear()) {
            Cond {
                iif: Some(self.not_iif[0].clone()),
                ..any
            }
        } else if self.not_oif.len() == 1 && one(|c| c.not_oif.clear()) {
            Cond {
                oif: Some(self.not_oif[0].clone()),
                ..any
            }
        } else if one(|c| c.proto = None) {
            Cond {
                not_protos: vec![self.proto?],
                ..any
            }
        } else if self.not_protos.len() == 1 && one(|c| c.not_protos.clear()) {
            Cond {
                proto: Some(self.not_protos[0]),
                ..any
            }
        } else if one(|c| c.ports = None) {
            // ports alone, under a protocol a jump (or a part before them) says: the others
            Cond {
                not_ports: self.ports.clone()?,
                ..any
            }
        } else if one(|c| c.sports = None) {
            Cond {
                not_sports: self.sports.clone()?,
                ..any
            }
        } else if self.clocks.len() == 1 && one(|c| c.clocks.clear()) {
            // a clock of one thing: the other hours, days or dates
            Cond {
                clocks: vec![super::clock::other_times(self.clocks[0])?],
                ..any
            }
        } else if one(|c| c.src_type = None) {
            Cond {
                src_type: Some(ALL_TYPES & !self.src_type?),
                ..any
            }
        } else if one(|c| c.dst_type = None) {
            Cond {
                dst_type: Some(ALL_TYPES & !self.dst_type?),
                ..any
            }
        } else if one(|c| c.pkt_type = None) {
            Cond {
                pkt_type: Some(ALL_PKT_TYPES & !self.pkt_type?),
                ..any
            }
        } else if one(|c| c.ipsec_in = None) {
            Cond {
                ipsec_in: Some(!self.ipsec_in?),
                ..any
            }
        } else if one(|c| c.ipsec_out = None) {
            Cond {
                ipsec_out: Some(!self.ipsec_out?),
                ..any
            }
        } else if one(|c| c.mac = None) {
            Cond {
                not_macs: vec![self.mac?],
                ..any
            }
        } else if self.not_macs.len() == 1 && one(|c| c.not_macs.clear()) {
            Cond {
                mac: Some(self.not_macs[0]),
                ..any
            }
        } else if self.patterns.len() == 1 && one(|c| c.patterns.clear()) {
            let (p, not) = self.patterns[0];
            Cond {
                patterns: vec![(p, !not)],
                ..any
            }
        } else if self.u32s.len() == 1 && one(|c| c.u32s.clear()) {
            let (u, not) = self.u32s[0];
            Cond {
                u32s: vec![(u, !not)],
                ..any
            }
        } else if one(|c| c.states = None) {
            Cond {
                states: Some(ALL_STATES & !self.states?),
                ..any
            }
        } else {
            return None;
        };
        Some(neg)
    }

    /// This condition as conditions of one thing each (a network, an exception of one, an
    /// interface or its exception, address or packet types, IPsec in or out, connection states) that a
    /// packet matches all of: each one [`Cond::negated`] turns around. None when it says
    /// something else too.
    pub(super) fn parts(&self) -> Option<Vec<Cond>> {
        let any = Cond::default();
        let mut rest = self.clone();
        let mut out = Vec::new();
        let mut one = |f: &dyn Fn(&mut Cond)| {
            let mut c = Cond::default();
            f(&mut c);
            out.push(c);
        };
        if let Some(n) = rest.src.take() {
            one(&|c| c.src = Some(n));
        }
        if let Some(n) = rest.dst.take() {
            one(&|c| c.dst = Some(n));
        }
        for n in std::mem::take(&mut rest.not_src) {
            one(&|c| c.not_src = vec![n]);
        }
        for n in std::mem::take(&mut rest.not_dst) {
            one(&|c| c.not_dst = vec![n]);
        }
        if let Some(i) = rest.iif.take() {
            one(&|c| c.iif = Some(i.clone()));
        }
        if let Some(o) = rest.oif.take() {
            one(&|c| c.oif = Some(o.clone()));
        }
        for i in std::mem::take(&mut rest.not_iif) {
            one(&|c| c.not_iif = vec![i.clone()]);
        }
        for o in std::mem::take(&mut rest.not_oif) {
            one(&|c| c.not_oif = vec![o.clone()]);
        }
        if let Some(t) = rest.src_type.take() {
            one(&|c| c.src_type = Some(t));
        }
        // a protocol, then its destination and its source ports (each list whole: a packet
        // missing it has another port), without exceptions of ports, flags or types
        if rest.not_ports.is_empty()
            && rest.not_sports.is_empty()
            && rest.icmp.is_none()
            && rest.not_icmp.is_empty()
            && rest.flags.is_none()
        {
            if let Some(p) = rest.proto.take() {
                one(&|c| c.proto = Some(p));
            }
            if let Some(ports) = rest.ports.take() {
                one(&|c| c.ports = Some(ports.clone()));
            }
            if let Some(ports) = rest.sports.take() {
                one(&|c| c.sports = Some(ports.clone()));
            }
        }
        for p in std::mem::take(&mut rest.not_protos) {
            one(&|c| c.not_protos = vec![p]);
        }
        if let Some(t) = rest.dst_type.take() {
            one(&|c| c.dst_type = Some(t));
        }
        if let Some(t) = rest.pkt_type.take() {
            one(&|c| c.pkt_type = Some(t));
        }
        if let Some(b) = rest.ipsec_in.take() {
            one(&|c| c.ipsec_in = Some(b));
        }
        if let Some(b) = rest.ipsec_out.take() {
            one(&|c| c.ipsec_out = Some(b));
        }
        if let Some(s) = rest.states.take() {
            one(&|c| c.states = Some(s));
        }
        for p in std::mem::take(&mut rest.patterns) {
            one(&|c| c.patterns = vec![p]);
        }
        for u in std::mem::take(&mut rest.u32s) {
            one(&|c| c.u32s = vec![u]);
        }
        if let Some(m) = rest.mac.take() {
            one(&|c| c.mac = Some(m));
        }
        for m in std::mem::take(&mut rest.not_macs) {
            one(&|c| c.not_macs = vec![m]);
        }
        (rest == any).then_some(out)
    }

    /// This condition without the parts `given` says already (its protocol, interfaces,
    /// networks or states): within `given`, the two match the same packets.
    pub(super) fn beyond(&self, given: &Cond) -> Cond {
        let clears: [fn(&mut Cond); 6] = [
            |c| c.proto = None,
            |c| c.iif = None,
            |c| c.oif = None,
            |c| c.src = None,
            |c| c.dst = None,
            |c| c.states = None,
        ];
        let whole = given.and(self);
        let mut out = self.clone();
        for clear in clears {
            let mut trial = out.clone();
            clear(&mut trial);
            if trial != out && given.and(&trial) == whole {
                out = trial;
            }
        }
        out
    }

    pub(super) fn is_everything(&self) -> bool {
        *self == Cond::default()
    }

    /// Both conditions at once; `None` when no packet can match both. (Exceptions are
    /// joined; TCP flags only when one condition has none or both say the same.)
    pub(super) fn and(&self, o: &Cond) -> Option<Cond> {
        if !self.overlaps(o) {
            return None;
        }
        fn narrower_if(a: &Option<String>, b: &Option<String>) -> Option<String> {
            match (a, b) {
                (None, x) | (x, None) => x.clone(),
                (Some(x), Some(y)) if if_covers(x, y) => Some(y.clone()),
                (Some(x), _) => Some(x.clone()),
            }
        }
        fn narrower_net(a: Option<Cidr>, b: Option<Cidr>) -> Option<Cidr> {
            match (a, b) {
                (Some(a), Some(b)) if a.covers(b) => Some(b),
                (Some(a), Some(_)) => Some(a),
                (a, b) => a.or(b),
            }
        }
        fn joined<T: Clone + PartialEq>(a: &[T], b: &[T]) -> Vec<T> {
            let mut v = a.to_vec();
            v.extend(b.iter().filter(|x| !a.contains(x)).cloned());
            v
        }
        // exceptions of networks: one another covers says nothing more (a RETURN of a /64
        // before a rule of `! -s` its /48), and a policy lists none twice
        // (|a|·|b| comparisons, as `joined`: a walk joins one network at a time)
        let states = match (self.states, o.states) {
            (Some(a), Some(b)) => Some(a & b),
            (a, b) => a.or(b),
        };
        let ports = match (&self.ports, &o.ports) {
            (Some(a), Some(b)) => Some(common_ports(a, b)?),
            (a, b) => a.clone().or(b.clone()),
        };
        let sports = match (&self.sports, &o.sports) {
            (Some(a), Some(b)) => Some(common_ports(a, b)?),
            (a, b) => a.clone().or(b.clone()),
        };
        let orig_dports = match (&self.orig_dports, &o.orig_dports) {
            (Some(a), Some(b)) => Some(common_ports(a, b)?),
            (a, b) => a.clone().or(b.clone()),
        };
        let icmp = match (self.icmp, o.icmp) {
            (Some((t, Some(c))), _) | (_, Some((t, Some(c)))) => Some((t, Some(c))),
            (a, b) => a.or(b),
        };
        let mut c = Cond {
            states,
            iif: narrower_if(&self.iif, &o.iif),
            oif: narrower_if(&self.oif, &o.oif),
            src: narrower_net(self.src, o.src),
            dst: narrower_net(self.dst, o.dst),
            not_src: joined_nets(&self.not_src, &o.not_src),
            not_dst: joined_nets(&self.not_dst, &o.not_dst),
            not_iif: joined(&self.not_iif, &o.not_iif),
            not_oif: joined(&self.not_oif, &o.not_oif),
            proto: self.proto.or(o.proto),
            // a protocol excepted beside the one protocol matched says nothing more
            not_protos: if self.proto.or(o.proto).is_some() {
                Vec::new()
            } else {
                joined(&self.not_protos, &o.not_protos)
            },
            ports,
            sports,
            not_ports: joined(&self.not_ports, &o.not_ports),
            not_sports: joined(&self.not_sports, &o.not_sports),
            dnat: self.dnat || o.dnat,
            orig_dports,
            orig_dst: narrower_net(self.orig_dst, o.orig_dst),
            orig_src: narrower_net(self.orig_src, o.orig_src),
            ct_proto: self.ct_proto.or(o.ct_proto),
            // a type excepted beside the one type matched says nothing more
            not_icmp: if icmp.is_some() {
                Vec::new()
            } else {
                joined(&self.not_icmp, &o.not_icmp)
            },
            icmp,
            flags: match (self.flags, o.flags) {
                (Some(a), Some(b)) => Some((a.0 | b.0, a.1 | b.1)),
                (a, b) => a.or(b),
            },
            src_type: types_and(self.src_type, o.src_type),
            dst_type: types_and(self.dst_type, o.dst_type),
            pkt_type: types_and(self.pkt_type, o.pkt_type),
            ipsec_in: self.ipsec_in.or(o.ipsec_in),
            ipsec_out: self.ipsec_out.or(o.ipsec_out),
            rt_types: match (self.rt_types, o.rt_types) {
                (Some(a), Some(b)) => Some(super::exthdr::rt_and(a, b)),
                (a, b) => a.or(b),
            },
            tcp_opts: joined(&self.tcp_opts, &o.tcp_opts),
            not_tcp_opts: joined(&self.not_tcp_opts, &o.not_tcp_opts),
            mac: self.mac.or(o.mac),
            not_macs: joined(&self.not_macs, &o.not_macs),
            uid: self.uid.or(o.uid),
            not_uids: joined(&self.not_uids, &o.not_uids),
            gid: self.gid.or(o.gid),
            not_gids: joined(&self.not_gids, &o.not_gids),
            ttls: match (self.ttls, o.ttls) {
                (Some(a), Some(b)) => Some(super::header::ttls_and(a, b)),
                (a, b) => a.or(b),
            },
            lengths: match (&self.lengths, &o.lengths) {
                (Some(a), Some(b)) => Some(super::header::lengths_and(a, b)),
                (a, b) => a.clone().or(b.clone()),
            },
            mss: match (&self.mss, &o.mss) {
                (Some(a), Some(b)) => Some(super::header::lengths_and(a, b)),
                (a, b) => a.clone().or(b.clone()),
            },
            in_set: joined(&self.in_set, &o.in_set),
            patterns: joined(&self.patterns, &o.patterns),
            u32s: joined(&self.u32s, &o.u32s),
            mark: match (self.mark, o.mark) {
                (Some(a), Some(b)) => Some(super::mark::marks_and(a, b)),
                (a, b) => a.or(b),
            },
            not_marks: joined(&self.not_marks, &o.not_marks),
            helper: self.helper.or(o.helper),
            not_helpers: joined(&self.not_helpers, &o.not_helpers),
            clocks: joined(&self.clocks, &o.clocks),
        };
        // an exception of a network the packet's is apart from says nothing (the ways
        // around a RETURN of a network would otherwise carry every earlier one)
        if let Some(n) = c.src {
            c.not_src.retain(|x| net_overlaps(n, *x));
        }
        if let Some(n) = c.dst {
            c.not_dst.retain(|x| net_overlaps(n, *x));
        }
        Some(c)
    }

    /// Whether some packet can match both: false only when that is proven (it may say true
    /// for two conditions no packet matches together, never the other way round).
    pub(super) fn overlaps(&self, o: &Cond) -> bool {
        self.overlaps_as(self.states, o, o.states)
    }

    /// [`Cond::overlaps`] of this condition with connection states `mine` and `o` with
    /// `theirs` in place of their own (statewall's rule for a ranked rule, without a copy).
    pub(super) fn overlaps_as(&self, mine: Option<u32>, o: &Cond, theirs: Option<u32>) -> bool {
        fn both<T>(a: &Option<T>, b: &Option<T>, f: impl Fn(&T, &T) -> bool) -> bool {
            match (a, b) {
                (Some(x), Some(y)) => f(x, y),
                _ => true,
            }
        }
        // a DNAT'ed connection's packets are NEW, ESTABLISHED or RELATED: never INVALID or
        // UNTRACKED (they have no connection)
        use crate::core::plan::CtStates;
        let tracked = CtStates::NEW | CtStates::ESTABLISHED | CtStates::RELATED;
        let dnat_apart = |a: &Cond, b: Option<u32>| a.dnat && b.is_some_and(|s| s & tracked == 0);
        let states = both(&mine, &theirs, |a, b| a & b != 0)
            && !self.conntrack_invalid_only((mine, o, theirs))
            && !dnat_apart(self, theirs)
            && !dnat_apart(o, mine);
        let addrs = both(&self.src, &o.src, |a, b| net_overlaps(*a, *b))
            && both(&self.dst, &o.dst, |a, b| net_overlaps(*a, *b))
            && !excluded(&self.src, &o.not_src, |n, p| n.covers(*p))
            && !excluded(&o.src, &self.not_src, |n, p| n.covers(*p))
            && !excluded(&self.dst, &o.not_dst, |n, p| n.covers(*p))
            && !excluded(&o.dst, &self.not_dst, |n, p| n.covers(*p));
        let ifs = both(&self.iif, &o.iif, |a, b| if_overlaps(a, b))
            && both(&self.oif, &o.oif, |a, b| if_overlaps(a, b))
            && !excluded(&self.iif, &o.not_iif, |n, p| if_covers(n, p))
            && !excluded(&o.iif, &self.not_iif, |n, p| if_covers(n, p))
            && !excluded(&self.oif, &o.not_oif, |n, p| if_covers(n, p))
            && !excluded(&o.oif, &self.not_oif, |n, p| if_covers(n, p));
        let l4 = both(&self.proto, &o.proto, |a, b| a == b)
            && !excluded(&self.proto, &o.not_protos, |n, p| n == p)
            && !excluded(&o.proto, &self.not_protos, |n, p| n == p)
            && both(&self.ports, &o.ports, |a, b| ports_overlap(a, b))
            && both(&self.sports, &o.sports, |a, b| ports_overlap(a, b))
            && both(&self.orig_dports, &o.orig_dports, |a, b| {
                ports_overlap(a, b)
            })
            && both(&self.orig_dst, &o.orig_dst, |a, b| net_overlaps(*a, *b))
            && both(&self.orig_src, &o.orig_src, |a, b| net_overlaps(*a, *b))
            && both(&self.ct_proto, &o.ct_proto, |a, b| a == b)
            && !ports_excluded(&self.ports, &o.not_ports)
            && !ports_excluded(&o.ports, &self.not_ports)
            && !ports_excluded(&self.sports, &o.not_sports)
            && !ports_excluded(&o.sports, &self.not_sports)
            && both(&self.icmp, &o.icmp, |a, b| icmp_overlaps(*a, *b))
            && !self.icmp.is_some_and(|(t, _)| o.not_icmp.contains(&t))
            && !o.icmp.is_some_and(|(t, _)| self.not_icmp.contains(&t))
            && both(&self.flags, &o.flags, |a, b| flags_overlap(*a, *b))
            && both(&self.src_type, &o.src_type, |a, b| a & b != 0)
            && both(&self.dst_type, &o.dst_type, |a, b| a & b != 0)
            && both(&self.pkt_type, &o.pkt_type, |a, b| a & b != 0)
            // a packet met IPsec or not
            && both(&self.ipsec_in, &o.ipsec_in, |a, b| a == b)
            && both(&self.ipsec_out, &o.ipsec_out, |a, b| a == b);
        // a segment cannot both carry an option kind and not carry it
        let opts = !self.tcp_opts.iter().any(|k| o.not_tcp_opts.contains(k))
            && !o.tcp_opts.iter().any(|k| self.not_tcp_opts.contains(k))
            && both(&self.rt_types, &o.rt_types, |a, b| {
                !super::exthdr::rt_empty(super::exthdr::rt_and(*a, *b))
            });
        // a frame has one source address
        let link = both(&self.mac, &o.mac, |a, b| a == b)
            && !excluded(&self.mac, &o.not_macs, |n, p| n == p)
            && !excluded(&o.mac, &self.not_macs, |n, p| n == p)
            // a packet has one mark
            && both(&self.mark, &o.mark, |a, b| super::mark::marks_meet(*a, *b))
            && !excluded(&self.mark, &o.not_marks, |n, p| super::mark::mark_excluded(p, n))
            && !excluded(&o.mark, &self.not_marks, |n, p| super::mark::mark_excluded(p, n))
            // a connection has one master, whose helper has one name
            && both(&self.helper, &o.helper, |a, b| a == b)
            && !excluded(&self.helper, &o.not_helpers, |n, p| n == p)
            && !excluded(&o.helper, &self.not_helpers, |n, p| n == p)
            // a socket has one owner (and one group)
            && both(&self.uid, &o.uid, |a, b| a == b)
            && !excluded(&self.uid, &o.not_uids, |n, p| n == p)
            && !excluded(&o.uid, &self.not_uids, |n, p| n == p)
            && both(&self.gid, &o.gid, |a, b| a == b)
            && !excluded(&self.gid, &o.not_gids, |n, p| n == p)
            && !excluded(&o.gid, &self.not_gids, |n, p| n == p)
            && both(&self.lengths, &o.lengths, |a, b| {
                !super::header::lengths_and(a, b).is_empty()
            })
            && both(&self.mss, &o.mss, |a, b| {
                !super::header::lengths_and(a, b).is_empty()
            })
            && both(&self.ttls, &o.ttls, |a, b| {
                !super::header::no_ttl(super::header::ttls_and(*a, *b))
            });
        states && addrs && ifs && l4 && opts && link
    }
}

impl Cond {
    /// Whether every packet both conditions match needs a connection state (NEW, ESTABLISHED,
    /// RELATED) that conntrack never gives it: a TCP packet whose flags conntrack refuses
    /// (`tcp_valid_flags` in nf_conntrack_proto_tcp.c: no flags, SYN with FIN or RST, all
    /// flags …) is INVALID, whatever connection it seems to belong to.
    fn conntrack_invalid_only(&self, (mine, o, theirs): (Option<u32>, &Cond, Option<u32>)) -> bool {
        const TRACKED: u32 = crate::core::plan::CtStates::NEW
            | crate::core::plan::CtStates::ESTABLISHED
            | crate::core::plan::CtStates::RELATED;
        let states = match (mine, theirs) {
            (Some(a), Some(b)) => a & b,
            (Some(s), None) | (None, Some(s)) => s,
            (None, None) => return false,
        };
        let tcp = self.proto == Some(6) || o.proto == Some(6);
        if states & !TRACKED != 0 || !tcp {
            return false;
        }
        let (mask, value) = match (self.flags, o.flags) {
            (Some(a), Some(b)) => (a.0 | b.0, a.1 | b.1),
            (Some(f), None) | (None, Some(f)) => f,
            (None, None) => return false,
        };
        (0..=255u8)
            .filter(|b| b & mask == value)
            .all(|b| !conntrack_valid_flags(b))
    }
}

/// Whether conntrack tracks a TCP segment with these flags (FIN 1, SYN 2, RST 4, PSH 8,
/// ACK 16, URG 32, ECE 64, CWR 128): its `tcp_valid_flags`, where PSH, ECE and CWR do not
/// count.
fn conntrack_valid_flags(flags: u8) -> bool {
    const FIN: u8 = 1;
    const SYN: u8 = 2;
    const RST: u8 = 4;
    const ACK: u8 = 16;
    const URG: u8 = 32;
    matches!(
        flags & (FIN | SYN | RST | ACK | URG),
        SYN | 0x22 /* SYN|URG */ | 0x12 /* SYN|ACK */ | RST | 0x14 /* RST|ACK */
            | 0x11 /* FIN|ACK */ | 0x31 /* FIN|ACK|URG */ | ACK | 0x30 /* ACK|URG */
    )
}

/// The ports in both lists, sorted and merged; None when there are none. (A rule lists at
/// most 15 ports, as iptables' multiport does, and merged lists stay that short through
/// nested jumps: this is never large.)
fn common_ports(a: &[PortRange], b: &[PortRange]) -> Option<Vec<PortRange>> {
    let mut v = Vec::new();
    for x in a {
        for y in b {
            let lo = x.lo.max(y.lo);
            let hi = x.hi.min(y.hi);
            if lo <= hi {
                v.push(PortRange { lo, hi });
            }
        }
    }
    v.sort_unstable();
    let mut merged: Vec<PortRange> = Vec::with_capacity(v.len());
    for r in v {
        match merged.last_mut() {
            Some(l) if r.lo <= l.hi => l.hi = l.hi.max(r.hi),
            _ => merged.push(r),
        }
    }
    (!merged.is_empty()).then_some(merged)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::Ipv4Addr;

    #[test]
    fn conditions_join() {
        let a = Cond {
            proto: Some(6),
            ports: Some(vec![PortRange { lo: 1, hi: 100 }]),
            ..Default::default()
        };
        let b = Cond {
            ports: Some(vec![PortRange::single(22), PortRange::single(200)]),
            ..Default::default()
        };
        assert_eq!(a.and(&b).unwrap().ports, Some(vec![PortRange::single(22)]));
        let c = Cond {
            proto: Some(17),
            ..Default::default()
        };
        assert!(!a.overlaps(&c));
        // overlaps is and().is_some(), without building the result
        let d = Cond {
            states: Some(2),
            iif: Some("eth0".into()),
            ..b.clone()
        };
        for (x, y) in [(&a, &b), (&a, &c), (&b, &c), (&a, &d), (&c, &d), (&d, &d)] {
            assert_eq!(x.overlaps(y), x.and(y).is_some(), "{x:?} {y:?}");
        }
    }

    #[test]
    fn packet_types_keep_rules_apart_only_when_no_type_is_left() {
        use super::super::pkttype::ALL_PKT_TYPES;
        let t = |set| Cond {
            pkt_type: Some(set),
            ..Default::default()
        };
        let (bcast, mcast) = (t(1 << 1), t(1 << 2));
        let not_bcast = t(ALL_PKT_TYPES & !(1 << 1));
        assert!(!bcast.overlaps(&mcast), "two types: no packet has both");
        assert!(!bcast.overlaps(&not_bcast));
        assert!(mcast.overlaps(&not_bcast));
        assert_eq!(mcast.and(&not_bcast), Some(mcast.clone()));
        // a rule without a packet type meets every one (conservative)
        assert!(bcast.overlaps(&Cond::default()));
        let udp = Cond {
            proto: Some(17),
            ..Default::default()
        };
        assert_eq!(
            bcast.and(&udp).map(|c| (c.proto, c.pkt_type)),
            Some((Some(17), Some(1 << 1)))
        );
    }

    #[test]
    fn conntrack_gives_no_state_to_invalid_tcp_flags() {
        let tcp = |flags, states| Cond {
            proto: Some(6),
            flags,
            states,
            ..Default::default()
        };
        let new = Some(crate::core::plan::CtStates::NEW);
        let xmas = tcp(Some((0x3f, 0x3f)), None);
        let null = tcp(Some((0x3f, 0)), None);
        let syn = tcp(Some((0x17, 0x02)), None);
        let allow_new = tcp(None, new);
        // all flags, none: INVALID, never NEW
        assert!(!xmas.overlaps(&allow_new) && !null.overlaps(&allow_new));
        // a SYN is tracked
        assert!(syn.overlaps(&allow_new));
        // without a state, or with INVALID, they meet
        assert!(xmas.overlaps(&tcp(None, None)));
        let invalid = Some(crate::core::plan::CtStates::INVALID);
        assert!(xmas.overlaps(&tcp(None, invalid)));
        // PSH does not count: SYN,ACK,PSH is tracked; SYN,FIN never is
        assert!(conntrack_valid_flags(0x1a) && !conntrack_valid_flags(0x03));
    }

    #[test]
    fn port_exceptions_keep_their_ports_apart() {
        let r = |lo, hi| PortRange { lo, hi };
        let web = Cond {
            proto: Some(6),
            ports: Some(vec![r(80, 80), r(443, 443)]),
            ..Default::default()
        };
        let all_but_web = Cond {
            proto: Some(6),
            not_ports: vec![r(80, 80), r(443, 443)],
            ..Default::default()
        };
        let all_but_one = Cond {
            proto: Some(6),
            not_ports: vec![r(80, 80)],
            ..Default::default()
        };
        assert!(!web.overlaps(&all_but_web) && !all_but_web.overlaps(&web));
        assert!(web.overlaps(&all_but_one));
        let both = web.and(&all_but_one).unwrap();
        assert_eq!(both.not_ports, [r(80, 80)]);
        let range = Cond {
            proto: Some(6),
            ports: Some(vec![r(81, 90)]),
            ..Default::default()
        };
        let except_range = Cond {
            not_ports: vec![r(80, 100)],
            ..Default::default()
        };
        assert!(!range.overlaps(&except_range));
        for (x, y) in [
            (&web, &all_but_web),
            (&web, &all_but_one),
            (&range, &except_range),
        ] {
            assert_eq!(x.overlaps(y), x.and(y).is_some(), "{x:?} {y:?}");
        }
    }

    #[test]
    fn sources_join_to_the_narrower() {
        let net = |a: [u8; 4], l| Cond {
            src: Some(Cidr::V4(Ipv4Addr::from(a), l)),
            ..Default::default()
        };
        let wide = net([10, 0, 0, 0], 8);
        let narrow = net([10, 1, 0, 0], 16);
        assert_eq!(wide.and(&narrow), Some(narrow.clone()));
        assert_eq!(narrow.and(&wide), Some(narrow.clone()));
        assert!(!narrow.overlaps(&net([10, 2, 0, 0], 16)));
    }

    /// A RETURN's condition turned around for the rules after it: one thing only.
    #[test]
    fn one_thing_turns_around_and_two_do_not() {
        let host = Cidr::V4(Ipv4Addr::new(192, 0, 2, 4), 32);
        let from = Cond {
            src: Some(host),
            ..Default::default()
        };
        let rest = from.negated().unwrap();
        assert_eq!(rest.not_src, vec![host]);
        assert!(!rest.overlaps(&from), "the host is no longer there");
        assert_eq!(rest.negated(), Some(from.clone()), "and back");
        let local = Cond {
            dst_type: Some(1 << 1),
            ..Default::default()
        };
        let not_local = local.negated().unwrap();
        assert_eq!(
            not_local.dst_type,
            Some(super::super::addrtype::ALL_TYPES & !(1 << 1))
        );
        assert!(!not_local.overlaps(&local));
        let iif = Cond {
            iif: Some("eth1".into()),
            ..Default::default()
        };
        assert_eq!(iif.negated().unwrap().not_iif, vec!["eth1".to_string()]);
        let ssh = Cond {
            proto: Some(6),
            ports: Some(vec![PortRange { lo: 22, hi: 22 }]),
            ..Default::default()
        };
        assert_eq!(
            ssh.negated(),
            None,
            "not tcp, or tcp to another port: two conditions"
        );
        // … which a RETURN's walks take one at a time: not tcp; tcp to another port
        let parts = ssh.parts().unwrap();
        assert_eq!(parts.len(), 2);
        assert_eq!(parts[0].negated().unwrap().not_protos, [6]);
        let other_port = parts[0].and(&parts[1].negated().unwrap()).unwrap();
        assert_eq!(other_port.proto, Some(6));
        assert_eq!(other_port.not_ports, [PortRange { lo: 22, hi: 22 }]);
        assert!(!other_port.overlaps(&ssh));
        assert_eq!(Cond::default().negated(), None, "nothing is left");
        let two = Cond {
            src: Some(host),
            iif: Some("eth1".into()),
            ..Default::default()
        };
        assert_eq!(two.negated(), None);
    }
}
