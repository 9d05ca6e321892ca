#!/usr/bin/python
# SPDX-License-Identifier: GPL-3.0-or-later
"""Ansible module: make statewall's table what a policy file says, idempotently."""

import json

from ansible.module_utils.basic import AnsibleModule

DOCUMENTATION = r"""
module: statewall
short_description: apply a statewall policy (one atomic nf_tables batch)
description:
  - Runs C(statewall plan --exit-code) to learn whether the live table already is the
    policy (exit 0) or would change (exit 8), then, unless in check mode, C(statewall apply
    --json). A policy that is already live sends nothing and keeps every counter.
  - Check mode predicts the change without touching the kernel; diff mode shows the plan's
    line diff against the live table.
options:
  policy: {description: the policy file on the target, type: path, required: true}
  statewall: {description: the statewall binary, type: path, default: statewall}
  netns: {description: network namespace (name or path), type: str}
  state_dir: {description: statewall's state directory, type: path}
  table: {description: the inet table statewall owns, type: str}
  audit: {description: apply in audit mode, type: bool, default: false}
"""

WOULD_CHANGE = 8


def statewall(module, args):
    p = module.params
    cmd = [p["statewall"]]
    if p["netns"]:
        cmd += ["--netns", p["netns"]]
    if p["state_dir"]:
        cmd += ["--state-dir", p["state_dir"]]
    if p["table"]:
        cmd += ["--table", p["table"]]
    return module.run_command(cmd + args)


def plan_diff(out):
    """The `# difference ... (- live, + plan):` block of `statewall plan`, as a diff."""
    lines, inside = [], False
    for line in out.splitlines():
        if line.startswith("# difference from the live table"):
            inside = True
            continue
        if inside and line.startswith("# "):
            lines.append(line[2:])
    return "\n".join(lines) + ("\n" if lines else "")


def main():
    module = AnsibleModule(
        argument_spec=dict(
            policy=dict(type="path", required=True),
            statewall=dict(type="path", default="statewall"),
            netns=dict(type="str"),
            state_dir=dict(type="path"),
            table=dict(type="str"),
            audit=dict(type="bool", default=False),
        ),
        supports_check_mode=True,
    )
    audit = ["--audit"] if module.params["audit"] else []
    rc, out, err = statewall(
        module, ["plan", module.params["policy"], "--exit-code"] + audit
    )
    if rc not in (0, WOULD_CHANGE):
        module.fail_json(msg="statewall plan failed", rc=rc, stdout=out, stderr=err)
    changed = rc == WOULD_CHANGE
    diff = {"prepared": plan_diff(out)} if changed else {}
    if module.check_mode or not changed:
        module.exit_json(changed=changed, diff=diff)
    rc, out, err = statewall(module, ["apply", module.params["policy"], "--json"] + audit)
    if rc != 0:
        module.fail_json(msg="statewall apply failed", rc=rc, stdout=out, stderr=err)
    summary = json.loads(out.strip().splitlines()[-1])
    module.exit_json(changed=summary["changed"], apply=summary, diff=diff)


if __name__ == "__main__":
    main()
