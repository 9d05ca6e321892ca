//! `rt_type` (IPv6 routing header types) and `tcp_option` (TCP option kinds), and their
//! `except_*`: one number or a list, each once, checked where they are written; and what an
//! entry with them must not also say (IPv4 sources, other protocols than TCP).

use std::ops::Range;

use toml::Spanned;
use toml::de::DeValue;

use super::keys::suggest;
use super::{Checker, type_name};
use crate::core::exthdr::{TCP_OPTIONS, tcp_option};
use crate::core::model::{Cidr, More};

/// What kind of values a key takes, for its messages.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Kind {
    /// a routing header type, 0-255
    RtType,
    /// a TCP option kind, 0-255 or a name
    TcpOption,
}

impl Kind {
    fn valid(self) -> String {
        match self {
            Kind::RtType => "a routing header type is a number 0-255 (0: the deprecated type 0 source route of RFC 5095, 2: Mobile IPv6, 3: RPL, 4: segment routing); ip6tables' `-m rt --rt-type`".into(),
            Kind::TcpOption => {
                let names: Vec<String> = TCP_OPTIONS
                    .iter()
                    .map(|(n, k)| format!("{n} ({k})"))
                    .collect();
                format!(
                    "a TCP option kind is a number 0-255 or one of {}; iptables' `--tcp-option`",
                    names.join(", ")
                )
            }
        }
    }
}

