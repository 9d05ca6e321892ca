//! What iptables-restore reads the same, the importer reads the same. Every fourth corpus file
//! is rewritten as a hand-written file may spell it: iptables' long option names (`--append`,
//! `--protocol`, `--jump`), options cut short as getopt takes them (`--dp`, `--ctst`), and
//! numbers in hexadecimal or octal (`--dport 0x16`, `026`). Where iptables-save shows the
//! same table for the rewritten file as for the file itself (iptables is the judge of what
//! a spelling means), the import of the rewritten file must be the same policy as the
//! import of the file as written.

use std::fs;
use std::path::Path;

use crate::support::{CMD_TIMEOUT, Netns, bin, repo_path, run_cmd};

/// A deterministic generator (xorshift64), seeded per file and attempt.
struct Rng(u64);

impl Rng {
    fn new(seed: &str, attempt: u64) -> Rng {
        let mut h: u64 = 0xcbf2_9ce4_8422_2325 ^ attempt;
        for b in seed.bytes() {
            h = (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3);
        }
        Rng(h | 1)
    }

    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }

    /// True `n` times in ten.
    fn chance(&mut self, n: u64) -> bool {
        self.next() % 10 < n
    }
}

/// iptables' short options and their long names.
const LONG: &[(&str, &str)] = &[
    ("-A", "--append"),
    ("-I", "--insert"),
    ("-p", "--protocol"),
    ("-s", "--source"),
    ("-d", "--destination"),
    ("-i", "--in-interface"),
    ("-o", "--out-interface"),
    ("-j", "--jump"),
    ("-m", "--match"),
    ("-g", "--goto"),
];

/// Options whose value may be a number written in another base.
const NUMBERED: &[&str] = &[
    "--dport",
    "--sport",
    "--dports",
    "--sports",
    "--hitcount",
    "--seconds",
    "--limit-burst",
    "--icmp-type",
    "--connlimit-above",
    "--length",
    "--ttl-eq",
];

/// The rule lines of `text` spelled otherwise, at random.
fn respell(text: &str, rng: &mut Rng) -> String {
    let mut out = String::new();
    for line in text.lines() {
        let rule = line.starts_with("-A ") || line.starts_with("-I ");
        if !rule {
            out.push_str(line);
            out.push('\n');
            continue;
        }
        let words: Vec<&str> = line.split(' ').collect();
        let mut spelled: Vec<String> = Vec::new();
        for (k, &w) in words.iter().enumerate() {
            let before = if k > 0 { words[k - 1] } else { "" };
            let long = LONG.iter().find(|(s, _)| *s == w).map(|(_, l)| *l);
            let word = match long {
                Some(l) if rng.chance(7) => l.to_string(),
                _ if w.starts_with("--") && w.len() > 5 && rng.chance(3) => {
                    let keep = 4 + (rng.next() as usize) % (w.len() - 3);
                    w[..keep.min(w.len())].to_string()
                }
                _ if NUMBERED.contains(&before)
                    && !w.is_empty()
                    && w.bytes().all(|b| b.is_ascii_digit())
                    && rng.chance(6) =>
                {
                    let n: u64 = w.parse().unwrap_or(0);
                    if rng.chance(5) {
                        format!("{n:#x}")
                    } else {
                        format!("0{n:o}")
                    }
                }
                _ => w.to_string(),
            };
            spelled.push(word);
        }
        out.push_str(&spelled.join(" "));
        out.push('\n');
    }
    out
}

/// What iptables-save shows after iptables-restore of `text` alone in `ns` (None: refused).
fn saved(ns: &Netns, text: &str, path: &Path) -> Option<String> {
    // every table anew, so that nothing of the file before stays
    let empty = "*raw\nCOMMIT\n*mangle\nCOMMIT\n*nat\nCOMMIT\n*filter\nCOMMIT\n";
    for t in [empty, text] {
        fs::write(path, t).unwrap();
        let out = ns.exec([
            crate::import::restore_tool(false).as_str(),
            path.to_str().unwrap(),
        ]);
        if !out.success() {
            return None;
        }
    }
    let save = crate::import::restore_tool(false).replace("restore", "save");
    let out = ns.exec([save.as_str()]);
    out.assert_ok();
    let lines: Vec<String> = out
        .stdout
        .lines()
        .filter(|l| !l.starts_with('#'))
        .map(|l| match l.rfind(" [") {
            Some(at) if l.starts_with(':') => l[..at].to_string(),
            _ => l.to_string(),
        })
        .collect();
    Some(lines.join("\n"))
}

/// The policy `statewall import --mirror-ipv6 PATH` writes, without its comments (which
/// quote the lines as written); None where it is refused.
fn imported(path: &Path) -> Option<String> {
    let mut cmd = bin(None);
    cmd.args(["import", "--mirror-ipv6"]).arg(path);
    let out = run_cmd(cmd, CMD_TIMEOUT);
    if !out.success() {
        return None;
    }
    let lines: Vec<&str> = out
        .stdout
        .lines()
        .map(|l| l.split("  #").next().unwrap_or("").trim_end())
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .collect();
    Some(lines.join("\n"))
}

#[cfg_attr(not(statewall_root), ignore = "needs root: creates network namespaces")]
#[test]
fn a_file_spelled_otherwise_as_iptables_reads_it_imports_to_the_same_policy() {
    let ns = Netns::new("spell");
    let dir = repo_path("tests/data/import/corpus");
    let mut files: Vec<_> = fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "rules"))
        .collect();
    files.sort();
    let tmp = std::env::temp_dir().join(format!("statewall-spell-{}", std::process::id()));
    fs::create_dir_all(&tmp).unwrap();
    let (written, oracle) = (tmp.join("respelled.rules"), tmp.join("oracle.rules"));
    let (mut compared, mut differ) = (0, Vec::new());
    for f in files.iter().step_by(4) {
        let text = fs::read_to_string(f).unwrap().replace("\r\n", "\n");
        let Some(want) = imported(f) else { continue };
        let Some(table) = saved(&ns, &text, &oracle) else {
            continue;
        };
        let name = f.file_name().unwrap().to_string_lossy().to_string();
        // the first spelling that iptables reads as the file (a cut that is ambiguous, or a
        // number in a base the option does not take, changes what it loads)
        let same = (0..6).find_map(|attempt| {
            let t = respell(&text, &mut Rng::new(&name, attempt));
            (t != text && saved(&ns, &t, &oracle).as_ref() == Some(&table)).then_some(t)
        });
        let Some(t) = same else { continue };
        fs::write(&written, &t).unwrap();
        compared += 1;
        if imported(&written).as_ref() != Some(&want) {
            let kept = tmp.join(&name);
            fs::write(&kept, &t).unwrap();
            differ.push(format!("{name} (respelled: {})", kept.display()));
        }
    }
    eprintln!("spellings: {compared} corpus files respelled as iptables reads them alike");
    assert!(
        differ.is_empty(),
        "imported otherwise than the file as written:\n{}",
        differ.join("\n")
    );
    // not a test of nothing: most files find a spelling iptables reads alike
    assert!(compared >= 60, "only {compared} files were compared");
    let _ = fs::remove_dir_all(&tmp);
}
