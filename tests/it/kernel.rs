//! Kernel-object tests: each in a network namespace it creates. The oracle is what the
//! kernel holds, as `nft list ruleset` shows it, and what statewall reads back over netlink.

use crate::golden;
use crate::support::{Netns, TempPolicy, example, rules_named, statewall, status_json};
use statewall::codec::encode;
use statewall::core::{compile, policy};
use statewall::system::netlink::{CommitError, Socket};

fn ruleset(ns: &Netns) -> String {
    let out = ns.nft(["list", "ruleset"]);
    out.assert_ok();
    out.stdout
}

fn example_str() -> String {
    example("web-and-mail.toml").display().to_string()
}

#[cfg_attr(not(statewall_root), ignore = "needs root: creates network namespaces")]
#[test]
fn apply_builds_the_expected_table() {
    let ns = Netns::new("k-apply");
    statewall(&ns, ["apply", &example_str()]).assert_ok();
    golden::check("kernel/web-and-mail.nft-list", &ruleset(&ns));
}

#[cfg_attr(not(statewall_root), ignore = "needs root: creates network namespaces")]
#[test]
fn the_plan_script_means_the_same_to_nft() {
    same_to_nft(&example_str(), &[]);
}

#[cfg_attr(not(statewall_root), ignore = "needs root: creates network namespaces")]
#[test]
fn the_plan_script_means_the_same_to_nft_in_audit_mode_with_recorders() {
    same_to_nft(&example_str(), &["--audit"]);
}

#[cfg_attr(not(statewall_root), ignore = "needs root: creates network namespaces")]
#[test]
fn the_plan_script_means_the_same_to_nft_with_sets_and_every_feature() {
    let path = crate::support::repo_path("tests/data/policy/ok-full.toml");
    same_to_nft(path.to_str().unwrap(), &[]);
}

/// Applies `policy` in a new namespace `tag`: status reads it back without drift, and plan
/// finds nothing to add or remove. Returns the namespace, with its status.
pub(crate) fn applied_without_drift(tag: &str, policy: &str) -> (Netns, serde_json::Value) {
    let ns = Netns::new(tag);
    statewall(&ns, ["apply", policy]).assert_ok();
    let st = status_json(&ns);
    assert_eq!(st["drift"], false, "{st}");
    let plan = statewall(&ns, ["plan", policy]);
    plan.assert_ok();
    assert!(
        !plan.stdout.contains("\n- ") && !plan.stdout.contains("\n+ "),
        "{plan}"
    );
    (ns, st)
}

/// `nft --debug=netlink list chain inet statewall input` in `ns`: the input chain as the
/// kernel's expressions (`[ meta load len => reg 1 ]`), which the tests of our own bytes read.
pub(crate) fn input_in_netlink_terms(ns: &Netns) -> crate::support::Output {
    ns.nft([
        "--debug=netlink",
        "list",
        "chain",
        "inet",
        "statewall",
        "input",
    ])
}

/// The rules of statewall's table in `ns` that run an x_tables match (nft_compat), as nft
/// lists them (trimmed), after checking that nft's netlink debug shows `[ match name NAME rev
/// REV ]` (`expr`) once for each, and that `statewall status` shows each of `shown` (the
/// match's own text, which nft does not print).
pub(crate) fn xt_match_rules(ns: &Netns, expr: &str, shown: &[&str]) -> Vec<String> {
    let list = ns.nft(["list", "table", "inet", "statewall"]);
    let lines: Vec<String> = list
        .stdout
        .lines()
        .map(str::trim)
        .filter(|l| l.contains("xt match"))
        .map(str::to_string)
        .collect();
    let debug = input_in_netlink_terms(ns);
    assert_eq!(debug.stdout.matches(expr).count(), lines.len(), "{debug}");
    let status = statewall(ns, ["status"]);
    status.assert_ok();
    for s in shown {
        assert!(status.stdout.contains(s), "{s}:\n{status}");
    }
    lines
}

