//! `cargo xtask bench [--quick] [--out FILE] [--statewall BIN]`: statewall against `nft -f`
//! (one interval set, and linear rules) and `iptables-restore` (nf_tables backend), side by side
//! in one run, every measurement in network namespaces the bench creates and deletes.
//!
//! Per policy size N (the classic 4-port policy, then ssh open from N generated source
//! addresses) each tool gets its own namespace, `sw-bench-<pid>-<case>-<tool>`; the tools that
//! carry traffic also get a client namespace joined by a veth pair (192.0.2.0/24,
//! 2001:db8:5a::/64). Every timing is a whole process (spawn to reap, monotonic clock) and the
//! peak memory is that process's `ru_maxrss` from `wait4`. Medians of R repetitions, 30 ms
//! apart. The results (and the goals of issue 5, evaluated from this run's numbers) go to
//! stdout and to `docs/bench.md`.
//!
//! Teardown is [`Lab`]'s `Drop` (success, error, panic, Ctrl-C), and the temp dir's
//! [`TempDir`] guard. The host namespace never sees a rule, an interface or an address.

use std::fmt::Write as _;
use std::fs;
use std::io::{BufRead, BufReader};
use std::net::{SocketAddr, TcpStream};
use std::os::fd::AsRawFd;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::thread;
use std::time::{Duration, Instant};

use crate::util::{self, Result};
use crate::veth::{self, CLIENT_V4, FW_V4};

const CLASSIC_POLICY: &str = "examples/web-and-mail.toml";

/// The ssh entry's limits of the limited targets: never reached by the loop.
const PER_SOURCE: &str = "{ rate = \"1000000/s\", per = \"source\" }";
const WHOLE_ENTRY: &str = "{ rate = \"1000000/s\" }";
const FW_IF: &str = "bench-fw";
const CLIENT_IF: &str = "bench-cl";
const SSH: u16 = 22;
/// Pause between repetitions: the kernel releases nfnetlink sockets asynchronously.
const GAP: Duration = Duration::from_millis(30);
/// No single command may run longer than this (it is killed and the bench fails).
const COMMAND_TIMEOUT: Duration = Duration::from_secs(120);
const SETUP_TIMEOUT: Duration = Duration::from_secs(10);
/// The benchmark range for generated sources: 198.18.0.0/15 (RFC 2544).
const SOURCE_BASE: u32 = u32::from_be_bytes([198, 18, 0, 1]);
const SOURCE_SPAN: u32 = (1 << 17) - 2;

struct Options {
    quick: bool,
    /// only the live-set and incremental-apply section (docs/bench-sets.md)
    sets_only: bool,
    out: PathBuf,
    statewall: Option<PathBuf>,
}

