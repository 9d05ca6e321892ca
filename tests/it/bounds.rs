//! Every input path is bounded: hostile inputs, made here in a temp dir (nothing huge is
//! committed), each end with a clear error or a correct result, and at most a few hundred KB
//! on stderr. Nothing here measures time (the house rule): what is asserted is that the
//! command ends, what it says, and how much.
//!
//! The statewall binary runs with its address space capped at 1 GiB and its output read with
//! a cap too, so that a regression fails this test rather than the machine.

use std::ffi::OsStr;
use std::io::Read;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::thread;
use std::time::Duration;

/// The most stderr any of these inputs may produce.
const STDERR_MAX: usize = 300_000;
/// Long enough for a debug build on a busy machine: the point is that the command ends.
const TIMEOUT: Duration = Duration::from_secs(120);
/// Address space the binary gets.
const MEMORY_MAX: u64 = 1 << 30;
/// What is kept of each output (the rest is counted and dropped).
const KEPT: usize = 4 << 20;

/// What a run did: exit code, the start of each output and its full length.
struct Ran {
    code: Option<i32>,
    timed_out: bool,
    stdout: String,
    stderr: String,
    stderr_len: usize,
}

impl std::fmt::Display for Ran {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let cut = |s: &str| s.chars().take(3000).collect::<String>();
        write!(
            f,
            "code {:?}, timed out: {}, {} bytes of stderr\n--- stdout\n{}\n--- stderr\n{}",
            self.code,
            self.timed_out,
            self.stderr_len,
            cut(&self.stdout),
            cut(&self.stderr)
        )
    }
}

/// Reads a pipe to its end, keeping the first [`KEPT`] bytes.
fn drain(mut pipe: impl Read + Send + 'static) -> thread::JoinHandle<(Vec<u8>, usize)> {
    thread::spawn(move || {
        let (mut kept, mut total, mut buf) = (Vec::new(), 0, vec![0u8; 1 << 16]);
        while let Ok(n) = pipe.read(&mut buf) {
            if n == 0 {
                break;
            }
            total += n;
            let room = KEPT.saturating_sub(kept.len()).min(n);
            kept.extend_from_slice(&buf[..room]);
        }
        (kept, total)
    })
}

