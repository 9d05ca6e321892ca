//! The conntrack match's original destination and source (`--ctorigdst`, `published_to`;
//! `--ctorigsrc`, `published_from`), its
//! protocol (`--ctproto`, `connection_protocol`) and the rule its original destination port
//! (`--ctorigdstport`, `published`) must stand alone in.

use std::ops::Range;

use super::super::lex::Tok;
use super::super::lines::Parser;
use super::super::values::ALL_STATES;
use super::Draft;
use crate::core::model::Cidr;
use crate::core::plan::CtStates;

impl Parser<'_> {
    /// `--ctproto P`: the protocol of the packet's connection, by number or name (`!`, 0 —
    /// no connection's — and 255 refused); the index after its value, None when the line
    /// ends first.
    pub(super) fn ct_proto(
        &mut self,
        d: &mut Draft,
        toks: &[Tok],
        i: usize,
        neg: Option<Range<usize>>,
    ) -> Option<usize> {
        let v = self.value(toks, i)?;
        d.conn_only.get_or_insert(toks[i].span.start..v.span.end);
        if let Some(n) = &neg {
            self.err(n.start..v.span.end, "`! --ctproto` (every connection protocol but one)", "statewall matches the protocol of a connection (its `connection_protocol` key), not its exceptions: write a rule for each protocol that is let through or blocked");
            return Some(i + 2);
        }
        let lower = v.text.to_ascii_lowercase();
        match self.protocol(&v) {
            Some(255) => self.err(v.span.clone(), "`--ctproto 255`", "protocol 255 is reserved, and statewall's `connection_protocol` takes 1-254: remove the rule"),
            Some(p) if p != 0 => d.cond.ct_proto = Some(p),
            // (an unknown name is reported by `protocol`)
            None if !matches!(lower.as_str(), "all" | "0" | "ip") => {}
            _ => self.err(v.span.clone(), format!("`--ctproto {}` (protocol 0)", v.text), "iptables reads it as protocol 0, which no connection has, so the rule matches no packet: remove it"),
        }
        Some(i + 2)
    }

    /// `--ctorigdst A` (`--ctorigsrc A`): one address or network (`!` and a list refused);
    /// the index after its value, None when the line ends first.
    pub(super) fn orig_addr(
        &mut self,
        d: &mut Draft,
        toks: &[Tok],
        i: usize,
        neg: Option<Range<usize>>,
    ) -> Option<usize> {
        let v = self.value(toks, i)?;
        d.conn_only.get_or_insert(toks[i].span.start..v.span.end);
        let opt = toks[i].text.as_str();
        let (what, key) = if opt == "--ctorigsrc" {
            ("source", "published_from")
        } else {
            ("destination", "published_to")
        };
        if let Some(n) = &neg {
            self.err(n.start..v.span.end, format!("`! {opt}` (every original {what} but one)"), format!("statewall matches a connection's original {what} address (its `{key}` key), not its exceptions: write the rules for the addresses that are let through or blocked"));
            return Some(i + 2);
        }
        match self.nets(&v, &format!("original {what}"))[..] {
            // every address of the file's family: it says only that the packet has a
            // connection (xt_conntrack fails without one), as its states NEW, ESTABLISHED
            // and RELATED do (`conn_only_states`)
            [Cidr::V4(_, 0) | Cidr::V6(_, 0)] => d.tracked_only = true,
            [one] if opt == "--ctorigsrc" => d.cond.orig_src = Some(one),
            [one] => d.cond.orig_dst = Some(one),
            // (reported by `nets`)
            [] => {}
            _ => self.err(v.span.clone(), format!("`{opt} {}`: more than one address", v.text), format!("iptables-restore refuses it too (it looks the list up as one host name): the conntrack match takes one address or network per `{opt}`; write a rule for each")),
        }
        Some(i + 2)
    }

    /// The rule's matches of the connection against the rest of it: `--ctproto` of another
    /// protocol than `-p`'s (no packet has it) refused; `--ctorig* 0/0` alone, the states of
    /// a connection; and refused, a state of packets without a connection (INVALID,
    /// UNTRACKED; by `!` too) beside a match of the connection's protocol or original
    /// addresses or port: xt_conntrack
    /// tests the state, and a packet without a connection whose state matched passes the
    /// whole match, its other options untested; nftables' `ct protocol`, `ct original …`
    /// fail without a connection. So the iptables rule matches every INVALID (UNTRACKED)
    /// packet, of any protocol or address, and statewall's entry none of them.
    pub(super) fn conn_only_states(&mut self, d: &mut Draft) {
        if let (Some(p), Some(c), Some(span)) = (d.cond.proto, d.cond.ct_proto, d.conn_only.clone())
            && !crate::core::ctmatch::packet_meets_connection(p, c)
        {
            let name = crate::core::render::proto_name;
            self.err(span, format!("`--ctproto {}` in a rule of {} packets", name(c), name(p)), "a packet's connection is of the packet's own protocol (only an ICMP error is related to a connection of another), so the rule matches no packet: remove it");
        }
        let (Some(span), Some(s)) = (&d.conn_only, d.cond.states) else {
            if d.tracked_only {
                d.cond.states = Some(ALL_STATES & !CtStates::CONNECTIONLESS);
            }
            return;
        };
        let none = CtStates(s & CtStates::CONNECTIONLESS).names();
        if none.is_empty() {
            return;
        }
        let names: Vec<String> = none.iter().map(|n| n.to_ascii_uppercase()).collect();
        let names = names.join(" and ");
        self.err(
            span.clone(),
            format!("a connection's protocol, original address or port in a rule of {names} packets"),
            format!("{names} packets have no connection whose protocol or addresses could be matched: statewall's entry would take none of them, and where one conntrack match says both, iptables takes every one of them, of any protocol and address (its other options untested); write a rule of those states without this option (`-m conntrack --ctstate INVALID -j DROP`), and one of the other states with it"),
        );
    }

    /// `--ctorigdstport` becomes an entry's `published` ports, which are a protocol part of
    /// their own (`meta l4proto tcp ct original proto-dst 25`): together with other port,
    /// flag or ICMP matches in one rule it would be read as either of them, not both.
    pub(super) fn orig_alone(&mut self, d: &Draft) {
        let Some(span) = &d.orig else { return };
        let c = &d.cond;
        let others = c.ports.is_some()
            || c.sports.is_some()
            || !c.not_ports.is_empty()
            || !c.not_sports.is_empty()
            || c.flags.is_some()
            || !d.flag_alts.is_empty()
            || c.icmp.is_some();
        if others {
            self.err(
                span.clone(),
                "`--ctorigdstport` with other port or flag matches in one rule",
                "statewall matches a connection's original destination port (its `published` key) on its own, not together with the packet's ports or TCP flags: split the rule, or match the ports alone",
            );
        }
    }
}
