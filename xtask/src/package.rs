//! The parts of `cargo xtask dist` around the static binary: bash, zsh and fish completions
//! and the man page, made from statewall's own clap definitions, and a `.deb` that holds the
//! binary, them and the systemd unit. As root it installs the `.deb`, runs `statewall
//! --version` from it, and removes it again.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::Command;

use crate::util::{self, Result};

fn write(path: &Path, bytes: &[u8]) -> Result {
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    }
    std::fs::write(path, bytes).map_err(|e| format!("{}: {e}", path.display()))
}

/// Completions for bash, zsh and fish, and `statewall.8`, into `dir`.
pub fn docs(dir: &Path) -> Result<Vec<(PathBuf, &'static str)>> {
    use clap_complete::Shell;
    let mut made = Vec::new();
    for (shell, name, installed) in [
        (
            Shell::Bash,
            "statewall.bash",
            "usr/share/bash-completion/completions/statewall",
        ),
        (
            Shell::Zsh,
            "_statewall",
            "usr/share/zsh/vendor-completions/_statewall",
        ),
        (
            Shell::Fish,
            "statewall.fish",
            "usr/share/fish/vendor_completions.d/statewall.fish",
        ),
    ] {
        let mut cmd = statewall::cli::command();
        let mut out = Vec::new();
        clap_complete::generate(shell, &mut cmd, "statewall", &mut out);
        let path = dir.join("completions").join(name);
        write(&path, &out)?;
        made.push((path, installed));
    }
    let mut man = Vec::new();
    clap_mangen::Man::new(statewall::cli::command())
        .section("8")
        .render(&mut man)
        .map_err(|e| format!("man page: {e}"))?;
    let path = dir.join("statewall.8");
    write(&path, &man)?;
    made.push((path, "usr/share/man/man8/statewall.8"));
    Ok(made)
}

fn capture(words: &[&str]) -> Result<String> {
    let (status, out, err) = util::run_capture(Command::new(words[0]).args(&words[1..]))?;
    if status.success() {
        Ok(out.trim().to_string())
    } else {
        Err(format!("`{}`: {}", words.join(" "), err.trim()))
    }
}

/// `target/dist/statewall_<version>_<arch>.deb`: the static binary as /usr/sbin/statewall,
/// the man page, the completions, the systemd unit (not enabled) and the copyright.
pub fn deb(dist: &Path, binary: &Path, docs: &[(PathBuf, &'static str)]) -> Result<PathBuf> {
    let version = env!("CARGO_PKG_VERSION");
    let arch = capture(&["dpkg", "--print-architecture"])?;
    let root = dist.join(format!("deb/statewall_{version}_{arch}"));
    let _ = std::fs::remove_dir_all(&root);
    let bin = root.join("usr/sbin/statewall");
    write(&bin, &std::fs::read(binary).map_err(|e| e.to_string())?)?;
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&bin, std::fs::Permissions::from_mode(0o755))
        .map_err(|e| e.to_string())?;
    for (file, installed) in docs {
        let bytes = std::fs::read(file).map_err(|e| e.to_string())?;
        if installed.ends_with(".8") {
            // man pages are gzipped, without a timestamp (reproducible)
            let gz = root.join(format!("{installed}.gz"));
            write(&gz, &[])?;
            let status = Command::new("gzip")
                .args(["-9n", "-c"])
                .arg(file)
                .stdout(std::fs::File::create(&gz).map_err(|e| e.to_string())?)
                .status()
                .map_err(|e| format!("gzip: {e}"))?;
            if !status.success() {
                return Err("gzip failed".into());
            }
        } else {
            write(&root.join(installed), &bytes)?;
        }
    }
    write(
        &root.join("lib/systemd/system/statewall.service"),
        statewall::core::rollout::systemd_unit(
            "/usr/sbin/statewall",
            "/var/lib/statewall",
            "statewall",
        )
        .as_bytes(),
    )?;
    write(
        &root.join("usr/share/doc/statewall/copyright"),
        b"statewall: a netlink-native stateful firewall manager.\n\
          License: GPL-3.0-or-later (see /usr/share/common-licenses/GPL-3).\n\
          It includes the rustables crate (GPL-3.0-or-later).\n",
    )?;
    let size_kib = dir_size(&root) / 1024 + 1;
    let mut control = Vec::new();
    let _ = write!(
        control,
        "Package: statewall\n\
         Version: {version}\n\
         Architecture: {arch}\n\
         Maintainer: statewall developers <statewall@localhost>\n\
         Section: net\n\
         Priority: optional\n\
         Installed-Size: {size_kib}\n\
         Description: netlink-native stateful firewall manager\n \
         A short policy file becomes the classic stateful nf_tables chain, committed in\n \
         one atomic netlink batch; per-rule counters come back over netlink. One static\n \
         binary; it never runs nft, iptables or a shell.\n"
    );
    write(&root.join("DEBIAN/control"), &control)?;
    let deb = dist.join(format!("statewall_{version}_{arch}.deb"));
    capture(&[
        "dpkg-deb",
        "--root-owner-group",
        "--build",
        root.to_str().ok_or("path")?,
        deb.to_str().ok_or("path")?,
    ])?;
    println!("package: {}", deb.display());
    Ok(deb)
}

fn dir_size(dir: &Path) -> u64 {
    std::fs::read_dir(dir)
        .into_iter()
        .flatten()
        .flatten()
        .map(|e| {
            let p = e.path();
            if p.is_dir() {
                dir_size(&p)
            } else {
                e.metadata().map(|m| m.len()).unwrap_or(0)
            }
        })
        .sum()
}

/// As root: installs the package, checks what it put in place and what `statewall
/// --version` says, and removes it again (nothing is left installed).
pub fn prove(deb: &Path) -> Result {
    capture(&["dpkg", "-i", deb.to_str().ok_or("path")?])?;
    let result = (|| {
        let version = capture(&["/usr/sbin/statewall", "--version"])?;
        println!("$ statewall --version (installed from the package)\n{version}");
        let want = format!("statewall {} (commit ", env!("CARGO_PKG_VERSION"));
        if !version.starts_with(&want) || version.contains("commit unknown") {
            return Err(format!(
                "--version says {version:?}: expected the version and the commit"
            ));
        }
        for f in [
            "/usr/share/man/man8/statewall.8.gz",
            "/usr/share/bash-completion/completions/statewall",
            "/usr/share/zsh/vendor-completions/_statewall",
            "/usr/share/fish/vendor_completions.d/statewall.fish",
            "/lib/systemd/system/statewall.service",
        ] {
            if !Path::new(f).exists() {
                return Err(format!("the package did not install {f}"));
            }
        }
        Ok(())
    })();
    let removed = capture(&["dpkg", "--purge", "statewall"]);
    result?;
    removed?;
    println!("package: installed, `statewall --version` answered, removed again");
    Ok(())
}
