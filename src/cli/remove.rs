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
        // the unit install-unit wrote for this table; a namespace's boot is run by its own hook
        let off = if cx.netns.is_some()
            || crate::system::netns::identity(None).is_ok_and(|k| k != "host")
        {
            "take `statewall boot` out of what starts this namespace".to_string()
        } else if cx.table == crate::core::compile::DEFAULT_TABLE {
            "disable the unit that runs it (systemctl disable statewall.service)".to_string()
        } else {
            format!(
                "disable the unit that runs it (systemctl disable statewall-{}.service)",
                cx.table
            )
        };
        eprintln!(
            "statewall: the next `{}` loads the accepted policy again (plan {}, {} {}); {off} to keep the table off",
            crate::core::store::Store::command(&cx.state, "boot"),
            c.fingerprint,
            c.origin.as_str(),
            crate::core::rollout::utc(c.confirmed_at)
        );
    }
    Ok(())
}
