//! Tells the tests whether they are built by root: the kernel and traffic tests create
//! network namespaces, which needs root, so for anyone else they are reported as ignored
//! ("needs root") instead of failing. And embeds the git commit for `statewall metrics`'
//! `statewall_build_info` (the only thing in the product this script gives).

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
    commit();
}

/// The commit `statewall_build_info` reports (`cli::metrics::COMMIT`): `STATEWALL_COMMIT`
/// when set (a build from a tarball), else git's HEAD when git and the repository are there,
/// else none (the binary says "unknown"). Never fails the build.
fn commit() {
    println!("cargo::rerun-if-env-changed=STATEWALL_COMMIT");
    let given = std::env::var("STATEWALL_COMMIT")
        .ok()
        .map(|c| c.trim().to_string())
        .filter(|c| !c.is_empty());
    if let Some(c) = given.or_else(git_head) {
        println!("cargo::rustc-env=STATEWALL_COMMIT={c}");
    }
}

/// `git rev-parse --short=12 HEAD` in the package's directory, and the files that change
/// when HEAD moves (so a new commit builds this again); `None` without git or a repository.
fn git_head() -> Option<String> {
    let dir = std::env::var_os("CARGO_MANIFEST_DIR")?;
    let git = |args: &[&str]| -> Option<String> {
        let out = std::process::Command::new("git")
            .args(args)
            .current_dir(&dir)
            .stderr(std::process::Stdio::null())
            .output()
            .ok()?;
        let s = String::from_utf8(out.stdout).ok()?.trim().to_string();
        (out.status.success() && !s.is_empty()).then_some(s)
    };
    let head = git(&["rev-parse", "--short=12", "HEAD"])?;
    if !head.chars().all(|c| c.is_ascii_hexdigit()) {
        return None;
    }
    let path = |p: String| std::path::Path::new(&dir).join(p);
    let mut watch = Vec::new();
    if let Some(d) = git(&["rev-parse", "--git-dir"]) {
        watch.push(path(d).join("HEAD"));
    }
    if let Some(common) = git(&["rev-parse", "--git-common-dir"]) {
        let common = path(common);
        watch.push(common.join("packed-refs"));
        if let Some(r) = git(&["symbolic-ref", "-q", "HEAD"]) {
            watch.push(common.join(r));
        }
    }
    // a path that does not exist would make cargo run this on every build
    for w in watch.iter().filter(|w| w.exists()) {
        println!("cargo::rerun-if-changed={}", w.display());
    }
    Some(head)
}
