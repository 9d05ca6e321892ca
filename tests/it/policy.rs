//! Data-driven tests of the policy parser.
//!
//! Every `tests/data/policy/NAME.toml` is parsed; the result is compared with
//! `tests/data/policy/NAME.expected`:
//! - a valid policy: its `{:#?}`, then (after a blank line) the rendered warnings, if any;
//! - an invalid one: the rendered diagnostics.
//!
//! Diagnostics are rendered with the file name `NAME.toml`. File names say what to expect:
//! `ok-*` parse cleanly, `warn-*` parse with warnings only, `err-*` have at least one error.
//!
//! `UPDATE_EXPECT=1 cargo test --test it policy` rewrites the `.expected` files; review them
//! by eye afterwards, they are the oracle.

use std::fs;
use std::path::{Path, PathBuf};

use statewall::core::diag::{self, Severity};
use statewall::core::model::{Baseline, Mode, PortRange, RejectWith};
use statewall::core::policy;

fn data_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/policy")
}

/// What a case produces, in the `.expected` format.
fn outcome(file_name: &str, src: &str) -> (String, Option<String>) {
    let (policy, diags) = policy::parse(src);
    let rendered = diag::render(&diags, file_name, src);
    let errors = diags.iter().any(|d| d.severity == Severity::Error);
    let warnings = diags.iter().any(|d| d.severity == Severity::Warning);
    // The file name's promise.
    let kind = file_name.split('-').next().unwrap_or("");
    let broken_promise = match (kind, policy.is_some(), errors, warnings) {
        ("ok", true, false, false) | ("warn", true, false, true) | ("err", false, true, _) => None,
        ("ok" | "warn" | "err", ..) => Some(format!(
            "{file_name}: the name promises `{kind}`, but parse gave policy={}, errors={errors}, warnings={warnings}",
            policy.is_some()
        )),
        _ => Some(format!(
            "{file_name}: case names start with ok-, warn- or err-"
        )),
    };
    let text = match policy {
        Some(p) if rendered.is_empty() => format!("{p:#?}\n"),
        Some(p) => format!("{p:#?}\n\n{rendered}"),
        None => rendered,
    };
    (text, broken_promise)
}

#[test]
fn data_driven_cases() {
    let dir = data_dir();
    let mut inputs: Vec<PathBuf> = fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|e| e.unwrap().path())
        .collect();
    inputs.sort();
    let mut failures = Vec::new();
    let mut cases = 0;
    for path in &inputs {
        let file_name = path.file_name().unwrap().to_string_lossy().into_owned();
        match path.extension().and_then(|e| e.to_str()) {
            Some("toml") => {}
            Some("expected") => {
                if !path.with_extension("toml").exists() {
                    failures.push(format!("{file_name}: no matching .toml input"));
                }
                continue;
            }
            _ => {
                failures.push(format!("{file_name}: neither .toml nor .expected"));
                continue;
            }
        }
        cases += 1;
        let src = fs::read_to_string(path).unwrap();
        let (actual, broken_promise) = outcome(&file_name, &src);
        failures.extend(broken_promise);
        failures.extend(crate::golden::case(
            &path.with_extension("expected"),
            &file_name,
            &actual,
        ));
    }
    assert!(cases >= 15, "only {cases} cases in {}", dir.display());
    if !failures.is_empty() {
        panic!(
            "{} problem(s) in the policy cases (UPDATE_EXPECT=1 rewrites the .expected files):\n\n{}",
            failures.len(),
            failures.join("\n\n")
        );
    }
}

#[test]
fn example_web_and_mail_parses_cleanly() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/web-and-mail.toml");
    let src = fs::read_to_string(&path).unwrap();
    let (policy, diags) = policy::parse(&src);
    assert!(
        diags.is_empty(),
        "{}",
        diag::render(&diags, "web-and-mail.toml", &src)
    );
    let p = policy.expect("no errors, so a policy");
    assert_eq!(p.mode, Mode::Enforce);
    assert_eq!(p.baseline, Baseline::default());

    let open: Vec<(&str, &[PortRange])> = p
        .allow
        .iter()
        .map(|s| (s.name.as_str(), s.tcp.as_slice()))
        .collect();
    let single = |p| [PortRange::single(p)];
    assert_eq!(
        open,
        [
            ("ssh", &single(22)[..]),
            ("smtp", &single(25)[..]),
            ("http", &single(80)[..]),
            ("https", &single(443)[..]),
        ]
    );
    for s in &p.allow {
        assert!(s.udp.is_empty(), "{} opens udp", s.name);
        assert!(s.from.is_empty(), "{} is restricted", s.name);
    }

    assert_eq!(p.reject.len(), 1);
    let ident = &p.reject[0];
    assert_eq!(ident.service.name, "ident");
    assert_eq!(ident.service.tcp, [PortRange::single(113)]);
    assert!(ident.service.udp.is_empty());
    assert!(ident.service.from.is_empty());
    assert_eq!(ident.with, RejectWith::TcpReset);
}

