//! Tidy: the architecture invariants that a reading of the source can check (docs/ARCHITECTURE.md
//! names each). Pure: reads `src/`, needs no root.
//!
//! - layers point one way: core ← codec ← system ← cli (a layer names only itself and the
//!   layers to its left);
//! - core and codec do no I/O, read no clock, start nothing and print nothing;
//! - only the CLI prints;
//! - no file over 1,000 lines and no function over 150, but for the allow-list below, each
//!   with its reason.

use std::path::{Path, PathBuf};

const LAYERS: [&str; 4] = ["core", "codec", "system", "cli"];

/// Files allowed past 1,000 lines, and why.
const LONG_FILES: &[(&str, &str)] = &[];

/// Functions allowed past 150 lines (`file::name`), and why.
const LONG_FUNCTIONS: &[(&str, &str)] = &[];

/// What core and codec may not name: the world.
const WORLD: &[&str] = &[
    "std::fs",
    "std::process",
    "std::net::TcpStream",
    "std::net::TcpListener",
    "std::net::UdpSocket",
    "std::env",
    "SystemTime",
    "Instant::now",
    "std::thread::sleep",
    "File::open",
    "OpenOptions",
];

/// What only the CLI may do: print.
const PRINTS: &[&str] = &["println!", "print!(", "eprintln!", "eprint!("];

fn src() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("src")
}

/// Every `.rs` file under `src/`, as (path relative to `src/`, path).
fn src_files() -> Vec<(String, PathBuf)> {
    let mut files = Vec::new();
    rust_files(&src(), &mut files);
    files.sort();
    files
        .into_iter()
        .map(|f| {
            (
                f.strip_prefix(src())
                    .unwrap()
                    .to_string_lossy()
                    .into_owned(),
                f,
            )
        })
        .collect()
}

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for e in std::fs::read_dir(dir).unwrap().flatten() {
        let p = e.path();
        if p.is_dir() {
            rust_files(&p, out);
        } else if p.extension().is_some_and(|x| x == "rs") {
            out.push(p);
        }
    }
}

/// (path relative to src, layer, text without unit tests and comments)
fn sources() -> Vec<(String, &'static str, String)> {
    let mut out = Vec::new();
    for (rel, f) in src_files() {
        let Some(layer) = LAYERS.iter().find(|l| rel.starts_with(&format!("{l}/"))) else {
            continue; // lib.rs, main.rs
        };
        let text = std::fs::read_to_string(&f).unwrap();
        out.push((rel, *layer, code_only(&text)));
    }
    out
}

/// The text without `#[cfg(test)]` modules and `//` comments (what the product runs).
fn code_only(text: &str) -> String {
    let mut out = String::new();
    let mut skip_until: Option<String> = None;
    let mut lines = text.lines().peekable();
    while let Some(line) = lines.next() {
        if let Some(end) = &skip_until {
            if line == end {
                skip_until = None;
            }
            continue;
        }
        let trimmed = line.trim_start();
        if trimmed == "#[cfg(test)]"
            && lines
                .peek()
                .is_some_and(|n| n.trim_start().starts_with("mod "))
        {
            let indent = &line[..line.len() - trimmed.len()];
            let next = lines.next().unwrap();
            if !next.trim_end().ends_with(';') {
                skip_until = Some(format!("{indent}}}"));
            }
            continue;
        }
        let code = match line.find("//") {
            Some(i) if !line[..i].contains('"') => &line[..i],
            _ => line,
        };
        out.push_str(code);
        out.push('\n');
    }
    out
}

#[test]
fn layers_point_one_way() {
    let mut bad = Vec::new();
    for (rel, layer, text) in sources() {
        let rank = LAYERS.iter().position(|l| *l == layer).unwrap();
        for higher in LAYERS.iter().skip(rank + 1) {
            if text.contains(&format!("crate::{higher}::"))
                || text.contains(&format!("crate::{higher}}}"))
                || text.contains(&format!("crate::{{{higher}"))
            {
                bad.push(format!("{rel} ({layer}) names the {higher} layer"));
            }
        }
    }
    assert!(bad.is_empty(), "upward imports:\n{}", bad.join("\n"));
}

#[test]
fn core_and_codec_touch_nothing_and_only_the_cli_prints() {
    let mut bad = Vec::new();
    for (rel, layer, text) in sources() {
        if layer == "core" || layer == "codec" {
            for w in WORLD {
                if text.contains(w) {
                    bad.push(format!("{rel}: {w}"));
                }
            }
        }
        if layer != "cli" {
            for p in PRINTS {
                if text.contains(p) {
                    bad.push(format!("{rel}: {p}"));
                }
            }
        }
    }
    assert!(bad.is_empty(), "I/O outside its layer:\n{}", bad.join("\n"));
}

/// (name, first line, length) of every function in `text`, by rustfmt's layout: a `fn`
/// line and the first line after it that closes at the same indentation.
fn functions(text: &str) -> Vec<(String, usize, usize)> {
    let lines: Vec<&str> = text.lines().collect();
    let mut out = Vec::new();
    for (i, line) in lines.iter().enumerate() {
        let t = line.trim_start();
        let indent = &line[..line.len() - t.len()];
        let after = ["pub ", "pub(crate) ", "pub(super) ", "const ", "unsafe "]
            .iter()
            .fold(t, |t, p| t.strip_prefix(p).unwrap_or(t));
        let Some(rest) = after.strip_prefix("fn ") else {
            continue;
        };
        let name: String = rest
            .chars()
            .take_while(|c| c.is_alphanumeric() || *c == '_')
            .collect();
        let close = format!("{indent}}}");
        if let Some(end) = lines[i..].iter().position(|l| *l == close) {
            out.push((name, i + 1, end + 1));
        }
    }
    out
}

#[test]
fn no_giant_files_or_functions() {
    let mut bad = Vec::new();
    for (rel, f) in src_files() {
        let text = std::fs::read_to_string(&f).unwrap();
        let n = text.lines().count();
        if n > 1000 && !LONG_FILES.iter().any(|(p, _)| *p == rel) {
            bad.push(format!("{rel}: {n} lines (at most 1,000)"));
        }
        for (name, line, len) in functions(&text) {
            let key = format!("{rel}::{name}");
            if len > 150 && !LONG_FUNCTIONS.iter().any(|(k, _)| *k == key) {
                bad.push(format!("{rel}:{line} fn {name}: {len} lines (at most 150)"));
            }
        }
    }
    assert!(bad.is_empty(), "too big:\n{}", bad.join("\n"));
}

#[test]
fn the_tidy_checks_see_what_they_look_for() {
    // the checks must be able to fail: each finds its target in a sample
    let sample = "use crate::cli::x;\nfn f() {\n    println!(\"x\");\n}\n#[cfg(test)]\nmod tests {\n    fn t() {}\n}\n";
    let code = code_only(sample);
    assert!(code.contains("crate::cli::"));
    assert!(code.contains("println!"));
    assert!(!code.contains("fn t()"), "unit tests are left out");
    let long = format!("fn big() {{\n{}}}\n", "    x();\n".repeat(200));
    assert_eq!(functions(&long), vec![("big".to_string(), 1, 202)]);
}
