//! `cargo xtask dist`: the one static binary for minimal containers, and the proof that it
//! needs nothing else: it applies, reads back and removes a policy from a root directory
//! that holds only itself and the policy (no libc, no /proc, no nft), in a namespace this
//! command creates and deletes.

use std::path::{Path, PathBuf};
use std::process::Command;

use crate::util::{self, Result};

/// The host target triple (`rustc -vV`).
fn host_triple() -> Result<String> {
    let (status, out, err) = util::run_capture(Command::new("rustc").arg("-vV"))?;
    if !status.success() {
        return Err(format!("rustc -vV failed: {}", err.trim()));
    }
    out.lines()
        .find_map(|l| l.strip_prefix("host: "))
        .map(str::to_string)
        .ok_or_else(|| "rustc -vV printed no host triple".into())
}

/// Whether an ELF file asks for a program interpreter (PT_INTERP): a dynamic executable.
fn has_interpreter(elf: &[u8]) -> Result<bool> {
    if elf.len() < 64 || &elf[..4] != b"\x7fELF" || elf[4] != 2 {
        return Err("not a 64-bit ELF file".into());
    }
    let u16_at = |o: usize| u16::from_le_bytes([elf[o], elf[o + 1]]) as usize;
    let phoff = u64::from_le_bytes(elf[0x20..0x28].try_into().unwrap()) as usize;
    let (phentsize, phnum) = (u16_at(0x36), u16_at(0x38));
    for i in 0..phnum {
        let o = phoff + i * phentsize;
        let ty = elf.get(o..o + 4).ok_or("truncated program headers")?;
        if u32::from_le_bytes(ty.try_into().unwrap()) == 3 {
            return Ok(true);
        }
    }
    Ok(false)
}

/// Deletes the smoke test's namespace and root directory, also on failure.
struct Cleanup {
    netns: String,
    root: PathBuf,
}

impl Drop for Cleanup {
    fn drop(&mut self) {
        let _ = Command::new("ip")
            .args(["netns", "del", &self.netns])
            .status();
        let _ = std::fs::remove_dir_all(&self.root);
    }
}

fn in_empty_root(netns: &str, root: &Path, args: &[&str]) -> Result<String> {
    let mut cmd = Command::new("ip");
    cmd.args(["netns", "exec", netns, "chroot"])
        .arg(root)
        .arg("/statewall")
        .args(args);
    let line = util::display_command(&cmd);
    let (status, out, err) = util::run_capture(&mut cmd)?;
    println!("$ {line}\n{}", out.trim_end());
    if !status.success() {
        return Err(format!("`{line}` failed: {}", err.trim()));
    }
    Ok(out)
}

pub fn run() -> Result {
    let triple = host_triple()?;
    let mut build = Command::new(util::cargo());
    build
        .args([
            "build",
            "--release",
            "--package",
            "statewall",
            "--target",
            &triple,
        ])
        .env("RUSTFLAGS", "-C target-feature=+crt-static")
        .current_dir(util::repo_root());
    util::run_ok(&mut build)?;
    let built = util::repo_root()
        .join("target")
        .join(&triple)
        .join("release/statewall");
    let bytes = std::fs::read(&built).map_err(|e| format!("{}: {e}", built.display()))?;
    if has_interpreter(&bytes)? {
        return Err(format!("{} is dynamically linked", built.display()));
    }
    let dist = util::repo_root().join("target/dist");
    std::fs::create_dir_all(&dist).map_err(|e| format!("{}: {e}", dist.display()))?;
    let out = dist.join("statewall");
    std::fs::copy(&built, &out).map_err(|e| format!("{}: {e}", out.display()))?;
    println!(
        "static binary: {} ({:.1} MiB, no program interpreter)",
        out.display(),
        bytes.len() as f64 / (1024.0 * 1024.0)
    );
    #[cfg(feature = "lib")]
    let deb = {
        let docs = crate::package::docs(&dist)?;
        for (f, _) in &docs {
            println!("made {}", f.display());
        }
        crate::package::deb(&dist, &out, &docs)?
    };

    if !util::is_root() {
        println!("(not root: the empty-root smoke test and the package install are skipped)");
        return Ok(());
    }
    #[cfg(feature = "lib")]
    crate::package::prove(&deb)?;
    let pid = std::process::id();
    let cleanup = Cleanup {
        netns: format!("sw-dist-{pid}"),
        root: std::env::temp_dir().join(format!("sw-dist-root-{pid}")),
    };
    std::fs::create_dir_all(&cleanup.root).map_err(|e| e.to_string())?;
    std::fs::copy(&out, cleanup.root.join("statewall")).map_err(|e| e.to_string())?;
    std::fs::copy(
        util::repo_root().join("examples/web-and-mail.toml"),
        cleanup.root.join("policy.toml"),
    )
    .map_err(|e| e.to_string())?;
    util::run_ok(Command::new("ip").args(["netns", "add", &cleanup.netns]))?;
    println!(
        "smoke test in an empty root (only the binary and the policy), in {}:",
        cleanup.netns
    );
    in_empty_root(&cleanup.netns, &cleanup.root, &["apply", "/policy.toml"])?;
    let status = in_empty_root(&cleanup.netns, &cleanup.root, &["status"])?;
    if !status.contains("drift: none") || !status.contains("final") {
        return Err("status in the empty root did not show the applied table".into());
    }
    in_empty_root(&cleanup.netns, &cleanup.root, &["remove"])?;
    drop(cleanup);
    println!("dist: the static binary applies, reads back and removes with nothing else present");
    Ok(())
}

#[cfg(test)]
mod tests {
    #[test]
    fn a_dynamic_executable_has_an_interpreter() {
        let me = std::fs::read(std::env::current_exe().unwrap()).unwrap();
        // the test binary itself is dynamically linked on this toolchain's default target
        assert!(super::has_interpreter(&me).unwrap());
        assert!(super::has_interpreter(b"not an elf").is_err());
    }
}
