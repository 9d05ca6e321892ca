//! The `[[allow]]` and `[[reject]]` entries: their shape, their keys, and what an entry as a
//! whole must have (a name; ports, or sources or an interface; a `with` that fits its ports).

use std::ops::Range;

use toml::Spanned;
use toml::de::{DeString, DeTable, DeValue};

use super::keys::Place;
use super::{Checker, Entry, FromList, Kind, PortList, type_name};
use crate::core::model::{BlockAt, BlockState, Cidr, Limit, More, RejectWith};
use crate::core::plan::Hook;

/// The keys of one entry, each checked on its own.
struct Fields<'t, 'a> {
    name: Option<(String, Range<usize>)>,
    name_written: bool,
    tcp: PortList,
    udp: PortList,
    from: Option<FromList>,
    from_file: Option<&'t Spanned<DeValue<'a>>>,
    icmp: Vec<(u8, Range<usize>)>,
    icmp_mentioned: bool,
    /// the new matches, and whether any of them restricts the entry
    more: More,
    more_restricts: bool,
    /// `to` as written (its families are checked against `from`'s)
    to_written: bool,
    iif: Option<String>,
    iif_written: bool,
    from_set: Option<(String, Range<usize>)>,
    from_set_written: bool,
    with: RejectWith,
    with_span: Option<Range<usize>>,
    /// a block's `with` (None: drop) and `after`
    block_with: Option<RejectWith>,
    at: BlockAt,
    at_span: Option<Range<usize>>,
    /// a block's `state` (`"new"`, `"invalid"`)
    block_state: Option<BlockState>,
    /// where a valid `state` was written (an allow's or a block's)
    states_at: Option<Range<usize>>,
    /// where `connection_protocol` was written
    conn_proto_span: Option<Range<usize>>,
    /// where a valid `limit` was written (likewise)
    limit_span: Option<Range<usize>>,
    /// where a valid `connections` was written (checked against the kind and `state`)
    conn_span: Option<Range<usize>>,
    /// where `rt_type` (or its exception) and `tcp_option` (or its) were written
    rt_span: Option<Range<usize>>,
    /// where `u32` (or its exception) was written
    u32_span: Option<Range<usize>>,
    tcp_option_span: Option<Range<usize>>,
    /// where `except_protocol` was written (refused beside keys that name a protocol)
    except_proto_span: Option<Range<usize>>,
    /// where `mac` (or `except_mac`) was written (checked against the section later)
    mac_span: Option<Range<usize>>,
    /// where `uid`, `gid` (or their exceptions) were written (likewise)
    owner_span: Option<Range<usize>>,
    /// where `ipsec_in` and `ipsec_out` were written (likewise)
    ipsec_span: [Option<Range<usize>>; 2],
    /// where `iif`/`except_iif` and `oif`/`except_oif` were written (checked against the
    /// section later: no input interface in [output], no output interface in the input chain)
    if_span: [Option<Range<usize>>; 2],
    /// where `except_icmp` and `except_icmpv6` were written (checked against `icmp` and
    /// `icmpv6`)
    except_icmp_span: [Option<Range<usize>>; 2],
    /// `add_to_set`, `remove_from_set`, `refresh`
    feed: super::live::Feed,
    /// a clamp entry's `mss` as written (inside: when valid)
    mss: Option<Option<crate::core::model::Mss>>,
    /// The keys that unknown keys probably meant: a misspelt `tcp` or `name` is reported as
    /// such, not also as missing.
    misspelt: Vec<&'static str>,
}

impl Fields<'_, '_> {
    /// An entry with no key read yet.
    fn new() -> Self {
        Fields {
            name: None,
            name_written: false,
            tcp: PortList::default(),
            udp: PortList::default(),
            from: None,
            from_file: None,
            icmp: Vec::new(),
            icmp_mentioned: false,
            more: More::default(),
            more_restricts: false,
            to_written: false,
            iif: None,
            iif_written: false,
            from_set: None,
            from_set_written: false,
            with: RejectWith::Default,
            with_span: None,
            block_with: None,
            at: BlockAt::First,
            at_span: None,
            block_state: None,
            states_at: None,
            conn_proto_span: None,
            limit_span: None,
            conn_span: None,
            rt_span: None,
            u32_span: None,
            tcp_option_span: None,
            except_proto_span: None,
            mac_span: None,
            owner_span: None,
            ipsec_span: [None, None],
            if_span: [None, None],
            except_icmp_span: [None, None],
            feed: super::live::Feed::default(),
            mss: None,
            misspelt: Vec::new(),
        }
    }
}

