//! `-m owner [!] --uid-owner N` and `[!] --gid-owner N` (the user or group owning the socket
//! a packet leaves from) into the condition, which become an output entry's `uid`/
//! `except_uid` and `gid`/`except_gid`. iptables-save writes the ids as numbers; a file
//! written by hand may name a user or group, which is read as iptables-restore on this host
//! reads it (`getpwnam`/`getgrnam` over `/etc/passwd` and `/etc/group`: the CLI's
//! [`NameDb`](crate::core::services::NameDb)), the policy keeping the number, noted. A
//! range (`1000-1999`), a name this host does not know, `--socket-exists` and
//! `--suppl-groups` are refused with a location.

use std::fmt::Write as _;
use std::ops::Range;

use super::cond::Cond;
use super::lex::Tok;
use super::lines::Parser;
use crate::core::model::More;

/// The options of `-m owner` statewall does not map, and why.
const REFUSED: &[(&str, &str)] = &[
    (
        "--socket-exists",
        "statewall matches a socket's owner, not whether there is one: `--socket-exists` has no equivalent",
    ),
    (
        "--suppl-groups",
        "statewall matches a socket's own group (`meta skgid`), not its user's supplementary groups",
    ),
];

impl Parser<'_> {
    /// `--uid-owner`/`--gid-owner` at `toks[i]` into `cond` (`neg`: a `!` before it): the
    /// index after its value, or None when it is not an owner option. A second one of a
    /// kind in one rule is refused (two `-m owner` would have to hold at once).
    pub(super) fn owner_option(
        &mut self,
        cond: &mut Cond,
        toks: &[Tok],
        i: usize,
        neg: Option<Range<usize>>,
    ) -> Option<Option<usize>> {
        let t = &toks[i];
        if let Some((_, why)) = REFUSED.iter().find(|(o, _)| *o == t.text) {
            self.err(t.span.clone(), format!("`{}` of `-m owner`", t.text), *why);
            return Some(Some(i + 1));
        }
        let gid = match t.text.as_str() {
            "--uid-owner" => false,
            "--gid-owner" => true,
            _ => return None,
        };
        let Some(v) = self.value(toks, i) else {
            return Some(None);
        };
        let number = v.text.parse::<u32>().ok();
        let named = number
            .is_none()
            .then(|| self.services.id(&v.text, gid))
            .flatten();
        let Some(id) = number.or(named).filter(|&n| n != u32::MAX) else {
            let what = if gid { "group" } else { "user" };
            self.err(
                v.span.clone(),
                format!("`{} {}`: not one {what} id, nor a {what} of this host", t.text, v.text),
                format!("statewall's `uid` and `gid` take ids 0-4294967294 one by one, as iptables-save writes them; a name is read as iptables-restore here reads it (/etc/passwd, /etc/group), and this host has no {what} `{}`; a range (`1000-1999`) statewall does not map", v.text),
            );
            return Some(Some(i + 2));
        };
        if named.is_some() {
            let line = crate::core::diag::loc_of(self.src, v.span.start).line;
            self.notes.push(format!("line {line}: `{} {}` is {} {id} on this host (as iptables-restore here reads the name): the policy says the number", t.text, v.text, if gid { "gid" } else { "uid" }));
        }
        let (pos, nots) = if gid {
            (&mut cond.gid, &mut cond.not_gids)
        } else {
            (&mut cond.uid, &mut cond.not_uids)
        };
        let again = if neg.is_some() {
            let twice = nots.contains(&id);
            nots.push(id);
            twice
        } else {
            pos.replace(id).is_some()
        };
        if again {
            self.err(
                t.span.clone(),
                format!("`{}` a second time in one rule", t.text),
                "write one owner of each kind per rule (iptables takes the first `-m owner` and the second together)",
            );
        }
        Some(Some(i + 2))
    }
}

/// The entry's keys of a condition's socket owners.
pub(super) fn owner_keys(c: &Cond, m: &mut More) {
    m.uid = c.uid.into_iter().collect();
    m.except_uid = c.not_uids.clone();
    m.gid = c.gid.into_iter().collect();
    m.except_gid = c.not_gids.clone();
}

/// Whether a condition says anything of the socket's owner.
pub(super) fn has_owner(c: &Cond) -> bool {
    c.uid.is_some() || c.gid.is_some() || !c.not_uids.is_empty() || !c.not_gids.is_empty()
}

/// The policy lines of an entry's owner keys (`uid = [0]`).
pub(super) fn owner_text(t: &mut String, m: &More) {
    let keys = [
        ("uid", &m.uid),
        ("except_uid", &m.except_uid),
        ("gid", &m.gid),
        ("except_gid", &m.except_gid),
    ];
    for (key, ids) in keys {
        if !ids.is_empty() {
            let l: Vec<String> = ids.iter().map(u32::to_string).collect();
            let _ = writeln!(t, "{key} = [{}]", l.join(", "));
        }
    }
}

/// Whether an entry says anything of the socket's owner.
pub(super) fn says_owner(m: &More) -> bool {
    !m.uid.is_empty() || !m.except_uid.is_empty() || !m.gid.is_empty() || !m.except_gid.is_empty()
}

/// An entry's name from its owners: `uid-1000`, `gid-1500`, `uid-not-0`.
pub(super) fn owner_name(m: &More) -> Option<String> {
    let kinds = [
        ("uid", &m.uid),
        ("gid", &m.gid),
        ("uid-not", &m.except_uid),
        ("gid-not", &m.except_gid),
    ];
    kinds
        .into_iter()
        .find_map(|(what, ids)| ids.first().map(|id| format!("{what}-{id}")))
}

/// `! --uid-owner X` (or `! --gid-owner`) with no owner the socket must have beside it: xt_owner
/// matches a packet without a socket (an ICMP error or echo reply, a reset the kernel sends
/// itself, a kernel tunnel's datagram) for the negation, and nft's `meta skuid != X` does not
/// (nor can an inet table run xt_owner: the kernel holds it for ip and ip6 tables only), so
/// those packets would meet other rules than in iptables. With a `--uid-owner` or
/// `--gid-owner` in the rule, a packet without a socket matches neither reading.
pub(super) fn socketless_negation(p: &mut Parser<'_>, c: &Cond, toks: &[Tok]) {
    if (c.not_uids.is_empty() && c.not_gids.is_empty()) || c.uid.is_some() || c.gid.is_some() {
        return;
    }
    let at = toks
        .windows(2)
        .find(|w| w[0].text == "!" && matches!(w[1].text.as_str(), "--uid-owner" | "--gid-owner"))
        .map_or_else(|| toks[0].span.clone(), |w| w[0].span.start..w[1].span.end);
    p.err(at, "a negated socket owner alone: iptables matches the packets this host sends without a socket too", "xt_owner takes `! --uid-owner X` for a packet no socket sent (an ICMP error or echo reply, a reset the kernel makes, a kernel tunnel's datagram), and statewall's `except_uid` (nft's `meta skuid != X`) matches a socket of another user only; so those packets would meet other rules than in iptables. Write the owners the rule is for (`--uid-owner`/`--gid-owner`) beside the negation, or match by other means (`-o`, `-d`, ports)");
}
