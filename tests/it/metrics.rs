//! `statewall metrics`: the series match `status`, a scrape reads no set element, it always
//! answers (`statewall_up 0`), the text parses with prometheus_client's parser, and Debian's
//! node_exporter serves the `--textfile` file — started inside a test namespace, on
//! 127.0.0.1 there, scraped with curl from inside it, and killed afterwards. Every test makes
//! its own namespaces and state directory.

use std::collections::BTreeMap;
use std::process::{Child, Command, Stdio};
use std::thread;
use std::time::{Duration, Instant};

use crate::rollout::{Tmp, sw, wait_for};
use crate::support::{
    CLIENT_V6, FW_V4, Netns, PROBE_TIMEOUT, Pair, Probe, fw_v4, listen_tcp, ping, probe_tcp,
    python, run_cmd,
};

/// ssh; web from a set of two IPv4 networks (the client's among them) and one IPv6 host;
/// ident rejected on tcp and udp (two verdicts, one entry).
fn policy() -> String {
    format!(
        "[[allow]]\nname = \"ssh\"\ntcp = [22]\n\n\
         [[allow]]\nname = \"web\"\ntcp = [8080]\nfrom = [\"192.0.2.0/25\", \"198.51.100.0/24\", \"{CLIENT_V6}/128\"]\n\n\
         [[reject]]\nname = \"ident\"\ntcp = [113]\nudp = [113]\n"
    )
}

/// One sample: (name, labels) → value.
type Samples = BTreeMap<(String, BTreeMap<String, String>), f64>;

/// The `statewall_*` samples of a text in the exposition format (labels in any order,
/// label values unescaped as the format says, values as numbers: node_exporter writes
/// 1795995203 as 1.795995203e+09).
fn samples(text: &str) -> Samples {
    let mut out = Samples::new();
    for line in text.lines().filter(|l| l.starts_with("statewall_")) {
        let c: Vec<char> = line.chars().collect();
        let mut i = 0;
        let name: String = c.iter().take_while(|c| **c != '{' && **c != ' ').collect();
        i += name.chars().count();
        let mut labels = BTreeMap::new();
        if c[i] == '{' {
            i += 1;
            while c[i] != '}' {
                let key: String = c[i..].iter().take_while(|c| **c != '=').collect();
                i += key.chars().count();
                assert_eq!(&c[i..i + 2], ['=', '"'], "{line}");
                i += 2;
                let mut value = String::new();
                while c[i] != '"' {
                    if c[i] == '\\' {
                        i += 1;
                        value.push(if c[i] == 'n' { '\n' } else { c[i] });
                    } else {
                        value.push(c[i]);
                    }
                    i += 1;
                }
                i += 1;
                if c[i] == ',' {
                    i += 1;
                }
                labels.insert(key, value);
            }
            i += 1;
        }
        let value: String = c[i..].iter().collect();
        let value = value
            .trim()
            .parse()
            .unwrap_or_else(|e| panic!("{e}: {line}"));
        assert!(
            out.insert((name, labels), value).is_none(),
            "a series twice: {line}"
        );
    }
    out
}

fn get(s: &Samples, name: &str, labels: &[(&str, &str)]) -> Option<f64> {
    let labels: BTreeMap<String, String> = labels
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    s.get(&(name.to_string(), labels)).copied()
}

fn metrics(ns: &Netns, tmp: &Tmp) -> String {
    let out = sw(ns, tmp, &["metrics"]);
    out.assert_ok();
    out.stdout
}

/// (chain, comment) → (packets, bytes) summed over the rules of a `status --json` document.
fn status_sums(status: &serde_json::Value) -> BTreeMap<(String, String), (u64, u64)> {
    let mut sums = BTreeMap::new();
    for chain in status["chains"].as_array().unwrap() {
        for rule in chain["rules"].as_array().unwrap() {
            let key = (
                chain["name"].as_str().unwrap().to_string(),
                rule["comment"].as_str().unwrap_or("").to_string(),
            );
            let e: &mut (u64, u64) = sums.entry(key).or_default();
            e.0 += rule["packets"].as_u64().unwrap();
            e.1 += rule["bytes"].as_u64().unwrap();
        }
    }
    sums
}