/// Whether an entry of `kind` takes `key` of the packet path's keys: a block `add_to_set`,
/// `remove_from_set` and `refresh`, a reject all but `refresh`, an allow `remove_from_set`.
fn feeds(kind: Kind, key: &str) -> bool {
    kind == Kind::Block
        || key != "refresh" && kind == Kind::Reject
        || key == "remove_from_set" && kind == Kind::Allow
}

impl Fields<'_, '_> {
    /// A valid `limit`, and where it was written.
    fn limit(&mut self, limit: Option<Vec<Limit>>, span: Range<usize>) {
        self.limit_span = limit.as_ref().map(|_| span);
        self.more.limit = limit.unwrap_or_default();
    }

    /// The protocols of the entry's packets, as its protocol parts name them (0: a published
    /// port of any protocol); none for an entry of every protocol.
    fn packet_protocols(&self) -> Vec<u8> {
        use crate::core::plan::{IPPROTO_ICMP, IPPROTO_ICMPV6, IPPROTO_TCP, IPPROTO_UDP};
        let m = &self.more;
        let mut out: Vec<u8> = m.protocol.clone();
        let tcp = self.tcp.mentioned
            || !m.tcp_sport.is_empty()
            || !m.except_tcp.is_empty()
            || !m.except_tcp_sport.is_empty()
            || !m.tcp_flags.is_empty()
            || crate::core::exthdr::has_tcp_options(m);
        let udp = self.udp.mentioned
            || !m.udp_sport.is_empty()
            || !m.except_udp.is_empty()
            || !m.except_udp_sport.is_empty();
        let icmp = self.icmp_mentioned || !m.icmp_codes.is_empty() || !m.except_icmp.is_empty();
        let icmpv6 = !m.icmpv6.is_empty()
            || !m.except_icmpv6.is_empty()
            || self.except_icmp_span[1].is_some();
        for (on, p) in [
            (tcp, IPPROTO_TCP),
            (udp, IPPROTO_UDP),
            (icmp, IPPROTO_ICMP),
            (icmpv6, IPPROTO_ICMPV6),
        ] {
            if on {
                out.push(p);
            }
        }
        out.extend(m.published.iter().map(|p| p.0));
        out
    }

    fn portless(&self) -> bool {
        self.packet_protocols().is_empty()
    }

    /// Where a `state` the section's baseline must agree with was written: an allow's, and a
    /// block's list of established or related packets (after the established rule none reach
    /// it, as none reach an allow of them).
    fn baseline_state_span(&self, kind: Kind) -> Option<Range<usize>> {
        use crate::core::plan::CtStates;
        let open = CtStates::ESTABLISHED | CtStates::RELATED;
        let checked = kind != Kind::Block
            || matches!(self.block_state, Some(BlockState::States(s)) if s.0 & open != 0);
        self.states_at.clone().filter(|_| checked)
    }
}

