//! Tells the tests whether they are built by root: the kernel and traffic tests create
//! network namespaces, which needs root, so for anyone else they are reported as ignored
//! ("needs root") instead of failing. Nothing in the product reads this.

fn main() {
    println!("cargo::rustc-check-cfg=cfg(statewall_root)");
    // who builds: sudo and su change these, so a build by someone else runs this again
    for var in [
        "USER",
        "SUDO_USER",
        "LOGNAME",
        "HOME",
        "STATEWALL_TESTS_UNPRIVILEGED",
    ] {
        println!("cargo::rerun-if-env-changed={var}");
    }
    let euid = std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find_map(|l| l.strip_prefix("Uid:"))
                .and_then(|ids| ids.split_whitespace().nth(1).map(str::to_string))
        });
    // `STATEWALL_TESTS_UNPRIVILEGED=1`: build as root what an unprivileged user would get
    // (to run it under another uid and see the kernel tests reported as ignored)
    let unprivileged = std::env::var_os("STATEWALL_TESTS_UNPRIVILEGED").is_some();
    if euid.as_deref() == Some("0") && !unprivileged {
        println!("cargo::rustc-cfg=statewall_root");
    }
}
