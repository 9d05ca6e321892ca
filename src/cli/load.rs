//! Reading a policy at the edge: the file, its `from_file` lists, or an iptables-save file
//! turned into a policy. Diagnostics (warnings too) go to stderr; what comes back is
//! validated, with the texts it was made from.

use std::cell::RefCell;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use super::error::CliError;
use crate::core::usecase::Validated;
use crate::core::{diag, import, policy};

pub const DEFAULT_POLICY: &str = "/etc/statewall/policy.toml";

/// How iptables-save input is read (`--format`, `--mirror-ipv6`, `--ipv6`).
#[derive(Debug, Default, Clone)]
pub struct ImportOpts {
    pub format: Option<String>,
    pub mirror_ipv6: bool,
    pub ipv6: Option<PathBuf>,
}

/// A validated policy, and whether it came from an iptables-save file.
pub struct Loaded {
    pub validated: Validated,
    pub path: PathBuf,
    pub iptables: bool,
}

impl Loaded {
    /// `--confirm` keeps the policy text for rollback and boot: it needs a statewall policy.
    pub fn require_toml_for_confirm(&self) -> Result<(), CliError> {
        if !self.iptables {
            return Ok(());
        }
        Err(CliError::usage(format!(
            "--confirm keeps the policy text for rollback and boot, so it needs a statewall policy: run `statewall import {} > policy.toml`, review it, and use that",
            self.path.display()
        )))
    }
}

fn read(path: &Path) -> Result<String, CliError> {
    std::fs::read_to_string(path).map_err(|e| {
        let hint = if path == Path::new(DEFAULT_POLICY) {
            " (no policy given: pass a file, e.g. `statewall check examples/web-and-mail.toml`)"
        } else {
            ""
        };
        CliError::invalid(format!("cannot read {}: {e}{hint}", path.display()))
    })
}

/// Writes diagnostic blocks to stderr one at a time (no one string holds them all).
fn eprint_blocks(blocks: impl Iterator<Item = String>) {
    for b in blocks {
        eprint!("{b}");
    }
}

/// Reads and validates the policy at `path` (default `/etc/statewall/policy.toml`).
pub fn load(path: Option<&Path>, opts: &ImportOpts) -> Result<Loaded, CliError> {
    let path = path
        .map(Path::to_path_buf)
        .unwrap_or_else(|| PathBuf::from(DEFAULT_POLICY));
    let src = read(&path)?;
    let iptables = match opts.format.as_deref() {
        Some(f) => f == "iptables",
        None => import::looks_like_iptables(&src),
    };
    if iptables {
        let i = imported(&path, &src, opts)?;
        return Ok(Loaded {
            validated: Validated {
                policy: i.policy,
                text: i.toml,
                files: BTreeMap::new(),
                source: path.display().to_string(),
            },
            path,
            iptables: true,
        });
    }
    // `from_file` lists are read here, at the edge, relative to the policy's folder; what
    // was read is kept, so that a rollback or a boot compiles the same lists without them
    let dir = path.parent().map(Path::to_path_buf).unwrap_or_default();
    let files = RefCell::new(BTreeMap::new());
    let loader = |name: &str| -> Result<(String, String), String> {
        let p = dir.join(name);
        let text = std::fs::read_to_string(&p).map_err(|e| e.to_string())?;
        files.borrow_mut().insert(name.to_string(), text.clone());
        Ok((p.display().to_string(), text))
    };
    let (policy, diags) = policy::parse_with(&src, &loader);
    let name = path.display().to_string();
    eprint_blocks(diags.blocks(&name, &src));
    match policy {
        Some(policy) if !diags.has_errors() => Ok(Loaded {
            validated: Validated {
                policy,
                text: src,
                files: files.into_inner(),
                source: path.display().to_string(),
            },
            path,
            iptables: false,
        }),
        _ => {
            let n = diags.errors();
            Err(CliError::invalid(format!(
                "{}: {} error{}; nothing was sent to the kernel",
                path.display(),
                crate::core::diag::thousands(n),
                if n == 1 { "" } else { "s" }
            )))
        }
    }
}

/// Imports an iptables-save file (and the `--ipv6` one); problems and notes go to stderr.
pub fn imported(path: &Path, src: &str, opts: &ImportOpts) -> Result<import::Imported, CliError> {
    use import::{Input, Ipv6};
    let src6 = match &opts.ipv6 {
        Some(p6) => Some((p6.clone(), read(p6)?)),
        None => None,
    };
    let mode = match (&src6, opts.mirror_ipv6) {
        (Some(_), true) => {
            return Err(CliError::usage(
                "--ipv6 FILE6 and --mirror-ipv6 exclude each other: the IPv6 file, or the IPv4 meaning mirrored",
            ));
        }
        (Some(_), false) => Ipv6::File,
        (None, true) => Ipv6::Mirror,
        (None, false) => Ipv6::Unspecified,
    };
    match import::import(src, src6.as_ref().map(|(_, s)| s.as_str()), mode) {
        Ok(i) => {
            for n in &i.notes {
                eprintln!("note: {}", diag::shorten(n, diag::TEXT_MAX));
            }
            Ok(i)
        }
        Err(problems) => {
            let name4 = path.display().to_string();
            let name6 = src6.as_ref().map(|(p6, _)| p6.display().to_string());
            let blocks = problems
                .iter()
                .map(|(input, d)| match (input, &src6, &name6) {
                    (Input::V6, Some((_, s6)), Some(n6)) => d.render(n6, s6),
                    _ => d.render(&name4, src),
                });
            let blocks = blocks
                .enumerate()
                .map(|(k, b)| if k > 0 { format!("\n{b}") } else { b })
                .chain(problems.summary().map(|s| format!("\n{s}")));
            eprint_blocks(blocks);
            let n = problems.len();
            Err(CliError::invalid(format!(
                "{}: {} problem{} importing it; nothing was imported or sent to the kernel",
                path.display(),
                diag::thousands(n),
                if n == 1 { "" } else { "s" }
            )))
        }
    }
}
