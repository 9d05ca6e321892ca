//! Compiler and encoder goldens: the rendered plan and the exact batch bytes, no kernel.

use statewall::codec::encode;
use statewall::codec::nft::{NFNL_MSG_BATCH_BEGIN, NFNL_MSG_BATCH_END, NLM_F_ACK};
use statewall::codec::wire::{self, Header};
use statewall::core::{compile, policy, render};
use std::fmt::Write;

use crate::golden;

fn load(rel: &str) -> statewall::core::model::Policy {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join(rel);
    let src = std::fs::read_to_string(&path).unwrap();
    let (p, diags) = policy::parse(&src);
    assert!(diags.is_empty(), "{diags:?}");
    p.unwrap()
}

#[test]
fn example_policy_renders_to_the_classic_chain() {
    let p = load("examples/web-and-mail.toml");
    let plan = compile::compile(&p, "statewall");
    golden::check("plan/web-and-mail.nft", &render::script(&plan));
    let audit = compile::compile(&compile::with_mode(p, true), "statewall");
    golden::check("plan/web-and-mail-audit.nft", &render::script(&audit));
}

#[test]
fn every_policy_feature_renders() {
    let p = load("tests/data/policy/ok-full.toml");
    golden::check(
        "plan/ok-full.nft",
        &render::script(&compile::compile(&p, "fw0")),
    );
}

#[test]
fn rejects_icmpx_cannot_say_render_one_rule_per_family() {
    let p = load("tests/data/policy/ok-reject-kinds.toml");
    golden::check(
        "plan/reject-kinds.nft",
        &render::script(&compile::compile(&p, "statewall")),
    );
}

/// The batch, one message per paragraph: sequence number, type, flags, what it stands for,
/// then the bytes in hex. A change in encoding shows up here as a readable diff.
fn dump(batch: &encode::EncodedBatch) -> String {
    let mut s = String::new();
    for (h, msg) in wire::messages(&batch.bytes) {
        let what = batch
            .op(h.seq)
            .map(|o| o.what.as_str())
            .unwrap_or(match h.ty {
                NFNL_MSG_BATCH_BEGIN => "batch begin",
                NFNL_MSG_BATCH_END => "batch end",
                _ => "?",
            });
        let _ = writeln!(
            s,
            "seq {} type {:#06x} flags {:#06x} len {}: {what}",
            h.seq, h.ty, h.flags, h.len
        );
        for chunk in msg.chunks(16) {
            let hex: Vec<String> = chunk.iter().map(|b| format!("{b:02x}")).collect();
            let _ = writeln!(s, "  {}", hex.join(" "));
        }
        s.push('\n');
    }
    s
}

#[test]
fn example_policy_encodes_to_these_exact_bytes() {
    let plan = compile::compile(&load("examples/web-and-mail.toml"), "statewall");
    let batch = encode::encode(&plan, Some(0x0102_0304), None);
    golden::check("plan/web-and-mail.batch", &dump(&batch));

    // Structural facts the golden file must also satisfy.
    let msgs: Vec<Header> = wire::messages(&batch.bytes).map(|(h, _)| h).collect();
    assert_eq!(msgs.first().unwrap().ty, NFNL_MSG_BATCH_BEGIN);
    assert_eq!(msgs.last().unwrap().ty, NFNL_MSG_BATCH_END);
    assert_eq!(msgs.len(), batch.ops.len() + 2);
    assert!(
        msgs.iter().all(|h| h.flags & NLM_F_ACK == 0),
        "no message asks for an ack"
    );
    let seqs: Vec<u32> = msgs.iter().map(|h| h.seq).collect();
    assert_eq!(seqs, (0..msgs.len() as u32).collect::<Vec<_>>());
}

#[test]
fn fingerprint_changes_with_any_rule_and_not_with_origin() {
    let p = load("examples/web-and-mail.toml");
    let a = compile::compile(&p, "statewall");
    let mut b = a.clone();
    for r in &mut b.chains[0].rules {
        r.origin = None;
    }
    assert_eq!(
        statewall::core::identity::fingerprint(&a),
        statewall::core::identity::fingerprint(&b)
    );
    b.chains[0].rules.pop();
    assert_ne!(
        statewall::core::identity::fingerprint(&a),
        statewall::core::identity::fingerprint(&b)
    );
}