/// `statewall ARGS`, bounded in memory, output and time; asserts that it ended and that its
/// stderr stayed under [`STDERR_MAX`].
fn statewall<S: AsRef<OsStr>>(args: &[S]) -> Ran {
    let mut cmd = crate::support::bin(None);
    cmd.args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    // SAFETY: setrlimit is async-signal-safe; nothing else runs between fork and exec.
    unsafe {
        cmd.pre_exec(|| {
            let lim = libc::rlimit {
                rlim_cur: MEMORY_MAX,
                rlim_max: MEMORY_MAX,
            };
            if libc::setrlimit(libc::RLIMIT_AS, &lim) != 0 {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        });
    }
    let mut child = cmd.spawn().expect("statewall starts");
    let out = drain(child.stdout.take().unwrap());
    let err = drain(child.stderr.take().unwrap());
    let (status, timed_out) = crate::support::wait_bounded(&mut child, TIMEOUT);
    let (stdout, _) = out.join().unwrap();
    let (stderr, stderr_len) = err.join().unwrap();
    let ran = Ran {
        code: status.and_then(|s| s.code()),
        timed_out,
        stdout: String::from_utf8_lossy(&stdout).into_owned(),
        stderr: String::from_utf8_lossy(&stderr).into_owned(),
        stderr_len,
    };
    assert!(!ran.timed_out, "did not end: {ran}");
    assert!(ran.stderr_len < STDERR_MAX, "too much stderr: {ran}");
    ran
}

/// `statewall import --mirror-ipv6 FILE`, bounded as [`statewall`] is.
fn import_mirrored(file: &Path) -> Ran {
    statewall(&[
        OsStr::new("import"),
        OsStr::new("--mirror-ipv6"),
        file.as_os_str(),
    ])
}

/// A temp dir for one test's files; removed on drop.
struct Dir(PathBuf);

impl Dir {
    fn new(tag: &str) -> Dir {
        let d = std::env::temp_dir().join(format!("statewall-bounds-{tag}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&d);
        std::fs::create_dir_all(&d).unwrap();
        Dir(d)
    }

    fn write(&self, name: &str, text: impl AsRef<[u8]>) -> PathBuf {
        let p = self.0.join(name);
        std::fs::write(&p, text).unwrap();
        p
    }

    fn path(&self, name: &str) -> PathBuf {
        self.0.join(name)
    }
}

impl Drop for Dir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn mkfifo(p: &Path) {
    let c = std::ffi::CString::new(p.as_os_str().as_encoded_bytes()).unwrap();
    // SAFETY: a valid NUL-terminated path.
    assert_eq!(unsafe { libc::mkfifo(c.as_ptr(), 0o600) }, 0, "mkfifo");
}

/// Every line of a rendered excerpt (` N | text`) is at most this wide.
fn widest_excerpt(stderr: &str) -> usize {
    stderr
        .lines()
        .filter(|l| {
            l.trim_start()
                .split_once(" | ")
                .is_some_and(|(n, _)| n.parse::<u32>().is_ok())
        })
        .map(|l| l.chars().count())
        .max()
        .unwrap_or(0)
}

#[test]
fn seventy_thousand_duplicate_ports_are_fifty_errors_and_a_count() {
    let dir = Dir::new("dup");
    let ports = vec!["8080"; 70_001].join(", ");
    let p = dir.write(
        "policy.toml",
        format!("[[allow]]\nname = \"web\"\ntcp = [{ports}]\n"),
    );
    let out = statewall(&[OsStr::new("check"), p.as_os_str()]);
    assert_eq!(out.code, Some(1), "{out}");
    assert_eq!(
        out.stderr
            .lines()
            .filter(|l| *l == "error: tcp port 8080 is listed twice")
            .count(),
        50
    );
    assert!(
        out.stderr.contains(
            "… and 69,950 more, by kind:\n  69,950 × error: tcp port 8080 is listed twice\n"
        ),
        "{out}"
    );
    assert!(
        out.stderr
            .contains("policy.toml: 70,000 errors; nothing was sent"),
        "{out}"
    );
    assert!(widest_excerpt(&out.stderr) <= 210, "{out}");
}

#[test]
fn a_file_with_bare_cr_line_ends_is_shown_line_by_line() {
    let dir = Dir::new("cr");
    let mut text = String::new();
    let mut i = 0;
    while text.len() < 900_000 {
        text.push_str(&format!(
            "[[allow]]\rname = \"a{i}\"\rtcp = [{}]\r",
            i % 65_535 + 1
        ));
        i += 1;
    }
    let p = dir.write("mac.toml", &text);
    let out = statewall(&[OsStr::new("check"), p.as_os_str()]);
    assert_eq!(out.code, Some(1), "{out}");
    assert!(out.stderr.contains("  --> "), "{out}");
    assert!(
        out.stderr.contains(" 2 | name = \"a0\"\n"),
        "one line, not the file: {out}"
    );
    assert!(out.stderr.contains("bare carriage return"), "{out}");
    assert!(out.stderr.contains("more, by kind:"), "{out}");
    assert!(widest_excerpt(&out.stderr) <= 210, "{out}");
}

#[test]
fn a_long_line_is_shown_as_a_window_around_the_problem() {
    let dir = Dir::new("long");
    let ports: Vec<String> = (1..=60_000).map(|p| p.to_string()).collect();
    let p = dir.write(
        "policy.toml",
        format!(
            "[[allow]]\nname = \"web\"\ntcp = [{}, 70000]\n",
            ports.join(", ")
        ),
    );
    let out = statewall(&[OsStr::new("check"), p.as_os_str()]);
    assert_eq!(out.code, Some(1), "{out}");
    assert!(
        out.stderr.contains("error: port 70000 is out of range\n"),
        "{out}"
    );
    assert!(out.stderr.contains(" 3 | …"), "the line is cut: {out}");
    assert!(out.stderr.contains("59999, 60000, 70000]\n"), "{out}");
    assert!(widest_excerpt(&out.stderr) <= 210, "{out}");
}

#[test]
fn ninety_thousand_shadowed_pairs_are_three_hundred_warnings_fifty_shown() {
    let dir = Dir::new("warn");
    let mut text = String::new();
    for i in 0..300 {
        text.push_str(&format!("[[allow]]\nname = \"a{i}\"\ntcp = [\"1-1000\"]\n"));
    }
    let ports: Vec<String> = (1..=300).map(|p| p.to_string()).collect();
    text.push_str(&format!(
        "[[reject]]\nname = \"r\"\ntcp = [{}]\n",
        ports.join(", ")
    ));
    assert!(text.len() < 16_000);
    let p = dir.write("policy.toml", &text);
    let out = statewall(&[OsStr::new("check"), p.as_os_str()]);
    assert_eq!(out.code, Some(0), "a valid policy, with warnings: {out}");
    assert!(out.stdout.ends_with(": ok\n"), "{out}");
    assert_eq!(out.stderr.matches("\nwarning: ").count() + 1, 50, "{out}");
    assert!(
        out.stderr.contains(
            "warning: reject \"r\" never sees tcp port 1: allow \"a0\" (line 2) accepts it first\n"
        ),
        "{out}"
    );
    assert!(
        out.stderr
            .contains("; 299 more allow entries accept some of it too\n"),
        "{out}"
    );
    assert!(
        out.stderr.contains(
            "… and 250 more, by kind:\n  250 × warning: reject \"…\" never sees tcp port …: allow \"…\" (line …) accepts it first\n"
        ),
        "{out}"
    );
}

/// A rule repeating `-s` is refused once, where it repeats; 8,000 sources in one `-s` list
/// (a 100 KB word) are refused where the word passes the 1,023 bytes iptables-restore reads
/// ("Parameter too long!"), without the rest of it kept; the longest list it reads (70
/// sources) is one entry with every source, once.
#[test]
fn import_refuses_a_rule_repeating_s_and_reads_a_long_source_list_in_one_pass() {
    let dir = Dir::new("imp");
    let head =
        "*filter\n:INPUT DROP [0:0]\n-A INPUT -m state --state ESTABLISHED,RELATED -j ACCEPT\n";
    let srcs: Vec<String> = (1..=8000u32)
        .map(|i| std::net::Ipv4Addr::from(0x0a00_0000 + i).to_string())
        .collect();
    let repeated: String = srcs[..100].iter().map(|s| format!("-s {s} ")).collect();
    let p = dir.write(
        "repeated.rules",
        format!("{head}-A INPUT {repeated}-p tcp -m tcp --dport 22 -j ACCEPT\nCOMMIT\n"),
    );
    let out = import_mirrored(&p);
    assert_eq!(out.code, Some(1), "{out}");
    assert_eq!(
        out.stderr
            .matches("error: `-s` a second time in one rule")
            .count(),
        1,
        "{out}"
    );
    assert!(out.stderr.contains("repeated.rules:4:22"), "{out}");
    assert!(widest_excerpt(&out.stderr) <= 210, "{out}");

    let list = |n: usize| {
        format!(
            "{head}-A INPUT -s {} -p tcp -m tcp --dport 22 -j ACCEPT\nCOMMIT\n",
            srcs[..n].join(",")
        )
    };
    let p = dir.write("long.rules", list(8000));
    let out = import_mirrored(&p);
    assert_eq!(out.code, Some(1), "{out}");
    assert_eq!(out.stderr.matches("error:").count(), 1, "{out}");
    assert!(
        out.stderr
            .contains("error: a word of more than 1023 bytes\n  --> "),
        "{out}"
    );
    assert!(out.stderr.contains("long.rules:4:13"), "{out}");
    assert!(widest_excerpt(&out.stderr) <= 210, "{out}");

    // the longest list iptables-restore reads: one entry, every source, once
    let p = dir.write("list.rules", list(70));
    let out = import_mirrored(&p);
    assert_eq!(out.code, Some(0), "{out}");
    assert_eq!(out.stdout.matches("[[allow]]").count(), 1, "{out}");
    let from = out
        .stdout
        .lines()
        .find(|l| l.starts_with("from = ["))
        .expect("a from list");
    assert_eq!(from.matches("\"10.").count(), 70);
    assert!(from.contains("\"10.0.0.1\"") && from.contains("\"10.0.0.70\""));
}

#[test]
fn sixteen_thousand_limited_chains_are_one_refusal_past_the_budget() {
    let dir = Dir::new("lim");
    let mut text = String::from("*filter\n:INPUT DROP [0:0]\n");
    for i in 0..16_000u32 {
        text.push_str(&format!(":c{i} - [0:0]\n"));
    }
    for i in 0..16_000u32 {
        text.push_str(&format!(
            "-A INPUT -p tcp --dport {} -j c{i}\n-A c{i} -s 10.{}.0.0/16 -j RETURN\n-A c{i} -m limit --limit 5/s -j ACCEPT\n",
            1 + i % 60_000,
            i % 250
        ));
    }
    text.push_str("COMMIT\n");
    let p = dir.write("chains.rules", text);
    let out = import_mirrored(&p);
    assert_eq!(out.code, Some(1), "{out}");
    assert_eq!(out.stderr.matches("error:").count(), 1, "{out}");
    assert!(
        out.stderr
            .contains("16000 rules with a rate, a list or a count among 16000 in INPUT"),
        "{out}"
    );
}

/// Three thousand `-m recent` lists, each an ordering slip (its `--set … -j ACCEPT` before
/// the `--update … -j DROP` that should throttle it): each list's checks and places are found
/// in one pass over the file and the chain, so the import of 6,000 such rules ends with 3,000
/// plain allows, its notes capped.
#[test]
fn three_thousand_lists_whose_checks_decide_nothing_import_in_one_pass() {
    let dir = Dir::new("dead");
    let mut text = String::from(
        "*filter\n:INPUT DROP [0:0]\n-A INPUT -m state --state RELATED,ESTABLISHED -j ACCEPT\n",
    );
    for i in 0..3000u32 {
        let port = i + 1;
        text.push_str(&format!(
            "-A INPUT -p tcp --dport {port} -m state --state NEW -m recent --set --name L{i} -j ACCEPT\n\
             -A INPUT -p tcp --dport {port} -m recent --update --seconds 60 --hitcount 3 --name L{i} -j DROP\n"
        ));
    }
    text.push_str("COMMIT\n");
    let p = dir.write("dead.rules", text);
    let out = import_mirrored(&p);
    assert_eq!(out.code, Some(0), "{out}");
    assert_eq!(out.stdout.matches("[[allow]]").count(), 3000, "{out}");
    assert!(!out.stdout.contains("limit ="), "{out}");
    assert!(
        out.stderr.contains("more notes like these, not listed"),
        "{out}"
    );
}

/// A thousand RETURNs of two things each in a row: each is read once per way around it, and
/// the rest of the chain after each again; past the walk's budget that is one error, not
/// quadratic time and memory (the ways that match a RETURN's network keep none of the
/// earlier exceptions, which that network is apart from).
#[test]
fn a_thousand_returns_of_two_things_stop_at_the_walk_budget() {
    let dir = Dir::new("ret2");
    let mut text = String::from("*filter\n:INPUT DROP [0:0]\n:c - [0:0]\n-A INPUT -j c\n");
    for i in 0..1000u32 {
        text.push_str(&format!(
            "-A c -s 10.{}.{}.0/24 ! -i lo -j RETURN\n",
            i / 250,
            i % 250
        ));
    }
    text.push_str("-A c -p tcp --dport 22 -j ACCEPT\nCOMMIT\n");
    let p = dir.write("returns.rules", text);
    let out = import_mirrored(&p);
    assert_eq!(out.code, Some(1), "{out}");
    assert_eq!(out.stderr.matches("error:").count(), 1, "{out}");
    assert!(
        out.stderr
            .contains("are more than 100,000 rules long by here (in INPUT)"),
        "{out}"
    );
    assert!(out.stderr.contains("once per way around it"), "{out}");
}

#[test]
fn devices_fifos_and_directories_are_refused_by_name_and_kind() {
    let dir = Dir::new("kinds");
    let fifo = dir.path("fifo");
    mkfifo(&fifo);
    std::fs::create_dir(dir.path("adir")).unwrap();
    let cases: [(&Path, &str); 4] = [
        (Path::new("/dev/zero"), "a character device"),
        (Path::new("/dev/urandom"), "a character device"),
        (&fifo, "a FIFO (named pipe)"),
        (&dir.path("adir"), "a directory"),
    ];
    for (path, kind) in cases {
        for cmd in [&["check"][..], &["import", "--mirror-ipv6"][..]] {
            let mut args: Vec<&OsStr> = cmd.iter().map(OsStr::new).collect();
            args.push(path.as_os_str());
            let out = statewall(&args);
            assert_eq!(out.code, Some(1), "{cmd:?} {}: {out}", path.display());
            let said = format!(
                "cannot read {}: it is {kind}, not a regular file",
                path.display()
            );
            assert!(out.stderr.contains(&said), "{cmd:?}: {out}");
        }
        // as a from_file list, and as the --ipv6 file of an import
        let policy = dir.write(
            "policy.toml",
            format!(
                "[[allow]]\nname = \"ssh\"\ntcp = [22]\nfrom_file = \"{}\"\n",
                path.display()
            ),
        );
        let out = statewall(&[OsStr::new("check"), policy.as_os_str()]);
        assert_eq!(out.code, Some(1), "{out}");
        assert!(
            out.stderr
                .contains(&format!("it is {kind}, not a regular file")),
            "{out}"
        );
        assert!(
            out.stderr.contains("policy.toml:4:13"),
            "at the from_file key: {out}"
        );
        let rules = dir.write("v4.rules", "*filter\n:INPUT DROP [0:0]\nCOMMIT\n");
        let out = statewall(&[
            OsStr::new("import"),
            rules.as_os_str(),
            OsStr::new("--ipv6"),
            path.as_os_str(),
        ]);
        assert_eq!(out.code, Some(1), "{out}");
        assert!(
            out.stderr
                .contains(&format!("it is {kind}, not a regular file")),
            "{out}"
        );
    }
}

#[test]
fn an_empty_or_ruleless_import_is_refused_not_made_an_open_door() {
    let dir = Dir::new("empty");
    let cases = [
        (
            "",
            "the file is empty: it says nothing about incoming packets",
            ":1:1",
        ),
        (
            "# only a comment\n\n",
            "no `*filter` table: the file says nothing",
            ":1:1",
        ),
        (
            "*nat\n:PREROUTING ACCEPT [0:0]\nCOMMIT\n",
            "no `*filter` table",
            ":1:1",
        ),
        (
            "*filter\n:FORWARD ACCEPT [0:0]\nCOMMIT\n",
            "the filter table says nothing about INPUT",
            ":1:1",
        ),
    ];
    for (i, (text, said, at)) in cases.into_iter().enumerate() {
        let p = dir.write(&format!("f{i}.rules"), text);
        let out = import_mirrored(&p);
        assert_eq!(out.code, Some(1), "{text:?}: {out}");
        assert!(out.stdout.is_empty(), "{out}");
        assert!(out.stderr.contains(said), "{text:?}: {out}");
        assert!(
            out.stderr.contains(&format!("f{i}.rules{at}")),
            "{text:?}: {out}"
        );
    }
    let out = statewall(&["import", "--mirror-ipv6", "/dev/null"]);
    assert_eq!(out.code, Some(1), "{out}");
    assert!(
        out.stderr
            .contains("cannot read /dev/null: it is a character device"),
        "{out}"
    );
    // an explicit policy still says something
    let p = dir.write("open.rules", "*filter\n:INPUT ACCEPT [0:0]\nCOMMIT\n");
    let out = import_mirrored(&p);
    assert_eq!(out.code, Some(0), "{out}");
    assert!(out.stdout.contains("mode = \"audit\""), "{out}");
}

#[test]
fn files_past_their_limit_are_refused_without_being_read() {
    let dir = Dir::new("size");
    let sparse = |name: &str, len: u64| {
        let p = dir.write(name, "");
        std::fs::File::options()
            .write(true)
            .open(&p)
            .unwrap()
            .set_len(len)
            .unwrap();
        p
    };
    let big = sparse("big.toml", (4 << 20) + 1);
    let out = statewall(&[OsStr::new("check"), big.as_os_str()]);
    assert_eq!(out.code, Some(1), "{out}");
    assert!(
        out.stderr
            .contains("it is larger than 4 MiB (4,194,305 bytes), the limit for a policy file"),
        "{out}"
    );
    let big = sparse("big.rules", (16 << 20) + 1);
    let out = import_mirrored(&big);
    assert_eq!(out.code, Some(1), "{out}");
    assert!(
        out.stderr.contains(
            "it is larger than 16 MiB (16,777,217 bytes), the limit for an iptables-save file"
        ),
        "{out}"
    );
    sparse("huge.txt", (64 << 20) + 1);
    let p = dir.write(
        "policy.toml",
        "[[allow]]\nname = \"ssh\"\ntcp = [22]\nfrom_file = \"huge.txt\"\n",
    );
    let out = statewall(&[OsStr::new("check"), p.as_os_str()]);
    assert_eq!(out.code, Some(1), "{out}");
    assert!(
        out.stderr
            .contains("cannot read huge.txt: it is larger than 64 MiB (67,108,865 bytes)"),
        "{out}"
    );
    // not text
    let p = dir.write("bin.toml", [0x66, 0x6f, 0xff, 0xfe, 0x0a]);
    let out = statewall(&[OsStr::new("check"), p.as_os_str()]);
    assert_eq!(out.code, Some(1), "{out}");
    assert!(
        out.stderr.contains("it is not UTF-8 text (byte 2 is not)"),
        "{out}"
    );
}

/// `set add -` with a flood of garbage on stdin: every element is checked before anything is
/// sent (no namespace, no table needed to refuse it), the first 20 are shown with their
/// stdin line, the rest counted; the output stays short.
#[test]
fn set_add_reads_a_flood_of_bad_elements_and_says_so_briefly() {
    let mut text = String::new();
    for i in 0..200_000u32 {
        text.push_str(&format!("not-an-address-{i}\n"));
    }
    text.push_str("192.0.2.1\n");
    let mut cmd = crate::support::bin(None);
    cmd.args(["set", "add", "banned", "-"]);
    let out = crate::support::run_with_stdin(cmd, &text);
    out.assert_code(2);
    assert!(
        out.stderr.contains("200000 element(s) are not addresses"),
        "{out}"
    );
    assert!(out.stderr.contains("stdin:1:"), "{out}");
    assert!(out.stderr.contains("and 199980 more"), "{out}");
    assert!(
        out.stderr.len() < 8_000,
        "{} bytes on stderr",
        out.stderr.len()
    );
}

/// Forty thousand TCPMSS rules after an ACCEPT of FORWARD: with an ACCEPT after them each
/// is refused where written (the first shown in full, the rest counted); with every SYN
/// dropped after them each is left out (the notes counted). Either is found in one pass
/// over the file (whether a rule's SYNs are dropped after it is one pass from the end).
#[test]
fn forty_thousand_tcpmss_rules_after_an_accept_are_refused_in_one_pass() {
    let dir = Dir::new("mss");
    let file = |last: &str| {
        let mut text = String::from("*filter\n:FORWARD DROP [0:0]\n-A FORWARD -i lan0 -j ACCEPT\n");
        for _ in 0..40_000u32 {
            text.push_str(
                "-A FORWARD -p tcp --tcp-flags SYN,RST SYN -j TCPMSS --clamp-mss-to-pmtu\n",
            );
        }
        text.push_str(last);
        text.push_str("COMMIT\n");
        text
    };
    // an ACCEPT after them: the SYNs they clamp pass, and each is refused
    let p = dir.write("mss.rules", file("-A FORWARD -j ACCEPT\n"));
    let out = import_mirrored(&p);
    assert_eq!(out.code, Some(1), "{out}");
    assert!(
        out.stderr
            .contains("error: `-j TCPMSS` after line 3, which lets some packets through"),
        "{out}"
    );
    assert!(out.stderr.contains("more, by kind:"), "{out}");
    // every SYN they clamp is dropped after them: each is left out, the notes counted
    let p = dir.write("mss-dropped.rules", file(""));
    let out = import_mirrored(&p);
    assert_eq!(out.code, Some(0), "{out}");
    assert!(
        out.stderr.contains("more notes like these, not listed"),
        "{out}"
    );
}

/// Forty thousand target-less `-m recent --remove` rules: behind one check of their list
/// (the portscan lockout's reset), each is left out (the notes counted); of lists no rule
/// checks, each is left out too (it decides nothing); with the checks after them, each is
/// refused (the errors counted). Each in one pass: a remove looks at the last few checks of
/// its list in its chain, each list's other rules are summed up once, and what the removes
/// follow to fold them into the decisions after them is bounded for the whole file.
#[test]
fn forty_thousand_target_less_removes_are_read_in_one_pass() {
    let dir = Dir::new("removes");
    let file = |guard: &str, after: &str| {
        let mut text = format!("*filter\n:INPUT DROP [0:0]\n{guard}");
        for i in 0..40_000u32 {
            text.push_str(&format!("-A INPUT -m recent --remove --name L{}\n", i % 2));
        }
        text.push_str(after);
        text.push_str("COMMIT\n");
        text
    };
    let guards = "-A INPUT -m recent --rcheck --seconds 60 --name L0 -j DROP\n\
                  -A INPUT -m recent --rcheck --seconds 60 --name L1 -j DROP\n";
    let p = dir.write("guarded.rules", file(guards, ""));
    let out = import_mirrored(&p);
    assert_eq!(out.code, Some(0), "{out}");
    assert!(
        out.stderr.contains("more notes like these, not listed"),
        "{out}"
    );
    let p = dir.write("unchecked.rules", file("", ""));
    let out = import_mirrored(&p);
    assert_eq!(out.code, Some(0), "{out}");
    assert!(
        out.stderr.contains("which no rule of the file checks"),
        "{out}"
    );
    let p = dir.write("checked-after.rules", file("", guards));
    let out = import_mirrored(&p);
    assert_eq!(out.code, Some(1), "{out}");
    assert!(
        out.stderr
            .contains("error: a `-m recent --remove` without a target (`-j`)"),
        "{out}"
    );
    assert!(out.stderr.contains("more, by kind:"), "{out}");
}

/// Three hundred thousand user chains and 49,000 rules in one of them, which nothing jumps
/// to (a ufw `user.rules` grown huge): imported as iptables-restore loads it, accepting every
/// packet, with the chain noted as never jumped to. Which chains have rules is read in one
/// pass over the rules, not in one per chain (that took 24 s in a release build).
#[test]
fn three_hundred_thousand_chains_nothing_jumps_to_are_one_pass() {
    let dir = Dir::new("chains-unused");
    let mut text = String::from("*filter\n");
    for i in 0..300_000u32 {
        text.push_str(&format!(":c{i} - [0:0]\n"));
    }
    for i in 0..49_000u32 {
        text.push_str(&format!(
            "-A c7 -p tcp --dport {} -j ACCEPT\n",
            i % 65_535 + 1
        ));
    }
    text.push_str("COMMIT\n");
    let p = dir.write("unused.rules", text);
    let out = import_mirrored(&p);
    assert_eq!(out.code, Some(0), "{out}");
    assert!(
        out.stderr
            .contains("chain c7 is never jumped to from INPUT, FORWARD or OUTPUT"),
        "{out}"
    );
    assert!(out.stdout.contains("mode = \"audit\""), "{out}");
}

/// An entry whose lists multiply (one rule per value of each "any of these" key, every
/// exception a match in each rule) is refused at its head before any rule is made: 3,000
/// MSS ranges with 3,000 exceptions would be 72 million matches, and 10 values in each of
/// five keys 800,000 rules. 150,000 distinct MAC addresses are read once each (their
/// duplicates found by hash, not by a scan per value) and refused the same way.
#[test]
fn an_entry_whose_lists_multiply_is_refused_before_its_rules_are_made() {
    let dir = Dir::new("multiply");
    let list = |from: usize, step: usize, n: usize| {
        (0..n)
            .map(|i| (from + i * step).to_string())
            .collect::<Vec<_>>()
            .join(", ")
    };
    let ten = list(1, 1, 10);
    let cases = [
        (
            format!(
                "[[block]]\nname = \"mss\"\ntcp_mss = [{}]\nexcept_tcp_mss = [{}]\n",
                list(0, 2, 3000),
                list(1, 2, 3000)
            ),
            "3,000 in `tcp_mss`, each rule with 3,000 exceptions",
        ),
        (
            format!(
                "[[block]]\nname = \"five\"\nlength = [{ten}]\nttl = [{ten}]\ntcp_mss = [{ten}]\ntcp_option = [{}]\nto_type = [\"local\", \"unicast\"]\n",
                list(64, 1, 10)
            ),
            "10 in `length` × 10 in `ttl` × 10 in `tcp_option` × 10 in `tcp_mss`",
        ),
        (
            {
                let macs: Vec<String> = (0..150_000u32)
                    .map(|i| {
                        let [_, a, b, c] = i.to_be_bytes();
                        format!("\"02:00:00:{a:02x}:{b:02x}:{c:02x}\"")
                    })
                    .collect();
                format!("[[block]]\nname = \"macs\"\nmac = [{}]\n", macs.join(", "))
            },
            "150,000 in `mac`",
        ),
    ];
    for (i, (text, why)) in cases.iter().enumerate() {
        let p = dir.write(&format!("policy{i}.toml"), text);
        let out = statewall(&[OsStr::new("check"), p.as_os_str()]);
        assert_eq!(out.code, Some(1), "{out}");
        assert!(
            out.stderr.contains(&format!(
                "error: this entry asks for more than 200,000 matches in its rules\n  --> {}:1:1\n",
                p.display()
            )),
            "{out}"
        );
        assert!(out.stderr.contains(why), "{why}: {out}");
        assert!(out.stderr.contains("1 error; nothing was sent"), "{out}");
    }
}

/// The entries of a policy are bounded together as each one is: 100 blocks of 249
/// protocols × 10 TTLs each (2,490 rules of 10 matches counted, the two keys among them:
/// within one entry's limit; all 100 would be 4.7 GB of batch) are refused at the 31st,
/// which takes the policy past 1,500,000 matches; a list
/// file of 1,000,000 addresses named by nine entries is refused at the ninth, past 8,000,000
/// networks; and 18,000 blocks after unknown names of 60 letters, among 18,000 allows named
/// alike, get "did you mean" for the first few only (each asks every allow name: it used to
/// be all of them, 49 s for 8,000).
#[test]
fn a_policy_is_bounded_by_all_its_entries_together() {
    let dir = Dir::new("together");
    let protos: Vec<String> = (2..254)
        .filter(|p| ![6, 17, 1, 58].contains(p))
        .map(|p| p.to_string())
        .collect();
    let ttls: Vec<String> = (0..10).map(|t| t.to_string()).collect();
    let text: String = (0..100)
        .map(|i| {
            format!(
                "[[block]]\nname = \"b{i}\"\nprotocol = [{}]\nttl = [{}]\n",
                protos.join(", "),
                ttls.join(", ")
            )
        })
        .collect();
    let p = dir.write("protocols.toml", text);
    let out = statewall(&[OsStr::new("check"), p.as_os_str()]);
    assert_eq!(out.code, Some(1), "{out}");
    assert!(
        out.stderr.contains(&format!(
            "error: with this entry, the policy's entries ask for more than 1,500,000 matches in their rules\n    --> {}:121:1\n",
            p.display()
        )),
        "{out}"
    );
    assert!(out.stderr.contains("1 error; nothing was sent"), "{out}");

    let list: String = (0..1_000_000u32)
        .map(|i| {
            let [_, a, b, c] = i.to_be_bytes();
            format!("10.{a}.{b}.{c}\n")
        })
        .collect();
    dir.write("big.txt", list);
    let text: String = (0..9)
        .map(|i| {
            format!(
                "[[allow]]\nname = \"a{i}\"\ntcp = [{}]\nfrom_file = \"big.txt\"\n",
                1000 + i
            )
        })
        .collect();
    let p = dir.write("lists.toml", text);
    let out = statewall(&[OsStr::new("check"), p.as_os_str()]);
    assert_eq!(out.code, Some(1), "{out}");
    assert!(
        out.stderr.contains(&format!(
            "error: with this entry, the policy's address lists hold more than 8,000,000 networks\n   --> {}:33:1\n",
            p.display()
        )),
        "{out}"
    );
    assert!(out.stderr.contains("1 error; nothing was sent"), "{out}");

    let n = 18_000;
    let mut text = String::new();
    for i in 0..n {
        text.push_str(&format!(
            "[[allow]]\nname = \"a{i:x>60}\"\ntcp = [{}]\n",
            i % 60_000 + 1
        ));
    }
    for i in 0..n {
        text.push_str(&format!(
            "[[block]]\nname = \"b{i}\"\nfrom = [\"10.0.0.1\"]\nafter = \"q{i:y>60}\"\n"
        ));
    }
    let p = dir.write("after.toml", text);
    let out = statewall(&[OsStr::new("check"), p.as_os_str()]);
    assert_eq!(out.code, Some(1), "{out}");
    assert!(
        out.stderr
            .contains("17,950 × error: unknown place or allow entry \"…\" for a block"),
        "{out}"
    );
}

/// 2,000 imported rules past the 128 expressions the kernel takes in one rule (31
/// conditional RETURNs before them give each 31 exceptions) are fifty diagnostics shown
/// and a count, as every other list of problems: it was a block for each (2 MB of stderr
/// for 4,000), each looking its line up with a scan of both texts.
#[test]
fn two_thousand_rules_past_the_kernels_expressions_are_fifty_shown() {
    let dir = Dir::new("exprs");
    let mut text = String::from(
        "*filter\n:INPUT DROP [0:0]\n:FORWARD DROP [0:0]\n:OUTPUT ACCEPT [0:0]\n:c - [0:0]\n-A INPUT -j c\n",
    );
    for k in 0..31 {
        text.push_str(&format!("-A c -s 10.0.{k}.1 -j RETURN\n"));
    }
    for port in 1..=2000 {
        text.push_str(&format!("-A c -p tcp --dport {port} -j ACCEPT\n"));
    }
    text.push_str("COMMIT\n");
    let p = dir.write("exceptions.rules", text);
    let out = import_mirrored(&p);
    assert_eq!(out.code, Some(1), "{out}");
    assert_eq!(out.stderr.matches("error: ").count(), 50, "{out}");
    assert!(
        out.stderr
            .contains("… and 1,950 more rules past the 128 expressions\n"),
        "{out}"
    );
    assert!(out.stderr.contains("2,000 problems importing it"), "{out}");
}

/// 150,000 user chains made and deleted (`-N` then one `-X`; then each made and deleted by
/// name), and 10,000 multiport `--ports` rules (two rules each): read in one pass, the
/// chains by hash (not a scan of every chain per `-X`), the import refused for a file that
/// says nothing of INPUT and imported for the ports.
#[test]
fn a_hundred_and_fifty_thousand_deleted_chains_and_split_ports_are_one_pass() {
    let dir = Dir::new("chains");
    let mut text = String::from("*filter\n");
    for i in 0..150_000 {
        text.push_str(&format!("-N c{i}\n"));
    }
    text.push_str("-X\n");
    for i in 0..150_000 {
        text.push_str(&format!("-N d{i}\n-X d{i}\n"));
    }
    text.push_str("COMMIT\n");
    let p = dir.write("chains.rules", &text);
    let out = import_mirrored(&p);
    assert_eq!(out.code, Some(1), "{out}");
    assert!(
        out.stderr
            .contains("error: the filter table says nothing about INPUT, FORWARD or OUTPUT"),
        "{out}"
    );
    let mut text = String::from("*filter\n:INPUT DROP [0:0]\n");
    for i in 0..10_000 {
        text.push_str(&format!(
            "-A INPUT -s 10.{}.{}.0/24 -p tcp -m multiport --ports 443 -j ACCEPT\n",
            i / 256 % 256,
            i % 256
        ));
    }
    text.push_str("COMMIT\n");
    let p = dir.write("ports.rules", &text);
    let out = import_mirrored(&p);
    assert_eq!(out.code, Some(0), "{out}");
    assert!(out.stdout.contains("tcp_sport = [443]"), "{out}");
}

/// An import is bounded however its rules are made: a file of 400,000 rules (15 MB) is
/// refused at the first rule past 50,000, kept no further; a 45 KB file whose 500 jumps each
/// walk a chain of 1,000 rules stops at the walk's budget of 100,000; 99 such jumps walk
/// 99,000 rules, whose policy (every rule an entry with its comment) would be more than the
/// 4 MiB a policy file may be, and is refused rather than written; two files of 45,000 rules
/// each (`--ipv6`) are imported within the memory cap.
#[test]
fn an_import_is_bounded_by_its_rules_its_walk_and_the_policy_it_writes() {
    let dir = Dir::new("rules");
    let head = "*filter\n:INPUT DROP [0:0]\n:FORWARD DROP [0:0]\n:OUTPUT ACCEPT [0:0]\n";
    let plain = |n: u32, v6: bool| {
        let mut text = String::from(head);
        for i in 0..n {
            let [_, a, b, c] = i.to_be_bytes();
            if v6 {
                text.push_str(&format!("-A INPUT -s fd00::{a:x}:{b:x}:{c:x} -j ACCEPT\n"));
            } else {
                text.push_str(&format!("-A INPUT -s 10.{a}.{b}.{c} -j ACCEPT\n"));
            }
        }
        text + "COMMIT\n"
    };
    let p = dir.write("many.rules", plain(400_000, false));
    let out = import_mirrored(&p);
    assert_eq!(out.code, Some(1), "{out}");
    assert_eq!(out.stderr.matches("error:").count(), 1, "{out}");
    assert!(
        out.stderr.contains(&format!(
            "error: the filter table has more than 50,000 rules\n      --> {}:50005:1\n",
            p.display()
        )),
        "{out}"
    );
    assert!(out.stdout.is_empty(), "{out}");
    let jumps = |n: u32| {
        let mut text = String::from(head);
        text.push_str(":X - [0:0]\n");
        for i in 0..1000u32 {
            text.push_str(&format!("-A X -s 10.1.{}.{} -j ACCEPT\n", i / 256, i % 256));
        }
        for port in 1..=n {
            text.push_str(&format!("-A INPUT -p tcp --dport {port} -j X\n"));
        }
        text + "COMMIT\n"
    };
    let p = dir.write("fan.rules", jumps(500));
    let out = import_mirrored(&p);
    assert_eq!(out.code, Some(1), "{out}");
    assert_eq!(out.stderr.matches("error:").count(), 1, "{out}");
    assert!(
        out.stderr
            .contains("error: INPUT, FORWARD and OUTPUT, with the chains they jump to, are more than 100,000 rules long by here (in INPUT)"),
        "{out}"
    );
    let p = dir.write("fan99.rules", jumps(99));
    let out = import_mirrored(&p);
    assert_eq!(out.code, Some(1), "{out}");
    assert!(
        out.stderr
            .contains("more than the 4 MiB a statewall policy file may be"),
        "{out}"
    );
    assert!(out.stdout.is_empty(), "{out}");
    let p4 = dir.write("both.rules", plain(45_000, false));
    let p6 = dir.write("both.rules6", plain(45_000, true));
    let out = statewall(&[
        OsStr::new("import"),
        OsStr::new("--ipv6"),
        p6.as_os_str(),
        p4.as_os_str(),
    ]);
    assert_eq!(out.code, Some(0), "{out}");
    assert!(out.stdout.contains("\"10.0.175.199\""), "{out}");
    assert!(out.stdout.contains("\"fd00::af:c7\""), "{out}");
}

/// A file whose comments are in another encoding (GBK here, as Chinese admins' files often
/// are; iptables-restore reads bytes) imports, those bytes read as U+FFFD and noted by line;
/// the same bytes in an interface name are refused at their line and column, 8 MB of them on
/// one comment line are read in one pass, and a policy file that is not UTF-8 is refused as
/// before.
#[test]
fn comments_in_another_encoding_are_read_and_other_bytes_refused_where_they_are() {
    let dir = Dir::new("gbk");
    let gbk: &[u8] = &[0xd6, 0xd0, 0xce, 0xc4];
    let file = |iif: &[u8], comment: &[u8]| {
        let mut f = b"*filter\n:INPUT DROP [0:0]\n# ".to_vec();
        f.extend(comment);
        f.extend(b"\n-A INPUT -i eth");
        f.extend(iif);
        f.extend(b" -p tcp --dport 22 -m comment --comment \"ssh ");
        f.extend(comment);
        f.extend(b"\" -j ACCEPT\nCOMMIT\n");
        f
    };
    let p = dir.write("gbk.rules", file(b"0", gbk));
    let out = import_mirrored(&p);
    assert_eq!(out.code, Some(0), "{out}");
    assert!(
        out.stderr.contains(&format!(
            "note: {}: lines 3, 4: bytes of a comment that are not UTF-8 are read as U+FFFD",
            p.display()
        )),
        "{out}"
    );
    assert!(out.stdout.contains("iif = \"eth0\""), "{out}");
    let p = dir.write("iif.rules", file(gbk, b"ok"));
    let out = import_mirrored(&p);
    assert_eq!(out.code, Some(1), "{out}");
    assert!(
        out.stderr.contains(&format!(
            "error: bytes that are not UTF-8, outside a comment\n  --> {}:4:16\n",
            p.display()
        )),
        "{out}"
    );
    // 8 million bytes that are not UTF-8 on one `#` line: each line is read once (a look
    // along the line per byte was quadratic: 200 KB took ten seconds)
    let mut big = b"*filter\n:INPUT DROP [0:0]\n# ".to_vec();
    big.extend(std::iter::repeat_n(0xffu8, 8_000_000));
    big.extend(b"\n-A INPUT -p tcp --dport 22 -j ACCEPT\nCOMMIT\n");
    let p = dir.write("big.rules", big);
    let out = import_mirrored(&p);
    assert_eq!(out.code, Some(0), "{out}");
    assert!(out.stderr.contains(": line 3: bytes of a comment"), "{out}");
    let p = dir.write("policy.toml", b"mode = \"enforce\"\n# \xd6\xd0\n");
    let out = statewall(&[OsStr::new("check"), p.as_os_str()]);
    assert_eq!(out.code, Some(1), "{out}");
    assert!(
        out.stderr.contains("it is not UTF-8 text (byte 19 is not)"),
        "{out}"
    );
}

/// 200,000 DROP policies of the raw table's PREROUTING over a filter table that drops every
/// packet (each changes nothing), and 20,000 OUTPUT accepts naming their socket's owner
/// `root`: each read once — the line of each note found by the file's line index, not by a
/// scan from its start — the policies one note that names 16 and counts the rest, the
/// owners' notes kept to their bound.
#[test]
fn two_hundred_thousand_drop_policies_and_twenty_thousand_owner_names_are_one_pass() {
    let dir = Dir::new("elsewhere");
    let mut text = String::from("*raw\n");
    for _ in 0..200_000u32 {
        text.push_str(":PREROUTING DROP [0:0]\n");
    }
    text.push_str(
        "COMMIT\n*filter\n:INPUT DROP [0:0]\n:FORWARD DROP [0:0]\n:OUTPUT DROP [0:0]\nCOMMIT\n",
    );
    let out = import_mirrored(&dir.write("drops.rules", text));
    assert_eq!(out.code, Some(0), "{out}");
    assert!(
        out.stderr.contains("and 199984 more change nothing"),
        "{out}"
    );
    let mut text = String::from("*filter\n:INPUT DROP [0:0]\n:OUTPUT DROP [0:0]\n");
    for port in 0..20_000u32 {
        text.push_str(&format!(
            "-A OUTPUT -p tcp --dport {} -m owner --uid-owner root -j ACCEPT\n",
            1 + port
        ));
    }
    text.push_str("COMMIT\n");
    let out = import_mirrored(&dir.write("owners.rules", text));
    assert_eq!(out.code, Some(0), "{out}");
    assert!(out.stderr.contains("is uid 0 on this host"), "{out}");
    assert!(
        out.stderr.contains("more notes like these, not listed"),
        "{out}"
    );
}

/// Eight thousand single-address DROPs before the ESTABLISHED accept: looking for a block
/// place for each runs out of its comparisons part of the way, the rest keep the place of
/// their kind (after the established rule), and the order check refuses the accept; the
/// refusal says where the looking stopped and why, not only which rule conflicts.
#[test]
fn eight_thousand_drops_before_established_say_where_placing_stopped() {
    let dir = Dir::new("drops-first");
    let mut text =
        String::from("*filter\n:INPUT DROP [0:0]\n:FORWARD DROP [0:0]\n:OUTPUT ACCEPT [0:0]\n");
    for i in 0..8_000u32 {
        text.push_str(&format!(
            "-A INPUT -s 10.0.{}.{} -j DROP\n",
            i / 250,
            i % 250
        ));
    }
    text.push_str("-A INPUT -m conntrack --ctstate RELATED,ESTABLISHED -j ACCEPT\n");
    text.push_str("-A INPUT -p tcp --dport 22 -j ACCEPT\nCOMMIT\n");
    let p = dir.write("drops-first.rules", text);
    let out = import_mirrored(&p);
    assert_eq!(out.code, Some(1), "{out}");
    assert!(
        out.stderr
            .contains("statewall stopped looking for block places at line"),
        "{out}"
    );
}

/// A policy that makes more kernel sets than statewall sends is refused by `check` with the
/// number and why (the kernel's reads of them take time in the square of their number): 4,001
/// `[[set]]`s each named by a block are 8,002 sets; 3,999 pass.
#[test]
fn a_policy_of_more_kernel_sets_than_statewall_sends_is_refused() {
    let dir = Dir::new("sets");
    let text = |n: usize| -> String {
        (0..n)
            .map(|i| {
                format!(
                    "[[set]]\nname = \"s{i}\"\n\n[[block]]\nname = \"b{i}\"\nfrom_set = \"s{i}\"\n"
                )
            })
            .collect()
    };
    let p = dir.write("ok.toml", text(3_999));
    let out = statewall(&[OsStr::new("check"), p.as_os_str()]);
    assert_eq!(out.code, Some(0), "{out}");
    let p = dir.write("many.toml", text(4_001));
    let out = statewall(&[OsStr::new("check"), p.as_os_str()]);
    assert_eq!(out.code, Some(1), "{out}");
    assert!(
        out.stderr.contains(&format!(
            "{}: the policy makes 8,002 kernel sets, more than 8,000\n  = help: the kernel finds a set by name",
            p.display()
        )),
        "{out}"
    );
}