/// The metrics text and `status --json` read while the counters stood still (a closed
/// connection's last packets may still be on their way): metrics, status, metrics again,
/// until both metrics agree (bounded).
fn settled(ns: &Netns, tmp: &Tmp) -> (String, serde_json::Value) {
    for _ in 0..50 {
        let before = metrics(ns, tmp);
        let out = sw(ns, tmp, &["status", "--json"]);
        out.assert_ok();
        let after = metrics(ns, tmp);
        if before == after {
            return (after, serde_json::from_str(&out.stdout).unwrap());
        }
        thread::sleep(Duration::from_millis(300));
    }
    panic!("the counters never stood still");
}

/// What `git rev-parse --short=12 HEAD` says here, if git can say it.
fn git_head() -> Option<String> {
    let out = Command::new("git")
        .args(["rev-parse", "--short=12", "HEAD"])
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .ok()?;
    out.status
        .success()
        .then(|| String::from_utf8_lossy(&out.stdout).trim().to_string())
}

#[cfg_attr(not(statewall_root), ignore = "needs root: creates network namespaces")]
#[test]
fn each_policy_entry_is_one_series_per_chain_summed_as_status_counts_it() {
    let pair = Pair::new("mx-sum");
    let tmp = Tmp::new("mx-sum");
    let _l = listen_tcp(&pair.fw, &[22, 8080]);
    let p = tmp.policy("p", &policy());
    sw(&pair.fw, &tmp, &["apply", &p]).assert_ok();
    for port in [22, 8080, 8080] {
        assert_eq!(
            probe_tcp(&pair.client, fw_v4(port), PROBE_TIMEOUT),
            Probe::Connected
        );
    }
    assert_eq!(
        probe_tcp(&pair.client, fw_v4(113), PROBE_TIMEOUT),
        Probe::Refused
    );
    assert!(ping(&pair.client, FW_V4));
    let (text, status) = settled(&pair.fw, &tmp);
    let s = samples(&text);
    // every (chain, entry) of status is one series of each counter, with status's sums
    let sums = status_sums(&status);
    let rules: Vec<_> = s
        .keys()
        .filter(|(n, _)| n == "statewall_rule_packets_total")
        .collect();
    assert_eq!(rules.len(), sums.len(), "{text}");
    for ((chain, rule), (packets, bytes)) in &sums {
        let series = |name: &str| {
            s.iter()
                .filter(|((n, l), _)| n == name && l["chain"] == *chain && l["rule"] == *rule)
                .map(|((_, l), v)| (l.clone(), *v))
                .collect::<Vec<_>>()
        };
        let p = series("statewall_rule_packets_total");
        assert_eq!(p.len(), 1, "{chain}/{rule}: one series, got {p:?}");
        assert_eq!(p[0].1, *packets as f64, "{chain}/{rule}");
        assert_eq!(
            series("statewall_rule_bytes_total")[0].1,
            *bytes as f64,
            "{chain}/{rule}"
        );
        assert_eq!(
            p[0].0.keys().collect::<Vec<_>>(),
            ["chain", "rule", "table", "verdict"],
            "no handle or other label"
        );
    }
    let rule = |name: &str, verdict: &str| {
        get(
            &s,
            "statewall_rule_packets_total",
            &[
                ("table", "statewall"),
                ("chain", "input"),
                ("rule", name),
                ("verdict", verdict),
            ],
        )
        .unwrap_or_else(|| panic!("no series for {name} ({verdict}):\n{text}"))
    };
    assert!(rule("web", "accept") >= 2.0);
    assert!(rule("ident", "reject") >= 1.0);
    assert!(rule("icmp", "accept") >= 1.0);
    rule("icmpv6", "accept");
    // the set's size, from the plan, is what status read from the kernel
    let elements = status["sets"]
        .as_array()
        .unwrap()
        .iter()
        .find(|set| set["name"] == "src4_web")
        .map(|set| set["elements"].as_array().unwrap().len())
        .expect("a src4_web set");
    assert_eq!(elements, 2);
    let table = [("table", "statewall")];
    assert_eq!(
        get(
            &s,
            "statewall_set_elements",
            &[("table", "statewall"), ("set", "src4_web")]
        ),
        Some(2.0)
    );
    assert_eq!(get(&s, "statewall_up", &table), Some(1.0));
    assert_eq!(get(&s, "statewall_drift", &table), Some(0.0));
    assert_eq!(get(&s, "statewall_pending", &table), Some(0.0));
    let at = tmp.confirmed().unwrap().confirmed_at as f64;
    assert_eq!(
        get(&s, "statewall_last_apply_timestamp_seconds", &table),
        Some(at)
    );
    let commit = git_head().unwrap_or_else(|| "unknown".into());
    assert_eq!(
        get(
            &s,
            "statewall_build_info",
            &[("version", env!("CARGO_PKG_VERSION")), ("commit", &commit)]
        ),
        Some(1.0),
        "{text}"
    );
    // what the scrape read: the rules without a single set element
    let (skip, full) = pair.fw.run(|| {
        use statewall::system::readback::{Elements, read_table_on};
        let mut sock = statewall::system::netlink::Socket::open().unwrap();
        (
            read_table_on(&mut sock, "statewall", Elements::Skip)
                .unwrap()
                .unwrap(),
            read_table_on(&mut sock, "statewall", Elements::Read)
                .unwrap()
                .unwrap(),
        )
    });
    assert!(skip.sets.is_empty());
    assert!(!full.sets.is_empty());
    assert_eq!(
        skip.chains.iter().map(|c| c.rules.len()).sum::<usize>(),
        full.chains.iter().map(|c| c.rules.len()).sum::<usize>()
    );
}

