//! `cargo xtask soak`: the reliability suite. Failure loops in throwaway namespaces (SIGKILL
//! during applies and confirm windows, racing applies, damaged records, foreign tables kept
//! byte-identical), a mutation fuzzer over the parser, the importer and the decoder, and the
//! hostile inputs measured. The full run writes `docs/reliability.md`; `--smoke` (what CI
//! runs) does a little of each and writes nothing.

mod fuzz;
mod hostile;
mod kill;

use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use crate::util::{self, Result};
use fuzz::{Rng, Target};

struct Plan {
    smoke: bool,
    fuzz_executions: u64,
    fuzz_budget: Duration,
    killed_applies: u64,
    races: u64,
    trials: u64,
    out: Option<PathBuf>,
    seed: u64,
}

fn plan(args: &[String]) -> Result<Plan> {
    let seed = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos() as u64)
        .unwrap_or(1)
        ^ u64::from(std::process::id());
    let mut p = Plan {
        smoke: false,
        // per target: three targets make 1,200,000 in all
        fuzz_executions: 400_000,
        fuzz_budget: Duration::from_secs(15 * 60),
        killed_applies: 2_000,
        races: 300,
        trials: 24,
        out: Some(util::repo_root().join("docs/reliability.md")),
        seed,
    };
    let mut it = args.iter();
    while let Some(a) = it.next() {
        match a.as_str() {
            "--smoke" => {
                p.smoke = true;
                p.fuzz_executions = 20_000;
                p.fuzz_budget = Duration::from_secs(60);
                p.killed_applies = 60;
                p.races = 10;
                p.trials = 3;
                p.out = None;
            }
            "--out" => p.out = Some(PathBuf::from(it.next().ok_or("--out FILE")?)),
            "--seed" => {
                p.seed = it
                    .next()
                    .and_then(|s| s.parse().ok())
                    .ok_or("--seed NUMBER")?;
            }
            other => return Err(format!("soak: unknown argument {other:?}")),
        }
    }
    Ok(p)
}

fn build(release: bool) -> Result<PathBuf> {
    let root = util::repo_root();
    let mut cmd = Command::new(util::cargo());
    cmd.args(["build", "--package", "statewall", "--bin", "statewall"])
        .current_dir(&root);
    if release {
        cmd.arg("--release");
    }
    util::run_ok(&mut cmd)?;
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .map(|t| if t.is_absolute() { t } else { root.join(t) })
        .unwrap_or_else(|| root.join("target"));
    Ok(target
        .join(if release { "release" } else { "debug" })
        .join("statewall"))
}

