//! `statewall remove`: delete statewall's table, and nothing else.

use super::error::CliError;
use super::{Ctx, guard, kernel, outln};
use crate::core::usecase;

pub fn run(cx: &Ctx) -> Result<(), CliError> {
    guard::ensure(cx);
    cx.enter_netns()?;
    let mut k = kernel();
    let result = usecase::apply::remove(&mut k, &cx.state, &cx.table);
    k.finish();
    result?;
    outln(format!("removed table inet {}", cx.table))?;
    // what stays: the records, so the next boot brings the accepted policy back
    if let Ok(Some(c)) = cx
        .state
        .read::<crate::core::rollout::Confirmed>(crate::core::store::Kind::Confirmed)
    {
        eprintln!(
            "statewall: the next `statewall boot` loads the accepted policy again (plan {}, {} {}); disable the unit that runs it (systemctl disable statewall) to keep the table off",
            c.fingerprint,
            c.origin.as_str(),
            crate::core::rollout::utc(c.confirmed_at)
        );
    }
    Ok(())
}
