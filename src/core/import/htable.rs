//! `-m hashlimit`'s table beside statewall's meter: what it forgets and what it holds, said
//! in notes where statewall's per-source buckets behave otherwise.

use super::extra::LimitOpts;
use crate::core::model::Rate;

/// What a hashlimit's table does that statewall's meter does not, at line `line`, for its
/// statewall `rate` and `burst`: it forgets a source idle for `--hashlimit-htable-expire`
/// (by default the rate's unit: libxt_hashlimit) and gives it a whole burst again, where
/// statewall's bucket refills at the rate (forgotten only once full again); and once it holds
/// `--hashlimit-htable-max` sources (at least `-size`), it drops the packets of new ones,
/// where statewall's meter holds 65,535.
pub(super) fn table_notes(lim: &LimitOpts, line: u32, rate: &str, burst: u32) -> Vec<String> {
    let mut out = Vec::new();
    let Ok(r) = Rate::parse(rate) else {
        return out;
    };
    let unit_ms = r.unit.secs() * 1000;
    let expire = match lim.expire.as_deref().map(str::parse::<u64>) {
        Some(Ok(ms)) if ms > 0 => ms,
        _ => unit_ms,
    };
    let refill = (u64::from(burst) * unit_ms).div_ceil(u64::from(r.n.max(1)));
    if expire < refill {
        out.push(format!("line {line}: `-m hashlimit` forgets a source idle for {expire} ms (`--hashlimit-htable-expire`, by default the rate's unit) and gives it its whole burst ({burst}) again; statewall's bucket refills at {rate}, {refill} ms from empty: after a pause shorter than that, statewall lets fewer through than iptables"));
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
