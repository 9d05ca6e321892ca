//! Reads statewall's table back through rustables' dump requests: chains, rules, counters.
//! Only our own table is read (a foreign table with expressions rustables cannot decode
//! must not break `status`), and nothing here panics on what it does not understand.

use rustables::ChainPolicy;

use super::decode::{LiveRule, decode_rule};
use super::encode::comment_from_udata;

#[derive(Debug, Clone)]
pub struct LiveTable {
    pub name: String,
    /// the table comment (statewall writes `statewall plan=<fingerprint> mode=<mode>`)
    pub comment: Option<String>,
    pub chains: Vec<LiveChain>,
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

fn err(what: &str) -> impl FnOnce(rustables::error::QueryError) -> ReadError + '_ {
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
    let tables = rustables::list_tables().map_err(err("tables"))?;
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
    let chains = rustables::list_chains_for_table(&table).map_err(err("chains"))?;
    let mut out = Vec::new();
    for chain in chains {
        let rules = rustables::list_rules_for_chain(&chain).map_err(err("rules"))?;
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
    Ok(Some(LiveTable {
        name: name.to_string(),
        comment,
        chains: out,
    }))
}
