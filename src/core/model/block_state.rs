//! The connection states a `[[block]]` narrows itself to (`state = "new"`, `"invalid"`, or
//! an allow's list in a section without the established rule).

/// The connection state a `[[block]]` may narrow itself to (`state = "..."`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BlockState {
    /// `"new"`: NEW connections (`ct state new`)
    New,
    /// `"invalid"`: packets conntrack calls invalid (`ct state invalid`), as an INVALID drop
    /// written after some accepts does
    Invalid,
    /// a list of states: `["new", "invalid", "untracked"]` (every packet but those of open
    /// connections, a kill switch), or with established or related ones (in a section
    /// without the established rule, as an allow's list), as iptables' `-m conntrack
    /// --ctstate NEW,ESTABLISHED,RELATED -j REJECT` written before the accepts it must precede
    States(crate::core::plan::CtStates),
}

impl BlockState {
    /// Every value, with the word `state` says it with.
    pub const ALL: [(&'static str, BlockState); 2] =
        [("new", BlockState::New), ("invalid", BlockState::Invalid)];

    /// The words `state` says it with (`new`; `new-established` for a list).
    pub fn name(self) -> String {
        match self {
            BlockState::New => "new".into(),
            BlockState::Invalid => "invalid".into(),
            BlockState::States(s) => s.names().join("-"),
        }
    }

    /// The value of `state` that says it: `"new"`, `["new", "established"]`.
    pub fn value(self) -> String {
        match self {
            BlockState::States(s) => {
                let l: Vec<String> = s.names().iter().map(|n| format!("\"{n}\"")).collect();
                format!("[{}]", l.join(", "))
            }
            one => format!("\"{}\"", one.name()),
        }
    }

    /// The conntrack states it matches.
    pub fn ct(self) -> crate::core::plan::CtStates {
        use crate::core::plan::CtStates;
        match self {
            BlockState::New => CtStates(CtStates::NEW),
            BlockState::Invalid => CtStates(CtStates::INVALID),
            BlockState::States(s) => s,
        }
    }
}