/// The settings that differ between a full and a `--quick` run.
struct Plan {
    /// (label, number of generated sources (0 = the classic policy), repetitions, traffic?)
    cases: Vec<(&'static str, usize, usize, bool)>,
    /// A cell (one tool, one phase) stops after 3 repetitions once it has used this much time.
    cell_budget: Duration,
    conn_reps: usize,
    conn_duration: Duration,
    conn_max: u64,
}

impl Plan {
    fn new(quick: bool) -> Plan {
        if quick {
            Plan {
                cases: vec![
                    ("classic", 0, 7, true),
                    ("1k", 1_000, 5, false),
                    ("10k", 10_000, 5, true),
                    ("50k", 50_000, 3, false),
                ],
                cell_budget: Duration::from_secs(10),
                conn_reps: 3,
                conn_duration: Duration::from_secs(1),
                conn_max: 10_000,
            }
        } else {
            Plan {
                cases: vec![
                    ("classic", 0, 15, true),
                    ("1k", 1_000, 15, false),
                    ("10k", 10_000, 15, true),
                    ("50k", 50_000, 5, false),
                    ("100k", 100_000, 5, false),
                ],
                cell_budget: Duration::from_secs(25),
                conn_reps: 5,
                conn_duration: Duration::from_secs(2),
                conn_max: 20_000,
            }
        }
    }
}

fn parse_args(args: &[String]) -> Result<Options> {
    let mut opts = Options {
        quick: false,
        sets_only: false,
        out: util::repo_root().join("docs/bench.md"),
        statewall: None,
    };
    let mut it = args.iter();
    while let Some(arg) = it.next() {
        match arg.as_str() {
            "--quick" => opts.quick = true,
            "--sets" => opts.sets_only = true,
            "--out" => {
                let v = it.next().ok_or("bench: --out needs a file")?;
                opts.out = PathBuf::from(v);
            }
            "--statewall" => {
                let v = it.next().ok_or("bench: --statewall needs a binary")?;
                opts.statewall = Some(PathBuf::from(v));
            }
            other => {
                return Err(format!(
                    "bench: unknown argument {other:?} (try --quick, --sets, --out FILE, --statewall BIN)"
                ));
            }
        }
    }
    Ok(opts)
}

pub fn run(args: &[String]) -> Result {
    // Hidden helper: the client side of the NEW-connection measurement.
    match args.first().map(String::as_str) {
        Some("connect-loop") => return connect_loop(&args[1..]),
        Some("listen") => return listen(&args[1..]),
        _ => {}
    }
    let opts = parse_args(args)?;
    util::trap_signals();
    if !util::is_root() {
        return Err(
            "the bench creates network namespaces and loads rulesets in them: run it as root"
                .into(),
        );
    }
    let tools = Tools::find()?;
    let plan = Plan::new(opts.quick);

    let temp = TempDir::create()?;
    let built = match &opts.statewall {
        Some(bin) => {
            println!("statewall binary given: {}", bin.display());
            bin.clone()
        }
        None => build()?,
    };
    // A private copy: a concurrent rebuild cannot swap the binary in the middle of the run.
    let statewall = temp.path.join("statewall");
    fs::copy(&built, &statewall)
        .map_err(|e| format!("cannot copy {} to the temp dir: {e}", built.display()))?;
    let exe = std::env::current_exe().map_err(|e| format!("cannot find the xtask binary: {e}"))?;
    let env = Environment::read(&tools, &opts, &built);

    let bench = Bench {
        plan: &plan,
        tools: &tools,
        statewall: &statewall,
        exe: &exe,
        dir: &temp.path,
        prefix: format!("sw-bench-{}", std::process::id()),
    };
    let started = Instant::now();
    // live sets and incremental apply: their own file, in a full run and with --sets
    println!();
    println!("== live sets and incremental apply");
    util::flush();
    let sets_dir = temp.path.join("sets");
    fs::create_dir_all(&sets_dir)
        .map_err(|e| format!("cannot create {}: {e}", sets_dir.display()))?;
    let sets =
        crate::bench_sets::run(&statewall, &tools.nft, &sets_dir, &bench.prefix, opts.quick)?;
    let sets_text = format!(
        "# statewall benchmark: live sets and incremental apply\n\nWritten by `cargo xtask bench` (or `cargo xtask bench --sets` for this part alone); do not edit by hand. {} · kernel {} · {} · {} · statewall {}\n\n{sets}",
        env.date, env.kernel, env.cpu, env.nft, env.statewall
    );
    println!("{sets_text}");
    let sets_out = opts.out.with_file_name("bench-sets.md");
    fs::write(&sets_out, &sets_text)
        .map_err(|e| format!("cannot write {}: {e}", sets_out.display()))?;
    println!("written to {}", sets_out.display());
    if opts.sets_only {
        return Ok(());
    }
    let mut results = Vec::new();
    for &(label, n, reps, traffic) in &plan.cases {
        util::check_interrupted()?;
        println!();
        println!(
            "== {} ({} repetitions{})",
            case_title(label, n),
            reps,
            if traffic { ", + NEW connections/s" } else { "" }
        );
        util::flush();
        results.push(bench.case(label, n, reps, traffic)?);
    }
    let report = Report {
        env: &env,
        plan: &plan,
        results: &results,
        elapsed: started.elapsed(),
    };
    let text = report.render();
    println!();
    println!("{text}");
    if let Some(parent) = opts.out.parent() {
        fs::create_dir_all(parent)
            .map_err(|e| format!("cannot create {}: {e}", parent.display()))?;
    }
    fs::write(&opts.out, &text).map_err(|e| format!("cannot write {}: {e}", opts.out.display()))?;
    println!("written to {}", opts.out.display());
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// The tools and the machine

struct Tools {
    nft: PathBuf,
    ipt_restore: PathBuf,
    ipt_save: PathBuf,
    ipt_version: String,
}

impl Tools {
    fn find() -> Result<Tools> {
        let need = |name: &str| {
            util::find_program(name).ok_or(format!(
                "`{name}` is not installed (cargo xtask deps installs nftables, iptables, iproute2)"
            ))
        };
        need("ip")?;
        let nft = need("nft")?;
        let (ipt_restore, ipt_save, ipt) = match (
            util::find_program("iptables-nft-restore"),
            util::find_program("iptables-nft-save"),
        ) {
            (Some(r), Some(s)) => (r, s, need("iptables-nft")?),
            _ => (
                need("iptables-restore")?,
                need("iptables-save")?,
                need("iptables")?,
            ),
        };
        // `iptables -V` only prints the version: it touches no ruleset.
        let (_, out, _) = util::run_capture(Command::new(&ipt).arg("-V").stdin(Stdio::null()))?;
        let ipt_version = out.trim().to_string();
        if !ipt_version.contains("nf_tables") {
            return Err(format!(
                "{} is not the nf_tables backend ({ipt_version}); the comparison needs iptables-nft",
                ipt.display()
            ));
        }
        Ok(Tools {
            nft,
            ipt_restore,
            ipt_save,
            ipt_version,
        })
    }
}

struct Environment {
    date: String,
    kernel: String,
    cpu: String,
    nft: String,
    iptables: String,
    statewall: String,
    quick: bool,
}

impl Environment {
    fn read(tools: &Tools, opts: &Options, built: &Path) -> Environment {
        let capture = |cmd: &mut Command| {
            util::run_capture(cmd.stdin(Stdio::null()))
                .ok()
                .filter(|(status, _, _)| status.success())
                .map(|(_, out, _)| out.trim().to_string())
                .unwrap_or_else(|| "?".into())
        };
        let root = util::repo_root();
        let commit = capture(
            Command::new("git")
                .args(["rev-parse", "--short=12", "HEAD"])
                .current_dir(&root),
        );
        let dirty = capture(
            Command::new("git")
                .args([
                    "status",
                    "--porcelain",
                    "--untracked-files=no",
                    "--",
                    "src",
                    "Cargo.toml",
                    "Cargo.lock",
                ])
                .current_dir(&root),
        );
        let mut statewall = format!("commit {commit}");
        if dirty != "?" && !dirty.is_empty() {
            statewall.push_str(" + uncommitted changes in src/");
        }
        match &opts.statewall {
            Some(_) => {
                let _ = write!(statewall, "; prebuilt binary {}", built.display());
            }
            None => statewall.push_str("; release build"),
        }
        let cpuinfo = fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
        let model = cpuinfo
            .lines()
            .find_map(|l| l.strip_prefix("model name").and_then(|r| r.split_once(':')))
            .map(|(_, m)| m.trim().to_string())
            .unwrap_or_else(|| "?".into());
        let cores = cpuinfo
            .lines()
            .filter(|l| l.starts_with("processor"))
            .count();
        Environment {
            date: capture(Command::new("date").args(["-u", "+%Y-%m-%d %H:%M UTC"])),
            kernel: capture(Command::new("uname").arg("-r")),
            cpu: format!("{model}, {cores} logical CPUs"),
            nft: capture(Command::new(&tools.nft).arg("--version")),
            iptables: format!(
                "{} (`{}`, `{}`)",
                tools.ipt_version,
                file_name(&tools.ipt_restore),
                file_name(&tools.ipt_save)
            ),
            statewall,
            quick: opts.quick,
        }
    }
}

fn file_name(p: &Path) -> String {
    p.file_name()
        .unwrap_or(p.as_os_str())
        .to_string_lossy()
        .into_owned()
}

fn build() -> Result<PathBuf> {
    let root = util::repo_root();
    let mut cmd = Command::new(util::cargo());
    cmd.args([
        "build",
        "--release",
        "--package",
        "statewall",
        "--bin",
        "statewall",
    ])
    .current_dir(&root);
    println!("$ {}", util::display_command(&cmd));
    util::run_ok(&mut cmd)
        .map_err(|e| format!("{e} (to bench an existing binary: --statewall PATH)"))?;
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .map(|t| if t.is_absolute() { t } else { root.join(t) })
        .unwrap_or_else(|| root.join("target"));
    let bin = target.join("release").join("statewall");
    if bin.exists() {
        Ok(bin)
    } else {
        Err(format!(
            "the build succeeded but {} is missing",
            bin.display()
        ))
    }
}

// ---------------------------------------------------------------------------------------------
// Generated inputs

/// N host addresses spread over 198.18.0.0/15, then the client's address LAST, so a linear
/// ruleset walks every rule before it accepts the client.
fn sources(n: usize) -> Vec<String> {
    let stride = (SOURCE_SPAN / n.max(1) as u32).max(1);
    let mut v: Vec<String> = (0..n as u32)
        .map(|i| std::net::Ipv4Addr::from(SOURCE_BASE + i * stride).to_string())
        .collect();
    v.push(CLIENT_V4.to_string());
    v
}

/// The classic policy with ssh open only from `srcs` (`None`: the example file as it is).
fn statewall_policy(srcs: &[String]) -> String {
    let mut s = String::from(
        "# generated by cargo xtask bench: examples/web-and-mail.toml with ssh restricted\n\
         mode = \"enforce\"\n\n[[allow]]\nname = \"ssh\"\ntcp = [22]\nfrom = [\n",
    );
    for a in srcs {
        let _ = writeln!(s, "  \"{a}\",");
    }
    s.push_str(
        "]\n\n[[allow]]\nname = \"smtp\"\ntcp = [25]\n\n[[allow]]\nname = \"http\"\ntcp = [80]\n\n\
         [[allow]]\nname = \"https\"\ntcp = [443]\n\n[[reject]]\nname = \"ident\"\ntcp = [113]\n\
         with = \"tcp-reset\"\n",
    );
    s
}

/// The equivalent nft script; it replaces only its own table (`add` first, so that `delete`
/// also works on the first apply).
fn nft_script(srcs: Option<&[String]>, as_set: bool, element_counters: bool) -> String {
    let mut s = String::from("add table inet bench\ndelete table inet bench\ntable inet bench {\n");
    if let (Some(srcs), true) = (srcs, as_set) {
        s.push_str("\tset ssh_src {\n\t\ttype ipv4_addr\n\t\tflags interval\n");
        if element_counters {
            s.push_str("\t\tcounter\n");
        }
        s.push_str("\t\telements = {\n");
        for chunk in srcs.chunks(16) {
            let _ = writeln!(s, "\t\t\t{},", chunk.join(", "));
        }
        s.push_str("\t\t}\n\t}\n");
    }
    s.push_str(
        "\tchain input {\n\t\ttype filter hook input priority filter; policy accept;\n\
         \t\tct state established,related counter accept comment \"established\"\n\
         \t\tct state invalid counter drop comment \"invalid\"\n\
         \t\tiif \"lo\" counter accept comment \"loopback\"\n\
         \t\tmeta l4proto icmp counter accept comment \"icmp\"\n\
         \t\ticmpv6 type 1-4 counter accept comment \"icmpv6\"\n\
         \t\ticmpv6 type 128-136 counter accept comment \"icmpv6\"\n\
         \t\ticmpv6 type 143 counter accept comment \"icmpv6\"\n",
    );
    let ssh = "tcp dport 22 ct state new counter accept comment \"ssh\"";
    match (srcs, as_set) {
        (None, _) => {
            let _ = writeln!(s, "\t\t{ssh}");
        }
        (Some(_), true) => {
            let _ = writeln!(s, "\t\tip saddr @ssh_src {ssh}");
        }
        (Some(srcs), false) => {
            for a in srcs {
                let _ = writeln!(s, "\t\tip saddr {a} {ssh}");
            }
        }
    }
    s.push_str(
        "\t\ttcp dport 25 ct state new counter accept comment \"smtp\"\n\
         \t\ttcp dport 80 ct state new counter accept comment \"http\"\n\
         \t\ttcp dport 443 ct state new counter accept comment \"https\"\n\
         \t\ttcp dport 113 counter reject with tcp reset comment \"ident\"\n\
         \t\tcounter drop comment \"final\"\n\t}\n}\n",
    );
    s
}

/// The iptables-restore equivalent (IPv4 only); it replaces the filter table of its namespace.
fn iptables_rules(srcs: Option<&[String]>) -> String {
    let mut s = String::from(
        "*filter\n:INPUT ACCEPT [0:0]\n:FORWARD ACCEPT [0:0]\n:OUTPUT ACCEPT [0:0]\n\
         -A INPUT -m state --state RELATED,ESTABLISHED -j ACCEPT\n\
         -A INPUT -m state --state INVALID -j DROP\n\
         -A INPUT -i lo -j ACCEPT\n\
         -A INPUT -p icmp -j ACCEPT\n",
    );
    let ssh = "-p tcp --dport 22 -m state --state NEW -j ACCEPT";
    match srcs {
        None => {
            let _ = writeln!(s, "-A INPUT {ssh}");
        }
        Some(srcs) => {
            for a in srcs {
                let _ = writeln!(s, "-A INPUT -s {a} {ssh}");
            }
        }
    }
    s.push_str(
        "-A INPUT -p tcp --dport 25 -m state --state NEW -j ACCEPT\n\
         -A INPUT -p tcp --dport 80 -m state --state NEW -j ACCEPT\n\
         -A INPUT -p tcp --dport 443 -m state --state NEW -j ACCEPT\n\
         -A INPUT -p tcp --dport 113 -j REJECT --reject-with tcp-reset\n\
         -A INPUT -j DROP\nCOMMIT\n",
    );
    s
}

// ---------------------------------------------------------------------------------------------
// Measurement

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Tool {
    Statewall,
    NftSet,
    NftLinear,
    Iptables,
}

const TOOLS: [Tool; 4] = [
    Tool::Statewall,
    Tool::NftSet,
    Tool::NftLinear,
    Tool::Iptables,
];

impl Tool {
    fn short(self) -> &'static str {
        match self {
            Tool::Statewall => "sw",
            Tool::NftSet => "set",
            Tool::NftLinear => "lin",
            Tool::Iptables => "ipt",
        }
    }
    fn index(self) -> usize {
        self as usize
    }
}

/// One whole-process run: wall time (spawn to reap) and the child's peak RSS.
#[derive(Clone, Copy)]
pub(crate) struct Sample {
    pub(crate) wall: Duration,
    maxrss_kib: u64,
}

/// The medians of one table cell.
#[derive(Clone, Copy, Debug)]
struct Stat {
    ms: f64,
    rss_kib: u64,
    reps: usize,
    capped: bool,
}

#[derive(Clone, Copy, Debug)]
struct ConnStat {
    per_s: f64,
    failures: u64,
}

#[derive(Default)]
struct CaseResult {
    label: &'static str,
    n: usize,
    first: [Option<Stat>; 4],
    replace: [Option<Stat>; 4],
    /// statewall status --json, nft list ruleset, iptables-save -c
    readback: [Option<Stat>; 4],
    /// statewall status --json, nft -j list ruleset
    readback_json: [Option<Stat>; 4],
    conn: [Option<ConnStat>; 4],
    conn_none: Option<ConnStat>,
    /// statewall with the classic policy, in the same rotation as `conn` (N-source cases).
    conn_classic_sw: Option<ConnStat>,
    /// statewall with the classic policy whose ssh entry is limited per source at a rate
    /// the loop never reaches, in the same rotation (classic case): every NEW connection
    /// goes through the meter's dynset and its token bucket.
    conn_limited_sw: Option<ConnStat>,
    /// The same with the ssh entry limited for the entry as a whole (one bucket per family,
    /// every source counting as one), in the same rotation: every NEW connection goes
    /// through the one element of the entry's meter.
    conn_limited_entry_sw: Option<ConnStat>,
    /// The commit time statewall reports itself on its `applied ...` line.
    sw_self_ms: Option<f64>,
    /// What statewall's table holds, from `status --json`.
    sw_rules: Option<usize>,
    sw_sets: Option<usize>,
    /// statewall's set elements carry counters (and so does the nft set script).
    element_counters: bool,
    /// Floors (classic case only): `statewall --version`, `ip netns exec NS true`.
    spawn: Option<Stat>,
    wrapper: Option<Stat>,
}

struct Bench<'a> {
    plan: &'a Plan,
    tools: &'a Tools,
    statewall: &'a Path,
    exe: &'a Path,
    dir: &'a Path,
    prefix: String,
}

