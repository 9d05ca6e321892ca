//! `statewall metrics`: the Prometheus text exposition format on stdout, or with
//! `--textfile DIR` in `DIR/statewall.prom` for node_exporter's textfile collector. Always
//! answers (exit 0): without a table, or when netlink fails, `statewall_up 0` and the reason
//! on stderr.

use std::path::Path;

use super::error::{CliError, Exit};
use super::{Ctx, guard, kernel, out, shown};
use crate::core::metrics;
use crate::core::usecase::metrics::{Build, scrape};
use crate::system::textfile;

/// The file `--textfile DIR` writes.
pub const TEXTFILE: &str = "statewall.prom";

/// The git commit this binary was built from: `STATEWALL_COMMIT` at build time, else what
/// the build script read from git, else "unknown".
pub const COMMIT: &str = match option_env!("STATEWALL_COMMIT") {
    Some(c) => c,
    None => "unknown",
};

pub fn run(cx: &Ctx, textfile_dir: Option<&Path>) -> Result<(), CliError> {
    guard::ensure(cx);
    cx.enter_netns()?;
    let build = Build {
        version: env!("CARGO_PKG_VERSION"),
        commit: COMMIT,
    };
    let mut k = kernel();
    let (s, notes) = scrape(&mut k, &cx.state, &cx.table, &build);
    k.finish();
    for n in notes {
        eprintln!("statewall: metrics: {n}");
    }
    let text = metrics::exposition(&s);
    match textfile_dir {
        None => out(&text),
        Some(dir) => textfile::write_atomic(dir, TEXTFILE, &text)
            .map(|path| tracing::debug!("wrote {}", path.display()))
            .map_err(|e| {
                CliError::new(
                    Exit::Output,
                    format!("cannot write {}: {e}", shown(&dir.join(TEXTFILE))),
                )
            }),
    }
}