pub fn run(args: &[String]) -> Result {
    let p = plan(args)?;
    util::trap_signals();
    if !util::is_root() {
        return Err("the soak creates network namespaces: run it as root".into());
    }
    let started = Instant::now();
    println!(
        "soak: seed {} ({})",
        p.seed,
        if p.smoke { "smoke" } else { "full" }
    );
    let mut rng = Rng::new(p.seed);
    let mut report = String::new();
    let mut failures = 0u64;

    // 1. the fuzzer (in this process, on the library)
    let root = util::repo_root();
    let policies = fuzz::text_seeds(
        &[root.join("tests/data/policy"), root.join("examples")],
        &["toml"],
    );
    let imports = fuzz::text_seeds(
        &[root.join("tests/data/import")],
        &["rules", "v4", "txt", "save"],
    );
    let debug = build(false)?;
    let captured = hostile::captured_replies(&debug).unwrap_or_else(|e| {
        println!("soak: no kernel replies captured ({e}); the decoder is seeded from encodings");
        Vec::new()
    });
    let decoder = fuzz::decoder_seeds(&policies, captured.clone());
    let state = fuzz::state_seeds(&policies);
    let crashes = root.join("target/soak/crashes");
    let mut fuzz_rows = Vec::new();
    for (target, seeds) in [
        (Target::Policy, &policies),
        (Target::Import, &imports),
        (Target::Decoder, &decoder),
        (Target::State, &state),
    ] {
        util::check_interrupted()?;
        let o = fuzz::fuzz(
            target,
            seeds,
            p.fuzz_executions,
            p.fuzz_budget,
            &mut rng,
            &crashes,
        );
        println!(
            "fuzz {}: {} executions from {} seeds in {:.1} min, {} panics, largest input {} bytes",
            target.name(),
            o.executions,
            o.seeds,
            o.elapsed.as_secs_f64() / 60.0,
            o.panics,
            o.largest_input
        );
        for s in &o.saved {
            println!("  saved: {}", s.display());
        }
        failures += o.panics;
        fuzz_rows.push((target, o));
    }

    // 2. the failure loops: the product as shipped (release) for the kills and races, the
    //    debug build (which takes confirm windows of 2 s) for the trials
    let release = if p.smoke { debug.clone() } else { build(true)? };
    let kill_rows = kill_loops(&p, &release, &debug, &mut rng)?;
    for (what, t) in &kill_rows {
        println!(
            "{what}: {} iterations, {} mixed or missing, {} blocked",
            t.iterations, t.mixed_or_missing, t.stuck
        );
        for n in t.notes.iter().take(5) {
            println!("  {n}");
        }
        failures += t.mixed_or_missing + t.stuck;
    }

    // 3. hostile inputs, and how memory grows with input size
    let bin = if p.smoke { debug.clone() } else { build(true)? };
    let hostile_rows = hostile::inputs(&bin)?;
    let growth = if p.smoke {
        Vec::new()
    } else {
        hostile::growth(&bin)?
    };
    for h in &hostile_rows {
        println!(
            "hostile {}: exit {:?} in {} ms, {} KiB RSS, {} bytes of stderr{}",
            h.name,
            h.code,
            h.elapsed.as_millis(),
            h.rss_kib,
            h.stderr_bytes,
            if h.ok { "" } else { "  <- FAILED" }
        );
        if !h.ok {
            failures += 1;
        }
    }

    write!(
        report,
        "{}",
        hostile::report(
            &p_summary(&p, started),
            &fuzz_rows,
            &kill_rows,
            &hostile_rows,
            &growth
        )
    )
    .map_err(|e| e.to_string())?;
    if let Some(out) = &p.out {
        std::fs::write(out, &report).map_err(|e| format!("{}: {e}", out.display()))?;
        println!("wrote {}", out.display());
    }
    println!(
        "soak: {failures} failures in {:.1} min",
        started.elapsed().as_secs_f64() / 60.0
    );
    if failures > 0 {
        return Err(format!("{failures} failures (seed {})", p.seed));
    }
    Ok(())
}

fn p_summary(p: &Plan, started: Instant) -> String {
    format!(
        "seed {}, {} run, {:.1} minutes in all",
        p.seed,
        if p.smoke { "smoke" } else { "full" },
        started.elapsed().as_secs_f64() / 60.0
    )
}

fn kill_loops(
    p: &Plan,
    bin: &Path,
    debug: &Path,
    rng: &mut Rng,
) -> Result<Vec<(String, kill::Tally)>> {
    let dir = std::env::temp_dir().join(format!("sw-soak-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).map_err(|e| e.to_string())?;
    let result = (|| {
        let ns = kill::Ns::new(&format!("sw-soak-{}", std::process::id()))?;
        let foreign = kill::foreign_tables(&ns)?;
        let small_a = write(&dir, "a.toml", hostile::SSH_WEB)?;
        let small_b = write(&dir, "b.toml", hostile::SSH_ONLY)?;
        let big = write(&dir, "big.toml", &hostile::sources_policy(20_000))?;
        let mut soak = kill::Soak {
            bin,
            ns: &ns,
            state: dir.join("state"),
            rng,
        };
        let mut rows = Vec::new();
        rows.push((
            "SIGKILL during apply (small and 20,000-source policies)".to_string(),
            soak.killed_applies(&[small_a.clone(), small_b.clone(), big], p.killed_applies)?,
        ));
        rows.push((
            "racing applies (shared and separate state directories)".to_string(),
            soak.racing_applies(&small_a, &small_b, p.races)?,
        ));
        soak.bin = debug;
        rows.push((
            "SIGKILL of the CLI or the guard in a confirm window, records damaged".to_string(),
            soak.killed_trials(&small_a, &small_b, p.trials)?,
        ));
        let after = kill::listings(&ns)?;
        let mut t = kill::Tally {
            iterations: foreign.len() as u64,
            ..kill::Tally::default()
        };
        for ((name, before), (_, now)) in foreign.iter().zip(&after) {
            if before != now {
                t.mixed_or_missing += 1;
                t.notes.push(format!("{name} changed"));
            }
        }
        rows.push((
            "foreign tables byte-identical (ip filter, inet firewalld, ip nat)".to_string(),
            t,
        ));
        Ok(rows)
    })();
    let _ = std::fs::remove_dir_all(&dir);
    result
}

fn write(dir: &Path, name: &str, text: &str) -> Result<PathBuf> {
    let p = dir.join(name);
    std::fs::write(&p, text).map_err(|e| format!("{}: {e}", p.display()))?;
    Ok(p)
}