impl Bench<'_> {
    /// One policy size, in fresh namespaces that are deleted when it is done. The tools take
    /// turns within every repetition, so background noise falls on all of them alike.
    fn case(
        &self,
        label: &'static str,
        n: usize,
        reps: usize,
        traffic: bool,
    ) -> Result<CaseResult> {
        let srcs = (n > 0).then(|| sources(n));
        let srcs = srcs.as_deref();
        let sw_file = match srcs {
            None => util::repo_root().join(CLASSIC_POLICY),
            Some(srcs) => self.write(&format!("{label}.toml"), &statewall_policy(srcs))?,
        };
        // For the classic policy the two nft scripts are the same: only the linear one runs.
        let tools: Vec<Tool> = TOOLS
            .into_iter()
            .filter(|t| srcs.is_some() || *t != Tool::NftSet)
            .collect();
        let ns = |t: Tool| format!("{}-{label}-{}", self.prefix, t.short());
        let none_ns = format!("{}-{label}-none", self.prefix);

        let mut lab = Lab::default();
        for &t in &tools {
            lab.add_namespace(&ns(t))?;
        }
        let mut r = CaseResult {
            label,
            n,
            ..CaseResult::default()
        };
        // What statewall commits (untimed): its set elements' counters decide whether the
        // equivalent nft set carries per-element counters too.
        let ns_sw = ns(Tool::Statewall);
        let (status, out, err) = util::run_capture(
            self.sw(&ns_sw)
                .arg("apply")
                .arg(&sw_file)
                .stdin(Stdio::null()),
        )?;
        if !status.success() {
            return Err(format!(
                "statewall apply in {ns_sw} failed: {}{}",
                out.trim(),
                err.trim()
            ));
        }
        r.sw_self_ms = self_reported_ms(&out);
        let shape = self.statewall_shape(&ns_sw)?;
        println!(
            "   statewall's table: {} rules in its chain, {}{}",
            shape.rules,
            match shape.sets {
                Some(1) => "1 set".into(),
                Some(s) => format!("{s} sets"),
                None => "no `sets` in status --json".into(),
            },
            if shape.element_counters {
                " with per-element counters (so the nft set has them too)"
            } else {
                ""
            }
        );
        r.sw_rules = Some(shape.rules);
        r.sw_sets = shape.sets;
        r.element_counters = shape.element_counters;
        let files = [
            sw_file,
            self.write(
                &format!("{label}-set.nft"),
                &nft_script(srcs, true, shape.element_counters),
            )?,
            self.write(
                &format!("{label}-linear.nft"),
                &nft_script(srcs, false, false),
            )?,
            self.write(&format!("{label}.iptables"), &iptables_rules(srcs))?,
        ];
        if srcs.is_none() {
            // Floors, once: a statewall process that does nothing, and the wrapper the peers
            // run under.
            let ns_sw = ns(Tool::Statewall);
            let floors = self.phase(
                "floor",
                reps,
                &[Tool::Statewall, Tool::Iptables],
                None,
                &|t| {
                    Some(match t {
                        Tool::Statewall => {
                            let mut c = Command::new(self.statewall);
                            c.arg("--version");
                            c
                        }
                        _ => {
                            let mut c = Command::new("ip");
                            c.args(["netns", "exec", &ns_sw, "true"]);
                            c
                        }
                    })
                },
            )?;
            r.spawn = floors[Tool::Statewall.index()];
            r.wrapper = floors[Tool::Iptables.index()];
        }

        let apply = |t: Tool| Some(self.apply_cmd(t, &ns(t), &files[t.index()]));
        let remove = |t: Tool| self.remove(t, &ns(t));
        r.first = self.phase("apply, first", reps, &tools, Some(&remove), &apply)?;
        r.replace = self.phase("apply, replace", reps, &tools, None, &apply)?;
        r.readback = self.phase("readback", reps, &tools, None, &|t| {
            Some(self.readback_cmd(t, &ns(t), false))
        })?;
        let nft_tools: Vec<Tool> = tools
            .iter()
            .copied()
            .filter(|t| matches!(t, Tool::NftSet | Tool::NftLinear))
            .collect();
        r.readback_json = self.phase("readback, JSON", reps, &nft_tools, None, &|t| {
            Some(self.readback_cmd(t, &ns(t), true))
        })?;
        r.readback_json[0] = r.readback[0];

        if traffic {
            // One more namespace without any ruleset: the floor of the packet path.
            lab.add_namespace(&none_ns)?;
            let mut targets: Vec<(String, String)> = vec![("no ruleset".into(), none_ns.clone())];
            targets.extend(
                tools
                    .iter()
                    .map(|&t| (format!("{}: NEW conn/s", tool_label(t)), ns(t))),
            );
            let mut clients = Vec::new();
            for (_, fw) in &targets {
                let client = format!("{fw}-cl");
                lab.add_client(fw, &client)?;
                lab.start_listener(self.exe, fw)?;
                // Short CLOSE timeouts keep the fw's conntrack table small between loops.
                let _ = util::run_capture(
                    Command::new("ip")
                        .args(["netns", "exec", fw, "sysctl", "-q", "-w"])
                        .arg("net.netfilter.nf_conntrack_tcp_timeout_close=1")
                        .stdin(Stdio::null()),
                );
                clients.push(client);
            }
            if srcs.is_none() {
                let fw = format!("{}-{label}-swl", self.prefix);
                self.limited_target(&mut lab, &fw, PER_SOURCE)?;
                targets.push(("statewall, ssh limited per source: NEW conn/s".into(), fw));
                clients.push(format!("{}-{label}-swl-cl", self.prefix));
                let fw = format!("{}-{label}-swe", self.prefix);
                self.limited_target(&mut lab, &fw, WHOLE_ENTRY)?;
                targets.push(("statewall, ssh limited as a whole: NEW conn/s".into(), fw));
                clients.push(format!("{}-{label}-swe-cl", self.prefix));
            }
            if srcs.is_some() {
                // statewall with the classic policy in the same rotation: the goal compares
                // the packet path of the two policies side by side.
                let fw = format!("{}-{label}-swc", self.prefix);
                lab.add_namespace(&fw)?;
                let client = format!("{fw}-cl");
                lab.add_client(&fw, &client)?;
                lab.start_listener(self.exe, &fw)?;
                let classic = util::repo_root().join(CLASSIC_POLICY);
                let (status, _, err) = util::run_capture(
                    self.sw(&fw).arg("apply").arg(&classic).stdin(Stdio::null()),
                )?;
                if !status.success() {
                    return Err(format!(
                        "statewall apply {CLASSIC_POLICY} in {fw}: {}",
                        err.trim()
                    ));
                }
                let _ = util::run_capture(
                    Command::new("ip")
                        .args(["netns", "exec", &fw, "sysctl", "-q", "-w"])
                        .arg("net.netfilter.nf_conntrack_tcp_timeout_close=1")
                        .stdin(Stdio::null()),
                );
                targets.push(("statewall, classic policy: NEW conn/s".into(), fw));
                clients.push(client);
            }
            let rates = self.conn_rates(&targets, &clients)?;
            r.conn_none = rates[0];
            for (i, &t) in tools.iter().enumerate() {
                r.conn[t.index()] = rates[i + 1];
            }
            let extra = rates.get(tools.len() + 1).copied().flatten();
            if srcs.is_some() {
                r.conn_classic_sw = extra;
            } else {
                r.conn_limited_sw = extra;
                r.conn_limited_entry_sw = rates.get(tools.len() + 2).copied().flatten();
            }
        }
        if srcs.is_none() {
            // The classic nft script has no set: its set column is the linear one.
            r.first[1] = r.first[2];
            r.replace[1] = r.replace[2];
            r.readback[1] = r.readback[2];
            r.readback_json[1] = r.readback_json[2];
            r.conn[1] = r.conn[2];
        }
        drop(lab);
        Ok(r)
    }

    /// A namespace with its client and listener, holding the classic policy with its ssh
    /// entry limited by `limit` (a rate the loop never reaches: [`PER_SOURCE`],
    /// [`WHOLE_ENTRY`]).
    fn limited_target(&self, lab: &mut Lab, fw: &str, limit: &str) -> Result {
        lab.add_namespace(fw)?;
        let client = format!("{fw}-cl");
        lab.add_client(fw, &client)?;
        lab.start_listener(self.exe, fw)?;
        let classic = util::repo_root().join(CLASSIC_POLICY);
        let text = fs::read_to_string(&classic)
            .map_err(|e| format!("cannot read {}: {e}", classic.display()))?;
        let ssh = "name = \"ssh\"\ntcp = [22]\n";
        if !text.contains(ssh) {
            return Err(format!("{CLASSIC_POLICY} has no `{ssh}` entry to limit"));
        }
        let limited = text.replace(ssh, &format!("{ssh}limit = {limit}\n"));
        let file = self.write(&format!("classic-limited-{fw}.toml"), &limited)?;
        let (status, _, err) =
            util::run_capture(self.sw(fw).arg("apply").arg(&file).stdin(Stdio::null()))?;
        if !status.success() {
            return Err(format!(
                "statewall apply (ssh limited) in {fw}: {}",
                err.trim()
            ));
        }
        let _ = util::run_capture(
            Command::new("ip")
                .args(["netns", "exec", fw, "sysctl", "-q", "-w"])
                .arg("net.netfilter.nf_conntrack_tcp_timeout_close=1")
                .stdin(Stdio::null()),
        );
        Ok(())
    }

    /// `statewall --netns NS`, with its state directory (confirmed rulesets, pending
    /// rollouts) in the bench's temp dir, one per namespace, never in /var/lib.
    fn sw(&self, ns: &str) -> Command {
        let mut c = Command::new(self.statewall);
        c.env("STATEWALL_STATE_DIR", self.dir.join(format!("state-{ns}")))
            .args(["--netns", ns]);
        c
    }

    fn write(&self, name: &str, text: &str) -> Result<PathBuf> {
        let path = self.dir.join(name);
        fs::write(&path, text).map_err(|e| format!("cannot write {}: {e}", path.display()))?;
        Ok(path)
    }

    fn apply_cmd(&self, t: Tool, ns: &str, file: &Path) -> Command {
        match t {
            Tool::Statewall => {
                let mut c = self.sw(ns);
                c.arg("apply").arg(file);
                c
            }
            Tool::NftSet | Tool::NftLinear => {
                let mut c = in_ns(ns, &self.tools.nft);
                c.arg("-f").arg(file);
                c
            }
            Tool::Iptables => {
                let mut c = in_ns(ns, &self.tools.ipt_restore);
                c.arg(file);
                c
            }
        }
    }

    fn readback_cmd(&self, t: Tool, ns: &str, json: bool) -> Command {
        match t {
            Tool::Statewall => {
                let mut c = self.sw(ns);
                c.args(["status", "--json"]);
                c
            }
            Tool::NftSet | Tool::NftLinear => {
                let mut c = in_ns(ns, &self.tools.nft);
                if json {
                    c.arg("-j");
                }
                c.args(["list", "ruleset"]);
                c
            }
            Tool::Iptables => {
                let mut c = in_ns(ns, &self.tools.ipt_save);
                c.arg("-c");
                c
            }
        }
    }

    /// Empties the tool's namespace again (untimed), for the next "first" apply.
    fn remove(&self, t: Tool, ns: &str) -> Result {
        let mut c = match t {
            Tool::Statewall => {
                let mut c = self.sw(ns);
                c.arg("remove");
                c
            }
            Tool::NftSet | Tool::NftLinear => {
                let mut c = in_ns(ns, &self.tools.nft);
                c.args(["delete", "table", "inet", "bench"]);
                c
            }
            Tool::Iptables => {
                let mut c = in_ns(ns, &self.tools.nft);
                c.args(["delete", "table", "ip", "filter"]);
                c
            }
        };
        // Failure is fine (nothing to remove before the first run); the ruleset is checked.
        let _ = util::run_capture(c.stdin(Stdio::null()))?;
        let (status, out, err) = util::run_capture(
            in_ns(ns, &self.tools.nft)
                .args(["list", "ruleset"])
                .stdin(Stdio::null()),
        )?;
        if !status.success() || !out.trim().is_empty() {
            return Err(format!(
                "could not empty {ns} for a first apply: {}{}",
                out.trim(),
                err.trim()
            ));
        }
        Ok(())
    }

    /// Rules in statewall's chain and (once sets land) the number of sets, from status --json.
    fn statewall_shape(&self, ns: &str) -> Result<Shape> {
        let (status, out, err) =
            util::run_capture(self.sw(ns).args(["status", "--json"]).stdin(Stdio::null()))?;
        if !status.success() {
            return Err(format!(
                "statewall status --json in {ns} failed: {}",
                err.trim()
            ));
        }
        Ok(json_shape(&out))
    }

    /// Medians of `reps` whole-process runs per tool; in every repetition each tool runs once,
    /// in a rotating order. A tool stops after 3 repetitions once it has used the cell budget.
    fn phase(
        &self,
        what: &str,
        reps: usize,
        tools: &[Tool],
        prepare: Option<&dyn Fn(Tool) -> Result>,
        make: &dyn Fn(Tool) -> Option<Command>,
    ) -> Result<[Option<Stat>; 4]> {
        let mut samples: [Vec<Sample>; 4] = Default::default();
        // Time each tool has used in this phase: a tool that has used up the cell budget stops
        // after 3 repetitions (the others go on).
        let mut spent = [Duration::ZERO; 4];
        let mut capped = [false; 4];
        for rep in 0..reps {
            for k in 0..tools.len() {
                let t = tools[(rep + k) % tools.len()];
                let i = t.index();
                if samples[i].len() >= 3 && spent[i] > self.plan.cell_budget {
                    capped[i] = true;
                    continue;
                }
                util::check_interrupted()?;
                let Some(cmd) = make(t) else { continue };
                if let Some(prepare) = prepare {
                    prepare(t)?;
                    thread::sleep(GAP);
                }
                let sample = run_timed(cmd, &self.dir.join("stderr.txt"))?;
                spent[i] += sample.wall;
                samples[i].push(sample);
                thread::sleep(GAP);
            }
        }
        let mut out = [None; 4];
        for &t in tools {
            let s = &samples[t.index()];
            if s.is_empty() {
                continue;
            }
            let stat = Stat {
                ms: median(s.iter().map(|s| s.wall.as_secs_f64() * 1e3).collect()),
                rss_kib: median(s.iter().map(|s| s.maxrss_kib as f64).collect()) as u64,
                reps: s.len(),
                capped: capped[t.index()],
            };
            let label = if what == "floor" {
                match t {
                    Tool::Statewall => "floor: statewall --version".to_string(),
                    _ => "floor: ip netns exec NS true".to_string(),
                }
            } else {
                format!("{}: {what}", tool_label(t))
            };
            println!(
                "   {label:<40} {:>10}  {:>7.1} MiB  ({} runs{})",
                fmt_ms(stat.ms),
                stat.rss_kib as f64 / 1024.0,
                stat.reps,
                if stat.capped {
                    ", capped by the time budget"
                } else {
                    ""
                }
            );
            out[t.index()] = Some(stat);
        }
        util::flush();
        Ok(out)
    }

    /// NEW connections per second from each client namespace to its fw's port 22 (medians);
    /// the targets take turns, so each fw's conntrack has time to drop the last loop's entries.
    fn conn_rates(
        &self,
        targets: &[(String, String)],
        clients: &[String],
    ) -> Result<Vec<Option<ConnStat>>> {
        let mut rates: Vec<Vec<f64>> = vec![Vec::new(); targets.len()];
        let mut failures = vec![0u64; targets.len()];
        for _ in 0..self.plan.conn_reps {
            for (i, ((what, _), client)) in targets.iter().zip(clients).enumerate() {
                util::check_interrupted()?;
                let mut c = Command::new("ip");
                c.args(["netns", "exec", client])
                    .arg(self.exe)
                    .args(["bench", "connect-loop", &format!("{FW_V4}:{SSH}")])
                    .arg(self.plan.conn_duration.as_millis().to_string())
                    .arg(self.plan.conn_max.to_string())
                    .stdin(Stdio::null());
                let (status, out, err) = util::run_capture(&mut c)?;
                if !status.success() {
                    return Err(format!("{what}: the connect loop failed: {}", err.trim()));
                }
                let f: Vec<&str> = out.split_whitespace().collect();
                let num = |i: usize| f.get(i).and_then(|v| v.parse::<u64>().ok());
                let (Some(ok), Some(failed), Some(us)) = (num(0), num(1), num(2)) else {
                    return Err(format!("{what}: unexpected connect-loop output {out:?}"));
                };
                if ok == 0 {
                    return Err(format!("{what}: no connection succeeded: {}", out.trim()));
                }
                failures[i] += failed;
                rates[i].push(ok as f64 / (us.max(1) as f64 / 1e6));
                thread::sleep(GAP);
            }
        }
        let mut out = Vec::new();
        for (i, (what, _)) in targets.iter().enumerate() {
            let stat = ConnStat {
                per_s: median(std::mem::take(&mut rates[i])),
                failures: failures[i],
            };
            println!(
                "   {what:<40} {:>10}  ({} runs{})",
                fmt_rate(stat.per_s),
                self.plan.conn_reps,
                if stat.failures > 0 {
                    format!(", {} failed connects", stat.failures)
                } else {
                    String::new()
                }
            );
            out.push(Some(stat));
        }
        util::flush();
        Ok(out)
    }
}