/// An empty policy is valid (the baseline and a final drop), and what `import … > policy.toml`
/// leaves behind when the import failed: `check` says ok and warns that it is empty; a policy
/// of one setting does not warn.
#[test]
fn an_empty_policy_file_is_checked_with_a_warning() {
    let dir = std::env::temp_dir().join(format!("statewall-empty-{}", std::process::id()));
    fs::create_dir_all(&dir).unwrap();
    for (name, text, warns) in [
        ("zero.toml", "", true),
        ("comments.toml", "\u{feff}# nothing yet\n\n", true),
        ("mode.toml", "mode = \"audit\"\n", false),
    ] {
        let path = dir.join(name);
        fs::write(&path, text).unwrap();
        let mut cmd = crate::support::bin(None);
        cmd.arg("check").arg(&path);
        let out = crate::support::run_cmd(cmd, crate::support::CMD_TIMEOUT);
        out.assert_ok();
        assert_eq!(out.stderr.contains("is empty"), warns, "{name}: {out}");
    }
    let _ = fs::remove_dir_all(&dir);
}

/// The options that say how input is read are refused where nothing is read, before
/// anything happens (they were taken and ignored: `status --ipv6 /nonexistent` said
/// nothing), and `--ipv6` beside `--mirror-ipv6` before either file is read.
#[test]
fn input_options_are_refused_where_no_input_is_read() {
    let run = |args: &[&str]| {
        let mut cmd = crate::support::bin(None);
        cmd.args(args);
        crate::support::run_cmd(cmd, crate::support::CMD_TIMEOUT)
    };
    for args in [
        &["status", "--ipv6", "/nonexistent"][..],
        &["rollback", "--mirror-ipv6"],
        &["metrics", "--format", "toml"],
        &["import", "/nonexistent", "--format", "toml"],
        &[
            "import",
            "/nonexistent",
            "--mirror-ipv6",
            "--ipv6",
            "/nonexistent6",
        ],
    ] {
        let out = run(args);
        out.assert_code(2);
        assert!(
            !out.stderr.contains("nonexistent"),
            "{args:?} read a file: {out}"
        );
    }
}

/// `STATEWALL_STATE_DIR=` (set, empty) is named as what it is, not as the `--state-dir` flag
/// the admin never typed; a `--state-dir` given beside it is what counts; help still shows.
#[test]
fn an_empty_state_dir_variable_is_named_and_a_given_flag_overrides_it() {
    let run = |args: &[&str]| {
        let mut cmd = crate::support::bin(None);
        cmd.env("STATEWALL_STATE_DIR", "").args(args);
        crate::support::run_cmd(cmd, crate::support::CMD_TIMEOUT)
    };
    let out = run(&["status"]);
    out.assert_code(2);
    assert!(
        out.stderr.contains("STATEWALL_STATE_DIR is set but empty")
            && !out.stderr.contains("--state-dir"),
        "{out}"
    );
    let dir = std::env::temp_dir().join(format!("statewall-emptyenv-{}", std::process::id()));
    let out = run(&[
        "--state-dir",
        dir.to_str().unwrap(),
        "check",
        "examples/web-and-mail.toml",
    ]);
    out.assert_ok();
    run(&["--help"]).assert_ok();
    let _ = fs::remove_dir_all(&dir);
}

/// `check` says, as a warning, what the lockout lint of an `apply` here would refuse: the
/// admin's connection (`SSH_CONNECTION`, to an address of this host) let in only from
/// elsewhere. It still exits 0: the file is valid.
#[test]
fn check_warns_of_what_apply_here_would_refuse_as_a_lockout() {
    let dir = std::env::temp_dir().join(format!("statewall-lockcheck-{}", std::process::id()));
    fs::create_dir_all(&dir).unwrap();
    let path = dir.join("office.toml");
    fs::write(
        &path,
        "[[allow]]\nname = \"ssh\"\ntcp = [22]\nfrom = [\"10.0.0.0/8\"]\n",
    )
    .unwrap();
    let check = |conn: &str| {
        let mut cmd = crate::support::bin(None);
        cmd.arg("check").arg(&path).env("SSH_CONNECTION", conn);
        crate::support::run_cmd(cmd, crate::support::CMD_TIMEOUT)
    };
    let out = check("203.0.113.77 50000 127.0.0.1 22");
    out.assert_ok();
    assert!(
        out.stderr.contains("would lock you out") && out.stderr.contains("203.0.113.77"),
        "{out}"
    );
    let out = check("10.1.2.3 50000 127.0.0.1 22");
    out.assert_ok();
    assert!(!out.stderr.contains("lock you out"), "{out}");
    // `ssh localhost`: its packets arrive on lo, which the baseline accepts
    let out = check("127.0.0.1 50000 127.0.0.1 22");
    out.assert_ok();
    assert!(!out.stderr.contains("lock you out"), "{out}");
    // unless the policy drops lo too
    fs::write(
        &path,
        "[baseline]\nloopback = false\n\n[[allow]]\nname = \"ssh\"\ntcp = [22]\nfrom = [\"10.0.0.0/8\"]\n",
    )
    .unwrap();
    let out = check("127.0.0.1 50000 127.0.0.1 22");
    assert!(out.stderr.contains("lock you out"), "{out}");
    let _ = fs::remove_dir_all(&dir);
}
