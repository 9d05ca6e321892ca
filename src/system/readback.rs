//! Reads statewall's table back with our own dump requests: the table, its chains, their
//! rules (with counters) and set elements, all asked for with family `inet`, so a table of
//! the same name in another family (`ip statewall`, iptables-nft's `ip filter`) is never
//! mixed in. Only our own table is read, and nothing here panics on what it does not
//! understand.

use super::netlink::Socket;
use crate::codec::decode::decode_rule_msg;
use crate::codec::nft::{
    NF_ACCEPT, NF_DROP, NFT_MSG_GETCHAIN, NFT_MSG_GETRULE, NFT_MSG_GETTABLE, NFTA_CHAIN_HOOK,
    NFTA_CHAIN_NAME, NFTA_CHAIN_POLICY, NFTA_CHAIN_TABLE, NFTA_HOOK_HOOKNUM, NFTA_HOOK_PRIORITY,
    NFTA_RULE_CHAIN, NFTA_RULE_TABLE, NFTA_TABLE_NAME, NFTA_TABLE_USERDATA, NLM_F_DUMP,
    NLM_F_REQUEST,
};
use crate::codec::sets;
use crate::codec::wire::{self, Attrs, attr, be32, nfnl_attrs, string};
use crate::core::live::{LiveChain, LiveSet, LiveTable};
use crate::core::plan::{Rule, SetKind, Verdict};
use std::collections::{HashMap, HashSet};

#[derive(Debug)]
pub struct ReadError(pub String);

impl std::fmt::Display for ReadError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for ReadError {}

/// A dump request of the `inet` family.
fn dump_request(ty: u16, attrs: &Attrs) -> Vec<u8> {
    wire::nft_message(ty, NLM_F_REQUEST | NLM_F_DUMP, attrs)
}

/// How many times `read_table` reads while the ruleset keeps changing under it.
const READ_TRIES: usize = 5;

/// Reads `inet NAME` in the calling thread's network namespace. `Ok(None)` when it does
/// not exist. The parts are separate dumps, so the generation id is read before and after:
/// when it moved (or the kernel marked a dump interrupted), everything is read again. What
/// comes back is one state of the ruleset, or an error saying it kept changing — never a
/// mix, which would read as drift and make `confirm` or a rollback refuse.
pub fn read_table(name: &str) -> Result<Option<LiveTable>, ReadError> {
    let mut sock =
        Socket::open().map_err(|e| ReadError(format!("cannot open a netlink socket: {e}")))?;
    read_table_on(&mut sock, name, Elements::Read)
}

/// Whether a read dumps the elements of the sets the rules look up.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Elements {
    /// every element with its counters (`status`, `verify`, every decision)
    Read,
    /// none: `sets` comes back empty. The kernel walks a set from its start for every reply
    /// buffer of an element dump, so a big set takes seconds; a metrics scrape needs none.
    Skip,
    /// only the live sets' (their members are carried by a replace); the other sets are
    /// left out: an apply takes their elements from the fingerprint
    Live,
}

/// [`read_table`] on an open socket (the kernel's own, so that an apply reads and commits
/// on one), choosing whether set elements are dumped.
pub fn read_table_on(
    sock: &mut Socket,
    name: &str,
    elements: Elements,
) -> Result<Option<LiveTable>, ReadError> {
    let generation = |sock: &mut Socket| {
        sock.generation()
            .map_err(|e| ReadError(format!("reading the ruleset generation failed: {e}")))
    };
    for _ in 0..READ_TRIES {
        let before = generation(sock)?;
        match read_once(sock, name, elements) {
            Ok(read) if generation(sock)? == before => return Ok(read),
            Ok(_) => {}
            Err(Failure::Interrupted) => {}
            Err(Failure::Error(e)) => return Err(e),
        }
        tracing::debug!("the ruleset changed while it was read; reading again");
    }
    Err(ReadError(format!(
        "the ruleset changed every time table inet {name} was read ({READ_TRIES} tries): \
         something is committing rulesets without pause; try again"
    )))
}

/// Why one read failed: a dump the kernel marked interrupted is read again.
enum Failure {
    Interrupted,
    Error(ReadError),
}

impl From<ReadError> for Failure {
    fn from(e: ReadError) -> Failure {
        Failure::Error(e)
    }
}

fn failed(what: String) -> impl FnOnce(std::io::Error) -> Failure {
    move |e| {
        if e.kind() == std::io::ErrorKind::Interrupted {
            Failure::Interrupted
        } else {
            Failure::Error(ReadError(format!(
                "reading {what} over netlink failed: {e}"
            )))
        }
    }
}

