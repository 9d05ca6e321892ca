//! What scripts read: `plan --exit-code`, `apply --json`, and the JSON documents checked
//! against their schemas in `docs/schema/`. Every kernel test makes its own namespace and
//! state directory.

use crate::rollout::{Tmp, sw};
use crate::support::Netns;

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
    ns.nft([
        "add",
        "rule",
        "inet",
        "statewall",
        "input",
        "tcp",
        "dport",
        "9",
        "accept",
    ])
    .assert_ok();
    let out = sw(&ns, &tmp, &["plan", &web, "--exit-code"]);
    out.assert_code(8);
    assert!(
        out.stdout.contains("difference from the live table"),
        "{out}"
    );
    // --exit-code needs the live table
    sw(&ns, &tmp, &["plan", &web, "--exit-code", "--no-live"]).assert_code(2);
}
