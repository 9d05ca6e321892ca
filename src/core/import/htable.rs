//! `-m hashlimit`'s table beside statewall's meter: what it forgets and what it holds, said
//! in notes where statewall's per-source buckets behave otherwise.

use super::extra::LimitOpts;
use crate::core::model::Rate;

/// A hashlimit's `--hashlimit-htable-expire` (by default the rate's unit: libxt_hashlimit)
/// in whole seconds, where it comes before its bucket of statewall `rate` and `burst` is full
/// again (statewall's meter forgets a bucket then anyway); None for `-m limit`, which has no
/// table.
fn forget_secs(lim: &LimitOpts, rate: &str, burst: u32) -> Option<(u64, u64)> {
    lim.hash_mode.as_ref()?;
    let r = Rate::parse(rate).ok()?;
    let unit_ms = r.unit.secs() * 1000;
    let expire = match lim.expire.as_deref().map(str::parse::<u64>) {
        Some(Ok(ms)) if ms > 0 => ms,
        _ => unit_ms,
    };
    let full = Rate { burst, ..r }.refill_secs();
    let secs = expire.div_ceil(1000).max(1);
    (secs < full).then_some((expire, secs))
}

/// `, forget = "Ns"` for a hashlimit whose table forgets an idle source before its bucket is
/// full again: what a limit's table says after its meter; else nothing.
pub(super) fn forget_key(lim: &LimitOpts, rate: &str, burst: u32) -> String {
    forget_secs(lim, rate, burst)
        .map(|(_, s)| format!(", forget = \"{s}s\""))
        .unwrap_or_default()
}

/// What a hashlimit's table does, at line `line`, for its statewall `rate` and `burst`: it
/// forgets a source idle for `--hashlimit-htable-expire` and gives it a whole burst again,
/// which the limit's `forget` says (`forget_key`); and once it holds `--hashlimit-htable-max`
/// sources (at least `-size`), it drops the packets of new ones, where statewall's meter
/// holds 65,535.
pub(super) fn table_notes(lim: &LimitOpts, line: u32, rate: &str, burst: u32) -> Vec<String> {
    let mut out = Vec::new();
    if let Some((expire, secs)) = forget_secs(lim, rate, burst) {
        out.push(format!("line {line}: `-m hashlimit` forgets a source idle for {expire} ms (`--hashlimit-htable-expire`, by default the rate's unit) and gives it its whole burst ({burst}) again, before its bucket would refill at {rate}: the limit says `forget = \"{secs}s\"`, so that statewall's meter forgets it too"));
    }
    let num = |v: &Option<String>| v.as_deref().and_then(|v| v.parse::<u64>().ok());
    if let Some(max) = num(&lim.table_max) {
        let held = max.max(num(&lim.table_size).unwrap_or(0));
        if held < 65_535 {
            out.push(format!("line {line}: `--hashlimit-htable-max {max}`: iptables drops the packets of a new source once its table holds {held} (or its size, if larger); statewall's meter holds 65,535 sources"));
        }
    }
    out
}
