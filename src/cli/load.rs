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

pub use crate::core::policy::POLICY_MAX;
/// The largest `from_file` list read: a million networks, one per line, with comments.
pub const LIST_MAX: u64 = 64 << 20;
/// The largest iptables-save file read (for `import`, `--ipv6`, and a `check`, `plan` or
/// `apply` of an iptables-save file): some 150,000 rules, of which an import takes at most
/// 50,000 (a policy of more is more than [`POLICY_MAX`]).
pub const IMPORT_MAX: u64 = 16 << 20;

/// The text of the regular file at `path`, read with a bound: refused when it is not a
/// regular file (a device, a FIFO, a socket, a directory: each could block or never end), is
/// larger than `max` bytes (at most `max` + 1 are read, so a file that grows is still
/// bounded), or is not UTF-8. The error names why (`what` says what the file is for, with
/// its article: "a from_file list"); the caller names the file.
pub fn read_bounded(path: &Path, max: u64, what: &str) -> Result<String, String> {
    let bytes = read_bounded_bytes(path, max, what)?;
    String::from_utf8(bytes).map_err(|e| not_utf8(e.utf8_error().valid_up_to(), what))
}

/// Why a text is not read: the offset of its first byte that is not UTF-8.
pub(super) fn not_utf8(at: usize, what: &str) -> String {
    format!("it is not UTF-8 text (byte {at} is not); is it really {what}?")
}

/// [`read_bounded`]'s bytes, before they are taken as UTF-8.
fn read_bounded_bytes(path: &Path, max: u64, what: &str) -> Result<Vec<u8>, String> {
    use std::io::Read;
    use std::os::unix::fs::{FileTypeExt, OpenOptionsExt};

    let kind = |t: std::fs::FileType| {
        if t.is_dir() {
            "a directory"
        } else if t.is_fifo() {
            "a FIFO (named pipe)"
        } else if t.is_socket() {
            "a socket"
        } else if t.is_char_device() {
            "a character device"
        } else if t.is_block_device() {
            "a block device"
        } else {
            "not a regular file"
        }
    };
    let not_regular = |t| {
        format!(
            "it is {}, not a regular file (statewall reads {what} only from a regular file)",
            kind(t)
        )
    };
    // before opening: opening a device or a FIFO can block, or do something
    let meta = std::fs::metadata(path).map_err(|e| e.to_string())?;
    if !meta.file_type().is_file() {
        return Err(not_regular(meta.file_type()));
    }
    let file = std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NONBLOCK | libc::O_NOCTTY)
        .open(path)
        .map_err(|e| e.to_string())?;
    // and what was opened (the path may have been replaced in between)
    let meta = file.metadata().map_err(|e| e.to_string())?;
    if !meta.file_type().is_file() {
        return Err(not_regular(meta.file_type()));
    }
    let too_big = |n: u64| {
        format!(
            "it is larger than {} MiB{n}, the limit for {what}",
            max >> 20,
            n = if n > max {
                format!(" ({} bytes)", crate::core::diag::thousands(n as usize))
            } else {
                String::new()
            }
        )
    };
    if meta.len() > max {
        return Err(too_big(meta.len()));
    }
    // sized once: a 100,000-line list is read without growing (and copying) the buffer
    let mut bytes = Vec::with_capacity(meta.len() as usize + 1);
    file.take(max + 1)
        .read_to_end(&mut bytes)
        .map_err(|e| e.to_string())?;
    if bytes.len() as u64 > max {
        return Err(too_big(0));
    }
    Ok(bytes)
}