/// nft's listing of a namespace's ruleset, read by rule comment.
pub(crate) struct Listing(pub(crate) String);

impl Listing {
    /// The rules of entry `comment`, trimmed, as nft prints them (at least one).
    pub(crate) fn of(&self, comment: &str) -> Vec<String> {
        let v: Vec<String> = self
            .0
            .lines()
            .filter(|l| l.contains(&format!("comment \"{comment}\"")))
            .map(|l| l.trim().to_string())
            .collect();
        assert!(!v.is_empty(), "no rule {comment}:\n{self}");
        v
    }
}

impl std::fmt::Display for Listing {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

/// Policy `policy`: nft reads statewall's plan text as statewall's batch
/// ([`same_to_nft`]), it applies and reads back without drift
/// ([`applied_without_drift`]), and nft lists what statewall's own bytes say.
pub(crate) fn applied_and_listed(tag: &str, policy: &str) -> (Netns, Listing) {
    same_to_nft(policy, &[]);
    let (ns, _) = applied_without_drift(tag, policy);
    let list = ns.nft(["list", "ruleset"]);
    list.assert_ok();
    (ns, Listing(list.stdout))
}

/// Oracle: nft itself parses statewall's plan text; the kernel objects it creates must be
/// the ones statewall's own batch created (nft's listing of both, table comment aside).
pub(crate) fn same_to_nft(policy: &str, extra: &[&str]) {
    let ours = Netns::new("k-ours");
    let theirs = Netns::new("k-nft");
    let args = |cmd: &[&str]| -> Vec<String> {
        cmd.iter()
            .chain(extra.iter())
            .chain([policy].iter())
            .map(|s| s.to_string())
            .collect()
    };
    statewall(&ours, args(&["apply"])).assert_ok();
    let plan = statewall(&ours, args(&["plan", "--no-live"]));
    plan.assert_ok();
    let script = std::env::temp_dir().join(format!("statewall-plan-{}.nft", ours.name()));
    std::fs::write(&script, &plan.stdout).unwrap();
    // `delete table` in the script needs the table to exist: create it first, as apply does.
    theirs
        .nft(["add", "table", "inet", "statewall"])
        .assert_ok();
    let loaded = theirs.nft(["-f", script.to_str().unwrap()]);
    let _ = std::fs::remove_file(&script);
    loaded.assert_ok();
    let strip = |s: String| -> String {
        s.lines()
            .filter(|l| !l.trim_start().starts_with("comment \"statewall plan="))
            .collect::<Vec<_>>()
            .join("\n")
    };
    assert_eq!(strip(ruleset(&ours)), strip(ruleset(&theirs)));
}

#[cfg_attr(not(statewall_root), ignore = "needs root: creates network namespaces")]
#[test]
fn reapply_replaces_the_table_atomically() {
    let ns = Netns::new("k-reapply");
    statewall(&ns, ["apply", &example_str()]).assert_ok();
    statewall(&ns, ["apply", "--audit", &example_str()]).assert_ok();
    let list = ruleset(&ns);
    assert_eq!(list.matches("table inet statewall").count(), 1, "{list}");
    assert!(
        list.contains("counter packets 0 bytes 0 accept comment \"final\""),
        "{list}"
    );
    assert!(!list.contains("drop comment \"final\""), "{list}");
    let st = status_json(&ns);
    assert_eq!(st["mode"], "audit");
    assert_eq!(st["drift"], false);
    // the same 13 rules, in the same order, once each, with the 4 audit recorders before the
    // final rule
    let names: Vec<&str> = st["chains"][0]["rules"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["comment"].as_str().unwrap())
        .collect();
    assert_eq!(
        names,
        [
            "established",
            "invalid",
            "loopback",
            "icmp",
            "icmpv6",
            "icmpv6",
            "icmpv6",
            "ssh",
            "smtp",
            "http",
            "https",
            "ident",
            "audit",
            "audit",
            "audit",
            "audit",
            "final"
        ]
    );
}

#[cfg_attr(not(statewall_root), ignore = "needs root: creates network namespaces")]
#[test]
fn a_rejected_batch_leaves_the_previous_table_and_counters_byte_identical() {
    let ns = Netns::new("k-reject");
    statewall(&ns, ["apply", &example_str()]).assert_ok();
    // Put packets on the counters: loopback traffic inside the namespace.
    assert!(
        ns.exec(["ping", "-c", "3", "-i", "0.2", "-W", "1", "127.0.0.1"])
            .success()
    );
    let before = ruleset(&ns);
    // the first echo request is NEW on lo, the rest of the exchange is established
    let st = status_json(&ns);
    let count = |name: &str| rules_named(&st, name)[0]["packets"].as_u64().unwrap();
    assert!(count("loopback") >= 1, "{before}");
    assert!(count("established") >= 5, "{before}");

    let mut cmd = crate::support::bin(Some(&ns));
    cmd.args(["--netns", ns.name(), "apply", "--audit", &example_str()])
        .env("STATEWALL_TEST_FAULT", "jump-to-missing-chain");
    let out = crate::support::run_cmd(cmd, crate::support::CMD_TIMEOUT);
    out.assert_code(3);
    assert!(out.stderr.contains("ENOENT"), "errno in words: {out}");
    assert!(
        out.stderr
            .contains("injected fault: jump to a missing chain"),
        "the failing message is named: {out}"
    );
    assert!(out.stderr.contains("nothing was applied"), "{out}");
    assert_eq!(ruleset(&ns), before, "table and counters unchanged");
}

/// Runs each `nft` command (words split at spaces) in `ns`; each must succeed.
fn nft_commands(ns: &Netns, cmds: &[&str]) {
    for cmd in cmds {
        ns.nft(cmd.split(' ').collect::<Vec<_>>()).assert_ok();
    }
}

/// `nft list table FAMILY NAME` of each table, one after the other.
fn tables_listed(ns: &Netns, tables: &[(&str, &str)]) -> String {
    let mut all = String::new();
    for (family, name) in tables {
        let out = ns.nft(["list", "table", family, name]);
        out.assert_ok();
        all.push_str(&out.stdout);
    }
    all
}

#[cfg_attr(not(statewall_root), ignore = "needs root: creates network namespaces")]
#[test]
fn other_tables_are_never_touched() {
    let ns = Netns::new("k-foreign");
    nft_commands(
        &ns,
        &[
            "add table ip keepme",
            "add chain ip keepme c { type filter hook input priority -5; policy accept; }",
            "add rule ip keepme c tcp dport 9 counter accept",
            "add table inet other",
        ],
    );
    let foreign = |ns: &Netns| tables_listed(ns, &[("ip", "keepme"), ("inet", "other")]);
    let before = foreign(&ns);
    statewall(&ns, ["apply", &example_str()]).assert_ok();
    statewall(&ns, ["apply", "--audit", &example_str()]).assert_ok();
    assert_eq!(foreign(&ns), before);
    statewall(&ns, ["remove"]).assert_ok();
    assert_eq!(foreign(&ns), before);
    let list = ruleset(&ns);
    assert!(!list.contains("table inet statewall"), "{list}");
}

#[cfg_attr(not(statewall_root), ignore = "needs root: creates network namespaces")]
#[test]
fn a_table_of_the_same_name_in_another_family_is_neither_read_nor_touched() {
    // `ip statewall` first (so it comes first in the kernel's table list), with a chain of
    // the same name as ours and a rule statewall would not write
    let ns = Netns::new("k-samename");
    nft_commands(
        &ns,
        &[
            "add table ip statewall",
            "add chain ip statewall input { type filter hook input priority 10; policy accept; }",
            "add rule ip statewall input tcp dport 9 counter drop comment \"theirs\"",
            "add table ip6 statewall",
        ],
    );
    let theirs = |ns: &Netns| tables_listed(ns, &[("ip", "statewall"), ("ip6", "statewall")]);
    let before = theirs(&ns);
    let out = statewall(&ns, ["status"]);
    out.assert_code(5);
    assert!(out.stderr.contains("no table inet statewall"), "{out}");

    statewall(&ns, ["apply", &example_str()]).assert_ok();
    let st = status_json(&ns);
    assert_eq!(st["drift"], false, "{}", st["drift_reason"]);
    let chains = st["chains"].as_array().unwrap();
    assert_eq!(chains.len(), 1, "{st:#}");
    assert_eq!(
        chains[0]["priority"], 0,
        "our chain, not theirs at priority 10"
    );
    assert!(rules_named(&st, "theirs").is_empty());
    assert_eq!(chains[0]["rules"].as_array().unwrap().len(), 13, "{st:#}");
    let plan = statewall(&ns, ["plan", &example_str()]);
    assert!(plan.stdout.contains("already is this plan"), "{plan}");
    assert_eq!(theirs(&ns), before);

    statewall(&ns, ["remove"]).assert_ok();
    assert_eq!(theirs(&ns), before, "remove deleted only inet statewall");
    statewall(&ns, ["status"]).assert_code(5);
}

#[cfg_attr(not(statewall_root), ignore = "needs root: creates network namespaces")]
#[test]
fn remove_and_status_without_a_table_say_so() {
    let ns = Netns::new("k-none");
    let st = statewall(&ns, ["status"]);
    st.assert_code(5);
    assert!(st.stderr.contains("no table inet statewall"), "{st}");
    statewall(&ns, ["remove"]).assert_code(5);
    assert_eq!(ruleset(&ns), "");
}

#[cfg_attr(not(statewall_root), ignore = "needs root: creates network namespaces")]
#[test]
fn an_invalid_policy_never_reaches_the_kernel() {
    let ns = Netns::new("k-invalid");
    let bad = TempPolicy::new("invalid", "[[allow]]\nname = \"web\"\ntcp = [80, 70000]\n");
    let out = statewall(&ns, ["apply", &bad.path()]);
    out.assert_code(1);
    assert!(
        out.stderr.contains(":3:12"),
        "file:line:col of 70000: {out}"
    );
    assert!(
        out.stderr.contains("nothing was sent to the kernel"),
        "{out}"
    );
    assert_eq!(ruleset(&ns), "");
}

#[cfg_attr(not(statewall_root), ignore = "needs root: creates network namespaces")]
#[test]
fn drift_is_reported_when_the_table_changes_outside_statewall() {
    let ns = Netns::new("k-drift");
    statewall(&ns, ["apply", &example_str()]).assert_ok();
    assert_eq!(status_json(&ns)["drift"], false);
    crate::support::add_foreign_rule(&ns, 9999);
    let st = status_json(&ns);
    assert_eq!(st["drift"], true, "{st}");
    let text = statewall(&ns, ["status"]);
    text.assert_ok();
    assert!(text.stdout.contains("DRIFT"), "{text}");
    // plan shows the foreign rule as what apply would take away
    let plan = statewall(&ns, ["plan", &example_str()]);
    plan.assert_ok();
    assert!(
        plan.stdout.lines().any(|l| l.starts_with("# - ")
            && l.ends_with("a rule without a counter: `tcp dport 9999 accept`")),
        "{plan}"
    );
}

/// An allow excepting `n` IPv4 sources: its rule has four expressions per exception.
fn excepting(n: u8) -> String {
    let list: Vec<String> = (1..=n).map(|i| format!("\"10.0.0.{i}\"")).collect();
    format!(
        "[[allow]]\nname = \"all-but\"\nexcept_from = [{}]\n",
        list.join(", ")
    )
}

/// The kernel takes at most 128 expressions in one rule, and refuses the whole batch for
/// one more (EINVAL): the plan of an allow excepting 31 sources (129) is refused when sent
/// as it is, and 30 (125) commit. statewall counts the same: `check` and `apply` refuse the
/// 31 with the entry's policy line before anything is sent, and the 30 apply.
#[cfg_attr(not(statewall_root), ignore = "needs root: creates network namespaces")]
#[test]
fn a_rule_past_the_kernels_expression_limit_is_refused_before_it_is_sent() {
    let ns = Netns::new("k-exprs");
    let plan = |n| compile::compile(&policy::parse(&excepting(n)).0.unwrap(), "statewall");
    let (over, within) = (plan(31), plan(30));
    assert_eq!(encode::overlong_rules(&over).len(), 1);
    assert!(encode::overlong_rules(&within).is_empty());
    let (refused, accepted) = ns.run(|| {
        let mut sock = Socket::open().expect("netlink socket");
        let g = sock.generation().expect("generation");
        let refused = sock.commit(&encode::encode(&over, Some(g), None));
        let g = sock.generation().expect("generation");
        let accepted = sock.commit(&encode::encode(&within, Some(g), None));
        (refused, accepted)
    });
    assert!(
        matches!(refused, Err(CommitError::Rejected { errno: 22, .. })),
        "{refused:?}"
    );
    accepted.expect("30 exceptions commit");
    let p = TempPolicy::new("k-exprs", &excepting(31));
    let out = statewall(&ns, ["check", &p.path()]);
    out.assert_code(1);
    assert!(
        out.stderr
            .contains("(entry `all-but`) (policy line 2) has 129 expressions"),
        "{out}"
    );
    let before = ruleset(&ns);
    statewall(&ns, ["apply", &p.path()]).assert_code(1);
    assert_eq!(ruleset(&ns), before, "nothing was sent");
    let p = TempPolicy::new("k-exprs-30", &excepting(30));
    statewall(&ns, ["apply", &p.path()]).assert_ok();
}

#[cfg_attr(not(statewall_root), ignore = "needs root: creates network namespaces")]
#[test]
fn a_concurrent_change_fails_the_commit_and_applies_nothing() {
    // In-process, inside the namespace: read the generation, let someone else commit, then
    // send a batch conditional on the stale generation.
    let ns = Netns::new("k-genid");
    let src = std::fs::read_to_string(example("web-and-mail.toml")).unwrap();
    let plan = compile::compile(&policy::parse(&src).0.unwrap(), "statewall");
    let result = ns.run(|| {
        let mut sock = Socket::open().expect("netlink socket");
        let stale = sock.generation().expect("generation");
        // someone else changes the ruleset (a separate process, same namespace)
        let out = std::process::Command::new("nft")
            .args(["add", "table", "ip", "someone-else"])
            .output()
            .unwrap();
        assert!(out.status.success());
        let batch = encode::encode(&plan, Some(stale), None);
        let refused = sock.commit(&batch);
        // and a fresh generation commits fine
        let fresh = sock.generation().expect("generation");
        let batch = encode::encode(&plan, Some(fresh), None);
        let accepted = sock.commit(&batch);
        (stale, refused, fresh, accepted)
    });
    let (stale, refused, fresh, accepted) = result;
    assert!(
        matches!(refused, Err(CommitError::GenerationChanged)),
        "{refused:?}"
    );
    assert_eq!(fresh, stale + 1, "only the other process committed");
    assert_eq!(accepted.expect("commit with a fresh generation"), fresh + 1);
}

#[cfg_attr(not(statewall_root), ignore = "needs root: creates network namespaces")]
#[test]
fn fifty_thousand_rules_commit_in_one_batch_and_read_back() {
    // 50,000 policy entries with one port each: 50,000 rules (long source lists become
    // sets, so entries are the way to get this many rules).
    let ns = Netns::new("k-50k");
    let mut text = String::new();
    for i in 0..50_000u32 {
        text.push_str(&format!(
            "[[allow]]\nname = \"s{i}\"\ntcp = [{}]\n",
            1 + i % 65_000
        ));
    }
    let pol = TempPolicy::new("50k", &text);
    let out = statewall(&ns, ["apply", &pol.path()]);
    out.assert_ok();
    // baseline (7) + final + 50 jumps into 50 chains of 1,000 entry rules
    assert!(out.stdout.contains("50058 rules"), "{out}");
    let st = status_json(&ns);
    assert_eq!(st["drift"], false);
    let chains = st["chains"].as_array().unwrap();
    assert_eq!(chains.len(), 51);
    let rules = |c: usize| chains[c]["rules"].as_array().unwrap();
    assert_eq!(rules(0).len(), 58);
    assert_eq!(rules(0)[7]["verdict"], "jump entries_1");
    assert_eq!(rules(0)[56]["verdict"], "jump entries_50");
    assert_eq!(chains[50]["name"], "entries_50");
    assert_eq!(rules(1)[0]["comment"], "s0");
    assert_eq!(rules(1)[0]["match"], "tcp dport 1 ct state new");
    assert_eq!(rules(50)[999]["comment"], "s49999");
    assert_eq!(rules(50)[999]["match"], "tcp dport 50000 ct state new");
    let entries: usize = (1..=50).map(|c| rules(c).len()).sum();
    assert_eq!(entries, 50_000);
    // the kernel's own view agrees on the count
    let list = ruleset(&ns);
    assert_eq!(list.matches("ct state new counter").count(), 50_000);
    assert_eq!(list.matches(" jump entries_").count(), 50);
}

#[cfg_attr(not(statewall_root), ignore = "needs root: creates network namespaces")]
#[test]
fn bad_netns_and_bad_table_names_are_usage_errors() {
    let mut cmd = crate::support::bin(None);
    cmd.args(["--netns", "sw-does-not-exist-anywhere", "status"]);
    let out = crate::support::run_cmd(cmd, crate::support::CMD_TIMEOUT);
    out.assert_code(2);
    assert!(
        out.stderr.contains("/run/netns/sw-does-not-exist-anywhere"),
        "{out}"
    );

    let ns = Netns::new("k-usage");
    let out = statewall(&ns, ["--table", "no spaces", "status"]);
    out.assert_code(2);
}

#[cfg_attr(not(statewall_root), ignore = "needs root: creates network namespaces")]
#[test]
fn counters_can_be_carried_across_a_replace() {
    // What enforce and rollback rely on: a snapshot of the live counters, given back to the
    // rules with the same text at the same place, survives a full table replace.
    let ns = Netns::new("k-seed");
    statewall(&ns, ["apply", &example_str()]).assert_ok();
    assert!(
        ns.exec(["ping", "-c", "2", "-i", "0.2", "-W", "1", "127.0.0.1"])
            .success()
    );
    let before = ruleset(&ns);
    let src = std::fs::read_to_string(example("web-and-mail.toml")).unwrap();
    let policy = policy::parse(&src).0.unwrap();
    let same = compile::compile(&policy, "statewall");
    let audit = compile::compile(&compile::with_mode(policy, true), "statewall");
    let seeded = |plan: &statewall::core::plan::Plan| {
        ns.run(|| {
            let live = statewall::system::readback::read_table("statewall")
                .unwrap()
                .unwrap();
            let snap = statewall::core::identity::CounterSnapshot::of(&live);
            let mut sock = Socket::open().unwrap();
            let g = sock.generation().unwrap();
            sock.commit(&encode::encode_seeded(
                plan,
                Some(g),
                None,
                &snap.seeds(plan),
                &Default::default(),
            ))
            .unwrap();
        })
    };
    seeded(&same);
    assert_eq!(
        ruleset(&ns),
        before,
        "same plan: every counter carried over"
    );
    seeded(&audit);
    let after = ruleset(&ns);
    let established = |s: &str| {
        s.lines()
            .find(|l| l.contains("comment \"established\""))
            .unwrap()
            .to_string()
    };
    assert_eq!(established(&after), established(&before));
    assert!(
        after.contains("counter packets 0 bytes 0 accept comment \"final\""),
        "the changed final rule starts at zero: {after}"
    );
}
