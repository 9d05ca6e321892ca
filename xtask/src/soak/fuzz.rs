//! A mutation fuzzer on stable Rust: the policy parser, the importer and the netlink decoder,
//! seeded from `tests/data`, the examples, the batches statewall encodes and dump replies
//! captured from the kernel; every input mutated by flips, cuts, repeats, splices and
//! interesting tokens, each run under `catch_unwind`. A panic is a failure, saved with the
//! input that caused it.

use std::collections::BTreeMap;
use std::panic::{self, AssertUnwindSafe};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use statewall::codec::{decode, sets, wire};
use statewall::core::{import, policy};

/// xorshift64*: small, fast, reproducible from its seed (printed with every run).
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Rng {
        Rng(seed.max(1))
    }

    pub fn next(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.0 = x;
        x.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    pub fn below(&mut self, n: usize) -> usize {
        if n == 0 {
            0
        } else {
            (self.next() % n as u64) as usize
        }
    }
}

thread_local! {
    /// Where the last panic happened (the quiet hook records it).
    static LAST_PANIC: std::cell::RefCell<String> = const { std::cell::RefCell::new(String::new()) };
}

/// What is fuzzed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Target {
    Policy,
    Import,
    Decoder,
    /// what statewall reads back from its own state directory: the members journal and the
    /// accepted plan's set cache (a disk can damage them)
    State,
}

impl Target {
    pub fn name(self) -> &'static str {
        match self {
            Target::Policy => "policy parser",
            Target::Import => "iptables-save importer",
            Target::Decoder => "netlink decoder (rules, set elements)",
            Target::State => "state readers (members journal, set cache)",
        }
    }
}

/// Tokens that tend to matter to the parsers.
const TOKENS: &[&[u8]] = &[
    b"[[allow]]\n",
    b"[[reject]]\n",
    b"[baseline]\n",
    b"name = \"x\"\n",
    b"tcp = [",
    b"\"1-65535\"",
    b"65536",
    b"0",
    b"from = [\"0.0.0.0/0\", \"::/0\"]\n",
    b"from_file = \"x\"\n",
    b"/33",
    b"/129",
    b"\r",
    b"\r\n",
    b"\"",
    b"'''",
    b"\\u{0}",
    b"-A INPUT ",
    b"-s 10.0.0.0/8 ",
    b"! ",
    b"-j ACCEPT\n",
    b"-m multiport --dports 1:65535 ",
    b":INPUT DROP [0:0]\n",
    b"*filter\n",
    b"COMMIT\n",
    b"\xff\xfe",
    b"\x00\x00\x00\x00",
    b"\xff\xff\xff\xff",
];

pub fn mutate(rng: &mut Rng, input: &[u8], corpus: &[Vec<u8>]) -> Vec<u8> {
    let mut v = input.to_vec();
    for _ in 0..1 + rng.below(4) {
        let len = v.len();
        match rng.below(10) {
            0 if len > 0 => {
                let i = rng.below(len);
                v[i] ^= 1 << rng.below(8);
            }
            1 if len > 0 => {
                let i = rng.below(len);
                v[i] = rng.next() as u8;
            }
            2 if len > 0 => {
                let a = rng.below(len);
                let b = (a + 1 + rng.below(64)).min(len);
                v.drain(a..b);
            }
            3 if len > 0 => {
                // repeat a slice: duplicates, long lists
                let a = rng.below(len);
                let b = (a + 1 + rng.below(64)).min(len);
                let piece = v[a..b].to_vec();
                for _ in 0..1 + rng.below(8) {
                    v.splice(a..a, piece.iter().copied());
                }
            }
            4 => {
                let t = TOKENS[rng.below(TOKENS.len())];
                let at = rng.below(len + 1);
                v.splice(at..at, t.iter().copied());
            }
            5 if !corpus.is_empty() => {
                // splice: this input's head, another's tail
                let other = &corpus[rng.below(corpus.len())];
                let cut = rng.below(len + 1);
                let from = rng.below(other.len() + 1);
                v.truncate(cut);
                v.extend_from_slice(&other[from..]);
            }
            6 if len > 4 => {
                // a netlink length field off by something
                let i = rng.below(len - 1) & !1;
                let delta = rng.below(9) as u16;
                let n = u16::from_ne_bytes([v[i], v[i + 1]])
                    .wrapping_add(delta)
                    .wrapping_sub(4);
                v[i..i + 2].copy_from_slice(&n.to_ne_bytes());
            }
            7 | 8 if len > 0 => {
                // a whole line moved or repeated elsewhere (two of the ten choices):
                // an order of rules the file never had (a `--set` moved behind the rule that
                // decides every packet once made the importer index past its chain)
                let starts = line_starts(&v);
                let k = rng.below(starts.len());
                let (a, b) = (starts[k], starts.get(k + 1).copied().unwrap_or(len));
                let line = v[a..b].to_vec();
                if rng.below(2) == 0 {
                    v.drain(a..b);
                }
                let starts = line_starts(&v);
                let at = starts[rng.below(starts.len())];
                v.splice(at..at, line);
            }
            _ => {
                let at = rng.below(len + 1);
                v.insert(at, rng.next() as u8);
            }
        }
    }
    v
}