impl Checker<'_> {
    /// An entry's `limit`, with `within = "continue"` only on blocks and rejects.
    fn entry_limit(&mut self, kind: Kind, value: &Spanned<DeValue<'_>>) -> Option<Vec<Limit>> {
        let limit = self.limit(value);
        let within = limit
            .as_ref()
            .is_some_and(|l| l.iter().any(|l| l.within_continues));
        if within && !matches!(kind, Kind::Block | Kind::Reject) {
            self.error(
                value.span(),
                "`within = \"continue\"` on an allow",
                Some("an entry that takes only what exceeds its rate and lets the rest go on is a block or a reject (a syn-flood guard); an allow's limit says what exceeds it with `over`".into()),
            );
        }
        limit
    }

    /// The value of an `allow`, `reject`, `block` or `clamp` key: an array of entries, as a
    /// rule. `section` is the `[forward]` or `[output]` it is in (`None`: top level).
    pub(super) fn entries(
        &mut self,
        kind: Kind,
        section: Option<&str>,
        key: &Spanned<DeString<'_>>,
        value: &Spanned<DeValue<'_>>,
        out: &mut Vec<Entry>,
    ) {
        let k = kind.key();
        match value.get_ref() {
            DeValue::Array(items) => {
                for item in items.iter() {
                    match item.get_ref() {
                        DeValue::Table(t) => out.push(self.entry(kind, item.span(), t)),
                        _ if self.tainted(&item.span()) => {}
                        other => self.error(
                            item.span(),
                            format!(
                                "expected {} {k} entry (a table), found {}",
                                if kind == Kind::Allow { "an" } else { "a" },
                                type_name(other)
                            ),
                            Some(format!(
                                "each entry is a table, e.g. {k} = [{{ name = \"ssh\", tcp = [22] }}], or a [[{k}]] section"
                            )),
                        ),
                    }
                }
            }
            DeValue::Table(t) => {
                self.single_table(kind, section, key, value);
                // Check its contents anyway, as if it were one entry.
                out.push(self.entry(kind, value.span(), t));
            }
            other => {
                if !self.tainted(&value.span()) {
                    self.error(
                        value.span(),
                        format!("expected [[{k}]] entries, found {}", type_name(other)),
                        Some(format!(
                            "write one section per entry:\n[[{k}]]\nname = \"ssh\"\ntcp = [22]"
                        )),
                    );
                }
            }
        }
    }

    /// `[allow]` instead of `[[allow]]`, or `allow = { ... }`.
    fn single_table(
        &mut self,
        kind: Kind,
        section: Option<&str>,
        key: &Spanned<DeString<'_>>,
        value: &Spanned<DeValue<'_>>,
    ) {
        if self.tainted(&key.span()) {
            return;
        }
        // as a section's header names it: `clamp` under `[forward]` is `forward.clamp`
        let bare = kind.key();
        let k = section.map_or(bare.to_string(), |s| format!("{s}.{bare}"));
        let text = self.text(&value.span());
        let help = if text.starts_with('{') {
            format!(
                "`{bare}` holds a list of entries: write {bare} = [{{ ... }}], or use a [[{k}]] section per entry"
            )
        } else {
            format!(
                "write [[{k}]], with double brackets: each [[{k}]] header starts one more entry"
            )
        };
        let shown = if text.starts_with('[') {
            format!("[{k}]")
        } else {
            format!("`{bare}`")
        };
        self.error(
            key.span(),
            format!("{shown} is a single table, but {k} entries must be an array of tables"),
            Some(help),
        );
    }

    fn entry(&mut self, kind: Kind, span: Range<usize>, table: &DeTable<'_>) -> Entry {
        let mut f = self.fields(kind, table);
        if let Some(value) = f.from_file {
            f.from = self.list_file(value, f.from.take());
        }
        if !self.tainted(&span) {
            let head = self.entry_head(&span);
            self.missing_name(kind, &f, head.clone());
            if kind == Kind::Clamp {
                self.clamp_has_mss(
                    &f.name,
                    f.mss.is_some() || f.misspelt.contains(&"mss"),
                    head,
                );
            } else {
                self.missing_ports(kind, &f, head);
            }
        }
        self.tcp_reset_fits(&f);
        self.refresh_has_a_set(&f.feed, f.from_set_written);
        self.feed_is_one_way(&f.feed);
        self.families_meet(&f, &span);
        let icmp = !f.icmp.is_empty() || f.icmp_mentioned;
        if let Some(at) = f.rt_span.clone() {
            let from = f.from.as_ref().map(|l| &l.nets[..]);
            self.rt_fits(&f.more, from, icmp, at);
        }
        if let Some(at) = f.u32_span.clone() {
            let from = f.from.as_ref().map(|l| &l.nets[..]);
            self.u32_fits(&f.more, from, at);
        }
        if let Some(at) = f.tcp_option_span.clone() {
            self.tcp_option_fits(&f.more, icmp || f.udp.mentioned, at);
        }
        self.icmp_exceptions_fit(&f);
        if let Some(at) = f.except_proto_span.clone()
            && !f.portless()
        {
            self.error(at, "`except_protocol` on an entry that names a protocol", Some("`except_protocol` makes an entry of every protocol but these, and a key that names one (tcp, udp, icmp, icmpv6, protocol, their ports, types and exceptions) makes it one of that protocol: keep one of the two (`protocol` lists the protocols an entry takes)".into()));
        }
        if let Some(at) = f.states_at.clone() {
            let states = f.block_state.map(BlockState::ct).or(f.more.state);
            self.connectionless_fit(&f.more, states, at);
        }
        if let Some(at) = f.conn_proto_span.clone() {
            self.connection_protocols_fit(&f.packet_protocols(), &f.more.connection_protocol, at);
        }
        if let Some(at) = f.conn_span.clone() {
            let within = f.more.connections.is_some_and(|c| c.within_continues);
            self.connections_fit(kind, (f.more.state, within), at);
        }
        if !self.tainted(&span) {
            let head = self.entry_head(&span);
            let shape = super::size::Shape {
                icmp: f.icmp.len(),
                l4: usize::from(f.tcp.mentioned) + usize::from(f.udp.mentioned),
                sources: f.from.as_ref().map_or(0, |l| l.nets.len()),
            };
            self.entry_size_bounded(&f.more, shape, head);
        }
        let state_span = f.baseline_state_span(kind);
        Entry {
            kind,
            name: f.name,
            tcp: f.tcp,
            udp: f.udp,
            icmp: f.icmp,
            from: f.from,
            iif: f.iif,
            from_set: f.from_set,
            with: f.with,
            block_with: f.block_with,
            at: f.at,
            at_span: f.at_span,
            block_state: f.block_state,
            hook: Hook::Input,
            more: f.more,
            state_span,
            limit_span: f.limit_span,
            mac_span: f.mac_span,
            owner_span: f.owner_span,
            ipsec_span: f.ipsec_span,
            if_span: f.if_span,
            feed: f.feed,
            mss: f.mss.flatten(),
        }
    }

    /// Checks each key of an entry on its own.
    fn fields<'t, 'a>(&mut self, kind: Kind, table: &'t DeTable<'a>) -> Fields<'t, 'a> {
        let mut f = Fields::new();
        let place = place_of(kind);
        for (key, value) in table.iter() {
            if kind == Kind::Clamp && !super::keys::clamp_key(key.get_ref().as_ref()) {
                if let Some(meant) = self.unknown_key(key, place) {
                    f.misspelt.push(meant);
                }
                continue;
            }
            match key.get_ref().as_ref() {
                "mss" if kind == Kind::Clamp => f.mss = Some(self.clamp_mss("mss", value)),
                "name" => {
                    f.name_written = true;
                    f.name = self.name(value);
                }
                "tcp" => f.tcp = self.ports("tcp", value),
                "udp" => f.udp = self.ports("udp", value),
                "from" => f.from = Some(self.from(kind, value)),
                "from_file" => f.from_file = Some(value),
                "from_set" => {
                    f.from_set_written = true;
                    f.from_set = self.set_ref(value);
                }
                "icmp" => {
                    let (types, mentioned) = self.icmp_types("icmp", value, false);
                    f.icmp_mentioned = mentioned;
                    for ((t, code), span) in types {
                        match code {
                            None => f.icmp.push((t, span)),
                            Some(c) => f.more.icmp_codes.push((t, c)),
                        }
                    }
                }
                "iif" => {
                    f.iif_written = true;
                    f.iif = self.ifname("iif", value);
                    if f.iif.is_some() {
                        f.if_span[0].get_or_insert(value.span());
                    }
                }
                k @ ("to" | "except_from" | "except_to" | "published_to" | "published_from") => {
                    self.address_key(&mut f, kind, k, value)
                }
                "oif" => {
                    f.more_restricts = true;
                    f.more.oif = self.ifname("oif", value);
                    if f.more.oif.is_some() {
                        f.if_span[1].get_or_insert(value.span());
                    }
                }
                k if self.typed_key(&mut f, k, value) => {}
                k @ ("except_iif" | "except_oif") => {
                    let at = usize::from(k == "except_oif");
                    f.more_restricts = true;
                    let names = self.ifnames(k, value);
                    if !names.is_empty() {
                        f.if_span[at].get_or_insert(value.span());
                    }
                    if k == "except_iif" {
                        f.more.except_iif = names;
                    } else {
                        f.more.except_oif = names;
                    }
                }
                k @ ("except_tcp" | "except_udp" | "except_tcp_sport" | "except_udp_sport"
                | "except_icmp" | "except_icmpv6") => {
                    self.exception_key(&mut f, (k, key.span()), value)
                }
                // a block's `state = "new"` (below); an allow's list of states
                "state" if kind != Kind::Block => {
                    // written: the entry says what it matches, even with nothing else
                    f.more_restricts = true;
                    f.more.state = self.states(kind, value);
                    f.states_at = f.more.state.map(|_| value.span());
                }
                other @ ("tcp_sport" | "udp_sport") => {
                    let list = self.ports(other, value);
                    let ports = list.ports.into_iter().map(|(p, _)| p).collect();
                    if other == "tcp_sport" {
                        f.more.tcp_sport = ports;
                    } else {
                        f.more.udp_sport = ports;
                    }
                }
                "protocol" => f.more.protocol = self.protocols("protocol", value),
                "except_protocol" => {
                    f.more_restricts = true;
                    f.more.except_protocol = self.protocols("except_protocol", value);
                    f.except_proto_span = Some(value.span());
                }
                "icmpv6" => f.more.icmpv6 = self.icmpv6_types(value),
                "tcp_flags" => {
                    f.more.tcp_flags = self.tcp_flags(value);
                    // only a SYN carries the MSS option (xt_TCPMSS refuses a rule that
                    // is not limited to SYNs): flags that let others match clamp nothing
                    let syn = |&(mask, want): &(u8, u8)| mask & want & 0x02 != 0;
                    if kind == Kind::Clamp && !f.more.tcp_flags.iter().all(syn) {
                        self.error(
                            value.span(),
                            "a clamp entry's tcp_flags must each require SYN set",
                            Some("only a SYN carries the MSS option: write flags whose value has syn, e.g. \"syn/syn,rst\" (iptables' --tcp-flags SYN,RST SYN, the default) or \"syn/fin,syn,rst,ack\" (--syn)".into()),
                        );
                    }
                }
                "limit" => f.limit(self.entry_limit(kind, value), value.span()),
                "connections" => {
                    f.more.connections = self.connections(value);
                    f.conn_span = f.more.connections.map(|_| key.span());
                }
                "log" => f.more.log = self.log("log", value),
                k @ ("published" | "published_udp" | "published_any" | "connection_protocol") => {
                    self.published(&mut f, k, value)
                }
                "with" if kind == Kind::Reject => self.reject_with(&mut f, value),
                k @ ("with" | "after" | "state") if kind == Kind::Block => {
                    self.block_key(&mut f, k, value)
                }
                k @ ("add_to_set" | "remove_from_set" | "refresh") if feeds(kind, k) => {
                    self.feed_key(&mut f, k, value)
                }
                _ => {
                    if let Some(meant) = self.unknown_key(key, place) {
                        f.misspelt.push(meant);
                    }
                }
            }
        }
        f
    }

    /// The keys of a kind of type or header (address and packet types, routing header types,
    /// TCP options, source MAC addresses, and their exceptions) into the entry: whether `key`
    /// is one.
    fn typed_key(
        &mut self,
        f: &mut Fields<'_, '_>,
        key: &str,
        value: &Spanned<DeValue<'_>>,
    ) -> bool {
        match key {
            "to_type" | "from_type" | "except_to_type" | "except_from_type" | "pkttype"
            | "except_pkttype" => self.type_key(f, key, value),
            "rt_type" | "except_rt_type" | "tcp_option" | "except_tcp_option" => {
                f.more_restricts = true;
                if key.ends_with("rt_type") {
                    f.rt_span = Some(value.span());
                } else {
                    f.tcp_option_span = Some(value.span());
                }
                self.exthdr_key(&mut f.more, key, value);
            }
            "mac" | "except_mac" => {
                f.more_restricts = true;
                f.mac_span = super::header::span_of(key, value);
                self.mac_key(&mut f.more, key, value);
            }
            "uid" | "except_uid" | "gid" | "except_gid" => {
                f.more_restricts = true;
                f.owner_span = f.owner_span.take().or(super::owner::span_of(key, value));
                self.owner_key(&mut f.more, key, value);
            }
            "length" | "except_length" => {
                f.more_restricts = true;
                self.length_key(&mut f.more, key, value);
            }
            "tcp_mss" | "except_tcp_mss" => {
                f.more_restricts = true;
                f.tcp_option_span.get_or_insert(value.span());
                self.mss_key(&mut f.more, key, value);
            }
            "ttl" | "except_ttl" => {
                f.more_restricts = true;
                self.ttl_key(&mut f.more, key, value);
            }
            "mark" | "except_mark" => {
                f.more_restricts = true;
                self.mark_key(&mut f.more, key, value);
            }
            "helper" | "except_helper" => {
                f.more_restricts = true;
                self.helper_key(&mut f.more, key, value);
            }
            "hours" | "days" | "since" | "until" => {
                f.more_restricts = true;
                self.clock_key(&mut f.more, key, value);
            }
            "contains" | "except_contains" => {
                f.more_restricts = true;
                self.contains_key(&mut f.more, key, value);
            }
            "u32" | "except_u32" => {
                f.more_restricts = true;
                f.u32_span.get_or_insert(value.span());
                self.u32_key(&mut f.more, key, value);
            }
            "dnat" => {
                f.more_restricts = true;
                f.more.dnat = self.dnat(value);
            }
            "ipsec_in" | "ipsec_out" => {
                f.more_restricts = true;
                let out = key == "ipsec_out";
                f.ipsec_span[usize::from(out)] = Some(value.span());
                let said = self.ipsec(key, value);
                if out {
                    f.more.ipsec_out = said;
                } else {
                    f.more.ipsec_in = said;
                }
            }
            _ => return false,
        }
        true
    }

    /// `to`, `except_from`, `except_to`, `published_to`, `published_from`: addresses into
    /// the entry.
    fn address_key(
        &mut self,
        f: &mut Fields<'_, '_>,
        kind: Kind,
        key: &str,
        value: &Spanned<DeValue<'_>>,
    ) {
        f.more_restricts = true;
        let nets = self.addresses(kind, key, value).nets;
        match key {
            "to" => {
                f.to_written = true;
                f.more.to = nets;
            }
            "except_from" => f.more.except_from = nets,
            "except_to" => f.more.except_to = nets,
            "published_to" => f.more.published_to = nets,
            _ => f.more.published_from = nets,
        }
    }

    /// `icmpv6`: ICMPv6 types, each with a code or not.
    fn icmpv6_types(&mut self, value: &Spanned<DeValue<'_>>) -> Vec<(u8, Option<u8>)> {
        let (types, _) = self.icmp_types("icmpv6", value, true);
        types.into_iter().map(|(t, _)| t).collect()
    }

    /// `to_type`, `from_type`, `pkttype` and their exceptions: address and packet types.
    fn type_key(&mut self, f: &mut Fields<'_, '_>, key: &str, value: &Spanned<DeValue<'_>>) {
        f.more_restricts = true;
        let types = if key.ends_with("pkttype") {
            self.pkt_types(key, value)
        } else {
            self.addr_types(key, value)
        };
        let m = &mut f.more;
        match key {
            "to_type" => m.to_type = types,
            "from_type" => m.from_type = types,
            "except_to_type" => m.except_to_type = types,
            "pkttype" => m.pkttype = types,
            "except_pkttype" => m.except_pkttype = types,
            _ => m.except_from_type = types,
        }
    }

    /// The port and ICMP type exceptions (`key`, written at `at`) into the entry.
    fn exception_key(
        &mut self,
        f: &mut Fields<'_, '_>,
        (key, at): (&str, Range<usize>),
        value: &Spanned<DeValue<'_>>,
    ) {
        if key.starts_with("except_icmp") {
            self.icmp_exception_key(f, (key, at), value);
        } else {
            self.port_exception_key(f, key, value);
        }
    }

    /// `except_icmp`, `except_icmpv6` (written at `at`) into the entry.
    fn icmp_exception_key(
        &mut self,
        f: &mut Fields<'_, '_>,
        (key, at): (&str, Range<usize>),
        value: &Spanned<DeValue<'_>>,
    ) {
        let v6 = key == "except_icmpv6";
        let types = self.icmp_exceptions(key, value, v6);
        f.except_icmp_span[usize::from(v6)] = Some(at);
        if v6 {
            f.more.except_icmpv6 = types;
        } else {
            // the entry names ICMP (a tcp reset does not answer it)
            f.icmp_mentioned = true;
            f.more.except_icmp = types;
        }
    }

    /// `except_icmp`, `except_icmpv6`: types excepted, by number or name; a type with a code
    /// is refused (an exception is of whole types: `icmp type != 3`).
    fn icmp_exceptions(&mut self, key: &str, value: &Spanned<DeValue<'_>>, v6: bool) -> Vec<u8> {
        let (types, _) = self.icmp_types(key, value, v6);
        let mut out = Vec::with_capacity(types.len());
        for ((ty, code), span) in types {
            match code {
                None => out.push(ty),
                Some(c) => self.error(
                    span,
                    format!("`{key}` of type {ty} with code {c}"),
                    Some(format!("an exception is of a whole type ({key} = [{ty}]: every packet of the other types); to leave out one code, list the codes the entry takes in `{}` instead", if v6 { "icmpv6" } else { "icmp" })),
                ),
            }
        }
        out
    }

    /// `except_icmp` (`except_icmpv6`) says every type but some: not beside `icmp`
    /// (`icmpv6`), which lists the types the entry takes.
    fn icmp_exceptions_fit(&mut self, f: &Fields<'_, '_>) {
        let listed = [
            !f.icmp.is_empty() || !f.more.icmp_codes.is_empty(),
            !f.more.icmpv6.is_empty(),
        ];
        for v6 in [false, true] {
            let i = usize::from(v6);
            if let (Some(at), true) = (&f.except_icmp_span[i], listed[i]) {
                let (key, pos) = if v6 {
                    ("except_icmpv6", "icmpv6")
                } else {
                    ("except_icmp", "icmp")
                };
                self.error(
                    at.clone(),
                    format!("`{key}` beside `{pos}`"),
                    Some(format!("`{pos}` lists the types the entry takes, `{key}` takes every type but some: keep one of the two (or put them in two entries)")),
                );
            }
        }
    }

    /// `except_tcp`, `except_udp` and their `_sport` twins: ports excepted.
    fn port_exception_key(
        &mut self,
        f: &mut Fields<'_, '_>,
        key: &str,
        value: &Spanned<DeValue<'_>>,
    ) {
        let list = self.ports(key, value);
        let ports = list.ports.into_iter().map(|(p, _)| p).collect();
        let m = &mut f.more;
        match key {
            "except_tcp" => m.except_tcp = ports,
            "except_udp" => m.except_udp = ports,
            "except_tcp_sport" => m.except_tcp_sport = ports,
            _ => m.except_udp_sport = ports,
        }
    }

    /// A reject's `with`.
    fn reject_with(&mut self, f: &mut Fields<'_, '_>, value: &Spanned<DeValue<'_>>) {
        if let Some(w) = self.with(value, false) {
            f.with = w;
            f.with_span = Some(value.span());
        }
    }

    /// `add_to_set` and `remove_from_set` (the sets the entry adds its packets' sources to,
    /// or takes them out of) and `refresh` (a block renews its set's members).
    /// `published`, `published_udp`, `published_any`: the original destination ports of a
    /// connection of tcp, udp, or (protocol 0) any protocol (iptables' `--ctorigdstport`
    /// without `-p`); `connection_protocol`, its protocols (its original addresses are
    /// `address_key`'s).
    fn published(&mut self, f: &mut Fields<'_, '_>, key: &str, value: &Spanned<DeValue<'_>>) {
        // written: the entry has ports, even when none of them is valid
        f.more_restricts = true;
        if key == "connection_protocol" {
            f.conn_proto_span = Some(value.span());
            f.more.connection_protocol = self.protocols(key, value);
            return;
        }
        let (proto, p) = match key {
            "published" => ("tcp", crate::core::plan::IPPROTO_TCP),
            "published_udp" => ("udp", crate::core::plan::IPPROTO_UDP),
            _ => ("published_any", 0),
        };
        let list = self.ports(proto, value);
        f.more
            .published
            .extend(list.ports.into_iter().map(|(r, _)| (p, r)));
    }

    fn feed_key(&mut self, f: &mut Fields<'_, '_>, key: &str, value: &Spanned<DeValue<'_>>) {
        let names = |sets: &[(String, Range<usize>)]| sets.iter().map(|(n, _)| n.clone()).collect();
        match key {
            "refresh" => {
                f.feed.refresh = self.refresh(value);
                f.more.refresh = f.feed.refresh.is_some();
            }
            "add_to_set" => {
                f.feed.add_to_set = self.set_refs(key, value);
                f.more.add_to_set = names(&f.feed.add_to_set);
            }
            _ => {
                f.feed.remove_from_set = self.set_refs(key, value);
                f.more.remove_from_set = names(&f.feed.remove_from_set);
            }
        }
    }

    /// A block's `with` (drop, the default, or a reject kind) and `after` (its place).
    fn block_key(&mut self, f: &mut Fields<'_, '_>, key: &str, value: &Spanned<DeValue<'_>>) {
        if key == "after" {
            if let Some(at) = self.block_at(value) {
                f.at = at;
                f.at_span = Some(value.span());
            }
            return;
        }
        if key == "state" {
            f.block_state = self.block_state(value);
            f.states_at = f.block_state.map(|_| value.span());
            return;
        }
        // "drop" (the default) is no reject
        if value.get_ref().as_str() != Some("drop")
            && let Some(w) = self.with(value, true)
        {
            f.with = w;
            f.with_span = Some(value.span());
            f.block_with = Some(w);
        }
    }

    fn missing_name(&mut self, kind: Kind, f: &Fields<'_, '_>, head: Range<usize>) {
        if f.name_written || f.misspelt.contains(&"name") {
            return;
        }
        self.error(
            head,
            format!("this {} entry has no `name`", kind.key()),
            Some(
                "add a name = \"...\" line: a short label, unique across allow and reject entries, that names the rule and its counter"
                    .into(),
            ),
        );
    }

    /// Without ports, an entry that names sources or an interface matches everything from
    /// there; one that restricts nothing at all would match everything. A block of
    /// `state = "invalid"` restricts itself: the packets conntrack calls invalid, from
    /// anywhere, as the baseline's `invalid` rule (later in the chain).
    fn missing_ports(&mut self, kind: Kind, f: &Fields<'_, '_>, head: Range<usize>) {
        let ports_misspelt = f.misspelt.contains(&"tcp") || f.misspelt.contains(&"udp");
        let restricted = f.from.is_some()
            || f.more_restricts
            || f.iif_written
            || f.from_set_written
            || f.block_state == Some(BlockState::Invalid)
            || f.misspelt.contains(&"from")
            || f.misspelt.contains(&"from_set");
        if !f.portless() || restricted || ports_misspelt {
            return;
        }
        let k = kind.key();
        if kind == Kind::Block {
            let what = match &f.name {
                Some((n, _)) => format!("block entry \"{n}\" says what to block from nowhere"),
                None => "this block entry says what to block from nowhere".to_string(),
            };
            self.error(
                head,
                what,
                Some("a block of nothing would drop every packet of its section: say what it blocks — its sources (from = [...], from_set = \"...\" for a live set), an interface (iif; in [output], oif), ports, a protocol or another match (ports alone drop those ports from everyone); to drop everything, set the section's final".into()),
            );
            return;
        }
        let what = match &f.name {
            Some((n, _)) => format!("{k} entry \"{n}\" has no ports"),
            None => format!("this {k} entry has no ports"),
        };
        self.error(
            head,
            what,
            Some("add tcp = [...] and/or udp = [...], e.g. tcp = [22]; an entry without ports needs `from`, `from_set` or `iif` (it then matches everything from there); to accept everything, use mode = \"audit\"".into()),
        );
    }

    /// Sources, destinations and original addresses (`published_to`, `published_from`) must share a
    /// family, or the entry would match nothing.
    fn families_meet(&mut self, f: &Fields<'_, '_>, span: &Range<usize>) {
        let fams = |nets: &[Cidr]| {
            (
                nets.iter().any(|n| matches!(n, Cidr::V4(..))),
                nets.iter().any(|n| matches!(n, Cidr::V6(..))),
            )
        };
        let from = f.from.as_ref().map_or(&[][..], |from| &from.nets[..]);
        let to = if f.to_written {
            &f.more.to[..]
        } else {
            &[][..]
        };
        let lists = [
            ("from", from),
            ("to", to),
            ("published_to", &f.more.published_to[..]),
            ("published_from", &f.more.published_from[..]),
        ];
        let written: Vec<(&str, (bool, bool))> = lists
            .iter()
            .filter(|(_, nets)| !nets.is_empty())
            .map(|&(k, nets)| (k, fams(nets)))
            .collect();
        let (f4, f6) = written
            .iter()
            .fold((true, true), |(a4, a6), (_, (b4, b6))| {
                (a4 && *b4, a6 && *b6)
            });
        if f4 || f6 {
            return;
        }
        let keys: Vec<String> = written.iter().map(|(k, _)| format!("`{k}`")).collect();
        let head = self.entry_head(span);
        let help = if f.more.published_to.is_empty() && f.more.published_from.is_empty() {
            "an IPv4 source never sends to an IPv6 destination: list destinations of the sources' family"
        } else {
            "a connection's addresses are all of one family: list original destinations of the family of its sources and destinations"
        };
        self.error(
            head,
            format!(
                "this entry's {} share no address family: it would match nothing",
                keys.join(" and ")
            ),
            Some(help.into()),
        );
    }

    /// A tcp reset answers tcp ports only.
    fn tcp_reset_fits(&mut self, f: &Fields<'_, '_>) {
        let (RejectWith::TcpReset, Some(ws)) = (f.with, &f.with_span) else {
            return;
        };
        if (f.icmp_mentioned || f.portless()) && !f.udp.mentioned {
            let what = if f.icmp_mentioned {
                "the icmp types of this entry"
            } else {
                "an entry without tcp ports"
            };
            self.error(
                ws.clone(),
                format!("with = \"tcp-reset\" cannot answer {what}"),
                Some(
                    "a tcp reset answers tcp ports only: list tcp = [...], or use with = \"port-unreachable\" (or another ICMP kind)"
                        .into(),
                ),
            );
        }
        if f.udp.mentioned {
            self.error(
                ws.clone(),
                "with = \"tcp-reset\" cannot answer the udp ports of this entry".to_string(),
                Some(
                    "split it into two [[reject]] entries (tcp with \"tcp-reset\", udp without `with`), or use with = \"port-unreachable\", which answers both"
                        .into(),
                ),
            );
        }
    }

    /// Where to point for a problem with a whole entry: its `[[allow]]` header, the opening
    /// brace of its inline table, or (dotted keys) its key.
    pub(super) fn entry_head(&self, span: &Range<usize>) -> Range<usize> {
        if self.text(span).starts_with('{') {
            span.start..span.start + 1
        } else {
            span.clone()
        }
    }
}

/// Where the keys of an entry of `kind` are said to be, for unknown-key messages.
fn place_of(kind: Kind) -> Place {
    match kind {
        Kind::Allow => Place::Allow,
        Kind::Reject => Place::Reject,
        Kind::Block => Place::Block,
        Kind::Clamp => Place::Clamp,
    }
}
