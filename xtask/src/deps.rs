//! `cargo xtask deps`: make sure the system packages the build and the tests need are there,
//! and the Python packages the tests use as oracles (in a venv under the target directory).

use std::path::{Path, PathBuf};
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
        what: "/etc/services",
        why: "the importer reads port and protocol names as iptables-restore does (/etc/services, /etc/protocols), and its tests use names only those files know",
        package: "netbase",
        present: || std::path::Path::new("/etc/services").is_file(),
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
    Requirement {
        what: "prometheus-node-exporter",
        why: "a metrics test serves `statewall metrics --textfile` with node_exporter's textfile collector, inside a test namespace (installed with no service started: see `no_service_started`)",
        package: "prometheus-node-exporter",
        present: || Path::new(NODE_EXPORTER).exists(),
    },
    Requirement {
        what: "fail2ban",
        why: "a test runs Debian's fail2ban-server (private config, socket and database) with examples/fail2ban's action against a live set in a test namespace (installed with no service started, and its service disabled: see `fail2ban_not_running`)",
        package: "fail2ban",
        present: || Path::new("/usr/bin/fail2ban-server").exists(),
    },
    Requirement {
        what: "curl",
        why: "the metrics test scrapes node_exporter from inside its test namespace",
        package: "curl",
        present: || util::find_program("curl").is_some(),
    },
];

const NODE_EXPORTER: &str = "/usr/bin/prometheus-node-exporter";

/// Python packages the tests use as oracles, from PyPI, in a venv under the target directory
/// (`target/pytools`, where the tests look): (module, pip requirement, why).
const PYTHON: &[(&str, &str, &str)] = &[
    (
        "prometheus_client",
        "prometheus_client>=0.16,<1",
        "the metrics test parses `statewall metrics` with prometheus_client's own parser",
    ),
    (
        "jsonschema",
        "jsonschema>=4.10,<5",
        "a test validates status/verify/apply --json output against docs/schema/",
    ),
    (
        "ansible",
        "ansible-core>=2.15,<2.20",
        "a test runs examples/ansible/site.yml (the statewall module) against a namespace",
    ),
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
    apt()?;
    python()
}