/// A key a policy does not use changes nothing: every policy golden that says nothing of
/// `connections` has the fingerprint it had before the key existed (pinned then, and again
/// when the ICMP rules gained their family check, which changed every plan with `icmp`).
#[test]
fn policies_without_connections_keep_their_fingerprints() {
    use statewall::core::identity;
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/policy");
    let mut names: Vec<String> = std::fs::read_dir(&dir)
        .unwrap()
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| n.starts_with("ok-") && n.ends_with(".toml"))
        .collect();
    names.sort();
    let mut now = String::new();
    for name in names {
        let text = std::fs::read_to_string(dir.join(&name)).unwrap();
        if text
            .lines()
            .any(|l| l.trim_start().starts_with("connections"))
        {
            continue;
        }
        let plan = compile::compile(&load(&format!("tests/data/policy/{name}")), "statewall");
        let _ = writeln!(now, "{name} {}", identity::fingerprint(&plan));
    }
    golden::check("plan/fingerprints-before-connections.txt", &now);
}

/// `plan` as statewall 0.1 compiled it: its baseline's `icmp` and `icmpv6` rules checked no
/// family (`meta l4proto icmp` alone, which an IPv6 packet of next header 1 meets too); the
/// `meta nfproto` before them came later.
fn as_0_1_compiled(mut plan: statewall::core::plan::Plan) -> statewall::core::plan::Plan {
    use statewall::core::plan::Match;
    for rule in plan.chains.iter_mut().flat_map(|c| c.rules.iter_mut()) {
        if (rule.comment == "icmp" || rule.comment == "icmpv6")
            && matches!(
                rule.matches[..],
                [Match::NfProto { .. }, Match::L4Proto(1 | 58), ..]
            )
        {
            rule.matches.remove(0);
        }
    }
    plan
}

/// The plans behind `tests/data/legacy/`, as statewall compiles them now.
fn legacy_plans() -> Vec<(&'static str, statewall::core::plan::Plan)> {
    let web = load("examples/web-and-mail.toml");
    let full = load("tests/data/policy/ok-full.toml");
    [
        ("web-and-mail", web.clone()),
        ("web-and-mail-audit", compile::with_mode(web, true)),
        ("ok-full", full),
    ]
    .into_iter()
    .map(|(n, p)| (n, compile::compile(&p, "statewall")))
    .collect()
}

/// The structural fingerprint is a contract (table comments and state records hold it):
/// pinned here, so that no refactoring of the plan or of `render` changes it unnoticed.
#[test]
fn fingerprints_are_pinned_and_the_legacy_one_is_what_0_1_wrote() {
    use statewall::core::identity;
    let mut now = String::new();
    for (name, plan) in legacy_plans() {
        let _ = writeln!(now, "{name} {}", identity::fingerprint(&plan));
    }
    golden::check("plan/fingerprints.txt", &now);
    // what statewall 0.1 wrote into these tables' comments, captured from its own code
    let legacy = std::fs::read_to_string(
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/legacy/fingerprints.txt"),
    )
    .unwrap();
    // ok-full compiles differently now (single addresses go to a hash set), so its 0.1
    // table is recognised from what is live (the upgrade test in rollout.rs), not by
    // compiling it again; the others compile as 0.1 compiled them but for their ICMP rules'
    // family check (`as_0_1_compiled`)
    let same_since = |name: &str| name != "ok-full";
    let mut then = String::new();
    for (name, plan) in legacy_plans().into_iter().filter(|(n, _)| same_since(n)) {
        let _ = writeln!(
            then,
            "{name} {}",
            identity::legacy_fingerprint(&as_0_1_compiled(plan))
        );
    }
    let legacy: String = legacy
        .lines()
        .filter(|l| same_since(l.split(' ').next().unwrap_or("")))
        .map(|l| format!("{l}\n"))
        .collect();
    assert_eq!(then, legacy);
}
