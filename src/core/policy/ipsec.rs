//! `ipsec_in` and `ipsec_out` (whether a packet met IPsec, iptables' `-m policy --dir in|out
//! --pol ipsec|none`): `true` or `false`. `ipsec_in` asks how the packet arrived (decrypted
//! by this host's IPsec, or in the clear), so it belongs where packets arrive: the input
//! entries and [forward]; `ipsec_out` asks how it will leave (its route leads into an IPsec
//! policy), so it belongs where packets leave: [forward] and [output]. The kernel takes
//! `meta ipsec` only in prerouting, input and forward (`nft_meta_get_validate_xfrm`); `rt
//! ipsec` it takes in any hook (`nft_rt_validate` checks no hook for it), but in input the
//! route is the one to this host, never an IPsec one: statewall refuses it there itself, as
//! iptables refuses `--dir out` in INPUT.

use toml::Spanned;
use toml::de::DeValue;

use super::{Checker, Entry, type_name};
use crate::core::plan::Hook;

impl Checker<'_> {
    /// `ipsec_in = true` or `false` (`key`: or `ipsec_out`); None for anything else.
    pub(super) fn ipsec(&mut self, key: &str, value: &Spanned<DeValue<'_>>) -> Option<bool> {
        if let DeValue::Boolean(b) = value.get_ref() {
            return Some(*b);
        }
        let (how, pol) = if key == "ipsec_in" {
            ("arrived IPsec-protected (decrypted by this host)", "in")
        } else {
            (
                "leaves IPsec-protected (its route leads into an IPsec policy)",
                "out",
            )
        };
        self.error(
            value.span(),
            format!(
                "expected true or false for `{key}`, found {}",
                type_name(value.get_ref())
            ),
            Some(format!("`{key} = true` matches a packet that {how}, `{key} = false` one that does not (iptables' `-m policy --dir {pol} --pol ipsec` and `--pol none`); leave the key out for both")),
        );
        None
    }

    /// `ipsec_in` where packets arrive (not in [output]: a packet this host sends arrived
    /// through nothing), `ipsec_out` where they leave (not among the input entries: a packet
    /// for this host leaves through no route).
    pub(super) fn ipsec_where_packets_are(&mut self, entries: &[Entry]) {
        for e in entries {
            let [at_in, at_out] = &e.ipsec_span;
            if let (Hook::Output, Some(span)) = (e.hook, at_in) {
                self.error(
                    span.clone(),
                    "`ipsec_in` in [output]: a packet this host sends did not arrive, so it was decrypted by no IPsec policy",
                    Some("ask how packets arrived where they arrive: in the input entries (top level) or in [forward]; to ask whether a packet this host sends leaves encrypted, write `ipsec_out` (iptables refuses `-m policy --dir in` in OUTPUT too)".into()),
                );
            }
            if let (Hook::Input, Some(span)) = (e.hook, at_out) {
                self.error(
                    span.clone(),
                    "`ipsec_out` among the input entries: a packet for this host is delivered to it and leaves through no route, so no IPsec policy encrypts it",
                    Some("ask how packets leave where they leave: in [forward] or [output]; to ask whether a packet for this host arrived encrypted, write `ipsec_in` (iptables refuses `-m policy --dir out` in INPUT too)".into()),
                );
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use crate::core::policy::parse;
    use crate::core::policy::test_errors as errors;

    #[test]
    fn both_keys_take_true_or_false() {
        let (p, d) = parse(
            "[[allow]]\nname = \"l2tp\"\nudp = [1701]\nipsec_in = true\n\
             [forward]\n[[forward.allow]]\nname = \"clients\"\nipsec_in = true\nipsec_out = false\n\
             [output]\n[[output.allow]]\nname = \"tunnel\"\nipsec_out = true\n",
        );
        let p = p.unwrap_or_else(|| panic!("{d:?}"));
        assert_eq!(p.allow[0].more.ipsec_in, Some(true));
        assert_eq!(p.allow[0].more.ipsec_out, None);
        let f = &p.forward.as_ref().expect("forward").allow[0].more;
        assert_eq!((f.ipsec_in, f.ipsec_out), (Some(true), Some(false)));
        let o = &p.output.as_ref().expect("output").allow[0].more;
        assert_eq!((o.ipsec_in, o.ipsec_out), (None, Some(true)));
    }

    #[test]
    fn other_values_and_the_wrong_section_are_refused_where_written() {
        let e = errors("[[block]]\nname = \"clear\"\nipsec_in = \"none\"\n");
        assert!(
            e.contains("expected true or false for `ipsec_in`, found a string\n  --> t.toml:3:12"),
            "{e}"
        );
        assert!(e.contains("--pol none"), "{e}");
        let e = errors("[[allow]]\nname = \"x\"\ntcp = [22]\nipsec_out = true\n");
        assert!(
            e.contains("`ipsec_out` among the input entries")
                && e.contains("t.toml:4:13")
                && e.contains("write `ipsec_in`"),
            "{e}"
        );
        let e = errors("[output]\n[[output.allow]]\nname = \"x\"\nipsec_in = false\n");
        assert!(
            e.contains("`ipsec_in` in [output]") && e.contains("t.toml:4:12"),
            "{e}"
        );
    }
}