fn tool_label(t: Tool) -> &'static str {
    match t {
        Tool::Statewall => "statewall",
        Tool::NftSet => "nft -f (set)",
        Tool::NftLinear => "nft -f (linear)",
        Tool::Iptables => "iptables-restore",
    }
}

pub(crate) fn in_ns(ns: &str, program: &Path) -> Command {
    let mut c = Command::new("ip");
    c.args(["netns", "exec", ns]).arg(program);
    c
}

/// Spawns, waits with `wait4` (its rusage is this child's alone) and times the whole process.
pub(crate) fn run_timed(mut cmd: Command, stderr_file: &Path) -> Result<Sample> {
    let what = util::display_command(&cmd);
    let stderr = fs::File::create(stderr_file)
        .map_err(|e| format!("cannot create {}: {e}", stderr_file.display()))?;
    cmd.stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(stderr);
    let t0 = Instant::now();
    let child = cmd
        .spawn()
        .map_err(|e| format!("cannot run `{what}`: {e}"))?;
    let pid = child.id() as libc::pid_t;
    let (tx, rx) = mpsc::channel::<()>();
    let watchdog = thread::spawn(move || {
        if let Err(mpsc::RecvTimeoutError::Timeout) = rx.recv_timeout(COMMAND_TIMEOUT) {
            // SAFETY: the child is not reaped before the watchdog is told so: the pid is ours.
            unsafe { libc::kill(pid, libc::SIGKILL) };
            true
        } else {
            false
        }
    });
    let mut status: libc::c_int = 0;
    // SAFETY: rusage is plain data; wait4 fills it.
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    let waited = loop {
        // SAFETY: valid pointers to locals; pid is our unreaped child.
        let r = unsafe { libc::wait4(pid, &mut status, 0, &mut usage) };
        if r == pid {
            break Ok(());
        }
        let e = std::io::Error::last_os_error();
        if e.kind() != std::io::ErrorKind::Interrupted {
            break Err(e);
        }
    };
    let wall = t0.elapsed();
    let _ = tx.send(());
    let killed = watchdog.join().unwrap_or(false);
    drop(child);
    waited.map_err(|e| format!("waiting for `{what}`: {e}"))?;
    let ok = libc::WIFEXITED(status) && libc::WEXITSTATUS(status) == 0;
    if !ok {
        let err = fs::read_to_string(stderr_file).unwrap_or_default();
        let err: String = err.lines().take(8).collect::<Vec<_>>().join("\n");
        let how = if killed {
            format!("killed after {}s", COMMAND_TIMEOUT.as_secs())
        } else if libc::WIFEXITED(status) {
            format!("exit code {}", libc::WEXITSTATUS(status))
        } else {
            format!("signal {}", libc::WTERMSIG(status))
        };
        return Err(format!("`{what}` failed ({how}): {err}"));
    }
    Ok(Sample {
        wall,
        maxrss_kib: usage.ru_maxrss.max(0) as u64,
    })
}

