//! Hostile inputs, measured on the product as a user runs it (time, peak memory, how much it
//! says), how memory grows with the size of an input, kernel replies captured for the
//! fuzzer, and `docs/reliability.md`.

use std::fmt::Write as _;
use std::os::unix::process::ExitStatusExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use super::fuzz::{Outcome, Target};
use super::kill::{self, Tally};
use crate::util::Result;

pub const SSH_ONLY: &str = "[[allow]]\nname = \"ssh\"\ntcp = [22]\n";
pub const SSH_WEB: &str =
    "[[allow]]\nname = \"ssh\"\ntcp = [22]\n\n[[allow]]\nname = \"web\"\ntcp = [80, 443]\n";

/// A policy whose ssh entry takes `n` distinct source networks (one interval set).
pub fn sources_policy(n: usize) -> String {
    let mut s = String::from("[[allow]]\nname = \"ssh\"\ntcp = [22]\nfrom = [\n");
    for i in 0..n {
        let _ = writeln!(s, "  \"10.{}.{}.0/24\",", (i >> 8) & 0xff, i & 0xff);
    }
    s.push_str("]\n");
    s
}

/// (input bytes, peak RSS KiB, milliseconds) at one size.
pub type Point = (u64, u64, u128);
/// One kind of input at growing sizes.
pub type Growth = Vec<(String, Vec<Point>)>;

/// One hostile input, as measured.
pub struct Hostile {
    pub name: String,
    pub bytes: u64,
    pub code: Option<i32>,
    pub elapsed: Duration,
    pub rss_kib: u64,
    pub stderr_bytes: u64,
    pub ok: bool,
}

/// Runs `bin args` with a 20 s limit; (exit code, elapsed, peak RSS KiB, stderr bytes).
fn measure(bin: &Path, args: &[&str], dir: &Path) -> (Option<i32>, Duration, u64, u64) {
    let err = dir.join("stderr");
    let Ok(errfile) = std::fs::File::create(&err) else {
        return (None, Duration::ZERO, 0, 0);
    };
    let started = Instant::now();
    let Ok(child) = Command::new(bin)
        .args(args)
        .current_dir(dir)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(errfile)
        .spawn()
    else {
        return (None, Duration::ZERO, 0, 0);
    };
    let pid = child.id() as i32;
    let mut status = 0;
    // SAFETY: rusage and status are ours; wait4 on our own child.
    let mut ru: libc::rusage = unsafe { std::mem::zeroed() };
    let limit = Instant::now() + Duration::from_secs(20);
    loop {
        // SAFETY: as above, non-blocking.
        let r = unsafe { libc::wait4(pid, &mut status, libc::WNOHANG, &mut ru) };
        if r == pid {
            break;
        }
        if Instant::now() > limit {
            // SAFETY: kill and reap our own child.
            unsafe {
                libc::kill(pid, libc::SIGKILL);
                libc::wait4(pid, &mut status, 0, &mut ru);
            }
            return (None, started.elapsed(), ru.ru_maxrss as u64, size(&err));
        }
        std::thread::sleep(Duration::from_millis(5));
    }
    let code = std::process::ExitStatus::from_raw(status).code();
    (code, started.elapsed(), ru.ru_maxrss as u64, size(&err))
}

fn size(p: &Path) -> u64 {
    std::fs::metadata(p).map(|m| m.len()).unwrap_or(0)
}

