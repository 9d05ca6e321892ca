//! The top-level settings: `mode`, `final` and the `[baseline]` table.

use toml::Spanned;
use toml::de::{DeString, DeTable, DeValue};

use super::keys::{Place, suggest};
use super::{Checker, type_name};
use crate::core::model::{Baseline, Final, IcmpReject, Mode};

const MODES: &[&str] = &["enforce", "audit"];
const FINALS: &[&str] = &[
    "drop",
    "reject",
    "port-unreachable",
    "host-unreachable",
    "admin-prohibited",
    "no-route",
    "host-prohibited",
    "net-prohibited",
    "proto-unreachable",
];

impl Checker<'_> {
    pub(super) fn mode(&mut self, value: &Spanned<DeValue<'_>>) -> Option<Mode> {
        let span = value.span();
        if self.tainted(&span) {
            return None;
        }
        let Some(s) = value.get_ref().as_str() else {
            self.error(
                span,
                format!(
                    "expected a string for `mode`, found {}",
                    type_name(value.get_ref())
                ),
                Some("write mode = \"enforce\" or mode = \"audit\"".into()),
            );
            return None;
        };
        match s {
            "enforce" => Some(Mode::Enforce),
            "audit" => Some(Mode::Audit),
            _ => {
                let aliases = [
                    ("drop", "enforce"),
                    ("strict", "enforce"),
                    ("on", "enforce"),
                    ("monitor", "audit"),
                    ("log", "audit"),
                    ("permissive", "audit"),
                    ("dry-run", "audit"),
                    ("learn", "audit"),
                ];
                let help = match suggest(s, MODES, &aliases) {
                    Some(good) => format!(
                        "did you mean \"{good}\"? the modes are \"enforce\" (drop what is not allowed) and \"audit\" (count it and accept it)"
                    ),
                    None => "the modes are \"enforce\" (drop what is not allowed) and \"audit\" (count it and accept it)".into(),
                };
                self.error(span, format!("unknown mode {s:?}"), Some(help));
                None
            }
        }
    }

    pub(super) fn baseline(
        &mut self,
        key: &Spanned<DeString<'_>>,
        value: &Spanned<DeValue<'_>>,
    ) -> Baseline {
        let mut b = Baseline::default();
        let table = match value.get_ref() {
            DeValue::Table(t) => t,
            DeValue::Array(a)
                if a.iter().all(|v| v.get_ref().is_table())
                    && self.text(&value.span()).starts_with("[[") =>
            {
                self.error(
                    key.span(),
                    "`baseline` is written as an array of tables ([[baseline]])",
                    Some(
                        "write [baseline], with single brackets: there is only one baseline".into(),
                    ),
                );
                for t in a.iter().filter_map(|v| v.get_ref().as_table()) {
                    self.baseline_keys(t, &mut b);
                }
                return b;
            }
            other => {
                if !self.tainted(&value.span()) {
                    self.error(
                        value.span(),
                        format!("expected the [baseline] table, found {}", type_name(other)),
                        Some(
                            "write a [baseline] section with one line per part, e.g.\n[baseline]\nicmp = false"
                                .into(),
                        ),
                    );
                }
                return b;
            }
        };
        self.baseline_keys(table, &mut b);
        b
    }

    fn baseline_keys(&mut self, table: &DeTable<'_>, b: &mut Baseline) {
        for (key, value) in table.iter() {
            let slot = match key.get_ref().as_ref() {
                "established" => &mut b.established,
                "invalid" => &mut b.invalid_drop,
                "loopback" => &mut b.loopback,
                "icmp" => &mut b.icmp,
                "icmpv6" => &mut b.icmpv6,
                _ => {
                    self.unknown_key(key, Place::Baseline);
                    continue;
                }
            };
            let span = value.span();
            match value.get_ref() {
                DeValue::Boolean(v) => *slot = *v,
                _ if self.tainted(&span) => {}
                other => {
                    let help = match other.as_str() {
                        Some(s @ ("true" | "false")) => format!("write {s} without quotes"),
                        _ => format!(
                            "write {} = true or {} = false",
                            key.get_ref(),
                            key.get_ref()
                        ),
                    };
                    self.error(
                        span,
                        format!("expected true or false, found {}", type_name(other)),
                        Some(help),
                    );
                }
            }
        }
    }

    /// `final`, of the input chain or of a `[forward]`/`[output]` section.
    pub(super) fn final_rule(&mut self, value: &Spanned<DeValue<'_>>) -> Option<Final> {
        let span = value.span();
        if self.tainted(&span) {
            return None;
        }
        let valid = "\"drop\" (the default), \"accept\" (what no entry decides passes: a blocklist), \"reject\" (ICMP port unreachable, like iptables' -j REJECT), \"port-unreachable\", \"host-unreachable\", \"admin-prohibited\", \"no-route\", \"host-prohibited\" (ICMP code 10, like RHEL's default REJECT), \"net-prohibited\", \"proto-unreachable\"";
        let Some(s) = value.get_ref().as_str() else {
            self.error(
                span,
                format!(
                    "expected a string for `final`, found {}",
                    type_name(value.get_ref())
                ),
                Some(format!("`final` is one of {valid}")),
            );
            return None;
        };
        Some(match s {
            "accept" => Final::Accept,
            "drop" => Final::Drop,
            "reject" | "port-unreachable" => Final::Reject(IcmpReject::PortUnreachable),
            "host-unreachable" => Final::Reject(IcmpReject::HostUnreachable),
            "admin-prohibited" => Final::Reject(IcmpReject::AdminProhibited),
            "no-route" => Final::Reject(IcmpReject::NoRoute),
            "host-prohibited" => Final::Reject(IcmpReject::HostProhibited),
            "net-prohibited" => Final::Reject(IcmpReject::NetProhibited),
            "proto-unreachable" => Final::Reject(IcmpReject::ProtoUnreachable),
            _ => {
                let stripped = s
                    .strip_prefix("icmpx-")
                    .or_else(|| s.strip_prefix("icmp-"))
                    .unwrap_or(s);
                let aliases = [
                    ("deny", "drop"),
                    ("block", "drop"),
                    ("tcp-reset", "reject"),
                    ("prohibited", "admin-prohibited"),
                    ("adm-prohibited", "admin-prohibited"),
                    ("prot-unreachable", "proto-unreachable"),
                    ("net-unreachable", "no-route"),
                ];
                let help = match suggest(stripped, FINALS, &aliases) {
                    Some(good) => format!("did you mean \"{good}\"? `final` is one of {valid}"),
                    None => format!("`final` is one of {valid}"),
                };
                self.error(span, format!("unknown final rule {s:?}"), Some(help));
                return None;
            }
        })
    }
}