fn read_once(
    sock: &mut Socket,
    name: &str,
    elements: Elements,
) -> Result<Option<LiveTable>, Failure> {
    let tables = sock
        .dump(dump_request(NFT_MSG_GETTABLE, &Attrs::default()))
        .map_err(failed("the list of tables".into()))?;
    let Some(table) = tables
        .iter()
        .map(|m| nfnl_attrs(m))
        .find(|b| attr(b, NFTA_TABLE_NAME).map(string).as_deref() == Some(name))
    else {
        return Ok(None);
    };
    let comment =
        attr(table, NFTA_TABLE_USERDATA).and_then(crate::codec::encode::comment_from_udata);
    let chains = sock
        .dump(dump_request(NFT_MSG_GETCHAIN, &Attrs::default()))
        .map_err(failed(format!("the chains of table inet {name}")))?;
    let mut out = Vec::new();
    let mut marker = None;
    for chain in chains.iter().map(|m| nfnl_attrs(m)) {
        if attr(chain, NFTA_CHAIN_TABLE).map(string).as_deref() != Some(name) {
            continue;
        }
        let chain_name = attr(chain, NFTA_CHAIN_NAME).map(string).unwrap_or_default();
        let hook = attr(chain, NFTA_CHAIN_HOOK).and_then(|h| {
            let num = be32(attr(h, NFTA_HOOK_HOOKNUM)?)?;
            let prio = be32(attr(h, NFTA_HOOK_PRIORITY)?)? as i32;
            Some((num, prio))
        });
        let policy = attr(chain, NFTA_CHAIN_POLICY)
            .and_then(be32)
            .map(|p| match p as i32 {
                NF_ACCEPT => "accept",
                NF_DROP => "drop",
                _ => "?",
            });
        let mut filter = Attrs::default();
        filter
            .str(NFTA_RULE_TABLE, name)
            .str(NFTA_RULE_CHAIN, &chain_name);
        let msgs = sock
            .dump(dump_request(NFT_MSG_GETRULE, &filter))
            .map_err(failed(format!(
                "the rules of chain {chain_name} in table inet {name}"
            )))?;
        let rules = msgs
            .iter()
            .filter_map(|m| decode_rule_msg(m))
            .filter(|(at, _)| at.table == name && at.chain == chain_name)
            .map(|(_, r)| r)
            .collect::<Vec<_>>();
        if chain_name == crate::core::patch::MARKER_CHAIN && hook.is_none() {
            // a patched table's fingerprint, in its one rule's comment: not a chain of the plan
            if let [r] = rules.as_slice()
                && let Some(c) = r.comment.as_ref().filter(|c| c.starts_with("statewall "))
            {
                marker = Some((r.handle, c.clone()));
                continue;
            }
        }
        out.push(LiveChain {
            name: chain_name,
            hook,
            policy,
            rules,
        });
    }
    let sets = match elements {
        Elements::Read => read_sets(sock, name, &out, false)?,
        Elements::Live => read_sets(sock, name, &out, true)?,
        Elements::Skip => Vec::new(),
    };
    Ok(Some(LiveTable {
        marker,
        name: name.to_string(),
        comment,
        sets,
        chains: out,
    }))
}

/// The rules in the order a packet meets them: each base chain's, with the rules of a
/// chain it jumps to in the jump's place; chains no jump reaches (not statewall's layout)
/// follow in dump order.
fn packet_order(chains: &[LiveChain]) -> Vec<&Rule> {
    fn walk<'a>(
        c: &'a LiveChain,
        chains: &'a [LiveChain],
        seen: &mut HashSet<&'a str>,
        out: &mut Vec<&'a Rule>,
    ) {
        if !seen.insert(c.name.as_str()) {
            return;
        }
        for r in &c.rules {
            let Ok(rule) = &r.rule else { continue };
            if let Verdict::Jump(n) = rule.verdict {
                let name = crate::core::plan::entries_chain(n);
                if let Some(target) = chains.iter().find(|c| c.name == name) {
                    walk(target, chains, seen, out);
                }
                continue;
            }
            out.push(rule);
        }
    }
    let mut seen = HashSet::new();
    let mut out = Vec::new();
    for c in chains.iter().filter(|c| c.hook.is_some()) {
        walk(c, chains, &mut seen, &mut out);
    }
    for c in chains {
        walk(c, chains, &mut seen, &mut out);
    }
    out
}

