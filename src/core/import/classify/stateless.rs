//! Accepts that statewall narrows to NEW connections behind its established rule: those
//! without a state match, and those of NEW and INVALID packets (what a user chain's
//! conditional RETURN of ESTABLISHED,RELATED leaves to the rules after it), which meet the
//! same packets there. The INVALID ones the file accepted are said once, for all of them.

use super::{EST, Found};
use crate::core::import::analyse::Analyser;
use crate::core::import::notes::first_of;
use crate::core::plan::CtStates;

/// Whether states `s` are NEW and INVALID (ESTABLISHED and RELATED beside them or not):
/// every state a packet behind the established accept can have, but UNTRACKED.
pub(super) fn new_and_invalid(s: u32) -> bool {
    s & !EST == CtStates::NEW | CtStates::INVALID
}

impl Analyser<'_> {
    /// One note for the accepts at `lines` (`stated`: one of them said NEW and INVALID),
    /// naming the first lines, and those of them before the file's INVALID drop.
    pub(super) fn stateless_note(
        &mut self,
        lines: &[u32],
        stated: bool,
        before_invalid: &[u32],
        found: &Found,
    ) {
        if lines.is_empty() {
            return;
        }
        let shown = first_of(lines, 12);
        let chain = self.hook.chain();
        let (which, verb) = if lines.len() == 1 {
            (format!("line {shown}: the {chain} accept"), "has")
        } else {
            let n = lines.len();
            (format!("lines {shown}: the {n} {chain} accepts"), "have")
        };
        let what = if stated {
            // a RETURN's states are not on the line: say what the rule meets
            let meets = if lines.len() == 1 { "meets" } else { "meet" };
            format!(
                "{meets} NEW and INVALID packets only (the established accept takes the others first)"
            )
        } else {
            format!("{verb} no state match")
        };
        let invalid = if found.invalid.is_none() {
            "; packets conntrack calls INVALID are no longer accepted there".to_string()
        } else if before_invalid.is_empty() {
            String::new()
        } else {
            // statewall's INVALID drop comes first, the file's after these accepts
            let one = before_invalid.len() == 1;
            format!(
                "; line{} {} come{} before the INVALID drop in the file: packets conntrack calls INVALID are no longer accepted there",
                if one { "" } else { "s" },
                first_of(before_invalid, 12),
                if one { "s" } else { "" }
            )
        };
        self.notes.push(format!("{which} {what}; statewall's allows accept NEW connections (established ones by its established rule{invalid})"));
    }
}
