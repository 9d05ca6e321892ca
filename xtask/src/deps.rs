//! `cargo xtask deps`: make sure the system packages the build and the tests need are there.

use std::path::Path;
use std::process::Command;

use crate::util::{self, Result};

struct Requirement {
    /// What is checked, for the message.
    what: &'static str,
    /// Why the project needs it.
    why: &'static str,
    /// The Debian package that provides it (only missing ones are installed, so that packages
    /// already present are not upgraded as a side effect).
    package: &'static str,
    present: fn() -> bool,
}

const REQUIREMENTS: &[Requirement] = &[
    Requirement {
        what: "libclang (libclang.so)",
        why: "rustables runs bindgen at build time",
        package: "libclang-dev",
        present: libclang_present,
    },
    Requirement {
        what: "kernel headers (/usr/include/linux/netfilter/nf_tables.h)",
        why: "rustables' bindgen input",
        package: "linux-libc-dev",
        present: nf_tables_header_present,
    },
    Requirement {
        what: "nft",
        why: "tests read the ruleset back with nft as an oracle",
        package: "nftables",
        present: || util::find_program("nft").is_some(),
    },
    Requirement {
        what: "iptables",
        why: "the tests need it (iptables-nft next to statewall's table)",
        package: "iptables",
        present: || util::find_program("iptables").is_some(),
    },
    Requirement {
        what: "ip",
        why: "tests and the demo create namespaces and veth pairs",
        package: "iproute2",
        present: || util::find_program("ip").is_some(),
    },
    Requirement {
        what: "ping",
        why: "traffic tests ping across the veth pair",
        package: "iputils-ping",
        present: || util::find_program("ping").is_some(),
    },
    Requirement {
        what: "sysctl",
        why: "tests may tune per-namespace sysctls",
        package: "procps",
        present: || util::find_program("sysctl").is_some(),
    },
    Requirement {
        what: "sshd",
        why: "a rollout test runs a real sshd inside a test namespace (confirm's proof, boot's fallback)",
        package: "openssh-server",
        present: || Path::new("/usr/sbin/sshd").exists(),
    },
    Requirement {
        what: "systemd-analyze",
        why: "a test verifies statewall's systemd unit (the package installs without booting systemd)",
        package: "systemd",
        present: || util::find_program("systemd-analyze").is_some(),
    },
];

fn libclang_present() -> bool {
    // clang-sys honours LIBCLANG_PATH first.
    if let Some(dir) = std::env::var_os("LIBCLANG_PATH")
        && dir_has_libclang(Path::new(&dir))
    {
        return true;
    }
    // The unversioned libclang.so symlink is what the -dev package adds (the runtime package
    // only has libclang.so.1), and with it come the clang builtin headers bindgen needs.
    let mut dirs = vec![
        Path::new("/usr/lib").to_path_buf(),
        Path::new("/usr/lib64").to_path_buf(),
        Path::new("/usr/local/lib").to_path_buf(),
    ];
    for parent in ["/usr/lib", "/usr/lib64"] {
        if let Ok(entries) = std::fs::read_dir(parent) {
            for entry in entries.flatten() {
                let name = entry.file_name();
                let name = name.to_string_lossy();
                if name.starts_with("llvm-") {
                    dirs.push(entry.path().join("lib"));
                } else if name.ends_with("-linux-gnu") {
                    dirs.push(entry.path());
                }
            }
        }
    }
    dirs.iter().any(|d| dir_has_libclang(d))
}

fn dir_has_libclang(dir: &Path) -> bool {
    dir.join("libclang.so").exists()
}

fn nf_tables_header_present() -> bool {
    Path::new("/usr/include/linux/netfilter/nf_tables.h").exists()
}

fn install_command(packages: &[&str]) -> String {
    format!(
        "apt-get update && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends {}",
        packages.join(" ")
    )
}

/// Returns the unmet requirements.
fn missing() -> Vec<&'static Requirement> {
    REQUIREMENTS.iter().filter(|r| !(r.present)()).collect()
}

pub fn run() -> Result {
    let missing_now = missing();
    if missing_now.is_empty() {
        eprintln!(
            "deps: all present (libclang, kernel headers, nft, iptables, ip, ping, sysctl, sshd, systemd-analyze)"
        );
        return Ok(());
    }
    eprintln!("deps: missing:");
    for r in &missing_now {
        eprintln!("  - {} ({}) -> package {}", r.what, r.why, r.package);
    }
    let mut packages: Vec<&str> = Vec::new();
    for r in &missing_now {
        if !packages.contains(&r.package) {
            packages.push(r.package);
        }
    }
    if !util::is_root() {
        return Err(format!(
            "installing system packages needs root; run as root:\n    {}",
            install_command(&packages)
        ));
    }
    if util::find_program("apt-get").is_none() {
        return Err(format!(
            "apt-get not found: install the equivalents of these Debian packages by hand: {}",
            packages.join(" ")
        ));
    }
    eprintln!("deps: installing with apt-get: {}", packages.join(" "));
    util::run_ok(Command::new("apt-get").arg("update"))?;
    util::run_ok(
        Command::new("apt-get")
            .env("DEBIAN_FRONTEND", "noninteractive")
            .args(["install", "-y", "--no-install-recommends"])
            .args(&packages),
    )?;
    let still = missing();
    if !still.is_empty() {
        let names: Vec<&str> = still.iter().map(|r| r.what).collect();
        return Err(format!(
            "still missing after apt-get install: {}",
            names.join(", ")
        ));
    }
    eprintln!("deps: all present now");
    Ok(())
}
