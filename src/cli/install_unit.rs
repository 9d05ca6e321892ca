//! `statewall install-unit`: the systemd unit that runs `statewall boot` early.

use std::path::{Path, PathBuf};

use super::error::CliError;
use super::outln;
use crate::core::rollout;

pub fn run(dir: &Path) -> Result<(), CliError> {
    let path: PathBuf = dir.join("statewall.service");
    let tmp = dir.join(".statewall.service.tmp");
    if let Err(e) =
        std::fs::write(&tmp, rollout::SYSTEMD_UNIT).and_then(|_| std::fs::rename(&tmp, &path))
    {
        let _ = std::fs::remove_file(&tmp);
        return Err(CliError::usage(format!(
            "cannot write {}: {e}",
            path.display()
        )));
    }
    outln(format!(
        "wrote {}\nenable it with: systemctl daemon-reload && systemctl enable statewall.service\n\
         it runs `/usr/local/sbin/statewall boot` before the network comes up (network-pre.target)",
        path.display()
    ))
}