pub(crate) fn median(mut v: Vec<f64>) -> f64 {
    if v.is_empty() {
        return f64::NAN;
    }
    v.sort_by(f64::total_cmp);
    let m = v.len() / 2;
    if v.len() % 2 == 1 {
        v[m]
    } else {
        (v[m - 1] + v[m]) / 2.0
    }
}

/// The last `<number> ms` on statewall's `applied ...` line, if it has one.
fn self_reported_ms(out: &str) -> Option<f64> {
    let line = out.lines().find(|l| l.starts_with("applied"))?;
    let words: Vec<&str> = line.split_whitespace().collect();
    let i = words
        .iter()
        .rposition(|w| w.trim_end_matches([',', '.']) == "ms")?;
    words.get(i.checked_sub(1)?)?.parse().ok()
}

/// The shape of statewall's table from `status --json`, without a JSON parser: statewall's output is pretty-printed, one key per line.
fn json_shape(json: &str) -> Shape {
    // A top-level key is indented by exactly two spaces, and so is its closing bracket.
    let block = |key: &str| {
        json.find(&format!("\n  \"{key}\": [")).map(|start| {
            let body = &json[start + 1..];
            let first = body.lines().next().unwrap_or("");
            if first.trim_end().ends_with("[]") || first.trim_end().ends_with("[],") {
                return "";
            }
            &body[..body.find("\n  ]").unwrap_or(body.len())]
        })
    };
    let rules = block("chains").map_or(0, |b| {
        b.lines()
            .filter(|l| l.trim_start().starts_with("\"handle\":"))
            .count()
    });
    let sets_block = block("sets");
    let sets = sets_block.map(|b| {
        b.lines()
            .filter(|l| l.starts_with("      \"name\":"))
            .count()
    });
    Shape {
        rules,
        sets,
        element_counters: sets_block.is_some_and(|b| b.contains("\"packets\":")),
    }
}

/// What statewall's table holds, from `status --json`.
#[derive(Debug, PartialEq, Eq)]
struct Shape {
    /// Rules in its chains.
    rules: usize,
    /// Sets, if status --json has a top-level `sets` array.
    sets: Option<usize>,
    /// Whether set elements carry packet counters.
    element_counters: bool,
}

/// Closes a socket with an RST (SO_LINGER 0): no TIME_WAIT on this side, nothing that a later
/// SYN from a reused client port could run into.
fn set_linger_zero(s: &impl AsRawFd) {
    let linger = libc::linger {
        l_onoff: 1,
        l_linger: 0,
    };
    // SAFETY: a valid socket and a correctly sized linger struct.
    unsafe {
        libc::setsockopt(
            s.as_raw_fd(),
            libc::SOL_SOCKET,
            libc::SO_LINGER,
            (&linger as *const libc::linger).cast(),
            std::mem::size_of::<libc::linger>() as libc::socklen_t,
        );
    }
}

/// The hidden server: `listen PORT` on `[::]` (IPv4 too) with a deep accept queue; accepts and
/// resets every connection (some time later), prints `ready`, exits when stdin closes or after 15 minutes.
fn listen(args: &[String]) -> Result {
    let [port] = args else {
        return Err("listen: usage: listen PORT".into());
    };
    let port: u16 = port
        .parse()
        .map_err(|_| format!("listen: bad port {port:?}"))?;
    let listener = std::net::TcpListener::bind((std::net::Ipv6Addr::UNSPECIFIED, port))
        .map_err(|e| format!("listen: cannot bind [::]:{port}: {e}"))?;
    // A second listen() only raises the backlog (std uses 128): no SYN is dropped because the
    // accept thread was not scheduled in time.
    // SAFETY: a valid listening socket.
    unsafe { libc::listen(listener.as_raw_fd(), 4096) };
    thread::spawn(move || {
        // Kept open until 1024 newer ones arrived: the client resets first (so the client
        // sees a clean handshake), and the late close here has nothing left to send.
        let mut open = std::collections::VecDeque::with_capacity(1024);
        for stream in listener.incoming().flatten() {
            set_linger_zero(&stream);
            if open.len() == 1024 {
                open.pop_front();
            }
            open.push_back(stream);
        }
    });
    println!("ready");
    util::flush();
    thread::spawn(|| {
        let mut line = String::new();
        let stdin = std::io::stdin();
        let mut lock = stdin.lock();
        while matches!(lock.read_line(&mut line), Ok(n) if n > 0) {
            line.clear();
        }
        std::process::exit(0);
    });
    thread::sleep(Duration::from_secs(15 * 60));
    std::process::exit(0);
}

