//! Where a `[[block]]` goes: `after = "<allow name>"` names an allow entry of the block's own
//! section (checked once every entry is read), and `state = "new"` or `"invalid"` narrows it
//! to NEW connections or to the packets conntrack calls invalid. And the address types of `to_type`/`from_type` and the packet types of
//! `pkttype`, and their exceptions.

use std::collections::HashMap;
use std::ops::Range;

use toml::Spanned;
use toml::de::DeValue;

use super::fields::AFTER_VALUES;
use super::keys::suggest;
use super::{Checker, Entry, Kind, type_name};
use crate::core::addrtype::ADDR_TYPES;
use crate::core::model::{BlockAt, BlockState};
use crate::core::pkttype::PKT_TYPES;
use crate::core::plan::Hook;

/// The most unknown `after` names that get a "did you mean": as many as are shown in full.
const SUGGESTED_MAX: usize = crate::core::diag::SHOWN;

/// A kind of named type (address types, packet types), for messages.
struct TypeNames<'a> {
    /// `address type`
    what: &'static str,
    /// `an address type`
    a_what: &'static str,
    /// a name to show in an example
    one: &'static str,
    table: &'a [(&'static str, u8)],
    /// other words for a name (`host` is nft's `unicast`)
    aliases: &'a [(&'static str, &'static str)],
    /// the names, and what they mean
    valid: String,
}

/// How a section is written, for messages.
fn section_name(hook: Hook) -> &'static str {
    match hook {
        Hook::Input => "the input section (top-level entries)",
        Hook::Forward => "[forward]",
        Hook::Output => "[output]",
    }
}

