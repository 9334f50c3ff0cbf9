"""backup_plan over the results of a real looped ansible.builtin.stat, as its documentation's example writes it.

A file that did not exist yet has no path in its stat: the filter found it only under the role's own loop variable,
and with the documented `loop` over `item` it failed (a review of the documentation's examples, 2026-12-03).
"""

from __future__ import annotations

import json
import os

from testlib import pki
from testlib.ansible_run import run_playbook

PLAY = """---
- name: Stat the live files and plan their backup
  hosts: localhost
  gather_facts: false
  tasks:
    - name: Look at the live files
      ansible.builtin.stat:
        path: "{{ item }}"
        follow: true
        get_checksum: false
      loop: "{{ live_files }}"
      register: live

    - name: Plan
      ansible.builtin.debug:
        msg: "PLAN {{ live.results | certops.backend_tls.backup_plan('/backups/T') | to_json }}"
"""


def test_backup_plan_names_a_missing_file_by_the_path_its_stat_was_given(tmp_path):
    present = pki.write(tmp_path / "site.crt", "x", 0o640)
    target = pki.write(tmp_path / "archive.key", "y", 0o600)
    linked = tmp_path / "site.key"
    os.symlink(target, linked)
    missing = str(tmp_path / "chain.crt")
    playbook = tmp_path / "plan.yml"
    playbook.write_text(PLAY)
    proc = run_playbook(playbook, extra_vars={"live_files": [present, str(linked), missing]})
    assert proc.returncode == 0, proc.stdout[-4000:] + proc.stderr[-2000:]
    line = next(line for line in proc.stdout.splitlines() if '"msg": "PLAN ' in line)
    plan = json.loads(json.loads("{%s}" % line.strip())["msg"][len("PLAN "):])
    assert [(p["path"], p["existed"], p["mode"], p["backup"]) for p in plan] == [
        (present, True, "0640", "/backups/T/0-site.crt"),
        (str(linked), True, "0600", "/backups/T/1-site.key"),  # the link's target's mode, not the link's 0777
        (missing, False, None, "/backups/T/2-chain.crt")]
