//! `cargo xtask bench`, live sets and incremental apply (issue 11): `statewall set add|del`
//! of one element into a set of 100,000 members and of 10,000 at once, beside `nft add|delete
//! element` and `nft -f` on the same kind of set; and an apply of a 100,000-line `from_file`
//! list with one line changed, beside the first apply of that list and beside `nft -f`
//! reloading the set. Everything in network namespaces made here and deleted afterwards.

use std::fmt::Write as _;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use crate::bench::{in_ns, median, run_timed};
use crate::util::{self, Result};

/// Members of the big set.
const BIG: u32 = 100_000;
/// Elements of one bulk change.
const BULK: u32 = 10_000;

/// An IPv4 address of the benchmark range 198.18.0.0/15, spread out by `stride`.
fn addr(i: u32, stride: u32) -> String {
    let v = u32::from_be_bytes([198, 18, 0, 0]) + (i * stride) % ((1 << 17) - 2) + 1;
    std::net::Ipv4Addr::from(v).to_string()
}

/// A namespace of this run, deleted on drop.
struct Ns(String);

impl Ns {
    fn new(name: String) -> Result<Ns> {
        util::run_ok(Command::new("ip").args(["netns", "add", &name]))?;
        Ok(Ns(name))
    }
}

impl Drop for Ns {
    fn drop(&mut self) {
        let _ = Command::new("ip")
            .args(["netns", "del", &self.0])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status();
    }
}

/// One row: the work, statewall's median, the peer's median (ms), the peer's name.
struct Row {
    work: String,
    statewall: f64,
    /// (median ms, or None when it was killed at the command timeout; the peer's name)
    peer: Option<(Option<f64>, String)>,
}

struct Ctx<'a> {
    statewall: &'a Path,
    nft: &'a Path,
    dir: &'a Path,
    reps: usize,
}