impl Checker<'_> {
    /// Each block's `after = "<name>"` names an `[[allow]]` of the block's own section. A
    /// block cannot follow another block or a reject (several blocks after one allow go in
    /// the order they are written, so no block names another, and no order can loop). A
    /// keyword (`"baseline"`, `"allows"`) always means its place: an allow of that name is
    /// warned about, as no block can name it.
    pub(super) fn block_places(&mut self, entries: &[Entry]) {
        let mut by_name: HashMap<&str, (Kind, Hook, &Range<usize>)> = HashMap::new();
        for e in entries {
            if let Some((n, s)) = &e.name {
                by_name.entry(n.as_str()).or_insert((e.kind, e.hook, s));
            }
        }
        let mut suggested = 0;
        for e in entries.iter().filter(|e| e.kind == Kind::Block) {
            let Some(span) = e.at_span.clone() else {
                continue;
            };
            let name = match &e.at {
                BlockAt::Allow(name) => name.as_str(),
                at => {
                    let word = at.after().unwrap_or_default();
                    if let Some((Kind::Allow, h, _)) = by_name.get(word)
                        && *h == e.hook
                    {
                        self.warning(span, format!("after = \"{word}\" is the place, not the allow entry named \"{word}\""), Some(format!("\"{word}\" is one of `after`'s places, so a block cannot name an allow called so: rename that allow to place a block right after it")));
                    }
                    continue;
                }
            };
            let inner = super::inner_span(self.src, &span, name)
                .map(|s| s..s + name.len())
                .unwrap_or(span);
            match by_name.get(name).copied() {
                Some((Kind::Allow, h, _)) if h == e.hook => {}
                Some((Kind::Allow, h, at)) => {
                    let line = self.line_of(at);
                    self.error(
                        inner,
                        format!("allow entry \"{name}\" is in another section"),
                        Some(format!(
                            "\"{name}\" (line {line}) is an allow of {}, and this block is in {}: a block goes after an allow of its own section",
                            section_name(h),
                            section_name(e.hook)
                        )),
                    );
                }
                Some((kind, _, at)) => {
                    let line = self.line_of(at);
                    let help = if kind == Kind::Block {
                        format!(
                            "`after` names an [[allow]] entry; blocks after the same place go in the order they are written, so give this block the `after` of \"{name}\" (line {line}) and write it below that one"
                        )
                    } else {
                        format!(
                            "`after` names an [[allow]] entry; the rejects come after every allow, so a block right before them (and after \"{name}\" too) is after = \"allows\""
                        )
                    };
                    self.error(
                        inner,
                        format!("\"{name}\" is a {} entry, not an allow", kind.key()),
                        Some(help),
                    );
                }
                None => {
                    let aliases = [
                        ("allow", "allows"),
                        ("loopback", "baseline"),
                        ("icmp", "baseline"),
                        ("invalid", "established"),
                        ("related", "established"),
                    ];
                    // each suggestion reads every allow name: the first few unknown names
                    // get one (as many as are shown in full), so that a policy of thousands
                    // costs no more than one pass per shown error
                    suggested += 1;
                    let near = if suggested <= SUGGESTED_MAX {
                        let allows: Vec<&str> = entries
                            .iter()
                            .filter(|a| a.kind == Kind::Allow && a.hook == e.hook)
                            .filter_map(|a| a.name.as_ref().map(|(n, _)| n.as_str()))
                            .chain(["established", "baseline", "allows"])
                            .collect();
                        suggest(name, &allows, &aliases)
                    } else {
                        None
                    };
                    let help = match near {
                        Some(good) => format!("did you mean \"{good}\"? {AFTER_VALUES}"),
                        None => AFTER_VALUES.to_string(),
                    };
                    self.error(
                        inner,
                        format!("unknown place or allow entry \"{name}\" for a block"),
                        Some(help),
                    );
                }
            }
        }
    }

    /// `to_type = ["local", "broadcast"]` (or one name): the routing table's address types
    /// (`fib daddr type`), each once.
    pub(super) fn addr_types(&mut self, key: &str, value: &Spanned<DeValue<'_>>) -> Vec<u8> {
        let names: Vec<&str> = ADDR_TYPES.iter().map(|(n, _)| *n).collect();
        let kind = TypeNames {
            what: "address type",
            a_what: "an address type",
            one: "local",
            table: &ADDR_TYPES,
            aliases: &[],
            valid: format!(
                "the address types are {} (as the routing table says: `ip route show table local` lists the host's local, broadcast and anycast addresses)",
                names.join(", ")
            ),
        };
        self.type_names(key, value, &kind)
    }

    /// `pkttype = ["broadcast", "multicast"]` (or one name): the link layer's packet types
    /// (`meta pkttype`), each once.
    pub(super) fn pkt_types(&mut self, key: &str, value: &Spanned<DeValue<'_>>) -> Vec<u8> {
        let kind = TypeNames {
            what: "packet type",
            a_what: "a packet type",
            one: "broadcast",
            table: &PKT_TYPES,
            aliases: &[("host", "unicast")],
            valid: "the packet types are unicast, broadcast, multicast (what the link layer addressed the packet to: this host alone — nft's `host` —, every host on the link, a group; iptables' `-m pkttype --pkt-type`)".into(),
        };
        self.type_names(key, value, &kind)
    }

    /// One name or a list of names of `kind`'s, each once: their numbers.
    fn type_names(
        &mut self,
        key: &str,
        value: &Spanned<DeValue<'_>>,
        kind: &TypeNames<'_>,
    ) -> Vec<u8> {
        let span = value.span();
        if self.tainted(&span) {
            return Vec::new();
        }
        let (what, a_what, valid) = (kind.what, kind.a_what, &kind.valid);
        let names: Vec<&str> = kind.table.iter().map(|(n, _)| *n).collect();
        let items: Vec<&Spanned<DeValue<'_>>> = match value.get_ref() {
            DeValue::String(_) => vec![value],
            DeValue::Array(items) if !items.is_empty() => items.iter().collect(),
            other => {
                let found = match other {
                    DeValue::Array(_) => "an empty array",
                    other => type_name(other),
                };
                self.error(
                    span,
                    format!("expected {a_what} or a list of them for `{key}`, found {found}"),
                    Some(format!(
                        "write {key} = \"{}\" or {key} = [\"broadcast\", \"multicast\"]; {valid}",
                        kind.one
                    )),
                );
                return Vec::new();
            }
        };
        let mut out = Vec::new();
        for item in items {
            let Some(s) = item.get_ref().as_str() else {
                let found = type_name(item.get_ref());
                self.error(
                    item.span(),
                    format!("expected {a_what} name, found {found}"),
                    Some(valid.clone()),
                );
                continue;
            };
            let Some(t) = kind.table.iter().find(|(n, _)| *n == s).map(|(_, t)| *t) else {
                let help = match suggest(s, &names, kind.aliases) {
                    Some(good) => format!("did you mean \"{good}\"? {valid}"),
                    None => valid.clone(),
                };
                self.error(
                    item.span(),
                    format!("unknown {what} {s:?} in `{key}`"),
                    Some(help),
                );
                continue;
            };
            if out.contains(&t) {
                self.error(
                    item.span(),
                    format!("{what} {s:?} is listed twice in `{key}`"),
                    Some("list each type once".into()),
                );
                continue;
            }
            out.push(t);
        }
        out
    }

    /// A block's `state`: `"new"` (its rules match NEW connections only), `"invalid"`
    /// (packets conntrack calls invalid only), or a list of the states an allow may say
    /// (`["new", "established", "related"]`, checked against the section's baseline as an
    /// allow's list is); None, with an error, for anything else.
    pub(super) fn block_state(&mut self, value: &Spanned<DeValue<'_>>) -> Option<BlockState> {
        let span = value.span();
        if self.tainted(&span) {
            return None;
        }
        let help = "a block matches every packet (leave `state` out), NEW connections only: state = \"new\" (`ct state new`; packets of open connections, and those conntrack calls invalid or untracked, go on to the rules after it), the packets conntrack calls invalid only: state = \"invalid\" (`ct state invalid`, as an INVALID drop after some accepts; the baseline's `invalid` rule drops them before every accept), or a list of any of them: state = [\"new\", \"invalid\", \"untracked\"] (with \"established\" or \"related\" only in a section without the established rule)";
        let names = || {
            BlockState::ALL
                .iter()
                .map(|(n, _)| format!("\"{n}\""))
                .collect::<Vec<_>>()
                .join(", ")
        };
        match value.get_ref() {
            DeValue::Array(_) => {
                let s = self.states(super::Kind::Block, value)?;
                Some(match s.0 {
                    crate::core::plan::CtStates::NEW => BlockState::New,
                    crate::core::plan::CtStates::INVALID => BlockState::Invalid,
                    _ => BlockState::States(s),
                })
            }
            DeValue::String(s) => {
                if let Some((_, st)) = BlockState::ALL.iter().find(|(n, _)| *n == s.as_ref()) {
                    return Some(*st);
                }
                let s = s.to_string();
                let said = match suggest(&s, &BlockState::ALL.map(|(n, _)| n), &[]) {
                    Some(m) => {
                        format!("unknown connection state {s:?} for a block (did you mean {m:?}?)")
                    }
                    None => format!(
                        "unknown connection state {s:?} for a block (one of {})",
                        names()
                    ),
                };
                self.error(span, said, Some(help.into()));
                None
            }
            other => {
                self.error(
                    span,
                    format!("expected a string for `state`, found {}", type_name(other)),
                    Some(help.into()),
                );
                None
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use crate::core::policy::parse;
    use crate::core::policy::test_errors as errors;

    #[test]
    fn a_block_state_is_new_or_invalid() {
        use crate::core::model::BlockState;
        let (p, d) = parse(
            "[[block]]\nname = \"n\"\nfrom = [\"192.0.2.1\"]\nstate = \"new\"\n\
             [[block]]\nname = \"i\"\nfrom = [\"0.0.0.0/0\"]\nstate = \"invalid\"\n\
             after = \"baseline\"\n\
             [[block]]\nname = \"a\"\niif = \"eth0\"\n",
        );
        let p = p.unwrap_or_else(|| panic!("{d:?}"));
        let states: Vec<_> = p.block.iter().map(|b| b.state).collect();
        assert_eq!(
            states,
            [Some(BlockState::New), Some(BlockState::Invalid), None]
        );
    }

    #[test]
    fn an_unknown_block_state_is_refused_where_it_is_written() {
        let e = errors("[[block]]\nname = \"b\"\niif = \"lo\"\nstate = \"invalidd\"\n");
        assert!(
            e.starts_with(
                "error: unknown connection state \"invalidd\" for a block (did you mean \"invalid\"?)\n  --> t.toml:4:9\n"
            ),
            "{e}"
        );
        // the help lists every choice
        assert!(e.contains("state = \"new\""), "{e}");
        assert!(e.contains("state = \"invalid\" (`ct state invalid`"), "{e}");
        let e = errors("[[block]]\nname = \"b\"\niif = \"lo\"\nstate = \"established\"\n");
        assert!(
            e.contains(
                "unknown connection state \"established\" for a block (one of \"new\", \"invalid\")"
            ),
            "{e}"
        );
        assert!(e.contains("--> t.toml:4:9"), "{e}");
        // a list names the states, each by its name
        let e =
            errors("[[block]]\nname = \"b\"\niif = \"lo\"\nstate = [\"invalid\", \"Closing\"]\n");
        assert!(
            e.contains("unknown connection state \"Closing\"\n  --> t.toml:4:21"),
            "{e}"
        );
        assert!(e.contains("\"invalid\" and \"untracked\""), "{e}");
        let e = errors("[[block]]\nname = \"b\"\niif = \"lo\"\nstate = 7\n");
        assert!(
            e.contains("expected a string for `state`, found an integer"),
            "{e}"
        );
        // in a section with the established rule, as an allow's list
        let e = errors("[[block]]\nname = \"b\"\ntcp = [23]\nstate = [\"new\", \"related\"]\n");
        assert!(
            e.contains("`state` in a section with the established rule\n  --> t.toml:4:9"),
            "{e}"
        );
        let (p, d) = parse(
            "[baseline]\nestablished = false\n[[block]]\nname = \"b\"\ntcp = [23]\nstate = [\"new\", \"related\"]\n\
             [[block]]\nname = \"n\"\ntcp = [24]\nstate = [\"new\"]\n\
             [[block]]\nname = \"i\"\ntcp = [25]\nstate = [\"invalid\"]\n",
        );
        let p = p.unwrap_or_else(|| panic!("{d:?}"));
        use crate::core::model::BlockState;
        use crate::core::plan::CtStates;
        assert_eq!(
            p.block[0].state,
            Some(BlockState::States(CtStates(
                CtStates::NEW | CtStates::RELATED
            )))
        );
        assert_eq!(p.block[1].state, Some(BlockState::New));
        assert_eq!(p.block[2].state, Some(BlockState::Invalid));
        // a list of neither established nor related packets fits any section
        let (p, d) = parse(
            "[[block]]\nname = \"vpn\"\niif = \"wg0\"\nstate = [\"new\", \"invalid\", \"untracked\"]\n",
        );
        let p = p.unwrap_or_else(|| panic!("{d:?}"));
        let s = CtStates::NEW | CtStates::INVALID | CtStates::UNTRACKED;
        assert_eq!(p.block[0].state, Some(BlockState::States(CtStates(s))));
        // a reject takes no state, not even the block's
        let e = errors("[[reject]]\nname = \"r\"\ntcp = [22]\nstate = \"invalid\"\n");
        assert!(e.contains("--> t.toml:4:9"), "{e}");
    }

    #[test]
    fn packet_types_become_the_entry() {
        let (p, d) = parse(
            "[[block]]\nname = \"bc\"\npkttype = \"broadcast\"\n\
             [[allow]]\nname = \"dns\"\nudp = [53]\npkttype = [\"unicast\", \"multicast\"]\n\
             except_pkttype = [\"broadcast\"]\n",
        );
        let p = p.unwrap_or_else(|| panic!("{d:?}"));
        assert_eq!(p.block[0].service.more.pkttype, [1]);
        assert_eq!(p.allow[0].more.pkttype, [0, 2]);
        assert_eq!(p.allow[0].more.except_pkttype, [1]);
    }

    #[test]
    fn an_unknown_packet_type_is_refused_where_it_is_written() {
        let e = errors("[[block]]\nname = \"bc\"\npkttype = [\"broadcast\", \"bradcast\"]\n");
        assert!(
            e.starts_with(
                "error: unknown packet type \"bradcast\" in `pkttype`\n  --> t.toml:3:25\n"
            ),
            "{e}"
        );
        assert!(e.contains("did you mean \"broadcast\"?"), "{e}");
        // nft's word for unicast
        let e = errors("[[block]]\nname = \"h\"\nexcept_pkttype = \"host\"\n");
        assert!(e.contains("--> t.toml:3:18"), "{e}");
        assert!(e.contains("did you mean \"unicast\"?"), "{e}");
        // a packet for another host never reaches the firewall: not a type here
        let e = errors("[[block]]\nname = \"o\"\npkttype = \"otherhost\"\n");
        assert!(e.contains("unknown packet type \"otherhost\""), "{e}");
        let e = errors("[[block]]\nname = \"n\"\npkttype = 1\n");
        assert!(
            e.contains("expected a packet type or a list of them for `pkttype`, found an integer"),
            "{e}"
        );
        let e = errors("[[block]]\nname = \"t\"\npkttype = [\"multicast\", \"multicast\"]\n");
        assert!(
            e.contains("packet type \"multicast\" is listed twice"),
            "{e}"
        );
    }
}
