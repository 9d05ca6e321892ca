//! What scripts read: `plan --exit-code`, `apply --json`, and the JSON documents checked
//! against their schemas in `docs/schema/`. Every kernel test makes its own namespace and
//! state directory.

use crate::rollout::{Tmp, sw};
use crate::support::{Netns, PROBE_TIMEOUT, Pair, Probe, fw_v4, listen_tcp, probe_tcp, python};

const SSH: &str = "[[allow]]\nname = \"ssh\"\ntcp = [22]\n";
const SSH_WEB: &str =
    "[[allow]]\nname = \"ssh\"\ntcp = [22]\n\n[[allow]]\nname = \"web\"\ntcp = [8080]\n";

#[cfg_attr(not(statewall_root), ignore = "needs root: creates network namespaces")]
#[test]
fn plan_exit_code_is_0_when_apply_would_send_nothing_and_8_when_it_would_change() {
    let ns = Netns::new("rp-plan");
    let tmp = Tmp::new("rp-plan");
    let web = tmp.policy("web", SSH_WEB);
    let ssh = tmp.policy("ssh", SSH);
    // no table: apply would create it
    let out = sw(&ns, &tmp, &["plan", &web, "--exit-code"]);
    out.assert_code(8);
    assert!(out.stdout.contains("apply would create it"), "{out}");
    sw(&ns, &tmp, &["apply", &web]).assert_ok();
    let out = sw(&ns, &tmp, &["plan", &web, "--exit-code"]);
    out.assert_ok();
    assert!(out.stdout.contains("already is this plan"), "{out}");
    // and then apply indeed sends nothing
    let out = sw(&ns, &tmp, &["apply", &web]);
    out.assert_ok();
    assert!(out.stdout.starts_with("unchanged"), "{out}");
    // another policy, or the same in audit mode: apply would change it
    sw(&ns, &tmp, &["plan", &ssh, "--exit-code"]).assert_code(8);
    sw(&ns, &tmp, &["plan", &web, "--audit", "--exit-code"]).assert_code(8);
    // without --exit-code, a difference is no failure
    sw(&ns, &tmp, &["plan", &ssh]).assert_ok();
    // a rule someone else added: not the plan any more
    crate::support::add_foreign_rule(&ns, 9);
    let out = sw(&ns, &tmp, &["plan", &web, "--exit-code"]);
    out.assert_code(8);
    assert!(
        out.stdout.contains("difference from the live table"),
        "{out}"
    );
    // --exit-code needs the live table
    sw(&ns, &tmp, &["plan", &web, "--exit-code", "--no-live"]).assert_code(2);
}

/// Validates each (schema, document) pair of files with jsonschema (draft 2020-12); prints
/// every error and exits 1 when there is one.
const VALIDATE: &str = r#"
import json, sys
from jsonschema import Draft202012Validator
bad = 0
for schema_path, doc_path in zip(sys.argv[1::2], sys.argv[2::2]):
    schema = json.load(open(schema_path))
    Draft202012Validator.check_schema(schema)
    for e in Draft202012Validator(schema).iter_errors(json.load(open(doc_path))):
        bad += 1
        print(doc_path, "/".join(map(str, e.absolute_path)), e.message)
print(bad, "errors")
sys.exit(1 if bad else 0)
"#;

/// Every string in `v` that is empty, by its path: absent values are null, never "".
fn empty_strings(v: &serde_json::Value, path: &str, out: &mut Vec<String>) {
    match v {
        serde_json::Value::String(s) if s.is_empty() => out.push(path.to_string()),
        serde_json::Value::Array(a) => {
            for (i, x) in a.iter().enumerate() {
                empty_strings(x, &format!("{path}/{i}"), out);
            }
        }
        serde_json::Value::Object(o) => {
            for (k, x) in o {
                empty_strings(x, &format!("{path}/{k}"), out);
            }
        }
        _ => {}
    }
}

