//! `[forward]` and `[output]`: each its own base chain, with a `final`, a `[<hook>.baseline]`
//! and `[[<hook>.allow]]`, `[[<hook>.reject]]`, `[[<hook>.block]]` entries read like the
//! top-level (input) ones, and a `clamp_mss` (every TCP SYN's MSS option lowered).

use toml::Spanned;
use toml::de::DeValue;

use super::keys::Place;
use super::{Checker, Entry, Kind, type_name};
use crate::core::model::{MSS_MIN, Mss, Section};
use crate::core::plan::Hook;

impl Checker<'_> {
    /// The value of a top-level `forward` or `output` key; its entries go to `entries`.
    pub(super) fn section(
        &mut self,
        hook: Hook,
        value: &Spanned<DeValue<'_>>,
        entries: &mut Vec<Entry>,
    ) -> Section {
        let h = hook.as_str();
        let mut sec = Section::default();
        if hook == Hook::Forward {
            sec.baseline.loopback = false;
        }
        let table = match value.get_ref() {
            DeValue::Table(t) => t,
            other => {
                if !self.tainted(&value.span()) {
                    self.error(
                        value.span(),
                        format!("expected the [{h}] table, found {}", type_name(other)),
                        Some(format!(
                            "write a [{h}] section (final = \"drop\"), then [[{h}.allow]] entries"
                        )),
                    );
                }
                return sec;
            }
        };
        for (key, v) in table.iter() {
            let kind = match key.get_ref().as_ref() {
                "final" => {
                    if let Some(f) = self.final_rule(v) {
                        sec.final_rule = f;
                    }
                    continue;
                }
                "log_final" => {
                    sec.log_final = self.log("log_final", v);
                    continue;
                }
                "clamp_mss" => {
                    sec.clamp_mss = self.clamp_mss("clamp_mss", v);
                    continue;
                }
                "baseline" => {
                    sec.baseline = self.baseline(key, v);
                    if hook == Hook::Forward {
                        if let Some((k, _)) = v
                            .get_ref()
                            .as_table()
                            .and_then(|t| t.iter().find(|(k, _)| k.get_ref() == "loopback"))
                        {
                            self.error(
                                k.span(),
                                "[forward.baseline] has no `loopback`",
                                Some(
                                    "no packet is forwarded from or to loopback: remove the line"
                                        .into(),
                                ),
                            );
                        }
                        sec.baseline.loopback = false;
                    }
                    continue;
                }
                "allow" => Kind::Allow,
                "reject" => Kind::Reject,
                "block" => Kind::Block,
                "clamp" => Kind::Clamp,
                _ => {
                    self.unknown_key(key, Place::Section);
                    continue;
                }
            };
            let first = entries.len();
            self.entries(kind, Some(h), key, v, entries);
            for e in &mut entries[first..] {
                e.hook = hook;
            }
        }
        sec
    }

    /// `clamp_mss = "pmtu"` (the route's MTU less the headers, as iptables'
    /// `--clamp-mss-to-pmtu`) or a number (`--set-mss`).
    /// A clamp entry's `mss` (`key`) likewise.
    pub(super) fn clamp_mss(&mut self, key: &str, v: &Spanned<DeValue<'_>>) -> Option<Mss> {
        match v.get_ref() {
            DeValue::String(s) if s.as_ref() == "pmtu" => Some(Mss::Pmtu),
            DeValue::Integer(_) => self
                .number(key, v, i64::from(MSS_MIN), i64::from(u16::MAX))
                .map(|n| Mss::Value(n as u16)),
            other => {
                if !self.tainted(&v.span()) {
                    self.error(
                        v.span(),
                        format!("expected \"pmtu\" or a number for `{key}`, found {}", type_name(other)),
                        Some(format!("write {key} = \"pmtu\" (each TCP SYN's MSS lowered to what the route's MTU takes, as iptables' -j TCPMSS --clamp-mss-to-pmtu) or {key} = 1360 (--set-mss 1360; {MSS_MIN} to 65535)")),
                    );
                }
                None
            }
        }
    }
}
