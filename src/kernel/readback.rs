//! Reads statewall's table back through rustables' dump requests: chains, rules, counters.
//! Only our own table is read (a foreign table with expressions rustables cannot decode
//! must not break `status`), and nothing here panics on what it does not understand.

use rustables::ChainPolicy;

use super::decode::{LiveRule, decode_rule};
use super::encode::comment_from_udata;
use super::netlink::Socket;
use super::sets;
use crate::plan::{SetElem, SetKind};

#[derive(Debug, Clone)]
pub struct LiveTable {
    pub name: String,
    /// the table comment (statewall writes `statewall plan=<fingerprint> mode=<mode>`)
    pub comment: Option<String>,
    /// the sets the rules look up, in the order statewall creates them
    pub sets: Vec<LiveSet>,
    pub chains: Vec<LiveChain>,
}

/// A set the rules look up, with a counter per element.
#[derive(Debug, Clone)]
pub struct LiveSet {
    pub name: String,
    pub kind: SetKind,
    /// (element, packets, bytes), sorted by key; or what could not be read
    pub elements: Result<Vec<(SetElem, u64, u64)>, String>,
}

#[derive(Debug, Clone)]
pub struct LiveChain {
    pub name: String,
    /// (hook number, priority) for a base chain
    pub hook: Option<(u32, i32)>,
    pub policy: Option<&'static str>,
    pub rules: Vec<LiveRule>,
}

#[derive(Debug)]
pub struct ReadError(pub String);

impl std::fmt::Display for ReadError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for ReadError {}

fn err(what: String) -> impl FnOnce(rustables::error::QueryError) -> ReadError {
    move |e| ReadError(format!("reading {what} over netlink failed: {e:?}"))
}

impl LiveTable {
    /// The fingerprint statewall stored in the table comment at commit time.
    pub fn stored_fingerprint(&self) -> Option<&str> {
        self.comment_field("plan")
    }

    /// The mode statewall stored in the table comment at commit time.
    pub fn stored_mode(&self) -> Option<&str> {
        self.comment_field("mode")
    }

    fn comment_field(&self, key: &str) -> Option<&str> {
        let c = self.comment.as_deref()?.strip_prefix("statewall ")?;
        c.split(' ')
            .find_map(|kv| kv.strip_prefix(key)?.strip_prefix('='))
    }
}

/// Reads `inet NAME` in the calling thread's network namespace. `Ok(None)` when it does
/// not exist.
pub fn read_table(name: &str) -> Result<Option<LiveTable>, ReadError> {
    let tables = rustables::list_tables().map_err(err("the list of tables".into()))?;
    // rustables 0.9 keeps an object's family out of reach (private trait), and dumps go
    // out with family UNSPEC: a table of another family with the same name would be read
    // too. statewall's table name is distinctive for that reason (see ARCHITECTURE.md).
    let Some(table) = tables
        .into_iter()
        .find(|t| t.get_name().map(String::as_str) == Some(name))
    else {
        return Ok(None);
    };
    let comment = table.get_userdata().and_then(|u| comment_from_udata(u));
    let chains = rustables::list_chains_for_table(&table)
        .map_err(err(format!("the chains of table inet {name}")))?;
    let mut out = Vec::new();
    for chain in chains {
        let rules = rustables::list_rules_for_chain(&chain).map_err(err(format!(
            "the rules of chain {} in table inet {name}",
            chain.get_name().map(String::as_str).unwrap_or("?")
        )))?;
        out.push(LiveChain {
            name: chain.get_name().cloned().unwrap_or_default(),
            hook: chain
                .get_hook()
                .and_then(|h| Some((*h.get_class()?, *h.get_priority()? as i32))),
            policy: chain.get_policy().map(|p| match p {
                ChainPolicy::Accept => "accept",
                ChainPolicy::Drop => "drop",
            }),
            rules: rules.iter().map(decode_rule).collect(),
        });
    }
    let sets = read_sets(name, &out)?;
    Ok(Some(LiveTable {
        name: name.to_string(),
        comment,
        sets,
        chains: out,
    }))
}

/// The sets statewall's rules look up, read with our own element dump (rustables 0.9
/// cannot decode interval elements or their counters). Ordered as `compile` creates them:
/// by the first rule of their policy entry, then src4, src6, tcp, udp.
fn read_sets(table: &str, chains: &[LiveChain]) -> Result<Vec<LiveSet>, ReadError> {
    let mut wanted: Vec<(usize, SetKind, String)> = Vec::new();
    // (hash maps: a table of 50,000 entries has 50,000 distinct comments)
    let mut first_rule: std::collections::HashMap<&str, usize> = std::collections::HashMap::new();
    let mut index = 0;
    for c in chains {
        for r in &c.rules {
            index += 1;
            let Ok(rule) = &r.rule else { continue };
            let first = *first_rule.entry(rule.comment.as_str()).or_insert(index);
            for m in &rule.matches {
                if let Some(name) = crate::plan::set_of(rule, m) {
                    let Some(kind) = SetKind::of_name(&name) else {
                        continue;
                    };
                    if !wanted.iter().any(|(_, _, n)| *n == name) {
                        wanted.push((first, kind, name));
                    }
                }
            }
        }
    }
    wanted.sort_by_key(|(first, kind, _)| (*first, *kind as u8));
    if wanted.is_empty() {
        return Ok(Vec::new());
    }
    let mut sock =
        Socket::open().map_err(|e| ReadError(format!("cannot open a netlink socket: {e}")))?;
    let mut out = Vec::new();
    for (_, kind, name) in wanted {
        let elements = match sock.dump(sets::getsetelem(0, table, &name)) {
            Ok(msgs) => {
                let raw: Vec<sets::RawElem> =
                    msgs.iter().flat_map(|m| sets::parse_elements(m)).collect();
                sets::elements_from_raw(kind, &raw)
            }
            Err(e) => Err(format!("reading its elements failed: {e}")),
        };
        out.push(LiveSet {
            name,
            kind,
            elements,
        });
    }
    Ok(out)
}