/// The hidden client: `connect-loop ADDR DURATION_MS MAX` connects and closes (with an RST,
/// so neither side keeps TIME_WAIT) until DURATION_MS or MAX, prints `ok failed micros err`.
fn connect_loop(args: &[String]) -> Result {
    let [addr, ms, max] = args else {
        return Err("connect-loop: usage: connect-loop ADDR DURATION_MS MAX".into());
    };
    let addr: SocketAddr = addr
        .parse()
        .map_err(|_| format!("connect-loop: bad address {addr:?}"))?;
    let duration = Duration::from_millis(ms.parse().map_err(|_| "connect-loop: bad duration")?);
    let max: u64 = max.parse().map_err(|_| "connect-loop: bad count")?;
    let (mut ok, mut failed, mut first_error) = (0u64, 0u64, None);
    let start = Instant::now();
    while ok + failed < max && failed < 10 && start.elapsed() < duration {
        match TcpStream::connect_timeout(&addr, Duration::from_secs(1)) {
            Ok(s) => {
                set_linger_zero(&s);
                ok += 1;
            }
            Err(e) => {
                failed += 1;
                first_error.get_or_insert_with(|| e.to_string());
            }
        }
    }
    let micros = start.elapsed().as_micros();
    println!("{ok} {failed} {micros} {}", first_error.unwrap_or_default());
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// Namespaces and the temp dir

/// The namespaces, veth pairs and listeners of one case; `Drop` removes all of it.
#[derive(Default)]
struct Lab {
    namespaces: Vec<String>,
    clients: Vec<(String, String)>,
    listeners: Vec<Child>,
}

impl Lab {
    fn add_namespace(&mut self, ns: &str) -> Result {
        if Path::new("/run/netns").join(ns).exists() {
            return Err(format!("namespace {ns} exists already"));
        }
        veth::sh(&["ip", "netns", "add", ns], false)?;
        self.namespaces.push(ns.to_string());
        veth::sh(&["ip", "-n", ns, "link", "set", "lo", "up"], false)
    }

    /// A client namespace joined to `fw` by a veth pair that is created inside `fw` with its
    /// peer moved straight into the client: never in the host namespace.
    fn add_client(&mut self, fw: &str, client: &str) -> Result {
        self.add_namespace(client)?;
        self.clients.push((fw.to_string(), client.to_string()));
        veth::pair(fw, FW_IF, client, CLIENT_IF, false)
    }

    /// The bench's listener on port 22 in `ns`; it exits when its stdin closes.
    fn start_listener(&mut self, exe: &Path, ns: &str) -> Result {
        let mut child = Command::new("ip")
            .args(["netns", "exec", ns])
            .arg(exe)
            .args(["bench", "listen", &SSH.to_string()])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .map_err(|e| format!("cannot start the listener in {ns}: {e}"))?;
        let stdout = child.stdout.take();
        self.listeners.push(child);
        let (tx, rx) = mpsc::channel();
        if let Some(stdout) = stdout {
            thread::spawn(move || {
                let mut line = String::new();
                let _ = BufReader::new(stdout).read_line(&mut line);
                let _ = tx.send(line);
            });
        }
        match rx.recv_timeout(SETUP_TIMEOUT) {
            Ok(line) if line.trim() == "ready" => Ok(()),
            _ => Err(format!("the listener in {ns} did not become ready")),
        }
    }
}

impl Drop for Lab {
    fn drop(&mut self) {
        for mut child in self.listeners.drain(..) {
            drop(child.stdin.take()); // the listener exits on EOF
            let _ = child.kill();
            let _ = child.wait();
        }
        // Deleting a namespace destroys its veth end (and the peer) and its ruleset.
        for ns in self.namespaces.drain(..).rev() {
            if let Err(e) = veth::sh(&["ip", "netns", "del", &ns], false) {
                println!("WARNING: {e}; remove it by hand: ip netns del {ns}");
            }
        }
    }
}

struct TempDir {
    path: PathBuf,
}

impl TempDir {
    fn create() -> Result<TempDir> {
        let path = std::env::temp_dir().join(format!("sw-bench-{}", std::process::id()));
        fs::create_dir_all(&path).map_err(|e| format!("cannot create {}: {e}", path.display()))?;
        Ok(TempDir { path })
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = fs::remove_dir_all(&self.path);
    }
}

// ---------------------------------------------------------------------------------------------
// The report

struct Report<'a> {
    env: &'a Environment,
    plan: &'a Plan,
    results: &'a [CaseResult],
    elapsed: Duration,
}

fn case_title(label: &str, n: usize) -> String {
    if n == 0 {
        "classic (4 ports)".into()
    } else {
        format!("{label} sources")
    }
}

fn fmt_ms(ms: f64) -> String {
    if ms < 10.0 {
        format!("{ms:.2} ms")
    } else if ms < 100.0 {
        format!("{ms:.1} ms")
    } else {
        format!("{ms:.0} ms")
    }
}

fn fmt_rate(r: f64) -> String {
    format!("{:.1} k/s", r / 1e3)
}

fn fmt_ratio(r: f64) -> String {
    if r.is_finite() {
        format!("{r:.2}×")
    } else {
        "—".into()
    }
}

fn fmt_time_cell(s: Option<Stat>) -> String {
    match s {
        Some(s) => format!("{}{}", fmt_ms(s.ms), if s.capped { "*" } else { "" }),
        None => "—".into(),
    }
}