#[cfg_attr(not(statewall_root), ignore = "needs root: creates network namespaces")]
#[test]
fn a_scrape_always_answers_up_0_without_a_table_or_netlink_and_counts_trials_and_rollbacks() {
    let ns = Netns::new("mx-up");
    let tmp = Tmp::new("mx-up");
    let up = |text: &str| get(&samples(text), "statewall_up", &[("table", "statewall")]);
    // no table: still an answer, exit 0, and why on stderr
    let out = sw(&ns, &tmp, &["metrics"]);
    out.assert_ok();
    assert_eq!(up(&out.stdout), Some(0.0), "{out}");
    assert!(out.stderr.contains("no table inet statewall"), "{out}");
    let p = tmp.policy("p", &policy());
    sw(&ns, &tmp, &["apply", &p]).assert_ok();
    assert_eq!(up(&metrics(&ns, &tmp)), Some(1.0));
    // netlink refuses (no CAP_NET_ADMIN): still an answer
    let mut cmd = Command::new("ip");
    cmd.args(["netns", "exec", ns.name(), "setpriv"])
        .args([
            "--inh-caps=-all",
            "--ambient-caps=-all",
            "--bounding-set=-all",
        ])
        .args(["--no-new-privs", "--", env!("CARGO_BIN_EXE_statewall")])
        .arg("--state-dir")
        .arg(tmp.state())
        .arg("metrics");
    let out = run_cmd(cmd, crate::support::CMD_TIMEOUT);
    out.assert_ok();
    assert_eq!(up(&out.stdout), Some(0.0), "{out}");
    assert!(out.stderr.contains("Operation not permitted"), "{out}");
    // a trial is pending; its rollback is counted
    let ssh = tmp.policy("ssh", "[[allow]]\nname = \"ssh\"\ntcp = [22]\n");
    sw(&ns, &tmp, &["apply", &ssh, "--confirm", "60s"]).assert_ok();
    let s = samples(&metrics(&ns, &tmp));
    assert_eq!(
        get(&s, "statewall_pending", &[("table", "statewall")]),
        Some(1.0)
    );
    assert_eq!(
        get(&s, "statewall_drift", &[("table", "statewall")]),
        Some(0.0)
    );
    sw(&ns, &tmp, &["rollback"]).assert_ok();
    let s = samples(&metrics(&ns, &tmp));
    assert_eq!(
        get(&s, "statewall_pending", &[("table", "statewall")]),
        Some(0.0)
    );
    let rollbacks = |reason: &str| {
        get(
            &s,
            "statewall_rollbacks_total",
            &[("table", "statewall"), ("reason", reason)],
        )
    };
    assert_eq!(rollbacks("requested"), Some(1.0));
    assert_eq!(rollbacks("deadline"), Some(0.0));
    // --textfile: the same text, in DIR/statewall.prom, and nothing else left there
    let dir = tmp.root.join("textfile");
    std::fs::create_dir(&dir).unwrap();
    let out = sw(&ns, &tmp, &["metrics", "--textfile", dir.to_str().unwrap()]);
    out.assert_ok();
    assert_eq!(
        out.stdout, "",
        "stdout is for the text, and it went to the file"
    );
    let written = std::fs::read_to_string(dir.join("statewall.prom")).unwrap();
    assert_eq!(written, metrics(&ns, &tmp));
    assert_eq!(std::fs::read_dir(&dir).unwrap().count(), 1);
    let missing = tmp.root.join("missing");
    sw(
        &ns,
        &tmp,
        &["metrics", "--textfile", missing.to_str().unwrap()],
    )
    .assert_code(7);
}

