//! `[[forward.clamp]]` and `[[output.clamp]]`: iptables' `-j TCPMSS` with matches. An entry
//! says which SYNs (`iif`, `oif`, `from`, `to`, their exceptions, `tcp` ports, `tcp_sport`,
//! `tcp_mss`, `tcp_flags`) and what their MSS option is lowered to (`mss`: `"pmtu"` or
//! 536-65535). Without `tcp_flags` it takes the SYNs `clamp_mss` takes (`syn / syn,rst`: SYN
//! set, RST not, SYN-ACKs too); `tcp_flags = ["syn/fin,syn,rst,ack"]` is iptables' `--syn`
//! (SYN-ACKs left as they are). The kernel only ever lowers the option (as xt_TCPMSS), so
//! several clamps a SYN meets leave it the lowest of their values; they act in the order
//! written, as a later one's `tcp_mss` reads what an earlier one left.

use std::ops::Range;

use super::{Checker, Hook, Service};
use crate::core::model::{CLAMP_FLAGS, Clamp, Mss, Policy, Section};

/// A checked clamp entry into its section (the input entries take none: `clamp` is no
/// top-level key).
pub(super) fn add(policy: &mut Policy, hook: Hook, mut service: Service, mss: Option<Mss>) {
    let Some(mss) = mss else { return };
    if service.more.tcp_flags.is_empty() {
        service.more.tcp_flags.push(CLAMP_FLAGS);
    }
    let sec: &mut Section = match hook {
        Hook::Forward => policy.forward.get_or_insert_with(Section::default),
        Hook::Output => policy.output.get_or_insert_with(Section::default),
        Hook::Input => return,
    };
    sec.clamp.push(Clamp { service, mss });
}

impl Checker<'_> {
    /// A clamp entry says what it lowers the MSS to (`had`: it does, or a misspelt key
    /// that meant `mss` was said already).
    pub(super) fn clamp_has_mss(
        &mut self,
        name: &Option<(String, Range<usize>)>,
        had: bool,
        head: Range<usize>,
    ) {
        if had {
            return;
        }
        let what = match name {
            Some((n, _)) => format!("clamp entry \"{n}\" has no `mss`"),
            None => "this clamp entry has no `mss`".to_string(),
        };
        self.error(
            head,
            what,
            Some("say what the SYNs' MSS option is lowered to: mss = \"pmtu\" (what the route's MTU takes, iptables' --clamp-mss-to-pmtu) or mss = 1360 (--set-mss 1360)".into()),
        );
    }
}

#[cfg(test)]
mod tests {
    use crate::core::model::Mss;
    use crate::core::policy::parse;
    use crate::core::policy::test_errors as errors;

    #[test]
    fn clamp_entries_take_their_matches_and_the_syns_clamp_mss_takes() {
        let (p, d) = parse(
            "[forward]\nclamp_mss = 1400\n\
             [[forward.clamp]]\nname = \"vpn\"\nmss = 1356\nfrom = [\"10.8.0.0/24\"]\niif = \"ppp*\"\n\
             tcp_flags = [\"syn/fin,syn,rst,ack\"]\n\
             [[forward.clamp]]\nname = \"wan\"\nmss = \"pmtu\"\noif = \"ppp0\"\ntcp_mss = [\"1400-1536\"]\n\
             [output]\n[[output.clamp]]\nname = \"out\"\nmss = 1200\n",
        );
        let p = p.unwrap_or_else(|| panic!("{d:?}"));
        let f = p.forward.expect("forward");
        assert_eq!(f.clamp_mss, Some(Mss::Value(1400)));
        assert_eq!(f.clamp.len(), 2);
        assert_eq!(f.clamp[0].mss, Mss::Value(1356));
        assert_eq!(f.clamp[0].service.more.tcp_flags, [(0x17, 0x02)]);
        assert_eq!(f.clamp[0].service.iif.as_deref(), Some("ppp*"));
        assert_eq!(f.clamp[1].mss, Mss::Pmtu);
        assert_eq!(
            f.clamp[1].service.more.tcp_flags,
            [crate::core::model::CLAMP_FLAGS]
        );
        assert_eq!(f.clamp[1].service.more.tcp_mss, [(1400, 1536)]);
        let o = p.output.expect("output");
        assert_eq!(o.clamp[0].mss, Mss::Value(1200));
    }

    #[test]
    fn a_clamp_without_mss_or_with_keys_of_other_entries_is_refused_where_written() {
        let e = errors("[forward]\n[[forward.clamp]]\nname = \"c\"\noif = \"ppp0\"\n");
        assert!(e.contains("clamp entry \"c\" has no `mss`"), "{e}");
        let e = errors("[forward]\n[[forward.clamp]]\nname = \"c\"\nmss = 1300\nudp = [53]\n");
        assert!(
            e.contains("unknown key `udp` in a clamp entry") && e.contains("t.toml:5:1"),
            "{e}"
        );
        let e = errors("[forward]\n[[forward.clamp]]\nname = \"c\"\nmss = 100\n");
        assert!(e.contains("t.toml:4:7"), "{e}");
        let e = errors("[[clamp]]\nname = \"c\"\nmss = 1300\n");
        assert!(e.contains("[[forward.clamp]]"), "{e}"); // one entry written inline in [forward]: told the section its entries are headed by
        let e = errors("[forward]\nclamp = { name = \"c\", mss = 1300 }\n");
        assert!(
            e.contains("`clamp` is a single table")
                && e.contains("write clamp = [{ ... }], or use a [[forward.clamp]] section"),
            "{e}"
        );
    }
}