/// The hostile inputs of issue 13, made here (none is committed): each must end with a
/// clear answer, say at most 1 MiB on stderr, and (for the release binary) end within 2 s.
pub fn inputs(bin: &Path) -> Result<Vec<Hostile>> {
    let dir = std::env::temp_dir().join(format!("sw-hostile-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).map_err(|e| e.to_string())?;
    let w = |name: &str, text: &[u8]| {
        let p = dir.join(name);
        let _ = std::fs::write(&p, text);
        p.display().to_string()
    };
    let mut dup = String::from("[[allow]]\nname = \"web\"\ntcp = [");
    for _ in 0..70_000 {
        dup.push_str("80, ");
    }
    dup.push_str("80]\n");
    let dup = w("dup-ports.toml", dup.as_bytes());
    let cr = w(
        "cr.toml",
        "[[allow]]\rname = \"x\"\rtcp = [22, ]]]\r"
            .repeat(30_000)
            .as_bytes(),
    );
    let mut warn = String::new();
    for i in 0..300 {
        let _ = write!(warn, "[[allow]]\nname = \"s{i}\"\ntcp = [22]\n");
    }
    let warn = w("warnings.toml", warn.as_bytes());
    let mut s8000 = String::from("*filter\n:INPUT DROP [0:0]\n-A INPUT -p tcp --dport 22");
    for i in 0..8_000 {
        let _ = write!(s8000, " -s 10.{}.{}.1", i >> 8, i & 0xff);
    }
    s8000.push_str(" -j ACCEPT\nCOMMIT\n");
    let s8000 = w("s8000.rules", s8000.as_bytes());
    let zero_list = w(
        "from-zero.toml",
        b"[[allow]]\nname = \"x\"\ntcp = [22]\nfrom_file = \"/dev/zero\"\n",
    );
    let fifo = dir.join("fifo");
    let c =
        std::ffi::CString::new(fifo.as_os_str().as_encoded_bytes()).map_err(|e| e.to_string())?;
    // SAFETY: mkfifo on a path we own.
    unsafe { libc::mkfifo(c.as_ptr(), 0o600) };
    let fifo = fifo.display().to_string();
    // (name, args, expected exit codes)
    let cases: Vec<(&str, Vec<&str>, &[i32])> = vec![
        ("check: 70,000 duplicate ports", vec!["check", &dup], &[1]),
        ("check: bare CR line ends (1 MB)", vec!["check", &cr], &[1]),
        (
            "check: 300 entries on one port (the warnings case)",
            vec!["check", &warn],
            &[0, 1],
        ),
        (
            "import: one rule with -s 8,000 times",
            vec!["import", &s8000, "--mirror-ipv6"],
            &[0, 1],
        ),
        ("check /dev/zero", vec!["check", "/dev/zero"], &[1]),
        ("from_file = \"/dev/zero\"", vec!["check", &zero_list], &[1]),
        ("check /dev/urandom", vec!["check", "/dev/urandom"], &[1]),
        ("check a FIFO", vec!["check", &fifo], &[1]),
        (
            "import /dev/null",
            vec!["import", "/dev/null", "--mirror-ipv6"],
            &[1],
        ),
        ("check a directory", vec!["check", "/"], &[1]),
    ];
    let release = !bin.to_string_lossy().contains("/debug/");
    let mut out = Vec::new();
    for (name, args, codes) in cases {
        let bytes = args
            .get(1)
            .map(|f| std::fs::metadata(f).map(|m| m.len()).unwrap_or(0))
            .unwrap_or(0);
        let (code, elapsed, rss_kib, stderr_bytes) = measure(bin, &args, &dir);
        let ok = code.is_some_and(|c| codes.contains(&c))
            && stderr_bytes <= 1 << 20
            && (!release || elapsed <= Duration::from_secs(2));
        out.push(Hostile {
            name: name.to_string(),
            bytes,
            code,
            elapsed,
            rss_kib,
            stderr_bytes,
            ok,
        });
    }
    let _ = std::fs::remove_dir_all(&dir);
    Ok(out)
}

/// How peak memory grows with input size: `check` of a `from_file` list of n networks and
/// `import` of n rules, at three sizes each. (input bytes, RSS KiB, ms) per size.
pub fn growth(bin: &Path) -> Result<Growth> {
    let dir = std::env::temp_dir().join(format!("sw-growth-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).map_err(|e| e.to_string())?;
    let mut rows = Vec::new();
    let mut list_row = Vec::new();
    let mut import_row = Vec::new();
    for n in [25_000usize, 100_000, 400_000] {
        let mut list = String::new();
        for i in 0..n {
            let _ = writeln!(
                list,
                "10.{}.{}.{}",
                (i >> 16) & 0xff,
                (i >> 8) & 0xff,
                i & 0xff
            );
        }
        std::fs::write(dir.join("list.txt"), &list).map_err(|e| e.to_string())?;
        std::fs::write(
            dir.join("p.toml"),
            "[[allow]]\nname = \"x\"\ntcp = [22]\nfrom_file = \"list.txt\"\n",
        )
        .map_err(|e| e.to_string())?;
        let (_, t, rss, _) = measure(bin, &["check", "p.toml"], &dir);
        list_row.push((list.len() as u64, rss, t.as_millis()));
        let mut rules = String::from("*filter\n:INPUT DROP [0:0]\n");
        for i in 0..n / 10 {
            let _ = writeln!(
                rules,
                "-A INPUT -s 10.{}.{}.0/24 -p tcp --dport 22 -j ACCEPT",
                (i >> 8) & 0xff,
                i & 0xff
            );
        }
        rules.push_str("COMMIT\n");
        std::fs::write(dir.join("r.rules"), &rules).map_err(|e| e.to_string())?;
        let (_, t, rss, _) = measure(bin, &["import", "r.rules", "--mirror-ipv6"], &dir);
        import_row.push((rules.len() as u64, rss, t.as_millis()));
    }
    rows.push((
        "check, a from_file list of n networks".to_string(),
        list_row,
    ));
    rows.push(("import, n/10 rules".to_string(), import_row));
    let _ = std::fs::remove_dir_all(&dir);
    Ok(rows)
}

/// Rule and set-element dump replies read from the kernel after applying the example
/// policies in a namespace: real bytes for the decoder's seeds.
pub fn captured_replies(bin: &Path) -> Result<Vec<Vec<u8>>> {
    use statewall::codec::{nft, sets, wire};
    let ns = kill::Ns::new(&format!("sw-capture-{}", std::process::id()))?;
    let root = crate::util::repo_root();
    let state = std::env::temp_dir().join(format!("sw-capture-state-{}", std::process::id()));
    let mut out = Vec::new();
    for policy in [
        "examples/web-and-mail.toml",
        "tests/data/policy/ok-full.toml",
    ] {
        let p: PathBuf = root.join(policy);
        let status = Command::new(bin)
            .args(["--netns", &ns.0, "--state-dir"])
            .arg(&state)
            .args(["apply"])
            .arg(&p)
            .arg("--audit")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .map_err(|e| e.to_string())?;
        if !status.success() {
            continue;
        }
        let name = ns.0.clone();
        let got = std::thread::spawn(move || -> std::result::Result<Vec<Vec<u8>>, String> {
            statewall::system::netns::enter(&name).map_err(|e| e.to_string())?;
            let mut sock = statewall::system::netlink::Socket::open().map_err(|e| e.to_string())?;
            let mut attrs = wire::Attrs::default();
            attrs
                .str(nft::NFTA_RULE_TABLE, "statewall")
                .str(nft::NFTA_RULE_CHAIN, "input");
            let mut msgs = sock
                .dump(wire::nft_message(
                    nft::NFT_MSG_GETRULE,
                    nft::NLM_F_REQUEST | nft::NLM_F_DUMP,
                    &attrs,
                ))
                .map_err(|e| e.to_string())?;
            for set in ["audit_tcp", "src4_backend", "tcp_web"] {
                if let Ok(m) = sock.dump(sets::getsetelem(0, "statewall", set)) {
                    msgs.extend(m);
                }
            }
            Ok(msgs)
        })
        .join()
        .map_err(|_| "the capture thread panicked".to_string())??;
        out.extend(got);
    }
    let _ = std::fs::remove_dir_all(&state);
    Ok(out)
}

/// `docs/reliability.md`.
pub fn report(
    summary: &str,
    fuzz: &[(Target, Outcome)],
    kills: &[(String, Tally)],
    hostile: &[Hostile],
    growth: &[(String, Vec<Point>)],
) -> String {
    let mut s = String::new();
    let _ = writeln!(
        s,
        "# Reliability\n\nWritten by `cargo xtask soak` ({summary}). CI runs `cargo xtask soak --smoke` (a little\nof each, nothing written). Every figure below is what this run measured on this machine\n(2 cores), in throwaway network namespaces.\n"
    );
    let _ = writeln!(
        s,
        "## Failure loops\n\nThe judge of \"one policy, whole\": `statewall status --json` says no drift (every live rule\ndecoded and fingerprinted again) and the table's fingerprint, read with `nft`, is one of the\npolicies applied. Foreign tables are compared with `nft list table` before and after.\n\n| loop | iterations | mixed or missing | blocked afterwards |\n|---|---:|---:|---:|"
    );
    for (what, t) in kills {
        let _ = writeln!(
            s,
            "| {what} | {} | {} | {} |",
            t.iterations, t.mixed_or_missing, t.stuck
        );
    }
    let _ = writeln!(
        s,
        "\n## Fuzzing (stable Rust, mutation, in-process)\n\n| target | seeds | executions | minutes | panics | largest input |\n|---|---:|---:|---:|---:|---:|"
    );
    for (t, o) in fuzz {
        let _ = writeln!(
            s,
            "| {} | {} | {} | {:.1} | {} | {} bytes |",
            t.name(),
            o.seeds,
            o.executions,
            o.elapsed.as_secs_f64() / 60.0,
            o.panics,
            o.largest_input
        );
    }
    let _ = writeln!(
        s,
        "\n## Hostile inputs (the release binary)\n\nGoal: each ends within 2 s with a clear answer and at most 1 MiB on stderr.\n\n| input | bytes | exit | time | peak RSS | stderr |\n|---|---:|---:|---:|---:|---:|"
    );
    for h in hostile {
        let _ = writeln!(
            s,
            "| {} | {} | {} | {} ms | {} KiB | {} bytes |",
            h.name,
            h.bytes,
            h.code.map_or("killed".to_string(), |c| c.to_string()),
            h.elapsed.as_millis(),
            h.rss_kib,
            h.stderr_bytes
        );
    }
    if !growth.is_empty() {
        let _ = writeln!(
            s,
            "\n## Memory against input size\n\nGoal: linear, at most about 20× the input.\n\n| what | input | peak RSS | RSS / input | time |\n|---|---:|---:|---:|---:|"
        );
        for (what, points) in growth {
            for (bytes, rss, ms) in points {
                let _ = writeln!(
                    s,
                    "| {what} | {} KiB | {} KiB | {:.1}× | {ms} ms |",
                    bytes / 1024,
                    rss,
                    *rss as f64 * 1024.0 / (*bytes).max(1) as f64
                );
            }
        }
    }
    s
}