/// prometheus_client's parser, as JSON: [[sample name, labels, value, family name, type]].
const PARSE: &str = r#"
import json, sys
from prometheus_client.parser import text_string_to_metric_families
text = open(sys.argv[1]).read()
out = []
for fam in text_string_to_metric_families(text):
    for s in fam.samples:
        out.append([s.name, s.labels, s.value, fam.name, fam.type, fam.documentation])
print(json.dumps(out))
"#;

#[cfg_attr(not(statewall_root), ignore = "needs root: creates network namespaces")]
#[test]
fn prometheus_clients_parser_reads_every_series_and_label_back() {
    let Some(py) = python::with_module(
        "prometheus_client",
        "prometheus_clients_parser_reads_every_series_and_label_back",
    ) else {
        return;
    };
    let ns = Netns::new("mx-parse");
    let tmp = Tmp::new("mx-parse");
    let p = tmp.policy("p", &policy());
    sw(&ns, &tmp, &["apply", &p]).assert_ok();
    // someone else's rule, with a comment the format must escape
    let weird = r"back\slash, {x} 'q'";
    let comment = format!("\"{weird}\"");
    ns.nft([
        "add",
        "rule",
        "inet",
        "statewall",
        "input",
        "tcp",
        "dport",
        "9",
        "counter",
        "accept",
        "comment",
        &comment,
    ])
    .assert_ok();
    let text = metrics(&ns, &tmp);
    let file = tmp.root.join("metrics.txt");
    std::fs::write(&file, &text).unwrap();
    let out = python::run(&py, PARSE, &[file.to_str().unwrap()]);
    out.assert_ok();
    let parsed: Vec<serde_json::Value> = serde_json::from_str(&out.stdout).unwrap();
    // every sample the text has, the parser read, with the same labels and value
    let ours = samples(&text);
    assert_eq!(parsed.len(), ours.len(), "{text}\n{out}");
    for s in &parsed {
        let labels: BTreeMap<String, String> = s[1]
            .as_object()
            .unwrap()
            .iter()
            .map(|(k, v)| (k.clone(), v.as_str().unwrap().to_string()))
            .collect();
        let value = ours
            .get(&(s[0].as_str().unwrap().to_string(), labels))
            .unwrap_or_else(|| panic!("{s} is not in\n{text}"));
        assert_eq!(*value, s[2].as_f64().unwrap(), "{s}");
    }
    let families: BTreeMap<&str, &str> = parsed
        .iter()
        .map(|s| (s[3].as_str().unwrap(), s[4].as_str().unwrap()))
        .collect();
    assert_eq!(
        families,
        BTreeMap::from([
            ("statewall_build_info", "gauge"),
            ("statewall_drift", "gauge"),
            ("statewall_last_apply_timestamp_seconds", "gauge"),
            ("statewall_pending", "gauge"),
            ("statewall_rollbacks", "counter"),
            ("statewall_rollbacks_refused", "counter"),
            ("statewall_rule_bytes", "counter"),
            ("statewall_rule_packets", "counter"),
            ("statewall_set_elements", "gauge"),
            ("statewall_up", "gauge"),
        ])
    );
    assert!(
        parsed.iter().all(|s| !s[5].as_str().unwrap().is_empty()),
        "every family has its HELP"
    );
    // the escaped comment came back as it is in the kernel
    assert!(
        parsed
            .iter()
            .any(|s| s[0] == "statewall_rule_packets_total" && s[1]["rule"] == weird),
        "{text}"
    );
    // and that rule is someone else's: drift
    assert_eq!(
        get(&ours, "statewall_drift", &[("table", "statewall")]),
        Some(1.0)
    );
}