/// A file that may be an iptables-save file, read with [`read_bounded`]'s bounds: one that is
/// not UTF-8 is still read when it looks like iptables-save text and every byte that is not
/// UTF-8 is in a comment (`import::decode_comments`; each such line noted); a byte anywhere
/// else is refused at its line and column.
pub fn read_iptables(path: &Path, max: u64, what: &str) -> Result<String, CliError> {
    let named = |e: String| {
        let hint = if path == Path::new(DEFAULT_POLICY) {
            " (no policy given: pass a file, e.g. `statewall check examples/web-and-mail.toml`)"
        } else {
            ""
        };
        CliError::invalid(format!("cannot read {}: {e}{hint}", path.display()))
    };
    let bytes = read_bounded_bytes(path, max, what).map_err(named)?;
    let bytes = match String::from_utf8(bytes) {
        Ok(text) => return Ok(text),
        Err(e) => e,
    };
    let at = bytes.utf8_error().valid_up_to();
    let bytes = bytes.into_bytes();
    if !import::looks_like_iptables(&String::from_utf8_lossy(&bytes)) {
        return Err(named(not_utf8(at, what)));
    }
    let name = path.display().to_string();
    match import::decode_comments(&bytes) {
        Ok((text, lines)) => {
            let shown: Vec<String> = lines.iter().take(8).map(|l| l.to_string()).collect();
            let more = lines.len().saturating_sub(shown.len());
            eprintln!(
                "note: {name}: line{} {}{}: bytes of a comment that are not UTF-8 are read as U+FFFD (iptables-restore reads them as bytes)",
                if lines.len() == 1 { "" } else { "s" },
                shown.join(", "),
                if more > 0 {
                    format!(" and {more} more")
                } else {
                    String::new()
                }
            );
            Ok(text)
        }
        Err((text, off)) => {
            let d = diag::Diagnostic::error(off..off + 3, &text, "bytes that are not UTF-8, outside a comment")
                .with_help("statewall reads names, addresses and options as UTF-8 text (a comment may be in another encoding): write this word in ASCII, or convert the file (iconv -f GBK -t UTF-8)");
            eprint_blocks(std::iter::once(d.render(&name, &text)));
            Err(CliError::invalid(format!(
                "{name}: 1 problem reading it; nothing was imported or sent to the kernel"
            )))
        }
    }
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
    // read up to the larger limit, then hold a statewall policy to its own
    let src = read_iptables(&path, IMPORT_MAX, "a policy or iptables-save file")?;
    let iptables = match opts.format.as_deref() {
        Some(f) => f == "iptables",
        None => import::looks_like_iptables(&src),
    };
    // the IPv6 file and the mirror are ways to read an iptables-save file: a statewall
    // policy says its IPv6 itself, and the flag would be ignored without a word
    if !iptables && (opts.ipv6.is_some() || opts.mirror_ipv6) {
        let flag = if opts.ipv6.is_some() {
            "--ipv6 FILE6"
        } else {
            "--mirror-ipv6"
        };
        return Err(CliError::usage(format!(
            "{flag} reads an iptables-save file, and {} is a statewall policy, which says its IPv6 itself (addresses of both families, ICMPv6 in its baseline): leave {flag} out",
            path.display()
        )));
    }
    if !iptables && src.len() as u64 > POLICY_MAX {
        return Err(CliError::invalid(format!(
            "cannot read {}: it is larger than {} MiB ({} bytes), the limit for a policy file (long source lists belong in from_file lists)",
            path.display(),
            POLICY_MAX >> 20,
            crate::core::diag::thousands(src.len())
        )));
    }
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
    let loader = |name: &str| -> Result<std::sync::Arc<(String, String)>, String> {
        let p = dir.join(name);
        let text = read_bounded(&p, LIST_MAX, "a from_file list")?;
        // shared with the parser, not copied: a list may be megabytes
        let list = std::sync::Arc::new((p.display().to_string(), text));
        files.borrow_mut().insert(name.to_string(), list.clone());
        Ok(list)
    };
    let (policy, diags) = policy::parse_with(&src, &loader);
    let name = path.display().to_string();
    eprint_blocks(diags.blocks(&name, &src));
    if src.lines().all(|l| {
        let t = l.trim_start_matches('\u{feff}').trim();
        t.is_empty() || t.starts_with('#')
    }) {
        // valid, and what `import … > policy.toml` leaves behind when the import failed
        eprintln!(
            "warning: {name} is empty (no setting, no entry): only the baseline gets in and the final rule drops everything else; did the command that wrote it fail?"
        );
    }
    let errors = diags.errors();
    // the diagnostics may point into a list: gone, the lists are the files' alone
    drop(diags);
    match policy {
        Some(policy) if errors == 0 => Ok(Loaded {
            validated: Validated {
                policy,
                text: src,
                files: files
                    .into_inner()
                    .into_iter()
                    .map(|(name, list)| {
                        let text = std::sync::Arc::try_unwrap(list)
                            .map(|(_, text)| text)
                            .unwrap_or_else(|shared| shared.1.clone());
                        (name, text)
                    })
                    .collect(),
                source: path.display().to_string(),
            },
            path,
            iptables: false,
        }),
        _ => {
            let n = errors;
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
/// The most of `/etc/services`, `/etc/passwd` and `/etc/group` read (Debian's services is
/// 13 KB).
const SERVICES_MAX: u64 = 1 << 20;

/// What port, user and group names mean on this host, as iptables-restore reads them
/// (`getservbyname` over `/etc/services`, `getpwnam` and `getgrnam` over `/etc/passwd` and
/// `/etc/group`); the built-in catalogue of ports where the services file cannot be read (a
/// minimal container), and no user or group names where theirs cannot.
fn host_services() -> crate::core::services::NameDb {
    use crate::core::services::NameDb;
    let db = match read_bounded(Path::new("/etc/services"), SERVICES_MAX, "a services file") {
        Ok(text) => NameDb::parse(&text),
        Err(why) => {
            tracing::debug!("/etc/services: {why}; port names as statewall's catalogue says");
            NameDb::builtin()
        }
    };
    let read = |path: &str| {
        read_bounded(Path::new(path), SERVICES_MAX, "a user or group file").unwrap_or_else(|why| {
            tracing::debug!("{path}: {why}; no names of it are known");
            String::new()
        })
    };
    db.with_ids(&read("/etc/passwd"), &read("/etc/group"))
        .with_protocols(&read("/etc/protocols"))
}

pub fn imported(path: &Path, src: &str, opts: &ImportOpts) -> Result<import::Imported, CliError> {
    use import::{Input, Ipv6};
    let src6 = match &opts.ipv6 {
        Some(p6) => Some((
            p6.clone(),
            read_iptables(p6, IMPORT_MAX, "an ip6tables-save file")?,
        )),
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
    let services = host_services();
    match import::import_with(src, src6.as_ref().map(|(_, s)| s.as_str()), mode, &services) {
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
            // the file (or files) the problems are in, those only counted too
            let [in4, in6] = problems.in_inputs();
            let (at, them) = match (&name6, in4, in6) {
                (Some(n6), false, true) => (n6.clone(), "it"),
                (Some(n6), true, true) => (format!("{name4} and {n6}"), "them"),
                _ => (name4.clone(), "it"),
            };
            eprint_blocks(blocks);
            let n = problems.len();
            Err(CliError::invalid(format!(
                "{at}: {} problem{} importing {them}; nothing was imported or sent to the kernel",
                diag::thousands(n),
                if n == 1 { "" } else { "s" }
            )))
        }
    }
}

/// Every rule of `plan` within the kernel's 128 expressions, or an error naming each that
/// is not: the kernel refuses the whole batch for one (EINVAL), so `check`, `plan`, `apply`
/// and `import` say so before anything is sent. `path` is the input; `imported`, for an
/// iptables-save file, the policy made of it (whose comments say the line each entry came
/// from) and, for `import`, the file's text, to show each such rule at its line as the
/// import's other problems are.
pub fn fits_the_kernel(
    plan: &crate::core::plan::Plan,
    path: &Path,
    imported: Option<(&str, Option<&str>)>,
) -> Result<(), CliError> {
    let input = path.display().to_string();
    if plan.sets.len() > PLAN_SETS_MAX {
        return Err(CliError::invalid(format!(
            "{input}: the policy makes {} kernel sets, more than {}\n  = help: {SETS_HELP}; nothing was sent to the kernel",
            diag::thousands(plan.sets.len()),
            diag::thousands(PLAN_SETS_MAX)
        )));
    }
    let over = crate::codec::encode::overlong_rules(plan);
    if over.is_empty() {
        return Ok(());
    }
    let max = crate::codec::encode::RULE_EXPRS_MAX;
    let mut msg = String::new();
    let mut blocks = Vec::new();
    // the first ones in full, as every other list of problems; each looks its line up in
    // the texts, so thousands would also take a scan each
    let shown = over.len().min(diag::SHOWN);
    for (what, n) in &over[..shown] {
        let said = format!("has {n} expressions, more than the {max} the kernel takes in one rule");
        // an imported file's: the iptables-save line, not the generated policy's
        let rule = what.split(" (policy line").next().unwrap_or(what);
        match imported.and_then(|(toml, src)| Some((entry_origin(toml, what)?, src))) {
            Some((l, Some(src))) => {
                let d =
                    diag::Diagnostic::error(line_span(src, l), src, format!("the {rule} {said}"))
                        .with_help(EXPRS_HELP);
                blocks.push(d.render(&input, src));
            }
            Some((l, None)) => msg.push_str(&format!("{input}:{l}: the {rule} {said}\n")),
            None => msg.push_str(&format!("{input}: the {what} {said}\n")),
        }
    }
    let more = (over.len() > shown).then(|| {
        format!(
            "… and {} more rules past the {max} expressions\n",
            diag::thousands(over.len() - shown)
        )
    });
    if !blocks.is_empty() {
        let n = over.len();
        eprint_blocks(
            blocks
                .into_iter()
                .enumerate()
                .map(|(k, b)| if k > 0 { format!("\n{b}") } else { b })
                .chain(more.map(|m| format!("\n{m}"))),
        );
        return Err(CliError::invalid(format!(
            "{input}: {} problem{} importing it; nothing was imported or sent to the kernel",
            diag::thousands(n),
            if n == 1 { "" } else { "s" }
        )));
    }
    if let Some(m) = more {
        msg.push_str(&m);
    }
    msg.push_str(&format!(
        "  = help: {EXPRS_HELP}; nothing was sent to the kernel"
    ));
    Err(CliError::invalid(msg))
}

/// The most sets a plan may make: the kernel finds a set by walking its table's sets by
/// name, once for every set statewall reads back or changes, so `apply`, `status` and
/// `remove` take time in the square of their number (measured in a namespace: 8,000 sets
/// about 2 s each, 16,000 about 8 s, 32,000 about 40 s).
pub const PLAN_SETS_MAX: usize = 8_000;

/// Which keys make sets, and what to do about a policy past [`PLAN_SETS_MAX`].
const SETS_HELP: &str = "the kernel finds a set by name in a list, so reading sets back takes time in the square of their number (16,000: about 8 s, 32,000: 40 s). Each `[[set]]` is two kernel sets (IPv4 and IPv6), and an entry makes one per family for a list of two or more networks or port ranges, for a per-source `limit` (its meter) and for per-source `connections`: name one `[[set]]` from several entries, give one entry several ports, or merge entries that share their sources";

/// What every `except_*` costs in a rule, and what to do about a rule past the limit.
const EXPRS_HELP: &str = "every `except_from`/`except_to` network (and every other exception) is a match of its own in the entry's rule, four or five expressions each: write fewer, wider exceptions, or split the entry so that each rule excepts fewer";

/// The byte span of line `line` (from 1) of `src`, without its line end.
fn line_span(src: &str, line: u32) -> std::ops::Range<usize> {
    let mut off = 0;
    for (k, l) in src.split_inclusive('\n').enumerate() {
        if k + 1 == line as usize {
            let t = l.trim_end_matches(['\n', '\r']);
            return off..off + t.len();
        }
        off += l.len();
    }
    off..off
}

/// The iptables-save line an imported entry came from: the `# from line N:` comment above
/// `name = "ENTRY"` in the imported policy, for the entry a rule's description names.
fn entry_origin(toml: &str, what: &str) -> Option<u32> {
    let name = what.split("(entry `").nth(1)?.split('`').next()?;
    let at = toml.find(&format!("\nname = \"{name}\"\n"))?;
    // the comments right above the entry's table header
    let line = toml[..at]
        .lines()
        .rev()
        .skip(1)
        .take_while(|l| l.starts_with('#'))
        .find(|l| l.starts_with("# from line "))?;
    line.trim_start_matches("# from line ")
        .split(':')
        .next()?
        .parse()
        .ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_imported_entry_is_found_by_the_line_it_came_from() {
        let toml = "mode = \"enforce\"\n\n# via line 7: -A INPUT -j NEG\n# from line 39: -A NEG -j ACCEPT\n[[allow]]\nname = \"state-new\"\nstate = [\"new\"]\n\n[[allow]]\nname = \"ssh\"\n";
        let what = |e: &str| format!("rule 4 of chain input (entry `{e}`) (policy line 6)");
        assert_eq!(entry_origin(toml, &what("state-new")), Some(39));
        // an entry with no `# from line` above it (statewall's own), or none of that name
        assert_eq!(entry_origin(toml, &what("ssh")), None);
        assert_eq!(entry_origin(toml, &what("web")), None);
    }

    #[test]
    fn only_regular_files_within_the_limit_are_read() {
        let dir = std::env::temp_dir().join(format!("statewall-read-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let at = |name: &str, bytes: &[u8]| {
            let p = dir.join(name);
            std::fs::write(&p, bytes).unwrap();
            p
        };
        let read = |p: &Path, max| read_bounded(p, max, "a test file");
        assert_eq!(
            read(&at("ok", b"mode = \"audit\"\n"), 15).unwrap(),
            "mode = \"audit\"\n"
        );
        assert_eq!(
            read(&at("big", b"mode = \"audit\"\n"), 14).unwrap_err(),
            "it is larger than 0 MiB (15 bytes), the limit for a test file"
        );
        assert!(
            read(&at("bin", b"a\xff"), 10)
                .unwrap_err()
                .starts_with("it is not UTF-8 text (byte 1 is not)")
        );
        let kinds = [
            (Path::new("/dev/null"), "a character device"),
            (dir.as_path(), "a directory"),
        ];
        for (p, kind) in kinds {
            assert_eq!(
                read(p, 10).unwrap_err(),
                format!(
                    "it is {kind}, not a regular file (statewall reads a test file only from a regular file)"
                )
            );
        }
        assert!(
            read(&dir.join("missing"), 10)
                .unwrap_err()
                .contains("No such file")
        );
        let _ = std::fs::remove_dir_all(&dir);
    }
}
