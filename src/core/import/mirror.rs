//! `--mirror-ipv6`: IPv6 gets the IPv4 file's entries behind statewall's ICMPv6 baseline.
//!
//! The mirror promises the ICMPv6 that IPv6 cannot work without (neighbour discovery, MLD,
//! errors, echo) before anything the file says. A block the file puts before its other
//! accepts (`after = "established"`, or first) comes before that baseline in statewall's
//! chain, so a common IPv4 hardening line, `-m pkttype --pkt-type multicast -j DROP`, would
//! drop the neighbour solicitations sent to a solicited-node multicast address: the host
//! could no longer be reached over IPv6 once its neighbours forget it (probe 25, F9). Such a
//! block is split: its IPv4 half stays in its place, its IPv6 half goes after the baseline.

use std::net::{Ipv4Addr, Ipv6Addr};

use super::entries::Entry;
use super::extra::EntryExtra;
use crate::core::addrtype::addr_type;
use crate::core::compile::ICMPV6_ESSENTIAL;
use crate::core::model::{BlockState, Cidr, More};
use crate::core::pkttype::pkt_type;
use crate::core::plan::IPPROTO_ICMPV6;

/// The numbers of packet types (`pkt`) or address types by their names.
fn types(names: &[&str], pkt: bool) -> Vec<u8> {
    let of = |n: &&str| if pkt { pkt_type(n) } else { addr_type(n) };
    names.iter().filter_map(of).collect()
}

/// An IPv4 entry's ICMP connections (`--ctproto icmp`) are ICMPv6 ones in its IPv6 mirror:
/// an entry that IPv6 gets too takes both (each rule meets its own family's connections).
pub(super) fn icmp_connections(e: &mut Entry) {
    use crate::core::plan::{IPPROTO_ICMP, IPPROTO_ICMPV6};
    let v4_only = Cidr::all_v4;
    let m = &e.more;
    let pinned = e.v6
        || v4_only(&e.from)
        || v4_only(&m.to)
        || v4_only(&m.published_to)
        || v4_only(&m.published_from);
    let protos = &m.connection_protocol;
    if !pinned && protos.contains(&IPPROTO_ICMP) && !protos.contains(&IPPROTO_ICMPV6) {
        e.more.connection_protocol.push(IPPROTO_ICMPV6);
    }
}

/// Where the IPv6 half of a block that meets the ICMPv6 baseline goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Half {
    /// after the baseline
    AfterBaseline,
    /// in the block's place, in two: every protocol but ICMPv6, and ICMPv6 but the types
    /// the baseline accepts (a block before the established rule: moved past the baseline
    /// it would move past that rule too, and take no packet of an open connection)
    InPlace,
}

/// Whether block `e` sits before the baseline and may match an ICMPv6 packet the baseline
/// accepts (of every protocol and every address of IPv6, of a state such packets have, a
/// plain drop or reject: no limit, count, log or list, which keep one meter, one count),
/// and where its IPv6 half goes then.
fn meets_icmpv6(e: &Entry) -> Option<Half> {
    let m: &More = &e.more;
    // a block of packets no open connection has (multicast, broadcast) moves past the
    // established rule too, whose place then says nothing
    let link = |kinds: &[u8], ok: &[u8]| !kinds.is_empty() && kinds.iter().all(|k| ok.contains(k));
    let (groups, to_host) = (["broadcast", "multicast"], ["unicast", "multicast"]);
    let half = match (e.after_seg, e.after.as_deref()) {
        (None, Some("established")) => Half::AfterBaseline,
        (None, None)
            if link(&m.pkttype, &types(&groups, true))
                || link(&m.to_type, &types(&groups, false)) =>
        {
            Half::AfterBaseline
        }
        (None, None) => Half::InPlace,
        _ => return None,
    };
    // what the baseline takes comes to the host's own addresses or to multicast ones (never
    // broadcast, which IPv6 has none of): a block of neither type meets none of it
    let meets = |yes: &[u8], not: &[u8], kinds: &[u8]| {
        (yes.is_empty() || yes.iter().any(|t| kinds.contains(t)))
            && !kinds.iter().all(|t| not.contains(t))
    };
    // (a packet type of `unicast` is one for this host; the address type is `local`)
    let kinds_meet = meets(&m.pkttype, &m.except_pkttype, &types(&to_host, true))
        && meets(
            &m.to_type,
            &m.except_to_type,
            &types(&["local", "multicast"], false),
        );
    // every field that names a protocol, or a family's addresses
    let any_protocol = e.tcp.is_empty()
        && e.udp.is_empty()
        && e.icmp.is_empty()
        && More {
            to: Vec::new(),
            except_from: Vec::new(),
            except_to: Vec::new(),
            oif: None,
            except_iif: Vec::new(),
            except_oif: Vec::new(),
            pkttype: Vec::new(),
            except_pkttype: Vec::new(),
            to_type: Vec::new(),
            except_to_type: Vec::new(),
            from_type: Vec::new(),
            except_from_type: Vec::new(),
            // neighbour discovery, MLD and the errors the baseline takes come in (and go
            // out) in the clear, and could come through IPsec too: either way a block may
            // meet them
            ipsec_in: None,
            ipsec_out: None,
            ..m.clone()
        } == More::default();
    let meets = kinds_meet
        && any_protocol
        && e.from.is_empty()
        && m.to.is_empty()
        && e.state != Some(BlockState::Invalid)
        && e.extra == EntryExtra::default();
    meets.then_some(half)
}

/// What marks an IPv6 half (the last of its comment lines).
const HALF: &str =
    "# its IPv6 half, after statewall's ICMPv6 baseline, which --mirror-ipv6 puts first";