/// Debian's node_exporter, inside a namespace, serving only the textfile collector on
/// 127.0.0.1:9100 there; killed (and waited for) on drop.
struct NodeExporter {
    child: Child,
}

const NODE_EXPORTER: &str = "/usr/bin/prometheus-node-exporter";

impl NodeExporter {
    fn start(ns: &Netns, dir: &std::path::Path, log: &std::path::Path) -> NodeExporter {
        let log = std::fs::File::create(log).unwrap();
        let child = Command::new("ip")
            .args(["netns", "exec", ns.name(), NODE_EXPORTER])
            .args([
                "--web.listen-address=127.0.0.1:9100",
                "--collector.disable-defaults",
                "--collector.textfile",
            ])
            .arg(format!("--collector.textfile.directory={}", dir.display()))
            .stdin(Stdio::null())
            .stdout(log.try_clone().unwrap())
            .stderr(log)
            .spawn()
            .expect("prometheus-node-exporter starts (`cargo xtask deps` installs it)");
        NodeExporter { child }
    }
}

impl Drop for NodeExporter {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[cfg_attr(not(statewall_root), ignore = "needs root: creates network namespaces")]
#[test]
fn node_exporters_textfile_collector_serves_the_textfile_inside_a_namespace() {
    assert!(
        std::path::Path::new(NODE_EXPORTER).exists(),
        "{NODE_EXPORTER} is missing: `cargo xtask deps` installs Debian's prometheus-node-exporter"
    );
    let ns = Netns::new("mx-node");
    let tmp = Tmp::new("mx-node");
    let p = tmp.policy("p", &policy());
    sw(&ns, &tmp, &["apply", &p]).assert_ok();
    // someone else's rule without a comment: an empty `rule` label, which the collector
    // must take as well
    crate::support::add_foreign_rule(&ns, 9);
    let dir = tmp.root.join("textfile");
    std::fs::create_dir(&dir).unwrap();
    sw(&ns, &tmp, &["metrics", "--textfile", dir.to_str().unwrap()]).assert_ok();
    let ours = samples(&std::fs::read_to_string(dir.join("statewall.prom")).unwrap());
    let log = tmp.root.join("node-exporter.log");
    let exporter = NodeExporter::start(&ns, &dir, &log);
    let scrape = || {
        ns.exec([
            "curl",
            "-sS",
            "--max-time",
            "2",
            "http://127.0.0.1:9100/metrics",
        ])
    };
    let deadline = Instant::now() + Duration::from_secs(20);
    let served = loop {
        let out = scrape();
        if out.success() && out.stdout.contains("statewall_up") {
            break out.stdout;
        }
        assert!(
            Instant::now() < deadline,
            "node_exporter did not serve the textfile:\n{out}\n--- its log\n{}",
            std::fs::read_to_string(&log).unwrap_or_default()
        );
        thread::sleep(Duration::from_millis(100));
    };
    // the collector read the file without an error, and serves every statewall series
    assert!(
        served.lines().any(|l| l == "node_textfile_scrape_error 0"),
        "{served}"
    );
    assert_eq!(samples(&served), ours, "{served}");
    assert!(
        ours.keys()
            .any(|(n, l)| n == "statewall_rule_packets_total" && l["rule"] == "ssh"),
        "{served}"
    );
    // served only inside the namespace: the host has no such listener from this test
    drop(exporter);
    wait_for("node_exporter to stop", Duration::from_secs(5), || {
        !scrape().success()
    });
}
