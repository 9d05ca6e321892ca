//! The Ansible module in `examples/ansible/`, run by ansible-core (from PyPI, in the venv
//! `cargo xtask deps` makes) against a namespace: the first run changes the table, the second
//! reports changed=0, check mode predicts without touching anything, diff mode shows the
//! plan's diff.

use std::path::PathBuf;
use std::process::Command;

use crate::support::{CMD_TIMEOUT, Netns, Output, TempPolicy, python, run_cmd};

fn playbook() -> Option<PathBuf> {
    let py = python::with_module(
        "ansible",
        "ansible::the_module_is_idempotent_checks_and_diffs",
    )?;
    let bin = py.parent()?.join("ansible-playbook");
    if bin.exists() {
        Some(bin)
    } else {
        eprintln!("SKIPPED: {} is missing", bin.display());
        None
    }
}

fn run(
    book: &PathBuf,
    ns: &Netns,
    state: &std::path::Path,
    policy: &str,
    extra: &[&str],
) -> Output {
    let py = book.parent().unwrap().join("python3");
    let home = state.with_extension("ansible");
    let mut cmd = Command::new(book);
    cmd.args(["-i", "localhost,", "-c", "local"])
        .arg(crate::support::repo_path("examples/ansible/site.yml"))
        .arg("-e")
        .arg(format!("ansible_python_interpreter={}", py.display()))
        .args(["-e", &format!("policy={policy}")])
        .args(["-e", &format!("netns={}", ns.name())])
        .args(["-e", &format!("state_dir={}", state.display())])
        .args([
            "-e",
            &format!("statewall={}", env!("CARGO_BIN_EXE_statewall")),
        ])
        .args(extra)
        .env("ANSIBLE_HOME", &home)
        .env("ANSIBLE_LOCAL_TEMP", home.join("tmp"))
        .env("ANSIBLE_NOCOLOR", "1")
        .env_remove("SSH_CONNECTION");
    run_cmd(cmd, CMD_TIMEOUT * 4)
}

fn changed(out: &Output) -> u32 {
    out.stdout
        .lines()
        .find_map(|l| l.split("changed=").nth(1))
        .and_then(|r| r.split_whitespace().next())
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("no PLAY RECAP in:\n{out}"))
}

#[cfg_attr(not(statewall_root), ignore = "needs root: creates network namespaces")]
#[test]
fn the_module_is_idempotent_checks_and_diffs() {
    let Some(book) = playbook() else { return };
    let ns = Netns::new("ansible");
    let state = std::env::temp_dir().join(format!("statewall-ansible-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&state);
    let web = TempPolicy::new("ansible", "[[allow]]\nname = \"ssh\"\ntcp = [22]\n");
    let out = run(&book, &ns, &state, &web.path(), &[]);
    out.assert_ok();
    assert_eq!(changed(&out), 1, "{out}");
    let live = ns.nft(["list", "table", "inet", "statewall"]).stdout;
    assert!(live.contains("tcp dport 22"), "{live}");
    // the second run: nothing to do
    let out = run(&book, &ns, &state, &web.path(), &[]);
    out.assert_ok();
    assert_eq!(changed(&out), 0, "{out}");
    // a changed policy, in check and diff mode: predicted, shown, not applied
    let more = TempPolicy::new(
        "ansible-more",
        "[[allow]]\nname = \"ssh\"\ntcp = [22]\n\n[[allow]]\nname = \"web\"\ntcp = [8443]\n",
    );
    let out = run(&book, &ns, &state, &more.path(), &["--check", "--diff"]);
    out.assert_ok();
    assert_eq!(changed(&out), 1, "{out}");
    assert!(
        out.stdout.contains("8443"),
        "the diff shows the new rule:\n{out}"
    );
    assert_eq!(
        ns.nft(["list", "table", "inet", "statewall"]).stdout,
        live,
        "check mode changed nothing"
    );
    // and applied for real
    let out = run(&book, &ns, &state, &more.path(), &[]);
    out.assert_ok();
    assert_eq!(changed(&out), 1, "{out}");
    assert!(
        ns.nft(["list", "table", "inet", "statewall"])
            .stdout
            .contains("8443")
    );
    let _ = std::fs::remove_dir_all(&state);
    let _ = std::fs::remove_dir_all(state.with_extension("ansible"));
}