/// What marks an IPv6 half in the block's place (the last of its comment lines).
const HALF_IN_PLACE: &str = "# its IPv6 half, but for the ICMPv6 types of statewall's baseline, which --mirror-ipv6 puts first";

/// Splits each block of `blocks` that [`meets_icmpv6`]: the IPv4 half (`from = 0.0.0.0/0`)
/// in its place, the IPv6 half (`from = ::/0`) right after it, `after = "baseline"`, or
/// in its place as two blocks that leave the baseline's ICMPv6 types to it ([`Half`]).
pub(super) fn icmpv6_first(blocks: &mut Vec<Entry>) {
    let mut out = Vec::with_capacity(blocks.len());
    for mut e in std::mem::take(blocks) {
        let Some(half) = meets_icmpv6(&e) else {
            out.push(e);
            continue;
        };
        let mut six = e.clone();
        e.from.push(Cidr::V4(Ipv4Addr::UNSPECIFIED, 0));
        six.from.push(Cidr::V6(Ipv6Addr::UNSPECIFIED, 0));
        // an IPv4 file's exceptions are IPv4 networks, which no IPv6 packet is in
        six.more.except_from.retain(|n| matches!(n, Cidr::V6(..)));
        six.more.except_to.retain(|n| matches!(n, Cidr::V6(..)));
        six.name = format!("{}-ipv6", e.name);
        out.push(e);
        match half {
            Half::AfterBaseline => {
                six.after = Some("baseline".to_string());
                six.lines.push(HALF.to_string());
                six.more.settle();
                out.push(six);
            }
            Half::InPlace => {
                let mut icmpv6 = six.clone();
                six.more.except_protocol = vec![IPPROTO_ICMPV6];
                six.lines.push(HALF_IN_PLACE.to_string());
                six.more.settle();
                icmpv6.more.except_icmpv6 = ICMPV6_ESSENTIAL
                    .iter()
                    .flat_map(|&(lo, hi)| lo..=hi)
                    .collect();
                icmpv6.name = format!("{}-icmpv6", icmpv6.name);
                icmpv6.lines.push(HALF_IN_PLACE.to_string());
                icmpv6.more.settle();
                out.push(six);
                out.push(icmpv6);
            }
        }
    }
    *blocks = out;
}

/// One note per section with split blocks, naming their IPv6 halves (once names are unique).
pub(super) fn split_notes(sections: &[super::build::Section], notes: &mut super::notes::Notes) {
    for s in sections {
        let marked = |mark: &str| -> Vec<&str> {
            let of = |e: &&Entry| e.lines.last().is_some_and(|l| l == mark);
            s.blocks
                .iter()
                .filter(of)
                .map(|e| e.name.as_str())
                .collect()
        };
        let hook = s.chain.hook.chain();
        let halves = marked(HALF);
        if !halves.is_empty() {
            let names = super::notes::first_of(&halves, 8);
            let (what, split) = match halves.len() {
                1 => (
                    "a block".to_string(),
                    format!(
                        "it is split in two, its IPv4 half in its place and its IPv6 half, {names}, after the baseline"
                    ),
                ),
                n => (
                    format!("{n} blocks"),
                    format!(
                        "each is split in two, its IPv4 half in its place and its IPv6 half after the baseline ({names})"
                    ),
                ),
            };
            notes.push(format!("--mirror-ipv6: {what} in {hook} came before statewall's ICMPv6 baseline and would have dropped the neighbour discovery (or ICMPv6 errors) it promises IPv6: {split}"));
        }
        let in_place = marked(HALF_IN_PLACE);
        if !in_place.is_empty() {
            let names = super::notes::first_of(&in_place, 8);
            let (what, kept) = match in_place.len() / 2 {
                1 => (
                    "a block".to_string(),
                    "its IPv6 half keeps its place but leaves the baseline's ICMPv6 types to it, as two blocks",
                ),
                n => (
                    format!("{n} blocks"),
                    "their IPv6 halves keep their place but leave the baseline's ICMPv6 types to it, as two blocks each",
                ),
            };
            notes.push(format!("--mirror-ipv6: {what} in {hook} before the established rule would have dropped the neighbour discovery (or ICMPv6 errors) statewall's ICMPv6 baseline promises IPv6: {kept} ({names})"));
        }
    }
}

#[cfg(test)]
mod tests {
    use crate::core::import::{Ipv6, import};

    /// A block of what arrived in the clear (`-m policy --dir in --pol none`) before the
    /// baseline meets neighbour discovery as a bare one does: its IPv6 half goes after it.
    #[test]
    fn a_block_of_clear_packets_leaves_the_baseline_its_icmpv6() {
        for policy in ["", "-m policy --dir in --pol none "] {
            let src = format!(
                "*filter\n:INPUT DROP [0:0]\n:FORWARD DROP [0:0]\n:OUTPUT ACCEPT [0:0]\n\
                 -A INPUT -i lo -j ACCEPT\n\
                 -A INPUT {policy}-m pkttype --pkt-type multicast -j DROP\n\
                 -A INPUT -m state --state ESTABLISHED,RELATED -j ACCEPT\n\
                 -A INPUT -p udp --dport 500 -j ACCEPT\nCOMMIT\n"
            );
            let imported = import(&src, None, Ipv6::Mirror).expect("imported");
            let t = &imported.toml;
            let halves = t.matches("after = \"baseline\"").count();
            assert_eq!(halves, 1, "{policy}: {t}");
            assert!(t.contains("-ipv6\"\nfrom = [\"::/0\"]"), "{t}");
        }
    }
}