#[cfg_attr(not(statewall_root), ignore = "needs root: creates network namespaces")]
#[test]
fn status_verify_and_apply_json_hold_to_their_schemas_and_absent_is_null() {
    let pair = Pair::new("rp-schema");
    let tmp = Tmp::new("rp-schema");
    let _l = listen_tcp(&pair.fw, &[22, 8080]);
    let web = tmp.policy(
        "web",
        "[[allow]]\nname = \"ssh\"\ntcp = [22]\n\n[[allow]]\nname = \"web\"\ntcp = [80, 443]\nfrom = [\"192.0.2.0/24\", \"198.51.100.0/24\"]\n",
    );
    let ssh = tmp.policy("ssh", SSH);
    let mut docs: Vec<(&str, String, serde_json::Value)> = Vec::new();
    let mut keep = |schema: &'static str, what: &str, out: &crate::support::Output| {
        let doc: serde_json::Value = serde_json::from_str(&out.stdout)
            .unwrap_or_else(|e| panic!("{what}: not JSON ({e}):\n{out}"));
        docs.push((schema, what.to_string(), doc));
    };
    // apply: a new table, the same again, another plan, a table someone else changed
    let out = sw(&pair.fw, &tmp, &["apply", &web, "--audit", "--json"]);
    out.assert_ok();
    assert_eq!(out.stdout.lines().count(), 1, "one line: {out}");
    keep("apply", "apply-new", &out);
    let out = sw(&pair.fw, &tmp, &["apply", &web, "--audit", "--json"]);
    keep("apply", "apply-unchanged", out.assert_ok());
    // traffic the audit records: a port no entry allows
    assert_eq!(
        probe_tcp(&pair.client, fw_v4(8080), PROBE_TIMEOUT),
        Probe::Connected
    );
    keep(
        "status",
        "status-audit",
        sw(&pair.fw, &tmp, &["status", "--json"]).assert_ok(),
    );
    let out = sw(&pair.fw, &tmp, &["verify", "--json"]);
    assert!(matches!(out.code, Some(0 | 6)), "{out}");
    keep("verify", "verify", &out);
    let out = sw(&pair.fw, &tmp, &["apply", &ssh, "--audit", "--json"]);
    keep("apply", "apply-replaced", out.assert_ok());
    crate::support::add_foreign_rule(&pair.fw, 9);
    keep(
        "status",
        "status-drift",
        sw(&pair.fw, &tmp, &["status", "--json"]).assert_ok(),
    );
    let out = sw(&pair.fw, &tmp, &["apply", &web, "--audit", "--json"]);
    keep("apply", "apply-drifted", out.assert_ok());
    // a change on trial, then its record damaged
    sw(
        &pair.fw,
        &tmp,
        &["apply", &ssh, "--audit", "--confirm", "60s"],
    )
    .assert_ok();
    keep(
        "status",
        "status-pending",
        sw(&pair.fw, &tmp, &["status", "--json"]).assert_ok(),
    );
    let record = tmp.dir().file(statewall::system::state::Kind::Pending);
    std::fs::write(&record, "garbage").unwrap();
    keep(
        "status",
        "status-damaged",
        sw(&pair.fw, &tmp, &["status", "--json"]).assert_ok(),
    );
    sw(&pair.fw, &tmp, &["rollback"]).assert_ok();
    // a live set: its members listed, summarised by status; a list changed in place
    let live = |nets: &str| {
        format!(
            "[[set]]\nname = \"banned\"\ntimeout = \"1h\"\n\n[[block]]\nname = \"bans\"\nfrom_set = \"banned\"\n\n\
             [[allow]]\nname = \"ssh\"\ntcp = [22]\nfrom = [{nets}]\n"
        )
    };
    let live1 = tmp.policy("live1", &live("\"192.0.2.0/24\", \"198.51.100.0/24\""));
    let live2 = tmp.policy("live2", &live("\"192.0.2.0/24\", \"198.51.100.0/25\""));
    keep(
        "apply",
        "apply-live",
        sw(&pair.fw, &tmp, &["apply", &live1, "--json"]).assert_ok(),
    );
    sw(
        &pair.fw,
        &tmp,
        &["set", "add", "banned", "203.0.113.7", "--timeout", "60s"],
    )
    .assert_ok();
    sw(
        &pair.fw,
        &tmp,
        &["set", "add", "banned", "2001:db8:bad::/48"],
    )
    .assert_ok();
    keep(
        "set",
        "set-list",
        sw(&pair.fw, &tmp, &["set", "list", "banned", "--json"]).assert_ok(),
    );
    keep(
        "status",
        "status-live",
        sw(&pair.fw, &tmp, &["status", "--json"]).assert_ok(),
    );
    keep(
        "apply",
        "apply-patched",
        sw(&pair.fw, &tmp, &["apply", &live2, "--json"]).assert_ok(),
    );
    // what they say
    let by = |what: &str| &docs.iter().find(|(_, w, _)| w == what).unwrap().2;
    assert_eq!(by("apply-new")["changed"], true);
    assert_eq!(by("apply-new")["replaced"]["what"], "nothing");
    assert_eq!(by("apply-unchanged")["changed"], false);
    assert_eq!(by("apply-unchanged")["plan"], by("apply-new")["plan"]);
    assert_eq!(by("apply-replaced")["replaced"]["what"], "plan");
    assert_eq!(
        by("apply-replaced")["replaced"]["plan"],
        by("apply-new")["plan"]
    );
    assert_eq!(by("apply-drifted")["replaced"]["what"], "drifted");
    assert_eq!(by("apply-patched")["replaced"]["what"], "patched");
    assert_eq!(by("set-list")["members"].as_array().unwrap().len(), 2);
    assert_eq!(by("set-list")["timeout_s"], 3600);
    let live4 = by("status-live")["sets"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["name"] == "live4_banned")
        .unwrap();
    assert_eq!(live4["live"]["members"], 1, "{live4}");
    assert!(live4["elements"].as_array().unwrap().is_empty());
    assert!(by("status-pending")["pending"]["deadline"].is_u64());
    assert!(by("status-damaged")["pending"]["error"].is_string());
    assert!(by("status-audit")["pending"].is_null());
    assert!(!by("status-audit")["sets"].as_array().unwrap().is_empty());
    assert!(
        by("verify")["would_drop"]["tcp_ports"][0]["key"] == "8080",
        "{:#}",
        by("verify")
    );
    let final_rule = by("status-audit")["chains"][0]["rules"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["comment"] == "final")
        .unwrap();
    assert!(
        final_rule["match"].is_null(),
        "no match is null: {final_rule}"
    );
    // absent is null, never ""
    for (_, what, doc) in &docs {
        let mut empty = Vec::new();
        empty_strings(doc, "", &mut empty);
        assert!(empty.is_empty(), "{what}: empty strings at {empty:?}");
    }
    // and each document is what its schema says
    let Some(py) = python::with_module(
        "jsonschema",
        "status_verify_and_apply_json_hold_to_their_schemas_and_absent_is_null",
    ) else {
        return;
    };
    let schema = |name: &str| crate::support::repo_path(&format!("docs/schema/{name}.json"));
    let mut args: Vec<String> = Vec::new();
    for (name, what, doc) in &docs {
        let file = tmp.root.join(format!("{what}.json"));
        std::fs::write(&file, doc.to_string()).unwrap();
        args.push(schema(name).display().to_string());
        args.push(file.display().to_string());
    }
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let out = python::run(&py, VALIDATE, &args);
    assert!(out.success(), "{out}");
    // the schemas can fail: an empty string where a value is absent, an unknown field
    let mut broken = by("status-audit").clone();
    broken["drift_reason"] = "".into();
    let mut extra = by("apply-new").clone();
    extra["surprise"] = 1.into();
    let (b, e) = (tmp.root.join("broken.json"), tmp.root.join("extra.json"));
    std::fs::write(&b, broken.to_string()).unwrap();
    std::fs::write(&e, extra.to_string()).unwrap();
    let (status_schema, apply_schema) = (schema("status"), schema("apply"));
    let out = python::run(
        &py,
        VALIDATE,
        &[
            status_schema.to_str().unwrap(),
            b.to_str().unwrap(),
            apply_schema.to_str().unwrap(),
            e.to_str().unwrap(),
        ],
    );
    assert_eq!(out.code, Some(1), "{out}");
    assert!(out.stdout.contains("2 errors"), "{out}");
}