impl Report<'_> {
    fn wrapper(&self) -> Option<Stat> {
        self.results.iter().find_map(|r| r.wrapper)
    }

    fn render(&self) -> String {
        let e = self.env;
        let mut s = String::new();
        let _ = writeln!(s, "# statewall benchmark\n");
        let _ = writeln!(
            s,
            "Written by `cargo xtask bench{}`; do not edit by hand, run it again. \
             Ratios are measured side by side in this one run; absolute times are this machine's.\n",
            if e.quick { " --quick" } else { "" }
        );
        let _ = writeln!(s, "| | |\n|---|---|");
        let _ = writeln!(s, "| date | {} |", e.date);
        let _ = writeln!(s, "| kernel | {} |", e.kernel);
        let _ = writeln!(s, "| CPU | {} |", e.cpu);
        let _ = writeln!(s, "| nft | {} |", e.nft);
        let _ = writeln!(s, "| iptables | {} |", e.iptables);
        let _ = writeln!(s, "| statewall | {} |", e.statewall);
        let _ = writeln!(
            s,
            "| run | {}, {:.0} s; repetitions per cell: {} |",
            if e.quick { "quick" } else { "full" },
            self.elapsed.as_secs_f64(),
            self.plan
                .cases
                .iter()
                .map(|(l, _, r, _)| format!("{l} {r}"))
                .collect::<Vec<_>>()
                .join(", ")
        );
        s.push('\n');
        self.render_table(&mut s);
        self.render_shape(&mut s);
        self.render_goals(&mut s);
        self.render_method(&mut s);
        s
    }

    fn render_table(&self, s: &mut String) {
        let _ = writeln!(s, "## Results (medians)\n");
        let _ = writeln!(
            s,
            "| work | statewall | nft -f (set) | nft -f (linear) | iptables-restore | \
             ÷ nft set | ÷ nft linear | ÷ iptables |"
        );
        let _ = writeln!(s, "|---|---:|---:|---:|---:|---:|---:|---:|");
        for r in self.results {
            let title = case_title(r.label, r.n);
            let time_row = |s: &mut String, work: &str, cells: &[Option<Stat>; 4]| {
                let sw = cells[0].map(|c| c.ms);
                let mut line = format!("| {title}: {work} |");
                for c in cells {
                    let _ = write!(line, " {} |", fmt_time_cell(*c));
                }
                for c in &cells[1..] {
                    let ratio = match (sw, c) {
                        (Some(sw), Some(p)) => p.ms / sw,
                        _ => f64::NAN,
                    };
                    let _ = write!(line, " {} |", fmt_ratio(ratio));
                }
                let _ = writeln!(s, "{line}");
            };
            time_row(s, "apply, first", &r.first);
            time_row(
                s,
                "apply again, same file (statewall: unchanged, nothing sent; the others replace)",
                &r.replace,
            );
            time_row(
                s,
                "readback (`status --json` · `nft list ruleset` · `iptables-save -c`)",
                &r.readback,
            );
            time_row(
                s,
                "readback, JSON (`status --json` · `nft -j list ruleset`)",
                &r.readback_json,
            );
            // Peak memory: the larger of the first/replace medians.
            let rss: Vec<Option<f64>> = (0..4)
                .map(|i| match (r.first[i], r.replace[i]) {
                    (Some(a), Some(b)) => Some(a.rss_kib.max(b.rss_kib) as f64 / 1024.0),
                    _ => None,
                })
                .collect();
            let mut line = format!("| {title}: peak RSS of apply |");
            for v in &rss {
                let _ = write!(
                    line,
                    " {} |",
                    v.map_or("—".into(), |m| format!("{m:.1} MiB"))
                );
            }
            for v in &rss[1..] {
                let ratio = match (rss[0], v) {
                    (Some(sw), Some(p)) => p / sw,
                    _ => f64::NAN,
                };
                let _ = write!(line, " {} |", fmt_ratio(ratio));
            }
            let _ = writeln!(s, "{line}");
            if r.conn.iter().any(Option::is_some) {
                let mut line = format!("| {title}: NEW connections/s to port 22 |");
                for c in &r.conn {
                    let _ = write!(
                        line,
                        " {} |",
                        c.map_or("—".into(), |c| {
                            let f = if c.failures > 0 {
                                format!(" ({} failed)", c.failures)
                            } else {
                                String::new()
                            };
                            format!("{}{f}", fmt_rate(c.per_s))
                        })
                    );
                }
                for c in &r.conn[1..] {
                    let ratio = match (r.conn[0], c) {
                        (Some(sw), Some(p)) => sw.per_s / p.per_s,
                        _ => f64::NAN,
                    };
                    let _ = write!(line, " {} |", fmt_ratio(ratio));
                }
                let _ = writeln!(s, "{line}");
            }
        }
        let _ = writeln!(
            s,
            "\nThe ratio columns are oriented so that **> 1 means statewall is better**: \
             time and memory are peer ÷ statewall, connections/s statewall ÷ peer. \
             For the classic policy there is no source list, so the nft set and linear scripts \
             are the same script, run once. `*` = fewer repetitions than planned (time budget)."
        );
        let mut floors = Vec::new();
        if let Some(w) = self.wrapper() {
            floors.push(format!(
                "`ip netns exec NS true`, the wrapper every nft/iptables run above includes \
                 (statewall enters the namespace itself with `--netns`): {}",
                fmt_ms(w.ms)
            ));
        }
        if let Some(sp) = self.results.iter().find_map(|r| r.spawn) {
            floors.push(format!(
                "`statewall --version`, a statewall process that does no work: {}",
                fmt_ms(sp.ms)
            ));
        }
        if let Some(c) = self.results.iter().find_map(|r| r.conn_none) {
            floors.push(format!(
                "NEW connections/s with no ruleset at all: {}",
                fmt_rate(c.per_s)
            ));
        }
        if !floors.is_empty() {
            let _ = writeln!(
                s,
                "\nFloors measured in the same run: {}.",
                floors.join("; ")
            );
        }
        s.push('\n');
    }

    fn render_shape(&self, s: &mut String) {
        let _ = writeln!(s, "## What statewall committed\n");
        for r in self.results {
            let sets = match r.sw_sets {
                Some(1) => "1 set".into(),
                Some(n) => format!("{n} sets"),
                None => "no sets (status --json has no `sets` array)".into(),
            };
            let mut line = format!(
                "- {}: {} rules in statewall's chain, {sets}",
                case_title(r.label, r.n),
                r.sw_rules.map_or("?".into(), |n| n.to_string())
            );
            if let (Some(own), Some(whole)) = (r.sw_self_ms, r.first[0]) {
                let _ = write!(
                    line,
                    "; its first apply's `applied` line reports {} for the commit (whole process, first apply, median: {})",
                    fmt_ms(own),
                    fmt_ms(whole.ms)
                );
            }
            if let (Some(c), Some(plain)) = (r.conn_limited_sw, r.conn[Tool::Statewall.index()]) {
                let _ = write!(
                    line,
                    "; NEW connections/s through the same policy with ssh limited per source (a meter's dynset and token bucket on every NEW connection, the limit never reached), same rotation: {} ({} of the unlimited policy's {})",
                    fmt_rate(c.per_s),
                    fmt_ratio(c.per_s / plain.per_s.max(1e-9)),
                    fmt_rate(plain.per_s)
                );
            }
            if let (Some(c), Some(plain)) =
                (r.conn_limited_entry_sw, r.conn[Tool::Statewall.index()])
            {
                let _ = write!(
                    line,
                    "; with ssh limited for the entry as a whole instead (one bucket per family, the one element of the entry's meter on every NEW connection): {} ({} of the unlimited policy's)",
                    fmt_rate(c.per_s),
                    fmt_ratio(c.per_s / plain.per_s.max(1e-9)),
                );
            }
            if let Some(c) = r.conn_classic_sw {
                let _ = write!(
                    line,
                    "; NEW connections/s through statewall's classic policy in the same rotation: {}",
                    fmt_rate(c.per_s)
                );
            }
            let _ = writeln!(s, "{line}");
        }
        s.push('\n');
    }

    fn case(&self, n: usize) -> Option<&CaseResult> {
        self.results.iter().find(|r| r.n == n)
    }

    fn render_goals(&self, s: &mut String) {
        let _ = writeln!(s, "## Goals (issue 5), evaluated from this run\n");
        let mut goals: Vec<(Option<bool>, String)> = Vec::new();
        let ms = |c: Option<Stat>| c.map(|c| c.ms);
        let ratio = |peer: Option<Stat>, sw: Option<Stat>| match (ms(peer), ms(sw)) {
            (Some(p), Some(w)) => Some(p / w),
            _ => None,
        };
        let show = |r: Option<f64>| r.map_or("not measured".into(), fmt_ratio);
        // What statewall would have needed, shown when a goal is missed.
        let need = |met: Option<bool>, limit: Option<f64>, what: &str| -> String {
            match (met, limit) {
                (Some(false), Some(l)) => {
                    format!(" — to meet it, statewall needs {what} {}", fmt_ms(l))
                }
                _ => String::new(),
            }
        };
        let min_ms = |v: &[Option<Stat>]| -> Option<f64> {
            v.iter()
                .map(|c| c.map(|c| c.ms))
                .collect::<Option<Vec<f64>>>()
                .map(|v| v.into_iter().fold(f64::INFINITY, f64::min))
        };
        let all = |v: &[Option<f64>], ok: &dyn Fn(f64) -> bool| -> Option<bool> {
            v.iter()
                .map(|r| r.map(ok))
                .collect::<Option<Vec<bool>>>()
                .map(|b| b.iter().all(|x| *x))
        };

        // 1. classic apply ≥ 4× nft -f and iptables-restore. Judged on the first apply, the
        // one where every tool commits the whole table (applying the same file again, statewall
        // sends nothing, so that row is no comparison of commits).
        if let Some(c) = self.case(0) {
            let fnf = ratio(c.first[2], c.first[0]);
            let fi = ratio(c.first[3], c.first[0]);
            let mut text = format!(
                "classic policy apply (first, the whole table) ≥ 4× faster than `nft -f` and \
                 `iptables-restore`: {} / {} (nft / iptables)",
                show(fnf),
                show(fi)
            );
            if let (Some(w), Some(sw), Some(n), Some(i)) = (
                self.wrapper(),
                ms(c.first[0]),
                ms(c.first[2]),
                ms(c.first[3]),
            ) {
                let _ = write!(
                    text,
                    "; without the {} `ip netns exec` wrapper: {} / {}",
                    fmt_ms(w.ms),
                    fmt_ratio((n - w.ms) / sw),
                    fmt_ratio((i - w.ms) / sw)
                );
            }
            let met = all(&[fnf, fi], &|r| r >= 4.0);
            let limit = min_ms(&[c.first[2], c.first[3]]).map(|m| m / 4.0);
            text.push_str(&need(met, limit, "≤"));
            if let (Some(false), Some(sp)) = (met, c.spawn) {
                let _ = write!(
                    text,
                    "; floor: a statewall process that does nothing takes {}",
                    fmt_ms(sp.ms)
                );
            }
            goals.push((met, text));
        }
        // 2. 10k apply.
        if let Some(c) = self.case(10_000) {
            let ri = ratio(c.first[3], c.first[0]);
            let rs = ratio(c.first[1], c.first[0]);
            let met = match (ri, rs) {
                (Some(i), Some(s)) => Some(i >= 2.5 && s > 1.0),
                _ => None,
            };
            let limit = match (ms(c.first[3]), ms(c.first[1])) {
                (Some(i), Some(s)) => Some((i / 2.5).min(s)),
                _ => None,
            };
            goals.push((
                met,
                format!(
                    "10k sources, apply (first, the whole table) ≥ 2.5× faster than `iptables-restore` (linear) and \
                     faster than `nft -f` with a set: {} and {} (statewall {}, iptables {}, nft set {})",
                    show(ri),
                    show(rs),
                    fmt_time_cell(c.first[0]),
                    fmt_time_cell(c.first[3]),
                    fmt_time_cell(c.first[1])
                ) + &need(met, limit, "<"),
            ));
        }
        // 3. 50k apply within 1.2× of nft set; readback ≥ 5× nft list ruleset.
        if let Some(c) = self.case(50_000) {
            let rs = ratio(c.first[1], c.first[0]);
            let met = rs.map(|r| r >= 1.0 / 1.2);
            let limit = ms(c.first[1]).map(|m| m * 1.2);
            goals.push((
                met,
                format!(
                    "50k sources, apply (first, the whole table) within 1.2× of `nft -f` with a set or better \
                     (ratio ≥ 0.83×): {} (statewall {}, nft set {})",
                    show(rs),
                    fmt_time_cell(c.first[0]),
                    fmt_time_cell(c.first[1])
                ) + &need(met, limit, "≤"),
            ));
            let a = ratio(c.readback[1], c.readback[0]);
            let b = ratio(c.readback[2], c.readback[0]);
            let met = all(&[a, b], &|r| r >= 5.0);
            let limit = min_ms(&[c.readback[1], c.readback[2]]).map(|m| m / 5.0);
            goals.push((
                met,
                format!(
                    "50k sources, readback ≥ 5× faster than `nft list ruleset` (of the set and of \
                     the linear ruleset): {} and {} (statewall {}, nft {} / {})",
                    show(a),
                    show(b),
                    fmt_time_cell(c.readback[0]),
                    fmt_time_cell(c.readback[1]),
                    fmt_time_cell(c.readback[2])
                ) + &need(met, limit, "≤"),
            ));
        }
        // 4. status at 10k ≥ 4× nft list ruleset and iptables-save -c.
        if let Some(c) = self.case(10_000) {
            let a = ratio(c.readback[1], c.readback[0]);
            let b = ratio(c.readback[2], c.readback[0]);
            let i = ratio(c.readback[3], c.readback[0]);
            let met = all(&[a, b, i], &|r| r >= 4.0);
            let limit = min_ms(&[c.readback[1], c.readback[2], c.readback[3]]).map(|m| m / 4.0);
            goals.push((
                met,
                format!(
                    "status of the 10k policy ≥ 4× faster than `nft list ruleset` (set / linear) and \
                     `iptables-save -c`: {} / {} and {} (statewall {})",
                    show(a),
                    show(b),
                    show(i),
                    fmt_time_cell(c.readback[0])
                ) + &need(met, limit, "≤"),
            ));
        }
        // 5. NEW conn/s at 10k within 10% of classic.
        if let Some(c10) = self.case(10_000) {
            // Side by side in the 10k rotation when measured there, else the classic case's.
            let a = c10.conn_classic_sw.or(self.case(0).and_then(|c| c.conn[0]));
            let b = c10.conn[0];
            let r = match (a, b) {
                (Some(a), Some(b)) => Some(b.per_s / a.per_s),
                _ => None,
            };
            goals.push((
                r.map(|r| r >= 0.9),
                format!(
                    "NEW connections/s with the 10k policy within 10% of the classic policy: {} \
                     of it ({} vs {})",
                    r.map_or("not measured".into(), |r| format!("{:.0}%", r * 100.0)),
                    b.map_or("—".into(), |c| fmt_rate(c.per_s)),
                    a.map_or("—".into(), |c| fmt_rate(c.per_s))
                ),
            ));
        }
        // 6. peak memory at 50k below nft -f's.
        if let Some(c) = self.case(50_000) {
            let rss = |i: usize| match (c.first[i], c.replace[i]) {
                (Some(a), Some(b)) => Some(a.rss_kib.max(b.rss_kib)),
                _ => None,
            };
            let (sw, set, lin) = (rss(0), rss(1), rss(2));
            let met = match (sw, set, lin) {
                (Some(w), Some(s), Some(l)) => Some(w < s && w < l),
                _ => None,
            };
            let mib = |v: Option<u64>| {
                v.map_or("—".into(), |k| format!("{:.1} MiB", k as f64 / 1024.0))
            };
            goals.push((
                met,
                format!(
                    "peak memory of apply at 50k below `nft -f`'s (set and linear): statewall {}, \
                     nft set {}, nft linear {}",
                    mib(sw),
                    mib(set),
                    mib(lin)
                ),
            ));
        }
        for (met, text) in &goals {
            let mark = match met {
                Some(true) => "**met**",
                Some(false) => "**missed**",
                None => "**not measured**",
            };
            let _ = writeln!(s, "- {mark} — {text}");
        }
        let missed = goals.iter().filter(|(m, _)| *m == Some(false)).count();
        let _ = writeln!(
            s,
            "\n{} of {} goals met in this run.",
            goals.iter().filter(|(m, _)| *m == Some(true)).count(),
            goals.len()
        );
        if missed > 0 {
            let linear: Vec<String> = self
                .results
                .iter()
                .filter(|r| r.n > 0 && r.sw_sets.unwrap_or(0) == 0 && r.sw_rules.unwrap_or(0) > r.n)
                .map(|r| {
                    format!(
                        "{} → {} rules",
                        case_title(r.label, r.n),
                        r.sw_rules.unwrap_or(0)
                    )
                })
                .collect();
            if !linear.is_empty() {
                let _ = writeln!(
                    s,
                    "\nWhy, as far as this run shows: statewall compiled the source lists to one rule \
                     per source ({}), so its apply, readback and packet path grow with N like the \
                     linear peers'; the set columns show the floor a set-based table reaches.",
                    linear.join(", ")
                );
            }
        }
        s.push('\n');
    }

    fn render_method(&self, s: &mut String) {
        let p = self.plan;
        let _ = writeln!(
            s,
            "## How it is measured\n\n\
             - Policies: the classic one is `{CLASSIC_POLICY}` (ssh, smtp, http, https open; ident \
             rejected with a TCP reset; final drop). The N-source policies are the same with ssh \
             (tcp 22) open only from N generated host addresses in 198.18.0.0/15, spread evenly \
             (consecutive at 100k), plus the client's {CLIENT_V4} as the LAST element, so a linear \
             ruleset walks every rule before it accepts the client. IPv4 sources only, so that \
             iptables needs one table.\n\
             - Peers: `nft -f` with the equivalent script (same baseline rules, counters and \
             comments), once with the sources as one interval set (`ip saddr @ssh_src`{}) and \
             once as one rule per source; each script replaces only its own table (`add table inet \
             bench` / `delete table inet bench` / `table inet bench {{ ... }}`). \
             `iptables-restore` (nf_tables backend) with one `-A INPUT -s X -p tcp --dport 22 -m \
             state --state NEW -j ACCEPT` per source between the classic baseline and the final \
             DROP; it replaces the filter table of its namespace.\n\
             - Every tool runs in its own network namespace (`sw-bench-<pid>-<case>-<tool>`), \
             created for the case and deleted after it: statewall as `statewall --netns NS ...` \
             (with its state directory in the bench's temp dir), the peers as `ip netns exec NS \
             ...`. Each cell is the median of whole-process runs \
             (spawn to reap, monotonic clock), 30 ms apart; in every repetition the tools take \
             turns in a rotating order, so background load falls on all of them alike. *apply, first* runs against an empty \
             namespace (the table is removed, untimed, before each run); *apply, replace* against \
             the table already there. *readback* is `statewall status --json`, `nft list ruleset` \
             and `iptables-save -c`, each against its own ruleset; output goes to /dev/null.\n\
             - Peak memory: `ru_maxrss` of the process from `wait4` (for the peers it includes the \
             `ip netns exec` wrapper, which execs into the tool).\n\
             - NEW connections/s: a client namespace joined to the tool's namespace by a veth pair \
             ({CLIENT_V4} → {FW_V4}:22, 192.0.2.0/24 and 2001:db8:5a::/64) connects and closes \
             (SO_LINGER 0: an RST, no TIME_WAIT; the listener never closes first) in a loop of at most {} ms or {} connects, one \
             at a time; median of {} loops, the tools taking turns; a namespace pair without any ruleset \
             gives the floor. Every connection is NEW to the firewall and must walk \
             the ruleset to its ssh rule. The fw namespace's conntrack CLOSE timeout is set to 1 s \
             so that entries of one loop do not pile up into the next.\n\
             - A cell stops after 3 repetitions once it has used {} s (marked `*`); a command \
             that runs longer than {} s is killed and fails the bench.",
            if self.results.iter().any(|r| r.element_counters) {
                ", with per-element counters like statewall's set in this run"
            } else {
                ", without per-element counters, like statewall's set in this run"
            },
            p.conn_duration.as_millis(),
            p.conn_max,
            p.conn_reps,
            p.cell_budget.as_secs(),
            COMMAND_TIMEOUT.as_secs()
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_shape_counts_rules_and_sets() {
        let json = "{\n  \"schema\": \"statewall.status/1\",\n  \"chains\": [\n    {\n      \"name\": \"input\",\n      \"rules\": [\n        {\n          \"handle\": 2\n        },\n        {\n          \"handle\": 3\n        }\n      ]\n    }\n  ],\n  \"sets\": [\n    {\n      \"name\": \"ssh_v4\",\n      \"handle\": 9,\n      \"elements\": [\n        {\n          \"name\": \"x\"\n        }\n      ]\n    }\n  ],\n  \"pending\": null\n}\n";
        let shape = |rules, sets, element_counters| Shape {
            rules,
            sets,
            element_counters,
        };
        assert_eq!(json_shape(json), shape(2, Some(1), false));
        let counted = json.replace("\"name\": \"x\"", "\"packets\": 0");
        assert_eq!(json_shape(&counted), shape(2, Some(1), true));
        let no_sets = json.replace("\"sets\"", "\"other\"");
        assert_eq!(json_shape(&no_sets), shape(2, None, false));
        let empty = "{\n  \"chains\": [],\n  \"sets\": [],\n  \"x\": [\n    {\n      \"name\": \"y\"\n    }\n  ]\n}\n";
        assert_eq!(json_shape(empty), shape(0, Some(0), false));
    }

    #[test]
    fn self_reported_ms_reads_the_applied_line() {
        let out = "applied p.toml: table inet statewall, 13 rules, generation 1 -> 2, 0.88 ms\n";
        assert_eq!(self_reported_ms(out), Some(0.88));
        assert_eq!(self_reported_ms("nothing here\n"), None);
    }

    #[test]
    fn sources_stay_in_the_benchmark_range_and_end_with_the_client() {
        for n in [1, 1_000, 10_000, 50_000, 100_000] {
            let v = sources(n);
            assert_eq!(v.len(), n + 1);
            assert_eq!(v.last().map(String::as_str), Some(CLIENT_V4));
            let mut seen = std::collections::HashSet::new();
            for a in &v[..n] {
                let ip: std::net::Ipv4Addr = a.parse().unwrap();
                let o = ip.octets();
                assert!(o[0] == 198 && (o[1] == 18 || o[1] == 19), "{a}");
                assert!(seen.insert(ip), "duplicate {a}");
            }
        }
    }

    #[test]
    fn nft_scripts_replace_only_their_own_table() {
        let srcs = sources(3);
        for as_set in [true, false] {
            let s = nft_script(Some(&srcs), as_set, as_set);
            assert!(s.starts_with(
                "add table inet bench\ndelete table inet bench\ntable inet bench {\n"
            ));
            assert_eq!(s.matches("table ").count(), 3);
        }
        assert!(nft_script(Some(&srcs), true, true).contains("ip saddr @ssh_src"));
        assert_eq!(
            nft_script(Some(&srcs), false, false)
                .matches("ip saddr ")
                .count(),
            4
        );
        assert_eq!(iptables_rules(Some(&srcs)).matches("-s ").count(), 4);
    }
}