/// Where each line of `v` starts (0 first; never `v.len()`, but 0 for an empty `v`).
fn line_starts(v: &[u8]) -> Vec<usize> {
    std::iter::once(0)
        .chain(
            v.iter()
                .enumerate()
                .filter(|&(i, b)| *b == b'\n' && i + 1 < v.len())
                .map(|(i, _)| i + 1),
        )
        .collect()
}

/// Seeds for the state readers: a members journal and the set cache of each seed policy's plan.
pub fn state_seeds(policies: &[Vec<u8>]) -> Vec<Vec<u8>> {
    use statewall::core::members::{MemberOp, format_ops};
    use statewall::core::model::Cidr;
    let mut out = vec![
        format_ops(&[
            MemberOp::Clear {
                set: "live4_banned".into(),
            },
            MemberOp::Add {
                set: "live4_banned".into(),
                net: Cidr::V4(std::net::Ipv4Addr::new(192, 0, 2, 7), 32),
                expires_at: Some(1_800_000_100),
            },
            MemberOp::Add {
                set: "live6_banned".into(),
                net: Cidr::V6("2001:db8::".parse().unwrap(), 32),
                expires_at: None,
            },
            MemberOp::Del {
                set: "live4_banned".into(),
                net: Cidr::V4(std::net::Ipv4Addr::new(192, 0, 2, 7), 32),
            },
        ])
        .into_bytes(),
    ];
    // (the seed policies that parse; the err-* ones come first by name)
    let valid = policies
        .iter()
        .filter_map(|text| policy::parse(&String::from_utf8_lossy(text)).0)
        .take(20);
    for p in valid {
        let plan = statewall::core::compile::compile(&p, "statewall");
        let sets_state = statewall::core::identity::sets_state(&plan);
        let fp = statewall::core::identity::fingerprint_from(sets_state, &plan.chains);
        out.push(statewall::core::setcache::encode(
            &fp, sets_state, &plan.sets,
        ));
    }
    out
}

/// Runs one input against its target; `Err` with the panic's message.
fn run_one(target: Target, input: &[u8]) -> Result<(), String> {
    let result = panic::catch_unwind(AssertUnwindSafe(|| match target {
        Target::Policy => {
            let text = String::from_utf8_lossy(input);
            let files: BTreeMap<String, String> =
                [("x".to_string(), text.to_string())].into_iter().collect();
            let loader = |name: &str| {
                files
                    .get(name)
                    .map(|t| std::sync::Arc::new((name.to_string(), t.clone())))
                    .ok_or_else(|| "no such list".to_string())
            };
            let _ = policy::parse_with(&text, &loader);
        }
        Target::Import => {
            let text = String::from_utf8_lossy(input);
            let _ = import::import(&text, None, import::Ipv6::Mirror);
        }
        Target::Decoder => {
            for (_, msg) in wire::messages(input) {
                let _ = decode::decode_rule_msg(msg);
                let _ = sets::parse_elements(msg);
            }
            let _ = decode::decode_rule_msg(input);
            let raw = sets::parse_elements(input);
            for kind in [
                statewall::core::plan::SetKind::Live4,
                statewall::core::plan::SetKind::LiveHost6,
                statewall::core::plan::SetKind::Addr4,
                statewall::core::plan::SetKind::Tcp,
            ] {
                let _ = sets::elements_with_expiry(kind, &raw);
            }
        }
        Target::State => {
            let text = String::from_utf8_lossy(input);
            let (ops, _) = statewall::core::members::parse_ops(&text);
            let members = statewall::core::members::replay(&ops, 1_800_000_000_000);
            let _ = statewall::core::members::snapshot(&members, 1_800_000_000_000);
            let _ = statewall::core::setcache::decode(input);
        }
    }));
    result.map_err(|p| {
        p.downcast_ref::<String>()
            .cloned()
            .or_else(|| p.downcast_ref::<&str>().map(|s| s.to_string()))
            .unwrap_or_else(|| "panic".into())
    })
}