/// The Debian packages.
fn apt() -> Result {
    let missing_now = missing();
    if missing_now.is_empty() {
        eprintln!(
            "deps: all present (libclang, kernel headers, nft, iptables, ip, ping, sysctl, sshd, systemd-analyze, node_exporter, curl)"
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
    no_service_started(|| {
        util::run_ok(
            Command::new("apt-get")
                .env("DEBIAN_FRONTEND", "noninteractive")
                .args(["install", "-y", "--no-install-recommends"])
                .args(&packages),
        )
    })?;
    if packages.contains(&"prometheus-node-exporter") {
        node_exporter_not_running()?;
    }
    if packages.contains(&"fail2ban") {
        fail2ban_not_running()?;
    }
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

/// The policy file Debian's maintainer scripts ask before they start a service
/// (invoke-rc.d and deb-systemd-invoke); exit 101 means "do not".
const POLICY_RC_D: &str = "/usr/sbin/policy-rc.d";

/// Runs `install` so that no package starts a service on the host: node_exporter's package
/// would otherwise start it listening on :9100 of the host (the tests run their own, inside a
/// namespace). An existing policy-rc.d (container images have one) is left alone; else one
/// that says no is put there for the install, and removed afterwards.
fn no_service_started(install: impl FnOnce() -> Result) -> Result {
    use std::os::unix::fs::PermissionsExt;
    let ours = !Path::new(POLICY_RC_D).exists();
    if ours {
        std::fs::write(
            POLICY_RC_D,
            "#!/bin/sh\n# cargo xtask deps: no service starts while it installs packages\nexit 101\n",
        )
        .and_then(|_| {
            std::fs::set_permissions(POLICY_RC_D, std::fs::Permissions::from_mode(0o755))
        })
        .map_err(|e| format!("cannot write {POLICY_RC_D}: {e}"))?;
    }
    let result = install();
    if ours && let Err(e) = std::fs::remove_file(POLICY_RC_D) {
        eprintln!("deps: WARNING: cannot remove the {POLICY_RC_D} written for the install: {e}");
    }
    result
}

/// After installing node_exporter: no node_exporter runs, and on a host booted with systemd
/// its unit is disabled, so the next boot does not start it either.
fn node_exporter_not_running() -> Result {
    if Path::new("/run/systemd/system").exists() {
        util::run_ok(
            Command::new("systemctl").args(["disable", "prometheus-node-exporter.service"]),
        )?;
        eprintln!("deps: prometheus-node-exporter.service disabled (the tests start their own)");
    }
    let running: Vec<String> = std::fs::read_dir("/proc")
        .map_err(|e| format!("/proc: {e}"))?
        .flatten()
        .filter(|e| e.file_name().to_string_lossy().parse::<u32>().is_ok())
        .filter(|e| {
            std::fs::read_link(e.path().join("exe"))
                .is_ok_and(|exe| exe == Path::new(NODE_EXPORTER))
        })
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    if !running.is_empty() {
        return Err(format!(
            "node_exporter runs after its install (pid {}): stop it and disable its service; \
             the tests start their own inside a namespace",
            running.join(", ")
        ));
    }
    eprintln!("deps: prometheus-node-exporter installed, no node_exporter running");
    Ok(())
}

/// After installing fail2ban: its package enables the service for the next boot (with
/// Debian's sshd jail and iptables ban action, which would touch the host firewall), so both
/// the systemd unit and the sysv links are disabled; and no fail2ban-server runs now (found by
/// its command line: it runs under /usr/bin/python3).
fn fail2ban_not_running() -> Result {
    if util::find_program("systemctl").is_some() {
        // edits the unit's links; works without a running systemd
        util::run_ok(Command::new("systemctl").args(["disable", "fail2ban.service"]))?;
    }
    if util::find_program("update-rc.d").is_some() {
        util::run_ok(Command::new("update-rc.d").args(["fail2ban", "disable"]))?;
    }
    let running: Vec<String> = std::fs::read_dir("/proc")
        .map_err(|e| format!("/proc: {e}"))?
        .flatten()
        .filter(|e| e.file_name().to_string_lossy().parse::<u32>().is_ok())
        .filter(|e| {
            std::fs::read(e.path().join("cmdline"))
                .is_ok_and(|c| String::from_utf8_lossy(&c).contains("fail2ban-server"))
        })
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    if !running.is_empty() {
        return Err(format!(
            "fail2ban-server runs after its install (pid {}): stop it and disable its service; \
             the tests start their own with a private configuration",
            running.join(", ")
        ));
    }
    eprintln!("deps: fail2ban installed, its service disabled, no fail2ban-server running");
    Ok(())
}

/// `target/pytools` (or under `CARGO_TARGET_DIR`).
fn venv() -> PathBuf {
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .map(|t| {
            if t.is_absolute() {
                t
            } else {
                util::repo_root().join(t)
            }
        })
        .unwrap_or_else(|| util::repo_root().join("target"));
    target.join("pytools")
}

/// The modules of [`PYTHON`] that `python` cannot import.
fn python_missing(python: &Path) -> Vec<&'static (&'static str, &'static str, &'static str)> {
    PYTHON
        .iter()
        .filter(|(module, _, _)| {
            !Command::new(python)
                .args(["-c", &format!("import {module}")])
                .stderr(std::process::Stdio::null())
                .status()
                .is_ok_and(|s| s.success())
        })
        .collect()
}

/// The Python packages, from PyPI, in the venv the tests look in: no system Python changes.
fn python() -> Result {
    let venv = venv();
    let py = venv.join("bin/python3");
    if py.exists() && python_missing(&py).is_empty() {
        eprintln!("deps: python packages present in {}", venv.display());
        return Ok(());
    }
    for (module, _, why) in PYTHON {
        eprintln!("deps: python {module}: {why}");
    }
    if !py.exists() {
        let python3 = util::find_program("python3")
            .ok_or("python3 not found: install it (Debian: python3 python3-venv)")?;
        util::run_ok(Command::new(python3).args(["-m", "venv"]).arg(&venv))?;
    }
    let specs: Vec<&str> = PYTHON.iter().map(|(_, spec, _)| *spec).collect();
    util::run_ok(
        Command::new(&py)
            .args([
                "-m",
                "pip",
                "install",
                "--disable-pip-version-check",
                "--quiet",
            ])
            .args(&specs),
    )?;
    let still: Vec<&str> = python_missing(&py).iter().map(|(m, _, _)| *m).collect();
    if !still.is_empty() {
        return Err(format!(
            "python packages still missing: {}",
            still.join(", ")
        ));
    }
    eprintln!("deps: python packages installed in {}", venv.display());
    Ok(())
}