/// The sets statewall's rules look up, read with our own element dump (rustables 0.9
/// cannot decode interval elements or their counters). Ordered as `compile` creates them:
/// by the first rule of their policy entry in packet order, then src4, src6, tcp, udp.
fn read_sets(
    sock: &mut Socket,
    table: &str,
    chains: &[LiveChain],
    live_only: bool,
) -> Result<Vec<LiveSet>, Failure> {
    let mut wanted: Vec<(usize, SetKind, String)> = Vec::new();
    // (hash maps: a table of 50,000 entries has 50,000 distinct comments and sets)
    let mut first_rule: HashMap<&str, usize> = HashMap::new();
    let mut named: HashSet<String> = HashSet::new();
    for (index, rule) in packet_order(chains).into_iter().enumerate() {
        let first = *first_rule.entry(rule.comment.as_str()).or_insert(index);
        for m in &rule.matches {
            if let Some(name) = crate::core::plan::set_of(rule, m) {
                let Some(kind) = SetKind::of_name(&name) else {
                    continue;
                };
                if named.insert(name.clone()) {
                    wanted.push((first, kind, name));
                }
            }
        }
    }
    if live_only {
        wanted.retain(|(_, kind, _)| kind.live());
    }
    // The kernel lists a table's sets in the order they were created, which is the plan's
    // order (statewall creates them in it): the order the fingerprint hashes them in.
    // Sets it does not list (none, unless the table changed meanwhile) follow, as statewall
    // 0.1 ordered them.
    let headers: Vec<(String, Option<u64>)> = match sock.dump(sets::getset(table, "")) {
        Ok(msgs) => msgs.iter().filter_map(|m| sets::set_header(m)).collect(),
        Err(e) if e.kind() == std::io::ErrorKind::Interrupted => return Err(Failure::Interrupted),
        Err(e) => {
            return Err(Failure::Error(ReadError(format!(
                "reading the sets of table inet {table} failed: {e}"
            ))));
        }
    };
    // a live set is both its halves, whether rules look up one, both or (a policy whose
    // entries of the set are all of one family) only one of them: the plan has both
    for (name, _) in &headers {
        if let Some(kind) = SetKind::of_name(name).filter(|k| k.live())
            && named.insert(name.clone())
        {
            wanted.push((usize::MAX, kind, name.clone()));
        }
    }
    if wanted.is_empty() {
        return Ok(Vec::new());
    }
    let created: HashMap<&str, (usize, Option<u64>)> = headers
        .iter()
        .enumerate()
        .map(|(i, (n, t))| (n.as_str(), (i, *t)))
        .collect();
    wanted.sort_by_key(|(first, kind, name)| {
        let at = created.get(name.as_str()).map_or(usize::MAX, |c| c.0);
        (at, *first, *kind as u8)
    });
    let mut out = Vec::new();
    for (_, kind, name) in wanted {
        let mut expires = Vec::new();
        let elements = match sock.dump(sets::getsetelem(0, table, &name)) {
            Ok(msgs) => {
                let raw: Vec<sets::RawElem> =
                    msgs.iter().flat_map(|m| sets::parse_elements(m)).collect();
                sets::elements_with_expiry(kind, &raw).map(|els| {
                    if kind.live() {
                        expires = els.iter().map(|e| e.3).collect();
                    }
                    els.into_iter().map(|(e, p, b, _)| (e, p, b)).collect()
                })
            }
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {
                return Err(Failure::Interrupted);
            }
            Err(e) => Err(format!("reading its elements failed: {e}")),
        };
        let timeout = if kind.live() || kind.meter() {
            created.get(name.as_str()).and_then(|c| c.1)
        } else {
            None
        };
        out.push(LiveSet {
            name,
            kind,
            elements,
            timeout,
            expires,
        });
    }
    Ok(out)
}

/// A set's default element lifetime in seconds (`NFTA_SET_TIMEOUT`): None when it has none
/// or there is no such set.
pub fn set_timeout(sock: &mut Socket, table: &str, set: &str) -> Result<Option<u64>, ReadError> {
    read_set_timeout(sock, table, set).map_err(|e| match e {
        Failure::Error(e) => e,
        Failure::Interrupted => ReadError(format!("reading set {set} was interrupted; try again")),
    })
}

/// A set's default element lifetime in seconds (`NFTA_SET_TIMEOUT`), read with a
/// `NFT_MSG_GETSET` dump of the table's sets.
fn read_set_timeout(sock: &mut Socket, table: &str, set: &str) -> Result<Option<u64>, Failure> {
    let msgs = match sock.dump(sets::getset(table, set)) {
        Ok(m) => m,
        Err(e) if e.kind() == std::io::ErrorKind::Interrupted => return Err(Failure::Interrupted),
        Err(e) => {
            return Err(Failure::Error(ReadError(format!(
                "reading set {set} of table inet {table} failed: {e}"
            ))));
        }
    };
    Ok(msgs.iter().find_map(|m| sets::set_timeout_of(m, set)))
}