impl Ctx<'_> {
    fn file(&self, name: &str, text: &str) -> Result<PathBuf> {
        let p = self.dir.join(name);
        fs::write(&p, text).map_err(|e| format!("cannot write {}: {e}", p.display()))?;
        Ok(p)
    }

    /// statewall with its state dir in this run's directory, inside `ns`.
    fn sw(&self, ns: &Ns, args: &[&str]) -> Command {
        let mut c = Command::new(self.statewall);
        c.arg("--netns")
            .arg(&ns.0)
            .arg("--state-dir")
            .arg(self.dir.join("state"))
            .args(args);
        c
    }

    fn timed(&self, cmd: Command) -> Result<f64> {
        Ok(run_timed(cmd, &self.dir.join("stderr"))?.wall.as_secs_f64() * 1000.0)
    }

    /// [`timed`](Self::timed) for a peer that may not finish: `None` when the bench's
    /// command timeout killed it (the row says so; the run goes on).
    fn timed_peer(&self, cmd: Command) -> Result<Option<f64>> {
        match self.timed(cmd) {
            Ok(ms) => Ok(Some(ms)),
            Err(e) if e.contains("killed after") => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// A command with `input` on its stdin, timed (the input is written to a file first, so
    /// that producing it is not measured).
    fn timed_stdin(&self, mut cmd: Command, input: &Path) -> Result<f64> {
        let f = fs::File::open(input).map_err(|e| format!("{}: {e}", input.display()))?;
        cmd.stdin(f);
        let what = util::display_command(&cmd);
        let t0 = std::time::Instant::now();
        let out = cmd
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .output()
            .map_err(|e| format!("cannot run `{what}`: {e}"))?;
        let ms = t0.elapsed().as_secs_f64() * 1000.0;
        if !out.status.success() {
            return Err(format!(
                "`{what}` failed: {}",
                String::from_utf8_lossy(&out.stderr)
            ));
        }
        Ok(ms)
    }

    fn nft(&self, ns: &Ns, args: &[&str]) -> Command {
        let mut c = in_ns(&ns.0, self.nft);
        c.args(args);
        c
    }
}

/// Runs the section; its markdown.
pub fn run(statewall: &Path, nft: &Path, dir: &Path, prefix: &str, quick: bool) -> Result<String> {
    let cx = Ctx {
        statewall,
        nft,
        dir,
        reps: if quick { 3 } else { 7 },
    };
    let _ = fs::remove_dir_all(dir.join("state"));
    let mut rows = Vec::new();
    members(&cx, prefix, &mut rows)?;
    incremental(&cx, prefix, &mut rows)?;
    Ok(render(&rows, cx.reps))
}

/// set add/del, one element and 10,000, into a live set of 100,000 members; beside nft on an
/// interval set with timeouts (what a live set is), loaded with the same members.
fn members(cx: &Ctx<'_>, prefix: &str, rows: &mut Vec<Row>) -> Result {
    let sw = Ns::new(format!("{prefix}-ls-sw"))?;
    let nf = Ns::new(format!("{prefix}-ls-nft"))?;
    let policy = cx.file(
        "live.toml",
        "[[set]]\nname = \"banned\"\n\n[[block]]\nname = \"bans\"\nfrom_set = \"banned\"\n\n\
         [[allow]]\nname = \"ssh\"\ntcp = [22]\n",
    )?;
    util::run_ok(&mut cx.sw(&sw, &["apply", &policy.display().to_string()]))?;
    let big: String = (0..BIG).map(|i| addr(i, 1) + "\n").collect();
    let big_file = cx.file("big.txt", &big)?;
    cx.timed_stdin(cx.sw(&sw, &["set", "add", "banned", "-"]), &big_file)?;
    let mut script = String::from(
        "table inet bench {\n\tset banned {\n\t\ttype ipv4_addr\n\t\tflags interval,timeout\n\t\tcounter\n\t\telements = {\n",
    );
    for i in 0..BIG {
        let _ = writeln!(script, "\t\t\t{},", addr(i, 1));
    }
    script.push_str("\t\t}\n\t}\n}\n");
    let nft_big = cx.file("big.nft", &script)?;
    util::run_ok(&mut cx.nft(&nf, &["-f", &nft_big.display().to_string()]))?;
    // one element (outside the 100,000: the range is 2^17 wide)
    let (mut s_add, mut s_del, mut n_add, mut n_del) = (vec![], vec![], vec![], vec![]);
    for r in 0..cx.reps {
        let a = addr(BIG + 1 + r as u32, 1);
        s_add.push(cx.timed(cx.sw(&sw, &["set", "add", "banned", &a]))?);
        s_del.push(cx.timed(cx.sw(&sw, &["set", "del", "banned", &a]))?);
        let el = format!("{{ {a} }}");
        n_add.push(cx.timed(cx.nft(&nf, &["add", "element", "inet", "bench", "banned", &el]))?);
        n_del.push(cx.timed(cx.nft(&nf, &["delete", "element", "inet", "bench", "banned", &el]))?);
    }
    let label = |w: &str| format!("{w}, 1 element, set of {}k", BIG / 1000);
    rows.push(Row {
        work: label("set add"),
        statewall: median(s_add),
        peer: Some((Some(median(n_add)), "`nft add element`".into())),
    });
    rows.push(Row {
        work: label("set del"),
        statewall: median(s_del),
        peer: Some((Some(median(n_del)), "`nft delete element`".into())),
    });
    // 10,000 at once: statewall from stdin, nft from a file
    let bulk: Vec<String> = (0..BULK).map(|i| addr(BIG + 100 + i, 1)).collect();
    let bulk_file = cx.file("bulk.txt", &(bulk.join("\n") + "\n"))?;
    let add_nft = cx.file(
        "bulk-add.nft",
        &format!("add element inet bench banned {{ {} }}\n", bulk.join(", ")),
    )?;
    let del_nft = cx.file(
        "bulk-del.nft",
        &format!(
            "delete element inet bench banned {{ {} }}\n",
            bulk.join(", ")
        ),
    )?;
    let (mut s_add, mut s_del) = (vec![], vec![]);
    for _ in 0..cx.reps.min(3) {
        s_add.push(cx.timed_stdin(cx.sw(&sw, &["set", "add", "banned", "-"]), &bulk_file)?);
        s_del.push(cx.timed_stdin(cx.sw(&sw, &["set", "del", "banned", "-"]), &bulk_file)?);
    }
    // nft once each: it takes minutes on an interval set of this size
    let n_add = cx.timed_peer(cx.nft(&nf, &["-f", &add_nft.display().to_string()]))?;
    let n_del = match n_add {
        Some(_) => cx.timed_peer(cx.nft(&nf, &["-f", &del_nft.display().to_string()]))?,
        None => None,
    };
    let label = |w: &str| {
        format!(
            "{w}, {}k elements at once, set of {}k",
            BULK / 1000,
            BIG / 1000
        )
    };
    rows.push(Row {
        work: label("set add -"),
        statewall: median(s_add),
        peer: Some((n_add, "`nft -f` (add element), once".into())),
    });
    rows.push(Row {
        work: label("set del -"),
        statewall: median(s_del),
        peer: Some((n_del, "`nft -f` (delete element), once".into())),
    });
    Ok(())
}

/// A 100,000-line `from_file` list: the first apply, then applies that each change one line
/// (patched in place); nft's way to the same change is a script that reloads the set.
fn incremental(cx: &Ctx<'_>, prefix: &str, rows: &mut Vec<Row>) -> Result {
    let lines: Vec<String> = (0..BIG).map(|i| addr(i, 1)).collect();
    let write_list = |changed: Option<usize>| -> Result<PathBuf> {
        let mut l = lines.clone();
        if let Some(r) = changed {
            l[BIG as usize / 2] = addr(BIG + 1 + r as u32, 1);
        }
        cx.file("list.txt", &(l.join("\n") + "\n"))
    };
    let policy = cx.file(
        "list.toml",
        "[[allow]]\nname = \"ssh\"\ntcp = [22]\n\n[[allow]]\nname = \"bulk\"\ntcp = [8080]\nfrom_file = \"list.txt\"\n",
    )?;
    let p = policy.display().to_string();
    let mut first = vec![];
    for _ in 0..cx.reps.min(3) {
        let ns = Ns::new(format!("{prefix}-inc-first"))?;
        let _ = fs::remove_dir_all(cx.dir.join("state"));
        write_list(None)?;
        first.push(cx.timed(cx.sw(&ns, &["apply", &p]))?);
    }
    let ns = Ns::new(format!("{prefix}-inc"))?;
    let _ = fs::remove_dir_all(cx.dir.join("state"));
    write_list(None)?;
    util::run_ok(&mut cx.sw(&ns, &["apply", &p]))?;
    let mut changed = vec![];
    for r in 0..cx.reps {
        write_list(Some(r))?;
        changed.push(cx.timed(cx.sw(&ns, &["apply", &p]))?);
    }
    // nft: a set of the same 100,000 addresses, reloaded with one changed
    let nf = Ns::new(format!("{prefix}-inc-nft"))?;
    let script = |changed: Option<usize>| -> Result<PathBuf> {
        let mut l = lines.clone();
        if let Some(r) = changed {
            l[BIG as usize / 2] = addr(BIG + 1 + r as u32, 1);
        }
        let mut s = String::from(
            "table inet bench\ndelete table inet bench\ntable inet bench {\n\tset bulk {\n\t\ttype ipv4_addr\n\t\tcounter\n\t\telements = {\n",
        );
        for a in &l {
            let _ = writeln!(s, "\t\t\t{a},");
        }
        s.push_str("\t\t}\n\t}\n}\n");
        cx.file("reload.nft", &s)
    };
    let f = script(None)?;
    util::run_ok(&mut cx.nft(&nf, &["-f", &f.display().to_string()]))?;
    let mut reload = vec![];
    for r in 0..cx.reps.min(3) {
        let f = script(Some(r))?;
        reload.push(cx.timed(cx.nft(&nf, &["-f", &f.display().to_string()]))?);
    }
    let first_ms = median(first);
    rows.push(Row {
        work: format!("apply, first, {}k-line from_file list", BIG / 1000),
        statewall: first_ms,
        peer: None,
    });
    let changed_ms = median(changed);
    rows.push(Row {
        work: format!(
            "apply, one line of the {}k list changed (patched in place; {:.1}× faster than the first apply)",
            BIG / 1000,
            first_ms / changed_ms
        ),
        statewall: changed_ms,
        peer: Some((Some(median(reload)), "`nft -f` reloading the set".into())),
    });
    Ok(())
}

fn render(rows: &[Row], reps: usize) -> String {
    let mut s = String::from(
        "## Live sets and incremental apply (issue 11)\n\n\
         Whole-process medians; statewall enters the namespace itself (`--netns`), nft runs under \
         `ip netns exec`. The live set and nft's set are both interval sets with timeouts and a \
         counter per element, loaded with the same 100,000 addresses.\n\n\
         | work | statewall | peer | peer | ÷ peer |\n|---|---:|---:|---|---:|\n",
    );
    for r in rows {
        let (peer, name, ratio) = match &r.peer {
            Some((Some(ms), name)) => (
                fmt_ms(*ms),
                name.clone(),
                format!("{:.2}×", ms / r.statewall),
            ),
            Some((None, name)) => (
                "> 120 s (killed)".into(),
                name.clone(),
                format!("> {:.0}×", 120_000.0 / r.statewall),
            ),
            None => ("—".into(), "—".into(), "—".into()),
        };
        let _ = writeln!(
            s,
            "| {} | {} | {peer} | {name} | {ratio} |",
            r.work,
            fmt_ms(r.statewall)
        );
    }
    let _ = writeln!(
        s,
        "\n`÷ peer` > 1 means statewall is faster. Up to {reps} repetitions per cell (3 for the bulk, first-apply and reload cells)."
    );
    s
}

fn fmt_ms(ms: f64) -> String {
    if ms >= 100.0 {
        format!("{ms:.0} ms")
    } else {
        format!("{ms:.1} ms")
    }
}