/// One target's outcome.
#[derive(Debug, Default, Clone)]
pub struct Outcome {
    pub seeds: usize,
    pub executions: u64,
    pub panics: u64,
    pub largest_input: usize,
    pub elapsed: Duration,
    /// where the first few panicking inputs were saved
    pub saved: Vec<PathBuf>,
}

/// Fuzzes `target` from `seeds` for `executions` runs (or until `budget` is spent).
pub fn fuzz(
    target: Target,
    seeds: &[Vec<u8>],
    executions: u64,
    budget: Duration,
    rng: &mut Rng,
    crashes: &Path,
) -> Outcome {
    let started = Instant::now();
    let mut out = Outcome {
        seeds: seeds.len(),
        ..Outcome::default()
    };
    // quiet panics: they are counted and saved (with where they happened), not printed a
    // million times
    let hook = panic::take_hook();
    panic::set_hook(Box::new(|info| {
        let at = info
            .location()
            .map(|l| format!("{}:{}", l.file(), l.line()))
            .unwrap_or_default();
        LAST_PANIC.with(|p| *p.borrow_mut() = at);
    }));
    let mut corpus: Vec<Vec<u8>> = seeds.to_vec();
    for seed in seeds {
        out.executions += 1;
        if run_one(target, seed).is_err() {
            out.panics += 1;
        }
    }
    while out.executions < executions && started.elapsed() < budget {
        let base = &corpus[rng.below(corpus.len())];
        let input = mutate(rng, base, &corpus);
        // inputs stay small enough that a run is quick; size is the bounded-input tests' job
        if input.len() > 1 << 20 {
            continue;
        }
        out.largest_input = out.largest_input.max(input.len());
        out.executions += 1;
        if let Err(msg) = run_one(target, &input) {
            out.panics += 1;
            if out.saved.len() < 10 {
                let _ = std::fs::create_dir_all(crashes);
                let p =
                    crashes.join(format!("{:?}-{}.bin", target, out.saved.len()).to_lowercase());
                let _ = std::fs::write(&p, &input);
                let at = LAST_PANIC.with(|p| p.borrow().clone());
                let _ = std::fs::write(p.with_extension("txt"), format!("{at}: {msg}"));
                out.saved.push(p);
            }
        } else if corpus.len() < 4096 && rng.below(64) == 0 {
            // keep some survivors: mutations of mutations reach deeper
            corpus.push(input);
        }
    }
    panic::set_hook(hook);
    out.elapsed = started.elapsed();
    out
}

/// Text seeds: every file under `dirs` with one of `exts`.
pub fn text_seeds(dirs: &[PathBuf], exts: &[&str]) -> Vec<Vec<u8>> {
    let mut out = Vec::new();
    for dir in dirs {
        let Ok(entries) = std::fs::read_dir(dir) else {
            continue;
        };
        let mut files: Vec<PathBuf> = entries.flatten().map(|e| e.path()).collect();
        files.sort();
        for f in files {
            if f.extension().is_some_and(|x| exts.iter().any(|e| x == *e))
                && let Ok(b) = std::fs::read(&f)
            {
                out.push(b);
            }
        }
    }
    out
}

/// Decoder seeds: the messages of the batches statewall encodes for the seed policies (the
/// same attribute layout as dump replies), plus `captured` kernel replies.
pub fn decoder_seeds(policies: &[Vec<u8>], captured: Vec<Vec<u8>>) -> Vec<Vec<u8>> {
    use statewall::codec::encode;
    use statewall::core::compile;
    let mut out = captured;
    for text in policies {
        let Ok(text) = std::str::from_utf8(text) else {
            continue;
        };
        let (Some(p), _) = policy::parse(text) else {
            continue;
        };
        for audit in [false, true] {
            let plan = compile::compile(&compile::with_mode(p.clone(), audit), "statewall");
            let batch = encode::encode(&plan, Some(1), None);
            out.push(batch.bytes.clone());
            for (_, m) in wire::messages(&batch.bytes) {
                out.push(m.to_vec());
            }
        }
    }
    out
}
