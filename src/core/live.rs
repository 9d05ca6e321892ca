//! The live table as statewall reads it back: plain data the system layer fills from the
//! kernel's dumps (or the fake kernel from its memory), and everything in the core reads.

use crate::core::plan::{Rule, SetElem, SetKind};

#[derive(Debug, Clone)]
pub struct LiveTable {
    pub name: String,
    /// the table comment (statewall writes `statewall plan=<fingerprint> mode=<mode>`)
    pub comment: Option<String>,
    /// the sets the rules look up, in the order statewall creates them
    pub sets: Vec<LiveSet>,
    pub chains: Vec<LiveChain>,
    /// a patched table's marker rule (`core::patch::MARKER_CHAIN`): its handle and comment,
    /// which says the plan instead of the table comment (a table comment cannot change)
    pub marker: Option<(u64, String)>,
}

/// A set the rules look up, with a counter per element.
#[derive(Debug, Clone)]
pub struct LiveSet {
    pub name: String,
    pub kind: SetKind,
    /// (element, packets, bytes), sorted by key; or what could not be read
    pub elements: Result<Vec<(SetElem, u64, u64)>, String>,
    /// a live set's default member lifetime in seconds (`NFTA_SET_TIMEOUT`)
    pub timeout: Option<u64>,
    /// a live set: what is left of each element's lifetime in ms, `expires[i]` belonging to
    /// `elements[i]` (empty for other sets)
    pub expires: Vec<Option<u64>>,
}

impl LiveSet {
    /// A live set's members as a table replace carries them (empty for other sets, or
    /// when its elements could not be read).
    pub fn members(&self) -> Vec<crate::core::plan::Member> {
        let Ok(els) = &self.elements else {
            return Vec::new();
        };
        if !self.kind.live() {
            return Vec::new();
        }
        els.iter()
            .enumerate()
            .filter_map(|(i, (e, _, _))| match e {
                SetElem::Net(net) => Some(crate::core::plan::Member {
                    net: *net,
                    expires_ms: self.expires.get(i).copied().flatten(),
                }),
                SetElem::Ports(_) => None,
            })
            .collect()
    }
}

#[derive(Debug, Clone)]
pub struct LiveChain {
    pub name: String,
    /// (hook number, priority) for a base chain
    pub hook: Option<(u32, i32)>,
    pub policy: Option<&'static str>,
    pub rules: Vec<LiveRule>,
}

/// One rule read back from the kernel.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LiveRule {
    pub handle: u64,
    pub comment: Option<String>,
    /// the rule in statewall's terms, or what could not be understood
    pub rule: Result<Rule, Foreign>,
    pub packets: u64,
    pub bytes: u64,
}

/// Why a live rule is not one statewall wrote.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Foreign {
    /// statewall's expressions, but no counter: every rule statewall writes has one
    Uncounted(Rule),
    /// expressions statewall does not emit, in words
    Other(String),
}

impl std::fmt::Display for Foreign {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Foreign::Uncounted(r) => write!(
                f,
                "a rule without a counter: `{}`",
                crate::core::render::rule_text(r)
            ),
            Foreign::Other(why) => f.write_str(why),
        }
    }
}

impl LiveTable {
    /// The fingerprint statewall stored in the table comment at commit time.
    pub fn stored_fingerprint(&self) -> Option<&str> {
        self.comment_field("plan")
    }

    /// The fingerprint scheme of the table comment (`id=`); None for statewall 0.1's tables.
    pub fn stored_scheme(&self) -> Option<&str> {
        self.comment_field("id")
    }

    /// The mode statewall stored in the table comment at commit time.
    pub fn stored_mode(&self) -> Option<&str> {
        self.comment_field("mode")
    }

    fn comment_field(&self, key: &str) -> Option<&str> {
        // the table comment says statewall made it; a patch's marker says what it is now
        self.comment.as_deref()?.strip_prefix("statewall ")?;
        let c = match &self.marker {
            Some((_, m)) => m.as_str(),
            None => self.comment.as_deref()?,
        }
        .strip_prefix("statewall ")?;
        c.split(' ')
            .find_map(|kv| kv.strip_prefix(key)?.strip_prefix('='))
    }
}