impl Checker<'_> {
    /// `rt_type`, `except_rt_type`, `tcp_option`, `except_tcp_option` into the entry.
    pub(super) fn exthdr_key(&mut self, more: &mut More, key: &str, value: &Spanned<DeValue<'_>>) {
        let kind = if key.ends_with("rt_type") {
            Kind::RtType
        } else {
            Kind::TcpOption
        };
        let values = self.exthdr_values(key, value, kind);
        match key {
            "rt_type" => more.rt_type = values,
            "except_rt_type" => more.except_rt_type = values,
            "tcp_option" => more.tcp_option = values,
            _ => more.except_tcp_option = values,
        }
    }

    /// One value or a list of them, each once.
    fn exthdr_values(&mut self, key: &str, value: &Spanned<DeValue<'_>>, kind: Kind) -> Vec<u8> {
        let span = value.span();
        if self.tainted(&span) {
            return Vec::new();
        }
        let items: Vec<&Spanned<DeValue<'_>>> = match value.get_ref() {
            DeValue::Array(items) if !items.is_empty() => items.iter().collect(),
            DeValue::Array(_) => {
                let example = if kind == Kind::RtType {
                    "0"
                } else {
                    "[64, 128]"
                };
                self.error(
                    span,
                    format!("`{key} = []` lists nothing"),
                    Some(format!("remove the key, or write e.g. {key} = {example}")),
                );
                return Vec::new();
            }
            _ => vec![value],
        };
        let mut out: Vec<u8> = Vec::new();
        for item in items {
            let Some(v) = self.exthdr_value(key, item, kind) else {
                continue;
            };
            if out.contains(&v) {
                self.error(
                    item.span(),
                    format!("{} is listed twice in `{key}`", self.text(&item.span())),
                    Some("list each once".into()),
                );
                continue;
            }
            out.push(v);
        }
        out
    }

    /// One number 0-255 (or, for a TCP option, a name).
    fn exthdr_value(&mut self, key: &str, item: &Spanned<DeValue<'_>>, kind: Kind) -> Option<u8> {
        let span = item.span();
        let what = match kind {
            Kind::RtType => "routing header type",
            Kind::TcpOption => "TCP option kind",
        };
        match item.get_ref() {
            DeValue::Integer(i) => {
                let n = i128::from_str_radix(i.as_str(), i.radix()).ok();
                let v = n.and_then(|n| u8::try_from(n).ok());
                if v.is_none() {
                    let text = self.text(&span).to_string();
                    self.error(
                        span,
                        format!("{what} {text} is out of range in `{key}`"),
                        Some(kind.valid()),
                    );
                }
                v
            }
            DeValue::String(s) if kind == Kind::TcpOption => {
                let found = tcp_option(s);
                if found.is_none() {
                    let names: Vec<&str> = TCP_OPTIONS.iter().map(|(n, _)| *n).collect();
                    let aliases = [
                        ("maxseg", "mss"),
                        ("sack-perm", "sack-permitted"),
                        ("sackok", "sack-permitted"),
                        ("wscale", "window"),
                        ("ts", "timestamp"),
                    ];
                    let help = match suggest(s, &names, &aliases) {
                        Some(good) => format!("did you mean \"{good}\"? {}", kind.valid()),
                        None => kind.valid(),
                    };
                    self.error(
                        span,
                        format!("unknown TCP option {s:?} in `{key}`"),
                        Some(help),
                    );
                }
                found
            }
            other => {
                let found = type_name(other);
                let expected = match kind {
                    Kind::RtType => "a routing header type (a number)",
                    Kind::TcpOption => "a TCP option kind (a number or a name)",
                };
                self.error(
                    span,
                    format!("expected {expected} for `{key}`, found {found}"),
                    Some(kind.valid()),
                );
                None
            }
        }
    }

    /// An entry with `rt_type` matches IPv6 packets only: its sources and destinations, when
    /// it lists any, must include IPv6 ones, and ICMP (IPv4's) cannot be among its protocols.
    pub(super) fn rt_fits(
        &mut self,
        more: &More,
        from: Option<&[Cidr]>,
        icmp: bool,
        at: Range<usize>,
    ) {
        if !crate::core::exthdr::has_rt(more) {
            return;
        }
        let v4_only = Cidr::all_v4;
        let what = if from.is_some_and(v4_only) {
            "its sources (`from`) are all IPv4"
        } else if v4_only(&more.to) {
            "its destinations (`to`) are all IPv4"
        } else if v4_only(&more.published_to) {
            "its original destinations (`published_to`) are all IPv4"
        } else if v4_only(&more.published_from) {
            "its original sources (`published_from`) are all IPv4"
        } else if icmp || !more.icmp_codes.is_empty() {
            "it matches ICMP, which is IPv4's (ICMPv6 is `icmpv6`)"
        } else {
            return;
        };
        self.error(
            at,
            format!("`rt_type` matches IPv6 packets only, but {what}: the entry would match nothing"),
            Some("a routing header is an IPv6 extension header: list IPv6 networks, or move `rt_type` to an entry of its own".into()),
        );
    }

    /// `tcp_option` applies to TCP rules: an entry with it names no other protocol.
    pub(super) fn tcp_option_fits(&mut self, more: &More, others: bool, at: Range<usize>) {
        if !crate::core::exthdr::has_tcp_options(more) {
            return;
        }
        let others = others
            || !more.udp_sport.is_empty()
            || !more.except_udp.is_empty()
            || !more.except_udp_sport.is_empty()
            || !more.icmp_codes.is_empty()
            || !more.icmpv6.is_empty()
            || more
                .protocol
                .iter()
                .any(|&p| p != crate::core::plan::IPPROTO_TCP)
            || more
                .published
                .iter()
                .any(|&(p, _)| p != crate::core::plan::IPPROTO_TCP);
        if others {
            let key = if more.tcp_option.is_empty() && more.except_tcp_option.is_empty() {
                "tcp_mss"
            } else {
                "tcp_option"
            };
            self.error(
                at,
                format!("`{key}` on an entry that also matches other protocols than TCP"),
                Some("TCP options are in TCP headers only, and the entry's other protocols would be matched without them: move them to an entry of their own".into()),
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use crate::core::policy::parse;
    use crate::core::policy::test_errors as errors;

    #[test]
    fn mss_values_and_ranges_become_the_entry_and_bad_ones_say_where() {
        let (p, d) = parse(
            "[[block]]\nname = \"small\"\nexcept_tcp_mss = \"536:65535\"\n\
             [[block]]\nname = \"odd\"\ntcp_mss = [1460, \"100-200\"]\ntcp = [22]\n",
        );
        let p = p.unwrap_or_else(|| panic!("{d:?}"));
        assert_eq!(p.block[0].service.more.except_tcp_mss, [(536, 65535)]);
        assert_eq!(p.block[1].service.more.tcp_mss, [(1460, 1460), (100, 200)]);
        let e = errors("[[block]]\nname = \"m\"\ntcp_mss = \"600:500\"\n");
        assert!(e.contains("the range 600:500 runs backwards"), "{e}");
        assert!(e.contains("write the smaller MSS first"), "{e}");
        let e = errors("[[block]]\nname = \"m\"\nexcept_tcp_mss = \"big\"\n");
        assert!(e.contains("\"big\" is not an MSS 0-65535"), "{e}");
        assert!(e.contains("  --> t.toml:3:18"), "{e}");
        let e = errors("[[block]]\nname = \"m\"\ntcp_mss = 1460\nudp = [53]\n");
        assert!(
            e.contains("`tcp_mss` on an entry that also matches other protocols than TCP"),
            "{e}"
        );
    }

    #[test]
    fn routing_header_types_and_tcp_options_become_the_entry() {
        let (p, d) = parse(
            "[[block]]\nname = \"rh0\"\nrt_type = 0\n\
             [[block]]\nname = \"opts\"\ntcp_option = [64, \"mss\", 128]\nexcept_rt_type = [2, 4]\n\
             except_tcp_option = \"timestamp\"\nfrom = [\"2001:db8::/32\"]\n",
        );
        let p = p.unwrap_or_else(|| panic!("{d:?}"));
        assert_eq!(p.block[0].service.more.rt_type, [0]);
        let m = &p.block[1].service.more;
        assert_eq!(m.tcp_option, [64, 2, 128]);
        assert_eq!(m.except_tcp_option, [8]);
        assert_eq!(m.except_rt_type, [2, 4]);
    }

    #[test]
    fn bad_values_are_refused_where_they_are_written() {
        let e = errors("[[block]]\nname = \"r\"\nrt_type = [0, 256]\n");
        assert!(
            e.starts_with(
                "error: routing header type 256 is out of range in `rt_type`\n  --> t.toml:3:15\n"
            ),
            "{e}"
        );
        let e = errors("[[block]]\nname = \"r\"\nrt_type = \"0\"\n");
        assert!(
            e.contains("expected a routing header type (a number) for `rt_type`, found a string"),
            "{e}"
        );
        let e = errors("[[block]]\nname = \"o\"\ntcp_option = [\"maxseg\"]\n");
        assert!(
            e.contains("unknown TCP option \"maxseg\" in `tcp_option`\n  --> t.toml:3:15"),
            "{e}"
        );
        assert!(e.contains("did you mean \"mss\"?"), "{e}");
        let e = errors("[[block]]\nname = \"o\"\ntcp_option = [\"timestmap\"]\n");
        assert!(e.contains("did you mean \"timestamp\"?"), "{e}");
        let e = errors("[[block]]\nname = \"o\"\nexcept_tcp_option = [64, 64]\n");
        assert!(
            e.contains("64 is listed twice in `except_tcp_option`\n  --> t.toml:3:26"),
            "{e}"
        );
        let e = errors("[[block]]\nname = \"o\"\ntcp_option = []\n");
        assert!(e.contains("`tcp_option = []` lists nothing"), "{e}");
        let e = errors("[[block]]\nname = \"o\"\ntcp_option = -1\n");
        assert!(e.contains("TCP option kind -1 is out of range"), "{e}");
    }

    #[test]
    fn entries_that_would_match_nothing_or_too_much_are_refused() {
        let e = errors("[[block]]\nname = \"r\"\nrt_type = 0\nfrom = [\"192.0.2.0/24\"]\n");
        assert!(
            e.contains(
                "`rt_type` matches IPv6 packets only, but its sources (`from`) are all IPv4"
            ),
            "{e}"
        );
        assert!(e.contains("--> t.toml:3:11"), "{e}");
        let e = errors("[[block]]\nname = \"r\"\nexcept_rt_type = 0\nicmp = [\"echo-request\"]\n");
        assert!(e.contains("it matches ICMP"), "{e}");
        let e = errors("[[allow]]\nname = \"o\"\nudp = [53]\ntcp = [53]\ntcp_option = 64\n");
        assert!(e.contains("`tcp_option` on an entry that also matches other protocols than TCP\n  --> t.toml:5:14"), "{e}");
        // a mixed list keeps its IPv6 rules; TCP named as a protocol is TCP
        let (p, d) = parse(
            "[[block]]\nname = \"r\"\nrt_type = 0\nfrom = [\"192.0.2.0/24\", \"2001:db8::/32\"]\n\
             [[block]]\nname = \"o\"\nprotocol = [\"tcp\"]\ntcp_option = 64\n",
        );
        assert!(p.is_some(), "{d:?}");
    }
}
